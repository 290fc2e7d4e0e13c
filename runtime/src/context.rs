//! What a method knows about the call besides the request.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The protocol a call arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    Grpc,
    GrpcWeb,
    Rest,
    Graphql,
    Connect,
    Trpc,
    WebSocket,
    Sse,
    /// Called directly from Rust, for example in tests.
    InProcess,
}

/// Who made the call, as established by the server's authenticator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The subject: a user id, a service account, a token's name.
    pub subject: String,
}

/// Call metadata, handed to every method with the request.
#[derive(Debug, Clone)]
pub struct Context {
    protocol: Protocol,
    metadata: http::HeaderMap,
    peer: Option<SocketAddr>,
    deadline: Option<Instant>,
    identity: Option<Identity>,
}

impl Default for Context {
    fn default() -> Self {
        Context::new(Protocol::InProcess)
    }
}

impl Context {
    /// An empty context for `protocol`.
    pub fn new(protocol: Protocol) -> Context {
        Context { protocol, metadata: http::HeaderMap::new(), peer: None, deadline: None, identity: None }
    }

    /// Sets the request metadata (HTTP headers or gRPC metadata).
    pub fn with_metadata(mut self, metadata: http::HeaderMap) -> Context {
        self.metadata = metadata;
        self
    }

    /// Sets the peer address.
    pub fn with_peer(mut self, peer: SocketAddr) -> Context {
        self.peer = Some(peer);
        self
    }

    /// Sets the deadline `timeout` from now.
    pub fn with_timeout(mut self, timeout: Duration) -> Context {
        self.deadline = Instant::now().checked_add(timeout);
        self
    }

    /// Sets the authenticated identity.
    pub fn with_identity(mut self, identity: Identity) -> Context {
        self.identity = Some(identity);
        self
    }

    /// The protocol the call arrived on.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The request metadata.
    pub fn metadata(&self) -> &http::HeaderMap {
        &self.metadata
    }

    /// One metadata value as text, when present and valid UTF-8.
    pub fn metadata_str(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).and_then(|v| v.to_str().ok())
    }

    /// The address of the client, when known.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// When the client stops waiting, when it said so.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The authenticated caller, when the server has an authenticator.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }
}
