//! llama.cpp's teacher-forced prefill speed per weight type: the measurement behind the
//! checker's choice of bf16 (`tessera_infer::CHECKER_WEIGHTS`). The shipped GGUF is
//! converted to each type (into `--dir`, kept for reruns), then one batch of N positions
//! with logits at every position after the first 20 is decoded five times per thread count;
//! prints the median.
//!
//! ```text
//! cargo run --release -p tessera-infer --features llama --example prefill_speed -- \
//!     --dir /tmp/prefill --len 130
//! ```
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[cfg(feature = "llama")]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    use std::num::NonZeroU32;
    use std::time::Instant;

    use llama_cpp_2::context::params::LlamaContextParams;
    use llama_cpp_2::llama_batch::LlamaBatch;
    use llama_cpp_2::model::params::LlamaModelParams;
    use llama_cpp_2::model::LlamaModel;
    use llama_cpp_2::token::LlamaToken;
    use tessera_infer::{default_smollm2_gguf, requantize, GgmlDType};

    const UNSCORED: usize = 20;
    const ROUNDS: usize = 5;
    let mut args = std::env::args().skip(1);
    let (mut dir, mut len) = (std::env::temp_dir().join("tessera-prefill"), 130usize);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--dir" => dir = value.into(),
            "--len" => len = value.parse()?,
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    if len <= UNSCORED {
        return Err(format!("--len must be over {UNSCORED}").into());
    }
    std::fs::create_dir_all(&dir)?;
    let source = default_smollm2_gguf();
    let mut files = vec![("q4_1 (as shipped)", source.clone())];
    for (name, dtype) in [
        ("q8_0", GgmlDType::Q8_0),
        ("bf16", GgmlDType::BF16),
        ("f16", GgmlDType::F16),
        ("f32", GgmlDType::F32),
    ] {
        let path = dir.join(format!("smollm2-{name}.gguf"));
        if !path.is_file() {
            let (_, bytes, _) = requantize(&source, dtype)?;
            std::fs::write(&path, bytes.into_inner())?;
        }
        files.push((name, path));
    }
    let backend = tessera_infer::llama_backend()?;
    let n = u32::try_from(len)?;
    for (name, path) in &files {
        let model = LlamaModel::load_from_file(backend, path, &LlamaModelParams::default())?;
        for threads in [1, 2] {
            let mut times = Vec::with_capacity(ROUNDS);
            for _ in 0..ROUNDS {
                let params = LlamaContextParams::default()
                    .with_n_ctx(NonZeroU32::new(n))
                    .with_n_batch(n)
                    .with_n_ubatch(n)
                    .with_n_threads(threads)
                    .with_n_threads_batch(threads);
                let mut ctx = model.new_context(backend, params)?;
                let mut batch = LlamaBatch::new(len, 1);
                for i in 0..len {
                    let id = LlamaToken(i32::try_from(100 + (i * 7919) % 40_000)?);
                    batch.add(id, i32::try_from(i)?, &[0], i >= UNSCORED)?;
                }
                let start = Instant::now();
                ctx.decode(&mut batch)?;
                let sum: f32 = (UNSCORED..len)
                    .map(|i| ctx.get_logits_ith(i as i32)[0])
                    .sum();
                times.push(start.elapsed().as_secs_f64());
                std::hint::black_box(sum);
            }
            times.sort_by(f64::total_cmp);
            let median = times[ROUNDS / 2];
            println!(
                "{name:18} threads {threads}: {len} positions in {:6.1} ms = {:4.0} tok/s",
                median * 1e3,
                len as f64 / median
            );
        }
    }
    Ok(())
}

#[cfg(not(feature = "llama"))]
fn main() {
    eprintln!("prefill_speed measures llama.cpp: build with --features llama");
    std::process::exit(2);
}
