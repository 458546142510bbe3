//! Calibration of the generation check ([`tessera_infer::check_generation`]) over a
//! deterministic, self-generated set of prompts: honest greedy answers from several kernel
//! paths, the compute-saving cheats, and the margins the checker gives each of them.
//!
//! ```text
//! cargo run --release -p tessera-infer [--features llama] --example calibrate -- \
//!     --prompts 200 --max-tokens 32 --out calibration.json
//! ```
//!
//! Checker: `--checker llama` (llama.cpp on bf16 weights, the default with the `llama`
//! feature) or `--checker f32` (candle f32, the default without it). Honest answers:
//! `honest_q4_1` (candle's Q4_1 kernels), `honest_f32` (candle f32) and, with the feature,
//! `honest_llama` (llama.cpp's Q4_1 kernels, the serving path; its thread count is
//! `RAYON_NUM_THREADS`, default 1).
//!
//! Options: `--start K` (run prompts K..N of the N generated, to split a run over
//! processes), `--model PATH` (default: the fetched SmolLM2 GGUF), `--noise-prompts N` (prompts
//! the weight-noise cheats run on; default 50), `--substitute-prompts N` (Q2_K substitute;
//! default all), `--honest-only` (only the honest answers, to compare thread counts),
//! `--dump-prompts FILE` (prompt ids as JSON, for other runtimes), `--check-claims FILE`
//! (check token lists `{"tokens": [[..], ..]}` from another runtime against the prompts),
//! `--merge A.json B.json …` (the summary of runs split over processes, from their `--out`
//! files; nothing is recomputed).
//!
//! Cheats: `skip2`/`skip4` (last layers skipped, f32 path), `other_prompt` (the honest answer
//! to the next prompt, a cached answer), `random` (uniform random ids, the honest length),
//! `substitute_q2k` (weights requantized to Q2_K where the shape allows), and `noise_<pct>`
//! (Gaussian noise on the middle layer's weight matrices; measured, no detection goal).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{json, Value};
use tessera_infer::{
    check_generation, default_smollm2_gguf, judge, CheckParams, F32Llama, GaussianRng,
    GenerateParams, Generation, Generator, GgmlDType, TeacherForcing,
};

type Error = Box<dyn std::error::Error>;

const SUBJECTS: [&str; 20] = [
    "the ocean",
    "a lighthouse",
    "volcanoes",
    "the moon",
    "honeybees",
    "a bicycle",
    "coffee",
    "the Roman Empire",
    "rainbows",
    "chess",
    "a friendly robot",
    "winter",
    "the internet",
    "elephants",
    "fresh bread",
    "a small library",
    "thunderstorms",
    "the piano",
    "gardening",
    "a train station",
];

/// Prompt `t` of the template list for a subject and two small numbers.
fn template(t: usize, s: &str, a: usize, b: usize) -> String {
    match t {
        0 => format!("What is {s}?"),
        1 => format!("Explain {s} to a ten-year-old."),
        2 => format!("Write a short story about {s}."),
        3 => format!("List three facts about {s}."),
        4 => format!("Write a haiku about {s}."),
        5 => format!("Translate into French: \"I would like to learn more about {s}.\""),
        6 => format!("What is {a} plus {b}? Answer with the number and one sentence."),
        7 => format!("What is {a} times {b}? Show your steps."),
        8 => format!("If I have {a} apples and give away {b}, how many are left?"),
        9 => format!("Give me two practical tips about {s}."),
        10 => format!("Describe {s} in one sentence."),
        11 => format!("Why do people find {s} interesting?"),
        12 => format!("Write a short, cheerful tweet about {s}."),
        13 => format!("Make a numbered list of {b} words related to {s}."),
        14 => format!("Is {a} an even number? Explain briefly."),
        _ => format!("Write the opening line of a poem about {s}."),
    }
}
const TEMPLATES: usize = 16;
/// Seed of the weight-noise cheats (printed in the JSON so a run can be replayed).
const NOISE_SEED: u64 = 0x07E5_5E7A;
/// Seed of the random-token cheat.
const RANDOM_TOKENS_SEED: u64 = 0x000C_A11B_8A7E;

/// The first `n` prompts: pair `k` is template `k % 16` with subject
/// `(k / 16 + 5 × template) % 20` (distinct pairs for k < 320, every template early on).
fn prompts(n: usize) -> Vec<String> {
    (0..n)
        .map(|k| {
            let t = k % TEMPLATES;
            let s = (k / TEMPLATES + 5 * t) % SUBJECTS.len();
            let a = 3 + (k * 7) % 90;
            let b = 2 + (k * 5) % 11;
            template(t, SUBJECTS[s], a, b)
        })
        .collect()
}

