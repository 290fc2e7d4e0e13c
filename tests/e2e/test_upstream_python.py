"""The Python upstream server (upstream/server.py) that the gateway tests run behind `apigen gateway`,
called directly with grpcio: its services, its test hooks, its metadata and its JSON events."""

import time
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from support import RequestStream, assert_recent, open_channel, rpc_error, take, wait_until_open
from upstream_support import start_upstream

Code = grpc.StatusCode
BOOKSTORE = "/bookstore.v1.Bookstore/"
CHAT = "/chat.v1.Chat/"
# gRPC rounds the grpc-timeout header up when it encodes it, so the server may see a few
# milliseconds more than the client asked for.
TIMEOUT_ROUNDING = 0.1


@pytest.fixture(scope="module")
def stub_dir(pb):
    """The directory conftest.py generated the stubs into; the servers reuse it."""
    return Path(pb.bookstore.__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def upstream(stub_dir):
    with start_upstream(stubs=stub_dir) as server:
        yield server
        # Bad input must be answered with a status, never with a handler crash (UNKNOWN).
        crashes = [e for e in server.events() if e["event"] == "error" and e["code"] == "UNKNOWN"]
        assert not crashes, f"handlers crashed: {crashes}\n{server.output()}"
        # grpcio logs what escapes handlers and termination callbacks to stderr.
        assert "Traceback" not in server.stderr(), server.output()


@pytest.fixture(scope="module")
def channel(upstream):
    with open_channel(upstream.address) as channel:
        yield channel


@pytest.fixture
def bookstore(pb, channel):
    return pb.bookstore_grpc.BookstoreStub(channel)


@pytest.fixture
def chat(pb, channel):
    return pb.chat_grpc.ChatStub(channel)


@pytest.fixture
def bs(pb):
    """The bookstore.v1 message types."""
    return pb.bookstore


@pytest.fixture
def cm(pb):
    """The chat.v1 message types."""
    return pb.chat


@pytest.fixture
def mark(unique):
    """Metadata that tags a call, so that its events can be found."""
    return (("x-test", unique),)


def call_event(upstream, method, unique):
    """The "call" event of the call tagged with `mark`."""
    return upstream.wait_for(lambda e: e["event"] == "call" and e["method"] == method and e["metadata"].get("x-test") == unique)


def outcome(upstream, event, kind, timeout=10.0):
    """The `kind` event ("cancelled", "done", "error") of the call whose "call" event is `event`."""
    return upstream.wait_for(lambda e: e["event"] == kind and e["id"] == event["id"], timeout=timeout)


def error_info(err):
    """The one google.rpc.ErrorInfo detail of a failed call."""
    status = rpc_status.from_call(err)
    assert status is not None, f"no grpc-status-details-bin in {err.trailing_metadata()}"
    assert status.code == err.code().value[0] and status.message == err.details()
    assert len(status.details) == 1, status
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info), status.details[0].type_url
    return info


def trailer(call):
    return dict(call.trailing_metadata() or ()).get("x-upstream-trailer")


def new_shelf(bookstore, bs, theme="Poetry"):
    return bookstore.CreateShelf(bs.CreateShelfRequest(shelf=bs.Shelf(theme=theme)))


# ---------------------------------------------------------------------------------------------
# The bookstore


def test_creates_shelves_and_books_and_gets_them(bookstore, bs, unique):
    shelf = new_shelf(bookstore, bs, theme=unique)
    assert shelf.name.startswith("shelves/") and shelf.name[len("shelves/") :].isdigit()
    assert (shelf.theme, shelf.book_count) == (unique, 0)
    assert_recent(shelf.create_time, "create_time")

    dune = bs.Book(title="Dune", authors=["Frank Herbert"], isbn=9780441013593)
    book = bookstore.CreateBook(bs.CreateBookRequest(parent=shelf.name, book=dune))
    assert book.name.startswith(shelf.name + "/books/") and book.shelf == shelf.name
    assert (book.title, list(book.authors), book.isbn) == ("Dune", ["Frank Herbert"], 9780441013593)
    assert_recent(book.create_time, "create_time")
    assert book.update_time == book.create_time

    assert bookstore.GetBook(bs.GetBookRequest(name=book.name)) == book
    assert bookstore.GetShelf(bs.GetShelfRequest(name=shelf.name)).book_count == 1
    assert list(bookstore.ListBooks(bs.ListBooksRequest(parent=shelf.name)).books) == [book]


