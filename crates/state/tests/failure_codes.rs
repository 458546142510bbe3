//! Receipts record failures as stable codes with numeric arguments: every error has its
//! own code, and a recorded failure renders back to the same error (text it did not
//! record aside).
#![cfg(test)]

use std::collections::BTreeSet;
use tessera_state::{
    error::render, subnets::error::SubnetError, verify::error::VerifyError, StateError,
};
use tessera_types::{
    cid::CidReason,
    receipt::MAX_FAILURE_ARGS,
    subnet::SubnetId,
    tx::{ModelId, Shares},
    Address, Amount, ChainId, Failure,
};

/// One value of every variant, with distinct numbers so arguments cannot be mixed up.
fn every_error() -> Vec<StateError> {
    use StateError::*;
    let a = Address([7; 32]);
    let amt = Amount::from_base;
    let mut errors = vec![
        WrongChain {
            expected: ChainId::new("a").unwrap(),
            got: ChainId::new("b").unwrap(),
        },
        StaleNonce {
            expected: 3,
            got: 1,
        },
        FutureNonce {
            expected: 3,
            got: 9,
        },
        FeeTooLow {
            required: amt(5),
            max_fee: amt(4),
        },
        InsufficientFunds {
            needed: amt(11),
            available: amt(10),
        },
        InsufficientStake {
            requested: amt(12),
            available: amt(2),
        },
        NotLocked {
            requested: amt(13),
            locked: amt(3),
        },
        NothingToWithdraw {
            height: 14,
            next_release: Some(20),
        },
        NothingToWithdraw {
            height: 15,
            next_release: None,
        },
        TooManyUnbonding { max: 16 },
        ZeroAmount,
        Overflow("x"),
        Corrupt {
            key: "k".into(),
            reason: "r".into(),
        },
        InvalidGenesis("g".into()),
        InvalidParams("p".into()),
        Missing("m"),
        InvalidModelName { name: "N".into() },
        InvalidCid {
            cid: "c".into(),
            reason: CidReason::TooLong,
        },
        InvalidModelField {
            field: "f",
            reason: "r",
        },
        InvalidTotalShares {
            total: Shares::new(0),
            max: Shares::new(17),
        },
        InvalidSplit { total_bps: 18 },
        InvalidDataLinks { reason: "r" },
        ModelNameTaken {
            name: "n".into(),
            model: ModelId(19),
        },
        UnknownModel { model: ModelId(20) },
        NotModelCreator {
            model: ModelId(21),
            creator: a,
        },
        TooManyVersions {
            model: ModelId(22),
            max: 23,
        },
        SameManifest {
            model: ModelId(24),
            cid: "c".into(),
        },
        InsufficientShares {
            model: ModelId(25),
            requested: Shares::new(26),
            available: Shares::new(27),
        },
        SelfTransfer,
        NothingToClaim { model: ModelId(28) },
        RoyaltyOverflow {
            model: ModelId(29),
            what: "w",
        },
        InvalidEvidence { reason: "e".into() },
        AlreadySlashed {
            validator: a,
            epoch: 30,
        },
        NothingToSlash { validator: a },
        InvalidP2pAddress { reason: "r" },
        NotValidator { who: a },
        NotJailed { who: a },
        ViewNotIncreasing { view: 31, last: 32 },
        EvidenceFromFuture {
            epoch: 33,
            current: 34,
        },
        EvidenceTooOld {
            epoch: 35,
            current: 36,
            max_age: 37,
        },
        NotInSet {
            validator: a,
            epoch: 38,
        },
        InvalidEndpoint {
            reason: "has no host",
        },
        PriceTooHigh { max: amt(39) },
        PriceBelowModel {
            model: ModelId(40),
            per_call: amt(41),
            per_token: amt(42),
        },
        PriceNotProportional { model: ModelId(43) },
        ProviderExists {
            provider: a,
            model: ModelId(44),
        },
        UnknownProvider {
            provider: a,
            model: ModelId(45),
        },
        TooManyProviderModels { max: 46 },
        ProviderStakeTooLow {
            offered: amt(47),
            required: amt(48),
        },
        UnknownChannel,
        NotChannelPayer { payer: a },
        NotChannelProvider { provider: a },
        ChannelClosed,
        ChannelExpired { expired_at: 49 },
        BadChannelLife {
            blocks: 50,
            max: 51,
        },
        ClaimWindowClosed { closed_at: 52 },
        BadClaimLanes { reason: "empty" },
        BadVoucher { lane: 53 },
        StaleVoucher {
            lane: 54,
            claimed: amt(55),
        },
        ClaimOverDeposit {
            deposit: amt(56),
            claimed: amt(57),
        },
        RefundTooEarly { opens_at: 58 },
    ];
    errors.extend(every_subnet_error().into_iter().map(Subnet));
    errors.extend(every_verify_error().into_iter().map(Verify));
    errors
}

