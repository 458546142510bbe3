//! The UnixFS balanced DAG, built as the bytes stream in.
//!
//! # The layout (boxo `ipld/unixfs/importer/balanced`)
//!
//! The file is cut into chunks of exactly [Layout::chunk_bytes] (the last may be shorter);
//! each chunk becomes a leaf (`pb::LeafFrame`). With one chunk the leaf is the root; with
//! none, the root is the empty leaf. Otherwise leaves are grouped under internal nodes of
//! at most [Layout::max_links] links, and whenever the tree is full and more data comes,
//! the full root becomes the first child of a new root one level up. Every subtree but the
//! rightmost at each level is full, so a node may have a single child (e.g. 175 chunks at
//! 174 links: root → [full node of 174 leaves, node → [leaf]]).
//!
//! The streaming builder keeps one open list of links per level (at most `max_links`
//! each). A full level is closed into a node only when one more link arrives for it, so a
//! file of exactly `max_links` chunks ends as one node, not a chain. At the end each open
//! level is closed into the next, bottom-up, and the top level is the root. Memory is one
//! chunk buffer plus `max_links` links per level.

mod builder;
#[cfg(test)]
pub(crate) mod reference;
#[cfg(test)]
mod tests;

pub(crate) use builder::build;

use crate::error::BlobError;
use crate::limits::{CHUNK_BYTES, LINKS_PER_NODE};
use crate::Cid;

/// Chunk size and fan-out of the balanced layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub chunk_bytes: usize,
    pub max_links: usize,
}

impl Layout {
    /// kubo's `ipfs add` defaults: `size-262144`, 174 links. The only layout the public
    /// API uses; others exist to check the layout logic against small fixtures.
    pub(crate) const KUBO_DEFAULT: Layout = Layout {
        chunk_bytes: CHUNK_BYTES,
        max_links: LINKS_PER_NODE,
    };
}

/// A link from a parent to a finished child subtree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Link {
    pub cid: Cid,
    /// Serialized bytes of the whole subtree (the dag-pb `Tsize`).
    pub tsize: u64,
    /// File bytes under the subtree (the parent's UnixFS `blocksizes` entry).
    pub filesize: u64,
}

/// Receives every block of a DAG as it is built, children before parents. A block is the
/// concatenation of `parts`.
pub(crate) trait BlockSink {
    fn block(&mut self, cid: &Cid, parts: &[&[u8]]) -> Result<(), BlobError>;
}

/// Discards blocks: computing a CID only.
pub(crate) struct HashOnly;

impl BlockSink for HashOnly {
    fn block(&mut self, _cid: &Cid, _parts: &[&[u8]]) -> Result<(), BlobError> {
        Ok(())
    }
}
