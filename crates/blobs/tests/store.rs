//! The on-disk store: round trips, verification on read and on import, crash leftovers.
#![cfg(test)]

mod common;

use std::cell::RefCell;
use std::fs;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, SystemTime};

use common::pattern_bytes;
use tessera_blobs::{
    cid_of_block, cid_of_bytes, cid_of_file, BlobError, BlobStore, Cid, CHUNK_BYTES,
    LINKS_PER_NODE, MAX_BLOCK_BYTES, MAX_DAG_DEPTH,
};

fn store() -> (tempfile::TempDir, BlobStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path().join("store")).unwrap();
    (dir, store)
}

fn block_names(store: &BlobStore) -> Vec<String> {
    let mut names: Vec<_> = fs::read_dir(store.dir().join("blocks"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn tmp_is_empty(store: &BlobStore) -> bool {
    fs::read_dir(store.dir().join("tmp"))
        .unwrap()
        .next()
        .is_none()
}

/// Writes `bytes` to a file, stores it, exports it, and checks everything on the way.
fn round_trip(len: usize) {
    let (dir, store) = store();
    let bytes = pattern_bytes(len, 7);
    let input = dir.path().join("input");
    fs::write(&input, &bytes).unwrap();

    let calls = RefCell::new(Vec::new());
    let cid = store
        .put_file(&input, &|done, total| {
            calls.borrow_mut().push((done, total))
        })
        .unwrap();
    assert_eq!(cid, cid_of_file(&input).unwrap());
    assert_eq!(cid, cid_of_bytes(&bytes).unwrap());

    let calls = calls.into_inner();
    assert_eq!(calls.first(), Some(&(0, len as u64)));
    assert_eq!(calls.last(), Some(&(len as u64, len as u64)));
    assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0));

    // Every block is named by its hash; leaves plus internal nodes are all there.
    let names = block_names(&store);
    for name in &names {
        let cid: Cid = name.parse().unwrap();
        assert_eq!(
            cid_of_block(&fs::read(store.block_path(&cid)).unwrap()),
            cid
        );
    }
    let leaves = len.div_ceil(CHUNK_BYTES).max(1);
    assert!(
        names.len() >= leaves.min(2),
        "{} blocks for {leaves} leaves",
        names.len()
    );
    assert!(tmp_is_empty(&store));

    let out = dir.path().join("out");
    assert_eq!(store.export(&cid, &out).unwrap(), len as u64);
    assert!(
        fs::read(&out).unwrap() == bytes,
        "exported bytes differ ({len} bytes)"
    );
    assert!(store.get_bytes(&cid, len as u64).unwrap() == bytes);
}

#[test]
fn round_trip_small_files() {
    for len in [
        0,
        1,
        6,
        CHUNK_BYTES - 1,
        CHUNK_BYTES,
        CHUNK_BYTES + 1,
        3 * CHUNK_BYTES + 17,
    ] {
        round_trip(len);
    }
}

#[test]
fn round_trip_two_level_file() {
    round_trip(LINKS_PER_NODE * CHUNK_BYTES + 5);
}

#[test]
fn identical_content_is_stored_once() {
    let (_dir, store) = store();
    let bytes = pattern_bytes(2 * CHUNK_BYTES + 1, 1);
    let a = store.put_bytes(&bytes).unwrap();
    let count = block_names(&store).len();
    let b = store.put_bytes(&bytes).unwrap();
    assert_eq!(a, b);
    assert_eq!(block_names(&store).len(), count);
    // Two equal chunks make one leaf block.
    let same = vec![0u8; 2 * CHUNK_BYTES];
    store.put_bytes(&same).unwrap();
    assert_eq!(block_names(&store).len(), count + 2);
}

#[test]
fn concurrent_puts_of_the_same_file_agree() {
    let (_dir, store) = store();
    let bytes = pattern_bytes(5 * CHUNK_BYTES + 3, 2);
    let cids: Vec<Cid> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| store.put_bytes(&bytes).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(cids.windows(2).all(|w| w[0] == w[1]));
    assert!(store.get_bytes(&cids[0], u64::MAX).unwrap() == bytes);
    assert!(tmp_is_empty(&store));
}

#[test]
fn reader_streams_in_small_reads() {
    let (_dir, store) = store();
    let bytes = pattern_bytes(3 * CHUNK_BYTES + 100, 3);
    let cid = store.put_bytes(&bytes).unwrap();
    let mut reader = store.get(&cid).unwrap();
    assert_eq!(reader.size(), bytes.len() as u64);
    assert_eq!(reader.root(), cid);
    let mut out = Vec::new();
    let mut buf = [0u8; 1000];
    loop {
        let n = reader.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    assert!(out == bytes);
    assert!(matches!(
        store.get_bytes(&cid, 10),
        Err(BlobError::TooLargeForMemory { len_bytes, max_bytes: 10, .. }) if len_bytes == bytes.len() as u64
    ));
}

/// Stores a three-leaf file and returns the store, the CID and the first leaf's CID.
fn stored_file(dir: &Path) -> (BlobStore, Cid, Cid, Vec<u8>) {
    let store = BlobStore::open(dir.join("store")).unwrap();
    let bytes = pattern_bytes(2 * CHUNK_BYTES + 10, 4);
    let cid = store.put_bytes(&bytes).unwrap();
    let first_leaf = cid_of_bytes(&bytes[..CHUNK_BYTES]).unwrap();
    assert!(store.has(&first_leaf).unwrap());
    (store, cid, first_leaf, bytes)
}

fn assert_corrupt(result: Result<impl std::fmt::Debug, BlobError>, expected: Cid) {
    match result {
        Err(BlobError::CorruptBlock { cid, path, .. }) => {
            assert_eq!(cid, expected);
            assert!(path.ends_with(expected.to_string()));
        }
        other => panic!("expected CorruptBlock for {expected}, got {other:?}"),
    }
}

#[test]
fn tampered_block_is_refused_on_read() {
    let dir = tempfile::tempdir().unwrap();
    let (store, cid, leaf, _) = stored_file(dir.path());
    let path = store.block_path(&leaf);
    let mut bytes = fs::read(&path).unwrap();
    bytes[100] ^= 1;
    fs::write(&path, &bytes).unwrap();

    assert_corrupt(store.get_block(&leaf), leaf);
    assert_corrupt(store.get_bytes(&cid, u64::MAX), leaf);
    let out = dir.path().join("out");
    fs::write(&out, b"previous contents").unwrap();
    assert_corrupt(store.export(&cid, &out), leaf);
    assert_eq!(
        fs::read(&out).unwrap(),
        b"previous contents",
        "export must not touch `out`"
    );
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 2, "no partial file left: {leftovers:?}");

    let message = store.get_block(&leaf).unwrap_err().to_string();
    assert!(
        message.contains(&leaf.to_string()) && message.contains("import_block"),
        "{message}"
    );
}

#[test]
fn truncated_block_is_refused_on_read() {
    let dir = tempfile::tempdir().unwrap();
    let (store, cid, leaf, _) = stored_file(dir.path());
    let path = store.block_path(&leaf);
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert_corrupt(store.get_block(&leaf), leaf);
    let out = dir.path().join("out");
    assert_corrupt(store.export(&cid, &out), leaf);
    assert!(!out.exists());
    let mut reader = store.get(&cid).unwrap();
    let err = reader.read_to_end(&mut Vec::new()).unwrap_err();
    let inner = err.get_ref().and_then(|e| e.downcast_ref::<BlobError>());
    assert!(
        matches!(inner, Some(BlobError::CorruptBlock { .. })),
        "{err:?}"
    );
}

#[test]
fn putting_again_repairs_a_truncated_block() {
    let dir = tempfile::tempdir().unwrap();
    let (store, cid, leaf, bytes) = stored_file(dir.path());
    let path = store.block_path(&leaf);
    let block = fs::read(&path).unwrap();
    fs::write(&path, &block[..10]).unwrap();
    assert_eq!(store.put_bytes(&bytes).unwrap(), cid);
    assert!(store.get_bytes(&cid, u64::MAX).unwrap() == bytes);
}

#[test]
fn missing_block_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (store, cid, leaf, _) = stored_file(dir.path());
    fs::remove_file(store.block_path(&leaf)).unwrap();
    assert!(!store.has(&leaf).unwrap());
    match store.get_bytes(&cid, u64::MAX) {
        Err(BlobError::NotFound { cid: missing, .. }) => assert_eq!(missing, leaf),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[test]
fn blocks_move_between_stores_through_import() {
    let dir = tempfile::tempdir().unwrap();
    let (source, cid, _, bytes) = stored_file(dir.path());
    let target = BlobStore::open(dir.path().join("target")).unwrap();
    // Children first or parents first: order does not matter.
    for name in block_names(&source).iter().rev() {
        let block_cid: Cid = name.parse().unwrap();
        let block = source.get_block(&block_cid).unwrap();
        target.import_block(&block_cid, &block).unwrap();
        target.import_block(&block_cid, &block).unwrap(); // idempotent
    }
    target.sync().unwrap();
    assert_eq!(block_names(&source), block_names(&target));
    assert!(target.get_bytes(&cid, u64::MAX).unwrap() == bytes);
}

fn assert_nothing_written(store: &BlobStore, cid: &Cid) {
    assert!(!store.has(cid).unwrap());
    assert!(block_names(store).is_empty());
    assert!(tmp_is_empty(store));
}

#[test]
fn tampered_or_truncated_bytes_are_refused_on_import() {
    let dir = tempfile::tempdir().unwrap();
    let (source, _, leaf, _) = stored_file(dir.path());
    let block = source.get_block(&leaf).unwrap();
    let target = BlobStore::open(dir.path().join("target")).unwrap();

    let mut tampered = block.clone();
    tampered[5000] ^= 0x80;
    for bad in [&tampered[..], &block[..block.len() - 1], &block[..0]] {
        match target.import_block(&leaf, bad) {
            Err(BlobError::HashMismatch {
                expected,
                actual,
                len_bytes,
            }) => {
                assert_eq!(expected, leaf);
                assert_eq!(actual, cid_of_block(bad));
                assert_eq!(len_bytes, bad.len());
            }
            other => panic!("expected HashMismatch, got {other:?}"),
        }
        assert_nothing_written(&target, &leaf);
    }

    let huge = vec![0u8; MAX_BLOCK_BYTES + 1];
    assert!(matches!(
        target.import_block(&leaf, &huge),
        Err(BlobError::BlockTooLarge { .. })
    ));
    assert_nothing_written(&target, &leaf);
}

#[test]
fn well_hashed_junk_is_refused_on_import() {
    let (_dir, store) = store();
    let junk = b"not a dag-pb node";
    let cid = cid_of_block(junk);
    assert!(matches!(
        store.import_block(&cid, junk),
        Err(BlobError::MalformedBlock { .. })
    ));
    assert_nothing_written(&store, &cid);

    // A UnixFS directory: PBNode { Data: { Type: Directory } }.
    let dir_node = [0x0a, 0x02, 0x08, 0x01];
    let cid = cid_of_block(&dir_node);
    assert!(matches!(
        store.import_block(&cid, &dir_node),
        Err(BlobError::NotAFile { .. })
    ));
    assert_nothing_written(&store, &cid);
}

/// dag-pb bytes of an internal node with the given (child, blocksize) links, claiming
/// `filesize`.
fn internal_node(children: &[(Cid, u64)], filesize: u64) -> Vec<u8> {
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    let mut node = Vec::new();
    for (cid, _) in children {
        let mut link = vec![0x0a, 34];
        link.extend_from_slice(&cid.multihash_bytes());
        link.extend_from_slice(&[0x12, 0x00, 0x18, 0x01]);
        node.push(0x12);
        varint(&mut node, link.len() as u64);
        node.extend_from_slice(&link);
    }
    let mut unixfs = vec![0x08, 0x02, 0x18];
    varint(&mut unixfs, filesize);
    for (_, size) in children {
        unixfs.push(0x20);
        varint(&mut unixfs, *size);
    }
    node.push(0x0a);
    varint(&mut node, unixfs.len() as u64);
    node.extend_from_slice(&unixfs);
    node
}

fn import(store: &BlobStore, block: &[u8]) -> Cid {
    let cid = cid_of_block(block);
    store.import_block(&cid, block).unwrap();
    cid
}

#[test]
fn a_parent_lying_about_a_child_size_is_refused() {
    let (_dir, store) = store();
    let leaf = import(
        &store,
        &[0x0a, 0x08, 0x08, 0x02, 0x12, 0x02, b'a', b'b', 0x18, 0x02],
    );
    let liar = import(&store, &internal_node(&[(leaf, 3)], 3));
    match store.get_bytes(&liar, u64::MAX) {
        Err(BlobError::SizeMismatch {
            cid,
            expected_bytes: 3,
            actual_bytes: 2,
        }) => assert_eq!(cid, leaf),
        other => panic!("expected SizeMismatch, got {other:?}"),
    }
    let honest = import(&store, &internal_node(&[(leaf, 2), (leaf, 2)], 4));
    assert_eq!(store.get_bytes(&honest, u64::MAX).unwrap(), b"abab");
}

#[test]
fn dags_deeper_than_the_limit_are_refused() {
    let (_dir, store) = store();
    let mut top = import(
        &store,
        &[0x0a, 0x07, 0x08, 0x02, 0x12, 0x01, b'z', 0x18, 0x01],
    );
    for _ in 0..MAX_DAG_DEPTH {
        top = import(&store, &internal_node(&[(top, 1)], 1));
    }
    assert!(matches!(
        store.get_bytes(&top, u64::MAX),
        Err(BlobError::TooDeep { .. })
    ));
}

#[test]
fn open_removes_only_stale_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    BlobStore::open(&root).unwrap();
    // A crash mid-write leaves a partial temp file, never a partial block.
    let stale = root.join("tmp/bafy-partial.1.0");
    let fresh = root.join("tmp/bafy-partial.2.0");
    fs::write(&stale, b"half a blo").unwrap();
    fs::write(&fresh, b"being written").unwrap();
    let old = SystemTime::now() - Duration::from_secs(2 * 3600);
    fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let store = BlobStore::open(&root).unwrap();
    assert!(!stale.exists());
    assert!(fresh.exists());
    assert!(block_names(&store).is_empty());
}

#[test]
fn errors_say_what_to_do() {
    let (_dir, store) = store();
    let cid = cid_of_bytes(b"absent").unwrap();
    let message = store.get_bytes(&cid, 1).unwrap_err().to_string();
    assert!(
        message.contains(&cid.to_string()) && message.contains("put_file"),
        "{message}"
    );
    let message = Cid::parse("bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am")
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("raw leaves") && message.contains("bafybei"),
        "{message}"
    );
    let message = store
        .put_file("/nonexistent/file", &|_, _| {})
        .unwrap_err()
        .to_string();
    assert!(message.contains("/nonexistent/file"), "{message}");
}

