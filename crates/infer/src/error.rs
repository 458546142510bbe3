//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong loading a model, verifying its files or running it.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    #[error("the model manifest is invalid: {reason}")]
    InvalidManifest { reason: String },

    #[error("{runtime}: {message}")]
    Runtime {
        runtime: &'static str,
        message: String,
    },

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

    #[error("could not read the GGUF file `{path}`: {source}")]
    Gguf {
        path: PathBuf,
        #[source]
        source: candle_core::Error,
    },

    #[error("GGUF metadata `{key}` is missing or malformed: {reason}")]
    GgufMetadata { key: &'static str, reason: String },

    #[error("tokenizer `{model}` with pre-tokenizer `{pre}` is not supported (only gpt2/smollm byte-level BPE)")]
    UnsupportedTokenizer { model: String, pre: String },

    #[error("token id {id} is outside the vocabulary of {vocab_size} tokens")]
    TokenOutOfVocab { id: u32, vocab_size: usize },

    #[error("the prompt has no tokens")]
    EmptyPrompt,

    #[error("the claimed output has no tokens")]
    EmptyClaim,

    #[error("{len} tokens are over the context limit of {max}")]
    ContextTooLong { len: usize, max: usize },

    #[error("max_new_tokens {requested} is not in 1..={max}")]
    InvalidMaxNewTokens { requested: usize, max: usize },

    #[error("check parameters delta {delta} and epsilon {epsilon} must be finite, delta >= 0 and epsilon in [0, 1]")]
    InvalidCheckParams { delta: f32, epsilon: f64 },

    #[error("cannot skip {skip} of the model's {layers} layers")]
    InvalidSkipLayers { skip: usize, layers: usize },

    #[error("a KV cache filled with {cached} layers skipped was reused with {requested}")]
    CacheSkipMismatch { cached: usize, requested: usize },

    #[error("cannot add noise of relative std {relative_std} to layer {layer} of {layers}")]
    InvalidNoise {
        layer: usize,
        layers: usize,
        relative_std: f32,
    },

    #[error("the manifest must list exactly one .gguf file")]
    NoSingleGguf,

    #[error("model runtime (candle) failed: {0}")]
    Candle(#[from] candle_core::Error),
}
