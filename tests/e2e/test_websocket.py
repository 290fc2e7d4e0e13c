"""WebSocket (`GET /ws`, subprotocol `apigen.v1`) spoken by hand with the `websockets` package:
every method kind of both examples, multiplexed calls, errors as `error` frames that leave the
socket open, each close code (4400, 4401, 4408, 4409, 4429, 1009), pings, and a slow reader."""

import json
import signal
import socket
import subprocess
import time

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect

from conftest import LISTENING, REPO, bin_dir
from support import TOKEN, WS_TIMEOUT, JsonSocket

SUBPROTOCOL = "apigen.v1"
BOOKSTORE = "bookstore.v1.Bookstore"
CHAT = "chat.v1.Chat"


class Socket(JsonSocket):
    """An apigen.v1 client (support.JsonSocket) with calls by method."""

    def __init__(self, address, headers=None, sock=None, max_queue=16):
        super().__init__(f"ws://{address}/ws", SUBPROTOCOL, headers, sock=sock, max_queue=max_queue, max_size=None)
        self.ids = 0

    def new_id(self):
        self.ids += 1
        return f"c{self.ids}"

    def subscribe(self, method, payload=None, id=None):
        id = id or self.new_id()
        frame = {"type": "subscribe", "id": id, "method": method}
        if payload is not None:
            frame["payload"] = payload
        self.send(frame)
        return id

    def next(self, id, timeout=WS_TIMEOUT):
        """The payload of call ID's next `next` frame; fails on anything else."""
        frame = self.take(id, timeout)
        assert frame is not None, f"no frame for {id} in {timeout} s; received: {self.log[-20:]}"
        assert frame.get("type") == "next", f"expected next for {id}, got {frame}"
        # A resumable stream's events also name their id (`eventId`), as a string.
        assert set(frame) - {"eventId"} == {"type", "id", "payload"}, frame
        assert isinstance(frame.get("eventId", ""), str), frame
        return frame["payload"]

    def finish(self, id):
        """Every remaining response of call ID up to its `complete`, or the `error` payload."""
        responses = []
        while True:
            frame = self.take(id)
            assert frame is not None, f"call {id} did not finish; received: {self.log[-20:]}"
            if frame["type"] == "next":
                responses.append(frame["payload"])
            elif frame["type"] == "complete":
                assert frame == {"type": "complete", "id": id}, frame
                return responses, None
            else:
                assert frame["type"] == "error", frame
                assert set(frame["payload"]) >= {"code", "message"}, frame
                return responses, frame["payload"]

    def call(self, method, payload=None):
        """A unary call: its one response."""
        responses, error = self.finish(self.subscribe(method, payload))
        assert error is None, f"{method} failed: {error}"
        assert len(responses) == 1, f"{method} answered {responses}"
        return responses[0]

    def fails(self, method, payload, code, *mentions):
        """A call that ends with an `error` frame of CODE mentioning MENTIONS."""
        responses, error = self.finish(self.subscribe(method, payload))
        assert error is not None, f"{method} succeeded: {responses}"
        assert error["code"] == code, f"expected {code}, got {error}"
        for text in mentions:
            assert text in error["message"], f"expected the message to mention {text!r}: {error}"
        return error

    def closed(self, timeout=WS_TIMEOUT):
        close = super().closed(timeout)
        assert close is not None, f"the socket ended without a close frame: {self.close_error}"
        return close


def book(title, **fields):
    return {"title": title, **fields}


def warm_watch(s, id, post, limit=50):
    """Makes things happen (`post()`) until stream ID shows one: a stream starts when its method
    runs, which the client cannot see. Returns the first response."""
    for _ in range(limit):
        post()
        frame = s.take(id, timeout=0.3)
        if frame is not None:
            assert frame["type"] == "next", frame
            return frame["payload"]
    pytest.fail(f"stream {id} never delivered anything; received: {s.log[-20:]}")


# ---------------------------------------------------------------------------------------------
# Bookstore


