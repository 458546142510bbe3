use std::path::PathBuf;

use crate::Cid;

/// Everything that can go wrong in the blob store. Each message says what happened and
/// what to do next.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    /// A file-system operation failed.
    #[error("could not {action} `{path}`: {source}; check the path, permissions and free space")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Reading the caller's input stream failed.
    #[error("could not read the input after {offset_bytes} bytes: {source}")]
    ReadInput {
        offset_bytes: u64,
        #[source]
        source: std::io::Error,
    },

    /// Input (a file, or the sum a DAG declares) is larger than [crate::MAX_FILE_BYTES].
    #[error(
        "{what} is {len_bytes} bytes, over the {max_bytes}-byte limit; split it into smaller files"
    )]
    FileTooLarge {
        what: String,
        len_bytes: u64,
        max_bytes: u64,
    },

    /// The file changed size while it was being hashed.
    #[error(
        "`{path}` changed while it was read ({expected_bytes} bytes when opened, {read_bytes} read); \
         retry once nothing is writing to it"
    )]
    FileChanged {
        path: PathBuf,
        expected_bytes: u64,
        read_bytes: u64,
    },

    /// A block (from the network or on disk) is larger than [crate::MAX_BLOCK_BYTES].
    #[error(
        "block {cid} is {len_bytes} bytes, over the {max_bytes}-byte block limit; \
         it was not stored — fetch it from a peer that serves standard blocks"
    )]
    BlockTooLarge {
        cid: Cid,
        len_bytes: u64,
        max_bytes: usize,
    },

    /// Bytes offered for a CID do not hash to it; nothing was stored.
    #[error(
        "the {len_bytes} bytes offered as block {expected} hash to {actual}; \
         they were refused and nothing was stored — fetch the block again, from another peer if it repeats"
    )]
    HashMismatch {
        expected: Cid,
        actual: Cid,
        len_bytes: usize,
    },

    /// A stored block no longer hashes to its name (bit rot, truncation, tampering).
    #[error(
        "stored block {cid} at `{path}` is corrupt or truncated: its {len_bytes} bytes hash to {actual}; \
         delete the file and fetch the block again (`import_block`)"
    )]
    CorruptBlock {
        cid: Cid,
        path: PathBuf,
        actual: Cid,
        len_bytes: u64,
    },

    /// A block hashes correctly but is not a dag-pb UnixFS file node this crate can read.
    #[error("block {cid} is not a valid dag-pb UnixFS file node: {reason}")]
    MalformedBlock { cid: Cid, reason: String },

    /// A UnixFS node of a kind other than a file (directory, symlink, HAMT shard…).
    #[error("block {cid} is a UnixFS {kind}, not a file; only files can be read from this store")]
    NotAFile { cid: Cid, kind: &'static str },

    /// A node's declared size disagrees with what its parent recorded for it.
    #[error(
        "block {cid} holds {actual_bytes} bytes of file data but its parent records {expected_bytes}; \
         the DAG is inconsistent and cannot be exported"
    )]
    SizeMismatch {
        cid: Cid,
        expected_bytes: u64,
        actual_bytes: u64,
    },

    /// A DAG deeper than [crate::MAX_DAG_DEPTH].
    #[error("the DAG under {root} is deeper than {max_depth} levels at block {cid}; refusing to follow it")]
    TooDeep {
        root: Cid,
        cid: Cid,
        max_depth: usize,
    },

    /// A block is missing from the store.
    #[error("block {cid} is not in the store at `{dir}`; fetch it (`import_block`) or add the file (`put_file`)")]
    NotFound { cid: Cid, dir: PathBuf },

    /// Storing a block would take the store past its disk quota; nothing was written.
    #[error(
        "the blob store is full: {used_bytes} of {quota_bytes} bytes used, a block needs \
         {need_bytes} more; raise the node's blob quota or remove files it no longer serves"
    )]
    QuotaExceeded {
        used_bytes: u64,
        quota_bytes: u64,
        need_bytes: u64,
    },

    /// One block appears under two parents (or twice under one) with different sizes.
    #[error(
        "block {cid} is linked as {first_bytes} bytes and elsewhere in the same DAG as \
         {second_bytes} bytes; the DAG is inconsistent and cannot name a file"
    )]
    InconsistentLinks {
        cid: Cid,
        first_bytes: u64,
        second_bytes: u64,
    },

    /// A file is larger than the caller's bound on an in-memory read.
    #[error("file {cid} is {len_bytes} bytes, more than the {max_bytes} bytes asked for; stream it with `get` or `export`")]
    TooLargeForMemory {
        cid: Cid,
        len_bytes: u64,
        max_bytes: u64,
    },
}

impl BlobError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        BlobError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn malformed(cid: Cid, reason: impl Into<String>) -> Self {
        BlobError::MalformedBlock {
            cid,
            reason: reason.into(),
        }
    }
}
