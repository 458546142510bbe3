//! `tessera model`, `tessera shares`, `tessera royalties`.

use crate::{
    home::Home,
    wallet::{resolve_account, send, TxOptions},
    Output,
};
use anyhow::{bail, Context};
use tessera_rpc::RpcClient;
use tessera_types::{
    tx::{Bps, DataLink, ModelSpec, RevenueSplit, Shares},
    Address, Amount, Call,
};

#[derive(clap::Subcommand)]
pub enum ModelCommand {
    /// List registered models.
    List,
    /// Show a model: CIDs, price, split, versions, top holders.
    Show {
        /// Model name or id.
        model: String,
    },
    /// Publish a model directory (files + manifest) as a new model, or a new version of one.
    Publish(Box<crate::publish::PublishArgs>),
    /// Fetch a model's files by CID (verified, cached) and run it here on one input.
    Run(crate::run_model::RunArgs),
    /// Check a claimed output (the JSON `--json model run` prints) against the model.
    Check(crate::check_model::CheckArgs),
    /// Register a model whose files are already uploaded under a manifest CID
    /// (`tessera model publish` does both).
    Register(Box<RegisterArgs>),
}

#[derive(clap::Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    opts: TxOptions,
    /// Unique name: 1-64 characters of a-z, 0-9, '-'.
    #[arg(long)]
    name: String,
    /// CID of the manifest listing the model's files.
    #[arg(long, value_name = "CID")]
    manifest_cid: String,
    /// Runtime/architecture tag, e.g. candle-bert or llama-gguf.
    #[arg(long)]
    runtime: String,
    #[command(flatten)]
    terms: Terms,
}

/// A model's economic terms, shared by `model register` and `model publish`.
#[derive(clap::Args, Clone, Debug)]
pub struct Terms {
    #[arg(long, default_value = "Apache-2.0")]
    pub license: String,
    /// Ownership shares minted to you.
    #[arg(long)]
    pub shares: u64,
    /// Price per call in TSR.
    #[arg(long, value_name = "TSR")]
    pub price: Amount,
    /// Price per generated token in TSR.
    #[arg(long, value_name = "TSR", default_value = "0")]
    pub price_per_token: Amount,
    /// Revenue split in percent: compute=60,owners=25,data=10,treasury=5 (sums to 100;
    /// a data share needs --data-link).
    #[arg(long, default_value = "compute=60,owners=30,data=0,treasury=10")]
    pub split: String,
    /// A data provider and its weight in percent of the data share, e.g. tsr1...=100.
    #[arg(long = "data-link", value_name = "ADDRESS=PERCENT")]
    pub data_links: Vec<String>,
}

#[derive(clap::Subcommand)]
pub enum SharesCommand {
    /// Transfer shares of a model.
    Transfer {
        #[command(flatten)]
        opts: TxOptions,
        /// Model name or id.
        model: String,
        /// Recipient: an address or one of your key names.
        to: String,
        amount: u64,
    },
}

#[derive(clap::Args)]
pub struct RoyaltiesArgs {
    #[command(subcommand)]
    claim: Option<RoyaltiesCommand>,
    /// Whose royalties to show: a key name or an address.
    #[arg(long, value_name = "KEY")]
    from: Option<String>,
}

#[derive(clap::Subcommand)]
pub enum RoyaltiesCommand {
    /// Claim royalties (of one model, or of every model with something to claim).
    Claim {
        #[command(flatten)]
        opts: TxOptions,
        /// Model name or id (default: all).
        model: Option<String>,
    },
}

