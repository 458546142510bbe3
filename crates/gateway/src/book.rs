//! The gateway's book: its channels, their lanes (what each lane signed and was charged),
//! the budget, and every receipt, written ahead to a journal so a restart (even after
//! SIGKILL) never signs a voucher below one already sent, never pays twice, and keeps the
//! budget.
//!
//! # Rules
//! * A call leases one free lane of a channel to its provider whose deposit covers the
//!   lane charges, every call in flight and this call's maximum; the voucher it signs is
//!   the lane's charged total plus that maximum. The lease is journaled before the voucher
//!   leaves the gateway.
//! * A receipt (signature, provider, channel, lane, request and amounts checked) settles
//!   the lane at the provider's `lane_charged`. A call without a receipt leaves its lane
//!   *uncertain*: counted as charged up to the voucher until the provider tells the lane's
//!   state ([`Book::resync`]).
//! * Deposits come from the budget: Σ deposits ≤ budget, checked atomically with every
//!   open and top-up, so concurrent calls never exceed it.
//!
//! # Invariants (unit-tested below)
//! * per channel, Σ lanes' charged + Σ in-flight reservations ≤ deposit.
//! * a lane's signed amount never decreases; its charged amount never exceeds it.
//! * Σ deposits ≤ budget.

use serde::{Deserialize, Serialize};
use std::{collections::HashMap, path::Path, sync::Mutex};
use tessera_journal::{Journal, JournalError};
use tessera_types::{
    call::CallReceipt, channel::Price, tx::ModelId, voucher::MAX_LANES, Address, Amount, Hash,
};

const MAX_RECORD_BYTES: usize = 256 * 1024;

/// One lane as the gateway knows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaneState {
    /// The highest cumulative amount signed on this lane.
    pub signed: Amount,
    /// The provider's charged total, as its last receipt (or lane query) said.
    pub charged: Amount,
    /// A call is running on it, reserving this much.
    #[serde(skip)]
    pub busy: Option<Amount>,
    /// A call ended without a receipt: charged may be up to `signed`.
    #[serde(default)]
    pub uncertain: bool,
    /// The provider says a call still runs on this lane (one this gateway lost, e.g. by
    /// a restart): not leased until the provider says it ended.
    #[serde(skip)]
    pub held: bool,
}

impl LaneState {
    /// What the lane may have cost, for the deposit and budget rules.
    fn exposure(&self) -> Amount {
        let charged = if self.uncertain {
            self.signed
        } else {
            self.charged
        };
        charged
            .checked_add(self.busy.unwrap_or(Amount::ZERO))
            .unwrap_or(Amount::from_base(u128::MAX))
    }
}

/// A channel the gateway pays through.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelState {
    pub id: Hash,
    pub provider: Address,
    pub model: ModelId,
    pub endpoint: String,
    /// The provider's price fixed in the channel.
    pub price: Price,
    pub deposit: Amount,
    pub expires_at: u64,
    pub lanes: Vec<LaneState>,
}

impl ChannelState {
    pub fn exposure(&self) -> Amount {
        self.lanes
            .iter()
            .map(LaneState::exposure)
            .fold(Amount::ZERO, |a, b| {
                a.checked_add(b).unwrap_or(Amount::from_base(u128::MAX))
            })
    }

    /// Σ charged (as receipts say) over the lanes.
    pub fn charged(&self) -> Amount {
        self.lanes
            .iter()
            .map(|l| l.charged)
            .fold(Amount::ZERO, |a, b| a.checked_add(b).unwrap_or(a))
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
enum Record {
    Channel(ChannelState),
    Funded {
        channel: Hash,
        deposit: Amount,
        expires_at: u64,
    },
    Signed {
        channel: Hash,
        lane: u32,
        cumulative: Amount,
    },
    Charged {
        channel: Hash,
        lane: u32,
        charged: Amount,
    },
    Receipt(Box<CallReceipt>),
}

/// A leased lane: sign `cumulative` on it, then settle or fail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub channel: Hash,
    pub lane: u32,
    pub cumulative: Amount,
    pub reserve: Amount,
    pub provider: Address,
    pub endpoint: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BookError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("cannot encode a book record: {0}")]
    Encode(String),
    #[error("the book's lock was poisoned by a panic: restart the gateway")]
    Poisoned,
    #[error("the receipt is not acceptable: {0}")]
    BadReceipt(String),
}

