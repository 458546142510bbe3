//! The inference market's rules, one scenario each: providers register with stake, a
//! payer opens a channel, vouchers on lanes are claimed and split to the base unit, and
//! every bad voucher or late call is refused with its own error.
#![cfg(test)]

mod support;

use support::{market, Chain, TSR};
use tessera_state::{
    bank, channels,
    providers::{self, MAX_MODELS_PER_PROVIDER},
    staking, StateError,
};
use tessera_types::{
    channel::{channel_id, LaneClaim, MarketEvent, Price},
    tx::{ModelId, Shares},
    voucher::Voucher,
    Amount, Call, ChainId, Event, Hash,
};

const CREATOR: usize = 0;
const CAROL: usize = 1; // provider
const ALICE: usize = 2; // payer
const DATA1: usize = 3;
const DATA2: usize = 4;
const BOB: usize = 5; // share holder
const DAVE: usize = 6; // second provider
const STRANGER: usize = 7;

fn per_token(base: u128) -> Price {
    Price {
        per_call: Amount::ZERO,
        per_token: Amount::from_base(base),
    }
}

fn register(model: ModelId, price: Price, stake_tsr: u128) -> Call {
    Call::RegisterProvider {
        model,
        stake: Amount::from_base(stake_tsr * TSR),
        price,
        endpoint: "http://127.0.0.1:7301".into(),
    }
}

/// A chain with the model (1,000 per token, two data links), Carol registered at 1,500
/// per token, Bob holding 400 of its 1,000 shares.
fn market_chain() -> (Chain, ModelId) {
    let mut chain = Chain::new(8);
    let data = [chain.addr(DATA1), chain.addr(DATA2)];
    let model = chain.register_model(CREATOR, per_token(1_000), &data);
    chain
        .call(CAROL, register(model, per_token(1_500), 500))
        .unwrap();
    let bob = chain.addr(BOB);
    chain
        .call(
            CREATOR,
            Call::TransferShares {
                model,
                to: bob,
                amount: Shares::new(400),
            },
        )
        .unwrap();
    (chain, model)
}

/// Alice opens a channel to Carol; returns its id.
fn open(chain: &mut Chain, model: ModelId, deposit: u128, expiry_blocks: u64) -> Hash {
    let id = channel_id(&chain.addr(ALICE), chain.nonces[ALICE]);
    let provider = chain.addr(CAROL);
    chain
        .call(
            ALICE,
            Call::OpenChannel {
                provider,
                model,
                deposit: Amount::from_base(deposit),
                expiry_blocks,
            },
        )
        .unwrap();
    id
}

fn voucher(chain: &Chain, signer: usize, id: Hash, lane: u32, cumulative: u128) -> LaneClaim {
    let v = Voucher::sign(
        &chain.keys[signer],
        &support::chain_id(),
        id,
        lane,
        Amount::from_base(cumulative),
    );
    LaneClaim::of(&v)
}

fn claim(id: Hash, lanes: Vec<LaneClaim>) -> Call {
    Call::ClaimChannel { channel: id, lanes }
}

/// The transaction fee in a receipt's events (the claim fee is an escrow-paid `Fee`).
/// Stage 1 (admission) of `tx` in the chain's next block.
fn admission(
    chain: &Chain,
    tx: &tessera_types::SignedTransaction,
) -> Result<tessera_state::exec::Admission, StateError> {
    let exec = tessera_state::Executor::new(
        &chain.state,
        tessera_state::BlockContext {
            chain_id: support::chain_id(),
            height: chain.height + 1,
            view: chain.height + 1,
            proposer: chain.addr(CREATOR),
        },
    )
    .unwrap();
    exec.check(tx)
}

fn fees(events: &[Event]) -> u128 {
    events
        .iter()
        .map(|e| match e {
            Event::Fee { amount, payer, .. } if *payer != channels::escrow() => amount.base(),
            _ => 0,
        })
        .sum()
}

