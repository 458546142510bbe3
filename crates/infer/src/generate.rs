//! Text generation with SmolLM2 on candle's quantized llama (the GGUF's Q4_1 weights as
//! they are), greedy, streamed token by token.
//!
//! # Invariants
//! * Greedy decoding: the next token is the first index of the largest logit, so the output
//!   is a function of the prompt, the weights and the kernel path; on one machine it is
//!   bit-identical across runs, thread counts and processes (tested).
//! * Prompt plus output stays within [`MAX_CONTEXT`] tokens; at most [`MAX_NEW_TOKENS`] are
//!   generated; every prompt id is checked against the vocabulary before the model runs.
//! * Generation stops after the end-of-sequence token (which is kept in the output ids, so
//!   a checker also checks the stop) or after `max_new_tokens`.

use std::path::{Path, PathBuf};

use candle_core::quantized::GgmlDType;
use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_llama::ModelWeights;

use crate::determinism::{generation_kernel_path_id, tokens_hash};
use crate::embed::model_cache_dir;
use crate::error::InferError;
use crate::gguf::GgufFile;
use crate::manifest::Manifest;
use crate::tamper::{requantize, RequantizeReport};
use crate::tokenizer::{GgufTokenizer, TextStream};

/// Directory name of SmolLM2 under the model cache (as `scripts/fetch-models.sh` lays it out).
pub const SMOLLM2_DIR_NAME: &str = "smollm2-135m-instruct";
/// The GGUF file in that directory.
pub const SMOLLM2_GGUF_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// Longest prompt plus output, in tokens (the model was trained to 8192; this bounds memory
/// and the checker's time).
pub const MAX_CONTEXT: usize = 2048;
/// Most tokens one call may generate.
pub const MAX_NEW_TOKENS: usize = 1024;

/// Where `scripts/fetch-models.sh` puts the SmolLM2 GGUF.
pub fn default_smollm2_gguf() -> PathBuf {
    model_cache_dir()
        .join(SMOLLM2_DIR_NAME)
        .join(SMOLLM2_GGUF_FILE)
}

/// How to generate: greedy decoding, up to `max_new_tokens` tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenerateParams {
    pub max_new_tokens: usize,
}

/// Why generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The model produced the end-of-sequence token.
    Eos,
    /// `max_new_tokens` were generated.
    MaxTokens,
    /// The caller stopped it (e.g. the client went away mid-stream).
    Cancelled,
}

/// The result of one generation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generation {
    pub prompt_ids: Vec<u32>,
    /// Generated ids, the end-of-sequence token included when it was produced.
    pub token_ids: Vec<u32>,
    /// Text of `token_ids`, control tokens left out.
    pub text: String,
    pub stop: StopReason,
    /// [`tokens_hash`] of `token_ids`.
    pub output_hash: [u8; 32],
    /// [`generation_kernel_path_id`]: equal ids allow comparing `output_hash` exactly.
    pub kernel_path_id: String,
}

/// SmolLM2 (any llama-architecture GGUF with the `smollm` tokenizer) on candle's quantized
/// kernels.
pub struct Generator {
    model: ModelWeights,
    tokenizer: GgufTokenizer,
    weights_type: String,
}

