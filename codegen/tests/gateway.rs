//! The gateway as a library: one Rust server proxies the bookstore to an upstream gRPC server and
//! implements the chat service itself, on one port, with its own authenticator and authorizer;
//! the identity it found reaches the upstream, its credential does not.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use apigen_runtime::{BoxFuture, Code, Context, Identity, MethodInfo, Server, ServiceInfo, Status};
use bookstore_example::v1::{BookstoreRestClient, CreateShelfRequest, DeleteShelfRequest, GetShelfRequest, Shelf};
use chat_example::v1::{ChatClient, PostMessageRequest};

/// Calls with `authorization: Bearer alice-token` are Alice's; others are refused.
struct Alice;

impl apigen_runtime::Authenticator for Alice {
    fn authenticate(&self, metadata: &http::HeaderMap) -> BoxFuture<Result<Identity, Status>> {
        let alice = metadata.get("authorization").is_some_and(|v| v == "Bearer alice-token");
        Box::pin(async move {
            if alice {
                Ok(Identity { subject: "alice".to_owned() })
            } else {
                Err(Status::unauthenticated("send Alice's token"))
            }
        })
    }
}

/// Serves `server` on a free loopback port until the returned sender is dropped.
async fn serve(server: Server) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.serve(listener, async move {
        let _ = stopped.await;
    }));
    (url, stop)
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[tokio::test]
async fn one_server_proxies_a_service_and_implements_another() {
    // The upstream: the bookstore, noting what each call carries.
    let seen = Arc::new(Mutex::new(Vec::<(String, Option<String>, Option<String>)>::new()));
    let note = Arc::clone(&seen);
    let upstream = Server::builder()
        .add_service(bookstore_example::v1::bookstore_service(bookstore_example::Store::default()))
        .authorizer(move |ctx: &Context, _: &ServiceInfo, method: &MethodInfo| {
            let header = |name: &str| ctx.metadata_str(name).map(str::to_owned);
            if let Ok(mut seen) = note.lock() {
                seen.push((method.name.to_owned(), header("apigen-subject"), header("authorization")));
            }
            Ok(())
        });
    let (upstream_url, _stop_upstream) = serve(upstream).await;

    let schema = apigen::gateway::Schema::from_files(
        &[repo().join("schemas/examples/bookstore.proto")],
        &[repo().join("schemas")],
    )
    .expect("the bookstore schema loads");
    assert_eq!(schema.service_names(), ["bookstore.v1.Bookstore"]);
    let upstream = apigen_runtime::proxy::Upstream::new(&upstream_url).expect("a URI").keep_authorization();
    let gateway =
        Server::builder()
            .add_service(schema.service("bookstore.v1.Bookstore", &upstream).expect("the service"))
            .add_service(chat_example::v1::chat_service(chat_example::Rooms::default()))
            .authenticator(Alice)
            .authorizer(|_: &Context, _: &ServiceInfo, method: &MethodInfo| {
                if method.name == "DeleteShelf" { Err(Status::permission_denied("shelves stay")) } else { Ok(()) }
            });
    let (url, _stop) = serve(gateway).await;

    // The proxied service, over REST with its typed client.
    let mut rest = BookstoreRestClient::new(&url);
    rest.headers_mut().insert("authorization", http::HeaderValue::from_static("Bearer alice-token"));
    let shelf = Shelf { theme: "Proxied".to_owned(), ..Default::default() };
    let created = rest.create_shelf(CreateShelfRequest { shelf: Some(shelf) }).await.expect("createShelf");
    assert_eq!(created.theme, "Proxied");
    let got = rest.get_shelf(GetShelfRequest { name: created.name.clone() }).await.expect("getShelf");
    assert_eq!(got, created);
    // The gateway's authorizer runs before anything goes upstream.
    let refused = rest.delete_shelf(DeleteShelfRequest { name: created.name.clone(), force: true }).await;
    assert_eq!(refused.map_err(|s| s.code()).err(), Some(Code::PermissionDenied));
    let stranger = BookstoreRestClient::new(&url).get_shelf(GetShelfRequest { name: created.name.clone() }).await;
    assert_eq!(stranger.map_err(|s| s.code()).err(), Some(Code::Unauthenticated));

    // The service implemented here, over gRPC, on the same port.
    let mut chat = ChatClient::connect(url.clone()).await.expect("a gRPC connection");
    chat.metadata_mut().insert("authorization", http::HeaderValue::from_static("Bearer alice-token"));
    let posted = chat
        .post_message(PostMessageRequest { room: "rooms/lib".into(), author: "alice".into(), text: "hi".into() })
        .await
        .expect("postMessage");
    assert_eq!(posted.text, "hi");

    let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
    let methods: Vec<&str> = seen.iter().map(|(m, _, _)| m.as_str()).collect();
    assert_eq!(methods, ["CreateShelf", "GetShelf"], "only what the gateway let through went upstream");
    for (method, subject, authorization) in &seen {
        assert_eq!(subject.as_deref(), Some("alice"), "{method}: the identity goes upstream");
        assert_eq!(authorization, &None, "{method}: the gateway's credential does not");
    }
}
