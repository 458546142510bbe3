//! [`Chain`]: the node's ledger — stores, in-memory state, head and mempool — and the
//! three steps (propose, verify, commit) that drivers call.

use crate::{
    mempool::{Admitted, Mempool},
    ChainError, MempoolError, MempoolLimits,
};
use commonware_parallel::Rayon;
use commonware_runtime::{
    telemetry::metrics::{raw, Counter, Gauge},
    Metrics, Supervisor,
};
use std::{
    collections::{BTreeMap, HashMap},
    num::NonZeroUsize,
    sync::{Arc, Mutex, RwLock},
};
use tessera_state::{
    bank, BlockContext, BlockOutcome, Executor, Genesis, MemState, Overlay, Params, StateError,
    StateView, Write,
};
use tessera_store::{
    BlockConfig, BlockStore, Prepared, StateConfig, StateProof, StateStore, StoreContext,
};
use tessera_types::{
    tx::verify_signatures, Address, Block, BlockHeader, BlockReceipts, ChainId, Hash, Receipt,
    SignedTransaction, MAX_BLOCK_TXS,
};
use tokio::sync::broadcast;

/// A state entry: (key, value).
pub type Entry = (Vec<u8>, Vec<u8>);

/// Most pending (verified, not final) blocks kept at once.
const MAX_PENDING_BLOCKS: usize = 1_024;
/// Most pending blocks between the head and a block being built or verified.
const MAX_PENDING_DEPTH: usize = 256;
/// Blocks between two prunings of the state store's operation log.
const PRUNE_EVERY_BLOCKS: u64 = 256;
/// Committed blocks buffered for slow event subscribers before they miss some.
const EVENT_BUFFER: usize = 1_024;
/// Locally submitted transactions buffered for the gossip task before it misses some
/// (a missed one still lands when this node proposes).
const ADMITTED_BUFFER: usize = 16_384;

#[derive(Clone, Debug)]
pub struct ChainConfig {
    pub mempool: MempoolLimits,
    /// Most transactions the proposer puts in one block.
    pub max_block_txs: usize,
    /// Threads for batch signature verification.
    pub verify_threads: usize,
    /// Prefix of the storage partitions, so several nodes can share one storage
    /// backend (simulations).
    pub partition_prefix: String,
}

impl Default for ChainConfig {
    fn default() -> Self {
        ChainConfig {
            mempool: MempoolLimits::default(),
            max_block_txs: 5_000,
            verify_threads: std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
            partition_prefix: "tessera".into(),
        }
    }
}

/// A verified block that is not final yet: what its execution produced, kept until
/// it is committed or a competing block at its height is.
struct PendingBlock {
    block: Block,
    receipts: BlockReceipts,
    /// This block's own writes (its ancestors' are in their own entries).
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    prepared: Prepared,
    /// Transactions the builder dropped, with the reason (own proposals only).
    rejected: Vec<(Hash, String)>,
}

/// What a child block executes on.
struct ParentState {
    header: BlockHeader,
    /// Pending ancestors, newest first, back to (not including) the head.
    chain: Vec<Arc<PendingBlock>>,
}

impl ParentState {
    fn view<'a>(&'a self, base: &'a MemState) -> Layered<'a> {
        Layered {
            base,
            layers: self.chain.iter().map(|b| &b.writes).collect(),
        }
    }

    async fn prepare<E: StoreContext>(
        &self,
        store: &StateStore<E>,
        height: u64,
        writes: Vec<Write>,
    ) -> Result<Prepared, ChainError> {
        Ok(match self.chain.first() {
            Some(parent) => store.prepare_on(&parent.prepared, height, writes).await?,
            None => store.prepare(height, writes).await?,
        })
    }
}

/// The committed state with pending blocks' writes on top (newest layer first).
struct Layered<'a> {
    base: &'a MemState,
    layers: Vec<&'a BTreeMap<Vec<u8>, Option<Vec<u8>>>>,
}

impl StateView for Layered<'_> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        for layer in &self.layers {
            if let Some(value) = layer.get(key) {
                return value.clone();
            }
        }
        self.base.get(key).cloned()
    }

    fn key_at_or_after(&self, from: &[u8]) -> Option<Vec<u8>> {
        tessera_state::kv::layered_key_at_or_after(self.base, &self.layers, from)
    }
}

/// A committed block, as sent to subscribers.
#[derive(Clone, Debug)]
pub struct Committed {
    pub block: Block,
    pub receipts: BlockReceipts,
}

