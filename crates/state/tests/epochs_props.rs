//! The power indexes and epoch validator sets: after any sequence of bonds, unbonds and
//! slashes (some committed to the base state, some still in an overlay), `top_bonded`
//! equals a brute-force ranking of every account's bonded stake; the set chosen at an
//! epoch's last block is that ranking restricted to registered, unjailed validators with
//! at least `min_self_bond`, cut at `max_validators`; and liveness jails exactly the
//! members that missed more than the allowed share of the views they led.
#![cfg(test)]

use proptest::prelude::*;
use tessera_state::{
    bank::{self, Supply},
    kv::{MemState, Write},
    staking::{self, epochs, validators},
    Overlay, Params, StateError,
};
use tessera_types::{Address, Amount, Event};

const ACCOUNTS: u8 = 6;

#[derive(Clone, Debug)]
enum Op {
    Bond(u8, u128),
    Unbond(u8, u128),
    Slash(u8, u128),
    /// Commit the overlay's writes to the base state.
    Commit,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..ACCOUNTS, 1u128..1_000).prop_map(|(a, v)| Op::Bond(a, v)),
        (0..ACCOUNTS, 1u128..1_000).prop_map(|(a, v)| Op::Unbond(a, v)),
        (0..ACCOUNTS, 1u128..1_000).prop_map(|(a, v)| Op::Slash(a, v)),
        Just(Op::Commit),
    ]
}

fn address(i: u8) -> Address {
    Address([i; 32])
}

fn apply(base: &mut MemState, writes: Vec<Write>) {
    for (k, v) in writes {
        match v {
            Some(v) => base.insert(k, v),
            None => base.remove(&k),
        };
    }
}

fn funded() -> MemState {
    let mut base = MemState::new();
    let mut st = Overlay::new(&base);
    let each = 1_000_000u128;
    st.write(
        bank::SUPPLY_KEY.to_vec(),
        &Supply {
            genesis: Amount::from_base(each * u128::from(ACCOUNTS)),
            ..Supply::default()
        },
    );
    for i in 0..ACCOUNTS {
        bank::credit(&mut st, &address(i), Amount::from_base(each)).unwrap();
    }
    let writes = st.into_writes();
    apply(&mut base, writes);
    base
}

