//! `providers`: compute providers registered to serve a model, with stake at risk, a
//! price and an endpoint (decision 0017).
//!
//! # Rules
//! * `register_provider(model, stake, price, endpoint)` bonds `stake` from the signer's
//!   balance and locks it. The model must exist; `stake ≥ min_provider_stake`; the price
//!   passes [`check_price`] against the model's; one registration per (provider, model)
//!   and at most [`MAX_MODELS_PER_PROVIDER`] per provider.
//! * `update_provider(model, add_stake, price, endpoint)` changes price and endpoint and
//!   bonds and locks `add_stake` more. Channels already open keep the prices they opened
//!   with.
//! * `leave_provider(model)` deletes the registration, unlocks its stake and unbonds it,
//!   released at `max(height + unbonding_blocks, claims_until)`: `claims_until` is the
//!   latest end of a claim window of a channel opened or extended to this registration
//!   ([`note_channel`]), so stake stays at risk while any claim can still land.
//!
//! # State keys
//! * `provider/model/<model: 8><provider: 32>` → [`Provider`] (listing by model).
//! * `provider/of/<provider: 32><model: 8>` → [`ModelId`] (listing by provider).
//!
//! # Invariants (property-tested in `tests/market_props.rs`)
//! * the two indexes hold exactly the same (provider, model) pairs.
//! * Σ registrations' `stake` of an account ≤ its locked stake (equal while no other
//!   module locks stake for it).
//! * the module moves TSR only into staking (bond) and never mints or burns it.

use crate::{
    error::checked,
    kv::{key, keys_with_prefix, Overlay},
    models, staking, Params, StateError,
};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, FixedSize, Read, ReadExt, Write};
use tessera_types::{
    channel::{MarketEvent, Price, MAX_ENDPOINT_BYTES, MAX_PRICE_BASE},
    codec::{read_string, string_size, write_string},
    tx::ModelId,
    Address, Amount, Event,
};

/// Prefix of registrations by model: `provider/model/ || model || provider`.
pub const BY_MODEL_PREFIX: &[u8] = b"provider/model/";
/// Prefix of the index by provider: `provider/of/ || provider || model`.
pub const BY_PROVIDER_PREFIX: &[u8] = b"provider/of/";
/// Most models one provider account serves at once.
pub const MAX_MODELS_PER_PROVIDER: usize = 16;

/// One provider's registration for one model.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Provider {
    /// Locked stake backing this registration.
    pub stake: Amount,
    /// Asked per call and per token (proportional to the model's price, at or above it).
    pub price: Price,
    /// Where the provider serves, e.g. `http://203.0.113.7:7301`.
    pub endpoint: String,
    pub registered_height: u64,
    /// Height until which a claim on a channel to this registration may still land.
    pub claims_until: u64,
}

impl Write for Provider {
    fn write(&self, buf: &mut impl BufMut) {
        self.stake.write(buf);
        self.price.write(buf);
        write_string(&self.endpoint, buf);
        buf.put_u64(self.registered_height);
        buf.put_u64(self.claims_until);
    }
}

impl EncodeSize for Provider {
    fn encode_size(&self) -> usize {
        Amount::SIZE
            .saturating_add(Price::SIZE)
            .saturating_add(string_size(&self.endpoint))
            .saturating_add(16)
    }
}

impl Read for Provider {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Provider {
            stake: Amount::read(buf)?,
            price: Price::read(buf)?,
            endpoint: read_string(buf, MAX_ENDPOINT_BYTES)?,
            registered_height: u64::read(buf)?,
            claims_until: u64::read(buf)?,
        })
    }
}

pub fn provider_key(model: ModelId, provider: &Address) -> Vec<u8> {
    let mut suffix = Vec::with_capacity(40);
    suffix.extend_from_slice(&model.0.to_be_bytes());
    suffix.extend_from_slice(provider.as_bytes());
    key(BY_MODEL_PREFIX, &suffix)
}

fn index_key(provider: &Address, model: ModelId) -> Vec<u8> {
    let mut suffix = Vec::with_capacity(40);
    suffix.extend_from_slice(provider.as_bytes());
    suffix.extend_from_slice(&model.0.to_be_bytes());
    key(BY_PROVIDER_PREFIX, &suffix)
}

pub fn provider(
    state: &Overlay<'_>,
    model: ModelId,
    who: &Address,
) -> Result<Option<Provider>, StateError> {
    state.read(&provider_key(model, who))
}