/// Where a transaction is.
#[derive(Clone, Debug)]
pub enum TxLookup {
    Committed {
        height: u64,
        index: u32,
        block: Hash,
        tx: Box<SignedTransaction>,
        receipt: Box<Receipt>,
    },
    Pending,
    Rejected(String),
    Unknown,
}

struct Stores<E: StoreContext> {
    state: StateStore<E>,
    blocks: BlockStore<E>,
}

struct ChainMetrics {
    blocks: Counter,
    txs: Counter,
    txs_failed: Counter,
    txs_rejected: Counter,
    height: Gauge,
    mempool: Gauge,
}

impl ChainMetrics {
    fn register(context: &impl Metrics) -> ChainMetrics {
        ChainMetrics {
            blocks: context.register(
                "blocks_committed",
                "Blocks committed",
                raw::Counter::default(),
            ),
            txs: context.register(
                "txs_committed",
                "Transactions committed",
                raw::Counter::default(),
            ),
            txs_failed: context.register(
                "txs_failed",
                "Committed transactions whose call failed",
                raw::Counter::default(),
            ),
            txs_rejected: context.register(
                "txs_rejected",
                "Transactions refused by the mempool or dropped by the builder",
                raw::Counter::default(),
            ),
            height: context.register("height", "Height of the head block", raw::Gauge::default()),
            mempool: context.register(
                "mempool_txs",
                "Transactions waiting in the mempool",
                raw::Gauge::default(),
            ),
        }
    }
}

pub struct Chain<E: StoreContext> {
    chain_id: ChainId,
    config: ChainConfig,
    /// Readers (API queries, proofs) share the stores with propose and verify; only a
    /// commit writes. So a flood of reads never waits behind, nor holds up, a proposal.
    stores: tokio::sync::RwLock<Stores<E>>,
    /// Serializes the steps (propose, verify, commit) among themselves.
    steps: tokio::sync::Mutex<()>,
    state: RwLock<MemState>,
    head: RwLock<BlockHeader>,
    mempool: Mutex<Mempool>,
    pending: Mutex<HashMap<Hash, Arc<PendingBlock>>>,
    events: broadcast::Sender<Arc<Committed>>,
    /// Transactions admitted from this node's clients (not from peers), for gossip.
    admitted: broadcast::Sender<SignedTransaction>,
    strategy: Rayon,
    metrics: ChainMetrics,
    context: E,
}

fn lock_poisoned() -> ChainError {
    ChainError::Inconsistent("an internal lock was poisoned by a panic".into())
}

impl<E: StoreContext + Metrics + Supervisor> Chain<E> {
    /// Open the chain's stores under `context`, initialising them from `genesis` when
    /// empty and recovering from a crash otherwise.
    pub async fn open(
        context: E,
        genesis: &Genesis,
        config: ChainConfig,
    ) -> Result<Self, ChainError> {
        let prefix = &config.partition_prefix;
        let state_config = StateConfig::with_prefix(format!("{prefix}-state"));
        let block_config = BlockConfig::with_prefix(format!("{prefix}-blocks"));
        let state = StateStore::open(context.child("state"), state_config).await?;
        let blocks = BlockStore::open(context.child("blocks"), block_config).await?;
        let mut stores = Stores { state, blocks };
        recover(&mut stores, genesis).await?;
        let entries = stores.state.entries().await?;
        let memstate: MemState = entries.into_iter().collect();
        let head_height = stores
            .state
            .height()
            .ok_or_else(|| ChainError::Inconsistent("no state after genesis".into()))?;
        let head = load_block(&stores.blocks, head_height).await?.0.header;
        if head.state_root.0 != stores.state.root() {
            return Err(ChainError::Inconsistent(format!(
                "head {head_height} state root differs from the store's"
            )));
        }
        let stored_chain = memstate
            .get(tessera_state::genesis::CHAIN_ID_KEY)
            .cloned()
            .unwrap_or_default();
        if stored_chain != genesis.chain_id.as_str().as_bytes() {
            return Err(ChainError::WrongGenesis {
                expected: genesis.chain_id.to_string(),
                found: String::from_utf8_lossy(&stored_chain).into_owned(),
            });
        }
        let threads = NonZeroUsize::new(config.verify_threads).unwrap_or(NonZeroUsize::MIN);
        let strategy = Rayon::new(threads)
            .map_err(|e| ChainError::Inconsistent(format!("thread pool: {e}")))?;
        let metrics = ChainMetrics::register(&context);
        metrics
            .height
            .set(i64::try_from(head.height).unwrap_or(i64::MAX));
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let (admitted, _) = broadcast::channel(ADMITTED_BUFFER);
        Ok(Chain {
            chain_id: genesis.chain_id.clone(),
            mempool: Mutex::new(Mempool::new(config.mempool)),
            config,
            stores: tokio::sync::RwLock::new(stores),
            steps: tokio::sync::Mutex::new(()),
            state: RwLock::new(memstate),
            head: RwLock::new(head),
            pending: Mutex::new(HashMap::new()),
            events,
            admitted,
            strategy,
            metrics,
            context,
        })
    }

