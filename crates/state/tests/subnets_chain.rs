//! Subnets on chain, through signed transactions and whole blocks: creation and its lock,
//! registration by burn and replacement, commit-reveal, delegation and takes, and epochs
//! that pay out exactly what accrued. The ledger's supply invariant is checked after
//! every block of every test.
#![cfg(test)]

mod support;

use support::{ledger_holdings, supply, Chain, TSR};
use tessera_state::{
    bank,
    error::render,
    staking,
    subnets::{
        error::SubnetError,
        metagraph, registry,
        stake::{self, MAX_DELEGATIONS},
        tempo::escrow,
        weights::commit_hash,
    },
    BlockContext, Executor, StateError,
};
use tessera_types::{
    channel::Price,
    subnet::{Role, SubnetEvent, SubnetId, SubnetParams, UidWeight},
    Amount, Call, Event, Hash, Keypair, Transaction,
};

const TEMPO: u64 = 10;

fn hyper() -> SubnetParams {
    SubnetParams {
        tempo_blocks: TEMPO,
        immunity_period_blocks: 5,
        max_uids: 4,
        max_validators: 2,
        weights_rate_limit_blocks: 1,
        activity_cutoff_blocks: 1_000,
        burn: Amount::from_base(TSR),
        ..SubnetParams::default()
    }
}

fn create(chain: &mut Chain, owner: usize, name: &str, hyper: SubnetParams) -> SubnetId {
    let events = chain
        .call(
            owner,
            Call::CreateSubnet {
                name: name.into(),
                model: None,
                params: hyper,
            },
        )
        .unwrap();
    events
        .iter()
        .find_map(|e| match e {
            Event::Subnet(SubnetEvent::SubnetCreated { subnet, .. }) => Some(*subnet),
            _ => None,
        })
        .unwrap()
}

/// The ledger invariant, and that the escrow holds exactly the subnets' pending emission.
fn check_books(chain: &Chain) {
    assert_eq!(ledger_holdings(&chain.state), supply(chain), "supply");
    let view = chain.view();
    let pending: u128 = registry::all(&view)
        .unwrap()
        .iter()
        .map(|(_, s)| s.pending_emission.base())
        .sum();
    assert_eq!(
        chain.balance(&escrow()),
        pending,
        "escrow = pending emission"
    );
}

fn run_to(chain: &mut Chain, height: u64) {
    while chain.height < height {
        chain.block(Vec::new());
        check_books(chain);
    }
}

fn subnet_err(result: Result<Vec<Event>, StateError>) -> SubnetError {
    match result {
        Err(StateError::Subnet(e)) => e,
        other => panic!("expected a subnet error, got {other:?}"),
    }
}

#[test]
fn create_locks_stake_and_names_are_unique() {
    let mut chain = Chain::new(3);
    let before = staking::stake(&chain.view(), &chain.addr(0)).unwrap();
    let id = create(&mut chain, 0, "code-review", hyper());
    assert_eq!(id, SubnetId(1));
    let after = staking::stake(&chain.view(), &chain.addr(0)).unwrap();
    let lock = support::params().subnet_lock_cost;
    assert_eq!(after.locked.base() - before.locked.base(), lock.base());
    assert_eq!(after.bonded.base() - before.bonded.base(), lock.base());
    let again = chain.call(
        1,
        Call::CreateSubnet {
            name: "code-review".into(),
            model: None,
            params: hyper(),
        },
    );
    assert_eq!(subnet_err(again), SubnetError::NameTaken { subnet: id });
    check_books(&chain);
}

