//! BlockStore: put/get by height and hash, tx index, reopen, crash, contiguity, limits.
#![cfg(test)]

mod common;

use common::{block_config, run};
use commonware_runtime::{deterministic, Runner as _, Supervisor as _};
use tessera_store::{BlockConfig, BlockLimits, BlockStore, StoreError, StoredBlock};

type Store = BlockStore<deterministic::Context>;

async fn open(context: &deterministic::Context, label: &'static str, prefix: &str) -> Store {
    BlockStore::open(context.child(label), block_config(prefix))
        .await
        .unwrap()
}

fn hash(height: u64, salt: u8) -> [u8; 32] {
    let mut h = [salt; 32];
    h[..8].copy_from_slice(&height.to_be_bytes());
    h
}

fn tx(height: u64, i: u32) -> [u8; 32] {
    let mut h = [0xee; 32];
    h[..8].copy_from_slice(&height.to_be_bytes());
    h[8..12].copy_from_slice(&i.to_be_bytes());
    h
}

/// The block this test suite stores at `height`: `height % 4` transactions.
fn block(height: u64) -> StoredBlock {
    let txs = u32::try_from(height % 4).unwrap();
    StoredBlock {
        height,
        hash: hash(height, 0xaa),
        block: format!("block {height}").into_bytes(),
        receipts: format!("receipts {height}").into_bytes(),
        tx_hashes: (0..txs).map(|i| tx(height, i)).collect(),
    }
}

async fn put(store: &mut Store, b: StoredBlock) -> Result<(), StoreError> {
    store
        .put(b.height, b.hash, b.block, b.receipts, b.tx_hashes)
        .await
}

async fn assert_stored(store: &Store, height: u64) {
    let expected = block(height);
    assert_eq!(
        store.by_height(height).await.unwrap(),
        Some(expected.clone())
    );
    assert_eq!(
        store.by_hash(expected.hash).await.unwrap(),
        Some(expected.clone())
    );
    for (i, t) in expected.tx_hashes.iter().enumerate() {
        let location = store.tx_location(*t).await.unwrap();
        assert_eq!(
            location,
            Some((height, u32::try_from(i).unwrap())),
            "height {height} tx {i}"
        );
    }
}

#[test]
fn put_and_get() {
    run(30, |context| async move {
        let mut store = open(&context, "a", "put").await;
        assert_eq!(store.latest(), None);
        for height in 1..=20 {
            put(&mut store, block(height)).await.unwrap();
            assert_eq!(store.latest(), Some(height));
        }
        for height in 1..=20 {
            assert_stored(&store, height).await;
        }
        assert_eq!(store.by_height(0).await.unwrap(), None);
        assert_eq!(store.by_height(21).await.unwrap(), None);
        assert_eq!(store.by_hash([9; 32]).await.unwrap(), None);
        assert_eq!(store.tx_location([9; 32]).await.unwrap(), None);
    });
}

#[test]
fn survives_reopen_and_continues() {
    run(31, |context| async move {
        let mut store = open(&context, "a", "reopen").await;
        for height in 0..10 {
            put(&mut store, block(height)).await.unwrap();
        }
        drop(store);
        let mut store = open(&context, "b", "reopen").await;
        assert_eq!(store.latest(), Some(9));
        put(&mut store, block(10)).await.unwrap();
        put(&mut store, block(11)).await.unwrap();
        drop(store);
        let store = open(&context, "c", "reopen").await;
        for height in 0..12 {
            assert_stored(&store, height).await;
        }
    });
}

#[test]
fn survives_a_crash() {
    let runner = deterministic::Runner::seeded(32);
    let ((), checkpoint) = runner.start_and_recover(|context| async move {
        let mut store = open(&context, "a", "crash").await;
        for height in 5..15 {
            put(&mut store, block(height)).await.unwrap();
        }
    });
    deterministic::Runner::from(checkpoint).start(|context| async move {
        let mut store = open(&context, "b", "crash").await;
        assert_eq!(store.latest(), Some(14));
        for height in 5..15 {
            assert_stored(&store, height).await;
        }
        put(&mut store, block(15)).await.unwrap();
    });
}

#[test]
fn heights_must_be_contiguous() {
    run(33, |context| async move {
        let mut store = open(&context, "a", "contig").await;
        put(&mut store, block(3)).await.unwrap();
        for bad in [5, 100] {
            let err = put(&mut store, block(bad)).await.unwrap_err();
            assert!(
                matches!(err, StoreError::BlockHeight { expected: 4, got } if got == bad),
                "{err}"
            );
        }
        let err = put(&mut store, block(2)).await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::BlockHeight {
                    expected: 4,
                    got: 2
                }
            ),
            "{err}"
        );
        put(&mut store, block(4)).await.unwrap();
        assert_eq!(store.latest(), Some(4));
    });
}

#[test]
fn same_block_again_is_a_no_op_and_another_is_refused() {
    run(34, |context| async move {
        let mut store = open(&context, "a", "idem").await;
        for height in 0..3 {
            put(&mut store, block(height)).await.unwrap();
        }
        put(&mut store, block(1)).await.unwrap();
        put(&mut store, block(2)).await.unwrap();
        assert_eq!(store.latest(), Some(2));

        let mut other = block(2);
        other.hash = hash(2, 0xbb);
        let err = put(&mut store, other).await.unwrap_err();
        assert!(
            matches!(err, StoreError::BlockConflict { height: 2, .. }),
            "{err}"
        );
        put(&mut store, block(3)).await.unwrap();
        assert_stored(&store, 3).await;
    });
}

#[test]
fn limits_are_enforced() {
    run(35, |context| async move {
        let config = BlockConfig {
            limits: BlockLimits {
                max_block_bytes: 16,
                max_receipts_bytes: 16,
                max_txs: 2,
            },
            ..block_config("limits")
        };
        let mut store = BlockStore::open(context.child("a"), config).await.unwrap();
        let mut big = block(3);
        big.block = vec![0; 17];
        let err = put(&mut store, big).await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::BlockTooLarge {
                    what: "block bytes",
                    len: 17,
                    max: 16,
                    ..
                }
            ),
            "{err}"
        );
        let err = put(&mut store, block(3)).await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::BlockTooLarge {
                    what: "transaction count",
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(store.latest(), None);
        put(&mut store, block(2)).await.unwrap();
    });
}
