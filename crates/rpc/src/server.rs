//! The HTTP server over a [`Chain`]. Handlers are thin: decode, call the chain, encode.

use crate::api::*;
use axum::{
    extract::{DefaultBodyLimit, State},
    response::{
        sse::{Event as SseEvent, KeepAlive, Sse},
        IntoResponse,
    },
    routing::{get, post},
    Json, Router,
};
use commonware_runtime::{Metrics, Supervisor};
use futures::Stream;
use std::{convert::Infallible, sync::Arc};
use tessera_chain::{Chain, ChainError, Committed, MempoolError, TxLookup};
use tessera_http::{JsonBody, PathParam, Subscribers};
use tessera_state::{bank, staking, StateError};
use tessera_store::StoreContext;
use tessera_types::{
    tx::TxView, Address, Block, BlockReceipts, Hash, SignedTransaction, MAX_TX_BYTES,
};

/// Where a validator reads finalization certificates (its consensus engine's archive).
pub trait FinalitySource: Send + Sync + 'static {
    /// The encoded certificate finalizing the block at `height`, if the node holds it.
    fn finalization(
        &self,
        height: u64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<Vec<u8>>> + Send + '_>>;
}

/// Authenticated p2p connections a validator holds: Commonware's `lookup` network runs
/// one `…_network_spawner_peer` task per connected peer, counted in the runtime's
/// metrics.
pub fn connected_peers(metrics: &str) -> usize {
    metrics
        .lines()
        .filter(|line| {
            line.starts_with("runtime_tasks_running{") && line.contains("_network_spawner_peer\"")
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<usize>().ok())
        .sum()
}

/// What every route needs.
pub struct AppState<E: StoreContext> {
    pub chain: Arc<Chain<E>>,
    /// The node's blob store, if it serves blobs.
    pub blobs: Option<Arc<tessera_blobs::BlobStore>>,
    /// Shown in `/v1/status` (`dev`, `validator` or `full`).
    pub mode: String,
    /// Finalization certificates (validators), for `GET /v1/finality/{height}`.
    pub finality: Option<Arc<dyn FinalitySource>>,
    /// Open `/v1/events` streams, capped.
    pub subscribers: Subscribers,
    /// Whether uploads are taken, and the slots for streaming reads.
    pub blob_access: crate::blobs::BlobAccess,
}

/// Most `/v1/events` streams one node serves at once.
pub const MAX_EVENT_SUBSCRIBERS: usize = 256;

impl<E: StoreContext> AppState<E> {
    /// A node's API over `chain`, shown as `mode`, with no blobs and no finality source.
    pub fn new(chain: Arc<Chain<E>>, mode: &str) -> Self {
        Self {
            chain,
            blobs: None,
            mode: mode.to_string(),
            finality: None,
            subscribers: Subscribers::new(MAX_EVENT_SUBSCRIBERS),
            blob_access: crate::blobs::BlobAccess::new(false),
        }
    }

    /// Serve `blobs`; take uploads into it only if `uploads`.
    pub fn with_blobs(mut self, blobs: Arc<tessera_blobs::BlobStore>, uploads: bool) -> Self {
        self.blobs = Some(blobs);
        self.blob_access = crate::blobs::BlobAccess::new(uploads);
        self
    }

    pub fn with_finality(mut self, finality: Arc<dyn FinalitySource>) -> Self {
        self.finality = Some(finality);
        self
    }
}

pub(crate) type Shared<E> = Arc<AppState<E>>;

/// The API's routes.
pub fn router<E>(state: AppState<E>) -> Router
where
    E: StoreContext + Metrics + Supervisor + Send + Sync + 'static,
{
    Router::new()
        .route("/v1/status", get(status::<E>))
        .route("/v1/txs", post(submit::<E>))
        .route("/v1/txs/{id}", get(tx::<E>))
        .route("/v1/accounts/{address}", get(account::<E>))
        .route("/v1/blocks/{id}", get(block::<E>))
        .route("/v1/finality/{height}", get(finality::<E>))
        .route("/v1/validators", get(validators::<E>))
        .route("/v1/events", get(events::<E>))
        .route("/v1/models", get(crate::models::list::<E>))
        .route("/v1/models/{id}", get(crate::models::show::<E>))
        .route(
            "/v1/models/{id}/providers",
            get(crate::market::model_providers::<E>),
        )
        .route(
            "/v1/providers/{address}",
            get(crate::market::registrations::<E>),
        )
        .route("/v1/channels/{id}", get(crate::market::channel::<E>))
        .route("/v1/subnets", get(crate::subnets::list::<E>))
        .route("/v1/subnets/{id}", get(crate::subnets::show::<E>))
        .route("/v1/disputes", get(crate::disputes::list::<E>))
        .route("/v1/disputes/{id}", get(crate::disputes::show::<E>))
        .route("/v1/overclaims", get(crate::disputes::list_overclaims::<E>))
        .route(
            "/v1/overclaims/{id}",
            get(crate::disputes::show_overclaim::<E>),
        )
        .route(
            "/v1/accounts/{address}/channels",
            get(crate::market::account_channels::<E>),
        )
        .route(
            "/v1/royalties/{address}",
            get(crate::models::royalties::<E>),
        )
        .route("/v1/blob-blocks/missing", post(crate::blobs::missing::<E>))
        .route(
            "/v1/blob-blocks/{cid}",
            get(crate::blobs::get_block::<E>)
                .put(crate::blobs::put_block::<E>)
                .layer(DefaultBodyLimit::max(
                    tessera_blobs::MAX_BLOCK_BYTES.saturating_add(1024),
                )),
        )
        .route("/v1/blobs/{cid}", get(crate::blobs::get_blob::<E>))
        .route(
            "/v1/blobs/{cid}/complete",
            post(crate::blobs::complete::<E>),
        )
        .route("/metrics", get(metrics::<E>))
        // Hex doubles the size: leave room for a transaction twice over the limit, so
        // an oversized one gets the decoder's typed error rather than a bare 413.
        .layer(DefaultBodyLimit::max(MAX_TX_BYTES * 4 + 1024))
        .with_state(Arc::new(state))
}

pub use tessera_http::ApiError;

/// `?` for chain results inside handlers: a chain failure is the node's fault, logged
/// and answered 500.
pub(crate) trait OrInternal<T> {
    fn or_internal(self) -> Result<T, ApiError>;
}

impl<T> OrInternal<T> for Result<T, ChainError> {
    fn or_internal(self) -> Result<T, ApiError> {
        self.map_err(|e| {
            tracing::error!(error = %e, "chain error while serving a request");
            ApiError::internal(e)
        })
    }
}

fn decode_code(e: &tessera_types::TypesError) -> &'static str {
    match e {
        tessera_types::TypesError::TooLarge { .. } => "too_large",
        _ => "bad_encoding",
    }
}

