//! The streaming balanced-DAG builder.

use std::io::{ErrorKind, Read};

use sha2::{Digest, Sha256};

use super::{BlockSink, Layout, Link};
use crate::error::BlobError;
use crate::limits::MAX_FILE_BYTES;
use crate::pb::{encode_internal_node, LeafFrame};
use crate::{cid_of_block, Cid};

/// Reads `reader` to its end and builds the DAG, handing each block to `sink`; calls
/// `progress(bytes_read)` after each chunk. Returns the root CID and the file size.
pub(crate) fn build(
    reader: &mut dyn Read,
    layout: Layout,
    sink: &mut dyn BlockSink,
    progress: &mut dyn FnMut(u64),
) -> Result<(Cid, u64), BlobError> {
    let mut chunk = vec![0u8; layout.chunk_bytes];
    let mut builder = Builder::new(layout);
    loop {
        let len = fill(reader, &mut chunk, builder.bytes)?;
        let Some(data) = chunk.get(..len).filter(|d| !d.is_empty()) else {
            break;
        };
        builder.push_chunk(data, sink)?;
        progress(builder.bytes);
        if len < chunk.len() {
            break;
        }
    }
    let root = builder.finish(sink)?;
    Ok((root, builder.bytes))
}

/// Reads until `buf` is full or the input ends, as kubo's size splitter does, so chunk
/// boundaries do not depend on how the reader splits its reads.
fn fill(reader: &mut dyn Read, buf: &mut [u8], offset_bytes: u64) -> Result<usize, BlobError> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..).filter(|r| !r.is_empty()) {
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n.min(rest.len()),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(BlobError::ReadInput {
                    offset_bytes: offset_bytes.saturating_add(filled as u64),
                    source,
                })
            }
        }
    }
    Ok(filled)
}

struct Builder {
    layout: Layout,
    /// Open links per level: `levels[0]` holds leaves, `levels[i]` nodes of height `i`.
    levels: Vec<Vec<Link>>,
    chunks: u64,
    bytes: u64,
    scratch: Vec<u8>,
}

impl Builder {
    fn new(layout: Layout) -> Self {
        Builder {
            layout,
            levels: Vec::new(),
            chunks: 0,
            bytes: 0,
            scratch: Vec::new(),
        }
    }

    fn push_chunk(&mut self, data: &[u8], sink: &mut dyn BlockSink) -> Result<(), BlobError> {
        let len = data.len() as u64;
        self.bytes = self
            .bytes
            .checked_add(len)
            .filter(|b| *b <= MAX_FILE_BYTES)
            .ok_or(BlobError::FileTooLarge {
                what: "the input".into(),
                len_bytes: self.bytes.saturating_add(len),
                max_bytes: MAX_FILE_BYTES,
            })?;
        self.chunks += 1;
        let leaf = leaf(data, sink)?;
        self.add_link(0, leaf, sink)
    }

    /// Adds `link` at `level`, first closing the level into its parent if it is full.
    fn add_link(
        &mut self,
        level: usize,
        link: Link,
        sink: &mut dyn BlockSink,
    ) -> Result<(), BlobError> {
        if self.levels.len() <= level {
            self.levels.push(Vec::with_capacity(self.layout.max_links));
        }
        if self.level_len(level) >= self.layout.max_links {
            let parent = self.close(level, sink)?;
            self.add_link(level + 1, parent, sink)?;
        }
        if let Some(open) = self.levels.get_mut(level) {
            open.push(link);
        }
        Ok(())
    }

    fn level_len(&self, level: usize) -> usize {
        self.levels.get(level).map_or(0, Vec::len)
    }

    /// Turns the open links of `level` into one node, emits it and returns a link to it.
    fn close(&mut self, level: usize, sink: &mut dyn BlockSink) -> Result<Link, BlobError> {
        let links = self
            .levels
            .get_mut(level)
            .map(std::mem::take)
            .unwrap_or_default();
        let mut filesize = 0u64;
        let mut tsize = 0u64;
        for link in &links {
            // Both sums are bounded by MAX_FILE_BYTES plus the DAG's overhead (< 1%).
            filesize = filesize.saturating_add(link.filesize);
            tsize = tsize.saturating_add(link.tsize);
        }
        encode_internal_node(&links, filesize, &mut self.scratch);
        let cid = cid_of_block(&self.scratch);
        sink.block(&cid, &[&self.scratch])?;
        if let Some(open) = self.levels.get_mut(level) {
            // Reuse the allocation for the level's next links.
            *open = links;
            open.clear();
        }
        Ok(Link {
            cid,
            tsize: tsize.saturating_add(self.scratch.len() as u64),
            filesize,
        })
    }

    fn finish(&mut self, sink: &mut dyn BlockSink) -> Result<Cid, BlobError> {
        if self.chunks == 0 {
            return Ok(leaf(&[], sink)?.cid);
        }
        if self.chunks == 1 {
            if let Some(root) = self.levels.first().and_then(|leaves| leaves.first()) {
                return Ok(root.cid);
            }
        }
        // Close every open level into the one above, bottom-up; the top one is the root.
        // The top level holds at least two links here (it was opened by a full level below
        // that then received another link), so the root is never a one-link node.
        let mut level = 0;
        loop {
            let top = level + 1 >= self.levels.len();
            if !top && self.level_len(level) == 0 {
                level += 1;
                continue;
            }
            let node = self.close(level, sink)?;
            if top {
                return Ok(node.cid);
            }
            self.add_link(level + 1, node, sink)?;
            level += 1;
        }
    }
}

/// Hashes (and emits) the leaf holding `data`, without copying the data.
fn leaf(data: &[u8], sink: &mut dyn BlockSink) -> Result<Link, BlobError> {
    let frame = LeafFrame::new(data.len());
    let mut hasher = Sha256::new();
    hasher.update(frame.head());
    hasher.update(data);
    hasher.update(frame.tail());
    let cid = Cid::from_sha256_digest(hasher.finalize().into());
    sink.block(&cid, &[frame.head(), data, frame.tail()])?;
    Ok(Link {
        cid,
        tsize: frame.block_len(data.len()) as u64,
        filesize: data.len() as u64,
    })
}
