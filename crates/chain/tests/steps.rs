//! The three chain steps on the deterministic runtime: a block proposed by one node
//! verifies on another with the same genesis; tampered blocks are refused; a reopened
//! chain resumes at its head.
#![cfg(test)]

use commonware_runtime::{deterministic, Runner as _, Supervisor as _};
use tessera_chain::{
    genesis::dev_genesis, genesis::dev_key, genesis::dev_transfer, Chain, ChainConfig, ChainError,
    TxLookup,
};
use tessera_state::bank;
use tessera_types::{Amount, Hash, SignedTransaction};

fn transfer(from: u64, nonce: u64, to: u64, base: u128) -> SignedTransaction {
    dev_transfer(
        &dev_key(from),
        nonce,
        dev_key(to).address(),
        Amount::from_base(base),
    )
}

/// Two nodes' chains from the same dev genesis.
async fn two_chains(
    context: &deterministic::Context,
) -> (Chain<deterministic::Context>, Chain<deterministic::Context>) {
    let genesis = dev_genesis(1_000, &[]);
    let a = Chain::open(context.child("a"), &genesis, config("a"))
        .await
        .unwrap();
    let b = Chain::open(context.child("b"), &genesis, config("b"))
        .await
        .unwrap();
    (a, b)
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
        let block = a
            .propose_dev(a.head().hash(), dev_key(0).address(), 2_000)
            .await
            .unwrap();
        assert_eq!(block.txs.len(), 6);

        // Another node re-executes it to the same roots.
        b.verify(block.clone()).await.unwrap();

        // Tampered blocks are refused.
        let mut wrong_root = block.clone();
        wrong_root.header.state_root = Hash::digest(b"x", &[]);
        assert!(matches!(
            b.verify(wrong_root).await,
            Err(ChainError::InvalidBlock { .. })
        ));
        // A body its header does not commit to is told apart from an invalid block: the
        // copy was altered on the way, and the genuine block may still be valid.
        let mut dropped_tx = block.clone();
        dropped_tx.txs.pop();
        assert!(matches!(
            b.verify(dropped_tx).await,
            Err(ChainError::BodyMismatch { height: 1, .. })
        ));
        let mut resigned = block.clone();
        let mut bytes = resigned.txs[0].to_bytes();
        let sig_at = bytes.len() - 64;
        let other = resigned.txs[1].to_bytes();
        bytes[sig_at..].copy_from_slice(&other[other.len() - 64..]);
        resigned.txs[0] = tessera_types::SignedTransaction::from_bytes(&bytes).unwrap();
        assert_eq!(resigned.txs[0].id(), block.txs[0].id());
        assert_eq!(resigned.hash(), block.hash(), "same header");
        assert!(matches!(
            b.verify(resigned).await,
            Err(ChainError::BodyMismatch { .. })
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

        a.commit(block.hash()).await.unwrap();
        b.commit(block.hash()).await.unwrap();
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
        let p = chain
            .propose_dev(chain.head().hash(), dev_key(0).address(), 1)
            .await
            .unwrap();
        assert!(p.txs.is_empty());
        chain.commit(p.hash()).await.unwrap();
        assert_eq!(chain.mempool_len(), 1, "the future nonce stays pending");
        chain.submit(transfer(1, 0, 2, 5)).unwrap();
        let p = chain
            .propose_dev(chain.head().hash(), dev_key(0).address(), 2)
            .await
            .unwrap();
        assert_eq!(p.txs.len(), 2);
        chain.commit(p.hash()).await.unwrap();
        assert_eq!(chain.head().height, 2);
    });
}

