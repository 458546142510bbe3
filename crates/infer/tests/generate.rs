//! SmolLM2 generation on candle's Q4_1 kernels, and the teacher-forced check on the f32 path.
//!
//! Outputs are short and computed once per test binary: a few prompts, at most [`MAX_NEW`]
//! tokens (candle unoptimized would take ~1.7 s per token; the workspace's dev profile
//! optimizes dependencies, which brings it to ~0.1 s).
#![cfg(test)]

mod common;

use std::sync::{Mutex, OnceLock};

use tessera_infer::{
    check_generation, tokens_hash, CheckParams, F32Llama, GenerateParams, Generation,
    GenerationReport, Generator, GgmlDType, InferError, KvCache, StopReason, MAX_CONTEXT,
};

/// Honest prompts (one user message each, ChatML).
const PROMPTS: [&str; 5] = [
    "What is the capital of France?",
    "Name three colors.",
    "Write a haiku about the sea.",
    "Explique la photosynthèse en une phrase.",
    "What is 12 times 7?",
];
const MAX_NEW: usize = 16;
/// A short raw prompt (no template) for the determinism runs, and its output length.
const SHORT_PROMPT: &str = "The capital of France is";
const SHORT_NEW: usize = 4;

struct Models {
    generator: Mutex<Generator>,
    checker: F32Llama,
}

fn models(test: &str) -> Option<&'static Models> {
    static MODELS: OnceLock<Models> = OnceLock::new();
    let path = common::smollm2_gguf(test)?;
    Some(MODELS.get_or_init(|| Models {
        generator: Mutex::new(Generator::load(&path).unwrap()),
        checker: F32Llama::load(&path).unwrap(),
    }))
}

/// The Q4_1 generator's answers to [`PROMPTS`], with the pieces it streamed.
fn honest(test: &str) -> Option<&'static [(Generation, Vec<String>)]> {
    static HONEST: OnceLock<Vec<(Generation, Vec<String>)>> = OnceLock::new();
    let m = models(test)?;
    Some(HONEST.get_or_init(|| {
        let mut g = m.generator.lock().unwrap();
        PROMPTS
            .iter()
            .map(|p| {
                let prompt = g.tokenizer().chat_prompt(None, p).unwrap();
                let mut pieces = Vec::new();
                let params = GenerateParams {
                    max_new_tokens: MAX_NEW,
                };
                let out = g
                    .generate(&prompt, &params, |_, s| pieces.push(s.to_owned()))
                    .unwrap();
                println!("{p:?} -> {:?} {:?}", out.text, out.token_ids);
                (out, pieces)
            })
            .collect()
    }))
}

fn check(m: &Models, prompt: &[u32], claimed: &[u32]) -> GenerationReport {
    check_generation(&m.checker, prompt, claimed, &CheckParams::default()).unwrap()
}

#[test]
fn greedy_answer_names_paris_and_streams_its_text() {
    let Some(honest) = honest("greedy_answer_names_paris_and_streams_its_text") else {
        return;
    };
    let (paris, _) = &honest[0];
    assert!(paris.text.contains("Paris"), "{:?}", paris.text);
    assert_eq!(paris.stop, StopReason::Eos, "{paris:?}");
    assert_eq!(paris.token_ids.last(), Some(&2));
    for (out, pieces) in honest {
        assert_eq!(pieces.len(), out.token_ids.len());
        assert_eq!(pieces.concat(), out.text);
        assert_eq!(out.output_hash, tokens_hash(&out.token_ids));
        assert!(out.token_ids.len() <= MAX_NEW);
        assert!(
            out.kernel_path_id.ends_with("/q4_1"),
            "{}",
            out.kernel_path_id
        );
    }
}

/// Runs in a child process (see `generation_is_identical_across_runs_threads_and_processes`);
/// a no-op unless the parent set the variable.
#[test]
fn child_print_generation() {
    if std::env::var("TESSERA_INFER_CHILD").is_err() {
        return;
    }
    let mut g = Generator::load(tessera_infer::default_smollm2_gguf()).unwrap();
    let out = short_generation(&mut g);
    println!(
        "CHILD_OUT={:?} {}",
        out.token_ids,
        hex::encode(out.output_hash)
    );
}

fn short_generation(g: &mut Generator) -> Generation {
    let prompt = g.tokenizer().encode(SHORT_PROMPT).unwrap();
    let params = GenerateParams {
        max_new_tokens: SHORT_NEW,
    };
    g.generate(&prompt, &params, |_, _| {}).unwrap()
}

fn child_output(threads: &str) -> String {
    common::rerun_in_child("child_print_generation", threads, "CHILD_OUT=")
}