@pytest.fixture
def bs(bookstore_server):
    with Socket(bookstore_server.address) as s:
        yield s.init()


def test_every_unary_bookstore_method(bs, unique):
    shelf = bs.call(f"{BOOKSTORE}/CreateShelf", {"shelf": {"theme": unique}})
    assert shelf["name"].startswith("shelves/") and shelf["theme"] == unique, shelf
    assert bs.call(f"{BOOKSTORE}/GetShelf", {"name": shelf["name"]})["theme"] == unique
    listed = bs.call(f"{BOOKSTORE}/ListShelves", {"pageSize": 1000})
    assert shelf["name"] in [s["name"] for s in listed["shelves"]]

    created = bs.call(
        f"{BOOKSTORE}/CreateBook",
        {
            "parent": shelf["name"],
            "book": book(f"{unique} title", isbn="9780000000002", genre="GENRE_POETRY", inStock=3, labels={"a": "b"}),
        },
    )
    assert created["isbn"] == "9780000000002", "int64 travels as a string"
    assert created["genre"] == "GENRE_POETRY" and created["inStock"] == 3 and created["labels"] == {"a": "b"}
    assert bs.call(f"{BOOKSTORE}/GetBook", {"name": created["name"]})["title"] == f"{unique} title"

    updated = bs.call(
        f"{BOOKSTORE}/UpdateBook",
        {"book": {"name": created["name"], "title": f"{unique} renamed"}, "updateMask": "title"},
    )
    assert updated["title"] == f"{unique} renamed" and updated["isbn"] == "9780000000002"
    books = bs.call(f"{BOOKSTORE}/ListBooks", {"parent": shelf["name"]})["books"]
    assert [b["name"] for b in books] == [created["name"]]
    found = bs.call(f"{BOOKSTORE}/SearchBooks", {"query": f"{unique} renamed"})
    assert [b["name"] for b in found["books"]] == [created["name"]] and found["totalSize"] == "1"

    other = bs.call(f"{BOOKSTORE}/CreateShelf", {"shelf": {"theme": f"{unique} 2"}})
    moved = bs.call(f"{BOOKSTORE}/MoveBook", {"name": created["name"], "otherShelf": other["name"]})
    assert moved["name"].startswith(other["name"] + "/books/"), moved

    assert bs.call(f"{BOOKSTORE}/DeleteShelf", {"name": shelf["name"]}) == {}, "Empty is {}"
    assert bs.call(f"{BOOKSTORE}/DeleteShelf", {"name": other["name"], "force": True}) == {}


def test_bookstore_errors_are_error_frames_and_leave_the_socket_open(bs):
    bs.fails(f"{BOOKSTORE}/GetShelf", {"name": "shelves/999999"}, "not_found")
    bs.fails(f"{BOOKSTORE}/CreateShelf", {}, "invalid_argument", "shelf")
    bs.fails(f"{BOOKSTORE}/CreateShelf", {"shelf": {"theme": 7}}, "invalid_argument", "theme")
    bs.fails(f"{BOOKSTORE}/ListShelves", {"pageSize": "many"}, "invalid_argument", "pageSize")
    bs.fails(f"{BOOKSTORE}/ListShelves", "not an object", "invalid_argument")
    bs.fails(f"{BOOKSTORE}/CreateBook", {"parent": "shelves/999999", "book": {"title": "x"}}, "not_found")
    bs.fails(f"{BOOKSTORE}/Nope", {}, "unimplemented", f"{BOOKSTORE}/Nope")
    bs.fails("nope", {}, "unimplemented")
    shelf = bs.call(f"{BOOKSTORE}/CreateShelf", {"shelf": {"theme": "still open"}})
    bs.call(f"{BOOKSTORE}/CreateBook", {"parent": shelf["name"], "book": book("keeps")})
    bs.fails(f"{BOOKSTORE}/DeleteShelf", {"name": shelf["name"]}, "failed_precondition")


