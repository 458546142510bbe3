//! Stake in subnets: delegations behind validators, and each validator's take.
//!
//! # Rules
//! * `delegate(subnet, validator, amount)` bonds and locks `amount` of the signer's
//!   balance (through `staking`) behind a UID of role validator in that subnet. A
//!   validator stakes on itself the same way (delegator = validator). Stake is per
//!   subnet, so one TSR backs one subnet: nothing counts twice in the division of
//!   emission among subnets.
//! * Adding to a delegation restarts its maturity (`bonded_at` = now): stake that flows in
//!   counts for the subnet's matured stake only `subnet_maturity_blocks` later (decision
//!   0019), whether it arrives in a new position or tops up an old one.
//! * `undelegate` unlocks and unbonds at once: the stake stops counting this block
//!   (for Yuma and for the subnet's matured stake) and is withdrawable after the
//!   unbonding period, so stake can never earn and leave at the same time.
//! * A validator takes at most [`MAX_DELEGATIONS`] delegations per subnet (each epoch pays
//!   every one of them), each new one of at least [`MIN_DELEGATION`].
//! * `set_take(bps)`: see `delegation::check_take_change`. A validator that never set a
//!   take has `delegation::MAX_TAKE_BPS`.
//!
//! # State keys
//! * `subnet/stake/<subnet: 8><validator: 32><delegator: 32>` → [`Position`].
//! * `subnet/vstake/<subnet: 8><validator: 32>` → total behind the validator.
//! * `subnet/take/<validator: 32>` → [`Take`].
//!
//! # Invariants (tested in `tests/subnets_chain.rs`)
//! * a validator's total equals the sum of its positions in that subnet.
//! * the sum of all positions of an account is part of its locked stake.

use super::{
    delegation::{self, DelegationError, MAX_TAKE_BPS},
    error::SubnetError,
    registry,
};
use crate::{
    error::checked,
    kv::{key, keys_with_prefix, Overlay},
    staking, Params, StateError,
};
use bytes::BufMut;
use commonware_codec::{Buf, Error as CodecError, FixedSize, Read, ReadExt, Write};
use tessera_types::{
    subnet::{Role, SubnetEvent, SubnetId},
    Address, Amount, Event,
};

/// Most delegations behind one validator in one subnet.
pub const MAX_DELEGATIONS: usize = 64;
/// Least stake a new delegation brings: filling a validator's slots with dust costs
/// `MAX_DELEGATIONS` TSR locked, not 64 base units.
pub const MIN_DELEGATION: Amount = Amount::from_base(tessera_types::amount::BASE_PER_TSR);
const POSITION_PREFIX: &[u8] = b"subnet/stake/";
const TOTAL_PREFIX: &[u8] = b"subnet/vstake/";
const TAKE_PREFIX: &[u8] = b"subnet/take/";

/// One delegation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Position {
    pub amount: Amount,
    /// The block it was last added to (maturity counts from here).
    pub bonded_at: u64,
}

impl Write for Position {
    fn write(&self, buf: &mut impl BufMut) {
        self.amount.write(buf);
        buf.put_u64(self.bonded_at);
    }
}

impl FixedSize for Position {
    const SIZE: usize = Amount::SIZE + 8;
}

impl Read for Position {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Position {
            amount: Amount::read(buf)?,
            bonded_at: u64::read(buf)?,
        })
    }
}

/// A validator's take and when it last changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Take {
    pub bps: u16,
    pub changed_at: u64,
}

impl Write for Take {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_u16(self.bps);
        buf.put_u64(self.changed_at);
    }
}

impl FixedSize for Take {
    const SIZE: usize = 10;
}

impl Read for Take {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Take {
            bps: u16::read(buf)?,
            changed_at: u64::read(buf)?,
        })
    }
}

fn validator_prefix(id: SubnetId, validator: &Address) -> Vec<u8> {
    let mut k = key(POSITION_PREFIX, &id.0.to_be_bytes());
    k.extend_from_slice(validator.as_bytes());
    k
}

fn position_key(id: SubnetId, validator: &Address, delegator: &Address) -> Vec<u8> {
    key(&validator_prefix(id, validator), delegator.as_bytes())
}

/// Whether any stake is delegated in subnet `id`.
pub fn any_delegated(state: &Overlay<'_>, id: SubnetId) -> bool {
    !keys_with_prefix(state, &key(POSITION_PREFIX, &id.0.to_be_bytes()), &[], 1).is_empty()
}

fn total_key(id: SubnetId, validator: &Address) -> Vec<u8> {
    let mut k = key(TOTAL_PREFIX, &id.0.to_be_bytes());
    k.extend_from_slice(validator.as_bytes());
    k
}

fn take_key(validator: &Address) -> Vec<u8> {
    key(TAKE_PREFIX, validator.as_bytes())
}

pub fn position(
    state: &Overlay<'_>,
    id: SubnetId,
    validator: &Address,
    delegator: &Address,
) -> Result<Option<Position>, StateError> {
    state.read(&position_key(id, validator, delegator))
}

/// The stake behind `validator` in `id` (its own and delegated).
pub fn validator_stake(
    state: &Overlay<'_>,
    id: SubnetId,
    validator: &Address,
) -> Result<Amount, StateError> {
    Ok(state
        .read(&total_key(id, validator))?
        .unwrap_or(Amount::ZERO))
}

