//! One encoding per value: for every decoder that takes bytes from the network or disk,
//! any input it accepts re-encodes to exactly those bytes. Inputs are valid encodings of
//! generated values, then the same bytes with a byte changed, cut short or extended; the
//! fuzz targets in `fuzz/` check the same property on inputs libFuzzer finds.
#![cfg(test)]

use commonware_codec::{DecodeExt, Encode};
use proptest::prelude::*;
use tessera_types::{
    call::CallReceipt,
    channel::{LaneClaim, MarketEvent, Price},
    dispute::{DisputeEvent, FraudEvidence, Verdict},
    evidence::{DoubleSign, SignedVote, VoteKind},
    subnet::{Role, SubnetEvent, SubnetId, SubnetParams, UidWeight},
    tx::ModelId,
    Address, Amount, Block, BlockHeader, BlockReceipts, Call, ChainId, Event, Failure, FailureArg,
    Hash, Keypair, Receipt, SignedTransaction, Transaction, TxStatus,
};

fn transfer(seed: u64, nonce: u64, amount: u128) -> SignedTransaction {
    let key = Keypair::from_seed(seed);
    Transaction {
        chain_id: ChainId::new("tessera-prop").unwrap(),
        signer: key.public_key().clone(),
        nonce,
        max_fee: Amount::from_base(1_000_000_000),
        call: Call::Transfer {
            to: Keypair::from_seed(seed.wrapping_add(1)).address(),
            amount: Amount::from_base(amount),
        },
    }
    .sign(&key)
    .unwrap()
}

/// A receipt signed by `key`, with values drawn from `n` and `amount`.
fn receipt(key: &Keypair, n: u64, amount: u128) -> CallReceipt {
    let channel = Hash([n as u8; 32]);
    CallReceipt {
        chain_id: tessera_types::ChainId::new("props").unwrap(),
        channel,
        lane: n as u32,
        provider: key.address(),
        request_hash: channel,
        model: ModelId(n),
        manifest_cid: format!("bafy{n}"),
        kernel_path: "cpu".into(),
        output_hash: channel,
        token_ids: (0..(n % 5) as u32).collect(),
        tokens_charged: n,
        amount_charged: Amount::from_base(amount),
        lane_charged: Amount::from_base(amount),
        voucher: Amount::from_base(amount),
        first_output_ms: 1,
        total_ms: 2,
        signature: CallReceipt::unsigned_signature(),
    }
    .sign(key)
}

