//! A block from a peer, a backfill response or the archive.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tessera_types::Block;

fuzz_target!(|data: &[u8]| {
    if let Ok(block) = Block::from_bytes(data) {
        assert_eq!(block.to_bytes(), data);
        assert!(block.body_matches_header());
    }
});