def test_watch_shelf_streams_events_until_cancelled(bs, bookstore_server, unique):
    shelf = bs.call(f"{BOOKSTORE}/CreateShelf", {"shelf": {"theme": unique}})
    watch = bs.subscribe(f"{BOOKSTORE}/WatchShelf", {"name": shelf["name"]})
    first = warm_watch(bs, watch, lambda: bs.call(f"{BOOKSTORE}/CreateBook", {"parent": shelf["name"], "book": book("warm")}))
    assert first["kind"] == "KIND_BOOK_ADDED" and first["book"]["title"] == "warm", first
    while bs.take(watch, timeout=0.3) is not None:
        pass  # more warm-up books

    created = bs.call(f"{BOOKSTORE}/CreateBook", {"parent": shelf["name"], "book": book(f"{unique} a")})
    event = bs.next(watch)
    assert (event["kind"], event["book"]["name"]) == ("KIND_BOOK_ADDED", created["name"]), event
    assert "eventTime" in event
    bs.call(f"{BOOKSTORE}/UpdateBook", {"book": {"name": created["name"], "title": "b"}, "updateMask": "title"})
    assert bs.next(watch)["kind"] == "KIND_BOOK_UPDATED"
    other = bs.call(f"{BOOKSTORE}/CreateShelf", {"shelf": {"theme": f"{unique} other"}})
    bs.call(f"{BOOKSTORE}/MoveBook", {"name": created["name"], "otherShelf": other["name"]})
    assert bs.next(watch)["kind"] == "KIND_BOOK_REMOVED"

    # The same socket watches over HTTP too: one data shape.
    bs.send({"type": "cancel", "id": watch})
    bs.call(f"{BOOKSTORE}/CreateBook", {"parent": shelf["name"], "book": book("unseen")})
    bs.send({"type": "ping"})
    while (frame := bs.recv()) != {"type": "pong"}:
        assert frame.get("id") != watch or frame["type"] == "next", f"nothing but queued events after cancel: {frame}"
    assert bs.take(watch, timeout=0.5) is None, "a cancelled call sends nothing more"

    # Deleting the shelf completes a watch.
    watch = bs.subscribe(f"{BOOKSTORE}/WatchShelf", {"name": other["name"]})
    warm_watch(bs, watch, lambda: bs.call(f"{BOOKSTORE}/CreateBook", {"parent": other["name"], "book": book("w")}))
    bs.call(f"{BOOKSTORE}/DeleteShelf", {"name": other["name"], "force": True})
    _, error = bs.finish(watch)
    assert error is None, error
    bs.fails(f"{BOOKSTORE}/WatchShelf", {"name": "shelves/999999"}, "not_found")


def test_import_books_streams_requests(bs, unique):
    shelf = bs.call(f"{BOOKSTORE}/CreateShelf", {"shelf": {"theme": unique}})
    # The subscribe's payload is the first request; `next` adds more; `complete` ends the stream.
    id = bs.subscribe(f"{BOOKSTORE}/ImportBooks", {"parent": shelf["name"], "book": book("one")})
    for title in ("two", "three"):
        bs.send({"type": "next", "id": id, "payload": {"parent": shelf["name"], "book": book(title)}})
    bs.send({"type": "complete", "id": id})
    responses, error = bs.finish(id)
    assert error is None and len(responses) == 1, (responses, error)
    assert responses[0]["importedCount"] == 3 and len(responses[0]["names"]) == 3, responses
    titles = [b["title"] for b in bs.call(f"{BOOKSTORE}/ListBooks", {"parent": shelf["name"]})["books"]]
    assert sorted(titles) == ["one", "three", "two"]

    # No payload: no first request.
    id = bs.subscribe(f"{BOOKSTORE}/ImportBooks")
    bs.send({"type": "complete", "id": id})
    assert bs.finish(id) == ([{}], None), "importedCount 0 is the default, left out"

    # All or nothing: a bad request fails the call and imports nothing.
    id = bs.subscribe(f"{BOOKSTORE}/ImportBooks", {"parent": shelf["name"], "book": book("four")})
    bs.send({"type": "next", "id": id, "payload": {"parent": shelf["name"], "book": {}}})
    bs.send({"type": "complete", "id": id})
    _, error = bs.finish(id)
    assert error["code"] == "invalid_argument" and "title" in error["message"], error
    id = bs.subscribe(f"{BOOKSTORE}/ImportBooks", {"parent": "shelves/999999", "book": book("x")})
    bs.send({"type": "complete", "id": id})
    assert bs.finish(id)[1]["code"] == "not_found"
    assert len(bs.call(f"{BOOKSTORE}/ListBooks", {"parent": shelf["name"]})["books"]) == 3


