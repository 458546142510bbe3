//! Overclaim disputes on chain: a provider that claims a lane's whole voucher while its
//! own receipt says it charged less is proven and slashed, the payer made whole from the
//! slash; an honest provider answers a report of an old receipt with its later one, and
//! the reporter loses its bond. Forged answers are refused. The ledger's supply invariant
//! and the bonds account are checked after every block.
#![cfg(test)]

mod support;

use support::{burned, verify_err, Chain, TSR};
use tessera_state::{
    providers,
    verify::{self, error::VerifyError, overclaim::Overclaim},
    StateError,
};
use tessera_types::{
    call::{body_hash, sign_request, CallReceipt},
    channel::{channel_id, LaneClaim, Price},
    dispute::{DisputeEvent, Verdict},
    tx::ModelId,
    voucher::Voucher,
    Amount, Call, Event, Hash, Signature,
};

/// Accounts: 0 owns the model, 1 is the provider, 2 the payer, 3 an outsider.
const PROVIDER: usize = 1;
const PAYER: usize = 2;
const OUTSIDER: usize = 3;
const PROVIDER_STAKE: u128 = 1_000 * TSR;
const LANE: u32 = 4;

struct Net {
    chain: Chain,
    model: ModelId,
    channel: Hash,
}

fn net() -> Net {
    let mut chain = Chain::new(4);
    let price = Price {
        per_call: Amount::from_base(1_000),
        per_token: Amount::ZERO,
    };
    let model = chain.register_model(0, price, &[]);
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
    let channel = channel_id(&chain.addr(PAYER), chain.nonces[PAYER]);
    let provider = chain.addr(PROVIDER);
    chain
        .call(
            PAYER,
            Call::OpenChannel {
                provider,
                model,
                deposit: Amount::from_base(TSR),
                expiry_blocks: 1_000,
            },
        )
        .unwrap();
    Net {
        chain,
        model,
        channel,
    }
}

