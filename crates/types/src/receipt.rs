//! Receipts and events: what executing a transaction or a block did.
//!
//! Receipts are encoded canonically because the block header commits to them
//! (`receipts_root`), so a light client can check an event with a proof.

use crate::{
    channel::MarketEvent,
    codec::{read_list, read_string, string_size, write_list, write_string},
    dispute::DisputeEvent,
    subnet::SubnetEvent,
    tx::{ModelId, Shares, MAX_CID_BYTES, MAX_MODEL_NAME_BYTES, MAX_P2P_ADDRESS_BYTES},
    Address, Amount, Hash,
};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, FixedSize, Read, ReadExt, Write};

/// Most events one receipt may carry.
pub const MAX_EVENTS: usize = 256;
const RECEIPT_DOMAIN: &[u8] = b"tessera/receipt/v1";

/// Something that happened to balances, stakes or models.
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
    /// A model was registered and its `total_shares` went to `creator`.
    ModelRegistered {
        model: ModelId,
        name: String,
        creator: Address,
        manifest_cid: String,
        total_shares: Shares,
    },
    /// A new manifest became the model's current version; versions count from 0 (the
    /// manifest it was registered with).
    ModelVersionAdded {
        model: ModelId,
        version: u16,
        manifest_cid: String,
    },
    SharesTransferred {
        model: ModelId,
        from: Address,
        to: Address,
        amount: Shares,
    },
    /// Revenue for a model's share holders, moved from `payer` into the royalty escrow.
    RoyaltiesCredited {
        model: ModelId,
        payer: Address,
        amount: Amount,
    },
    /// Accrued royalties paid from the royalty escrow to `holder`.
    RoyaltiesClaimed {
        model: ModelId,
        holder: Address,
        amount: Amount,
    },
    /// `validator` registered (or changed) its p2p address.
    ValidatorRegistered {
        validator: Address,
        p2p: String,
    },
    /// `validator` missed `missed` of the `led` views it led in `epoch` and is left out
    /// of later sets until it unjails.
    ValidatorJailed {
        validator: Address,
        epoch: u64,
        missed: u64,
        led: u64,
    },
    ValidatorUnjailed {
        validator: Address,
    },
    /// Provider registrations, channels, claims and their split.
    #[serde(untagged)]
    Market(MarketEvent),
    /// Subnets: creation, UIDs, weights, delegation and epochs.
    #[serde(untagged)]
    Subnet(SubnetEvent),
    /// Verify: fraud disputes opened, voted and decided.
    #[serde(untagged)]
    Dispute(DisputeEvent),
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
            Event::ModelRegistered { .. } => 7,
            Event::ModelVersionAdded { .. } => 8,
            Event::SharesTransferred { .. } => 9,
            Event::RoyaltiesCredited { .. } => 10,
            Event::RoyaltiesClaimed { .. } => 11,
            Event::ValidatorRegistered { .. } => 12,
            Event::ValidatorJailed { .. } => 13,
            Event::ValidatorUnjailed { .. } => 14,
            Event::Market(_) => 15,
            Event::Subnet(_) => 16,
            Event::Dispute(_) => 17,
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
            Event::ModelRegistered {
                model,
                name,
                creator,
                manifest_cid,
                total_shares,
            } => {
                model.write(buf);
                write_string(name, buf);
                creator.write(buf);
                write_string(manifest_cid, buf);
                total_shares.write(buf);
            }
            Event::ModelVersionAdded {
                model,
                version,
                manifest_cid,
            } => {
                model.write(buf);
                buf.put_u16(*version);
                write_string(manifest_cid, buf);
            }
            Event::SharesTransferred {
                model,
                from,
                to,
                amount,
            } => {
                model.write(buf);
                from.write(buf);
                to.write(buf);
                amount.write(buf);
            }
            Event::RoyaltiesCredited {
                model,
                payer: who,
                amount,
            }
            | Event::RoyaltiesClaimed {
                model,
                holder: who,
                amount,
            } => {
                model.write(buf);
                who.write(buf);
                amount.write(buf);
            }
            Event::ValidatorRegistered { validator, p2p } => {
                validator.write(buf);
                write_string(p2p, buf);
            }
            Event::ValidatorJailed {
                validator,
                epoch,
                missed,
                led,
            } => {
                validator.write(buf);
                buf.put_u64(*epoch);
                buf.put_u64(*missed);
                buf.put_u64(*led);
            }
            Event::ValidatorUnjailed { validator } => validator.write(buf),
            Event::Market(event) => event.write(buf),
            Event::Subnet(event) => event.write(buf),
            Event::Dispute(event) => event.write(buf),
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
            Event::ModelRegistered {
                name, manifest_cid, ..
            } => {
                ModelId::SIZE
                    + string_size(name)
                    + Address::SIZE
                    + string_size(manifest_cid)
                    + Shares::SIZE
            }
            Event::ModelVersionAdded { manifest_cid, .. } => {
                ModelId::SIZE + 2 + string_size(manifest_cid)
            }
            Event::SharesTransferred { .. } => ModelId::SIZE + 2 * Address::SIZE + Shares::SIZE,
            Event::RoyaltiesCredited { .. } | Event::RoyaltiesClaimed { .. } => {
                ModelId::SIZE + Address::SIZE + Amount::SIZE
            }
            Event::ValidatorRegistered { p2p, .. } => Address::SIZE + string_size(p2p),
            Event::ValidatorJailed { .. } => Address::SIZE + 3 * 8,
            Event::ValidatorUnjailed { .. } => Address::SIZE,
            Event::Market(event) => event.encode_size(),
            Event::Subnet(event) => event.encode_size(),
            Event::Dispute(event) => event.encode_size(),
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
            7..=11 => read_model_event(tag, buf)?,
            12 => Event::ValidatorRegistered {
                validator: Address::read(buf)?,
                p2p: read_string(buf, MAX_P2P_ADDRESS_BYTES)?,
            },
            13 => Event::ValidatorJailed {
                validator: Address::read(buf)?,
                epoch: u64::read(buf)?,
                missed: u64::read(buf)?,
                led: u64::read(buf)?,
            },
            14 => Event::ValidatorUnjailed {
                validator: Address::read(buf)?,
            },
            15 => Event::Market(MarketEvent::read(buf)?),
            16 => Event::Subnet(SubnetEvent::read(buf)?),
            17 => Event::Dispute(DisputeEvent::read(buf)?),
            other => return Err(CodecError::InvalidEnum(other)),
        })
    }
}

