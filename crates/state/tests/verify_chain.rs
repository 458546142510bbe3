//! Fraud disputes on chain, through signed transactions and whole blocks: a report bonds,
//! the subnet's other validators vote, and the verdict at the deadline slashes the
//! provider (proven), burns the bond (rejected) or returns it (undecided). The ledger's
//! supply invariant and the bonds account are checked after every block.
#![cfg(test)]

mod support;

use support::{burned, verify_err, Chain, TSR};
use tessera_state::{
    providers, staking,
    verify::{self, error::VerifyError, Dispute},
    StateError,
};
use tessera_types::{
    call::{body_hash, CallReceipt},
    channel::Price,
    dispute::{output_hash, DisputeEvent, FraudEvidence, Verdict},
    subnet::{Role, SubnetEvent, SubnetId, SubnetParams},
    tx::ModelId,
    Amount, Call, Event, Hash,
};

/// Accounts: 0 owns the model and subnet, 1 is the provider, 2–4 are validators with
/// 100, 200 and 300 TSR behind them, 5 is an outsider.
const PROVIDER: usize = 1;
const VALIDATORS: [usize; 3] = [2, 3, 4];
const OUTSIDER: usize = 5;
const PROVIDER_STAKE: u128 = 1_000 * TSR;

struct Net {
    chain: Chain,
    model: ModelId,
}

fn net() -> Net {
    let mut chain = Chain::new(6);
    let price = Price {
        per_call: Amount::from_base(1_000),
        per_token: Amount::ZERO,
    };
    let model = chain.register_model(0, price, &[]);
    let events = chain
        .call(
            0,
            Call::CreateSubnet {
                name: "market".into(),
                model: Some(model),
                params: SubnetParams {
                    tempo_blocks: 1_000,
                    ..SubnetParams::default()
                },
            },
        )
        .unwrap();
    let subnet = events
        .iter()
        .find_map(|e| match e {
            Event::Subnet(SubnetEvent::SubnetCreated { subnet, .. }) => Some(*subnet),
            _ => None,
        })
        .unwrap();
    chain
        .call(
            PROVIDER,
            Call::RegisterProvider {
                model,
                stake: Amount::from_base(PROVIDER_STAKE),
                price,
                endpoint: "http://127.0.0.1:7301".into(),
            },
        )
        .unwrap();
    for (i, v) in VALIDATORS.iter().enumerate() {
        chain
            .call(
                *v,
                Call::RegisterUid {
                    subnet,
                    role: Role::Validator,
                },
            )
            .unwrap();
        let validator = chain.addr(*v);
        chain
            .call(
                *v,
                Call::Delegate {
                    subnet,
                    validator,
                    amount: Amount::from_base((i as u128 + 1) * 100 * TSR),
                },
            )
            .unwrap();
    }
    Net { chain, model }
}

