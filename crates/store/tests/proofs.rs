//! Inclusion and absence proofs: they verify, and fail against a wrong root, a wrong key or
//! tampered bytes.
#![cfg(test)]

mod common;

use common::{key, run, state_config, writes};
use commonware_runtime::{deterministic, Supervisor as _};
use tessera_store::{verify_proof, ProofError, StateProof, StateStore};

type Store = StateStore<deterministic::Context>;

async fn populated(context: &deterministic::Context, prefix: &str) -> Store {
    let mut store = StateStore::open(context.child("state"), state_config(prefix))
        .await
        .unwrap();
    let prepared = store.prepare(1, writes(0..100, "a")).await.unwrap();
    store.commit(prepared).await.unwrap();
    let deletes = (0..100).step_by(3).map(|i| (key(i), None)).collect();
    let prepared = store.prepare(2, deletes).await.unwrap();
    store.commit(prepared).await.unwrap();
    store
}

/// Round-trip through bytes, as a light client receiving hex would.
fn via_bytes(proof: &StateProof) -> StateProof {
    StateProof::from_bytes(&proof.to_bytes()).unwrap()
}

#[test]
fn inclusion_proofs_verify() {
    run(20, |context| async move {
        let store = populated(&context, "incl").await;
        let root = store.root();
        for i in (1..100).filter(|i| i % 3 != 0) {
            let proof = via_bytes(&store.prove(&key(i)).await.unwrap());
            assert!(proof.is_inclusion());
            let value = verify_proof(&root, &key(i), &proof).unwrap();
            assert_eq!(value, Some(format!("value{i}a").into_bytes()), "key {i}");
        }
    });
}

#[test]
fn absence_proofs_verify() {
    run(21, |context| async move {
        let store = populated(&context, "abs").await;
        let root = store.root();
        let deleted = (0..100).step_by(3).map(key);
        let never: Vec<Vec<u8>> = vec![b"".to_vec(), b"zzz".to_vec(), vec![0xff; 128]];
        for k in deleted.chain(never) {
            let proof = via_bytes(&store.prove(&k).await.unwrap());
            assert!(!proof.is_inclusion());
            assert_eq!(verify_proof(&root, &k, &proof), Ok(None), "key {k:?}");
        }
    });
}

#[test]
fn proofs_on_an_empty_state_verify() {
    run(22, |context| async move {
        let mut store = StateStore::open(context.child("state"), state_config("empty"))
            .await
            .unwrap();
        let proof = store.prove(b"anything").await.unwrap();
        assert_eq!(verify_proof(&store.root(), b"anything", &proof), Ok(None));

        let prepared = store.prepare(1, writes(0..3, "a")).await.unwrap();
        store.commit(prepared).await.unwrap();
        let prepared = store
            .prepare(2, (0..3).map(|i| (key(i), None)).collect())
            .await
            .unwrap();
        store.commit(prepared).await.unwrap();
        let proof = via_bytes(&store.prove(&key(1)).await.unwrap());
        assert_eq!(verify_proof(&store.root(), &key(1), &proof), Ok(None));
    });
}

#[test]
fn proofs_fail_against_a_wrong_root_or_key() {
    run(23, |context| async move {
        let store = populated(&context, "wrong").await;
        let root = store.root();
        let mut other_root = root;
        other_root[0] ^= 1;
        let present = store.prove(&key(1)).await.unwrap();
        let absent = store.prove(&key(3)).await.unwrap();

        for proof in [&present, &absent] {
            assert_eq!(
                verify_proof(&other_root, &key(1), proof),
                Err(ProofError::Invalid)
            );
        }
        // An inclusion proof does not prove another key, present or absent.
        assert_eq!(
            verify_proof(&root, &key(2), &present),
            Err(ProofError::Invalid)
        );
        assert_eq!(
            verify_proof(&root, &key(3), &present),
            Err(ProofError::Invalid)
        );
        // An absence proof does not prove a present key absent.
        for i in (1..100).filter(|i| i % 3 != 0) {
            assert_eq!(
                verify_proof(&root, &key(i), &absent),
                Err(ProofError::Invalid),
                "{i}"
            );
        }
        let long = vec![0u8; 129];
        assert!(matches!(
            verify_proof(&root, &long, &absent),
            Err(ProofError::KeyTooLong { .. })
        ));
    });
}