def test_lists_a_page_at_a_time_and_updates_by_field_mask(bookstore, bs):
    shelf = new_shelf(bookstore, bs)
    books = [bookstore.CreateBook(bs.CreateBookRequest(parent=shelf.name, book=bs.Book(title=f"b{i}", price=i))) for i in range(3)]
    first = bookstore.ListBooks(bs.ListBooksRequest(parent=shelf.name, page_size=2))
    assert list(first.books) == books[:2] and first.next_page_token
    rest = bookstore.ListBooks(bs.ListBooksRequest(parent=shelf.name, page_size=2, page_token=first.next_page_token))
    assert list(rest.books) == books[2:] and not rest.next_page_token

    update = bs.UpdateBookRequest(book=bs.Book(name=books[0].name, title="new", price=99), update_mask={"paths": ["title"]})
    updated = bookstore.UpdateBook(update)
    assert (updated.title, updated.price, updated.create_time) == ("new", books[0].price, books[0].create_time)
    assert updated.update_time != books[0].update_time


@pytest.mark.parametrize(
    "method, name, code, reason",
    [
        ("GetBook", "shelves/1/books/999999", Code.NOT_FOUND, "BOOK_NOT_FOUND"),
        ("GetBook", "shelves/x/books/y", Code.NOT_FOUND, "BOOK_NOT_FOUND"),
        ("GetShelf", "shelves/999999", Code.NOT_FOUND, "SHELF_NOT_FOUND"),
        ("GetBook", "books/1", Code.INVALID_ARGUMENT, "INVALID_NAME"),
        ("GetShelf", "shelves/1/books/2", Code.INVALID_ARGUMENT, "INVALID_NAME"),
        ("GetShelf", "", Code.INVALID_ARGUMENT, "INVALID_NAME"),
    ],
)
def test_errors_carry_error_info_and_the_trailer(bookstore, bs, method, name, code, reason):
    request = bs.GetBookRequest(name=name) if method == "GetBook" else bs.GetShelfRequest(name=name)
    with rpc_error(code, f"`{name}`") as info:
        getattr(bookstore, method)(request)
    details = error_info(info.value)
    assert (details.reason, details.domain, dict(details.metadata)) == (reason, "bookstore.example", {"name": name})
    assert trailer(info.value) == "done"


@pytest.mark.parametrize(
    "request_fields, mentions",
    [
        ({"page_token": "zz"}, "page_token"),
        ({"page_token": "6166746572"}, "page_token"),  # hex, but not of "after=<id>"
        ({"page_size": -1}, "page_size"),
    ],
)
def test_bad_pages_are_invalid_arguments(bookstore, bs, request_fields, mentions):
    with rpc_error(Code.INVALID_ARGUMENT, mentions) as info:
        bookstore.ListShelves(bs.ListShelvesRequest(**request_fields))
    assert error_info(info.value).reason == "INVALID_FIELD"


def test_update_mask_cannot_name_output_only_or_unknown_fields(bookstore, bs):
    shelf = new_shelf(bookstore, bs)
    book = bookstore.CreateBook(bs.CreateBookRequest(parent=shelf.name, book=bs.Book(title="t")))
    for path, mentions in (("name", "cannot be changed"), ("nope", "which Book does not have")):
        with rpc_error(Code.INVALID_ARGUMENT, mentions):
            bookstore.UpdateBook(bs.UpdateBookRequest(book=book, update_mask={"paths": [path]}))