struct Args {
    model: std::path::PathBuf,
    prompts: usize,
    start: usize,
    max_tokens: usize,
    out: Option<String>,
    noise_prompts: usize,
    substitute_prompts: Option<usize>,
    honest_only: bool,
    dump_prompts: Option<String>,
    check_claims: Option<String>,
    checker: String,
    merge: Vec<String>,
}

/// The default checker: llama.cpp's when it is built in.
const DEFAULT_CHECKER: &str = if cfg!(feature = "llama") {
    "llama"
} else {
    "f32"
};

fn load_checker(args: &Args, f32_model: &F32Llama) -> Result<Box<dyn TeacherForcing>, Error> {
    match args.checker.as_str() {
        "f32" => Ok(Box::new(f32_model.clone())),
        #[cfg(feature = "llama")]
        "llama" => Ok(Box::new(
            tessera_infer::LlamaChecker::load(&args.model)?.with_threads(threads()),
        )),
        other => Err(format!(
            "unknown checker {other}: use f32, or llama (needs --features llama)"
        )
        .into()),
    }
}

/// `RAYON_NUM_THREADS` (the candle paths' thread count), used for llama.cpp too; default 1.
#[cfg(feature = "llama")]
fn threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(1)
}

/// The serving path's honest answers (llama.cpp's Q4_1 kernels), when it is built in.
#[cfg(feature = "llama")]
fn llama_answers(
    args: &Args,
    prompt_ids: &[Vec<u32>],
    params: &GenerateParams,
) -> Result<Vec<Generation>, Error> {
    let mut g = tessera_infer::LlamaGenerator::load(&args.model)?.with_threads(threads());
    let mut out = Vec::with_capacity(prompt_ids.len());
    for ids in prompt_ids {
        out.push(g.generate(ids, params, |_, _| {})?);
    }
    Ok(out)
}

#[cfg(not(feature = "llama"))]
fn llama_answers(_: &Args, _: &[Vec<u32>], _: &GenerateParams) -> Result<Vec<Generation>, Error> {
    Ok(Vec::new())
}

