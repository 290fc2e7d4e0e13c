//! The task that owns a [`Client`](super::Client)'s socket across
//! reconnections: it writes what calls send (never a frame of a connection
//! that dropped), hands each frame it reads to its call, beats the heart,
//! and after a drop fails what cannot survive it and connects again.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};

use super::{ConnectionState, Credentials, Event, Options, Out, Reconnect, Shared, Socket};
use crate::Status;
use crate::core::wire::WS_SUBPROTOCOL as SUBPROTOCOL;

/// Opens `url` and waits for the acknowledgement of `connection_init`.
pub(super) async fn handshake(url: &str, credentials: &Credentials, ack_timeout: Duration) -> Result<Socket, Status> {
    let mut request = url
        .into_client_request()
        .map_err(|e| Status::invalid_argument(format!("{url} is not a WebSocket URL: {e}")))?;
    request.headers_mut().insert(http::header::SEC_WEBSOCKET_PROTOCOL, http::HeaderValue::from_static(SUBPROTOCOL));
    let payload = credentials().await?;
    let opened = async {
        let (mut socket, response) =
            tokio_tungstenite::connect_async_with_config(request, None, true).await.map_err(|e| refused(url, e))?;
        let chosen = response.headers().get(http::header::SEC_WEBSOCKET_PROTOCOL);
        if chosen.is_none_or(|p| p != SUBPROTOCOL) {
            return Err(Status::unimplemented(format!("{url} does not speak {SUBPROTOCOL}")));
        }
        let init = json!({"type": "connection_init", "payload": payload}).to_string();
        socket
            .send(Message::text(init))
            .await
            .map_err(|e| Status::unavailable(format!("cannot write to {url}: {e}")))?;
        acknowledged(&mut socket).await?;
        Ok(socket)
    };
    tokio::time::timeout(ack_timeout, opened).await.map_err(|_| {
        Status::unavailable(format!("{url} sent no connection_ack within {} ms", ack_timeout.as_millis()))
    })?
}

/// Why a connection ended.
enum Ended {
    /// Every client and call is gone, or the client closed it.
    Done(Status),
    /// The connection dropped: try again unless `last` says it cannot help.
    Dropped { status: Status, last: bool },
}

/// Closes after which reconnecting cannot help: refused credentials, or a
/// client the server found broken.
fn final_close(code: u16) -> bool {
    use crate::core::wire::ws_close;
    matches!(code, 1000 | 1002 | 1003 | 1007 | 1008 | 1009 | 1010 | ws_close::MALFORMED | ws_close::UNAUTHENTICATED)
        || code == ws_close::DUPLICATE_ID
}

/// The task that owns the socket, across reconnections.
pub(super) struct Connection {
    pub(super) urls: Vec<String>,
    pub(super) credentials: Credentials,
    pub(super) options: Options,
    pub(super) shared: Arc<Shared>,
    pub(super) rx: mpsc::Receiver<Out>,
}

impl Connection {
    pub(super) async fn run(mut self, mut socket: Socket) {
        loop {
            let (status, reconnect) = match self.serve(&mut socket).await {
                Ended::Done(status) => {
                    let _ = tokio::time::timeout(Duration::from_secs(2), socket.close(None)).await;
                    return self.finish(status);
                }
                Ended::Dropped { status, last } => (status, self.options.reconnect.filter(|_| !last)),
            };
            self.dropped(&status, reconnect.is_some());
            let Some(reconnect) = reconnect else { return self.finish(status) };
            match self.reconnect(reconnect, status).await {
                Some(again) => socket = again,
                None => return,
            }
        }
    }

