//! [`ChainApplication`]: marshal's [`Application`] (propose, verify) and finalized-block
//! [`Reporter`] over a [`Chain`].
//!
//! * `propose` builds on the consensus parent with [`Chain::propose`].
//! * `verify` re-executes the block with [`Chain::verify`]. It resolves `false` only for a
//!   block that is permanently invalid: bad execution or roots, a proposer that is not the
//!   round's leader, a header whose view is not the round's, or a block that conflicts with
//!   a committed (final) block. While a parent
//!   is only missing it stays pending: the missing ancestors come from marshal's ancestry
//!   stream (which fetches them from peers) and are verified oldest first.
//! * finalized blocks delivered by marshal are committed by one task, in order, and
//!   acknowledged only after the commit returned (so after the block and its state are
//!   durable). A block at or below the head is acknowledged without re-applying it (marshal
//!   redelivers after a restart), after checking it is the block committed at that height.
//!   A chain behind marshal's delivery (its data restored from an older copy) is first
//!   brought up to it from marshal's archive of finalized blocks.
//!
//! # Invariants
//! * an acknowledgement is sent only for a height the chain has committed, with that hash.
//! * a committed block that differs from a finalized one halts delivery (the ack is dropped,
//!   which stops marshal) instead of acknowledging: a safety failure needs an operator.

use crate::block::{to_hash, ConsensusBlock, Digest};
use crate::epochs::EpochWatch;
use crate::ConsensusError;
use commonware_actor::Feedback;
use commonware_consensus::{
    marshal::{ancestry::Ancestry, core::Mailbox, standard::Standard, Update},
    simplex::{scheme::ed25519, types::Context},
    types::Height as ConsensusHeight,
    Application, Reporter,
};
use commonware_cryptography::{ed25519::PublicKey, Digested};
use commonware_runtime::{Clock, Metrics, Supervisor};
use commonware_utils::{acknowledgement::Exact, Acknowledgement as _};
use futures::{channel::mpsc, StreamExt as _};
use std::{sync::Arc, time::Duration, time::UNIX_EPOCH};
use tessera_chain::{Chain, ChainError};
use tessera_store::StoreContext;
use tessera_types::{Address, Block, Hash};
use tracing::{debug, error, warn};

/// The simplex context marshal hands to the application.
pub type ConsensusContext = Context<Digest, PublicKey>;

/// Wait before retrying a verification the chain refused for a passing reason.
const RETRY_DELAY: Duration = Duration::from_millis(200);
/// Most ancestors fetched and verified to connect a block to the head.
const MAX_CATCH_UP_BLOCKS: usize = 256;
/// How often a leader waiting for transactions looks at its mempool.
const PACING_POLL: Duration = Duration::from_millis(10);
/// How far ahead of a verifier's clock a block's timestamp may be.
pub const MAX_FUTURE_DRIFT_MS: u64 = 5_000;

/// A finalized block with marshal's acknowledgement, queued for the committer.
pub(crate) type Delivery = (Digested<ConsensusBlock>, Exact);

/// Marshal's application and reporter for one node's chain.
pub struct ChainApplication<E: StoreContext + Metrics + Supervisor> {
    chain: Arc<Chain<E>>,
    /// This node's address, written as the proposer of the blocks it builds.
    proposer: Address,
    /// Largest block this node proposes (the network's decoding limit).
    max_block_bytes: usize,
    /// How long a leader with an empty mempool waits for transactions before it proposes
    /// an empty block (a leader with transactions proposes at once).
    empty_block_wait: Duration,
    deliveries: mpsc::UnboundedSender<Delivery>,
}

impl<E: StoreContext + Metrics + Supervisor> Clone for ChainApplication<E> {
    fn clone(&self) -> Self {
        ChainApplication {
            chain: self.chain.clone(),
            proposer: self.proposer,
            max_block_bytes: self.max_block_bytes,
            empty_block_wait: self.empty_block_wait,
            deliveries: self.deliveries.clone(),
        }
    }
}

