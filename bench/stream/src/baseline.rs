//! `stream-baseline`: what the chat example's streaming comes down to, written
//! by hand with axum 0.8 and one `tokio::sync::broadcast` channel per room.
//! It speaks just enough of the chat example's wire formats for the same
//! client code to measure both servers:
//!
//! - `POST /v1/rooms/{k}/messages` with `{"author", "text"}`: the message,
//!   numbered 1, 2, 3, … per room, as the chat example's JSON `ChatMessage`;
//! - `GET /sse/chat.v1.Chat/Subscribe?room=rooms/{k}`: `retry:`, then one event
//!   per message (`id:` its sequence, `data:` its JSON), keep-alives every 15 s;
//! - `GET /ws`, subprotocol `apigen.v1`: `connection_init` → `connection_ack`,
//!   `subscribe` to `chat.v1.Chat/Subscribe` → `next` frames, `cancel`, `ping`/`pong`.
//!
//! Deliberately plain, as a hand-written server would be: axum's defaults
//! (WebSocket buffers included), a reader task and a writer per socket, each message serialized once when posted and
//! shared by every subscriber, no history, no resuming, no auth, no limits.
//! `stream-baseline --addr 127.0.0.1:0` prints `listening on http://HOST:PORT`;
//! `--ws-read-buffer 8192` gives sockets apigen's read buffer instead of axum's 128 KiB.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use futures_util::stream::{AbortHandle, Abortable, BoxStream, SelectAll};
use futures_util::{SinkExt, Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::broadcast;

const SUBSCRIBE: &str = "chat.v1.Chat/Subscribe";

/// Messages a room's channel holds for its slowest subscriber (as apigen's topics: 256).
const CHANNEL: usize = 256;

/// A posted message: its sequence and its JSON, serialized once.
struct Posted {
    sequence: u64,
    json: String,
}

struct Room {
    /// The last sequence; held while sending, so channel order is sequence order.
    last: Mutex<u64>,
    tx: broadcast::Sender<Arc<Posted>>,
}

#[derive(Clone, Default)]
struct Rooms(Arc<Mutex<HashMap<String, Arc<Room>>>>);

#[derive(Clone)]
struct App {
    rooms: Rooms,
    ws_read_buffer: Option<usize>,
}

impl axum::extract::FromRef<App> for Rooms {
    fn from_ref(app: &App) -> Rooms {
        app.rooms.clone()
    }
}

impl Rooms {
    fn get(&self, name: &str) -> Arc<Room> {
        let mut rooms = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let room = rooms
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(Room { last: Mutex::new(0), tx: broadcast::channel(CHANNEL).0 }));
        Arc::clone(room)
    }
}

/// The chat example's `ChatMessage` in its JSON form.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ChatMessage<'a> {
    name: String,
    room: &'a str,
    author: &'a str,
    text: &'a str,
    /// uint64: a string in protobuf JSON.
    sequence: String,
    post_time: String,
}

#[derive(Deserialize)]
struct PostBody {
    author: String,
    text: String,
}

/// `rooms/{id}`, when `id` is a valid room id.
fn room_name(id: &str) -> Option<String> {
    (!id.is_empty() && !id.contains('/')).then(|| format!("rooms/{id}"))
}

fn bad_room() -> Response {
    (StatusCode::BAD_REQUEST, "a room is `rooms/{id}`").into_response()
}

async fn post_message(State(rooms): State<Rooms>, Path(id): Path<String>, Json(body): Json<PostBody>) -> Response {
    let Some(name) = room_name(&id) else { return bad_room() };
    let room = rooms.get(&name);
    let mut last = room.last.lock().unwrap_or_else(|p| p.into_inner());
    let sequence = *last + 1;
    let message = ChatMessage {
        name: format!("{name}/messages/{sequence}"),
        room: &name,
        author: &body.author,
        text: &body.text,
        sequence: sequence.to_string(),
        post_time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
    };
    let json = match serde_json::to_string(&message) {
        Ok(json) => json,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    *last = sequence;
    // No subscriber is not an error.
    let _ = room.tx.send(Arc::new(Posted { sequence, json: json.clone() }));
    drop(last);
    ([(header::CONTENT_TYPE, "application/json")], json).into_response()
}

/// A subscription's messages until the subscriber falls more than `CHANNEL` behind.
fn messages(rx: broadcast::Receiver<Arc<Posted>>) -> impl Stream<Item = Arc<Posted>> + Send + 'static {
    futures_util::stream::unfold(rx, |mut rx| async move {
        match rx.recv().await {
            Ok(posted) => Some((posted, rx)),
            Err(_) => None,
        }
    })
}

