//! The tolerant check of a claimed greedy generation: one teacher-forced pass of the checker's
//! model over prompt + claimed tokens, and a logit-margin rule per position.
//!
//! Exact comparison of [`crate::Generation::output_hash`] is only sound between equal kernel
//! path ids; across paths honest greedy outputs leave each other's argmax at near-ties, so
//! the rule (DESIGN.md, "Proof of inference"; measured in FACTS.md) is:
//!
//! * margin at a position = the checker's largest logit − its logit of the claimed token
//!   (≥ 0; 0 when the claimed token is the checker's argmax);
//! * a position fails when its margin > δ (or is not a number);
//! * the claim fails when the share of failing positions > ε.
//!
//! **Defaults: δ = [`DEFAULT_DELTA`] = 2.0, ε = [`DEFAULT_EPSILON`] = 0.** Measured on 331
//! honest claims from three kernel paths the largest margin was 0.999; cheats' smallest
//! largest-margins were 5.7 (another prompt's answer) to 16.8 (random tokens).
//!
//! The checker is any [`TeacherForcing`] model: [`F32Llama`] (candle, f32, every build) or
//! `LlamaChecker` (llama.cpp on bf16 weights, feature `llama`: ~2× faster, the one a
//! validator should run; calibrated in docs/benchmarks.md).
//!
//! # Invariants
//! * Inputs are validated before the model runs: non-empty prompt and claim, every id in
//!   the vocabulary, prompt + claim ≤ [`crate::MAX_CONTEXT`], δ ≥ 0, ε in [0, 1].
//! * `margins.len() == claimed.len()`, in claim order.

use candle_core::Tensor;

use crate::error::InferError;
use crate::generate::MAX_CONTEXT;
use crate::llama::{max_and_claimed, F32Llama, KvCache};
use crate::tokenizer::GgufTokenizer;

/// Largest honest logit margin allowed at a position (δ).
pub const DEFAULT_DELTA: f32 = 2.0;
/// Largest share of failing positions a passing claim may have (ε).
pub const DEFAULT_EPSILON: f64 = 0.0;
/// Rows of the output matrix computed at once (bounds memory to ~64 × vocab floats).
const HEAD_CHUNK_ROWS: usize = 64;

/// The check's thresholds (chain parameters in the end).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CheckParams {
    /// δ: a position fails when its margin is larger.
    pub delta: f32,
    /// ε: the claim fails when the share of failing positions is larger.
    pub epsilon: f64,
}

impl Default for CheckParams {
    fn default() -> Self {
        CheckParams {
            delta: DEFAULT_DELTA,
            epsilon: DEFAULT_EPSILON,
        }
    }
}

impl CheckParams {
    pub fn validate(&self) -> Result<(), InferError> {
        let ok = self.delta.is_finite()
            && self.delta >= 0.0
            && self.epsilon.is_finite()
            && (0.0..=1.0).contains(&self.epsilon);
        if ok {
            Ok(())
        } else {
            Err(InferError::InvalidCheckParams {
                delta: self.delta,
                epsilon: self.epsilon,
            })
        }
    }
}

/// Outcome of checking one claimed generation.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerationReport {
    /// Margin of each claimed token, in order.
    pub margins: Vec<f32>,
    /// Largest margin (NaN if any margin is NaN).
    pub max_margin: f32,
    /// Positions whose margin is over δ or NaN.
    pub failing: usize,
    /// `failing / margins.len()`.
    pub failing_share: f64,
    /// `failing_share <= ε`.
    pub passed: bool,
}

/// A model that scores a claimed continuation by one teacher-forced pass: the checker side
/// of [`check_generation`].
pub trait TeacherForcing {
    /// The tokenizer whose vocabulary bounds every id.
    fn tokenizer(&self) -> &GgufTokenizer;

    /// Names the checker's kernel path (runtime, version, CPU features, weight type).
    fn kernel_path_id(&self) -> String;

    /// For each claimed token `j`, its margin: the largest logit minus the claimed token's
    /// logit at the position that predicts it (prompt + `claimed[..j]` fed), NaN if either
    /// is not a number. Called with inputs [`check_generation`] has validated.
    fn claimed_margins(&self, prompt_ids: &[u32], claimed: &[u32]) -> Result<Vec<f32>, InferError>;
}

/// Checks that `claimed` is what greedy decoding of `prompt_ids` gives, up to honest numeric
/// noise, by one teacher-forced pass of `checker`.
pub fn check_generation<C: TeacherForcing + ?Sized>(
    checker: &C,
    prompt_ids: &[u32],
    claimed: &[u32],
    params: &CheckParams,
) -> Result<GenerationReport, InferError> {
    validate(checker.tokenizer(), prompt_ids, claimed, params)?;
    let margins = checker.claimed_margins(prompt_ids, claimed)?;
    if margins.len() != claimed.len() {
        return Err(InferError::Runtime {
            runtime: "checker",
            message: format!(
                "{} margins for {} claimed tokens",
                margins.len(),
                claimed.len()
            ),
        });
    }
    Ok(judge(margins, params))
}

