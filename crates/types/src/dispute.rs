//! Fraud evidence against a provider and the events of the dispute it opens (the rules
//! live in `tessera_state::verify`).
//!
//! Evidence is a provider's own signed [`CallReceipt`] with the two preimages it binds:
//! the request body (its [`body_hash`] is the receipt's `request_hash`) and the output
//! (its plain SHA-256 is the receipt's `output_hash`: the embedding values as `f32`
//! little-endian bytes, or the generated token ids as `u32` little-endian bytes). So the
//! chain checks, without running a model, that the provider did sign this answer to this
//! request; whether the answer is wrong is what the validators' re-execution votes
//! decide.

use crate::{
    call::{body_hash, CallReceipt},
    codec::decode_bounded,
    tx::{ChainId, ModelId},
    Address, Amount, Hash, TypesError,
};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, FixedSize, Read, ReadExt, Write};

/// Longest request body evidence carries, in bytes.
pub const MAX_EVIDENCE_REQUEST_BYTES: usize = 4_096;
/// Longest claimed output evidence carries, in bytes (five 384-value embeddings fit).
pub const MAX_EVIDENCE_OUTPUT_BYTES: usize = 8_192;
const DISPUTE_DOMAIN: &[u8] = b"tessera/dispute/v1";
const OVERCLAIM_DOMAIN: &[u8] = b"tessera/overclaim/v1";

/// The overclaim dispute `receipt` opens against a lane claimed up to `claimed`: one per
/// receipt and claimed total (a later, larger claim can be disputed again).
pub fn overclaim_id(receipt: &CallReceipt, claimed: Amount) -> Hash {
    Hash::digest(
        OVERCLAIM_DOMAIN,
        &[&receipt.message(), &claimed.base().to_be_bytes()],
    )
}

/// A provider's signed answer to one request, as evidence that the answer is wrong.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FraudEvidence {
    pub receipt: CallReceipt,
    /// The request body the provider received, hex in JSON.
    #[serde(with = "hex_bytes")]
    pub request: Vec<u8>,
    /// The output the provider answered, as hashed into its receipt, hex in JSON.
    #[serde(with = "hex_bytes")]
    pub output: Vec<u8>,
}

/// Why evidence is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceFault {
    #[error("the receipt is not signed by its provider")]
    BadSignature,
    #[error("the receipt is for chain {found:?}, not this one")]
    WrongChain { found: String },
    #[error("the request body does not hash to the receipt's request_hash")]
    RequestMismatch,
    #[error("the output does not hash to the receipt's output_hash")]
    OutputMismatch,
    #[error("the evidence's request or output is longer than allowed")]
    TooLong,
}

/// The check every receipt in a transaction passes: signed by its provider, on this
/// chain.
pub fn check_receipt(receipt: &CallReceipt, chain_id: &ChainId) -> Result<(), EvidenceFault> {
    if receipt.chain_id != *chain_id {
        return Err(EvidenceFault::WrongChain {
            found: receipt.chain_id.as_str().to_string(),
        });
    }
    if !receipt.verify() {
        return Err(EvidenceFault::BadSignature);
    }
    Ok(())
}

impl FraudEvidence {
    /// The dispute this evidence opens: one per receipt.
    pub fn dispute_id(&self) -> Hash {
        Hash::digest(DISPUTE_DOMAIN, &[&self.receipt.message()])
    }

    /// The checks that need no state: the provider signed a receipt on this chain for
    /// exactly this request and this output.
    pub fn check(&self, chain_id: &ChainId) -> Result<(), EvidenceFault> {
        if self.request.len() > MAX_EVIDENCE_REQUEST_BYTES
            || self.output.len() > MAX_EVIDENCE_OUTPUT_BYTES
        {
            return Err(EvidenceFault::TooLong);
        }
        check_receipt(&self.receipt, chain_id)?;
        if body_hash(&self.request) != self.receipt.request_hash {
            return Err(EvidenceFault::RequestMismatch);
        }
        if output_hash(&self.output) != self.receipt.output_hash {
            return Err(EvidenceFault::OutputMismatch);
        }
        Ok(())
    }

    /// Evidence from its canonical bytes.
    pub fn decode(bytes: &[u8]) -> Result<FraudEvidence, TypesError> {
        decode_bounded("fraud evidence", bytes, crate::MAX_TX_BYTES, &())
    }
}

/// The output hash a receipt carries: plain SHA-256 of the output's bytes.
pub fn output_hash(output: &[u8]) -> Hash {
    Hash::digest(b"", &[output])
}

fn write_bytes(bytes: &[u8], buf: &mut impl BufMut) {
    buf.put_u32(u32::try_from(bytes.len()).unwrap_or(u32::MAX));
    buf.put_slice(bytes);
}

