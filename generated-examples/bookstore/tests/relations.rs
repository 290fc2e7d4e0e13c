//! GraphQL relations, proved by counting: a bookstore that records every
//! call it gets (method and keys), and can misbehave on request (shuffle,
//! drop and repeat rows, fail, sleep), serves relation queries; the tests
//! count the backend calls each query cost.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use apigen_runtime::{Code, Context, RequestStream, ResponseStream, Result, Server, Status};
use bookstore_example::{Store, v1};
use serde_json::{Value, json};

/// One call the service got: its method, its keys (for the batch methods)
/// and the `x-request` header it carried.
#[derive(Debug, Clone)]
struct Call {
    method: &'static str,
    keys: Vec<String>,
    request: String,
}

/// How the service misbehaves.
#[derive(Debug, Clone, Default)]
struct Chaos {
    /// BatchGetAuthors returns its rows reversed, without the first key's and
    /// with one row twice.
    scramble_authors: bool,
    /// BatchGetShelves leaves out this shelf.
    drop_shelf: Option<String>,
    /// BatchGetAuthors fails with this code.
    fail_authors: Option<Code>,
    /// Every call sleeps a pseudo-random 0-4 ms first, from this seed.
    latency: Option<u64>,
}

struct Counting {
    store: Store,
    calls: Arc<Mutex<Vec<Call>>>,
    chaos: Chaos,
    rng: Mutex<u64>,
}

