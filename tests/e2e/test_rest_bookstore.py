"""The bookstore example over REST (its google.api.http bindings) and Connect's unary JSON, called
with `requests`: every binding, the proto3 JSON mapping, and the errors users see."""

import base64
import http.client
import time
import types

import pytest
from google.protobuf import json_format

from support import (
    CALL_TIMEOUT,
    TOKEN,
    Http,
    assert_recent_json,
    connect_error,
    ok,
    rest_error,
    rfc3339,
)

# gRPC codes, as REST error bodies carry them.
INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, UNAUTHENTICATED = 3, 5, 9, 16

OUTPUT_ONLY = {"name", "createTime", "updateTime", "shelf"}  # what the server sets on a book ("name" is its IDENTIFIER)
COVER = b"\x89PNG\r\n\x1a\n\x00\xff"

FULL_BOOK = {
    "title": "Dune",
    "authors": ["Frank Herbert"],
    "genre": "GENRE_FICTION",
    "isbn": "9780441013593",  # int64: a string in JSON
    "price": 9.99,
    "subtitle": "Book One",  # google.protobuf.StringValue: the bare string
    "labels": {"format": "paperback", "lang": "en"},
    "publisher": {"name": "Ace", "country": "US"},
    "inStock": 3,
    "coverThumbnail": base64.b64encode(COVER).decode(),
}


def writable(book):
    """A book's JSON without what the server sets."""
    return {k: v for k, v in book.items() if k not in OUTPUT_ONLY}


class Store:
    """The REST API with shorthands for the calls most tests make. Names are resource names
    (`shelves/1`), so a resource's path is `/v1/` + its name."""

    def __init__(self, http):
        self.http = http

    def shelf(self, theme="Science fiction"):
        return ok(self.http.post("/v1/shelves", json={"theme": theme}))

    def book(self, shelf, title="Dune", **fields):
        return ok(self.http.post(f"/v1/{shelf['name']}/books", json={"title": title, **fields}))

    def get(self, name):
        return ok(self.http.get(f"/v1/{name}"))

    def vanished(self):
        """Names that existed and no longer do: a deleted shelf and a book that was on it."""
        shelf = self.shelf("Soon gone")
        book = self.book(shelf)
        ok(self.http.delete(f"/v1/{shelf['name']}", params={"force": "true"}))
        return shelf["name"], book["name"]

    def pages(self, path, field, **params):
        """Every page of a List or Search binding, following nextPageToken until there is none."""
        result, token = [], None
        for _ in range(100):
            body = ok(self.http.get(path, params={**params, **({"pageToken": token} if token else {})}))
            result.append(body.get(field, []))
            token = body.get("nextPageToken")
            if not token:
                return result
        pytest.fail(f"{path}: still a nextPageToken after 100 pages")


@pytest.fixture(scope="module")
def store(bookstore_http):
    return Store(bookstore_http)


@pytest.fixture
def scene(store):
    """An existing shelf and book on it, and names of resources that no longer exist."""
    shelf = store.shelf()
    book = store.book(shelf)
    gone_shelf, gone_book = store.vanished()
    return types.SimpleNamespace(shelf=shelf["name"], book=book["name"], gone_shelf=gone_shelf, gone_book=gone_book)


def later(a, b):
    return rfc3339(b) > rfc3339(a)


# ---------------------------------------------------------------------------------------------
# Shelves


@pytest.mark.parametrize("page_size", ["pageSize", "page_size"])
def test_list_shelves_starts_empty_and_pages_in_creation_order(launch, page_size):
    server = launch("bookstore-example")  # its own server: this test sees every shelf there is
    with Http(server.address) as http:
        assert ok(http.get("/v1/shelves")) == {}  # no shelves, no token: default values are omitted

        store = Store(http)
        created = [store.shelf(f"Theme {i}") for i in range(5)]
        listed, token = [], None
        for _ in range(10):
            params = {page_size: 2, **({"pageToken": token} if token else {})}
            body = ok(http.get("/v1/shelves", params=params))
            listed.append(body["shelves"])
            token = body.get("nextPageToken")
            if not token:
                break
        assert [len(page) for page in listed] == [2, 2, 1]
        assert [s for page in listed for s in page] == created


