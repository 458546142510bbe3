//! `cid_of_reader` throughput on 64 MiB held in memory, next to plain SHA-256 of the same
//! bytes (the bound it should approach: the DAG adds ~0.01% more bytes to hash).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sha2::{Digest, Sha256};
use std::hint::black_box;
use tessera_blobs::cid_of_reader;

const LEN_BYTES: usize = 64 * 1024 * 1024;

/// Incompressible-looking input (xorshift), so nothing depends on the bytes being simple.
fn input() -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..LEN_BYTES / 8)
        .flat_map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let data = input();
    let mut group = c.benchmark_group("cid_64MiB");
    group.throughput(Throughput::Bytes(LEN_BYTES as u64));
    group.sample_size(10);
    group.bench_function("cid_of_reader", |b| {
        b.iter(|| cid_of_reader(black_box(&data[..])).map(black_box))
    });
    group.bench_function("sha256_baseline", |b| {
        b.iter(|| Sha256::digest(black_box(&data[..])))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
