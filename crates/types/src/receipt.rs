//! Receipts and events: what executing a transaction or a block did.
//!
//! Receipts are encoded canonically because the block header commits to them
//! (`receipts_root`), so a light client can check an event with a proof.

use crate::{
    codec::{read_list, read_string, string_size, write_list, write_string},
    Address, Amount, Hash,
};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, FixedSize, Read, ReadExt, Write};

/// Most events one receipt may carry.
pub const MAX_EVENTS: usize = 256;
/// Longest failure reason kept in a receipt.
pub const MAX_REASON_BYTES: usize = 512;
const RECEIPT_DOMAIN: &[u8] = b"tessera/receipt/v1";

/// Something that happened to balances or stakes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Transfer {
        from: Address,
        to: Address,
        amount: Amount,
    },
    /// A transaction fee; `burned` when it left the supply instead of reaching the treasury.
    Fee {
        payer: Address,
        amount: Amount,
        burned: bool,
    },
    /// New TSR created by block emission.
    Mint {
        to: Address,
        amount: Amount,
    },
    Bonded {
        staker: Address,
        amount: Amount,
    },
    Unbonding {
        staker: Address,
        amount: Amount,
        release_height: u64,
    },
    Withdrawn {
        staker: Address,
        amount: Amount,
    },
    /// Stake removed as a penalty; `burned` TSR leave the supply.
    Slashed {
        staker: Address,
        amount: Amount,
    },
}

impl Event {
    fn tag(&self) -> u8 {
        match self {
            Event::Transfer { .. } => 0,
            Event::Fee { .. } => 1,
            Event::Mint { .. } => 2,
            Event::Bonded { .. } => 3,
            Event::Unbonding { .. } => 4,
            Event::Withdrawn { .. } => 5,
            Event::Slashed { .. } => 6,
        }
    }
}

impl Write for Event {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_u8(self.tag());
        match self {
            Event::Transfer { from, to, amount } => {
                from.write(buf);
                to.write(buf);
                amount.write(buf);
            }
            Event::Fee {
                payer,
                amount,
                burned,
            } => {
                payer.write(buf);
                amount.write(buf);
                burned.write(buf);
            }
            Event::Mint { to, amount } => {
                to.write(buf);
                amount.write(buf);
            }
            Event::Bonded { staker, amount }
            | Event::Withdrawn { staker, amount }
            | Event::Slashed { staker, amount } => {
                staker.write(buf);
                amount.write(buf);
            }
            Event::Unbonding {
                staker,
                amount,
                release_height,
            } => {
                staker.write(buf);
                amount.write(buf);
                buf.put_u64(*release_height);
            }
        }
    }
}

impl EncodeSize for Event {
    fn encode_size(&self) -> usize {
        1 + match self {
            Event::Transfer { .. } => 2 * Address::SIZE + Amount::SIZE,
            Event::Fee { .. } => Address::SIZE + Amount::SIZE + 1,
            Event::Mint { .. }
            | Event::Bonded { .. }
            | Event::Withdrawn { .. }
            | Event::Slashed { .. } => Address::SIZE + Amount::SIZE,
            Event::Unbonding { .. } => Address::SIZE + Amount::SIZE + 8,
        }
    }
}

impl Read for Event {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let tag = u8::read(buf)?;
        let staker_amount = |buf: &mut _| -> Result<(Address, Amount), CodecError> {
            Ok((Address::read(buf)?, Amount::read(buf)?))
        };
        Ok(match tag {
            0 => Event::Transfer {
                from: Address::read(buf)?,
                to: Address::read(buf)?,
                amount: Amount::read(buf)?,
            },
            1 => Event::Fee {
                payer: Address::read(buf)?,
                amount: Amount::read(buf)?,
                burned: bool::read(buf)?,
            },
            2 => {
                let (to, amount) = staker_amount(buf)?;
                Event::Mint { to, amount }
            }
            3 => {
                let (staker, amount) = staker_amount(buf)?;
                Event::Bonded { staker, amount }
            }
            4 => {
                let (staker, amount) = staker_amount(buf)?;
                Event::Unbonding {
                    staker,
                    amount,
                    release_height: u64::read(buf)?,
                }
            }
            5 => {
                let (staker, amount) = staker_amount(buf)?;
                Event::Withdrawn { staker, amount }
            }
            6 => {
                let (staker, amount) = staker_amount(buf)?;
                Event::Slashed { staker, amount }
            }
            other => return Err(CodecError::InvalidEnum(other)),
        })
    }
}

/// Whether a transaction's call applied. A failed call still pays its fee and uses its nonce.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "status", content = "reason", rename_all = "snake_case")]
pub enum TxStatus {
    Success,
    Failed(String),
}

/// The outcome of one transaction in a block.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Receipt {
    pub tx: Hash,
    #[serde(flatten)]
    pub status: TxStatus,
    pub fee: Amount,
    pub events: Vec<Event>,
}

