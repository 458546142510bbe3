//! `verify`: fraud disputes. A subnet validator that finds a provider's signed answer
//! wrong reports it with a bond; the subnet's other validators re-run the check and vote
//! within a window; proven fraud slashes the provider's stake for that model, and a
//! report the quorum rejects costs the reporter its bond.
//!
//! # Rules
//! * `report_fraud(evidence, bond)`: the evidence passes
//!   `FraudEvidence::check` at admission (the provider signed a receipt on this chain
//!   for exactly this request and output). The receipt's model must have a subnet, the
//!   reporter must hold a validator UID there whose permit was not withdrawn, and the
//!   provider must be registered for the model. `bond ≥ dispute_min_bond` moves from the
//!   reporter to the bonds account ([`bonds`]). One dispute per receipt, at most
//!   [`MAX_OPEN_DISPUTES`] open at once. The eligible weight is fixed at the report: the
//!   stake behind every other validator of the subnet whose permit was not withdrawn
//!   (at least one must have stake).
//! * `vote_dispute(id, guilty)`: before the deadline (`opened + dispute_window_blocks`),
//!   once per eligible validator (not the reporter), weighted by the stake behind it
//!   then.
//! * At the deadline block the dispute is decided, with `voted = guilty + innocent`:
//!   - `voted × 10⁴ < dispute_quorum_bps × eligible`: **undecided**, the bond returns.
//!   - else `guilty × 10⁴ ≥ dispute_pass_bps × voted`: **proven**. `slashed =
//!     ⌊stake × fraud_slash_bps ÷ 10⁴⌋` of the provider's registration leaves its stake;
//!     `⌊slashed × fraud_reporter_bps ÷ 10⁴⌋` is paid to the reporter and the rest
//!     burned; the provider is delisted for the model (its remaining stake unbonds as on
//!     `leave_provider`); the bond returns.
//!   - else **rejected**: the bond is burned.
//! * While a dispute against it is open, a provider cannot leave the model: the stake at
//!   risk stays locked until the verdict, however long the window.
//!
//! # State keys
//! * `dispute/rec/<id: 32>` → [`Dispute`] (kept after the verdict, with it).
//! * `dispute/open/<deadline: 8><id: 32>` → empty: the open disputes, by deadline.
//! * `dispute/against/<provider: 32><model: 8><id: 32>` → empty: open disputes against a
//!   registration.
//! * `dispute/vote/<id: 32><voter: 32>` → `bool` (guilty).
//!
//! # Invariants (tested in `tests/verify_chain.rs`)
//! * the bonds account's balance equals the sum of the open disputes' bonds.
//! * a dispute is in the open index exactly while it has no verdict, and no later than
//!   its deadline block.
//! * `guilty_weight + innocent_weight` is the sum of the recorded votes' weights.
//! * a verdict moves no TSR but the bond and the slash: supply falls by exactly the
//!   burned part.

pub mod error;
pub mod overclaim;

use crate::{
    bank,
    error::checked,
    kv::{key, keys_with_prefix, Overlay},
    providers, staking,
    subnets::{fixed::mul_div, registry, stake},
    Params, StateError,
};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, FixedSize, Read, ReadExt, Write};
use error::VerifyError;
use tessera_types::{
    dispute::{DisputeEvent, FraudEvidence, Verdict},
    subnet::{Role, SubnetId},
    tx::ModelId,
    Address, Amount, Event, Hash,
};

/// Most disputes open at once (bounds the work of a deadline block).
pub const MAX_OPEN_DISPUTES: u64 = 64;
const REC_PREFIX: &[u8] = b"dispute/rec/";
/// The open disputes, by deadline.
const OPEN: OpenIndex = OpenIndex(b"dispute/open/");
const AGAINST_PREFIX: &[u8] = b"dispute/against/";
const VOTE_PREFIX: &[u8] = b"dispute/vote/";
const FULL_BPS: u128 = 10_000;

/// The account that holds open disputes' bonds (no private key exists for it).
pub fn bonds() -> Address {
    Address::module("verify/bonds")
}

/// One dispute, open or decided.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Dispute {
    pub evidence: FraudEvidence,
    pub reporter: Address,
    pub subnet: SubnetId,
    pub bond: Amount,
    pub opened_at: u64,
    /// Votes land before this block; the verdict is reached in it.
    pub deadline: u64,
    /// The stake of the validators who may vote, fixed at the report.
    pub eligible_weight: Amount,
    pub guilty_weight: Amount,
    pub innocent_weight: Amount,
    pub verdict: Option<Verdict>,
    /// What left the provider's stake (on `Proven`).
    pub slashed: Amount,
}

