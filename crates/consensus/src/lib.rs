//! Tessera's validator network: the chain run under Commonware's `simplex` BFT engine, with
//! `marshal` delivering finalized blocks in height order (and backfilling missing ones from
//! peers).
//!
//! * [`ConsensusBlock`]: a tessera block as the engine sees it (digest = block hash).
//! * [`ChainApplication`]: marshal's `Application` (propose → [`tessera_chain::Chain::propose`],
//!   verify → [`tessera_chain::Chain::verify`]) and the reporter of finalized blocks
//!   (→ [`tessera_chain::Chain::commit`], acknowledged after the commit).
//! * [`node::start`]: assembles simplex + marshal + broadcast for one validator on any
//!   runtime and p2p network (`p2p::simulated` in tests, `p2p::authenticated` in production).
//! * [`network::start_authenticated`]: a validator on the authenticated `lookup` network.
//! * [`EvidenceLog`]: verified proofs of equivocation that simplex reports, for slashing.
//!
//! # Invariants
//! * a block is committed only after a finalization certificate for it (or a descendant)
//!   was verified by marshal, and in height order.
//! * every node uses the same namespace, validator set, block size limit and network
//!   message limit ([`node::max_message_bytes`]).
//! * verification resolves `false` only for a permanently invalid block; missing data keeps
//!   it pending.
//!
//! # Arithmetic safety
//! Heights are `u64` and incremented with `saturating_add`; nothing here indexes slices.

mod application;
mod block;
pub mod epochs;
mod error;
pub mod evidence;
pub mod finality;
pub mod gossip;
pub mod network;
pub mod node;

pub use application::{ChainApplication, ConsensusContext};
pub use block::{to_digest, to_hash, BlockLimit, ConsensusBlock, Digest};
pub use epochs::{EpochSchemes, PeerSets};
pub use error::ConsensusError;
pub use evidence::{Evidence, EvidenceLog, Fault};
pub use finality::{FinalityReader, FinalityVerifier};
pub use network::{start_authenticated, NetworkedNode, P2pConfig};
pub use node::{start, Channels, Node, NodeConfig};