/// Every account's bonded stake, ranked: stake descending, then address ascending.
fn ranking(st: &Overlay<'_>) -> Vec<(Address, Amount)> {
    let mut all: Vec<(Address, Amount)> = (0..ACCOUNTS)
        .map(|i| (address(i), staking::stake(st, &address(i)).unwrap().bonded))
        .filter(|(_, b)| !b.is_zero())
        .collect();
    all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    all
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn power_index_ranks_bonded_stake(ops in proptest::collection::vec(op(), 1..40), n in 1usize..8) {
        let params = Params::default();
        let mut base = funded();
        let mut pending: Vec<Write> = Vec::new();
        for op in ops {
            let mut layered = base.clone();
            apply(&mut layered, pending.clone());
            let mut st = Overlay::new(&layered);
            // Failures (too little balance or stake) change nothing: fine.
            let _ = match op {
                Op::Bond(a, v) => staking::bond(&mut st, &address(a), Amount::from_base(v)).map(|_| ()),
                Op::Unbond(a, v) => staking::unbond(&mut st, &params, 1, &address(a), Amount::from_base(v)).map(|_| ()),
                Op::Slash(a, v) => staking::slash(&mut st, &address(a), Amount::from_base(v), 0).map(|_| ()),
                Op::Commit => Ok(()),
            };
            let writes = st.into_writes();
            apply(&mut layered, writes.clone());
            pending.extend(writes);
            if matches!(op, Op::Commit) {
                apply(&mut base, std::mem::take(&mut pending));
            }
            // Read through an overlay of the pending writes over the committed base, so
            // deletions in the overlay hide base keys.
            let mut view = Overlay::new(&base);
            for (k, v) in &pending {
                match v {
                    Some(v) => view.set(k.clone(), v.clone()),
                    None => view.delete(k.clone()),
                }
            }
            let expected: Vec<_> = ranking(&view).into_iter().take(n).collect();
            prop_assert_eq!(staking::top_bonded(&view, n).unwrap(), expected);
        }
    }

    /// Accounts bond, some register (before or after bonding), some are jailed; the set
    /// chosen at an epoch's last block is the brute-force eligible ranking.
    #[test]
    fn epoch_sets_are_chosen_from_eligible_validators(
        accounts in proptest::collection::vec((0u128..1_000, any::<bool>(), any::<bool>(), any::<bool>()), ACCOUNTS as usize),
        max in 1u16..8,
        min in 0u128..600,
        height in prop_oneof![1u64..5_000, (1u64..50).prop_map(|e| e * 100 - 1)],
    ) {
        let params = Params {
            epoch_blocks: 100,
            unbonding_blocks: 200,
            max_validators: max,
            min_self_bond: Amount::from_base(min),
            ..Params::default()
        };
        let base = funded();
        let mut st = Overlay::new(&base);
        let mut eligible = Vec::new();
        for (i, (stake, registered, register_first, jailed)) in accounts.iter().enumerate() {
            let who = address(i as u8);
            if *registered && *register_first {
                validators::register(&mut st, 0, &who, &p2p(i)).unwrap();
            }
            if *stake > 0 {
                staking::bond(&mut st, &who, Amount::from_base(*stake)).unwrap();
            }
            if *registered && !*register_first {
                validators::register(&mut st, 0, &who, &p2p(i)).unwrap();
            }
            if *registered && *jailed {
                validators::jail(&mut st, &who, 0, 1, 1).unwrap();
            }
            if *registered && !*jailed && *stake > 0 && *stake >= min {
                eligible.push((who, Amount::from_base(*stake), p2p(i)));
            }
        }
        let events = epochs::on_block(&mut st, &params, height, 1).unwrap();
        prop_assert!(events.is_empty(), "no set yet, so no liveness");
        if (height + 1) % 100 != 0 {
            prop_assert!(epochs::current(&st).unwrap().is_none());
        } else {
            let set = epochs::current(&st).unwrap().unwrap();
            prop_assert_eq!(set.epoch, (height + 1) / 100);
            prop_assert_eq!(set.start_height, height + 1);
            eligible.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            let mut expected: Vec<_> = eligible.into_iter().take(usize::from(max)).collect();
            expected.sort_by_key(|e| e.0);
            let got: Vec<_> = set.members.iter().map(|m| (m.address, m.bonded, m.p2p.clone())).collect();
            prop_assert_eq!(got, expected);
        }
    }

    /// Blocks of one epoch arrive at random increasing views; at the epoch's end exactly
    /// the members that missed more than the allowed share of the views they led (up to
    /// the last block's view) are jailed, and the next set leaves them out.
    #[test]
    fn liveness_jails_exactly_the_absent(
        n in 1usize..6,
        gaps in proptest::collection::vec(1u64..5, 9),
        bps in 0u16..=10_000,
    ) {
        let epoch_blocks = 10u64;
        let params = Params {
            epoch_blocks,
            unbonding_blocks: 20,
            min_self_bond: Amount::from_base(1),
            liveness_max_missed_bps: bps,
            ..Params::default()
        };
        let (base, members) = registered(n, &params);
        let mut st = Overlay::new(&base);
        // Epoch 1 holds heights 10..=19; its set was chosen at height 9.
        epochs::on_block(&mut st, &params, 9, 1).unwrap();
        let mut view = 0;
        let mut views = Vec::new();
        let mut jailed_events = Vec::new();
        for (i, gap) in gaps.iter().enumerate() {
            view += gap;
            views.push(view);
            let events = epochs::on_block(&mut st, &params, 10 + i as u64, view).unwrap();
            jailed_events.extend(events);
        }
        // The epoch's last block.
        view += 1;
        views.push(view);
        jailed_events.extend(epochs::on_block(&mut st, &params, 19, view).unwrap());
        let mut expected = Vec::new();
        for (index, member) in members.iter().enumerate() {
            let led: Vec<u64> = (1..=view).filter(|v| (1 + v) as usize % n == index).collect();
            let missed = led.iter().filter(|v| !views.contains(v)).count() as u64;
            let led = led.len() as u64;
            if led > 0 && u128::from(missed) * 10_000 > u128::from(led) * u128::from(bps) {
                expected.push(Event::ValidatorJailed { validator: *member, epoch: 1, missed, led });
            }
        }
        prop_assert_eq!(&jailed_events, &expected);
        let next = epochs::current(&st).unwrap().unwrap();
        prop_assert_eq!(next.epoch, 2);
        for event in &expected {
            let Event::ValidatorJailed { validator, .. } = event else { unreachable!() };
            prop_assert!(next.member(validator).is_none() || expected.len() == n, "jailed but chosen");
            prop_assert!(validators::info(&st, validator).unwrap().unwrap().jailed);
        }
    }
}

fn p2p(i: usize) -> String {
    format!("10.0.0.{}:27657", i + 1)
}

