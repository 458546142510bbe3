//! Property tests of the `models` invariants written at the top of `models/mod.rs`:
//! two models, many holders, random sequences of share transfers and royalty claims
//! (signed transactions through the [`Executor`], so fees, nonces and failed calls are
//! real) and revenue credits (through the hook, as a paying module calls it).
//!
//! Seeded: set `PROPTEST_RNG_SEED` to replay a run; the seed is printed on failure.
#![cfg(test)]

use proptest::{prelude::*, test_runner::RngSeed};
use std::collections::BTreeMap;
use tessera_state::{
    bank::{self, Account},
    exec::{call_spend, check_stateless},
    kv::decode_value,
    models::{self, Holding, SCALE},
    staking::{self, Stake},
    BlockContext, Executor, Genesis, GenesisAccount, MemState, Overlay, Params,
};
use tessera_types::{
    tx::{Bps, ModelId, ModelSpec, RevenueSplit, Shares},
    Address, Amount, Call, ChainId, Event, Keypair, Receipt, SignedTransaction, Transaction,
    TxStatus,
};

const HOLDERS: usize = 10;
/// Key index of the account that pays revenue in (a paying module's stand-in).
const PAYER: usize = HOLDERS;
const MODELS: usize = 2;
const DEFAULT_SEED: u64 = 0x7e55_e7a0_0001;

fn seed() -> u64 {
    let seed = std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    static PRINT: std::sync::Once = std::sync::Once::new();
    PRINT.call_once(|| eprintln!("models_props seed {seed} (replay: PROPTEST_RNG_SEED={seed})"));
    seed
}

fn chain() -> ChainId {
    ChainId::new("models-prop").unwrap()
}

fn keys() -> Vec<Keypair> {
    (0..=PAYER as u64)
        .map(|s| Keypair::from_seed(s + 1))
        .collect()
}

fn genesis_state(keys: &[Keypair]) -> MemState {
    let genesis = Genesis {
        chain_id: chain(),
        genesis_time_ms: 0,
        params: Params::default(),
        accounts: keys
            .iter()
            .map(|k| GenesisAccount {
                address: k.address(),
                balance: Amount::from_base(1_000_000_000_000_000),
                bonded: Amount::ZERO,
                validator: None,
            })
            .collect(),
    };
    let mut state = MemState::new();
    apply(&mut state, genesis.build().unwrap());
    state
}

fn apply(state: &mut MemState, writes: Vec<tessera_state::Write>) {
    for (k, v) in writes {
        match v {
            Some(v) => state.insert(k, v),
            None => state.remove(&k),
        };
    }
}

fn spec(name: &str, total_shares: u64) -> ModelSpec {
    ModelSpec {
        name: name.into(),
        manifest_cid: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy".into(),
        runtime: "llama-gguf".into(),
        license: "MIT".into(),
        total_shares: Shares::new(total_shares),
        price_base_per_call: Amount::from_base(10),
        price_base_per_token: Amount::from_base(1),
        split: RevenueSplit {
            compute_bps: Bps::new(7_000),
            owners_bps: Bps::new(2_000),
            data_bps: Bps::ZERO,
            treasury_bps: Bps::new(1_000),
        },
        data_links: vec![],
    }
}

/// One generated step.
#[derive(Clone, Debug)]
enum Op {
    /// `pct` percent of the sender's shares (over 100 fails, 0 fails).
    Transfer {
        model: usize,
        from: usize,
        to: usize,
        pct: u64,
    },
    Credit {
        model: usize,
        amount: u128,
    },
    Claim {
        model: usize,
        holder: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let transfer =
        (0..MODELS, 0..HOLDERS, 0..HOLDERS, 0u64..=120).prop_map(|(model, from, to, pct)| {
            Op::Transfer {
                model,
                from,
                to,
                pct,
            }
        });
    let amount = prop_oneof![0u128..1_000, 0u128..1_000_000_000_000];
    let credit = (0..MODELS, amount).prop_map(|(model, amount)| Op::Credit { model, amount });
    let claim = (0..MODELS, 0..HOLDERS).prop_map(|(model, holder)| Op::Claim { model, holder });
    prop_oneof![4 => transfer, 3 => credit, 3 => claim]
}

fn total_shares() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(1u64),
        Just(3),
        Just(7),
        1u64..1_000,
        Just(999_983),
        Just(1_000_000_000)
    ]
}

