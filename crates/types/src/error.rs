//! The one error type of the `types` crate.

/// Errors from parsing or decoding Tessera's basic types.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum TypesError {
    #[error("invalid amount {input:?}: {reason} (write TSR like 12.5, at most 9 decimals)")]
    InvalidAmount { input: String, reason: &'static str },
    #[error("invalid address {input:?}: {reason} (addresses look like tsr1...)")]
    InvalidAddress { input: String, reason: String },
    #[error("invalid hash {input:?}: expected 64 hex characters")]
    InvalidHash { input: String },
    #[error("invalid chain id {input:?}: use 1 to {max} characters of a-z, 0-9 and '-'")]
    InvalidChainId { input: String, max: usize },
    #[error("could not decode {what}: {reason}")]
    Decode { what: &'static str, reason: String },
    #[error("{what} is {size} bytes, over the limit of {max} bytes")]
    TooLarge {
        what: &'static str,
        size: usize,
        max: usize,
    },
    #[error("invalid key: {0}")]
    InvalidKey(String),
}
