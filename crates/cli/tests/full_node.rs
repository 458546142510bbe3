//! Process-level test of a full node: `tessera localnet --validators 4 --full-nodes 1`.
//! The full node follows the validators (checking each block's finality certificate and
//! re-executing it), serves the same API, forwards transactions submitted to it, and after
//! its data is wiped resyncs from genesis to the same chain.
#![cfg(test)]

mod common;

use common::{
    height, read_pid, signal, start_localnet, tessera, wait_for_height, Cleanup, WAIT_LIMIT,
};
use std::{
    process::Stdio,
    time::{Duration, Instant},
};
use tessera_chain::genesis::{dev_key, dev_transfer_on};
use tessera_rpc::{api::TxResponse, client::BlockId};
use tessera_types::{Amount, Keypair};

const VALIDATORS: u16 = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_node_follows_forwards_and_resyncs_after_a_wipe() {
    let mut cleanup = Cleanup::new("full-node");
    let (dir, clients) = start_localnet(
        &mut cleanup,
        VALIDATORS + 1,
        &["--validators", &VALIDATORS.to_string(), "--full-nodes", "1"],
    );
    let (validator, full) = (&clients[0], &clients[VALIDATORS as usize]);
    wait_for_height(&clients.iter().collect::<Vec<_>>(), 2, "start").await;
    let status = full.status().await.unwrap();
    assert_eq!(status.mode, "full");
    assert_eq!(status.validators.len(), VALIDATORS as usize);
    assert!(status
        .validators
        .iter()
        .all(|v| v.bonded == Amount::from_tsr(100_000).unwrap()));

    // Transfers submitted to the full node are forwarded and become final; the full
    // node reports them at the same height as a validator.
    let sender = dev_key(7);
    let recipient = Keypair::from_seed(77).address();
    let mut final_txs = Vec::new();
    for nonce in 0..4 {
        let tx = dev_transfer_on(
            &status.chain_id,
            &sender,
            nonce,
            recipient,
            Amount::from_base(10 + u128::from(nonce)),
        );
        full.submit(&tx).await.unwrap();
        let on_full = full.wait_for_tx(tx.id(), WAIT_LIMIT).await.unwrap();
        let TxResponse::Committed { height: h, .. } = on_full else {
            panic!("tx {} is {on_full:?} on the full node", tx.id());
        };
        match validator.tx(tx.id()).await.unwrap() {
            TxResponse::Committed { height, .. } => assert_eq!(height, h),
            other => panic!("tx final on the full node is {other:?} on a validator"),
        }
        final_txs.push((tx.id(), h));
    }
    let balance = full.account(&recipient).await.unwrap().account.balance;
    assert_eq!(balance, Amount::from_base(10 + 11 + 12 + 13));

    // Wipe the full node's data and restart it: it resyncs from genesis, verifying every
    // block, to the validators' chain.
    let pid = read_pid(&dir, "f1");
    signal(pid, "-KILL");
    let start = Instant::now();
    while height(full).await.is_some() {
        assert!(
            start.elapsed() < WAIT_LIMIT,
            "the killed full node still answers"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    std::fs::remove_dir_all(dir.join("f1").join("data")).unwrap();
    let target = height(validator).await.unwrap();
    let restarted = tessera()
        .arg("node")
        .arg("--config")
        .arg(dir.join("f1").join("config.toml"))
        .env("TESSERA_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("restart the full node");
    cleanup.restarted = Some(restarted);
    let resync = Instant::now();
    wait_for_height(&[full], target, "resync").await;
    eprintln!(
        "wiped full node resynced {target} blocks in {:?}",
        resync.elapsed()
    );
    for h in [1, target / 2, target] {
        assert_eq!(
            full.block(&BlockId::Height(h)).await.unwrap().hash,
            validator.block(&BlockId::Height(h)).await.unwrap().hash,
            "height {h}"
        );
    }
    for (id, h) in &final_txs {
        match full.tx(*id).await.unwrap() {
            TxResponse::Committed { height, .. } => assert_eq!(height, *h),
            other => panic!("after the resync tx {id} is {other:?}"),
        }
    }
}
