//! `staking::slashing`: double-sign evidence slashes the validator once per epoch, by at
//! most `double_sign_slash_bps` of the stake it had as a member of that epoch's set,
//! burning exactly what it takes; evidence is accepted only within its age limit and only
//! against a member of the epoch's set.
#![cfg(test)]

use proptest::prelude::*;
use tessera_state::{
    bank::{self, Supply},
    exec::check_stateless,
    kv::MemState,
    staking::{self, epochs, slashing::report_double_sign, validators},
    Overlay, Params, StateError,
};
use tessera_types::{
    evidence::{Proposal, SignedVote, VoteKind},
    Amount, Call, ChainId, DoubleSign, Keypair,
};

const CHAIN: &str = "tessera-test";

fn chain() -> ChainId {
    ChainId::new(CHAIN).unwrap()
}

/// Parameters with small epochs, and any stake enough to validate.
fn params() -> Params {
    Params {
        epoch_blocks: 100,
        unbonding_blocks: 200,
        min_self_bond: Amount::from_base(1),
        ..Params::default()
    }
}

fn vote(key: &Keypair, kind: VoteKind, view: u64, payload: u8) -> SignedVote {
    vote_in(key, kind, 0, view, payload)
}

fn vote_in(key: &Keypair, kind: VoteKind, epoch: u64, view: u64, payload: u8) -> SignedVote {
    let proposal = Proposal {
        epoch,
        view,
        parent_view: view.saturating_sub(1),
        payload: [payload; 32],
    }
    .encode();
    let suffix: &[u8] = match kind {
        VoteKind::Notarize => b"_NOTARIZE",
        VoteKind::Finalize => b"_FINALIZE",
    };
    let namespace = [CHAIN.as_bytes(), suffix].concat();
    SignedVote {
        signature: key.sign(&namespace, &proposal),
        proposal,
    }
}

fn evidence(key: &Keypair, kind: VoteKind, view: u64) -> DoubleSign {
    evidence_in(key, kind, 0, view)
}

fn evidence_in(key: &Keypair, kind: VoteKind, epoch: u64, view: u64) -> DoubleSign {
    DoubleSign {
        kind,
        validator: key.address(),
        first: vote_in(key, kind, epoch, view, 1),
        second: vote_in(key, kind, epoch, view, 2),
    }
}

/// A state where `key` is a registered validator, member of epoch 0's set with
/// `bonded + unbonding` stake, of which `unbonding` it unbonded at height 1.
fn staked(key: &Keypair, bonded: u128, unbonding: u128) -> MemState {
    let who = key.address();
    let total = bonded + unbonding;
    let mut base = MemState::new();
    let mut st = Overlay::new(&base);
    st.write(
        bank::SUPPLY_KEY.to_vec(),
        &Supply {
            genesis: Amount::from_base(total),
            ..Supply::default()
        },
    );
    bank::credit(&mut st, &who, Amount::from_base(total)).unwrap();
    if total > 0 {
        staking::bond(&mut st, &who, Amount::from_base(total)).unwrap();
    }
    validators::register(&mut st, 0, &who, "10.0.0.1:27657").unwrap();
    epochs::select(&mut st, &params(), 0, 0).unwrap();
    if unbonding > 0 {
        staking::unbond(&mut st, &params(), 1, &who, Amount::from_base(unbonding)).unwrap();
    }
    for (k, v) in st.into_writes() {
        match v {
            Some(v) => base.insert(k, v),
            None => base.remove(&k),
        };
    }
    base
}

fn stake_of(st: &Overlay<'_>, key: &Keypair) -> u128 {
    let s = staking::stake(st, &key.address()).unwrap();
    s.bonded.base() + s.unbonding_total().unwrap().base()
}

#[test]
fn double_sign_slashes_once_per_epoch() {
    let key = Keypair::from_seed(11);
    let base = staked(&key, 1_000_000, 0);
    let mut st = Overlay::new(&base);
    let params = params();
    let events =
        report_double_sign(&mut st, &params, 5, &evidence(&key, VoteKind::Notarize, 7)).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(stake_of(&st, &key), 950_000, "5% of 1,000,000");
    assert_eq!(bank::supply(&st).unwrap().burned, Amount::from_base(50_000));

    // Another round, or the other vote kind, in the same epoch: already punished.
    for again in [
        evidence(&key, VoteKind::Notarize, 7),
        evidence(&key, VoteKind::Finalize, 9),
    ] {
        assert!(matches!(
            report_double_sign(&mut st, &params, 5, &again),
            Err(StateError::AlreadySlashed { epoch: 0, .. })
        ));
    }
    assert_eq!(stake_of(&st, &key), 950_000);
}

