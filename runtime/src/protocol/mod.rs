//! One module per wire protocol. Each turns its requests into calls through
//! the one pipeline in `core` and encodes outcomes in its own form; none
//! imports another (`server` routes between them).

pub(crate) mod connect;
pub(crate) mod graphql;
pub(crate) mod grpc;
pub(crate) mod rest;
pub(crate) mod sse;
pub(crate) mod trpc;
pub(crate) mod ws;
