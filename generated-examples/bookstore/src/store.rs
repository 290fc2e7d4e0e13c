//! An in-memory bookstore: the one implementation every protocol serves.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use apigen_runtime::wkt::{Empty, FieldMask, Timestamp};
use apigen_runtime::{Context, RequestStream, ResponseStream, Result, Status};
use tokio::sync::broadcast;

use crate::v1::{self, Book, Shelf, ShelfEvent, shelf_event::Kind};

const DEFAULT_PAGE_SIZE: usize = 50;
const MAX_PAGE_SIZE: usize = 1000;

/// Shelves and books in memory. Book ids are global and never reused, so a
/// book keeps its id (and its place in creation order) when it moves.
#[derive(Default)]
pub struct Store {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    last_shelf: u64,
    last_book: u64,
    shelves: BTreeMap<u64, ShelfEntry>,
    /// Book id → (shelf id, book).
    books: BTreeMap<u64, (u64, Book)>,
}

struct ShelfEntry {
    shelf: Shelf,
    watchers: broadcast::Sender<ShelfEvent>,
}

/// A well-formed name whose id this server never issued names nothing:
/// NOT_FOUND. A malformed one is INVALID_ARGUMENT.
fn shelf_id(name: &str, field: &str) -> Result<u64> {
    match name.strip_prefix("shelves/") {
        Some(id) if !id.is_empty() && !id.contains('/') => {
            id.parse().map_err(|_| Status::not_found(format!("shelf `{name}` does not exist")))
        }
        _ => Err(Status::invalid_argument(format!("`{field}` must be a shelf name like `shelves/1`, not `{name}`"))),
    }
}

fn book_id(name: &str, field: &str) -> Result<(u64, u64)> {
    let parts = name.strip_prefix("shelves/").and_then(|rest| rest.split_once("/books/"));
    match parts {
        Some((shelf, book)) if !shelf.is_empty() && !book.is_empty() && !shelf.contains('/') && !book.contains('/') => {
            let missing = || Status::not_found(format!("book `{name}` does not exist"));
            Ok((shelf.parse().map_err(|_| missing())?, book.parse().map_err(|_| missing())?))
        }
        _ => Err(Status::invalid_argument(format!(
            "`{field}` must be a book name like `shelves/1/books/2`, not `{name}`"
        ))),
    }
}

/// Page tokens are opaque to clients: the hex of "after=<id>".
fn page_token(after: u64) -> String {
    format!("after={after}").bytes().map(|b| format!("{b:02x}")).collect()
}

fn parse_page_token(token: &str) -> Result<u64> {
    if token.is_empty() {
        return Ok(0);
    }
    let invalid = || Status::invalid_argument("`page_token` is not a token this server returned");
    if !token.len().is_multiple_of(2) || !token.is_ascii() {
        return Err(invalid());
    }
    let bytes: Vec<u8> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&token[i..i + 2], 16))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| invalid())?;
    String::from_utf8(bytes).ok().and_then(|s| s.strip_prefix("after=")?.parse().ok()).ok_or_else(invalid)
}

fn page_size(requested: i32) -> Result<usize> {
    match requested {
        n if n < 0 => Err(Status::invalid_argument("`page_size` must not be negative")),
        0 => Ok(DEFAULT_PAGE_SIZE),
        n => Ok((n as usize).min(MAX_PAGE_SIZE)),
    }
}

/// One page of `items` (id, item) after the token's id.
fn paginate<T>(items: impl Iterator<Item = (u64, T)>, token: &str, size: i32) -> Result<(Vec<T>, String)> {
    let after = parse_page_token(token)?;
    let size = page_size(size)?;
    let mut page: Vec<(u64, T)> = items.skip_while(|(id, _)| *id <= after).take(size + 1).collect();
    let next = if page.len() > size {
        page.truncate(size);
        page.last().map(|(id, _)| page_token(*id)).unwrap_or_default()
    } else {
        String::new()
    };
    Ok((page.into_iter().map(|(_, t)| t).collect(), next))
}

impl State {
    fn shelf(&self, id: u64, name: &str) -> Result<&ShelfEntry> {
        self.shelves.get(&id).ok_or_else(|| Status::not_found(format!("shelf `{name}` does not exist")))
    }

    fn shelf_view(&self, id: u64) -> Option<Shelf> {
        let entry = self.shelves.get(&id)?;
        let count = self.books.values().filter(|(s, _)| *s == id).count();
        Some(Shelf { book_count: i32::try_from(count).unwrap_or(i32::MAX), ..entry.shelf.clone() })
    }

