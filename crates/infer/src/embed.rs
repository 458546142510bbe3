//! MiniLM sentence embeddings on CPU: candle's BERT, mean pooling over the attention mask,
//! then L2 normalization (what sentence-transformers' `all-MiniLM-L6-v2` does).
//!
//! # Invariants
//! * An input's vector does not depend on the batch it came in: inputs are never padded
//!   (equal lengths are batched together), and pooling is a plain loop in position order.
//!   Tested bit for bit on one machine; across machines see `kernel_path_id`.
//! * Inputs are truncated to [`MAX_TOKENS`] tokens (special tokens included), batches are at
//!   most [`MAX_BATCH_LEN`] inputs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{Tokenizer, TruncationParams, TruncationStrategy};

use crate::error::InferError;
use crate::manifest::Manifest;

/// Weights file in a model directory.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// Tokenizer file in a model directory.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// BERT configuration file in a model directory.
pub const CONFIG_FILE: &str = "config.json";
/// sentence-transformers' pooling configuration (mean pooling); read by nobody, shipped along.
pub const POOLING_FILE: &str = "1_Pooling/config.json";
/// The files [`Embedder::load`] needs, in the order a manifest lists them.
pub const MODEL_FILES: [&str; 4] = [WEIGHTS_FILE, TOKENIZER_FILE, CONFIG_FILE, POOLING_FILE];
/// Longest input in tokens, [CLS] and [SEP] included; longer inputs are truncated.
pub const MAX_TOKENS: usize = 256;
/// Most inputs in one call to [`Embedder::embed`].
pub const MAX_BATCH_LEN: usize = 128;
/// Directory name of MiniLM under the model cache (as `scripts/fetch-models.sh` lays it out).
pub const MINILM_DIR_NAME: &str = "all-minilm-l6-v2";

/// The model cache: `$TESSERA_MODEL_CACHE`, else `$HOME/.cache/tessera/models`.
pub fn model_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TESSERA_MODEL_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").unwrap_or_default();
    PathBuf::from(home).join(".cache/tessera/models")
}

/// Where `scripts/fetch-models.sh` puts MiniLM.
pub fn default_minilm_dir() -> PathBuf {
    model_cache_dir().join(MINILM_DIR_NAME)
}

/// A loaded sentence-embedding model (BERT family, f32, CPU).
pub struct Embedder {
    model: BertModel,
    tokenizer: Tokenizer,
    hidden_size: usize,
}

impl Embedder {
    /// Loads `config.json`, `model.safetensors` and `tokenizer.json` from `dir`, without
    /// checking their contents; see [`Embedder::load_verified`].
    #[allow(unsafe_code)] // memory-mapping the weights; see the SAFETY note.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, InferError> {
        let dir = dir.as_ref();
        for name in [CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE] {
            let path = dir.join(name);
            if !path.is_file() {
                return Err(InferError::MissingFile { path });
            }
        }
        let config = read_config(&dir.join(CONFIG_FILE))?;
        let tokenizer = load_tokenizer(&dir.join(TOKENIZER_FILE))?;
        let device = Device::Cpu;
        let weights = dir.join(WEIGHTS_FILE);
        // SAFETY: the file is memory-mapped read-only; it must not be modified while the
        // model is loaded (we own the cache directory; `load_verified` checks it first).
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[weights], DType::F32, &device)? };
        let model = BertModel::load(vb, &config)?;
        Ok(Embedder {
            model,
            tokenizer,
            hidden_size: config.hidden_size,
        })
    }

    /// Verifies every file of `manifest` in `dir` (size, then CID), then loads.
    pub fn load_verified(dir: impl AsRef<Path>, manifest: &Manifest) -> Result<Self, InferError> {
        manifest.verify(dir.as_ref())?;
        Self::load(dir)
    }

    /// Length of every embedding (384 for MiniLM-L6).
    pub fn dim(&self) -> usize {
        self.hidden_size
    }

    /// Token ids of each input as the model sees them: special tokens added, truncated to
    /// [`MAX_TOKENS`], never padded.
    pub fn token_ids(&self, inputs: &[&str]) -> Result<Vec<Vec<u32>>, InferError> {
        if inputs.len() > MAX_BATCH_LEN {
            return Err(InferError::BatchTooLarge {
                len: inputs.len(),
                max: MAX_BATCH_LEN,
            });
        }
        let encodings = self
            .tokenizer
            .encode_batch(inputs.to_vec(), true)
            .map_err(|e| InferError::Tokenize {
                reason: e.to_string(),
            })?;
        Ok(encodings.iter().map(|e| e.get_ids().to_vec()).collect())
    }

    /// One L2-normalized embedding per input, in order.
    ///
    /// Inputs of equal token length run as one batch, never padded: padding a sequence past
    /// 16 tokens changes its output in the last bit (candle's softmax and gemm then sum in
    /// another order), whereas the batch size does not (measured up to 128). So an input's
    /// bytes depend only on the input, not on what it was batched with.
    pub fn embed(&self, inputs: &[&str]) -> Result<Vec<Vec<f32>>, InferError> {
        let sequences = self.token_ids(inputs)?;
        let mut groups: BTreeMap<usize, Vec<(usize, &[u32])>> = BTreeMap::new();
        for (index, ids) in sequences.iter().enumerate() {
            groups.entry(ids.len()).or_default().push((index, ids));
        }
        let mut out: Vec<Option<Vec<f32>>> = vec![None; sequences.len()];
        for (len, group) in groups {
            let ids: Vec<u32> = group
                .iter()
                .flat_map(|(_, ids)| ids.iter().copied())
                .collect();
            let ids = Tensor::from_vec(ids, (group.len(), len), &Device::Cpu)?;
            let mask = ids.ones_like()?;
            let type_ids = ids.zeros_like()?;
            let hidden: Vec<Vec<Vec<f32>>> = self
                .model
                .forward(&ids, &type_ids, Some(&mask))?
                .to_vec3()?;
            for ((index, _), states) in group.iter().zip(hidden) {
                if let Some(slot) = out.get_mut(*index) {
                    *slot = Some(l2_normalize(mean_pool(&states, self.hidden_size)));
                }
            }
        }
        out.into_iter()
            .map(|v| {
                v.ok_or(InferError::Tokenize {
                    reason: "an input got no embedding".to_owned(),
                })
            })
            .collect()
    }
}

