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
        let request = format!("GET /graphql?query={query} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("writes");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("reads");
        assert!(response.starts_with("HTTP/1.1 405"), "{response}");
        assert!(response.to_ascii_lowercase().contains("allow: post"), "{response}");
    }
}
