//! The whole HTTP router in process (gRPC-Web through tonic-web, Connect,
//! REST and SSE), serving a tiny echo service whose messages are
//! `google.protobuf.Struct`. The first byte picks a request shape (method,
//! path, content type), the second byte optional headers; the rest is the
//! body, or for GET shapes the query string or the end of the path. Every
//! request must get a whole response: no panic, no hang.
#![no_main]

use std::sync::Arc;
use std::time::Duration;

use apigen_runtime::BoxFuture;
use apigen_runtime::__private::{self as dispatch, Call, Output};
use apigen_runtime::http;
use apigen_runtime::__private::{HttpRule, Segment};
use apigen_runtime::wkt::Struct;
use apigen_runtime::{MethodInfo, MethodKind, RequestStream, ResponseStream, ServiceDef, ServiceInfo, Status};
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

static UNARY_HTTP: [HttpRule; 1] = [HttpRule {
    method: "GET",
    template: "/v1/echo/{name=**}",
    segments: &[
        Segment::Literal("v1"),
        Segment::Literal("echo"),
        Segment::Var { field: "name", pattern: &[Segment::Rest], default: "" },
    ],
    verb: None,
    body: "",
    response_body: "",
    status: 200,
}];

static STREAM_HTTP: [HttpRule; 1] = [HttpRule {
    method: "GET",
    template: "/v1/{name=echo/*}:watch",
    segments: &[
        Segment::Literal("v1"),
        Segment::Var { field: "name", pattern: &[Segment::Literal("echo"), Segment::Any], default: "" },
    ],
    verb: Some("watch"),
    body: "",
    response_body: "",
    status: 200,
}];

const fn method(name: &'static str, kind: MethodKind, http: &'static [HttpRule]) -> MethodInfo {
    MethodInfo::new(name, kind, "google.protobuf.Struct", "google.protobuf.Struct")
        .no_side_effects(matches!(kind, MethodKind::Unary))
        .http(http)
}

static ECHO_INFO: ServiceInfo = ServiceInfo::new(
    "fuzz.v1.Echo",
    &[
        method("Unary", MethodKind::Unary, &UNARY_HTTP),
        method("Stream", MethodKind::ServerStreaming, &STREAM_HTTP),
        method("Collect", MethodKind::ClientStreaming, &[]),
        method("Chat", MethodKind::BidiStreaming, &[]),
    ],
    include_bytes!("../echo.binpb"),
);

struct Echo;

fn echo_dispatch(_: Arc<Echo>, index: usize, call: Call) -> BoxFuture<Result<Output, Status>> {
    match index {
        0 => dispatch::unary(call, |_, request: Struct| async move { Ok(request) }),
        1 => dispatch::server_streaming(call, |_, request: Struct| async move {
            Ok([request.clone(), request].into_iter().collect::<ResponseStream<Struct>>())
        }),
        2 => dispatch::client_streaming(call, |_, mut requests: RequestStream<Struct>| async move {
            let mut last = Struct::default();
            while let Some(request) = requests.next().await {
                last = request?;
            }
            Ok(last)
        }),
        3 => dispatch::bidi_streaming(call, |_, requests: RequestStream<Struct>| async move {
            Ok(ResponseStream::new(requests))
        }),
        other => dispatch::unknown(other),
    }
}

/// How the rest of the input is used.
#[derive(Clone, Copy)]
enum Rest {
    Body,
    Query,
    Path,
}

