//! The checker's model: a small llama forward over the GGUF's weights dequantized to f32,
//! returning logits for every position of a batch in one pass.
//!
//! candle 0.11.1's `quantized_llama` returns only the last position's logits and keeps its
//! weights private, and its Q4_1 kernel gets no speed-up from batching; so the checker runs
//! this f32 path, whose prefill is one matrix multiply per weight for all positions.
//!
//! The architecture (llama.cpp's `llama`): token embedding; per layer RMSNorm → attention
//! (RoPE on pairs of adjacent values, as GGUF stores Q and K permuted; grouped-query heads;
//! causal mask) → residual, RMSNorm → SwiGLU MLP → residual; final RMSNorm; output matrix
//! (the token embedding when the file has no `output.weight`).
//!
//! # Invariants
//! * Positions stay below [`MAX_CONTEXT`] (the RoPE table's length): checked before running.
//! * `skip_last_layers` < the number of layers (a cheat for tests: at least one layer runs).
//! * Position `i`'s output depends on tokens `0..=i` only (causal mask), so feeding tokens
//!   one by one with a [`KvCache`] and all at once give the same logits up to rounding.

use std::path::Path;

use candle_core::{DType, Device, Tensor, D};
use candle_nn::ops::{rms_norm, silu, softmax_last_dim};
use candle_nn::rotary_emb::rope_i;

use crate::determinism::{generation_kernel_path_id, tokens_hash};
use crate::error::InferError;
use crate::generate::MAX_CONTEXT;
use crate::generate::{
    argmax, validate_request, verified_gguf, GenerateParams, Generation, StopReason,
};
use crate::gguf::GgufFile;
use crate::manifest::Manifest;
use crate::tokenizer::{GgufTokenizer, TextStream};

/// The shape of a llama model, from the GGUF metadata.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LlamaConfig {
    pub n_layer: usize,
    pub d_model: usize,
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
    pub rope_base: f32,
    pub rms_eps: f32,
}

#[derive(Clone)]
pub(crate) struct Layer {
    pub(crate) attn_norm: Tensor,
    pub(crate) wq: Tensor,
    pub(crate) wk: Tensor,
    pub(crate) wv: Tensor,
    pub(crate) wo: Tensor,
    pub(crate) ffn_norm: Tensor,
    pub(crate) gate: Tensor,
    pub(crate) up: Tensor,
    pub(crate) down: Tensor,
}

/// Keys and values of the positions fed so far, per layer.
#[derive(Default)]
pub struct KvCache {
    layers: Vec<(Tensor, Tensor)>,
    len: usize,
    /// The `skip_last_layers` it was filled with; one cache serves one value.
    skip: usize,
}

impl KvCache {
    /// Positions already fed.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A llama model in f32 on the CPU, with its tokenizer. Cloning shares the weights (candle
/// tensors are reference-counted).
#[derive(Clone)]
pub struct F32Llama {
    config: LlamaConfig,
    embed: Tensor,
    pub(crate) layers: Vec<Layer>,
    norm: Tensor,
    output: Tensor,
    cos: Tensor,
    sin: Tensor,
    tokenizer: GgufTokenizer,
}

impl F32Llama {
    /// Loads the GGUF at `path`, dequantizing every tensor to f32 (~4 bytes per parameter).
    /// Verify the file first ([`crate::Manifest::verify`]) when its origin is not trusted.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, InferError> {
        let mut gguf = GgufFile::open(path)?;
        let tokenizer = GgufTokenizer::from_gguf(&gguf)?;
        let config = read_config(&gguf)?;
        let embed = tensor(&mut gguf, "token_embd.weight")?;
        let output = match gguf.content.tensor_infos.contains_key("output.weight") {
            true => tensor(&mut gguf, "output.weight")?,
            false => embed.clone(),
        };
        let layers = (0..config.n_layer)
            .map(|i| read_layer(&mut gguf, i))
            .collect::<Result<Vec<_>, _>>()?;
        let norm = tensor(&mut gguf, "output_norm.weight")?;
        let (cos, sin) = rope_table(config.head_dim, config.rope_base)?;
        Ok(F32Llama {
            config,
            embed,
            layers,
            norm,
            output,
            cos,
            sin,
            tokenizer,
        })
    }

    /// Verifies every file of `manifest` in `dir` (size, then CID), then loads the one GGUF
    /// it lists.
    pub fn load_verified(dir: impl AsRef<Path>, manifest: &Manifest) -> Result<Self, InferError> {
        Self::load(verified_gguf(dir.as_ref(), manifest)?)
    }

    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    pub fn tokenizer(&self) -> &GgufTokenizer {
        &self.tokenizer
    }