    fn book(&self, name: &str, field: &str) -> Result<(u64, &Book)> {
        let (shelf, id) = book_id(name, field)?;
        match self.books.get(&id) {
            Some((s, book)) if *s == shelf => Ok((id, book)),
            _ => Err(Status::not_found(format!("book `{name}` does not exist"))),
        }
    }

    fn notify(&self, shelf: u64, kind: Kind, book: &Book) {
        if let Some(entry) = self.shelves.get(&shelf) {
            let event = ShelfEvent { kind: kind as i32, book: Some(book.clone()), event_time: Some(Timestamp::now()) };
            // Nobody watching is fine.
            let _ = entry.watchers.send(event);
        }
    }

    fn add_book(&mut self, shelf: u64, mut book: Book) -> Book {
        self.last_book += 1;
        let now = Timestamp::now();
        book.name = format!("shelves/{shelf}/books/{}", self.last_book);
        book.shelf = format!("shelves/{shelf}");
        book.create_time = Some(now);
        book.update_time = Some(now);
        self.books.insert(self.last_book, (shelf, book.clone()));
        self.notify(shelf, Kind::BookAdded, &book);
        book
    }
}

/// Applies the fields named in `mask` (every writable field when empty).
fn apply_mask(target: &mut Book, source: Book, mask: Option<FieldMask>) -> Result<()> {
    let paths = mask.map(|m| m.paths).unwrap_or_default();
    if paths.is_empty() {
        *target = Book {
            name: target.name.clone(),
            shelf: target.shelf.clone(),
            create_time: target.create_time,
            update_time: target.update_time,
            ..source
        };
        return Ok(());
    }
    for path in paths {
        match path.as_str() {
            "title" => target.title = source.title.clone(),
            "authors" => target.authors = source.authors.clone(),
            "genre" => target.genre = source.genre,
            "isbn" => target.isbn = source.isbn,
            "price" => target.price = source.price,
            "subtitle" => target.subtitle = source.subtitle.clone(),
            "labels" => target.labels = source.labels.clone(),
            "publisher" => target.publisher = source.publisher.clone(),
            "publisher.name" | "publisher.country" => {
                let from = source.publisher.clone().unwrap_or_default();
                let to = target.publisher.get_or_insert_with(Default::default);
                if path == "publisher.name" {
                    to.name = from.name;
                } else {
                    to.country = from.country;
                }
            }
            "availability" | "in_stock" | "restock_time" | "out_of_print" => target.availability = source.availability,
            "cover_thumbnail" => target.cover_thumbnail = source.cover_thumbnail.clone(),
            "name" | "shelf" | "create_time" | "update_time" => {
                return Err(Status::invalid_argument(format!("`{path}` cannot be changed")));
            }
            other => {
                return Err(Status::invalid_argument(format!(
                    "`update_mask` names `{other}`, which Book does not have"
                )));
            }
        }
    }
    Ok(())
}

impl Store {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere must not take the store down with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl v1::Bookstore for Store {
    async fn list_shelves(&self, _ctx: Context, request: v1::ListShelvesRequest) -> Result<v1::ListShelvesResponse> {
        let state = self.state();
        let all = state.shelves.keys().filter_map(|id| state.shelf_view(*id).map(|s| (*id, s)));
        let (shelves, next_page_token) = paginate(all, &request.page_token, request.page_size)?;
        Ok(v1::ListShelvesResponse { shelves, next_page_token })
    }

    async fn create_shelf(&self, _ctx: Context, request: v1::CreateShelfRequest) -> Result<Shelf> {
        let mut state = self.state();
        state.last_shelf += 1;
        let id = state.last_shelf;
        let shelf = Shelf {
            name: format!("shelves/{id}"),
            create_time: Some(Timestamp::now()),
            book_count: 0,
            ..request.shelf.unwrap_or_default()
        };
        state.shelves.insert(id, ShelfEntry { shelf: shelf.clone(), watchers: broadcast::channel(256).0 });
        Ok(shelf)
    }

    async fn get_shelf(&self, _ctx: Context, request: v1::GetShelfRequest) -> Result<Shelf> {
        let state = self.state();
        let id = shelf_id(&request.name, "name")?;
        state.shelf(id, &request.name)?;
        state.shelf_view(id).ok_or_else(|| Status::not_found(format!("shelf `{}` does not exist", request.name)))
    }

    async fn delete_shelf(&self, _ctx: Context, request: v1::DeleteShelfRequest) -> Result<Empty> {
        let mut state = self.state();
        let id = shelf_id(&request.name, "name")?;
        state.shelf(id, &request.name)?;
        let books: Vec<u64> = state.books.iter().filter(|(_, (s, _))| *s == id).map(|(b, _)| *b).collect();
        if !books.is_empty() && !request.force {
            return Err(Status::failed_precondition(format!(
                "shelf `{}` still holds {} book(s); move them or delete with `force`",
                request.name,
                books.len()
            )));
        }
        for b in books {
            if let Some((_, book)) = state.books.remove(&b) {
                state.notify(id, Kind::BookRemoved, &book);
            }
        }
        // Dropping the sender ends every WatchShelf stream of this shelf.
        state.shelves.remove(&id);
        Ok(Empty {})
    }

