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
//! # Invariants (property-tested in `tests/subnets_unit.rs`)
//! * the validator's part plus the delegators' parts equal `E` exactly.
//! * a delegator's part is at least `⌊(E − take) · d / total⌋ ` and at most its exact
//!   pro-rata share of `E − take`: nobody is shorted by more than rounding.

use super::fixed::mul_div;

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
