//! Crash-safe file writes: temp file, fsync, rename.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::error::BlobError;

/// Writes the concatenation of `parts` to `path`: first to `tmp` (created fresh), then
/// `fdatasync`, then `rename` over `path`. Whatever happens, `path` either keeps its old
/// contents or holds exactly the new bytes; on error `tmp` is removed.
///
/// The rename is durable only once the directory is synced ([sync_dir]).
pub(crate) fn write_atomic(tmp: &Path, path: &Path, parts: &[&[u8]]) -> Result<(), BlobError> {
    let result = write_then_rename(tmp, path, parts);
    if result.is_err() {
        // Best effort: a leftover temp file is harmless and removed at the next open.
        let _ = fs::remove_file(tmp);
    }
    result
}

fn write_then_rename(tmp: &Path, path: &Path, parts: &[&[u8]]) -> Result<(), BlobError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .map_err(|e| BlobError::io("create", tmp, e))?;
    for part in parts {
        file.write_all(part)
            .map_err(|e| BlobError::io("write", tmp, e))?;
    }
    file.sync_data()
        .map_err(|e| BlobError::io("sync", tmp, e))?;
    drop(file);
    fs::rename(tmp, path).map_err(|e| BlobError::io("rename into place", path, e))
}

/// Makes renames into `dir` durable (fsync of the directory). A no-op where directories
/// cannot be opened (Windows).
pub(crate) fn sync_dir(dir: &Path) -> Result<(), BlobError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| BlobError::io("sync directory", dir, e))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Removes files in `dir` last modified more than `age` ago: temp files left by a crash.
/// Younger ones may belong to a write in progress in another process, so they stay.
pub(crate) fn remove_stale(dir: &Path, age: Duration) -> Result<usize, BlobError> {
    let entries = fs::read_dir(dir).map_err(|e| BlobError::io("list", dir, e))?;
    let now = SystemTime::now();
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(|e| BlobError::io("list", dir, e))?;
        let path = entry.path();
        let Ok(modified) = entry.metadata().and_then(|m| m.modified()) else {
            continue;
        };
        let stale = now
            .duration_since(modified)
            .is_ok_and(|elapsed| elapsed > age);
        if stale && fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}
