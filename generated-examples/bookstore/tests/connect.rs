//! The Connect protocol's unary forms at the RPC path: JSON and binary
//! protobuf by POST, GET for NO_SIDE_EFFECTS methods, and its errors.

use apigen_runtime::Server;
use apigen_runtime::prost::Message;
use bookstore_example::v1;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn start() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = Server::builder().add_service(v1::bookstore_service(bookstore_example::Store::default()));
    tokio::spawn(server.serve(listener, std::future::pending()));
    addr
}

/// One HTTP/1.1 exchange: (status line and headers, body).
async fn exchange(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> (String, Vec<u8>) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connects");
    let request = format!("{head}\r\nhost: {addr}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
    stream.write_all(request.as_bytes()).await.expect("writes");
    stream.write_all(body).await.expect("writes");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("reads");
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").expect("a header block");
    (String::from_utf8_lossy(&response[..split]).to_ascii_lowercase(), response[split + 4..].to_vec())
}

#[tokio::test]
async fn unary_calls_in_json_and_binary_and_by_get() {
    let addr = start().await;
    let create = br#"{"shelf": {"theme": "Connect"}}"#;
    let (head, body) = exchange(addr, "POST /bookstore.v1.Bookstore/CreateShelf HTTP/1.1\r\ncontent-type: application/json\r\nconnect-protocol-version: 1", create).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let shelf: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    let name = shelf["name"].as_str().expect("a name").to_owned();

    let request = v1::GetShelfRequest { name: name.clone() }.encode_to_vec();
    let (head, body) =
        exchange(addr, "POST /bookstore.v1.Bookstore/GetShelf HTTP/1.1\r\ncontent-type: application/proto", &request)
            .await;
    assert!(head.contains("content-type: application/proto"), "{head}");
    assert_eq!(v1::Shelf::decode(body.as_slice()).expect("a Shelf").theme, "Connect");

    let message = format!("%7B%22name%22%3A%22{}%22%7D", name.replace('/', "%2F"));
    let (head, body) = exchange(
        addr,
        &format!("GET /bookstore.v1.Bookstore/GetShelf?connect=v1&encoding=json&message={message} HTTP/1.1"),
        b"",
    )
    .await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).expect("JSON")["theme"], "Connect");

    use apigen_runtime::pbjson::private::base64::engine::{Engine, general_purpose::URL_SAFE_NO_PAD};
    let b64 = URL_SAFE_NO_PAD.encode(v1::GetShelfRequest { name }.encode_to_vec());
    let (head, body) = exchange(
        addr,
        &format!("GET /bookstore.v1.Bookstore/GetShelf?connect=v1&encoding=proto&base64=1&message={b64} HTTP/1.1"),
        b"",
    )
    .await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(v1::Shelf::decode(body.as_slice()).expect("a Shelf").theme, "Connect");
}

#[tokio::test]
async fn connect_errors_have_connect_form() {
    let addr = start().await;
    let (head, body) = exchange(
        addr,
        "POST /bookstore.v1.Bookstore/GetShelf HTTP/1.1\r\ncontent-type: application/json",
        br#"{"name": "shelves/404"}"#,
    )
    .await;
    assert!(head.starts_with("http/1.1 404"), "{head}");
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).expect("JSON")["code"], "not_found");

    let (head, _) =
        exchange(addr, "GET /bookstore.v1.Bookstore/CreateShelf?connect=v1&encoding=json&message=%7B%7D HTTP/1.1", b"")
            .await;
    assert!(head.starts_with("http/1.1 405") && head.contains("allow: post"), "mutations are not GETs: {head}");

    let (head, _) =
        exchange(addr, "POST /bookstore.v1.Bookstore/GetShelf HTTP/1.1\r\ncontent-type: text/xml", b"<x/>").await;
    assert!(head.starts_with("http/1.1 415") && head.contains("accept-post"), "{head}");

    let (head, _) = exchange(addr, "POST /bookstore.v1.Bookstore/GetShelf HTTP/1.1\r\ncontent-type: application/json\r\nconnect-protocol-version: 2", b"{}").await;
    assert!(head.starts_with("http/1.1 400"), "{head}");
}

#[tokio::test]
async fn connect_streams_end_with_unavailable_when_the_server_shuts_down() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = Server::builder().add_service(v1::bookstore_service(bookstore_example::Store::default()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(server.serve(listener, async move {
        let _ = stopped.await;
    }));
    let (_, body) = exchange(
        addr,
        "POST /bookstore.v1.Bookstore/CreateShelf HTTP/1.1\r\ncontent-type: application/json",
        br#"{"shelf": {"theme": "t"}}"#,
    )
    .await;
    let name =
        serde_json::from_slice::<serde_json::Value>(&body).expect("JSON")["name"].as_str().expect("name").to_owned();

    let request = format!(r#"{{"name": "{name}"}}"#);
    let mut envelope = vec![0u8];
    envelope.extend_from_slice(&(request.len() as u32).to_be_bytes());
    envelope.extend_from_slice(request.as_bytes());
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connects");
    let head = format!(
        "POST /bookstore.v1.Bookstore/WatchShelf HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/connect+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        envelope.len()
    );
    stream.write_all(head.as_bytes()).await.expect("writes");
    stream.write_all(&envelope).await.expect("writes");
    let mut first = [0u8; 12];
    stream.read_exact(&mut first).await.expect("the response starts");
    assert_eq!(&first, b"HTTP/1.1 200");

    let _ = stop.send(());
    let mut rest = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(5), stream.read_to_end(&mut rest))
        .await
        .expect("the stream ends")
        .expect("reads");
    let text = String::from_utf8_lossy(&rest);
    assert!(text.contains(r#""code":"unavailable""#), "{text}");
    tokio::time::timeout(std::time::Duration::from_secs(5), done)
        .await
        .expect("serve returns")
        .expect("joins")
        .expect("ok");
}
