//! The one call pipeline. A protocol adapter decodes its wire format into a
//! method name, metadata and requests; everything after that is here, the
//! same for every protocol:
//!
//! 1. find the method in the one method table, if the protocol serves it
//!    ([`MethodInfo::serves`](crate::core::service::MethodInfo::serves) is the only rule);
//! 2. merge credentials that arrive outside the headers
//!    ([`auth::fill_in`](crate::core::auth::fill_in)) and authenticate;
//! 3. build the [`Context`]: metadata, peer, identity, and the deadline, the
//!    earlier of what the client asked for and the server's default;
//! 4. take a token of the caller's rate limit for the method, if it has
//!    one ([`ratelimit`](crate::core::ratelimit));
//! 5. call the method through its [`ServiceDef`] (which runs the
//!    authorizer), bounded by the deadline: a method must answer, or start
//!    its stream, before it passes, and a stream still open at the deadline
//!    ends with `DEADLINE_EXCEEDED`, on every protocol;
//! 6. refuse responses over the message limit with `RESOURCE_EXHAUSTED`.
//!
//! Encoding the outcome, errors included, is the protocol's own business.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use tokio::sync::watch;

use crate::core::auth::Authenticator;
use crate::core::call::{Call, Output, Requests};
use crate::core::context::{Context, Identity, Protocol};
use crate::core::message::DynMessage;
use crate::core::metrics::{CallLabels, InFlight, Metrics, protocol_label};
use crate::core::ratelimit::Limiter;
use crate::core::service::{MethodInfo, ServiceDef, ServiceInfo};
use crate::core::status::Status;
use crate::core::trace::CallSpan;
use opentelemetry::trace::FutureExt as _;

/// One method of a served service.
#[derive(Clone)]
pub(crate) struct Method {
    pub(crate) service: ServiceDef,
    pub(crate) index: usize,
}

impl Method {
    /// The method's description.
    pub(crate) fn info(&self) -> &'static MethodInfo {
        &self.service.info().methods[self.index]
    }

    /// Its service's description.
    pub(crate) fn service_info(&self) -> &'static ServiceInfo {
        self.service.info()
    }

    /// `package.Service/Method`, the name the RPC protocols call it by.
    pub(crate) fn rpc_name(&self) -> String {
        format!("{}/{}", self.service.info().name, self.info().name)
    }
}

/// The server's settings every protocol applies alike.
pub(crate) struct Pipeline {
    services: Vec<ServiceDef>,
    /// Every method, by `package.Service/Method`.
    methods: HashMap<String, Method, foldhash::fast::RandomState>,
    authenticator: Option<Arc<dyn Authenticator>>,
    max_message_size: usize,
    default_timeout: Option<Duration>,
    shutdown: watch::Receiver<bool>,
    json: crate::core::json::Options,
    metrics: Arc<Metrics>,
    limiter: Option<Limiter>,
    /// Records a span per call when the server exports traces.
    tracer: Option<opentelemetry::global::BoxedTracer>,
}

impl Pipeline {
    pub(crate) fn new(
        services: Vec<ServiceDef>,
        authenticator: Option<Arc<dyn Authenticator>>,
        max_message_size: usize,
        default_timeout: Option<Duration>,
        shutdown: watch::Receiver<bool>,
    ) -> Pipeline {
        let mut methods = HashMap::default();
        for service in &services {
            for index in 0..service.info().methods.len() {
                let method = Method { service: service.clone(), index };
                methods.insert(method.rpc_name(), method);
            }
        }
        Pipeline {
            services,
            methods,
            authenticator,
            max_message_size,
            default_timeout,
            shutdown,
            json: crate::core::json::Options::default(),
            metrics: Arc::new(Metrics::new()),
            limiter: None,
            tracer: None,
        }
    }

    /// The server's metrics.
    pub(crate) fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The services, in the order they were added.
    pub(crate) fn services(&self) -> &[ServiceDef] {
        &self.services
    }

