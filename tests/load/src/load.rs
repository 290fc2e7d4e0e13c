//! The load itself: SSE and WebSocket subscribers that check every message of
//! their room arrives once and in order, the poster, the mixed unary traffic,
//! the SSE reconnects and the once-a-second sampler.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use apigen_runtime::client::ws as ws_client;
use chat_example::v1::{
    ChatClient, ChatConnectClient, ChatGraphqlClient, ChatMessage, GetHistoryRequest, GetHistoryResponse,
    PostMessageRequest, SubscribeRequest,
};
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use tokio::sync::{Notify, Semaphore, watch};

use crate::hist::Hist;
use crate::procfs::{self, ProcSample};

pub const SUBSCRIBE: &str = "chat.v1.Chat/Subscribe";

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds since the run started: the clock of send times in posted texts
/// and of every latency (poster and subscribers live in this one process).
pub fn now_ns() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

pub fn secs() -> f64 {
    now_ns() as f64 / 1e9
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Clients connect and the poster runs; nothing measured yet.
    Warmup = 0,
    /// Phase 1: fan-out only.
    Fanout = 1,
    /// Phase 2: fan-out, mixed unary traffic, SSE reconnects.
    Soak = 2,
    /// Posting stopped; subscribers catch up, then leave.
    Drain = 3,
}

pub const PHASES: usize = 4;

impl Phase {
    pub const ALL: [Phase; PHASES] = [Phase::Warmup, Phase::Fanout, Phase::Soak, Phase::Drain];

    pub fn name(self) -> &'static str {
        ["warm-up", "phase 1 (fan-out)", "phase 2 (soak)", "drain"][self as usize]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sse = 0,
    Ws = 1,
}

impl Kind {
    pub fn name(self) -> &'static str {
        ["SSE", "WebSocket"][self as usize]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Rest = 0,
    Connect = 1,
    ConnectJson = 2,
    Grpc = 3,
    Graphql = 4,
    Trpc = 5,
    Ws = 6,
}

/// The protocols phase 2 posts over, in turn.
pub const POST_PROTOS: [Proto; 6] = [Proto::Rest, Proto::Connect, Proto::Grpc, Proto::Graphql, Proto::Trpc, Proto::Ws];
/// The protocols phase 2 reads history over, in turn.
pub const HISTORY_PROTOS: [Proto; 6] =
    [Proto::Connect, Proto::ConnectJson, Proto::Grpc, Proto::Graphql, Proto::Trpc, Proto::Ws];

impl Proto {
    pub const ALL: [Proto; 7] =
        [Proto::Rest, Proto::Connect, Proto::ConnectJson, Proto::Grpc, Proto::Graphql, Proto::Trpc, Proto::Ws];

    pub fn name(self) -> &'static str {
        ["REST", "Connect", "Connect JSON", "gRPC", "GraphQL", "tRPC", "WebSocket"][self as usize]
    }

    /// How the call goes over the wire, per method.
    pub fn wire(self, method: Method) -> &'static str {
        match (self, method) {
            (Proto::Rest, _) => "`POST /v1/rooms/{id}/messages`, JSON",
            (Proto::Connect, _) => "`POST /chat.v1.Chat/…`, `application/proto` (`ChatConnectClient`)",
            (Proto::ConnectJson, _) => "`POST /chat.v1.Chat/GetHistory`, JSON (GetHistory's REST default binding)",
            (Proto::Grpc, _) => "gRPC over h2c (`ChatClient`)",
            (Proto::Graphql, Method::Post) => "`POST /graphql` mutation `postMessage` (`ChatGraphqlClient`)",
            (Proto::Graphql, Method::History) => "`POST /graphql` query `getHistory` (`ChatGraphqlClient`)",
            (Proto::Trpc, Method::Post) => "`POST /trpc/chat.postMessage`",
            (Proto::Trpc, Method::History) => "`GET /trpc/chat.getHistory?input=…`",
            (Proto::Ws, Method::Post) => "`/ws` apigen.v1 unary call, the poster's own socket (`ws_client`)",
            (Proto::Ws, Method::History) => "`/ws` apigen.v1 unary call on a subscriber's busy socket (`ws_client`)",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Post = 0,
    History = 1,
}

