"""A plain grpcio server for the bookstore.v1 and chat.v1 example services: the "existing gRPC
server written in another language" that `apigen gateway` fronts in the gateway's end-to-end tests.

    python tests/e2e/upstream/server.py [--port N] [--stubs DIR]

It listens on 127.0.0.1 only (port 0, the default, picks a free port), speaks gRPC over plaintext
HTTP/2, and prints exactly one line `listening on 127.0.0.1:PORT` to stdout once it serves. SIGTERM or
SIGINT stops it (in-flight calls get STOP_GRACE seconds; open streams are then cancelled).

The Python stubs are generated at start-up into a temporary directory, with the command
tests/e2e/conftest.py's `pb` fixture uses. `--stubs DIR` uses the stubs DIR already holds instead,
or generates them there when it holds none (so that restarts can share them).

Behaviour mirrors the Rust examples (generated-examples/bookstore/src/store.rs and
generated-examples/chat/src/rooms.rs): in-memory state, ids from 1 (book ids global and never reused),
names `shelves/1`, `shelves/1/books/2`, `rooms/lobby/messages/3`, hex page tokens, server-set times,
and the same NOT_FOUND / INVALID_ARGUMENT / FAILED_PRECONDITION / OUT_OF_RANGE messages. Validation
that the Rust servers get from buf.validate (lengths, patterns) is not repeated here, except what
keeps this server sane: malformed names are INVALID_ARGUMENT.

Errors with a reason (every NOT_FOUND and INVALID_ARGUMENT, and FAILED_PRECONDITION / OUT_OF_RANGE)
carry a google.rpc.Status in `grpc-status-details-bin` with one google.rpc.ErrorInfo detail: reason
(SHELF_NOT_FOUND, BOOK_NOT_FOUND, INVALID_NAME, INVALID_FIELD, SHELF_NOT_EMPTY, CURSOR_OUT_OF_RANGE),
domain ("bookstore.example" or "chat.example") and metadata ({"name": NAME} for names, else
{"field": FIELD}).

Metadata, on every method, unary and streaming:
  - each request key `x-echo-REST` comes back as the initial-metadata (response header) key
    `x-echoed-REST` with the same value (`-bin` keys too, as bytes);
  - the trailing metadata always holds `x-upstream-trailer: done`, on success and on errors.
  Response-streaming methods send their headers as soon as the stream is set up (subscribed), so
  a client that waits for the headers knows that later changes reach it. Unary and client-streaming
  methods send headers early only when there is something to echo; an error without echo headers
  is therefore a trailers-only response, as from most gRPC servers.

Test hooks:
  - GetBook `shelves/ANY/books/slow` waits until the call's deadline has passed (plus GRACE
    seconds, so that gRPC's own deadline cancellation normally wins and the server logs a
    "cancelled" event), or 30 s without a deadline, and fails with DEADLINE_EXCEEDED if the client
    is somehow still there. Its "call" event's `timeout` shows the deadline the caller forwarded.
  - GetBook `shelves/ANY/books/unavailable` fails with UNAVAILABLE "upstream says try later".
  - WatchShelf streams a ShelfEvent for every book added to, updated on, moved off or removed from
    the shelf after the call started, until the client goes away (a "cancelled" event) or the shelf
    is deleted (the stream ends normally, a "done" event).
  - Chat Subscribe streams every message posted to the room after it subscribed; with the request
    metadata `last-event-id: N` (what the gateway forwards for SSE's Last-Event-ID) it first
    replays the kept messages after sequence N. It runs until the client goes away.
  - Chat Upload posts every message and returns how many; ImportBooks adds all books or none.
  - Chat Converse: the first message names the room; every message the client sends is posted
    there, and every message posted to the room by anyone (its own included) streams back, until
    the client goes away (half-closing only stops the posting, as in the Rust example).

Events, one JSON object per line on stdout after the listening line, flushed as they happen
(`id` numbers the calls of this process, so tests can pair a call with its outcome):
  {"event": "call", "id": 7, "method": "/bookstore.v1.Bookstore/GetBook",
   "metadata": {"key": "value", ...}, "timeout": 9.98, "peer": "ipv4:127.0.0.1:40112"}
      every call, before its handler runs: all invocation metadata (`-bin` values base64, a
      repeated key's values joined with ", "), the seconds left until the call's deadline
      (context.time_remaining()), or null when it has none, and the caller's address (one per
      connection);
  {"event": "cancelled", "id": 7, "method": ...}
      the client went away (cancelled, disconnected, or its deadline passed) before the handler
      finished; also when this server's shutdown cancels a call;
  {"event": "done", "id": 7, "method": ...}
      a streaming call (client, server or bidi) ended normally;
  {"event": "error", "id": 7, "method": ..., "code": "NOT_FOUND", "message": ...}
      the handler failed the call with a status.
A call that was neither cancelled nor failed and streams nothing has only its "call" event.
"""

