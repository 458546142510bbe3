//! The OpenAI HTTP API's bodies: what existing clients (the official SDKs, LangChain,
//! curl) send to `/v1/embeddings`, `/v1/completions` and `/v1/chat/completions`, and what
//! they expect back, streamed or not, with OpenAI-shaped errors.
//!
//! Requests accept and ignore the fields Tessera does not use (sampling knobs: decoding
//! is greedy, so answers are reproducible and checkable), so clients work unchanged.
//! Fields that would change the answer in ways Tessera cannot honour (`n > 1`, token
//! arrays as input) are refused with a clear error by the server, not silently dropped.

use serde::{Deserialize, Serialize};

/// Tokens generated when a request names no limit.
pub const DEFAULT_MAX_TOKENS: u32 = 256;

/// One string or several.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
    /// Token-id input (not supported: refused by the server).
    Tokens(Vec<serde_json::Value>),
}

impl OneOrMany {
    /// The strings, or `None` for token-id input.
    pub fn texts(&self) -> Option<Vec<&str>> {
        match self {
            OneOrMany::One(s) => Some(vec![s.as_str()]),
            OneOrMany::Many(v) => Some(v.iter().map(String::as_str).collect()),
            OneOrMany::Tokens(_) => None,
        }
    }
}

/// `POST /v1/embeddings`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingsRequest {
    pub model: String,
    pub input: OneOrMany,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Embedding {
    pub object: String,
    pub index: u32,
    pub embedding: Vec<f32>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u32,
    #[serde(default)]
    pub completion_tokens: u32,
    pub total_tokens: u32,
}

impl Usage {
    pub fn new(prompt_tokens: u32, completion_tokens: u32) -> Usage {
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens.saturating_add(completion_tokens),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingsResponse {
    pub object: String,
    pub data: Vec<Embedding>,
    pub model: String,
    pub usage: Usage,
}

/// Message content: a string, or parts of which the text parts are used.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContentPart {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
}

impl Content {
    /// The text, or `None` when a part is not text (images are not supported).
    pub fn text(&self) -> Option<String> {
        match self {
            Content::Text(t) => Some(t.clone()),
            Content::Parts(parts) => parts
                .iter()
                .map(|p| (p.kind == "text").then(|| p.text.clone().unwrap_or_default()))
                .collect::<Option<Vec<_>>>()
                .map(|texts| texts.concat()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    #[serde(default)]
    pub content: Option<Content>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

/// `POST /v1/chat/completions`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    #[serde(default)]
    pub stream: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Tessera's extension (sent by a gateway failing over mid-stream): the assistant's
    /// answer so far, to continue from; only new tokens are generated and billed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tessera_continue: Option<String>,
}

impl ChatRequest {
    /// The token limit asked for (`max_completion_tokens` wins), or the default.
    pub fn limit(&self) -> u32 {
        self.max_completion_tokens
            .or(self.max_tokens)
            .unwrap_or(DEFAULT_MAX_TOKENS)
    }

    pub fn include_usage(&self) -> bool {
        self.stream_options.is_some_and(|o| o.include_usage)
    }
}

/// `POST /v1/completions`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompletionRequest {
    pub model: String,
    pub prompt: OneOrMany,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub stream: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

impl CompletionRequest {
    /// OpenAI's default for completions is 16 tokens.
    pub fn limit(&self) -> u32 {
        self.max_tokens.unwrap_or(16)
    }

    pub fn include_usage(&self) -> bool {
        self.stream_options.is_some_and(|o| o.include_usage)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AssistantMessage {
    pub role: String,
    pub content: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatChoice {
    pub index: u32,
    pub message: AssistantMessage,
    pub finish_reason: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    pub id: String,
    pub object: String,
    pub created: u64,
    pub model: String,
    pub choices: Vec<ChatChoice>,
    pub usage: Usage,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice {
    pub index: u32,
    pub delta: Delta,
    pub finish_reason: Option<String>,
}

/// One `data:` event of a streamed chat completion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatChunk {
    pub id: String,
    pub object: String,
    pub created: u64,
    pub model: String,
    pub choices: Vec<ChunkChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompletionChoice {
    pub text: String,
    pub index: u32,
    pub logprobs: Option<serde_json::Value>,
    pub finish_reason: Option<String>,
}

/// A completion, whole (`text_completion`) or one streamed event of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompletionResponse {
    pub id: String,
    pub object: String,
    pub created: u64,
    pub model: String,
    pub choices: Vec<CompletionChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// `GET /v1/models` entries, with Tessera's extras (price, context, providers).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    pub id: String,
    pub object: String,
    pub created: u64,
    pub owned_by: String,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelList {
    pub object: String,
    pub data: Vec<ModelCard>,
}

/// The error body every OpenAI endpoint returns: `{"error": {...}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub param: Option<String>,
    pub code: Option<String>,
}

impl ErrorResponse {
    /// An error of OpenAI `type` `kind` with Tessera's stable `code`.
    pub fn new(kind: &str, code: &str, message: impl Into<String>) -> ErrorResponse {
        ErrorResponse {
            error: ErrorDetail {
                message: message.into(),
                kind: kind.into(),
                param: None,
                code: Some(code.into()),
            },
        }
    }
}

/// The end of every stream.
pub const STREAM_DONE: &str = "[DONE]";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_shaped_requests_parse() {
        let chat: ChatRequest = serde_json::from_str(
            r#"{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"Hi"}]}],"stream":true,"stream_options":{"include_usage":true},"temperature":0.7,"top_p":1,"frequency_penalty":0}"#,
        )
        .unwrap();
        assert!(chat.stream && chat.include_usage());
        assert_eq!(chat.limit(), DEFAULT_MAX_TOKENS);
        assert_eq!(
            chat.messages[1].content.as_ref().unwrap().text().as_deref(),
            Some("Hi")
        );
        let emb: EmbeddingsRequest =
            serde_json::from_str(r#"{"model":"e","input":["a","b"],"encoding_format":"float"}"#)
                .unwrap();
        assert_eq!(emb.input.texts(), Some(vec!["a", "b"]));
        let tokens: EmbeddingsRequest =
            serde_json::from_str(r#"{"model":"e","input":[[1,2,3]]}"#).unwrap();
        assert_eq!(tokens.input.texts(), None);
        let done: CompletionRequest =
            serde_json::from_str(r#"{"model":"m","prompt":"Once","max_tokens":5}"#).unwrap();
        assert_eq!(done.limit(), 5);
    }
}
