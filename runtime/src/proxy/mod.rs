//! Gateway mode's call side: a service whose methods are calls to an upstream
//! gRPC server, written in any language, so that every protocol adapter
//! serves it exactly as it serves a generated service. Messages are dynamic
//! (prost-reflect descriptors): protobuf requests pass through as bytes, JSON
//! ones are converted with the method's descriptor, and responses stay the
//! upstream's bytes until a JSON protocol asks for their JSON form.
//!
//! What is forwarded, and why (README, "Gateway mode"):
//! - request headers on the allow-list ([`Upstream::forward_header`]):
//!   `authorization` (unless the gateway checks credentials itself), W3C and
//!   gRPC trace context, `x-request-id`, `accept-language`, `last-event-id`
//!   and every `x-…` header; plus `x-forwarded-for` with the client's address and
//!   `apigen-subject` with the identity the gateway's authenticator found;
//! - the deadline, as `grpc-timeout` (the earlier of the client's and the
//!   server's default, as for every call);
//! - cancellation: a client that goes away drops the call, which resets the
//!   upstream's HTTP/2 stream;
//! - the upstream's response headers and, for calls with one response, its
//!   trailers, as the call's response metadata; its status with details.

mod reflect;
mod shared;
mod transport;
mod unary;

pub use shared::{FanOut, LEASE};

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures_util::StreamExt;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};

use crate::core::call::{BoxFuture, Call, Output, Payload, Requests};
use crate::core::context::Context;
use crate::core::json::DynamicJson;
use crate::core::message::DynMessage;
use crate::core::raw::RawCodec;
use crate::core::service::{MethodKind, ServiceDef, ServiceInfo};
use crate::core::status::Status;
use crate::core::trace::CallSpan;
use crate::core::wire::RetryInfo;

/// Headers forwarded by name unless configured otherwise.
const FORWARDED: &[&str] = &[
    "authorization",
    "traceparent",
    "tracestate",
    "grpc-trace-bin",
    "baggage",
    "x-request-id",
    "accept-language",
    // An SSE client's reconnect, for an upstream that can resume its stream.
    "last-event-id",
];

/// Upstream response headers that belong to the upstream's own HTTP/2 and gRPC
/// framing, never copied to the client's response.
const NOT_COPIED: &[&str] = &[
    "content-type",
    "content-length",
    "content-encoding",
    "date",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "grpc-status",
    "grpc-message",
    "grpc-status-details-bin",
    "grpc-encoding",
    "grpc-accept-encoding",
];

/// The upstream gRPC server the gateway forwards to: HTTP/2 connections
/// (one by default; calls are multiplexed on each, and each reconnects when
/// it drops), kept alive with pings, and the request-header rules.
#[derive(Debug, Clone)]
pub struct Upstream {
    uri: Arc<str>,
    endpoint: tonic::transport::Endpoint,
    grpc: tonic::client::Grpc<transport::Transport>,
    /// What `grpc` sends through, for unary calls made without it.
    transport: transport::Transport,
    origin: http::Uri,
    rules: Arc<Rules>,
    fan_out: Option<FanOut>,
}

#[derive(Debug, Clone)]
struct Rules {
    /// Exact names, lowercase.
    names: Vec<String>,
    /// Name prefixes (`x-`), lowercase.
    prefixes: Vec<String>,
}

