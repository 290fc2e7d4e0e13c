//! A typed client of the `apigen.v1` WebSocket subprotocol (see README, WebSocket):
//! one socket, many concurrent calls of every kind.
//!
//! ```text
//! let client = apigen_runtime::ws_client::Client::connect(
//!     "ws://127.0.0.1:8080/ws",
//!     [("authorization", "Bearer SECRET")],
//! ).await?;
//! let shelf: Shelf = client.unary("bookstore.v1.Bookstore/GetShelf", &request).await?;
//! let mut events = client.server_streaming::<_, ShelfEvent>("bookstore.v1.Bookstore/WatchShelf", &watch).await?;
//! ```
//!
//! One task reads the socket and hands each frame to its call by id; one task
//! writes. The reader never waits for a caller, so one stream left unread
//! cannot hold up the socket's other calls: each call buffers at most
//! [`CALL_BUFFER`] responses, and a call that falls further behind is
//! cancelled and ends with `RESOURCE_EXHAUSTED` once its buffer is read.
//! Dropping a call's stream sends `cancel`. When the socket closes, pending
//! and new calls fail with `UNAVAILABLE`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::core::message::ApiMessage;
use crate::core::wire::WS_SUBPROTOCOL as SUBPROTOCOL;
use crate::{ResponseStream, Status};

/// Responses that may wait per call for the caller to read them.
pub const CALL_BUFFER: usize = 1024;

/// How long `connect` waits for `connection_ack`.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// Frames that may wait for the writer task.
const OUT_BUFFER: usize = 64;

/// What the reader hands a call.
enum Event {
    Next(Value),
    Complete,
    Error(Status),
}

/// Where the reader puts one call's events.
#[derive(Clone)]
struct Slot {
    /// `CALL_BUFFER` responses plus the final event.
    events: mpsc::Sender<Event>,
    /// Set when responses came faster than the caller read them.
    overflowed: Arc<AtomicBool>,
}

/// The calls waiting for frames, and why the socket closed once it has.
#[derive(Default)]
struct Calls {
    open: HashMap<String, Slot>,
    closed: Option<Status>,
}

struct Shared {
    calls: Mutex<Calls>,
    next_id: AtomicU64,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Calls> {
        // A poisoned map is still a valid map: a panic elsewhere must not stop every call.
        self.calls.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn closed(&self) -> Status {
        self.lock().closed.clone().unwrap_or_else(|| Status::unavailable("the WebSocket closed"))
    }
}

/// A connection to a server's `/ws`. Cheap to clone: clones share the socket,
/// which closes when the last clone and the last call's stream are dropped.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
    out: mpsc::Sender<Message>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

impl Client {
    /// Opens `url` (`ws://host:port/ws`) with the `apigen.v1` subprotocol and
    /// sends `metadata` (for example `authorization`) in `connection_init`.
    /// Fails with `UNAUTHENTICATED` when the server refuses the credentials.
    pub async fn connect<K, V>(url: &str, metadata: impl IntoIterator<Item = (K, V)>) -> Result<Client, Status>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let mut request = url
            .into_client_request()
            .map_err(|e| Status::invalid_argument(format!("{url} is not a WebSocket URL: {e}")))?;
        request.headers_mut().insert(http::header::SEC_WEBSOCKET_PROTOCOL, http::HeaderValue::from_static(SUBPROTOCOL));
        let (mut socket, response) =
            tokio_tungstenite::connect_async_with_config(request, None, true).await.map_err(|e| refused(url, e))?;
        let chosen = response.headers().get(http::header::SEC_WEBSOCKET_PROTOCOL);
        if chosen.is_none_or(|p| p != SUBPROTOCOL) {
            return Err(Status::unimplemented(format!("{url} does not speak {SUBPROTOCOL}")));
        }
        let payload: Map<String, Value> =
            metadata.into_iter().map(|(k, v)| (k.into(), Value::String(v.into()))).collect();
        let init = json!({"type": "connection_init", "payload": payload}).to_string();
        socket
            .send(Message::text(init))
            .await
            .map_err(|e| Status::unavailable(format!("cannot write to {url}: {e}")))?;
        tokio::time::timeout(ACK_TIMEOUT, acknowledged(&mut socket))
            .await
            .map_err(|_| Status::deadline_exceeded(format!("{url} sent no connection_ack")))??;

        let (sink, stream) = socket.split();
        let (out, rx) = mpsc::channel(OUT_BUFFER);
        let shared = Arc::new(Shared { calls: Mutex::default(), next_id: AtomicU64::new(1) });
        tokio::spawn(write(sink, rx));
        tokio::spawn(read(stream, Arc::clone(&shared), out.downgrade()));
        Ok(Client { shared, out })
    }