struct State {
    budget: Amount,
    channels: HashMap<Hash, ChannelState>,
    /// Per lane, the receipt with the largest voucher.
    last: HashMap<(Hash, u32), CallReceipt>,
}

impl State {
    fn deposits(&self) -> Amount {
        self.channels
            .values()
            .map(|c| c.deposit)
            .fold(Amount::ZERO, |a, b| a.checked_add(b).unwrap_or(a))
    }

    fn note_receipt(&mut self, receipt: &CallReceipt) {
        let key = (receipt.channel, receipt.lane);
        if self
            .last
            .get(&key)
            .is_none_or(|r| receipt.voucher > r.voucher)
        {
            self.last.insert(key, receipt.clone());
        }
    }

    fn apply(&mut self, record: &Record) {
        match record {
            Record::Channel(c) => {
                self.channels.insert(c.id, c.clone());
            }
            Record::Funded {
                channel,
                deposit,
                expires_at,
            } => {
                if let Some(c) = self.channels.get_mut(channel) {
                    c.deposit = c.deposit.max(*deposit);
                    c.expires_at = c.expires_at.max(*expires_at);
                }
            }
            Record::Signed {
                channel,
                lane,
                cumulative,
            } => {
                if let Some(l) = lane_mut(&mut self.channels, channel, *lane) {
                    l.signed = l.signed.max(*cumulative);
                    // Read back after a restart, a signed voucher may have been charged
                    // until a receipt or the provider says otherwise. (A live lease is
                    // counted by its reservation instead.)
                    if l.busy.is_none() {
                        l.uncertain = true;
                    }
                }
            }
            Record::Charged {
                channel,
                lane,
                charged,
            } => {
                if let Some(l) = lane_mut(&mut self.channels, channel, *lane) {
                    l.charged = l.charged.max(*charged);
                    l.uncertain = false;
                }
            }
            Record::Receipt(r) => {
                if let Some(l) = lane_mut(&mut self.channels, &r.channel, r.lane) {
                    l.charged = l.charged.max(r.lane_charged);
                    l.uncertain = false;
                }
            }
        }
    }
}

fn lane_mut<'a>(
    channels: &'a mut HashMap<Hash, ChannelState>,
    channel: &Hash,
    lane: u32,
) -> Option<&'a mut LaneState> {
    let c = channels.get_mut(channel)?;
    let index = usize::try_from(lane).ok()?;
    while c.lanes.len() <= index {
        c.lanes.push(LaneState::default());
    }
    c.lanes.get_mut(index)
}

pub struct Book {
    journal: Journal,
    receipts: Journal,
    state: Mutex<State>,
}

impl Book {
    /// Open the book in `dir` with `budget` (the most that may sit in deposits).
    pub fn open(dir: &Path, budget: Amount) -> Result<Book, BookError> {
        let (journal, records) = Journal::open(dir.join("book.log"), MAX_RECORD_BYTES)?;
        let (receipts, kept) = Journal::open(dir.join("receipts.log"), MAX_RECORD_BYTES)?;
        let mut state = State {
            budget,
            channels: HashMap::new(),
            last: HashMap::new(),
        };
        for bytes in &kept {
            match serde_json::from_slice::<CallReceipt>(bytes) {
                Ok(receipt) => state.note_receipt(&receipt),
                Err(e) => tracing::warn!("skipping an unreadable receipt: {e}"),
            }
        }
        for bytes in &records {
            match serde_json::from_slice::<Record>(bytes) {
                Ok(record) => state.apply(&record),
                Err(e) => tracing::warn!("skipping an unreadable book record: {e}"),
            }
        }
        Ok(Book {
            journal,
            receipts,
            state: Mutex::new(state),
        })
    }

