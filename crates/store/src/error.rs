//! The crate's two error enums: [StoreError] for store operations and [ProofError] for the
//! light-client verifier.

use commonware_storage::{archive, mmr, qmdb};
use thiserror::Error;

/// The QMDB error type for the Merkle family the state store uses.
pub type QmdbError = qmdb::Error<mmr::Family>;

/// Everything that can go wrong in [crate::StateStore] or [crate::BlockStore].
#[derive(Debug, Error)]
pub enum StoreError {
    /// The configuration is invalid.
    #[error("store `{partition}`: invalid configuration: {what}")]
    Config {
        partition: String,
        what: &'static str,
    },

    /// The state database failed. `partition` is the configured partition prefix.
    #[error("state store `{partition}`: {op} failed: {source}")]
    State {
        partition: String,
        op: &'static str,
        #[source]
        source: Box<QmdbError>,
    },

    /// The block archive failed. `partition` is the configured partition prefix.
    #[error("block store `{partition}`: {op} failed: {source}")]
    Archive {
        partition: String,
        op: &'static str,
        #[source]
        source: Box<archive::Error>,
    },

    /// An earlier mutation failed part-way; the underlying handle is gone. Durable data is
    /// intact on disk: drop this store and open it again.
    #[error("{store} store `{partition}` is closed after an earlier failure; reopen it")]
    Closed {
        store: &'static str,
        partition: String,
    },

    /// A logical state key is longer than [crate::MAX_KEY_BYTES].
    #[error("state key is {len} bytes, the maximum is {max}")]
    KeyTooLong { len: usize, max: usize },

    /// A state value is longer than [crate::MAX_VALUE_BYTES].
    #[error("value of a {key_len}-byte key is {len} bytes, the maximum is {max}")]
    ValueTooLong {
        key_len: usize,
        len: usize,
        max: usize,
    },

    /// `prepare` or `commit` was called for a height that does not follow the last commit.
    #[error("state height {got} does not follow the last committed height (expected {expected})")]
    StateHeight { expected: u64, got: u64 },

    /// A [crate::Prepared] batch does not apply to this store's current state (e.g. it was
    /// prepared by another store). Prepare it again on this store.
    #[error("prepared batch for height {height} does not apply to this store's state")]
    StalePrepared { height: u64 },

    /// Applying a prepared batch produced a root other than the one `prepare` returned.
    #[error("root after applying height {height} differs from the prepared root")]
    RootMismatch { height: u64 },

    /// A block was put at a height that is not `latest + 1`.
    #[error("block height {got} is not contiguous (expected {expected})")]
    BlockHeight { expected: u64, got: u64 },

    /// A different block is already stored at this height.
    #[error("height {height} already holds block {stored}, refusing block {got}")]
    BlockConflict {
        height: u64,
        stored: HexHash,
        got: HexHash,
    },

    /// A block exceeds the configured [crate::BlockLimits].
    #[error("block at height {height}: {what} is {len}, the limit is {max}")]
    BlockTooLarge {
        height: u64,
        what: &'static str,
        len: usize,
        max: usize,
    },

    /// Stored bytes did not decode or broke an invariant: the store's files are damaged or
    /// were written by an incompatible version.
    #[error("store `{partition}` is corrupt: {what}")]
    Corrupt { partition: String, what: String },
}

/// Why a [crate::StateProof] was rejected by [crate::verify_proof] or failed to decode.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ProofError {
    /// The proof bytes are not a canonical, in-bounds encoding.
    #[error("malformed proof: {0}")]
    Malformed(String),

    /// The queried key is longer than [crate::MAX_KEY_BYTES], so no proof can cover it.
    #[error("key is {len} bytes, the maximum is {max}")]
    KeyTooLong { len: usize, max: usize },

    /// The proof does not authenticate the key against the root.
    #[error("proof does not verify against the root for this key")]
    Invalid,
}

/// A 32-byte hash that displays as lowercase hex (for error messages).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HexHash(pub [u8; 32]);

impl std::fmt::Display for HexHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl std::fmt::Debug for HexHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}