/// Every provider, channel and subnet call, with values drawn from `n` and `amount`.
fn market_calls(n: u64, amount: u128) -> Vec<Call> {
    let key = Keypair::from_seed(n);
    let chain = ChainId::new("tessera-prop").unwrap();
    let channel = Hash([n as u8; 32]);
    let price = Price {
        per_call: Amount::from_base(amount),
        per_token: Amount::from_base(amount / 3),
    };
    let lanes = (0..(n % 5) as u32)
        .map(|lane| {
            let v = tessera_types::voucher::Voucher::sign(
                &key,
                &chain,
                channel,
                lane,
                Amount::from_base(amount),
            );
            LaneClaim::of(&v)
        })
        .collect();
    vec![
        Call::RegisterProvider {
            model: tessera_types::tx::ModelId(n),
            stake: Amount::from_base(amount),
            price,
            endpoint: format!("http://127.0.0.1:{n}"),
        },
        Call::UpdateProvider {
            model: tessera_types::tx::ModelId(n),
            add_stake: Amount::ZERO,
            price,
            endpoint: String::new(),
        },
        Call::LeaveProvider {
            model: tessera_types::tx::ModelId(n),
        },
        Call::OpenChannel {
            provider: key.address(),
            model: tessera_types::tx::ModelId(n),
            deposit: Amount::from_base(amount),
            expiry_blocks: n,
        },
        Call::TopUpChannel {
            channel,
            amount: Amount::from_base(amount),
        },
        Call::ExtendChannel { channel, blocks: n },
        Call::ClaimChannel { channel, lanes },
        Call::RefundChannel { channel },
        Call::CreateSubnet {
            name: format!("net-{n}"),
            model: n.is_multiple_of(2).then_some(ModelId(n)),
            params: SubnetParams {
                tempo_blocks: n,
                burn: Amount::from_base(amount),
                ..SubnetParams::default()
            },
        },
        Call::RegisterUid {
            subnet: SubnetId(n),
            role: if n.is_multiple_of(2) {
                Role::Miner
            } else {
                Role::Validator
            },
        },
        Call::CommitWeights {
            subnet: SubnetId(n),
            hash: channel,
        },
        Call::RevealWeights {
            subnet: SubnetId(n),
            weights: (0..(n % 7) as u16)
                .map(|uid| UidWeight {
                    uid,
                    weight: (amount as u16).wrapping_add(uid),
                })
                .collect(),
            salt: channel,
        },
        Call::Delegate {
            subnet: SubnetId(n),
            validator: key.address(),
            amount: Amount::from_base(amount),
        },
        Call::Undelegate {
            subnet: SubnetId(n),
            validator: key.address(),
            amount: Amount::from_base(amount),
        },
        Call::SetTake {
            take_bps: amount as u16,
        },
        Call::ReportFraud {
            evidence: Box::new(FraudEvidence {
                receipt: receipt(&key, n, amount),
                request: vec![n as u8; (n % 40) as usize],
                output: vec![amount as u8; (n % 64) as usize],
            }),
            bond: Amount::from_base(amount),
        },
        Call::VoteDispute {
            dispute: channel,
            guilty: n.is_multiple_of(2),
        },
        Call::DissolveSubnet {
            subnet: SubnetId(n),
        },
        Call::ReportOverclaim {
            receipt: Box::new(receipt(&key, n, amount)),
            bond: Amount::from_base(amount),
        },
        Call::AnswerOverclaim {
            dispute: channel,
            receipt: Box::new(receipt(&key, n, amount)),
            request_sig: key.sign(b"x", b"y"),
        },
    ]
}

fn market_events(n: u64, amount: u128) -> Vec<Event> {
    let who = Keypair::from_seed(n).address();
    let model = tessera_types::tx::ModelId(n);
    let channel = Hash([n as u8; 32]);
    let a = Amount::from_base(amount);
    let price = Price {
        per_call: a,
        per_token: Amount::ZERO,
    };
    [
        MarketEvent::ProviderRegistered {
            provider: who,
            model,
            stake: a,
            price,
            endpoint: "http://x".into(),
        },
        MarketEvent::ProviderUpdated {
            provider: who,
            model,
            stake: a,
            price,
            endpoint: String::new(),
        },
        MarketEvent::ProviderLeft {
            provider: who,
            model,
            stake: a,
            release_height: n,
        },
        MarketEvent::ChannelOpened {
            channel,
            payer: who,
            provider: who,
            model,
            deposit: a,
            expires_at: n,
        },
        MarketEvent::ChannelFunded {
            channel,
            deposit: a,
            expires_at: n,
        },
        MarketEvent::ChannelClaimed {
            channel,
            provider: who,
            amount: a,
            claimed: a,
        },
        MarketEvent::ClaimSplit {
            channel,
            model,
            to_provider: a,
            to_owners: a,
            to_data: a,
            to_treasury: a,
            fee: a,
        },
        MarketEvent::DataPaid {
            model,
            to: who,
            amount: a,
        },
        MarketEvent::ChannelRefunded {
            channel,
            payer: who,
            amount: a,
        },
    ]
    .into_iter()
    .map(Event::Market)
    .chain(subnet_events(n, amount))
    .chain(dispute_events(n, amount))
    .collect()
}

fn dispute_events(n: u64, amount: u128) -> Vec<Event> {
    let who = Keypair::from_seed(n).address();
    let a = Amount::from_base(amount);
    let dispute = Hash([n as u8; 32]);
    [
        DisputeEvent::Opened {
            dispute,
            reporter: who,
            provider: who,
            model: ModelId(n),
            bond: a,
            deadline: n,
        },
        DisputeEvent::Voted {
            dispute,
            voter: who,
            guilty: n.is_multiple_of(2),
            weight: a,
        },
        DisputeEvent::Decided {
            dispute,
            verdict: [Verdict::Proven, Verdict::Rejected, Verdict::Undecided][(n % 3) as usize],
            guilty_weight: a,
            innocent_weight: a,
            slashed: a,
            to_reporter: Amount::ZERO,
            bond: a,
        },
    ]
    .into_iter()
    .map(Event::Dispute)
    .collect()
}

