//! [`Address`]: an account is its ed25519 public key, shown as bech32 `tsr1...`.
//!
//! The address is the full 32-byte key (not a hash of it), so a transaction's signer
//! is its own address and no key registration is needed. See
//! `docs/decisions/0003-keys-and-addresses.md`.

use crate::{PublicKey, TypesError};
use bech32::{Bech32, Hrp};
use bytes::{Buf, BufMut};
use commonware_codec::{Error as CodecError, FixedSize, Read, Write};
use std::{fmt, str::FromStr};

/// The human-readable prefix of every Tessera address.
pub const ADDRESS_PREFIX: &str = "tsr";

/// An account address: the raw bytes of an ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address(pub [u8; 32]);

impl Address {
    pub fn from_public_key(key: &PublicKey) -> Address {
        let mut out = [0u8; 32];
        out.copy_from_slice(key.as_ref());
        Address(out)
    }

    /// A deterministic address for protocol-owned accounts (treasury, module escrows).
    /// Derived from a hash, so no private key for it is known.
    pub fn module(name: &str) -> Address {
        Address(crate::Hash::digest(b"tessera/module-account", &[name.as_bytes()]).0)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl From<&PublicKey> for Address {
    fn from(key: &PublicKey) -> Self {
        Address::from_public_key(key)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hrp = Hrp::parse_unchecked(ADDRESS_PREFIX);
        match bech32::encode::<Bech32>(hrp, &self.0) {
            Ok(text) => f.write_str(&text),
            Err(_) => write!(f, "0x{}", hex::encode(self.0)),
        }
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

impl FromStr for Address {
    type Err = TypesError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: String| TypesError::InvalidAddress {
            input: s.to_string(),
            reason,
        };
        let (hrp, data) = bech32::decode(s.trim()).map_err(|e| bad(e.to_string()))?;
        if hrp.as_str() != ADDRESS_PREFIX {
            return Err(bad(format!(
                "prefix is {:?}, expected \"tsr\"",
                hrp.as_str()
            )));
        }
        let bytes: [u8; 32] = data
            .try_into()
            .map_err(|d: Vec<u8>| bad(format!("{} bytes, expected 32", d.len())))?;
        Ok(Address(bytes))
    }
}

crate::serde_via_string!(Address);

impl Write for Address {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.0);
    }
}

impl Read for Address {
    type Cfg = ();
    fn read_cfg(buf: &mut impl commonware_codec::Buf, _: &()) -> Result<Self, CodecError> {
        if buf.remaining() < 32 {
            return Err(CodecError::EndOfBuffer);
        }
        let mut out = [0u8; 32];
        buf.copy_to_slice(&mut out);
        Ok(Address(out))
    }
}

impl FixedSize for Address {
    const SIZE: usize = 32;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Keypair;

    #[test]
    fn bech32_round_trip() {
        let key = Keypair::from_seed(7);
        let addr = key.address();
        let text = addr.to_string();
        assert!(text.starts_with("tsr1"), "{text}");
        assert_eq!(text.parse::<Address>().unwrap(), addr);
    }

    #[test]
    fn rejects_wrong_prefix_length_and_checksum() {
        let text = Keypair::from_seed(1).address().to_string();
        let mut corrupted = text.clone().into_bytes();
        let last = corrupted.len() - 1;
        corrupted[last] = if corrupted[last] == b'q' { b'p' } else { b'q' };
        assert!(String::from_utf8(corrupted)
            .unwrap()
            .parse::<Address>()
            .is_err());
        let other = bech32::encode::<Bech32>(Hrp::parse("cosmos").unwrap(), &[0u8; 32]).unwrap();
        assert!(other.parse::<Address>().is_err());
        let short = bech32::encode::<Bech32>(Hrp::parse("tsr").unwrap(), &[0u8; 20]).unwrap();
        assert!(short.parse::<Address>().is_err());
    }

    #[test]
    fn module_accounts_are_distinct() {
        assert_ne!(Address::module("treasury"), Address::module("staking"));
    }
}
