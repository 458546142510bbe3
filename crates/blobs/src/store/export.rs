//! Reassembling a stored file on disk.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{fsio, BlobStore};
use crate::error::BlobError;
use crate::Cid;

impl BlobStore {
    /// Writes the file `cid` to `out`, verifying every block on the way. The bytes go to
    /// a temp file beside `out` that is fsynced and renamed over `out` only once the whole
    /// file has been verified: on any error `out` is left as it was. Returns the length.
    pub fn export(&self, cid: &Cid, out: impl AsRef<Path>) -> Result<u64, BlobError> {
        self.export_with_progress(cid, out, &|_, _| {})
    }

    /// [BlobStore::export], calling `progress(bytes_done, bytes_total)` at the start and
    /// after every block of data.
    pub fn export_with_progress(
        &self,
        cid: &Cid,
        out: impl AsRef<Path>,
        progress: &dyn Fn(u64, u64),
    ) -> Result<u64, BlobError> {
        let out = out.as_ref();
        let mut reader = self.get(cid)?;
        let total = reader.size();
        let tmp = self.partial_path(out);
        progress(0, total);
        let result = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .map_err(|e| BlobError::io("create", &tmp, e))?;
            let mut done = 0u64;
            while let Some(chunk) = reader.next_chunk()? {
                file.write_all(chunk)
                    .map_err(|e| BlobError::io("write", &tmp, e))?;
                done = done.saturating_add(chunk.len() as u64);
                progress(done, total);
            }
            file.sync_all()
                .map_err(|e| BlobError::io("sync", &tmp, e))?;
            drop(file);
            fs::rename(&tmp, out).map_err(|e| BlobError::io("rename into place", out, e))?;
            fsio::sync_dir(parent_dir(out))?;
            Ok(done)
        })();
        if result.is_err() {
            // Best effort: the partial file is hidden and carries the process id.
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// `.<name>.<pid>.<n>.partial` beside `out` (same file system, so the rename is atomic).
    fn partial_path(&self, out: &Path) -> PathBuf {
        let name = out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let unique = self.temp_path("export");
        let suffix = unique
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        parent_dir(out).join(format!(".{name}.{suffix}.partial"))
    }
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}
