//! `tessera verify ...`: fraud disputes. `report` opens one from evidence (a provider's
//! signed receipt with the request and the answer), `vote` decides with the other
//! validators, `list` and `show` read them.

use crate::{
    home::Home,
    wallet::{send, TxOptions},
    Output,
};
use anyhow::Context;
use std::path::PathBuf;
use tessera_rpc::{disputes::DisputeView, RpcClient};
use tessera_types::{
    dispute::{FraudEvidence, Verdict},
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
    /// The open disputes.
    List,
    /// One dispute, open or decided.
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
        VerifyCommand::List => {
            let open = client.disputes().await?;
            out.show(&open, || {
                if open.is_empty() {
                    return "no open disputes".into();
                }
                open.iter().map(describe).collect::<Vec<_>>().join("\n")
            })
        }
        VerifyCommand::Show { dispute } => {
            let view = client.dispute(&dispute).await?;
            out.show(&view, || describe(&view))
        }
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
