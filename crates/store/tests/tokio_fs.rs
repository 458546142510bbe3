//! Both stores on the real tokio runtime and file system, across two runtime instances.
#![cfg(test)]

use commonware_runtime::{tokio, Runner as _, Supervisor as _};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};
use tessera_store::{verify_proof, BlockConfig, BlockStore, StateConfig, StateStore};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!("tessera-store-test-{}-{nanos}", std::process::id());
        Self(std::env::temp_dir().join(name))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn small_state() -> StateConfig {
    StateConfig {
        page_cache_bytes: 1 << 20,
        ..StateConfig::default()
    }
}

fn small_blocks() -> BlockConfig {
    BlockConfig {
        page_cache_bytes: 1 << 20,
        ..BlockConfig::default()
    }
}

#[test]
fn stores_persist_on_disk() {
    let dir = TempDir::new();
    let config = tokio::Config::new().with_storage_directory(dir.0.clone());
    let root = tokio::Runner::new(config.clone()).start(|context| async move {
        let mut state = StateStore::open(context.child("state"), small_state())
            .await
            .unwrap();
        let mut blocks = BlockStore::open(context.child("blocks"), small_blocks())
            .await
            .unwrap();
        let writes = (0..100u32)
            .map(|i| {
                (
                    format!("k{i}").into_bytes(),
                    Some(vec![u8::try_from(i).unwrap(); 8]),
                )
            })
            .collect();
        let prepared = state.prepare(1, writes).await.unwrap();
        blocks
            .put(
                1,
                [1; 32],
                b"block".to_vec(),
                b"receipts".to_vec(),
                vec![[2; 32]],
            )
            .await
            .unwrap();
        state.commit(prepared).await.unwrap()
    });
    assert!(dir.0.is_dir(), "storage directory was created");

    tokio::Runner::new(config).start(|context| async move {
        let state = StateStore::open(context.child("state"), small_state())
            .await
            .unwrap();
        let blocks = BlockStore::open(context.child("blocks"), small_blocks())
            .await
            .unwrap();
        assert_eq!(state.height(), Some(1));
        assert_eq!(state.root(), root);
        assert_eq!(state.entries().await.unwrap().len(), 100);
        let proof = state.prove(b"k7").await.unwrap();
        assert_eq!(
            verify_proof(&root, b"k7", &proof).unwrap(),
            Some(vec![7; 8])
        );
        assert_eq!(blocks.latest(), Some(1));
        assert_eq!(
            blocks.by_hash([1; 32]).await.unwrap().unwrap().block,
            b"block"
        );
        assert_eq!(blocks.tx_location([2; 32]).await.unwrap(), Some((1, 0)));
    });
}

/// The stores' futures are `Send`, so the node can run them on spawned tokio tasks.
#[allow(dead_code)]
fn futures_are_send(
    state: &mut tessera_store::TokioStateStore,
    blocks: &mut tessera_store::TokioBlockStore,
    prepared: tessera_store::Prepared,
) {
    fn send<T: Send>(_: T) {}
    send(state.prepare(1, vec![]));
    send(state.entries());
    send(state.prove(b"k"));
    send(blocks.by_height(1));
    send(blocks.tx_location([0; 32]));
    send(state.commit(prepared));
    send(blocks.put(1, [0; 32], vec![], vec![], vec![]));
}
