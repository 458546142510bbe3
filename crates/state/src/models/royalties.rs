//! Shares and royalties: per-holder share balances, and a reward-per-share
//! accumulator that distributes revenue to every holder pro rata in O(1).
//!
//! # Fixed point
//! Royalties are counted in *sub-units*: [`SCALE`] = 10^18 sub-units per base unit.
//! * The pool keeps `acc_sub_per_share`, the sub-units earned by one share since the
//!   model was registered, and `undistributed_sub`, the remainder of the last division.
//! * Crediting `amount` computes `n = amount × SCALE + undistributed_sub`, then
//!   `acc_sub_per_share += n / total_shares` and `undistributed_sub = n % total_shares`
//!   (round down; the remainder is carried into the next credit, never minted or lost).
//! * A holder keeps `debt_sub_per_share`, the accumulator at its last settlement (its
//!   "reward debt" is `shares × debt_sub_per_share`; storing it per share means the
//!   product `shares × acc` is never formed). Settling adds
//!   `shares × (acc − debt) + dust_sub` sub-units: the whole base units go to
//!   `claimable`, the fraction stays as the holder's `dust_sub` (< SCALE) for next time.
//!
//! # Bounds (each one checked; beyond it the call fails with `RoyaltyOverflow`)
//! * one credit: `amount × SCALE + undistributed_sub ≤ u128::MAX`, i.e. `amount` up to
//!   3.4 × 10^20 base units — 340 times the whole supply cap, so never in practice.
//! * the accumulator grows by about `credited × SCALE / total_shares`, so it holds
//!   until a model has been credited 3.4 × 10^20 × `total_shares` base units over its
//!   life: 340 × the supply cap for a model of one share, unreachable for more.
//! * a holder's unsettled royalties: `shares × (acc − debt) ≤ u128::MAX` sub-units,
//!   i.e. up to 3.4 × 10^20 base units owed to one holder between two settlements.
//! * `total_shares ≤ MAX_TOTAL_SHARES = SCALE`, so `undistributed_sub < total_shares`
//!   is always less than one base unit after a credit.
//!
//! # Rounding
//! Every division rounds down, in the protocol's favour: the holders together are never
//! owed more than was credited, and nothing is created or destroyed: what a division
//! leaves over is carried (the pool's remainder into the next credit, a holder's
//! fraction into its next settlement). A holder's payouts and its exact pro-rata
//! share (Σ over credits of revenue × its shares at the time ÷ total shares) differ by
//! less than `1 + credits × shares ÷ SCALE` base units: under one base unit of dust
//! (a shortfall), plus per credit its part of a carried remainder (either way). For
//! a model of 10^6 shares credited 10^6 times that is under 1.000001 base units.
//!
//! # Settlement and escrow
//! * A share transfer settles both holders first, into their `claimable` balance: no
//!   TSR moves on a transfer, so the escrow changes only on credit and claim.
//! * [`claim_royalties`] pays `claimable` (whole base units) from the escrow account
//!   [`escrow`]; the dust stays accrued.
//! * [`credit_revenue`] is the hook the paying modules call. Its contract: it moves
//!   `amount` TSR from `payer`'s balance into the escrow itself, so revenue is in
//!   escrow exactly when it is credited.

use super::{model, StateError};
use crate::{bank, error::checked, kv::key, kv::Overlay};
use bytes::BufMut;
use commonware_codec::{Buf, Error as CodecError, FixedSize, Read, ReadExt, Write};
use tessera_types::{
    tx::{ModelId, Shares},
    Address, Amount, Event,
};

/// Sub-units per base unit of TSR: the accumulator's fixed-point scale.
pub const SCALE: u128 = 1_000_000_000_000_000_000;
/// Most shares a model may have (= [`SCALE`], so rounding stays under a base unit).
pub const MAX_TOTAL_SHARES: Shares = Shares::new(1_000_000_000_000_000_000);
/// Prefix of royalty pool keys: `model/pool/ || id (8 bytes, big-endian)`.
pub const POOL_PREFIX: &[u8] = b"model/pool/";
/// Prefix of holding keys: `model/holder/ || id (8 bytes) || address (32 bytes)`.
pub const HOLDER_PREFIX: &[u8] = b"model/holder/";

/// The account that holds every model's credited, not yet claimed royalties (no
/// private key exists for it).
pub fn escrow() -> Address {
    Address::module("models/royalties")
}

/// A model's royalty accumulator and its running totals. Present from registration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RoyaltyPool {
    /// Sub-units earned by one share since registration.
    #[serde(with = "u128_text")]
    pub acc_sub_per_share: u128,
    /// Remainder of the last credit's division, carried into the next credit.
    #[serde(with = "u128_text")]
    pub undistributed_sub: u128,
    /// Σ amounts credited through [`credit_revenue`].
    pub credited: Amount,
    /// Σ amounts paid by [`claim_royalties`].
    pub paid: Amount,
}

impl Write for RoyaltyPool {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_u128(self.acc_sub_per_share);
        buf.put_u128(self.undistributed_sub);
        self.credited.write(buf);
        self.paid.write(buf);
    }
}

