//! Tessera's inference runtime: MiniLM sentence embeddings and SmolLM2 text generation on CPU
//! with candle, bit-identical on one machine and checkable across machines.
//!
//! * [`Embedder`] loads a BERT-family sentence-embedding model (`all-MiniLM-L6-v2` as laid
//!   out by `scripts/fetch-models.sh`) and embeds text: mean pooling, L2 normalization.
//! * [`Manifest`] pins a model's files by size and CID; [`Embedder::load_verified`] refuses
//!   files that differ.
//! * [`output_hash`] and [`kernel_path_id`]: equal ids allow exact comparison of hashes.
//! * [`check_embedding`]: the tolerant check by cosine, for differing ids.
//! * [`Generator`]: greedy, streamed generation with SmolLM2 on candle's quantized (Q4_1)
//!   kernels; [`GgufTokenizer`] builds its tokenizer and ChatML prompt from the GGUF.
//! * `LlamaGenerator` (feature `llama`): the same generation on llama.cpp's CPU kernels,
//!   chosen at run time for this CPU — the serving path (decision 0010).
//! * [`F32Llama`]: the checker's llama forward over the same weights in f32, logits for every
//!   position in one pass; [`check_generation`]: the teacher-forced logit-margin check, on
//!   any [`TeacherForcing`] checker.
//! * `LlamaChecker` (feature `llama`): the same check on llama.cpp's batched prefill over
//!   bf16 weights, about twice as fast — the checker a validator runs.
//! * [`F32Llama::with_layer_noise`], [`requantize`] and [`Generator::load_requantized`]:
//!   deliberate cheats (tampered weights, lower precision) to calibrate the check against.
//!
//! # Arithmetic safety
//! No indexing or arithmetic here can panic on input: lengths come from the tokenizer and are
//! checked, batch size is limited by [`MAX_BATCH_LEN`], token count by [`MAX_TOKENS`]
//! (embeddings) and [`MAX_CONTEXT`] (generation and checks); token ids are checked against the
//! vocabulary before they index anything.

mod check;
mod check_generation;
mod determinism;
mod embed;
mod error;
mod generate;
mod gguf;
mod llama;
#[cfg(feature = "llama")]
mod llama_check;
#[cfg(feature = "llama")]
mod llama_cpp;
mod manifest;
mod model_manifest;
mod tamper;
mod tokenizer;

/// The GGUF storage types, for [`Generator::load_requantized`].
pub use candle_core::quantized::GgmlDType;
pub use check::{
    check_embedding, compare, cosine, Report, DEFAULT_COSINE_THRESHOLD, NORM_TOLERANCE,
};
pub use check_generation::{
    check_generation, judge, load_checker, CheckParams, GenerationReport, TeacherForcing,
    CHECKER_IS_F32, DEFAULT_DELTA, DEFAULT_EPSILON,
};
pub use determinism::{
    generation_kernel_path_id, kernel_path_id, output_hash, tokens_hash, CANDLE_VERSION,
    GEMM_VERSION, RUNTIME,
};
pub use embed::{
    default_minilm_dir, model_cache_dir, Embedder, CONFIG_FILE, MAX_BATCH_LEN, MAX_TOKENS,
    MINILM_DIR_NAME, MODEL_FILES, POOLING_FILE, TOKENIZER_FILE, WEIGHTS_FILE,
};
pub use error::InferError;
pub use generate::{
    default_smollm2_gguf, GenerateParams, Generation, Generator, StopReason, MAX_CONTEXT,
    MAX_NEW_TOKENS, SMOLLM2_DIR_NAME, SMOLLM2_GGUF_FILE,
};
pub use gguf::GgufFile;
pub use llama::{F32Llama, KvCache, LlamaConfig};
#[cfg(feature = "llama")]
pub use llama_check::{LlamaChecker, CHECKER_CACHE_DIR, CHECKER_WEIGHTS, CHECKER_WEIGHTS_NAME};
#[cfg(feature = "llama")]
pub use llama_cpp::{
    backend as llama_backend, LlamaGenerator, BACKENDS_ENV, LLAMA_CPP_2_VERSION, LLAMA_RUNTIME,
};
pub use manifest::{Manifest, ManifestFile};
pub use model_manifest::{
    safe_relative_path, ModelManifest, MANIFEST_FORMAT, MAX_MANIFEST_BYTES, MAX_MODEL_FILES,
    RUNNABLE, RUNTIME_BERT, RUNTIME_GGUF,
};
pub use tamper::{add_relative_noise, requantize, GaussianRng, RequantizeReport};
pub use tokenizer::{GgufTokenizer, TextStream, IM_END, IM_START};