/// What the test expects, computed independently of the module.
struct Expected {
    ids: Vec<ModelId>,
    totals: Vec<u64>,
    shares: Vec<Vec<u64>>,
    /// Exact pro-rata royalties of each holder, as a numerator over the model's total.
    exact_num: Vec<Vec<u128>>,
    received: Vec<Vec<u128>>,
    credited: Vec<u128>,
    paid: Vec<u128>,
    credits: Vec<u128>,
}

impl Expected {
    fn new(ids: Vec<ModelId>, totals: Vec<u64>) -> Expected {
        let mut shares = vec![vec![0u64; HOLDERS]; MODELS];
        for (m, total) in totals.iter().enumerate() {
            shares[m][m] = *total; // model m's creator is holder m
        }
        Expected {
            ids,
            totals,
            shares,
            exact_num: vec![vec![0; HOLDERS]; MODELS],
            received: vec![vec![0; HOLDERS]; MODELS],
            credited: vec![0; MODELS],
            paid: vec![0; MODELS],
            credits: vec![0; MODELS],
        }
    }

    fn credit(&mut self, m: usize, amount: u128) {
        for (h, shares) in self.shares[m].iter().enumerate() {
            self.exact_num[m][h] += amount * u128::from(*shares);
        }
        self.credited[m] += amount;
        self.credits[m] += 1;
    }
}

/// Signs and applies transactions block by block.
struct Chain {
    keys: Vec<Keypair>,
    addrs: Vec<Address>,
    nonces: Vec<u64>,
    state: MemState,
    height: u64,
}

impl Chain {
    fn new() -> Chain {
        let keys = keys();
        let state = genesis_state(&keys);
        let addrs = keys.iter().map(Keypair::address).collect();
        Chain {
            nonces: vec![0; keys.len()],
            keys,
            addrs,
            state,
            height: 0,
        }
    }

    fn sign(&mut self, signer: usize, call: Call) -> SignedTransaction {
        let tx = Transaction {
            chain_id: chain(),
            signer: self.keys[signer].public_key().clone(),
            nonce: self.nonces[signer],
            max_fee: Amount::from_base(1_000_000_000),
            call,
        };
        self.nonces[signer] += 1;
        tx.sign(&self.keys[signer]).unwrap()
    }

    /// Run one block of `(signer, call)`; every transaction must be admitted.
    fn block(&mut self, calls: Vec<(usize, Call)>) -> Vec<Receipt> {
        let txs: Vec<_> = calls.into_iter().map(|(s, c)| self.sign(s, c)).collect();
        self.height += 1;
        let ctx = BlockContext {
            chain_id: chain(),
            height: self.height,
            view: self.height,
            proposer: Keypair::from_seed(100).address(),
        };
        let base = self.state.clone();
        let mut exec = Executor::new(&base, ctx).unwrap();
        for tx in &txs {
            exec.apply(tx).unwrap();
        }
        let outcome = exec.finish().unwrap();
        apply(&mut self.state, outcome.writes);
        outcome.receipts.txs
    }

    /// Credit revenue through the hook, as a paying module would (outside any tx).
    fn credit(&mut self, model: ModelId, amount: u128) -> Option<Event> {
        let base = self.state.clone();
        let mut overlay = Overlay::new(&base);
        let payer = self.addrs[PAYER];
        let event =
            models::credit_revenue(&mut overlay, model, &payer, Amount::from_base(amount)).unwrap();
        apply(&mut self.state, overlay.into_writes());
        event
    }

    fn view(&self) -> Overlay<'_> {
        Overlay::new(&self.state)
    }
}

/// Σ balances + Σ bonded + Σ unbonding over the whole state (escrows are balances).
fn ledger_holdings(state: &MemState) -> u128 {
    let mut total = 0u128;
    for (k, v) in state {
        if k.starts_with(bank::ACCOUNT_PREFIX) {
            total += decode_value::<Account>(k, v).unwrap().balance.base();
        } else if k.starts_with(staking::STAKE_PREFIX) {
            let s = decode_value::<Stake>(k, v).unwrap();
            total += s.bonded.base() + s.unbonding_total().unwrap().base();
        }
    }
    total
}

