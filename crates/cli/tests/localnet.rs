//! Process-level test of a validator network: `tessera localnet` runs four validators on
//! loopback; transfers stream to their APIs; one validator is SIGKILLed and the others
//! keep finalizing; restarted with `tessera node --config` it catches up; every
//! transaction reported final stays final at the same height on every node, and the
//! nodes agree on the blocks.
//!
//! Each sender always submits to the same node and the senders are spread over the nodes,
//! so while a validator is down its sender pauses (its nonces are not lost with it).
#![cfg(test)]

mod common;

use common::{
    height, read_pid, signal, start_localnet, tessera, wait_for_height, Cleanup, WAIT_LIMIT,
};
use std::{
    collections::BTreeMap,
    process::{Child, Stdio},
    time::{Duration, Instant},
};
use tessera_chain::genesis::{dev_key, dev_transfer_on};
use tessera_rpc::{api::TxResponse, client::BlockId, RpcClient};
use tessera_types::{Amount, Hash, Keypair};

const VALIDATORS: usize = 4;

/// One localnet at a time: two would race for ports and share the 2 cores.
static ONE_LOCALNET: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
/// The validator killed and restarted (0-based).
const VICTIM: usize = 1;
/// Senders (dev accounts 1..=4), each pinned to one node, with their next nonces.
struct Stream {
    /// The localnet's own chain id.
    chain: tessera_types::ChainId,
    recipient: tessera_types::Address,
    nonces: Vec<u64>,
    amount: u128,
    /// Submitted, not yet seen final: (node, id, amount).
    pending: Vec<(usize, Hash, u128)>,
    /// Reported final: id -> (height, amount).
    committed: BTreeMap<Hash, (u64, u128)>,
}

impl Stream {
    fn sender(node: usize) -> Keypair {
        dev_key(u64::try_from(node).unwrap() + 1)
    }

    /// One transfer from each sender whose node is up, then record what became final.
    async fn step(&mut self, clients: &[RpcClient], up: &[bool]) {
        for (node, client) in clients.iter().enumerate() {
            if !up[node] {
                continue;
            }
            let key = Stream::sender(node);
            self.amount += 1;
            let tx = dev_transfer_on(
                &self.chain,
                &key,
                self.nonces[node],
                self.recipient,
                Amount::from_base(self.amount),
            );
            if client.submit(&tx).await.is_ok() {
                self.nonces[node] += 1;
                self.pending.push((node, tx.id(), self.amount));
            }
        }
        let mut still = Vec::new();
        for (node, id, amount) in self.pending.drain(..) {
            let found = if up[node] {
                clients[node].tx(id).await.ok()
            } else {
                None
            };
            match found {
                Some(TxResponse::Committed { height, .. }) => {
                    self.committed.insert(id, (height, amount));
                }
                _ => still.push((node, id, amount)),
            }
        }
        self.pending = still;
    }

