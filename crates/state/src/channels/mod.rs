//! `channels`: payment channels from a payer to a provider for one model, paid with
//! vouchers on lanes and claimed in batches; every claim is split at once ([`split`];
//! decision 0017).
//!
//! # Rules
//! * `open_channel(provider, model, deposit, expiry_blocks)` moves `deposit` from the
//!   payer into the escrow account [`escrow`]. The provider must be registered for the
//!   model; `1 ≤ expiry_blocks ≤ max_channel_blocks`. The channel records both prices
//!   as they are now; its id is `channel::channel_id(payer, nonce)`.
//! * `top_up_channel` adds deposit and `extend_channel` pushes `expires_at` later (at
//!   most `max_channel_blocks` past now, and only while the provider is registered):
//!   both by the payer, before the channel expires.
//! * `claim_channel(lanes)`, by the provider, until `expires_at + claim window`: each
//!   lane voucher must verify (`Voucher::verify`: this chain, this channel, the payer's
//!   key); the lane's new total (`claimed`, at most the voucher's amount) must be above
//!   what the lane claimed before; lanes are listed in increasing order.
//!   The increase is paid out of escrow through [`split`].
//! * `refund_channel`, by the payer, after `expires_at + claim window`: the unclaimed
//!   deposit returns to the payer, the lanes are deleted, the channel is marked closed.
//!
//! # State keys
//! * `channel/info/<id: 32>` → [`Channel`].
//! * `channel/lane/<id: 32><lane: u32>` → claimed cumulative [`Amount`] (absent = 0).
//! * `channel/payer/<payer: 32><id>`, `channel/provider/<provider: 32><id>` → the
//!   model id: the open channels of each account.
//!
//! # Invariants (property-tested in `tests/market_props.rs`)
//! * `claimed ≤ deposit` for every channel, and `claimed = Σ lanes` while it is open.
//! * a lane's claimed amount only grows: a replayed or older voucher claims nothing.
//! * escrow balance = Σ over open channels of `deposit − claimed`.
//! * a claim included at or before `expires_at + window` is accepted (given valid
//!   vouchers); a refund only after it, so no refund can pre-empt a timely claim.
//! * the module moves TSR and never mints it (only the fee may be burned).

pub mod split;

use crate::{
    bank,
    error::checked,
    kv::{key, keys_with_prefix, Overlay},
    models, providers, Params, StateError,
};
use bytes::BufMut;
use commonware_codec::{Buf, Error as CodecError, FixedSize, Read, ReadExt, Write};
use tessera_types::{
    channel::{channel_id, LaneClaim, MarketEvent, Price, MAX_CLAIM_LANES},
    keys::public_key_of,
    tx::ModelId,
    voucher::MAX_LANES,
    Address, Amount, ChainId, Event, Hash,
};

pub use split::{split, Split};

/// Prefix of channel records.
pub const CHANNEL_PREFIX: &[u8] = b"channel/info/";
/// Prefix of lane records.
pub const LANE_PREFIX: &[u8] = b"channel/lane/";
/// Prefix of the payer index.
pub const BY_PAYER_PREFIX: &[u8] = b"channel/payer/";
/// Prefix of the provider index.
pub const BY_PROVIDER_PREFIX: &[u8] = b"channel/provider/";

/// The account that holds every open channel's unclaimed deposit.
pub fn escrow() -> Address {
    Address::module("channels/escrow")
}

/// A payment channel.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Channel {
    pub payer: Address,
    pub provider: Address,
    pub model: ModelId,
    pub deposit: Amount,
    pub claimed: Amount,
    pub opened_height: u64,
    /// Last height at which the payer may still sign for calls; claims land until
    /// `expires_at + channel_claim_window_blocks`.
    pub expires_at: u64,
    /// The model's price when the channel opened (the base of the split).
    pub model_price: Price,
    /// The provider's price when the channel opened (what the payer pays).
    pub provider_price: Price,
    /// Refunded and closed: nothing more can be claimed or refunded.
    pub closed: bool,
}

