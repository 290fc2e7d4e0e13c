//! The bookstore through the generated typed Connect client: unary calls,
//! errors with their codes, WatchShelf as a stream, and deadlines. A few
//! tests talk to a fake server to see the wire: the timeout header, envelopes
//! split across reads, compressed envelopes, a body cut short.

use std::time::Duration;

use apigen_runtime::prost::Message;
use apigen_runtime::{BearerToken, Code, Server};
use bookstore_example::v1::{self, BookstoreConnectClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn start(token: Option<&str>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut server = Server::builder().add_service(v1::bookstore_service(bookstore_example::Store::default()));
    if let Some(token) = token {
        server = server.authenticator(BearerToken::new(token));
    }
    tokio::spawn(server.serve(listener, std::future::pending()));
    format!("http://{addr}")
}

fn shelf(theme: &str) -> v1::CreateShelfRequest {
    v1::CreateShelfRequest { shelf: Some(v1::Shelf { theme: theme.into(), ..Default::default() }) }
}

fn book(parent: &str, title: &str) -> v1::CreateBookRequest {
    v1::CreateBookRequest {
        parent: parent.into(),
        book: Some(v1::Book { title: title.into(), authors: vec!["A. Author".into()], ..Default::default() }),
    }
}

#[tokio::test]
async fn unary_calls_create_and_get() {
    let c = BookstoreConnectClient::new(start(None).await);
    let created = c.create_shelf(shelf("Connect")).await.expect("created");
    assert!(created.name.starts_with("shelves/"), "{created:?}");
    let got = c.get_shelf(v1::GetShelfRequest { name: created.name.clone() }).await.expect("found");
    assert_eq!((got.name, got.theme), (created.name.clone(), "Connect".to_owned()));
    // The client asks for gzip, so every response here came compressed; a long one too.
    let long = "x".repeat(5000);
    let mut request = book(&created.name, "Long");
    if let Some(b) = request.book.as_mut() {
        b.subtitle = Some(apigen_runtime::wkt::StringValue { value: long.clone() });
    }
    let b = c.create_book(request).await.expect("created");
    assert_eq!(
        c.get_book(v1::GetBookRequest { name: b.name }).await.expect("found").subtitle.map(|s| s.value),
        Some(long)
    );
}

#[tokio::test]
async fn errors_come_back_with_their_code_and_message() {
    let mut c = BookstoreConnectClient::new(start(Some("s3cret")).await);
    let err = c.list_shelves(v1::ListShelvesRequest::default()).await.expect_err("no token");
    assert_eq!(err.code(), Code::Unauthenticated);
    c.headers_mut().insert("authorization", "Bearer s3cret".parse().expect("header"));

    let err = c.get_shelf(v1::GetShelfRequest { name: "shelves/404".into() }).await.expect_err("missing");
    assert_eq!((err.code(), err.message()), (Code::NotFound, "shelf `shelves/404` does not exist"));
    let err = c.create_shelf(shelf("")).await.expect_err("theme is required");
    assert_eq!((err.code(), err.message()), (Code::InvalidArgument, "missing required field `shelf.theme`"));
    let err = c.get_shelf(v1::GetShelfRequest { name: "nope".into() }).await.expect_err("malformed");
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn watch_shelf_streams_events_in_order_then_ends() {
    let base = start(None).await;
    let c = BookstoreConnectClient::new(base.clone());
    let s = c.create_shelf(shelf("Live")).await.expect("created");
    let mut events = c.watch_shelf(v1::WatchShelfRequest { name: s.name.clone() }).await.expect("watching");

    // The stream is subscribed once the call has returned; another task changes the shelf.
    let writer = BookstoreConnectClient::new(base);
    let parent = s.name.clone();
    let changes = tokio::spawn(async move {
        for title in ["One", "Two", "Three"] {
            writer.create_book(book(&parent, title)).await.expect("created");
        }
        writer.delete_shelf(v1::DeleteShelfRequest { name: parent, force: true }).await.expect("deleted");
    });

    let mut seen = Vec::new();
    while let Some(event) = tokio::time::timeout(Duration::from_secs(10), events.next()).await.expect("in time") {
        let event = event.expect("an event");
        let kind = v1::shelf_event::Kind::try_from(event.kind).expect("a kind");
        seen.push((kind, event.book.expect("a book").title));
    }
    changes.await.expect("joins");
    use v1::shelf_event::Kind::{BookAdded, BookRemoved};
    let titles = ["One", "Two", "Three"];
    let expected: Vec<_> = titles
        .iter()
        .map(|t| (BookAdded, t.to_string()))
        .chain(titles.iter().map(|t| (BookRemoved, t.to_string())))
        .collect();
    assert_eq!(seen, expected, "added in order, then removed, then the stream ends");
}

#[tokio::test]
async fn a_stream_on_a_missing_shelf_fails_with_not_found() {
    let c = BookstoreConnectClient::new(start(None).await);
    // Connect carries the error in the end-of-stream message, so it surfaces as the first item.
    let err = match c.watch_shelf(v1::WatchShelfRequest { name: "shelves/404".into() }).await {
        Err(err) => err,
        Ok(mut events) => events.next().await.expect("an item").expect_err("an error"),
    };
    assert_eq!((err.code(), err.message()), (Code::NotFound, "shelf `shelves/404` does not exist"));
}

#[tokio::test]
async fn a_quiet_stream_ends_at_the_deadline() {
    let base = start(None).await;
    let s = BookstoreConnectClient::new(base.clone()).create_shelf(shelf("Quiet")).await.expect("created");
    let c = BookstoreConnectClient::new(base).with_timeout(Duration::from_millis(300));
    let mut events = c.watch_shelf(v1::WatchShelfRequest { name: s.name }).await.expect("watching");
    let err = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("the client gives up")
        .expect("an item")
        .expect_err("no events came");
    assert_eq!(err.code(), Code::DeadlineExceeded);
    assert!(events.next().await.is_none(), "an error ends the stream");
}

/// A server for one call: hands over the request's head and body, then
/// writes the response in `pieces`, pausing between them, and closes after
/// `linger`.
async fn fake(pieces: Vec<Vec<u8>>, linger: Duration) -> (String, tokio::sync::oneshot::Receiver<(String, Vec<u8>)>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accepts");
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        let split = loop {
            let n = stream.read(&mut buf).await.expect("reads");
            assert!(n > 0, "the request ended early");
            request.extend_from_slice(&buf[..n]);
            if let Some(split) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                break split;
            }
        };
        let head = String::from_utf8_lossy(&request[..split]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while request.len() < split + 4 + length {
            let n = stream.read(&mut buf).await.expect("reads");
            assert!(n > 0, "the body ended early");
            request.extend_from_slice(&buf[..n]);
        }
        let _ = tx.send((head, request[split + 4..].to_vec()));
        for piece in pieces {
            if stream.write_all(&piece).await.is_err() {
                return;
            }
            let _ = stream.flush().await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(linger).await;
    });
    (format!("http://{addr}"), rx)
}

fn envelope(flags: u8, data: &[u8]) -> Vec<u8> {
    let mut out = vec![flags];
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
}

fn event(title: &str) -> Vec<u8> {
    v1::ShelfEvent { kind: 1, book: Some(v1::Book { title: title.into(), ..Default::default() }), event_time: None }
        .encode_to_vec()
}

#[tokio::test]
async fn the_deadline_reaches_the_server_as_connect_timeout_ms() {
    // The fake server never answers, so only the deadline ends the call.
    let (base, request) = fake(Vec::new(), Duration::from_secs(60)).await;
    let c = BookstoreConnectClient::new(base).with_timeout(Duration::from_millis(250));
    let hang = c.get_shelf(v1::GetShelfRequest { name: "shelves/1".into() });
    let err =
        tokio::time::timeout(Duration::from_secs(10), hang).await.expect("the client gives up").expect_err("late");
    assert_eq!(err.code(), Code::DeadlineExceeded);
    let (head, body) = request.await.expect("a request");
    assert!(head.starts_with("post /bookstore.v1.bookstore/getshelf http/1.1"), "{head}");
    let expected = [
        "connect-timeout-ms: 250",
        "connect-protocol-version: 1",
        "content-type: application/proto",
        "accept-encoding: gzip",
    ];
    for header in expected {
        assert!(head.contains(header), "{header} in {head}");
    }
    assert_eq!(v1::GetShelfRequest::decode(body.as_slice()).expect("a request").name, "shelves/1");
}

#[tokio::test]
async fn envelopes_may_span_reads_and_come_compressed_and_a_cut_stream_is_internal() {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&event("Second")).expect("compresses");
    let second = envelope(1, &gz.finish().expect("compresses"));
    let first = envelope(0, &event("First"));
    let (head, tail) = first.split_at(3);
    let pieces = vec![
        b"HTTP/1.1 200 OK\r\ncontent-type: application/connect+proto\r\nconnect-content-encoding: gzip\r\nconnection: close\r\n\r\n".to_vec(),
        head.to_vec(),
        tail.to_vec(),
        second,
        // No end-of-stream message: the server just closes.
    ];
    let (base, request) = fake(pieces, Duration::ZERO).await;
    let c = BookstoreConnectClient::new(base);
    let mut events = c.watch_shelf(v1::WatchShelfRequest { name: "shelves/1".into() }).await.expect("a stream");
    let (request_head, body) = request.await.expect("a request");
    assert!(request_head.contains("content-type: application/connect+proto"), "{request_head}");
    assert!(request_head.contains("connect-accept-encoding: gzip"), "{request_head}");
    assert_eq!(body[0], 0, "one uncompressed envelope");
    assert_eq!(v1::WatchShelfRequest::decode(&body[5..]).expect("a request").name, "shelves/1");

    let title = |e: v1::ShelfEvent| e.book.expect("a book").title;
    assert_eq!(title(events.next().await.expect("one").expect("an event")), "First");
    assert_eq!(title(events.next().await.expect("two").expect("an event")), "Second");
    let err = events.next().await.expect("an item").expect_err("no end-of-stream message");
    assert_eq!(err.code(), Code::Internal, "{err}");
    assert!(events.next().await.is_none());
}

#[tokio::test]
async fn an_end_of_stream_error_becomes_the_status() {
    let end = br#"{"error": {"code": "resource_exhausted", "message": "slow down"}}"#;
    let body = [envelope(0, &event("Only")), envelope(2, end)].concat();
    let head =
        format!("HTTP/1.1 200 OK\r\ncontent-type: application/connect+proto\r\ncontent-length: {}\r\n\r\n", body.len());
    let (base, _) = fake(vec![head.into_bytes(), body], Duration::ZERO).await;
    let mut events = BookstoreConnectClient::new(base)
        .watch_shelf(v1::WatchShelfRequest { name: "shelves/1".into() })
        .await
        .expect("a stream");
    assert!(events.next().await.expect("one").is_ok());
    let err = events.next().await.expect("an item").expect_err("the error");
    assert_eq!((err.code(), err.message()), (Code::ResourceExhausted, "slow down"));
    assert!(events.next().await.is_none());
}
