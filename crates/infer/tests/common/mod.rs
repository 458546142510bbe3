//! Shared by the integration tests: find the model, or skip loudly.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use tessera_infer::{default_minilm_dir, Embedder, MODEL_FILES};

/// Set to 1 (as CI does) to turn a missing model into a failure instead of a skip.
pub const REQUIRE_ENV: &str = "TESSERA_REQUIRE_MODELS";

pub fn models_required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1")
}

/// The MiniLM directory if every model file is there. Otherwise prints a skip line and
/// returns `None`, or panics when [`REQUIRE_ENV`] is 1.
pub fn minilm_dir(test: &str) -> Option<PathBuf> {
    let dir = default_minilm_dir();
    let missing: Vec<&str> = MODEL_FILES
        .iter()
        .copied()
        .filter(|f| !dir.join(f).is_file())
        .collect();
    if missing.is_empty() {
        return Some(dir);
    }
    if models_required() {
        panic!("{test}: model files {missing:?} absent in {} and {REQUIRE_ENV}=1; run scripts/fetch-models.sh", dir.display());
    }
    println!(
        "skipped: {test}: model files absent in {}; run scripts/fetch-models.sh",
        dir.display()
    );
    None
}

/// The SmolLM2 GGUF if it is there. Otherwise prints a skip line and returns `None`, or
/// panics when [`REQUIRE_ENV`] is 1.
pub fn smollm2_gguf(test: &str) -> Option<PathBuf> {
    let path = tessera_infer::default_smollm2_gguf();
    if path.is_file() {
        return Some(path);
    }
    if models_required() {
        panic!(
            "{test}: {} absent and {REQUIRE_ENV}=1; run scripts/fetch-models.sh",
            path.display()
        );
    }
    println!(
        "skipped: {test}: {} absent; run scripts/fetch-models.sh",
        path.display()
    );
    None
}

/// One loaded model per test binary.
pub fn embedder(test: &str) -> Option<&'static Embedder> {
    static EMBEDDER: OnceLock<Embedder> = OnceLock::new();
    let dir = minilm_dir(test)?;
    Some(EMBEDDER.get_or_init(|| Embedder::load(&dir).expect("load MiniLM")))
}

/// Run `test` of this test binary again in a child process with `RAYON_NUM_THREADS` =
/// `threads` (candle fixes its thread pools per process) and return the value the child
/// printed after `marker` (e.g. `CHILD_HASH=`).
pub fn rerun_in_child(test: &str, threads: &str, marker: &str) -> String {
    rerun_in_child_with_env(test, threads, marker, &[])
}

/// [`rerun_in_child`] with extra environment variables for the child.
pub fn rerun_in_child_with_env(
    test: &str,
    threads: &str,
    marker: &str,
    env: &[(&str, &str)],
) -> String {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("TESSERA_INFER_CHILD", "1")
        .env("RAYON_NUM_THREADS", threads)
        .env_remove("CANDLE_NUM_THREADS")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {stdout}{stderr}");
    stdout
        .lines()
        .find_map(|l| l.split_once(marker).map(|(_, v)| v.trim().to_owned()))
        .unwrap_or_else(|| panic!("no {marker} in child output: {stdout} / {stderr}"))
}

/// `n` token ids below 49,152 (SmolLM2's vocabulary) from a seeded xorshift, so a failure
/// replays.
pub fn random_tokens(seed: u64, n: usize) -> Vec<u32> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 49152) as u32
        })
        .collect()
}
