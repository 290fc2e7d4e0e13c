//! Chat over WebSocket (`/ws`, `apigen.v1`) with the typed client: the bidi
//! Converse, server-streaming Subscribe, client-streaming Upload and unary
//! PostMessage, several at once on one socket, and their errors.

use std::net::SocketAddr;
use std::time::Duration;

use apigen_runtime::client::ws::Client;
use apigen_runtime::futures::StreamExt;
use apigen_runtime::futures::stream::BoxStream;
use apigen_runtime::{Code, ResponseStream, Server};
use chat_example::v1;

const WAIT: Duration = Duration::from_secs(10);

async fn start() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = Server::builder().add_service(v1::chat_service(chat_example::Rooms::default()));
    tokio::spawn(server.serve(listener, std::future::pending()));
    addr
}

async fn client(addr: SocketAddr) -> Client {
    Client::connect(&format!("ws://{addr}/ws"), std::iter::empty::<(String, String)>()).await.expect("connects")
}

async fn post(client: &Client, room: &str, author: &str, text: &str) -> v1::ChatMessage {
    let request = v1::PostMessageRequest { room: room.into(), author: author.into(), text: text.into() };
    client.unary("chat.v1.Chat/PostMessage", &request).await.expect("posted")
}

async fn next<T>(stream: &mut ResponseStream<T>) -> T {
    tokio::time::timeout(WAIT, stream.next()).await.expect("in time").expect("a message").expect("not an error")
}

/// A request stream the test feeds while the call runs; dropping the sender completes it.
fn requests<T: Send + 'static>() -> (tokio::sync::mpsc::UnboundedSender<T>, BoxStream<'static, T>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    (tx, apigen_runtime::futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed())
}

fn say(room: &str, author: &str, text: &str) -> v1::ConverseRequest {
    v1::ConverseRequest { room: room.into(), author: author.into(), text: text.into() }
}

#[tokio::test]
async fn converse_is_bidirectional_and_runs_beside_other_calls() {
    let addr = start().await;
    let client = client(addr).await;
    let (say_lobby, lobby_requests) = requests();
    let (say_garden, garden_requests) = requests();
    say_lobby.send(say("rooms/lobby", "ada", "hello")).expect("queued");
    say_garden.send(say("rooms/garden", "bob", "hi")).expect("queued");
    let mut lobby =
        client.bidi_streaming::<_, v1::ChatMessage>("chat.v1.Chat/Converse", lobby_requests).await.expect("a stream");
    let mut garden =
        client.bidi_streaming::<_, v1::ChatMessage>("chat.v1.Chat/Converse", garden_requests).await.expect("a stream");

    // Each conversation sees its own first message (it subscribes before posting).
    let first = next(&mut lobby).await;
    assert_eq!((first.text.as_str(), first.sequence, first.room.as_str()), ("hello", 1, "rooms/lobby"));
    assert_eq!(next(&mut garden).await.text, "hi");

    // Later messages may leave the room out; a unary post on the same socket arrives too.
    say_lobby.send(say("", "ada", "how are you?")).expect("queued");
    assert_eq!(next(&mut lobby).await.text, "how are you?");
    let posted = post(&client, "rooms/lobby", "eve", "from outside").await;
    assert_eq!(posted.sequence, 3);
    let seen = next(&mut lobby).await;
    assert_eq!((seen.author.as_str(), seen.sequence), ("eve", 3));

    // Ending the requests leaves the conversation listening.
    drop(say_lobby);
    post(&client, "rooms/lobby", "eve", "still there?").await;
    assert_eq!(next(&mut lobby).await.text, "still there?");

    // Dropping a conversation cancels it; the other goes on.
    drop(lobby);
    say_garden.send(say("", "bob", "bye")).expect("queued");
    assert_eq!(next(&mut garden).await.text, "bye");
}

#[tokio::test]
async fn converse_errors_end_only_their_call() {
    let addr = start().await;
    let client = client(addr).await;
    let (tx, stream) = requests();
    tx.send(say("", "ada", "where am I?")).expect("queued");
    let mut lost =
        client.bidi_streaming::<_, v1::ChatMessage>("chat.v1.Chat/Converse", stream).await.expect("a stream");
    let err = tokio::time::timeout(WAIT, lost.next()).await.expect("in time").expect("an item").expect_err("no room");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("room"), "{err}");
    assert!(tokio::time::timeout(WAIT, lost.next()).await.expect("in time").is_none(), "the call is over");

    // A bad message later in the conversation ends it with that error.
    let (tx, stream) = requests();
    tx.send(say("rooms/errors", "ada", "fine")).expect("queued");
    let mut talk =
        client.bidi_streaming::<_, v1::ChatMessage>("chat.v1.Chat/Converse", stream).await.expect("a stream");
    assert_eq!(next(&mut talk).await.text, "fine");
    tx.send(say("", "", "")).expect("queued");
    let err = loop {
        match tokio::time::timeout(WAIT, talk.next()).await.expect("in time").expect("an item") {
            Ok(message) => assert_eq!(message.room, "rooms/errors"),
            Err(err) => break err,
        }
    };
    assert_eq!(err.code(), Code::InvalidArgument, "{err}");

    // The socket still works.
    assert_eq!(post(&client, "rooms/errors", "ada", "still here").await.text, "still here");
}

#[tokio::test]
async fn subscribe_sees_what_upload_posts() {
    let addr = start().await;
    let client = client(addr).await;
    let mut messages = client
        .server_streaming::<_, v1::ChatMessage>(
            "chat.v1.Chat/Subscribe",
            &v1::SubscribeRequest { room: "rooms/up".into() },
        )
        .await
        .expect("a stream");
    // The subscription starts when the method runs: post until it sees something.
    let mut warmed = false;
    for i in 0..50 {
        post(&client, "rooms/up", "warm", &i.to_string()).await;
        if tokio::time::timeout(Duration::from_millis(200), messages.next()).await.is_ok() {
            warmed = true;
            break;
        }
    }
    assert!(warmed, "the subscription never saw a message");
    while tokio::time::timeout(Duration::from_millis(100), messages.next()).await.is_ok() {}

    let uploads: Vec<_> = ["one", "two", "three"]
        .into_iter()
        .map(|text| v1::PostMessageRequest { room: "rooms/up".into(), author: "uploader".into(), text: text.into() })
        .collect();
    let summary: v1::UploadSummary = client
        .client_streaming("chat.v1.Chat/Upload", apigen_runtime::futures::stream::iter(uploads))
        .await
        .expect("uploaded");
    assert_eq!(summary.posted_count, 3);
    let texts: Vec<String> = [next(&mut messages).await, next(&mut messages).await, next(&mut messages).await]
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(texts, ["one", "two", "three"]);

    let bad = vec![v1::PostMessageRequest { room: "lobby".into(), author: "a".into(), text: "b".into() }];
    let err = client
        .client_streaming::<_, v1::UploadSummary>("chat.v1.Chat/Upload", apigen_runtime::futures::stream::iter(bad))
        .await
        .expect_err("not a room name");
    assert_eq!(err.code(), Code::InvalidArgument, "{err}");

    let err = client
        .server_streaming::<_, v1::ChatMessage>("chat.v1.Chat/Subscribe", &v1::SubscribeRequest::default())
        .await
        .expect("a stream")
        .next()
        .await
        .expect("an item")
        .expect_err("a room is required");
    assert_eq!(err.code(), Code::InvalidArgument, "{err}");
}