    async fn list_books(&self, _ctx: Context, request: v1::ListBooksRequest) -> Result<v1::ListBooksResponse> {
        let state = self.state();
        let shelf = shelf_id(&request.parent, "parent")?;
        state.shelf(shelf, &request.parent)?;
        let books = state.books.iter().filter(|(_, (s, _))| *s == shelf).map(|(id, (_, b))| (*id, b.clone()));
        let (books, next_page_token) = paginate(books, &request.page_token, request.page_size)?;
        Ok(v1::ListBooksResponse { books, next_page_token })
    }

    async fn get_book(&self, _ctx: Context, request: v1::GetBookRequest) -> Result<Book> {
        Ok(self.state().book(&request.name, "name")?.1.clone())
    }

    async fn create_book(&self, _ctx: Context, request: v1::CreateBookRequest) -> Result<Book> {
        let mut state = self.state();
        let shelf = shelf_id(&request.parent, "parent")?;
        state.shelf(shelf, &request.parent)?;
        Ok(state.add_book(shelf, request.book.unwrap_or_default()))
    }

    async fn update_book(&self, _ctx: Context, request: v1::UpdateBookRequest) -> Result<Book> {
        let mut state = self.state();
        let source = request.book.unwrap_or_default();
        let (id, current) = state.book(&source.name, "book.name")?;
        let mut book = current.clone();
        apply_mask(&mut book, source, request.update_mask)?;
        book.update_time = Some(Timestamp::now());
        let shelf = state.books.get(&id).map(|(s, _)| *s).unwrap_or_default();
        state.books.insert(id, (shelf, book.clone()));
        state.notify(shelf, Kind::BookUpdated, &book);
        Ok(book)
    }

    async fn move_book(&self, _ctx: Context, request: v1::MoveBookRequest) -> Result<Book> {
        let mut state = self.state();
        let (id, current) = state.book(&request.name, "name")?;
        let old = current.clone();
        let (from, _) = book_id(&request.name, "name")?;
        let to = shelf_id(&request.other_shelf, "other_shelf")?;
        state.shelf(to, &request.other_shelf)?;
        let book = Book {
            name: format!("shelves/{to}/books/{id}"),
            shelf: format!("shelves/{to}"),
            update_time: Some(Timestamp::now()),
            ..old.clone()
        };
        state.books.insert(id, (to, book.clone()));
        state.notify(from, Kind::BookRemoved, &old);
        state.notify(to, Kind::BookAdded, &book);
        Ok(book)
    }

    async fn search_books(&self, _ctx: Context, request: v1::SearchBooksRequest) -> Result<v1::SearchBooksResponse> {
        let state = self.state();
        let query = request.query.to_lowercase();
        let publisher = request.publisher.unwrap_or_default();
        let matches = |b: &Book| {
            let text = query.is_empty()
                || b.title.to_lowercase().contains(&query)
                || b.authors.iter().any(|a| a.to_lowercase().contains(&query));
            let genre = request.genres.is_empty() || request.genres.contains(&b.genre);
            let price = request.max_price.is_none_or(|max| b.price <= max);
            let p = b.publisher.clone().unwrap_or_default();
            let by = (publisher.name.is_empty() || p.name == publisher.name)
                && (publisher.country.is_empty() || p.country == publisher.country);
            text && genre && price && by
        };
        let found: Vec<(u64, Book)> =
            state.books.iter().filter(|(_, (_, b))| matches(b)).map(|(id, (_, b))| (*id, b.clone())).collect();
        let total_size = found.len() as i64;
        let (books, next_page_token) = paginate(found.into_iter(), &request.page_token, request.page_size)?;
        Ok(v1::SearchBooksResponse { books, next_page_token, total_size })
    }

    async fn watch_shelf(&self, _ctx: Context, request: v1::WatchShelfRequest) -> Result<ResponseStream<ShelfEvent>> {
        let state = self.state();
        let id = shelf_id(&request.name, "name")?;
        let rx = state.shelf(id, &request.name)?.watchers.subscribe();
        let events = apigen_runtime::futures::stream::unfold(rx, |mut rx| async move {
            match rx.recv().await {
                Ok(event) => Some((Ok(event), rx)),
                Err(broadcast::error::RecvError::Closed) => None,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    Some((Err(Status::resource_exhausted(format!("missed {n} events; watch again"))), rx))
                }
            }
        });
        Ok(ResponseStream::new(events))
    }

