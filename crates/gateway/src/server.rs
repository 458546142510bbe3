//! The gateway's OpenAI-compatible routes. Any `Authorization` header is accepted and
//! ignored: the gateway pays with the user's key, within the user's budget.
//!
//! A call goes to the cheapest available provider of its model (then the lowest
//! measured latency). If that provider cannot be reached, answers an error of its own,
//! times out, or ends a stream before its first chunk, the call goes to the next one
//! (up to `attempts`); the failed lane is asked later what it charged, so nothing is
//! paid twice. A request the provider refuses as invalid is passed through as an OpenAI
//! error. Receipts are checked and kept; they never reach the client.
//!
//! A call with the header `x-tessera-provider: <address>` goes to that provider only (a
//! validator auditing one provider through an ordinary gateway and channel); an address
//! that does not serve the model is refused with 404 `provider_not_found`.

use crate::{
    book::Lease,
    directory::Candidate,
    pay::{self, embedding_tokens_bound},
    Gateway, GatewayError,
};
use axum::{
    body::Body,
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use futures::StreamExt;
use std::{sync::Arc, time::Instant};
use tessera_http::RawBody;
use tessera_openai::{
    ChatRequest, CompletionRequest, EmbeddingsRequest, ErrorResponse, ModelCard, ModelList,
    STREAM_DONE,
};
use tessera_types::{
    call::{body_hash, CallReceipt, RECEIPT_HEADER},
    Amount, Hash,
};

/// Lanes tried on one provider when the first ones are still busy there.
const LANE_RETRIES: usize = 4;
/// The request header that sends a call to one provider only.
pub const PROVIDER_HEADER: &str = "x-tessera-provider";

pub fn router(g: Arc<Gateway>) -> Router {
    Router::new()
        .route("/v1/models", get(models))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .layer(axum::extract::DefaultBodyLimit::max(1024 * 1024))
        .with_state(g)
}

fn error(status: StatusCode, kind: &str, code: &str, message: impl Into<String>) -> Response {
    (status, Json(ErrorResponse::new(kind, code, message))).into_response()
}

fn invalid(message: impl Into<String>) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        "invalid_request",
        message,
    )
}

/// Context length by runtime (`tessera_infer`: MiniLM's 512 positions, SmolLM2's 2,048).
fn context_length(runtime: &str) -> u64 {
    match runtime {
        "candle-bert" => 512,
        _ => 2_048,
    }
}

async fn models(State(g): State<Arc<Gateway>>) -> Response {
    let all = match g.client.models().await {
        Ok(m) => m,
        Err(e) => {
            return error(
                StatusCode::BAD_GATEWAY,
                "server_error",
                "node_unavailable",
                e.to_string(),
            )
        }
    };
    let mut data = Vec::new();
    for m in all {
        let spec = &m.model.spec;
        let providers = g
            .directory
            .listing(&spec.name)
            .await
            .map(|l| l.providers)
            .unwrap_or_default();
        let mut extra = serde_json::Map::new();
        extra.insert("tessera_model_id".into(), serde_json::json!(m.id));
        extra.insert("runtime".into(), serde_json::json!(spec.runtime));
        extra.insert(
            "context_length".into(),
            serde_json::json!(context_length(&spec.runtime)),
        );
        extra.insert(
            "price".into(),
            serde_json::json!({ "per_call": spec.price_base_per_call, "per_token": spec.price_base_per_token }),
        );
        extra.insert(
            "providers".into(),
            serde_json::json!(providers
                .iter()
                .map(|p| serde_json::json!({ "address": p.address, "price": p.provider.price, "endpoint": p.provider.endpoint }))
                .collect::<Vec<_>>()),
        );
        data.push(ModelCard {
            id: spec.name.clone(),
            object: "model".into(),
            created: 0,
            owned_by: m.model.creator.to_string(),
            extra,
        });
    }
    Json(ModelList {
        object: "list".into(),
        data,
    })
    .into_response()
}

/// What the gateway needs to know of a call to pay for it.
struct CallSpec {
    path: &'static str,
    model: String,
    stream: bool,
    /// Most tokens billed (generation limit, or the embedding bound).
    tokens: u64,
    /// The one provider to use ([`PROVIDER_HEADER`]), if the caller chose.
    pin: Option<tessera_types::Address>,
}

