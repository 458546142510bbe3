//! `tessera provider run` and `tessera gateway`: argument parsing, key unlocking and
//! printing around the `tessera-provider` and `tessera-gateway` libraries.

use crate::home::Home;
use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::{net::SocketAddr, path::PathBuf, sync::Mutex};
use tessera_provider::fetch::FetchEvent;
use tessera_types::{Amount, Keypair};

#[derive(clap::Args)]
pub struct GatewayArgs {
    /// The key that pays (its channels and vouchers).
    #[arg(long, value_name = "KEY")]
    from: String,
    /// Where the OpenAI-compatible API listens.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The most TSR the gateway may put into channel deposits.
    #[arg(long, value_name = "TSR")]
    budget: Amount,
    /// Deposit of each channel it opens (default: a quarter of the budget).
    #[arg(long, value_name = "TSR")]
    deposit: Option<Amount>,
    /// A validator's intake (its `--listen` URL) that gets a random sample of the answered
    /// calls to audit; repeat for several.
    #[arg(long, value_name = "URL")]
    audit_to: Vec<String>,
    /// Share of answered calls sampled for the validators, 0 to 1.
    #[arg(long, default_value_t = 0.05, value_name = "FRACTION")]
    audit_sample: f64,
    /// Read the passphrase from the first line of this file (else TESSERA_PASSPHRASE, else a prompt).
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
}