impl Counting {
    async fn record(&self, ctx: &Context, method: &'static str, keys: &[String]) {
        let request = ctx.metadata_str("x-request").unwrap_or_default().to_owned();
        self.calls.lock().expect("calls").push(Call { method, keys: keys.to_vec(), request });
        if let Some(seed) = self.chaos.latency {
            let ms = {
                let mut state = self.rng.lock().expect("rng");
                if *state == 0 {
                    *state = seed | 1;
                }
                // xorshift64: reproducible per seed, no dependency.
                *state ^= *state << 13;
                *state ^= *state >> 7;
                *state ^= *state << 17;
                *state % 5
            };
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }
}

impl v1::Bookstore for Counting {
    async fn list_shelves(&self, ctx: Context, request: v1::ListShelvesRequest) -> Result<v1::ListShelvesResponse> {
        self.record(&ctx, "ListShelves", &[]).await;
        self.store.list_shelves(ctx, request).await
    }
    async fn create_shelf(&self, ctx: Context, request: v1::CreateShelfRequest) -> Result<v1::Shelf> {
        self.store.create_shelf(ctx, request).await
    }
    async fn get_shelf(&self, ctx: Context, request: v1::GetShelfRequest) -> Result<v1::Shelf> {
        self.record(&ctx, "GetShelf", &[]).await;
        self.store.get_shelf(ctx, request).await
    }
    async fn delete_shelf(&self, ctx: Context, request: v1::DeleteShelfRequest) -> Result<apigen_runtime::wkt::Empty> {
        self.store.delete_shelf(ctx, request).await
    }
    async fn list_books(&self, ctx: Context, request: v1::ListBooksRequest) -> Result<v1::ListBooksResponse> {
        self.record(&ctx, "ListBooks", &[]).await;
        self.store.list_books(ctx, request).await
    }
    async fn get_book(&self, ctx: Context, request: v1::GetBookRequest) -> Result<v1::Book> {
        self.record(&ctx, "GetBook", &[]).await;
        self.store.get_book(ctx, request).await
    }
    async fn create_book(&self, ctx: Context, request: v1::CreateBookRequest) -> Result<v1::Book> {
        self.store.create_book(ctx, request).await
    }
    async fn update_book(&self, ctx: Context, request: v1::UpdateBookRequest) -> Result<v1::Book> {
        self.store.update_book(ctx, request).await
    }
    async fn move_book(&self, ctx: Context, request: v1::MoveBookRequest) -> Result<v1::Book> {
        self.store.move_book(ctx, request).await
    }
    async fn search_books(&self, ctx: Context, request: v1::SearchBooksRequest) -> Result<v1::SearchBooksResponse> {
        self.record(&ctx, "SearchBooks", &[]).await;
        self.store.search_books(ctx, request).await
    }
    async fn watch_shelf(
        &self,
        ctx: Context,
        request: v1::WatchShelfRequest,
    ) -> Result<ResponseStream<v1::ShelfEvent>> {
        self.store.watch_shelf(ctx, request).await
    }
    async fn import_books(
        &self,
        ctx: Context,
        requests: RequestStream<v1::ImportBooksRequest>,
    ) -> Result<v1::ImportBooksResponse> {
        self.store.import_books(ctx, requests).await
    }
    async fn batch_get_shelves(
        &self,
        ctx: Context,
        request: v1::BatchGetShelvesRequest,
    ) -> Result<v1::BatchGetShelvesResponse> {
        self.record(&ctx, "BatchGetShelves", &request.names).await;
        let mut response = self.store.batch_get_shelves(ctx, request).await?;
        if let Some(dropped) = &self.chaos.drop_shelf {
            response.shelves.retain(|s| s.name != *dropped);
        }
        Ok(response)
    }
    async fn batch_get_books(
        &self,
        ctx: Context,
        request: v1::BatchGetBooksRequest,
    ) -> Result<v1::BatchGetBooksResponse> {
        self.record(&ctx, "BatchGetBooks", &request.names).await;
        self.store.batch_get_books(ctx, request).await
    }
    async fn list_books_by_shelves(
        &self,
        ctx: Context,
        request: v1::ListBooksByShelvesRequest,
    ) -> Result<v1::ListBooksByShelvesResponse> {
        self.record(&ctx, "ListBooksByShelves", &request.shelves).await;
        self.store.list_books_by_shelves(ctx, request).await
    }
    async fn batch_get_authors(
        &self,
        ctx: Context,
        request: v1::BatchGetAuthorsRequest,
    ) -> Result<v1::BatchGetAuthorsResponse> {
        self.record(&ctx, "BatchGetAuthors", &request.names).await;
        if let Some(code) = self.chaos.fail_authors {
            return Err(Status::new(code, "the author index is down"));
        }
        let first = request.names.first().cloned();
        let mut response = self.store.batch_get_authors(ctx, request).await?;
        if self.chaos.scramble_authors {
            response.authors.reverse();
            response.authors.retain(|a| Some(&a.name) != first.as_ref());
            if let Some(again) = response.authors.first().cloned() {
                response.authors.push(again);
            }
        }
        Ok(response)
    }
}

struct Bookstore {
    base: String,
    calls: Arc<Mutex<Vec<Call>>>,
    http: reqwest::Client,
}

impl Bookstore {
    async fn start(chaos: Chaos) -> Bookstore {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let service = Counting { store: Store::default(), calls: Arc::clone(&calls), chaos, rng: Mutex::new(0) };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(
            Server::builder().add_service(v1::bookstore_service(service)).serve(listener, std::future::pending()),
        );
        Bookstore { base: format!("http://{addr}"), calls, http: reqwest::Client::new() }
    }

    /// `shelves` shelves with `books` books each; book `j` of shelf `i` lists
    /// the authors `authors(i, j)`.
    async fn stock(&self, shelves: usize, books: usize, authors: impl Fn(usize, usize) -> Vec<String>) {
        let rest = v1::BookstoreRestClient::new(self.base.clone());
        for i in 0..shelves {
            let shelf = v1::Shelf { theme: format!("theme {i}"), ..Default::default() };
            let shelf = rest.create_shelf(v1::CreateShelfRequest { shelf: Some(shelf) }).await.expect("shelf");
            for j in 0..books {
                let book = v1::Book { title: format!("book {i}.{j}"), authors: authors(i, j), ..Default::default() };
                let request = v1::CreateBookRequest { parent: shelf.name.clone(), book: Some(book) };
                rest.create_book(request).await.expect("book");
            }
        }
        self.calls.lock().expect("calls").clear();
    }

