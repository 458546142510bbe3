//! Canonical encoders, byte for byte what kubo (boxo `ipld/unixfs` + `go-merkledag` +
//! `go-codec-dagpb`) writes for a file imported with default settings.

use super::{put_varint, tag, UNIXFS_FILE, WIRE_LEN, WIRE_VARINT};
use crate::dag::Link;

const PB_NODE_DATA: u8 = tag(1, WIRE_LEN);
const PB_NODE_LINK: u8 = tag(2, WIRE_LEN);
const PB_LINK_HASH: u8 = tag(1, WIRE_LEN);
const PB_LINK_NAME: u8 = tag(2, WIRE_LEN);
const PB_LINK_TSIZE: u8 = tag(3, WIRE_VARINT);
const UNIXFS_TYPE: u8 = tag(1, WIRE_VARINT);
const UNIXFS_DATA: u8 = tag(2, WIRE_LEN);
const UNIXFS_FILESIZE: u8 = tag(3, WIRE_VARINT);
const UNIXFS_BLOCKSIZE: u8 = tag(4, WIRE_VARINT);

/// The bytes around a leaf's data: a leaf block is `head ‖ data ‖ tail`, so it can be
/// hashed and written without copying the data.
///
/// The leaf is `PBNode { Data: unixfs::Data { Type: File, Data: chunk, filesize: len } }`.
/// An empty chunk (only the empty file has one) has no `Data` field at all, as in kubo,
/// giving the block `0a 04 08 02 18 00`.
pub(crate) struct LeafFrame {
    head: Vec<u8>,
    tail: Vec<u8>,
}

impl LeafFrame {
    pub(crate) fn new(data_len: usize) -> Self {
        let len = data_len as u64;
        let mut tail = Vec::with_capacity(11);
        tail.push(UNIXFS_FILESIZE);
        put_varint(&mut tail, len);

        let mut unixfs_head = Vec::with_capacity(14);
        unixfs_head.extend_from_slice(&[UNIXFS_TYPE, UNIXFS_FILE as u8]);
        if data_len > 0 {
            unixfs_head.push(UNIXFS_DATA);
            put_varint(&mut unixfs_head, len);
        }
        let unixfs_len = unixfs_head.len() + data_len + tail.len();

        let mut head = Vec::with_capacity(25);
        head.push(PB_NODE_DATA);
        put_varint(&mut head, unixfs_len as u64);
        head.extend_from_slice(&unixfs_head);
        LeafFrame { head, tail }
    }

    pub(crate) fn head(&self) -> &[u8] {
        &self.head
    }

    pub(crate) fn tail(&self) -> &[u8] {
        &self.tail
    }

    /// Length of the whole block.
    pub(crate) fn block_len(&self, data_len: usize) -> usize {
        self.head.len() + data_len + self.tail.len()
    }
}

/// Encodes an internal node over `links` into `out` (cleared first):
/// `PBNode { Links: [PBLink { Hash, Name: "", Tsize }…], Data: unixfs::Data { Type: File,
/// filesize: Σ child sizes, blocksizes: [child size…] } }`.
///
/// `filesize` is the caller's checked sum of the links' `filesize`.
pub(crate) fn encode_internal_node(links: &[Link], filesize: u64, out: &mut Vec<u8>) {
    out.clear();
    let mut scratch = Vec::with_capacity(48);
    for link in links {
        scratch.clear();
        scratch.extend_from_slice(&[PB_LINK_HASH, 34]);
        scratch.extend_from_slice(&link.cid.multihash_bytes());
        scratch.extend_from_slice(&[PB_LINK_NAME, 0, PB_LINK_TSIZE]);
        put_varint(&mut scratch, link.tsize);
        out.push(PB_NODE_LINK);
        put_varint(out, scratch.len() as u64);
        out.extend_from_slice(&scratch);
    }

    scratch.clear();
    scratch.extend_from_slice(&[UNIXFS_TYPE, UNIXFS_FILE as u8, UNIXFS_FILESIZE]);
    put_varint(&mut scratch, filesize);
    for link in links {
        scratch.push(UNIXFS_BLOCKSIZE);
        put_varint(&mut scratch, link.filesize);
    }
    out.push(PB_NODE_DATA);
    put_varint(out, scratch.len() as u64);
    out.extend_from_slice(&scratch);
}
