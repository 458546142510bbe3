//! Yuma consensus: one epoch of a subnet, from the validators' stakes, weights and bonds
//! to each UID's incentive, dividends and emission. A pure function in fixed point
//! ([`Frac`], 64.64, rounding down), following the maths of Bittensor's chain
//! (subtensor's `epoch_mechanism` with the Yuma3 bond rule, the default of its new
//! subnets in 2026), written anew for Tessera.
//!
//! # The epoch, step by step (`n` UIDs; `i` a validator row, `j` a miner column)
//! 1. **Stake.** `S = stake / Σ stake`. A UID is *active* when
//!    `last_update + activity_cutoff ≥ block`. Validators are the UIDs holding a
//!    *permit*: the permits given (last epoch's), else the top `max_validators` by stake
//!    with stake > 0 (ties: the higher UID keeps it). The new permits (top-k of this
//!    epoch's stake) are returned for the next epoch. Active stake
//!    `A = normalize(S ⊙ active ⊙ permit)`.
//! 2. **Weights.** Rows of UIDs without a permit are dropped, then self-weights, then
//!    *outdated* weights (`last_update_i ≤ registered_at_j`: the miner took the UID
//!    after the validator last set weights). Each remaining row is normalized to sum 1.
//! 3. **Consensus** per miner: `C_j` = the largest weight `x` in column `j` such that
//!    the active stake of validators with `W_ij ≥ x` is at least `κ · Σ A` (absent
//!    weights count as 0, so `C_j = 0` when less than `κ` of the stake weights `j`).
//!    With `κ = ½` and two equal validators, the higher weight is the consensus.
//! 4. **Clipping**: `W̄_ij = min(W_ij, C_j)`; validator trust `VT_i = Σ_j W̄_ij`.
//! 5. **Ranks and incentive**: `R_j = Σ_i A_i W̄_ij`, `I = R / Σ R` (0 when `Σ R = 0`).
//! 6. **Bond weights**: `Wb = (1 − β) W + β W̄` (β = `bonds_penalty`; 1 by default, so
//!    bonds follow only the part of a weight that consensus supports).
//! 7. **Bonds** (an exponential moving average per entry, no stake factor):
//!    `B'_ij = (1 − a) B_ij + a Wb_ij` with `a = 1 − bonds_moving_average`, over every
//!    entry where either term is non-zero: a bond whose weight went to zero *decays* by
//!    `(1 − a)` each epoch rather than vanishing. Bonds of a column whose miner
//!    registered at or after `last_epoch_block` start from zero; rows of UIDs that lose
//!    their permit are emptied.
//! 8. **Dividends**: `Bn` = `B'` column-normalized; `t_i = Σ_j Bn_ij I_j`;
//!    `D = normalize(t ⊙ A)`.
//! 9. **Emission** `E` (base units): the subnet owner takes `⌊E · owner_cut⌋`; of the
//!    rest `R`, miners share `⌊R/2⌋` by `I` and validators the other half by `D`. Each
//!    UID's part is rounded down; what rounding leaves (< one base unit per UID) goes to
//!    the owner, so the parts always sum to `E`. When no miner has incentive the miners'
//!    half goes to validators; when no validator has dividends the validators' part is
//!    split by active stake, and when there is no active stake it goes to the owner.
//!
//! Cost: every step walks the non-zero weights and bonds (plus `O(n)` vectors); the
//! consensus sorts each column's entries, so an epoch is `O(n + nnz log nnz)`, never
//! `O(n²)`.
//!
//! # Invariants (property-tested in `tests/yuma_props.rs`)
//! * the owner's, miners' and validators' emission sum to `E` exactly, whatever the input.
//! * `Σ I` and `Σ D` are 1 (to within one unit in the last place per UID) or 0.
//! * `0 ≤ W̄_ij ≤ W_ij`, `C_j ≤ max_i W_ij`, `VT_i ≤ 1`; every bond is in `[0, 1]`.
//! * a bond whose weight is now zero is `(1 − a)` times its old value.
//! * outputs are non-zero only where an input weight or bond was (sparse in, sparse out).
//! * any input is answered with a result or a typed [`YumaError`], never a panic.