    /// Closes the socket (code 1000); calls still running fail with `UNAVAILABLE`.
    pub async fn close(&self) {
        let _ = self.out.send(Message::Close(None)).await;
    }

    /// Calls a unary method (`package.Service/Method`).
    pub async fn unary<Req: ApiMessage, Resp: ApiMessage>(&self, method: &str, request: &Req) -> Result<Resp, Status> {
        let mut call = self.start(method, Some(encode(request)?)).await?;
        one(&mut call, method).await
    }

    /// Calls a server-streaming method; the stream ends with the call.
    pub async fn server_streaming<Req: ApiMessage, Resp: ApiMessage + Send>(
        &self,
        method: &str,
        request: &Req,
    ) -> Result<ResponseStream<Resp>, Status> {
        let call = self.start(method, Some(encode(request)?)).await?;
        Ok(responses(call))
    }

    /// Calls a client-streaming method with the requests `requests` yields.
    pub async fn client_streaming<Req, Resp>(
        &self,
        method: &str,
        requests: impl futures_core::Stream<Item = Req> + Send + 'static,
    ) -> Result<Resp, Status>
    where
        Req: ApiMessage + Send,
        Resp: ApiMessage,
    {
        let mut call = self.start(method, None).await?;
        call.sender = Some(self.send_all(&call.id, requests));
        one(&mut call, method).await
    }

    /// Calls a bidirectional-streaming method; dropping the response stream
    /// cancels the call and stops sending.
    pub async fn bidi_streaming<Req, Resp>(
        &self,
        method: &str,
        requests: impl futures_core::Stream<Item = Req> + Send + 'static,
    ) -> Result<ResponseStream<Resp>, Status>
    where
        Req: ApiMessage + Send,
        Resp: ApiMessage + Send,
    {
        let mut call = self.start(method, None).await?;
        call.sender = Some(self.send_all(&call.id, requests));
        Ok(responses(call))
    }

    /// Sends `subscribe` for a new id.
    async fn start(&self, method: &str, payload: Option<Value>) -> Result<Pending, Status> {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed).to_string();
        let (tx, events) = mpsc::channel(CALL_BUFFER + 1);
        let overflowed = Arc::new(AtomicBool::new(false));
        {
            let mut calls = self.shared.lock();
            if let Some(closed) = &calls.closed {
                return Err(closed.clone());
            }
            calls.open.insert(id.clone(), Slot { events: tx, overflowed: Arc::clone(&overflowed) });
        }
        let mut frame = json!({"type": "subscribe", "id": id, "method": method});
        if let Some(payload) = payload {
            frame["payload"] = payload;
        }
        let call = Pending { id, events, overflowed, client: self.clone(), finished: false, sender: None };
        self.out.send(Message::text(frame.to_string())).await.map_err(|_| self.shared.closed())?;
        Ok(call)
    }

    /// Streams `requests` as `next` frames of call `id`, then `complete`.
    fn send_all<Req: ApiMessage + Send>(
        &self,
        id: &str,
        requests: impl futures_core::Stream<Item = Req> + Send + 'static,
    ) -> tokio::task::AbortHandle {
        let (out, id) = (self.out.clone(), id.to_owned());
        let task = tokio::spawn(async move {
            let mut requests = std::pin::pin!(requests);
            while let Some(request) = requests.next().await {
                // A request that cannot be JSON ends the stream early; the method sees fewer requests.
                let Ok(payload) = encode(&request) else { break };
                let frame = json!({"type": "next", "id": id, "payload": payload}).to_string();
                if out.send(Message::text(frame)).await.is_err() {
                    return;
                }
            }
            let _ = out.send(Message::text(json!({"type": "complete", "id": id}).to_string())).await;
        });
        task.abort_handle()
    }
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

fn encode<T: ApiMessage>(message: &T) -> Result<Value, Status> {
    serde_json::to_value(message)
        .map_err(|e| Status::invalid_argument(format!("cannot write the request as JSON: {e}")))
}

fn decode<T: ApiMessage>(value: Value) -> Result<T, Status> {
    serde_json::from_value(value)
        .map_err(|e| Status::internal(format!("the response is not the expected message: {e}")))
}

/// Writes frames until every sender is gone or the socket fails; then closes.
async fn write(mut sink: futures_util::stream::SplitSink<Socket, Message>, mut rx: mpsc::Receiver<Message>) {
    while let Some(message) = rx.recv().await {
        let close = matches!(message, Message::Close(_));
        if sink.send(message).await.is_err() || close {
            return;
        }
    }
    let _ = sink.send(Message::Close(None)).await;
}

