//! A typed client of the `apigen.v1` WebSocket subprotocol (see README, WebSocket):
//! one socket, many concurrent calls of every kind, kept through drops.
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
//! One task owns the socket: it writes what calls send, hands each frame it
//! reads to its call by id, and never waits for a caller, so one stream left
//! unread cannot hold up the socket's other calls: each call buffers at most
//! [`CALL_BUFFER`] responses, and a call that falls further behind is
//! cancelled and ends with `RESOURCE_EXHAUSTED` once its buffer is read.
//! Dropping a call's stream sends `cancel`.
//!
//! The connection reconnects on its own ([`Options`]): after a drop, a
//! server restart or a 1001/1012 close it tries again with jittered
//! exponential backoff, to each URL in turn, with `connection_init` again
//! (fresh credentials when [`Client::connect_with`] got a function). Server
//! streams survive: each is subscribed again after the last event id it saw,
//! so a resumable stream goes on with nothing lost and nothing repeated.
//! Unary, client-streaming and bidi calls in flight fail with `UNAVAILABLE`
//! instead, and are never sent again on their own. A heartbeat takes a
//! connection that stays silent for too long for dead. When the connection
//! closes for good (`close`, refused credentials, attempts run out), pending
//! and new calls fail with `UNAVAILABLE` (`UNAUTHENTICATED` for 4401).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

use crate::core::message::ApiMessage;
use crate::{ResponseStream, Status};

mod connection;
use connection::{Connection, handshake};

/// Responses that may wait per call for the caller to read them.
pub const CALL_BUFFER: usize = 1024;

/// Frames that may wait for the connection's task.
const OUT_BUFFER: usize = 64;

/// Where a client's connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// Connected and acknowledged: calls go through.
    Open,
    /// The connection dropped; waiting to try again.
    Reconnecting,
    /// Closed for good.
    Closed,
}

/// How the client reconnects after a drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reconnect {
    /// The first delay (default 500 ms); it doubles with each failed attempt.
    pub initial_delay: Duration,
    /// The longest delay (default 30 s). Each delay is jittered down to half of itself.
    pub max_delay: Duration,
    /// Attempts in a row before the client gives up and closes (default: no limit).
    pub max_attempts: Option<u32>,
}

impl Reconnect {
    /// How long to wait before attempt `attempt` (from 0): the delay doubles
    /// per attempt up to `max_delay`, jittered so that clients a restart
    /// dropped together do not come back together.
    pub(crate) fn delay(&self, attempt: u32) -> Duration {
        jitter(self.initial_delay.saturating_mul(2u32.saturating_pow(attempt)).min(self.max_delay))
    }
}

/// `delay` jittered down to between half and all of itself.
fn jitter(delay: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    delay.mul_f64(0.5 + (random % 1000) as f64 / 2000.0)
}

impl Default for Reconnect {
    fn default() -> Self {
        Reconnect { initial_delay: Duration::from_millis(500), max_delay: Duration::from_secs(30), max_attempts: None }
    }
}

/// How a client keeps its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// Reconnect after a drop (default: yes, with [`Reconnect::default`]); `None`: a drop closes the client.
    pub reconnect: Option<Reconnect>,
    /// With nothing from the server for this long the client pings, and after
    /// twice as long it takes the connection for dead (default 15 s; `None`: never).
    pub heartbeat: Option<Duration>,
    /// How long to wait for `connection_ack` (default 10 s).
    pub ack_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            reconnect: Some(Reconnect::default()),
            heartbeat: Some(Duration::from_secs(15)),
            ack_timeout: Duration::from_secs(10),
        }
    }
}

impl Options {
    /// Sets how the client reconnects (`None`: it does not).
    pub fn reconnect(mut self, reconnect: Option<Reconnect>) -> Self {
        self.reconnect = reconnect;
        self
    }

    /// Sets the heartbeat period (`None`: no heartbeat).
    pub fn heartbeat(mut self, heartbeat: Option<Duration>) -> Self {
        self.heartbeat = heartbeat;
        self
    }

    /// Sets how long to wait for `connection_ack`.
    pub fn ack_timeout(mut self, timeout: Duration) -> Self {
        self.ack_timeout = timeout;
        self
    }
}

/// `connection_init`'s payload, asked for at each (re)connection.
type Credentials = Arc<dyn Fn() -> BoxFuture<'static, Result<Map<String, Value>, Status>> + Send + Sync>;

/// What the connection hands a call.
enum Event {
    Next(Value),
    Complete,
    Error(Status),
}

/// A server stream's request, kept to subscribe it again after a drop.
struct Resume {
    method: String,
    payload: Option<Value>,
    last_event_id: Option<String>,
    /// Subscribed on the current connection.
    subscribed: bool,
}

