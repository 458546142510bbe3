//! A signed transaction from the API or gossip: decodes without panicking, and whatever
//! decodes re-encodes to the same bytes (one encoding per transaction).
#![no_main]
use libfuzzer_sys::fuzz_target;
use tessera_types::SignedTransaction;

fuzz_target!(|data: &[u8]| {
    if let Ok(tx) = SignedTransaction::from_bytes(data) {
        assert_eq!(tx.to_bytes(), data);
        let _ = tx.verify_signature();
    }
});