impl Receipt {
    pub fn hash(&self) -> Hash {
        let mut bytes = Vec::with_capacity(self.encode_size());
        self.write(&mut bytes);
        Hash::digest(RECEIPT_DOMAIN, &[&bytes])
    }
}

impl Write for Receipt {
    fn write(&self, buf: &mut impl BufMut) {
        self.tx.write(buf);
        match &self.status {
            TxStatus::Success => buf.put_u8(0),
            TxStatus::Failed(reason) => {
                buf.put_u8(1);
                write_string(reason, buf);
            }
        }
        self.fee.write(buf);
        write_list(&self.events, buf);
    }
}

impl EncodeSize for Receipt {
    fn encode_size(&self) -> usize {
        let status = match &self.status {
            TxStatus::Success => 1,
            TxStatus::Failed(reason) => 1 + string_size(reason),
        };
        Hash::SIZE
            + status
            + Amount::SIZE
            + 4
            + self
                .events
                .iter()
                .map(EncodeSize::encode_size)
                .sum::<usize>()
    }
}

impl Read for Receipt {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let tx = Hash::read(buf)?;
        let status = match u8::read(buf)? {
            0 => TxStatus::Success,
            1 => TxStatus::Failed(read_string(buf, MAX_REASON_BYTES)?),
            other => return Err(CodecError::InvalidEnum(other)),
        };
        Ok(Receipt {
            tx,
            status,
            fee: Amount::read(buf)?,
            events: read_list(buf, MAX_EVENTS, &())?,
        })
    }
}

/// Everything a block's execution produced: one receipt per transaction, in order, and
/// the block-level events (emission) that belong to no transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlockReceipts {
    pub txs: Vec<Receipt>,
    pub block_events: Vec<Event>,
}

impl BlockReceipts {
    /// The root the header carries: Merkle root over the receipt hashes, then a final
    /// leaf for the block-level events.
    pub fn root(&self) -> Hash {
        let mut leaves: Vec<Hash> = self.txs.iter().map(Receipt::hash).collect();
        let mut block_bytes = Vec::new();
        write_list(&self.block_events, &mut block_bytes);
        leaves.push(Hash::digest(RECEIPT_DOMAIN, &[b"block", &block_bytes]));
        crate::hash::merkle_root(&leaves)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<BlockReceipts, crate::TypesError> {
        crate::codec::decode_bounded("receipts", bytes, crate::block::MAX_BLOCK_BYTES, &())
    }
}

impl Write for BlockReceipts {
    fn write(&self, buf: &mut impl BufMut) {
        write_list(&self.txs, buf);
        write_list(&self.block_events, buf);
    }
}

impl EncodeSize for BlockReceipts {
    fn encode_size(&self) -> usize {
        8 + self.txs.iter().map(EncodeSize::encode_size).sum::<usize>()
            + self
                .block_events
                .iter()
                .map(EncodeSize::encode_size)
                .sum::<usize>()
    }
}

impl Read for BlockReceipts {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(BlockReceipts {
            txs: read_list(buf, crate::MAX_BLOCK_TXS, &())?,
            block_events: read_list(buf, MAX_EVENTS, &())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Keypair;

    #[test]
    fn receipts_round_trip_and_root_changes() {
        let a = Keypair::from_seed(1).address();
        let b = Keypair::from_seed(2).address();
        let receipts = BlockReceipts {
            txs: vec![
                Receipt {
                    tx: Hash::digest(b"x", &[]),
                    status: TxStatus::Success,
                    fee: Amount::from_base(3),
                    events: vec![
                        Event::Transfer {
                            from: a,
                            to: b,
                            amount: Amount::from_base(1),
                        },
                        Event::Fee {
                            payer: a,
                            amount: Amount::from_base(3),
                            burned: false,
                        },
                    ],
                },
                Receipt {
                    tx: Hash::digest(b"y", &[]),
                    status: TxStatus::Failed("insufficient funds".into()),
                    fee: Amount::from_base(3),
                    events: vec![Event::Unbonding {
                        staker: a,
                        amount: Amount::from_base(9),
                        release_height: 44,
                    }],
                },
            ],
            block_events: vec![Event::Mint {
                to: b,
                amount: Amount::from_base(100),
            }],
        };
        let bytes = receipts.to_bytes();
        assert_eq!(bytes.len(), receipts.encode_size());
        let back = BlockReceipts::from_bytes(&bytes).unwrap();
        assert_eq!(back, receipts);
        let mut changed = receipts.clone();
        changed.block_events.clear();
        assert_ne!(changed.root(), receipts.root());
        let json = serde_json::to_string(&receipts).unwrap();
        assert!(json.contains("\"status\":\"failed\""), "{json}");
    }
}
