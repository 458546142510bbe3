//! Finalized transfers per second and submission-to-finality latency: a 4-validator
//! localnet on loopback next to the one-node dev chain, in the same run, through the
//! same HTTP API a wallet uses.
//!
//! ```sh
//! cargo bench -p tessera-cli --bench network
//! TESSERA_BENCH_TXS=40000 TESSERA_BENCH_CLIENTS=64 cargo bench -p tessera-cli --bench network
//! ```
//!
//! Each run funds `TESSERA_BENCH_ACCOUNTS` fresh accounts in the genesis, signs
//! `TESSERA_BENCH_TXS` transfers beforehand (nonces ascending per account, accounts
//! interleaved), submits them from `TESSERA_BENCH_CLIENTS` concurrent HTTP clients (spread
//! over the validators round-robin), and watches node 1's blocks for each transaction:
//! latency = first block holding it − its submission; throughput = transactions / (last
//! final − first submitted). The dev chain runs with `--block-time-ms 200`.
//!
//! Not a criterion bench (`harness = false`): one long measurement of real processes,
//! printed as a table for `docs/benchmarks.md`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tessera_chain::genesis::{dev_transfer, DEV_CHAIN_ID};
use tessera_rpc::client::{BlockId, RpcClient};
use tessera_state::{Genesis, GenesisAccount};
use tessera_types::{amount::BASE_PER_TSR, Amount, Hash, Keypair, SignedTransaction};

const VALIDATORS: usize = 4;
const DEV_BLOCK_TIME_MS: u64 = 200;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn tessera(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tessera"));
    cmd.env("TESSERA_HOME", home).env("TESSERA_LOG", "warn");
    cmd
}

fn bench_keys(accounts: usize) -> Vec<Keypair> {
    (0..accounts as u64)
        .map(|i| Keypair::from_seed(1_000_000 + i))
        .collect()
}

/// Add the bench accounts to a genesis file, and name its chain the dev chain id the
/// transfers are signed for (each dev network or localnet otherwise draws its own).
fn fund(genesis_path: &Path, keys: &[Keypair]) {
    let text = std::fs::read_to_string(genesis_path).unwrap();
    let mut genesis: Genesis = serde_json::from_str(&text).unwrap();
    genesis.chain_id = tessera_types::ChainId::new(DEV_CHAIN_ID).unwrap();
    for key in keys {
        genesis.accounts.push(GenesisAccount {
            address: key.address(),
            balance: Amount::from_base(1_000 * BASE_PER_TSR),
            bonded: Amount::ZERO,
            validator: None,
        });
    }
    std::fs::write(
        genesis_path,
        serde_json::to_string_pretty(&genesis).unwrap(),
    )
    .unwrap();
}

/// Transfers in submission order: nonce 0 of every account, then nonce 1, ...
fn sign_transfers(keys: &[Keypair], total: usize) -> Vec<SignedTransaction> {
    let sink = Keypair::from_seed(999_999).address();
    (0..total)
        .map(|i| {
            let key = &keys[i % keys.len()];
            let nonce = (i / keys.len()) as u64;
            dev_transfer(key, nonce, sink, Amount::from_base(1))
        })
        .collect()
}

