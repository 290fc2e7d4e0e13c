//! HTTP caching from one option: the bookstore's cache hints (`(apigen.method).cache`,
//! `(apigen.message).cache`) as `Cache-Control` on REST GET bindings, Connect GET, tRPC GET
//! queries and GraphQL queries; a strong `ETag` on every read by GET, and 304 without a body for a
//! matching `If-None-Match`. `tests/e2e/test_http_cache.py` puts nginx's cache in front.

use apigen_runtime::Server;
use bookstore_example::{Store, v1};
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH};
use serde_json::{Value, json};

async fn start() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = Server::builder().add_service(v1::bookstore_service(Store::default()));
    tokio::spawn(server.serve(listener, std::future::pending()));
    let base = format!("http://{addr}");
    let rest = v1::BookstoreRestClient::new(base.clone());
    let shelf = v1::Shelf { theme: "Cached".into(), ..Default::default() };
    let shelf = rest.create_shelf(v1::CreateShelfRequest { shelf: Some(shelf) }).await.expect("a shelf");
    let book = v1::Book { title: "Kept".into(), authors: vec!["Ada".into()], ..Default::default() };
    rest.create_book(v1::CreateBookRequest { parent: shelf.name, book: Some(book) }).await.expect("a book");
    base
}

/// GETs `url` (with `headers`) twice, the second time with the first's `ETag`: the first is 200
/// with `cache_control`, the second 304 without a body. Returns the tag.
async fn validates(http: &reqwest::Client, url: &str, headers: &[(&str, &str)], cache_control: Option<&str>) -> String {
    let get = |tag: Option<&str>| {
        let mut request = http.get(url);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        if let Some(tag) = tag {
            request = request.header(IF_NONE_MATCH, tag);
        }
        request.send()
    };
    let first = get(None).await.expect("answers");
    assert_eq!(first.status(), StatusCode::OK, "{url}");
    let control = first.headers().get(CACHE_CONTROL).and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(control.as_deref(), cache_control, "{url}");
    let tag = first.headers().get(ETAG).and_then(|v| v.to_str().ok()).expect("an ETag").to_owned();
    assert!(tag.starts_with('"') && tag.len() == 34, "a strong tag: {tag}");
    let body = first.bytes().await.expect("a body");
    assert!(!body.is_empty());

    let again = get(Some(&tag)).await.expect("answers");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{url}");
    assert_eq!(again.headers().get(ETAG).and_then(|v| v.to_str().ok()), Some(tag.as_str()));
    assert_eq!(again.headers().get(CACHE_CONTROL).and_then(|v| v.to_str().ok()), cache_control);
    assert!(again.bytes().await.expect("read").is_empty(), "304 has no body");

    let stale = get(Some("\"something else\"")).await.expect("answers");
    assert_eq!(stale.status(), StatusCode::OK, "another tag gets the body");
    tag
}

#[tokio::test]
async fn rest_connect_and_trpc_reads_by_get_carry_their_hint_and_validate() {
    let base = start().await;
    let http = reqwest::Client::new();
    let rest = validates(&http, &format!("{base}/v1/shelves/1"), &[], Some("public, max-age=30")).await;
    validates(&http, &format!("{base}/v1/books:search?query=kept"), &[], Some("private, max-age=10")).await;
    validates(&http, &format!("{base}/v1/shelves/1/books"), &[], None).await;

    let message = "%7B%22name%22%3A%22shelves%2F1%22%7D";
    let connect = format!("{base}/bookstore.v1.Bookstore/GetShelf?connect=v1&encoding=json&message={message}");
    let tag = validates(&http, &connect, &[], Some("public, max-age=30")).await;
    assert_eq!(tag, rest, "the same bytes, the same tag");
    let gzipped = validates(&http, &connect, &[("accept-encoding", "gzip")], Some("public, max-age=30")).await;
    assert_ne!(gzipped, tag, "another encoding is another representation");

    let trpc = format!("{base}/trpc/bookstore.getShelf?input={message}");
    validates(&http, &trpc, &[], Some("public, max-age=30")).await;

    // A change is a new tag.
    let rest_client = v1::BookstoreRestClient::new(base.clone());
    let book = v1::Book { title: "Another".into(), ..Default::default() };
    rest_client
        .create_book(v1::CreateBookRequest { parent: "shelves/1".into(), book: Some(book) })
        .await
        .expect("book");
    let after = http.get(format!("{base}/v1/shelves/1")).header(IF_NONE_MATCH, &rest).send().await.expect("answers");
    assert_eq!(after.status(), StatusCode::OK, "bookCount changed: the old tag no longer matches");

    // Writes carry neither.
    let created = http.post(format!("{base}/v1/shelves")).json(&json!({"theme": "New"})).send().await.expect("ok");
    assert!(created.headers().get(ETAG).is_none() && created.headers().get(CACHE_CONTROL).is_none());
}

/// A GraphQL query's `Cache-Control`, as Apollo Server computes it.
async fn graphql_cache_control(http: &reqwest::Client, base: &str, query: &str) -> (Option<String>, Value) {
    let response = http.post(format!("{base}/graphql")).json(&json!({"query": query})).send().await.expect("answers");
    let control = response.headers().get(CACHE_CONTROL).and_then(|v| v.to_str().ok()).map(str::to_owned);
    (control, response.json().await.expect("JSON"))
}

#[tokio::test]
async fn graphql_combines_the_hints_of_the_fields_a_query_selects() {
    let base = start().await;
    let http = reqwest::Client::new();
    let cases = [
        // One root field: its method's hint.
        ("{ getShelf(name: \"shelves/1\") { theme } }", Some("public, max-age=30")),
        // The shortest max age of every field: listShelves (1 s) and the relation's Book (30 s).
        (
            "{ getShelf(name: \"shelves/1\") { theme } listShelves { shelves { name books { title } } } }",
            Some("public, max-age=1"),
        ),
        // Relations: Book (30) and Author (300).
        ("{ getShelf(name: \"shelves/1\") { books { authorDetails { name } } } }", Some("public, max-age=30")),
        // Private when any field is.
        (
            "{ getShelf(name: \"shelves/1\") { theme } searchBooks(query: \"kept\") { totalSize } }",
            Some("private, max-age=10"),
        ),
        // A field without a hint: none.
        ("{ getShelf(name: \"shelves/1\") { theme } listBooks(parent: \"shelves/1\") { books { title } } }", None),
        // An error: none.
        ("{ getShelf(name: \"shelves/99\") { theme } }", None),
        // No field that calls anything: none.
        ("{ __typename }", None),
        // A mutation: none.
        ("mutation { createShelf(shelf: {theme: \"x\"}) { name } }", None),
    ];
    for (query, expected) in cases {
        let (control, body) = graphql_cache_control(&http, &base, query).await;
        assert_eq!(control.as_deref(), expected, "{query}: {body}");
    }

    // By GET, the same hint with a validator.
    let url = format!("{base}/graphql?query=%7B%20getShelf(name%3A%20%22shelves%2F1%22)%20%7B%20theme%20%7D%20%7D");
    validates(&http, &url, &[("apollo-require-preflight", "true")], Some("public, max-age=30")).await;
}
