//! Chain parameters as stored in state (and changed by governance later).
#![no_main]
use commonware_codec::{DecodeExt, Encode};
use libfuzzer_sys::fuzz_target;
use tessera_state::Params;

fuzz_target!(|data: &[u8]| {
    if let Ok(params) = Params::decode(data.to_vec()) {
        assert_eq!(params.encode().as_ref(), data);
        let _ = params.validate();
    }
});
