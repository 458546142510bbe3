//! Unit tests of `staking`: bond/unbond/withdraw, locks, slashing, limits.
#![cfg(test)]

use tessera_state::{
    bank::{self, Supply},
    kv::MemState,
    staking::*,
    Overlay, Params, StateError,
};
use tessera_types::{Address, Amount};

fn setup(balance: u128) -> (MemState, Address) {
    let who = Address([7; 32]);
    let mut base = MemState::new();
    let mut state = Overlay::new(&base);
    state.write(
        bank::SUPPLY_KEY.to_vec(),
        &Supply {
            genesis: Amount::from_base(balance),
            ..Supply::default()
        },
    );
    bank::credit(&mut state, &who, Amount::from_base(balance)).unwrap();
    let writes = state.into_writes();
    for (k, v) in writes {
        base.insert(k, v.unwrap());
    }
    (base, who)
}

fn amt(v: u128) -> Amount {
    Amount::from_base(v)
}

#[test]
fn bond_unbond_withdraw_cycle() {
    let (base, who) = setup(100);
    let params = Params {
        unbonding_blocks: 10,
        ..Params::default()
    };
    let mut st = Overlay::new(&base);
    bond(&mut st, &who, amt(60)).unwrap();
    assert_eq!(bank::account(&st, &who).unwrap().balance, amt(40));
    unbond(&mut st, &params, 5, &who, amt(25)).unwrap();
    let err = withdraw(&mut st, 14, &who).unwrap_err();
    assert_eq!(
        err,
        StateError::NothingToWithdraw {
            height: 14,
            next_release: Some(15)
        }
    );
    withdraw(&mut st, 15, &who).unwrap();
    assert_eq!(bank::account(&st, &who).unwrap().balance, amt(65));
    let s = stake(&st, &who).unwrap();
    assert_eq!((s.bonded, s.unbonding.len()), (amt(35), 0));
    assert_eq!(
        totals(&st).unwrap(),
        StakingTotals {
            bonded: amt(35),
            unbonding: amt(0)
        }
    );
}

#[test]
fn locked_stake_cannot_unbond_and_unlock_checks() {
    let (base, who) = setup(100);
    let mut st = Overlay::new(&base);
    bond(&mut st, &who, amt(50)).unwrap();
    lock(&mut st, &who, amt(30)).unwrap();
    let err = unbond(&mut st, &Params::default(), 1, &who, amt(21)).unwrap_err();
    assert_eq!(
        err,
        StateError::InsufficientStake {
            requested: amt(21),
            available: amt(20)
        }
    );
    assert!(lock(&mut st, &who, amt(21)).is_err());
    assert!(unlock(&mut st, &who, amt(31)).is_err());
    unlock(&mut st, &who, amt(30)).unwrap();
    unbond(&mut st, &Params::default(), 1, &who, amt(50)).unwrap();
}

#[test]
fn slash_takes_bonded_then_unbonding_and_burns() {
    let (base, who) = setup(100);
    let mut st = Overlay::new(&base);
    bond(&mut st, &who, amt(50)).unwrap();
    unbond(&mut st, &Params::default(), 1, &who, amt(20)).unwrap();
    let (slashed, _) = slash(&mut st, &who, amt(40), 0).unwrap();
    assert_eq!(slashed, amt(40));
    let s = stake(&st, &who).unwrap();
    assert_eq!(s.bonded, amt(0));
    assert_eq!(s.unbonding_total().unwrap(), amt(10));
    assert_eq!(bank::supply(&st).unwrap().burned, amt(40));
    let (more, _) = slash(&mut st, &who, amt(1_000), 0).unwrap();
    assert_eq!(more, amt(10));
    assert!(stake(&st, &who).unwrap().is_empty());
}

/// Stake unbonded before an infraction is not the infraction's to take: only entries
/// released at or after `released_from` are slashed.
#[test]
fn slash_spares_unbonding_that_left_before_the_infraction() {
    let (base, who) = setup(100);
    let mut st = Overlay::new(&base);
    let params = Params::default();
    bond(&mut st, &who, amt(60)).unwrap();
    unbond(&mut st, &params, 1, &who, amt(20)).unwrap(); // released at 1 + unbonding
    unbond(&mut st, &params, 50, &who, amt(30)).unwrap(); // released at 50 + unbonding
    let (slashed, _) = slash(&mut st, &who, amt(100), 10 + params.unbonding_blocks).unwrap();
    assert_eq!(
        slashed,
        amt(40),
        "the 10 bonded and the 30 unbonded at height 50"
    );
    let s = stake(&st, &who).unwrap();
    assert_eq!(s.bonded, amt(0));
    assert_eq!(s.unbonding_total().unwrap(), amt(20));
}

#[test]
fn unbonding_entries_are_limited() {
    let (base, who) = setup(100);
    let mut st = Overlay::new(&base);
    bond(&mut st, &who, amt(50)).unwrap();
    for _ in 0..MAX_UNBONDING_ENTRIES {
        unbond(&mut st, &Params::default(), 1, &who, amt(1)).unwrap();
    }
    let err = unbond(&mut st, &Params::default(), 1, &who, amt(1)).unwrap_err();
    assert_eq!(
        err,
        StateError::TooManyUnbonding {
            max: MAX_UNBONDING_ENTRIES
        }
    );
}
