//! Whole-network simulation: 4 or 7 validators run the chain under simplex + marshal over
//! `p2p::simulated` on the deterministic runtime (seeded: a failing seed replays exactly).
//!
//! `TESSERA_SIM_SEEDS=N` runs N seeds in the randomized-fault tests (default 16), from
//! `TESSERA_SIM_FIRST_SEED` (default 0): a failing seed index replays exactly alone.
#![cfg(test)]

use commonware_codec::Encode as _;
use commonware_consensus::{
    simplex::{
        scheme::ed25519,
        types::{Notarize, Proposal, Vote},
    },
    types::{Epoch, Round, View},
};
use commonware_cryptography::{
    ed25519::{PrivateKey, PublicKey},
    Signer as _,
};
use commonware_p2p::simulated::{self, Link, Network, Oracle};
use commonware_p2p::{
    utils::mux::{Muxer, SubReceiver, SubSender},
    Manager as _, Recipients, Sender as _, TrackedPeers,
};
use commonware_runtime::{
    deterministic, Clock as _, Handle, Quota, Runner as _, Spawner as _, Storage as _,
    Supervisor as _,
};
use commonware_utils::{ordered::Set, probability, NZUsize, NZU32};
use futures::channel::oneshot;
use std::{sync::Arc, time::Duration};
use tessera_chain::{
    genesis::{dev_genesis, dev_key, dev_transfer, DEV_CHAIN_ID},
    Chain, ChainConfig, TxLookup,
};
use tessera_consensus::{
    node::{
        max_message_bytes, CHANNEL_BACKFILL, CHANNEL_BROADCAST, CHANNEL_CERTIFICATES,
        CHANNEL_RESOLVER, CHANNEL_TXS, CHANNEL_VOTES,
    },
    Channels, Digest, EvidenceLog, Fault, FinalityReader, FinalityVerifier, NodeConfig, PeerSets,
};
use tessera_state::{bank, Params};
use tessera_types::{
    Address, Amount, Call, ChainId, Hash, Keypair, SignedTransaction, Transaction,
};

const VALIDATORS: usize = 4;
const VALIDATOR_STAKE_TSR: u128 = 100_000;
const MAX_BLOCK_BYTES: usize = 1024 * 1024;
const QUOTA: Quota = Quota::per_second(NZU32!(10_000));
const LINK: Link = Link {
    latency: Duration::from_millis(20),
    jitter: Duration::from_millis(5),
    success_rate: probability!(1.0),
};

type Ctx = deterministic::Context;

fn transfer(from: u64, nonce: u64, to: u64, base: u128) -> SignedTransaction {
    dev_transfer(
        &dev_key(from),
        nonce,
        dev_key(to).address(),
        Amount::from_base(base),
    )
}

fn validator_key(i: u64) -> PrivateKey {
    PrivateKey::from_seed(1_000 + i)
}

/// A started validator: its chain, the task owning its consensus, its evidence log.
type Started = (
    Arc<Chain<Ctx>>,
    Handle<()>,
    oneshot::Receiver<(EvidenceLog<Ctx>, FinalityReader)>,
);

struct Sim {
    oracle: Oracle<PublicKey, Ctx>,
    keys: Vec<PrivateKey>,
    /// Every validator node's key (the p2p pool); the first `bonded` are staked at genesis.
    validators: Vec<PublicKey>,
    bonded: usize,
    epoch_blocks: u64,
    /// Changes to the genesis parameters.
    params: fn(&mut Params),
    /// Every link's latency, jitter and delivery rate.
    link: Link,
}

/// The simulated network's peer sets: an epoch's participants primary, the rest secondary.
struct SimPeers {
    manager: simulated::Manager<PublicKey, Ctx>,
    pool: Vec<PublicKey>,
}

impl PeerSets for SimPeers {
    fn track(
        &mut self,
        epoch: Epoch,
        participants: &Set<PublicKey>,
        _addresses: &[(PublicKey, std::net::SocketAddr)],
    ) {
        let others = self
            .pool
            .iter()
            .filter(|k| participants.position(k).is_none())
            .cloned();
        let _ = self.manager.track(
            epoch.get(),
            TrackedPeers::new(participants.clone(), Set::from_iter_dedup(others)),
        );
    }
}

impl Sim {
    async fn new(context: &Ctx) -> Sim {
        Sim::with_validators(context, VALIDATORS).await
    }

    async fn with_validators(context: &Ctx, n: usize) -> Sim {
        Sim::with_pool(context, n, n, Params::default().epoch_blocks).await
    }

    /// `n` validator nodes, the first `bonded` of them staked at genesis, epochs of
    /// `epoch_blocks` blocks.
    async fn with_pool(context: &Ctx, n: usize, bonded: usize, epoch_blocks: u64) -> Sim {
        let keys: Vec<PrivateKey> = (0..n as u64).map(validator_key).collect();
        let validators: Vec<PublicKey> = keys.iter().map(|k| k.public_key()).collect();
        let (network, oracle) = Network::new_with_peers(
            context.child("network"),
            simulated::Config {
                max_size: max_message_bytes(validators.len(), MAX_BLOCK_BYTES),
                max_peers_per_set: NZUsize!(validators.len()),
                disconnect_on_block: true,
                tracked_peer_sets: NZUsize!(2),
            },
            validators.clone(),
        )
        .await;
        network.start();
        let sim = Sim {
            oracle,
            keys,
            validators,
            bonded,
            epoch_blocks,
            params: |_| {},
            link: LINK,
        };
        sim.link_all().await;
        sim
    }

    /// Relink every pair with `link` (e.g. a lossy one).
    async fn relink_all(&mut self, link: Link) {
        self.link = link;
        for a in 0..self.validators.len() {
            for b in a + 1..self.validators.len() {
                self.unlink(a, b).await;
            }
        }
        self.link_all().await;
    }

    /// The dev genesis with every validator funded and registered, the first `bonded`
    /// bonded (as `tessera localnet` writes it): validators pay for their reports and can
    /// be slashed. Liveness jailing is off unless a test turns it on (`params`): the
    /// random-fault tests crash validators on purpose and count on them voting again.
    fn genesis(&self) -> tessera_state::Genesis {
        let addresses: Vec<Address> = self
            .validators
            .iter()
            .map(Address::from_public_key)
            .collect();
        let mut genesis = dev_genesis(0, &addresses);
        genesis.params.epoch_blocks = self.epoch_blocks;
        genesis.params.unbonding_blocks =
            genesis.params.unbonding_blocks.max(2 * self.epoch_blocks);
        genesis.params.liveness_max_missed_bps = 10_000;
        (self.params)(&mut genesis.params);
        for account in &mut genesis.accounts {
            let index = addresses.iter().position(|a| a == &account.address);
            account.bonded = match index {
                Some(i) if i < self.bonded => Amount::from_tsr(VALIDATOR_STAKE_TSR).unwrap(),
                _ => Amount::ZERO,
            };
            account.validator = index.map(|i| tessera_state::GenesisValidator {
                p2p: format!("127.0.0.1:{}", 27_000 + i),
            });
        }
        genesis
    }

    async fn link(&self, a: usize, b: usize) {
        let (pa, pb) = (self.validators[a].clone(), self.validators[b].clone());
        let _ = self
            .oracle
            .add_link(pa.clone(), pb.clone(), self.link.clone())
            .await;
        let _ = self.oracle.add_link(pb, pa, self.link.clone()).await;
    }