/// What a BFT engine does: blocks are built and verified on notarized but not yet
/// final parents, forks compete, and finality picks one branch.
#[test]
fn pending_chains_and_forks() {
    deterministic::Runner::default().start(|context| async move {
        let genesis = dev_genesis(0, &[]);
        let a = Chain::open(context.child("a"), &genesis, config("fa"))
            .await
            .unwrap();
        let b = Chain::open(context.child("b"), &genesis, config("fb"))
            .await
            .unwrap();
        let proposer = dev_key(0).address();
        let root = a.head().hash();

        // A chain of two pending blocks on node a; the second spends what the first paid.
        a.submit(transfer(1, 0, 5, 3_000)).unwrap();
        let one = a.propose_dev(root, proposer, 1).await.unwrap();
        let two = a.propose_dev(one.hash(), proposer, 2).await.unwrap();
        assert!(
            two.txs.is_empty(),
            "the transfer in the pending parent is not included twice"
        );
        a.submit(transfer(1, 1, 5, 4_000)).unwrap();
        let three = a.propose_dev(two.hash(), proposer, 3).await.unwrap();
        assert_eq!(three.txs.len(), 1, "nonce 1 follows the pending nonce 0");

        // A competing sibling of `one`, built by node b.
        b.submit(transfer(2, 0, 5, 9)).unwrap();
        let rival = b.propose_dev(root, dev_key(7).address(), 1).await.unwrap();

        // Node b verifies a's whole pending chain before any of it is final.
        for block in [&one, &two, &three] {
            b.verify((*block).clone()).await.unwrap();
        }
        // A child must come with its parent.
        let orphan_parent = Hash::digest(b"nowhere", &[]);
        let mut orphan = two.clone();
        orphan.header.parent = orphan_parent;
        assert!(matches!(
            b.verify(orphan).await,
            Err(ChainError::UnknownParent(_))
        ));

        // Finality picks a's branch: the rival and anything on it are dropped.
        for block in [&one, &two, &three] {
            a.commit(block.hash()).await.unwrap();
            b.commit(block.hash()).await.unwrap();
        }
        assert_eq!(a.head(), b.head());
        assert_eq!(a.head().height, 3);
        assert!(matches!(
            b.commit(rival.hash()).await,
            Err(ChainError::UnknownBlock(_))
        ));
        assert!(matches!(
            b.propose_dev(rival.hash(), proposer, 9).await,
            Err(ChainError::UnknownParent(_))
        ));
        let balance = b
            .with_state(|s| bank::account(s, &dev_key(5).address()).unwrap().balance)
            .unwrap();
        assert_eq!(
            balance,
            Amount::from_tsr(1_000_000)
                .unwrap()
                .checked_add(Amount::from_base(7_000))
                .unwrap()
        );
        // b's own transfer from the losing fork is still pending and lands later.
        let next = b.propose_dev(b.head().hash(), proposer, 4).await.unwrap();
        assert_eq!(next.txs.len(), 1);
    });
}

/// A node skips re-verifying signatures only of transactions its mempool holds byte for
/// byte: the same transaction with another signature is checked, and refused.
#[test]
fn forged_signatures_are_refused_even_for_transactions_in_the_mempool() {
    use commonware_codec::{DecodeExt as _, Encode as _};
    deterministic::Runner::default().start(|context| async move {
        let (a, b) = two_chains(&context).await;
        let tx = transfer(1, 0, 2, 1_000);
        a.submit(tx.clone()).unwrap();
        b.submit(tx.clone()).unwrap();
        let block = a
            .propose_dev(a.head().hash(), dev_key(0).address(), 2_000)
            .await
            .unwrap();

        let mut bytes = tx.encode().to_vec();
        let s_low = bytes.len() - 32;
        bytes[s_low] ^= 1;
        let forged_tx = SignedTransaction::decode(bytes::Bytes::from(bytes)).unwrap();
        assert_eq!(
            forged_tx.id(),
            tx.id(),
            "the id does not cover the signature"
        );
        let mut forged = block.clone();
        forged.txs[0] = forged_tx;
        forged.header.txs_root = tessera_types::Block::compute_txs_root(&forged.txs);
        match b.verify(forged).await {
            Err(ChainError::InvalidBlock { reason, .. }) => {
                assert!(reason.contains("bad signature"), "{reason}")
            }
            other => panic!("forged signature accepted: {other:?}"),
        }
        b.verify(block).await.unwrap();
    });
}

