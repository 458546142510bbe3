//! `tessera node --config FILE` with `role = "full"`: a node that follows a validator
//! network without voting. It serves the same HTTP API as a validator (wallets,
//! providers and tools work unchanged against it) and forwards the transactions it
//! admits to the validators.
//!
//! ```toml
//! role = "full"
//! data_dir = "data"
//! genesis = "../genesis.json"
//! rpc_listen = "127.0.0.1:26661"
//!
//! [[validators]]        # validators to read blocks from (`rpc`) and forward to
//! public_key = "<64 hex characters>"
//! p2p = "127.0.0.1:27657"
//! rpc = "http://127.0.0.1:26657"
//! ```
//!
//! How it follows: for the next height it asks a validator's API for the block and the
//! consensus certificate that finalized it (`GET /v1/finality/{height}`), checks the
//! certificate against the validator set its own state chose for that epoch (genesis
//! stake, then the top bonded accounts at each epoch boundary: a quorum of signatures
//! over exactly that block's hash), then re-executes the block and checks its state root
//! before committing. A server on another chain, a forged block (a body its certified
//! header does not commit to) or a wrong certificate is refused and the next validator
//! is asked. A wiped data directory resyncs from
//! genesis the same way.

use crate::validator::{parse_validators, read_genesis, ValidatorEntry};
use anyhow::bail;
use commonware_runtime::Runner as _;
use serde::{Deserialize, Serialize};
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};
use tessera_chain::{Chain, ChainError};
use tessera_consensus::FinalityVerifier;
use tessera_rpc::{
    client::{RpcClient, RpcError},
    server::{router, AppState},
};
use tessera_state::Genesis;
use tessera_store::StoreContext;
use tokio::sync::broadcast::error::RecvError;

/// Wait before asking again for a height that is not final yet.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Wait after a validator failed to answer (or answered wrongly) before the next one.
const RETRY_INTERVAL: Duration = Duration::from_millis(500);
/// How often catch-up progress is printed.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(5);

/// A full node's config file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FullNodeConfigFile {
    /// Must be `full`.
    pub role: String,
    pub data_dir: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob_dir: Option<PathBuf>,
    pub genesis: PathBuf,
    pub rpc_listen: SocketAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blobs: Option<crate::validator::BlobsSection>,
    pub validators: Vec<ValidatorEntry>,
}

/// Which kind of node a config file describes (`role`, default `validator`).
pub fn role_of(path: &Path) -> anyhow::Result<String> {
    #[derive(Deserialize)]
    struct Probe {
        role: Option<String>,
    }
    let probe: Probe = crate::validator::load_toml(path)?;
    Ok(probe.role.unwrap_or_else(|| "validator".into()))
}

struct Settings {
    data_dir: PathBuf,
    blob_dir: PathBuf,
    blobs: crate::validator::BlobsSection,
    genesis: Genesis,
    rpc_listen: SocketAddr,
    sources: Vec<RpcClient>,
}

impl FullNodeConfigFile {
    pub fn load(path: &Path) -> anyhow::Result<FullNodeConfigFile> {
        crate::validator::load_toml(path)
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        crate::validator::save_toml(self, path)
    }