def test_many_calls_share_one_socket(bs, unique):
    shelf = bs.call(f"{BOOKSTORE}/CreateShelf", {"shelf": {"theme": unique}})
    watch = bs.subscribe(f"{BOOKSTORE}/WatchShelf", {"name": shelf["name"]})
    warm_watch(bs, watch, lambda: bs.call(f"{BOOKSTORE}/CreateBook", {"parent": shelf["name"], "book": book("warm")}))
    while bs.take(watch, timeout=0.3) is not None:
        pass
    # Fifty calls in flight at once, some failing, answered in any order, each under its own id.
    ids = {}
    for i in range(50):
        if i % 10 == 9:
            ids[bs.subscribe(f"{BOOKSTORE}/GetBook", {"name": f"{shelf['name']}/books/999{i}"})] = None
        else:
            ids[bs.subscribe(f"{BOOKSTORE}/CreateBook", {"parent": shelf["name"], "book": book(f"{unique} {i}")})] = i
    names = set()
    for id, i in ids.items():
        responses, error = bs.finish(id)
        if i is None:
            assert error["code"] == "not_found", error
        else:
            assert error is None and responses[0]["title"] == f"{unique} {i}", (responses, error)
            names.add(responses[0]["name"])
    assert len(names) == 45
    seen = {bs.next(watch)["book"]["name"] for _ in range(45)}
    assert seen == names


# ---------------------------------------------------------------------------------------------
# Chat


@pytest.fixture
def cs(chat_server):
    with Socket(chat_server.address) as s:
        yield s.init()


def test_chat_unary_and_server_streaming(cs, unique):
    room = f"rooms/{unique}"
    sub = cs.subscribe(f"{CHAT}/Subscribe", {"room": room})
    warm_watch(cs, sub, lambda: cs.call(f"{CHAT}/PostMessage", {"room": room, "author": "warm", "text": "up"}))
    while cs.take(sub, timeout=0.3) is not None:
        pass
    posted = cs.call(f"{CHAT}/PostMessage", {"room": room, "author": "ada", "text": "hello"})
    assert posted["name"] == f"{room}/messages/{posted['sequence']}" and isinstance(posted["sequence"], str)
    assert cs.next(sub) == posted, "the subscriber sees exactly what the poster got back"
    history = cs.call(f"{CHAT}/GetHistory", {"room": room})["messages"]
    assert history[-1] == posted
    cs.fails(f"{CHAT}/PostMessage", {"room": "lobby", "author": "a", "text": "b"}, "invalid_argument", "room")
    cs.fails(f"{CHAT}/GetHistory", {"room": room, "limit": -1}, "invalid_argument", "limit")
    cs.fails(f"{CHAT}/Subscribe", {"room": ""}, "invalid_argument")


