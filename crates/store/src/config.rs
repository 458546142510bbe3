//! Configuration of both stores, with defaults sized for a node and validated once at open.

use crate::StoreError;
use commonware_runtime::{buffer::paged::page_size, buffer::paged::CacheRef, BLOB_PAGE_SIZE};
use core::num::{NonZeroU16, NonZeroU64, NonZeroUsize};

/// Logical bytes per cached page (a 4 KiB blob page minus its checksum).
pub(crate) const PAGE_SIZE: NonZeroU16 = page_size(BLOB_PAGE_SIZE);

/// Configuration of a [crate::StateStore].
///
/// The store writes its files into partitions named `{partition_prefix}-*` inside the
/// runtime's storage (with the tokio runtime: directories under
/// `commonware_runtime::tokio::Config::with_storage_directory`).
#[derive(Clone, Debug)]
pub struct StateConfig {
    /// Prefix of every partition the store creates: ASCII letters, digits, `-` or `_`.
    pub partition_prefix: String,
    /// Bytes of page cache shared by the operation log and the Merkle journal. Allocated up
    /// front. More cache means fewer reads when merkleizing large states.
    pub page_cache_bytes: usize,
    /// Operations per journal blob (file). Fixed for the life of the data: never change it on
    /// an existing store.
    pub items_per_blob: NonZeroU64,
    /// Write buffer per journal blob, in bytes.
    pub write_buffer_bytes: NonZeroUsize,
    /// Read buffer used to replay the journal at open, in bytes.
    pub replay_buffer_bytes: NonZeroUsize,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            partition_prefix: "tessera-state".into(),
            page_cache_bytes: 64 << 20,
            items_per_blob: NonZeroU64::MIN.saturating_add(99_999),
            write_buffer_bytes: NonZeroUsize::MIN.saturating_add((1 << 20) - 1),
            replay_buffer_bytes: NonZeroUsize::MIN.saturating_add((1 << 20) - 1),
        }
    }
}

impl StateConfig {
    /// The defaults with another partition prefix.
    pub fn with_prefix(prefix: impl Into<String>) -> Self {
        Self {
            partition_prefix: prefix.into(),
            ..Self::default()
        }
    }

    /// Check the configuration; called by [crate::StateStore::open].
    pub fn validate(&self) -> Result<(), StoreError> {
        validate_prefix(&self.partition_prefix)
    }

    /// The page cache this configuration asks for.
    pub(crate) fn page_cache(&self) -> CacheRef {
        page_cache(self.page_cache_bytes)
    }
}

/// Configuration of a [crate::BlockStore].
///
/// Like [StateConfig], the partitions are named `{partition_prefix}-*`.
#[derive(Clone, Debug)]
pub struct BlockConfig {
    /// Prefix of every partition the store creates: ASCII letters, digits, `-` or `_`.
    pub partition_prefix: String,
    /// Size limits enforced on `put` and on every decode of a stored record.
    pub limits: BlockLimits,
    /// Bytes of page cache shared by the archives' key journals. Allocated up front.
    pub page_cache_bytes: usize,
    /// Heights per block-archive section. Fixed for the life of the data.
    pub items_per_section: NonZeroU64,
    /// Transactions per tx-index section. Fixed for the life of the data.
    pub tx_items_per_section: NonZeroU64,
    /// Initial number of buckets in the block archive's on-disk hash table (a power of two).
    pub table_initial_size: u32,
    /// Write buffer per journal, in bytes.
    pub write_buffer_bytes: NonZeroUsize,
    /// Read buffer used to replay journals at open, in bytes.
    pub replay_buffer_bytes: NonZeroUsize,
}

/// Size limits of a stored block. Records larger than these are refused on `put` and
/// treated as corruption on read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockLimits {
    /// Largest encoded block, in bytes.
    pub max_block_bytes: usize,
    /// Largest encoded receipts, in bytes.
    pub max_receipts_bytes: usize,
    /// Most transactions in one block.
    pub max_txs: usize,
}

impl Default for BlockLimits {
    fn default() -> Self {
        Self {
            max_block_bytes: 16 << 20,
            max_receipts_bytes: 16 << 20,
            max_txs: 100_000,
        }
    }
}

impl Default for BlockConfig {
    fn default() -> Self {
        Self {
            partition_prefix: "tessera-blocks".into(),
            limits: BlockLimits::default(),
            page_cache_bytes: 8 << 20,
            items_per_section: NonZeroU64::MIN.saturating_add(4_095),
            tx_items_per_section: NonZeroU64::MIN.saturating_add(65_535),
            table_initial_size: 1 << 16,
            write_buffer_bytes: NonZeroUsize::MIN.saturating_add((1 << 20) - 1),
            replay_buffer_bytes: NonZeroUsize::MIN.saturating_add((1 << 20) - 1),
        }
    }
}

impl BlockConfig {
    /// The defaults with another partition prefix.
    pub fn with_prefix(prefix: impl Into<String>) -> Self {
        Self {
            partition_prefix: prefix.into(),
            ..Self::default()
        }
    }

    /// Check the configuration; called by [crate::BlockStore::open].
    pub fn validate(&self) -> Result<(), StoreError> {
        validate_prefix(&self.partition_prefix)?;
        if !self.table_initial_size.is_power_of_two() {
            return Err(config_error(
                &self.partition_prefix,
                "table_initial_size must be a power of two",
            ));
        }
        Ok(())
    }

    /// The page cache this configuration asks for.
    pub(crate) fn page_cache(&self) -> CacheRef {
        page_cache(self.page_cache_bytes)
    }
}

fn page_cache(bytes: usize) -> CacheRef {
    let pages = bytes / NonZeroUsize::from(PAGE_SIZE);
    CacheRef::new(
        PAGE_SIZE,
        NonZeroUsize::new(pages).unwrap_or(NonZeroUsize::MIN),
    )
}

fn validate_prefix(prefix: &str) -> Result<(), StoreError> {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if prefix.is_empty() || !prefix.chars().all(valid_char) {
        return Err(config_error(
            prefix,
            "partition_prefix must be non-empty ASCII letters, digits, '-' or '_'",
        ));
    }
    Ok(())
}

fn config_error(prefix: &str, what: &'static str) -> StoreError {
    StoreError::Config {
        partition: prefix.to_string(),
        what,
    }
}