    async fn unlink(&self, a: usize, b: usize) {
        let (pa, pb) = (self.validators[a].clone(), self.validators[b].clone());
        let _ = self.oracle.remove_link(pa.clone(), pb.clone()).await;
        let _ = self.oracle.remove_link(pb, pa).await;
    }

    async fn link_all(&self) {
        for a in 0..self.validators.len() {
            for b in a + 1..self.validators.len() {
                self.link(a, b).await;
            }
        }
    }

    /// Open validator `i`'s chain and start its consensus; returns the chain and the task
    /// that owns every consensus task (abort it to crash the validator).
    async fn start_validator(&self, context: &Ctx, i: usize) -> (Arc<Chain<Ctx>>, Handle<()>) {
        let (chain, handle, _) = self.start_validator_with_evidence(context, i).await;
        (chain, handle)
    }

    /// [`Sim::start_validator`], also returning the node's fault evidence log.
    async fn start_validator_with_evidence(&self, context: &Ctx, i: usize) -> Started {
        self.start_validator_on(context, i, &format!("v{i}-chain"))
            .await
    }

    /// Validators 0, 1 and 2 with their evidence logs; validator 3 runs no node (the
    /// byzantine tests drive its key themselves).
    async fn start_honest_three(
        &self,
        context: &Ctx,
    ) -> (Vec<Arc<Chain<Ctx>>>, Vec<Handle<()>>, Vec<EvidenceLog<Ctx>>) {
        let (mut chains, mut handles, mut logs) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..3 {
            let (chain, handle, log) = self.start_validator_with_evidence(context, i).await;
            chains.push(chain);
            handles.push(handle);
            logs.push(log.await.unwrap().0);
        }
        (chains, handles, logs)
    }

    /// Start validator `i` with its chain's data under `chain_prefix`.
    async fn start_validator_on(&self, context: &Ctx, i: usize, chain_prefix: &str) -> Started {
        let genesis = self.genesis();
        let chain = Chain::open(
            context.child("chain").with_attribute("validator", i),
            &genesis,
            ChainConfig {
                verify_threads: 1,
                partition_prefix: chain_prefix.to_string(),
                ..ChainConfig::default()
            },
        )
        .await
        .unwrap();
        let chain = Arc::new(chain);
        let me = self.validators[i].clone();
        let control = self.oracle.control(me.clone());
        let mut registered = Vec::new();
        for channel in [
            CHANNEL_VOTES,
            CHANNEL_CERTIFICATES,
            CHANNEL_RESOLVER,
            CHANNEL_BACKFILL,
            CHANNEL_BROADCAST,
            CHANNEL_TXS,
        ] {
            registered.push(control.register(channel, QUOTA).await.unwrap());
        }
        let mut registered = registered.into_iter();
        let mut next = || registered.next().unwrap();
        let channels = Channels {
            votes: next(),
            certificates: next(),
            resolver: next(),
            backfill: next(),
            broadcast: next(),
            txs: next(),
        };
        let config = NodeConfig::new(
            DEV_CHAIN_ID.as_bytes(),
            &format!("v{i}-consensus"),
            self.keys[i].clone(),
            self.validators.clone(),
        );
        let oracle_manager = self.oracle.manager();
        let peer_sets = SimPeers {
            manager: self.oracle.manager(),
            pool: self.validators.clone(),
        };
        let node_chain = chain.clone();
        let (evidence_tx, evidence_rx) = oneshot::channel();
        let handle = context
            .child("validator")
            .with_attribute("validator", i)
            .spawn(move |context| async move {
                let node = tessera_consensus::start(
                    context.child("node"),
                    config,
                    node_chain,
                    channels,
                    control,
                    oracle_manager,
                    peer_sets,
                )
                .await
                .unwrap();
                let _ = evidence_tx.send((node.evidence.clone(), node.finality.clone()));
                futures::future::pending::<()>().await;
            });
        (chain, handle, evidence_rx)
    }
}

/// A validator's vote channel driven by the test instead of a node, to sign what a
/// byzantine member would. Votes travel on epoch 0's subchannel of the votes channel.
struct ByzantineVoter {
    scheme: ed25519::Scheme,
    votes: SubSender<simulated::Sender<PublicKey, Ctx>>,
    _inbox: SubReceiver<PublicKey>,
}

impl ByzantineVoter {
    async fn new(sim: &Sim, context: &Ctx, i: usize) -> ByzantineVoter {
        let participants = Set::from_iter_dedup(sim.validators.iter().cloned());
        let scheme =
            ed25519::Scheme::signer(DEV_CHAIN_ID.as_bytes(), participants, sim.keys[i].clone())
                .unwrap();
        let (sender, receiver) = sim
            .oracle
            .control(sim.validators[i].clone())
            .register(CHANNEL_VOTES, QUOTA)
            .await
            .unwrap();
        let (mux, mut epochs) = Muxer::new(context.child("byzantine_mux"), sender, receiver);
        mux.start();
        let (votes, inbox) = epochs.register(0).await.unwrap();
        ByzantineVoter {
            scheme,
            votes,
            _inbox: inbox,
        }
    }

    /// An encoded notarize vote for a proposal at `view` (of epoch 0) whose payload digest
    /// is `payload` repeated: a block that exists nowhere.
    fn notarize(&self, view: u64, payload: u8) -> Vec<u8> {
        let proposal = Proposal::new(
            Round::new(Epoch::zero(), View::new(view)),
            View::new(view - 1),
            Digest::from([payload; 32]),
        );
        let vote = Notarize::sign(&self.scheme, proposal).unwrap();
        Vote::<ed25519::Scheme, Digest>::Notarize(vote)
            .encode()
            .to_vec()
    }

    fn send(&mut self, to: Recipients<PublicKey>, message: Vec<u8>) {
        let _ = self.votes.send(to, message, false);
    }
}

/// Wait until every chain has committed at least `height`.
async fn wait_for_height(context: &Ctx, chains: &[Arc<Chain<Ctx>>], height: u64) {
    while chains.iter().any(|c| c.head().height < height) {
        context.sleep(Duration::from_millis(50)).await;
    }
}

/// Every chain holds the same blocks (hashes and state roots) up to the lowest head.
async fn assert_agree(chains: &[Arc<Chain<Ctx>>]) -> u64 {
    let common = chains.iter().map(|c| c.head().height).min().unwrap();
    for h in 1..=common {
        let mut expected: Option<(Hash, Hash)> = None;
        for (i, chain) in chains.iter().enumerate() {
            let (block, _) = chain.block(h).await.unwrap().unwrap();
            let got = (block.hash(), block.header.state_root);
            match expected {
                None => expected = Some(got),
                Some(e) => assert_eq!(e, got, "validator {i} differs at height {h}"),
            }
        }
    }
    common
}

async fn assert_committed(chains: &[Arc<Chain<Ctx>>], txs: &[SignedTransaction]) {
    for chain in chains {
        for tx in txs {
            let found = chain.lookup_tx(tx.id()).await.unwrap();
            assert!(
                matches!(found, TxLookup::Committed { .. }),
                "tx {} is {found:?}",
                tx.id()
            );
        }
    }
}

fn runner(seed: u64) -> deterministic::Runner {
    deterministic::Runner::new(
        deterministic::Config::default()
            .with_seed(seed)
            .with_timeout(Some(Duration::from_secs(300))),
    )
}

