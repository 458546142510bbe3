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
    runtime::{Prompt, Served},
};
use tessera_rpc::RpcClient;
use tessera_types::tx::ModelId;

/// The validator's own run of the subnet's model.
pub enum Reference {
    Embed(Served),
    Chat(ChatChecker),
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
        let record = client.model(&model.0.to_string()).await?;
        if record.model.spec.runtime != RUNTIME_GGUF {
            return Ok(Reference::Embed(
                Served::load(blob_dir, client, model, progress).await?,
            ));
        }
        let local = fetch_model(blob_dir, client, &model.0.to_string(), progress).await?;
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
    pub async fn generation_checks_out(&self, prompt: Prompt, claimed: Vec<u32>) -> Option<bool> {
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
async fn run_check(checker: Checker, prompt: Prompt, claimed: Vec<u32>) -> Option<bool> {
    tokio::task::spawn_blocking(move || {
        let checker = checker.lock().ok()?;
        let prompt_ids = prompt.token_ids(checker.tokenizer()).ok()?;
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
