//! `tessera model run`: fetch a registered model's files by CID and run it on this machine.
//!
//! The chain names the manifest's CID; the manifest names each file's CID. Every block is
//! verified as it is downloaded, and every cached file is verified against its CID (by the
//! runtime's `load_verified`) before the model is loaded. Files are cached under
//! `<model cache>/by-cid/<manifest CID>/<path>`; a cached file that no longer matches is
//! fetched again once, then refused.
//!
//! # One copy on the client
//! The model cache holds the client's only copy of a file. A file's blocks are downloaded
//! into a blob store of their own, `<model cache>/downloads/<file CID>` (so an interrupted
//! download resumes), exported into the cache, and deleted. Only when this home's blob
//! store already has the whole file — a node runs on this home, or the file was published
//! from it — is the file exported from there instead; those blocks belong to that node or
//! publication and are left alone. The manifest (a few KB) stays in the home's blob store.

use crate::{home::Home, Output};
use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::{
    io::Write,
    path::{Path, PathBuf},
    time::Instant,
};
use tessera_blobs::{BlobStore, Cid};
use tessera_infer::{
    safe_relative_path, ModelManifest, MAX_MANIFEST_BYTES, RUNNABLE, RUNTIME_BERT, RUNTIME_GGUF,
};
use tessera_infer::{Embedder, GenerateParams, InferError, StopReason};

/// The text-generation runtime this binary serves with: llama.cpp when built with
/// `--features llama` (decision 0010: run-time CPU dispatch, ~5× candle's speed), else
/// candle's quantized kernels. Both give greedy answers the checker accepts.
#[cfg(feature = "llama")]
type ChatModel = tessera_infer::LlamaGenerator;
#[cfg(not(feature = "llama"))]
type ChatModel = tessera_infer::Generator;
use tessera_rpc::RpcClient;

/// Files at least this large show a download bar (on a terminal).
const PROGRESS_MIN_BYTES: u64 = 8 * 1024 * 1024;
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

/// Where a model's files are cached: `<model cache>/by-cid/<manifest CID>`.
pub fn cache_dir(manifest_cid: &Cid) -> PathBuf {
    tessera_infer::model_cache_dir()
        .join("by-cid")
        .join(manifest_cid.to_string())
}

/// Where a file's blocks wait while it downloads: `<model cache>/downloads/<file CID>`.
pub fn download_dir(file_cid: &Cid) -> PathBuf {
    tessera_infer::model_cache_dir()
        .join("downloads")
        .join(file_cid.to_string())
}

/// A registered model whose files are cached here and verified by the manifest's CIDs.
pub struct LocalModel {
    /// `name (model id, runtime)`, for messages.
    pub label: String,
    pub manifest_cid: Cid,
    pub manifest: ModelManifest,
    /// `<model cache>/by-cid/<manifest CID>`.
    pub dir: PathBuf,
    store: BlobStore,
}

impl LocalModel {
    /// Loads the model with `load` (which verifies every file's CID); a cached file that no
    /// longer matches is fetched again once.
    pub async fn load<T>(
        &self,
        client: &RpcClient,
        load: impl Fn(&Path, &tessera_infer::Manifest) -> Result<T, Box<InferError>>,
    ) -> anyhow::Result<T> {
        load_checked(client, &self.store, &self.manifest, &self.dir, load).await
    }
}

