//! Node assembly: marshal (finalized-block delivery and backfill) + buffered broadcast
//! (block dissemination) over a [`Chain`], and an orchestrator running one simplex engine
//! (ordering) per epoch with that epoch's validator set, wired to six p2p channels.
//!
//! ```text
//!   votes/certificates/resolver (muxed by epoch)       backfill          broadcast
//!                      |                                  |                  |
//!   orchestrator -> simplex::Engine(epoch) <-> Inline -> marshal::Actor <- buffered::Engine
//!        ^                                       |          |
//!        |                 ChainApplication (propose, verify)   Update::Block -> committer -> Chain::commit
//!        +------------- next epoch's set (EpochWatch) <---------------------------+
//! ```
//!
//! Epochs are `epoch_blocks` (a chain parameter) blocks long; see [`crate::epochs`].

use crate::{
    application::{run_committer, ChainApplication},
    block::{to_digest, BlockLimit, ConsensusBlock, Digest},
    epochs::{self, EpochSchemes, EpochWatch, Orchestrator, PeerSets},
    evidence::{open_reports, run_slasher, EvidenceLog},
    finality::FinalityReader,
    gossip, ConsensusError,
};
use commonware_broadcast::buffered;
use commonware_consensus::{
    marshal::{
        self,
        core::Actor as MarshalActor,
        resolver::p2p as marshal_resolver,
        standard::{Inline, Standard},
        Start,
    },
    simplex::{self, scheme::ed25519},
    types::{FixedEpocher, ViewDelta},
};
use commonware_cryptography::{
    certificate::Verifier as _,
    ed25519::{PrivateKey, PublicKey},
    Digested, Signer as _,
};
use commonware_p2p::{Blocker, Provider, Receiver, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::{
    buffer::paged::CacheRef, Clock, Handle, Metrics, Spawner, Storage, Supervisor,
};
use commonware_storage::archive::immutable;
use commonware_utils::{NZDuration, NZUsize, NZU16, NZU64};
use futures::channel::mpsc;
use std::{
    num::{NonZeroU64, NonZeroUsize},
    sync::Arc,
    time::Duration,
};
use tessera_chain::Chain;
use tessera_store::StoreContext;
use tessera_types::{Address, Keypair};

/// p2p channel of simplex votes.
pub const CHANNEL_VOTES: u64 = 0;
/// p2p channel of simplex certificates (notarizations, nullifications, finalizations).
pub const CHANNEL_CERTIFICATES: u64 = 1;
/// p2p channel of simplex's certificate fetches.
pub const CHANNEL_RESOLVER: u64 = 2;
/// p2p channel of marshal's block backfill.
pub const CHANNEL_BACKFILL: u64 = 3;
/// p2p channel of proposed blocks (buffered broadcast).
pub const CHANNEL_BROADCAST: u64 = 4;
/// p2p channel of transaction gossip.
pub const CHANNEL_TXS: u64 = 5;

/// Consensus settings of one node.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Domain of every consensus signature (use the chain id, so votes of one chain are
    /// never valid on another).
    pub namespace: Vec<u8>,
    /// Prefix of this node's consensus storage partitions (distinct from the chain's).
    pub partition_prefix: String,
    /// This validator's key; must be in `validators`.
    pub signer: PrivateKey,
    /// Every validator this node may connect to (the p2p pool). Which of them vote in an
    /// epoch is the chain state's choice (`staking::epochs`); a node outside an epoch's
    /// set follows it without voting.
    pub validators: Vec<PublicKey>,
    /// Largest encoded block accepted or proposed; the same on every node.
    pub max_block_bytes: usize,
    pub mailbox_size: NonZeroUsize,
    pub leader_timeout: Duration,
    pub certification_timeout: Duration,
    pub timeout_retry: Duration,
    pub fetch_timeout: Duration,
    /// Finalized blocks marshal hands out before waiting for their acknowledgements.
    pub max_pending_acks: NonZeroUsize,
    /// How long a leader with an empty mempool waits for a transaction before proposing
    /// an empty block (below `leader_timeout`, or its peers would give up on it).
    pub empty_block_wait: Duration,
}

