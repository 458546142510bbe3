//! The authenticated state store: logical `(key, value)` pairs in a QMDB
//! `current::ordered::variable` database (MMR, SHA-256), one commit per block.

pub(crate) mod entry;
pub(crate) mod proof;

use crate::{
    error::QmdbError, StateConfig, StoreContext, StoreError, MAX_KEY_BYTES, MAX_VALUE_BYTES,
};
use commonware_cryptography::{sha256::Digest, Sha256};
use commonware_parallel::Sequential;
use commonware_storage::{
    journal::contiguous::variable::Config as JournalConfig,
    merkle::full::Config as MerkleConfig,
    mmr,
    qmdb::{
        any::{ordered::Update as OrderedUpdate, value::VariableEncoding},
        current::{self, batch::MerkleizedBatch, ordered::variable, VariableConfig},
        floor::Proportional,
    },
    translator::EightCap,
};
use commonware_utils::NZUsize;
use entry::{decode_entry, decode_height, encode_entry, encode_height, qmdb_key, value_cfg};
use futures::TryStreamExt as _;
use proof::{StateProof, CHUNK_BYTES};
use std::sync::Arc;

type Db<E> =
    variable::Db<mmr::Family, E, Digest, Vec<u8>, Sha256, EightCap, CHUNK_BYTES, Sequential>;
type Update = OrderedUpdate<Digest, VariableEncoding<Vec<u8>>>;
type Batch = Arc<MerkleizedBatch<mmr::Family, Digest, Update, CHUNK_BYTES, Sequential>>;
type UnmerkleizedBatch =
    current::batch::UnmerkleizedBatch<mmr::Family, Sha256, Update, CHUNK_BYTES, Sequential>;
type Config = VariableConfig<EightCap, ((), (commonware_codec::RangeCfg<usize>, ())), Sequential>;

/// A write set: `(logical key, Some(value))` sets a key, `(logical key, None)` deletes it.
pub type Writes = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// The authenticated state of the chain. See the crate docs for the invariants.
pub struct StateStore<E: StoreContext> {
    /// `None` once a mutation failed part-way (QMDB consumes its handle on error).
    db: Option<Db<E>>,
    partition: String,
    root: [u8; 32],
    height: Option<u64>,
}

/// A merkleized, not yet applied batch: the state after one block. Apply it with
/// [StateStore::commit]; drop it to discard it. Cloning is cheap (shared batch).
#[derive(Clone)]
pub struct Prepared {
    height: u64,
    root: [u8; 32],
    batch: Batch,
}

impl Prepared {
    /// The state root the block at [Self::height] commits to.
    pub fn root(&self) -> [u8; 32] {
        self.root
    }

    /// The block height this batch was prepared for.
    pub fn height(&self) -> u64 {
        self.height
    }
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("height", &self.height)
            .field("root", &crate::HexHash(self.root))
            .finish_non_exhaustive()
    }
}

impl<E: StoreContext> StateStore<E> {
    /// Open (or create) the store, recovering to its last commit.
    pub async fn open(context: E, config: StateConfig) -> Result<Self, StoreError> {
        config.validate()?;
        let partition = config.partition_prefix.clone();
        let db = Db::init(context, qmdb_config(&config), None)
            .await
            .map_err(|e| state_error(&partition, "open", e))?;
        let height = read_height(&db, &partition).await?;
        Ok(Self {
            root: db.root().0,
            db: Some(db),
            partition,
            height,
        })
    }

    /// The root after the last commit (or of the empty state).
    pub fn root(&self) -> [u8; 32] {
        self.root
    }

    /// The block height of the last commit; `None` on a fresh store.
    pub fn height(&self) -> Option<u64> {
        self.height
    }

    /// Every live `(logical key, value)` pair, sorted by logical key. Meant for start-up.
    pub async fn entries(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        let db = self.db()?;
        let stored: Vec<(Digest, Vec<u8>)> = db
            .stream_range(..)
            .try_collect()
            .await
            .map_err(|e| self.error("entries", e))?;
        let mut entries = stored
            .into_iter()
            .map(|(key, value)| self.decode_stored(&key, &value))
            .collect::<Result<Vec<_>, _>>()?;
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(entries)
    }

