//! The market commands: `provider` (register, update, leave, list), `providers MODEL`
//! and `channel` (open, top-up, extend, show, list, refund). Arguments and printing only:
//! the rules are in `tessera_state::{providers, channels}`, the queries in the RPC client.

use crate::{
    wallet::{resolve_account, send, send_for, TxOptions},
    Output,
};
use anyhow::{bail, Context};
use tessera_rpc::{api::TxResponse, RpcClient};
use tessera_state::providers::check_endpoint;
use tessera_types::{
    channel::{MarketEvent, Price},
    tx::ModelId,
    Amount, Call, Event, Hash,
};

#[derive(clap::Subcommand)]
pub enum ProviderCommand {
    /// Register to serve MODEL: bonds and locks --stake from the balance.
    Register {
        #[command(flatten)]
        opts: TxOptions,
        /// Model name or id.
        model: String,
        /// Stake to lock, in TSR (at least the chain's min_provider_stake).
        #[arg(long, value_name = "TSR")]
        stake: Amount,
        /// Your price in TSR per the model's unit (per token if the model charges per
        /// token, else per call); at least the model's own price.
        #[arg(long, value_name = "TSR")]
        price: Amount,
        /// The URL clients call, e.g. http://203.0.113.7:7301.
        #[arg(long, value_name = "URL")]
        endpoint: String,
    },
    /// Change a registration's price or endpoint, or add stake.
    Update {
        #[command(flatten)]
        opts: TxOptions,
        model: String,
        #[arg(long, value_name = "TSR")]
        price: Option<Amount>,
        #[arg(long, value_name = "URL")]
        endpoint: Option<String>,
        #[arg(long, value_name = "TSR", default_value = "0")]
        add_stake: Amount,
    },
    /// Stop serving MODEL: the stake unbonds once the last channel's claim window closes.
    Leave {
        #[command(flatten)]
        opts: TxOptions,
        model: String,
    },
    /// The models an account (a key name or address) is registered to serve.
    List { account: String },
    /// Serve every model the key registered for (the provider daemon).
    Run {
        #[arg(long, value_name = "KEY")]
        from: String,
        /// Where to listen (default: the registered endpoint's address).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Read the passphrase from the first line of this file.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<std::path::PathBuf>,
        /// Claim a channel's charges once the oldest is this old.
        #[arg(long, default_value_t = 60, value_name = "SECS")]
        claim_after_secs: u64,
        /// Claim a channel's charges once they reach this much.
        #[arg(long, default_value = "1", value_name = "TSR")]
        claim_at: Amount,
    },
}

#[derive(clap::Subcommand)]
pub enum ChannelCommand {
    /// Open a payment channel to a provider of a model, moving --deposit into escrow.
    Open {
        #[command(flatten)]
        opts: TxOptions,
        /// The provider: a key name or an address.
        #[arg(long, value_name = "PROVIDER")]
        to: String,
        /// Model name or id.
        #[arg(long)]
        model: String,
        /// TSR to deposit.
        #[arg(long, value_name = "TSR")]
        deposit: Amount,
        /// Blocks until it expires (the provider claims until then plus the claim window).
        #[arg(long, value_name = "BLOCKS")]
        expiry_blocks: u64,
    },
    /// Add TSR to a channel's deposit.
    TopUp {
        #[command(flatten)]
        opts: TxOptions,
        id: Hash,
        amount: Amount,
    },
    /// Move a channel's expiry later.
    Extend {
        #[command(flatten)]
        opts: TxOptions,
        id: Hash,
        #[arg(long, value_name = "BLOCKS")]
        blocks: u64,
    },
    /// Show a channel: deposit, claims per lane, expiry (verified with a state proof).
    Show { id: Hash },
    /// The open channels an account pays into (or serves, with --serving).
    List {
        /// A key name or an address.
        account: String,
        #[arg(long)]
        serving: bool,
    },
    /// After expiry and the claim window, take back what was not claimed.
    Refund {
        #[command(flatten)]
        opts: TxOptions,
        id: Hash,
    },
}

/// A model id from a name or a number, checked on chain.
async fn model_id(client: &RpcClient, model: &str) -> anyhow::Result<(ModelId, Price)> {
    let listed = client.model_providers(model).await?;
    Ok((listed.model, listed.price))
}

