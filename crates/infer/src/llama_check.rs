//! The generation check on llama.cpp (feature `llama`): the teacher-forced pass of
//! [`crate::check_generation`] run by llama.cpp's batched prefill over the model's weights
//! converted to bf16, about twice as fast as the f32 checker ([`crate::F32Llama`]) and fast
//! enough to check an answer in a fraction of the time the serving path took to generate it
//! (docs/benchmarks.md, "The check against generation of the same answer").
//!
//! Why bf16: llama.cpp only batches a prefill well on weight types with a matrix kernel for
//! this CPU. Measured on the shipped Q4_1 GGUF (docs/benchmarks.md): Q4_1 itself prefills at
//! ~170 tok/s on one core, Q8_0 ~330, f16/f32 ~290 and bf16 ~410 (AVX512-BF16). The bf16
//! weights are the GGUF's own values rounded to 8 significant bits, far below the rounding
//! every serving path applies (Q4_1 weights, 8-bit activations), so the check's thresholds
//! keep their meaning; the calibration was rerun on this checker all the same.
//!
//! The converted file is derived once per source file and kept in a cache directory, named
//! by the source GGUF's CID, written to a temporary name and renamed into place (a
//! crash leaves no half file under the final name; a temporary a crash left behind is
//! removed by the next conversion once it is an hour old).
//!
//! # Invariants
//! * Inputs reach llama.cpp only after [`crate::check_generation`] validated them (ids in
//!   the vocabulary, length ≤ [`crate::MAX_CONTEXT`]); a claimed id outside llama.cpp's own
//!   vocabulary is an error, never an index out of bounds.
//! * Exactly one margin per claimed token, in order; a NaN logit gives a NaN margin (which
//!   fails the position).
//! * On one kernel path ([`TeacherForcing::kernel_path_id`]) the margins are a function of
//!   prompt, claim and weights, bit for bit, for any thread count (tested), so validators
//!   on the same path reach the same verdict.
//! * The cached file's name holds the CID of the source bytes, so a changed source never
//!   reuses a stale conversion.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use candle_core::quantized::GgmlDType;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;

use crate::check_generation::TeacherForcing;
use crate::embed::model_cache_dir;
use crate::error::InferError;
use crate::generate::verified_gguf;
use crate::gguf::GgufFile;
use crate::llama_cpp::{
    all_cores, backend, llama_error, loaded_cpu_features, new_context, position, thread_count,
    token, LLAMA_CPP_2_VERSION, LLAMA_RUNTIME,
};
use crate::manifest::Manifest;
use crate::tamper::requantize;
use crate::tokenizer::GgufTokenizer;

/// The checker's weight type (see the module docs for the measurement behind it).
pub const CHECKER_WEIGHTS: GgmlDType = GgmlDType::BF16;
/// [`CHECKER_WEIGHTS`] as kernel path ids and file names spell it.
pub const CHECKER_WEIGHTS_NAME: &str = "bf16";
/// Subdirectory of the model cache holding converted checker weights.
pub const CHECKER_CACHE_DIR: &str = "checker";
/// Between a converted file's name and the converting process's id, in temporary names.
const TMP_INFIX: &str = ".tmp-";
/// A temporary conversion older than this was left by a crash and is removed.
const STALE_TMP: Duration = Duration::from_secs(3600);
/// Positions fed to llama.cpp per decode call: bounds its logits buffer to this many rows
/// of the vocabulary (256 × 49,152 × 4 B = 48 MiB for SmolLM2).
const CHECK_BATCH_LEN: usize = 256;

/// The generation checker on llama.cpp's CPU kernels, over bf16 weights.
pub struct LlamaChecker {
    model: LlamaModel,
    tokenizer: GgufTokenizer,
    threads: i32,
}

impl LlamaChecker {
    /// Loads the checker for the GGUF at `source` (not checked; see
    /// [`LlamaChecker::load_verified`]), converting its weights into the default cache
    /// (`<model cache>/checker`) on first use.
    pub fn load(source: impl AsRef<Path>) -> Result<Self, InferError> {
        Self::load_with_cache(source, model_cache_dir().join(CHECKER_CACHE_DIR))
    }

    /// Verifies every file of `manifest` in `dir` (size, then CID), then loads the checker
    /// for the one GGUF it lists.
    pub fn load_verified(dir: impl AsRef<Path>, manifest: &Manifest) -> Result<Self, InferError> {
        Self::load(verified_gguf(dir.as_ref(), manifest)?)
    }

    /// [`LlamaChecker::load`] with the converted weights kept in `cache_dir`.
    pub fn load_with_cache(
        source: impl AsRef<Path>,
        cache_dir: impl AsRef<Path>,
    ) -> Result<Self, InferError> {
        let source = source.as_ref();
        let tokenizer = GgufTokenizer::from_gguf(&GgufFile::open(source)?)?;
        let converted = converted_weights(source, cache_dir.as_ref())?;
        let model =
            LlamaModel::load_from_file(backend()?, &converted, &LlamaModelParams::default())
                .map_err(|e| llama_error(&format!("loading {}", converted.display()), e))?;
        Ok(LlamaChecker {
            model,
            tokenizer,
            threads: all_cores(),
        })
    }

