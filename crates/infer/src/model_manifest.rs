//! A published model's manifest: the runtime tag and every file's path, size and CID
//! (JSON, format `tessera-model/1`). The chain registers the manifest's CID; everything
//! that fetches a model (the CLI's `model run`, the provider daemon) reads it here, from
//! untrusted bytes, with the same limits.
//!
//! Invariants:
//! * [`ModelManifest::parse`] accepts only the known format, 1 to [`MAX_MODEL_FILES`]
//!   files, each path a plain relative path listed once, at most [`MAX_MANIFEST_BYTES`].
//! * [`ModelManifest::to_bytes`] is canonical: files sorted by path, one serializer, so
//!   equal directories give equal manifest CIDs.

use crate::{InferError, Manifest, ManifestFile};
use serde::{Deserialize, Serialize};
use std::{
    collections::BTreeSet,
    path::{Component, Path, PathBuf},
};

/// Most files one model may have.
pub const MAX_MODEL_FILES: usize = 1_000;
/// Largest manifest accepted from a node (1,000 files need about 200 KB).
pub const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;
/// The manifest format this binary writes and reads.
pub const MANIFEST_FORMAT: &str = "tessera-model/1";
/// Sentence embeddings with candle's BERT (`model.safetensors`, `tokenizer.json`, `config.json`).
pub const RUNTIME_BERT: &str = "candle-bert";
/// Chat with a llama-architecture GGUF (one `.gguf` file).
pub const RUNTIME_GGUF: &str = "llama-gguf";
/// Runtimes this binary can run.
pub const RUNNABLE: [&str; 2] = [RUNTIME_BERT, RUNTIME_GGUF];

/// What a published model's manifest holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelManifest {
    pub format: String,
    pub runtime: String,
    pub files: Vec<ManifestFile>,
}

fn invalid(reason: String) -> InferError {
    InferError::InvalidManifest { reason }
}

impl ModelManifest {
    pub fn new(runtime: &str, mut files: Vec<ManifestFile>) -> ModelManifest {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        ModelManifest {
            format: MANIFEST_FORMAT.into(),
            runtime: runtime.into(),
            files,
        }
    }

    /// The canonical bytes: pretty JSON and a final newline.
    pub fn to_bytes(&self) -> Result<Vec<u8>, InferError> {
        let mut bytes = serde_json::to_vec_pretty(self).map_err(|e| invalid(e.to_string()))?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// Reads a manifest from untrusted bytes: known format, bounded, safe unique paths.
    pub fn parse(bytes: &[u8]) -> Result<ModelManifest, InferError> {
        if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_MANIFEST_BYTES {
            return Err(invalid(format!("larger than {MAX_MANIFEST_BYTES} bytes")));
        }
        let manifest: ModelManifest = serde_json::from_slice(bytes)
            .map_err(|e| invalid(format!("not valid manifest JSON ({e})")))?;
        if manifest.format != MANIFEST_FORMAT {
            return Err(invalid(format!(
                "its format is {:?}; this binary reads {MANIFEST_FORMAT:?} (upgrade tessera)",
                manifest.format
            )));
        }
        if manifest.files.is_empty() || manifest.files.len() > MAX_MODEL_FILES {
            return Err(invalid(format!(
                "it lists {} files; 1 to {MAX_MODEL_FILES} are allowed",
                manifest.files.len()
            )));
        }
        let mut seen = BTreeSet::new();
        for file in &manifest.files {
            safe_relative_path(&file.path)?;
            if !seen.insert(file.path.as_str()) {
                return Err(invalid(format!("it lists {:?} twice", file.path)));
            }
        }
        Ok(manifest)
    }

    /// The files to verify before loading.
    pub fn files_manifest(&self) -> Manifest {
        Manifest {
            files: self.files.clone(),
        }
    }

    pub fn total_bytes(&self) -> u64 {
        self.files
            .iter()
            .map(|f| f.size)
            .fold(0, u64::saturating_add)
    }
}

/// `path` as a relative path of plain components (no `..`, no root, no `\`), or an error.
pub fn safe_relative_path(path: &str) -> Result<PathBuf, InferError> {
    let rel = Path::new(path);
    let plain = !path.is_empty()
        && !path.contains('\\')
        && rel.components().all(|c| matches!(c, Component::Normal(_)));
    if !plain {
        return Err(invalid(format!(
            "the path {path:?} is not a plain relative path: refusing it"
        )));
    }
    Ok(rel.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_manifests_are_refused() {
        let file = |path: &str| ManifestFile {
            path: path.into(),
            size: 1,
            cid: "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"
                .parse()
                .unwrap(),
        };
        let ok = ModelManifest::new(RUNTIME_BERT, vec![file("b"), file("a/c")]);
        let bytes = ok.to_bytes().unwrap();
        assert_eq!(ModelManifest::parse(&bytes).unwrap(), ok);
        assert_eq!(ok.files[0].path, "a/c");
        for bad in [
            ModelManifest::new(RUNTIME_BERT, vec![file("../etc/passwd")]),
            ModelManifest::new(RUNTIME_BERT, vec![file("/abs")]),
            ModelManifest::new(RUNTIME_BERT, vec![file("x"), file("x")]),
            ModelManifest::new(RUNTIME_BERT, vec![]),
            ModelManifest {
                format: "other/1".into(),
                ..ok.clone()
            },
        ] {
            let bytes = serde_json::to_vec(&bad).unwrap();
            assert!(ModelManifest::parse(&bytes).is_err(), "{bad:?}");
        }
        assert!(ModelManifest::parse(&vec![b' '; 2 * 1024 * 1024]).is_err());
    }
}