use super::fixed::Frac;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most UIDs in one epoch of the pure function (`tessera yuma`, the benchmarks); a
/// subnet on chain holds at most `registry::MAX_SUBNET_UIDS`.
pub const MAX_UIDS: usize = 16_384;
/// Most weights one validator sets (one per UID at most).
pub const MAX_WEIGHTS_PER_ROW: usize = MAX_UIDS;

/// The hyperparameters the epoch reads (defaults: Bittensor's for a new subnet, with
/// `κ` exactly one half).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct YumaParams {
    /// Share of active validator stake that must support a weight for it to count, bps.
    pub kappa_bps: u16,
    /// The bonds' memory per epoch, parts per million (900,000: a bond moves 10% of
    /// the way to its weight each epoch).
    pub bonds_moving_average_ppm: u32,
    /// How much bonds follow clipped rather than raw weights, bps (10,000: only clipped).
    pub bonds_penalty_bps: u16,
    /// Validator permits: the top this many UIDs by stake.
    pub max_validators: u16,
    /// A UID that has not set weights for this many blocks is inactive.
    pub activity_cutoff_blocks: u64,
    /// The subnet owner's cut of the epoch's emission, bps.
    pub owner_cut_bps: u16,
}

impl Default for YumaParams {
    fn default() -> YumaParams {
        YumaParams {
            kappa_bps: 5_000,
            bonds_moving_average_ppm: 900_000,
            bonds_penalty_bps: 10_000,
            max_validators: 64,
            activity_cutoff_blocks: 5_000,
            owner_cut_bps: 1_800,
        }
    }
}

/// One UID's part of the input.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Neuron {
    /// Stake behind the UID (own and delegated), base units.
    #[serde(with = "amount_text")]
    pub stake: u128,
    /// The last block this UID set (or committed) weights; absent: the epoch's block.
    #[serde(default)]
    pub last_update: Option<u64>,
    /// The block this UID was registered (its current holder).
    #[serde(default)]
    pub registered_at: u64,
    /// Whether it held a validator permit from the last epoch; absent: derived from
    /// this epoch's stake.
    #[serde(default)]
    pub permit: Option<bool>,
    /// `(uid, weight)` pairs as set (any scale: rows are normalized).
    #[serde(default)]
    pub weights: Vec<(u16, u16)>,
    /// `(uid, bond)` from the last epoch, each bond in `[0, 1]`.
    #[serde(default)]
    pub bonds: Vec<(u16, Frac)>,
}

/// An epoch's input.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpochInput {
    /// The block the epoch runs at.
    pub block: u64,
    /// The block of the subnet's last epoch (columns registered since start afresh).
    #[serde(default)]
    pub last_epoch_block: u64,
    /// What this epoch distributes, base units.
    #[serde(with = "amount_text")]
    pub emission: u128,
    #[serde(default)]
    pub params: YumaParams,
    /// UID `k` is `neurons[k]`.
    pub neurons: Vec<Neuron>,
}

/// One UID's part of the output.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeuronOut {
    pub uid: u16,
    pub stake: Frac,
    pub active: bool,
    /// The permit this epoch used, and the one it gives for the next.
    pub permit: bool,
    pub new_permit: bool,
    pub active_stake: Frac,
    /// Row-normalized weights after the masks.
    pub weights: Vec<(u16, Frac)>,
    pub consensus: Frac,
    pub clipped_weights: Vec<(u16, Frac)>,
    pub validator_trust: Frac,
    pub rank: Frac,
    pub incentive: Frac,
    pub bonds: Vec<(u16, Frac)>,
    pub dividends: Frac,
    /// Base units earned as a miner (by incentive) and as a validator (by dividends).
    #[serde(with = "amount_text")]
    pub miner_emission: u128,
    #[serde(with = "amount_text")]
    pub validator_emission: u128,
}