#[test]
fn generation_is_identical_across_runs_threads_and_processes() {
    let Some(m) = models("generation_is_identical_across_runs_threads_and_processes") else {
        return;
    };
    let (first, second) = {
        let mut g = m.generator.lock().unwrap();
        (short_generation(&mut g), short_generation(&mut g))
    };
    assert_eq!(first, second, "same prompt twice in one process");
    let here = format!("{:?} {}", first.token_ids, hex::encode(first.output_hash));
    println!("here: {here} ({})", first.kernel_path_id);
    assert_eq!(child_output("1"), here, "1 thread in another process");
    assert_eq!(child_output("2"), here, "2 threads in another process");
}

#[test]
fn f32_path_agrees_with_the_q4_1_path() {
    let Some(m) = models("f32_path_agrees_with_the_q4_1_path") else {
        return;
    };
    let prompt = m.checker.tokenizer().chat_prompt(None, PROMPTS[0]).unwrap();
    let q4 = m
        .generator
        .lock()
        .unwrap()
        .next_token_logits(&prompt)
        .unwrap();
    let logits = m.checker.logits(&prompt, 0).unwrap();
    let f32_last: Vec<f32> = logits.get(prompt.len() - 1).unwrap().to_vec1().unwrap();
    assert_eq!(q4.len(), f32_last.len());
    let diff = q4
        .iter()
        .zip(&f32_last)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    println!("first-step logits, Q4_1 vs f32: max abs diff {diff}");
    // Same weights, different arithmetic (Q4_1 × Q8_1 dot products vs f32): measured 0.58 here.
    assert!(diff < 1.5, "max abs diff {diff}");

    // Batched and incremental (KV cache) f32 passes agree.
    let mut cache = KvCache::default();
    m.checker.hidden(&prompt[..10], &mut cache, 0).unwrap();
    let tail = m.checker.hidden(&prompt[10..], &mut cache, 0).unwrap();
    let tail_last: Vec<f32> = m
        .checker
        .head(&tail)
        .unwrap()
        .get(prompt.len() - 11)
        .unwrap()
        .to_vec1()
        .unwrap();
    let kv_diff = tail_last
        .iter()
        .zip(&f32_last)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    println!("f32 batched vs KV cache: max abs diff {kv_diff}");
    assert!(kv_diff < 1e-3, "{kv_diff}");
}

#[test]
fn honest_outputs_pass_the_check() {
    let test = "honest_outputs_pass_the_check";
    let (Some(m), Some(honest)) = (models(test), honest(test)) else {
        return;
    };
    let mut agreeing = 0;
    for (out, _) in honest {
        let r = check(m, &out.prompt_ids, &out.token_ids);
        // Leading positions where the Q4_1 token is also the f32 path's argmax.
        let same = r.margins.iter().take_while(|x| **x == 0.0).count();
        println!(
            "honest {:?}: max margin {}, f32 greedy agrees for {same}/{} tokens, margins {:?}",
            out.text,
            r.max_margin,
            r.margins.len(),
            r.margins
        );
        agreeing += usize::from(same >= 3.min(r.margins.len()));
        assert!(r.passed, "{r:?}");
    }
    assert!(
        agreeing >= 2,
        "f32 greedy left the Q4_1 answer early for most prompts"
    );
}

#[test]
fn cheats_fail_the_check() {
    let test = "cheats_fail_the_check";
    let (Some(m), Some(honest)) = (models(test), honest(test)) else {
        return;
    };
    let mut smallest = f32::INFINITY;
    let mut expect_fail = |what: &str, prompt: &[u32], claimed: &[u32]| {
        let r = check(m, prompt, claimed);
        println!(
            "{what}: max margin {}, failing {}/{}",
            r.max_margin,
            r.failing,
            r.margins.len()
        );
        assert!(!r.passed, "{what} passed: {r:?}");
        smallest = smallest.min(r.max_margin);
    };
    let (a, b) = (&honest[0].0, &honest[1].0);

    // Random tokens, seeded (xorshift) so a failure replays.
    let seed = 0x7e55e7a_u64;
    let random = common::random_tokens(seed, MAX_NEW);
    expect_fail(
        &format!("random tokens (seed {seed:#x})"),
        &a.prompt_ids,
        &random,
    );

    // Another prompt's (honest) answer.
    expect_fail("answer to another prompt", &a.prompt_ids, &b.token_ids);
    expect_fail("answer to another prompt", &b.prompt_ids, &a.token_ids);

    // The model with its last 2 of 30 layers skipped (saves 7% of the compute).
    let params = GenerateParams {
        max_new_tokens: MAX_NEW,
    };
    let skipped = m.checker.generate(&a.prompt_ids, &params, 2).unwrap();
    println!("skip-2 answer: {:?}", skipped.text);
    expect_fail("last 2 layers skipped", &a.prompt_ids, &skipped.token_ids);
    println!("smallest cheat max margin: {smallest}");
}

