//! Validator sets per epoch: consensus runs the set the chain's state chose.
//!
//! The `staking::epochs` rules in `tessera-state` pick the set of epoch `e + 1` when the
//! last block of epoch `e` executes; heights are laid out as Commonware's `FixedEpocher`
//! with the chain's `epoch_blocks` parameter. This module turns that set into consensus:
//!
//! * [`EpochSchemes`]: marshal's and the evidence log's [`Provider`] — the ed25519 scheme of
//!   each known epoch (a signer where this node is a member, a verifier otherwise).
//! * [`EpochWatch`]: called by the committer after every commit; at an epoch's last block
//!   it reads the next set from the committed state, registers its scheme and asks the
//!   orchestrator to enter the epoch. The set carries the p2p address each member
//!   registered on chain: that is the address book the p2p layer dials
//!   ([`PeerSets::track`]), so a validator that joins needs no edit of anyone's config.
//! * [`run_orchestrator`]: owns the simplex engine of the current epoch. Votes,
//!   certificates and certificate fetches travel on one p2p channel each, split by epoch
//!   (Commonware's `Muxer`); entering epoch `e + 1` tracks its peers, starts its engine
//!   (genesis = the boundary block, own journal) and stops epoch `e`'s. Traffic of a later
//!   epoch than ours means this node is behind: marshal is hinted to fetch our epoch's
//!   last block from the sender, which brings the boundary and with it the next epoch.
//!
//! # Invariants
//! * an engine for epoch `e` runs only after the block before `e`'s first height is
//!   committed, with the set that block's state recorded; every node derives the same
//!   participants from the same state (addresses are ed25519 keys).
//! * epochs only move forward; at most one engine runs at a time.
//! * at most [`KEPT_EPOCHS`] schemes are kept; the journal of an epoch the node left is
//!   deleted at the next epoch change at least [`JOURNAL_GRACE`] later (a crash in
//!   between leaves that one journal behind).

use crate::{
    application::{ChainApplication, MarshalMailbox},
    block::{to_digest, ConsensusBlock, Digest},
    evidence::EvidenceLog,
    node::{NodeConfig, NodeContext, REPLAY_BUFFER_BYTES, VIEW_RETENTION, WRITE_BUFFER_BYTES},
    ConsensusError,
};
use commonware_consensus::{
    marshal::standard::Inline,
    simplex::{self, elector::RoundRobin, scheme::ed25519},
    types::{Epoch, Epocher as _, FixedEpocher, Height, ViewDelta},
    Reporters,
};
use commonware_cryptography::{
    certificate::{Provider, Scoped},
    ed25519::{PrivateKey, PublicKey},
    Sha256,
};
use commonware_p2p::{
    utils::mux::{Builder as _, MuxHandle, Muxer},
    Blocker, Receiver, Sender,
};
use commonware_parallel::Sequential;
use commonware_runtime::{buffer::paged::CacheRef, Handle, Metrics, Storage, Supervisor};
use commonware_utils::{ordered::Set, vec::NonEmptyVec, NZDuration};
use futures::{channel::mpsc, SinkExt as _, StreamExt as _};
use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};
use tessera_chain::Chain;
use tessera_state::staking::epochs::{self, ValidatorSet};
use tessera_store::StoreContext;
use tessera_types::{keys::public_key_of, Hash};
use tracing::{debug, info, warn};

/// Schemes kept: the current epoch's and the one before (late certificates).
pub const KEPT_EPOCHS: usize = 2;
/// How long after stopping an epoch's engine its journal is deleted (the engine's tasks
/// unwind asynchronously and may still write to it for a moment).
const JOURNAL_GRACE: Duration = Duration::from_secs(10);
/// Capacity of the orchestrator's event queue (epoch entries and "peer is ahead" hints;
/// hints beyond it are dropped, entries wait).
pub const EVENT_QUEUE: usize = 64;
/// Least time between two hints to marshal that this node is behind.
const BEHIND_HINT_INTERVAL: Duration = Duration::from_millis(500);

/// The consensus participants of a set: its members' keys (an address is its key).
pub fn participants(set: &ValidatorSet) -> Set<PublicKey> {
    Set::from_iter_dedup(
        set.members
            .iter()
            .filter_map(|m| public_key_of(&m.address).ok()),
    )
}

