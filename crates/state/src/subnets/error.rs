//! The subnet calls' errors. A receipt records one as code `SUBNET_CODE_BASE + code()`
//! with at most four numbers or addresses (see `crate::error`); text fields only appear
//! in errors of the stateless checks, which reject a transaction before any receipt.

use tessera_types::{subnet::SubnetId, tx::ModelId, Address, Amount, FailureArg};

/// Receipt codes of subnet errors start here (`StateError` codes stay below it).
pub const SUBNET_CODE_BASE: u16 = 200;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubnetError {
    #[error("subnet name {name:?} is invalid: use 1 to 32 characters of a-z, 0-9 and '-'")]
    InvalidName { name: String },
    #[error("hyperparameter {field} must be between {min} and {max}")]
    BadParam {
        field: &'static str,
        min: u128,
        max: u128,
    },
    #[error("that name is taken by subnet {subnet}: pick another")]
    NameTaken { subnet: SubnetId },
    #[error("model {model} already has subnet {subnet}: its providers register there")]
    ModelHasSubnet { model: ModelId, subnet: SubnetId },
    #[error("the chain holds at most {max} subnets")]
    TooManySubnets { max: u64 },
    #[error("no subnet {subnet}: tessera subnet list shows them")]
    UnknownSubnet { subnet: SubnetId },
    #[error("{key} already holds UID {uid} in this subnet")]
    AlreadyRegistered { key: Address, uid: u16 },
    #[error("all UIDs are immune: the first leaves immunity at block {free_at}; register then")]
    AllImmune { free_at: u64 },
    #[error("{key} holds no UID in subnet {subnet}: register first")]
    NotRegistered { key: Address, subnet: SubnetId },
    #[error("UID {uid} is a miner: only validators set weights")]
    NotValidatorUid { uid: u16 },
    #[error("already committed weights in tempo {tempo}: one commit per tempo")]
    AlreadyCommitted { tempo: u64 },
    #[error("commits wait to be revealed: reveal them or let them expire first")]
    TooManyPending,
    #[error("no commit matches these weights and salt: reveal exactly what was committed")]
    NoMatchingCommit,
    #[error("the commit from tempo {committed} can be revealed only in the tempo after it")]
    RevealTooEarly { committed: u64 },
    #[error("weights name UID {uid}, but the subnet has {n} UIDs")]
    NoSuchUid { uid: u16, n: u64 },
    #[error("weights list UID {uid} twice")]
    DuplicateUid { uid: u16 },
    #[error("weights must name between {min} and {max} UIDs, not {got}")]
    WeightsCount { got: u64, min: u64, max: u64 },
    #[error("weights may be committed again from block {next_at}")]
    RateLimited { next_at: u64 },
    #[error("a take of {take_bps} bps is above the maximum of {max_bps} bps")]
    TakeTooHigh { take_bps: u16, max_bps: u16 },
    #[error("the take may rise again from block {allowed_from}: lower it now, or wait")]
    TakeRaiseTooSoon { allowed_from: u64 },
    #[error("{requested} TSR is more than the {available} TSR delegated here")]
    NotDelegated {
        requested: Amount,
        available: Amount,
    },
    #[error("a validator takes at most {max} delegations per subnet")]
    TooManyDelegators { max: u64 },
    #[error("the subnet's epoch could not run; its emission waits for the next epoch")]
    EpochFailed,
    #[error("a new delegation brings at least {min} TSR")]
    DelegationTooSmall { min: Amount },
    #[error("UID {uid} lost its validator permit at the last epoch: only the top validators by stake set weights (stake more on it)")]
    NoPermit { uid: u16 },
    #[error("only subnet {subnet}'s owner may dissolve it")]
    NotOwner { subnet: SubnetId },
    #[error("stake is still delegated in subnet {subnet}: its delegators undelegate first (`tessera subnet show` lists the validators)")]
    SubnetHasStake { subnet: SubnetId },
}

fn int(v: impl Into<u128>) -> FailureArg {
    FailureArg::Int(v.into())
}

impl SubnetError {
    pub fn code(&self) -> u16 {
        use SubnetError::*;
        match self {
            InvalidName { .. } => 1,
            BadParam { .. } => 2,
            NameTaken { .. } => 3,
            ModelHasSubnet { .. } => 4,
            TooManySubnets { .. } => 5,
            UnknownSubnet { .. } => 6,
            AlreadyRegistered { .. } => 7,
            AllImmune { .. } => 8,
            NotRegistered { .. } => 9,
            NotValidatorUid { .. } => 10,
            AlreadyCommitted { .. } => 11,
            TooManyPending => 12,
            NoMatchingCommit => 13,
            RevealTooEarly { .. } => 14,
            NoSuchUid { .. } => 15,
            DuplicateUid { .. } => 16,
            WeightsCount { .. } => 17,
            RateLimited { .. } => 18,
            TakeTooHigh { .. } => 19,
            TakeRaiseTooSoon { .. } => 20,
            NotDelegated { .. } => 21,
            TooManyDelegators { .. } => 22,
            EpochFailed => 23,
            DelegationTooSmall { .. } => 24,
            NoPermit { .. } => 25,
            NotOwner { .. } => 26,
            SubnetHasStake { .. } => 27,
        }
    }

