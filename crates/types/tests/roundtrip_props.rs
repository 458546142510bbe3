//! One encoding per value: for every decoder that takes bytes from the network or disk,
//! any input it accepts re-encodes to exactly those bytes. Inputs are valid encodings of
//! generated values, then the same bytes with a byte changed, cut short or extended; the
//! fuzz targets in `fuzz/` check the same property on inputs libFuzzer finds.
#![cfg(test)]

use commonware_codec::{DecodeExt, Encode};
use proptest::prelude::*;
use tessera_types::{
    evidence::{DoubleSign, SignedVote, VoteKind},
    Address, Amount, Block, BlockHeader, BlockReceipts, Call, ChainId, Failure, FailureArg, Hash,
    Keypair, Receipt, SignedTransaction, Transaction, TxStatus,
};

fn transfer(seed: u64, nonce: u64, amount: u128) -> SignedTransaction {
    let key = Keypair::from_seed(seed);
    Transaction {
        chain_id: ChainId::new("tessera-prop").unwrap(),
        signer: key.public_key().clone(),
        nonce,
        max_fee: Amount::from_base(1_000_000_000),
        call: Call::Transfer {
            to: Keypair::from_seed(seed.wrapping_add(1)).address(),
            amount: Amount::from_base(amount),
        },
    }
    .sign(&key)
    .unwrap()
}

fn block(txs: Vec<SignedTransaction>, height: u64) -> Block {
    Block {
        header: BlockHeader {
            chain_id: ChainId::new("tessera-prop").unwrap(),
            height,
            view: height.saturating_add(1),
            parent: Hash([3; 32]),
            timestamp_ms: 1_700_000_000_000,
            proposer: Keypair::from_seed(0).address(),
            txs_root: Block::compute_txs_root(&txs),
            receipts_root: Hash([4; 32]),
            state_root: Hash([5; 32]),
        },
        txs,
    }
}

fn receipts(txs: &[SignedTransaction], code: u16, arg: u128) -> BlockReceipts {
    BlockReceipts {
        txs: txs
            .iter()
            .enumerate()
            .map(|(i, tx)| Receipt {
                tx: tx.id(),
                status: if i % 2 == 0 {
                    TxStatus::Success
                } else {
                    TxStatus::Failed(Failure {
                        code,
                        args: vec![
                            FailureArg::Int(arg),
                            FailureArg::Address(Address::from_public_key(&tx.tx().signer)),
                        ],
                        message: None,
                    })
                },
                fee: Amount::from_base(arg),
                events: Vec::new(),
            })
            .collect(),
        block_events: Vec::new(),
    }
}

fn double_sign(seed: u64, first: u8, second: u8) -> DoubleSign {
    let key = Keypair::from_seed(seed);
    let vote = |payload: u8| SignedVote {
        proposal: vec![payload; 48],
        signature: key.sign(b"prop", &[payload]),
    };
    DoubleSign {
        kind: VoteKind::Finalize,
        validator: key.address(),
        first: vote(first),
        second: vote(second),
    }
}

/// The input, and the input changed at `at` (one byte flipped, then cut there, then
/// extended there), as the mutations a network peer could send.
fn variants(bytes: &[u8], at: usize, flip: u8) -> Vec<Vec<u8>> {
    let at = at % bytes.len().max(1);
    let mut flipped = bytes.to_vec();
    if let Some(b) = flipped.get_mut(at) {
        *b ^= flip.max(1);
    }
    let cut = bytes[..at].to_vec();
    let mut longer = bytes.to_vec();
    longer.insert(at, flip);
    vec![bytes.to_vec(), flipped, cut, longer]
}

fn assert_canonical<T>(
    bytes: &[u8],
    decode: impl Fn(&[u8]) -> Option<T>,
    encode: impl Fn(&T) -> Vec<u8>,
) {
    if let Some(value) = decode(bytes) {
        assert_eq!(
            encode(&value),
            bytes,
            "an accepted input re-encodes differently"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn transactions_blocks_and_receipts_have_one_encoding(
        seed in 0u64..1_000,
        count in 0usize..4,
        amount in any::<u128>(),
        code in any::<u16>(),
        at in any::<usize>(),
        flip in any::<u8>(),
    ) {
        let txs: Vec<_> = (0..count as u64).map(|n| transfer(seed + n, n, amount)).collect();
        if let Some(tx) = txs.first() {
            for input in variants(&tx.to_bytes(), at, flip) {
                assert_canonical(&input, |b| SignedTransaction::from_bytes(b).ok(), |t| t.to_bytes());
            }
        }
        let block = block(txs.clone(), seed);
        prop_assert_eq!(Block::from_bytes(&block.to_bytes()).unwrap(), block.clone());
        for input in variants(&block.to_bytes(), at, flip) {
            assert_canonical(&input, |b| Block::from_bytes(b).ok(), |b| b.to_bytes());
        }
        let receipts = receipts(&txs, code, amount);
        prop_assert_eq!(BlockReceipts::from_bytes(&receipts.to_bytes()).unwrap(), receipts.clone());
        for input in variants(&receipts.to_bytes(), at, flip) {
            assert_canonical(&input, |b| BlockReceipts::from_bytes(b).ok(), |r| r.to_bytes());
        }
    }

    #[test]
    fn evidence_has_one_encoding(seed in 0u64..1_000, a in any::<u8>(), b in any::<u8>(), at in any::<usize>(), flip in any::<u8>()) {
        let evidence = double_sign(seed, a, b);
        let bytes = evidence.encode().to_vec();
        prop_assert_eq!(DoubleSign::decode(bytes.clone()).unwrap(), evidence);
        for input in variants(&bytes, at, flip) {
            assert_canonical(&input, |b| DoubleSign::decode(b.to_vec()).ok(), |e| e.encode().to_vec());
        }
    }
}
