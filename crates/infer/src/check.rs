//! The tolerant check of a claimed embedding: recompute it and compare by cosine.
//!
//! Exact comparison (of [`crate::output_hash`]) is only sound between equal
//! [`crate::kernel_path_id`]s; across CPUs the checker's own vector differs in the last bits,
//! so it accepts a claim whose cosine with its own vector is at least a threshold.
//!
//! **Starting threshold: [`DEFAULT_COSINE_THRESHOLD`] = 0.999.** Honest vectors from another
//! CPU path differ by ~1e-7 per value (cosine ≈ 1 − 1e-12); vectors of different sentences
//! score far lower (the unrelated and near-paraphrase cases tested here are below 0.95), and a
//! random vector in 384 dimensions scores ~0 ± 0.05. Cosine ignores length, so a claim is
//! also refused unless its L2 norm is within [`NORM_TOLERANCE`] of 1 (outputs are normalized).

use crate::embed::Embedder;
use crate::error::InferError;

/// Starting cosine threshold for MiniLM embeddings; tune with measurements across CPUs.
pub const DEFAULT_COSINE_THRESHOLD: f64 = 0.999;
/// How far a claimed vector's L2 norm may be from 1.
pub const NORM_TOLERANCE: f64 = 1e-3;

/// Outcome of checking one claimed embedding.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Report {
    /// Cosine between the claimed vector and the checker's; −1 for a malformed claim (wrong
    /// length, a non-finite value or a zero vector).
    pub cosine: f64,
    /// `cosine >= threshold` and the claimed norm is within [`NORM_TOLERANCE`] of 1.
    pub passed: bool,
}

/// Recomputes the embedding of `input` with `embedder` and compares `claimed` with it.
pub fn check_embedding(
    embedder: &Embedder,
    input: &str,
    claimed: &[f32],
    threshold: f64,
) -> Result<Report, InferError> {
    validate_threshold(threshold)?;
    let reference = embedder.embed(&[input])?;
    let reference = reference.first().map(Vec::as_slice).unwrap_or_default();
    compare(reference, claimed, threshold)
}

/// The comparison alone, for a checker that already has its reference vector.
pub fn compare(reference: &[f32], claimed: &[f32], threshold: f64) -> Result<Report, InferError> {
    validate_threshold(threshold)?;
    let malformed = Report {
        cosine: -1.0,
        passed: false,
    };
    let Some(cos) = cosine(reference, claimed) else {
        return Ok(malformed);
    };
    let norm = claimed
        .iter()
        .map(|v| f64::from(*v) * f64::from(*v))
        .sum::<f64>()
        .sqrt();
    let passed = cos >= threshold && (norm - 1.0).abs() <= NORM_TOLERANCE;
    Ok(Report {
        cosine: cos,
        passed,
    })
}

/// Cosine similarity in f64; `None` when lengths differ, a value is not finite or a vector
/// is zero.
pub fn cosine(a: &[f32], b: &[f32]) -> Option<f64> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    if !a.iter().chain(b).all(|v| v.is_finite()) {
        return None;
    }
    let (mut dot, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        dot += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        return None;
    }
    Some((dot / (aa.sqrt() * bb.sqrt())).clamp(-1.0, 1.0))
}

fn validate_threshold(threshold: f64) -> Result<(), InferError> {
    if threshold.is_finite() && (-1.0..=1.0).contains(&threshold) {
        Ok(())
    } else {
        Err(InferError::InvalidThreshold { threshold })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_unit_vectors_pass() {
        let v = [0.6f32, 0.8];
        let r = compare(&v, &v, DEFAULT_COSINE_THRESHOLD).unwrap();
        assert!(r.passed && (r.cosine - 1.0).abs() < 1e-12, "{r:?}");
    }

    #[test]
    fn orthogonal_fails_and_scaled_fails_on_norm() {
        let r = compare(&[1.0, 0.0], &[0.0, 1.0], 0.999).unwrap();
        assert!(!r.passed && r.cosine.abs() < 1e-12);
        let r = compare(&[0.6, 0.8], &[1.2, 1.6], 0.999).unwrap();
        assert!(!r.passed && r.cosine > 0.999, "scaled vector: {r:?}");
    }

    #[test]
    fn malformed_claims_fail_without_error() {
        for claimed in [&[1.0f32][..], &[f32::NAN, 0.0], &[0.0, 0.0], &[]] {
            let r = compare(&[1.0, 0.0], claimed, 0.9).unwrap();
            assert_eq!(
                r,
                Report {
                    cosine: -1.0,
                    passed: false
                },
                "{claimed:?}"
            );
        }
    }

    #[test]
    fn bad_threshold_is_an_error() {
        for t in [1.5, -1.5, f64::NAN] {
            assert!(compare(&[1.0], &[1.0], t).is_err());
        }
    }
}
