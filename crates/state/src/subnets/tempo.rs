//! The subnets' part of every block: emission accrues each block, and each subnet runs
//! its Yuma epoch once per tempo and pays it out.
//!
//! # Each block ([`on_block`])
//! 1. **Accrue.** `E` = `subnet_emission_per_block`, halving on the block reward's
//!    schedule and capped by the room left under `max_supply`, is divided among the
//!    subnets by emission rule v1 ([`super::emission::divide`], decision 0019) on each
//!    subnet's matured stake and averaged take. The assigned parts are minted into the
//!    subnets' escrow and added to each subnet's `pending_emission`; the unassigned rest
//!    is never minted.
//! 2. **Epoch.** A subnet whose `last_epoch_block + tempo` has come runs
//!    [`super::yuma::epoch`] on its UIDs (stake: the delegations behind each UID; weights:
//!    the last revealed; bonds and permits: the last epoch's) with `E_s` = its pending
//!    emission, and pays from the escrow: the owner's cut to the owner, each miner's
//!    part to its key, each validator's part shared with its delegators
//!    ([`super::delegation::share`]: the take, then pro rata; only delegations bonded
//!    `subnet_maturity_blocks` ago share, so a pump around an epoch earns nothing). The
//!    epoch also records
//!    bonds, permits, pruning scores and the metagraph's columns, refreshes the subnet's
//!    matured stake and folds this tempo's take into its average (`(3·avg + take) / 4`).
//! 3. An epoch that fails (it cannot on a valid state, but the chain must not halt if it
//!    does) changes nothing but its schedule: its emission waits for the next epoch and
//!    an `EpochSkipped` event records the error's code.
//!
//! # Invariants (tested in `tests/subnets_chain.rs`)
//! * the escrow's balance equals the sum of the subnets' pending emission.
//! * an epoch pays out exactly its pending emission: owner + miners + validators +
//!   delegators = `E_s`.
//! * total supply stays genesis + minted − burned (`tests/ledger_props.rs`).

use super::{
    delegation,
    emission::{self, EmissionParams, SubnetFlow},
    error::SubnetError,
    registry::{self, LastEpoch, Neuron, Subnet},
    stake,
    yuma::{self, EpochInput, YumaParams},
};
use crate::{bank, error::checked, kv::Overlay, Params, StateError};
use tessera_types::{
    subnet::{SubnetEvent, SubnetId},
    tx::ModelId,
    Address, Amount, Event,
};

/// The account holding emission between accrual and epoch.
pub fn escrow() -> Address {
    Address::module("subnets/escrow")
}

/// The subnets' work at the end of block `height`.
pub fn on_block(
    state: &mut Overlay<'_>,
    params: &Params,
    height: u64,
) -> Result<Vec<Event>, StateError> {
    let subnets = registry::all(state)?;
    if subnets.is_empty() {
        return Ok(Vec::new());
    }
    let mut events = accrue(state, params, height, subnets)?;
    for (id, subnet) in registry::all(state)? {
        if height < subnet.next_epoch_block() {
            continue;
        }
        let outcome = {
            let mut child = Overlay::new(state);
            run_epoch(&mut child, params, height, id, subnet.clone())
                .map(|event| (child.take_writes(), event))
        };
        match outcome {
            Ok((writes, event)) => {
                state.absorb(writes);
                events.push(event);
            }
            Err(e) => {
                let mut skipped = subnet;
                skipped.last_epoch_block = height;
                registry::set_subnet(state, id, &skipped);
                events.push(Event::Subnet(SubnetEvent::EpochSkipped {
                    subnet: id,
                    code: e.code(),
                }));
            }
        }
    }
    Ok(events)
}

/// The subnets' emission for block `height`, before the supply cap.
fn scheduled(params: &Params, height: u64) -> Amount {
    let halvings = height
        .saturating_sub(1)
        .checked_div(params.halving_interval_blocks)
        .unwrap_or(u64::MAX);
    match u32::try_from(halvings) {
        Ok(shift) if shift < 128 => Amount::from_base(
            params
                .subnet_emission_per_block
                .base()
                .checked_shr(shift)
                .unwrap_or(0),
        ),
        _ => Amount::ZERO,
    }
}

