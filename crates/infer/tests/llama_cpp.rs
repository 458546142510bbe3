//! The llama.cpp serving path (feature `llama`): same answers as our own API promises
//! (greedy, EOS kept, streamed pieces), identical across thread counts and processes on
//! one kernel path, and its honest answers pass the f32 checker. And the llama.cpp checker
//! (bf16 weights): honest answers from other kernel paths pass, cheats fail, its margins
//! agree with the f32 checker's, and its converted weights are cached by the source's CID.
#![cfg(test)]
#![cfg(feature = "llama")]

mod common;

use std::sync::{Mutex, OnceLock};

use tessera_infer::{
    check_generation, tokens_hash, CheckParams, F32Llama, GenerateParams, Generation,
    GenerationReport, Generator, InferError, LlamaChecker, LlamaGenerator, StopReason,
    TeacherForcing, CHECKER_WEIGHTS_NAME, MAX_CONTEXT,
};

const PROMPTS: [&str; 4] = [
    "What is the capital of France?",
    "Name three colors.",
    "Write a haiku about the sea.",
    "What is 12 times 7?",
];
const MAX_NEW: usize = 24;

fn generator(test: &str) -> Option<&'static Mutex<LlamaGenerator>> {
    static GENERATOR: OnceLock<Mutex<LlamaGenerator>> = OnceLock::new();
    let path = common::smollm2_gguf(test)?;
    Some(GENERATOR.get_or_init(|| Mutex::new(LlamaGenerator::load(path).unwrap())))
}

fn answer(g: &mut LlamaGenerator, prompt: &str) -> (Generation, Vec<String>) {
    let ids = g.tokenizer().chat_prompt(None, prompt).unwrap();
    let mut pieces = Vec::new();
    let params = GenerateParams {
        max_new_tokens: MAX_NEW,
    };
    let out = g
        .generate(&ids, &params, |_, s| pieces.push(s.to_owned()))
        .unwrap();
    (out, pieces)
}

#[test]
fn llama_cpp_answers_stream_and_pass_the_check() {
    let Some(g) = generator("llama_cpp_answers_stream_and_pass_the_check") else {
        return;
    };
    let checker = F32Llama::load(common::smollm2_gguf("checker").unwrap()).unwrap();
    let mut g = g.lock().unwrap();
    for prompt in PROMPTS {
        let (out, pieces) = answer(&mut g, prompt);
        println!("{prompt:?} -> {:?} ({})", out.text, out.kernel_path_id);
        assert_eq!(pieces.concat(), out.text);
        assert_eq!(pieces.len(), out.token_ids.len());
        assert_eq!(out.output_hash, tokens_hash(&out.token_ids));
        assert!(out.kernel_path_id.starts_with("llama.cpp-"));
        assert!(out.kernel_path_id.ends_with("/q4_1"));
        if out.stop == StopReason::Eos {
            assert_eq!(out.token_ids.last(), Some(&2));
        }
        let report = check_generation(
            &checker,
            &out.prompt_ids,
            &out.token_ids,
            &CheckParams::default(),
        )
        .unwrap();
        assert!(report.passed, "{prompt:?}: {report:?}");
    }
    let (paris, _) = answer(&mut g, PROMPTS[0]);
    assert!(paris.text.contains("Paris"), "{:?}", paris.text);
}

