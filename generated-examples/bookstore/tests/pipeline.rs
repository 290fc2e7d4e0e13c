//! One call pipeline behind every protocol: each test sets one server-wide
//! rule (peer, status details, authentication outage, deadlines, message
//! limit, transport credentials) and checks that every protocol applies it,
//! each in its own wire form. A recording authorizer sees the `Context` of
//! every call, whatever protocol it came over.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apigen_runtime::futures::{SinkExt, StreamExt};
use apigen_runtime::wkt::Any;
use apigen_runtime::{
    Authenticator, BearerToken, BoxFuture, Code, Context, Identity, MethodInfo, Protocol, Server, ServiceInfo, Status,
};
use bookstore_example::v1;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// How long any one answer may take before the test gives up.
const WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------- servers

fn bookstore() -> Server {
    Server::builder().add_service(v1::bookstore_service(bookstore_example::Store::default()))
}

async fn start(server: Server) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(server.serve(listener, std::future::pending()));
    addr
}

async fn grpc(addr: SocketAddr) -> v1::BookstoreClient {
    v1::BookstoreClient::connect(format!("http://{addr}")).await.expect("connects")
}

/// A shelf made over gRPC, for the methods that need one.
async fn shelf(client: &mut v1::BookstoreClient) -> String {
    let shelf = v1::Shelf { theme: "Pipelines".into(), ..Default::default() };
    client.create_shelf(v1::CreateShelfRequest { shelf: Some(shelf) }).await.expect("a shelf").name
}

/// What the authorizer saw of one call.
#[derive(Debug, Clone)]
struct Seen {
    protocol: Protocol,
    method: &'static str,
    peer: Option<SocketAddr>,
    /// How long the call had left when it was authorized.
    remaining: Option<Duration>,
    metadata: apigen_runtime::http::HeaderMap,
}

/// The calls a recording authorizer let through.
#[derive(Clone, Default)]
struct Calls(Arc<Mutex<Vec<Seen>>>);

impl Calls {
    /// `server` with an authorizer that records every call and allows it.
    fn recording(&self, server: Server) -> Server {
        let calls = self.clone();
        server.authorizer(move |ctx: &Context, _: &ServiceInfo, method: &MethodInfo| {
            let seen = Seen {
                protocol: ctx.protocol(),
                method: method.name,
                peer: ctx.peer(),
                remaining: ctx.deadline().map(|at| at.saturating_duration_since(Instant::now())),
                metadata: ctx.metadata().clone(),
            };
            calls.0.lock().expect("not poisoned").push(seen);
            Ok(())
        })
    }

    /// The calls recorded since the last `take`.
    fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.0.lock().expect("not poisoned"))
    }

    /// The one call recorded since the last `take`, which came over `protocol`.
    fn one(&self, protocol: Protocol) -> Seen {
        let mut seen = self.take();
        assert_eq!(seen.len(), 1, "{protocol:?}: {seen:?}");
        let seen = seen.remove(0);
        assert_eq!(seen.protocol, protocol, "{seen:?}");
        seen
    }
}

// ---------------------------------------------------------------- raw HTTP/1.1

/// A whole HTTP response.
struct Reply {
    status: u16,
    /// The status line and headers, lowercased.
    head: String,
    /// The body, de-chunked.
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.head, String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request (`head` is the request line and any headers) and leaves the response unread.
async fn open(addr: SocketAddr, head: &str, body: &[u8]) -> tokio::net::TcpStream {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connects");
    let request = format!("{head}\r\nhost: {addr}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
    stream.write_all(request.as_bytes()).await.expect("writes");
    stream.write_all(body).await.expect("writes");
    stream
}

/// One request and its whole response (the server must end it within `WAIT`).
async fn http(addr: SocketAddr, head: &str, body: &[u8]) -> Reply {
    let mut stream = open(addr, head, body).await;
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut raw))
        .await
        .expect("the response ends (still open after 10 s)")
        .expect("reads");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a header block");
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status = head.get(9..12).and_then(|s| s.parse().ok()).expect("a status line");
    let mut body = raw[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    Reply { status, head, body }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(end) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&raw[..end]).ok().and_then(|s| usize::from_str_radix(s.trim(), 16).ok());
        let Some(size) = size.filter(|n| *n > 0) else { break };
        body.extend_from_slice(&raw[end + 2..end + 2 + size]);
        raw = &raw[end + 2 + size + 2..];
    }
    body
}

/// Reads an open response until its raw text contains `needle`; returns what was read.
async fn read_until(stream: &mut tokio::net::TcpStream, needle: &str) -> String {
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !seen.contains(needle) {
        let n = tokio::time::timeout(WAIT, stream.read(&mut buf)).await.expect("in time").expect("reads");
        assert!(n > 0, "the response ended without {needle:?}: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    seen
}

/// The status of a response, read without waiting for its body, which may be a stream that stays open.
async fn status_of(addr: SocketAddr, head: &str) -> u16 {
    let mut stream = open(addr, head, b"").await;
    let head = read_until(&mut stream, "\r\n\r\n").await;
    head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("a status line: {head}"))
}

/// The events of an SSE body as (event name, data); unnamed events are `message`.
fn events(text: &str) -> Vec<(String, String)> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut name = None;
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    name = Some(value.trim().to_owned());
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push(value.strip_prefix(' ').unwrap_or(value));
                }
            }
            (name.is_some() || !data.is_empty()).then(|| (name.unwrap_or_else(|| "message".into()), data.join("\n")))
        })
        .collect()
}

/// The last event of an SSE body, which must be named `name`, as JSON.
fn last_event(reply: &Reply, name: &str) -> Value {
    let text = reply.text();
    let events = events(&text);
    let (last, data) = events.last().unwrap_or_else(|| panic!("no events: {text}"));
    assert_eq!(last, name, "{text}");
    serde_json::from_str(data).unwrap_or_else(|e| panic!("not JSON ({e}): {data}"))
}

/// A Connect stream's request body: one enveloped JSON message.
fn enveloped(message: &Value) -> Vec<u8> {
    let data = message.to_string().into_bytes();
    let mut out = vec![0u8];
    out.extend_from_slice(&u32::try_from(data.len()).expect("small").to_be_bytes());
    out.extend_from_slice(&data);
    out
}

