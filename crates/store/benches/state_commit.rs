//! `prepare` + `commit` of 2,000-update blocks over 10,000 and 100,000 keys, on the tokio
//! runtime and the real file system (a fresh directory under the system temp dir).
//!
//! The store runs on its own thread inside `commonware_runtime::tokio::Runner`; criterion
//! asks it for `iters` blocks over a channel and gets back the time spent in the measured
//! calls only (building the write set is excluded). Every 256 blocks the store is pruned,
//! untimed, as a node would.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use commonware_runtime::{tokio, Runner as _, Supervisor as _};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use futures::{channel::mpsc, StreamExt as _};
use std::{
    path::PathBuf,
    sync::mpsc as std_mpsc,
    thread,
    time::{Duration, Instant},
};
use tessera_store::{StateConfig, StateStore, Writes};

const UPDATES_PER_BLOCK: usize = 2_000;
const VALUE_BYTES: usize = 64;
const PRUNE_EVERY: u64 = 256;

/// What one criterion request measures.
#[derive(Clone, Copy)]
enum Measure {
    /// `prepare` then `commit` (fsync).
    PrepareCommit,
    /// `prepare` only (the batch is dropped).
    PrepareOnly,
}

/// A tiny deterministic generator (xorshift64*), so runs are repeatable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn key(i: u64) -> Vec<u8> {
    format!("acct/{i:010}").into_bytes()
}

fn value(rng: &mut Rng) -> Vec<u8> {
    (0..VALUE_BYTES / 8)
        .flat_map(|_| rng.next().to_le_bytes())
        .collect()
}

/// 2,000 updates of uniformly random existing keys, sorted by key.
fn block(rng: &mut Rng, keys: u64) -> Writes {
    let mut writes: Writes = (0..UPDATES_PER_BLOCK)
        .map(|_| (key(rng.next() % keys), Some(value(rng))))
        .collect();
    writes.sort_by(|a, b| a.0.cmp(&b.0));
    writes
}

/// A store thread: populates `keys` keys, then serves measurement requests.
struct Server {
    requests: mpsc::UnboundedSender<(Measure, u64)>,
    replies: std_mpsc::Receiver<Duration>,
    thread: thread::JoinHandle<()>,
    dir: PathBuf,
}

impl Server {
    fn start(keys: u64) -> Self {
        let dir = std::env::temp_dir().join(format!("tessera-bench-{}-{keys}", std::process::id()));
        let config = tokio::Config::new().with_storage_directory(dir.clone());
        let (requests, mut rx) = mpsc::unbounded::<(Measure, u64)>();
        let (reply_tx, replies) = std_mpsc::channel();
        let thread = thread::spawn(move || {
            tokio::Runner::new(config).start(|context| async move {
                let mut store = StateStore::open(context.child("state"), StateConfig::default())
                    .await
                    .unwrap();
                let mut rng = Rng(0x5eed_0000 ^ keys);
                let mut height = populate(&mut store, keys).await;
                drop(store);
                let start = Instant::now();
                let mut store = StateStore::open(context.child("reopened"), StateConfig::default())
                    .await
                    .unwrap();
                println!("reopen with {keys} keys took {:?}", start.elapsed());
                while let Some((measure, iters)) = rx.next().await {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let writes = block(&mut rng, keys);
                        let start = Instant::now();
                        let prepared = store.prepare(height + 1, writes).await.unwrap();
                        if let Measure::PrepareCommit = measure {
                            store.commit(prepared).await.unwrap();
                            height += 1;
                        }
                        total += start.elapsed();
                        if let (Measure::PrepareCommit, 0) = (measure, height % PRUNE_EVERY) {
                            store.prune().await.unwrap();
                        }
                    }
                    reply_tx.send(total).unwrap();
                }
            });
        });
        Self {
            requests,
            replies,
            thread,
            dir,
        }
    }

    fn measure(&self, measure: Measure, iters: u64) -> Duration {
        self.requests.unbounded_send((measure, iters)).unwrap();
        self.replies.recv().unwrap()
    }

    fn stop(self) {
        drop(self.requests);
        self.thread.join().unwrap();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Insert keys `0..keys` in blocks of 10,000 and prune; returns the last height.
async fn populate(store: &mut StateStore<tokio::Context>, keys: u64) -> u64 {
    let mut rng = Rng(7);
    let mut height = 0;
    for start in (0..keys).step_by(10_000) {
        let writes = (start..keys.min(start + 10_000))
            .map(|i| (key(i), Some(value(&mut rng))))
            .collect();
        height += 1;
        let prepared = store.prepare(height, writes).await.unwrap();
        store.commit(prepared).await.unwrap();
    }
    let start = Instant::now();
    store.prune().await.unwrap();
    println!("populated {keys} keys; prune took {:?}", start.elapsed());
    let start = Instant::now();
    let entries = store.entries().await.unwrap();
    assert_eq!(entries.len(), usize::try_from(keys).unwrap());
    println!("entries() of {keys} keys took {:?}", start.elapsed());
    height
}

fn state_commit(c: &mut Criterion) {
    let mut group = c.benchmark_group("state_commit");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(15));
    for keys in [10_000u64, 100_000] {
        let server = Server::start(keys);
        group.bench_function(BenchmarkId::new("prepare+commit 2000 updates", keys), |b| {
            b.iter_custom(|iters| server.measure(Measure::PrepareCommit, iters))
        });
        group.bench_function(BenchmarkId::new("prepare 2000 updates", keys), |b| {
            b.iter_custom(|iters| server.measure(Measure::PrepareOnly, iters))
        });
        server.stop();
    }
    group.finish();
}

criterion_group!(benches, state_commit);
criterion_main!(benches);
