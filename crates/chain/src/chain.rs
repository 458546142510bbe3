//! [`Chain`]: the node's ledger — stores, in-memory state, head and mempool — and the
//! three steps (propose, verify, commit) that drivers call.

use crate::{mempool::Mempool, ChainError, MempoolError, MempoolLimits};
use commonware_parallel::Rayon;
use commonware_runtime::{
    telemetry::metrics::{raw, Counter, Gauge},
    Metrics, Supervisor,
};
use std::{
    num::NonZeroUsize,
    sync::{Arc, Mutex, RwLock},
};
use tessera_state::{
    bank, BlockContext, BlockOutcome, Executor, Genesis, MemState, Overlay, Params, StateError,
    Write,
};
use tessera_store::{
    BlockConfig, BlockStore, Prepared, StateConfig, StateProof, StateStore, StoreContext,
};
use tessera_types::{
    tx::verify_signatures, Address, Block, BlockHeader, BlockReceipts, ChainId, Hash, Receipt,
    SignedTransaction, MAX_BLOCK_TXS,
};
use tokio::sync::broadcast;

/// Blocks between two prunings of the state store's operation log.
const PRUNE_EVERY_BLOCKS: u64 = 256;
/// Committed blocks buffered for slow event subscribers before they miss some.
const EVENT_BUFFER: usize = 1_024;

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