/// The registration of `who` for `model`, or the error that says it is missing.
pub fn registered(
    state: &Overlay<'_>,
    model: ModelId,
    who: &Address,
) -> Result<Provider, StateError> {
    provider(state, model, who)?.ok_or(StateError::UnknownProvider {
        provider: *who,
        model,
    })
}

/// Up to `limit` providers of `model`, in address order, starting at `from`.
pub fn providers_of(
    state: &Overlay<'_>,
    model: ModelId,
    from: Option<&Address>,
    limit: usize,
) -> Result<Vec<(Address, Provider)>, StateError> {
    let prefix = key(BY_MODEL_PREFIX, &model.0.to_be_bytes());
    let start = from.map(|a| a.as_bytes().to_vec()).unwrap_or_default();
    keys_with_prefix(state, &prefix, &start, limit)
        .into_iter()
        .map(|k| {
            let address = k
                .get(prefix.len()..)
                .and_then(|tail| <[u8; 32]>::try_from(tail).ok())
                .map(Address)
                .ok_or_else(|| corrupt(&k))?;
            Ok((address, registered(state, model, &address)?))
        })
        .collect()
}

/// The models `who` is registered for (at most [`MAX_MODELS_PER_PROVIDER`]).
pub fn models_of(state: &Overlay<'_>, who: &Address) -> Result<Vec<ModelId>, StateError> {
    let prefix = key(BY_PROVIDER_PREFIX, who.as_bytes());
    keys_with_prefix(
        state,
        &prefix,
        &[],
        MAX_MODELS_PER_PROVIDER.saturating_add(1),
    )
    .into_iter()
    .map(|k| {
        k.get(prefix.len()..)
            .and_then(|tail| <[u8; 8]>::try_from(tail).ok())
            .map(|id| ModelId(u64::from_be_bytes(id)))
            .ok_or_else(|| corrupt(&k))
    })
    .collect()
}

fn corrupt(k: &[u8]) -> StateError {
    StateError::Corrupt {
        key: String::from_utf8_lossy(k).into_owned(),
        reason: "malformed provider index key".into(),
    }
}

/// Stateless checks of an endpoint: an `http://` or `https://` URL with a host, no
/// spaces or control characters, at most [`MAX_ENDPOINT_BYTES`].
pub fn check_endpoint(endpoint: &str) -> Result<(), StateError> {
    let bad = |reason| Err(StateError::InvalidEndpoint { reason });
    if endpoint.len() > MAX_ENDPOINT_BYTES {
        return bad("longer than 256 bytes");
    }
    let Some(rest) = endpoint
        .strip_prefix("http://")
        .or_else(|| endpoint.strip_prefix("https://"))
    else {
        return bad("must start with http:// or https://");
    };
    if rest.is_empty() || rest.starts_with('/') {
        return bad("has no host");
    }
    if endpoint
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return bad("contains spaces or control characters");
    }
    Ok(())
}

/// Stateless checks of an asked price: each part at most [`MAX_PRICE_BASE`].
pub fn check_price_bounds(price: &Price) -> Result<(), StateError> {
    let max = Amount::from_base(MAX_PRICE_BASE);
    if price.per_call > max || price.per_token > max {
        return Err(StateError::PriceTooHigh {
            max: Amount::from_base(MAX_PRICE_BASE),
        });
    }
    Ok(())
}

/// An asked price against the model's: bounded, each part at or above the model's, and
/// proportional to it (decision 0017), so the model's part of any payment is exact.
pub fn check_price(model_id: ModelId, asked: &Price, model: &Price) -> Result<(), StateError> {
    check_price_bounds(asked)?;
    if asked.per_call < model.per_call || asked.per_token < model.per_token {
        return Err(StateError::PriceBelowModel {
            model: model_id,
            per_call: model.per_call,
            per_token: model.per_token,
        });
    }
    let cross = |a: Amount, b: Amount| a.base().checked_mul(b.base());
    let lhs = cross(asked.per_call, model.per_token);
    let rhs = cross(model.per_call, asked.per_token);
    if lhs.is_none() || lhs != rhs {
        return Err(StateError::PriceNotProportional { model: model_id });
    }
    Ok(())
}

/// A model's price as registered.
pub fn model_price(state: &Overlay<'_>, model: ModelId) -> Result<Price, StateError> {
    let record = models::model(state, model)?.ok_or(StateError::UnknownModel { model })?;
    Ok(Price {
        per_call: record.spec.price_base_per_call,
        per_token: record.spec.price_base_per_token,
    })
}

/// What `register_provider` and `update_provider` ask for (`stake` is the stake to
/// add, for an update).
#[derive(Clone, Copy, Debug)]
pub struct Offer<'a> {
    pub model: ModelId,
    pub stake: Amount,
    pub price: Price,
    pub endpoint: &'a str,
}