    /// The whole GraphQL response to `query`, sent with `x-request: tag`.
    async fn graphql(&self, query: &str, tag: &str) -> Value {
        let response = self
            .http
            .post(format!("{}/graphql", self.base))
            .header("x-request", tag)
            .json(&json!({"query": query}))
            .send()
            .await
            .expect("answers");
        response.json().await.expect("JSON")
    }

    /// The calls made since the last look, cleared.
    fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.lock().expect("calls"))
    }
}

fn count(calls: &[Call], method: &str) -> usize {
    calls.iter().filter(|c| c.method == method).count()
}

const THREE_LEVELS: &str =
    "{ listShelves(pageSize: 1000) { shelves { name books { title shelf authorDetails { name bookCount } } } } }";

/// Two shared authors on every book, plus one per shelf.
fn shared_authors(i: usize, _: usize) -> Vec<String> {
    vec!["Ada".to_owned(), format!("Author {i}"), "Grace".to_owned()]
}

#[tokio::test]
async fn each_level_is_one_call_for_1_10_and_100_shelves() {
    for shelves in [1, 10, 100] {
        let store = Bookstore::start(Chaos::default()).await;
        // Two authors on every book and one of 20 more per shelf: at most 22 keys, under the 25 a call takes.
        store.stock(shelves, 3, |i, _| vec!["Ada".into(), "Grace".into(), format!("Author {}", i % 20)]).await;
        let response = store.graphql(THREE_LEVELS, "one").await;
        assert!(response.get("errors").is_none(), "{response}");
        let calls = store.take();
        assert_eq!(count(&calls, "ListShelves"), 1, "{shelves} shelves: {calls:?}");
        assert_eq!(count(&calls, "ListBooksByShelves"), 1, "{shelves} shelves: one call for every shelf's books");
        assert_eq!(count(&calls, "BatchGetAuthors"), 1, "{shelves} shelves: one call for every book's authors");
        assert_eq!(calls.len(), 3, "{calls:?}");
        let by_shelves = calls.iter().find(|c| c.method == "ListBooksByShelves").expect("called");
        assert_eq!(by_shelves.keys.len(), shelves, "every shelf once");
        let authors = calls.iter().find(|c| c.method == "BatchGetAuthors").expect("called");
        let mut distinct = authors.keys.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), authors.keys.len(), "shared authors are asked for once: {:?}", authors.keys);
        assert_eq!(authors.keys.len(), 2 + shelves.min(20));

        // The rows landed on their parents.
        let listed = response["data"]["listShelves"]["shelves"].as_array().expect("shelves").clone();
        assert_eq!(listed.len(), shelves);
        for shelf in &listed {
            let books = shelf["books"].as_array().expect("books");
            assert_eq!(books.len(), 3, "{shelf}");
            for book in books {
                assert_eq!(book["shelf"], shelf["name"], "a book under the shelf it stands on");
                let names: Vec<&str> = book["authorDetails"]
                    .as_array()
                    .expect("authors")
                    .iter()
                    .map(|a| a["name"].as_str().unwrap_or(""))
                    .collect();
                assert_eq!(names[..2], ["Ada", "Grace"], "{book}");
                assert_eq!(book["authorDetails"][0]["bookCount"], json!(shelves * 3), "Ada is on every book");
            }
        }
    }
}

#[tokio::test]
async fn more_keys_than_the_maximum_make_ceil_n_over_max_calls() {
    let store = Bookstore::start(Chaos::default()).await;
    // 120 distinct authors over 40 books; BatchGetAuthors takes at most 25 keys.
    store.stock(4, 10, |i, j| (0..3).map(|k| format!("Author {}", (i * 10 + j) * 3 + k)).collect()).await;
    let response = store.graphql("{ listShelves { shelves { books { authorDetails { name } } } } }", "big").await;
    assert!(response.get("errors").is_none(), "{response}");
    let calls = store.take();
    let batches: Vec<&Call> = calls.iter().filter(|c| c.method == "BatchGetAuthors").collect();
    assert_eq!(batches.len(), 5, "ceil(120 / 25) calls");
    assert!(batches.iter().all(|c| c.keys.len() <= 25), "{batches:?}");
    let mut all: Vec<&String> = batches.iter().flat_map(|c| &c.keys).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 120, "every key once, in one of the calls");
}

