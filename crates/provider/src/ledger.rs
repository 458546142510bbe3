//! The provider's voucher ledger: per lane, the newest voucher, what was charged on it
//! and what was claimed on chain. Kept in memory, written to a [`Journal`].
//!
//! # Durability
//! * A call's voucher is appended when the call is admitted, before it runs; its charge
//!   is appended when it ends, before the answer's last bytes (the receipt) are sent. A
//!   process killed at any moment therefore loses nothing claimable: every charge a
//!   client could have been told about is in the file (page cache survives SIGKILL).
//! * The journal is fsynced every [`SYNC_INTERVAL`] by the service (grouped), so a power
//!   loss can lose the charges of at most that last interval, at most one call per lane,
//!   plus claims not yet recorded (those are read back from the chain).
//! * A call admitted but never finished (the process died mid-call) charges nothing.
//! * A charge is written in one record with its [`Proof`]: the signed receipt that says
//!   the lane's new total and the payer's request signature. Whatever the provider
//!   claims it can therefore show, when an overclaim report names an older receipt
//!   (`tessera_state::verify::overclaim`).
//!
//! # Invariants (unit-tested below)
//! * a lane runs one call at a time; a call is admitted only with a voucher that covers
//!   the lane's charged total plus the call's maximum and is above the lane's last
//!   voucher (so a lane's receipts are ordered by their vouchers), and only while the
//!   channel's charged totals plus every call in flight fit in its deposit.
//! * a lane's charged total only grows, by at most the call's reservation, and never
//!   exceeds its newest voucher; claimed ≤ charged.

use serde::{Deserialize, Serialize};
use std::{collections::HashMap, path::Path, sync::Mutex, time::Duration};
use tessera_journal::{Journal, JournalError};
use tessera_types::{
    call::CallReceipt, channel::LaneClaim, voucher::Voucher, Amount, Hash, Signature,
};

/// How often the service fsyncs the ledger.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(20);
/// Largest ledger record (a charge with the receipt of an 8,192-token answer is about
/// 60 KiB of JSON; a voucher record about 300 bytes).
const MAX_RECORD_BYTES: usize = 128 * 1024;

/// What shows a lane's charged total: the provider's receipt for the call that reached
/// it, and the payer's request signature for that call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proof {
    pub receipt: CallReceipt,
    #[serde(with = "tessera_types::channel::signature_hex")]
    pub request_sig: Signature,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
enum Record {
    Voucher {
        channel: Hash,
        lane: u32,
        cumulative: Amount,
        #[serde(with = "tessera_types::channel::signature_hex")]
        signature: Signature,
    },
    Charged {
        channel: Hash,
        lane: u32,
        charged: Amount,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        proof: Option<Box<Proof>>,
    },
    Claimed {
        channel: Hash,
        lane: u32,
        claimed: Amount,
    },
}

/// One lane's state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Lane {
    /// The newest voucher's cumulative amount (zero before any).
    pub voucher: Amount,
    #[serde(skip)]
    pub signature: Option<Signature>,
    /// What the calls on this lane were charged, in total.
    pub charged: Amount,
    /// What was claimed on chain for this lane.
    pub claimed: Amount,
    /// What shows `charged`.
    #[serde(skip)]
    pub proof: Option<Box<Proof>>,
    /// A call is running on this lane.
    #[serde(skip)]
    pub busy: Option<Amount>,
}

/// Why the ledger refuses a call.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LedgerRefusal {
    #[error("lane {lane} is busy with another call: use another lane, or wait for its answer")]
    LaneBusy { lane: u32 },
    #[error("the voucher for {got} on lane {lane} is not above the lane's last voucher: sign a new one for at least {needed}")]
    Replayed {
        lane: u32,
        got: Amount,
        needed: Amount,
    },
    #[error("the voucher for {got} on lane {lane} is stale: the lane has charged {charged} and this call may cost up to {reserve}, so sign at least {needed}")]
    Stale {
        lane: u32,
        got: Amount,
        charged: Amount,
        reserve: Amount,
        needed: Amount,
    },
    #[error("the channel's deposit {deposit} cannot cover this call: {committed} is charged or reserved and the call may cost {reserve}; top it up")]
    Underfunded {
        deposit: Amount,
        committed: Amount,
        reserve: Amount,
    },
}

#[derive(Default)]
struct State {
    lanes: HashMap<(Hash, u32), Lane>,
}