    async fn run_for(&mut self, clients: &[RpcClient], up: &[bool], duration: Duration) {
        let start = Instant::now();
        while start.elapsed() < duration {
            self.step(clients, up).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validator_network_survives_a_killed_validator() {
    let _one = ONE_LOCALNET.lock().await;
    let mut cleanup = Cleanup::new("localnet");
    let root = cleanup.root.clone();
    let (dir, clients) = start_localnet(
        &mut cleanup,
        VALIDATORS as u16,
        &["--validators", &VALIDATORS.to_string()],
    );
    let supervisor_pid = cleanup.supervisor.as_ref().unwrap().id();
    let all: Vec<&RpcClient> = clients.iter().collect();
    let started = Instant::now();
    wait_for_height(&all, 2, "start").await;
    for c in &clients {
        assert_eq!(c.status().await.unwrap().mode, "validator");
    }
    eprintln!("4 validators finalizing after {:?}", started.elapsed());

    let mut stream = Stream {
        chain: clients[0].status().await.unwrap().chain_id,
        recipient: Keypair::from_seed(4242).address(),
        nonces: vec![0; VALIDATORS],
        amount: 0,
        pending: Vec::new(),
        committed: BTreeMap::new(),
    };
    let mut up = vec![true; VALIDATORS];
    stream.run_for(&clients, &up, Duration::from_secs(5)).await;

    // SIGKILL one validator; the supervisor does not restart it.
    let victim_pid = read_pid(&dir, &format!("v{}", VICTIM + 1));
    signal(victim_pid, "-KILL");
    up[VICTIM] = false;
    let others: Vec<&RpcClient> = (0..VALIDATORS)
        .filter(|i| *i != VICTIM)
        .map(|i| &clients[i])
        .collect();
    let mut at_kill = 0;
    for c in &others {
        at_kill = at_kill.max(height(c).await.unwrap());
    }
    stream.run_for(&clients, &up, Duration::from_secs(5)).await;
    wait_for_height(&others, at_kill + 3, "after the kill").await;
    assert!(
        height(&clients[VICTIM]).await.is_none(),
        "the killed validator still answers"
    );

    // Restart it from its config: it catches up to the others.
    let config = dir.join(format!("v{}", VICTIM + 1)).join("config.toml");
    let restarted: Child = tessera()
        .arg("node")
        .arg("--config")
        .arg(&config)
        .env("TESSERA_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("restart the validator");
    cleanup.restarted = Some(restarted);
    let mut target = 0;
    for c in &others {
        target = target.max(height(c).await.unwrap());
    }
    let restart_at = Instant::now();
    wait_for_height(&[&clients[VICTIM]], target, "catch-up").await;
    eprintln!(
        "restarted validator caught up to height {target} in {:?}",
        restart_at.elapsed()
    );
    up[VICTIM] = true;
    stream.run_for(&clients, &up, Duration::from_secs(4)).await;

    // Every transaction reported final is final at the same height on every node.
    let highest = stream
        .committed
        .values()
        .map(|(h, _)| *h)
        .max()
        .unwrap_or(0);
    wait_for_height(&all, highest, "final check").await;
    for (id, (h, _)) in &stream.committed {
        for (node, c) in clients.iter().enumerate() {
            match c.tx(*id).await.unwrap() {
                TxResponse::Committed { height, .. } => {
                    assert_eq!(height, *h, "tx {id} at {height} on node {node}, not {h}")
                }
                other => panic!("tx {id} final at {h} is {other:?} on node {node}"),
            }
        }
    }
    // Heads agree: the same block at the lowest head, on every node.
    let mut common = u64::MAX;
    for c in &clients {
        common = common.min(height(c).await.unwrap());
    }
    let mut hashes = Vec::new();
    for c in &clients {
        hashes.push(c.block(&BlockId::Height(common)).await.unwrap().hash);
    }
    assert!(
        hashes.windows(2).all(|w| w[0] == w[1]),
        "nodes differ at height {common}: {hashes:?}"
    );
    assert!(
        stream.committed.len() >= 8,
        "too few transfers became final ({}) to mean anything",
        stream.committed.len()
    );
    eprintln!(
        "{} transfers final, common height {common}, total {:?}",
        stream.committed.len(),
        started.elapsed()
    );

    // Ctrl-C to the supervisor stops its validators; the restarted one is ours to stop.
    let mut supervisor = cleanup.supervisor.take().unwrap();
    signal(supervisor_pid, "-INT");
    let stop = Instant::now();
    while supervisor.try_wait().unwrap().is_none() {
        assert!(stop.elapsed() < WAIT_LIMIT, "localnet did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut restarted = cleanup.restarted.take().unwrap();
    restarted.kill().unwrap();
    restarted.wait().unwrap();
    for (node, client) in clients.iter().enumerate() {
        assert!(
            node == VICTIM || height(client).await.is_none(),
            "validator {node} still runs after the localnet stopped"
        );
    }

    // Run again on the same directory: the localnet is reused, not regenerated.
    let genesis = std::fs::read(dir.join("genesis.json")).unwrap();
    let again = tessera()
        .args(["localnet", "--init-only", "--validators", "7"])
        .arg("--dir")
        .arg(&dir)
        .env("TESSERA_HOME", root.join("home"))
        .output()
        .unwrap();
    assert!(again.status.success(), "{again:?}");
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).lines().count(),
        VALIDATORS
    );
    assert_eq!(std::fs::read(dir.join("genesis.json")).unwrap(), genesis);
}

/// A validator's config sets its genesis, addresses and timing: the dev flags that would
/// silently lose against it are refused.
#[test]
fn config_refuses_dev_flags() {
    for flag in [
        ["--rpc-addr", "127.0.0.1:1"],
        ["--genesis", "g.json"],
        ["--block-time-ms", "5"],
    ] {
        let out = tessera()
            .args(["node", "--config", "config.toml"])
            .args(flag)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{flag:?} accepted with --config");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("cannot be used with"), "{flag:?}: {stderr}");
    }
}

/// A standby validator joins: `localnet --validators 3 --standby 1` runs four nodes, three
/// of them bonded. The fourth's key is imported into the wallet and staked with
/// `tessera stake`; from the next epoch it is in the validator set every node reports,
/// and it proposes blocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_validator_joins_after_staking() {
    let _one = ONE_LOCALNET.lock().await;
    const EPOCH_BLOCKS: u64 = 20;
    let mut cleanup = Cleanup::new("localnet-join");
    let root = cleanup.root.clone();
    let epoch_blocks = EPOCH_BLOCKS.to_string();
    let (dir, clients) = start_localnet(
        &mut cleanup,
        4,
        &[
            "--validators",
            "3",
            "--standby",
            "1",
            "--epoch-blocks",
            &epoch_blocks,
        ],
    );
    let all: Vec<&RpcClient> = clients.iter().collect();
    wait_for_height(&all, 2, "start").await;
    // Each node reports its authenticated connections to the three others.
    let start = Instant::now();
    for c in &clients {
        while c.status().await.unwrap().peers != Some(3) {
            assert!(
                start.elapsed() < WAIT_LIMIT,
                "{} never saw 3 peers",
                c.url()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let genesis_set = clients[0].validators().await.unwrap();
    assert_eq!(genesis_set.members.len(), 3);

    let cli = |args: &[&str]| {
        let out = tessera()
            .args(args)
            .args(["--node", clients[3].url()])
            .env("TESSERA_HOME", root.join("home"))
            .env("TESSERA_PASSPHRASE", "join test")
            .output()
            .unwrap();
        assert!(out.status.success(), "tessera {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let key_file = dir.join("v4").join("validator.key");
    cli(&[
        "keys",
        "import",
        "v4",
        "--key-file",
        key_file.to_str().unwrap(),
    ]);
    cli(&["stake", "--from", "v4", "100000"]);
    let joined = cli(&["--json", "keys", "show", "v4"]);
    let joined: serde_json::Value = serde_json::from_str(&joined).unwrap();
    let joined = joined["address"].as_str().unwrap().to_string();

    // The set of the epoch after the stake landed includes v4, on every node.
    let staked_at = height(&clients[3]).await.unwrap();
    let next_epoch = staked_at / EPOCH_BLOCKS + 1;
    let start = Instant::now();
    let set = loop {
        let set = clients[0].validators().await.unwrap();
        if set.epoch >= next_epoch {
            break set;
        }
        assert!(
            start.elapsed() < 2 * WAIT_LIMIT,
            "epoch {next_epoch} never began"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let members: Vec<String> = set.members.iter().map(|m| m.address.to_string()).collect();
    assert_eq!(members.len(), 4, "{members:?}");
    assert!(members.contains(&joined), "{members:?} lacks {joined}");
    // Every node reaches that epoch too, and its status lists v4.
    wait_for_height(&all, set.start_height, "the new epoch everywhere").await;
    for c in &clients {
        let status = c.status().await.unwrap();
        assert!(
            status
                .validators
                .iter()
                .any(|v| v.address.to_string() == joined),
            "{} lists {:?}",
            c.url(),
            status.validators
        );
    }

    // It votes and leads: a block of the new epoch is its.
    let from = set.start_height;
    wait_for_height(&all, from + 12, "the new epoch").await;
    let mut proposers = Vec::new();
    for h in from..=from + 12 {
        let block = clients[0].block(&BlockId::Height(h)).await.unwrap();
        proposers.push(block.header.proposer.to_string());
    }
    assert!(
        proposers.contains(&joined),
        "v4 proposed none of {proposers:?}"
    );

    // SIGTERM (what `kill`, systemd and containers send) stops the nodes as Ctrl-C does.
    let mut supervisor = cleanup.supervisor.take().unwrap();
    signal(supervisor.id(), "-TERM");
    let stop = Instant::now();
    while supervisor.try_wait().unwrap().is_none() {
        assert!(stop.elapsed() < WAIT_LIMIT, "localnet ignored SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for client in &clients {
        assert!(
            height(client).await.is_none(),
            "{} still runs after the localnet was terminated",
            client.url()
        );
    }
}