impl FixedSize for RoyaltyPool {
    const SIZE: usize = 64;
}

impl Read for RoyaltyPool {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(RoyaltyPool {
            acc_sub_per_share: u128::read(buf)?,
            undistributed_sub: u128::read(buf)?,
            credited: Amount::read(buf)?,
            paid: Amount::read(buf)?,
        })
    }
}

/// One holder's shares of one model and its settled royalties. Absent when empty.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Holding {
    pub shares: Shares,
    /// The pool's accumulator when this holding was last settled.
    #[serde(with = "u128_text")]
    pub debt_sub_per_share: u128,
    /// Settled royalties below one base unit (< [`SCALE`]).
    #[serde(with = "u128_text")]
    pub dust_sub: u128,
    /// Settled royalties that [`claim_royalties`] pays out.
    pub claimable: Amount,
}

impl Holding {
    pub fn is_empty(&self) -> bool {
        self.shares.is_zero() && self.dust_sub == 0 && self.claimable.is_zero()
    }
}

impl Write for Holding {
    fn write(&self, buf: &mut impl BufMut) {
        self.shares.write(buf);
        buf.put_u128(self.debt_sub_per_share);
        buf.put_u128(self.dust_sub);
        self.claimable.write(buf);
    }
}

impl FixedSize for Holding {
    const SIZE: usize = 56;
}

impl Read for Holding {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Holding {
            shares: Shares::read(buf)?,
            debt_sub_per_share: u128::read(buf)?,
            dust_sub: u128::read(buf)?,
            claimable: Amount::read(buf)?,
        })
    }
}

/// Pure: the pool after crediting `amount` to `total_shares` shares (rounds down; the
/// remainder stays in `undistributed_sub`).
pub fn accrue(
    pool: &RoyaltyPool,
    model: ModelId,
    total_shares: Shares,
    amount: Amount,
) -> Result<RoyaltyPool, StateError> {
    let overflow = |what| StateError::RoyaltyOverflow { model, what };
    let total = u128::from(total_shares.get());
    let numerator = amount
        .base()
        .checked_mul(SCALE)
        .and_then(|scaled| scaled.checked_add(pool.undistributed_sub))
        .ok_or(overflow("the credited amount"))?;
    let per_share = numerator.checked_div(total).ok_or(StateError::Corrupt {
        key: format!("model/info/{model}"),
        reason: "total shares is zero".into(),
    })?;
    Ok(RoyaltyPool {
        acc_sub_per_share: pool
            .acc_sub_per_share
            .checked_add(per_share)
            .ok_or(overflow("the reward-per-share accumulator"))?,
        undistributed_sub: numerator.checked_rem(total).unwrap_or(0),
        credited: pool
            .credited
            .checked_add(amount)
            .ok_or(overflow("the credited total"))?,
        paid: pool.paid,
    })
}

/// Pure: `holding` settled up to the accumulator `acc_sub_per_share`.
pub fn settle(
    holding: &Holding,
    model: ModelId,
    acc_sub_per_share: u128,
) -> Result<Holding, StateError> {
    let overflow = |what| StateError::RoyaltyOverflow { model, what };
    let delta = acc_sub_per_share
        .checked_sub(holding.debt_sub_per_share)
        .ok_or(StateError::Corrupt {
            key: format!("model/holder/{model}"),
            reason: "reward debt is above the pool's accumulator".into(),
        })?;
    let owed_sub = u128::from(holding.shares.get())
        .checked_mul(delta)
        .and_then(|earned| earned.checked_add(holding.dust_sub))
        .ok_or(overflow("a holder's unsettled royalties"))?;
    let whole = Amount::from_base(owed_sub.checked_div(SCALE).unwrap_or(0));
    Ok(Holding {
        shares: holding.shares,
        debt_sub_per_share: acc_sub_per_share,
        dust_sub: owed_sub.checked_rem(SCALE).unwrap_or(0),
        claimable: holding
            .claimable
            .checked_add(whole)
            .ok_or(overflow("a holder's claimable royalties"))?,
    })
}

pub fn pool_key(model: ModelId) -> Vec<u8> {
    key(POOL_PREFIX, &model.0.to_be_bytes())
}

pub fn holder_key(model: ModelId, holder: &Address) -> Vec<u8> {
    let mut out = holders_prefix(model);
    out.extend_from_slice(holder.as_bytes());
    out
}

/// The prefix of every holding of `model` (to list its holders).
pub fn holders_prefix(model: ModelId) -> Vec<u8> {
    key(HOLDER_PREFIX, &model.0.to_be_bytes())
}

/// The holder a key under [holders_prefix]`(model)` names (`None` for any other key).
pub fn holder_of_key(model: ModelId, key: &[u8]) -> Option<Address> {
    let address: [u8; 32] = key
        .strip_prefix(holders_prefix(model).as_slice())?
        .try_into()
        .ok()?;
    Some(Address(address))
}

/// The model's pool; `UnknownModel` if no such model is registered.
pub fn pool(state: &Overlay<'_>, model: ModelId) -> Result<RoyaltyPool, StateError> {
    state
        .read(&pool_key(model))?
        .ok_or(StateError::UnknownModel { model })
}

