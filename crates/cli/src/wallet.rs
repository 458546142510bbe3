//! Keys and the wallet commands: balance, transfer, stake, unstake, withdraw.

use crate::{home::Home, query::describe_tx, Output};
use anyhow::bail;
use std::{path::PathBuf, time::Duration};
use tessera_chain::genesis::{dev_key, DEV_ACCOUNTS};
use tessera_rpc::{api::TxResponse, RpcClient};
use tessera_types::{Address, Amount, Call, TxStatus};
use tessera_wallet::{read_passphrase, KdfParams};

/// How long a command waits for its transaction to commit.
const WAIT_FOR_COMMIT: Duration = Duration::from_secs(30);

#[derive(clap::Subcommand)]
pub enum KeysCommand {
    /// Create a new key, encrypted with a passphrase.
    New {
        name: String,
        #[command(flatten)]
        pass: PassArgs,
    },
    /// List keys and their addresses.
    List,
    /// Show a key's address.
    Show { name: String },
    /// Import funded dev account N (0-9) of the dev chain under NAME. Dev keys are
    /// public knowledge: for local use only.
    ImportDev {
        index: u64,
        name: String,
        #[command(flatten)]
        pass: PassArgs,
    },
    /// Import a validator's key file (hex secret, as `tessera localnet` writes it) under
    /// NAME, e.g. to stake from that validator's account.
    Import {
        name: String,
        /// The key file, e.g. ./net/v5/validator.key.
        #[arg(long, value_name = "FILE")]
        key_file: PathBuf,
        #[command(flatten)]
        pass: PassArgs,
    },
}

