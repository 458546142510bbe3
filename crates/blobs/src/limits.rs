//! Every size the crate accepts is bounded here, with the reason for each bound.

/// Bytes per leaf chunk: kubo's default fixed-size chunker (`size-262144`).
pub const CHUNK_BYTES: usize = 262_144;

/// Links per internal node of the balanced layout: kubo's default (`UnixFSFileMaxLinks`).
pub const LINKS_PER_NODE: usize = 174;

/// Largest block read from disk or accepted from the network: 2 MiB, the hard block limit
/// of kubo and bitswap. Blocks built here are at most `CHUNK_BYTES` + 14 bytes; the margin
/// admits DAGs built by kubo with larger `--chunker` sizes.
pub const MAX_BLOCK_BYTES: usize = 2 * 1024 * 1024;

/// Most links a node may carry: 1,024 admits both IPIP-499 profiles (174 and 1,024) and
/// bounds the memory one node can make a reader hold (~40 KiB of links).
pub const MAX_LINKS_PER_NODE: usize = 1024;

/// Deepest DAG a reader descends into. The balanced layout needs depth 4 for 240 TB; a
/// crafted chain of single-link nodes is cut off here instead of being followed.
pub const MAX_DAG_DEPTH: usize = 32;

/// Largest file stored or read: 1 TiB. Sizes declared by untrusted nodes above this are
/// refused before any arithmetic is done on them.
pub const MAX_FILE_BYTES: u64 = 1 << 40;

/// Longest CID text parsed (the bound of the shared parser in `tessera_types::cid`).
pub use tessera_types::cid::MAX_CID_TEXT_BYTES;
