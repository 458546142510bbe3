//! `staking::slashing`: double-sign evidence slashes the validator once per epoch, by at
//! most `double_sign_slash_bps` of its stake, burning exactly what it takes.

use proptest::prelude::*;
use tessera_state::{
    bank::{self, Supply},
    kv::MemState,
    staking::{self, slashing::report_double_sign},
    Overlay, Params, StateError,
};
use tessera_types::{
    evidence::{Proposal, SignedVote, VoteKind},
    Amount, ChainId, DoubleSign, Keypair,
};

const CHAIN: &str = "tessera-test";

fn chain() -> ChainId {
    ChainId::new(CHAIN).unwrap()
}

fn vote(key: &Keypair, kind: VoteKind, view: u64, payload: u8) -> SignedVote {
    let proposal = Proposal {
        epoch: 0,
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
    DoubleSign {
        kind,
        validator: key.address(),
        first: vote(key, kind, view, 1),
        second: vote(key, kind, view, 2),
    }
}

/// A state where `key` holds `bonded` stake and `unbonding` in one unbonding entry.
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
    if unbonding > 0 {
        staking::unbond(
            &mut st,
            &Params::default(),
            1,
            &who,
            Amount::from_base(unbonding),
        )
        .unwrap();
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
    let params = Params::default();
    let events = report_double_sign(
        &mut st,
        &params,
        &chain(),
        &evidence(&key, VoteKind::Notarize, 7),
    )
    .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(stake_of(&st, &key), 950_000, "5% of 1,000,000");
    assert_eq!(bank::supply(&st).unwrap().burned, Amount::from_base(50_000));

    // Another round, or the other vote kind, in the same epoch: already punished.
    for again in [
        evidence(&key, VoteKind::Notarize, 7),
        evidence(&key, VoteKind::Finalize, 9),
    ] {
        assert!(matches!(
            report_double_sign(&mut st, &params, &chain(), &again),
            Err(StateError::AlreadySlashed { epoch: 0, .. })
        ));
    }
    assert_eq!(stake_of(&st, &key), 950_000);
}

#[test]
fn bad_evidence_and_unstaked_validators_are_refused() {
    let key = Keypair::from_seed(12);
    let base = staked(&key, 1_000, 0);
    let mut st = Overlay::new(&base);
    let params = Params::default();
    let mut forged = evidence(&key, VoteKind::Finalize, 3);
    forged.second = vote(&Keypair::from_seed(13), VoteKind::Finalize, 3, 2);
    assert!(matches!(
        report_double_sign(&mut st, &params, &chain(), &forged),
        Err(StateError::InvalidEvidence(_))
    ));
    let wrong_chain = ChainId::new("elsewhere").unwrap();
    assert!(matches!(
        report_double_sign(
            &mut st,
            &params,
            &wrong_chain,
            &evidence(&key, VoteKind::Finalize, 3)
        ),
        Err(StateError::InvalidEvidence(_))
    ));
    let nobody = Keypair::from_seed(14);
    assert!(matches!(
        report_double_sign(
            &mut st,
            &params,
            &chain(),
            &evidence(&nobody, VoteKind::Notarize, 3)
        ),
        Err(StateError::NothingToSlash { .. })
    ));
    assert_eq!(stake_of(&st, &key), 1_000);
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
        let params = Params { double_sign_slash_bps: bps, ..Params::default() };
        let before = stake_of(&st, &key);
        let result = report_double_sign(
            &mut st, &params, &chain(), &evidence(&key, VoteKind::Notarize, view));
        let expected = before * u128::from(bps) / 10_000;
        if expected == 0 {
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