impl NodeConfig {
    /// Defaults for a validator named by `signer` in `validators`.
    pub fn new(
        namespace: &[u8],
        partition_prefix: &str,
        signer: PrivateKey,
        validators: Vec<PublicKey>,
    ) -> NodeConfig {
        NodeConfig {
            namespace: namespace.to_vec(),
            partition_prefix: partition_prefix.to_string(),
            signer,
            validators,
            max_block_bytes: 4 * 1024 * 1024,
            mailbox_size: NZUsize!(1024),
            leader_timeout: Duration::from_secs(1),
            certification_timeout: Duration::from_secs(2),
            timeout_retry: Duration::from_secs(5),
            fetch_timeout: Duration::from_secs(1),
            max_pending_acks: NZUsize!(16),
            empty_block_wait: Duration::from_millis(300),
        }
    }

    /// Checks done once at start-up.
    pub fn validate(&self) -> Result<(), ConsensusError> {
        let invalid = |m: &str| Err(ConsensusError::Config(m.to_string()));
        if self.validators.is_empty() {
            return invalid("the validator set is empty");
        }
        if !self.validators.contains(&self.signer.public_key()) {
            return invalid("this node's key is not in the validator list");
        }
        if self.certification_timeout <= self.leader_timeout {
            return invalid("certification_timeout must exceed leader_timeout");
        }
        if self.leader_timeout.is_zero() || self.timeout_retry.is_zero() {
            return invalid("timeouts must be positive");
        }
        if self.fetch_timeout.is_zero() {
            return invalid("fetch_timeout must be positive");
        }
        if self.empty_block_wait.saturating_mul(2) > self.leader_timeout {
            return invalid("empty_block_wait must be at most half of leader_timeout");
        }
        if self.max_block_bytes == 0 {
            return invalid("max_block_bytes must be positive");
        }
        Ok(())
    }
}

/// The largest p2p payload the node sends, for the network's `max_size` (the same on
/// every peer).
pub fn max_message_bytes(validators: usize, max_block_bytes: usize) -> u32 {
    let n = u32::try_from(validators).unwrap_or(u32::MAX);
    let limit = BlockLimit {
        max_bytes: max_block_bytes,
    };
    commonware_p2p::max_message_size(&[
        simplex::max_payload_size::<ed25519::Scheme, Digest>(n),
        marshal::max_payload_size::<Standard<ConsensusBlock>, ed25519::Scheme>(n, &limit),
    ])
}

/// What a node's runtime provides: the chain's storage, metrics, tasks, time and randomness.
pub trait NodeContext:
    StoreContext + Metrics + Supervisor + Clock + Spawner + Storage + rand::CryptoRng + rand::Rng
{
}

impl<T> NodeContext for T where
    T: StoreContext
        + Metrics
        + Supervisor
        + Clock
        + Spawner
        + Storage
        + rand::CryptoRng
        + rand::Rng
{
}

/// A sender and receiver of one p2p channel.
pub type Channel<S, R> = (S, R);

/// The six p2p channels a node uses (see the `CHANNEL_*` constants).
pub struct Channels<S, R> {
    pub votes: Channel<S, R>,
    pub certificates: Channel<S, R>,
    pub resolver: Channel<S, R>,
    pub backfill: Channel<S, R>,
    pub broadcast: Channel<S, R>,
    pub txs: Channel<S, R>,
}

/// A running node's tasks, and the fault evidence its consensus gathers.
pub struct Node<E> {
    pub evidence: EvidenceLog<E>,
    /// Runs the simplex engine of the current epoch.
    pub orchestrator: Handle<()>,
    pub marshal: Handle<()>,
    pub broadcast: Handle<()>,
    pub committer: Handle<Result<(), ConsensusError>>,
    pub gossip_out: Handle<()>,
    pub gossip_in: Handle<()>,
    /// Submits double-sign evidence on chain (see [`crate::evidence::run_slasher`]).
    pub slasher: Handle<()>,
    /// Finalization certificates by height, for full nodes.
    pub finality: FinalityReader,
}

impl<E> Node<E> {
    /// Stop every task (as a crash would: nothing is flushed).
    pub fn abort(&self) {
        self.orchestrator.abort();
        self.marshal.abort();
        self.broadcast.abort();
        self.committer.abort();
        self.gossip_out.abort();
        self.gossip_in.abort();
        self.slasher.abort();
    }
}

