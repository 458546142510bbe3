//! The chain's error type.

use tessera_state::StateError;
use tessera_store::StoreError;
use tessera_types::Hash;

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("state: {0}")]
    State(#[from] StateError),
    #[error("invalid block at height {height}: {reason}")]
    InvalidBlock { height: u64, reason: String },
    #[error("block {hash} at height {height} arrived with transactions its header does not commit to: the copy was altered on the way; fetch it from another peer")]
    BodyMismatch { height: u64, hash: Hash },
    #[error("block {height} does not extend the head (head is {head}): it is stale or from another fork")]
    NotNext { height: u64, head: u64 },
    #[error("stored data is inconsistent: {0}; the data directory may be corrupt: restore it or resync from genesis")]
    Inconsistent(String),
    #[error("this data directory belongs to chain {found}, not {expected}: use another --home or the matching genesis")]
    WrongGenesis { expected: String, found: String },
    #[error("block {0} is not a pending block of this node: verify it first")]
    UnknownBlock(Hash),
    #[error(
        "parent {0} is neither the head nor a pending block: fetch and verify its ancestors first"
    )]
    UnknownParent(Hash),
    #[error("{0} blocks are already pending finality: wait for commits")]
    TooManyPending(usize),
}
