//! `tessera model publish`: a model directory becomes blobs on the node, a manifest naming
//! them by CID, and a `RegisterModel` transaction carrying the manifest's CID — or, with
//! `--new-version-of MODEL`, an `AddModelVersion` transaction making that manifest the
//! existing model's next (and current) version. Only a model's creator may add versions;
//! the version keeps the model's runtime, terms and shares.
//!
//! # The manifest
//! JSON (`tessera-model/1`): the runtime tag and, per file, its path relative to the model
//! directory, its size and its CID (the infer crate's [`ManifestFile`], so
//! [`tessera_infer::Manifest`] reads the same bytes). Files are sorted by path and the JSON
//! is written by one serializer, so equal directories give equal manifest CIDs.
//!
//! # Limits
//! At most [`MAX_MODEL_FILES`] files, [`MAX_DIR_DEPTH`] directory levels and
//! [`MAX_MANIFEST_BYTES`] of manifest; symlinks must stay inside the directory.

use crate::{
    home::Home,
    models::{build_spec, Terms},
    Output,
};
use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::{
    path::{Component, Path, PathBuf},
    time::{Duration, Instant},
};
use tessera_blobs::{BlobStore, Cid};
use tessera_infer::{ManifestFile, ModelManifest, MAX_MODEL_FILES, RUNTIME_BERT, RUNTIME_GGUF};
use tessera_rpc::{
    api::{ModelResponse, TxResponse},
    RpcClient,
};
use tessera_types::{
    tx::ModelId, Address, Amount, Call, Event, Hash, Keypair, Transaction, TxStatus,
};

/// Deepest directory nesting under a model directory.
pub const MAX_DIR_DEPTH: usize = 16;
/// Files at least this large get a progress bar (on a terminal).
pub const PROGRESS_MIN_BYTES: u64 = 8 * 1024 * 1024;
/// How long to wait for the registration to be committed and final.
const WAIT_FOR_FINAL: Duration = Duration::from_secs(60);

/// `--name` and the terms register a new model; `--new-version-of` adds a version to an
/// existing one and takes no terms (they were fixed at registration).
#[derive(clap::Args)]
#[command(
    mut_arg("shares", |a| a.required(false).required_unless_present("new_version_of")),
    mut_arg("price", |a| a.required(false).required_unless_present("new_version_of"))
)]
pub struct PublishArgs {
    /// The model directory: every file under it is published.
    dir: PathBuf,
    /// Unique name of the new model: 1-64 characters of a-z, 0-9, '-'.
    #[arg(long, required_unless_present = "new_version_of")]
    name: Option<String>,
    /// Publish the files as the next version of this existing model (name or id) instead
    /// of registering a new one. Only its creator may; runtime, price, split and shares
    /// stay as registered, so no --runtime or terms options go with it.
    #[arg(long, value_name = "MODEL", conflicts_with_all = ["name", "runtime", "Terms"])]
    new_version_of: Option<String>,
    /// A note recorded with the new version (at most 256 bytes), e.g. "int8 weights".
    #[arg(long, value_name = "TEXT", conflicts_with_all = ["name", "Terms"])]
    note: Option<String>,
    /// Runtime tag (default: detected; a .gguf file is llama-gguf, model.safetensors +
    /// tokenizer.json + config.json is candle-bert).
    #[arg(long)]
    runtime: Option<String>,
    #[command(flatten)]
    terms: Option<Terms>,
    /// The key that signs and receives the shares (a name from `tessera keys list`).
    #[arg(long, value_name = "KEY")]
    from: String,
    /// Read the passphrase from the first line of this file (else TESSERA_PASSPHRASE, else a prompt).
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
}

/// A file found under a model directory.
#[derive(Clone, Debug)]
pub struct LocalFile {
    /// Relative path with `/` separators (the manifest's `path`).
    pub rel: String,
    /// Where to read it (a symlink's target).
    pub path: PathBuf,
    pub size: u64,
}

