//! `tessera node`, `tessera devnet`, `tessera genesis` (validators: `crate::validator`).

use crate::{home::Home, Output};
use anyhow::{bail, Context};
use commonware_runtime::{Runner as _, Supervisor as _};
use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};
use tessera_chain::{
    genesis::{dev_genesis, dev_key, DEV_ACCOUNTS},
    producer::now_ms,
    run_dev_producer, Chain, ChainConfig,
};
use tessera_rpc::server::{router, AppState};
use tessera_state::Genesis;
use tessera_types::Address;

#[derive(clap::Args)]
pub struct NodeArgs {
    /// Run a one-node dev chain that produces its own blocks.
    #[arg(long, conflicts_with = "config")]
    dev: bool,
    /// Run a validator of a BFT network from this TOML file (`tessera localnet` writes them).
    /// The file sets the genesis, addresses and timing, so the dev flags are refused with it.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["genesis", "rpc_addr", "block_time_ms"])]
    config: Option<PathBuf>,
    #[command(flatten)]
    common: DevnetArgs,
}

#[derive(clap::Args)]
pub struct DevnetArgs {
    /// Genesis file (default: <home>/genesis.json, created on first start).
    #[arg(long, value_name = "FILE")]
    genesis: Option<PathBuf>,
    /// Address the HTTP API listens on.
    #[arg(long, default_value = "127.0.0.1:26657", value_name = "ADDR")]
    rpc_addr: SocketAddr,
    /// Milliseconds between blocks.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    block_time_ms: u64,
    /// Where the devnet's OpenAI-compatible gateway listens.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    gateway_addr: SocketAddr,
    /// The first of the two devnet providers' ports (the second uses the next one).
    #[arg(long, default_value_t = 7301, value_name = "PORT")]
    provider_port: u16,
}

#[derive(clap::Args)]
pub struct GenesisArgs {
    /// Where to write it (default: <home>/genesis.json).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Also fund these addresses (your keys in <home>/keys are funded anyway).
    #[arg(long, value_name = "ADDRESS")]
    fund: Vec<Address>,
    /// Overwrite an existing file.
    #[arg(long)]
    force: bool,
}

pub fn run_node(home: &Home, args: NodeArgs) -> anyhow::Result<()> {
    if let Some(config) = args.config {
        return match crate::full_node::role_of(&config)?.as_str() {
            "full" => crate::full_node::run(&config),
            _ => crate::validator::run(&config),
        };
    }
    if !args.dev {
        bail!("say which node to run: `tessera node --dev` for a one-node dev chain, or `tessera node --config FILE` for a validator (`tessera localnet` writes a network of them)");
    }
    // A bare chain unless TESSERA_DEVNET_MODELS=1: tests and scripts start `node --dev`.
    serve(home, args.common, crate::devnet_models::enabled(false))
}

pub fn run_devnet(home: &Home, args: DevnetArgs) -> anyhow::Result<()> {
    serve(home, args, crate::devnet_models::enabled(true))
}

pub fn write_genesis(home: &Home, args: GenesisArgs, out: &Output) -> anyhow::Result<()> {
    let path = args.out.unwrap_or_else(|| home.genesis_path());
    if path.exists() && !args.force {
        bail!("{} exists: pass --force to overwrite it (a node whose data was made from it will refuse a different one)", path.display());
    }
    let genesis = dev_genesis_for(home, &args.fund)?;
    save_json(&path, &genesis)?;
    out.show(&genesis, || {
        format!(
            "wrote {} ({} funded accounts, chain {})",
            path.display(),
            genesis.accounts.len(),
            genesis.chain_id
        )
    })
}

/// The dev genesis, funding the dev accounts, the keys in the keystore and `extra`.
pub(crate) fn dev_genesis_for(home: &Home, extra: &[Address]) -> anyhow::Result<Genesis> {
    let mut fund: Vec<Address> = home
        .keystore()
        .list()?
        .into_iter()
        .map(|(_, addr)| addr)
        .collect();
    fund.extend_from_slice(extra);
    let mut genesis = dev_genesis(now_ms(), &fund);
    genesis.chain_id = fresh_chain_id("dev")?;
    Ok(genesis)
}

/// A chain id of its own for each dev or local network, chosen when its genesis is
/// written (`tessera-{kind}-` and 8 random hex digits), so a transaction signed for one
/// network cannot be replayed on another.
pub(crate) fn fresh_chain_id(kind: &str) -> anyhow::Result<tessera_types::ChainId> {
    use rand::RngExt;
    let suffix: u32 = rand::rng().random();
    Ok(tessera_types::ChainId::new(&format!(
        "tessera-{kind}-{suffix:08x}"
    ))?)
}

