//! The one error type of the state machine. Each variant says what to do next.

use tessera_types::{
    tx::{ModelId, Shares},
    Address, Amount, ChainId,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("transaction is for chain {got}, this chain is {expected}: sign it with --chain-id {expected}")]
    WrongChain { expected: ChainId, got: ChainId },
    #[error("nonce {got} was already used: the next nonce of this account is {expected}")]
    StaleNonce { expected: u64, got: u64 },
    #[error("nonce {got} is ahead: the next nonce of this account is {expected}")]
    FutureNonce { expected: u64, got: u64 },
    #[error("fee {required} TSR is more than max_fee {max_fee} TSR: raise max_fee")]
    FeeTooLow { required: Amount, max_fee: Amount },
    #[error("insufficient funds: needs {needed} TSR, balance is {available} TSR")]
    InsufficientFunds { needed: Amount, available: Amount },
    #[error(
        "insufficient stake: asked for {requested} TSR, {available} TSR is bonded and unlocked"
    )]
    InsufficientStake {
        requested: Amount,
        available: Amount,
    },
    #[error("cannot unlock {requested} TSR: only {locked} TSR is locked")]
    NotLocked { requested: Amount, locked: Amount },
    #[error("nothing to withdraw at height {height}{}", next_release.map(|h| format!(": next release at height {h}")).unwrap_or_default())]
    NothingToWithdraw {
        height: u64,
        next_release: Option<u64>,
    },
    #[error("at most {max} unbonding entries per account: withdraw matured ones first")]
    TooManyUnbonding { max: usize },
    #[error("amount must be greater than zero")]
    ZeroAmount,
    #[error("arithmetic overflow in {0}")]
    Overflow(&'static str),
    #[error("state entry {key} is corrupt: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("invalid genesis: {0}")]
    InvalidGenesis(String),
    #[error("invalid parameters: {0}")]
    InvalidParams(String),
    #[error("state has no {0}: was the chain initialised from a genesis file?")]
    Missing(&'static str),
    #[error("model name {name:?} is invalid: use 1 to 64 characters of a-z, 0-9 and '-'")]
    InvalidModelName { name: String },
    #[error("manifest CID {cid:?} is invalid: {reason} (expected CIDv1 base32 like \"bafy...\" or CIDv0 like \"Qm...\")")]
    InvalidCid {
        cid: String,
        reason: tessera_types::cid::CidReason,
    },
    #[error("invalid {field}: {reason}")]
    InvalidModelField {
        field: &'static str,
        reason: &'static str,
    },
    #[error(
        "total shares must be between 1 and {max}, got {total}: choose a share count in that range"
    )]
    InvalidTotalShares { total: Shares, max: Shares },
    #[error("revenue split sums to {total_bps} bps: compute + owners + data + treasury must be exactly 10000")]
    InvalidSplit { total_bps: u32 },
    #[error("invalid data-provider links: {reason}")]
    InvalidDataLinks { reason: &'static str },
    #[error("model name {name:?} is already taken by model {model}: pick another name")]
    ModelNameTaken { name: String, model: ModelId },
    #[error("no model with id {model}: check the id (models are numbered from 1)")]
    UnknownModel { model: ModelId },
    #[error("only model {model}'s creator {creator} may add versions to it")]
    NotModelCreator { model: ModelId, creator: Address },
    #[error("model {model} already has the maximum of {max} versions: register the new weights as a new model")]
    TooManyVersions { model: ModelId, max: usize },
    #[error("manifest {cid} is already the current version of model {model}: nothing to add")]
    SameManifest { model: ModelId, cid: String },
    #[error(
        "insufficient shares of model {model}: asked to send {requested}, holding {available}"
    )]
    InsufficientShares {
        model: ModelId,
        requested: Shares,
        available: Shares,
    },
    #[error("sender and recipient are the same address: nothing to transfer")]
    SelfTransfer,
    #[error("no royalties to claim from model {model} yet: they accrue as the model's revenue is credited to its share holders")]
    NothingToClaim { model: ModelId },
    #[error("royalty accounting of model {model} would overflow in {what}: the amount is beyond the bounds documented in state::models (claim accrued royalties, or credit smaller amounts)")]
    RoyaltyOverflow { model: ModelId, what: &'static str },
    #[error("double-sign evidence refused: {0}")]
    InvalidEvidence(String),
    #[error("validator {validator} was already slashed in epoch {epoch}: one penalty per epoch")]
    AlreadySlashed { validator: Address, epoch: u64 },
    #[error("validator {validator} has no stake left to slash")]
    NothingToSlash { validator: Address },
}

/// Shorthand for checked arithmetic: `checked(a.checked_add(b), "what")?`.
pub(crate) fn checked<T>(value: Option<T>, what: &'static str) -> Result<T, StateError> {
    value.ok_or(StateError::Overflow(what))
}
