//! Transactions: `{chain_id, signer, nonce, max_fee, call}`, signed by the signer over
//! a domain-separated hash of the canonical encoding.
//!
//! * The transaction id is `sha256("tessera/tx/v1" || encode(tx))`; the signature is
//!   ed25519 over that id under the namespace [`TX_NAMESPACE`]. The chain id inside
//!   the signed bytes makes a transaction useless on any other chain.
//! * A signed transaction on the wire is `encode(tx) || signature(64 bytes)` and may
//!   be at most [`MAX_TX_BYTES`] long.

use crate::{
    codec::{decode_bounded, read_short_bytes, write_short_bytes},
    Address, Amount, Hash, Keypair, PublicKey, Signature, TypesError,
};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, FixedSize, Read, ReadExt, Write};
use commonware_cryptography::{BatchEntry, BatchVerifier, Verifier};
use commonware_parallel::Strategy;
use std::{fmt, str::FromStr};

/// Largest accepted signed transaction, in bytes.
pub const MAX_TX_BYTES: usize = 16 * 1024;
/// Namespace of transaction signatures.
pub const TX_NAMESPACE: &[u8] = b"tessera/tx";
const TX_ID_DOMAIN: &[u8] = b"tessera/tx/v1";
const MAX_CHAIN_ID_LEN: usize = 32;

/// Which chain a transaction is for: 1–32 characters of `a-z`, `0-9`, `-`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChainId(String);

impl ChainId {
    pub fn new(text: &str) -> Result<ChainId, TypesError> {
        let ok = !text.is_empty()
            && text.len() <= MAX_CHAIN_ID_LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(ChainId(text.to_string()))
        } else {
            Err(TypesError::InvalidChainId {
                input: text.to_string(),
                max: MAX_CHAIN_ID_LEN,
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainId({})", self.0)
    }
}

impl FromStr for ChainId {
    type Err = TypesError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ChainId::new(s)
    }
}

impl serde::Serialize for ChainId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for ChainId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        ChainId::new(&text).map_err(serde::de::Error::custom)
    }
}

impl Write for ChainId {
    fn write(&self, buf: &mut impl BufMut) {
        write_short_bytes(self.0.as_bytes(), buf);
    }
}

impl EncodeSize for ChainId {
    fn encode_size(&self) -> usize {
        1usize.saturating_add(self.0.len())
    }
}

impl Read for ChainId {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let bytes = read_short_bytes(buf, MAX_CHAIN_ID_LEN)?;
        let text =
            String::from_utf8(bytes).map_err(|_| CodecError::Invalid("ChainId", "not UTF-8"))?;
        ChainId::new(&text).map_err(|_| CodecError::Invalid("ChainId", "bad characters"))
    }
}

/// What a transaction does. Each variant belongs to one state module.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Call {
    /// bank: move `amount` from the signer to `to`.
    Transfer { to: Address, amount: Amount },
    /// staking: lock `amount` of the signer's balance as bonded stake.
    Bond { amount: Amount },
    /// staking: start unbonding `amount`; it can be withdrawn after the unbonding period.
    Unbond { amount: Amount },
    /// staking: move every matured unbonding entry back to the balance.
    Withdraw,
}

impl Call {
    fn tag(&self) -> u8 {
        match self {
            Call::Transfer { .. } => 0,
            Call::Bond { .. } => 1,
            Call::Unbond { .. } => 2,
            Call::Withdraw => 3,
        }
    }

    /// Short name for logs, metrics and receipts.
    pub fn name(&self) -> &'static str {
        match self {
            Call::Transfer { .. } => "transfer",
            Call::Bond { .. } => "bond",
            Call::Unbond { .. } => "unbond",
            Call::Withdraw => "withdraw",
        }
    }
}

impl Write for Call {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_u8(self.tag());
        match self {
            Call::Transfer { to, amount } => {
                to.write(buf);
                amount.write(buf);
            }
            Call::Bond { amount } | Call::Unbond { amount } => amount.write(buf),
            Call::Withdraw => {}
        }
    }
}

impl EncodeSize for Call {
    fn encode_size(&self) -> usize {
        1 + match self {
            Call::Transfer { .. } => Address::SIZE + Amount::SIZE,
            Call::Bond { .. } | Call::Unbond { .. } => Amount::SIZE,
            Call::Withdraw => 0,
        }
    }
}

impl Read for Call {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let tag = u8::read(buf)?;
        Ok(match tag {
            0 => Call::Transfer {
                to: Address::read(buf)?,
                amount: Amount::read(buf)?,
            },
            1 => Call::Bond {
                amount: Amount::read(buf)?,
            },
            2 => Call::Unbond {
                amount: Amount::read(buf)?,
            },
            3 => Call::Withdraw,
            other => return Err(CodecError::InvalidEnum(other)),
        })
    }
}

