//! What the daemon checks answers against: its own copy of the subnet's model, fetched
//! by CID and verified.
//!
//! * embedding models run whole ([`Served`]); an answer passes when each vector's cosine
//!   with the validator's own is at least 0.999.
//! * chat models are checked with `check_generation`: one teacher-forced pass of the
//!   checker over prompt + claimed tokens, each claimed token within δ = 2.0 logits of
//!   the checker's best (docs/benchmarks.md has the calibration). The checker is
//!   llama.cpp on bf16 weights when the binary is built with `llama`, else candle's f32
//!   model. Before an answer is called wrong, the f32 model is asked too (when it is a
//!   distinct second opinion): only a claim both reject is wrong.

use std::sync::{Arc, Mutex};
use tessera_infer::{
    check_generation, compare, load_checker, CheckParams, F32Llama, TeacherForcing, CHECKER_IS_F32,
    DEFAULT_COSINE_THRESHOLD, RUNTIME_GGUF,
};
use tessera_provider::{
    fetch::{fetch_model, FetchError, FetchEvent},
    runtime::Served,
};
use tessera_rpc::RpcClient;
use tessera_types::tx::ModelId;

/// The validator's own run of the subnet's model.
pub enum Reference {
    Embed(Served),
    Chat(ChatChecker),
}

/// What a generation continued, as the provider's request said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatPrompt {
    /// `(role, content)` messages in the chat template, and an answer prefix to continue.
    Messages(Vec<(String, String)>, Option<String>),
    /// Raw text (completions).
    Text(String),
}

type Checker = Arc<Mutex<Box<dyn TeacherForcing + Send>>>;

/// The generation checkers: the primary, and the f32 second opinion if distinct.
pub struct ChatChecker {
    primary: Checker,
    second: Option<Checker>,
}