impl Generator {
    /// Loads the GGUF at `path` without checking its contents; see
    /// [`Generator::load_verified`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self, InferError> {
        let mut gguf = GgufFile::open(path)?;
        let tokenizer = GgufTokenizer::from_gguf(&gguf)?;
        let weights_type = weights_type(&gguf);
        let model = ModelWeights::from_gguf(gguf.content, &mut gguf.reader, &Device::Cpu)?;
        Ok(Generator {
            model,
            tokenizer,
            weights_type,
        })
    }

    /// Verifies every file of `manifest` in `dir` (size, then CID), then loads the one GGUF
    /// it lists.
    pub fn load_verified(dir: impl AsRef<Path>, manifest: &Manifest) -> Result<Self, InferError> {
        Self::load(verified_gguf(dir.as_ref(), manifest)?)
    }

    /// Loads the GGUF at `path` with its weights requantized to `target` where their shape
    /// allows ([`crate::requantize`]): the "cheaper substitute precision" cheat, for
    /// calibration. The kernel path id ends in `requant-<target>`.
    pub fn load_requantized(
        path: impl AsRef<Path>,
        target: GgmlDType,
    ) -> Result<(Self, RequantizeReport), InferError> {
        let gguf = GgufFile::open(&path)?;
        let tokenizer = GgufTokenizer::from_gguf(&gguf)?;
        let weights_type = format!("{}+requant-{target:?}", weights_type(&gguf)).to_lowercase();
        let (content, mut reader, report) = requantize(path, target)?;
        let model = ModelWeights::from_gguf(content, &mut reader, &Device::Cpu)?;
        let generator = Generator {
            model,
            tokenizer,
            weights_type,
        };
        Ok((generator, report))
    }

    pub fn tokenizer(&self) -> &GgufTokenizer {
        &self.tokenizer
    }

    /// Greedy generation from `prompt_ids`; `on_text` gets each token's id and the text it
    /// completes (empty while a UTF-8 character is incomplete, nothing for control tokens).
    pub fn generate(
        &mut self,
        prompt_ids: &[u32],
        params: &GenerateParams,
        mut on_text: impl FnMut(u32, &str),
    ) -> Result<Generation, InferError> {
        self.generate_until(prompt_ids, params, |id, piece| {
            on_text(id, piece);
            std::ops::ControlFlow::Continue(())
        })
    }

    /// [`Generator::generate`], stopped early (as [`StopReason::Cancelled`]) when
    /// `on_text` breaks: a server stops generating for a client that went away.
    pub fn generate_until(
        &mut self,
        prompt_ids: &[u32],
        params: &GenerateParams,
        on_text: impl FnMut(u32, &str) -> std::ops::ControlFlow<()>,
    ) -> Result<Generation, InferError> {
        validate_request(&self.tokenizer, prompt_ids, params.max_new_tokens)?;
        self.model.clear_kv_cache();
        let first = forward(&mut self.model, prompt_ids, 0)?;
        let model = &mut self.model;
        greedy(
            &self.tokenizer,
            prompt_ids,
            params.max_new_tokens,
            first,
            |token, position| forward(model, &[token], position),
            on_text,
        )
        .map(|g| Generation {
            kernel_path_id: generation_kernel_path_id(&self.weights_type),
            ..g
        })
    }

    /// The logits for the token after `prompt_ids` (the first step of a generation), to
    /// compare kernel paths.
    pub fn next_token_logits(&mut self, prompt_ids: &[u32]) -> Result<Vec<f32>, InferError> {
        validate_request(&self.tokenizer, prompt_ids, 1)?;
        self.model.clear_kv_cache();
        forward(&mut self.model, prompt_ids, 0)
    }

    /// [`Generator::generate`] for one user message in the ChatML template, no streaming.
    pub fn chat(&mut self, user: &str, params: &GenerateParams) -> Result<Generation, InferError> {
        let prompt = self.tokenizer.chat_prompt(None, user)?;
        self.generate(&prompt, params, |_, _| {})
    }
}

/// Verifies every file of `manifest` in `dir` (size, then CID) and returns the path of the
/// one GGUF it lists.
pub(crate) fn verified_gguf(dir: &Path, manifest: &Manifest) -> Result<PathBuf, InferError> {
    manifest.verify(dir)?;
    let mut ggufs = manifest.files.iter().filter(|f| f.path.ends_with(".gguf"));
    match (ggufs.next(), ggufs.next()) {
        (Some(file), None) => Ok(dir.join(&file.path)),
        _ => Err(InferError::NoSingleGguf),
    }
}

