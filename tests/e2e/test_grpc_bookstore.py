"""The bookstore example over gRPC, called with grpcio: every method, and the errors users see."""

import time
import types

import grpc
import pytest
from google.protobuf import field_mask_pb2, timestamp_pb2, wrappers_pb2

from support import (
    TOKEN,
    assert_recent,
    bearer,
    call_raw,
    health_status,
    nanos,
    open_channel,
    reflection,
    rpc_error,
    take,
    wait_until_open,
)

Code = grpc.StatusCode


@pytest.fixture(scope="module")
def bs(pb):
    """The bookstore.v1 message types."""
    return pb.bookstore


class Store:
    """The Bookstore stub with shorthands for the calls most tests make."""

    def __init__(self, api, bs):
        self.api, self.bs = api, bs

    def shelf(self, theme="Science fiction"):
        return self.api.CreateShelf(self.bs.CreateShelfRequest(shelf=self.bs.Shelf(theme=theme)))

    def book(self, shelf, title="Dune", **fields):
        book = self.bs.Book(title=title, **fields)
        return self.api.CreateBook(self.bs.CreateBookRequest(parent=shelf.name, book=book))

    def get_shelf(self, name):
        return self.api.GetShelf(self.bs.GetShelfRequest(name=name))

    def get_book(self, name):
        return self.api.GetBook(self.bs.GetBookRequest(name=name))

    def vanished(self):
        """Names that existed and no longer do, whatever the server's id format: a deleted shelf and a book that was on it."""
        shelf = self.shelf("Soon gone")
        book = self.book(shelf)
        self.api.DeleteShelf(self.bs.DeleteShelfRequest(name=shelf.name, force=True))
        return shelf.name, book.name

    def book_names(self, shelf):
        return [b.name for page in pages(self.api.ListBooks, self.bs.ListBooksRequest, "books", parent=shelf.name) for b in page]


@pytest.fixture(scope="module")
def store(bookstore, bs):
    return Store(bookstore, bs)


@pytest.fixture
def scene(store):
    """An existing shelf and book on it, and well-formed names of resources that do not exist."""
    shelf = store.shelf()
    book = store.book(shelf)
    gone_shelf, gone_book = store.vanished()
    moving = store.book(shelf, title="Moved away")
    elsewhere = store.shelf()
    store.api.MoveBook(store.bs.MoveBookRequest(name=moving.name, other_shelf=elsewhere.name))
    return types.SimpleNamespace(
        shelf=shelf, book=book, gone_shelf=gone_shelf, gone_book=gone_book, gone_book_here=moving.name, elsewhere=elsewhere
    )


def pages(method, request_type, field, page_size=0, **request):
    """Every page of a List or Search method, following next_page_token until it is empty."""
    result, token = [], ""
    for _ in range(100):
        response = method(request_type(page_size=page_size, page_token=token, **request))
        result.append(list(getattr(response, field)))
        token = response.next_page_token
        if not token:
            return result
    pytest.fail(f"{field}: still a next_page_token after 100 pages")


def invoke(api, method, request):
    """Calls `method` and, when it streams, reads the stream to its end (or its error)."""
    result = getattr(api, method)(request)
    return list(result) if isinstance(result, grpc.Call) else result


def kinds(bs, events):
    return [bs.ShelfEvent.Kind.Name(e.kind) for e in events]


# ---------------------------------------------------------------------------------------------
# Shelves


def test_starts_empty_and_lists_shelves_in_creation_order_a_page_at_a_time(launch, pb, bs):
    server = launch("bookstore-example")  # its own server: this test sees every shelf there is
    with open_channel(server.address) as channel:
        api = pb.bookstore_grpc.BookstoreStub(channel)
        first = api.ListShelves(bs.ListShelvesRequest())
        assert list(first.shelves) == [] and first.next_page_token == ""

        created = [api.CreateShelf(bs.CreateShelfRequest(shelf=bs.Shelf(theme=f"Theme {i}"))) for i in range(5)]
        listed = pages(api.ListShelves, bs.ListShelvesRequest, "shelves", page_size=2)
        assert [len(page) for page in listed] == [2, 2, 1]
        assert [s.name for page in listed for s in page] == [s.name for s in created]
        assert [s.theme for page in listed for s in page] == [f"Theme {i}" for i in range(5)]