/// An unsigned transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    pub chain_id: ChainId,
    pub signer: PublicKey,
    pub nonce: u64,
    pub max_fee: Amount,
    pub call: Call,
}

impl Transaction {
    /// The id that is signed and by which the transaction is known.
    pub fn id(&self) -> Hash {
        let mut bytes = Vec::with_capacity(self.encode_size());
        self.write(&mut bytes);
        Hash::digest(TX_ID_DOMAIN, &[&bytes])
    }

    pub fn sender(&self) -> Address {
        Address::from_public_key(&self.signer)
    }

    /// Size in bytes once signed: the size the fee is charged on.
    pub fn signed_size(&self) -> usize {
        self.encode_size() + Signature::SIZE
    }

    /// Sign with `key`; the key must be the signer's.
    pub fn sign(self, key: &Keypair) -> Result<SignedTransaction, TypesError> {
        if key.public_key() != &self.signer {
            return Err(TypesError::InvalidKey(
                "the signing key is not the transaction's signer".into(),
            ));
        }
        let id = self.id();
        let signature = key.sign(TX_NAMESPACE, &id.0);
        Ok(SignedTransaction::assemble(self, signature, id))
    }
}

impl Write for Transaction {
    fn write(&self, buf: &mut impl BufMut) {
        self.chain_id.write(buf);
        self.signer.write(buf);
        buf.put_u64(self.nonce);
        self.max_fee.write(buf);
        self.call.write(buf);
    }
}

impl EncodeSize for Transaction {
    fn encode_size(&self) -> usize {
        self.chain_id.encode_size()
            + PublicKey::SIZE
            + u64::SIZE
            + Amount::SIZE
            + self.call.encode_size()
    }
}

impl Read for Transaction {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Transaction {
            chain_id: ChainId::read(buf)?,
            signer: PublicKey::read(buf)?,
            nonce: u64::read(buf)?,
            max_fee: Amount::read(buf)?,
            call: Call::read(buf)?,
        })
    }
}

/// A transaction with its signature. The id and encoded size are computed once.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedTransaction {
    tx: Transaction,
    signature: Signature,
    id: Hash,
    size_bytes: usize,
}

impl SignedTransaction {
    fn assemble(tx: Transaction, signature: Signature, id: Hash) -> SignedTransaction {
        let size_bytes = tx.encode_size() + Signature::SIZE;
        SignedTransaction {
            tx,
            signature,
            id,
            size_bytes,
        }
    }

    pub fn tx(&self) -> &Transaction {
        &self.tx
    }

    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    pub fn id(&self) -> Hash {
        self.id
    }

    pub fn sender(&self) -> Address {
        self.tx.sender()
    }

    /// Encoded size in bytes.
    pub fn size_bytes(&self) -> usize {
        self.size_bytes
    }

    /// Check the signature alone (one verification).
    pub fn verify_signature(&self) -> bool {
        self.tx
            .signer
            .verify(TX_NAMESPACE, &self.id.0, &self.signature)
    }

    /// Canonical bytes, as submitted to a node.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.size_bytes);
        self.write(&mut out);
        out
    }

    /// Decode untrusted bytes (size-limited, no trailing bytes). Does not check the signature.
    pub fn from_bytes(bytes: &[u8]) -> Result<SignedTransaction, TypesError> {
        decode_bounded("transaction", bytes, MAX_TX_BYTES, &())
    }
}

/// Verify many signatures at once with ed25519 batch verification, spread over
/// `strategy`'s threads. Returns the indices of the transactions whose signatures
/// fail (empty when all are valid). Batch and single verification agree on every
/// signature (ZIP-215), so the result does not depend on batching.
pub fn verify_signatures(txs: &[SignedTransaction], strategy: &impl Strategy) -> Vec<usize> {
    if txs.is_empty() {
        return Vec::new();
    }
    let all_valid = PublicKey::verify_batch(
        &mut rand::rng(),
        txs,
        |_, tx| BatchEntry {
            namespace: TX_NAMESPACE,
            message: &tx.id.0,
            public_key: &tx.tx.signer,
            signature: &tx.signature,
        },
        strategy,
    );
    if all_valid {
        return Vec::new();
    }
    txs.iter()
        .enumerate()
        .filter(|(_, tx)| !tx.verify_signature())
        .map(|(i, _)| i)
        .collect()
}

impl Write for SignedTransaction {
    fn write(&self, buf: &mut impl BufMut) {
        self.tx.write(buf);
        self.signature.write(buf);
    }
}

