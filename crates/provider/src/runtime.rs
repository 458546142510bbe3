//! The models a provider serves, loaded and verified, and how one call runs on them:
//! embeddings on candle's BERT, text generation on llama.cpp (`--features llama`,
//! decision 0010) or candle's quantized kernels. Inference runs on blocking threads;
//! a generator serves one call at a time (its KV cache is per call).

use crate::fetch::{fetch_model, FetchError, FetchEvent, LocalModel};
use std::{
    ops::ControlFlow,
    path::Path,
    sync::{Arc, Mutex},
};
use tessera_infer::{Embedder, GenerateParams, InferError, StopReason, RUNTIME_BERT, RUNTIME_GGUF};
use tessera_rpc::RpcClient;
use tessera_types::{channel::Price, tx::ModelId, Hash};

/// The text-generation runtime: llama.cpp with `--features llama`, else candle.
#[cfg(feature = "llama")]
pub type ChatModel = tessera_infer::LlamaGenerator;
#[cfg(not(feature = "llama"))]
pub type ChatModel = tessera_infer::Generator;

/// A loaded model.
pub enum Engine {
    Embed(Arc<Embedder>),
    Chat(Arc<Mutex<ChatModel>>),
}

/// One model this provider serves.
pub struct Served {
    pub id: ModelId,
    pub name: String,
    pub manifest_cid: String,
    pub runtime: String,
    /// The model's registered price (the provider's own is per channel).
    pub model_price: Price,
    pub engine: Engine,
}

/// An embedding call's result.
pub struct Embedded {
    pub vectors: Vec<Vec<f32>>,
    pub prompt_tokens: u64,
    pub output_hash: Hash,
    pub kernel_path: String,
}

/// What a generation is asked to continue.
pub enum Prompt {
    /// `(role, content)` messages in the chat template, and the start of the assistant's
    /// answer to continue from, if any.
    Chat(Vec<(String, String)>, Option<String>),
    /// Raw text (completions).
    Text(String),
}

/// A generation's result.
pub struct Generated {
    pub prompt_tokens: u64,
    pub token_ids: Vec<u32>,
    pub text: String,
    pub stop: StopReason,
    pub output_hash: Hash,
    pub kernel_path: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Infer(Box<InferError>),
    #[error("model {0} is not a text-generation model")]
    NotChat(String),
    #[error("model {0} is not an embedding model")]
    NotEmbed(String),
    #[error("the inference thread failed: {0}")]
    Thread(String),
    #[error("the model's lock was poisoned by a panic in an earlier call: restart the provider")]
    Poisoned,
}

impl From<InferError> for RunError {
    fn from(e: InferError) -> Self {
        RunError::Infer(Box::new(e))
    }
}

