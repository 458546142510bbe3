//! Tessera's state machine. Every rule of the economy lives here, as pure functions
//! of (state, transaction, block context) → (writes, receipt).
//!
//! Purity rules (checked by lints and review): no I/O, no clocks, no randomness, no
//! floats, no panics on any input; all arithmetic is checked and turned into
//! [`StateError`]. The state is a key-value map read through [`StateView`]; execution
//! writes into an [`Overlay`] so a transaction applies whole or not at all.
//!
//! Modules (one folder each): [`bank`] (balances, fees, supply, emission),
//! [`staking`] (bond, unbond, withdraw, and the lock/slash hooks later modules use) and
//! [`models`] (model registry, versions, ownership shares, and the royalty hook that
//! pays share holders pro rata), [`providers`] (staked providers of a model, their
//! prices and endpoints) and [`channels`] (payment channels, lane vouchers, claims and
//! the split of every claim; decision 0017), [`subnets`] (so far the Yuma epoch, a pure
//! function from stakes, weights and bonds to incentive, dividends and emission).
//! [`exec`] drives a block: admission checks, fee and nonce, the call, emission.
//!
//! # Invariants (property-tested in `tests/ledger_props.rs`)
//! * total supply = genesis + minted − burned = Σ balances + Σ bonded + Σ unbonding
//!   (module escrows, such as the royalty escrow, are balances).
//! * no balance or stake ever goes negative (checked arithmetic; underflow is an error).
//! * an account's nonce only increases, by exactly one per included transaction.
//! * a rejected transaction changes nothing; a failed one changes only the signer's
//!   fee and nonce.
// The workspace lint table covers unwrap, expect, panic and indexing; this crate
// also denies:
#![cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::float_arithmetic,)
)]

pub mod bank;
pub mod channels;
pub mod error;
pub mod exec;
pub mod genesis;
pub mod kv;
pub mod models;
pub mod params;
pub mod providers;
pub mod staking;
pub mod subnets;
pub mod verify;

pub use error::StateError;
pub use exec::{BlockContext, BlockOutcome, Executor};
pub use genesis::{Genesis, GenesisAccount, GenesisValidator};
pub use kv::{MemState, Overlay, StateView, Write};
pub use params::Params;
