//! The split of one claimed amount among provider, share holders, data providers,
//! treasury and the protocol fee (decision 0017). Pure arithmetic on integers.
//!
//! # Rule, for a claim of `A`
//! 1. `model = ⌊A × m ÷ p⌋`, `(m, p)` the model's and the provider's price in the model's
//!    unit (per token if the model charges per token, else per call; `p = 0` ⇒ `model = 0`).
//! 2. `owners`, `data`, `treasury` = `⌊model × bps ÷ 10⁴⌋` with the model's split.
//! 3. `data` goes to the links, `⌊data × weight ÷ 10⁴⌋` each; the first link also gets
//!    what those floors leave.
//! 4. `fee = min(⌊A × fee_bps ÷ 10⁴⌋, A − owners − data − treasury)`.
//! 5. `provider = A − owners − data − treasury − fee`.
//!
//! # Invariants (property-tested in `tests/market_props.rs`)
//! * `provider + owners + data + treasury + fee = A` exactly; every leg ≥ 0.
//! * `Σ data links = data`.
//! * `model ≤ A`, and when prices are proportional and `A = calls × p_call +
//!   tokens × p_token`, `model = calls × m_call + tokens × m_token` exactly.

use crate::{error::checked, StateError};
use tessera_types::{
    channel::Price,
    tx::{DataLink, RevenueSplit},
    Address, Amount,
};

/// Basis points in a whole.
const FULL_BPS: u128 = 10_000;

/// Where one claim's amount goes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Split {
    /// The model's price part of the amount (the base of the percentages).
    pub model_part: Amount,
    pub provider: Amount,
    pub owners: Amount,
    /// Per data link, in the model's link order (links with nothing are kept, as zero).
    pub data: Vec<(Address, Amount)>,
    pub data_total: Amount,
    pub treasury: Amount,
    pub fee: Amount,
}

/// `⌊a × b ÷ c⌋`, `None` on overflow; 0 when `c` is 0.
fn mul_div(a: u128, b: u128, c: u128) -> Option<u128> {
    a.checked_mul(b)?.checked_div(c).or(Some(0))
}

fn bps_of(amount: Amount, bps: u128) -> Result<Amount, StateError> {
    let part = mul_div(amount.base(), bps, FULL_BPS);
    Ok(Amount::from_base(checked(part, "split")?))
}

/// Split `amount` claimed on a channel opened at `provider_price` for a model priced
/// `model_price` with terms `terms` and data links `links`.
pub fn split(
    amount: Amount,
    model_price: &Price,
    provider_price: &Price,
    terms: &RevenueSplit,
    links: &[DataLink],
    fee_bps: u16,
) -> Result<Split, StateError> {
    let m = model_price.unit_part(model_price).base();
    let p = provider_price.unit_part(model_price).base();
    let model_part = Amount::from_base(checked(mul_div(amount.base(), m, p), "model part")?);
    // `m ≤ p` is a registration rule; the `min` keeps the legs inside `amount` regardless.
    let model_part = model_part.min(amount);
    let owners = bps_of(model_part, terms.owners_bps.get().into())?;
    let data_total = bps_of(model_part, terms.data_bps.get().into())?;
    let treasury = bps_of(model_part, terms.treasury_bps.get().into())?;
    let data = split_data(data_total, links)?;
    let legs = [owners, data_total, treasury]
        .into_iter()
        .try_fold(Amount::ZERO, |sum, leg| sum.checked_add(leg));
    let rest = checked(
        amount.checked_sub(checked(legs, "split")?),
        "split above the amount",
    )?;
    let fee = bps_of(amount, fee_bps.into())?.min(rest);
    let provider = checked(rest.checked_sub(fee), "split")?;
    Ok(Split {
        model_part,
        provider,
        owners,
        data,
        data_total,
        treasury,
        fee,
    })
}

/// `data_total` among `links` by weight; the first link takes the floors' remainder.
fn split_data(
    data_total: Amount,
    links: &[DataLink],
) -> Result<Vec<(Address, Amount)>, StateError> {
    let mut out = Vec::with_capacity(links.len());
    let mut given = Amount::ZERO;
    for link in links {
        let part = bps_of(data_total, link.weight_bps.get().into())?;
        given = checked(given.checked_add(part), "data split")?;
        out.push((link.provider, part));
    }
    let left = checked(data_total.checked_sub(given), "data split above its total")?;
    if let Some((_, first)) = out.first_mut() {
        *first = checked(first.checked_add(left), "data split")?;
    } else if !left.is_zero() {
        return Err(StateError::InvalidDataLinks {
            reason: "a non-zero data share needs at least one data link",
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_types::tx::Bps;

    fn terms(compute: u16, owners: u16, data: u16, treasury: u16) -> RevenueSplit {
        RevenueSplit {
            compute_bps: Bps::new(compute),
            owners_bps: Bps::new(owners),
            data_bps: Bps::new(data),
            treasury_bps: Bps::new(treasury),
        }
    }

    fn per_call(base: u128) -> Price {
        Price {
            per_call: Amount::from_base(base),
            per_token: Amount::ZERO,
        }
    }

    #[test]
    fn a_worked_example_splits_to_the_base_unit() -> Result<(), StateError> {
        // Model 1,000 per call; provider asks 1,500; 7 calls = 10,500.
        let links = [
            DataLink {
                provider: Address([1; 32]),
                weight_bps: Bps::new(3_333),
            },
            DataLink {
                provider: Address([2; 32]),
                weight_bps: Bps::new(6_667),
            },
        ];
        let s = split(
            Amount::from_base(10_500),
            &per_call(1_000),
            &per_call(1_500),
            &terms(5_000, 3_000, 1_000, 1_000),
            &links,
            100,
        )?;
        assert_eq!(s.model_part, Amount::from_base(7_000));
        assert_eq!(s.owners, Amount::from_base(2_100));
        assert_eq!(s.data_total, Amount::from_base(700));
        // 700 × 3333 / 10⁴ = 233.31 → 233 (+1 remainder); 700 × 6667 / 10⁴ = 466.69 → 466
        assert_eq!(s.data[0], (Address([1; 32]), Amount::from_base(234)));
        assert_eq!(s.data[1], (Address([2; 32]), Amount::from_base(466)));
        assert_eq!(s.treasury, Amount::from_base(700));
        assert_eq!(s.fee, Amount::from_base(105));
        // 10,500 − 2,100 − 700 − 700 − 105
        assert_eq!(s.provider, Amount::from_base(6_895));
        Ok(())
    }

    #[test]
    fn the_fee_never_takes_more_than_the_provider_has() -> Result<(), StateError> {
        let s = split(
            Amount::from_base(1_000),
            &per_call(1_000),
            &per_call(1_000),
            &terms(0, 10_000, 0, 0),
            &[],
            10_000,
        )?;
        assert_eq!(s.owners, Amount::from_base(1_000));
        assert_eq!(s.fee, Amount::ZERO);
        assert_eq!(s.provider, Amount::ZERO);
        Ok(())
    }

    #[test]
    fn a_free_model_gives_everything_to_the_provider_and_fee() -> Result<(), StateError> {
        let s = split(
            Amount::from_base(999),
            &per_call(0),
            &per_call(3),
            &terms(0, 5_000, 0, 5_000),
            &[],
            0,
        )?;
        assert_eq!(s.model_part, Amount::ZERO);
        assert_eq!(s.provider, Amount::from_base(999));
        Ok(())
    }
}
