//! State proofs and the one verifier every light client calls.
//!
//! A [StateProof] is either an inclusion proof (the key's current value plus a QMDB
//! key-value proof) or an absence proof (a QMDB exclusion proof: the active span of the
//! ordered key space that contains the key's hash, or the empty-database commit).
//!
//! Wire format (commonware-codec, canonical, bounded):
//! `0x00 || value (length-prefixed) || key-value proof` or `0x01 || exclusion proof`.

use super::entry::{encode_entry, qmdb_key, value_cfg, MAX_ENTRY_BYTES};
use crate::{ProofError, MAX_KEY_BYTES, MAX_VALUE_BYTES};
use bytes::BufMut;
use commonware_codec::{
    Buf, Copying, Decode as _, Encode as _, EncodeSize, RangeCfg, Read, ReadExt as _, Write,
};
use commonware_cryptography::{sha256::Digest, Sha256};
use commonware_storage::{
    mmr,
    qmdb::{any::value::VariableEncoding, current::ordered::proof},
};

/// Bytes per activity-bitmap chunk (the QMDB `N` parameter; one digest, the optimal size).
pub(crate) const CHUNK_BYTES: usize = 32;

/// The most digests a decoded proof may carry. A single-operation proof needs at most one
/// sibling per tree level plus one digest per peak, well under this for any `u64` size.
pub const MAX_PROOF_DIGESTS: usize = 256;

/// Largest encoded [StateProof]: an absence proof carrying a neighbour's largest entry.
pub const MAX_PROOF_BYTES: usize = MAX_ENTRY_BYTES * 2 + (MAX_PROOF_DIGESTS + 8) * 32 + 64;

const INCLUSION_TAG: u8 = 0;
const ABSENCE_TAG: u8 = 1;

type Family = mmr::Family;
type StoredEncoding = VariableEncoding<Vec<u8>>;
pub(crate) type InclusionProof = proof::KeyValueProof<Family, Digest, Digest, [u8; CHUNK_BYTES]>;
pub(crate) type AbsenceProof =
    proof::ExclusionProof<Family, Digest, StoredEncoding, Digest, [u8; CHUNK_BYTES]>;

/// A proof about one logical key against a state root. Verify it with [verify_proof].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateProof(Kind);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Inclusion {
        value: Vec<u8>,
        proof: Box<InclusionProof>,
    },
    Absence(Box<AbsenceProof>),
}

impl StateProof {
    pub(crate) fn inclusion(value: Vec<u8>, proof: InclusionProof) -> Self {
        Self(Kind::Inclusion {
            value,
            proof: Box::new(proof),
        })
    }

    pub(crate) fn absence(proof: AbsenceProof) -> Self {
        Self(Kind::Absence(Box::new(proof)))
    }

    /// Whether this claims inclusion. Unverified: call [verify_proof] before trusting it.
    pub fn is_inclusion(&self) -> bool {
        matches!(self.0, Kind::Inclusion { .. })
    }

    /// The value this proof claims the key has. Unverified: call [verify_proof] before
    /// trusting it.
    pub fn claimed_value(&self) -> Option<&[u8]> {
        match &self.0 {
            Kind::Inclusion { value, .. } => Some(value),
            Kind::Absence(_) => None,
        }
    }

    /// The canonical encoding (for transport, e.g. as hex in JSON).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.encode().to_vec()
    }

    /// Decode a proof, rejecting non-canonical, oversized or trailing input.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProofError> {
        if bytes.len() > MAX_PROOF_BYTES {
            return Err(ProofError::Malformed(format!(
                "{} bytes exceeds the {MAX_PROOF_BYTES}-byte limit",
                bytes.len()
            )));
        }
        Self::decode_cfg(Copying(bytes), &()).map_err(|e| ProofError::Malformed(e.to_string()))
    }
}

/// Verify `proof` for logical `key` against state `root`.
///
/// Returns `Ok(Some(value))` for a valid inclusion proof, `Ok(None)` for a valid absence
/// proof, and [ProofError::Invalid] if the proof does not authenticate this key under
/// this root. Pure: no I/O, no clock.
pub fn verify_proof(
    root: &[u8; 32],
    key: &[u8],
    proof: &StateProof,
) -> Result<Option<Vec<u8>>, ProofError> {
    if key.len() > MAX_KEY_BYTES {
        return Err(ProofError::KeyTooLong {
            len: key.len(),
            max: MAX_KEY_BYTES,
        });
    }
    let root = Digest(*root);
    let hashed = qmdb_key(key);
    match &proof.0 {
        Kind::Inclusion { value, proof } => {
            let stored = encode_entry(key, value);
            let ok = proof.verify::<Sha256, StoredEncoding>(hashed, stored, &root);
            ok.then(|| Some(value.clone())).ok_or(ProofError::Invalid)
        }
        Kind::Absence(proof) => proof
            .verify::<Sha256>(&hashed, &root)
            .then_some(None)
            .ok_or(ProofError::Invalid),
    }
}

impl Write for StateProof {
    fn write(&self, buf: &mut impl BufMut) {
        match &self.0 {
            Kind::Inclusion { value, proof } => {
                INCLUSION_TAG.write(buf);
                value.write(buf);
                proof.write(buf);
            }
            Kind::Absence(proof) => {
                ABSENCE_TAG.write(buf);
                proof.write(buf);
            }
        }
    }
}

impl EncodeSize for StateProof {
    // Arithmetic safety: a sum of a few lengths of values held in memory cannot overflow.
    #[allow(clippy::arithmetic_side_effects)]
    fn encode_size(&self) -> usize {
        1 + match &self.0 {
            Kind::Inclusion { value, proof } => value.encode_size() + proof.encode_size(),
            Kind::Absence(proof) => proof.encode_size(),
        }
    }
}

impl Read for StateProof {
    type Cfg = ();

    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, commonware_codec::Error> {
        match u8::read(buf)? {
            INCLUSION_TAG => {
                let value_range: RangeCfg<usize> = (..=MAX_VALUE_BYTES).into();
                let value = Vec::<u8>::read_cfg(buf, &(value_range, ()))?;
                let proof = InclusionProof::read_cfg(buf, &(MAX_PROOF_DIGESTS, ()))?;
                Ok(Self::inclusion(value, proof))
            }
            ABSENCE_TAG => {
                let cfg = (MAX_PROOF_DIGESTS, ((), value_cfg()), value_cfg());
                Ok(Self::absence(AbsenceProof::read_cfg(buf, &cfg)?))
            }
            tag => Err(commonware_codec::Error::InvalidEnum(tag)),
        }
    }
}
