//! Each limit of the shared server setup, exercised over real sockets.
#![cfg(test)]

use axum::{routing::get, routing::post, Router};
use std::{net::SocketAddr, time::Duration};
use tessera_http::{serve, ApiError, ErrorBody, JsonBody, Limits, PathParam, Subscribers};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

fn quick() -> Limits {
    Limits {
        max_connections: 8,
        max_in_flight: 4,
        header_read_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_millis(300),
        shutdown_grace: Duration::from_millis(100),
    }
}

#[derive(serde::Deserialize)]
struct Named {
    #[allow(dead_code)]
    name: String,
}

fn app() -> Router {
    Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route("/json", post(|JsonBody(_): JsonBody<Named>| async { "ok" }))
        .route(
            "/n/{n}",
            get(|PathParam(n): PathParam<u64>| async move { n.to_string() }),
        )
}

async fn start(router: Router, limits: Limits) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, router, limits, std::future::pending()));
    addr
}

/// Read until the server closes the connection, or give up after `wait`.
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

async fn error_of(response: reqwest::Response) -> (u16, ErrorBody) {
    let status = response.status().as_u16();
    let body = response
        .json::<ErrorBody>()
        .await
        .expect("a JSON error body");
    (status, body)
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let addr = start(app(), quick()).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert!(closed_within(&mut stream, Duration::from_secs(3)).await);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let addr = start(app(), quick()).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(std::str::from_utf8(&buf[..n])
        .unwrap()
        .starts_with("HTTP/1.1 200"));
    assert!(closed_within(&mut stream, Duration::from_secs(3)).await);
}

#[tokio::test]
async fn requests_over_the_in_flight_cap_are_shed_with_busy() {
    let limits = Limits {
        max_in_flight: 1,
        request_timeout: Duration::from_secs(5),
        ..quick()
    };
    let addr = start(app(), limits).await;
    let slow = tokio::spawn(reqwest::get(format!("http://{addr}/slow")));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, body) = error_of(reqwest::get(format!("http://{addr}/ok")).await.unwrap()).await;
    assert_eq!((status, body.code.as_str()), (503, "busy"));
    slow.abort();
}

#[tokio::test]
async fn a_handler_past_its_deadline_answers_timeout() {
    let addr = start(app(), quick()).await;
    let response = reqwest::get(format!("http://{addr}/slow")).await.unwrap();
    assert!(response.headers().contains_key("retry-after"));
    let (status, body) = error_of(response).await;
    assert_eq!((status, body.code.as_str()), (503, "timeout"));
}

#[tokio::test]
async fn connections_over_the_cap_wait_for_a_free_one() {
    let limits = Limits {
        max_connections: 1,
        header_read_timeout: Duration::from_secs(2),
        ..quick()
    };
    let addr = start(app(), limits).await;
    let mut first = TcpStream::connect(addr).await.unwrap();
    let mut second = TcpStream::connect(addr).await.unwrap();
    second
        .write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let early = tokio::time::timeout(Duration::from_millis(300), second.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "the second connection is served while the first is open"
    );
    first.shutdown().await.unwrap();
    drop(first);
    let n = tokio::time::timeout(Duration::from_secs(3), second.read(&mut buf))
        .await
        .expect("served once the first connection closed")
        .unwrap();
    assert!(std::str::from_utf8(&buf[..n])
        .unwrap()
        .starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn bad_input_and_unknown_routes_answer_json() {
    let addr = start(app(), quick()).await;
    let client = reqwest::Client::new();
    let cases = [
        (
            client
                .post(format!("http://{addr}/json"))
                .header("content-type", "application/json")
                .body("{not json"),
            400,
            "bad_json",
        ),
        (
            client.post(format!("http://{addr}/json")).body("{}"),
            415,
            "bad_content_type",
        ),
        (
            client.get(format!("http://{addr}/n/seven")),
            400,
            "bad_path",
        ),
        (
            client.get(format!("http://{addr}/nowhere")),
            404,
            "not_found",
        ),
        (
            client.delete(format!("http://{addr}/ok")),
            405,
            "method_not_allowed",
        ),
    ];
    for (request, status, code) in cases {
        let (got_status, body) = error_of(request.send().await.unwrap()).await;
        assert_eq!(
            (got_status, body.code.as_str()),
            (status, code),
            "{}",
            body.message
        );
        assert!(!body.message.is_empty());
    }
}

#[tokio::test]
async fn subscribers_past_the_cap_are_refused_until_one_leaves() {
    let subscribers = Subscribers::new(2);
    let a = subscribers.join().unwrap();
    let _b = subscribers.join().unwrap();
    let refused: ApiError = subscribers.join().unwrap_err();
    assert_eq!(refused.1, "too_many_subscribers");
    drop(a);
    assert!(subscribers.join().is_ok());
}

#[test]
fn zero_limits_are_refused() {
    for limits in [
        Limits {
            max_connections: 0,
            ..Limits::default()
        },
        Limits {
            max_in_flight: 0,
            ..Limits::default()
        },
        Limits {
            request_timeout: Duration::ZERO,
            ..Limits::default()
        },
    ] {
        assert!(limits.validate().is_err());
    }
}
