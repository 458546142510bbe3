//! Watching the providers' claims: a provider that claims more on a lane than its own
//! receipt for the lane's last voucher says it charged is reported, with a bond, as an
//! overclaim (`tessera_state::verify::overclaim`). An unanswered report slashes it and
//! pays the overclaimed amount back to this gateway's account.
//!
//! Only lanes whose last signed voucher brought a receipt are checked
//! ([`crate::book::Book::last_receipts`]), so no later receipt can exist and an honest
//! provider is never reported.

use crate::Gateway;
use std::collections::{HashMap, HashSet};
use tessera_types::{call::CallReceipt, dispute::overclaim_id, Amount, Call, Hash};

/// What was reported already: (channel, lane, claimed total).
#[derive(Default)]
pub struct Reported(std::sync::Mutex<HashSet<(Hash, u32, Amount)>>);

/// Lanes of `receipts` claimed above their receipt, with the claimed total.
pub fn overclaimed(
    receipts: &[CallReceipt],
    claimed: &HashMap<(Hash, u32), Amount>,
) -> Vec<(CallReceipt, Amount)> {
    receipts
        .iter()
        .filter_map(|r| {
            let c = *claimed.get(&(r.channel, r.lane))?;
            (c > r.lane_charged).then(|| (r.clone(), c))
        })
        .collect()
}

impl Gateway {
    /// One round: compare each checkable lane's claim on chain with its receipt; report
    /// the lanes claimed above it.
    pub async fn report_overclaims(&self) {
        let Ok(receipts) = self.book.last_receipts() else {
            return;
        };
        let mut claimed = HashMap::new();
        let channels: HashSet<Hash> = receipts.iter().map(|r| r.channel).collect();
        for channel in channels {
            let Ok(response) = self.client.channel(&channel).await else {
                continue;
            };
            for lane in response.lanes {
                claimed.insert((channel, lane.lane), lane.claimed);
            }
        }
        for (receipt, total) in overclaimed(&receipts, &claimed) {
            let key = (receipt.channel, receipt.lane, total);
            let fresh = self
                .overclaims
                .0
                .lock()
                .map(|mut seen| seen.insert(key))
                .unwrap_or(false);
            if !fresh {
                continue;
            }
            let (provider, channel, lane) = (receipt.provider, receipt.channel, receipt.lane);
            let id = overclaim_id(&receipt, total);
            let charged = receipt.lane_charged;
            let call = Call::ReportOverclaim {
                receipt: Box::new(receipt),
                bond: self.config.overclaim_bond,
            };
            match self.submit(call).await {
                Ok(_) => tracing::warn!(
                    "reported {provider} for overclaiming lane {lane} of channel {channel} ({total} TSR claimed, {charged} TSR charged): overclaim {id}"
                ),
                Err(e) => tracing::warn!(%provider, %channel, lane, "cannot report an overclaim: {e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_types::{tx::ModelId, ChainId, Keypair};

    fn receipt(lane: u32, lane_charged: u128) -> CallReceipt {
        CallReceipt {
            chain_id: ChainId::new("gw-test").unwrap(),
            channel: Hash([1; 32]),
            lane,
            provider: Keypair::from_seed(1).address(),
            request_hash: Hash([2; 32]),
            model: ModelId(1),
            manifest_cid: "bafy".into(),
            kernel_path: "cpu".into(),
            output_hash: Hash([3; 32]),
            token_ids: Vec::new(),
            tokens_charged: 0,
            amount_charged: Amount::from_base(1),
            lane_charged: Amount::from_base(lane_charged),
            voucher: Amount::from_base(lane_charged + 5),
            first_output_ms: 1,
            total_ms: 1,
            signature: CallReceipt::unsigned_signature(),
        }
    }

    #[test]
    fn only_lanes_claimed_above_their_receipt_are_overclaimed() {
        let receipts = [receipt(0, 10), receipt(1, 10), receipt(2, 10)];
        let claimed: HashMap<_, _> = [
            ((Hash([1; 32]), 0), Amount::from_base(10)),
            ((Hash([1; 32]), 1), Amount::from_base(15)),
        ]
        .into_iter()
        .collect();
        let found = overclaimed(&receipts, &claimed);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0.lane, 1);
        assert_eq!(found[0].1, Amount::from_base(15));
    }
}
