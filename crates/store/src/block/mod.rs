//! The finalized-block archive (by height and by hash) and the transaction index, on two
//! `commonware-storage` archives.
//!
//! * `blocks` (immutable archive: on-disk hash table, little memory, one put per block):
//!   index = height, key = block hash, value = [StoredBlock] + first tx number.
//! * `txs` (prunable archive: buffered appends, an in-memory index of ~30 bytes per
//!   transaction, rebuilt at open): index = global transaction number, key = tx hash,
//!   value = `(height, position)`. An on-disk hash table here would cost two random I/Os per
//!   transaction on every put.
//!
//! `put` syncs `blocks` before writing `txs`, so a crash can leave only the newest block's
//! tx entries missing; `open` re-indexes that block (archive puts at an existing index are
//! no-ops, which makes the repair idempotent).

mod record;

pub use record::StoredBlock;

use crate::{BlockConfig, BlockLimits, HexHash, StoreContext, StoreError};
use commonware_runtime::buffer::paged::CacheRef;
use commonware_storage::{
    archive::{
        self,
        immutable::{self, Archive},
        prunable, Archive as _, Identifier,
    },
    translator::EightCap,
};
use commonware_utils::sequence::FixedBytes;
use record::BlockRecord;

type Key = FixedBytes<32>;
type TxLocation = (u64, u32);
type TxArchive<E> = prunable::Archive<EightCap, E, Key, TxLocation>;

/// Finalized blocks, their receipts, and where each transaction landed.
pub struct BlockStore<E: StoreContext> {
    /// `None` once a mutation failed part-way (archives consume their handle on error).
    archives: Option<Archives<E>>,
    partition: String,
    limits: BlockLimits,
    latest: Option<u64>,
    /// Global number of the next transaction to index.
    next_tx: u64,
}

struct Archives<E: StoreContext> {
    blocks: Archive<E, Key, BlockRecord>,
    txs: TxArchive<E>,
}

impl<E: StoreContext> BlockStore<E> {
    /// Open (or create) the store and finish indexing the newest block if a crash
    /// interrupted it.
    pub async fn open(context: E, config: BlockConfig) -> Result<Self, StoreError> {
        config.validate()?;
        let partition = config.partition_prefix.clone();
        let cache = config.page_cache();
        let blocks = Archive::init(context.child("blocks"), blocks_config(&config, &cache))
            .await
            .map_err(|e| archive_error(&partition, "open blocks", e))?;
        let txs = TxArchive::init(context.child("txs"), txs_config(&config, &cache))
            .await
            .map_err(|e| archive_error(&partition, "open txs", e))?;
        let mut store = Self {
            latest: blocks.last_index(),
            archives: Some(Archives { blocks, txs }),
            partition,
            limits: config.limits,
            next_tx: 0,
        };
        store.check_contiguous()?;
        store.recover_tx_index().await?;
        Ok(store)
    }

    /// The highest stored height; `None` when empty.
    pub fn latest(&self) -> Option<u64> {
        self.latest
    }

    /// Store block `height` durably (synced when this returns).
    ///
    /// `height` must be `latest() + 1` (any height for the first block). Putting a stored
    /// height again with the same hash is a no-op; with another hash it is an error.
    pub async fn put(
        &mut self,
        height: u64,
        hash: [u8; 32],
        block: Vec<u8>,
        receipts: Vec<u8>,
        tx_hashes: Vec<[u8; 32]>,
    ) -> Result<(), StoreError> {
        let block = StoredBlock {
            height,
            hash,
            block,
            receipts,
            tx_hashes,
        };
        self.check_limits(&block)?;
        if self.already_stored(height, hash).await? {
            return Ok(());
        }
        let record = BlockRecord {
            block,
            first_tx: self.next_tx,
        };
        let archives = self.take_archives()?;
        let blocks = archives
            .blocks
            .put_sync(height, Key::new(hash), &record)
            .await
            .map_err(|e| self.error("put block", e))?;
        let txs = self.index_txs(archives.txs, &record).await?;
        self.archives = Some(Archives { blocks, txs });
        self.latest = Some(height);
        self.next_tx = next_tx(&record);
        Ok(())
    }

