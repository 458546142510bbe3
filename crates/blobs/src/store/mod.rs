//! The on-disk block store.
//!
//! Layout under the store directory:
//!
//! * `blocks/<cidv1>`: one file per block, named by the CIDv1 text of its bytes.
//! * `tmp/`: blocks being written. Each is written here, fsynced, then renamed into
//!   `blocks/`, so a name in `blocks/` never holds partial bytes. Files older than an
//!   hour are crash leftovers and are removed by [BlobStore::open].
//!
//! Invariants:
//! * A name in `blocks/` never holds bytes other than the block it names (atomic rename;
//!   reads verify anyway).
//! * With a quota ([BlobStore::with_quota]), the bytes under `blocks/` written by this
//!   process never take the total past it: space is reserved before a block is written
//!   and released if the write fails.
//! * Walking a DAG ([BlobStore::block_cids]) reads each distinct block once, however
//!   many times it is linked, so a few crafted blocks that describe a huge file cost
//!   the walk no more than their own bytes; a block linked with two different sizes is
//!   refused ([BlobError::InconsistentLinks]).

mod export;
mod fsio;
mod reader;
mod writer;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use reader::BlobReader;

use crate::dag::{build, Layout};
use crate::error::BlobError;
use crate::limits::{MAX_BLOCK_BYTES, MAX_DAG_DEPTH, MAX_FILE_BYTES};
use crate::pb::decode_file_node;
use crate::{cid_of_block, Cid};

/// Temp files older than this are leftovers of a crash (one block takes milliseconds).
const STALE_TEMP: Duration = Duration::from_secs(3600);

/// A directory of content-addressed blocks. Cheap to share between threads (`&self`
/// everywhere); several processes may use one directory.
#[derive(Debug)]
pub struct BlobStore {
    dir: PathBuf,
    blocks: PathBuf,
    tmp: PathBuf,
    next_temp: AtomicU64,
    /// Most bytes `blocks/` may hold, if capped.
    quota_bytes: Option<u64>,
    /// Bytes under `blocks/` (counted at [BlobStore::with_quota], then kept up to date).
    used_bytes: AtomicU64,
}

