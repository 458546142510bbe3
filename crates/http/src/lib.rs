//! The one HTTP server setup every Tessera service uses (the node's API today; the
//! provider and the gateway next), so each gets the same limits and the same errors.
//!
//! * [`serve`] (or [`spawn`], on a task with a [`Server`] handle) runs an axum [`Router`](axum::Router) under [`Limits`]: a cap on open
//!   connections, a deadline for each request head, a cap on handlers running at once
//!   (excess requests are shed with `503 busy`, not queued), a deadline for each handler,
//!   and JSON errors for unknown routes and methods.
//! * [`ApiError`] is the `{code, message}` error every route returns; [`JsonBody`],
//!   [`PathParam`] and [`RawBody`] are the extractors whose rejections are such errors
//!   (axum's own answer bad input with plain text).
//! * [`Subscribers`] caps long-lived streams (server-sent events).

mod error;
mod extract;
mod serve;

pub use error::{ApiError, ErrorBody};
pub use extract::{JsonBody, PathParam, RawBody};
pub use serve::{bind, serve, spawn, HttpError, Limits, Server, Subscribers};