fn subnet_events(n: u64, amount: u128) -> Vec<Event> {
    let who = Keypair::from_seed(n).address();
    let a = Amount::from_base(amount);
    let subnet = SubnetId(n);
    vec![
        SubnetEvent::SubnetCreated {
            subnet,
            name: format!("net-{n}"),
            owner: who,
            model: (n % 2 == 1).then_some(ModelId(n)),
            lock: a,
        },
        SubnetEvent::UidRegistered {
            subnet,
            uid: n as u16,
            key: who,
            role: Role::Validator,
            burned: a,
            replaced: n.is_multiple_of(2).then_some(who),
        },
        SubnetEvent::WeightsCommitted {
            subnet,
            uid: 3,
            tempo: n,
        },
        SubnetEvent::WeightsRevealed {
            subnet,
            uid: 4,
            count: n as u32,
        },
        SubnetEvent::Delegated {
            subnet,
            validator: who,
            delegator: who,
            amount: a,
        },
        SubnetEvent::Undelegated {
            subnet,
            validator: who,
            delegator: who,
            amount: a,
            release_height: n,
        },
        SubnetEvent::TakeSet {
            validator: who,
            take_bps: n as u16,
        },
        SubnetEvent::EpochPaid {
            subnet,
            emission: a,
            to_owner: a,
            to_miners: a,
            to_validators: a,
        },
        SubnetEvent::EpochSkipped {
            subnet,
            code: n as u16,
        },
        SubnetEvent::SubnetDissolved {
            subnet,
            owner: who,
            lock: a,
            burned: a,
            release_height: n,
        },
    ]
    .into_iter()
    .map(Event::Subnet)
    .collect()
}

fn block(txs: Vec<SignedTransaction>, height: u64) -> Block {
    Block {
        header: BlockHeader {
            chain_id: ChainId::new("tessera-prop").unwrap(),
            height,
            view: height.saturating_add(1),
            parent: Hash([3; 32]),
            timestamp_ms: 1_700_000_000_000,
            proposer: Keypair::from_seed(0).address(),
            txs_root: Block::compute_txs_root(&txs),
            receipts_root: Hash([4; 32]),
            state_root: Hash([5; 32]),
        },
        txs,
    }
}

fn receipts(txs: &[SignedTransaction], code: u16, arg: u128) -> BlockReceipts {
    BlockReceipts {
        txs: txs
            .iter()
            .enumerate()
            .map(|(i, tx)| Receipt {
                tx: tx.id(),
                status: if i % 2 == 0 {
                    TxStatus::Success
                } else {
                    TxStatus::Failed(Failure {
                        code,
                        args: vec![
                            FailureArg::Int(arg),
                            FailureArg::Address(Address::from_public_key(&tx.tx().signer)),
                        ],
                        message: None,
                    })
                },
                fee: Amount::from_base(arg),
                events: Vec::new(),
            })
            .collect(),
        block_events: Vec::new(),
    }
}

fn double_sign(seed: u64, first: u8, second: u8) -> DoubleSign {
    let key = Keypair::from_seed(seed);
    let vote = |payload: u8| SignedVote {
        proposal: vec![payload; 48],
        signature: key.sign(b"prop", &[payload]),
    };
    DoubleSign {
        kind: VoteKind::Finalize,
        validator: key.address(),
        first: vote(first),
        second: vote(second),
    }
}

/// The input, and the input changed at `at` (one byte flipped, then cut there, then
/// extended there), as the mutations a network peer could send.
fn variants(bytes: &[u8], at: usize, flip: u8) -> Vec<Vec<u8>> {
    let at = at % bytes.len().max(1);
    let mut flipped = bytes.to_vec();
    if let Some(b) = flipped.get_mut(at) {
        *b ^= flip.max(1);
    }
    let cut = bytes[..at].to_vec();
    let mut longer = bytes.to_vec();
    longer.insert(at, flip);
    vec![bytes.to_vec(), flipped, cut, longer]
}

