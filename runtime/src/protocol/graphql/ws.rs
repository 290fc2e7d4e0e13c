//! GraphQL over WebSocket at `/graphql/ws`: async-graphql runs the
//! protocol, and this loop between it and the socket enforces what
//! graphql-transport-ws requires of the connection that async-graphql
//! answers with its own close codes: 4400 for a malformed message, 4401 for
//! a subscribe before `connection_ack`, 4409 for a live id used again, 4403
//! when `connection_init` is refused, 4408 when it does not come in time.
//! It bounds what one socket may hold, as `/ws` does: at most
//! [`SocketLimits::max_subscriptions`] at once (4429 beyond), and a client
//! that stops reading is dropped once a frame to it has waited
//! [`SocketLimits::stall_timeout`], so it cannot hold the idle and shutdown
//! timers off. It also closes with 1001 when the server shuts down, after
//! the subscriptions have sent their last error, pings the client at
//! WebSocket level (every client answers those) and closes with 1001 a
//! socket the client has gone quiet on.
//!
//! `connection_init`'s payload fills in metadata by the credentials rule of
//! `core::auth` (every string field; headers win), and the result goes
//! through the server's authenticator.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use async_graphql::http::{WebSocketProtocols, WsMessage};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::StreamExt;
use serde_json::Value;

use super::Caller;
use crate::core::pipeline::{Pipeline, peer};

/// What one `/graphql/ws` socket may hold and how long it may wait; the
/// server takes them from its WebSocket settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SocketLimits {
    /// How long a client has to send `connection_init`; then 4408.
    pub(crate) init_timeout: Duration,
    /// Subscriptions one socket may run at once; one more closes it with 4429.
    pub(crate) max_subscriptions: usize,
    /// How long a frame to the client may wait for it to read; then the socket is dropped.
    pub(crate) stall_timeout: Duration,
    /// How often the client is pinged (`None`: never).
    pub(crate) keep_alive: Option<Duration>,
    /// How long the client may stay silent before 1001 (`None`: forever).
    pub(crate) idle_timeout: Option<Duration>,
    /// The read buffer a socket starts with.
    pub(crate) read_buffer: usize,
}

/// How long subscriptions have to send their last messages at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// The connection as this loop tracks it (graphql-transport-ws only).
struct Connection {
    acked: bool,
    live: HashSet<String>,
    max_subscriptions: usize,
}

impl Connection {
    /// A client frame's close code when it breaks the protocol.
    fn check(&mut self, text: &str) -> Option<(u16, String)> {
        let Ok(Value::Object(message)) = serde_json::from_str::<Value>(text) else {
            return Some((4400, "Invalid message received: not a JSON object".to_owned()));
        };
        let id = message.get("id").and_then(Value::as_str);
        match message.get("type").and_then(Value::as_str) {
            Some("connection_init" | "ping" | "pong") => None,
            Some("subscribe") => {
                let Some(id) = id else {
                    return Some((4400, "Invalid message received: subscribe without an id".into()));
                };
                if !self.acked {
                    return Some((4401, "Unauthorized".to_owned()));
                }
                if !self.live.insert(id.to_owned()) {
                    return Some((4409, format!("Subscriber for {id} already exists")));
                }
                if self.live.len() > self.max_subscriptions {
                    let max = self.max_subscriptions;
                    return Some((4429, format!("Too many subscriptions: at most {max} at once")));
                }
                None
            }
            Some("complete") => {
                if let Some(id) = id {
                    self.live.remove(id);
                }
                None
            }
            Some(other) => Some((4400, format!("Invalid message received: unknown type {other:?}"))),
            None => Some((4400, "Invalid message received: no type".to_owned())),
        }
    }

    /// Notes what a server message means for the connection.
    fn sent(&mut self, text: &str) {
        let Ok(message) = serde_json::from_str::<Value>(text) else { return };
        match message.get("type").and_then(Value::as_str) {
            Some("connection_ack") => self.acked = true,
            Some("complete" | "error") => {
                if let Some(id) = message.get("id").and_then(Value::as_str) {
                    self.live.remove(id);
                }
            }
            _ => {}
        }
    }
}

/// Sends a close frame, unless the client has stopped reading.
async fn close(socket: &mut WebSocket, code: u16, reason: String) {
    let frame = Message::Close(Some(CloseFrame { code, reason: crate::core::wire::truncate(&reason).into() }));
    let _ = tokio::time::timeout(CLOSE_GRACE, socket.send(frame)).await;
}