/// Every regular file under `dir`, sorted by relative path. Refuses an empty directory, a
/// symlink leading outside `dir`, more than [`MAX_MODEL_FILES`] files or
/// [`MAX_DIR_DEPTH`] levels, and names that are not UTF-8.
pub fn scan_dir(dir: &Path) -> anyhow::Result<Vec<LocalFile>> {
    let meta = std::fs::metadata(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    if !meta.is_dir() {
        bail!(
            "{} is not a directory: publish the directory holding the model's files",
            dir.display()
        );
    }
    let root = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))?;
    let mut files = Vec::new();
    let mut stack = vec![(root.clone(), 0usize)];
    while let Some((current, depth)) = stack.pop() {
        let entries = std::fs::read_dir(&current)
            .with_context(|| format!("cannot list {}", current.display()))?;
        for entry in entries {
            let path = entry
                .with_context(|| format!("cannot list {}", current.display()))?
                .path();
            let target = path.canonicalize().with_context(|| {
                format!("cannot resolve {} (a broken symlink?)", path.display())
            })?;
            if !target.starts_with(&root) {
                bail!(
                    "{} links to {}, outside {}: copy the file into the directory instead",
                    path.display(),
                    target.display(),
                    dir.display()
                );
            }
            let meta = std::fs::metadata(&target)
                .with_context(|| format!("cannot read {}", path.display()))?;
            if meta.is_dir() {
                if depth >= MAX_DIR_DEPTH {
                    bail!(
                        "{} is nested more than {MAX_DIR_DEPTH} levels deep (a symlink loop?)",
                        path.display()
                    );
                }
                stack.push((path, depth.saturating_add(1)));
            } else if meta.is_file() {
                let rel = relative_name(&root, &path)?;
                files.push(LocalFile {
                    rel,
                    path: target,
                    size: meta.len(),
                });
                if files.len() > MAX_MODEL_FILES {
                    bail!("{} holds more than {MAX_MODEL_FILES} files: a model directory should hold its weights, tokenizer and configuration; move the rest out", dir.display());
                }
            } else {
                bail!("{} is neither a file nor a directory", path.display());
            }
        }
    }
    if files.is_empty() {
        bail!(
            "{} holds no files: nothing to publish (put the model's weights, tokenizer and configuration in it)",
            dir.display()
        );
    }
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(files)
}

fn relative_name(root: &Path, path: &Path) -> anyhow::Result<String> {
    let rel = path.strip_prefix(root)?;
    let parts = rel
        .components()
        .map(|c| match c {
            Component::Normal(part) => part.to_str().map(str::to_owned),
            _ => None,
        })
        .collect::<Option<Vec<_>>>();
    match parts {
        Some(parts) if !parts.is_empty() => Ok(parts.join("/")),
        _ => bail!("{} has a name that is not UTF-8: rename it", path.display()),
    }
}

fn has_file(files: &[LocalFile], rel: &str) -> bool {
    files.iter().any(|f| f.rel == rel)
}

fn gguf_count(files: &[LocalFile]) -> usize {
    files.iter().filter(|f| f.rel.ends_with(".gguf")).count()
}

fn bert_files_present(files: &[LocalFile]) -> bool {
    [
        tessera_infer::WEIGHTS_FILE,
        tessera_infer::TOKENIZER_FILE,
        tessera_infer::CONFIG_FILE,
    ]
    .iter()
    .all(|name| has_file(files, name))
}

/// The runtime the files call for: one `.gguf` is `llama-gguf`; `model.safetensors`,
/// `tokenizer.json` and `config.json` are `candle-bert`.
pub fn detect_runtime(files: &[LocalFile]) -> anyhow::Result<&'static str> {
    match gguf_count(files) {
        1 => Ok(RUNTIME_GGUF),
        0 if bert_files_present(files) => Ok(RUNTIME_BERT),
        0 => bail!("cannot tell which runtime runs these files: a {RUNTIME_GGUF} model has one .gguf file, a {RUNTIME_BERT} model has model.safetensors, tokenizer.json and config.json at the top; for anything else pass --runtime TAG (this binary runs only {RUNTIME_BERT} and {RUNTIME_GGUF})"),
        n => bail!("{n} .gguf files: a {RUNTIME_GGUF} model has exactly one; publish each in a directory of its own"),
    }
}

