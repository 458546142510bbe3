//! Yuma worked by hand on a small subnet, and every malformed input refused.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use tessera_state::subnets::{
    fixed::Frac,
    yuma::{epoch, EpochInput, Neuron, YumaError, YumaParams},
};

fn frac(text: &str) -> Frac {
    text.parse().unwrap()
}

fn validator(stake: u128, weights: Vec<(u16, u16)>) -> Neuron {
    Neuron {
        stake,
        last_update: Some(100),
        weights,
        ..Neuron::default()
    }
}

fn miner() -> Neuron {
    Neuron {
        last_update: Some(100),
        registered_at: 10,
        ..Neuron::default()
    }
}

/// Two validators (stake 60 and 40) and two miners. V0 weights both miners equally, V1
/// only miner 2. Consensus at κ = ½: miner 2 gets ½ (V0's 0.5 is backed by 100%, V1's 1.0
/// only by 40%), miner 3 gets ½ (V0 alone holds 60%). Clipped ranks: R2 = 0.6·½ + 0.4·½
/// = ½, R3 = 0.6·½ = 0.3, so I = (0.625, 0.375). First bonds: a = 0.1 of the clipped
/// weights; column-normalized, t0 = ½·0.625 + 1·0.375 = 0.6875, t1 = ½·0.625 = 0.3125;
/// times stake: 0.4125 and 0.125, so D = (33/43, 10/43).
#[test]
fn a_small_subnet_by_hand() {
    let input = EpochInput {
        block: 120,
        last_epoch_block: 0,
        emission: 1_000_000,
        params: YumaParams::default(),
        neurons: vec![
            validator(60, vec![(2, 7), (3, 7)]),
            validator(40, vec![(2, 65_535)]),
            miner(),
            miner(),
        ],
    };
    let out = epoch(&input).unwrap();
    let n = &out.neurons;
    assert!(n[0].permit && n[1].permit && !n[2].permit && !n[3].permit);
    assert_eq!(n[2].consensus, frac("0.5"));
    assert_eq!(n[3].consensus, frac("0.5"));
    assert_eq!(n[0].validator_trust, Frac::ONE);
    assert_eq!(n[1].validator_trust, frac("0.5"));
    assert_eq!(n[1].clipped_weights, vec![(2, frac("0.5"))]);
    let close = |a: Frac, b: &str| {
        let (a, b) = (a.0.to_bits(), frac(b).0.to_bits());
        assert!(a.abs_diff(b) < 1 << 20, "{a} vs {b}");
    };
    close(n[2].incentive, "0.625");
    close(n[3].incentive, "0.375");
    close(n[0].bonds[0].1, "0.05");
    assert_eq!(n[0].bonds.len(), 2);
    assert_eq!(n[1].bonds.len(), 1);
    close(n[0].dividends, "0.76744186046511627906");
    close(n[1].dividends, "0.23255813953488372093");
    // 18% to the owner; 410,000 to miners by incentive, 410,000 to validators by dividends.
    let near = |got: u128, want: u128| assert!(got.abs_diff(want) <= 1, "{got} vs {want}");
    near(n[2].miner_emission, 256_250);
    near(n[3].miner_emission, 153_750);
    near(n[0].validator_emission, 314_651);
    near(n[1].validator_emission, 95_348);
    near(out.owner_emission, 180_001);
    let total: u128 = n
        .iter()
        .map(|x| x.miner_emission + x.validator_emission)
        .sum::<u128>()
        + out.owner_emission;
    assert_eq!(total, 1_000_000);
}

/// A bond whose weight is gone decays by (1 − a) instead of vanishing; a miner that
/// re-registered since the last epoch starts with no bonds; a validator that set its
/// weights before a miner registered has them dropped.
#[test]
fn bonds_decay_and_fresh_miners_start_clean() {
    let mut v = validator(100, vec![(1, 1)]);
    v.bonds = vec![(1, frac("0.5")), (2, frac("0.5")), (3, frac("0.5"))];
    let mut fresh = miner();
    fresh.registered_at = 110;
    let mut late = miner();
    late.registered_at = 100; // the validator last updated at 100: its weight is outdated
    let input = EpochInput {
        block: 120,
        last_epoch_block: 105,
        emission: 0,
        params: YumaParams::default(),
        neurons: vec![v, miner(), fresh, late],
    };
    let out = epoch(&input).unwrap();
    let bonds = &out.neurons[0].bonds;
    // Miner 1: 0.9·0.5 + 0.1·1. Miner 2: re-registered, dropped. Miner 3: decays to 0.45.
    assert_eq!(bonds.len(), 2);
    assert_eq!(bonds[0].0, 1);
    assert_eq!(bonds[1], (3, frac("0.9").checked_mul(frac("0.5")).unwrap()));
    assert!(bonds[0].1 > frac("0.549") && bonds[0].1 < frac("0.551"));
}