/// What verification concluded.
enum Verdict {
    Valid,
    /// Permanently invalid: vote against it.
    Invalid(String),
    /// Data is missing or a refusal may pass: no verdict yet.
    Unavailable(String),
}

impl<E: StoreContext + Metrics + Supervisor> ChainApplication<E> {
    /// The application, and the queue of finalized blocks that [`run_committer`] drains.
    pub(crate) fn new(
        chain: Arc<Chain<E>>,
        proposer: Address,
        max_block_bytes: usize,
        empty_block_wait: Duration,
    ) -> (Self, mpsc::UnboundedReceiver<Delivery>) {
        // Unbounded here, bounded in fact: marshal dispatches at most `max_pending_acks`
        // blocks before it waits for their acknowledgements.
        let (deliveries, receiver) = mpsc::unbounded();
        (
            ChainApplication {
                chain,
                proposer,
                max_block_bytes,
                empty_block_wait,
                deliveries,
            },
            receiver,
        )
    }

    /// Whether `block`, at or below the head, is the block committed at its height.
    async fn is_committed(&self, block: &Block) -> Result<bool, ChainError> {
        Ok(self
            .chain
            .block(block.header.height)
            .await?
            .is_some_and(|(committed, _)| committed.hash() == block.hash()))
    }

    /// Verify the blocks between the head and `ancestry`'s first block that the chain does
    /// not hold yet, oldest first. The stream yields newest to oldest; marshal fetches
    /// ancestors it lacks, so this waits while they are missing.
    /// `skip_first`: the stream starts with the block under verification (verify), not with
    /// an ancestor (propose).
    async fn connect(
        &self,
        mut ancestry: impl Ancestry<ConsensusBlock>,
        skip_first: bool,
    ) -> Verdict {
        let mut missing = Vec::new();
        loop {
            let Some(next) = ancestry.next().await else {
                // A fetch gave up: missing data, not invalidity.
                return Verdict::Unavailable("ancestry ended before the finalized head".into());
            };
            let block = next.inner().0.clone();
            if block.header.height <= self.chain.head().height {
                match self.is_committed(&block).await {
                    Ok(true) => break,
                    Ok(false) => {
                        return Verdict::Invalid(format!(
                            "ancestor at height {} conflicts with a finalized block",
                            block.header.height
                        ))
                    }
                    Err(e) => return Verdict::Unavailable(format!("reading a block: {e}")),
                }
            }
            missing.push(block);
            if missing.len() > MAX_CATCH_UP_BLOCKS {
                // The committer catches the chain up from finalized deliveries meanwhile.
                return Verdict::Unavailable("too far ahead of the finalized head".into());
            }
        }
        let skip = usize::from(skip_first);
        for block in missing.into_iter().skip(skip).rev() {
            let height = block.header.height;
            match self.chain.verify(block).await {
                Ok(()) => {}
                Err(ChainError::InvalidBlock { reason, .. }) => {
                    return Verdict::Invalid(format!("ancestor {height}: {reason}"))
                }
                // The head moved past it, or a passing refusal.
                Err(e) => return Verdict::Unavailable(format!("ancestor {height}: {e}")),
            }
        }
        Verdict::Valid
    }