impl State {
    fn apply(&mut self, record: &Record) {
        match record {
            Record::Voucher {
                channel,
                lane,
                cumulative,
                signature,
            } => {
                let l = self.lanes.entry((*channel, *lane)).or_default();
                if *cumulative >= l.voucher {
                    l.voucher = *cumulative;
                    l.signature = Some(signature.clone());
                }
            }
            Record::Charged {
                channel,
                lane,
                charged,
                proof,
            } => {
                let l = self.lanes.entry((*channel, *lane)).or_default();
                if *charged >= l.charged && proof.is_some() {
                    l.proof.clone_from(proof);
                }
                l.charged = l.charged.max(*charged);
            }
            Record::Claimed {
                channel,
                lane,
                claimed,
            } => {
                let l = self.lanes.entry((*channel, *lane)).or_default();
                l.claimed = l.claimed.max(*claimed);
            }
        }
    }

    /// Charged plus reserved, over the channel's lanes.
    fn committed(&self, channel: &Hash) -> Amount {
        self.lanes
            .iter()
            .filter(|((c, _), _)| c == channel)
            .map(|(_, l)| l.charged.checked_add(l.busy.unwrap_or(Amount::ZERO)))
            .fold(Amount::ZERO, |sum, part| {
                part.and_then(|p| sum.checked_add(p))
                    .unwrap_or(Amount::from_base(u128::MAX))
            })
    }
}

/// A call admitted on a lane: finish or abort it.
#[derive(Debug)]
pub struct Ticket {
    pub channel: Hash,
    pub lane: u32,
    pub reserve: Amount,
    /// The cumulative amount of the voucher that pays the call.
    pub voucher: Amount,
}

/// The ledger.
pub struct Ledger {
    journal: Journal,
    state: Mutex<State>,
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("the ledger record could not be encoded: {0}")]
    Encode(String),
    #[error("the ledger's lock was poisoned by a panic: restart the provider")]
    Poisoned,
    #[error("no call is running on lane {lane} of this channel")]
    NotBusy { lane: u32 },
}

/// What a claim needs for one channel: its lanes with charges not yet claimed.
#[derive(Clone, Debug)]
pub struct Unclaimed {
    pub channel: Hash,
    pub lanes: Vec<LaneClaim>,
    pub amount: Amount,
}

