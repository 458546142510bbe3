//! The dev chain's genesis: funded, well-known accounts for local use.
//!
//! Dev account keys come from fixed seeds (`Keypair::from_seed(i)`); anyone can
//! derive them, so they are only for a chain on one machine.

use tessera_state::{Genesis, GenesisAccount, GenesisValidator, Params};
use tessera_types::{
    amount::BASE_PER_TSR, Address, Amount, Call, ChainId, Keypair, SignedTransaction, Transaction,
};

/// Chain id of the dev chain.
pub const DEV_CHAIN_ID: &str = "tessera-dev";
/// Number of funded dev accounts (`dev0` … `dev9`).
pub const DEV_ACCOUNTS: u64 = 10;
/// Balance of each funded account, in TSR.
pub const DEV_BALANCE_TSR: u128 = 1_000_000;
/// Stake bonded at genesis by the dev validator (`dev0`), in TSR.
pub const DEV_VALIDATOR_STAKE_TSR: u128 = 100_000;
/// The p2p address the dev validator is registered with (the dev chain runs no p2p).
pub const DEV_VALIDATOR_P2P: &str = "127.0.0.1:27657";

/// Blocks a delegation must be bonded before it counts for its subnet, on the dev chain.
pub const DEV_SUBNET_MATURITY_BLOCKS: u64 = 20;

/// The key of dev account `i` (dev0 is the dev validator and block proposer).
pub fn dev_key(i: u64) -> Keypair {
    Keypair::from_seed(i)
}

/// A dev genesis funding the dev accounts and `extra` addresses (e.g. the user's own
/// keys), with default parameters.
pub fn dev_genesis(genesis_time_ms: u64, extra: &[Address]) -> Genesis {
    let tsr = |v: u128| Amount::from_base(v.saturating_mul(BASE_PER_TSR));
    let mut accounts: Vec<GenesisAccount> = (0..DEV_ACCOUNTS)
        .map(|i| GenesisAccount {
            address: dev_key(i).address(),
            balance: tsr(DEV_BALANCE_TSR),
            bonded: if i == 0 {
                tsr(DEV_VALIDATOR_STAKE_TSR)
            } else {
                Amount::ZERO
            },
            validator: (i == 0).then(|| GenesisValidator {
                p2p: DEV_VALIDATOR_P2P.into(),
            }),
        })
        .collect();
    for address in extra {
        if accounts.iter().all(|a| &a.address != address) {
            accounts.push(GenesisAccount {
                address: *address,
                balance: tsr(DEV_BALANCE_TSR),
                bonded: Amount::ZERO,
                validator: None,
            });
        }
    }
    Genesis {
        chain_id: dev_chain_id(),
        genesis_time_ms,
        params: Params {
            // Subnet stake counts after 20 one-second blocks, not two hours, so the
            // devnet's subnets earn emission within a minute.
            subnet_maturity_blocks: DEV_SUBNET_MATURITY_BLOCKS,
            // A fraud report is voted on within 30 blocks (one devnet tempo).
            dispute_window_blocks: 30,
            ..Params::default()
        },
        accounts,
    }
}

/// A transfer on the dev chain signed by `key`, with a generous 1 TSR `max_fee` (it pays
/// only the actual fee): for tests, load generators and local scripts.
pub fn dev_transfer(key: &Keypair, nonce: u64, to: Address, amount: Amount) -> SignedTransaction {
    dev_transfer_on(&dev_chain_id(), key, nonce, to, amount)
}

/// [`DEV_CHAIN_ID`] as a [`ChainId`].
#[expect(
    clippy::expect_used,
    reason = "a constant, checked valid by the unit test below"
)]
pub fn dev_chain_id() -> ChainId {
    ChainId::new(DEV_CHAIN_ID).expect("DEV_CHAIN_ID is a valid chain id")
}

/// [`dev_transfer`] for the chain `chain` (a dev network or localnet names its own).
#[expect(
    clippy::expect_used,
    reason = "signing fails only with another account's key, and the signer is the key's"
)]
pub fn dev_transfer_on(
    chain: &ChainId,
    key: &Keypair,
    nonce: u64,
    to: Address,
    amount: Amount,
) -> SignedTransaction {
    Transaction {
        chain_id: chain.clone(),
        signer: key.public_key().clone(),
        nonce,
        max_fee: Amount::from_base(BASE_PER_TSR),
        call: Call::Transfer { to, amount },
    }
    .sign(key)
    .expect("the key signs its own transaction")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dev_chain_id_is_valid_and_dev_transfers_verify() {
        assert_eq!(dev_chain_id().as_str(), DEV_CHAIN_ID);
        let tx = dev_transfer(&dev_key(1), 0, dev_key(2).address(), Amount::from_base(5));
        assert!(SignedTransaction::from_bytes(&tx.to_bytes()).is_ok());
    }
}
