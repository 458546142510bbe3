//! Double-sign evidence, as carried by a `ReportDoubleSign` transaction and the store.
#![no_main]
use commonware_codec::{DecodeExt, Encode};
use libfuzzer_sys::fuzz_target;
use tessera_types::{evidence::DoubleSign, ChainId};

fuzz_target!(|data: &[u8]| {
    if let Ok(evidence) = DoubleSign::decode(data.to_vec()) {
        assert_eq!(evidence.encode().as_ref(), data);
        if let Ok(chain) = ChainId::new("tessera-dev") {
            let _ = evidence.verify(&chain);
        }
    }
});
