//! Delegation's arithmetic: how a validator's epoch emission is shared with the stakers
//! who delegated to it, and the rules on the validator's take.
//!
//! # Rules
//! * The validator first takes `⌊E · take⌋`; the rest is shared by stake among the
//!   validator's own stake and each delegation, each part rounded down. The rounding
//!   dust (less than one base unit per delegation) goes to the validator.
//! * The take is within `[0, MAX_TAKE_BPS]`. A validator may lower it at any time; it may
//!   raise it only `take_increase_delay_blocks` after its last change, so delegators see
//!   a raise coming and can leave (undelegating takes the unbonding period).
//!
//! # Invariants (property-tested below)
//! * the validator's part plus the delegators' parts equal `E` exactly.
//! * a delegator's part is at least `⌊(E − take) · d / total⌋ ` and at most its exact
//!   pro-rata share of `E − take`: nobody is shorted by more than rounding.

/// The highest take a validator may set (Bittensor's default and maximum, ~18%).
pub const MAX_TAKE_BPS: u16 = 1_800;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DelegationError {
    #[error("a take of {0} bps is above the maximum of {MAX_TAKE_BPS} bps")]
    TakeTooHigh(u16),
    #[error("the take may rise again from block {allowed_from}: lower it now, or wait")]
    TakeRaiseTooSoon { allowed_from: u64 },
    #[error("the stakes overflow")]
    Overflow,
}

/// A validator's epoch emission, shared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shared {
    pub validator: u128,
    pub delegators: Vec<u128>,
}

/// Share `emission` between a validator (own stake `own`, take `take_bps`) and the
/// stakes `delegations` delegated to it.
pub fn share(
    emission: u128,
    take_bps: u16,
    own: u128,
    delegations: &[u128],
) -> Result<Shared, DelegationError> {
    if take_bps > MAX_TAKE_BPS {
        return Err(DelegationError::TakeTooHigh(take_bps));
    }
    let take = mul_div(emission, u128::from(take_bps), 10_000).ok_or(DelegationError::Overflow)?;
    let rest = emission
        .checked_sub(take)
        .ok_or(DelegationError::Overflow)?;
    let total = delegations
        .iter()
        .try_fold(own, |a, d| a.checked_add(*d))
        .ok_or(DelegationError::Overflow)?;
    let delegators = delegations
        .iter()
        .map(|d| mul_div(rest, *d, total).ok_or(DelegationError::Overflow))
        .collect::<Result<Vec<_>, _>>()?;
    let paid = delegators
        .iter()
        .try_fold(0u128, |a, b| a.checked_add(*b))
        .ok_or(DelegationError::Overflow)?;
    Ok(Shared {
        validator: emission
            .checked_sub(paid)
            .ok_or(DelegationError::Overflow)?,
        delegators,
    })
}

/// Whether a validator whose take is `old` (last changed at `changed_at`) may set `new`
/// at `now`.
pub fn check_take_change(
    old: u16,
    new: u16,
    changed_at: u64,
    now: u64,
    take_increase_delay_blocks: u64,
) -> Result<(), DelegationError> {
    if new > MAX_TAKE_BPS {
        return Err(DelegationError::TakeTooHigh(new));
    }
    let allowed_from = changed_at.saturating_add(take_increase_delay_blocks);
    if new > old && now < allowed_from {
        return Err(DelegationError::TakeRaiseTooSoon { allowed_from });
    }
    Ok(())
}

/// `⌊a · b / c⌋` exactly, for `b ≤ c` (0 when `c` is 0); `None` only if it cannot fit.
fn mul_div(a: u128, b: u128, c: u128) -> Option<u128> {
    if c == 0 || b == 0 {
        return Some(0);
    }
    // a·b/c = q·b + r·b/c with a = q·c + r, and ⌊a·b/c⌋ = q·b + ⌊r·b/c⌋ exactly;
    // r·b is formed in 256 bits when it does not fit in 128.
    let (q, r) = (a.checked_div(c)?, a.checked_rem(c)?);
    let whole = q.checked_mul(b)?;
    let part = match r.checked_mul(b) {
        Some(p) => p.checked_div(c)?,
        None => wide_mul_div(r, b, c)?,
    };
    whole.checked_add(part)
}