#[test]
fn bad_names_and_hyperparameters_are_refused_at_admission() {
    let chain = Chain::new(1);
    let ctx = BlockContext {
        chain_id: support::chain_id(),
        height: 1,
        view: 1,
        proposer: Keypair::from_seed(999).address(),
    };
    let exec = Executor::new(&chain.state, ctx).unwrap();
    let key = &chain.keys[0];
    let sign = |call: Call| {
        Transaction {
            chain_id: support::chain_id(),
            signer: key.public_key().clone(),
            nonce: 0,
            max_fee: Amount::from_base(TSR),
            call,
        }
        .sign(key)
        .unwrap()
    };
    let bad = [
        ("Caps", hyper()),
        ("", hyper()),
        (
            "tempo-one",
            SubnetParams {
                tempo_blocks: 1,
                ..hyper()
            },
        ),
        (
            "minority-kappa",
            SubnetParams {
                kappa_bps: 4_999,
                ..hyper()
            },
        ),
        (
            "too-many-uids",
            SubnetParams {
                max_uids: 5_000,
                ..hyper()
            },
        ),
        (
            "free-burn",
            SubnetParams {
                burn: Amount::ZERO,
                ..hyper()
            },
        ),
    ];
    for (name, params) in bad {
        let tx = sign(Call::CreateSubnet {
            name: name.into(),
            model: None,
            params,
        });
        let err = exec.check(&tx).unwrap_err();
        assert!(matches!(err, StateError::Subnet(_)), "{name}: {err}");
    }
    let too_high = sign(Call::SetTake { take_bps: 1_801 });
    assert!(exec.check(&too_high).is_err());
}

#[test]
fn registration_burns_and_replaces_the_lowest_scored_non_immune_uid() {
    let mut chain = Chain::new(7);
    let id = create(&mut chain, 0, "sybils", hyper());
    let burned_before = bank::supply(&chain.view()).unwrap().burned.base();
    for who in 1..=4 {
        chain
            .call(
                who,
                Call::RegisterUid {
                    subnet: id,
                    role: Role::Miner,
                },
            )
            .unwrap();
    }
    let burned = bank::supply(&chain.view()).unwrap().burned.base() - burned_before;
    assert!(burned >= 4 * TSR, "four burns (plus fees) left the supply");
    // Full, and everyone registered within the immunity period: refused.
    let full = chain.call(
        5,
        Call::RegisterUid {
            subnet: id,
            role: Role::Miner,
        },
    );
    assert!(matches!(subnet_err(full), SubnetError::AllImmune { .. }));
    let later = chain.height + 6;
    run_to(&mut chain, later);
    let graph = metagraph::read(&chain.view(), id, chain.height)
        .unwrap()
        .unwrap();
    let next = graph
        .next_to_replace
        .clone()
        .expect("someone is replaceable");
    // All scores are equal (zero): the oldest registration goes first.
    assert_eq!(next.key, chain.addr(1));
    let events = chain
        .call(
            5,
            Call::RegisterUid {
                subnet: id,
                role: Role::Miner,
            },
        )
        .unwrap();
    let replaced = events.iter().find_map(|e| match e {
        Event::Subnet(SubnetEvent::UidRegistered { uid, replaced, .. }) => Some((*uid, *replaced)),
        _ => None,
    });
    assert_eq!(replaced, Some((next.uid, Some(chain.addr(1)))));
    let again = chain.call(
        5,
        Call::RegisterUid {
            subnet: id,
            role: Role::Miner,
        },
    );
    assert!(matches!(
        subnet_err(again),
        SubnetError::AlreadyRegistered { .. }
    ));
    check_books(&chain);
}

#[test]
fn a_model_subnet_takes_only_the_models_providers_as_miners() {
    let mut chain = Chain::new(3);
    let price = Price {
        per_call: Amount::from_base(1_000),
        per_token: Amount::ZERO,
    };
    let model = chain.register_model(0, price, &[]);
    chain
        .call(
            0,
            Call::CreateSubnet {
                name: "market".into(),
                model: Some(model),
                params: hyper(),
            },
        )
        .unwrap();
    let id = registry::id_by_model(&chain.view(), model)
        .unwrap()
        .unwrap();
    let refused = chain.call(
        1,
        Call::RegisterUid {
            subnet: id,
            role: Role::Miner,
        },
    );
    assert!(matches!(refused, Err(StateError::UnknownProvider { .. })));
    chain
        .call(
            1,
            Call::RegisterProvider {
                model,
                stake: Amount::from_base(100 * TSR),
                price,
                endpoint: "http://127.0.0.1:7301".into(),
            },
        )
        .unwrap();
    chain
        .call(
            1,
            Call::RegisterUid {
                subnet: id,
                role: Role::Miner,
            },
        )
        .unwrap();
    // A validator needs no provider registration.
    chain
        .call(
            2,
            Call::RegisterUid {
                subnet: id,
                role: Role::Validator,
            },
        )
        .unwrap();
    let second = chain.call(
        2,
        Call::CreateSubnet {
            name: "market-two".into(),
            model: Some(model),
            params: hyper(),
        },
    );
    assert!(matches!(
        subnet_err(second),
        SubnetError::ModelHasSubnet { .. }
    ));
    check_books(&chain);
}

