//! What a method knows about the call besides the request.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
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
#[non_exhaustive]
pub struct Identity {
    /// The subject: a user id, a service account, a token's name.
    pub subject: String,
    /// The scopes the credential grants (a JWT's `scope` or `scp` claim), or
    /// `None` for a credential not limited to scopes (the static `--token`),
    /// which meets every method's scope requirement.
    pub scopes: Option<Arc<[String]>>,
    /// The credential's claims (a JWT's payload), when it has any.
    pub claims: Option<Arc<serde_json::Value>>,
}

impl Identity {
    /// An identity not limited to scopes, without claims.
    pub fn new(subject: impl Into<String>) -> Identity {
        Identity { subject: subject.into(), scopes: None, claims: None }
    }

    /// The same identity, limited to `scopes`.
    pub fn with_scopes(mut self, scopes: impl IntoIterator<Item = String>) -> Identity {
        self.scopes = Some(scopes.into_iter().collect());
        self
    }

    /// The same identity with the credential's `claims`.
    pub fn with_claims(mut self, claims: serde_json::Value) -> Identity {
        self.claims = Some(Arc::new(claims));
        self
    }

    /// Whether the credential grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.as_ref().is_none_or(|scopes| scopes.iter().any(|s| s == scope))
    }
}

/// Call metadata, handed to every method with the request.
#[derive(Debug, Clone)]
pub struct Context {
    protocol: Protocol,
    /// Shared: a call's context is cloned into the method, and its
    /// metadata is never changed after the call starts.
    metadata: Arc<http::HeaderMap>,
    peer: Option<SocketAddr>,
    deadline: Option<Instant>,
    identity: Option<Identity>,
    response_metadata: Arc<Mutex<http::HeaderMap>>,
    http_binding: Option<&'static str>,
    traceparent: Option<Arc<str>>,
}

/// The metadata of contexts that have none, shared rather than allocated per call.
static EMPTY: std::sync::OnceLock<Arc<http::HeaderMap>> = std::sync::OnceLock::new();

impl Default for Context {
    fn default() -> Self {
        Context::new(Protocol::InProcess)
    }
}

impl Context {
    /// An empty context for `protocol`.
    pub fn new(protocol: Protocol) -> Context {
        Context {
            protocol,
            metadata: Arc::clone(EMPTY.get_or_init(Arc::default)),
            peer: None,
            deadline: None,
            identity: None,
            response_metadata: Arc::default(),
            http_binding: None,
            traceparent: None,
        }
    }

    /// Sets the request metadata (HTTP headers or gRPC metadata).
    pub fn with_metadata(mut self, metadata: http::HeaderMap) -> Context {
        self.metadata = Arc::new(metadata);
        self
    }

    /// Sets the request metadata, shared with other calls (a tRPC batch's).
    pub(crate) fn with_shared_metadata(mut self, metadata: Arc<http::HeaderMap>) -> Context {
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

    /// Sets the deadline.
    pub fn with_deadline(mut self, deadline: Option<Instant>) -> Context {
        self.deadline = deadline;
        self
    }

    /// Sets the REST binding the call came through.
    pub fn with_http_binding(mut self, template: &'static str) -> Context {
        self.http_binding = Some(template);
        self
    }

    /// The path template of the `google.api.http` binding a REST call came
    /// through, for example `/v1/{name=shelves/*}`.
    pub fn http_binding(&self) -> Option<&'static str> {
        self.http_binding
    }

    /// Sets the W3C `traceparent` of the call's span.
    pub(crate) fn with_traceparent(mut self, traceparent: Option<Arc<str>>) -> Context {
        self.traceparent = traceparent;
        self
    }

    /// The call's span as a W3C `traceparent` value (the server's span when
    /// it exports traces, else the client's), to send on to the services
    /// this call calls so that the trace continues through them. Inside the
    /// method, `opentelemetry::Context::current()` is the same context.
    pub fn traceparent(&self) -> Option<&str> {
        self.traceparent.as_deref()
    }

    /// Sets the authenticated identity.
    pub fn with_identity(mut self, identity: Option<Identity>) -> Context {
        self.identity = identity;
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

    /// The cursor a client resumes a stream after: SSE's `Last-Event-ID`
    /// (or `?lastEventId=`), or the `last-event-id` metadata of any
    /// protocol. Methods with resumable streams replay what follows it.
    pub fn last_event_id(&self) -> Option<&str> {
        self.metadata_str("last-event-id").filter(|id| !id.is_empty())
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

    /// Adds metadata to the response (HTTP headers, gRPC initial metadata).
    /// Takes effect when the method returns its response or stream.
    pub fn insert_response_metadata(&self, name: http::HeaderName, value: http::HeaderValue) {
        if let Ok(mut map) = self.response_metadata.lock() {
            map.insert(name, value);
        }
    }

    /// The response metadata set so far (for protocol adapters).
    pub fn response_metadata(&self) -> http::HeaderMap {
        self.response_metadata.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Adds the response metadata set so far to `headers` (most calls set
    /// none, and then nothing is copied).
    pub(crate) fn add_response_metadata(&self, headers: &mut http::HeaderMap) {
        if let Ok(map) = self.response_metadata.lock()
            && !map.is_empty()
        {
            headers.extend(map.clone());
        }
    }
}
