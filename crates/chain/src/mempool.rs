//! The mempool: signed transactions waiting for a block, in two queues per account (as
//! Substrate's and geth's pools keep them).
//!
//! * **ready**: the account's transactions whose nonces run without a gap from its
//!   committed nonce. Only these are offered to block builders ([`Mempool::candidates`])
//!   and announced to peers.
//! * **future**: transactions behind a gap. They wait, at most
//!   `max_future_per_account` per account and `max_future` in all, at most
//!   `max_future_gap` nonces ahead of the account's next ready nonce, and become ready
//!   when the gap fills (by a client, a peer or a committed block).
//!
//! Admission checks, in order: known id, signature, the state machine's admission
//! (stateless rules of the call, chain id, nonce not stale, fee ≤ max_fee), the queue
//! limits, and funds for the fees and spends of this and the account's earlier pending
//! transactions. A full pool makes room for a ready transaction by evicting a future one
//! first, then the ready transaction that pays the lowest fee among those whose removal
//! leaves no gap (an account's last); a future transaction never evicts anything.
//! Transactions not included within `ttl_blocks` of their admission expire.
//!
//! # Invariants
//! * at most `max_txs` transactions in total and `max_per_account` per account.
//! * admission never takes the future queue past `max_future` in total or
//!   `max_future_per_account` for one account (a removal that opens a gap may leave
//!   transactions behind it, which wait or expire like any future transaction).
//! * one transaction per (account, nonce); [`Mempool::candidates`] yields only ready
//!   transactions, each account's in nonce order.
//! * after a commit, no pending transaction has a nonce below its account's nonce, and
//!   none is older than `ttl_blocks`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use tessera_state::{exec, Overlay, Params, StateError, StateView};
use tessera_types::{Address, Amount, ChainId, Hash, SignedTransaction};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MempoolLimits {
    pub max_txs: usize,
    pub max_per_account: usize,
    /// Future transactions in the whole pool.
    pub max_future: usize,
    pub max_future_per_account: usize,
    /// How far past the account's next ready nonce a future transaction may be.
    pub max_future_gap: u64,
    /// Blocks a transaction may wait before it expires.
    pub ttl_blocks: u64,
}

impl Default for MempoolLimits {
    fn default() -> Self {
        MempoolLimits {
            max_txs: 50_000,
            max_per_account: 1_024,
            max_future: 4_096,
            max_future_per_account: 16,
            max_future_gap: 64,
            ttl_blocks: 600,
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
    #[error("{0} transactions already wait behind nonce gaps: submit the missing nonces first, or retry later")]
    FutureFull(usize),
    #[error("this account already has {0} transactions waiting behind a nonce gap: submit the missing nonce first")]
    AccountFutureFull(usize),
}

impl MempoolError {
    /// Whether an honest peer could never have gossiped a transaction refused with this
    /// error: it breaks a rule that does not depend on timing (signature, chain id, the
    /// call's stateless rules, a fee below the fixed price). Such a peer is faulty.
    pub fn is_peer_fault(&self) -> bool {
        match self {
            MempoolError::BadSignature => true,
            MempoolError::State(e) => !matches!(
                e,
                StateError::StaleNonce { .. }
                    | StateError::FutureNonce { .. }
                    | StateError::InsufficientFunds { .. }
                    | StateError::Missing(_)
                    | StateError::Corrupt { .. }
                    | StateError::Overflow(_)
            ),
            _ => false,
        }
    }
}

struct Pending {
    tx: SignedTransaction,
    seq: u64,
    cost: Amount,
    fee: Amount,
    /// The head height when it was admitted (for expiry).
    added_height: u64,
    /// Submitted by this node's client (announced to peers once ready).
    local: bool,
}

/// One account's pending transactions.
#[derive(Default)]
struct Queue {
    txs: BTreeMap<u64, Pending>,
    /// The account's committed nonce, as last seen.
    base: u64,
    /// How many transactions from `base` on run without a gap (the ready ones).
    ready: usize,
}

impl Queue {
    /// Recount the ready run from `base`.
    fn refresh(&mut self) {
        let mut next = self.base;
        let mut run = 0usize;
        for nonce in self.txs.range(self.base..).map(|(n, _)| *n) {
            if nonce != next {
                break;
            }
            run = run.saturating_add(1);
            next = next.saturating_add(1);
        }
        self.ready = run;
    }

    fn next_ready_nonce(&self) -> u64 {
        self.base
            .saturating_add(u64::try_from(self.ready).unwrap_or(u64::MAX))
    }

    fn future(&self) -> usize {
        self.txs.len().saturating_sub(self.ready)
    }

    fn is_ready(&self, nonce: u64) -> bool {
        nonce >= self.base && nonce < self.next_ready_nonce()
    }
}

#[derive(Default)]
pub struct Mempool {
    limits: MempoolLimits,
    accounts: HashMap<Address, Queue>,
    ids: HashMap<Hash, (Address, u64)>,
    future_total: usize,
    seq: u64,
    /// The committed head height, as of the last commit.
    height: u64,
    rejected: VecDeque<(Hash, String)>,
}

/// How many recent rejections are remembered for status queries.
const MAX_REMEMBERED_REJECTIONS: usize = 10_000;

/// What an admission did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    pub id: Hash,
    /// Local transactions that became ready (this one, if it is, and any it unblocked),
    /// to announce to peers.
    pub ready_local: Vec<SignedTransaction>,
}

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