/// Accounts: 0 owner, 1–2 miners, 3–4 validators, 5 a delegator.
struct World {
    chain: Chain,
    id: SubnetId,
}

fn world() -> World {
    let mut chain = Chain::new(6);
    let id = create(&mut chain, 0, "audit", hyper());
    for (who, role) in [
        (1, Role::Miner),
        (2, Role::Miner),
        (3, Role::Validator),
        (4, Role::Validator),
    ] {
        chain
            .call(who, Call::RegisterUid { subnet: id, role })
            .unwrap();
    }
    for v in [3, 4] {
        let validator = chain.addr(v);
        chain
            .call(
                v,
                Call::Delegate {
                    subnet: id,
                    validator,
                    amount: Amount::from_base(1_000 * TSR),
                },
            )
            .unwrap();
    }
    let mut w = World { chain, id };
    // The first epoch finds the validators' stake matured (maturity is 2 blocks here);
    // emission accrues from then on, and the next call opens a tempo.
    w.through_epoch();
    w
}

fn weights(pairs: &[(u16, u16)]) -> Vec<UidWeight> {
    pairs
        .iter()
        .map(|(uid, weight)| UidWeight {
            uid: *uid,
            weight: *weight,
        })
        .collect()
}

impl World {
    fn tempo(&self) -> u64 {
        let s = registry::existing(&self.chain.view(), self.id).unwrap();
        s.tempo_of(self.chain.height + 1)
    }

    fn commit(
        &mut self,
        who: usize,
        pairs: &[(u16, u16)],
        salt: u8,
    ) -> Result<Vec<Event>, StateError> {
        let addr = self.chain.addr(who);
        let w: Vec<(u16, u16)> = pairs.to_vec();
        let hash = commit_hash(&addr, self.id.0, &w, &[salt; 32]);
        self.chain.call(
            who,
            Call::CommitWeights {
                subnet: self.id,
                hash,
            },
        )
    }

    fn reveal(
        &mut self,
        who: usize,
        pairs: &[(u16, u16)],
        salt: u8,
    ) -> Result<Vec<Event>, StateError> {
        self.chain.call(
            who,
            Call::RevealWeights {
                subnet: self.id,
                weights: weights(pairs),
                salt: Hash([salt; 32]),
            },
        )
    }

    /// `validators` commit `pairs` in one block, then reveal them in one block of the
    /// next tempo.
    fn set_weights_together(&mut self, validators: &[usize], pairs: &[(u16, u16)]) {
        let id = self.id;
        let commits = validators
            .iter()
            .map(|v| {
                let hash = commit_hash(&self.chain.addr(*v), id.0, pairs, &[9; 32]);
                (*v, Call::CommitWeights { subnet: id, hash })
            })
            .collect();
        for r in self.chain.block(commits) {
            assert_eq!(r.status, tessera_types::TxStatus::Success);
        }
        self.next_tempo();
        let reveals = validators
            .iter()
            .map(|v| {
                let call = Call::RevealWeights {
                    subnet: id,
                    weights: weights(pairs),
                    salt: Hash([9; 32]),
                };
                (*v, call)
            })
            .collect();
        for r in self.chain.block(reveals) {
            assert_eq!(r.status, tessera_types::TxStatus::Success);
        }
    }

    /// Blocks until the first block of the next tempo.
    fn next_tempo(&mut self) {
        let s = registry::existing(&self.chain.view(), self.id).unwrap();
        let t = s.tempo_of(self.chain.height + 1);
        let start = s.created_at + (t + 1) * TEMPO;
        run_to(&mut self.chain, start - 1);
    }