/// A block with everything needed to commit it: built by [`Chain::propose`] or
/// checked by [`Chain::verify`].
pub struct Proposal {
    pub block: Block,
    pub receipts: BlockReceipts,
    writes: Vec<Write>,
    prepared: Prepared,
    /// Transactions the builder dropped, with the reason.
    pub rejected: Vec<(Hash, String)>,
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
    stores: tokio::sync::Mutex<Stores<E>>,
    state: RwLock<MemState>,
    head: RwLock<BlockHeader>,
    mempool: Mutex<Mempool>,
    events: broadcast::Sender<Arc<Committed>>,
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
        Ok(Chain {
            chain_id: genesis.chain_id.clone(),
            mempool: Mutex::new(Mempool::new(config.mempool)),
            config,
            stores: tokio::sync::Mutex::new(stores),
            state: RwLock::new(memstate),
            head: RwLock::new(head),
            events,
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

    pub fn params(&self) -> Result<Params, ChainError> {
        Ok(self.with_state(Params::load)??)
    }

    /// Admit a transaction to the mempool.
    pub fn submit(&self, tx: SignedTransaction) -> Result<Hash, MempoolError> {
        let state = self.state.read().map_err(|_| MempoolError::Full(0))?;
        let params = Params::load(&Overlay::new(&*state))?;
        let mut pool = self.mempool.lock().map_err(|_| MempoolError::Full(0))?;
        let result = pool.insert(tx, &*state, &params, &self.chain_id);
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

    /// Step 1: build the next block from the mempool.
    pub async fn propose(
        &self,
        proposer: Address,
        timestamp_ms: u64,
    ) -> Result<Proposal, ChainError> {
        let stores = self.stores.lock().await;
        let head = self.head();
        let candidates = self
            .mempool
            .lock()
            .map_err(|_| lock_poisoned())?
            .candidates(self.config.max_block_txs.min(MAX_BLOCK_TXS));
        let height = head.height.saturating_add(1);
        let ctx = BlockContext {
            chain_id: self.chain_id.clone(),
            height,
            proposer,
        };
        let Built {
            txs,
            outcome,
            rejected,
        } = {
            let state = self.state.read().map_err(|_| lock_poisoned())?;
            build(&state, ctx, candidates)?
        };
        let prepared = stores.state.prepare(height, outcome.writes.clone()).await?;
        let header = BlockHeader {
            chain_id: self.chain_id.clone(),
            height,
            parent: head.hash(),
            timestamp_ms: timestamp_ms.max(head.timestamp_ms),
            proposer,
            txs_root: Block::compute_txs_root(&txs),
            receipts_root: outcome.receipts.root(),
            state_root: Hash(prepared.root()),
        };
        Ok(Proposal {
            block: Block { header, txs },
            receipts: outcome.receipts,
            writes: outcome.writes,
            prepared,
            rejected,
        })
    }

    /// Step 2: check a block proposed by someone else by re-executing it.
    pub async fn verify(&self, block: Block) -> Result<Proposal, ChainError> {
        let stores = self.stores.lock().await;
        let head = self.head();
        let header = &block.header;
        let invalid = |reason: String| ChainError::InvalidBlock {
            height: header.height,
            reason,
        };
        if header.height != head.height.saturating_add(1) {
            return Err(ChainError::NotNext {
                height: header.height,
                head: head.height,
            });
        }
        if header.chain_id != self.chain_id {
            return Err(invalid(format!(
                "chain id {} is not {}",
                header.chain_id, self.chain_id
            )));
        }
        if header.parent != head.hash() {
            return Err(invalid("parent is not the head".into()));
        }
        if header.timestamp_ms < head.timestamp_ms {
            return Err(invalid("timestamp goes backwards".into()));
        }
        if Block::compute_txs_root(&block.txs) != header.txs_root {
            return Err(invalid("transactions root does not match".into()));
        }
        let bad = verify_signatures(&block.txs, &self.strategy);
        if let Some(first) = bad.first() {
            return Err(invalid(format!(
                "{} bad signatures, first at index {first}",
                bad.len()
            )));
        }
        let ctx = BlockContext {
            chain_id: self.chain_id.clone(),
            height: header.height,
            proposer: header.proposer,
        };
        let outcome = {
            let state = self.state.read().map_err(|_| lock_poisoned())?;
            execute_all(&state, ctx, &block.txs).map_err(|e| invalid(e.to_string()))?
        };
        if outcome.receipts.root() != header.receipts_root {
            return Err(invalid("receipts root does not match".into()));
        }
        let prepared = stores
            .state
            .prepare(header.height, outcome.writes.clone())
            .await?;
        if prepared.root() != header.state_root.0 {
            return Err(invalid("state root does not match".into()));
        }
        Ok(Proposal {
            block,
            receipts: outcome.receipts,
            writes: outcome.writes,
            prepared,
            rejected: Vec::new(),
        })
    }

    /// Step 3: persist a finalized block and make it the head.
    pub async fn commit(&self, proposal: Proposal) -> Result<Arc<Committed>, ChainError> {
        let mut stores = self.stores.lock().await;
        let head = self.head();
        let Proposal {
            block,
            receipts,
            writes,
            prepared,
            rejected,
        } = proposal;
        let height = block.header.height;
        if height != head.height.saturating_add(1) || block.header.parent != head.hash() {
            return Err(ChainError::NotNext {
                height,
                head: head.height,
            });
        }
        let tx_ids: Vec<[u8; 32]> = block.txs.iter().map(|t| t.id().0).collect();
        stores
            .blocks
            .put(
                height,
                block.hash().0,
                block.to_bytes(),
                receipts.to_bytes(),
                tx_ids,
            )
            .await?;
        stores.state.commit(prepared).await?;
        if height % PRUNE_EVERY_BLOCKS == 0 {
            stores.state.prune().await?;
        }
        {
            let mut state = self.state.write().map_err(|_| lock_poisoned())?;
            for (key, value) in writes {
                match value {
                    Some(v) => state.insert(key, v),
                    None => state.remove(&key),
                };
            }
            let mut pool = self.mempool.lock().map_err(|_| lock_poisoned())?;
            for tx in &block.txs {
                pool.remove(&tx.id(), None);
            }
            for (id, reason) in &rejected {
                pool.remove(id, Some(reason.clone()));
            }
            let view = Overlay::new(&*state);
            pool.prune_nonces(|addr| bank::account(&view, addr).map(|a| a.nonce).unwrap_or(0));
            self.metrics
                .mempool
                .set(i64::try_from(pool.len()).unwrap_or(i64::MAX));
            *self.head.write().map_err(|_| lock_poisoned())? = block.header.clone();
        }
        drop(stores);
        self.record_metrics(&block, &receipts, rejected.len());
        let committed = Arc::new(Committed { block, receipts });
        let _ = self.events.send(committed.clone());
        Ok(committed)
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
        let stores = self.stores.lock().await;
        match stores.blocks.by_height(height).await? {
            Some(stored) => Ok(Some(decode_stored(&stored.block, &stored.receipts)?)),
            None => Ok(None),
        }
    }

    pub async fn block_by_hash(
        &self,
        hash: Hash,
    ) -> Result<Option<(Block, BlockReceipts)>, ChainError> {
        let stores = self.stores.lock().await;
        match stores.blocks.by_hash(hash.0).await? {
            Some(stored) => Ok(Some(decode_stored(&stored.block, &stored.receipts)?)),
            None => Ok(None),
        }
    }

    pub async fn lookup_tx(&self, id: Hash) -> Result<TxLookup, ChainError> {
        let location = self.stores.lock().await.blocks.tx_location(id.0).await?;
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
        let stores = self.stores.lock().await;
        let mut proofs = Vec::with_capacity(keys.len());
        for key in keys {
            proofs.push(stores.state.prove(key).await?);
        }
        Ok((self.head(), proofs))
    }

    /// Flush everything for a clean shutdown.
    pub async fn close(&self) -> Result<(), ChainError> {
        self.stores.lock().await.state.sync().await?;
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
    state: &MemState,
    ctx: BlockContext,
    candidates: Vec<SignedTransaction>,
) -> Result<Built, ChainError> {
    let mut exec = Executor::new(state, ctx)?;
    let mut included = Vec::with_capacity(candidates.len());
    let mut rejected = Vec::new();
    for tx in candidates {
        match exec.apply(&tx) {
            Ok(_) => included.push(tx),
            // A gap in this account's nonces: keep it pending for a later block.
            Err(StateError::FutureNonce { .. }) => {}
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
    state: &MemState,
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