    /// The block at height `height`, if stored.
    pub async fn by_height(&self, height: u64) -> Result<Option<StoredBlock>, StoreError> {
        let found = self.archives()?.blocks.get(Identifier::Index(height)).await;
        let record = found.map_err(|e| self.error("get block", e))?;
        record
            .map(|r| self.checked(r, |b| b.height == height))
            .transpose()
    }

    /// The block with hash `hash`, if stored.
    pub async fn by_hash(&self, hash: [u8; 32]) -> Result<Option<StoredBlock>, StoreError> {
        let key = Key::new(hash);
        let found = self.archives()?.blocks.get(Identifier::Key(&key)).await;
        let record = found.map_err(|e| self.error("get block", e))?;
        record
            .map(|r| self.checked(r, |b| b.hash == hash))
            .transpose()
    }

    /// Where transaction `tx_hash` landed: `(height, position in the block)`. If the same
    /// hash was stored more than once, one of its locations.
    pub async fn tx_location(&self, tx_hash: [u8; 32]) -> Result<Option<(u64, u32)>, StoreError> {
        let key = Key::new(tx_hash);
        let found = self.archives()?.txs.get(Identifier::Key(&key)).await;
        let location = found.map_err(|e| self.error("get tx", e))?;
        match (location, self.latest) {
            (Some((height, _)), Some(latest)) if height > latest => Err(self.corrupt(format!(
                "tx {} indexed at height {height} above the latest block {latest}",
                HexHash(tx_hash)
            ))),
            (location, _) => Ok(location),
        }
    }

    /// Whether `height` is stored with `hash` (then `put` is a no-op); errors if the height
    /// is stored with another hash or does not follow `latest`.
    async fn already_stored(&self, height: u64, hash: [u8; 32]) -> Result<bool, StoreError> {
        let Some(latest) = self.latest else {
            return Ok(false);
        };
        if height > latest {
            let expected = latest.saturating_add(1);
            return match height == expected {
                true => Ok(false),
                false => Err(StoreError::BlockHeight {
                    expected,
                    got: height,
                }),
            };
        }
        match self.by_height(height).await? {
            Some(stored) if stored.hash == hash => Ok(true),
            Some(stored) => Err(StoreError::BlockConflict {
                height,
                stored: HexHash(stored.hash),
                got: HexHash(hash),
            }),
            None => Err(StoreError::BlockHeight {
                expected: latest.saturating_add(1),
                got: height,
            }),
        }
    }

    /// Write (and sync) the tx index entries of `record`. Entries already present are kept.
    async fn index_txs(
        &self,
        mut txs: TxArchive<E>,
        record: &BlockRecord,
    ) -> Result<TxArchive<E>, StoreError> {
        let height = record.block.height;
        for (number, (position, tx_hash)) in
            (record.first_tx..).zip(record.block.tx_hashes.iter().enumerate())
        {
            let position = u32::try_from(position)
                .map_err(|_| self.corrupt("block position overflows u32".into()))?;
            txs = txs
                .put(number, Key::new(*tx_hash), &(height, position))
                .await
                .map_err(|e| self.error("put tx", e))?;
        }
        txs.sync().await.map_err(|e| self.error("sync txs", e))
    }

    /// Re-index the newest block's transactions and restore the tx counter.
    async fn recover_tx_index(&mut self) -> Result<(), StoreError> {
        let Some(latest) = self.latest else {
            return Ok(());
        };
        let found = self.archives()?.blocks.get(Identifier::Index(latest)).await;
        let record = found
            .map_err(|e| self.error("get block", e))?
            .ok_or_else(|| self.corrupt(format!("latest block {latest} is missing")))?;
        let archives = self.take_archives()?;
        let txs = self.index_txs(archives.txs, &record).await?;
        self.archives = Some(Archives {
            blocks: archives.blocks,
            txs,
        });
        self.next_tx = next_tx(&record);
        self.check_tx_count()
    }

    /// The tx index must hold exactly the transactions of the stored blocks.
    fn check_tx_count(&self) -> Result<(), StoreError> {
        let indexed = self
            .archives()?
            .txs
            .last_index()
            .map_or(0, |i| i.saturating_add(1));
        match indexed == self.next_tx {
            true => Ok(()),
            false => Err(self.corrupt(format!(
                "tx index holds {indexed} transactions, the blocks {}",
                self.next_tx
            ))),
        }
    }

