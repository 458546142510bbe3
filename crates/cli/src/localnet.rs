//! `tessera localnet`: a validator network on one machine.
//!
//! Layout of `--dir`:
//!
//! ```text
//! genesis.json          shared; the validators are funded and bonded (standbys funded)
//! v1/config.toml        what `tessera node --config` reads
//! v1/validator.key      the validator's secret (hex, mode 0600)
//! v1/data/, v1/blobs/   chain and consensus data, blobs
//! v1/node.log           the process's output
//! v1/node.pid           its process id while the supervisor runs it
//! f1/config.toml        a full node (`--full-nodes`), following the validators
//! ```
//!
//! The supervisor starts one `tessera node --config` process per validator, restarts
//! nothing by itself, and stops them all on Ctrl-C. A directory holding a previous
//! localnet is reused as it is (its chain continues).

use crate::{
    full_node::FullNodeConfigFile,
    home::Home,
    validator::{public_key_hex, write_key_file, P2pSection, ValidatorConfigFile, ValidatorEntry},
};
use anyhow::{bail, Context};
use commonware_cryptography::{ed25519::PrivateKey, Signer as _};
use commonware_math::algebra::Random as _;
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use tessera_chain::{genesis::DEV_VALIDATOR_STAKE_TSR, producer::now_ms};
use tessera_state::GenesisValidator;
use tessera_types::{amount::BASE_PER_TSR, Address, Amount};

/// Most validators `localnet` runs.
const MAX_LOCALNET_VALIDATORS: usize = 32;
/// How often the supervisor looks at its children.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// How long stopped nodes get to exit before they are killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

#[derive(clap::Args)]
pub struct LocalnetArgs {
    /// Number of validators (a new localnet only; a reused one keeps its own).
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Directory of the localnet: created, or reused if it holds one.
    #[arg(long, default_value = "./localnet", value_name = "DIR")]
    dir: PathBuf,
    /// HTTP API port of the first validator; validator i uses this + i - 1.
    #[arg(long, default_value_t = 26657, value_name = "PORT")]
    rpc_port: u16,
    /// p2p port of the first validator; validator i uses this + i - 1.
    #[arg(long, default_value_t = 27657, value_name = "PORT")]
    p2p_port: u16,
    /// Standby validators (a new localnet only): configured and running like the others but
    /// holding no stake, so they vote only once they bond (`tessera stake`) and the next
    /// epoch begins.
    #[arg(long, default_value_t = 0)]
    standby: usize,
    /// Blocks per epoch: how often the validator set follows bonded stake (a new localnet
    /// only).
    #[arg(long, value_name = "BLOCKS")]
    epoch_blocks: Option<u64>,
    /// Full (non-voting) nodes to run beside the validators (a new localnet only); their
    /// HTTP API ports follow the validators'.
    #[arg(long, default_value_t = 0)]
    full_nodes: usize,
    /// Write keys, configs and genesis, then exit without starting the nodes.
    #[arg(long)]
    init_only: bool,
}

pub fn run(home: &Home, args: LocalnetArgs) -> anyhow::Result<()> {
    let configs = if args.dir.join("genesis.json").exists() {
        let configs = existing_configs(&args.dir)?;
        eprintln!(
            "reusing the localnet in {} ({} validators)",
            args.dir.display(),
            configs.len()
        );
        configs
    } else {
        create(home, &args)?
    };
    if args.init_only {
        for config in &configs {
            println!("{}", config.display());
        }
        return Ok(());
    }
    supervise(&configs)
}

/// `v1/config.toml`, `v2/config.toml`, …, then `f1/config.toml`, … of an existing
/// localnet, in order.
fn existing_configs(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut configs = Vec::new();
    for prefix in ["v", "f"] {
        for i in 1..=MAX_LOCALNET_VALIDATORS {
            let path = dir.join(format!("{prefix}{i}")).join("config.toml");
            if !path.exists() {
                break;
            }
            configs.push(path);
        }
    }
    if configs.is_empty() {
        bail!(
            "{} has a genesis.json but no v1/config.toml: not a localnet; pick another --dir",
            dir.display()
        );
    }
    Ok(configs)
}

