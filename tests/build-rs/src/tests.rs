use apigen_runtime::__private::{Call, Output, Payload, Requests};
use apigen_runtime::futures::StreamExt;
use apigen_runtime::{Code, Context, RequestStream, ResponseStream, Result, Status};

use crate::edge::common::v1::Ref;
use crate::edge::v1::{self, Node, Scalars, WellKnown};

struct Impl;

impl v1::Type for Impl {
    async fn r#match(&self, _ctx: Context, request: v1::Option) -> Result<v1::Result> {
        Ok(v1::Result { r#match: Some(request), nested: vec![] })
    }

    async fn r#loop(&self, _ctx: Context, mut requests: RequestStream<Node>) -> Result<ResponseStream<Node>> {
        let (tx, out) = ResponseStream::channel(4);
        tokio::spawn(async move {
            while let Some(node) = requests.next().await {
                let reply = node.map(|n| Node { name: format!("echo {}", n.name), ..n });
                if tx.send(reply).await.is_err() {
                    break;
                }
            }
        });
        Ok(out)
    }

    async fn ping(&self, _ctx: Context, request: apigen_runtime::wkt::Empty) -> Result<apigen_runtime::wkt::Empty> {
        Ok(request)
    }
}

impl v1::Streams for Impl {
    async fn count(&self, _ctx: Context, request: Scalars) -> Result<ResponseStream<Scalars>> {
        if request.f_int32 < 0 {
            return Err(Status::invalid_argument("f_int32 must not be negative"));
        }
        Ok((0..request.f_int32).map(|i| Scalars { f_int32: i, ..Default::default() }).collect())
    }

    async fn sum(&self, _ctx: Context, mut requests: RequestStream<Scalars>) -> Result<Scalars> {
        let mut total = 0;
        while let Some(item) = requests.next().await {
            total += item?.f_int64;
        }
        Ok(Scalars { f_int64: total, ..Default::default() })
    }

    async fn share(&self, ctx: Context, request: Ref) -> Result<Ref> {
        let target = ctx.metadata_str("x-target").unwrap_or(&request.target).to_owned();
        ctx.insert_response_metadata(
            apigen_runtime::http::HeaderName::from_static("x-served-by"),
            apigen_runtime::http::HeaderValue::from_static("edge"),
        );
        // Version 1 says the caller's deadline arrived.
        let version = if ctx.deadline().is_some() { Some(1) } else { request.version };
        Ok(Ref { target, version })
    }

    async fn known(&self, _ctx: Context, request: WellKnown) -> Result<WellKnown> {
        Ok(request)
    }
}

impl v1::Idle for Impl {}

fn single(payload: Payload) -> Call {
    Call { ctx: Context::default(), input: Requests::Single(payload), json: Default::default() }
}

fn json(value: serde_json::Value) -> Payload {
    Payload::Json(value.to_string().into_bytes().into())
}

async fn one(output: Output) -> serde_json::Value {
    match output {
        Output::Single(m) => m.to_json_value().expect("encodes"),
        Output::Stream(_) => panic!("expected one message"),
    }
}

async fn all(output: Output) -> Vec<serde_json::Value> {
    match output {
        Output::Stream(s) => s.map(|m| m.expect("no error").to_json_value().expect("encodes")).collect().await,
        Output::Single(_) => panic!("expected a stream"),
    }
}

#[tokio::test]
async fn unary_methods_answer_json_and_protobuf() {
    let service = v1::streams_service(Impl);
    let share = service.info().method_index("Share").expect("Share exists");
    let out = service.call(share, single(json(serde_json::json!({"target": "t", "version": 0})))).await.expect("ok");
    assert_eq!(one(out).await, serde_json::json!({"target": "t", "version": 0}));

    use apigen_runtime::prost::Message;
    let bytes = Ref { target: "bin".into(), version: Some(3) }.encode_to_vec();
    let out = service.call(share, single(Payload::Proto(bytes.into()))).await.expect("ok");
    match out {
        Output::Single(m) => assert_eq!(Ref::decode(m.encode_proto().as_slice()).expect("decodes").version, Some(3)),
        Output::Stream(_) => panic!("unary"),
    }
}

