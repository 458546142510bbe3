//! The provider's HTTP API: OpenAI's `/v1/embeddings`, `/v1/completions` and
//! `/v1/chat/completions`, each paid (see [`crate::admit`] for the headers), answered
//! with the output and a signed [`CallReceipt`] (hex in the `x-tessera-receipt` header,
//! or one `data: {"tessera_receipt": …}` event before `[DONE]` when streamed); `GET /v1/lanes/{channel}/{lane}` tells
//! a gateway what a lane has charged (after it lost an answer); `GET /health`.

use crate::{
    admit::{self, Payment, Refusal},
    chain::ViewError,
    ledger::Ticket,
    runtime::{Generated, Prompt, Served},
    Shared,
};
use axum::{
    body::Body,
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use std::{
    ops::ControlFlow,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Instant,
};
use tessera_http::{PathParam, RawBody};
use tessera_infer::StopReason;
use tessera_openai::{
    AssistantMessage, ChatChoice, ChatChunk, ChatRequest, ChatResponse, ChunkChoice,
    CompletionChoice, CompletionRequest, CompletionResponse, Delta, Embedding, EmbeddingsRequest,
    EmbeddingsResponse, ErrorResponse, Usage, STREAM_DONE,
};
use tessera_types::{
    call::{body_hash, CallReceipt},
    channel::Price,
    Amount, Hash,
};
use tokio::sync::mpsc;

/// Largest request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Most texts one embeddings call takes.
pub const MAX_EMBED_INPUTS: usize = 256;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .route("/v1/lanes/{channel}/{lane}", get(lane))
        .route("/health", get(health))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(shared)
}

/// An OpenAI-shaped error response.
pub fn error(status: StatusCode, kind: &str, code: &str, message: String) -> Response {
    (status, Json(ErrorResponse::new(kind, code, message))).into_response()
}

fn refuse(refusal: Refusal) -> Response {
    let (status, code) = refusal.status_code();
    let kind = match status {
        StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND => "invalid_request_error",
        StatusCode::SERVICE_UNAVAILABLE => "server_error",
        _ => "payment_error",
    };
    error(status, kind, code, refusal.to_string())
}

fn internal(message: impl ToString) -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "internal",
        message.to_string(),
    )
}

