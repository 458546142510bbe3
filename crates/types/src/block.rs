//! Blocks: a header that commits to the parent, the transactions, their receipts and
//! the state after executing them; and the transactions themselves.
//!
//! The block hash is `sha256("tessera/block/v1" || encode(header))`, so the header
//! alone authenticates the whole block.

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
const BLOCK_DOMAIN: &[u8] = b"tessera/block/v1";

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlockHeader {
    pub chain_id: ChainId,
    pub height: u64,
    pub parent: Hash,
    /// Proposer's wall clock in milliseconds since the Unix epoch. Informational: the
    /// state machine never reads it.
    pub timestamp_ms: u64,
    pub proposer: Address,
    /// Merkle root of the transaction ids, in block order.
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
        self.chain_id.encode_size() + 8 + Hash::SIZE + 8 + Address::SIZE + 3 * Hash::SIZE
    }
}

impl Read for BlockHeader {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(BlockHeader {
            chain_id: ChainId::read(buf)?,
            height: u64::read(buf)?,
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
        let ids: Vec<Hash> = txs.iter().map(SignedTransaction::id).collect();
        merkle_root(&ids)
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
        Ok(Block { header, txs })
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
