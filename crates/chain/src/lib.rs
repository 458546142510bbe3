//! The chain: turns transactions into committed blocks, in three separate steps
//! that any driver can call — the dev producer here, a BFT engine next:
//!
//! 1. [`Chain::propose`]: build a block on a parent from the mempool (execute,
//!    compute roots).
//! 2. [`Chain::verify`]: check someone else's block by re-executing it on its parent.
//! 3. [`Chain::commit`]: persist a finalized block (block first, then state), apply
//!    it to the in-memory state and tell subscribers.
//!
//! A parent may be the head or a *pending* block: verified but not final, as a BFT
//! engine notarizes blocks before finalizing them. Pending blocks form a tree over the
//! head; each executes on the committed state plus its pending ancestors' writes, and
//! its state root is prepared on its parent's prepared batch. Committing a block drops
//! the pending blocks it defeats (same height, or descending from those).
//!
//! # Invariants
//! * committed heights are consecutive and each block's parent is the previous head.
//! * the in-memory state always equals the store's state at the head's height, and
//!   its root equals the head's `state_root`.
//! * after a crash, [`Chain::open`] resumes at the last block whose state was
//!   committed, re-executing at most one stored block (see `tessera-store`'s
//!   recovery contract); nothing committed is lost and nothing half-applied is kept.
//! * a transaction is reported committed only after its block and state are durable.
//! * every pending block's ancestry reaches the head through pending blocks; at most
//!   1,024 are kept.

mod chain;
mod error;
pub mod genesis;
pub mod mempool;
pub mod producer;

pub use chain::{Chain, ChainConfig, Committed, TxLookup};
pub use error::ChainError;
pub use mempool::{Admitted, Mempool, MempoolError, MempoolLimits};
pub use producer::run_dev_producer;
