//! Samples of users' calls, forwarded by gateways (`tessera_gateway::audit`): the
//! validator's intake listens on `POST /v1/audits`, checks the shape of each sample and
//! queues it for the daemon, which checks it like its own audit calls. Users' traffic is
//! what providers cannot tell from anything else, so these audits are the ones a cheat
//! cannot dodge.
//!
//! Limits: a body is at most [`MAX_SAMPLE_BYTES`]; at most [`MAX_QUEUED_SAMPLES`] wait
//! (more are refused with 503 and the gateway drops them); a sample whose receipt or hex
//! does not decode is refused with 400. Whether a sample is for this validator's subnet
//! and whether its receipt binds its request and answer is checked by the daemon.

use axum::{extract::State, http::StatusCode, routing::post, Json, Router};
use std::{net::SocketAddr, sync::Mutex};
use tessera_gateway::audit::Sample;
use tessera_types::call::CallReceipt;
use tokio::sync::mpsc;

/// Largest sample body accepted (hex doubles the request and answer).
pub const MAX_SAMPLE_BYTES: usize = 64 * 1024;
/// Samples waiting for the daemon at most.
pub const MAX_QUEUED_SAMPLES: usize = 64;

/// One user's call as a gateway saw it.
#[derive(Clone, Debug)]
pub struct UserCall {
    pub receipt: CallReceipt,
    pub request: Vec<u8>,
    pub response: Vec<u8>,
}

impl UserCall {
    /// A sample's fields decoded (`None`: not a receipt, or not hex).
    pub fn decode(sample: &Sample) -> Option<UserCall> {
        Some(UserCall {
            receipt: CallReceipt::from_hex(&sample.receipt)?,
            request: hex::decode(&sample.request).ok()?,
            response: hex::decode(&sample.response).ok()?,
        })
    }
}

/// The running intake: its address, its server, and the queue the daemon reads.
pub struct Intake {
    pub addr: SocketAddr,
    server: tessera_http::Server,
    queue: Mutex<mpsc::Receiver<UserCall>>,
}

impl Intake {
    /// Listen on `listen` (port 0 picks one).
    pub async fn start(listen: SocketAddr) -> std::io::Result<Intake> {
        let (listener, addr) = tessera_http::bind(listen).await?;
        let (tx, rx) = mpsc::channel(MAX_QUEUED_SAMPLES);
        let router = Router::new()
            .route("/v1/audits", post(accept))
            .layer(axum::extract::DefaultBodyLimit::max(MAX_SAMPLE_BYTES))
            .with_state(tx);
        let server = tessera_http::spawn(listener, router, tessera_http::Limits::default());
        Ok(Intake {
            addr,
            server,
            queue: Mutex::new(rx),
        })
    }

    /// Up to `n` queued calls, without waiting.
    pub fn take(&self, n: usize) -> Vec<UserCall> {
        let Ok(mut queue) = self.queue.lock() else {
            return Vec::new();
        };
        std::iter::from_fn(|| queue.try_recv().ok())
            .take(n)
            .collect()
    }

    pub async fn stop(self) {
        let _ = self.server.stop().await;
    }
}

async fn accept(
    State(queue): State<mpsc::Sender<UserCall>>,
    Json(sample): Json<Sample>,
) -> (StatusCode, &'static str) {
    let Some(call) = UserCall::decode(&sample) else {
        return (
            StatusCode::BAD_REQUEST,
            "not a sample: receipt, request and response must be hex (the receipt as in x-tessera-receipt)",
        );
    };
    match queue.try_send(call) {
        Ok(()) => (StatusCode::ACCEPTED, "queued"),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the validator's queue is full: the sample is dropped",
        ),
    }
}