/// Step 1: divide this block's emission among the subnets and mint it into escrow.
fn accrue(
    state: &mut Overlay<'_>,
    params: &Params,
    height: u64,
    subnets: Vec<(SubnetId, Subnet)>,
) -> Result<Vec<Event>, StateError> {
    let room = params
        .max_supply
        .saturating_sub(bank::supply(state)?.total()?);
    let emission = scheduled(params, height).min(room);
    if emission.is_zero() {
        return Ok(Vec::new());
    }
    let flows: Vec<SubnetFlow> = subnets
        .iter()
        .map(|(_, s)| SubnetFlow {
            matured_stake: s.matured_stake.base(),
            take: s.take_average.base(),
        })
        .collect();
    let rule = EmissionParams {
        maturity_blocks: params.subnet_maturity_blocks,
        revenue_weight_bps: params.subnet_revenue_weight_bps,
        take_return_bps: params.subnet_take_return_bps,
    };
    let division = emission::divide(emission.base(), &flows, &rule)
        .map_err(|e| StateError::InvalidParams(e.to_string()))?;
    let mut minted = Amount::ZERO;
    for ((id, mut subnet), share) in subnets.into_iter().zip(division.shares) {
        if share == 0 {
            continue;
        }
        let share = Amount::from_base(share);
        subnet.pending_emission = checked(
            subnet.pending_emission.checked_add(share),
            "pending emission",
        )?;
        registry::set_subnet(state, id, &subnet);
        minted = checked(minted.checked_add(share), "subnet emission")?;
    }
    if minted.is_zero() {
        return Ok(Vec::new());
    }
    bank::mint(state, &escrow(), minted)?;
    Ok(vec![Event::Mint {
        to: escrow(),
        amount: minted,
    }])
}

fn yuma_params(p: &tessera_types::subnet::SubnetParams) -> YumaParams {
    YumaParams {
        kappa_bps: p.kappa_bps,
        bonds_moving_average_ppm: p.bonds_moving_average_ppm,
        bonds_penalty_bps: p.bonds_penalty_bps,
        max_validators: p.max_validators,
        activity_cutoff_blocks: p.activity_cutoff_blocks,
        owner_cut_bps: p.owner_cut_bps,
    }
}

/// Step 2: one subnet's epoch and its payout.
fn run_epoch(
    state: &mut Overlay<'_>,
    params: &Params,
    height: u64,
    id: SubnetId,
    mut subnet: Subnet,
) -> Result<Event, StateError> {
    let mut table = registry::uids(state, id)?;
    let mut neurons: Vec<Neuron> = Vec::with_capacity(table.slots.len());
    let mut inputs = Vec::with_capacity(table.slots.len());
    for (uid, slot) in (0u16..).zip(&table.slots) {
        let record = registry::neuron(state, id, uid)?;
        // Rows without a permit are masked by the epoch anyway: leave them out of its
        // work (a UID that lost its permit also cannot reveal new weights).
        let counts = record.permit != Some(false);
        inputs.push(yuma::Neuron {
            stake: stake::validator_stake(state, id, &slot.key)?.base(),
            last_update: Some(record.last_update),
            registered_at: slot.registered_at,
            permit: record.permit,
            weights: if counts {
                record.weights.revealed.clone()
            } else {
                Vec::new()
            },
            bonds: if counts {
                record.bonds.clone()
            } else {
                Vec::new()
            },
        });
        neurons.push(record);
    }
    let emission = subnet.pending_emission;
    let out = yuma::epoch(&EpochInput {
        block: height,
        last_epoch_block: subnet.last_epoch_block,
        emission: emission.base(),
        params: yuma_params(&subnet.params),
        neurons: inputs,
    })
    .map_err(|_| SubnetError::EpochFailed)?;

    let mut payouts: Vec<(Address, Amount)> = Vec::new();
    let mut to_miners = Amount::ZERO;
    let mut to_validators = Amount::ZERO;
    let mut matured = Amount::ZERO;
    let mut scores = Vec::with_capacity(neurons.len());
    for ((uid, record), o) in (0u16..).zip(neurons.iter_mut()).zip(&out.neurons) {
        let miner = Amount::from_base(o.miner_emission);
        let validator = Amount::from_base(o.validator_emission);
        to_miners = checked(to_miners.checked_add(miner), "miner emission")?;
        to_validators = checked(to_validators.checked_add(validator), "validator emission")?;
        payouts.push((record.key, miner));
        let positions = stake::delegations(state, id, &record.key)?;
        matured = checked(
            matured.checked_add(matured_of(&positions, height, params)?),
            "matured stake",
        )?;
        let matured_at = height.saturating_sub(params.subnet_maturity_blocks);
        payouts.extend(share_dividends(
            state,
            &record.key,
            validator,
            &positions,
            matured_at,
        )?);
        let earned = checked(miner.checked_add(validator), "emission")?;
        scores.push(earned.base());
        record.permit = Some(o.new_permit);
        record.bonds = o.bonds.clone();
        record.last = LastEpoch {
            stake: o.stake,
            rank: o.rank,
            trust: o.validator_trust,
            consensus: o.consensus,
            incentive: o.incentive,
            dividends: o.dividends,
            emission: earned,
        };
        registry::set_neuron(state, id, uid, record);
    }
    let to_owner = Amount::from_base(out.owner_emission);
    payouts.push((subnet.owner, to_owner));
    pay(state, emission, &payouts)?;
    table.set_scores(scores);
    registry::set_uids(state, id, &table);

    subnet.last_epoch_block = height;
    subnet.epochs = subnet.epochs.saturating_add(1);
    subnet.pending_emission = Amount::ZERO;
    subnet.take_average = fold_take(subnet.take_average, subnet.take_this_tempo)?;
    subnet.take_this_tempo = Amount::ZERO;
    subnet.matured_stake = matured;
    registry::set_subnet(state, id, &subnet);
    Ok(Event::Subnet(SubnetEvent::EpochPaid {
        subnet: id,
        emission,
        to_owner,
        to_miners,
        to_validators,
    }))
}