/// Greedy decoding after the logits `first` of `prompt_ids`: `step(token, position)` runs
/// the model on the token just chosen at its position in the sequence and returns the
/// logits for the next; `on_text` gets each token and the text it completes. Stops after
/// EOS (kept) or `max_new_tokens`. The result's `kernel_path_id` is left empty for the
/// caller to name its path.
pub(crate) fn greedy(
    tokenizer: &GgufTokenizer,
    prompt_ids: &[u32],
    max_new_tokens: usize,
    first: Vec<f32>,
    mut step: impl FnMut(u32, usize) -> Result<Vec<f32>, InferError>,
    mut on_text: impl FnMut(u32, &str) -> std::ops::ControlFlow<()>,
) -> Result<Generation, InferError> {
    let eos = tokenizer.eos_id();
    let mut stream = TextStream::new(tokenizer);
    let mut text = String::new();
    let mut ids = Vec::with_capacity(max_new_tokens);
    let mut logits = first;
    let mut stop = StopReason::MaxTokens;
    while ids.len() < max_new_tokens {
        let next = argmax(&logits);
        ids.push(next);
        let piece = stream.push(next)?;
        let flow = on_text(next, &piece);
        text.push_str(&piece);
        if next == eos {
            stop = StopReason::Eos;
            break;
        }
        if flow.is_break() {
            stop = StopReason::Cancelled;
            break;
        }
        if ids.len() < max_new_tokens {
            let position = prompt_ids.len().saturating_add(ids.len()).saturating_sub(1);
            logits = step(next, position)?;
        }
    }
    text.push_str(&stream.finish()?);
    Ok(Generation {
        prompt_ids: prompt_ids.to_vec(),
        output_hash: tokens_hash(&ids),
        token_ids: ids,
        text,
        stop,
        kernel_path_id: String::new(),
    })
}

/// Checks a prompt and an output length before any model runs.
pub(crate) fn validate_request(
    tokenizer: &GgufTokenizer,
    prompt_ids: &[u32],
    max_new_tokens: usize,
) -> Result<(), InferError> {
    if prompt_ids.is_empty() {
        return Err(InferError::EmptyPrompt);
    }
    if !(1..=MAX_NEW_TOKENS).contains(&max_new_tokens) {
        return Err(InferError::InvalidMaxNewTokens {
            requested: max_new_tokens,
            max: MAX_NEW_TOKENS,
        });
    }
    let len = prompt_ids.len().saturating_add(max_new_tokens);
    if len > MAX_CONTEXT {
        return Err(InferError::ContextTooLong {
            len,
            max: MAX_CONTEXT,
        });
    }
    prompt_ids.iter().try_for_each(|id| tokenizer.check_id(*id))
}

/// Last position's logits after feeding `ids` at `position`.
fn forward(model: &mut ModelWeights, ids: &[u32], position: usize) -> Result<Vec<f32>, InferError> {
    let input = Tensor::new(ids, &Device::Cpu)?.unsqueeze(0)?;
    let logits = model.forward(&input, position)?;
    Ok(logits.squeeze(0)?.to_vec1::<f32>()?)
}

/// Index of the largest value, the first one on ties; NaN never wins. 0 for no values.
pub(crate) fn argmax(values: &[f32]) -> u32 {
    let mut best: Option<(usize, f32)> = None;
    for (i, v) in values.iter().enumerate() {
        if best.is_none_or(|(_, b)| *v > b) && !v.is_nan() {
            best = Some((i, *v));
        }
    }
    best.and_then(|(i, _)| u32::try_from(i).ok()).unwrap_or(0)
}

/// The storage type of the attention weights (`q4_1` for the shipped SmolLM2), named as in
/// the kernel path id.
pub(crate) fn weights_type(gguf: &GgufFile) -> String {
    gguf.content
        .tensor_infos
        .get("blk.0.attn_q.weight")
        .map(|t| format!("{:?}", t.ggml_dtype).to_lowercase())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_the_first_maximum_and_ignores_nan() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0]), 1);
        assert_eq!(argmax(&[f32::NAN, -1.0, f32::NAN]), 1);
        assert_eq!(argmax(&[]), 0);
        assert_eq!(argmax(&[f32::NEG_INFINITY, f32::NEG_INFINITY]), 0);
    }
}