def test_create_shelf_assigns_name_and_create_time(store):
    shelf = store.shelf("History")
    assert shelf["name"].startswith("shelves/") and len(shelf["name"]) > len("shelves/")
    assert shelf["theme"] == "History"
    assert_recent_json(shelf["createTime"], "createTime")
    assert "bookCount" not in shelf  # 0, a default value: omitted
    assert store.shelf()["name"] != shelf["name"]


def test_create_shelf_ignores_output_only_fields(store):
    sent = {"name": "shelves/chosen-by-the-client", "theme": "Poetry", "createTime": "2000-01-01T00:00:00Z", "bookCount": 42}
    shelf = ok(store.http.post("/v1/shelves", json=sent))
    assert shelf["name"] != sent["name"]
    assert shelf["theme"] == "Poetry"
    assert_recent_json(shelf["createTime"], "createTime")
    assert "bookCount" not in shelf


def test_get_shelf_returns_the_shelf_with_its_book_count(store):
    shelf = store.shelf()
    assert store.get(shelf["name"]) == shelf
    store.book(shelf)
    store.book(shelf)
    assert store.get(shelf["name"]) == {**shelf, "bookCount": 2}


def test_delete_an_empty_shelf_answers_an_empty_object(store):
    shelf = store.shelf()
    assert ok(store.http.delete(f"/v1/{shelf['name']}")) == {}
    rest_error(store.http.get(f"/v1/{shelf['name']}"), 404, NOT_FOUND)


def test_delete_a_shelf_with_books_needs_force(store):
    shelf = store.shelf()
    book = store.book(shelf)
    rest_error(store.http.delete(f"/v1/{shelf['name']}"), 400, FAILED_PRECONDITION)
    assert store.get(book["name"]) == book

    assert ok(store.http.delete(f"/v1/{shelf['name']}", params={"force": "true"})) == {}
    rest_error(store.http.get(f"/v1/{shelf['name']}"), 404, NOT_FOUND)
    rest_error(store.http.get(f"/v1/{book['name']}"), 404, NOT_FOUND)


# ---------------------------------------------------------------------------------------------
# Books and the proto3 JSON mapping


def test_create_book_keeps_every_field_in_proto3_json(store):
    shelf = store.shelf()
    book = ok(store.http.post(f"/v1/{shelf['name']}/books", json=FULL_BOOK))
    assert book["name"].startswith(shelf["name"] + "/books/") and len(book["name"]) > len(shelf["name"] + "/books/")
    assert writable(book) == FULL_BOOK
    assert_recent_json(book["createTime"], "createTime")
    assert_recent_json(book["updateTime"], "updateTime")
    assert base64.b64decode(book["coverThumbnail"]) == COVER


def test_create_book_ignores_output_only_fields(store):
    shelf = store.shelf()
    sent = {"title": "Dune", "name": "shelves/elsewhere/books/mine", "createTime": "2000-01-01T00:00:00Z", "updateTime": "2000-01-01T00:00:00Z"}
    book = ok(store.http.post(f"/v1/{shelf['name']}/books", json=sent))
    assert book["name"].startswith(shelf["name"] + "/books/")
    assert_recent_json(book["createTime"], "createTime")
    assert_recent_json(book["updateTime"], "updateTime")


def test_default_values_are_omitted(store):
    shelf = store.shelf()
    sent = {"title": "Bare", "authors": [], "genre": "GENRE_UNSPECIFIED", "isbn": "0", "price": 0, "labels": {}, "coverThumbnail": ""}
    book = ok(store.http.post(f"/v1/{shelf['name']}/books", json=sent))
    assert set(book) == {"name", "title", "createTime", "updateTime", "shelf"}, book


# (what the client sends besides a title, what the server answers with besides name, title and times)
ALSO_ACCEPTED = {
    "int64 as a number": ({"isbn": 9780441013593}, {"isbn": "9780441013593"}),
    "int32 as a string": ({"inStock": "3"}, {"inStock": 3}),
    "double as a string": ({"price": "1.5"}, {"price": 1.5}),
    "enum by number": ({"genre": 2}, {"genre": "GENRE_SCIENCE"}),
    "proto field names": ({"out_of_print": True, "cover_thumbnail": "AAE="}, {"outOfPrint": True, "coverThumbnail": "AAE="}),
    "URL-safe base64 without padding": ({"coverThumbnail": base64.urlsafe_b64encode(COVER).decode().rstrip("=")}, {"coverThumbnail": FULL_BOOK["coverThumbnail"]}),
    "timestamp with an offset": ({"restockTime": "2030-01-02T03:04:05.500+01:00"}, {"restockTime": "2030-01-02T02:04:05.500Z"}),
    "null for a wrapper": ({"subtitle": None}, {}),
    "null for a message": ({"publisher": None}, {}),
}