import argparse
import base64
import collections
import importlib
import importlib.resources
import itertools
import json
import logging
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import types
from concurrent import futures
from pathlib import Path

import grpc
from google.protobuf import any_pb2, empty_pb2, timestamp_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status

REPO = Path(__file__).resolve().parents[3]
SCHEMAS = REPO / "schemas"

# Streaming calls each hold a worker thread for as long as they run, so there are plenty.
WORKERS = 64
# How long in-flight calls may take to finish when the server stops.
STOP_GRACE = 1.0
# How long past its deadline the slow GetBook waits before failing on its own.
GRACE = 0.25
# The slow GetBook's wait when the call has no deadline.
SLOW_WITHOUT_DEADLINE = 30.0
# time_remaining() of a call without a deadline is "infinite future minus now": anything beyond
# this many seconds (about 30 years) means no deadline.
NO_DEADLINE = 1e9

ECHO = "x-echo-"
ECHOED = "x-echoed-"
TRAILER = (("x-upstream-trailer", "done"),)

Code = grpc.StatusCode


# ---------------------------------------------------------------------------------------------
# Stubs


def generate_stubs(out):
    """Runs grpc_tools.protoc exactly as conftest.py's `pb` fixture does, writing into `out`."""
    wkt = importlib.resources.files("grpc_tools") / "_proto"  # google/protobuf/*.proto
    protos = sorted(p.relative_to(SCHEMAS).as_posix() for p in (SCHEMAS / "google" / "api").glob("*.proto"))
    protos += ["apigen/options.proto", "buf/validate/validate.proto", "examples/bookstore.proto", "examples/chat.proto"]
    cmd = [
        sys.executable, "-m", "grpc_tools.protoc",
        f"-I{SCHEMAS}", f"-I{wkt}",
        f"--python_out={out}", f"--grpc_python_out={out}",
        *protos,
    ]  # fmt: skip
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"error: protoc failed ({' '.join(cmd)}):\n{result.stderr}")


def has_stubs(directory):
    return all((directory / "examples" / f).is_file() for f in ("bookstore_pb2_grpc.py", "chat_pb2_grpc.py"))


def load_stubs(directory):
    """The generated modules in `directory`: bookstore, bookstore_grpc, chat, chat_grpc."""
    sys.path.insert(0, str(directory))
    importlib.invalidate_caches()
    return types.SimpleNamespace(
        bookstore=importlib.import_module("examples.bookstore_pb2"),
        bookstore_grpc=importlib.import_module("examples.bookstore_pb2_grpc"),
        chat=importlib.import_module("examples.chat_pb2"),
        chat_grpc=importlib.import_module("examples.chat_pb2_grpc"),
    )


# ---------------------------------------------------------------------------------------------
# Events

_stdout_lock = threading.Lock()


def emit(event, **fields):
    """Writes one JSON event line to stdout; a reader that went away is not this server's problem."""
    line = json.dumps({"event": event, **fields})
    with _stdout_lock:
        try:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        except (OSError, ValueError):
            pass


def metadata_json(metadata):
    """Invocation metadata as a JSON object: `-bin` values base64, repeated keys joined with ", "."""
    out = {}
    for key, value in metadata:
        if key.endswith("-bin"):
            value = base64.b64encode(value).decode("ascii")
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


def deadline_of(context):
    """Seconds until the call's deadline, or None when it has none."""
    remaining = context.time_remaining()
    return None if remaining is None or remaining > NO_DEADLINE else round(remaining, 3)


# ---------------------------------------------------------------------------------------------
# Errors


class ApiError(Exception):
    """A status a handler fails its call with. With a `reason`, the status carries a google.rpc
    ErrorInfo detail (DOMAIN, REASON, METADATA) in grpc-status-details-bin."""

    def __init__(self, code, message, reason=None, domain=None, **metadata):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.domain = domain
        self.metadata = metadata

    def abort(self, context):
        """Fails the call (raises); trailing metadata keeps TRAILER next to the details."""
        if self.reason is None:
            context.abort(self.code, self.message)  # TRAILER was set when the call started
        info = error_details_pb2.ErrorInfo(reason=self.reason, domain=self.domain, metadata=self.metadata)
        detail = any_pb2.Any()
        detail.Pack(info)
        status = rpc_status.to_status(status_pb2.Status(code=self.code.value[0], message=self.message, details=[detail]))
        # abort_with_status replaces the trailing metadata with the status's own, so add TRAILER.
        context.abort_with_status(_Status(status.code, status.details, tuple(status.trailing_metadata) + TRAILER))


