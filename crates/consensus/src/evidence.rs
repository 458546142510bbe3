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
//! * a double sign is written (and synced) to the node's report store as soon as the
//!   slasher sees it — it is woken by the evidence — and stays there until the chain shows
//!   the offender slashed for that epoch or the evidence is too old, so a crash between
//!   seeing and reporting does not lose it. At most [`MAX_STORED_REPORTS`] are kept.

use crate::{block::Digest, epochs::EpochSchemes, ConsensusError};
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
use commonware_storage::metadata::{self, Metadata};
use commonware_utils::ordered::Quorum as _;
use commonware_utils::sequence::U64;
use futures::{channel::mpsc, FutureExt as _, StreamExt as _};
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

/// How often the slasher looks for new evidence (it also wakes at once on new evidence).
const SLASHER_INTERVAL: Duration = Duration::from_secs(1);
/// The fee cap of a report (it pays only the actual fee).
const REPORT_MAX_FEE_BASE: u128 = 1_000_000_000;
/// Most reports kept on disk waiting to land (one per offender and epoch).
pub const MAX_STORED_REPORTS: usize = 1_024;

/// Double-sign reports not yet on chain, kept on disk so that evidence seen before a
/// crash is still reported after it: `index → DoubleSign` in a Commonware metadata store,
/// written and synced as soon as the evidence is seen.
pub type ReportStore<E> = Metadata<E, U64, DoubleSign>;

/// Open the report store in `partition`.
pub async fn open_reports<E: commonware_storage::Context>(
    context: E,
    partition: &str,
) -> Result<ReportStore<E>, ConsensusError> {
    Metadata::init(
        context,
        metadata::Config {
            partition: partition.to_string(),
            codec_config: (),
        },
    )
    .await
    .map_err(|e| ConsensusError::Config(format!("evidence store: {e}")))
}

/// Report every double sign the log holds, and every one stored before a restart, as a
/// `ReportDoubleSign` transaction signed by `reporter` (this validator's own account),
/// once per offender and epoch and per process; a report leaves the store once the chain
/// shows the offender slashed for that epoch or the evidence is too old to be accepted.
/// Runs until aborted.
pub async fn run_slasher<E, R>(
    runtime: impl Clock,
    chain: Arc<Chain<E>>,
    log: EvidenceLog<R>,
    reporter: Keypair,
    mut store: ReportStore<E>,
) where
    E: StoreContext + Metrics + Supervisor,
    R: rand::CryptoRng + Send + 'static,
{
    let mut submitted: BTreeSet<(Address, u64)> = BTreeSet::new();
    let mut wake = log.wake_receiver();
    loop {
        store = match store_new_evidence(store, &chain, &log).await {
            Ok(store) => store,
            Err(e) => {
                warn!(error = %e, "cannot store double-sign evidence; reports stop");
                return;
            }
        };
        store = match submit_stored(store, &chain, &reporter, &mut submitted).await {
            Ok(store) => store,
            Err(e) => {
                warn!(error = %e, "cannot update the evidence store; reports stop");
                return;
            }
        };
        futures::select! {
            _ = runtime.sleep(SLASHER_INTERVAL).fuse() => {}
            _ = wake.next() => {}
        }
    }
}

/// The offender and epoch a report is about, if it verifies for this chain.
fn subject<E: StoreContext + Metrics + Supervisor>(
    chain: &Chain<E>,
    report: &DoubleSign,
) -> Option<(Address, u64)> {
    let (epoch, _) = report.verify(chain.chain_id()).ok()?;
    Some((report.validator, epoch))
}

/// Write the log's evidence not yet stored, and sync once if anything was new.
async fn store_new_evidence<E, R>(
    mut store: ReportStore<E>,
    chain: &Chain<E>,
    log: &EvidenceLog<R>,
) -> Result<ReportStore<E>, commonware_storage::metadata::Error>
where
    E: StoreContext + Metrics + Supervisor,
    R: rand::CryptoRng + Send + 'static,
{
    let stored: BTreeSet<(Address, u64)> = store
        .keys()
        .filter_map(|k| store.get(k))
        .filter_map(|r| subject(chain, r))
        .collect();
    let mut next = store
        .keys()
        .map(|k| u64::from(k.clone()))
        .max()
        .map_or(0, |k| k.saturating_add(1));
    let mut dirty = false;
    for evidence in log.entries() {
        let Some(report) = evidence.double_sign() else {
            continue;
        };
        let Some(who) = subject(chain, &report) else {
            warn!("evidence does not verify in the chain's format; not reported");
            continue;
        };
        if stored.contains(&who) || store.keys().count() >= MAX_STORED_REPORTS {
            continue;
        }
        store.put(U64::new(next), report);
        next = next.saturating_add(1);
        dirty = true;
    }
    if dirty {
        store = store.sync().await?;
    }
    Ok(store)
}