/// Where the connection puts one call's events.
struct Slot {
    /// `CALL_BUFFER` responses plus the final event.
    events: mpsc::Sender<Event>,
    /// Set when responses came faster than the caller read them.
    overflowed: Arc<AtomicBool>,
    /// Set for server streams, which outlive a connection.
    resume: Option<Resume>,
}

/// The calls waiting for frames, and why the client closed once it has.
#[derive(Default)]
struct Calls {
    open: HashMap<String, Slot>,
    closed: Option<Status>,
    /// Counts connections; a frame sent for an earlier one is never written.
    generation: u64,
}

struct Shared {
    calls: Mutex<Calls>,
    next_id: AtomicU64,
    state: watch::Sender<ConnectionState>,
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

/// A frame for the connection: `generation` names the connection it belongs
/// to (`None`: whichever is current).
struct Out {
    generation: Option<u64>,
    message: Message,
}

/// A connection to a server's `/ws`. Cheap to clone: clones share the socket,
/// which closes when the last clone and the last call's stream are dropped.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
    out: mpsc::Sender<Out>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("state", &self.state()).finish_non_exhaustive()
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

impl Client {
    /// Opens `url` (`ws://host:port/ws`) with the `apigen.v1` subprotocol and
    /// sends `metadata` (for example `authorization`) in `connection_init`,
    /// with the default [`Options`]. Fails with `UNAUTHENTICATED` when the
    /// server refuses the credentials.
    pub async fn connect<K, V>(url: &str, metadata: impl IntoIterator<Item = (K, V)>) -> Result<Client, Status>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let payload: Map<String, Value> =
            metadata.into_iter().map(|(k, v)| (k.into(), Value::String(v.into()))).collect();
        let credentials: Credentials = Arc::new(move || {
            let payload = payload.clone();
            Box::pin(async move { Ok(payload) })
        });
        Client::open([url.to_owned()].into(), credentials, Options::default()).await
    }

    /// Opens the first of `urls` (reconnections go to each in turn, as to
    /// instances behind no load balancer); `credentials` gives
    /// `connection_init`'s metadata at each connection, so a token can be
    /// fresh each time.
    pub async fn connect_with<F, Fut>(
        urls: impl IntoIterator<Item = impl Into<String>>,
        credentials: F,
        options: Options,
    ) -> Result<Client, Status>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<(String, String)>, Status>> + Send + 'static,
    {
        let urls: Vec<String> = urls.into_iter().map(Into::into).collect();
        if urls.is_empty() {
            return Err(Status::invalid_argument("connect_with needs at least one URL"));
        }
        let credentials: Credentials = Arc::new(move || {
            let metadata = credentials();
            Box::pin(async move { Ok(metadata.await?.into_iter().map(|(k, v)| (k, Value::String(v))).collect()) })
        });
        Client::open(urls, credentials, options).await
    }

    async fn open(urls: Vec<String>, credentials: Credentials, options: Options) -> Result<Client, Status> {
        let first = handshake(&urls[0], &credentials, options.ack_timeout).await?;
        let (state, _) = watch::channel(ConnectionState::Open);
        let shared = Arc::new(Shared { calls: Mutex::default(), next_id: AtomicU64::new(1), state });
        let (out, rx) = mpsc::channel(OUT_BUFFER);
        let connection = Connection { urls, credentials, options, shared: Arc::clone(&shared), rx };
        tokio::spawn(connection.run(first));
        Ok(Client { shared, out })
    }

    /// Where the connection is now.
    pub fn state(&self) -> ConnectionState {
        *self.shared.state.borrow()
    }

    /// Every change of [`state`](Client::state), for a UI or a health check.
    pub fn states(&self) -> watch::Receiver<ConnectionState> {
        self.shared.state.subscribe()
    }

    /// Closes the socket (code 1000) for good; calls still running fail with `UNAVAILABLE`.
    pub async fn close(&self) {
        let _ = self.out.send(Out { generation: None, message: Message::Close(None) }).await;
    }

    /// Calls a unary method (`package.Service/Method`).
    pub async fn unary<Req: ApiMessage, Resp: ApiMessage>(&self, method: &str, request: &Req) -> Result<Resp, Status> {
        let mut call = self.start(method, Some(encode(request)?), None).await?;
        one(&mut call, method).await
    }

    /// Calls a server-streaming method; the stream ends with the call, and
    /// outlives reconnections.
    pub async fn server_streaming<Req: ApiMessage, Resp: ApiMessage + Send>(
        &self,
        method: &str,
        request: &Req,
    ) -> Result<ResponseStream<Resp>, Status> {
        self.server_streaming_after(method, request, None).await
    }