fn read_bytes(buf: &mut impl Buf, max: usize) -> Result<Vec<u8>, CodecError> {
    let len = usize::try_from(u32::read(buf)?).map_err(|_| CodecError::InvalidUsize)?;
    if len > max {
        return Err(CodecError::Invalid("FraudEvidence", "longer than allowed"));
    }
    if buf.remaining() < len {
        return Err(CodecError::EndOfBuffer);
    }
    let mut out = vec![0u8; len];
    buf.copy_to_slice(&mut out);
    Ok(out)
}

impl Write for FraudEvidence {
    fn write(&self, buf: &mut impl BufMut) {
        self.receipt.write(buf);
        write_bytes(&self.request, buf);
        write_bytes(&self.output, buf);
    }
}

impl EncodeSize for FraudEvidence {
    fn encode_size(&self) -> usize {
        self.receipt.encode_size() + 8 + self.request.len() + self.output.len()
    }
}

impl Read for FraudEvidence {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(FraudEvidence {
            receipt: CallReceipt::read(buf)?,
            request: read_bytes(buf, MAX_EVIDENCE_REQUEST_BYTES)?,
            output: read_bytes(buf, MAX_EVIDENCE_OUTPUT_BYTES)?,
        })
    }
}

/// How a dispute ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The quorum voted, and enough of it found the answer wrong: the provider is slashed.
    Proven,
    /// The quorum voted, and too little of it found the answer wrong: the bond is burned.
    Rejected,
    /// Too few validators voted in the window: nothing is decided, the bond returns.
    Undecided,
}

impl Verdict {
    fn tag(self) -> u8 {
        match self {
            Verdict::Proven => 0,
            Verdict::Rejected => 1,
            Verdict::Undecided => 2,
        }
    }
}

impl Write for Verdict {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_u8(self.tag());
    }
}

impl FixedSize for Verdict {
    const SIZE: usize = 1;
}

impl Read for Verdict {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(match u8::read(buf)? {
            0 => Verdict::Proven,
            1 => Verdict::Rejected,
            2 => Verdict::Undecided,
            other => return Err(CodecError::InvalidEnum(other)),
        })
    }
}

/// What happened to a dispute.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DisputeEvent {
    /// `reporter` bonded `bond` against `provider`'s answer for `model`; validators vote
    /// until block `deadline`.
    #[serde(rename = "dispute_opened")]
    Opened {
        dispute: Hash,
        reporter: Address,
        provider: Address,
        model: ModelId,
        bond: Amount,
        deadline: u64,
    },
    /// `voter` found the answer wrong (`guilty`) or right, with `weight` of stake.
    #[serde(rename = "dispute_voted")]
    Voted {
        dispute: Hash,
        voter: Address,
        guilty: bool,
        weight: Amount,
    },
    /// The dispute ended: on `Proven`, `slashed` left the provider's stake, of which
    /// `to_reporter` went to the reporter and the rest was burned; on `Rejected` the
    /// reporter's bond (`bond`) was burned; on `Undecided` it was returned.
    #[serde(rename = "dispute_decided")]
    Decided {
        dispute: Hash,
        verdict: Verdict,
        guilty_weight: Amount,
        innocent_weight: Amount,
        slashed: Amount,
        to_reporter: Amount,
        bond: Amount,
    },
    /// `reporter` bonded `bond` to show that `provider` claimed `claimed` on `lane` of
    /// `channel` while its own receipt says it charged `charged`; the provider may
    /// answer with a later receipt until block `deadline`.
    #[serde(rename = "overclaim_opened")]
    OverclaimOpened {
        dispute: Hash,
        reporter: Address,
        provider: Address,
        channel: Hash,
        lane: u32,
        claimed: Amount,
        charged: Amount,
        bond: Amount,
        deadline: u64,
    },
    /// The provider showed a later receipt (paid by a voucher for `voucher`) charging
    /// `lane_charged`, at least the claim: the report is rejected.
    #[serde(rename = "overclaim_answered")]
    OverclaimAnswered {
        dispute: Hash,
        voucher: Amount,
        lane_charged: Amount,
    },
    /// An overclaim went unanswered: `restitution` of the slashed stake went back to the
    /// channel's payer (at most what was claimed above the receipt).
    #[serde(rename = "overclaim_restituted")]
    Restituted {
        dispute: Hash,
        payer: Address,
        restitution: Amount,
    },
}

impl DisputeEvent {
    fn tag(&self) -> u8 {
        match self {
            DisputeEvent::Opened { .. } => 0,
            DisputeEvent::Voted { .. } => 1,
            DisputeEvent::Decided { .. } => 2,
            DisputeEvent::OverclaimOpened { .. } => 3,
            DisputeEvent::OverclaimAnswered { .. } => 4,
            DisputeEvent::Restituted { .. } => 5,
        }
    }
}

