//! `tessera blob`: CIDs of files, and moving files to and from a node's blob store.

use crate::{home::Home, Output};
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use tessera_blobs::{cid_of_file, BlobStore, Cid};
use tessera_rpc::RpcClient;

/// Files at least this large show a progress bar (on a terminal).
const PROGRESS_MIN_BYTES: u64 = 8 * 1024 * 1024;

#[derive(clap::Subcommand)]
pub enum BlobCommand {
    /// Print a file's CID (the one `ipfs add` gives it), without uploading.
    Cid { file: PathBuf },
    /// Upload a file to the node; an interrupted upload resumes where it stopped.
    Put { file: PathBuf },
    /// Download a file by CID, verifying every block; resumes where it stopped.
    Get {
        cid: Cid,
        /// Where to write it (default: the CID as file name).
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
}

/// A progress bar for `total` units, hidden for small work or when not on a terminal.
fn bar(total: u64, show: bool, unit: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    let template =
        format!("{{spinner}} [{{elapsed_precise}}] {{wide_bar}} {{pos}}/{{len}} {unit} ({{eta}})");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

pub async fn blob(
    home: &Home,
    client: &RpcClient,
    cmd: BlobCommand,
    out: &Output,
) -> anyhow::Result<()> {
    match cmd {
        BlobCommand::Cid { file } => {
            let cid = cid_of_file(&file)?;
            let json = serde_json::json!({ "cid": cid, "cid_v0": cid.to_v0_string() });
            out.show(&json, || cid.to_string())
        }
        BlobCommand::Put { file } => {
            let store = BlobStore::open(home.blob_dir())?;
            let size = std::fs::metadata(&file)
                .with_context(|| format!("cannot read {}", file.display()))?
                .len();
            let show = size >= PROGRESS_MIN_BYTES;
            let hashing = bar(size, show, "bytes hashed");
            let cid = store.put_file(&file, &|done, total| {
                hashing.set_length(total);
                hashing.set_position(done);
            })?;
            hashing.finish_and_clear();
            let sending = bar(0, show, "blocks sent");
            let info = client
                .upload(&store, &cid, &|done, total| {
                    sending.set_length(total);
                    sending.set_position(done);
                })
                .await?;
            sending.finish_and_clear();
            out.show(&info, || {
                format!(
                    "{} ({} bytes in {} blocks)",
                    info.cid, info.size_bytes, info.blocks
                )
            })
        }
        BlobCommand::Get { cid, out: path } => {
            let store = BlobStore::open(home.blob_dir())?;
            let path = path.unwrap_or_else(|| PathBuf::from(cid.to_string()));
            let receiving = bar(0, true, "bytes");
            receiving.set_draw_target(indicatif::ProgressDrawTarget::hidden());
            client
                .download(&store, &cid, &|done, total| {
                    if total >= PROGRESS_MIN_BYTES && receiving.is_hidden() {
                        receiving.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                    }
                    receiving.set_length(total);
                    receiving.set_position(done);
                })
                .await?;
            receiving.finish_and_clear();
            let size = store.export(&cid, &path)?;
            let json = serde_json::json!({ "cid": cid, "path": path, "size_bytes": size });
            out.show(&json, || {
                format!(
                    "wrote {} ({size} bytes, verified against {cid})",
                    path.display()
                )
            })
        }
    }
}