/// The rule alone, on margins already computed.
pub fn judge(margins: Vec<f32>, params: &CheckParams) -> GenerationReport {
    let failing = margins
        .iter()
        .filter(|m| m.is_nan() || **m > params.delta)
        .count();
    let failing_share = match margins.len() {
        0 => 0.0,
        n => failing as f64 / n as f64,
    };
    let max_margin = margins.iter().fold(0.0f32, |acc, m| {
        if acc.is_nan() || m.is_nan() {
            f32::NAN
        } else {
            acc.max(*m)
        }
    });
    GenerationReport {
        passed: failing_share <= params.epsilon,
        margins,
        max_margin,
        failing,
        failing_share,
    }
}

fn validate(
    tokenizer: &GgufTokenizer,
    prompt_ids: &[u32],
    claimed: &[u32],
    params: &CheckParams,
) -> Result<(), InferError> {
    params.validate()?;
    if prompt_ids.is_empty() {
        return Err(InferError::EmptyPrompt);
    }
    if claimed.is_empty() {
        return Err(InferError::EmptyClaim);
    }
    let len = prompt_ids.len().saturating_add(claimed.len());
    if len > MAX_CONTEXT {
        return Err(InferError::ContextTooLong {
            len,
            max: MAX_CONTEXT,
        });
    }
    prompt_ids
        .iter()
        .chain(claimed)
        .try_for_each(|id| tokenizer.check_id(*id))
}

impl TeacherForcing for F32Llama {
    fn tokenizer(&self) -> &GgufTokenizer {
        F32Llama::tokenizer(self)
    }

    fn kernel_path_id(&self) -> String {
        crate::determinism::generation_kernel_path_id("f32")
    }

    fn claimed_margins(&self, prompt_ids: &[u32], claimed: &[u32]) -> Result<Vec<f32>, InferError> {
        margins(self, prompt_ids, claimed)
    }
}

/// Feeds prompt + all claimed tokens but the last; the hidden state at position
/// `prompt_len − 1 + j` predicts claimed token `j`.
fn margins(
    checker: &F32Llama,
    prompt_ids: &[u32],
    claimed: &[u32],
) -> Result<Vec<f32>, InferError> {
    let fed_claimed = claimed.len().saturating_sub(1);
    let input: Vec<u32> = prompt_ids
        .iter()
        .chain(claimed.iter().take(fed_claimed))
        .copied()
        .collect();
    let hidden = checker.hidden(&input, &mut KvCache::default(), 0)?;
    let first = prompt_ids.len().saturating_sub(1);
    let mut margins = Vec::with_capacity(claimed.len());
    for (chunk_index, chunk) in claimed.chunks(HEAD_CHUNK_ROWS).enumerate() {
        let start = first.saturating_add(chunk_index.saturating_mul(HEAD_CHUNK_ROWS));
        let rows: Tensor = hidden.narrow(0, start, chunk.len())?;
        let logits = checker.head(&rows)?;
        margins.extend(
            max_and_claimed(&logits, chunk)?
                .into_iter()
                .map(|(max, picked)| max - picked),
        );
    }
    Ok(margins)
}

/// The generation checker a validator runs on the verified model files in `dir`:
/// llama.cpp on bf16 weights when built with the `llama` feature (the calibrated, faster
/// one), else candle's f32 model. [`CHECKER_IS_F32`] says which.
pub fn load_checker(
    dir: &std::path::Path,
    manifest: &crate::Manifest,
) -> Result<Box<dyn TeacherForcing + Send>, InferError> {
    #[cfg(feature = "llama")]
    {
        Ok(Box::new(crate::LlamaChecker::load_verified(dir, manifest)?))
    }
    #[cfg(not(feature = "llama"))]
    {
        Ok(Box::new(F32Llama::load_verified(dir, manifest)?))
    }
}

/// Whether [`load_checker`] gives candle's f32 model (then there is no distinct f32
/// second opinion to ask).
pub const CHECKER_IS_F32: bool = cfg!(not(feature = "llama"));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judge_applies_delta_and_epsilon() {
        let p = CheckParams::default();
        let r = judge(vec![0.0, 0.5, 2.0], &p);
        assert!(r.passed && r.failing == 0 && r.max_margin == 2.0, "{r:?}");
        let r = judge(vec![0.0, 2.01, 0.0, 0.0], &p);
        assert!(
            !r.passed && r.failing == 1 && r.failing_share == 0.25,
            "{r:?}"
        );
        let lenient = CheckParams {
            delta: 2.0,
            epsilon: 0.25,
        };
        assert!(judge(vec![0.0, 2.01, 0.0, 0.0], &lenient).passed);
    }

    #[test]
    fn nan_margin_fails() {
        let r = judge(vec![0.0, f32::NAN], &CheckParams::default());
        assert!(
            !r.passed && r.failing == 1 && r.max_margin.is_nan(),
            "{r:?}"
        );
    }

    #[test]
    fn bad_params_are_errors() {
        for (delta, epsilon) in [(-1.0, 0.0), (f32::NAN, 0.0), (2.0, 1.5), (2.0, f64::NAN)] {
            let p = CheckParams { delta, epsilon };
            assert!(p.validate().is_err(), "{p:?}");
        }
        CheckParams::default().validate().unwrap();
    }
}
