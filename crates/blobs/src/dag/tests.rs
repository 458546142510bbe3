use std::collections::BTreeMap;
use std::io::{self, Read};

use proptest::prelude::*;

use super::reference::reference_dag;
use super::*;
use crate::cid_of_block;
use crate::pb::decode_file_node;

/// Collects every block the builder emits.
#[derive(Default)]
struct Collect(Vec<(Cid, Vec<u8>)>);

impl BlockSink for Collect {
    fn block(&mut self, cid: &Cid, parts: &[&[u8]]) -> Result<(), BlobError> {
        self.0.push((*cid, parts.concat()));
        Ok(())
    }
}

fn stream(bytes: &[u8], layout: Layout) -> (Cid, Vec<(Cid, Vec<u8>)>) {
    let mut sink = Collect::default();
    let (root, len) = build(&mut &bytes[..], layout, &mut sink, &mut |_| {}).unwrap();
    assert_eq!(len, bytes.len() as u64);
    (root, sink.0)
}

fn root_of(bytes: &[u8], layout: Layout) -> String {
    stream(bytes, layout).0.to_v0_string()
}

fn small(chunk_bytes: usize) -> Layout {
    Layout {
        chunk_bytes,
        max_links: 174,
    }
}

const LOREM: &[u8] = b"Lorem ipsum dolor sit amet, sit enim montes aliquam. Cras non lorem, \
    rhoncus condimentum, irure et ante. Pulvinar suscipit odio ante, et tellus a enim, \
    wisi ipsum, vel rhoncus eget faucibus varius, luctus turpis nibh vel odio nulla pede.";

// Fixtures from rust-ipfs `unixfs/src/file/adder.rs` (rs-ipfs/rust-ipfs), which checked
// its adder against go-ipfs with `ipfs add --chunker=size-N`. Small chunks reach the
// multi-level layout with a few hundred bytes.

#[test]
fn foobar_default_chunker() {
    assert_eq!(
        root_of(b"foobar\n", Layout::KUBO_DEFAULT),
        "QmRgutAxd8t7oGkSm4wmeuByG6M51wcTso6cubDdQtuEfL"
    );
}

#[test]
fn foobar_in_two_byte_chunks_block_by_block() {
    let (root, blocks) = stream(b"foobar\n", small(2));
    let names: Vec<_> = blocks.iter().map(|(cid, _)| cid.to_v0_string()).collect();
    assert_eq!(
        names,
        [
            "QmfVyMoStzTvdnUR7Uotzh82gmL427q9z3xW5Y8fUoszi4",
            "QmdPyW4CWE3QBkgjWfjM5f7Tjb3HukxVuBXZtkqAGwsMnm",
            "QmNhDQpphvMWhdCzP74taRzXDaEfPGq8vWfFRzD7mEgePM",
            "Qmc5m94Gu7z62RC8waSKkZUrCCBJPyHbkpmGzEePxy2oXJ",
            "QmRJHYTNvC3hmd9gJQARxLR1QMEincccBV53bBw524yyq6",
        ]
    );
    assert_eq!(
        root.to_v0_string(),
        "QmRJHYTNvC3hmd9gJQARxLR1QMEincccBV53bBw524yyq6"
    );
}

/// go-ipfs 0.5: 237 one-byte chunks → root with two links, to a full node of 174 leaves
/// and to a node of 63 leaves.
#[test]
fn lorem_in_one_byte_chunks_is_two_levels() {
    assert!(LOREM.len() > 174 && LOREM.len() < 2 * 174);
    let (root, blocks) = stream(LOREM, small(1));
    assert_eq!(blocks.len(), 240);
    assert_eq!(
        root.to_v0_string(),
        "QmRQ6NZNUs4JrCT2y7tmCC1wUhjqYuTssB8VXbbN3rMffg"
    );
    let (_, root_block) = blocks.last().unwrap();
    let children: Vec<_> = decode_file_node(&root, root_block)
        .unwrap()
        .children
        .iter()
        .map(|(cid, size)| (cid.to_v0_string(), *size))
        .collect();
    assert_eq!(
        children,
        [
            (
                "QmXUcuLGKc8SCMEqG4wgct6NKsSRZQfvB2FCfjDow1PfpB".to_string(),
                174
            ),
            (
                "QmeEn8dxWTzGAFKvyXoLj4oWbh9putL4vSw4uhLXJrSZhs".to_string(),
                63
            ),
        ]
    );
}

#[test]
fn lorem_in_32_byte_chunks() {
    assert_eq!(
        root_of(LOREM, small(32)),
        "QmYSLcVQqxKygiq7x9w1XGYxU29EShB8ZemiaQ8GAAw17h"
    );
}

/// 175 two-byte chunks: root → [full node of 174 leaves, node → [leaf]] (a one-link
/// internal node). rust-ipfs's expected value (its test does not say it came from go-ipfs).
#[test]
fn full_node_and_a_byte() {
    let (root, blocks) = stream(&[0u8; 349], small(2));
    assert_eq!(blocks.len(), 174 + 1 + 1 + 1 + 1);
    assert_eq!(
        root.to_v0_string(),
        "QmcHNWF1d56uCDSfJPA7t9fadZRV9we5HGSTGSmwuqmMP9"
    );
}

