//! Tessera's inference runtime, first slice: MiniLM sentence embeddings on CPU with candle,
//! bit-identical on one machine and checkable across machines.
//!
//! * [`Embedder`] loads a BERT-family sentence-embedding model (`all-MiniLM-L6-v2` as laid
//!   out by `scripts/fetch-models.sh`) and embeds text: mean pooling, L2 normalization.
//! * [`Manifest`] pins a model's files by size and CID; [`Embedder::load_verified`] refuses
//!   files that differ.
//! * [`output_hash`] and [`kernel_path_id`]: equal ids allow exact comparison of hashes.
//! * [`check_embedding`]: the tolerant check by cosine, for differing ids.
//!
//! # Arithmetic safety
//! No indexing or arithmetic here can panic on input: lengths come from the tokenizer and are
//! checked, batch size is limited by [`MAX_BATCH_LEN`], token count by [`MAX_TOKENS`].

#![deny(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod check;
mod determinism;
mod embed;
mod error;
mod manifest;

pub use check::{
    check_embedding, compare, cosine, Report, DEFAULT_COSINE_THRESHOLD, NORM_TOLERANCE,
};
pub use determinism::{kernel_path_id, output_hash, CANDLE_VERSION, GEMM_VERSION, RUNTIME};
pub use embed::{
    default_minilm_dir, model_cache_dir, Embedder, CONFIG_FILE, MAX_BATCH_LEN, MAX_TOKENS,
    MINILM_DIR_NAME, MODEL_FILES, POOLING_FILE, TOKENIZER_FILE, WEIGHTS_FILE,
};
pub use error::InferError;
pub use manifest::{Manifest, ManifestFile};