@pytest.mark.parametrize("case", list(ALSO_ACCEPTED))
def test_create_book_accepts_every_proto3_json_input_form_and_answers_the_canonical_one(store, case):
    sent, expected = ALSO_ACCEPTED[case]
    book = ok(store.http.post(f"/v1/{store.shelf()['name']}/books", json={"title": "Forms", **sent}))
    assert {k: v for k, v in writable(book).items() if k != "title"} == expected


@pytest.mark.parametrize("prefix", ["/v1/", "/v1/books/"], ids=["binding", "additional binding"])
def test_get_book(store, prefix):
    book = ok(store.http.post(f"/v1/{store.shelf()['name']}/books", json=FULL_BOOK))
    assert ok(store.http.get(prefix + book["name"])) == book


def test_list_books_in_creation_order_a_page_at_a_time(store):
    shelf, elsewhere = store.shelf(), store.shelf()
    created = [store.book(shelf, title=f"Volume {i}") for i in range(5)]
    store.book(elsewhere, title="Not on this shelf")
    listed = store.pages(f"/v1/{shelf['name']}/books", "books", pageSize=2)
    assert [len(page) for page in listed] == [2, 2, 1]
    assert [b for page in listed for b in page] == created


# (query parameters of the PATCH, fields of CHANGE it applies)
MASKS = {
    "title": ({"updateMask": "title"}, ["title"]),
    "title, by the proto name of the parameter": ({"update_mask": "title"}, ["title"]),
    "two lowerCamel paths": ({"updateMask": "title,coverThumbnail"}, ["title", "coverThumbnail"]),
    "a message field": ({"updateMask": "title,publisher"}, ["title", "publisher"]),
}
CHANGE = {
    "title": "Children of Dune",
    "authors": ["Someone Else"],
    "price": 1.5,
    "publisher": {"name": "Gollancz"},
    "coverThumbnail": base64.b64encode(b"new cover").decode(),
}


@pytest.mark.parametrize("case", list(MASKS))
def test_update_book_with_a_mask_changes_only_the_masked_fields(store, case):
    params, changed = MASKS[case]
    original = ok(store.http.post(f"/v1/{store.shelf()['name']}/books", json=FULL_BOOK))
    time.sleep(0.01)
    updated = ok(store.http.patch(f"/v1/{original['name']}", params=params, json=CHANGE))

    assert writable(updated) == {**FULL_BOOK, **{field: CHANGE[field] for field in changed}}
    assert updated["name"] == original["name"] and updated["createTime"] == original["createTime"]
    assert later(original["updateTime"], updated["updateTime"])
    assert store.get(original["name"]) == updated


def test_update_book_without_a_mask_replaces_every_writable_field(store):
    original = ok(store.http.post(f"/v1/{store.shelf()['name']}/books", json=FULL_BOOK))
    time.sleep(0.01)
    updated = ok(store.http.patch(f"/v1/{original['name']}", json={"title": "Bare now", "price": 2.5}))
    assert writable(updated) == {"title": "Bare now", "price": 2.5}
    assert updated["createTime"] == original["createTime"]
    assert later(original["updateTime"], updated["updateTime"])


def test_update_book_takes_the_name_from_the_path_not_the_body(store):
    shelf = store.shelf()
    target, bystander = store.book(shelf, title="Target"), store.book(shelf, title="Bystander")
    body = {"name": bystander["name"], "title": "Renamed"}
    updated = ok(store.http.patch(f"/v1/{target['name']}", params={"updateMask": "title"}, json=body))
    assert updated["name"] == target["name"] and updated["title"] == "Renamed"
    assert store.get(bystander["name"]) == bystander


