//! Blob routes: blocks in and out (verified against their CIDs), whole files out with
//! HTTP range requests.
//!
//! Uploads go block by block, parents first (`POST /v1/blob-blocks/missing` says which the
//! node lacks, `PUT /v1/blob-blocks/{cid}` sends one, `POST /v1/blobs/{cid}/complete` checks
//! the whole file is there and makes it durable), so an interrupted upload resumes by
//! sending only what is missing.

use crate::server::{ApiError, Shared};
use axum::{
    body::{Body, Bytes},
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use commonware_runtime::{Metrics, Supervisor};
use serde::{Deserialize, Serialize};
use std::{sync::Arc, time::Duration};
use tessera_blobs::{BlobError, BlobStore, Cid};
use tessera_http::{JsonBody, PathParam, RawBody};
use tessera_store::StoreContext;

/// Most CIDs one `missing` request may ask about.
pub const MAX_CIDS_PER_REQUEST: usize = 10_000;
/// Most blocks of one file (1 TiB at 256 KiB per leaf, plus parents).
pub const MAX_FILE_BLOCKS: usize = 4_300_000;
/// Chunks buffered between the file reader thread and the HTTP response.
const STREAM_BUFFER_CHUNKS: usize = 4;
/// Blob file work at once (block reads and writes, checks, file streams): each holds a
/// blocking thread, so the cap keeps slow or many readers from taking the threads the
/// chain's storage needs.
pub const MAX_BLOB_STREAMS: usize = 16;
/// How long a free slot is waited for before the request is refused (`503 busy`).
const STREAM_SLOT_WAIT: Duration = Duration::from_secs(5);
/// A client that takes no bytes for this long loses its stream and its slot.
const STALLED_CLIENT: Duration = Duration::from_secs(30);

/// What a node lets the API do with its blob store.
#[derive(Clone, Debug)]
pub struct BlobAccess {
    /// Whether `PUT /v1/blob-blocks/…`, `missing` and `complete` are served. Off on
    /// validators unless their config turns it on: uploads cost the disk and I/O the
    /// chain needs.
    pub uploads: bool,
    /// Slots for blob file work (every blocking call and every stream holds one).
    pub streams: Arc<tokio::sync::Semaphore>,
}

impl BlobAccess {
    pub fn new(uploads: bool) -> Self {
        Self {
            uploads,
            streams: Arc::new(tokio::sync::Semaphore::new(MAX_BLOB_STREAMS)),
        }
    }
}

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

/// The store, if this node takes uploads.
fn upload_store<E: StoreContext>(app: &Shared<E>) -> Result<Arc<BlobStore>, ApiError> {
    let blobs = store(app)?;
    if !app.blob_access.uploads {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "uploads_disabled",
            "this node takes no blob uploads (validators refuse them unless \
             `[blobs] accept_uploads = true`); upload to a dev or full node"
                .into(),
        ));
    }
    Ok(blobs)
}

fn blob_error(e: BlobError) -> ApiError {
    match e {
        BlobError::NotFound { .. } => ApiError::not_found(e),
        BlobError::QuotaExceeded { .. } => ApiError(
            StatusCode::INSUFFICIENT_STORAGE,
            "store_full",
            e.to_string(),
        ),
        BlobError::Io { .. } => ApiError::internal(e),
        other => ApiError::bad_request("bad_block", other),
    }
}

fn parse_cid(text: &str) -> Result<Cid, ApiError> {
    text.parse()
        .map_err(|e| ApiError::bad_request("bad_cid", e))
}

/// A slot for blob file work, waiting up to [STREAM_SLOT_WAIT] for one.
async fn slot<E: StoreContext>(
    app: &Shared<E>,
) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
    tokio::time::timeout(
        STREAM_SLOT_WAIT,
        app.blob_access.streams.clone().acquire_owned(),
    )
    .await
    .ok()
    .and_then(Result::ok)
    .ok_or_else(|| {
        ApiError::unavailable(
            "busy",
            format!("this node does at most {MAX_BLOB_STREAMS} blob reads and writes at once; retry shortly"),
        )
    })
}

/// Run blocking file work off the async threads, in one of the blob slots.
async fn blocking<E: StoreContext, T: Send + 'static>(
    app: &Shared<E>,
    f: impl FnOnce() -> Result<T, BlobError> + Send + 'static,
) -> Result<T, ApiError> {
    let slot = slot(app).await?;
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        f()
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(blob_error)
}