impl Channel {
    /// The last height at which a claim is accepted.
    pub fn claim_deadline(&self, params: &Params) -> Result<u64, StateError> {
        checked(
            self.expires_at
                .checked_add(params.channel_claim_window_blocks),
            "claim deadline",
        )
    }

    /// Deposit not yet claimed.
    pub fn unclaimed(&self) -> Amount {
        self.deposit.saturating_sub(self.claimed)
    }
}

impl Write for Channel {
    fn write(&self, buf: &mut impl BufMut) {
        self.payer.write(buf);
        self.provider.write(buf);
        self.model.write(buf);
        self.deposit.write(buf);
        self.claimed.write(buf);
        buf.put_u64(self.opened_height);
        buf.put_u64(self.expires_at);
        self.model_price.write(buf);
        self.provider_price.write(buf);
        self.closed.write(buf);
    }
}

impl FixedSize for Channel {
    const SIZE: usize =
        2 * Address::SIZE + ModelId::SIZE + 2 * Amount::SIZE + 16 + 2 * Price::SIZE + 1;
}

impl Read for Channel {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Channel {
            payer: Address::read(buf)?,
            provider: Address::read(buf)?,
            model: ModelId::read(buf)?,
            deposit: Amount::read(buf)?,
            claimed: Amount::read(buf)?,
            opened_height: u64::read(buf)?,
            expires_at: u64::read(buf)?,
            model_price: Price::read(buf)?,
            provider_price: Price::read(buf)?,
            closed: bool::read(buf)?,
        })
    }
}

pub fn channel_key(id: &Hash) -> Vec<u8> {
    key(CHANNEL_PREFIX, &id.0)
}

pub fn lane_key(id: &Hash, lane: u32) -> Vec<u8> {
    let mut suffix = Vec::with_capacity(36);
    suffix.extend_from_slice(&id.0);
    suffix.extend_from_slice(&lane.to_be_bytes());
    key(LANE_PREFIX, &suffix)
}

fn index_key(prefix: &[u8], who: &Address, id: &Hash) -> Vec<u8> {
    let mut suffix = Vec::with_capacity(64);
    suffix.extend_from_slice(who.as_bytes());
    suffix.extend_from_slice(&id.0);
    key(prefix, &suffix)
}

pub fn channel(state: &Overlay<'_>, id: &Hash) -> Result<Option<Channel>, StateError> {
    state.read(&channel_key(id))
}

fn existing(state: &Overlay<'_>, id: &Hash) -> Result<Channel, StateError> {
    channel(state, id)?.ok_or(StateError::UnknownChannel)
}

/// What lane `lane` of channel `id` has claimed so far.
pub fn lane_claimed(state: &Overlay<'_>, id: &Hash, lane: u32) -> Result<Amount, StateError> {
    Ok(state.read(&lane_key(id, lane))?.unwrap_or(Amount::ZERO))
}

/// Every lane of `id` with a claim, in lane order (at most [`MAX_LANES`]).
pub fn lanes(state: &Overlay<'_>, id: &Hash) -> Result<Vec<(u32, Amount)>, StateError> {
    let prefix = key(LANE_PREFIX, &id.0);
    let limit = usize::try_from(MAX_LANES).unwrap_or(usize::MAX);
    keys_with_prefix(state, &prefix, &[], limit)
        .into_iter()
        .map(|k| {
            let lane = k
                .get(prefix.len()..)
                .and_then(|tail| <[u8; 4]>::try_from(tail).ok())
                .map(u32::from_be_bytes)
                .ok_or_else(|| StateError::Corrupt {
                    key: String::from_utf8_lossy(&k).into_owned(),
                    reason: "malformed lane key".into(),
                })?;
            Ok((lane, lane_claimed(state, id, lane)?))
        })
        .collect()
}