/// The p2p addresses a set's members registered on chain (members whose address does not
/// parse are left out: registration checks it, so none should be).
pub fn registered_addresses(set: &ValidatorSet) -> Vec<(PublicKey, SocketAddr)> {
    set.members
        .iter()
        .filter_map(|m| Some((public_key_of(&m.address).ok()?, m.p2p.parse().ok()?)))
        .collect()
}

/// One epoch's scheme, and whether this node signs in it.
#[derive(Clone)]
struct EpochScheme {
    scheme: Arc<ed25519::Scheme>,
    member: bool,
}

/// The ed25519 scheme of each known epoch; clones share one map.
#[derive(Clone)]
pub struct EpochSchemes {
    namespace: Vec<u8>,
    signer: PrivateKey,
    schemes: Arc<Mutex<BTreeMap<Epoch, EpochScheme>>>,
}

impl EpochSchemes {
    pub fn new(namespace: &[u8], signer: PrivateKey) -> Self {
        EpochSchemes {
            namespace: namespace.to_vec(),
            signer,
            schemes: Arc::default(),
        }
    }

    /// Register `epoch`'s participants (a signing scheme if this node is one of them) and
    /// forget epochs older than the last [`KEPT_EPOCHS`].
    pub fn insert(&self, epoch: Epoch, participants: Set<PublicKey>) {
        let entry = match ed25519::Scheme::signer(
            &self.namespace,
            participants.clone(),
            self.signer.clone(),
        ) {
            Some(signer) => EpochScheme {
                scheme: Arc::new(signer),
                member: true,
            },
            None => EpochScheme {
                scheme: Arc::new(ed25519::Scheme::verifier(&self.namespace, participants)),
                member: false,
            },
        };
        if let Ok(mut schemes) = self.schemes.lock() {
            schemes.insert(epoch, entry);
            while schemes.len() > KEPT_EPOCHS {
                schemes.pop_first();
            }
        }
    }

    fn get(&self, epoch: Epoch) -> Option<EpochScheme> {
        self.schemes.lock().ok()?.get(&epoch).cloned()
    }

    /// The scheme of a known epoch (signing or verifying).
    pub fn scheme(&self, epoch: Epoch) -> Option<Arc<ed25519::Scheme>> {
        self.get(epoch).map(|s| s.scheme)
    }

    /// Whether this node is a participant of `epoch` (false for an unknown epoch).
    pub fn is_member(&self, epoch: Epoch) -> bool {
        self.get(epoch).is_some_and(|s| s.member)
    }
}

impl Provider for EpochSchemes {
    type Scope = Epoch;
    type Scheme = ed25519::Scheme;

    fn scoped(&self, epoch: Epoch) -> Option<Scoped<ed25519::Scheme>> {
        let entry = self.get(epoch)?;
        Some(if entry.member {
            Scoped::scheme(entry.scheme)
        } else {
            Scoped::verifier(entry.scheme)
        })
    }
}

/// An epoch to enter: its number, its genesis (the previous epoch's last block, or block
/// 0), its participants and the p2p addresses they registered on chain.
#[derive(Clone, Debug)]
pub struct EpochStart {
    pub epoch: Epoch,
    pub floor: Digest,
    pub participants: Set<PublicKey>,
    pub addresses: Vec<(PublicKey, SocketAddr)>,
}

/// What the orchestrator reacts to.
pub(crate) enum Event {
    /// The committer committed the block before this epoch's first height.
    Enter(EpochStart),
    /// A peer sent consensus traffic of a later epoch than ours.
    Ahead { epoch: u64, from: PublicKey },
}

/// Tells the p2p layer which peers count in an epoch.
pub trait PeerSets: Send + 'static {
    /// `participants` vote in `epoch` and are reached at `addresses` (registered on
    /// chain); every other known validator only follows.
    fn track(
        &mut self,
        epoch: Epoch,
        participants: &Set<PublicKey>,
        addresses: &[(PublicKey, SocketAddr)],
    );
}