fn mempool_code(e: &MempoolError) -> &'static str {
    match e {
        MempoolError::AlreadyKnown(_) => "already_known",
        MempoolError::BadSignature => "bad_signature",
        MempoolError::NonceTooFarAhead { .. } | MempoolError::NonceTaken(_) => "bad_nonce",
        MempoolError::Full(_)
        | MempoolError::AccountFull(_)
        | MempoolError::FutureFull(_)
        | MempoolError::AccountFutureFull(_) => "mempool_full",
        MempoolError::State(s) => match s {
            StateError::WrongChain { .. } => "wrong_chain",
            StateError::StaleNonce { .. } | StateError::FutureNonce { .. } => "bad_nonce",
            StateError::FeeTooLow { .. } => "fee_too_low",
            StateError::InsufficientFunds { .. } => "insufficient_funds",
            _ => "rejected",
        },
    }
}

async fn status<E: StoreContext + Metrics + Supervisor>(
    State(app): State<Shared<E>>,
) -> Result<Json<StatusResponse>, ApiError> {
    let head = app.chain.head();
    Ok(Json(StatusResponse {
        chain_id: app.chain.chain_id().clone(),
        height: head.height,
        finalized_height: head.height,
        head_hash: head.hash(),
        state_root: head.state_root,
        timestamp_ms: head.timestamp_ms,
        mempool_txs: app.chain.mempool_len(),
        mode: app.mode.clone(),
        peers: (app.mode == "validator").then(|| connected_peers(&app.chain.metrics_text())),
        version: env!("CARGO_PKG_VERSION").to_string(),
        params: app.chain.params().or_internal()?,
        validators: app
            .chain
            .with_state(staking::epochs::current)
            .or_internal()?
            .map_err(ChainError::from)
            .or_internal()?
            .map(|set| set.members)
            .unwrap_or_default()
            .into_iter()
            .map(|m| ValidatorView {
                address: m.address,
                bonded: m.bonded,
                p2p: m.p2p,
            })
            .collect(),
    }))
}

