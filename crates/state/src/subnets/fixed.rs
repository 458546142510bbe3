//! The fraction type of the epoch: unsigned 64.64 fixed point (`fixed::types::U64F64`),
//! with the few operations Yuma needs, each checked (an overflow is an error, never a
//! wrap or a panic) and rounding down; and [`mul_div`], the exact `⌊a·b/c⌋` the
//! subnets' integer splits share.
//!
//! # Invariants (tested in `tests/subnets_unit.rs`)
//! * [`Frac::ratio`] of parts of a whole is ≤ 1, and the parts' ratios sum to at most 1,
//!   short of it by at most one unit in the last place (2^-64) per part, five when the
//!   whole is 2^63 or more (both are shifted right first, each part losing < 2^-62).
//! * [`Frac::of_amount`] of an amount is ≤ the amount for a fraction ≤ 1, exact for 0 and 1.

use fixed::types::U64F64;
use num_bigint::BigUint;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `⌊a · b / c⌋` exactly (the product is formed as a big integer), `None` when the result
/// does not fit in 128 bits; 0 when `c` is 0.
pub fn mul_div(a: u128, b: u128, c: u128) -> Option<u128> {
    if c == 0 {
        return Some(0);
    }
    // A big integer's product cannot overflow, and `c` is not zero.
    #[allow(clippy::arithmetic_side_effects)]
    let quotient = BigUint::from(a) * BigUint::from(b) / BigUint::from(c);
    u128::try_from(quotient).ok()
}

/// A non-negative fraction (in practice within [0, 1]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Frac(pub U64F64);

impl Frac {
    pub const ZERO: Frac = Frac(U64F64::ZERO);
    pub const ONE: Frac = Frac(U64F64::ONE);

    /// `part / whole`, rounded down; `None` when `whole` is 0 or the ratio is above
    /// 2^64. Big amounts are shifted right together first (losing < 2^-63 relative).
    pub fn ratio(part: u128, whole: u128) -> Option<Frac> {
        if whole == 0 {
            return None;
        }
        let shift = (128u32.saturating_sub(whole.leading_zeros())).saturating_sub(63);
        let (part, whole) = (part.checked_shr(shift)?, whole.checked_shr(shift)?);
        if whole == 0 {
            return None;
        }
        let bits = part.checked_shl(64).filter(|_| part < (1u128 << 63))?;
        Some(Frac(U64F64::from_bits(bits.checked_div(whole)?)))
    }

    /// `numerator / denominator` for small integer parameters (bps, ppm, u16 scales).
    pub fn of_parts(numerator: u64, denominator: u64) -> Option<Frac> {
        Frac::ratio(u128::from(numerator), u128::from(denominator))
    }

    pub fn checked_add(self, other: Frac) -> Option<Frac> {
        self.0.checked_add(other.0).map(Frac)
    }

    /// `self − other`, 0 if `other` is larger.
    pub fn saturating_sub(self, other: Frac) -> Frac {
        Frac(self.0.saturating_sub(other.0))
    }

    pub fn checked_mul(self, other: Frac) -> Option<Frac> {
        self.0.checked_mul(other.0).map(Frac)
    }

    pub fn checked_div(self, other: Frac) -> Option<Frac> {
        self.0.checked_div(other.0).map(Frac)
    }

    pub fn is_zero(self) -> bool {
        self.0 == U64F64::ZERO
    }

    /// `amount × self`, rounded down (exact), `None` if it does not fit.
    pub fn of_amount(self, amount: u128) -> Option<u128> {
        mul_div(amount, self.0.to_bits(), 1 << 64)
    }

    /// Sum of fractions; `None` on overflow.
    pub fn sum<'a>(items: impl IntoIterator<Item = &'a Frac>) -> Option<Frac> {
        items
            .into_iter()
            .try_fold(Frac::ZERO, |acc, f| acc.checked_add(*f))
    }
}

impl std::fmt::Display for Frac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for Frac {
    type Err = String;

    fn from_str(s: &str) -> Result<Frac, String> {
        s.parse::<U64F64>()
            .map(Frac)
            .map_err(|e| format!("{s:?} is not a fraction: {e}"))
    }
}

/// Fractions travel in JSON as decimal strings (exact in both directions).
impl Serialize for Frac {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Frac {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Frac, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