/// Submit `tx` to `chain` and wait until `chain` commits it; returns the block's proposer.
async fn submit_and_wait(context: &Ctx, chain: &Chain<Ctx>, tx: &SignedTransaction) -> Address {
    chain.submit(tx.clone()).unwrap();
    loop {
        if let TxLookup::Committed { height, .. } = chain.lookup_tx(tx.id()).await.unwrap() {
            return chain
                .block(height)
                .await
                .unwrap()
                .unwrap()
                .0
                .header
                .proposer;
        }
        context.sleep(Duration::from_millis(20)).await;
    }
}

/// `n` validators finalize blocks carrying transfers; all agree on every block and root.
/// Every transfer goes to validator 0 alone, one after the other: gossip must bring them
/// to the other leaders, so more than one validator proposes the blocks that carry them.
fn finalize_with_transfers(seed: u64, n: usize) -> Vec<Hash> {
    runner(seed).start(|context| async move {
        let sim = Sim::with_validators(&context, n).await;
        let (chains, handles) = start_all(&sim, &context).await;
        let txs: Vec<SignedTransaction> = (0..5)
            .map(|n| transfer(1, n, 2, 1_000))
            .chain((0..3).map(|n| transfer(3, n, 2, 7)))
            .collect();
        let mut proposers = std::collections::BTreeSet::new();
        for tx in &txs {
            proposers.insert(submit_and_wait(&context, &chains[0], tx).await);
        }
        assert!(
            proposers.len() >= 2,
            "transactions submitted to one validator were only ever proposed by it"
        );
        let top = chains[0].head().height.max(12);
        wait_for_height(&context, &chains, top).await;
        assert_agree(&chains).await;
        assert_committed(&chains, &txs).await;
        for chain in &chains {
            let balance = chain
                .with_state(|s| bank::account(s, &dev_key(2).address()).unwrap().balance)
                .unwrap();
            assert_eq!(
                balance,
                Amount::from_tsr(1_000_000)
                    .unwrap()
                    .checked_add(Amount::from_base(5_021))
                    .unwrap()
            );
        }
        let hashes = {
            let mut out = Vec::new();
            for h in 1..=12 {
                out.push(chains[0].block(h).await.unwrap().unwrap().0.hash());
            }
            out
        };
        for handle in handles {
            handle.abort();
        }
        hashes
    })
}

#[test]
fn four_validators_finalize_transfers_over_seeds() {
    for seed in 0..5 {
        println!("seed {seed}");
        finalize_with_transfers(seed, 4);
    }
}

#[test]
fn seven_validators_finalize_transfers_over_seeds() {
    for seed in 0..3 {
        println!("seed {seed}");
        finalize_with_transfers(seed, 7);
    }
}

#[test]
fn same_seed_same_chain() {
    assert_eq!(finalize_with_transfers(7, 4), finalize_with_transfers(7, 4));
}

/// Start every validator.
async fn start_all(sim: &Sim, context: &Ctx) -> (Vec<Arc<Chain<Ctx>>>, Vec<Handle<()>>) {
    let mut chains = Vec::new();
    let mut handles = Vec::new();
    for i in 0..sim.validators.len() {
        let (chain, handle) = sim.start_validator(context, i).await;
        chains.push(chain);
        handles.push(handle);
    }
    (chains, handles)
}

/// A validator crashes (every consensus task aborted, its chain dropped) while the other
/// three keep finalizing; restarted, it reopens its chain and backfills what it missed.
#[test]
fn crashed_validator_restarts_and_catches_up() {
    for seed in 0..3 {
        println!("seed {seed}");
        runner(seed).start(|context| async move {
            let sim = Sim::new(&context).await;
            let (mut chains, mut handles) = start_all(&sim, &context).await;
            let txs: Vec<SignedTransaction> = (0..4).map(|n| transfer(1, n, 2, 10)).collect();
            for tx in &txs {
                chains[0].submit(tx.clone()).unwrap();
            }
            wait_for_height(&context, &chains, 4).await;

            // Crash validator 3.
            handles[3].abort();
            let crashed = chains.remove(3);
            let crashed_height = crashed.head().height;
            drop(crashed);
            context.sleep(Duration::from_millis(10)).await;
            wait_for_height(&context, &chains, crashed_height + 15).await;

            // Restart it: it reopens at its committed head and catches up.
            let (chain, handle) = sim.start_validator(&context, 3).await;
            assert!(chain.head().height >= crashed_height);
            handles[3] = handle;
            chains.push(chain);
            let target = chains[0].head().height + 5;
            wait_for_height(&context, &chains, target).await;
            assert!(assert_agree(&chains).await >= target);
            assert_committed(&chains, &txs).await;
        });
    }
}

/// A validator restarts with its chain's data lost (consensus data kept): marshal only
/// delivers blocks above what it already processed, so the committer first commits the
/// missing finalized blocks from marshal's archive.
#[test]
fn validator_with_lost_chain_data_refills_from_marshal() {
    runner(3).start(|context| async move {
        let sim = Sim::new(&context).await;
        let (mut chains, mut handles) = start_all(&sim, &context).await;
        wait_for_height(&context, &chains, 6).await;
        handles[3].abort();
        drop(chains.remove(3));
        context.sleep(Duration::from_millis(10)).await;
        let (chain, handle, _) = sim.start_validator_on(&context, 3, "v3-chain-empty").await;
        assert_eq!(chain.head().height, 0, "a fresh chain");
        handles[3] = handle;
        chains.push(chain);
        let target = chains[0].head().height + 4;
        wait_for_height(&context, &chains, target).await;
        assert!(assert_agree(&chains).await >= target);
    });
}

/// One validator is cut off (the other three keep a quorum), then a 2–2 split stops
/// progress entirely; after both heal, everyone converges on one chain.
#[test]
fn partitions_heal() {
    for seed in 0..3 {
        println!("seed {seed}");
        runner(seed).start(|context| async move {
            let sim = Sim::new(&context).await;
            let (chains, _handles) = start_all(&sim, &context).await;
            wait_for_height(&context, &chains, 3).await;

            // Isolate validator 0: the rest still finalize.
            for peer in 1..4 {
                sim.unlink(0, peer).await;
            }
            let isolated_at = chains[0].head().height;
            wait_for_height(&context, &chains[1..], isolated_at + 8).await;
            assert!(chains[0].head().height <= isolated_at + 1);
            for peer in 1..4 {
                sim.link(0, peer).await;
            }
            let target = chains[1].head().height + 3;
            wait_for_height(&context, &chains, target).await;

            // Split 2–2: no side has a quorum (3 of 4).
            for a in [0, 1] {
                for b in [2, 3] {
                    sim.unlink(a, b).await;
                }
            }
            context.sleep(Duration::from_secs(2)).await;
            let stalled = chains.iter().map(|c| c.head().height).max().unwrap();
            context.sleep(Duration::from_secs(10)).await;
            let after = chains.iter().map(|c| c.head().height).max().unwrap();
            assert!(
                after <= stalled + 1,
                "no quorum, no progress: {stalled} -> {after}"
            );
            sim.link_all().await;
            wait_for_height(&context, &chains, after + 5).await;
            assert!(assert_agree(&chains).await >= after + 5);
        });
    }
}

