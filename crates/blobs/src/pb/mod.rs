//! Hand-written protobuf for exactly three messages: dag-pb's `PBNode` and `PBLink`, and
//! UnixFS's `Data`.
//!
//! ```text
//! message PBLink { optional bytes Hash = 1; optional string Name = 2; optional uint64 Tsize = 3; }
//! message PBNode { repeated PBLink Links = 2; optional bytes Data = 1; }
//! message Data   { required DataType Type = 1; optional bytes Data = 2; optional uint64 filesize = 3;
//!                  repeated uint64 blocksizes = 4; /* 5..8: hashType, fanout, mode, mtime */ }
//! ```
//!
//! Canonical dag-pb (what kubo writes and what is hashed): a node's links come before its
//! data; a link's fields come in field order; kubo writes `Name` even when empty and always
//! writes `Tsize`. UnixFS fields come in field order, `blocksizes` unpacked (proto2).

mod decode;
pub(crate) mod encode;

pub(crate) use decode::decode_file_node;
pub(crate) use encode::{encode_internal_node, LeafFrame};

/// UnixFS `DataType` values.
pub(crate) const UNIXFS_RAW: u64 = 0;
pub(crate) const UNIXFS_FILE: u64 = 2;

/// Appends `value` as a protobuf varint (little-endian base-128).
pub(crate) fn put_varint(out: &mut Vec<u8>, value: u64) {
    let mut rest = value;
    while rest >= 0x80 {
        out.push((rest as u8) | 0x80);
        rest >>= 7;
    }
    out.push(rest as u8);
}

/// Protobuf tag byte for fields 1..=15.
pub(crate) const fn tag(field: u8, wire_type: u8) -> u8 {
    (field << 3) | wire_type
}

pub(crate) const WIRE_VARINT: u8 = 0;
pub(crate) const WIRE_FIXED64: u8 = 1;
pub(crate) const WIRE_LEN: u8 = 2;
pub(crate) const WIRE_FIXED32: u8 = 5;

#[cfg(test)]
mod tests;