def test_chat_upload_streams_requests(cs, unique):
    room = f"rooms/{unique}"
    id = cs.subscribe(f"{CHAT}/Upload")
    for i in range(5):
        cs.send({"type": "next", "id": id, "payload": {"room": room, "author": "up", "text": str(i)}})
    cs.send({"type": "complete", "id": id})
    assert cs.finish(id) == ([{"postedCount": 5}], None)
    texts = [m["text"] for m in cs.call(f"{CHAT}/GetHistory", {"room": room})["messages"]]
    assert texts == ["0", "1", "2", "3", "4"]

    id = cs.subscribe(f"{CHAT}/Upload", {"room": room, "author": "up", "text": "ok"})
    cs.send({"type": "next", "id": id, "payload": {"room": room, "author": "up"}})
    _, error = cs.finish(id)
    assert error["code"] == "invalid_argument" and "text" in error["message"], error


def test_chat_converse_is_bidirectional(chat_server, cs, unique):
    room = f"rooms/{unique}"
    talk = cs.subscribe(f"{CHAT}/Converse", {"room": room, "author": "ada", "text": "hello"})
    first = cs.next(talk)
    assert (first["text"], first["sequence"], first["author"]) == ("hello", "1", "ada"), first
    cs.send({"type": "next", "id": talk, "payload": {"author": "ada", "text": "anyone?"}})
    assert cs.next(talk)["text"] == "anyone?"

    # Another socket's post reaches the conversation; a second conversation runs beside it.
    with Socket(chat_server.address) as other:
        other.init()
        other.call(f"{CHAT}/PostMessage", {"room": room, "author": "bob", "text": "me"})
    assert cs.next(talk)["author"] == "bob"
    side = cs.subscribe(f"{CHAT}/Converse", {"room": f"{room}-side", "author": "eve", "text": "psst"})
    assert cs.next(side)["text"] == "psst"

    # `complete` ends the requests only: the conversation keeps listening.
    cs.send({"type": "complete", "id": talk})
    cs.call(f"{CHAT}/PostMessage", {"room": room, "author": "eve", "text": "still?"})
    assert cs.next(talk)["text"] == "still?"
    cs.send({"type": "cancel", "id": talk})
    cs.send({"type": "cancel", "id": side})

    lost = cs.subscribe(f"{CHAT}/Converse", {"author": "ada", "text": "where?"})
    _, error = cs.finish(lost)
    assert error["code"] == "invalid_argument" and "room" in error["message"], error
    # No first message yet: the call waits for one.
    late = cs.subscribe(f"{CHAT}/Converse")
    cs.send({"type": "next", "id": late, "payload": {"room": room, "author": "ada", "text": "late"}})
    assert cs.next(late)["text"] == "late"


# ---------------------------------------------------------------------------------------------
# The protocol: handshake, close codes, pings


def test_the_upgrade_needs_the_subprotocol(bookstore_server):
    with pytest.raises(InvalidStatus) as info:
        with ws_connect(f"ws://{bookstore_server.address}/ws", open_timeout=WS_TIMEOUT, proxy=None):
            pass
    response = info.value.response
    assert response.status_code == 400
    body = json.loads(response.body)
    assert body["code"] == 3 and SUBPROTOCOL in body["message"], body


def test_pings_both_ways(bookstore_server):
    with Socket(bookstore_server.address) as s:
        s.send({"type": "ping"})
        assert s.recv() == {"type": "pong"}, "before the ack too"
        s.init()
        s.send({"type": "ping"})
        assert s.recv() == {"type": "pong"}
        s.send({"type": "pong"})  # unsolicited pongs are fine
        assert s.ws.ping().wait(WS_TIMEOUT), "WebSocket-level pings are answered"
        s.call(f"{BOOKSTORE}/ListShelves", {})


