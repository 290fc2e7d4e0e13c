//! What every protocol shares, and nothing protocol-specific: the call model
//! (services as data, dispatch, [`Context`](context::Context),
//! [`Status`](status::Status), messages, request rules, streams, the
//! well-known types), authentication and authorization, and the one call
//! pipeline every protocol adapter goes through ([`pipeline`]): find the
//! method, merge credentials, authenticate, build the context, apply
//! deadlines and limits.
//!
//! Nothing here imports `protocol`, `server`, `client` or `fanout`.

pub(crate) mod auth;
pub(crate) mod body;
pub(crate) mod call;
pub(crate) mod compression;
pub(crate) mod context;
pub(crate) mod http_cache;
pub(crate) mod http_rule;
pub(crate) mod input;
pub mod json;
#[cfg(feature = "jwt")]
pub(crate) mod jwt;
pub(crate) mod message;
pub(crate) mod metrics;
pub(crate) mod pipeline;
pub(crate) mod query;
pub(crate) mod ratelimit;
pub(crate) mod raw;
pub(crate) mod service;
pub(crate) mod status;
pub(crate) mod stream;
pub(crate) mod trace;
pub(crate) mod transcode;
pub mod validate;
pub(crate) mod wire;
pub mod wkt;
