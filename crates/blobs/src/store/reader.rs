//! Reading a file back out of the store, verifying as it goes.

use std::io::{self, Read};
use std::ops::Range;

use super::BlobStore;
use crate::error::BlobError;
use crate::limits::MAX_DAG_DEPTH;
use crate::pb::decode_file_node;
use crate::Cid;

/// Streams the bytes of a stored file. Every block is hashed and compared with its CID
/// before any of its bytes are returned, and each node's size is checked against what
/// its parent records, so the bytes returned are exactly the file named by the root CID.
/// Memory: one block plus at most [MAX_DAG_DEPTH] lists of links.
///
/// [Read] reports a [BlobError] as an `io::Error` of kind `InvalidData` (or `NotFound`)
/// whose inner error is the `BlobError`; [BlobReader::next_chunk] returns it directly.
pub struct BlobReader<'s> {
    store: &'s BlobStore,
    root: Cid,
    size: u64,
    produced: u64,
    /// Per open node: its children and the index of the next one to visit.
    stack: Vec<(Vec<(Cid, u64)>, usize)>,
    block: Vec<u8>,
    /// The unread part of `block`'s file data.
    unread: Range<usize>,
    /// File bytes still to pass over before the first one returned.
    skip: u64,
}

impl<'s> BlobReader<'s> {
    /// A reader from byte `offset` of the file on (an offset past the end reads nothing).
    pub(super) fn open(store: &'s BlobStore, root: Cid, offset: u64) -> Result<Self, BlobError> {
        let block = store.get_block(&root)?;
        let node = decode_file_node(&root, &block)?;
        let mut reader = BlobReader {
            store,
            root,
            size: node.filesize,
            produced: 0,
            stack: vec![(node.children, 0)],
            block,
            unread: 0..0,
            skip: offset.min(node.filesize),
        };
        reader.take_data(node.data);
        Ok(reader)
    }

    /// Makes `data` (a node's own file bytes) the unread run, minus what is skipped.
    fn take_data(&mut self, data: Range<usize>) {
        let len = data.len() as u64;
        let skipped = self.skip.min(len);
        self.skip -= skipped;
        self.produced = self.produced.saturating_add(skipped);
        let start = data
            .start
            .saturating_add(usize::try_from(skipped).unwrap_or(0));
        self.unread = start.min(data.end)..data.end;
    }

    /// The file's CID.
    pub fn root(&self) -> Cid {
        self.root
    }

    /// The file's length in bytes, as its root declares it (every read checks it).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The next run of file bytes (one block's worth), or `None` at the end.
    pub fn next_chunk(&mut self) -> Result<Option<&[u8]>, BlobError> {
        if !self.fill()? {
            return Ok(None);
        }
        let range = std::mem::replace(&mut self.unread, 0..0);
        self.produced = self.produced.saturating_add(range.len() as u64);
        Ok(self.block.get(range))
    }

    /// Loads blocks until some file bytes are unread; false at the end of the file.
    fn fill(&mut self) -> Result<bool, BlobError> {
        while self.unread.is_empty() {
            let depth = self.stack.len();
            let Some((children, next)) = self.stack.last_mut() else {
                return self.check_end().map(|()| false);
            };
            let Some(&(cid, expected_bytes)) = children.get(*next) else {
                self.stack.pop();
                continue;
            };
            *next += 1;
            if self.skip >= expected_bytes {
                // Wholly before the start: counted as passed, never read.
                self.skip -= expected_bytes;
                self.produced = self.produced.saturating_add(expected_bytes);
                continue;
            }
            if depth >= MAX_DAG_DEPTH {
                return Err(BlobError::TooDeep {
                    root: self.root,
                    cid,
                    max_depth: MAX_DAG_DEPTH,
                });
            }
            let block = self.store.get_block(&cid)?;
            let node = decode_file_node(&cid, &block)?;
            if node.filesize != expected_bytes {
                return Err(BlobError::SizeMismatch {
                    cid,
                    expected_bytes,
                    actual_bytes: node.filesize,
                });
            }
            self.block = block;
            self.take_data(node.data);
            if !node.children.is_empty() {
                self.stack.push((node.children, 0));
            }
        }
        Ok(true)
    }

    fn check_end(&self) -> Result<(), BlobError> {
        if self.produced == self.size {
            return Ok(());
        }
        Err(BlobError::SizeMismatch {
            cid: self.root,
            expected_bytes: self.size,
            actual_bytes: self.produced,
        })
    }
}

impl Read for BlobReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if !self.fill().map_err(into_io)? {
            return Ok(0);
        }
        let n = buf.len().min(self.unread.len());
        let end = self.unread.start + n;
        let src = self.block.get(self.unread.start..end).unwrap_or_default();
        let dst = buf.get_mut(..src.len()).unwrap_or_default();
        dst.copy_from_slice(src);
        self.unread.start = end;
        self.produced = self.produced.saturating_add(src.len() as u64);
        Ok(src.len())
    }
}

fn into_io(error: BlobError) -> io::Error {
    let kind = match error {
        BlobError::NotFound { .. } => io::ErrorKind::NotFound,
        BlobError::Io { ref source, .. } => source.kind(),
        _ => io::ErrorKind::InvalidData,
    };
    io::Error::new(kind, error)
}
