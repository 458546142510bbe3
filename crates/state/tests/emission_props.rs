//! The emission rule across subnets (`subnets/emission.rs`, decision 0019): its
//! invariants on random subnets, and the two attacks every earlier rule of this kind
//! lost to, simulated: stake that pumps a subnet and exits, and revenue washed through
//! one's own provider.
//!
//! Seeded: set `PROPTEST_RNG_SEED` to replay a run.
#![cfg(test)]
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

mod seeded;

use proptest::prelude::*;
use tessera_state::subnets::emission::{
    divide, matured_stake, EmissionError, EmissionParams, Position, SubnetFlow,
};

const DEFAULT_SEED: u64 = 0x7e55_e7a0_0019;

fn config() -> ProptestConfig {
    seeded::config(512, DEFAULT_SEED)
}

fn flow() -> impl Strategy<Value = SubnetFlow> {
    let amount = prop_oneof![Just(0u128), 1u128..1_000, 1u128..1_000_000_000_000_000_000];
    (amount.clone(), amount).prop_map(|(matured_stake, take)| SubnetFlow {
        matured_stake,
        take,
    })
}

fn params() -> impl Strategy<Value = EmissionParams> {
    (0u16..=10_000, 0u16..10_000).prop_map(|(w, r)| EmissionParams {
        maturity_blocks: 100,
        revenue_weight_bps: w,
        take_return_bps: r,
    })
}

proptest! {
    #![proptest_config(config())]

    /// Shares and what is left sum to E; an empty subnet gets nothing.
    #[test]
    fn emission_is_conserved(
        emission in prop_oneof![Just(0u128), 0u128..1_000_000_000_000, Just(u128::MAX / 4)],
        subnets in prop::collection::vec(flow(), 0..8),
        params in params(),
    ) {
        let d = divide(emission, &subnets, &params).unwrap();
        let total: u128 = d.shares.iter().sum();
        prop_assert_eq!(total + d.unassigned, emission);
        for (s, share) in subnets.iter().zip(&d.shares) {
            if s.matured_stake == 0 && s.take == 0 {
                prop_assert_eq!(*share, 0);
            }
        }
        // Rounding leaves at most a few base units per subnet, unless nobody can take
        // the stake pool.
        let anyone = subnets.iter().any(|s| s.matured_stake > 0);
        if anyone && emission < 1 << 62 {
            prop_assert!(d.unassigned <= 3 * subnets.len() as u128 + 1, "{}", d.unassigned);
        }
    }

    /// Washing `x` of fake take through a subnet gains it at most ρ·x of emission (plus
    /// rounding), whatever the honest take around it: faking revenue never pays.
    #[test]
    fn washed_revenue_returns_less_than_it_costs(
        emission in 1u128..1_000_000_000_000,
        subnets in prop::collection::vec(flow(), 1..6),
        x in 1u128..1_000_000_000_000,
        params in params(),
    ) {
        let before = divide(emission, &subnets, &params).unwrap().shares[0];
        let mut washed = subnets.clone();
        washed[0].take += x;
        let after = divide(emission, &washed, &params).unwrap().shares[0];
        let rho_x = x * u128::from(params.take_return_bps) / 10_000;
        prop_assert!(after <= before + rho_x + 4, "gain {} for x {} (ρx {})", after.saturating_sub(before), x, rho_x);
        prop_assert!(after.saturating_sub(before) < x);
    }
}

#[test]
fn returning_the_whole_take_is_refused() {
    let p = EmissionParams {
        take_return_bps: 10_000,
        ..EmissionParams::default()
    };
    assert_eq!(divide(1, &[], &p), Err(EmissionError::FullReturn));
}

/// Pump and exit: an attacker who owns subnet B stakes K into it, then unbonds. Stake
/// counts only once matured and stops when it unbonds, and stays locked for the
/// unbonding period: whatever the window, the extra emission B gets per unit of capital
/// locked per block is below what the same capital earns staying, and a pump shorter than
/// the maturity earns exactly nothing.
#[test]
fn pump_and_exit_earns_less_than_staying() {
    const E: u128 = 1_000_000_000;
    const K: u128 = 1_000;
    const UNBONDING: u64 = 200;
    let params = EmissionParams {
        maturity_blocks: 100,
        ..EmissionParams::default()
    };
    let honest = [
        Position {
            amount: 1_000,
            bonded_at: 0,
            unbonding_from: None,
        },
        Position {
            amount: 1_000,
            bonded_at: 0,
            unbonding_from: None,
        },
    ];
    // B's emission from `start` to `end` with the attacker's position (if any) in it.
    let run = |attacker: Option<Position>, start: u64, end: u64| -> u128 {
        (start..end)
            .map(|now| {
                let a = matured_stake(&honest[..1], now, params.maturity_blocks).unwrap();
                let mut b_positions = vec![honest[1]];
                b_positions.extend(attacker);
                let b = matured_stake(&b_positions, now, params.maturity_blocks).unwrap();
                let flows = [
                    SubnetFlow {
                        matured_stake: a,
                        take: 0,
                    },
                    SubnetFlow {
                        matured_stake: b,
                        take: 0,
                    },
                ];
                divide(E, &flows, &params).unwrap().shares[1]
            })
            .sum()
    };
    let horizon = 3_000;
    let base = run(None, 1_000, 1_000 + horizon);
    // Staying: bonded at 1,000 and never leaving; capital locked for the whole horizon.
    let stay = Position {
        amount: K,
        bonded_at: 1_000,
        unbonding_from: None,
    };
    let stay_gain = run(Some(stay), 1_000, 1_000 + horizon) - base;
    let stay_rate = stay_gain / (u128::from(horizon) * K);
    for window in [10u64, 99, 100, 150, 400, 1_500] {
        let pump = Position {
            amount: K,
            bonded_at: 1_000,
            unbonding_from: Some(1_000 + window),
        };
        let gain = run(Some(pump), 1_000, 1_000 + horizon) - base;
        let locked = u128::from(window + UNBONDING) * K;
        if window <= params.maturity_blocks {
            assert_eq!(gain, 0, "a pump of {window} blocks earned {gain}");
        }
        assert!(
            gain / locked < stay_rate,
            "window {window}: {} per capital-block vs {stay_rate} staying",
            gain / locked
        );
    }
}