async fn wait_for_height(clients: &[RpcClient], height: u64) {
    let start = Instant::now();
    loop {
        let mut all = true;
        for c in clients {
            all &= matches!(c.status().await, Ok(s) if s.height >= height);
        }
        if all {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "nodes did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Outcome {
    txs: usize,
    submit_secs: f64,
    total_secs: f64,
    median_ms: f64,
    p90_ms: f64,
    blocks: u64,
}

/// Submit every transaction, round-robin over `clients`, and time each one to finality
/// on `clients[0]`.
async fn load(clients: &[RpcClient], txs: Vec<SignedTransaction>, concurrency: usize) -> Outcome {
    let start_height = clients[0].status().await.unwrap().height;
    let submitted: Arc<Mutex<HashMap<Hash, Instant>>> = Arc::default();
    let queue = Arc::new(Mutex::new(txs.into_iter().enumerate().collect::<Vec<_>>()));
    queue.lock().unwrap().reverse();
    let total = queue.lock().unwrap().len();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (queue, submitted) = (queue.clone(), submitted.clone());
        let clients = clients.to_vec();
        tasks.push(tokio::spawn(async move {
            loop {
                let Some((i, tx)) = queue.lock().unwrap().pop() else {
                    return;
                };
                let sent = Instant::now();
                submitted.lock().unwrap().insert(tx.id(), sent);
                if let Err(e) = clients[i % clients.len()].submit(&tx).await {
                    panic!("submission {i} refused: {e}");
                }
            }
        }));
    }
    let watcher = {
        let client = clients[0].clone();
        tokio::spawn(async move {
            let mut finals: HashMap<Hash, Instant> = HashMap::new();
            let mut next = start_height + 1;
            while finals.len() < total {
                match client.block(&BlockId::Height(next)).await {
                    Ok(block) => {
                        let now = Instant::now();
                        for tx in block.txs {
                            finals.insert(tx.id, now);
                        }
                        next += 1;
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
                assert!(
                    start.elapsed() < Duration::from_secs(600),
                    "only {} of {total} final after 10 minutes",
                    finals.len()
                );
            }
            (finals, next - 1 - start_height)
        })
    };
    for t in tasks {
        t.await.unwrap();
    }
    let submit_secs = start.elapsed().as_secs_f64();
    let (finals, blocks) = watcher.await.unwrap();
    let submitted = submitted.lock().unwrap();
    let mut latencies: Vec<f64> = finals
        .iter()
        .filter_map(|(id, at)| {
            submitted
                .get(id)
                .map(|s| at.saturating_duration_since(*s).as_secs_f64() * 1e3)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let last = finals.values().max().copied().unwrap_or(start);
    Outcome {
        txs: total,
        submit_secs,
        total_secs: last.duration_since(start).as_secs_f64(),
        median_ms: latencies[latencies.len() / 2],
        p90_ms: latencies[latencies.len() * 9 / 10],
        blocks,
    }
}

/// Stops a child process (SIGINT, then SIGKILL) when dropped.
struct Guard(Option<Child>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let start = Instant::now();
            while matches!(child.try_wait(), Ok(None)) && start.elapsed() < Duration::from_secs(15)
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn bench_dev(
    root: &Path,
    keys: &[Keypair],
    txs: Vec<SignedTransaction>,
    c: usize,
) -> Outcome {
    let home = root.join("dev-home");
    std::fs::create_dir_all(&home).unwrap();
    let genesis = root.join("dev-genesis.json");
    let status = tessera(&home)
        .arg("genesis")
        .arg("--out")
        .arg(&genesis)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    fund(&genesis, keys);
    let port = common::free_port_range(1, &[]);
    let _node = Guard(Some(
        tessera(&home)
            .args([
                "node",
                "--dev",
                "--block-time-ms",
                &DEV_BLOCK_TIME_MS.to_string(),
            ])
            .arg("--genesis")
            .arg(&genesis)
            .args(["--rpc-addr", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    ));
    let clients = vec![RpcClient::new(&format!("http://127.0.0.1:{port}"))];
    wait_for_height(&clients, 1).await;
    load(&clients, txs, c).await
}

async fn bench_localnet(
    root: &Path,
    keys: &[Keypair],
    txs: Vec<SignedTransaction>,
    c: usize,
) -> Outcome {
    let home = root.join("net-home");
    std::fs::create_dir_all(&home).unwrap();
    let dir: PathBuf = root.join("net");
    let rpc = common::free_port_range(VALIDATORS as u16, &[]);
    let rpc_ports: Vec<u16> = (0..VALIDATORS as u16).map(|i| rpc + i).collect();
    let p2p = common::free_port_range(VALIDATORS as u16, &rpc_ports);
    let localnet = |init_only: bool| {
        let mut cmd = tessera(&home);
        cmd.args(["localnet", "--validators", &VALIDATORS.to_string()])
            .arg("--dir")
            .arg(&dir)
            .args([
                "--rpc-port",
                &rpc.to_string(),
                "--p2p-port",
                &p2p.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if init_only {
            cmd.arg("--init-only");
        }
        cmd
    };
    assert!(localnet(true).status().unwrap().success());
    fund(&dir.join("genesis.json"), keys);
    let _net = Guard(Some(localnet(false).spawn().unwrap()));
    let clients: Vec<RpcClient> = rpc_ports
        .iter()
        .map(|p| RpcClient::new(&format!("http://127.0.0.1:{p}")))
        .collect();
    wait_for_height(&clients, 2).await;
    load(&clients, txs, c).await
}

fn row(name: &str, o: &Outcome) -> String {
    format!(
        "| {name} | {} | {:.2} | {:.0} | {:.0} | {:.0} | {:.0} | {} |",
        o.txs,
        o.total_secs,
        o.txs as f64 / o.total_secs,
        o.txs as f64 / o.submit_secs,
        o.median_ms,
        o.p90_ms,
        o.blocks
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this with no flag: skip.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let txs = env_usize("TESSERA_BENCH_TXS", 20_000);
    let accounts = env_usize("TESSERA_BENCH_ACCOUNTS", 1_000);
    let clients = env_usize("TESSERA_BENCH_CLIENTS", 32);
    assert!(
        txs <= accounts * 1_000,
        "at most 1,000 transfers per account"
    );
    let root = std::env::temp_dir().join(format!("tessera-bench-net-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let keys = bench_keys(accounts);
    let signed = sign_transfers(&keys, txs);

    eprintln!("dev chain: {txs} transfers from {accounts} accounts, {clients} clients");
    let dev = bench_dev(&root, &keys, signed.clone(), clients).await;
    eprintln!("localnet of {VALIDATORS}: same load");
    let net = bench_localnet(&root, &keys, signed, clients).await;
    let _ = std::fs::remove_dir_all(&root);

    println!(
        "| chain | txs | seconds | final tx/s | submitted tx/s | median ms | p90 ms | blocks |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "{}",
        row(&format!("dev ({DEV_BLOCK_TIME_MS} ms blocks)"), &dev)
    );
    println!("{}", row(&format!("{VALIDATORS} validators"), &net));
    let ratio = (net.txs as f64 / net.total_secs) / (dev.txs as f64 / dev.total_secs);
    println!("network / dev throughput: {ratio:.2}");
}