/// The whole network stops (the runtime's storage crashes: unsynced writes are lost per
/// its fault model) and restarts from storage; marshal redelivers finalized blocks the
/// chains already hold (acknowledged without re-applying) and the chain keeps growing.
#[test]
fn whole_network_restarts_from_storage() {
    let (first, checkpoint) = deterministic::Runner::new(
        deterministic::Config::default()
            .with_seed(11)
            .with_timeout(Some(Duration::from_secs(300))),
    )
    .start_and_recover(|context| async move {
        let sim = Sim::new(&context).await;
        let (chains, handles) = start_all(&sim, &context).await;
        for n in 0..3 {
            chains[1].submit(transfer(4, n, 5, 1)).unwrap();
        }
        wait_for_height(&context, &chains, 8).await;
        assert_agree(&chains).await;
        for handle in handles {
            handle.abort();
        }
        chains.iter().map(|c| c.head().height).collect::<Vec<_>>()
    });
    deterministic::Runner::from(checkpoint).start(|context| async move {
        let sim = Sim::new(&context).await;
        let (chains, _handles) = start_all(&sim, &context).await;
        for (chain, before) in chains.iter().zip(&first) {
            assert!(chain.head().height >= before.saturating_sub(1));
        }
        let target = first.iter().max().unwrap() + 6;
        wait_for_height(&context, &chains, target).await;
        assert!(assert_agree(&chains).await >= target);
        let txs: Vec<SignedTransaction> = (0..3).map(|n| transfer(4, n, 5, 1)).collect();
        assert_committed(&chains, &txs).await;
    });
}

/// Validator 3 signs two different notarize votes per view (and runs no node); the three
/// honest validators keep finalizing and each records verified evidence naming it.
#[test]
fn equivocation_is_recorded_as_evidence() {
    runner(5).start(|context| async move {
        let sim = Sim::new(&context).await;
        let (chains, _handles, logs) = sim.start_honest_three(&context).await;
        let byzantine = sim.validators[3].clone();
        let mut voter = ByzantineVoter::new(&sim, &context, 3).await;

        let reported = |logs: &[EvidenceLog<Ctx>]| {
            logs.iter().all(|log| {
                log.entries()
                    .iter()
                    .any(|e| e.offender == byzantine && e.fault == Fault::ConflictingNotarize)
            })
        };
        for _ in 0..200 {
            if reported(&logs) {
                break;
            }
            // Votes for the views around the honest validators' current view (views run
            // ahead of heights, as validator 3's own views time out).
            let head = chains[0].head().height;
            for view in head + 1..=2 * head + 8 {
                for payload in [1u8, 2] {
                    let vote = voter.notarize(view, payload);
                    voter.send(Recipients::All, vote);
                }
            }
            context.sleep(Duration::from_millis(100)).await;
        }
        assert!(reported(&logs), "every honest validator holds evidence");

        // The evidence converts to the chain's format and verifies there on its own.
        let entry = logs[0]
            .entries()
            .into_iter()
            .find(|e| e.fault == Fault::ConflictingNotarize)
            .unwrap();
        let double_sign = entry.double_sign().unwrap();
        assert_eq!(double_sign.validator, Address::from_public_key(&byzantine));
        let chain_id = tessera_types::ChainId::new(DEV_CHAIN_ID).unwrap();
        assert_eq!(double_sign.verify(&chain_id).unwrap().1, entry.view.get());

        // The honest validators report it on chain: the offender loses 5% of its stake,
        // once, on every honest node.
        let offender = Address::from_public_key(&byzantine);
        let stake = |chain: &Chain<Ctx>| {
            chain
                .with_state(|s| tessera_state::staking::stake(s, &offender).unwrap().bonded)
                .unwrap()
        };
        let full = Amount::from_tsr(VALIDATOR_STAKE_TSR).unwrap();
        let slashed = full.checked_sub(Amount::from_tsr(5_000).unwrap()).unwrap();
        for _ in 0..300 {
            if chains.iter().all(|c| stake(c) == slashed) {
                break;
            }
            context.sleep(Duration::from_millis(100)).await;
        }
        for chain in &chains {
            assert_eq!(stake(chain), slashed, "slashed exactly once");
        }
        let target = chains[0].head().height + 3;
        wait_for_height(&context, &chains, target).await;
        assert_agree(&chains).await;
        for chain in &chains {
            assert_eq!(stake(chain), slashed, "still slashed exactly once");
        }
    });
}

/// Seed indexes the randomized-fault tests run: `TESSERA_SIM_SEEDS` of them (default 16)
/// from `TESSERA_SIM_FIRST_SEED` (default 0), so a failing index replays alone.
fn fault_seeds() -> std::ops::Range<u64> {
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let first = env("TESSERA_SIM_FIRST_SEED", 0);
    first..first + env("TESSERA_SIM_SEEDS", 16)
}

/// Wait until the highest head among `chains` grew by `blocks` (progress, not agreement).
async fn wait_for_progress(context: &Ctx, chains: &[Arc<Chain<Ctx>>], blocks: u64) {
    let start = chains.iter().map(|c| c.head().height).max().unwrap_or(0);
    wait_for_height(context, &chains[..1], start + blocks).await;
}

/// The link of a random-fault seed: every third seed delivers every message, the others
/// drop 3% or 10% of them (each lost message is retried or timed out by the protocol).
fn lossy_link(seed: u64) -> Link {
    link_dropping([0, 3, 10][(seed % 3) as usize])
}

/// A link that drops `dropped_percent` of the messages it carries.
fn link_dropping(dropped_percent: u64) -> Link {
    Link {
        success_rate: commonware_utils::Probability::new(100 - dropped_percent, 100).unwrap(),
        ..LINK
    }
}

/// The storage of a random-fault run: writes never fail while it runs, and a whole-runtime
/// crash keeps a random prefix of every unsynced write (a torn tail) and nothing after it.
fn torn_writes() -> deterministic::FaultConfig {
    deterministic::FaultConfig {
        write_rate: Some(deterministic::WriteConfig {
            failure_rate: probability!(0.0),
            retention_rate: probability!(0.5),
            mode: deterministic::PartialWriteMode::Prefix,
        }),
        ..Default::default()
    }
}

/// The recipient of every random-fault transfer holds the genesis balance plus them all.
fn assert_received(chains: &[Arc<Chain<Ctx>>], txs: &[SignedTransaction]) {
    let sent: u128 = txs
        .iter()
        .map(|tx| match &tx.tx().call {
            tessera_types::Call::Transfer { amount, .. } => amount.base(),
            _ => 0,
        })
        .sum();
    for chain in chains {
        let balance = chain
            .with_state(|s| bank::account(s, &dev_key(9).address()).unwrap().balance)
            .unwrap();
        assert_eq!(
            balance,
            Amount::from_tsr(1_000_000)
                .unwrap()
                .checked_add(Amount::from_base(sent))
                .unwrap(),
            "every transfer applied exactly once"
        );
    }
}

/// Wait (bounded) until `chains[0]` has committed every one of `txs`, sending the ones
/// still missing to every node every two seconds, as a wallet retries: over lossy links a
/// gossiped transaction can be lost, and with it everything its account sent after it
/// (they wait behind the nonce gap), or it can die in the mempool of a node that crashed.
async fn wait_until_committed(
    context: &Ctx,
    chains: &[Arc<Chain<Ctx>>],
    txs: &[SignedTransaction],
) {
    for round in 0..600 {
        let mut missing = Vec::new();
        for tx in txs {
            if !matches!(
                chains[0].lookup_tx(tx.id()).await.unwrap(),
                TxLookup::Committed { .. }
            ) {
                missing.push(tx);
            }
        }
        if missing.is_empty() {
            return;
        }
        if round % 20 == 19 {
            for chain in chains {
                for tx in &missing {
                    let _ = chain.submit((*tx).clone());
                }
            }
        }
        context.sleep(Duration::from_millis(100)).await;
    }
}

