//! The llama.cpp serving path (feature `llama`): same answers as our own API promises
//! (greedy, EOS kept, streamed pieces), identical across thread counts and processes on
//! one kernel path, and its honest answers pass the f32 checker.

#![cfg(feature = "llama")]

mod common;

use std::sync::{Mutex, OnceLock};

use tessera_infer::{
    check_generation, tokens_hash, CheckParams, F32Llama, GenerateParams, Generation,
    LlamaGenerator, StopReason,
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
