//! Strict, bounded decoder for dag-pb UnixFS file nodes taken from disk or the network.
//!
//! Arithmetic safety: every offset and size here comes from untrusted bytes, so indexing
//! and arithmetic are denied in this module; lengths are checked against the bytes left
//! and sizes are summed with `checked_add` under [MAX_FILE_BYTES].

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::ops::Range;

use super::{UNIXFS_FILE, UNIXFS_RAW, WIRE_FIXED32, WIRE_FIXED64, WIRE_LEN, WIRE_VARINT};
use crate::error::BlobError;
use crate::limits::{MAX_FILE_BYTES, MAX_LINKS_PER_NODE};
use crate::Cid;

/// A decoded UnixFS file node: its own bytes of file data, then its children in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileNode {
    /// Where this node's own file bytes sit inside the block.
    pub data: Range<usize>,
    /// Each child and the number of file bytes under it (the node's `blocksizes`).
    pub children: Vec<(Cid, u64)>,
    /// File bytes under this node: `data.len() + Σ blocksizes` (equal to `filesize` when
    /// the node declares one).
    pub filesize: u64,
}

/// Decodes `block` (already checked to hash to `cid`) as a UnixFS file node.
pub(crate) fn decode_file_node(cid: &Cid, block: &[u8]) -> Result<FileNode, BlobError> {
    let (links, data) =
        decode_pb_node(block).map_err(|reason| BlobError::malformed(*cid, reason))?;
    let unixfs = decode_unixfs(block, data).map_err(|reason| BlobError::malformed(*cid, reason))?;
    match unixfs.kind {
        UNIXFS_FILE | UNIXFS_RAW => {}
        other => {
            return Err(BlobError::NotAFile {
                cid: *cid,
                kind: kind_name(other),
            })
        }
    }
    if unixfs.blocksizes.len() != links.len() {
        return Err(BlobError::malformed(
            *cid,
            format!(
                "{} links but {} blocksizes",
                links.len(),
                unixfs.blocksizes.len()
            ),
        ));
    }
    let total = file_bytes(cid, &unixfs)?;
    if let Some(declared) = unixfs.filesize {
        if declared != total {
            return Err(BlobError::malformed(
                *cid,
                format!("filesize is {declared} but its data and blocksizes add up to {total}"),
            ));
        }
    }
    Ok(FileNode {
        data: unixfs.data,
        children: links.into_iter().zip(unixfs.blocksizes).collect(),
        filesize: total,
    })
}

fn file_bytes(cid: &Cid, unixfs: &UnixFs) -> Result<u64, BlobError> {
    let too_large = |len_bytes| BlobError::FileTooLarge {
        what: format!("the file under block {cid}"),
        len_bytes,
        max_bytes: MAX_FILE_BYTES,
    };
    let mut total = unixfs.data.len() as u64;
    for &size in &unixfs.blocksizes {
        total = total
            .checked_add(size)
            .filter(|t| *t <= MAX_FILE_BYTES)
            .ok_or_else(|| too_large(size.max(total)))?;
    }
    match unixfs.filesize {
        Some(declared) if declared > MAX_FILE_BYTES => Err(too_large(declared)),
        _ => Ok(total),
    }
}

fn kind_name(kind: u64) -> &'static str {
    match kind {
        1 => "directory",
        3 => "metadata node",
        4 => "symlink",
        5 => "HAMT-sharded directory",
        _ => "node of unknown type",
    }
}

/// `PBNode`: links (each a CID), then the `Data` range. Strict canonical order.
fn decode_pb_node(block: &[u8]) -> Result<(Vec<Cid>, Range<usize>), String> {
    let mut reader = Reader::new(block, 0..block.len());
    let mut links = Vec::new();
    let mut data = None;
    while !reader.is_done() {
        match reader.key()? {
            (2, WIRE_LEN) => {
                if data.is_some() {
                    return Err("a link follows the node's Data (not canonical dag-pb)".into());
                }
                if links.len() >= MAX_LINKS_PER_NODE {
                    return Err(format!("more than {MAX_LINKS_PER_NODE} links"));
                }
                let range = reader.len_delimited()?;
                let cid = decode_pb_link(block, range)
                    .map_err(|e| format!("link {}: {e}", links.len()))?;
                links.push(cid);
            }
            (1, WIRE_LEN) => {
                if data.is_some() {
                    return Err("Data appears twice".into());
                }
                data = Some(reader.len_delimited()?);
            }
            (field, wire) => {
                return Err(format!("unknown PBNode field {field} (wire type {wire})"))
            }
        }
    }
    let data = data.ok_or("no Data field, so not a UnixFS node")?;
    Ok((links, data))
}

