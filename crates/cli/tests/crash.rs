//! Crash test: SIGKILL the dev node while it produces blocks under a stream of
//! transfers, restart it, and check that every transaction reported committed is
//! still committed at the same height, that the recipient's balance is exactly the
//! sum of those transfers (nothing lost, nothing applied twice), and that the chain
//! keeps going.
//!
//! `TESSERA_CRASH_CYCLES=N` sets the number of kill/restart cycles (default 3; the soak in
//! `docs/reliability.md` ran 100).
#![cfg(test)]

use std::{
    collections::BTreeMap,
    net::TcpListener,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use tessera_chain::genesis::{dev_key, dev_transfer_on};
use tessera_rpc::{api::TxResponse, RpcClient};
use tessera_types::{Amount, Hash, Keypair};

/// Kill/restart cycles (`TESSERA_CRASH_CYCLES`, default 3).
fn cycles() -> usize {
    std::env::var("TESSERA_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}
const SENDERS: u64 = 4;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_node(home: &Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args([
            "node",
            "--dev",
            "--block-time-ms",
            "100",
            "--rpc-addr",
            &format!("127.0.0.1:{port}"),
        ])
        .env("TESSERA_HOME", home)
        .env("TESSERA_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the node")
}

async fn wait_until_up(client: &RpcClient) -> u64 {
    let start = Instant::now();
    loop {
        if let Ok(status) = client.status().await {
            return status.height;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "node did not come up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_transactions_survive_sigkill() {
    let home = std::env::temp_dir().join(format!("tessera-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    let recipient = Keypair::from_seed(4242).address();
    // tx id -> (height, amount) for every transaction the node reported committed.
    let mut committed: BTreeMap<Hash, (u64, u128)> = BTreeMap::new();
    let mut last_height = 0;
    let mut amount_seed = 1u128;
    // Submitted but not yet seen committed when the node was killed.
    let mut in_flight: Vec<(Hash, u128)> = Vec::new();

    for cycle in 0..cycles() {
        let port = free_port();
        let mut node = start_node(&home, port);
        let client = RpcClient::new(&format!("http://127.0.0.1:{port}"));
        let height = wait_until_up(&client).await;
        assert!(
            height >= last_height,
            "cycle {cycle}: restarted at {height}, below the {last_height} seen before"
        );

        // Transactions still unconfirmed at the kill either made it into a block (the
        // node may have committed them just before dying) or were lost with the mempool.
        for (id, amount) in in_flight.drain(..) {
            if let TxResponse::Committed { height, .. } = client.tx(id).await.unwrap() {
                committed.insert(id, (height, amount));
            }
        }
        // Everything reported committed before the crash is still there.
        for (id, (h, _)) in &committed {
            match client.tx(*id).await.unwrap() {
                TxResponse::Committed { height, .. } => assert_eq!(height, *h, "tx {id} moved"),
                other => {
                    panic!("cycle {cycle}: tx {id} reported committed at {h} is now {other:?}")
                }
            }
        }
        let expected: u128 = committed.values().map(|(_, a)| a).sum();
        let balance = client
            .account(&recipient)
            .await
            .unwrap()
            .account
            .balance
            .base();
        assert_eq!(
            balance, expected,
            "cycle {cycle}: recipient balance is not the sum of committed transfers"
        );

        // A stream of transfers; kill the node at a moment that varies per cycle.
        let mut pending: Vec<(Hash, u128)> = Vec::new();
        // 300 ms to 2 s, spread over the cycles so kills land at every stage of a block.
        let kill_after = Duration::from_millis(300 + (457 * cycle as u64) % 1_700);
        let start = Instant::now();
        let chain = client.status().await.unwrap().chain_id;
        let mut nonces = Vec::new();
        for s in 1..=SENDERS {
            nonces.push(
                client
                    .account(&dev_key(s).address())
                    .await
                    .unwrap()
                    .account
                    .nonce,
            );
        }
        while start.elapsed() < kill_after {
            for s in 1..=SENDERS {
                let key = dev_key(s);
                let i = usize::try_from(s - 1).unwrap();
                amount_seed += 1;
                let tx = dev_transfer_on(
                    &chain,
                    &key,
                    nonces[i],
                    recipient,
                    Amount::from_base(amount_seed),
                );
                if client.submit(&tx).await.is_ok() {
                    nonces[i] += 1;
                    pending.push((tx.id(), amount_seed));
                }
            }
            // Record what the node now reports as committed.
            let mut still = Vec::new();
            for (id, amount) in pending.drain(..) {
                match client.tx(id).await {
                    Ok(TxResponse::Committed { height, .. }) => {
                        committed.insert(id, (height, amount));
                        last_height = last_height.max(height);
                    }
                    _ => still.push((id, amount)),
                }
            }
            pending = still;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        node.kill().expect("SIGKILL the node");
        node.wait().unwrap();
        in_flight = pending;
    }

    // Final restart: the chain continues past everything seen.
    let port = free_port();
    let mut node = start_node(&home, port);
    let client = RpcClient::new(&format!("http://127.0.0.1:{port}"));
    let restarted = wait_until_up(&client).await;
    for (id, amount) in in_flight.drain(..) {
        if let TxResponse::Committed { height, .. } = client.tx(id).await.unwrap() {
            committed.insert(id, (height, amount));
        }
    }
    let start = Instant::now();
    while client.status().await.unwrap().height <= restarted.max(last_height) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "chain did not continue after restart"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (id, (h, _)) in &committed {
        assert!(
            matches!(client.tx(*id).await.unwrap(), TxResponse::Committed { height, .. } if height == *h)
        );
    }
    let expected: u128 = committed.values().map(|(_, a)| a).sum();
    assert_eq!(
        client
            .account(&recipient)
            .await
            .unwrap()
            .account
            .balance
            .base(),
        expected
    );
    assert!(
        committed.len() >= 10,
        "the stream committed too few transactions ({}) to mean anything",
        committed.len()
    );
    eprintln!(
        "{} SIGKILL cycles: {} committed transfers, none lost or applied twice",
        cycles(),
        committed.len()
    );
    node.kill().unwrap();
    node.wait().unwrap();
    let _ = std::fs::remove_dir_all(&home);
}