/// Routes each frame to its call by id; when the socket ends, fails them all.
async fn read(
    mut stream: futures_util::stream::SplitStream<Socket>,
    shared: Arc<Shared>,
    out: mpsc::WeakSender<Message>,
) {
    let why = loop {
        let text = match stream.next().await {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => break close_status(frame.as_ref()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => break Status::unavailable(format!("the WebSocket failed: {e}")),
            None => break Status::unavailable("the WebSocket closed"),
        };
        let Ok(Value::Object(mut frame)) = serde_json::from_str::<Value>(text.as_str()) else { continue };
        let id = frame.get("id").and_then(Value::as_str).map(str::to_owned);
        let event = match (frame.get("type").and_then(Value::as_str), id) {
            (Some("next"), Some(id)) => (id, Event::Next(frame.remove("payload").unwrap_or(Value::Null))),
            (Some("complete"), Some(id)) => (id, Event::Complete),
            (Some("error"), Some(id)) => (id, Event::Error(error_status(frame.remove("payload")))),
            (Some("ping"), _) => {
                // Never waits: a pong that does not fit now is not worth holding up every call.
                if let Some(out) = out.upgrade() {
                    let _ = out.try_send(Message::text(r#"{"type":"pong"}"#));
                }
                continue;
            }
            _ => continue,
        };
        let (id, event) = event;
        let last = !matches!(event, Event::Next(_));
        let mut calls = shared.lock();
        let Some(slot) = calls.open.get(&id) else { continue };
        // The last slot is the final event's, so a full buffer still ends the call in order.
        if last || slot.events.capacity() > 1 {
            let _ = slot.events.try_send(event);
            if last {
                calls.open.remove(&id);
            }
            continue;
        }
        slot.overflowed.store(true, Ordering::SeqCst);
        calls.open.remove(&id);
        drop(calls);
        if let Some(out) = out.upgrade() {
            let _ = out.try_send(Message::text(json!({"type": "cancel", "id": id}).to_string()));
        }
    };
    let mut calls = shared.lock();
    calls.closed = Some(why);
    calls.open.clear();
}

/// An `error` frame's status, details included.
fn error_status(payload: Option<Value>) -> Status {
    crate::core::wire::status_from_object(&payload.unwrap_or(Value::Null))
}

/// A started call: its events, and what to undo when it is dropped early.
struct Pending {
    id: String,
    events: mpsc::Receiver<Event>,
    overflowed: Arc<AtomicBool>,
    client: Client,
    finished: bool,
    /// The task sending a client stream's requests.
    sender: Option<tokio::task::AbortHandle>,
}

impl Pending {
    /// The next response's JSON, `None` after `complete`.
    async fn next(&mut self) -> Result<Option<Value>, Status> {
        if self.finished {
            return Ok(None);
        }
        let event = self.events.recv().await;
        if !matches!(event, Some(Event::Next(_))) {
            self.finished = true;
        }
        match event {
            Some(Event::Next(value)) => Ok(Some(value)),
            Some(Event::Complete) => Ok(None),
            Some(Event::Error(status)) => Err(status),
            None if self.overflowed.load(Ordering::SeqCst) => Err(Status::resource_exhausted(format!(
                "more than {CALL_BUFFER} responses waited unread, so the call was cancelled; read streams as they come"
            ))),
            None => Err(self.client.shared.closed()),
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(sender) = &self.sender {
            sender.abort();
        }
        if self.finished {
            return;
        }
        self.client.shared.lock().open.remove(&self.id);
        let cancel = Message::text(json!({"type": "cancel", "id": self.id}).to_string());
        if let Err(mpsc::error::TrySendError::Full(cancel)) = self.client.out.try_send(cancel) {
            let out = self.client.out.clone();
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move { out.send(cancel).await });
            }
        }
    }
}

/// The one response of a unary or client-streaming call, after its `complete`.
async fn one<Resp: ApiMessage>(call: &mut Pending, method: &str) -> Result<Resp, Status> {
    let response =
        call.next().await?.ok_or_else(|| Status::internal(format!("{method} completed without a response")))?;
    let response = decode(response)?;
    match call.next().await? {
        None => Ok(response),
        Some(_) => Err(Status::internal(format!("{method} sent more than one response"))),
    }
}

fn responses<Resp: ApiMessage + Send>(call: Pending) -> ResponseStream<Resp> {
    ResponseStream::new(futures_util::stream::unfold(call, |mut call| async move {
        match call.next().await {
            Ok(Some(value)) => Some((decode(value), call)),
            Ok(None) => None,
            Err(status) => Some((Err(status), call)),
        }
    }))
}
