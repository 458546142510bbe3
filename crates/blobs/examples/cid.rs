//! Prints the CID of each file given, as `ipfs add` would (CIDv1, then CIDv0).
//!
//! `cargo run --release -p tessera-blobs --example cid -- <file>...`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut status = ExitCode::SUCCESS;
    for path in std::env::args_os().skip(1) {
        match tessera_blobs::cid_of_file(&path) {
            Ok(cid) => println!("{cid}  {}  {}", cid.to_v0_string(), path.to_string_lossy()),
            Err(e) => {
                eprintln!("{e}");
                status = ExitCode::FAILURE;
            }
        }
    }
    status
}
