//! The Connect protocol at the RPC path: unary JSON and binary protobuf by
//! POST, GET for NO_SIDE_EFFECTS methods, streams in envelopes, gzip both ways
//! (bodies, GET messages, envelopes, and zip bombs refused), and its errors.

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

    use base64::engine::{Engine, general_purpose::URL_SAFE_NO_PAD};
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

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("compresses");
    encoder.finish().expect("compresses")
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data).read_to_end(&mut out).expect("gzip data");
    out
}

/// One Connect envelope: flags, big-endian length, data.
fn envelope(flags: u8, data: &[u8]) -> Vec<u8> {
    let mut out = vec![flags];
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// The data of a chunked HTTP/1.1 body.
fn unchunk(mut rest: &[u8]) -> Vec<u8> {
    let mut data = Vec::new();
    while let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).expect("hex"), 16).expect("a size");
        if size == 0 {
            break;
        }
        data.extend_from_slice(&rest[line_end + 2..line_end + 2 + size]);
        rest = &rest[line_end + 2 + size + 2..];
    }
    data
}

/// The (flags, data) of each envelope, compressed ones (flag 0x01) inflated.
fn envelopes(mut body: &[u8]) -> Vec<(u8, serde_json::Value)> {
    let mut out = Vec::new();
    while !body.is_empty() {
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        let data = &body[5..5 + len];
        let data = if body[0] & 1 == 1 { gunzip(data) } else { data.to_vec() };
        out.push((body[0], serde_json::from_slice(&data).expect("JSON")));
        body = &body[5 + len..];
    }
    out
}

async fn create_shelf(addr: std::net::SocketAddr) -> String {
    let (_, body) = exchange(
        addr,
        "POST /bookstore.v1.Bookstore/CreateShelf HTTP/1.1\r\ncontent-type: application/json",
        br#"{"shelf": {"theme": "Zipped"}}"#,
    )
    .await;
    serde_json::from_slice::<serde_json::Value>(&body).expect("JSON")["name"].as_str().expect("a name").to_owned()
}

#[tokio::test]
async fn unary_bodies_are_gzipped_both_ways_when_asked() {
    let addr = start().await;
    let create = gzip(br#"{"shelf": {"theme": "Compressed"}}"#);
    let (head, body) = exchange(
        addr,
        "POST /bookstore.v1.Bookstore/CreateShelf HTTP/1.1\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\naccept-encoding: br, gzip",
        &create,
    )
    .await;
    assert!(head.starts_with("http/1.1 200") && head.contains("content-encoding: gzip"), "{head}");
    assert!(head.contains("vary: accept-encoding"), "{head}");
    let shelf: serde_json::Value = serde_json::from_slice(&gunzip(&body)).expect("JSON");
    assert_eq!(shelf["theme"], "Compressed");
    let name = shelf["name"].as_str().expect("a name").to_owned();

    // Binary protobuf, `identity` spelled out, and no Accept-Encoding: a plain answer.
    let request = v1::GetShelfRequest { name: name.clone() }.encode_to_vec();
    let (head, body) = exchange(
        addr,
        "POST /bookstore.v1.Bookstore/GetShelf HTTP/1.1\r\ncontent-type: application/proto\r\ncontent-encoding: identity",
        &request,
    )
    .await;
    assert!(head.starts_with("http/1.1 200") && !head.contains("content-encoding"), "{head}");
    assert_eq!(v1::Shelf::decode(body.as_slice()).expect("a Shelf").theme, "Compressed");

    // Errors stay plain JSON even when gzip is acceptable.
    let (head, body) = exchange(
        addr,
        "POST /bookstore.v1.Bookstore/GetShelf HTTP/1.1\r\ncontent-type: application/json\r\naccept-encoding: gzip",
        br#"{"name": "shelves/404"}"#,
    )
    .await;
    assert!(head.starts_with("http/1.1 404") && !head.contains("content-encoding"), "{head}");
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).expect("JSON")["code"], "not_found");

    // GET: `compression=gzip` means the base64url `message` is gzip.
    use base64::engine::{Engine, general_purpose::URL_SAFE_NO_PAD};
    let message = URL_SAFE_NO_PAD.encode(gzip(format!(r#"{{"name": "{name}"}}"#).as_bytes()));
    let (head, body) = exchange(
        addr,
        &format!(
            "GET /bookstore.v1.Bookstore/GetShelf?connect=v1&encoding=json&base64=1&compression=gzip&message={message} HTTP/1.1\r\naccept-encoding: gzip"
        ),
        b"",
    )
    .await;
    assert!(head.starts_with("http/1.1 200") && head.contains("content-encoding: gzip"), "{head}");
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&gunzip(&body)).expect("JSON")["theme"], "Compressed");
}

