//! The mempool: signed transactions waiting for a block.
//!
//! Admission checks, in order: known id, size (by decoding), signature, chain id,
//! nonce (not stale, at most `max_future_nonces` ahead), fee ≤ max_fee, and funds for
//! the fees and spends of this and the account's earlier pending transactions.
//!
//! # Invariants
//! * at most `max_txs` transactions in total and `max_per_account` per account.
//! * one transaction per (account, nonce); [`Mempool::candidates`] yields each
//!   account's transactions in nonce order.
//! * after a commit, no pending transaction has a nonce below its account's nonce.

use std::collections::{BTreeMap, HashMap, VecDeque};
use tessera_state::{exec, Overlay, Params, StateError, StateView};
use tessera_types::{Address, Amount, ChainId, Hash, SignedTransaction};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MempoolLimits {
    pub max_txs: usize,
    pub max_per_account: usize,
    pub max_future_nonces: u64,
}

impl Default for MempoolLimits {
    fn default() -> Self {
        MempoolLimits {
            max_txs: 50_000,
            max_per_account: 1_024,
            max_future_nonces: 1_024,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MempoolError {
    #[error("transaction {0} is already pending")]
    AlreadyKnown(Hash),
    #[error("invalid signature: the transaction was not signed by its signer's key")]
    BadSignature,
    #[error(transparent)]
    State(#[from] StateError),
    #[error("nonce {got} is too far ahead of the account's next nonce {expected}: submit the missing nonces first")]
    NonceTooFarAhead { expected: u64, got: u64 },
    #[error("nonce {0} already has a pending transaction from this account")]
    NonceTaken(u64),
    #[error("the mempool is full ({0} transactions): try again in a few blocks")]
    Full(usize),
    #[error("this account already has {0} pending transactions: wait for some to commit")]
    AccountFull(usize),
}

struct Pending {
    tx: SignedTransaction,
    seq: u64,
    cost: Amount,
}

#[derive(Default)]
pub struct Mempool {
    limits: MempoolLimits,
    accounts: HashMap<Address, BTreeMap<u64, Pending>>,
    ids: HashMap<Hash, (Address, u64)>,
    seq: u64,
    rejected: VecDeque<(Hash, String)>,
}

/// How many recent rejections are remembered for status queries.
const MAX_REMEMBERED_REJECTIONS: usize = 10_000;

impl Mempool {
    pub fn new(limits: MempoolLimits) -> Mempool {
        Mempool {
            limits,
            ..Mempool::default()
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn contains(&self, id: &Hash) -> bool {
        self.ids.contains_key(id)
    }

    /// Admit `tx` against the committed `state`. The signature is checked here.
    /// The nonce after `account`'s queued transactions that follow `state_nonce` without a
    /// gap: the nonce its next transaction should use.
    pub fn next_nonce(&self, account: &Address, state_nonce: u64) -> u64 {
        let mut next = state_nonce;
        if let Some(queue) = self.accounts.get(account) {
            for nonce in queue.range(state_nonce..).map(|(n, _)| *n) {
                if nonce != next {
                    break;
                }
                next = next.saturating_add(1);
            }
        }
        next
    }

    /// Whether the pool holds exactly `tx` (signature included), so its signature was
    /// verified on the way in.
    pub fn holds(&self, tx: &SignedTransaction) -> bool {
        self.ids.get(&tx.id()).is_some_and(|(sender, nonce)| {
            self.accounts
                .get(sender)
                .and_then(|q| q.get(nonce))
                .is_some_and(|p| p.tx == *tx)
        })
    }

    pub fn insert(
        &mut self,
        tx: SignedTransaction,
        state: &dyn StateView,
        params: &Params,
        chain_id: &ChainId,
    ) -> Result<Hash, MempoolError> {
        if self.ids.contains_key(&tx.id()) {
            return Err(MempoolError::AlreadyKnown(tx.id()));
        }
        if !tx.verify_signature() {
            return Err(MempoolError::BadSignature);
        }
        self.insert_verified(tx, state, params, chain_id)
    }

    /// [`Mempool::insert`] of a transaction whose signature the caller has verified (in a
    /// batch, say).
    pub fn insert_verified(
        &mut self,
        tx: SignedTransaction,
        state: &dyn StateView,
        params: &Params,
        chain_id: &ChainId,
    ) -> Result<Hash, MempoolError> {
        let id = tx.id();
        if self.ids.contains_key(&id) {
            return Err(MempoolError::AlreadyKnown(id));
        }
        let view = Overlay::new(state);
        let admission = exec::admission(&view, params, chain_id, &tx, true)?;
        let sender = tx.sender();
        let nonce = tx.tx().nonce;
        if nonce.saturating_sub(admission.next_nonce) >= self.limits.max_future_nonces {
            return Err(MempoolError::NonceTooFarAhead {
                expected: admission.next_nonce,
                got: nonce,
            });
        }
        let queue = self.accounts.get(&sender);
        if queue.is_some_and(|q| q.contains_key(&nonce)) {
            return Err(MempoolError::NonceTaken(nonce));
        }
        if queue.map_or(0, BTreeMap::len) >= self.limits.max_per_account {
            return Err(MempoolError::AccountFull(self.limits.max_per_account));
        }
        if self.ids.len() >= self.limits.max_txs {
            return Err(MempoolError::Full(self.limits.max_txs));
        }
        let cost = admission
            .fee
            .checked_add(exec::call_spend(&tx.tx().call))
            .ok_or(StateError::Overflow("cost"))?;
        let earlier = queue
            .map(|q| q.range(..nonce).map(|(_, p)| p.cost.base()).sum::<u128>())
            .unwrap_or(0);
        let balance = tessera_state::bank::account(&view, &sender)?.balance;
        let needed = Amount::from_base(cost.base().saturating_add(earlier));
        if needed > balance {
            return Err(StateError::InsufficientFunds {
                needed,
                available: balance,
            }
            .into());
        }
        self.seq = self.seq.saturating_add(1);
        let pending = Pending {
            tx,
            seq: self.seq,
            cost,
        };
        self.accounts
            .entry(sender)
            .or_default()
            .insert(nonce, pending);
        self.ids.insert(id, (sender, nonce));
        Ok(id)
    }

    /// Up to `max` transactions for a block: accounts in order of their oldest pending
    /// transaction, each account's transactions in nonce order.
    pub fn candidates(&self, max: usize) -> Vec<SignedTransaction> {
        let mut accounts: Vec<(&Address, u64)> = self
            .accounts
            .iter()
            .map(|(addr, q)| (addr, q.values().map(|p| p.seq).min().unwrap_or(u64::MAX)))
            .collect();
        accounts.sort_by_key(|(addr, seq)| (*seq, **addr));
        accounts
            .into_iter()
            .filter_map(|(addr, _)| self.accounts.get(addr))
            .flat_map(|q| q.values().map(|p| p.tx.clone()))
            .take(max)
            .collect()
    }

    /// Drop a transaction (included in a block, or rejected with `reason`).
    pub fn remove(&mut self, id: &Hash, reason: Option<String>) {
        if let Some((sender, nonce)) = self.ids.remove(id) {
            if let Some(q) = self.accounts.get_mut(&sender) {
                q.remove(&nonce);
                if q.is_empty() {
                    self.accounts.remove(&sender);
                }
            }
        }
        if let Some(reason) = reason {
            if self.rejected.len() >= MAX_REMEMBERED_REJECTIONS {
                self.rejected.pop_front();
            }
            self.rejected.push_back((*id, reason));
        }
    }

    /// After a commit: drop every transaction whose nonce is now used.
    pub fn prune_nonces(&mut self, next_nonce: impl Fn(&Address) -> u64) {
        let mut stale = Vec::new();
        for (addr, q) in &self.accounts {
            let next = next_nonce(addr);
            stale.extend(q.range(..next).map(|(_, p)| p.tx.id()));
        }
        for id in stale {
            self.remove(&id, None);
        }
    }

    /// Why a recent transaction was dropped without being included, if it was.
    pub fn rejection(&self, id: &Hash) -> Option<&str> {
        self.rejected
            .iter()
            .rev()
            .find(|(r, _)| r == id)
            .map(|(_, reason)| reason.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_state::{Genesis, GenesisAccount, MemState};
    use tessera_types::{Call, Keypair, Transaction};

    fn setup() -> (MemState, Params, ChainId, Keypair) {
        let key = Keypair::from_seed(1);
        let chain_id = ChainId::new("t").unwrap();
        let genesis = Genesis {
            chain_id: chain_id.clone(),
            genesis_time_ms: 0,
            params: Params::default(),
            accounts: vec![GenesisAccount {
                address: key.address(),
                balance: Amount::from_tsr(1).unwrap(),
                bonded: Amount::ZERO,
            }],
        };
        let state = genesis
            .build()
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k, v.unwrap()))
            .collect();
        (state, Params::default(), chain_id, key)
    }

    fn tx(key: &Keypair, nonce: u64, amount: Amount) -> SignedTransaction {
        Transaction {
            chain_id: ChainId::new("t").unwrap(),
            signer: key.public_key().clone(),
            nonce,
            max_fee: Amount::from_tsr(1).unwrap(),
            call: Call::Transfer {
                to: Keypair::from_seed(2).address(),
                amount,
            },
        }
        .sign(key)
        .unwrap()
    }

    #[test]
    fn admits_orders_and_prunes() {
        let (state, params, chain, key) = setup();
        let mut pool = Mempool::new(MempoolLimits::default());
        let small = Amount::from_base(10);
        pool.insert(tx(&key, 1, small), &state, &params, &chain)
            .unwrap();
        pool.insert(tx(&key, 0, small), &state, &params, &chain)
            .unwrap();
        let nonces: Vec<u64> = pool.candidates(10).iter().map(|t| t.tx().nonce).collect();
        assert_eq!(nonces, vec![0, 1]);
        assert!(matches!(
            pool.insert(tx(&key, 1, small), &state, &params, &chain),
            Err(MempoolError::AlreadyKnown(_))
        ));
        assert!(matches!(
            pool.insert(tx(&key, 1, Amount::from_base(11)), &state, &params, &chain),
            Err(MempoolError::NonceTaken(1))
        ));
        pool.prune_nonces(|_| 1);
        assert_eq!(pool.len(), 1);
    }

    #[test]
    fn rejects_overspend_counting_earlier_pending() {
        let (state, params, chain, key) = setup();
        let mut pool = Mempool::new(MempoolLimits::default());
        let most = Amount::from_base(900_000_000);
        pool.insert(tx(&key, 0, most), &state, &params, &chain)
            .unwrap();
        let err = pool
            .insert(tx(&key, 1, most), &state, &params, &chain)
            .unwrap_err();
        assert!(
            matches!(
                err,
                MempoolError::State(StateError::InsufficientFunds { .. })
            ),
            "{err}"
        );
    }

    #[test]
    fn enforces_limits_and_future_window() {
        let (state, params, chain, key) = setup();
        let limits = MempoolLimits {
            max_txs: 2,
            max_per_account: 2,
            max_future_nonces: 3,
        };
        let mut pool = Mempool::new(limits);
        let one = Amount::from_base(1);
        assert!(matches!(
            pool.insert(tx(&key, 3, one), &state, &params, &chain),
            Err(MempoolError::NonceTooFarAhead { .. })
        ));
        pool.insert(tx(&key, 0, one), &state, &params, &chain)
            .unwrap();
        pool.insert(tx(&key, 1, one), &state, &params, &chain)
            .unwrap();
        assert!(matches!(
            pool.insert(tx(&key, 2, one), &state, &params, &chain),
            Err(MempoolError::AccountFull(2))
        ));
    }

    #[test]
    fn rejects_bad_signature_and_wrong_chain() {
        let (state, params, _, key) = setup();
        let mut pool = Mempool::new(MempoolLimits::default());
        let mut bytes = tx(&key, 0, Amount::from_base(1)).to_bytes();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let forged = SignedTransaction::from_bytes(&bytes).unwrap();
        assert_eq!(
            pool.insert(forged, &state, &params, &ChainId::new("t").unwrap()),
            Err(MempoolError::BadSignature)
        );
        let err = pool
            .insert(
                tx(&key, 0, Amount::from_base(1)),
                &state,
                &params,
                &ChainId::new("other").unwrap(),
            )
            .unwrap_err();
        assert!(matches!(
            err,
            MempoolError::State(StateError::WrongChain { .. })
        ));
    }
}