#[test]
fn a_claim_is_split_to_the_base_unit_and_the_rest_refunded_after_expiry() {
    let (mut chain, model) = market_chain();
    let id = open(&mut chain, model, 10 * TSR, 20);
    let watched = [
        chain.addr(CAROL),
        chain.addr(DATA1),
        chain.addr(DATA2),
        bank::treasury(),
        channels::escrow(),
    ];
    let before = support::balances(&chain, &watched);
    // Two calls at once on two lanes: 7 tokens and 2 tokens at 1,500 per token.
    let lanes = vec![
        voucher(&chain, ALICE, id, 0, 7 * 1_500),
        voucher(&chain, ALICE, id, 1, 2 * 1_500),
    ];
    let events = chain.call(CAROL, claim(id, lanes)).unwrap();
    let after = support::balances(&chain, &watched);
    let delta = |i: usize| after[&watched[i]] as i128 - before[&watched[i]] as i128;

    // 13,500 paid; model part 9 tokens × 1,000 = 9,000: owners 2,700, data 900 (299.97 →
    // 299 + the remainder 1, and 600.03 → 600), treasury 900, fee 1% of 13,500 = 135;
    // Carol keeps 13,500 − 2,700 − 900 − 900 − 135 = 8,865 (and pays the tx fee).
    let tx_fee = fees(&events) as i128;
    assert_eq!(delta(0), 8_865 - tx_fee);
    assert_eq!(delta(1), 300);
    assert_eq!(delta(2), 600);
    assert_eq!(delta(3), 900 + 135 + tx_fee);
    assert_eq!(delta(4), -13_500);
    assert!(market(&events).contains(&MarketEvent::ClaimSplit {
        channel: id,
        model,
        to_provider: Amount::from_base(8_865),
        to_owners: Amount::from_base(2_700),
        to_data: Amount::from_base(900),
        to_treasury: Amount::from_base(900),
        fee: Amount::from_base(135),
    }));

    // Holders claim their royalties pro rata: 600 and 400 of 1,000 shares.
    for (holder, owed) in [(CREATOR, 1_620u128), (BOB, 1_080)] {
        let who = chain.addr(holder);
        let start = chain.balance(&who);
        let events = chain.call(holder, Call::ClaimRoyalties { model }).unwrap();
        assert_eq!(chain.balance(&who), start + owed - fees(&events));
    }

    // After expiry and the claim window, Alice takes back the unclaimed deposit.
    let record = channels::channel(&chain.view(), &id).unwrap().unwrap();
    chain.advance_to(record.expires_at + support::params().channel_claim_window_blocks);
    let alice = chain.addr(ALICE);
    let start = chain.balance(&alice);
    let events = chain
        .call(ALICE, Call::RefundChannel { channel: id })
        .unwrap();
    assert_eq!(
        chain.balance(&alice),
        start + 10 * TSR - 13_500 - fees(&events)
    );
    let record = channels::channel(&chain.view(), &id).unwrap().unwrap();
    assert!(record.closed);
    assert!(channels::lanes(&chain.view(), &id).unwrap().is_empty());
    assert_eq!(chain.balance(&channels::escrow()), 0);
}

#[test]
fn every_bad_voucher_is_refused_with_its_own_error() {
    let (mut chain, model) = market_chain();
    let id = open(&mut chain, model, 100_000, 50);
    let other_id = open(&mut chain, model, 100_000, 50);
    chain
        .call(CAROL, claim(id, vec![voucher(&chain, ALICE, id, 0, 3_000)]))
        .unwrap();

    let forged = voucher(&chain, STRANGER, id, 1, 3_000);
    let replayed = voucher(&chain, ALICE, id, 0, 3_000);
    let stale = voucher(&chain, ALICE, id, 0, 1_500);
    let mut wrong_lane = voucher(&chain, ALICE, id, 1, 3_000);
    wrong_lane.lane = 2;
    let wrong_channel = voucher(&chain, ALICE, other_id, 1, 3_000);
    let other_chain = ChainId::new("another-chain").unwrap();
    let wrong_chain = LaneClaim::of(&Voucher::sign(
        &chain.keys[ALICE],
        &other_chain,
        id,
        1,
        Amount::from_base(3_000),
    ));
    let over_deposit = voucher(&chain, ALICE, id, 1, 100_000);
    let cases = [
        (forged, StateError::BadVoucher { lane: 1 }),
        (
            replayed,
            StateError::StaleVoucher {
                lane: 0,
                claimed: Amount::from_base(3_000),
            },
        ),
        (
            stale,
            StateError::StaleVoucher {
                lane: 0,
                claimed: Amount::from_base(3_000),
            },
        ),
        (wrong_lane, StateError::BadVoucher { lane: 2 }),
        (wrong_channel, StateError::BadVoucher { lane: 1 }),
        (wrong_chain, StateError::BadVoucher { lane: 1 }),
        (
            over_deposit,
            StateError::ClaimOverDeposit {
                deposit: Amount::from_base(100_000),
                claimed: Amount::from_base(103_000),
            },
        ),
    ];
    for (lane, expected) in cases {
        let err = chain.call(CAROL, claim(id, vec![lane])).unwrap_err();
        assert_eq!(err, expected);
        // A failed claim changes nothing but the provider's fee and nonce.
        let record = channels::channel(&chain.view(), &id).unwrap().unwrap();
        assert_eq!(record.claimed, Amount::from_base(3_000));
        assert_eq!(
            channels::lanes(&chain.view(), &id).unwrap(),
            vec![(0, Amount::from_base(3_000))]
        );
    }
    // Only the provider claims.
    let good = voucher(&chain, ALICE, id, 1, 3_000);
    assert_eq!(
        chain.call(STRANGER, claim(id, vec![good.clone()])),
        Err(StateError::NotChannelProvider {
            provider: chain.addr(CAROL)
        })
    );
    // Lanes listed twice or out of order never reach a block.
    let twice = chain.sign(CAROL, claim(id, vec![good.clone(), good.clone()]));
    assert!(matches!(
        admission(&chain, &twice),
        Err(StateError::BadClaimLanes { .. })
    ));
}

