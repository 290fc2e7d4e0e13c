//! The bookstore over GraphQL with the generated typed GraphQL client: each
//! query and mutation, maps as entry lists, Empty results, errors as Status,
//! the raw escape hatch and the default limits.

use apigen_runtime::{Code, Server};
use bookstore_example::v1::{self, BookstoreGraphqlClient};

async fn start() -> String {
    start_with(apigen_runtime::server::GraphqlLimits::default()).await
}

async fn start_with(limits: apigen_runtime::server::GraphqlLimits) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = Server::builder()
        .add_service(v1::bookstore_service(bookstore_example::Store::default()))
        .graphql_limits(limits);
    tokio::spawn(server.serve(listener, std::future::pending()));
    format!("http://{addr}")
}

#[tokio::test]
async fn queries_and_mutations_through_the_graphql_client() {
    let c = BookstoreGraphqlClient::new(start().await);
    let shelf = c
        .create_shelf(v1::CreateShelfRequest { shelf: Some(v1::Shelf { theme: "Maps".into(), ..Default::default() }) })
        .await
        .expect("created");
    let book = v1::Book {
        title: "Atlas".into(),
        isbn: 9_780_000_000_001,
        genre: v1::Genre::Science as i32,
        labels: [("region".to_owned(), "world".to_owned())].into_iter().collect(),
        publisher: Some(v1::Publisher { name: "Times".into(), country: "GB".into() }),
        availability: Some(v1::book::Availability::InStock(2)),
        ..Default::default()
    };
    let created = c
        .create_book(v1::CreateBookRequest { parent: shelf.name.clone(), book: Some(book.clone()) })
        .await
        .expect("created");
    let got = c.get_book(v1::GetBookRequest { name: created.name.clone() }).await.expect("found");
    assert_eq!(got, created, "every field comes back");
    assert_eq!((got.labels, got.isbn, got.availability), (book.labels, book.isbn, book.availability));

    let found = c
        .search_books(v1::SearchBooksRequest { genres: vec![v1::Genre::Science as i32], ..Default::default() })
        .await
        .expect("searched");
    assert_eq!(found.total_size, 1);
    let deleted = c.delete_shelf(v1::DeleteShelfRequest { name: shelf.name.clone(), force: true }).await;
    assert_eq!(deleted.expect("deleted"), apigen_runtime::wkt::Empty {});
    let err = c.get_shelf(v1::GetShelfRequest { name: shelf.name }).await.expect_err("gone");
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn raw_queries_and_limits() {
    let c = BookstoreGraphqlClient::new(start().await);
    let data = c.raw("{ listShelves { shelves { name } nextPageToken } }", serde_json::json!({})).await.expect("ran");
    assert_eq!(data, serde_json::json!({"listShelves": {"shelves": [], "nextPageToken": ""}}));
    let deep = format!(
        "{{ __schema {{ types {} }} }}",
        "{ fields { type { ofType ".repeat(6) + "{ name }" + &" } } }".repeat(6)
    );
    let err = c.raw(&deep, serde_json::json!({})).await.expect_err("too deep");
    assert!(err.message().contains("nested too deep") || err.message().contains("depth"), "{err}");
    let wide: String = (0..1100).map(|i| format!("a{i}: listShelves {{ nextPageToken }} ")).collect();
    let err = c.raw(&format!("{{ {wide} }}"), serde_json::json!({})).await.expect_err("too complex");
    assert!(err.message().contains("complex"), "{err}");
    c.raw("{ listShelves { nextPageToken } }", serde_json::json!({})).await.expect("still serving");
}

#[tokio::test]
async fn introspection_can_be_switched_off() {
    let introspect = "{ __schema { queryType { name } } }";
    let open = BookstoreGraphqlClient::new(start().await);
    let data = open.raw(introspect, serde_json::json!({})).await.expect("answered");
    assert_eq!(data, serde_json::json!({"__schema": {"queryType": {"name": "Query"}}}));
    let limits = apigen_runtime::server::GraphqlLimits { introspection: false, ..Default::default() };
    let closed = BookstoreGraphqlClient::new(start_with(limits).await);
    closed.raw(introspect, serde_json::json!({})).await.expect_err("introspection is off");
    closed.raw("{ listShelves { nextPageToken } }", serde_json::json!({})).await.expect("queries still work");
}

/// GET never runs a mutation, however the document is written.
#[tokio::test]
async fn a_mutation_cannot_sneak_past_get() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let base = start().await;
    let addr = base.trim_start_matches("http://").to_owned();
    for query in [
        "%23%20a%20comment%0Amutation%20%7B%20deleteShelf(name%3A%20%22shelves%2F1%22)%20%7D",
        "query%20A%20%7B%20listShelves%20%7B%20nextPageToken%20%7D%20%7D%20mutation%20B%20%7B%20deleteShelf(name%3A%20%22shelves%2F1%22)%20%7D&operationName=B",
    ] {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.expect("connects");
        let request = format!(
            "GET /graphql?query={query} HTTP/1.1\r\nhost: {addr}\r\napollo-require-preflight: true\r\nconnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.expect("writes");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("reads");
        assert!(response.starts_with("HTTP/1.1 405"), "{response}");
        assert!(response.to_ascii_lowercase().contains("allow: post"), "{response}");
    }
}

// ---------------------------------------------------------------------------
// Automatic persisted queries (Apollo's APQ), GET and CSRF prevention (issue 18).

mod persisted {
    use apigen_runtime::server::GraphqlLimits;
    use serde_json::{Value, json};
    use sha2::Digest;

    /// Each byte but letters and digits as `%XX`: a query string's value.
    fn encode(text: &str) -> String {
        text.bytes()
            .map(|b| if b.is_ascii_alphanumeric() { char::from(b).to_string() } else { format!("%{b:02X}") })
            .collect()
    }

    fn sha256(query: &str) -> String {
        format!("{:x}", sha2::Sha256::digest(query.as_bytes()))
    }

    fn extension(hash: &str) -> Value {
        json!({"persistedQuery": {"version": 1, "sha256Hash": hash}})
    }

    /// An HTTP status, `Allow` and the JSON body of one request.
    async fn send(request: reqwest::RequestBuilder) -> (u16, String, Value) {
        let response = request.send().await.expect("answered");
        let status = response.status().as_u16();
        let allow = response.headers().get("allow").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        (status, allow, response.json().await.unwrap_or(Value::Null))
    }

    /// `GET /graphql` with the CSRF header, `params` encoded.
    async fn get(base: &str, params: &[(&str, &str)]) -> (u16, String, Value) {
        let query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect();
        let url = format!("{base}/graphql?{}", query.join("&"));
        send(reqwest::Client::new().get(url).header("apollo-require-preflight", "true")).await
    }

    async fn post(base: &str, body: Value) -> (u16, String, Value) {
        send(reqwest::Client::new().post(format!("{base}/graphql")).json(&body)).await
    }

    fn code(body: &Value) -> &str {
        body["errors"][0]["extensions"]["code"].as_str().unwrap_or_default()
    }

    const SHELVES: &str = "query Shelves { listShelves { nextPageToken } }";

    #[tokio::test]
    async fn a_hash_registers_with_its_query_then_runs_alone_by_get_and_post() {
        let base = super::start().await;
        let (hash, done) = (sha256(SHELVES), json!({"data": {"listShelves": {"nextPageToken": ""}}}));
        let pq = extension(&hash).to_string();
        let not_found = json!({"errors": [{
            "message": "PersistedQueryNotFound",
            "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
        }]});
        // Unknown: exactly the answer Apollo Client's link retries on, over GET and POST.
        assert_eq!(
            get(&base, &[("operationName", "Shelves"), ("extensions", &pq)]).await,
            (200, String::new(), not_found.clone())
        );
        assert_eq!(post(&base, json!({"extensions": extension(&hash)})).await, (200, String::new(), not_found));
        // With its query: checked, kept and run.
        assert_eq!(post(&base, json!({"query": SHELVES, "extensions": extension(&hash)})).await.2, done);
        // Then the hash alone runs it, GET (the link's second try) and POST, upper-case hex too.
        assert_eq!(
            get(&base, &[("operationName", "Shelves"), ("extensions", &pq)]).await,
            (200, String::new(), done.clone())
        );
        assert_eq!(post(&base, json!({"extensions": extension(&hash.to_uppercase())})).await.2, done);
    }

    #[tokio::test]
    async fn a_wrong_hash_or_version_is_refused() {
        let base = super::start().await;
        let (status, _, body) =
            post(&base, json!({"query": SHELVES, "extensions": extension(&sha256("{ other }"))})).await;
        assert_eq!((status, code(&body)), (400, "PERSISTED_QUERY_HASH_MISMATCH"), "{body}");
        // Nothing was kept under either hash.
        for hash in [sha256("{ other }"), sha256(SHELVES)] {
            let (_, _, body) = post(&base, json!({"extensions": extension(&hash)})).await;
            assert_eq!(code(&body), "PERSISTED_QUERY_NOT_FOUND");
        }
        let v2 = json!({"persistedQuery": {"version": 2, "sha256Hash": sha256(SHELVES)}});
        let (status, _, body) = post(&base, json!({"query": SHELVES, "extensions": v2})).await;
        assert_eq!((status, code(&body)), (400, "INVALID_ARGUMENT"), "{body}");
        assert!(body["errors"][0]["message"].as_str().unwrap_or_default().contains("version 2"), "{body}");
        let (status, _, body) = get(&base, &[("extensions", "{not json")]).await;
        assert_eq!((status, code(&body)), (400, "INVALID_ARGUMENT"), "{body}");
    }

    #[tokio::test]
    async fn a_persisted_mutation_is_refused_over_get() {
        let base = super::start().await;
        let mutation = r#"mutation { createShelf(shelf: {theme: "by hash"}) { name } }"#;
        let hash = sha256(mutation);
        let (status, _, body) = post(&base, json!({"query": mutation, "extensions": extension(&hash)})).await;
        assert_eq!((status, &body["data"]["createShelf"]["name"]), (200, &json!("shelves/1")), "{body}");
        let (status, allow, body) = get(&base, &[("extensions", &extension(&hash).to_string())]).await;
        assert_eq!((status, allow.as_str()), (405, "POST"), "{body}");
        let count = "{ listShelves { shelves { name } } }";
        let (_, _, body) = post(&base, json!({"query": count})).await;
        assert_eq!(body["data"]["listShelves"]["shelves"].as_array().map(Vec::len), Some(1), "GET ran nothing");
        // POST runs it by hash.
        let (_, _, body) = post(&base, json!({"extensions": extension(&hash)})).await;
        assert_eq!(body["data"]["createShelf"]["name"], "shelves/2", "{body}");
    }

    #[tokio::test]
    async fn the_store_keeps_the_most_recently_used_and_no_oversized_query() {
        let limits = GraphqlLimits { max_persisted_queries: 2, max_query_bytes: 200, ..Default::default() };
        let base = super::start_with(limits).await;
        let queries = ["{ a: __typename }", "{ b: __typename }", "{ c: __typename }"];
        let by_hash = |query: &str| post(&base, json!({"extensions": extension(&sha256(query))}));
        for query in &queries[..2] {
            let (_, _, body) = post(&base, json!({"query": query, "extensions": extension(&sha256(query))})).await;
            assert!(body["errors"].is_null(), "{body}");
        }
        assert_eq!(by_hash(queries[0]).await.2, json!({"data": {"a": "Query"}}), "a is now the most recent");
        post(&base, json!({"query": queries[2], "extensions": extension(&sha256(queries[2]))})).await;
        assert_eq!(code(&by_hash(queries[1]).await.2), "PERSISTED_QUERY_NOT_FOUND", "b, least recently used, left");
        assert_eq!(by_hash(queries[0]).await.2, json!({"data": {"a": "Query"}}));
        assert_eq!(by_hash(queries[2]).await.2, json!({"data": {"c": "Query"}}));
        // A query over max_query_bytes is neither run nor kept.
        let big = format!("{{ {} }}", "__typename ".repeat(30));
        let (status, _, _) = post(&base, json!({"query": big, "extensions": extension(&sha256(&big))})).await;
        assert_eq!(status, 413);
        assert_eq!(code(&by_hash(&big).await.2), "PERSISTED_QUERY_NOT_FOUND");

        let off = super::start_with(GraphqlLimits { max_persisted_queries: 0, ..Default::default() }).await;
        let (status, _, body) = post(&off, json!({"query": SHELVES, "extensions": extension(&sha256(SHELVES))})).await;
        assert_eq!((status, code(&body)), (200, "PERSISTED_QUERY_NOT_SUPPORTED"), "{body}");
    }

    /// Apollo Server's rule: without a content type that forces a CORS
    /// preflight, a request needs `apollo-require-preflight` or
    /// `x-apollo-operation-name`.
    #[tokio::test]
    async fn requests_a_browser_sends_without_preflight_need_a_header() {
        let base = super::start().await;
        let client = reqwest::Client::new();
        let url = format!("{base}/graphql?query={}", encode(SHELVES));
        let mutation = json!({"query": r#"mutation { createShelf(shelf: {theme: "forged"}) { name } }"#}).to_string();
        let refused = [
            client.get(&url),
            client.get(&url).header("apollo-require-preflight", ""),
            client.get(&url).header("content-type", "text/plain"),
            client.post(format!("{base}/graphql")).body(mutation.clone()),
            client.post(format!("{base}/graphql")).header("content-type", "text/plain").body(mutation.clone()),
            client
                .post(format!("{base}/graphql"))
                .header("content-type", "Text/Plain; charset=utf-8")
                .body(mutation.clone()),
            client
                .post(format!("{base}/graphql"))
                .header("content-type", "multipart/form-data; boundary=x")
                .body(mutation.clone()),
            client
                .post(format!("{base}/graphql"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(mutation),
        ];
        for request in refused {
            let (status, _, body) = send(request).await;
            let message = body["errors"][0]["message"].as_str().unwrap_or_default();
            assert_eq!((status, code(&body)), (400, "INVALID_ARGUMENT"), "{body}");
            assert!(message.contains("CSRF") && message.contains("apollo-require-preflight"), "{message}");
        }
        let accepted = [
            client.get(&url).header("apollo-require-preflight", "true"),
            client.get(&url).header("x-apollo-operation-name", "Shelves"),
            // Apollo Client sends this on its GETs too.
            client.get(&url).header("content-type", "application/json"),
            client
                .post(format!("{base}/graphql"))
                .header("content-type", "text/plain")
                .header("apollo-require-preflight", "1")
                .body(json!({"query": SHELVES}).to_string()),
            client
                .post(format!("{base}/graphql"))
                .header("content-type", "application/json; charset=utf-8")
                .body(json!({"query": SHELVES}).to_string()),
        ];
        for request in accepted {
            let (status, _, body) = send(request).await;
            assert_eq!((status, &body["data"]["listShelves"]["nextPageToken"]), (200, &json!("")), "{body}");
        }
        let (_, _, body) = post(&base, json!({"query": "{ listShelves { shelves { name } } }"})).await;
        assert_eq!(body["data"]["listShelves"]["shelves"], json!([]), "no forged mutation ran");
        // GraphiQL stays a plain GET.
        let page = client.get(format!("{base}/graphql")).send().await.expect("answered");
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap_or_default().to_lowercase().contains("graphiql"));
    }
}

// ---------------------------------------------------------------------------
// `/graphql/ws`: what one socket may hold (issue 15), as `/ws` bounds it.

mod socket {
    use std::time::Duration;

    use apigen_runtime::Server;
    use apigen_runtime::futures::{SinkExt, StreamExt};
    use apigen_runtime::server::WebSocketConfig;
    use bookstore_example::v1::{self, BookstoreRestClient};
    use serde_json::{Value, json};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

    const WAIT: Duration = Duration::from_secs(5);

    async fn start(config: WebSocketConfig) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server =
            Server::builder().add_service(v1::bookstore_service(bookstore_example::Store::default())).websocket(config);
        tokio::spawn(server.serve(listener, std::future::pending()));
        addr.to_string()
    }

    async fn connect(addr: &str) -> Socket {
        let mut request = format!("ws://{addr}/graphql/ws").into_client_request().expect("a request");
        request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().expect("a header"));
        tokio_tungstenite::connect_async(request).await.expect("upgrades").0
    }

    async fn send(socket: &mut Socket, frame: Value) {
        socket.send(Message::text(frame.to_string())).await.expect("sends");
    }

    async fn acked(addr: &str) -> Socket {
        let mut socket = connect(addr).await;
        send(&mut socket, json!({"type": "connection_init"})).await;
        match tokio::time::timeout(WAIT, socket.next()).await.expect("in time") {
            Some(Ok(Message::Text(text))) => assert!(text.contains("connection_ack"), "{text}"),
            other => panic!("expected connection_ack, got {other:?}"),
        }
        socket
    }

    /// The close code the server ends the socket with.
    async fn close_code(socket: &mut Socket) -> u16 {
        loop {
            match tokio::time::timeout(WAIT, socket.next()).await.expect("closed in time") {
                Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    }

    async fn shelf(base: &str) -> String {
        let rest = BookstoreRestClient::new(format!("http://{base}"));
        let shelf = v1::Shelf { theme: "Watched".into(), ..Default::default() };
        rest.create_shelf(v1::CreateShelfRequest { shelf: Some(shelf) }).await.expect("created").name
    }

    fn watch(id: &str, shelf: &str) -> Value {
        let query = format!("subscription {{ watchShelf(name: \"{shelf}\") {{ kind book {{ title subtitle }} }} }}");
        json!({"type": "subscribe", "id": id, "payload": {"query": query}})
    }

    #[tokio::test]
    async fn connection_init_must_come_in_time() {
        let addr = start(WebSocketConfig { init_timeout: Duration::from_millis(200), ..Default::default() }).await;
        let mut socket = connect(&addr).await;
        assert_eq!(close_code(&mut socket).await, 4408, "graphql-transport-ws: initialisation timeout");
    }

    #[tokio::test]
    async fn subscriptions_per_socket_are_capped() {
        let addr = start(WebSocketConfig { max_calls: 2, ..Default::default() }).await;
        let shelf = shelf(&addr).await;
        let mut socket = acked(&addr).await;
        send(&mut socket, watch("1", &shelf)).await;
        send(&mut socket, watch("2", &shelf)).await;
        send(&mut socket, watch("3", &shelf)).await;
        assert_eq!(close_code(&mut socket).await, 4429, "a third live subscription is one too many");
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_is_dropped() {
        // Megabyte events to a client that never reads fill both sockets' buffers; the
        // server's loop then waited on its write forever, and its idle and shutdown timers with it.
        let config =
            WebSocketConfig { stall_timeout: Duration::from_millis(300), keep_alive: None, ..Default::default() };
        let addr = start(config).await;
        let shelf = shelf(&addr).await;
        let mut socket = acked(&addr).await;
        send(&mut socket, watch("1", &shelf)).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let rest = BookstoreRestClient::new(format!("http://{addr}"));
        for n in 0..24 {
            // The bulk rides in the subtitle: titles are at most 300 characters.
            let subtitle = Some(apigen_runtime::wkt::StringValue { value: format!("{n}{}", "x".repeat(1 << 20)) });
            let book = v1::Book { title: format!("{n}"), subtitle, ..Default::default() };
            rest.create_book(v1::CreateBookRequest { parent: shelf.clone(), book: Some(book) }).await.expect("created");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        // Reading now drains what was sent before the server gave up, then the socket ends.
        let ended = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                match socket.next().await {
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                    Some(Ok(_)) => {}
                }
            }
        })
        .await;
        assert!(ended.is_ok(), "the server still holds the socket of a client that stopped reading");
    }
}