    /// Serves one connection: frames out, frames in, heartbeats.
    async fn serve(&mut self, socket: &mut Socket) -> Ended {
        let period = self.options.heartbeat.unwrap_or(Duration::MAX);
        let mut beat = tokio::time::interval_at(
            Instant::now().checked_add(period / 2).unwrap_or_else(Instant::now),
            (period / 2).max(Duration::from_millis(10)),
        );
        let mut heard = Instant::now();
        let mut resubscribe: Option<Instant> = None;
        self.resubscribe(socket).await;
        loop {
            let resubscribe_at = async {
                match resubscribe {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                out = self.rx.recv() => {
                    let Some(out) = out else {
                        return Ended::Done(Status::unavailable("the client is gone"));
                    };
                    if out.generation.is_some_and(|g| g != self.shared.lock().generation) {
                        continue; // for a connection that dropped: its call has failed
                    }
                    if matches!(out.message, Message::Close(_)) {
                        return Ended::Done(Status::unavailable("the client closed the WebSocket"));
                    }
                    if let Err(e) = socket.send(out.message).await {
                        return Ended::Dropped { status: Status::unavailable(format!("the WebSocket failed: {e}")), last: false };
                    }
                }
                message = socket.next() => {
                    heard = Instant::now();
                    let text = match message {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Close(frame))) => {
                            let last = frame.as_ref().is_some_and(|f| final_close(u16::from(f.code)));
                            return Ended::Dropped { status: close_status(frame.as_ref()), last };
                        }
                        Some(Ok(_)) => continue,
                        Some(Err(e)) => {
                            return Ended::Dropped { status: Status::unavailable(format!("the WebSocket failed: {e}")), last: false };
                        }
                        None => return Ended::Dropped { status: Status::unavailable("the WebSocket closed"), last: false },
                    };
                    match self.route(text.as_str()) {
                        Routed::Nothing => {}
                        Routed::Pong => {
                            let _ = socket.send(Message::text(r#"{"type":"pong"}"#)).await;
                        }
                        Routed::Cancel(id) => {
                            let _ = socket.send(Message::text(json!({"type": "cancel", "id": id}).to_string())).await;
                        }
                        Routed::Resubscribe => {
                            let delay = self.options.reconnect.unwrap_or_default().initial_delay;
                            resubscribe = Some(Instant::now() + super::jitter(delay));
                        }
                    }
                }
                _ = beat.tick(), if self.options.heartbeat.is_some() => {
                    let quiet = heard.elapsed();
                    if quiet >= period.saturating_mul(2) {
                        let status = Status::unavailable(format!("no frame from the server in {} ms", quiet.as_millis()));
                        return Ended::Dropped { status, last: false };
                    }
                    if quiet >= period {
                        let _ = socket.send(Message::text(r#"{"type":"ping"}"#)).await;
                    }
                }
                () = resubscribe_at => {
                    resubscribe = None;
                    self.resubscribe(socket).await;
                }
            }
        }
    }

    /// Hands one frame to its call.
    fn route(&self, text: &str) -> Routed {
        let Ok(Value::Object(mut frame)) = serde_json::from_str::<Value>(text) else { return Routed::Nothing };
        let Some(id) = frame.get("id").and_then(Value::as_str).map(str::to_owned) else {
            return match frame.get("type").and_then(Value::as_str) {
                Some("ping") => Routed::Pong,
                _ => Routed::Nothing,
            };
        };
        let event = match frame.get("type").and_then(Value::as_str) {
            Some("next") => Event::Next(frame.remove("payload").unwrap_or(Value::Null)),
            Some("complete") => Event::Complete,
            Some("error") => Event::Error(error_status(frame.remove("payload"))),
            _ => return Routed::Nothing,
        };
        let mut calls = self.shared.lock();
        let Some(slot) = calls.open.get_mut(&id) else { return Routed::Nothing };
        if let (Event::Next(_), Some(resume)) = (&event, &mut slot.resume)
            && let Some(Value::String(event_id)) = frame.remove("eventId")
        {
            resume.last_event_id = Some(event_id);
        }
        // A stream the server ended as unavailable (say it is shutting down) is subscribed again.
        if let (Event::Error(status), Some(resume)) = (&event, &mut slot.resume)
            && status.code() == crate::Code::Unavailable
            && self.options.reconnect.is_some()
        {
            resume.subscribed = false;
            return Routed::Resubscribe;
        }
        let last = !matches!(event, Event::Next(_));
        // The last slot is the final event's, so a full buffer still ends the call in order.
        if last || slot.events.capacity() > 1 {
            let _ = slot.events.try_send(event);
            if last {
                calls.open.remove(&id);
            }
            return Routed::Nothing;
        }
        slot.overflowed.store(true, Ordering::SeqCst);
        calls.open.remove(&id);
        Routed::Cancel(id)
    }

    /// Subscribes every server stream not subscribed on this connection, after its last event id.
    async fn resubscribe(&self, socket: &mut Socket) {
        let frames: Vec<String> = {
            let mut calls = self.shared.lock();
            calls
                .open
                .iter_mut()
                .filter_map(|(id, slot)| {
                    let resume = slot.resume.as_mut().filter(|r| !r.subscribed)?;
                    resume.subscribed = true;
                    let last_event_id = resume.last_event_id.as_deref();
                    Some(super::subscribe_frame(id, &resume.method, resume.payload.as_ref(), last_event_id))
                })
                .collect()
        };
        for frame in frames {
            if socket.send(Message::text(frame)).await.is_err() {
                return;
            }
        }
    }

    /// The connection dropped: calls that cannot outlive it fail, frames
    /// sent for it are forgotten, and streams wait to be subscribed again.
    fn dropped(&mut self, status: &Status, reconnecting: bool) {
        let mut calls = self.shared.lock();
        calls.generation += 1;
        calls.open.retain(|_, slot| match &mut slot.resume {
            Some(resume) if reconnecting => {
                resume.subscribed = false;
                true
            }
            _ => {
                let _ = slot.events.try_send(Event::Error(status.clone()));
                false
            }
        });
        if reconnecting {
            self.shared.state.send_replace(ConnectionState::Reconnecting);
        }
    }

    /// Tries to connect again after jittered, growing delays; `None` when it
    /// gave up (and closed) or every client is gone.
    async fn reconnect(&mut self, reconnect: Reconnect, mut why: Status) -> Option<Socket> {
        let mut attempt: u32 = 0;
        loop {
            if reconnect.max_attempts.is_some_and(|max| attempt >= max) {
                self.finish(why);
                return None;
            }
            let wake = tokio::time::sleep(reconnect.delay(attempt));
            tokio::pin!(wake);
            loop {
                tokio::select! {
                    () = &mut wake => break,
                    out = self.rx.recv() => match out {
                        None => {
                            self.finish(why);
                            return None;
                        }
                        Some(Out { message: Message::Close(_), .. }) => {
                            self.finish(Status::unavailable("the client closed the WebSocket"));
                            return None;
                        }
                        // Cancels and the like for calls that are gone with the connection.
                        Some(_) => {}
                    },
                }
            }
            let url = &self.urls[attempt as usize % self.urls.len()];
            attempt += 1;
            match handshake(url, &self.credentials, self.options.ack_timeout).await {
                Ok(socket) => {
                    let _calls = self.shared.lock();
                    self.shared.state.send_replace(ConnectionState::Open);
                    return Some(socket);
                }
                Err(status) if status.code() == crate::Code::Unauthenticated => {
                    self.finish(status);
                    return None;
                }
                Err(status) => why = status,
            }
        }
    }

    /// Closed for good: every call fails with `status`, and so do new ones.
    fn finish(&mut self, status: Status) {
        let mut calls = self.shared.lock();
        for (_, slot) in calls.open.drain() {
            let _ = slot.events.try_send(Event::Error(status.clone()));
        }
        calls.closed = Some(status);
        drop(calls);
        self.shared.state.send_replace(ConnectionState::Closed);
        self.rx.close();
    }
}

/// What routing a frame asks of the connection.
enum Routed {
    Nothing,
    Pong,
    /// A call fell too far behind: cancel it.
    Cancel(String),
    /// A stream ended as unavailable: subscribe it again after a while.
    Resubscribe,
}

/// Why the handshake failed, as a status.
fn refused(url: &str, error: tungstenite::Error) -> Status {
    match error {
        tungstenite::Error::Http(response) => {
            let body = response.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default();
            let message = format!("{url} refused the WebSocket with HTTP {}: {body}", response.status());
            match response.status().as_u16() {
                400 => Status::invalid_argument(message),
                401 => Status::unauthenticated(message),
                404 => Status::not_found(message),
                _ => Status::unavailable(message),
            }
        }
        other => Status::unavailable(format!("cannot open {url}: {other}")),
    }
}

/// Reads until `connection_ack`, answering pings.
async fn acknowledged(socket: &mut Socket) -> Result<(), Status> {
    while let Some(message) = socket.next().await {
        match message.map_err(|e| Status::unavailable(format!("the WebSocket failed: {e}")))? {
            Message::Text(text) => match frame_type(text.as_str()).as_deref() {
                Some("connection_ack") => return Ok(()),
                Some("ping") => {
                    let _ = socket.send(Message::text(r#"{"type":"pong"}"#)).await;
                }
                _ => {}
            },
            Message::Close(frame) => return Err(close_status(frame.as_ref())),
            _ => {}
        }
    }
    Err(Status::unavailable("the WebSocket closed before connection_ack"))
}

fn frame_type(text: &str) -> Option<String> {
    let value: Value = serde_json::from_str(text).ok()?;
    value.get("type")?.as_str().map(str::to_owned)
}

/// 4401 is the credentials' fault; any other close is the connection's.
fn close_status(frame: Option<&CloseFrame>) -> Status {
    match frame {
        Some(frame) if u16::from(frame.code) == crate::core::wire::ws_close::UNAUTHENTICATED => {
            Status::unauthenticated(frame.reason.as_str())
        }
        Some(frame) => Status::unavailable(format!(
            "the server closed the WebSocket ({}): {}",
            u16::from(frame.code),
            frame.reason
        )),
        None => Status::unavailable("the server closed the WebSocket"),
    }
}

/// An `error` frame's status, details included.
fn error_status(payload: Option<Value>) -> Status {
    crate::core::wire::status_from_object(&payload.unwrap_or(Value::Null))
}
