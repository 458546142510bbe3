//! A block as the consensus engine receives it from a proposer, under the size limit.
#![no_main]
use commonware_codec::{Decode, Encode};
use libfuzzer_sys::fuzz_target;
use tessera_consensus::{BlockLimit, ConsensusBlock};

fuzz_target!(|data: &[u8]| {
    let limit = BlockLimit { max_bytes: 1 << 20 };
    if let Ok(block) = ConsensusBlock::decode_cfg(data.to_vec(), &limit) {
        assert_eq!(block.encode().as_ref(), data);
        let _ = block.hash();
    }
});