pub async fn missing<E: StoreContext + Metrics + Supervisor>(
    State(app): State<Shared<E>>,
    JsonBody(body): JsonBody<CidList>,
) -> Result<Json<Missing>, ApiError> {
    if body.cids.len() > MAX_CIDS_PER_REQUEST {
        return Err(ApiError::bad_request(
            "too_large",
            format!("ask about at most {MAX_CIDS_PER_REQUEST} CIDs per request"),
        ));
    }
    let blobs = upload_store(&app)?;
    let missing = blocking(&app, move || {
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
    let blobs = upload_store(&app)?;
    blocking(&app, move || blobs.import_block(&cid, &body)).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn get_block<E: StoreContext + Metrics + Supervisor>(
    State(app): State<Shared<E>>,
    PathParam(cid): PathParam<String>,
) -> Result<Response, ApiError> {
    let cid = parse_cid(&cid)?;
    let blobs = store(&app)?;
    let bytes = blocking(&app, move || blobs.get_block(&cid)).await?;
    Ok(([(header::CONTENT_TYPE, "application/vnd.ipld.raw")], bytes).into_response())
}

pub async fn complete<E: StoreContext + Metrics + Supervisor>(
    State(app): State<Shared<E>>,
    PathParam(cid): PathParam<String>,
) -> Result<Json<BlobInfo>, ApiError> {
    let cid = parse_cid(&cid)?;
    let blobs = upload_store(&app)?;
    let info = blocking(&app, move || {
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
/// starts reading at its first byte (earlier subtrees are skipped by their sizes). At
/// most [MAX_BLOB_STREAMS] run at once, and a client that stops reading loses its slot.
pub async fn get_blob<E: StoreContext + Metrics + Supervisor>(
    State(app): State<Shared<E>>,
    PathParam(cid): PathParam<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let cid = parse_cid(&cid)?;
    let blobs = store(&app)?;
    // One slot for the whole read: the size lookup, then the stream.
    let slot = slot(&app).await?;
    let size = {
        let blobs = blobs.clone();
        tokio::task::spawn_blocking(move || blobs.get(&cid).map(|reader| reader.size()))
            .await
            .map_err(ApiError::internal)?
            .map_err(blob_error)?
    };
    let range = parse_range(&headers, size)?;
    let (start, end) = range.unwrap_or((0, size));
    let (tx, rx) =
        tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(STREAM_BUFFER_CHUNKS);
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        stream_range(&blobs, &cid, start, end, &Sender { tx, runtime })
    });
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
    builder.body(body).map_err(ApiError::internal)
}

/// The reader thread's end of the response stream.
struct Sender {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    runtime: tokio::runtime::Handle,
}

impl Sender {
    /// Hands one item to the response; false when the client went away or stalled.
    fn send(&self, item: Result<Bytes, std::io::Error>) -> bool {
        self.runtime.block_on(async {
            matches!(
                tokio::time::timeout(STALLED_CLIENT, self.tx.send(item)).await,
                Ok(Ok(()))
            )
        })
    }
}

/// Send bytes `start..end` of the file, verifying as it reads; stop at the first error.
fn stream_range(blobs: &BlobStore, cid: &Cid, start: u64, end: u64, tx: &Sender) {
    let mut reader = match blobs.get_from(cid, start) {
        Ok(reader) => reader,
        Err(e) => {
            tx.send(Err(std::io::Error::other(e.to_string())));
            return;
        }
    };
    let mut offset = start;
    while offset < end {
        let chunk = match reader.next_chunk() {
            Ok(Some(chunk)) => chunk,
            Ok(None) => return,
            Err(e) => {
                tx.send(Err(std::io::Error::other(e.to_string())));
                return;
            }
        };
        let len = u64::try_from(chunk.len()).unwrap_or(u64::MAX);
        let take = usize::try_from(len.min(end - offset)).unwrap_or(chunk.len());
        let part = Bytes::copy_from_slice(chunk.get(..take).unwrap_or_default());
        if !tx.send(Ok(part)) {
            return; // the client went away or stopped reading
        }
        offset = offset.saturating_add(len);
    }
}
