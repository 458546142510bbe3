//! The node's HTTP JSON API and its typed client.
//!
//! * [`server::router`] serves a [`tessera_chain::Chain`] (routes in `docs/api.md`).
//! * [`client::RpcClient`] is what the CLI and the off-chain services use; it verifies
//!   state proofs of account queries against the reported state root.
//! * [`api`] holds the request and response types both sides share.

pub mod api;
pub mod blobs;
pub mod client;
pub mod disputes;
pub mod events;
mod market;
mod models;
pub mod server;
pub mod subnets;

pub use client::{RpcClient, RpcError};
