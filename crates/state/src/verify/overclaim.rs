//! Overclaim disputes: a provider claimed more on a channel's lane than its own signed
//! receipt says it charged there. Decided by evidence, not by votes: the provider either
//! shows a later receipt that charges at least the claim, or is slashed.
//!
//! # Why this is sound
//! A provider admits a lane's vouchers only in strictly increasing amounts, and each
//! receipt names the voucher that paid its call (`CallReceipt::voucher`). Charged totals
//! only grow along a lane, so a claim `C` above a receipt's `lane_charged` is honest only
//! if a later call charged at least `C`. The provider shows that call: its receipt (a
//! larger `voucher`, `lane_charged ≥ C`) and the payer's request signature for that
//! voucher and body. It cannot forge one: the payer signed no voucher it did not send,
//! and a receipt for an already-reported voucher is not later.
//!
//! # Rules
//! * `report_overclaim(receipt, bond)`: the receipt is signed by its provider on this
//!   chain (checked at admission). The channel exists, its provider and model are the
//!   receipt's, and the provider is still registered for the model. The lane's claimed
//!   total on chain `C` is above `receipt.lane_charged`. `bond ≥ dispute_min_bond` moves
//!   to the bonds account. One dispute per (receipt, `C`); at most
//!   [`super::MAX_OPEN_DISPUTES`] overclaims open at once.
//! * `answer_overclaim(id, receipt', request_sig)`, by anyone before the deadline
//!   (`opened + dispute_window_blocks`): `receipt'` is signed by the same provider for
//!   the same chain, channel and lane, `receipt'.voucher > receipt.voucher`,
//!   `C ≤ receipt'.lane_charged ≤ receipt'.voucher`, and `request_sig` is the channel
//!   payer's request signature for `receipt'`'s voucher and request. The dispute is
//!   **rejected** at once: the bond is burned.
//! * At the deadline block an unanswered overclaim is **proven**: `slashed =
//!   ⌊stake × fraud_slash_bps ÷ 10⁴⌋` leaves the provider's registration and it is
//!   delisted (as for a wrong answer); `restitution = min(C − receipt.lane_charged,
//!   slashed)` goes to the channel's payer; `⌊(slashed − restitution) ×
//!   fraud_reporter_bps ÷ 10⁴⌋` to the reporter; the rest is burned; the bond returns.
//!   A verdict that cannot be carried out closes the dispute undecided (bond returned).
//! * While an overclaim against it is open, the provider cannot leave the model.
//!
//! # State keys
//! * `overclaim/rec/<id: 32>` → [`Overclaim`] (kept after the verdict, with it).
//! * `overclaim/open/<deadline: 8><id: 32>` → empty: the open overclaims, by deadline.
//! * the `dispute/against/` index of [`super`], shared with answer disputes.
//!
//! # Invariants (tested in `tests/verify_chain.rs`)
//! * the bonds account's balance equals the sum of the open disputes' and overclaims'
//!   bonds.
//! * an overclaim is in the open index exactly while it has no verdict.
//! * restitution never exceeds what was claimed above the receipt, nor what was slashed.

use super::{error::VerifyError, Verdict};
use crate::{
    bank, channels,
    error::checked,
    kv::{key, Overlay},
    providers, Params, StateError,
};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, FixedSize, Read, ReadExt, Write};
use tessera_types::{
    call::{verify_receipt_request, CallReceipt},
    dispute::{overclaim_id, DisputeEvent},
    keys::public_key_of,
    Address, Amount, Event, Hash, Signature,
};

const REC_PREFIX: &[u8] = b"overclaim/rec/";
/// The open overclaims, by deadline.
const OPEN: super::OpenIndex = super::OpenIndex(b"overclaim/open/");

/// One overclaim dispute, open or decided.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Overclaim {
    /// The provider's receipt the claim is above.
    pub receipt: CallReceipt,
    /// The lane's claimed total on chain at the report.
    pub claimed: Amount,
    /// The channel's payer (restitution goes to it).
    pub payer: Address,
    pub reporter: Address,
    pub bond: Amount,
    pub opened_at: u64,
    /// Answers land before this block; an unanswered report is proven in it.
    pub deadline: u64,
    pub verdict: Option<Verdict>,
    /// What left the provider's stake (on `Proven`).
    pub slashed: Amount,
    /// Of it, what went back to the payer.
    pub restitution: Amount,
    /// Of it, what went to the reporter.
    pub to_reporter: Amount,
}

impl Overclaim {
    /// What the provider claimed above its own receipt.
    pub fn excess(&self) -> Amount {
        self.claimed.saturating_sub(self.receipt.lane_charged)
    }
}