def test_create_shelf_assigns_name_and_create_time_and_ignores_output_only_fields(store, bs):
    sent = bs.Shelf(
        name="shelves/chosen-by-the-client",
        theme="History",
        create_time=timestamp_pb2.Timestamp(seconds=1000),
        book_count=42,
    )
    shelf = store.api.CreateShelf(bs.CreateShelfRequest(shelf=sent))
    assert shelf.name.startswith("shelves/") and len(shelf.name) > len("shelves/")
    assert shelf.name != sent.name
    assert shelf.theme == "History"
    assert shelf.book_count == 0
    assert_recent(shelf.create_time, "create_time")

    assert store.shelf().name != shelf.name
    assert store.get_shelf(shelf.name) == shelf


def test_delete_shelf_removes_an_empty_shelf(store, bs):
    shelf = store.shelf()
    store.api.DeleteShelf(bs.DeleteShelfRequest(name=shelf.name))
    with rpc_error(Code.NOT_FOUND):
        store.get_shelf(shelf.name)
    with rpc_error(Code.NOT_FOUND):
        store.api.DeleteShelf(bs.DeleteShelfRequest(name=shelf.name))


def test_delete_shelf_with_books_needs_force(store, bs):
    shelf = store.shelf()
    book = store.book(shelf)
    with rpc_error(Code.FAILED_PRECONDITION):
        store.api.DeleteShelf(bs.DeleteShelfRequest(name=shelf.name))
    assert store.get_shelf(shelf.name).book_count == 1
    assert store.get_book(book.name) == book

    store.api.DeleteShelf(bs.DeleteShelfRequest(name=shelf.name, force=True))
    with rpc_error(Code.NOT_FOUND):
        store.get_shelf(shelf.name)
    with rpc_error(Code.NOT_FOUND):
        store.get_book(book.name)


# ---------------------------------------------------------------------------------------------
# Books


def full_book(bs, **overrides):
    fields = dict(
        title="Dune",
        authors=["Frank Herbert"],
        genre=bs.GENRE_FICTION,
        isbn=9780441013593,
        price=9.99,
        subtitle=wrappers_pb2.StringValue(value="Book One"),
        labels={"format": "paperback", "lang": "en"},
        publisher=bs.Publisher(name="Ace", country="US"),
        in_stock=3,
        cover_thumbnail=b"\x89PNG\r\n\x1a\n\x00\xff",
    )
    fields.update(overrides)
    return bs.Book(**fields)


WRITABLE = ["title", "authors", "genre", "isbn", "price", "subtitle", "labels", "publisher", "cover_thumbnail"]


def writable(book):
    """The client-writable fields of `book` as plain Python values, for readable comparisons."""
    def plain(value):
        if hasattr(value, "items"):
            return dict(value.items())
        if hasattr(value, "__len__") and not isinstance(value, (str, bytes)) and not hasattr(value, "DESCRIPTOR"):
            return list(value)
        return value

    return {field: plain(getattr(book, field)) for field in WRITABLE}