/// `n` validators under a stream of transfers sent to random live validators, over links
/// that drop messages on two seeds in three; at random moments `f = (n-1)/3` random
/// validators crash and later restart, then `f` random validators are cut off from the
/// rest and the partition heals. The live quorum keeps finalizing throughout; every node
/// then agrees on every block and state root and holds every transfer exactly once (the
/// recipient's balance). Then the whole network crashes at once, the storage keeping a
/// torn prefix of every unsynced write, and restarts: the same holds, and it goes on.
/// Epochs are 6, 10 or 1,000 blocks by seed, so faults also straddle epoch boundaries.
fn random_faults(seed: u64, n: usize) {
    let epoch_blocks = [6, 10, 1_000][(seed % 3) as usize];
    let config = deterministic::Config::default()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(300)))
        .with_storage_fault_config(torn_writes());
    let (txs, checkpoint) = deterministic::Runner::new(config)
        .start_and_recover(|context| faults_then_agreement(context, seed, n, epoch_blocks));
    deterministic::Runner::from(checkpoint).start(|context| async move {
        let mut sim = Sim::with_pool(&context, n, n, epoch_blocks).await;
        sim.relink_all(lossy_link(seed)).await;
        let (chains, handles) = start_all(&sim, &context).await;
        let target = chains.iter().map(|c| c.head().height).max().unwrap() + 3;
        wait_for_height(&context, &chains, target).await;
        let more: Vec<SignedTransaction> = (0..3)
            .map(|n| {
                let nonce = chains[0]
                    .with_state(|s| bank::account(s, &dev_key(4).address()).unwrap().nonce)
                    .unwrap();
                transfer(4, nonce + n, 9, 7)
            })
            .collect();
        for tx in &more {
            chains[0].submit(tx.clone()).unwrap();
        }
        wait_until_committed(&context, &chains, &more).await;
        let top = chains.iter().map(|c| c.head().height).max().unwrap();
        wait_for_height(&context, &chains, top).await;
        assert!(assert_agree(&chains).await >= target);
        assert_committed(&chains, &txs).await;
        assert_committed(&chains, &more).await;
        assert_received(&chains, &[txs, more].concat());
        for handle in handles {
            handle.abort();
        }
    })
}

/// The first part of [`random_faults`]: returns the transfers, all committed everywhere.
async fn faults_then_agreement(
    context: Ctx,
    seed: u64,
    n: usize,
    epoch_blocks: u64,
) -> Vec<SignedTransaction> {
    use rand::{seq::SliceRandom as _, RngExt as _, SeedableRng as _};
    let f = (n - 1) / 3;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut sim = Sim::with_pool(&context, n, n, epoch_blocks).await;
    sim.relink_all(lossy_link(seed)).await;
    let (chains, handles) = start_all(&sim, &context).await;
    let mut chains: Vec<Option<Arc<Chain<Ctx>>>> = chains.into_iter().map(Some).collect();
    let mut handles: Vec<Option<Handle<()>>> = handles.into_iter().map(Some).collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    let crashed: Vec<usize> = order[..f].to_vec();
    order.shuffle(&mut rng);
    let cut_off: Vec<usize> = order[..f].to_vec();
    let crash_step = rng.random_range(2..10);
    let restart_step = crash_step + rng.random_range(4..12);
    let cut_step = restart_step + rng.random_range(4..8);
    let heal_step = cut_step + rng.random_range(4..10);
    let steps = heal_step + 4;

    let mut txs = Vec::new();
    let mut nonces = [0u64; 3];
    for step in 0..steps {
        if step == crash_step {
            for &i in &crashed {
                handles[i].take().unwrap().abort();
                chains[i] = None;
            }
        }
        if step == restart_step {
            for &i in &crashed {
                let (chain, handle) = sim.start_validator(&context, i).await;
                chains[i] = Some(chain);
                handles[i] = Some(handle);
            }
        }
        if step == cut_step {
            for &a in &cut_off {
                for b in (0..n).filter(|b| !cut_off.contains(b)) {
                    sim.unlink(a, b).await;
                }
            }
        }
        if step == heal_step {
            sim.link_all().await;
        }
        let isolated = (cut_step..heal_step).contains(&step);
        let live: Vec<usize> = (0..n)
            .filter(|i| chains[*i].is_some() && !(isolated && cut_off.contains(i)))
            .collect();
        // A transfer from one of three accounts, to a random live, connected validator.
        let account = rng.random_range(0..3usize);
        let tx = transfer(account as u64 + 1, nonces[account], 9, 1 + account as u128);
        nonces[account] += 1;
        let target = live[rng.random_range(0..live.len())];
        chains[target].as_ref().unwrap().submit(tx.clone()).unwrap();
        txs.push(tx);
        if step == crash_step || step == cut_step {
            // More than 2/3 are live and connected: the chain keeps finalizing.
            let live_chains: Vec<_> = live.iter().map(|i| chains[*i].clone().unwrap()).collect();
            wait_for_progress(&context, &live_chains, 3).await;
        }
        context.sleep(Duration::from_millis(250)).await;
    }

    let chains: Vec<Arc<Chain<Ctx>>> = chains.into_iter().map(Option::unwrap).collect();
    let target = chains.iter().map(|c| c.head().height).max().unwrap() + 3;
    wait_for_height(&context, &chains, target).await;
    // Transfers still in mempools land in the next blocks.
    wait_until_committed(&context, &chains, &txs).await;
    let top = chains.iter().map(|c| c.head().height).max().unwrap();
    wait_for_height(&context, &chains, top).await;
    assert!(assert_agree(&chains).await >= target);
    assert_committed(&chains, &txs).await;
    assert_received(&chains, &txs);
    for handle in handles.into_iter().flatten() {
        handle.abort();
    }
    txs
}