    /// Feeds `ids` after the positions in `cache` and returns their final hidden states
    /// (after the last RMSNorm), shape `(ids.len(), d_model)`. Runs all but the last
    /// `skip_last_layers` layers.
    pub fn hidden(
        &self,
        ids: &[u32],
        cache: &mut KvCache,
        skip_last_layers: usize,
    ) -> Result<Tensor, InferError> {
        self.validate(ids, cache, skip_last_layers)?;
        let offset = cache.len;
        let input = Tensor::new(ids, &Device::Cpu)?;
        let mut x = self.embed.index_select(&input, 0)?;
        let mask = causal_mask(ids.len(), offset)?;
        let run = self.layers.len().saturating_sub(skip_last_layers);
        for (i, layer) in self.layers.iter().take(run).enumerate() {
            let past = cache.layers.get(i);
            let (out, kv) = self.layer_forward(layer, &x, past, mask.as_ref(), offset)?;
            match cache.layers.get_mut(i) {
                Some(slot) => *slot = kv,
                None => cache.layers.push(kv),
            }
            x = out;
        }
        cache.len = offset.saturating_add(ids.len());
        cache.skip = skip_last_layers;
        Ok(rms_norm(&x, &self.norm, self.config.rms_eps)?)
    }

    /// Logits `(rows, vocab)` of hidden states `(rows, d_model)`.
    pub fn head(&self, hidden: &Tensor) -> Result<Tensor, InferError> {
        Ok(hidden.matmul(&self.output.t()?)?)
    }

    /// Logits for every position of `ids` in one batched pass, shape `(ids.len(), vocab)`.
    pub fn logits(&self, ids: &[u32], skip_last_layers: usize) -> Result<Tensor, InferError> {
        let hidden = self.hidden(ids, &mut KvCache::default(), skip_last_layers)?;
        self.head(&hidden)
    }

    /// Greedy generation on this path (KV cache, one token per step), as
    /// [`crate::Generator::generate`] does on the quantized one. With `skip_last_layers > 0`
    /// it is the "skipped layers" cheat the check must catch.
    pub fn generate(
        &self,
        prompt_ids: &[u32],
        params: &GenerateParams,
        skip_last_layers: usize,
    ) -> Result<Generation, InferError> {
        validate_request(&self.tokenizer, prompt_ids, params.max_new_tokens)?;
        let eos = self.tokenizer.eos_id();
        let mut cache = KvCache::default();
        let mut stream = TextStream::new(&self.tokenizer);
        let (mut ids, mut text) = (Vec::new(), String::new());
        let mut feed = prompt_ids.to_vec();
        let mut stop = StopReason::MaxTokens;
        while ids.len() < params.max_new_tokens {
            let hidden = self.hidden(&feed, &mut cache, skip_last_layers)?;
            let last = hidden.narrow(0, feed.len().saturating_sub(1), 1)?;
            let next = argmax(&self.head(&last)?.squeeze(0)?.to_vec1::<f32>()?);
            ids.push(next);
            text.push_str(&stream.push(next)?);
            if next == eos {
                stop = StopReason::Eos;
                break;
            }
            feed = vec![next];
        }
        text.push_str(&stream.finish()?);
        Ok(Generation {
            prompt_ids: prompt_ids.to_vec(),
            output_hash: tokens_hash(&ids),
            token_ids: ids,
            text,
            stop,
            kernel_path_id: generation_kernel_path_id("f32"),
        })
    }

    fn validate(&self, ids: &[u32], cache: &KvCache, skip: usize) -> Result<(), InferError> {
        if ids.is_empty() {
            return Err(InferError::EmptyPrompt);
        }
        if skip >= self.layers.len() {
            return Err(InferError::InvalidSkipLayers {
                skip,
                layers: self.layers.len(),
            });
        }
        if !cache.is_empty() && cache.skip != skip {
            return Err(InferError::CacheSkipMismatch {
                cached: cache.skip,
                requested: skip,
            });
        }
        let len = cache.len.saturating_add(ids.len());
        if len > MAX_CONTEXT {
            return Err(InferError::ContextTooLong {
                len,
                max: MAX_CONTEXT,
            });
        }
        ids.iter().try_for_each(|id| self.tokenizer.check_id(*id))
    }