#[tokio::test]
async fn a_relation_not_selected_costs_nothing() {
    let store = Bookstore::start(Chaos::default()).await;
    store.stock(3, 2, shared_authors).await;
    let response = store.graphql("{ listShelves { shelves { name theme } } }", "plain").await;
    assert_eq!(response["data"]["listShelves"]["shelves"].as_array().map(Vec::len), Some(3));
    let calls = store.take();
    assert_eq!(calls.iter().map(|c| c.method).collect::<Vec<_>>(), ["ListShelves"]);
}

#[tokio::test]
async fn aliases_and_fragments_on_one_relation_share_its_batch() {
    let store = Bookstore::start(Chaos::default()).await;
    store.stock(3, 2, shared_authors).await;
    let query = "query { listShelves { shelves { a: books { title } b: books { name } ...Deep } } }
        fragment Deep on Shelf { books { authorDetails { name } again: authorDetails { bookCount } } }";
    let response = store.graphql(query, "aliases").await;
    assert!(response.get("errors").is_none(), "{response}");
    let shelf = &response["data"]["listShelves"]["shelves"][0];
    assert_eq!(shelf["a"].as_array().map(Vec::len), Some(2));
    assert_eq!(shelf["b"][0]["name"], json!("shelves/1/books/1"));
    let calls = store.take();
    assert_eq!(count(&calls, "ListBooksByShelves"), 1, "{calls:?}");
    assert_eq!(count(&calls, "BatchGetAuthors"), 1, "{calls:?}");
}

#[tokio::test]
async fn results_are_matched_by_key_not_by_position() {
    let chaos = Chaos { scramble_authors: true, ..Chaos::default() };
    let store = Bookstore::start(chaos).await;
    store.stock(1, 1, |_, _| vec!["Ada".into(), "Babbage".into(), "Curie".into(), "Dijkstra".into()]).await;
    let response = store.graphql("{ listShelves { shelves { books { authors authorDetails { name } } } } }", "k").await;
    assert!(response.get("errors").is_none(), "not required: no error for the missing one: {response}");
    let book = &response["data"]["listShelves"]["shelves"][0]["books"][0];
    // The backend answered [Dijkstra, Curie, Babbage, Dijkstra] for [Ada, Babbage, Curie, Dijkstra].
    assert_eq!(
        book["authorDetails"],
        json!([{"name": "Babbage"}, {"name": "Curie"}, {"name": "Dijkstra"}]),
        "in the keys' order, the missing one left out, the repeated one once"
    );
}

#[tokio::test]
async fn a_required_relation_without_its_row_is_an_error_naming_the_key() {
    let chaos = Chaos { drop_shelf: Some("shelves/2".into()), ..Chaos::default() };
    let store = Bookstore::start(chaos).await;
    store.stock(2, 1, shared_authors).await;
    let response =
        store.graphql("{ getBook(name: \"shelves/2/books/2\") { title shelfDetails { theme } } }", "r").await;
    let error = &response["errors"][0];
    assert!(error["message"].as_str().unwrap_or("").contains("\"shelves/2\""), "names the key: {response}");
    assert_eq!(error["extensions"]["code"], json!("NOT_FOUND"));
    assert_eq!(error["path"], json!(["getBook", "shelfDetails"]));
    assert_eq!(
        response["data"]["getBook"],
        json!({"title": "book 1.0", "shelfDetails": null}),
        "the error stays on its field"
    );
    let ok = store.graphql("{ getBook(name: \"shelves/1/books/1\") { shelfDetails { theme } } }", "r").await;
    assert_eq!(ok["data"]["getBook"]["shelfDetails"]["theme"], json!("theme 0"), "{ok}");
}

