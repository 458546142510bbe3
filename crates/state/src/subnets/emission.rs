//! Emission across subnets, rule version 1 ("matured stake and network take"): how one
//! block's (or tempo's) emission `E` is divided among subnets before each runs its Yuma
//! epoch. Decision 0019 gives the reasons; in short:
//!
//! * **Matured stake.** A stake position counts for its subnet only once it has been
//!   bonded there for `maturity_blocks`, and stops counting the moment it starts to
//!   unbond (it then stays locked for the unbonding period). Stake that flows in to pump
//!   a subnet's share and out again earns nothing for the `maturity_blocks` before it
//!   counts and stays locked, earning nothing, for the unbonding period after: per unit
//!   of capital and time it always earns less than stake that stays.
//! * **Network take.** The revenue a subnet is credited with is not what its channels
//!   moved but what the network kept from them: the treasury's part and the protocol
//!   fee of every claim (decision 0017), averaged over past tempos by the caller. A
//!   payer who washes money through its own provider and model gets everything back
//!   except that take, so the take is the real cost of faking revenue.
//! * **The revenue pool is a fraction of what it pays for.** `revenue_pool =
//!   min(revenue_weight · E, take_return · Σ take)` with `take_return < 1`: the network
//!   returns at most `take_return` of its take as extra emission, so adding `x` of fake
//!   take gains at most `take_return · x < x`. The rest of `E` is the stake pool.
//!
//! # Formulas
//! * `M_i` = matured stake of subnet `i`; `T_i` = its network take; `R = min(λ·E, ρ·ΣT)`
//!   (`λ` = `revenue_weight_bps`, `ρ` = `take_return_bps`); `P = E − R`.
//! * `share_i = ⌊P · M_i / ΣM⌋ + ⌊R · T_i / ΣT⌋`; when `ΣT = 0` the revenue pool is 0
//!   (all of `E` is the stake pool). When `ΣM = 0` the stake pool goes to nobody (split by
//!   take, one base unit of washed take would claim all of it: the property test found
//!   that). What rounding leaves (under two base units per subnet) and the pools nobody can
//!   take are returned as `unassigned` (the caller burns it or keeps it in the treasury).
//!
//! # Invariants (property-tested in `tests/emission_props.rs`)
//! * `Σ share_i + unassigned = E` exactly.
//! * a subnet with neither matured stake nor take gets 0; with no matured stake it gets
//!   at most its part of the revenue pool.
//! * adding `x` to one subnet's take raises its share by at most `ρ·x` (+1 for rounding).

use serde::{Deserialize, Serialize};

/// The rule's version, recorded with every distribution (a change of rule is a new
/// version, decided and documented).
pub const RULE_VERSION: u16 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmissionParams {
    /// Blocks a stake position must be bonded to a subnet before it counts.
    pub maturity_blocks: u64,
    /// Most of `E` the revenue pool may take, bps.
    pub revenue_weight_bps: u16,
    /// Most of the network's take returned as revenue-pool emission, bps (< 10,000).
    pub take_return_bps: u16,
}

impl Default for EmissionParams {
    fn default() -> EmissionParams {
        EmissionParams {
            maturity_blocks: 7_200,
            revenue_weight_bps: 5_000,
            take_return_bps: 5_000,
        }
    }
}

/// A stake position in a subnet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub amount: u128,
    pub bonded_at: u64,
    /// The block it started unbonding, if it has.
    pub unbonding_from: Option<u64>,
}

/// What one subnet brings to the division.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SubnetFlow {
    pub matured_stake: u128,
    pub take: u128,
}

/// The division of `E`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Division {
    pub shares: Vec<u128>,
    pub unassigned: u128,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EmissionError {
    #[error("{0} is above 100% (bps are at most 10,000)")]
    BadParam(&'static str),
    #[error("take_return_bps must be below 10,000: returning all of the take would make fake revenue free")]
    FullReturn,
    #[error("the total of {0} overflows")]
    Overflow(&'static str),
}

/// The stake of `positions` that counts at `now`.
pub fn matured_stake(positions: &[Position], now: u64, maturity_blocks: u64) -> Option<u128> {
    positions
        .iter()
        .filter(|p| p.unbonding_from.is_none_or(|u| u > now))
        .filter(|p| p.bonded_at.saturating_add(maturity_blocks) <= now)
        .try_fold(0u128, |acc, p| acc.checked_add(p.amount))
}

/// Divide `emission` among `subnets`.
pub fn divide(
    emission: u128,
    subnets: &[SubnetFlow],
    params: &EmissionParams,
) -> Result<Division, EmissionError> {
    if params.revenue_weight_bps > 10_000 {
        return Err(EmissionError::BadParam("revenue_weight_bps"));
    }
    if params.take_return_bps >= 10_000 {
        return Err(EmissionError::FullReturn);
    }
    let total = |f: fn(&SubnetFlow) -> u128, what| {
        subnets
            .iter()
            .map(f)
            .try_fold(0u128, u128::checked_add)
            .ok_or(EmissionError::Overflow(what))
    };
    let stake = total(|s| s.matured_stake, "matured stake")?;
    let take = total(|s| s.take, "take")?;
    let revenue_pool = if take == 0 {
        0
    } else {
        bps_of(emission, params.revenue_weight_bps).min(bps_of(take, params.take_return_bps))
    };
    let stake_pool = emission.saturating_sub(revenue_pool);
    let mut shares = Vec::with_capacity(subnets.len());
    for s in subnets {
        let by_stake = mul_div(stake_pool, s.matured_stake, stake);
        let by_take = mul_div(revenue_pool, s.take, take.max(1));
        shares.push(by_stake.saturating_add(by_take));
    }
    let paid = shares
        .iter()
        .try_fold(0u128, |a, b| a.checked_add(*b))
        .ok_or(EmissionError::Overflow("shares"))?;
    Ok(Division {
        shares,
        unassigned: emission.saturating_sub(paid),
    })
}

fn bps_of(amount: u128, bps: u16) -> u128 {
    mul_div(amount, u128::from(bps), 10_000)
}

/// `⌊a · b / c⌋` for `b ≤ c` (it always fits then); 0 when `c` is 0.
fn mul_div(a: u128, b: u128, c: u128) -> u128 {
    super::fixed::mul_div(a, b, c).unwrap_or(0)
}
