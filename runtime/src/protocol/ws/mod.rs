//! WebSocket at `GET /ws` with the `apigen.v1` subprotocol (DESIGN.md): JSON
//! text frames, every method kind, many calls multiplexed on one socket.
//!
//! A connection starts with `connection_init`, whose payload's string values
//! fill in the calls' metadata by the credentials rule of `core::auth` (the
//! upgrade request's headers win) and go through the server's authenticator
//! (close 4401 when it refuses the credentials, 1013 when it could not
//! decide; 4408 when `connection_init` does not come within
//! [`Config::init_timeout`]). Then each
//! `subscribe` runs one call in its own task; per-call errors are `error`
//! frames and never close the socket. Close codes: 4400 malformed frame
//! (not JSON, not an object, unknown `type`, missing `id`/`method`/`payload`,
//! a binary frame, anything but `connection_init`/`ping`/`pong` before the
//! ack, a second `connection_init`), 4401, 4408, 4409 (an `id` that is
//! still running), 4429 (more than [`Config::max_calls`] calls at once, or
//! ten calls in a row refused by the rate limits: each of those is an
//! `error` frame with `RESOURCE_EXHAUSTED` and its retry delay),
//! 1009 (a frame over the server's `max_message_size`: read whole and
//! refused up to twice that, refused at its header beyond), 1001 (shutdown).
//!
//! Memory per socket is bounded, so a slow client cannot grow the server:
//! - Responses: a call writes each frame to the socket itself when nothing
//!   of its own is queued and nobody else is writing (`writer.rs`); else the
//!   frame waits in the call's queue of [`Config::call_buffer`] messages for
//!   the task that writes the socket. A call whose frame cannot go out, or
//!   whose queue stays full, for [`Config::stall_timeout`] (the client is not
//!   reading) fails with `RESOURCE_EXHAUSTED` and its method is cancelled;
//!   the socket stays open and the `error` frame is delivered once the client
//!   reads what came before it (one slot per call is reserved for it). Queues stay
//!   until the client has read them, finished calls' too: past twice
//!   `max_calls` of them, a `subscribe` waits up to `stall_timeout`, then 4429.
//! - Requests of client-streaming and bidi calls: each call has a queue of
//!   `call_buffer` messages. When it is full, reading the socket waits (for
//!   every call) up to `stall_timeout` for the method to take one; then that
//!   call fails with `RESOURCE_EXHAUSTED` and the socket reads on.
//! - A response over `max_message_size` (the pipeline's rule, by protobuf
//!   size) fails its call with `RESOURCE_EXHAUSTED`.
//!
//! `cancel` drops the call's method (no more frames for that id); closing
//! the socket cancels every call. On server shutdown, streaming calls end
//! with `unavailable`, unary calls in flight finish, new calls get
//! `unavailable`, and then the socket closes with 1001.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

mod call;
mod frames;
mod writer;

use axum::extract::FromRequestParts;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures_util::stream::SplitStream;
use futures_util::{SinkExt, StreamExt};
use http::HeaderMap;
use serde_json::{Map, Value};
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio::task::{AbortHandle, JoinSet};
use writer::{CallState, Control, Queued, Sink};

use crate::core::call::{Payload, Requests};
use crate::core::pipeline::{Pipeline, peer};
pub(crate) use crate::core::wire::truncate;
use crate::core::wire::{WS_SUBPROTOCOL as SUBPROTOCOL, http_error, ws_close as close, ws_refusal};
use crate::{Identity, MethodKind, Protocol, Status};
use frames::push_json_string;
pub(crate) use frames::{ClientFrame, error_frame, json_payload, parse};

/// Limits of one WebSocket connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// How long a client has to send `connection_init` (default 10 s); then 4408.
    pub init_timeout: Duration,
    /// Calls one socket may run at once (default 100); one more closes it with 4429.
    pub max_calls: usize,
    /// Messages that may wait per call in each direction (default 32).
    pub call_buffer: usize,
    /// How long a call waits for room in a full queue before it fails with
    /// `RESOURCE_EXHAUSTED` (default 5 s).
    pub stall_timeout: Duration,
    /// How often the server sends `{"type":"ping"}`, which keeps proxies from
    /// closing quiet sockets (default 30 s; `None`: never).
    pub keep_alive: Option<Duration>,
    /// How long a socket may go without a frame from the client, pongs
    /// included, before it is closed with 1001: a client that vanished
    /// (default 75 s, two unanswered pings; `None`: never). Also applies to
    /// `/graphql/ws`, which is pinged at WebSocket level.
    pub idle_timeout: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            init_timeout: Duration::from_secs(10),
            max_calls: 100,
            call_buffer: 32,
            stall_timeout: Duration::from_secs(5),
            keep_alive: Some(Duration::from_secs(30)),
            idle_timeout: Some(Duration::from_secs(75)),
        }
    }
}