#[derive(clap::Args, Clone)]
pub struct PassArgs {
    /// Read the passphrase from the first line of this file (else TESSERA_PASSPHRASE, else a prompt).
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct BalanceArgs {
    /// An address (tsr1...) or the name of one of your keys.
    account: String,
}

#[derive(clap::Args)]
pub struct TxOptions {
    /// The key that signs (a name from `tessera keys list`).
    #[arg(long, value_name = "KEY")]
    pub from: String,
    /// Most TSR you accept to pay as fee (default: the exact fee).
    #[arg(long, value_name = "TSR")]
    max_fee: Option<Amount>,
    /// Return after submitting instead of waiting for the block.
    #[arg(long)]
    no_wait: bool,
    #[command(flatten)]
    pass: PassArgs,
}

#[derive(clap::Args)]
pub struct TransferArgs {
    #[command(flatten)]
    opts: TxOptions,
    /// Recipient: an address (tsr1...) or one of your key names.
    to: String,
    /// Amount in TSR, e.g. 12.5.
    amount: Amount,
}

#[derive(clap::Args)]
pub struct StakeArgs {
    #[command(flatten)]
    opts: TxOptions,
    /// Amount in TSR.
    amount: Amount,
}

/// `tessera stake`'s options when it bonds: [`TxOptions`] and the amount, all optional
/// here because `stake delegate|undelegate|take` carry their own after the subcommand
/// (clap's optional flatten does not combine with subcommands).
#[derive(clap::Args)]
pub struct BondArgs {
    /// The key that signs (a name from `tessera keys list`).
    #[arg(long, value_name = "KEY")]
    from: Option<String>,
    /// Most TSR you accept to pay as fee (default: the exact fee).
    #[arg(long, value_name = "TSR")]
    max_fee: Option<Amount>,
    /// Return after submitting instead of waiting for the block.
    #[arg(long)]
    no_wait: bool,
    /// Read the passphrase from the first line of this file (else TESSERA_PASSPHRASE, else a prompt).
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    /// Amount in TSR to bond.
    amount: Option<Amount>,
}

impl BondArgs {
    /// The bond these options describe, or what is missing.
    pub fn into_stake(self) -> anyhow::Result<StakeArgs> {
        let (Some(from), Some(amount)) = (self.from, self.amount) else {
            anyhow::bail!(
                "give a key and an amount to bond (`tessera stake --from KEY 100`), or a subcommand: delegate, undelegate, take"
            );
        };
        Ok(StakeArgs {
            opts: TxOptions {
                from,
                max_fee: self.max_fee,
                no_wait: self.no_wait,
                pass: PassArgs {
                    passphrase_file: self.passphrase_file,
                },
            },
            amount,
        })
    }
}

#[derive(clap::Args)]
pub struct WithdrawArgs {
    #[command(flatten)]
    opts: TxOptions,
}

pub fn keys(home: &Home, cmd: KeysCommand, out: &Output) -> anyhow::Result<()> {
    let store = home.keystore();
    match cmd {
        KeysCommand::New { name, pass } => {
            tessera_wallet::keystore::validate_name(&name)?;
            let passphrase = read_passphrase(
                &format!("passphrase for new key '{name}': "),
                pass.passphrase_file.as_deref(),
                true,
            )?;
            let address = store.create(&name, &passphrase, KdfParams::OWASP)?;
            out.show(
                &serde_json::json!({ "name": name, "address": address }),
                || format!("created key '{name}': {address}"),
            )
        }
        KeysCommand::ImportDev { index, name, pass } => {
            if index >= DEV_ACCOUNTS {
                bail!(
                    "dev accounts are numbered 0 to {}",
                    DEV_ACCOUNTS.saturating_sub(1)
                );
            }
            tessera_wallet::keystore::validate_name(&name)?;
            let passphrase = read_passphrase(
                &format!("passphrase for key '{name}': "),
                pass.passphrase_file.as_deref(),
                true,
            )?;
            let address = store.import(&name, &dev_key(index), &passphrase, KdfParams::OWASP)?;
            out.show(
                &serde_json::json!({ "name": name, "address": address }),
                || format!("imported dev account {index} as '{name}': {address}"),
            )
        }
        KeysCommand::Import {
            name,
            key_file,
            pass,
        } => {
            tessera_wallet::keystore::validate_name(&name)?;
            let secret = crate::validator::read_key_file(&key_file)?;
            let passphrase = read_passphrase(
                &format!("passphrase for key '{name}': "),
                pass.passphrase_file.as_deref(),
                true,
            )?;
            let keypair = tessera_types::Keypair::from_private(secret);
            let address = store.import(&name, &keypair, &passphrase, KdfParams::OWASP)?;
            out.show(
                &serde_json::json!({ "name": name, "address": address }),
                || format!("imported {} as '{name}': {address}", key_file.display()),
            )
        }
        KeysCommand::List => {
            let keys = store.list()?;
            let json: Vec<_> = keys
                .iter()
                .map(|(n, a)| serde_json::json!({ "name": n, "address": a }))
                .collect();
            out.show(&json, || {
                if keys.is_empty() {
                    format!(
                        "no keys in {}: create one with `tessera keys new NAME`",
                        store.dir().display()
                    )
                } else {
                    keys.iter()
                        .map(|(n, a)| format!("{n:<16} {a}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                }
            })
        }
        KeysCommand::Show { name } => {
            let address = store.address(&name)?;
            out.show(
                &serde_json::json!({ "name": name, "address": address }),
                || address.to_string(),
            )
        }
    }
}

/// An address, or the name of a key in the keystore.
pub(crate) fn resolve_account(home: &Home, text: &str) -> anyhow::Result<Address> {
    if text.starts_with("tsr1") {
        return Ok(text.parse()?);
    }
    Ok(home.keystore().address(text)?)
}

pub async fn balance(
    home: &Home,
    client: &RpcClient,
    args: BalanceArgs,
    out: &Output,
) -> anyhow::Result<()> {
    let address = resolve_account(home, &args.account)?;
    let a = client.account(&address).await?;
    out.show(&a, || {
        let mut text = format!(
            "{}\n  balance   {} TSR\n  nonce     {}\n  bonded    {} TSR{}",
            a.address,
            a.account.balance,
            a.account.nonce,
            a.stake.bonded,
            if a.stake.locked.is_zero() {
                String::new()
            } else {
                format!(" ({} locked)", a.stake.locked)
            }
        );
        for entry in &a.stake.unbonding {
            text.push_str(&format!(
                "\n  unbonding {} TSR, withdrawable from height {}",
                entry.amount, entry.release_height
            ));
        }
        text.push_str(&format!(
            "\n  (verified against state root {} at height {})",
            a.state_root, a.height
        ));
        text
    })
}

pub async fn transfer(
    home: &Home,
    client: &RpcClient,
    args: TransferArgs,
    out: &Output,
) -> anyhow::Result<()> {
    let to = resolve_account(home, &args.to)?;
    send(
        home,
        client,
        &args.opts,
        Call::Transfer {
            to,
            amount: args.amount,
        },
        out,
    )
    .await
}

pub async fn stake(
    home: &Home,
    client: &RpcClient,
    args: StakeArgs,
    bond: bool,
    out: &Output,
) -> anyhow::Result<()> {
    let call = if bond {
        Call::Bond {
            amount: args.amount,
        }
    } else {
        Call::Unbond {
            amount: args.amount,
        }
    };
    send(home, client, &args.opts, call, out).await
}

#[derive(clap::Subcommand)]
pub enum ValidatorCommand {
    /// Register the key as a validator reachable at its p2p address (or change the address).
    /// It is chosen for a set from the next epoch boundary on while its bonded stake is at
    /// least the chain's `min_self_bond` and it is not jailed.
    Register {
        #[command(flatten)]
        opts: TxOptions,
        /// Where the validator's node listens for p2p (ip:port), e.g. 203.0.113.7:27657.
        #[arg(long, value_name = "IP:PORT")]
        p2p: String,
    },
    /// End a jailing for missed leader duties; the validator may be chosen again from the
    /// next epoch boundary.
    Unjail {
        #[command(flatten)]
        opts: TxOptions,
    },
    /// Run a subnet validator: each tempo it audits every miner with paid calls through
    /// its own gateway, checks the answers against its own run of the model, and sets
    /// weights by commit-reveal (embedding subnets; chat audits are not built yet).
    Run(crate::services::ValidatorRunArgs),
}

pub async fn validator(
    home: &Home,
    client: &RpcClient,
    cmd: ValidatorCommand,
    out: &Output,
) -> anyhow::Result<()> {
    match cmd {
        ValidatorCommand::Register { opts, p2p } => {
            tessera_state::staking::validators::check_p2p(&p2p)?;
            send(home, client, &opts, Call::RegisterValidator { p2p }, out).await
        }
        ValidatorCommand::Unjail { opts } => send(home, client, &opts, Call::Unjail, out).await,
        // Runs on its own runtime (see `main`); never reaches here.
        ValidatorCommand::Run(_) => Ok(()),
    }
}

pub async fn withdraw(
    home: &Home,
    client: &RpcClient,
    args: WithdrawArgs,
    out: &Output,
) -> anyhow::Result<()> {
    send(home, client, &args.opts, Call::Withdraw, out).await
}

/// Sign `call` with the `--from` key, submit it, and (unless `--no-wait`) wait for its block.
pub(crate) async fn send(
    home: &Home,
    client: &RpcClient,
    opts: &TxOptions,
    call: Call,
    out: &Output,
) -> anyhow::Result<()> {
    send_for(home, client, opts, call, out).await.map(drop)
}

/// [`send`], returning the committed transaction (`None` with `--no-wait`).
pub(crate) async fn send_for(
    home: &Home,
    client: &RpcClient,
    opts: &TxOptions,
    call: Call,
    out: &Output,
) -> anyhow::Result<Option<TxResponse>> {
    let key = home
        .keystore()
        .unlock(&opts.from, opts.pass.passphrase_file.as_deref())?;
    let id = client.sign_and_submit(&key, call, opts.max_fee).await?;
    if opts.no_wait {
        out.show(
            &serde_json::json!({ "id": id, "status": "submitted" }),
            || format!("submitted tx {id}"),
        )?;
        return Ok(None);
    }
    let result = client.wait_for_tx(id, WAIT_FOR_COMMIT).await?;
    out.show(&result, || describe_tx(&id, &result))?;
    match &result {
        TxResponse::Committed { receipt, .. } => {
            if let TxStatus::Failed(failure) = &receipt.status {
                bail!(
                    "the transaction was included but its call failed: {} (the fee was paid)",
                    failure.text()
                );
            }
        }
        TxResponse::Rejected { reason } => bail!("the transaction was dropped: {reason}"),
        TxResponse::Pending | TxResponse::Unknown => {}
    }
    Ok(Some(result))
}
