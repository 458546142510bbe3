//! The chain: turns transactions into committed blocks, in three separate steps
//! that any driver can call — the dev producer here, a BFT engine next:
//!
//! 1. [`Chain::propose`]: build a block from the mempool (execute, compute roots).
//! 2. [`Chain::verify`]: check someone else's block by re-executing it to its roots.
//! 3. [`Chain::commit`]: persist a finalized block (block first, then state), apply
//!    it to the in-memory state and tell subscribers.
//!
//! # Invariants
//! * committed heights are consecutive and each block's parent is the previous head.
//! * the in-memory state always equals the store's state at the head's height, and
//!   its root equals the head's `state_root`.
//! * after a crash, [`Chain::open`] resumes at the last block whose state was
//!   committed, re-executing at most one stored block (see `tessera-store`'s
//!   recovery contract); nothing committed is lost and nothing half-applied is kept.
//! * a transaction is reported committed only after its block and state are durable.

mod chain;
mod error;
pub mod genesis;
pub mod mempool;
pub mod producer;

pub use chain::{Chain, ChainConfig, Committed, Proposal, TxLookup};
pub use error::ChainError;
pub use mempool::{Mempool, MempoolError, MempoolLimits};
pub use producer::run_dev_producer;