/// `(3·avg + take) / 4`, rounded down.
fn fold_take(average: Amount, take: Amount) -> Result<Amount, StateError> {
    let three = checked(average.base().checked_mul(3), "take average")?;
    let sum = checked(three.checked_add(take.base()), "take average")?;
    Ok(Amount::from_base(sum.checked_div(4).unwrap_or(0)))
}

fn matured_of(
    positions: &[(Address, stake::Position)],
    height: u64,
    params: &Params,
) -> Result<Amount, StateError> {
    positions
        .iter()
        .filter(|(_, p)| p.bonded_at.saturating_add(params.subnet_maturity_blocks) <= height)
        .try_fold(Amount::ZERO, |sum, (_, p)| {
            checked(sum.checked_add(p.amount), "matured stake")
        })
}

/// A validator's part, shared with its delegators (its own position is its stake). Only
/// a delegation bonded `subnet_maturity_blocks` ago shares: one placed just before an
/// epoch and withdrawn just after (a pump and exit) earns nothing, and its part stays
/// with the validator and the delegators who stayed.
fn share_dividends(
    state: &Overlay<'_>,
    validator: &Address,
    amount: Amount,
    positions: &[(Address, stake::Position)],
    matured_at: u64,
) -> Result<Vec<(Address, Amount)>, StateError> {
    let others: Vec<&(Address, stake::Position)> = positions
        .iter()
        .filter(|(d, p)| d != validator && p.bonded_at <= matured_at)
        .collect();
    if amount.is_zero() || others.is_empty() {
        return Ok(vec![(*validator, amount)]);
    }
    let own = positions
        .iter()
        .find(|(d, _)| d == validator)
        .map_or(0, |(_, p)| p.amount.base());
    let stakes: Vec<u128> = others.iter().map(|(_, p)| p.amount.base()).collect();
    let take = stake::take(state, validator)?.bps;
    let shared = delegation::share(amount.base(), take, own, &stakes)
        .map_err(|_| StateError::Overflow("delegation share"))?;
    let mut out = vec![(*validator, Amount::from_base(shared.validator))];
    out.extend(
        others
            .iter()
            .zip(shared.delegators)
            .map(|((d, _), part)| (*d, Amount::from_base(part))),
    );
    Ok(out)
}

/// Move `total` out of escrow to the payees; they must add up to it exactly.
fn pay(
    state: &mut Overlay<'_>,
    total: Amount,
    payees: &[(Address, Amount)],
) -> Result<(), StateError> {
    let sum = payees.iter().try_fold(Amount::ZERO, |sum, (_, a)| {
        checked(sum.checked_add(*a), "epoch payout")
    })?;
    if sum != total {
        return Err(SubnetError::EpochFailed.into());
    }
    if total.is_zero() {
        return Ok(());
    }
    bank::debit(state, &escrow(), total)?;
    for (to, amount) in payees.iter().filter(|(_, a)| !a.is_zero()) {
        bank::credit(state, to, *amount)?;
    }
    Ok(())
}

/// Hook for `channels`: the network kept `take` from a claim on `model`'s channels.
pub fn credit_take(
    state: &mut Overlay<'_>,
    model: ModelId,
    take: Amount,
) -> Result<(), StateError> {
    if take.is_zero() {
        return Ok(());
    }
    let Some(id) = registry::id_by_model(state, model)? else {
        return Ok(());
    };
    let mut subnet = registry::existing(state, id)?;
    subnet.take_this_tempo = checked(subnet.take_this_tempo.checked_add(take), "take")?;
    registry::set_subnet(state, id, &subnet);
    Ok(())
}