impl Dispute {
    pub fn provider(&self) -> Address {
        self.evidence.receipt.provider
    }

    pub fn model(&self) -> ModelId {
        self.evidence.receipt.model
    }
}

impl Write for Dispute {
    fn write(&self, buf: &mut impl BufMut) {
        self.evidence.write(buf);
        self.reporter.write(buf);
        self.subnet.write(buf);
        self.bond.write(buf);
        buf.put_u64(self.opened_at);
        buf.put_u64(self.deadline);
        self.eligible_weight.write(buf);
        self.guilty_weight.write(buf);
        self.innocent_weight.write(buf);
        match self.verdict {
            None => buf.put_u8(0),
            Some(v) => {
                buf.put_u8(1);
                v.write(buf);
            }
        }
        self.slashed.write(buf);
    }
}

impl EncodeSize for Dispute {
    fn encode_size(&self) -> usize {
        // Address, subnet, five amounts, two heights, the verdict's tag and body.
        let fixed = Address::SIZE + SubnetId::SIZE + 5 * Amount::SIZE + 16 + 1 + Verdict::SIZE;
        self.evidence
            .encode_size()
            .saturating_add(fixed)
            .saturating_sub(if self.verdict.is_some() {
                0
            } else {
                Verdict::SIZE
            })
    }
}

impl Read for Dispute {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Dispute {
            evidence: FraudEvidence::read(buf)?,
            reporter: Address::read(buf)?,
            subnet: SubnetId::read(buf)?,
            bond: Amount::read(buf)?,
            opened_at: u64::read(buf)?,
            deadline: u64::read(buf)?,
            eligible_weight: Amount::read(buf)?,
            guilty_weight: Amount::read(buf)?,
            innocent_weight: Amount::read(buf)?,
            verdict: match u8::read(buf)? {
                0 => None,
                1 => Some(Verdict::read(buf)?),
                other => return Err(CodecError::InvalidEnum(other)),
            },
            slashed: Amount::read(buf)?,
        })
    }
}

fn rec_key(id: &Hash) -> Vec<u8> {
    key(REC_PREFIX, id.as_bytes())
}