fn every_verify_error() -> Vec<VerifyError> {
    use VerifyError::*;
    let a = Address([7; 32]);
    vec![
        BondTooSmall {
            min: Amount::from_base(301),
        },
        NoSubnet {
            model: ModelId(302),
        },
        NotSubnetValidator {
            who: a,
            subnet: SubnetId(303),
        },
        NotProvider {
            provider: a,
            model: ModelId(304),
        },
        AlreadyReported,
        TooManyOpen { max: 306 },
        NoOtherValidators {
            subnet: SubnetId(307),
        },
        UnknownDispute,
        VotingClosed { deadline: 309 },
        AlreadyVoted { voter: a },
        ReporterVotes,
        DisputeOpen {
            provider: a,
            model: ModelId(312),
        },
        NoWeight,
        NotChannelReceipt,
        NotOverclaimed {
            claimed: Amount::from_base(315),
            charged: Amount::from_base(316),
        },
        AnswerNotSigned,
        AnswerNotLater {
            reported: Amount::from_base(317),
            answered: Amount::from_base(318),
        },
        AnswerBelowClaim {
            claimed: Amount::from_base(319),
            charged: Amount::from_base(320),
        },
    ]
}

fn every_subnet_error() -> Vec<SubnetError> {
    use SubnetError::*;
    let a = Address([9; 32]);
    vec![
        InvalidName { name: "X".into() },
        BadParam {
            field: "f",
            min: 61,
            max: 62,
        },
        NameTaken {
            subnet: SubnetId(63),
        },
        ModelHasSubnet {
            model: ModelId(64),
            subnet: SubnetId(65),
        },
        TooManySubnets { max: 66 },
        UnknownSubnet {
            subnet: SubnetId(67),
        },
        AlreadyRegistered { key: a, uid: 68 },
        AllImmune { free_at: 69 },
        NotRegistered {
            key: a,
            subnet: SubnetId(70),
        },
        NotValidatorUid { uid: 71 },
        AlreadyCommitted { tempo: 72 },
        TooManyPending,
        NoMatchingCommit,
        RevealTooEarly { committed: 73 },
        NoSuchUid { uid: 74, n: 75 },
        DuplicateUid { uid: 76 },
        WeightsCount {
            got: 77,
            min: 78,
            max: 79,
        },
        RateLimited { next_at: 80 },
        TakeTooHigh {
            take_bps: 81,
            max_bps: 82,
        },
        TakeRaiseTooSoon { allowed_from: 83 },
        NotDelegated {
            requested: Amount::from_base(84),
            available: Amount::from_base(85),
        },
        TooManyDelegators { max: 86 },
        EpochFailed,
        DelegationTooSmall {
            min: Amount::from_base(87),
        },
        NoPermit { uid: 88 },
        NotOwner {
            subnet: SubnetId(126),
        },
        SubnetHasStake {
            subnet: SubnetId(127),
        },
    ]
}

#[test]
fn every_error_has_its_own_code_and_round_trips() {
    let errors = every_error();
    let mut codes = BTreeSet::new();
    for e in &errors {
        let failure = e.failure();
        assert!(failure.args.len() <= MAX_FAILURE_ARGS, "{e:?}");
        assert_eq!(failure.code, e.code());
        let back = StateError::from_failure(&failure);
        assert_eq!(back.code(), e.code(), "{e:?} came back as {back:?}");
        assert_eq!(back.failure(), failure, "{e:?} came back as {back:?}");
        codes.insert(e.code());
    }
    // Two `NothingToWithdraw` values share one code.
    assert_eq!(codes.len(), errors.len() - 1);
}

/// Errors without text fields render exactly their own message.
#[test]
fn numeric_errors_render_their_own_message() {
    for e in every_error() {
        let plain = !matches!(
            e,
            StateError::WrongChain { .. }
                | StateError::Overflow(_)
                | StateError::Corrupt { .. }
                | StateError::InvalidGenesis(_)
                | StateError::InvalidParams(_)
                | StateError::Missing(_)
                | StateError::InvalidModelName { .. }
                | StateError::InvalidCid { .. }
                | StateError::InvalidModelField { .. }
                | StateError::InvalidDataLinks { .. }
                | StateError::ModelNameTaken { .. }
                | StateError::SameManifest { .. }
                | StateError::RoyaltyOverflow { .. }
                | StateError::InvalidEvidence { .. }
                | StateError::InvalidP2pAddress { .. }
                | StateError::InvalidEndpoint { .. }
                | StateError::BadClaimLanes { .. }
                | StateError::Subnet(SubnetError::InvalidName { .. })
                | StateError::Subnet(SubnetError::BadParam { .. })
        );
        if plain {
            assert_eq!(render(&e.failure()), e.to_string());
        }
    }
}

#[test]
fn unknown_codes_render_as_an_upgrade_hint() {
    let text = render(&Failure::new(60_000, Vec::new()));
    assert!(text.contains("60000") && text.contains("upgrade"), "{text}");
}