fn assert_canonical<T>(
    bytes: &[u8],
    decode: impl Fn(&[u8]) -> Option<T>,
    encode: impl Fn(&T) -> Vec<u8>,
) {
    if let Some(value) = decode(bytes) {
        assert_eq!(
            encode(&value),
            bytes,
            "an accepted input re-encodes differently"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn transactions_blocks_and_receipts_have_one_encoding(
        seed in 0u64..1_000,
        count in 0usize..4,
        amount in any::<u128>(),
        code in any::<u16>(),
        at in any::<usize>(),
        flip in any::<u8>(),
    ) {
        let txs: Vec<_> = (0..count as u64).map(|n| transfer(seed + n, n, amount)).collect();
        if let Some(tx) = txs.first() {
            for input in variants(&tx.to_bytes(), at, flip) {
                assert_canonical(&input, |b| SignedTransaction::from_bytes(b).ok(), |t| t.to_bytes());
            }
        }
        let block = block(txs.clone(), seed);
        prop_assert_eq!(Block::from_bytes(&block.to_bytes()).unwrap(), block.clone());
        for input in variants(&block.to_bytes(), at, flip) {
            assert_canonical(&input, |b| Block::from_bytes(b).ok(), |b| b.to_bytes());
        }
        let receipts = receipts(&txs, code, amount);
        prop_assert_eq!(BlockReceipts::from_bytes(&receipts.to_bytes()).unwrap(), receipts.clone());
        for input in variants(&receipts.to_bytes(), at, flip) {
            assert_canonical(&input, |b| BlockReceipts::from_bytes(b).ok(), |r| r.to_bytes());
        }
    }

    #[test]
    fn market_calls_and_events_have_one_encoding(
        n in 0u64..1_000,
        amount in any::<u128>(),
        at in any::<usize>(),
        flip in any::<u8>(),
    ) {
        let key = Keypair::from_seed(n);
        for (nonce, call) in market_calls(n, amount).into_iter().enumerate() {
            let tx = Transaction {
                chain_id: ChainId::new("tessera-prop").unwrap(),
                signer: key.public_key().clone(),
                nonce: nonce as u64,
                max_fee: Amount::from_base(1),
                call,
            }
            .sign(&key)
            .unwrap();
            prop_assert_eq!(SignedTransaction::from_bytes(&tx.to_bytes()).unwrap(), tx.clone());
            for input in variants(&tx.to_bytes(), at, flip) {
                assert_canonical(&input, |b| SignedTransaction::from_bytes(b).ok(), |t| t.to_bytes());
            }
            let json = serde_json::to_string(&tx.tx().call).unwrap();
            prop_assert_eq!(&serde_json::from_str::<Call>(&json).unwrap(), &tx.tx().call);
        }
        let receipts = BlockReceipts {
            txs: vec![Receipt {
                tx: Hash([1; 32]),
                status: TxStatus::Success,
                fee: Amount::ZERO,
                events: market_events(n, amount),
            }],
            block_events: Vec::new(),
        };
        prop_assert_eq!(BlockReceipts::from_bytes(&receipts.to_bytes()).unwrap(), receipts.clone());
        for input in variants(&receipts.to_bytes(), at, flip) {
            assert_canonical(&input, |b| BlockReceipts::from_bytes(b).ok(), |r| r.to_bytes());
        }
        for event in market_events(n, amount) {
            let json = serde_json::to_string(&event).unwrap();
            prop_assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), event);
        }
    }

    #[test]
    fn evidence_has_one_encoding(seed in 0u64..1_000, a in any::<u8>(), b in any::<u8>(), at in any::<usize>(), flip in any::<u8>()) {
        let evidence = double_sign(seed, a, b);
        let bytes = evidence.encode().to_vec();
        prop_assert_eq!(DoubleSign::decode(bytes.clone()).unwrap(), evidence);
        for input in variants(&bytes, at, flip) {
            assert_canonical(&input, |b| DoubleSign::decode(b.to_vec()).ok(), |e| e.encode().to_vec());
        }
    }
}