/// The epoch the committed state of `chain` is in, and the set to run it with.
pub(crate) async fn current_start<E: StoreContext + Metrics + Supervisor>(
    chain: &Chain<E>,
    epocher: &FixedEpocher,
) -> Result<EpochStart, ConsensusError> {
    let next = chain.head().height.saturating_add(1);
    let info = epocher
        .containing(Height::new(next))
        .ok_or_else(|| ConsensusError::Config(format!("height {next} is in no epoch")))?;
    let floor_height = info.first().get().saturating_sub(1);
    let (floor, _) = chain.block(floor_height).await?.ok_or_else(|| {
        ConsensusError::Config(format!(
            "block {floor_height} (the epoch's genesis) is missing from the chain store"
        ))
    })?;
    let set = chain
        .with_state(epochs::current)?
        .map_err(tessera_chain::ChainError::from)?;
    start_from_set(set, info.epoch(), to_digest(floor.hash()))?
        .ok_or_else(|| stale_set(info.epoch()))
}

fn stale_set(epoch: Epoch) -> ConsensusError {
    ConsensusError::Config(format!(
        "the chain's state has no validator set for epoch {epoch}: resync the node"
    ))
}

/// `set` as the start of `epoch`; `None` if the state has already moved past `epoch`.
fn start_from_set(
    set: Option<ValidatorSet>,
    epoch: Epoch,
    floor: Digest,
) -> Result<Option<EpochStart>, ConsensusError> {
    let Some(set) = set else {
        return Err(stale_set(epoch));
    };
    if set.epoch > epoch.get() {
        return Ok(None);
    }
    if set.epoch < epoch.get() {
        return Err(stale_set(epoch));
    }
    let addresses = registered_addresses(&set);
    let participants = participants(&set);
    if participants.is_empty() {
        return Err(ConsensusError::Config(format!(
            "the validator set of epoch {epoch} has no member with a valid key"
        )));
    }
    Ok(Some(EpochStart {
        epoch,
        floor,
        participants,
        addresses,
    }))
}

/// Epoch boundaries, for the committer.
#[derive(Clone)]
pub(crate) struct EpochWatch {
    pub epocher: FixedEpocher,
    pub schemes: EpochSchemes,
    pub events: mpsc::Sender<Event>,
}

impl EpochWatch {
    /// After the block at `height` with `hash` is committed: at an epoch's last block,
    /// register the next epoch's set and ask the orchestrator to enter it.
    pub async fn committed<E: StoreContext + Metrics + Supervisor>(
        &self,
        chain: &Chain<E>,
        height: u64,
        hash: Hash,
    ) -> Result<(), ConsensusError> {
        let Some(info) = self.epocher.containing(Height::new(height)) else {
            return Ok(());
        };
        if info.last().get() != height {
            return Ok(());
        }
        let set = chain
            .with_state(epochs::current)?
            .map_err(tessera_chain::ChainError::from)?;
        let Some(start) = start_from_set(set, info.epoch().next(), to_digest(hash))? else {
            // The chain is already further (a redelivered block after a restart): the
            // epoch it is in was entered at start-up.
            return Ok(());
        };
        self.schemes.insert(start.epoch, start.participants.clone());
        // Bounded: waits while the orchestrator is behind (an epoch is never skipped).
        let _ = self.events.clone().send(Event::Enter(start)).await;
        Ok(())
    }
}

/// The storage partition of simplex's journal for `epoch`. Epoch 0 keeps the name nodes
/// used before epochs switched sets.
pub fn journal_partition(prefix: &str, epoch: Epoch) -> String {
    if epoch.is_zero() {
        format!("{prefix}-simplex")
    } else {
        format!("{prefix}-simplex-e{epoch}")
    }
}

/// Delete the journal of an epoch this node has left: it never runs that epoch again
/// (start-up enters the epoch of the committed head, and heads only grow).
async fn remove_journal<E: Storage>(context: &E, prefix: &str, epoch: Epoch) {
    if let Err(e) = context
        .remove(&journal_partition(prefix, epoch), None)
        .await
    {
        debug!(%epoch, error = %e, "no journal to remove for the epoch");
    }
}

/// The muxed consensus channels: one subchannel per epoch.
struct EpochChannels<S: Sender> {
    votes: MuxHandle<S>,
    certificates: MuxHandle<S>,
    resolver: MuxHandle<S>,
}

/// The engine of the current epoch.
struct Active {
    epoch: Epoch,
    handle: Handle<()>,
}

/// The wrapper marshal puts between simplex and the application.
pub(crate) type Marshaled<E> =
    Inline<E, ed25519::Scheme, ChainApplication<E>, ConsensusBlock, FixedEpocher>;