def test_update_book_ignores_output_only_fields(store):
    original = store.book(store.shelf())
    body = {"title": "Same book", "createTime": "2000-01-01T00:00:00Z", "updateTime": "2000-01-01T00:00:00Z"}
    updated = ok(store.http.patch(f"/v1/{original['name']}", params={"updateMask": "title"}, json=body))
    assert updated["createTime"] == original["createTime"]
    assert_recent_json(updated["updateTime"], "updateTime")


def test_a_book_as_the_server_returns_it_is_valid_input(store):
    original = ok(store.http.post(f"/v1/{store.shelf()['name']}/books", json=FULL_BOOK))
    updated = ok(store.http.patch(f"/v1/{original['name']}", json=original))
    assert writable(updated) == writable(original)


@pytest.mark.parametrize("field", ["otherShelf", "other_shelf"])
def test_move_book_gives_it_a_name_under_the_other_shelf(store, field):
    source, target = store.shelf(), store.shelf()
    book = store.book(source, title="The Wanderer")
    moved = ok(store.http.post(f"/v1/{book['name']}:move", json={field: target["name"]}))

    assert moved["name"].startswith(target["name"] + "/books/")
    assert moved["title"] == "The Wanderer"
    assert store.get(moved["name"]) == moved
    rest_error(store.http.get(f"/v1/{book['name']}"), 404, NOT_FOUND)
    assert "bookCount" not in store.get(source["name"])
    assert store.get(target["name"])["bookCount"] == 1


def test_move_book_to_a_missing_shelf_leaves_it_where_it_was(store, scene):
    rest_error(store.http.post(f"/v1/{scene.book}:move", json={"otherShelf": scene.gone_shelf}), 404, NOT_FOUND)
    assert store.get(scene.book)["name"] == scene.book


# ---------------------------------------------------------------------------------------------
# SearchBooks: every field a query parameter


@pytest.fixture(scope="module")
def catalog(store):
    """Four books on two shelves whose titles or authors contain a marker no other book has."""
    marker = f"m{time.time_ns():x}"
    a, b = store.shelf("Mixed"), store.shelf("Mixed too")
    books = {
        "left": store.book(a, f"The Left Hand of Darkness {marker}", authors=["Ursula K. Le Guin"],
                           genre="GENRE_FICTION", price=9.5, publisher={"name": "Ace", "country": "US"}),
        "cosmos": store.book(b, "Cosmos", authors=[f"Carl Sagan {marker}"],
                             genre="GENRE_SCIENCE", price=20.0, publisher={"name": "Random House", "country": "US"}),
        "spqr": store.book(a, f"SPQR {marker}", authors=["Mary Beard"],
                           genre="GENRE_HISTORY", price=15.0, publisher={"name": "Profile", "country": "GB"}),
        "poems": store.book(b, f"Collected Poems {marker}", authors=["Anonymous"],
                            genre="GENRE_POETRY", price=5.0, publisher={"name": "Ace", "country": "GB"}),
    }  # fmt: skip
    return marker, books


# (query parameters besides query=MARKER, the books found)
SEARCHES = {
    "query alone, ignoring case": ([], ["left", "cosmos", "spqr", "poems"]),
    "genres by name, repeated": ([("genres", "GENRE_SCIENCE"), ("genres", "GENRE_HISTORY")], ["cosmos", "spqr"]),
    "genres by number, repeated": ([("genres", "2"), ("genres", "3")], ["cosmos", "spqr"]),
    "maxPrice is inclusive": ([("maxPrice", "9.5")], ["left", "poems"]),
    "max_price, the proto name": ([("max_price", "9.5")], ["left", "poems"]),
    "maxPrice 0 is a filter too": ([("maxPrice", "0")], []),
    "publisher.name": ([("publisher.name", "Ace")], ["left", "poems"]),
    "publisher.name and publisher.country": ([("publisher.name", "Ace"), ("publisher.country", "GB")], ["poems"]),
    "filters combine": ([("genres", "GENRE_FICTION"), ("genres", "GENRE_POETRY"), ("maxPrice", "6")], ["poems"]),
}


@pytest.mark.parametrize("case", list(SEARCHES))
def test_search_books(store, catalog, case):
    marker, books = catalog
    params, expected = SEARCHES[case]
    body = ok(store.http.get("/v1/books:search", params=[("query", marker.upper()), *params]))
    assert [b["name"] for b in body.get("books", [])] == [books[key]["name"] for key in expected]
    assert body.get("totalSize") == (str(len(expected)) if expected else None)  # int64: a string; 0: omitted
    assert "nextPageToken" not in body