/// The `register_provider` call.
pub fn register(
    state: &mut Overlay<'_>,
    params: &Params,
    height: u64,
    who: &Address,
    offer: Offer<'_>,
) -> Result<Vec<Event>, StateError> {
    let Offer {
        model,
        stake,
        price,
        endpoint,
    } = offer;
    check_endpoint(endpoint)?;
    check_price(model, &price, &model_price(state, model)?)?;
    if provider(state, model, who)?.is_some() {
        return Err(StateError::ProviderExists {
            provider: *who,
            model,
        });
    }
    if models_of(state, who)?.len() >= MAX_MODELS_PER_PROVIDER {
        return Err(StateError::TooManyProviderModels {
            max: MAX_MODELS_PER_PROVIDER,
        });
    }
    if stake < params.min_provider_stake {
        return Err(StateError::ProviderStakeTooLow {
            offered: stake,
            required: params.min_provider_stake,
        });
    }
    let mut events = staking::bond(state, who, stake)?;
    staking::lock(state, who, stake)?;
    let record = Provider {
        stake,
        price,
        endpoint: endpoint.to_string(),
        registered_height: height,
        claims_until: height,
    };
    state.write(provider_key(model, who), &record);
    state.write(index_key(who, model), &model);
    events.push(Event::Market(MarketEvent::ProviderRegistered {
        provider: *who,
        model,
        stake,
        price,
        endpoint: record.endpoint,
    }));
    Ok(events)
}

/// The `update_provider` call (`offer.stake` is added to the registration's stake).
pub fn update(
    state: &mut Overlay<'_>,
    who: &Address,
    offer: Offer<'_>,
) -> Result<Vec<Event>, StateError> {
    let Offer {
        model,
        stake: add_stake,
        price,
        endpoint,
    } = offer;
    check_endpoint(endpoint)?;
    let mut record = registered(state, model, who)?;
    check_price(model, &price, &model_price(state, model)?)?;
    let mut events = Vec::new();
    if !add_stake.is_zero() {
        events = staking::bond(state, who, add_stake)?;
        staking::lock(state, who, add_stake)?;
        record.stake = checked(record.stake.checked_add(add_stake), "provider stake")?;
    }
    record.price = price;
    record.endpoint = endpoint.to_string();
    state.write(provider_key(model, who), &record);
    events.push(Event::Market(MarketEvent::ProviderUpdated {
        provider: *who,
        model,
        stake: record.stake,
        price,
        endpoint: record.endpoint,
    }));
    Ok(events)
}

/// The `leave_provider` call: refused while a fraud dispute against the registration is
/// open (`verify`), so the stake at risk stays until the verdict.
pub fn leave(
    state: &mut Overlay<'_>,
    params: &Params,
    height: u64,
    who: &Address,
    model: ModelId,
) -> Result<Vec<Event>, StateError> {
    registered(state, model, who)?;
    crate::verify::open_against(state, who, model)?;
    delist(state, params, height, who, model)
}

/// Replace `who`'s registration for `model` (hook for `verify`'s slash).
pub fn set(state: &mut Overlay<'_>, model: ModelId, who: &Address, record: &Provider) {
    state.write(provider_key(model, who), record);
}

/// Delete `who`'s registration for `model`: its stake unlocks and unbonds until the
/// later of the unbonding period and the last claim window (`leave_provider`, and
/// `verify` after proven fraud).
pub fn delist(
    state: &mut Overlay<'_>,
    params: &Params,
    height: u64,
    who: &Address,
    model: ModelId,
) -> Result<Vec<Event>, StateError> {
    let record = registered(state, model, who)?;
    let release_height = checked(
        height.checked_add(params.unbonding_blocks),
        "release height",
    )?
    .max(record.claims_until);
    staking::unlock(state, who, record.stake)?;
    let mut events = staking::unbond_until(state, who, record.stake, release_height)?;
    state.delete(provider_key(model, who));
    state.delete(index_key(who, model));
    events.push(Event::Market(MarketEvent::ProviderLeft {
        provider: *who,
        model,
        stake: record.stake,
        release_height,
    }));
    Ok(events)
}

/// Hook for `channels`: a channel to this registration may be claimed until `until`.
pub fn note_channel(
    state: &mut Overlay<'_>,
    model: ModelId,
    who: &Address,
    until: u64,
) -> Result<Provider, StateError> {
    let mut record = registered(state, model, who)?;
    if until > record.claims_until {
        record.claims_until = until;
        state.write(provider_key(model, who), &record);
    }
    Ok(record)
}
