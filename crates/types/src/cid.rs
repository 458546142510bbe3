//! Content identifiers (CIDs): the one parser of CID text and bytes that every Tessera
//! crate uses — the chain to check a manifest CID, the blob store and the clients to name
//! files. Computing a CID from bytes is the blob store's job (`tessera-blobs`).
//!
//! Every CID read here has a sha2-256 multihash (`0x12`, 32-byte digest): Tessera names
//! all content by SHA-256. Two text forms are read:
//! * CIDv1 in lower-case base32 (`b` + RFC 4648 `a-z2-7`, no padding) of
//!   `varint(1) || varint(codec) || 0x12 0x20 || digest`, e.g. `bafybei…` (dag-pb) or
//!   `bafkrei…` (raw). Tessera prints CIDs in this form.
//! * CIDv0: base58btc of `0x12 0x20 || digest` (46 characters, `Qm…`), always dag-pb;
//!   what kubo's `ipfs add` prints by default.
//!
//! Two views of a parsed CID:
//! * [`AnyCid`]: any codec. The chain accepts these as manifest CIDs; accepting more
//!   later is compatible, accepting less would strand registered models.
//! * [`Cid`]: dag-pb only (`0x70`), what `ipfs add` gives a file and what the blob store
//!   serves. `Display` prints the CIDv1 base32 text; [`Cid::to_v0_string`] the `Qm…` one.
//!
//! # Invariants
//! * One text per CID per form: varints are minimal and base32 tail bits are zero, so a
//!   text that parses is the text [`Cid`] prints (or the CIDv0 text of the same CID).
//! * Input is bounded: text over [`MAX_CID_TEXT_BYTES`] is refused before decoding.
//!
//! # Arithmetic safety
//! Nothing here panics on any input: decoding uses slice patterns, `get` and checked
//! shifts, and the module denies unwrap, indexing and unchecked arithmetic (the `state`
//! crate, which replicates its results, calls it).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

use std::fmt;
use std::str::FromStr;

/// Multicodec code of dag-pb.
pub const DAG_PB_CODEC: u64 = 0x70;
/// Multicodec code of raw bytes (`ipfs add --raw-leaves` leaves).
pub const RAW_CODEC: u64 = 0x55;
/// Multihash code of sha2-256.
pub const SHA2_256_CODE: u8 = 0x12;
/// Digest length of sha2-256.
pub const SHA2_256_LEN: u8 = 32;
/// Longest CID text parsed. A sha2-256 CIDv1 base32 text is at most 72 characters (59
/// for dag-pb and raw) and a CIDv0 46.
pub const MAX_CID_TEXT_BYTES: usize = 100;

const CIDV0_CHARS: usize = 46;
/// Longest varint the multiformats spec allows (63 bits of value).
const MAX_VARINT_BYTES: usize = 9;

/// A CID text or binary form that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{input}` is not a usable CID: {reason}; `tessera blob cid FILE` prints a file's CID \
     (CIDv1 base32 `bafybei…`; the CIDv0 `Qm…` that `ipfs add` prints is read too)"
)]
pub struct CidError {
    /// The text (cut to [`MAX_CID_TEXT_BYTES`]), or `0x` + hex of the first 16 bytes.
    pub input: String,
    pub reason: CidReason,
}

/// What is wrong with a CID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CidReason {
    #[error("it is longer than any CID ({MAX_CID_TEXT_BYTES} bytes at most)")]
    TooLong,
    #[error("only CIDv0 (`Qm…`) and base32 CIDv1 (multibase prefix `b`) are accepted")]
    UnknownBase,
    #[error("a CIDv0 is exactly 46 characters")]
    CidV0Length,
    #[error("it is not valid base58btc")]
    NotBase58,
    #[error("it is not canonical lower-case base32 (a-z, 2-7)")]
    NotBase32,
    #[error("the binary CID does not start with version 1")]
    NotVersion1,
    #[error("a varint in it is truncated, over-long or not minimal")]
    BadVarint,
    #[error(
        "the multihash (code 0x{code:02x}, {len} bytes) is not sha2-256 with a 32-byte digest"
    )]
    NotSha256 { code: u64, len: u64 },
    #[error("the multihash digest is {len} bytes, not 32")]
    DigestLength { len: usize },
    #[error("codec 0x{codec:02x} is not dag-pb (0x70){}", if *codec == RAW_CODEC { " (raw leaves are not supported)" } else { "" })]
    NotDagPb { codec: u64 },
}