/// Checks that the files fit a runtime this binary knows; unknown tags pass.
pub fn check_runtime_files(runtime: &str, files: &[LocalFile]) -> anyhow::Result<()> {
    match runtime {
        RUNTIME_GGUF if gguf_count(files) != 1 => bail!(
            "a {RUNTIME_GGUF} model has exactly one .gguf file; this directory has {}",
            gguf_count(files)
        ),
        RUNTIME_BERT if !bert_files_present(files) => bail!(
            "a {RUNTIME_BERT} model needs model.safetensors, tokenizer.json and config.json at the top of its directory"
        ),
        _ => Ok(()),
    }
}

/// What one publication did.
#[derive(Clone, Debug, Serialize)]
pub struct Published {
    pub model_id: ModelId,
    pub name: String,
    pub runtime: String,
    pub manifest_cid: Cid,
    pub files: usize,
    pub size_bytes: u64,
    pub tx: Hash,
    pub height: u64,
    #[serde(skip)]
    pub manifest_bytes: Vec<u8>,
}

/// What to publish.
pub struct Publication<'a> {
    pub dir: &'a Path,
    pub name: &'a str,
    /// `None`: detected from the files.
    pub runtime: Option<&'a str>,
    pub terms: &'a Terms,
}

/// A new version of a registered model: its files, and the note recorded with it.
pub struct NewVersion<'a> {
    pub dir: &'a Path,
    /// The model as the node reported it (see [`check_new_version`]).
    pub model: &'a ModelResponse,
    pub note: &'a str,
}

/// What publishing a version did.
#[derive(Clone, Debug, Serialize)]
pub struct PublishedVersion {
    pub model_id: ModelId,
    pub name: String,
    /// The version's index (0 is the registered manifest).
    pub version: u16,
    pub runtime: String,
    pub manifest_cid: Cid,
    pub note: String,
    pub files: usize,
    pub size_bytes: u64,
    pub tx: Hash,
    pub height: u64,
    #[serde(skip)]
    pub manifest_bytes: Vec<u8>,
}

/// A model directory in the local blob store, with its manifest.
struct Stored {
    manifest: ModelManifest,
    manifest_bytes: Vec<u8>,
    manifest_cid: Cid,
    size_bytes: u64,
}

/// Progress for people: steps on stderr (with a prefix), bars for large files on a terminal.
pub struct Reporter {
    pub prefix: String,
    pub bars: bool,
}

impl Reporter {
    pub fn step(&self, text: &str) {
        eprintln!("{}{text}", self.prefix);
    }

    /// A bar for `total` units of `unit`, drawn only for large files on a terminal.
    pub fn bar(&self, size_bytes: u64, label: &str, unit: &str) -> ProgressBar {
        if !self.bars || size_bytes < PROGRESS_MIN_BYTES {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        let template =
            format!("{label} [{{elapsed_precise}}] {{wide_bar}} {{pos}}/{{len}} {unit} ({{eta}})");
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style);
        }
        bar
    }
}

/// Checks the terms and the name, stores and uploads every file and the manifest, then
/// registers the model signed by `key` and waits until the registration is final.
pub async fn publish(
    client: &RpcClient,
    store: &BlobStore,
    key: &Keypair,
    publication: &Publication<'_>,
    report: &Reporter,
) -> anyhow::Result<Published> {
    let files = scan_dir(publication.dir)?;
    let runtime = match publication.runtime {
        Some(tag) => {
            check_runtime_files(tag, &files)?;
            tag
        }
        None => detect_runtime(&files)?,
    };
    // Everything the chain checks, before any upload (the CID is filled in below).
    let placeholder = tessera_blobs::cid_of_bytes(b"")?.to_string();
    build_spec(publication.name, &placeholder, runtime, publication.terms)?;
    ensure_name_free(client, publication.name).await?;
    report.step(&format!(
        "{}: {} files, {} bytes, runtime {runtime}",
        publication.name,
        files.len(),
        total_size(&files)
    ));
    let stored = store_files(store, &files, runtime, report)?;
    upload(client, store, &stored, report).await?;

    report.step(&format!(
        "registering with manifest {}",
        stored.manifest_cid
    ));
    let spec = build_spec(
        publication.name,
        &stored.manifest_cid.to_string(),
        runtime,
        publication.terms,
    )?;
    let (tx, height, events) = submit_and_wait(client, key, Call::RegisterModel(spec)).await?;
    let model_id = events
        .iter()
        .find_map(|e| match e {
            Event::ModelRegistered { model, .. } => Some(*model),
            _ => None,
        })
        .context("the registration committed without a ModelRegistered event")?;
    Ok(Published {
        model_id,
        name: publication.name.to_owned(),
        runtime: runtime.to_owned(),
        manifest_cid: stored.manifest_cid,
        files: stored.manifest.files.len(),
        size_bytes: stored.size_bytes,
        tx,
        height,
        manifest_bytes: stored.manifest_bytes,
    })
}