def test_create_book_assigns_name_and_times_and_keeps_every_field(store, bs):
    shelf = store.shelf()
    sent = full_book(bs, create_time=timestamp_pb2.Timestamp(seconds=1000), update_time=timestamp_pb2.Timestamp(seconds=1000))
    book = store.api.CreateBook(bs.CreateBookRequest(parent=shelf.name, book=sent))

    assert book.name.startswith(shelf.name + "/books/") and len(book.name) > len(shelf.name + "/books/")
    assert writable(book) == writable(sent)
    assert book.WhichOneof("availability") == "in_stock" and book.in_stock == 3
    assert_recent(book.create_time, "create_time")
    assert_recent(book.update_time, "update_time")

    assert store.get_book(book.name) == book
    assert store.get_shelf(shelf.name).book_count == 1

    other = store.book(shelf, title="Out of print", out_of_print=True)
    assert other.name != book.name
    assert other.WhichOneof("availability") == "out_of_print"
    assert store.get_shelf(shelf.name).book_count == 2


def test_list_books_in_creation_order_a_page_at_a_time(store, bs):
    shelf, elsewhere = store.shelf(), store.shelf()
    created = [store.book(shelf, title=f"Volume {i}") for i in range(5)]
    store.book(elsewhere, title="Not on this shelf")

    listed = pages(store.api.ListBooks, bs.ListBooksRequest, "books", page_size=2, parent=shelf.name)
    assert [len(page) for page in listed] == [2, 2, 1]
    assert [b.name for page in listed for b in page] == [b.name for b in created]
    assert [b.title for page in listed for b in page] == [f"Volume {i}" for i in range(5)]


def test_update_book_with_a_mask_changes_only_the_masked_fields(store, bs):
    original = store.book(store.shelf(), title="Old title", authors=["A. Author"], price=5.0)
    time.sleep(0.01)
    change = bs.Book(name=original.name, title="New title", authors=["Someone Else"], price=7.0)
    updated = store.api.UpdateBook(bs.UpdateBookRequest(book=change, update_mask=field_mask_pb2.FieldMask(paths=["title"])))

    assert updated.name == original.name
    assert updated.title == "New title"
    assert list(updated.authors) == ["A. Author"] and updated.price == 5.0
    assert updated.create_time == original.create_time
    assert nanos(updated.update_time) > nanos(original.update_time)
    assert store.get_book(original.name) == updated


def test_update_book_without_a_mask_replaces_every_writable_field(store, bs):
    original = store.book(store.shelf(), title="Old", authors=["A"], price=5.0, genre=bs.GENRE_FICTION, labels={"a": "1"})
    time.sleep(0.01)
    change = full_book(bs, name=original.name, title="New", authors=["B", "C"], genre=bs.GENRE_HISTORY, labels={})
    updated = store.api.UpdateBook(bs.UpdateBookRequest(book=change))

    assert updated.name == original.name
    assert writable(updated) == writable(change)
    assert dict(updated.labels) == {}
    assert updated.create_time == original.create_time
    assert nanos(updated.update_time) > nanos(original.update_time)
    assert store.get_book(original.name) == updated


def test_move_book_renames_it_under_the_other_shelf(store, bs):
    source, target = store.shelf(), store.shelf()
    book = store.book(source, title="The Wanderer")
    moved = store.api.MoveBook(bs.MoveBookRequest(name=book.name, other_shelf=target.name))

    assert moved.name.startswith(target.name + "/books/")
    assert moved.title == "The Wanderer"
    with rpc_error(Code.NOT_FOUND):
        store.get_book(book.name)
    assert store.get_book(moved.name).title == "The Wanderer"
    assert store.get_shelf(source.name).book_count == 0
    assert store.get_shelf(target.name).book_count == 1
    assert store.book_names(source) == [] and store.book_names(target) == [moved.name]


def test_move_book_to_a_missing_shelf_leaves_it_where_it_was(store, bs):
    shelf = store.shelf()
    book = store.book(shelf)
    gone_shelf, _ = store.vanished()
    with rpc_error(Code.NOT_FOUND):
        store.api.MoveBook(bs.MoveBookRequest(name=book.name, other_shelf=gone_shelf))
    assert store.get_book(book.name) == book
    assert store.get_shelf(shelf.name).book_count == 1


# ---------------------------------------------------------------------------------------------
# SearchBooks


