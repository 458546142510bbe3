//! The record stored per block, with a bounded codec.

use crate::BlockLimits;
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, RangeCfg, Read, Write};

/// A finalized block as stored: opaque block and receipts bytes plus what indexes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBlock {
    /// The block height.
    pub height: u64,
    /// The block hash it was stored under.
    pub hash: [u8; 32],
    /// The encoded block (opaque to this crate).
    pub block: Vec<u8>,
    /// The encoded receipts (opaque to this crate).
    pub receipts: Vec<u8>,
    /// The hashes of the block's transactions, in block order.
    pub tx_hashes: Vec<[u8; 32]>,
}

/// What the block archive holds: the block plus the global sequence number of its first
/// transaction (the tx index's archive position).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BlockRecord {
    pub(crate) block: StoredBlock,
    pub(crate) first_tx: u64,
}

impl Write for BlockRecord {
    fn write(&self, buf: &mut impl BufMut) {
        let b = &self.block;
        b.height.write(buf);
        b.hash.write(buf);
        b.block.write(buf);
        b.receipts.write(buf);
        b.tx_hashes.write(buf);
        self.first_tx.write(buf);
    }
}

impl EncodeSize for BlockRecord {
    // Arithmetic safety: a sum of a few lengths of values held in memory cannot overflow.
    #[allow(clippy::arithmetic_side_effects)]
    fn encode_size(&self) -> usize {
        let b = &self.block;
        b.height.encode_size()
            + b.hash.encode_size()
            + b.block.encode_size()
            + b.receipts.encode_size()
            + b.tx_hashes.encode_size()
            + self.first_tx.encode_size()
    }
}

impl Read for BlockRecord {
    type Cfg = BlockLimits;

    fn read_cfg(buf: &mut impl Buf, limits: &BlockLimits) -> Result<Self, commonware_codec::Error> {
        let bytes = |max: usize| -> (RangeCfg<usize>, ()) { ((..=max).into(), ()) };
        let height = u64::read_cfg(buf, &())?;
        let hash = <[u8; 32]>::read_cfg(buf, &())?;
        let block = Vec::<u8>::read_cfg(buf, &bytes(limits.max_block_bytes))?;
        let receipts = Vec::<u8>::read_cfg(buf, &bytes(limits.max_receipts_bytes))?;
        let tx_range: RangeCfg<usize> = (..=limits.max_txs).into();
        let tx_hashes = Vec::<[u8; 32]>::read_cfg(buf, &(tx_range, ()))?;
        let first_tx = u64::read_cfg(buf, &())?;
        Ok(Self {
            block: StoredBlock {
                height,
                hash,
                block,
                receipts,
                tx_hashes,
            },
            first_tx,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{Decode as _, Encode as _};

    fn record(txs: usize) -> BlockRecord {
        BlockRecord {
            block: StoredBlock {
                height: 7,
                hash: [1; 32],
                block: vec![2; 10],
                receipts: vec![3; 5],
                tx_hashes: vec![[4; 32]; txs],
            },
            first_tx: 99,
        }
    }

    #[test]
    fn round_trips() {
        let r = record(3);
        let decoded = BlockRecord::decode_cfg(r.encode(), &BlockLimits::default()).unwrap();
        assert_eq!(decoded, r);
    }

    #[test]
    fn enforces_limits() {
        let limits = BlockLimits {
            max_txs: 2,
            ..BlockLimits::default()
        };
        assert!(BlockRecord::decode_cfg(record(3).encode(), &limits).is_err());
    }
}
