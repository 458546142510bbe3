//! The weight calls on chain: `commit_weights` and `reveal_weights` (the rules are in
//! [`super::weights`]; this module adds who may call them and when).
//!
//! # Rules
//! * Only a UID of role validator commits and reveals, and not while it is without a
//!   permit since the last epoch (its weights would not count): so after each epoch at
//!   most `max_validators` rows of weights (plus UIDs registered since) reach the next.
//! * Tempo `t` of a subnet is blocks `[created + t·T, created + (t+1)·T)`, `T` its tempo.
//!   A commit made in tempo `t` is revealed in tempo `t + 1`.
//! * Two commits of one validator are at least `weights_rate_limit_blocks` apart.
//! * A reveal names at least `min(min_allowed_weights, UIDs)` UIDs.

use super::{
    error::SubnetError,
    registry::{self, Neuron},
    weights::WeightsError,
};
use crate::{kv::Overlay, StateError};
use tessera_types::{
    subnet::{Role, SubnetEvent, SubnetId, UidWeight},
    Address, Event, Hash,
};

fn validator_neuron(
    state: &Overlay<'_>,
    id: SubnetId,
    who: &Address,
) -> Result<(u16, Neuron), StateError> {
    let uid = registry::uid_of(state, id, who)?;
    let record = registry::neuron(state, id, uid)?;
    if record.role != Role::Validator {
        return Err(SubnetError::NotValidatorUid { uid }.into());
    }
    if record.permit == Some(false) {
        return Err(SubnetError::NoPermit { uid }.into());
    }
    Ok((uid, record))
}

fn weights_error(e: WeightsError) -> SubnetError {
    match e {
        WeightsError::AlreadyCommitted(tempo) => SubnetError::AlreadyCommitted { tempo },
        WeightsError::TooManyPending => SubnetError::TooManyPending,
        WeightsError::NoMatchingCommit => SubnetError::NoMatchingCommit,
        WeightsError::TooEarly { committed } => SubnetError::RevealTooEarly { committed },
        WeightsError::NoSuchUid { uid, n } => SubnetError::NoSuchUid {
            uid,
            n: u64::try_from(n).unwrap_or(u64::MAX),
        },
        WeightsError::Duplicate(uid) => SubnetError::DuplicateUid { uid },
        WeightsError::BadLength(got) => SubnetError::WeightsCount {
            got: u64::try_from(got).unwrap_or(u64::MAX),
            min: 1,
            max: u64::try_from(super::weights::MAX_WEIGHTS).unwrap_or(u64::MAX),
        },
    }
}

/// The `commit_weights` call.
pub fn commit(
    state: &mut Overlay<'_>,
    height: u64,
    who: &Address,
    id: SubnetId,
    hash: Hash,
) -> Result<Vec<Event>, StateError> {
    let subnet = registry::existing(state, id)?;
    let (uid, mut record) = validator_neuron(state, id, who)?;
    if let Some(last) = record.last_commit {
        let next_at = last.saturating_add(subnet.params.weights_rate_limit_blocks);
        if height < next_at {
            return Err(SubnetError::RateLimited { next_at }.into());
        }
    }
    let tempo = subnet.tempo_of(height);
    record.weights.commit(hash, tempo).map_err(weights_error)?;
    record.last_commit = Some(height);
    registry::set_neuron(state, id, uid, &record);
    Ok(vec![Event::Subnet(SubnetEvent::WeightsCommitted {
        subnet: id,
        uid,
        tempo,
    })])
}

/// The `reveal_weights` call.
pub fn reveal(
    state: &mut Overlay<'_>,
    height: u64,
    who: &Address,
    id: SubnetId,
    weights: &[UidWeight],
    salt: &Hash,
) -> Result<Vec<Event>, StateError> {
    let subnet = registry::existing(state, id)?;
    let (uid, mut record) = validator_neuron(state, id, who)?;
    let n = registry::uids(state, id)?.slots.len();
    let min = usize::from(subnet.params.min_allowed_weights).min(n);
    if weights.len() < min {
        return Err(SubnetError::WeightsCount {
            got: u64::try_from(weights.len()).unwrap_or(u64::MAX),
            min: u64::try_from(min).unwrap_or(u64::MAX),
            max: u64::try_from(super::weights::MAX_WEIGHTS).unwrap_or(u64::MAX),
        }
        .into());
    }
    let pairs: Vec<(u16, u16)> = weights.iter().map(|w| (w.uid, w.weight)).collect();
    record
        .weights
        .reveal(who, id.0, &pairs, &salt.0, subnet.tempo_of(height), n)
        .map_err(weights_error)?;
    record.last_update = height;
    registry::set_neuron(state, id, uid, &record);
    Ok(vec![Event::Subnet(SubnetEvent::WeightsRevealed {
        subnet: id,
        uid,
        count: u32::try_from(pairs.len()).unwrap_or(u32::MAX),
    })])
}
