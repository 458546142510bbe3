//! Subnets: each model market is a subnet whose miners are the model's providers and
//! whose validators audit them; every tempo, Yuma consensus turns the validators'
//! weights into each UID's share of the subnet's emission.
//!
//! Built so far: [`yuma`], the epoch itself, a pure function of stakes, weights, bonds
//! and hyperparameters (`tessera yuma --input FILE` runs it on JSON). Registration,
//! weights with commit-reveal, delegation and emission across subnets come next
//! (issue 16).

pub mod fixed;
pub mod yuma;
