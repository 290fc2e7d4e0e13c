//! WebSocket (`/ws`, subprotocol `apigen.v1`): the typed client over every
//! bookstore method kind, many calls on one socket, per-call errors, and the
//! protocol itself frame by frame (close codes, pings, cancel, slow readers,
//! shutdown).

use std::net::SocketAddr;
use std::time::Duration;

use apigen_runtime::client::ws::Client;
use apigen_runtime::futures::{SinkExt, StreamExt};
use apigen_runtime::server::WebSocketConfig as Config;
use apigen_runtime::{BearerToken, Code, Server};
use bookstore_example::v1;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const WAIT: Duration = Duration::from_secs(10);

fn server() -> Server {
    Server::builder().add_service(v1::bookstore_service(bookstore_example::Store::default()))
}

async fn start(server: Server) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(server.serve(listener, std::future::pending()));
    addr
}

async fn client(addr: SocketAddr) -> Client {
    Client::connect(&format!("ws://{addr}/ws"), std::iter::empty::<(String, String)>()).await.expect("connects")
}

async fn shelf(client: &Client, theme: &str) -> v1::Shelf {
    let request = v1::CreateShelfRequest { shelf: Some(v1::Shelf { theme: theme.into(), ..Default::default() }) };
    client.unary("bookstore.v1.Bookstore/CreateShelf", &request).await.expect("a shelf")
}

fn book_request(parent: &str, title: &str) -> v1::CreateBookRequest {
    v1::CreateBookRequest { parent: parent.into(), book: Some(v1::Book { title: title.into(), ..Default::default() }) }
}

#[tokio::test]
async fn unary_calls_and_their_errors() {
    let addr = start(server()).await;
    let client = client(addr).await;
    let created = shelf(&client, "Sockets").await;
    assert!(created.name.starts_with("shelves/"), "{created:?}");

    let got: v1::Shelf = client
        .unary("bookstore.v1.Bookstore/GetShelf", &v1::GetShelfRequest { name: created.name.clone() })
        .await
        .expect("the shelf");
    assert_eq!(got.theme, "Sockets");

    let missing = client
        .unary::<_, v1::Shelf>("bookstore.v1.Bookstore/GetShelf", &v1::GetShelfRequest { name: "shelves/999".into() })
        .await
        .expect_err("no such shelf");
    assert_eq!(missing.code(), Code::NotFound, "{missing}");

    let invalid = client
        .unary::<_, v1::Shelf>("bookstore.v1.Bookstore/CreateShelf", &v1::CreateShelfRequest::default())
        .await
        .expect_err("a shelf is required");
    assert_eq!(invalid.code(), Code::InvalidArgument, "{invalid}");
    assert!(invalid.message().contains("shelf"), "{invalid}");

    let unknown = client
        .unary::<_, v1::Shelf>("bookstore.v1.Bookstore/Nope", &v1::GetShelfRequest::default())
        .await
        .expect_err("no such method");
    assert_eq!(unknown.code(), Code::Unimplemented, "{unknown}");

    // Errors never close the socket.
    let again: v1::Shelf = client
        .unary("bookstore.v1.Bookstore/GetShelf", &v1::GetShelfRequest { name: created.name })
        .await
        .expect("the socket still works");
    assert_eq!(again.theme, "Sockets");
}

/// Creates books until the watch sees one: the watch's subscription starts
/// when its method runs, which the client cannot observe.
async fn first_event(client: &Client, parent: &str, events: &mut apigen_runtime::ResponseStream<v1::ShelfEvent>) {
    for attempt in 0..50 {
        let _: v1::Book = client
            .unary("bookstore.v1.Bookstore/CreateBook", &book_request(parent, &format!("warm-up {attempt}")))
            .await
            .expect("a book");
        if let Ok(event) = tokio::time::timeout(Duration::from_millis(200), events.next()).await {
            event.expect("an event").expect("not an error");
            return;
        }
    }
    panic!("the watch never saw a book");
}

