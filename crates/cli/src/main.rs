//! `tessera`: run a node and use the chain from the command line.

mod blob;
mod check_model;
mod devnet_market;
mod devnet_models;
mod full_node;
mod home;
mod input;
mod localnet;
mod market;
mod models;
mod node;
mod publish;
mod query;
mod run_model;
mod services;
mod signals;
mod subnets;
mod validator;
mod verify;
mod wallet;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "tessera", version, about = "Tessera: an open network for tokenized AI models", long_about = None)]
struct Cli {
    /// Data and key directory.
    #[arg(long, global = true, env = "TESSERA_HOME", value_name = "DIR")]
    home: Option<PathBuf>,
    /// The node to talk to.
    #[arg(long, global = true, env = "TESSERA_NODE", value_name = "URL", default_value = tessera_rpc::client::DEFAULT_NODE_URL)]
    node: String,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Manage the encrypted keys in <home>/keys.
    #[command(subcommand)]
    Keys(wallet::KeysCommand),
    /// Run a node (`--dev`: a one-node chain that produces its own blocks; `--config FILE`: a validator).
    Node(node::NodeArgs),
    /// Create (or reuse) and run a validator network on this machine.
    Localnet(localnet::LocalnetArgs),
    /// Start the local devnet: the dev node with funded accounts, the two shipped models
    /// published, two providers for each and an OpenAI-compatible gateway
    /// (TESSERA_DEVNET_MODELS=0 skips models, providers and gateway).
    Devnet(node::DevnetArgs),
    /// Write a dev genesis file funding the dev accounts and your keys.
    Genesis(node::GenesisArgs),
    /// Show an account's balance, nonce and stake (verified with a state proof).
    Balance(wallet::BalanceArgs),
    /// Send TSR to an address.
    Transfer(wallet::TransferArgs),
    /// Bond TSR as stake; `stake delegate|undelegate|take` for delegation in subnets.
    Stake(StakeCommand),
    /// Start unbonding stake; withdraw it after the unbonding period.
    Unstake(wallet::StakeArgs),
    /// Move matured unbonded stake back to the balance.
    Withdraw(wallet::WithdrawArgs),
    /// Show a block: `latest`, a height or a hash.
    Block(query::BlockArgs),
    /// Show a transaction's status and receipt.
    Tx(query::TxArgs),
    /// Show the node's status.
    Status,
    /// Show the current epoch's validator set as chosen by staking (top bonded stake).
    Validators,
    /// Register as a validator, or unjail one.
    #[command(subcommand)]
    Validator(wallet::ValidatorCommand),
    /// Models: list, show, publish, run, register.
    #[command(subcommand)]
    Model(models::ModelCommand),
    /// Model ownership shares.
    #[command(subcommand)]
    Shares(models::SharesCommand),
    /// Royalties from model shares: show them, or `claim` them.
    Royalties(models::RoyaltiesArgs),
    /// Serve models as a compute provider: register, update, leave, list, run.
    #[command(subcommand)]
    Provider(market::ProviderCommand),
    /// A model's price and the providers serving it.
    Providers {
        /// Model name or id.
        model: String,
    },
    /// What an account's open channels hold and paid, per model.
    Spend {
        /// A key name or an address.
        #[arg(long, value_name = "KEY")]
        from: String,
    },
    /// Run the user's OpenAI-compatible gateway: pays providers per call within --budget.
    Gateway(services::GatewayArgs),
    /// Payment channels: open, top-up, extend, show, list, refund.
    #[command(subcommand)]
    Channel(market::ChannelCommand),
    /// Files by content: CIDs, upload to and download from a node.
    #[command(subcommand)]
    Blob(blob::BlobCommand),
    /// Subnets: list, show (the metagraph), create, register.
    #[command(subcommand)]
    Subnet(subnets::SubnetCommand),
    /// Fraud disputes: report a provider's wrong answer, vote, list, show.
    #[command(subcommand)]
    Verify(verify::VerifyCommand),
    /// Run one Yuma consensus epoch on stakes, weights, bonds and hyperparameters from a
    /// JSON file (format in docs/subnets.md) and print every intermediate vector as JSON.
    Yuma {
        /// The epoch's input.
        #[arg(long, value_name = "FILE")]
        input: std::path::PathBuf,
    },
}

