//! Reading a GGUF file: its header (metadata and tensor table) and typed metadata values.
//!
//! # Invariants
//! * The header is parsed by candle's `gguf_file`, which bounds every string and array
//!   length by the bytes left in the file; tensors are read later, one by one, by name.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{Content, Value};

use crate::error::InferError;

/// An open GGUF file with its parsed header.
pub struct GgufFile {
    pub(crate) path: PathBuf,
    pub(crate) content: Content,
    pub(crate) reader: BufReader<File>,
}

impl GgufFile {
    /// Opens `path` and parses its header (not the tensors).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, InferError> {
        let path = path.as_ref().to_owned();
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(InferError::MissingFile { path })
            }
            Err(source) => {
                return Err(InferError::Io {
                    action: "open",
                    path,
                    source,
                })
            }
        };
        let mut reader = BufReader::new(file);
        let content = Content::read(&mut reader).map_err(|source| InferError::Gguf {
            path: path.clone(),
            source,
        })?;
        Ok(GgufFile {
            path,
            content,
            reader,
        })
    }

    /// The metadata value under `key`.
    pub(crate) fn value(&self, key: &'static str) -> Result<&Value, InferError> {
        self.content
            .metadata
            .get(key)
            .ok_or_else(|| InferError::GgufMetadata {
                key,
                reason: "missing".to_owned(),
            })
    }

    pub(crate) fn string(&self, key: &'static str) -> Result<&str, InferError> {
        self.value(key)?
            .to_string()
            .map(String::as_str)
            .map_err(|e| malformed(key, e))
    }

    pub(crate) fn u32(&self, key: &'static str) -> Result<u32, InferError> {
        self.value(key)?.to_u32().map_err(|e| malformed(key, e))
    }

    /// A `u32` metadata value as a `usize` (they are lengths and counts).
    pub(crate) fn usize(&self, key: &'static str) -> Result<usize, InferError> {
        let v = self.u32(key)?;
        usize::try_from(v).map_err(|e| malformed(key, e))
    }

    pub(crate) fn f32(&self, key: &'static str) -> Result<f32, InferError> {
        self.value(key)?.to_f32().map_err(|e| malformed(key, e))
    }

    pub(crate) fn array(&self, key: &'static str) -> Result<&[Value], InferError> {
        self.value(key)?
            .to_vec()
            .map(Vec::as_slice)
            .map_err(|e| malformed(key, e))
    }
}

pub(crate) fn malformed(key: &'static str, e: impl std::fmt::Display) -> InferError {
    InferError::GgufMetadata {
        key,
        reason: e.to_string(),
    }
}
