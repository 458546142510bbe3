//! [`DoubleSign`]: proof that a validator signed two different proposals in one consensus
//! round, in the exact form the consensus engine (Commonware simplex, ed25519 scheme)
//! signs votes, so anyone can check it with the chain id alone.
//!
//! A simplex vote signs `proposal` bytes = `varint(epoch) ‖ varint(view) ‖
//! varint(parent view) ‖ payload (32 bytes)` under the namespace `chain id ‖ "_NOTARIZE"`
//! (or `"_FINALIZE"`). `tessera-consensus` builds this type from the engine's own fault
//! reports and tests that real equivocations verify here, so a change of the engine's
//! format fails a test instead of silently voiding evidence.
//!
//! # Invariants
//! * [`DoubleSign::verify`] accepts only two valid signatures by `validator`, of the same
//!   kind, over two different well-formed proposals of the same round (epoch and view).
//! * decoding is bounded: proposals of at most [`MAX_PROPOSAL_BYTES`] bytes.

use crate::{
    codec::{read_short_bytes, write_short_bytes},
    keys::public_key_of,
    Address, ChainId, Signature,
};
use bytes::BufMut;
use commonware_codec::{
    varint::UInt, Buf, Copying, EncodeSize, Error as CodecError, FixedSize, Read, ReadExt, Write,
};
use commonware_cryptography::Verifier as _;

/// Namespace suffix of notarize votes.
pub const NOTARIZE_SUFFIX: &[u8] = b"_NOTARIZE";
/// Namespace suffix of finalize votes.
pub const FINALIZE_SUFFIX: &[u8] = b"_FINALIZE";
/// Largest encoded proposal: three varints (≤ 10 bytes each) and a 32-byte digest.
pub const MAX_PROPOSAL_BYTES: usize = 62;

/// Which vote was signed twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoteKind {
    Notarize,
    Finalize,
}

impl VoteKind {
    fn suffix(self) -> &'static [u8] {
        match self {
            VoteKind::Notarize => NOTARIZE_SUFFIX,
            VoteKind::Finalize => FINALIZE_SUFFIX,
        }
    }

    fn tag(self) -> u8 {
        match self {
            VoteKind::Notarize => 0,
            VoteKind::Finalize => 1,
        }
    }
}

/// One signed vote: the proposal bytes as signed, and the signature.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SignedVote {
    /// The encoded proposal, hex in JSON.
    #[serde(with = "hex_bytes")]
    pub proposal: Vec<u8>,
    /// The ed25519 signature, hex in JSON.
    #[serde(with = "hex_signature")]
    pub signature: Signature,
}

/// Two votes of one kind, by one validator, for different proposals in one round.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DoubleSign {
    pub kind: VoteKind,
    pub validator: Address,
    pub first: SignedVote,
    pub second: SignedVote,
}

/// A proposal as simplex encodes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proposal {
    pub epoch: u64,
    pub view: u64,
    pub parent_view: u64,
    pub payload: [u8; 32],
}

impl Proposal {
    /// Decode the exact bytes of a signed proposal (nothing trailing).
    pub fn decode(bytes: &[u8]) -> Result<Proposal, EvidenceError> {
        if bytes.len() > MAX_PROPOSAL_BYTES {
            return Err(EvidenceError::Malformed("proposal too long"));
        }
        let mut input = Copying(bytes);
        let read = |input: &mut Copying<'_>| {
            UInt::<u64>::read(input)
                .map(u64::from)
                .map_err(|_| EvidenceError::Malformed("proposal"))
        };
        let epoch = read(&mut input)?;
        let view = read(&mut input)?;
        let parent_view = read(&mut input)?;
        let payload =
            <[u8; 32]>::read(&mut input).map_err(|_| EvidenceError::Malformed("payload"))?;
        if !input.0.is_empty() {
            return Err(EvidenceError::Malformed(
                "trailing bytes after the proposal",
            ));
        }
        Ok(Proposal {
            epoch,
            view,
            parent_view,
            payload,
        })
    }

    /// The bytes simplex signs for this proposal.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAX_PROPOSAL_BYTES);
        UInt(self.epoch).write(&mut out);
        UInt(self.view).write(&mut out);
        UInt(self.parent_view).write(&mut out);
        out.put_slice(&self.payload);
        out
    }
}

/// Why evidence was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    #[error("malformed evidence: {0}")]
    Malformed(&'static str),
    #[error("the two votes are for different rounds: not a double sign")]
    DifferentRounds,
    #[error("the two votes are for the same proposal: not a double sign")]
    SameProposal,
    #[error("a signature does not verify for the validator on this chain")]
    BadSignature,
}

impl DoubleSign {
    /// Check the evidence for chain `chain_id`; returns the round (epoch, view) it proves
    /// a double sign in.
    pub fn verify(&self, chain_id: &ChainId) -> Result<(u64, u64), EvidenceError> {
        let first = Proposal::decode(&self.first.proposal)?;
        let second = Proposal::decode(&self.second.proposal)?;
        if (first.epoch, first.view) != (second.epoch, second.view) {
            return Err(EvidenceError::DifferentRounds);
        }
        if first == second {
            return Err(EvidenceError::SameProposal);
        }
        let key = public_key_of(&self.validator)
            .map_err(|_| EvidenceError::Malformed("validator address is not a key"))?;
        let mut namespace = chain_id.as_str().as_bytes().to_vec();
        namespace.extend_from_slice(self.kind.suffix());
        for vote in [&self.first, &self.second] {
            if !key.verify(&namespace, &vote.proposal, &vote.signature) {
                return Err(EvidenceError::BadSignature);
            }
        }
        Ok((first.epoch, first.view))
    }
}

