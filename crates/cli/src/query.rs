//! `tessera block`, `tessera tx`, `tessera status`.

use crate::Output;
use tessera_rpc::{api::TxResponse, client::BlockId, RpcClient};
use tessera_types::{Hash, TxStatus};

#[derive(clap::Args)]
pub struct BlockArgs {
    /// `latest`, a height, or a block hash.
    #[arg(default_value = "latest")]
    id: BlockId,
}

#[derive(clap::Args)]
pub struct TxArgs {
    /// The transaction id (64 hex characters).
    id: Hash,
}

pub async fn block(client: &RpcClient, args: BlockArgs, out: &Output) -> anyhow::Result<()> {
    let b = client.block(&args.id).await?;
    out.show(&b, || {
        let h = &b.header;
        let mut text = format!(
            "block {} (height {})\n  parent      {}\n  time        {} ms\n  proposer    {}\n  state root  {}\n  txs root    {}\n  transactions {}",
            b.hash, h.height, h.parent, h.timestamp_ms, h.proposer, h.state_root, h.txs_root, b.txs.len()
        );
        for (tx, receipt) in b.txs.iter().zip(&b.receipts.txs) {
            let status = match &receipt.status {
                TxStatus::Success => "ok".to_string(),
                TxStatus::Failed(failure) => format!("failed: {}", failure.text()),
            };
            text.push_str(&format!("\n    {} {} nonce {} {}", tx.id, tx.signer, tx.nonce, status));
        }
        text
    })
}

pub async fn tx(client: &RpcClient, args: TxArgs, out: &Output) -> anyhow::Result<()> {
    let status = client.tx(args.id).await?;
    out.show(&status, || describe_tx(&args.id, &status))
}

pub fn describe_tx(id: &Hash, status: &TxResponse) -> String {
    match status {
        TxResponse::Committed {
            height,
            index,
            receipt,
            tx,
            ..
        } => {
            let outcome = match &receipt.status {
                TxStatus::Success => "succeeded".to_string(),
                TxStatus::Failed(failure) => format!("FAILED: {}", failure.text()),
            };
            format!("tx {id}: committed in block {height} (index {index}), {outcome}\n  {} from {} nonce {}, fee {} TSR", tx.call_name(), tx.signer, tx.nonce, receipt.fee)
        }
        TxResponse::Pending => format!("tx {id}: pending in the mempool"),
        TxResponse::Rejected { reason } => {
            format!("tx {id}: dropped without being included: {reason}")
        }
        TxResponse::Unknown => format!("tx {id}: unknown to this node"),
    }
}

pub async fn status(client: &RpcClient, out: &Output) -> anyhow::Result<()> {
    let s = client.status().await?;
    out.show(&s, || {
        let mut text = format!(
            "chain {} ({} mode, v{})\n  height      {} (finalized {})\n  head        {}\n  state root  {}\n  mempool     {} txs\n  validators  {}",
            s.chain_id, s.mode, s.version, s.height, s.finalized_height, s.head_hash, s.state_root, s.mempool_txs, s.validators.len()
        );
        if let Some(peers) = s.peers {
            text = text.replacen("\n  mempool", &format!("\n  peers       {peers} connected\n  mempool"), 1);
        }
        for v in &s.validators {
            text.push_str(&format!("\n    {}  {} TSR bonded", v.address, v.bonded));
        }
        text
    })
}

pub async fn validators(client: &RpcClient, out: &Output) -> anyhow::Result<()> {
    let set = client.validators().await?;
    out.show(&set, || {
        let mut text = format!(
            "epoch {} (from height {}): {} validators (registered, at least the minimum self-bond, not jailed)",
            set.epoch,
            set.start_height,
            set.members.len()
        );
        for m in &set.members {
            text.push_str(&format!("\n  {}  {} TSR  p2p {}", m.address, m.bonded, m.p2p));
        }
        text
    })
}