/// Runs in a child process; a no-op unless the parent set the variable.
#[test]
fn child_print_llama_generation() {
    if std::env::var("TESSERA_INFER_CHILD").is_err() {
        return;
    }
    let threads: usize = std::env::var("TESSERA_INFER_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(1);
    let mut g = LlamaGenerator::load(tessera_infer::default_smollm2_gguf())
        .unwrap()
        .with_threads(threads);
    let (out, _) = answer(&mut g, PROMPTS[2]);
    println!(
        "CHILD_OUT={:?} {}",
        out.token_ids,
        hex::encode(out.output_hash)
    );
}

#[test]
fn llama_cpp_is_identical_across_threads_and_processes() {
    let Some(g) = generator("llama_cpp_is_identical_across_threads_and_processes") else {
        return;
    };
    let here = {
        let mut g = g.lock().unwrap();
        let (first, _) = answer(&mut g, PROMPTS[2]);
        let (second, _) = answer(&mut g, PROMPTS[2]);
        assert_eq!(first, second, "same prompt twice in one process");
        format!("{:?} {}", first.token_ids, hex::encode(first.output_hash))
    };
    let child = |threads: &str| {
        common::rerun_in_child_with_env(
            "child_print_llama_generation",
            threads,
            "CHILD_OUT=",
            &[("TESSERA_INFER_THREADS", threads)],
        )
    };
    assert_eq!(child("1"), here, "1 thread in another process");
    assert_eq!(child("2"), here, "2 threads in another process");
}

/// The llama.cpp checker (converted weights in the default cache) and the f32 one.
fn checkers(test: &str) -> Option<&'static (LlamaChecker, F32Llama)> {
    static CHECKERS: OnceLock<(LlamaChecker, F32Llama)> = OnceLock::new();
    let path = common::smollm2_gguf(test)?;
    Some(CHECKERS.get_or_init(|| {
        (
            LlamaChecker::load(&path).unwrap(),
            F32Llama::load(&path).unwrap(),
        )
    }))
}

fn check(checker: &dyn TeacherForcing, prompt: &[u32], claimed: &[u32]) -> GenerationReport {
    check_generation(checker, prompt, claimed, &CheckParams::default()).unwrap()
}

#[test]
fn llama_checker_passes_honest_answers_from_other_paths() {
    let test = "llama_checker_passes_honest_answers_from_other_paths";
    let (Some(g), Some((checker, f32_checker))) = (generator(test), checkers(test)) else {
        return;
    };
    let id = checker.kernel_path_id();
    assert!(
        id.starts_with("llama.cpp-") && id.ends_with(&format!("/{CHECKER_WEIGHTS_NAME}")),
        "{id}"
    );
    let mut candle = Generator::load(common::smollm2_gguf(test).unwrap()).unwrap();
    let params = GenerateParams {
        max_new_tokens: MAX_NEW,
    };
    let mut g = g.lock().unwrap();
    for prompt in PROMPTS {
        let (served, _) = answer(&mut g, prompt);
        let ids = &served.prompt_ids;
        let claims = [
            ("llama.cpp q4_1", served.token_ids.clone()),
            (
                "candle q4_1",
                candle.generate(ids, &params, |_, _| {}).unwrap().token_ids,
            ),
            (
                "candle f32",
                f32_checker.generate(ids, &params, 0).unwrap().token_ids,
            ),
        ];
        for (path, claimed) in claims {
            let r = check(checker, ids, &claimed);
            let reference = check(f32_checker, ids, &claimed);
            println!(
                "{prompt:?} {path}: max margin {} (f32 checker {})",
                r.max_margin, reference.max_margin
            );
            assert!(r.passed, "{prompt:?} {path}: {r:?}");
            // The two checkers see the same model: margins differ by rounding only.
            for (a, b) in r.margins.iter().zip(&reference.margins) {
                assert!(
                    (a - b).abs() < 0.5,
                    "{prompt:?} {path}: {r:?} vs {reference:?}"
                );
            }
        }
    }
    // Same claim twice, and on 1 and 2 threads: the same margins, bit for bit (validators on
    // one kernel path reach the same verdict).
    let (served, _) = answer(&mut g, PROMPTS[2]);
    let once = check(checker, &served.prompt_ids, &served.token_ids);
    let again = check(checker, &served.prompt_ids, &served.token_ids);
    assert_eq!(once, again);
    let path = common::smollm2_gguf(test).unwrap();
    for threads in [1, 2] {
        let other = LlamaChecker::load(&path).unwrap().with_threads(threads);
        let r = check(&other, &served.prompt_ids, &served.token_ids);
        assert_eq!(r, once, "{threads} thread(s)");
    }
}

