//! Syntax of a content id (CID) in text form, without a multibase crate:
//! * CIDv1 in lower-case base32 (`b` then `a-z2-7`, no padding): the decoded bytes must
//!   be `varint(1) || varint(codec) || 0x12 0x20 || digest (32 bytes)`, i.e. a sha2-256
//!   multihash (Tessera names all content by sha2-256), with minimal varints and the
//!   base32 tail bits zero (one text per CID).
//! * CIDv0: 46 characters of base58btc starting with `Qm` (a sha2-256 multihash).
//!
//! The codec is not restricted (dag-pb `bafybei…` and raw `bafkrei…` both pass): the
//! blob store checks what it can serve, and verifies content against the CID on fetch.
//! Accepting more later is compatible; accepting less would strand registered models.

use tessera_types::tx::MAX_CID_BYTES;

const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
const BASE58: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
const CIDV0_CHARS: usize = 46;
/// Longest varint the multiformats spec allows (63 bits of value).
const MAX_VARINT_BYTES: usize = 9;
/// Multihash code of sha2-256, and its digest length.
const SHA2_256: (u64, u64) = (0x12, 32);

/// `Ok` if `text` is a well-formed CID; otherwise what is wrong with it.
pub fn check(text: &str) -> Result<(), &'static str> {
    if text.len() > MAX_CID_BYTES {
        return Err("longer than 128 bytes");
    }
    if let Some(body) = text.strip_prefix("Qm") {
        let base58 = body.bytes().all(|c| BASE58.contains(&c));
        return match (text.len() == CIDV0_CHARS, base58) {
            (false, _) => Err("a CIDv0 is exactly 46 characters"),
            (true, false) => Err("a CIDv0 uses only base58btc characters"),
            (true, true) => Ok(()),
        };
    }
    let body = text
        .strip_prefix('b')
        .ok_or("must start with 'b' (CIDv1, base32) or 'Qm' (CIDv0)")?;
    let bytes = base32_decode(body).ok_or("not canonical lower-case base32 (a-z, 2-7)")?;
    let (version, rest) = varint(&bytes)?;
    if version != 1 {
        return Err("CID version is not 1");
    }
    let (_codec, rest) = varint(rest)?;
    let (hash_code, rest) = varint(rest)?;
    let (digest_len, digest) = varint(rest)?;
    if (hash_code, digest_len) != SHA2_256 {
        return Err("the multihash is not sha2-256 with a 32-byte digest");
    }
    if u64::try_from(digest.len()).ok() != Some(digest_len) {
        return Err("the multihash digest is not 32 bytes long");
    }
    Ok(())
}

/// RFC 4648 base32, lower case, no padding. `None` for a character outside the
/// alphabet or a non-canonical tail (non-zero leftover bits, or a whole spare symbol).
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    // Invariant: `acc < 2^bits` and `bits < 8` between symbols, so `acc < 2^13`.
    let mut acc: u16 = 0;
    let mut bits: u32 = 0;
    for c in text.bytes() {
        let symbol = BASE32.iter().position(|&s| s == c)?;
        acc = acc.checked_shl(5)? | u16::try_from(symbol).ok()?;
        bits = bits.checked_add(5)?;
        if bits >= 8 {
            bits = bits.checked_sub(8)?;
            out.push(u8::try_from(acc.checked_shr(bits)?).ok()?);
            acc &= u16::MAX.checked_shr(16u32.checked_sub(bits)?).unwrap_or(0);
        }
    }
    (acc == 0 && bits < 5).then_some(out)
}

/// An unsigned LEB128 varint (multiformats rules: at most 9 bytes, minimal) and the
/// bytes after it.
pub fn varint(bytes: &[u8]) -> Result<(u64, &[u8]), &'static str> {
    let mut value: u64 = 0;
    let mut shift: u32 = 0;
    for (i, &byte) in bytes.iter().enumerate().take(MAX_VARINT_BYTES) {
        let low = u64::from(byte & 0x7f)
            .checked_shl(shift)
            .ok_or("varint too long")?;
        value |= low;
        if byte & 0x80 == 0 {
            if byte == 0 && i > 0 {
                return Err("varint is not minimal");
            }
            let rest = bytes.get(i.saturating_add(1)..).unwrap_or_default();
            return Ok((value, rest));
        }
        shift = shift.checked_add(7).ok_or("varint too long")?;
    }
    Err("truncated or over-long varint")
}