impl Write for Overclaim {
    fn write(&self, buf: &mut impl BufMut) {
        self.receipt.write(buf);
        self.claimed.write(buf);
        self.payer.write(buf);
        self.reporter.write(buf);
        self.bond.write(buf);
        buf.put_u64(self.opened_at);
        buf.put_u64(self.deadline);
        match self.verdict {
            None => buf.put_u8(0),
            Some(v) => {
                buf.put_u8(1);
                v.write(buf);
            }
        }
        self.slashed.write(buf);
        self.restitution.write(buf);
        self.to_reporter.write(buf);
    }
}

impl EncodeSize for Overclaim {
    fn encode_size(&self) -> usize {
        // Two addresses, five amounts, two heights, the verdict's tag and body.
        let fixed = 2 * Address::SIZE + 5 * Amount::SIZE + 16 + 1 + Verdict::SIZE;
        self.receipt
            .encode_size()
            .saturating_add(fixed)
            .saturating_sub(if self.verdict.is_some() {
                0
            } else {
                Verdict::SIZE
            })
    }
}

impl Read for Overclaim {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Overclaim {
            receipt: CallReceipt::read(buf)?,
            claimed: Amount::read(buf)?,
            payer: Address::read(buf)?,
            reporter: Address::read(buf)?,
            bond: Amount::read(buf)?,
            opened_at: u64::read(buf)?,
            deadline: u64::read(buf)?,
            verdict: match u8::read(buf)? {
                0 => None,
                1 => Some(Verdict::read(buf)?),
                other => return Err(CodecError::InvalidEnum(other)),
            },
            slashed: Amount::read(buf)?,
            restitution: Amount::read(buf)?,
            to_reporter: Amount::read(buf)?,
        })
    }
}

fn rec_key(id: &Hash) -> Vec<u8> {
    key(REC_PREFIX, id.as_bytes())
}

pub fn overclaim(state: &Overlay<'_>, id: &Hash) -> Result<Option<Overclaim>, StateError> {
    state.read(&rec_key(id))
}

/// The open overclaims, by deadline.
pub fn open(state: &Overlay<'_>) -> Result<Vec<(Hash, Overclaim)>, StateError> {
    OPEN.ids(state)
        .into_iter()
        .map(|(_, id)| {
            let record = overclaim(state, &id)?.ok_or(StateError::Missing("an open overclaim"))?;
            Ok((id, record))
        })
        .collect()
}

/// The `report_overclaim` call (the receipt passed its stateless check at admission).
pub fn report(
    state: &mut Overlay<'_>,
    params: &Params,
    height: u64,
    reporter: &Address,
    receipt: &CallReceipt,
    bond: Amount,
) -> Result<Vec<Event>, StateError> {
    if bond < params.dispute_min_bond {
        return Err(VerifyError::BondTooSmall {
            min: params.dispute_min_bond,
        }
        .into());
    }
    let (provider, model) = (receipt.provider, receipt.model);
    let channel = channels::channel(state, &receipt.channel)?
        .filter(|c| c.provider == provider && c.model == model)
        .ok_or(VerifyError::NotChannelReceipt)?;
    if providers::provider(state, model, &provider)?.is_none() {
        return Err(VerifyError::NotProvider { provider, model }.into());
    }
    let claimed = channels::lane_claimed(state, &receipt.channel, receipt.lane)?;
    if claimed <= receipt.lane_charged {
        return Err(VerifyError::NotOverclaimed {
            claimed,
            charged: receipt.lane_charged,
        }
        .into());
    }
    let id = overclaim_id(receipt, claimed);
    if overclaim(state, &id)?.is_some() {
        return Err(VerifyError::AlreadyReported.into());
    }
    OPEN.check_room(state)?;
    bank::debit(state, reporter, bond)?;
    bank::credit(state, &super::bonds(), bond)?;
    let deadline = checked(
        height.checked_add(params.dispute_window_blocks),
        "overclaim deadline",
    )?;
    let record = Overclaim {
        receipt: receipt.clone(),
        claimed,
        payer: channel.payer,
        reporter: *reporter,
        bond,
        opened_at: height,
        deadline,
        verdict: None,
        slashed: Amount::ZERO,
        restitution: Amount::ZERO,
        to_reporter: Amount::ZERO,
    };
    state.write(rec_key(&id), &record);
    state.set(OPEN.key(deadline, &id), Vec::new());
    state.set(super::against_key(&provider, model, &id), Vec::new());
    Ok(vec![Event::Dispute(DisputeEvent::OverclaimOpened {
        dispute: id,
        reporter: *reporter,
        provider,
        channel: receipt.channel,
        lane: receipt.lane,
        claimed,
        charged: receipt.lane_charged,
        bond,
        deadline,
    })])
}