impl BlobStore {
    /// Opens (creating if needed) the store in `dir` and removes stale temp files.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, BlobError> {
        let dir = dir.as_ref().to_path_buf();
        let blocks = dir.join("blocks");
        let tmp = dir.join("tmp");
        for sub in [&blocks, &tmp] {
            fs::create_dir_all(sub).map_err(|e| BlobError::io("create directory", sub, e))?;
        }
        fsio::remove_stale(&tmp, STALE_TEMP)?;
        Ok(BlobStore {
            dir,
            blocks,
            tmp,
            next_temp: AtomicU64::new(0),
            quota_bytes: None,
            used_bytes: AtomicU64::new(0),
        })
    }

    /// Caps the bytes the store holds at `quota_bytes`: a block that would take it past
    /// is refused with [BlobError::QuotaExceeded]. Counts what is stored now (one `stat`
    /// per block), so opening a large store this way takes a moment.
    pub fn with_quota(mut self, quota_bytes: u64) -> Result<Self, BlobError> {
        let mut used = 0u64;
        let entries =
            fs::read_dir(&self.blocks).map_err(|e| BlobError::io("list", &self.blocks, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| BlobError::io("list", &self.blocks, e))?;
            let meta = entry
                .metadata()
                .map_err(|e| BlobError::io("stat", entry.path(), e))?;
            if meta.is_file() {
                used = used.saturating_add(meta.len());
            }
        }
        self.quota_bytes = Some(quota_bytes);
        self.used_bytes = AtomicU64::new(used);
        Ok(self)
    }

    /// Bytes held under `blocks/` and the quota, if one is set.
    pub fn usage(&self) -> (u64, Option<u64>) {
        (self.used_bytes.load(Ordering::Relaxed), self.quota_bytes)
    }

    /// Reserves `len` bytes of the quota (no-op without one).
    fn reserve(&self, len: u64) -> Result<(), BlobError> {
        let Some(quota) = self.quota_bytes else {
            return Ok(());
        };
        self.used_bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(len).filter(|total| *total <= quota)
            })
            .map(|_| ())
            .map_err(|used| BlobError::QuotaExceeded {
                used_bytes: used,
                quota_bytes: quota,
                need_bytes: len,
            })
    }

    fn release(&self, len: u64) {
        if self.quota_bytes.is_some() {
            let _ = self
                .used_bytes
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                    Some(used.saturating_sub(len))
                });
        }
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the block `cid` lives (whether or not it is present).
    pub fn block_path(&self, cid: &Cid) -> PathBuf {
        self.blocks.join(cid.to_v1_string())
    }

    /// Chunks, hashes and stores the file at `path` as it is read, and returns its CID
    /// (the one `ipfs add` prints). Calls `progress(bytes_done, bytes_total)` at the start
    /// and after every 256 KiB chunk read and hashed (its block is then queued for
    /// writing). When this returns `Ok`, every block of the DAG is written and durable.
    /// Blocks already present (same name and length) are not rewritten.
    pub fn put_file(
        &self,
        path: impl AsRef<Path>,
        progress: &dyn Fn(u64, u64),
    ) -> Result<Cid, BlobError> {
        let path = path.as_ref();
        let mut file = File::open(path).map_err(|e| BlobError::io("open", path, e))?;
        let total = file
            .metadata()
            .map_err(|e| BlobError::io("stat", path, e))?
            .len();
        if total > MAX_FILE_BYTES {
            return Err(BlobError::FileTooLarge {
                what: format!("`{}`", path.display()),
                len_bytes: total,
                max_bytes: MAX_FILE_BYTES,
            });
        }
        progress(0, total);
        let (cid, read) = self
            .put_stream(&mut file, &mut |done| progress(done, total))
            .map_err(|e| match e {
                BlobError::ReadInput { source, .. } => BlobError::io("read", path, source),
                other => other,
            })?;
        if read != total {
            return Err(BlobError::FileChanged {
                path: path.to_path_buf(),
                expected_bytes: total,
                read_bytes: read,
            });
        }
        Ok(cid)
    }

    /// Stores `bytes` as a file and returns its CID.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<Cid, BlobError> {
        let mut reader = bytes;
        Ok(self.put_stream(&mut reader, &mut |_| {})?.0)
    }

    fn put_stream(
        &self,
        reader: &mut dyn Read,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(Cid, u64), BlobError> {
        let built = writer::with_parallel_writes(self, |sink| {
            build(reader, Layout::KUBO_DEFAULT, sink, progress)
        })?;
        fsio::sync_dir(&self.blocks)?;
        Ok(built)
    }

    /// Whether the block `cid` is present (not checked; reads check).
    pub fn has(&self, cid: &Cid) -> Result<bool, BlobError> {
        let path = self.block_path(cid);
        match fs::metadata(&path) {
            Ok(meta) => Ok(meta.is_file()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(BlobError::io("stat", path, e)),
        }
    }

    /// The children of the stored block `cid` with the file bytes under each (empty for
    /// a leaf). The block is verified as it is read.
    pub fn children(&self, cid: &Cid) -> Result<Vec<(Cid, u64)>, BlobError> {
        let block = self.get_block(cid)?;
        Ok(decode_file_node(cid, &block)?.children)
    }

    /// Every distinct block of the stored file `root`, each parent before its children:
    /// the order in which a receiver can check every block against a parent it already
    /// has. A block linked several times (kubo links one leaf many times in a file of
    /// repeated chunks) is listed and read once; every link to it must give the same size
    /// ([BlobError::InconsistentLinks]), and no block may sit deeper than
    /// [MAX_DAG_DEPTH]. At most `max_blocks`; more is refused as
    /// [BlobError::FileTooLarge].
    pub fn block_cids(&self, root: &Cid, max_blocks: usize) -> Result<Vec<Cid>, BlobError> {
        let mut out = Vec::new();
        let mut sizes: HashMap<Cid, u64> = HashMap::new();
        let mut stack: Vec<(Cid, Option<u64>, usize)> = vec![(*root, None, 1)];
        while let Some((cid, expected_bytes, depth)) = stack.pop() {
            if let Some(&first_bytes) = sizes.get(&cid) {
                match expected_bytes {
                    Some(second_bytes) if second_bytes != first_bytes => {
                        return Err(BlobError::InconsistentLinks {
                            cid,
                            first_bytes,
                            second_bytes,
                        })
                    }
                    _ => continue,
                }
            }
            if out.len() >= max_blocks {
                return Err(BlobError::FileTooLarge {
                    what: format!("file {root} in blocks"),
                    len_bytes: u64::try_from(out.len()).unwrap_or(u64::MAX),
                    max_bytes: u64::try_from(max_blocks).unwrap_or(u64::MAX),
                });
            }
            if depth > MAX_DAG_DEPTH {
                return Err(BlobError::TooDeep {
                    root: *root,
                    cid,
                    max_depth: MAX_DAG_DEPTH,
                });
            }
            let block = self.get_block(&cid)?;
            let node = decode_file_node(&cid, &block)?;
            if let Some(expected_bytes) = expected_bytes {
                if node.filesize != expected_bytes {
                    return Err(BlobError::SizeMismatch {
                        cid,
                        expected_bytes,
                        actual_bytes: node.filesize,
                    });
                }
            }
            sizes.insert(cid, node.filesize);
            let below = depth.saturating_add(1);
            stack.extend(
                node.children
                    .iter()
                    .rev()
                    .map(|&(child, bytes)| (child, Some(bytes), below)),
            );
            out.push(cid);
        }
        Ok(out)
    }

    /// The bytes of block `cid`, checked to hash to `cid` (e.g. to serve to a peer).
    pub fn get_block(&self, cid: &Cid) -> Result<Vec<u8>, BlobError> {
        let path = self.block_path(cid);
        let file = File::open(&path).map_err(|e| match e.kind() {
            ErrorKind::NotFound => BlobError::NotFound {
                cid: *cid,
                dir: self.blocks.clone(),
            },
            _ => BlobError::io("open", &path, e),
        })?;
        let len = file
            .metadata()
            .map_err(|e| BlobError::io("stat", &path, e))?
            .len();
        if len > MAX_BLOCK_BYTES as u64 {
            return Err(BlobError::BlockTooLarge {
                cid: *cid,
                len_bytes: len,
                max_bytes: MAX_BLOCK_BYTES,
            });
        }
        let mut bytes = Vec::with_capacity(len as usize);
        file.take(MAX_BLOCK_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| BlobError::io("read", &path, e))?;
        let actual = cid_of_block(&bytes);
        if actual != *cid {
            return Err(BlobError::CorruptBlock {
                cid: *cid,
                path,
                actual,
                len_bytes: bytes.len() as u64,
            });
        }
        Ok(bytes)
    }

    /// Stores a block received from elsewhere, after checking, in order: its size, that it
    /// hashes to `cid`, and that it is a well-formed UnixFS file node. If any check fails
    /// nothing is written. The block is complete under its name once this returns; it
    /// survives a crash once [BlobStore::sync] has run (else it may be missing, never wrong).
    pub fn import_block(&self, cid: &Cid, bytes: &[u8]) -> Result<(), BlobError> {
        if bytes.len() > MAX_BLOCK_BYTES {
            return Err(BlobError::BlockTooLarge {
                cid: *cid,
                len_bytes: bytes.len() as u64,
                max_bytes: MAX_BLOCK_BYTES,
            });
        }
        let actual = cid_of_block(bytes);
        if actual != *cid {
            return Err(BlobError::HashMismatch {
                expected: *cid,
                actual,
                len_bytes: bytes.len(),
            });
        }
        decode_file_node(cid, bytes)?;
        self.store_block(cid, &[bytes])
    }

    /// Makes every block imported so far durable (fsyncs the blocks directory).
    pub fn sync(&self) -> Result<(), BlobError> {
        fsio::sync_dir(&self.blocks)
    }

    /// A reader over the file `cid`, checking every block against its CID and the DAG's
    /// sizes as it goes.
    pub fn get(&self, cid: &Cid) -> Result<BlobReader<'_>, BlobError> {
        BlobReader::open(self, *cid, 0)
    }

    /// A reader over the file `cid` from byte `offset` on. Subtrees wholly before the
    /// offset are skipped by their recorded sizes without being read, so a range read
    /// costs the blocks on the path to its start plus the blocks it covers.
    pub fn get_from(&self, cid: &Cid, offset: u64) -> Result<BlobReader<'_>, BlobError> {
        BlobReader::open(self, *cid, offset)
    }

    /// The whole file `cid` in memory, if it is at most `max_bytes` long.
    pub fn get_bytes(&self, cid: &Cid, max_bytes: u64) -> Result<Vec<u8>, BlobError> {
        let mut reader = self.get(cid)?;
        if reader.size() > max_bytes {
            return Err(BlobError::TooLargeForMemory {
                cid: *cid,
                len_bytes: reader.size(),
                max_bytes,
            });
        }
        let mut out = Vec::with_capacity(reader.size() as usize);
        while let Some(chunk) = reader.next_chunk()? {
            out.extend_from_slice(chunk);
        }
        Ok(out)
    }

    /// Writes block `cid` unless a file of the same length is already under its name
    /// (content addressing makes it the same block; reads still verify it).
    pub(super) fn store_block(&self, cid: &Cid, parts: &[&[u8]]) -> Result<(), BlobError> {
        let path = self.block_path(cid);
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() == len as u64) {
            return Ok(());
        }
        let len_bytes = u64::try_from(len).unwrap_or(u64::MAX);
        self.reserve(len_bytes)?;
        let tmp = self.temp_path(&cid.to_v1_string());
        fsio::write_atomic(&tmp, &path, parts).inspect_err(|_| self.release(len_bytes))
    }

    /// A fresh name in `tmp/`, unique across threads and processes.
    fn temp_path(&self, stem: &str) -> PathBuf {
        let n = self.next_temp.fetch_add(1, Ordering::Relaxed);
        self.tmp.join(format!("{stem}.{}.{n}", std::process::id()))
    }
}