    /// Every method `protocol` serves, service by service in declaration order.
    pub(crate) fn served(&self, protocol: Protocol) -> impl Iterator<Item = Method> + '_ {
        self.services.iter().flat_map(move |service| {
            let methods = service.info().methods.iter().enumerate();
            methods
                .filter(move |(_, m)| m.serves(protocol))
                .map(|(index, _)| Method { service: service.clone(), index })
        })
    }

    /// The method called `name` (`package.Service/Method`), when `protocol` serves it.
    pub(crate) fn method(&self, name: &str, protocol: Protocol) -> Option<&Method> {
        self.methods.get(name).filter(|m| m.info().serves(protocol))
    }

    /// The largest message accepted or sent, in bytes.
    pub(crate) fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// Turns `true` when the server starts shutting down.
    pub(crate) fn shutdown(&self) -> watch::Receiver<bool> {
        self.shutdown.clone()
    }

    /// Whether the server is shutting down.
    pub(crate) fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Whether calls must carry credentials.
    pub(crate) fn has_authenticator(&self) -> bool {
        self.authenticator.is_some()
    }

    /// Who is calling: the authenticator's verdict on `metadata`; `None`
    /// without an authenticator.
    pub(crate) async fn authenticate(&self, metadata: &http::HeaderMap) -> Result<Option<Identity>, Status> {
        match &self.authenticator {
            Some(auth) => auth.authenticate(metadata).await.map(Some).inspect_err(|s| self.metrics.refused(s.code())),
            None => Ok(None),
        }
    }

    /// The context of a call: its metadata, peer and caller, and as deadline
    /// the earlier of what the client asked for and the server's default.
    pub(crate) fn context(
        &self,
        protocol: Protocol,
        metadata: impl Into<Arc<http::HeaderMap>>,
        peer: Option<SocketAddr>,
        identity: Option<Identity>,
        asked: Option<Duration>,
    ) -> Context {
        let mut ctx = Context::new(protocol).with_shared_metadata(metadata.into()).with_identity(identity);
        if let Some(peer) = peer {
            ctx = ctx.with_peer(peer);
        }
        match [asked, self.default_timeout].into_iter().flatten().min() {
            Some(timeout) => ctx.with_timeout(timeout),
            None => ctx,
        }
    }

    /// Reads JSON requests with `options`.
    pub(crate) fn with_json(mut self, options: crate::core::json::Options) -> Pipeline {
        self.json = options;
        self
    }

    /// Authenticates `metadata` and builds the call's context.
    pub(crate) async fn admit(
        &self,
        protocol: Protocol,
        metadata: http::HeaderMap,
        peer: Option<SocketAddr>,
        asked: Option<Duration>,
    ) -> Result<Context, Status> {
        let identity = self.authenticate(&metadata).await?;
        Ok(self.context(protocol, metadata, peer, identity, asked))
    }

    /// Applies rate limits with `limiter`.
    pub(crate) fn with_limiter(mut self, limiter: Option<Limiter>) -> Pipeline {
        self.limiter = limiter;
        self
    }

    /// Records a span per call with `tracer`.
    pub(crate) fn with_tracer(mut self, tracer: Option<opentelemetry::global::BoxedTracer>) -> Pipeline {
        self.tracer = tracer;
        self
    }

    /// Takes a token of the caller's rate limit for `method`; a refusal
    /// counts as a call that failed.
    pub(crate) async fn throttle(&self, method: &Method, ctx: &Context) -> Result<(), Status> {
        let Some(limiter) = &self.limiter else { return Ok(()) };
        let key = (method.service_info().name, method.info().name);
        limiter.admit(key, ctx).await.inspect_err(|s| self.metrics.start(labels(method, ctx), 0).end(s.code()))
    }

    /// Calls `method` after [`Pipeline::throttle`] (see the module's rules).
    pub(crate) async fn call(&self, method: &Method, ctx: &Context, input: Requests) -> Result<Output, Status> {
        self.throttle(method, ctx).await?;
        self.invoke(method, ctx, input).await
    }

    /// Calls `method`, admitted by the rate limits already, with `ctx`'s
    /// deadline and the message limit applied to what it returns.
    pub(crate) async fn invoke(&self, method: &Method, ctx: &Context, input: Requests) -> Result<Output, Status> {
        let labels = labels(method, ctx);
        let mut flight = self.metrics.start(labels, request_bytes(&input));
        let (service, name) = (method.service_info().name, method.info().name);
        let mut span = CallSpan::start(self.tracer.as_ref(), service, name, ctx.protocol(), ctx.metadata());
        let call_ctx = ctx.clone().with_traceparent(span.as_ref().and_then(CallSpan::traceparent));
        let started = method.service.call(method.index, Call { ctx: call_ctx, input, json: self.json });
        let limit = self.max_message_size;
        let output = match &span {
            Some(span) => within(ctx.deadline(), started.with_context(span.context().clone())).await,
            None => within(ctx.deadline(), started).await,
        };
        let output = output.inspect_err(|s| finish(&mut flight, &mut span, s.code()))?;
        match output {
            Output::Single(message) => {
                let message =
                    within_limit(message, limit, &flight).inspect_err(|s| finish(&mut flight, &mut span, s.code()))?;
                finish(&mut flight, &mut span, crate::Code::Ok);
                Ok(Output::Single(message))
            }
            Output::Stream(stream) => {
                flight.streaming();
                let stream = match &span {
                    Some(span) => stream.with_context(span.context().clone()).boxed(),
                    None => stream,
                };
                let stream = Metered { inner: stream, flight, span, limit }.boxed();
                Ok(Output::Stream(until_deadline(stream, ctx.deadline())))
            }
        }
    }
}