    /// Transactions waiting behind a nonce gap.
    pub fn future_len(&self) -> usize {
        self.future_total
    }

    /// Transactions a block could include now.
    pub fn ready_len(&self) -> usize {
        self.len().saturating_sub(self.future_total)
    }

    pub fn contains(&self, id: &Hash) -> bool {
        self.ids.contains_key(id)
    }

    /// The nonce after `account`'s queued transactions that follow `state_nonce` without a
    /// gap: the nonce its next transaction should use.
    pub fn next_nonce(&self, account: &Address, state_nonce: u64) -> u64 {
        let mut next = state_nonce;
        if let Some(queue) = self.accounts.get(account) {
            for nonce in queue.txs.range(state_nonce..).map(|(n, _)| *n) {
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
        self.pending(&tx.id()).is_some_and(|p| p.tx == *tx)
    }

    fn pending(&self, id: &Hash) -> Option<&Pending> {
        let (sender, nonce) = self.ids.get(id)?;
        self.accounts.get(sender)?.txs.get(nonce)
    }

    /// Admit `tx` against the committed `state`; the signature is checked here.
    pub fn insert(
        &mut self,
        tx: SignedTransaction,
        state: &dyn StateView,
        params: &Params,
        chain_id: &ChainId,
        local: bool,
    ) -> Result<Admitted, MempoolError> {
        if self.ids.contains_key(&tx.id()) {
            return Err(MempoolError::AlreadyKnown(tx.id()));
        }
        if !tx.verify_signature() {
            return Err(MempoolError::BadSignature);
        }
        self.insert_verified(tx, state, params, chain_id, local)
    }

    /// [`Mempool::insert`] of a transaction whose signature the caller has verified (in a
    /// batch, say).
    pub fn insert_verified(
        &mut self,
        tx: SignedTransaction,
        state: &dyn StateView,
        params: &Params,
        chain_id: &ChainId,
        local: bool,
    ) -> Result<Admitted, MempoolError> {
        let id = tx.id();
        if self.ids.contains_key(&id) {
            return Err(MempoolError::AlreadyKnown(id));
        }
        let view = Overlay::new(state);
        let admission = exec::admission(&view, params, chain_id, &tx, true)?;
        let sender = tx.sender();
        let nonce = tx.tx().nonce;
        self.sync_base(&sender, admission.next_nonce);
        let ready = self.check_queue(&sender, admission.next_nonce, nonce)?;
        let cost = admission
            .fee
            .checked_add(exec::call_spend(&tx.tx().call))
            .ok_or(StateError::Overflow("cost"))?;
        self.check_funds(&view, &sender, nonce, cost)?;
        self.make_room(ready, admission.fee)?;
        let old_end = self.ready_end(&sender, admission.next_nonce);
        self.seq = self.seq.saturating_add(1);
        let pending = Pending {
            tx,
            seq: self.seq,
            cost,
            fee: admission.fee,
            added_height: self.height,
            local,
        };
        self.accounts.entry(sender).or_insert_with(|| Queue {
            base: admission.next_nonce,
            ..Queue::default()
        });
        self.mutate(&sender, |q| q.txs.insert(nonce, pending));
        self.ids.insert(id, (sender, nonce));
        Ok(Admitted {
            id,
            ready_local: self.ready_local_since(&sender, old_end),
        })
    }

    /// Where `account`'s ready run ends (the nonce after it): `committed` with nothing
    /// pending.
    fn ready_end(&self, account: &Address, committed: u64) -> u64 {
        self.accounts
            .get(account)
            .map_or(committed, Queue::next_ready_nonce)
    }

    /// `account`'s local ready transactions at or after nonce `from` (those that became
    /// ready when the run grew past `from`).
    fn ready_local_since(&self, account: &Address, from: u64) -> Vec<SignedTransaction> {
        let Some(queue) = self.accounts.get(account) else {
            return Vec::new();
        };
        let start = from.max(queue.base);
        let end = queue.next_ready_nonce();
        if start >= end {
            return Vec::new();
        }
        queue
            .txs
            .range(start..end)
            .map(|(_, p)| p)
            .filter(|p| p.local)
            .map(|p| p.tx.clone())
            .collect()
    }

    /// Record `account`'s committed nonce (dropping what it made stale).
    fn sync_base(&mut self, account: &Address, committed: u64) {
        let stale: Vec<Hash> = match self.accounts.get(account) {
            Some(q) if q.base != committed => {
                q.txs.range(..committed).map(|(_, p)| p.tx.id()).collect()
            }
            _ => return,
        };
        for id in stale {
            self.remove(&id, None);
        }
        self.mutate(account, |q| q.base = committed);
    }

    /// The limits a transaction of `sender` with `nonce` must fit (its account's committed
    /// nonce is `committed`); whether it is ready.
    fn check_queue(
        &self,
        sender: &Address,
        committed: u64,
        nonce: u64,
    ) -> Result<bool, MempoolError> {
        let limits = &self.limits;
        let empty = Queue {
            base: committed,
            ..Queue::default()
        };
        let queue = self.accounts.get(sender).unwrap_or(&empty);
        if queue.txs.contains_key(&nonce) {
            return Err(MempoolError::NonceTaken(nonce));
        }
        if queue.txs.len() >= limits.max_per_account {
            return Err(MempoolError::AccountFull(limits.max_per_account));
        }
        let next = queue.next_ready_nonce();
        if nonce == next {
            return Ok(true);
        }
        if nonce.saturating_sub(next) > limits.max_future_gap {
            return Err(MempoolError::NonceTooFarAhead {
                expected: next,
                got: nonce,
            });
        }
        if queue.future() >= limits.max_future_per_account {
            return Err(MempoolError::AccountFutureFull(
                limits.max_future_per_account,
            ));
        }
        if self.future_total >= limits.max_future {
            return Err(MempoolError::FutureFull(limits.max_future));
        }
        Ok(false)
    }

    /// Funds for this transaction and every earlier pending one of the account.
    fn check_funds(
        &self,
        view: &Overlay<'_>,
        sender: &Address,
        nonce: u64,
        cost: Amount,
    ) -> Result<(), MempoolError> {
        let earlier = self.accounts.get(sender).map_or(0u128, |q| {
            q.txs
                .range(..nonce)
                .map(|(_, p)| p.cost.base())
                .fold(0u128, u128::saturating_add)
        });
        let balance = tessera_state::bank::account(view, sender)?.balance;
        let needed = Amount::from_base(cost.base().saturating_add(earlier));
        if needed > balance {
            return Err(StateError::InsufficientFunds {
                needed,
                available: balance,
            }
            .into());
        }
        Ok(())
    }

    /// Make room for one more transaction when the pool is full (see the module docs).
    fn make_room(&mut self, ready: bool, fee: Amount) -> Result<(), MempoolError> {
        if self.ids.len() < self.limits.max_txs {
            return Ok(());
        }
        if !ready {
            return Err(MempoolError::Full(self.limits.max_txs));
        }
        let victim = self
            .eviction_candidate(|q, n| !q.is_ready(n))
            .or_else(|| {
                self.eviction_candidate(|q, n| {
                    q.is_ready(n) && n.saturating_add(1) == q.next_ready_nonce()
                })
                .filter(|id| self.pending(id).is_some_and(|p| p.fee < fee))
            })
            .ok_or(MempoolError::Full(self.limits.max_txs))?;
        self.remove(
            &victim,
            Some("evicted: the mempool was full and a transaction paying more arrived".into()),
        );
        Ok(())
    }

    /// Among account-last transactions passing `eligible`, the lowest fee (newest on ties).
    fn eviction_candidate(&self, eligible: impl Fn(&Queue, u64) -> bool) -> Option<Hash> {
        self.accounts
            .values()
            .filter_map(|q| {
                let (nonce, pending) = q.txs.iter().next_back()?;
                eligible(q, *nonce).then_some(pending)
            })
            .min_by_key(|p| (p.fee, std::cmp::Reverse(p.seq)))
            .map(|p| p.tx.id())
    }

    /// Change `account`'s queue with `f`, then recount its ready run and the future total
    /// (and forget the queue once empty).
    fn mutate<R>(&mut self, account: &Address, f: impl FnOnce(&mut Queue) -> R) -> Option<R> {
        let queue = self.accounts.get_mut(account)?;
        let future_before = queue.future();
        let result = f(queue);
        queue.refresh();
        let future_after = queue.future();
        let empty = queue.txs.is_empty();
        self.future_total = self
            .future_total
            .saturating_sub(future_before)
            .saturating_add(future_after);
        if empty {
            self.accounts.remove(account);
        }
        Some(result)
    }

    /// Up to `max` ready transactions for a block: accounts in order of their oldest
    /// ready transaction, each account's transactions in nonce order.
    pub fn candidates(&self, max: usize) -> Vec<SignedTransaction> {
        let mut accounts: Vec<(&Queue, u64, &Address)> = self
            .accounts
            .iter()
            .filter(|(_, q)| q.ready > 0)
            .map(|(addr, q)| {
                let oldest = q
                    .txs
                    .range(q.base..)
                    .take(q.ready)
                    .map(|(_, p)| p.seq)
                    .min()
                    .unwrap_or(u64::MAX);
                (q, oldest, addr)
            })
            .collect();
        accounts.sort_by_key(|(_, seq, addr)| (*seq, **addr));
        accounts
            .into_iter()
            .flat_map(|(q, _, _)| {
                q.txs
                    .range(q.base..)
                    .take(q.ready)
                    .map(|(_, p)| p.tx.clone())
            })
            .take(max)
            .collect()
    }

    /// Drop a transaction (included in a block, or rejected with `reason`).
    pub fn remove(&mut self, id: &Hash, reason: Option<String>) {
        if let Some((sender, nonce)) = self.ids.remove(id) {
            self.mutate(&sender, |q| q.txs.remove(&nonce));
        }
        if let Some(reason) = reason {
            if self.rejected.len() >= MAX_REMEMBERED_REJECTIONS {
                self.rejected.pop_front();
            }
            self.rejected.push_back((*id, reason));
        }
    }

    /// After committing the block at `height`: drop every transaction whose nonce is now
    /// used, expire those older than the TTL, and promote what became ready. Returns the
    /// local transactions that became ready (to announce).
    pub fn on_commit(
        &mut self,
        height: u64,
        next_nonce: impl Fn(&Address) -> u64,
    ) -> Vec<SignedTransaction> {
        self.height = height;
        let accounts: Vec<Address> = self.accounts.keys().copied().collect();
        let mut announce = Vec::new();
        for account in accounts {
            let committed = next_nonce(&account);
            let expired: Vec<Hash> = self.accounts.get(&account).map_or(Vec::new(), |q| {
                q.txs
                    .values()
                    .filter(|p| height.saturating_sub(p.added_height) > self.limits.ttl_blocks)
                    .map(|p| p.tx.id())
                    .collect()
            });
            for id in expired {
                let reason = format!(
                    "expired: not included within {} blocks (a nonce gap before it, or the network is congested); resubmit it",
                    self.limits.ttl_blocks
                );
                self.remove(&id, Some(reason));
            }
            let old_end = self.ready_end(&account, committed);
            self.sync_base(&account, committed);
            announce.extend(self.ready_local_since(&account, old_end));
        }
        announce
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

    fn setup(accounts: u64) -> (MemState, Params, ChainId) {
        let chain_id = ChainId::new("t").unwrap();
        let genesis = Genesis {
            chain_id: chain_id.clone(),
            genesis_time_ms: 0,
            params: Params::default(),
            accounts: (1..=accounts)
                .map(|i| GenesisAccount {
                    address: Keypair::from_seed(i).address(),
                    balance: Amount::from_tsr(1).unwrap(),
                    bonded: Amount::ZERO,
                    validator: None,
                })
                .collect(),
        };
        let state = genesis
            .build()
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k, v.unwrap()))
            .collect();
        (state, Params::default(), chain_id)
    }

    fn tx(key: &Keypair, nonce: u64, amount: Amount) -> SignedTransaction {
        Transaction {
            chain_id: ChainId::new("t").unwrap(),
            signer: key.public_key().clone(),
            nonce,
            max_fee: Amount::from_tsr(1).unwrap(),
            call: Call::Transfer {
                to: Keypair::from_seed(99).address(),
                amount,
            },
        }
        .sign(key)
        .unwrap()
    }

    fn one() -> Amount {
        Amount::from_base(1)
    }

    struct Pool {
        pool: Mempool,
        state: MemState,
        params: Params,
        chain: ChainId,
    }

    impl Pool {
        fn new(accounts: u64, limits: MempoolLimits) -> Pool {
            let (state, params, chain) = setup(accounts);
            Pool {
                pool: Mempool::new(limits),
                state,
                params,
                chain,
            }
        }

        fn add(&mut self, tx: SignedTransaction) -> Result<Admitted, MempoolError> {
            self.pool
                .insert(tx, &self.state, &self.params, &self.chain, true)
        }

        fn candidate_nonces(&self) -> Vec<u64> {
            self.pool
                .candidates(100)
                .iter()
                .map(|t| t.tx().nonce)
                .collect()
        }
    }

    #[test]
    fn admits_orders_and_prunes() {
        let mut p = Pool::new(1, MempoolLimits::default());
        let key = Keypair::from_seed(1);
        let small = Amount::from_base(10);
        p.add(tx(&key, 1, small)).unwrap();
        assert!(p.candidate_nonces().is_empty(), "nonce 1 waits behind 0");
        p.add(tx(&key, 0, small)).unwrap();
        assert_eq!(p.candidate_nonces(), vec![0, 1]);
        assert!(matches!(
            p.add(tx(&key, 1, small)),
            Err(MempoolError::AlreadyKnown(_))
        ));
        assert!(matches!(
            p.add(tx(&key, 1, Amount::from_base(11))),
            Err(MempoolError::NonceTaken(1))
        ));
        p.pool.on_commit(1, |_| 1);
        assert_eq!(p.pool.len(), 1);
        assert_eq!(p.candidate_nonces(), vec![1]);
    }

    #[test]
    fn rejects_overspend_counting_earlier_pending() {
        let mut p = Pool::new(1, MempoolLimits::default());
        let key = Keypair::from_seed(1);
        let most = Amount::from_base(900_000_000);
        p.add(tx(&key, 0, most)).unwrap();
        let err = p.add(tx(&key, 1, most)).unwrap_err();
        assert!(
            matches!(
                err,
                MempoolError::State(StateError::InsufficientFunds { .. })
            ),
            "{err}"
        );
    }

    #[test]
    fn rejects_bad_signature_and_wrong_chain() {
        let mut p = Pool::new(1, MempoolLimits::default());
        let key = Keypair::from_seed(1);
        let mut bytes = tx(&key, 0, one()).to_bytes();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let forged = SignedTransaction::from_bytes(&bytes).unwrap();
        assert_eq!(p.add(forged), Err(MempoolError::BadSignature));
        let err = p
            .pool
            .insert(
                tx(&key, 0, one()),
                &p.state,
                &p.params,
                &ChainId::new("other").unwrap(),
                true,
            )
            .unwrap_err();
        assert!(matches!(
            err,
            MempoolError::State(StateError::WrongChain { .. })
        ));
        assert!(err.is_peer_fault());
    }

    /// The attack the future queue exists for: accounts with a little fee headroom fill
    /// the pool with far-ahead nonces. They are capped, never offered to a block, and a
    /// ready transaction still gets in and is proposed.
    #[test]
    fn future_nonces_cannot_crowd_out_ready_transactions() {
        let limits = MempoolLimits {
            max_txs: 40,
            max_future: 30,
            max_future_per_account: 8,
            max_future_gap: 64,
            ..MempoolLimits::default()
        };
        let mut p = Pool::new(6, limits);
        for attacker in 1..=5 {
            let key = Keypair::from_seed(attacker);
            for nonce in 1..=20 {
                let _ = p.add(tx(&key, nonce, one()));
            }
            assert!(matches!(
                p.add(tx(&key, 30, one())),
                Err(MempoolError::AccountFutureFull(8) | MempoolError::FutureFull(30))
            ));
        }
        assert_eq!(p.pool.future_len(), 30, "capped in all");
        assert_eq!(p.pool.ready_len(), 0);
        assert!(
            p.pool.candidates(100).is_empty(),
            "nothing future is proposed"
        );
        assert!(matches!(
            p.add(tx(&Keypair::from_seed(6), 1, one())),
            Err(MempoolError::FutureFull(30))
        ));
        let honest = tx(&Keypair::from_seed(6), 0, one());
        p.add(honest.clone()).unwrap();
        assert_eq!(p.pool.candidates(100), vec![honest]);
        assert!(matches!(
            p.add(tx(&Keypair::from_seed(6), 500, one())),
            Err(MempoolError::NonceTooFarAhead {
                expected: 1,
                got: 500
            })
        ));
    }

    /// A full pool takes a ready transaction by evicting a future one; a future
    /// transaction never evicts anything.
    #[test]
    fn a_full_pool_evicts_future_before_ready() {
        let limits = MempoolLimits {
            max_txs: 3,
            ..MempoolLimits::default()
        };
        let mut p = Pool::new(3, limits);
        let (a, b, c) = (
            Keypair::from_seed(1),
            Keypair::from_seed(2),
            Keypair::from_seed(3),
        );
        p.add(tx(&a, 0, one())).unwrap();
        p.add(tx(&a, 1, one())).unwrap();
        let gap = tx(&b, 5, one());
        p.add(gap.clone()).unwrap();
        assert_eq!(p.pool.len(), 3);
        assert!(matches!(
            p.add(tx(&c, 4, one())),
            Err(MempoolError::Full(3))
        ));
        p.add(tx(&c, 0, one())).unwrap();
        assert!(!p.pool.contains(&gap.id()), "the future one made room");
        assert!(p.pool.rejection(&gap.id()).unwrap().contains("evicted"));
        assert_eq!(p.pool.ready_len(), 3);
        // Equal fees: no ready transaction is evicted for another.
        assert!(matches!(
            p.add(tx(&b, 0, one())),
            Err(MempoolError::Full(3))
        ));
    }

    /// Filling the gap promotes what waited behind it, and only local transactions that
    /// became ready are returned for announcement.
    #[test]
    fn filling_a_gap_promotes_and_announces() {
        let mut p = Pool::new(1, MempoolLimits::default());
        let key = Keypair::from_seed(1);
        let later = tx(&key, 1, one());
        let admitted = p.add(later.clone()).unwrap();
        assert!(
            admitted.ready_local.is_empty(),
            "a future tx is not announced"
        );
        let first = tx(&key, 0, one());
        let admitted = p.add(first.clone()).unwrap();
        assert_eq!(admitted.ready_local, vec![first.clone(), later.clone()]);
        // A gossiped (not local) ready transaction is not announced again.
        let third = tx(&key, 2, one());
        let admitted = p
            .pool
            .insert(third, &p.state, &p.params, &p.chain, false)
            .unwrap();
        assert!(admitted.ready_local.is_empty());

        // A gap filled by a committed block: the waiting local tx is announced then.
        let mut p = Pool::new(1, MempoolLimits::default());
        let waiting = tx(&key, 1, one());
        p.add(waiting.clone()).unwrap();
        assert_eq!(p.pool.on_commit(1, |_| 1), vec![waiting]);
        assert_eq!(p.candidate_nonces(), vec![1]);
    }

    #[test]
    fn transactions_expire_after_the_ttl() {
        let limits = MempoolLimits {
            ttl_blocks: 5,
            ..MempoolLimits::default()
        };
        let mut p = Pool::new(1, limits);
        let key = Keypair::from_seed(1);
        let stuck = tx(&key, 3, one());
        p.add(stuck.clone()).unwrap();
        p.pool.on_commit(5, |_| 0);
        assert!(p.pool.contains(&stuck.id()));
        p.pool.on_commit(6, |_| 0);
        assert!(!p.pool.contains(&stuck.id()));
        assert!(p.pool.rejection(&stuck.id()).unwrap().contains("expired"));
        assert_eq!(p.pool.future_len(), 0);
    }
}
