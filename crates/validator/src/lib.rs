//! The subnet validator (issue 16): [`daemon`] audits every miner of a subnet each tempo
//! with paid calls through its own gateway, checks each answer against its own run of the
//! model, turns the audits into weights and sets them by commit-reveal; [`weights`] keeps
//! a commit's weights and salt on disk until the reveal; [`schedule`] says when to commit
//! and when to reveal; [`setup`] creates and joins a subnet from a client; [`reference`]
//! is the validator's own copy of the model that answers are checked against; [`intake`]
//! receives samples of users' calls from gateways.

pub mod daemon;
pub mod intake;
pub mod reference;
pub mod schedule;
pub mod setup;
pub mod weights;