/// Every stored holding of `model`, by address.
fn holdings(state: &MemState, model: ModelId) -> BTreeMap<Address, Holding> {
    let prefix = models::holder_key(model, &Address([0; 32]));
    let prefix = &prefix[..prefix.len() - 32];
    state
        .range(prefix.to_vec()..)
        .take_while(|(k, _)| k.starts_with(prefix))
        .map(|(k, v)| {
            let addr: [u8; 32] = k[prefix.len()..].try_into().unwrap();
            (Address(addr), decode_value::<Holding>(k, v).unwrap())
        })
        .collect()
}

fn check_invariants(chain: &Chain, exp: &Expected) -> Result<(), TestCaseError> {
    let view = chain.view();
    let mut owed_to_escrow = 0u128;
    for m in 0..MODELS {
        let id = exp.ids[m];
        let stored = holdings(&chain.state, id);
        // Shares conserved, and where the test expects them.
        let sum: u64 = stored.values().map(|h| h.shares.get()).sum();
        prop_assert_eq!(sum, exp.totals[m]);
        for (h, addr) in chain.addrs.iter().take(HOLDERS).enumerate() {
            let held = stored.get(addr).map_or(0, |x| x.shares.get());
            prop_assert_eq!(held, exp.shares[m][h], "model {} holder {}", m, h);
        }
        prop_assert!(stored.keys().all(|a| chain.addrs[..HOLDERS].contains(a)));
        // Royalties conserved exactly, in sub-units.
        let pool = models::pool(&view, id).unwrap();
        prop_assert_eq!(pool.credited.base(), exp.credited[m]);
        prop_assert_eq!(pool.paid.base(), exp.paid[m]);
        prop_assert!(pool.paid <= pool.credited);
        let mut accrued_sub = 0u128;
        let mut whole = 0u128;
        for addr in stored.keys() {
            let settled = models::accrued(&view, id, addr).unwrap();
            prop_assert!(settled.dust_sub < SCALE);
            accrued_sub += settled.claimable.base() * SCALE + settled.dust_sub;
            whole += settled.claimable.base();
        }
        prop_assert!(pool.undistributed_sub < u128::from(exp.totals[m]));
        prop_assert_eq!(
            pool.credited.base() * SCALE,
            pool.paid.base() * SCALE + accrued_sub + pool.undistributed_sub,
            "sub-unit conservation of model {}",
            m
        );
        // In whole base units: less than one per holder (plus one) is still in fractions.
        let in_fractions = pool.credited.base() - pool.paid.base() - whole;
        prop_assert!(
            in_fractions <= stored.len() as u128,
            "{} in fractions",
            in_fractions
        );
        owed_to_escrow += pool.credited.base() - pool.paid.base();
    }
    let escrow = bank::account(&view, &models::escrow()).unwrap().balance;
    prop_assert_eq!(escrow.base(), owed_to_escrow);
    let supply = bank::supply(&view).unwrap().total().unwrap();
    prop_assert_eq!(ledger_holdings(&chain.state), supply.base());
    Ok(())
}

/// Register the two models in block 1 (model m created by holder m).
fn register(chain: &mut Chain, totals: &[u64]) -> Vec<ModelId> {
    let calls = totals
        .iter()
        .enumerate()
        .map(|(m, t)| (m, Call::RegisterModel(spec(&format!("model-{m}"), *t))))
        .collect();
    chain
        .block(calls)
        .iter()
        .map(|r| match r.events.as_slice() {
            [Event::Fee { .. }, Event::ModelRegistered { model, .. }] => *model,
            other => panic!("registration failed: {:?} {other:?}", r.status),
        })
        .collect()
}