/// Hands out at most `max` bytes per read, with interruptions, to show chunking does not
/// depend on read sizes.
struct Trickle<'a> {
    bytes: &'a [u8],
    sizes: Vec<usize>,
    at: usize,
    interrupted: bool,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.interrupted = !self.interrupted;
        if self.interrupted {
            return Err(io::Error::from(io::ErrorKind::Interrupted));
        }
        let want = self.sizes[self.at % self.sizes.len()].max(1);
        self.at += 1;
        let n = want.min(buf.len()).min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

fn blocks_by_cid(blocks: Vec<(Cid, Vec<u8>)>) -> BTreeMap<Cid, Vec<u8>> {
    blocks.into_iter().collect()
}

fn layouts() -> impl Strategy<Value = Layout> {
    (1usize..=8, 2usize..=6).prop_map(|(chunk_bytes, max_links)| Layout {
        chunk_bytes,
        max_links,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// With tiny chunks and fan-outs, a few hundred bytes make DAGs up to 6 levels deep;
    /// the streaming builder must emit exactly the reference port's blocks, each named by
    /// its hash, and every emitted block must decode.
    #[test]
    fn streaming_matches_reference_on_small_layouts(
        layout in layouts(),
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let (root, blocks) = stream(&bytes, layout);
        let reference = reference_dag(&bytes[..], layout, true);
        prop_assert_eq!(root, reference.root);
        for (cid, block) in &blocks {
            prop_assert_eq!(*cid, cid_of_block(block));
            prop_assert!(decode_file_node(cid, block).is_ok());
        }
        prop_assert_eq!(blocks_by_cid(blocks), blocks_by_cid(reference.blocks));
    }

    /// How the reader splits its reads does not change the CID.
    #[test]
    fn read_sizes_do_not_matter(
        layout in layouts(),
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
        sizes in proptest::collection::vec(1usize..20, 1..8),
    ) {
        let mut reader = Trickle { bytes: &bytes, sizes, at: 0, interrupted: false };
        let (root, _) = build(&mut reader, layout, &mut HashOnly, &mut |_| {}).unwrap();
        prop_assert_eq!(root, stream(&bytes, layout).0);
    }
}

/// Exact multiples of the fan-out end as one node, not a chain of one-link parents.
#[test]
fn full_trees_have_no_one_link_root() {
    for (chunks, links) in [(4usize, 2usize), (8, 2), (9, 3), (27, 3)] {
        let layout = Layout {
            chunk_bytes: 1,
            max_links: links,
        };
        let bytes = vec![1u8; chunks];
        let (root, blocks) = stream(&bytes, layout);
        let root_block = &blocks.iter().find(|(cid, _)| *cid == root).unwrap().1;
        assert_eq!(
            decode_file_node(&root, root_block).unwrap().children.len(),
            links
        );
        assert_eq!(root, reference_dag(&bytes[..], layout, false).root);
    }
}

/// Cheap generated input: byte `i` is a mix of `i` and `seed`.
struct Pattern {
    pos: u64,
    len: u64,
    seed: u8,
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min((self.len - self.pos) as usize);
        for (i, b) in buf[..n].iter_mut().enumerate() {
            let at = self.pos + i as u64;
            *b = (at as u8) ^ ((at >> 9) as u8) ^ self.seed;
        }
        self.pos += n as u64;
        Ok(n)
    }
}

fn kubo_boundary_sizes() -> impl Strategy<Value = u64> {
    const C: u64 = crate::limits::CHUNK_BYTES as u64;
    const L: u64 = crate::limits::LINKS_PER_NODE as u64;
    let bases = vec![
        0,
        1,
        C - 1,
        C,
        C + 1,
        2 * C,
        L * C - 1,
        L * C,
        L * C + 1,
        (L + 1) * C,
    ];
    (prop::sample::select(bases), -2i64..=2)
        .prop_map(|(base, delta)| base.saturating_add_signed(delta))
}

proptest! {
    // Sizes up to 46 MB, so few cases; the seed is printed on failure by proptest.
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// At kubo's layout, around every chunk and fan-out boundary, the streaming builder
    /// agrees with the reference port.
    #[test]
    fn streaming_matches_reference_at_kubo_boundaries(len in kubo_boundary_sizes(), seed in any::<u8>()) {
        let layout = Layout::KUBO_DEFAULT;
        let mut reader = Pattern { pos: 0, len, seed };
        let (root, read) = build(&mut reader, layout, &mut HashOnly, &mut |_| {}).unwrap();
        prop_assert_eq!(read, len);
        let reference = reference_dag(Pattern { pos: 0, len, seed }, layout, false);
        prop_assert_eq!(root, reference.root, "len {}", len);
    }
}
