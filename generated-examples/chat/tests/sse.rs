//! Chat's Subscribe (no HTTP binding) as Server-Sent Events at /sse/….

use std::time::Duration;

use apigen_runtime::{BearerToken, Server};
use chat_example::v1;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn start(token: Option<&str>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut server = Server::builder().add_service(v1::chat_service(chat_example::Rooms::default()));
    if let Some(token) = token {
        server = server.authenticator(BearerToken::new(token));
    }
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

/// Reads from `stream` until `text` has arrived.
async fn read_until(stream: &mut tokio::net::TcpStream, seen: &mut String, text: &str) {
    let mut buf = [0u8; 4096];
    while !seen.contains(text) {
        let n =
            tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await.expect("in time").expect("reads");
        assert!(n > 0, "the stream ended before {text:?}: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}

#[tokio::test]
async fn subscribe_streams_posted_messages_with_access_token_in_the_query() {
    let addr = start(Some("s3cret")).await;
    let refused = {
        let mut s = send(addr, "GET /sse/chat.v1.Chat/Subscribe?room=rooms%2Flobby HTTP/1.1", "").await;
        let mut text = String::new();
        s.read_to_string(&mut text).await.expect("reads");
        text
    };
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");

    let mut events =
        send(addr, "GET /sse/chat.v1.Chat/Subscribe?room=rooms%2Flobby&access_token=s3cret HTTP/1.1", "").await;
    let mut seen = String::new();
    read_until(&mut events, &mut seen, "retry:").await;
    for text in ["hello", "again"] {
        let body = format!(r#"{{"author": "ada", "text": "{text}"}}"#);
        let mut post = send(
            addr,
            "POST /v1/rooms/lobby/messages HTTP/1.1\r\ncontent-type: application/json\r\nauthorization: Bearer s3cret",
            &body,
        )
        .await;
        let mut reply = String::new();
        post.read_to_string(&mut reply).await.expect("reads");
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    }
    read_until(&mut events, &mut seen, r#""text":"again""#).await;
    assert!(seen.contains("id: 1\ndata: {"), "{seen}");
    assert!(seen.contains(r#""sequence":"1""#) && seen.contains(r#""sequence":"2""#), "{seen}");
}