pub(crate) const PAGE_SIZE: std::num::NonZeroU16 = NZU16!(4096);
pub(crate) const PAGE_CACHE_PAGES: NonZeroUsize = NZUsize!(256);
pub(crate) const WRITE_BUFFER_BYTES: NonZeroUsize = NZUsize!(64 * 1024);
pub(crate) const REPLAY_BUFFER_BYTES: NonZeroUsize = NZUsize!(1024 * 1024);
const ITEMS_PER_SECTION: NonZeroU64 = NZU64!(1024);
/// Views of votes and certificates kept behind the finalized view.
pub(crate) const VIEW_RETENTION: u64 = 256;

fn archive_config<C>(
    prefix: &str,
    name: &str,
    page_cache: &CacheRef,
    codec_config: C,
) -> immutable::Config<C> {
    immutable::Config {
        metadata_partition: format!("{prefix}-{name}-metadata"),
        freezer_table_partition: format!("{prefix}-{name}-freezer-table"),
        freezer_table_initial_size: 64,
        freezer_table_resize_frequency: 10,
        freezer_table_resize_chunk_size: 10,
        freezer_key_partition: format!("{prefix}-{name}-freezer-key"),
        freezer_key_page_cache: page_cache.clone(),
        freezer_value_partition: format!("{prefix}-{name}-freezer-value"),
        freezer_value_target_size: 1024 * 1024,
        freezer_value_compression: None,
        ordinal_partition: format!("{prefix}-{name}-ordinal"),
        items_per_section: ITEMS_PER_SECTION,
        codec_config,
        replay_buffer: REPLAY_BUFFER_BYTES,
        freezer_key_write_buffer: WRITE_BUFFER_BYTES,
        freezer_value_write_buffer: WRITE_BUFFER_BYTES,
        ordinal_write_buffer: WRITE_BUFFER_BYTES,
    }
}