fn parse_args() -> Result<Args, Error> {
    let mut args = Args {
        model: default_smollm2_gguf(),
        prompts: 200,
        start: 0,
        max_tokens: 32,
        out: None,
        noise_prompts: 50,
        substitute_prompts: None,
        honest_only: false,
        dump_prompts: None,
        check_claims: None,
        checker: DEFAULT_CHECKER.to_owned(),
        merge: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--model" => args.model = value()?.into(),
            "--prompts" => args.prompts = value()?.parse()?,
            "--start" => args.start = value()?.parse()?,
            "--max-tokens" => args.max_tokens = value()?.parse()?,
            "--out" => args.out = Some(value()?),
            "--noise-prompts" => args.noise_prompts = value()?.parse()?,
            "--substitute-prompts" => args.substitute_prompts = Some(value()?.parse()?),
            "--honest-only" => args.honest_only = true,
            "--dump-prompts" => args.dump_prompts = Some(value()?),
            "--check-claims" => args.check_claims = Some(value()?),
            "--checker" => args.checker = value()?,
            "--merge" => {
                args.merge.push(value()?);
                args.merge.extend(it.by_ref());
            }
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    Ok(args)
}

/// One checked claim.
struct Claim {
    tokens: Vec<u32>,
    max_margin: f32,
    failing_share: f64,
    margins: Vec<f32>,
}

impl Claim {
    fn json(&self) -> Value {
        json!({
            "len": self.tokens.len(),
            "tokens": self.tokens,
            "max_margin": self.max_margin,
            "failing_share": self.failing_share,
            "margins": self.margins.iter().map(|m| (m * 1000.0).round() / 1000.0).collect::<Vec<_>>(),
        })
    }
}

fn check(checker: &dyn TeacherForcing, prompt: &[u32], tokens: Vec<u32>) -> Result<Claim, Error> {
    let r = check_generation(checker, prompt, &tokens, &CheckParams::default())?;
    Ok(Claim {
        tokens,
        max_margin: r.max_margin,
        failing_share: r.failing_share,
        margins: r.margins,
    })
}

fn main() -> Result<(), Error> {
    let args = parse_args()?;
    if !args.merge.is_empty() {
        return merge(&args.merge);
    }
    let texts: Vec<String> = prompts(args.prompts).into_iter().skip(args.start).collect();
    let params = GenerateParams {
        max_new_tokens: args.max_tokens,
    };
    let mut honest_gen = Generator::load(&args.model)?;
    let mut prompt_ids: Vec<Vec<u32>> = Vec::with_capacity(texts.len());
    for t in &texts {
        prompt_ids.push(honest_gen.tokenizer().chat_prompt(None, t)?);
    }
    if let Some(path) = &args.dump_prompts {
        std::fs::write(path, serde_json::to_string(&prompt_ids)?)?;
        eprintln!("wrote {} prompts' ids to {path}", prompt_ids.len());
    }
    if let Some(path) = &args.check_claims {
        return check_claims(&args, &prompt_ids, path);
    }

    // Honest answers on candle's Q4_1 path.
    let started = Instant::now();
    let mut honest = Vec::with_capacity(texts.len());
    for ids in &prompt_ids {
        honest.push(honest_gen.generate(ids, &params, |_, _| {})?);
    }
    let honest_s = started.elapsed().as_secs_f64();
    let honest_tokens: usize = honest.iter().map(|g| g.token_ids.len()).sum();
    eprintln!(
        "honest: {} answers, {honest_tokens} tokens in {honest_s:.1} s ({:.1} tok/s incl. prompts)",
        honest.len(),
        honest_tokens as f64 / honest_s
    );
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_default();
    if args.honest_only {
        let out = json!({
            "threads": threads,
            "kernel_path_id": honest.first().map(|g| g.kernel_path_id.clone()),
            "honest_s": honest_s,
            "tokens": honest.iter().map(|g| g.token_ids.clone()).collect::<Vec<_>>(),
        });
        if let Some(path) = &args.out {
            std::fs::write(path, serde_json::to_string(&out)?)?;
        }
        return Ok(());
    }
    drop(honest_gen);
    let started = Instant::now();
    let llama_honest = llama_answers(&args, &prompt_ids, &params)?;
    let llama_honest_s = started.elapsed().as_secs_f64();

    let f32_model = F32Llama::load(&args.model)?;
    let checker = load_checker(&args, &f32_model)?;
    let checker = checker.as_ref();
    eprintln!("checker: {}", checker.kernel_path_id());
    let vocab = f32_model.tokenizer().vocab_size() as u64;
    let mid_layer = f32_model.config().n_layer / 2;
    let noise_levels = [0.01f32, 0.05, 0.2, 0.5];
    let mut noisy: Vec<(String, F32Llama)> = Vec::with_capacity(noise_levels.len());
    for level in noise_levels {
        let name = format!("noise_{}pct", (level * 100.0).round());
        noisy.push((
            name,
            f32_model.with_layer_noise(mid_layer, level, NOISE_SEED)?,
        ));
    }
    let substitute_n = args.substitute_prompts.unwrap_or(texts.len());
    let (mut substitute, report) = Generator::load_requantized(&args.model, GgmlDType::Q2K)?;
    eprintln!(
        "substitute: {} tensors requantized to Q2_K, {} kept (row length not a multiple of 256)",
        report.converted.len(),
        report.kept.len()
    );

    let mut rng = GaussianRng::new(RANDOM_TOKENS_SEED);
    let mut records = Vec::with_capacity(texts.len());
    let mut timings: BTreeMap<String, f64> = BTreeMap::new();
    let mut timed = |name: &str, t: Instant| {
        *timings.entry(name.to_owned()).or_default() += t.elapsed().as_secs_f64();
    };
    for (i, (text, ids)) in texts.iter().zip(&prompt_ids).enumerate() {
        let mut claims: BTreeMap<String, Claim> = BTreeMap::new();
        let answer = honest
            .get(i)
            .map(|g| g.token_ids.clone())
            .unwrap_or_default();
        let t = Instant::now();
        claims.insert("honest_q4_1".into(), check(checker, ids, answer.clone())?);
        timed("check_honest", t);
        if let Some(g) = llama_honest.get(i) {
            let claim = check(checker, ids, g.token_ids.clone())?;
            claims.insert("honest_llama".into(), claim);
        }
        for skip in [0usize, 2, 4] {
            let t = Instant::now();
            let g = f32_model.generate(ids, &params, skip)?;
            timed(&format!("generate_skip{skip}"), t);
            let name = match skip {
                0 => "honest_f32".to_owned(),
                _ => format!("skip{skip}"),
            };
            claims.insert(name, check(checker, ids, g.token_ids)?);
        }
        let other = honest
            .get((i + 1) % honest.len())
            .map(|g| g.token_ids.clone())
            .unwrap_or_default();
        claims.insert("other_prompt".into(), check(checker, ids, other)?);
        let random: Vec<u32> = (0..answer.len().max(1))
            .map(|_| (rng.next_u64() % vocab) as u32)
            .collect();
        claims.insert("random".into(), check(checker, ids, random)?);
        if i < substitute_n {
            let t = Instant::now();
            let g = substitute.generate(ids, &params, |_, _| {})?;
            timed("generate_substitute_q2k", t);
            claims.insert("substitute_q2k".into(), check(checker, ids, g.token_ids)?);
        }
        if i < args.noise_prompts {
            for (name, model) in &noisy {
                let g = model.generate(ids, &params, 0)?;
                claims.insert(name.clone(), check(checker, ids, g.token_ids)?);
            }
        }
        let line: Vec<String> = claims
            .iter()
            .map(|(k, c)| format!("{k}={:.2}/{}", c.max_margin, c.tokens.len()))
            .collect();
        eprintln!(
            "[{:3}] len {:2} {}",
            i + args.start,
            answer.len(),
            line.join(" ")
        );
        records.push((text.clone(), ids.len(), answer.len(), claims));
    }
    let summary = summarize(&records);
    print_summary(&summary);
    if let Some(path) = &args.out {
        let prompts_json: Vec<Value> = records
            .iter()
            .enumerate()
            .map(|(index, (text, prompt_len, answer_len, claims))| {
                json!({
                    "index": index + args.start,
                    "prompt": text,
                    "prompt_len": prompt_len,
                    "honest_len": answer_len,
                    "claims": claims.iter().map(|(k, c)| (k.clone(), c.json())).collect::<BTreeMap<_, _>>(),
                })
            })
            .collect();
        let out = json!({
            "model": args.model,
            "max_tokens": args.max_tokens,
            "threads": threads,
            "honest_kernel_path_id": honest.first().map(|g| g.kernel_path_id.clone()),
            "checker_kernel_path_id": checker.kernel_path_id(),
            "llama_kernel_path_id": llama_honest.first().map(|g| g.kernel_path_id.clone()),
            "llama_generation_s": llama_honest_s,
            "noise_layer": mid_layer,
            "noise_seed": NOISE_SEED,
            "random_tokens_seed": RANDOM_TOKENS_SEED,
            "substitute_converted": report.converted,
            "honest_generation_s": honest_s,
            "timings_s": timings,
            "summary": summary,
            "prompts": prompts_json,
        });
        std::fs::write(path, serde_json::to_string_pretty(&out)?)?;
        eprintln!("wrote {path}");
    }
    Ok(())
}

type Record = (String, usize, usize, BTreeMap<String, Claim>);

fn percentile(sorted: &[f32], p: f64) -> f32 {
    if sorted.is_empty() {
        return f32::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Per claim kind: counts, failures at δ = 2 / ε = 0 overall and for claims ≥ 16 tokens, the
/// distribution of largest margins, and a sweep of δ.
fn summarize(records: &[Record]) -> Value {
    let mut kinds: BTreeMap<String, Vec<&Claim>> = BTreeMap::new();
    for (_, _, _, claims) in records {
        for (k, c) in claims {
            kinds.entry(k.clone()).or_default().push(c);
        }
    }
    let deltas = [0.5f32, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0];
    let mut out = BTreeMap::new();
    for (kind, claims) in kinds {
        let mut maxes: Vec<f32> = claims.iter().map(|c| c.max_margin).collect();
        maxes.sort_by(|a, b| a.total_cmp(b));
        let failed = |c: &&Claim, delta: f32| {
            !judge(
                c.margins.clone(),
                &CheckParams {
                    delta,
                    epsilon: 0.0,
                },
            )
            .passed
        };
        let long: Vec<&&Claim> = claims.iter().filter(|c| c.tokens.len() >= 16).collect();
        let sweep: BTreeMap<String, usize> = deltas
            .iter()
            .map(|d| {
                (
                    format!("{d}"),
                    claims.iter().filter(|c| failed(c, *d)).count(),
                )
            })
            .collect();
        let shares: Vec<f64> = claims.iter().map(|c| c.failing_share).collect();
        out.insert(
            kind,
            json!({
                "claims": claims.len(),
                "failed": claims.iter().filter(|c| failed(c, 2.0)).count(),
                "claims_ge16": long.len(),
                "failed_ge16": long.iter().filter(|c| failed(c, 2.0)).count(),
                "max_margin_min": maxes.first(),
                "max_margin_p01": percentile(&maxes, 0.01),
                "max_margin_p50": percentile(&maxes, 0.5),
                "max_margin_p99": percentile(&maxes, 0.99),
                "max_margin_max": maxes.last(),
                "failing_share_mean": shares.iter().sum::<f64>() / shares.len().max(1) as f64,
                "failed_by_delta": sweep,
            }),
        );
    }
    json!(out)
}

fn print_summary(summary: &Value) {
    println!(
        "| claim | n | failed at δ=2, ε=0 | n ≥16 tok | failed ≥16 | max margin min / p50 / p99 / max | mean failing share |"
    );
    println!("|---|---|---|---|---|---|---|");
    if let Some(map) = summary.as_object() {
        for (kind, s) in map {
            let f = |k: &str| s[k].as_f64().unwrap_or(f64::NAN);
            let u = |k: &str| s[k].as_u64().unwrap_or(0);
            println!(
                "| {kind} | {} | {} ({:.1}%) | {} | {} ({:.1}%) | {:.3} / {:.3} / {:.3} / {:.3} | {:.3} |",
                u("claims"),
                u("failed"),
                100.0 * f("failed") / f("claims").max(1.0),
                u("claims_ge16"),
                u("failed_ge16"),
                100.0 * f("failed_ge16") / f("claims_ge16").max(1.0),
                f("max_margin_min"),
                f("max_margin_p50"),
                f("max_margin_p99"),
                f("max_margin_max"),
                f("failing_share_mean"),
            );
        }
        println!("\nfailed claims by δ (ε = 0):");
        for (kind, s) in map {
            println!("  {kind}: {}", s["failed_by_delta"]);
        }
    }
}

/// Checks another runtime's token lists against the prompts; prints and writes the margins.
fn check_claims(args: &Args, prompt_ids: &[Vec<u32>], path: &str) -> Result<(), Error> {
    let claims: Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let lists: Vec<Vec<u32>> = serde_json::from_value(claims["tokens"].clone())?;
    let f32_model = F32Llama::load(&args.model)?;
    let checker = load_checker(args, &f32_model)?;
    let mut records = Vec::with_capacity(lists.len());
    for (i, (ids, tokens)) in prompt_ids.iter().zip(lists).enumerate() {
        let len = tokens.len();
        let mut m = BTreeMap::new();
        m.insert("claims".to_owned(), check(checker.as_ref(), ids, tokens)?);
        eprintln!(
            "[{i:3}] len {len:2} max margin {:.3}",
            m["claims"].max_margin
        );
        records.push((String::new(), ids.len(), len, m));
    }
    let summary = summarize(&records);
    print_summary(&summary);
    if let Some(out) = &args.out {
        std::fs::write(out, serde_json::to_string_pretty(&summary)?)?;
    }
    Ok(())
}

/// Summarizes the `--out` files of runs split over processes, as one run would have.
fn merge(paths: &[String]) -> Result<(), Error> {
    let mut records = Vec::new();
    for path in paths {
        let run: Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
        eprintln!("{path}: checker {}", run["checker_kernel_path_id"]);
        let prompts = run["prompts"]
            .as_array()
            .ok_or(format!("{path}: no prompts"))?;
        for p in prompts {
            let mut claims = BTreeMap::new();
            let map = p["claims"]
                .as_object()
                .ok_or(format!("{path}: no claims"))?;
            for (kind, c) in map {
                claims.insert(
                    kind.clone(),
                    Claim {
                        tokens: serde_json::from_value(c["tokens"].clone())?,
                        max_margin: c["max_margin"].as_f64().unwrap_or(f64::NAN) as f32,
                        failing_share: c["failing_share"].as_f64().unwrap_or(f64::NAN),
                        margins: serde_json::from_value::<Vec<Option<f32>>>(c["margins"].clone())?
                            .into_iter()
                            .map(|m| m.unwrap_or(f32::NAN))
                            .collect(),
                    },
                );
            }
            let prompt_len = p["prompt_len"].as_u64().unwrap_or(0) as usize;
            let honest_len = p["honest_len"].as_u64().unwrap_or(0) as usize;
            records.push((String::new(), prompt_len, honest_len, claims));
        }
    }
    eprintln!("{} prompts", records.len());
    print_summary(&summarize(&records));
    Ok(())
}