#[derive(Deserialize)]
struct SubscribeQuery {
    room: String,
}

async fn sse(State(rooms): State<Rooms>, Query(query): Query<SubscribeQuery>) -> Response {
    if query.room.strip_prefix("rooms/").and_then(room_name).is_none() {
        return bad_room();
    }
    // Subscribed before the response's headers go out.
    let rx = rooms.get(&query.room).tx.subscribe();
    let first = futures_util::stream::once(async { Event::default().retry(Duration::from_secs(3)) });
    let events = messages(rx).map(|posted| Event::default().id(posted.sequence.to_string()).data(posted.json.as_str()));
    let events = first.chain(events).map(Ok::<_, Infallible>);
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response()
}

async fn ws(State(app): State<App>, upgrade: WebSocketUpgrade) -> Response {
    let mut upgrade = upgrade.protocols(["apigen.v1"]);
    if let Some(size) = app.ws_read_buffer {
        upgrade = upgrade.read_buffer_size(size);
    }
    upgrade.on_upgrade(move |socket| socket_loop(socket, app.rooms))
}

fn text(frame: String) -> Message {
    Message::Text(frame.into())
}

fn error_frame(id: &str, code: &str, message: &str) -> Message {
    let payload = serde_json::json!({"code": code, "message": message});
    text(serde_json::json!({"type": "error", "id": id, "payload": payload}).to_string())
}

/// A subscription's messages tagged with its id, then `None` when it ends.
type Call = BoxStream<'static, (Arc<str>, Option<Arc<Posted>>)>;

/// What the reader asks the writer.
enum Control {
    Send(Message),
    Subscribe(Arc<str>, broadcast::Receiver<Arc<Posted>>),
    Cancel(String),
}

