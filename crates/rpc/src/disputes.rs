//! Dispute routes: the open fraud disputes, and one dispute (open or decided); the same
//! for overclaim reports.

use crate::server::{ApiError, OrInternal, Shared};
use axum::{extract::State, Json};
use commonware_runtime::{Metrics, Supervisor};
use tessera_chain::ChainError;
use tessera_http::PathParam;
use tessera_state::verify::{self, overclaim::Overclaim, Dispute};
use tessera_types::Hash;

/// A dispute with its id, as `GET /v1/disputes` and `GET /v1/disputes/{id}` answer.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct DisputeView {
    pub id: Hash,
    /// The head's height when this was read (votes land before `dispute.deadline`).
    pub height: u64,
    #[serde(flatten)]
    pub dispute: Dispute,
}

/// Every open dispute, by deadline (at most `verify::MAX_OPEN_DISPUTES`).
pub async fn list<E: tessera_store::StoreContext + Metrics + Supervisor>(
    State(app): State<Shared<E>>,
) -> Result<Json<Vec<DisputeView>>, ApiError> {
    let height = app.chain.head().height;
    let open = app
        .chain
        .with_state(|s| verify::open(s).map_err(ChainError::from))
        .or_internal()?
        .or_internal()?;
    Ok(Json(
        open.into_iter()
            .map(|(id, dispute)| DisputeView {
                id,
                height,
                dispute,
            })
            .collect(),
    ))
}

pub async fn show<E: tessera_store::StoreContext + Metrics + Supervisor>(
    State(app): State<Shared<E>>,
    PathParam(id): PathParam<String>,
) -> Result<Json<DisputeView>, ApiError> {
    let parsed: Hash = id.parse().map_err(|_| {
        ApiError::bad_request(
            "bad_dispute_id",
            format!(
                "{id:?} is not a dispute id (64 hex characters): `tessera verify list` shows them"
            ),
        )
    })?;
    let height = app.chain.head().height;
    let found = app
        .chain
        .with_state(|s| verify::dispute(s, &parsed).map_err(ChainError::from))
        .or_internal()?
        .or_internal()?;
    found
        .map(|dispute| {
            Json(DisputeView {
                id: parsed,
                height,
                dispute,
            })
        })
        .ok_or_else(|| ApiError::not_found(format!("no dispute {id}")))
}

/// An overclaim report with its id, as `GET /v1/overclaims` and `GET /v1/overclaims/{id}`
/// answer.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct OverclaimView {
    pub id: Hash,
    /// The head's height when this was read (answers land before `deadline`).
    pub height: u64,
    #[serde(flatten)]
    pub overclaim: Overclaim,
}

/// Every open overclaim report, by deadline (at most `verify::MAX_OPEN_DISPUTES`).
pub async fn list_overclaims<E: tessera_store::StoreContext + Metrics + Supervisor>(
    State(app): State<Shared<E>>,
) -> Result<Json<Vec<OverclaimView>>, ApiError> {
    let height = app.chain.head().height;
    let open = app
        .chain
        .with_state(|s| verify::overclaim::open(s).map_err(ChainError::from))
        .or_internal()?
        .or_internal()?;
    Ok(Json(
        open.into_iter()
            .map(|(id, overclaim)| OverclaimView {
                id,
                height,
                overclaim,
            })
            .collect(),
    ))
}

pub async fn show_overclaim<E: tessera_store::StoreContext + Metrics + Supervisor>(
    State(app): State<Shared<E>>,
    PathParam(id): PathParam<String>,
) -> Result<Json<OverclaimView>, ApiError> {
    let parsed: Hash = id.parse().map_err(|_| {
        ApiError::bad_request(
            "bad_dispute_id",
            format!(
                "{id:?} is not an overclaim id (64 hex characters): `tessera verify list` shows them"
            ),
        )
    })?;
    let height = app.chain.head().height;
    let found = app
        .chain
        .with_state(|s| verify::overclaim::overclaim(s, &parsed).map_err(ChainError::from))
        .or_internal()?
        .or_internal()?;
    found
        .map(|overclaim| {
            Json(OverclaimView {
                id: parsed,
                height,
                overclaim,
            })
        })
        .ok_or_else(|| ApiError::not_found(format!("no overclaim report {id}")))
}
