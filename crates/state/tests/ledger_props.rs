//! Property tests of the ledger invariants written at the top of `lib.rs`, `bank`
//! and `staking`: random blocks of random transactions (valid, stale or future
//! nonces, low fees, over-spends, unbonds, withdraws) from a handful of accounts.
#![cfg(test)]

use proptest::prelude::*;
use std::collections::BTreeMap;
use tessera_state::{
    bank::{self, Account},
    staking::{self, Stake},
    BlockContext, Executor, Genesis, GenesisAccount, MemState, Overlay, Params, StateError,
};
use tessera_types::{
    Address, Amount, Call, ChainId, Keypair, SignedTransaction, Transaction, TxStatus,
};

const ACCOUNTS: u64 = 4;

fn chain() -> ChainId {
    ChainId::new("prop").unwrap()
}

fn keys() -> Vec<Keypair> {
    (0..ACCOUNTS).map(Keypair::from_seed).collect()
}

fn genesis_state(params: &Params) -> MemState {
    let genesis = Genesis {
        chain_id: chain(),
        genesis_time_ms: 0,
        params: params.clone(),
        accounts: keys()
            .iter()
            .map(|k| GenesisAccount {
                address: k.address(),
                balance: Amount::from_base(10_000_000),
                bonded: Amount::ZERO,
                validator: None,
            })
            .collect(),
    };
    apply(&mut MemState::new(), genesis.build().unwrap())
}

fn apply(state: &mut MemState, writes: Vec<tessera_state::Write>) -> MemState {
    for (k, v) in writes {
        match v {
            Some(v) => state.insert(k, v),
            None => state.remove(&k),
        };
    }
    state.clone()
}

/// One generated transaction.
#[derive(Clone, Debug)]
struct Op {
    signer: usize,
    kind: u8,
    amount: u128,
    nonce_skew: i8,
    fee_ok: bool,
}

fn op() -> impl Strategy<Value = Op> {
    (
        0..ACCOUNTS as usize,
        0u8..5,
        0u128..6_000_000,
        prop_oneof![8 => Just(0i8), 1 => Just(-1i8), 1 => Just(1i8)],
        prop_oneof![9 => Just(true), 1 => Just(false)],
    )
        .prop_map(|(signer, kind, amount, nonce_skew, fee_ok)| Op {
            signer,
            kind,
            amount,
            nonce_skew,
            fee_ok,
        })
}

fn build_tx(op: &Op, keys: &[Keypair], nonce: u64) -> SignedTransaction {
    let amount = Amount::from_base(op.amount);
    let call = match op.kind {
        0 | 1 => Call::Transfer {
            to: keys[(op.signer + 1) % keys.len()].address(),
            amount,
        },
        2 => Call::Bond { amount },
        3 => Call::Unbond { amount },
        _ => Call::Withdraw,
    };
    let nonce = match op.nonce_skew {
        -1 => nonce.saturating_sub(1).wrapping_sub(u64::from(nonce == 0)),
        1 => nonce + 1,
        _ => nonce,
    };
    Transaction {
        chain_id: chain(),
        signer: keys[op.signer].public_key().clone(),
        nonce,
        max_fee: Amount::from_base(if op.fee_ok { 10_000_000 } else { 1 }),
        call,
    }
    .sign(&keys[op.signer])
    .unwrap()
}

/// Σ balances + Σ bonded + Σ unbonding over the whole state.
fn holdings(state: &MemState) -> u128 {
    let mut total = 0u128;
    for (k, v) in state {
        if k.starts_with(bank::ACCOUNT_PREFIX) {
            total += tessera_state::kv::decode_value::<Account>(k, v)
                .unwrap()
                .balance
                .base();
        } else if k.starts_with(staking::STAKE_PREFIX) {
            let s = tessera_state::kv::decode_value::<Stake>(k, v).unwrap();
            total += s.bonded.base() + s.unbonding_total().unwrap().base();
        }
    }
    total
}