impl Write for DoubleSign {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_u8(self.kind.tag());
        self.validator.write(buf);
        for vote in [&self.first, &self.second] {
            write_short_bytes(&vote.proposal, buf);
            vote.signature.write(buf);
        }
    }
}

impl EncodeSize for DoubleSign {
    fn encode_size(&self) -> usize {
        1 + Address::SIZE
            + [&self.first, &self.second]
                .iter()
                .map(|v| 1 + v.proposal.len().min(255) + Signature::SIZE)
                .sum::<usize>()
    }
}

impl Read for DoubleSign {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let kind = match u8::read(buf)? {
            0 => VoteKind::Notarize,
            1 => VoteKind::Finalize,
            _ => return Err(CodecError::Invalid("DoubleSign", "unknown vote kind")),
        };
        let validator = Address::read(buf)?;
        let vote = |buf: &mut _| -> Result<SignedVote, CodecError> {
            Ok(SignedVote {
                proposal: read_short_bytes(buf, MAX_PROPOSAL_BYTES)?,
                signature: Signature::read(buf)?,
            })
        };
        let first = vote(buf)?;
        let second = vote(buf)?;
        Ok(DoubleSign {
            kind,
            validator,
            first,
            second,
        })
    }
}

mod hex_bytes {
    pub fn serialize<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text: String = serde::Deserialize::deserialize(d)?;
        hex::decode(text).map_err(serde::de::Error::custom)
    }
}

mod hex_signature {
    use crate::Signature;
    use commonware_codec::{DecodeExt as _, Encode as _};

    pub fn serialize<S: serde::Serializer>(sig: &Signature, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(sig.encode()))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Signature, D::Error> {
        let text: String = serde::Deserialize::deserialize(d)?;
        let bytes = hex::decode(text).map_err(serde::de::Error::custom)?;
        Signature::decode(bytes::Bytes::from(bytes))
            .map_err(|e| serde::de::Error::custom(format!("not an ed25519 signature: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Keypair;
    use commonware_codec::{DecodeExt as _, Encode as _};

    fn proposal(view: u64, payload: u8) -> Vec<u8> {
        Proposal {
            epoch: 0,
            view,
            parent_view: view - 1,
            payload: [payload; 32],
        }
        .encode()
    }

    fn vote(key: &Keypair, chain: &str, kind: VoteKind, proposal: Vec<u8>) -> SignedVote {
        let mut namespace = chain.as_bytes().to_vec();
        namespace.extend_from_slice(kind.suffix());
        SignedVote {
            signature: key.sign(&namespace, &proposal),
            proposal,
        }
    }

    fn double_sign(kind: VoteKind, a: Vec<u8>, b: Vec<u8>) -> DoubleSign {
        let key = Keypair::from_seed(3);
        DoubleSign {
            kind,
            validator: key.address(),
            first: vote(&key, "tessera-dev", kind, a),
            second: vote(&key, "tessera-dev", kind, b),
        }
    }

    #[test]
    fn proposals_round_trip_and_refuse_garbage() {
        let bytes = proposal(300, 7);
        let p = Proposal::decode(&bytes).unwrap();
        assert_eq!(
            (p.epoch, p.view, p.parent_view, p.payload),
            (0, 300, 299, [7; 32])
        );
        assert_eq!(p.encode(), bytes);
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(Proposal::decode(&trailing).is_err());
        assert!(Proposal::decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(Proposal::decode(&[0xff; 80]).is_err());
    }

    #[test]
    fn only_a_real_double_sign_verifies() {
        let chain = ChainId::new("tessera-dev").unwrap();
        for kind in [VoteKind::Notarize, VoteKind::Finalize] {
            let good = double_sign(kind, proposal(5, 1), proposal(5, 2));
            assert_eq!(good.verify(&chain), Ok((0, 5)));
            assert_eq!(
                double_sign(kind, proposal(5, 1), proposal(5, 1)).verify(&chain),
                Err(EvidenceError::SameProposal)
            );
            assert_eq!(
                double_sign(kind, proposal(5, 1), proposal(6, 2)).verify(&chain),
                Err(EvidenceError::DifferentRounds)
            );
            // Another chain's votes, another validator, or the other vote kind: no.
            let other_chain = ChainId::new("other").unwrap();
            assert_eq!(good.verify(&other_chain), Err(EvidenceError::BadSignature));
            let mut framed = good.clone();
            framed.validator = Keypair::from_seed(4).address();
            assert_eq!(framed.verify(&chain), Err(EvidenceError::BadSignature));
            let mut relabeled = good.clone();
            relabeled.kind = match kind {
                VoteKind::Notarize => VoteKind::Finalize,
                VoteKind::Finalize => VoteKind::Notarize,
            };
            assert_eq!(relabeled.verify(&chain), Err(EvidenceError::BadSignature));
        }
    }

    #[test]
    fn codec_and_json_round_trip() {
        let evidence = double_sign(VoteKind::Finalize, proposal(9, 1), proposal(9, 2));
        let bytes = evidence.encode();
        assert_eq!(bytes.len(), evidence.encode_size());
        assert_eq!(DoubleSign::decode(bytes).unwrap(), evidence);
        let json = serde_json::to_string(&evidence).unwrap();
        assert_eq!(serde_json::from_str::<DoubleSign>(&json).unwrap(), evidence);
    }
}
