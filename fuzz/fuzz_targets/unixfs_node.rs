//! A UnixFS block uploaded to or fetched from a node, checked as `import_block` does.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tessera_blobs::{cid_of_block, file_node_children};

fuzz_target!(|data: &[u8]| {
    let cid = cid_of_block(data);
    if let Ok(children) = file_node_children(&cid, data) {
        assert!(children.len() <= tessera_blobs::MAX_LINKS_PER_NODE);
    }
});