/// Looks `model` up on the node, downloads its manifest and every file not cached yet (each
/// block verified against its CID), and checks that this binary can run its runtime.
pub async fn fetch_model(
    home: &Home,
    client: &RpcClient,
    model: &str,
) -> anyhow::Result<LocalModel> {
    let model = client
        .model(model)
        .await
        .with_context(|| format!("cannot look up model {model:?} at {}", client.url()))?;
    let spec = &model.model.spec;
    if !RUNNABLE.contains(&spec.runtime.as_str()) {
        bail!(
            "model {} uses the runtime {:?}, which this binary cannot run (it runs {}): its files are at manifest {}",
            spec.name,
            spec.runtime,
            RUNNABLE.join(" and "),
            spec.manifest_cid
        );
    }
    let manifest_cid: Cid = spec.manifest_cid.parse().with_context(|| {
        format!(
            "the chain's manifest CID {:?} does not parse",
            spec.manifest_cid
        )
    })?;
    let store = BlobStore::open(home.blob_dir()).with_context(|| {
        format!(
            "cannot open the blob store in {}",
            home.blob_dir().display()
        )
    })?;
    let manifest = fetch_manifest(client, &store, &manifest_cid).await?;
    if manifest.runtime != spec.runtime {
        bail!(
            "the manifest {manifest_cid} says runtime {:?} but the chain registered {:?}: refusing to guess",
            manifest.runtime,
            spec.runtime
        );
    }
    let dir = cache_dir(&manifest_cid);
    fetch_files(client, &store, &manifest, &dir).await?;
    Ok(LocalModel {
        label: format!("{} (model {}, {})", spec.name, model.id.0, spec.runtime),
        manifest_cid,
        manifest,
        dir,
        store,
    })
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
            let embedder = local
                .load(client, |d, m| {
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
            let mut generator = local
                .load(client, |d, m| {
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

/// The manifest `cid`, downloaded (verified) unless the local store has it, and parsed.
async fn fetch_manifest(
    client: &RpcClient,
    store: &BlobStore,
    cid: &Cid,
) -> anyhow::Result<ModelManifest> {
    client
        .download(store, cid, &|_, _| {})
        .await
        .with_context(|| format!("cannot fetch the manifest {cid} from {}", client.url()))?;
    let bytes = store.get_bytes(cid, MAX_MANIFEST_BYTES)?;
    ModelManifest::parse(&bytes).with_context(|| format!("manifest {cid}"))
}

/// Puts every file of `manifest` under `dir`, downloading what is absent or of the wrong
/// size (contents are verified by the loader).
async fn fetch_files(
    client: &RpcClient,
    store: &BlobStore,
    manifest: &ModelManifest,
    dir: &Path,
) -> anyhow::Result<()> {
    let mut announced = false;
    for file in &manifest.files {
        let target = dir.join(safe_relative_path(&file.path)?);
        if std::fs::metadata(&target).is_ok_and(|m| m.is_file() && m.len() == file.size) {
            continue;
        }
        if !announced {
            eprintln!(
                "fetching {} files ({} bytes) into {}",
                manifest.files.len(),
                manifest.total_bytes(),
                dir.display()
            );
            announced = true;
        }
        fetch_file(client, store, &file.cid, &file.path, file.size, &target).await?;
    }
    Ok(())
}

/// Writes the file `cid` to `target`, verified block by block: from the home's blob
/// store when it holds the whole file, else downloaded into [`download_dir`], exported,
/// and the downloaded blocks deleted (see the module docs).
async fn fetch_file(
    client: &RpcClient,
    home_store: &BlobStore,
    cid: &Cid,
    name: &str,
    size: u64,
    target: &Path,
) -> anyhow::Result<()> {
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    // A partial or damaged copy here is not an error: the download below replaces it.
    if home_store.has(cid).unwrap_or(false) && home_store.export(cid, target).is_ok() {
        return Ok(());
    }
    let staging_dir = download_dir(cid);
    let staging = BlobStore::open(&staging_dir)
        .with_context(|| format!("cannot open the download store {}", staging_dir.display()))?;
    let bar = download_bar(size, name);
    client
        .download(&staging, cid, &|done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .await
        .with_context(|| format!("cannot download {name} ({cid}); run again to resume"))?;
    bar.finish_and_clear();
    staging
        .export(cid, target)
        .with_context(|| format!("cannot write {}", target.display()))?;
    drop(staging);
    if let Err(e) = std::fs::remove_dir_all(&staging_dir) {
        eprintln!(
            "could not remove the downloaded blocks in {} ({e}); they are not needed, delete them",
            staging_dir.display()
        );
    }
    Ok(())
}

fn download_bar(size: u64, name: &str) -> ProgressBar {
    if size < PROGRESS_MIN_BYTES || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr());
    let template =
        format!("{name} [{{elapsed_precise}}] {{wide_bar}} {{bytes}}/{{total_bytes}} ({{eta}})");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

/// Loads with `load` (which verifies every file's CID). A cached file that does not match
/// is removed and fetched again (downloaded, unless the home's blob store has it), once; a
/// second mismatch is an error.
async fn load_checked<T>(
    client: &RpcClient,
    store: &BlobStore,
    manifest: &ModelManifest,
    dir: &Path,
    load: impl Fn(&Path, &tessera_infer::Manifest) -> Result<T, Box<InferError>>,
) -> anyhow::Result<T> {
    let files = manifest.files_manifest();
    let bad_path = match load(dir, &files).map_err(|e| *e) {
        Ok(model) => return Ok(model),
        Err(
            InferError::CidMismatch { path, .. }
            | InferError::SizeMismatch { path, .. }
            | InferError::MissingFile { path },
        ) => path,
        Err(e) => return Err(e.into()),
    };
    eprintln!(
        "cached file {} does not match the manifest: fetching it again",
        bad_path.display()
    );
    if bad_path.starts_with(dir) {
        let _ = std::fs::remove_file(&bad_path);
    }
    fetch_files(client, store, manifest, dir).await?;
    load(dir, &files).map_err(|e| *e).with_context(|| {
        format!(
            "the model files in {} do not match the manifest even after fetching them again: remove the directory and retry, or suspect the local blob store {}",
            dir.display(),
            store.dir().display()
        )
    })
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
