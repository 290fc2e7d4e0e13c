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
            "updateTime": "1970-01-01T00:00:01Z"
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
