//! Computing a file's CID without storing anything.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::dag::{build, HashOnly, Layout};
use crate::error::BlobError;
use crate::Cid;

/// The CID naming one dag-pb `block`: its SHA-256.
pub fn cid_of_block(block: &[u8]) -> Cid {
    Cid::from_sha256_digest(Sha256::digest(block).into())
}

/// The CID `ipfs add` (kubo, default settings) gives the bytes of `reader`, read to its
/// end. Memory stays at one 256 KiB chunk plus a few KiB of links, whatever the size.
pub fn cid_of_reader(mut reader: impl Read) -> Result<Cid, BlobError> {
    let (cid, _) = build(
        &mut reader,
        Layout::KUBO_DEFAULT,
        &mut HashOnly,
        &mut |_| {},
    )?;
    Ok(cid)
}

/// The CID `ipfs add <path>` (kubo, default settings) prints for the file at `path`,
/// read as a stream.
pub fn cid_of_file(path: impl AsRef<Path>) -> Result<Cid, BlobError> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| BlobError::io("open", path, e))?;
    cid_of_reader(file).map_err(|e| match e {
        BlobError::ReadInput { source, .. } => BlobError::io("read", path, source),
        other => other,
    })
}

/// The CID of `bytes` held in memory.
pub fn cid_of_bytes(bytes: &[u8]) -> Result<Cid, BlobError> {
    cid_of_reader(bytes)
}