/// The provider a call is pinned to, or why the header is refused.
fn pinned(headers: &HeaderMap) -> Result<Option<tessera_types::Address>, String> {
    let Some(value) = headers.get(PROVIDER_HEADER) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .map(Some)
        .ok_or_else(|| format!("{PROVIDER_HEADER} must be a provider's address (tsr1...)"))
}

async fn embeddings(
    State(g): State<Arc<Gateway>>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    let pin = match pinned(&headers) {
        Ok(p) => p,
        Err(why) => return invalid(why),
    };
    let request: EmbeddingsRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return invalid(format!("not an embeddings request: {e}")),
    };
    let Some(texts) = request.input.texts() else {
        return invalid("token-id input is not supported: send text");
    };
    let spec = CallSpec {
        path: "/v1/embeddings",
        model: request.model.clone(),
        stream: false,
        tokens: embedding_tokens_bound(&texts),
        pin,
    };
    forward(g, spec, body).await
}

async fn chat(
    State(g): State<Arc<Gateway>>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    let pin = match pinned(&headers) {
        Ok(p) => p,
        Err(why) => return invalid(why),
    };
    let request: ChatRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return invalid(format!("not a chat request: {e}")),
    };
    let spec = CallSpec {
        path: "/v1/chat/completions",
        model: request.model.clone(),
        stream: request.stream,
        tokens: u64::from(request.limit()),
        pin,
    };
    forward(g, spec, body).await
}

async fn completions(
    State(g): State<Arc<Gateway>>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    let pin = match pinned(&headers) {
        Ok(p) => p,
        Err(why) => return invalid(why),
    };
    let request: CompletionRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return invalid(format!("not a completion request: {e}")),
    };
    let spec = CallSpec {
        path: "/v1/completions",
        model: request.model.clone(),
        stream: request.stream,
        tokens: u64::from(request.limit()),
        pin,
    };
    forward(g, spec, body).await
}

/// How one attempt ended.
enum Attempt {
    /// Answered: this is the client's response.
    Done(Response),
    /// The provider failed: try the next one.
    Failed(String),
    /// The lane is still busy at the provider (a call this gateway lost): try another
    /// lane of the same provider.
    LaneBusy,
}

async fn forward(g: Arc<Gateway>, spec: CallSpec, body: bytes::Bytes) -> Response {
    let (model, mut candidates) = match g.directory.candidates(&spec.model).await {
        Ok(c) => c,
        Err(tessera_rpc::RpcError::Api { status: 404, .. }) => {
            return error(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "model_not_found",
                format!(
                    "the model {:?} does not exist on this chain: GET /v1/models lists them",
                    spec.model
                ),
            )
        }
        Err(e) => {
            return error(
                StatusCode::BAD_GATEWAY,
                "server_error",
                "node_unavailable",
                e.to_string(),
            )
        }
    };
    if let Some(pin) = spec.pin {
        candidates.retain(|c| c.address == pin);
        if candidates.is_empty() {
            return error(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "provider_not_found",
                format!(
                    "{pin} does not serve {:?}: GET /v1/models lists its providers",
                    spec.model
                ),
            );
        }
    }
    if candidates.is_empty() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "no_provider",
            format!("no provider serves {:?} yet", spec.model),
        );
    }
    let mut failures = Vec::new();
    let tries = candidates
        .iter()
        .take(g.config.attempts.max(1))
        .flat_map(|c| std::iter::repeat_n(c, LANE_RETRIES));
    let mut last: Option<tessera_types::Address> = None;
    for candidate in tries {
        if last == Some(candidate.address) {
            // That provider failed outright: the repeats are for busy lanes only.
            continue;
        }
        let lease = match g.lease(candidate, model, spec.tokens).await {
            Ok(l) => l,
            Err(GatewayError::BudgetExhausted { budget }) => {
                return error(
                    StatusCode::PAYMENT_REQUIRED,
                    "insufficient_quota",
                    "budget_exhausted",
                    format!("the gateway's budget of {budget} TSR is spent or committed: restart it with a larger --budget"),
                )
            }
            Err(e) => {
                failures.push(format!("{}: {e}", candidate.address));
                g.directory.failed(&candidate.address);
                last = Some(candidate.address);
                continue;
            }
        };
        match attempt(&g, &spec, &body, candidate, lease).await {
            Attempt::Done(response) => return response,
            Attempt::LaneBusy => last = None,
            Attempt::Failed(why) => {
                tracing::warn!(provider = %candidate.address, "call failed, trying the next provider: {why}");
                g.directory.failed(&candidate.address);
                failures.push(format!("{}: {why}", candidate.address));
                last = Some(candidate.address);
            }
        }
    }
    error(
        StatusCode::BAD_GATEWAY,
        "server_error",
        "providers_failed",
        format!("every provider tried failed: {}", failures.join("; ")),
    )
}