def test_import_books_is_all_or_nothing(bookstore, bs):
    shelf = new_shelf(bookstore, bs)
    batch = [bs.ImportBooksRequest(parent=shelf.name, book=bs.Book(title=f"i{i}")) for i in range(2)]
    reply = bookstore.ImportBooks(iter(batch))
    assert reply.imported_count == 2 and all(n.startswith(shelf.name + "/books/") for n in reply.names)

    with rpc_error(Code.NOT_FOUND, "shelves/999999"):
        bookstore.ImportBooks(iter([*batch, bs.ImportBooksRequest(parent="shelves/999999", book=bs.Book(title="x"))]))
    assert len(bookstore.ListBooks(bs.ListBooksRequest(parent=shelf.name)).books) == 2


# ---------------------------------------------------------------------------------------------
# Metadata and events


def test_echo_metadata_comes_back_and_the_trailer_is_always_sent(upstream, bookstore, bs, cm, chat, unique, mark):
    echo = (*mark, ("x-echo-token", unique), ("x-echo-blob-bin", b"\x00\xff"))
    echoed = {"x-echoed-token": unique, "x-echoed-blob-bin": b"\x00\xff"}
    shelf = new_shelf(bookstore, bs)

    # Unary, success: headers and trailer; the event has every key, -bin values in base64.
    _, call = bookstore.GetShelf.with_call(bs.GetShelfRequest(name=shelf.name), metadata=echo)
    assert {k: v for k, v in call.initial_metadata() if k.startswith("x-echoed-")} == echoed
    assert trailer(call) == "done"
    event = call_event(upstream, BOOKSTORE + "GetShelf", unique)
    assert event["metadata"]["x-echo-token"] == unique and event["metadata"]["x-echo-blob-bin"] == "AP8="
    assert 9.0 < event["timeout"] <= 10.0 + TIMEOUT_ROUNDING  # open_channel's default deadline, 10 s

    # Unary, error: the same.
    with rpc_error(Code.NOT_FOUND) as info:
        bookstore.GetBook(bs.GetBookRequest(name=shelf.name + "/books/999999"), metadata=echo)
    assert {k: v for k, v in info.value.initial_metadata() if k.startswith("x-echoed-")} == echoed
    assert trailer(info.value) == "done"

    # Client streaming.
    posts = [cm.PostMessageRequest(room=f"rooms/{unique}", author="a", text="t")]
    _, call = chat.Upload.with_call(iter(posts), metadata=echo)
    assert {k: v for k, v in call.initial_metadata() if k.startswith("x-echoed-")} == echoed
    assert trailer(call) == "done"

    # Server streaming: the headers come as soon as the stream is set up.
    watch = wait_until_open(bookstore.WatchShelf(bs.WatchShelfRequest(name=shelf.name), metadata=echo, timeout=20))
    assert {k: v for k, v in watch.initial_metadata() if k.startswith("x-echoed-")} == echoed
    watch.cancel()


def test_a_call_without_deadline_logs_a_null_timeout(upstream, pb, unique, mark):
    # open_channel gives every call a deadline; a raw channel does not.
    with grpc.insecure_channel(upstream.address, options=[("grpc.enable_http_proxy", 0)]) as raw:
        stub = pb.bookstore_grpc.BookstoreStub(raw)
        stub.ListShelves(pb.bookstore.ListShelvesRequest(), metadata=mark)
        assert call_event(upstream, BOOKSTORE + "ListShelves", unique)["timeout"] is None


# ---------------------------------------------------------------------------------------------
# Test hooks


def test_slow_get_book_sees_the_callers_deadline_and_is_cancelled_at_it(upstream, bookstore, bs, unique, mark):
    started = time.monotonic()
    with rpc_error(Code.DEADLINE_EXCEEDED):
        bookstore.GetBook(bs.GetBookRequest(name="shelves/1/books/slow"), metadata=mark, timeout=2)
    assert time.monotonic() - started < 5
    event = call_event(upstream, BOOKSTORE + "GetBook", unique)
    assert 1.0 < event["timeout"] <= 2.0 + TIMEOUT_ROUNDING, event
    outcome(upstream, event, "cancelled")


