//! OpenTelemetry traces of every call on every protocol, kept by the call
//! pipeline like the metrics.
//!
//! A call's W3C `traceparent`/`tracestate` arrive in its metadata (HTTP
//! headers, gRPC metadata, a WebSocket's `connection_init` payload through
//! the credentials rule). With an exporter installed ([`install_otlp`],
//! `Server::otlp`, `--otlp URL`), each call gets a server span, a child of
//! the client's, named `package.Service/Method`, with the protocol and the
//! status code, ended when the call (or its stream) ends. Without one, the
//! client's context still passes through. Either way the method runs in
//! that context: `opentelemetry::Context::current()` inside it, and
//! `Context::traceparent()` to hand on, continue the trace, and the fan-out
//! topics and the gateway's upstream calls add their child spans to it.

use std::borrow::Cow;
use std::sync::OnceLock;

use opentelemetry::global::BoxedTracer;
#[cfg(test)]
use opentelemetry::propagation::Injector;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{SpanKind, Status as SpanStatus, TraceContextExt, Tracer};
use opentelemetry::{Context as OtelContext, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;

use crate::core::context::Protocol;
use crate::core::status::Code;

/// The name spans are recorded under.
pub(crate) const INSTRUMENTATION: &str = "apigen";

fn propagator() -> &'static TraceContextPropagator {
    static PROPAGATOR: OnceLock<TraceContextPropagator> = OnceLock::new();
    PROPAGATOR.get_or_init(TraceContextPropagator::new)
}

/// Reads `traceparent` and `tracestate` from a header map.
struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Writes `traceparent` and `tracestate` into a header map.
#[cfg(test)]
struct HeadersMut<'a>(&'a mut http::HeaderMap);

#[cfg(test)]
impl Injector for HeadersMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (http::HeaderName::try_from(key), http::HeaderValue::try_from(value)) {
            self.0.insert(name, value);
        }
    }
}

/// The trace context a client sent in `metadata`, if it sent a valid one.
pub(crate) fn extract(metadata: &http::HeaderMap) -> Option<OtelContext> {
    // A `HeaderName` constant: a `&str` would be parsed as a name on every call.
    const TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");
    if !metadata.contains_key(TRACEPARENT) {
        return None;
    }
    let cx = propagator().extract(&Headers(metadata));
    cx.span().span_context().is_valid().then_some(cx)
}

/// Writes `cx`'s span as `traceparent` (and `tracestate`) into `metadata`.
#[cfg(test)]
fn inject(cx: &OtelContext, metadata: &mut http::HeaderMap) {
    propagator().inject_context(cx, &mut HeadersMut(metadata));
}

/// `cx`'s span as a `traceparent` value, when it has a valid one.
pub(crate) fn traceparent(cx: &OtelContext) -> Option<String> {
    let span = cx.span();
    let sc = span.span_context();
    // Written by hand: `format!` with the ids' `Display` costs more than the rest of a small call.
    sc.is_valid().then(|| {
        let mut out = String::with_capacity(55);
        out.push_str("00-");
        push_hex(&mut out, &sc.trace_id().to_bytes());
        out.push('-');
        push_hex(&mut out, &sc.span_id().to_bytes());
        out.push('-');
        push_hex(&mut out, &[sc.trace_flags().to_u8()]);
        out
    })
}

/// `bytes` as lowercase hex, two digits each.
fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for byte in bytes {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 15)]));
    }
}

/// The tracer spans go to: the process's tracer provider (a no-op one
/// until [`install_otlp`] or the application installs one).
pub(crate) fn tracer() -> BoxedTracer {
    opentelemetry::global::tracer(INSTRUMENTATION)
}

/// `rpc.system` of a protocol, as OpenTelemetry's conventions name them.
fn rpc_system(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Grpc | Protocol::GrpcWeb => "grpc",
        Protocol::Connect => "connect_rpc",
        _ => "apigen",
    }
}

/// A call's span: recording when a tracer exports, else only the client's
/// context passed through. Ends with the call's code, or `CANCELLED` when
/// dropped before.
pub(crate) struct CallSpan {
    cx: OtelContext,
    traceparent: Option<std::sync::Arc<str>>,
    ended: bool,
}

impl CallSpan {
    /// The span of a call of `service`/`method` on `protocol`: `None` when
    /// there is neither a tracer nor a client context to pass on.
    pub(crate) fn start(
        tracer: Option<&BoxedTracer>,
        service: &'static str,
        method: &'static str,
        protocol: Protocol,
        metadata: &http::HeaderMap,
    ) -> Option<CallSpan> {
        let parent = extract(metadata);
        let cx = match tracer {
            Some(tracer) => {
                let parent = parent.unwrap_or_default();
                let span = tracer
                    .span_builder(Cow::Owned(format!("{service}/{method}")))
                    .with_kind(SpanKind::Server)
                    .with_attributes([
                        KeyValue::new("rpc.system", rpc_system(protocol)),
                        KeyValue::new("rpc.service", service),
                        KeyValue::new("rpc.method", method),
                        KeyValue::new("apigen.protocol", crate::core::metrics::protocol_label(protocol)),
                    ])
                    .start_with_context(tracer, &parent);
                parent.with_span(span)
            }
            None => parent?,
        };
        let traceparent = traceparent(&cx).map(Into::into);
        Some(CallSpan { cx, traceparent, ended: false })
    }