/// Forged or foreign evidence is refused at admission (stateless), so it never reaches
/// a block; a validator outside the epoch's set cannot be slashed for it.
#[test]
fn bad_evidence_and_outsiders_are_refused() {
    let key = Keypair::from_seed(12);
    let base = staked(&key, 1_000, 0);
    let mut st = Overlay::new(&base);
    let params = params();
    let mut forged = evidence(&key, VoteKind::Finalize, 3);
    forged.second = vote(&Keypair::from_seed(13), VoteKind::Finalize, 3, 2);
    let reporter = Keypair::from_seed(1).address();
    let stateless = |chain: &ChainId, e: &DoubleSign| {
        check_stateless(
            chain,
            &reporter,
            &Call::ReportDoubleSign(Box::new(e.clone())),
        )
    };
    assert!(matches!(
        stateless(&chain(), &forged),
        Err(StateError::InvalidEvidence { .. })
    ));
    let wrong_chain = ChainId::new("elsewhere").unwrap();
    assert!(matches!(
        stateless(&wrong_chain, &evidence(&key, VoteKind::Finalize, 3)),
        Err(StateError::InvalidEvidence { .. })
    ));
    assert!(stateless(&chain(), &evidence(&key, VoteKind::Finalize, 3)).is_ok());
    let nobody = Keypair::from_seed(14);
    assert!(matches!(
        report_double_sign(
            &mut st,
            &params,
            5,
            &evidence(&nobody, VoteKind::Notarize, 3)
        ),
        Err(StateError::NotInSet { epoch: 0, .. })
    ));
    assert_eq!(stake_of(&st, &key), 1_000);
}

/// Evidence is accepted from its own epoch until `evidence_max_age_epochs` later, and
/// never for an epoch that has not begun.
#[test]
fn evidence_has_an_age_limit() {
    let key = Keypair::from_seed(15);
    let base = staked(&key, 1_000_000, 0);
    let params = params();
    let old = evidence(&key, VoteKind::Notarize, 3);
    // Epoch 2 (heights 200..299): epoch 0 is two epochs back, beyond the limit of one.
    let mut st = Overlay::new(&base);
    assert!(matches!(
        report_double_sign(&mut st, &params, 250, &old),
        Err(StateError::EvidenceTooOld {
            epoch: 0,
            current: 2,
            max_age: 1
        })
    ));
    // In epoch 1 it is still in time.
    assert!(report_double_sign(&mut st, &params, 150, &old).is_ok());
    let future = evidence_in(&key, VoteKind::Notarize, 3, 1);
    let mut st = Overlay::new(&base);
    assert!(matches!(
        report_double_sign(&mut st, &params, 150, &future),
        Err(StateError::EvidenceFromFuture {
            epoch: 3,
            current: 1
        })
    ));
}

/// A member that unbonds everything right after the epoch begins still loses its share:
/// the penalty is computed on its stake in the set and taken from the unbonding entry.
#[test]
fn unbonding_does_not_dodge_the_penalty() {
    let key = Keypair::from_seed(16);
    let base = staked(&key, 0, 1_000_000);
    let mut st = Overlay::new(&base);
    assert_eq!(
        staking::stake(&st, &key.address()).unwrap().bonded,
        Amount::ZERO
    );
    report_double_sign(
        &mut st,
        &params(),
        120,
        &evidence(&key, VoteKind::Notarize, 7),
    )
    .unwrap();
    assert_eq!(stake_of(&st, &key), 950_000);
}

/// Unbonding must outlast the evidence window, or a validator could withdraw stake it may
/// still be slashed for.
#[test]
fn unbonding_shorter_than_the_evidence_window_is_invalid() {
    let bad = Params {
        epoch_blocks: 1_000,
        unbonding_blocks: 1_999,
        evidence_max_age_epochs: 1,
        ..Params::default()
    };
    assert!(matches!(bad.validate(), Err(StateError::InvalidParams(_))));
    let ok = Params {
        unbonding_blocks: 2_000,
        ..bad.clone()
    };
    ok.validate().unwrap();
    Params::default().validate().unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Slashed ≤ bps share of bonded + unbonding; the supply burns exactly what the stake
    /// lost; unbonding cannot dodge it (bonded is taken first, then unbonding).
    #[test]
    fn slashing_takes_at_most_its_share_and_burns_it(
        bonded in 0u128..1_000_000_000_000,
        unbonding in 0u128..1_000_000_000_000,
        bps in 0u16..=10_000,
        view in 1u64..1_000_000,
    ) {
        let key = Keypair::from_seed(21);
        let base = staked(&key, bonded, unbonding);
        let mut st = Overlay::new(&base);
        let params = Params { double_sign_slash_bps: bps, ..params() };
        let before = stake_of(&st, &key);
        let result = report_double_sign(
            &mut st, &params, 50, &evidence(&key, VoteKind::Notarize, view));
        let expected = before * u128::from(bps) / 10_000;
        if before == 0 {
            // No stake, not chosen: not in the set.
            let refused = matches!(result, Err(StateError::NotInSet { .. }));
            prop_assert!(refused);
        } else if expected == 0 {
            let refused = matches!(result, Err(StateError::NothingToSlash { .. }));
            prop_assert!(refused);
        } else {
            prop_assert!(result.is_ok());
            let after = stake_of(&st, &key);
            prop_assert_eq!(before - after, expected);
            prop_assert_eq!(bank::supply(&st).unwrap().burned, Amount::from_base(expected));
            let totals = staking::totals(&st).unwrap();
            prop_assert_eq!(totals.bonded.base() + totals.unbonding.base(), after);
        }
    }
}