/// `text` cut to at most `max` bytes (on a character boundary), so a receipt always
/// decodes.
fn bounded(mut text: String, max: usize) -> String {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    text.truncate(end);
    text
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn millis(since: Instant) -> u32 {
    u32::try_from(since.elapsed().as_millis()).unwrap_or(u32::MAX)
}

/// A call that passed admission: pay from `ticket`, answer with a receipt.
struct Admitted {
    ticket: Ticket,
    served: Arc<Served>,
    price: Price,
    request_hash: Hash,
    /// The payer's signature binding the body to its voucher (kept with the charge).
    request_sig: tessera_types::Signature,
    started: Instant,
}

/// The whole admission of a call for `model` whose maximum cost is `reserve(price)`.
async fn admit(
    p: &Shared,
    headers: &HeaderMap,
    body: &[u8],
    model: &str,
    reserve: impl Fn(&Price) -> Option<Amount>,
) -> Result<Admitted, Refusal> {
    let started = Instant::now();
    let payment = Payment::from_headers(headers)?;
    payment.check_chain(&p.view.chain_id)?;
    let served = p
        .models
        .get(model)
        .cloned()
        .ok_or_else(|| Refusal::UnknownModel(model.into()))?;
    let mut fresh = false;
    loop {
        let channel = p
            .view
            .channel(&payment.channel, fresh)
            .await
            .map_err(|e| match e {
                ViewError::Unknown => Refusal::UnknownChannel(payment.channel),
                other => Refusal::NodeUnavailable(other.to_string()),
            })?;
        let ctx = admit::Context {
            me: &p.me,
            chain_id: &p.view.chain_id,
            model: served.id,
            height: p.view.height(),
            expiry_margin: p.config.expiry_margin_blocks,
        };
        let checked = admit::check(&ctx, &payment, &channel, body);
        // A stale cache may miss an extension or a top-up: read the channel once more.
        let voucher = match checked {
            Err(Refusal::Expired { .. }) if !fresh => {
                fresh = true;
                continue;
            }
            other => other?,
        };
        let price = channel.channel.provider_price;
        let most = reserve(&price)
            .ok_or_else(|| Refusal::BadRequest("the call's maximum cost overflows".into()))?;
        match p
            .ledger
            .begin(&voucher, most, channel.channel.deposit)
            .map_err(|e| Refusal::NodeUnavailable(e.to_string()))?
        {
            Ok(ticket) => {
                return Ok(Admitted {
                    ticket,
                    served,
                    price,
                    request_hash: body_hash(body),
                    request_sig: payment.request_sig.clone(),
                    started,
                })
            }
            Err(crate::ledger::LedgerRefusal::Underfunded { .. }) if !fresh => fresh = true,
            Err(refusal) => return Err(refusal.into()),
        }
    }
}

/// What one finished call reports, for its receipt.
struct Outcome {
    output_hash: Hash,
    kernel_path: String,
    token_ids: Vec<u32>,
    tokens_charged: u64,
    charge: Amount,
    first_output_ms: u32,
}

/// Sign the receipt and record the charge with it.
fn settle(p: &Shared, call: Admitted, out: Outcome) -> Result<CallReceipt, String> {
    let channel = call.ticket.channel;
    let lane = call.ticket.lane;
    let voucher = call.ticket.voucher;
    let amount_charged = out.charge.min(call.ticket.reserve);
    let total_ms = millis(call.started);
    let receipt = |lane_charged| {
        CallReceipt {
            chain_id: p.view.chain_id.clone(),
            channel,
            lane,
            provider: p.me,
            request_hash: call.request_hash,
            model: call.served.id,
            manifest_cid: call.served.manifest_cid.clone(),
            kernel_path: bounded(out.kernel_path, tessera_types::call::MAX_KERNEL_ID_BYTES),
            output_hash: out.output_hash,
            token_ids: out.token_ids,
            tokens_charged: out.tokens_charged,
            amount_charged,
            lane_charged,
            voucher,
            first_output_ms: out.first_output_ms,
            total_ms,
            signature: CallReceipt::unsigned_signature(),
        }
        .sign(&p.key)
    };
    p.ledger
        .finish(call.ticket, out.charge, &call.request_sig, receipt)
        .map_err(|e| e.to_string())
}

/// A whole answer: the OpenAI body, and the receipt in the `x-tessera-receipt` header
/// (so a gateway passes the body through untouched).
fn with_receipt<T: serde::Serialize>(body: &T, receipt: &CallReceipt) -> Response {
    let mut response = Json(body).into_response();
    match axum::http::HeaderValue::from_str(&receipt.to_hex()) {
        Ok(value) => {
            response
                .headers_mut()
                .insert(tessera_types::call::RECEIPT_HEADER, value);
            response
        }
        Err(e) => internal(e),
    }
}

async fn embeddings(
    State(p): State<Arc<Shared>>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    let request: EmbeddingsRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return refuse(Refusal::BadRequest(format!(
                "not an embeddings request: {e}"
            )))
        }
    };
    let Some(texts) = request.input.texts() else {
        return refuse(Refusal::BadRequest(
            "token-id input is not supported: send text".into(),
        ));
    };
    if texts.is_empty() || texts.len() > MAX_EMBED_INPUTS {
        return refuse(Refusal::BadRequest(format!(
            "send 1 to {MAX_EMBED_INPUTS} inputs"
        )));
    }
    let Some(served) = p.models.get(&request.model).cloned() else {
        return refuse(Refusal::UnknownModel(request.model));
    };
    let tokens = match served.embedding_tokens(&texts) {
        Ok(t) => t,
        Err(e) => return refuse(Refusal::BadRequest(e.to_string())),
    };
    let cost = |price: &Price| price.of_call(tokens);
    let call = match admit(&p, &headers, &body, &request.model, cost).await {
        Ok(c) => c,
        Err(r) => return refuse(r),
    };
    let cheat = p.cheat_now();
    let inputs: Vec<String> = texts
        .iter()
        .map(|t| match cheat {
            Some(cheat) => cheat.embed_input(t),
            None => (*t).to_string(),
        })
        .collect();
    let result = call.served.embed(inputs).await;
    let embedded = match result {
        Ok(e) => e,
        Err(e) => {
            let _ = p.ledger.abort(call.ticket);
            return internal(e);
        }
    };
    let charge = call.price.of_call(tokens).unwrap_or(Amount::ZERO);
    let outcome = Outcome {
        output_hash: embedded.output_hash,
        kernel_path: embedded.kernel_path,
        token_ids: Vec::new(),
        tokens_charged: tokens,
        charge,
        first_output_ms: millis(call.started),
    };
    let model = call.served.name.clone();
    let receipt = match settle(&p, call, outcome) {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    let prompt_tokens = u32::try_from(embedded.prompt_tokens).unwrap_or(u32::MAX);
    let response = EmbeddingsResponse {
        object: "list".into(),
        data: embedded
            .vectors
            .into_iter()
            .enumerate()
            .map(|(i, embedding)| Embedding {
                object: "embedding".into(),
                index: u32::try_from(i).unwrap_or(u32::MAX),
                embedding,
            })
            .collect(),
        model,
        usage: Usage::new(prompt_tokens, 0),
    };
    with_receipt(&response, &receipt)
}

