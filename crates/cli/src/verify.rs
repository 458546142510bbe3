//! `tessera verify ...`: fraud disputes. `report` opens one from evidence (a provider's
//! signed receipt with the request and the answer), `vote` decides with the other
//! validators, `list` and `show` read them. `overclaim` reports a claim above the
//! provider's own receipt (decided by the provider's answer, not by votes);
//! `overclaims` lists those reports.

use crate::{
    home::Home,
    wallet::{send, TxOptions},
    Output,
};
use anyhow::Context;
use std::path::PathBuf;
use tessera_rpc::{
    disputes::{DisputeView, OverclaimView},
    RpcClient, RpcError,
};
use tessera_types::{
    call::CallReceipt,
    dispute::{overclaim_id, FraudEvidence, Verdict},
    Amount, Call, Hash,
};

/// The largest evidence file read (evidence in a transaction is at most 16 KiB; JSON
/// doubles it as hex).
const MAX_EVIDENCE_FILE_BYTES: u64 = 64 * 1024;

/// `tessera verify ...`
#[derive(clap::Subcommand)]
pub enum VerifyCommand {
    /// Report a provider's wrong answer as fraud, bonding TSR: the subnet's other
    /// validators re-run the check and vote; proven fraud slashes the provider, a
    /// rejected report burns the bond.
    Report {
        #[command(flatten)]
        opts: TxOptions,
        /// Evidence as JSON: {"receipt": {...}, "request": "<hex>", "output": "<hex>"}
        /// (the validator daemon writes these; see docs/subnets.md).
        evidence: PathBuf,
        /// TSR to bond (at least the chain's dispute_min_bond, 10 TSR by default).
        #[arg(long, default_value = "10")]
        bond: Amount,
    },
    /// Vote on an open dispute after re-running its check yourself.
    Vote {
        #[command(flatten)]
        opts: TxOptions,
        /// The dispute id (from `tessera verify list`).
        dispute: Hash,
        /// guilty (the answer is wrong) or innocent.
        verdict: Vote,
    },
    /// Report a provider that claimed more on a channel lane than its own receipt says
    /// it charged there, bonding TSR. The provider may answer with a later receipt
    /// (the bond burns); unanswered, it is slashed and the payer repaid. A gateway
    /// reports these by itself; this is for receipts kept by hand.
    Overclaim {
        #[command(flatten)]
        opts: TxOptions,
        /// The receipt: the hex of an `x-tessera-receipt` header, or a file holding that
        /// hex or the receipt as JSON.
        receipt: String,
        /// TSR to bond (at least the chain's dispute_min_bond, 10 TSR by default).
        #[arg(long, default_value = "10")]
        bond: Amount,
    },
    /// The open disputes.
    List,
    /// The open overclaim reports.
    Overclaims,
    /// One dispute or overclaim report, open or decided.
    Show { dispute: Hash },
}

/// A vote on a dispute.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Vote {
    Guilty,
    Innocent,
}

pub async fn verify(
    home: &Home,
    client: &RpcClient,
    cmd: VerifyCommand,
    out: &Output,
) -> anyhow::Result<()> {
    match cmd {
        VerifyCommand::Report {
            opts,
            evidence,
            bond,
        } => {
            let evidence = read_evidence(&evidence)?;
            eprintln!(
                "reporting {} (model {}): dispute {}",
                evidence.receipt.provider,
                evidence.receipt.model,
                evidence.dispute_id()
            );
            let call = Call::ReportFraud {
                evidence: Box::new(evidence),
                bond,
            };
            send(home, client, &opts, call, out).await
        }
        VerifyCommand::Vote {
            opts,
            dispute,
            verdict,
        } => {
            let call = Call::VoteDispute {
                dispute,
                guilty: matches!(verdict, Vote::Guilty),
            };
            send(home, client, &opts, call, out).await
        }
        VerifyCommand::Overclaim {
            opts,
            receipt,
            bond,
        } => {
            let receipt = read_receipt(&receipt)?;
            let lanes = client.channel(&receipt.channel).await?.lanes;
            let claimed = lanes
                .iter()
                .find(|l| l.lane == receipt.lane)
                .map_or(Amount::ZERO, |l| l.claimed);
            if claimed <= receipt.lane_charged {
                anyhow::bail!(
                    "lane {} of channel {} is claimed up to {claimed} TSR, not above the {} TSR this receipt says was charged: nothing was overclaimed",
                    receipt.lane,
                    receipt.channel,
                    receipt.lane_charged
                );
            }
            eprintln!(
                "reporting {} for claiming {claimed} TSR on lane {} of channel {} (its receipt says {} TSR): overclaim {}",
                receipt.provider,
                receipt.lane,
                receipt.channel,
                receipt.lane_charged,
                overclaim_id(&receipt, claimed)
            );
            let call = Call::ReportOverclaim {
                receipt: Box::new(receipt),
                bond,
            };
            send(home, client, &opts, call, out).await
        }
        VerifyCommand::Overclaims => {
            let open = client.overclaims().await?;
            out.show(&open, || {
                if open.is_empty() {
                    return "no open overclaim reports".into();
                }
                open.iter()
                    .map(describe_overclaim)
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        VerifyCommand::List => {
            let open = client.disputes().await?;
            out.show(&open, || {
                if open.is_empty() {
                    return "no open disputes".into();
                }
                open.iter().map(describe).collect::<Vec<_>>().join("\n")
            })
        }
        VerifyCommand::Show { dispute } => match client.dispute(&dispute).await {
            Ok(view) => out.show(&view, || describe(&view)),
            Err(RpcError::Api { status: 404, .. }) => {
                let view = client.overclaim(&dispute).await?;
                out.show(&view, || describe_overclaim(&view))
            }
            Err(e) => Err(e.into()),
        },
    }
}

fn read_evidence(path: &std::path::Path) -> anyhow::Result<FraudEvidence> {
    let what = path.display().to_string();
    let bytes = crate::input::read_limited(
        path,
        MAX_EVIDENCE_FILE_BYTES,
        &what,
        ": evidence is one call",
    )?;
    let evidence: FraudEvidence = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is not fraud evidence (a receipt, the request and the output: docs/subnets.md)",
            path.display()
        )
    })?;
    evidence
        .check(&evidence.receipt.chain_id)
        .with_context(|| format!("{} is not evidence the chain accepts", path.display()))?;
    Ok(evidence)
}

