//! A CID in binary (dag-pb links, the chain) or text (paths, the API) form.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tessera_types::{AnyCid, Cid};

fuzz_target!(|data: &[u8]| {
    if let Ok(cid) = Cid::from_bytes(data) {
        assert_eq!(Cid::from_bytes(&cid.to_bytes()).ok(), Some(cid));
        assert_eq!(cid.to_string().parse::<Cid>().ok(), Some(cid));
    }
    let _ = AnyCid::from_bytes(data);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(cid) = text.parse::<Cid>() {
            assert_eq!(cid.to_string().parse::<Cid>().ok(), Some(cid));
        }
        let _ = AnyCid::parse(text);
    }
});
