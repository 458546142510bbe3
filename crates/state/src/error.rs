//! The one error type of the state machine. Each variant says what to do next.

use tessera_types::{Amount, ChainId};

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
}

/// Shorthand for checked arithmetic: `checked(a.checked_add(b), "what")?`.
pub(crate) fn checked<T>(value: Option<T>, what: &'static str) -> Result<T, StateError> {
    value.ok_or(StateError::Overflow(what))
}