/// An index of open records by deadline, `<prefix><deadline: 8><id: 32>` → empty:
/// disputes and overclaims each keep one, of at most [`MAX_OPEN_DISPUTES`] records.
struct OpenIndex(&'static [u8]);

impl OpenIndex {
    fn key(&self, deadline: u64, id: &Hash) -> Vec<u8> {
        let mut suffix = deadline.to_be_bytes().to_vec();
        suffix.extend_from_slice(id.as_bytes());
        key(self.0, &suffix)
    }

    /// `(deadline, id)` of every open record, by deadline.
    fn ids(&self, state: &Overlay<'_>) -> Vec<(u64, Hash)> {
        let limit = usize::try_from(MAX_OPEN_DISPUTES).unwrap_or(usize::MAX);
        keys_with_prefix(state, self.0, &[], limit)
            .into_iter()
            .filter_map(|k| {
                let tail = k.get(self.0.len()..)?;
                let deadline = u64::from_be_bytes(tail.get(..8)?.try_into().ok()?);
                let id: [u8; 32] = tail.get(8..)?.try_into().ok()?;
                Some((deadline, Hash(id)))
            })
            .collect()
    }

    /// Refuse a new record while [`MAX_OPEN_DISPUTES`] are open.
    fn check_room(&self, state: &Overlay<'_>) -> Result<(), StateError> {
        let open_now = u64::try_from(self.ids(state).len()).unwrap_or(u64::MAX);
        if open_now >= MAX_OPEN_DISPUTES {
            return Err(VerifyError::TooManyOpen {
                max: MAX_OPEN_DISPUTES,
            }
            .into());
        }
        Ok(())
    }

    /// Decide every record due at `height` (deadline at or before it) with `decide`, each
    /// in a child overlay. One whose decision fails (which the bounds on stake rule out)
    /// is closed by `fallback` instead: a verdict that cannot be carried out must not
    /// halt the chain.
    fn decide_due(
        &self,
        state: &mut Overlay<'_>,
        height: u64,
        decide: impl Fn(&mut Overlay<'_>, u64, &Hash) -> Result<Vec<Event>, StateError>,
        fallback: impl Fn(&mut Overlay<'_>, u64, &Hash) -> Result<Vec<Event>, StateError>,
    ) -> Result<Vec<Event>, StateError> {
        let mut events = Vec::new();
        for (deadline, id) in self.ids(state) {
            if deadline > height {
                break;
            }
            let outcome = {
                let mut child = Overlay::new(state);
                decide(&mut child, deadline, &id).map(|events| (child.take_writes(), events))
            };
            let (writes, decided) = match outcome {
                Ok(done) => done,
                Err(_) => {
                    let mut child = Overlay::new(state);
                    let events = fallback(&mut child, deadline, &id)?;
                    (child.take_writes(), events)
                }
            };
            state.absorb(writes);
            events.extend(decided);
        }
        Ok(events)
    }
}

fn against_prefix(provider: &Address, model: ModelId) -> Vec<u8> {
    let mut suffix = provider.as_bytes().to_vec();
    suffix.extend_from_slice(&model.0.to_be_bytes());
    key(AGAINST_PREFIX, &suffix)
}

fn against_key(provider: &Address, model: ModelId, id: &Hash) -> Vec<u8> {
    key(&against_prefix(provider, model), id.as_bytes())
}

fn vote_key(id: &Hash, voter: &Address) -> Vec<u8> {
    let mut suffix = id.as_bytes().to_vec();
    suffix.extend_from_slice(voter.as_bytes());
    key(VOTE_PREFIX, &suffix)
}

pub fn dispute(state: &Overlay<'_>, id: &Hash) -> Result<Option<Dispute>, StateError> {
    state.read(&rec_key(id))
}

/// The open disputes, by deadline (at most [`MAX_OPEN_DISPUTES`]).
pub fn open(state: &Overlay<'_>) -> Result<Vec<(Hash, Dispute)>, StateError> {
    OPEN.ids(state)
        .into_iter()
        .map(|(_, id)| {
            let record = dispute(state, &id)?.ok_or(StateError::Missing("an open dispute"))?;
            Ok((id, record))
        })
        .collect()
}

/// Whether a dispute against `provider`'s registration for `model` is open.
pub fn open_against(
    state: &Overlay<'_>,
    provider: &Address,
    model: ModelId,
) -> Result<(), StateError> {
    if keys_with_prefix(state, &against_prefix(provider, model), &[], 1).is_empty() {
        Ok(())
    } else {
        Err(VerifyError::DisputeOpen {
            provider: *provider,
            model,
        }
        .into())
    }
}

/// The stake `who` votes with in `subnet`: it must hold a validator UID there whose
/// permit was not withdrawn at the last epoch.
fn voting_stake(
    state: &Overlay<'_>,
    subnet: SubnetId,
    who: &Address,
) -> Result<Amount, StateError> {
    let not_validator = || VerifyError::NotSubnetValidator { who: *who, subnet };
    let uid = registry::uids(state, subnet)?
        .uid_of(who)
        .ok_or_else(not_validator)?;
    if !may_vote(&registry::neuron(state, subnet, uid)?) {
        return Err(not_validator().into());
    }
    stake::validator_stake(state, subnet, who)
}

/// A validator UID whose permit was not withdrawn at the last epoch.
fn may_vote(neuron: &registry::Neuron) -> bool {
    neuron.role == Role::Validator && neuron.permit != Some(false)
}

/// Σ stake of the validators of `subnet` who may vote on `reporter`'s report.
fn eligible_weight(
    state: &Overlay<'_>,
    subnet: SubnetId,
    reporter: &Address,
) -> Result<Amount, StateError> {
    let mut total = Amount::ZERO;
    for (i, slot) in registry::uids(state, subnet)?.slots.iter().enumerate() {
        if slot.key == *reporter {
            continue;
        }
        let uid = u16::try_from(i).map_err(|_| StateError::Overflow("uid"))?;
        if may_vote(&registry::neuron(state, subnet, uid)?) {
            let s = stake::validator_stake(state, subnet, &slot.key)?;
            total = checked(total.checked_add(s), "eligible weight")?;
        }
    }
    Ok(total)
}

/// The `report_fraud` call (the evidence passed its stateless check at admission).
pub fn report(
    state: &mut Overlay<'_>,
    params: &Params,
    height: u64,
    reporter: &Address,
    evidence: &FraudEvidence,
    bond: Amount,
) -> Result<Vec<Event>, StateError> {
    if bond < params.dispute_min_bond {
        return Err(VerifyError::BondTooSmall {
            min: params.dispute_min_bond,
        }
        .into());
    }
    let model = evidence.receipt.model;
    let provider = evidence.receipt.provider;
    let subnet = registry::id_by_model(state, model)?.ok_or(VerifyError::NoSubnet { model })?;
    voting_stake(state, subnet, reporter)?;
    if providers::provider(state, model, &provider)?.is_none() {
        return Err(VerifyError::NotProvider { provider, model }.into());
    }
    let id = evidence.dispute_id();
    if dispute(state, &id)?.is_some() {
        return Err(VerifyError::AlreadyReported.into());
    }
    OPEN.check_room(state)?;
    let eligible = eligible_weight(state, subnet, reporter)?;
    if eligible.is_zero() {
        return Err(VerifyError::NoOtherValidators { subnet }.into());
    }
    bank::debit(state, reporter, bond)?;
    bank::credit(state, &bonds(), bond)?;
    let deadline = checked(
        height.checked_add(params.dispute_window_blocks),
        "dispute deadline",
    )?;
    let record = Dispute {
        evidence: evidence.clone(),
        reporter: *reporter,
        subnet,
        bond,
        opened_at: height,
        deadline,
        eligible_weight: eligible,
        guilty_weight: Amount::ZERO,
        innocent_weight: Amount::ZERO,
        verdict: None,
        slashed: Amount::ZERO,
    };
    state.write(rec_key(&id), &record);
    state.set(OPEN.key(deadline, &id), Vec::new());
    state.set(against_key(&provider, model, &id), Vec::new());
    Ok(vec![Event::Dispute(DisputeEvent::Opened {
        dispute: id,
        reporter: *reporter,
        provider,
        model,
        bond,
        deadline,
    })])
}

/// The `vote_dispute` call.
pub fn vote(
    state: &mut Overlay<'_>,
    height: u64,
    voter: &Address,
    id: &Hash,
    guilty: bool,
) -> Result<Vec<Event>, StateError> {
    let mut record = dispute(state, id)?.ok_or(VerifyError::UnknownDispute)?;
    if record.verdict.is_some() || height >= record.deadline {
        return Err(VerifyError::VotingClosed {
            deadline: record.deadline,
        }
        .into());
    }
    if record.reporter == *voter {
        return Err(VerifyError::ReporterVotes.into());
    }
    if state.read::<bool>(&vote_key(id, voter))?.is_some() {
        return Err(VerifyError::AlreadyVoted { voter: *voter }.into());
    }
    let weight = voting_stake(state, record.subnet, voter)?;
    if weight.is_zero() {
        return Err(VerifyError::NoWeight.into());
    }
    let side = if guilty {
        &mut record.guilty_weight
    } else {
        &mut record.innocent_weight
    };
    *side = checked(side.checked_add(weight), "dispute weight")?;
    state.write(vote_key(id, voter), &guilty);
    state.write(rec_key(id), &record);
    Ok(vec![Event::Dispute(DisputeEvent::Voted {
        dispute: *id,
        voter: *voter,
        guilty,
        weight,
    })])
}

/// Hook at the end of every block: decide the disputes whose deadline is `height` (or
/// earlier).
pub fn on_block(
    state: &mut Overlay<'_>,
    params: &Params,
    height: u64,
) -> Result<Vec<Event>, StateError> {
    let mut events = OPEN.decide_due(
        state,
        height,
        |child, deadline, id| decide(child, params, height, deadline, id, None),
        |child, deadline, id| {
            let undecided = Some(Verdict::Undecided);
            decide(child, params, height, deadline, id, undecided)
        },
    )?;
    events.extend(overclaim::on_block(state, params, height)?);
    Ok(events)
}

/// The verdict of the module doc's rule on the recorded weights.
pub fn verdict_of(params: &Params, record: &Dispute) -> Result<Verdict, StateError> {
    let voted = checked(
        record.guilty_weight.checked_add(record.innocent_weight),
        "dispute weight",
    )?
    .base();
    let times = |a: u128, b: u16| a.checked_mul(u128::from(b));
    let quorum = times(record.eligible_weight.base(), params.dispute_quorum_bps);
    let voted_bps = voted.checked_mul(FULL_BPS);
    let (Some(quorum), Some(voted_bps)) = (quorum, voted_bps) else {
        return Err(StateError::Overflow("dispute quorum"));
    };
    if voted_bps < quorum {
        return Ok(Verdict::Undecided);
    }
    let guilty_bps = checked(
        record.guilty_weight.base().checked_mul(FULL_BPS),
        "dispute weight",
    )?;
    let pass = checked(times(voted, params.dispute_pass_bps), "dispute pass")?;
    Ok(if guilty_bps >= pass {
        Verdict::Proven
    } else {
        Verdict::Rejected
    })
}

fn decide(
    state: &mut Overlay<'_>,
    params: &Params,
    height: u64,
    deadline: u64,
    id: &Hash,
    forced: Option<Verdict>,
) -> Result<Vec<Event>, StateError> {
    let mut record = dispute(state, id)?.ok_or(StateError::Missing("an open dispute"))?;
    let verdict = match forced {
        Some(v) => v,
        None => verdict_of(params, &record)?,
    };
    let mut to_reporter = Amount::ZERO;
    let mut events = Vec::new();
    match verdict {
        Verdict::Proven => {
            return_bond(state, &record.reporter, record.bond)?;
            let (slashed, slash_events) =
                take_stake(state, params, height, &record.provider(), record.model())?;
            to_reporter = pay_reporter(state, params, &record.reporter, slashed)?;
            record.slashed = slashed;
            events = slash_events;
        }
        Verdict::Undecided => return_bond(state, &record.reporter, record.bond)?,
        Verdict::Rejected => {
            bank::debit(state, &bonds(), record.bond)?;
            bank::burn(state, record.bond)?;
        }
    }
    record.verdict = Some(verdict);
    state.write(rec_key(id), &record);
    state.delete(OPEN.key(deadline, id));
    state.delete(against_key(&record.provider(), record.model(), id));
    events.push(Event::Dispute(DisputeEvent::Decided {
        dispute: *id,
        verdict,
        guilty_weight: record.guilty_weight,
        innocent_weight: record.innocent_weight,
        slashed: record.slashed,
        to_reporter,
        bond: record.bond,
    }));
    Ok(events)
}

fn return_bond(
    state: &mut Overlay<'_>,
    reporter: &Address,
    bond: Amount,
) -> Result<(), StateError> {
    bank::debit(state, &bonds(), bond)?;
    bank::credit(state, reporter, bond)
}

/// Pay `reporter` its `fraud_reporter_bps` of `slashed` (minted: the slash was burned).
fn pay_reporter(
    state: &mut Overlay<'_>,
    params: &Params,
    reporter: &Address,
    slashed: Amount,
) -> Result<Amount, StateError> {
    let reward = mul_div(
        slashed.base(),
        u128::from(params.fraud_reporter_bps),
        FULL_BPS,
    );
    let reward = Amount::from_base(checked(reward, "reporter reward")?);
    if !reward.is_zero() {
        bank::mint(state, reporter, reward)?;
    }
    Ok(reward)
}

/// Proven fraud: take `fraud_slash_bps` of `provider`'s registration stake for `model`
/// (burned; callers mint what they pay out of it), then delist it for the model.
/// Returns `(slashed, events)`.
fn take_stake(
    state: &mut Overlay<'_>,
    params: &Params,
    height: u64,
    provider: &Address,
    model: ModelId,
) -> Result<(Amount, Vec<Event>), StateError> {
    // A provider cannot leave while disputed, but it may have left for another
    // disputed answer's slash in this same block: then nothing is left to take here.
    let Some(mut registration) = providers::provider(state, model, provider)? else {
        return Ok((Amount::ZERO, Vec::new()));
    };
    let share = mul_div(
        registration.stake.base(),
        u128::from(params.fraud_slash_bps),
        FULL_BPS,
    );
    let amount = Amount::from_base(checked(share, "fraud slash")?);
    staking::unlock(state, provider, amount)?;
    registration.stake = checked(registration.stake.checked_sub(amount), "provider stake")?;
    providers::set(state, model, provider, &registration);
    let (slashed, slash_event) = staking::slash(state, provider, amount, 0)?;
    let mut events = vec![slash_event];
    events.extend(providers::delist(state, params, height, provider, model)?);
    Ok((slashed, events))
}
