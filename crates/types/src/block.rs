//! Blocks: a header that commits to the parent, the transactions, their receipts and
//! the state after executing them; and the transactions themselves.
//!
//! The block hash is `sha256("tessera/block/v1" || encode(header))`, so the header
//! alone authenticates the whole block: the transactions root commits to every signed
//! byte of every transaction ([`SignedTransaction::leaf_hash`]).
//!
//! # Invariants
//! * a [`Block`] decoded from bytes carries exactly the transactions its header's
//!   `txs_root` commits to: decoding refuses any other body, so whoever hands a node a
//!   block under a known hash can only hand it the genuine one.

use crate::{
    codec::{decode_bounded, read_list, write_list},
    hash::merkle_root,
    Address, ChainId, Hash, SignedTransaction, TypesError, MAX_TX_BYTES,
};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, FixedSize, Read, ReadExt, Write};

/// Most transactions one block may carry.
pub const MAX_BLOCK_TXS: usize = 10_000;
/// Largest encoded block.
pub const MAX_BLOCK_BYTES: usize = 32 * 1024 * 1024;
const BLOCK_DOMAIN: &[u8] = b"tessera/block/v2";

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlockHeader {
    pub chain_id: ChainId,
    pub height: u64,
    /// The consensus view (round) the block was proposed in, counted from 1 in each
    /// epoch; consecutive blocks of an epoch have increasing views, and the views
    /// between them were skipped (their leaders proposed nothing that was finalized).
    /// The dev producer numbers its blocks the same way.
    pub view: u64,
    pub parent: Hash,
    /// Proposer's wall clock in milliseconds since the Unix epoch. Informational: the
    /// state machine never reads it.
    pub timestamp_ms: u64,
    pub proposer: Address,
    /// Merkle root of the transactions' leaf hashes (their full signed bytes), in block
    /// order.
    pub txs_root: Hash,
    /// Merkle root of the hashes of the receipts, in block order.
    pub receipts_root: Hash,
    /// Root of the authenticated state after executing this block.
    pub state_root: Hash,
}

impl BlockHeader {
    pub fn hash(&self) -> Hash {
        let mut bytes = Vec::with_capacity(self.encode_size());
        self.write(&mut bytes);
        Hash::digest(BLOCK_DOMAIN, &[&bytes])
    }
}

impl Write for BlockHeader {
    fn write(&self, buf: &mut impl BufMut) {
        self.chain_id.write(buf);
        buf.put_u64(self.height);
        buf.put_u64(self.view);
        self.parent.write(buf);
        buf.put_u64(self.timestamp_ms);
        self.proposer.write(buf);
        self.txs_root.write(buf);
        self.receipts_root.write(buf);
        self.state_root.write(buf);
    }
}

impl EncodeSize for BlockHeader {
    fn encode_size(&self) -> usize {
        self.chain_id.encode_size() + 8 + 8 + Hash::SIZE + 8 + Address::SIZE + 3 * Hash::SIZE
    }
}