/// One socket: a reader task (frames in) and a writer (every frame out, each
/// subscription read straight from its broadcast channel), as axum's docs
/// suggest for reading and writing at once.
async fn socket_loop(socket: WebSocket, rooms: Rooms) {
    let (mut sink, stream) = socket.split();
    let (control, mut controls) = tokio::sync::mpsc::channel(16);
    let reader = tokio::spawn(read(stream, control, rooms));
    let mut calls: SelectAll<Call> = SelectAll::new();
    let mut running: HashMap<Arc<str>, AbortHandle> = HashMap::new();
    loop {
        let outgoing = tokio::select! {
            control = controls.recv() => match control {
                Some(Control::Send(message)) => message,
                Some(Control::Subscribe(id, rx)) => {
                    if running.contains_key(&id) {
                        error_frame(&id, "already_exists", "a call with this id is running")
                    } else {
                        let (handle, registration) = AbortHandle::new_pair();
                        running.insert(Arc::clone(&id), handle);
                        // `None` once the subscription ends (lagged), so its id is freed.
                        let stream = Abortable::new(messages(rx), registration)
                            .map(Some)
                            .chain(futures_util::stream::once(async { None }))
                            .map(move |posted| (Arc::clone(&id), posted));
                        calls.push(stream.boxed());
                        continue;
                    }
                }
                Some(Control::Cancel(id)) => {
                    if let Some(handle) = running.remove(id.as_str()) {
                        handle.abort();
                    }
                    continue;
                }
                None => break, // the reader is done: the client left or misbehaved
            },
            Some((id, posted)) = calls.next(), if !calls.is_empty() => match posted {
                Some(posted) => {
                    // The id was checked to be a JSON string when it came in.
                    let id = serde_json::to_string(&*id).unwrap_or_default();
                    text(format!(r#"{{"type":"next","id":{id},"payload":{}}}"#, posted.json))
                }
                None => {
                    if running.remove(&id).is_none() {
                        continue; // cancelled
                    }
                    error_frame(&id, "resource_exhausted", "the subscriber fell behind")
                }
            },
        };
        if sink.send(outgoing).await.is_err() {
            break;
        }
    }
    reader.abort();
    let _ = sink.close().await;
}

/// Reads frames until the client leaves or sends a frame out of protocol.
async fn read(
    mut stream: futures_util::stream::SplitStream<WebSocket>,
    control: tokio::sync::mpsc::Sender<Control>,
    rooms: Rooms,
) {
    let mut acked = false;
    while let Some(Ok(incoming)) = stream.next().await {
        let frame = match incoming {
            Message::Text(frame) => frame,
            Message::Close(_) => return,
            _ => continue,
        };
        let Ok(Value::Object(frame)) = serde_json::from_str::<Value>(frame.as_str()) else { return };
        let id = frame.get("id").and_then(Value::as_str).unwrap_or_default();
        let request = match frame.get("type").and_then(Value::as_str) {
            Some("connection_init") if !acked => {
                acked = true;
                Control::Send(text(r#"{"type":"connection_ack"}"#.to_owned()))
            }
            Some("ping") => Control::Send(text(r#"{"type":"pong"}"#.to_owned())),
            Some("pong") => continue,
            Some("subscribe") if acked => {
                let room = frame.get("payload").and_then(|p| p.get("room")).and_then(Value::as_str);
                match (frame.get("method").and_then(Value::as_str), room) {
                    (Some(SUBSCRIBE), Some(room)) if room.starts_with("rooms/") => {
                        Control::Subscribe(id.into(), rooms.get(room).tx.subscribe())
                    }
                    (Some(SUBSCRIBE), _) => {
                        Control::Send(error_frame(id, "invalid_argument", "`room` must be `rooms/{id}`"))
                    }
                    _ => Control::Send(error_frame(id, "unimplemented", "only chat.v1.Chat/Subscribe is served")),
                }
            }
            Some("cancel") if acked => Control::Cancel(id.to_owned()),
            _ => return, // a malformed or unexpected frame closes the socket
        };
        if control.send(request).await.is_err() {
            return;
        }
    }
}

/// `--addr HOST:PORT`, and `--ws-read-buffer BYTES` (default: axum's, 128 KiB).
struct Args {
    addr: String,
    ws_read_buffer: Option<usize>,
}

fn args() -> Result<Args, String> {
    const USAGE: &str = "usage: stream-baseline [--addr HOST:PORT] [--ws-read-buffer BYTES]";
    let mut parsed = Args { addr: "127.0.0.1:8081".to_owned(), ws_read_buffer: None };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (arg.clone(), None),
        };
        let mut value = || inline.clone().or_else(|| args.next()).ok_or(format!("{name} needs a value; {USAGE}"));
        match name.as_str() {
            "--addr" => parsed.addr = value()?,
            "--ws-read-buffer" => {
                let v = value()?;
                parsed.ws_read_buffer = Some(v.parse().map_err(|_| format!("--ws-read-buffer: `{v}` is not a size"))?);
            }
            _ => return Err(format!("unknown argument `{arg}`; {USAGE}")),
        }
    }
    Ok(parsed)
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let Args { addr, ws_read_buffer } = args()?;
    let listener = tokio::net::TcpListener::bind(&addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    if !local.ip().is_loopback() {
        return Err(format!("{local} is not a loopback address: the baseline listens on 127.0.0.1 only"));
    }
    // As apigen's servers: TCP_NODELAY, so small frames go out at once.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let app = Router::new()
        .route("/v1/rooms/{id}/messages", post(post_message))
        .route("/sse/chat.v1.Chat/Subscribe", get(sse))
        .route("/ws", get(ws))
        .with_state(App { rooms: Rooms::default(), ws_read_buffer });
    println!("listening on http://{local}");
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
    // SIGTERM or Ctrl-C ends the process at once: open streams do not hold it up.
    tokio::select! {
        served = axum::serve(listener, app) => served.map_err(|e| e.to_string()),
        _ = terminate.recv() => Ok(()),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