#[tokio::test]
async fn unknown_encodings_are_unimplemented_and_say_what_is_accepted() {
    let addr = start().await;
    let (head, body) = exchange(
        addr,
        "POST /bookstore.v1.Bookstore/CreateShelf HTTP/1.1\r\ncontent-type: application/json\r\ncontent-encoding: br",
        br#"{"shelf": {"theme": "t"}}"#,
    )
    .await;
    assert!(head.starts_with("http/1.1 501") && head.contains("accept-encoding: gzip"), "{head}");
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).expect("JSON")["code"], "unimplemented");

    let (head, body) = exchange(
        addr,
        "GET /bookstore.v1.Bookstore/GetShelf?connect=v1&encoding=json&base64=1&compression=zstd&message=e30 HTTP/1.1",
        b"",
    )
    .await;
    assert!(head.starts_with("http/1.1 501"), "{head}");
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).expect("JSON")["code"], "unimplemented");

    // Streams answer 200 with the error in the end-of-stream message.
    let name = create_shelf(addr).await;
    let request = envelope(0, format!(r#"{{"name": "{name}"}}"#).as_bytes());
    let (head, body) = exchange(
        addr,
        "POST /bookstore.v1.Bookstore/WatchShelf HTTP/1.1\r\ncontent-type: application/connect+json\r\nconnect-content-encoding: br",
        &request,
    )
    .await;
    assert!(head.starts_with("http/1.1 200") && head.contains("connect-accept-encoding: gzip"), "{head}");
    let frames = envelopes(&unchunk(&body));
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!((frames[0].0, &frames[0].1["error"]["code"]), (2, &serde_json::json!("unimplemented")));

    // A compressed envelope without Connect-Content-Encoding is malformed.
    let request = envelope(1, &gzip(format!(r#"{{"name": "{name}"}}"#).as_bytes()));
    let (_, body) = exchange(
        addr,
        "POST /bookstore.v1.Bookstore/WatchShelf HTTP/1.1\r\ncontent-type: application/connect+json",
        &request,
    )
    .await;
    let frames = envelopes(&unchunk(&body));
    assert_eq!((frames[0].0, &frames[0].1["error"]["code"]), (2, &serde_json::json!("invalid_argument")));
}

#[tokio::test]
async fn stream_envelopes_are_gzipped_both_ways() {
    let addr = start().await;
    let name = create_shelf(addr).await;

    // Server streaming: a compressed request; compressed events and end-of-stream back.
    let request = envelope(1, &gzip(format!(r#"{{"name": "{name}"}}"#).as_bytes()));
    let mut watch = tokio::net::TcpStream::connect(addr).await.expect("connects");
    let head = format!(
        "POST /bookstore.v1.Bookstore/WatchShelf HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/connect+json\r\nconnect-content-encoding: gzip\r\nconnect-accept-encoding: gzip\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        request.len()
    );
    watch.write_all(head.as_bytes()).await.expect("writes");
    watch.write_all(&request).await.expect("writes");
    let mut first = [0u8; 12];
    // The status line comes once the method has subscribed to the shelf.
    watch.read_exact(&mut first).await.expect("the response starts");
    assert_eq!(&first, b"HTTP/1.1 200");

    let book = format!(r#"{{"parent": "{name}", "book": {{"title": "Deflated", "authors": ["Z"]}}}}"#);
    let (head, _) = exchange(
        addr,
        "POST /bookstore.v1.Bookstore/CreateBook HTTP/1.1\r\ncontent-type: application/json",
        book.as_bytes(),
    )
    .await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    // Deleting the shelf removes the book (one more event) and ends the stream.
    let delete = format!(r#"{{"name": "{name}", "force": true}}"#);
    exchange(
        addr,
        "POST /bookstore.v1.Bookstore/DeleteShelf HTTP/1.1\r\ncontent-type: application/json",
        delete.as_bytes(),
    )
    .await;

    let mut rest = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(10), watch.read_to_end(&mut rest))
        .await
        .expect("the stream ends")
        .expect("reads");
    let split = rest.windows(4).position(|w| w == b"\r\n\r\n").expect("a header block");
    let head = String::from_utf8_lossy(&rest[..split]).to_ascii_lowercase();
    assert!(head.contains("connect-content-encoding: gzip"), "{head}");
    let frames = envelopes(&unchunk(&rest[split + 4..]));
    let flags: Vec<u8> = frames.iter().map(|(f, _)| *f).collect();
    assert_eq!(flags, [1, 1, 3], "every envelope is compressed: {frames:?}");
    assert_eq!((&frames[0].1["kind"], &frames[0].1["book"]["title"]), (&"KIND_BOOK_ADDED".into(), &"Deflated".into()));
    assert_eq!(frames[1].1["kind"], "KIND_BOOK_REMOVED");
    assert_eq!(frames[2].1, serde_json::json!({}));

    // Client streaming: compressed and plain envelopes may mix; no compression asked back.
    let name = create_shelf(addr).await;
    let import = |title: &str| format!(r#"{{"parent": "{name}", "book": {{"title": "{title}"}}}}"#);
    let mut body = envelope(1, &gzip(import("One").as_bytes()));
    body.extend(envelope(0, import("Two").as_bytes()));
    body.extend(envelope(1, &gzip(import("Three").as_bytes())));
    let (head, body) = exchange(
        addr,
        "POST /bookstore.v1.Bookstore/ImportBooks HTTP/1.1\r\ncontent-type: application/connect+json\r\nconnect-content-encoding: gzip",
        &body,
    )
    .await;
    assert!(head.starts_with("http/1.1 200") && !head.contains("connect-content-encoding"), "{head}");
    let frames = envelopes(&unchunk(&body));
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert_eq!((frames[0].0, &frames[0].1["importedCount"]), (0, &serde_json::json!(3)));
    assert_eq!(frames[1], (2, serde_json::json!({})));
}

#[tokio::test]
async fn zip_bombs_are_refused_and_the_server_lives_on() {
    let addr = start().await;
    // 50 MiB of zeros in about 50 KiB.
    let bomb = gzip(&vec![0u8; 50 << 20]);
    assert!(bomb.len() < 100 << 10, "{}", bomb.len());

    let (head, body) = exchange(
        addr,
        "POST /bookstore.v1.Bookstore/CreateShelf HTTP/1.1\r\ncontent-type: application/json\r\ncontent-encoding: gzip",
        &bomb,
    )
    .await;
    assert!(head.starts_with("http/1.1 413"), "{head}");
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).expect("JSON")["code"], "resource_exhausted");

    let (head, body) = exchange(
        addr,
        "POST /bookstore.v1.Bookstore/ImportBooks HTTP/1.1\r\ncontent-type: application/connect+json\r\nconnect-content-encoding: gzip",
        &envelope(1, &bomb),
    )
    .await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let frames = envelopes(&unchunk(&body));
    assert_eq!(frames[0].1["error"]["code"], "resource_exhausted", "{frames:?}");

    // Many small bombs add up: their total is bounded too.
    let small = gzip(&vec![b' '; 3 << 20]);
    let mut body = Vec::new();
    for _ in 0..4 {
        body.extend(envelope(1, &small));
    }
    let (_, body) = exchange(
        addr,
        "POST /bookstore.v1.Bookstore/ImportBooks HTTP/1.1\r\ncontent-type: application/connect+json\r\nconnect-content-encoding: gzip",
        &body,
    )
    .await;
    assert_eq!(envelopes(&unchunk(&body))[0].1["error"]["code"], "resource_exhausted");

    create_shelf(addr).await;
}

/// Sends `body` with `transfer-encoding: chunked`, in chunks of `size` bytes
/// written one at a time; returns (head, body) of the response.
async fn chunked_exchange(addr: std::net::SocketAddr, head: &str, body: &[u8], size: usize) -> (String, Vec<u8>) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connects");
    let request = format!("{head}\r\nhost: {addr}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("writes");
    for chunk in body.chunks(size) {
        stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).await.expect("writes");
        stream.write_all(chunk).await.expect("writes");
        stream.write_all(b"\r\n").await.expect("writes");
        stream.flush().await.expect("flushes");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    stream.write_all(b"0\r\n\r\n").await.expect("writes");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("reads");
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").expect("a header block");
    (String::from_utf8_lossy(&response[..split]).to_ascii_lowercase(), response[split + 4..].to_vec())
}

#[tokio::test]
async fn chunked_request_bodies_are_read_whole_for_unary_and_streaming_calls() {
    let addr = start().await;
    let create = br#"{"shelf": {"theme": "Arrived in pieces"}}"#;
    let (head, body) = chunked_exchange(
        addr,
        "POST /bookstore.v1.Bookstore/CreateShelf HTTP/1.1\r\ncontent-type: application/json\r\nconnect-protocol-version: 1",
        create,
        7,
    )
    .await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let body = if head.contains("transfer-encoding: chunked") { unchunk(&body) } else { body };
    let shelf: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(shelf["theme"], "Arrived in pieces");
    let name = shelf["name"].as_str().expect("a name").to_owned();

    // Client streaming: three envelopes, each split across chunks.
    let mut envelopes_in = Vec::new();
    for title in ["A", "B", "C"] {
        let book = serde_json::json!({"parent": name, "book": {"title": title}});
        envelopes_in.extend(envelope(0, book.to_string().as_bytes()));
    }
    let (head, body) = chunked_exchange(
        addr,
        "POST /bookstore.v1.Bookstore/ImportBooks HTTP/1.1\r\ncontent-type: application/connect+json",
        &envelopes_in,
        5,
    )
    .await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let body = if head.contains("transfer-encoding: chunked") { unchunk(&body) } else { body };
    let frames = envelopes(&body);
    assert_eq!(frames.len(), 2, "the response and the end-of-stream message: {frames:?}");
    assert_eq!(frames[1], (2, serde_json::json!({})), "no error");
    assert_eq!(frames[0].1["importedCount"], 3, "three books imported: {:?}", frames[0]);
}

#[tokio::test]
async fn a_connect_stream_still_open_at_its_deadline_ends_with_deadline_exceeded() {
    let addr = start().await;
    let name = create_shelf(addr).await;
    let request = envelope(0, format!(r#"{{"name": "{name}"}}"#).as_bytes());
    let started = std::time::Instant::now();
    let answer = exchange(
        addr,
        "POST /bookstore.v1.Bookstore/WatchShelf HTTP/1.1\r\ncontent-type: application/connect+json\r\nconnect-timeout-ms: 300",
        &request,
    );
    let (head, body) = tokio::time::timeout(std::time::Duration::from_secs(5), answer).await.expect("the stream ends");
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let frames = envelopes(&unchunk(&body));
    let (flags, end) = frames.last().expect("an end-of-stream message");
    assert_eq!(*flags, 0x02, "{frames:?}");
    assert_eq!(end["error"]["code"], "deadline_exceeded", "{end}");
    assert!(started.elapsed() >= std::time::Duration::from_millis(250));
}