impl Upstream {
    /// The upstream at `uri` (`http://127.0.0.1:50051`). Connects on the
    /// first call, and again after the connection drops; fails only for a
    /// URI that is not one.
    pub fn new(uri: &str) -> Result<Upstream, Status> {
        let invalid =
            |e: &dyn std::fmt::Display| Status::invalid_argument(format!("{uri} is not a valid upstream URI: {e}"));
        let endpoint = tonic::transport::Endpoint::from_shared(uri.to_owned())
            .map_err(|e| invalid(&e))?
            .connect_timeout(transport::CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(transport::KEEP_ALIVE_INTERVAL)
            .keep_alive_timeout(transport::KEEP_ALIVE_TIMEOUT)
            .keep_alive_while_idle(true);
        let origin: http::Uri = uri.parse().map_err(|e| invalid(&e))?;
        if origin.scheme() != Some(&http::uri::Scheme::HTTP) {
            return Err(invalid(&"the gateway calls upstreams over cleartext HTTP/2: use http://HOST:PORT"));
        }
        let rules =
            Rules { names: FORWARDED.iter().map(|n| (*n).to_owned()).collect(), prefixes: vec!["x-".to_owned()] };
        // One connection, which unary calls and tonic's client for streams share.
        let transport = transport::Transport::direct();
        Ok(Upstream {
            uri: uri.into(),
            grpc: tonic::client::Grpc::with_origin(transport.clone(), origin.clone()),
            transport,
            origin,
            endpoint,
            rules: Arc::new(rules),
            fan_out: None,
        })
    }

    /// Spreads calls over `count` connections (each call to the one with the
    /// fewest calls in flight of two picked at random), for loads that one
    /// HTTP/2 connection's framing, done on one task, cannot carry.
    pub fn connections(mut self, count: usize) -> Upstream {
        if count > 1 {
            let (channel, changes) = tonic::transport::Channel::balance_channel::<usize>(count);
            for i in 0..count {
                // The channel's capacity is `count`: every insert fits.
                let _ = changes.try_send(tonic::transport::channel::Change::Insert(i, self.endpoint.clone()));
            }
            self.transport = transport::Transport::Balanced(channel);
            self.grpc = tonic::client::Grpc::new(self.transport.clone());
        }
        self
    }

    /// Forwards the request header `name` too; a name ending in `*` is a prefix
    /// (`my-app-*`).
    pub fn forward_header(mut self, name: &str) -> Upstream {
        let rules = Arc::make_mut(&mut self.rules);
        let name = name.to_ascii_lowercase();
        match name.strip_suffix('*') {
            Some(prefix) => rules.prefixes.push(prefix.to_owned()),
            None => rules.names.push(name),
        }
        self
    }

    /// Keeps the client's `authorization` header from the upstream: for a
    /// gateway that checks a credential of its own (`--token`), which the
    /// upstream has no business seeing. The identity it found still goes
    /// upstream as `apigen-subject`.
    pub fn keep_authorization(mut self) -> Upstream {
        Arc::make_mut(&mut self.rules).names.retain(|n| n != "authorization");
        self
    }

    /// Shares the upstream calls of `fan_out`'s methods among their
    /// subscribers (see [`FanOut`]).
    pub fn fan_out(mut self, fan_out: FanOut) -> Upstream {
        self.fan_out = Some(fan_out);
        self
    }

    /// The methods whose calls are shared, as gRPC paths.
    pub fn shared_methods(&self) -> &[String] {
        self.fan_out.as_ref().map_or(&[], FanOut::methods)
    }

    /// The URI calls go to.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    fn forwards(&self, name: &str) -> bool {
        self.rules.names.iter().any(|n| n == name) || self.rules.prefixes.iter().any(|p| name.starts_with(p.as_str()))
    }

    /// The request metadata to send: allowed headers, the client's address
    /// and identity, and `traceparent`, the upstream call's span in place of
    /// the client's.
    fn headers(&self, ctx: &Context, traceparent: Option<&str>) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        for (name, value) in ctx.metadata() {
            if self.forwards(name.as_str()) && name.as_str() != "x-forwarded-for" {
                headers.append(name.clone(), value.clone());
            }
        }
        let mut forwarded_for: Vec<String> = ctx
            .metadata()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect();
        if let Some(peer) = ctx.peer() {
            forwarded_for.push(peer.ip().to_string());
        }
        if !forwarded_for.is_empty()
            && let Ok(value) = http::HeaderValue::try_from(forwarded_for.join(", "))
        {
            headers.insert("x-forwarded-for", value);
        }
        if let Some(identity) = ctx.identity()
            && let Ok(value) = http::HeaderValue::try_from(identity.subject.as_str())
        {
            headers.insert("apigen-subject", value);
        }
        if let Some(value) = traceparent.and_then(|t| http::HeaderValue::try_from(t).ok()) {
            headers.insert(const { http::HeaderName::from_static("traceparent") }, value);
        }
        headers
    }

    /// A request to the upstream: the message(s), the forwarded metadata and
    /// the call's deadline as `grpc-timeout`.
    /// `traceparent` is the upstream call's span, in place of the client's.
    fn request<T>(&self, message: T, ctx: &Context, traceparent: Option<&str>) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        *request.metadata_mut() = tonic::metadata::MetadataMap::from_headers(self.headers(ctx, traceparent));
        if let Some(deadline) = ctx.deadline() {
            request.set_timeout(deadline.saturating_duration_since(Instant::now()));
        }
        request
    }

    /// An upstream failure as the client sees it: the upstream's own status;
    /// DEADLINE_EXCEEDED once the call's deadline has passed (the upstream
    /// may only see its stream reset); or UNAVAILABLE with a
    /// `google.rpc.RetryInfo` (HTTP's `Retry-After`) when it cannot be reached.
    fn failure(&self, status: tonic::Status, ctx: &Context) -> Status {
        copy_metadata(status.metadata(), ctx);
        if ctx.deadline().is_some_and(|d| d <= Instant::now()) {
            return Status::deadline_exceeded("the deadline passed before the upstream answered");
        }
        let transport = status.code() == tonic::Code::Unavailable && status.metadata().is_empty();
        let status = Status::from(status);
        if transport {
            return Status::unavailable(format!(
                "the upstream gRPC server at {} is not answering ({}); retry in a moment",
                self.uri,
                status.message()
            ))
            .with_detail(RetryInfo::after(1));
        }
        status
    }
}