/// Up to `limit` open channels of `who` as payer (`as_payer`) or provider, from `from`.
pub fn channels_of(
    state: &Overlay<'_>,
    who: &Address,
    as_payer: bool,
    from: Option<&Hash>,
    limit: usize,
) -> Result<Vec<(Hash, Channel)>, StateError> {
    let base = if as_payer {
        BY_PAYER_PREFIX
    } else {
        BY_PROVIDER_PREFIX
    };
    let prefix = key(base, who.as_bytes());
    let start = from.map(|h| h.0.to_vec()).unwrap_or_default();
    keys_with_prefix(state, &prefix, &start, limit)
        .into_iter()
        .map(|k| {
            let id = k
                .get(prefix.len()..)
                .and_then(|tail| <[u8; 32]>::try_from(tail).ok())
                .map(Hash)
                .ok_or_else(|| StateError::Corrupt {
                    key: String::from_utf8_lossy(&k).into_owned(),
                    reason: "malformed channel index key".into(),
                })?;
            Ok((id, existing(state, &id)?))
        })
        .collect()
}

/// Stateless checks of a claim's lanes: 1 to [`MAX_CLAIM_LANES`], strictly increasing
/// (so no lane appears twice), each claiming a non-zero total at most its voucher's.
pub fn check_claim_lanes(lanes: &[LaneClaim]) -> Result<(), StateError> {
    if lanes.is_empty() || lanes.len() > MAX_CLAIM_LANES {
        return Err(StateError::BadClaimLanes {
            reason: "a claim carries 1 to 128 lanes",
        });
    }
    let increasing = lanes.windows(2).all(|pair| match pair {
        [a, b] => a.lane < b.lane,
        _ => true,
    });
    if !increasing {
        return Err(StateError::BadClaimLanes {
            reason: "list lanes in increasing order, each once",
        });
    }
    if lanes.iter().any(|l| l.claimed.is_zero()) {
        return Err(StateError::BadClaimLanes {
            reason: "a lane claim of zero claims nothing",
        });
    }
    if lanes.iter().any(|l| l.claimed > l.cumulative) {
        return Err(StateError::BadClaimLanes {
            reason: "a lane claims more than its voucher signs",
        });
    }
    Ok(())
}

/// What `open_channel` asks for.
#[derive(Clone, Copy, Debug)]
pub struct Open {
    pub provider: Address,
    pub model: ModelId,
    pub deposit: Amount,
    pub expiry_blocks: u64,
}

/// The `open_channel` call, in the transaction of nonce `nonce`.
pub fn open(
    state: &mut Overlay<'_>,
    params: &Params,
    height: u64,
    payer: &Address,
    nonce: u64,
    req: Open,
) -> Result<Vec<Event>, StateError> {
    if req.expiry_blocks == 0 || req.expiry_blocks > params.max_channel_blocks {
        return Err(StateError::BadChannelLife {
            blocks: req.expiry_blocks,
            max: params.max_channel_blocks,
        });
    }
    let expires_at = checked(height.checked_add(req.expiry_blocks), "expiry")?;
    let id = channel_id(payer, nonce);
    if channel(state, &id)?.is_some() {
        return Err(StateError::Corrupt {
            key: "channel id".into(),
            reason: "a channel id repeated (nonces never do)".into(),
        });
    }
    let model_price = providers::model_price(state, req.model)?;
    let until = checked(
        expires_at.checked_add(params.channel_claim_window_blocks),
        "claim deadline",
    )?;
    let registration = providers::note_channel(state, req.model, &req.provider, until)?;
    bank::debit(state, payer, req.deposit)?;
    bank::credit(state, &escrow(), req.deposit)?;
    let record = Channel {
        payer: *payer,
        provider: req.provider,
        model: req.model,
        deposit: req.deposit,
        claimed: Amount::ZERO,
        opened_height: height,
        expires_at,
        model_price,
        provider_price: registration.price,
        closed: false,
    };
    state.write(channel_key(&id), &record);
    state.write(index_key(BY_PAYER_PREFIX, payer, &id), &req.model);
    state.write(
        index_key(BY_PROVIDER_PREFIX, &req.provider, &id),
        &req.model,
    );
    Ok(vec![Event::Market(MarketEvent::ChannelOpened {
        channel: id,
        payer: *payer,
        provider: req.provider,
        model: req.model,
        deposit: req.deposit,
        expires_at,
    })])
}

