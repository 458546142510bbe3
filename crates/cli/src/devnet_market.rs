//! The devnet's market: once the shipped models are registered, two providers register
//! for each (dev4 at the model's price, dev5 at 1.5×), both provider daemons start, and
//! a gateway starts for the funded user dev6, so an OpenAI client has paid, split calls
//! from the first command.
//!
//! | who | role | where |
//! |---|---|---|
//! | dev4 | provider of both models, at the models' prices | `--provider-port` |
//! | dev5 | provider of both models, at 1.5× | `--provider-port` + 1 |
//! | dev6 | the user: the gateway pays from it, within 50 TSR | `--gateway-addr` |
//! | dev1, dev2 | own the subnets of minilm-embed and smollm2-chat (they published them) | |
//! | dev7 | a subnet validator in both subnets, with 1,000 TSR staked on itself in each; runs the validator daemon on both | |
//!
//! Each model gets its subnet (named as the model, tempo 30 blocks): dev4 and dev5 hold
//! miner UIDs, dev7 a validator UID; `tessera subnet show smollm2-chat` shows them and
//! the emission of each epoch.
//!
//! Everything talks to the node through its HTTP API like any client. On Ctrl-C the
//! gateway stops, then the providers claim what they are owed, then the node stops.

use anyhow::Context;
use std::{net::SocketAddr, path::PathBuf, time::Duration};
use tessera_chain::genesis::dev_key;
use tessera_rpc::RpcClient;
use tessera_types::{
    channel::Price,
    subnet::{Role, SubnetParams},
    Amount, Call,
};
use tessera_validator::setup;

const PREFIX: &str = "devnet market: ";
/// The shipped models the providers serve.
pub const MODELS: [&str; 2] = ["minilm-embed", "smollm2-chat"];
/// Dev accounts of the two providers, and their price multiple (in tenths).
const PROVIDERS: [(u64, u128); 2] = [(4, 10), (5, 15)];
/// The dev account the gateway pays from.
pub const USER: u64 = 6;
/// The gateway's budget.
const BUDGET_TSR: u128 = 50;
const STAKE_TSR: u128 = 500;

/// Set to 0 to publish the shipped models without starting providers and a gateway.
pub const ENV: &str = "TESSERA_DEVNET_MARKET";

/// Seconds after which the devnet providers claim (default 60).
pub const CLAIM_ENV: &str = "TESSERA_DEVNET_CLAIM_SECS";

/// Whether to start the market ([`ENV`], on unless `0`).
pub fn enabled() -> bool {
    crate::devnet_models::switch(ENV, true)
}

/// Where the market's services listen and keep their state.
#[derive(Clone, Debug)]
pub struct MarketConfig {
    pub node: String,
    pub provider_port: u16,
    pub gateway_addr: SocketAddr,
    pub data_dir: PathBuf,
    pub blob_dir: PathBuf,
}

/// Set to 0 to run the devnet without its subnet validator (to run your own as dev7).
pub const VALIDATOR_ENV: &str = "TESSERA_DEVNET_VALIDATOR";
/// Share of the user's answered calls the devnet gateway sends to dev7's validators.
pub const SAMPLE_ENV: &str = "TESSERA_DEVNET_AUDIT_SAMPLE";

/// The running services, to stop in order.
pub struct Market {
    gateway: tessera_gateway::Running,
    providers: Vec<tessera_provider::Running>,
    validators: Vec<Validator>,
}