def test_search_books_a_page_at_a_time(store, catalog):
    marker, books = catalog
    first = ok(store.http.get("/v1/books:search", params={"query": marker, "pageSize": 3}))
    assert len(first["books"]) == 3 and first["nextPageToken"]
    assert first["totalSize"] == "4"
    listed = store.pages("/v1/books:search", "books", query=marker, pageSize=3)
    assert [len(page) for page in listed] == [3, 1]
    assert [b for page in listed for b in page] == list(books.values())


@pytest.mark.parametrize(
    "path,params",
    [("/v1/shelves", {"unknown": "1"}), ("/v1/books:search", {"notAField": "x", "publisher.nope": "y", "book.title": "z"})],
)
def test_unknown_query_parameters_are_ignored(store, path, params):
    assert ok(store.http.get(path, params=params)) == ok(store.http.get(path))


# ---------------------------------------------------------------------------------------------
# The same data over gRPC and Connect


def test_a_book_created_over_rest_reads_the_same_over_grpc(store, bookstore, pb):
    book = ok(store.http.post(f"/v1/{store.shelf()['name']}/books", json=FULL_BOOK))
    over_grpc = bookstore.GetBook(pb.bookstore.GetBookRequest(name=book["name"]))
    assert json_format.MessageToDict(over_grpc) == book
    assert json_format.ParseDict(book, pb.bookstore.Book()) == over_grpc


def test_a_book_created_over_grpc_reads_over_rest_as_protobuf_prints_it(store, bookstore, pb):
    shelf = store.shelf()
    sent = json_format.ParseDict(FULL_BOOK, pb.bookstore.Book())
    created = bookstore.CreateBook(pb.bookstore.CreateBookRequest(parent=shelf["name"], book=sent))
    assert store.get(created.name) == json_format.MessageToDict(created)


# (Connect method, request, REST request that answers the same)
UNARY_TWINS = {
    "GetShelf": lambda x: ("GetShelf", {"name": x.shelf}, f"/v1/{x.shelf}", None),
    "GetBook": lambda x: ("GetBook", {"name": x.book}, f"/v1/{x.book}", None),
    "ListBooks": lambda x: ("ListBooks", {"parent": x.shelf, "pageSize": 1}, f"/v1/{x.shelf}/books", {"pageSize": 1}),
    "SearchBooks": lambda x: ("SearchBooks", {"query": "dune", "genres": ["GENRE_FICTION"]}, "/v1/books:search", [("query", "dune"), ("genres", "GENRE_FICTION")]),
}


@pytest.mark.parametrize("case", list(UNARY_TWINS))
def test_connect_json_at_the_rpc_path_answers_like_rest(store, scene, case):
    method, message, path, params = UNARY_TWINS[case](scene)
    over_connect = ok(store.http.connect(f"bookstore.v1.Bookstore/{method}", message))
    assert over_connect == ok(store.http.get(path, params=params))


def test_connect_json_creates_a_shelf(store):
    shelf = ok(store.http.connect("bookstore.v1.Bookstore/CreateShelf", {"shelf": {"theme": "By Connect"}}))
    assert shelf["theme"] == "By Connect"
    assert store.get(shelf["name"]) == shelf


CONNECT_ERRORS = {
    "not_found": (lambda x: {"name": x.gone_shelf}, 404, "not_found", ()),
    "a missing REQUIRED field": (lambda x: {}, 400, "invalid_argument", ("name",)),
    "a wrong JSON type": (lambda x: {"name": 7}, 400, "invalid_argument", ("name",)),
}


@pytest.mark.parametrize("case", list(CONNECT_ERRORS))
def test_connect_json_errors_use_connects_error_form(store, scene, case):
    make, status, code, mentions = CONNECT_ERRORS[case]
    connect_error(store.http.connect("bookstore.v1.Bookstore/GetShelf", make(scene)), status, code, *mentions)


def test_connect_json_malformed_body_is_invalid_argument(store):
    response = store.http.post("/bookstore.v1.Bookstore/GetShelf", data=b'{"name":', headers={"content-type": "application/json"})
    connect_error(response, 400, "invalid_argument", "line 1 column")


# ---------------------------------------------------------------------------------------------
# Errors