/// Record a transfer's or claim's receipt in `exp`, checking it against the prediction.
fn record_tx(
    exp: &mut Expected,
    op: &Op,
    predicted: u128,
    receipt: &Receipt,
) -> Result<(), TestCaseError> {
    let ok = receipt.status == TxStatus::Success;
    match *op {
        Op::Transfer {
            model, from, to, ..
        } => {
            let amount = predicted as u64;
            let valid = amount > 0 && from != to && amount <= exp.shares[model][from];
            prop_assert_eq!(ok, valid, "transfer {:?}: {:?}", op, receipt.status);
            if ok {
                exp.shares[model][from] -= amount;
                exp.shares[model][to] += amount;
            }
        }
        Op::Claim { model, holder } => {
            prop_assert_eq!(ok, predicted > 0, "claim {:?}: {:?}", op, receipt.status);
            if ok {
                let paid = match receipt.events.last() {
                    Some(Event::RoyaltiesClaimed { amount, .. }) => amount.base(),
                    other => return Err(TestCaseError::fail(format!("{other:?}"))),
                };
                prop_assert_eq!(paid, predicted);
                exp.received[model][holder] += paid;
                exp.paid[model] += paid;
            }
        }
        Op::Credit { .. } => {}
    }
    Ok(())
}

/// Build the call for a transfer or claim, and what it should move.
fn call_for(chain: &Chain, exp: &Expected, op: &Op) -> (usize, Call, u128) {
    match *op {
        Op::Transfer {
            model,
            from,
            to,
            pct,
        } => {
            let held = u128::from(exp.shares[model][from]);
            let amount = (held * u128::from(pct) / 100) as u64;
            let call = Call::TransferShares {
                model: exp.ids[model],
                to: chain.addrs[to],
                amount: Shares::new(amount),
            };
            (from, call, u128::from(amount))
        }
        Op::Claim { model, holder } => {
            let id = exp.ids[model];
            let due = models::accrued(&chain.view(), id, &chain.addrs[holder]).unwrap();
            (
                holder,
                Call::ClaimRoyalties { model: id },
                due.claimable.base(),
            )
        }
        Op::Credit { .. } => unreachable!("credits are not transactions"),
    }
}

fn run(ops: &[Op], totals: &[u64]) -> Result<(), TestCaseError> {
    let mut chain = Chain::new();
    let ids = register(&mut chain, totals);
    let mut exp = Expected::new(ids, totals.to_vec());
    check_invariants(&chain, &exp)?;
    for op in ops {
        if let Op::Credit { model, amount } = *op {
            let event = chain.credit(exp.ids[model], amount);
            prop_assert_eq!(event.is_some(), amount > 0);
            if amount > 0 {
                exp.credit(model, amount);
            }
        } else {
            // One transaction per block, so each prediction sees the state it runs on.
            let (signer, call, predicted) = call_for(&chain, &exp, op);
            if let Op::Transfer { from, to, .. } = *op {
                if predicted == 0 || from == to {
                    // Stateless rules refuse it at admission: it never reaches a block.
                    let refused = check_stateless(&self::chain(), &chain.addrs[signer], &call);
                    prop_assert!(refused.is_err(), "{:?} admitted", op);
                    check_invariants(&chain, &exp)?;
                    continue;
                }
            }
            let receipts = chain.block(vec![(signer, call)]);
            record_tx(&mut exp, op, predicted, &receipts[0])?;
        }
        check_invariants(&chain, &exp)?;
    }
    claim_everything(&mut chain, &mut exp)?;
    check_fairness(&exp)
}

/// Every holder with something to claim claims it (one block).
fn claim_everything(chain: &mut Chain, exp: &mut Expected) -> Result<(), TestCaseError> {
    let mut claims = Vec::new();
    for m in 0..MODELS {
        for h in 0..HOLDERS {
            let op = Op::Claim {
                model: m,
                holder: h,
            };
            let (signer, call, due) = call_for(chain, exp, &op);
            if due > 0 {
                claims.push((op, signer, call, due));
            }
        }
    }
    let calls = claims.iter().map(|(_, s, c, _)| (*s, c.clone())).collect();
    let receipts = chain.block(calls);
    for ((op, _, _, due), receipt) in claims.iter().zip(&receipts) {
        record_tx(exp, op, *due, receipt)?;
    }
    check_invariants(chain, exp)
}

