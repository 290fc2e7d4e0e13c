//! The Rust WebSocket and GraphQL clients through drops: two chat instances
//! share their rooms through a private redis-server (or, where one server
//! restarts, in process), and the tests stop one, or freeze the network
//! between client and server with a proxy, while messages are posted. The client's stream resumes after its last
//! event id with nothing lost or repeated; a unary call in flight fails with
//! UNAVAILABLE and is not sent again; refused credentials on a reconnection
//! close the WebSocket client for good.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use apigen_runtime::client::ws::{Client, ConnectionState, Options, Reconnect};
use apigen_runtime::{BearerToken, Code, ResponseStream, Server, Status};
use chat_example::v1;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

const WAIT: Duration = Duration::from_secs(10);

/// A chat server for `rooms` on `listener` until `stop` fires or is dropped.
fn serve(
    rooms: chat_example::Rooms,
    listener: tokio::net::TcpListener,
    token: Option<&str>,
) -> (oneshot::Sender<()>, tokio::task::JoinHandle<std::io::Result<()>>) {
    let mut server = Server::builder().add_service(v1::chat_service(rooms));
    if let Some(token) = token {
        server = server.authenticator(BearerToken::new(token));
    }
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(listener, async move {
        let _ = stopped.await;
    }));
    (stop, task)
}

async fn listen() -> (tokio::net::TcpListener, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    (listener, addr)
}

/// Quick to notice a drop and to try again, so the tests take a second, not a minute.
fn options() -> Options {
    Options::default()
        .reconnect(Some(Reconnect {
            initial_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(400),
            max_attempts: None,
        }))
        .heartbeat(Some(Duration::from_millis(300)))
        .ack_timeout(Duration::from_secs(1))
}

async fn next(stream: &mut ResponseStream<v1::ChatMessage>) -> v1::ChatMessage {
    tokio::time::timeout(WAIT, stream.next()).await.expect("in time").expect("a message").expect("not an error")
}

fn post_request(room: &str, text: &str) -> v1::PostMessageRequest {
    v1::PostMessageRequest { room: room.to_owned(), author: "ada".to_owned(), text: text.to_owned() }
}

/// Posts straight into the shared rooms, as another instance's client would.
async fn post(rooms: &chat_example::Rooms, room: &str, text: &str) -> v1::ChatMessage {
    let ctx = apigen_runtime::Context::new(apigen_runtime::Protocol::Grpc);
    v1::Chat::post_message(rooms, ctx, post_request(room, text)).await.expect("posts")
}

async fn history(rooms: &chat_example::Rooms, room: &str) -> Vec<v1::ChatMessage> {
    let ctx = apigen_runtime::Context::new(apigen_runtime::Protocol::Grpc);
    let request = v1::GetHistoryRequest { room: room.to_owned(), limit: 1000 };
    v1::Chat::get_history(rooms, ctx, request).await.expect("history").messages
}

/// Subscribes to `room` from its first message, so that nothing is missed
/// before the subscription is live.
async fn subscribe_from_start(client: &Client, room: &str) -> ResponseStream<v1::ChatMessage> {
    let request = v1::SubscribeRequest { room: room.to_owned() };
    client.server_streaming_after("chat.v1.Chat/Subscribe", &request, Some("0")).await.expect("subscribes")
}

/// Waits until the client's state is `state`.
async fn reaches(states: &mut tokio::sync::watch::Receiver<ConnectionState>, state: ConnectionState) {
    tokio::time::timeout(WAIT, states.wait_for(|s| *s == state)).await.expect("in time").expect("the client lives");
}

/// Every state the client goes through from now on, as it happens.
fn record(client: &Client) -> Arc<std::sync::Mutex<Vec<ConnectionState>>> {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (mut states, log) = (client.states(), Arc::clone(&seen));
    tokio::spawn(async move {
        while states.changed().await.is_ok() {
            let state = *states.borrow_and_update();
            log.lock().expect("unpoisoned").push(state);
        }
    });
    seen
}

/// A private `redis-server` on a loopback port, keeping nothing on disk,
/// stopped when dropped.
struct Redis {
    process: std::process::Child,
    url: String,
}