/// The subnet validator's task and the signal that stops it.
struct Validator {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Market {
    /// Stop the validator and the gateway, then the providers (each claims what it is
    /// owed).
    pub async fn stop(self) {
        for v in self.validators {
            let _ = v.stop.send(());
            let _ = v.task.await;
        }
        if let Err(e) = self.gateway.stop().await {
            eprintln!("{PREFIX}gateway: {e}");
        }
        for p in self.providers {
            if let Err(e) = p.stop().await {
                eprintln!("{PREFIX}provider: {e}");
            }
        }
    }
}

/// Wait for the shipped models, register the providers, start everything.
pub async fn start(config: MarketConfig) -> anyhow::Result<Market> {
    let client = RpcClient::new(&config.node);
    let models = wait_for_models(&client).await?;
    for (i, (account, tenths)) in PROVIDERS.iter().enumerate() {
        let port = config
            .provider_port
            .saturating_add(u16::try_from(i).unwrap_or(0));
        register(&client, *account, *tenths, port, &models).await?;
    }
    for (name, (model, _)) in MODELS.iter().zip(&models) {
        subnet(&client, name, *model).await?;
    }
    let mut providers = Vec::new();
    for (i, (account, _)) in PROVIDERS.iter().enumerate() {
        let port = config
            .provider_port
            .saturating_add(u16::try_from(i).unwrap_or(0));
        let listen = SocketAddr::from(([127, 0, 0, 1], port));
        let data_dir = config.data_dir.join(format!("provider-dev{account}"));
        let mut provider_config =
            tessera_provider::Config::new(&config.node, listen, data_dir, config.blob_dir.clone());
        if let Some(secs) = std::env::var(CLAIM_ENV).ok().and_then(|v| v.parse().ok()) {
            provider_config.claims.max_age = Duration::from_secs(secs);
        }
        let progress = crate::services::progress_printer();
        let running = tessera_provider::start(dev_key(*account), provider_config, &progress)
            .await
            .with_context(|| format!("provider dev{account} on {listen}"))?;
        eprintln!(
            "{PREFIX}provider dev{account} serves both models on http://{}",
            running.addr
        );
        providers.push(running);
    }
    let mut validators = Vec::new();
    let mut intakes = Vec::new();
    if validator_enabled() {
        for subnet in MODELS {
            let listen = free_loopback_addr()?;
            validators.push(start_validator(&config, subnet, listen));
            intakes.push(format!("http://{listen}"));
        }
    }
    let mut gateway_config = tessera_gateway::Config::new(
        &config.node,
        config.gateway_addr,
        config.data_dir.join(format!("gateway-dev{USER}")),
        Amount::from_base(BUDGET_TSR * tessera_types::amount::BASE_PER_TSR),
    );
    gateway_config.sampling = tessera_gateway::audit::Sampling {
        validators: intakes,
        sample_ppm: sample_ppm(),
    };
    let gateway = tessera_gateway::start(dev_key(USER), gateway_config)
        .await
        .with_context(|| format!("gateway on {}", config.gateway_addr))?;
    let url = format!("http://{}/v1", gateway.addr);
    eprintln!("{PREFIX}OpenAI-compatible gateway for dev{USER} (budget {BUDGET_TSR} TSR): {url}");
    eprintln!(
        "  try: curl {url}/chat/completions -H 'content-type: application/json' -d '{{\"model\":\"smollm2-chat\",\"messages\":[{{\"role\":\"user\",\"content\":\"Hi\"}}],\"stream\":true}}'"
    );
    println!("{url}");
    Ok(Market {
        gateway,
        providers,
        validators,
    })
}

/// Share of the user's calls the gateway sends to the validators, in parts per million
/// ([`SAMPLE_ENV`], a share from 0 to 1; default 0.1).
fn sample_ppm() -> u32 {
    std::env::var(SAMPLE_ENV)
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .and_then(tessera_gateway::audit::ppm_of_share)
        .unwrap_or(100_000)
}

/// A loopback address with a port free now (the validator binds it a moment later).
fn free_loopback_addr() -> anyhow::Result<SocketAddr> {
    let probe = std::net::TcpListener::bind(("127.0.0.1", 0))
        .context("finding a free port for the validator's intake")?;
    Ok(probe.local_addr()?)
}

fn validator_enabled() -> bool {
    crate::devnet_models::switch(VALIDATOR_ENV, true)
}

/// dev7 runs the validator daemon on `subnet`: it audits both providers each tempo with
/// paid calls, then commits and reveals weights, so emission flows to the miners that
/// serve correctly; it reports wrong answers and votes on others' reports.
fn start_validator(config: &MarketConfig, subnet: &'static str, listen: SocketAddr) -> Validator {
    let key = dev_key(SUBNET_VALIDATOR);
    let mut daemon = tessera_validator::daemon::Config::new(
        &config.node,
        subnet,
        config
            .data_dir
            .join(format!("validator-dev{SUBNET_VALIDATOR}-{subnet}")),
        config.blob_dir.clone(),
    );
    daemon.calls_per_miner = 2;
    daemon.listen = Some(listen);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    eprintln!("{PREFIX}validator dev{SUBNET_VALIDATOR} audits subnet {subnet} each tempo (set {VALIDATOR_ENV}=0 to run your own)");
    let task = tokio::spawn(async move {
        let progress = crate::services::progress_printer();
        let report = |r: tessera_validator::daemon::Report| {
            for line in r.to_string().lines() {
                eprintln!("{PREFIX}validator ({subnet}): {line}");
            }
        };
        let stop = async {
            let _ = stopped.await;
        };
        if let Err(e) = tessera_validator::daemon::run(key, daemon, &progress, &report, stop).await
        {
            eprintln!("{PREFIX}validator stopped: {e}");
        }
    });
    Validator { stop, task }
}

/// The shipped models' ids and prices, once both are registered.
async fn wait_for_models(
    client: &RpcClient,
) -> anyhow::Result<Vec<(tessera_types::tx::ModelId, Price)>> {
    let started = std::time::Instant::now();
    loop {
        let mut found = Vec::new();
        for name in MODELS {
            if let Ok(listing) = client.model_providers(name).await {
                found.push((listing.model, listing.price));
            }
        }
        if found.len() == MODELS.len() {
            return Ok(found);
        }
        if started.elapsed() > Duration::from_secs(1_800) {
            anyhow::bail!("the shipped models were not registered within 30 minutes");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The dev account that owns each model's subnet (the one that published the model).
const SUBNET_OWNERS: [u64; 2] = [1, 2];
/// The dev account that validates in every subnet.
const SUBNET_VALIDATOR: u64 = 7;
const SUBNET_SELF_STAKE_TSR: u128 = 1_000;
/// Blocks between the devnet subnets' epochs.
const SUBNET_TEMPO_BLOCKS: u64 = 30;

/// `name`'s subnet for `model` (created by the model's publisher), the providers as
/// miners and dev7 as a validator staked on itself.
async fn subnet(
    client: &RpcClient,
    name: &str,
    model: tessera_types::tx::ModelId,
) -> anyhow::Result<()> {
    let owner = MODELS
        .iter()
        .position(|m| *m == name)
        .and_then(|i| SUBNET_OWNERS.get(i))
        .copied()
        .unwrap_or(1);
    let params = SubnetParams {
        tempo_blocks: SUBNET_TEMPO_BLOCKS,
        weights_rate_limit_blocks: 1,
        ..SubnetParams::default()
    };
    let graph = setup::ensure_subnet(client, &dev_key(owner), name, Some(model), params)
        .await
        .with_context(|| format!("dev{owner} creating subnet {name}"))?;
    let stake = Amount::from_base(SUBNET_SELF_STAKE_TSR * tessera_types::amount::BASE_PER_TSR);
    let members = PROVIDERS
        .iter()
        .map(|(account, _)| (*account, Role::Miner))
        .chain([(SUBNET_VALIDATOR, Role::Validator)]);
    for (account, role) in members {
        setup::ensure_member(client, &graph, &dev_key(account), role, stake)
            .await
            .with_context(|| format!("dev{account} joining subnet {name} as {role}"))?;
    }
    eprintln!("{PREFIX}subnet {name}: miners dev4 and dev5, validator dev{SUBNET_VALIDATOR} (`tessera subnet show {name}`)");
    Ok(())
}

/// Register dev `account` for every model at `tenths`/10 of its price, unless it is.
async fn register(
    client: &RpcClient,
    account: u64,
    tenths: u128,
    port: u16,
    models: &[(tessera_types::tx::ModelId, Price)],
) -> anyhow::Result<()> {
    let key = dev_key(account);
    let registered: Vec<_> = client
        .registrations(&key.address())
        .await?
        .into_iter()
        .map(|l| l.model)
        .collect();
    for (model, price) in models {
        if registered.contains(model) {
            continue;
        }
        let scale = |a: Amount| Amount::from_base(a.base().saturating_mul(tenths) / 10);
        let call = Call::RegisterProvider {
            model: *model,
            stake: Amount::from_base(STAKE_TSR * tessera_types::amount::BASE_PER_TSR),
            price: Price {
                per_call: scale(price.per_call),
                per_token: scale(price.per_token),
            },
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        client
            .submit_and_confirm(&key, call, Duration::from_secs(60))
            .await
            .with_context(|| format!("dev{account} registering for model {model}"))?;
    }
    Ok(())
}