    /// One transformer block on `x` `(n, d_model)`; returns its output and the layer's keys
    /// and values with the new positions appended.
    fn layer_forward(
        &self,
        layer: &Layer,
        x: &Tensor,
        past: Option<&(Tensor, Tensor)>,
        mask: Option<&Tensor>,
        offset: usize,
    ) -> Result<(Tensor, (Tensor, Tensor)), InferError> {
        let c = &self.config;
        let n = x.dim(0)?;
        let h = rms_norm(x, &layer.attn_norm, c.rms_eps)?;
        let q = self.heads(&h, &layer.wq, c.n_head, offset)?;
        let mut k = self.heads(&h, &layer.wk, c.n_kv_head, offset)?;
        let mut v = linear(&h, &layer.wv)?
            .reshape((n, c.n_kv_head, c.head_dim))?
            .transpose(0, 1)?;
        if let Some((pk, pv)) = past {
            k = Tensor::cat(&[pk, &k], 1)?;
            v = Tensor::cat(&[pv, &v], 1)?;
        }
        let (k, v) = (k.contiguous()?, v.contiguous()?);
        let attn = attention(&q, &k, &v, mask, c)?;
        let attn = attn.transpose(0, 1)?.reshape((n, c.d_model))?;
        let x = (x + linear(&attn, &layer.wo)?)?;
        let h = rms_norm(&x, &layer.ffn_norm, c.rms_eps)?;
        let mlp = (silu(&linear(&h, &layer.gate)?)? * linear(&h, &layer.up)?)?;
        let x = (x + linear(&mlp, &layer.down)?)?;
        Ok((x, (k, v)))
    }

    /// `h @ w^T` split into `heads` heads, RoPE applied: shape `(heads, n, head_dim)`.
    fn heads(
        &self,
        h: &Tensor,
        w: &Tensor,
        heads: usize,
        offset: usize,
    ) -> Result<Tensor, InferError> {
        let n = h.dim(0)?;
        let x = linear(h, w)?
            .reshape((n, heads, self.config.head_dim))?
            .transpose(0, 1)?
            .contiguous()?
            .unsqueeze(0)?;
        let cos = self.cos.narrow(0, offset, n)?;
        let sin = self.sin.narrow(0, offset, n)?;
        Ok(rope_i(&x, &cos, &sin)?.squeeze(0)?)
    }
}

/// Scaled dot-product attention with grouped-query heads: query head `h` reads key/value
/// head `h / (n_head / n_kv_head)`.
fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    c: &LlamaConfig,
) -> Result<Tensor, InferError> {
    let group = c.n_head / c.n_kv_head.max(1);
    let (k, v) = (repeat_heads(k, group)?, repeat_heads(v, group)?);
    let scale = 1.0 / (c.head_dim as f64).sqrt();
    let scores = (q.matmul(&k.t()?)? * scale)?;
    let scores = match mask {
        Some(mask) => scores.broadcast_add(mask)?,
        None => scores,
    };
    Ok(softmax_last_dim(&scores)?.matmul(&v)?)
}

/// `(kv_heads, t, d)` → `(kv_heads * group, t, d)`, each head repeated `group` times in place.
fn repeat_heads(x: &Tensor, group: usize) -> Result<Tensor, InferError> {
    if group == 1 {
        return Ok(x.clone());
    }
    let (heads, t, d) = x.dims3()?;
    Ok(x.unsqueeze(1)?
        .broadcast_as((heads, group, t, d))?
        .contiguous()?
        .reshape((heads.saturating_mul(group), t, d))?)
}