impl EncodeSize for SignedTransaction {
    fn encode_size(&self) -> usize {
        self.size_bytes
    }
}

impl Read for SignedTransaction {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let tx = Transaction::read(buf)?;
        let signature = Signature::read(buf)?;
        let id = tx.id();
        Ok(SignedTransaction::assemble(tx, signature, id))
    }
}

impl fmt::Debug for SignedTransaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SignedTransaction({} from {} nonce {} {:?})",
            self.id,
            self.sender(),
            self.tx.nonce,
            self.tx.call
        )
    }
}

/// JSON view of a signed transaction, as the RPC shows it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct TxView {
    pub id: Hash,
    pub chain_id: ChainId,
    pub signer: Address,
    pub nonce: u64,
    pub max_fee: Amount,
    pub call: Call,
    pub size_bytes: usize,
}

impl TxView {
    pub fn call_name(&self) -> &'static str {
        self.call.name()
    }
}

impl From<&SignedTransaction> for TxView {
    fn from(tx: &SignedTransaction) -> Self {
        TxView {
            id: tx.id,
            chain_id: tx.tx.chain_id.clone(),
            signer: tx.sender(),
            nonce: tx.tx.nonce,
            max_fee: tx.tx.max_fee,
            call: tx.tx.call.clone(),
            size_bytes: tx.size_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_parallel::Sequential;

    fn transfer(key: &Keypair, nonce: u64) -> SignedTransaction {
        Transaction {
            chain_id: ChainId::new("tessera-test").unwrap(),
            signer: key.public_key().clone(),
            nonce,
            max_fee: Amount::from_base(1_000),
            call: Call::Transfer {
                to: Keypair::from_seed(99).address(),
                amount: Amount::from_base(5),
            },
        }
        .sign(key)
        .unwrap()
    }

    #[test]
    fn round_trip_and_signature() {
        let key = Keypair::from_seed(1);
        let tx = transfer(&key, 0);
        assert!(tx.verify_signature());
        let bytes = tx.to_bytes();
        assert_eq!(bytes.len(), tx.size_bytes());
        let back = SignedTransaction::from_bytes(&bytes).unwrap();
        assert_eq!(back, tx);
        assert_eq!(back.id(), tx.id());
    }

    #[test]
    fn rejects_trailing_truncated_and_oversized() {
        let tx = transfer(&Keypair::from_seed(1), 0);
        let mut bytes = tx.to_bytes();
        bytes.push(0);
        assert!(SignedTransaction::from_bytes(&bytes).is_err());
        bytes.truncate(bytes.len() - 2);
        assert!(SignedTransaction::from_bytes(&bytes).is_err());
        let huge = vec![0u8; MAX_TX_BYTES + 1];
        assert!(matches!(
            SignedTransaction::from_bytes(&huge),
            Err(TypesError::TooLarge { .. })
        ));
    }

    #[test]
    fn tampering_breaks_the_signature() {
        let key = Keypair::from_seed(1);
        let tx = transfer(&key, 0);
        let mut bytes = tx.to_bytes();
        // The nonce is the 8 bytes after chain id (1 + 12) and signer (32).
        bytes[1 + 12 + 32 + 7] ^= 1;
        let tampered = SignedTransaction::from_bytes(&bytes).unwrap();
        assert_eq!(tampered.tx().nonce, 1);
        assert!(!tampered.verify_signature());
    }

    #[test]
    fn signing_with_the_wrong_key_is_refused() {
        let tx = transfer(&Keypair::from_seed(1), 0).tx().clone();
        assert!(tx.sign(&Keypair::from_seed(2)).is_err());
    }

    #[test]
    fn batch_verification_finds_the_bad_ones() {
        let key = Keypair::from_seed(1);
        let mut txs: Vec<SignedTransaction> = (0..8).map(|n| transfer(&key, n)).collect();
        assert!(verify_signatures(&txs, &Sequential).is_empty());
        let mut bytes = txs[3].to_bytes();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        txs[3] = SignedTransaction::from_bytes(&bytes).unwrap();
        assert_eq!(verify_signatures(&txs, &Sequential), vec![3]);
    }

    #[test]
    fn chain_id_rules() {
        assert!(ChainId::new("tessera-dev-1").is_ok());
        for bad in ["", "Tessera", "a b", &"x".repeat(33)] {
            assert!(ChainId::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn unknown_call_tag_is_rejected() {
        let tx = transfer(&Keypair::from_seed(1), 0);
        let mut bytes = tx.to_bytes();
        let call_at = 1 + 12 + 32 + 8 + 16;
        bytes[call_at] = 200;
        assert!(SignedTransaction::from_bytes(&bytes).is_err());
    }
}
