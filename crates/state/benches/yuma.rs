//! One Yuma epoch as the subnet grows with the same weights, and as weights grow: the
//! cost follows the non-zero weights and bonds, not the square of the UID count.
//!
//! `cargo bench -p tessera-state --bench yuma`
#![allow(clippy::unwrap_used)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use tessera_state::subnets::{
    fixed::Frac,
    yuma::{epoch, EpochInput, Neuron, YumaParams},
};

/// `n` UIDs; the first 64 are validators, each weighting and bonded to `per_row` miners
/// (spread over the subnet, deterministic).
fn subnet(n: u16, per_row: u16) -> EpochInput {
    subnet_with(n, 64, per_row)
}

/// `n` UIDs, the first `validators` of them validators, each weighting and bonded to
/// `per_row` distinct UIDs: among the miners, or among all UIDs when every UID validates
/// (the dense case).
fn subnet_with(n: u16, validators: u16, per_row: u16) -> EpochInput {
    let first = if validators == n { 0 } else { validators };
    let span = n - first;
    let neurons = (0..n)
        .map(|i| {
            if i < validators {
                let targets = (0..per_row).map(|k| first + (i * 37 + k * 11) % span);
                let mut weights: Vec<(u16, u16)> = targets
                    .clone()
                    .map(|j| (j, 1 + (j * 7 + i) % 1000))
                    .collect();
                weights.sort_unstable();
                weights.dedup_by_key(|(j, _)| *j);
                let bonds = weights
                    .iter()
                    .map(|(j, _)| (*j, Frac::of_parts(1, 3).unwrap()))
                    .collect();
                Neuron {
                    stake: 1_000_000_000 * u128::from(i + 1),
                    last_update: Some(1_000),
                    weights,
                    bonds,
                    ..Neuron::default()
                }
            } else {
                Neuron {
                    last_update: Some(1_000),
                    registered_at: 10,
                    ..Neuron::default()
                }
            }
        })
        .collect();
    EpochInput {
        block: 1_000,
        last_epoch_block: 640,
        emission: 360_000_000_000,
        params: YumaParams {
            max_validators: validators,
            ..YumaParams::default()
        },
        neurons,
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("yuma_epoch");
    // The sizes: 64 validators setting 256 non-zero weights each.
    for n in [1_024u16, 4_096, 16_384] {
        let input = subnet(n, 256);
        group.bench_with_input(
            BenchmarkId::new("uids_64x256_weights", n),
            &input,
            |b, i| b.iter(|| epoch(i).unwrap()),
        );
    }
    // Dense: 256 UIDs, every one a validator weighting every UID (Bittensor's cap).
    let dense = subnet_with(256, 256, 256);
    group.bench_with_input(BenchmarkId::new("dense_256x256", 256), &dense, |b, i| {
        b.iter(|| epoch(i).unwrap())
    });
    for n in [256u16, 1_024, 4_096] {
        let input = subnet(n, 128);
        group.bench_with_input(
            BenchmarkId::new("uids_64x128_weights", n),
            &input,
            |b, i| b.iter(|| epoch(i).unwrap()),
        );
    }
    for per_row in [32u16, 128, 512] {
        let input = subnet(4_096, per_row);
        group.bench_with_input(
            BenchmarkId::new("weights_per_validator_4096_uids", per_row),
            &input,
            |b, i| b.iter(|| epoch(i).unwrap()),
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