impl Ledger {
    /// Open the ledger at `path`, replay it, and compact it to one record per fact.
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        let (journal, records) = Journal::open(path, MAX_RECORD_BYTES)?;
        let mut state = State::default();
        for bytes in &records {
            match serde_json::from_slice::<Record>(bytes) {
                Ok(record) => state.apply(&record),
                Err(e) => tracing::warn!("skipping an unreadable ledger record: {e}"),
            }
        }
        let ledger = Ledger {
            journal,
            state: Mutex::new(state),
        };
        ledger.compact()?;
        Ok(ledger)
    }

    fn compact(&self) -> Result<(), LedgerError> {
        let state = self.state.lock().map_err(|_| LedgerError::Poisoned)?;
        let mut records = Vec::new();
        for ((channel, lane), l) in &state.lanes {
            if let Some(signature) = &l.signature {
                records.push(Record::Voucher {
                    channel: *channel,
                    lane: *lane,
                    cumulative: l.voucher,
                    signature: signature.clone(),
                });
            }
            records.push(Record::Charged {
                channel: *channel,
                lane: *lane,
                charged: l.charged,
                proof: l.proof.clone(),
            });
            records.push(Record::Claimed {
                channel: *channel,
                lane: *lane,
                claimed: l.claimed,
            });
        }
        let encoded = records
            .iter()
            .map(|r| serde_json::to_vec(r).map_err(|e| LedgerError::Encode(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        self.journal.rewrite(encoded.iter().map(Vec::as_slice))?;
        Ok(())
    }

    fn append(&self, record: &Record) -> Result<(), LedgerError> {
        let bytes = serde_json::to_vec(record).map_err(|e| LedgerError::Encode(e.to_string()))?;
        self.journal.append(&bytes)?;
        Ok(())
    }

    /// Fsync what was appended (the service calls this every [`SYNC_INTERVAL`]).
    pub fn sync(&self) -> Result<(), LedgerError> {
        Ok(self.journal.sync()?)
    }

    /// One lane's state.
    pub fn lane(&self, channel: &Hash, lane: u32) -> Result<Lane, LedgerError> {
        let state = self.state.lock().map_err(|_| LedgerError::Poisoned)?;
        Ok(state
            .lanes
            .get(&(*channel, lane))
            .cloned()
            .unwrap_or_default())
    }

    /// Admit a call paid by `voucher` (already verified) that may cost up to `reserve`,
    /// on a channel with `deposit`. Records the voucher before returning.
    pub fn begin(
        &self,
        voucher: &Voucher,
        reserve: Amount,
        deposit: Amount,
    ) -> Result<Result<Ticket, LedgerRefusal>, LedgerError> {
        let mut state = self.state.lock().map_err(|_| LedgerError::Poisoned)?;
        let key = (voucher.channel, voucher.lane);
        let lane = state.lanes.get(&key).cloned().unwrap_or_default();
        let needed = lane
            .charged
            .checked_add(reserve)
            .unwrap_or(Amount::from_base(u128::MAX));
        if lane.busy.is_some() {
            return Ok(Err(LedgerRefusal::LaneBusy { lane: voucher.lane }));
        }
        if !lane.voucher.is_zero() && voucher.cumulative <= lane.voucher {
            let above = lane
                .voucher
                .checked_add(Amount::from_base(1))
                .unwrap_or(lane.voucher);
            return Ok(Err(LedgerRefusal::Replayed {
                lane: voucher.lane,
                got: voucher.cumulative,
                needed: needed.max(above),
            }));
        }
        if voucher.cumulative < needed {
            if !lane.voucher.is_zero() && voucher.cumulative == lane.voucher {
                return Ok(Err(LedgerRefusal::Replayed {
                    lane: voucher.lane,
                    got: voucher.cumulative,
                    needed,
                }));
            }
            return Ok(Err(LedgerRefusal::Stale {
                lane: voucher.lane,
                got: voucher.cumulative,
                charged: lane.charged,
                reserve,
                needed,
            }));
        }
        let committed = state.committed(&voucher.channel);
        let total = committed.checked_add(reserve);
        if total.is_none_or(|t| t > deposit) {
            return Ok(Err(LedgerRefusal::Underfunded {
                deposit,
                committed,
                reserve,
            }));
        }
        let record = Record::Voucher {
            channel: voucher.channel,
            lane: voucher.lane,
            cumulative: voucher.cumulative,
            signature: voucher.signature.clone(),
        };
        self.append(&record)?;
        state.apply(&record);
        if let Some(l) = state.lanes.get_mut(&key) {
            l.busy = Some(reserve);
        }
        Ok(Ok(Ticket {
            channel: voucher.channel,
            lane: voucher.lane,
            reserve,
            voucher: voucher.cumulative,
        }))
    }

    /// End a call that cost `charge` (capped at its reservation): `receipt` signs the
    /// lane's new charged total, and the charge is recorded with that receipt and the
    /// payer's `request_sig` (its [`Proof`]) before this returns the receipt.
    pub fn finish(
        &self,
        ticket: Ticket,
        charge: Amount,
        request_sig: &Signature,
        receipt: impl FnOnce(Amount) -> CallReceipt,
    ) -> Result<CallReceipt, LedgerError> {
        let mut state = self.state.lock().map_err(|_| LedgerError::Poisoned)?;
        let key = (ticket.channel, ticket.lane);
        let charged = Self::new_total(&state, &ticket, charge)?;
        let receipt = receipt(charged);
        let record = Record::Charged {
            channel: ticket.channel,
            lane: ticket.lane,
            charged,
            proof: Some(Box::new(Proof {
                receipt: receipt.clone(),
                request_sig: request_sig.clone(),
            })),
        };
        let rose = state.lanes.get(&key).is_some_and(|l| charged > l.charged);
        if rose {
            self.append(&record)?;
            state.apply(&record);
        }
        if let Some(l) = state.lanes.get_mut(&key) {
            l.busy = None;
        }
        Ok(receipt)
    }

    /// The lane's charged total after `ticket`'s call costs `charge`.
    fn new_total(state: &State, ticket: &Ticket, charge: Amount) -> Result<Amount, LedgerError> {
        let lane = state
            .lanes
            .get(&(ticket.channel, ticket.lane))
            .ok_or(LedgerError::NotBusy { lane: ticket.lane })?;
        Ok(lane
            .charged
            .checked_add(charge.min(ticket.reserve))
            .unwrap_or(lane.charged)
            .min(lane.voucher))
    }

    /// End a call that charged nothing (it failed before delivering anything).
    pub fn abort(&self, ticket: Ticket) -> Result<(), LedgerError> {
        let mut state = self.state.lock().map_err(|_| LedgerError::Poisoned)?;
        if let Some(l) = state.lanes.get_mut(&(ticket.channel, ticket.lane)) {
            l.busy = None;
        }
        Ok(())
    }

    /// What shows a lane's charged total (none before its first charge).
    pub fn proof(&self, channel: &Hash, lane: u32) -> Result<Option<Proof>, LedgerError> {
        let state = self.state.lock().map_err(|_| LedgerError::Poisoned)?;
        Ok(state
            .lanes
            .get(&(*channel, lane))
            .and_then(|l| l.proof.as_deref().cloned()))
    }

    /// Every channel with charges not yet claimed, with the lane claims that take them.
    pub fn unclaimed(&self) -> Result<Vec<Unclaimed>, LedgerError> {
        let state = self.state.lock().map_err(|_| LedgerError::Poisoned)?;
        let mut by_channel: HashMap<Hash, Unclaimed> = HashMap::new();
        for ((channel, lane), l) in &state.lanes {
            let (Some(signature), true) = (&l.signature, l.charged > l.claimed) else {
                continue;
            };
            let entry = by_channel.entry(*channel).or_insert_with(|| Unclaimed {
                channel: *channel,
                lanes: Vec::new(),
                amount: Amount::ZERO,
            });
            entry.lanes.push(LaneClaim {
                lane: *lane,
                claimed: l.charged,
                cumulative: l.voucher,
                signature: signature.clone(),
            });
            let more = l.charged.saturating_sub(l.claimed);
            entry.amount = entry.amount.checked_add(more).unwrap_or(entry.amount);
        }
        let mut out: Vec<Unclaimed> = by_channel.into_values().collect();
        for u in &mut out {
            u.lanes.sort_by_key(|l| l.lane);
        }
        out.sort_by_key(|u| u.channel);
        Ok(out)
    }

    /// Record that `lanes` of `channel` were claimed on chain.
    pub fn mark_claimed(&self, channel: &Hash, lanes: &[LaneClaim]) -> Result<(), LedgerError> {
        let mut state = self.state.lock().map_err(|_| LedgerError::Poisoned)?;
        for l in lanes {
            let record = Record::Claimed {
                channel: *channel,
                lane: l.lane,
                claimed: l.claimed,
            };
            self.append(&record)?;
            state.apply(&record);
        }
        Ok(())
    }

    /// Σ charged and Σ claimed over every lane (for metrics and tests).
    pub fn totals(&self) -> Result<(Amount, Amount), LedgerError> {
        let state = self.state.lock().map_err(|_| LedgerError::Poisoned)?;
        let sum = |f: fn(&Lane) -> Amount| {
            state
                .lanes
                .values()
                .map(f)
                .fold(Amount::ZERO, |a, b| a.checked_add(b).unwrap_or(a))
        };
        Ok((sum(|l| l.charged), sum(|l| l.claimed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_types::{ChainId, Keypair};

    fn voucher(payer: &Keypair, lane: u32, amount: u128) -> Voucher {
        Voucher::sign(
            payer,
            &ChainId::new("ledger-test").unwrap(),
            Hash([1; 32]),
            lane,
            Amount::from_base(amount),
        )
    }

    /// Finish `t` for `charge` with a receipt for the new total; returns that total.
    fn fin(l: &Ledger, t: Ticket, charge: u128) -> Amount {
        let provider = Keypair::from_seed(9);
        let voucher = t.voucher;
        let (channel, lane) = (t.channel, t.lane);
        let sig = provider.sign(b"test", b"request");
        let receipt = l
            .finish(t, Amount::from_base(charge), &sig, |lane_charged| {
                CallReceipt {
                    chain_id: ChainId::new("ledger-test").unwrap(),
                    channel,
                    lane,
                    provider: provider.address(),
                    request_hash: Hash([2; 32]),
                    model: tessera_types::tx::ModelId(1),
                    manifest_cid: "bafy".into(),
                    kernel_path: "cpu".into(),
                    output_hash: Hash([3; 32]),
                    token_ids: Vec::new(),
                    tokens_charged: 0,
                    amount_charged: Amount::from_base(charge),
                    lane_charged,
                    voucher,
                    first_output_ms: 1,
                    total_ms: 1,
                    signature: CallReceipt::unsigned_signature(),
                }
                .sign(&provider)
            })
            .unwrap();
        receipt.lane_charged
    }

    fn ledger(name: &str) -> (Ledger, std::path::PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("tessera-ledger-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("ledger.log");
        (Ledger::open(&path).unwrap(), path)
    }

    #[test]
    fn calls_are_charged_what_they_cost_and_survive_a_restart() {
        let payer = Keypair::from_seed(1);
        let (l, path) = ledger("restart");
        let deposit = Amount::from_base(1_000);
        let t = l
            .begin(&voucher(&payer, 0, 100), Amount::from_base(100), deposit)
            .unwrap()
            .unwrap();
        assert_eq!(fin(&l, t, 40), Amount::from_base(40));
        // The next call's voucher covers 40 charged + 100 reserved.
        let t = l
            .begin(&voucher(&payer, 0, 140), Amount::from_base(100), deposit)
            .unwrap()
            .unwrap();
        assert_eq!(fin(&l, t, 70), Amount::from_base(110));
        // A call admitted and never finished (the process dies) charges nothing.
        let _lost = l
            .begin(&voucher(&payer, 1, 50), Amount::from_base(50), deposit)
            .unwrap()
            .unwrap();
        drop(l);
        let l = Ledger::open(&path).unwrap();
        let lane = l.lane(&Hash([1; 32]), 0).unwrap();
        assert_eq!(
            (lane.voucher, lane.charged),
            (Amount::from_base(140), Amount::from_base(110))
        );
        // The charged total's proof survives too: the receipt of the call that reached
        // it, paid by the 140 voucher.
        let proof = l.proof(&Hash([1; 32]), 0).unwrap().unwrap();
        assert_eq!(proof.receipt.lane_charged, Amount::from_base(110));
        assert_eq!(proof.receipt.voucher, Amount::from_base(140));
        assert!(proof.receipt.verify());
        let unclaimed = l.unclaimed().unwrap();
        assert_eq!(unclaimed[0].amount, Amount::from_base(110));
        assert_eq!(unclaimed[0].lanes.len(), 1);
        assert_eq!(unclaimed[0].lanes[0].claimed, Amount::from_base(110));
        l.mark_claimed(&Hash([1; 32]), &unclaimed[0].lanes).unwrap();
        assert!(l.unclaimed().unwrap().is_empty());
    }

    #[test]
    fn replayed_stale_busy_and_underfunded_calls_are_refused() {
        let payer = Keypair::from_seed(2);
        let (l, _) = ledger("refuse");
        let deposit = Amount::from_base(250);
        let reserve = Amount::from_base(100);
        let first = voucher(&payer, 0, 100);
        let t = l.begin(&first, reserve, deposit).unwrap().unwrap();
        assert_eq!(
            l.begin(&voucher(&payer, 0, 300), reserve, deposit)
                .unwrap()
                .unwrap_err(),
            LedgerRefusal::LaneBusy { lane: 0 }
        );
        fin(&l, t, 100);
        assert!(matches!(
            l.begin(&first, reserve, deposit).unwrap(),
            Err(LedgerRefusal::Replayed { .. })
        ));
        assert!(matches!(
            l.begin(&voucher(&payer, 0, 150), reserve, deposit).unwrap(),
            Err(LedgerRefusal::Stale { .. })
        ));
        let t = l
            .begin(&voucher(&payer, 1, 100), reserve, deposit)
            .unwrap()
            .unwrap();
        // 100 charged + 100 in flight + 100 more > 250.
        assert!(matches!(
            l.begin(&voucher(&payer, 2, 100), reserve, deposit).unwrap(),
            Err(LedgerRefusal::Underfunded { .. })
        ));
        l.abort(t).unwrap();
        assert!(l
            .begin(&voucher(&payer, 2, 100), reserve, deposit)
            .unwrap()
            .is_ok());
    }

    #[test]
    fn a_lanes_vouchers_must_rise_even_when_one_would_cover_the_call() {
        let payer = Keypair::from_seed(3);
        let (l, _) = ledger("rise");
        let deposit = Amount::from_base(1_000);
        let reserve = Amount::from_base(100);
        let big = voucher(&payer, 0, 500);
        let t = l.begin(&big, reserve, deposit).unwrap().unwrap();
        fin(&l, t, 10);
        // 500 covers 10 charged + 100 reserved, but it paid the last call already: two
        // receipts must never name the same voucher.
        assert!(matches!(
            l.begin(&big, reserve, deposit).unwrap(),
            Err(LedgerRefusal::Replayed { needed, .. }) if needed == Amount::from_base(501)
        ));
        assert!(l
            .begin(&voucher(&payer, 0, 501), reserve, deposit)
            .unwrap()
            .is_ok());
    }
}
