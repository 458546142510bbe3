//! A small chain for the market tests: funded keys, signed transactions applied block by
//! block through the [`Executor`] (so fees, nonces and failures are real), and a model
//! registered with data links and a per-token price.
#![allow(dead_code)]

use std::collections::BTreeMap;
use tessera_state::{
    bank::{self, Account},
    error::render,
    kv::decode_value,
    staking::{self, Stake},
    verify::{self, error::VerifyError},
    BlockContext, Executor, Genesis, GenesisAccount, MemState, Overlay, Params, StateError,
};
use tessera_types::{
    channel::{MarketEvent, Price},
    tx::{Bps, DataLink, ModelId, ModelSpec, RevenueSplit, Shares},
    Address, Amount, Call, ChainId, Event, Keypair, Receipt, SignedTransaction, Transaction,
    TxStatus,
};

pub const TSR: u128 = 1_000_000_000;

pub fn chain_id() -> ChainId {
    ChainId::new("market-test").unwrap()
}

/// Test parameters: short windows so expiry and refunds happen within a test.
pub fn params() -> Params {
    Params {
        unbonding_blocks: 20,
        epoch_blocks: 10,
        channel_claim_window_blocks: 5,
        max_channel_blocks: 1_000,
        min_provider_stake: Amount::from_base(100 * TSR),
        channel_claim_fee_bps: 100,
        subnet_maturity_blocks: 2,
        dispute_window_blocks: 10,
        ..Params::default()
    }
}

pub struct Chain {
    pub keys: Vec<Keypair>,
    pub nonces: Vec<u64>,
    pub state: MemState,
    pub height: u64,
}

impl Chain {
    /// `accounts` keys, each funded with 10^6 TSR.
    pub fn new(accounts: usize) -> Chain {
        let keys: Vec<Keypair> = (0..accounts as u64)
            .map(|s| Keypair::from_seed(s + 1))
            .collect();
        let genesis = Genesis {
            chain_id: chain_id(),
            genesis_time_ms: 0,
            params: params(),
            accounts: keys
                .iter()
                .map(|k| GenesisAccount {
                    address: k.address(),
                    balance: Amount::from_base(1_000_000 * TSR),
                    bonded: Amount::ZERO,
                    validator: None,
                })
                .collect(),
        };
        let mut state = MemState::new();
        apply(&mut state, genesis.build().unwrap());
        Chain {
            nonces: vec![0; keys.len()],
            keys,
            state,
            height: 0,
        }
    }

    pub fn addr(&self, who: usize) -> Address {
        self.keys[who].address()
    }

    pub fn sign(&mut self, signer: usize, call: Call) -> SignedTransaction {
        let tx = Transaction {
            chain_id: chain_id(),
            signer: self.keys[signer].public_key().clone(),
            nonce: self.nonces[signer],
            max_fee: Amount::from_base(TSR),
            call,
        };
        self.nonces[signer] += 1;
        tx.sign(&self.keys[signer]).unwrap()
    }