impl Method {
    pub fn name(self) -> &'static str {
        ["PostMessage", "GetHistory"][self as usize]
    }
}

/// One protocol's calls of one method.
#[derive(Default)]
pub struct OpStats {
    pub latency: Hist,
    pub ok: AtomicU64,
    pub errors: AtomicU64,
}

/// Unexpected errors: counts per kind and the first few, with their time.
#[derive(Default)]
pub struct Errors {
    inner: Mutex<(BTreeMap<String, u64>, Vec<String>)>,
}

const ERROR_SAMPLES: usize = 40;

impl Errors {
    pub fn record(&self, kind: &str, message: impl Display) {
        let mut inner = lock(&self.inner);
        *inner.0.entry(kind.to_owned()).or_default() += 1;
        if inner.1.len() < ERROR_SAMPLES {
            let line = format!("{:7.1} s  {kind}: {message}", secs());
            eprintln!("error: {line}");
            inner.1.push(line);
        }
    }

    pub fn total(&self) -> u64 {
        lock(&self.inner).0.values().sum()
    }

    pub fn counts(&self) -> Vec<(String, u64)> {
        lock(&self.inner).0.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    pub fn samples(&self) -> Vec<String> {
        lock(&self.inner).1.clone()
    }
}

pub struct Room {
    pub name: String,
    /// (send time, sequence) of every accepted post.
    pub posts: Mutex<Vec<(u64, u64)>>,
    /// The room's last sequence once posting stopped (from GetHistory).
    pub final_seq: AtomicU64,
}

/// One subscriber's view of its room. Only its own task writes it.
pub struct Sub {
    pub kind: Kind,
    pub room: usize,
    /// The first and last sequence received (0: none yet).
    pub first: AtomicU64,
    pub last: AtomicU64,
    pub received: AtomicU64,
    /// Sequences skipped over (lost).
    pub gaps: AtomicU64,
    /// Sequences received again or out of order.
    pub repeats: AtomicU64,
    /// When the subscription was known to exist on the server: for SSE, when the
    /// first response's headers arrived (the server sends them after subscribing).
    pub subscribed_ns: AtomicU64,
    pub planned_reconnects: AtomicU64,
    pub drops: AtomicU64,
    /// Asks an SSE subscriber to drop its connection and resume with `Last-Event-ID`.
    pub reconnect: Notify,
}

impl Sub {
    fn new(kind: Kind, room: usize) -> Sub {
        Sub {
            kind,
            room,
            first: AtomicU64::new(0),
            last: AtomicU64::new(0),
            received: AtomicU64::new(0),
            gaps: AtomicU64::new(0),
            repeats: AtomicU64::new(0),
            subscribed_ns: AtomicU64::new(0),
            planned_reconnects: AtomicU64::new(0),
            drops: AtomicU64::new(0),
            reconnect: Notify::new(),
        }
    }