/// A receipt from hex text, or from a file of hex or JSON.
fn read_receipt(arg: &str) -> anyhow::Result<CallReceipt> {
    if let Some(receipt) = CallReceipt::from_hex(arg.trim()) {
        return Ok(receipt);
    }
    let path = std::path::Path::new(arg);
    let bytes = crate::input::read_limited(
        path,
        MAX_EVIDENCE_FILE_BYTES * 2,
        arg,
        ": a receipt is one call's",
    )?;
    let text = String::from_utf8_lossy(&bytes);
    let receipt = CallReceipt::from_hex(text.trim())
        .or_else(|| serde_json::from_slice(&bytes).ok())
        .with_context(|| {
            format!(
                "{arg} is not a call receipt (the hex of an x-tessera-receipt header, or its JSON)"
            )
        })?;
    anyhow::ensure!(
        receipt.verify(),
        "the receipt in {arg} is not signed by its provider {}: the chain refuses it",
        receipt.provider
    );
    Ok(receipt)
}

fn describe_overclaim(view: &OverclaimView) -> String {
    let o = &view.overclaim;
    let state = match o.verdict {
        None if view.height < o.deadline => format!(
            "open: the provider may answer until block {} ({} blocks left)",
            o.deadline,
            o.deadline - view.height
        ),
        None => format!("deciding at block {}", o.deadline),
        Some(Verdict::Proven) => format!(
            "PROVEN (unanswered): {} TSR slashed, {} TSR repaid to the payer {}",
            o.slashed, o.restitution, o.payer
        ),
        Some(Verdict::Rejected) => {
            "rejected: the provider showed a later receipt; the bond was burned".into()
        }
        Some(Verdict::Undecided) => "undecided: the bond was returned".into(),
    };
    format!(
        "overclaim {}\n  provider {} claimed {} TSR on lane {} of channel {}; its receipt says {} TSR\n  reported by {} with a {} TSR bond at block {}\n  {state}",
        view.id,
        o.receipt.provider,
        o.claimed,
        o.receipt.lane,
        o.receipt.channel,
        o.receipt.lane_charged,
        o.reporter,
        o.bond,
        o.opened_at,
    )
}

fn describe(view: &DisputeView) -> String {
    let d = &view.dispute;
    let state = match d.verdict {
        None if view.height < d.deadline => format!(
            "open, voting until block {} ({} blocks left)",
            d.deadline,
            d.deadline - view.height
        ),
        None => format!("deciding at block {}", d.deadline),
        Some(Verdict::Proven) => format!("PROVEN: {} TSR slashed", d.slashed),
        Some(Verdict::Rejected) => "rejected: the bond was burned".into(),
        Some(Verdict::Undecided) => "undecided (too few votes): the bond was returned".into(),
    };
    format!(
        "dispute {}\n  provider {} (model {}), reported by {} with a {} TSR bond at block {}\n  votes: guilty {} TSR, innocent {} TSR, of {} TSR eligible\n  {state}",
        view.id,
        d.provider(),
        d.model(),
        d.reporter,
        d.bond,
        d.opened_at,
        d.guilty_weight,
        d.innocent_weight,
        d.eligible_weight,
    )
}
