//! An append-only record file: the durable ledgers of the off-chain services (a
//! provider's vouchers and charges, a gateway's channels and reservations).
//!
//! # Format
//! A file of frames `len: u32 BE ‖ crc32(payload): u32 BE ‖ payload`. Opening reads every
//! frame; the first frame that is cut short, longer than the limit, or fails its
//! checksum ends the file (a write torn by a crash), and the file is truncated there.
//!
//! # Durability
//! * [`Journal::append`] returns once the frame is in the operating system's page cache:
//!   a process killed at any moment after that (SIGKILL included) loses nothing.
//! * [`Journal::sync`] fsyncs; services call it on a short timer (grouping many appends
//!   into one fsync), so a power loss costs at most the appends since the last sync.
//! * [`Journal::rewrite`] replaces the file with a compacted list of records: written to
//!   a temporary file, fsynced, renamed over the old one, the directory fsynced.
//!
//! # Invariants
//! * the records [`Journal::open`] returns are exactly the appended ones, in order, up to
//!   the last complete frame (tested with cuts at every byte).
//! * no record over `max_record_bytes` is written or read.

use std::{
    fs::{self, File, OpenOptions},
    io::{self, Read, Write},
    path::{Path, PathBuf},
    sync::Mutex,
};

/// Frame header: length and checksum.
const HEADER_BYTES: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot {action} the journal {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("a record of {size} bytes is over the journal's limit of {max}")]
    TooLarge { size: usize, max: usize },
    #[error("the journal's lock was poisoned by a panic: restart the service")]
    Poisoned,
}

/// An open journal.
pub struct Journal {
    path: PathBuf,
    max_record_bytes: usize,
    file: Mutex<Writer>,
}

struct Writer {
    file: File,
    dirty: bool,
}

impl Journal {
    /// Open (or create) the journal at `path` and return it with its records.
    pub fn open(
        path: impl AsRef<Path>,
        max_record_bytes: usize,
    ) -> Result<(Journal, Vec<Vec<u8>>), JournalError> {
        let path = path.as_ref().to_path_buf();
        let io = |action| {
            let path = path.clone();
            move |source| JournalError::Io {
                action,
                path,
                source,
            }
        };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io("create the directory of"))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io("open"))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io("read"))?;
        let (records, valid) = parse(&bytes, max_record_bytes);
        if valid < bytes.len() {
            file.set_len(u64::try_from(valid).unwrap_or(u64::MAX))
                .map_err(io("truncate the torn tail of"))?;
            file.sync_all().map_err(io("sync"))?;
        }
        let journal = Journal {
            path,
            max_record_bytes,
            file: Mutex::new(Writer { file, dirty: false }),
        };
        Ok((journal, records))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, action: &'static str) -> impl FnOnce(io::Error) -> JournalError + '_ {
        move |source| JournalError::Io {
            action,
            path: self.path.clone(),
            source,
        }
    }

    /// Append one record (in the page cache when this returns).
    pub fn append(&self, record: &[u8]) -> Result<(), JournalError> {
        let frame = frame(record, self.max_record_bytes)?;
        let mut writer = self.file.lock().map_err(|_| JournalError::Poisoned)?;
        writer
            .file
            .write_all(&frame)
            .map_err(self.io("append to"))?;
        writer.dirty = true;
        Ok(())
    }

    /// Fsync what was appended since the last sync (nothing to do if nothing was).
    pub fn sync(&self) -> Result<(), JournalError> {
        let mut writer = self.file.lock().map_err(|_| JournalError::Poisoned)?;
        if writer.dirty {
            writer.file.sync_data().map_err(self.io("sync"))?;
            writer.dirty = false;
        }
        Ok(())
    }

    /// Replace the journal's records with `records` (a compaction), atomically.
    pub fn rewrite<'r>(
        &self,
        records: impl IntoIterator<Item = &'r [u8]>,
    ) -> Result<(), JournalError> {
        let mut bytes = Vec::new();
        for record in records {
            bytes.extend(frame(record, self.max_record_bytes)?);
        }
        let tmp = self.path.with_extension("rewrite");
        let mut writer = self.file.lock().map_err(|_| JournalError::Poisoned)?;
        {
            let mut out = File::create(&tmp).map_err(self.io("create the rewrite of"))?;
            out.write_all(&bytes)
                .map_err(self.io("write the rewrite of"))?;
            out.sync_all().map_err(self.io("sync the rewrite of"))?;
        }
        fs::rename(&tmp, &self.path).map_err(self.io("replace"))?;
        if let Some(dir) = self.path.parent() {
            if let Ok(d) = File::open(dir) {
                d.sync_all().map_err(self.io("sync the directory of"))?;
            }
        }
        let file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(self.io("reopen"))?;
        *writer = Writer { file, dirty: false };
        Ok(())
    }
}