const SHAPES: &[(&str, &str, &str, Rest)] = &[
    ("POST", "/fuzz.v1.Echo/Unary", "application/grpc-web+proto", Rest::Body),
    ("POST", "/fuzz.v1.Echo/Stream", "application/grpc-web+proto", Rest::Body),
    ("POST", "/fuzz.v1.Echo/Collect", "application/grpc-web", Rest::Body),
    ("POST", "/fuzz.v1.Echo/Chat", "application/grpc-web-text", Rest::Body),
    ("POST", "/fuzz.v1.Echo/Unary", "application/grpc-web-text+proto", Rest::Body),
    ("POST", "/fuzz.v1.Echo/Chat", "application/grpc", Rest::Body),
    ("POST", "/fuzz.v1.Echo/Stream", "application/connect+proto", Rest::Body),
    ("POST", "/fuzz.v1.Echo/Collect", "application/connect+json", Rest::Body),
    ("POST", "/fuzz.v1.Echo/Chat", "application/connect+proto", Rest::Body),
    ("POST", "/fuzz.v1.Echo/Unary", "application/proto", Rest::Body),
    ("POST", "/fuzz.v1.Echo/Unary", "application/json", Rest::Body),
    ("GET", "/fuzz.v1.Echo/Unary", "", Rest::Query),
    ("GET", "/v1/echo/", "", Rest::Path),
    ("GET", "/v1/", "", Rest::Path),
    ("GET", "/sse/fuzz.v1.Echo/Stream", "", Rest::Query),
];

const HEADERS: [(&str, &str); 8] = [
    ("content-encoding", "gzip"),
    ("connect-content-encoding", "gzip"),
    ("grpc-encoding", "gzip"),
    ("accept-encoding", "gzip"),
    ("connect-accept-encoding", "gzip"),
    ("grpc-accept-encoding", "gzip"),
    ("connect-timeout-ms", "5000"),
    ("accept", "text/event-stream"),
];

/// `APIGEN_FUZZ_DEBUG=1` prints every response (to see what a corpus reaches).
static DEBUG: std::sync::LazyLock<bool> = std::sync::LazyLock::new(|| std::env::var_os("APIGEN_FUZZ_DEBUG").is_some());

thread_local! {
    static SERVER: (tokio::runtime::Runtime, axum::Router) = {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        let server = apigen_runtime::Server::builder()
            .max_message_size(64 * 1024)
            .add_service(ServiceDef::new(&ECHO_INFO, Echo, echo_dispatch));
        let router = runtime.block_on(server.into_router()).expect("the router builds");
        (runtime, router)
    };
}

fuzz_target!(|data: &[u8]| {
    let [shape, flags, rest @ ..] = data else { return };
    let (method, path, content_type, how) = SHAPES[usize::from(*shape) % SHAPES.len()];
    let uri = match how {
        Rest::Body => path.to_owned(),
        Rest::Query => format!("{path}?{}", String::from_utf8_lossy(rest)),
        Rest::Path => format!("{path}{}", String::from_utf8_lossy(rest)),
    };
    let mut request = http::Request::builder().method(method).uri(uri);
    if content_type == "application/grpc" {
        // gRPC proper needs HTTP/2 (tonic-web turns HTTP/1.1 gRPC away).
        request = request.version(http::Version::HTTP_2);
    }
    if !content_type.is_empty() {
        request = request.header("content-type", content_type);
    }
    for (bit, (name, value)) in HEADERS.iter().enumerate() {
        if flags & (1 << bit) != 0 {
            request = request.header(*name, *value);
        }
    }
    let body = match how {
        Rest::Body => axum::body::Body::from(rest.to_vec()),
        _ => axum::body::Body::empty(),
    };
    // A path or query that is not a valid URI never reaches the server.
    let Ok(request) = request.body(body) else { return };
    SERVER.with(|(runtime, router)| {
        runtime.block_on(async {
            let answer = async {
                let response = router.clone().oneshot(request).await.expect("the router is infallible");
                let (parts, body) = response.into_parts();
                let body = body.collect().await.map(|b| b.to_bytes());
                (parts.status, body)
            };
            let Ok((status, body)) = tokio::time::timeout(Duration::from_secs(10), answer).await else {
                panic!("no whole response within 10 s");
            };
            if *DEBUG {
                let body = body.map(|b| String::from_utf8_lossy(&b).into_owned());
                eprintln!("{method} {path} {content_type}: {status} {body:?}");
            }
        })
    });
});
