//! 32-byte sha256 digests with domain separation, and a binary Merkle root.

use crate::TypesError;
use bytes::{Buf, BufMut};
use commonware_codec::{Error as CodecError, FixedSize, Read, Write};
use commonware_cryptography::{Hasher, Sha256};
use std::{fmt, str::FromStr};

/// A sha256 digest: block hashes, transaction ids, state and Merkle roots.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    pub const ZERO: Hash = Hash([0; 32]);

    /// sha256 over `domain || parts...`; every hashed object names its domain so a
    /// digest of one kind can never be mistaken for another.
    pub fn digest(domain: &[u8], parts: &[&[u8]]) -> Hash {
        let mut hasher = Sha256::default();
        hasher.update(domain);
        for part in parts {
            hasher.update(part);
        }
        let (_, digest) = hasher.finalize();
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        Hash(out)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

const LEAF_DOMAIN: &[u8] = b"tessera/merkle/leaf";
const NODE_DOMAIN: &[u8] = b"tessera/merkle/node";
const EMPTY_DOMAIN: &[u8] = b"tessera/merkle/empty";

/// Root of a binary Merkle tree over `leaves` (RFC 6962 shape: leaves and inner nodes
/// hashed under different domains, an odd node is promoted unchanged).
pub fn merkle_root(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return Hash::digest(EMPTY_DOMAIN, &[]);
    }
    let mut level: Vec<Hash> = leaves
        .iter()
        .map(|leaf| Hash::digest(LEAF_DOMAIN, &[&leaf.0]))
        .collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [left, right] => Hash::digest(NODE_DOMAIN, &[&left.0, &right.0]),
                [single] => *single,
                _ => Hash::ZERO, // chunks(2) yields one or two items
            })
            .collect();
    }
    level.first().copied().unwrap_or(Hash::ZERO)
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl FromStr for Hash {
    type Err = TypesError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.strip_prefix("0x").unwrap_or(s);
        let mut out = [0u8; 32];
        hex::decode_to_slice(trimmed, &mut out).map_err(|_| TypesError::InvalidHash {
            input: s.to_string(),
        })?;
        Ok(Hash(out))
    }
}

crate::serde_via_string!(Hash);

impl Write for Hash {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.0);
    }
}

impl Read for Hash {
    type Cfg = ();
    fn read_cfg(buf: &mut impl commonware_codec::Buf, _: &()) -> Result<Self, CodecError> {
        if buf.remaining() < 32 {
            return Err(CodecError::EndOfBuffer);
        }
        let mut out = [0u8; 32];
        buf.copy_to_slice(&mut out);
        Ok(Hash(out))
    }
}

impl FixedSize for Hash {
    const SIZE: usize = 32;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_separate_digests() {
        assert_ne!(Hash::digest(b"a", &[b"x"]), Hash::digest(b"b", &[b"x"]));
        assert_eq!(
            Hash::digest(b"a", &[b"x", b"y"]),
            Hash::digest(b"a", &[b"xy"])
        );
    }

    #[test]
    fn hex_round_trip() {
        let h = Hash::digest(b"t", &[b"1"]);
        assert_eq!(h.to_string().parse::<Hash>().unwrap(), h);
        assert!("zz".parse::<Hash>().is_err());
    }

    #[test]
    fn merkle_root_depends_on_every_leaf_and_order() {
        let leaves: Vec<Hash> = (0u8..5).map(|i| Hash::digest(b"l", &[&[i]])).collect();
        let root = merkle_root(&leaves);
        let mut swapped = leaves.clone();
        swapped.swap(0, 1);
        assert_ne!(root, merkle_root(&swapped));
        assert_ne!(root, merkle_root(&leaves[..4]));
        assert_ne!(merkle_root(&[]), merkle_root(&leaves[..1]));
    }
}
