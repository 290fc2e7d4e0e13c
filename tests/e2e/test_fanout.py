"""Fan-out across instances: two chat-example servers started with `--redis` on one real
`redis-server` share their rooms. A message posted on either reaches SSE, gRPC, GraphQL and
WebSocket (apigen.v1) subscribers on both; sequences are shared; an SSE client resumes on the other
instance with `Last-Event-ID`; `kill -9` loses nothing acknowledged; a cursor that cannot be
resumed gets the reset signal; Redis going away makes posts fail with UNAVAILABLE, and the servers
recover when it is back; subscribers of made-up rooms leave no reader connection and no key behind."""

import codecs
import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse

import grpc
import pytest
from google.protobuf import json_format
from websockets.exceptions import InvalidStatus

from conftest import LISTENING, REPO, STARTUP_TIMEOUT, bin_dir, running
from support import Http, JsonSocket, describe, ok, open_channel, rest_error, rfc3339, wait_until_open
from redis_support import redis_server
from test_graphql import CHAT_SUBSCRIBE
from test_graphql import Socket as GraphQLSocket

INVALID_ARGUMENT, OUT_OF_RANGE, UNAVAILABLE = 3, 11, 14

WAIT = 10.0  # the longest any single wait for a message, a server or Redis may take
QUIET = 1.0  # how long "nothing more arrives" is watched for
SUBSCRIBE = "/sse/chat.v1.Chat/Subscribe"



# ---------------------------------------------------------------------------------------------
# A chat server that may be killed with SIGKILL (conftest's `running` fails a server that dies).


class KillableChat:
    def __init__(self, redis_url):
        path = bin_dir() / "chat-example"
        if not (path.is_file() and os.access(path, os.X_OK)):
            pytest.fail(f"{path} does not exist: run `cargo build -p chat-example` first", pytrace=False)
        self.stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [str(path), "--addr", "127.0.0.1:0", "--redis", redis_url],
            cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.stderr, start_new_session=True,
        )  # fmt: skip
        found, lines, address = threading.Event(), [], []

        def read_stdout():
            for raw in self.process.stdout:
                lines.append(raw.decode(errors="replace"))
                match = LISTENING.search(lines[-1])
                if match and not found.is_set():
                    address.append(match.group(1))
                    found.set()
            found.set()

        threading.Thread(target=read_stdout, daemon=True).start()
        if not found.wait(STARTUP_TIMEOUT) or not address:
            self.kill()
            self.stderr.seek(0)
            pytest.fail(f"chat-example never listened: {''.join(lines)}{self.stderr.read().decode(errors='replace')}", pytrace=False)
        self.address = address[0]

    def kill(self):
        """kill -9, to the server's whole process group."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=WAIT)

    def close(self):
        if self.process.poll() is None:
            self.kill()
        self.stderr.close()


# ---------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def redis():
    with redis_server() as server:
        yield server


@pytest.fixture(scope="module")
def server_a(redis):
    with running("chat-example", "--redis", redis.url) as server:
        yield server


@pytest.fixture(scope="module")
def server_b(redis):
    with running("chat-example", "--redis", redis.url) as server:
        yield server


@pytest.fixture(scope="module")
def http_a(server_a):
    with Http(server_a.address) as http:
        yield http


@pytest.fixture(scope="module")
def http_b(server_b):
    with Http(server_b.address) as http:
        yield http


@pytest.fixture
def room(unique):
    return f"rooms/{unique}"


@pytest.fixture
def closing():
    """An ExitStack for the test's streams and sockets: whatever a test opens is closed after it."""
    with contextlib.ExitStack() as stack:
        yield stack


# ---------------------------------------------------------------------------------------------
# REST and Connect


def post(http, room, text, author="alice"):
    """Posts over REST; the message the server acknowledged."""
    return ok(http.post(f"/v1/{room}/messages", json={"author": author, "text": text}))


def history(http, room, limit=0):
    body = {"room": room, **({"limit": limit} if limit else {})}
    return ok(http.connect("chat.v1.Chat/GetHistory", body)).get("messages", [])


def sequences(messages):
    return [int(m["sequence"]) for m in messages]