/// How long a close frame may wait for a client that does not read.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Serves one upgraded socket: async-graphql's protocol with the credentials
/// of `connection_init` merged into the upgrade's metadata.
pub(crate) async fn serve(
    socket: WebSocket,
    schema: async_graphql::dynamic::Schema,
    pipeline: Arc<Pipeline>,
    upgrade: http::request::Parts,
    limits: SocketLimits,
) {
    let _open = pipeline.metrics().socket("graphql-ws");
    // The subprotocol the upgrade chose; graphql-transport-ws when none was offered.
    let protocol = socket
        .protocol()
        .and_then(|p| p.to_str().ok())
        .and_then(|p| p.parse().ok())
        .unwrap_or(WebSocketProtocols::GraphQLWS);
    // The close code for a refused connection_init, once the authenticator has said why.
    let refused = Arc::new(AtomicU16::new(0));
    let flag = Arc::clone(&refused);
    let shutdown = pipeline.shutdown();
    let peer = peer(&upgrade.extensions);
    let headers = upgrade.headers;
    // The connection's relation batches, sealed by the stream that resolves its events.
    let loaders = super::relations::Loaders::default();
    let sealer = loaders.clone();
    let build = move |frames| {
        let socket = async_graphql::http::WebSocket::new(schema, frames, protocol).on_connection_init(
            move |payload: Value| async move {
                // Browsers cannot set headers on a WebSocket: credentials come in the payload.
                let mut metadata = headers;
                if let Value::Object(payload) = &payload {
                    crate::core::auth::fill_in(&mut metadata, payload);
                }
                match pipeline.authenticate(&metadata).await {
                    Ok(identity) => {
                        let mut data = async_graphql::Data::default();
                        data.insert(Caller { headers: metadata, peer, identity });
                        // Per connection: its operations share its caller.
                        data.insert(loaders);
                        Ok(data)
                    }
                    Err(status) => {
                        // graphql-transport-ws says 4403 Forbidden for refused credentials.
                        flag.store(crate::core::wire::ws_refusal(&status, 4403), Ordering::SeqCst);
                        Err(async_graphql::Error::new(status.message().to_owned()))
                    }
                }
            },
        );
        super::relations::Batched::new(sealer, socket)
    };
    run(socket, protocol, build, refused, shutdown, limits).await;
}

/// Sends `message` unless the client has stopped reading for `stall`.
async fn send(socket: &mut WebSocket, message: Message, stall: Duration) -> bool {
    matches!(tokio::time::timeout(stall, socket.send(message)).await, Ok(Ok(())))
}

/// The loop between the socket and async-graphql's protocol stream, which
/// `build` makes from the client's frames; `refused` holds the close code
/// of a refused `connection_init` (0 until then).
async fn run<S>(
    mut socket: WebSocket,
    protocol: WebSocketProtocols,
    build: impl FnOnce(futures_util::stream::BoxStream<'static, Vec<u8>>) -> S,
    refused: Arc<AtomicU16>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    config: SocketLimits,
) where
    S: futures_util::Stream<Item = WsMessage>,
{
    let strict = protocol == WebSocketProtocols::GraphQLWS;
    let (to_graphql, frames) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    let frames = futures_util::stream::unfold(frames, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) });
    let server = build(frames.boxed());
    let mut server = std::pin::pin!(server);
    let mut connection = Connection { acked: false, live: HashSet::new(), max_subscriptions: config.max_subscriptions };
    let mut closing: Option<tokio::time::Instant> = None;
    let period = config.keep_alive.unwrap_or(Duration::MAX).max(Duration::from_millis(1));
    let first = tokio::time::Instant::now().checked_add(period).unwrap_or_else(tokio::time::Instant::now);
    let mut keep_alive = tokio::time::interval_at(first, period);
    let idle = tokio::time::sleep(config.idle_timeout.unwrap_or(Duration::MAX));
    tokio::pin!(idle);
    let init = tokio::time::sleep(config.init_timeout);
    tokio::pin!(init);
    let stall = config.stall_timeout;
    loop {
        let grace = async {
            match closing {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            frame = socket.recv() => {
                if let Some(at) = config.idle_timeout.and_then(|quiet| tokio::time::Instant::now().checked_add(quiet)) {
                    idle.as_mut().reset(at);
                }
                let text = match frame {
                    Some(Ok(Message::Text(text))) => text.to_string(),
                    Some(Ok(Message::Binary(_))) if strict => {
                        close(&mut socket, 4400, "Invalid message received: binary frame".to_owned()).await;
                        return;
                    }
                    Some(Ok(Message::Binary(bytes))) => String::from_utf8_lossy(&bytes).into_owned(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                };
                if strict && let Some((code, reason)) = connection.check(&text) {
                    close(&mut socket, code, reason).await;
                    return;
                }
                if to_graphql.send(text.into_bytes()).await.is_err() {
                    return;
                }
            }
            message = server.next() => match message {
                Some(WsMessage::Text(text)) => {
                    connection.sent(&text);
                    if !send(&mut socket, Message::Text(text.into()), stall).await {
                        return;
                    }
                }
                Some(WsMessage::Close(code, reason)) => {
                    // async-graphql refuses connection_init with 1002; the protocol says 4403.
                    let refusal = refused.load(Ordering::SeqCst);
                    let code = if code == 1002 && refusal != 0 { refusal } else { code };
                    close(&mut socket, code, reason).await;
                    return;
                }
                None => {
                    close(&mut socket, 1000, String::new()).await;
                    return;
                }
            },
            Ok(()) = shutdown.changed(), if closing.is_none() => {
                if *shutdown.borrow() {
                    closing = Some(tokio::time::Instant::now() + SHUTDOWN_GRACE);
                }
            }
            _ = keep_alive.tick(), if config.keep_alive.is_some() => {
                if !send(&mut socket, Message::Ping(Default::default()), stall).await {
                    return;
                }
            }
            () = &mut init, if !connection.acked => {
                close(&mut socket, 4408, "Connection initialisation timeout".to_owned()).await;
                return;
            }
            () = &mut idle, if config.idle_timeout.is_some() => {
                let quiet = config.idle_timeout.unwrap_or_default().as_secs();
                close(&mut socket, 1001, format!("no frame from the client for {quiet} s")).await;
                return;
            }
            () = grace => {
                close(&mut socket, 1001, "the server is shutting down".to_owned()).await;
                return;
            }
        }
    }
}