/// An epoch's result: every intermediate vector, per UID.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochOutput {
    pub neurons: Vec<NeuronOut>,
    /// The owner's cut plus what rounding left, base units.
    #[serde(with = "amount_text")]
    pub owner_emission: u128,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum YumaError {
    #[error("{0} UIDs: a subnet epoch takes at most {MAX_UIDS}")]
    TooManyUids(usize),
    #[error("UID {uid} names UID {target}, but the subnet has {n} UIDs")]
    NoSuchUid { uid: usize, target: u16, n: usize },
    #[error("UID {uid} lists UID {target} twice in its {what}")]
    Duplicate {
        uid: usize,
        target: u16,
        what: &'static str,
    },
    #[error("UID {uid}'s bond to UID {target} is {bond}: bonds are within [0, 1]")]
    BondAboveOne { uid: usize, target: u16, bond: Frac },
    #[error("{0} is above 100%: bps are at most 10,000 and ppm at most 1,000,000")]
    BadParam(&'static str),
    #[error("fixed-point overflow in {0}: the input's stakes or emission are too large")]
    Overflow(&'static str),
}

type Row = Vec<(u16, Frac)>;

/// Run one epoch.
pub fn epoch(input: &EpochInput) -> Result<EpochOutput, YumaError> {
    let n = check(input)?;
    let p = Rates::of(&input.params)?;
    let stake = normalize_amounts(input.neurons.iter().map(|x| x.stake))?;
    let active: Vec<bool> = input
        .neurons
        .iter()
        .map(|x| {
            updated(input, x).saturating_add(input.params.activity_cutoff_blocks) >= input.block
        })
        .collect();
    let new_permits = top_k(&input.neurons, usize::from(input.params.max_validators));
    let permits: Vec<bool> = input
        .neurons
        .iter()
        .zip(&new_permits)
        .map(|(x, new)| x.permit.unwrap_or(*new))
        .collect();
    let masked: Vec<Frac> = (0..n)
        .map(|i| match (active.get(i), permits.get(i), stake.get(i)) {
            (Some(true), Some(true), Some(s)) => *s,
            _ => Frac::ZERO,
        })
        .collect();
    let active_stake = normalize(&masked)?;
    let weights = masked_weights(input, &permits)?;
    let consensus = consensus(&weights, &active_stake, p.kappa, n)?;
    let clipped = clip(&weights, &consensus);
    let trust = clipped
        .iter()
        .map(|row| Frac::sum(row.iter().map(|(_, w)| w)).ok_or(YumaError::Overflow("trust")))
        .collect::<Result<Vec<_>, _>>()?;
    let ranks = ranks(&clipped, &active_stake, n)?;
    let incentive = normalize(&ranks)?;
    let bonds = new_bonds(input, &weights, &clipped, &new_permits, &p)?;
    let dividends = dividends(&bonds, &incentive, &active_stake)?;
    let split = Split::of(input.emission, &p, &incentive, &dividends, &active_stake)?;
    let neurons = (0..n)
        .map(|i| NeuronOut {
            uid: u16::try_from(i).unwrap_or(u16::MAX),
            stake: get(&stake, i),
            active: active.get(i).copied().unwrap_or(false),
            permit: permits.get(i).copied().unwrap_or(false),
            new_permit: new_permits.get(i).copied().unwrap_or(false),
            active_stake: get(&active_stake, i),
            weights: weights.get(i).cloned().unwrap_or_default(),
            consensus: get(&consensus, i),
            clipped_weights: clipped.get(i).cloned().unwrap_or_default(),
            validator_trust: get(&trust, i),
            rank: get(&ranks, i),
            incentive: get(&incentive, i),
            bonds: bonds.get(i).cloned().unwrap_or_default(),
            dividends: get(&dividends, i),
            miner_emission: split.miners.get(i).copied().unwrap_or(0),
            validator_emission: split.validators.get(i).copied().unwrap_or(0),
        })
        .collect();
    Ok(EpochOutput {
        neurons,
        owner_emission: split.owner,
    })
}

fn updated(input: &EpochInput, x: &Neuron) -> u64 {
    x.last_update.unwrap_or(input.block)
}

fn get(v: &[Frac], i: usize) -> Frac {
    v.get(i).copied().unwrap_or(Frac::ZERO)
}

/// The input's shape: UID count, targets in range, no duplicates, bonds ≤ 1.
fn check(input: &EpochInput) -> Result<usize, YumaError> {
    let n = input.neurons.len();
    if n > MAX_UIDS {
        return Err(YumaError::TooManyUids(n));
    }
    for (uid, x) in input.neurons.iter().enumerate() {
        let targets = |what: &'static str, list: &mut dyn Iterator<Item = u16>| {
            let mut seen = std::collections::BTreeSet::new();
            for target in list {
                if usize::from(target) >= n {
                    return Err(YumaError::NoSuchUid { uid, target, n });
                }
                if !seen.insert(target) {
                    return Err(YumaError::Duplicate { uid, target, what });
                }
            }
            Ok(())
        };
        targets("weights", &mut x.weights.iter().map(|(t, _)| *t))?;
        targets("bonds", &mut x.bonds.iter().map(|(t, _)| *t))?;
        if let Some((target, bond)) = x.bonds.iter().find(|(_, b)| *b > Frac::ONE) {
            return Err(YumaError::BondAboveOne {
                uid,
                target: *target,
                bond: *bond,
            });
        }
    }
    Ok(n)
}

/// The hyperparameters as fractions.
struct Rates {
    kappa: Frac,
    /// The EMA's step `a`, and `1 − a`.
    step: Frac,
    keep: Frac,
    penalty: Frac,
    owner_cut: Frac,
}

impl Rates {
    fn of(p: &YumaParams) -> Result<Rates, YumaError> {
        let bps = |v: u16, name| {
            (v <= 10_000)
                .then(|| Frac::of_parts(u64::from(v), 10_000))
                .flatten()
                .ok_or(YumaError::BadParam(name))
        };
        let keep = (p.bonds_moving_average_ppm <= 1_000_000)
            .then(|| Frac::of_parts(u64::from(p.bonds_moving_average_ppm), 1_000_000))
            .flatten()
            .ok_or(YumaError::BadParam("bonds_moving_average_ppm"))?;
        Ok(Rates {
            kappa: bps(p.kappa_bps, "kappa_bps")?,
            step: Frac::ONE.saturating_sub(keep),
            keep,
            penalty: bps(p.bonds_penalty_bps, "bonds_penalty_bps")?,
            owner_cut: bps(p.owner_cut_bps, "owner_cut_bps")?,
        })
    }
}

/// `x / Σ x` for amounts; all zero when the sum is.
fn normalize_amounts(items: impl Iterator<Item = u128> + Clone) -> Result<Vec<Frac>, YumaError> {
    let total = items
        .clone()
        .try_fold(0u128, u128::checked_add)
        .ok_or(YumaError::Overflow("the total stake"))?;
    Ok(items
        .map(|x| Frac::ratio(x, total).unwrap_or(Frac::ZERO))
        .collect())
}

/// `x / Σ x` for fractions; all zero when the sum is.
fn normalize(v: &[Frac]) -> Result<Vec<Frac>, YumaError> {
    let total = Frac::sum(v).ok_or(YumaError::Overflow("a normalization"))?;
    if total.is_zero() {
        return Ok(vec![Frac::ZERO; v.len()]);
    }
    v.iter()
        .map(|x| {
            x.checked_div(total)
                .ok_or(YumaError::Overflow("a normalization"))
        })
        .collect()
}

/// The top `k` UIDs by stake with stake > 0 (ties: the higher UID wins).
fn top_k(neurons: &[Neuron], k: usize) -> Vec<bool> {
    let mut order: Vec<usize> = (0..neurons.len())
        .filter(|i| neurons.get(*i).is_some_and(|x| x.stake > 0))
        .collect();
    order.sort_by_key(|i| {
        (
            std::cmp::Reverse(neurons.get(*i).map_or(0, |x| x.stake)),
            std::cmp::Reverse(*i),
        )
    });
    let mut permits = vec![false; neurons.len()];
    for i in order.into_iter().take(k) {
        if let Some(p) = permits.get_mut(i) {
            *p = true;
        }
    }
    permits
}

/// Step 2: the weights that count, each row normalized.
fn masked_weights(input: &EpochInput, permits: &[bool]) -> Result<Vec<Row>, YumaError> {
    let neurons = &input.neurons;
    neurons
        .iter()
        .enumerate()
        .map(|(i, x)| {
            if !permits.get(i).copied().unwrap_or(false) {
                return Ok(Vec::new());
            }
            let kept: Vec<(u16, u128)> = x
                .weights
                .iter()
                .filter(|(j, w)| {
                    *w > 0
                        && usize::from(*j) != i
                        && neurons
                            .get(usize::from(*j))
                            .is_some_and(|m| updated(input, x) > m.registered_at)
                })
                .map(|(j, w)| (*j, u128::from(*w)))
                .collect();
            let fracs = normalize_amounts(kept.iter().map(|(_, w)| *w))?;
            let mut row: Row = kept.iter().map(|(j, _)| *j).zip(fracs).collect();
            row.sort_unstable_by_key(|(j, _)| *j);
            Ok(row)
        })
        .collect()
}

/// Step 3: per column, the largest weight backed by at least `κ` of the active stake.
fn consensus(
    weights: &[Row],
    stake: &[Frac],
    kappa: Frac,
    n: usize,
) -> Result<Vec<Frac>, YumaError> {
    let total = Frac::sum(stake).ok_or(YumaError::Overflow("consensus"))?;
    let needed = kappa
        .checked_mul(total)
        .ok_or(YumaError::Overflow("consensus"))?;
    let mut columns: Vec<Vec<(Frac, Frac)>> = vec![Vec::new(); n];
    for (i, row) in weights.iter().enumerate() {
        let s = get(stake, i);
        if s.is_zero() {
            continue;
        }
        for (j, w) in row {
            if let Some(c) = columns.get_mut(usize::from(*j)) {
                c.push((*w, s));
            }
        }
    }
    columns
        .into_iter()
        .map(|mut column| {
            if needed.is_zero() {
                // κ = 0: any weight counts; the largest is the consensus.
                return Ok(column.iter().map(|(w, _)| *w).max().unwrap_or(Frac::ZERO));
            }
            column.sort_unstable_by_key(|(w, _)| std::cmp::Reverse(*w));
            let mut backing = Frac::ZERO;
            for (w, s) in column {
                backing = backing
                    .checked_add(s)
                    .ok_or(YumaError::Overflow("consensus"))?;
                if backing >= needed {
                    return Ok(w);
                }
            }
            Ok(Frac::ZERO)
        })
        .collect()
}

/// Step 4: weights clipped to consensus (zeros dropped).
fn clip(weights: &[Row], consensus: &[Frac]) -> Vec<Row> {
    weights
        .iter()
        .map(|row| {
            row.iter()
                .map(|(j, w)| (*j, (*w).min(get(consensus, usize::from(*j)))))
                .filter(|(_, w)| !w.is_zero())
                .collect()
        })
        .collect()
}

/// Step 5: `R_j = Σ_i A_i W̄_ij`.
fn ranks(clipped: &[Row], stake: &[Frac], n: usize) -> Result<Vec<Frac>, YumaError> {
    let mut ranks = vec![Frac::ZERO; n];
    for (i, row) in clipped.iter().enumerate() {
        let s = get(stake, i);
        for (j, w) in row {
            let add = s.checked_mul(*w).ok_or(YumaError::Overflow("ranks"))?;
            if let Some(r) = ranks.get_mut(usize::from(*j)) {
                *r = r.checked_add(add).ok_or(YumaError::Overflow("ranks"))?;
            }
        }
    }
    Ok(ranks)
}

/// Steps 6–7: the new bonds.
fn new_bonds(
    input: &EpochInput,
    weights: &[Row],
    clipped: &[Row],
    new_permits: &[bool],
    p: &Rates,
) -> Result<Vec<Row>, YumaError> {
    let overflow = || YumaError::Overflow("bonds");
    let fresh = |j: u16| {
        input.neurons.get(usize::from(j)).is_some_and(|m| {
            m.registered_at >= input.last_epoch_block && input.last_epoch_block > 0
        })
    };
    input
        .neurons
        .iter()
        .enumerate()
        .map(|(i, x)| {
            if !new_permits.get(i).copied().unwrap_or(false) {
                return Ok(Vec::new());
            }
            // Entry j: (old bond, bond weight).
            let mut entries: BTreeMap<u16, (Frac, Frac)> = BTreeMap::new();
            for (j, b) in &x.bonds {
                if !fresh(*j) {
                    entries.entry(*j).or_default().0 = *b;
                }
            }
            let clipped_row: BTreeMap<u16, Frac> =
                clipped.get(i).into_iter().flatten().copied().collect();
            for (j, w) in weights.get(i).into_iter().flatten() {
                let c = clipped_row.get(j).copied().unwrap_or(Frac::ZERO);
                // (1 − β) w + β c
                let wb = Frac::ONE
                    .saturating_sub(p.penalty)
                    .checked_mul(*w)
                    .and_then(|a| p.penalty.checked_mul(c).and_then(|b| a.checked_add(b)))
                    .ok_or_else(overflow)?;
                entries.entry(*j).or_default().1 = wb;
            }
            let mut row = Row::new();
            for (j, (old, wb)) in entries {
                let bond = p
                    .keep
                    .checked_mul(old)
                    .and_then(|a| p.step.checked_mul(wb).and_then(|b| a.checked_add(b)))
                    .ok_or_else(overflow)?
                    .min(Frac::ONE);
                if !bond.is_zero() {
                    row.push((j, bond));
                }
            }
            Ok(row)
        })
        .collect()
}

/// Step 8: `D = normalize((Bn · I) ⊙ A)` with `Bn` the column-normalized bonds.
fn dividends(bonds: &[Row], incentive: &[Frac], stake: &[Frac]) -> Result<Vec<Frac>, YumaError> {
    let overflow = || YumaError::Overflow("dividends");
    let mut column_sums = BTreeMap::<u16, Frac>::new();
    for (j, b) in bonds.iter().flatten() {
        let sum = column_sums.entry(*j).or_default();
        *sum = sum.checked_add(*b).ok_or_else(overflow)?;
    }
    let scores = bonds
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let mut t = Frac::ZERO;
            for (j, b) in row {
                let sum = column_sums.get(j).copied().unwrap_or(Frac::ZERO);
                if sum.is_zero() {
                    continue;
                }
                let share = b.checked_div(sum).ok_or_else(overflow)?;
                let add = share
                    .checked_mul(get(incentive, usize::from(*j)))
                    .ok_or_else(overflow)?;
                t = t.checked_add(add).ok_or_else(overflow)?;
            }
            t.checked_mul(get(stake, i)).ok_or_else(overflow)
        })
        .collect::<Result<Vec<_>, _>>()?;
    normalize(&scores)
}