/// The holding as stored (not settled).
pub fn holding(
    state: &Overlay<'_>,
    model: ModelId,
    holder: &Address,
) -> Result<Holding, StateError> {
    Ok(state.read(&holder_key(model, holder))?.unwrap_or_default())
}

/// The holding as if settled now: `claimable` is what a claim would pay.
pub fn accrued(
    state: &Overlay<'_>,
    model: ModelId,
    holder: &Address,
) -> Result<Holding, StateError> {
    let acc = pool(state, model)?.acc_sub_per_share;
    settle(&holding(state, model, holder)?, model, acc)
}

fn set_holding(state: &mut Overlay<'_>, model: ModelId, holder: &Address, holding: &Holding) {
    let key = holder_key(model, holder);
    if holding.is_empty() {
        state.delete(key);
    } else {
        state.write(key, holding);
    }
}

/// Registration: an empty pool, and every share to the creator.
pub(super) fn open(state: &mut Overlay<'_>, model: ModelId, creator: &Address, total: Shares) {
    state.write(pool_key(model), &RoyaltyPool::default());
    let holding = Holding {
        shares: total,
        ..Holding::default()
    };
    set_holding(state, model, creator, &holding);
}

/// Hook for the modules that take payment for a model's use (payment channels):
/// credit `amount` of revenue to `model`'s share holders.
///
/// Contract: moves `amount` TSR from `payer`'s balance (typically the calling module's
/// own escrow account) into [`escrow`], and raises the model's accumulator. O(1): it
/// reads the model and writes the pool and two balances, never a holding. A zero
/// amount does nothing and returns `None`. Every check runs before the first write, so
/// an error leaves the state as it was.
pub fn credit_revenue(
    state: &mut Overlay<'_>,
    model_id: ModelId,
    payer: &Address,
    amount: Amount,
) -> Result<Option<Event>, StateError> {
    if amount.is_zero() {
        return Ok(None);
    }
    if *payer == escrow() {
        return Err(StateError::SelfTransfer);
    }
    let record = model(state, model_id)?.ok_or(StateError::UnknownModel { model: model_id })?;
    let next = accrue(
        &pool(state, model_id)?,
        model_id,
        record.spec.total_shares,
        amount,
    )?;
    bank::debit(state, payer, amount)?;
    bank::credit(state, &escrow(), amount)?;
    state.write(pool_key(model_id), &next);
    Ok(Some(Event::RoyaltiesCredited {
        model: model_id,
        payer: *payer,
        amount,
    }))
}

/// The `transfer_shares` call: settle both holders, then move the shares.
pub fn transfer_shares(
    state: &mut Overlay<'_>,
    model: ModelId,
    from: &Address,
    to: &Address,
    amount: Shares,
) -> Result<Vec<Event>, StateError> {
    if amount.is_zero() {
        return Err(StateError::ZeroAmount);
    }
    if from == to {
        return Err(StateError::SelfTransfer);
    }
    let acc = pool(state, model)?.acc_sub_per_share;
    let mut sender = settle(&holding(state, model, from)?, model, acc)?;
    sender.shares = sender
        .shares
        .checked_sub(amount)
        .ok_or(StateError::InsufficientShares {
            model,
            requested: amount,
            available: sender.shares,
        })?;
    let mut recipient = settle(&holding(state, model, to)?, model, acc)?;
    recipient.shares = checked(recipient.shares.checked_add(amount), "shares")?;
    set_holding(state, model, from, &sender);
    set_holding(state, model, to, &recipient);
    Ok(vec![Event::SharesTransferred {
        model,
        from: *from,
        to: *to,
        amount,
    }])
}

/// The `claim_royalties` call: settle, then pay `claimable` from the escrow.
pub fn claim_royalties(
    state: &mut Overlay<'_>,
    model: ModelId,
    holder: &Address,
) -> Result<Vec<Event>, StateError> {
    let mut totals = pool(state, model)?;
    let mut settled = settle(
        &holding(state, model, holder)?,
        model,
        totals.acc_sub_per_share,
    )?;
    let amount = settled.claimable;
    if amount.is_zero() {
        return Err(StateError::NothingToClaim { model });
    }
    settled.claimable = Amount::ZERO;
    totals.paid = checked(totals.paid.checked_add(amount), "royalties paid")?;
    bank::debit(state, &escrow(), amount).map_err(|_| StateError::Corrupt {
        key: "royalty escrow".into(),
        reason: format!("holds less than the {amount} TSR owed to a holder of model {model}"),
    })?;
    bank::credit(state, holder, amount)?;
    set_holding(state, model, holder, &settled);
    state.write(pool_key(model), &totals);
    Ok(vec![Event::RoyaltiesClaimed {
        model,
        holder: *holder,
        amount,
    }])
}

/// Serde for sub-unit counters: decimal strings in JSON, like [`Amount`].
mod u128_text {
    pub fn serialize<S: serde::Serializer>(value: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&value.to_string())
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
