//! SmolLM2 generation and checking speed on CPU: tokens per second generated and prefilled on
//! candle's Q4_1 path and on the f32 checker path, and the check of a ~30-token answer
//! against the time it took to generate. With `--features llama` also llama.cpp's
//! generation (the serving path) and the llama.cpp bf16 check of the same answer
//! (`llama_generate`, `llama_bf16_check`; threads: `TESSERA_BENCH_THREADS`, default 1).
//!
//! Needs the GGUF (`scripts/fetch-models.sh`); without it it prints a skip line.
//! Threads: candle uses `RAYON_NUM_THREADS` (default: the physical cores); on a shared
//! machine set it to the cores actually free, as threads that spin while another process
//! holds the core slow everything down many times.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tessera_infer::{
    check_generation, default_smollm2_gguf, CheckParams, F32Llama, GenerateParams, Generator,
};

/// A prompt whose greedy answer runs past [`ANSWER_TOKENS`] without stopping.
const PROMPT: &str =
    "Write a short story about a lighthouse keeper who finds a message in a bottle.";
const ANSWER_TOKENS: usize = 30;
/// A longer prompt for prefill speed (~60 tokens with the template).
const LONG_PROMPT: &str = "Summarize the following in one sentence: The validator network checks \
    each provider's answers by re-running a sample of requests with the same model, comparing \
    the claimed tokens with its own logits, and reporting providers whose answers differ by \
    more than honest numeric noise would explain.";

fn bench(c: &mut Criterion) {
    let path = default_smollm2_gguf();
    if !path.is_file() {
        println!(
            "skipped: generate bench: {} absent; run scripts/fetch-models.sh",
            path.display()
        );
        return;
    }
    let mut generator = Generator::load(&path).unwrap();
    let checker = F32Llama::load(&path).unwrap();
    let tokenizer = generator.tokenizer();
    let prompt = tokenizer.chat_prompt(None, PROMPT).unwrap();
    let long_prompt = tokenizer.chat_prompt(None, LONG_PROMPT).unwrap();
    let params = GenerateParams {
        max_new_tokens: ANSWER_TOKENS,
    };
    let answer = generator.generate(&prompt, &params, |_, _| {}).unwrap();
    let n = answer.token_ids.len();
    println!(
        "prompt {} tokens, long prompt {} tokens, answer {n} tokens: {:?}",
        prompt.len(),
        long_prompt.len(),
        answer.text
    );

    let mut group = c.benchmark_group("smollm2");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(15));

    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("q4_1_generate", |b| {
        b.iter(|| black_box(generator.generate(&prompt, &params, |_, _| {}).unwrap()))
    });
    group.bench_function("f32_generate", |b| {
        b.iter(|| black_box(checker.generate(&prompt, &params, 0).unwrap()))
    });
    group.bench_function("f32_check", |b| {
        b.iter(|| {
            let r = check_generation(
                &checker,
                &prompt,
                &answer.token_ids,
                &CheckParams::default(),
            );
            black_box(r.unwrap())
        })
    });

    group.throughput(Throughput::Elements(long_prompt.len() as u64));
    group.bench_function("q4_1_prefill", |b| {
        b.iter(|| black_box(generator.next_token_logits(&long_prompt).unwrap()))
    });
    let one = GenerateParams { max_new_tokens: 1 };
    group.bench_function("f32_prefill", |b| {
        b.iter(|| black_box(checker.generate(&long_prompt, &one, 0).unwrap()))
    });
    #[cfg(feature = "llama")]
    llama(&mut group, &path, &prompt, &answer.token_ids, n);
    group.finish();
}

/// The serving path's generation of the answer and the llama.cpp checker's check of it.
#[cfg(feature = "llama")]
fn llama(
    group: &mut criterion::BenchmarkGroup<criterion::measurement::WallTime>,
    path: &std::path::Path,
    prompt: &[u32],
    answer: &[u32],
    n: usize,
) {
    use tessera_infer::{LlamaChecker, LlamaGenerator};
    let threads = std::env::var("TESSERA_BENCH_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(1);
    let mut server = LlamaGenerator::load(path).unwrap().with_threads(threads);
    let checker = LlamaChecker::load(path).unwrap().with_threads(threads);
    let params = GenerateParams { max_new_tokens: n };
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("llama_generate", |b| {
        b.iter(|| black_box(server.generate(prompt, &params, |_, _| {}).unwrap()))
    });
    group.bench_function("llama_bf16_check", |b| {
        b.iter(|| {
            let r = check_generation(&checker, prompt, answer, &CheckParams::default());
            black_box(r.unwrap())
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
