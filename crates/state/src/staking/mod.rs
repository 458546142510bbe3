//! `staking`: bond TSR as stake, unbond it through an unbonding period, withdraw it;
//! and the hooks other modules call to lock stake (a provider's collateral) and to
//! slash it (a proven cheat).
//!
//! # Rules
//! * `bond(amount)` moves `amount` from balance to bonded stake.
//! * `unbond(amount)` moves `amount` of bonded, unlocked stake into an unbonding
//!   entry released at `height + unbonding_blocks`; at most [`MAX_UNBONDING_ENTRIES`]
//!   entries per account.
//! * `withdraw` moves every entry released at or before the current height back to
//!   the balance.
//! * `lock`/`unlock` mark bonded stake as held by another module; locked stake cannot
//!   be unbonded.
//! * `slash(amount, since)` burns up to `amount`, taken from bonded stake first, then
//!   from the unbonding entries created at or after height `since` (earliest release
//!   first), so unbonding after an infraction cannot dodge its penalty, while stake that
//!   left before it is not taken.
//! * the validator rules (registration, the validator power index, jailing) are in
//!   [`validators`]; epochs and the sets chosen for them in [`epochs`].
//!
//! # Invariants
//! * `locked ≤ bonded` for every account.
//! * the power index holds exactly one key per account with bonded stake, encoding that
//!   stake ([`power_key`]); [`top_bonded`] reads it in order of stake.
//! * `StakingTotals.bonded = Σ bonded` and `StakingTotals.unbonding = Σ unbonding`.
//! * stake only leaves staking through `withdraw` (to the balance) or `slash`
//!   (burned, recorded in the supply).

pub mod epochs;
pub mod slashing;
pub mod validators;

use crate::{bank, error::checked, kv::key, kv::Overlay, Params, StateError, StateView as _};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, FixedSize, Read, ReadExt, Write};
use tessera_types::{Address, Amount, Event};

/// Prefix of stake keys: `stake/ || address`.
pub const STAKE_PREFIX: &[u8] = b"stake/";
/// Prefix of the power index (see [`power_key`]): bonded stake, largest first.
pub const POWER_PREFIX: &[u8] = b"power/";
/// State key of the staking totals.
pub const TOTALS_KEY: &[u8] = b"sys/staking";
/// Most unbonding entries one account may have at once.
pub const MAX_UNBONDING_ENTRIES: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Unbonding {
    pub amount: Amount,
    pub release_height: u64,
}

/// One account's stake. Absent from state when empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stake {
    pub bonded: Amount,
    pub locked: Amount,
    pub unbonding: Vec<Unbonding>,
}

impl Stake {
    pub fn is_empty(&self) -> bool {
        self.bonded.is_zero() && self.locked.is_zero() && self.unbonding.is_empty()
    }

    /// Bonded stake that is not locked.
    pub fn free(&self) -> Amount {
        self.bonded.saturating_sub(self.locked)
    }

    pub fn unbonding_total(&self) -> Result<Amount, StateError> {
        self.unbonding.iter().try_fold(Amount::ZERO, |sum, entry| {
            checked(sum.checked_add(entry.amount), "unbonding")
        })
    }
}

impl Write for Stake {
    fn write(&self, buf: &mut impl BufMut) {
        self.bonded.write(buf);
        self.locked.write(buf);
        buf.put_u8(u8::try_from(self.unbonding.len()).unwrap_or(u8::MAX));
        for entry in self.unbonding.iter().take(usize::from(u8::MAX)) {
            entry.amount.write(buf);
            buf.put_u64(entry.release_height);
        }
    }
}

impl EncodeSize for Stake {
    fn encode_size(&self) -> usize {
        let entries = self.unbonding.len().min(usize::from(u8::MAX));
        33usize.saturating_add(entries.saturating_mul(24))
    }
}

impl Read for Stake {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let bonded = Amount::read(buf)?;
        let locked = Amount::read(buf)?;
        let count = usize::from(u8::read(buf)?);
        if count > MAX_UNBONDING_ENTRIES {
            return Err(CodecError::Invalid("Stake", "too many unbonding entries"));
        }
        let mut unbonding = Vec::with_capacity(count);
        for _ in 0..count {
            unbonding.push(Unbonding {
                amount: Amount::read(buf)?,
                release_height: u64::read(buf)?,
            });
        }
        Ok(Stake {
            bonded,
            locked,
            unbonding,
        })
    }
}

/// Sums over all accounts, kept up to date so later modules (validator set, voting
/// weight) need not scan every account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StakingTotals {
    pub bonded: Amount,
    pub unbonding: Amount,
}

impl Write for StakingTotals {
    fn write(&self, buf: &mut impl BufMut) {
        self.bonded.write(buf);
        self.unbonding.write(buf);
    }
}

impl FixedSize for StakingTotals {
    const SIZE: usize = 32;
}

impl Read for StakingTotals {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(StakingTotals {
            bonded: Amount::read(buf)?,
            unbonding: Amount::read(buf)?,
        })
    }
}

pub fn stake_key(address: &Address) -> Vec<u8> {
    key(STAKE_PREFIX, address.as_bytes())
}