#[tokio::test]
async fn context_reaches_the_method() {
    let service = v1::streams_service(Impl);
    let mut headers = apigen_runtime::http::HeaderMap::new();
    headers.insert("x-target", "from-metadata".parse().expect("valid header"));
    let ctx = Context::default().with_metadata(headers);
    let reply: Ref = service.call_unary("Share", ctx, Ref::default()).await.expect("ok");
    assert_eq!(reply.target, "from-metadata");
}

#[tokio::test]
async fn keyword_named_service_and_methods_work() {
    let service = v1::type_service(Impl);
    assert_eq!(service.info().name, "edge.v1.Type");
    let request = v1::Option { r#type: "t".into(), self_: true, r#async: 1, r#fn: "f".into() };
    let reply: v1::Result = service.call_unary("Match", Context::default(), request.clone()).await.expect("ok");
    assert_eq!(reply.r#match, Some(request));
    assert!(service.info().methods[2].no_side_effects, "Ping has NO_SIDE_EFFECTS");
}

#[tokio::test]
async fn server_streaming_streams_and_fails_with_status() {
    let service = v1::streams_service(Impl);
    let count = service.info().method_index("Count").expect("Count exists");
    let out = service.call(count, single(json(serde_json::json!({"fInt32": 3})))).await.expect("ok");
    assert_eq!(
        all(out).await,
        vec![serde_json::json!({}), serde_json::json!({"fInt32": 1}), serde_json::json!({"fInt32": 2})]
    );
    let err = service.call(count, single(json(serde_json::json!({"fInt32": -1})))).await.err().expect("fails");
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn client_streaming_reads_every_request() {
    let service = v1::streams_service(Impl);
    let sum = service.info().method_index("Sum").expect("Sum exists");
    let items = ["1", "2", "40"].map(|n| Ok(json(serde_json::json!({"fInt64": n}))));
    let input = Requests::Stream(apigen_runtime::futures::stream::iter(items).boxed());
    let out = service.call(sum, Call { ctx: Context::default(), input, json: Default::default() }).await.expect("ok");
    assert_eq!(one(out).await, serde_json::json!({"fInt64": "43"}));
}

#[tokio::test]
async fn bidi_streaming_answers_each_request() {
    let service = v1::type_service(Impl);
    let method = service.info().method_index("Loop").expect("Loop exists");
    let items = ["a", "b"].map(|n| Ok(json(serde_json::json!({"name": n}))));
    let input = Requests::Stream(apigen_runtime::futures::stream::iter(items).boxed());
    let out =
        service.call(method, Call { ctx: Context::default(), input, json: Default::default() }).await.expect("ok");
    assert_eq!(all(out).await, vec![serde_json::json!({"name": "echo a"}), serde_json::json!({"name": "echo b"})]);
}

#[tokio::test]
async fn bad_input_is_invalid_argument_naming_the_problem() {
    let service = v1::streams_service(Impl);
    let share = service.info().method_index("Share").expect("Share exists");
    for (body, needle) in [
        (serde_json::json!({"target": 5}), "invalid type"),
        (serde_json::json!({"nope": 1}), "unknown field `nope`"),
        (serde_json::json!({"version": "x"}), "version"),
    ] {
        let err = service.call(share, single(json(body.clone()))).await.err().expect("rejected");
        assert_eq!(err.code(), Code::InvalidArgument, "{body}");
        assert!(err.message().contains(needle), "{body}: {}", err.message());
    }
    let err = service.call(share, single(Payload::Proto(vec![0xff, 0xff].into()))).await.err().expect("rejected");
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = service.call(99, single(json(serde_json::json!({})))).await.err().expect("no such method");
    assert_eq!(err.code(), Code::Unimplemented);
    let idle = v1::idle_service(Impl);
    assert!(idle.info().methods.is_empty());
}

#[test]
fn well_known_types_use_their_json_forms() {
    let json = serde_json::json!({
        "duration": "1.500s",
        "mask": "a.b,c",
        "struct": {"k": [1, "two", null, true]},
        "value": "v",
        "list": [1],
        "time": "2024-01-02T03:04:05Z",
        "b": false,
        "by": "AAE=",
        "s": "str",
        "u32": 7,
        "empty": {}
    });
    let wk: WellKnown = serde_json::from_value(json.clone()).expect("valid");
    assert_eq!(wk.duration.as_ref().map(|d| (d.seconds, d.nanos)), Some((1, 500_000_000)));
    assert_eq!(wk.mask.as_ref().map(|m| m.paths.clone()), Some(vec!["a.b".to_owned(), "c".to_owned()]));
    assert_eq!(wk.s.as_ref().map(|s| s.value.as_str()), Some("str"));
    assert_eq!(wk.b.as_ref().map(|b| b.value), Some(false), "a wrapper holding false is still set");
    assert_eq!(serde_json::to_value(&wk).expect("serializes"), json);
}

#[test]
fn int64_is_a_string_out_and_either_in_and_enums_are_names() {
    let s: Scalars = serde_json::from_value(serde_json::json!({
        "fInt64": 5, "f_uint64": "18446744073709551615", "rInt64": ["1", 2],
        "byInt64": {"-3": {"name": "n", "color": "COLOR_RED"}}, "byString": {"x": 1}
    }))
    .expect("numbers and strings are both accepted, proto names too");
    assert_eq!(s.f_uint64, u64::MAX);
    assert_eq!(s.r_int64, vec![1, 2]);
    let out = serde_json::to_value(&s).expect("serializes");
    assert_eq!(out["fInt64"], "5");
    assert_eq!(out["byString"]["x"], "COLOR_RED");
    assert_eq!(out["byInt64"]["-3"]["color"], "COLOR_RED");
}

#[test]
fn proto2_defaults_and_required_fields_are_kept() {
    let legacy = v1::Legacy::default();
    assert_eq!(legacy.count(), 7, "the proto2 default");
    let json = serde_json::to_value(v1::Legacy { id: "x".into(), ..Default::default() }).expect("serializes");
    assert_eq!(json, serde_json::json!({"id": "x"}));
}

/// The build script asked cargo to rerun when any file it read changes: the
/// named files and their imports, but no directories and no built-in files.
#[test]
fn build_script_reruns_for_every_file_it_read() {
    let output = std::fs::read_to_string(concat!(env!("OUT_DIR"), "/../output")).expect("build script output");
    let mut watched: Vec<&str> = output.lines().filter_map(|l| l.strip_prefix("cargo:rerun-if-changed=")).collect();
    watched.sort();
    assert_eq!(
        watched,
        ["proto/edge/common/v1/common.proto", "proto/edge/v1/edge.proto", "proto/edge/v1/legacy.proto"]
    );
}

impl v1::Shadows for Impl {
    async fn connect(&self, _ctx: Context, _request: v1::Into) -> Result<v1::Send> {
        Ok(v1::Send { x: "connect".into() })
    }

    async fn raw(&self, _ctx: Context, _request: v1::Into) -> Result<v1::Send> {
        Ok(v1::Send { x: "raw".into() })
    }

    async fn new(&self, _ctx: Context, _request: v1::Into) -> Result<v1::Send> {
        Ok(v1::Send { x: "new".into() })
    }

    async fn from_json(&self, _ctx: Context, _request: v1::Into) -> Result<v1::Send> {
        Ok(v1::Send { x: "from_json".into() })
    }

    async fn into_bytes(&self, _ctx: Context, _request: v1::Into) -> Result<v1::Send> {
        Ok(v1::Send { x: "into_bytes".into() })
    }

    async fn forget(&self, _ctx: Context, _request: v1::Into) -> Result<apigen_runtime::wkt::Empty> {
        Ok(apigen_runtime::wkt::Empty {})
    }

    async fn hidden(&self, _ctx: Context, _request: v1::Into) -> Result<v1::Send> {
        Ok(v1::Send { x: "hidden".into() })
    }

    async fn r#use(&self, _ctx: Context, request: v1::Into) -> Result<v1::Send> {
        // Echo what reached the method, to show what was cleared.
        Ok(v1::Send { x: request.d.map(|d| d.x).unwrap_or_default() })
    }
}

#[tokio::test]
async fn required_fields_are_checked_and_output_only_fields_cleared() {
    let service = v1::shadows_service(Impl);
    let err = service
        .call_unary::<_, v1::Send>(
            "Use",
            Context::default(),
            v1::Into { s: Some(v1::Some { x: String::new() }), d: None },
        )
        .await
        .expect_err("s.x is required");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(err.message(), "missing required field `s.x`");
    assert!(service.call(0, single(json(serde_json::json!({})))).await.is_ok(), "only fields inside `s` are required");
    let request = serde_json::json!({"s": {"x": "here"}, "d": {"x": "sent by a client"}});
    let reply = one(service.call(0, single(json(request))).await.expect("valid")).await;
    assert_eq!(reply, serde_json::json!({}), "the OUTPUT_ONLY field never reached the method");
}

/// Sends `Share` as one raw gRPC-Web call; returns the raw HTTP response.
async fn share_over_the_wire(server: apigen_runtime::Server, extra_headers: &str) -> Vec<u8> {
    grpc_web_call(server, "/edge.v1.Streams/Share", extra_headers).await
}

/// One raw gRPC-Web call of `path` with a `Ref{target:"body"}` message.
async fn grpc_web_call(server: apigen_runtime::Server, path: &str, extra_headers: &str) -> Vec<u8> {
    use apigen_runtime::prost::Message;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(server.serve(listener, std::future::pending()));
    let message = Ref { target: "body".into(), version: None }.encode_to_vec();
    let mut body = vec![0u8];
    body.extend_from_slice(&u32::try_from(message.len()).expect("small").to_be_bytes());
    body.extend_from_slice(&message);
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/grpc-web+proto\r\n{extra_headers}content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connects");
    stream.write_all(head.as_bytes()).await.expect("writes");
    stream.write_all(&body).await.expect("writes");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("reads");
    response
}

fn contains_message(response: &[u8], expected: &Ref) -> bool {
    use apigen_runtime::prost::Message;
    let expected = expected.encode_to_vec();
    response.windows(expected.len()).any(|w| w == expected.as_slice())
}

/// Metadata and deadlines cross the wire: request metadata and
/// `grpc-timeout` reach the method through `Context`, and response metadata
/// the method sets comes back as headers.
#[tokio::test]
async fn metadata_and_deadlines_cross_the_wire() {
    let server = apigen_runtime::Server::builder().add_service(v1::streams_service(Impl));
    let response = share_over_the_wire(server.clone(), "x-target: from-metadata\r\ngrpc-timeout: 5S\r\n").await;
    let text = String::from_utf8_lossy(&response).to_ascii_lowercase();
    assert!(text.contains("x-served-by: edge"), "{text}");
    assert!(text.contains("grpc-status:0"), "{text}");
    // Version 1: the method saw a deadline.
    assert!(contains_message(&response, &Ref { target: "from-metadata".into(), version: Some(1) }), "{text}");

    let response = share_over_the_wire(server, "").await;
    assert!(
        contains_message(&response, &Ref { target: "body".into(), version: None }),
        "no deadline without grpc-timeout"
    );
    let server = apigen_runtime::Server::builder()
        .add_service(v1::streams_service(Impl))
        .default_timeout(std::time::Duration::from_secs(30));
    let response = share_over_the_wire(server, "").await;
    assert!(
        contains_message(&response, &Ref { target: "body".into(), version: Some(1) }),
        "the server's default deadline"
    );
}

#[tokio::test]
async fn excluded_protocols_do_not_serve_the_method() {
    let server = apigen_runtime::Server::builder().add_service(v1::shadows_service(Impl));
    let hidden = grpc_web_call(server.clone(), "/edge.v1.Shadows/Hidden", "").await;
    let text = String::from_utf8_lossy(&hidden);
    assert!(text.contains("grpc-status: 12") || text.contains("grpc-status:12"), "{text}");
    let direct: v1::Send = v1::shadows_service(Impl)
        .call_unary("Hidden", Context::default(), v1::Into::default())
        .await
        .expect("served in process");
    assert_eq!(direct.x, "hidden");
}

/// One raw HTTP/1.1 request; the response as text.
async fn http_call(server: apigen_runtime::Server, head: &str, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(server.serve(listener, std::future::pending()));
    let request =
        format!("{head}\r\nhost: {addr}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connects");
    stream.write_all(request.as_bytes()).await.expect("writes");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("reads");
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn success_status_options_set_the_rest_status() {
    let server = apigen_runtime::Server::builder().add_service(v1::shadows_service(Impl));
    let created =
        http_call(server.clone(), "POST /v1/uses HTTP/1.1\r\ncontent-type: application/json", r#"{"s":{"x":"y"}}"#)
            .await;
    assert!(created.starts_with("HTTP/1.1 201"), "{created}");
    let forgotten = http_call(server, "DELETE /v1/uses/y HTTP/1.1", "").await;
    assert!(forgotten.starts_with("HTTP/1.1 204"), "{forgotten}");
    assert!(forgotten.ends_with("\r\n\r\n"), "204 has no body: {forgotten}");
}

#[test]
fn the_openapi_document_shows_the_success_statuses() {
    let doc: serde_json::Value = serde_json::from_str(crate::OPENAPI_JSON).expect("valid JSON");
    let uses = &doc["paths"]["/v1/uses"]["post"]["responses"];
    assert!(uses.get("201").is_some() && uses.get("200").is_none(), "{uses}");
    let forget = &doc["paths"]["/v1/uses/{s.x}"]["delete"]["responses"]["204"];
    assert!(forget.get("content").is_none(), "204 documents no body: {forget}");
}

#[tokio::test]
async fn a_service_option_tightens_the_graphql_depth_limit() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = apigen_runtime::Server::builder().add_service(v1::type_service(Impl));
    tokio::spawn(server.serve(listener, std::future::pending()));
    let client = v1::TypeGraphqlClient::new(format!("http://{addr}"));
    let shallow = client.raw(r#"query { match(type: "t") { match { type } } }"#, serde_json::json!({})).await;
    assert_eq!(shallow.expect("depth 3 is allowed"), serde_json::json!({"match": {"match": {"type": "t"}}}));
    let deep = client.raw(r#"query { match(type: "t") { nested { match { type } } } }"#, serde_json::json!({})).await;
    assert!(deep.expect_err("depth 4 is refused").message().contains("too deep"));
}

#[tokio::test]
async fn graphql_calls_get_the_server_default_deadline() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = apigen_runtime::Server::builder()
        .add_service(v1::streams_service(Impl))
        .default_timeout(std::time::Duration::from_secs(30));
    tokio::spawn(server.serve(listener, std::future::pending()));
    // Share answers version 1 when its Context has a deadline.
    let client = v1::StreamsGraphqlClient::new(format!("http://{addr}"));
    let reply = client.share(Ref { target: "t".into(), version: None }).await.expect("shared");
    assert_eq!(reply.version, Some(1));
}

#[tokio::test]
async fn connect_timeout_ms_becomes_the_deadline() {
    let server = apigen_runtime::Server::builder().add_service(v1::streams_service(Impl));
    let head = "POST /edge.v1.Streams/Share HTTP/1.1\r\ncontent-type: application/json";
    let without = http_call(server.clone(), head, r#"{"target":"t"}"#).await;
    assert!(without.ends_with(r#"{"target":"t"}"#), "no deadline: {without}");
    let with = http_call(server, &format!("{head}\r\nconnect-timeout-ms: 5000"), r#"{"target":"t"}"#).await;
    assert!(with.ends_with(r#"{"target":"t","version":1}"#), "a deadline: {with}");

    // The typed Connect client sends its timeout the same way.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = apigen_runtime::Server::builder().add_service(v1::streams_service(Impl));
    tokio::spawn(server.serve(listener, std::future::pending()));
    let client = v1::StreamsConnectClient::new(format!("http://{addr}"));
    let request = Ref { target: "t".into(), version: None };
    assert_eq!(client.share(request.clone()).await.expect("shared").version, None);
    let client = client.with_timeout(std::time::Duration::from_secs(5));
    assert_eq!(client.share(request).await.expect("shared").version, Some(1));
}

/// Connect envelopes: flags, big-endian length, data.
fn envelopes(messages: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in messages {
        out.push(0);
        out.extend_from_slice(&u32::try_from(m.len()).expect("small").to_be_bytes());
        out.extend_from_slice(m.as_bytes());
    }
    out
}

/// The (flags, text) of each envelope in a response body.
fn read_envelopes(mut body: &[u8]) -> Vec<(u8, String)> {
    let mut out = Vec::new();
    while body.len() >= 5 {
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        out.push((body[0], String::from_utf8_lossy(&body[5..5 + len]).into_owned()));
        body = &body[5 + len..];
    }
    out
}

async fn connect_stream_call(path: &str, messages: &[&str]) -> (String, Vec<(u8, String)>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = apigen_runtime::Server::builder().add_service(v1::streams_service(Impl));
    tokio::spawn(server.serve(listener, std::future::pending()));
    let body = envelopes(messages);
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/connect+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connects");
    stream.write_all(head.as_bytes()).await.expect("writes");
    stream.write_all(&body).await.expect("writes");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("reads");
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").expect("headers");
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    // The body is chunked: collect the chunks' data.
    let mut rest = &response[split + 4..];
    let mut data = Vec::new();
    while let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).expect("hex"), 16).expect("a chunk size");
        if size == 0 {
            break;
        }
        data.extend_from_slice(&rest[line_end + 2..line_end + 2 + size]);
        rest = &rest[line_end + 2 + size + 2..];
    }
    (head, read_envelopes(&data))
}

#[tokio::test]
async fn connect_streams_use_envelopes_and_an_end_of_stream_message() {
    let (head, frames) = connect_stream_call("/edge.v1.Streams/Count", &[r#"{"fInt32": 3}"#]).await;
    assert!(head.starts_with("http/1.1 200") && head.contains("application/connect+json"), "{head}");
    assert_eq!(
        frames,
        [
            (0, "{}".to_owned()),
            (0, r#"{"fInt32":1}"#.to_owned()),
            (0, r#"{"fInt32":2}"#.to_owned()),
            (2, "{}".to_owned())
        ]
    );

    let (head, frames) = connect_stream_call("/edge.v1.Streams/Count", &[r#"{"fInt32": -1}"#]).await;
    assert!(head.starts_with("http/1.1 200"), "errors travel in the end-of-stream message: {head}");
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].0, 2);
    assert!(frames[0].1.contains(r#""code":"invalid_argument""#), "{:?}", frames[0]);

    let sum = ["1", "2", "40"].map(|n| format!(r#"{{"fInt64": "{n}"}}"#));
    let (_, frames) =
        connect_stream_call("/edge.v1.Streams/Sum", &sum.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(frames, [(0, r#"{"fInt64":"43"}"#.to_owned()), (2, "{}".to_owned())]);
}

#[tokio::test]
async fn rpcs_named_like_client_functions_get_an_rpc_suffix_there() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(
        apigen_runtime::Server::builder()
            .add_service(v1::shadows_service(Impl))
            .serve(listener, std::future::pending()),
    );
    let rest = v1::ShadowsRestClient::new(format!("http://{addr}"));
    assert_eq!(rest.new_rpc(v1::Into::default()).await.expect("called").x, "new");
    // A method without a binding: the REST client calls its default binding.
    assert_eq!(rest.connect(v1::Into::default()).await.expect("called").x, "connect");
    let graphql = v1::ShadowsGraphqlClient::new(format!("http://{addr}"));
    assert_eq!(graphql.raw_rpc(v1::Into::default()).await.expect("called").x, "raw");
    let mut grpc = v1::ShadowsClient::connect(format!("http://{addr}")).await.expect("connects");
    assert_eq!(grpc.connect_rpc(v1::Into::default()).await.expect("called").x, "connect");
    let connect = v1::ShadowsConnectClient::new(format!("http://{addr}"));
    assert_eq!(connect.new_rpc(v1::Into::default()).await.expect("called").x, "new");
    assert_eq!(connect.connect(v1::Into::default()).await.expect("called").x, "connect");
}