#[test]
fn bad_inputs_are_typed_errors() {
    let Some(m) = models("bad_inputs_are_typed_errors") else {
        return;
    };
    let c = &m.checker;
    let p = CheckParams::default();
    let err = |r: Result<GenerationReport, InferError>| r.unwrap_err();
    assert!(matches!(
        err(check_generation(c, &[1], &[], &p)),
        InferError::EmptyClaim
    ));
    assert!(matches!(
        err(check_generation(c, &[], &[1], &p)),
        InferError::EmptyPrompt
    ));
    assert!(matches!(
        err(check_generation(c, &[1], &[49152], &p)),
        InferError::TokenOutOfVocab { id: 49152, .. }
    ));
    assert!(matches!(
        err(check_generation(c, &[u32::MAX], &[1], &p)),
        InferError::TokenOutOfVocab { .. }
    ));
    let long = vec![1u32; MAX_CONTEXT];
    assert!(matches!(
        err(check_generation(c, &long, &[1], &p)),
        InferError::ContextTooLong { .. }
    ));
    let bad = CheckParams {
        delta: -1.0,
        epsilon: 0.0,
    };
    assert!(matches!(
        err(check_generation(c, &[1], &[1], &bad)),
        InferError::InvalidCheckParams { .. }
    ));
    assert!(matches!(
        c.logits(&[1, 2], 30).unwrap_err(),
        InferError::InvalidSkipLayers {
            skip: 30,
            layers: 30
        }
    ));

    let mut g = m.generator.lock().unwrap();
    let params = |max_new_tokens| GenerateParams { max_new_tokens };
    let gen_err = |r: Result<Generation, InferError>| r.unwrap_err();
    assert!(matches!(
        gen_err(g.generate(&[1], &params(0), |_, _| {})),
        InferError::InvalidMaxNewTokens { .. }
    ));
    assert!(matches!(
        gen_err(g.generate(&[], &params(1), |_, _| {})),
        InferError::EmptyPrompt
    ));
    assert!(matches!(
        gen_err(g.generate(&long, &params(1), |_, _| {})),
        InferError::ContextTooLong { .. }
    ));
    assert!(matches!(
        gen_err(g.generate(&[1, 60000], &params(1), |_, _| {})),
        InferError::TokenOutOfVocab { id: 60000, .. }
    ));
}

#[test]
fn layer_noise_is_seeded_and_leaves_the_original_alone() {
    let test = "layer_noise_is_seeded_and_leaves_the_original_alone";
    let Some(m) = models(test) else {
        return;
    };
    let ids = m.checker.tokenizer().encode(SHORT_PROMPT).unwrap();
    let logits = |model: &F32Llama| -> Vec<f32> {
        let l = model.logits(&ids, 0).unwrap();
        l.get(ids.len() - 1).unwrap().to_vec1().unwrap()
    };
    let original = logits(&m.checker);
    let seed = 0x5eed_u64;
    let zero = m.checker.with_layer_noise(15, 0.0, seed).unwrap();
    assert_eq!(logits(&zero), original, "zero noise changed the logits");
    let a = logits(&m.checker.with_layer_noise(15, 0.5, seed).unwrap());
    let b = logits(&m.checker.with_layer_noise(15, 0.5, seed).unwrap());
    assert_eq!(a, b, "noise with seed {seed:#x} is not reproducible");
    assert_ne!(a, original, "50% noise on layer 15 changed nothing");
    assert_eq!(
        logits(&m.checker),
        original,
        "the original model was modified"
    );
    assert!(matches!(
        m.checker.with_layer_noise(30, 0.1, seed),
        Err(InferError::InvalidNoise { layer: 30, .. })
    ));
}

#[test]
fn q2k_substitute_fails_the_check() {
    let test = "q2k_substitute_fails_the_check";
    let (Some(m), Some(path)) = (models(test), common::smollm2_gguf(test)) else {
        return;
    };
    let (mut substitute, report) = Generator::load_requantized(&path, GgmlDType::Q2K).unwrap();
    // Only the FFN down projections (rows of 1536) fit Q2_K's 256-value blocks.
    assert_eq!(report.converted.len(), 30, "{:?}", report.converted);
    assert!(report
        .converted
        .iter()
        .all(|n| n.ends_with("ffn_down.weight")));
    let prompt = substitute
        .tokenizer()
        .chat_prompt(None, PROMPTS[2])
        .unwrap();
    let params = GenerateParams {
        max_new_tokens: MAX_NEW,
    };
    let claim = substitute.generate(&prompt, &params, |_, _| {}).unwrap();
    assert!(
        claim.kernel_path_id.ends_with("q4_1+requant-q2k"),
        "{}",
        claim.kernel_path_id
    );
    let r = check(m, &prompt, &claim.token_ids);
    println!(
        "Q2_K substitute: max margin {}, failing {}",
        r.max_margin, r.failing
    );
    assert!(!r.passed, "the Q2_K substitute passed: {r:?}");
}