#[tokio::test]
async fn watch_shelf_streams_events_and_import_books_streams_requests() {
    let addr = start(server()).await;
    let client = client(addr).await;
    let shelf = shelf(&client, "Streams").await;
    let mut events = client
        .server_streaming::<_, v1::ShelfEvent>(
            "bookstore.v1.Bookstore/WatchShelf",
            &v1::WatchShelfRequest { name: shelf.name.clone() },
        )
        .await
        .expect("a stream");
    first_event(&client, &shelf.name, &mut events).await;

    let imports: Vec<_> = (0..3)
        .map(|i| v1::ImportBooksRequest {
            parent: shelf.name.clone(),
            book: Some(v1::Book { title: format!("Imported {i}"), ..Default::default() }),
        })
        .collect();
    let imported: v1::ImportBooksResponse = client
        .client_streaming("bookstore.v1.Bookstore/ImportBooks", apigen_runtime::futures::stream::iter(imports))
        .await
        .expect("imported");
    assert_eq!(imported.imported_count, 3);
    for i in 0..3 {
        let event = tokio::time::timeout(WAIT, events.next()).await.expect("in time").expect("an event").expect("ok");
        assert_eq!(event.kind, v1::shelf_event::Kind::BookAdded as i32);
        assert_eq!(event.book.expect("a book").title, format!("Imported {i}"));
    }

    // An import into a missing shelf fails as a whole; an empty import imports nothing.
    let bad = vec![v1::ImportBooksRequest {
        parent: "shelves/999".into(),
        book: Some(v1::Book { title: "Lost".into(), ..Default::default() }),
    }];
    let err = client
        .client_streaming::<_, v1::ImportBooksResponse>(
            "bookstore.v1.Bookstore/ImportBooks",
            apigen_runtime::futures::stream::iter(bad),
        )
        .await
        .expect_err("no such shelf");
    assert_eq!(err.code(), Code::NotFound, "{err}");
    let none: v1::ImportBooksResponse = client
        .client_streaming(
            "bookstore.v1.Bookstore/ImportBooks",
            apigen_runtime::futures::stream::iter(Vec::<v1::ImportBooksRequest>::new()),
        )
        .await
        .expect("an empty import");
    assert_eq!(none.imported_count, 0);

    // Deleting the shelf ends its watch.
    let _: apigen_runtime::wkt::Empty = client
        .unary("bookstore.v1.Bookstore/DeleteShelf", &v1::DeleteShelfRequest { name: shelf.name, force: true })
        .await
        .expect("deleted");
    let rest: Vec<_> = tokio::time::timeout(WAIT, events.collect::<Vec<_>>()).await.expect("the watch ends");
    assert!(rest.iter().all(Result::is_ok), "{rest:?}");
}

#[tokio::test]
async fn many_calls_run_at_once_on_one_socket() {
    let addr = start(server()).await;
    let client = client(addr).await;
    let shelf = shelf(&client, "Busy").await;
    let mut watch = client
        .server_streaming::<_, v1::ShelfEvent>(
            "bookstore.v1.Bookstore/WatchShelf",
            &v1::WatchShelfRequest { name: shelf.name.clone() },
        )
        .await
        .expect("a stream");
    first_event(&client, &shelf.name, &mut watch).await;

    let calls = (0..60).map(|i| {
        let (client, parent) = (client.clone(), shelf.name.clone());
        async move {
            if i % 10 == 9 {
                // Failures in the mix, each for its own call only.
                let err = client
                    .unary::<_, v1::Book>(
                        "bookstore.v1.Bookstore/GetBook",
                        &v1::GetBookRequest { name: format!("{parent}/books/999{i}") },
                    )
                    .await
                    .expect_err("no such book");
                assert_eq!(err.code(), Code::NotFound);
                None
            } else {
                let book: v1::Book = client
                    .unary("bookstore.v1.Bookstore/CreateBook", &book_request(&parent, &format!("Book {i}")))
                    .await
                    .expect("a book");
                assert_eq!(book.title, format!("Book {i}"));
                Some(book.name)
            }
        }
    });
    let names: Vec<String> = apigen_runtime::futures::future::join_all(calls).await.into_iter().flatten().collect();
    assert_eq!(names.len(), 54);
    let unique: std::collections::BTreeSet<_> = names.iter().collect();
    assert_eq!(unique.len(), 54, "every book got its own name");

    // The watch saw all of them, interleaved with the calls.
    let mut titles = std::collections::BTreeSet::new();
    while titles.len() < 54 {
        let event = tokio::time::timeout(WAIT, watch.next()).await.expect("in time").expect("an event").expect("ok");
        titles.insert(event.book.expect("a book").title);
    }
}