/// The OpenAI names of a generation's end.
fn finish_reason(stop: StopReason) -> &'static str {
    match stop {
        StopReason::MaxTokens => "length",
        StopReason::Eos | StopReason::Cancelled => "stop",
    }
}

/// What a generation call needs besides its admission.
struct GenerationCall {
    prompt: Prompt,
    max_tokens: u32,
    stream: bool,
    include_usage: bool,
    chat: bool,
}

/// The prompt of an OpenAI chat or completions request body, read exactly as this
/// server reads it before generating (`None`: a request it would refuse). Validators
/// use it to rebuild the prompt of an answer they check.
pub fn prompt_of_request(body: &[u8]) -> Option<Prompt> {
    if let Ok(request) = serde_json::from_slice::<ChatRequest>(body) {
        return chat_prompt(&request).ok();
    }
    let request: CompletionRequest = serde_json::from_slice(body).ok()?;
    completion_prompt(&request).ok()
}

fn completion_prompt(request: &CompletionRequest) -> Result<Prompt, Refusal> {
    match request.prompt.texts().as_deref() {
        Some([one]) => Ok(Prompt::Text(one.to_string())),
        _ => Err(Refusal::BadRequest("send one prompt string".into())),
    }
}

fn chat_prompt(request: &ChatRequest) -> Result<Prompt, Refusal> {
    if request.messages.is_empty() {
        return Err(Refusal::BadRequest("messages is empty".into()));
    }
    request
        .messages
        .iter()
        .map(|m| {
            let text = match &m.content {
                None => String::new(),
                Some(c) => c.text().ok_or_else(|| {
                    Refusal::BadRequest("only text message content is supported".into())
                })?,
            };
            Ok((m.role.clone(), text))
        })
        .collect::<Result<Vec<_>, Refusal>>()
        .map(|messages| Prompt::Chat(messages, request.tessera_continue.clone()))
}

fn check_limit(max_tokens: u32, n: Option<u32>) -> Result<(), Refusal> {
    if n.is_some_and(|n| n != 1) {
        return Err(Refusal::BadRequest("n must be 1".into()));
    }
    let max = u32::try_from(tessera_infer::MAX_NEW_TOKENS).unwrap_or(u32::MAX);
    if max_tokens == 0 || max_tokens > max {
        return Err(Refusal::BadRequest(format!(
            "max_tokens must be 1 to {max}"
        )));
    }
    Ok(())
}

async fn chat(
    State(p): State<Arc<Shared>>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    let request: ChatRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return refuse(Refusal::BadRequest(format!("not a chat request: {e}"))),
    };
    let call = chat_prompt(&request).and_then(|prompt| {
        check_limit(request.limit(), request.n)?;
        Ok(GenerationCall {
            prompt,
            max_tokens: request.limit(),
            stream: request.stream,
            include_usage: request.include_usage(),
            chat: true,
        })
    });
    match call {
        Ok(call) => generate(p, headers, body, request.model, call).await,
        Err(r) => refuse(r),
    }
}

