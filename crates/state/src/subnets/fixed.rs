//! The fraction type of the epoch: unsigned 64.64 fixed point (`fixed::types::U64F64`),
//! with the few operations Yuma needs, each checked (an overflow is an error, never a
//! wrap or a panic) and rounding down.
//!
//! # Invariants (unit-tested below)
//! * [`Frac::ratio`] of parts of a whole is ≤ 1, and the parts' ratios sum to at most 1,
//!   short of it by at most one unit in the last place (2^-64) per part, five when the
//!   whole is 2^63 or more (both are shifted right first, each part losing < 2^-62).
//! * [`Frac::of_amount`] of an amount is ≤ the amount for a fraction ≤ 1, exact for 0 and 1.

use fixed::types::U64F64;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

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

    /// `amount × self`, rounded down (exact in 256-bit arithmetic, then checked to fit).
    pub fn of_amount(self, amount: u128) -> Option<u128> {
        let bits = self.0.to_bits();
        // amount × bits / 2^64 with amount = hi·2^64 + lo.
        let (hi, lo) = (amount >> 64, amount & u128::from(u64::MAX));
        let high = hi.checked_mul(bits)?;
        let low = lo.checked_mul(bits)? >> 64;
        high.checked_add(low)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ratios_of_parts_sum_to_at_most_one() {
        for parts in [
            vec![1u128, 1, 1],
            vec![u128::MAX / 4, u128::MAX / 4, 7],
            vec![3, 5, 0, 11],
        ] {
            let whole: u128 = parts.iter().sum();
            let fracs: Vec<Frac> = parts
                .iter()
                .map(|p| Frac::ratio(*p, whole).unwrap())
                .collect();
            let sum = Frac::sum(&fracs).unwrap();
            assert!(sum <= Frac::ONE, "{sum}");
            let ulp_short = Frac::ONE.0.to_bits() - sum.0.to_bits();
            let per_part = if whole >> 63 > 0 { 5 } else { 1 };
            assert!(ulp_short <= per_part * parts.len() as u128, "{ulp_short}");
        }
        assert_eq!(Frac::ratio(1, 0), None);
    }

    #[test]
    fn amounts_scale_down_exactly() {
        let half = Frac::of_parts(1, 2).unwrap();
        assert_eq!(half.of_amount(u128::MAX), Some(u128::MAX / 2));
        assert_eq!(Frac::ONE.of_amount(u128::MAX), Some(u128::MAX));
        assert_eq!(Frac::ZERO.of_amount(12345), Some(0));
        assert_eq!(Frac::of_parts(1, 3).unwrap().of_amount(3_000), Some(999));
        assert_eq!(
            "0.25".parse::<Frac>().unwrap(),
            Frac::of_parts(1, 4).unwrap()
        );
        assert!("-1".parse::<Frac>().is_err());
    }

    /// The decimal text of a fraction parses back to the same bits (JSON is exact).
    #[test]
    fn text_round_trips() {
        let mut bits: u128 = 0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834;
        for _ in 0..10_000 {
            bits = bits.wrapping_mul(0x2545_f491_4f6c_dd1d).wrapping_add(1) >> 60;
            let f = Frac(U64F64::from_bits(bits));
            assert_eq!(f.to_string().parse::<Frac>().unwrap(), f, "{bits}");
            let json = serde_json::to_string(&f).unwrap();
            assert_eq!(serde_json::from_str::<Frac>(&json).unwrap(), f);
        }
    }
}