/// A Connect stream's response body as (flags, JSON) envelopes.
fn envelopes(mut body: &[u8]) -> Vec<(u8, Value)> {
    let mut out = Vec::new();
    while body.len() >= 5 {
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        out.push((body[0], serde_json::from_slice(&body[5..5 + len]).expect("a JSON envelope")));
        body = &body[5 + len..];
    }
    assert!(body.is_empty(), "a cut envelope: {body:?}");
    out
}

/// A Connect stream's end-of-stream message (the last envelope, flag 0x02).
fn end_of_stream(reply: &Reply) -> Value {
    assert_eq!(reply.status, 200, "Connect streams answer 200: {}", reply.head);
    let envelopes = envelopes(&reply.body);
    let (flags, end) = envelopes.last().cloned().expect("an end-of-stream message");
    assert_eq!(flags & 0x02, 0x02, "the last envelope ends the stream: {envelopes:?}");
    end
}

/// A URL query value, percent-encoded.
fn q(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn connect_stream_head(method: &str) -> String {
    format!("POST /bookstore.v1.Bookstore/{method} HTTP/1.1\r\ncontent-type: application/connect+json")
}

fn graphql_post(query: &str) -> Vec<u8> {
    json!({ "query": query }).to_string().into_bytes()
}

const GRAPHQL: &str = "POST /graphql HTTP/1.1\r\ncontent-type: application/json";
const CONNECT_JSON: &str = "content-type: application/json\r\nconnect-protocol-version: 1";
const EVENTS: &str = "accept: text/event-stream";

// ---------------------------------------------------------------- raw WebSockets

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What a socket delivers next.
#[derive(Debug)]
enum Frame {
    Json(Value),
    Closed(Option<u16>),
}

/// Opens `path` with `subprotocol` and extra upgrade `headers`, and sends
/// `connection_init` with `payload`; the ack is the caller's to read.
async fn socket(
    addr: SocketAddr,
    path: &str,
    subprotocol: &str,
    headers: &[(&'static str, &str)],
    payload: Value,
) -> Socket {
    let mut request = format!("ws://{addr}{path}").into_client_request().expect("a request");
    request.headers_mut().insert("sec-websocket-protocol", subprotocol.parse().expect("a header"));
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.parse().expect("a header"));
    }
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.expect("upgrades");
    assert_eq!(response.headers()["sec-websocket-protocol"], subprotocol);
    send(&mut socket, json!({"type": "connection_init", "payload": payload})).await;
    socket
}

async fn send(socket: &mut Socket, frame: Value) {
    socket.send(Message::text(frame.to_string())).await.expect("sends");
}

/// The next JSON text frame, or the close.
async fn frame(socket: &mut Socket) -> Frame {
    loop {
        match tokio::time::timeout(WAIT, socket.next()).await.expect("a frame in time") {
            Some(Ok(Message::Text(text))) => return Frame::Json(serde_json::from_str(text.as_str()).expect("JSON")),
            Some(Ok(Message::Close(close))) => return Frame::Closed(close.map(|c| u16::from(c.code))),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Frame::Closed(None),
        }
    }
}

/// The next JSON frame; the socket must not close.
async fn json_frame(socket: &mut Socket) -> Value {
    match frame(socket).await {
        Frame::Json(value) => value,
        Frame::Closed(code) => panic!("the socket closed ({code:?})"),
    }
}

/// The next frame that is not a `ping` of `apigen.v1`.
async fn call_frame(socket: &mut Socket) -> Value {
    loop {
        let frame = json_frame(socket).await;
        if frame["type"] != "ping" {
            return frame;
        }
    }
}

async fn acked(socket: &mut Socket) {
    assert_eq!(call_frame(socket).await["type"], "connection_ack");
}

/// A `/ws` socket past its `connection_init`.
async fn apigen_ws(addr: SocketAddr) -> Socket {
    let mut ws = socket(addr, "/ws", "apigen.v1", &[], json!({})).await;
    acked(&mut ws).await;
    ws
}

/// A `/graphql/ws` (graphql-transport-ws) socket past its `connection_init`.
async fn graphql_ws(addr: SocketAddr, payload: Value) -> Socket {
    let mut ws = socket(addr, "/graphql/ws", "graphql-transport-ws", &[], payload).await;
    acked(&mut ws).await;
    ws
}

fn subscribe(id: &str, method: &str, payload: Value) -> Value {
    json!({"type": "subscribe", "id": id, "method": format!("bookstore.v1.Bookstore/{method}"), "payload": payload})
}

fn graphql_subscribe(id: &str, query: &str) -> Value {
    json!({"type": "subscribe", "id": id, "payload": {"query": query}})
}

// ---------------------------------------------------------------- 1. peer

fn assert_loopback(seen: &Seen) {
    let peer = seen.peer.unwrap_or_else(|| panic!("{:?} has no peer: {seen:?}", seen.protocol));
    assert!(peer.ip().is_loopback() && peer.port() != 0, "{:?}: {peer}", seen.protocol);
}

#[tokio::test]
async fn peer_is_set_on_every_protocol() {
    let calls = Calls::default();
    let addr = start(calls.recording(bookstore())).await;

    let mut grpc = grpc(addr).await;
    let shelf = shelf(&mut grpc).await;
    assert_loopback(&calls.one(Protocol::Grpc));

    // gRPC-Web: one empty ListShelvesRequest in a gRPC frame.
    let web = http(
        addr,
        "POST /bookstore.v1.Bookstore/ListShelves HTTP/1.1\r\ncontent-type: application/grpc-web+proto",
        &[0, 0, 0, 0, 0],
    )
    .await;
    assert_eq!(web.status, 200, "{}", web.head);
    assert_loopback(&calls.one(Protocol::GrpcWeb));

    let rest = http(addr, "GET /v1/shelves HTTP/1.1", b"").await;
    assert_eq!(rest.status, 200, "{}", rest.text());
    assert_loopback(&calls.one(Protocol::Rest));

    let connect =
        http(addr, &format!("POST /bookstore.v1.Bookstore/ListShelves HTTP/1.1\r\n{CONNECT_JSON}"), b"{}").await;
    assert_eq!(connect.status, 200, "{}", connect.text());
    assert_loopback(&calls.one(Protocol::Connect));

    let trpc = http(addr, "GET /trpc/bookstore.listShelves HTTP/1.1", b"").await;
    assert_eq!(trpc.status, 200, "{}", trpc.text());
    assert_loopback(&calls.one(Protocol::Trpc));

    let graphql = http(addr, GRAPHQL, &graphql_post("{ listShelves { shelves { name theme } } }")).await;
    assert_eq!(graphql.json()["data"]["listShelves"]["shelves"][0]["name"], shelf.as_str());
    assert_loopback(&calls.one(Protocol::Graphql));

    let mut ws = graphql_ws(addr, json!({})).await;
    send(&mut ws, graphql_subscribe("1", "{ listShelves { nextPageToken } }")).await;
    assert_eq!(call_frame(&mut ws).await["type"], "next");
    assert_loopback(&calls.one(Protocol::Graphql));

    let client =
        apigen_runtime::client::ws::Client::connect(&format!("ws://{addr}/ws"), std::iter::empty::<(String, String)>())
            .await
            .expect("connects");
    let _: v1::ListShelvesResponse =
        client.unary("bookstore.v1.Bookstore/ListShelves", &v1::ListShelvesRequest::default()).await.expect("listed");
    assert_loopback(&calls.one(Protocol::WebSocket));

    // SSE: the stream stays open; its first bytes show the call has started.
    let mut sse =
        open(addr, &format!("GET /sse/bookstore.v1.Bookstore/WatchShelf?name={} HTTP/1.1\r\n{EVENTS}", q(&shelf)), b"")
            .await;
    let started = read_until(&mut sse, "retry:").await;
    assert!(started.starts_with("HTTP/1.1 200"), "{started}");
    drop(sse);
    assert_loopback(&calls.one(Protocol::Sse));
}

// ---------------------------------------------------------------- 2. details

/// `google.rpc.ErrorInfo { reason: "SHELF_LOCKED", domain: "bookstore.example" }`.
fn error_info() -> Any {
    let value = [&[0x0a, 12][..], b"SHELF_LOCKED", &[0x12, 17], b"bookstore.example"].concat();
    Any { type_url: "type.googleapis.com/google.rpc.ErrorInfo".into(), value }
}

/// [`error_info`]'s value in standard base64, as the JSON protocols carry it.
const ERROR_INFO_BASE64: &str = "CgxTSEVMRl9MT0NLRUQSEWJvb2tzdG9yZS5leGFtcGxl";

/// Every call refused with PERMISSION_DENIED and one detail.
fn refusing() -> Server {
    bookstore().authorizer(|_: &Context, _: &ServiceInfo, method: &MethodInfo| {
        Err(Status::permission_denied(format!("{} is closed today", method.name)).with_detail(error_info()))
    })
}

/// `details` of a JSON protocol: one `{"@type": "type.googleapis.com/…", "value": base64}`.
fn assert_json_details(details: &Value, protocol: &str) {
    let expected = json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "value": ERROR_INFO_BASE64}]);
    assert_eq!(details, &expected, "{protocol}");
}

