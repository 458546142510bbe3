//! [`Amount`]: integer base units of TSR. 1 TSR = 10^9 base units.
//!
//! Amounts are never floats. They parse from and print as decimal TSR ("12.5"), and
//! travel in JSON as a string of base units ("12500000000") so no client rounds them.

use crate::TypesError;
use bytes::{Buf, BufMut};
use commonware_codec::{Error as CodecError, FixedSize, Read, Write};
use std::{fmt, str::FromStr};

/// Base units in one TSR.
pub const BASE_PER_TSR: u128 = 1_000_000_000;
/// Decimal places of TSR.
pub const DECIMALS: usize = 9;

/// A quantity of TSR in base units.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(u128);

impl Amount {
    pub const ZERO: Amount = Amount(0);

    pub const fn from_base(base: u128) -> Amount {
        Amount(base)
    }

    /// Whole TSR; `None` when it would overflow.
    pub fn from_tsr(tsr: u128) -> Option<Amount> {
        tsr.checked_mul(BASE_PER_TSR).map(Amount)
    }

    pub const fn base(self) -> u128 {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }

    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }

    pub fn saturating_sub(self, other: Amount) -> Amount {
        Amount(self.0.saturating_sub(other.0))
    }

    pub fn checked_mul(self, factor: u128) -> Option<Amount> {
        self.0.checked_mul(factor).map(Amount)
    }

    pub fn min(self, other: Amount) -> Amount {
        Amount(self.0.min(other.0))
    }

    /// Parse decimal TSR such as `12.5`, `0.000000001` or `100`.
    pub fn parse_tsr(input: &str) -> Result<Amount, TypesError> {
        let bad = |reason| TypesError::InvalidAmount {
            input: input.to_string(),
            reason,
        };
        let text = input.trim();
        let (whole, frac) = match text.split_once('.') {
            Some((w, f)) => (w, f),
            None => (text, ""),
        };
        if whole.is_empty() && frac.is_empty() {
            return Err(bad("empty"));
        }
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || !digits(frac) {
            return Err(bad("only digits and one '.' are allowed"));
        }
        if frac.len() > DECIMALS {
            return Err(bad("more than 9 decimals"));
        }
        let whole_base = if whole.is_empty() {
            0
        } else {
            whole.parse::<u128>().map_err(|_| bad("too large"))?
        };
        let mut frac_base: u128 = 0;
        for b in frac.bytes().chain(std::iter::repeat(b'0')).take(DECIMALS) {
            frac_base = frac_base
                .checked_mul(10)
                .and_then(|v| v.checked_add(u128::from(b.saturating_sub(b'0'))))
                .ok_or(bad("too large"))?;
        }
        whole_base
            .checked_mul(BASE_PER_TSR)
            .and_then(|v| v.checked_add(frac_base))
            .map(Amount)
            .ok_or(bad("too large"))
    }
}

impl fmt::Display for Amount {
    /// Decimal TSR without trailing zeros: `12.5`, `0.000000001`, `100`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / BASE_PER_TSR;
        let frac = self.0 % BASE_PER_TSR;
        if frac == 0 {
            return write!(f, "{whole}");
        }
        let frac_text = format!("{frac:09}");
        write!(f, "{whole}.{}", frac_text.trim_end_matches('0'))
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} TSR", self)
    }
}

impl FromStr for Amount {
    type Err = TypesError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Amount::parse_tsr(s)
    }
}

impl serde::Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::integer_from_json::<D, u128>(d, "base-unit amount").map(Amount)
    }
}

impl Write for Amount {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_u128(self.0);
    }
}

impl Read for Amount {
    type Cfg = ();
    fn read_cfg(buf: &mut impl commonware_codec::Buf, _: &()) -> Result<Self, CodecError> {
        if buf.remaining() < 16 {
            return Err(CodecError::EndOfBuffer);
        }
        Ok(Amount(buf.get_u128()))
    }
}

impl FixedSize for Amount {
    const SIZE: usize = 16;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_prints_tsr() {
        assert_eq!(Amount::parse_tsr("12.5").unwrap().base(), 12_500_000_000);
        assert_eq!(Amount::parse_tsr("0.000000001").unwrap().base(), 1);
        assert_eq!(Amount::parse_tsr("100").unwrap().base(), 100 * BASE_PER_TSR);
        assert_eq!(Amount::parse_tsr(".5").unwrap().base(), 500_000_000);
        assert_eq!(Amount::from_base(12_500_000_000).to_string(), "12.5");
        assert_eq!(Amount::from_base(1).to_string(), "0.000000001");
        assert_eq!(Amount::ZERO.to_string(), "0");
    }

    #[test]
    fn rejects_bad_amounts() {
        for bad in [
            "",
            ".",
            "1.2.3",
            "-1",
            "1e9",
            "0.0000000001",
            "abc",
            "1 000",
        ] {
            assert!(
                Amount::parse_tsr(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
        assert!(Amount::parse_tsr(&"9".repeat(40)).is_err());
    }

    #[test]
    fn json_uses_base_unit_strings() {
        let a = Amount::from_base(u128::MAX);
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, format!("\"{}\"", u128::MAX));
        assert_eq!(serde_json::from_str::<Amount>(&json).unwrap(), a);
        assert_eq!(
            serde_json::from_str::<Amount>("42").unwrap(),
            Amount::from_base(42)
        );
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(base in any::<u64>()) {
            let a = Amount::from_base(u128::from(base));
            prop_assert_eq!(Amount::parse_tsr(&a.to_string()).unwrap(), a);
        }
    }
}