    /// Empty blocks through the next epoch, which must run and pay all it held.
    fn through_epoch(&mut self) {
        let s = registry::existing(&self.chain.view(), self.id).unwrap();
        run_to(&mut self.chain, s.next_epoch_block());
        let after = registry::existing(&self.chain.view(), self.id).unwrap();
        assert_eq!(after.epochs, s.epochs + 1);
        assert_eq!(after.pending_emission, Amount::ZERO);
    }

    fn emission_of(&self, who: usize) -> u128 {
        let graph = metagraph::read(&self.chain.view(), self.id, self.chain.height)
            .unwrap()
            .unwrap();
        graph
            .rows
            .iter()
            .find(|r| r.key == self.chain.addr(who))
            .map(|r| r.emission.base())
            .unwrap()
    }
}

#[test]
fn commit_reveal_windows_and_errors() {
    let mut w = world();
    // Miners do not set weights.
    assert_eq!(
        subnet_err(w.commit(1, &[(0, 1)], 1)),
        SubnetError::NotValidatorUid { uid: 0 }
    );
    let t = w.tempo();
    w.commit(3, &[(0, 1), (1, 1)], 7).unwrap();
    // One commit per tempo.
    let twice = w.commit(3, &[(0, 1)], 8);
    assert!(matches!(
        subnet_err(twice),
        SubnetError::AlreadyCommitted { .. }
    ));
    // Same tempo: too early.
    assert_eq!(w.tempo(), t);
    assert_eq!(
        subnet_err(w.reveal(3, &[(0, 1), (1, 1)], 7)),
        SubnetError::RevealTooEarly { committed: t }
    );
    w.next_tempo();
    // Other weights or salt than committed: no match.
    assert_eq!(
        subnet_err(w.reveal(3, &[(0, 2), (1, 1)], 7)),
        SubnetError::NoMatchingCommit
    );
    assert_eq!(
        subnet_err(w.reveal(3, &[(0, 1), (1, 1)], 9)),
        SubnetError::NoMatchingCommit
    );
    w.reveal(3, &[(0, 1), (1, 1)], 7).unwrap();
    let n = registry::neuron(&w.chain.view(), w.id, 2).unwrap();
    assert_eq!(n.weights.revealed, vec![(0, 1), (1, 1)]);
    // A commit whose reveal window passed expires; the revealed weights stay.
    w.commit(3, &[(0, 1)], 3).unwrap();
    w.next_tempo();
    w.next_tempo();
    assert!(matches!(
        subnet_err(w.reveal(3, &[(0, 1)], 3)),
        SubnetError::NoMatchingCommit
    ));
    let n = registry::neuron(&w.chain.view(), w.id, 2).unwrap();
    assert_eq!(n.weights.revealed, vec![(0, 1), (1, 1)]);
    check_books(&w.chain);
}

#[test]
fn epochs_pay_miners_by_consensus_weights_and_every_unit_is_accounted_for() {
    let mut w = world();
    // Both validators weight miner 0 (UID 0) three times miner 1 (UID 1), in the same
    // blocks (a validator that reveals a block earlier bonds an epoch earlier).
    w.set_weights_together(&[3, 4], &[(0, 3), (1, 1)]);
    let owner_before = w.chain.balance(&w.chain.addr(0));
    let miner_before = [
        w.chain.balance(&w.chain.addr(1)),
        w.chain.balance(&w.chain.addr(2)),
    ];
    w.through_epoch();
    let (m0, m1) = (w.emission_of(1), w.emission_of(2));
    assert!(m0 > 0 && m1 > 0, "both miners earn: {m0} {m1}");
    // 3:1 weights → 3:1 incentive (within rounding).
    assert!(m0.abs_diff(3 * m1) <= 3, "{m0} vs 3 × {m1}");
    assert_eq!(w.chain.balance(&w.chain.addr(1)) - miner_before[0], m0);
    assert_eq!(w.chain.balance(&w.chain.addr(2)) - miner_before[1], m1);
    assert!(
        w.chain.balance(&w.chain.addr(0)) > owner_before,
        "owner's cut"
    );
    // A second epoch with the same weights: validators earn dividends from bonds.
    w.through_epoch();
    let (v3, v4) = (w.emission_of(3), w.emission_of(4));
    assert!(v3 > 0 && v4 > 0, "validators earn: {v3} {v4}");
    assert!(
        v3.abs_diff(v4) <= 2,
        "equal stake, equal weights: {v3} {v4}"
    );
    check_books(&w.chain);
}

