//! A block's receipts as the archive stores them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tessera_types::BlockReceipts;

fuzz_target!(|data: &[u8]| {
    if let Ok(receipts) = BlockReceipts::from_bytes(data) {
        assert_eq!(receipts.to_bytes(), data);
        let _ = receipts.root();
    }
});
