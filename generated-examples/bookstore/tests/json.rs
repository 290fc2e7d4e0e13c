//! A fully populated Book through the proto3 JSON mapping and back, and
//! through protobuf binary and back: what every JSON protocol relies on.

use apigen_runtime::prost::Message;
use apigen_runtime::wkt::{StringValue, Timestamp};
use bookstore_example::v1::{Book, Genre, Publisher, book};

fn full_book() -> Book {
    Book {
        name: "shelves/1/books/2".into(),
        title: "The Left Hand of Darkness".into(),
        authors: vec!["Ursula K. Le Guin".into()],
        genre: Genre::Fiction as i32,
        isbn: 9_780_441_478_125,
        price: 9.99,
        subtitle: Some(StringValue { value: "A novel".into() }),
        labels: [("lang".to_owned(), "en".to_owned())].into_iter().collect(),
        publisher: Some(Publisher { name: "Ace".into(), country: "US".into() }),
        availability: Some(book::Availability::RestockTime(Timestamp { seconds: 1_700_000_000, nanos: 0 })),
        cover_thumbnail: vec![0, 1, 2, 255],
        create_time: Some(Timestamp { seconds: 0, nanos: 5_000_000 }),
        update_time: Some(Timestamp { seconds: 1, nanos: 0 }),
        shelf: "shelves/1".into(),
    }
}

#[test]
fn a_full_book_uses_the_proto3_json_mapping() {
    let json = serde_json::to_value(full_book()).expect("serializes");
    assert_eq!(
        json,
        serde_json::json!({
            "name": "shelves/1/books/2",
            "title": "The Left Hand of Darkness",
            "authors": ["Ursula K. Le Guin"],
            "genre": "GENRE_FICTION",
            "isbn": "9780441478125",
            "price": 9.99,
            "subtitle": "A novel",
            "labels": {"lang": "en"},
            "publisher": {"name": "Ace", "country": "US"},
            "restockTime": "2023-11-14T22:13:20Z",
            "coverThumbnail": "AAEC/w==",
            "createTime": "1970-01-01T00:00:00.005Z",
            "updateTime": "1970-01-01T00:00:01Z",
            "shelf": "shelves/1"
        })
    );
    let back: Book = serde_json::from_value(json).expect("parses its own output");
    assert_eq!(back, full_book());
}

#[test]
fn a_full_book_survives_protobuf_binary() {
    let bytes = full_book().encode_to_vec();
    assert_eq!(Book::decode(bytes.as_slice()).expect("decodes"), full_book());
}

#[test]
fn input_accepts_proto_names_numbers_for_int64_and_enum_numbers() {
    let book: Book = serde_json::from_value(serde_json::json!({
        "cover_thumbnail": "AAEC/w==", "isbn": 9780441478125_i64, "genre": 1, "in_stock": 3
    }))
    .expect("lenient input forms are accepted");
    assert_eq!(book.isbn, 9_780_441_478_125);
    assert_eq!(book.genre, Genre::Fiction as i32);
    assert_eq!(book.availability, Some(book::Availability::InStock(3)));
    assert_eq!(book.cover_thumbnail, vec![0, 1, 2, 255]);
}

#[test]
fn bad_json_is_rejected_with_the_reason() {
    for (json, needle) in [
        (serde_json::json!({"genre": "GENRE_NOPE"}), "GENRE_NOPE"),
        (serde_json::json!({"isbn": "twelve"}), "invalid int64 `twelve`"),
        (serde_json::json!({"inStock": 1, "outOfPrint": true}), "outOfPrint"),
        (serde_json::json!({"title": 5}), "invalid type"),
    ] {
        let err = serde_json::from_value::<Book>(json.clone()).expect_err("rejected");
        assert!(err.to_string().contains(needle), "{json}: {err}");
    }
}