/// `n` registered validators with 100 base units each, epoch 0's set chosen; their
/// addresses in address order.
fn registered(n: usize, params: &Params) -> (MemState, Vec<Address>) {
    let mut base = funded();
    let mut st = Overlay::new(&base);
    let mut members = Vec::new();
    for i in 0..n {
        let who = address(i as u8);
        staking::bond(&mut st, &who, Amount::from_base(100)).unwrap();
        validators::register(&mut st, 0, &who, &p2p(i)).unwrap();
        members.push(who);
    }
    epochs::select(&mut st, params, 0, 0).unwrap();
    let writes = st.into_writes();
    apply(&mut base, writes);
    members.sort();
    (base, members)
}

#[test]
fn the_last_set_carries_over_when_nobody_is_eligible() {
    let params = Params {
        epoch_blocks: 100,
        unbonding_blocks: 200,
        min_self_bond: Amount::from_base(100),
        ..Params::default()
    };
    let base = funded();
    let mut st = Overlay::new(&base);
    staking::bond(&mut st, &address(3), Amount::from_base(500)).unwrap();
    validators::register(&mut st, 0, &address(3), &p2p(3)).unwrap();
    epochs::on_block(&mut st, &params, 99, 1).unwrap();
    let first = epochs::current(&st).unwrap().unwrap();
    assert_eq!(first.members.len(), 1);
    // Below the minimum self-bond: no longer eligible.
    staking::unbond(&mut st, &params, 100, &address(3), Amount::from_base(401)).unwrap();
    epochs::on_block(&mut st, &params, 199, 1).unwrap();
    let second = epochs::current(&st).unwrap().unwrap();
    assert_eq!(second.epoch, 2);
    assert_eq!(
        second.members, first.members,
        "the previous members carry over"
    );
}

/// Dust stake buys nothing: unregistered accounts, and registered ones under the minimum
/// self-bond, are never chosen, however many there are.
#[test]
fn dust_and_unregistered_stake_never_enter_a_set() {
    let params = Params {
        epoch_blocks: 10,
        unbonding_blocks: 20,
        min_self_bond: Amount::from_base(1_000),
        ..Params::default()
    };
    let base = funded();
    let mut st = Overlay::new(&base);
    staking::bond(&mut st, &address(0), Amount::from_base(1_000)).unwrap();
    validators::register(&mut st, 0, &address(0), &p2p(0)).unwrap();
    for i in 1..ACCOUNTS {
        staking::bond(&mut st, &address(i), Amount::from_base(1)).unwrap();
        if i % 2 == 0 {
            validators::register(&mut st, 0, &address(i), &p2p(i as usize)).unwrap();
        }
    }
    staking::bond(&mut st, &address(1), Amount::from_base(50_000)).unwrap();
    epochs::on_block(&mut st, &params, 9, 1).unwrap();
    let set = epochs::current(&st).unwrap().unwrap();
    let members: Vec<Address> = set.members.iter().map(|m| m.address).collect();
    assert_eq!(
        members,
        vec![address(0)],
        "only the registered, bonded validator"
    );
}

#[test]
fn a_view_that_does_not_increase_is_refused() {
    let params = Params {
        epoch_blocks: 10,
        unbonding_blocks: 20,
        min_self_bond: Amount::from_base(1),
        ..Params::default()
    };
    let (base, _) = registered(3, &params);
    let mut st = Overlay::new(&base);
    epochs::on_block(&mut st, &params, 1, 4).unwrap();
    assert_eq!(
        epochs::on_block(&mut st, &params, 2, 4),
        Err(StateError::ViewNotIncreasing { view: 4, last: 4 })
    );
    epochs::on_block(&mut st, &params, 2, 5).unwrap();
}

/// An unjailed validator may be chosen again at the next boundary.
#[test]
fn unjail_restores_eligibility() {
    let params = Params {
        epoch_blocks: 10,
        unbonding_blocks: 20,
        min_self_bond: Amount::from_base(1),
        ..Params::default()
    };
    let (base, members) = registered(2, &params);
    let mut st = Overlay::new(&base);
    let who = members[0];
    assert!(matches!(
        validators::unjail(&mut st, &who),
        Err(StateError::NotJailed { .. })
    ));
    validators::jail(&mut st, &who, 0, 1, 1).unwrap();
    epochs::on_block(&mut st, &params, 9, 1).unwrap();
    assert!(epochs::current(&st)
        .unwrap()
        .unwrap()
        .member(&who)
        .is_none());
    validators::unjail(&mut st, &who).unwrap();
    epochs::on_block(&mut st, &params, 19, 1).unwrap();
    assert!(epochs::current(&st)
        .unwrap()
        .unwrap()
        .member(&who)
        .is_some());
    assert!(matches!(
        validators::unjail(&mut st, &address(5)),
        Err(StateError::NotValidator { .. })
    ));
}
