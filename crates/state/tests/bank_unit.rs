//! Unit tests of `bank`: emission schedule, the cap, debits.
#![cfg(test)]

use tessera_state::{bank::*, kv::MemState, Overlay, Params, StateError};
use tessera_types::{Address, Amount};

fn params() -> Params {
    Params {
        initial_block_reward: Amount::from_base(100),
        halving_interval_blocks: 10,
        max_supply: Amount::from_base(1_000),
        ..Params::default()
    }
}

#[test]
fn reward_halves_on_schedule() {
    let supply = Supply::default();
    let p = params();
    assert_eq!(block_reward(&p, 1, &supply).unwrap().base(), 100);
    assert_eq!(block_reward(&p, 10, &supply).unwrap().base(), 100);
    assert_eq!(block_reward(&p, 11, &supply).unwrap().base(), 50);
    assert_eq!(block_reward(&p, 21, &supply).unwrap().base(), 25);
    assert_eq!(block_reward(&p, 10 * 200, &supply).unwrap().base(), 0);
    assert_eq!(block_reward(&p, u64::MAX, &supply).unwrap().base(), 0);
}

#[test]
fn reward_is_clamped_at_the_cap() {
    let p = params();
    let near_cap = Supply {
        genesis: Amount::from_base(990),
        ..Supply::default()
    };
    assert_eq!(block_reward(&p, 1, &near_cap).unwrap().base(), 10);
    let at_cap = Supply {
        genesis: Amount::from_base(1_000),
        ..Supply::default()
    };
    assert_eq!(block_reward(&p, 1, &at_cap).unwrap().base(), 0);
}

#[test]
fn debit_reports_the_numbers() {
    let base = MemState::new();
    let mut state = Overlay::new(&base);
    let who = Address([1; 32]);
    credit(&mut state, &who, Amount::from_base(5)).unwrap();
    let err = debit(&mut state, &who, Amount::from_base(7)).unwrap_err();
    assert_eq!(
        err,
        StateError::InsufficientFunds {
            needed: Amount::from_base(7),
            available: Amount::from_base(5)
        }
    );
    debit(&mut state, &who, Amount::from_base(5)).unwrap();
    assert!(state.into_writes().iter().all(|(_, v)| v.is_none()));
}
