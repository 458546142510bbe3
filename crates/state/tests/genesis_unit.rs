//! Unit tests of genesis building.
#![cfg(test)]

use tessera_state::{
    bank, kv::MemState, staking, Genesis, GenesisAccount, GenesisValidator, Overlay, Params,
    StateError,
};
use tessera_types::{keys::public_key_of, Address, Amount, ChainId, Keypair};

fn staker() -> Address {
    Keypair::from_seed(1).address()
}

fn genesis() -> Genesis {
    Genesis {
        chain_id: ChainId::new("t").unwrap(),
        genesis_time_ms: 0,
        params: Params::default(),
        accounts: vec![
            GenesisAccount {
                address: staker(),
                balance: Amount::from_base(10),
                bonded: Amount::from_base(5),
                validator: None,
            },
            GenesisAccount {
                address: Address([2; 32]),
                balance: Amount::from_base(3),
                bonded: Amount::ZERO,
                validator: None,
            },
        ],
    }
}

#[test]
fn builds_accounts_stake_and_supply() {
    let writes = genesis().build().unwrap();
    let state: MemState = writes.into_iter().map(|(k, v)| (k, v.unwrap())).collect();
    let view = Overlay::new(&state);
    assert_eq!(
        bank::account(&view, &staker()).unwrap().balance,
        Amount::from_base(10)
    );
    assert_eq!(
        staking::stake(&view, &staker()).unwrap().bonded,
        Amount::from_base(5)
    );
    assert_eq!(
        bank::supply(&view).unwrap().total().unwrap(),
        Amount::from_base(18)
    );
}

#[test]
fn validators_must_be_keys_with_p2p_addresses() {
    let not_a_key = (3..=255u8)
        .map(|b| Address([b; 32]))
        .find(|a| public_key_of(a).is_err())
        .unwrap();
    let validator = |p2p: &str| Some(GenesisValidator { p2p: p2p.into() });
    let mut g = genesis();
    g.accounts[0].address = not_a_key;
    g.build().unwrap();
    g.accounts[0].validator = validator("10.0.0.1:27657");
    let err = g.build().unwrap_err();
    assert!(matches!(err, StateError::InvalidGenesis(_)), "{err}");
    let mut g = genesis();
    g.accounts[0].address = tessera_types::Keypair::from_seed(1).address();
    for bad in ["", "localhost:1", "10.0.0.1:0", "0.0.0.0:27657", "10.0.0.1"] {
        g.accounts[0].validator = validator(bad);
        assert!(g.build().is_err(), "{bad:?} accepted");
    }
    g.accounts[0].validator = validator("10.0.0.1:27657");
    g.params.min_self_bond = Amount::from_base(5);
    let state: MemState = g
        .build()
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, v.unwrap()))
        .collect();
    let set = tessera_state::staking::epochs::current(&Overlay::new(&state))
        .unwrap()
        .unwrap();
    assert_eq!(
        set.members.len(),
        1,
        "the registered validator is epoch 0's set"
    );
    assert_eq!(set.members[0].p2p, "10.0.0.1:27657");
}

#[test]
fn rejects_duplicates_and_over_cap() {
    let mut g = genesis();
    g.accounts.push(g.accounts[0].clone());
    assert!(matches!(g.build(), Err(StateError::InvalidGenesis(_))));
    let mut g = genesis();
    g.params.max_supply = Amount::from_base(17);
    g.params.initial_block_reward = Amount::from_base(1);
    assert!(matches!(g.build(), Err(StateError::InvalidGenesis(_))));
}

#[test]
fn json_round_trip_with_default_params() {
    let json = r#"{"chain_id":"t","genesis_time_ms":5,"accounts":[]}"#;
    let g: Genesis = serde_json::from_str(json).unwrap();
    assert_eq!(g.params, Params::default());
    let text = serde_json::to_string(&g).unwrap();
    assert_eq!(serde_json::from_str::<Genesis>(&text).unwrap(), g);
}