@pytest.mark.parametrize(
    "before_ack, frame",
    [
        (False, "not json"),
        (False, b"\x00binary"),
        (False, json.dumps(["an", "array"])),
        (False, json.dumps({"type": "bogus"})),
        (False, json.dumps({"id": "1"})),
        (False, json.dumps({"type": "subscribe", "method": f"{BOOKSTORE}/ListShelves"})),
        (False, json.dumps({"type": "subscribe", "id": 1, "method": f"{BOOKSTORE}/ListShelves"})),
        (False, json.dumps({"type": "subscribe", "id": "1"})),
        (False, json.dumps({"type": "next", "id": "1"})),
        (False, json.dumps({"type": "connection_init"})),
        (True, json.dumps({"type": "subscribe", "id": "1", "method": f"{BOOKSTORE}/ListShelves"})),
        (True, json.dumps({"type": "connection_init", "payload": "token"})),
    ],
)
def test_malformed_frames_close_with_4400(bookstore_server, before_ack, frame):
    with Socket(bookstore_server.address) as s:
        if not before_ack:
            s.init()
        s.send(frame)
        closed = s.closed()
        assert closed.code == 4400, f"{frame!r}: {closed}"
        assert closed.reason, "the reason says what was wrong"


def test_authentication_in_connection_init(bookstore_token_server):
    address = bookstore_token_server.address
    for payload in (None, {}, {"authorization": "Bearer wrong"}, {"authorization": TOKEN}):
        with Socket(address) as s:
            s.send({"type": "connection_init", **({"payload": payload} if payload is not None else {})})
            closed = s.closed()
            assert closed.code == 4401, f"{payload}: {closed}"
    # In the payload (what browsers can do) or as the upgrade's header.
    with Socket(address) as s:
        s.init({"authorization": f"Bearer {TOKEN}"})
        assert s.call(f"{BOOKSTORE}/ListShelves", {}) is not None
    with Socket(address, headers={"authorization": f"Bearer {TOKEN}"}) as s:
        s.init()
        s.call(f"{BOOKSTORE}/ListShelves", {})
    # The header wins: a payload only fills in what the upgrade (or a proxy) did not set.
    with Socket(address, headers={"authorization": f"Bearer {TOKEN}"}) as s:
        s.init({"authorization": "Bearer wrong"})
        s.call(f"{BOOKSTORE}/ListShelves", {})
    with Socket(address, headers={"authorization": "Bearer wrong"}) as s:
        s.send({"type": "connection_init", "payload": {"authorization": f"Bearer {TOKEN}"}})
        assert s.closed().code == 4401, "a payload cannot replace a header"


def test_no_connection_init_in_time_closes_with_4408(launch):
    server = launch("bookstore-example", "--ws-init-timeout-ms", "300")
    with Socket(server.address) as s:
        started = time.monotonic()
        closed = s.closed()
        assert closed.code == 4408, closed
        assert 0.25 <= time.monotonic() - started < 5, time.monotonic() - started
    with Socket(server.address) as s:
        s.init()  # in time
        time.sleep(0.5)
        s.call(f"{BOOKSTORE}/ListShelves", {})


def test_a_running_id_again_closes_with_4409(bs, unique):
    shelf = bs.call(f"{BOOKSTORE}/CreateShelf", {"shelf": {"theme": unique}})
    # A finished call's id may be used again.
    bs.call(f"{BOOKSTORE}/GetShelf", {"name": shelf["name"]})
    bs.subscribe(f"{BOOKSTORE}/GetShelf", {"name": shelf["name"]}, id="c1")
    assert bs.finish("c1")[1] is None
    bs.subscribe(f"{BOOKSTORE}/WatchShelf", {"name": shelf["name"]}, id="same")
    bs.subscribe(f"{BOOKSTORE}/WatchShelf", {"name": shelf["name"]}, id="same")
    assert bs.closed().code == 4409


def test_too_many_calls_close_with_4429(bs, unique):
    shelf = bs.call(f"{BOOKSTORE}/CreateShelf", {"shelf": {"theme": unique}})
    for i in range(100):
        bs.subscribe(f"{BOOKSTORE}/WatchShelf", {"name": shelf["name"]}, id=f"w{i}")
    bs.send({"type": "ping"})
    assert bs.recv() == {"type": "pong"}, "100 calls are fine"
    bs.subscribe(f"{BOOKSTORE}/WatchShelf", {"name": shelf["name"]}, id="one-too-many")
    closed = bs.closed()
    assert closed.code == 4429 and "100" in closed.reason, closed