/// A CID of any codec whose multihash is sha2-256.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct AnyCid {
    codec: u64,
    digest: [u8; 32],
}

impl AnyCid {
    /// Parses CIDv1 base32 (`bafy…`, `bafk…`) or CIDv0 (`Qm…`) text.
    pub fn parse(text: &str) -> Result<Self, CidError> {
        parse_text(text).map_err(|reason| text_error(text, reason))
    }

    /// Parses a binary CID: CIDv1, or CIDv0 (the bare 34-byte multihash).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CidError> {
        parse_binary(bytes).map_err(|reason| binary_error(bytes, reason))
    }

    /// The multicodec of the content (e.g. [`DAG_PB_CODEC`], [`RAW_CODEC`]).
    pub const fn codec(&self) -> u64 {
        self.codec
    }

    /// The SHA-256 digest of the content's block.
    pub const fn digest(&self) -> &[u8; 32] {
        &self.digest
    }
}

/// A dag-pb, sha2-256 CID: a file as `ipfs add` stores it. `Display` prints the CIDv1
/// base32 text (`bafybei…`, 59 characters).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cid {
    digest: [u8; 32],
}

impl Cid {
    /// The CID of a dag-pb block whose SHA-256 is `digest`.
    pub const fn from_sha256_digest(digest: [u8; 32]) -> Self {
        Cid { digest }
    }

    /// The SHA-256 digest of the block.
    pub const fn digest(&self) -> &[u8; 32] {
        &self.digest
    }

    /// Parses CIDv1 base32 (`bafybei…`) or CIDv0 (`Qm…`) text of a dag-pb CID.
    pub fn parse(text: &str) -> Result<Self, CidError> {
        parse_text(text)
            .and_then(Cid::try_from)
            .map_err(|reason| text_error(text, reason))
    }

    /// Parses a binary dag-pb CID: CIDv1 (36 bytes) or CIDv0 (the 34-byte multihash).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CidError> {
        parse_binary(bytes)
            .and_then(Cid::try_from)
            .map_err(|reason| binary_error(bytes, reason))
    }

    /// The multihash `12 20 <digest>`; also the binary CIDv0 and what dag-pb links hold.
    pub fn multihash_bytes(&self) -> [u8; 34] {
        let mut out = [0u8; 34];
        let bytes = [SHA2_256_CODE, SHA2_256_LEN].iter().chain(&self.digest);
        out.iter_mut().zip(bytes).for_each(|(o, b)| *o = *b);
        out
    }

    /// The binary CIDv1 `01 70 12 20 <digest>`.
    pub fn to_bytes(&self) -> [u8; 36] {
        let mut out = [0u8; 36];
        // DAG_PB_CODEC is below 0x80: its varint is the one byte 0x70.
        let prefix = [0x01, DAG_PB_CODEC as u8, SHA2_256_CODE, SHA2_256_LEN];
        let bytes = prefix.iter().chain(&self.digest);
        out.iter_mut().zip(bytes).for_each(|(o, b)| *o = *b);
        out
    }

    /// CIDv1 text: `b` + base32 lower case (`bafybei…`, 59 characters).
    pub fn to_v1_string(&self) -> String {
        let body = data_encoding::BASE32_NOPAD.encode(&self.to_bytes());
        format!("b{}", body.to_ascii_lowercase())
    }

    /// CIDv0 text: base58btc of the multihash (`Qm…`, 46 characters), as `ipfs add` prints.
    pub fn to_v0_string(&self) -> String {
        bs58::encode(self.multihash_bytes()).into_string()
    }
}

impl TryFrom<AnyCid> for Cid {
    type Error = CidReason;

    fn try_from(any: AnyCid) -> Result<Self, CidReason> {
        match any.codec {
            DAG_PB_CODEC => Ok(Cid::from_sha256_digest(any.digest)),
            codec => Err(CidReason::NotDagPb { codec }),
        }
    }
}

impl From<Cid> for AnyCid {
    fn from(cid: Cid) -> Self {
        AnyCid {
            codec: DAG_PB_CODEC,
            digest: cid.digest,
        }
    }
}

