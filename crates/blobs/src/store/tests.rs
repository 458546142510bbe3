//! Attacks on the store through crafted DAGs, the quota, and range reads.

use super::BlobStore;
use crate::dag::Link;
use crate::error::BlobError;
use crate::limits::CHUNK_BYTES;
use crate::pb::encode::{encode_internal_node, LeafFrame};
use crate::{cid_of_block, Cid};

fn leaf(data: &[u8]) -> (Cid, Vec<u8>) {
    let frame = LeafFrame::new(data.len());
    let block = [frame.head(), data, frame.tail()].concat();
    (cid_of_block(&block), block)
}

/// An internal node linking each `(cid, filesize)` in order.
fn node(children: &[(Cid, u64)]) -> (Cid, Vec<u8>) {
    let links: Vec<Link> = children
        .iter()
        .map(|&(cid, filesize)| Link {
            cid,
            tsize: filesize,
            filesize,
        })
        .collect();
    let filesize = children.iter().map(|(_, size)| size).sum();
    let mut block = Vec::new();
    encode_internal_node(&links, filesize, &mut block);
    (cid_of_block(&block), block)
}

fn store() -> (tempfile::TempDir, BlobStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path().join("store")).unwrap();
    (dir, store)
}

/// Three uploaded blocks describe a 256 GiB file (one leaf linked 1,024 times by a node
/// linked 1,024 times). Walking it reads each distinct block once: three blocks.
#[test]
fn a_dag_that_links_one_block_many_times_is_walked_once_per_block() {
    let (_dir, store) = store();
    let (leaf_cid, leaf_block) = leaf(&vec![7u8; CHUNK_BYTES]);
    let chunk = CHUNK_BYTES as u64;
    let (mid_cid, mid_block) = node(&vec![(leaf_cid, chunk); 1024]);
    let (root_cid, root_block) = node(&vec![(mid_cid, chunk * 1024); 1024]);
    for (cid, block) in [
        (&root_cid, &root_block),
        (&mid_cid, &mid_block),
        (&leaf_cid, &leaf_block),
    ] {
        store.import_block(cid, block).unwrap();
    }
    let blocks = store.block_cids(&root_cid, 10).unwrap();
    assert_eq!(blocks, vec![root_cid, mid_cid, leaf_cid]);
    assert_eq!(store.get(&root_cid).unwrap().size(), chunk << 20);
}

#[test]
fn one_block_linked_with_two_sizes_is_refused() {
    let (_dir, store) = store();
    let (leaf_cid, leaf_block) = leaf(b"ten bytes!");
    // The node's own sums are consistent (10 + 11 = 21), its links are not.
    let (root_cid, root_block) = node(&[(leaf_cid, 10), (leaf_cid, 11)]);
    store.import_block(&root_cid, &root_block).unwrap();
    store.import_block(&leaf_cid, &leaf_block).unwrap();
    match store.block_cids(&root_cid, 10) {
        Err(BlobError::InconsistentLinks { cid, .. }) => assert_eq!(cid, leaf_cid),
        Err(BlobError::SizeMismatch { cid, .. }) => assert_eq!(cid, leaf_cid),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_full_store_refuses_blocks_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path().join("store"))
        .unwrap()
        .with_quota(100_000)
        .unwrap();
    let small = store.put_bytes(&[1u8; 50_000]).unwrap();
    let (used, quota) = store.usage();
    assert!(used > 50_000 && quota == Some(100_000), "{used}");
    match store.put_bytes(&[2u8; 60_000]) {
        Err(BlobError::QuotaExceeded { quota_bytes, .. }) => assert_eq!(quota_bytes, 100_000),
        other => panic!("expected the quota to refuse, got {other:?}"),
    }
    assert_eq!(store.usage().0, used, "a refused block reserves nothing");
    // What is there stays readable, and a reopened store counts it.
    assert_eq!(store.get_bytes(&small, 1 << 20).unwrap(), vec![1u8; 50_000]);
    let reopened = BlobStore::open(dir.path().join("store"))
        .unwrap()
        .with_quota(100_000)
        .unwrap();
    assert_eq!(reopened.usage().0, used);
}

/// A read from an offset never touches the blocks before it: here they are gone.
#[test]
fn a_read_from_an_offset_skips_earlier_subtrees_unread() {
    let (_dir, store) = store();
    let data: Vec<u8> = (0..3 * CHUNK_BYTES + 100)
        .map(|i| (i % 251) as u8)
        .collect();
    let root = store.put_bytes(&data).unwrap();
    let first_leaf = store.children(&root).unwrap()[0].0;
    std::fs::remove_file(store.block_path(&first_leaf)).unwrap();
    let start = 2 * CHUNK_BYTES + 10;
    let mut reader = store.get_from(&root, start as u64).unwrap();
    let mut read = Vec::new();
    while let Some(chunk) = reader.next_chunk().unwrap() {
        read.extend_from_slice(chunk);
    }
    assert_eq!(read, data[start..]);
    // From byte 0 the missing block is needed, and its absence is reported.
    let mut whole = store.get(&root).unwrap();
    assert!(matches!(
        whole.next_chunk(),
        Err(BlobError::NotFound { .. })
    ));
    // Past the end: nothing.
    let mut past = store.get_from(&root, data.len() as u64 + 5).unwrap();
    assert!(past.next_chunk().unwrap().is_none());
}
