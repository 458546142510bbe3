//! Shared helpers for the integration tests: small configurations and a seeded runner.
#![allow(dead_code)]

use commonware_runtime::{deterministic, Runner as _};
use core::num::{NonZeroU64, NonZeroUsize};
use std::future::Future;
use tessera_store::{BlockConfig, StateConfig};

/// A state configuration with tiny blobs and cache, to cross blob boundaries often.
pub fn state_config(prefix: &str) -> StateConfig {
    StateConfig {
        partition_prefix: prefix.to_string(),
        page_cache_bytes: 256 * 1024,
        items_per_blob: NonZeroU64::new(64).unwrap(),
        write_buffer_bytes: NonZeroUsize::new(4096).unwrap(),
        replay_buffer_bytes: NonZeroUsize::new(8192).unwrap(),
    }
}

/// A block configuration with tiny sections and table.
pub fn block_config(prefix: &str) -> BlockConfig {
    BlockConfig {
        partition_prefix: prefix.to_string(),
        page_cache_bytes: 256 * 1024,
        items_per_section: NonZeroU64::new(4).unwrap(),
        tx_items_per_section: NonZeroU64::new(8).unwrap(),
        table_initial_size: 4,
        write_buffer_bytes: NonZeroUsize::new(4096).unwrap(),
        replay_buffer_bytes: NonZeroUsize::new(8192).unwrap(),
        ..BlockConfig::default()
    }
}

/// Run `f` on a deterministic runtime seeded with `seed` (printed on failure by the caller's
/// assertion messages).
pub fn run<F, Fut>(seed: u64, f: F)
where
    F: FnOnce(deterministic::Context) -> Fut,
    Fut: Future<Output = ()>,
{
    deterministic::Runner::seeded(seed).start(f);
}

/// A sorted write set setting `key{i}` to `value{i}{salt}` for `i` in `range`.
pub fn writes(range: std::ops::Range<u32>, salt: &str) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    range
        .map(|i| (key(i), Some(format!("value{i}{salt}").into_bytes())))
        .collect()
}

/// The logical key number `i`.
pub fn key(i: u32) -> Vec<u8> {
    format!("key/{i:06}").into_bytes()
}
