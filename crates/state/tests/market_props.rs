//! Property tests of the invariants written at the top of `providers/mod.rs`,
//! `channels/mod.rs` and `channels/split.rs`: random sequences of channel openings,
//! calls served on lanes (vouchers signed off chain), batched claims, top-ups,
//! extensions, refunds, providers leaving and time passing, all as signed transactions.
//! The test keeps its own account of what each channel owes and checks the chain
//! against it after every block.
//!
//! Seeded: set `PROPTEST_RNG_SEED` to replay a run.
#![cfg(test)]

mod seeded;
mod support;

use proptest::prelude::*;
use support::{market, Chain};
use tessera_state::{bank, channels, providers, staking, StateError};
use tessera_types::{
    channel::{channel_id, LaneClaim, MarketEvent, Price},
    tx::{Bps, DataLink, ModelId, RevenueSplit},
    voucher::Voucher,
    Address, Amount, Call, Hash,
};

const CREATOR: usize = 0;
const PROVIDERS: [usize; 2] = [1, 2];
const PAYERS: [usize; 2] = [3, 4];
const DATA: [usize; 2] = [5, 6];
const LANES: u32 = 4;
const DEFAULT_SEED: u64 = 0x7e55_e7a0_0017;

#[derive(Clone, Debug)]
enum Op {
    Open {
        payer: usize,
        provider: usize,
        deposit: u128,
        expiry: u64,
    },
    /// A call served on a lane: the payer signs the lane's new cumulative amount.
    Serve {
        channel: usize,
        lane: u32,
        calls: u64,
        tokens: u64,
    },
    /// The provider claims the newest vouchers of the lanes in `mask`.
    Claim {
        channel: usize,
        mask: u8,
    },
    TopUp {
        channel: usize,
        amount: u128,
    },
    Extend {
        channel: usize,
        blocks: u64,
    },
    Refund {
        channel: usize,
    },
    Leave {
        provider: usize,
    },
    Advance {
        blocks: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..2usize, 0..2usize, 1u128..200_000, 1u64..40).prop_map(|(payer, provider, deposit, expiry)| Op::Open { payer, provider, deposit, expiry }),
        5 => (0..8usize, 0..LANES, 0u64..3, 0u64..50).prop_map(|(channel, lane, calls, tokens)| Op::Serve { channel, lane, calls, tokens }),
        3 => (0..8usize, 1u8..16).prop_map(|(channel, mask)| Op::Claim { channel, mask }),
        1 => (0..8usize, 1u128..50_000).prop_map(|(channel, amount)| Op::TopUp { channel, amount }),
        1 => (0..8usize, 1u64..30).prop_map(|(channel, blocks)| Op::Extend { channel, blocks }),
        1 => (0..8usize).prop_map(|channel| Op::Refund { channel }),
        1 => (0..2usize).prop_map(|provider| Op::Leave { provider }),
        2 => (1u64..15).prop_map(|blocks| Op::Advance { blocks }),
    ]
}

/// (model price, provider price): proportional by construction, the provider's at or
/// above the model's.
fn prices() -> impl Strategy<Value = (Price, Price)> {
    let per_token_only = (1u128..5_000, 0u128..5_000).prop_map(|(m, premium)| {
        let model = Price {
            per_call: Amount::ZERO,
            per_token: Amount::from_base(m),
        };
        let asked = Price {
            per_call: Amount::ZERO,
            per_token: Amount::from_base(m + premium),
        };
        (model, asked)
    });
    let both = (0u128..5_000, 1u128..5_000, 1u128..4).prop_map(|(c, t, k)| {
        let model = Price {
            per_call: Amount::from_base(c),
            per_token: Amount::from_base(t),
        };
        let asked = Price {
            per_call: Amount::from_base(c * k),
            per_token: Amount::from_base(t * k),
        };
        (model, asked)
    });
    prop_oneof![per_token_only, both]
}

/// The test's own account of one channel.
#[derive(Clone, Debug, Default)]
struct Expect {
    id: Hash,
    payer: usize,
    provider: usize,
    deposit: u128,
    claimed: u128,
    expires_at: u64,
    closed: bool,
    /// Per lane: newest signed cumulative amount, claimed amount, and the units
    /// (calls, tokens) served since the last claim.
    signed: [u128; LANES as usize],
    on_chain: [u128; LANES as usize],
    unclaimed_units: [(u64, u64); LANES as usize],
}

struct World {
    chain: Chain,
    model: ModelId,
    model_price: Price,
    asked: Price,
    channels: Vec<Expect>,
    registered: [bool; 2],
}

