//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong loading a model, verifying its files or running it.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    #[error("model file `{path}` is missing; run scripts/fetch-models.sh or see its help for placing the files by hand")]
    MissingFile { path: PathBuf },

    #[error("could not {action} `{path}`: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("model file `{path}` is {actual_bytes} bytes, the manifest says {expected_bytes}; refusing to load it")]
    SizeMismatch {
        path: PathBuf,
        expected_bytes: u64,
        actual_bytes: u64,
    },

    #[error(
        "model file `{path}` has CID {actual}, the manifest says {expected}; refusing to load it"
    )]
    CidMismatch {
        path: PathBuf,
        expected: tessera_blobs::Cid,
        actual: tessera_blobs::Cid,
    },

    #[error("manifest path `{path}` must be relative and stay inside the model directory")]
    UnsafeManifestPath { path: String },

    #[error("could not hash `{path}`: {source}")]
    Hash {
        path: PathBuf,
        #[source]
        source: tessera_blobs::BlobError,
    },

    #[error("could not parse `{path}`: {source}")]
    Config {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    #[error("could not load the tokenizer `{path}`: {reason}")]
    Tokenizer { path: PathBuf, reason: String },

    #[error("tokenizing failed: {reason}")]
    Tokenize { reason: String },

    #[error("batch of {len} inputs is over the limit of {max}; split it")]
    BatchTooLarge { len: usize, max: usize },

    #[error("threshold {threshold} is not a cosine in [-1, 1]")]
    InvalidThreshold { threshold: f64 },

    #[error("model runtime (candle) failed: {0}")]
    Candle(#[from] candle_core::Error),
}
