//! Genesis: the chain's first state, from a JSON document.
//!
//! # Invariants
//! * the genesis supply equals Σ balances + Σ bonded of the listed accounts, and is
//!   at most `max_supply`.
//! * every address appears once.
//! * every account registered as a validator is a valid ed25519 key (its consensus key)
//!   with a valid p2p address; epoch 0's set is chosen from those validators by the same
//!   rule as every later set (`staking::epochs`).

use crate::{
    bank::{self, Account, Supply},
    kv::{MemState, Overlay, Write},
    params::PARAMS_KEY,
    staking, Params, StateError,
};
use std::collections::BTreeSet;
use tessera_types::{Address, Amount, ChainId};

/// State key of the chain id (the root commits to which chain this is).
pub const CHAIN_ID_KEY: &[u8] = b"sys/chain-id";
/// Most accounts a genesis may list.
pub const MAX_GENESIS_ACCOUNTS: usize = 1_000_000;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisAccount {
    pub address: Address,
    pub balance: Amount,
    /// Stake bonded from the start (the dev chain's validator).
    #[serde(default)]
    pub bonded: Amount,
    /// Registered as a validator from the start (chosen for epoch 0 if its bonded stake
    /// is at least `min_self_bond`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validator: Option<GenesisValidator>,
}

/// A validator registered at genesis.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisValidator {
    /// Where its node's p2p network listens (`ip:port`).
    pub p2p: String,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    pub chain_id: ChainId,
    /// Milliseconds since the Unix epoch; the timestamp of block 0.
    pub genesis_time_ms: u64,
    #[serde(default)]
    pub params: Params,
    pub accounts: Vec<GenesisAccount>,
}

impl Genesis {
    /// Check the document and build the initial state's writes, sorted by key.
    pub fn build(&self) -> Result<Vec<Write>, StateError> {
        self.params.validate()?;
        if self.accounts.len() > MAX_GENESIS_ACCOUNTS {
            return Err(StateError::InvalidGenesis(format!(
                "{} accounts, at most {MAX_GENESIS_ACCOUNTS}",
                self.accounts.len()
            )));
        }
        let empty = MemState::new();
        let mut state = Overlay::new(&empty);
        let mut seen = BTreeSet::new();
        let mut total = Amount::ZERO;
        for acct in &self.accounts {
            if !seen.insert(acct.address) {
                return Err(StateError::InvalidGenesis(format!(
                    "address {} is listed twice",
                    acct.address
                )));
            }
            if let Some(validator) = &acct.validator {
                check_validator(&acct.address, validator)?;
            }
            total = add(add(total, acct.balance)?, acct.bonded)?;
        }
        if total > self.params.max_supply {
            return Err(StateError::InvalidGenesis(format!(
                "genesis supply {total} TSR is above max_supply {} TSR",
                self.params.max_supply
            )));
        }
        state.write(PARAMS_KEY.to_vec(), &self.params);
        state.set(
            CHAIN_ID_KEY.to_vec(),
            self.chain_id.as_str().as_bytes().to_vec(),
        );
        state.write(
            bank::SUPPLY_KEY.to_vec(),
            &Supply {
                genesis: total,
                ..Supply::default()
            },
        );
        for acct in &self.accounts {
            let sum = add(acct.balance, acct.bonded)?;
            bank::set_account(
                &mut state,
                &acct.address,
                &Account {
                    balance: sum,
                    nonce: 0,
                },
            );
            if !acct.bonded.is_zero() {
                staking::bond(&mut state, &acct.address, acct.bonded)?;
            }
            if let Some(validator) = &acct.validator {
                staking::validators::register(&mut state, 0, &acct.address, &validator.p2p)?;
            }
        }
        staking::epochs::select(&mut state, &self.params, 0, 0)?;
        Ok(state.into_writes())
    }
}

fn check_validator(address: &Address, validator: &GenesisValidator) -> Result<(), StateError> {
    if tessera_types::keys::public_key_of(address).is_err() {
        return Err(StateError::InvalidGenesis(format!(
            "validator {address} is not an ed25519 public key, so it cannot sign votes"
        )));
    }
    staking::validators::check_p2p(&validator.p2p)
        .map_err(|e| StateError::InvalidGenesis(format!("validator {address}: {e}")))
}

fn add(a: Amount, b: Amount) -> Result<Amount, StateError> {
    a.checked_add(b)
        .ok_or_else(|| StateError::InvalidGenesis("amounts overflow".into()))
}
