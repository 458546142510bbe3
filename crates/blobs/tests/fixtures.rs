//! CIDs checked against values computed by kubo itself.
//!
//! Sources:
//! * kubo `test/cli/cid_profiles_test.go` (`unixfs-v0-2015`, kubo's implicit default
//!   profile; the test also checks that the no-profile default gives these CIDs), inputs
//!   from kubo's `DeterministicRandomReaderBytes` (see `common::KuboDeterministic`).
//! * kubo `test/cli/add_test.go` (`"hello world"`, CIDv0 and CIDv1 without raw leaves).
//! * kubo `test/sharness/t0114-gateway-subdomains/README.md` (`echo hello | ipfs add`,
//!   kubo 0.18.1, and its `ipfs cid base32`).
//! * The empty file: `ipfs add` of a zero-length file (kubo issue #4688).
#![cfg(test)]

mod common;

use common::KuboDeterministic;
use tessera_blobs::{cid_of_bytes, cid_of_reader, Cid, CHUNK_BYTES, LINKS_PER_NODE};

fn check(cid: Cid, v0: &str) {
    assert_eq!(cid.to_v0_string(), v0);
    assert_eq!(Cid::parse(v0).unwrap(), cid);
    assert!(cid.to_string().starts_with("bafybei"), "{cid}");
}

#[test]
fn empty_file() {
    check(
        cid_of_bytes(b"").unwrap(),
        "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH",
    );
}

#[test]
fn hello_newline() {
    let cid = cid_of_bytes(b"hello\n").unwrap();
    check(cid, "QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN");
    assert_eq!(
        cid.to_string(),
        "bafybeiffndsajwhk3lwjewwdxqntmjm4b5wxaaanokonsggenkbw6slwk4"
    );
}

#[test]
fn hello_world() {
    let cid = cid_of_bytes(b"hello world").unwrap();
    check(cid, "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD");
    assert_eq!(
        cid.to_string(),
        "bafybeihykld7uyxzogax6vgyvag42y7464eywpf55gxi5qpoisibh3c5wa"
    );
}

#[test]
fn one_full_chunk_is_a_single_leaf() {
    let reader = KuboDeterministic::new(CHUNK_BYTES as u64, "chunk-v0-seed");
    check(
        cid_of_reader(reader).unwrap(),
        "QmWmRj3dFDZdb6ABvbmKhEL6TmPbAfBZ1t5BxsEyJrcZhE",
    );
}

#[test]
fn one_byte_over_a_chunk_is_two_leaves() {
    let reader = KuboDeterministic::new(CHUNK_BYTES as u64 + 1, "chunk-v0-seed");
    check(
        cid_of_reader(reader).unwrap(),
        "QmYyLxtzZyW22zpoVAtKANLRHpDjZtNeDjQdJrcQNWoRkJ",
    );
}

#[test]
fn exactly_max_links_chunks_is_one_level() {
    let len = (LINKS_PER_NODE * CHUNK_BYTES) as u64;
    let reader = KuboDeterministic::new(len, "v0-seed");
    check(
        cid_of_reader(reader).unwrap(),
        "QmUbBALi174SnogsUzLpYbD4xPiBSFANF4iztWCsHbMKh2",
    );
}

#[test]
fn one_byte_over_max_links_is_two_levels() {
    let len = (LINKS_PER_NODE * CHUNK_BYTES) as u64 + 1;
    let reader = KuboDeterministic::new(len, "v0-seed");
    check(
        cid_of_reader(reader).unwrap(),
        "QmV81WL765sC8DXsRhE5fJv2rwhS4icHRaf3J9Zk5FdRnW",
    );
}

#[test]
fn same_bytes_same_cid_and_one_bit_changes_it() {
    let bytes = common::pattern_bytes(3 * CHUNK_BYTES + 11, 9);
    let a = cid_of_bytes(&bytes).unwrap();
    assert_eq!(a, cid_of_bytes(&bytes.clone()).unwrap());
    assert_eq!(
        a,
        cid_of_reader(common::Pattern::new(bytes.len() as u64, 9)).unwrap()
    );
    let mut flipped = bytes.clone();
    flipped[2 * CHUNK_BYTES] ^= 1;
    assert_ne!(a, cid_of_bytes(&flipped).unwrap());
    assert_ne!(a, cid_of_bytes(&bytes[..bytes.len() - 1]).unwrap());
}
