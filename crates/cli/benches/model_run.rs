//! What `tessera model run minilm-embed "a sentence"` costs next to the inference runtime
//! called directly: the embedding itself (target: the CLI's at most 1.05× the runtime's),
//! verifying and loading the model, and the whole command.
//!
//! ```sh
//! bash scripts/fetch-models.sh
//! cargo bench -p tessera-cli --bench model_run            # TESSERA_BENCH_RUNS=15
//! ```
//!
//! Set-up: a dev node (`node --dev`, release) on a temporary home; a publisher home
//! publishes the fetched MiniLM directory as `minilm-embed`; a separate wallet home runs
//! the command once, which downloads the files into a temporary model cache. Then, RUNS
//! times, alternating which goes first:
//! * **CLI**: `tessera --json model run minilm-embed "a sentence"`, a new process. Timed
//!   from spawn to exit (wall), and by its own JSON: `load_ms` (every cached file checked
//!   against its CID, then the model loaded) and `elapsed_ms` (the one `embed` call).
//! * **direct**: this bench re-run as a child process (`TESSERA_BENCH_CHILD=direct`) doing
//!   only the runtime's part on the same cached files: `Embedder::load_verified`, then one
//!   `embed` of the same sentence, timed the same way. Its output hash must equal the CLI's.
//!
//! Both embed once in a fresh process, so both pay the same first-call costs; a
//! steady-state figure (in this process, after warm-up) is printed for reference.
//! Not a criterion bench: medians over real processes, printed for `docs/benchmarks.md`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../tests/common/mod.rs"]
mod common;

use serde_json::{json, Value};
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};
use tessera_infer::{default_minilm_dir, output_hash, Embedder, Manifest, MODEL_FILES};

const SENTENCE: &str = "a sentence";
const MODEL: &str = "minilm-embed";
const CHILD_ENV: &str = "TESSERA_BENCH_CHILD";
const DIR_ENV: &str = "TESSERA_BENCH_MODEL_DIR";
const PASSPHRASE: &str = "bench passphrase";