/// What the chain will check of `AddModelVersion` by `signer`, checked before any upload:
/// the signer is the model's creator, the note is valid, and a version is still free.
pub fn check_new_version(
    model: &ModelResponse,
    signer: &Address,
    note: &str,
) -> anyhow::Result<()> {
    let name = &model.model.spec.name;
    if model.model.creator != *signer {
        bail!(
            "only the creator of {name} ({}) can publish its versions, and {signer} is not it: sign with the creator's key (--from)",
            model.model.creator
        );
    }
    tessera_state::models::check_note(note)?;
    if usize::from(model.model.version_count) >= tessera_state::models::MAX_VERSIONS {
        bail!(
            "{name} already has {} versions, the most a model may have: register the new files as a new model (--name)",
            model.model.version_count
        );
    }
    Ok(())
}

/// Stores and uploads the files of `version.dir` and their manifest, then records the
/// manifest as the model's next version signed by `key` (its creator) and waits until
/// that is final. The files must fit the model's registered runtime.
pub async fn publish_version(
    client: &RpcClient,
    store: &BlobStore,
    key: &Keypair,
    version: &NewVersion<'_>,
    report: &Reporter,
) -> anyhow::Result<PublishedVersion> {
    let model = version.model;
    let spec = &model.model.spec;
    check_new_version(model, &key.address(), version.note)?;
    let files = scan_dir(version.dir)?;
    check_runtime_files(&spec.runtime, &files).with_context(|| {
        format!(
            "{} is registered with runtime {}, which every version keeps",
            spec.name, spec.runtime
        )
    })?;
    report.step(&format!(
        "{}: new version of {} files, {} bytes, runtime {}",
        spec.name,
        files.len(),
        total_size(&files),
        spec.runtime
    ));
    let stored = store_files(store, &files, &spec.runtime, report)?;
    if stored.manifest_cid.to_string() == spec.manifest_cid {
        bail!(
            "these files are already the current version of {} (manifest {}): change them, or nothing needs publishing",
            spec.name,
            stored.manifest_cid
        );
    }
    upload(client, store, &stored, report).await?;

    report.step(&format!(
        "adding version {} with manifest {}",
        model.model.version_count, stored.manifest_cid
    ));
    let call = Call::AddModelVersion {
        model: model.id,
        manifest_cid: stored.manifest_cid.to_string(),
        note: version.note.to_owned(),
    };
    let (tx, height, events) = submit_and_wait(client, key, call).await?;
    let index = events
        .iter()
        .find_map(|e| match e {
            Event::ModelVersionAdded { version, .. } => Some(*version),
            _ => None,
        })
        .context("the new version committed without a ModelVersionAdded event")?;
    Ok(PublishedVersion {
        model_id: model.id,
        name: spec.name.clone(),
        version: index,
        runtime: spec.runtime.clone(),
        manifest_cid: stored.manifest_cid,
        note: version.note.to_owned(),
        files: stored.manifest.files.len(),
        size_bytes: stored.size_bytes,
        tx,
        height,
        manifest_bytes: stored.manifest_bytes,
    })
}

fn total_size(files: &[LocalFile]) -> u64 {
    files.iter().map(|f| f.size).fold(0, u64::saturating_add)
}

/// Puts every file into the local blob store (hashing it) and writes their manifest.
fn store_files(
    store: &BlobStore,
    files: &[LocalFile],
    runtime: &str,
    report: &Reporter,
) -> anyhow::Result<Stored> {
    let mut entries = Vec::with_capacity(files.len());
    for file in files {
        let bar = report.bar(file.size, &format!("hashing {}", file.rel), "bytes");
        let cid = store
            .put_file(&file.path, &|done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })
            .with_context(|| format!("cannot store {}", file.path.display()))?;
        bar.finish_and_clear();
        entries.push(ManifestFile {
            path: file.rel.clone(),
            cid,
            size: file.size,
        });
    }
    let manifest = ModelManifest::new(runtime, entries);
    let manifest_bytes = manifest.to_bytes()?;
    let manifest_cid = store.put_bytes(&manifest_bytes)?;
    Ok(Stored {
        manifest,
        manifest_bytes,
        manifest_cid,
        size_bytes: total_size(files),
    })
}