fn check_invariants(w: &World) -> Result<(), TestCaseError> {
    let view = w.chain.view();
    // Supply: nothing minted or lost but emission and burned fees.
    let supply = bank::supply(&view).unwrap().total().unwrap();
    prop_assert_eq!(supply.base(), support::ledger_holdings(&w.chain.state));
    let mut owed = 0u128;
    for ch in &w.channels {
        let record = channels::channel(&view, &ch.id).unwrap().unwrap();
        prop_assert!(record.claimed <= record.deposit);
        prop_assert_eq!(record.claimed.base(), ch.claimed);
        prop_assert_eq!(record.deposit.base(), ch.deposit);
        prop_assert_eq!(record.closed, ch.closed);
        if !ch.closed {
            owed += ch.deposit - ch.claimed;
            let lanes = channels::lanes(&view, &ch.id).unwrap();
            let sum: u128 = lanes.iter().map(|(_, a)| a.base()).sum();
            prop_assert_eq!(sum, ch.claimed);
            for (lane, amount) in lanes {
                prop_assert_eq!(amount.base(), ch.on_chain[lane as usize]);
            }
        }
    }
    prop_assert_eq!(w.chain.balance(&channels::escrow()), owed);
    // Each provider's locked stake covers its registration.
    for (i, who) in PROVIDERS.iter().enumerate() {
        let addr = w.chain.addr(*who);
        let stake = staking::stake(&view, &addr).unwrap();
        let reg = providers::provider(&view, w.model, &addr).unwrap();
        prop_assert_eq!(reg.is_some(), w.registered[i]);
        let registered = reg.map_or(Amount::ZERO, |r| r.stake);
        prop_assert_eq!(stake.locked, registered);
    }
    Ok(())
}

/// What the split must give for a claim of `units` at these prices (computed here,
/// from the units, not from the amount).
fn expected_owners(units: (u64, u64), model: &Price) -> u128 {
    let model_part =
        u128::from(units.0) * model.per_call.base() + u128::from(units.1) * model.per_token.base();
    model_part * 3_000 / 10_000
}

