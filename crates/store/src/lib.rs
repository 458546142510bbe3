//! Tessera persistence: the authenticated state store and the finalized-block archive.
//!
//! The chain keeps its whole state in memory as a map of logical keys (at most
//! [MAX_KEY_BYTES]) to values (at most [MAX_VALUE_BYTES]), executes each block in memory and
//! hands this crate the block's write set. This crate gives back:
//!
//! * [StateStore]: a `commonware-storage` QMDB (`current::ordered`, variable values, MMR,
//!   SHA-256) holding every live pair under the 32-byte key
//!   `sha256("tessera/state-key/v1" || logical_key)` ([state_key]), with the stored value
//!   encoding `(logical_key, value)` so the map can be rebuilt at start-up ([StateStore::entries]).
//!   Each block is one [StateStore::prepare] (merkleize, returns the state root the header
//!   carries) and one [StateStore::commit] (apply + fsync, height recorded in the commit
//!   metadata).
//! * [StateProof] and [verify_proof]: inclusion and absence proofs against a state root, in a
//!   bounded canonical encoding, checked by one pure function.
//! * [BlockStore]: finalized blocks by height and by hash, with their receipts and a
//!   transaction index, on `commonware-storage` archives (an immutable archive for blocks, a
//!   prunable one, whose key index lives in memory, for transactions).
//!
//! Everything is generic over the commonware runtime context (see [StoreContext]): the node
//! runs it on `commonware_runtime::tokio`, simulations on `commonware_runtime::deterministic`.
//!
//! # Invariants
//!
//! * The root after `commit(p)` equals `p.root()`, the root `prepare` returned for that
//!   height (checked on every commit: [StoreError::RootMismatch]).
//! * The root is a function of the sequence of committed batches only: two stores that
//!   commit the same batches at the same heights have identical roots. Within a batch, QMDB
//!   orders writes by hashed key, so the order of distinct keys does not matter; for a key
//!   written twice the later write wins. A batch with no writes still changes the root (the
//!   commit operation and its height are part of it).
//! * Committed heights are consecutive: `prepare`/`commit` for height `h` require
//!   `height() == Some(h - 1)` (any height on a fresh store).
//! * Reopening returns the last committed height, root and entries. A prepared but
//!   uncommitted batch leaves no trace.
//! * Stored block heights are contiguous; a height maps to exactly one block hash.
//! * Every stored value decodes and re-hashes to the key it is stored under (checked on
//!   every read: [StoreError::Corrupt] otherwise).
//!
//! # Recovery contract
//!
//! For each block `H` the chain calls, in this order:
//! 1. `state.prepare(H, writes)` (root goes into the header, or is checked against it),
//! 2. `blocks.put(H, ...)` (durable when it returns),
//! 3. `state.commit(prepared)` (durable when it returns).
//!
//! A crash anywhere leaves each store at a whole commit: QMDB recovers to its last commit
//! operation and the archive to its last sync. Hence after reopening,
//! `blocks.latest()` is `state.height()` or `state.height() + 1`, and in the second case the
//! chain re-executes block `latest` from its stored bytes and commits it.
//! (If the chain committed genesis state without a block, read "height" accordingly: the
//! two stores are independent and only compare heights.)
//!
//! A mutation that fails part-way (an I/O error) consumes the underlying handle; the store
//! then answers [StoreError::Closed] and must be dropped and reopened, which recovers as above.
//!
//! # Setting up storage (tokio)
//!
//! Files live in the runtime's storage directory, one sub-directory per partition
//! (`{partition_prefix}-*`). Set the directory on the runtime configuration and give each
//! store its own child context:
//!
//! ```no_run
//! use commonware_runtime::{Runner as _, Supervisor as _, tokio};
//! use tessera_store::{BlockConfig, BlockStore, StateConfig, StateStore};
//!
//! let data_dir = std::path::PathBuf::from("/var/lib/tessera");
//! let config = tokio::Config::new().with_storage_directory(data_dir.join("db"));
//! tokio::Runner::new(config).start(|context| async move {
//!     let state = StateStore::open(context.child("state"), StateConfig::default()).await?;
//!     let blocks = BlockStore::open(context.child("blocks"), BlockConfig::default()).await?;
//!     assert!(blocks.latest() >= state.height());
//!     Ok::<_, tessera_store::StoreError>(())
//! })
//! .unwrap();
//! ```
//!
//! # Pruning
//!
//! QMDB keeps an append-only operation log; [StateStore::prune] drops the part no current
//! proof needs and persists the pruning boundary, bounding disk use and start-up time. Call
//! it after a commit every few hundred blocks (e.g. when `height % 256 == 0`), and call
//! [StateStore::sync] on clean shutdown. Blocks and the transaction index are never pruned;
//! the transaction index keeps roughly 30 bytes of memory per transaction and replays its
//! key journal at open.
//!
//! # Panics and arithmetic
//!
//! This crate's code does not panic on any input or stored bytes: decoding is bounded and
//! fallible, counters use checked or saturating arithmetic, `unwrap`/`expect`/indexing are
//! denied outside tests. `commonware-storage` itself asserts a few internal invariants (e.g.
//! QMDB's exclusion proof on an empty database checks its last commit); those would only
//! fire on a bug or corrupted files. Page caches are allocated in full at open.

// The workspace lint table covers unwrap, expect, panic and indexing; this crate
// also denies:
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects,))]

mod block;
mod config;
mod error;
mod state;

pub use block::{BlockStore, StoredBlock};
pub use config::{BlockConfig, BlockLimits, StateConfig};
pub use error::{HexHash, ProofError, StoreError};
pub use state::{
    entry::{state_key, KEY_DOMAIN},
    proof::{verify_proof, StateProof, MAX_PROOF_BYTES, MAX_PROOF_DIGESTS},
    Prepared, StateStore, Writes,
};

/// Longest logical state key, in bytes.
pub const MAX_KEY_BYTES: usize = 128;

/// Longest state value, in bytes.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// What a runtime context must provide to host the stores: storage, clock, metrics and
/// task spawning. Both `commonware_runtime::tokio::Context` and
/// `commonware_runtime::deterministic::Context` qualify.
pub trait StoreContext: commonware_storage::Context + commonware_runtime::Spawner {}

impl<T: commonware_storage::Context + commonware_runtime::Spawner> StoreContext for T {}

/// The state store on the tokio runtime (the node).
pub type TokioStateStore = StateStore<commonware_runtime::tokio::Context>;

/// The block store on the tokio runtime (the node).
pub type TokioBlockStore = BlockStore<commonware_runtime::tokio::Context>;