/// Send the call to one provider and relay its answer.
async fn attempt(
    g: &Arc<Gateway>,
    spec: &CallSpec,
    body: &bytes::Bytes,
    candidate: &Candidate,
    lease: Lease,
) -> Attempt {
    let started = Instant::now();
    let mut request = g
        .http
        .post(format!("{}{}", candidate.endpoint, spec.path))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.clone());
    for (name, value) in pay::headers(&g.key, &g.chain_id, &lease, body) {
        request = request.header(name, value);
    }
    let sent = tokio::time::timeout(g.config.first_byte_timeout, request.send()).await;
    let response = match sent {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return fail(g, &lease, format!("unreachable: {e}")),
        Err(_) => return fail(g, &lease, "no answer in time".into()),
    };
    let status = response.status();
    if status.is_client_error()
        && status != StatusCode::PAYMENT_REQUIRED
        && status != StatusCode::CONFLICT
    {
        // The request itself is wrong: pass the provider's OpenAI error through.
        let _ = g.book.resync(&lease.channel, lease.lane, Amount::ZERO);
        let _ = g.book.fail(&lease);
        let bytes = response.bytes().await.unwrap_or_default();
        return Attempt::Done(
            Response::builder()
                .status(status)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(bytes))
                .unwrap_or_else(|_| invalid("bad provider answer")),
        );
    }
    if status == StatusCode::CONFLICT {
        let _ = g.book.hold(&lease);
        return Attempt::LaneBusy;
    }
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        return fail(g, &lease, format!("HTTP {status}: {text}"));
    }
    let request_hash = body_hash(body);
    if spec.stream {
        let call = StreamCall {
            path: spec.path,
            model: spec.model.clone(),
            tokens: spec.tokens,
            body: body.clone(),
        };
        return relay_stream(g, response, lease, request_hash, candidate, started, call).await;
    }
    let receipt = response
        .headers()
        .get(RECEIPT_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(CallReceipt::from_hex);
    let bytes = match response.bytes().await {
        Ok(b) => b,
        Err(e) => return fail(g, &lease, format!("unreadable answer: {e}")),
    };
    let Some(receipt) = receipt else {
        return fail(g, &lease, "the answer carries no receipt".into());
    };
    if let Err(e) = g.book.settle(&lease, &receipt, &request_hash) {
        tracing::warn!(provider = %candidate.address, "kept an answer with a bad receipt: {e}");
        let _ = g.book.fail(&lease);
    }
    g.directory.ok(&candidate.address, started.elapsed());
    g.sampler.offer(&receipt, body, &bytes);
    // The provider's signed receipt goes to the client too: with the request and the
    // answer it is evidence (`tessera verify report`) if the answer is wrong.
    Attempt::Done(
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/json")
            .header(RECEIPT_HEADER, receipt.to_hex())
            .body(Body::from(bytes))
            .unwrap_or_else(|_| invalid("bad provider answer")),
    )
}

fn fail(g: &Gateway, lease: &Lease, why: String) -> Attempt {
    if let Err(e) = g.book.fail(lease) {
        tracing::error!("cannot record a failed call: {e}");
    }
    Attempt::Failed(why)
}

/// One server-sent event's data, from a buffer of the provider's stream.
fn next_event(buffer: &mut Vec<u8>) -> Option<String> {
    let end = buffer.windows(2).position(|w| w == b"\n\n")?;
    let event: Vec<u8> = buffer.drain(..end + 2).collect();
    let text = String::from_utf8_lossy(&event);
    let data: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:").map(str::trim_start))
        .collect();
    Some(data.join("\n"))
}

/// What a stream needs to continue on another provider.
struct StreamCall {
    path: &'static str,
    model: String,
    tokens: u64,
    body: bytes::Bytes,
}