    /// Checks one message: its room, its place in the sequence, its latency.
    pub fn on_message(&self, ctx: &Ctx, index: usize, message: &ChatMessage) {
        let now = now_ns();
        let room = &ctx.rooms[self.room].name;
        if &message.room != room {
            ctx.errors.record("wrong room", format!("subscriber {index} of {room} got {}", message.name));
            return;
        }
        let seq = message.sequence;
        let last = self.last.load(Relaxed);
        if last == 0 {
            self.first.store(seq, Relaxed);
        } else if seq <= last {
            self.repeats.fetch_add(1, Relaxed);
            ctx.errors.record(
                "repeated message",
                format!("{} subscriber {index} of {room}: {seq} after {last}", self.kind.name()),
            );
            return;
        } else if seq > last + 1 {
            self.gaps.fetch_add(seq - last - 1, Relaxed);
            ctx.errors.record(
                "lost message",
                format!("{} subscriber {index} of {room}: {seq} after {last}", self.kind.name()),
            );
        }
        self.last.store(seq, Relaxed);
        self.received.fetch_add(1, Relaxed);
        let sent = message.text.rsplit_once("t=").and_then(|(_, t)| t.parse::<u64>().ok());
        let Some(sent) = sent else {
            ctx.errors.record("foreign message", format!("{room}: {:?}", message.text));
            return;
        };
        let phase = ctx.phase() as usize;
        let kind = self.kind as usize;
        ctx.latency[phase][kind].record(now.saturating_sub(sent) / 1000);
        ctx.deliveries[phase][kind].fetch_add(1, Relaxed);
        ctx.delivered_total.fetch_add(1, Relaxed);
    }
}

/// Everything the tasks share.
pub struct Ctx {
    pub base: String,
    pub ws_url: String,
    pub rooms: Vec<Room>,
    pub subs: Vec<Arc<Sub>>,
    phase: AtomicUsize,
    /// Delivery latency (µs) per phase and kind.
    pub latency: [[Hist; 2]; PHASES],
    pub deliveries: [[AtomicU64; 2]; PHASES],
    pub delivered_total: AtomicU64,
    /// Accepted posts, by the phase they were sent in.
    pub posts_ok: [AtomicU64; PHASES],
    pub posts_total: AtomicU64,
    pub unary_total: AtomicU64,
    /// Ticks the poster or the unary traffic skipped because 256 calls were already waiting.
    pub post_skipped: AtomicU64,
    pub unary_skipped: AtomicU64,
    /// Per phase, protocol and method.
    pub ops: [[[OpStats; 2]; 7]; PHASES],
    pub reconnects_requested: AtomicU64,
    /// From an SSE subscriber dropping its connection to the new one's headers (µs).
    pub reconnect_latency: Hist,
    pub errors: Errors,
    /// The WebSocket subscribers' sockets, for unary calls on busy sockets.
    pub ws_pool: Mutex<Vec<ws_client::Client>>,
}

impl Ctx {
    pub fn new(base: String, ws_url: String, rooms: Vec<String>, subs: Vec<(Kind, usize)>) -> Ctx {
        Ctx {
            base,
            ws_url,
            rooms: rooms
                .into_iter()
                .map(|name| Room { name, posts: Mutex::default(), final_seq: AtomicU64::new(0) })
                .collect(),
            subs: subs.into_iter().map(|(kind, room)| Arc::new(Sub::new(kind, room))).collect(),
            phase: AtomicUsize::new(0),
            latency: Default::default(),
            deliveries: Default::default(),
            delivered_total: AtomicU64::new(0),
            posts_ok: Default::default(),
            posts_total: AtomicU64::new(0),
            unary_total: AtomicU64::new(0),
            post_skipped: AtomicU64::new(0),
            unary_skipped: AtomicU64::new(0),
            ops: Default::default(),
            reconnects_requested: AtomicU64::new(0),
            reconnect_latency: Hist::default(),
            errors: Errors::default(),
            ws_pool: Mutex::default(),
        }
    }

    pub fn phase(&self) -> Phase {
        Phase::ALL[self.phase.load(Relaxed)]
    }

    pub fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as usize, Relaxed);
    }

    pub fn op(&self, phase: Phase, proto: Proto, method: Method) -> &OpStats {
        &self.ops[phase as usize][proto as usize][method as usize]
    }

    /// Subscribers that have received a message.
    pub fn ready(&self) -> usize {
        self.subs.iter().filter(|s| s.first.load(Relaxed) > 0).count()
    }
}