/// Mean of the hidden states over all positions (there is no padding), summed in position
/// order in f32.
fn mean_pool(states: &[Vec<f32>], dim: usize) -> Vec<f32> {
    let mut sum = vec![0.0f32; dim];
    for row in states {
        for (s, v) in sum.iter_mut().zip(row) {
            *s += *v;
        }
    }
    // The tokenizer always emits [CLS] and [SEP]; guard against an empty sequence anyway.
    let count = states.len().max(1) as f32;
    sum.iter_mut().for_each(|s| *s /= count);
    sum
}

/// `v / max(‖v‖₂, 1e-12)`, as PyTorch's `F.normalize` (which sentence-transformers uses).
fn l2_normalize(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

fn read_config(path: &Path) -> Result<Config, InferError> {
    let text = std::fs::read_to_string(path).map_err(|source| InferError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| InferError::Config {
        path: path.to_owned(),
        source,
    })
}

/// The shipped tokenizer pads and truncates to 128. Truncate at [`MAX_TOKENS`] instead, and
/// don't pad at all: [`Embedder::embed`] batches equal lengths (see there for why).
fn load_tokenizer(path: &Path) -> Result<Tokenizer, InferError> {
    let err = |reason: String| InferError::Tokenizer {
        path: path.to_owned(),
        reason,
    };
    let mut tokenizer = Tokenizer::from_file(path).map_err(|e| err(e.to_string()))?;
    tokenizer.with_padding(None);
    let truncation = TruncationParams {
        max_length: MAX_TOKENS,
        strategy: TruncationStrategy::LongestFirst,
        stride: 0,
        ..TruncationParams::default()
    };
    tokenizer
        .with_truncation(Some(truncation))
        .map_err(|e| err(e.to_string()))?;
    Ok(tokenizer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_pool_averages_positions() {
        let states = vec![vec![1.0, 2.0], vec![3.0, 4.0]];
        assert_eq!(mean_pool(&states, 2), vec![2.0, 3.0]);
    }

    #[test]
    fn l2_normalize_gives_unit_length_and_keeps_zero() {
        assert_eq!(l2_normalize(vec![3.0, 4.0]), vec![0.6, 0.8]);
        assert_eq!(l2_normalize(vec![0.0, 0.0]), vec![0.0, 0.0]);
    }

    #[test]
    fn load_reports_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let err = Embedder::load(dir.path()).err().unwrap();
        assert!(matches!(err, InferError::MissingFile { .. }), "{err}");
    }
}
