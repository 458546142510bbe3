//! The dev block producer: the simplest driver of propose → commit, one block per
//! interval, on one machine.

use crate::{Chain, ChainError};
use commonware_runtime::{Metrics, Supervisor};
use std::{sync::Arc, time::Duration};
use tessera_store::StoreContext;
use tessera_types::Address;

/// Produce a block every `interval` until `stop` resolves. Empty blocks are produced
/// too (the chain's clock keeps ticking and emission follows the height).
pub async fn run_dev_producer<E: StoreContext + Metrics + Supervisor>(
    chain: Arc<Chain<E>>,
    proposer: Address,
    interval: Duration,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), ChainError> {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return chain.close().await,
            _ = ticker.tick() => {
                let block = chain.propose_dev(chain.head().hash(), proposer, now_ms()).await?;
                let committed = chain.commit(block.hash()).await?;
                tracing::debug!(height = committed.block.header.height, txs = committed.block.txs.len(), "committed block");
            }
        }
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