class _Status(collections.namedtuple("_Status", ("code", "details", "trailing_metadata")), grpc.Status):
    pass


def invalid_name(domain, field, name, example):
    return ApiError(
        Code.INVALID_ARGUMENT, f"`{field}` must be a {example}, not `{name}`", "INVALID_NAME", domain, name=name
    )


def invalid_field(domain, field, message):
    return ApiError(Code.INVALID_ARGUMENT, message, "INVALID_FIELD", domain, field=field)


# ---------------------------------------------------------------------------------------------
# Calls as the tests see them: events, echoed metadata, the trailer


class Call:
    """One RPC: logs its "call" event, sets the trailer, and logs how it ended exactly once."""

    _ids = itertools.count(1)

    def __init__(self, method, context, streaming):
        self.id = next(Call._ids)
        self.method = method
        self.context = context
        self.streaming = streaming
        self._lock = threading.Lock()
        self._outcome = None
        self._headers_sent = False
        metadata = tuple(context.invocation_metadata())
        self.echo = tuple((ECHOED + key[len(ECHO) :], value) for key, value in metadata if key.startswith(ECHO))
        emit(
            "call", id=self.id, method=method, metadata=metadata_json(metadata), timeout=deadline_of(context),
            peer=context.peer(),
        )  # fmt: skip
        context.set_trailing_metadata(TRAILER)
        # The termination callback runs when the call ends for any reason. If the handler has not
        # claimed an outcome by then, the client went away first: that is the cancellation.
        if not context.add_callback(lambda: self.finish("cancelled")):
            self.finish("cancelled")  # already over

    def send_headers(self):
        """Sends the initial metadata (the echoed keys) once; a call already gone is skipped."""
        with self._lock:
            if self._headers_sent:
                return
            self._headers_sent = True
        try:
            self.context.send_initial_metadata(self.echo)
        except grpc.RpcError:
            pass  # cancelled meanwhile: the handler's next step notices

    def finish(self, outcome, **fields):
        """Records how the call ended; only the first outcome counts."""
        with self._lock:
            if self._outcome is not None:
                return
            self._outcome = outcome
        if outcome == "cancelled" or outcome == "error" or (outcome == "done" and self.streaming):
            emit(outcome, id=self.id, method=self.method, **fields)

    def ended_normally(self):
        # A handler that returns because its client left (is_active() is False) was cancelled.
        self.finish("done" if self.context.is_active() else "cancelled")

    def crashed(self, exception):
        # grpc.RpcError here means reading the requests of a call the client cancelled.
        if not self.context.is_active():
            self.finish("cancelled")
        else:
            self.finish("error", code="UNKNOWN", message=repr(exception))

    def fail(self, error):
        """Logs and raises `error` as the call's status."""
        if self.context.is_active():
            self.finish("error", code=error.code.name, message=error.message)
        else:
            self.finish("cancelled")
        error.abort(self.context)


class Observer(grpc.ServerInterceptor):
    """Wraps every handler in a Call. Response-streaming handlers are plain functions that set the
    stream up (validate, subscribe) and return an iterator, so the wrapper can send the headers
    once the stream is set up and report set-up errors before any header is sent."""

    def intercept_service(self, continuation, details):
        handler = continuation(details)
        if handler is None:
            return None  # an unknown method: gRPC answers UNIMPLEMENTED
        method = details.method
        streaming = handler.request_streaming or handler.response_streaming
        if handler.response_streaming:
            behaviour = handler.unary_stream or handler.stream_stream

            def run(request, context):
                return self._stream(Call(method, context, streaming), behaviour, request)

        else:
            behaviour = handler.unary_unary or handler.stream_unary

            def run(request, context):
                return self._unary(Call(method, context, streaming), behaviour, request)

        make = {
            (False, False): grpc.unary_unary_rpc_method_handler,
            (False, True): grpc.unary_stream_rpc_method_handler,
            (True, False): grpc.stream_unary_rpc_method_handler,
            (True, True): grpc.stream_stream_rpc_method_handler,
        }[(handler.request_streaming, handler.response_streaming)]
        return make(run, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer)

    @staticmethod
    def _unary(call, behaviour, request):
        if call.echo:
            call.send_headers()
        try:
            response = behaviour(request, call.context)
        except ApiError as error:
            call.fail(error)
        except Exception as exception:
            call.crashed(exception)
            raise
        call.ended_normally()
        return response

    @staticmethod
    def _stream(call, behaviour, request):
        try:
            responses = iter(behaviour(request, call.context))
        except ApiError as error:
            if call.echo:
                call.send_headers()
            call.fail(error)
        except Exception as exception:
            call.crashed(exception)
            raise
        call.send_headers()
        return Observer._relay(call, responses)

    @staticmethod
    def _relay(call, responses):
        try:
            yield from responses
        except ApiError as error:
            call.fail(error)
        except Exception as exception:
            call.crashed(exception)
            raise
        call.ended_normally()


