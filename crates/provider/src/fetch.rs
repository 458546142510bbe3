//! Fetch a registered model's files by CID and load it, verified.
//!
//! The chain names the manifest's CID; the manifest names each file's CID. Every block is
//! verified as it is downloaded, and every cached file is verified against its CID (by the
//! runtime's `load_verified`) before the model is loaded. Files are cached under
//! `<model cache>/by-cid/<manifest CID>/<path>`; a cached file that no longer matches is
//! fetched again once, then refused.
//!
//! # One copy on the client
//! The model cache holds the only copy of a file. A file's blocks are downloaded into a
//! blob store of their own, `<model cache>/downloads/<file CID>` (so an interrupted
//! download resumes), exported into the cache, and deleted. Only when the home's blob
//! store already has the whole file (a node runs on this home, or the file was published
//! from it) is the file exported from there instead; those blocks are left alone.

use std::path::{Path, PathBuf};
use tessera_blobs::{BlobStore, Cid};
use tessera_infer::{InferError, Manifest, ModelManifest, MAX_MANIFEST_BYTES, RUNNABLE};
use tessera_rpc::{api::ModelResponse, RpcClient};
use tessera_types::tx::ModelId;

/// What a fetch reports while it works (the CLI draws bars from these).
#[derive(Clone, Debug)]
pub enum FetchEvent<'a> {
    /// Files are about to be downloaded: how many, how many bytes, where.
    Fetching {
        files: usize,
        bytes: u64,
        dir: &'a Path,
    },
    /// One file's download progress.
    File {
        name: &'a str,
        done_bytes: u64,
        total_bytes: u64,
    },
    /// A file finished.
    FileDone { name: &'a str },
    /// A cached file did not match its CID and is fetched again.
    Refetching { path: &'a Path },
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Node(#[from] tessera_rpc::RpcError),
    #[error("cannot look up model {model:?} at {node}: {source}")]
    Lookup {
        model: String,
        node: String,
        source: tessera_rpc::RpcError,
    },
    #[error("model {name} uses the runtime {runtime:?}, which this binary cannot run (it runs {}): its files are at manifest {cid}", RUNNABLE.join(" and "))]
    Unrunnable {
        name: String,
        runtime: String,
        cid: String,
    },
    #[error("cannot start the generation thread of model {name}: {reason}")]
    Thread { name: String, reason: String },
    #[error("the chain's manifest CID {0:?} does not parse")]
    BadCid(String),
    #[error("the manifest {cid} says runtime {found:?} but the chain registered {registered:?}: refusing to guess")]
    RuntimeMismatch {
        cid: Cid,
        found: String,
        registered: String,
    },
    #[error("cannot download {what} ({cid}) from {node}; run again to resume: {source}")]
    Download {
        what: String,
        cid: Cid,
        node: String,
        source: tessera_rpc::client::BlobTransferError,
    },
    #[error("blob store: {0}")]
    Blobs(#[from] tessera_blobs::BlobError),
    #[error(transparent)]
    Infer(#[from] InferError),
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the model files in {dir} do not match the manifest even after fetching them again: remove the directory and retry, or suspect the local blob store {store} ({source})")]
    StillCorrupt {
        dir: PathBuf,
        store: PathBuf,
        source: InferError,
    },
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
    pub id: ModelId,
    pub name: String,
    /// `name (model id, runtime)`, for messages.
    pub label: String,
    pub manifest_cid: Cid,
    pub manifest: ModelManifest,
    /// `<model cache>/by-cid/<manifest CID>`.
    pub dir: PathBuf,
    /// The model as the chain records it.
    pub record: ModelResponse,
    store: BlobStore,
}

impl LocalModel {
    /// Loads the model with `load` (which verifies every file's CID); a cached file that no
    /// longer matches is fetched again once.
    pub async fn load<T>(
        &self,
        client: &RpcClient,
        progress: &(dyn Fn(FetchEvent<'_>) + Sync),
        load: impl Fn(&Path, &Manifest) -> Result<T, Box<InferError>>,
    ) -> Result<T, FetchError> {
        let files = self.manifest.files_manifest();
        let bad_path = match load(&self.dir, &files).map_err(|e| *e) {
            Ok(model) => return Ok(model),
            Err(
                InferError::CidMismatch { path, .. }
                | InferError::SizeMismatch { path, .. }
                | InferError::MissingFile { path },
            ) => path,
            Err(e) => return Err(e.into()),
        };
        progress(FetchEvent::Refetching { path: &bad_path });
        if bad_path.starts_with(&self.dir) {
            let _ = std::fs::remove_file(&bad_path);
        }
        fetch_files(client, &self.store, &self.manifest, &self.dir, progress).await?;
        load(&self.dir, &files).map_err(|source| FetchError::StillCorrupt {
            dir: self.dir.clone(),
            store: self.store.dir().to_path_buf(),
            source: *source,
        })
    }
}

/// Looks `model` up on the node, downloads its manifest into the blob store at
/// `blob_dir` and every file not cached yet (each block verified against its CID), and
/// checks that this binary can run its runtime.
pub async fn fetch_model(
    blob_dir: &Path,
    client: &RpcClient,
    model: &str,
    progress: &(dyn Fn(FetchEvent<'_>) + Sync),
) -> Result<LocalModel, FetchError> {
    let record = client
        .model(model)
        .await
        .map_err(|source| FetchError::Lookup {
            model: model.into(),
            node: client.url().into(),
            source,
        })?;
    let spec = &record.model.spec;
    if !RUNNABLE.contains(&spec.runtime.as_str()) {
        return Err(FetchError::Unrunnable {
            name: spec.name.clone(),
            runtime: spec.runtime.clone(),
            cid: spec.manifest_cid.clone(),
        });
    }
    let manifest_cid: Cid = spec
        .manifest_cid
        .parse()
        .map_err(|_| FetchError::BadCid(spec.manifest_cid.clone()))?;
    let store = BlobStore::open(blob_dir)?;
    let manifest = fetch_manifest(client, &store, &manifest_cid).await?;
    if manifest.runtime != spec.runtime {
        return Err(FetchError::RuntimeMismatch {
            cid: manifest_cid,
            found: manifest.runtime,
            registered: spec.runtime.clone(),
        });
    }
    let dir = cache_dir(&manifest_cid);
    fetch_files(client, &store, &manifest, &dir, progress).await?;
    Ok(LocalModel {
        id: record.id,
        name: spec.name.clone(),
        label: format!("{} (model {}, {})", spec.name, record.id.0, spec.runtime),
        manifest_cid,
        manifest,
        dir,
        record,
        store,
    })
}

/// The manifest `cid`, downloaded (verified) unless the local store has it, and parsed.
async fn fetch_manifest(
    client: &RpcClient,
    store: &BlobStore,
    cid: &Cid,
) -> Result<ModelManifest, FetchError> {
    client
        .download(store, cid, &|_, _| {})
        .await
        .map_err(|source| FetchError::Download {
            what: "the manifest".into(),
            cid: *cid,
            node: client.url().into(),
            source,
        })?;
    let bytes = store.get_bytes(cid, MAX_MANIFEST_BYTES)?;
    Ok(ModelManifest::parse(&bytes)?)
}

/// Puts every file of `manifest` under `dir`, downloading what is absent or of the wrong
/// size (contents are verified by the loader).
async fn fetch_files(
    client: &RpcClient,
    store: &BlobStore,
    manifest: &ModelManifest,
    dir: &Path,
    progress: &(dyn Fn(FetchEvent<'_>) + Sync),
) -> Result<(), FetchError> {
    let mut announced = false;
    for file in &manifest.files {
        let target = dir.join(tessera_infer::safe_relative_path(&file.path)?);
        if std::fs::metadata(&target).is_ok_and(|m| m.is_file() && m.len() == file.size) {
            continue;
        }
        if !announced {
            progress(FetchEvent::Fetching {
                files: manifest.files.len(),
                bytes: manifest.total_bytes(),
                dir,
            });
            announced = true;
        }
        // Another process fetching the same file into the same cache (two providers on
        // one machine) may finish first and remove the shared download store under us,
        // or hold the export's temporary file: its complete copy is as good as ours (the
        // loader verifies its CID). Failing that, one more try once it is done.
        let done_elsewhere =
            || std::fs::metadata(&target).is_ok_and(|m| m.is_file() && m.len() == file.size);
        let mut fetched = fetch_file(client, store, &file.cid, &file.path, &target, progress).await;
        if fetched.is_err() && !done_elsewhere() {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            if !done_elsewhere() {
                fetched = fetch_file(client, store, &file.cid, &file.path, &target, progress).await;
            }
        }
        match fetched {
            Err(e) if !done_elsewhere() => return Err(e),
            Err(e) => tracing::debug!(
                "{} was fetched by another process meanwhile ({e})",
                file.path
            ),
            Ok(()) => {}
        }
    }
    Ok(())
}

/// Writes the file `cid` to `target`, verified block by block (see the module docs).
async fn fetch_file(
    client: &RpcClient,
    home_store: &BlobStore,
    cid: &Cid,
    name: &str,
    target: &Path,
    progress: &(dyn Fn(FetchEvent<'_>) + Sync),
) -> Result<(), FetchError> {
    let io = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| FetchError::Io {
            action,
            path,
            source,
        }
    };
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(io("create", parent))?;
    }
    // A partial or damaged copy here is not an error: the download below replaces it.
    if home_store.has(cid).unwrap_or(false) && home_store.export(cid, target).is_ok() {
        return Ok(());
    }
    let staging_dir = download_dir(cid);
    let staging = BlobStore::open(&staging_dir)?;
    client
        .download(&staging, cid, &|done, total| {
            progress(FetchEvent::File {
                name,
                done_bytes: done,
                total_bytes: total,
            })
        })
        .await
        .map_err(|source| FetchError::Download {
            what: name.into(),
            cid: *cid,
            node: client.url().into(),
            source,
        })?;
    progress(FetchEvent::FileDone { name });
    staging.export(cid, target)?;
    drop(staging);
    if let Err(e) = std::fs::remove_dir_all(&staging_dir) {
        tracing::warn!(
            "could not remove the downloaded blocks in {} ({e}); they are not needed, delete them",
            staging_dir.display()
        );
    }
    Ok(())
}