impl Read for BlockHeader {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(BlockHeader {
            chain_id: ChainId::read(buf)?,
            height: u64::read(buf)?,
            view: u64::read(buf)?,
            parent: Hash::read(buf)?,
            timestamp_ms: u64::read(buf)?,
            proposer: Address::read(buf)?,
            txs_root: Hash::read(buf)?,
            receipts_root: Hash::read(buf)?,
            state_root: Hash::read(buf)?,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub header: BlockHeader,
    pub txs: Vec<SignedTransaction>,
}

impl Block {
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }

    pub fn height(&self) -> u64 {
        self.header.height
    }

    /// The transactions root the header must carry for these transactions.
    pub fn compute_txs_root(txs: &[SignedTransaction]) -> Hash {
        let leaves: Vec<Hash> = txs.iter().map(SignedTransaction::leaf_hash).collect();
        merkle_root(&leaves)
    }

    /// Whether the body is the one the header commits to.
    pub fn body_matches_header(&self) -> bool {
        Block::compute_txs_root(&self.txs) == self.header.txs_root
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encode_size());
        self.write(&mut out);
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Block, TypesError> {
        decode_bounded("block", bytes, MAX_BLOCK_BYTES, &())
    }
}

impl Write for Block {
    fn write(&self, buf: &mut impl BufMut) {
        self.header.write(buf);
        write_list(&self.txs, buf);
    }
}

impl EncodeSize for Block {
    fn encode_size(&self) -> usize {
        self.header.encode_size()
            + 4
            + self
                .txs
                .iter()
                .map(SignedTransaction::size_bytes)
                .sum::<usize>()
    }
}

impl Read for Block {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let header = BlockHeader::read(buf)?;
        let txs: Vec<SignedTransaction> = read_list(buf, MAX_BLOCK_TXS, &())?;
        if txs.iter().any(|tx| tx.size_bytes() > MAX_TX_BYTES) {
            return Err(CodecError::Invalid(
                "Block",
                "transaction over the size limit",
            ));
        }
        let block = Block { header, txs };
        if !block.body_matches_header() {
            return Err(CodecError::Invalid(
                "Block",
                "transactions do not match the header's transactions root",
            ));
        }
        Ok(block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Amount, Call, Keypair, Transaction};

    fn block(n_txs: u64) -> Block {
        let key = Keypair::from_seed(1);
        let txs: Vec<SignedTransaction> = (0..n_txs)
            .map(|nonce| {
                Transaction {
                    chain_id: ChainId::new("t").unwrap(),
                    signer: key.public_key().clone(),
                    nonce,
                    max_fee: Amount::from_base(10),
                    call: Call::Withdraw,
                }
                .sign(&key)
                .unwrap()
            })
            .collect();
        Block {
            header: BlockHeader {
                chain_id: ChainId::new("t").unwrap(),
                height: 7,
                view: 3,
                parent: Hash::digest(b"p", &[]),
                timestamp_ms: 1,
                proposer: key.address(),
                txs_root: Block::compute_txs_root(&txs),
                receipts_root: Hash::ZERO,
                state_root: Hash::ZERO,
            },
            txs,
        }
    }

    #[test]
    fn round_trip() {
        let b = block(3);
        let bytes = b.to_bytes();
        assert_eq!(bytes.len(), b.encode_size());
        let back = Block::from_bytes(&bytes).unwrap();
        assert_eq!(back, b);
        assert_eq!(back.hash(), b.hash());
    }

    #[test]
    fn hash_commits_to_header_fields() {
        let b = block(1);
        let mut other = b.clone();
        other.header.state_root = Hash::digest(b"s", &[]);
        assert_ne!(b.hash(), other.hash());
    }

    /// A block whose header is genuine but one of whose signatures was swapped for
    /// another valid one (same transaction id) does not decode.
    #[test]
    fn a_body_other_than_the_committed_one_does_not_decode() {
        let b = block(2);
        let mut forged = b.clone();
        let other = block(3).txs[2].signature().clone();
        let tx = forged.txs[0].clone();
        let mut bytes = tx.to_bytes();
        let sig_at = bytes.len() - 64;
        bytes[sig_at..].copy_from_slice(&commonware_codec::Encode::encode(&other));
        forged.txs[0] = SignedTransaction::from_bytes(&bytes).unwrap();
        assert_eq!(
            forged.txs[0].id(),
            b.txs[0].id(),
            "the id ignores the signature"
        );
        assert_eq!(forged.hash(), b.hash(), "the header is untouched");
        assert!(!forged.body_matches_header());
        assert!(Block::from_bytes(&forged.to_bytes()).is_err());
        assert!(Block::from_bytes(&b.to_bytes()).is_ok());
    }

    #[test]
    fn rejects_trailing_bytes_and_absurd_counts() {
        let mut bytes = block(1).to_bytes();
        bytes.push(1);
        assert!(Block::from_bytes(&bytes).is_err());
        let mut header_only = Vec::new();
        block(0).header.write(&mut header_only);
        header_only.put_u32(u32::MAX);
        assert!(Block::from_bytes(&header_only).is_err());
    }
}
