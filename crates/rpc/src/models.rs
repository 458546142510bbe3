//! Model routes: list, show (versions, pool, top holders), royalties of an address.

use crate::{
    api::{Holder, ModelResponse, ModelSummary, RoyaltyLine},
    server::{ApiError, OrInternal, Shared},
};
use axum::{extract::State, Json};
use commonware_runtime::{Metrics, Supervisor};
use tessera_chain::{Chain, ChainError};
use tessera_http::PathParam;
use tessera_state::{
    kv::decode_value,
    models::{self, royalties, Model},
};
use tessera_store::StoreContext;
use tessera_types::{
    tx::{ModelId, Shares},
    Address,
};

/// Most models one list answer carries.
const MAX_MODELS_LISTED: usize = 1_000;
/// Largest holders shown for a model.
const TOP_HOLDERS: usize = 20;
/// Holders scanned to find the largest (a model with more shows the largest of these).
const MAX_HOLDERS_SCANNED: usize = 100_000;

fn all_models<E: StoreContext + Metrics + Supervisor>(
    chain: &Chain<E>,
) -> Result<Vec<ModelSummary>, ApiError> {
    let entries = chain
        .scan(models::MODEL_PREFIX, MAX_MODELS_LISTED)
        .or_internal()?;
    entries
        .into_iter()
        .map(|(key, value)| {
            let id = models::model_id_of_key(&key)
                .ok_or_else(|| ChainError::Inconsistent("malformed model key".into()))
                .or_internal()?;
            let model: Model = decode_value(&key, &value)
                .map_err(ChainError::from)
                .or_internal()?;
            Ok(ModelSummary { id, model })
        })
        .collect()
}

/// A model by name or numeric id.
pub(crate) fn resolve<E: StoreContext + Metrics + Supervisor>(
    chain: &Chain<E>,
    id: &str,
) -> Result<(ModelId, Model), ApiError> {
    let found = chain
        .with_state(|s| -> Result<Option<(ModelId, Model)>, ChainError> {
            let model_id = match id.parse::<u64>() {
                Ok(n) => Some(ModelId(n)),
                Err(_) => models::model_id_by_name(s, id)?,
            };
            Ok(match model_id {
                Some(mid) => models::model(s, mid)?.map(|m| (mid, m)),
                None => None,
            })
        })
        .or_internal()?
        .or_internal()?;
    found.ok_or_else(|| {
        ApiError::not_found(format!(
            "no model {id:?}: list them with `tessera model list`"
        ))
    })
}

pub async fn list<E: StoreContext + Metrics + Supervisor>(
    State(app): State<Shared<E>>,
) -> Result<Json<Vec<ModelSummary>>, ApiError> {
    Ok(Json(all_models(&app.chain)?))
}

pub async fn show<E: StoreContext + Metrics + Supervisor>(
    State(app): State<Shared<E>>,
    PathParam(id): PathParam<String>,
) -> Result<Json<ModelResponse>, ApiError> {
    let (mid, model) = resolve(&app.chain, &id)?;
    let (versions, pool) = app
        .chain
        .with_state(|s| -> Result<_, ChainError> {
            let mut versions = Vec::new();
            for index in 0..model.version_count {
                if let Some(v) = models::version(s, mid, index)? {
                    versions.push(v);
                }
            }
            Ok((versions, royalties::pool(s, mid)?))
        })
        .or_internal()?
        .or_internal()?;
    let prefix = royalties::holders_prefix(mid);
    let mut holders: Vec<Holder> = app
        .chain
        .scan(&prefix, MAX_HOLDERS_SCANNED)
        .or_internal()?
        .into_iter()
        .filter_map(|(key, value)| {
            let address = royalties::holder_of_key(mid, &key)?;
            let holding: royalties::Holding = decode_value(&key, &value).ok()?;
            (holding.shares > Shares::new(0)).then_some(Holder {
                address,
                shares: holding.shares,
            })
        })
        .collect();
    holders.sort_by(|a, b| b.shares.cmp(&a.shares).then(a.address.cmp(&b.address)));
    holders.truncate(TOP_HOLDERS);
    Ok(Json(ModelResponse {
        id: mid,
        model,
        versions,
        pool,
        top_holders: holders,
    }))
}

pub async fn royalties<E: StoreContext + Metrics + Supervisor>(
    State(app): State<Shared<E>>,
    PathParam(address): PathParam<String>,
) -> Result<Json<Vec<RoyaltyLine>>, ApiError> {
    let address: Address = address
        .parse()
        .map_err(|e| ApiError::bad_request("bad_address", e))?;
    let mut lines = Vec::new();
    for summary in all_models(&app.chain)? {
        let holding = app
            .chain
            .with_state(|s| royalties::accrued(s, summary.id, &address))
            .or_internal()?
            .map_err(ChainError::from)
            .or_internal()?;
        if holding.shares > Shares::new(0) || !holding.claimable.is_zero() {
            lines.push(RoyaltyLine {
                id: summary.id,
                name: summary.model.spec.name.clone(),
                holding,
            });
        }
    }
    Ok(Json(lines))
}