    /// One block of `(signer, call)`; every transaction must be admitted (its call may
    /// fail: see the receipts).
    pub fn block(&mut self, calls: Vec<(usize, Call)>) -> Vec<Receipt> {
        let txs: Vec<_> = calls.into_iter().map(|(s, c)| self.sign(s, c)).collect();
        self.height += 1;
        let ctx = BlockContext {
            chain_id: chain_id(),
            height: self.height,
            view: self.height,
            proposer: Keypair::from_seed(999).address(),
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

    /// One call in its own block: its events, or its error.
    pub fn call(&mut self, signer: usize, call: Call) -> Result<Vec<Event>, StateError> {
        let receipt = self.block(vec![(signer, call)]).remove(0);
        match receipt.status {
            TxStatus::Success => Ok(receipt.events),
            TxStatus::Failed(f) => {
                let _ = render(&f);
                Err(StateError::from_failure(&f))
            }
        }
    }

    /// Empty blocks until the height is `height`.
    pub fn advance_to(&mut self, height: u64) {
        while self.height < height {
            self.block(Vec::new());
        }
    }

    pub fn view(&self) -> Overlay<'_> {
        Overlay::new(&self.state)
    }

    pub fn balance(&self, who: &Address) -> u128 {
        bank::account(&self.view(), who).unwrap().balance.base()
    }

    /// Register the test model from account `creator`: priced `price`, split
    /// compute/owners/data/treasury = 50/30/10/10 %, data links to `data` (weights 1/3,
    /// 2/3 when two). Returns its id.
    pub fn register_model(&mut self, creator: usize, price: Price, data: &[Address]) -> ModelId {
        let weights: &[u16] = match data.len() {
            0 => &[],
            1 => &[10_000],
            _ => &[3_333, 6_667],
        };
        let spec = ModelSpec {
            name: format!("model-{}", self.height),
            manifest_cid: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy".into(),
            runtime: "llama-gguf".into(),
            license: "MIT".into(),
            total_shares: Shares::new(1_000),
            price_base_per_call: price.per_call,
            price_base_per_token: price.per_token,
            split: RevenueSplit {
                compute_bps: Bps::new(if data.is_empty() { 6_000 } else { 5_000 }),
                owners_bps: Bps::new(3_000),
                data_bps: Bps::new(if data.is_empty() { 0 } else { 1_000 }),
                treasury_bps: Bps::new(1_000),
            },
            data_links: data
                .iter()
                .zip(weights)
                .map(|(provider, w)| DataLink {
                    provider: *provider,
                    weight_bps: Bps::new(*w),
                })
                .collect(),
        };
        let events = self.call(creator, Call::RegisterModel(spec)).unwrap();
        events
            .iter()
            .find_map(|e| match e {
                Event::ModelRegistered { model, .. } => Some(*model),
                _ => None,
            })
            .unwrap()
    }
}

pub fn apply(state: &mut MemState, writes: Vec<tessera_state::Write>) {
    for (k, v) in writes {
        match v {
            Some(v) => state.insert(k, v),
            None => state.remove(&k),
        };
    }
}

/// Σ balances + Σ bonded + Σ unbonding over the whole state (escrows are balances).
pub fn ledger_holdings(state: &MemState) -> u128 {
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

/// The total supply.
pub fn supply(chain: &Chain) -> u128 {
    bank::supply(&chain.view()).unwrap().total().unwrap().base()
}

/// TSR burned since genesis (fees go to the treasury with the test parameters).
pub fn burned(chain: &Chain) -> u128 {
    bank::supply(&chain.view()).unwrap().burned.base()
}

/// The ledger invariant, and that the verify bonds account holds exactly the bonds of
/// the open disputes and overclaim reports.
pub fn check_verify_books(chain: &Chain) {
    assert_eq!(ledger_holdings(&chain.state), supply(chain), "supply");
    let view = chain.view();
    let disputes: u128 = verify::open(&view)
        .unwrap()
        .iter()
        .map(|(_, d)| d.bond.base())
        .sum();
    let overclaims: u128 = verify::overclaim::open(&view)
        .unwrap()
        .iter()
        .map(|(_, o)| o.bond.base())
        .sum();
    assert_eq!(
        chain.balance(&verify::bonds()),
        disputes + overclaims,
        "bonds = open bonds"
    );
}

/// The verify error a call failed with.
pub fn verify_err(result: Result<impl std::fmt::Debug, StateError>) -> VerifyError {
    match result {
        Err(StateError::Verify(e)) => e,
        other => panic!("expected a verify error, got {other:?}"),
    }
}

/// The market events of some receipts' events.
pub fn market(events: &[Event]) -> Vec<MarketEvent> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Market(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// Balances of some accounts, to compare before and after.
pub fn balances(chain: &Chain, who: &[Address]) -> BTreeMap<Address, u128> {
    who.iter().map(|a| (*a, chain.balance(a))).collect()
}