#[test]
fn a_claim_before_the_deadline_beats_the_refund() {
    let (mut chain, model) = market_chain();
    let id = open(&mut chain, model, 100_000, 10);
    let record = channels::channel(&chain.view(), &id).unwrap().unwrap();
    let deadline = record.claim_deadline(&support::params()).expect("deadline");
    // After expiry the payer can no longer fund it.
    chain.advance_to(record.expires_at);
    assert_eq!(
        chain.call(
            ALICE,
            Call::TopUpChannel {
                channel: id,
                amount: Amount::from_base(1)
            }
        ),
        Err(StateError::ChannelExpired {
            expired_at: record.expires_at
        })
    );
    chain.advance_to(deadline - 1);
    // At the deadline, in one block: the refund is too early, the claim lands.
    let lane = voucher(&chain, ALICE, id, 5, 4_500);
    let receipts = chain.block(vec![
        (ALICE, Call::RefundChannel { channel: id }),
        (CAROL, claim(id, vec![lane])),
    ]);
    assert_eq!(chain.height, deadline);
    assert!(matches!(
        &receipts[0].status,
        tessera_types::TxStatus::Failed(f)
            if StateError::from_failure(f) == StateError::RefundTooEarly { opens_at: deadline + 1 }
    ));
    assert_eq!(receipts[1].status, tessera_types::TxStatus::Success);
    // One block later a claim is too late and the refund returns the rest.
    let late = voucher(&chain, ALICE, id, 6, 1_500);
    assert_eq!(
        chain.call(CAROL, claim(id, vec![late])),
        Err(StateError::ClaimWindowClosed {
            closed_at: deadline
        })
    );
    let events = chain
        .call(ALICE, Call::RefundChannel { channel: id })
        .unwrap();
    assert!(market(&events).contains(&MarketEvent::ChannelRefunded {
        channel: id,
        payer: chain.addr(ALICE),
        amount: Amount::from_base(100_000 - 4_500),
    }));
    assert_eq!(
        chain.call(ALICE, Call::RefundChannel { channel: id }),
        Err(StateError::ChannelClosed)
    );
}

