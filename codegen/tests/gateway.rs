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
            if alice { Ok(Identity::new("alice")) } else { Err(Status::unauthenticated("send Alice's token")) }
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

#[tokio::test]
async fn a_method_without_a_binding_is_served_at_its_default_rest_binding() {
    let upstream =
        Server::builder().add_service(bookstore_example::v1::bookstore_service(bookstore_example::Store::default()));
    let (upstream_url, _stop_upstream) = serve(upstream).await;
    // The bookstore with GetShelf's binding taken away: the wire to the upstream is the same.
    let dir = tempfile::tempdir().expect("a scratch directory");
    let text = std::fs::read_to_string(repo().join("schemas/examples/bookstore.proto")).expect("the schema");
    let unbound = text.replace("    option (google.api.http) = {get: \"/v1/{name=shelves/*}\"};\n", "");
    assert_ne!(unbound, text, "GetShelf's binding is gone");
    std::fs::create_dir_all(dir.path().join("examples")).expect("a directory");
    std::fs::write(dir.path().join("examples/bookstore.proto"), unbound).expect("written");
    let schema = apigen::gateway::Schema::from_files(
        &[dir.path().join("examples/bookstore.proto")],
        &[dir.path().to_owned(), repo().join("schemas")],
    )
    .expect("the schema loads");
    let upstream = apigen_runtime::proxy::Upstream::new(&upstream_url).expect("a URI");
    let (url, _stop) =
        serve(Server::builder().add_service(schema.service("bookstore.v1.Bookstore", &upstream).expect("the service")))
            .await;

    let http = reqwest::Client::new();
    let post = |path: &str, body: &'static str, connect: bool| {
        let mut request = http.post(format!("{url}{path}")).header("content-type", "application/json").body(body);
        if connect {
            request = request.header("connect-protocol-version", "1");
        }
        request.send()
    };
    let created = post("/v1/shelves", r#"{"theme": "Default"}"#, false).await.expect("createShelf");
    assert_eq!(created.status(), 200);
    let shelf: serde_json::Value = created.json().await.expect("JSON");
    let got = post("/bookstore.v1.Bookstore/GetShelf", r#"{"name": "shelves/1"}"#, false).await.expect("getShelf");
    assert_eq!(got.status(), 200);
    assert_eq!(got.json::<serde_json::Value>().await.expect("JSON"), shelf);
    // The same path and body: a REST error without Connect's header, Connect's with it.
    let rest = post("/bookstore.v1.Bookstore/GetShelf", r#"{"name": "shelves/9"}"#, false).await.expect("REST");
    assert_eq!(rest.status(), 404);
    assert_eq!(rest.json::<serde_json::Value>().await.expect("JSON")["code"], 5);
    let connect = post("/bookstore.v1.Bookstore/GetShelf", r#"{"name": "shelves/9"}"#, true).await.expect("Connect");
    assert_eq!(connect.status(), 404);
    assert_eq!(connect.json::<serde_json::Value>().await.expect("JSON")["code"], "not_found");
    // The OpenAPI document describes it as a REST operation, with REST's error body.
    let document: serde_json::Value =
        http.get(format!("{url}/openapi.json")).send().await.expect("openapi").json().await.expect("JSON");
    let operation = &document["paths"]["/bookstore.v1.Bookstore/GetShelf"]["post"];
    assert_eq!(operation["operationId"], "Bookstore_GetShelf");
    assert_eq!(
        operation["responses"]["default"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/google.rpc.Status"
    );
}

#[test]
fn a_descriptor_set_that_is_not_one_is_a_clear_error() {
    let error = |bytes: &[u8]| match apigen::gateway::Schema::from_descriptor_set(bytes) {
        Ok(schema) => panic!("accepted {bytes:?} as {schema:?}"),
        Err(e) => e.render(false),
    };
    // Nothing at all, and bytes that are no protobuf.
    assert!(error(b"").contains("no service to serve"), "{}", error(b""));
    assert!(error(b"\xff\xff\xff\xff").contains("not valid"), "{}", error(b"\xff\xff\xff\xff"));
    // A file that imports one the set leaves out.
    let file = prost_types::FileDescriptorProto {
        name: Some("a.proto".into()),
        package: Some("a".into()),
        dependency: vec!["missing.proto".into()],
        ..Default::default()
    };
    let set = prost::Message::encode_to_vec(&prost_types::FileDescriptorSet { file: vec![file] });
    let missing = error(&set);
    assert!(missing.contains("missing.proto") && missing.contains("--include_imports"), "{missing}");
    // A valid set that defines no service.
    let lonely = prost_types::FileDescriptorProto {
        name: Some("m.proto".into()),
        package: Some("m".into()),
        message_type: vec![prost_types::DescriptorProto { name: Some("M".into()), ..Default::default() }],
        ..Default::default()
    };
    let set = prost::Message::encode_to_vec(&prost_types::FileDescriptorSet { file: vec![lonely] });
    assert!(error(&set).contains("no service"), "{}", error(&set));
}
