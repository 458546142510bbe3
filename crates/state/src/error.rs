//! The one error type of the state machine. Each variant says what to do next.
//!
//! A failed call's receipt records the error as a [`Failure`]: a stable numeric code
//! ([`StateError::code`]) and at most four numbers or addresses, never text, so a
//! reworded message cannot fork the chain. [`render`] turns a recorded failure back into
//! the message at the API edge; text fields that were not recorded are shown by a
//! placeholder. Codes are never reused: a retired variant keeps its number.
//!
//! # Invariants (tested in `tests/failure_codes.rs`)
//! * every variant has its own code, and `from_failure(e.failure())` has the same code
//!   and arguments as `e`.
//! * a failure encodes to at most [`tessera_types::receipt::MAX_FAILURE_ARGS`] arguments.

use crate::{
    subnets::error::{SubnetError, SUBNET_CODE_BASE},
    verify::error::{VerifyError, VERIFY_CODE_BASE},
};
use tessera_types::{
    cid::CidReason,
    tx::{ModelId, Shares},
    Address, Amount, ChainId, Failure, FailureArg,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("transaction is for chain {got}, this chain is {expected}: sign it with --chain-id {expected}")]
    WrongChain { expected: ChainId, got: ChainId },
    #[error("nonce {got} was already used: the next nonce of this account is {expected}")]
    StaleNonce { expected: u64, got: u64 },
    #[error("nonce {got} is ahead: the next nonce of this account is {expected}")]
    FutureNonce { expected: u64, got: u64 },
    #[error("fee {required} TSR is more than max_fee {max_fee} TSR: raise max_fee")]
    FeeTooLow { required: Amount, max_fee: Amount },
    #[error("insufficient funds: needs {needed} TSR, balance is {available} TSR")]
    InsufficientFunds { needed: Amount, available: Amount },
    #[error(
        "insufficient stake: asked for {requested} TSR, {available} TSR is bonded and unlocked"
    )]
    InsufficientStake {
        requested: Amount,
        available: Amount,
    },
    #[error("cannot unlock {requested} TSR: only {locked} TSR is locked")]
    NotLocked { requested: Amount, locked: Amount },
    #[error("nothing to withdraw at height {height}{}", next_release.map(|h| format!(": next release at height {h}")).unwrap_or_default())]
    NothingToWithdraw {
        height: u64,
        next_release: Option<u64>,
    },
    #[error("at most {max} unbonding entries per account: withdraw matured ones first")]
    TooManyUnbonding { max: usize },
    #[error("amount must be greater than zero")]
    ZeroAmount,
    #[error("arithmetic overflow in {0}")]
    Overflow(&'static str),
    #[error("state entry {key} is corrupt: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("invalid genesis: {0}")]
    InvalidGenesis(String),
    #[error("invalid parameters: {0}")]
    InvalidParams(String),
    #[error("state has no {0}: was the chain initialised from a genesis file?")]
    Missing(&'static str),
    #[error("model name {name:?} is invalid: use 1 to 64 characters of a-z, 0-9 and '-'")]
    InvalidModelName { name: String },
    #[error("manifest CID {cid:?} is invalid: {reason} (expected CIDv1 base32 like \"bafy...\" or CIDv0 like \"Qm...\")")]
    InvalidCid {
        cid: String,
        reason: tessera_types::cid::CidReason,
    },
    #[error("invalid {field}: {reason}")]
    InvalidModelField {
        field: &'static str,
        reason: &'static str,
    },
    #[error(
        "total shares must be between 1 and {max}, got {total}: choose a share count in that range"
    )]
    InvalidTotalShares { total: Shares, max: Shares },
    #[error("revenue split sums to {total_bps} bps: compute + owners + data + treasury must be exactly 10000")]
    InvalidSplit { total_bps: u32 },
    #[error("invalid data-provider links: {reason}")]
    InvalidDataLinks { reason: &'static str },
    #[error("model name {name:?} is already taken by model {model}: pick another name")]
    ModelNameTaken { name: String, model: ModelId },
    #[error("no model with id {model}: check the id (models are numbered from 1)")]
    UnknownModel { model: ModelId },
    #[error("only model {model}'s creator {creator} may add versions to it")]
    NotModelCreator { model: ModelId, creator: Address },
    #[error("model {model} already has the maximum of {max} versions: register the new weights as a new model")]
    TooManyVersions { model: ModelId, max: usize },
    #[error("manifest {cid} is already the current version of model {model}: nothing to add")]
    SameManifest { model: ModelId, cid: String },
    #[error(
        "insufficient shares of model {model}: asked to send {requested}, holding {available}"
    )]
    InsufficientShares {
        model: ModelId,
        requested: Shares,
        available: Shares,
    },
    #[error("sender and recipient are the same address: nothing to transfer")]
    SelfTransfer,
    #[error("no royalties to claim from model {model} yet: they accrue as the model's revenue is credited to its share holders")]
    NothingToClaim { model: ModelId },
    #[error("royalty accounting of model {model} would overflow in {what}: the amount is beyond the bounds documented in state::models (claim accrued royalties, or credit smaller amounts)")]
    RoyaltyOverflow { model: ModelId, what: &'static str },
    #[error("double-sign evidence refused: {reason}")]
    InvalidEvidence { reason: String },
    #[error("validator {validator} was already slashed in epoch {epoch}: one penalty per epoch")]
    AlreadySlashed { validator: Address, epoch: u64 },
    #[error("validator {validator} has no stake left to slash")]
    NothingToSlash { validator: Address },
    #[error("invalid p2p address: {reason}; register the ip:port your node's p2p listens on, e.g. 203.0.113.7:27657")]
    InvalidP2pAddress { reason: &'static str },
    #[error("{who} is not a registered validator: send register_validator first")]
    NotValidator { who: Address },
    #[error("validator {who} is not jailed: nothing to unjail")]
    NotJailed { who: Address },
    #[error("block view {view} does not follow the previous block's view {last} in this epoch")]
    ViewNotIncreasing { view: u64, last: u64 },
    #[error("evidence of epoch {epoch} is from the future (current epoch {current})")]
    EvidenceFromFuture { epoch: u64, current: u64 },
    #[error("evidence of epoch {epoch} is too old: the current epoch is {current} and evidence is accepted for {max_age} epochs after its own")]
    EvidenceTooOld {
        epoch: u64,
        current: u64,
        max_age: u64,
    },
    #[error("{validator} was not in the validator set of epoch {epoch}: nothing it signed there is slashable")]
    NotInSet { validator: Address, epoch: u64 },
    #[error("invalid provider endpoint: {reason}; give the URL clients call, e.g. http://203.0.113.7:7301")]
    InvalidEndpoint { reason: &'static str },
    #[error("price is above the most a price may be ({max} TSR per call or per token)")]
    PriceTooHigh { max: Amount },
    #[error("price is below model {model}'s own ({per_call} TSR per call, {per_token} TSR per token): a provider asks at least the model's price")]
    PriceBelowModel {
        model: ModelId,
        per_call: Amount,
        per_token: Amount,
    },
    #[error("price is not proportional to model {model}'s: scale its per-call and per-token prices by the same factor (decision 0017)")]
    PriceNotProportional { model: ModelId },
    #[error(
        "{provider} is already registered for model {model}: use update_provider to change it"
    )]
    ProviderExists { provider: Address, model: ModelId },
    #[error("{provider} is not registered as a provider of model {model}")]
    UnknownProvider { provider: Address, model: ModelId },
    #[error("a provider serves at most {max} models: leave one first")]
    TooManyProviderModels { max: usize },
    #[error("provider stake {offered} TSR is below the minimum of {required} TSR")]
    ProviderStakeTooLow { offered: Amount, required: Amount },
    #[error("no such channel: check the id (tessera channel list shows yours)")]
    UnknownChannel,
    #[error("only the channel's payer {payer} may do this")]
    NotChannelPayer { payer: Address },
    #[error("only the channel's provider {provider} may claim from it")]
    NotChannelProvider { provider: Address },
    #[error("the channel is closed: its deposit was refunded")]
    ChannelClosed,
    #[error("the channel expired at height {expired_at}: open a new one")]
    ChannelExpired { expired_at: u64 },
    #[error("a channel runs 1 to {max} blocks from now, not {blocks}")]
    BadChannelLife { blocks: u64, max: u64 },
    #[error("the channel's claim window closed at height {closed_at}: claims must land before it")]
    ClaimWindowClosed { closed_at: u64 },
    #[error("invalid claim: {reason}")]
    BadClaimLanes { reason: &'static str },
    #[error("the voucher for lane {lane} does not verify: it must be signed by the channel's payer for this chain and channel")]
    BadVoucher { lane: u32 },
    #[error("the voucher for lane {lane} is not above what that lane has claimed ({claimed} TSR): send only newer vouchers")]
    StaleVoucher { lane: u32, claimed: Amount },
    #[error("the claim would take {claimed} TSR in total from a deposit of {deposit} TSR: vouchers beyond the deposit cannot be claimed")]
    ClaimOverDeposit { deposit: Amount, claimed: Amount },
    #[error("the claim window is still open: the payer may refund from height {opens_at}")]
    RefundTooEarly { opens_at: u64 },
    #[error("the call failed with error code {code}, which this version of tessera does not know: upgrade to read it")]
    Unrecognized { code: u16 },
    /// A subnet call's error (codes from `SUBNET_CODE_BASE`).
    #[error(transparent)]
    Subnet(#[from] SubnetError),
    /// A verify call's error (codes from `VERIFY_CODE_BASE`).
    #[error(transparent)]
    Verify(#[from] VerifyError),
}

/// Placeholder for text a recorded failure does not carry.
const NOT_RECORDED: &str = "(see the transaction)";

fn int(v: impl Into<u128>) -> FailureArg {
    FailureArg::Int(v.into())
}

fn amount(a: &Amount) -> FailureArg {
    FailureArg::Int(a.base())
}

fn addr(a: &Address) -> FailureArg {
    FailureArg::Address(*a)
}

/// A u128 argument as u64 (saturating: arguments come from our own encoding).
fn u64_of(v: u128) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

impl StateError {
    /// The stable code recorded in receipts.
    pub fn code(&self) -> u16 {
        use StateError::*;
        match self {
            WrongChain { .. } => 1,
            StaleNonce { .. } => 2,
            FutureNonce { .. } => 3,
            FeeTooLow { .. } => 4,
            InsufficientFunds { .. } => 5,
            InsufficientStake { .. } => 6,
            NotLocked { .. } => 7,
            NothingToWithdraw { .. } => 8,
            TooManyUnbonding { .. } => 9,
            ZeroAmount => 10,
            Overflow(_) => 11,
            Corrupt { .. } => 12,
            InvalidGenesis(_) => 13,
            InvalidParams(_) => 14,
            Missing(_) => 15,
            InvalidModelName { .. } => 16,
            InvalidCid { .. } => 17,
            InvalidModelField { .. } => 18,
            InvalidTotalShares { .. } => 19,
            InvalidSplit { .. } => 20,
            InvalidDataLinks { .. } => 21,
            ModelNameTaken { .. } => 22,
            UnknownModel { .. } => 23,
            NotModelCreator { .. } => 24,
            TooManyVersions { .. } => 25,
            SameManifest { .. } => 26,
            InsufficientShares { .. } => 27,
            SelfTransfer => 28,
            NothingToClaim { .. } => 29,
            RoyaltyOverflow { .. } => 30,
            InvalidEvidence { .. } => 31,
            AlreadySlashed { .. } => 32,
            NothingToSlash { .. } => 33,
            InvalidP2pAddress { .. } => 34,
            NotValidator { .. } => 35,
            NotJailed { .. } => 36,
            ViewNotIncreasing { .. } => 37,
            EvidenceFromFuture { .. } => 38,
            EvidenceTooOld { .. } => 39,
            NotInSet { .. } => 40,
            InvalidEndpoint { .. } => 41,
            PriceTooHigh { .. } => 42,
            PriceBelowModel { .. } => 43,
            PriceNotProportional { .. } => 44,
            ProviderExists { .. } => 45,
            UnknownProvider { .. } => 46,
            TooManyProviderModels { .. } => 47,
            ProviderStakeTooLow { .. } => 48,
            UnknownChannel => 49,
            NotChannelPayer { .. } => 50,
            NotChannelProvider { .. } => 51,
            ChannelClosed => 52,
            ChannelExpired { .. } => 53,
            BadChannelLife { .. } => 54,
            ClaimWindowClosed { .. } => 55,
            BadClaimLanes { .. } => 56,
            BadVoucher { .. } => 57,
            StaleVoucher { .. } => 58,
            ClaimOverDeposit { .. } => 59,
            RefundTooEarly { .. } => 60,
            Unrecognized { code } => *code,
            Subnet(e) => SUBNET_CODE_BASE.saturating_add(e.code()),
            Verify(e) => VERIFY_CODE_BASE.saturating_add(e.code()),
        }
    }

    /// The error as a receipt records it: its code and numeric or address arguments.
    pub fn failure(&self) -> Failure {
        use StateError::*;
        let args = match self {
            StaleNonce { expected, got } | FutureNonce { expected, got } => {
                vec![int(*expected), int(*got)]
            }
            FeeTooLow { required, max_fee } => vec![amount(required), amount(max_fee)],
            InsufficientFunds { needed, available } => vec![amount(needed), amount(available)],
            InsufficientStake {
                requested,
                available,
            } => vec![amount(requested), amount(available)],
            NotLocked { requested, locked } => vec![amount(requested), amount(locked)],
            NothingToWithdraw {
                height,
                next_release,
            } => match next_release {
                Some(next) => vec![int(*height), int(*next)],
                None => vec![int(*height)],
            },
            TooManyUnbonding { max } => vec![int(u64::try_from(*max).unwrap_or(u64::MAX))],
            InvalidTotalShares { total, max } => vec![int(total.get()), int(max.get())],
            InvalidSplit { total_bps } => vec![int(*total_bps)],
            ModelNameTaken { model, .. }
            | UnknownModel { model }
            | SameManifest { model, .. }
            | NothingToClaim { model }
            | RoyaltyOverflow { model, .. } => vec![int(model.0)],
            NotModelCreator { model, creator } => vec![int(model.0), addr(creator)],
            TooManyVersions { model, max } => {
                vec![int(model.0), int(u64::try_from(*max).unwrap_or(u64::MAX))]
            }
            InsufficientShares {
                model,
                requested,
                available,
            } => vec![int(model.0), int(requested.get()), int(available.get())],
            AlreadySlashed { validator, epoch } | NotInSet { validator, epoch } => {
                vec![addr(validator), int(*epoch)]
            }
            NothingToSlash { validator } => vec![addr(validator)],
            NotValidator { who } | NotJailed { who } => vec![addr(who)],
            ViewNotIncreasing { view, last } => vec![int(*view), int(*last)],
            EvidenceFromFuture { epoch, current } => vec![int(*epoch), int(*current)],
            EvidenceTooOld {
                epoch,
                current,
                max_age,
            } => vec![int(*epoch), int(*current), int(*max_age)],
            PriceTooHigh { max } => vec![amount(max)],
            PriceBelowModel {
                model,
                per_call,
                per_token,
            } => vec![int(model.0), amount(per_call), amount(per_token)],
            PriceNotProportional { model } => vec![int(model.0)],
            ProviderExists { provider, model } | UnknownProvider { provider, model } => {
                vec![addr(provider), int(model.0)]
            }
            TooManyProviderModels { max } => vec![int(u64::try_from(*max).unwrap_or(u64::MAX))],
            ProviderStakeTooLow { offered, required } => vec![amount(offered), amount(required)],
            NotChannelPayer { payer: who } | NotChannelProvider { provider: who } => {
                vec![addr(who)]
            }
            ChannelExpired { expired_at: h }
            | ClaimWindowClosed { closed_at: h }
            | RefundTooEarly { opens_at: h } => vec![int(*h)],
            BadChannelLife { blocks, max } => vec![int(*blocks), int(*max)],
            BadVoucher { lane } => vec![int(*lane)],
            StaleVoucher { lane, claimed } => vec![int(*lane), amount(claimed)],
            ClaimOverDeposit { deposit, claimed } => vec![amount(deposit), amount(claimed)],
            WrongChain { .. }
            | ZeroAmount
            | Overflow(_)
            | Corrupt { .. }
            | InvalidGenesis(_)
            | InvalidParams(_)
            | Missing(_)
            | InvalidModelName { .. }
            | InvalidCid { .. }
            | InvalidModelField { .. }
            | InvalidDataLinks { .. }
            | SelfTransfer
            | InvalidEvidence { .. }
            | InvalidP2pAddress { .. }
            | InvalidEndpoint { .. }
            | UnknownChannel
            | ChannelClosed
            | BadClaimLanes { .. }
            | Unrecognized { .. } => Vec::new(),
            Subnet(e) => e.args(),
            Verify(e) => e.args(),
        };
        Failure::new(self.code(), args)
    }

    /// The error a recorded failure stands for; text it did not record is a placeholder.
    pub fn from_failure(f: &Failure) -> StateError {
        use StateError::*;
        let (a, b, c) = (f.int(0), f.int(1), f.int(2));
        let model = ModelId(u64_of(a));
        let text = || NOT_RECORDED.to_string();
        let usize_of = |v: u128| usize::try_from(v).unwrap_or(usize::MAX);
        match f.code {
            1 => match (ChainId::new("unknown"), ChainId::new("unknown")) {
                (Ok(expected), Ok(got)) => WrongChain { expected, got },
                _ => Unrecognized { code: f.code },
            },
            2 => StaleNonce {
                expected: u64_of(a),
                got: u64_of(b),
            },
            3 => FutureNonce {
                expected: u64_of(a),
                got: u64_of(b),
            },
            4 => FeeTooLow {
                required: Amount::from_base(a),
                max_fee: Amount::from_base(b),
            },
            5 => InsufficientFunds {
                needed: Amount::from_base(a),
                available: Amount::from_base(b),
            },
            6 => InsufficientStake {
                requested: Amount::from_base(a),
                available: Amount::from_base(b),
            },
            7 => NotLocked {
                requested: Amount::from_base(a),
                locked: Amount::from_base(b),
            },
            8 => NothingToWithdraw {
                height: u64_of(a),
                next_release: (f.args.len() > 1).then(|| u64_of(b)),
            },
            9 => TooManyUnbonding { max: usize_of(a) },
            10 => ZeroAmount,
            11 => Overflow("an amount"),
            12 => Corrupt {
                key: text(),
                reason: text(),
            },
            13 => InvalidGenesis(text()),
            14 => InvalidParams(text()),
            15 => Missing("an entry"),
            16 => InvalidModelName { name: text() },
            17 => InvalidCid {
                cid: text(),
                reason: CidReason::UnknownBase,
            },
            18 => InvalidModelField {
                field: "field",
                reason: NOT_RECORDED,
            },
            19 => InvalidTotalShares {
                total: Shares::new(u64_of(a)),
                max: Shares::new(u64_of(b)),
            },
            20 => InvalidSplit {
                total_bps: u32::try_from(a).unwrap_or(u32::MAX),
            },
            21 => InvalidDataLinks {
                reason: NOT_RECORDED,
            },
            22 => ModelNameTaken {
                name: text(),
                model,
            },
            23 => UnknownModel { model },
            24 => NotModelCreator {
                model,
                creator: f.address(1),
            },
            25 => TooManyVersions {
                model,
                max: usize_of(b),
            },
            26 => SameManifest { model, cid: text() },
            27 => InsufficientShares {
                model,
                requested: Shares::new(u64_of(b)),
                available: Shares::new(u64_of(c)),
            },
            28 => SelfTransfer,
            29 => NothingToClaim { model },
            30 => RoyaltyOverflow {
                model,
                what: "an amount",
            },
            31 => InvalidEvidence { reason: text() },
            32 => AlreadySlashed {
                validator: f.address(0),
                epoch: u64_of(b),
            },
            33 => NothingToSlash {
                validator: f.address(0),
            },
            34 => InvalidP2pAddress {
                reason: NOT_RECORDED,
            },
            35 => NotValidator { who: f.address(0) },
            36 => NotJailed { who: f.address(0) },
            37 => ViewNotIncreasing {
                view: u64_of(a),
                last: u64_of(b),
            },
            38 => EvidenceFromFuture {
                epoch: u64_of(a),
                current: u64_of(b),
            },
            39 => EvidenceTooOld {
                epoch: u64_of(a),
                current: u64_of(b),
                max_age: u64_of(c),
            },
            40 => NotInSet {
                validator: f.address(0),
                epoch: u64_of(b),
            },
            41 => InvalidEndpoint {
                reason: NOT_RECORDED,
            },
            42 => PriceTooHigh {
                max: Amount::from_base(a),
            },
            43 => PriceBelowModel {
                model,
                per_call: Amount::from_base(b),
                per_token: Amount::from_base(c),
            },
            44 => PriceNotProportional { model },
            45 => ProviderExists {
                provider: f.address(0),
                model: ModelId(u64_of(b)),
            },
            46 => UnknownProvider {
                provider: f.address(0),
                model: ModelId(u64_of(b)),
            },
            47 => TooManyProviderModels { max: usize_of(a) },
            48 => ProviderStakeTooLow {
                offered: Amount::from_base(a),
                required: Amount::from_base(b),
            },
            49 => UnknownChannel,
            50 => NotChannelPayer {
                payer: f.address(0),
            },
            51 => NotChannelProvider {
                provider: f.address(0),
            },
            52 => ChannelClosed,
            53 => ChannelExpired {
                expired_at: u64_of(a),
            },
            54 => BadChannelLife {
                blocks: u64_of(a),
                max: u64_of(b),
            },
            55 => ClaimWindowClosed {
                closed_at: u64_of(a),
            },
            56 => BadClaimLanes {
                reason: NOT_RECORDED,
            },
            57 => BadVoucher {
                lane: u32::try_from(a).unwrap_or(u32::MAX),
            },
            58 => StaleVoucher {
                lane: u32::try_from(a).unwrap_or(u32::MAX),
                claimed: Amount::from_base(b),
            },
            59 => ClaimOverDeposit {
                deposit: Amount::from_base(a),
                claimed: Amount::from_base(b),
            },
            60 => RefundTooEarly {
                opens_at: u64_of(a),
            },
            code if code >= VERIFY_CODE_BASE => {
                VerifyError::from_failure(code.saturating_sub(VERIFY_CODE_BASE), f)
                    .map_or(Unrecognized { code }, Verify)
            }
            code => f
                .code
                .checked_sub(SUBNET_CODE_BASE)
                .and_then(|sub| SubnetError::from_failure(sub, f))
                .map_or(Unrecognized { code }, Subnet),
        }
    }
}

/// The message of a recorded failure, for people (API responses, the CLI).
pub fn render(failure: &Failure) -> String {
    StateError::from_failure(failure).to_string()
}

/// Fill in the rendered message of every failed receipt (at the API edge).
pub fn annotate(receipts: &mut tessera_types::BlockReceipts) {
    receipts.txs.iter_mut().for_each(annotate_receipt);
}

/// Fill in the rendered message of one receipt, if it failed (at the API edge).
pub fn annotate_receipt(receipt: &mut tessera_types::Receipt) {
    if let tessera_types::TxStatus::Failed(failure) = &mut receipt.status {
        failure.message = Some(render(failure));
    }
}

/// Shorthand for checked arithmetic: `checked(a.checked_add(b), "what")?`.
pub(crate) fn checked<T>(value: Option<T>, what: &'static str) -> Result<T, StateError> {
    value.ok_or(StateError::Overflow(what))
}
