//! Property tests of the invariants written at the top of `subnets/yuma.rs`: random
//! subnets (stakes from nothing to near the u128 limit, sparse weights and bonds, any
//! hyperparameters, stale and fresh registrations, out-of-range targets) through one
//! epoch each.
//!
//! Seeded: set `PROPTEST_RNG_SEED` to replay a run.
#![cfg(test)]
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

mod seeded;

use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use tessera_state::subnets::{
    fixed::Frac,
    yuma::{epoch, EpochInput, EpochOutput, Neuron, YumaError, YumaParams},
};

const DEFAULT_SEED: u64 = 0x7e55_e7a0_0016;
/// Units in the last place a normalized vector may fall short of 1, per entry.
const ULP_PER_ENTRY: u128 = 8;

fn config() -> ProptestConfig {
    seeded::config(512, DEFAULT_SEED)
}

fn stake() -> impl Strategy<Value = u128> {
    prop_oneof![
        Just(0u128),
        1u128..1_000,
        1u128..1_000_000_000_000_000_000,
        (u128::MAX / 64)..(u128::MAX / 32),
    ]
}

fn frac_at_most_one() -> impl Strategy<Value = Frac> {
    (0u64..=1_000_000).prop_map(|ppm| Frac::of_parts(ppm, 1_000_000).unwrap())
}

fn neuron(n: u16) -> impl Strategy<Value = Neuron> {
    (
        stake(),
        prop::option::of(0u64..200),
        0u64..200,
        prop::option::of(any::<bool>()),
        prop::collection::btree_map(0..n, 0u16..=u16::MAX, 0..(usize::from(n) + 1)),
        prop::collection::btree_map(0..n, frac_at_most_one(), 0..(usize::from(n) + 1)),
    )
        .prop_map(
            |(stake, last_update, registered_at, permit, weights, bonds)| Neuron {
                stake,
                last_update,
                registered_at,
                permit,
                weights: weights.into_iter().collect(),
                bonds: bonds.into_iter().collect(),
            },
        )
}

fn params() -> impl Strategy<Value = YumaParams> {
    (
        0u16..=10_000,
        0u32..=1_000_000,
        0u16..=10_000,
        0u16..12,
        0u64..300,
        0u16..=10_000,
    )
        .prop_map(
            |(kappa, bma, penalty, max_validators, cutoff, cut)| YumaParams {
                kappa_bps: kappa,
                bonds_moving_average_ppm: bma,
                bonds_penalty_bps: penalty,
                max_validators,
                activity_cutoff_blocks: cutoff,
                owner_cut_bps: cut,
            },
        )
}

fn input() -> impl Strategy<Value = EpochInput> {
    (1u16..12)
        .prop_flat_map(|n| {
            (
                prop::collection::vec(neuron(n), usize::from(n)),
                params(),
                0u64..300,
                0u64..300,
                prop_oneof![Just(0u128), 0u128..1_000_000_000_000, Just(u128::MAX / 2)],
            )
        })
        .prop_map(
            |(neurons, params, block, last_epoch_block, emission)| EpochInput {
                block,
                last_epoch_block,
                emission,
                params,
                neurons,
            },
        )
}

fn sum(v: impl Iterator<Item = Frac>) -> u128 {
    v.map(|f| f.0.to_bits()).sum()
}

/// A normalized vector sums to 1 (short by a few ulps per entry) or is all zero.
fn normalized(name: &str, v: Vec<Frac>) -> Result<(), TestCaseError> {
    let total = sum(v.iter().copied());
    let one = Frac::ONE.0.to_bits();
    prop_assert!(
        total == 0 || (total <= one && one - total <= ULP_PER_ENTRY * v.len() as u128),
        "{name} sums to {total} of {one}"
    );
    Ok(())
}

