//! Answering overclaim reports: someone showed an older receipt of one of this
//! provider's lanes below what it claimed there. The ledger keeps, with each lane's
//! charged total, the receipt and request signature that prove it ([`Proof`]); sending
//! them rejects the report before its deadline (`tessera_state::verify::overclaim`).

use crate::{ledger::Proof, Shared};
use std::{collections::HashSet, time::Duration};
use tessera_rpc::api::TxResponse;
use tessera_state::verify::overclaim::check_answer;
use tessera_types::{Call, Hash, TxStatus};

/// The reports already answered (a report closes when its answer lands).
#[derive(Default)]
pub struct Answered(HashSet<Hash>);

/// One round: answer every open report against this provider that its ledger can.
pub async fn answer_open(p: &Shared, answered: &mut Answered) {
    let Ok(open) = p.view.client.overclaims().await else {
        return;
    };
    answered.0.retain(|id| open.iter().any(|o| o.id == *id));
    for report in open {
        let receipt = &report.overclaim.receipt;
        if receipt.provider != p.me || answered.0.contains(&report.id) {
            continue;
        }
        let proof = match p.ledger.proof(&receipt.channel, receipt.lane) {
            // The chain's own rule: a later receipt charging at least the claim.
            Ok(Some(proof))
                if check_answer(&report.overclaim, &proof.receipt, &proof.request_sig).is_ok() =>
            {
                proof
            }
            Ok(_) => {
                tracing::error!(
                    report = %report.id,
                    channel = %receipt.channel,
                    lane = receipt.lane,
                    "an overclaim report this ledger cannot answer: the claim is above every charge it recorded"
                );
                answered.0.insert(report.id);
                continue;
            }
            Err(e) => {
                tracing::error!("cannot read the ledger: {e}");
                return;
            }
        };
        if send(p, report.id, proof).await {
            answered.0.insert(report.id);
        }
    }
}

async fn send(p: &Shared, id: Hash, proof: Proof) -> bool {
    let call = Call::AnswerOverclaim {
        dispute: id,
        receipt: Box::new(proof.receipt),
        request_sig: proof.request_sig,
    };
    let tx = match p.view.client.sign_and_submit(&p.key, call, None).await {
        Ok(tx) => tx,
        Err(e) => {
            tracing::warn!(report = %id, "cannot answer an overclaim report: {e}");
            return false;
        }
    };
    match p.view.client.wait_for_tx(tx, Duration::from_secs(30)).await {
        Ok(TxResponse::Committed { receipt, .. }) => match receipt.status {
            TxStatus::Success => {
                tracing::info!(report = %id, "answered an overclaim report with a later receipt");
                true
            }
            TxStatus::Failed(f) => {
                tracing::warn!(report = %id, "the answer failed on chain: {}", f.text());
                true
            }
        },
        other => {
            tracing::warn!(report = %id, "the answer was not committed: {other:?}");
            false
        }
    }
}