NOT_FOUND_CASES = {
    "GET shelf": lambda x: ("GET", f"/v1/{x.gone_shelf}", None),
    "DELETE shelf": lambda x: ("DELETE", f"/v1/{x.gone_shelf}", None),
    "DELETE shelf with force": lambda x: ("DELETE", f"/v1/{x.gone_shelf}?force=true", None),
    "GET books of a shelf": lambda x: ("GET", f"/v1/{x.gone_shelf}/books", None),
    "GET book": lambda x: ("GET", f"/v1/{x.gone_book}", None),
    "GET book, additional binding": lambda x: ("GET", f"/v1/books/{x.gone_book}", None),
    "GET book, made-up name": lambda x: ("GET", "/v1/shelves/no-such-shelf/books/nope", None),
    "POST book": lambda x: ("POST", f"/v1/{x.gone_shelf}/books", {"title": "x"}),
    "PATCH book": lambda x: ("PATCH", f"/v1/{x.gone_book}?updateMask=title", {"title": "x"}),
    "POST move, missing book": lambda x: ("POST", f"/v1/{x.gone_book}:move", {"otherShelf": x.shelf}),
}


@pytest.mark.parametrize("case", list(NOT_FOUND_CASES))
def test_a_missing_resource_is_404(store, scene, case):
    method, path, body = NOT_FOUND_CASES[case](scene)
    rest_error(store.http.request(method, path, json=body), 404, NOT_FOUND)


@pytest.mark.parametrize("path", ["/v1/nothing", "/v2/shelves", "/v1/shelves/1/chapters", "/v1/shelves/1/books/1/pages/2"])
def test_an_unknown_path_is_404(store, path):
    rest_error(store.http.get(path), 404, NOT_FOUND)


WRONG_METHODS = [
    ("PUT", "/v1/shelves/1", {"GET", "DELETE"}),
    ("DELETE", "/v1/shelves", {"GET", "POST"}),
    ("PUT", "/v1/shelves/1/books/1", {"GET", "PATCH"}),
    ("PATCH", "/v1/books/shelves/1/books/1", {"GET"}),
    ("POST", "/v1/books:search", {"GET"}),
]


@pytest.mark.parametrize("method,path,allowed", WRONG_METHODS, ids=[f"{m} {p}" for m, p, _ in WRONG_METHODS])
def test_a_wrong_method_is_405_with_the_allowed_methods(store, method, path, allowed):
    response = store.http.request(method, path, json={} if method in ("PUT", "PATCH", "POST") else None)
    rest_error(response, 405, None)
    assert {m.strip() for m in response.headers.get("allow", "").split(",") if m.strip()} == allowed, response.headers


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/octet-stream"])
def test_a_body_that_is_not_json_is_415(store, content_type):
    response = store.http.post("/v1/shelves", data=b'{"theme": "x"}', headers={"content-type": content_type})
    rest_error(response, 415, None)


def test_a_form_encoded_body_is_415(store):
    rest_error(store.http.post("/v1/shelves", data={"theme": "x"}), 415, None)


def test_a_body_over_4_mib_is_413(store):
    response = store.http.post("/v1/shelves", json={"theme": "x" * (4 * 1024 * 1024 + 1)}, timeout=30)
    rest_error(response, 413, None)


def test_a_body_under_4_mib_is_accepted(store):
    theme = "x" * (3 * 1024 * 1024)
    assert ok(store.http.post("/v1/shelves", json={"theme": theme}, timeout=30))["theme"] == theme


@pytest.mark.parametrize("body", [b'{"theme":', b'{"theme": "x"} trailing', b"{'theme': 'x'}", b'{"theme": "x",}'])
def test_malformed_json_is_400_naming_the_position(store, body):
    response = store.http.post("/v1/shelves", data=body, headers={"content-type": "application/json"})
    rest_error(response, 400, INVALID_ARGUMENT, "line 1 column")