#[test]
fn a_failing_write_stops_the_put_with_an_error() {
    let (_dir, store) = store();
    // Replace `blocks/` by a file: every rename into it fails.
    let blocks = store.dir().join("blocks");
    fs::remove_dir(&blocks).unwrap();
    fs::write(&blocks, b"").unwrap();
    let bytes = pattern_bytes(40 * CHUNK_BYTES, 5);
    match store.put_bytes(&bytes) {
        Err(BlobError::Io { action, .. }) => assert_eq!(action, "rename into place"),
        other => panic!("expected an Io error, got {other:?}"),
    }
    assert!(tmp_is_empty(&store), "failed writes leave no temp files");
}

#[test]
fn block_cids_lists_every_block_parents_first() {
    let (_dir, store) = store();
    let bytes = common::pattern_bytes(3 * CHUNK_BYTES + 11, 5);
    let root = store.put_bytes(&bytes).unwrap();
    let blocks = store.block_cids(&root, 100).unwrap();
    assert_eq!(blocks.len(), 5, "a root and four leaves");
    assert_eq!(blocks[0], root);
    let children: Vec<_> = store
        .children(&root)
        .unwrap()
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    assert_eq!(&blocks[1..], &children[..]);
    assert!(
        store.children(&blocks[1]).unwrap().is_empty(),
        "leaves have no children"
    );
    assert!(store.block_cids(&root, 4).is_err(), "the limit holds");
    // A receiver importing in this order has every block it needs to export the file.
    let (_other_dir, other) = self::store();
    for cid in &blocks {
        other
            .import_block(cid, &store.get_block(cid).unwrap())
            .unwrap();
    }
    assert_eq!(other.get_bytes(&root, 1 << 20).unwrap(), bytes);
}