/// The read buffer a socket starts with; larger frames grow it. tungstenite's
/// 128 KiB default made every idle socket cost that much.
pub(crate) const READ_BUFFER: usize = 4 * 1024;

/// Calls refused by the rate limits in a row after which a socket is
/// closed with 4429: its client ignores the retry advice.
const RATE_REFUSALS: u32 = 10;

/// How long closing may take: the close frame out, the client's reply in.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Frames the connection itself sends (acks, pongs, closes) that may wait
/// for the writer; more make the reader wait.
const CONTROL_BUFFER: usize = 16;

/// Serves `/ws`: the call pipeline and the socket settings.
pub(crate) struct WsRouter {
    pipeline: Arc<Pipeline>,
    config: Config,
}

impl WsRouter {
    pub(crate) fn new(pipeline: Arc<Pipeline>, config: Config) -> Arc<WsRouter> {
        Arc::new(WsRouter { pipeline, config })
    }

    /// The `/ws` route: GET upgrades over HTTP/1.1, CONNECT over HTTP/2 (RFC 8441).
    pub(crate) fn route(self: Arc<Self>) -> axum::routing::MethodRouter {
        axum::routing::any(move |req: axum::extract::Request| {
            let router = Arc::clone(&self);
            async move { router.upgrade(req).await }
        })
    }

    async fn upgrade(self: Arc<Self>, req: axum::extract::Request) -> Response {
        let (mut parts, _body) = req.into_parts();
        let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
            Ok(upgrade) => upgrade,
            Err(rejection) => return rejection.into_response(),
        };
        let offered = parts
            .headers
            .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|p| p.trim() == SUBPROTOCOL);
        if !offered {
            let status = Status::invalid_argument(format!(
                "/ws speaks the {SUBPROTOCOL} subprotocol: offer it with `Sec-WebSocket-Protocol: {SUBPROTOCOL}`"
            ));
            return http_error(&status);
        }
        if self.pipeline.stopping() {
            return http_error(&Status::unavailable("the server is shutting down"));
        }
        let peer = peer(&parts.extensions);
        let headers = parts.headers;
        let limit = read_limit(self.pipeline.max_message_size());
        upgrade
            .protocols([SUBPROTOCOL])
            .max_message_size(limit)
            .max_frame_size(limit)
            .read_buffer_size(READ_BUFFER)
            .on_upgrade(move |socket| self.serve(socket, headers, peer))
    }

    /// Runs one connection: a reader (frames in, calls started) and a writer
    /// (every frame out), until both are done.
    async fn serve(self: Arc<Self>, socket: WebSocket, headers: HeaderMap, peer: Option<SocketAddr>) {
        let _open = self.pipeline.metrics().socket("websocket");
        let (sink, stream) = socket.split();
        let sink: Sink = Arc::new(tokio::sync::Mutex::new(sink));
        let (control, control_rx) = mpsc::channel(CONTROL_BUFFER);
        // The writer is a task of its own: a response it writes then wakes only the writer,
        // not the reader too (which would poll the socket for frames each time).
        let mut writer = tokio::spawn(writer::write(Arc::clone(&sink), control_rx));
        let reader = self.read(stream, control, sink, headers, peer);
        tokio::pin!(reader);
        // Whichever ends first, the other gets a moment to finish the close handshake.
        tokio::select! {
            () = &mut reader => {
                if tokio::time::timeout(CLOSE_GRACE, &mut writer).await.is_err() {
                    writer.abort();
                }
            }
            _ = &mut writer => { let _ = tokio::time::timeout(CLOSE_GRACE, &mut reader).await; }
        }
    }

    async fn read(
        &self,
        mut stream: SplitStream<WebSocket>,
        control: mpsc::Sender<Control>,
        sink: Sink,
        headers: HeaderMap,
        peer: Option<SocketAddr>,
    ) {
        let end = Session { router: self, control: &control, sink: &sink, peer }.run(&mut stream, headers).await;
        // Sockets closed for their input or a limit count as refusals, like calls.
        let refused = match &end {
            End::Close(close::MALFORMED | close::DUPLICATE_ID, _) => Some("bad_input"),
            End::Close(close::TOO_BIG | close::TOO_MANY_CALLS, _) | End::MidFrame(_) => Some("limits"),
            _ => None,
        };
        if let Some(reason) = refused {
            self.pipeline.metrics().rejected(reason);
        }
        match end {
            End::Close(code, reason) => {
                tracing::debug!("closing a WebSocket with {code}: {reason}");
                let drain = code == close::GOING_AWAY;
                if control.send(Control::Close { code, reason: truncate(&reason), drain }).await.is_err() {
                    return;
                }
                // Wait for the client's reply, as the closing handshake asks.
                let _ = tokio::time::timeout(CLOSE_GRACE, async {
                    while let Some(Ok(message)) = stream.next().await {
                        if matches!(message, Message::Close(_)) {
                            break;
                        }
                    }
                })
                .await;
            }
            End::MidFrame(reason) => {
                tracing::debug!("closing a WebSocket with 1009: {reason}");
                let (code, reason) = (close::TOO_BIG, truncate(&reason));
                if control.send(Control::Close { code, reason, drain: false }).await.is_err() {
                    return;
                }
                // The reader stopped at a frame header and cannot skip the rest. Closing
                // with those bytes unread resets the connection, which can destroy the
                // close frame in flight: give the client a moment to read it first.
                tokio::time::sleep(CLOSE_GRACE / 2).await;
            }
            End::PeerClosed => {
                let _ = control.send(Control::Flush).await;
            }
            End::Gone => {}
        }
    }
}

