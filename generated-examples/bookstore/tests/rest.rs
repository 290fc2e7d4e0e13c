//! The bookstore over REST with the generated typed REST client: every bound
//! method, and errors come back as the same `Status` as over gRPC.

use apigen_runtime::wkt::FieldMask;
use apigen_runtime::{BearerToken, Code, Server};
use bookstore_example::v1::{self, BookstoreRestClient};

async fn start(token: Option<&str>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut server = Server::builder().add_service(v1::bookstore_service(bookstore_example::Store::default()));
    if let Some(token) = token {
        server = server.authenticator(BearerToken::new(token));
    }
    tokio::spawn(server.serve(listener, std::future::pending()));
    format!("http://{addr}")
}

fn shelf(theme: &str) -> v1::CreateShelfRequest {
    v1::CreateShelfRequest { shelf: Some(v1::Shelf { theme: theme.into(), ..Default::default() }) }
}

fn book(title: &str, genre: v1::Genre, publisher: &str, price: f64) -> v1::Book {
    v1::Book {
        title: title.into(),
        authors: vec!["A. Author".into()],
        genre: genre as i32,
        price,
        publisher: Some(v1::Publisher { name: publisher.into(), country: "GB".into() }),
        ..Default::default()
    }
}

#[tokio::test]
async fn every_bound_method_works_through_the_rest_client() {
    let c = BookstoreRestClient::new(start(None).await);
    let s1 = c.create_shelf(shelf("Poetry")).await.expect("created");
    let s2 = c.create_shelf(shelf("Prose")).await.expect("created");
    assert_eq!(c.get_shelf(v1::GetShelfRequest { name: s1.name.clone() }).await.expect("found").theme, "Poetry");
    let listed = c.list_shelves(v1::ListShelvesRequest { page_size: 1, ..Default::default() }).await.expect("listed");
    assert_eq!((listed.shelves.len(), listed.next_page_token.is_empty()), (1, false));

    let b = c
        .create_book(v1::CreateBookRequest {
            parent: s1.name.clone(),
            book: Some(book("Odes", v1::Genre::Poetry, "Faber", 12.5)),
        })
        .await
        .expect("created");
    assert!(b.name.starts_with(&format!("{}/books/", s1.name)));
    let got = c.get_book(v1::GetBookRequest { name: b.name.clone() }).await.expect("found");
    assert_eq!(got.title, "Odes");

    let renamed = v1::Book { name: b.name.clone(), title: "Collected Odes".into(), price: 99.0, ..Default::default() };
    let mask = FieldMask { paths: vec!["title".into()] };
    let updated =
        c.update_book(v1::UpdateBookRequest { book: Some(renamed), update_mask: Some(mask) }).await.expect("updated");
    assert_eq!((updated.title.as_str(), updated.price), ("Collected Odes", 12.5), "only the masked field changes");

    let moved =
        c.move_book(v1::MoveBookRequest { name: b.name.clone(), other_shelf: s2.name.clone() }).await.expect("moved");
    assert!(moved.name.starts_with(&s2.name));
    let gone = c.get_book(v1::GetBookRequest { name: b.name.clone() }).await.expect_err("old name");
    assert_eq!(gone.code(), Code::NotFound);

    let found = c
        .search_books(v1::SearchBooksRequest {
            query: "odes".into(),
            genres: vec![v1::Genre::Poetry as i32, v1::Genre::Fiction as i32],
            max_price: Some(20.0),
            publisher: Some(v1::Publisher { name: "Faber".into(), country: String::new() }),
            ..Default::default()
        })
        .await
        .expect("searched");
    assert_eq!((found.total_size, found.books.len()), (1, 1), "{found:?}");
    let none =
        c.search_books(v1::SearchBooksRequest { max_price: Some(1.0), ..Default::default() }).await.expect("searched");
    assert_eq!(none.total_size, 0);

    let listed =
        c.list_books(v1::ListBooksRequest { parent: s2.name.clone(), ..Default::default() }).await.expect("listed");
    assert_eq!(listed.books.len(), 1);
    let refused =
        c.delete_shelf(v1::DeleteShelfRequest { name: s2.name.clone(), force: false }).await.expect_err("not empty");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    c.delete_shelf(v1::DeleteShelfRequest { name: s2.name.clone(), force: true }).await.expect("forced");
    let err = c.get_shelf(v1::GetShelfRequest { name: s2.name }).await.expect_err("deleted");
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn errors_and_tokens_come_back_as_status() {
    let base = start(Some("s3cret")).await;
    let mut c = BookstoreRestClient::new(base);
    let err = c.list_shelves(v1::ListShelvesRequest::default()).await.expect_err("no token");
    assert_eq!(err.code(), Code::Unauthenticated);
    c.headers_mut().insert("authorization", "Bearer s3cret".parse().expect("header"));
    let err = c.create_shelf(shelf("")).await.expect_err("theme is required");
    assert_eq!((err.code(), err.message()), (Code::InvalidArgument, "missing required field `shelf.theme`"));
    let err = c.get_shelf(v1::GetShelfRequest::default()).await.expect_err("name is needed for the URL");
    assert_eq!(err.code(), Code::InvalidArgument);
}

/// Typed client calls are futures a multi-threaded runtime can move between threads.
#[allow(dead_code)]
fn every_typed_client_call_is_send(grpc: &mut bookstore_example::v1::BookstoreClient) {
    fn send<T: Send>(_: T) {}
    let request = || v1::GetShelfRequest { name: "shelves/1".into() };
    send(BookstoreRestClient::new("http://127.0.0.1:1").get_shelf(request()));
    send(bookstore_example::v1::BookstoreConnectClient::new("http://127.0.0.1:1").get_shelf(request()));
    send(bookstore_example::v1::BookstoreGraphqlClient::new("http://127.0.0.1:1").get_shelf(request()));
    send(grpc.get_shelf(request()));
}

#[tokio::test]
async fn rest_client_calls_can_run_on_spawned_tasks() {
    let c = BookstoreRestClient::new(start(None).await);
    let created = tokio::spawn(async move { c.create_shelf(shelf("Spawned")).await }).await.expect("joins");
    assert_eq!(created.expect("created").theme, "Spawned");
}
