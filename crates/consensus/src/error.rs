//! The consensus crate's error type.

use tessera_chain::ChainError;
use tessera_types::Hash;

#[derive(Debug, thiserror::Error)]
pub enum ConsensusError {
    #[error("chain: {0}")]
    Chain(#[from] ChainError),
    #[error("configuration: {0}")]
    Config(String),
    #[error("block {finalized} was finalized at height {height} but this node committed {committed:?}: the node is on another chain; stop it and resync")]
    Diverged {
        height: u64,
        finalized: Hash,
        committed: Option<Hash>,
    },
    #[error("finalized block {height} does not follow the head {head} and consensus's archive lacks the blocks between: resync the chain and consensus data together")]
    Gap { height: u64, head: u64 },
    #[error("block {height} is not proven final: {reason} (the server may be on another chain, or the validator set in the config is out of date)")]
    InvalidFinality { height: u64, reason: String },
}
