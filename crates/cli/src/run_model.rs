//! `tessera model run`: fetch a registered model's files by CID (verified, see
//! `tessera_provider::fetch`) and run it on this machine.

use crate::{home::Home, Output};
use anyhow::{bail, Context};
use std::{io::Write, time::Instant};
use tessera_blobs::Cid;
use tessera_infer::{Embedder, GenerateParams, StopReason};
use tessera_infer::{RUNTIME_BERT, RUNTIME_GGUF};
pub use tessera_provider::fetch::LocalModel;

/// The text-generation runtime (llama.cpp with `--features llama`, decision 0010).
use tessera_provider::runtime::ChatModel;
use tessera_rpc::RpcClient;

/// Values of the embedding printed as text (`--json` prints all).
const SHOWN_VALUES: usize = 8;

#[derive(clap::Args)]
pub struct RunArgs {
    /// Model name or id.
    model: String,
    /// The input: text to embed (candle-bert) or a chat message (llama-gguf).
    input: String,
    /// Most tokens to generate (llama-gguf).
    #[arg(long, default_value_t = 256, value_name = "N")]
    max_tokens: usize,
    /// A system message before the input (llama-gguf).
    #[arg(long, value_name = "TEXT")]
    system: Option<String>,
}

/// Looks `model` up on the node and fetches its files (each block verified against its
/// CID), printing progress: `tessera_provider::fetch` does the work.
pub async fn fetch_model(
    home: &Home,
    client: &RpcClient,
    model: &str,
) -> anyhow::Result<LocalModel> {
    let progress = crate::services::progress_printer();
    Ok(tessera_provider::fetch::fetch_model(&home.blob_dir(), client, model, &progress).await?)
}

pub async fn run(
    home: &Home,
    client: &RpcClient,
    args: RunArgs,
    out: &Output,
) -> anyhow::Result<()> {
    let local = fetch_model(home, client, &args.model).await?;
    match local.manifest.runtime.as_str() {
        RUNTIME_BERT => {
            let start = Instant::now();
            let progress = crate::services::progress_printer();
            let embedder = local
                .load(client, &progress, |d, m| {
                    Embedder::load_verified(d, m).map_err(Box::new)
                })
                .await?;
            let load_ms = start.elapsed().as_secs_f64() * 1000.0;
            let run = Embedding {
                label: &local.label,
                manifest_cid: &local.manifest_cid,
                load_ms,
            };
            embed(&embedder, &args.input, &run, out)
        }
        RUNTIME_GGUF => {
            let progress = crate::services::progress_printer();
            let mut generator = local
                .load(client, &progress, |d, m| {
                    ChatModel::load_verified(d, m).map_err(Box::new)
                })
                .await?;
            chat(
                &mut generator,
                &args,
                &local.label,
                &local.manifest_cid,
                out,
            )
        }
        other => bail!("runtime {other:?} cannot run here"),
    }
}

/// What `embed` reports besides the vector.
struct Embedding<'a> {
    label: &'a str,
    manifest_cid: &'a Cid,
    /// Verifying the cached files against their CIDs and loading the model.
    load_ms: f64,
}

fn embed(embedder: &Embedder, input: &str, run: &Embedding, out: &Output) -> anyhow::Result<()> {
    let Embedding {
        label,
        manifest_cid,
        load_ms,
    } = *run;
    let start = Instant::now();
    let vector = embedder
        .embed(&[input])?
        .pop()
        .context("the embedder returned no vector")?;
    let elapsed_ms = start.elapsed().as_secs_f64() * 1000.0;
    let hash = hex::encode(tessera_infer::output_hash(&vector));
    let kernel = tessera_infer::kernel_path_id();
    let json = serde_json::json!({
        "model": label,
        "manifest_cid": manifest_cid,
        "input": input,
        "dim": vector.len(),
        "embedding": vector,
        "output_hash": hash,
        "kernel_path_id": kernel,
        "elapsed_ms": elapsed_ms,
        "load_ms": load_ms,
    });
    out.show(&json, || {
        let shown: Vec<String> = vector
            .iter()
            .take(SHOWN_VALUES)
            .map(|v| format!("{v:.5}"))
            .collect();
        format!(
            "{label}: {} dimensions\n  [{}, ...]\n  output hash  {hash}\n  kernel path  {kernel}\n  time         {elapsed_ms:.1} ms (verify and load: {load_ms:.0} ms)",
            vector.len(),
            shown.join(", ")
        )
    })
}

fn chat(
    generator: &mut ChatModel,
    args: &RunArgs,
    label: &str,
    manifest_cid: &Cid,
    out: &Output,
) -> anyhow::Result<()> {
    let prompt = generator
        .tokenizer()
        .chat_prompt(args.system.as_deref(), &args.input)?;
    let params = GenerateParams {
        max_new_tokens: args.max_tokens,
    };
    let stream = !out.json;
    let mut stdout = std::io::stdout().lock();
    let start = Instant::now();
    let generation = generator.generate(&prompt, &params, |_, piece| {
        if stream && !piece.is_empty() {
            // A closed stdout (e.g. `| head`) must not stop the generation's bookkeeping.
            let _ = stdout.write_all(piece.as_bytes());
            let _ = stdout.flush();
        }
    })?;
    let seconds = start.elapsed().as_secs_f64();
    let tokens = generation.token_ids.len();
    let tokens_per_s = if seconds > 0.0 {
        tokens as f64 / seconds
    } else {
        0.0
    };
    let hash = hex::encode(generation.output_hash);
    let stop = match generation.stop {
        StopReason::Eos => "eos",
        StopReason::MaxTokens => "max_tokens",
        StopReason::Cancelled => "cancelled",
    };
    if out.json {
        drop(stdout);
        let json = serde_json::json!({
            "model": label,
            "manifest_cid": manifest_cid,
            "input": args.input,
            "system": args.system,
            "text": generation.text,
            "token_ids": generation.token_ids,
            "tokens": tokens,
            "prompt_tokens": generation.prompt_ids.len(),
            "stop": stop,
            "seconds": seconds,
            "tokens_per_s": tokens_per_s,
            "output_hash": hash,
            "kernel_path_id": generation.kernel_path_id,
        });
        return out.show(&json, String::new);
    }
    let _ = writeln!(stdout);
    drop(stdout);
    eprintln!(
        "{label}: {tokens} tokens in {seconds:.2} s ({tokens_per_s:.1} tok/s), stop {stop}, output hash {hash}, kernel path {}",
        generation.kernel_path_id
    );
    Ok(())
}
