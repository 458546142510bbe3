//! Generation speed on one of Tessera's candle paths, over prompts given as token ids, in the
//! same protocol as the llama.cpp scratch benchmark of docs/decisions/0010: per prompt, the
//! prefill up to the first token ("prompt tok/s") and the greedy steps after it ("gen tok/s").
//!
//! ```text
//! RAYON_NUM_THREADS=1 cargo run --release -p tessera-infer --example gen_speed -- \
//!     --path q4_1 --prompts prompts.json --max-tokens 32 [--out tokens.json]
//! ```
//! `--path f32` runs the checker's f32 forward instead (prefill timed as a 1-token generation).
//! With `--features llama`: `--path llama` is Tessera's serving path ([`LlamaGenerator`]),
//! `--path llama-raw` the same llama.cpp library driven directly (the reference); both take
//! `--threads N`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Instant;

use serde_json::json;
use tessera_infer::{default_smollm2_gguf, F32Llama, GenerateParams, Generation, Generator};

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let (mut path, mut prompts, mut max_tokens, mut out) = (String::from("q4_1"), None, 32, None);
    let mut threads = 1usize;
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--path" => path = value,
            "--prompts" => prompts = Some(value),
            "--max-tokens" => max_tokens = value.parse()?,
            "--out" => out = Some(value),
            "--threads" => threads = value.parse()?,
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    let prompts: Vec<Vec<u32>> = serde_json::from_str(&std::fs::read_to_string(
        prompts.ok_or("--prompts is required")?,
    )?)?;
    let model = default_smollm2_gguf();
    let params = GenerateParams {
        max_new_tokens: max_tokens,
    };
    let one = GenerateParams { max_new_tokens: 1 };
    let (mut prompt_tokens, mut prompt_s, mut gen_tokens, mut gen_s) = (0usize, 0f64, 0usize, 0f64);
    let mut tokens = Vec::with_capacity(prompts.len());
    let t = Instant::now();
    match path.as_str() {
        "q4_1" => {
            let mut g = Generator::load(&model)?;
            eprintln!("load {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
            for p in &prompts {
                let (prefill, steps, ids) = timed(|on_text| Ok(g.generate(p, &params, on_text)?))?;
                prompt_s += prefill;
                gen_s += steps;
                prompt_tokens += p.len();
                gen_tokens += ids.len().saturating_sub(1);
                tokens.push(ids);
            }
        }
        "f32" => {
            let m = F32Llama::load(&model)?;
            eprintln!("load {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
            for p in &prompts {
                let start = Instant::now();
                m.generate(p, &one, 0)?;
                let prefill = start.elapsed().as_secs_f64();
                let start = Instant::now();
                let out = m.generate(p, &params, 0)?;
                let total = start.elapsed().as_secs_f64();
                prompt_s += prefill;
                gen_s += (total - prefill).max(0.0);
                prompt_tokens += p.len();
                gen_tokens += out.token_ids.len().saturating_sub(1);
                tokens.push(out.token_ids);
            }
        }
        #[cfg(feature = "llama")]
        "llama" => {
            let mut g = tessera_infer::LlamaGenerator::load(&model)?.with_threads(threads);
            eprintln!(
                "load {:.0} ms ({})",
                t.elapsed().as_secs_f64() * 1e3,
                g.kernel_path_id()
            );
            for p in &prompts {
                let (prefill, steps, ids) = timed(|on_text| Ok(g.generate(p, &params, on_text)?))?;
                prompt_s += prefill;
                gen_s += steps;
                prompt_tokens += p.len();
                gen_tokens += ids.len().saturating_sub(1);
                tokens.push(ids);
            }
        }
        #[cfg(feature = "llama")]
        "llama-raw" => {
            let backend = tessera_infer::llama_backend()?;
            let model = llama_cpp_2::model::LlamaModel::load_from_file(
                backend,
                &model,
                &llama_cpp_2::model::params::LlamaModelParams::default(),
            )?;
            eprintln!("load {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
            for p in &prompts {
                let (ids, prefill, steps) = raw_llama(backend, &model, p, max_tokens, threads)?;
                prompt_s += prefill;
                gen_s += steps;
                prompt_tokens += p.len();
                gen_tokens += ids.len().saturating_sub(1);
                tokens.push(ids);
            }
        }
        other => return Err(format!("unknown path {other} (q4_1, f32, llama, llama-raw)").into()),
    }
    let threads = if path.starts_with("llama") {
        threads.to_string()
    } else {
        std::env::var("RAYON_NUM_THREADS").unwrap_or_default()
    };
    eprintln!(
        "{path}, threads {threads}: prompt {:.1} tok/s ({prompt_tokens} tok), gen {:.1} tok/s ({gen_tokens} tok)",
        prompt_tokens as f64 / prompt_s,
        gen_tokens as f64 / gen_s
    );
    if let Some(out) = out {
        let summary = json!({
            "path": path, "threads": threads,
            "prompt_tokens": prompt_tokens, "prompt_s": prompt_s,
            "prompt_tok_per_s": prompt_tokens as f64 / prompt_s,
            "gen_tokens": gen_tokens, "gen_s": gen_s,
            "gen_tok_per_s": gen_tokens as f64 / gen_s,
            "tokens": tokens,
        });
        std::fs::write(out, serde_json::to_string(&summary)?)?;
    }
    Ok(())
}

/// Runs one streamed generation; returns the seconds up to the first token (prefill), the
/// seconds after it, and the generated ids.
fn timed(
    generate: impl FnOnce(&mut dyn FnMut(u32, &str)) -> Result<Generation, Error>,
) -> Result<(f64, f64, Vec<u32>), Error> {
    let start = Instant::now();
    let mut first = None;
    let out = generate(&mut |_, _| {
        first.get_or_insert_with(Instant::now);
    })?;
    let end = Instant::now();
    let first = first.unwrap_or(end);
    Ok((
        (first - start).as_secs_f64(),
        (end - first).as_secs_f64(),
        out.token_ids,
    ))
}

/// Greedy decoding with llama-cpp-2 alone, as a user of the library would write it: a
/// context per prompt, the prompt in one batch, one token per step, argmax of the logits.
/// Returns the ids (EOS kept), the prefill seconds and the seconds of the steps after it.
#[cfg(feature = "llama")]
fn raw_llama(
    backend: &llama_cpp_2::llama_backend::LlamaBackend,
    model: &llama_cpp_2::model::LlamaModel,
    prompt: &[u32],
    max_tokens: usize,
    threads: usize,
) -> Result<(Vec<u32>, f64, f64), Error> {
    use llama_cpp_2::{
        context::params::LlamaContextParams, llama_batch::LlamaBatch, token::LlamaToken,
    };
    let n_ctx = u32::try_from(prompt.len() + max_tokens)?;
    let threads = i32::try_from(threads)?;
    let params = LlamaContextParams::default()
        .with_n_ctx(std::num::NonZeroU32::new(n_ctx))
        .with_n_batch(n_ctx)
        .with_n_ubatch(n_ctx)
        .with_n_threads(threads)
        .with_n_threads_batch(threads);
    let start = Instant::now();
    let mut ctx = model.new_context(backend, params)?;
    let mut batch = LlamaBatch::new(prompt.len(), 1);
    for (i, id) in prompt.iter().enumerate() {
        batch.add(
            LlamaToken(i32::try_from(*id)?),
            i32::try_from(i)?,
            &[0],
            i + 1 == prompt.len(),
        )?;
    }
    ctx.decode(&mut batch)?;
    let argmax = |v: &[f32]| {
        let mut best = 0usize;
        for (i, x) in v.iter().enumerate() {
            if *x > v[best] {
                best = i;
            }
        }
        best as u32
    };
    let mut next = argmax(ctx.get_logits_ith(batch.n_tokens() - 1));
    let prefill = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let mut ids = vec![next];
    while ids.len() < max_tokens && next != 2 {
        batch.clear();
        batch.add(
            LlamaToken(i32::try_from(next)?),
            i32::try_from(prompt.len() + ids.len() - 1)?,
            &[0],
            true,
        )?;
        ctx.decode(&mut batch)?;
        next = argmax(ctx.get_logits_ith(0));
        ids.push(next);
    }
    Ok((ids, prefill, start.elapsed().as_secs_f64()))
}