pub async fn model(
    home: &Home,
    client: &RpcClient,
    cmd: ModelCommand,
    out: &Output,
) -> anyhow::Result<()> {
    match cmd {
        ModelCommand::List => {
            let models = client.models().await?;
            out.show(&models, || {
                if models.is_empty() {
                    return "no models registered yet".into();
                }
                models
                    .iter()
                    .map(|m| {
                        let s = &m.model.spec;
                        let price = if s.price_base_per_call.is_zero()
                            && !s.price_base_per_token.is_zero()
                        {
                            format!("{} TSR/token", s.price_base_per_token)
                        } else {
                            format!("{} TSR/call", s.price_base_per_call)
                        };
                        format!(
                            "{:>4}  {:<24} {:<12} {:<20} {}",
                            m.id.0, s.name, s.runtime, price, s.manifest_cid
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        ModelCommand::Show { model } => {
            let m = client.model(&model).await?;
            out.show(&m, || describe_model(&m))
        }
        ModelCommand::Publish(args) => {
            crate::publish::publish_command(home, client, *args, out).await
        }
        ModelCommand::Run(args) => crate::run_model::run(home, client, args, out).await,
        ModelCommand::Check(args) => crate::check_model::check(home, client, args, out).await,
        ModelCommand::Register(args) => {
            let spec = build_spec(&args.name, &args.manifest_cid, &args.runtime, &args.terms)?;
            send(home, client, &args.opts, Call::RegisterModel(spec), out).await
        }
    }
}

fn describe_model(m: &tessera_rpc::api::ModelResponse) -> String {
    let s = &m.model.spec;
    let pct = |b: Bps| format!("{}.{:02}%", b.get() / 100, b.get() % 100);
    let mut text = format!(
        "model {} (id {}) by {}\n  runtime   {}\n  license   {}\n  price     {} TSR/call, {} TSR/token\n  split     compute {}, owners {}, data {}, treasury {}\n  shares    {}\n  royalties credited {} TSR, paid {} TSR",
        s.name, m.id.0, m.model.creator, s.runtime, s.license, s.price_base_per_call, s.price_base_per_token,
        pct(s.split.compute_bps), pct(s.split.owners_bps), pct(s.split.data_bps), pct(s.split.treasury_bps),
        s.total_shares, m.pool.credited, m.pool.paid
    );
    let current = m.versions.len().saturating_sub(1);
    for (i, v) in m.versions.iter().enumerate() {
        let mark = if i == current { "current" } else { "       " };
        text.push_str(&format!(
            "\n  version {i:<3} {mark} {} (height {}) {}",
            v.manifest_cid, v.height, v.note
        ));
    }
    for h in &m.top_holders {
        text.push_str(&format!("\n  holder    {} {}", h.address, h.shares));
    }
    text
}

/// A percentage with at most two decimals ("60", "12.5", "0.01") to basis points.
fn percent_to_bps(text: &str) -> anyhow::Result<Bps> {
    let bad = || anyhow::anyhow!("percentage {text:?} must be 0-100 with at most two decimals");
    let trimmed = text.trim();
    let (whole, frac) = trimmed.split_once('.').unwrap_or((trimmed, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || frac.len() > 2 || !digits(whole) || !digits(frac) {
        return Err(bad());
    }
    let whole: u32 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let frac: u32 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
    let bps = whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(frac))
        .filter(|b| *b <= 10_000)
        .ok_or_else(bad)?;
    Ok(Bps::new(u16::try_from(bps)?))
}

fn parse_split(text: &str) -> anyhow::Result<RevenueSplit> {
    let mut split = RevenueSplit::default();
    for part in text.split(',') {
        let (name, value) = part
            .split_once('=')
            .with_context(|| format!("split part {part:?} is not name=percent"))?;
        let bps = percent_to_bps(value)?;
        match name.trim() {
            "compute" => split.compute_bps = bps,
            "owners" => split.owners_bps = bps,
            "data" => split.data_bps = bps,
            "treasury" => split.treasury_bps = bps,
            other => bail!("unknown split part {other:?}: use compute, owners, data and treasury"),
        }
    }
    Ok(split)
}

/// The registration of `name` with these terms, checked as the chain will check it.
pub(crate) fn build_spec(
    name: &str,
    manifest_cid: &str,
    runtime: &str,
    terms: &Terms,
) -> anyhow::Result<ModelSpec> {
    let data_links = terms
        .data_links
        .iter()
        .map(|link| {
            let (addr, pct) = link
                .split_once('=')
                .with_context(|| format!("data link {link:?} is not ADDRESS=PERCENT"))?;
            Ok(DataLink {
                provider: addr.parse::<Address>()?,
                weight_bps: percent_to_bps(pct)?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let spec = ModelSpec {
        name: name.to_owned(),
        manifest_cid: manifest_cid.to_owned(),
        runtime: runtime.to_owned(),
        license: terms.license.clone(),
        total_shares: Shares::new(terms.shares),
        price_base_per_call: terms.price,
        price_base_per_token: terms.price_per_token,
        split: parse_split(&terms.split)?,
        data_links,
    };
    // The same checks the chain runs, before paying a fee for a doomed call.
    tessera_state::models::check_spec(&spec)?;
    Ok(spec)
}

pub async fn shares(
    home: &Home,
    client: &RpcClient,
    cmd: SharesCommand,
    out: &Output,
) -> anyhow::Result<()> {
    let SharesCommand::Transfer {
        opts,
        model,
        to,
        amount,
    } = cmd;
    let id = client.model(&model).await?.id;
    let to = resolve_account(home, &to)?;
    let call = Call::TransferShares {
        model: id,
        to,
        amount: Shares::new(amount),
    };
    send(home, client, &opts, call, out).await
}

pub async fn royalties(
    home: &Home,
    client: &RpcClient,
    args: RoyaltiesArgs,
    out: &Output,
) -> anyhow::Result<()> {
    match args.claim {
        None => {
            let who = args
                .from
                .context("say whose royalties: --from KEY (or an address)")?;
            let address = resolve_account(home, &who)?;
            let lines = client.royalties(&address).await?;
            out.show(&lines, || {
                if lines.is_empty() {
                    return format!("{address} holds no model shares");
                }
                lines
                    .iter()
                    .map(|l| {
                        format!(
                            "{:<24} {} shares, {} TSR claimable",
                            l.name, l.holding.shares, l.holding.claimable
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        Some(RoyaltiesCommand::Claim { opts, model }) => {
            let address = home.keystore().address(&opts.from)?;
            let lines = client.royalties(&address).await?;
            let targets: Vec<_> = lines
                .iter()
                .filter(|l| {
                    model
                        .as_deref()
                        .is_none_or(|m| m == l.name || m == l.id.0.to_string())
                })
                .filter(|l| !l.holding.claimable.is_zero())
                .collect();
            if targets.is_empty() {
                bail!(
                    "nothing to claim for {}: royalties accrue when the model is paid for",
                    opts.from
                );
            }
            for line in targets {
                send(
                    home,
                    client,
                    &opts,
                    Call::ClaimRoyalties { model: line.id },
                    out,
                )
                .await?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_to_basis_points() {
        for (text, bps) in [
            ("60", 6_000),
            ("12.5", 1_250),
            ("0.01", 1),
            (".5", 50),
            ("5.", 500),
            ("100", 10_000),
            ("0", 0),
        ] {
            assert_eq!(percent_to_bps(text).unwrap(), Bps::new(bps), "{text}");
        }
        for text in [
            "",
            ".",
            "100.01",
            "1.234",
            "abc",
            "-1",
            "1e2",
            "99999999999",
        ] {
            assert!(percent_to_bps(text).is_err(), "{text:?} should be refused");
        }
    }

    #[test]
    fn split_parses_all_four_parts() {
        let split = parse_split("compute=60,owners=25,data=10,treasury=5").unwrap();
        assert_eq!(
            (
                split.compute_bps,
                split.owners_bps,
                split.data_bps,
                split.treasury_bps
            ),
            (
                Bps::new(6_000),
                Bps::new(2_500),
                Bps::new(1_000),
                Bps::new(500)
            )
        );
        assert!(parse_split("compute=60,gpu=40").is_err());
    }
}