/// A small deterministic PRNG (splitmix64): which room, socket or subscriber.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) % n.max(1) as u64) as usize
    }
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// An SSE subscriber: `GET /sse/chat.v1.Chat/Subscribe?room=…`, events parsed
/// and checked; on request (or after a drop) it reconnects with `Last-Event-ID`.
pub async fn sse_subscriber(
    ctx: Arc<Ctx>,
    index: usize,
    http: reqwest::Client,
    connecting: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    let sub = Arc::clone(&ctx.subs[index]);
    let url = format!("{}/sse/{SUBSCRIBE}?room={}", ctx.base, ctx.rooms[sub.room].name);
    let mut permit = tokio::select! {
        p = connecting.acquire_owned() => p.ok(),
        () = stopped(&mut stop) => return,
    };
    let mut last_id: Option<String> = None;
    let mut planned = false;
    let mut dropped_at = 0;
    loop {
        let mut request = http.get(&url).header(reqwest::header::ACCEPT, "text/event-stream");
        if let Some(id) = &last_id {
            request = request.header("last-event-id", id.as_str());
        }
        let response = tokio::select! {
            r = request.send() => r,
            () = stopped(&mut stop) => return,
        };
        let response = match response {
            Ok(r) if r.status() == reqwest::StatusCode::OK => r,
            Ok(r) => {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                ctx.errors.record("SSE connect", format!("subscriber {index}: HTTP {status}: {body}"));
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(e) => {
                ctx.errors.record("SSE connect", format!("subscriber {index}: {e}"));
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let now = now_ns();
        if sub.subscribed_ns.load(Relaxed) == 0 {
            sub.subscribed_ns.store(now, Relaxed);
        } else if planned {
            ctx.reconnect_latency.record(now.saturating_sub(dropped_at) / 1000);
        }
        permit.take();
        let mut events = response.bytes_stream().eventsource();
        let why = loop {
            tokio::select! {
                event = events.next() => match event {
                    Some(Ok(event)) => {
                        if event.event == "end" {
                            break Some(format!("the stream ended: {}", event.data));
                        }
                        if event.data.is_empty() {
                            continue; // `retry:` alone
                        }
                        match serde_json::from_str::<ChatMessage>(&event.data) {
                            Ok(message) => {
                                if event.id != message.sequence.to_string() {
                                    ctx.errors.record(
                                        "SSE event id",
                                        format!("id {:?} on message {}", event.id, message.sequence),
                                    );
                                }
                                sub.on_message(&ctx, index, &message);
                                last_id = Some(event.id);
                            }
                            Err(e) => ctx.errors.record("SSE event", format!("{e}: {}", event.data)),
                        }
                    }
                    Some(Err(e)) => break Some(e.to_string()),
                    None => break Some("the server closed the stream".to_owned()),
                },
                () = sub.reconnect.notified() => break None,
                () = stopped(&mut stop) => return,
            }
        };
        dropped_at = now_ns();
        match why {
            None => {
                planned = true;
                sub.planned_reconnects.fetch_add(1, Relaxed);
            }
            Some(why) => {
                planned = false;
                sub.drops.fetch_add(1, Relaxed);
                ctx.errors.record("SSE drop", format!("subscriber {index}: {why}"));
            }
        }
    }
}

/// A WebSocket subscriber: `connection_init`, then `subscribe` to
/// `chat.v1.Chat/Subscribe`, every message checked. After a failure it
/// reconnects and resumes (a `last-event-id` in `connection_init`'s payload
/// becomes the call's metadata, which Subscribe resumes after).
pub async fn ws_subscriber(ctx: Arc<Ctx>, index: usize, connecting: Arc<Semaphore>, mut stop: watch::Receiver<bool>) {
    let sub = Arc::clone(&ctx.subs[index]);
    let request = SubscribeRequest { room: ctx.rooms[sub.room].name.clone() };
    let mut permit = tokio::select! {
        p = connecting.acquire_owned() => p.ok(),
        () = stopped(&mut stop) => return,
    };
    loop {
        let last = sub.last.load(Relaxed);
        let metadata: Vec<(String, String)> =
            if last > 0 { vec![("last-event-id".to_owned(), last.to_string())] } else { Vec::new() };
        let connected = tokio::select! {
            c = ws_client::Client::connect(&ctx.ws_url, metadata) => c,
            () = stopped(&mut stop) => return,
        };
        let client = match connected {
            Ok(client) => client,
            Err(status) => {
                ctx.errors.record("WebSocket connect", format!("subscriber {index}: {status}"));
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let mut stream = match client.server_streaming::<_, ChatMessage>(SUBSCRIBE, &request).await {
            Ok(stream) => stream,
            Err(status) => {
                ctx.errors.record("WebSocket subscribe", format!("subscriber {index}: {status}"));
                client.close().await;
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if sub.subscribed_ns.load(Relaxed) == 0 {
            sub.subscribed_ns.store(now_ns(), Relaxed);
        }
        permit.take();
        lock(&ctx.ws_pool).push(client.clone());
        let why = loop {
            tokio::select! {
                message = stream.next() => match message {
                    Some(Ok(message)) => sub.on_message(&ctx, index, &message),
                    Some(Err(status)) => break status.to_string(),
                    None => break "the stream ended".to_owned(),
                },
                () = stopped(&mut stop) => {
                    drop(stream);
                    client.close().await;
                    return;
                }
            }
        };
        sub.drops.fetch_add(1, Relaxed);
        ctx.errors.record("WebSocket drop", format!("subscriber {index}: {why}"));
        client.close().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The typed clients of every protocol, shared by the poster and the unary traffic.
pub struct Clients {
    http: reqwest::Client,
    base: String,
    connect: ChatConnectClient,
    grpc: ChatClient,
    graphql: ChatGraphqlClient,
    ws: ws_client::Client,
}

fn status_text(status: apigen_runtime::Status) -> String {
    status.to_string()
}

/// Sends a request whose answer is JSON; non-2xx answers are errors.
async fn json_call(request: reqwest::RequestBuilder) -> Result<serde_json::Value, String> {
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body)));
    }
    serde_json::from_slice(&body).map_err(|e| format!("the answer is not JSON: {e}"))
}

/// tRPC's `{"result": {"data": …}}`.
fn trpc_data<T: apigen_runtime::serde::de::DeserializeOwned>(mut value: serde_json::Value) -> Result<T, String> {
    let data = value["result"]["data"].take();
    serde_json::from_value(data).map_err(|e| format!("unexpected tRPC answer {value}: {e}"))
}

impl Clients {
    pub async fn new(base: &str, ws_url: &str) -> Result<Clients, String> {
        let grpc = ChatClient::connect(base).await.map_err(|s| format!("gRPC: {s}"))?;
        let ws = ws_client::Client::connect(ws_url, Vec::<(String, String)>::new())
            .await
            .map_err(|s| format!("WebSocket: {s}"))?;
        Ok(Clients {
            http: reqwest::Client::new(),
            base: base.to_owned(),
            connect: ChatConnectClient::new(base),
            grpc,
            graphql: ChatGraphqlClient::new(base),
            ws,
        })
    }

    pub async fn close(&self) {
        self.ws.close().await;
    }

    pub async fn post(&self, proto: Proto, room: &str, text: String) -> Result<ChatMessage, String> {
        let request = PostMessageRequest { room: room.to_owned(), author: "load".to_owned(), text };
        match proto {
            // By hand: `ChatRestClient::post_message`'s future is not `Send` (its query
            // serializer lives across an await), so it cannot run in a spawned task.
            Proto::Rest => post_rest(&self.http, &self.base, &request).await,
            Proto::Connect => self.connect.post_message(request).await.map_err(status_text),
            Proto::Grpc => self.grpc.clone().post_message(request).await.map_err(status_text),
            Proto::Graphql => self.graphql.post_message(request).await.map_err(status_text),
            Proto::Ws => self.ws.unary("chat.v1.Chat/PostMessage", &request).await.map_err(status_text),
            Proto::Trpc => {
                let url = format!("{}/trpc/chat.postMessage", self.base);
                trpc_data(json_call(self.http.post(url).json(&request)).await?)
            }
            Proto::ConnectJson => {
                let url = format!("{}/chat.v1.Chat/PostMessage", self.base);
                let value = json_call(self.http.post(url).json(&request)).await?;
                serde_json::from_value(value).map_err(|e| e.to_string())
            }
        }
    }

    pub async fn history(
        &self,
        proto: Proto,
        room: &str,
        limit: i32,
        socket: Option<ws_client::Client>,
    ) -> Result<GetHistoryResponse, String> {
        let request = GetHistoryRequest { room: room.to_owned(), limit };
        match proto {
            Proto::Connect | Proto::Rest => self.connect.get_history(request).await.map_err(status_text),
            Proto::Grpc => self.grpc.clone().get_history(request).await.map_err(status_text),
            Proto::Graphql => self.graphql.get_history(request).await.map_err(status_text),
            Proto::Ws => {
                let socket = socket.as_ref().unwrap_or(&self.ws);
                socket.unary("chat.v1.Chat/GetHistory", &request).await.map_err(status_text)
            }
            Proto::Trpc => {
                let input = serde_json::to_string(&request).map_err(|e| e.to_string())?;
                let url = reqwest::Url::parse_with_params(
                    &format!("{}/trpc/chat.getHistory", self.base),
                    [("input", input.as_str())],
                )
                .map_err(|e| e.to_string())?;
                trpc_data(json_call(self.http.get(url)).await?)
            }
            Proto::ConnectJson => {
                let url = format!("{}/chat.v1.Chat/GetHistory", self.base);
                let value = json_call(self.http.post(url).json(&request)).await?;
                serde_json::from_value(value).map_err(|e| e.to_string())
            }
        }
    }
}

/// PostMessage over REST: `POST {base}/v1/{room}/messages` with `{"author", "text"}`.
pub async fn post_rest(
    http: &reqwest::Client,
    base: &str,
    request: &PostMessageRequest,
) -> Result<ChatMessage, String> {
    let url = format!("{base}/v1/{}/messages", request.room);
    let body = serde_json::json!({"author": request.author, "text": request.text});
    let value = json_call(http.post(url).json(&body)).await?;
    serde_json::from_value(value).map_err(|e| e.to_string())
}

/// A history must be the room's messages, oldest first, without holes.
fn check_history(room: &str, limit: i32, history: &GetHistoryResponse) -> Result<(), String> {
    if history.messages.len() > limit as usize {
        return Err(format!("{} messages for limit {limit}", history.messages.len()));
    }
    for pair in history.messages.windows(2) {
        if pair[1].sequence != pair[0].sequence + 1 {
            return Err(format!("{room}: sequence {} after {}", pair[1].sequence, pair[0].sequence));
        }
    }
    if let Some(m) = history.messages.iter().find(|m| m.room != room) {
        return Err(format!("{room}: a message of {}", m.room));
    }
    Ok(())
}

/// Calls that may wait at once, per generator; further ticks are skipped (and counted).
const IN_FLIGHT: usize = 256;

/// Posts `rate` messages a second round-robin over the rooms, each text
/// carrying its send time: over REST until phase 2, then over each of
/// `POST_PROTOS` in turn. Returns once every post it started has finished.
pub async fn poster(ctx: Arc<Ctx>, clients: Arc<Clients>, rate: f64, stop: watch::Receiver<bool>) {
    let post = move |proto: Proto, room: String, text: String| -> PostFuture {
        let clients = Arc::clone(&clients);
        Box::pin(async move { clients.post(proto, &room, text).await })
    };
    post_at_rate(ctx, rate, stop, post).await;
}

/// One post's answer, as [`post_at_rate`] awaits it.
pub type PostFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Result<ChatMessage, String>> + Send>>;

/// [`poster`] with the post itself given: `post(protocol, room, text)`.
pub async fn post_at_rate<F>(ctx: Arc<Ctx>, rate: f64, mut stop: watch::Receiver<bool>, post: F)
where
    F: Fn(Proto, String, String) -> PostFuture + Send + Sync + 'static,
{
    let post = Arc::new(post);
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    let rooms = ctx.rooms.len() as u64;
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stopped(&mut stop) => break,
        }
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            ctx.post_skipped.fetch_add(1, Relaxed);
            continue;
        };
        let room = (n % rooms) as usize;
        let phase = ctx.phase();
        let proto = if phase == Phase::Soak {
            POST_PROTOS[((n / rooms) % POST_PROTOS.len() as u64) as usize]
        } else {
            Proto::Rest
        };
        n += 1;
        let (ctx, post) = (Arc::clone(&ctx), Arc::clone(&post));
        tokio::spawn(async move {
            let _slot = slot;
            let sent = now_ns();
            let text = format!("load n={n} t={sent}");
            let name = &ctx.rooms[room].name;
            let result = post(proto, name.clone(), text.clone()).await;
            let op = ctx.op(phase, proto, Method::Post);
            match result {
                Ok(m) if &m.room == name && m.text == text && m.sequence > 0 => {
                    op.latency.record((now_ns() - sent) / 1000);
                    op.ok.fetch_add(1, Relaxed);
                    ctx.posts_ok[phase as usize].fetch_add(1, Relaxed);
                    ctx.posts_total.fetch_add(1, Relaxed);
                    lock(&ctx.rooms[room].posts).push((sent, m.sequence));
                }
                Ok(m) => {
                    op.errors.fetch_add(1, Relaxed);
                    ctx.errors.record(&format!("PostMessage over {}", proto.name()), format!("unexpected reply {m:?}"));
                }
                Err(e) => {
                    op.errors.fetch_add(1, Relaxed);
                    ctx.errors.record(&format!("PostMessage over {}", proto.name()), format!("{name}: {e}"));
                }
            }
        });
    }
    let _ = slots.acquire_many(IN_FLIGHT as u32).await;
}

/// Phase 2's unary reads: GetHistory of a random room at `rate` calls a
/// second over each of `HISTORY_PROTOS` in turn (WebSocket calls on a random
/// subscriber's socket), each answer checked.
pub async fn unary_traffic(ctx: Arc<Ctx>, clients: Arc<Clients>, rate: f64, mut stop: watch::Receiver<bool>) {
    if rate <= 0.0 {
        return;
    }
    const LIMIT: i32 = 20;
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    let mut rng = Rng::new(0x5eed);
    let mut n: usize = 0;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stopped(&mut stop) => break,
        }
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            ctx.unary_skipped.fetch_add(1, Relaxed);
            continue;
        };
        let proto = HISTORY_PROTOS[n % HISTORY_PROTOS.len()];
        n += 1;
        let room = rng.below(ctx.rooms.len());
        let socket = if proto == Proto::Ws {
            let pool = lock(&ctx.ws_pool);
            (!pool.is_empty()).then(|| pool[rng.below(pool.len())].clone())
        } else {
            None
        };
        let phase = ctx.phase();
        let (ctx, clients) = (Arc::clone(&ctx), Arc::clone(&clients));
        tokio::spawn(async move {
            let _slot = slot;
            let started = now_ns();
            let name = &ctx.rooms[room].name;
            let result = clients.history(proto, name, LIMIT, socket).await;
            let result = result.and_then(|history| check_history(name, LIMIT, &history));
            let op = ctx.op(phase, proto, Method::History);
            ctx.unary_total.fetch_add(1, Relaxed);
            match result {
                Ok(()) => {
                    op.latency.record((now_ns() - started) / 1000);
                    op.ok.fetch_add(1, Relaxed);
                }
                Err(e) => {
                    op.errors.fetch_add(1, Relaxed);
                    ctx.errors.record(&format!("GetHistory over {}", proto.name()), format!("{name}: {e}"));
                }
            }
        });
    }
    let _ = slots.acquire_many(IN_FLIGHT as u32).await;
}