/// One HTTP/1.1 request to the running server; the status and the body as JSON.
async fn http(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connects");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("writes");
    stream.write_all(body.as_bytes()).await.expect("writes");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.expect("reads");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a head");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status");
    (status, serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}")))
}

/// The edge cases of the proto3 JSON mapping as a REST client meets them:
/// each book is created over REST and read back; what the mapping refuses is
/// a 400 naming the field.
#[tokio::test]
async fn the_json_mappings_edge_cases_behave_over_rest() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = apigen_runtime::Server::builder()
        .add_service(bookstore_example::v1::bookstore_service(bookstore_example::Store::default()));
    tokio::spawn(server.serve(listener, std::future::pending()));
    let (status, shelf) = http(addr, "POST", "/v1/shelves", r#"{"theme": "Edges"}"#).await;
    assert_eq!(status, 200, "{shelf}");
    let books = format!("/v1/{}/books", shelf["name"].as_str().expect("a name"));

    // Accepted, and read back as the mapping writes them.
    for (sent, field, read_back) in [
        (r#"{"price": "NaN"}"#, "price", serde_json::json!("NaN")),
        (r#"{"price": "Infinity"}"#, "price", serde_json::json!("Infinity")),
        (r#"{"price": "-Infinity"}"#, "price", serde_json::json!("-Infinity")),
        (r#"{"price": 10.0}"#, "price", serde_json::json!(10)),
        (r#"{"isbn": "1e5"}"#, "isbn", serde_json::json!("100000")),
        (r#"{"inStock": 1e2}"#, "inStock", serde_json::json!(100)),
        (r#"{"genre": null}"#, "genre", serde_json::Value::Null),
        (r#"{"inStock": 3, "outOfPrint": null}"#, "inStock", serde_json::json!(3)),
        (r#"{"genre": 7}"#, "genre", serde_json::json!(7)),
    ] {
        // `title` is REQUIRED; the rest of the text is sent as written.
        let body = format!(r#"{{"title": "t", {}"#, &sent[1..]);
        let (status, created) = http(addr, "POST", &books, &body).await;
        assert_eq!(status, 200, "{sent}: {created}");
        let (status, got) = http(addr, "GET", &format!("/v1/{}", created["name"].as_str().expect("a name")), "").await;
        assert_eq!(status, 200, "{sent}: {got}");
        assert_eq!(got[field], read_back, "{sent} reads back as {read_back}: {got}");
    }

    // tRPC passes one call's input on as written: the message's reader refuses what REST does.
    for input in [r#"{"shelf": {"theme": "a", "theme": "b"}}"#, r#"{"shelf": {"theme": 5}}"#, "{"] {
        let (status, error) = http(addr, "POST", "/trpc/bookstore.createShelf", input).await;
        assert_eq!(status, 400, "tRPC {input}: {error}");
    }
    let (status, created) = http(addr, "POST", "/trpc/bookstore.createShelf", r#" {"shelf": {"theme": "T"}} "#).await;
    assert_eq!((status, &created["result"]["data"]["theme"]), (200, &serde_json::json!("T")), "{created}");

    // Refused, naming the field.
    for (sent, field) in [
        (r#"{"price": "1e400"}"#, "price"),
        (r#"{"inStock": 1.5}"#, "inStock"),
        (r#"{"inStock": 3000000000}"#, "inStock"),
        (r#"{"restockTime": "2024-01-02t03:04:05Z"}"#, "restockTime"),
        (r#"{"inStock": 1, "outOfPrint": true}"#, "outOfPrint"),
        (r#"{"genre": "GENRE_FICTION", "genre": "GENRE_POETRY"}"#, "genre"),
    ] {
        let body = format!(r#"{{"title": "t", {}"#, &sent[1..]);
        let (status, error) = http(addr, "POST", &books, &body).await;
        assert_eq!(status, 400, "{sent}: {error}");
        assert!(error["message"].as_str().unwrap_or_default().contains(field), "{sent}: {error}");
    }
}