/// Step 9: who gets which base units.
struct Split {
    owner: u128,
    miners: Vec<u128>,
    validators: Vec<u128>,
}

impl Split {
    fn of(
        emission: u128,
        p: &Rates,
        incentive: &[Frac],
        dividends: &[Frac],
        stake: &[Frac],
    ) -> Result<Split, YumaError> {
        let overflow = || YumaError::Overflow("the emission split");
        let cut = p.owner_cut.of_amount(emission).ok_or_else(overflow)?;
        let rest = emission.checked_sub(cut).ok_or_else(overflow)?;
        let mut miners_pool = rest.checked_div(2).ok_or_else(overflow)?;
        let mut validators_pool = rest.checked_sub(miners_pool).ok_or_else(overflow)?;
        let any = |v: &[Frac]| v.iter().any(|x| !x.is_zero());
        if !any(incentive) {
            validators_pool = validators_pool
                .checked_add(miners_pool)
                .ok_or_else(overflow)?;
            miners_pool = 0;
        }
        let by = if any(dividends) {
            dividends
        } else if any(stake) {
            stake
        } else {
            &[]
        };
        let shares = |pool: u128, weights: &[Frac]| -> Result<Vec<u128>, YumaError> {
            (0..incentive.len())
                .map(|i| get(weights, i).of_amount(pool).ok_or_else(overflow))
                .collect()
        };
        let miners = shares(miners_pool, incentive)?;
        let validators = shares(validators_pool, by)?;
        let paid = miners
            .iter()
            .chain(&validators)
            .try_fold(0u128, |a, b| a.checked_add(*b))
            .ok_or_else(overflow)?;
        let owner = emission.checked_sub(paid).ok_or_else(overflow)?;
        Ok(Split {
            owner,
            miners,
            validators,
        })
    }
}

/// Amounts travel in JSON as decimal strings (they may pass 2^53).
mod amount_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Text {
            S(String),
            N(u64),
        }
        match Text::deserialize(d)? {
            Text::S(s) => s.parse().map_err(serde::de::Error::custom),
            Text::N(n) => Ok(u128::from(n)),
        }
    }
}
