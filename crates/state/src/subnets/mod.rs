//! Subnets: each model market is a subnet whose miners are the model's providers and
//! whose validators audit them; every tempo, Yuma consensus turns the validators'
//! weights into each UID's share of the subnet's emission.
//!
//! Built so far: [`yuma`], the epoch itself, a pure function of stakes, weights, bonds
//! and hyperparameters (`tessera yuma --input FILE` runs it on JSON), and [`emission`],
//! the versioned rule dividing emission among subnets (decision 0019), and [`uids`], a
//! subnet's UID table (immunity, and who a newcomer replaces), and [`delegation`], how a
//! validator's emission is shared with its delegators (the take and its bounds), and
//! [`weights`], commit-reveal of a validator's weights.
//!
//! On chain: [`registry`] (subnets, their hyperparameters and UIDs, registration by
//! burn), [`calls`] (commit and reveal of weights), [`stake`] (delegations behind
//! validators and their takes) and [`tempo`] (each block's emission, each tempo's epoch
//! and its payout). Decision 0020 records the design.

pub mod calls;
pub mod delegation;
pub mod emission;
pub mod error;
pub mod fixed;
pub mod metagraph;
pub mod registry;
pub mod stake;
pub mod tempo;
pub mod uids;
pub mod weights;
pub mod yuma;
