//! [`ConsensusBlock`]: a [`tessera_types::Block`] as marshal and simplex see it.
//!
//! The consensus digest of a block is its tessera block hash (sha256 of the domain-separated
//! header), carried as a commonware [`Sha256Digest`] so that simplex, marshal and the chain
//! all name a block by the same 32 bytes.
//!
//! # Invariants
//! * `digest(b) == to_digest(b.hash())` and `parent(b) == to_digest(b.header.parent)`.
//! * the encoding is the block's canonical tessera encoding; decoding rejects any block over
//!   the configured byte limit (the codec config), so every peer and restart must use the same
//!   limit (marshal's rule: it may grow, never shrink, while blocks are stored).
//! * decoding rejects a body its header does not commit to (tessera's `Block` decoder checks
//!   the transactions root over the full signed bytes), so a block marshal or the broadcast
//!   buffer accepts under a digest is the block that digest names: a peer that alters a
//!   block in flight (a re-signed transaction, say) is refused at the wire, not at commit.

use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, Read, Write};
use commonware_consensus::{types::Height, BoundedBlock, Heightable};
use commonware_cryptography::{sha256::Digest as Sha256Digest, Digestible};
use tessera_types::{Block, Hash};

/// The digest type simplex and marshal use for blocks.
pub type Digest = Sha256Digest;

/// A tessera block hash as a consensus digest.
pub fn to_digest(hash: Hash) -> Digest {
    Sha256Digest(hash.0)
}

/// A consensus digest as a tessera block hash.
pub fn to_hash(digest: &Digest) -> Hash {
    Hash(digest.0)
}

/// A tessera block wrapped for the consensus engine (digest = block hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsensusBlock(pub Block);

impl ConsensusBlock {
    pub fn block(&self) -> &Block {
        &self.0
    }

    pub fn hash(&self) -> Hash {
        self.0.hash()
    }
}

impl Write for ConsensusBlock {
    fn write(&self, buf: &mut impl BufMut) {
        self.0.write(buf);
    }
}

impl EncodeSize for ConsensusBlock {
    fn encode_size(&self) -> usize {
        self.0.encode_size()
    }
}

/// Decoding limit: the largest encoded block accepted, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockLimit {
    pub max_bytes: usize,
}

impl Read for ConsensusBlock {
    type Cfg = BlockLimit;

    fn read_cfg(buf: &mut impl Buf, limit: &BlockLimit) -> Result<Self, CodecError> {
        // The tessera decoder bounds the transaction count and each transaction's size, so
        // this read allocates at most MAX_BLOCK_TXS * MAX_TX_BYTES before the size check.
        let block = Block::read_cfg(buf, &())?;
        check_size(block, limit)
    }
}

fn check_size(block: Block, limit: &BlockLimit) -> Result<ConsensusBlock, CodecError> {
    if block.encode_size() > limit.max_bytes {
        return Err(CodecError::Invalid(
            "ConsensusBlock",
            "block over the size limit",
        ));
    }
    Ok(ConsensusBlock(block))
}

impl Digestible for ConsensusBlock {
    type Digest = Digest;

    fn digest(&self) -> Digest {
        to_digest(self.0.hash())
    }
}

impl Heightable for ConsensusBlock {
    fn height(&self) -> Height {
        Height::new(self.0.header.height)
    }
}

impl commonware_consensus::Block for ConsensusBlock {
    fn parent(&self) -> Digest {
        to_digest(self.0.header.parent)
    }
}

impl BoundedBlock for ConsensusBlock {
    fn max_encode_size(limit: &BlockLimit) -> usize {
        limit.max_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{Decode as _, Encode as _};
    use commonware_consensus::Block as _;
    use tessera_types::{Address, BlockHeader, ChainId};

    fn block(height: u64) -> Block {
        Block {
            header: BlockHeader {
                chain_id: ChainId::new("t").unwrap(),
                height,
                view: 1,
                parent: Hash::digest(b"p", &[]),
                timestamp_ms: 1,
                proposer: Address([7; 32]),
                txs_root: Block::compute_txs_root(&[]),
                receipts_root: Hash::ZERO,
                state_root: Hash::ZERO,
            },
            txs: Vec::new(),
        }
    }

    #[test]
    fn digest_is_the_block_hash_and_codec_round_trips() {
        let b = ConsensusBlock(block(3));
        assert_eq!(to_hash(&b.digest()), b.hash());
        assert_eq!(to_hash(&b.parent()), b.0.header.parent);
        assert_eq!(b.height(), Height::new(3));
        let bytes = b.encode();
        assert_eq!(bytes.as_ref(), b.0.to_bytes().as_slice());
        let limit = BlockLimit { max_bytes: 1024 };
        let back = ConsensusBlock::decode_cfg(bytes.clone(), &limit).unwrap();
        assert_eq!(back, b);
    }

    #[test]
    fn decoding_enforces_the_size_limit() {
        let b = ConsensusBlock(block(3));
        let bytes = b.encode();
        let tight = BlockLimit {
            max_bytes: bytes.len() - 1,
        };
        assert!(ConsensusBlock::decode_cfg(bytes, &tight).is_err());
    }
}