/// Why a connection ends.
enum End {
    Close(u16, String),
    /// 1009 from the WebSocket layer, which has stopped reading mid-frame.
    MidFrame(String),
    PeerClosed,
    Gone,
}

impl End {
    fn malformed(why: impl Into<String>) -> End {
        End::Close(close::MALFORMED, why.into())
    }
}

struct ActiveCall {
    serial: u64,
    state: Arc<CallState>,
    /// Request messages for client-streaming and bidi calls, until `complete`.
    input: Option<mpsc::Sender<Result<Payload, Status>>>,
    /// Ends the call with a status (a request it cannot take).
    stop: Option<oneshot::Sender<Status>>,
    abort: AbortHandle,
}

impl ActiveCall {
    fn fail(&mut self, status: Status) {
        self.input = None;
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(status);
        }
    }
}

/// One connection's reader side.
struct Session<'a> {
    router: &'a WsRouter,
    control: &'a mpsc::Sender<Control>,
    sink: &'a Sink,
    peer: Option<SocketAddr>,
}

/// A frame as the session reads it: shape errors become the close to send.
async fn next_frame(stream: &mut SplitStream<WebSocket>, max: usize) -> Result<ClientFrame, End> {
    let message = match stream.next().await {
        None => return Err(End::Gone),
        Some(Ok(message)) => message,
        Some(Err(e)) => return Err(read_error(e, max)),
    };
    let size = match &message {
        Message::Text(text) => text.len(),
        Message::Binary(data) => data.len(),
        _ => 0,
    };
    if size > max {
        return Err(End::Close(close::TOO_BIG, format!("a frame of {size} bytes is over the {max}-byte limit")));
    }
    match message {
        Message::Text(text) => parse(text.as_str()).map_err(End::malformed),
        Message::Binary(_) => Err(End::malformed(format!("{SUBPROTOCOL} takes JSON text frames, not binary"))),
        Message::Close(_) => Err(End::PeerClosed),
        // tungstenite answers WebSocket-level pings; they still show the client is there.
        Message::Ping(_) | Message::Pong(_) => Ok(ClientFrame::Pong),
    }
}

/// What the WebSocket layer reads: twice the limit. A frame up to that is
/// read whole and refused with 1009 and a clean close; a larger one is
/// refused at its header, without reading (or buffering) the rest.
fn read_limit(max: usize) -> usize {
    max.saturating_mul(2)
}