@pytest.fixture(scope="module")
def catalog(store, bs):
    """Four books on two shelves whose titles or authors contain a marker no other book has."""
    marker = f"m{time.time_ns():x}"
    a, b = store.shelf("Mixed"), store.shelf("Mixed too")
    books = {
        "left": store.book(a, f"The Left Hand of Darkness {marker}", authors=["Ursula K. Le Guin"],
                           genre=bs.GENRE_FICTION, price=9.5, publisher=bs.Publisher(name="Ace", country="US")),
        "cosmos": store.book(b, "Cosmos", authors=[f"Carl Sagan {marker}"],
                             genre=bs.GENRE_SCIENCE, price=20.0, publisher=bs.Publisher(name="Random House", country="US")),
        "spqr": store.book(a, f"SPQR {marker}", authors=["Mary Beard"],
                           genre=bs.GENRE_HISTORY, price=15.0, publisher=bs.Publisher(name="Profile", country="GB")),
        "poems": store.book(b, f"Collected Poems {marker}", authors=["Anonymous"],
                            genre=bs.GENRE_POETRY, price=5.0, publisher=bs.Publisher(name="Ace", country="GB")),
    }  # fmt: skip
    return marker, books


SEARCHES = {
    "query matches titles and authors, ignoring case": (lambda m, bs: dict(query=m.upper()), ["left", "cosmos", "spqr", "poems"]),
    "query matches an author": (lambda m, bs: dict(query=f"carl SAGAN {m}"), ["cosmos"]),
    "genres": (lambda m, bs: dict(query=m, genres=[bs.GENRE_SCIENCE, bs.GENRE_HISTORY]), ["cosmos", "spqr"]),
    "max_price is inclusive": (lambda m, bs: dict(query=m, max_price=9.5), ["left", "poems"]),
    "max_price 0 is a filter too": (lambda m, bs: dict(query=m, max_price=0.0), []),
    "publisher name": (lambda m, bs: dict(query=m, publisher=bs.Publisher(name="Ace")), ["left", "poems"]),
    "publisher country": (lambda m, bs: dict(query=m, publisher=bs.Publisher(country="GB")), ["spqr", "poems"]),
    "publisher name and country": (lambda m, bs: dict(query=m, publisher=bs.Publisher(name="Ace", country="GB")), ["poems"]),
    "publisher must match exactly": (lambda m, bs: dict(query=m, publisher=bs.Publisher(name="Ac")), []),
    "filters combine": (lambda m, bs: dict(query=m, genres=[bs.GENRE_FICTION, bs.GENRE_POETRY], max_price=6.0), ["poems"]),
}


@pytest.mark.parametrize("case", list(SEARCHES))
def test_search_books(store, bs, catalog, case):
    marker, books = catalog
    make_request, expected = SEARCHES[case]
    response = store.api.SearchBooks(bs.SearchBooksRequest(**make_request(marker, bs)))
    assert [b.name for b in response.books] == [books[key].name for key in expected]
    assert response.total_size == len(expected)
    assert response.next_page_token == ""


def test_search_books_a_page_at_a_time(store, bs, catalog):
    marker, books = catalog
    first = store.api.SearchBooks(bs.SearchBooksRequest(query=marker, page_size=3))
    assert len(first.books) == 3 and first.next_page_token != ""
    assert first.total_size == 4
    rest = pages(store.api.SearchBooks, bs.SearchBooksRequest, "books", page_size=3, query=marker)
    assert [b.name for page in rest for b in page] == [b.name for b in books.values()]
    assert [len(page) for page in rest] == [3, 1]


# ---------------------------------------------------------------------------------------------
# Streaming