/// Copies an upstream response's headers (or trailers) to the call's
/// response metadata, leaving out the upstream's own framing.
fn copy_metadata(metadata: &tonic::metadata::MetadataMap, ctx: &Context) {
    copy_headers(metadata.clone().into_headers(), ctx);
}

/// [`copy_metadata`] of a header map.
fn copy_headers(headers: http::HeaderMap, ctx: &Context) {
    for (name, value) in headers {
        if let Some(name) = name
            && !NOT_COPIED.contains(&name.as_str())
        {
            ctx.insert_response_metadata(name, value);
        }
    }
}

/// One method of a proxied service.
#[derive(Debug, Clone)]
struct Route {
    path: http::uri::PathAndQuery,
    kind: MethodKind,
    input: MessageDescriptor,
    output: MessageDescriptor,
    /// A streamed response's cursor field, whose value is the event's id
    /// (SSE's `id:`), so that a client resumes through any gateway.
    cursor: Option<prost_reflect::FieldDescriptor>,
    /// Whether its upstream calls are shared ([`FanOut`]).
    shared: bool,
}

/// The implementation behind a proxied [`ServiceDef`].
struct Forwarder {
    upstream: Upstream,
    routes: Vec<Route>,
}

/// A service whose methods call `upstream`: `info` says what it serves (as a
/// generated service's table does), `pool` holds its messages' descriptors.
/// Fails when `pool` lacks the service or a message it names.
pub fn service(info: &'static ServiceInfo, pool: &DescriptorPool, upstream: Upstream) -> Result<ServiceDef, String> {
    let mut routes = Vec::with_capacity(info.methods.len());
    for method in info.methods {
        let message = |name: &str| {
            pool.get_message_by_name(name).ok_or_else(|| {
                format!("the descriptors do not define {name}, which {}.{} uses", info.name, method.name)
            })
        };
        let path = format!("/{}/{}", info.name, method.name);
        let output = message(method.output)?;
        let shared = upstream.fan_out.as_ref().is_some_and(|f| f.methods().contains(&path));
        if shared && method.kind != MethodKind::ServerStreaming {
            return Err(format!(
                "{}.{} is not a server-streaming method, so its calls cannot be shared (--fan-out)",
                info.name, method.name
            ));
        }
        routes.push(Route {
            path: http::uri::PathAndQuery::try_from(path.as_str()).map_err(|e| format!("{path}: {e}"))?,
            kind: method.kind,
            input: message(method.input)?,
            // The schema's rule (`MethodInfo::cursor`), as generated servers have it.
            cursor: method.cursor.and_then(|name| output.get_field_by_json_name(name)),
            output,
            shared,
        });
    }
    Ok(ServiceDef::new(info, Forwarder { upstream, routes }, dispatch))
}

fn dispatch(forwarder: Arc<Forwarder>, method: usize, call: Call) -> BoxFuture<Result<Output, Status>> {
    Box::pin(async move {
        let Some(route) = forwarder.routes.get(method) else {
            return Err(Status::unimplemented(format!("no method with index {method}")));
        };
        forwarder.call(route, call).await
    })
}