    /// Calls a server-streaming method from after the event `last_event_id`
    /// (one a previous stream of a resumable method gave).
    pub async fn server_streaming_after<Req: ApiMessage, Resp: ApiMessage + Send>(
        &self,
        method: &str,
        request: &Req,
        last_event_id: Option<&str>,
    ) -> Result<ResponseStream<Resp>, Status> {
        let call = self.start(method, Some(encode(request)?), Some(last_event_id.map(str::to_owned))).await?;
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
        let mut call = self.start(method, None, None).await?;
        call.sender = Some(self.send_all(&call.id, call.generation, requests));
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
        let mut call = self.start(method, None, None).await?;
        call.sender = Some(self.send_all(&call.id, call.generation, requests));
        Ok(responses(call))
    }

    /// Registers a call under a new id and sends its `subscribe`. A server
    /// stream (`resume` set, with the id to start after) waits for the next
    /// connection when there is none; other calls fail then, unsent.
    async fn start(
        &self,
        method: &str,
        payload: Option<Value>,
        resume: Option<Option<String>>,
    ) -> Result<Pending, Status> {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed).to_string();
        let (tx, events) = mpsc::channel(CALL_BUFFER + 1);
        let overflowed = Arc::new(AtomicBool::new(false));
        let last_event_id = resume.as_ref().and_then(Option::as_deref);
        let frame = subscribe_frame(&id, method, payload.as_ref(), last_event_id);
        // The state is read under the lock the connection changes it under, so a call
        // either belongs to the connection that is open or waits for the next one.
        let (generation, open) = {
            let mut calls = self.shared.lock();
            let open = self.state() == ConnectionState::Open;
            if let Some(closed) = &calls.closed {
                return Err(closed.clone());
            }
            if !open && resume.is_none() {
                return Err(Status::unavailable("the WebSocket is reconnecting; call again once it is open"));
            }
            let resume = resume.map(|last_event_id| Resume {
                method: method.to_owned(),
                payload,
                last_event_id,
                subscribed: open,
            });
            calls.open.insert(id.clone(), Slot { events: tx, overflowed: Arc::clone(&overflowed), resume });
            (calls.generation, open)
        };
        let call = Pending { id, generation, events, overflowed, client: self.clone(), finished: false, sender: None };
        if open {
            let out = Out { generation: Some(generation), message: Message::text(frame) };
            self.out.send(out).await.map_err(|_| self.shared.closed())?;
        }
        Ok(call)
    }

    /// Streams `requests` as `next` frames of call `id`, then `complete`.
    fn send_all<Req: ApiMessage + Send>(
        &self,
        id: &str,
        generation: u64,
        requests: impl futures_core::Stream<Item = Req> + Send + 'static,
    ) -> tokio::task::AbortHandle {
        let (out, id) = (self.out.clone(), id.to_owned());
        let task = tokio::spawn(async move {
            let mut requests = std::pin::pin!(requests);
            let frame = |value: Value| Out { generation: Some(generation), message: Message::text(value.to_string()) };
            while let Some(request) = requests.next().await {
                // A request that cannot be JSON ends the stream early; the method sees fewer requests.
                let Ok(payload) = encode(&request) else { break };
                if out.send(frame(json!({"type": "next", "id": id, "payload": payload}))).await.is_err() {
                    return;
                }
            }
            let _ = out.send(frame(json!({"type": "complete", "id": id}))).await;
        });
        task.abort_handle()
    }
}

/// A `subscribe` frame: a call of `method` under `id`, after the event
/// `last_event_id` when a stream resumes.
fn subscribe_frame(id: &str, method: &str, payload: Option<&Value>, last_event_id: Option<&str>) -> String {
    let mut frame = json!({"type": "subscribe", "id": id, "method": method});
    if let Some(payload) = payload {
        frame["payload"] = payload.clone();
    }
    if let Some(last) = last_event_id {
        frame["lastEventId"] = Value::String(last.to_owned());
    }
    frame.to_string()
}

fn encode<T: ApiMessage>(message: &T) -> Result<Value, Status> {
    serde_json::to_value(message)
        .map_err(|e| Status::invalid_argument(format!("cannot write the request as JSON: {e}")))
}

fn decode<T: ApiMessage>(value: Value) -> Result<T, Status> {
    serde_json::from_value(value)
        .map_err(|e| Status::internal(format!("the response is not the expected message: {e}")))
}

/// A started call: its events, and what to undo when it is dropped early.
struct Pending {
    id: String,
    /// The connection it was sent on.
    generation: u64,
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
        // A stream may be on a later connection than it started on: cancel it on the current one.
        let stream = self.client.shared.lock().open.remove(&self.id).and_then(|slot| slot.resume).is_some();
        let generation = if stream { None } else { Some(self.generation) };
        let cancel = Out { generation, message: Message::text(json!({"type": "cancel", "id": self.id}).to_string()) };
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
