//! The recovery contract: the chain stores block H, then commits H's state. A crash between
//! the two leaves `blocks.latest() == state.height() + 1`, and re-executing the stored block
//! restores the state root.
#![cfg(test)]

mod common;

use common::{block_config, state_config, writes};
use commonware_runtime::{deterministic, Runner as _, Supervisor as _};
use tessera_store::{BlockStore, StateStore, Writes};

type State = StateStore<deterministic::Context>;
type Blocks = BlockStore<deterministic::Context>;

async fn open(context: &deterministic::Context) -> (State, Blocks) {
    let state = StateStore::open(context.child("state"), state_config("rc-state"))
        .await
        .unwrap();
    let blocks = BlockStore::open(context.child("blocks"), block_config("rc-blocks"))
        .await
        .unwrap();
    (state, blocks)
}

/// The write set "executing" block `height` produces (a pure function, like the chain).
fn execute(height: u64) -> Writes {
    let h = u32::try_from(height).unwrap();
    writes(h * 3..h * 3 + 10, &format!("h{height}"))
}

/// One block through the chain's write path; `crash_before_commit` stops after the block put.
async fn apply_block(
    state: &mut State,
    blocks: &mut Blocks,
    height: u64,
    commit: bool,
) -> [u8; 32] {
    let prepared = state.prepare(height, execute(height)).await.unwrap();
    let root = prepared.root();
    let hash = [u8::try_from(height).unwrap(); 32];
    let body = height.to_be_bytes().to_vec();
    blocks
        .put(height, hash, body, root.to_vec(), vec![])
        .await
        .unwrap();
    if commit {
        state.commit(prepared).await.unwrap();
    }
    root
}

#[test]
fn crash_between_block_put_and_state_commit() {
    let runner = deterministic::Runner::seeded(40);
    let (root_4, checkpoint) = runner.start_and_recover(|context| async move {
        let (mut state, mut blocks) = open(&context).await;
        for height in 1..=3 {
            apply_block(&mut state, &mut blocks, height, true).await;
        }
        apply_block(&mut state, &mut blocks, 4, false).await
    });
    deterministic::Runner::from(checkpoint).start(|context| async move {
        let (mut state, blocks) = open(&context).await;
        assert_eq!(state.height(), Some(3));
        assert_eq!(blocks.latest(), Some(4));

        // The chain re-executes the stored block and gets the header's root back.
        let stored = blocks.by_height(4).await.unwrap().unwrap();
        let prepared = state.prepare(4, execute(4)).await.unwrap();
        assert_eq!(
            prepared.root().to_vec(),
            stored.receipts,
            "receipts carry the root here"
        );
        assert_eq!(state.commit(prepared).await.unwrap(), root_4);
    });
}

#[test]
fn crash_after_both_leaves_equal_heights() {
    let runner = deterministic::Runner::seeded(41);
    let (root, checkpoint) = runner.start_and_recover(|context| async move {
        let (mut state, mut blocks) = open(&context).await;
        let mut root = [0; 32];
        for height in 1..=5 {
            root = apply_block(&mut state, &mut blocks, height, true).await;
        }
        root
    });
    deterministic::Runner::from(checkpoint).start(|context| async move {
        let (state, blocks) = open(&context).await;
        assert_eq!(state.height(), Some(5));
        assert_eq!(blocks.latest(), Some(5));
        assert_eq!(state.root(), root);
    });
}