/// Validator 3 is byzantine and runs no honest node. For every view around the others'
/// (so also each view it leads) it notarizes two proposals whose blocks exist nowhere —
/// equivocation with withheld bodies — one for validators 0 and 1, the other for 0 and 2;
/// later it also sends votes with forged signatures and bytes that decode as nothing.
/// Links drop 1% or 3% of messages on two seeds in three (with one validator silent every
/// remaining vote is needed, and simplex re-sends votes only on its 5 s retry timer: at
/// 10% loss such a network crawls at a block every few seconds, see
/// `docs/reliability.md`). The three honest validators keep
/// finalizing a stream of transfers, agree on every block and state root, apply every
/// transfer exactly once, and validator 0 holds the evidence.
fn byzantine_leader(seed: u64) {
    use rand::{RngExt as _, SeedableRng as _};
    runner(seed).start(|context| async move {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut sim = Sim::new(&context).await;
        sim.relink_all(link_dropping([0, 1, 3][(seed % 3) as usize]))
            .await;
        let (chains, handles, logs) = sim.start_honest_three(&context).await;
        let byzantine = sim.validators[3].clone();
        let mut voter = ByzantineVoter::new(&sim, &context, 3).await;
        let honest = |i: usize| sim.validators[i].clone();

        let mut txs = Vec::new();
        let mut nonces = [0u64; 3];
        for step in 0..40u64 {
            let current = chains[0].head().view;
            for view in current + 1..=current + 6 {
                let (a, b) = (voter.notarize(view, 1), voter.notarize(view, 2));
                voter.send(Recipients::Some(vec![honest(0), honest(1)]), a);
                voter.send(Recipients::Some(vec![honest(0), honest(2)]), b);
                if step >= 20 {
                    let mut forged = voter.notarize(view, 3);
                    if let Some(last) = forged.last_mut() {
                        *last ^= 0x55;
                    }
                    voter.send(Recipients::All, forged);
                    let garbage: Vec<u8> = (0..rng.random_range(0..200))
                        .map(|_| rng.random())
                        .collect();
                    voter.send(Recipients::All, garbage);
                }
            }
            let account = rng.random_range(0..3usize);
            let tx = transfer(account as u64 + 1, nonces[account], 9, 1 + account as u128);
            nonces[account] += 1;
            chains[rng.random_range(0..3usize)]
                .submit(tx.clone())
                .unwrap();
            txs.push(tx);
            context.sleep(Duration::from_millis(250)).await;
        }
        wait_until_committed(&context, &chains, &txs).await;
        let top = chains.iter().map(|c| c.head().height).max().unwrap();
        wait_for_height(&context, &chains, top).await;
        // A view it leads times out, and with it silent every honest vote must arrive:
        // over lossy links progress is slow, but it never stops.
        let common = assert_agree(&chains).await;
        assert!(
            common >= 3,
            "the honest validators kept finalizing: only {common} blocks, views at {}",
            chains[0].head().view
        );
        assert_committed(&chains, &txs).await;
        assert_received(&chains, &txs);
        assert!(
            logs[0]
                .entries()
                .iter()
                .any(|e| e.offender == byzantine && e.fault == Fault::ConflictingNotarize),
            "validator 0 saw both proposals of one view and holds the evidence"
        );
        for handle in handles {
            handle.abort();
        }
    });
}

#[test]
fn a_byzantine_leader_cannot_stop_the_others() {
    for seed in fault_seeds() {
        println!("seed {seed}");
        byzantine_leader(300 + seed);
    }
}

#[test]
fn four_validators_survive_random_crashes_and_partitions() {
    for seed in fault_seeds() {
        println!("seed {seed}");
        random_faults(seed, 4);
    }
}

#[test]
fn seven_validators_survive_random_crashes_and_partitions() {
    for seed in fault_seeds() {
        println!("seed {seed}");
        random_faults(100 + seed, 7);
    }
}

/// An idle network makes at most one block per `empty_block_wait` (300 ms), while a
/// submitted transfer is proposed at once and final well within a second.
#[test]
fn idle_leaders_pace_empty_blocks_but_not_transactions() {
    runner(21).start(|context| async move {
        let sim = Sim::new(&context).await;
        let (chains, _handles) = start_all(&sim, &context).await;
        wait_for_height(&context, &chains, 2).await;
        let before = chains[0].head().height;
        context.sleep(Duration::from_secs(6)).await;
        let idle_blocks = chains[0].head().height - before;
        assert!(
            (5..=6_000 / 300 + 1).contains(&idle_blocks),
            "{idle_blocks} empty blocks in 6 s"
        );
        let start = context.current();
        submit_and_wait(&context, &chains[1], &transfer(1, 0, 2, 5)).await;
        let latency = context.current().duration_since(start).unwrap();
        assert!(
            latency < Duration::from_millis(800),
            "final after {latency:?}"
        );
    });
}

/// A follower checks finality itself: a validator's certificate for a height verifies for
/// that height's block against the validator set, and for nothing else.
#[test]
fn finalization_certificates_prove_blocks_final() {
    runner(31).start(|context| async move {
        let sim = Sim::new(&context).await;
        let mut chains = Vec::new();
        let mut readers = Vec::new();
        let mut _handles = Vec::new();
        for i in 0..VALIDATORS {
            let (chain, handle, started) = sim.start_validator_with_evidence(&context, i).await;
            chains.push(chain);
            _handles.push(handle);
            readers.push(started.await.unwrap().1);
        }
        wait_for_height(&context, &chains, 5).await;
        let verifier =
            FinalityVerifier::new(DEV_CHAIN_ID.as_bytes(), 0, sim.validators.clone()).unwrap();
        let block = |h| chains[0].block(h);
        let (three, _) = block(3).await.unwrap().unwrap();
        let (four, _) = block(4).await.unwrap().unwrap();
        let certificate = readers[1].finalization(3).await.unwrap();
        verifier.verify(&three, &certificate).unwrap();
        assert!(
            verifier.verify(&four, &certificate).is_err(),
            "another block"
        );
        let mut truncated = certificate.clone();
        truncated.pop();
        assert!(verifier.verify(&three, &truncated).is_err());
        let strangers: Vec<PublicKey> = (50..54).map(|i| validator_key(i).public_key()).collect();
        let other_set = FinalityVerifier::new(DEV_CHAIN_ID.as_bytes(), 0, strangers).unwrap();
        assert!(
            other_set.verify(&three, &certificate).is_err(),
            "another validator set"
        );
        let other_chain = FinalityVerifier::new(b"elsewhere", 0, sim.validators.clone()).unwrap();
        assert!(
            other_chain.verify(&three, &certificate).is_err(),
            "another chain"
        );
    });
}

/// A staking call signed by validator node `key`.
fn staking_tx(key: &PrivateKey, nonce: u64, call: Call) -> SignedTransaction {
    Transaction {
        chain_id: ChainId::new(DEV_CHAIN_ID).unwrap(),
        signer: key.public_key(),
        nonce,
        max_fee: Amount::from_tsr(1).unwrap(),
        call,
    }
    .sign(&Keypair::from_private(key.clone()))
    .unwrap()
}

/// The proposers of blocks `from..=to` of `chain`.
async fn proposers(chain: &Chain<Ctx>, from: u64, to: u64) -> Vec<Address> {
    let mut out = Vec::new();
    for h in from..=to {
        out.push(chain.block(h).await.unwrap().unwrap().0.header.proposer);
    }
    out
}