#[test]
fn provider_registration_rules() {
    let mut chain = Chain::new(8);
    let model = chain.register_model(CREATOR, per_token(1_000), &[]);
    let cases = [
        (
            register(model, per_token(1_500), 99),
            StateError::ProviderStakeTooLow {
                offered: Amount::from_base(99 * TSR),
                required: Amount::from_base(100 * TSR),
            },
        ),
        (
            register(model, per_token(999), 100),
            StateError::PriceBelowModel {
                model,
                per_call: Amount::ZERO,
                per_token: Amount::from_base(1_000),
            },
        ),
        (
            register(
                model,
                Price {
                    per_call: Amount::from_base(1),
                    per_token: Amount::from_base(1_000),
                },
                100,
            ),
            StateError::PriceNotProportional { model },
        ),
        (
            register(ModelId(99), per_token(1_000), 100),
            StateError::UnknownModel { model: ModelId(99) },
        ),
    ];
    for (call, expected) in cases {
        assert_eq!(chain.call(DAVE, call), Err(expected));
    }
    chain
        .call(DAVE, register(model, per_token(1_000), 100))
        .unwrap();
    assert_eq!(
        chain.call(DAVE, register(model, per_token(1_000), 100)),
        Err(StateError::ProviderExists {
            provider: chain.addr(DAVE),
            model
        })
    );
    let dave = chain.addr(DAVE);
    let stake = staking::stake(&chain.view(), &dave).unwrap();
    assert_eq!(stake.locked, Amount::from_base(100 * TSR));
    // Locked stake cannot be unbonded by hand.
    assert!(matches!(
        chain.call(
            DAVE,
            Call::Unbond {
                amount: Amount::from_base(TSR)
            }
        ),
        Err(StateError::InsufficientStake { .. })
    ));
    assert_eq!(
        providers::models_of(&chain.view(), &dave).unwrap(),
        vec![model]
    );
    assert_eq!(MAX_MODELS_PER_PROVIDER, 16);
}

#[test]
fn a_leaving_provider_keeps_its_stake_at_risk_until_the_last_claim_window_closes() {
    let (mut chain, model) = market_chain();
    let id = open(&mut chain, model, 100_000, 200);
    let record = channels::channel(&chain.view(), &id).unwrap().unwrap();
    let claims_until = record.claim_deadline(&support::params()).unwrap();
    let events = chain.call(CAROL, Call::LeaveProvider { model }).unwrap();
    let carol = chain.addr(CAROL);
    // Unbonding (20 blocks) ends long before the channel's window: the later one wins.
    assert!(market(&events).contains(&MarketEvent::ProviderLeft {
        provider: carol,
        model,
        stake: Amount::from_base(500 * TSR),
        release_height: claims_until,
    }));
    let stake = staking::stake(&chain.view(), &carol).unwrap();
    assert_eq!(stake.locked, Amount::ZERO);
    assert_eq!(stake.unbonding[0].release_height, claims_until);
    // No new channel, no extension; claims on the open channel still land.
    let provider = carol;
    assert_eq!(
        chain.call(
            ALICE,
            Call::OpenChannel {
                provider,
                model,
                deposit: Amount::from_base(1),
                expiry_blocks: 10
            }
        ),
        Err(StateError::UnknownProvider {
            provider: carol,
            model
        })
    );
    assert_eq!(
        chain.call(
            ALICE,
            Call::ExtendChannel {
                channel: id,
                blocks: 10
            }
        ),
        Err(StateError::UnknownProvider {
            provider: carol,
            model
        })
    );
    chain
        .call(CAROL, claim(id, vec![voucher(&chain, ALICE, id, 0, 1_500)]))
        .unwrap();
}

#[test]
fn a_provider_claims_what_it_charged_not_the_whole_reservation() {
    let (mut chain, model) = market_chain();
    let id = open(&mut chain, model, 100_000, 50);
    // The call reserved 10 tokens (15,000) and delivered 4 (6,000).
    let reserved = Voucher::sign(
        &chain.keys[ALICE],
        &support::chain_id(),
        id,
        0,
        Amount::from_base(15_000),
    );
    let charged = LaneClaim::partial(&reserved, Amount::from_base(6_000));
    let events = chain.call(CAROL, claim(id, vec![charged])).unwrap();
    assert!(market(&events).contains(&MarketEvent::ChannelClaimed {
        channel: id,
        provider: chain.addr(CAROL),
        amount: Amount::from_base(6_000),
        claimed: Amount::from_base(6_000),
    }));
    // The next call's voucher covers the charged total plus its own reservation.
    let next = voucher(&chain, ALICE, id, 0, 6_000 + 15_000);
    let next = LaneClaim {
        claimed: Amount::from_base(6_000 + 3_000),
        ..next
    };
    chain.call(CAROL, claim(id, vec![next])).unwrap();
    assert_eq!(
        channels::lanes(&chain.view(), &id).unwrap(),
        vec![(0, Amount::from_base(9_000))]
    );
    // Claiming beyond what the voucher signs never reaches a block.
    let over = LaneClaim::partial(&reserved, Amount::from_base(15_001));
    let tx = chain.sign(CAROL, claim(id, vec![over]));
    assert!(matches!(
        admission(&chain, &tx),
        Err(StateError::BadClaimLanes { .. })
    ));
}