#[test]
fn malformed_inputs_are_refused() {
    let base = || EpochInput {
        block: 1,
        emission: 10,
        neurons: vec![validator(1, vec![]), miner()],
        ..EpochInput::default()
    };
    let mut i = base();
    i.neurons[0].weights = vec![(5, 1)];
    assert!(matches!(
        epoch(&i),
        Err(YumaError::NoSuchUid { target: 5, .. })
    ));
    let mut i = base();
    i.neurons[0].weights = vec![(1, 1), (1, 2)];
    assert!(matches!(epoch(&i), Err(YumaError::Duplicate { .. })));
    let mut i = base();
    i.neurons[0].bonds = vec![(1, frac("1.5"))];
    assert!(matches!(epoch(&i), Err(YumaError::BondAboveOne { .. })));
    let mut i = base();
    i.params.kappa_bps = 10_001;
    assert!(matches!(epoch(&i), Err(YumaError::BadParam("kappa_bps"))));
    let mut i = base();
    i.params.bonds_moving_average_ppm = 1_000_001;
    assert!(matches!(epoch(&i), Err(YumaError::BadParam(_))));
    let mut i = base();
    i.neurons = vec![Neuron::default(); 16_385];
    assert!(matches!(epoch(&i), Err(YumaError::TooManyUids(16_385))));
    let mut i = base();
    i.neurons = vec![validator(u128::MAX, vec![]), validator(u128::MAX, vec![])];
    assert!(matches!(epoch(&i), Err(YumaError::Overflow(_))));
}

/// With nobody to pay (no stake, no weights), everything goes to the owner.
#[test]
fn an_empty_subnet_pays_the_owner() {
    let input = EpochInput {
        block: 5,
        emission: 777,
        neurons: vec![miner(), miner()],
        ..EpochInput::default()
    };
    let out = epoch(&input).unwrap();
    assert_eq!(out.owner_emission, 777);
}

/// Why weights are committed before they are revealed: a validator that copies the
/// weights others revealed one tempo earlier (all it can see under commit-reveal) earns
/// less than the validator it copies, at equal stake. The best miner changes every
/// epoch; honest validators weight it now, the copier a tempo late, so its weights are
/// clipped by consensus and its bonds sit on yesterday's miner.
#[test]
fn a_copier_of_revealed_weights_earns_less_than_the_validator_it_copies() {
    const MINERS: u16 = 4;
    let truth = |epoch: u16| -> Vec<(u16, u16)> {
        (0..MINERS)
            .map(|m| (3 + m, if m == epoch % MINERS { 60_000 } else { 2_000 }))
            .collect()
    };
    let mut bonds: Vec<Vec<(u16, Frac)>> = vec![Vec::new(); 3];
    let mut revealed = truth(0);
    let (mut honest, mut copier) = (0u128, 0u128);
    for e in 0..40u16 {
        let now = truth(e);
        let block = 1_000 + u64::from(e) * 360;
        let weights = [now.clone(), now.clone(), revealed.clone()];
        let mut neurons: Vec<Neuron> = (0..3)
            .map(|v| Neuron {
                stake: if v == 0 { 50 } else { 25 },
                last_update: Some(block),
                weights: weights[v].clone(),
                bonds: bonds[v].clone(),
                ..Neuron::default()
            })
            .collect();
        neurons.extend((0..MINERS).map(|_| miner()));
        let out = epoch(&EpochInput {
            block,
            last_epoch_block: block - 360,
            emission: 1_000_000_000,
            params: YumaParams::default(),
            neurons,
        })
        .unwrap();
        bonds = (0..3).map(|v| out.neurons[v].bonds.clone()).collect();
        if e >= 10 {
            honest += out.neurons[1].validator_emission;
            copier += out.neurons[2].validator_emission;
        }
        revealed = now;
    }
    // V1 (honest) and V2 (copier) have equal stake.
    assert!(
        copier * 10 < honest * 9,
        "copier {copier} vs the validator it copies {honest}"
    );
}