    fn validate(self, path: &Path) -> anyhow::Result<Settings> {
        if self.role != "full" {
            bail!(
                "`role` is {:?}: a full node's config says role = \"full\"",
                self.role
            );
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let genesis = read_genesis(&base.join(&self.genesis))?;
        // Checked like a validator's list (valid keys, no duplicates), though finality is
        // checked against the set the chain's own state chose.
        parse_validators(&self.validators)?;
        let mut sources = Vec::with_capacity(self.validators.len());
        for (i, v) in self.validators.iter().enumerate() {
            if !v.rpc.starts_with("http://") && !v.rpc.starts_with("https://") {
                bail!(
                    "`validators[{i}].rpc` must be an http:// or https:// URL, not {:?}",
                    v.rpc
                );
            }
            sources.push(RpcClient::new(&v.rpc));
        }
        Ok(Settings {
            data_dir: base.join(&self.data_dir),
            blob_dir: base.join(self.blob_dir.as_deref().unwrap_or(Path::new("blobs"))),
            blobs: crate::validator::BlobsSection::checked(self.blobs)?,
            genesis,
            rpc_listen: self.rpc_listen,
            sources,
        })
    }
}

/// Run a full node until Ctrl-C (or until it meets a block it cannot commit).
pub fn run(config_path: &Path) -> anyhow::Result<()> {
    let settings = FullNodeConfigFile::load(config_path)?.validate(config_path)?;
    crate::validator::node_runner(&settings.data_dir)?.start(|context| async move {
        let Settings {
            data_dir,
            blob_dir,
            blobs: blob_settings,
            genesis,
            rpc_listen,
            sources,
        } = settings;
        let (chain, listener, blobs) = crate::validator::open_node(
            &context,
            &genesis,
            &data_dir,
            &blob_dir,
            &blob_settings,
            rpc_listen,
        )
        .await?;
        let app = router(
            AppState::new(chain.clone(), "full")
                .with_blobs(Arc::new(blobs), blob_settings.accept_uploads),
        );
        let server = tessera_http::spawn(listener, app, tessera_http::Limits::default());
        let forwarder = tokio::spawn(forward(chain.clone(), sources.clone()));
        eprintln!(
            "tessera full node: chain {} at height {}, following {} validators; API on http://{rpc_listen}",
            genesis.chain_id,
            chain.head().height,
            sources.len()
        );
        eprintln!("press Ctrl-C to stop");
        let outcome = tokio::select! {
            _ = crate::signals::shutdown() => {
                eprintln!("stopping");
                Ok(())
            }
            done = follow(&chain, &sources) => done,
        };
        server.abort();
        forwarder.abort();
        outcome
    })
}

/// Commit final blocks from the validators, forever (returns only on a block the chain
/// refuses: the validators finalized something this node cannot re-execute).
async fn follow<E: StoreContext + commonware_runtime::Metrics + commonware_runtime::Supervisor>(
    chain: &Chain<E>,
    sources: &[RpcClient],
) -> anyhow::Result<()> {
    let mut verifier: Option<FinalityVerifier> = None;
    let mut source = 0usize;
    let mut last_report = Instant::now();
    let mut synced = 0u64;
    loop {
        let next = chain.head().height.saturating_add(1);
        let Some(client) = sources.get(source.checked_rem(sources.len()).unwrap_or(0)) else {
            bail!("a full node needs at least one validator to follow (`[[validators]]`)");
        };
        match client.finality(next).await {
            Ok((block, certificate)) => {
                let verifier = epoch_verifier(chain, &mut verifier)?;
                if let Err(e) = verifier.verify(&block, &certificate) {
                    eprintln!(
                        "warning: {} sent block {next} without valid finality: {e}",
                        client.url()
                    );
                    source = source.wrapping_add(1);
                    tokio::time::sleep(RETRY_INTERVAL).await;
                    continue;
                }
                match chain.commit_finalized(block).await {
                    Ok(_) => synced = synced.saturating_add(1),
                    Err(e @ ChainError::BodyMismatch { .. }) => {
                        // The certificate names the header; the body was altered on the
                        // way. Another validator serves the genuine one.
                        eprintln!("warning: {}: {e}; asking the next validator", client.url());
                        source = source.wrapping_add(1);
                        tokio::time::sleep(RETRY_INTERVAL).await;
                        continue;
                    }
                    Err(e @ ChainError::InvalidBlock { .. }) => {
                        return Err(anyhow::Error::new(e).context(format!(
                            "block {next} is final (a quorum of validators signed it) but does not execute here: this binary or its genesis differs from the validators'"
                        )))
                    }
                    Err(e) => return Err(anyhow::Error::new(e).context("committing a final block")),
                }
            }
            Err(RpcError::Api { status: 404, .. }) => tokio::time::sleep(POLL_INTERVAL).await,
            Err(e) => {
                eprintln!("warning: {}: {e}; asking the next validator", client.url());
                source = source.wrapping_add(1);
                tokio::time::sleep(RETRY_INTERVAL).await;
            }
        }
        if last_report.elapsed() >= PROGRESS_INTERVAL && synced > 0 {
            let rate = synced as f64 / last_report.elapsed().as_secs_f64();
            eprintln!(
                "synced to height {} ({rate:.0} blocks/s)",
                chain.head().height
            );
            last_report = Instant::now();
            synced = 0;
        }
    }
}

/// The verifier of the epoch the next block is in: the set the chain's state holds now
/// (chosen when the previous epoch's last block executed).
fn epoch_verifier<
    'a,
    E: StoreContext + commonware_runtime::Metrics + commonware_runtime::Supervisor,
>(
    chain: &Chain<E>,
    cached: &'a mut Option<FinalityVerifier>,
) -> anyhow::Result<&'a FinalityVerifier> {
    let set = chain
        .with_state(tessera_state::staking::epochs::current)??
        .ok_or_else(|| {
            anyhow::anyhow!(
                "the chain's state holds no validator set: resync this node from genesis"
            )
        })?;
    if cached.as_ref().is_none_or(|v| v.epoch() != set.epoch) {
        let verifier = FinalityVerifier::for_set(chain.chain_id().as_str().as_bytes(), &set)?;
        eprintln!(
            "epoch {}: checking finality against {} validators",
            set.epoch,
            set.members.len()
        );
        *cached = Some(verifier);
    }
    cached
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no finality verifier"))
}

/// Send every transaction this node's clients submit to a validator (the first that
/// takes it), so it reaches the mempools that build blocks.
async fn forward<E: StoreContext + commonware_runtime::Metrics + commonware_runtime::Supervisor>(
    chain: Arc<Chain<E>>,
    validators: Vec<RpcClient>,
) {
    let mut admitted = chain.subscribe_admitted();
    drop(chain);
    let mut next = 0usize;
    loop {
        let tx = match admitted.recv().await {
            Ok(tx) => tx,
            Err(RecvError::Lagged(missed)) => {
                eprintln!("warning: {missed} transactions were not forwarded (too many at once); resubmit them");
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        for attempt in 0..validators.len() {
            let Some(client) = validators.get(next.wrapping_add(attempt) % validators.len()) else {
                break;
            };
            match client.submit(&tx).await {
                Ok(_) | Err(RpcError::Api { .. }) => break,
                Err(_) => continue,
            }
        }
        next = next.wrapping_add(1);
    }
}
