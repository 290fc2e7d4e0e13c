//! What the hand-written baselines of `bench/serve` share: the bookstore types (prost +
//! tonic-prost-build + pbjson-build, from the same `.proto` as `generated-examples/bookstore`),
//! the seeded in-memory store GetBook reads, and `--addr` parsing. See README.md.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// The `bookstore.v1` package: prost messages, the tonic client and server, and proto3 JSON.
#[allow(clippy::all, clippy::pedantic)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/bookstore.v1.rs"));
    include!(concat!(env!("OUT_DIR"), "/bookstore.v1.serde.rs"));
}

pub use pb::Book;

/// The encoded `FileDescriptorSet` of the bookstore schema and its imports.
pub static FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bookstore.binpb"));

/// The book every server serves, as proto3 JSON without its output-only fields. `run.sh` creates
/// it in apigen's bookstore with `POST /v1/shelves/1/books`; the baselines and the Node.js peers
/// read the same file.
pub const BOOK_JSON: &str = include_str!("../book.json");

/// The name the one book gets (the first book on the first shelf).
pub const BOOK_NAME: &str = "shelves/1/books/1";

/// Why a GetBook failed, as the bookstore example tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    InvalidArgument(String),
    NotFound(String),
}

impl Error {
    pub fn message(&self) -> &str {
        match self {
            Error::InvalidArgument(m) | Error::NotFound(m) => m,
        }
    }
}

/// Books in memory, as `generated-examples/bookstore/src/store.rs` keeps them: a mutex around a
/// map of book id → (shelf id, book); a read parses the name, locks, looks up and clones.
pub struct Store {
    books: Mutex<BTreeMap<u64, (u64, Book)>>,
}

/// Now, as a `google.protobuf.Timestamp`.
pub fn now() -> pbjson_types::Timestamp {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    pbjson_types::Timestamp { seconds: since.as_secs() as i64, nanos: since.subsec_nanos() as i32 }
}

/// The seeded book: `book.json` with its name, shelf and timestamps set, as the bookstore sets them.
pub fn seed_book() -> Book {
    let mut book: Book = serde_json::from_str(BOOK_JSON).expect("book.json is a valid Book");
    let now = now();
    book.name = BOOK_NAME.to_owned();
    book.shelf = "shelves/1".to_owned();
    book.create_time = Some(now);
    book.update_time = Some(now);
    book
}

fn book_id(name: &str) -> Result<(u64, u64), Error> {
    let parts = name.strip_prefix("shelves/").and_then(|rest| rest.split_once("/books/"));
    match parts {
        Some((shelf, book)) if !shelf.is_empty() && !book.is_empty() && !shelf.contains('/') && !book.contains('/') => {
            let missing = || Error::NotFound(format!("book `{name}` does not exist"));
            Ok((shelf.parse().map_err(|_| missing())?, book.parse().map_err(|_| missing())?))
        }
        _ => Err(Error::InvalidArgument(format!("`name` must be a book name like `shelves/1/books/2`, not `{name}`"))),
    }
}

impl Store {
    /// A store holding the seeded book.
    pub fn seeded() -> Store {
        let books = BTreeMap::from([(1, (1, seed_book()))]);
        Store { books: Mutex::new(books) }
    }

    pub fn get_book(&self, name: &str) -> Result<Book, Error> {
        if name.is_empty() {
            return Err(Error::InvalidArgument("missing required field `name`".into()));
        }
        let (shelf, id) = book_id(name)?;
        let books = self.books.lock().unwrap_or_else(|e| e.into_inner());
        match books.get(&id) {
            Some((s, book)) if *s == shelf => Ok(book.clone()),
            _ => Err(Error::NotFound(format!("book `{name}` does not exist"))),
        }
    }
}

/// The value of `--addr HOST:PORT` (default 127.0.0.1:0, a free port); exits 2 on bad arguments.
pub fn addr_from_args(program: &str) -> SocketAddr {
    let usage = || -> ! {
        eprintln!("usage: {program} [--addr HOST:PORT]");
        std::process::exit(2)
    };
    let mut args = std::env::args().skip(1);
    let mut addr = SocketAddr::from(([127, 0, 0, 1], 0));
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().and_then(|a| a.parse().ok()).unwrap_or_else(|| usage()),
            _ => usage(),
        }
    }
    addr
}

/// The median of `xs` (the upper one of an even count).
pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Nanoseconds per call of `f`, over `n` calls.
pub fn time(n: u32, mut f: impl FnMut()) -> f64 {
    let start = std::time::Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed().as_nanos() as f64 / f64::from(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_book_reads_the_seeded_book() {
        let store = Store::seeded();
        assert_eq!(store.get_book(BOOK_NAME).unwrap().title, "The Left Hand of Darkness");
        assert!(matches!(store.get_book("shelves/1/books/2"), Err(Error::NotFound(_))));
        assert!(matches!(store.get_book("shelves/1"), Err(Error::InvalidArgument(_))));
    }
}
