//! A subnet's UIDs: who holds each slot, since when, and who is replaced when a newcomer
//! registers into a full subnet. Pure bookkeeping over one subnet's table; the chain
//! stores the table and charges the burn.
//!
//! # Rules
//! * A subnet has at most `max_uids` UIDs. A newcomer takes the lowest free UID; when
//!   none is free it replaces the UID with the **lowest pruning score** (its emission in
//!   the last epoch) among those **out of immunity** (`block − registered_at ≥
//!   immunity_period`); ties go against the older registration, then the lower UID.
//! * When every UID is immune, registration is refused with the block at which the
//!   first one leaves immunity (nobody is replaced during their immunity period).
//! * A key holds at most one UID per subnet.
//! * [`Uids::next_to_replace`] answers, before anyone registers, who would be replaced
//!   now and why: the same choice [`Uids::register`] makes.
//!
//! # Invariants (property-tested in `tests/subnets_unit.rs`)
//! * UIDs are dense `0..len`, `len ≤ max_uids`; keys are unique.
//! * a replaced UID was out of immunity and had the lowest score among those that were.
//! * registration into a non-full subnet never replaces anyone.

use serde::{Deserialize, Serialize};
use tessera_types::Address;

/// One UID's holder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    pub key: Address,
    pub registered_at: u64,
    /// Emission in the last epoch, base units (0 until its first epoch).
    pub score: u128,
}

/// Who a registration would replace, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replacement {
    pub uid: u16,
    pub key: Address,
    pub score: u128,
    pub registered_at: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UidError {
    #[error("{key} already holds UID {uid} in this subnet")]
    AlreadyRegistered { key: Address, uid: u16 },
    #[error("all {max_uids} UIDs are immune: the first leaves immunity at block {free_at}; register then")]
    AllImmune { max_uids: u16, free_at: u64 },
    #[error("the subnet takes no UIDs (max_uids is 0)")]
    Closed,
}

/// The outcome of a registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registered {
    pub uid: u16,
    pub replaced: Option<Replacement>,
}

/// One subnet's UID table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uids {
    pub slots: Vec<Slot>,
}

impl Uids {
    pub fn uid_of(&self, key: &Address) -> Option<u16> {
        self.slots
            .iter()
            .position(|s| s.key == *key)
            .and_then(|i| u16::try_from(i).ok())
    }

    /// Who registering at `block` would replace (`None`: a UID is free, or all are
    /// immune).
    pub fn next_to_replace(
        &self,
        block: u64,
        max_uids: u16,
        immunity_period: u64,
    ) -> Option<Replacement> {
        if self.slots.len() < usize::from(max_uids) {
            return None;
        }
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| block.saturating_sub(s.registered_at) >= immunity_period)
            .min_by_key(|(i, s)| (s.score, s.registered_at, *i))
            .and_then(|(i, s)| {
                Some(Replacement {
                    uid: u16::try_from(i).ok()?,
                    key: s.key,
                    score: s.score,
                    registered_at: s.registered_at,
                })
            })
    }

    /// Register `key` at `block`.
    pub fn register(
        &mut self,
        key: Address,
        block: u64,
        max_uids: u16,
        immunity_period: u64,
    ) -> Result<Registered, UidError> {
        if let Some(uid) = self.uid_of(&key) {
            return Err(UidError::AlreadyRegistered { key, uid });
        }
        if max_uids == 0 {
            return Err(UidError::Closed);
        }
        let slot = Slot {
            key,
            registered_at: block,
            score: 0,
        };
        if self.slots.len() < usize::from(max_uids) {
            let uid = u16::try_from(self.slots.len()).map_err(|_| UidError::Closed)?;
            self.slots.push(slot);
            return Ok(Registered {
                uid,
                replaced: None,
            });
        }
        let Some(replaced) = self.next_to_replace(block, max_uids, immunity_period) else {
            let free_at = self
                .slots
                .iter()
                .map(|s| s.registered_at.saturating_add(immunity_period))
                .min()
                .unwrap_or(block);
            return Err(UidError::AllImmune { max_uids, free_at });
        };
        if let Some(s) = self.slots.get_mut(usize::from(replaced.uid)) {
            *s = slot;
        }
        Ok(Registered {
            uid: replaced.uid,
            replaced: Some(replaced),
        })
    }

    /// Record each UID's emission from an epoch as its pruning score.
    pub fn set_scores(&mut self, scores: impl IntoIterator<Item = u128>) {
        for (slot, score) in self.slots.iter_mut().zip(scores) {
            slot.score = score;
        }
    }
}
