//! Blob routes: blocks in and out (verified against their CIDs), whole files out with
//! HTTP range requests.
//!
//! Uploads go block by block, parents first (`POST /v1/blob-blocks/missing` says which the
//! node lacks, `PUT /v1/blob-blocks/{cid}` sends one, `POST /v1/blobs/{cid}/complete` checks
//! the whole file is there and makes it durable), so an interrupted upload resumes by
//! sending only what is missing.

use crate::server::{bad_request, not_found, ApiError, Shared};
use axum::{
    body::{Body, Bytes},
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use commonware_runtime::{Metrics, Supervisor};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tessera_blobs::{BlobError, BlobStore, Cid};
use tessera_http::{JsonBody, PathParam, RawBody};
use tessera_store::StoreContext;

/// Most CIDs one `missing` request may ask about.
pub const MAX_CIDS_PER_REQUEST: usize = 10_000;
/// Most blocks of one file (1 TiB at 256 KiB per leaf, plus parents).
pub const MAX_FILE_BLOCKS: usize = 4_300_000;
/// Chunks buffered between the file reader thread and the HTTP response.
const STREAM_BUFFER_CHUNKS: usize = 4;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CidList {
    pub cids: Vec<Cid>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Missing {
    pub missing: Vec<Cid>,
}

/// `POST /v1/blobs/{cid}/complete`: the file is whole and durable.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BlobInfo {
    pub cid: Cid,
    pub size_bytes: u64,
    pub blocks: usize,
}

fn store<E: StoreContext>(app: &Shared<E>) -> Result<Arc<BlobStore>, ApiError> {
    app.blobs.clone().ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            "no_blob_store",
            "this node serves no blobs".into(),
        )
    })
}

fn blob_error(e: BlobError) -> ApiError {
    match e {
        BlobError::NotFound { .. } => not_found(e),
        BlobError::Io { .. } => {
            ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        }
        other => bad_request("bad_block", other),
    }
}

fn parse_cid(text: &str) -> Result<Cid, ApiError> {
    text.parse().map_err(|e| bad_request("bad_cid", e))
}

/// Run blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BlobError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
        .map_err(blob_error)
}

pub async fn missing<E: StoreContext + Metrics + Supervisor>(
    State(app): State<Shared<E>>,
    JsonBody(body): JsonBody<CidList>,
) -> Result<Json<Missing>, ApiError> {
    if body.cids.len() > MAX_CIDS_PER_REQUEST {
        return Err(bad_request(
            "too_large",
            format!("ask about at most {MAX_CIDS_PER_REQUEST} CIDs per request"),
        ));
    }
    let blobs = store(&app)?;
    let missing = blocking(move || {
        let mut missing = Vec::new();
        for cid in body.cids {
            if !blobs.has(&cid)? {
                missing.push(cid);
            }
        }
        Ok(missing)
    })
    .await?;
    Ok(Json(Missing { missing }))
}