/// Additive mask `(n, offset + n)`: 0 where query `i` (position `offset + i`) may read key
/// `j`, −∞ where `j > offset + i`. `None` for one query (it reads every key).
fn causal_mask(n: usize, offset: usize) -> Result<Option<Tensor>, InferError> {
    if n <= 1 {
        return Ok(None);
    }
    let total = offset.saturating_add(n);
    let values: Vec<f32> = (0..n)
        .flat_map(|i| {
            (0..total).map(move |j| {
                if j > offset.saturating_add(i) {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
        })
        .collect();
    Ok(Some(Tensor::from_vec(values, (n, total), &Device::Cpu)?))
}

fn linear(x: &Tensor, w: &Tensor) -> Result<Tensor, InferError> {
    Ok(x.matmul(&w.t()?)?)
}

/// cos and sin of `position × base^(−2i/head_dim)` for every position below [`MAX_CONTEXT`],
/// shape `(MAX_CONTEXT, head_dim / 2)`, computed in f64.
fn rope_table(head_dim: usize, base: f32) -> Result<(Tensor, Tensor), InferError> {
    let half = head_dim / 2;
    let inv_freq: Vec<f64> = (0..half)
        .map(|i| 1.0 / f64::from(base).powf((2 * i) as f64 / head_dim as f64))
        .collect();
    let angles: Vec<f64> = (0..MAX_CONTEXT)
        .flat_map(|p| inv_freq.iter().map(move |f| p as f64 * f))
        .collect();
    let table = |f: fn(f64) -> f64| {
        let v: Vec<f32> = angles.iter().map(|a| f(*a) as f32).collect();
        Tensor::from_vec(v, (MAX_CONTEXT, half), &Device::Cpu)
    };
    Ok((table(f64::cos)?, table(f64::sin)?))
}

fn read_config(gguf: &GgufFile) -> Result<LlamaConfig, InferError> {
    let arch = gguf.string("general.architecture")?;
    if arch != "llama" {
        return Err(InferError::GgufMetadata {
            key: "general.architecture",
            reason: format!("`{arch}` is not llama"),
        });
    }
    let d_model = gguf.usize("llama.embedding_length")?;
    let n_head = gguf.usize("llama.attention.head_count")?;
    let n_kv_head = gguf.usize("llama.attention.head_count_kv")?;
    let head_dim = d_model.checked_div(n_head).unwrap_or(0);
    let rope_dim = gguf.usize("llama.rope.dimension_count")?;
    let consistent = n_kv_head > 0
        && head_dim > 0
        && n_head % n_kv_head == 0
        && head_dim * n_head == d_model
        && rope_dim == head_dim
        && head_dim % 2 == 0;
    if !consistent {
        return Err(InferError::GgufMetadata {
            key: "llama.attention.head_count",
            reason: format!(
                "{n_head} heads, {n_kv_head} kv heads, width {d_model}, rope {rope_dim}"
            ),
        });
    }
    Ok(LlamaConfig {
        n_layer: gguf.usize("llama.block_count")?,
        d_model,
        n_head,
        n_kv_head,
        head_dim,
        rope_base: gguf.f32("llama.rope.freq_base").unwrap_or(10_000.0),
        rms_eps: gguf.f32("llama.attention.layer_norm_rms_epsilon")?,
    })
}

fn read_layer(gguf: &mut GgufFile, i: usize) -> Result<Layer, InferError> {
    let mut t = |name: &str| tensor(gguf, &format!("blk.{i}.{name}.weight"));
    Ok(Layer {
        attn_norm: t("attn_norm")?,
        wq: t("attn_q")?,
        wk: t("attn_k")?,
        wv: t("attn_v")?,
        wo: t("attn_output")?,
        ffn_norm: t("ffn_norm")?,
        gate: t("ffn_gate")?,
        up: t("ffn_up")?,
        down: t("ffn_down")?,
    })
}

/// One tensor of the file, dequantized to f32, in candle's `(rows, columns)` order.
fn tensor(gguf: &mut GgufFile, name: &str) -> Result<Tensor, InferError> {
    let q = gguf
        .content
        .tensor(&mut gguf.reader, name, &Device::Cpu)
        .map_err(|source| InferError::Gguf {
            path: gguf.path.clone(),
            source,
        })?;
    Ok(q.dequantize(&Device::Cpu)?.to_dtype(DType::F32)?)
}

/// Largest logit and the claimed token's logit per row of `logits` `(rows, vocab)`.
pub(crate) fn max_and_claimed(
    logits: &Tensor,
    claimed: &[u32],
) -> Result<Vec<(f32, f32)>, InferError> {
    let max: Vec<f32> = logits.max(D::Minus1)?.to_vec1()?;
    let index = Tensor::new(claimed, &Device::Cpu)?.unsqueeze(1)?;
    let picked: Vec<f32> = logits.gather(&index, 1)?.squeeze(1)?.to_vec1()?;
    Ok(max.into_iter().zip(picked).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causal_mask_hides_later_keys() {
        assert!(causal_mask(1, 5).unwrap().is_none());
        let m: Vec<Vec<f32>> = causal_mask(2, 1).unwrap().unwrap().to_vec2().unwrap();
        let inf = f32::NEG_INFINITY;
        assert_eq!(m, vec![vec![0.0, 0.0, inf], vec![0.0, 0.0, 0.0]]);
    }

    #[test]
    fn repeat_heads_repeats_each_head_in_place() {
        let x = Tensor::new(&[[[1f32]], [[2f32]]], &Device::Cpu).unwrap();
        let r: Vec<f32> = repeat_heads(&x, 3)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(r, vec![1.0, 1.0, 1.0, 2.0, 2.0, 2.0]);
    }

    #[test]
    fn rope_table_starts_at_angle_zero() {
        let (cos, sin) = rope_table(4, 10_000.0).unwrap();
        assert_eq!(cos.dims(), [MAX_CONTEXT, 2]);
        let c: Vec<f32> = cos.get(0).unwrap().to_vec1().unwrap();
        let s: Vec<f32> = sin.get(1).unwrap().to_vec1().unwrap();
        assert_eq!(c, vec![1.0, 1.0]);
        assert!((s[0] - 1f32.sin()).abs() < 1e-7 && (s[1] - 0.01f32.sin()).abs() < 1e-7);
    }
}