    /// The value of one logical key in the last committed state.
    pub async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        check_key(key)?;
        let stored = self.db()?.get(&qmdb_key(key)).await;
        let stored = stored.map_err(|e| self.error("get", e))?;
        stored
            .map(|value| self.decode_stored(&qmdb_key(key), &value).map(|(_, v)| v))
            .transpose()
    }

    /// Merkleize `writes` as the state of block `height` without applying them.
    ///
    /// Writes apply in the given order: a later write to the same key wins; the order of
    /// distinct keys does not affect the root. `height` must be `height() + 1`, or anything
    /// on a fresh store.
    pub async fn prepare(&self, height: u64, writes: Writes) -> Result<Prepared, StoreError> {
        self.check_next_height(height)?;
        let batch = self.db()?.new_batch();
        self.merkleize(batch, height, writes).await
    }

    /// Merkleize `writes` as the state of block `height` on top of `parent`, a batch that
    /// is prepared but not yet committed (a block on a not yet finalized parent). The
    /// result commits after `parent` (which it includes); if a sibling of `parent` is
    /// committed instead, it goes stale and `commit` refuses it.
    pub async fn prepare_on(
        &self,
        parent: &Prepared,
        height: u64,
        writes: Writes,
    ) -> Result<Prepared, StoreError> {
        let expected = parent.height.saturating_add(1);
        if height != expected {
            return Err(StoreError::StateHeight {
                expected,
                got: height,
            });
        }
        let batch = parent.batch.new_batch::<Sha256>();
        self.merkleize(batch, height, writes).await
    }

    async fn merkleize(
        &self,
        mut batch: UnmerkleizedBatch,
        height: u64,
        writes: Writes,
    ) -> Result<Prepared, StoreError> {
        let db = self.db()?;
        for (key, value) in writes {
            check_write(&key, value.as_deref())?;
            let stored = value.map(|value| encode_entry(&key, &value));
            batch = batch.write(qmdb_key(&key), stored);
        }
        let metadata = Some(encode_height(height));
        let batch = batch
            .merkleize(db, metadata, &mut Proportional)
            .await
            .map_err(|e| self.error("prepare", e))?;
        Ok(Prepared {
            height,
            root: batch.root().0,
            batch,
        })
    }

    /// Apply `prepared` and durably commit it (fsync). Returns the new root.
    ///
    /// On `Ok`, the commit survives any crash. On a crash before it returns, reopening
    /// yields either the previous commit or this one, never a mix.
    pub async fn commit(&mut self, prepared: Prepared) -> Result<[u8; 32], StoreError> {
        self.check_next_height(prepared.height)?;
        let db = self.take_db()?;
        if db.validate_batch(&prepared.batch).is_err() {
            self.db = Some(db);
            return Err(StoreError::StalePrepared {
                height: prepared.height,
            });
        }
        let db = db
            .apply_batch(prepared.batch)
            .await
            .map_err(|e| self.error("apply", e))?;
        let db = db.commit().await.map_err(|e| self.error("commit", e))?;
        let root = db.root().0;
        self.db = Some(db);
        self.root = root;
        self.height = Some(prepared.height);
        if root != prepared.root {
            return Err(StoreError::RootMismatch {
                height: prepared.height,
            });
        }
        Ok(root)
    }

    /// An inclusion or absence proof for `key` against [Self::root].
    pub async fn prove(&self, key: &[u8]) -> Result<StateProof, StoreError> {
        check_key(key)?;
        let db = self.db()?;
        let hashed = qmdb_key(key);
        let stored = db.get(&hashed).await.map_err(|e| self.error("prove", e))?;
        let Some(stored) = stored else {
            let proof = db.exclusion_proof(&hashed).await;
            return Ok(StateProof::absence(
                proof.map_err(|e| self.error("prove", e))?,
            ));
        };
        let (_, value) = self.decode_stored(&hashed, &stored)?;
        let proof = db.key_value_proof(hashed).await;
        Ok(StateProof::inclusion(
            value,
            proof.map_err(|e| self.error("prove", e))?,
        ))
    }

    /// Drop history that no current proof needs and persist the pruning boundary.
    ///
    /// Does not change the root or any value. Call it after a commit every few hundred
    /// blocks (e.g. every 256 heights): the operation log otherwise grows without bound and
    /// start-up replays more of it. Costs one extra fsync.
    pub async fn prune(&mut self) -> Result<(), StoreError> {
        let db = self.take_db()?;
        let boundary = db.sync_boundary();
        let db = db
            .prune(boundary)
            .await
            .map_err(|e| self.error("prune", e))?;
        let db = db.sync().await.map_err(|e| self.error("sync", e))?;
        self.db = Some(db);
        Ok(())
    }

    /// Persist everything so the next open needs no recovery. Call on clean shutdown.
    pub async fn sync(&mut self) -> Result<(), StoreError> {
        let db = self.take_db()?;
        self.db = Some(db.sync().await.map_err(|e| self.error("sync", e))?);
        Ok(())
    }

    fn db(&self) -> Result<&Db<E>, StoreError> {
        self.db.as_ref().ok_or_else(|| self.closed())
    }

    fn take_db(&mut self) -> Result<Db<E>, StoreError> {
        self.db.take().ok_or_else(|| self.closed())
    }

    fn closed(&self) -> StoreError {
        StoreError::Closed {
            store: "state",
            partition: self.partition.clone(),
        }
    }

    fn error(&self, op: &'static str, source: QmdbError) -> StoreError {
        state_error(&self.partition, op, source)
    }

    fn check_next_height(&self, got: u64) -> Result<(), StoreError> {
        match self.height {
            Some(last) if last.checked_add(1) != Some(got) => Err(StoreError::StateHeight {
                expected: last.saturating_add(1),
                got,
            }),
            _ => Ok(()),
        }
    }

    /// Decode a stored value and check it belongs under `key` (assert at the read end).
    fn decode_stored(&self, key: &Digest, stored: &[u8]) -> Result<(Vec<u8>, Vec<u8>), StoreError> {
        let corrupt = |what: String| StoreError::Corrupt {
            partition: self.partition.clone(),
            what,
        };
        let (logical, value) =
            decode_entry(stored).map_err(|e| corrupt(format!("entry under {key}: {e}")))?;
        if qmdb_key(&logical) != *key {
            return Err(corrupt(format!("entry under {key} names another key")));
        }
        Ok((logical, value))
    }
}

