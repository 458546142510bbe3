//! The models a provider serves, loaded and verified, and how one call runs on them:
//! embeddings on candle's BERT, text generation on llama.cpp (`--features llama`,
//! decision 0010) or candle's quantized kernels. Embeddings run on blocking threads.
//! Each chat model runs on **one thread of its own** that owns the generator and takes
//! calls from a bounded queue, one at a time (the KV cache is per call): llama.cpp's
//! OpenMP keeps a team of worker threads per calling thread, so calling it from tokio's
//! changing blocking threads piled up idle teams that throttled every barrier to futex
//! sleeps (~100 tok/s instead of ~150 on 2 cores, `docs/benchmarks.md`).

use crate::fetch::{fetch_model, FetchError, FetchEvent, LocalModel};
use std::{
    ops::ControlFlow,
    path::Path,
    sync::{mpsc, Arc},
};
use tessera_infer::{
    Embedder, GenerateParams, GgufTokenizer, InferError, StopReason, RUNTIME_BERT, RUNTIME_GGUF,
};
use tessera_rpc::RpcClient;
use tessera_types::{channel::Price, tx::ModelId, Hash};

/// The text-generation runtime: llama.cpp with `--features llama`, else candle.
#[cfg(feature = "llama")]
pub type ChatModel = tessera_infer::LlamaGenerator;
#[cfg(not(feature = "llama"))]
pub type ChatModel = tessera_infer::Generator;

/// Generations waiting for a chat model's thread beyond the one running; more are
/// refused as busy (each waiting call holds a paid lane, so this only bounds memory).
pub const MAX_QUEUED_GENERATIONS: usize = 64;

/// A loaded model.
pub enum Engine {
    Embed(Arc<Embedder>),
    Chat(ChatWorker),
}

/// Where a generation's tokens go, one `(id, text)` at a time; breaking stops it.
type Sink = Box<dyn FnMut(u32, &str) -> ControlFlow<()> + Send>;

/// What a chat model's thread is asked to do.
struct Job {
    prompt: Prompt,
    max_tokens: usize,
    sink: Sink,
    reply: tokio::sync::oneshot::Sender<Result<Generated, RunError>>,
}

/// The thread that owns a chat model and runs its generations in order. It ends when
/// the last handle is dropped.
pub struct ChatWorker {
    name: String,
    jobs: mpsc::SyncSender<Job>,
    eos_id: u32,
}

impl ChatWorker {
    /// Start `model`'s thread, with room for `queued` calls waiting behind the running one.
    pub fn start(mut model: ChatModel, name: &str, queued: usize) -> std::io::Result<ChatWorker> {
        let eos_id = model.tokenizer().eos_id();
        let (jobs, queue) = mpsc::sync_channel::<Job>(queued);
        std::thread::Builder::new()
            .name(format!("generate {name}"))
            .spawn(move || {
                for job in queue {
                    let result = run_job(&mut model, job.prompt, job.max_tokens, job.sink);
                    let _ = job.reply.send(result);
                }
            })?;
        Ok(ChatWorker {
            name: name.to_string(),
            jobs,
            eos_id,
        })
    }

    /// Queue a generation (refused as busy when the queue is full) and await its end.
    pub async fn generate(
        &self,
        prompt: Prompt,
        max_tokens: usize,
        sink: impl FnMut(u32, &str) -> ControlFlow<()> + Send + 'static,
    ) -> Result<Generated, RunError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Job {
            prompt,
            max_tokens,
            sink: Box::new(sink),
            reply,
        };
        self.jobs.try_send(job).map_err(|e| match e {
            mpsc::TrySendError::Full(_) => RunError::Busy(self.name.clone()),
            mpsc::TrySendError::Disconnected(_) => RunError::WorkerGone(self.name.clone()),
        })?;
        answer
            .await
            .map_err(|_| RunError::WorkerGone(self.name.clone()))?
    }
}