/// Uploads every file of the manifest, then the manifest; resumable (blocks the node
/// has are skipped).
async fn upload(
    client: &RpcClient,
    store: &BlobStore,
    stored: &Stored,
    report: &Reporter,
) -> anyhow::Result<()> {
    report.step(&format!("uploading to {}", client.url()));
    for file in &stored.manifest.files {
        let bar = report.bar(file.size, &format!("uploading {}", file.path), "blocks");
        client
            .upload(store, &file.cid, &|done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })
            .await
            .with_context(|| {
                format!(
                    "upload of {} failed: run the same command again to resume",
                    file.path
                )
            })?;
        bar.finish_and_clear();
    }
    client
        .upload(store, &stored.manifest_cid, &|_, _| {})
        .await
        .context("upload of the manifest failed: run the same command again to resume")?;
    Ok(())
}

/// Fails if `name` is already registered.
async fn ensure_name_free(client: &RpcClient, name: &str) -> anyhow::Result<()> {
    match client.model(name).await {
        Ok(m) => bail!(
            "the name {name:?} is taken (model {} by {}, manifest {}): pick another --name",
            m.id.0,
            m.model.creator,
            m.model.spec.manifest_cid
        ),
        Err(e) if e.code() == Some("not_found") => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Signs `call` with `key`, submits it, waits until its block is final, and returns the tx
/// id, its height and its events; a failed call is an error.
pub async fn submit_and_wait(
    client: &RpcClient,
    key: &Keypair,
    call: Call,
) -> anyhow::Result<(Hash, u64, Vec<Event>)> {
    let status = client.status().await?;
    let address = key.address();
    let account = client.account(&address).await?;
    let mut tx = Transaction {
        chain_id: status.chain_id.clone(),
        signer: key.public_key().clone(),
        nonce: account.account.nonce,
        max_fee: Amount::ZERO,
        call,
    };
    let fee = status.params.fee_for(tx.signed_size())?;
    tx.max_fee = fee;
    if fee > account.account.balance {
        bail!(
            "insufficient funds: {address} needs {fee} TSR for the fee, its balance is {} TSR",
            account.account.balance
        );
    }
    let signed = tx.sign(key)?;
    let id = client.submit(&signed).await?;
    let start = Instant::now();
    let (height, receipt) = match client.wait_for_tx(id, WAIT_FOR_FINAL).await? {
        TxResponse::Committed {
            height, receipt, ..
        } => (height, receipt),
        TxResponse::Rejected { reason } => bail!("the transaction {id} was dropped: {reason}"),
        TxResponse::Pending | TxResponse::Unknown => {
            bail!("transaction {id} is not committed yet: check it with `tessera tx {id}`")
        }
    };
    if let TxStatus::Failed(failure) = &receipt.status {
        bail!(
            "transaction {id} was included but its call failed: {} (the fee was paid)",
            failure.text()
        );
    }
    while client.status().await?.finalized_height < height {
        if start.elapsed() > WAIT_FOR_FINAL {
            bail!("transaction {id} is committed at height {height} but not final yet: check it with `tessera tx {id}`");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok((id, height, receipt.events))
}

/// `tessera model publish`.
pub async fn publish_command(
    home: &Home,
    client: &RpcClient,
    args: PublishArgs,
    out: &Output,
) -> anyhow::Result<()> {
    // The key first: a wrong passphrase or signer should not cost an upload.
    let keystore = home.keystore();
    let signer = keystore.address(&args.from)?;
    let target = match &args.new_version_of {
        Some(model) => {
            let found = client.model(model).await.with_context(|| {
                format!(
                    "cannot look up model {model:?} at {}: `tessera model list` shows the registered ones",
                    client.url()
                )
            })?;
            check_new_version(&found, &signer, args.note.as_deref().unwrap_or_default())?;
            Some(found)
        }
        None => None,
    };
    let key = keystore.unlock(&args.from, args.passphrase_file.as_deref())?;
    let store = BlobStore::open(home.blob_dir()).with_context(|| {
        format!(
            "cannot open the blob store in {}",
            home.blob_dir().display()
        )
    })?;
    let report = Reporter {
        prefix: String::new(),
        bars: std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    match target {
        Some(model) => {
            let version = NewVersion {
                dir: &args.dir,
                model: &model,
                note: args.note.as_deref().unwrap_or_default(),
            };
            let published = publish_version(client, &store, &key, &version, &report).await?;
            show_version(home, &published, out)
        }
        None => {
            let (Some(name), Some(terms)) = (&args.name, &args.terms) else {
                bail!("say what to publish: --name NAME with --shares and --price for a new model, or --new-version-of MODEL");
            };
            let publication = Publication {
                dir: &args.dir,
                name,
                runtime: args.runtime.as_deref(),
                terms,
            };
            let published = publish(client, &store, &key, &publication, &report).await?;
            show_published(home, &published, out)
        }
    }
}

/// Where a copy of each published manifest is kept: `<home>/manifests/<CID>.json`.
fn manifest_copy_path(home: &Home, cid: &Cid) -> PathBuf {
    home.dir.join("manifests").join(format!("{cid}.json"))
}

fn show_published(home: &Home, published: &Published, out: &Output) -> anyhow::Result<()> {
    let manifest_path = manifest_copy_path(home, &published.manifest_cid);
    write_manifest_copy(&manifest_path, &published.manifest_bytes)?;
    let json = serde_json::json!({
        "model_id": published.model_id,
        "name": published.name,
        "runtime": published.runtime,
        "manifest_cid": published.manifest_cid,
        "manifest_path": manifest_path,
        "files": published.files,
        "size_bytes": published.size_bytes,
        "tx": published.tx,
        "height": published.height,
    });
    out.show(&json, || {
        format!(
            "published {} as model {}\n  runtime       {}\n  files         {} ({} bytes)\n  manifest CID  {}\n  manifest      {}\n  tx            {} (height {})\n  run it with   tessera model run {} \"...\"",
            published.name,
            published.model_id.0,
            published.runtime,
            published.files,
            published.size_bytes,
            published.manifest_cid,
            manifest_path.display(),
            published.tx,
            published.height,
            published.name
        )
    })
}

fn show_version(home: &Home, published: &PublishedVersion, out: &Output) -> anyhow::Result<()> {
    let manifest_path = manifest_copy_path(home, &published.manifest_cid);
    write_manifest_copy(&manifest_path, &published.manifest_bytes)?;
    let json = serde_json::json!({
        "model_id": published.model_id,
        "name": published.name,
        "version": published.version,
        "runtime": published.runtime,
        "manifest_cid": published.manifest_cid,
        "manifest_path": manifest_path,
        "note": published.note,
        "files": published.files,
        "size_bytes": published.size_bytes,
        "tx": published.tx,
        "height": published.height,
    });
    out.show(&json, || {
        format!(
            "published version {} of {} (model {}), now its current version\n  runtime       {}\n  files         {} ({} bytes)\n  manifest CID  {}\n  manifest      {}\n  note          {}\n  tx            {} (height {})\n  versions      tessera model show {}",
            published.version,
            published.name,
            published.model_id.0,
            published.runtime,
            published.files,
            published.size_bytes,
            published.manifest_cid,
            manifest_path.display(),
            if published.note.is_empty() { "-" } else { &published.note },
            published.tx,
            published.height,
            published.name
        )
    })
}

fn write_manifest_copy(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("tessera-publish-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn scan_lists_files_recursively_and_detects_runtimes() {
        let dir = temp_dir("scan");
        std::fs::create_dir_all(dir.join("1_Pooling")).unwrap();
        for name in [
            "model.safetensors",
            "tokenizer.json",
            "config.json",
            "1_Pooling/config.json",
        ] {
            std::fs::write(dir.join(name), name).unwrap();
        }
        let files = scan_dir(&dir).unwrap();
        let names: Vec<_> = files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(
            names,
            [
                "1_Pooling/config.json",
                "config.json",
                "model.safetensors",
                "tokenizer.json"
            ]
        );
        assert_eq!(detect_runtime(&files).unwrap(), RUNTIME_BERT);
        assert!(check_runtime_files(RUNTIME_GGUF, &files).is_err());
        std::fs::write(dir.join("m.gguf"), "x").unwrap();
        assert_eq!(
            detect_runtime(&scan_dir(&dir).unwrap()).unwrap(),
            RUNTIME_GGUF
        );
        std::fs::write(dir.join("n.gguf"), "x").unwrap();
        assert!(detect_runtime(&scan_dir(&dir).unwrap()).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn scan_refuses_empty_dirs_and_symlinks_outside() {
        let dir = temp_dir("refuse");
        let err = scan_dir(&dir).unwrap_err().to_string();
        assert!(err.contains("holds no files"), "{err}");
        let outside = temp_dir("outside");
        std::fs::write(outside.join("secret"), "x").unwrap();
        std::os::unix::fs::symlink(outside.join("secret"), dir.join("link")).unwrap();
        let err = scan_dir(&dir).unwrap_err().to_string();
        assert!(err.contains("outside"), "{err}");
        std::fs::remove_file(dir.join("link")).unwrap();
        std::fs::write(dir.join("a"), "x").unwrap();
        std::os::unix::fs::symlink(dir.join("a"), dir.join("b")).unwrap();
        assert_eq!(scan_dir(&dir).unwrap().len(), 2);
        let err = detect_runtime(&scan_dir(&dir).unwrap()).unwrap_err();
        assert!(err.to_string().contains("--runtime"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::remove_dir_all(&outside).unwrap();
    }

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: PublishArgs,
    }

    fn parse(args: &[&str]) -> Result<PublishArgs, String> {
        use clap::Parser;
        let all = ["tessera", "dir", "--from", "alice"].iter().chain(args);
        Cli::try_parse_from(all)
            .map(|cli| cli.args)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn publish_takes_a_name_and_terms_or_a_model_to_version() {
        let new = parse(&["--name", "m", "--shares", "10", "--price", "1"]).unwrap();
        assert_eq!(new.name.as_deref(), Some("m"));
        assert_eq!(new.terms.map(|t| t.shares), Some(10));
        let version = parse(&["--new-version-of", "m", "--note", "int8"]).unwrap();
        assert_eq!(version.new_version_of.as_deref(), Some("m"));
        assert_eq!(version.note.as_deref(), Some("int8"));
        assert!(version.terms.is_none() && version.name.is_none());
        for bad in [
            &["--name", "m"][..],
            &["--name", "m", "--shares", "10"],
            &[],
            &["--new-version-of", "m", "--name", "n"],
            &["--new-version-of", "m", "--price", "1"],
            &["--new-version-of", "m", "--split", "compute=100"],
            &["--new-version-of", "m", "--runtime", "x"],
            &[
                "--name", "m", "--shares", "10", "--price", "1", "--note", "x",
            ],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn manifest_round_trips_and_refuses_unsafe_paths() {
        let cid = tessera_blobs::cid_of_bytes(b"hello\n").unwrap();
        let file = |path: &str| ManifestFile {
            path: path.into(),
            cid,
            size: 6,
        };
        let manifest = ModelManifest::new(RUNTIME_BERT, vec![file("b"), file("a/c")]);
        let bytes = manifest.to_bytes().unwrap();
        assert_eq!(ModelManifest::parse(&bytes).unwrap(), manifest);
        assert_eq!(manifest.files[0].path, "a/c");
        // The infer crate reads the same bytes.
        let plain: tessera_infer::Manifest = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(plain, manifest.files_manifest());
        for bad in ["../x", "/etc/passwd", "a/../../b", "", "a\\b"] {
            let m = ModelManifest::new(RUNTIME_BERT, vec![file(bad)]);
            assert!(
                ModelManifest::parse(&m.to_bytes().unwrap()).is_err(),
                "{bad:?}"
            );
        }
        let twice = ModelManifest::new(RUNTIME_BERT, vec![file("a"), file("a")]);
        assert!(ModelManifest::parse(&twice.to_bytes().unwrap()).is_err());
    }
}