/// One timed process.
struct Sample {
    wall_ms: f64,
    load_ms: f64,
    embed_ms: f64,
    hash: String,
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// The child: the runtime's part of `model run`, nothing else.
fn direct(dir: &Path) {
    let start = Instant::now();
    let embedder = Embedder::load_verified(dir, &Manifest::minilm_l6_v2()).unwrap();
    let load_ms = ms(start);
    let start = Instant::now();
    let vector = embedder.embed(&[SENTENCE]).unwrap().pop().unwrap();
    let elapsed_ms = ms(start);
    let hash = hex::encode(output_hash(&vector));
    println!(
        "{}",
        json!({ "load_ms": load_ms, "elapsed_ms": elapsed_ms, "output_hash": hash })
    );
}

/// Runs `cmd` to completion, timing it, and reads its JSON.
fn timed(mut cmd: Command) -> Sample {
    let start = Instant::now();
    let out = cmd.stderr(Stdio::piped()).output().unwrap();
    let wall_ms = ms(start);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    Sample {
        wall_ms,
        load_ms: v["load_ms"].as_f64().unwrap(),
        embed_ms: v["elapsed_ms"].as_f64().unwrap(),
        hash: v["output_hash"].as_str().unwrap().to_owned(),
    }
}

fn tessera(home: &Path, url: &str, cache: &Path) -> Command {
    let mut cmd = common::tessera();
    cmd.env("TESSERA_HOME", home)
        .env("TESSERA_NODE", url)
        .env("TESSERA_MODEL_CACHE", cache)
        .env("TESSERA_PASSPHRASE", PASSPHRASE)
        .env("TESSERA_LOG", "warn");
    cmd
}

fn ok(mut cmd: Command, what: &str) -> Vec<u8> {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// `median (min–max)` of one field.
fn stats(samples: &[Sample], field: fn(&Sample) -> f64) -> (f64, String) {
    let mut values: Vec<f64> = samples.iter().map(field).collect();
    let m = median(&mut values);
    let text = format!("{m:.1} ({:.1}–{:.1})", values[0], values[values.len() - 1]);
    (m, text)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() {
    if let Ok(dir) = std::env::var(DIR_ENV) {
        if std::env::var(CHILD_ENV).as_deref() == Ok("direct") {
            return direct(Path::new(&dir));
        }
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this with no flag: skip.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let minilm = default_minilm_dir();
    if MODEL_FILES.iter().any(|f| !minilm.join(f).is_file()) {
        println!("skipped: model_run bench: model files absent; run scripts/fetch-models.sh");
        return;
    }
    let runs: usize = std::env::var("TESSERA_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let mut cleanup = common::Cleanup::new("bench-model-run");
    let root = cleanup.root.clone();
    let (node_home, publisher, wallet, cache) = (
        root.join("node"),
        root.join("publisher"),
        root.join("home"),
        root.join("cache"),
    );
    let port = common::free_port_range(1, &[]);
    let url = format!("http://127.0.0.1:{port}");
    let node = common::tessera()
        .args(["node", "--dev", "--rpc-addr", &format!("127.0.0.1:{port}")])
        .env("TESSERA_HOME", &node_home)
        .env("TESSERA_LOG", "warn")
        .env("TESSERA_DEVNET_MODELS", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    cleanup.supervisor = Some(node);
    let start = Instant::now();
    while !tessera(&publisher, &url, &cache)
        .arg("status")
        .output()
        .unwrap()
        .status
        .success()
    {
        assert!(
            start.elapsed() < common::WAIT_LIMIT,
            "the node did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut import = tessera(&publisher, &url, &cache);
    import.args(["keys", "import-dev", "1", "alice"]);
    ok(import, "import the publisher's key");
    let mut publish = tessera(&publisher, &url, &cache);
    publish.args(["model", "publish"]).arg(&minilm).args([
        "--name", MODEL, "--shares", "1000", "--price", "0.002", "--from", "alice",
    ]);
    ok(publish, "publish MiniLM");

    // The first run downloads into the empty cache; not measured.
    let run = || {
        let mut cmd = tessera(&wallet, &url, &cache);
        cmd.args(["--json", "model", "run", MODEL, SENTENCE]);
        cmd
    };
    let first: Value = serde_json::from_slice(&ok(run(), "first model run")).unwrap();
    let model_dir: PathBuf = cache
        .join("by-cid")
        .join(first["manifest_cid"].as_str().unwrap());
    let child = || {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.env(CHILD_ENV, "direct").env(DIR_ENV, &model_dir);
        cmd
    };

    let load_before = loadavg();
    let (mut cli, mut dir) = (Vec::new(), Vec::new());
    for i in 0..runs {
        if i % 2 == 0 {
            cli.push(timed(run()));
            dir.push(timed(child()));
        } else {
            dir.push(timed(child()));
            cli.push(timed(run()));
        }
    }
    let load_after = loadavg();
    let hashes: Vec<&str> = cli.iter().chain(&dir).map(|s| s.hash.as_str()).collect();
    assert!(
        hashes.iter().all(|h| *h == hashes[0]),
        "the CLI and the runtime disagree: {hashes:?}"
    );

    // Steady state, for reference: the same embedding, warm, in this process.
    let embedder = Embedder::load_verified(&model_dir, &Manifest::minilm_l6_v2()).unwrap();
    for _ in 0..5 {
        embedder.embed(&[SENTENCE]).unwrap();
    }
    let mut warm: Vec<f64> = (0..runs.max(20))
        .map(|_| {
            let start = Instant::now();
            embedder.embed(&[SENTENCE]).unwrap();
            ms(start)
        })
        .collect();
    let warm_ms = median(&mut warm);

    let (cli_embed, cli_embed_text) = stats(&cli, |s| s.embed_ms);
    let (dir_embed, dir_embed_text) = stats(&dir, |s| s.embed_ms);
    let (cli_load, cli_load_text) = stats(&cli, |s| s.load_ms);
    let (dir_load, dir_load_text) = stats(&dir, |s| s.load_ms);
    let (cli_wall, cli_wall_text) = stats(&cli, |s| s.wall_ms);
    let (dir_wall, dir_wall_text) = stats(&dir, |s| s.wall_ms);
    println!("model_run: {runs} runs each, alternating; load average {load_before} before, {load_after} after");
    println!("| ms, median (min–max) | `tessera model run` | runtime direct | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| embed (one call, fresh process) | {cli_embed_text} | {dir_embed_text} | **{:.3}** |",
        cli_embed / dir_embed
    );
    println!(
        "| verify files + load model | {cli_load_text} | {dir_load_text} | {:.3} |",
        cli_load / dir_load
    );
    println!(
        "| whole process (wall) | {cli_wall_text} | {dir_wall_text} | {:.3} |",
        cli_wall / dir_wall
    );
    let (cli_rest, cli_rest_text) = stats(&cli, |s| s.wall_ms - s.load_ms - s.embed_ms);
    let (dir_rest, dir_rest_text) = stats(&dir, |s| s.wall_ms - s.load_ms - s.embed_ms);
    println!(
        "| rest of the process (wall − load − embed) | {cli_rest_text} | {dir_rest_text} | +{:.1} ms |",
        cli_rest - dir_rest
    );
    // Each CLI run next to the direct run beside it: drift in the machine's load cancels.
    let mut pair_ratios: Vec<f64> = cli
        .iter()
        .zip(&dir)
        .map(|(c, d)| c.embed_ms / d.embed_ms)
        .collect();
    let slower = pair_ratios.iter().filter(|r| **r > 1.0).count();
    println!(
        "embed, paired runs: median ratio {:.3}; the CLI's embed was the slower in {slower} of {runs} pairs",
        median(&mut pair_ratios)
    );
    println!("steady-state embed in one process (after warm-up): {warm_ms:.2} ms");
}