/// Relay a streamed answer: the receipt event is checked and kept, never relayed. Until
/// the first chunk reaches the client a failure is retried whole; after it, a chat
/// stream that breaks continues on another provider from the text already sent
/// ([`continuation`]).
#[allow(clippy::too_many_arguments)]
async fn relay_stream(
    g: &Arc<Gateway>,
    response: reqwest::Response,
    lease: Lease,
    request_hash: Hash,
    candidate: &Candidate,
    started: Instant,
    call: StreamCall,
) -> Attempt {
    let mut upstream = response.bytes_stream();
    let mut buffer = Vec::new();
    // Wait for the first event before answering, so a provider that fails at once is
    // replaced without the client seeing anything.
    let first = loop {
        if let Some(event) = next_event(&mut buffer) {
            break event;
        }
        match tokio::time::timeout(g.config.first_byte_timeout, upstream.next()).await {
            Ok(Some(Ok(bytes))) => buffer.extend_from_slice(&bytes),
            Ok(Some(Err(e))) => return fail(g, &lease, format!("stream broke: {e}")),
            Ok(None) => return fail(g, &lease, "stream ended before its first event".into()),
            Err(_) => return fail(g, &lease, "no first chunk in time".into()),
        }
    };
    if first.contains("\"error\"") && !first.contains("\"choices\"") {
        return fail(
            g,
            &lease,
            format!("the stream began with an error: {first}"),
        );
    }
    g.directory.ok(&candidate.address, started.elapsed());
    let g = Arc::clone(g);
    let provider = candidate.address;
    let events = async_stream(
        g,
        upstream,
        buffer,
        first,
        lease,
        request_hash,
        provider,
        call,
    );
    Attempt::Done(
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/event-stream")
            .header(header::CACHE_CONTROL, "no-cache")
            .body(Body::from_stream(events))
            .unwrap_or_else(|_| invalid("cannot build the stream")),
    )
}

type Upstream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<bytes::Bytes, reqwest::Error>> + Send>>;

/// A stream taken over by another provider.
struct Next {
    upstream: Upstream,
    lease: Lease,
    request_hash: Hash,
    provider: tessera_types::Address,
}

/// Continue a broken chat stream on another provider: the same request with the text
/// already sent (`tessera_continue`) and the tokens left, paid on its own lease.
async fn continuation(
    g: &Arc<Gateway>,
    call: &StreamCall,
    text: &str,
    sent: u64,
    tried: &[tessera_types::Address],
) -> Option<Next> {
    if call.path != "/v1/chat/completions" || sent >= call.tokens {
        return None;
    }
    let left = call.tokens - sent;
    let mut body: serde_json::Value = serde_json::from_slice(&call.body).ok()?;
    let map = body.as_object_mut()?;
    map.insert("tessera_continue".into(), serde_json::json!(text));
    map.insert("max_tokens".into(), serde_json::json!(left));
    map.remove("max_completion_tokens");
    let body = bytes::Bytes::from(serde_json::to_vec(&body).ok()?);
    let (model, candidates) = g.directory.candidates(&call.model).await.ok()?;
    for candidate in candidates.iter().filter(|c| !tried.contains(&c.address)) {
        let Ok(lease) = g.lease(candidate, model, left).await else {
            continue;
        };
        let mut request = g
            .http
            .post(format!("{}{}", candidate.endpoint, call.path))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.clone());
        for (name, value) in pay::headers(&g.key, &g.chain_id, &lease, &body) {
            request = request.header(name, value);
        }
        match tokio::time::timeout(g.config.first_byte_timeout, request.send()).await {
            Ok(Ok(r)) if r.status().is_success() => {
                tracing::info!(provider = %candidate.address, "a broken stream continues on another provider");
                return Some(Next {
                    upstream: Box::pin(r.bytes_stream()),
                    lease,
                    request_hash: body_hash(&body),
                    provider: candidate.address,
                });
            }
            _ => {
                let _ = g.book.fail(&lease);
                g.directory.failed(&candidate.address);
            }
        }
    }
    None
}

