//! A subnet's metagraph as people read it: every UID with its key, role, stake and the
//! last epoch's columns, and who the next registration would replace and why. A read of
//! state only (the node's API serves it; `tessera subnet show` prints it).

use super::{
    fixed::Frac,
    registry::{self, Subnet},
    stake,
    uids::Replacement,
};
use crate::{kv::Overlay, StateError};
use tessera_types::{
    subnet::{Role, SubnetId},
    Address, Amount,
};

/// One UID's row.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Row {
    pub uid: u16,
    pub key: Address,
    pub role: Role,
    pub registered_at: u64,
    /// Whether it can still not be replaced.
    pub immune: bool,
    /// Stake behind it in this subnet (own and delegated).
    pub stake: Amount,
    /// Its take on delegators' dividends, bps (validators).
    pub take_bps: u16,
    pub permit: bool,
    pub rank: Frac,
    pub trust: Frac,
    pub consensus: Frac,
    pub incentive: Frac,
    pub dividends: Frac,
    /// Base units earned in the last epoch (also its pruning score).
    pub emission: Amount,
    pub last_update: u64,
    /// Whether it has weights revealed (validators).
    pub has_weights: bool,
}

/// Who a registration now would replace, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NextOut {
    pub uid: u16,
    pub key: Address,
    pub reason: String,
}

/// The whole metagraph.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Metagraph {
    pub id: SubnetId,
    pub subnet: Subnet,
    /// The block this view was read at.
    pub height: u64,
    pub next_epoch_block: u64,
    /// `None` while a UID is free (or all are immune: see `free_uids`).
    pub next_to_replace: Option<NextOut>,
    pub free_uids: u16,
    pub rows: Vec<Row>,
}

/// Read subnet `id`'s metagraph at `height` (`None`: no such subnet).
pub fn read(
    state: &Overlay<'_>,
    id: SubnetId,
    height: u64,
) -> Result<Option<Metagraph>, StateError> {
    let Some(subnet) = registry::subnet(state, id)? else {
        return Ok(None);
    };
    let table = registry::uids(state, id)?;
    let p = &subnet.params;
    let mut rows = Vec::with_capacity(table.slots.len());
    for (uid, slot) in (0u16..).zip(&table.slots) {
        let n = registry::neuron(state, id, uid)?;
        rows.push(Row {
            uid,
            key: slot.key,
            role: n.role,
            registered_at: slot.registered_at,
            immune: height.saturating_sub(slot.registered_at) < p.immunity_period_blocks,
            stake: stake::validator_stake(state, id, &slot.key)?,
            take_bps: stake::take(state, &slot.key)?.bps,
            permit: n.permit.unwrap_or(false),
            rank: n.last.rank,
            trust: n.last.trust,
            consensus: n.last.consensus,
            incentive: n.last.incentive,
            dividends: n.last.dividends,
            emission: n.last.emission,
            last_update: n.last_update,
            has_weights: !n.weights.revealed.is_empty(),
        });
    }
    let free = usize::from(p.max_uids).saturating_sub(table.slots.len());
    let next_to_replace = table
        .next_to_replace(height, p.max_uids, p.immunity_period_blocks)
        .map(|r| explain(&r));
    Ok(Some(Metagraph {
        id,
        next_epoch_block: subnet.next_epoch_block(),
        subnet,
        height,
        next_to_replace,
        free_uids: u16::try_from(free).unwrap_or(u16::MAX),
        rows,
    }))
}

fn explain(r: &Replacement) -> NextOut {
    NextOut {
        uid: r.uid,
        key: r.key,
        reason: format!(
            "lowest pruning score among UIDs out of immunity: {} base units earned in the last epoch (registered at block {})",
            r.score, r.registered_at
        ),
    }
}
