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

/// A server for `rooms` on `listener` until `stop` fires; returns when it has stopped.
fn serve_until(
    rooms: chat_example::Rooms,
    listener: tokio::net::TcpListener,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> tokio::task::JoinHandle<std::io::Result<()>> {
    let server = Server::builder().add_service(v1::chat_service(rooms));
    tokio::spawn(server.serve(listener, async move {
        let _ = stop.await;
    }))
}

async fn next(stream: &mut apigen_runtime::ResponseStream<v1::ChatMessage>) -> apigen_runtime::Result<v1::ChatMessage> {
    tokio::time::timeout(Duration::from_secs(10), stream.next()).await.expect("in time").expect("a message")
}

fn post(room: &str, text: &str) -> v1::PostMessageRequest {
    v1::PostMessageRequest { room: room.to_owned(), author: "ada".to_owned(), text: text.to_owned() }
}

#[tokio::test]
async fn the_rust_sse_client_reconnects_and_resumes_after_the_last_event() {
    // Two servers on one address, one after the other, sharing rooms: as two
    // instances behind a load balancer share them through Redis.
    let rooms = chat_example::Rooms::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop_first, stopped) = tokio::sync::oneshot::channel();
    let first = serve_until(rooms.clone(), listener, stopped);
    let base = format!("http://{addr}");
    let rest = v1::ChatRestClient::new(base.clone());

    let client = apigen_runtime::client::sse::Client::new(base);
    let request = v1::SubscribeRequest { room: "rooms/resume".to_owned() };
    let mut stream =
        client.subscribe::<_, v1::ChatMessage>("chat.v1.Chat/Subscribe", &request).await.expect("subscribes");
    for text in ["one", "two"] {
        rest.post_message(post("rooms/resume", text)).await.expect("posts");
    }
    let got: Vec<u64> =
        vec![next(&mut stream).await.expect("ok").sequence, next(&mut stream).await.expect("ok").sequence];
    assert_eq!(got, [1, 2]);

    // The first server goes away; a message is posted while no server runs.
    stop_first.send(()).expect("stops");
    first.await.expect("joins").expect("served");
    let ctx = apigen_runtime::Context::new(apigen_runtime::Protocol::Grpc);
    v1::Chat::post_message(&rooms, ctx, post("rooms/resume", "three")).await.expect("posts");

    let listener = tokio::net::TcpListener::bind(addr).await.expect("the same address again");
    let (_stop_second, stopped) = tokio::sync::oneshot::channel();
    serve_until(rooms.clone(), listener, stopped);
    let third = next(&mut stream).await.expect("resumes");
    assert_eq!((third.sequence, third.text.as_str()), (3, "three"), "the missed message, once");
    rest.post_message(post("rooms/resume", "four")).await.expect("posts");
    assert_eq!(next(&mut stream).await.expect("live again").sequence, 4);
}
