//! Not API, for `cargo fuzz`: entry points that run the real parsing code of
//! the protocol adapters on arbitrary input. The fuzz targets live in `fuzz/`
//! at the repository root (see `fuzz/README.md`). Nothing here is stable, and
//! nothing here may panic, whatever the input: a panic is a bug found.

use std::cell::RefCell;

use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use http::{HeaderMap, HeaderValue};
use prost_reflect::MessageDescriptor;
use serde_json::{Map, Value};

use crate::core::call::Payload;
use crate::core::compression::Encoding;
use crate::core::http_rule::HttpRule;
use crate::{Context, Protocol, Status};

thread_local! {
    static RUNTIME: RefCell<Option<tokio::runtime::Runtime>> = const { RefCell::new(None) };
}

/// Runs `future` on this thread's current-thread runtime (made once).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    RUNTIME.with(|cell| {
        let mut cell = cell.borrow_mut();
        let runtime = cell.get_or_insert_with(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("the fuzzing harness cannot start a tokio runtime: {e}"))
        });
        runtime.block_on(future)
    })
}

/// REST: `path` matched against every rule, most specific first (as the
/// router orders them), and for each match the request object that the
/// query string and the path values make, typed by the rule's request
/// message when it has one.
pub fn rest(
    rules: &[(&'static HttpRule, Option<MessageDescriptor>)],
    path: &str,
    query: &str,
) -> Vec<(&'static str, Result<Value, Status>)> {
    let mut rules: Vec<&(&'static HttpRule, Option<MessageDescriptor>)> = rules.iter().collect();
    rules.sort_by_key(|(rule, _)| std::cmp::Reverse(crate::core::http_rule::specificity(rule)));
    rules
        .into_iter()
        .filter_map(|(rule, input)| {
            let vars = crate::core::http_rule::match_path(rule, path)?;
            let mut object = Map::new();
            let result = crate::core::transcode::path_and_query(&mut object, rule, input.as_ref(), &vars, query)
                .map(|()| Value::Object(object));
            Some((rule.template, result))
        })
        .collect()
}

/// What one Connect request body or GET query decodes to.
#[derive(Debug)]
pub struct ConnectRequest {
    /// The sizes of the envelopes' messages (after decompression), or why not.
    pub envelopes: Result<Vec<usize>, Status>,
    /// A GET request's message size and whether it is protobuf, or why not.
    pub get: Result<(bool, usize), Status>,
}

fn payload_len(payload: &Payload) -> usize {
    match payload {
        Payload::Proto(b) | Payload::Json(b) => b.len(),
        Payload::Message(_) => 0,
    }
}

/// Connect, server side: a streaming call's body split into envelopes
/// (`Connect-Content-Encoding` named by `encoding`, which may be anything),
/// and a unary GET request's query (`message`, `base64`, `compression`),
/// with `limit` as the message size limit.
pub fn connect_server(body: &[u8], encoding: &str, get_query: &str, limit: usize) -> ConnectRequest {
    let envelopes = Encoding::from_name(encoding)
        .and_then(|encoding| {
            crate::protocol::connect::connect_payloads(Bytes::copy_from_slice(body), encoding, true, limit)
        })
        .map(|payloads| payloads.iter().map(payload_len).collect());
    let get =
        crate::protocol::connect::connect_get(get_query, limit).map(|(proto, payload)| (proto, payload_len(&payload)));
    ConnectRequest { envelopes, get }
}

/// How the Connect client's reading of a server stream ended.
#[derive(Debug)]
pub struct ConnectStream {
    /// The messages, decoded as `google.protobuf.Struct`, in order.
    pub messages: Vec<crate::wkt::Struct>,
    /// `None` for a clean end-of-stream message, else the error it yields.
    pub end: Option<Status>,
}

/// Connect, client side: a server stream's body arriving in `chunks`, read
/// with the client's incremental envelope reader (`gzip`: the response's
/// `Connect-Content-Encoding`), as the typed client does.
pub fn connect_client<'a>(chunks: impl IntoIterator<Item = &'a [u8]>, gzip: bool) -> ConnectStream {
    use crate::client::connect::{envelope_message, next_envelope};
    let encoding = if gzip { Encoding::Gzip } else { Encoding::Identity };
    let path = "/fuzz.v1.Fuzz/Stream";
    let mut buffer = BytesMut::new();
    let mut messages = Vec::new();
    for chunk in chunks {
        buffer.extend_from_slice(chunk);
        loop {
            match next_envelope(&mut buffer, path) {
                None => break,
                Some(Err(status)) => return ConnectStream { messages, end: Some(status) },
                Some(Ok((flags, data))) => match envelope_message(flags, data, encoding, path) {
                    None => return ConnectStream { messages, end: None },
                    Some(Err(status)) => return ConnectStream { messages, end: Some(status) },
                    Some(Ok(message)) => messages.push(message),
                },
            }
        }
    }
    let end = Status::internal(format!("{path}: the stream ended without an end-of-stream message"));
    ConnectStream { messages, end: Some(end) }
}

/// Connect, client side: the `Status` of an HTTP error response.
pub fn connect_error(http: u16, body: &[u8]) -> Status {
    crate::client::connect::http_error(http, body)
}

/// What one `apigen.v1` client frame makes the server do.
#[derive(Debug)]
pub enum WsOutcome {
    /// `connection_init`: the calls' metadata, the payload merged into
    /// the upgrade request's headers.
    Init(HeaderMap),
    /// A frame the server answers (the `error` frame for an unknown method,
    /// `pong`) or forwards (a `next` payload, as the request's JSON).
    Frame(String),
    /// A frame that changes no state here (`complete`, `cancel`, `pong`).
    Nothing,
    /// A malformed frame: the close reason (at most 123 bytes) of 4400.
    Close(String),
}

/// WebSocket `apigen.v1`: one text frame parsed as the server parses it,
/// and what the server makes of it without a method to call.
pub fn ws_frame(text: &str, upgrade_headers: HeaderMap) -> WsOutcome {
    use crate::protocol::ws::ClientFrame;
    match crate::protocol::ws::parse(text) {
        Err(reason) => WsOutcome::Close(crate::protocol::ws::truncate(&reason)),
        Ok(ClientFrame::Init(payload)) => {
            let mut metadata = upgrade_headers;
            crate::core::auth::fill_in(&mut metadata, &payload);
            WsOutcome::Init(metadata)
        }
        Ok(ClientFrame::Subscribe { id, method, payload, .. }) => {
            let path = method.strip_prefix('/').unwrap_or(&method);
            let status = Status::unimplemented(format!("no method {path}; name it `package.Service/Method`"));
            let request = payload.map(crate::protocol::ws::json_payload).map_or(0, |p| payload_len(&p));
            WsOutcome::Frame(format!("{request} {}", crate::protocol::ws::error_frame(&id, &status)))
        }
        Ok(ClientFrame::Next { id, payload }) => {
            let request = crate::protocol::ws::json_payload(payload);
            WsOutcome::Frame(format!("{id} {}", payload_len(&request)))
        }
        Ok(ClientFrame::Ping) => WsOutcome::Frame(r#"{"type":"pong"}"#.to_owned()),
        Ok(ClientFrame::Complete { .. } | ClientFrame::Cancel { .. } | ClientFrame::Pong) => WsOutcome::Nothing,
    }
}

/// What an SSE reconnect with a cursor gets.
#[derive(Debug)]
pub enum SseResume {
    /// The client saw the `end` event: 204, no call.
    NoContent,
    /// The call failed before the stream started (a cursor that is not a
    /// sequence number, or one the topic does not keep).
    Refused(Status),
    /// The stream resumed after `after`: the SSE body written so far
    /// (`retry:`, then `id:`/`data:` events).
    Events { after: Option<u64>, body: String },
}

/// SSE resume: a `Last-Event-ID` header (when `header` is a valid header
/// value) and/or `?lastEventId=` in `query`, read as the server reads them,
/// then as a fan-out method reads its cursor (a sequence number, as the
/// chat example does), subscribing to `topic` of an in-process
/// [`Topics`](crate::fanout::Topics) that has published `published`
/// messages and keeps the newest `history`; then one more message is
/// published live, and the SSE body is read as far as it is ready.
pub fn sse_resume(header: Option<&[u8]>, query: &str, topic: &str, published: u8, history: u8) -> SseResume {
    let mut headers = HeaderMap::new();
    if let Some(value) = header.and_then(|h| HeaderValue::from_bytes(h).ok()) {
        headers.insert("last-event-id", value);
    }
    if let Err(status) = crate::protocol::sse::cursor_from_query(&mut headers, Some(query)) {
        return SseResume::Refused(status);
    }
    let ctx = Context::new(Protocol::Sse).with_metadata(headers);
    if ctx.last_event_id() == Some(crate::core::wire::SSE_END_ID) {
        return SseResume::NoContent;
    }
    block_on(async move {
        let after = match ctx.last_event_id().map(|id| {
            id.parse::<u64>()
                .map_err(|_| Status::invalid_argument(format!("Last-Event-ID `{id}` is not a message sequence number")))
        }) {
            None => None,
            Some(Ok(after)) => Some(after),
            Some(Err(status)) => return SseResume::Refused(status),
        };
        fn stamp(m: &mut crate::wkt::Timestamp, n: u64) {
            m.seconds = i64::try_from(n).unwrap_or(i64::MAX);
        }
        let topics = crate::fanout::Topics::in_process(usize::from(history), stamp);
        for _ in 0..published {
            if let Err(status) = topics.publish(topic, crate::wkt::Timestamp::default()).await {
                return SseResume::Refused(status);
            }
        }
        let stream = match topics.subscribe(topic, after).await {
            Ok(stream) => stream,
            Err(status) => return SseResume::Refused(status),
        };
        if let Err(status) = topics.publish(topic, crate::wkt::Timestamp::default()).await {
            return SseResume::Refused(status);
        }
        let (_stop, shutdown) = tokio::sync::watch::channel(false);
        let crate::core::call::Output::Stream(stream) = crate::core::call::erase(stream) else {
            return SseResume::Refused(Status::internal("a stream became one message"));
        };
        let response = crate::protocol::sse::events(stream, shutdown, &ctx, None);
        let mut body = response.into_body();
        let mut text = String::new();
        // The stream stays open for live messages: read what is ready, then stop.
        while let Some(Some(Ok(frame))) = http_body_util::BodyExt::frame(&mut body).now_or_never() {
            if let Some(data) = frame.data_ref() {
                text.push_str(&String::from_utf8_lossy(data));
            }
        }
        SseResume::Events { after, body: text }
    })
}