async fn completions(
    State(p): State<Arc<Shared>>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    let request: CompletionRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return refuse(Refusal::BadRequest(format!(
                "not a completion request: {e}"
            )))
        }
    };
    let prompt = match completion_prompt(&request) {
        Ok(p) => p,
        Err(r) => return refuse(r),
    };
    if let Err(r) = check_limit(request.limit(), request.n) {
        return refuse(r);
    }
    let call = GenerationCall {
        prompt,
        max_tokens: request.limit(),
        stream: request.stream,
        include_usage: request.include_usage(),
        chat: false,
    };
    generate(p, headers, body, request.model, call).await
}

/// One piece of a generation on its way to the client.
enum Piece {
    Text(String),
    End(Box<Ended>),
}

struct Ended {
    usage: Usage,
    finish: &'static str,
    text: String,
    receipt: Result<CallReceipt, String>,
}

async fn generate(
    p: Arc<Shared>,
    headers: HeaderMap,
    body: bytes::Bytes,
    model: String,
    call: GenerationCall,
) -> Response {
    let max = u64::from(call.max_tokens);
    let cost = |price: &Price| price.of_call(max);
    let admitted = match admit(&p, &headers, &body, &model, cost).await {
        Ok(c) => c,
        Err(r) => return refuse(r),
    };
    let (tx, rx) = mpsc::channel::<Piece>(1);
    let id = format!("cmpl-{}", &admitted.request_hash.to_string()[..24]);
    let stream = call.stream;
    let task = tokio::spawn(run_generation(
        Arc::clone(&p),
        admitted,
        call.prompt,
        max,
        tx,
    ));
    if stream {
        return stream_response(rx, id, model, call.chat, call.include_usage);
    }
    let mut rx = rx;
    while let Some(piece) = rx.recv().await {
        if let Piece::End(end) = piece {
            let mut end = *end;
            let receipt = match std::mem::replace(&mut end.receipt, Err(String::new())) {
                Ok(r) => r,
                Err(e) => return internal(e),
            };
            return whole_response(&id, &model, call.chat, end, &receipt);
        }
    }
    let _ = task.await;
    internal("the generation ended without an answer")
}

fn whole_response(
    id: &str,
    model: &str,
    chat: bool,
    end: Ended,
    receipt: &CallReceipt,
) -> Response {
    if chat {
        let response = ChatResponse {
            id: id.into(),
            object: "chat.completion".into(),
            created: now_secs(),
            model: model.into(),
            choices: vec![ChatChoice {
                index: 0,
                message: AssistantMessage {
                    role: "assistant".into(),
                    content: end.text,
                },
                finish_reason: end.finish.into(),
            }],
            usage: end.usage,
        };
        return with_receipt(&response, receipt);
    }
    let response = CompletionResponse {
        id: id.into(),
        object: "text_completion".into(),
        created: now_secs(),
        model: model.into(),
        choices: vec![CompletionChoice {
            text: end.text,
            index: 0,
            logprobs: None,
            finish_reason: Some(end.finish.into()),
        }],
        usage: Some(end.usage),
    };
    with_receipt(&response, receipt)
}

