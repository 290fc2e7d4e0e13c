//! The bookstore over gRPC and gRPC-Web on the one-port server, called with
//! the generated typed client and with raw gRPC-Web frames.

use std::time::Duration;

use apigen_runtime::prost::Message;
use apigen_runtime::{Code, Server};
use bookstore_example::v1::{self, BookstoreClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Running {
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(token: Option<&str>) -> Running {
    start_with(token, |s| s).await
}

async fn start_with(token: Option<&str>, configure: impl FnOnce(Server) -> Server) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut server =
        configure(Server::builder().add_service(v1::bookstore_service(bookstore_example::Store::default())));
    if let Some(token) = token {
        server = server.authenticator(apigen_runtime::BearerToken::new(token));
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(server.serve(listener, async move {
        let _ = stopped.await;
    }));
    Running { addr, stop: Some(stop), done }
}

async fn client(addr: std::net::SocketAddr) -> BookstoreClient {
    BookstoreClient::connect(format!("http://{addr}")).await.expect("connects")
}

fn shelf(theme: &str) -> v1::CreateShelfRequest {
    v1::CreateShelfRequest { shelf: Some(v1::Shelf { theme: theme.into(), ..Default::default() }) }
}

#[tokio::test]
async fn typed_client_round_trip_and_errors() {
    let server = start(None).await;
    let mut c = client(server.addr).await;
    let created = c.create_shelf(shelf("Poetry")).await.expect("created");
    assert!(created.name.starts_with("shelves/"));
    let got = c.get_shelf(v1::GetShelfRequest { name: created.name.clone() }).await.expect("found");
    assert_eq!(got.theme, "Poetry");

    let err = c.get_shelf(v1::GetShelfRequest { name: "shelves/999".into() }).await.expect_err("missing");
    assert_eq!(err.code(), Code::NotFound);
    let err = c.create_shelf(shelf("")).await.expect_err("theme is required");
    assert_eq!((err.code(), err.message()), (Code::InvalidArgument, "missing required field `shelf.theme`"));
}

#[tokio::test]
async fn watch_streams_until_the_server_shuts_down() {
    let mut server = start(None).await;
    let mut c = client(server.addr).await;
    let s = c.create_shelf(shelf("SF")).await.expect("created");
    let mut events = c.watch_shelf(v1::WatchShelfRequest { name: s.name.clone() }).await.expect("watching");
    let book = v1::Book { title: "Dune".into(), ..Default::default() };
    c.create_book(v1::CreateBookRequest { parent: s.name.clone(), book: Some(book) }).await.expect("created");
    let first = tokio::time::timeout(Duration::from_secs(5), events.next()).await.expect("in time");
    let first = first.expect("an event").expect("ok");
    assert_eq!(first.kind, v1::shelf_event::Kind::BookAdded as i32);

    server.stop.take().map(|s| s.send(()));
    let end = tokio::time::timeout(Duration::from_secs(5), events.next()).await.expect("the stream ends");
    assert_eq!(end.expect("a final status").expect_err("ends with a status").code(), Code::Unavailable);
    tokio::time::timeout(Duration::from_secs(5), server.done)
        .await
        .expect("serve returns")
        .expect("joins")
        .expect("ok");
}

#[tokio::test]
async fn client_streaming_imports_every_book() {
    let server = start(None).await;
    let mut c = client(server.addr).await;
    let s = c.create_shelf(shelf("History")).await.expect("created");
    let requests = (0..3).map(move |i| v1::ImportBooksRequest {
        parent: s.name.clone(),
        book: Some(v1::Book { title: format!("Volume {i}"), ..Default::default() }),
    });
    let reply =
        c.import_books(apigen_runtime::futures::stream::iter(requests.collect::<Vec<_>>())).await.expect("imported");
    assert_eq!(reply.imported_count, 3);
}

#[tokio::test]
async fn tokens_are_required_when_configured() {
    let server = start(Some("s3cret")).await;
    let mut c = client(server.addr).await;
    let err = c.list_shelves(v1::ListShelvesRequest::default()).await.expect_err("no token");
    assert_eq!(err.code(), Code::Unauthenticated);
    c.metadata_mut().insert("authorization", "Bearer s3cret".parse().expect("header"));
    c.list_shelves(v1::ListShelvesRequest::default()).await.expect("with the token");
}

/// A gRPC-Web call as a browser makes it: HTTP/1.1, base framing, trailers in the body.
#[tokio::test]
async fn grpc_web_over_http1() {
    let server = start(None).await;
    let request = shelf("Web").encode_to_vec();
    let mut body = vec![0u8];
    body.extend_from_slice(&(request.len() as u32).to_be_bytes());
    body.extend_from_slice(&request);
    let head = format!(
        "POST /bookstore.v1.Bookstore/CreateShelf HTTP/1.1\r\nhost: {}\r\ncontent-type: application/grpc-web+proto\r\nx-grpc-web: 1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        server.addr,
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.expect("connects");
    stream.write_all(head.as_bytes()).await.expect("writes");
    stream.write_all(&body).await.expect("writes");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response))
        .await
        .expect("in time")
        .expect("reads");
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.to_ascii_lowercase().contains("content-type: application/grpc-web+proto"), "{text}");
    assert!(text.contains("Web"), "the shelf comes back: {text}");
    assert!(text.contains("grpc-status:0"), "trailers travel in the body: {text}");
}

#[tokio::test]
async fn messages_over_the_limit_are_refused() {
    let server = start_with(None, |s| s.max_message_size(1024)).await;
    let mut c = client(server.addr).await;
    c.create_shelf(shelf("small")).await.expect("under the limit");
    let err = c.create_shelf(shelf(&"x".repeat(4096))).await.expect_err("over the limit");
    assert_eq!(err.code(), Code::ResourceExhausted, "{err}");
    assert!(err.message().contains("larger than the limit"), "{err}");
}

async fn raw_http(addr: std::net::SocketAddr, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connects");
    stream.write_all(request.as_bytes()).await.expect("writes");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("reads");
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn healthz_answers_and_unknown_paths_are_json_404s() {
    let server = start(Some("s3cret")).await;
    let ok = raw_http(server.addr, "GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await;
    assert!(ok.starts_with("HTTP/1.1 200"), "health needs no token: {ok}");
    let missing = raw_http(server.addr, "GET /nowhere HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await;
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    assert!(missing.contains(r#"{"code":5,"details":[],"message":"nothing is served at /nowhere"}"#), "{missing}");
}

#[tokio::test]
async fn browsers_get_cors_preflight_answers() {
    let server = start(None).await;
    let head = format!(
        "OPTIONS /bookstore.v1.Bookstore/GetShelf HTTP/1.1\r\nhost: {}\r\norigin: http://127.0.0.1:5173\r\naccess-control-request-method: POST\r\naccess-control-request-headers: content-type,x-grpc-web\r\nconnection: close\r\n\r\n",
        server.addr
    );
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.expect("connects");
    stream.write_all(head.as_bytes()).await.expect("writes");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("reads");
    let text = String::from_utf8_lossy(&response).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 200"), "{text}");
    // Without --cors-origin, pages on this machine (a front end in development) may call.
    assert!(text.contains("access-control-allow-origin: http://127.0.0.1:5173"), "{text}");
    // Named, not `*`, which browsers do not extend to `authorization`.
    assert!(text.contains("access-control-allow-headers:") && text.contains("x-grpc-web"), "{text}");
    assert!(!text.contains("access-control-allow-headers: *"), "{text}");
}