    fn check_contiguous(&self) -> Result<(), StoreError> {
        let ranges: Vec<(u64, u64)> = self.archives()?.blocks.ranges().collect();
        if ranges.len() > 1 {
            return Err(self.corrupt(format!("stored heights have gaps: {ranges:?}")));
        }
        Ok(())
    }

    fn check_limits(&self, block: &StoredBlock) -> Result<(), StoreError> {
        let limits = self.limits;
        let checks = [
            ("block bytes", block.block.len(), limits.max_block_bytes),
            (
                "receipts bytes",
                block.receipts.len(),
                limits.max_receipts_bytes,
            ),
            ("transaction count", block.tx_hashes.len(), limits.max_txs),
        ];
        match checks.into_iter().find(|(_, len, max)| len > max) {
            Some((what, len, max)) => Err(StoreError::BlockTooLarge {
                height: block.height,
                what,
                len,
                max,
            }),
            None => Ok(()),
        }
    }

    /// Unwrap a record read back, asserting it is the one asked for.
    fn checked(
        &self,
        record: BlockRecord,
        matches: impl FnOnce(&StoredBlock) -> bool,
    ) -> Result<StoredBlock, StoreError> {
        match matches(&record.block) {
            true => Ok(record.block),
            false => Err(self.corrupt(format!(
                "record for height {} / hash {} returned for another query",
                record.block.height,
                HexHash(record.block.hash)
            ))),
        }
    }

    fn archives(&self) -> Result<&Archives<E>, StoreError> {
        self.archives.as_ref().ok_or_else(|| self.closed())
    }

    fn take_archives(&mut self) -> Result<Archives<E>, StoreError> {
        self.archives.take().ok_or_else(|| self.closed())
    }

    fn closed(&self) -> StoreError {
        StoreError::Closed {
            store: "block",
            partition: self.partition.clone(),
        }
    }

    fn corrupt(&self, what: String) -> StoreError {
        StoreError::Corrupt {
            partition: self.partition.clone(),
            what,
        }
    }

    fn error(&self, op: &'static str, source: archive::Error) -> StoreError {
        archive_error(&self.partition, op, source)
    }
}

fn next_tx(record: &BlockRecord) -> u64 {
    let count = u64::try_from(record.block.tx_hashes.len()).unwrap_or(u64::MAX);
    record.first_tx.saturating_add(count)
}

fn archive_error(partition: &str, op: &'static str, source: archive::Error) -> StoreError {
    StoreError::Archive {
        partition: partition.to_string(),
        op,
        source: Box::new(source),
    }
}

fn blocks_config(config: &BlockConfig, cache: &CacheRef) -> immutable::Config<BlockLimits> {
    let prefix = format!("{}-blocks", config.partition_prefix);
    immutable::Config {
        metadata_partition: format!("{prefix}-meta"),
        freezer_table_partition: format!("{prefix}-table"),
        freezer_table_initial_size: config.table_initial_size,
        freezer_table_resize_frequency: 4,
        freezer_table_resize_chunk_size: 16_384,
        freezer_key_partition: format!("{prefix}-key"),
        freezer_key_page_cache: cache.clone(),
        freezer_value_partition: format!("{prefix}-value"),
        freezer_value_target_size: 128 << 20,
        freezer_value_compression: None,
        ordinal_partition: format!("{prefix}-ordinal"),
        items_per_section: config.items_per_section,
        freezer_key_write_buffer: config.write_buffer_bytes,
        freezer_value_write_buffer: config.write_buffer_bytes,
        ordinal_write_buffer: config.write_buffer_bytes,
        replay_buffer: config.replay_buffer_bytes,
        codec_config: config.limits,
    }
}

fn txs_config(config: &BlockConfig, cache: &CacheRef) -> prunable::Config<EightCap, ((), ())> {
    let prefix = format!("{}-txs", config.partition_prefix);
    prunable::Config {
        translator: EightCap,
        metadata_partition: format!("{prefix}-meta"),
        key_partition: format!("{prefix}-key"),
        key_page_cache: cache.clone(),
        value_partition: format!("{prefix}-value"),
        compression: None,
        codec_config: ((), ()),
        items_per_section: config.tx_items_per_section,
        key_write_buffer: config.write_buffer_bytes,
        value_write_buffer: config.write_buffer_bytes,
        replay_buffer: config.replay_buffer_bytes,
    }
}