def assert_same(got, posted, who):
    """GOT is the message POSTED, as a subscriber WHO received it (postTime compared as a time)."""
    assert isinstance(got, dict), f"{who}: not a message: {got!r}"
    assert set(got) == set(posted), f"{who}: fields {sorted(got)}, posted {sorted(posted)}"
    assert {k: v for k, v in got.items() if k != "postTime"} == {k: v for k, v in posted.items() if k != "postTime"}, f"{who} got {got}, posted {posted}"
    assert rfc3339(got["postTime"]) == rfc3339(posted["postTime"]), f"{who}: postTime {got['postTime']}, posted {posted['postTime']}"


# ---------------------------------------------------------------------------------------------
# SSE over a raw socket: the connection can be cut at any moment, and every wait is bounded.


class Sse:
    """GET PATH with `Accept: text/event-stream`; events are read by a thread into a queue."""

    _END = object()

    def __init__(self, address, path, headers=None):
        self.address, self.path = address, path
        self.sock = socket.create_connection(tuple(address.rsplit(":", 1)), timeout=WAIT)
        lines = [f"GET {path} HTTP/1.1", f"Host: {address}", "Accept: text/event-stream", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.file = self.sock.makefile("rb")
        status_line = self.file.readline().decode(errors="replace")
        self.status = int(status_line.split()[1]) if status_line.startswith("HTTP/1.1 ") else None
        self.headers = {}
        while (line := self.file.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode(errors="replace").partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self.events = queue.Queue()
        self.log = []  # every block received, for failure messages
        self.sock.settimeout(60)  # the reader thread outlives no test by much
        if self.status != 200:
            self.body = self._read_body()
            self.close()
            return
        self.body = None
        threading.Thread(target=self._read, daemon=True).start()

    def describe(self):
        return f"GET {self.path} on {self.address}"

    def _chunks(self):
        if "chunked" in self.headers.get("transfer-encoding", ""):
            while True:
                size = int(self.file.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    return
                yield self.file.read(size)
                self.file.readline()
        elif "content-length" in self.headers:
            yield self.file.read(int(self.headers["content-length"]))
        else:
            while data := self.file.read1(65536):
                yield data

    def _read_body(self):
        try:
            return b"".join(self._chunks()).decode(errors="replace")
        except OSError as err:
            return f"<unreadable: {err}>"

    def _read(self):
        buffer, block, decoder = "", {}, codecs.getincrementaldecoder("utf-8")()
        try:
            for chunk in self._chunks():
                buffer += decoder.decode(chunk)
                *complete, buffer = buffer.replace("\r\n", "\n").split("\n")
                for line in complete:
                    if line == "":
                        if block:
                            self.events.put(block)
                        block = {}
                    elif not line.startswith(":"):
                        field, _, value = line.partition(":")
                        value = value[1:] if value.startswith(" ") else value
                        block[field] = block[field] + "\n" + value if field == "data" and "data" in block else value
        except (OSError, ValueError):
            pass  # cut off
        finally:
            self.events.put(self._END)

    def block(self, timeout=WAIT):
        """The next event block (a dict of its fields), or None when none comes in TIMEOUT seconds."""
        try:
            item = self.events.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is self._END:
            self.events.put(item)
            pytest.fail(f"{self.describe()}: the stream ended; received: {self.log}")
        self.log.append(item)
        return item

    def wait_open(self):
        """Waits for the `retry:` the server sends first, once it has subscribed."""
        assert self.status == 200, f"{self.describe()} -> HTTP {self.status} {self.body!r}"
        first = self.block()
        assert first is not None, f"{self.describe()}: no `retry:` in {WAIT} s"
        assert "retry" in first and "data" not in first, f"{self.describe()}: expected `retry:` first, got {first}"
        return self

    def poll(self, timeout):
        """(id, message) of the next event, or None."""
        block = self.block(timeout)
        if block is None:
            return None
        assert block.get("event", "message") == "message", f"{self.describe()}: the stream ended: {block}"
        assert "id" in block, f"{self.describe()}: an event without an id: {block}"
        return block["id"], json.loads(block["data"])

    def next(self, timeout=WAIT):
        got = self.poll(timeout)
        assert got is not None, f"{self.describe()}: no event in {timeout} s; received: {self.log}"
        return got

    def quiet(self, seconds=QUIET):
        block = self.block(seconds)
        assert block is None, f"{self.describe()}: expected nothing more, got {block}"

    def close(self):
        """Cuts the connection, as a network failure or a closed browser tab would."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def sse_path(room, **query):
    return f"{SUBSCRIBE}?{urllib.parse.urlencode({'room': room, **query})}"


def sse(closing, server, room, headers=None, **query):
    stream = Sse(server.address, sse_path(room, **query), headers)
    closing.callback(stream.close)
    return stream


# ---------------------------------------------------------------------------------------------
# Subscribers over every protocol, with one interface: poll(timeout) -> message (proto3 JSON) | None


class SseSubscriber:
    def __init__(self, closing, server, room, name):
        self.name = name
        self.stream = sse(closing, server, room).wait_open()

    def poll(self, timeout):
        got = self.stream.poll(timeout)
        if got is None:
            return None
        id, message = got
        assert id == message["sequence"], f"{self.name}: event id {id} for message {message}"
        return message


class GrpcSubscriber:
    _END = object()

    def __init__(self, closing, pb, server, room, name):
        self.name = name
        channel = closing.enter_context(open_channel(server.address))
        self.call = pb.chat_grpc.ChatStub(channel).Subscribe(pb.chat.SubscribeRequest(room=room), timeout=40)
        closing.callback(self.call.cancel)
        wait_until_open(self.call)
        self.queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for message in self.call:
                self.queue.put(json_format.MessageToDict(message))
        except grpc.RpcError as err:
            self.queue.put(err)
        self.queue.put(self._END)

    def poll(self, timeout):
        try:
            item = self.queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if isinstance(item, grpc.RpcError):
            pytest.fail(f"{self.name}: the stream failed with {item.code().name}: {item.details()!r}")
        assert item is not self._END, f"{self.name}: the stream ended"
        return item


class GraphQLSubscriber:
    def __init__(self, closing, server, room, name):
        self.name = name
        self.socket = closing.enter_context(GraphQLSocket(server.address))
        self.socket.init()
        self.socket.subscribe("chat", CHAT_SUBSCRIBE, {"r": room})

    def poll(self, timeout):
        message = self.socket.take("chat", timeout)
        if message is None:
            return None
        assert message.get("type") == "next" and not message["payload"].get("errors"), f"{self.name}: {message}"
        return message["payload"]["data"]["subscribe"]


class WsSubscriber:
    """apigen.v1 at /ws (DESIGN.md): connection_init -> connection_ack, subscribe -> next..."""

    def __init__(self, closing, server, room, name):
        self.name = name
        refused = None
        try:
            socket = JsonSocket(f"ws://{server.address}/ws", "apigen.v1")
        except InvalidStatus as err:
            refused = err.response
        if refused is not None:
            body = bytes(refused.body or b"").decode(errors="replace")
            pytest.fail(f"{self.name}: GET /ws with subprotocol apigen.v1 was refused: HTTP {refused.status_code} {body}")
        self.socket = closing.enter_context(socket)
        self.socket.init({})
        self.socket.send({"type": "subscribe", "id": "1", "method": "chat.v1.Chat/Subscribe", "payload": {"room": room}})

    def poll(self, timeout):
        message = self.socket.take("1", timeout)
        if message is None:
            return None
        assert message.get("type") == "next", f"{self.name}: expected next for 1, got {message}"
        return message["payload"]


KINDS = ["sse", "grpc", "graphql", "websocket"]


def subscribe(closing, pb, kind, server, room, name):
    if kind == "sse":
        return SseSubscriber(closing, server, room, name)
    if kind == "grpc":
        return GrpcSubscriber(closing, pb, server, room, name)
    if kind == "graphql":
        return GraphQLSubscriber(closing, server, room, name)
    return WsSubscriber(closing, server, room, name)


def next_message(subscriber, timeout=WAIT):
    got = subscriber.poll(timeout)
    assert got is not None, f"{subscriber.name} received nothing in {timeout} s"
    return got


def attach(subscribers, post_one):
    """Posts warm-up messages until every subscriber has received one (GraphQL and WebSocket do not
    say when a subscription is live), then reads each up to the last warm-up, checking that none was
    skipped or repeated on the way. From then on each subscriber must receive every message."""
    warm, first = [], {}
    deadline = time.monotonic() + WAIT
    while len(first) < len(subscribers):
        if time.monotonic() > deadline:
            silent = [s.name for s in subscribers if s not in first]
            pytest.fail(f"{', '.join(silent)} received none of {len(warm)} warm-up messages in {WAIT} s")
        warm.append(post_one(f"warm-up {len(warm)}"))
        for s in subscribers:
            if s not in first and (got := s.poll(0.2)) is not None:
                first[s] = got
    newest = int(warm[-1]["sequence"])
    for s, got in first.items():
        seen = [got]
        while int(seen[-1]["sequence"]) < newest:
            seen.append(next_message(s))
        assert sequences(seen) == list(range(sequences(seen)[0], newest + 1)), f"{s.name} skipped or repeated: {sequences(seen)}"
        assert_same(seen[-1], warm[-1], s.name)


# ---------------------------------------------------------------------------------------------
# A message posted on one instance reaches every subscriber on both


def test_every_protocol_on_both_instances_receives_a_message_posted_on_either(closing, pb, server_a, server_b, http_a, http_b, room):
    subscribers = [
        subscribe(closing, pb, kind, server, room, f"{kind} on {label}")
        for kind in KINDS
        for label, server in (("A", server_a), ("B", server_b))
    ]
    attach(subscribers, lambda text: post(http_a, room, text))

    for http, where in ((http_a, "A"), (http_b, "B")):
        posted = post(http, room, f"hello from {where}", author=f"poster-{where}")
        for s in subscribers:
            assert_same(next_message(s), posted, f"{s.name} (posted on {where})")


@pytest.mark.parametrize("kind", KINDS)
def test_a_subscriber_on_each_instance_receives_messages_posted_on_either(closing, pb, server_a, server_b, http_a, http_b, room, kind):
    on_a = subscribe(closing, pb, kind, server_a, room, f"{kind} on A")
    on_b = subscribe(closing, pb, kind, server_b, room, f"{kind} on B")
    attach([on_a, on_b], lambda text: post(http_b, room, text))

    from_a = post(http_a, room, "posted on A")
    from_b = post(http_b, room, "posted on B")
    for s in (on_a, on_b):
        assert_same(next_message(s), from_a, s.name)
        assert_same(next_message(s), from_b, s.name)


# ---------------------------------------------------------------------------------------------
# Sequences are shared


def test_posts_alternating_between_instances_share_one_sequence(http_a, http_b, room):
    posted = [post(http, room, f"message {i}") for i, http in enumerate([http_a, http_b] * 3)]
    assert [m["sequence"] for m in posted] == ["1", "2", "3", "4", "5", "6"]
    assert [m["name"] for m in posted] == [f"{room}/messages/{n}" for n in range(1, 7)]
    assert history(http_a, room) == posted
    assert history(http_b, room) == posted


def test_a_room_expires_a_day_after_its_last_post_and_reading_one_creates_nothing(redis, http_a, room):
    assert history(http_a, room) == []
    assert redis.command("EXISTS", f"apigen:topic:{{{room}}}", f"apigen:topic:{{{room}}}:seq") == 0
    post(http_a, room, "hello")
    for key in (f"apigen:topic:{{{room}}}", f"apigen:topic:{{{room}}}:seq"):
        ttl = int(redis.command("TTL", key))
        assert 86000 < ttl <= 86400, f"{key} expires in {ttl} s"


def test_concurrent_posts_on_both_instances_get_distinct_consecutive_sequences(server_a, server_b, room):
    results, errors = [], []

    def poster(address, who):
        try:
            with Http(address) as http:
                for i in range(10):
                    results.append(post(http, room, f"{who} {i}", author=who))
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=poster, args=(s.address, f"{label}{t}")) for t in range(2) for label, s in (("a", server_a), ("b", server_b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert sorted(sequences(results)) == list(range(1, 41)), sorted(sequences(results))
    by_sequence = sorted(results, key=lambda m: int(m["sequence"]))
    with Http(server_a.address) as http_a, Http(server_b.address) as http_b:
        assert history(http_a, room, limit=100) == by_sequence
        assert history(http_b, room, limit=100) == by_sequence


# ---------------------------------------------------------------------------------------------
# SSE resumes on the other instance


@pytest.mark.parametrize("cursor_in", ["Last-Event-ID header", "lastEventId query parameter"])
def test_sse_cut_off_from_a_resumes_on_b_with_exactly_the_missed_messages(closing, server_a, server_b, http_a, http_b, room, cursor_in):
    on_a = sse(closing, server_a, room).wait_open()
    seen = [post(http_a, room, "one"), post(http_b, room, "two")]
    for expected in seen:
        id, message = on_a.next()
        assert id == expected["sequence"]
        assert_same(message, expected, "SSE on A")
    on_a.close()  # cut off

    missed = [post(http, room, f"missed {i}") for i, http in enumerate([http_a, http_b, http_a])]
    last_id = seen[-1]["sequence"]
    if cursor_in == "Last-Event-ID header":
        on_b = sse(closing, server_b, room, headers={"Last-Event-ID": last_id})
    else:
        on_b = sse(closing, server_b, room, lastEventId=last_id)
    on_b.wait_open()
    replayed = [on_b.next() for _ in missed]
    assert [id for id, _ in replayed] == ["3", "4", "5"], f"ids after Last-Event-ID {last_id}: {[id for id, _ in replayed]}"
    for (_, message), expected in zip(replayed, missed):
        assert_same(message, expected, "SSE resumed on B")

    live = post(http_a, room, "after the reconnect")
    id, message = on_b.next()
    assert id == "6", f"expected the live message (id 6) right after the replay, got id {id}: {message}"
    assert_same(message, live, "SSE resumed on B")
    on_b.quiet()


def test_sse_resuming_at_the_newest_message_replays_nothing_and_continues_live(closing, server_b, http_a, room):
    posted = [post(http_a, room, f"m{i}") for i in range(3)]
    on_b = sse(closing, server_b, room, headers={"Last-Event-ID": posted[-1]["sequence"]}).wait_open()
    on_b.quiet()
    live = post(http_a, room, "new")
    id, message = on_b.next()
    assert id == "4"
    assert_same(message, live, "SSE on B")


# ---------------------------------------------------------------------------------------------
# Every streaming protocol resumes after the last event id it saw, on either instance


class Resuming:
    """A Subscribe that names the last event id it saw, over one protocol. `next()` is
    (event id, message); `error()` the failure that ended it, as (gRPC code name, message)."""

    def __init__(self, closing, kind, server, room, last_event_id):
        self.kind, self.name = kind, f"{kind} on {server.address}"
        if kind == "websocket":
            self.socket = closing.enter_context(JsonSocket(f"ws://{server.address}/ws", "apigen.v1")).init({})
            self.socket.send({"type": "subscribe", "id": "1", "method": "chat.v1.Chat/Subscribe", "payload": {"room": room}, "lastEventId": last_event_id})
        elif kind == "graphql":
            self.socket = closing.enter_context(GraphQLSocket(server.address))
            self.socket.init()
            payload = {"query": CHAT_SUBSCRIBE, "variables": {"r": room}, "extensions": {"lastEventId": last_event_id}}
            self.socket.send({"id": "1", "type": "subscribe", "payload": payload})
        else:  # tRPC: the input's lastEventId, as httpSubscriptionLink sends it when it reconnects
            input = json.dumps({"room": room, "lastEventId": last_event_id})
            self.stream = Sse(server.address, f"/trpc/chat.subscribe?{urllib.parse.urlencode({'input': input})}")
            closing.callback(self.stream.close)
            assert self.stream.status == 200, f"{self.name}: HTTP {self.stream.status} {self.stream.body!r}"
            first = self.stream.block()
            assert first is not None and first.get("event") == "connected", f"{self.name}: expected `connected` first, got {first}"

    def _frame(self):
        if self.kind == "trpc":
            block = self.stream.block()
            assert block is not None, f"{self.name}: no event in {WAIT} s"
            return block
        frame = self.socket.take("1", WAIT)
        assert frame is not None, f"{self.name}: no frame in {WAIT} s; received: {self.socket.log}"
        return frame

    def next(self):
        frame = self._frame()
        if self.kind == "trpc":
            assert frame.get("event", "message") == "message", f"{self.name}: {frame}"
            assert "id" in frame, f"{self.name}: a tracked event without an id: {frame}"
            return frame["id"], json.loads(frame["data"])
        assert frame.get("type") == "next", f"{self.name}: expected next, got {frame}"
        if self.kind == "websocket":
            assert "eventId" in frame, f"{self.name}: a next frame without eventId: {frame}"
            return frame["eventId"], frame["payload"]
        payload = frame["payload"]
        assert not payload.get("errors"), f"{self.name}: {frame}"
        assert "eventId" in payload.get("extensions", {}), f"{self.name}: a payload without extensions.eventId: {frame}"
        return payload["extensions"]["eventId"], payload["data"]["subscribe"]

    def error(self):
        frame = self._frame()
        if self.kind == "trpc":
            assert frame.get("event") == "serialized-error", f"{self.name}: expected serialized-error, got {frame}"
            error = json.loads(frame["data"])
            return error["data"]["grpcCode"].upper(), error["message"]
        if self.kind == "websocket":
            assert frame.get("type") == "error", f"{self.name}: expected error, got {frame}"
            return frame["payload"]["code"].upper(), frame["payload"]["message"]
        errors = frame["payload"].get("errors") if frame.get("type") == "next" else frame.get("payload")
        assert errors, f"{self.name}: expected errors, got {frame}"
        return errors[0]["extensions"]["code"], errors[0]["message"]

    def quiet(self):
        if self.kind == "trpc":
            self.stream.quiet()
        else:
            frame = self.socket.take("1", QUIET)
            assert frame is None, f"{self.name}: expected nothing more, got {frame}"


RESUMING = ["websocket", "graphql", "trpc"]


@pytest.mark.parametrize("kind", RESUMING)
def test_every_streaming_protocol_resumes_on_b_after_the_last_event_id_it_saw_on_a(closing, server_a, server_b, http_a, http_b, room, kind):
    seen = [post(http_a, room, "one"), post(http_b, room, "two")]
    on_a = Resuming(closing, kind, server_a, room, "0")  # from the start: both are replayed
    for expected in seen:
        id, message = on_a.next()
        assert id == expected["sequence"], f"{kind}: event id {id} for message {expected['sequence']}"
        assert message["text"] == expected["text"]

    missed = [post(http, room, f"missed {i}") for i, http in enumerate([http_a, http_b, http_a])]
    on_b = Resuming(closing, kind, server_b, room, seen[-1]["sequence"])
    replayed = [on_b.next() for _ in missed]
    assert [id for id, _ in replayed] == ["3", "4", "5"], f"{kind}: ids after 2: {replayed}"
    assert [m["text"] for _, m in replayed] == [m["text"] for m in missed]
    live = post(http_b, room, "after the reconnect")
    id, message = on_b.next()
    assert (id, message["text"]) == ("6", live["text"]), f"{kind}: the live message right after the replay"
    on_b.quiet()


@pytest.mark.parametrize("kind", RESUMING)
def test_a_cursor_beyond_the_newest_message_is_out_of_range_on_every_streaming_protocol(closing, server_a, http_b, room, kind):
    posted = post(http_b, room, "only")
    beyond = str(int(posted["sequence"]) + 5)
    code, message = Resuming(closing, kind, server_a, room, beyond).error()
    assert code == "OUT_OF_RANGE" and beyond in message, f"{kind}: {code} {message!r}"


# ---------------------------------------------------------------------------------------------
# kill -9 loses nothing that was acknowledged


def test_kill_9_of_an_instance_loses_no_acknowledged_message(closing, redis, server_b, http_b, room):
    doomed = KillableChat(redis.url)
    closing.callback(doomed.close)
    with Http(doomed.address) as http:
        posted = [post(http, room, f"before the crash {i}") for i in range(20)]
    doomed.kill()
    assert doomed.process.returncode == -signal.SIGKILL

    assert sequences(posted) == list(range(1, 21))
    assert history(http_b, room) == posted

    replay = sse(closing, server_b, room, headers={"Last-Event-ID": "0"}).wait_open()
    for expected in posted:
        id, message = replay.next()
        assert id == expected["sequence"], f"replay from 0 on B: id {id}, expected {expected['sequence']}"
        assert_same(message, expected, "SSE on B")
    live = post(http_b, room, "after the crash")
    assert live["sequence"] == "21"
    id, message = replay.next()
    assert id == "21"
    assert_same(message, live, "SSE on B")


# ---------------------------------------------------------------------------------------------
# The reset signal


@pytest.mark.parametrize("cursor_in", ["Last-Event-ID header", "lastEventId query parameter"])
def test_a_cursor_beyond_the_newest_message_is_out_of_range_asking_to_subscribe_again(http_a, http_b, room, cursor_in):
    posted = [post(http_b, room, f"m{i}") for i in range(2)]
    beyond = str(int(posted[-1]["sequence"]) + 5)
    if cursor_in == "Last-Event-ID header":
        response = http_a.get(sse_path(room), headers={"accept": "text/event-stream", "last-event-id": beyond})
    else:
        response = http_a.get(sse_path(room, lastEventId=beyond), headers={"accept": "text/event-stream"})
    message = rest_error(response, 400, OUT_OF_RANGE, "without a cursor")
    assert beyond in message, f"the message should name the cursor {beyond}: {describe(response)}"


def test_a_last_event_id_no_stream_could_send_is_refused_in_the_query_too(http_a, room):
    # A newline cannot be in an event id (nor in a Last-Event-ID header): the query parameter is
    # refused as the header and the other protocols' lastEventId are, not silently ignored.
    response = http_a.get(sse_path(room, lastEventId="7\n8"), headers={"accept": "text/event-stream"})
    message = rest_error(response, 400, INVALID_ARGUMENT, "lastEventId")
    assert "visible ASCII" in message, describe(response)


def test_a_cursor_trimmed_away_gets_the_reset_signal(closing, pb, server_a, server_b, http_b, room):
    # The example keeps the newest 1,000 messages of a room (XADD MAXLEN); upload more than that.
    count = 1200
    with open_channel(server_a.address) as channel:
        requests = (pb.chat.PostMessageRequest(room=room, author="bulk", text=f"bulk {i}") for i in range(count))
        summary = pb.chat_grpc.ChatStub(channel).Upload(requests, timeout=30)
    assert summary.posted_count == count
    newest = history(http_b, room, limit=1)
    assert sequences(newest) == [count], f"the newest message on B: {newest}"

    stream = sse(closing, server_b, room, headers={"Last-Event-ID": "1"})
    if stream.status == 200:
        # The stream was accepted before the gap was found: it ends at once with the error.
        assert stream.wait_open()
        block = stream.block()
        assert block is not None, f"no event in {WAIT} s after resuming a trimmed cursor"
        assert block.get("event") == "end", f"expected `event: end` with OUT_OF_RANGE, not a replay with a gap: {block}"
        error = json.loads(block["data"])
        assert error.get("code") == "out_of_range", block
        assert "without a cursor" in error.get("message", ""), block
    else:
        assert stream.status == 400, f"{stream.describe()} -> HTTP {stream.status} {stream.body!r}"
        body = json.loads(stream.body)
        assert body.get("code") == OUT_OF_RANGE and "without a cursor" in body.get("message", ""), body

    fresh = sse(closing, server_b, room).wait_open()  # subscribing again without a cursor works
    live = post(http_b, room, "after the reset")
    id, message = fresh.next()
    assert id == str(count + 1)
    assert_same(message, live, "SSE after the reset")


# ---------------------------------------------------------------------------------------------
# Redis going away


@pytest.fixture
def private_redis():
    """A redis-server of this test's own, which it may stop and start."""
    with redis_server() as server:
        yield server


def post_until_accepted(http, room, text, seconds=WAIT):
    """Posts until the server accepts, for at most SECONDS; every refusal must be 503 UNAVAILABLE."""
    deadline = time.monotonic() + seconds
    refusals = []
    while True:
        response = http.post(f"/v1/{room}/messages", json={"author": "alice", "text": text})
        if response.status_code == 200:
            return ok(response), refusals
        rest_error(response, 503, UNAVAILABLE)
        refusals.append(response.json()["message"])
        assert time.monotonic() < deadline, f"posts were still refused {seconds} s after Redis came back: {refusals[-1]}"
        time.sleep(0.2)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_while_redis_is_down_posts_fail_with_unavailable_and_recover_when_it_is_back(closing, launch, private_redis, unique, how):
    a = launch("chat-example", "--redis", private_redis.url)
    b = launch("chat-example", "--redis", private_redis.url)
    http_a, http_b = closing.enter_context(Http(a.address)), closing.enter_context(Http(b.address))
    room = f"rooms/{unique}"
    assert post(http_a, room, "before the outage")["sequence"] == "1"

    private_redis.stop(how)
    for attempt in range(2):
        started = time.monotonic()
        response = http_a.post(f"/v1/{room}/messages", json={"author": "alice", "text": f"during the outage {attempt}"})
        took = time.monotonic() - started
        rest_error(response, 503, UNAVAILABLE)
        assert took < 5, f"refusing a post took {took:.1f} s"

    private_redis.start()
    first, _ = post_until_accepted(http_a, room, "back again")
    second, _ = post_until_accepted(http_b, room, "back again on B")
    assert int(second["sequence"]) == int(first["sequence"]) + 1  # one shared sequence again

    subscribers = [sse(closing, server, room).wait_open() for server in (a, b)]
    live = post(http_a, room, "heard on both")
    for stream, where in zip(subscribers, "AB"):
        id, message = stream.next()
        assert id == live["sequence"]
        assert_same(message, live, f"SSE on {where} after the outage")


def test_dropped_redis_connections_are_retried_so_posts_and_subscribers_do_not_notice(closing, launch, private_redis, unique):
    a = launch("chat-example", "--redis", private_redis.url)
    b = launch("chat-example", "--redis", private_redis.url)
    http_a, http_b = closing.enter_context(Http(a.address)), closing.enter_context(Http(b.address))
    room = f"rooms/{unique}"
    listener = sse(closing, b, room).wait_open()
    before = post(http_a, room, "before the drop")
    assert listener.next()[0] == before["sequence"]

    # Redis stays up; only the connections of both servers are closed under them.
    killed = private_redis.command("CLIENT", "KILL", "TYPE", "normal")
    assert killed >= 2, f"expected to drop the servers' connections, dropped {killed}"

    accepted = [before]
    for i, (http, where) in enumerate([(http_b, "B"), (http_a, "A"), (http_b, "B"), (http_a, "A")]):
        response = http.post(f"/v1/{room}/messages", json={"author": "alice", "text": f"after the drop {i}"})
        assert response.status_code == 200, f"post {i} on {where}, Redis up, its connection dropped: {describe(response)}"
        accepted.append(ok(response))
    assert sequences(accepted) == list(range(1, 6)), f"acknowledged posts: {sequences(accepted)}"
    assert history(http_a, room) == accepted
    assert history(http_b, room) == accepted
    for expected in accepted[1:]:
        id, message = listener.next()
        assert id == expected["sequence"], f"the subscriber on B got id {id}, expected {expected['sequence']}"
        assert_same(message, expected, "SSE on B across the drop")


# ---------------------------------------------------------------------------------------------
# Subscribing while others post


@pytest.mark.parametrize("kind", ["sse", "grpc"])
def test_subscribing_while_messages_are_being_posted_delivers_them_without_a_reset(closing, pb, server_a, server_b, room, kind):
    stop, errors = threading.Event(), []

    def keep_posting():
        try:
            with Http(server_a.address) as http:
                i = 0
                while not stop.is_set():
                    post(http, room, f"busy {i}")
                    i += 1
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    poster = threading.Thread(target=keep_posting, daemon=True)
    poster.start()
    try:
        for attempt in range(20):
            with contextlib.ExitStack() as stack:
                subscriber = subscribe(stack, pb, kind, server_b, room, f"{kind} subscriber {attempt} on B")
                got = [next_message(subscriber) for _ in range(3)]
                assert sequences(got) == list(range(sequences(got)[0], sequences(got)[0] + 3)), f"{subscriber.name}: {sequences(got)}"
    finally:
        stop.set()
        poster.join(timeout=WAIT)
    assert not errors, errors


# ---------------------------------------------------------------------------------------------
# What subscribers leave behind


def reader_connections(redis):
    """How many connections to REDIS tail a stream (their last command is XREAD): one per room a server reads."""
    clients = redis.command("CLIENT", "LIST").decode().splitlines()
    return sum(" cmd=xread " in f" {line} " for line in clients)


def wait_for(condition, what, seconds=WAIT):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what}: still not so after {seconds} s"
        time.sleep(0.02)


def test_subscribers_of_made_up_rooms_leave_no_reader_connection_and_no_key_behind(pb, launch, private_redis, unique):
    server = launch("chat-example", "--redis", private_redis.url)
    rooms = [f"rooms/{unique}-made-up-{i}" for i in range(20)]
    with contextlib.ExitStack() as subscriptions:
        for room in rooms:
            GrpcSubscriber(subscriptions, pb, server, room, f"gRPC subscriber of {room}")
        wait_for(lambda: reader_connections(private_redis) == len(rooms), "one reader connection per room")
    # Every call was cancelled: each room's last subscriber left, which stops its reader and closes
    # its connection at once, not when the reader's XREAD BLOCK (2 s) next returns.
    wait_for(lambda: reader_connections(private_redis) == 0, "no reader connection once the subscribers left", 1.5)
    assert private_redis.command("KEYS", "apigen:topic:*") == [], "subscribing wrote nothing to Redis"