fn frame(record: &[u8], max: usize) -> Result<Vec<u8>, JournalError> {
    let len = u32::try_from(record.len())
        .ok()
        .filter(|_| record.len() <= max)
        .ok_or(JournalError::TooLarge {
            size: record.len(),
            max,
        })?;
    let mut out = Vec::with_capacity(record.len().saturating_add(HEADER_BYTES));
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&crc32fast::hash(record).to_be_bytes());
    out.extend_from_slice(record);
    Ok(out)
}

/// The records of `bytes` and the length of its valid prefix.
fn parse(bytes: &[u8], max: usize) -> (Vec<Vec<u8>>, usize) {
    let mut records = Vec::new();
    let mut at = 0usize;
    while let Some(header) = bytes.get(at..at.saturating_add(HEADER_BYTES)) {
        let (len, crc) = header.split_at(4);
        let len = u32::from_be_bytes(len.try_into().unwrap_or_default());
        let crc = u32::from_be_bytes(crc.try_into().unwrap_or_default());
        let Ok(len) = usize::try_from(len) else {
            break;
        };
        if len > max {
            break;
        }
        let start = at.saturating_add(HEADER_BYTES);
        let Some(payload) = bytes.get(start..start.saturating_add(len)) else {
            break;
        };
        if crc32fast::hash(payload) != crc {
            break;
        }
        records.push(payload.to_vec());
        at = start.saturating_add(len);
    }
    (records, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tessera-journal-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn records_come_back_in_order_after_reopening() {
        let path = dir("order").join("j.log");
        let (j, records) = Journal::open(&path, 64).unwrap();
        assert!(records.is_empty());
        for r in [&b"one"[..], b"", b"three"] {
            j.append(r).unwrap();
        }
        j.sync().unwrap();
        drop(j);
        let (_, records) = Journal::open(&path, 64).unwrap();
        assert_eq!(
            records,
            vec![b"one".to_vec(), Vec::new(), b"three".to_vec()]
        );
    }

    #[test]
    fn a_cut_at_any_byte_keeps_exactly_the_complete_records() {
        let path = dir("cut").join("j.log");
        let (j, _) = Journal::open(&path, 64).unwrap();
        let written: Vec<Vec<u8>> = (0u8..5).map(|i| vec![i; usize::from(i) * 3]).collect();
        for r in &written {
            j.append(r).unwrap();
        }
        drop(j);
        let full = fs::read(&path).unwrap();
        let mut ends = vec![0usize];
        for r in &written {
            ends.push(ends.last().unwrap() + HEADER_BYTES + r.len());
        }
        for cut in 0..=full.len() {
            fs::write(&path, &full[..cut]).unwrap();
            let (j, records) = Journal::open(&path, 64).unwrap();
            let complete = ends.iter().filter(|e| **e <= cut).count() - 1;
            assert_eq!(records, written[..complete].to_vec(), "cut at {cut}");
            // The torn tail is gone: a new append lands right after the last record.
            j.append(b"next").unwrap();
            drop(j);
            let (_, again) = Journal::open(&path, 64).unwrap();
            assert_eq!(again.len(), complete + 1);
        }
    }

    #[test]
    fn a_flipped_byte_ends_the_journal_there_and_oversized_records_are_refused() {
        let path = dir("flip").join("j.log");
        let (j, _) = Journal::open(&path, 8).unwrap();
        j.append(b"aaaa").unwrap();
        j.append(b"bbbb").unwrap();
        assert!(matches!(
            j.append(&[0; 9]),
            Err(JournalError::TooLarge { size: 9, max: 8 })
        ));
        drop(j);
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(&path, &bytes).unwrap();
        let (_, records) = Journal::open(&path, 8).unwrap();
        assert_eq!(records, vec![b"aaaa".to_vec()]);
    }

    #[test]
    fn a_rewrite_replaces_the_records() {
        let path = dir("rewrite").join("j.log");
        let (j, _) = Journal::open(&path, 64).unwrap();
        for r in [&b"a"[..], b"b", b"c"] {
            j.append(r).unwrap();
        }
        j.rewrite([&b"c"[..]]).unwrap();
        j.append(b"d").unwrap();
        drop(j);
        let (_, records) = Journal::open(&path, 64).unwrap();
        assert_eq!(records, vec![b"c".to_vec(), b"d".to_vec()]);
    }
}