# (body of POST /v1/shelves/{shelf}/books, or of POST /v1/shelves when it has a theme; field named)
WRONG_TYPES = [
    ({"theme": 5}, "shelf.theme"),
    ({"theme": "x", "bookCount": "many"}, "shelf.bookCount"),
    ({"title": ["Dune"]}, "book.title"),
    ({"title": "t", "authors": "Frank Herbert"}, "book.authors"),
    ({"title": "t", "isbn": "not a number"}, "book.isbn"),
    ({"title": "t", "price": "cheap"}, "book.price"),
    ({"title": "t", "inStock": 1.5}, "book.inStock"),
    ({"title": "t", "publisher": {"name": 1}}, "book.publisher.name"),
    ({"title": "t", "publisher": "Ace"}, "book.publisher"),
    ({"title": "t", "labels": ["a"]}, "book.labels"),
    ({"title": "t", "restockTime": "yesterday"}, "book.restockTime"),
]


@pytest.mark.parametrize("body,field", WRONG_TYPES, ids=[f for _, f in WRONG_TYPES])
def test_a_wrong_json_type_is_400_naming_the_field(store, scene, body, field):
    path = "/v1/shelves" if "theme" in body else f"/v1/{scene.shelf}/books"
    rest_error(store.http.post(path, json=body), 400, INVALID_ARGUMENT, field)


def test_an_unknown_enum_name_is_400(store, scene):
    rest_error(store.http.post(f"/v1/{scene.shelf}/books", json={"title": "t", "genre": "GENRE_COOKING"}), 400, INVALID_ARGUMENT, "genre")


def test_an_unknown_enum_name_in_the_query_is_400(store):
    rest_error(store.http.get("/v1/books:search", params={"genres": "GENRE_COOKING"}), 400, INVALID_ARGUMENT, "genres")


@pytest.mark.parametrize("value", ["!!not base64!!", "QUJD*"])
def test_invalid_base64_is_400(store, scene, value):
    response = store.http.post(f"/v1/{scene.shelf}/books", json={"title": "t", "coverThumbnail": value})
    rest_error(response, 400, INVALID_ARGUMENT, ("coverThumbnail", "cover_thumbnail"))


ONEOF_PAIRS = [
    {"inStock": 1, "outOfPrint": True},
    {"inStock": 1, "restockTime": "2030-01-01T00:00:00Z"},
    {"in_stock": 1, "outOfPrint": True},
]


@pytest.mark.parametrize("members", ONEOF_PAIRS, ids=["+".join(p) for p in ONEOF_PAIRS])
def test_two_members_of_a_oneof_is_400(store, scene, members):
    rest_error(store.http.post(f"/v1/{scene.shelf}/books", json={"title": "t", **members}), 400, INVALID_ARGUMENT)


MISSING_REQUIRED = {
    "CreateShelf, theme": (lambda x: ("POST", "/v1/shelves", {}), ("shelf.theme",)),
    "CreateBook, title": (lambda x: ("POST", f"/v1/{x.shelf}/books", {"authors": ["Anonymous"]}), ("book.title",)),
    "CreateBook, empty title": (lambda x: ("POST", f"/v1/{x.shelf}/books", {"title": ""}), ("book.title",)),
    "UpdateBook, title without a mask": (lambda x: ("PATCH", f"/v1/{x.book}", {"price": 1}), ("book.title",)),
    "MoveBook, otherShelf": (lambda x: ("POST", f"/v1/{x.book}:move", {}), (("otherShelf", "other_shelf"),)),
}


@pytest.mark.parametrize("case", list(MISSING_REQUIRED))
def test_a_missing_required_field_is_400_naming_it(store, scene, case):
    make, mentions = MISSING_REQUIRED[case]
    method, path, body = make(scene)
    rest_error(store.http.request(method, path, json=body), 400, INVALID_ARGUMENT, *mentions)


TWICE = [
    ("/v1/shelves?pageSize=1&pageSize=2", "pageSize"),
    ("/v1/shelves?pageSize=1&page_size=2", ("pageSize", "page_size")),
    ("/v1/books:search?query=a&query=b", "query"),
    ("/v1/books:search?maxPrice=1&maxPrice=2", "maxPrice"),
    ("/v1/books:search?publisher.name=a&publisher.name=b", "publisher.name"),
]


@pytest.mark.parametrize("path,field", TWICE, ids=[p for p, _ in TWICE])
def test_a_singular_query_parameter_given_twice_is_400(store, path, field):
    rest_error(store.http.get(path), 400, INVALID_ARGUMENT, field)