/// A channel the payer may still fund: open, its own, not expired.
fn fundable(
    state: &Overlay<'_>,
    height: u64,
    payer: &Address,
    id: &Hash,
) -> Result<Channel, StateError> {
    let record = existing(state, id)?;
    if record.closed {
        return Err(StateError::ChannelClosed);
    }
    if record.payer != *payer {
        return Err(StateError::NotChannelPayer {
            payer: record.payer,
        });
    }
    if height > record.expires_at {
        return Err(StateError::ChannelExpired {
            expired_at: record.expires_at,
        });
    }
    Ok(record)
}

fn funded_event(id: Hash, record: &Channel) -> Vec<Event> {
    vec![Event::Market(MarketEvent::ChannelFunded {
        channel: id,
        deposit: record.deposit,
        expires_at: record.expires_at,
    })]
}

/// The `top_up_channel` call.
pub fn top_up(
    state: &mut Overlay<'_>,
    height: u64,
    payer: &Address,
    id: &Hash,
    amount: Amount,
) -> Result<Vec<Event>, StateError> {
    let mut record = fundable(state, height, payer, id)?;
    bank::debit(state, payer, amount)?;
    bank::credit(state, &escrow(), amount)?;
    record.deposit = checked(record.deposit.checked_add(amount), "deposit")?;
    state.write(channel_key(id), &record);
    Ok(funded_event(*id, &record))
}

/// The `extend_channel` call.
pub fn extend(
    state: &mut Overlay<'_>,
    params: &Params,
    height: u64,
    payer: &Address,
    id: &Hash,
    blocks: u64,
) -> Result<Vec<Event>, StateError> {
    let mut record = fundable(state, height, payer, id)?;
    let expires_at = checked(record.expires_at.checked_add(blocks), "expiry")?;
    let life = expires_at.saturating_sub(height);
    if blocks == 0 || life > params.max_channel_blocks {
        return Err(StateError::BadChannelLife {
            blocks: life,
            max: params.max_channel_blocks,
        });
    }
    record.expires_at = expires_at;
    providers::note_channel(
        state,
        record.model,
        &record.provider,
        record.claim_deadline(params)?,
    )?;
    state.write(channel_key(id), &record);
    Ok(funded_event(*id, &record))
}

/// The `claim_channel` call.
pub fn claim(
    state: &mut Overlay<'_>,
    params: &Params,
    chain_id: &ChainId,
    height: u64,
    signer: &Address,
    id: &Hash,
    lanes: &[LaneClaim],
) -> Result<Vec<Event>, StateError> {
    check_claim_lanes(lanes)?;
    let mut record = existing(state, id)?;
    if record.closed {
        return Err(StateError::ChannelClosed);
    }
    if record.provider != *signer {
        return Err(StateError::NotChannelProvider {
            provider: record.provider,
        });
    }
    let deadline = record.claim_deadline(params)?;
    if height > deadline {
        return Err(StateError::ClaimWindowClosed {
            closed_at: deadline,
        });
    }
    let payer_key = public_key_of(&record.payer).map_err(|_| StateError::Corrupt {
        key: "channel payer".into(),
        reason: "not an ed25519 key".into(),
    })?;
    let mut amount = Amount::ZERO;
    for lane in lanes {
        lane.voucher(chain_id, *id)
            .verify(chain_id, id, &payer_key)
            .map_err(|_| StateError::BadVoucher { lane: lane.lane })?;
        let before = lane_claimed(state, id, lane.lane)?;
        let increase = lane
            .claimed
            .checked_sub(before)
            .filter(|inc| !inc.is_zero())
            .ok_or(StateError::StaleVoucher {
                lane: lane.lane,
                claimed: before,
            })?;
        amount = checked(amount.checked_add(increase), "claim")?;
        state.write(lane_key(id, lane.lane), &lane.claimed);
    }
    let claimed = checked(record.claimed.checked_add(amount), "claimed")?;
    if claimed > record.deposit {
        return Err(StateError::ClaimOverDeposit {
            deposit: record.deposit,
            claimed,
        });
    }
    record.claimed = claimed;
    state.write(channel_key(id), &record);
    let mut events = vec![Event::Market(MarketEvent::ChannelClaimed {
        channel: *id,
        provider: *signer,
        amount,
        claimed,
    })];
    events.extend(pay_out(state, params, id, &record, amount)?);
    Ok(events)
}