impl Forwarder {
    async fn call(&self, route: &Route, call: Call) -> Result<Output, Status> {
        let Call { ctx, input, json } = call;
        let input = match (&self.upstream.fan_out, input) {
            (Some(fan_out), Requests::Single(payload)) if route.shared => {
                return fan_out.subscribe(&self.upstream, route, payload, json, &ctx).await;
            }
            (_, input) => input,
        };
        let span = CallSpan::upstream(route.path.path().trim_start_matches('/'));
        let traced = span.as_ref().and_then(CallSpan::traceparent);
        let output = self.forward(route, &ctx, input, json, traced.as_deref()).await;
        match (span, output) {
            (None, output) => output,
            (Some(mut span), Err(status)) => {
                span.end(status.code());
                Err(status)
            }
            (Some(mut span), Ok(Output::Single(message))) => {
                span.end(crate::Code::Ok);
                Ok(Output::Single(message))
            }
            (Some(span), Ok(Output::Stream(stream))) => Ok(Output::Stream(span.around(stream))),
        }
    }

    /// Makes the upstream call, sending `traceparent`.
    async fn forward(
        &self,
        route: &Route,
        ctx: &Context,
        input: Requests,
        json: crate::core::json::Options,
        traceparent: Option<&str>,
    ) -> Result<Output, Status> {
        let request = |message| self.upstream.request(message, ctx, traceparent);
        let stream_request = |messages| self.upstream.request(messages, ctx, traceparent);
        let path = route.path.clone();
        let output = route.output.clone();
        let cursor = route.cursor.clone();
        let answer = move |message: Bytes| -> Box<dyn DynMessage> {
            // Reading the cursor decodes the message: kept for its JSON.
            let decoded = cursor.as_ref().and_then(|_| DynamicMessage::decode(output.clone(), message.clone()).ok());
            let cursor = cursor.as_ref().zip(decoded.as_ref()).and_then(|(field, m)| cursor_of(m, field));
            Box::new(Upstreamed { bytes: message, desc: output.clone(), cursor, decoded })
        };
        match (route.kind, input) {
            (MethodKind::Unary, Requests::Single(payload)) => {
                let bytes = encode(payload, &route.input, json)?;
                let upstream = &self.upstream;
                let headers = upstream.headers(ctx, traceparent);
                let timeout = ctx.deadline().map(|deadline| deadline.saturating_duration_since(Instant::now()));
                let transport = upstream.transport.clone();
                let response = unary::call(transport, &upstream.origin, &path, headers, timeout, bytes).await;
                let (metadata, message) = response.map_err(|s| upstream.failure(s, ctx))?;
                copy_headers(metadata, ctx);
                Ok(Output::Single(answer(message)))
            }
            (MethodKind::ServerStreaming, Requests::Single(payload)) => {
                let mut grpc = self.ready_client(ctx).await?;
                let bytes = encode(payload, &route.input, json)?;
                let response = grpc.server_streaming(request(bytes), path, RawCodec).await;
                let (metadata, stream, _) = response.map_err(|s| self.upstream.failure(s, ctx))?.into_parts();
                copy_metadata(&metadata, ctx);
                Ok(Output::Stream(stream.map(move |item| item.map(&answer).map_err(Status::from)).boxed()))
            }
            (MethodKind::ClientStreaming | MethodKind::BidiStreaming, Requests::Stream(payloads)) => {
                // A request that cannot be encoded ends the upstream call with
                // its error, which the client then gets.
                let (failed_tx, mut failed_rx) = tokio::sync::oneshot::channel::<Status>();
                let input = route.input.clone();
                let mut failed_tx = Some(failed_tx);
                let requests = payloads
                    .map(move |payload| payload.and_then(|p| encode(p, &input, json)))
                    .take_while(move |item| {
                        let go_on = match item {
                            Ok(_) => true,
                            Err(status) => {
                                if let Some(tx) = failed_tx.take() {
                                    let _ = tx.send(status.clone());
                                }
                                false
                            }
                        };
                        std::future::ready(go_on)
                    })
                    .filter_map(|item| std::future::ready(item.ok()));
                let mut grpc = self.ready_client(ctx).await?;
                if route.kind == MethodKind::ClientStreaming {
                    let response = grpc.client_streaming(stream_request(requests), path, RawCodec).await;
                    if let Ok(status) = failed_rx.try_recv() {
                        return Err(status);
                    }
                    let (metadata, message, _) = response.map_err(|s| self.upstream.failure(s, ctx))?.into_parts();
                    copy_metadata(&metadata, ctx);
                    return Ok(Output::Single(answer(message)));
                }
                let response = grpc.streaming(stream_request(requests), path, RawCodec).await;
                let (metadata, stream, _) = response.map_err(|s| self.upstream.failure(s, ctx))?.into_parts();
                copy_metadata(&metadata, ctx);
                let stream = stream.map(move |item| match failed_rx.try_recv() {
                    Ok(status) => Err(status),
                    Err(_) => item.map(&answer).map_err(Status::from),
                });
                Ok(Output::Stream(stream.boxed()))
            }
            _ => Err(Status::internal("the call's requests do not fit the method's kind")),
        }
    }
}