impl Reference {
    /// Fetch `model` by CID from the node, verify it and load what checks it.
    pub async fn load(
        blob_dir: &std::path::Path,
        client: &RpcClient,
        model: ModelId,
        progress: &(dyn Fn(FetchEvent<'_>) + Sync),
    ) -> Result<Reference, FetchError> {
        let local = fetch_model(blob_dir, client, &model.0.to_string(), progress).await?;
        if local.manifest.runtime != RUNTIME_GGUF {
            return Ok(Reference::Embed(
                Served::load(blob_dir, client, model, progress).await?,
            ));
        }
        let primary = local
            .load(client, progress, |d, m| {
                load_checker(d, m).map_err(Box::new)
            })
            .await?;
        let second = if CHECKER_IS_F32 {
            None
        } else {
            let f32_model = local
                .load(client, progress, |d, m| {
                    F32Llama::load_verified(d, m).map_err(Box::new)
                })
                .await?;
            let boxed: Box<dyn TeacherForcing + Send> = Box::new(f32_model);
            Some(Arc::new(Mutex::new(boxed)))
        };
        Ok(Reference::Chat(ChatChecker {
            primary: Arc::new(Mutex::new(primary)),
            second,
        }))
    }

    /// Whether the claimed vectors match the validator's own for `inputs` (`None`: the
    /// validator could not run its own, or this is not an embedding model).
    pub async fn embeddings_check_out(
        &self,
        inputs: &[String],
        claimed: &[Vec<f32>],
    ) -> Option<bool> {
        let Reference::Embed(served) = self else {
            return None;
        };
        let own = served.embed(inputs.to_vec()).await.ok()?;
        Some(
            own.vectors.len() == claimed.len()
                && own.vectors.iter().zip(claimed).all(|(reference, answer)| {
                    compare(reference, answer, DEFAULT_COSINE_THRESHOLD)
                        .is_ok_and(|report| report.passed)
                }),
        )
    }

    /// Whether `claimed` token ids are an honest greedy continuation of `prompt`
    /// (`None`: the check could not run, or this is not a chat model). A claim is wrong
    /// only when the primary checker and the second opinion both reject it; a claim the
    /// checker refuses outright (ids outside the vocabulary, too long) is wrong.
    pub async fn generation_checks_out(
        &self,
        prompt: ChatPrompt,
        claimed: Vec<u32>,
    ) -> Option<bool> {
        let Reference::Chat(chat) = self else {
            return None;
        };
        let primary = Arc::clone(&chat.primary);
        let verdict = run_check(primary, prompt.clone(), claimed.clone()).await?;
        if verdict {
            return Some(true);
        }
        match &chat.second {
            Some(second) => run_check(Arc::clone(second), prompt, claimed).await,
            None => Some(false),
        }
    }

    pub fn is_chat(&self) -> bool {
        matches!(self, Reference::Chat(_))
    }
}

/// One check on a blocking thread: `Some(passed)`, or `None` if it could not run.
async fn run_check(checker: Checker, prompt: ChatPrompt, claimed: Vec<u32>) -> Option<bool> {
    tokio::task::spawn_blocking(move || {
        let checker = checker.lock().ok()?;
        let tokenizer = checker.tokenizer();
        let prompt_ids = match &prompt {
            ChatPrompt::Messages(messages, prefix) => {
                let pairs: Vec<(&str, &str)> = messages
                    .iter()
                    .map(|(r, c)| (r.as_str(), c.as_str()))
                    .collect();
                let mut ids = tokenizer.chat_prompt_messages(&pairs).ok()?;
                if let Some(prefix) = prefix.as_deref().filter(|p| !p.is_empty()) {
                    ids.extend(tokenizer.encode(prefix).ok()?);
                }
                ids
            }
            ChatPrompt::Text(text) => tokenizer.encode(text).ok()?,
        };
        use tessera_infer::InferError as E;
        match check_generation(
            checker.as_ref(),
            &prompt_ids,
            &claimed,
            &CheckParams::default(),
        ) {
            Ok(report) => Some(report.passed),
            // A claim greedy decoding cannot give: an id outside the vocabulary, nothing
            // generated, longer than the context.
            Err(E::TokenOutOfVocab { .. } | E::EmptyClaim | E::ContextTooLong { .. }) => {
                Some(false)
            }
            // The check itself could not run: judge nothing.
            Err(_) => None,
        }
    })
    .await
    .ok()
    .flatten()
}

/// The prompt of an OpenAI chat or completions request body, as the provider builds it.
pub fn chat_prompt(body: &[u8]) -> Option<ChatPrompt> {
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    if let Some(messages) = json.get("messages").and_then(|m| m.as_array()) {
        let pairs = messages
            .iter()
            .map(|m| {
                let role = m.get("role")?.as_str()?.to_string();
                let content = match m.get("content") {
                    None | Some(serde_json::Value::Null) => String::new(),
                    Some(c) => c.as_str()?.to_string(),
                };
                Some((role, content))
            })
            .collect::<Option<Vec<_>>>()?;
        let prefix = json
            .get("tessera_continue")
            .and_then(|p| p.as_str())
            .map(str::to_string);
        return (!pairs.is_empty()).then_some(ChatPrompt::Messages(pairs, prefix));
    }
    json.get("prompt")
        .and_then(|p| p.as_str())
        .map(|p| ChatPrompt::Text(p.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_are_read_as_the_provider_reads_them() {
        let chat = br#"{"model":"m","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}],"tessera_continue":"Hel"}"#;
        assert_eq!(
            chat_prompt(chat),
            Some(ChatPrompt::Messages(
                vec![
                    ("system".into(), "Be brief.".into()),
                    ("user".into(), "Hi".into())
                ],
                Some("Hel".into())
            ))
        );
        let text = br#"{"model":"m","prompt":"Once upon"}"#;
        assert_eq!(
            chat_prompt(text),
            Some(ChatPrompt::Text("Once upon".into()))
        );
        // Content parts, no messages, not JSON: nothing the check can run on.
        let parts = br#"{"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}"#;
        assert_eq!(chat_prompt(parts), None);
        assert_eq!(chat_prompt(br#"{"messages":[]}"#), None);
        assert_eq!(chat_prompt(b"not json"), None);
    }
}