    pub fn chain_id(&self) -> &ChainId {
        &self.chain_id
    }

    pub fn head(&self) -> BlockHeader {
        self.head
            .read()
            .map(|h| h.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Committed>> {
        self.events.subscribe()
    }

    /// Prometheus text of every metric registered under the runtime context.
    pub fn metrics_text(&self) -> String {
        self.context.encode()
    }

    pub fn mempool_len(&self) -> usize {
        self.mempool.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Run `f` over the committed state.
    pub fn with_state<T>(&self, f: impl FnOnce(&Overlay<'_>) -> T) -> Result<T, ChainError> {
        let state = self.state.read().map_err(|_| lock_poisoned())?;
        Ok(f(&Overlay::new(&*state)))
    }

    /// Up to `limit` committed entries whose keys start with `prefix`, in key order.
    pub fn scan(&self, prefix: &[u8], limit: usize) -> Result<Vec<Entry>, ChainError> {
        let state = self.state.read().map_err(|_| lock_poisoned())?;
        Ok(state
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    pub fn params(&self) -> Result<Params, ChainError> {
        Ok(self.with_state(Params::load)??)
    }

    /// The nonce `account`'s next transaction should use: its committed nonce, past the
    /// transactions of it this node's mempool already holds.
    pub fn next_nonce(&self, account: &Address) -> u64 {
        let committed = self
            .with_state(|s| bank::account(s, account).map(|a| a.nonce).unwrap_or(0))
            .unwrap_or(0);
        self.mempool
            .lock()
            .map(|pool| pool.next_nonce(account, committed))
            .unwrap_or(committed)
    }

    /// Transactions this node's clients submit, once admitted (for gossip to peers).
    pub fn subscribe_admitted(&self) -> broadcast::Receiver<SignedTransaction> {
        self.admitted.subscribe()
    }

    /// Admit a transaction from a client to the mempool, and announce to
    /// [`Chain::subscribe_admitted`] subscribers every local transaction that became
    /// ready (this one if it is, and any it unblocked): a transaction behind a nonce gap
    /// is announced only once the gap fills.
    pub fn submit(&self, tx: SignedTransaction) -> Result<Hash, MempoolError> {
        let admitted = self.admit(tx, false, true)?;
        self.announce(admitted.ready_local);
        Ok(admitted.id)
    }

    fn announce(&self, txs: Vec<SignedTransaction>) {
        if self.admitted.receiver_count() == 0 {
            return;
        }
        for tx in txs {
            // No subscriber left is fine: nobody gossips on a dev node.
            let _ = self.admitted.send(tx);
        }
    }

    /// Admit transactions a peer gossiped (not announced again: every peer sends to all),
    /// their signatures verified in one batch. One result per transaction, in order.
    pub fn submit_gossiped(&self, txs: Vec<SignedTransaction>) -> Vec<Result<Hash, MempoolError>> {
        let fresh: Vec<SignedTransaction> = {
            let Ok(pool) = self.mempool.lock() else {
                return vec![Err(MempoolError::Full(0)); txs.len()];
            };
            txs.iter().filter(|tx| !pool.holds(tx)).cloned().collect()
        };
        let all_valid = verify_signatures(&fresh, &self.strategy).is_empty();
        txs.into_iter()
            .map(|tx| {
                let admitted = self.admit(tx, all_valid, false)?;
                self.announce(admitted.ready_local);
                Ok(admitted.id)
            })
            .collect()
    }

    /// `verified`: the signature was checked already; `local`: from this node's client.
    fn admit(
        &self,
        tx: SignedTransaction,
        verified: bool,
        local: bool,
    ) -> Result<Admitted, MempoolError> {
        let state = self.state.read().map_err(|_| MempoolError::Full(0))?;
        let params = Params::load(&Overlay::new(&*state))?;
        let mut pool = self.mempool.lock().map_err(|_| MempoolError::Full(0))?;
        let result = if verified {
            pool.insert_verified(tx, &*state, &params, &self.chain_id, local)
        } else {
            pool.insert(tx, &*state, &params, &self.chain_id, local)
        };
        match &result {
            Ok(_) => {
                self.metrics
                    .mempool
                    .set(i64::try_from(pool.len()).unwrap_or(i64::MAX));
            }
            Err(_) => {
                self.metrics.txs_rejected.inc();
            }
        }
        result
    }

    /// Step 1: build a block on `parent` (the head or a pending block) from the mempool,
    /// as proposed in consensus view `view`. The block is kept as pending until
    /// [`Chain::commit`] finalizes it.
    pub async fn propose(
        &self,
        parent: Hash,
        proposer: Address,
        timestamp_ms: u64,
        view: u64,
    ) -> Result<Block, ChainError> {
        let _step = self.steps.lock().await;
        let stores = self.stores.read().await;
        let base = self.parent_of(parent)?;
        let height = base.header.height.saturating_add(1);
        let candidates = self
            .mempool
            .lock()
            .map_err(|_| lock_poisoned())?
            .candidates(self.config.max_block_txs.min(MAX_BLOCK_TXS));
        let ctx = BlockContext {
            chain_id: self.chain_id.clone(),
            height,
            view,
            proposer,
        };
        let built = {
            let state = self.state.read().map_err(|_| lock_poisoned())?;
            build(&base.view(&state), ctx, candidates)?
        };
        let prepared = base
            .prepare(&stores.state, height, built.outcome.writes.clone())
            .await?;
        let header = BlockHeader {
            chain_id: self.chain_id.clone(),
            height,
            view,
            parent,
            timestamp_ms: timestamp_ms.max(base.header.timestamp_ms),
            proposer,
            txs_root: Block::compute_txs_root(&built.txs),
            receipts_root: built.outcome.receipts.root(),
            state_root: Hash(prepared.root()),
        };
        let block = Block {
            header,
            txs: built.txs,
        };
        self.add_pending(PendingBlock {
            block: block.clone(),
            receipts: built.outcome.receipts,
            writes: built.outcome.writes.into_iter().collect(),
            prepared,
            rejected: built.rejected,
        })?;
        Ok(block)
    }

    /// [`Chain::propose`] with the view a single producer gives the next block
    /// (`staking::epochs::dev_view`): for the dev node and tests.
    pub async fn propose_dev(
        &self,
        parent: Hash,
        proposer: Address,
        timestamp_ms: u64,
    ) -> Result<Block, ChainError> {
        let height = self.parent_of(parent)?.header.height.saturating_add(1);
        let view = tessera_state::staking::epochs::dev_view(height, self.params()?.epoch_blocks);
        self.propose(parent, proposer, timestamp_ms, view).await
    }

    /// Step 2: check a block proposed by someone else by re-executing it on its parent
    /// (the head or a pending block). A valid block is kept as pending.
    pub async fn verify(&self, block: Block) -> Result<(), ChainError> {
        let _step = self.steps.lock().await;
        let stores = self.stores.read().await;
        let hash = block.hash();
        // The header hash covers the body only through the transactions root: a body that
        // does not match says nothing about the block its header names (whoever sent it
        // altered it), so it is told apart from an invalid block.
        if !block.body_matches_header() {
            return Err(ChainError::BodyMismatch {
                height: block.header.height,
                hash,
            });
        }
        if self.pending_block(&hash)?.is_some() {
            return Ok(());
        }
        let base = self.parent_of(block.header.parent)?;
        check_header(&block, &base.header, &self.chain_id)?;
        let header = &block.header;
        let invalid = |reason: String| ChainError::InvalidBlock {
            height: header.height,
            reason,
        };
        // Signatures of transactions this node's mempool holds were verified on admission.
        let unverified: Vec<SignedTransaction> = {
            let pool = self.mempool.lock().map_err(|_| lock_poisoned())?;
            block
                .txs
                .iter()
                .filter(|tx| !pool.holds(tx))
                .cloned()
                .collect()
        };
        let bad = verify_signatures(&unverified, &self.strategy);
        if let Some(first) = bad.first().and_then(|i| unverified.get(*i)) {
            return Err(invalid(format!(
                "{} bad signatures, first in transaction {}",
                bad.len(),
                first.id()
            )));
        }
        let ctx = BlockContext {
            chain_id: self.chain_id.clone(),
            height: header.height,
            view: header.view,
            proposer: header.proposer,
        };
        let outcome = {
            let state = self.state.read().map_err(|_| lock_poisoned())?;
            execute_all(&base.view(&state), ctx, &block.txs).map_err(|e| invalid(e.to_string()))?
        };
        if outcome.receipts.root() != header.receipts_root {
            return Err(invalid("receipts root does not match".into()));
        }
        let prepared = base
            .prepare(&stores.state, header.height, outcome.writes.clone())
            .await?;
        if prepared.root() != header.state_root.0 {
            return Err(invalid("state root does not match".into()));
        }
        self.add_pending(PendingBlock {
            block,
            receipts: outcome.receipts,
            writes: outcome.writes.into_iter().collect(),
            prepared,
            rejected: Vec::new(),
        })
    }

    /// Step 3: finalize the pending block `hash`, which must extend the head: persist
    /// it (block first, then state), make it the head, drop the forks it defeats.
    pub async fn commit(&self, hash: Hash) -> Result<Arc<Committed>, ChainError> {
        let _step = self.steps.lock().await;
        let mut stores = self.stores.write().await;
        let head = self.head();
        let pending = self
            .pending_block(&hash)?
            .ok_or(ChainError::UnknownBlock(hash))?;
        let block = &pending.block;
        let height = block.header.height;
        if block.header.parent != head.hash() {
            return Err(ChainError::NotNext {
                height,
                head: head.height,
            });
        }
        let tx_ids: Vec<[u8; 32]> = block.txs.iter().map(|t| t.id().0).collect();
        let receipts_bytes = pending.receipts.to_bytes();
        stores
            .blocks
            .put(height, hash.0, block.to_bytes(), receipts_bytes, tx_ids)
            .await?;
        stores.state.commit(pending.prepared.clone()).await?;
        if height % PRUNE_EVERY_BLOCKS == 0 {
            stores.state.prune().await?;
        }
        self.apply_committed(&pending)?;
        drop(stores);
        self.record_metrics(block, &pending.receipts, pending.rejected.len());
        let committed = Arc::new(Committed {
            block: block.clone(),
            receipts: pending.receipts.clone(),
        });
        let _ = self.events.send(committed.clone());
        Ok(committed)
    }

    /// Verify (if not already pending) and commit a block known to be final, e.g. one
    /// fetched from peers while catching up.
    pub async fn commit_finalized(&self, block: Block) -> Result<Arc<Committed>, ChainError> {
        let hash = block.hash();
        self.verify(block).await?;
        self.commit(hash).await
    }

    /// Update the in-memory state, head, mempool and pending tree after a commit.
    fn apply_committed(&self, pending: &PendingBlock) -> Result<(), ChainError> {
        let mut state = self.state.write().map_err(|_| lock_poisoned())?;
        for (key, value) in &pending.writes {
            match value {
                Some(v) => state.insert(key.clone(), v.clone()),
                None => state.remove(key),
            };
        }
        let mut pool = self.mempool.lock().map_err(|_| lock_poisoned())?;
        // Included transactions leave with their nonces (`on_commit`), so the ready runs
        // they started are not mistaken for newly ready ones.
        for (id, reason) in &pending.rejected {
            pool.remove(id, Some(reason.clone()));
        }
        let view = Overlay::new(&*state);
        let ready = pool.on_commit(pending.block.header.height, |addr| {
            bank::account(&view, addr).map(|a| a.nonce).unwrap_or(0)
        });
        drop(view);
        self.announce(ready);
        self.metrics
            .mempool
            .set(i64::try_from(pool.len()).unwrap_or(i64::MAX));
        let header = pending.block.header.clone();
        let head_hash = header.hash();
        *self.head.write().map_err(|_| lock_poisoned())? = header;
        let mut tree = self.pending.lock().map_err(|_| lock_poisoned())?;
        prune_pending(&mut tree, pending.block.header.height, head_hash);
        Ok(())
    }

    fn pending_block(&self, hash: &Hash) -> Result<Option<Arc<PendingBlock>>, ChainError> {
        Ok(self
            .pending
            .lock()
            .map_err(|_| lock_poisoned())?
            .get(hash)
            .cloned())
    }

    fn add_pending(&self, block: PendingBlock) -> Result<(), ChainError> {
        let mut tree = self.pending.lock().map_err(|_| lock_poisoned())?;
        if tree.len() >= MAX_PENDING_BLOCKS {
            return Err(ChainError::TooManyPending(MAX_PENDING_BLOCKS));
        }
        tree.insert(block.block.hash(), Arc::new(block));
        Ok(())
    }

    /// The state a child of `parent` executes on: the head, or a pending block with its
    /// pending ancestors back to the head.
    fn parent_of(&self, parent: Hash) -> Result<ParentState, ChainError> {
        let head = self.head();
        let head_hash = head.hash();
        if parent == head_hash {
            return Ok(ParentState {
                header: head,
                chain: Vec::new(),
            });
        }
        let tree = self.pending.lock().map_err(|_| lock_poisoned())?;
        let mut chain = Vec::new();
        let mut cursor = parent;
        while cursor != head_hash {
            let block = tree.get(&cursor).ok_or(ChainError::UnknownParent(parent))?;
            cursor = block.block.header.parent;
            chain.push(block.clone());
            if chain.len() > MAX_PENDING_DEPTH {
                return Err(ChainError::UnknownParent(parent));
            }
        }
        let header = chain
            .first()
            .map(|b| b.block.header.clone())
            .ok_or(ChainError::UnknownParent(parent))?;
        Ok(ParentState { header, chain })
    }

    fn record_metrics(&self, block: &Block, receipts: &BlockReceipts, rejected: usize) {
        self.metrics.blocks.inc();
        self.metrics
            .txs
            .inc_by(u64::try_from(block.txs.len()).unwrap_or(u64::MAX));
        let failed = receipts
            .txs
            .iter()
            .filter(|r| matches!(r.status, tessera_types::TxStatus::Failed(_)))
            .count();
        self.metrics
            .txs_failed
            .inc_by(u64::try_from(failed).unwrap_or(u64::MAX));
        self.metrics
            .txs_rejected
            .inc_by(u64::try_from(rejected).unwrap_or(u64::MAX));
        self.metrics
            .height
            .set(i64::try_from(block.header.height).unwrap_or(i64::MAX));
    }

    /// A committed block and its receipts.
    pub async fn block(&self, height: u64) -> Result<Option<(Block, BlockReceipts)>, ChainError> {
        let stores = self.stores.read().await;
        match stores.blocks.by_height(height).await? {
            Some(stored) => Ok(Some(decode_stored(&stored.block, &stored.receipts)?)),
            None => Ok(None),
        }
    }

    pub async fn block_by_hash(
        &self,
        hash: Hash,
    ) -> Result<Option<(Block, BlockReceipts)>, ChainError> {
        let stores = self.stores.read().await;
        match stores.blocks.by_hash(hash.0).await? {
            Some(stored) => Ok(Some(decode_stored(&stored.block, &stored.receipts)?)),
            None => Ok(None),
        }
    }

    pub async fn lookup_tx(&self, id: Hash) -> Result<TxLookup, ChainError> {
        let location = self.stores.read().await.blocks.tx_location(id.0).await?;
        if let Some((height, index)) = location {
            let (block, receipts) = self.block(height).await?.ok_or_else(|| {
                ChainError::Inconsistent(format!("tx index points at missing block {height}"))
            })?;
            let i = usize::try_from(index).unwrap_or(usize::MAX);
            let (Some(tx), Some(receipt)) = (block.txs.get(i), receipts.txs.get(i)) else {
                return Err(ChainError::Inconsistent(format!(
                    "tx index {index} outside block {height}"
                )));
            };
            return Ok(TxLookup::Committed {
                height,
                index,
                block: block.hash(),
                tx: Box::new(tx.clone()),
                receipt: Box::new(receipt.clone()),
            });
        }
        let pool = self.mempool.lock().map_err(|_| lock_poisoned())?;
        Ok(if pool.contains(&id) {
            TxLookup::Pending
        } else if let Some(reason) = pool.rejection(&id) {
            TxLookup::Rejected(reason.to_string())
        } else {
            TxLookup::Unknown
        })
    }

    /// A state entry with its proof against the head's state root, atomically.
    pub async fn prove(&self, key: &[u8]) -> Result<(BlockHeader, StateProof), ChainError> {
        let (head, mut proofs) = self.prove_many(&[key]).await?;
        let proof = proofs
            .pop()
            .ok_or_else(|| ChainError::Inconsistent("no proof returned".into()))?;
        Ok((head, proof))
    }

    /// Proofs of several entries against one head, atomically (no commit in between).
    pub async fn prove_many(
        &self,
        keys: &[&[u8]],
    ) -> Result<(BlockHeader, Vec<StateProof>), ChainError> {
        let stores = self.stores.read().await;
        let mut proofs = Vec::with_capacity(keys.len());
        for key in keys {
            proofs.push(stores.state.prove(key).await?);
        }
        Ok((self.head(), proofs))
    }

    /// Flush everything for a clean shutdown.
    pub async fn close(&self) -> Result<(), ChainError> {
        self.stores.write().await.state.sync().await?;
        Ok(())
    }
}

/// What the builder made of the mempool's candidates.
struct Built {
    txs: Vec<SignedTransaction>,
    outcome: BlockOutcome,
    rejected: Vec<(Hash, String)>,
}

/// Execute candidates, skipping (and reporting) those the state rejects.
fn build(
    state: &dyn StateView,
    ctx: BlockContext,
    candidates: Vec<SignedTransaction>,
) -> Result<Built, ChainError> {
    let mut exec = Executor::new(state, ctx)?;
    let mut included = Vec::with_capacity(candidates.len());
    let mut rejected = Vec::new();
    for tx in candidates {
        match exec.apply(&tx) {
            Ok(_) => included.push(tx),
            // A gap in this account's nonces: keep it for a later block. A stale nonce is
            // a transaction already in a pending ancestor: it leaves the pool on commit.
            Err(StateError::FutureNonce { .. } | StateError::StaleNonce { .. }) => {}
            Err(e) => rejected.push((tx.id(), e.to_string())),
        }
    }
    Ok(Built {
        txs: included,
        outcome: exec.finish()?,
        rejected,
    })
}

/// Execute every transaction; any rejection makes the block invalid.
fn execute_all(
    state: &dyn StateView,
    ctx: BlockContext,
    txs: &[SignedTransaction],
) -> Result<BlockOutcome, StateError> {
    let mut exec = Executor::new(state, ctx)?;
    for tx in txs {
        exec.apply(tx)?;
    }
    exec.finish()
}

fn decode_stored(block: &[u8], receipts: &[u8]) -> Result<(Block, BlockReceipts), ChainError> {
    let block = Block::from_bytes(block)
        .map_err(|e| ChainError::Inconsistent(format!("stored block: {e}")))?;
    let receipts = BlockReceipts::from_bytes(receipts)
        .map_err(|e| ChainError::Inconsistent(format!("stored receipts: {e}")))?;
    Ok((block, receipts))
}

async fn load_block<E: StoreContext>(
    blocks: &BlockStore<E>,
    height: u64,
) -> Result<(Block, BlockReceipts), ChainError> {
    let stored = blocks
        .by_height(height)
        .await?
        .ok_or_else(|| ChainError::Inconsistent(format!("block {height} is missing")))?;
    decode_stored(&stored.block, &stored.receipts)
}

/// Bring the two stores to the same height (see the store's recovery contract).
async fn recover<E: StoreContext>(
    stores: &mut Stores<E>,
    genesis: &Genesis,
) -> Result<(), ChainError> {
    let state_height = stores.state.height();
    match (stores.blocks.latest(), state_height) {
        (None, None) => init_genesis(stores, genesis).await,
        (Some(0), None) => {
            // Crashed after storing block 0 but before its state: redo genesis state.
            let header = load_block(&stores.blocks, 0).await?.0.header;
            let prepared = stores.state.prepare(0, genesis.build()?).await?;
            if prepared.root() != header.state_root.0 {
                return Err(ChainError::WrongGenesis {
                    expected: genesis.chain_id.to_string(),
                    found: "a different genesis".into(),
                });
            }
            stores.state.commit(prepared).await?;
            Ok(())
        }
        (Some(b), Some(s)) if b == s => Ok(()),
        (Some(b), Some(s)) if b == s.saturating_add(1) => replay(stores, b).await,
        (b, s) => Err(ChainError::Inconsistent(format!(
            "block store at {b:?}, state store at {s:?}"
        ))),
    }
}

async fn init_genesis<E: StoreContext>(
    stores: &mut Stores<E>,
    genesis: &Genesis,
) -> Result<(), ChainError> {
    let prepared = stores.state.prepare(0, genesis.build()?).await?;
    let receipts = BlockReceipts::default();
    let header = BlockHeader {
        chain_id: genesis.chain_id.clone(),
        height: 0,
        view: 0,
        parent: Hash::ZERO,
        timestamp_ms: genesis.genesis_time_ms,
        proposer: Address([0; 32]),
        txs_root: Block::compute_txs_root(&[]),
        receipts_root: receipts.root(),
        state_root: Hash(prepared.root()),
    };
    let block = Block {
        header,
        txs: Vec::new(),
    };
    stores
        .blocks
        .put(
            0,
            block.hash().0,
            block.to_bytes(),
            receipts.to_bytes(),
            Vec::new(),
        )
        .await?;
    stores.state.commit(prepared).await?;
    Ok(())
}

/// Re-execute a stored block whose state commit was lost in a crash.
async fn replay<E: StoreContext>(stores: &mut Stores<E>, height: u64) -> Result<(), ChainError> {
    let (block, _) = load_block(&stores.blocks, height).await?;
    let memstate: MemState = stores.state.entries().await?.into_iter().collect();
    let ctx = BlockContext {
        chain_id: block.header.chain_id.clone(),
        height,
        view: block.header.view,
        proposer: block.header.proposer,
    };
    let outcome = execute_all(&memstate, ctx, &block.txs)?;
    let prepared = stores.state.prepare(height, outcome.writes).await?;
    if prepared.root() != block.header.state_root.0 {
        return Err(ChainError::Inconsistent(format!(
            "replaying block {height} gave a different state root"
        )));
    }
    stores.state.commit(prepared).await?;
    tracing::info!(height, "recovered: re-executed the last stored block");
    Ok(())
}

/// Checks of a block's header against its parent's.
fn check_header(block: &Block, parent: &BlockHeader, chain_id: &ChainId) -> Result<(), ChainError> {
    let header = &block.header;
    let invalid = |reason: String| ChainError::InvalidBlock {
        height: header.height,
        reason,
    };
    if header.height != parent.height.saturating_add(1) {
        return Err(invalid(format!(
            "height is not its parent's {} + 1",
            parent.height
        )));
    }
    if &header.chain_id != chain_id {
        return Err(invalid(format!(
            "chain id {} is not {chain_id}",
            header.chain_id
        )));
    }
    if header.timestamp_ms < parent.timestamp_ms {
        return Err(invalid("timestamp goes backwards".into()));
    }
    Ok(())
}

/// After committing `height`: drop pending blocks at or below it and every block whose
/// ancestry no longer reaches the head (losing forks).
fn prune_pending(tree: &mut HashMap<Hash, Arc<PendingBlock>>, height: u64, head: Hash) {
    tree.retain(|_, b| b.block.header.height > height);
    loop {
        let orphans: Vec<Hash> = tree
            .iter()
            .filter(|(_, b)| {
                b.block.header.parent != head && !tree.contains_key(&b.block.header.parent)
            })
            .map(|(h, _)| *h)
            .collect();
        if orphans.is_empty() {
            return;
        }
        for hash in orphans {
            tree.remove(&hash);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genesis::{dev_genesis, dev_key};
    use commonware_runtime::{deterministic, Clock as _, Runner as _};
    use std::time::Duration;

    /// An API read in progress (a block, a proof) shares the stores: the steps a
    /// validator must finish within its leader timeout run beside it, and the commit
    /// waits only for reads already under way.
    #[test]
    fn steps_run_while_a_read_holds_the_stores() {
        deterministic::Runner::default().start(|context| async move {
            let config = ChainConfig {
                verify_threads: 1,
                partition_prefix: "reads".into(),
                ..ChainConfig::default()
            };
            let chain = Chain::open(context.child("chain"), &dev_genesis(1_000, &[]), config)
                .await
                .unwrap();
            let reading = chain.stores.read().await;
            let propose = chain.propose_dev(chain.head().hash(), dev_key(0).address(), 1);
            let block = tokio::select! {
                block = propose => block.unwrap(),
                _ = context.sleep(Duration::from_secs(60)) => {
                    panic!("propose waited for a reader")
                }
            };
            let second_read = chain.block(0);
            tokio::select! {
                found = second_read => assert!(found.unwrap().is_some()),
                _ = context.sleep(Duration::from_secs(60)) => panic!("readers waited for a reader"),
            }
            drop(reading);
            chain.commit(block.hash()).await.unwrap();
            assert_eq!(chain.head().height, 1);
        });
    }
}