# ---------------------------------------------------------------------------------------------
# Subscriptions: what a streaming call reads, fed by other calls' threads


class Subscription:
    """A queue of messages for one streaming call. Iterating it blocks for the next message and
    stops at close() (the call ended: the gRPC termination callback calls it, so a client that
    goes away wakes the handler at once) or end() (the source is gone, e.g. the shelf was
    deleted); an ApiError put in it is raised."""

    _END = object()

    def __init__(self, on_close):
        self._queue = queue.Queue()
        self._on_close = on_close  # unregisters the subscription from its source
        self._closed = threading.Event()

    def put(self, item):
        self._queue.put(item)

    def end(self):
        self._queue.put(self._END)

    def close(self):
        if not self._closed.is_set():
            self._closed.set()
            self._on_close(self)
            self._queue.put(self._END)

    def attach(self, context):
        """Closes the subscription when the call ends, however it ends."""
        if not context.add_callback(self.close):
            self.close()
        return self

    def __iter__(self):
        try:
            while True:
                item = self._queue.get()
                if item is self._END:
                    return
                if isinstance(item, ApiError):
                    raise item
                yield item
        finally:
            self.close()


def now():
    ts = timestamp_pb2.Timestamp()
    ts.GetCurrentTime()
    return ts


def copy_of(message):
    out = type(message)()
    out.CopyFrom(message)
    return out


# ---------------------------------------------------------------------------------------------
# Bookstore: store.rs in Python

BOOKSTORE = "bookstore.example"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
HEX_PAIRS = re.compile(r"(?:[0-9a-fA-F]{2})*")


def shelf_id(name, field):
    """The id in `shelves/{id}`. A well-formed name with an id this server never issued names
    nothing (NOT_FOUND); a malformed one is INVALID_ARGUMENT."""
    rest = name[len("shelves/") :] if name.startswith("shelves/") else ""
    if not rest or "/" in rest:
        raise invalid_name(BOOKSTORE, field, name, "shelf name like `shelves/1`")
    if not (rest.isascii() and rest.isdigit()):
        raise shelf_not_found(name)
    return int(rest)


def split_book_name(name):
    """(shelf, book) of `shelves/{shelf}/books/{book}`, or None when it is not shaped so."""
    if not name.startswith("shelves/"):
        return None
    shelf, sep, book = name[len("shelves/") :].partition("/books/")
    if not sep or not shelf or not book or "/" in shelf or "/" in book:
        return None
    return shelf, book


def book_id(name, field):
    """(shelf id, book id) of a book name; NOT_FOUND / INVALID_ARGUMENT as for shelf_id."""
    parts = split_book_name(name)
    if parts is None:
        raise invalid_name(BOOKSTORE, field, name, "book name like `shelves/1/books/2`")
    if not all(p.isascii() and p.isdigit() for p in parts):
        raise book_not_found(name)
    return int(parts[0]), int(parts[1])


def shelf_not_found(name):
    return ApiError(Code.NOT_FOUND, f"shelf `{name}` does not exist", "SHELF_NOT_FOUND", BOOKSTORE, name=name)


def book_not_found(name):
    return ApiError(Code.NOT_FOUND, f"book `{name}` does not exist", "BOOK_NOT_FOUND", BOOKSTORE, name=name)


def page_token(after):
    """Page tokens are opaque to clients: the hex of "after=<id>"."""
    return f"after={after}".encode().hex()


def parse_page_token(token):
    if not token:
        return 0
    invalid = invalid_field(BOOKSTORE, "page_token", "`page_token` is not a token this server returned")
    if not HEX_PAIRS.fullmatch(token):
        raise invalid
    text = bytes.fromhex(token).decode("utf-8", errors="replace")
    after = text[len("after=") :] if text.startswith("after=") else ""
    if not (after.isascii() and after.isdigit()):
        raise invalid
    return int(after)


def paginate(items, token, size):
    """One page of `items`, (id, item) pairs in id order, after the token's id; and the next token."""
    after = parse_page_token(token)
    if size < 0:
        raise invalid_field(BOOKSTORE, "page_size", "`page_size` must not be negative")
    size = min(size, MAX_PAGE_SIZE) if size else DEFAULT_PAGE_SIZE
    rest = [(i, item) for i, item in items if i > after]
    page = rest[:size]
    next_token = page_token(page[-1][0]) if len(rest) > size else ""
    return [item for _, item in page], next_token


