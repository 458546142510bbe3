//! The verify calls' errors. A receipt records one as code `VERIFY_CODE_BASE + code()`
//! with at most four numbers or addresses (see `crate::error`).

use tessera_types::{subnet::SubnetId, tx::ModelId, Address, Amount, FailureArg};

/// Receipt codes of verify errors start here (subnet codes stay below it).
pub const VERIFY_CODE_BASE: u16 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("a fraud report bonds at least {min} TSR: raise --bond")]
    BondTooSmall { min: Amount },
    #[error("model {model} has no subnet, so no validators can vote on a report about it")]
    NoSubnet { model: ModelId },
    #[error("{who} holds no validator UID with a permit in subnet {subnet}: only the subnet's validators report and vote")]
    NotSubnetValidator { who: Address, subnet: SubnetId },
    #[error("{provider} is not a provider of model {model}: nothing of it can be slashed")]
    NotProvider { provider: Address, model: ModelId },
    #[error("this receipt is already disputed: `tessera verify list` shows the dispute")]
    AlreadyReported,
    #[error(
        "{max} disputes are open, the most the chain holds: report again after one is decided"
    )]
    TooManyOpen { max: u64 },
    #[error("subnet {subnet} has no other validator with stake to vote on the report")]
    NoOtherValidators { subnet: SubnetId },
    #[error("no such dispute: `tessera verify list` shows them")]
    UnknownDispute,
    #[error("voting on this dispute closed at block {deadline}")]
    VotingClosed { deadline: u64 },
    #[error("{voter} already voted on this dispute")]
    AlreadyVoted { voter: Address },
    #[error("the reporter does not vote on its own report")]
    ReporterVotes,
    #[error("a dispute over {provider}'s answers for model {model} is open: it may leave once the dispute is decided")]
    DisputeOpen { provider: Address, model: ModelId },
    #[error("a validator with no stake in the subnet has no vote: stake on it first")]
    NoWeight,
    #[error("the receipt's provider or model is not its channel's (or the channel does not exist): report a receipt the channel's provider signed")]
    NotChannelReceipt,
    #[error("the lane's claimed total {claimed} is not above the receipt's charged total {charged}: nothing was overclaimed")]
    NotOverclaimed { claimed: Amount, charged: Amount },
    #[error("the answer is not a receipt of the same provider, channel and lane with the payer's request signature for it")]
    AnswerNotSigned,
    #[error("the answer's voucher {answered} is not above the reported receipt's {reported}: answer with a later call's receipt")]
    AnswerNotLater { reported: Amount, answered: Amount },
    #[error("the answer's receipt charges {charged} on the lane, below the claim {claimed} (or above its own voucher)")]
    AnswerBelowClaim { claimed: Amount, charged: Amount },
}

fn int(v: impl Into<u128>) -> FailureArg {
    FailureArg::Int(v.into())
}

impl VerifyError {
    pub fn code(&self) -> u16 {
        use VerifyError::*;
        match self {
            BondTooSmall { .. } => 1,
            NoSubnet { .. } => 2,
            NotSubnetValidator { .. } => 3,
            NotProvider { .. } => 4,
            AlreadyReported => 5,
            TooManyOpen { .. } => 6,
            NoOtherValidators { .. } => 7,
            UnknownDispute => 8,
            VotingClosed { .. } => 9,
            AlreadyVoted { .. } => 10,
            ReporterVotes => 11,
            DisputeOpen { .. } => 12,
            NoWeight => 13,
            NotChannelReceipt => 14,
            NotOverclaimed { .. } => 15,
            AnswerNotSigned => 16,
            AnswerNotLater { .. } => 17,
            AnswerBelowClaim { .. } => 18,
        }
    }

    pub fn args(&self) -> Vec<FailureArg> {
        use VerifyError::*;
        match self {
            BondTooSmall { min } => vec![int(min.base())],
            NoSubnet { model } => vec![int(model.0)],
            NotSubnetValidator { who, subnet } => vec![FailureArg::Address(*who), int(subnet.0)],
            NotProvider { provider, model } | DisputeOpen { provider, model } => {
                vec![FailureArg::Address(*provider), int(model.0)]
            }
            TooManyOpen { max } => vec![int(*max)],
            NoOtherValidators { subnet } => vec![int(subnet.0)],
            VotingClosed { deadline } => vec![int(*deadline)],
            AlreadyVoted { voter } => vec![FailureArg::Address(*voter)],
            NotOverclaimed { claimed, charged } | AnswerBelowClaim { claimed, charged } => {
                vec![int(claimed.base()), int(charged.base())]
            }
            AnswerNotLater { reported, answered } => {
                vec![int(reported.base()), int(answered.base())]
            }
            AlreadyReported | UnknownDispute | ReporterVotes | NoWeight | NotChannelReceipt
            | AnswerNotSigned => Vec::new(),
        }
    }

    /// The error a recorded failure (code relative to [`VERIFY_CODE_BASE`]) stands for.
    pub fn from_failure(code: u16, f: &tessera_types::Failure) -> Option<VerifyError> {
        use VerifyError::*;
        let a = f.int(0);
        let u64_of = |v: u128| u64::try_from(v).unwrap_or(u64::MAX);
        Some(match code {
            1 => BondTooSmall {
                min: Amount::from_base(a),
            },
            2 => NoSubnet {
                model: ModelId(u64_of(a)),
            },
            3 => NotSubnetValidator {
                who: f.address(0),
                subnet: SubnetId(u64_of(f.int(1))),
            },
            4 => NotProvider {
                provider: f.address(0),
                model: ModelId(u64_of(f.int(1))),
            },
            5 => AlreadyReported,
            6 => TooManyOpen { max: u64_of(a) },
            7 => NoOtherValidators {
                subnet: SubnetId(u64_of(a)),
            },
            8 => UnknownDispute,
            9 => VotingClosed {
                deadline: u64_of(a),
            },
            10 => AlreadyVoted {
                voter: f.address(0),
            },
            11 => ReporterVotes,
            12 => DisputeOpen {
                provider: f.address(0),
                model: ModelId(u64_of(f.int(1))),
            },
            13 => NoWeight,
            14 => NotChannelReceipt,
            15 => NotOverclaimed {
                claimed: Amount::from_base(a),
                charged: Amount::from_base(f.int(1)),
            },
            16 => AnswerNotSigned,
            17 => AnswerNotLater {
                reported: Amount::from_base(a),
                answered: Amount::from_base(f.int(1)),
            },
            18 => AnswerBelowClaim {
                claimed: Amount::from_base(a),
                charged: Amount::from_base(f.int(1)),
            },
            _ => return None,
        })
    }
}
