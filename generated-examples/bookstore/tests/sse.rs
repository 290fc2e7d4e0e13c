//! WatchShelf as Server-Sent Events on its google.api.http path.

use std::time::Duration;

use apigen_runtime::Server;
use bookstore_example::v1;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn start() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = Server::builder().add_service(v1::bookstore_service(bookstore_example::Store::default()));
    tokio::spawn(server.serve(listener, std::future::pending()));
    addr
}

async fn send(addr: std::net::SocketAddr, head: &str, body: &str) -> tokio::net::TcpStream {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connects");
    let request =
        format!("{head}\r\nhost: {addr}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
    stream.write_all(request.as_bytes()).await.expect("writes");
    stream
}

async fn call(addr: std::net::SocketAddr, head: &str, body: &str) -> String {
    let mut stream = send(addr, head, body).await;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("reads");
    response
}

#[tokio::test]
async fn watch_shelf_streams_events_then_one_end_event() {
    let addr = start().await;
    call(addr, "POST /v1/shelves HTTP/1.1\r\ncontent-type: application/json", r#"{"theme": "SF"}"#).await;
    let mut events = send(addr, "GET /v1/shelves/1:watch HTTP/1.1\r\naccept: text/event-stream", "").await;
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    // Wait until the stream has started (its `retry:` line) before changing the shelf.
    while !seen.contains("retry:") {
        let n =
            tokio::time::timeout(Duration::from_secs(5), events.read(&mut buf)).await.expect("in time").expect("reads");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    call(addr, "POST /v1/shelves/1/books HTTP/1.1\r\ncontent-type: application/json", r#"{"title": "Dune"}"#).await;
    call(addr, "DELETE /v1/shelves/1?force=true HTTP/1.1", "").await;
    let mut rest = String::new();
    tokio::time::timeout(Duration::from_secs(5), events.read_to_string(&mut rest))
        .await
        .expect("the stream ends")
        .expect("reads");
    seen.push_str(&rest);
    assert!(seen.to_ascii_lowercase().contains("content-type: text/event-stream"), "{seen}");
    assert!(seen.contains("id: 1\ndata: {\"kind\":\"KIND_BOOK_ADDED\""), "{seen}");
    assert!(seen.contains("id: 2\ndata: {\"kind\":\"KIND_BOOK_REMOVED\""), "{seen}");
    assert!(seen.contains("event: end\nid: end\ndata: {}"), "{seen}");
}

#[tokio::test]
async fn reconnecting_after_the_end_is_204_and_plain_requests_are_told_to_accept_events() {
    let addr = start().await;
    let after_end =
        call(addr, "GET /v1/shelves/1:watch HTTP/1.1\r\naccept: text/event-stream\r\nlast-event-id: end", "").await;
    assert!(after_end.starts_with("HTTP/1.1 204"), "{after_end}");
    let plain = call(addr, "GET /v1/shelves/1:watch HTTP/1.1", "").await;
    assert!(plain.starts_with("HTTP/1.1 406") && plain.contains("text/event-stream"), "{plain}");
    let missing = call(addr, "GET /v1/shelves/9:watch HTTP/1.1\r\naccept: text/event-stream", "").await;
    assert!(missing.starts_with("HTTP/1.1 404"), "a failure before the first event is a plain error: {missing}");
}