    /// Runs on `threads` threads (at least 1; llama.cpp's threads spin, so use free cores).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = thread_count(threads);
        self
    }
}

impl TeacherForcing for LlamaChecker {
    fn tokenizer(&self) -> &GgufTokenizer {
        &self.tokenizer
    }

    fn kernel_path_id(&self) -> String {
        format!(
            "{LLAMA_RUNTIME}-{LLAMA_CPP_2_VERSION}/{}/{}/{}",
            std::env::consts::ARCH,
            loaded_cpu_features(),
            CHECKER_WEIGHTS_NAME
        )
    }

    /// Feeds prompt + all claimed tokens but the last, [`CHECK_BATCH_LEN`] positions per
    /// decode, asking for logits from position `prompt_len − 1` on (each predicts the next
    /// claimed token).
    fn claimed_margins(&self, prompt_ids: &[u32], claimed: &[u32]) -> Result<Vec<f32>, InferError> {
        let fed: Vec<u32> = prompt_ids
            .iter()
            .chain(claimed.iter().take(claimed.len().saturating_sub(1)))
            .copied()
            .collect();
        let first_scored = prompt_ids.len().saturating_sub(1);
        let mut ctx = new_context(&self.model, fed.len(), CHECK_BATCH_LEN, self.threads)?;
        let mut batch = LlamaBatch::new(CHECK_BATCH_LEN, 1);
        let mut margins = Vec::with_capacity(claimed.len());
        let mut scored = claimed.iter();
        for (chunk_index, chunk) in fed.chunks(CHECK_BATCH_LEN).enumerate() {
            let start = chunk_index.saturating_mul(CHECK_BATCH_LEN);
            batch.clear();
            for (offset, id) in chunk.iter().enumerate() {
                let at = start.saturating_add(offset);
                batch
                    .add(token(*id)?, position(at)?, &[0], at >= first_scored)
                    .map_err(|e| llama_error("batching the claim", e))?;
            }
            ctx.decode(&mut batch)
                .map_err(|e| llama_error("running the check", e))?;
            for offset in 0..chunk.len() {
                if start.saturating_add(offset) < first_scored {
                    continue;
                }
                let id = scored
                    .next()
                    .ok_or_else(|| llama_error("scoring", "more positions than claimed tokens"))?;
                let row = i32::try_from(offset).map_err(|e| llama_error("logits row", e))?;
                margins.push(margin_of(ctx.get_logits_ith(row), *id)?);
            }
        }
        Ok(margins)
    }
}

/// The largest logit minus `logits[id]`; NaN if any logit is NaN.
fn margin_of(logits: &[f32], id: u32) -> Result<f32, InferError> {
    let picked = usize::try_from(id)
        .ok()
        .and_then(|i| logits.get(i))
        .copied()
        .ok_or_else(|| {
            llama_error(
                "scoring",
                format!(
                    "token id {id} is outside llama.cpp's vocabulary of {}",
                    logits.len()
                ),
            )
        })?;
    // Two plain passes (max, then a NaN scan) vectorize; one fused fold did not.
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if logits.iter().any(|v| v.is_nan()) {
        return Ok(f32::NAN);
    }
    Ok(max - picked)
}

/// The bf16 copy of `source` in `cache_dir`, converted now if it is not there yet.
fn converted_weights(source: &Path, cache_dir: &Path) -> Result<PathBuf, InferError> {
    let cid = tessera_blobs::cid_of_file(source).map_err(|e| InferError::Hash {
        path: source.to_owned(),
        source: e,
    })?;
    let name = format!("{cid}.{CHECKER_WEIGHTS_NAME}.gguf");
    let path = cache_dir.join(&name);
    if path.is_file() {
        return Ok(path);
    }
    let io = |action: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| InferError::Io {
            action,
            path,
            source,
        }
    };
    std::fs::create_dir_all(cache_dir).map_err(io("create", cache_dir))?;
    remove_stale_temporaries(cache_dir, &name);
    let (_, bytes, _) = requantize(source, CHECKER_WEIGHTS)?;
    let tmp = cache_dir.join(format!("{name}{TMP_INFIX}{}", std::process::id()));
    let written = File::create(&tmp).and_then(|mut file| {
        file.write_all(bytes.get_ref())?;
        file.sync_all()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io("write", &tmp)(e));
    }
    std::fs::rename(&tmp, &path).map_err(io("rename", &tmp))?;
    Ok(path)
}

/// Removes `<name>.tmp-<pid>` files older than [`STALE_TMP`]: conversions a crash
/// interrupted (a live one finishes in seconds).
fn remove_stale_temporaries(cache_dir: &Path, name: &str) {
    let prefix = format!("{name}{TMP_INFIX}");
    let Ok(entries) = std::fs::read_dir(cache_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_TMP);
        if stale && entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margin_is_max_minus_picked_and_nan_poisons() {
        assert_eq!(margin_of(&[1.0, 3.0, 2.0], 2).unwrap(), 1.0);
        assert_eq!(margin_of(&[1.0, 3.0, 2.0], 1).unwrap(), 0.0);
        assert!(margin_of(&[1.0, f32::NAN], 0).unwrap().is_nan());
        assert!(margin_of(&[1.0, 2.0], 2).is_err());
    }
}
