//! Stores a file in a blob store, then exports it back, showing progress and timings.
//!
//! `cargo run --release -p tessera-blobs --example put -- <store-dir> <file> [<out>]`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use tessera_blobs::BlobStore;

fn progress(done: u64, total: u64) {
    let percent = done.saturating_mul(100).checked_div(total).unwrap_or(100);
    eprint!("\r{percent:3}% {done}/{total} bytes");
    let _ = std::io::stderr().flush();
}

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let [store_dir, file, rest @ ..] = &args[..] else {
        eprintln!("usage: put <store-dir> <file> [<out>]");
        return ExitCode::FAILURE;
    };
    let run = || -> Result<(), tessera_blobs::BlobError> {
        let store = BlobStore::open(store_dir)?;
        let started = Instant::now();
        let cid = store.put_file(file, &progress)?;
        eprintln!(
            "\nput    {cid} ({}) in {:.2?}",
            cid.to_v0_string(),
            started.elapsed()
        );
        if let Some(out) = rest.first() {
            let started = Instant::now();
            let len = store.export_with_progress(&cid, out, &progress)?;
            eprintln!("\nexport {len} bytes in {:.2?}", started.elapsed());
        }
        Ok(())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\n{e}");
            ExitCode::FAILURE
        }
    }
}