/// `⌊r · b / c⌋` for `r < c`, `b ≤ c`, by schoolbook 256-bit division.
fn wide_mul_div(r: u128, b: u128, c: u128) -> Option<u128> {
    // 256-bit product as (hi, lo).
    let mask = u128::from(u64::MAX);
    let (r1, r0) = (r >> 64, r & mask);
    let (b1, b0) = (b >> 64, b & mask);
    let p00 = r0.checked_mul(b0)?;
    let p01 = r0.checked_mul(b1)?;
    let p10 = r1.checked_mul(b0)?;
    let p11 = r1.checked_mul(b1)?;
    let (mid, carry_mid) = p01.overflowing_add(p10);
    let (lo, carry_lo) = p00.overflowing_add(mid << 64);
    let hi = p11
        .checked_add(mid >> 64)?
        .checked_add(u128::from(carry_mid) << 64)?
        .checked_add(u128::from(carry_lo))?;
    // Long division of (hi, lo) by c, bit by bit; the quotient fits in 128 bits since
    // r·b < c·c and b ≤ c.
    let mut rem = hi;
    let mut quotient: u128 = 0;
    for bit in (0..128).rev() {
        let top = rem >> 127;
        rem = (rem << 1) | ((lo >> bit) & 1);
        quotient <<= 1;
        if top == 1 || rem >= c {
            rem = rem.wrapping_sub(c);
            quotient |= 1;
        }
    }
    Some(quotient)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_worked_share() {
        // 1,000 at 10% take: 100 taken; 900 by stake 50 / 30 / 20.
        let s = share(1_000, 1_000, 50, &[30, 20]).unwrap();
        assert_eq!(
            s,
            Shared {
                validator: 550,
                delegators: vec![270, 180]
            }
        );
        // Dust to the validator: 100 by 1/3 each.
        let s = share(100, 0, 1, &[1, 1]).unwrap();
        assert_eq!(
            s,
            Shared {
                validator: 34,
                delegators: vec![33, 33]
            }
        );
        assert_eq!(
            share(1, 1_801, 1, &[]),
            Err(DelegationError::TakeTooHigh(1_801))
        );
        // Exact even near the u128 limit.
        let big = u128::MAX / 3;
        let s = share(u128::MAX, 0, big, &[big, big]).unwrap();
        assert_eq!(s.delegators, vec![u128::MAX / 3; 2]);
    }

    #[test]
    fn take_raises_wait_and_cuts_do_not() {
        assert_eq!(check_take_change(1_000, 500, 100, 101, 1_000), Ok(()));
        assert_eq!(
            check_take_change(500, 600, 100, 1_099, 1_000),
            Err(DelegationError::TakeRaiseTooSoon {
                allowed_from: 1_100
            })
        );
        assert_eq!(check_take_change(500, 600, 100, 1_100, 1_000), Ok(()));
        assert_eq!(
            check_take_change(500, 1_801, 0, 10_000, 1),
            Err(DelegationError::TakeTooHigh(1_801))
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn shares_are_exact_and_fair(
            emission in prop_oneof![0u128..1_000_000_000_000, Just(u128::MAX)],
            take in 0u16..=MAX_TAKE_BPS,
            own in prop_oneof![0u128..1_000_000, (u128::MAX / 16)..(u128::MAX / 8)],
            delegations in prop::collection::vec(prop_oneof![0u128..1_000_000, (u128::MAX / 16)..(u128::MAX / 8)], 0..6),
        ) {
            let s = share(emission, take, own, &delegations).unwrap();
            let paid: u128 = s.delegators.iter().sum();
            prop_assert_eq!(paid.checked_add(s.validator), Some(emission));
            prop_assert!(s.validator >= emission / 10_000 * u128::from(take));
            let dust = s.validator - mul_div(emission, u128::from(take), 10_000).unwrap()
                - mul_div(emission - mul_div(emission, u128::from(take), 10_000).unwrap(), own, own + delegations.iter().sum::<u128>()).unwrap_or(0);
            prop_assert!(dust <= delegations.len() as u128 + 1, "dust {}", dust);
        }
    }
}
