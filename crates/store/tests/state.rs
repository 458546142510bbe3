//! StateStore behaviour on the deterministic runtime: roots, reopen, crashes, deletes,
//! height checks and pruning.
#![cfg(test)]

mod common;

use common::{key, run, state_config, writes};
use commonware_runtime::{deterministic, Runner as _, Supervisor as _};
use tessera_store::{StateStore, StoreError, Writes, MAX_KEY_BYTES, MAX_VALUE_BYTES};

type Store = StateStore<deterministic::Context>;

async fn open(context: &deterministic::Context, label: &'static str, prefix: &str) -> Store {
    StateStore::open(context.child(label), state_config(prefix))
        .await
        .unwrap()
}

async fn commit(store: &mut Store, height: u64, writes: Writes) -> [u8; 32] {
    let prepared = store.prepare(height, writes).await.unwrap();
    let expected = prepared.root();
    let root = store.commit(prepared).await.unwrap();
    assert_eq!(root, expected, "commit root must equal prepared root");
    assert_eq!(store.root(), root);
    assert_eq!(store.height(), Some(height));
    root
}

#[test]
fn fresh_store_is_empty() {
    run(1, |context| async move {
        let store = open(&context, "a", "fresh").await;
        assert_eq!(store.height(), None);
        assert!(store.entries().await.unwrap().is_empty());
        assert_eq!(store.get(b"missing").await.unwrap(), None);
    });
}

#[test]
fn same_writes_give_same_root() {
    run(2, |context| async move {
        let mut a = open(&context, "a", "same-a").await;
        let mut b = open(&context, "b", "same-b").await;
        assert_eq!(a.root(), b.root());
        for height in 0..5u32 {
            let batch = writes(height * 10..height * 10 + 25, &format!("h{height}"));
            let root_a = commit(&mut a, u64::from(height), batch.clone()).await;
            let root_b = commit(&mut b, u64::from(height), batch).await;
            assert_eq!(root_a, root_b, "height {height}");
        }
    });
}

#[test]
fn different_writes_give_different_roots() {
    run(3, |context| async move {
        let a = open(&context, "a", "diff-a").await;
        let base = writes(0..10, "x");
        let root = a.prepare(1, base.clone()).await.unwrap().root();

        let mut other_value = base.clone();
        other_value[3].1 = Some(b"changed".to_vec());
        let mut other_key = base.clone();
        other_key[3].0 = b"another".to_vec();
        let mut with_delete = base.clone();
        with_delete.push((key(3), None));
        for (name, batch) in [
            ("value", other_value),
            ("key", other_key),
            ("delete", with_delete),
        ] {
            let other = a.prepare(1, batch).await.unwrap().root();
            assert_ne!(root, other, "changing the {name} must change the root");
        }
        let other_height = a.prepare(2, base.clone()).await.unwrap().root();
        assert_ne!(root, other_height, "the height is committed too");

        // QMDB sorts a batch by hashed key: the order of distinct keys does not matter.
        let mut reordered = base;
        reordered.reverse();
        assert_eq!(root, a.prepare(1, reordered).await.unwrap().root());
    });
}

#[test]
fn reopen_keeps_height_root_and_entries() {
    run(4, |context| async move {
        let mut store = open(&context, "a", "reopen").await;
        commit(&mut store, 1, writes(0..50, "a")).await;
        let root = commit(
            &mut store,
            2,
            vec![(key(7), None), (key(60), Some(b"x".to_vec()))],
        )
        .await;
        let entries = store.entries().await.unwrap();
        assert_eq!(entries.len(), 50);
        drop(store);

        let store = open(&context, "b", "reopen").await;
        assert_eq!(store.height(), Some(2));
        assert_eq!(store.root(), root);
        assert_eq!(store.entries().await.unwrap(), entries);
        assert_eq!(store.get(&key(7)).await.unwrap(), None);
        assert_eq!(store.get(&key(60)).await.unwrap(), Some(b"x".to_vec()));
    });
}

#[test]
fn prepared_but_not_committed_is_gone_after_reopen() {
    run(5, |context| async move {
        let mut store = open(&context, "a", "uncommitted").await;
        let root = commit(&mut store, 1, writes(0..20, "a")).await;
        let prepared = store.prepare(2, writes(0..40, "b")).await.unwrap();
        assert_ne!(prepared.root(), root);
        drop(prepared);
        assert_eq!(store.root(), root, "prepare must not move the root");
        drop(store);

        let store = open(&context, "b", "uncommitted").await;
        assert_eq!(store.height(), Some(1));
        assert_eq!(store.root(), root);
        assert_eq!(store.entries().await.unwrap().len(), 20);
    });
}