impl Redis {
    async fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let process = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server starts (install it: apt-get install redis-server)");
        let redis = Redis { process, url: format!("redis://127.0.0.1:{port}") };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return redis;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server did not listen on port {port} within 5 s");
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

#[tokio::test]
async fn a_stream_resumes_on_the_other_instance_after_its_last_event_with_fresh_credentials() {
    // Two instances, each with its own rooms on one Redis, as in production.
    let redis = Redis::start().await;
    let rooms = chat_example::Rooms::redis(&redis.url).await.expect("instance A reaches Redis");
    let rooms_b = chat_example::Rooms::redis(&redis.url).await.expect("instance B reaches Redis");
    let ((first, a), (second, b)) = (listen().await, listen().await);
    let (stop_a, served_a) = serve(rooms.clone(), first, None);
    let _b = serve(rooms_b.clone(), second, None);
    let asked = Arc::new(AtomicUsize::new(0));
    let credentials = {
        let asked = Arc::clone(&asked);
        move || {
            let n = asked.fetch_add(1, Ordering::SeqCst) + 1;
            async move { Ok(vec![("x-attempt".to_owned(), n.to_string())]) }
        }
    };
    let urls = [format!("ws://{a}/ws"), format!("ws://{b}/ws")];
    let client = Client::connect_with(urls, credentials, options()).await.expect("connects");
    let mut states = client.states();
    let seen = record(&client);
    assert_eq!(client.state(), ConnectionState::Open);

    let room = "rooms/resume-ws";
    let mut stream = subscribe_from_start(&client, room).await;
    for text in ["one", "two"] {
        post(&rooms, room, text).await;
    }
    assert_eq!([next(&mut stream).await.sequence, next(&mut stream).await.sequence], [1, 2]);

    // Instance A (the first URL) stops; messages are posted while the client is away.
    stop_a.send(()).expect("stops");
    served_a.await.expect("joins").expect("served");
    for text in ["three", "four"] {
        post(&rooms_b, room, text).await;
    }
    reaches(&mut states, ConnectionState::Open).await;
    let resumed = [next(&mut stream).await, next(&mut stream).await];
    assert_eq!(resumed.each_ref().map(|m| (m.sequence, m.text.as_str())), [(3, "three"), (4, "four")]);
    post(&rooms_b, room, "five").await;
    assert_eq!(next(&mut stream).await.sequence, 5, "live again, nothing repeated");
    assert!(asked.load(Ordering::SeqCst) >= 2, "connection_init asked for credentials again");
    let seen = seen.lock().expect("unpoisoned").clone();
    assert_eq!(seen, [ConnectionState::Reconnecting, ConnectionState::Open], "the states a UI would show");

    // The client works on instance B as before.
    let posted: v1::ChatMessage =
        client.unary("chat.v1.Chat/PostMessage", &post_request(room, "six")).await.expect("posts");
    assert_eq!(posted.sequence, 6);
    assert_eq!(next(&mut stream).await.sequence, 6);
}

/// A TCP proxy that can freeze: while frozen, bytes either way are dropped,
/// as on a network that died without closing anything.
async fn proxy(upstream: SocketAddr) -> (SocketAddr, Arc<AtomicBool>) {
    let (listener, addr) = listen().await;
    let frozen = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&frozen);
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(upstream).await else { continue };
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            tokio::spawn(pipe(client_read, server_write, Arc::clone(&flag)));
            tokio::spawn(pipe(server_read, client_write, Arc::clone(&flag)));
        }
    });
    (addr, frozen)
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            return;
        }
        if !frozen.load(Ordering::SeqCst) && to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn a_dead_connection_is_found_by_heartbeat_and_the_unary_call_in_flight_fails_and_is_not_sent_again() {
    let rooms = chat_example::Rooms::default();
    let (listener, server) = listen().await;
    let _server = serve(rooms.clone(), listener, None);
    let (addr, frozen) = proxy(server).await;
    let no_metadata = || async { Ok(Vec::new()) };
    let client = Client::connect_with([format!("ws://{addr}/ws")], no_metadata, options()).await.expect("connects");
    let mut states = client.states();
    let room = "rooms/in-flight";
    let mut stream = subscribe_from_start(&client, room).await;
    post(&rooms, room, "before").await;
    assert_eq!(next(&mut stream).await.sequence, 1);

    frozen.store(true, Ordering::SeqCst);
    let in_flight: Result<v1::ChatMessage, Status> =
        tokio::time::timeout(WAIT, client.unary("chat.v1.Chat/PostMessage", &post_request(room, "in flight")))
            .await
            .expect("the heartbeat ends the call in time");
    let status = in_flight.expect_err("the connection died under the call");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(client.state(), ConnectionState::Reconnecting);
    // While it reconnects, a new unary call fails at once, unsent.
    let refused: Result<v1::ChatMessage, Status> =
        client.unary("chat.v1.Chat/PostMessage", &post_request(room, "while away")).await;
    assert_eq!(refused.map(|_| ()).map_err(|s| s.code()), Err(Code::Unavailable));

    post(&rooms, room, "while frozen").await;
    frozen.store(false, Ordering::SeqCst);
    reaches(&mut states, ConnectionState::Open).await;
    assert_eq!(next(&mut stream).await.text, "while frozen", "the stream resumed after its last event");
    let after: v1::ChatMessage =
        client.unary("chat.v1.Chat/PostMessage", &post_request(room, "after")).await.expect("posts");
    assert_eq!(next(&mut stream).await.sequence, after.sequence);
    let texts: Vec<String> = history(&rooms, room).await.into_iter().map(|m| m.text).collect();
    assert_eq!(texts, ["before", "while frozen", "after"], "neither call made while away reached the server");
}