    pub fn args(&self) -> Vec<FailureArg> {
        use SubnetError::*;
        match self {
            InvalidName { .. } | TooManyPending | NoMatchingCommit | EpochFailed => Vec::new(),
            BadParam { min, max, .. } => vec![int(*min), int(*max)],
            NameTaken { subnet }
            | UnknownSubnet { subnet }
            | NotOwner { subnet }
            | SubnetHasStake { subnet } => vec![int(subnet.0)],
            ModelHasSubnet { model, subnet } => vec![int(model.0), int(subnet.0)],
            TooManySubnets { max } | TooManyDelegators { max } => vec![int(*max)],
            AlreadyRegistered { key, uid } => vec![FailureArg::Address(*key), int(*uid)],
            AllImmune { free_at } => vec![int(*free_at)],
            NotRegistered { key, subnet } => vec![FailureArg::Address(*key), int(subnet.0)],
            NotValidatorUid { uid } | DuplicateUid { uid } | NoPermit { uid } => vec![int(*uid)],
            DelegationTooSmall { min } => vec![int(min.base())],
            AlreadyCommitted { tempo } => vec![int(*tempo)],
            RevealTooEarly { committed } => vec![int(*committed)],
            NoSuchUid { uid, n } => vec![int(*uid), int(*n)],
            WeightsCount { got, min, max } => vec![int(*got), int(*min), int(*max)],
            RateLimited { next_at } => vec![int(*next_at)],
            TakeTooHigh { take_bps, max_bps } => vec![int(*take_bps), int(*max_bps)],
            TakeRaiseTooSoon { allowed_from } => vec![int(*allowed_from)],
            NotDelegated {
                requested,
                available,
            } => vec![int(requested.base()), int(available.base())],
        }
    }

    /// The error a recorded failure (code relative to [`SUBNET_CODE_BASE`]) stands for.
    pub fn from_failure(code: u16, f: &tessera_types::Failure) -> Option<SubnetError> {
        use SubnetError::*;
        let (a, b, c) = (f.int(0), f.int(1), f.int(2));
        let u64_of = |v: u128| u64::try_from(v).unwrap_or(u64::MAX);
        let u16_of = |v: u128| u16::try_from(v).unwrap_or(u16::MAX);
        Some(match code {
            1 => InvalidName {
                name: "(see the transaction)".into(),
            },
            2 => BadParam {
                field: "(see the transaction)",
                min: a,
                max: b,
            },
            3 => NameTaken {
                subnet: SubnetId(u64_of(a)),
            },
            4 => ModelHasSubnet {
                model: ModelId(u64_of(a)),
                subnet: SubnetId(u64_of(b)),
            },
            5 => TooManySubnets { max: u64_of(a) },
            6 => UnknownSubnet {
                subnet: SubnetId(u64_of(a)),
            },
            7 => AlreadyRegistered {
                key: f.address(0),
                uid: u16_of(b),
            },
            8 => AllImmune { free_at: u64_of(a) },
            9 => NotRegistered {
                key: f.address(0),
                subnet: SubnetId(u64_of(b)),
            },
            10 => NotValidatorUid { uid: u16_of(a) },
            11 => AlreadyCommitted { tempo: u64_of(a) },
            12 => TooManyPending,
            13 => NoMatchingCommit,
            14 => RevealTooEarly {
                committed: u64_of(a),
            },
            15 => NoSuchUid {
                uid: u16_of(a),
                n: u64_of(b),
            },
            16 => DuplicateUid { uid: u16_of(a) },
            17 => WeightsCount {
                got: u64_of(a),
                min: u64_of(b),
                max: u64_of(c),
            },
            18 => RateLimited { next_at: u64_of(a) },
            19 => TakeTooHigh {
                take_bps: u16_of(a),
                max_bps: u16_of(b),
            },
            20 => TakeRaiseTooSoon {
                allowed_from: u64_of(a),
            },
            21 => NotDelegated {
                requested: Amount::from_base(a),
                available: Amount::from_base(b),
            },
            22 => TooManyDelegators { max: u64_of(a) },
            23 => EpochFailed,
            24 => DelegationTooSmall {
                min: Amount::from_base(a),
            },
            25 => NoPermit { uid: u16_of(a) },
            26 => NotOwner {
                subnet: SubnetId(u64_of(a)),
            },
            27 => SubnetHasStake {
                subnet: SubnetId(u64_of(a)),
            },
            _ => return None,
        })
    }
}