    /// Verify `block` on its parent; retries (keeping the request pending) while data is
    /// missing, until it reaches a verdict or consensus drops the request.
    async fn verify_block(
        &self,
        runtime: &impl Clock,
        context: &ConsensusContext,
        block: &Block,
        ancestry: impl Ancestry<ConsensusBlock>,
    ) -> Result<(), String> {
        // A block is proposed by its round's leader; the proposer collects the fees.
        let leader = Address::from_public_key(&context.leader);
        if block.header.proposer != leader {
            return Err(format!(
                "proposer {} is not the round's leader {leader}",
                block.header.proposer
            ));
        }
        // The view is what liveness accounting charges skipped leaders by.
        let view = context.round.view().get();
        if block.header.view != view {
            return Err(format!(
                "block says view {} but was proposed in view {view}",
                block.header.view
            ));
        }
        let now_ms = millis_since_epoch(runtime);
        if block.header.timestamp_ms > now_ms.saturating_add(MAX_FUTURE_DRIFT_MS) {
            return Err(format!(
                "timestamp {} is more than {MAX_FUTURE_DRIFT_MS} ms ahead of this node's clock ({now_ms})",
                block.header.timestamp_ms
            ));
        }
        loop {
            match self.verify_once(block, ancestry.clone()).await {
                Verdict::Valid => return Ok(()),
                Verdict::Invalid(reason) => return Err(reason),
                Verdict::Unavailable(reason) => {
                    debug!(height = block.header.height, %reason, "verification waits");
                    runtime.sleep(RETRY_DELAY).await;
                }
            }
        }
    }

    async fn verify_once(&self, block: &Block, ancestry: impl Ancestry<ConsensusBlock>) -> Verdict {
        if block.header.height <= self.chain.head().height {
            return match self.is_committed(block).await {
                Ok(true) => Verdict::Valid,
                Ok(false) => {
                    Verdict::Invalid("conflicts with a finalized block at its height".into())
                }
                Err(e) => Verdict::Unavailable(format!("reading a block: {e}")),
            };
        }
        match self.chain.verify(block.clone()).await {
            Ok(()) => Verdict::Valid,
            Err(ChainError::InvalidBlock { reason, .. }) => Verdict::Invalid(reason),
            Err(ChainError::UnknownParent(_)) => match self.connect(ancestry, true).await {
                Verdict::Valid => match self.chain.verify(block.clone()).await {
                    Ok(()) => Verdict::Valid,
                    Err(ChainError::InvalidBlock { reason, .. }) => Verdict::Invalid(reason),
                    Err(e) => Verdict::Unavailable(e.to_string()),
                },
                other => other,
            },
            // The head moved, the pending tree is full, ...: not a verdict.
            Err(e) => Verdict::Unavailable(e.to_string()),
        }
    }
}

impl<E: StoreContext + Metrics + Supervisor> ChainApplication<E> {
    /// Block pacing: while the mempool is empty, wait up to `empty_block_wait` for a
    /// transaction, so an idle network makes a few empty blocks a second, not dozens.
    async fn wait_for_transactions(&self, runtime: &impl Clock) {
        let Some(deadline) = runtime.current().checked_add(self.empty_block_wait) else {
            return;
        };
        while self.chain.mempool_len() == 0 && runtime.current() < deadline {
            runtime.sleep(PACING_POLL).await;
        }
    }
}