/// Phase 2's SSE reconnects: `rate` a second, each asking a random SSE
/// subscriber to drop its connection and resume with `Last-Event-ID`.
pub async fn reconnects(ctx: Arc<Ctx>, rate: f64, mut stop: watch::Receiver<bool>) {
    let sse: Vec<Arc<Sub>> = ctx.subs.iter().filter(|s| s.kind == Kind::Sse).cloned().collect();
    if sse.is_empty() || rate <= 0.0 {
        return;
    }
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    ticks.tick().await;
    let mut rng = Rng::new(0xc0ffee);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stopped(&mut stop) => return,
        }
        sse[rng.below(sse.len())].reconnect.notify_one();
        ctx.reconnects_requested.fetch_add(1, Relaxed);
    }
}

/// One second of the run.
#[derive(Debug, Clone, Copy)]
pub struct Point {
    pub t: f64,
    pub phase: Phase,
    pub server: Option<ProcSample>,
    pub load: ProcSample,
    /// CPU use over the last second, % of one core.
    pub server_cpu: f64,
    pub load_cpu: f64,
    pub delivered_per_s: f64,
    pub posted_per_s: f64,
    pub unary_per_s: f64,
    pub ready: usize,
}

/// Samples the server (`/proc/<pid>`) and this process every second until stopped.
pub async fn sampler(ctx: Arc<Ctx>, pid: Option<u32>, points: Arc<Mutex<Vec<Point>>>, mut stop: watch::Receiver<bool>) {
    let tck = procfs::clock_ticks() as f64;
    let pid = pid.map(|p| p.to_string());
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    let mut previous: Option<(f64, Option<ProcSample>, ProcSample, u64, u64, u64)> = None;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stopped(&mut stop) => return,
        }
        let t = secs();
        let server = pid.as_deref().and_then(procfs::sample);
        let load = procfs::sample("self").unwrap_or_default();
        let counters =
            (ctx.delivered_total.load(Relaxed), ctx.posts_total.load(Relaxed), ctx.unary_total.load(Relaxed));
        let mut point = Point {
            t,
            phase: ctx.phase(),
            server,
            load,
            server_cpu: 0.0,
            load_cpu: 0.0,
            delivered_per_s: 0.0,
            posted_per_s: 0.0,
            unary_per_s: 0.0,
            ready: ctx.ready(),
        };
        if let Some((t0, s0, l0, d0, p0, u0)) = previous {
            let dt = (t - t0).max(1e-3);
            let cpu = |a: u64, b: u64| b.saturating_sub(a) as f64 / tck / dt * 100.0;
            point.server_cpu = match (s0, server) {
                (Some(a), Some(b)) => cpu(a.cpu_ticks, b.cpu_ticks),
                _ => 0.0,
            };
            point.load_cpu = cpu(l0.cpu_ticks, load.cpu_ticks);
            point.delivered_per_s = (counters.0 - d0) as f64 / dt;
            point.posted_per_s = (counters.1 - p0) as f64 / dt;
            point.unary_per_s = (counters.2 - u0) as f64 / dt;
        }
        previous = Some((t, server, load, counters.0, counters.1, counters.2));
        let n = {
            let mut points = lock(&points);
            points.push(point);
            points.len()
        };
        if n % 10 == 0 {
            let rss = server.map_or("?".to_owned(), |s| format!("{:.1} MiB", s.rss_kib as f64 / 1024.0));
            eprintln!(
                "{t:7.1} s  {:<18} subscribed {}/{}  delivered {:.0}/s  posted {:.0}/s  unary {:.0}/s  \
                 server RSS {rss}  CPU server {:.0}% load {:.0}%  errors {}",
                point.phase.name(),
                point.ready,
                ctx.subs.len(),
                point.delivered_per_s,
                point.posted_per_s,
                point.unary_per_s,
                point.server_cpu,
                point.load_cpu,
                ctx.errors.total(),
            );
        }
    }
}
