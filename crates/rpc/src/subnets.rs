//! Subnet routes: the list, and one subnet's metagraph.

use crate::server::{ApiError, OrInternal, Shared};
use axum::{extract::State, Json};
use commonware_runtime::{Metrics, Supervisor};
use tessera_chain::{Chain, ChainError};
use tessera_http::PathParam;
use tessera_state::subnets::{
    metagraph::{self, Metagraph},
    registry,
};
use tessera_store::StoreContext;
use tessera_types::subnet::SubnetId;

/// One line of `GET /v1/subnets`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SubnetSummary {
    pub id: SubnetId,
    pub subnet: registry::Subnet,
    pub uids: usize,
}

/// A subnet id from a name or a number.
fn resolve<E: StoreContext + Metrics + Supervisor>(
    chain: &Chain<E>,
    id: &str,
) -> Result<SubnetId, ApiError> {
    let found = chain
        .with_state(|s| -> Result<Option<SubnetId>, ChainError> {
            Ok(match id.parse::<u64>() {
                Ok(n) => Some(SubnetId(n)),
                Err(_) => registry::id_by_name(s, id)?,
            })
        })
        .or_internal()?
        .or_internal()?;
    found.ok_or_else(|| {
        ApiError::not_found(format!(
            "no subnet {id:?}: list them with `tessera subnet list`"
        ))
    })
}

pub async fn list<E: StoreContext + Metrics + Supervisor>(
    State(app): State<Shared<E>>,
) -> Result<Json<Vec<SubnetSummary>>, ApiError> {
    let all = app
        .chain
        .with_state(|s| -> Result<_, ChainError> {
            let mut out = Vec::new();
            for (id, subnet) in registry::all(s)? {
                let uids = registry::uids(s, id)?.slots.len();
                out.push(SubnetSummary { id, subnet, uids });
            }
            Ok(out)
        })
        .or_internal()?
        .or_internal()?;
    Ok(Json(all))
}

pub async fn show<E: StoreContext + Metrics + Supervisor>(
    State(app): State<Shared<E>>,
    PathParam(id): PathParam<String>,
) -> Result<Json<Metagraph>, ApiError> {
    let subnet = resolve(&app.chain, &id)?;
    let height = app.chain.head().height;
    let graph = app
        .chain
        .with_state(|s| metagraph::read(s, subnet, height))
        .or_internal()?
        .map_err(ChainError::from)
        .or_internal()?;
    graph.map(Json).ok_or_else(|| {
        ApiError::not_found(format!(
            "no subnet {id:?}: list them with `tessera subnet list`"
        ))
    })
}
