//! The power index and epoch validator sets: after any sequence of bonds, unbonds and
//! slashes (some committed to the base state, some still in an overlay), `top_bonded`
//! equals a brute-force ranking of every account's bonded stake, and the set chosen at
//! an epoch's last block is that ranking cut at `max_validators`.

use proptest::prelude::*;
use tessera_state::{
    bank::{self, Supply},
    kv::{MemState, Write},
    staking::{self, epochs},
    Overlay, Params,
};
use tessera_types::{Address, Amount};

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
                Op::Slash(a, v) => staking::slash(&mut st, &address(a), Amount::from_base(v)).map(|_| ()),
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

    #[test]
    fn epoch_sets_are_chosen_at_epoch_ends(stakes in proptest::collection::vec(0u128..1_000, ACCOUNTS as usize), max in 1u16..8, height in prop_oneof![1u64..5_000, (1u64..50).prop_map(|e| e * 100 - 1)]) {
        let params = Params { epoch_blocks: 100, max_validators: max, ..Params::default() };
        let base = funded();
        let mut st = Overlay::new(&base);
        for (i, s) in stakes.iter().enumerate() {
            if *s > 0 {
                staking::bond(&mut st, &address(i as u8), Amount::from_base(*s)).unwrap();
            }
        }
        let chosen = epochs::on_block_end(&mut st, &params, height).unwrap();
        if (height + 1) % 100 != 0 {
            prop_assert!(chosen.is_none());
            prop_assert!(epochs::current(&st).unwrap().is_none());
        } else {
            let set = chosen.unwrap();
            prop_assert_eq!(set.epoch, (height + 1) / 100);
            prop_assert_eq!(set.start_height, height + 1);
            let expected: Vec<_> = ranking(&st).into_iter().take(usize::from(max)).collect();
            let got: Vec<_> = set.members.iter().map(|m| (m.address, m.bonded)).collect();
            prop_assert_eq!(got, expected);
            prop_assert_eq!(epochs::current(&st).unwrap(), Some(set));
        }
    }
}

#[test]
fn the_last_set_carries_over_when_nobody_is_bonded() {
    let params = Params {
        epoch_blocks: 100,
        ..Params::default()
    };
    let base = funded();
    let mut st = Overlay::new(&base);
    staking::bond(&mut st, &address(3), Amount::from_base(500)).unwrap();
    let first = epochs::on_block_end(&mut st, &params, 99).unwrap().unwrap();
    assert_eq!(first.members.len(), 1);
    staking::unbond(&mut st, &params, 100, &address(3), Amount::from_base(500)).unwrap();
    assert!(staking::top_bonded(&st, 8).unwrap().is_empty());
    let second = epochs::on_block_end(&mut st, &params, 199)
        .unwrap()
        .unwrap();
    assert_eq!(second.epoch, 2);
    assert_eq!(
        second.members, first.members,
        "the previous members carry over"
    );
}
