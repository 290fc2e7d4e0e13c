//! Prometheus metrics of every call on every protocol, kept by the call
//! pipeline, so that a GraphQL query counts each root field and relation
//! load it resolves as a call of its method (not one POST), and a call
//! refused on any protocol counts alike. Served as Prometheus text at
//! `GET /metrics` (see `Server::metrics_addr`).
//!
//! Series (labels: `service`, `method`, `protocol`):
//! - `apigen_calls_total` (and `code`): calls that ended, by status code;
//!   a stream counts when it ends (`cancelled` when its client went away);
//! - `apigen_call_duration_seconds`: how long calls with one response took;
//! - `apigen_calls_in_flight`: calls started and not ended, streams included;
//! - `apigen_streams_open`: response streams open now;
//! - `apigen_request_bytes_total` / `apigen_response_bytes_total`: message
//!   bytes in and out (requests as received, responses as protobuf);
//! - `apigen_websocket_connections` (label `protocol`: `websocket` or
//!   `graphql-ws`): sockets open now;
//! - `apigen_rejected_total` (label `reason`: `auth`, `limits`, `bad_input`):
//!   calls refused for their credentials, a limit or their input, and
//!   requests and sockets refused before a call (a body over the limit, a
//!   malformed WebSocket frame);
//! - fan-out, for the process (topics live outside any one server):
//!   `apigen_fanout_subscribers` (open now), `apigen_fanout_delivered_total`,
//!   `apigen_fanout_lag_messages` (a histogram: messages already published
//!   but still waiting for a subscriber when it gets one) and
//!   `apigen_fanout_catch_ups_total` (subscribers that fell behind the live
//!   broadcast and read the missing messages from the backend).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::core::context::Protocol;
use crate::core::status::Code;

/// The content type of [`Metrics::render`]'s text.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `service`, `method`, `protocol`.
pub(crate) type CallLabels = [(&'static str, &'static str); 3];
type CodeLabels = [(&'static str, &'static str); 4];
type OneLabel = [(&'static str, &'static str); 1];
/// Label strings by address and length.
type SeriesKey = [(usize, usize); 3];

/// The server's metrics; one per server, shared by its protocols.
pub(crate) struct Metrics {
    registry: Registry,
    calls: Family<CodeLabels, Counter>,
    duration: Family<CallLabels, Histogram, fn() -> Histogram>,
    in_flight: Family<CallLabels, Gauge>,
    streams: Family<CallLabels, Gauge>,
    request_bytes: Family<CallLabels, Counter>,
    response_bytes: Family<CallLabels, Counter>,
    sockets: Family<OneLabel, Gauge>,
    rejected: Family<OneLabel, Counter>,
    /// Each label set's handles, by the label strings' addresses and lengths
    /// (equal keys are equal strings).
    series: RwLock<HashMap<SeriesKey, Arc<Series>, foldhash::fast::RandomState>>,
}

/// The fan-out topics' series, one set per process.
pub(crate) struct FanOut {
    pub(crate) subscribers: Gauge,
    pub(crate) delivered: Counter,
    pub(crate) lag: Histogram,
    pub(crate) catch_ups: Counter,
}

/// The process's fan-out series.
pub(crate) fn fan_out() -> &'static FanOut {
    static FAN_OUT: std::sync::OnceLock<FanOut> = std::sync::OnceLock::new();
    FAN_OUT.get_or_init(|| FanOut {
        subscribers: Gauge::default(),
        delivered: Counter::default(),
        // 0, then 1 to 1024 doubling.
        lag: Histogram::new([0.0].into_iter().chain(exponential_buckets(1.0, 2.0, 11))),
        catch_ups: Counter::default(),
    })
}

/// 0.5 ms to about 16 s, doubling.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The `protocol` label of a call.
pub(crate) fn protocol_label(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Grpc => "grpc",
        Protocol::GrpcWeb => "grpc-web",
        Protocol::Rest => "rest",
        Protocol::Graphql => "graphql",
        Protocol::Connect => "connect",
        Protocol::Trpc => "trpc",
        Protocol::WebSocket => "websocket",
        Protocol::Sse => "sse",
        Protocol::InProcess => "in-process",
    }
}

