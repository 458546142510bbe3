//! `BlockStore::put` of a block with 2,000 transactions (512 KiB block, 128 KiB receipts),
//! durable on return, on the tokio runtime and the real file system.
//!
//! Same harness as `state_commit`: the store lives on a runtime thread and criterion asks
//! it for `iters` puts over a channel.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use commonware_runtime::{tokio, Runner as _, Supervisor as _};
use criterion::{criterion_group, criterion_main, Criterion};
use futures::{channel::mpsc, StreamExt as _};
use std::{
    sync::mpsc as std_mpsc,
    thread,
    time::{Duration, Instant},
};
use tessera_store::{BlockConfig, BlockStore};

const TXS_PER_BLOCK: u64 = 2_000;
const BLOCK_BYTES: usize = 512 << 10;
const RECEIPT_BYTES: usize = 128 << 10;

fn hash(domain: u8, n: u64) -> [u8; 32] {
    let mut h = [domain; 32];
    h[..8].copy_from_slice(&n.to_be_bytes());
    h
}

fn block_put(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("tessera-bench-blocks-{}", std::process::id()));
    let config = tokio::Config::new().with_storage_directory(dir.clone());
    let (requests, mut rx) = mpsc::unbounded::<u64>();
    let (reply_tx, replies) = std_mpsc::channel();
    let server = thread::spawn(move || {
        tokio::Runner::new(config).start(|context| async move {
            let mut store = BlockStore::open(context.child("blocks"), BlockConfig::default())
                .await
                .unwrap();
            let mut height = 0u64;
            while let Some(iters) = rx.next().await {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    height += 1;
                    let first = height * TXS_PER_BLOCK;
                    let txs = (first..first + TXS_PER_BLOCK).map(|n| hash(2, n)).collect();
                    let block = vec![u8::try_from(height % 251).unwrap(); BLOCK_BYTES];
                    let receipts = vec![7; RECEIPT_BYTES];
                    let start = Instant::now();
                    store
                        .put(height, hash(1, height), block, receipts, txs)
                        .await
                        .unwrap();
                    total += start.elapsed();
                }
                reply_tx.send(total).unwrap();
            }
        });
    });

    let mut group = c.benchmark_group("block_put");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(15));
    group.bench_function("put 2000 txs, 512 KiB block", |b| {
        b.iter_custom(|iters| {
            requests.unbounded_send(iters).unwrap();
            replies.recv().unwrap()
        })
    });
    group.finish();
    drop(requests);
    server.join().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, block_put);
criterion_main!(benches);