async fn read_height<E: StoreContext>(
    db: &Db<E>,
    partition: &str,
) -> Result<Option<u64>, StoreError> {
    let metadata = db
        .get_metadata()
        .await
        .map_err(|e| state_error(partition, "read metadata", e))?;
    metadata
        .map(|bytes| {
            decode_height(&bytes).ok_or_else(|| StoreError::Corrupt {
                partition: partition.to_string(),
                what: format!("commit metadata is {} bytes, expected 8", bytes.len()),
            })
        })
        .transpose()
}

fn check_key(key: &[u8]) -> Result<(), StoreError> {
    if key.len() > MAX_KEY_BYTES {
        return Err(StoreError::KeyTooLong {
            len: key.len(),
            max: MAX_KEY_BYTES,
        });
    }
    Ok(())
}

fn check_write(key: &[u8], value: Option<&[u8]>) -> Result<(), StoreError> {
    check_key(key)?;
    match value {
        Some(value) if value.len() > MAX_VALUE_BYTES => Err(StoreError::ValueTooLong {
            key_len: key.len(),
            len: value.len(),
            max: MAX_VALUE_BYTES,
        }),
        _ => Ok(()),
    }
}

fn state_error(partition: &str, op: &'static str, source: QmdbError) -> StoreError {
    StoreError::State {
        partition: partition.to_string(),
        op,
        source: Box::new(source),
    }
}

fn qmdb_config(config: &StateConfig) -> Config {
    let prefix = &config.partition_prefix;
    let page_cache = config.page_cache();
    VariableConfig {
        merkle_config: MerkleConfig {
            journal_partition: format!("{prefix}-merkle"),
            metadata_partition: format!("{prefix}-merkle-meta"),
            items_per_blob: config.items_per_blob,
            write_buffer: config.write_buffer_bytes,
            replay_buffer: config.replay_buffer_bytes,
            strategy: Sequential,
            page_cache: page_cache.clone(),
        },
        journal_config: JournalConfig {
            partition: format!("{prefix}-log"),
            items_per_section: config.items_per_blob,
            compression: None,
            codec_config: ((), value_cfg()),
            page_cache,
            write_buffer: config.write_buffer_bytes,
            replay_buffer: config.replay_buffer_bytes,
        },
        grafted_metadata_partition: format!("{prefix}-grafted-meta"),
        translator: EightCap,
        init_cache: Some(NZUsize!(1 << 16)),
        init_buffer: config.replay_buffer_bytes,
        init_concurrency: (),
    }
}