#[tokio::test]
async fn refused_credentials_on_a_reconnection_close_the_client_for_good() {
    let rooms = chat_example::Rooms::default();
    let (listener, addr) = listen().await;
    let (stop, served) = serve(rooms.clone(), listener, Some("s3cret"));
    let asked = Arc::new(AtomicUsize::new(0));
    let credentials = {
        let asked = Arc::clone(&asked);
        move || {
            // The first token is good; the one the client gets for its reconnection is not.
            let token = if asked.fetch_add(1, Ordering::SeqCst) == 0 { "s3cret" } else { "expired" };
            async move { Ok(vec![("authorization".to_owned(), format!("Bearer {token}"))]) }
        }
    };
    let client = Client::connect_with([format!("ws://{addr}/ws")], credentials, options()).await.expect("connects");
    let mut states = client.states();
    let request = v1::SubscribeRequest { room: "rooms/refused".to_owned() };
    let mut stream =
        client.server_streaming::<_, v1::ChatMessage>("chat.v1.Chat/Subscribe", &request).await.expect("subscribes");

    stop.send(()).expect("stops");
    served.await.expect("joins").expect("served");
    let listener = tokio::net::TcpListener::bind(addr).await.expect("the same address again");
    let _again = serve(rooms, listener, Some("s3cret"));
    reaches(&mut states, ConnectionState::Closed).await;
    let ended = tokio::time::timeout(WAIT, stream.next()).await.expect("in time").expect("an item");
    assert_eq!(ended.map(|_| ()).map_err(|s| s.code()), Err(Code::Unauthenticated));
    let after: Result<v1::ChatMessage, Status> =
        client.unary("chat.v1.Chat/PostMessage", &post_request("rooms/refused", "no")).await;
    assert_eq!(after.map(|_| ()).map_err(|s| s.code()), Err(Code::Unauthenticated));
}

#[tokio::test]
async fn a_graphql_subscription_resumes_after_its_last_event_when_the_server_comes_back() {
    let rooms = chat_example::Rooms::default();
    let (listener, addr) = listen().await;
    let (stop, served) = serve(rooms.clone(), listener, None);
    let client = v1::ChatGraphqlClient::new(format!("http://{addr}"));
    let room = "rooms/resume-graphql";
    let mut stream = client.subscribe(v1::SubscribeRequest { room: room.to_owned() }).await.expect("subscribes");
    // graphql-transport-ws says nothing when a subscription is live: post until one arrives.
    let first = loop {
        let posted = post(&rooms, room, "warm-up").await;
        if let Ok(Some(got)) = tokio::time::timeout(Duration::from_millis(200), stream.next()).await {
            break got.expect("an event");
        }
        assert!(posted.sequence < 50, "no event for 50 posts");
    };
    let mut last = first.sequence;
    let newest = history(&rooms, room).await.len() as u64;
    while last < newest {
        last = next(&mut stream).await.sequence;
    }

    stop.send(()).expect("stops");
    served.await.expect("joins").expect("served");
    let missed = post(&rooms, room, "missed").await;
    let listener = tokio::net::TcpListener::bind(addr).await.expect("the same address again");
    let _again = serve(rooms.clone(), listener, None);
    let resumed = next(&mut stream).await;
    assert_eq!((resumed.sequence, resumed.text.as_str()), (missed.sequence, "missed"), "the missed message, once");
    let live = post(&rooms, room, "live").await;
    assert_eq!(next(&mut stream).await.sequence, live.sequence);
}
