//! Real MiniLM embeddings against known values, plus determinism.
#![cfg(test)]

mod common;

use std::time::Instant;

use tessera_infer::{output_hash, Embedder, InferError, MAX_TOKENS};

const SENTENCE: &str = "a sentence";
const EXPECTED_IDS: [u32; 4] = [101, 1037, 6251, 102];
const EXPECTED_FIRST: [f32; 5] = [0.013387067, 0.13256152, 0.03355545, 0.1001526, -0.027538914];

#[test]
fn a_sentence_has_known_ids_and_values() {
    let Some(e) = common::embedder("a_sentence_has_known_ids_and_values") else {
        return;
    };
    assert_eq!(
        e.token_ids(&[SENTENCE]).unwrap(),
        vec![EXPECTED_IDS.to_vec()]
    );
    let start = Instant::now();
    let v = e.embed(&[SENTENCE]).unwrap().remove(0);
    println!("one embedding took {:?}", start.elapsed());
    assert_eq!(v.len(), 384);
    assert_eq!(e.dim(), 384);
    for (i, (got, want)) in v.iter().zip(EXPECTED_FIRST).enumerate() {
        assert!(
            (got - want).abs() < 1e-6,
            "value {i}: got {got}, want {want}"
        );
    }
    let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
}

#[test]
fn same_input_twice_gives_identical_bytes() {
    let Some(e) = common::embedder("same_input_twice_gives_identical_bytes") else {
        return;
    };
    let a = e.embed(&[SENTENCE]).unwrap();
    let b = e.embed(&[SENTENCE]).unwrap();
    assert_eq!(output_hash(&a[0]), output_hash(&b[0]));
}

#[test]
fn padded_inside_a_batch_equals_alone() {
    let Some(e) = common::embedder("padded_inside_a_batch_equals_alone") else {
        return;
    };
    // Over 16 tokens: padding "a sentence" to this length would change its last bits.
    let long = "a much longer sentence that would force the short one to be padded in the batch, \
                if the embedder padded";
    let batch = e.embed(&[SENTENCE, long, "a phrase"]).unwrap();
    let alone = e.embed(&[SENTENCE]).unwrap();
    let long_alone = e.embed(&[long]).unwrap();
    assert!(e.token_ids(&[long]).unwrap()[0].len() > 16);
    assert_eq!(
        output_hash(&batch[0]),
        output_hash(&alone[0]),
        "padded differs from alone"
    );
    assert_eq!(output_hash(&batch[1]), output_hash(&long_alone[0]));
    // "a phrase" has the same length as "a sentence": they share a forward pass.
    let phrase_alone = e.embed(&["a phrase"]).unwrap();
    assert_eq!(
        e.token_ids(&["a phrase"]).unwrap()[0].len(),
        EXPECTED_IDS.len()
    );
    assert_eq!(output_hash(&batch[2]), output_hash(&phrase_alone[0]));
}

#[test]
fn long_input_is_truncated_and_empty_batch_is_empty() {
    let Some(e) = common::embedder("long_input_is_truncated_and_empty_batch_is_empty") else {
        return;
    };
    let long = "word ".repeat(1000);
    assert_eq!(e.token_ids(&[&long]).unwrap()[0].len(), MAX_TOKENS);
    assert!(e.embed(&[]).unwrap().is_empty());
    let too_many = vec![SENTENCE; tessera_infer::MAX_BATCH_LEN + 1];
    assert!(matches!(
        e.embed(&too_many),
        Err(InferError::BatchTooLarge { .. })
    ));
}

/// Runs in a child process (see `thread_count_does_not_change_bytes`): prints the hash of a
/// small batch's embeddings. A no-op unless the parent set the variable.
#[test]
fn child_print_hashes() {
    if std::env::var("TESSERA_INFER_CHILD").is_err() {
        return;
    }
    let e = Embedder::load(tessera_infer::default_minilm_dir()).unwrap();
    let out = e
        .embed(&[SENTENCE, "another, somewhat longer sentence about models"])
        .unwrap();
    let flat: Vec<f32> = out.concat();
    println!("CHILD_HASH={}", hex::encode(output_hash(&flat)));
}

fn child_hash(threads: &str) -> String {
    common::rerun_in_child("child_print_hashes", threads, "CHILD_HASH=")
}

#[test]
fn thread_count_does_not_change_bytes() {
    if common::minilm_dir("thread_count_does_not_change_bytes").is_none() {
        return;
    }
    let one = child_hash("1");
    let two = child_hash("2");
    assert_eq!(one, two, "1 thread vs 2 threads");
}
