//! `bank`: balances, nonces, fees, total supply and block emission.
//!
//! # Emission schedule
//! Each block mints a reward to its proposer:
//! `reward(h) = initial_block_reward >> ((h - 1) / halving_interval_blocks)` for block
//! height `h ≥ 1`, clamped so that total supply never exceeds `max_supply`. With the
//! defaults (40 TSR, halving every 10,000,000 blocks) emission adds at most
//! 2 × 40 × 10^7 = 800,000,000 TSR in total, approaching the cap geometrically; the
//! clamp makes the cap hard whatever the genesis supply.
//!
//! # Fees
//! A transaction of `n` encoded bytes pays `tx_fee_base + n × tx_fee_per_byte_base`
//! (it is rejected if that exceeds its `max_fee`). The fee goes to the treasury
//! account ([`treasury`]) or is burned, by the `burn_fees` parameter.
//!
//! # Invariants
//! * `Supply.genesis + Supply.minted − Supply.burned` = Σ balances + Σ bonded +
//!   Σ unbonding, after every block (checked by `tests/ledger_props.rs`).
//! * `total_supply ≤ max_supply` after every block.
//! * balances never underflow: every debit checks and fails with `InsufficientFunds`.

use crate::{error::checked, kv::key, kv::Overlay, Params, StateError};
use bytes::BufMut;
use commonware_codec::{Buf, Error as CodecError, FixedSize, Read, ReadExt, Write};
use tessera_types::{Address, Amount, Event};

/// Prefix of account keys: `acct/ || address`.
pub const ACCOUNT_PREFIX: &[u8] = b"acct/";
/// State key of the supply record.
pub const SUPPLY_KEY: &[u8] = b"sys/supply";

/// The protocol's treasury account (no private key exists for it).
pub fn treasury() -> Address {
    Address::module("treasury")
}

/// An account's balance and next nonce. Absent from state when both are zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Account {
    pub balance: Amount,
    pub nonce: u64,
}

impl Write for Account {
    fn write(&self, buf: &mut impl BufMut) {
        self.balance.write(buf);
        buf.put_u64(self.nonce);
    }
}

impl FixedSize for Account {
    const SIZE: usize = 24;
}

impl Read for Account {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Account {
            balance: Amount::read(buf)?,
            nonce: u64::read(buf)?,
        })
    }
}

/// Where the supply came from and went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Supply {
    pub genesis: Amount,
    pub minted: Amount,
    pub burned: Amount,
}

impl Supply {
    pub fn total(&self) -> Result<Amount, StateError> {
        let gross = checked(self.genesis.checked_add(self.minted), "supply")?;
        checked(gross.checked_sub(self.burned), "supply")
    }
}

impl Write for Supply {
    fn write(&self, buf: &mut impl BufMut) {
        self.genesis.write(buf);
        self.minted.write(buf);
        self.burned.write(buf);
    }
}

impl FixedSize for Supply {
    const SIZE: usize = 48;
}

impl Read for Supply {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Supply {
            genesis: Amount::read(buf)?,
            minted: Amount::read(buf)?,
            burned: Amount::read(buf)?,
        })
    }
}

pub fn account_key(address: &Address) -> Vec<u8> {
    key(ACCOUNT_PREFIX, address.as_bytes())
}

pub fn account(state: &Overlay<'_>, address: &Address) -> Result<Account, StateError> {
    Ok(state.read(&account_key(address))?.unwrap_or_default())
}

pub fn set_account(state: &mut Overlay<'_>, address: &Address, account: &Account) {
    let key = account_key(address);
    if account.balance.is_zero() && account.nonce == 0 {
        state.delete(key);
    } else {
        state.write(key, account);
    }
}

pub fn supply(state: &Overlay<'_>) -> Result<Supply, StateError> {
    state
        .read::<Supply>(SUPPLY_KEY)?
        .ok_or(StateError::Missing("supply record"))
}

pub fn credit(state: &mut Overlay<'_>, to: &Address, amount: Amount) -> Result<(), StateError> {
    let mut acct = account(state, to)?;
    acct.balance = checked(acct.balance.checked_add(amount), "balance")?;
    set_account(state, to, &acct);
    Ok(())
}

pub fn debit(state: &mut Overlay<'_>, from: &Address, amount: Amount) -> Result<(), StateError> {
    let mut acct = account(state, from)?;
    acct.balance = acct
        .balance
        .checked_sub(amount)
        .ok_or(StateError::InsufficientFunds {
            needed: amount,
            available: acct.balance,
        })?;
    set_account(state, from, &acct);
    Ok(())
}

/// The `transfer` call.
pub fn transfer(
    state: &mut Overlay<'_>,
    from: &Address,
    to: &Address,
    amount: Amount,
) -> Result<Vec<Event>, StateError> {
    if amount.is_zero() {
        return Err(StateError::ZeroAmount);
    }
    debit(state, from, amount)?;
    credit(state, to, amount)?;
    Ok(vec![Event::Transfer {
        from: *from,
        to: *to,
        amount,
    }])
}

/// Take `fee` from `payer` to the treasury, or burn it.
pub fn charge_fee(
    state: &mut Overlay<'_>,
    params: &Params,
    payer: &Address,
    fee: Amount,
) -> Result<Event, StateError> {
    debit(state, payer, fee)?;
    if params.burn_fees {
        burn(state, fee)?;
    } else {
        credit(state, &treasury(), fee)?;
    }
    Ok(Event::Fee {
        payer: *payer,
        amount: fee,
        burned: params.burn_fees,
    })
}

/// Record that `amount` already taken from an account or stake leaves the supply.
pub fn burn(state: &mut Overlay<'_>, amount: Amount) -> Result<(), StateError> {
    let mut record = supply(state)?;
    record.burned = checked(record.burned.checked_add(amount), "burned")?;
    state.write(SUPPLY_KEY.to_vec(), &record);
    Ok(())
}

/// Create `amount` new TSR for `to`.
pub fn mint(state: &mut Overlay<'_>, to: &Address, amount: Amount) -> Result<(), StateError> {
    let mut record = supply(state)?;
    record.minted = checked(record.minted.checked_add(amount), "minted")?;
    state.write(SUPPLY_KEY.to_vec(), &record);
    credit(state, to, amount)
}

/// The reward for block `height` given the supply before it (see the module doc).
pub fn block_reward(params: &Params, height: u64, supply: &Supply) -> Result<Amount, StateError> {
    let halvings = height
        .saturating_sub(1)
        .checked_div(params.halving_interval_blocks)
        .ok_or(StateError::InvalidParams(
            "halving_interval_blocks is 0".into(),
        ))?;
    let scheduled = match u32::try_from(halvings) {
        Ok(shift) if shift < 128 => params
            .initial_block_reward
            .base()
            .checked_shr(shift)
            .unwrap_or(0),
        _ => 0,
    };
    let room = params.max_supply.saturating_sub(supply.total()?);
    Ok(Amount::from_base(scheduled).min(room))
}