/// Connect's `details`: `type` without the `type.googleapis.com/` prefix.
fn assert_connect_details(error: &Value, protocol: &str) {
    assert_eq!(error["code"], "permission_denied", "{protocol}: {error}");
    assert_eq!(error["details"], json!([{"type": "google.rpc.ErrorInfo", "value": ERROR_INFO_BASE64}]), "{protocol}");
}

fn assert_trpc_details(error: &Value, protocol: &str) {
    assert_eq!(error["data"]["code"], "FORBIDDEN", "{protocol}: {error}");
    assert_eq!(error["data"]["grpcCode"], "permission_denied", "{protocol}: {error}");
    assert_json_details(&error["data"]["details"], protocol);
}

#[tokio::test]
async fn details_reach_every_protocol() {
    let addr = start(refusing()).await;
    let watch = json!({"name": "shelves/1"});

    let rest = http(addr, "GET /v1/shelves HTTP/1.1", b"").await;
    assert_eq!(rest.status, 403, "{}", rest.text());
    assert_eq!(rest.json()["code"], 7);
    assert_json_details(&rest.json()["details"], "REST");

    let connect =
        http(addr, &format!("POST /bookstore.v1.Bookstore/ListShelves HTTP/1.1\r\n{CONNECT_JSON}"), b"{}").await;
    assert_eq!(connect.status, 403, "{}", connect.text());
    assert_connect_details(&connect.json(), "Connect unary");

    let stream = http(addr, &connect_stream_head("WatchShelf"), &enveloped(&watch)).await;
    assert_connect_details(&end_of_stream(&stream)["error"], "Connect stream");

    let mut ws = apigen_ws(addr).await;
    send(&mut ws, subscribe("1", "WatchShelf", watch.clone())).await;
    let error = call_frame(&mut ws).await;
    assert_eq!((&error["type"], &error["id"]), (&json!("error"), &json!("1")), "{error}");
    assert_eq!(error["payload"]["code"], "permission_denied", "{error}");
    assert_json_details(&error["payload"]["details"], "WebSocket");

    // SSE: a call refused before its stream starts is a plain HTTP error, details included.
    let sse =
        http(addr, &format!("GET /sse/bookstore.v1.Bookstore/WatchShelf?name=shelves%2F1 HTTP/1.1\r\n{EVENTS}"), b"")
            .await;
    assert_eq!(sse.status, 403, "{}", sse.text());
    assert_json_details(&sse.json()["details"], "SSE");

    let query = http(addr, "GET /trpc/bookstore.listShelves HTTP/1.1", b"").await;
    assert_eq!(query.status, 403, "{}", query.text());
    assert_trpc_details(&query.json()["error"], "tRPC query");

    let subscription = http(
        addr,
        &format!("GET /trpc/bookstore.watchShelf?input={} HTTP/1.1\r\n{EVENTS}", q(&watch.to_string())),
        b"",
    )
    .await;
    assert_eq!(subscription.status, 200, "httpSubscriptionLink reads errors from the stream: {}", subscription.head);
    assert_trpc_details(&last_event(&subscription, "serialized-error"), "tRPC subscription");

    let graphql = http(addr, GRAPHQL, &graphql_post("{ listShelves { nextPageToken } }")).await.json();
    let error = &graphql["errors"][0]["extensions"];
    assert_eq!(error["code"], "PERMISSION_DENIED", "GraphQL: {graphql}");
    assert_json_details(&error["details"], "GraphQL");

    let mut gql = graphql_ws(addr, json!({})).await;
    send(&mut gql, graphql_subscribe("1", "subscription { watchShelf(name: \"shelves/1\") { kind } }")).await;
    let answer = call_frame(&mut gql).await;
    assert_eq!(answer["type"], "next", "{answer}");
    let error = &answer["payload"]["errors"][0]["extensions"];
    assert_eq!(error["code"], "PERMISSION_DENIED", "GraphQL subscription: {answer}");
    assert_json_details(&error["details"], "GraphQL subscription");

    let status = grpc(addr).await.list_shelves(v1::ListShelvesRequest::default()).await.expect_err("refused");
    assert_eq!(status.code(), Code::PermissionDenied, "{status}");
    assert_eq!(status.details(), [error_info()], "gRPC");

    let mut watch_grpc = grpc(addr).await;
    let status = match watch_grpc.watch_shelf(v1::WatchShelfRequest { name: "shelves/1".into() }).await {
        Ok(mut events) => events.next().await.expect("an outcome").expect_err("refused"),
        Err(status) => status,
    };
    assert_eq!(status.details(), [error_info()], "gRPC stream");
}

