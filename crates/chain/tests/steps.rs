//! The three chain steps on the deterministic runtime: a block proposed by one node
//! verifies on another with the same genesis; tampered blocks are refused; a reopened
//! chain resumes at its head.

use commonware_runtime::{deterministic, Runner as _, Supervisor as _};
use tessera_chain::{
    genesis::dev_genesis, genesis::dev_key, Chain, ChainConfig, ChainError, TxLookup,
};
use tessera_state::bank;
use tessera_types::{Amount, Call, Hash, SignedTransaction, Transaction};

fn transfer(from: u64, nonce: u64, to: u64, base: u128) -> SignedTransaction {
    let key = dev_key(from);
    Transaction {
        chain_id: tessera_types::ChainId::new(tessera_chain::genesis::DEV_CHAIN_ID).unwrap(),
        signer: key.public_key().clone(),
        nonce,
        max_fee: Amount::from_tsr(1).unwrap(),
        call: Call::Transfer {
            to: dev_key(to).address(),
            amount: Amount::from_base(base),
        },
    }
    .sign(&key)
    .unwrap()
}

fn config(name: &str) -> ChainConfig {
    ChainConfig {
        verify_threads: 1,
        partition_prefix: name.into(),
        ..ChainConfig::default()
    }
}

#[test]
fn propose_verify_commit_and_reopen() {
    deterministic::Runner::default().start(|context| async move {
        let genesis = dev_genesis(1_000, &[]);
        let a = Chain::open(context.child("a"), &genesis, config("a"))
            .await
            .unwrap();
        let b = Chain::open(context.child("b"), &genesis, config("b"))
            .await
            .unwrap();
        assert_eq!(
            a.head().state_root,
            b.head().state_root,
            "same genesis, same root"
        );

        for n in 0..5 {
            a.submit(transfer(1, n, 2, 1_000)).unwrap();
        }
        a.submit(transfer(3, 0, 2, 7)).unwrap();
        let proposal = a.propose(dev_key(0).address(), 2_000).await.unwrap();
        assert_eq!(proposal.block.txs.len(), 6);
        let block = proposal.block.clone();

        // Another node re-executes it to the same roots.
        let verified = b.verify(block.clone()).await.unwrap();
        assert_eq!(verified.block.header.state_root, block.header.state_root);

        // Tampered blocks are refused.
        let mut wrong_root = block.clone();
        wrong_root.header.state_root = Hash::digest(b"x", &[]);
        assert!(matches!(
            b.verify(wrong_root).await,
            Err(ChainError::InvalidBlock { .. })
        ));
        let mut dropped_tx = block.clone();
        dropped_tx.txs.pop();
        assert!(matches!(
            b.verify(dropped_tx).await,
            Err(ChainError::InvalidBlock { .. })
        ));
        let mut reordered = block.clone();
        reordered.txs.swap(0, 1);
        reordered.header.txs_root = tessera_types::Block::compute_txs_root(&reordered.txs);
        assert!(
            matches!(
                b.verify(reordered).await,
                Err(ChainError::InvalidBlock { .. })
            ),
            "nonce order is part of validity"
        );

        a.commit(proposal).await.unwrap();
        b.commit(verified).await.unwrap();
        assert_eq!(a.head(), b.head());
        assert_eq!(a.mempool_len(), 0);
        let id = block.txs[0].id();
        assert!(matches!(
            a.lookup_tx(id).await.unwrap(),
            TxLookup::Committed {
                height: 1,
                index: 0,
                ..
            }
        ));
        let balance = a
            .with_state(|s| bank::account(s, &dev_key(2).address()).unwrap().balance)
            .unwrap();
        assert_eq!(
            balance,
            Amount::from_tsr(1_000_000)
                .unwrap()
                .checked_add(Amount::from_base(5_007))
                .unwrap()
        );

        // Reopen: same head, same state.
        let head = a.head();
        a.close().await.unwrap();
        drop(a);
        let again = Chain::open(context.child("a"), &genesis, config("a"))
            .await
            .unwrap();
        assert_eq!(again.head(), head);
        let (header, proof) = again
            .prove(&bank::account_key(&dev_key(2).address()))
            .await
            .unwrap();
        let value = tessera_store::verify_proof(
            &header.state_root.0,
            &bank::account_key(&dev_key(2).address()),
            &proof,
        )
        .unwrap();
        assert!(value.is_some());
    });
}

#[test]
fn builder_skips_rejected_and_keeps_gaps_pending() {
    deterministic::Runner::default().start(|context| async move {
        let genesis = dev_genesis(0, &[]);
        let chain = Chain::open(context.child("c"), &genesis, config("c"))
            .await
            .unwrap();
        chain.submit(transfer(1, 1, 2, 5)).unwrap(); // gap: nonce 0 missing
        let p = chain.propose(dev_key(0).address(), 1).await.unwrap();
        assert!(p.block.txs.is_empty());
        chain.commit(p).await.unwrap();
        assert_eq!(chain.mempool_len(), 1, "the future nonce stays pending");
        chain.submit(transfer(1, 0, 2, 5)).unwrap();
        let p = chain.propose(dev_key(0).address(), 2).await.unwrap();
        assert_eq!(p.block.txs.len(), 2);
        chain.commit(p).await.unwrap();
        assert_eq!(chain.head().height, 2);
    });
}