/// 1009 for a frame over the read limit; any other error means the socket is gone.
fn read_error(error: axum::Error, max: usize) -> End {
    use tokio_tungstenite::tungstenite::error::{CapacityError, Error};
    match error.into_inner().downcast::<Error>() {
        Ok(e) if matches!(*e, Error::Capacity(CapacityError::MessageTooLong { .. })) => {
            End::MidFrame(format!("a frame is larger than {max} bytes"))
        }
        // RFC 6455 §7.4.1: 1007 for a text frame that is not UTF-8.
        Ok(e) if matches!(*e, Error::Utf8(_)) => End::Close(1007, "a text frame is not valid UTF-8".to_owned()),
        _ => End::Gone,
    }
}

impl Session<'_> {
    async fn send(&self, text: String) -> Result<(), End> {
        self.control.send(Control::Frame(text)).await.map_err(|_| End::Gone)
    }

    async fn run(self, stream: &mut SplitStream<WebSocket>, headers: HeaderMap) -> End {
        let (metadata, identity) = match self.init(stream, headers).await {
            Ok(done) => done,
            Err(end) => return end,
        };
        match self.calls(stream, metadata, identity).await {
            Ok(()) => End::Gone,
            Err(end) => end,
        }
    }

    /// Waits for `connection_init`, authenticates it and acknowledges it.
    async fn init(
        &self,
        stream: &mut SplitStream<WebSocket>,
        mut metadata: HeaderMap,
    ) -> Result<(HeaderMap, Option<Identity>), End> {
        let router = self.router;
        let mut shutdown = router.pipeline.shutdown();
        let deadline = tokio::time::sleep(router.config.init_timeout);
        tokio::pin!(deadline);
        let payload = loop {
            let frame = tokio::select! {
                () = &mut deadline => {
                    let waited = router.config.init_timeout.as_millis();
                    return Err(End::Close(close::INIT_TIMEOUT, format!("no connection_init within {waited} ms")));
                }
                true = stopping(&mut shutdown) => {
                    return Err(End::Close(close::GOING_AWAY, "the server is shutting down".into()));
                }
                frame = next_frame(stream, router.pipeline.max_message_size()) => frame?,
            };
            match frame {
                ClientFrame::Init(payload) => break payload,
                ClientFrame::Ping => self.send(r#"{"type":"pong"}"#.into()).await?,
                ClientFrame::Pong => {}
                _ => return Err(End::malformed("send connection_init (and wait for connection_ack) first")),
            }
        };
        // Browsers cannot set headers on a WebSocket: credentials come in the payload.
        crate::core::auth::fill_in(&mut metadata, &payload);
        let identity = match router.pipeline.authenticate(&metadata).await {
            Ok(identity) => identity,
            Err(status) => {
                return Err(End::Close(ws_refusal(&status, close::UNAUTHENTICATED), status.message().to_owned()));
            }
        };
        // Straight to the socket, not through the writer: the calls write their own frames, and
        // none may reach the client before the ack.
        let ack = async {
            let mut socket = self.sink.lock().await;
            socket.send(Message::Text(r#"{"type":"connection_ack"}"#.into())).await
        };
        match tokio::time::timeout(router.config.stall_timeout, ack).await {
            Ok(Ok(())) => Ok((metadata, identity)),
            _ => Err(End::Gone),
        }
    }

    /// Reads frames after the ack and runs the calls they start, until the socket ends.
    async fn calls(
        &self,
        stream: &mut SplitStream<WebSocket>,
        metadata: HeaderMap,
        identity: Option<Identity>,
    ) -> Result<(), End> {
        let router = self.router;
        let config = router.config;
        let mut calls: HashMap<String, ActiveCall> = HashMap::new();
        // Dropping the set (when this returns) cancels every call.
        let mut tasks: JoinSet<(String, u64)> = JoinSet::new();
        // Queues whose frames the client has not read yet, finished calls' too.
        let queues = Arc::new(Semaphore::new(config.max_calls.saturating_mul(2).max(1)));
        let mut serial: u64 = 0;
        let mut refused_in_a_row = 0;
        let mut shutdown = router.pipeline.shutdown();
        let mut closing = false;
        let period = config.keep_alive.unwrap_or(Duration::MAX);
        let mut keep_alive = tokio::time::interval_at(
            tokio::time::Instant::now().checked_add(period).unwrap_or_else(tokio::time::Instant::now),
            period.max(Duration::from_millis(1)),
        );
        let idle = tokio::time::sleep(config.idle_timeout.unwrap_or(Duration::MAX));
        tokio::pin!(idle);
        loop {
            if closing && tasks.is_empty() {
                return Err(End::Close(close::GOING_AWAY, "the server is shutting down".into()));
            }
            let frame = tokio::select! {
                Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Ok((id, finished)) = joined
                        && calls.get(&id).is_some_and(|c| c.serial == finished)
                    {
                        calls.remove(&id);
                    }
                    continue;
                }
                true = stopping(&mut shutdown), if !closing => {
                    closing = true;
                    continue;
                }
                _ = keep_alive.tick(), if config.keep_alive.is_some() => {
                    self.send(r#"{"type":"ping"}"#.into()).await?;
                    continue;
                }
                () = &mut idle, if config.idle_timeout.is_some() => {
                    let quiet = config.idle_timeout.unwrap_or_default().as_secs();
                    return Err(End::Close(close::GOING_AWAY, format!("no frame from the client for {quiet} s")));
                }
                frame = next_frame(stream, router.pipeline.max_message_size()) => frame?,
            };
            if let Some(at) = config.idle_timeout.and_then(|quiet| tokio::time::Instant::now().checked_add(quiet)) {
                idle.as_mut().reset(at);
            }
            match frame {
                ClientFrame::Subscribe { id, method, payload, last_event_id } => {
                    if calls.get(&id).is_some_and(|c| !c.state.done.load(Ordering::SeqCst)) {
                        return Err(End::Close(
                            close::DUPLICATE_ID,
                            format!("the id `{id}` belongs to a running call"),
                        ));
                    }
                    if closing {
                        let status = Status::unavailable("the server is shutting down; reconnect to continue");
                        self.send(error_frame(&id, &status)).await?;
                        continue;
                    }
                    let running = calls.values().filter(|c| !c.state.done.load(Ordering::SeqCst)).count();
                    if running >= config.max_calls {
                        let max = config.max_calls;
                        return Err(End::Close(close::TOO_MANY_CALLS, format!("at most {max} calls may run at once")));
                    }
                    let path = method.strip_prefix('/').unwrap_or(&method);
                    let Some(method) = router.pipeline.method(path, Protocol::WebSocket) else {
                        let status = Status::unimplemented(format!(
                            "no method {path} is served over WebSocket; name it `package.Service/Method`"
                        ));
                        self.send(error_frame(&id, &status)).await?;
                        continue;
                    };
                    let info = method.info();
                    let mut call_metadata = metadata.clone();
                    if let Some(last) = &last_event_id
                        && let Err(status) = crate::core::stream::resume_after(&mut call_metadata, last)
                    {
                        self.send(error_frame(&id, &status)).await?;
                        continue;
                    }
                    let ctx =
                        router.pipeline.context(Protocol::WebSocket, call_metadata, self.peer, identity.clone(), None);
                    // Over the rate limit: this call fails; a client that keeps calling regardless is closed.
                    if let Err(status) = router.pipeline.throttle(method, &ctx).await {
                        refused_in_a_row += 1;
                        if refused_in_a_row >= RATE_REFUSALS {
                            let why =
                                format!("{refused_in_a_row} calls in a row over the rate limit: {}", status.message());
                            return Err(End::Close(close::TOO_MANY_CALLS, why));
                        }
                        self.send(error_frame(&id, &status)).await?;
                        continue;
                    }
                    refused_in_a_row = 0;
                    // The client has not read what finished calls queued: wait a little, then refuse.
                    let permit =
                        match tokio::time::timeout(config.stall_timeout, Arc::clone(&queues).acquire_owned()).await {
                            Ok(Ok(permit)) => permit,
                            _ => {
                                let why = "too many calls whose responses the client has not read";
                                return Err(End::Close(close::TOO_MANY_CALLS, why.into()));
                            }
                        };
                    let buffer = config.call_buffer.max(1);
                    let state = Arc::new(CallState::default());
                    // One extra slot: the call's last frame always fits.
                    let (out, rx) = mpsc::channel::<Queued>(buffer + 1);
                    let queue = {
                        let mut rx = rx;
                        futures_util::stream::poll_fn(move |cx| {
                            let _held = &permit;
                            rx.poll_recv(cx)
                        })
                        .filter_map(|frame: Queued| {
                            // A cancelled call's frames are dropped, unsent.
                            let cancelled = frame.call.cancelled.load(Ordering::SeqCst);
                            if cancelled {
                                frame.call.queued.fetch_sub(1, Ordering::SeqCst);
                            }
                            std::future::ready((!cancelled).then_some(frame))
                        })
                        .boxed()
                    };
                    self.control.send(Control::Queue(queue)).await.map_err(|_| End::Gone)?;
                    let (input, sender) = match info.kind {
                        MethodKind::Unary | MethodKind::ServerStreaming => {
                            // No payload is the empty request.
                            (Requests::Single(json_payload(payload.unwrap_or_else(|| Value::Object(Map::new())))), None)
                        }
                        MethodKind::ClientStreaming | MethodKind::BidiStreaming => {
                            let (tx, mut rx) = mpsc::channel(buffer);
                            // The subscribe's payload, when there is one, is the first request.
                            if let Some(first) = payload {
                                let _ = tx.try_send(Ok(json_payload(first)));
                            }
                            let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed();
                            (Requests::Stream(stream), Some(tx))
                        }
                    };
                    let (stop, stopped) = oneshot::channel();
                    serial += 1;
                    let mut frame_start = String::from(r#"{"type":"next","id":"#);
                    push_json_string(&mut frame_start, &id);
                    frame_start.push_str(r#","payload":"#);
                    let run = call::CallTask {
                        frame_start,
                        id: id.clone(),
                        serial,
                        pipeline: Arc::clone(&router.pipeline),
                        method: method.clone(),
                        streaming: info.kind != MethodKind::Unary,
                        resumable: info.kind == MethodKind::ServerStreaming,
                        cursor: info.cursor,
                        ctx,
                        state: Arc::clone(&state),
                        sink: Arc::clone(self.sink),
                        out,
                        stall: config.stall_timeout,
                    }
                    .run(input, stopped, router.pipeline.shutdown());
                    let abort = tasks.spawn(run);
                    calls.insert(id, ActiveCall { serial, state, input: sender, stop: Some(stop), abort });
                }
                ClientFrame::Next { id, payload } => {
                    let Some(call) = calls.get_mut(&id).filter(|c| !c.state.done.load(Ordering::SeqCst)) else {
                        // Unknown or just finished: the client could not know yet.
                        continue;
                    };
                    let Some(input) = &call.input else {
                        call.fail(Status::invalid_argument(format!(
                            "call `{id}` takes no more requests: its method takes one, or the client sent complete"
                        )));
                        continue;
                    };
                    let payload = Ok(json_payload(payload));
                    let full = match input.try_send(payload) {
                        Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => false,
                        Err(mpsc::error::TrySendError::Full(payload)) => {
                            let input = input.clone();
                            // The method reads slowly: reading the socket waits with it, a while.
                            tokio::time::timeout(config.stall_timeout, input.send(payload)).await.is_err()
                        }
                    };
                    if full {
                        let waited = config.stall_timeout.as_millis();
                        call.fail(Status::resource_exhausted(format!(
                            "the method took none of the {} request messages waiting for {waited} ms",
                            config.call_buffer.max(1)
                        )));
                    }
                }
                ClientFrame::Complete { id } => {
                    if let Some(call) = calls.get_mut(&id) {
                        call.input = None;
                    }
                }
                ClientFrame::Cancel { id } => {
                    if let Some(call) = calls.remove(&id) {
                        call.state.cancelled.store(true, Ordering::SeqCst);
                        call.state.done.store(true, Ordering::SeqCst);
                        call.abort.abort();
                    }
                }
                ClientFrame::Ping => self.send(r#"{"type":"pong"}"#.into()).await?,
                ClientFrame::Pong => {}
                ClientFrame::Init(_) => return Err(End::malformed("connection_init was already sent")),
            }
        }
    }
}

/// Resolves `true` once the server starts shutting down (never when it cannot).
async fn stopping(shutdown: &mut watch::Receiver<bool>) -> bool {
    shutdown.wait_for(|stop| *stop).await.is_ok()
}