/// The `models` events (tags 7–11).
fn read_model_event(tag: u8, buf: &mut impl Buf) -> Result<Event, CodecError> {
    let model = ModelId::read(buf)?;
    Ok(match tag {
        7 => Event::ModelRegistered {
            model,
            name: read_string(buf, MAX_MODEL_NAME_BYTES)?,
            creator: Address::read(buf)?,
            manifest_cid: read_string(buf, MAX_CID_BYTES)?,
            total_shares: Shares::read(buf)?,
        },
        8 => Event::ModelVersionAdded {
            model,
            version: u16::read(buf)?,
            manifest_cid: read_string(buf, MAX_CID_BYTES)?,
        },
        9 => Event::SharesTransferred {
            model,
            from: Address::read(buf)?,
            to: Address::read(buf)?,
            amount: Shares::read(buf)?,
        },
        10 => Event::RoyaltiesCredited {
            model,
            payer: Address::read(buf)?,
            amount: Amount::read(buf)?,
        },
        11 => Event::RoyaltiesClaimed {
            model,
            holder: Address::read(buf)?,
            amount: Amount::read(buf)?,
        },
        other => return Err(CodecError::InvalidEnum(other)),
    })
}

/// Most structured arguments one [`Failure`] carries.
pub const MAX_FAILURE_ARGS: usize = 4;