impl FromStr for Cid {
    type Err = CidError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Cid::parse(text)
    }
}

impl fmt::Display for Cid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_v1_string())
    }
}

impl fmt::Debug for Cid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cid({})", self.to_v1_string())
    }
}

crate::serde_via_string!(Cid);

fn parse_text(text: &str) -> Result<AnyCid, CidReason> {
    if text.len() > MAX_CID_TEXT_BYTES {
        return Err(CidReason::TooLong);
    }
    if text.starts_with("Qm") {
        if text.len() != CIDV0_CHARS {
            return Err(CidReason::CidV0Length);
        }
        let bytes = bs58::decode(text)
            .into_vec()
            .map_err(|_| CidReason::NotBase58)?;
        return parse_binary(&bytes);
    }
    let body = text.strip_prefix('b').ok_or(CidReason::UnknownBase)?;
    if !body
        .bytes()
        .all(|c| c.is_ascii_lowercase() || (b'2'..=b'7').contains(&c))
    {
        return Err(CidReason::NotBase32);
    }
    // BASE32_NOPAD refuses a spare symbol and non-zero tail bits: one text per CID.
    let bytes = data_encoding::BASE32_NOPAD
        .decode(body.to_ascii_uppercase().as_bytes())
        .map_err(|_| CidReason::NotBase32)?;
    if bytes.first() != Some(&0x01) {
        return Err(CidReason::NotVersion1);
    }
    parse_binary(&bytes)
}

/// CIDv0 (a multihash, which starts with its code 0x12) or CIDv1 (starts with 0x01).
fn parse_binary(bytes: &[u8]) -> Result<AnyCid, CidReason> {
    let (codec, multihash) = match bytes.first() {
        Some(&SHA2_256_CODE) => (DAG_PB_CODEC, bytes),
        Some(0x01) => varint(bytes.get(1..).unwrap_or_default())?,
        _ => return Err(CidReason::NotVersion1),
    };
    let (code, rest) = varint(multihash)?;
    let (len, digest) = varint(rest)?;
    if (code, len) != (u64::from(SHA2_256_CODE), u64::from(SHA2_256_LEN)) {
        return Err(CidReason::NotSha256 { code, len });
    }
    let digest = digest
        .try_into()
        .map_err(|_| CidReason::DigestLength { len: digest.len() })?;
    Ok(AnyCid { codec, digest })
}

/// An unsigned LEB128 varint (multiformats rules: at most 9 bytes, minimal) and the
/// bytes after it.
fn varint(bytes: &[u8]) -> Result<(u64, &[u8]), CidReason> {
    let mut value: u64 = 0;
    let mut shift: u32 = 0;
    for (i, &byte) in bytes.iter().enumerate().take(MAX_VARINT_BYTES) {
        let low = u64::from(byte & 0x7f)
            .checked_shl(shift)
            .ok_or(CidReason::BadVarint)?;
        value |= low;
        if byte & 0x80 == 0 {
            if byte == 0 && i > 0 {
                return Err(CidReason::BadVarint);
            }
            let rest = bytes.get(i.saturating_add(1)..).unwrap_or_default();
            return Ok((value, rest));
        }
        shift = shift.checked_add(7).ok_or(CidReason::BadVarint)?;
    }
    Err(CidReason::BadVarint)
}

fn text_error(text: &str, reason: CidReason) -> CidError {
    CidError {
        input: text.chars().take(MAX_CID_TEXT_BYTES).collect(),
        reason,
    }
}

/// At most 16 bytes of hex, for error messages about binary input.
fn binary_error(bytes: &[u8], reason: CidReason) -> CidError {
    let shown = hex::encode(bytes.get(..16).unwrap_or(bytes));
    let more = if bytes.len() > 16 { "…" } else { "" };
    CidError {
        input: format!("0x{shown}{more}"),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_are_minimal_and_bounded() {
        assert_eq!(varint(&[0x01, 9]), Ok((1, &[9u8][..])));
        assert_eq!(varint(&[0x80, 0x01]), Ok((128, &[][..])));
        assert!(varint(&[0x81, 0x00]).is_err());
        assert!(varint(&[0xff; 10]).is_err());
        assert!(varint(&[]).is_err());
    }
}
