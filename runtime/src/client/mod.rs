//! The transports of the generated typed clients, one module per protocol,
//! each holding the `Client` a generated client wraps: [`grpc`] (tonic),
//! [`connect`], [`rest`] and [`graphql`] (over reqwest, sharing one
//! `Endpoint`), [`ws`] (`apigen.v1`, many calls on one socket) and [`sse`]
//! (server streams that resume after a reconnect).
//!
//! Clients depend on `core` only, never on the server side: what both sides
//! must agree on (envelopes, error objects, close codes) is in `core::wire`.

pub mod connect;
mod endpoint;
pub mod graphql;
pub mod grpc;
pub mod rest;
pub mod sse;
pub mod ws;

pub(crate) use endpoint::Endpoint;