pub async fn put_block<E: StoreContext + Metrics + Supervisor>(
    State(app): State<Shared<E>>,
    PathParam(cid): PathParam<String>,
    RawBody(body): RawBody,
) -> Result<StatusCode, ApiError> {
    let cid = parse_cid(&cid)?;
    let blobs = store(&app)?;
    blocking(move || blobs.import_block(&cid, &body)).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn get_block<E: StoreContext + Metrics + Supervisor>(
    State(app): State<Shared<E>>,
    PathParam(cid): PathParam<String>,
) -> Result<Response, ApiError> {
    let cid = parse_cid(&cid)?;
    let blobs = store(&app)?;
    let bytes = blocking(move || blobs.get_block(&cid)).await?;
    Ok(([(header::CONTENT_TYPE, "application/vnd.ipld.raw")], bytes).into_response())
}

pub async fn complete<E: StoreContext + Metrics + Supervisor>(
    State(app): State<Shared<E>>,
    PathParam(cid): PathParam<String>,
) -> Result<Json<BlobInfo>, ApiError> {
    let cid = parse_cid(&cid)?;
    let blobs = store(&app)?;
    let info = blocking(move || {
        let blocks = blobs.block_cids(&cid, MAX_FILE_BLOCKS)?.len();
        let size_bytes = blobs.get(&cid)?.size();
        blobs.sync()?;
        Ok(BlobInfo {
            cid,
            size_bytes,
            blocks,
        })
    })
    .await?;
    Ok(Json(info))
}

/// `bytes=START-END` or `bytes=START-` (one range), as (start, end exclusive).
fn parse_range(headers: &HeaderMap, size: u64) -> Result<Option<(u64, u64)>, ApiError> {
    let Some(value) = headers.get(header::RANGE) else {
        return Ok(None);
    };
    let bad = || {
        ApiError(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "bad_range",
            format!(
                "use one range bytes=START-END within 0-{}",
                size.saturating_sub(1)
            ),
        )
    };
    let text = value.to_str().map_err(|_| bad())?;
    let spec = text.strip_prefix("bytes=").ok_or_else(bad)?;
    let (start, end) = spec.split_once('-').ok_or_else(bad)?;
    let start: u64 = start.parse().map_err(|_| bad())?;
    let end: u64 = if end.is_empty() {
        size.saturating_sub(1)
    } else {
        end.parse().map_err(|_| bad())?
    };
    if start > end || end >= size {
        return Err(bad());
    }
    Ok(Some((start, end.saturating_add(1))))
}

/// The whole file, or one range of it. Every block is verified as it is read; a range
/// is served by reading (and verifying) from the start of the file.
pub async fn get_blob<E: StoreContext + Metrics + Supervisor>(
    State(app): State<Shared<E>>,
    PathParam(cid): PathParam<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let cid = parse_cid(&cid)?;
    let blobs = store(&app)?;
    let size = {
        let blobs = blobs.clone();
        blocking(move || Ok(blobs.get(&cid)?.size())).await?
    };
    let range = parse_range(&headers, size)?;
    let (start, end) = range.unwrap_or((0, size));
    let (tx, rx) =
        tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(STREAM_BUFFER_CHUNKS);
    tokio::task::spawn_blocking(move || stream_range(&blobs, &cid, start, end, &tx));
    let body = Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    let mut builder = Response::builder()
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CONTENT_LENGTH, end.saturating_sub(start));
    if range.is_some() {
        let value = format!("bytes {start}-{}/{size}", end.saturating_sub(1));
        builder = builder
            .status(StatusCode::PARTIAL_CONTENT)
            .header(header::CONTENT_RANGE, value);
    }
    builder
        .body(body)
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))
}

/// Send bytes `start..end` of the file, verifying as it reads; stop at the first error.
fn stream_range(
    blobs: &BlobStore,
    cid: &Cid,
    start: u64,
    end: u64,
    tx: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    let mut reader = match blobs.get(cid) {
        Ok(reader) => reader,
        Err(e) => {
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
            return;
        }
    };
    let mut offset = 0u64;
    loop {
        let chunk = match reader.next_chunk() {
            Ok(Some(chunk)) => chunk,
            Ok(None) => return,
            Err(e) => {
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                return;
            }
        };
        let len = u64::try_from(chunk.len()).unwrap_or(u64::MAX);
        let (from, to) = (start.max(offset), end.min(offset.saturating_add(len)));
        if from < to {
            let lo = usize::try_from(from - offset).unwrap_or(0);
            let hi = usize::try_from(to - offset).unwrap_or(chunk.len());
            if tx
                .blocking_send(Ok(Bytes::copy_from_slice(
                    chunk.get(lo..hi).unwrap_or_default(),
                )))
                .is_err()
            {
                return; // the client went away
            }
        }
        offset = offset.saturating_add(len);
        if offset >= end {
            return;
        }
    }
}