def test_unavailable_hook(bookstore, bs):
    with rpc_error(Code.UNAVAILABLE, "upstream says try later") as info:
        bookstore.GetBook(bs.GetBookRequest(name="shelves/7/books/unavailable"))
    assert trailer(info.value) == "done"


def test_watch_shelf_streams_later_changes_until_cancelled(upstream, bookstore, bs, unique, mark):
    shelf = new_shelf(bookstore, bs)
    bookstore.CreateBook(bs.CreateBookRequest(parent=shelf.name, book=bs.Book(title="before")))
    watch = wait_until_open(bookstore.WatchShelf(bs.WatchShelfRequest(name=shelf.name), metadata=mark, timeout=20))
    added = bookstore.CreateBook(bs.CreateBookRequest(parent=shelf.name, book=bs.Book(title="after")))
    updated = bookstore.UpdateBook(bs.UpdateBookRequest(book=bs.Book(name=added.name, title="changed"), update_mask={"paths": ["title"]}))

    events = take(watch, 2)
    Kind = bs.ShelfEvent.Kind
    assert [(Kind.Name(e.kind), e.book) for e in events] == [("KIND_BOOK_ADDED", added), ("KIND_BOOK_UPDATED", updated)]
    assert_recent(events[0].event_time, "event_time")

    watch.cancel()
    outcome(upstream, call_event(upstream, BOOKSTORE + "WatchShelf", unique), "cancelled")


def test_deleting_the_shelf_ends_its_watch_normally(upstream, bookstore, bs, unique, mark):
    shelf = new_shelf(bookstore, bs)
    book = bookstore.CreateBook(bs.CreateBookRequest(parent=shelf.name, book=bs.Book(title="t")))
    watch = wait_until_open(bookstore.WatchShelf(bs.WatchShelfRequest(name=shelf.name), metadata=mark, timeout=20))
    with rpc_error(Code.FAILED_PRECONDITION, "still holds 1 book"):
        bookstore.DeleteShelf(bs.DeleteShelfRequest(name=shelf.name))
    bookstore.DeleteShelf(bs.DeleteShelfRequest(name=shelf.name, force=True))

    removed = take(watch, 1)[0]
    assert (bs.ShelfEvent.Kind.Name(removed.kind), removed.book.name) == ("KIND_BOOK_REMOVED", book.name)
    assert list(watch) == [] and trailer(watch) == "done"
    outcome(upstream, call_event(upstream, BOOKSTORE + "WatchShelf", unique), "done")


def test_watching_a_missing_shelf_fails(bookstore, bs):
    with rpc_error(Code.NOT_FOUND, "shelves/999999") as info:
        list(bookstore.WatchShelf(bs.WatchShelfRequest(name="shelves/999999")))
    assert error_info(info.value).reason == "SHELF_NOT_FOUND"


# ---------------------------------------------------------------------------------------------
# Chat


def test_upload_posts_every_message_and_logs_done(upstream, chat, cm, unique, mark):
    room = f"rooms/{unique}"
    summary = chat.Upload(iter(cm.PostMessageRequest(room=room, author="a", text=t) for t in ("1", "2", "3")), metadata=mark)
    assert summary.posted_count == 3
    history = chat.GetHistory(cm.GetHistoryRequest(room=room)).messages
    assert [(m.text, m.sequence, m.name) for m in history] == [(t, int(t), f"{room}/messages/{t}") for t in ("1", "2", "3")]
    outcome(upstream, call_event(upstream, CHAT + "Upload", unique), "done")