/// Why a refused call was refused, for `apigen_rejected_total`.
fn rejection(code: Code) -> Option<&'static str> {
    match code {
        Code::Unauthenticated | Code::PermissionDenied => Some("auth"),
        Code::ResourceExhausted => Some("limits"),
        Code::InvalidArgument | Code::OutOfRange => Some("bad_input"),
        _ => None,
    }
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("apigen");
        let metrics = Metrics {
            registry: Registry::default(),
            calls: Family::default(),
            duration: Family::new_with_constructor(latency),
            in_flight: Family::default(),
            streams: Family::default(),
            request_bytes: Family::default(),
            response_bytes: Family::default(),
            sockets: Family::default(),
            rejected: Family::default(),
            series: RwLock::default(),
        };
        registry.register("calls", "Calls that ended, by status code", metrics.calls.clone());
        registry.register("call_duration_seconds", "How long calls with one response took", metrics.duration.clone());
        registry.register("calls_in_flight", "Calls started and not ended", metrics.in_flight.clone());
        registry.register("streams_open", "Response streams open now", metrics.streams.clone());
        registry.register("request_bytes", "Request message bytes received", metrics.request_bytes.clone());
        registry.register("response_bytes", "Response message bytes sent, as protobuf", metrics.response_bytes.clone());
        registry.register("websocket_connections", "WebSockets open now", metrics.sockets.clone());
        registry.register(
            "rejected",
            "Calls refused for their credentials, a limit or their input",
            metrics.rejected.clone(),
        );
        let fan_out = fan_out();
        registry.register("fanout_subscribers", "Fan-out subscribers open now", fan_out.subscribers.clone());
        registry.register("fanout_delivered", "Fan-out messages delivered to subscribers", fan_out.delivered.clone());
        registry.register(
            "fanout_lag_messages",
            "Messages published but still waiting for a subscriber when it gets one",
            fan_out.lag.clone(),
        );
        registry.register(
            "fanout_catch_ups",
            "Subscribers that fell behind the live broadcast and read from the backend",
            fan_out.catch_ups.clone(),
        );
        Metrics { registry, ..metrics }
    }

    /// A call of `labels` starts: counted in flight until the guard drops.
    pub(crate) fn start(self: &Arc<Self>, labels: CallLabels, request_bytes: usize) -> InFlight {
        let series = self.series(labels);
        series.in_flight.inc();
        if request_bytes > 0 {
            series.request_bytes.inc_by(request_bytes as u64);
        }
        InFlight { metrics: Arc::clone(self), series, started: Instant::now(), ended: false, stream: false }
    }

    /// The series of `labels`, made on their first call. A `Family` hashes
    /// every label string under a lock on each use; this is one lookup by
    /// the strings' addresses, then plain atomics.
    fn series(&self, labels: CallLabels) -> Arc<Series> {
        let key = labels.map(|(_, value)| (value.as_ptr() as usize, value.len()));
        if let Some(series) = self.series.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Arc::clone(series);
        }
        let mut all = self.series.write().unwrap_or_else(|e| e.into_inner());
        let series = all.entry(key).or_insert_with(|| {
            Arc::new(Series {
                labels,
                calls: Default::default(),
                duration: self.duration.get_or_create(&labels).clone(),
                in_flight: self.in_flight.get_or_create(&labels).clone(),
                streams: self.streams.get_or_create(&labels).clone(),
                request_bytes: self.request_bytes.get_or_create(&labels).clone(),
                response_bytes: self.response_bytes.get_or_create(&labels).clone(),
            })
        });
        Arc::clone(series)
    }

    /// A call refused before it reached its method (its credentials).
    pub(crate) fn refused(&self, code: Code) {
        if let Some(reason) = rejection(code) {
            self.rejected(reason);
        }
    }

    /// A request refused for `reason` (`auth`, `limits`, `bad_input`).
    pub(crate) fn rejected(&self, reason: &'static str) {
        self.rejected.get_or_create(&[("reason", reason)]).inc();
    }

    /// A WebSocket of `protocol` opens: counted until the guard drops.
    pub(crate) fn socket(self: &Arc<Self>, protocol: &'static str) -> Socket {
        self.sockets.get_or_create(&[("protocol", protocol)]).inc();
        Socket { metrics: Arc::clone(self), protocol }
    }

    /// Every series in Prometheus's text format.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