# Book fields an update_mask may name, copied as a whole.
WRITABLE = ("title", "authors", "genre", "isbn", "price", "subtitle", "labels", "publisher", "cover_thumbnail")
OUTPUT_ONLY = ("name", "shelf", "create_time", "update_time")
AVAILABILITY = ("availability", "in_stock", "restock_time", "out_of_print")


def copy_field(target, source, field):
    """Sets `target.field` to `source.field`, whatever kind of field it is."""
    descriptor = target.DESCRIPTOR.fields_by_name[field]
    if descriptor.message_type is not None and descriptor.message_type.GetOptions().map_entry:
        getattr(target, field).clear()
        getattr(target, field).update(getattr(source, field))
    elif descriptor.is_repeated:
        del getattr(target, field)[:]
        getattr(target, field).extend(getattr(source, field))
    elif descriptor.message_type is not None:
        if source.HasField(field):
            getattr(target, field).CopyFrom(getattr(source, field))
        else:
            target.ClearField(field)
    else:
        setattr(target, field, getattr(source, field))


def apply_mask(target, source, paths):
    """Applies the fields of `source` named in `paths` to `target` (every writable field when empty)."""
    if not paths:
        name, shelf = target.name, target.shelf
        create_time, update_time = copy_of(target.create_time), copy_of(target.update_time)
        target.CopyFrom(source)  # then put back what the client cannot change
        target.name, target.shelf = name, shelf
        target.create_time.CopyFrom(create_time)
        target.update_time.CopyFrom(update_time)
        return
    for path in paths:
        if path in WRITABLE:
            copy_field(target, source, path)
        elif path in ("publisher.name", "publisher.country"):
            field = path.split(".")[1]
            setattr(target.publisher, field, getattr(source.publisher, field))
        elif path in AVAILABILITY:
            which = source.WhichOneof("availability")
            target.ClearField("availability")
            if which is not None:
                copy_field(target, source, which)
        elif path in OUTPUT_ONLY:
            raise invalid_field(BOOKSTORE, "update_mask", f"`{path}` cannot be changed")
        else:
            raise invalid_field(BOOKSTORE, "update_mask", f"`update_mask` names `{path}`, which Book does not have")