fn load_or_create_genesis(home: &Home, given: Option<PathBuf>) -> anyhow::Result<Genesis> {
    let path = match given {
        Some(path) => path,
        None if home.genesis_path().exists() => home.genesis_path(),
        None => {
            let genesis = dev_genesis_for(home, &[])?;
            save_json(&home.genesis_path(), &genesis)?;
            eprintln!(
                "created {} with {} funded accounts",
                home.genesis_path().display(),
                genesis.accounts.len()
            );
            return Ok(genesis);
        }
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read genesis {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid genesis file", path.display()))
}

pub(crate) fn save_json(
    path: &std::path::Path,
    value: &impl serde::Serialize,
) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(value)?)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn serve(home: &Home, args: DevnetArgs, publish_models: bool) -> anyhow::Result<()> {
    let genesis = load_or_create_genesis(home, args.genesis)?;
    if args.block_time_ms == 0 {
        bail!("--block-time-ms must be at least 1");
    }
    let storage = home.data_dir();
    let blob_dir = home.blob_dir();
    let config = commonware_runtime::tokio::Config::new().with_storage_directory(&storage);
    let runner = commonware_runtime::tokio::Runner::new(config);
    runner.start(|context| async move {
        let chain = Chain::open(context.child("chain"), &genesis, ChainConfig::default())
            .await
            .with_context(|| format!("cannot open the chain data in {}", storage.display()))?;
        let chain = Arc::new(chain);
        let listener = tokio::net::TcpListener::bind(args.rpc_addr)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {}: is another node running? pick another with --rpc-addr",
                    args.rpc_addr
                )
            })?;
        let blobs = crate::validator::BlobsSection::default().open_store(&blob_dir)?;
        // The dev node is one user's machine: it takes uploads (model publishing needs them).
        let app = router(AppState::new(chain.clone(), "dev").with_blobs(Arc::new(blobs), true));
        let server = tessera_http::spawn(listener, app, tessera_http::Limits::default());
        announce(&chain, &genesis, args.rpc_addr);
        if publish_models {
            crate::devnet_models::spawn(blob_dir.clone(), args.rpc_addr);
        }
        let market = (publish_models && crate::devnet_market::enabled()).then(|| {
            let config = crate::devnet_market::MarketConfig {
                node: format!("http://{}", loopback(args.rpc_addr)),
                provider_port: args.provider_port,
                gateway_addr: args.gateway_addr,
                data_dir: storage.join("market"),
                blob_dir: blob_dir.clone(),
            };
            tokio::spawn(async move {
                match crate::devnet_market::start(config).await {
                    Ok(market) => Some(market),
                    Err(e) => {
                        eprintln!("devnet market: {e:#}; the devnet runs without it");
                        None
                    }
                }
            })
        });
        let stop = async {
            crate::signals::shutdown().await;
            if let Some(task) = market {
                if task.is_finished() {
                    if let Ok(Some(market)) = task.await {
                        eprintln!(
                            "stopping the gateway and providers (they claim what they are owed)"
                        );
                        market.stop().await;
                    }
                } else {
                    task.abort();
                }
            }
            eprintln!("stopping: finishing the current block");
        };
        let produced = run_dev_producer(
            chain,
            dev_key(0).address(),
            Duration::from_millis(args.block_time_ms),
            stop,
        )
        .await;
        let _ = server.stop().await;
        produced.context("block production stopped")
    })
}

/// `addr` with an unspecified IP replaced by loopback (to connect to it).
fn loopback(mut addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    addr
}

fn announce<
    E: tessera_store::StoreContext + commonware_runtime::Metrics + commonware_runtime::Supervisor,
>(
    chain: &Chain<E>,
    genesis: &Genesis,
    rpc: SocketAddr,
) {
    let head = chain.head();
    eprintln!(
        "tessera dev node: chain {} at height {}, API on http://{rpc}",
        genesis.chain_id, head.height
    );
    eprintln!("funded dev accounts dev0..dev{} (dev0 is the block proposer); import one with `tessera keys import-dev N NAME`", DEV_ACCOUNTS.saturating_sub(1));
    eprintln!("press Ctrl-C to stop");
}

#[cfg(test)]
mod tests {
    use super::fresh_chain_id;

    #[test]
    fn every_dev_or_local_network_gets_its_own_chain_id() {
        let (a, b) = (
            fresh_chain_id("dev").unwrap(),
            fresh_chain_id("dev").unwrap(),
        );
        assert!(a.as_str().starts_with("tessera-dev-"), "{a}");
        assert_eq!(a.as_str().len(), "tessera-dev-".len() + 8);
        // Two draws of 32 bits collide once in four billion runs.
        assert_ne!(a, b);
        assert!(fresh_chain_id("local")
            .unwrap()
            .as_str()
            .starts_with("tessera-local-"));
    }
}
