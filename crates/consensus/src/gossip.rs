//! Transaction gossip: every transaction a node's clients submit reaches every peer's
//! mempool, so it lands in the next block whoever leads.
//!
//! * outbound: transactions admitted locally ([`Chain::subscribe_admitted`]) are sent to
//!   all peers in batches (whatever queued while the previous batch was sent, at most
//!   [`MAX_BATCH_TXS`] transactions and [`MAX_BATCH_BYTES`] bytes).
//! * inbound: a batch is decoded with the same limits and admitted with
//!   [`Chain::submit_gossiped`], which checks each transaction like a client's (signatures
//!   verified as one batch, then nonce and funds) and does not announce it again:
//!   validators are fully connected, so one hop reaches all.
//!
//! # Invariants
//! * a peer that sends an undecodable batch or a transaction with a bad signature is
//!   blocked (an honest node never does: it checked both before sending).
//! * a transaction refused for a passing reason (a nonce already used, a full mempool) is
//!   dropped without penalty: it raced a block.
//! * gossip is best effort: a batch lost to a slow subscriber or an offline peer is not
//!   resent, and the transaction still lands when its own node proposes.

use commonware_codec::{Copying, EncodeSize as _};
use commonware_cryptography::ed25519::PublicKey;
use commonware_p2p::{Blocker, Receiver, Recipients, Sender};
use commonware_runtime::{Metrics, Supervisor};
use std::sync::Arc;
use tessera_chain::{Chain, MempoolError};
use tessera_store::StoreContext;
use tessera_types::{
    codec::{read_list, write_list},
    SignedTransaction,
};
use tokio::sync::broadcast::{self, error::TryRecvError};
use tracing::{debug, warn};

/// Most transactions in one gossip message.
pub const MAX_BATCH_TXS: usize = 512;
/// Most bytes of transactions in one gossip message (below the network's message limit).
pub const MAX_BATCH_BYTES: usize = 512 * 1024;

/// Encode a batch of transactions as one message.
pub fn encode_batch(txs: &[SignedTransaction]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(txs.iter().map(|t| t.encode_size()).sum::<usize>() + 4);
    write_list(txs, &mut buf);
    buf
}

/// Decode a gossip message: at most [`MAX_BATCH_TXS`] transactions, nothing trailing.
pub fn decode_batch(bytes: &[u8]) -> Option<Vec<SignedTransaction>> {
    if bytes.len() > MAX_BATCH_BYTES.saturating_add(1024) {
        return None;
    }
    let mut input = Copying(bytes);
    let txs = read_list::<SignedTransaction>(&mut input, MAX_BATCH_TXS, &()).ok()?;
    input.0.is_empty().then_some(txs)
}

/// Send locally admitted transactions to every peer until the chain is dropped.
pub async fn run_outbound<E, S>(chain: Arc<Chain<E>>, mut sender: S)
where
    E: StoreContext + Metrics + Supervisor,
    S: Sender<PublicKey = PublicKey>,
{
    let mut admitted = chain.subscribe_admitted();
    drop(chain);
    loop {
        let first = match admitted.recv().await {
            Ok(tx) => tx,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                warn!(
                    missed,
                    "gossip fell behind; those transactions wait for our turn to lead"
                );
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let mut bytes = first.encode_size();
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH_TXS && bytes < MAX_BATCH_BYTES / 2 {
            match admitted.try_recv() {
                Ok(tx) => {
                    bytes = bytes.saturating_add(tx.encode_size());
                    batch.push(tx);
                }
                Err(TryRecvError::Lagged(missed)) => {
                    warn!(missed, "gossip fell behind");
                }
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        let sent = sender.send(Recipients::All, encode_batch(&batch), false);
        debug!(
            txs = batch.len(),
            peers = sent.len(),
            "gossiped transactions"
        );
    }
}

/// Admit transactions peers gossip, blocking peers that send invalid ones.
pub async fn run_inbound<E, R, B>(chain: Arc<Chain<E>>, mut receiver: R, mut blocker: B)
where
    E: StoreContext + Metrics + Supervisor,
    R: Receiver<PublicKey = PublicKey>,
    B: Blocker<PublicKey = PublicKey>,
{
    while let Ok((peer, message)) = receiver.recv().await {
        let Some(txs) = decode_batch(message.as_ref()) else {
            warn!(?peer, "undecodable transaction gossip; blocking the peer");
            let _ = blocker.block(peer);
            continue;
        };
        for result in chain.submit_gossiped(txs) {
            match result {
                Ok(_) | Err(MempoolError::AlreadyKnown(_)) => {}
                Err(MempoolError::BadSignature) => {
                    warn!(
                        ?peer,
                        "gossiped a badly signed transaction; blocking the peer"
                    );
                    let _ = blocker.block(peer.clone());
                    break;
                }
                Err(e) => debug!(error = %e, "gossiped transaction refused"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_chain::genesis::{dev_key, dev_transfer};
    use tessera_types::Amount;

    #[test]
    fn batches_round_trip_within_limits() {
        let to = dev_key(2).address();
        let txs: Vec<_> = (0..3)
            .map(|n| dev_transfer(&dev_key(1), n, to, Amount::from_base(1)))
            .collect();
        let bytes = encode_batch(&txs);
        assert_eq!(decode_batch(&bytes), Some(txs.clone()));
        // Trailing bytes, truncation, and too many items are refused.
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(decode_batch(&trailing), None);
        assert_eq!(decode_batch(&bytes[..bytes.len() - 1]), None);
        let too_many = u32::try_from(MAX_BATCH_TXS + 1).unwrap().to_be_bytes();
        assert_eq!(decode_batch(&too_many), None);
    }
}