class Bookstore:
    """The bookstore.v1.Bookstore servicer, in memory. Book ids are global and never reused, so a
    book keeps its id (and its place in creation order) when it moves."""

    def __init__(self, pb):
        self.pb = pb  # the bookstore_pb2 module
        self._lock = threading.Lock()
        self._last_shelf = 0
        self._last_book = 0
        self._shelves = {}  # shelf id -> Shelf (book_count is computed when read)
        self._books = {}  # book id -> (shelf id, Book); dicts keep insertion order, i.e. creation order
        self._watchers = {}  # shelf id -> set of Subscription

    # -- helpers; the callers hold self._lock

    def _shelf(self, id, name):
        if id not in self._shelves:
            raise shelf_not_found(name)

    def _shelf_view(self, id):
        shelf = copy_of(self._shelves[id])
        shelf.book_count = sum(1 for s, _ in self._books.values() if s == id)
        return shelf

    def _book(self, name, field):
        shelf, id = book_id(name, field)
        entry = self._books.get(id)
        if entry is None or entry[0] != shelf:
            raise book_not_found(name)
        return id, entry[1]

    def _notify(self, shelf, kind, book):
        for watcher in self._watchers.get(shelf, ()):
            watcher.put(self.pb.ShelfEvent(kind=kind, book=copy_of(book), event_time=now()))

    def _add_book(self, shelf, book):
        self._last_book += 1
        book = copy_of(book)
        book.name = f"shelves/{shelf}/books/{self._last_book}"
        book.shelf = f"shelves/{shelf}"
        book.create_time.CopyFrom(now())
        book.update_time.CopyFrom(book.create_time)
        self._books[self._last_book] = (shelf, book)
        self._notify(shelf, self.pb.ShelfEvent.KIND_BOOK_ADDED, book)
        return copy_of(book)

    # -- methods

    def ListShelves(self, request, context):
        with self._lock:
            all_shelves = [(id, self._shelf_view(id)) for id in self._shelves]
        shelves, next_token = paginate(all_shelves, request.page_token, request.page_size)
        return self.pb.ListShelvesResponse(shelves=shelves, next_page_token=next_token)

    def CreateShelf(self, request, context):
        with self._lock:
            self._last_shelf += 1
            id = self._last_shelf
            shelf = copy_of(request.shelf)
            shelf.name = f"shelves/{id}"
            shelf.create_time.CopyFrom(now())
            shelf.book_count = 0
            self._shelves[id] = shelf
            self._watchers[id] = set()
            return copy_of(shelf)

    def GetShelf(self, request, context):
        with self._lock:
            id = shelf_id(request.name, "name")
            self._shelf(id, request.name)
            return self._shelf_view(id)

    def DeleteShelf(self, request, context):
        with self._lock:
            id = shelf_id(request.name, "name")
            self._shelf(id, request.name)
            books = [b for b, (s, _) in self._books.items() if s == id]
            if books and not request.force:
                raise ApiError(
                    Code.FAILED_PRECONDITION,
                    f"shelf `{request.name}` still holds {len(books)} book(s); move them or delete with `force`",
                    "SHELF_NOT_EMPTY",
                    BOOKSTORE,
                    name=request.name,
                )
            for b in books:
                _, book = self._books.pop(b)
                self._notify(id, self.pb.ShelfEvent.KIND_BOOK_REMOVED, book)
            del self._shelves[id]
            for watcher in self._watchers.pop(id, ()):
                watcher.end()  # as in Rust, the shelf's WatchShelf streams end normally
            return empty_pb2.Empty()

    def ListBooks(self, request, context):
        with self._lock:
            shelf = shelf_id(request.parent, "parent")
            self._shelf(shelf, request.parent)
            books = [(id, copy_of(b)) for id, (s, b) in self._books.items() if s == shelf]
        books, next_token = paginate(books, request.page_token, request.page_size)
        return self.pb.ListBooksResponse(books=books, next_page_token=next_token)

    def GetBook(self, request, context):
        parts = split_book_name(request.name)
        if parts and parts[1] == "slow":
            return self._slow(context)
        if parts and parts[1] == "unavailable":
            raise ApiError(Code.UNAVAILABLE, "upstream says try later")
        with self._lock:
            return copy_of(self._book(request.name, "name")[1])

    def _slow(self, context):
        """The deadline hook: waits out the deadline (see the module docstring)."""
        remaining = deadline_of(context)
        wait = SLOW_WITHOUT_DEADLINE if remaining is None else min(remaining + GRACE, SLOW_WITHOUT_DEADLINE)
        gone = threading.Event()
        if context.add_callback(gone.set):
            gone.wait(wait)
        if context.is_active():
            raise ApiError(Code.DEADLINE_EXCEEDED, "the slow book was not ready before the deadline")
        return self.pb.Book()  # nobody is there to read it

    def CreateBook(self, request, context):
        with self._lock:
            shelf = shelf_id(request.parent, "parent")
            self._shelf(shelf, request.parent)
            return self._add_book(shelf, request.book)

    def UpdateBook(self, request, context):
        with self._lock:
            id, current = self._book(request.book.name, "book.name")
            book = copy_of(current)
            apply_mask(book, request.book, list(request.update_mask.paths))
            book.update_time.CopyFrom(now())
            shelf = self._books[id][0]
            self._books[id] = (shelf, book)
            self._notify(shelf, self.pb.ShelfEvent.KIND_BOOK_UPDATED, book)
            return copy_of(book)

    def MoveBook(self, request, context):
        # The Rust server checks this rule (a buf.validate CEL rule) before the handler runs.
        if request.other_shelf and request.name.startswith(request.other_shelf + "/"):
            raise invalid_field(BOOKSTORE, "other_shelf", "the book is already on that shelf")
        with self._lock:
            id, old = self._book(request.name, "name")
            source = self._books[id][0]
            to = shelf_id(request.other_shelf, "other_shelf")
            self._shelf(to, request.other_shelf)
            book = copy_of(old)
            book.name = f"shelves/{to}/books/{id}"
            book.shelf = f"shelves/{to}"
            book.update_time.CopyFrom(now())
            self._books[id] = (to, book)
            self._notify(source, self.pb.ShelfEvent.KIND_BOOK_REMOVED, old)
            self._notify(to, self.pb.ShelfEvent.KIND_BOOK_ADDED, book)
            return copy_of(book)

    def SearchBooks(self, request, context):
        query = request.query.lower()
        publisher = request.publisher

        def matches(b):
            text = not query or query in b.title.lower() or any(query in a.lower() for a in b.authors)
            genre = not request.genres or b.genre in request.genres
            price = not request.HasField("max_price") or b.price <= request.max_price
            by = (not publisher.name or b.publisher.name == publisher.name) and (
                not publisher.country or b.publisher.country == publisher.country
            )
            return text and genre and price and by

        with self._lock:
            found = [(id, copy_of(b)) for id, (_, b) in self._books.items() if matches(b)]
        books, next_token = paginate(found, request.page_token, request.page_size)
        return self.pb.SearchBooksResponse(books=books, next_page_token=next_token, total_size=len(found))

    def WatchShelf(self, request, context):
        with self._lock:
            id = shelf_id(request.name, "name")
            self._shelf(id, request.name)
            watcher = Subscription(on_close=lambda w: self._unwatch(id, w))
            self._watchers[id].add(watcher)
        return watcher.attach(context)

    def _unwatch(self, id, watcher):
        with self._lock:
            self._watchers.get(id, set()).discard(watcher)

    def ImportBooks(self, request_iterator, context):
        # Read everything first: an import is all or nothing.
        batch = []
        for request in request_iterator:
            shelf = shelf_id(request.parent, "parent")
            with self._lock:
                self._shelf(shelf, request.parent)
            batch.append((shelf, request.parent, request.book))
        with self._lock:
            for shelf, parent, _ in batch:
                self._shelf(shelf, parent)  # still there?
            names = [self._add_book(shelf, book).name for shelf, _, book in batch]
        return self.pb.ImportBooksResponse(imported_count=len(names), names=names)

    def BatchGetShelves(self, request, context):
        # A name that names no shelf, well-formed or not, is left out.
        with self._lock:
            shelves = [self._shelf_view(id) for id in self._ids(request.names, shelf_id) if id in self._shelves]
        return self.pb.BatchGetShelvesResponse(shelves=shelves)

    def ListBooksByShelves(self, request, context):
        # A name that names no shelf, well-formed or not, has no books.
        wanted = set(self._ids(request.shelves, shelf_id))
        with self._lock:
            books = [copy_of(b) for s, b in self._books.values() if s in wanted]
        return self.pb.ListBooksByShelvesResponse(books=books)

    def BatchGetBooks(self, request, context):
        # A name that names no book, well-formed or not, is left out.
        books = []
        with self._lock:
            for name in request.names:
                try:
                    books.append(copy_of(self._book(name, "names")[1]))
                except ApiError:
                    pass
        return self.pb.BatchGetBooksResponse(books=books)

    def BatchGetAuthors(self, request, context):
        wanted = set(request.names)
        counts = {}
        with self._lock:
            for _, book in self._books.values():
                for author in book.authors:
                    if author in wanted:
                        counts[author] = counts.get(author, 0) + 1
        authors = [self.pb.Author(name=name, book_count=n) for name, n in sorted(counts.items())]
        return self.pb.BatchGetAuthorsResponse(authors=authors)

    @staticmethod
    def _ids(names, parse):
        for name in names:
            try:
                yield parse(name, "names")
            except ApiError:
                pass