    fn append(&self, record: &Record) -> Result<(), BookError> {
        let bytes = serde_json::to_vec(record).map_err(|e| BookError::Encode(e.to_string()))?;
        self.journal.append(&bytes)?;
        Ok(())
    }

    pub fn sync(&self) -> Result<(), BookError> {
        self.journal.sync()?;
        self.receipts.sync()?;
        Ok(())
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, BookError> {
        self.state.lock().map_err(|_| BookError::Poisoned)
    }

    /// Every channel (a copy).
    pub fn channels(&self) -> Result<Vec<ChannelState>, BookError> {
        Ok(self.lock()?.channels.values().cloned().collect())
    }

    /// The budget and what sits in deposits.
    pub fn budget(&self) -> Result<(Amount, Amount), BookError> {
        let state = self.lock()?;
        Ok((state.budget, state.deposits()))
    }

    /// Take `amount` of the budget for a deposit, if it fits.
    pub fn take_budget(&self, amount: Amount) -> Result<bool, BookError> {
        let mut state = self.lock()?;
        let after = state.deposits().checked_add(amount);
        let fits = after.is_some_and(|a| a <= state.budget);
        if fits {
            // Held by lowering the budget until the deposit is recorded (or given back).
            state.budget = state.budget.saturating_sub(amount);
        }
        Ok(fits)
    }

    /// Give back budget taken for a deposit that did not happen.
    pub fn return_budget(&self, amount: Amount) -> Result<(), BookError> {
        let mut state = self.lock()?;
        state.budget = state.budget.checked_add(amount).unwrap_or(state.budget);
        Ok(())
    }

    /// Record a new channel whose deposit was taken with [`Book::take_budget`].
    pub fn add_channel(&self, channel: ChannelState) -> Result<(), BookError> {
        let record = Record::Channel(channel);
        self.append(&record)?;
        let mut state = self.lock()?;
        if let Record::Channel(c) = &record {
            state.budget = state.budget.checked_add(c.deposit).unwrap_or(state.budget);
        }
        state.apply(&record);
        Ok(())
    }

    /// Record a top-up or extension (its added deposit taken with `take_budget`).
    pub fn funded(
        &self,
        channel: &Hash,
        added: Amount,
        deposit: Amount,
        expires_at: u64,
    ) -> Result<(), BookError> {
        let record = Record::Funded {
            channel: *channel,
            deposit,
            expires_at,
        };
        self.append(&record)?;
        let mut state = self.lock()?;
        state.budget = state.budget.checked_add(added).unwrap_or(state.budget);
        state.apply(&record);
        Ok(())
    }

    /// The channel to `provider` for `model` to top up when none has room for a call: the
    /// one open longest past `height` plus `margin` blocks (a top-up does not move the
    /// expiry). `None`: open a new channel.
    pub fn to_top_up(
        &self,
        provider: &Address,
        model: ModelId,
        height: u64,
        margin: u64,
    ) -> Result<Option<Hash>, BookError> {
        let state = self.lock()?;
        Ok(state
            .channels
            .values()
            .filter(|c| {
                let free = |l: &LaneState| l.busy.is_none() && !l.held;
                c.provider == *provider
                    && c.model == model
                    && height.saturating_add(margin) <= c.expires_at
                    && (c.lanes.iter().any(free)
                        || u32::try_from(c.lanes.len()).is_ok_and(|n| n < MAX_LANES))
            })
            .max_by_key(|c| (c.expires_at, c.id))
            .map(|c| c.id))
    }

    /// Lease a lane of a channel to `provider` for `model` with room for a call of at
    /// most `tokens` tokens (at the channel's own price), valid at `height` plus `margin`
    /// blocks. `None`: no channel has room.
    pub fn lease(
        &self,
        provider: &Address,
        model: ModelId,
        tokens: u64,
        height: u64,
        margin: u64,
    ) -> Result<Option<Lease>, BookError> {
        let mut state = self.lock()?;
        let found = state.channels.values().find(|c| {
            let free = |l: &LaneState| l.busy.is_none() && !l.held;
            c.provider == *provider
                && c.model == model
                && height.saturating_add(margin) <= c.expires_at
                && c.price
                    .of_call(tokens)
                    .and_then(|r| c.exposure().checked_add(r))
                    .is_some_and(|e| e <= c.deposit)
                && (c.lanes.iter().any(free)
                    || u32::try_from(c.lanes.len()).is_ok_and(|n| n < MAX_LANES))
        });
        let Some(channel) = found.map(|c| c.id) else {
            return Ok(None);
        };
        let Some(c) = state.channels.get_mut(&channel) else {
            return Ok(None);
        };
        let Some(reserve) = c.price.of_call(tokens) else {
            return Ok(None);
        };
        let index = match c.lanes.iter().position(|l| l.busy.is_none() && !l.held) {
            Some(i) => i,
            None => {
                c.lanes.push(LaneState::default());
                c.lanes.len().saturating_sub(1)
            }
        };
        let lane = u32::try_from(index).unwrap_or(u32::MAX);
        let (endpoint, provider) = (c.endpoint.clone(), c.provider);
        let Some(l) = c.lanes.get_mut(index) else {
            return Ok(None);
        };
        // An uncertain lane counts as charged up to its last voucher. Each call's voucher
        // is above the lane's last one, so the provider's receipts are ordered by it.
        let base = if l.uncertain { l.signed } else { l.charged };
        let cumulative = base
            .checked_add(reserve)
            .unwrap_or(Amount::from_base(u128::MAX))
            .max(
                l.signed
                    .checked_add(Amount::from_base(1))
                    .unwrap_or(l.signed),
            );
        l.busy = Some(reserve);
        let record = Record::Signed {
            channel,
            lane,
            cumulative,
        };
        drop(state);
        self.append(&record)?;
        self.lock()?.apply(&record);
        Ok(Some(Lease {
            channel,
            lane,
            cumulative,
            reserve,
            provider,
            endpoint,
        }))
    }

    /// Settle a lease with the provider's receipt for the request `request_hash`.
    pub fn settle(
        &self,
        lease: &Lease,
        receipt: &CallReceipt,
        request_hash: &Hash,
    ) -> Result<(), BookError> {
        let bad = |why: &str| Err(BookError::BadReceipt(why.into()));
        if !receipt.verify() {
            return bad("its signature does not verify");
        }
        if receipt.provider != lease.provider
            || receipt.channel != lease.channel
            || receipt.lane != lease.lane
        {
            return bad("it names another provider, channel or lane");
        }
        if receipt.request_hash != *request_hash {
            return bad("it is for another request");
        }
        if receipt.amount_charged > lease.reserve || receipt.lane_charged > lease.cumulative {
            return bad("it charges more than the voucher allowed");
        }
        if receipt.voucher != lease.cumulative {
            return bad("it names another voucher than the one that paid the call");
        }
        let bytes = serde_json::to_vec(receipt).map_err(|e| BookError::Encode(e.to_string()))?;
        self.receipts.append(&bytes)?;
        let record = Record::Charged {
            channel: lease.channel,
            lane: lease.lane,
            charged: receipt.lane_charged,
        };
        self.append(&record)?;
        let mut state = self.lock()?;
        state.apply(&record);
        state.note_receipt(receipt);
        if let Some(l) = lane_mut(&mut state.channels, &lease.channel, lease.lane) {
            l.busy = None;
        }
        Ok(())
    }

    /// The receipts a claim on chain can be checked against: per lane, the receipt of
    /// the last voucher signed on it (a lane whose last voucher brought no receipt is
    /// left out: its provider may hold a later receipt this book never saw).
    pub fn last_receipts(&self) -> Result<Vec<CallReceipt>, BookError> {
        let state = self.lock()?;
        let mut out: Vec<CallReceipt> = state
            .last
            .iter()
            .filter(|((channel, lane), receipt)| {
                state.channels.get(channel).is_some_and(|c| {
                    usize::try_from(*lane)
                        .ok()
                        .and_then(|i| c.lanes.get(i))
                        .is_some_and(|l| l.signed == receipt.voucher && l.busy.is_none())
                })
            })
            .map(|(_, receipt)| receipt.clone())
            .collect();
        out.sort_by_key(|r| (r.channel, r.lane));
        Ok(out)
    }

    /// End a lease without a receipt: the lane stays uncertain until [`Book::resync`].
    pub fn fail(&self, lease: &Lease) -> Result<(), BookError> {
        let mut state = self.lock()?;
        if let Some(l) = lane_mut(&mut state.channels, &lease.channel, lease.lane) {
            l.busy = None;
            l.uncertain = true;
        }
        Ok(())
    }

    /// Take the provider's word for a lane's charged total (never above what was signed).
    pub fn resync(&self, channel: &Hash, lane: u32, charged: Amount) -> Result<(), BookError> {
        let signed = {
            let mut state = self.lock()?;
            lane_mut(&mut state.channels, channel, lane).map(|l| l.signed)
        };
        let Some(signed) = signed else {
            return Ok(());
        };
        let record = Record::Charged {
            channel: *channel,
            lane,
            charged: charged.min(signed),
        };
        self.append(&record)?;
        let mut state = self.lock()?;
        state.apply(&record);
        if let Some(l) = lane_mut(&mut state.channels, channel, lane) {
            l.held = false;
        }
        Ok(())
    }

    /// The provider says a call still runs on this lane: end the lease and keep the lane
    /// out of use until a resync finds it free.
    pub fn hold(&self, lease: &Lease) -> Result<(), BookError> {
        let mut state = self.lock()?;
        if let Some(l) = lane_mut(&mut state.channels, &lease.channel, lease.lane) {
            l.busy = None;
            l.uncertain = true;
            l.held = true;
        }
        Ok(())
    }

    /// Lanes left uncertain (by a crash or a lost answer), to resync.
    pub fn uncertain(&self) -> Result<Vec<(Hash, u32, String)>, BookError> {
        let state = self.lock()?;
        let mut out = Vec::new();
        for c in state.channels.values() {
            for (i, l) in c.lanes.iter().enumerate() {
                if l.uncertain && l.busy.is_none() {
                    out.push((
                        c.id,
                        u32::try_from(i).unwrap_or(u32::MAX),
                        c.endpoint.clone(),
                    ));
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("tessera-book-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    /// A channel at 1 base unit per call and 1 per token.
    fn channel(deposit: u128) -> ChannelState {
        ChannelState {
            id: Hash([1; 32]),
            provider: Address([2; 32]),
            model: ModelId(1),
            endpoint: "http://p".into(),
            price: Price {
                per_call: Amount::from_base(1),
                per_token: Amount::from_base(1),
            },
            deposit: Amount::from_base(deposit),
            expires_at: 1_000,
            lanes: Vec::new(),
        }
    }

    #[test]
    fn leases_fit_the_deposit_and_a_restart_keeps_what_was_signed() {
        let d = dir("lease");
        let book = Book::open(&d, Amount::from_base(1_000)).unwrap();
        assert!(book.take_budget(Amount::from_base(300)).unwrap());
        book.add_channel(channel(300)).unwrap();
        // 99 tokens at 1 per token plus 1 per call: 100 per call.
        let (a, tokens) = (Amount::from_base(100), 99);
        let who = Address([2; 32]);
        let l1 = book
            .lease(&who, ModelId(1), tokens, 10, 5)
            .unwrap()
            .unwrap();
        let l2 = book
            .lease(&who, ModelId(1), tokens, 10, 5)
            .unwrap()
            .unwrap();
        let l3 = book
            .lease(&who, ModelId(1), tokens, 10, 5)
            .unwrap()
            .unwrap();
        assert_eq!((l1.lane, l2.lane, l3.lane), (0, 1, 2));
        // 300 deposit, 300 reserved: no room for a fourth.
        assert!(book
            .lease(&who, ModelId(1), tokens, 10, 5)
            .unwrap()
            .is_none());
        // Expired channels are not leased.
        book.fail(&l3).unwrap();
        book.resync(&l3.channel, l3.lane, Amount::ZERO).unwrap();
        assert!(book
            .lease(&who, ModelId(1), tokens, 996, 5)
            .unwrap()
            .is_none());
        drop(book);
        // After a crash every signed lane is uncertain (charged up to its voucher).
        let book = Book::open(&d, Amount::from_base(1_000)).unwrap();
        let c = &book.channels().unwrap()[0];
        assert_eq!(c.lanes[0].signed, a);
        assert!(c.lanes[0].uncertain && c.lanes[1].uncertain && !c.lanes[2].uncertain);
        assert_eq!(book.uncertain().unwrap().len(), 2);
        // A new lease on lane 0 signs at least what was signed before.
        book.resync(&l1.channel, 0, Amount::from_base(40)).unwrap();
        let again = book
            .lease(&who, ModelId(1), tokens, 10, 5)
            .unwrap()
            .unwrap();
        assert!(again.cumulative >= a);
    }

    /// A channel out of room is the one to top up (not one near expiry); the top-up's
    /// deposit comes from the budget, lets the next call lease, and survives a restart.
    #[test]
    fn a_dry_channel_is_topped_up_from_the_budget() {
        let d = dir("top-up");
        let book = Book::open(&d, Amount::from_base(500)).unwrap();
        let who = Address([2; 32]);
        assert!(book.take_budget(Amount::from_base(100)).unwrap());
        book.add_channel(channel(100)).unwrap();
        let mut soon = channel(100);
        soon.id = Hash([9; 32]);
        soon.expires_at = 12;
        assert!(book.take_budget(Amount::from_base(100)).unwrap());
        book.add_channel(soon).unwrap();
        let l = book.lease(&who, ModelId(1), 99, 10, 5).unwrap().unwrap();
        assert_eq!(l.channel, Hash([1; 32]));
        assert!(book.lease(&who, ModelId(1), 99, 10, 5).unwrap().is_none());
        assert_eq!(
            book.to_top_up(&who, ModelId(1), 10, 5).unwrap(),
            Some(Hash([1; 32]))
        );
        assert_eq!(
            book.to_top_up(&Address([3; 32]), ModelId(1), 10, 5)
                .unwrap(),
            None
        );
        assert_eq!(book.to_top_up(&who, ModelId(2), 10, 5).unwrap(), None);
        // 200 of 500 sits in deposits: 300 more fits, 301 does not.
        assert!(!book.take_budget(Amount::from_base(301)).unwrap());
        assert!(book.take_budget(Amount::from_base(300)).unwrap());
        book.funded(
            &Hash([1; 32]),
            Amount::from_base(300),
            Amount::from_base(400),
            1_000,
        )
        .unwrap();
        assert_eq!(
            book.budget().unwrap(),
            (Amount::from_base(500), Amount::from_base(500))
        );
        let next = book.lease(&who, ModelId(1), 99, 10, 5).unwrap().unwrap();
        assert_eq!((next.channel, next.lane), (Hash([1; 32]), 1));
        drop(book);
        let book = Book::open(&d, Amount::from_base(500)).unwrap();
        let c = book
            .channels()
            .unwrap()
            .into_iter()
            .find(|c| c.id == Hash([1; 32]))
            .unwrap();
        assert_eq!(c.deposit, Amount::from_base(400));
        assert!(!book.take_budget(Amount::from_base(1)).unwrap());
    }

    #[test]
    fn the_budget_holds_under_many_takers() {
        let book =
            std::sync::Arc::new(Book::open(&dir("budget"), Amount::from_base(1_000)).unwrap());
        let taken: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..16)
                .map(|_| {
                    let book = std::sync::Arc::clone(&book);
                    s.spawn(move || book.take_budget(Amount::from_base(100)).unwrap())
                })
                .collect();
            handles
                .into_iter()
                .map(|h| usize::from(h.join().unwrap()))
                .sum()
        });
        assert_eq!(taken, 10);
    }
}
