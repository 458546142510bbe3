//! [`EvidenceLog`]: verified proofs of validator faults that simplex observed — two
//! different notarize votes, or two different finalize votes, in one view, or a nullify and
//! a finalize in one view — kept for slashing.
//!
//! Each piece of evidence is two signatures by one validator that no honest validator
//! produces; it is verified against the validator set before it is kept (simplex reports
//! peer activity unverified). [`Evidence::double_sign`] turns a conflicting notarize or
//! finalize into the chain's [`DoubleSign`], which `tessera-state` verifies on its own and
//! slashes; [`run_slasher`] submits it from this validator's account.
//!
//! # Invariants
//! * every entry's `activity.verify(...)` held for the validator set when it was added.
//! * at most [`MAX_EVIDENCE`] entries are kept (oldest dropped first).

use crate::{block::Digest, epochs::EpochSchemes};
use commonware_actor::Feedback;
use commonware_codec::{Encode as _, ReadExt as _};
use commonware_consensus::{
    simplex::{
        scheme::ed25519,
        types::{Activity, Attributable as _, Finalize, Notarize},
    },
    types::View,
    Epochable as _, Reporter, Viewable as _,
};
use commonware_cryptography::{certificate::Scheme as _, ed25519::PublicKey};
use commonware_parallel::Sequential;
use commonware_runtime::{Clock, Metrics, Supervisor};
use commonware_utils::ordered::Quorum as _;
use std::{
    collections::{BTreeSet, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};
use tessera_chain::Chain;
use tessera_state::{staking::slashing::slashed_key, StateView as _};
use tessera_store::StoreContext;
use tessera_types::{
    evidence::{SignedVote, VoteKind},
    Address, Amount, Call, DoubleSign, Keypair, Transaction,
};
use tracing::{info, warn};

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

type Scheme = ed25519::Scheme;

/// A vote's proposal bytes and signature, as the chain checks them.
fn signed_vote(
    proposal: &impl commonware_codec::Encode,
    attestation: &commonware_cryptography::certificate::Attestation<Scheme>,
) -> Option<SignedVote> {
    Some(SignedVote {
        proposal: proposal.encode().to_vec(),
        signature: attestation.signature.get()?.clone(),
    })
}

impl Evidence {
    /// The on-chain form of a conflicting notarize or finalize (a nullify-and-finalize is
    /// not slashable on chain yet: `None`).
    pub fn double_sign(&self) -> Option<DoubleSign> {
        let validator = Address::from_public_key(&self.offender);
        let (kind, first, second) = match &self.activity {
            Activity::ConflictingNotarize(c) => {
                let mut bytes = c.encode();
                let a = Notarize::<Scheme, Digest>::read(&mut bytes).ok()?;
                let b = Notarize::<Scheme, Digest>::read(&mut bytes).ok()?;
                (
                    VoteKind::Notarize,
                    signed_vote(&a.proposal, &a.attestation)?,
                    signed_vote(&b.proposal, &b.attestation)?,
                )
            }
            Activity::ConflictingFinalize(c) => {
                let mut bytes = c.encode();
                let a = Finalize::<Scheme, Digest>::read(&mut bytes).ok()?;
                let b = Finalize::<Scheme, Digest>::read(&mut bytes).ok()?;
                (
                    VoteKind::Finalize,
                    signed_vote(&a.proposal, &a.attestation)?,
                    signed_vote(&b.proposal, &b.attestation)?,
                )
            }
            _ => return None,
        };
        Some(DoubleSign {
            kind,
            validator,
            first,
            second,
        })
    }
}

/// How often the slasher looks for new evidence.
const SLASHER_INTERVAL: Duration = Duration::from_secs(1);
/// The fee cap of a report (it pays only the actual fee).
const REPORT_MAX_FEE_BASE: u128 = 1_000_000_000;

/// Submit every double sign the log holds as a `ReportDoubleSign` transaction signed by
/// `reporter` (this validator's own account), once per offender and epoch, skipping
/// validators the chain already slashed for that epoch. Runs until aborted.
pub async fn run_slasher<E, R>(
    runtime: impl Clock,
    chain: Arc<Chain<E>>,
    log: EvidenceLog<R>,
    reporter: Keypair,
) where
    E: StoreContext + Metrics + Supervisor,
    R: rand::CryptoRng + Send + 'static,
{
    let mut reported: BTreeSet<(Address, u64)> = BTreeSet::new();
    loop {
        runtime.sleep(SLASHER_INTERVAL).await;
        for evidence in log.entries() {
            let Some(double_sign) = evidence.double_sign() else {
                continue;
            };
            let Ok((epoch, _)) = double_sign.verify(chain.chain_id()) else {
                warn!("evidence does not verify in the chain's format; not reported");
                continue;
            };
            let who = (double_sign.validator, epoch);
            if reported.contains(&who) {
                continue;
            }
            let key = slashed_key(&who.0, epoch);
            if chain.with_state(|s| s.get(&key).is_some()).unwrap_or(false) {
                reported.insert(who);
                continue;
            }
            let tx = Transaction {
                chain_id: chain.chain_id().clone(),
                signer: reporter.public_key().clone(),
                nonce: chain.next_nonce(&reporter.address()),
                max_fee: Amount::from_base(REPORT_MAX_FEE_BASE),
                call: Call::ReportDoubleSign(Box::new(double_sign)),
            };
            match tx.sign(&reporter).map(|tx| chain.submit(tx)) {
                Ok(Ok(id)) => {
                    info!(validator = %who.0, epoch, %id, "reported a double sign");
                    reported.insert(who);
                }
                Ok(Err(e)) => warn!(error = %e, "double-sign report refused; will retry"),
                Err(e) => warn!(error = %e, "cannot sign a double-sign report"),
            }
        }
    }
}

/// Simplex reporter that keeps verified fault evidence; clones share one log.
pub struct EvidenceLog<R> {
    schemes: EpochSchemes,
    rng: Arc<Mutex<R>>,
    entries: Arc<Mutex<VecDeque<Evidence>>>,
}

impl<R> Clone for EvidenceLog<R> {
    fn clone(&self) -> Self {
        EvidenceLog {
            schemes: self.schemes.clone(),
            rng: self.rng.clone(),
            entries: self.entries.clone(),
        }
    }
}

impl<R: rand::CryptoRng + Send + 'static> EvidenceLog<R> {
    pub fn new(schemes: EpochSchemes, rng: R) -> Self {
        EvidenceLog {
            schemes,
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

    /// The epoch's scheme, if `activity` verifies under it.
    fn verified(&self, activity: &Activity<ed25519::Scheme, Digest>) -> Option<Arc<Scheme>> {
        let scheme = self.schemes.scheme(activity.epoch())?;
        let mut rng = self.rng.lock().ok()?;
        activity
            .verify(&mut *rng, scheme.as_ref(), &Sequential)
            .then_some(scheme)
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
        let Some(scheme) = self.verified(&activity) else {
            warn!(?fault, %view, "dropped fault evidence that does not verify");
            return Feedback::Ok;
        };
        let Some(offender) = scheme.participants().key(signer).cloned() else {
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