// ---------------------------------------------------------------- 3. authentication outage

/// An authenticator whose identity provider is down.
struct Down;

impl Authenticator for Down {
    fn authenticate(&self, _: &apigen_runtime::http::HeaderMap) -> BoxFuture<Result<Identity, Status>> {
        Box::pin(std::future::ready(Err(Status::unavailable("the identity provider is down"))))
    }
}

#[tokio::test]
async fn an_unavailable_authenticator_is_503_everywhere() {
    let addr = start(bookstore().authenticator(Down)).await;

    let rest = http(addr, "GET /v1/shelves HTTP/1.1", b"").await;
    assert_eq!((rest.status, &rest.json()["code"]), (503, &json!(14)), "REST: {}", rest.text());
    assert!(!rest.head.contains("\nwww-authenticate:"), "not a credentials problem: {}", rest.head);

    let connect =
        http(addr, &format!("POST /bookstore.v1.Bookstore/ListShelves HTTP/1.1\r\n{CONNECT_JSON}"), b"{}").await;
    assert_eq!((connect.status, &connect.json()["code"]), (503, &json!("unavailable")), "Connect");

    let stream = http(addr, &connect_stream_head("WatchShelf"), &enveloped(&json!({"name": "shelves/1"}))).await;
    assert_eq!(end_of_stream(&stream)["error"]["code"], "unavailable", "Connect stream");

    let trpc = http(addr, "GET /trpc/bookstore.listShelves HTTP/1.1", b"").await;
    assert_eq!(trpc.status, 503, "tRPC: {}", trpc.text());
    assert_eq!(trpc.json()["error"]["data"]["code"], "SERVICE_UNAVAILABLE", "tRPC");

    let subscription = http(
        addr,
        &format!("GET /trpc/bookstore.watchShelf?input={} HTTP/1.1\r\n{EVENTS}", q(r#"{"name":"shelves/1"}"#)),
        b"",
    )
    .await;
    let error = last_event(&subscription, "serialized-error");
    assert_eq!((&error["data"]["code"], &error["data"]["httpStatus"]), (&json!("SERVICE_UNAVAILABLE"), &json!(503)));

    let graphql = http(addr, GRAPHQL, &graphql_post("{ listShelves { nextPageToken } }")).await;
    assert_eq!(graphql.status, 503, "GraphQL: {}", graphql.text());
    assert_eq!(graphql.json()["errors"][0]["extensions"]["code"], "UNAVAILABLE", "GraphQL");

    let sse =
        http(addr, &format!("GET /sse/bookstore.v1.Bookstore/WatchShelf?name=shelves%2F1 HTTP/1.1\r\n{EVENTS}"), b"")
            .await;
    assert_eq!((sse.status, &sse.json()["code"]), (503, &json!(14)), "SSE: {}", sse.text());

    let status = grpc(addr).await.list_shelves(v1::ListShelvesRequest::default()).await.expect_err("refused");
    assert_eq!(status.code(), Code::Unavailable, "gRPC: {status}");
    assert!(
        status.message().contains("identity provider"),
        "the authenticator's status, not a transport error: {status}"
    );
}

/// The WebSocket transports keep their "bad credentials" close codes for bad
/// credentials: an outage closes with 1013 (try again later), so a client
/// can tell it from a wrong token.
#[tokio::test]
async fn an_unavailable_authenticator_is_not_bad_credentials_on_websockets() {
    let addr = start(bookstore().authenticator(Down)).await;
    let refused =
        apigen_runtime::client::ws::Client::connect(&format!("ws://{addr}/ws"), [("authorization", "Bearer x")])
            .await
            .expect_err("refused");
    assert_eq!(refused.code(), Code::Unavailable, "/ws: {refused}");

    let mut ws = socket(addr, "/graphql/ws", "graphql-transport-ws", &[], json!({})).await;
    match frame(&mut ws).await {
        Frame::Closed(Some(code)) => assert_eq!(code, 1013, "/graphql/ws: try again later, not 4403 Forbidden"),
        other => panic!("/graphql/ws: {other:?}"),
    }
}

// ---------------------------------------------------------------- 4. deadlines

const DEFAULT_TIMEOUT: Duration = Duration::from_millis(400);

/// Runs `ended` (a call on a stream that only the deadline ends) and
/// checks it ended at the deadline: not before, and well within 2 s.
async fn at_deadline<T>(protocol: &str, ended: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(5), ended)
        .await
        .unwrap_or_else(|_| panic!("{protocol}: the stream outlived its deadline"));
    let took = started.elapsed();
    assert!(took >= DEFAULT_TIMEOUT - Duration::from_millis(50), "{protocol}: ended after only {took:?}");
    assert!(took < Duration::from_secs(2), "{protocol}: ended after {took:?}");
    outcome
}

#[tokio::test]
async fn stream_deadlines_end_streams_on_every_protocol() {
    let calls = Calls::default();
    let addr = start(calls.recording(bookstore().default_timeout(DEFAULT_TIMEOUT))).await;
    let mut client = grpc(addr).await;
    let shelf = shelf(&mut client).await;
    let watch = json!({ "name": shelf });
    calls.take();

    let sse = at_deadline("SSE", async {
        http(addr, &format!("GET /sse/bookstore.v1.Bookstore/WatchShelf?name={} HTTP/1.1\r\n{EVENTS}", q(&shelf)), b"")
            .await
    })
    .await;
    assert_eq!(sse.status, 200);
    assert_eq!(last_event(&sse, "end")["code"], "deadline_exceeded", "SSE");

    // SSE on the method's google.api.http path, as EventSource on the REST URL gets it.
    let binding =
        at_deadline("SSE binding", http(addr, &format!("GET /v1/{shelf}:watch HTTP/1.1\r\n{EVENTS}"), b"")).await;
    assert_eq!(last_event(&binding, "end")["code"], "deadline_exceeded", "SSE binding");

    let trpc = at_deadline("tRPC", async {
        http(addr, &format!("GET /trpc/bookstore.watchShelf?input={} HTTP/1.1\r\n{EVENTS}", q(&watch.to_string())), b"")
            .await
    })
    .await;
    let error = last_event(&trpc, "serialized-error");
    assert_eq!(error["data"]["code"], "GATEWAY_TIMEOUT", "tRPC: {error}");
    assert_eq!((&error["data"]["httpStatus"], &error["data"]["grpcCode"]), (&json!(504), &json!("deadline_exceeded")));

    let connect = at_deadline("Connect", http(addr, &connect_stream_head("WatchShelf"), &enveloped(&watch))).await;
    assert_eq!(end_of_stream(&connect)["error"]["code"], "deadline_exceeded", "Connect");

    let mut ws = apigen_ws(addr).await;
    send(&mut ws, subscribe("w", "WatchShelf", watch.clone())).await;
    let error = at_deadline("WebSocket", call_frame(&mut ws)).await;
    assert_eq!((&error["type"], &error["payload"]["code"]), (&json!("error"), &json!("deadline_exceeded")), "{error}");

    let mut gql = graphql_ws(addr, json!({})).await;
    let query = format!("subscription {{ watchShelf(name: \"{shelf}\") {{ kind }} }}");
    send(&mut gql, graphql_subscribe("g", &query)).await;
    let error = at_deadline("GraphQL", call_frame(&mut gql)).await;
    assert_eq!((&error["type"], &error["id"]), (&json!("next"), &json!("g")), "{error}");
    assert_eq!(error["payload"]["errors"][0]["extensions"]["code"], "DEADLINE_EXCEEDED", "{error}");
    assert_eq!(call_frame(&mut gql).await, json!({"type": "complete", "id": "g"}), "the subscription is over");

    let status = at_deadline("gRPC", async {
        let mut events = client.watch_shelf(v1::WatchShelfRequest { name: shelf.clone() }).await.expect("started");
        events.next().await.expect("an outcome").expect_err("the deadline ends it")
    })
    .await;
    assert_eq!(status.code(), Code::DeadlineExceeded, "gRPC: {status}");

    // Every protocol gave the method the server's deadline.
    let seen = calls.take();
    assert_eq!(seen.len(), 7, "{seen:?}");
    for call in seen {
        let remaining = call.remaining.unwrap_or_else(|| panic!("{:?} has no deadline", call.protocol));
        assert!(remaining <= DEFAULT_TIMEOUT, "{:?}: {remaining:?}", call.protocol);
    }
}

// ---------------------------------------------------------------- 5. message limit

/// Each create fits; a page of five such books does not.
const LIMIT: usize = 600;

#[tokio::test]
async fn responses_over_the_limit_are_refused_on_every_protocol() {
    let addr = start(bookstore().max_message_size(LIMIT)).await;
    let mut client = grpc(addr).await;
    let shelf = shelf(&mut client).await;
    for i in 0..5 {
        let book = v1::Book { title: format!("{i} {}", "long title ".repeat(14)), ..Default::default() };
        let request = v1::CreateBookRequest { parent: shelf.clone(), book: Some(book) };
        client.create_book(request).await.expect("each book fits");
    }
    // One book fits on every protocol; the whole list does not.
    let one = v1::ListBooksRequest { parent: shelf.clone(), page_size: 1, ..Default::default() };
    assert_eq!(client.list_books(one).await.expect("one fits").books.len(), 1);
    let all = v1::ListBooksRequest { parent: shelf.clone(), ..Default::default() };
    let status = client.list_books(all).await.expect_err("too large");
    assert_eq!(status.code(), Code::ResourceExhausted, "gRPC: {status}");

    let rest = |page: &str| format!("GET /v1/{shelf}/books{page} HTTP/1.1");
    assert_eq!(http(addr, &rest("?pageSize=1"), b"").await.status, 200, "REST");
    let reply = http(addr, &rest(""), b"").await;
    assert_eq!((reply.status, &reply.json()["code"]), (429, &json!(8)), "REST: {}", reply.text());

    let connect = format!("POST /bookstore.v1.Bookstore/ListBooks HTTP/1.1\r\n{CONNECT_JSON}");
    let page = |size: i32| json!({"parent": shelf, "pageSize": size}).to_string().into_bytes();
    assert_eq!(http(addr, &connect, &page(1)).await.status, 200, "Connect");
    let reply = http(addr, &connect, &page(0)).await;
    assert_eq!((reply.status, &reply.json()["code"]), (429, &json!("resource_exhausted")), "Connect");

    let trpc = |size: i32| {
        let input = json!({"parent": shelf, "pageSize": size}).to_string();
        format!("GET /trpc/bookstore.listBooks?input={} HTTP/1.1", q(&input))
    };
    assert_eq!(http(addr, &trpc(1), b"").await.status, 200, "tRPC");
    let reply = http(addr, &trpc(0), b"").await;
    assert_eq!(reply.status, 429, "tRPC: {}", reply.text());
    let data = &reply.json()["error"]["data"];
    assert_eq!((&data["code"], &data["grpcCode"]), (&json!("TOO_MANY_REQUESTS"), &json!("resource_exhausted")));

    let graphql = |size: i32| {
        graphql_post(&format!("{{ listBooks(parent: \"{shelf}\", pageSize: {size}) {{ books {{ title }} }} }}"))
    };
    let reply = http(addr, GRAPHQL, &graphql(1)).await.json();
    assert_eq!(reply["data"]["listBooks"]["books"].as_array().map(Vec::len), Some(1), "GraphQL: {reply}");
    let reply = http(addr, GRAPHQL, &graphql(0)).await.json();
    assert_eq!(reply["data"]["listBooks"], Value::Null, "GraphQL: {reply}");
    assert_eq!(reply["errors"][0]["extensions"]["code"], "RESOURCE_EXHAUSTED", "GraphQL: {reply}");

    let mut ws = apigen_ws(addr).await;
    send(&mut ws, subscribe("1", "ListBooks", json!({"parent": shelf, "pageSize": 1}))).await;
    assert_eq!(call_frame(&mut ws).await["type"], "next", "WebSocket");
    assert_eq!(call_frame(&mut ws).await["type"], "complete", "WebSocket");
    send(&mut ws, subscribe("2", "ListBooks", json!({"parent": shelf}))).await;
    let error = call_frame(&mut ws).await;
    assert_eq!((&error["type"], &error["payload"]["code"]), (&json!("error"), &json!("resource_exhausted")), "{error}");
}

/// The limit counts a response's protobuf bytes, as the pipeline does, on
/// every protocol: a page whose JSON is larger is still served.
#[tokio::test]
async fn the_limit_counts_the_same_bytes_on_websocket() {
    let addr = start(bookstore().max_message_size(LIMIT)).await;
    let mut client = grpc(addr).await;
    let shelf = shelf(&mut client).await;
    for title in ["Emma", "Dune", "Ulysses", "Beloved", "Walden"] {
        let book = v1::Book { title: title.into(), ..Default::default() };
        client.create_book(v1::CreateBookRequest { parent: shelf.clone(), book: Some(book) }).await.expect("fits");
    }
    let all = v1::ListBooksRequest { parent: shelf.clone(), ..Default::default() };
    assert_eq!(client.list_books(all).await.expect("under the limit in protobuf").books.len(), 5);
    let rest = http(addr, &format!("GET /v1/{shelf}/books HTTP/1.1"), b"").await;
    assert_eq!(rest.status, 200, "REST: {}", rest.text());
    assert!(rest.body.len() > LIMIT, "the page's JSON is over the limit: {} bytes", rest.body.len());

    let mut ws = apigen_ws(addr).await;
    send(&mut ws, subscribe("1", "ListBooks", json!({ "parent": shelf }))).await;
    let answer = call_frame(&mut ws).await;
    assert_eq!(answer["type"], "next", "WebSocket serves what REST serves: {answer}");
}

// ---------------------------------------------------------------- 6. transport credentials

const TOKEN: &str = "s3cret";

#[tokio::test]
async fn transport_credentials_fill_in_but_never_replace_headers() {
    let calls = Calls::default();
    let addr = start(calls.recording(bookstore().authenticator(BearerToken::new(TOKEN)))).await;
    let mut client = grpc(addr).await;
    client.metadata_mut().insert("authorization", format!("Bearer {TOKEN}").parse().expect("a header"));
    let shelf = shelf(&mut client).await;
    calls.take();
    let wrong = "authorization: Bearer wrong";

    // tRPC: `?connectionParams=` stands for headers the client could not set.
    let params = q(&json!({"authorization": format!("Bearer {TOKEN}"), "x-tenant": "t"}).to_string());
    let query = format!("GET /trpc/bookstore.listShelves?connectionParams={params} HTTP/1.1");
    let reply = http(addr, &query, b"").await;
    assert_eq!(reply.status, 200, "tRPC with connectionParams: {}", reply.text());
    assert_eq!(calls.one(Protocol::Trpc).metadata["x-tenant"], "t");
    let reply = http(addr, &format!("{query}\r\n{wrong}"), b"").await;
    assert_eq!(reply.status, 401, "tRPC: the header wins over connectionParams: {}", reply.text());
    let reply = http(addr, "GET /trpc/bookstore.listShelves HTTP/1.1", b"").await;
    assert_eq!(reply.status, 401, "tRPC without credentials");

    let input = q(&json!({ "name": shelf }).to_string());
    let subscription = format!("GET /trpc/bookstore.watchShelf?input={input}&connectionParams={params} HTTP/1.1");
    let mut events = open(addr, &format!("{subscription}\r\n{EVENTS}"), b"").await;
    read_until(&mut events, "event: connected").await;
    drop(events);
    assert_eq!(calls.one(Protocol::Trpc).method, "WatchShelf");
    let refused = http(addr, &format!("{subscription}\r\n{EVENTS}\r\n{wrong}"), b"").await;
    let error = last_event(&refused, "serialized-error");
    assert_eq!(error["data"]["code"], "UNAUTHORIZED", "tRPC subscription: the header wins: {error}");

    // SSE: `?access_token=` stands for `authorization: Bearer …`.
    let sse = format!("GET /sse/bookstore.v1.Bookstore/WatchShelf?name={}&access_token={TOKEN} HTTP/1.1", q(&shelf));
    let mut events = open(addr, &format!("{sse}\r\n{EVENTS}"), b"").await;
    let started = read_until(&mut events, "retry:").await;
    assert!(started.starts_with("HTTP/1.1 200"), "SSE with access_token: {started}");
    drop(events);
    assert_eq!(calls.one(Protocol::Sse).metadata["authorization"], format!("Bearer {TOKEN}"));
    let refused = status_of(addr, &format!("{sse}\r\n{EVENTS}\r\n{wrong}")).await;
    assert_eq!(refused, 401, "SSE: the header wins over access_token");

    // /graphql/ws: every string field of connection_init's payload is metadata.
    let payload = json!({"authorization": format!("Bearer {TOKEN}"), "x-tenant": "a", "retries": 3});
    let mut ws = graphql_ws(addr, payload.clone()).await;
    send(&mut ws, graphql_subscribe("1", "{ listShelves { nextPageToken } }")).await;
    let next = call_frame(&mut ws).await;
    assert_eq!(next["payload"]["data"]["listShelves"]["nextPageToken"], "", "{next}");
    let seen = calls.one(Protocol::Graphql);
    assert_eq!(seen.metadata["x-tenant"], "a");
    assert!(!seen.metadata.contains_key("retries"), "a number is not a header value: {:?}", seen.metadata);
    let mut ws =
        socket(addr, "/graphql/ws", "graphql-transport-ws", &[("authorization", "Bearer wrong")], payload).await;
    match frame(&mut ws).await {
        Frame::Closed(Some(4403)) => {}
        other => panic!("/graphql/ws: the upgrade's header wins over the payload: {other:?}"),
    }

    // /ws: the same rule.
    let url = format!("ws://{addr}/ws");
    let bearer = format!("Bearer {TOKEN}");
    let ws = apigen_runtime::client::ws::Client::connect(&url, [("authorization", bearer.as_str()), ("x-tenant", "b")])
        .await
        .expect("connection_init authenticates");
    let _: v1::ListShelvesResponse =
        ws.unary("bookstore.v1.Bookstore/ListShelves", &v1::ListShelvesRequest::default()).await.expect("listed");
    assert_eq!(calls.one(Protocol::WebSocket).metadata["x-tenant"], "b");
    let payload = json!({ "authorization": bearer });
    let mut ws = socket(addr, "/ws", "apigen.v1", &[("authorization", "Bearer wrong")], payload).await;
    match frame(&mut ws).await {
        Frame::Closed(Some(4401)) => {}
        other => panic!("/ws: the upgrade's header wins over the payload: {other:?}"),
    }
}

// ---------------------------------------------------------------- 7. unknown JSON fields

/// A field this server's schema does not have, as a newer client would send it.
const NEWER: &str = r#"{"shelf": {"theme": "Newer", "mood": "calm"}, "trace": 1}"#;

/// What one server does with [`NEWER`] on each JSON protocol: the REST,
/// Connect and tRPC status codes, and the WebSocket answer's `type`.
async fn unknown_field_answers(addr: SocketAddr) -> Vec<(String, String)> {
    let rest_body = r#"{"theme": "Newer", "mood": "calm"}"#;
    let rest = http(addr, "POST /v1/shelves HTTP/1.1\r\ncontent-type: application/json", rest_body.as_bytes()).await;
    let connect =
        http(addr, &format!("POST /bookstore.v1.Bookstore/CreateShelf HTTP/1.1\r\n{CONNECT_JSON}"), NEWER.as_bytes())
            .await;
    let trpc =
        http(addr, "POST /trpc/bookstore.createShelf HTTP/1.1\r\ncontent-type: application/json", NEWER.as_bytes())
            .await;
    let mut ws = apigen_ws(addr).await;
    let request: Value = serde_json::from_str(NEWER).expect("JSON");
    send(
        &mut ws,
        json!({"type": "subscribe", "id": "1", "method": "bookstore.v1.Bookstore/CreateShelf", "payload": request}),
    )
    .await;
    let answer = call_frame(&mut ws).await;
    vec![
        ("REST".into(), format!("{} {}", rest.status, rest.text())),
        ("Connect".into(), format!("{} {}", connect.status, connect.text())),
        ("tRPC".into(), format!("{} {}", trpc.status, trpc.text())),
        ("WebSocket".into(), format!("{} {answer}", answer["type"].as_str().unwrap_or_default())),
    ]
}

#[tokio::test]
async fn unknown_json_fields_are_refused_unless_the_server_ignores_them() {
    for (protocol, answer) in unknown_field_answers(start(bookstore()).await).await {
        assert!(answer.starts_with("400 ") || answer.starts_with("error "), "{protocol}: {answer}");
        assert!(answer.contains("unknown field `mood`"), "{protocol} names the field: {answer}");
    }
    let lenient = start(bookstore().ignore_unknown_json_fields(true)).await;
    for (protocol, answer) in unknown_field_answers(lenient).await {
        assert!(answer.starts_with("200 ") || answer.starts_with("next "), "{protocol}: {answer}");
        assert!(answer.contains("Newer") && !answer.contains("mood"), "{protocol} kept the known fields: {answer}");
    }
}

// ---------------------------------------------------------------- 8. validation

/// A `buf.validate.Violations` detail in its JSON form: one violation of
/// `rule_id` on the top-level field `field`.
fn assert_violation(detail: &Value, field: &str, rule_id: &str, protocol: &str) {
    assert_eq!(detail["@type"], "type.googleapis.com/buf.validate.Violations", "{protocol}: {detail}");
    let violation = &detail["violations"][0];
    assert_eq!(violation["ruleId"], rule_id, "{protocol}: {detail}");
    assert_eq!(violation["field"]["elements"][0]["fieldName"], field, "{protocol}: {detail}");
    assert!(violation["message"].as_str().is_some_and(|m| !m.is_empty()), "{protocol}: {detail}");
}

/// protovalidate's rules fail a request with INVALID_ARGUMENT and a
/// `buf.validate.Violations` detail on every protocol, each in its form.
#[tokio::test]
async fn protovalidate_violations_reach_every_protocol() {
    let addr = start(bookstore()).await;
    let (page, range) = ("pageSize", "int32.gte_lte");
    let watch = json!({"name": "nope"});

    let rest = http(addr, "GET /v1/shelves?pageSize=5000 HTTP/1.1", b"").await;
    assert_eq!(rest.status, 400, "{}", rest.text());
    assert_eq!(rest.json()["code"], 3);
    assert!(
        rest.json()["message"].as_str().is_some_and(|m| m.contains("page_size") && m.contains(range)),
        "{}",
        rest.text()
    );
    assert_violation(&rest.json()["details"][0], "page_size", range, "REST");

    let connect = http(
        addr,
        &format!("POST /bookstore.v1.Bookstore/ListShelves HTTP/1.1\r\n{CONNECT_JSON}"),
        json!({page: 5000}).to_string().as_bytes(),
    )
    .await;
    assert_eq!(connect.status, 400, "{}", connect.text());
    let error = connect.json();
    assert_eq!(
        (&error["code"], &error["details"][0]["type"]),
        (&json!("invalid_argument"), &json!("buf.validate.Violations"))
    );
    let mut debug = error["details"][0]["debug"].clone();
    debug["@type"] = json!("type.googleapis.com/buf.validate.Violations");
    assert_violation(&debug, "page_size", range, "Connect unary");

    let stream = http(addr, &connect_stream_head("WatchShelf"), &enveloped(&watch)).await;
    let error = &end_of_stream(&stream)["error"];
    assert_eq!(error["code"], "invalid_argument", "Connect stream: {error}");
    assert_eq!(error["details"][0]["type"], "buf.validate.Violations", "Connect stream: {error}");

    let mut ws = apigen_ws(addr).await;
    send(&mut ws, subscribe("1", "WatchShelf", watch.clone())).await;
    let error = call_frame(&mut ws).await;
    assert_eq!((&error["type"], &error["payload"]["code"]), (&json!("error"), &json!("invalid_argument")), "{error}");
    assert_violation(&error["payload"]["details"][0], "name", "string.pattern", "WebSocket");

    let sse =
        http(addr, &format!("GET /sse/bookstore.v1.Bookstore/WatchShelf?name=nope HTTP/1.1\r\n{EVENTS}"), b"").await;
    assert_eq!(sse.status, 400, "{}", sse.text());
    assert_violation(&sse.json()["details"][0], "name", "string.pattern", "SSE");

    let query = http(
        addr,
        &format!("GET /trpc/bookstore.listShelves?input={} HTTP/1.1", q(&json!({page: 5000}).to_string())),
        b"",
    )
    .await;
    assert_eq!(query.status, 400, "{}", query.text());
    assert_eq!(query.json()["error"]["data"]["code"], "BAD_REQUEST", "{}", query.text());
    assert_violation(&query.json()["error"]["data"]["details"][0], "page_size", range, "tRPC");

    let graphql = http(addr, GRAPHQL, &graphql_post("{ listShelves(pageSize: 5000) { nextPageToken } }")).await.json();
    let error = &graphql["errors"][0]["extensions"];
    assert_eq!(error["code"], "INVALID_ARGUMENT", "GraphQL: {graphql}");
    assert_violation(&error["details"][0], "page_size", range, "GraphQL");

    let mut client = grpc(addr).await;
    let status = client
        .list_shelves(v1::ListShelvesRequest { page_size: 5000, ..Default::default() })
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status}");
    let violations = apigen_runtime::validate::violations(&status);
    assert_eq!(violations.len(), 1, "gRPC: {status}");
    assert_eq!(violations[0].rule_id.as_deref(), Some(range), "gRPC: {violations:?}");

    // The typed JSON clients read the detail back, as the gRPC client does.
    let too_many = v1::ListShelvesRequest { page_size: 5000, ..Default::default() };
    let rest = v1::BookstoreRestClient::new(format!("http://{addr}"));
    let status = rest.list_shelves(too_many.clone()).await.expect_err("refused");
    assert_eq!(
        apigen_runtime::validate::violations(&status)[0].rule_id.as_deref(),
        Some(range),
        "REST client: {status}"
    );
    let connect = v1::BookstoreConnectClient::new(format!("http://{addr}"));
    let status = connect.list_shelves(too_many).await.expect_err("refused");
    assert_eq!(
        apigen_runtime::validate::violations(&status)[0].rule_id.as_deref(),
        Some(range),
        "Connect client: {status}"
    );

    // Each message of a client stream is checked: the second book's title is too long.
    let parent = shelf(&mut client).await;
    let book = |title: &str| v1::ImportBooksRequest {
        parent: parent.clone(),
        book: Some(v1::Book { title: title.into(), ..Default::default() }),
    };
    let requests = apigen_runtime::futures::stream::iter([book("Fine"), book(&"x".repeat(301))]);
    let status = client.import_books(requests).await.expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status}");
    let violations = apigen_runtime::validate::violations(&status);
    assert_eq!(violations[0].rule_id.as_deref(), Some("string.max_len"), "client stream: {violations:?}");
    let path: Vec<_> =
        violations[0].field.iter().flat_map(|f| &f.elements).filter_map(|e| e.field_name.clone()).collect();
    assert_eq!(path, ["book", "title"], "client stream: {violations:?}");
}