pub fn stake(state: &Overlay<'_>, who: &Address) -> Result<Stake, StateError> {
    Ok(state.read(&stake_key(who))?.unwrap_or_default())
}

/// Store `who`'s stake and keep the power indexes in step with its bonded amount.
fn set_stake(state: &mut Overlay<'_>, who: &Address, stake: &Stake) -> Result<(), StateError> {
    let old = self::stake(state, who)?;
    if old.bonded != stake.bonded {
        if !old.bonded.is_zero() {
            state.delete(power_key(who, old.bonded));
        }
        if !stake.bonded.is_zero() {
            state.set(power_key(who, stake.bonded), Vec::new());
        }
        validators::on_bonded_change(state, who, old.bonded, stake.bonded)?;
    }
    if stake.is_empty() {
        state.delete(stake_key(who));
    } else {
        state.write(stake_key(who), stake);
    }
    Ok(())
}

/// Power-index key: `power/ ‖ (u128::MAX − bonded) BE ‖ address`, so key order is bonded
/// stake descending, then address ascending.
pub fn power_key(who: &Address, bonded: Amount) -> Vec<u8> {
    order_key(POWER_PREFIX, who, bonded)
}

/// An index key under `prefix` ordering accounts by stake descending, then address
/// ascending: `prefix ‖ (u128::MAX − bonded) BE ‖ address`.
pub fn order_key(prefix: &[u8], who: &Address, bonded: Amount) -> Vec<u8> {
    let mut suffix = Vec::with_capacity(16 + 32);
    // `!x` is `u128::MAX − x`.
    suffix.extend_from_slice(&(!bonded.base()).to_be_bytes());
    suffix.extend_from_slice(who.as_bytes());
    key(prefix, &suffix)
}

/// The account and stake an [`order_key`] under `prefix` encodes; `None` for a key
/// outside the prefix.
pub fn read_order_key(prefix: &[u8], k: &[u8]) -> Result<Option<(Address, Amount)>, StateError> {
    let Some(suffix) = k.strip_prefix(prefix) else {
        return Ok(None);
    };
    let corrupt = || StateError::Corrupt {
        key: String::from_utf8_lossy(k).into_owned(),
        reason: "stake index key is not 48 bytes".into(),
    };
    let (inverse, address) = suffix.split_at_checked(16).ok_or_else(corrupt)?;
    let inverse = u128::from_be_bytes(inverse.try_into().map_err(|_| corrupt())?);
    let address = Address(address.try_into().map_err(|_| corrupt())?);
    Ok(Some((address, Amount::from_base(!inverse))))
}

/// The `n` accounts with the most bonded stake (ties: lower address first), with it.
pub fn top_bonded(state: &Overlay<'_>, n: usize) -> Result<Vec<(Address, Amount)>, StateError> {
    let mut out = Vec::with_capacity(n.min(1024));
    let mut cursor = POWER_PREFIX.to_vec();
    while out.len() < n {
        let Some(k) = state.key_at_or_after(&cursor) else {
            break;
        };
        let Some(entry) = read_order_key(POWER_PREFIX, &k)? else {
            break;
        };
        out.push(entry);
        cursor = crate::kv::successor(&k);
    }
    Ok(out)
}

pub fn totals(state: &Overlay<'_>) -> Result<StakingTotals, StateError> {
    Ok(state.read(TOTALS_KEY)?.unwrap_or_default())
}

/// Apply signed changes to the totals (`add` first, then `sub`, both checked).
fn adjust_totals(
    state: &mut Overlay<'_>,
    bonded: (Amount, Amount),
    unbonding: (Amount, Amount),
) -> Result<(), StateError> {
    let mut t = totals(state)?;
    t.bonded = checked(t.bonded.checked_add(bonded.0), "total bonded")?;
    t.bonded = checked(t.bonded.checked_sub(bonded.1), "total bonded")?;
    t.unbonding = checked(t.unbonding.checked_add(unbonding.0), "total unbonding")?;
    t.unbonding = checked(t.unbonding.checked_sub(unbonding.1), "total unbonding")?;
    state.write(TOTALS_KEY.to_vec(), &t);
    Ok(())
}

const NONE: (Amount, Amount) = (Amount::ZERO, Amount::ZERO);

/// The `bond` call.
pub fn bond(
    state: &mut Overlay<'_>,
    who: &Address,
    amount: Amount,
) -> Result<Vec<Event>, StateError> {
    if amount.is_zero() {
        return Err(StateError::ZeroAmount);
    }
    bank::debit(state, who, amount)?;
    let mut s = stake(state, who)?;
    s.bonded = checked(s.bonded.checked_add(amount), "bonded")?;
    set_stake(state, who, &s)?;
    adjust_totals(state, (amount, Amount::ZERO), NONE)?;
    Ok(vec![Event::Bonded {
        staker: *who,
        amount,
    }])
}

/// The `unbond` call.
pub fn unbond(
    state: &mut Overlay<'_>,
    params: &Params,
    height: u64,
    who: &Address,
    amount: Amount,
) -> Result<Vec<Event>, StateError> {
    let release_height = checked(
        height.checked_add(params.unbonding_blocks),
        "release height",
    )?;
    unbond_until(state, who, amount, release_height)
}