/// What a crash inside `Chain::commit` leaves behind: `block` written to the archive of
/// the chain stored under `prefix` (a commit writes the block first), its state not.
async fn archive_only(
    context: &deterministic::Context,
    prefix: &str,
    block: &tessera_types::Block,
    receipts: &tessera_types::BlockReceipts,
) {
    let mut blocks = tessera_store::BlockStore::open(
        context.child("crash"),
        tessera_store::BlockConfig::with_prefix(format!("{prefix}-blocks")),
    )
    .await
    .unwrap();
    let ids = block.txs.iter().map(|t| t.id().0).collect();
    blocks
        .put(
            block.header.height,
            block.hash().0,
            block.to_bytes(),
            receipts.to_bytes(),
            ids,
        )
        .await
        .unwrap();
}

/// A crash between archiving a block and committing its state (a commit writes the block
/// first): the reopened chain finds the block one ahead of its state, re-executes it and
/// ends exactly where a node that never crashed is. An archived block that does not
/// re-execute to its own state root is refused instead of applied.
#[test]
fn a_crash_between_archiving_a_block_and_its_state_is_replayed() {
    deterministic::Runner::default().start(|context| async move {
        let genesis = dev_genesis(1_000, &[]);
        let a = Chain::open(context.child("a"), &genesis, config("a"))
            .await
            .unwrap();
        let b = Chain::open(context.child("b"), &genesis, config("b"))
            .await
            .unwrap();
        for n in 0..3 {
            let block = {
                b.submit(transfer(1, n, 2, 10 + u128::from(n))).unwrap();
                b.propose_dev(b.head().hash(), dev_key(0).address(), 1_000 + n)
                    .await
                    .unwrap()
            };
            b.commit(block.hash()).await.unwrap();
            if n < 2 {
                a.commit_finalized(block).await.unwrap();
            }
        }
        assert_eq!((a.head().height, b.head().height), (2, 3));
        let (block, receipts) = b.block(3).await.unwrap().unwrap();
        drop(a);

        // `a` "crashed" inside commit 3: the block reached its archive, its state did not.
        archive_only(&context, "a", &block, &receipts).await;

        let a = Chain::open(context.child("a_reopened"), &genesis, config("a"))
            .await
            .unwrap();
        assert_eq!(
            a.head(),
            b.head(),
            "replayed to the same header and state root"
        );
        let recipient = |c: &Chain<deterministic::Context>| {
            c.with_state(|s| bank::account(s, &dev_key(2).address()).unwrap().balance)
                .unwrap()
        };
        assert_eq!(recipient(&a), recipient(&b));
        assert!(matches!(
            a.lookup_tx(block.txs[0].id()).await.unwrap(),
            TxLookup::Committed { height: 3, .. }
        ));
        // And it goes on from there.
        a.submit(transfer(1, 3, 2, 99)).unwrap();
        let next = a
            .propose_dev(a.head().hash(), dev_key(0).address(), 9_000)
            .await
            .unwrap();
        a.commit(next.hash()).await.unwrap();
        b.commit_finalized(next).await.unwrap();
        assert_eq!(a.head(), b.head());
    });
}

#[test]
fn an_archived_block_that_replays_to_another_root_is_refused() {
    deterministic::Runner::default().start(|context| async move {
        let genesis = dev_genesis(1_000, &[]);
        let b = Chain::open(context.child("b"), &genesis, config("b"))
            .await
            .unwrap();
        b.submit(transfer(1, 0, 2, 10)).unwrap();
        let block = b
            .propose_dev(b.head().hash(), dev_key(0).address(), 1_000)
            .await
            .unwrap();
        b.commit(block.hash()).await.unwrap();
        let (mut block, receipts) = b.block(1).await.unwrap().unwrap();
        let a = Chain::open(context.child("a"), &genesis, config("a"))
            .await
            .unwrap();
        drop(a);
        block.header.state_root = Hash::digest(b"not the root", &[]);
        archive_only(&context, "a", &block, &receipts).await;
        let reopened = Chain::open(context.child("a_reopened"), &genesis, config("a")).await;
        assert!(
            matches!(reopened, Err(ChainError::Inconsistent(_))),
            "a block that does not re-execute to its root is never applied"
        );
    });
}