async fn submit<E: StoreContext + Metrics + Supervisor>(
    State(app): State<Shared<E>>,
    JsonBody(body): JsonBody<SubmitTx>,
) -> Result<Json<Submitted>, ApiError> {
    let bytes = hex::decode(body.tx.trim()).map_err(|_| {
        ApiError::bad_request(
            "bad_encoding",
            "tx must be hex of the signed transaction's canonical bytes",
        )
    })?;
    let tx = SignedTransaction::from_bytes(&bytes)
        .map_err(|e| ApiError::bad_request(decode_code(&e), e))?;
    match app.chain.submit(tx) {
        Ok(id) => Ok(Json(Submitted { id })),
        Err(e) => Err(ApiError::bad_request(mempool_code(&e), e)),
    }
}

async fn tx<E: StoreContext + Metrics + Supervisor>(
    State(app): State<Shared<E>>,
    PathParam(id): PathParam<String>,
) -> Result<Json<TxResponse>, ApiError> {
    let id: Hash = id
        .parse()
        .map_err(|e| ApiError::bad_request("bad_hash", e))?;
    Ok(Json(match app.chain.lookup_tx(id).await.or_internal()? {
        TxLookup::Committed {
            height,
            index,
            block,
            tx,
            mut receipt,
        } => {
            tessera_state::error::annotate_receipt(&mut receipt);
            TxResponse::Committed {
                height,
                index,
                block,
                tx: Box::new(TxView::from(&*tx)),
                receipt,
            }
        }
        TxLookup::Pending => TxResponse::Pending,
        TxLookup::Rejected(reason) => TxResponse::Rejected { reason },
        TxLookup::Unknown => TxResponse::Unknown,
    }))
}

async fn account<E: StoreContext + Metrics + Supervisor>(
    State(app): State<Shared<E>>,
    PathParam(address): PathParam<String>,
) -> Result<Json<AccountResponse>, ApiError> {
    let address: Address = address
        .parse()
        .map_err(|e| ApiError::bad_request("bad_address", e))?;
    let account_key = bank::account_key(&address);
    let stake_key = staking::stake_key(&address);
    // Both proofs and the values come from one locked read of the store.
    let (header, account_proof, stake_proof) = app
        .chain
        .prove_many(&[&account_key, &stake_key])
        .await
        .map(|(h, mut p)| {
            let stake = p.pop();
            let account = p.pop();
            (h, account, stake)
        })
        .or_internal()?;
    let (Some(account_proof), Some(stake_proof)) = (account_proof, stake_proof) else {
        return Err(ApiError::internal("missing proof"));
    };
    let account = match account_proof.claimed_value() {
        Some(b) => tessera_state::kv::decode_value(&account_key, b)
            .map_err(ChainError::from)
            .or_internal()?,
        None => bank::Account::default(),
    };
    let stake = match stake_proof.claimed_value() {
        Some(b) => tessera_state::kv::decode_value(&stake_key, b)
            .map_err(ChainError::from)
            .or_internal()?,
        None => staking::Stake::default(),
    };
    Ok(Json(AccountResponse {
        address,
        height: header.height,
        state_root: header.state_root,
        next_nonce: app.chain.next_nonce(&address).max(account.nonce),
        account,
        stake,
        account_proof: hex::encode(account_proof.to_bytes()),
        stake_proof: hex::encode(stake_proof.to_bytes()),
    }))
}

async fn block<E: StoreContext + Metrics + Supervisor>(
    State(app): State<Shared<E>>,
    PathParam(id): PathParam<String>,
) -> Result<Json<BlockResponse>, ApiError> {
    let found = if id == "latest" {
        app.chain
            .block(app.chain.head().height)
            .await
            .or_internal()?
    } else if let Ok(height) = id.parse::<u64>() {
        app.chain.block(height).await.or_internal()?
    } else {
        let hash: Hash = id.parse().map_err(|_| {
            ApiError::bad_request(
                "bad_block_id",
                "use `latest`, a height, or a 64-hex-character block hash",
            )
        })?;
        app.chain.block_by_hash(hash).await.or_internal()?
    };
    let (block, receipts) = found.ok_or_else(|| {
        ApiError::not_found(format!(
            "no block {id} (the head is at height {})",
            app.chain.head().height
        ))
    })?;
    Ok(Json(block_response(&block, receipts)))
}