fn step(w: &mut World, op: Op) -> Result<(), TestCaseError> {
    let params = support::params();
    let height = w.chain.height + 1; // the height the next block runs at
    match op {
        Op::Open {
            payer,
            provider,
            deposit,
            expiry,
        } => {
            let (payer, provider_i) = (PAYERS[payer], provider);
            let id = channel_id(&w.chain.addr(payer), w.chain.nonces[payer]);
            let call = Call::OpenChannel {
                provider: w.chain.addr(PROVIDERS[provider_i]),
                model: w.model,
                deposit: Amount::from_base(deposit),
                expiry_blocks: expiry,
            };
            let result = w.chain.call(payer, call);
            if w.registered[provider_i] {
                prop_assert!(result.is_ok(), "{:?}", result);
                w.channels.push(Expect {
                    id,
                    payer,
                    provider: PROVIDERS[provider_i],
                    deposit,
                    expires_at: height + expiry,
                    ..Expect::default()
                });
            } else {
                let is_unknown = matches!(result, Err(StateError::UnknownProvider { .. }));
                prop_assert!(is_unknown, "{:?}", result);
            }
        }
        Op::Serve {
            channel,
            lane,
            calls,
            tokens,
        } => {
            let asked = w.asked;
            let Some(ch) = w.channels.get_mut(channel) else {
                return Ok(());
            };
            let cost = u128::from(calls) * asked.per_call.base()
                + u128::from(tokens) * asked.per_token.base();
            ch.signed[lane as usize] += cost;
            let units = &mut ch.unclaimed_units[lane as usize];
            *units = (units.0 + calls, units.1 + tokens);
        }
        Op::Claim { channel, mask } => {
            let Some(ch) = w.channels.get(channel).cloned() else {
                return Ok(());
            };
            let lanes: Vec<u32> = (0..LANES)
                .filter(|l| {
                    mask & (1 << l) != 0 && ch.signed[*l as usize] > ch.on_chain[*l as usize]
                })
                .collect();
            if lanes.is_empty() {
                return Ok(());
            }
            let vouchers = lanes
                .iter()
                .map(|l| {
                    LaneClaim::of(&Voucher::sign(
                        &w.chain.keys[ch.payer],
                        &support::chain_id(),
                        ch.id,
                        *l,
                        Amount::from_base(ch.signed[*l as usize]),
                    ))
                })
                .collect();
            let increase: u128 = lanes
                .iter()
                .map(|l| ch.signed[*l as usize] - ch.on_chain[*l as usize])
                .sum();
            let units = lanes.iter().fold((0, 0), |acc, l| {
                let u = ch.unclaimed_units[*l as usize];
                (acc.0 + u.0, acc.1 + u.1)
            });
            let deadline = ch.expires_at + params.channel_claim_window_blocks;
            let result = w.chain.call(
                ch.provider,
                Call::ClaimChannel {
                    channel: ch.id,
                    lanes: vouchers,
                },
            );
            let expected = if ch.closed {
                Err(StateError::ChannelClosed)
            } else if height > deadline {
                Err(StateError::ClaimWindowClosed {
                    closed_at: deadline,
                })
            } else if ch.claimed + increase > ch.deposit {
                Err(StateError::ClaimOverDeposit {
                    deposit: Amount::from_base(ch.deposit),
                    claimed: Amount::from_base(ch.claimed + increase),
                })
            } else {
                Ok(())
            };
            match (result, expected) {
                (Ok(events), Ok(())) => {
                    let split = market(&events).into_iter().find_map(|e| match e {
                        MarketEvent::ClaimSplit {
                            to_provider,
                            to_owners,
                            to_data,
                            to_treasury,
                            fee,
                            ..
                        } => Some([to_provider, to_owners, to_data, to_treasury, fee]),
                        _ => None,
                    });
                    let legs = split.expect("a claim emits its split");
                    let total: u128 = legs.iter().map(|a| a.base()).sum();
                    prop_assert_eq!(total, increase, "legs sum to the claimed amount");
                    prop_assert_eq!(legs[1].base(), expected_owners(units, &w.model_price));
                    let ch = &mut w.channels[channel];
                    ch.claimed += increase;
                    for l in lanes {
                        ch.on_chain[l as usize] = ch.signed[l as usize];
                        ch.unclaimed_units[l as usize] = (0, 0);
                    }
                }
                (Err(got), Err(want)) => prop_assert_eq!(got, want),
                (got, want) => prop_assert!(false, "claim gave {:?}, expected {:?}", got, want),
            }
        }
        Op::TopUp { channel, amount } => {
            let Some(ch) = w.channels.get(channel).cloned() else {
                return Ok(());
            };
            let call = Call::TopUpChannel {
                channel: ch.id,
                amount: Amount::from_base(amount),
            };
            let result = w.chain.call(ch.payer, call);
            let ok = !ch.closed && height <= ch.expires_at;
            prop_assert_eq!(result.is_ok(), ok, "{:?}", result);
            if ok {
                w.channels[channel].deposit += amount;
            }
        }
        Op::Extend { channel, blocks } => {
            let Some(ch) = w.channels.get(channel).cloned() else {
                return Ok(());
            };
            let provider_i = PROVIDERS
                .iter()
                .position(|p| *p == ch.provider)
                .unwrap_or(0);
            let call = Call::ExtendChannel {
                channel: ch.id,
                blocks,
            };
            let result = w.chain.call(ch.payer, call);
            let ok = !ch.closed && height <= ch.expires_at && w.registered[provider_i];
            prop_assert_eq!(result.is_ok(), ok, "{:?}", result);
            if ok {
                w.channels[channel].expires_at += blocks;
            }
        }
        Op::Refund { channel } => {
            let Some(ch) = w.channels.get(channel).cloned() else {
                return Ok(());
            };
            let deadline = ch.expires_at + params.channel_claim_window_blocks;
            let payer = w.chain.addr(ch.payer);
            let result = w
                .chain
                .call(ch.payer, Call::RefundChannel { channel: ch.id });
            match result {
                Ok(events) => {
                    prop_assert!(!ch.closed && height > deadline);
                    let refunded = MarketEvent::ChannelRefunded {
                        channel: ch.id,
                        payer,
                        amount: Amount::from_base(ch.deposit - ch.claimed),
                    };
                    prop_assert!(market(&events).contains(&refunded), "{:?}", events);
                    w.channels[channel].closed = true;
                }
                Err(e) => prop_assert!(ch.closed || height <= deadline, "{:?}", e),
            }
        }
        Op::Leave { provider } => {
            let who = PROVIDERS[provider];
            let addr = w.chain.addr(who);
            let until = providers::provider(&w.chain.view(), w.model, &addr)
                .unwrap()
                .map(|r| r.claims_until);
            let result = w.chain.call(who, Call::LeaveProvider { model: w.model });
            prop_assert_eq!(result.is_ok(), w.registered[provider]);
            if let (Ok(events), Some(until)) = (result, until) {
                // The stake is released no earlier than the last claim window's end.
                let release = market(&events).into_iter().find_map(|e| match e {
                    MarketEvent::ProviderLeft { release_height, .. } => Some(release_height),
                    _ => None,
                });
                let release = release.expect("leave emits its release height");
                prop_assert!(release >= until && release >= height + params.unbonding_blocks);
                for ch in w.channels.iter().filter(|c| c.provider == who && !c.closed) {
                    prop_assert!(release >= ch.expires_at + params.channel_claim_window_blocks);
                }
                w.registered[provider] = false;
            }
        }
        Op::Advance { blocks } => w.chain.advance_to(w.chain.height + blocks),
    }
    Ok(())
}