fn main() {
    let cli = Cli::parse();
    init_logging();
    if let Err(err) = run(cli) {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TESSERA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,commonware_storage=error"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only on a terminal: `localnet` sends node output to log files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let home = home::Home::resolve(cli.home)?;
    let out = Output { json: cli.json };
    match cli.command {
        Command::Node(args) => node::run_node(&home, args),
        Command::Devnet(args) => node::run_devnet(&home, args),
        Command::Localnet(args) => localnet::run(&home, args),
        Command::Genesis(args) => node::write_genesis(&home, args, &out),
        Command::Keys(cmd) => wallet::keys(&home, cmd, &out),
        Command::Yuma { input } => subnets::yuma(&input),
        Command::Gateway(args) => services::run_gateway(&home, &cli.node, args),
        Command::Provider(market::ProviderCommand::Run {
            from,
            listen,
            passphrase_file,
            claim_after_secs,
            claim_at,
        }) => services::run_provider(
            &home,
            &cli.node,
            services::ProviderRun {
                from,
                listen,
                passphrase_file,
                claim_after: std::time::Duration::from_secs(claim_after_secs),
                claim_at,
            },
        ),
        Command::Validator(wallet::ValidatorCommand::Run(args)) => {
            services::run_validator(&home, &cli.node, args)
        }
        command => client_command(&home, &cli.node, command, &out),
    }
}

/// Commands that only talk to a node run on a small client runtime.
fn client_command(
    home: &home::Home,
    node: &str,
    command: Command,
    out: &Output,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = tessera_rpc::RpcClient::new(node);
    runtime.block_on(async move {
        match command {
            Command::Balance(args) => wallet::balance(home, &client, args, out).await,
            Command::Transfer(args) => wallet::transfer(home, &client, args, out).await,
            Command::Stake(StakeCommand {
                delegation: Some(cmd),
                ..
            }) => subnets::delegate(home, &client, cmd, out).await,
            Command::Stake(StakeCommand { bond, .. }) => {
                wallet::stake(home, &client, bond.into_stake()?, true, out).await
            }
            Command::Subnet(cmd) => subnets::subnet(home, &client, cmd, out).await,
            Command::Verify(cmd) => verify::verify(home, &client, cmd, out).await,
            Command::Unstake(args) => wallet::stake(home, &client, args, false, out).await,
            Command::Withdraw(args) => wallet::withdraw(home, &client, args, out).await,
            Command::Block(args) => query::block(&client, args, out).await,
            Command::Tx(args) => query::tx(&client, args, out).await,
            Command::Status => query::status(&client, out).await,
            Command::Validators => query::validators(&client, out).await,
            Command::Validator(cmd) => wallet::validator(home, &client, cmd, out).await,
            Command::Model(cmd) => models::model(home, &client, cmd, out).await,
            Command::Shares(cmd) => models::shares(home, &client, cmd, out).await,
            Command::Royalties(args) => models::royalties(home, &client, args, out).await,
            Command::Blob(cmd) => blob::blob(home, &client, cmd, out).await,
            Command::Provider(cmd) => market::provider(home, &client, cmd, out).await,
            Command::Providers { model } => market::providers(&client, &model, out).await,
            Command::Channel(cmd) => market::channel(home, &client, cmd, out).await,
            Command::Spend { from } => market::spend(home, &client, &from, out).await,
            Command::Keys(_)
            | Command::Gateway(_)
            | Command::Node(_)
            | Command::Localnet(_)
            | Command::Devnet(_)
            | Command::Genesis(_)
            | Command::Yuma { .. } => Ok(()),
        }
    })
}

/// `tessera stake`: bond an amount, or manage delegations in subnets.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
struct StakeCommand {
    #[command(subcommand)]
    delegation: Option<subnets::DelegateCommand>,
    #[command(flatten)]
    bond: wallet::BondArgs,
}

/// Text for people, or JSON with `--json`.
pub struct Output {
    pub json: bool,
}

impl Output {
    /// Print `value` as JSON, or `text()` for people.
    pub fn show<T: serde::Serialize>(
        &self,
        value: &T,
        text: impl FnOnce() -> String,
    ) -> anyhow::Result<()> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value)?);
        } else {
            println!("{}", text());
        }
        Ok(())
    }
}
