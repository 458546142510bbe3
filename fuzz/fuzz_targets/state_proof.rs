//! A state proof served by a node's API, checked by light clients.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tessera_store::StateProof;

fuzz_target!(|data: &[u8]| {
    if let Ok(proof) = StateProof::from_bytes(data) {
        assert_eq!(proof.to_bytes(), data);
        let _ = proof.claimed_value();
    }
});