def test_a_frame_over_the_size_limit_closes_with_1009(bs):
    big = "x" * (4 * 1024 * 1024)
    try:
        bs.send({"type": "subscribe", "id": "big", "method": f"{BOOKSTORE}/ListShelves", "payload": {"pageToken": big}})
    except (ConnectionClosed, OSError):
        # The server stops reading at the frame's header and closes; the rest of the frame, still
        # going out, may meet a reset. The close frame came first.
        pass
    assert bs.closed().code == 1009


def test_a_slow_reader_fails_its_call_not_the_server(chat_server, unique):
    """A client that stops reading while a stream produces: the server keeps a bounded queue per
    call, fails that call with RESOURCE_EXHAUSTED once the queue has stayed full for its stall
    timeout (5 s), delivers the error after what came before, and the socket stays usable."""
    room = f"rooms/{unique}"
    # A small receive buffer and no client-side queue to speak of, so not reading shows at once.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    host, port = chat_server.address.rsplit(":", 1)
    sock.connect((host, int(port)))
    with Socket(chat_server.address, sock=sock, max_queue=4) as slow, Socket(chat_server.address) as writer:
        slow.init()
        writer.init()
        sub = slow.subscribe(f"{CHAT}/Subscribe", {"room": room})
        warm_watch(slow, sub, lambda: writer.call(f"{CHAT}/PostMessage", {"room": room, "author": "w", "text": "up"}))
        while slow.take(sub, timeout=0.3) is not None:
            pass

        # 500 messages of 60 kB (30 MB) while the slow socket reads nothing.
        text = "x" * 60_000
        upload = writer.subscribe(f"{CHAT}/Upload")
        for _ in range(500):
            writer.send({"type": "next", "id": upload, "payload": {"room": room, "author": "w", "text": text}})
        writer.send({"type": "complete", "id": upload})
        assert writer.finish(upload) == ([{"postedCount": 500}], None)
        time.sleep(7)  # past the stall timeout

        delivered = 0
        while True:
            frame = slow.take(sub, timeout=WS_TIMEOUT)
            assert frame is not None, f"the stream neither went on nor failed; {delivered} delivered"
            if frame["type"] != "next":
                break
            delivered += 1
        assert frame["type"] == "error", frame
        assert frame["payload"]["code"] == "resource_exhausted", frame
        assert "read none" in frame["payload"]["message"], frame
        assert delivered < 500, f"the server buffered everything ({delivered}) instead of dropping the call"

        # The socket and the server are fine.
        slow.send({"type": "ping"})
        assert slow.recv() == {"type": "pong"}
        history = slow.call(f"{CHAT}/GetHistory", {"room": room, "limit": 1})
        assert len(history["messages"]) == 1


def test_shutdown_ends_streams_with_unavailable_and_closes_with_1001():
    """SIGTERM: streaming calls end with an `unavailable` error frame, the socket closes with 1001,
    and the server exits promptly (it waits for its WebSockets, briefly)."""
    path = bin_dir() / "bookstore-example"
    process = subprocess.Popen(
        [str(path), "--addr", "127.0.0.1:0"],
        cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        match = LISTENING.search(process.stdout.readline().decode())
        assert match, "the server did not print its address"
        with Socket(match.group(1)) as s:
            s.init()
            shelf = s.call(f"{BOOKSTORE}/CreateShelf", {"shelf": {"theme": "closing"}})
            watch = s.subscribe(f"{BOOKSTORE}/WatchShelf", {"name": shelf["name"]})
            warm_watch(s, watch, lambda: s.call(f"{BOOKSTORE}/CreateBook", {"parent": shelf["name"], "book": book("w")}))
            while s.take(watch, timeout=0.3) is not None:
                pass
            process.send_signal(signal.SIGTERM)
            _, error = s.finish(watch)
            assert error is not None and error["code"] == "unavailable", error
            closed = s.closed()
            assert closed.code == 1001, closed
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
