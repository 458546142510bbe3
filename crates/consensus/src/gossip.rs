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
//! * a transaction refused for a reason no honest node can hit (wrong chain, a stateless
//!   rule of its call, a fee under the fixed price: [`MempoolError::is_peer_fault`]) is a
//!   strike; a peer with [`MAX_STRIKES`] strikes is blocked. At most [`MAX_TRACKED_PEERS`]
//!   peers' strikes are remembered.
//! * a transaction refused for a passing reason (a nonce already used, a full mempool) is
//!   dropped without penalty: it raced a block.
//! * only transactions the sender's mempool holds as ready are sent (a transaction behind
//!   a nonce gap is announced when the gap fills), so nobody relays work a block cannot
//!   use yet.
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
/// Transactions failing admission for a peer-fault reason before the peer is blocked.
pub const MAX_STRIKES: u32 = 8;
/// Most peers whose strikes are remembered (validators are a bounded set).
pub const MAX_TRACKED_PEERS: usize = 4_096;

/// Strikes per peer for gossip that fails admission through the peer's own fault.
#[derive(Default)]
pub struct Strikes {
    counts: std::collections::HashMap<PublicKey, u32>,
}

impl Strikes {
    /// Record `faults` strikes for `peer`; true once it has earned a block.
    pub fn record(&mut self, peer: &PublicKey, faults: u32) -> bool {
        if faults == 0 {
            return false;
        }
        if !self.counts.contains_key(peer) && self.counts.len() >= MAX_TRACKED_PEERS {
            self.counts.clear();
        }
        let count = self.counts.entry(peer.clone()).or_default();
        *count = count.saturating_add(faults);
        *count >= MAX_STRIKES
    }
}

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
    let mut strikes = Strikes::default();
    while let Ok((peer, message)) = receiver.recv().await {
        let Some(txs) = decode_batch(message.as_ref()) else {
            warn!(?peer, "undecodable transaction gossip; blocking the peer");
            let _ = blocker.block(peer);
            continue;
        };
        let mut faults = 0u32;
        for result in chain.submit_gossiped(txs) {
            match result {
                Ok(_) | Err(MempoolError::AlreadyKnown(_)) => {}
                Err(MempoolError::BadSignature) => {
                    faults = MAX_STRIKES;
                    break;
                }
                Err(e) if e.is_peer_fault() => {
                    debug!(?peer, error = %e, "gossiped transaction breaks a fixed rule");
                    faults = faults.saturating_add(1);
                }
                Err(e) => debug!(error = %e, "gossiped transaction refused"),
            }
        }
        if strikes.record(&peer, faults) {
            warn!(
                ?peer,
                "gossiped transactions no honest node would send; blocking the peer"
            );
            let _ = blocker.block(peer.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_chain::genesis::{dev_key, dev_transfer};
    use tessera_types::Amount;

    #[test]
    fn strikes_add_up_to_a_block() {
        let mut strikes = Strikes::default();
        let peer = commonware_cryptography::Signer::public_key(
            &<commonware_cryptography::ed25519::PrivateKey as commonware_cryptography::Signer>::from_seed(1),
        );
        assert!(!strikes.record(&peer, 0));
        for _ in 0..MAX_STRIKES - 1 {
            assert!(!strikes.record(&peer, 1));
        }
        assert!(strikes.record(&peer, 1));
    }

    /// A wrong-chain or malformed transaction is the sender's fault; a stale nonce or
    /// missing funds can be a race.
    #[test]
    fn fixed_rule_failures_are_peer_faults_and_races_are_not() {
        use tessera_state::StateError;
        assert!(MempoolError::BadSignature.is_peer_fault());
        assert!(MempoolError::State(StateError::ZeroAmount).is_peer_fault());
        assert!(!MempoolError::State(StateError::StaleNonce {
            expected: 2,
            got: 1
        })
        .is_peer_fault());
        assert!(!MempoolError::Full(1).is_peer_fault());
        assert!(!MempoolError::NonceTooFarAhead {
            expected: 1,
            got: 99
        }
        .is_peer_fault());
    }

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
