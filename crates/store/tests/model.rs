//! Property test: after any sequence of blocks of updates and deletes (with reopens and
//! prunes in between), `entries()` equals a reference `BTreeMap`, and every key's proof
//! agrees with the map.
#![cfg(test)]

mod common;

use common::{run, state_config};
use commonware_runtime::{deterministic, Supervisor as _};
use proptest::{
    prelude::*,
    test_runner::{Config, RngSeed},
};
use std::collections::BTreeMap;
use tessera_store::{verify_proof, StateStore, Writes};

/// A small key space so updates and deletes collide often.
fn key_strategy() -> impl Strategy<Value = Vec<u8>> {
    (0u8..24).prop_map(|k| vec![b'k', k])
}

fn write_strategy() -> impl Strategy<Value = (Vec<u8>, Option<Vec<u8>>)> {
    let value = proptest::option::weighted(0.7, proptest::collection::vec(any::<u8>(), 0..40));
    (key_strategy(), value)
}

/// One block: its writes, then whether to reopen and whether to prune afterwards.
fn block_strategy() -> impl Strategy<Value = (Writes, bool, bool)> {
    (
        proptest::collection::vec(write_strategy(), 0..12),
        proptest::bool::weighted(0.2),
        proptest::bool::weighted(0.2),
    )
}

async fn open(context: &deterministic::Context) -> StateStore<deterministic::Context> {
    StateStore::open(context.child("state"), state_config("model"))
        .await
        .unwrap()
}

async fn check(store: &StateStore<deterministic::Context>, model: &BTreeMap<Vec<u8>, Vec<u8>>) {
    let expected: Vec<(Vec<u8>, Vec<u8>)> = model.clone().into_iter().collect();
    assert_eq!(store.entries().await.unwrap(), expected);
    for k in 0u8..24 {
        let key = vec![b'k', k];
        let proof = store.prove(&key).await.unwrap();
        let proven = verify_proof(&store.root(), &key, &proof).unwrap();
        assert_eq!(proven.as_ref(), model.get(&key), "key {k}");
    }
}

fn run_model(seed: u64, blocks: Vec<(Writes, bool, bool)>) {
    run(seed, |context| async move {
        let mut store = open(&context).await;
        let mut model = BTreeMap::new();
        for (height, (writes, reopen, prune)) in (0u64..).zip(blocks) {
            for (key, value) in &writes {
                match value {
                    Some(value) => model.insert(key.clone(), value.clone()),
                    None => model.remove(key),
                };
            }
            let prepared = store.prepare(height, writes).await.unwrap();
            store.commit(prepared).await.unwrap();
            if prune {
                store.prune().await.unwrap();
            }
            if reopen {
                let root = store.root();
                drop(store);
                store = open(&context).await;
                assert_eq!(store.root(), root);
                assert_eq!(store.height(), Some(height));
            }
            check(&store, &model).await;
        }
    });
}

proptest! {
    #![proptest_config(Config {
        cases: 24,
        rng_seed: RngSeed::Fixed(0x7e55_e7a5),
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn entries_match_a_btreemap(
        seed in any::<u64>(),
        blocks in proptest::collection::vec(block_strategy(), 1..24),
    ) {
        run_model(seed, blocks);
    }
}