fn port(base: u16, i: usize, what: &str) -> anyhow::Result<u16> {
    u16::try_from(i)
        .ok()
        .and_then(|i| base.checked_add(i))
        .with_context(|| {
            format!(
                "--{what}-port {base} leaves no room for {} validators",
                i + 1
            )
        })
}

fn create(home: &Home, args: &LocalnetArgs) -> anyhow::Result<Vec<PathBuf>> {
    let bonded = args.validators;
    let n = bonded.saturating_add(args.standby);
    if bonded == 0 || n > MAX_LOCALNET_VALIDATORS {
        bail!("--validators must be at least 1 and --validators + --standby at most {MAX_LOCALNET_VALIDATORS}");
    }
    if args.epoch_blocks == Some(0) {
        bail!("--epoch-blocks must be at least 1");
    }
    if args.full_nodes > MAX_LOCALNET_VALIDATORS {
        bail!("--full-nodes must be at most {MAX_LOCALNET_VALIDATORS}");
    }
    if args.dir.exists()
        && std::fs::read_dir(&args.dir)
            .with_context(|| format!("cannot read {}", args.dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} exists and is not a localnet (no genesis.json): pick another --dir",
            args.dir.display()
        );
    }
    let keys: Vec<PrivateKey> = (0..n).map(|_| PrivateKey::random(rand::rng())).collect();
    let mut validators = Vec::with_capacity(n);
    for (i, key) in keys.iter().enumerate() {
        validators.push(ValidatorEntry {
            public_key: public_key_hex(&key.public_key()),
            p2p: format!("127.0.0.1:{}", port(args.p2p_port, i, "p2p")?).parse()?,
            rpc: format!("http://127.0.0.1:{}", port(args.rpc_port, i, "rpc")?),
        });
    }

    // The dev genesis (dev accounts and the home keystore's keys funded), with the
    // validators funded and bonded (standbys funded only) instead of the dev chain's
    // single validator dev0.
    let addresses: Vec<Address> = keys
        .iter()
        .map(|k| Address::from_public_key(&k.public_key()))
        .collect();
    let mut genesis = crate::node::dev_genesis_for(home, &addresses)?;
    genesis.chain_id = crate::node::fresh_chain_id("local")?;
    genesis.genesis_time_ms = now_ms();
    if let Some(epoch_blocks) = args.epoch_blocks {
        genesis.params.epoch_blocks = epoch_blocks;
        // Unbonding must outlast the evidence window (`Params::validate`).
        let window = genesis
            .params
            .evidence_max_age_epochs
            .saturating_add(1)
            .saturating_mul(epoch_blocks);
        genesis.params.unbonding_blocks = genesis.params.unbonding_blocks.max(window);
    }
    let stake = Amount::from_base(DEV_VALIDATOR_STAKE_TSR.saturating_mul(BASE_PER_TSR));
    let staked = addresses.get(..bonded).unwrap_or_default();
    for account in &mut genesis.accounts {
        let index = addresses.iter().position(|a| a == &account.address);
        account.bonded = if staked.contains(&account.address) {
            stake
        } else {
            Amount::ZERO
        };
        // Every node is registered with its p2p address (standbys too: they are chosen
        // once they bond at least the minimum self-bond).
        account.validator = index
            .and_then(|i| validators.get(i))
            .map(|v| GenesisValidator {
                p2p: v.p2p.to_string(),
            });
    }
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;

    let mut configs = Vec::with_capacity(n);
    for (i, key) in keys.iter().enumerate() {
        let dir = args.dir.join(format!("v{}", i + 1));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        write_key_file(&dir.join("validator.key"), key)?;
        let me = validators.get(i).context("validator entry")?;
        let config = ValidatorConfigFile {
            role: None,
            data_dir: "data".into(),
            blob_dir: None,
            genesis: "../genesis.json".into(),
            key_file: "validator.key".into(),
            rpc_listen: format!("127.0.0.1:{}", port(args.rpc_port, i, "rpc")?).parse()?,
            p2p_listen: me.p2p,
            consensus: Default::default(),
            p2p: Some(P2pSection {
                local_network: true,
            }),
            blobs: None,
            validators: validators.clone(),
        };
        let path = dir.join("config.toml");
        config.save(&path)?;
        configs.push(path);
    }
    for i in 0..args.full_nodes {
        let dir = args.dir.join(format!("f{}", i + 1));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let config = FullNodeConfigFile {
            role: "full".into(),
            data_dir: "data".into(),
            blob_dir: None,
            genesis: "../genesis.json".into(),
            rpc_listen: format!("127.0.0.1:{}", port(args.rpc_port, n + i, "rpc")?).parse()?,
            // Validators take no uploads; a localnet's full nodes host its model files.
            blobs: Some(crate::validator::BlobsSection {
                accept_uploads: true,
                ..Default::default()
            }),
            validators: validators.clone(),
        };
        let path = dir.join("config.toml");
        config.save(&path)?;
        configs.push(path);
    }
    // The genesis last: its presence marks a complete localnet.
    crate::node::save_json(&args.dir.join("genesis.json"), &genesis)?;
    eprintln!(
        "created a localnet of {bonded} validators{} in {} (chain {}, epochs of {} blocks)",
        if args.standby > 0 {
            format!(" and {} standby (unbonded)", args.standby)
        } else {
            String::new()
        },
        args.dir.display(),
        genesis.chain_id,
        genesis.params.epoch_blocks
    );
    Ok(configs)
}

