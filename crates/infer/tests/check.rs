//! The tolerant check on real embeddings.
#![cfg(test)]

mod common;

use tessera_infer::{check_embedding, DEFAULT_COSINE_THRESHOLD};

const INPUT: &str = "The validator signed the block at height ten.";

#[test]
fn honest_claim_passes() {
    let Some(e) = common::embedder("honest_claim_passes") else {
        return;
    };
    let claimed = e.embed(&[INPUT]).unwrap().remove(0);
    let r = check_embedding(e, INPUT, &claimed, DEFAULT_COSINE_THRESHOLD).unwrap();
    assert!(r.passed && r.cosine > 0.999_999, "{r:?}");
    // A claim perturbed in the last bits (another CPU path) still passes.
    let nudged: Vec<f32> = claimed.iter().map(|v| v * (1.0 + 1e-6)).collect();
    assert!(
        check_embedding(e, INPUT, &nudged, DEFAULT_COSINE_THRESHOLD)
            .unwrap()
            .passed
    );
}

#[test]
fn another_sentences_vector_fails() {
    let Some(e) = common::embedder("another_sentences_vector_fails") else {
        return;
    };
    for other in [
        "Bananas are rich in potassium.",
        "The validator signed the block at height eleven.",
    ] {
        let claimed = e.embed(&[other]).unwrap().remove(0);
        let r = check_embedding(e, INPUT, &claimed, DEFAULT_COSINE_THRESHOLD).unwrap();
        println!("cosine with {other:?}: {}", r.cosine);
        assert!(!r.passed, "{other:?}: {r:?}");
    }
}

#[test]
fn random_vector_fails() {
    let Some(e) = common::embedder("random_vector_fails") else {
        return;
    };
    // Seeded xorshift so a failure replays; seed printed.
    let seed = 0x5eed_u64;
    let mut state = seed;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let mut v: Vec<f32> = (0..e.dim()).map(|_| next()).collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= norm);
    let r = check_embedding(e, INPUT, &v, DEFAULT_COSINE_THRESHOLD).unwrap();
    assert!(!r.passed && r.cosine.abs() < 0.3, "seed {seed:#x}: {r:?}");
}