impl Forwarder {
    /// tonic's gRPC client, for a streaming call, once its connection can take one.
    async fn ready_client(&self, ctx: &Context) -> Result<tonic::client::Grpc<transport::Transport>, Status> {
        let mut grpc = self.upstream.grpc.clone();
        grpc.ready().await.map_err(|e| self.upstream.failure(tonic::Status::unavailable(e.to_string()), ctx))?;
        Ok(grpc)
    }
}

/// A request's protobuf bytes: as received, or converted from JSON with the
/// method's descriptor.
fn encode(payload: Payload, desc: &MessageDescriptor, json: crate::core::json::Options) -> Result<Bytes, Status> {
    match payload {
        Payload::Proto(bytes) => Ok(bytes),
        Payload::Json(bytes) => {
            let options = prost_reflect::DeserializeOptions::new().deny_unknown_fields(!json.ignore_unknown_fields);
            let mut reader = serde_json::Deserializer::from_slice(&bytes);
            let message = DynamicMessage::deserialize_with_options(desc.clone(), &mut reader, &options)
                .and_then(|m| reader.end().map(|()| m))
                .map_err(|e| {
                    Status::invalid_argument(format!("the request is not a valid {}: {e}", desc.full_name()))
                })?;
            Ok(Bytes::from(prost::Message::encode_to_vec(&message)))
        }
        Payload::Message(_) => {
            Err(Status::internal("a proxied method takes requests as bytes or JSON, not Rust values"))
        }
    }
}

/// A response as the upstream sent it: its bytes, decoded only when a JSON
/// protocol needs its JSON form.
struct Upstreamed {
    bytes: Bytes,
    desc: MessageDescriptor,
    /// Its cursor field's value, in a stream whose messages have one.
    cursor: Option<String>,
    /// The message, when reading its cursor decoded it already.
    decoded: Option<DynamicMessage>,
}

/// The value of a response's cursor field, unless it is unset.
fn cursor_of(message: &DynamicMessage, field: &prost_reflect::FieldDescriptor) -> Option<String> {
    use prost_reflect::Value;
    let text = match &*message.get_field(field) {
        Value::String(s) => s.clone(),
        Value::I64(n) => n.to_string(),
        Value::U64(n) => n.to_string(),
        Value::I32(n) => n.to_string(),
        Value::U32(n) => n.to_string(),
        _ => return None,
    };
    (!text.is_empty() && text != "0").then_some(text)
}

impl Upstreamed {
    fn decoded(&self) -> Result<std::borrow::Cow<'_, DynamicMessage>, Status> {
        if let Some(message) = &self.decoded {
            return Ok(std::borrow::Cow::Borrowed(message));
        }
        DynamicMessage::decode(self.desc.clone(), self.bytes.clone()).map(std::borrow::Cow::Owned).map_err(|e| {
            Status::internal(format!("the upstream's response is not a valid {}: {e}", self.desc.full_name()))
        })
    }
}

impl DynMessage for Upstreamed {
    fn encode_proto(&self) -> Vec<u8> {
        self.bytes.to_vec()
    }

    fn encoded_len(&self) -> usize {
        self.bytes.len()
    }

    fn to_json_value(&self) -> Result<serde_json::Value, Status> {
        serde::Serialize::serialize(&DynamicJson(&*self.decoded()?), serde_json::value::Serializer)
            .map_err(|e| Status::internal(format!("cannot write the response as JSON: {e}")))
    }

    fn to_json(&self) -> Result<Vec<u8>, Status> {
        let mut out = Vec::with_capacity(self.bytes.len() * 2);
        self.write_json(&mut out)?;
        Ok(out)
    }

    /// Map entries in key order (`json::DynamicJson`): the same response gives
    /// the same bytes (and `ETag`) every time.
    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), Status> {
        crate::core::json::write(out, &DynamicJson(&*self.decoded()?))
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send> {
        self
    }

    fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }
}
