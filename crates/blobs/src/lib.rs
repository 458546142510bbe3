//! Tessera's blob store: content-addressed storage of files of any size (model weights,
//! datasets), named by the same CID `ipfs add` gives them.
//!
//! * [cid_of_reader], [cid_of_file], [cid_of_bytes]: a file's CID, computed as the bytes
//!   stream past, in bounded memory.
//! * [BlobStore]: blocks on disk under `dir/blocks/<cid>`; [BlobStore::put_file] stores a
//!   file, [BlobStore::get] / [BlobStore::export] read it back verified,
//!   [BlobStore::import_block] / [BlobStore::get_block] move single blocks to and from
//!   the network.
//! * [Cid]: a dag-pb, sha2-256 CID, printed as CIDv1 base32 (`bafybei…`), also
//!   available as CIDv0 (`Qm…`). The type and its parser live in `tessera_types::cid`
//!   (one parser for the chain and the store); [cid_of_block] names a block by its hash.
//!
//! # Example
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tessera_blobs::{cid_of_bytes, BlobStore};
//!
//! let cid = cid_of_bytes(b"hello\n")?;
//! assert_eq!(cid.to_string(), "bafybeiffndsajwhk3lwjewwdxqntmjm4b5wxaaanokonsggenkbw6slwk4");
//! assert_eq!(cid.to_v0_string(), "QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN"); // `ipfs add`
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("weights.bin"), b"hello\n")?;
//! let store = BlobStore::open(dir.path().join("blobs"))?;
//! let stored = store.put_file(dir.path().join("weights.bin"), &|done, total| {
//!     eprintln!("{done}/{total} bytes");
//! })?;
//! assert_eq!(stored, cid);
//! store.export(&cid, dir.path().join("copy.bin"))?; // verified block by block
//! assert_eq!(std::fs::read(dir.path().join("copy.bin"))?, b"hello\n");
//! # Ok(())
//! # }
//! ```
//!
//! # The format
//!
//! A file becomes a UnixFS DAG exactly as kubo's `ipfs add` builds it with default
//! settings (CIDv0, no raw leaves): 262,144-byte chunks, each wrapped in a dag-pb node
//! `Data = unixfs { Type: File, Data: chunk, filesize }`; a balanced tree of dag-pb nodes
//! with at most 174 links (`Name: ""`, `Tsize`: bytes of the whole subtree), each with
//! `unixfs { Type: File, filesize, blocksizes }`; sha2-256 everywhere. See `dag` for the
//! layout and `pb` for the byte-exact encoding.
//!
//! # Invariants
//!
//! * A CID computed here equals the CID kubo's default `ipfs add` computes for the same
//!   bytes (printed by kubo as CIDv0; [Cid::to_v0_string] gives the same text). Checked
//!   against kubo's own test vectors up to a two-level DAG (see `tests/fixtures.rs`).
//! * The CID is a function of the bytes only: not of how a reader splits its reads, nor
//!   of whether the bytes came through [cid_of_reader] or [BlobStore::put_file].
//! * Every block file under `blocks/` that exists holds bytes hashing to its name: blocks
//!   are written to a temp file, fsynced and renamed, so a crash leaves either no file or
//!   the whole block, never a partial one.
//! * Nothing unverified is returned: [BlobStore::get_block], [BlobStore::get],
//!   [BlobStore::get_bytes] and [BlobStore::export] hash every block before using it, and
//!   check each node's size against its parent's record; a corrupt or truncated block is
//!   refused with [BlobError::CorruptBlock] naming it.
//! * Nothing unverified is stored: [BlobStore::import_block] checks size, hash and
//!   structure before writing anything.
//! * [BlobStore::export] writes `out` only when the whole file has been verified.
//! * Every input is bounded (see [limits](crate#limits)): block size, links per node, DAG
//!   depth, file size, CID text length.
//!
//! # Limits
//!
//! [CHUNK_BYTES], [LINKS_PER_NODE] fix the format; [MAX_BLOCK_BYTES],
//! [MAX_LINKS_PER_NODE], [MAX_DAG_DEPTH], [MAX_FILE_BYTES] and [MAX_CID_TEXT_BYTES] bound
//! what is accepted from disk and the network.
//!
//! # Arithmetic safety
//!
//! The decoder of untrusted blocks (`pb::decode`) denies indexing and unchecked
//! arithmetic; sizes are summed with `checked_add` under [MAX_FILE_BYTES]. Elsewhere sizes
//! come from our own bounded counters and use saturating arithmetic.

mod dag;
mod error;
mod hash;
mod limits;
mod pb;
mod store;

pub use error::BlobError;
pub use hash::{cid_of_block, cid_of_bytes, cid_of_file, cid_of_reader};
pub use limits::{
    CHUNK_BYTES, LINKS_PER_NODE, MAX_BLOCK_BYTES, MAX_CID_TEXT_BYTES, MAX_DAG_DEPTH,
    MAX_FILE_BYTES, MAX_LINKS_PER_NODE,
};
pub use store::{BlobReader, BlobStore};
pub use tessera_types::cid::{Cid, CidError, DAG_PB_CODEC, SHA2_256_CODE};

/// Decodes `block` as a UnixFS file node, with every check [`BlobStore::import_block`]
/// runs after the hash (strict dag-pb, sizes that add up, bounded links), and returns
/// its children with the file bytes under each. For tools and the fuzz targets.
pub fn file_node_children(cid: &Cid, block: &[u8]) -> Result<Vec<(Cid, u64)>, BlobError> {
    if block.len() > MAX_BLOCK_BYTES {
        return Err(BlobError::BlockTooLarge {
            cid: *cid,
            len_bytes: u64::try_from(block.len()).unwrap_or(u64::MAX),
            max_bytes: MAX_BLOCK_BYTES,
        });
    }
    Ok(pb::decode_file_node(cid, block)?.children)
}
