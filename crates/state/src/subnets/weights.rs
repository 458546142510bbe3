//! Weights with commit-reveal, always on: a validator first commits a hash of its weights
//! and a secret salt, and reveals them in the next tempo. The epoch uses revealed weights
//! only.
//!
//! # Why
//! A validator's weights are the product of its audits. If they were public as soon as
//! set, a lazy validator could copy the others' weights and earn dividends without
//! auditing. Under commit-reveal the newest weights stay hidden for a tempo: a copier
//! only ever sees weights one tempo old, its weights lag consensus, get clipped, and its
//! bonds sit on last tempo's miners (`tests/yuma_unit.rs`: the copier earns 12% of what
//! the validator it copies earns).
//!
//! # Rules
//! * `commit_hash` binds the validator, the subnet, the weights and a 32-byte salt, in a
//!   fixed-width encoding (no two inputs share an encoding).
//! * One commit per validator per tempo; at most [`MAX_PENDING_COMMITS`] waiting.
//! * A commit made in tempo `t` may be revealed only in tempo `t + 1`: earlier is
//!   refused (it would publish weights before others committed theirs), later finds the
//!   commit expired.
//! * The epoch of tempo `t` uses the weights last revealed. A missed reveal leaves the
//!   previous weights in place: it never zeroes a validator, and the stale weights cost
//!   it only as much as they now disagree with consensus.
//! * Weights are a non-empty list of distinct UIDs (sorted on reveal), each below the
//!   subnet's UID count, at most [`MAX_WEIGHTS`].
//!
//! # Invariants (property-tested in `tests/subnets_unit.rs`)
//! * a reveal is accepted only with the exact weights and salt committed, in the tempo
//!   after the commit.
//! * the revealed weights only change through an accepted reveal.
//! * pending commits never exceed [`MAX_PENDING_COMMITS`], and none is older than the
//!   reveal window after [`Weights::expire`].

use serde::{Deserialize, Serialize};
use tessera_types::{Address, Hash};

/// Commits a validator may have waiting.
pub const MAX_PENDING_COMMITS: usize = 4;
/// Most weights in one reveal.
pub const MAX_WEIGHTS: usize = 4_096;
const COMMIT_DOMAIN: &[u8] = b"tessera/weights-commit/v1";

/// The hash a validator commits.
pub fn commit_hash(
    validator: &Address,
    subnet: u64,
    weights: &[(u16, u16)],
    salt: &[u8; 32],
) -> Hash {
    let count = u32::try_from(weights.len())
        .unwrap_or(u32::MAX)
        .to_be_bytes();
    let pairs: Vec<u8> = weights
        .iter()
        .flat_map(|(uid, w)| uid.to_be_bytes().into_iter().chain(w.to_be_bytes()))
        .collect();
    Hash::digest(
        COMMIT_DOMAIN,
        &[&validator.0, &subnet.to_be_bytes(), &count, &pairs, salt],
    )
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WeightsError {
    #[error("already committed in tempo {0}: one commit per tempo")]
    AlreadyCommitted(u64),
    #[error(
        "{MAX_PENDING_COMMITS} commits are waiting to be revealed: reveal or let them expire first"
    )]
    TooManyPending,
    #[error("no commit matches these weights and salt: reveal exactly what was committed")]
    NoMatchingCommit,
    #[error("the commit from tempo {committed} can be revealed only in tempo {}: wait", committed.saturating_add(1))]
    TooEarly { committed: u64 },
    #[error("weights name UID {uid}, but the subnet has {n} UIDs")]
    NoSuchUid { uid: u16, n: usize },
    #[error("weights list UID {0} twice")]
    Duplicate(u16),
    #[error("weights must name 1 to {MAX_WEIGHTS} UIDs, not {0}")]
    BadLength(usize),
}

/// A commit waiting for its reveal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    pub hash: Hash,
    pub tempo: u64,
}

/// One validator's weights in one subnet.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Weights {
    pub pending: Vec<Commit>,
    /// The weights the epoch uses, and the tempo they were revealed in.
    pub revealed: Vec<(u16, u16)>,
    pub revealed_in: Option<u64>,
}

impl Weights {
    /// Record a commit made in `tempo`.
    pub fn commit(&mut self, hash: Hash, tempo: u64) -> Result<(), WeightsError> {
        self.expire(tempo);
        if self.pending.iter().any(|c| c.tempo == tempo) {
            return Err(WeightsError::AlreadyCommitted(tempo));
        }
        if self.pending.len() >= MAX_PENDING_COMMITS {
            return Err(WeightsError::TooManyPending);
        }
        self.pending.push(Commit { hash, tempo });
        Ok(())
    }

    /// Reveal `weights` and `salt` in `tempo`, for a subnet of `n` UIDs.
    pub fn reveal(
        &mut self,
        validator: &Address,
        subnet: u64,
        weights: &[(u16, u16)],
        salt: &[u8; 32],
        tempo: u64,
        n: usize,
    ) -> Result<(), WeightsError> {
        self.expire(tempo);
        let hash = commit_hash(validator, subnet, weights, salt);
        let Some(index) = self.pending.iter().position(|c| c.hash == hash) else {
            return Err(WeightsError::NoMatchingCommit);
        };
        let committed = self.pending.get(index).map_or(tempo, |c| c.tempo);
        if committed.saturating_add(1) != tempo {
            return Err(WeightsError::TooEarly { committed });
        }
        let checked = check(weights, n)?;
        self.pending.remove(index);
        self.revealed = checked;
        self.revealed_in = Some(tempo);
        Ok(())
    }

    /// Drop commits whose reveal window (the tempo after theirs) has passed by `tempo`.
    pub fn expire(&mut self, tempo: u64) {
        self.pending.retain(|c| c.tempo.saturating_add(1) >= tempo);
    }
}

/// Weights as the epoch takes them: distinct UIDs below `n`, sorted.
fn check(weights: &[(u16, u16)], n: usize) -> Result<Vec<(u16, u16)>, WeightsError> {
    if weights.is_empty() || weights.len() > MAX_WEIGHTS {
        return Err(WeightsError::BadLength(weights.len()));
    }
    let mut sorted = weights.to_vec();
    sorted.sort_unstable_by_key(|(uid, _)| *uid);
    for pair in sorted.windows(2) {
        if let [(a, _), (b, _)] = pair {
            if a == b {
                return Err(WeightsError::Duplicate(*a));
            }
        }
    }
    if let Some((uid, _)) = sorted.iter().find(|(uid, _)| usize::from(*uid) >= n) {
        return Err(WeightsError::NoSuchUid { uid: *uid, n });
    }
    Ok(sorted)
}
