//! Deliberate cheats, to calibrate and test the generation check against: Gaussian noise on
//! one layer's weights, and the model requantized to a lower precision.
//!
//! Nothing here is used to serve or to check; it exists so that the thresholds of
//! [`crate::check_generation`] are measured against the compute-saving cheats DESIGN.md names
//! ("Proof of inference").
//!
//! # Invariants
//! * Noise is a pure function of (tensor, relative std, seed): the same inputs give the same
//!   weights on every machine (own SplitMix64 + Box–Muller in f64, no platform RNG).
//! * [`F32Llama::with_layer_noise`] changes only the seven weight matrices of one layer; every
//!   other tensor is shared with the original model, which is left untouched.
//! * Requantization only touches 2-D tensors whose row length is a multiple of the target
//!   type's block size; the others keep their stored type.

use std::io::Cursor;
use std::path::Path;

use candle_core::quantized::gguf_file::{self, Content};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};

use crate::error::InferError;
use crate::gguf::GgufFile;
use crate::llama::F32Llama;

/// A seeded source of standard normal numbers: SplitMix64 feeding Box–Muller.
pub struct GaussianRng {
    state: u64,
}

impl GaussianRng {
    pub fn new(seed: u64) -> Self {
        GaussianRng { state: seed }
    }

    /// The next 64 random bits (SplitMix64).
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1]: never 0, so its logarithm is finite.
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }

    /// Two independent standard normal values.
    pub fn pair(&mut self) -> (f64, f64) {
        let (u1, u2) = (self.uniform(), self.uniform());
        let r = (-2.0 * u1.ln()).sqrt();
        let angle = std::f64::consts::TAU * u2;
        (r * angle.cos(), r * angle.sin())
    }

    /// `n` standard normal values as f32.
    pub fn normals(&mut self, n: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(n.saturating_add(1));
        while out.len() < n {
            let (a, b) = self.pair();
            out.push(a as f32);
            out.push(b as f32);
        }
        out.truncate(n);
        out
    }
}

/// `w + relative_std × std(w) × N(0, 1)`, elementwise, with the noise drawn from `rng`.
pub fn add_relative_noise(
    w: &Tensor,
    relative_std: f32,
    rng: &mut GaussianRng,
) -> Result<Tensor, InferError> {
    let values: Vec<f32> = w.flatten_all()?.to_vec1()?;
    let n = values.len().max(1) as f64;
    let mean = values.iter().map(|v| f64::from(*v)).sum::<f64>() / n;
    let var = values
        .iter()
        .map(|v| (f64::from(*v) - mean).powi(2))
        .sum::<f64>()
        / n;
    let scale = f64::from(relative_std) * var.sqrt();
    let noisy: Vec<f32> = values
        .iter()
        .zip(rng.normals(values.len()))
        .map(|(v, z)| (f64::from(*v) + scale * f64::from(z)) as f32)
        .collect();
    Ok(Tensor::from_vec(noisy, w.shape(), &Device::Cpu)?)
}

impl F32Llama {
    /// A copy of this model whose layer `layer` has Gaussian noise of `relative_std` times
    /// each weight matrix's own standard deviation added to its seven weight matrices (Q, K,
    /// V, O, gate, up, down; the norms are left alone). The "tampered weights" cheat.
    pub fn with_layer_noise(
        &self,
        layer: usize,
        relative_std: f32,
        seed: u64,
    ) -> Result<F32Llama, InferError> {
        let layers = self.layers.len();
        if layer >= layers || !relative_std.is_finite() || relative_std < 0.0 {
            return Err(InferError::InvalidNoise {
                layer,
                layers,
                relative_std,
            });
        }
        let mut rng = GaussianRng::new(seed ^ (layer as u64).wrapping_mul(0x100_0000_01B3));
        let mut model = self.clone();
        if let Some(l) = model.layers.get_mut(layer) {
            for w in [
                &mut l.wq,
                &mut l.wk,
                &mut l.wv,
                &mut l.wo,
                &mut l.gate,
                &mut l.up,
                &mut l.down,
            ] {
                *w = add_relative_noise(w, relative_std, &mut rng)?;
            }
        }
        Ok(model)
    }
}

/// What [`requantize`] did: tensors converted and kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequantizeReport {
    pub converted: Vec<String>,
    pub kept: Vec<String>,
}

/// Reads the GGUF at `path` and writes it again in memory with every 2-D weight whose row
/// length allows it requantized to `target` (from its dequantized values). Returns the new
/// file's header, a reader over its bytes, and which tensors changed.
pub fn requantize(
    path: impl AsRef<Path>,
    target: GgmlDType,
) -> Result<(Content, Cursor<Vec<u8>>, RequantizeReport), InferError> {
    let mut gguf = GgufFile::open(path)?;
    let mut names: Vec<String> = gguf.content.tensor_infos.keys().cloned().collect();
    names.sort();
    let mut report = RequantizeReport::default();
    let mut tensors = Vec::with_capacity(names.len());
    for name in &names {
        let q = gguf
            .content
            .tensor(&mut gguf.reader, name, &Device::Cpu)
            .map_err(|source| InferError::Gguf {
                path: gguf.path.clone(),
                source,
            })?;
        let dims = q.shape().dims().to_vec();
        let fits = dims.len() == 2
            && dims.last().is_some_and(|d| d % target.block_size() == 0)
            && name != "token_embd.weight";
        if fits {
            let f = q.dequantize(&Device::Cpu)?.to_dtype(DType::F32)?;
            tensors.push(QTensor::quantize(&f, target)?);
            report.converted.push(name.clone());
        } else {
            tensors.push(q);
            report.kept.push(name.clone());
        }
    }
    let mut metadata: Vec<(&str, &gguf_file::Value)> = gguf
        .content
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    metadata.sort_by_key(|(k, _)| *k);
    let pairs: Vec<(&str, &QTensor)> = names.iter().map(String::as_str).zip(&tensors).collect();
    let mut bytes = Cursor::new(Vec::new());
    gguf_file::write(&mut bytes, &metadata, &pairs)?;
    bytes.set_position(0);
    let content = Content::read(&mut bytes)?;
    Ok((content, bytes, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normals_are_seeded_and_standard() {
        let a = GaussianRng::new(7).normals(20_001);
        assert_eq!(a, GaussianRng::new(7).normals(20_001));
        assert_ne!(a, GaussianRng::new(8).normals(20_001));
        let n = a.len() as f64;
        let mean = a.iter().map(|v| f64::from(*v)).sum::<f64>() / n;
        let var = a
            .iter()
            .map(|v| (f64::from(*v) - mean).powi(2))
            .sum::<f64>()
            / n;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
    }

    #[test]
    fn noise_is_relative_to_the_tensor_std() {
        let w: Vec<f32> = GaussianRng::new(1)
            .normals(10_000)
            .iter()
            .map(|v| 3.0 * v)
            .collect();
        let w = Tensor::from_vec(w, (100, 100), &Device::Cpu).unwrap();
        let noisy = add_relative_noise(&w, 0.1, &mut GaussianRng::new(2)).unwrap();
        let d: Vec<f32> = (noisy - &w)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let std = (d.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / d.len() as f64).sqrt();
        // 0.1 × std(w) ≈ 0.1 × 3.
        assert!((std - 0.3).abs() < 0.02, "{std}");
        let same = add_relative_noise(&w, 0.0, &mut GaussianRng::new(2)).unwrap();
        assert_eq!(
            same.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            w.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        );
    }
}