/// The `rpc_listen` of a validator's or a full node's config.
fn rpc_listen_of(config: &Path) -> Option<std::net::SocketAddr> {
    #[derive(serde::Deserialize)]
    struct Probe {
        rpc_listen: std::net::SocketAddr,
    }
    let text = std::fs::read_to_string(config).ok()?;
    toml::from_str::<Probe>(&text).ok().map(|p| p.rpc_listen)
}

struct Running {
    name: String,
    config: PathBuf,
    child: Child,
    exited: bool,
}

fn supervise(configs: &[PathBuf]) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("cannot find the tessera executable")?;
    let mut nodes = Vec::with_capacity(configs.len());
    for config in configs {
        let dir = config.parent().unwrap_or(Path::new("."));
        let name = dir
            .file_name()
            .map_or_else(|| "node".into(), |n| n.to_string_lossy().into_owned());
        let log_path = dir.join("node.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("cannot open {}", log_path.display()))?;
        let child = Command::new(&exe)
            .arg("node")
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        std::fs::write(dir.join("node.pid"), format!("{}\n", child.id()))?;
        let rpc = rpc_listen_of(config)
            .map(|a| format!("http://{a}"))
            .unwrap_or_default();
        println!("{name}: {rpc}  (log {})", log_path.display());
        nodes.push(Running {
            name,
            config: config.clone(),
            child,
            exited: false,
        });
    }
    println!("press Ctrl-C to stop all nodes");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let ctrl_c = crate::signals::shutdown();
        tokio::pin!(ctrl_c);
        loop {
            tokio::select! {
                _ = &mut ctrl_c => break,
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
            }
            for node in nodes.iter_mut().filter(|n| !n.exited) {
                if let Ok(Some(status)) = node.child.try_wait() {
                    node.exited = true;
                    eprintln!(
                        "{} exited ({status}); not restarting it: `tessera node --config {}` does",
                        node.name,
                        node.config.display()
                    );
                }
            }
        }
    });
    stop_all(&mut nodes);
    Ok(())
}

/// Ask every node to stop (SIGINT, as Ctrl-C would), then kill what is left after
/// [`STOP_GRACE`]. Their storage survives a kill, so this only saves restart work.
fn stop_all(nodes: &mut [Running]) {
    eprintln!("stopping {} nodes", nodes.len());
    for node in nodes.iter_mut() {
        // A reaped child's pid may belong to another process by now: signal live ones only.
        if node.exited || !matches!(node.child.try_wait(), Ok(None)) {
            node.exited = true;
            continue;
        }
        let _ = Command::new("kill")
            .arg("-INT")
            .arg(node.child.id().to_string())
            .stderr(Stdio::null())
            .status();
    }
    let start = Instant::now();
    for node in nodes.iter_mut() {
        loop {
            match node.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if start.elapsed() > STOP_GRACE => {
                    let _ = node.child.kill();
                    let _ = node.child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        if let Some(dir) = node.config.parent() {
            let _ = std::fs::remove_file(dir.join("node.pid"));
        }
    }
}