/// One structured argument of a [`Failure`]: a number (amount in base units, height,
/// count, id) or an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureArg {
    Int(#[serde(with = "u128_text")] u128),
    Address(Address),
}

/// Why a transaction's call failed, as consensus records it: a stable numeric code and
/// at most [`MAX_FAILURE_ARGS`] bounded arguments. The human text is rendered from them
/// at the edge (`tessera_state::error::render`), never hashed, so rewording a message
/// cannot fork the chain and no reason is too long to store.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Failure {
    pub code: u16,
    #[serde(default)]
    pub args: Vec<FailureArg>,
    /// The rendered text, filled in by the node's API for readers; not part of the
    /// encoding, the hash or equality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Failure {
    pub fn new(code: u16, args: Vec<FailureArg>) -> Failure {
        Failure {
            code,
            args,
            message: None,
        }
    }

    /// The rendered message if present, else the bare code.
    pub fn text(&self) -> String {
        self.message
            .clone()
            .unwrap_or_else(|| format!("error code {}", self.code))
    }

    /// The `i`th argument as a number (0 when absent or an address).
    pub fn int(&self, i: usize) -> u128 {
        match self.args.get(i) {
            Some(FailureArg::Int(v)) => *v,
            _ => 0,
        }
    }

    /// The `i`th argument as an address (all zeros when absent or a number).
    pub fn address(&self, i: usize) -> Address {
        match self.args.get(i) {
            Some(FailureArg::Address(a)) => *a,
            _ => Address([0; 32]),
        }
    }
}

impl PartialEq for Failure {
    fn eq(&self, other: &Self) -> bool {
        self.code == other.code && self.args == other.args
    }
}

impl Eq for Failure {}

impl Write for FailureArg {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            FailureArg::Int(v) => {
                buf.put_u8(0);
                buf.put_u128(*v);
            }
            FailureArg::Address(a) => {
                buf.put_u8(1);
                a.write(buf);
            }
        }
    }
}

impl EncodeSize for FailureArg {
    fn encode_size(&self) -> usize {
        1 + match self {
            FailureArg::Int(_) => 16,
            FailureArg::Address(_) => Address::SIZE,
        }
    }
}

impl Read for FailureArg {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(match u8::read(buf)? {
            0 => FailureArg::Int(u128::read(buf)?),
            1 => FailureArg::Address(Address::read(buf)?),
            other => return Err(CodecError::InvalidEnum(other)),
        })
    }
}

impl Write for Failure {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_u16(self.code);
        let args = self.args.get(..MAX_FAILURE_ARGS).unwrap_or(&self.args);
        buf.put_u8(u8::try_from(args.len()).unwrap_or(u8::MAX));
        for arg in args {
            arg.write(buf);
        }
    }
}

impl EncodeSize for Failure {
    fn encode_size(&self) -> usize {
        let args = self.args.get(..MAX_FAILURE_ARGS).unwrap_or(&self.args);
        2 + 1 + args.iter().map(EncodeSize::encode_size).sum::<usize>()
    }
}

impl Read for Failure {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let code = u16::read(buf)?;
        let count = usize::from(u8::read(buf)?);
        if count > MAX_FAILURE_ARGS {
            return Err(CodecError::Invalid("Failure", "too many arguments"));
        }
        let mut args = Vec::with_capacity(count);
        for _ in 0..count {
            args.push(FailureArg::read(buf)?);
        }
        Ok(Failure::new(code, args))
    }
}

/// u128 as a decimal string in JSON (clients that read numbers as doubles never round it).
mod u128_text {
    pub fn serialize<S: serde::Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        crate::integer_from_json::<D, u128>(d, "number")
    }
}

