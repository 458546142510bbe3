//! What a provider spends per paid call before running it, next to the raw cost of one
//! Ed25519 verification on one core:
//!
//! * `raw_ed25519_verify`: one voucher signature, verified.
//! * `voucher_check`: the voucher verified against the channel's payer, then the ledger's
//!   admission (lane, replay, deposit) with its journal append, and the charge recorded
//!   with its signed receipt (one Ed25519 signature) as the lane's proof.
//! * `full_admission`: the same plus the channel checks and the request signature over a
//!   short embeddings body (two signatures per call).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use commonware_cryptography::Verifier as _;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use std::hint::black_box;
use tessera_provider::{
    admit,
    chain::ChannelInfo,
    ledger::{Ledger, Ticket},
};
use tessera_state::channels::Channel;
use tessera_types::{
    call::{sign_request, CallReceipt},
    channel::Price,
    tx::ModelId,
    voucher::{Voucher, VOUCHER_NAMESPACE},
    Amount, ChainId, Hash, Keypair,
};

const BODY: &[u8] = br#"{"model":"minilm-embed","input":"a short sentence"}"#;

/// Record `ticket`'s charge with its signed receipt, as the provider does after a call.
fn settle(
    ledger: &Ledger,
    ticket: Ticket,
    price: Amount,
    provider: &Keypair,
    chain: &ChainId,
    request_sig: &tessera_types::Signature,
) -> CallReceipt {
    let (channel, lane, voucher) = (ticket.channel, ticket.lane, ticket.voucher);
    ledger
        .finish(ticket, price, request_sig, |lane_charged| {
            CallReceipt {
                chain_id: chain.clone(),
                channel,
                lane,
                provider: provider.address(),
                request_hash: tessera_types::call::body_hash(BODY),
                model: ModelId(1),
                manifest_cid: "bafy".into(),
                kernel_path: "cpu".into(),
                output_hash: Hash([1; 32]),
                token_ids: Vec::new(),
                tokens_charged: 0,
                amount_charged: price,
                lane_charged,
                voucher,
                first_output_ms: 1,
                total_ms: 1,
                signature: CallReceipt::unsigned_signature(),
            }
            .sign(provider)
        })
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let payer = Keypair::from_seed(1);
    let provider = Keypair::from_seed(2);
    let chain = ChainId::new("tessera-bench").unwrap();
    let id = Hash([7; 32]);
    let price = Amount::from_base(1_000);
    let info = ChannelInfo {
        id,
        channel: Channel {
            payer: payer.address(),
            provider: provider.address(),
            model: ModelId(1),
            deposit: Amount::from_base(u128::from(u64::MAX)),
            claimed: Amount::ZERO,
            opened_height: 1,
            expires_at: 1_000_000,
            model_price: Price::default(),
            provider_price: Price {
                per_call: price,
                per_token: Amount::ZERO,
            },
            closed: false,
        },
        payer_key: payer.public_key().clone(),
        claim_deadline: 1_000_600,
    };
    let dir = std::env::temp_dir().join(format!("tessera-admission-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let ledger = Ledger::open(&dir.join("ledger.log")).unwrap();
    let me = provider.address();
    let ctx = admit::Context {
        me: &me,
        chain_id: &chain,
        model: ModelId(1),
        height: 10,
        expiry_margin: 30,
    };

    let one = Voucher::sign(&payer, &chain, id, 0, price);
    let message = Voucher::message(&chain, &id, 0, price);
    c.bench_function("raw_ed25519_verify", |b| {
        b.iter(|| {
            black_box(payer.public_key().verify(
                VOUCHER_NAMESPACE,
                black_box(&message),
                &one.signature,
            ))
        })
    });

    // Each call: lane 0's next voucher (charged so far + this call's price).
    let mut charged = 0u128;
    c.bench_function("voucher_check", |b| {
        b.iter_batched(
            || {
                let v = Voucher::sign(&payer, &chain, id, 0, Amount::from_base(charged + 1_000));
                charged += 1_000;
                let sig = sign_request(&payer, &v, BODY);
                (v, sig)
            },
            |(voucher, sig)| {
                voucher.verify(&chain, &id, &info.payer_key).unwrap();
                let ticket = ledger
                    .begin(&voucher, price, info.channel.deposit)
                    .unwrap()
                    .unwrap();
                black_box(settle(&ledger, ticket, price, &provider, &chain, &sig))
            },
            BatchSize::SmallInput,
        )
    });

    let mut lane1 = 0u128;
    c.bench_function("full_admission", |b| {
        b.iter_batched(
            || {
                let v = Voucher::sign(&payer, &chain, id, 1, Amount::from_base(lane1 + 1_000));
                lane1 += 1_000;
                let payment = admit::Payment {
                    chain: chain.as_str().into(),
                    channel: id,
                    lane: 1,
                    cumulative: v.cumulative,
                    voucher_sig: v.signature.clone(),
                    request_sig: sign_request(&payer, &v, BODY),
                };
                payment
            },
            |payment| {
                payment.check_chain(&chain).unwrap();
                let voucher = admit::check(&ctx, &payment, &info, BODY).unwrap();
                let ticket = ledger
                    .begin(&voucher, price, info.channel.deposit)
                    .unwrap()
                    .unwrap();
                let sig = &payment.request_sig;
                black_box(settle(&ledger, ticket, price, &provider, &chain, sig))
            },
            BatchSize::SmallInput,
        )
    });
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