/// Whether `later` (with the payer's `request_sig`) answers `record`: see the rules.
/// (A provider runs it before sending an answer.)
pub fn check_answer(
    record: &Overclaim,
    later: &CallReceipt,
    request_sig: &Signature,
) -> Result<(), VerifyError> {
    let first = &record.receipt;
    let same_lane = later.chain_id == first.chain_id
        && later.provider == first.provider
        && later.channel == first.channel
        && later.lane == first.lane;
    let payer_signed = public_key_of(&record.payer)
        .is_ok_and(|key| verify_receipt_request(&key, later, request_sig));
    if !same_lane || !later.verify() || !payer_signed {
        return Err(VerifyError::AnswerNotSigned);
    }
    if later.voucher <= first.voucher {
        return Err(VerifyError::AnswerNotLater {
            reported: first.voucher,
            answered: later.voucher,
        });
    }
    if later.lane_charged < record.claimed || later.lane_charged > later.voucher {
        return Err(VerifyError::AnswerBelowClaim {
            claimed: record.claimed,
            charged: later.lane_charged,
        });
    }
    Ok(())
}

/// The `answer_overclaim` call: a valid answer rejects the report at once.
pub fn answer(
    state: &mut Overlay<'_>,
    height: u64,
    id: &Hash,
    later: &CallReceipt,
    request_sig: &Signature,
) -> Result<Vec<Event>, StateError> {
    let mut record = overclaim(state, id)?.ok_or(VerifyError::UnknownDispute)?;
    if record.verdict.is_some() || height >= record.deadline {
        return Err(VerifyError::VotingClosed {
            deadline: record.deadline,
        }
        .into());
    }
    check_answer(&record, later, request_sig)?;
    bank::debit(state, &super::bonds(), record.bond)?;
    bank::burn(state, record.bond)?;
    record.verdict = Some(Verdict::Rejected);
    close(state, id, &record);
    Ok(vec![
        Event::Dispute(DisputeEvent::OverclaimAnswered {
            dispute: *id,
            voucher: later.voucher,
            lane_charged: later.lane_charged,
        }),
        decided_event(id, &record),
    ])
}

fn close(state: &mut Overlay<'_>, id: &Hash, record: &Overclaim) {
    state.write(rec_key(id), record);
    state.delete(OPEN.key(record.deadline, id));
    state.delete(super::against_key(
        &record.receipt.provider,
        record.receipt.model,
        id,
    ));
}

fn decided_event(id: &Hash, record: &Overclaim) -> Event {
    Event::Dispute(DisputeEvent::Decided {
        dispute: *id,
        verdict: record.verdict.unwrap_or(Verdict::Undecided),
        guilty_weight: Amount::ZERO,
        innocent_weight: Amount::ZERO,
        slashed: record.slashed,
        to_reporter: record.to_reporter,
        bond: record.bond,
    })
}

/// Hook at the end of every block: prove the overclaims unanswered at their deadline.
pub fn on_block(
    state: &mut Overlay<'_>,
    params: &Params,
    height: u64,
) -> Result<Vec<Event>, StateError> {
    OPEN.decide_due(
        state,
        height,
        |child, _, id| prove(child, params, height, id),
        |child, _, id| undecided(child, id),
    )
}

fn prove(
    state: &mut Overlay<'_>,
    params: &Params,
    height: u64,
    id: &Hash,
) -> Result<Vec<Event>, StateError> {
    let mut record = overclaim(state, id)?.ok_or(StateError::Missing("an open overclaim"))?;
    super::return_bond(state, &record.reporter, record.bond)?;
    let (slashed, mut events) = super::take_stake(
        state,
        params,
        height,
        &record.receipt.provider,
        record.receipt.model,
    )?;
    let restitution = record.excess().min(slashed);
    if !restitution.is_zero() {
        bank::mint(state, &record.payer, restitution)?;
        events.push(Event::Dispute(DisputeEvent::Restituted {
            dispute: *id,
            payer: record.payer,
            restitution,
        }));
    }
    let rest = checked(slashed.checked_sub(restitution), "slash rest")?;
    let reward = super::pay_reporter(state, params, &record.reporter, rest)?;
    record.slashed = slashed;
    record.restitution = restitution;
    record.to_reporter = reward;
    record.verdict = Some(Verdict::Proven);
    close(state, id, &record);
    events.push(decided_event(id, &record));
    Ok(events)
}

fn undecided(state: &mut Overlay<'_>, id: &Hash) -> Result<Vec<Event>, StateError> {
    let mut record = overclaim(state, id)?.ok_or(StateError::Missing("an open overclaim"))?;
    super::return_bond(state, &record.reporter, record.bond)?;
    record.verdict = Some(Verdict::Undecided);
    close(state, id, &record);
    Ok(vec![decided_event(id, &record)])
}