/// Runs one simplex engine per epoch (see the module docs).
pub(crate) struct Orchestrator<E, B, T>
where
    E: StoreContext + Metrics + Supervisor,
{
    pub context: E,
    pub config: NodeConfig,
    pub schemes: EpochSchemes,
    pub inline: Marshaled<E>,
    pub evidence: EvidenceLog<E>,
    pub blocker: B,
    pub peers: T,
    pub marshal: MarshalMailbox,
    pub epocher: FixedEpocher,
    pub page_cache: CacheRef,
    pub events: mpsc::Receiver<Event>,
    pub events_tx: mpsc::Sender<Event>,
}

impl<E, B, T> Orchestrator<E, B, T>
where
    E: NodeContext,
    B: Blocker<PublicKey = PublicKey> + Clone,
    T: PeerSets,
{
    /// Enter `first`, then follow epoch changes until the node stops.
    pub async fn run<S, R>(
        mut self,
        first: EpochStart,
        votes: (S, R),
        certificates: (S, R),
        resolver: (S, R),
    ) where
        S: Sender<PublicKey = PublicKey>,
        R: Receiver<PublicKey = PublicKey>,
    {
        let (mux, votes, votes_ahead) =
            Muxer::builder(self.context.child("vote_mux"), votes.0, votes.1)
                .with_backup()
                .build();
        mux.start();
        let (mux, certificates, certificates_ahead) = Muxer::builder(
            self.context.child("certificate_mux"),
            certificates.0,
            certificates.1,
        )
        .with_backup()
        .build();
        mux.start();
        let (mux, resolver) =
            Muxer::new(self.context.child("resolver_mux"), resolver.0, resolver.1);
        mux.start();
        for (name, mut ahead) in [
            ("votes_ahead", votes_ahead),
            ("certificates_ahead", certificates_ahead),
        ] {
            let mut events = self.events_tx.clone();
            self.context.child(name).spawn(move |_| async move {
                while let Some((epoch, (from, _))) = ahead.recv().await {
                    // Peers feed these: when the queue is full a hint is already
                    // pending, so this one is dropped rather than queued.
                    match events.try_send(Event::Ahead { epoch, from }) {
                        Ok(()) => {}
                        Err(e) if e.is_full() => {}
                        Err(_) => break,
                    }
                }
            });
        }
        let mut channels = EpochChannels {
            votes,
            certificates,
            resolver,
        };
        let Some(mut active) = self.enter(first, &mut channels).await else {
            return;
        };
        // Epochs whose engines were stopped, and when: their journals are deleted once the
        // stopped tasks have surely unwound.
        let mut retired: Vec<(Epoch, SystemTime)> = Vec::new();
        let mut last_hint = None;
        while let Some(event) = self.events.next().await {
            match event {
                Event::Enter(start) => {
                    let start = self.latest(start);
                    if start.epoch <= active.epoch {
                        continue;
                    }
                    let Some(next) = self.enter(start, &mut channels).await else {
                        return;
                    };
                    active.handle.abort();
                    let now = self.context.current();
                    retired.push((active.epoch, now));
                    active = next;
                    let (old, recent): (Vec<_>, Vec<_>) =
                        retired.into_iter().partition(|(_, at)| {
                            now.duration_since(*at).unwrap_or_default() >= JOURNAL_GRACE
                        });
                    retired = recent;
                    for (epoch, _) in old {
                        remove_journal(&self.context, &self.config.partition_prefix, epoch).await;
                    }
                }
                Event::Ahead { epoch, from } => {
                    if epoch <= active.epoch.get() {
                        continue;
                    }
                    let now = self.context.current();
                    let due = last_hint.is_none_or(|at| {
                        now.duration_since(at).unwrap_or_default() >= BEHIND_HINT_INTERVAL
                    });
                    if let (true, Some(last)) = (due, self.epocher.last(active.epoch)) {
                        info!(ours = %active.epoch, theirs = epoch, %from, "behind: fetching the end of our epoch");
                        self.marshal.hint_finalized(last, NonEmptyVec::new(from));
                        last_hint = Some(now);
                    }
                }
            }
        }
    }

    /// The latest epoch queued behind `start` (a node catching up crosses several).
    fn latest(&mut self, mut start: EpochStart) -> EpochStart {
        while let Ok(event) = self.events.try_recv() {
            if let Event::Enter(later) = event {
                if later.epoch > start.epoch {
                    start = later;
                }
            }
        }
        start
    }

    /// Track the epoch's peers and start its engine.
    async fn enter<S: Sender<PublicKey = PublicKey>>(
        &mut self,
        start: EpochStart,
        channels: &mut EpochChannels<S>,
    ) -> Option<Active> {
        let epoch = start.epoch;
        self.peers
            .track(epoch, &start.participants, &start.addresses);
        let Some(scheme) = self.schemes.scheme(epoch) else {
            warn!(%epoch, "no validator set for the epoch; consensus stops");
            return None;
        };
        let member = self.schemes.is_member(epoch);
        let config = &self.config;
        let partition = journal_partition(&config.partition_prefix, epoch);
        let fetch_timeout = config.fetch_timeout.max(Duration::from_millis(1));
        let engine = simplex::Engine::new(
            self.context.child("simplex").with_attribute("epoch", epoch),
            simplex::Config {
                scheme: scheme.as_ref().clone(),
                elector: RoundRobin::<Sha256>::default(),
                blocker: self.blocker.clone(),
                automaton: self.inline.clone(),
                relay: self.inline.clone(),
                reporter: Reporters::from((self.inline.clone(), self.evidence.clone())),
                strategy: Sequential,
                partition,
                mailbox_size: config.mailbox_size,
                epoch,
                floor: simplex::Floor::Genesis(start.floor),
                replay_buffer: REPLAY_BUFFER_BYTES,
                write_buffer: WRITE_BUFFER_BYTES,
                page_cache: self.page_cache.clone(),
                leader_timeout: config.leader_timeout,
                certification_timeout: config.certification_timeout,
                timeout_retry: config.timeout_retry,
                view_retention: ViewDelta::new(VIEW_RETENTION),
                skip: simplex::SkipPolicy::Disabled,
                fetch_timeout: NZDuration!(fetch_timeout),
                fetch_retry_delay: Duration::from_millis(100),
                forward: simplex::ForwardPolicy::SilentLeader,
                track_historical_votes: false,
            },
        );
        let subchannel = epoch.get();
        let votes = channels.votes.register(subchannel).await.ok()?;
        let certificates = channels.certificates.register(subchannel).await.ok()?;
        let resolver = channels.resolver.register(subchannel).await.ok()?;
        let handle = engine.start(votes, certificates, resolver);
        info!(%epoch, member, participants = start.participants.len(), "entered epoch");
        Some(Active { epoch, handle })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_consensus::{
        simplex::elector::Elector as _,
        types::{Round, View},
    };
    use commonware_cryptography::Signer as _;
    use commonware_utils::ordered::Quorum as _;
    use tessera_state::staking::epochs::{leader_index, Member};
    use tessera_types::Address;

    /// The state machine charges missed views to `leader_index`; it must be the leader the
    /// engine elects (Commonware's round robin over the participants in key order).
    #[test]
    fn the_state_machine_names_the_leader_the_engine_elects() {
        for n in 1..8u64 {
            let keys: Vec<PublicKey> = (0..n)
                .map(|i| PrivateKey::from_seed(100 + i * 7).public_key())
                .collect();
            let set = ValidatorSet {
                epoch: 0,
                start_height: 0,
                members: {
                    let mut members: Vec<Member> = keys
                        .iter()
                        .map(|k| Member {
                            address: Address::from_public_key(k),
                            bonded: tessera_types::Amount::from_base(1),
                            p2p: "10.0.0.1:1".into(),
                        })
                        .collect();
                    members.sort_by_key(|m| m.address);
                    members
                },
            };
            let participants = participants(&set);
            let elector = <RoundRobin<Sha256> as commonware_consensus::simplex::elector::Config<
                ed25519::Scheme,
            >>::build(RoundRobin::<Sha256>::default(), &participants);
            for epoch in 0..4u64 {
                for view in 1..50u64 {
                    let elected = elector.elect(Round::new(Epoch::new(epoch), View::new(view)), ());
                    let ours = leader_index(epoch, view, set.members.len()).unwrap();
                    let elected_key = participants.key(elected).unwrap();
                    assert_eq!(
                        Address::from_public_key(elected_key),
                        set.members[ours].address,
                        "n={n} epoch={epoch} view={view}"
                    );
                }
            }
        }
    }
}