fn check(input: &EpochInput, out: &EpochOutput) -> Result<(), TestCaseError> {
    let n = input.neurons.len();
    prop_assert_eq!(out.neurons.len(), n);

    // Emission is conserved exactly.
    let paid: u128 = out
        .neurons
        .iter()
        .map(|x| x.miner_emission + x.validator_emission)
        .sum();
    prop_assert_eq!(paid.checked_add(out.owner_emission), Some(input.emission));

    normalized(
        "incentive",
        out.neurons.iter().map(|x| x.incentive).collect(),
    )?;
    normalized(
        "dividends",
        out.neurons.iter().map(|x| x.dividends).collect(),
    )?;
    normalized(
        "active stake",
        out.neurons.iter().map(|x| x.active_stake).collect(),
    )?;

    let keep = Frac::of_parts(u64::from(input.params.bonds_moving_average_ppm), 1_000_000).unwrap();
    for (i, x) in out.neurons.iter().enumerate() {
        // Clipped ≤ weights, only where weights are; consensus ≤ the column's max weight.
        let weights: BTreeMap<u16, Frac> = x.weights.iter().copied().collect();
        for (j, c) in &x.clipped_weights {
            prop_assert!(weights.get(j).is_some_and(|w| c <= w));
            prop_assert!(*c <= out.neurons[usize::from(*j)].consensus);
        }
        prop_assert!(x.validator_trust <= Frac::ONE);
        // Masked weights come only from input weights, never to itself.
        let given: BTreeSet<u16> = input.neurons[i].weights.iter().map(|(j, _)| *j).collect();
        prop_assert!(weights
            .keys()
            .all(|j| given.contains(j) && usize::from(*j) != i));

        // Bonds in [0, 1]; only where an input bond or weight was; weightless ones decay.
        let old: BTreeMap<u16, Frac> = input.neurons[i].bonds.iter().copied().collect();
        for (j, b) in &x.bonds {
            prop_assert!(*b <= Frac::ONE && !b.is_zero());
            prop_assert!(old.contains_key(j) || weights.contains_key(j));
            if !weights.contains_key(j) {
                let expected = keep.checked_mul(old[j]).unwrap();
                prop_assert_eq!(*b, expected, "bond {}→{} decays", i, j);
            }
        }
        if !x.new_permit {
            prop_assert!(x.bonds.is_empty());
        }
    }
    let max_weight: Vec<Frac> = (0..n)
        .map(|j| {
            out.neurons
                .iter()
                .flat_map(|x| x.weights.iter())
                .filter(|(t, _)| usize::from(*t) == j)
                .map(|(_, w)| *w)
                .max()
                .unwrap_or(Frac::ZERO)
        })
        .collect();
    for (j, x) in out.neurons.iter().enumerate() {
        prop_assert!(x.consensus <= max_weight[j]);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn epochs_keep_their_invariants(input in input()) {
        match epoch(&input) {
            Ok(out) => check(&input, &out)?,
            // Only stakes that overflow the total are refused here (the inputs are
            // otherwise well formed).
            Err(e) => prop_assert!(matches!(e, YumaError::Overflow(_)), "{e}"),
        }
    }

    /// Any shape of input, targets out of range included: a result or a typed error.
    #[test]
    fn malformed_input_never_panics(
        weights in prop::collection::vec((any::<u16>(), any::<u16>()), 0..8),
        bonds in prop::collection::vec((any::<u16>(), 0u64..3_000_000), 0..8),
        n in 0usize..6,
    ) {
        let neurons = (0..n)
            .map(|_| Neuron {
                stake: 5,
                weights: weights.clone(),
                bonds: bonds.iter().map(|(j, ppm)| (*j, Frac::of_parts(*ppm, 1_000_000).unwrap())).collect(),
                ..Neuron::default()
            })
            .collect();
        let input = EpochInput { block: 1, emission: 9, neurons, ..EpochInput::default() };
        if let Ok(out) = epoch(&input) {
            check(&input, &out)?;
        }
    }
}

/// A colluding minority: honest validators (more than half the stake) weight the miners
/// by their own audits; colluders (less than half) put everything on one miner `M`.
fn collusion() -> impl Strategy<Value = (Vec<u128>, Vec<u128>, Vec<Vec<u16>>, usize)> {
    let miners = 4usize;
    (
        prop::collection::vec(1_000u128..1_000_000, 1..5),
        prop::collection::vec(1_000u128..1_000_000, 1..4),
        prop::collection::vec(prop::collection::vec(0u16..1_000, miners), 5),
        0..miners,
    )
        .prop_filter("honest stake above half", |(honest, colluders, _, _)| {
            honest.iter().sum::<u128>() > colluders.iter().sum::<u128>()
        })
}

/// Validators `0..h` honest, then the colluders, then 4 miners.
fn collusion_input(
    honest: &[u128],
    colluders: &[u128],
    rows: &[Vec<u16>],
    target: usize,
) -> EpochInput {
    let v = honest.len() + colluders.len();
    let miner = |k: usize| (v + k) as u16;
    let mut neurons: Vec<Neuron> = honest
        .iter()
        .enumerate()
        .map(|(i, s)| Neuron {
            stake: *s,
            weights: rows[i]
                .iter()
                .enumerate()
                .map(|(k, w)| (miner(k), *w))
                .collect(),
            ..Neuron::default()
        })
        .collect();
    neurons.extend(colluders.iter().map(|s| Neuron {
        stake: *s,
        weights: vec![(miner(target), u16::MAX)],
        ..Neuron::default()
    }));
    neurons.extend((0..4).map(|_| Neuron::default()));
    EpochInput {
        block: 100,
        emission: 1_000_000_000,
        params: YumaParams {
            max_validators: v as u16,
            ..YumaParams::default()
        },
        neurons,
        ..EpochInput::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Clipping: the colluders' weight on `M` counts only up to the consensus, which the
    /// honest majority sets (never above the largest honest weight on `M`); a miner the
    /// honest majority gives nothing earns nothing whatever the minority does.
    #[test]
    fn a_colluding_minority_cannot_lift_a_miner_past_the_honest_majority(
        (honest, colluders, rows, target) in collusion()
    ) {
        let input = collusion_input(&honest, &colluders, &rows, target);
        let out = epoch(&input).unwrap();
        let v = honest.len() + colluders.len();
        let m = v + target;
        let honest_max = (0..honest.len())
            .map(|i| {
                out.neurons[i]
                    .weights
                    .iter()
                    .find(|(j, _)| usize::from(*j) == m)
                    .map_or(Frac::ZERO, |(_, w)| *w)
            })
            .max()
            .unwrap();
        prop_assert!(out.neurons[m].consensus <= honest_max);
        for c in honest.len()..v {
            for (j, w) in &out.neurons[c].clipped_weights {
                prop_assert!(*w <= out.neurons[usize::from(*j)].consensus);
            }
        }
        // The same colluders against a miner no honest validator weights.
        let mut zeroed = rows.clone();
        for row in &mut zeroed {
            row[target] = 0;
        }
        let out = epoch(&collusion_input(&honest, &colluders, &zeroed, target)).unwrap();
        prop_assert_eq!(out.neurons[m].incentive, Frac::ZERO);
        prop_assert_eq!(out.neurons[m].miner_emission, 0);
    }
}