    async fn import_books(
        &self,
        _ctx: Context,
        mut requests: RequestStream<v1::ImportBooksRequest>,
    ) -> Result<v1::ImportBooksResponse> {
        // Read everything first: an import is all or nothing.
        let mut batch = Vec::new();
        while let Some(request) = requests.next().await {
            let request = request?;
            let shelf = shelf_id(&request.parent, "parent")?;
            self.state().shelf(shelf, &request.parent)?;
            batch.push((shelf, request.parent, request.book.unwrap_or_default()));
        }
        let mut state = self.state();
        for (shelf, parent, _) in &batch {
            state.shelf(*shelf, parent)?;
        }
        let names: Vec<String> = batch.into_iter().map(|(shelf, _, book)| state.add_book(shelf, book).name).collect();
        Ok(v1::ImportBooksResponse { imported_count: i32::try_from(names.len()).unwrap_or(i32::MAX), names })
    }

    async fn batch_get_shelves(
        &self,
        _ctx: Context,
        request: v1::BatchGetShelvesRequest,
    ) -> Result<v1::BatchGetShelvesResponse> {
        // A name that names no shelf, well-formed or not, is left out.
        let state = self.state();
        let ids = request.names.iter().filter_map(|name| shelf_id(name, "names").ok());
        Ok(v1::BatchGetShelvesResponse { shelves: ids.filter_map(|id| state.shelf_view(id)).collect() })
    }

    async fn list_books_by_shelves(
        &self,
        _ctx: Context,
        request: v1::ListBooksByShelvesRequest,
    ) -> Result<v1::ListBooksByShelvesResponse> {
        // A name that names no shelf, well-formed or not, has no books.
        let wanted: BTreeSet<u64> = request.shelves.iter().filter_map(|name| shelf_id(name, "shelves").ok()).collect();
        let state = self.state();
        let books = state.books.values().filter(|(shelf, _)| wanted.contains(shelf)).map(|(_, b)| b.clone()).collect();
        Ok(v1::ListBooksByShelvesResponse { books })
    }

    async fn batch_get_books(
        &self,
        _ctx: Context,
        request: v1::BatchGetBooksRequest,
    ) -> Result<v1::BatchGetBooksResponse> {
        // A name that names no book, well-formed or not, is left out.
        let state = self.state();
        let books = request.names.iter().filter_map(|name| state.book(name, "names").ok().map(|(_, b)| b.clone()));
        Ok(v1::BatchGetBooksResponse { books: books.collect() })
    }

    async fn batch_get_authors(
        &self,
        _ctx: Context,
        request: v1::BatchGetAuthorsRequest,
    ) -> Result<v1::BatchGetAuthorsResponse> {
        let wanted: BTreeSet<&str> = request.names.iter().map(String::as_str).collect();
        let mut counts: BTreeMap<&str, i32> = BTreeMap::new();
        let state = self.state();
        for (_, book) in state.books.values() {
            for author in book.authors.iter().filter(|a| wanted.contains(a.as_str())) {
                *counts.entry(author).or_default() += 1;
            }
        }
        let authors =
            counts.into_iter().map(|(name, book_count)| v1::Author { name: name.to_owned(), book_count }).collect();
        Ok(v1::BatchGetAuthorsResponse { authors })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_ids_are_not_found_and_malformed_names_invalid() {
        assert_eq!(shelf_id("shelves/7", "name").unwrap(), 7);
        assert_eq!(shelf_id("shelves/nope", "name").unwrap_err().code(), apigen_runtime::Code::NotFound);
        assert_eq!(shelf_id("nope", "name").unwrap_err().code(), apigen_runtime::Code::InvalidArgument);
        assert_eq!(shelf_id("shelves/1/x", "name").unwrap_err().code(), apigen_runtime::Code::InvalidArgument);
        assert_eq!(book_id("shelves/1/books/2", "name").unwrap(), (1, 2));
        assert_eq!(book_id("shelves/a/books/b", "name").unwrap_err().code(), apigen_runtime::Code::NotFound);
        assert_eq!(book_id("shelves/1", "name").unwrap_err().code(), apigen_runtime::Code::InvalidArgument);
    }

    #[test]
    fn page_tokens_round_trip_and_reject_garbage() {
        assert_eq!(parse_page_token(&page_token(42)).unwrap(), 42);
        assert_eq!(parse_page_token("").unwrap(), 0);
        for bad in ["zz", "abc", "61", "ü"] {
            assert!(parse_page_token(bad).is_err(), "{bad}");
        }
    }
}