impl Write for DisputeEvent {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_u8(self.tag());
        match self {
            DisputeEvent::Opened {
                dispute,
                reporter,
                provider,
                model,
                bond,
                deadline,
            } => {
                dispute.write(buf);
                reporter.write(buf);
                provider.write(buf);
                model.write(buf);
                bond.write(buf);
                buf.put_u64(*deadline);
            }
            DisputeEvent::Voted {
                dispute,
                voter,
                guilty,
                weight,
            } => {
                dispute.write(buf);
                voter.write(buf);
                guilty.write(buf);
                weight.write(buf);
            }
            DisputeEvent::Decided {
                dispute,
                verdict,
                guilty_weight,
                innocent_weight,
                slashed,
                to_reporter,
                bond,
            } => {
                dispute.write(buf);
                verdict.write(buf);
                guilty_weight.write(buf);
                innocent_weight.write(buf);
                slashed.write(buf);
                to_reporter.write(buf);
                bond.write(buf);
            }
            DisputeEvent::OverclaimOpened {
                dispute,
                reporter,
                provider,
                channel,
                lane,
                claimed,
                charged,
                bond,
                deadline,
            } => {
                dispute.write(buf);
                reporter.write(buf);
                provider.write(buf);
                channel.write(buf);
                buf.put_u32(*lane);
                claimed.write(buf);
                charged.write(buf);
                bond.write(buf);
                buf.put_u64(*deadline);
            }
            DisputeEvent::OverclaimAnswered {
                dispute,
                voucher,
                lane_charged,
            } => {
                dispute.write(buf);
                voucher.write(buf);
                lane_charged.write(buf);
            }
            DisputeEvent::Restituted {
                dispute,
                payer,
                restitution,
            } => {
                dispute.write(buf);
                payer.write(buf);
                restitution.write(buf);
            }
        }
    }
}

impl EncodeSize for DisputeEvent {
    fn encode_size(&self) -> usize {
        1 + match self {
            DisputeEvent::Opened { .. } => {
                Hash::SIZE + 2 * Address::SIZE + ModelId::SIZE + Amount::SIZE + 8
            }
            DisputeEvent::Voted { .. } => Hash::SIZE + Address::SIZE + 1 + Amount::SIZE,
            DisputeEvent::Decided { .. } => Hash::SIZE + Verdict::SIZE + 5 * Amount::SIZE,
            DisputeEvent::OverclaimOpened { .. } => {
                2 * Hash::SIZE + 2 * Address::SIZE + 4 + 3 * Amount::SIZE + 8
            }
            DisputeEvent::OverclaimAnswered { .. } => Hash::SIZE + 2 * Amount::SIZE,
            DisputeEvent::Restituted { .. } => Hash::SIZE + Address::SIZE + Amount::SIZE,
        }
    }
}

impl Read for DisputeEvent {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(match u8::read(buf)? {
            0 => DisputeEvent::Opened {
                dispute: Hash::read(buf)?,
                reporter: Address::read(buf)?,
                provider: Address::read(buf)?,
                model: ModelId::read(buf)?,
                bond: Amount::read(buf)?,
                deadline: u64::read(buf)?,
            },
            1 => DisputeEvent::Voted {
                dispute: Hash::read(buf)?,
                voter: Address::read(buf)?,
                guilty: bool::read(buf)?,
                weight: Amount::read(buf)?,
            },
            2 => DisputeEvent::Decided {
                dispute: Hash::read(buf)?,
                verdict: Verdict::read(buf)?,
                guilty_weight: Amount::read(buf)?,
                innocent_weight: Amount::read(buf)?,
                slashed: Amount::read(buf)?,
                to_reporter: Amount::read(buf)?,
                bond: Amount::read(buf)?,
            },
            3 => DisputeEvent::OverclaimOpened {
                dispute: Hash::read(buf)?,
                reporter: Address::read(buf)?,
                provider: Address::read(buf)?,
                channel: Hash::read(buf)?,
                lane: u32::read(buf)?,
                claimed: Amount::read(buf)?,
                charged: Amount::read(buf)?,
                bond: Amount::read(buf)?,
                deadline: u64::read(buf)?,
            },
            4 => DisputeEvent::OverclaimAnswered {
                dispute: Hash::read(buf)?,
                voucher: Amount::read(buf)?,
                lane_charged: Amount::read(buf)?,
            },
            5 => DisputeEvent::Restituted {
                dispute: Hash::read(buf)?,
                payer: Address::read(buf)?,
                restitution: Amount::read(buf)?,
            },
            other => return Err(CodecError::InvalidEnum(other)),
        })
    }
}