/// Whether a transaction's call applied. A failed call still pays its fee and uses its nonce.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "status", content = "reason", rename_all = "snake_case")]
pub enum TxStatus {
    Success,
    Failed(Failure),
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
            TxStatus::Failed(failure) => {
                buf.put_u8(1);
                failure.write(buf);
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
            TxStatus::Failed(failure) => 1 + failure.encode_size(),
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
            1 => TxStatus::Failed(Failure::read(buf)?),
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
    use commonware_codec::Decode;

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
                    status: TxStatus::Failed(Failure::new(
                        3,
                        vec![FailureArg::Int(7), FailureArg::Address(a)],
                    )),
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
        assert_eq!(
            serde_json::from_str::<BlockReceipts>(&json).unwrap(),
            receipts
        );
        // The rendered message is neither encoded nor compared.
        let mut annotated = receipts.clone();
        if let TxStatus::Failed(f) = &mut annotated.txs[1].status {
            f.message = Some("long text ".repeat(100));
        }
        assert_eq!(annotated, receipts);
        assert_eq!(annotated.to_bytes(), receipts.to_bytes());
        assert_eq!(annotated.root(), receipts.root());
    }

    #[test]
    fn model_events_round_trip() {
        let a = Keypair::from_seed(1).address();
        let b = Keypair::from_seed(2).address();
        let model = ModelId(3);
        let events = vec![
            Event::ModelRegistered {
                model,
                name: "tiny-bert".into(),
                creator: a,
                manifest_cid: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy".into(),
                total_shares: Shares::new(1_000),
            },
            Event::ModelVersionAdded {
                model,
                version: 255,
                manifest_cid: "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG".into(),
            },
            Event::SharesTransferred {
                model,
                from: a,
                to: b,
                amount: Shares::new(10),
            },
            Event::RoyaltiesCredited {
                model,
                payer: b,
                amount: Amount::from_base(99),
            },
            Event::RoyaltiesClaimed {
                model,
                holder: a,
                amount: Amount::from_base(98),
            },
            Event::ValidatorRegistered {
                validator: a,
                p2p: "10.0.0.1:27657".into(),
            },
            Event::ValidatorJailed {
                validator: b,
                epoch: 4,
                missed: 9,
                led: 10,
            },
            Event::ValidatorUnjailed { validator: b },
        ];
        for event in events {
            let mut bytes = Vec::new();
            event.write(&mut bytes);
            assert_eq!(bytes.len(), event.encode_size(), "{event:?}");
            assert_eq!(Event::decode_cfg(bytes.clone(), &()).unwrap(), event);
            let json = serde_json::to_string(&event).unwrap();
            assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), event);
        }
    }

    #[test]
    fn failures_with_too_many_args_do_not_decode() {
        let failure = Failure::new(1, vec![FailureArg::Int(1); MAX_FAILURE_ARGS + 1]);
        let mut bytes = Vec::new();
        buf_write_raw(&failure, &mut bytes);
        assert!(Failure::decode_cfg(bytes, &()).is_err());
        let ok = Failure::new(1, vec![FailureArg::Int(1); MAX_FAILURE_ARGS]);
        let mut bytes = Vec::new();
        ok.write(&mut bytes);
        assert_eq!(Failure::decode_cfg(bytes, &()).unwrap(), ok);
    }

    /// Write every argument, ignoring the cap (what a hostile encoder would send).
    fn buf_write_raw(failure: &Failure, buf: &mut Vec<u8>) {
        buf.put_u16(failure.code);
        buf.put_u8(failure.args.len() as u8);
        for arg in &failure.args {
            arg.write(buf);
        }
    }

    #[test]
    fn model_event_strings_are_bounded() {
        let event = Event::ModelVersionAdded {
            model: ModelId(1),
            version: 1,
            manifest_cid: "b".repeat(MAX_CID_BYTES + 1),
        };
        let mut bytes = Vec::new();
        event.write(&mut bytes);
        assert!(Event::decode_cfg(bytes.clone(), &()).is_err());
    }
}