/// The handles of one `service`, `method`, `protocol`'s series.
struct Series {
    labels: CallLabels,
    /// `apigen_calls_total` by code, indexed by the code's number.
    calls: [OnceLock<Counter>; CODES],
    duration: Histogram,
    in_flight: Gauge,
    streams: Gauge,
    request_bytes: Counter,
    response_bytes: Counter,
}

/// How many status codes there are (`OK` is 0, `UNAUTHENTICATED` 16).
const CODES: usize = 17;

/// A call in flight; it ends with [`InFlight::end`], or as cancelled when dropped before.
pub(crate) struct InFlight {
    metrics: Arc<Metrics>,
    series: Arc<Series>,
    started: Instant,
    ended: bool,
    stream: bool,
}

impl InFlight {
    /// The call answered (or failed) with `code`; `response_bytes` sent.
    pub(crate) fn end(&mut self, code: Code) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        let series = &self.series;
        let calls = series.calls[(code as usize).min(CODES - 1)].get_or_init(|| {
            let [service, method, protocol] = series.labels;
            self.metrics.calls.get_or_create(&[service, method, protocol, ("code", code_label(code))]).clone()
        });
        calls.inc();
        if !self.stream {
            series.duration.observe(self.started.elapsed().as_secs_f64());
        }
        self.metrics.refused(code);
    }

    /// Its response is a stream, open until this drops.
    pub(crate) fn streaming(&mut self) {
        self.stream = true;
        self.series.streams.inc();
    }

    /// A response message of `bytes` went out.
    pub(crate) fn sent(&self, bytes: usize) {
        self.series.response_bytes.inc_by(bytes as u64);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.end(Code::Cancelled);
        self.series.in_flight.dec();
        if self.stream {
            self.series.streams.dec();
        }
    }
}

/// An open WebSocket.
pub(crate) struct Socket {
    metrics: Arc<Metrics>,
    protocol: &'static str,
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.metrics.sockets.get_or_create(&[("protocol", self.protocol)]).dec();
    }
}

/// The `code` label: gRPC's name for the code (`NOT_FOUND`).
fn code_label(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_count_by_code_and_streams_count_when_they_end() {
        let metrics = Arc::new(Metrics::new());
        let labels = [("service", "a.S"), ("method", "Get"), ("protocol", "rest")];
        let mut call = metrics.start(labels, 10);
        call.sent(7);
        call.end(Code::Ok);
        drop(call);
        let mut stream = metrics.start(labels, 0);
        stream.streaming();
        assert!(metrics.render().contains(r#"apigen_streams_open{service="a.S",method="Get",protocol="rest"} 1"#));
        drop(stream);
        metrics.start(labels, 0).end(Code::PermissionDenied);
        let text = metrics.render();
        for line in [
            r#"apigen_calls_total{service="a.S",method="Get",protocol="rest",code="OK"} 1"#,
            r#"apigen_calls_total{service="a.S",method="Get",protocol="rest",code="CANCELLED"} 1"#,
            r#"apigen_calls_total{service="a.S",method="Get",protocol="rest",code="PERMISSION_DENIED"} 1"#,
            r#"apigen_calls_in_flight{service="a.S",method="Get",protocol="rest"} 0"#,
            r#"apigen_streams_open{service="a.S",method="Get",protocol="rest"} 0"#,
            r#"apigen_request_bytes_total{service="a.S",method="Get",protocol="rest"} 10"#,
            r#"apigen_response_bytes_total{service="a.S",method="Get",protocol="rest"} 7"#,
            r#"apigen_rejected_total{reason="auth"} 1"#,
            r#"apigen_call_duration_seconds_count{service="a.S",method="Get",protocol="rest"} 2"#,
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }
}
