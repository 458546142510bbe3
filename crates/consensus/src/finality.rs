//! Finality proofs for nodes that follow the chain without voting (full nodes).
//!
//! * [`FinalityReader`]: a validator's marshal archive of finalization certificates, read
//!   by height (served over HTTP as `GET /v1/finality/{height}`).
//! * [`FinalityVerifier`]: checks that a block is final — a finalization certificate of
//!   the block's epoch for exactly that block's hash, signed by a quorum (> 2/3) of that
//!   epoch's validator set under the chain's namespace. A follower takes the set from its
//!   own state (which chose it from bonded stake), never from the server it reads from.
//!
//! # Invariants
//! * [`FinalityVerifier::verify`] accepts a certificate only if it decodes completely for
//!   this validator set, names the block's hash as its payload, and its signatures verify.

use crate::{
    application::MarshalMailbox,
    block::{to_digest, Digest},
    epochs::participants,
    ConsensusError,
};
use commonware_codec::{Copying, Encode as _, Read as _};
use commonware_consensus::{
    simplex::{scheme::ed25519, types::Finalization},
    types::Height,
    Epochable as _,
};
use commonware_cryptography::{certificate::Verifier as _, ed25519::PublicKey};
use commonware_parallel::Sequential;
use commonware_utils::ordered::Set;
use tessera_state::staking::epochs::ValidatorSet;
use tessera_types::Block;

type Certificate = Finalization<ed25519::Scheme, Digest>;

/// Reads finalization certificates from a running node's marshal.
#[derive(Clone)]
pub struct FinalityReader {
    pub(crate) mailbox: MarshalMailbox,
}

impl FinalityReader {
    /// The encoded finalization certificate of the block at `height`, if this node holds
    /// one (marshal keeps one per finalized height).
    pub async fn finalization(&self, height: u64) -> Option<Vec<u8>> {
        let certificate = self.mailbox.get_finalization(Height::new(height)).await?;
        Some(certificate.encode().to_vec())
    }
}

/// Checks finalization certificates of one epoch against its validator set.
pub struct FinalityVerifier {
    epoch: u64,
    scheme: ed25519::Scheme,
}

impl FinalityVerifier {
    /// A verifier for `validators`, the set of `epoch`, signing under `namespace` (the
    /// chain id's bytes).
    pub fn new(
        namespace: &[u8],
        epoch: u64,
        validators: Vec<PublicKey>,
    ) -> Result<Self, ConsensusError> {
        if validators.is_empty() {
            return Err(ConsensusError::Config("the validator set is empty".into()));
        }
        let participants = Set::from_iter_dedup(validators);
        Ok(FinalityVerifier {
            epoch,
            scheme: ed25519::Scheme::verifier(namespace, participants),
        })
    }

    /// A verifier for a set the chain's state chose.
    pub fn for_set(namespace: &[u8], set: &ValidatorSet) -> Result<Self, ConsensusError> {
        let keys = participants(set).into_iter().collect();
        FinalityVerifier::new(namespace, set.epoch, keys)
    }

    /// The epoch whose certificates this verifier checks.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Whether `certificate` proves `block` final.
    pub fn verify(&self, block: &Block, certificate: &[u8]) -> Result<(), ConsensusError> {
        let invalid = |why: &str| ConsensusError::InvalidFinality {
            height: block.header.height,
            reason: why.to_string(),
        };
        let mut input = Copying(certificate);
        let decoded = Certificate::read_cfg(&mut input, &self.scheme.certificate_codec_config())
            .map_err(|e| invalid(&format!("undecodable certificate: {e}")))?;
        if !input.0.is_empty() {
            return Err(invalid("trailing bytes after the certificate"));
        }
        if decoded.epoch().get() != self.epoch {
            return Err(invalid(&format!(
                "the certificate is of epoch {}, the block's validator set of epoch {}",
                decoded.epoch(),
                self.epoch
            )));
        }
        if decoded.proposal.payload != to_digest(block.hash()) {
            return Err(invalid("the certificate finalizes a different block"));
        }
        if !decoded.verify(&mut rand::rng(), &self.scheme, &Sequential) {
            return Err(invalid(
                "the certificate's signatures do not verify for this validator set",
            ));
        }
        Ok(())
    }
}