fn describe_price(price: &Price) -> String {
    match (price.per_call.is_zero(), price.per_token.is_zero()) {
        (_, true) => format!("{} TSR/call", price.per_call),
        (true, false) => format!("{} TSR/token", price.per_token),
        (false, false) => format!(
            "{} TSR/call + {} TSR/token",
            price.per_call, price.per_token
        ),
    }
}

fn asking(model: &Price, unit: Amount) -> anyhow::Result<Price> {
    Price::asking(model, unit).with_context(|| {
        format!(
            "price {unit} TSR does not scale the model's price ({}) to whole base units: pick a multiple",
            describe_price(model)
        )
    })
}

pub async fn provider(
    home: &crate::home::Home,
    client: &RpcClient,
    cmd: ProviderCommand,
    out: &Output,
) -> anyhow::Result<()> {
    match cmd {
        ProviderCommand::Register {
            opts,
            model,
            stake,
            price,
            endpoint,
        } => {
            check_endpoint(&endpoint)?;
            let (model, model_price) = model_id(client, &model).await?;
            let price = asking(&model_price, price)?;
            let call = Call::RegisterProvider {
                model,
                stake,
                price,
                endpoint,
            };
            send(home, client, &opts, call, out).await
        }
        ProviderCommand::Update {
            opts,
            model,
            price,
            endpoint,
            add_stake,
        } => {
            let address = home.keystore().address(&opts.from)?;
            let (model, model_price) = model_id(client, &model).await?;
            let current = client
                .registrations(&address)
                .await?
                .into_iter()
                .find(|line| line.model == model)
                .with_context(|| format!("{} is not registered for model {model}", opts.from))?;
            let price = match price {
                Some(unit) => asking(&model_price, unit)?,
                None => current.provider.price,
            };
            let endpoint = endpoint.unwrap_or(current.provider.endpoint);
            check_endpoint(&endpoint)?;
            let call = Call::UpdateProvider {
                model,
                add_stake,
                price,
                endpoint,
            };
            send(home, client, &opts, call, out).await
        }
        ProviderCommand::Leave { opts, model } => {
            let (model, _) = model_id(client, &model).await?;
            send(home, client, &opts, Call::LeaveProvider { model }, out).await
        }
        ProviderCommand::List { account } => {
            let address = resolve_account(home, &account)?;
            let lines = client.registrations(&address).await?;
            out.show(&lines, || {
                if lines.is_empty() {
                    return format!("{address} serves no model");
                }
                lines
                    .iter()
                    .map(|l| {
                        format!(
                            "{:<20} {}  stake {} TSR  {}",
                            l.name,
                            describe_price(&l.provider.price),
                            l.provider.stake,
                            l.provider.endpoint
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        ProviderCommand::Run { .. } => bail!("`provider run` runs outside the client runtime"),
    }
}

/// `tessera providers MODEL`.
pub async fn providers(client: &RpcClient, model: &str, out: &Output) -> anyhow::Result<()> {
    let listed = client.model_providers(model).await?;
    out.show(&listed, || {
        let mut text = format!(
            "{} (model {}): holders charge {}",
            listed.name,
            listed.model,
            describe_price(&listed.price)
        );
        if listed.providers.is_empty() {
            text.push_str("\n  no providers yet: `tessera provider register` to serve it");
        }
        for p in &listed.providers {
            text.push_str(&format!(
                "\n  {}  {}  stake {} TSR  {}",
                p.address,
                describe_price(&p.provider.price),
                p.provider.stake,
                p.provider.endpoint
            ));
        }
        text
    })
}

/// The id of the channel a committed `open_channel` created.
fn opened_channel(response: &TxResponse) -> Option<Hash> {
    let TxResponse::Committed { receipt, .. } = response else {
        return None;
    };
    receipt.events.iter().find_map(|e| match e {
        Event::Market(MarketEvent::ChannelOpened { channel, .. }) => Some(*channel),
        _ => None,
    })
}

pub async fn channel(
    home: &crate::home::Home,
    client: &RpcClient,
    cmd: ChannelCommand,
    out: &Output,
) -> anyhow::Result<()> {
    match cmd {
        ChannelCommand::Open {
            opts,
            to,
            model,
            deposit,
            expiry_blocks,
        } => {
            let provider = resolve_account(home, &to)?;
            let (model, _) = model_id(client, &model).await?;
            let call = Call::OpenChannel {
                provider,
                model,
                deposit,
                expiry_blocks,
            };
            let response = send_for(home, client, &opts, call, out).await?;
            if let Some(id) = response.as_ref().and_then(opened_channel) {
                if !out.json {
                    println!("channel {id}");
                }
            }
            Ok(())
        }
        ChannelCommand::TopUp { opts, id, amount } => {
            let call = Call::TopUpChannel {
                channel: id,
                amount,
            };
            send(home, client, &opts, call, out).await
        }
        ChannelCommand::Extend { opts, id, blocks } => {
            let call = Call::ExtendChannel {
                channel: id,
                blocks,
            };
            send(home, client, &opts, call, out).await
        }
        ChannelCommand::Refund { opts, id } => {
            send(
                home,
                client,
                &opts,
                Call::RefundChannel { channel: id },
                out,
            )
            .await
        }
        ChannelCommand::Show { id } => {
            let c = client.channel(&id).await?;
            out.show(&c, || {
                let ch = &c.channel;
                let state = if ch.closed {
                    "closed (refunded)".to_string()
                } else if c.height > c.claim_deadline {
                    "expired: the payer may refund".to_string()
                } else if c.height > ch.expires_at {
                    format!("expired: claims land until height {}", c.claim_deadline)
                } else {
                    format!("open until height {}", ch.expires_at)
                };
                let mut text = format!(
                    "channel {id}\n  {state}\n  payer     {}\n  provider  {}\n  model     {}  at {} (model price {})\n  deposit   {} TSR, claimed {} TSR",
                    ch.payer,
                    ch.provider,
                    ch.model,
                    describe_price(&ch.provider_price),
                    describe_price(&ch.model_price),
                    ch.deposit,
                    ch.claimed
                );
                for lane in &c.lanes {
                    text.push_str(&format!("\n  lane {:<4} {} TSR claimed", lane.lane, lane.claimed));
                }
                text.push_str(&format!(
                    "\n  (verified against state root {} at height {})",
                    c.state_root, c.height
                ));
                text
            })
        }
        ChannelCommand::List { account, serving } => {
            let address = resolve_account(home, &account)?;
            let lines = client.channels_of(&address, !serving).await?;
            out.show(&lines, || {
                if lines.is_empty() {
                    return format!("{address} has no open channels");
                }
                lines
                    .iter()
                    .map(|l| {
                        format!(
                            "{}  model {}  deposit {} TSR  claimed {} TSR  expires at {}",
                            l.id,
                            l.channel.model,
                            l.channel.deposit,
                            l.channel.claimed,
                            l.channel.expires_at
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
    }
}

/// `tessera spend --from KEY`: what an account's open channels hold and paid, per model.
pub async fn spend(
    home: &crate::home::Home,
    client: &RpcClient,
    account: &str,
    out: &Output,
) -> anyhow::Result<()> {
    let address = resolve_account(home, account)?;
    let lines = client.channels_of(&address, true).await?;
    let mut per_model: std::collections::BTreeMap<ModelId, (usize, Amount, Amount)> =
        std::collections::BTreeMap::new();
    for l in &lines {
        let entry = per_model
            .entry(l.channel.model)
            .or_insert((0, Amount::ZERO, Amount::ZERO));
        entry.0 = entry.0.saturating_add(1);
        entry.1 = entry.1.checked_add(l.channel.deposit).unwrap_or(entry.1);
        entry.2 = entry.2.checked_add(l.channel.claimed).unwrap_or(entry.2);
    }
    let json: Vec<_> = per_model
        .iter()
        .map(|(model, (channels, deposit, claimed))| {
            serde_json::json!({"model": model, "channels": channels, "deposit": deposit, "claimed": claimed})
        })
        .collect();
    out.show(&json, || {
        if per_model.is_empty() {
            return format!("{address} has no open channels");
        }
        per_model
            .iter()
            .map(|(model, (channels, deposit, claimed))| {
                format!(
                    "model {model}: {claimed} TSR claimed by providers, of {deposit} TSR deposited in {channels} channel(s)"
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}
