//! Embeddings per second (one input, a batch of 32) and model load time, MiniLM on CPU.
//!
//! Needs the model files (`scripts/fetch-models.sh`); without them it prints a skip line.
//! Threads: candle uses `RAYON_NUM_THREADS` (default: the physical cores); on a shared
//! machine set it to the cores actually free.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tessera_infer::{default_minilm_dir, Embedder, MODEL_FILES};

/// 32 inputs of mixed lengths (4 to ~30 tokens), as a batch of user queries would be.
const SENTENCES: [&str; 8] = [
    "a sentence",
    "How do I stake tokens on a model?",
    "The validator signed the block at height ten.",
    "Which providers serve the small embedding model right now, and at what price per call?",
    "short query",
    "proof of inference for sentence embeddings",
    "Bananas are rich in potassium and grow in warm climates all around the world.",
    "what is a CID",
];

fn bench(c: &mut Criterion) {
    let dir = default_minilm_dir();
    if MODEL_FILES.iter().any(|f| !dir.join(f).is_file()) {
        println!(
            "skipped: embed bench: model files absent in {}; run scripts/fetch-models.sh",
            dir.display()
        );
        return;
    }
    let mut group = c.benchmark_group("minilm");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));

    group.bench_function("load", |b| {
        b.iter(|| black_box(Embedder::load(&dir).unwrap()))
    });

    let embedder = Embedder::load(&dir).unwrap();
    group.throughput(Throughput::Elements(1));
    group.bench_function("embed_single", |b| {
        b.iter(|| black_box(embedder.embed(&[SENTENCES[2]]).unwrap()))
    });

    let batch: Vec<&str> = SENTENCES.iter().copied().cycle().take(32).collect();
    group.throughput(Throughput::Elements(32));
    group.bench_function("embed_batch_32", |b| {
        b.iter(|| black_box(embedder.embed(&batch).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