fn millis_since_epoch(runtime: &impl Clock) -> u64 {
    runtime
        .current()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl<R, E> Application<R> for ChainApplication<E>
where
    R: Clock + Send + 'static,
    E: StoreContext + Metrics + Supervisor,
{
    type SigningScheme = ed25519::Scheme;
    type Context = ConsensusContext;
    type Block = ConsensusBlock;
    type Input = ();

    async fn propose(
        &mut self,
        (runtime, context): (R, ConsensusContext),
        ancestry: impl Ancestry<ConsensusBlock>,
        _input: (),
    ) -> Option<Digested<ConsensusBlock>> {
        let parent = to_hash(&context.parent.1);
        self.wait_for_transactions(&runtime).await;
        let now_ms = millis_since_epoch(&runtime);
        let view = context.round.view().get();
        let mut result = self
            .chain
            .propose(parent, self.proposer, now_ms, view)
            .await;
        if matches!(result, Err(ChainError::UnknownParent(_))) {
            // Our own chain lacks the (notarized) parent: verify the ancestry first.
            match self.connect(ancestry, false).await {
                Verdict::Valid => {}
                Verdict::Invalid(reason) | Verdict::Unavailable(reason) => {
                    warn!(%reason, "cannot build on the consensus parent");
                    return None;
                }
            }
            result = self
                .chain
                .propose(parent, self.proposer, now_ms, view)
                .await;
        }
        let block = match result {
            Ok(block) => block,
            Err(e) => {
                warn!(round = %context.round, error = %e, "proposal failed");
                return None;
            }
        };
        let size = commonware_codec::EncodeSize::encode_size(&block);
        if size > self.max_block_bytes {
            warn!(
                size,
                limit = self.max_block_bytes,
                "built block over the size limit"
            );
            return None;
        }
        let digest = crate::block::to_digest(block.hash());
        Some(Digested::precomputed(ConsensusBlock(block), digest))
    }

    async fn verify(
        &mut self,
        (runtime, context): (R, ConsensusContext),
        ancestry: impl Ancestry<ConsensusBlock>,
    ) -> bool {
        // The stream's first block is the one to verify, then its ancestors.
        let Some(first) = ancestry.clone().next().await else {
            // Marshal always starts the stream with the block: nothing to vote for.
            return false;
        };
        let block = first.inner().0.clone();
        match self
            .verify_block(&runtime, &context, &block, ancestry)
            .await
        {
            Ok(()) => true,
            Err(reason) => {
                warn!(height = block.header.height, %reason, "invalid block");
                false
            }
        }
    }
}

impl<E: StoreContext + Metrics + Supervisor> Reporter for ChainApplication<E> {
    type Activity = Update<ConsensusBlock>;

    fn report(&mut self, activity: Self::Activity) -> Feedback {
        match activity {
            Update::Block(block, ack) => {
                if self.deliveries.unbounded_send((block, ack)).is_err() {
                    // The committer stopped (a failed commit): the dropped ack stops marshal.
                    return Feedback::Closed;
                }
            }
            Update::Tip(round, height, _) => {
                debug!(%round, %height, "finalized tip");
            }
        }
        Feedback::Ok
    }
}

/// Marshal's mailbox (finalized blocks by height, among others).
pub(crate) type MarshalMailbox = Mailbox<ed25519::Scheme, Standard<ConsensusBlock>>;

/// Commit finalized blocks in delivery order, acknowledging each after its commit. Returns
/// (dropping marshal's pending acknowledgement, which halts delivery) on the first failure.
///
/// If the chain is behind marshal's delivery (its data was restored from an older copy),
/// the missing finalized blocks are read from marshal's archive and committed first.
pub(crate) async fn run_committer<E: StoreContext + Metrics + Supervisor>(
    chain: Arc<Chain<E>>,
    marshal: MarshalMailbox,
    mut deliveries: mpsc::UnboundedReceiver<Delivery>,
    watch: EpochWatch,
) -> Result<(), ConsensusError> {
    while let Some((block, ack)) = deliveries.next().await {
        let block = block.inner().0.clone();
        let height = block.header.height;
        let mut result = commit_finalized(&chain, &watch, block.clone()).await;
        if let Err(ConsensusError::Gap { head, .. }) = result {
            result = match fill_gap(&chain, &marshal, &watch, head, height).await {
                Ok(()) => commit_finalized(&chain, &watch, block).await,
                Err(e) => Err(e),
            };
        }
        if let Err(e) = result {
            error!(height, error = %e, "committing a finalized block failed; delivery halted");
            return Err(e);
        }
        ack.acknowledge();
    }
    Ok(())
}

/// Commit the finalized blocks strictly between `head` and `height` from marshal's archive.
async fn fill_gap<E: StoreContext + Metrics + Supervisor>(
    chain: &Chain<E>,
    marshal: &MarshalMailbox,
    watch: &EpochWatch,
    head: u64,
    height: u64,
) -> Result<(), ConsensusError> {
    warn!(
        head,
        height, "chain is behind consensus; committing from marshal's archive"
    );
    for h in head.saturating_add(1)..height {
        let Some(block) = marshal.get_block(ConsensusHeight::new(h)).await else {
            return Err(ConsensusError::Gap { height: h, head });
        };
        commit_finalized(chain, watch, block.inner().0.clone()).await?;
    }
    Ok(())
}

/// Commit one finalized block (idempotent for a block at or below the head), then let the
/// epoch watch see it.
async fn commit_finalized<E: StoreContext + Metrics + Supervisor>(
    chain: &Chain<E>,
    watch: &EpochWatch,
    block: Block,
) -> Result<(), ConsensusError> {
    let (height, hash) = (block.header.height, block.hash());
    commit_block(chain, block).await?;
    watch.committed(chain, height, hash).await
}

/// Commit one finalized block; idempotent for a block at or below the head.
async fn commit_block<E: StoreContext + Metrics + Supervisor>(
    chain: &Chain<E>,
    block: Block,
) -> Result<(), ConsensusError> {
    let height = block.header.height;
    let hash = block.hash();
    let head = chain.head();
    if height <= head.height {
        let committed: Option<Hash> = chain.block(height).await?.map(|(b, _)| b.hash());
        return match committed {
            Some(c) if c == hash => Ok(()),
            other => Err(ConsensusError::Diverged {
                height,
                finalized: hash,
                committed: other,
            }),
        };
    }
    if height != head.height.saturating_add(1) {
        return Err(ConsensusError::Gap {
            height,
            head: head.height,
        });
    }
    match chain.commit(hash).await {
        Ok(_) => Ok(()),
        Err(ChainError::UnknownBlock(_)) => {
            chain.commit_finalized(block).await?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_consensus::{
        marshal::ancestry,
        types::{Epoch, Round, View},
    };
    use commonware_cryptography::{ed25519::PrivateKey, Signer as _};
    use commonware_runtime::{deterministic, Runner as _};
    use tessera_chain::{genesis::dev_genesis, ChainConfig};

    type Ctx = deterministic::Context;

    async fn open(context: &Ctx, name: &str) -> Arc<Chain<Ctx>> {
        let config = ChainConfig {
            verify_threads: 1,
            partition_prefix: name.into(),
            ..ChainConfig::default()
        };
        Arc::new(
            Chain::open(context.child("chain"), &dev_genesis(0, &[]), config)
                .await
                .unwrap(),
        )
    }

    fn digested(block: &Block) -> Digested<ConsensusBlock> {
        Digested::precomputed(
            ConsensusBlock(block.clone()),
            crate::block::to_digest(block.hash()),
        )
    }

    fn round(leader: &PrivateKey, view: u64, parent: &Block) -> ConsensusContext {
        ConsensusContext {
            round: Round::new(Epoch::zero(), View::new(view)),
            leader: leader.public_key(),
            parent: (
                View::new(view.saturating_sub(1)),
                crate::block::to_digest(parent.hash()),
            ),
        }
    }

    /// Verify through the adapter, with `chain` (newest first) as the ancestry.
    async fn verify(
        app: &mut ChainApplication<Ctx>,
        runtime: &Ctx,
        ctx: ConsensusContext,
        chain: &[&Block],
    ) -> bool {
        let stream = ancestry::from_iter(chain.iter().map(|b| digested(b)));
        Application::<Ctx>::verify(app, (runtime.child("verify"), ctx), stream).await
    }

    #[test]
    fn verify_verdicts_and_ancestry_catch_up() {
        deterministic::Runner::default().start(|context| async move {
            let leader = PrivateKey::from_seed(5);
            let proposer = Address::from_public_key(&leader.public_key());
            let a = open(&context, "a").await;
            let b = open(&context, "b").await;
            let (mut app_b, _deliveries) =
                ChainApplication::new(b.clone(), proposer, 1 << 20, Duration::ZERO);
            let genesis = a.block(0).await.unwrap().unwrap().0;
            let one = a.propose(genesis.hash(), proposer, 1, 1).await.unwrap();
            let two = a.propose(one.hash(), proposer, 2, 2).await.unwrap();

            // b has never seen `one`: verifying `two` fetches it from the ancestry first.
            assert!(
                verify(
                    &mut app_b,
                    &context,
                    round(&leader, 2, &one),
                    &[&two, &one, &genesis],
                )
                .await
            );

            // Not proposed by the round's leader.
            let other = PrivateKey::from_seed(6);
            let three = a.propose(two.hash(), proposer, 3, 3).await.unwrap();
            assert!(
                !verify(
                    &mut app_b,
                    &context,
                    round(&other, 3, &two),
                    &[&three, &two],
                )
                .await
            );

            // A header whose view is not the round's is invalid (liveness counts views).
            let late = a.propose(two.hash(), proposer, 3, 5).await.unwrap();
            assert!(
                !verify(
                    &mut app_b,
                    &context,
                    round(&leader, 3, &two),
                    &[&late, &two],
                )
                .await
            );

            // A wrong state root is permanently invalid.
            let mut tampered = three.clone();
            tampered.header.state_root = Hash::digest(b"x", &[]);
            assert!(
                !verify(
                    &mut app_b,
                    &context,
                    round(&leader, 3, &two),
                    &[&tampered, &two],
                )
                .await
            );

            // Once `one` is final, a sibling of it conflicts with finality.
            b.commit(one.hash()).await.unwrap();
            let sibling = a.propose(genesis.hash(), proposer, 9, 4).await.unwrap();
            assert!(
                !verify(
                    &mut app_b,
                    &context,
                    round(&leader, 4, &genesis),
                    &[&sibling, &genesis],
                )
                .await
            );
            // ... while `one` itself, redelivered after a restart, is still valid.
            assert!(
                verify(
                    &mut app_b,
                    &context,
                    round(&leader, 1, &genesis),
                    &[&one, &genesis],
                )
                .await
            );
        });
    }

    #[test]
    fn committing_finalized_blocks_is_idempotent_and_detects_divergence() {
        deterministic::Runner::default().start(|context| async move {
            let proposer = Address::from_public_key(&PrivateKey::from_seed(5).public_key());
            let a = open(&context, "a").await;
            let b = open(&context, "b").await;
            let genesis = a.block(0).await.unwrap().unwrap().0;
            let one = a.propose_dev(genesis.hash(), proposer, 1).await.unwrap();
            let two = a.propose_dev(one.hash(), proposer, 2).await.unwrap();
            let three = a.propose_dev(two.hash(), proposer, 3).await.unwrap();

            // Not pending on b: verified and committed from the delivered block.
            commit_block(&b, one.clone()).await.unwrap();
            commit_block(&b, two.clone()).await.unwrap();
            assert_eq!(b.head().hash(), two.hash());
            // Redeliveries at or below the head are acknowledged without re-applying.
            commit_block(&b, genesis.clone()).await.unwrap();
            commit_block(&b, one.clone()).await.unwrap();
            assert_eq!(b.head().hash(), two.hash());

            // A different block at a committed height: the node is on another chain.
            let rival = b.propose_dev(genesis.hash(), proposer, 7).await;
            assert!(rival.is_err(), "genesis is no longer a valid parent");
            let mut forged = one.clone();
            forged.header.timestamp_ms = 99;
            assert!(matches!(
                commit_block(&b, forged).await,
                Err(ConsensusError::Diverged { height: 1, .. })
            ));

            // A gap is reported, not skipped.
            let four = a.propose_dev(three.hash(), proposer, 4).await.unwrap();
            assert!(matches!(
                commit_block(&b, four).await,
                Err(ConsensusError::Gap { height: 4, head: 2 })
            ));
            commit_block(&b, three).await.unwrap();
            assert_eq!(b.head().height, 3);
        });
    }
}