def test_watch_shelf_streams_books_added_updated_and_removed(store, bs):
    shelf, other = store.shelf(), store.shelf()
    events = wait_until_open(store.api.WatchShelf(bs.WatchShelfRequest(name=shelf.name), timeout=20))
    try:
        store.book(other, title="Elsewhere")  # not on the watched shelf: no event
        book = store.book(shelf, title="Watched")
        mask = field_mask_pb2.FieldMask(paths=["title"])
        store.api.UpdateBook(bs.UpdateBookRequest(book=bs.Book(name=book.name, title="Watched, revised"), update_mask=mask))
        store.api.MoveBook(bs.MoveBookRequest(name=book.name, other_shelf=other.name))
        got = take(events, 3)
    finally:
        events.cancel()

    assert kinds(bs, got) == ["KIND_BOOK_ADDED", "KIND_BOOK_UPDATED", "KIND_BOOK_REMOVED"]
    assert got[0].book.name == book.name and got[0].book.title == "Watched"
    assert got[1].book.name == book.name and got[1].book.title == "Watched, revised"
    assert got[2].book.title == "Watched, revised"
    for event in got:
        assert_recent(event.event_time, "event_time")
    assert [nanos(e.event_time) for e in got] == sorted(nanos(e.event_time) for e in got)


def test_import_books_imports_every_book_in_order(store, bs):
    shelf = store.shelf()
    requests = [bs.ImportBooksRequest(parent=shelf.name, book=bs.Book(title=f"Imported {i}")) for i in range(3)]
    reply = store.api.ImportBooks(iter(requests))

    assert reply.imported_count == 3
    assert len(reply.names) == 3 and all(n.startswith(shelf.name + "/books/") for n in reply.names)
    assert store.book_names(shelf) == list(reply.names)
    assert [store.get_book(n).title for n in reply.names] == [f"Imported {i}" for i in range(3)]
    assert store.get_shelf(shelf.name).book_count == 3


def test_import_books_naming_a_missing_shelf_imports_nothing(store, bs):
    shelf = store.shelf()
    gone_shelf, _ = store.vanished()
    parents = [shelf.name, shelf.name, gone_shelf, shelf.name]
    requests = [bs.ImportBooksRequest(parent=p, book=bs.Book(title=f"Imported {i}")) for i, p in enumerate(parents)]
    with rpc_error(Code.NOT_FOUND):
        store.api.ImportBooks(iter(requests))
    assert store.book_names(shelf) == []
    assert store.get_shelf(shelf.name).book_count == 0


def test_import_books_without_a_title_is_invalid_argument(store, bs):
    shelf = store.shelf()
    requests = [bs.ImportBooksRequest(parent=shelf.name, book=bs.Book(title="Fine")), bs.ImportBooksRequest(parent=shelf.name, book=bs.Book(authors=["No title"]))]
    with rpc_error(Code.INVALID_ARGUMENT, "title"):
        store.api.ImportBooks(iter(requests))


# ---------------------------------------------------------------------------------------------
# Errors every method shares


# (method, request built from the message types and a `scene`, text the error message must contain)
MISSING_REQUIRED = [
    ("CreateShelf", lambda bs, x: bs.CreateShelfRequest(shelf=bs.Shelf()), "shelf.theme"),
    ("CreateShelf", lambda bs, x: bs.CreateShelfRequest(), "shelf"),
    ("GetShelf", lambda bs, x: bs.GetShelfRequest(), "name"),
    ("DeleteShelf", lambda bs, x: bs.DeleteShelfRequest(force=True), "name"),
    ("ListBooks", lambda bs, x: bs.ListBooksRequest(page_size=1), "parent"),
    ("GetBook", lambda bs, x: bs.GetBookRequest(), "name"),
    ("CreateBook", lambda bs, x: bs.CreateBookRequest(parent=x.shelf.name, book=bs.Book(authors=["x"])), "book.title"),
    ("CreateBook", lambda bs, x: bs.CreateBookRequest(parent=x.shelf.name), "book"),
    ("CreateBook", lambda bs, x: bs.CreateBookRequest(book=bs.Book(title="x")), "parent"),
    ("UpdateBook", lambda bs, x: bs.UpdateBookRequest(), "book"),
    ("MoveBook", lambda bs, x: bs.MoveBookRequest(name=x.book.name), "other_shelf"),
    ("MoveBook", lambda bs, x: bs.MoveBookRequest(other_shelf=x.shelf.name), "name"),
    ("WatchShelf", lambda bs, x: bs.WatchShelfRequest(), "name"),
]