/// A custom (CEL) rule of the schema, `MoveBookRequest`'s cross-field rule,
/// fails a request on each protocol with protovalidate's id and message, and
/// lets a valid request through.
#[tokio::test]
async fn custom_cel_rules_reach_every_protocol() {
    let addr = start(bookstore()).await;
    let mut client = grpc(addr).await;
    let (here, there) = (shelf(&mut client).await, shelf(&mut client).await);
    let book = v1::Book { title: "Moving".into(), ..Default::default() };
    let book =
        client.create_book(v1::CreateBookRequest { parent: here.clone(), book: Some(book) }).await.expect("a book");
    let (id, message) = ("move_book.other_shelf", "the book is already on that shelf");

    let status = client
        .move_book(v1::MoveBookRequest { name: book.name.clone(), other_shelf: here.clone() })
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status}");
    let violations = apigen_runtime::validate::violations(&status);
    assert_eq!(violations.len(), 1, "gRPC: {violations:?}");
    assert_eq!(
        (violations[0].rule_id.as_deref(), violations[0].message.as_deref()),
        (Some(id), Some(message)),
        "gRPC: {violations:?}"
    );
    // A message rule names no field and no rule path, as protovalidate's do.
    assert!(violations[0].field.is_none() && violations[0].rule.is_none(), "gRPC: {violations:?}");

    let body = json!({"otherShelf": here}).to_string();
    let rest =
        http(addr, &format!("POST /v1/{}:move HTTP/1.1\r\ncontent-type: application/json", book.name), body.as_bytes())
            .await;
    assert_eq!(rest.status, 400, "{}", rest.text());
    assert_eq!(rest.json()["details"][0]["violations"][0]["ruleId"], id, "REST: {}", rest.text());

    let query = format!(r#"mutation {{ moveBook(name: "{}", otherShelf: "{here}") {{ name }} }}"#, book.name);
    let graphql = http(addr, GRAPHQL, &graphql_post(&query)).await.json();
    let error = &graphql["errors"][0]["extensions"];
    assert_eq!(error["code"], "INVALID_ARGUMENT", "GraphQL: {graphql}");
    assert_eq!(error["details"][0]["violations"][0]["message"], message, "GraphQL: {graphql}");

    let moved = client
        .move_book(v1::MoveBookRequest { name: book.name.clone(), other_shelf: there.clone() })
        .await
        .expect("a move to another shelf passes the rule");
    assert!(moved.name.starts_with(&format!("{there}/")), "{moved:?}");
}