/// Bytes as lowercase hex in JSON.
mod hex_bytes {
    pub fn serialize<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        hex::decode(text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Keypair;
    use commonware_codec::Encode;

    fn evidence(chain: &ChainId, provider: &Keypair) -> FraudEvidence {
        let request = br#"{"model":"m","input":"hi"}"#.to_vec();
        let output: Vec<u8> = [0.5f32, -0.25]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let receipt = CallReceipt {
            chain_id: chain.clone(),
            channel: Hash([1; 32]),
            lane: 0,
            provider: provider.address(),
            request_hash: body_hash(&request),
            model: ModelId(1),
            manifest_cid: "bafy".into(),
            kernel_path: "k".into(),
            output_hash: output_hash(&output),
            token_ids: Vec::new(),
            tokens_charged: 0,
            amount_charged: Amount::from_base(5),
            lane_charged: Amount::from_base(5),
            voucher: Amount::from_base(9),
            first_output_ms: 1,
            total_ms: 2,
            signature: CallReceipt::unsigned_signature(),
        }
        .sign(provider);
        FraudEvidence {
            receipt,
            request,
            output,
        }
    }

    #[test]
    fn evidence_binds_the_signed_request_and_output() {
        let chain = ChainId::new("tessera-test").unwrap();
        let good = evidence(&chain, &Keypair::from_seed(3));
        assert_eq!(good.check(&chain), Ok(()));
        let bytes = good.encode();
        assert_eq!(FraudEvidence::decode(&bytes).unwrap(), good);
        let json = serde_json::to_string(&good).unwrap();
        assert_eq!(serde_json::from_str::<FraudEvidence>(&json).unwrap(), good);

        let mut forged_output = good.clone();
        forged_output.output[0] ^= 1;
        assert_eq!(
            forged_output.check(&chain),
            Err(EvidenceFault::OutputMismatch)
        );
        let mut other_request = good.clone();
        other_request.request.push(b' ');
        assert_eq!(
            other_request.check(&chain),
            Err(EvidenceFault::RequestMismatch)
        );
        let mut resigned = good.clone();
        resigned.receipt.amount_charged = Amount::from_base(6);
        assert_eq!(resigned.check(&chain), Err(EvidenceFault::BadSignature));
        let elsewhere = ChainId::new("other").unwrap();
        assert!(matches!(
            good.check(&elsewhere),
            Err(EvidenceFault::WrongChain { .. })
        ));
        let mut long = good.clone();
        long.output = vec![0; MAX_EVIDENCE_OUTPUT_BYTES + 1];
        assert_eq!(long.check(&chain), Err(EvidenceFault::TooLong));
        assert!(FraudEvidence::decode(&long.encode()).is_err());
    }

    #[test]
    fn dispute_events_round_trip() {
        let events = [
            DisputeEvent::Opened {
                dispute: Hash([2; 32]),
                reporter: Keypair::from_seed(1).address(),
                provider: Keypair::from_seed(2).address(),
                model: ModelId(4),
                bond: Amount::from_base(10),
                deadline: 99,
            },
            DisputeEvent::Voted {
                dispute: Hash([2; 32]),
                voter: Keypair::from_seed(1).address(),
                guilty: true,
                weight: Amount::from_base(7),
            },
            DisputeEvent::Decided {
                dispute: Hash([2; 32]),
                verdict: Verdict::Undecided,
                guilty_weight: Amount::from_base(1),
                innocent_weight: Amount::from_base(2),
                slashed: Amount::ZERO,
                to_reporter: Amount::ZERO,
                bond: Amount::from_base(3),
            },
            DisputeEvent::OverclaimOpened {
                dispute: Hash([3; 32]),
                reporter: Keypair::from_seed(1).address(),
                provider: Keypair::from_seed(2).address(),
                channel: Hash([4; 32]),
                lane: 7,
                claimed: Amount::from_base(12),
                charged: Amount::from_base(9),
                bond: Amount::from_base(10),
                deadline: 40,
            },
            DisputeEvent::OverclaimAnswered {
                dispute: Hash([3; 32]),
                voucher: Amount::from_base(15),
                lane_charged: Amount::from_base(12),
            },
            DisputeEvent::Restituted {
                dispute: Hash([3; 32]),
                payer: Keypair::from_seed(5).address(),
                restitution: Amount::from_base(3),
            },
        ];
        for e in events {
            let bytes = e.encode();
            assert_eq!(bytes.len(), e.encode_size());
            let back =
                crate::codec::decode_bounded::<DisputeEvent>("event", &bytes, 1_024, &()).unwrap();
            assert_eq!(back, e);
        }
    }
}
