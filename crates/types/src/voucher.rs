//! Payment-channel vouchers: the payer's signed promise that the provider may claim up to
//! a cumulative amount from one lane of one channel. One [`Voucher::verify`] for the
//! chain, the provider and the gateway alike.
//!
//! Signed bytes (also in `docs/api.md`, for clients in other languages): plain ed25519
//! (RFC 8032) over
//!
//! ```text
//! 0x12 ‖ "tessera/voucher/v1" ‖ len(chain_id): u8 ‖ chain_id ‖ channel: 32 bytes
//!      ‖ lane: u32 big-endian ‖ cumulative: u128 big-endian (base units)
//! ```
//!
//! (`0x12` is the namespace's length, 18, as commonware's namespaced signing writes it.)
//!
//! Invariants:
//! * A voucher verifies only for the chain id, channel, lane, amount and signer it was
//!   signed with: changing any of them, or the signature, fails with a typed error.
//! * Lanes are independent: a voucher on one lane says nothing about another; on one
//!   lane only the newest (largest cumulative amount) counts, so amounts only grow.

use crate::{Address, Amount, ChainId, Hash, Keypair, PublicKey, Signature};
use commonware_cryptography::Verifier as _;

/// Domain of voucher signatures: no transaction or vote signature is ever a voucher's.
pub const VOUCHER_NAMESPACE: &[u8] = b"tessera/voucher/v1";

/// The lanes a channel has: calls on different lanes never wait on each other.
pub const MAX_LANES: u32 = 1_024;

/// A signed promise: `signer` lets the channel's provider claim up to `cumulative` from
/// lane `lane` of channel `channel` on chain `chain_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Voucher {
    pub chain_id: ChainId,
    pub channel: Hash,
    pub lane: u32,
    pub cumulative: Amount,
    pub signature: Signature,
}

/// Why a voucher is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoucherError {
    #[error("voucher is for chain {found}, this is {expected}: sign it for this chain")]
    WrongChain { expected: ChainId, found: ChainId },
    #[error("voucher is for channel {found}, not {expected}")]
    WrongChannel { expected: Hash, found: Hash },
    #[error("lane {lane} does not exist: lanes are 0 to {}", MAX_LANES - 1)]
    NoSuchLane { lane: u32 },
    #[error(
        "voucher signature does not verify for payer {payer}: sign with the channel's payer key"
    )]
    BadSignature { payer: Address },
}

impl Voucher {
    /// The bytes the payer signs (without the namespace prefix): see the module docs.
    pub fn message(chain_id: &ChainId, channel: &Hash, lane: u32, cumulative: Amount) -> Vec<u8> {
        let id = chain_id.as_str().as_bytes();
        let mut out = Vec::with_capacity(1 + id.len() + 32 + 4 + 16);
        out.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(id);
        out.extend_from_slice(&channel.0);
        out.extend_from_slice(&lane.to_be_bytes());
        out.extend_from_slice(&cumulative.base().to_be_bytes());
        out
    }

    /// `payer` signs a voucher for `cumulative` on `lane` of `channel`.
    pub fn sign(
        payer: &Keypair,
        chain_id: &ChainId,
        channel: Hash,
        lane: u32,
        cumulative: Amount,
    ) -> Voucher {
        let message = Voucher::message(chain_id, &channel, lane, cumulative);
        Voucher {
            chain_id: chain_id.clone(),
            channel,
            lane,
            cumulative,
            signature: payer.sign(VOUCHER_NAMESPACE, &message),
        }
    }

    /// Check the voucher is for `chain_id` and `channel`, on an existing lane, and signed
    /// by `payer`. Amounts against the deposit and earlier vouchers are the caller's rule
    /// (the chain's channel state, the provider's lane ledger).
    pub fn verify(
        &self,
        chain_id: &ChainId,
        channel: &Hash,
        payer: &PublicKey,
    ) -> Result<(), VoucherError> {
        if &self.chain_id != chain_id {
            return Err(VoucherError::WrongChain {
                expected: chain_id.clone(),
                found: self.chain_id.clone(),
            });
        }
        if &self.channel != channel {
            return Err(VoucherError::WrongChannel {
                expected: *channel,
                found: self.channel,
            });
        }
        if self.lane >= MAX_LANES {
            return Err(VoucherError::NoSuchLane { lane: self.lane });
        }
        let message = Voucher::message(&self.chain_id, &self.channel, self.lane, self.cumulative);
        if !payer.verify(VOUCHER_NAMESPACE, &message, &self.signature) {
            return Err(VoucherError::BadSignature {
                payer: Address::from_public_key(payer),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain() -> ChainId {
        ChainId::new("tessera-test").unwrap()
    }

    #[test]
    fn a_voucher_verifies_only_for_what_it_was_signed_for() {
        let payer = Keypair::from_seed(1);
        let channel = Hash([7; 32]);
        let voucher = Voucher::sign(&payer, &chain(), channel, 3, Amount::from_base(500));
        assert_eq!(
            voucher.verify(&chain(), &channel, payer.public_key()),
            Ok(())
        );

        let other_chain = ChainId::new("tessera-other").unwrap();
        assert!(matches!(
            voucher.verify(&other_chain, &channel, payer.public_key()),
            Err(VoucherError::WrongChain { .. })
        ));
        assert!(matches!(
            voucher.verify(&chain(), &Hash([8; 32]), payer.public_key()),
            Err(VoucherError::WrongChannel { .. })
        ));
        let stranger = Keypair::from_seed(2);
        assert!(matches!(
            voucher.verify(&chain(), &channel, stranger.public_key()),
            Err(VoucherError::BadSignature { .. })
        ));
        // Any field changed after signing breaks the signature.
        for tampered in [
            Voucher {
                lane: 4,
                ..voucher.clone()
            },
            Voucher {
                cumulative: Amount::from_base(501),
                ..voucher.clone()
            },
        ] {
            assert!(matches!(
                tampered.verify(&chain(), &channel, payer.public_key()),
                Err(VoucherError::BadSignature { .. })
            ));
        }
        let far = Voucher::sign(&payer, &chain(), channel, MAX_LANES, Amount::from_base(1));
        assert!(matches!(
            far.verify(&chain(), &channel, payer.public_key()),
            Err(VoucherError::NoSuchLane { .. })
        ));
    }

    /// The documented bytes: the message layout, and the namespace prefix commonware's
    /// ed25519 signs in front of it (its `union_unique`), which is what a client in
    /// another language hands to a plain RFC 8032 signer.
    #[test]
    fn the_signed_bytes_are_the_documented_ones() {
        let message = Voucher::message(&chain(), &Hash([0xab; 32]), 1, Amount::from_base(0x0102));
        let mut expected = vec![12u8];
        expected.extend_from_slice(b"tessera-test");
        expected.extend_from_slice(&[0xab; 32]);
        expected.extend_from_slice(&[0, 0, 0, 1]);
        expected.extend_from_slice(&[0; 14]);
        expected.extend_from_slice(&[1, 2]);
        assert_eq!(message, expected);
        let mut signed = vec![18u8];
        signed.extend_from_slice(VOUCHER_NAMESPACE);
        signed.extend_from_slice(&message);
        assert_eq!(
            commonware_utils::union_unique(VOUCHER_NAMESPACE, &message),
            signed
        );
    }
}