#[test]
fn delegators_share_dividends_minus_the_take_and_undelegation_unbonds() {
    let mut w = world();
    let v = w.chain.addr(3);
    w.chain.call(3, Call::SetTake { take_bps: 1_000 }).unwrap();
    // Raising again at once is refused (the delay); lowering is fine.
    let raise = w.chain.call(3, Call::SetTake { take_bps: 1_500 });
    assert!(matches!(
        subnet_err(raise),
        SubnetError::TakeRaiseTooSoon { .. }
    ));
    w.chain
        .call(
            5,
            Call::Delegate {
                subnet: w.id,
                validator: v,
                amount: Amount::from_base(1_000 * TSR),
            },
        )
        .unwrap();
    assert_eq!(
        stake::validator_stake(&w.chain.view(), w.id, &v).unwrap(),
        Amount::from_base(2_000 * TSR)
    );
    // Delegating to a miner is refused.
    let miner = w.chain.addr(1);
    let to_miner = w.chain.call(
        5,
        Call::Delegate {
            subnet: w.id,
            validator: miner,
            amount: Amount::from_base(TSR),
        },
    );
    assert!(matches!(
        subnet_err(to_miner),
        SubnetError::NotValidatorUid { .. }
    ));
    for who in [3, 4] {
        w.commit(who, &[(0, 1), (1, 1)], 1).unwrap();
    }
    w.next_tempo();
    for who in [3, 4] {
        w.reveal(who, &[(0, 1), (1, 1)], 1).unwrap();
    }
    w.through_epoch();
    let delegator_before = w.chain.balance(&w.chain.addr(5));
    let validator_before = w.chain.balance(&v);
    w.through_epoch();
    let earned = w.emission_of(3);
    assert!(earned > 0);
    let to_delegator = w.chain.balance(&w.chain.addr(5)) - delegator_before;
    let to_validator = w.chain.balance(&v) - validator_before;
    assert_eq!(
        to_delegator + to_validator,
        earned,
        "the part is shared whole"
    );
    // Half the stake, less the 10% take: 45% of the part (rounded down).
    let expected = (earned - earned / 10) / 2;
    assert!(
        to_delegator.abs_diff(expected) <= 1,
        "{to_delegator} vs {expected}"
    );

    let refused = w.chain.call(
        5,
        Call::Undelegate {
            subnet: w.id,
            validator: v,
            amount: Amount::from_base(1_001 * TSR),
        },
    );
    assert!(matches!(
        subnet_err(refused),
        SubnetError::NotDelegated { .. }
    ));
    let events = w
        .chain
        .call(
            5,
            Call::Undelegate {
                subnet: w.id,
                validator: v,
                amount: Amount::from_base(1_000 * TSR),
            },
        )
        .unwrap();
    assert!(events.iter().any(|e| matches!(e, Event::Unbonding { .. })));
    let s = staking::stake(&w.chain.view(), &w.chain.addr(5)).unwrap();
    assert_eq!(s.locked, Amount::ZERO);
    assert_eq!(
        stake::validator_stake(&w.chain.view(), w.id, &v).unwrap(),
        Amount::from_base(1_000 * TSR)
    );
    check_books(&w.chain);
}

