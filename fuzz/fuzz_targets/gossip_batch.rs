//! A batch of transactions gossiped by a peer.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tessera_consensus::gossip::{decode_batch, encode_batch};

fuzz_target!(|data: &[u8]| {
    if let Some(txs) = decode_batch(data) {
        assert_eq!(encode_batch(&txs), data);
    }
});