def test_subscribe_streams_new_messages_and_resumes_after_a_cursor(upstream, chat, cm, unique, mark):
    room = f"rooms/{unique}"
    chat.PostMessage(cm.PostMessageRequest(room=room, author="a", text="before"))
    live = wait_until_open(chat.Subscribe(cm.SubscribeRequest(room=room), metadata=mark, timeout=20))
    for text in ("one", "two"):
        chat.PostMessage(cm.PostMessageRequest(room=room, author="a", text=text))
    assert [(m.text, m.sequence) for m in take(live, 2)] == [("one", 2), ("two", 3)]
    live.cancel()
    outcome(upstream, call_event(upstream, CHAT + "Subscribe", unique), "cancelled")

    resumed = chat.Subscribe(cm.SubscribeRequest(room=room), metadata=(("last-event-id", "1"),), timeout=20)
    assert [m.text for m in take(resumed, 2)] == ["one", "two"]
    resumed.cancel()

    with rpc_error(Code.OUT_OF_RANGE, "never published"):
        list(chat.Subscribe(cm.SubscribeRequest(room=room), metadata=(("last-event-id", "99"),)))
    with rpc_error(Code.INVALID_ARGUMENT, "rooms/lobby") as info:
        list(chat.Subscribe(cm.SubscribeRequest(room="lobby")))
    assert (error_info(info.value).reason, error_info(info.value).domain) == ("INVALID_NAME", "chat.example")


def test_converse_posts_what_the_client_sends_and_streams_back_the_room(upstream, chat, cm, unique, mark):
    room = f"rooms/{unique}"
    with RequestStream(cm.ConverseRequest(room=room, author="alice", text="hi")) as requests:
        conversation = chat.Converse(iter(requests), metadata=mark, timeout=20)
        assert [(m.author, m.text, m.sequence) for m in take(conversation, 1)] == [("alice", "hi", 1)]
        chat.PostMessage(cm.PostMessageRequest(room=room, author="bob", text="hello alice"))
        requests.send(cm.ConverseRequest(author="alice", text="hello bob"))
        assert [(m.author, m.text) for m in take(conversation, 2)] == [("bob", "hello alice"), ("alice", "hello bob")]
        conversation.cancel()
    outcome(upstream, call_event(upstream, CHAT + "Converse", unique), "cancelled")
    assert [m.text for m in chat.GetHistory(cm.GetHistoryRequest(room=room)).messages] == ["hi", "hello alice", "hello bob"]


def test_converse_needs_a_room_first(chat, cm):
    with rpc_error(Code.INVALID_ARGUMENT, "must name its `room`"):
        list(chat.Converse(iter([cm.ConverseRequest(author="a", text="t")])))


# ---------------------------------------------------------------------------------------------
# Life cycle


def test_restarts_on_the_same_port_with_fresh_state(pb):
    # Without `stubs`, the server generates its own stubs at start-up.
    with start_upstream() as upstream:
        address = upstream.address
        with grpc.insecure_channel(address, options=[("grpc.enable_http_proxy", 0)]) as channel:
            stub = pb.bookstore_grpc.BookstoreStub(channel)
            shelf = stub.CreateShelf(pb.bookstore.CreateShelfRequest(shelf=pb.bookstore.Shelf(theme="t")), timeout=10)
            watch = wait_until_open(stub.WatchShelf(pb.bookstore.WatchShelfRequest(name=shelf.name), timeout=20))

            upstream.restart()
            assert upstream.address == address
            # The open stream ended with the old server, which logged its cancellation.
            with pytest.raises(grpc.RpcError) as info:
                list(watch)
            assert info.value.code() in (Code.CANCELLED, Code.UNAVAILABLE), info.value
            upstream.wait_for(lambda e: e["event"] == "cancelled" and e["method"] == BOOKSTORE + "WatchShelf")

            # The same channel reconnects to the new server, which starts afresh.
            again = stub.CreateShelf(pb.bookstore.CreateShelfRequest(shelf=pb.bookstore.Shelf(theme="t")), timeout=10, wait_for_ready=True)
            assert again.name == "shelves/1"