    /// A client span for a call of `name` (`package.Service/Method`) made
    /// to another server from within the current call, when that call is
    /// in a trace: its `traceparent` is what to send.
    pub(crate) fn upstream(name: &str) -> Option<CallSpan> {
        let parent = OtelContext::current();
        if !parent.span().span_context().is_valid() {
            return None;
        }
        let tracer = tracer();
        let span = tracer
            .span_builder(name.to_owned())
            .with_kind(SpanKind::Client)
            .with_attributes([KeyValue::new("rpc.system", "grpc")])
            .start_with_context(&tracer, &parent);
        let cx = parent.with_span(span);
        let traceparent = traceparent(&cx).map(Into::into);
        Some(CallSpan { cx, traceparent, ended: false })
    }

    /// `stream`, ending this span with its outcome when it ends.
    pub(crate) fn around<T: Send + 'static>(
        mut self,
        mut stream: futures_util::stream::BoxStream<'static, Result<T, crate::Status>>,
    ) -> futures_util::stream::BoxStream<'static, Result<T, crate::Status>> {
        use futures_util::StreamExt;
        futures_util::stream::poll_fn(move |cx| {
            let item = std::task::ready!(stream.poll_next_unpin(cx));
            match &item {
                None => self.end(Code::Ok),
                Some(Err(status)) => self.end(status.code()),
                Some(Ok(_)) => {}
            }
            std::task::Poll::Ready(item)
        })
        .boxed()
    }

    /// The context the method runs in.
    pub(crate) fn context(&self) -> &OtelContext {
        &self.cx
    }

    /// The call's span as `traceparent`.
    pub(crate) fn traceparent(&self) -> Option<std::sync::Arc<str>> {
        self.traceparent.clone()
    }

    /// The call ended with `code`.
    pub(crate) fn end(&mut self, code: Code) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        let span = self.cx.span();
        if !span.is_recording() {
            return;
        }
        span.set_attribute(KeyValue::new("rpc.grpc.status_code", i64::from(code.as_i32())));
        // A server's own failures are errors; a client's mistakes are not (OpenTelemetry's gRPC conventions).
        if matches!(
            code,
            Code::Unknown
                | Code::DeadlineExceeded
                | Code::Unimplemented
                | Code::Internal
                | Code::Unavailable
                | Code::DataLoss
        ) {
            span.set_status(SpanStatus::error(code.as_str()));
        }
        span.end();
    }
}

impl Drop for CallSpan {
    fn drop(&mut self) {
        self.end(Code::Cancelled);
    }
}

/// Installs an OTLP/HTTP (protobuf) exporter of spans to `endpoint` (a
/// collector's base URL, `http://127.0.0.1:4318`, or its `/v1/traces`) as
/// the process's tracer provider, batching spans on a thread of its own.
/// The service name is `OTEL_SERVICE_NAME`, else `service_name`. Shutting
/// the returned provider down flushes what is left.
#[cfg(feature = "otlp")]
pub(crate) fn install_otlp(
    endpoint: &str,
    service_name: &str,
) -> Result<opentelemetry_sdk::trace::SdkTracerProvider, crate::Status> {
    use opentelemetry_otlp::WithExportConfig;
    let endpoint = endpoint.trim_end_matches('/');
    let url = if endpoint.ends_with("/v1/traces") { endpoint.to_owned() } else { format!("{endpoint}/v1/traces") };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(crate::Status::invalid_argument(format!(
            "--otlp {endpoint}: write the collector's OTLP/HTTP address, for example http://127.0.0.1:4318"
        )));
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(url)
        .build()
        .map_err(|e| crate::Status::invalid_argument(format!("--otlp {endpoint}: {e}")))?;
    let name = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| service_name.to_owned());
    let resource = opentelemetry_sdk::Resource::builder().with_service_name(name).build();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    Ok(provider)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clients_context_passes_through_without_a_tracer() {
        let mut metadata = http::HeaderMap::new();
        let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        metadata.insert("traceparent", http::HeaderValue::from_static(parent));
        let span = CallSpan::start(None, "a.S", "Get", Protocol::Rest, &metadata).expect("a context");
        assert_eq!(span.traceparent().as_deref(), Some(parent));
        let mut out = http::HeaderMap::new();
        inject(span.context(), &mut out);
        assert_eq!(out.get("traceparent").and_then(|v| v.to_str().ok()), Some(parent));
        // Leading zeros and unsampled flags are written back digit for digit.
        let padded = "00-00000000000000000000000000000a0f-000000000000000b-00";
        let mut zeros = http::HeaderMap::new();
        zeros.insert("traceparent", http::HeaderValue::from_static(padded));
        let span = CallSpan::start(None, "a.S", "Get", Protocol::Rest, &zeros).expect("a context");
        assert_eq!(span.traceparent().as_deref(), Some(padded));
        // Nothing to pass on and nothing to record: no span at all.
        assert!(CallSpan::start(None, "a.S", "Get", Protocol::Rest, &http::HeaderMap::new()).is_none());
        metadata.insert("traceparent", http::HeaderValue::from_static("00-zz-b7ad6b7169203331-01"));
        assert!(CallSpan::start(None, "a.S", "Get", Protocol::Rest, &metadata).is_none(), "a malformed one is ignored");
    }
}
