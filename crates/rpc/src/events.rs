//! Reading the node's event stream (`GET /v1/events`: server-sent events, one `block`
//! event per committed block, `lagged` when this subscriber fell behind and missed some).
//!
//! # Rules
//! * An event is the lines up to a blank line; `event:` names it, `data:` lines carry its
//!   JSON (joined by `\n`), lines starting with `:` are keep-alive comments.
//! * An event longer than [`MAX_EVENT_BYTES`] ends the stream with an error rather than
//!   growing the buffer without bound.

use crate::{api::BlockEvent, RpcClient, RpcError};
use futures::{Stream, StreamExt};
use std::time::Duration;

/// The longest event accepted (a block's receipts travel in one event).
pub const MAX_EVENT_BYTES: usize = 64 * 1024 * 1024;

/// One message of the stream.
#[derive(Clone, Debug)]
pub enum StreamEvent {
    /// A committed block and its receipts, in height order.
    Block(Box<BlockEvent>),
    /// The node dropped this many blocks for this subscriber: whatever was derived from
    /// the stream should be read again.
    Lagged(u64),
}

/// Splits a byte stream into server-sent events.
#[derive(Default)]
struct Parser {
    buffer: Vec<u8>,
    /// How far `buffer` was searched for an event's end (so a long event arriving in
    /// many pieces is scanned once, not once per piece).
    scanned: usize,
}

impl Parser {
    /// The next complete event's (name, data) in what was fed, if any.
    fn next(&mut self) -> Option<(String, String)> {
        loop {
            let from = self.scanned.saturating_sub(1);
            let Some(end) = self
                .buffer
                .get(from..)
                .and_then(|rest| rest.windows(2).position(|w| w == b"\n\n"))
                .map(|i| i + from)
            else {
                self.scanned = self.buffer.len();
                return None;
            };
            self.scanned = 0;
            let raw: Vec<u8> = self.buffer.drain(..end + 2).collect();
            let text = String::from_utf8_lossy(&raw);
            let (mut name, mut data) = (String::from("message"), Vec::new());
            for line in text.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim_start().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push(v.strip_prefix(' ').unwrap_or(v));
                }
            }
            if !data.is_empty() {
                return Some((name, data.join("\n")));
            }
        }
    }
}

impl RpcClient {
    /// Follow the node's committed blocks from now on. The stream ends when the node
    /// closes it; reconnecting (and reading what was missed) is the caller's choice.
    pub async fn events(
        &self,
    ) -> Result<impl Stream<Item = Result<StreamEvent, RpcError>> + Send, RpcError> {
        let url = format!("{}/v1/events", self.url());
        let unreachable = |e: reqwest::Error| RpcError::Unreachable {
            url: url.clone(),
            reason: e.to_string(),
        };
        // No overall timeout: the stream lives as long as the node serves it.
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(unreachable)?;
        let response = http.get(&url).send().await.map_err(unreachable)?;
        if !response.status().is_success() {
            return Err(RpcError::Api {
                status: response.status().as_u16(),
                code: "http".into(),
                message: format!(
                    "the node refused its event stream: HTTP {}",
                    response.status()
                ),
            });
        }
        let body = response.bytes_stream();
        Ok(futures::stream::unfold(
            (body, Parser::default(), false),
            |(mut body, mut parser, mut ended)| async move {
                loop {
                    if ended {
                        return None;
                    }
                    if let Some((name, data)) = parser.next() {
                        let item = match name.as_str() {
                            "block" => serde_json::from_str::<BlockEvent>(&data)
                                .map(|b| StreamEvent::Block(Box::new(b)))
                                .map_err(|e| RpcError::BadResponse(e.to_string())),
                            "lagged" => Ok(StreamEvent::Lagged(data.trim().parse().unwrap_or(0))),
                            _ => continue,
                        };
                        return Some((item, (body, parser, ended)));
                    }
                    if parser.buffer.len() > MAX_EVENT_BYTES {
                        ended = true;
                        let e = RpcError::BadResponse(format!(
                            "an event of the stream is over {MAX_EVENT_BYTES} bytes"
                        ));
                        return Some((Err(e), (body, parser, ended)));
                    }
                    match body.next().await {
                        Some(Ok(bytes)) => parser.buffer.extend_from_slice(&bytes),
                        Some(Err(e)) => {
                            ended = true;
                            let e = RpcError::BadResponse(format!("the event stream broke: {e}"));
                            return Some((Err(e), (body, parser, ended)));
                        }
                        None => return None,
                    }
                }
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::Parser;

    #[test]
    fn events_split_on_blank_lines_and_skip_comments() {
        let mut p = Parser::default();
        p.buffer.extend_from_slice(
            b": keep-alive\n\nevent: block\ndata: {\"a\":\ndata: 1}\n\nevent: lag",
        );
        assert_eq!(
            p.next(),
            Some(("block".to_string(), "{\"a\":\n1}".to_string()))
        );
        assert_eq!(p.next(), None);
        p.buffer.extend_from_slice(b"ged\ndata: 3\n\n");
        assert_eq!(p.next(), Some(("lagged".to_string(), "3".to_string())));
        assert!(p.buffer.is_empty());
    }
}