/// Every delegation behind `validator` in `id`, by delegator address.
pub fn delegations(
    state: &Overlay<'_>,
    id: SubnetId,
    validator: &Address,
) -> Result<Vec<(Address, Position)>, StateError> {
    let prefix = validator_prefix(id, validator);
    keys_with_prefix(state, &prefix, &[], MAX_DELEGATIONS.saturating_add(1))
        .into_iter()
        .map(|k| {
            let delegator = k
                .get(prefix.len()..)
                .and_then(|t| <[u8; 32]>::try_from(t).ok())
                .map(Address)
                .ok_or_else(|| StateError::Corrupt {
                    key: String::from_utf8_lossy(&k).into_owned(),
                    reason: "malformed delegation key".into(),
                })?;
            let p = state
                .read(&k)?
                .ok_or(StateError::Missing("delegation just listed"))?;
            Ok((delegator, p))
        })
        .collect()
}

/// A validator's take (the maximum until it sets one).
pub fn take(state: &Overlay<'_>, validator: &Address) -> Result<Take, StateError> {
    Ok(state.read(&take_key(validator))?.unwrap_or(Take {
        bps: MAX_TAKE_BPS,
        changed_at: 0,
    }))
}

fn set_total(state: &mut Overlay<'_>, id: SubnetId, validator: &Address, total: Amount) {
    if total.is_zero() {
        state.delete(total_key(id, validator));
    } else {
        state.write(total_key(id, validator), &total);
    }
}

/// The `delegate` call.
pub fn delegate(
    state: &mut Overlay<'_>,
    height: u64,
    who: &Address,
    id: SubnetId,
    validator: &Address,
    amount: Amount,
) -> Result<Vec<Event>, StateError> {
    registry::existing(state, id)?;
    let uid = registry::uid_of(state, id, validator)?;
    if registry::neuron(state, id, uid)?.role != Role::Validator {
        return Err(SubnetError::NotValidatorUid { uid }.into());
    }
    let old = position(state, id, validator, who)?;
    if old.is_none() && amount < MIN_DELEGATION {
        return Err(SubnetError::DelegationTooSmall {
            min: MIN_DELEGATION,
        }
        .into());
    }
    if old.is_none() && delegations(state, id, validator)?.len() >= MAX_DELEGATIONS {
        return Err(SubnetError::TooManyDelegators {
            max: u64::try_from(MAX_DELEGATIONS).unwrap_or(u64::MAX),
        }
        .into());
    }
    let mut events = staking::bond(state, who, amount)?;
    staking::lock(state, who, amount)?;
    let held = old.map_or(Amount::ZERO, |p| p.amount);
    let record = Position {
        amount: checked(held.checked_add(amount), "delegation")?,
        bonded_at: height,
    };
    state.write(position_key(id, validator, who), &record);
    let total = validator_stake(state, id, validator)?;
    set_total(
        state,
        id,
        validator,
        checked(total.checked_add(amount), "validator stake")?,
    );
    events.push(Event::Subnet(SubnetEvent::Delegated {
        subnet: id,
        validator: *validator,
        delegator: *who,
        amount: record.amount,
    }));
    Ok(events)
}

/// The `undelegate` call.
pub fn undelegate(
    state: &mut Overlay<'_>,
    params: &Params,
    height: u64,
    who: &Address,
    id: SubnetId,
    validator: &Address,
    amount: Amount,
) -> Result<Vec<Event>, StateError> {
    let held = position(state, id, validator, who)?;
    let available = held.map_or(Amount::ZERO, |p| p.amount);
    let Some(mut record) = held.filter(|p| p.amount >= amount) else {
        return Err(SubnetError::NotDelegated {
            requested: amount,
            available,
        }
        .into());
    };
    record.amount = checked(record.amount.checked_sub(amount), "delegation")?;
    if record.amount.is_zero() {
        state.delete(position_key(id, validator, who));
    } else {
        state.write(position_key(id, validator, who), &record);
    }
    let total = validator_stake(state, id, validator)?;
    set_total(
        state,
        id,
        validator,
        checked(total.checked_sub(amount), "validator stake")?,
    );
    if let Some(mut subnet) = registry::subnet(state, id)? {
        subnet.matured_stake = subnet.matured_stake.saturating_sub(amount);
        registry::set_subnet(state, id, &subnet);
    }
    staking::unlock(state, who, amount)?;
    let release_height = checked(
        height.checked_add(params.unbonding_blocks),
        "release height",
    )?;
    let mut events = staking::unbond_until(state, who, amount, release_height)?;
    events.push(Event::Subnet(SubnetEvent::Undelegated {
        subnet: id,
        validator: *validator,
        delegator: *who,
        amount,
        release_height,
    }));
    Ok(events)
}

/// The `set_take` call.
pub fn set_take(
    state: &mut Overlay<'_>,
    params: &Params,
    height: u64,
    who: &Address,
    take_bps: u16,
) -> Result<Vec<Event>, StateError> {
    let old = take(state, who)?;
    delegation::check_take_change(
        old.bps,
        take_bps,
        old.changed_at,
        height,
        params.take_increase_delay_blocks,
    )
    .map_err(|e| match e {
        DelegationError::TakeRaiseTooSoon { allowed_from } => {
            SubnetError::TakeRaiseTooSoon { allowed_from }
        }
        DelegationError::TakeTooHigh(_) | DelegationError::Overflow => SubnetError::TakeTooHigh {
            take_bps,
            max_bps: MAX_TAKE_BPS,
        },
    })?;
    state.write(
        take_key(who),
        &Take {
            bps: take_bps,
            changed_at: height,
        },
    );
    Ok(vec![Event::Subnet(SubnetEvent::TakeSet {
        validator: *who,
        take_bps,
    })])
}
