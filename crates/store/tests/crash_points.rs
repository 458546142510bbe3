//! Inject I/O failures (failed writes and syncs, torn unsynced writes) while blocks are
//! stored and committed, crash at the first failure, and check after recovery that each store
//! is at a whole commit and the recovery contract holds:
//! `blocks.latest() ∈ {state.height(), state.height() + 1}`.
#![cfg(test)]

mod common;

use common::{block_config, state_config, writes};
use commonware_runtime::{
    deterministic::{self, FaultConfig, PartialWriteMode, WriteConfig},
    Runner as _, Supervisor as _,
};
use commonware_utils::Probability;
use std::collections::BTreeMap;
use tessera_store::{BlockStore, StateStore, StoreError, Writes};

const BLOCKS: u64 = 8;

/// The write set of block `height` (deterministic, with updates and deletes).
fn execute(height: u64) -> Writes {
    let h = u32::try_from(height).unwrap();
    let mut batch = writes(h * 7..h * 7 + 40, &format!("h{height}"));
    batch.extend((0..h * 5).step_by(4).map(|i| (common::key(i), None)));
    batch
}

/// The logical state after committing blocks `1..=height`.
fn model(height: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut map = BTreeMap::new();
    for h in 1..=height {
        for (k, v) in execute(h) {
            match v {
                Some(v) => map.insert(k, v),
                None => map.remove(&k),
            };
        }
    }
    map.into_iter().collect()
}

fn faults(seed: u64) -> FaultConfig {
    let torn = WriteConfig {
        failure_rate: Probability::new(3, 1000).unwrap(),
        retention_rate: Probability::new(50, 100).unwrap(),
        mode: if seed.is_multiple_of(2) {
            PartialWriteMode::Prefix
        } else {
            PartialWriteMode::Subset
        },
    };
    FaultConfig::default()
        .write(torn)
        .sync(Probability::new(4, 100).unwrap())
}

/// The chain's write path for blocks `1..=BLOCKS`, with faults from block `faults_from` on,
/// stopping at the first error.
async fn store_and_commit(context: &deterministic::Context, seed: u64) -> Result<(), StoreError> {
    let mut state = StateStore::open(context.child("state"), state_config("cp-state")).await?;
    let mut blocks = BlockStore::open(context.child("blocks"), block_config("cp-blocks")).await?;
    let faults_from = 1 + seed % BLOCKS;
    for height in 1..=BLOCKS {
        if height == faults_from {
            *context.storage_fault_config().write() = faults(seed);
        }
        let prepared = state.prepare(height, execute(height)).await?;
        let hash = [u8::try_from(height).unwrap(); 32];
        let root = prepared.root().to_vec();
        blocks.put(height, hash, root, vec![], vec![hash]).await?;
        state.commit(prepared).await?;
    }
    Ok(())
}

/// Open both stores without faults and check the recovery contract; returns the
/// recovered `(state height, block height)`.
async fn check_recovered(context: deterministic::Context, seed: u64) -> (Option<u64>, Option<u64>) {
    *context.storage_fault_config().write() = FaultConfig::default();
    let mut state = StateStore::open(context.child("state"), state_config("cp-state"))
        .await
        .unwrap();
    let blocks = BlockStore::open(context.child("blocks"), block_config("cp-blocks"))
        .await
        .unwrap();
    let (height, latest) = (state.height(), blocks.latest());
    let h = height.unwrap_or(0);
    assert!(
        latest.unwrap_or(0) == h || latest == Some(h + 1),
        "seed {seed}: blocks {latest:?} vs state {height:?}"
    );
    assert_eq!(state.entries().await.unwrap(), model(h), "seed {seed}");
    let Some(latest) = latest else {
        return (height, None);
    };
    let stored = blocks.by_height(latest).await.unwrap().unwrap();
    if latest == h {
        assert_eq!(stored.block, state.root().to_vec(), "seed {seed}");
    } else {
        // Re-execute the stored block: the root must match the one it carries.
        let prepared = state.prepare(latest, execute(latest)).await.unwrap();
        assert_eq!(stored.block, prepared.root().to_vec(), "seed {seed}");
        state.commit(prepared).await.unwrap();
    }
    let location = blocks.tx_location(stored.hash).await.unwrap();
    assert_eq!(location, Some((latest, 0)), "seed {seed}");
    (height, Some(latest))
}

/// Write with faults until the first error, crash, recover, check.
fn crash_once(seed: u64) -> (Option<u64>, Option<u64>) {
    let runner = deterministic::Runner::seeded(seed);
    let (_, checkpoint) = runner
        .start_and_recover(|context| async move { store_and_commit(&context, seed).await.is_ok() });
    deterministic::Runner::from(checkpoint).start(|context| check_recovered(context, seed))
}

#[test]
fn recovery_contract_holds_at_every_crash_point() {
    let mut seen = BTreeMap::new();
    for seed in 0..200 {
        *seen.entry(crash_once(seed)).or_insert(0u32) += 1;
    }
    println!("recovered (state height, block height) -> count: {seen:?}");
    let heights: std::collections::BTreeSet<_> = seen.keys().map(|k| k.0).collect();
    assert!(
        heights.len() > 3,
        "crashes should land at several heights: {seen:?}"
    );
    assert!(seen
        .keys()
        .any(|(s, b)| s.map_or(0, |s| s + 1) == b.unwrap_or(0)));
}