#[test]
fn old_proofs_fail_after_the_value_changes() {
    run(24, |context| async move {
        let mut store = populated(&context, "old").await;
        let old = store.prove(&key(1)).await.unwrap();
        let prepared = store
            .prepare(3, vec![(key(1), Some(b"new".to_vec()))])
            .await
            .unwrap();
        store.commit(prepared).await.unwrap();
        assert_eq!(
            verify_proof(&store.root(), &key(1), &old),
            Err(ProofError::Invalid)
        );
        let new = store.prove(&key(1)).await.unwrap();
        assert_eq!(
            verify_proof(&store.root(), &key(1), &new),
            Ok(Some(b"new".to_vec()))
        );
    });
}

/// Every single-byte change to an encoded proof is either rejected by the decoder or fails
/// verification.
fn assert_tamper_evident(root: &[u8; 32], key: &[u8], bytes: &[u8]) {
    for position in 0..bytes.len() {
        for flip in [0x01u8, 0x80] {
            let mut tampered = bytes.to_vec();
            tampered[position] ^= flip;
            if let Ok(proof) = StateProof::from_bytes(&tampered) {
                assert!(
                    verify_proof(root, key, &proof).is_err(),
                    "flip {flip:#x} at byte {position} of {} still verifies",
                    bytes.len()
                );
            }
        }
    }
    let mut extended = bytes.to_vec();
    extended.push(0);
    assert!(
        StateProof::from_bytes(&extended).is_err(),
        "trailing byte accepted"
    );
    for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            StateProof::from_bytes(&bytes[..cut]).is_err(),
            "truncated to {cut}"
        );
    }
}

#[test]
fn tampered_proofs_fail() {
    run(25, |context| async move {
        let store = populated(&context, "tamper").await;
        let root = store.root();
        for k in [key(1), key(3)] {
            let bytes = store.prove(&k).await.unwrap().to_bytes();
            assert_tamper_evident(&root, &k, &bytes);
        }
    });
}

#[test]
fn garbage_is_malformed() {
    for bytes in [
        &[][..],
        &[2u8][..],
        &[0u8, 0xff, 0xff, 0xff, 0xff, 0x0f][..],
    ] {
        assert!(matches!(
            StateProof::from_bytes(bytes),
            Err(ProofError::Malformed(_))
        ));
    }
    let huge = vec![0u8; tessera_store::MAX_PROOF_BYTES + 1];
    assert!(matches!(
        StateProof::from_bytes(&huge),
        Err(ProofError::Malformed(_))
    ));
}

#[test]
fn proof_sizes_are_small() {
    run(26, |context| async move {
        let store = populated(&context, "sizes").await;
        let inclusion = store.prove(&key(1)).await.unwrap().to_bytes().len();
        let absence = store.prove(&key(3)).await.unwrap().to_bytes().len();
        println!("proof bytes: inclusion {inclusion}, absence {absence}");
        assert!(inclusion < 2048 && absence < 2048);
    });
}

async fn check_absent(store: &Store, keys: &[Vec<u8>]) {
    for k in keys {
        let proof = via_bytes(&store.prove(k).await.unwrap());
        assert_eq!(
            verify_proof(&store.root(), k, &proof),
            Ok(None),
            "key {k:?}"
        );
    }
}

#[test]
fn absence_proofs_after_empty_blocks_verify() {
    run(27, |context| async move {
        let mut store = StateStore::open(context.child("state"), state_config("emptyblocks"))
            .await
            .unwrap();
        let absent = [key(7), key(500)];
        let mut height = 0;
        for batch in [vec![], writes(0..3, "a"), vec![(key(0), None)]] {
            let all_deleted = (0..3).map(|i| (key(i), None)).collect();
            for b in [batch, vec![], all_deleted, vec![], vec![]] {
                height += 1;
                let prepared = store.prepare(height, b).await.unwrap();
                store.commit(prepared).await.unwrap();
                check_absent(&store, &absent).await;
            }
        }
    });
}