#[test]
fn crash_keeps_last_commit_and_drops_prepared() {
    let runner = deterministic::Runner::seeded(6);
    let (root, checkpoint) = runner.start_and_recover(|context| async move {
        let mut store = open(&context, "a", "crash").await;
        commit(&mut store, 1, writes(0..30, "a")).await;
        let root = commit(&mut store, 2, writes(10..40, "b")).await;
        let _pending = store.prepare(3, writes(0..40, "c")).await.unwrap();
        root
    });
    deterministic::Runner::from(checkpoint).start(|context| async move {
        let store = open(&context, "b", "crash").await;
        assert_eq!(store.height(), Some(2));
        assert_eq!(store.root(), root);
        let entries = store.entries().await.unwrap();
        assert_eq!(entries.len(), 40);
        assert_eq!(entries[15].1, b"value15b".to_vec());
    });
}

#[test]
fn deletes_remove_keys() {
    run(7, |context| async move {
        let mut store = open(&context, "a", "deletes").await;
        commit(&mut store, 1, writes(0..10, "a")).await;
        let deletes = (0..10).step_by(2).map(|i| (key(i), None)).collect();
        commit(&mut store, 2, deletes).await;
        let keys: Vec<Vec<u8>> = store
            .entries()
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.0)
            .collect();
        let expected: Vec<Vec<u8>> = (1..10).step_by(2).map(key).collect();
        assert_eq!(keys, expected);

        let all = (0..10).map(|i| (key(i), None)).collect();
        let empty_root = commit(&mut store, 3, all).await;
        assert!(store.entries().await.unwrap().is_empty());
        let root = commit(&mut store, 4, vec![(key(99), None)]).await;
        assert_ne!(root, empty_root, "each commit is part of the root");
    });
}

#[test]
fn last_write_to_a_key_wins_within_a_batch() {
    run(8, |context| async move {
        let mut store = open(&context, "a", "lastwins").await;
        let batch = vec![
            (key(1), Some(b"first".to_vec())),
            (key(1), Some(b"second".to_vec())),
            (key(2), Some(b"x".to_vec())),
            (key(2), None),
        ];
        commit(&mut store, 1, batch).await;
        assert_eq!(store.get(&key(1)).await.unwrap(), Some(b"second".to_vec()));
        assert_eq!(store.get(&key(2)).await.unwrap(), None);
    });
}

#[test]
fn heights_must_follow_the_last_commit() {
    run(9, |context| async move {
        let mut store = open(&context, "a", "heights").await;
        commit(&mut store, 5, writes(0..3, "a")).await;
        for bad in [5, 7, 0] {
            let err = store.prepare(bad, writes(0..1, "b")).await.unwrap_err();
            assert!(
                matches!(err, StoreError::StateHeight { expected: 6, got } if got == bad),
                "{err}"
            );
        }
        commit(&mut store, 6, writes(0..1, "b")).await;
    });
}

#[test]
fn stale_prepared_batch_is_refused_and_store_stays_usable() {
    run(10, |context| async move {
        let mut store = open(&context, "a", "stale").await;
        commit(&mut store, 1, writes(0..3, "a")).await;
        let first = store.prepare(2, writes(0..3, "b")).await.unwrap();
        let second = store.prepare(2, writes(0..3, "c")).await.unwrap();
        store.commit(first).await.unwrap();
        let err = store.commit(second).await.unwrap_err();
        assert!(matches!(err, StoreError::StateHeight { .. }), "{err}");

        let third = store.prepare(3, writes(0..3, "d")).await.unwrap();
        let fourth = store.prepare(3, writes(0..3, "e")).await.unwrap();
        store.commit(third).await.unwrap();
        drop(fourth);
        commit(&mut store, 4, writes(0..3, "f")).await;
    });
}

#[test]
fn oversized_keys_and_values_are_refused() {
    run(11, |context| async move {
        let store = open(&context, "a", "limits").await;
        let long_key = vec![(vec![0u8; MAX_KEY_BYTES + 1], Some(b"v".to_vec()))];
        let err = store.prepare(1, long_key).await.unwrap_err();
        assert!(
            matches!(err, StoreError::KeyTooLong { len: 129, max: 128 }),
            "{err}"
        );
        let long_value = vec![(b"k".to_vec(), Some(vec![0u8; MAX_VALUE_BYTES + 1]))];
        let err = store.prepare(1, long_value).await.unwrap_err();
        assert!(matches!(err, StoreError::ValueTooLong { .. }), "{err}");

        let max = vec![(vec![1u8; MAX_KEY_BYTES], Some(vec![2u8; MAX_VALUE_BYTES]))];
        let mut store = store;
        commit(&mut store, 1, max).await;
        let value = store.get(&[1u8; MAX_KEY_BYTES]).await.unwrap().unwrap();
        assert_eq!(value.len(), MAX_VALUE_BYTES);
    });
}