BAD_QUERY_VALUES = [
    ("GET", "/v1/shelves?pageSize=ten", "pageSize"),
    ("GET", "/v1/books:search?maxPrice=cheap", "maxPrice"),
    ("DELETE", "/v1/shelves/1?force=yes", "force"),
]


@pytest.mark.parametrize("method,path,field", BAD_QUERY_VALUES, ids=[p for _, p, _ in BAD_QUERY_VALUES])
def test_a_query_parameter_of_the_wrong_type_is_400_naming_it(store, method, path, field):
    rest_error(store.http.request(method, path), 400, INVALID_ARGUMENT, field)


def test_a_garbage_page_token_is_400(store):
    rest_error(store.http.get("/v1/shelves", params={"pageToken": "%%not a page token%%"}), 400, INVALID_ARGUMENT)


# (server fixture, method, path, content type, the error it answers before reading the body)
EARLY_ERRORS = [
    ("bookstore_server", "POST", "/v1/shelves", "text/plain", 415),
    ("bookstore_server", "PUT", "/v1/shelves/1", "application/json", 405),
    ("bookstore_server", "POST", "/v1/nothing", "application/json", 404),
    ("bookstore_token_server", "POST", "/v1/shelves", "application/json", 401),
]


@pytest.mark.parametrize("server,method,path,content_type,status", EARLY_ERRORS, ids=[str(e[-1]) for e in EARLY_ERRORS])
def test_an_error_answered_before_the_body_arrives_leaves_a_usable_connection(request, server, method, path, content_type, status):
    """Keep-alive clients (requests, browsers) send the next request on the same connection unless the
    response said `Connection: close`; a connection closed silently makes that request fail."""
    host, port = request.getfixturevalue(server).address.rsplit(":", 1)
    body = b'{"theme": "x"}'
    conn = http.client.HTTPConnection(host, int(port), timeout=CALL_TIMEOUT)
    try:
        conn.putrequest(method, path)
        conn.putheader("content-type", content_type)
        conn.putheader("content-length", str(len(body)))
        conn.endheaders()
        time.sleep(0.1)  # the body follows the headers a little later, as it may over any network
        conn.send(body)
        first = conn.getresponse()
        first.read()
        assert first.status == status
        if first.will_close:
            return  # the server said `Connection: close`: a client opens a new connection
        try:
            conn.request("GET", "/healthz")
            second = conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionError) as err:
            pytest.fail(
                f"after answering {status} without `Connection: close` (headers: {dict(first.getheaders())}), "
                f"the server closed the connection, so the next request on it failed: {err!r}"
            )
        assert second.status == 200
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------
# Authentication


UNAUTHENTICATED_HEADERS = {
    "no authorization": {},
    "a wrong token": {"authorization": "Bearer not-the-token"},
    "another scheme": {"authorization": f"Basic {base64.b64encode(TOKEN.encode()).decode()}"},
    "the bare token": {"authorization": TOKEN},
}
AUTHENTICATED_CALLS = [("GET", "/v1/shelves", None), ("POST", "/v1/shelves", {"theme": "x"}), ("GET", "/v1/shelves/1", None)]


@pytest.mark.parametrize("headers", list(UNAUTHENTICATED_HEADERS.values()), ids=list(UNAUTHENTICATED_HEADERS))
@pytest.mark.parametrize("method,path,body", AUTHENTICATED_CALLS, ids=[f"{m} {p}" for m, p, _ in AUTHENTICATED_CALLS])
def test_with_token_a_request_without_the_right_token_is_401(bookstore_http_with_token, headers, method, path, body):
    response = bookstore_http_with_token.request(method, path, json=body, headers=headers)
    rest_error(response, 401, UNAUTHENTICATED)
    assert response.headers.get("www-authenticate", "").split(" ")[0] == "Bearer", response.headers


def test_with_token_the_right_token_works(bookstore_http_with_token):
    auth = {"authorization": f"Bearer {TOKEN}"}
    shelf = ok(bookstore_http_with_token.post("/v1/shelves", json={"theme": "Secret"}, headers=auth))
    assert ok(bookstore_http_with_token.get(f"/v1/{shelf['name']}", headers=auth)) == shelf


def test_with_token_connect_json_without_it_is_unauthenticated(bookstore_http_with_token):
    response = bookstore_http_with_token.connect("bookstore.v1.Bookstore/ListShelves", {})
    connect_error(response, 401, "unauthenticated")