/// `PBLink`: returns its `Hash`; `Name` and `Tsize` are checked for form only.
fn decode_pb_link(block: &[u8], range: Range<usize>) -> Result<Cid, String> {
    let mut reader = Reader::new(block, range);
    let mut hash = None;
    let mut last_field = 0;
    while !reader.is_done() {
        let (field, wire) = reader.key()?;
        if field <= last_field {
            return Err("fields out of order or repeated".into());
        }
        last_field = field;
        match (field, wire) {
            (1, WIRE_LEN) => {
                let bytes = block
                    .get(reader.len_delimited()?)
                    .ok_or("hash out of bounds")?;
                let cid = Cid::from_bytes(bytes).map_err(|e| e.reason.to_string())?;
                hash = Some(cid);
            }
            (2, WIRE_LEN) => {
                let name = block
                    .get(reader.len_delimited()?)
                    .ok_or("name out of bounds")?;
                std::str::from_utf8(name).map_err(|_| "name is not UTF-8")?;
            }
            (3, WIRE_VARINT) => {
                reader.varint()?;
            }
            (field, wire) => {
                return Err(format!("unknown PBLink field {field} (wire type {wire})"))
            }
        }
    }
    hash.ok_or_else(|| "no Hash".into())
}

struct UnixFs {
    kind: u64,
    data: Range<usize>,
    filesize: Option<u64>,
    blocksizes: Vec<u64>,
}

/// UnixFS `Data`, in field order; `blocksizes` may repeat (packed or not); fields past 4
/// (`hashType`, `fanout`, `mode`, `mtime`) are skipped.
fn decode_unixfs(block: &[u8], range: Range<usize>) -> Result<UnixFs, String> {
    let empty = range.start..range.start;
    let mut reader = Reader::new(block, range);
    let mut unixfs = UnixFs {
        kind: u64::MAX,
        data: empty,
        filesize: None,
        blocksizes: Vec::new(),
    };
    let mut last_field = 0;
    while !reader.is_done() {
        let (field, wire) = reader.key()?;
        if field < last_field || (field == last_field && field != 4) {
            return Err("UnixFS fields out of order or repeated".into());
        }
        last_field = field;
        match (field, wire) {
            (1, WIRE_VARINT) => unixfs.kind = reader.varint()?,
            (2, WIRE_LEN) => unixfs.data = reader.len_delimited()?,
            (3, WIRE_VARINT) => unixfs.filesize = Some(reader.varint()?),
            (4, WIRE_VARINT) => push_blocksize(&mut unixfs.blocksizes, reader.varint()?)?,
            (4, WIRE_LEN) => {
                let mut packed = Reader::new(block, reader.len_delimited()?);
                while !packed.is_done() {
                    push_blocksize(&mut unixfs.blocksizes, packed.varint()?)?;
                }
            }
            (1..=4, wire) => return Err(format!("UnixFS field {field} has wire type {wire}")),
            (_, wire) => reader.skip(wire)?,
        }
    }
    if unixfs.kind == u64::MAX {
        return Err("UnixFS Type is missing".into());
    }
    Ok(unixfs)
}

fn push_blocksize(blocksizes: &mut Vec<u64>, size: u64) -> Result<(), String> {
    if blocksizes.len() >= MAX_LINKS_PER_NODE {
        return Err(format!("more than {MAX_LINKS_PER_NODE} blocksizes"));
    }
    blocksizes.push(size);
    Ok(())
}

/// A cursor over `bytes[range]` that never reads outside the range.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], range: Range<usize>) -> Self {
        Reader {
            bytes,
            pos: range.start,
            end: range.end.min(bytes.len()),
        }
    }

    fn is_done(&self) -> bool {
        self.pos >= self.end
    }

    fn byte(&mut self) -> Result<u8, String> {
        if self.is_done() {
            return Err("truncated field".into());
        }
        let byte = *self.bytes.get(self.pos).ok_or("truncated field")?;
        self.pos = self.pos.checked_add(1).ok_or("offset overflow")?;
        Ok(byte)
    }

    /// A minimal varint of at most 10 bytes that fits in a u64.
    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for index in 0..10u32 {
            let byte = self.byte()?;
            let low = u64::from(byte & 0x7f);
            if index == 9 && byte > 1 {
                return Err("varint overflows 64 bits".into());
            }
            value |= low
                .checked_shl(index.checked_mul(7).ok_or("varint overflow")?)
                .ok_or("varint overflow")?;
            if byte & 0x80 == 0 {
                if index > 0 && byte == 0 {
                    return Err("non-minimal varint".into());
                }
                return Ok(value);
            }
        }
        Err("varint longer than 10 bytes".into())
    }

    /// A field key: (field number, wire type).
    fn key(&mut self) -> Result<(u64, u8), String> {
        let key = self.varint()?;
        let field = key >> 3;
        if field == 0 {
            return Err("field number 0".into());
        }
        Ok((field, (key & 7) as u8))
    }

    /// A length-delimited field's byte range.
    fn len_delimited(&mut self) -> Result<Range<usize>, String> {
        let len = self.varint()?;
        let left = self.end.saturating_sub(self.pos);
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l <= left)
            .ok_or("length runs past the end")?;
        let start = self.pos;
        self.pos = start.checked_add(len).ok_or("offset overflow")?;
        Ok(start..self.pos)
    }

    fn skip(&mut self, wire: u8) -> Result<(), String> {
        match wire {
            WIRE_VARINT => self.varint().map(drop),
            WIRE_LEN => self.len_delimited().map(drop),
            WIRE_FIXED64 => (0..8).try_for_each(|_| self.byte().map(drop)),
            WIRE_FIXED32 => (0..4).try_for_each(|_| self.byte().map(drop)),
            other => Err(format!("unsupported wire type {other}")),
        }
    }
}