#[test]
fn a_validator_takes_a_bounded_number_of_delegations() {
    let mut chain = Chain::new(MAX_DELEGATIONS + 3);
    let id = create(&mut chain, 0, "crowded", hyper());
    chain
        .call(
            1,
            Call::RegisterUid {
                subnet: id,
                role: Role::Validator,
            },
        )
        .unwrap();
    let v = chain.addr(1);
    for who in 1..=MAX_DELEGATIONS {
        chain
            .call(
                who,
                Call::Delegate {
                    subnet: id,
                    validator: v,
                    amount: Amount::from_base(TSR),
                },
            )
            .unwrap();
    }
    let over = chain.call(
        MAX_DELEGATIONS + 1,
        Call::Delegate {
            subnet: id,
            validator: v,
            amount: Amount::from_base(TSR),
        },
    );
    assert!(matches!(
        subnet_err(over),
        SubnetError::TooManyDelegators { .. }
    ));
    // Dust cannot take a slot elsewhere either.
    chain
        .call(
            2,
            Call::RegisterUid {
                subnet: id,
                role: Role::Validator,
            },
        )
        .unwrap();
    let dust = chain.call(
        MAX_DELEGATIONS + 1,
        Call::Delegate {
            subnet: id,
            validator: chain.addr(2),
            amount: Amount::from_base(TSR - 1),
        },
    );
    assert!(matches!(
        subnet_err(dust),
        SubnetError::DelegationTooSmall { .. }
    ));
    // Account 2 holds no stake, so the first epoch gives it no permit: its weights would
    // not count, and it may not set any.
    let s = registry::existing(&chain.view(), id).unwrap();
    run_to(&mut chain, s.next_epoch_block());
    let hash = commit_hash(&chain.addr(2), id.0, &[(0, 1)], &[1; 32]);
    let refused = chain.call(2, Call::CommitWeights { subnet: id, hash });
    assert!(matches!(subnet_err(refused), SubnetError::NoPermit { .. }));
    check_books(&chain);
}

#[test]
fn a_sybil_that_serves_nothing_is_replaced_and_loses_its_burn() {
    let mut w = world();
    // Validators weight only miner UID 0; UID 1 (account 2) is the sybil.
    for v in [3, 4] {
        w.commit(v, &[(0, 1)], 2).unwrap();
    }
    w.next_tempo();
    for v in [3, 4] {
        w.reveal(v, &[(0, 1)], 2).unwrap();
    }
    w.through_epoch();
    assert_eq!(w.emission_of(2), 0, "the sybil earned nothing");
    assert!(w.emission_of(1) > 0);
    // The subnet is full (4 UIDs); a newcomer replaces the sybil, not the honest miner.
    let graph = metagraph::read(&w.chain.view(), w.id, w.chain.height)
        .unwrap()
        .unwrap();
    let next = graph.next_to_replace.unwrap();
    assert_eq!(next.key, w.chain.addr(2));
    let sybil_before = w.chain.balance(&w.chain.addr(2));
    w.chain
        .call(
            5,
            Call::RegisterUid {
                subnet: w.id,
                role: Role::Miner,
            },
        )
        .unwrap();
    let table = registry::uids(&w.chain.view(), w.id).unwrap();
    assert_eq!(table.uid_of(&w.chain.addr(2)), None);
    assert_eq!(w.chain.balance(&w.chain.addr(2)), sybil_before, "no refund");
    check_books(&w.chain);
}

#[test]
fn failure_texts_render() {
    let e = StateError::Subnet(SubnetError::RevealTooEarly { committed: 4 });
    let text = render(&e.failure());
    assert!(text.contains("tempo 4"), "{text}");
}