# ---------------------------------------------------------------------------------------------
# Chat: rooms.rs (and the in-process fan-out) in Python

CHAT = "chat.example"
DEFAULT_HISTORY = 50
MAX_HISTORY = 1000  # messages kept per room, for GetHistory and resuming


def check_room(room, field):
    rest = room[len("rooms/") :] if room.startswith("rooms/") else ""
    if not rest or "/" in rest:
        raise invalid_name(CHAT, field, room, "room name like `rooms/lobby`")


class Room:
    def __init__(self):
        self.last = 0  # the sequence number of the newest message
        self.kept = collections.deque(maxlen=MAX_HISTORY)  # the newest messages, oldest first
        self.subscribers = set()


class Chat:
    """The chat.v1.Chat servicer: rooms in memory. Every message posted to a room gets the room's
    next sequence number (from 1) and reaches every subscriber of the room."""

    def __init__(self, pb):
        self.pb = pb  # the chat_pb2 module
        self._lock = threading.Lock()
        self._rooms = {}  # room name -> Room

    def _post(self, room, author, text):
        check_room(room, "room")
        with self._lock:
            r = self._rooms.setdefault(room, Room())
            r.last += 1
            message = self.pb.ChatMessage(
                name=f"{room}/messages/{r.last}", room=room, author=author, text=text, sequence=r.last, post_time=now()
            )
            r.kept.append(message)
            for subscriber in r.subscribers:
                subscriber.put(copy_of(message))
        return copy_of(message)

    def _subscribe(self, room, after):
        """A Subscription to `room` with the kept messages after `after` (when not None) queued
        first; registered under the lock, so nothing is missed or repeated."""
        with self._lock:
            r = self._rooms.setdefault(room, Room())
            replay = []
            if after is not None:
                if after > r.last:
                    self._forget_if_unused(room)
                    raise self._reset(room, after, "that message was never published here")
                replay = [m for m in r.kept if m.sequence > after]
                if replay and replay[0].sequence > after + 1:
                    raise self._reset(room, after, f"the oldest message kept is {replay[0].sequence}")
            subscription = Subscription(on_close=lambda s: self._unsubscribe(room, s))
            for message in replay:
                subscription.put(copy_of(message))
            r.subscribers.add(subscription)
        return subscription

    @staticmethod
    def _reset(room, after, why):
        return ApiError(
            Code.OUT_OF_RANGE,
            f"cannot resume {room} after message {after}: {why}; subscribe again without a cursor",
            "CURSOR_OUT_OF_RANGE",
            CHAT,
            field="last-event-id",
        )

    def _unsubscribe(self, room, subscription):
        with self._lock:
            r = self._rooms.get(room)
            if r is not None:
                r.subscribers.discard(subscription)
                self._forget_if_unused(room)

    def _forget_if_unused(self, room):
        # Subscribing to a made-up room keeps nothing after the subscriber leaves.
        r = self._rooms.get(room)
        if r is not None and r.last == 0 and not r.subscribers:
            del self._rooms[room]

    def PostMessage(self, request, context):
        return self._post(request.room, request.author, request.text)

    def GetHistory(self, request, context):
        check_room(request.room, "room")
        if request.limit < 0:
            raise invalid_field(CHAT, "limit", "`limit` must not be negative")
        limit = min(request.limit, MAX_HISTORY) if request.limit else DEFAULT_HISTORY
        with self._lock:
            r = self._rooms.get(request.room)
            messages = [copy_of(m) for m in r.kept][-limit:] if r else []
        return self.pb.GetHistoryResponse(messages=messages)

    def Subscribe(self, request, context):
        check_room(request.room, "room")
        return self._subscribe(request.room, self._resume_after(context)).attach(context)

    @staticmethod
    def _resume_after(context):
        """The sequence number in `last-event-id` metadata (SSE's Last-Event-ID), if any."""
        value = dict(context.invocation_metadata()).get("last-event-id", "")
        if not value:
            return None
        if not (value.isascii() and value.isdigit()):
            raise invalid_field(CHAT, "last-event-id", f"Last-Event-ID `{value}` is not a message sequence number")
        return int(value)

    def Upload(self, request_iterator, context):
        posted = 0
        for request in request_iterator:
            self._post(request.room, request.author, request.text)
            posted += 1
        return self.pb.UploadSummary(posted_count=posted)

    def Converse(self, request_iterator, context):
        first = next(request_iterator, None)
        if first is None:
            return iter(())
        if not first.room:
            raise invalid_field(CHAT, "room", "the first message of a conversation must name its `room`")
        room = first.room
        check_room(room, "room")
        # Subscribe before posting so the conversation sees its own messages.
        incoming = self._subscribe(room, None).attach(context)
        self._post(room, first.author, first.text)

        def post_the_rest():
            # Later messages go to the first message's room, whatever `room` they name.
            try:
                for request in request_iterator:
                    self._post(room, request.author, request.text)
            except ApiError as error:
                incoming.put(error)  # fails the response stream
            except grpc.RpcError:
                pass  # the client went away; the termination callback closes `incoming`

        threading.Thread(target=post_the_rest, name="converse-reader", daemon=True).start()
        return incoming


