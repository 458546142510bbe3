//! Tessera's shared vocabulary: every crate that talks about money, accounts,
//! transactions or blocks uses these types, so there is one encoding and one
//! verification rule for each.
//!
//! * [`Amount`]: integer base units of TSR (1 TSR = 10^9 base units).
//! * [`Address`]: an ed25519 public key, shown as bech32 with prefix `tsr`.
//! * [`Transaction`] / [`SignedTransaction`]: `{chain_id, signer, nonce, max_fee, call}`,
//!   signed over a domain-separated hash of its canonical encoding.
//! * [`Block`], [`BlockHeader`], [`Receipt`], [`Event`].
//! * [`Cid`] / [`AnyCid`]: content identifiers (sha2-256 CIDs) parsed from text or bytes.
//!
//! Canonical encoding is `commonware-codec` (see `docs/decisions/0001-codec.md`):
//! every decoder takes explicit limits and rejects trailing or non-canonical bytes.

/// JSON as the type's `Display` text, parsed back with its `FromStr`: one rule for
/// every type that people read (addresses, hashes, chain ids).
#[macro_export]
macro_rules! serde_via_string {
    ($t:ty) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// An unsigned integer from JSON: a decimal string (canonical, so clients that read
/// numbers as doubles never round it) or a plain JSON integer up to `u64::MAX`.
pub(crate) fn integer_from_json<'de, D, T>(d: D, what: &str) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr + From<u64>,
{
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Text(String),
        Number(u64),
    }
    match <Repr as serde::Deserialize>::deserialize(d)? {
        Repr::Text(text) => text
            .parse::<T>()
            .map_err(|_| serde::de::Error::custom(format!("invalid {what} {text:?}"))),
        Repr::Number(n) => Ok(T::from(n)),
    }
}

pub mod address;
pub mod amount;
pub mod block;
pub mod call;
pub mod channel;
pub mod cid;
pub mod codec;
pub mod dispute;
pub mod error;
pub mod evidence;
pub mod hash;
pub mod keys;
pub mod receipt;
pub mod subnet;
pub mod tx;
pub mod voucher;

pub use address::Address;
pub use amount::Amount;
pub use block::{Block, BlockHeader, MAX_BLOCK_TXS};
pub use cid::{AnyCid, Cid, CidError};
pub use error::TypesError;
pub use evidence::{DoubleSign, EvidenceError};
pub use hash::Hash;
pub use keys::{Keypair, PublicKey, Signature};
pub use receipt::{BlockReceipts, Event, Failure, FailureArg, Receipt, TxStatus};
pub use tx::{Call, ChainId, SignedTransaction, Transaction, MAX_TX_BYTES};
