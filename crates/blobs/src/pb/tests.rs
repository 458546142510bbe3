use proptest::prelude::*;

use super::*;
use crate::dag::Link;
use crate::error::BlobError;
use crate::limits::MAX_LINKS_PER_NODE;
use crate::{cid_of_block, Cid};

fn leaf_block(data: &[u8]) -> Vec<u8> {
    let frame = LeafFrame::new(data.len());
    [frame.head(), data, frame.tail()].concat()
}

fn any_cid() -> Cid {
    cid_of_block(b"block")
}

fn link(seed: &[u8], filesize: u64) -> Link {
    Link {
        cid: cid_of_block(seed),
        tsize: filesize.saturating_add(14),
        filesize,
    }
}

/// A node built field by field, for malformed inputs.
fn field(out: &mut Vec<u8>, key: u8, payload: &[u8]) {
    out.push(key);
    put_varint(out, payload.len() as u64);
    out.extend_from_slice(payload);
}

#[test]
fn leaves_encode_as_kubo_does() {
    assert_eq!(leaf_block(b""), [0x0a, 0x04, 0x08, 0x02, 0x18, 0x00]);
    let mut hello = vec![0x0a, 0x0c, 0x08, 0x02, 0x12, 0x06];
    hello.extend_from_slice(b"hello\n");
    hello.extend_from_slice(&[0x18, 0x06]);
    assert_eq!(leaf_block(b"hello\n"), hello);
    // Two-byte varints for a full chunk: 262,144 = 0x80 0x80 0x10.
    let full = leaf_block(&vec![7u8; 262_144]);
    assert_eq!(
        &full[..12],
        &[0x0a, 0x8a, 0x80, 0x10, 0x08, 0x02, 0x12, 0x80, 0x80, 0x10, 7, 7]
    );
    assert_eq!(&full[full.len() - 4..], &[0x18, 0x80, 0x80, 0x10]);
}

#[test]
fn leaves_decode_to_their_data() {
    for data in [&b""[..], b"x", b"hello\n", &[9u8; 300]] {
        let block = leaf_block(data);
        let node = decode_file_node(&any_cid(), &block).unwrap();
        assert_eq!(&block[node.data.clone()], data);
        assert!(node.children.is_empty());
        assert_eq!(node.filesize, data.len() as u64);
    }
}

#[test]
fn internal_nodes_round_trip() {
    let links = [link(b"a", 262_144), link(b"b", 5), link(b"c", 1 << 33)];
    let total = links.iter().map(|l| l.filesize).sum();
    let mut block = Vec::new();
    encode_internal_node(&links, total, &mut block);
    let node = decode_file_node(&any_cid(), &block).unwrap();
    assert!(node.data.is_empty());
    assert_eq!(node.filesize, total);
    let expected: Vec<_> = links.iter().map(|l| (l.cid, l.filesize)).collect();
    assert_eq!(node.children, expected);
}

fn reason(block: &[u8]) -> String {
    match decode_file_node(&any_cid(), block) {
        Err(BlobError::MalformedBlock { reason, .. }) => reason,
        other => panic!("expected MalformedBlock, got {other:?}"),
    }
}