/// Run the generation, charge what was delivered, sign the receipt, send the end.
async fn run_generation(
    p: Arc<Shared>,
    call: Admitted,
    prompt: Prompt,
    max: u64,
    tx: mpsc::Sender<Piece>,
) {
    let delivered = Arc::new(AtomicU64::new(0));
    let first_ms = Arc::new(AtomicU64::new(0));
    let eos = call.served.eos_id();
    let sink = {
        let (tx, delivered, first_ms) = (tx.clone(), Arc::clone(&delivered), Arc::clone(&first_ms));
        let started = call.started;
        move |id: u32, piece: &str| {
            if Some(id) == eos {
                return ControlFlow::Continue(());
            }
            if tx.blocking_send(Piece::Text(piece.to_string())).is_err() {
                return ControlFlow::Break(());
            }
            if delivered.fetch_add(1, Ordering::Relaxed) == 0 {
                first_ms.store(u64::from(millis(started)), Ordering::Relaxed);
            }
            ControlFlow::Continue(())
        }
    };
    let max_tokens = usize::try_from(max).unwrap_or(usize::MAX);
    let generated: Generated = match call.served.generate(prompt, max_tokens, sink).await {
        Ok(g) => g,
        Err(e) => {
            let _ = p.ledger.abort(call.ticket);
            let end = Ended {
                usage: Usage::default(),
                finish: "error",
                text: String::new(),
                receipt: Err(e.to_string()),
            };
            let _ = tx.send(Piece::End(Box::new(end))).await;
            return;
        }
    };
    let billed = delivered.load(Ordering::Relaxed);
    let cancelled_empty = generated.stop == StopReason::Cancelled && billed == 0;
    let charge = if cancelled_empty {
        Amount::ZERO
    } else {
        call.price.of_call(billed).unwrap_or(Amount::ZERO)
    };
    let usage = Usage::new(
        u32::try_from(generated.prompt_tokens).unwrap_or(u32::MAX),
        u32::try_from(billed).unwrap_or(u32::MAX),
    );
    let delivered_ids: Vec<u32> = generated
        .token_ids
        .iter()
        .copied()
        .filter(|id| Some(*id) != eos)
        .take(usize::try_from(billed).unwrap_or(usize::MAX))
        .collect();
    let outcome = Outcome {
        output_hash: generated.output_hash,
        kernel_path: generated.kernel_path,
        token_ids: delivered_ids,
        tokens_charged: billed,
        charge,
        first_output_ms: u32::try_from(first_ms.load(Ordering::Relaxed)).unwrap_or(u32::MAX),
    };
    let receipt = settle(&p, call, outcome);
    let end = Ended {
        usage,
        finish: finish_reason(generated.stop),
        text: generated.text,
        receipt,
    };
    let _ = tx.send(Piece::End(Box::new(end))).await;
}

fn sse(value: &impl serde::Serialize) -> bytes::Bytes {
    let json = serde_json::to_string(value).unwrap_or_else(|_| "{}".into());
    bytes::Bytes::from(format!("data: {json}\n\n"))
}