@pytest.mark.parametrize("method,make_request,field", MISSING_REQUIRED, ids=[f"{m}-{f}" for m, _, f in MISSING_REQUIRED])
def test_a_missing_required_field_is_invalid_argument_naming_it(store, bs, scene, method, make_request, field):
    with rpc_error(Code.INVALID_ARGUMENT, field):
        invoke(store.api, method, make_request(bs, scene))


NOT_FOUND = {
    "GetShelf": lambda bs, x: bs.GetShelfRequest(name=x.gone_shelf),
    "DeleteShelf": lambda bs, x: bs.DeleteShelfRequest(name=x.gone_shelf, force=True),
    "ListBooks": lambda bs, x: bs.ListBooksRequest(parent=x.gone_shelf),
    "GetBook, existing shelf": lambda bs, x: bs.GetBookRequest(name=x.gone_book_here),
    "GetBook, missing shelf": lambda bs, x: bs.GetBookRequest(name=x.gone_book),
    "CreateBook": lambda bs, x: bs.CreateBookRequest(parent=x.gone_shelf, book=bs.Book(title="x")),
    "UpdateBook": lambda bs, x: bs.UpdateBookRequest(book=bs.Book(name=x.gone_book_here, title="x")),
    # (to another shelf: a move to the book's own shelf breaks MoveBookRequest's CEL rule first)
    "MoveBook, missing book": lambda bs, x: bs.MoveBookRequest(name=x.gone_book_here, other_shelf=x.elsewhere.name),
    "MoveBook, missing other_shelf": lambda bs, x: bs.MoveBookRequest(name=x.book.name, other_shelf=x.gone_shelf),
    "WatchShelf": lambda bs, x: bs.WatchShelfRequest(name=x.gone_shelf),
    "GetShelf, made-up name": lambda bs, x: bs.GetShelfRequest(name="shelves/no-such-shelf"),
    "GetBook, made-up name": lambda bs, x: bs.GetBookRequest(name="shelves/no-such-shelf/books/nope"),
}


@pytest.mark.parametrize("case", list(NOT_FOUND))
def test_a_missing_resource_is_not_found(store, bs, scene, case):
    method = case.split(",")[0]
    with rpc_error(Code.NOT_FOUND):
        invoke(store.api, method, NOT_FOUND[case](bs, scene))


@pytest.mark.parametrize("name", ["no-such-shelf", "shelves/", "shelves/1/extra"])
def test_a_malformed_name_is_invalid_argument(store, bs, name):
    with rpc_error(Code.INVALID_ARGUMENT, "name"):
        store.api.GetShelf(bs.GetShelfRequest(name=name))


@pytest.mark.parametrize("method", ["ListShelves", "ListBooks", "SearchBooks"])
def test_a_garbage_page_token_is_invalid_argument(store, bs, method):
    shelf = store.shelf()
    store.book(shelf)
    garbage = "%%not a page token%%"
    request = {
        "ListShelves": bs.ListShelvesRequest(page_token=garbage),
        "ListBooks": bs.ListBooksRequest(parent=shelf.name, page_token=garbage),
        "SearchBooks": bs.SearchBooksRequest(page_token=garbage),
    }[method]
    with rpc_error(Code.INVALID_ARGUMENT):
        getattr(store.api, method)(request)


@pytest.mark.parametrize("path", ["/bookstore.v1.Bookstore/NoSuchMethod", "/bookstore.v1.NoSuchService/GetShelf"])
def test_an_unknown_method_is_unimplemented(bookstore_channel, path):
    with rpc_error(Code.UNIMPLEMENTED):
        call_raw(bookstore_channel, path)