#[test]
fn non_canonical_and_broken_nodes_are_refused() {
    let mut good_internal = Vec::new();
    encode_internal_node(&[link(b"a", 3)], 3, &mut good_internal);

    // Data before links.
    let (links_part, data_part) = good_internal.split_at(good_internal.len() - 8);
    assert_eq!(data_part[0], 0x0a, "test assumes an 8-byte Data field");
    let swapped = [data_part, links_part].concat();
    assert!(reason(&swapped).contains("follows the node's Data"));

    // Data twice.
    let leaf = leaf_block(b"ab");
    assert!(reason(&[leaf.clone(), leaf.clone()].concat()).contains("twice"));
    // Unknown PBNode field 3.
    assert!(reason(&[&leaf[..], &[0x18, 0x01]].concat()).contains("unknown PBNode field"));
    // Truncated anywhere.
    for cut in 1..leaf.len() {
        assert!(
            decode_file_node(&any_cid(), &leaf[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    // No Data at all.
    assert!(reason(&[]).contains("no Data"));
    // Non-minimal varint for the Data length (0x84 0x00 = 4).
    let mut padded = vec![0x0a, 0x84, 0x00];
    padded.extend_from_slice(&leaf[2..]);
    assert!(reason(&padded).contains("non-minimal"));
    // Missing Type.
    let mut no_type = Vec::new();
    field(&mut no_type, 0x0a, &[0x18, 0x00]);
    assert!(reason(&no_type).contains("Type is missing"));
    // A raw-codec link (CIDv1 0x55).
    let mut raw_link = Vec::new();
    let mut cid = vec![0x01, 0x55, 0x12, 0x20];
    cid.extend_from_slice(&[1u8; 32]);
    let mut pblink = Vec::new();
    field(&mut pblink, 0x0a, &cid);
    field(&mut raw_link, 0x12, &pblink);
    field(&mut raw_link, 0x0a, &[0x08, 0x02, 0x18, 0x01, 0x20, 0x01]);
    assert!(reason(&raw_link).contains("raw leaves"));
}

#[test]
fn sizes_must_add_up() {
    // filesize 5 but data of 2 bytes.
    let mut block = Vec::new();
    field(
        &mut block,
        0x0a,
        &[0x08, 0x02, 0x12, 0x02, b'a', b'b', 0x18, 0x05],
    );
    assert!(reason(&block).contains("add up to 2"));

    // One link, two blocksizes.
    let mut node = Vec::new();
    encode_internal_node(&[link(b"a", 3)], 3, &mut node);
    let mut extra = node.clone();
    let data_at = extra.len() - 8;
    extra[data_at + 1] += 2; // Data length
    extra.extend_from_slice(&[0x20, 0x01]);
    assert!(reason(&extra).contains("1 links but 2 blocksizes"));
}

#[test]
fn packed_blocksizes_are_read() {
    let mut pblink = Vec::new();
    field(&mut pblink, 0x0a, &any_cid().multihash_bytes());
    let mut block = Vec::new();
    field(&mut block, 0x12, &pblink);
    field(&mut block, 0x12, &pblink);
    field(
        &mut block,
        0x0a,
        &[0x08, 0x02, 0x18, 0x07, 0x22, 0x02, 0x03, 0x04],
    );
    let node = decode_file_node(&any_cid(), &block).unwrap();
    assert_eq!(node.children, vec![(any_cid(), 3), (any_cid(), 4)]);
}

#[test]
fn directories_are_not_files() {
    let mut block = Vec::new();
    field(&mut block, 0x0a, &[0x08, 0x01]);
    assert!(matches!(
        decode_file_node(&any_cid(), &block),
        Err(BlobError::NotAFile {
            kind: "directory",
            ..
        })
    ));
}

#[test]
fn too_many_links_are_refused() {
    let links: Vec<_> = (0..=MAX_LINKS_PER_NODE as u64)
        .map(|i| link(&i.to_le_bytes(), 1))
        .collect();
    let mut block = Vec::new();
    encode_internal_node(&links, links.len() as u64, &mut block);
    assert!(reason(&block).contains("more than 1024 links"));
}

#[test]
fn declared_sizes_over_the_limit_are_refused() {
    let links = [link(b"a", 1 << 39), link(b"b", 1 << 39), link(b"c", 1)];
    let mut block = Vec::new();
    encode_internal_node(&links, (1 << 40) + 1, &mut block);
    assert!(matches!(
        decode_file_node(&any_cid(), &block),
        Err(BlobError::FileTooLarge { .. })
    ));
    let links = [link(b"a", u64::MAX), link(b"b", 2)];
    encode_internal_node(&links, 1, &mut block);
    assert!(matches!(
        decode_file_node(&any_cid(), &block),
        Err(BlobError::FileTooLarge { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Arbitrary bytes never panic the decoder (the network can send anything).
    #[test]
    fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode_file_node(&any_cid(), &bytes);
    }

    /// Mutating one byte of a valid node never panics it either.
    #[test]
    fn decoder_survives_mutations(at in any::<prop::sample::Index>(), value in any::<u8>(), n in 1usize..5) {
        let links: Vec<_> = (0..n as u64).map(|i| link(&i.to_le_bytes(), 262_144)).collect();
        let mut block = Vec::new();
        encode_internal_node(&links, 262_144 * n as u64, &mut block);
        let i = at.index(block.len());
        block[i] = value;
        let _ = decode_file_node(&any_cid(), &block);
    }
}