// ---------------------------------------------------------------------------
// The protocol, frame by frame.

type Raw = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn raw_with(addr: SocketAddr, headers: &[(&'static str, &str)]) -> Raw {
    let mut request = format!("ws://{addr}/ws").into_client_request().expect("a request");
    request.headers_mut().insert("sec-websocket-protocol", "apigen.v1".parse().expect("a header"));
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.parse().expect("a header"));
    }
    let (socket, response) = tokio_tungstenite::connect_async(request).await.expect("upgrades");
    assert_eq!(response.headers()["sec-websocket-protocol"], "apigen.v1");
    socket
}

async fn raw(addr: SocketAddr) -> Raw {
    raw_with(addr, &[]).await
}

async fn send(socket: &mut Raw, frame: Value) {
    socket.send(Message::text(frame.to_string())).await.expect("sends");
}

/// The next JSON frame.
async fn recv(socket: &mut Raw) -> Value {
    loop {
        match tokio::time::timeout(WAIT, socket.next()).await.expect("a frame in time") {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(text.as_str()).expect("JSON"),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

async fn init(socket: &mut Raw) {
    send(socket, json!({"type": "connection_init"})).await;
    assert_eq!(recv(socket).await, json!({"type": "connection_ack"}));
}

/// Reads until the server's close frame: its code and reason.
async fn closed(socket: &mut Raw) -> (u16, String) {
    loop {
        match tokio::time::timeout(WAIT, socket.next()).await.expect("closed in time") {
            Some(Ok(Message::Close(Some(frame)))) => return (u16::from(frame.code), frame.reason.to_string()),
            Some(Ok(Message::Close(None))) | None => panic!("closed without a code"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("the socket failed before its close frame: {e}"),
        }
    }
}

#[tokio::test]
async fn frames_follow_the_contract() {
    let addr = start(server()).await;
    let mut socket = raw(addr).await;
    send(&mut socket, json!({"type": "ping"})).await;
    assert_eq!(recv(&mut socket).await, json!({"type": "pong"}), "pings are answered even before the ack");
    init(&mut socket).await;
    let theme = json!({"shelf": {"theme": "Frames"}});
    send(
        &mut socket,
        json!({"type": "subscribe", "id": "a", "method": "bookstore.v1.Bookstore/CreateShelf", "payload": theme}),
    )
    .await;
    let next = recv(&mut socket).await;
    assert_eq!((next["type"].as_str(), next["id"].as_str()), (Some("next"), Some("a")), "{next}");
    assert_eq!(next["payload"]["theme"], "Frames");
    assert_eq!(next["payload"]["bookCount"], Value::Null, "proto3 JSON leaves defaults out");
    assert_eq!(recv(&mut socket).await, json!({"type": "complete", "id": "a"}));

    // The same id again, now that the first call is done; then an error.
    send(&mut socket, json!({"type": "subscribe", "id": "a", "method": "bookstore.v1.Bookstore/GetShelf", "payload": {"name": "shelves/404"}})).await;
    let error = recv(&mut socket).await;
    assert_eq!((error["type"].as_str(), error["id"].as_str()), (Some("error"), Some("a")), "{error}");
    assert_eq!(error["payload"]["code"], "not_found");
    assert!(error["payload"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{error}");

    // A request with a field of the wrong type names the field.
    send(&mut socket, json!({"type": "subscribe", "id": "b", "method": "bookstore.v1.Bookstore/ListShelves", "payload": {"pageSize": "many"}})).await;
    let error = recv(&mut socket).await;
    assert_eq!(error["payload"]["code"], "invalid_argument", "{error}");
    assert!(error["payload"]["message"].as_str().unwrap_or_default().contains("pageSize"), "{error}");

    // A client stream: the subscribe's payload is the first request, `next` adds more, `complete` ends it.
    send(&mut socket, json!({"type": "subscribe", "id": "c", "method": "bookstore.v1.Bookstore/CreateShelf", "payload": {"shelf": {"theme": "Imports"}}})).await;
    let shelf = recv(&mut socket).await["payload"]["name"].as_str().expect("a name").to_owned();
    assert_eq!(recv(&mut socket).await["type"], "complete");
    let book = |title: &str| json!({"parent": shelf, "book": {"title": title}});
    send(
        &mut socket,
        json!({"type": "subscribe", "id": "d", "method": "bookstore.v1.Bookstore/ImportBooks", "payload": book("one")}),
    )
    .await;
    send(&mut socket, json!({"type": "next", "id": "d", "payload": book("two")})).await;
    send(&mut socket, json!({"type": "complete", "id": "d"})).await;
    let next = recv(&mut socket).await;
    assert_eq!(next["payload"]["importedCount"], 2, "{next}");
    assert_eq!(recv(&mut socket).await, json!({"type": "complete", "id": "d"}));

    // `next` for a unary call fails that call only.
    send(&mut socket, json!({"type": "subscribe", "id": "e", "method": "bookstore.v1.Bookstore/WatchShelf", "payload": {"name": shelf}})).await;
    send(&mut socket, json!({"type": "next", "id": "e", "payload": {}})).await;
    let error = recv(&mut socket).await;
    assert_eq!(
        (error["id"].as_str(), error["payload"]["code"].as_str()),
        (Some("e"), Some("invalid_argument")),
        "{error}"
    );
    send(&mut socket, json!({"type": "ping"})).await;
    assert_eq!(recv(&mut socket).await, json!({"type": "pong"}));
}

#[tokio::test]
async fn cancel_ends_a_call_and_frees_its_id() {
    let addr = start(server()).await;
    let client = client(addr).await;
    let shelf = shelf(&client, "Cancel").await;
    let mut socket = raw(addr).await;
    init(&mut socket).await;
    let watch = json!({"type": "subscribe", "id": "w", "method": "bookstore.v1.Bookstore/WatchShelf", "payload": {"name": shelf.name}});
    send(&mut socket, watch.clone()).await;
    send(&mut socket, json!({"type": "cancel", "id": "w"})).await;
    // The id is free at once, and the cancelled call sends nothing more.
    send(&mut socket, watch).await;
    let mut seen = None;
    for attempt in 0..50 {
        let _: v1::Book = client
            .unary("bookstore.v1.Bookstore/CreateBook", &book_request(&shelf.name, &format!("c{attempt}")))
            .await
            .expect("a book");
        if let Ok(Some(Ok(Message::Text(text)))) = tokio::time::timeout(Duration::from_millis(200), socket.next()).await
        {
            seen = Some(serde_json::from_str::<Value>(text.as_str()).expect("JSON"));
            break;
        }
    }
    let seen = seen.expect("the second watch sees books");
    assert_eq!((seen["type"].as_str(), seen["id"].as_str()), (Some("next"), Some("w")), "{seen}");
    send(&mut socket, json!({"type": "cancel", "id": "w"})).await;
    send(&mut socket, json!({"type": "ping"})).await;
    // Frames the cancelled call had queued may come first; nothing after the pong.
    loop {
        let frame = recv(&mut socket).await;
        if frame["type"] == "pong" {
            break;
        }
        assert_eq!(frame["type"], "next", "{frame}");
    }
}

#[tokio::test]
async fn malformed_frames_close_with_4400() {
    let addr = start(server()).await;
    for (before_ack, frame) in [
        (false, Message::text("not json")),
        (false, Message::text(r#"{"type":"connection_ack"}"#)),
        (false, Message::text(r#"{"type":"subscribe","method":"bookstore.v1.Bookstore/ListShelves"}"#)),
        (false, Message::text(r#"{"type":"connection_init"}"#)),
        (false, Message::binary(b"{}".to_vec())),
        (true, Message::text(r#"{"type":"subscribe","id":"1","method":"bookstore.v1.Bookstore/ListShelves"}"#)),
    ] {
        let mut socket = raw(addr).await;
        if !before_ack {
            init(&mut socket).await;
        }
        socket.send(frame.clone()).await.expect("sends");
        let (code, reason) = closed(&mut socket).await;
        assert_eq!(code, 4400, "{frame:?}: {reason}");
        assert!(!reason.is_empty(), "the reason says what was wrong");
    }
}

#[tokio::test]
async fn close_codes_4408_4409_4429_and_1009() {
    let config = Config { init_timeout: Duration::from_millis(200), max_calls: 2, ..Config::default() };
    let addr = start(server().websocket(config).max_message_size(64 * 1024)).await;

    let mut socket = raw(addr).await;
    let started = std::time::Instant::now();
    assert_eq!(closed(&mut socket).await.0, 4408);
    assert!(started.elapsed() >= Duration::from_millis(150), "{:?}", started.elapsed());

    let client = client(addr).await;
    let shelf = shelf(&client, "Limits").await;
    let watch = |id: &str| json!({"type": "subscribe", "id": id, "method": "bookstore.v1.Bookstore/WatchShelf", "payload": {"name": shelf.name}});
    let mut socket = raw(addr).await;
    init(&mut socket).await;
    send(&mut socket, watch("1")).await;
    send(&mut socket, watch("1")).await;
    assert_eq!(closed(&mut socket).await.0, 4409);

    let mut socket = raw(addr).await;
    init(&mut socket).await;
    send(&mut socket, watch("1")).await;
    send(&mut socket, watch("2")).await;
    send(&mut socket, watch("3")).await;
    let (code, reason) = closed(&mut socket).await;
    assert_eq!(code, 4429, "{reason}");

    let mut socket = raw(addr).await;
    init(&mut socket).await;
    let big = "x".repeat(64 * 1024);
    send(&mut socket, json!({"type": "subscribe", "id": "1", "method": "bookstore.v1.Bookstore/ListShelves", "payload": {"pageToken": big}})).await;
    let (code, reason) = closed(&mut socket).await;
    assert_eq!(code, 1009, "{reason}");
    assert!(reason.contains("65536"), "{reason}");

    // Past twice the limit the server stops at the frame's header; the close still comes.
    let mut socket = raw(addr).await;
    init(&mut socket).await;
    socket.send(Message::text("y".repeat(200 * 1024))).await.expect("sends");
    assert_eq!(closed(&mut socket).await.0, 1009);
}

#[tokio::test]
async fn connection_init_authenticates() {
    let addr = start(server().authenticator(BearerToken::new("s3cret"))).await;

    let mut socket = raw(addr).await;
    send(&mut socket, json!({"type": "connection_init", "payload": {"authorization": "Bearer wrong"}})).await;
    let (code, reason) = closed(&mut socket).await;
    assert_eq!(code, 4401, "{reason}");

    let mut socket = raw(addr).await;
    send(&mut socket, json!({"type": "connection_init"})).await;
    assert_eq!(closed(&mut socket).await.0, 4401);

    // In the payload (browsers), or as an upgrade header. The header wins: a payload only
    // fills in what the upgrade (or a proxy in front of the server) did not set.
    let mut socket = raw(addr).await;
    send(&mut socket, json!({"type": "connection_init", "payload": {"authorization": "Bearer s3cret"}})).await;
    assert_eq!(recv(&mut socket).await["type"], "connection_ack");
    let mut socket = raw_with(addr, &[("authorization", "Bearer s3cret")]).await;
    init(&mut socket).await;
    let mut socket = raw_with(addr, &[("authorization", "Bearer s3cret")]).await;
    send(&mut socket, json!({"type": "connection_init", "payload": {"authorization": "Bearer wrong"}})).await;
    assert_eq!(recv(&mut socket).await["type"], "connection_ack", "the header wins over the payload");
    let mut socket = raw_with(addr, &[("authorization", "Bearer wrong")]).await;
    send(&mut socket, json!({"type": "connection_init", "payload": {"authorization": "Bearer s3cret"}})).await;
    assert_eq!(closed(&mut socket).await.0, 4401, "a payload cannot replace a header");

    let err =
        Client::connect(&format!("ws://{addr}/ws"), [("authorization", "Bearer nope")]).await.expect_err("refused");
    assert_eq!(err.code(), Code::Unauthenticated, "{err}");
    let client =
        Client::connect(&format!("ws://{addr}/ws"), [("authorization", "Bearer s3cret")]).await.expect("accepted");
    shelf(&client, "Authenticated").await;
}

#[tokio::test]
async fn the_subprotocol_is_required() {
    let addr = start(server()).await;
    let request = format!("ws://{addr}/ws").into_client_request().expect("a request");
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 400);
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned();
            assert!(body.contains("apigen.v1"), "{body}");
        }
        other => panic!("expected 400, got {other:?}"),
    }
}

#[tokio::test]
async fn the_server_pings_quiet_sockets() {
    let config = Config { keep_alive: Some(Duration::from_millis(100)), ..Config::default() };
    let addr = start(server().websocket(config)).await;
    let mut socket = raw(addr).await;
    init(&mut socket).await;
    assert_eq!(recv(&mut socket).await, json!({"type": "ping"}));
    send(&mut socket, json!({"type": "pong"})).await;
    // And the typed client answers them while it works.
    let client = client(addr).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    shelf(&client, "Pinged").await;
}

/// A client that stops reading while a stream produces: the server keeps at
/// most a few messages for it, fails the call with RESOURCE_EXHAUSTED after
/// the stall timeout, and the socket stays usable.
#[tokio::test]
async fn a_slow_reader_fails_its_call_not_the_server() {
    let config = Config { call_buffer: 4, stall_timeout: Duration::from_millis(300), ..Config::default() };
    let addr = start(server().websocket(config)).await;
    let client = client(addr).await;
    let shelf = shelf(&client, "Slow").await;
    let mut socket = raw(addr).await;
    init(&mut socket).await;
    send(&mut socket, json!({"type": "subscribe", "id": "slow", "method": "bookstore.v1.Bookstore/WatchShelf", "payload": {"name": shelf.name}})).await;
    // The watch must be running before the books come: wait for its first event.
    let mut first = None;
    for attempt in 0..50 {
        let _: v1::Book = client
            .unary("bookstore.v1.Bookstore/CreateBook", &book_request(&shelf.name, &format!("w{attempt}")))
            .await
            .expect("a book");
        if let Ok(Some(Ok(Message::Text(text)))) = tokio::time::timeout(Duration::from_millis(200), socket.next()).await
        {
            first = Some(text);
            break;
        }
    }
    assert!(first.is_some(), "the watch never started");

    // Far more than the socket's buffers hold, while the client reads nothing.
    // The bulk rides in the subtitle: titles are at most 300 characters.
    let mut bulky = book_request(&shelf.name, "Bulky");
    if let Some(book) = bulky.book.as_mut() {
        book.subtitle = Some(apigen_runtime::wkt::StringValue { value: "t".repeat(64 * 1024) });
    }
    const BOOKS: usize = 400;
    for _ in 0..BOOKS {
        let _: v1::Book = client.unary("bookstore.v1.Bookstore/CreateBook", &bulky).await.expect("a book");
    }
    tokio::time::sleep(Duration::from_millis(800)).await;

    let mut delivered = 0;
    let error = loop {
        let frame = recv(&mut socket).await;
        match frame["type"].as_str() {
            Some("next") => delivered += 1,
            Some("error") => break frame,
            _ => panic!("unexpected {frame}"),
        }
    };
    assert_eq!(error["id"], "slow");
    assert_eq!(error["payload"]["code"], "resource_exhausted", "{error}");
    assert!(error["payload"]["message"].as_str().unwrap_or_default().contains("read none"), "{error}");
    assert!(delivered < BOOKS, "the server dropped the call instead of buffering it all ({delivered})");

    // The socket itself is fine.
    send(&mut socket, json!({"type": "subscribe", "id": "after", "method": "bookstore.v1.Bookstore/GetShelf", "payload": {"name": shelf.name}})).await;
    assert_eq!(recv(&mut socket).await["type"], "next");
    assert_eq!(recv(&mut socket).await, json!({"type": "complete", "id": "after"}));
}

#[tokio::test]
async fn shutdown_ends_streams_with_unavailable_and_closes_with_1001() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server().serve(listener, async {
        let _ = stopped.await;
    }));
    // A client that does not reconnect, so that it reports how the stream ended.
    let options = apigen_runtime::client::ws::Options::default().reconnect(None);
    let client = Client::connect_with([format!("ws://{addr}/ws")], || async { Ok(Vec::new()) }, options)
        .await
        .expect("connects");
    let shelf = shelf(&client, "Closing").await;
    let mut events = client
        .server_streaming::<_, v1::ShelfEvent>(
            "bookstore.v1.Bookstore/WatchShelf",
            &v1::WatchShelfRequest { name: shelf.name.clone() },
        )
        .await
        .expect("a stream");
    first_event(&client, &shelf.name, &mut events).await;
    let mut socket = raw(addr).await;
    init(&mut socket).await;

    let _ = stop.send(());
    let end = tokio::time::timeout(WAIT, events.next()).await.expect("in time").expect("an item");
    assert_eq!(end.expect_err("unavailable").code(), Code::Unavailable);
    assert_eq!(closed(&mut socket).await.0, 1001);
    tokio::time::timeout(WAIT, serving).await.expect("the server stops").expect("joins").expect("serves");
}

/// The typed client never lets one unread stream hold up the socket: calls
/// go on, and the stream, once it falls too far behind, ends with
/// RESOURCE_EXHAUSTED after the responses it buffered.
#[tokio::test]
async fn the_client_cancels_a_stream_left_unread() {
    let addr = start(server()).await;
    let client = client(addr).await;
    let shelf = shelf(&client, "Unread").await;
    let mut events = client
        .server_streaming::<_, v1::ShelfEvent>(
            "bookstore.v1.Bookstore/WatchShelf",
            &v1::WatchShelfRequest { name: shelf.name.clone() },
        )
        .await
        .expect("a stream");
    first_event(&client, &shelf.name, &mut events).await;
    let books = apigen_runtime::client::ws::CALL_BUFFER + 50;
    for i in 0..books {
        let _: v1::Book = client
            .unary("bookstore.v1.Bookstore/CreateBook", &book_request(&shelf.name, &format!("b{i}")))
            .await
            .expect("calls go on while the stream is unread");
    }
    let mut read = 0;
    let err = loop {
        match tokio::time::timeout(WAIT, events.next()).await.expect("in time").expect("an item") {
            Ok(_) => read += 1,
            Err(err) => break err,
        }
    };
    assert_eq!(err.code(), Code::ResourceExhausted, "{err}");
    assert_eq!(read, apigen_runtime::client::ws::CALL_BUFFER);
    assert!(events.next().await.is_none());
}