# ---------------------------------------------------------------------------------------------
# Main


def serve(pb, port):
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="rpc"),
        interceptors=[Observer()],
        # No SO_REUSEPORT: a second server on the same port (say, a restart before the old one
        # exited) must fail to bind instead of silently sharing the port.
        options=[("grpc.so_reuseport", 0)],
    )
    pb.bookstore_grpc.add_BookstoreServicer_to_server(Bookstore(pb.bookstore), server)
    pb.chat_grpc.add_ChatServicer_to_server(Chat(pb.chat), server)
    # Server reflection (grpcio serves v1alpha only), for `apigen gateway --reflect`.
    services = [f.services_by_name[n].full_name for f, n in ((pb.bookstore.DESCRIPTOR, "Bookstore"), (pb.chat.DESCRIPTOR, "Chat"))]
    reflection.enable_server_reflection([*services, reflection.SERVICE_NAME], server)
    try:
        bound = server.add_insecure_port(f"127.0.0.1:{port}")
    except RuntimeError as err:  # grpcio raises this when it cannot bind
        sys.exit(f"error: cannot listen on 127.0.0.1:{port}: {err}")
    if bound == 0:
        sys.exit(f"error: cannot listen on 127.0.0.1:{port}")
    server.start()
    return server, bound


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="the port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--stubs", type=Path, help="a directory with (or for) the generated Python stubs")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    temporary = None
    if args.stubs is None:
        stubs = temporary = Path(tempfile.mkdtemp(prefix="upstream-stubs-"))
    else:
        stubs = args.stubs.resolve()
        stubs.mkdir(parents=True, exist_ok=True)
    try:
        if not has_stubs(stubs):
            generate_stubs(stubs)
        server, port = serve(load_stubs(stubs), args.port)
        with _stdout_lock:
            print(f"listening on 127.0.0.1:{port}", flush=True)
        while not stop.wait(0.5):
            pass
        server.stop(STOP_GRACE).wait()
    finally:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)


if __name__ == "__main__":
    main()
