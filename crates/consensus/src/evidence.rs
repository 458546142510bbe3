//! [`EvidenceLog`]: verified proofs of validator faults that simplex observed — two
//! different notarize votes, or two different finalize votes, in one view, or a nullify and
//! a finalize in one view — kept for slashing.
//!
//! Each piece of evidence is two signatures by one validator that no honest validator
//! produces; it is verified against the validator set before it is kept (simplex reports
//! peer activity unverified). Slashing itself is not here yet: a later step turns entries
//! into transactions or block contents that `tessera-state` checks and punishes.
//!
//! # Invariants
//! * every entry's `activity.verify(...)` held for the validator set when it was added.
//! * at most [`MAX_EVIDENCE`] entries are kept (oldest dropped first).

use crate::block::Digest;
use commonware_actor::Feedback;
use commonware_consensus::{
    simplex::{
        scheme::ed25519,
        types::{Activity, Attributable as _},
    },
    types::View,
    Reporter, Viewable as _,
};
use commonware_cryptography::{certificate::Scheme as _, ed25519::PublicKey};
use commonware_parallel::Sequential;
use commonware_utils::ordered::Quorum as _;
use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};
use tracing::warn;

/// Most pieces of evidence kept.
pub const MAX_EVIDENCE: usize = 1_024;

/// The kind of fault a piece of evidence proves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Two notarize votes for different proposals in one view.
    ConflictingNotarize,
    /// Two finalize votes for different proposals in one view.
    ConflictingFinalize,
    /// A nullify and a finalize vote in one view.
    NullifyFinalize,
}

/// One verified fault.
#[derive(Clone, Debug)]
pub struct Evidence {
    pub offender: PublicKey,
    pub view: View,
    pub fault: Fault,
    /// The signed votes (encodable, for gossip or inclusion in a block).
    pub activity: Activity<ed25519::Scheme, Digest>,
}

/// Simplex reporter that keeps verified fault evidence; clones share one log.
pub struct EvidenceLog<R> {
    scheme: ed25519::Scheme,
    rng: Arc<Mutex<R>>,
    entries: Arc<Mutex<VecDeque<Evidence>>>,
}

impl<R> Clone for EvidenceLog<R> {
    fn clone(&self) -> Self {
        EvidenceLog {
            scheme: self.scheme.clone(),
            rng: self.rng.clone(),
            entries: self.entries.clone(),
        }
    }
}

impl<R: rand::CryptoRng + Send + 'static> EvidenceLog<R> {
    pub fn new(scheme: ed25519::Scheme, rng: R) -> Self {
        EvidenceLog {
            scheme,
            rng: Arc::new(Mutex::new(rng)),
            entries: Arc::new(Mutex::new(VecDeque::new())),
        }
    }

    /// The evidence gathered so far, oldest first.
    pub fn entries(&self) -> Vec<Evidence> {
        self.entries
            .lock()
            .map(|e| e.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn verified(&self, activity: &Activity<ed25519::Scheme, Digest>) -> bool {
        match self.rng.lock() {
            Ok(mut rng) => activity.verify(&mut *rng, &self.scheme, &Sequential),
            Err(_) => false,
        }
    }
}

impl<R: rand::CryptoRng + Send + 'static> Reporter for EvidenceLog<R> {
    type Activity = Activity<ed25519::Scheme, Digest>;

    fn report(&mut self, activity: Self::Activity) -> Feedback {
        let (signer, view, fault) = match &activity {
            Activity::ConflictingNotarize(c) => (c.signer(), c.view(), Fault::ConflictingNotarize),
            Activity::ConflictingFinalize(c) => (c.signer(), c.view(), Fault::ConflictingFinalize),
            Activity::NullifyFinalize(c) => (c.signer(), c.view(), Fault::NullifyFinalize),
            _ => return Feedback::Ok,
        };
        if !self.verified(&activity) {
            warn!(?fault, %view, "dropped fault evidence that does not verify");
            return Feedback::Ok;
        }
        let Some(offender) = self.scheme.participants().key(signer).cloned() else {
            return Feedback::Ok;
        };
        warn!(%offender, ?fault, %view, "validator fault");
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_EVIDENCE {
                entries.pop_front();
            }
            entries.push_back(Evidence {
                offender,
                view,
                fault,
                activity,
            });
        }
        Feedback::Ok
    }
}
