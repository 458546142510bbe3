//! Small helpers over `commonware-codec` for Tessera's canonical encoding.
//!
//! Every decode of untrusted bytes goes through [`decode_bounded`], which checks the
//! size limit before parsing and rejects trailing bytes.

use crate::TypesError;
use bytes::BufMut;
use commonware_codec::{Buf, Decode, Error as CodecError, Read, ReadExt, Write};

/// Decode `bytes` as `T`, refusing inputs over `max_bytes` and any trailing bytes.
pub fn decode_bounded<T: Decode>(
    what: &'static str,
    bytes: &[u8],
    max_bytes: usize,
    cfg: &T::Cfg,
) -> Result<T, TypesError> {
    if bytes.len() > max_bytes {
        return Err(TypesError::TooLarge {
            what,
            size: bytes.len(),
            max: max_bytes,
        });
    }
    T::decode_cfg(bytes.to_vec(), cfg).map_err(|e| TypesError::Decode {
        what,
        reason: e.to_string(),
    })
}

/// Write a byte string with a one-byte length prefix (callers keep it under 256 bytes).
pub fn write_short_bytes(bytes: &[u8], buf: &mut impl BufMut) {
    let len = u8::try_from(bytes.len()).unwrap_or(u8::MAX);
    buf.put_u8(len);
    buf.put_slice(bytes.get(..usize::from(len)).unwrap_or(bytes));
}

/// Read a byte string written by [`write_short_bytes`], at most `max` bytes long.
pub fn read_short_bytes(buf: &mut impl Buf, max: usize) -> Result<Vec<u8>, CodecError> {
    let len = usize::from(u8::read(buf)?);
    if len > max {
        return Err(CodecError::Invalid("bytes", "longer than allowed"));
    }
    if buf.remaining() < len {
        return Err(CodecError::EndOfBuffer);
    }
    let mut out = vec![0u8; len];
    buf.copy_to_slice(&mut out);
    Ok(out)
}

/// Write a UTF-8 string with a u16 length prefix (callers keep it under 64 KiB).
pub fn write_string(text: &str, buf: &mut impl BufMut) {
    let bytes = text.as_bytes();
    let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    buf.put_u16(len);
    buf.put_slice(bytes.get(..usize::from(len)).unwrap_or(bytes));
}

/// Read a string written by [`write_string`], at most `max` bytes long.
pub fn read_string(buf: &mut impl Buf, max: usize) -> Result<String, CodecError> {
    let len = usize::from(u16::read(buf)?);
    if len > max {
        return Err(CodecError::Invalid("string", "longer than allowed"));
    }
    if buf.remaining() < len {
        return Err(CodecError::EndOfBuffer);
    }
    let mut out = vec![0u8; len];
    buf.copy_to_slice(&mut out);
    String::from_utf8(out).map_err(|_| CodecError::Invalid("string", "not UTF-8"))
}

/// Encoded size of a string written by [`write_string`].
pub fn string_size(text: &str) -> usize {
    2usize.saturating_add(text.len().min(usize::from(u16::MAX)))
}

/// Write a list with a u32 count prefix.
pub fn write_list<T: Write>(items: &[T], buf: &mut impl BufMut) {
    buf.put_u32(u32::try_from(items.len()).unwrap_or(u32::MAX));
    for item in items {
        item.write(buf);
    }
}

/// Read a list written by [`write_list`], at most `max` items.
pub fn read_list<T: Read>(
    buf: &mut impl Buf,
    max: usize,
    cfg: &T::Cfg,
) -> Result<Vec<T>, CodecError> {
    let count = usize::try_from(u32::read(buf)?).map_err(|_| CodecError::InvalidUsize)?;
    if count > max {
        return Err(CodecError::Invalid("list", "more items than allowed"));
    }
    let mut items = Vec::with_capacity(count.min(buf.remaining()));
    for _ in 0..count {
        items.push(T::read_cfg(buf, cfg)?);
    }
    Ok(items)
}