/// Unlock `name` from the home's keystore.
fn unlock(home: &Home, name: &str, file: Option<&std::path::Path>) -> anyhow::Result<Keypair> {
    Ok(home.keystore().unlock(name, file)?)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Progress of model downloads on stderr (a bar per large file on a terminal).
pub fn progress_printer() -> impl Fn(FetchEvent<'_>) + Sync {
    let bar: Mutex<Option<ProgressBar>> = Mutex::new(None);
    move |event| match event {
        FetchEvent::Fetching { files, bytes, dir } => {
            eprintln!(
                "fetching {files} files ({bytes} bytes) into {}",
                dir.display()
            );
        }
        FetchEvent::File {
            name,
            done_bytes,
            total_bytes,
        } => {
            let Ok(mut bar) = bar.lock() else { return };
            let b = bar.get_or_insert_with(|| new_bar(total_bytes, name));
            b.set_length(total_bytes);
            b.set_position(done_bytes);
        }
        FetchEvent::FileDone { .. } => {
            if let Some(b) = bar.lock().ok().and_then(|mut b| b.take()) {
                b.finish_and_clear();
            }
        }
        FetchEvent::Refetching { path } => {
            eprintln!(
                "cached file {} does not match the manifest: fetching it again",
                path.display()
            );
        }
    }
}

fn new_bar(size: u64, name: &str) -> ProgressBar {
    if size < 8 * 1024 * 1024 || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr());
    let template =
        format!("{name} [{{elapsed_precise}}] {{wide_bar}} {{bytes}}/{{total_bytes}} ({{eta}})");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

/// The address a registered endpoint URL names (`http://host:port/...`).
pub fn endpoint_addr(endpoint: &str) -> anyhow::Result<SocketAddr> {
    let rest = endpoint
        .strip_prefix("http://")
        .or_else(|| endpoint.strip_prefix("https://"))
        .unwrap_or(endpoint);
    let host = rest.split('/').next().unwrap_or(rest);
    host.parse()
        .with_context(|| format!("the endpoint {endpoint:?} is not http://IP:PORT: pass --listen"))
}

/// `tessera provider run`'s arguments.
pub struct ProviderRun {
    pub from: String,
    pub listen: Option<SocketAddr>,
    pub passphrase_file: Option<PathBuf>,
    pub claim_after: std::time::Duration,
    pub claim_at: Amount,
}

/// `tessera provider run`.
pub fn run_provider(home: &Home, node: &str, args: ProviderRun) -> anyhow::Result<()> {
    let ProviderRun {
        from,
        listen,
        passphrase_file,
        claim_after,
        claim_at,
    } = args;
    let key = unlock(home, &from, passphrase_file.as_deref())?;
    let address = key.address();
    runtime()?.block_on(async move {
        let client = tessera_rpc::RpcClient::new(node);
        let registrations = client.registrations(&address).await?;
        let first = registrations.first().with_context(|| {
            format!("{from} serves no model: run `tessera provider register` first")
        })?;
        let listen = match listen {
            Some(addr) => addr,
            None => endpoint_addr(&first.provider.endpoint)?,
        };
        let data_dir = home.data_dir().join("provider").join(address.to_string());
        let mut config = tessera_provider::Config::new(node, listen, data_dir, home.blob_dir());
        config.claims.max_age = claim_after;
        config.claims.min_amount = claim_at;
        if let Ok(mode) = std::env::var(ADVERSARY_ENV) {
            let cheat = tessera_provider::Adversary::parse(&mode).with_context(|| {
                format!("{ADVERSARY_ENV}={mode:?}: the drills are truncate-inputs and overclaim")
            })?;
            eprintln!("warning: {ADVERSARY_ENV}={mode}: this provider cheats on purpose (a fraud drill); it will be reported and slashed");
            config.adversary = Some(cheat);
        }
        let progress = progress_printer();
        let running = tessera_provider::start(key, config, &progress).await?;
        for r in &registrations {
            eprintln!(
                "serving {} (model {}) on http://{}",
                r.name, r.model, running.addr
            );
        }
        eprintln!("provider {address}: press Ctrl-C to stop (charges are claimed first)");
        crate::signals::shutdown().await;
        eprintln!("stopping: claiming what is owed");
        running.stop().await?;
        Ok(())
    })
}

/// Environment variable that makes `tessera provider run` cheat, for fraud drills.
const ADVERSARY_ENV: &str = "TESSERA_ADVERSARY";

/// `tessera validator run`.
#[derive(clap::Args)]
pub struct ValidatorRunArgs {
    /// The validator's key (it holds a validator UID in the subnet).
    #[arg(long, value_name = "KEY")]
    from: String,
    /// The subnet's name or id.
    #[arg(long)]
    subnet: String,
    /// The most the audit calls may hold in channel deposits, in TSR.
    #[arg(long, default_value = "10", value_name = "TSR")]
    budget: Amount,
    /// Audit calls per miner per tempo.
    #[arg(long, default_value_t = 3)]
    calls: usize,
    /// Receive samples of users' calls from gateways here (`tessera gateway --audit-to`).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Read the passphrase from the first line of this file (else TESSERA_PASSPHRASE, else a prompt).
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<std::path::PathBuf>,
}

pub fn run_validator(home: &Home, node: &str, args: ValidatorRunArgs) -> anyhow::Result<()> {
    let key = unlock(home, &args.from, args.passphrase_file.as_deref())?;
    let address = key.address();
    runtime()?.block_on(async move {
        let data_dir = home.data_dir().join("validator").join(address.to_string());
        let mut config =
            tessera_validator::daemon::Config::new(node, &args.subnet, data_dir, home.blob_dir());
        config.budget = args.budget;
        config.calls_per_miner = args.calls.max(1);
        config.listen = args.listen;
        eprintln!(
            "validator {address} audits subnet {}: press Ctrl-C to stop",
            args.subnet
        );
        let progress = progress_printer();
        tessera_validator::daemon::run(
            key,
            config,
            &progress,
            &print_report,
            crate::signals::shutdown(),
        )
        .await?;
        Ok(())
    })
}

fn print_report(report: tessera_validator::daemon::Report) {
    eprintln!("{report}");
}

/// `tessera gateway`.
pub fn run_gateway(home: &Home, node: &str, args: GatewayArgs) -> anyhow::Result<()> {
    let key = unlock(home, &args.from, args.passphrase_file.as_deref())?;
    let address = key.address();
    runtime()?.block_on(async move {
        let data_dir = home.data_dir().join("gateway").join(address.to_string());
        let mut config = tessera_gateway::Config::new(node, args.listen, data_dir, args.budget);
        if let Some(deposit) = args.deposit {
            config.deposit = deposit;
        }
        let sample_ppm = tessera_gateway::audit::ppm_of_share(args.audit_sample).with_context(
            || format!("--audit-sample {} is not a share between 0 and 1", args.audit_sample),
        )?;
        config.sampling = tessera_gateway::audit::Sampling {
            validators: args.audit_to,
            sample_ppm,
        };
        let running = tessera_gateway::start(key, config).await?;
        eprintln!(
            "gateway for {address}: OpenAI-compatible API on http://{}/v1 (budget {} TSR); any API key works",
            running.addr, args.budget
        );
        eprintln!(
            "try: curl http://{}/v1/models",
            running.addr
        );
        crate::signals::shutdown().await;
        running.stop().await?;
        Ok(())
    })
}