/// Consensus follows the validator set the chain's state chooses per epoch. Five nodes,
/// four bonded at genesis, epochs of 10 blocks: node 4 bonds and node 3 unbonds all its
/// stake; from the next epoch on node 4 proposes blocks and node 3 none. Then node 3 and
/// node 0 crash: under the genesis set (0–3) two of four could not finalize, under the new
/// set (0, 1, 2, 4) three of four do.
#[test]
fn validators_join_and_leave_at_epoch_boundaries() {
    const EPOCH_BLOCKS: u64 = 10;
    runner(41).start(|context| async move {
        let sim = Sim::with_pool(&context, 5, 4, EPOCH_BLOCKS).await;
        let (chains, handles) = start_all(&sim, &context).await;
        let stake = Amount::from_tsr(VALIDATOR_STAKE_TSR).unwrap();
        let bond = staking_tx(&sim.keys[4], 0, Call::Bond { amount: stake });
        let unbond = staking_tx(&sim.keys[3], 0, Call::Unbond { amount: stake });
        submit_and_wait(&context, &chains[1], &bond).await;
        submit_and_wait(&context, &chains[1], &unbond).await;
        let last_change = chains[1].head().height;
        let changed_epoch = last_change / EPOCH_BLOCKS + 1;
        let first = changed_epoch * EPOCH_BLOCKS;
        let end = first + 2 * EPOCH_BLOCKS;
        wait_for_height(&context, &chains, end).await;
        assert_agree(&chains).await;

        let joined = Address::from_public_key(&sim.validators[4]);
        let left = Address::from_public_key(&sim.validators[3]);
        let set = chains[0]
            .with_state(|s| tessera_state::staking::epochs::current(s).unwrap().unwrap())
            .unwrap();
        assert!(set.epoch > changed_epoch);
        let members: Vec<Address> = set.members.iter().map(|m| m.address).collect();
        assert!(
            members.contains(&joined) && !members.contains(&left),
            "{members:?}"
        );
        let after = proposers(&chains[0], first, end).await;
        assert!(after.contains(&joined), "the new validator never proposed");
        assert!(
            !after.contains(&left),
            "the departed validator still proposed"
        );
        let before = proposers(&chains[0], 1, EPOCH_BLOCKS - 1).await;
        assert!(
            !before.contains(&joined),
            "node 4 proposed before it was bonded"
        );

        handles[0].abort();
        handles[3].abort();
        let live = [chains[1].clone(), chains[2].clone(), chains[4].clone()];
        let top = live.iter().map(|c| c.head().height).max().unwrap();
        wait_for_height(&context, &live, top + 2 * EPOCH_BLOCKS).await;
        assert_agree(&live).await;
        // A journal of an epoch left long enough ago (`JOURNAL_GRACE`) is deleted; the current one is there.
        let journal = |epoch: u64| {
            tessera_consensus::epochs::journal_partition("v1-consensus", Epoch::new(epoch))
        };
        let left = context.scan(&journal(0)).await;
        let now = live[0]
            .with_state(|s| {
                tessera_state::staking::epochs::current(s)
                    .unwrap()
                    .unwrap()
                    .epoch
            })
            .unwrap();
        let current = context.scan(&journal(now)).await;
        assert!(left.is_err(), "epoch 0's journal remains: {left:?}");
        assert!(!current.unwrap().is_empty());
    });
}

/// A validator crashes just before an epoch boundary and restarts after the network has
/// crossed several: it catches up through each boundary (the later epochs' traffic tells
/// it it is behind) and votes again.
#[test]
fn crashed_validator_catches_up_across_epochs() {
    const EPOCH_BLOCKS: u64 = 10;
    runner(43).start(|context| async move {
        let sim = Sim::with_pool(&context, 4, 4, EPOCH_BLOCKS).await;
        let (mut chains, mut handles) = start_all(&sim, &context).await;
        wait_for_height(&context, &chains, EPOCH_BLOCKS - 2).await;
        handles[2].abort();
        drop(chains.remove(2));
        wait_for_height(&context, &chains, 4 * EPOCH_BLOCKS).await;
        let (chain, handle) = sim.start_validator(&context, 2).await;
        chains.insert(2, chain);
        handles[2] = handle;
        let top = chains.iter().map(|c| c.head().height).max().unwrap();
        wait_for_height(&context, &chains, top + EPOCH_BLOCKS).await;
        assert_agree(&chains).await;
        // With it back, one more crash leaves three of four: still final.
        handles[0].abort();
        let live = [chains[1].clone(), chains[2].clone(), chains[3].clone()];
        let top = live.iter().map(|c| c.head().height).max().unwrap();
        wait_for_height(&context, &live, top + EPOCH_BLOCKS).await;
        assert_agree(&live).await;
    });
}

/// Wait until `chain`'s state holds a set of an epoch after `after` that satisfies `ok`;
/// returns it.
async fn wait_for_set(
    context: &Ctx,
    chain: &Chain<Ctx>,
    after: u64,
    ok: impl Fn(&tessera_state::staking::epochs::ValidatorSet) -> bool,
) -> tessera_state::staking::epochs::ValidatorSet {
    loop {
        let set = chain
            .with_state(|s| tessera_state::staking::epochs::current(s).unwrap().unwrap())
            .unwrap();
        if set.epoch > after && ok(&set) {
            return set;
        }
        context.sleep(Duration::from_millis(100)).await;
    }
}

/// The dust-bond attack: three accounts bond one base unit each and even register as
/// validators (with addresses nobody listens on). Under the old rule (any bonded account
/// joins the next set, every seat votes) they took three of seven seats and the network
/// never finalized the epoch that would remove them. Now they are below the minimum
/// self-bond and never chosen: the four real validators keep finalizing across epochs.
#[test]
fn dust_bonds_do_not_buy_consensus_seats() {
    const EPOCH_BLOCKS: u64 = 10;
    runner(51).start(|context| async move {
        let sim = Sim::with_pool(&context, 4, 4, EPOCH_BLOCKS).await;
        let (chains, _handles) = start_all(&sim, &context).await;
        for (i, attacker) in [4u64, 5, 6].into_iter().enumerate() {
            let key = dev_key(attacker);
            let sign = |nonce, call| {
                Transaction {
                    chain_id: ChainId::new(DEV_CHAIN_ID).unwrap(),
                    signer: key.public_key().clone(),
                    nonce,
                    max_fee: Amount::from_tsr(1).unwrap(),
                    call,
                }
                .sign(&key)
                .unwrap()
            };
            let bond = sign(
                0,
                Call::Bond {
                    amount: Amount::from_base(1),
                },
            );
            let register = sign(
                1,
                Call::RegisterValidator {
                    p2p: format!("10.9.9.{}:27657", i + 1),
                },
            );
            submit_and_wait(&context, &chains[0], &bond).await;
            submit_and_wait(&context, &chains[0], &register).await;
        }
        let attacked_from = chains[0].head().height;
        let target = (attacked_from / EPOCH_BLOCKS + 3) * EPOCH_BLOCKS;
        wait_for_height(&context, &chains, target).await;
        assert_agree(&chains).await;
        let set = chains[0]
            .with_state(|s| tessera_state::staking::epochs::current(s).unwrap().unwrap())
            .unwrap();
        let members: Vec<Address> = set.members.iter().map(|m| m.address).collect();
        let expected: std::collections::BTreeSet<Address> = sim
            .validators
            .iter()
            .map(Address::from_public_key)
            .collect();
        assert_eq!(
            members
                .into_iter()
                .collect::<std::collections::BTreeSet<_>>(),
            expected,
            "only the registered validators with the minimum self-bond"
        );
    });
}

/// A validator that stops (crashes) misses the views it leads; at the next epoch
/// boundary where it missed more than half of them it is jailed out of the set, and the
/// other three keep finalizing without it. Back up, it unjails and is chosen again.
#[test]
fn a_validator_that_stops_voting_is_jailed_and_can_return() {
    const EPOCH_BLOCKS: u64 = 10;
    runner(53).start(|context| async move {
        let mut sim = Sim::with_pool(&context, 4, 4, EPOCH_BLOCKS).await;
        sim.params = |p| p.liveness_max_missed_bps = 5_000;
        let (mut chains, mut handles) = start_all(&sim, &context).await;
        wait_for_height(&context, &chains, 3).await;
        handles[3].abort();
        drop(chains.remove(3));
        let stopped_at = chains[0].head().height / EPOCH_BLOCKS;
        let absent = Address::from_public_key(&sim.validators[3]);
        let set = wait_for_set(&context, &chains[0], stopped_at, |s| {
            s.member(&absent).is_none()
        })
        .await;
        assert!(
            set.epoch <= stopped_at + 2,
            "jailed within two boundaries, not at epoch {}",
            set.epoch
        );
        assert_eq!(set.members.len(), 3);
        let info = chains[0]
            .with_state(|s| tessera_state::staking::validators::info(s, &absent).unwrap())
            .unwrap()
            .unwrap();
        assert!(info.jailed);
        // The three keep finalizing for a whole epoch without it.
        let top = chains[0].head().height;
        wait_for_height(&context, &chains, top + EPOCH_BLOCKS + 2).await;
        assert_agree(&chains).await;

        // Restart it and unjail: it is chosen again at a later boundary and votes.
        let (chain, handle) = sim.start_validator(&context, 3).await;
        chains.push(chain);
        handles[3] = handle;
        let unjail = staking_tx(&sim.keys[3], 0, Call::Unjail);
        submit_and_wait(&context, &chains[0], &unjail).await;
        let since = chains[0].head().height / EPOCH_BLOCKS;
        wait_for_set(&context, &chains[0], since, |s| s.member(&absent).is_some()).await;
        let top = chains[0].head().height;
        wait_for_height(&context, &chains, top + EPOCH_BLOCKS).await;
        assert_agree(&chains).await;
    });
}