/// The client's stream: the provider's events, its receipt settled and removed, always
/// ending with `[DONE]` (after an error event when the stream broke and no provider
/// could continue it).
#[allow(clippy::too_many_arguments)]
fn async_stream(
    g: Arc<Gateway>,
    upstream: impl futures::Stream<Item = Result<bytes::Bytes, reqwest::Error>> + Send + 'static,
    buffer: Vec<u8>,
    first: String,
    lease: Lease,
    request_hash: Hash,
    provider: tessera_types::Address,
    call: StreamCall,
) -> impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send {
    struct Relay {
        g: Arc<Gateway>,
        upstream: Upstream,
        buffer: Vec<u8>,
        pending: Option<String>,
        lease: Lease,
        request_hash: Hash,
        settled: bool,
        done: bool,
        provider: tessera_types::Address,
        call: StreamCall,
        /// Content sent to the client, and how many content chunks.
        text: String,
        sent: u64,
        tried: Vec<tessera_types::Address>,
        /// The next event is a continuation's role chunk: not relayed.
        skip_role: bool,
    }
    impl Drop for Relay {
        fn drop(&mut self) {
            // The client went away, or the provider's stream ended without a receipt:
            // the lane's charge is asked of the provider later.
            if !self.settled {
                let _ = self.g.book.fail(&self.lease);
            }
        }
    }
    let relay = Relay {
        g,
        upstream: Box::pin(upstream),
        buffer,
        pending: Some(first),
        lease,
        request_hash,
        settled: false,
        done: false,
        provider,
        call,
        text: String::new(),
        sent: 0,
        tried: vec![provider],
        skip_role: false,
    };
    futures::stream::unfold(relay, |mut r| async move {
        if r.done {
            return None;
        }
        loop {
            let event = match r.pending.take().or_else(|| next_event(&mut r.buffer)) {
                Some(e) => e,
                None => match r.upstream.next().await {
                    Some(Ok(bytes)) => {
                        r.buffer.extend_from_slice(&bytes);
                        continue;
                    }
                    _ if !r.settled => {
                        // The provider's stream broke: continue elsewhere if possible.
                        r.g.directory.failed(&r.provider);
                        let _ = r.g.book.fail(&r.lease);
                        if let Some(next) =
                            continuation(&r.g, &r.call, &r.text, r.sent, &r.tried).await
                        {
                            r.tried.push(next.provider);
                            r.upstream = next.upstream;
                            r.lease = next.lease;
                            r.request_hash = next.request_hash;
                            r.provider = next.provider;
                            r.buffer.clear();
                            r.skip_role = true;
                            continue;
                        }
                        r.done = true;
                        let error = ErrorResponse::new(
                            "server_error",
                            "provider_stream_broken",
                            "the provider's stream ended early",
                        );
                        let text = format!(
                            "data: {}\n\ndata: {STREAM_DONE}\n\n",
                            serde_json::to_string(&error).unwrap_or_default()
                        );
                        return Some((Ok(bytes::Bytes::from(text)), r));
                    }
                    _ => {
                        // Settled, but the provider closed without `[DONE]`: end it here.
                        r.done = true;
                        let done = format!("data: {STREAM_DONE}\n\n");
                        return Some((Ok(bytes::Bytes::from(done)), r));
                    }
                },
            };
            if event == STREAM_DONE {
                r.done = true;
                return Some((
                    Ok(bytes::Bytes::from(format!("data: {STREAM_DONE}\n\n"))),
                    r,
                ));
            }
            if event.starts_with("{\"tessera_receipt\"") {
                let receipt = serde_json::from_str::<serde_json::Value>(&event)
                    .ok()
                    .and_then(|v| v.get("tessera_receipt").cloned())
                    .and_then(|v| serde_json::from_value::<CallReceipt>(v).ok());
                match receipt.map(|rc| r.g.book.settle(&r.lease, &rc, &r.request_hash)) {
                    Some(Ok(())) => r.settled = true,
                    Some(Err(e)) => tracing::warn!("a bad receipt in a stream: {e}"),
                    None => tracing::warn!("an unreadable receipt in a stream"),
                }
                continue;
            }
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(&event) {
                if r.skip_role && value.pointer("/choices/0/delta/role").is_some() {
                    r.skip_role = false;
                    continue;
                }
                let piece = value
                    .pointer("/choices/0/delta/content")
                    .or_else(|| value.pointer("/choices/0/text"))
                    .and_then(serde_json::Value::as_str);
                if let Some(piece) = piece {
                    r.text.push_str(piece);
                    r.sent = r.sent.saturating_add(1);
                }
            }
            return Some((Ok(bytes::Bytes::from(format!("data: {event}\n\n"))), r));
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_provider_header_pins_a_call_or_is_refused() {
        let mut headers = HeaderMap::new();
        assert_eq!(pinned(&headers), Ok(None));
        let who = tessera_types::Keypair::from_seed(4).address();
        headers.insert(PROVIDER_HEADER, who.to_string().parse().unwrap());
        assert_eq!(pinned(&headers), Ok(Some(who)));
        headers.insert(PROVIDER_HEADER, "not-an-address".parse().unwrap());
        assert!(pinned(&headers).unwrap_err().contains("tsr1"));
    }
}
