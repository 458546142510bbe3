//! Blocks of 1,000 signed transfers between 10,000 accounts, checked the way a
//! validator checks a proposal: batch signature verification on all cores,
//! execution, state root (QMDB merkleization), then the durable commit of block and
//! state. In the same run: the raw single-core ed25519 verification rate.
//!
//! Run: `cargo bench -p tessera-chain --bench block_exec`. Results: docs/benchmarks.md.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use commonware_runtime::{Runner as _, Supervisor as _};
use criterion::{criterion_group, Criterion, Throughput};
use std::time::{Duration, Instant};
use tessera_chain::{Chain, ChainConfig};
use tessera_state::{Genesis, GenesisAccount, Params};
use tessera_types::{Address, Amount, Call, ChainId, Keypair, SignedTransaction, Transaction};

const ACCOUNTS: usize = 10_000;
const BLOCK_TXS: usize = 1_000;

struct Workload {
    keys: Vec<Keypair>,
    nonces: Vec<u64>,
    next_sender: usize,
    chain_id: ChainId,
}

impl Workload {
    fn new() -> Workload {
        Workload {
            keys: (0..ACCOUNTS as u64)
                .map(|i| Keypair::from_seed(i + 1_000))
                .collect(),
            nonces: vec![0; ACCOUNTS],
            next_sender: 0,
            chain_id: ChainId::new("bench").unwrap(),
        }
    }

    fn genesis(&self) -> Genesis {
        Genesis {
            chain_id: self.chain_id.clone(),
            genesis_time_ms: 0,
            params: Params::default(),
            accounts: self
                .keys
                .iter()
                .map(|k| GenesisAccount {
                    address: k.address(),
                    balance: Amount::from_tsr(1_000).unwrap(),
                    bonded: Amount::ZERO,
                    validator: None,
                })
                .collect(),
        }
    }

    /// One block's worth of transfers from distinct senders to other accounts.
    fn block_txs(&mut self) -> Vec<SignedTransaction> {
        let txs = (0..BLOCK_TXS)
            .map(|i| {
                let s = (self.next_sender + i) % ACCOUNTS;
                let to = self.keys[(s * 7 + 13) % ACCOUNTS].address();
                let tx = Transaction {
                    chain_id: self.chain_id.clone(),
                    signer: self.keys[s].public_key().clone(),
                    nonce: self.nonces[s],
                    max_fee: Amount::from_tsr(1).unwrap(),
                    call: Call::Transfer {
                        to,
                        amount: Amount::from_base(1 + i as u128),
                    },
                }
                .sign(&self.keys[s])
                .unwrap();
                self.nonces[s] += 1;
                tx
            })
            .collect();
        self.next_sender = (self.next_sender + BLOCK_TXS) % ACCOUNTS;
        txs
    }
}

fn single_verify(c: &mut Criterion) {
    let key = Keypair::from_seed(1);
    let tx = Transaction {
        chain_id: ChainId::new("bench").unwrap(),
        signer: key.public_key().clone(),
        nonce: 0,
        max_fee: Amount::from_base(1),
        call: Call::Transfer {
            to: Address([1; 32]),
            amount: Amount::from_base(1),
        },
    }
    .sign(&key)
    .unwrap();
    let mut group = c.benchmark_group("ed25519");
    group.throughput(Throughput::Elements(1));
    group.bench_function("verify_single_core", |b| {
        b.iter(|| assert!(tx.verify_signature()))
    });
    group.finish();
}

fn block_pipeline(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("tessera-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = commonware_runtime::tokio::Config::new().with_storage_directory(&dir);
    commonware_runtime::tokio::Runner::new(config).start(|context| async move {
        let mut work = Workload::new();
        let genesis = work.genesis();
        let proposer_cfg = ChainConfig {
            partition_prefix: "proposer".into(),
            ..ChainConfig::default()
        };
        let validator_cfg = ChainConfig {
            partition_prefix: "validator".into(),
            ..ChainConfig::default()
        };
        let proposer = Chain::open(context.child("proposer"), &genesis, proposer_cfg)
            .await
            .unwrap();
        let validator = Chain::open(context.child("validator"), &genesis, validator_cfg)
            .await
            .unwrap();
        let producer_addr = work.keys[0].address();
        let handle = tokio::runtime::Handle::current();

        let mut group = c.benchmark_group("block");
        group.throughput(Throughput::Elements(BLOCK_TXS as u64));
        group
            .sample_size(20)
            .measurement_time(Duration::from_secs(20));
        group.bench_function("verify_execute_commit_1000_transfers_10k_accounts", |b| {
            b.iter_custom(|iters| {
                tokio::task::block_in_place(|| {
                    handle.block_on(async {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            // Untimed: the proposer builds the block.
                            for tx in work.block_txs() {
                                proposer.submit(tx).unwrap();
                            }
                            let head = proposer.head().hash();
                            let block = proposer.propose_dev(head, producer_addr, 1).await.unwrap();
                            assert_eq!(block.txs.len(), BLOCK_TXS);
                            let hash = block.hash();
                            proposer.commit(hash).await.unwrap();
                            // Timed: the validator's whole path for the block.
                            let start = Instant::now();
                            validator.verify(block).await.unwrap();
                            validator.commit(hash).await.unwrap();
                            total += start.elapsed();
                        }
                        total
                    })
                })
            })
        });
        group.finish();
    });
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, single_verify, block_pipeline);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