/// Submit the stored reports not submitted by this process yet; drop those the chain no
/// longer needs (offender slashed for that epoch, or evidence past its age limit).
async fn submit_stored<E: StoreContext + Metrics + Supervisor>(
    mut store: ReportStore<E>,
    chain: &Chain<E>,
    reporter: &Keypair,
    submitted: &mut BTreeSet<(Address, u64)>,
) -> Result<ReportStore<E>, commonware_storage::metadata::Error> {
    let params = chain.params().ok();
    let current_epoch = params
        .as_ref()
        .map_or(0, |p| p.epoch_of(chain.head().height));
    let max_age = params.as_ref().map_or(0, |p| p.evidence_max_age_epochs);
    let mut done = Vec::new();
    let reports: Vec<(U64, DoubleSign)> = store
        .keys()
        .filter_map(|k| Some((k.clone(), store.get(k)?.clone())))
        .collect();
    for (key, report) in reports {
        let Some(who) = subject(chain, &report) else {
            done.push(key);
            continue;
        };
        let slashed = chain
            .with_state(|s| s.get(&slashed_key(&who.0, who.1)).is_some())
            .unwrap_or(false);
        if slashed || who.1.saturating_add(max_age) < current_epoch {
            done.push(key);
            continue;
        }
        if submitted.contains(&who) {
            continue;
        }
        let tx = Transaction {
            chain_id: chain.chain_id().clone(),
            signer: reporter.public_key().clone(),
            nonce: chain.next_nonce(&reporter.address()),
            max_fee: Amount::from_base(REPORT_MAX_FEE_BASE),
            call: Call::ReportDoubleSign(Box::new(report)),
        };
        match tx.sign(reporter).map(|tx| chain.submit(tx)) {
            Ok(Ok(id)) => {
                info!(validator = %who.0, epoch = who.1, %id, "reported a double sign");
                submitted.insert(who);
            }
            Ok(Err(e)) => warn!(error = %e, "double-sign report refused; will retry"),
            Err(e) => warn!(error = %e, "cannot sign a double-sign report"),
        }
    }
    if !done.is_empty() {
        for key in &done {
            store.remove(key);
        }
        store = store.sync().await?;
    }
    Ok(store)
}

/// Simplex reporter that keeps verified fault evidence; clones share one log.
pub struct EvidenceLog<R> {
    schemes: EpochSchemes,
    rng: Arc<Mutex<R>>,
    entries: Arc<Mutex<VecDeque<Evidence>>>,
    /// Wakes the slasher when evidence arrives (capacity 1: one pending wake is enough).
    wake: mpsc::Sender<()>,
    woken: Arc<Mutex<Option<mpsc::Receiver<()>>>>,
}

impl<R> Clone for EvidenceLog<R> {
    fn clone(&self) -> Self {
        EvidenceLog {
            schemes: self.schemes.clone(),
            rng: self.rng.clone(),
            entries: self.entries.clone(),
            wake: self.wake.clone(),
            woken: self.woken.clone(),
        }
    }
}

impl<R: rand::CryptoRng + Send + 'static> EvidenceLog<R> {
    pub fn new(schemes: EpochSchemes, rng: R) -> Self {
        let (wake, woken) = mpsc::channel(1);
        EvidenceLog {
            schemes,
            rng: Arc::new(Mutex::new(rng)),
            entries: Arc::new(Mutex::new(VecDeque::new())),
            wake,
            woken: Arc::new(Mutex::new(Some(woken))),
        }
    }

    /// The receiver of wake-ups (the first caller gets it; later ones a closed stream).
    fn wake_receiver(&self) -> mpsc::Receiver<()> {
        self.woken
            .lock()
            .ok()
            .and_then(|mut w| w.take())
            .unwrap_or_else(|| mpsc::channel(1).1)
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
        // Full means a wake is already pending.
        let _ = self.wake.try_send(());
        Feedback::Ok
    }
}
