//! Writes one valid input per fuzz target under `fuzz/seeds/<target>/`, so each run starts
//! from real encodings instead of finding their structure from nothing:
//! `cargo run --manifest-path fuzz/Cargo.toml --example seeds`.

use commonware_codec::Encode;
use std::path::Path;
use tessera_types::{
    evidence::{DoubleSign, SignedVote, VoteKind},
    receipt::{Failure, FailureArg},
    Address, Amount, Block, BlockHeader, BlockReceipts, Call, ChainId, Hash, Keypair, Receipt,
    SignedTransaction, Transaction, TxStatus,
};

fn transfer(seed: u64, nonce: u64) -> SignedTransaction {
    let key = Keypair::from_seed(seed);
    Transaction {
        chain_id: ChainId::new("tessera-dev").unwrap(),
        signer: key.public_key().clone(),
        nonce,
        max_fee: Amount::from_base(1_000_000_000),
        call: Call::Transfer {
            to: Keypair::from_seed(seed + 100).address(),
            amount: Amount::from_base(12_345),
        },
    }
    .sign(&key)
    .unwrap()
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn main() {
    let txs = vec![transfer(1, 0), transfer(2, 7)];
    write("signed_tx", "transfer", &txs[0].to_bytes());
    let block = Block {
        header: BlockHeader {
            chain_id: ChainId::new("tessera-dev").unwrap(),
            height: 3,
            view: 4,
            parent: Hash([9; 32]),
            timestamp_ms: 1_700_000_000_000,
            proposer: Keypair::from_seed(0).address(),
            txs_root: Block::compute_txs_root(&txs),
            receipts_root: Hash([1; 32]),
            state_root: Hash([2; 32]),
        },
        txs: txs.clone(),
    };
    write("block", "two_transfers", &block.to_bytes());
    write("consensus_block", "two_transfers", &block.to_bytes());
    let receipts = BlockReceipts {
        txs: vec![
            Receipt {
                tx: txs[0].id(),
                status: TxStatus::Success,
                fee: Amount::from_base(300_000),
                events: Vec::new(),
            },
            Receipt {
                tx: txs[1].id(),
                status: TxStatus::Failed(Failure {
                    code: 5,
                    args: vec![
                        FailureArg::Int(12_500_281_000),
                        FailureArg::Address(Address::from_public_key(
                            Keypair::from_seed(3).public_key(),
                        )),
                    ],
                    message: None,
                }),
                fee: Amount::from_base(300_000),
                events: Vec::new(),
            },
        ],
        block_events: Vec::new(),
    };
    write("receipts", "success_and_failure", &receipts.to_bytes());
    write(
        "gossip_batch",
        "two",
        &tessera_consensus::gossip::encode_batch(&txs),
    );
    let key = Keypair::from_seed(5);
    let vote = |payload: u8| SignedVote {
        proposal: vec![payload; 48],
        signature: key.sign(b"seed", &[payload]),
    };
    let evidence = DoubleSign {
        kind: VoteKind::Notarize,
        validator: key.address(),
        first: vote(1),
        second: vote(2),
    };
    write("evidence", "notarize", evidence.encode().as_ref());
    write(
        "params",
        "default",
        tessera_state::Params::default().encode().as_ref(),
    );
    let dir = std::env::temp_dir().join(format!("tessera-fuzz-seeds-{}", std::process::id()));
    let store = tessera_blobs::BlobStore::open(&dir).unwrap();
    let data: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
    let root = store.put_bytes(&data).unwrap();
    write("unixfs_node", "parent", &store.get_block(&root).unwrap());
    let small = store.put_bytes(b"a file of one leaf\n").unwrap();
    write("unixfs_node", "leaf", &store.get_block(&small).unwrap());
    write("cid", "binary", &root.to_bytes());
    write("cid", "text_v1", root.to_string().as_bytes());
    write("cid", "text_v0", root.to_v0_string().as_bytes());
    let _ = std::fs::remove_dir_all(&dir);
    println!("seeds written under fuzz/seeds/ (state_proof has none: its fuzzer starts empty)");
}