#[test]
fn llama_checker_fails_cheats() {
    let test = "llama_checker_fails_cheats";
    let (Some(g), Some((checker, f32_model))) = (generator(test), checkers(test)) else {
        return;
    };
    let (a, b) = {
        let mut g = g.lock().unwrap();
        (answer(&mut g, PROMPTS[0]).0, answer(&mut g, PROMPTS[2]).0)
    };
    let params = GenerateParams {
        max_new_tokens: MAX_NEW,
    };
    let random = common::random_tokens(0x5eed, MAX_NEW);
    let cheats = [
        (
            "last 4 layers skipped",
            &a.prompt_ids,
            f32_model
                .generate(&a.prompt_ids, &params, 4)
                .unwrap()
                .token_ids,
        ),
        (
            "answer to another prompt",
            &a.prompt_ids,
            b.token_ids.clone(),
        ),
        (
            "answer to another prompt",
            &b.prompt_ids,
            a.token_ids.clone(),
        ),
        ("random tokens (seed 0x5eed)", &b.prompt_ids, random),
    ];
    for (what, prompt, claimed) in cheats {
        let r = check(checker, prompt, &claimed);
        println!(
            "{what}: max margin {}, failing {}/{}",
            r.max_margin,
            r.failing,
            r.margins.len()
        );
        assert!(!r.passed, "{what} passed: {r:?}");
    }
}

#[test]
fn llama_checker_refuses_bad_input() {
    let Some((checker, _)) = checkers("llama_checker_refuses_bad_input") else {
        return;
    };
    let p = CheckParams::default();
    let out_of_vocab = check_generation(checker, &[1, 2, 3], &[49_152], &p);
    assert!(
        matches!(out_of_vocab, Err(InferError::TokenOutOfVocab { .. })),
        "{out_of_vocab:?}"
    );
    let too_long = vec![1u32; MAX_CONTEXT];
    let r = check_generation(checker, &too_long, &[2], &p);
    assert!(matches!(r, Err(InferError::ContextTooLong { .. })), "{r:?}");
    assert!(matches!(
        check_generation(checker, &[], &[2], &p),
        Err(InferError::EmptyPrompt)
    ));
    // A claim longer than one decode batch is scored at every position.
    let long: Vec<u32> = (0..300).map(|i| 100 + i).collect();
    let r = check_generation(checker, &[1, 9, 2], &long, &p).unwrap();
    assert_eq!(r.margins.len(), long.len());
    assert!(!r.passed);
}

#[test]
fn llama_checker_caches_converted_weights_by_cid() {
    let Some(path) = common::smollm2_gguf("llama_checker_caches_converted_weights_by_cid") else {
        return;
    };
    let cache = tempfile::tempdir().unwrap();
    // What a crash during an earlier conversion left behind, two hours ago.
    let cid = tessera_blobs::cid_of_file(&path).unwrap();
    let final_name = format!("{cid}.{CHECKER_WEIGHTS_NAME}.gguf");
    let stale = cache.path().join(format!("{final_name}.tmp-4242"));
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::create(&stale)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    let first = LlamaChecker::load_with_cache(&path, cache.path()).unwrap();
    let files = |dir: &std::path::Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };
    let names = files(cache.path());
    assert_eq!(names, vec![final_name], "the stale temporary is gone");
    let converted = cache.path().join(&names[0]);
    let modified = std::fs::metadata(&converted).unwrap().modified().unwrap();
    drop(first);
    let second = LlamaChecker::load_with_cache(&path, cache.path()).unwrap();
    assert_eq!(
        files(cache.path()),
        names,
        "no second file, no temporary left"
    );
    assert_eq!(
        std::fs::metadata(&converted).unwrap().modified().unwrap(),
        modified
    );
    let r = check_generation(&second, &[1, 9, 2], &[2], &CheckParams::default()).unwrap();
    assert_eq!(r.margins.len(), 1);
}