/// Hook: move `amount` of `who`'s free bonded stake into an unbonding entry released at
/// `release_height` (a module that holds stake longer than the unbonding period, such
/// as a provider's open claim windows, picks a later height).
pub fn unbond_until(
    state: &mut Overlay<'_>,
    who: &Address,
    amount: Amount,
    release_height: u64,
) -> Result<Vec<Event>, StateError> {
    if amount.is_zero() {
        return Err(StateError::ZeroAmount);
    }
    let mut s = stake(state, who)?;
    if amount > s.free() {
        return Err(StateError::InsufficientStake {
            requested: amount,
            available: s.free(),
        });
    }
    if s.unbonding.len() >= MAX_UNBONDING_ENTRIES {
        return Err(StateError::TooManyUnbonding {
            max: MAX_UNBONDING_ENTRIES,
        });
    }
    s.bonded = checked(s.bonded.checked_sub(amount), "bonded")?;
    s.unbonding.push(Unbonding {
        amount,
        release_height,
    });
    set_stake(state, who, &s)?;
    adjust_totals(state, (Amount::ZERO, amount), (amount, Amount::ZERO))?;
    Ok(vec![Event::Unbonding {
        staker: *who,
        amount,
        release_height,
    }])
}

/// The `withdraw` call.
pub fn withdraw(
    state: &mut Overlay<'_>,
    height: u64,
    who: &Address,
) -> Result<Vec<Event>, StateError> {
    let mut s = stake(state, who)?;
    let (ready, waiting): (Vec<Unbonding>, Vec<Unbonding>) = s
        .unbonding
        .iter()
        .partition(|entry| entry.release_height <= height);
    if ready.is_empty() {
        return Err(StateError::NothingToWithdraw {
            height,
            next_release: waiting.iter().map(|e| e.release_height).min(),
        });
    }
    let amount = ready.iter().try_fold(Amount::ZERO, |sum, e| {
        checked(sum.checked_add(e.amount), "withdraw")
    })?;
    s.unbonding = waiting;
    set_stake(state, who, &s)?;
    adjust_totals(state, NONE, (Amount::ZERO, amount))?;
    bank::credit(state, who, amount)?;
    Ok(vec![Event::Withdrawn {
        staker: *who,
        amount,
    }])
}

/// Hook: hold `amount` of `who`'s bonded stake for another module.
pub fn lock(state: &mut Overlay<'_>, who: &Address, amount: Amount) -> Result<(), StateError> {
    let mut s = stake(state, who)?;
    if amount > s.free() {
        return Err(StateError::InsufficientStake {
            requested: amount,
            available: s.free(),
        });
    }
    s.locked = checked(s.locked.checked_add(amount), "locked")?;
    set_stake(state, who, &s)?;
    Ok(())
}

/// Hook: release `amount` of locked stake.
pub fn unlock(state: &mut Overlay<'_>, who: &Address, amount: Amount) -> Result<(), StateError> {
    let mut s = stake(state, who)?;
    s.locked = s.locked.checked_sub(amount).ok_or(StateError::NotLocked {
        requested: amount,
        locked: s.locked,
    })?;
    set_stake(state, who, &s)?;
    Ok(())
}

/// Hook: burn up to `amount` of `who`'s stake as a penalty: bonded stake first, then the
/// unbonding entries released at or after `released_from` (those unbonded at or after
/// the infraction, for `released_from = infraction height + unbonding_blocks`; pass 0 to
/// take from every entry). Returns what was slashed (less than `amount` when the stake
/// is smaller) and its event.
pub fn slash(
    state: &mut Overlay<'_>,
    who: &Address,
    amount: Amount,
    released_from: u64,
) -> Result<(Amount, Event), StateError> {
    let mut s = stake(state, who)?;
    let from_bonded = amount.min(s.bonded);
    s.bonded = checked(s.bonded.checked_sub(from_bonded), "bonded")?;
    s.locked = s.locked.min(s.bonded);
    let mut remaining = checked(amount.checked_sub(from_bonded), "slash")?;
    let mut from_unbonding = Amount::ZERO;
    s.unbonding.sort_by_key(|e| e.release_height);
    for entry in s
        .unbonding
        .iter_mut()
        .filter(|e| e.release_height >= released_from)
    {
        let take = remaining.min(entry.amount);
        entry.amount = checked(entry.amount.checked_sub(take), "unbonding")?;
        remaining = checked(remaining.checked_sub(take), "slash")?;
        from_unbonding = checked(from_unbonding.checked_add(take), "slash")?;
    }
    s.unbonding.retain(|e| !e.amount.is_zero());
    set_stake(state, who, &s)?;
    adjust_totals(
        state,
        (Amount::ZERO, from_bonded),
        (Amount::ZERO, from_unbonding),
    )?;
    let slashed = checked(from_bonded.checked_add(from_unbonding), "slash")?;
    bank::burn(state, slashed)?;
    Ok((
        slashed,
        Event::Slashed {
            staker: *who,
            amount: slashed,
        },
    ))
}
