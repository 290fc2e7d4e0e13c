//! GraphQL over WebSocket at `/graphql/ws`: async-graphql runs the
//! protocol, and this loop between it and the socket enforces what
//! graphql-transport-ws requires of the connection that async-graphql
//! answers with its own close codes: 4400 for a malformed message, 4401 for
//! a subscribe before `connection_ack`, 4409 for a live id used again, 4403
//! when `connection_init` is refused. It also closes with 1001 when the
//! server shuts down, after the subscriptions have sent their last error,
//! pings the client at WebSocket level (every client answers those) and
//! closes with 1001 a socket the client has gone quiet on.

use std::collections::HashSet;
use std::time::Duration;

use async_graphql::http::{WebSocketProtocols, WsMessage};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::StreamExt;
use serde_json::Value;

/// How long subscriptions have to send their last messages at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// The connection as this loop tracks it (graphql-transport-ws only).
#[derive(Default)]
struct Connection {
    acked: bool,
    live: HashSet<String>,
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

async fn close(socket: &mut WebSocket, code: u16, reason: String) {
    let _ = socket.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
}

/// Serves one socket. `build` makes async-graphql's protocol stream from
/// the client's frames; `refused` tells whether `connection_init` failed.
pub(crate) async fn serve<S>(
    mut socket: WebSocket,
    protocol: WebSocketProtocols,
    build: impl FnOnce(futures_util::stream::BoxStream<'static, Vec<u8>>) -> S,
    refused: std::sync::Arc<std::sync::atomic::AtomicBool>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    config: crate::ws::Config,
) where
    S: futures_util::Stream<Item = WsMessage>,
{
    let strict = protocol == WebSocketProtocols::GraphQLWS;
    let (to_graphql, frames) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    let frames = futures_util::stream::unfold(frames, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) });
    let server = build(frames.boxed());
    let mut server = std::pin::pin!(server);
    let mut connection = Connection::default();
    let mut closing: Option<tokio::time::Instant> = None;
    let period = config.keep_alive.unwrap_or(Duration::MAX).max(Duration::from_millis(1));
    let first = tokio::time::Instant::now().checked_add(period).unwrap_or_else(tokio::time::Instant::now);
    let mut keep_alive = tokio::time::interval_at(first, period);
    let idle = tokio::time::sleep(config.idle_timeout.unwrap_or(Duration::MAX));
    tokio::pin!(idle);
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
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                Some(WsMessage::Close(code, reason)) => {
                    // async-graphql refuses connection_init with 1002; the protocol says 4403.
                    let code = if code == 1002 && refused.load(std::sync::atomic::Ordering::SeqCst) { 4403 } else { code };
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
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
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
