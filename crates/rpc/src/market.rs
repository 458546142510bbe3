//! Market routes: a model's providers, an account's registrations, a channel with its
//! lanes and proof, an account's open channels.

use crate::{
    api::{ChannelLine, ChannelResponse, LaneClaim, ModelProviders, ProviderLine},
    models::resolve,
    server::{ApiError, OrInternal, Shared},
};
use axum::{
    extract::{Query, State},
    Json,
};
use commonware_runtime::{Metrics, Supervisor};
use tessera_chain::{Chain, ChainError};
use tessera_http::PathParam;
use tessera_state::{channels, models, providers, StateError};
use tessera_store::StoreContext;
use tessera_types::{channel::Price, tx::ModelId, Address, Hash};

/// Most providers or channels one answer lists.
pub const MAX_LISTED: usize = 256;

fn parse_address(text: &str) -> Result<Address, ApiError> {
    text.parse()
        .map_err(|e| ApiError::bad_request("bad_address", e))
}

/// Run a state read; a state error is the node's fault (the state is corrupt).
fn read<E: StoreContext + Metrics + Supervisor, T>(
    chain: &Chain<E>,
    f: impl FnOnce(&tessera_state::Overlay<'_>) -> Result<T, StateError>,
) -> Result<T, ApiError> {
    chain
        .with_state(f)
        .or_internal()?
        .map_err(ChainError::from)
        .or_internal()
}

fn model_name<E: StoreContext + Metrics + Supervisor>(
    chain: &Chain<E>,
    model: ModelId,
) -> Result<String, ApiError> {
    let record = read(chain, |s| models::model(s, model))?;
    Ok(record.map(|m| m.spec.name).unwrap_or_default())
}

/// `GET /v1/models/{name|id}/providers`.
pub async fn model_providers<E: StoreContext + Metrics + Supervisor>(
    State(app): State<Shared<E>>,
    PathParam(id): PathParam<String>,
) -> Result<Json<ModelProviders>, ApiError> {
    let (model, record) = resolve(&app.chain, &id)?;
    let listed = read(&app.chain, |s| {
        providers::providers_of(s, model, None, MAX_LISTED)
    })?;
    let name = record.spec.name.clone();
    Ok(Json(ModelProviders {
        model,
        price: Price {
            per_call: record.spec.price_base_per_call,
            per_token: record.spec.price_base_per_token,
        },
        providers: listed
            .into_iter()
            .map(|(address, provider)| ProviderLine {
                address,
                model,
                name: name.clone(),
                provider,
            })
            .collect(),
        name,
    }))
}

/// `GET /v1/providers/{address}`: every model `address` is registered to serve.
pub async fn registrations<E: StoreContext + Metrics + Supervisor>(
    State(app): State<Shared<E>>,
    PathParam(address): PathParam<String>,
) -> Result<Json<Vec<ProviderLine>>, ApiError> {
    let address = parse_address(&address)?;
    let found = read(&app.chain, |s| {
        providers::models_of(s, &address)?
            .into_iter()
            .map(|model| Ok((model, providers::registered(s, model, &address)?)))
            .collect::<Result<Vec<_>, StateError>>()
    })?;
    found
        .into_iter()
        .map(|(model, provider)| {
            Ok(ProviderLine {
                address,
                model,
                name: model_name(&app.chain, model)?,
                provider,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()
        .map(Json)
}

/// `GET /v1/channels/{id}`.
pub async fn channel<E: StoreContext + Metrics + Supervisor>(
    State(app): State<Shared<E>>,
    PathParam(id): PathParam<String>,
) -> Result<Json<ChannelResponse>, ApiError> {
    let id: Hash = id
        .parse()
        .map_err(|e| ApiError::bad_request("bad_channel", e))?;
    let key = channels::channel_key(&id);
    let (header, mut proofs) = app.chain.prove_many(&[&key]).await.or_internal()?;
    let proof = proofs
        .pop()
        .ok_or_else(|| ApiError::internal("missing proof"))?;
    let Some(bytes) = proof.claimed_value() else {
        return Err(ApiError::not_found(format!(
            "no channel {id}: check the id (`tessera channel list` shows yours)"
        )));
    };
    let record: channels::Channel = tessera_state::kv::decode_value(&key, bytes)
        .map_err(ChainError::from)
        .or_internal()?;
    let params = app.chain.params().or_internal()?;
    let claim_deadline = record
        .claim_deadline(&params)
        .map_err(ChainError::from)
        .or_internal()?;
    let lanes = read(&app.chain, |s| channels::lanes(s, &id))?
        .into_iter()
        .map(|(lane, claimed)| LaneClaim { lane, claimed })
        .collect();
    Ok(Json(ChannelResponse {
        id,
        height: header.height,
        state_root: header.state_root,
        channel: record,
        claim_deadline,
        lanes,
        proof: hex::encode(proof.to_bytes()),
    }))
}

#[derive(serde::Deserialize)]
pub struct RoleQuery {
    role: Option<String>,
}

/// `GET /v1/accounts/{address}/channels?role=payer|provider` (payer by default): the
/// open channels of `address`.
pub async fn account_channels<E: StoreContext + Metrics + Supervisor>(
    State(app): State<Shared<E>>,
    PathParam(address): PathParam<String>,
    Query(query): Query<RoleQuery>,
) -> Result<Json<Vec<ChannelLine>>, ApiError> {
    let address = parse_address(&address)?;
    let as_payer = match query.role.as_deref() {
        None | Some("payer") => true,
        Some("provider") => false,
        Some(other) => {
            return Err(ApiError::bad_request(
                "bad_role",
                format!("role {other:?}: use role=payer or role=provider"),
            ))
        }
    };
    let listed = read(&app.chain, |s| {
        channels::channels_of(s, &address, as_payer, None, MAX_LISTED)
    })?;
    Ok(Json(
        listed
            .into_iter()
            .map(|(id, channel)| ChannelLine { id, channel })
            .collect(),
    ))
}