#[tokio::test]
async fn a_loader_error_fails_exactly_the_fields_it_served() {
    let chaos = Chaos { fail_authors: Some(Code::PermissionDenied), ..Chaos::default() };
    let store = Bookstore::start(chaos).await;
    store.stock(2, 2, shared_authors).await;
    let response = store.graphql(THREE_LEVELS, "fail").await;
    let errors = response["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 4, "one per authorDetails field: {response}");
    for error in errors {
        assert_eq!(error["extensions"]["code"], json!("PERMISSION_DENIED"), "{error}");
        assert_eq!(error["path"].as_array().and_then(|p| p.last()), Some(&json!("authorDetails")), "{error}");
    }
    let books = &response["data"]["listShelves"]["shelves"][1]["books"];
    assert_eq!(books[0]["title"], json!("book 1.0"), "the rest of the data is there");
    assert_eq!(books[0]["authorDetails"], Value::Null);
    assert_eq!(count(&store.take(), "BatchGetAuthors"), 1, "one failed call, not one per field");
}

#[tokio::test]
async fn two_concurrent_requests_never_share_a_batch() {
    let chaos = Chaos { latency: Some(7), ..Chaos::default() };
    let store = Arc::new(Bookstore::start(chaos).await);
    store.stock(6, 2, shared_authors).await;
    for _ in 0..10 {
        let (a, b) = tokio::join!(store.graphql(THREE_LEVELS, "a"), store.graphql(THREE_LEVELS, "b"));
        assert!(a.get("errors").is_none() && b.get("errors").is_none(), "{a} {b}");
        assert_eq!(a["data"], b["data"]);
        let calls = store.take();
        for tag in ["a", "b"] {
            let mine: Vec<&Call> = calls.iter().filter(|c| c.request == tag).collect();
            assert_eq!(mine.len(), 3, "request {tag}: one call per level: {calls:?}");
        }
        let authors = calls.iter().filter(|c| c.method == "BatchGetAuthors");
        assert!(authors.clone().all(|c| c.keys.len() == 8), "each batch holds one request's 8 authors: {calls:?}");
    }
}

#[tokio::test]
async fn random_backend_latency_never_splits_a_level() {
    for seed in 1..=40u64 {
        let store = Bookstore::start(Chaos { latency: Some(seed), ..Chaos::default() }).await;
        store.stock(5, 3, shared_authors).await;
        let query = "{ listShelves { shelves { books { shelfDetails { books { authorDetails { name } } } authorDetails { bookCount } } } } }";
        let response = store.graphql(query, "r").await;
        assert!(response.get("errors").is_none(), "{response}");
        let calls = store.take();
        // Levels: shelves; their books; each book's shelf and authors; those
        // shelves' books and their authors, all asked for already.
        let methods: Vec<&str> = calls.iter().map(|c| c.method).collect();
        assert_eq!(methods, ["ListShelves", "ListBooksByShelves", "BatchGetShelves", "BatchGetAuthors"], "seed {seed}");
    }
}

#[tokio::test]
async fn subscription_events_resolve_their_relations() {
    use apigen_runtime::futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let store = Bookstore::start(Chaos::default()).await;
    store.stock(1, 0, shared_authors).await;
    let addr = store.base.trim_start_matches("http://");
    let mut request = format!("ws://{addr}/graphql/ws").into_client_request().expect("a request");
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().expect("a header"));
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("upgrades");
    socket.send(Message::text(json!({"type": "connection_init"}).to_string())).await.expect("sends");
    let query = "subscription { watchShelf(name: \"shelves/1\") { kind book { title shelfDetails { theme } authorDetails { name bookCount } } } }";
    let subscribe = json!({"type": "subscribe", "id": "1", "payload": {"query": query}});
    socket.send(Message::text(subscribe.to_string())).await.expect("sends");
    let mut frames = Vec::new();
    let rest = v1::BookstoreRestClient::new(store.base.clone());
    let mut added = false;
    while frames.is_empty() {
        let frame = match tokio::time::timeout(Duration::from_secs(5), socket.next()).await.expect("in time") {
            Some(Ok(Message::Text(text))) => serde_json::from_str::<Value>(&text).expect("JSON"),
            Some(Ok(_)) => continue,
            other => panic!("socket ended: {other:?}"),
        };
        if frame["type"] == "connection_ack" && !added {
            // The subscription starts right after the ack; give it a moment to be live.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let book = v1::Book { title: "Live".into(), authors: vec!["Ada".into()], ..Default::default() };
            rest.create_book(v1::CreateBookRequest { parent: "shelves/1".into(), book: Some(book) })
                .await
                .expect("book");
            added = true;
        } else if frame["type"] == "next" {
            frames.push(frame);
        }
    }
    let book = &frames[0]["payload"]["data"]["watchShelf"]["book"];
    assert_eq!(book["shelfDetails"]["theme"], json!("theme 0"), "{}", frames[0]);
    assert_eq!(book["authorDetails"], json!([{"name": "Ada", "bookCount": 1}]));
    let calls = store.take();
    assert_eq!(count(&calls, "BatchGetShelves"), 1, "{calls:?}");
    assert_eq!(count(&calls, "BatchGetAuthors"), 1, "{calls:?}");
}