/// Move `amount` out of escrow along the split of `record`'s model.
fn pay_out(
    state: &mut Overlay<'_>,
    params: &Params,
    id: &Hash,
    record: &Channel,
    amount: Amount,
) -> Result<Vec<Event>, StateError> {
    let model = models::model(state, record.model)?.ok_or(StateError::UnknownModel {
        model: record.model,
    })?;
    let legs = split(
        amount,
        &record.model_price,
        &record.provider_price,
        &model.spec.split,
        &model.spec.data_links,
        params.channel_claim_fee_bps,
    )?;
    let from = escrow();
    let mut events = Vec::new();
    events.extend(models::credit_revenue(
        state,
        record.model,
        &from,
        legs.owners,
    )?);
    for (to, part) in legs.data.iter().filter(|(_, part)| !part.is_zero()) {
        move_funds(state, &from, to, *part)?;
        events.push(Event::Market(MarketEvent::DataPaid {
            model: record.model,
            to: *to,
            amount: *part,
        }));
    }
    move_funds(state, &from, &bank::treasury(), legs.treasury)?;
    let take = checked(legs.treasury.checked_add(legs.fee), "network take")?;
    crate::subnets::tempo::credit_take(state, record.model, take)?;
    if !legs.fee.is_zero() {
        events.push(bank::charge_fee(state, params, &from, legs.fee)?);
    }
    move_funds(state, &from, &record.provider, legs.provider)?;
    events.push(Event::Market(MarketEvent::ClaimSplit {
        channel: *id,
        model: record.model,
        to_provider: legs.provider,
        to_owners: legs.owners,
        to_data: legs.data_total,
        to_treasury: legs.treasury,
        fee: legs.fee,
    }));
    Ok(events)
}

fn move_funds(
    state: &mut Overlay<'_>,
    from: &Address,
    to: &Address,
    amount: Amount,
) -> Result<(), StateError> {
    if amount.is_zero() {
        return Ok(());
    }
    bank::debit(state, from, amount)?;
    bank::credit(state, to, amount)
}

/// The `refund_channel` call.
pub fn refund(
    state: &mut Overlay<'_>,
    params: &Params,
    height: u64,
    payer: &Address,
    id: &Hash,
) -> Result<Vec<Event>, StateError> {
    let mut record = existing(state, id)?;
    if record.closed {
        return Err(StateError::ChannelClosed);
    }
    if record.payer != *payer {
        return Err(StateError::NotChannelPayer {
            payer: record.payer,
        });
    }
    let deadline = record.claim_deadline(params)?;
    if height <= deadline {
        return Err(StateError::RefundTooEarly {
            opens_at: checked(deadline.checked_add(1), "refund height")?,
        });
    }
    let amount = record.unclaimed();
    move_funds(state, &escrow(), payer, amount)?;
    for (lane, _) in lanes(state, id)? {
        state.delete(lane_key(id, lane));
    }
    state.delete(index_key(BY_PAYER_PREFIX, payer, id));
    state.delete(index_key(BY_PROVIDER_PREFIX, &record.provider, id));
    record.closed = true;
    state.write(channel_key(id), &record);
    Ok(vec![Event::Market(MarketEvent::ChannelRefunded {
        channel: *id,
        payer: *payer,
        amount,
    })])
}