impl Served {
    /// Fetch `model` by CID from the node, verify and load it.
    pub async fn load(
        blob_dir: &Path,
        client: &RpcClient,
        model: ModelId,
        progress: &(dyn Fn(FetchEvent<'_>) + Sync),
    ) -> Result<Served, FetchError> {
        let local: LocalModel =
            fetch_model(blob_dir, client, &model.0.to_string(), progress).await?;
        let engine = match local.manifest.runtime.as_str() {
            RUNTIME_BERT => Engine::Embed(Arc::new(
                local
                    .load(client, progress, |d, m| {
                        Embedder::load_verified(d, m).map_err(Box::new)
                    })
                    .await?,
            )),
            RUNTIME_GGUF => Engine::Chat(Arc::new(Mutex::new(
                local
                    .load(client, progress, |d, m| {
                        ChatModel::load_verified(d, m).map_err(Box::new)
                    })
                    .await?,
            ))),
            other => {
                return Err(FetchError::Unrunnable {
                    name: local.name,
                    runtime: other.into(),
                    cid: local.manifest_cid.to_string(),
                })
            }
        };
        let spec = &local.record.model.spec;
        Ok(Served {
            id: local.id,
            name: local.name.clone(),
            manifest_cid: local.manifest_cid.to_string(),
            runtime: local.manifest.runtime.clone(),
            model_price: Price {
                per_call: spec.price_base_per_call,
                per_token: spec.price_base_per_token,
            },
            engine,
        })
    }

    pub fn is_chat(&self) -> bool {
        matches!(self.engine, Engine::Chat(_))
    }

    /// Token counts of each input (cheap; run before admitting an embedding call).
    pub fn embedding_tokens(&self, inputs: &[&str]) -> Result<u64, RunError> {
        let Engine::Embed(embedder) = &self.engine else {
            return Err(RunError::NotEmbed(self.name.clone()));
        };
        let ids = embedder.token_ids(inputs)?;
        Ok(ids
            .iter()
            .map(|i| u64::try_from(i.len()).unwrap_or(u64::MAX))
            .fold(0, u64::saturating_add))
    }

    /// Embed `inputs` on a blocking thread.
    pub async fn embed(&self, inputs: Vec<String>) -> Result<Embedded, RunError> {
        let Engine::Embed(embedder) = &self.engine else {
            return Err(RunError::NotEmbed(self.name.clone()));
        };
        let embedder = Arc::clone(embedder);
        tokio::task::spawn_blocking(move || -> Result<Embedded, RunError> {
            let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
            let prompt_tokens = embedder
                .token_ids(&refs)?
                .iter()
                .map(|i| u64::try_from(i.len()).unwrap_or(u64::MAX))
                .fold(0, u64::saturating_add);
            let vectors = embedder.embed(&refs)?;
            let flat: Vec<f32> = vectors.iter().flatten().copied().collect();
            Ok(Embedded {
                vectors,
                prompt_tokens,
                output_hash: Hash(tessera_infer::output_hash(&flat)),
                kernel_path: tessera_infer::kernel_path_id(),
            })
        })
        .await
        .map_err(|e| RunError::Thread(e.to_string()))?
    }

    /// Generate up to `max_tokens` for `prompt` on a blocking thread. `sink` gets each
    /// token's id and text; when it breaks (the client went away) generation stops.
    pub async fn generate(
        &self,
        prompt: Prompt,
        max_tokens: usize,
        sink: impl FnMut(u32, &str) -> ControlFlow<()> + Send + 'static,
    ) -> Result<Generated, RunError> {
        let Engine::Chat(model) = &self.engine else {
            return Err(RunError::NotChat(self.name.clone()));
        };
        let model = Arc::clone(model);
        tokio::task::spawn_blocking(move || -> Result<Generated, RunError> {
            let mut model = model.lock().map_err(|_| RunError::Poisoned)?;
            let ids = match &prompt {
                Prompt::Chat(messages, prefix) => {
                    let pairs: Vec<(&str, &str)> = messages
                        .iter()
                        .map(|(r, c)| (r.as_str(), c.as_str()))
                        .collect();
                    let mut ids = model.tokenizer().chat_prompt_messages(&pairs)?;
                    if let Some(prefix) = prefix.as_deref().filter(|p| !p.is_empty()) {
                        ids.extend(model.tokenizer().encode(prefix)?);
                    }
                    ids
                }
                Prompt::Text(text) => model.tokenizer().encode(text)?,
            };
            let params = GenerateParams {
                max_new_tokens: max_tokens,
            };
            let out = model.generate_until(&ids, &params, sink)?;
            Ok(Generated {
                prompt_tokens: u64::try_from(out.prompt_ids.len()).unwrap_or(u64::MAX),
                output_hash: Hash(out.output_hash),
                token_ids: out.token_ids,
                text: out.text,
                stop: out.stop,
                kernel_path: out.kernel_path_id,
            })
        })
        .await
        .map_err(|e| RunError::Thread(e.to_string()))?
    }

    /// The end-of-sequence id of a chat model (not billed as a token).
    pub fn eos_id(&self) -> Option<u32> {
        match &self.engine {
            Engine::Chat(model) => model.lock().ok().map(|m| m.tokenizer().eos_id()),
            Engine::Embed(_) => None,
        }
    }
}
