//! How a logical `(key, value)` pair maps onto QMDB's fixed-size keys and variable values.
//!
//! * QMDB key: `sha256(KEY_DOMAIN || logical_key)`.
//! * QMDB value: the codec encoding of `(logical_key, value)` (each a length-prefixed byte
//!   string), so the whole logical state can be rebuilt from the database alone.
//! * Commit metadata: the block height as 8 big-endian bytes.

use crate::{MAX_KEY_BYTES, MAX_VALUE_BYTES};
use commonware_codec::{Copying, Decode as _, EncodeSize as _, RangeCfg, Write as _};
use commonware_cryptography::{sha256::Digest, Hasher as _, Sha256};

/// Domain separator hashed in front of every logical key.
pub const KEY_DOMAIN: &[u8] = b"tessera/state-key/v1";

/// Upper bound on an encoded `(key, value)` pair: both payloads plus two varint length
/// prefixes (at most 5 bytes each for lengths below 2^32).
pub(crate) const MAX_ENTRY_BYTES: usize = MAX_KEY_BYTES + MAX_VALUE_BYTES + 10;

/// The codec configuration of a stored QMDB value (a length-prefixed byte string).
pub(crate) fn value_cfg() -> (RangeCfg<usize>, ()) {
    ((..=MAX_ENTRY_BYTES).into(), ())
}

/// The 32-byte QMDB key of a logical key.
pub fn state_key(logical_key: &[u8]) -> [u8; 32] {
    qmdb_key(logical_key).0
}

/// The QMDB key of a logical key, as the digest type QMDB stores.
pub(crate) fn qmdb_key(logical_key: &[u8]) -> Digest {
    Sha256::hash(&[KEY_DOMAIN, logical_key])
}

/// Encode the stored value for `(logical_key, value)`.
pub(crate) fn encode_entry(logical_key: &[u8], value: &[u8]) -> Vec<u8> {
    let pair = (logical_key, value);
    let mut out = Vec::with_capacity(pair.encode_size());
    pair.write(&mut out);
    out
}

/// Decode a stored value back into `(logical_key, value)`, enforcing the size limits.
pub(crate) fn decode_entry(stored: &[u8]) -> Result<(Vec<u8>, Vec<u8>), commonware_codec::Error> {
    let key_cfg: RangeCfg<usize> = (..=MAX_KEY_BYTES).into();
    let value_cfg: RangeCfg<usize> = (..=MAX_VALUE_BYTES).into();
    <(Vec<u8>, Vec<u8>)>::decode_cfg(Copying(stored), &((key_cfg, ()), (value_cfg, ())))
}

/// Encode a block height as commit metadata.
pub(crate) fn encode_height(height: u64) -> Vec<u8> {
    height.to_be_bytes().to_vec()
}

/// Decode commit metadata into a block height; `None` if it is not exactly 8 bytes.
pub(crate) fn decode_height(metadata: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = metadata.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_round_trips() {
        let stored = encode_entry(b"acct/alice", b"100");
        let (key, value) = decode_entry(&stored).unwrap();
        assert_eq!(key, b"acct/alice");
        assert_eq!(value, b"100");
    }

    #[test]
    fn entry_rejects_trailing_bytes_and_oversize() {
        let mut stored = encode_entry(b"k", b"v");
        stored.push(0);
        assert!(decode_entry(&stored).is_err());
        let big = encode_entry(&[0u8; MAX_KEY_BYTES + 1], b"v");
        assert!(decode_entry(&big).is_err());
    }

    #[test]
    fn max_entry_fits_bound() {
        let stored = encode_entry(&[1u8; MAX_KEY_BYTES], &vec![2u8; MAX_VALUE_BYTES]);
        assert!(stored.len() <= MAX_ENTRY_BYTES);
    }

    #[test]
    fn key_is_domain_separated() {
        assert_ne!(state_key(b"a"), Sha256::hash(&[b"a"]).0);
        assert_eq!(state_key(b"a"), state_key(b"a"));
    }

    #[test]
    fn height_round_trips() {
        assert_eq!(decode_height(&encode_height(42)), Some(42));
        assert_eq!(decode_height(&[0u8; 7]), None);
    }
}