/// Start a validator: marshal over `chain`, and simplex over marshal.
///
/// `blocker` blocks peers that send invalid messages; `peers` tells marshal's resolver and
/// the broadcast buffer who the peers are (the simulated network's `Manager`, or the
/// authenticated network's oracle).
pub async fn start<E, S, R, B, P, T>(
    context: E,
    config: NodeConfig,
    chain: Arc<Chain<E>>,
    channels: Channels<S, R>,
    blocker: B,
    peers: P,
    peer_sets: T,
) -> Result<Node<E>, ConsensusError>
where
    E: NodeContext,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
    B: Blocker<PublicKey = PublicKey> + Clone,
    P: Provider<PublicKey = PublicKey> + Clone,
    T: PeerSets,
{
    config.validate()?;
    let me = config.signer.public_key();
    let prefix = config.partition_prefix.clone();
    let epoch_blocks = NonZeroU64::new(chain.params()?.epoch_blocks)
        .ok_or_else(|| ConsensusError::Config("epoch_blocks must be positive".into()))?;
    let epocher = FixedEpocher::new(epoch_blocks);
    let schemes = EpochSchemes::new(&config.namespace, config.signer.clone());
    let first = epochs::current_start(&chain, &epocher).await?;
    schemes.insert(first.epoch, first.participants.clone());
    let limit = BlockLimit {
        max_bytes: config.max_block_bytes,
    };
    let page_cache = CacheRef::new(PAGE_SIZE, PAGE_CACHE_PAGES);

    // The chain's genesis is marshal's anchor and simplex's genesis payload.
    let (genesis, _) = chain
        .block(0)
        .await?
        .ok_or_else(|| ConsensusError::Config("the chain has no genesis block".into()))?;
    let genesis_digest = to_digest(genesis.hash());
    let genesis = Digested::precomputed(ConsensusBlock(genesis), genesis_digest);

    // Marshal: backfill resolver, broadcast buffer, archives, actor.
    let fetch_timeout = NZDuration!(config.fetch_timeout.max(Duration::from_millis(1)));
    let resolver = marshal_resolver::init(
        context.child("marshal_resolver"),
        marshal_resolver::Config {
            public_key: me.clone(),
            peer_provider: peers.clone(),
            blocker: blocker.clone(),
            mailbox_size: config.mailbox_size,
            fetch_timeout,
            fetch_retry_delay: Duration::from_millis(100),
            priority_requests: false,
            priority_responses: false,
        },
        channels.backfill,
    );
    let (broadcast_engine, buffer) = buffered::Engine::new(
        context.child("broadcast"),
        buffered::Config {
            public_key: me.clone(),
            mailbox_size: config.mailbox_size,
            deque_size: 10,
            priority: false,
            codec_config: limit,
            peer_provider: peers,
            strategy: Sequential,
        },
    );
    let broadcast = broadcast_engine.start(channels.broadcast);

    let finalizations = immutable::Archive::init(
        context.child("finalizations_by_height"),
        archive_config(
            &prefix,
            "finalizations",
            &page_cache,
            // Certificates of every epoch: bounded by the largest possible set.
            ed25519::Scheme::certificate_codec_config_unbounded(),
        ),
    )
    .await
    .map_err(|e| ConsensusError::Config(format!("finalizations archive: {e}")))?;
    let blocks = immutable::Archive::init(
        context.child("finalized_blocks"),
        archive_config(&prefix, "blocks", &page_cache, limit),
    )
    .await
    .map_err(|e| ConsensusError::Config(format!("blocks archive: {e}")))?;

    let (actor, mailbox, _floor) = MarshalActor::init(
        context.child("marshal"),
        finalizations,
        blocks,
        marshal::Config {
            provider: schemes.clone(),
            epocher: epocher.clone(),
            start: Start::Genesis(genesis),
            partition_prefix: format!("{prefix}-marshal"),
            mailbox_size: config.mailbox_size,
            view_retention: ViewDelta::new(VIEW_RETENTION),
            prunable_items_per_section: NZU64!(64),
            page_cache: page_cache.clone(),
            replay_buffer: REPLAY_BUFFER_BYTES,
            key_write_buffer: WRITE_BUFFER_BYTES,
            value_write_buffer: WRITE_BUFFER_BYTES,
            block_codec_config: limit,
            max_repair: NZUsize!(16),
            max_pending_acks: config.max_pending_acks,
            strategy: Sequential,
        },
    )
    .await;

    let (tx_sender, tx_receiver) = channels.txs;
    let gossip_out = context.child("gossip_out").spawn({
        let chain = chain.clone();
        move |_| gossip::run_outbound(chain, tx_sender)
    });
    let gossip_in = context.child("gossip_in").spawn({
        let chain = chain.clone();
        let blocker = blocker.clone();
        move |_| gossip::run_inbound(chain, tx_receiver, blocker)
    });

    let proposer = Address::from_public_key(&me);
    let (application, deliveries) = ChainApplication::new(
        chain.clone(),
        proposer,
        config.max_block_bytes,
        config.empty_block_wait,
    );
    let (events_tx, events) = mpsc::channel(epochs::EVENT_QUEUE);
    let watch = EpochWatch {
        epocher: epocher.clone(),
        schemes: schemes.clone(),
        events: events_tx.clone(),
    };
    let committer = context.child("committer").spawn({
        let (chain, marshal) = (chain.clone(), mailbox.clone());
        move |_| run_committer(chain, marshal, deliveries, watch)
    });
    let marshal_handle = actor.start(application.clone(), buffer, resolver);

    // Simplex over marshal (inline verification), one engine per epoch; faults go to the
    // evidence log too.
    let inline = Inline::new(
        context.child("inline"),
        application,
        mailbox.clone(),
        epocher.clone(),
    );
    let evidence = EvidenceLog::new(schemes.clone(), context.child("evidence"));
    let reports = open_reports(context.child("reports"), &format!("{prefix}-reports")).await?;
    let slasher = context.child("slasher").spawn({
        let log = evidence.clone();
        let reporter = Keypair::from_private(config.signer.clone());
        move |runtime| run_slasher(runtime, chain, log, reporter, reports)
    });
    let orchestrator = Orchestrator {
        context: context.child("orchestrator"),
        config,
        schemes,
        inline,
        evidence: evidence.clone(),
        blocker,
        peers: peer_sets,
        marshal: mailbox.clone(),
        epocher,
        page_cache,
        events,
        events_tx,
    };
    let orchestrator = context.child("epochs").spawn(move |_| {
        orchestrator.run(
            first,
            channels.votes,
            channels.certificates,
            channels.resolver,
        )
    });
    Ok(Node {
        evidence,
        orchestrator,
        marshal: marshal_handle,
        broadcast,
        committer,
        gossip_out,
        gossip_in,
        slasher,
        finality: FinalityReader { mailbox },
    })
}