/// One paid call on the lane: the payer's voucher for `voucher` and request signature,
/// and the provider's receipt saying the lane has charged `lane_charged`.
fn call(net: &Net, n: u8, voucher: u128, lane_charged: u128) -> (CallReceipt, Signature) {
    let body = format!(r#"{{"model":"m","input":"call {n}"}}"#).into_bytes();
    let paid = Voucher::sign(
        &net.chain.keys[PAYER],
        &support::chain_id(),
        net.channel,
        LANE,
        Amount::from_base(voucher),
    );
    let request_sig = sign_request(&net.chain.keys[PAYER], &paid, &body);
    let receipt = receipt_for(net, &body, voucher, lane_charged);
    (receipt, request_sig)
}

fn receipt_for(net: &Net, body: &[u8], voucher: u128, lane_charged: u128) -> CallReceipt {
    CallReceipt {
        chain_id: support::chain_id(),
        channel: net.channel,
        lane: LANE,
        provider: net.chain.addr(PROVIDER),
        request_hash: body_hash(body),
        model: net.model,
        manifest_cid: "bafy".into(),
        kernel_path: "cpu".into(),
        output_hash: Hash([9; 32]),
        token_ids: Vec::new(),
        tokens_charged: 0,
        amount_charged: Amount::from_base(1_000),
        lane_charged: Amount::from_base(lane_charged),
        voucher: Amount::from_base(voucher),
        first_output_ms: 1,
        total_ms: 2,
        signature: CallReceipt::unsigned_signature(),
    }
    .sign(&net.chain.keys[PROVIDER])
}

/// The provider claims `claimed` on the lane with the payer's voucher for `voucher`.
fn claim(net: &mut Net, voucher: u128, claimed: u128) {
    let v = Voucher::sign(
        &net.chain.keys[PAYER],
        &support::chain_id(),
        net.channel,
        LANE,
        Amount::from_base(voucher),
    );
    let lanes = vec![LaneClaim::partial(&v, Amount::from_base(claimed))];
    net.chain
        .call(
            PROVIDER,
            Call::ClaimChannel {
                channel: net.channel,
                lanes,
            },
        )
        .unwrap();
}

fn bond() -> Amount {
    support::params().dispute_min_bond
}

fn report(net: &mut Net, reporter: usize, receipt: &CallReceipt) -> Result<Hash, StateError> {
    let events = net.chain.call(
        reporter,
        Call::ReportOverclaim {
            receipt: Box::new(receipt.clone()),
            bond: bond(),
        },
    )?;
    Ok(events
        .iter()
        .find_map(|e| match e {
            Event::Dispute(DisputeEvent::OverclaimOpened { dispute, .. }) => Some(*dispute),
            _ => None,
        })
        .unwrap())
}

fn answer(
    net: &mut Net,
    id: Hash,
    (receipt, request_sig): &(CallReceipt, Signature),
) -> Result<Vec<Event>, StateError> {
    net.chain.call(
        PROVIDER,
        Call::AnswerOverclaim {
            dispute: id,
            receipt: Box::new(receipt.clone()),
            request_sig: request_sig.clone(),
        },
    )
}

fn record(net: &Net, id: &Hash) -> Overclaim {
    verify::overclaim::overclaim(&net.chain.view(), id)
        .unwrap()
        .unwrap()
}

fn check_books(net: &Net) {
    support::check_verify_books(&net.chain);
}

fn registered(net: &Net) -> bool {
    providers::provider(&net.chain.view(), net.model, &net.chain.addr(PROVIDER))
        .unwrap()
        .is_some()
}

#[test]
fn an_unanswered_overclaim_is_proven_and_the_payer_made_whole() {
    let mut net = net();
    // Two calls: vouchers 3000 and 4000 signed, 1000 and 2000 charged. The provider
    // claims the last voucher whole: 2000 above its own receipt.
    let _first = call(&net, 1, 3_000, 1_000);
    let last = call(&net, 2, 4_000, 2_000);
    claim(&mut net, 4_000, 4_000);
    let payer = net.chain.addr(PAYER);
    let burned_before = burned(&net.chain);
    let id = report(&mut net, PAYER, &last.0).unwrap();
    let after_report = net.chain.balance(&payer);
    check_books(&net);
    // It cannot leave with the stake at risk, nor answer with the reported receipt
    // re-signed to charge the claim (same voucher: not a later call).
    let leave = net
        .chain
        .call(PROVIDER, Call::LeaveProvider { model: net.model });
    assert!(matches!(verify_err(leave), VerifyError::DisputeOpen { .. }));
    let body = format!(r#"{{"model":"m","input":"call {}"}}"#, 2).into_bytes();
    let inflated = (receipt_for(&net, &body, 4_000, 4_000), last.1.clone());
    assert!(matches!(
        verify_err(answer(&mut net, id, &inflated)),
        VerifyError::AnswerNotLater { .. }
    ));
    let deadline = record(&net, &id).deadline;
    while net.chain.height < deadline {
        net.chain.block(Vec::new());
        check_books(&net);
    }
    let done = record(&net, &id);
    assert_eq!(done.verdict, Some(Verdict::Proven));
    let p = support::params();
    let slashed = PROVIDER_STAKE * u128::from(p.fraud_slash_bps) / 10_000;
    let reward = (slashed - 2_000) * u128::from(p.fraud_reporter_bps) / 10_000;
    assert_eq!(done.slashed.base(), slashed);
    assert_eq!(done.restitution.base(), 2_000);
    assert_eq!(done.to_reporter.base(), reward);
    // The payer reported: bond back, restitution and the reporter's reward.
    assert_eq!(
        net.chain.balance(&payer),
        after_report + bond().base() + 2_000 + reward
    );
    assert!(!registered(&net));
    // The slash is burned; restitution and reward are paid anew (the ledger check below
    // holds the supply to it).
    assert_eq!(burned(&net.chain) - burned_before, slashed);
    check_books(&net);
}

#[test]
fn an_honest_provider_answers_an_old_receipt_and_the_bond_burns() {
    let mut net = net();
    let first = call(&net, 1, 3_000, 1_000);
    let last = call(&net, 2, 4_000, 2_000);
    // Honest: it claims what it charged (the voucher allowed 4000).
    claim(&mut net, 4_000, 2_000);
    // The outsider reports the first receipt (1000 < 2000 claimed).
    let id = report(&mut net, OUTSIDER, &first.0).unwrap();
    let burned_before = burned(&net.chain);
    // A receipt charging below the claim, or signed by someone else, is no answer.
    let short = call(&net, 3, 3_500, 1_500);
    assert!(matches!(
        verify_err(answer(&mut net, id, &short)),
        VerifyError::AnswerBelowClaim { .. }
    ));
    let unsigned = (last.0.clone(), net.chain.keys[PROVIDER].sign(b"x", b"y"));
    assert_eq!(
        verify_err(answer(&mut net, id, &unsigned)),
        VerifyError::AnswerNotSigned
    );
    let events = answer(&mut net, id, &last).unwrap();
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Dispute(DisputeEvent::Decided {
            verdict: Verdict::Rejected,
            ..
        })
    )));
    assert_eq!(record(&net, &id).verdict, Some(Verdict::Rejected));
    assert_eq!(burned(&net.chain) - burned_before, bond().base());
    assert!(registered(&net));
    // Answered once: a second answer finds the dispute closed; the provider may leave.
    assert!(matches!(
        verify_err(answer(&mut net, id, &last)),
        VerifyError::VotingClosed { .. }
    ));
    check_books(&net);
    net.chain
        .call(PROVIDER, Call::LeaveProvider { model: net.model })
        .unwrap();
}