/// The provider's signed answer to one request (the output need not be wrong: the
/// chain cannot tell; the votes decide).
fn evidence(net: &Net, salt: u8) -> FraudEvidence {
    let request = format!(r#"{{"model":"market","input":"call {salt}"}}"#).into_bytes();
    let output: Vec<u8> = [0.25f32, salt as f32]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let receipt = CallReceipt {
        chain_id: support::chain_id(),
        channel: Hash([salt; 32]),
        lane: 0,
        provider: net.chain.addr(PROVIDER),
        request_hash: body_hash(&request),
        model: net.model,
        manifest_cid: "bafy".into(),
        kernel_path: "cpu".into(),
        output_hash: output_hash(&output),
        token_ids: Vec::new(),
        tokens_charged: 0,
        amount_charged: Amount::from_base(1_000),
        lane_charged: Amount::from_base(1_000),
        voucher: Amount::from_base(1_000),
        first_output_ms: 1,
        total_ms: 2,
        signature: CallReceipt::unsigned_signature(),
    }
    .sign(&net.chain.keys[PROVIDER]);
    FraudEvidence {
        receipt,
        request,
        output,
    }
}

fn bond() -> Amount {
    support::params().dispute_min_bond
}

fn report(net: &mut Net, reporter: usize, evidence: &FraudEvidence) -> Result<Hash, StateError> {
    let events = net.chain.call(
        reporter,
        Call::ReportFraud {
            evidence: Box::new(evidence.clone()),
            bond: bond(),
        },
    )?;
    Ok(events
        .iter()
        .find_map(|e| match e {
            Event::Dispute(DisputeEvent::Opened { dispute, .. }) => Some(*dispute),
            _ => None,
        })
        .unwrap())
}

fn vote(net: &mut Net, voter: usize, id: Hash, guilty: bool) -> Result<Vec<Event>, StateError> {
    net.chain.call(
        voter,
        Call::VoteDispute {
            dispute: id,
            guilty,
        },
    )
}

fn record(net: &Net, id: &Hash) -> Dispute {
    verify::dispute(&net.chain.view(), id).unwrap().unwrap()
}

fn check_books(net: &Net) {
    support::check_verify_books(&net.chain);
}

/// Empty blocks until `id` is decided; its verdict.
fn decide(net: &mut Net, id: &Hash) -> Verdict {
    let deadline = record(net, id).deadline;
    while net.chain.height < deadline {
        net.chain.block(Vec::new());
        check_books(net);
    }
    record(net, id).verdict.expect("decided at its deadline")
}

#[test]
fn proven_fraud_slashes_pays_the_reporter_and_delists() {
    let mut net = net();
    let evidence = evidence(&net, 1);
    let reporter = net.chain.addr(VALIDATORS[0]);
    let burned_before = burned(&net.chain);
    let id = report(&mut net, VALIDATORS[0], &evidence).unwrap();
    let after_report = net.chain.balance(&reporter);
    check_books(&net);
    // The provider cannot walk away with the stake at risk.
    let leave = net
        .chain
        .call(PROVIDER, Call::LeaveProvider { model: net.model });
    assert!(matches!(verify_err(leave), VerifyError::DisputeOpen { .. }));
    // Eligible: validators 3 and 4 (200 + 300 TSR); both find the answer wrong.
    assert_eq!(record(&net, &id).eligible_weight.base(), 500 * TSR);
    vote(&mut net, VALIDATORS[1], id, true).unwrap();
    vote(&mut net, VALIDATORS[2], id, true).unwrap();
    assert_eq!(decide(&mut net, &id), Verdict::Proven);

    let p = support::params();
    let slashed = PROVIDER_STAKE * u128::from(p.fraud_slash_bps) / 10_000;
    let reward = slashed * u128::from(p.fraud_reporter_bps) / 10_000;
    let done = record(&net, &id);
    assert_eq!(done.slashed.base(), slashed);
    // The reporter got its bond back and the reward.
    assert_eq!(
        net.chain.balance(&reporter),
        after_report + bond().base() + reward
    );
    assert!(
        providers::provider(&net.chain.view(), net.model, &net.chain.addr(PROVIDER))
            .unwrap()
            .is_none()
    );
    // The rest of the provider's stake unbonds; the slash left the supply (the reward
    // is paid anew).
    let stake = staking::stake(&net.chain.view(), &net.chain.addr(PROVIDER)).unwrap();
    assert_eq!(stake.locked, Amount::ZERO);
    let unbonding: u128 = stake.unbonding.iter().map(|e| e.amount.base()).sum();
    assert_eq!(stake.bonded.base() + unbonding, PROVIDER_STAKE - slashed);
    assert_eq!(burned(&net.chain) - burned_before, slashed);
    check_books(&net);
}

#[test]
fn rejected_report_burns_the_bond_and_leaves_the_provider_alone() {
    let mut net = net();
    let evidence = evidence(&net, 2);
    let id = report(&mut net, VALIDATORS[2], &evidence).unwrap();
    // 100 guilty against 200 innocent: quorum met (300 of 300), pass not.
    vote(&mut net, VALIDATORS[0], id, true).unwrap();
    vote(&mut net, VALIDATORS[1], id, false).unwrap();
    let burned_before = burned(&net.chain);
    assert_eq!(decide(&mut net, &id), Verdict::Rejected);
    assert_eq!(burned(&net.chain) - burned_before, bond().base());
    let registration = providers::provider(&net.chain.view(), net.model, &net.chain.addr(PROVIDER))
        .unwrap()
        .unwrap();
    assert_eq!(registration.stake.base(), PROVIDER_STAKE);
    // Decided: the provider may leave again.
    net.chain
        .call(PROVIDER, Call::LeaveProvider { model: net.model })
        .unwrap();
    check_books(&net);
}

#[test]
fn too_few_votes_return_the_bond() {
    let mut net = net();
    let evidence = evidence(&net, 3);
    let reporter = net.chain.addr(VALIDATORS[2]);
    let id = report(&mut net, VALIDATORS[2], &evidence).unwrap();
    let after_report = net.chain.balance(&reporter);
    // 100 of 300 eligible voted: below the 50 % quorum.
    vote(&mut net, VALIDATORS[0], id, true).unwrap();
    assert_eq!(decide(&mut net, &id), Verdict::Undecided);
    assert_eq!(net.chain.balance(&reporter), after_report + bond().base());
    check_books(&net);
}

#[test]
fn reports_and_votes_are_refused_from_the_wrong_people_and_at_the_wrong_time() {
    let mut net = net();
    let good = evidence(&net, 4);
    // Only the subnet's validators report.
    let outsider = report(&mut net, OUTSIDER, &good);
    assert!(matches!(
        verify_err(outsider),
        VerifyError::NotSubnetValidator { .. }
    ));
    // A bond below the minimum.
    let small = net.chain.call(
        VALIDATORS[0],
        Call::ReportFraud {
            evidence: Box::new(good.clone()),
            bond: Amount::from_base(bond().base() - 1),
        },
    );
    assert!(matches!(
        verify_err(small),
        VerifyError::BondTooSmall { .. }
    ));
    let id = report(&mut net, VALIDATORS[0], &good).unwrap();
    assert_eq!(
        verify_err(report(&mut net, VALIDATORS[1], &good)),
        VerifyError::AlreadyReported
    );
    assert_eq!(
        verify_err(vote(&mut net, VALIDATORS[0], id, true)),
        VerifyError::ReporterVotes
    );
    assert!(matches!(
        verify_err(vote(&mut net, OUTSIDER, id, true)),
        VerifyError::NotSubnetValidator { .. }
    ));
    vote(&mut net, VALIDATORS[1], id, true).unwrap();
    assert!(matches!(
        verify_err(vote(&mut net, VALIDATORS[1], id, false)),
        VerifyError::AlreadyVoted { .. }
    ));
    assert_eq!(
        verify_err(vote(&mut net, VALIDATORS[1], Hash([9; 32]), true)),
        VerifyError::UnknownDispute
    );
    decide(&mut net, &id);
    assert!(matches!(
        verify_err(vote(&mut net, VALIDATORS[2], id, true)),
        VerifyError::VotingClosed { .. }
    ));
    check_books(&net);
}

#[test]
fn forged_evidence_never_reaches_a_block() {
    let mut net = net();
    let mut forged = evidence(&net, 5);
    // Claim the provider answered something it did not sign.
    forged.output[0] ^= 0xff;
    forged.receipt.output_hash = output_hash(&forged.output);
    let tx = net.chain.sign(
        VALIDATORS[0],
        Call::ReportFraud {
            evidence: Box::new(forged),
            bond: bond(),
        },
    );
    let admitted = tessera_state::exec::check_stateless(
        &support::chain_id(),
        &net.chain.addr(VALIDATORS[0]),
        &tx.tx().call,
    );
    assert!(matches!(admitted, Err(StateError::InvalidEvidence { .. })));
}

#[test]
fn verdict_rule_at_the_thresholds() {
    let p = support::params();
    let mut d = Dispute {
        evidence: {
            let net = net();
            evidence(&net, 6)
        },
        reporter: tessera_types::Keypair::from_seed(1).address(),
        subnet: SubnetId(1),
        bond: bond(),
        opened_at: 1,
        deadline: 2,
        eligible_weight: Amount::from_base(10_000),
        guilty_weight: Amount::ZERO,
        innocent_weight: Amount::ZERO,
        verdict: None,
        slashed: Amount::ZERO,
    };
    let at = |d: &mut Dispute, g: u128, i: u128| {
        d.guilty_weight = Amount::from_base(g);
        d.innocent_weight = Amount::from_base(i);
        verify::verdict_of(&p, d).unwrap()
    };
    // Quorum 50 %: 4,999 of 10,000 is not enough, 5,000 is.
    assert_eq!(at(&mut d, 4_999, 0), Verdict::Undecided);
    assert_eq!(at(&mut d, 5_000, 0), Verdict::Proven);
    // Pass 66.67 % of the voting weight: 6,667 of 10,000 passes, 6,666 does not.
    assert_eq!(at(&mut d, 6_667, 3_333), Verdict::Proven);
    assert_eq!(at(&mut d, 6_666, 3_334), Verdict::Rejected);
    assert_eq!(at(&mut d, 0, 10_000), Verdict::Rejected);
    // Extreme weights neither overflow silently nor panic.
    d.eligible_weight = Amount::from_base(u128::MAX);
    assert!(verify::verdict_of(&p, &{
        let mut e = d.clone();
        e.guilty_weight = Amount::from_base(u128::MAX / 2);
        e
    })
    .is_err());
}