/// Each holder received its exact pro-rata share to within the documented rounding.
fn check_fairness(exp: &Expected) -> Result<(), TestCaseError> {
    for m in 0..MODELS {
        let total = u128::from(exp.totals[m]);
        let credits = exp.credits[m];
        for h in 0..HOLDERS {
            let got = exp.received[m][h] * total;
            let exact = exp.exact_num[m][h];
            // |received − exact| ≤ number of credits (the bound) …
            prop_assert!(
                got.abs_diff(exact) <= credits * total,
                "m{} h{}: {} vs {}/{}",
                m,
                h,
                got,
                exact,
                total
            );
            // … and, since total_shares ≪ SCALE here, received ∈ (exact − 2, exact + 1).
            prop_assert!(got < exact + total, "m{} h{} over-paid", m, h);
            prop_assert!(exact < got + 2 * total, "m{} h{} under-paid", m, h);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(seed()),
        ..ProptestConfig::default()
    })]

    #[test]
    fn royalty_and_share_invariants_hold(
        ops in prop::collection::vec(op(), 1..80),
        totals in prop::collection::vec(total_shares(), MODELS),
    ) {
        run(&ops, &totals)?;
    }
}

#[test]
fn over_transfer_fails_and_still_pays_the_fee() {
    let mut chain = Chain::new();
    let ids = register(&mut chain, &[10, 10]);
    let creator = chain.addrs[0];
    let before = bank::account(&chain.view(), &creator).unwrap();
    let call = Call::TransferShares {
        model: ids[0],
        to: chain.addrs[1],
        amount: Shares::new(11),
    };
    assert_eq!(call_spend(&call), Amount::ZERO);
    let receipt = chain.block(vec![(0, call)]).remove(0);
    match &receipt.status {
        TxStatus::Failed(failure) => assert_eq!(
            failure.code,
            tessera_state::StateError::InsufficientShares {
                model: ids[0],
                requested: Shares::new(11),
                available: Shares::new(10)
            }
            .code(),
            "{failure:?}"
        ),
        TxStatus::Success => panic!("over-transfer succeeded"),
    }
    assert!(!receipt.fee.is_zero());
    assert!(matches!(receipt.events.as_slice(), [Event::Fee { .. }]));
    let view = chain.view();
    let after = bank::account(&view, &creator).unwrap();
    assert_eq!(
        after.balance,
        before.balance.checked_sub(receipt.fee).unwrap()
    );
    assert_eq!(after.nonce, before.nonce + 1);
    let creator_shares = models::holding(&view, ids[0], &creator).unwrap().shares;
    assert_eq!(creator_shares, Shares::new(10));
    assert!(models::holding(&view, ids[0], &chain.addrs[1])
        .unwrap()
        .is_empty());
}

#[test]
fn registration_through_the_executor_and_a_full_royalty_cycle() {
    let mut chain = Chain::new();
    let ids = register(&mut chain, &[4, 1]);
    let mut exp = Expected::new(ids.clone(), vec![4, 1]);
    let transfer = Op::Transfer {
        model: 0,
        from: 0,
        to: 5,
        pct: 75,
    };
    let (signer, call, amount) = call_for(&chain, &exp, &transfer);
    let receipt = chain.block(vec![(signer, call)]).remove(0);
    record_tx(&mut exp, &transfer, amount, &receipt).unwrap();
    chain.credit(ids[0], 1_001).unwrap();
    exp.credit(0, 1_001);
    claim_everything(&mut chain, &mut exp).unwrap();
    assert_eq!(exp.received[0][0], 250);
    assert_eq!(exp.received[0][5], 750);
    check_fairness(&exp).unwrap();
    // A duplicate name fails as a call: the fee is paid, nothing is registered.
    let receipts = chain.block(vec![(3, Call::RegisterModel(spec("model-0", 5)))]);
    assert!(
        matches!(&receipts[0].status, TxStatus::Failed(f) if tessera_state::error::render(f).contains("already taken"))
    );
    assert_eq!(
        models::model_id_by_name(&chain.view(), "model-0").unwrap(),
        Some(ids[0])
    );
}