# ---------------------------------------------------------------------------------------------
# Health, reflection, authentication


@pytest.mark.parametrize("service", ["", "bookstore.v1.Bookstore"])
def test_health_check_is_serving(bookstore_channel, service):
    assert health_status(bookstore_channel, service) == "SERVING"


def test_reflection_describes_the_bookstore(bookstore_channel):
    services, pool = reflection(bookstore_channel)
    assert "bookstore.v1.Bookstore" in services
    book = pool.FindMessageTypeByName("bookstore.v1.Book")
    assert {"name", "title", "isbn", "publisher", "in_stock"} <= set(book.fields_by_name)
    methods = pool.FindServiceByName("bookstore.v1.Bookstore").methods_by_name
    assert {"ListShelves", "WatchShelf", "ImportBooks"} <= set(methods)


def test_reflection_sends_descriptors_without_source_info(bookstore_channel):
    """Comments and spans stay out of what reflection sends; the schema itself is all there."""
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    proto = ProtoReflectionDescriptorDatabase(bookstore_channel).FindFileContainingSymbol("bookstore.v1.Bookstore")
    assert not proto.HasField("source_code_info")
    assert {m.name for m in proto.service[0].method} >= {"GetShelf", "WatchShelf", "ImportBooks"}


ANY_SHELF = "shelves/1"  # authentication comes first, so whether it exists does not matter
UNAUTHENTICATED_METADATA = {"no authorization": None, "a wrong token": bearer("not-the-token")}


@pytest.mark.parametrize("metadata", list(UNAUTHENTICATED_METADATA.values()), ids=list(UNAUTHENTICATED_METADATA))
def test_with_token_a_call_without_the_right_token_is_unauthenticated(bookstore_with_token, bs, metadata):
    api, _ = bookstore_with_token
    with rpc_error(Code.UNAUTHENTICATED):
        api.ListShelves(bs.ListShelvesRequest(), metadata=metadata)
    with rpc_error(Code.UNAUTHENTICATED):
        api.CreateShelf(bs.CreateShelfRequest(shelf=bs.Shelf(theme="x")), metadata=metadata)
    with rpc_error(Code.UNAUTHENTICATED):
        list(api.WatchShelf(bs.WatchShelfRequest(name=ANY_SHELF), metadata=metadata))
    with rpc_error(Code.UNAUTHENTICATED):
        api.ImportBooks(iter([bs.ImportBooksRequest(parent=ANY_SHELF, book=bs.Book(title="x"))]), metadata=metadata)


def test_with_token_the_right_token_works_for_unary_and_streaming_calls(bookstore_with_token, bs):
    api, _ = bookstore_with_token
    auth = bearer(TOKEN)
    shelf = api.CreateShelf(bs.CreateShelfRequest(shelf=bs.Shelf(theme="Secret")), metadata=auth)
    assert api.GetShelf(bs.GetShelfRequest(name=shelf.name), metadata=auth) == shelf

    events = wait_until_open(api.WatchShelf(bs.WatchShelfRequest(name=shelf.name), metadata=auth, timeout=20))
    try:
        book = api.CreateBook(bs.CreateBookRequest(parent=shelf.name, book=bs.Book(title="Classified")), metadata=auth)
        [event] = take(events, 1)
    finally:
        events.cancel()
    assert kinds(bs, [event]) == ["KIND_BOOK_ADDED"] and event.book.name == book.name

    reply = api.ImportBooks(iter([bs.ImportBooksRequest(parent=shelf.name, book=bs.Book(title="Declassified"))]), metadata=auth)
    assert reply.imported_count == 1


@pytest.mark.parametrize("service", ["", "bookstore.v1.Bookstore"])
def test_with_token_health_stays_open(bookstore_with_token, service):
    _, channel = bookstore_with_token
    assert health_status(channel, service) == "SERVING"