fn stream_response(
    rx: mpsc::Receiver<Piece>,
    id: String,
    model: String,
    chat: bool,
    include_usage: bool,
) -> Response {
    let created = now_secs();
    let chunk = move |delta: Delta, finish: Option<&str>, usage: Option<Usage>| -> bytes::Bytes {
        if chat {
            sse(&ChatChunk {
                id: id.clone(),
                object: "chat.completion.chunk".into(),
                created,
                model: model.clone(),
                choices: if usage.is_some() {
                    Vec::new()
                } else {
                    vec![ChunkChoice {
                        index: 0,
                        delta,
                        finish_reason: finish.map(Into::into),
                    }]
                },
                usage,
            })
        } else {
            sse(&CompletionResponse {
                id: id.clone(),
                object: "text_completion".into(),
                created,
                model: model.clone(),
                choices: if usage.is_some() {
                    Vec::new()
                } else {
                    vec![CompletionChoice {
                        text: delta.content.unwrap_or_default(),
                        index: 0,
                        logprobs: None,
                        finish_reason: finish.map(Into::into),
                    }]
                },
                usage,
            })
        }
    };
    let first = chunk(
        Delta {
            role: chat.then(|| "assistant".to_string()),
            content: (!chat).then(String::new),
        },
        None,
        None,
    );
    // The role chunk waits for the first token, and tokens that are already waiting go
    // out in one write: no wake-ups on either side while the prompt is read, and fewer
    // while the client is slower than generation (llama.cpp's threads share the cores).
    let events = futures::stream::unfold((rx, Some(first), false), move |(mut rx, role, done)| {
        let chunk = chunk.clone();
        async move {
            if done {
                return None;
            }
            let mut out: Vec<u8> = role.map(Vec::from).unwrap_or_default();
            let mut piece = rx.recv().await;
            let mut finished = false;
            loop {
                match piece {
                    Some(Piece::Text(text)) if text.is_empty() => {}
                    Some(Piece::Text(text)) => out.extend_from_slice(&chunk(
                        Delta {
                            role: None,
                            content: Some(text),
                        },
                        None,
                        None,
                    )),
                    Some(Piece::End(end)) => {
                        out.extend_from_slice(&end_events(&chunk, *end, include_usage));
                        finished = true;
                        break;
                    }
                    None => {
                        finished = true;
                        break;
                    }
                }
                match rx.try_recv() {
                    Ok(next) => piece = Some(next),
                    Err(_) => break,
                }
            }
            if out.is_empty() && finished {
                return None;
            }
            let out = bytes::Bytes::from(out);
            Some((Ok::<_, std::io::Error>(out), (rx, None, finished)))
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(events))
        .unwrap_or_else(internal)
}

/// The last events: the finishing chunk, usage if asked, the receipt, `[DONE]` (or an
/// error event, then `[DONE]`).
fn end_events(
    chunk: &impl Fn(Delta, Option<&str>, Option<Usage>) -> bytes::Bytes,
    end: Ended,
    include_usage: bool,
) -> bytes::Bytes {
    let mut out = Vec::new();
    match end.receipt {
        Ok(receipt) => {
            out.extend_from_slice(&chunk(Delta::default(), Some(end.finish), None));
            if include_usage {
                out.extend_from_slice(&chunk(Delta::default(), None, Some(end.usage)));
            }
            out.extend_from_slice(&sse(&serde_json::json!({ "tessera_receipt": receipt })));
        }
        Err(message) => {
            out.extend_from_slice(&sse(&ErrorResponse::new(
                "server_error",
                "generation_failed",
                message,
            )));
        }
    }
    out.extend_from_slice(format!("data: {STREAM_DONE}\n\n").as_bytes());
    bytes::Bytes::from(out)
}

/// `GET /v1/lanes/{channel}/{lane}`.
async fn lane(
    State(p): State<Arc<Shared>>,
    PathParam((channel, lane)): PathParam<(String, u32)>,
) -> Response {
    let Ok(channel) = channel.parse::<Hash>() else {
        return refuse(Refusal::BadRequest(
            "the channel is a 32-byte hex id".into(),
        ));
    };
    match p.ledger.lane(&channel, lane) {
        Ok(state) => Json(serde_json::json!({
            "channel": channel,
            "lane": lane,
            "voucher": state.voucher,
            "charged": state.charged,
            "claimed": state.claimed,
            "busy": state.busy.is_some(),
        }))
        .into_response(),
        Err(e) => internal(e),
    }
}

/// `GET /health`: the provider's address, chain, head height and models.
async fn health(State(p): State<Arc<Shared>>) -> Response {
    let models: Vec<_> = p
        .models
        .values()
        .map(|m| serde_json::json!({ "id": m.id, "name": m.name, "runtime": m.runtime, "manifest_cid": m.manifest_cid }))
        .collect();
    Json(serde_json::json!({
        "provider": p.me,
        "chain_id": p.view.chain_id,
        "height": p.view.height(),
        "models": models,
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_are_read_from_request_bodies_as_the_handlers_read_them() {
        let chat = br#"{"model":"m","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}],"tessera_continue":"Hel"}"#;
        assert_eq!(
            prompt_of_request(chat),
            Some(Prompt::Chat(
                vec![
                    ("system".into(), "Be brief.".into()),
                    ("user".into(), "Hi".into())
                ],
                Some("Hel".into())
            ))
        );
        let text = br#"{"model":"m","prompt":"Once upon"}"#;
        assert_eq!(
            prompt_of_request(text),
            Some(Prompt::Text("Once upon".into()))
        );
        // Text parts are joined, as the chat handler does.
        let parts =
            br#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}"#;
        assert_eq!(
            prompt_of_request(parts),
            Some(Prompt::Chat(vec![("user".into(), "x".into())], None))
        );
        // No messages, several prompts, not JSON: nothing the server would run.
        assert_eq!(prompt_of_request(br#"{"model":"m","messages":[]}"#), None);
        assert_eq!(
            prompt_of_request(br#"{"model":"m","prompt":["a","b"]}"#),
            None
        );
        assert_eq!(prompt_of_request(b"not json"), None);
    }
}