fn snapshot(view: &Overlay<'_>, addrs: &[Address]) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> {
    use tessera_state::StateView;
    let mut keys: Vec<Vec<u8>> = addrs
        .iter()
        .flat_map(|a| [bank::account_key(a), staking::stake_key(a)])
        .collect();
    keys.push(bank::account_key(&bank::treasury()));
    keys.push(bank::SUPPLY_KEY.to_vec());
    keys.push(staking::TOTALS_KEY.to_vec());
    keys.into_iter()
        .map(|k| {
            let v = view.get(&k);
            (k, v)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn ledger_invariants_hold(blocks in prop::collection::vec(prop::collection::vec(op(), 0..12), 1..8), burn in any::<bool>()) {
        let params = Params { unbonding_blocks: 2, epoch_blocks: 1, burn_fees: burn, ..Params::default() };
        let keys = keys();
        let mut addrs: Vec<Address> = keys.iter().map(Keypair::address).collect();
        let proposer = Keypair::from_seed(100).address();
        addrs.push(proposer);
        let mut state = genesis_state(&params);
        let mut nonces = vec![0u64; keys.len()];

        for (i, ops) in blocks.iter().enumerate() {
            let height = i as u64 + 1;
            let base = state.clone();
            let mut exec = Executor::new(&base, BlockContext { chain_id: chain(), height, view: height, proposer }).unwrap();
            let mut included = vec![0u64; keys.len()];
            for op in ops {
                let tx = build_tx(op, &keys, nonces[op.signer] + included[op.signer]);
                let before = snapshot(exec.state(), &addrs);
                let signer_before = bank::account(exec.state(), &addrs[op.signer]).unwrap();
                let treasury_before = bank::account(exec.state(), &bank::treasury()).unwrap();
                match exec.apply(&tx) {
                    Err(e) => {
                        // Rejected: nothing changed at all.
                        prop_assert!(matches!(e, StateError::StaleNonce{..} | StateError::FutureNonce{..} | StateError::FeeTooLow{..} | StateError::InsufficientFunds{..}), "unexpected rejection {e}");
                        prop_assert_eq!(snapshot(exec.state(), &addrs), before);
                    }
                    Ok(receipt) => {
                        let receipt = receipt.clone();
                        included[op.signer] += 1;
                        let after = bank::account(exec.state(), &addrs[op.signer]).unwrap();
                        prop_assert_eq!(after.nonce, signer_before.nonce + 1);
                        if let TxStatus::Failed(_) = receipt.status {
                            // Failed: only the fee and the nonce moved.
                            prop_assert_eq!(after.balance, signer_before.balance.checked_sub(receipt.fee).unwrap());
                            let mut expected = before.clone();
                            let changed: BTreeMap<_, _> = snapshot(exec.state(), &addrs)
                                .into_iter()
                                .filter(|(k, v)| before.get(k) != Some(v))
                                .collect();
                            let allowed = [bank::account_key(&addrs[op.signer]), bank::account_key(&bank::treasury()), bank::SUPPLY_KEY.to_vec()];
                            for k in changed.keys() {
                                prop_assert!(allowed.contains(k), "failed tx changed {:?}", String::from_utf8_lossy(k));
                            }
                            expected.clear();
                            let treasury_after = bank::account(exec.state(), &bank::treasury()).unwrap();
                            if !burn {
                                prop_assert_eq!(treasury_after.balance, treasury_before.balance.checked_add(receipt.fee).unwrap());
                            }
                        }
                    }
                }
            }
            let outcome = exec.finish().unwrap();
            state = apply(&mut state, outcome.writes);
            for (n, inc) in nonces.iter_mut().zip(&included) {
                *n += inc;
            }
            // Nonces only increase, by exactly the included count.
            let view = Overlay::new(&state);
            for (idx, addr) in addrs.iter().take(keys.len()).enumerate() {
                prop_assert_eq!(bank::account(&view, addr).unwrap().nonce, nonces[idx]);
            }
            // Supply conservation and the cap.
            let supply = bank::supply(&view).unwrap();
            prop_assert_eq!(holdings(&state), supply.total().unwrap().base());
            prop_assert!(supply.total().unwrap() <= params.max_supply);
            let totals = staking::totals(&view).unwrap();
            let staked: u128 = addrs.iter().map(|a| { let s = staking::stake(&view, a).unwrap(); s.bonded.base() }).sum();
            prop_assert_eq!(totals.bonded.base(), staked);
        }
    }
}

#[test]
fn same_block_gives_same_writes() {
    let params = Params::default();
    let keys = keys();
    let state = genesis_state(&params);
    let txs: Vec<SignedTransaction> = (0..20)
        .map(|n| {
            build_tx(
                &Op {
                    signer: 0,
                    kind: 0,
                    amount: 5,
                    nonce_skew: 0,
                    fee_ok: true,
                },
                &keys,
                n,
            )
        })
        .collect();
    let run = || {
        let mut exec = Executor::new(
            &state,
            BlockContext {
                chain_id: chain(),
                height: 1,
                view: 1,
                proposer: keys[1].address(),
            },
        )
        .unwrap();
        for tx in &txs {
            exec.apply(tx).unwrap();
        }
        exec.finish().unwrap()
    };
    let a = run();
    assert_eq!(a, run());
    assert!(
        a.writes.windows(2).all(|w| w[0].0 < w[1].0),
        "writes are sorted"
    );
    assert_eq!(a.receipts.txs.len(), 20);
}

#[test]
fn wrong_chain_is_rejected() {
    let state = genesis_state(&Params::default());
    let err = Executor::new(
        &state,
        BlockContext {
            chain_id: ChainId::new("other").unwrap(),
            height: 1,
            view: 1,
            proposer: Address([0; 32]),
        },
    )
    .err()
    .unwrap();
    assert!(matches!(err, StateError::WrongChain { .. }));
}