#[tokio::test]
async fn depth_and_complexity_limits_count_relation_fields() {
    // listShelves > shelves > books > shelfDetails > books > title: depth 6, and 6 fields.
    let query = "{ listShelves { shelves { books { shelfDetails { books { title } } } } } }";
    let limits = [
        apigen_runtime::server::GraphqlLimits { max_depth: 5, ..Default::default() },
        apigen_runtime::server::GraphqlLimits { max_complexity: 5, ..Default::default() },
    ];
    for (limits, refusal) in limits.into_iter().zip(["nested too deep", "too complex"]) {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let service = Counting {
            store: Store::default(),
            calls: Arc::clone(&calls),
            chaos: Chaos::default(),
            rng: Mutex::new(0),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = Server::builder().add_service(v1::bookstore_service(service)).graphql_limits(limits);
        tokio::spawn(server.serve(listener, std::future::pending()));
        let response: Value = reqwest::Client::new()
            .post(format!("http://{addr}/graphql"))
            .json(&json!({"query": query}))
            .send()
            .await
            .expect("answers")
            .json()
            .await
            .expect("JSON");
        let message = response["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(refusal), "{refusal}: {response}");
        assert!(calls.lock().expect("calls").is_empty(), "refused before any call");
        // One level less passes both limits.
        let fine = "{ listShelves { shelves { books { title } } } }";
        let response: Value = reqwest::Client::new()
            .post(format!("http://{addr}/graphql"))
            .json(&json!({"query": fine}))
            .send()
            .await
            .expect("answers")
            .json()
            .await
            .expect("JSON");
        assert!(response.get("errors").is_none(), "{response}");
    }
}

#[tokio::test]
async fn federation_entities_load_in_one_call_per_type_in_the_request_order() {
    let store = Bookstore::start(Chaos::default()).await;
    store.stock(3, 2, shared_authors).await;
    let query = r#"query($r: [_Any!]!) { _entities(representations: $r) {
        __typename ... on Book { name title authorDetails { name } } ... on Shelf { name theme } } }"#;
    let representations = json!([
        {"__typename": "Book", "name": "shelves/2/books/4"},
        {"__typename": "Shelf", "name": "shelves/3"},
        {"__typename": "Book", "name": "shelves/1/books/1"},
        {"__typename": "Book", "name": "shelves/2/books/4"},
    ]);
    let response: Value = store
        .http
        .post(format!("{}/graphql", store.base))
        .json(&json!({"query": query, "variables": {"r": representations}}))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert!(response.get("errors").is_none(), "{response}");
    let entities = &response["data"]["_entities"];
    assert_eq!(entities[0]["title"], json!("book 1.1"), "in the representations' order: {entities}");
    assert_eq!(entities[1], json!({"__typename": "Shelf", "name": "shelves/3", "theme": "theme 2"}));
    assert_eq!(entities[2]["title"], json!("book 0.0"));
    assert_eq!(entities[3], entities[0]);
    let calls = store.take();
    let books: Vec<&Call> = calls.iter().filter(|c| c.method == "BatchGetBooks").collect();
    assert_eq!(books.len(), 1, "one call for every book: {calls:?}");
    assert_eq!(books[0].keys, ["shelves/2/books/4", "shelves/1/books/1"], "each key once");
    assert_eq!(count(&calls, "BatchGetShelves"), 1);
    assert_eq!(count(&calls, "BatchGetAuthors"), 1, "the entities' relations batch too");

    // `_service` gives the subgraph's SDL, with the entities' keys.
    let sdl: Value = store
        .http
        .post(format!("{}/graphql", store.base))
        .json(&json!({"query": "{ _service { sdl } }"}))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    let sdl = sdl["data"]["_service"]["sdl"].as_str().unwrap_or_default();
    assert!(sdl.contains("@key(fields: \"name\")"), "{sdl}");
    assert!(sdl.contains("specs.apollo.dev/federation/v2"), "a Federation 2 subgraph: {sdl}");

    // A representation nothing matches fails the field: gateways match by position.
    let missing = json!([{"__typename": "Book", "name": "shelves/9/books/99"}]);
    let response: Value = store
        .http
        .post(format!("{}/graphql", store.base))
        .json(&json!({"query": query, "variables": {"r": missing}}))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(response["errors"][0]["extensions"]["code"], json!("NOT_FOUND"), "{response}");
}