/// The current epoch's validator set as chosen by staking.
async fn validators<E: StoreContext + Metrics + Supervisor>(
    State(app): State<Shared<E>>,
) -> Result<Json<staking::epochs::ValidatorSet>, ApiError> {
    let set = app
        .chain
        .with_state(staking::epochs::current)
        .or_internal()?
        .map_err(ChainError::from)
        .or_internal()?
        .ok_or_else(|| ApiError::not_found("this chain has no validator set in its state"))?;
    Ok(Json(set))
}

/// A committed block (canonical bytes) with the certificate that finalized it.
async fn finality<E: StoreContext + Metrics + Supervisor>(
    State(app): State<Shared<E>>,
    PathParam(height): PathParam<u64>,
) -> Result<Json<FinalityResponse>, ApiError> {
    let Some(source) = &app.finality else {
        return Err(ApiError::not_found(format!(
            "this node ({}) keeps no finality certificates: ask a validator",
            app.mode
        )));
    };
    let head = app.chain.head().height;
    let missing = || {
        ApiError::not_found(format!(
            "block {height} is not final here yet (head {head})"
        ))
    };
    let (block, _) = app
        .chain
        .block(height)
        .await
        .or_internal()?
        .ok_or_else(missing)?;
    let certificate = source.finalization(height).await.ok_or_else(missing)?;
    Ok(Json(FinalityResponse {
        height,
        block: hex::encode(commonware_codec::Encode::encode(&block)),
        certificate: hex::encode(certificate),
    }))
}

fn block_response(block: &Block, mut receipts: BlockReceipts) -> BlockResponse {
    tessera_state::error::annotate(&mut receipts);
    BlockResponse {
        hash: block.hash(),
        header: block.header.clone(),
        txs: block.txs.iter().map(TxView::from).collect(),
        receipts,
    }
}

/// Committed blocks as server-sent events, while a subscriber slot is free; the slot is
/// held for as long as the stream lives.
async fn events<E: StoreContext + Metrics + Supervisor>(
    State(app): State<Shared<E>>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let slot = app.subscribers.join()?;
    let receiver = app.chain.subscribe();
    let stream = futures::stream::unfold((receiver, slot), |(mut rx, slot)| async move {
        match rx.recv().await {
            Ok(committed) => Some((Ok(block_event(&committed)), (rx, slot))),
            Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                let note = SseEvent::default().event("lagged").data(missed.to_string());
                Some((Ok(note), (rx, slot)))
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => None,
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn block_event(committed: &Committed) -> SseEvent {
    let event = BlockEvent {
        height: committed.block.header.height,
        hash: committed.block.hash(),
        timestamp_ms: committed.block.header.timestamp_ms,
        txs: committed
            .block
            .txs
            .iter()
            .map(SignedTransaction::id)
            .collect(),
        receipts: {
            let mut receipts = committed.receipts.clone();
            tessera_state::error::annotate(&mut receipts);
            receipts
        },
    };
    let data = serde_json::to_string(&event).unwrap_or_else(|_| "{}".into());
    SseEvent::default().event("block").data(data)
}

async fn metrics<E: StoreContext + Metrics + Supervisor>(
    State(app): State<Shared<E>>,
) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        app.chain.metrics_text(),
    )
}

#[cfg(test)]
mod tests {
    use super::connected_peers;

    #[test]
    fn peers_are_the_running_peer_tasks() {
        let metrics = "\
# HELP runtime_tasks_running Tasks running.
runtime_tasks_running{name=\"validator_network_spawner_peer\",kind=\"Task\",execution=\"Shared\"} 3
runtime_tasks_running{name=\"validator_network_spawner_peer_sender\",kind=\"Task\",execution=\"Shared\"} 3
runtime_tasks_running{name=\"validator_network_spawner\",kind=\"Task\",execution=\"Shared\"} 1
runtime_tasks_spawned_total{name=\"validator_network_spawner_peer\",kind=\"Task\",execution=\"Shared\"} 9
";
        assert_eq!(connected_peers(metrics), 3);
        assert_eq!(connected_peers("runtime_tasks_running 4\n"), 0);
    }
}