#[test]
fn reports_without_an_overclaim_are_refused() {
    let mut net = net();
    let last = call(&net, 1, 3_000, 1_000);
    // Nothing claimed yet, then exactly what was charged: nothing to report.
    assert!(matches!(
        verify_err(report(&mut net, PAYER, &last.0)),
        VerifyError::NotOverclaimed { .. }
    ));
    claim(&mut net, 3_000, 1_000);
    assert!(matches!(
        verify_err(report(&mut net, PAYER, &last.0)),
        VerifyError::NotOverclaimed { .. }
    ));
    // A receipt for a channel it does not serve.
    let mut elsewhere = last.0.clone();
    elsewhere.channel = Hash([7; 32]);
    let elsewhere = elsewhere.sign(&net.chain.keys[PROVIDER]);
    assert_eq!(
        verify_err(report(&mut net, PAYER, &elsewhere)),
        VerifyError::NotChannelReceipt
    );
    // A bond below the minimum.
    claim(&mut net, 3_000, 2_000);
    let small = net.chain.call(
        PAYER,
        Call::ReportOverclaim {
            receipt: Box::new(last.0.clone()),
            bond: Amount::from_base(1),
        },
    );
    assert!(matches!(
        verify_err(small),
        VerifyError::BondTooSmall { .. }
    ));
    // One report per receipt and claim.
    report(&mut net, PAYER, &last.0).unwrap();
    assert_eq!(
        verify_err(report(&mut net, OUTSIDER, &last.0)),
        VerifyError::AlreadyReported
    );
    check_books(&net);
}

#[test]
fn a_forged_receipt_never_reaches_a_block() {
    let mut net = net();
    let (mut receipt, _) = call(&net, 1, 3_000, 1_000);
    // Lowered after signing, to make an honest claim look like an overclaim.
    receipt.lane_charged = Amount::from_base(10);
    let tx = net.chain.sign(
        PAYER,
        Call::ReportOverclaim {
            receipt: Box::new(receipt),
            bond: bond(),
        },
    );
    let admitted = tessera_state::exec::check_stateless(
        &support::chain_id(),
        &net.chain.addr(PAYER),
        &tx.tx().call,
    );
    assert!(matches!(admitted, Err(StateError::InvalidEvidence { .. })));
}