#[tokio::test]
async fn the_typed_client_selects_relations_only_when_asked() {
    let store = Bookstore::start(Chaos::default()).await;
    store.stock(2, 2, shared_authors).await;
    let client = v1::BookstoreGraphqlClient::new(store.base.clone());
    let request = v1::ListShelvesRequest::default();
    let shelves = client.list_shelves(request.clone()).await.expect("lists");
    assert_eq!(shelves.shelves.len(), 2);
    assert_eq!(store.take().iter().map(|c| c.method).collect::<Vec<_>>(), ["ListShelves"], "no relation by default");

    let json = client
        .with_relations("listShelves", &request, &["shelves.books", "shelves.books.authorDetails"])
        .await
        .expect("lists with relations");
    let book = &json["shelves"][1]["books"][0];
    assert_eq!(book["title"], json!("book 1.0"), "{json}");
    assert_eq!(book["authorDetails"][0], json!({"name": "Ada", "bookCount": 4}));
    assert!(book.get("shelfDetails").is_none(), "only the relations asked for");
    assert_eq!(json["shelves"][0]["theme"], json!("theme 0"), "every field, as the typed call reads");
    let methods: Vec<&str> = store.take().iter().map(|c| c.method).collect();
    assert_eq!(methods, ["ListShelves", "ListBooksByShelves", "BatchGetAuthors"]);

    let wrong = client.with_relations("listShelves", &request, &["shelves.nope"]).await.expect_err("no such relation");
    assert_eq!(wrong.code(), Code::InvalidArgument, "{wrong:?}");
}

#[tokio::test]
async fn the_typed_client_subscribes_over_graphql_ws() {
    let store = Bookstore::start(Chaos::default()).await;
    store.stock(1, 0, shared_authors).await;
    let client = v1::BookstoreGraphqlClient::new(store.base.clone());
    let mut events = client.watch_shelf(v1::WatchShelfRequest { name: "shelves/1".into() }).await.expect("subscribes");
    // The subscription is live once the server has started the call; give it a moment.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rest = v1::BookstoreRestClient::new(store.base.clone());
    for title in ["First", "Second"] {
        let book = v1::Book { title: title.into(), ..Default::default() };
        rest.create_book(v1::CreateBookRequest { parent: "shelves/1".into(), book: Some(book) }).await.expect("book");
    }
    for title in ["First", "Second"] {
        let event = tokio::time::timeout(Duration::from_secs(5), events.next()).await.expect("in time");
        let event = event.expect("an event").expect("not an error");
        assert_eq!(event.kind(), v1::shelf_event::Kind::BookAdded);
        assert_eq!(event.book.map(|b| b.title), Some(title.to_owned()));
    }

    // A refused subscription is the server's status.
    let mut missing = client.watch_shelf(v1::WatchShelfRequest { name: "not a shelf".into() }).await.expect("opens");
    let refused = tokio::time::timeout(Duration::from_secs(5), missing.next()).await.expect("in time");
    assert_eq!(refused.expect("an item").expect_err("refused").code(), Code::InvalidArgument);
}
