//! Claiming: the provider's charges go on chain in batches, by amount or by age, and
//! always before a channel's claim window closes.
//!
//! Each round, for every channel with charges not yet claimed, a claim is sent when the
//! unclaimed amount reaches `min_amount`, when the oldest unclaimed charge is older
//! than `max_age`, or when the chain is within `expiry_margin_blocks` of the channel's
//! expiry. A claim takes each lane's charged total with the lane's newest voucher (a
//! partial claim: the unused reservation of a per-token call is never taken).

use crate::Shared;
use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};
use tessera_rpc::api::TxResponse;
use tessera_types::{channel::MAX_CLAIM_LANES, Amount, Call, Hash, TxStatus};

/// When to claim.
#[derive(Clone, Debug)]
pub struct ClaimPolicy {
    /// How often to look.
    pub interval: Duration,
    /// Claim a channel once this much is unclaimed.
    pub min_amount: Amount,
    /// Claim a channel whose oldest unclaimed charge is this old.
    pub max_age: Duration,
    /// Claim everything this many blocks before a channel expires.
    pub expiry_margin_blocks: u64,
}

impl Default for ClaimPolicy {
    fn default() -> Self {
        ClaimPolicy {
            interval: Duration::from_secs(2),
            min_amount: Amount::from_base(1_000_000_000),
            max_age: Duration::from_secs(60),
            expiry_margin_blocks: 20,
        }
    }
}

/// When each channel's unclaimed charges were first seen (for `max_age`).
#[derive(Default)]
pub struct Ages(HashMap<Hash, Instant>);

/// One round: claim what the policy says is due. Returns the channels claimed.
pub async fn claim_due(p: &Shared, ages: &mut Ages, force: bool) -> Vec<Hash> {
    let unclaimed = match p.ledger.unclaimed() {
        Ok(u) => u,
        Err(e) => {
            tracing::error!("cannot read the ledger: {e}");
            return Vec::new();
        }
    };
    let mut claimed = Vec::new();
    let now = Instant::now();
    ages.0
        .retain(|id, _| unclaimed.iter().any(|u| u.channel == *id));
    for u in unclaimed {
        let since = *ages.0.entry(u.channel).or_insert(now);
        let near_expiry = match p.view.channel(&u.channel, false).await {
            Ok(info) => {
                p.view
                    .height()
                    .saturating_add(p.config.claims.expiry_margin_blocks)
                    >= info.channel.expires_at
            }
            Err(_) => true,
        };
        let due = force
            || near_expiry
            || u.amount >= p.config.claims.min_amount
            || now.duration_since(since) >= p.config.claims.max_age;
        if !due {
            continue;
        }
        let mut u = u;
        if p.config.adversary == Some(crate::Adversary::Overclaim) {
            for lane in &mut u.lanes {
                lane.claimed = lane.cumulative;
            }
        }
        for lanes in u.lanes.chunks(MAX_CLAIM_LANES) {
            if claim(p, u.channel, lanes).await {
                ages.0.remove(&u.channel);
                claimed.push(u.channel);
            }
        }
    }
    claimed
}

/// Send one claim and wait for it; record it in the ledger when it succeeded.
async fn claim(p: &Shared, channel: Hash, lanes: &[tessera_types::channel::LaneClaim]) -> bool {
    let call = Call::ClaimChannel {
        channel,
        lanes: lanes.to_vec(),
    };
    let id = match p.view.client.sign_and_submit(&p.key, call, None).await {
        Ok(id) => id,
        Err(e) => {
            tracing::warn!(%channel, "cannot submit a claim: {e}");
            return false;
        }
    };
    match p.view.client.wait_for_tx(id, Duration::from_secs(30)).await {
        Ok(TxResponse::Committed { receipt, .. }) => match receipt.status {
            TxStatus::Success => {
                if let Err(e) = p.ledger.mark_claimed(&channel, lanes) {
                    tracing::error!("claimed on chain but cannot record it: {e}");
                }
                p.view.forget(&channel);
                tracing::info!(%channel, lanes = lanes.len(), "claimed");
                true
            }
            TxStatus::Failed(f) => {
                tracing::warn!(%channel, "claim failed on chain: {}", f.text());
                reconcile(p, channel).await;
                false
            }
        },
        Ok(other) => {
            tracing::warn!(%channel, "claim not committed: {other:?}");
            false
        }
        Err(e) => {
            tracing::warn!(%channel, "cannot follow the claim: {e}");
            false
        }
    }
}

/// Take the chain's claimed totals into the ledger (a claim recorded on chain but lost
/// here, e.g. by a power loss, is not sent again).
pub async fn reconcile(p: &Shared, channel: Hash) {
    let Ok(response) = p.view.client.channel(&channel).await else {
        return;
    };
    let lanes: Vec<_> = response
        .lanes
        .iter()
        .filter_map(|l| {
            let mine = p.ledger.lane(&channel, l.lane).ok()?;
            let signature = mine.signature.clone()?;
            (l.claimed > mine.claimed).then_some(tessera_types::channel::LaneClaim {
                lane: l.lane,
                claimed: l.claimed,
                cumulative: mine.voucher,
                signature,
            })
        })
        .collect();
    if let Err(e) = p.ledger.mark_claimed(&channel, &lanes) {
        tracing::error!("cannot record the chain's claims: {e}");
    }
}

/// Claim, and answer overclaim reports, on a timer until aborted.
pub fn spawn(p: Arc<Shared>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ages = Ages::default();
        let mut answered = crate::overclaims::Answered::default();
        loop {
            tokio::time::sleep(p.config.claims.interval).await;
            claim_due(&p, &mut ages, false).await;
            crate::overclaims::answer_open(&p, &mut answered).await;
        }
    })
}
