//! The property tests' configuration: a fixed seed (so CI runs are repeatable), replaced
//! by `PROPTEST_RNG_SEED` to replay or explore, and no failure files.

use proptest::test_runner::{Config, RngSeed};

pub fn config(cases: u32, default_seed: u64) -> Config {
    let seed = std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_seed);
    Config {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(seed),
        ..Config::default()
    }
}