/// A byzantine peer answers block backfill with the genuine header over a body whose
/// first transaction carries another valid signature (same transaction id; the block hash
/// did not cover signatures before). A validator catching up after a crash asks it among
/// others: the forged copies are refused at decoding and it catches up from honest peers
/// instead of committing a block it cannot execute and halting.
#[test]
fn forged_block_bodies_from_a_byzantine_peer_do_not_stall_catch_up() {
    use commonware_codec::{Encode as _, Read as _, ReadExt as _};
    use commonware_consensus::marshal::resolver::handler::Key;
    use commonware_p2p::Receiver as _;
    use std::sync::atomic::{AtomicU64, Ordering};
    runner(57).start(|context| async move {
        // Node 4 is in every peer set (unbonded) but runs no node: it is the byzantine.
        let sim = Sim::with_pool(&context, 5, 4, 1_000).await;
        let mut chains = Vec::new();
        let mut handles = Vec::new();
        let mut readers = Vec::new();
        for i in 0..4 {
            let (chain, handle, started) = sim.start_validator_with_evidence(&context, i).await;
            chains.push(chain);
            handles.push(handle);
            readers.push(started.await.unwrap().1);
        }
        let forged_sent = Arc::new(AtomicU64::new(0));
        let (mut sender, mut receiver) = sim
            .oracle
            .control(sim.validators[4].clone())
            .register(CHANNEL_BACKFILL, QUOTA)
            .await
            .unwrap();
        let (source, reader, counter) =
            (chains[0].clone(), readers[0].clone(), forged_sent.clone());
        let foreign_signature = transfer(9, 0, 8, 1).signature().clone();
        context.child("byzantine").spawn(move |_| async move {
            while let Ok((peer, message)) = receiver.recv().await {
                let mut buf = commonware_codec::Copying(message.as_ref());
                let (Ok(id), Ok(0u8)) = (u64::read(&mut buf), u8::read(&mut buf)) else {
                    continue;
                };
                let Ok(key) = Key::<Digest>::read_cfg(&mut buf, &()) else {
                    continue;
                };
                let (block, certificate) = match key {
                    Key::Finalized { height } => (
                        source.block(height.get()).await.unwrap().map(|(b, _)| b),
                        reader.finalization(height.get()).await,
                    ),
                    Key::Block(digest) => (
                        source
                            .block_by_hash(Hash(digest.0))
                            .await
                            .unwrap()
                            .map(|(b, _)| b),
                        Some(Vec::new()),
                    ),
                    Key::Notarized { .. } => (None, None),
                };
                let (Some(mut block), Some(certificate)) = (block, certificate) else {
                    continue;
                };
                if let Some(first) = block.txs.first() {
                    let mut bytes = first.to_bytes();
                    let at = bytes.len() - 64;
                    bytes[at..].copy_from_slice(&foreign_signature.encode());
                    block.txs[0] = SignedTransaction::from_bytes(&bytes).unwrap();
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                let mut payload = certificate;
                payload.extend_from_slice(&block.to_bytes());
                let mut response = id.to_be_bytes().to_vec();
                response.push(1);
                response.extend_from_slice(&bytes::Bytes::from(payload).encode());
                let _ = sender.send(Recipients::One(peer), response, false);
            }
        });

        // Blocks with transactions while validator 3 is down.
        wait_for_height(&context, &chains, 3).await;
        handles[3].abort();
        drop(chains.remove(3));
        for n in 0..12 {
            submit_and_wait(&context, &chains[0], &transfer(2, n, 5, 1)).await;
        }
        let (chain, handle) = sim.start_validator(&context, 3).await;
        chains.push(chain);
        handles[3] = handle;
        let target = chains[0].head().height + 3;
        wait_for_height(&context, &chains, target).await;
        assert!(assert_agree(&chains).await >= target);
        assert!(
            forged_sent.load(Ordering::Relaxed) > 0,
            "the byzantine peer was never asked: the test proves nothing"
        );
    });
}

/// Validator 0 alone sees validator 3 equivocate (it is cut off from the others, so its
/// report cannot leave it), then crashes before the report lands. Restarted, it reports
/// the double sign from its evidence store and every honest node slashes validator 3.
#[test]
fn double_sign_seen_before_a_crash_is_reported_after_it() {
    runner(59).start(|context| async move {
        let sim = Sim::new(&context).await;
        let (mut chains, mut handles, logs) = sim.start_honest_three(&context).await;
        wait_for_height(&context, &chains, 2).await;
        for other in [1, 2] {
            sim.unlink(0, other).await;
        }
        let byzantine = sim.validators[3].clone();
        let mut voter = ByzantineVoter::new(&sim, &context, 3).await;
        let seen = |log: &EvidenceLog<Ctx>| {
            log.entries()
                .iter()
                .any(|e| e.offender == byzantine && e.fault == Fault::ConflictingNotarize)
        };
        for _ in 0..300 {
            if seen(&logs[0]) {
                break;
            }
            let head = chains[0].head().height;
            for view in 1..=head + 40 {
                for payload in [1u8, 2] {
                    let vote = voter.notarize(view, payload);
                    voter.send(Recipients::One(sim.validators[0].clone()), vote);
                }
            }
            context.sleep(Duration::from_millis(100)).await;
        }
        assert!(seen(&logs[0]), "validator 0 holds the evidence");
        assert!(
            !seen(&logs[1]) && !seen(&logs[2]),
            "only validator 0 saw it"
        );
        // Let its slasher store the report, then crash it before anyone else hears.
        context.sleep(Duration::from_millis(50)).await;
        handles[0].abort();
        drop(chains.remove(0));
        context.sleep(Duration::from_millis(10)).await;
        sim.link_all().await;
        let (chain, handle) = sim.start_validator(&context, 0).await;
        chains.insert(0, chain);
        handles[0] = handle;

        let offender = Address::from_public_key(&byzantine);
        let stake = |chain: &Chain<Ctx>| {
            chain
                .with_state(|s| tessera_state::staking::stake(s, &offender).unwrap().bonded)
                .unwrap()
        };
        let slashed = Amount::from_tsr(VALIDATOR_STAKE_TSR)
            .unwrap()
            .checked_sub(Amount::from_tsr(5_000).unwrap())
            .unwrap();
        for _ in 0..600 {
            if chains.iter().all(|c| stake(c) == slashed) {
                break;
            }
            context.sleep(Duration::from_millis(100)).await;
        }
        for chain in &chains {
            assert_eq!(stake(chain), slashed, "the report survived the crash");
        }
    });
}
