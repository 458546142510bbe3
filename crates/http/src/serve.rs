//! The accept loop and the per-request guard.
//!
//! Invariants:
//! * At most `max_connections` connections are open; further ones wait in the kernel's
//!   backlog until one closes.
//! * A connection that has not sent a whole request head within `header_read_timeout` is
//!   closed (slow-loris clients hold nothing for long).
//! * At most `max_in_flight` handlers run at once; a request over the cap is answered
//!   `503 busy` at once and never queued, so a flood cannot build a backlog that outlives
//!   it.
//! * A handler that has not produced its response head within `request_timeout` is
//!   dropped and answered `503 timeout`. Streaming bodies (files, events) are not cut:
//!   they are bounded by their own caps ([`Subscribers`], the blob read pool).
//! * Every error the server itself produces is an [`ApiError`] JSON body.

use crate::ApiError;
use axum::{body::Body, extract::Request, http::Response, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::{convert::Infallible, future::Future, net::SocketAddr, sync::Arc, time::Duration};
use tokio::{
    net::TcpListener,
    sync::{watch, OwnedSemaphorePermit, Semaphore},
};
use tower::ServiceExt;

/// What one server allows. [`Limits::default`] suits a node's public API.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Connections open at once.
    pub max_connections: usize,
    /// Handlers running at once.
    pub max_in_flight: usize,
    /// Time a connection has to send a whole request head (and, between requests, to
    /// start the next one).
    pub header_read_timeout: Duration,
    /// Time a handler has to produce its response head.
    pub request_timeout: Duration,
    /// Time open connections get to finish after shutdown is asked for.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 1_024,
            max_in_flight: 256,
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

impl Limits {
    /// For services whose answers take long (inference, streamed or not): handlers get
    /// ten minutes to start their response instead of 30 s.
    pub fn for_inference() -> Limits {
        Limits {
            request_timeout: Duration::from_secs(600),
            ..Limits::default()
        }
    }
}

/// Bind `addr` and say which address was bound (port 0 picks a free one).
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("invalid HTTP limits: {0}")]
    Limits(&'static str),
}

impl Limits {
    pub fn validate(&self) -> Result<(), HttpError> {
        if self.max_connections == 0 {
            return Err(HttpError::Limits("max_connections must be at least 1"));
        }
        if self.max_in_flight == 0 {
            return Err(HttpError::Limits("max_in_flight must be at least 1"));
        }
        if self.header_read_timeout.is_zero() || self.request_timeout.is_zero() {
            return Err(HttpError::Limits("timeouts must be longer than zero"));
        }
        Ok(())
    }
}

/// A cap on long-lived streams (server-sent event subscribers): each holds a
/// [`OwnedSemaphorePermit`] for as long as its stream lives.
#[derive(Clone, Debug)]
pub struct Subscribers {
    slots: Arc<Semaphore>,
    max: usize,
}

impl Subscribers {
    pub fn new(max: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// A slot, or `503 too_many_subscribers` when all are taken.
    pub fn join(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.slots.clone().try_acquire_owned().map_err(|_| {
            ApiError::unavailable(
                "too_many_subscribers",
                format!(
                    "this server streams to at most {} subscribers; retry later or ask another node",
                    self.max
                ),
            )
        })
    }
}

/// Serve `router` on `listener` under `limits` until `shutdown` completes, then give open
/// connections `limits.shutdown_grace` to finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), HttpError> {
    limits.validate()?;
    let router = with_json_fallbacks(router);
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let in_flight = Arc::new(Semaphore::new(limits.max_in_flight));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            permit = connections.clone().acquire_owned() => permit,
        };
        let Ok(permit) = permit else { break };
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "cannot accept an HTTP connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let conn = Connection {
            router: router.clone(),
            in_flight: in_flight.clone(),
            limits: limits.clone(),
            stop: stop_rx.clone(),
            peer,
        };
        tokio::spawn(conn.run(stream, permit));
    }
    let _ = stop_tx.send(true);
    drop(listener);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(limits.shutdown_grace, connections.acquire_many(all)).await;
    Ok(())
}

/// A server started by [`spawn`]: stop it gracefully, or abort it.
pub struct Server {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), HttpError>>,
}

/// [`serve`] on a task of its own, until [`Server::stop`] (or the handle is dropped).
pub fn spawn(listener: TcpListener, router: Router, limits: Limits) -> Server {
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(serve(listener, router, limits, async move {
        // Resolves on `stop` and when the handle (the sender) is dropped.
        let _ = stopped.changed().await;
    }));
    Server { stop, task }
}

impl Server {
    /// Stop accepting, give open connections their grace period, and wait for the end.
    pub async fn stop(self) -> Result<(), HttpError> {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or(Ok(()))
    }

    /// End the server at once, dropping open connections' requests.
    pub fn abort(self) {
        self.task.abort();
    }
}

/// Unknown routes and methods answer in JSON like every other error.
fn with_json_fallbacks(router: Router) -> Router {
    router
        .fallback(|| async {
            ApiError::not_found("no such route: see docs/api.md for the routes this server has")
        })
        .method_not_allowed_fallback(|| async {
            ApiError(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method: see docs/api.md".into(),
            )
        })
}

struct Connection {
    router: Router,
    in_flight: Arc<Semaphore>,
    limits: Limits,
    stop: watch::Receiver<bool>,
    peer: SocketAddr,
}

impl Connection {
    async fn run(mut self, stream: tokio::net::TcpStream, _permit: OwnedSemaphorePermit) {
        let _ = stream.set_nodelay(true);
        let (router, in_flight, timeout) = (
            self.router.clone(),
            self.in_flight.clone(),
            self.limits.request_timeout,
        );
        let service =
            hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                guarded(
                    router.clone(),
                    in_flight.clone(),
                    timeout,
                    req.map(Body::new),
                )
            });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_read_timeout);
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let mut conn = std::pin::pin!(conn);
        let outcome = tokio::select! {
            outcome = conn.as_mut() => Some(outcome),
            _ = self.stop.wait_for(|stop| *stop) => None,
        };
        let outcome = match outcome {
            Some(outcome) => outcome,
            None => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = outcome {
            tracing::debug!(peer = %self.peer, error = %e, "HTTP connection ended with an error");
        }
    }
}

/// Run one request under the in-flight cap and the handler deadline.
async fn guarded(
    router: Router,
    in_flight: Arc<Semaphore>,
    timeout: Duration,
    req: Request,
) -> Result<Response<Body>, Infallible> {
    use axum::response::IntoResponse;
    let Ok(_permit) = in_flight.try_acquire_owned() else {
        return Ok(ApiError::unavailable(
            "busy",
            "this server is at its limit of requests in progress; retry shortly",
        )
        .into_response());
    };
    match tokio::time::timeout(timeout, router.oneshot(req)).await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(never)) => match never {},
        Err(_) => Ok(ApiError::unavailable(
            "timeout",
            format!(
                "the request took longer than {} ms; retry, or ask for less",
                timeout.as_millis()
            ),
        )
        .into_response()),
    }
}