/// A call ended with `code`: in the metrics and its span.
fn finish(flight: &mut InFlight, span: &mut Option<CallSpan>, code: crate::Code) {
    flight.end(code);
    if let Some(span) = span {
        span.end(code);
    }
}

/// The metrics labels of a call of `method`.
fn labels(method: &Method, ctx: &Context) -> CallLabels {
    [
        ("service", method.service_info().name),
        ("method", method.info().name),
        ("protocol", protocol_label(ctx.protocol())),
    ]
}

/// The client's address, which the accept loop records on every request.
pub(crate) fn peer(extensions: &http::Extensions) -> Option<SocketAddr> {
    extensions.get::<axum::extract::ConnectInfo<SocketAddr>>().map(|c| c.0)
}

/// Runs `fut`, failing with `DEADLINE_EXCEEDED` once the caller's deadline passes.
pub(crate) async fn within<T>(
    deadline: Option<std::time::Instant>,
    fut: impl Future<Output = Result<T, Status>>,
) -> Result<T, Status> {
    match deadline {
        Some(at) => tokio::time::timeout_at(at.into(), fut)
            .await
            .unwrap_or_else(|_| Err(Status::deadline_exceeded("the deadline passed before the method finished"))),
        None => fut.await,
    }
}

/// A response stream that ends with `DEADLINE_EXCEEDED` at the call's deadline.
pub(crate) fn until_deadline<T: Send + 'static>(
    stream: BoxStream<'static, Result<T, Status>>,
    deadline: Option<std::time::Instant>,
) -> BoxStream<'static, Result<T, Status>> {
    let Some(deadline) = deadline else { return stream };
    let stop = async move {
        tokio::time::sleep_until(deadline.into()).await;
        true
    };
    let farewell = || Some(Err(Status::deadline_exceeded("the deadline passed before the stream ended")));
    crate::core::call::stop_when(stream, stop, farewell).boxed()
}

/// The bytes of a call's single request, as received.
fn request_bytes(input: &Requests) -> usize {
    match input {
        Requests::Single(crate::core::call::Payload::Proto(b) | crate::core::call::Payload::Json(b)) => b.len(),
        _ => 0,
    }
}

/// A response stream whose messages are held to the limit and counted, and
/// whose end ends its call in the metrics.
struct Metered {
    inner: BoxStream<'static, Result<Box<dyn DynMessage>, Status>>,
    flight: InFlight,
    span: Option<CallSpan>,
    limit: usize,
}

impl futures_util::Stream for Metered {
    type Item = Result<Box<dyn DynMessage>, Status>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let this = &mut *self;
        let item = std::task::ready!(this.inner.poll_next_unpin(cx));
        let item = item.map(|item| item.and_then(|m| within_limit(m, this.limit, &this.flight)));
        let code = match &item {
            Some(Err(status)) => status.code(),
            None => crate::Code::Ok,
            Some(Ok(_)) => return std::task::Poll::Ready(item),
        };
        finish(&mut this.flight, &mut this.span, code);
        std::task::Poll::Ready(item)
    }
}

/// `message`, unless its encoding is over `limit` bytes; counted as sent.
fn within_limit(message: Box<dyn DynMessage>, limit: usize, flight: &InFlight) -> Result<Box<dyn DynMessage>, Status> {
    let size = message.encoded_len();
    flight.sent(size);
    if size > limit {
        return Err(Status::resource_exhausted(format!(
            "the response message is {size} bytes, over the server's limit of {limit}"
        )));
    }
    Ok(message)
}