/// Pump and exit on chain: stake placed one block before an epoch and withdrawn right
/// after it shares none of that epoch's dividends (it had not matured), does not count
/// in the subnet's matured stake (so it draws no extra emission to the subnet), and
/// costs its fees and an unbonding period.
#[test]
fn a_pump_around_an_epoch_earns_nothing() {
    let mut w = world();
    w.set_weights_together(&[3, 4], &[(0, 1), (1, 1)]);
    w.through_epoch();
    let v = w.chain.addr(3);
    let pumper = w.chain.addr(5);
    let epoch = registry::existing(&w.chain.view(), w.id)
        .unwrap()
        .next_epoch_block();
    run_to(&mut w.chain, epoch - 2);
    let pump = Amount::from_base(100_000 * TSR);
    w.chain
        .call(
            5,
            Call::Delegate {
                subnet: w.id,
                validator: v,
                amount: pump,
            },
        )
        .unwrap();
    assert_eq!(w.chain.height, epoch - 1);
    let pumper_before = w.chain.balance(&pumper);
    let validator_before = w.chain.balance(&v);
    w.chain.block(Vec::new());
    check_books(&w.chain);
    let after = registry::existing(&w.chain.view(), w.id).unwrap();
    assert_eq!(after.last_epoch_block, epoch, "the epoch ran");
    let earned = w.emission_of(3);
    assert!(earned > 0);
    assert_eq!(
        w.chain.balance(&pumper),
        pumper_before,
        "the pump earned nothing"
    );
    assert_eq!(
        w.chain.balance(&v) - validator_before,
        earned,
        "the validator kept its whole part"
    );
    assert_eq!(
        after.matured_stake,
        Amount::from_base(2_000 * TSR),
        "the pump does not count as the subnet's matured stake"
    );
    // The exit: the stake unbonds for the unbonding period.
    w.chain
        .call(
            5,
            Call::Undelegate {
                subnet: w.id,
                validator: v,
                amount: pump,
            },
        )
        .unwrap();
    let s = staking::stake(&w.chain.view(), &pumper).unwrap();
    let unbonding: u128 = s.unbonding.iter().map(|e| e.amount.base()).sum();
    assert_eq!(unbonding, pump.base());
    check_books(&w.chain);
}

/// Dissolving: the owner only, once every delegation is withdrawn; the lock unbonds, the
/// emission not yet paid out is burned, and the name is free again.
#[test]
fn the_owner_dissolves_an_empty_subnet_and_its_lock_returns() {
    let mut w = world();
    let soon = w.chain.height + 3;
    run_to(&mut w.chain, soon);
    let pending = registry::existing(&w.chain.view(), w.id)
        .unwrap()
        .pending_emission;
    assert!(pending > Amount::ZERO, "emission waits for the next epoch");
    let dissolve = Call::DissolveSubnet { subnet: w.id };
    assert_eq!(
        subnet_err(w.chain.call(1, dissolve.clone())),
        SubnetError::NotOwner { subnet: w.id }
    );
    assert_eq!(
        subnet_err(w.chain.call(0, dissolve.clone())),
        SubnetError::SubnetHasStake { subnet: w.id }
    );
    for v in [3, 4] {
        let validator = w.chain.addr(v);
        w.chain
            .call(
                v,
                Call::Undelegate {
                    subnet: w.id,
                    validator,
                    amount: Amount::from_base(1_000 * TSR),
                },
            )
            .unwrap();
    }
    let owner = w.chain.addr(0);
    let locked_before = staking::stake(&w.chain.view(), &owner).unwrap().locked;
    let burned_before = bank::supply(&w.chain.view()).unwrap().burned;
    let events = w.chain.call(0, dissolve.clone()).unwrap();
    let (lock, burned) = events
        .iter()
        .find_map(|e| match e {
            Event::Subnet(SubnetEvent::SubnetDissolved { lock, burned, .. }) => {
                Some((*lock, *burned))
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(lock, support::params().subnet_lock_cost);
    assert!(burned > Amount::ZERO);
    let burned_after = bank::supply(&w.chain.view()).unwrap().burned;
    assert_eq!(burned_after.base() - burned_before.base(), burned.base());
    let s = staking::stake(&w.chain.view(), &owner).unwrap();
    assert_eq!(locked_before.base() - s.locked.base(), lock.base());
    assert!(s.unbonding.iter().any(|e| e.amount == lock));
    assert!(registry::subnet(&w.chain.view(), w.id).unwrap().is_none());
    assert!(registry::uids(&w.chain.view(), w.id)
        .unwrap()
        .slots
        .is_empty());
    check_books(&w.chain);
    // Gone: a second dissolve finds nothing, and the name can be taken again.
    assert!(matches!(
        subnet_err(w.chain.call(0, dissolve)),
        SubnetError::UnknownSubnet { .. }
    ));
    let later = w.chain.height + 2;
    run_to(&mut w.chain, later);
    let again = create(&mut w.chain, 1, "audit", hyper());
    assert_ne!(again, w.id);
}
