//! The check against generation of the same answer: for each prompt, greedy generation on
//! the serving path (llama.cpp, feature `llama`) is timed, then `check_generation` of that
//! answer (one teacher-forced pass) on the llama.cpp bf16 checker (`--checker llama`, the
//! default) or the candle f32 one (`--checker f32`). Prints the per-prompt ratio and the
//! totals. The checker's weights are converted before timing starts.
//!
//! ```text
//! RAYON_NUM_THREADS=T cargo run --release -p tessera-infer --features llama \
//!     --example check_speed -- --prompts prompts.json --max-tokens N --threads T [--checker f32|llama]
//! ```
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[cfg(feature = "llama")]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    use std::time::Instant;
    use tessera_infer::{
        check_generation, default_smollm2_gguf, CheckParams, F32Llama, GenerateParams,
        LlamaChecker, LlamaGenerator, TeacherForcing,
    };
    let mut args = std::env::args().skip(1);
    let (mut prompts, mut max_tokens, mut threads) = (None, 32usize, 1usize);
    let mut checker_name = "llama".to_owned();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--prompts" => prompts = Some(value),
            "--max-tokens" => max_tokens = value.parse()?,
            "--threads" => threads = value.parse()?,
            "--checker" => checker_name = value,
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    let prompts: Vec<Vec<u32>> = serde_json::from_str(&std::fs::read_to_string(
        prompts.ok_or("--prompts is required")?,
    )?)?;
    let model = default_smollm2_gguf();
    let mut server = LlamaGenerator::load(&model)?.with_threads(threads);
    let checker: Box<dyn TeacherForcing> = match checker_name.as_str() {
        "llama" => Box::new(LlamaChecker::load(&model)?.with_threads(threads)),
        "f32" => Box::new(F32Llama::load(&model)?),
        other => return Err(format!("unknown checker {other} (llama or f32)").into()),
    };
    println!("checker {}", checker.kernel_path_id());
    let params = GenerateParams {
        max_new_tokens: max_tokens,
    };
    let (mut gen_s, mut check_s, mut tokens, mut passed) = (0f64, 0f64, 0usize, 0usize);
    for prompt in &prompts {
        let start = Instant::now();
        let out = server.generate(prompt, &params, |_, _| {})?;
        let g = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let report = check_generation(
            checker.as_ref(),
            prompt,
            &out.token_ids,
            &CheckParams::default(),
        )?;
        let c = start.elapsed().as_secs_f64();
        gen_s += g;
        check_s += c;
        tokens += out.token_ids.len();
        passed += usize::from(report.passed);
        println!(
            "prompt {:3} tok, answer {:3} tok: generate {:6.1} ms, check {:6.1} ms, ratio {:.2}",
            prompt.len(),
            out.token_ids.len(),
            g * 1e3,
            c * 1e3,
            c / g
        );
    }
    println!(
        "threads {threads}, ≤ {max_tokens} tokens: {} answers ({tokens} tokens, {passed} passed): generate {:.2} s, check {:.2} s, check/generate {:.2}",
        prompts.len(),
        gen_s,
        check_s,
        check_s / gen_s
    );
    Ok(())
}

#[cfg(not(feature = "llama"))]
fn main() {
    eprintln!(
        "check_speed compares against the llama.cpp serving path: build with --features llama"
    );
    std::process::exit(2);
}
