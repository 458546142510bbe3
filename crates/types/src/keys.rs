//! ed25519 keys from `commonware-cryptography` (ZIP-215 rules: batch verification
//! agrees with single verification on every signature, so nodes cannot disagree).

use crate::{Address, TypesError};
use commonware_codec::{DecodeExt, Encode};
pub use commonware_cryptography::ed25519::{PrivateKey, PublicKey, Signature};
use commonware_cryptography::Signer;
use commonware_math::algebra::Random;

/// A private key with its public half.
#[derive(Clone)]
pub struct Keypair {
    private: PrivateKey,
    public: PublicKey,
}

impl Keypair {
    /// A new key from the operating system's random source.
    pub fn generate() -> Keypair {
        Keypair::from_private(PrivateKey::random(rand::rng()))
    }

    /// A deterministic key for tests and the dev chain's funded accounts.
    /// Never use it for real funds.
    pub fn from_seed(seed: u64) -> Keypair {
        Keypair::from_private(<PrivateKey as Signer>::from_seed(seed))
    }

    pub fn from_private(private: PrivateKey) -> Keypair {
        let public = private.public_key();
        Keypair { private, public }
    }

    /// The 32-byte secret seed, for the encrypted keystore.
    pub fn secret_bytes(&self) -> Vec<u8> {
        self.private.encode().to_vec()
    }

    pub fn from_secret_bytes(bytes: &[u8]) -> Result<Keypair, TypesError> {
        let private = PrivateKey::decode(bytes.to_vec())
            .map_err(|e| TypesError::InvalidKey(format!("secret key: {e}")))?;
        Ok(Keypair::from_private(private))
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    pub fn address(&self) -> Address {
        Address::from_public_key(&self.public)
    }

    /// Sign `msg` under `namespace` (domain separation is part of the signature).
    pub fn sign(&self, namespace: &[u8], msg: &[u8]) -> Signature {
        self.private.sign(namespace, msg)
    }
}

impl std::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keypair({})", self.address())
    }
}

/// Recover the public key behind an address (fails for bytes that are not a curve point).
pub fn public_key_of(address: &Address) -> Result<PublicKey, TypesError> {
    PublicKey::decode(address.0.to_vec())
        .map_err(|e| TypesError::InvalidKey(format!("address is not an ed25519 key: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_round_trip_and_seeds_are_stable() {
        let key = Keypair::from_seed(3);
        let again = Keypair::from_secret_bytes(&key.secret_bytes()).unwrap();
        assert_eq!(again.address(), key.address());
        assert_eq!(Keypair::from_seed(3).address(), key.address());
        assert_ne!(Keypair::generate().address(), Keypair::generate().address());
        assert_eq!(public_key_of(&key.address()).unwrap(), *key.public_key());
    }
}