fn run(prices: (Price, Price), ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut chain = Chain::new(7);
    let data: Vec<Address> = DATA.iter().map(|d| chain.addr(*d)).collect();
    let (model_price, asked) = prices;
    let model = chain.register_model(CREATOR, model_price, &data);
    for p in PROVIDERS {
        let call = Call::RegisterProvider {
            model,
            stake: Amount::from_base(200 * support::TSR),
            price: asked,
            endpoint: format!("http://127.0.0.1:{}", 7300 + p),
        };
        chain.call(p, call).unwrap();
    }
    let mut world = World {
        chain,
        model,
        model_price,
        asked,
        channels: Vec::new(),
        registered: [true, true],
    };
    for op in ops {
        step(&mut world, op)?;
        check_invariants(&world)?;
    }
    Ok(())
}

fn config() -> ProptestConfig {
    seeded::config(64, DEFAULT_SEED)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn channels_keep_their_invariants(prices in prices(), ops in prop::collection::vec(op(), 1..60)) {
        run(prices, ops)?;
    }

    /// The split alone, over the whole range: legs sum to the amount, the model part of
    /// an honest total is exact, data links get their weights and the remainder.
    #[test]
    fn the_split_is_exact(
        prices in prices(),
        calls in 0u64..1_000_000,
        tokens in 0u64..1_000_000_000,
        owners in 0u16..=10_000,
        data_w in 0u16..=10_000,
        fee_bps in 0u16..=10_000,
    ) {
        let (model, asked) = prices;
        let data = data_w.min(10_000 - owners);
        let treasury = (10_000 - owners - data) / 2;
        let terms = RevenueSplit {
            compute_bps: Bps::new(10_000 - owners - data - treasury),
            owners_bps: Bps::new(owners),
            data_bps: Bps::new(data),
            treasury_bps: Bps::new(treasury),
        };
        let links = [
            DataLink { provider: Address([1; 32]), weight_bps: Bps::new(3_333) },
            DataLink { provider: Address([2; 32]), weight_bps: Bps::new(6_667) },
        ];
        let amount = u128::from(calls) * asked.per_call.base() + u128::from(tokens) * asked.per_token.base();
        let s = channels::split(Amount::from_base(amount), &model, &asked, &terms, &links, fee_bps).unwrap();
        let exact = u128::from(calls) * model.per_call.base() + u128::from(tokens) * model.per_token.base();
        prop_assert_eq!(s.model_part.base(), exact);
        let legs = s.provider.base() + s.owners.base() + s.data_total.base() + s.treasury.base() + s.fee.base();
        prop_assert_eq!(legs, amount);
        let data_sum: u128 = s.data.iter().map(|(_, a)| a.base()).sum();
        prop_assert_eq!(data_sum, s.data_total.base());
        prop_assert_eq!(s.owners.base(), exact * u128::from(owners) / 10_000);
        prop_assert!(s.data[1].1.base() == s.data_total.base() * 6_667 / 10_000);
    }
}

#[test]
fn failed_market_calls_are_refused_before_execution_when_stateless() {
    let mut chain = Chain::new(7);
    let carol = chain.addr(PROVIDERS[0]);
    // Opening a channel to oneself is refused at admission.
    let tx = chain.sign(
        PROVIDERS[0],
        Call::OpenChannel {
            provider: carol,
            model: ModelId(1),
            deposit: Amount::from_base(1),
            expiry_blocks: 1,
        },
    );
    let base = chain.state.clone();
    let exec = tessera_state::Executor::new(
        &base,
        tessera_state::BlockContext {
            chain_id: support::chain_id(),
            height: 1,
            view: 1,
            proposer: carol,
        },
    )
    .unwrap();
    assert_eq!(exec.check(&tx), Err(StateError::SelfTransfer));
    let tx = chain.sign(
        PROVIDERS[0],
        Call::RegisterProvider {
            model: ModelId(1),
            stake: Amount::from_base(1),
            price: Price::default(),
            endpoint: "ftp://x".into(),
        },
    );
    assert!(matches!(
        exec.check(&tx),
        Err(StateError::InvalidEndpoint { .. })
    ));
}