fn run_job(
    model: &mut ChatModel,
    prompt: Prompt,
    max_tokens: usize,
    sink: impl FnMut(u32, &str) -> ControlFlow<()>,
) -> Result<Generated, RunError> {
    let ids = prompt.token_ids(model.tokenizer())?;
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prompt {
    /// `(role, content)` messages in the chat template, and the start of the assistant's
    /// answer to continue from, if any.
    Chat(Vec<(String, String)>, Option<String>),
    /// Raw text (completions).
    Text(String),
}

impl Prompt {
    /// The token ids generation continues from: the chat template over the messages
    /// (then the answer prefix), or the raw text. A validator checking an answer builds
    /// them the same way.
    pub fn token_ids(&self, tokenizer: &GgufTokenizer) -> Result<Vec<u32>, RunError> {
        match self {
            Prompt::Chat(messages, prefix) => {
                let pairs: Vec<(&str, &str)> = messages
                    .iter()
                    .map(|(r, c)| (r.as_str(), c.as_str()))
                    .collect();
                let mut ids = tokenizer.chat_prompt_messages(&pairs)?;
                if let Some(prefix) = prefix.as_deref().filter(|p| !p.is_empty()) {
                    ids.extend(tokenizer.encode(prefix)?);
                }
                Ok(ids)
            }
            Prompt::Text(text) => Ok(tokenizer.encode(text)?),
        }
    }
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
    #[error("model {0}'s generation thread has stopped: restart the provider")]
    WorkerGone(String),
    #[error(
        "model {0} has as many generations waiting as its queue holds: retry later or use another provider"
    )]
    Busy(String),
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
            RUNTIME_GGUF => {
                let model = local
                    .load(client, progress, |d, m| {
                        ChatModel::load_verified(d, m).map_err(Box::new)
                    })
                    .await?;
                Engine::Chat(
                    ChatWorker::start(model, &local.name, MAX_QUEUED_GENERATIONS).map_err(|e| {
                        FetchError::Thread {
                            name: local.name.clone(),
                            reason: e.to_string(),
                        }
                    })?,
                )
            }
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

    /// Generate up to `max_tokens` for `prompt` on the model's thread, after the calls
    /// queued before it. `sink` gets each token's id and text; when it breaks (the
    /// client went away) generation stops.
    pub async fn generate(
        &self,
        prompt: Prompt,
        max_tokens: usize,
        sink: impl FnMut(u32, &str) -> ControlFlow<()> + Send + 'static,
    ) -> Result<Generated, RunError> {
        let Engine::Chat(worker) = &self.engine else {
            return Err(RunError::NotChat(self.name.clone()));
        };
        worker.generate(prompt, max_tokens, sink).await
    }

    /// The end-of-sequence id of a chat model (not billed as a token).
    pub fn eos_id(&self) -> Option<u32> {
        match &self.engine {
            Engine::Chat(worker) => Some(worker.eos_id),
            Engine::Embed(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn model() -> Option<ChatModel> {
        let path = tessera_infer::default_smollm2_gguf();
        if !path.exists() {
            assert!(
                std::env::var("TESSERA_REQUIRE_MODELS").map_or(true, |v| v != "1"),
                "{} is absent and TESSERA_REQUIRE_MODELS=1: run scripts/fetch-models.sh",
                path.display()
            );
            return None;
        }
        Some(ChatModel::load(path).unwrap())
    }

    fn prompt() -> Prompt {
        Prompt::Chat(vec![("user".into(), "Name a colour.".into())], None)
    }

    /// The worker's answer equals the model's own; calls wait in order behind the running
    /// one, and a call beyond the queue is refused as busy, not queued without bound.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn calls_queue_in_order_and_a_full_queue_is_busy() {
        let Some(mut direct) = model() else { return };
        let ids = direct
            .tokenizer()
            .chat_prompt_messages(&[("user", "Name a colour.")])
            .unwrap();
        let expected = direct
            .generate_until(&ids, &GenerateParams { max_new_tokens: 8 }, |_, _| {
                ControlFlow::Continue(())
            })
            .unwrap();
        let worker = Arc::new(ChatWorker::start(model().unwrap(), "test", 1).unwrap());

        // The first call holds the thread until released.
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let (started, running) = tokio::sync::oneshot::channel::<()>();
        let mut started = Some(started);
        let blocking = {
            let worker = Arc::clone(&worker);
            tokio::spawn(async move {
                worker
                    .generate(prompt(), 8, move |_, _| {
                        if let Some(s) = started.take() {
                            let _ = s.send(());
                            let _ = hold.recv();
                        }
                        ControlFlow::Continue(())
                    })
                    .await
            })
        };
        running.await.unwrap();
        // The second call is queued at its first poll; the third finds the queue full.
        let second = worker.generate(prompt(), 8, |_, _| ControlFlow::Continue(()));
        tokio::pin!(second);
        assert!(futures::poll!(&mut second).is_pending());
        let third = worker.generate(prompt(), 8, |_, _| ControlFlow::Continue(()));
        match third.await {
            Err(RunError::Busy(name)) => assert_eq!(name, "test"),
            Ok(_) => panic!("a call ran while the thread was held"),
            Err(e) => panic!("unexpected error {e}"),
        }
        release.send(()).unwrap();
        let first = blocking.await.unwrap().unwrap();
        let second = second.await.unwrap();
        assert_eq!(first.token_ids, expected.token_ids);
        assert_eq!(second.token_ids, expected.token_ids);
        assert_eq!(second.output_hash, Hash(expected.output_hash));
    }
}