#[test]
fn prune_keeps_root_entries_and_reopens() {
    run(12, |context| async move {
        let mut store = open(&context, "a", "prune").await;
        for height in 0..40u32 {
            let batch = writes(0..30, &format!("h{height}"));
            commit(&mut store, u64::from(height), batch).await;
            if height % 10 == 9 {
                let root = store.root();
                store.prune().await.unwrap();
                assert_eq!(store.root(), root);
            }
        }
        let root = store.root();
        let entries = store.entries().await.unwrap();
        store.sync().await.unwrap();
        drop(store);

        let mut store = open(&context, "b", "prune").await;
        assert_eq!(store.root(), root);
        assert_eq!(store.height(), Some(39));
        assert_eq!(store.entries().await.unwrap(), entries);
        commit(&mut store, 40, writes(0..5, "after")).await;
    });
}

#[test]
fn failed_commit_closes_the_store_and_reopen_recovers() {
    use commonware_runtime::deterministic::FaultConfig;
    use commonware_utils::Probability;
    run(13, |context| async move {
        let mut store = open(&context, "a", "closed").await;
        let root = commit(&mut store, 1, writes(0..10, "a")).await;
        let prepared = store.prepare(2, writes(0..10, "b")).await.unwrap();
        *context.storage_fault_config().write() =
            FaultConfig::default().sync(Probability::new(1, 1).unwrap());
        let err = store.commit(prepared).await.unwrap_err();
        assert!(
            matches!(err, StoreError::State { op: "commit", .. }),
            "{err}"
        );
        let err = store.prepare(2, writes(0..1, "c")).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Closed { store: "state", .. }),
            "{err}"
        );
        drop(store);

        *context.storage_fault_config().write() = FaultConfig::default();
        let store = open(&context, "b", "closed").await;
        let height = store.height();
        assert!(height == Some(1) || height == Some(2), "{height:?}");
        if height == Some(1) {
            assert_eq!(store.root(), root);
        }
    });
}

#[test]
fn prune_between_prepare_and_commit() {
    run(14, |context| async move {
        let mut store = open(&context, "a", "prunemid").await;
        for height in 1..=20 {
            commit(&mut store, height, writes(0..20, &format!("h{height}"))).await;
        }
        let prepared = store.prepare(21, writes(0..20, "x")).await.unwrap();
        store.prune().await.unwrap();
        // Pruning does not move the state, so the prepared batch still applies, to its root.
        let root = prepared.root();
        assert_eq!(store.commit(prepared).await.unwrap(), root);
        assert_eq!(store.height(), Some(21));
    });
}

#[test]
fn batch_prepared_on_another_store_is_refused() {
    run(15, |context| async move {
        let mut a = open(&context, "a", "cross-a").await;
        let mut b = open(&context, "b", "cross-b").await;
        commit(&mut a, 1, writes(0..5, "a")).await;
        commit(&mut b, 1, writes(0..5, "b")).await;
        let from_a = a.prepare(2, writes(0..5, "c")).await.unwrap();
        let err = b.commit(from_a).await.unwrap_err();
        assert!(
            matches!(err, StoreError::StalePrepared { height: 2 }),
            "{err}"
        );
        commit(&mut b, 2, writes(0..5, "c")).await;
    });
}

#[test]
fn chained_prepares_match_sequential_commits_and_forks_go_stale() {
    run(11, |context| async move {
        let mut chained = open(&context, "c", "chain-c").await;
        let mut sequential = open(&context, "s", "chain-s").await;
        commit(&mut chained, 0, writes(0..10, "g")).await;
        commit(&mut sequential, 0, writes(0..10, "g")).await;

        // Two pending blocks on top of each other, and a competing sibling of the first.
        let first = chained.prepare(1, writes(5..15, "a")).await.unwrap();
        let second = chained
            .prepare_on(&first, 2, writes(12..20, "b"))
            .await
            .unwrap();
        let sibling = chained.prepare(1, writes(0..3, "x")).await.unwrap();
        assert_ne!(first.root(), sibling.root());
        assert!(
            chained
                .prepare_on(&first, 3, writes(0..1, "z"))
                .await
                .is_err(),
            "height must follow the parent"
        );

        // The chained roots equal those of committing the same blocks one by one.
        let root1 = commit(&mut sequential, 1, writes(5..15, "a")).await;
        let root2 = commit(&mut sequential, 2, writes(12..20, "b")).await;
        assert_eq!((first.root(), second.root()), (root1, root2));

        // Finalize the first branch in order: the sibling is stale, the child still applies.
        chained.commit(first).await.unwrap();
        assert!(
            chained.commit(sibling).await.is_err(),
            "a sibling of a committed block is refused"
        );
        assert_eq!(chained.commit(second).await.unwrap(), root2);
        assert_eq!(
            chained.entries().await.unwrap(),
            sequential.entries().await.unwrap()
        );
    });
}
