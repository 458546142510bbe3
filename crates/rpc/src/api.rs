//! Request and response bodies of the HTTP API (JSON). Amounts are strings of base
//! units; hashes and proofs are hex.

use serde::{Deserialize, Serialize};
use tessera_state::{
    bank::Account,
    channels::Channel,
    models::{
        royalties::{Holding, RoyaltyPool},
        Model, Version,
    },
    providers::Provider,
    staking::Stake,
    Params,
};
use tessera_types::tx::{ModelId, Shares};
use tessera_types::{channel::Price, Amount};
use tessera_types::{tx::TxView, Address, BlockHeader, BlockReceipts, ChainId, Hash, Receipt};

/// `POST /v1/txs`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SubmitTx {
    /// The signed transaction's canonical bytes, hex.
    pub tx: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Submitted {
    pub id: Hash,
}

/// `GET /v1/txs/{id}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TxResponse {
    Committed {
        height: u64,
        index: u32,
        block: Hash,
        tx: Box<TxView>,
        receipt: Box<Receipt>,
    },
    Pending,
    Rejected {
        reason: String,
    },
    Unknown,
}

/// `GET /v1/accounts/{address}`: balance, nonce and stake at the head, with proofs of
/// both state entries against the head's state root.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccountResponse {
    pub address: Address,
    pub height: u64,
    pub state_root: Hash,
    pub account: Account,
    /// The nonce the account's next transaction should use: past its transactions
    /// already in this node's mempool (not proven; `account.nonce` is).
    #[serde(default)]
    pub next_nonce: u64,
    pub stake: Stake,
    /// Hex of the store's proof for the account entry (inclusion or absence).
    pub account_proof: String,
    /// Hex of the store's proof for the stake entry (inclusion or absence).
    pub stake_proof: String,
}

/// `GET /v1/blocks/{latest|height|hash}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BlockResponse {
    pub hash: Hash,
    pub header: BlockHeader,
    pub txs: Vec<TxView>,
    pub receipts: BlockReceipts,
}

/// `GET /v1/finality/{height}`: the block's canonical bytes and the consensus certificate
/// that finalized it, both hex; a follower verifies both itself.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FinalityResponse {
    pub height: u64,
    pub block: String,
    pub certificate: String,
}

/// `GET /v1/status`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StatusResponse {
    pub chain_id: ChainId,
    pub height: u64,
    /// Highest final block: on the dev chain every committed block is final.
    pub finalized_height: u64,
    pub head_hash: Hash,
    pub state_root: Hash,
    pub timestamp_ms: u64,
    pub mempool_txs: usize,
    pub mode: String,
    /// Validators this node holds an authenticated p2p connection with (validators only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peers: Option<usize>,
    pub version: String,
    pub params: Params,
    /// The current epoch's validator set (the state's choice by bonded stake), with stakes.
    #[serde(default)]
    pub validators: Vec<ValidatorView>,
}

/// A member of the validator set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorView {
    pub address: Address,
    pub bonded: tessera_types::Amount,
    /// The p2p address it registered (`ip:port`).
    pub p2p: String,
}

/// One message of the event stream (`GET /v1/events`, server-sent events named `block`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BlockEvent {
    pub height: u64,
    pub hash: Hash,
    pub timestamp_ms: u64,
    pub txs: Vec<Hash>,
    pub receipts: BlockReceipts,
}

/// Body of every error response: `{code, message}`.
pub use tessera_http::ErrorBody;

/// `GET /v1/models`: every registered model (at most 1,000), by id.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelSummary {
    pub id: ModelId,
    pub model: Model,
}

/// A holder of a model's shares.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Holder {
    pub address: Address,
    pub shares: Shares,
}

/// `GET /v1/models/{name|id}`: the model, its versions, its royalty pool and its
/// largest holders (at most 20).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelResponse {
    pub id: ModelId,
    pub model: Model,
    pub versions: Vec<Version>,
    pub pool: RoyaltyPool,
    pub top_holders: Vec<Holder>,
}

/// One model's line in `GET /v1/royalties/{address}`: the holding as if settled now
/// (`holding.claimable` is what a claim pays).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RoyaltyLine {
    pub id: ModelId,
    pub name: String,
    pub holding: Holding,
}

/// A provider's registration for one model, as listed by the market routes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProviderLine {
    pub address: Address,
    pub model: ModelId,
    /// The model's name.
    pub name: String,
    pub provider: Provider,
}

/// `GET /v1/models/{name|id}/providers`: the model's price and its providers (at most
/// 256, in address order).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelProviders {
    pub model: ModelId,
    pub name: String,
    /// The model's registered price (what holders charge).
    pub price: Price,
    pub providers: Vec<ProviderLine>,
}

/// One lane's claimed total.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LaneClaim {
    pub lane: u32,
    pub claimed: Amount,
}

/// `GET /v1/channels/{id}`: the channel at the head, its lanes' claimed totals, the last
/// height a claim lands, and a proof of the record against `state_root`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChannelResponse {
    pub id: Hash,
    pub height: u64,
    pub state_root: Hash,
    pub channel: Channel,
    pub claim_deadline: u64,
    pub lanes: Vec<LaneClaim>,
    /// Proof of the channel record (hex), checked by `client::verify_channel`.
    pub proof: String,
}

/// One line of `GET /v1/accounts/{address}/channels?role=payer|provider`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChannelLine {
    pub id: Hash,
    pub channel: Channel,
}
