"""Graceful shutdown: SIGTERM to chat-example while clients are connected. Every server stream ends
with its protocol's own end signal (gRPC status UNAVAILABLE, Connect's end-of-stream message with
`unavailable`, GraphQL's `next` with an UNAVAILABLE error then `complete`, apigen.v1's `error`
frame then close code 1001, tRPC's `serialized-error` SERVICE_UNAVAILABLE; SSE just ends, without
`event: end`, so that EventSource reconnects and resumes with Last-Event-ID); calls in flight
complete; new connections are refused; gRPC health turns NOT_SERVING; and the process exits 0.

Each test starts its own server, since each one shuts it down."""

import codecs
import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import threading
import time
import urllib.parse

import grpc
import pytest
import requests
import urllib3
from google.protobuf import json_format
from websockets.exceptions import ConnectionClosed

from conftest import running
from support import RequestStream, open_channel, wait_until_open
from test_fanout import assert_same, attach
from test_graphql import CHAT_SUBSCRIBE, POST_MESSAGE
from test_graphql import Socket as GraphQLSocket
from test_websocket import Socket as WsSocket

WAIT = 10.0  # the longest any single wait may take; also the budget from SIGTERM to every end and to the exit
SHUTTING_DOWN = "shutting down"  # what every UNAVAILABLE on shutdown says


# ---------------------------------------------------------------------------------------------
# A server of the test's own, which the test stops


class _StoppedByTheTest(Exception):
    """Thrown into conftest's `running` when the test itself made the server exit, so that its
    teardown does not report the exit as a crash ("exited on its own during the tests")."""


@contextlib.contextmanager
def own_server():
    """A chat-example server for one test (conftest's `running`), which the test shuts down.
    (Not `launch`: its teardown fails every test whose server is no longer running.)"""
    context = running("chat-example")
    started = context.__enter__()
    try:
        yield started
    finally:
        if started.process.poll() is not None:
            context.__exit__(_StoppedByTheTest, _StoppedByTheTest(), None)  # only closes its files
        else:
            context.__exit__(None, None, None)  # SIGTERM, then SIGKILL after 10 s


# The server installs its SIGTERM handler only once a task it spawns when it starts serving has run,
# which may be after it has said it is listening and even after it has answered a request; a
# SIGTERM before that kills it (status -15). See test_sigterm_right_after_the_server_says_....
HANDLER_GRACE = 0.5


@pytest.fixture
def server():
    """A server that answers requests and has had HANDLER_GRACE seconds more to install its handler."""
    with own_server() as started:
        with requests.Session() as http:
            http.trust_env = False
            response = http.get(f"http://{started.address}/healthz", timeout=WAIT)
        assert response.status_code == 200, f"GET /healthz -> {response.status_code} {response.text!r}"
        time.sleep(HANDLER_GRACE)
        yield started


@pytest.fixture
def just_started():
    """A server whose `listening on …` line has just been read."""
    with own_server() as started:
        yield started


@pytest.fixture
def closing():
    """An ExitStack for the test's streams and sockets: whatever a test opens is closed after it."""
    with contextlib.ExitStack() as stack:
        yield stack


@pytest.fixture
def room(unique):
    return f"rooms/{unique}"


def sigterm(server):
    """SIGTERM to the server's process group (as conftest's `_stop` does); the moment it was sent."""
    os.killpg(server.process.pid, signal.SIGTERM)
    return time.monotonic()


def exit_status(server, by):
    """The server's exit status, waiting for it until monotonic time BY; fails when it has not exited."""
    try:
        return server.process.wait(timeout=max(0.0, by - time.monotonic()))
    except subprocess.TimeoutExpired:
        pytest.fail(f"the server had not exited {WAIT:.0f} s after SIGTERM\n{server.output()}")


def host_port(address):
    host, port = address.rsplit(":", 1)
    return host, int(port)


def connect_outcome(address):
    """What a new TCP connection to ADDRESS gets: "connected" or the name of the error."""
    try:
        socket.create_connection(host_port(address), timeout=2).close()
        return "connected"
    except OSError as err:
        return type(err).__name__


def wait_until_refused(server):
    """Once the server got SIGTERM: waits (bounded) until a new TCP connection is refused, and
    returns how long that took; fails when connections are still accepted after WAIT seconds."""
    started = time.monotonic()
    outcomes = []
    while time.monotonic() - started < WAIT:
        outcomes.append(connect_outcome(server.address))
        if outcomes[-1] == "ConnectionRefusedError":
            return time.monotonic() - started
        time.sleep(0.02)
    pytest.fail(f"new connections were not refused within {WAIT:.0f} s of SIGTERM: {outcomes[-5:]}")


# ---------------------------------------------------------------------------------------------
# Raw HTTP/1.1: streamed responses read by a thread, and requests sent in two parts


class RawResponse:
    """One HTTP/1.1 request over its own socket; the response's status line and headers are read
    at once, its body (chunked or not) as it arrives. `ending` says how the body ended: "complete"
    (the last chunk, the whole Content-Length, or the close that delimits the body), else "cut: …"."""

    def __init__(self, address, method, path, headers=None, body=b""):
        self.describe = f"{method} {path}"
        self.sock = socket.create_connection(host_port(address), timeout=WAIT)
        lines = [f"{method} {path} HTTP/1.1", f"Host: {address}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        self.file = self.sock.makefile("rb")
        status_line = self.file.readline().decode(errors="replace")
        assert status_line.startswith("HTTP/1.1 "), f"{self.describe}: not an HTTP/1.1 response: {status_line!r}"
        self.status = int(status_line.split()[1])
        self.headers = {}
        while (line := self.file.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode(errors="replace").partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self.ending = None
        self.sock.settimeout(60)  # a reader thread outlives no test by much

    def chunks(self):
        """The body's bytes as they come; sets `ending`."""
        try:
            if "chunked" in self.headers.get("transfer-encoding", ""):
                while True:
                    line = self.file.readline()
                    if not line.endswith(b"\n"):
                        self.ending = "cut: the connection closed between chunks"
                        return
                    size = int(line.split(b";")[0].strip(), 16)
                    if size == 0:
                        while (trailer := self.file.readline()) not in (b"\r\n", b"\n"):
                            if trailer == b"":
                                self.ending = "cut: the connection closed in the trailers"
                                return
                        self.ending = "complete"
                        return
                    data = self.file.read(size)
                    if len(data) < size:
                        yield data
                        self.ending = f"cut: {len(data)} of a {size}-byte chunk"
                        return
                    yield data
                    self.file.readline()
            elif "content-length" in self.headers:
                size = int(self.headers["content-length"])
                data = self.file.read(size)
                yield data
                self.ending = "complete" if len(data) == size else f"cut: {len(data)} of {size} bytes"
            else:
                while data := self.file.read1(65536):
                    yield data
                self.ending = "complete"
        except (OSError, ValueError) as err:
            self.ending = f"cut: {type(err).__name__}: {err}"

    def close(self):
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def sse_blocks(response):
    """The event blocks (dicts of their fields; comments dropped) of a text/event-stream body."""
    buffer, block, decoder = "", {}, codecs.getincrementaldecoder("utf-8")()
    for chunk in response.chunks():
        buffer += decoder.decode(chunk)
        *complete, buffer = buffer.replace("\r\n", "\n").split("\n")
        for line in complete:
            if line == "":
                if block:
                    yield block
                block = {}
            elif not line.startswith(":"):
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                block[field] = block[field] + "\n" + value if field == "data" and "data" in block else value


def connect_envelopes(response):
    """The envelopes (flags, JSON) of a Connect streaming body: 1 flag byte, 4 length bytes, the message."""
    buffer = b""
    for chunk in response.chunks():
        buffer += chunk
        while len(buffer) >= 5 and len(buffer) >= 5 + int.from_bytes(buffer[1:5], "big"):
            size = int.from_bytes(buffer[1:5], "big")
            flags, data, buffer = buffer[0], buffer[5 : 5 + size], buffer[5 + size :]
            yield flags, json.loads(data)
    if buffer:
        yield "leftover", buffer  # a partial envelope at the end of the body


def envelope(message):
    data = json.dumps(message).encode()
    return b"\x00" + len(data).to_bytes(4, "big") + data


class HeldRequest:
    """A unary HTTP/1.1 request sent in two parts: the headers and part of the body now, so that the
    server is in the middle of the call, and the rest on `finish()`, which returns the response as
    (status, headers, body bytes, what came after the body)."""

    def __init__(self, address, path, body, headers=None):
        self.sock = socket.create_connection(host_port(address), timeout=WAIT)
        head = [f"POST {path} HTTP/1.1", f"Host: {address}", f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        data = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        cut = len(data) - len(body) + len(body) // 2
        self.sock.sendall(data[:cut])
        self.rest = data[cut:]

    def finish(self):
        self.sock.sendall(self.rest)
        file = self.sock.makefile("rb")
        status_line = file.readline().decode(errors="replace")
        assert status_line.startswith("HTTP/1.1 "), f"the call in flight got no response, only {status_line!r}"
        headers = {}
        while (line := file.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode(errors="replace").partition(":")
            headers[name.strip().lower()] = value.strip()
        assert "content-length" in headers, f"expected a Content-Length: {status_line} {headers}"
        size = int(headers["content-length"])
        body = file.read(size)
        assert len(body) == size, f"the body was cut short: {len(body)} of {size} bytes: {body!r}"
        try:
            after = file.read()  # up to the close (bounded by the socket's timeout)
        except OSError as err:
            after = err
        return int(status_line.split()[1]), headers, body, after

    def close(self):
        self.sock.close()


# ---------------------------------------------------------------------------------------------
# Subscribers, one per protocol: a thread reads each into a queue of ("item", x) and one final
# ("end", how), so that every wait is bounded and all of them can be waited for at once.


class Subscriber:
    def __init__(self, name):
        self.name = name
        self._queue = queue.Queue()
        self.log = []  # every item received, for failure messages
        self.how = None  # how the stream ended, once it has

    def start(self, read):
        def run():
            try:
                read()
            except BaseException as err:  # noqa: BLE001 - a reader's failure is how its stream ended
                self._queue.put(("end", f"the reader failed: {type(err).__name__}: {err}"))

        threading.Thread(target=run, daemon=True).start()

    def put(self, item):
        self._queue.put(("item", item))

    def end(self, how):
        self._queue.put(("end", how))

    def get(self, timeout):
        """("item", x), ("end", how), or None when nothing comes in TIMEOUT seconds."""
        if self.how is not None:
            return "end", self.how
        try:
            kind, value = self._queue.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None
        if kind == "end":
            self.how = value
        else:
            self.log.append(value)
        return kind, value

    def message(self, item):
        """The chat message ITEM carries (proto3 JSON), None for an item to skip; fails on anything else."""
        raise NotImplementedError

    def poll(self, timeout):
        """The next chat message, or None when none comes in TIMEOUT seconds (test_fanout's `attach`)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            got = self.get(left)
            if got is None:
                return None
            kind, value = got
            assert kind == "item", f"{self.name}: the stream ended ({value}) while live; received: {self.log[-10:]}"
            message = self.message(value)
            if message is not None:
                return message
        return None

    def finished(self, items):
        """True when ITEMS (received after SIGTERM) complete the end signal even though the
        connection stays open (GraphQL's `complete` on a socket that may carry other operations)."""
        return False

    def rest(self, by):
        """What arrives from now until the stream ends (or FINISHED says so), at the latest at monotonic
        time BY: (items, how), HOW None when the stream had not ended by then."""
        items = []
        while (left := by - time.monotonic()) > 0:
            got = self.get(left)
            if got is None:
                break
            kind, value = got
            if kind == "end":
                return items, value
            items.append(value)
            if self.finished(items):
                return items, "finished"
        return items, None


class GrpcSubscriber(Subscriber):
    """grpc: chat.v1.Chat/Subscribe; ends with ("status", CODE, details)."""

    def __init__(self, closing, pb, server, room):
        super().__init__("gRPC Subscribe")
        channel = closing.enter_context(open_channel(server.address))
        self.call = pb.chat_grpc.ChatStub(channel).Subscribe(pb.chat.SubscribeRequest(room=room), timeout=40)
        closing.callback(self.call.cancel)
        wait_until_open(self.call)
        self.start(self._read)

    def _read(self):
        try:
            for message in self.call:
                self.put(json_format.MessageToDict(message))
        except grpc.RpcError as err:
            self.end(("status", err.code().name, err.details()))
            return
        self.end(("status", "OK", ""))

    def message(self, item):
        return item


class ConnectSubscriber(Subscriber):
    """Connect streaming, JSON: POST /chat.v1.Chat/Subscribe with one enveloped request; items are
    the response envelopes (flags, JSON); ends with how the body ended."""

    def __init__(self, closing, server, room):
        super().__init__("Connect streaming")
        self.response = RawResponse(
            server.address, "POST", "/chat.v1.Chat/Subscribe",
            headers={"Content-Type": "application/connect+json"}, body=envelope({"room": room}),
        )  # fmt: skip
        closing.callback(self.response.close)
        assert self.response.status == 200, f"{self.name}: HTTP {self.response.status} {self.response.headers}"
        kind = self.response.headers.get("content-type", "")
        assert kind == "application/connect+json", f"{self.name}: content-type {kind!r}"
        self.start(self._read)

    def _read(self):
        for item in connect_envelopes(self.response):
            self.put(item)
        self.end(self.response.ending)

    def message(self, item):
        flags, data = item
        assert flags == 0, f"{self.name}: expected a message envelope, got flags {flags}: {data}"
        return data


class SseSubscriber(Subscriber):
    """SSE: GET /sse/chat.v1.Chat/Subscribe?room=…; items are the event blocks; ends with how the body ended."""

    def __init__(self, closing, server, room):
        super().__init__("SSE")
        path = "/sse/chat.v1.Chat/Subscribe?" + urllib.parse.urlencode({"room": room})
        self.response = RawResponse(server.address, "GET", path, headers={"Accept": "text/event-stream"})
        closing.callback(self.response.close)
        assert self.response.status == 200, f"{self.name}: HTTP {self.response.status} {self.response.headers}"
        self.start(self._read)

    def _read(self):
        for block in sse_blocks(self.response):
            self.put(block)
        self.end(self.response.ending)

    def message(self, block):
        if "data" not in block:
            assert set(block) <= {"retry", "id"}, f"{self.name}: unexpected block {block}"
            return None  # `retry:` first
        assert block.get("event", "message") == "message", f"{self.name}: the stream ended while live: {block}"
        message = json.loads(block["data"])
        assert block.get("id") == message["sequence"], f"{self.name}: event id {block.get('id')} for {message}"
        return message


class TrpcSubscriber(Subscriber):
    """tRPC: GET /trpc/chat.subscribe?input=… as httpSubscriptionLink opens it (SSE)."""

    def __init__(self, closing, server, room):
        super().__init__("tRPC subscription")
        path = "/trpc/chat.subscribe?" + urllib.parse.urlencode({"input": json.dumps({"room": room})})
        self.response = RawResponse(server.address, "GET", path, headers={"Accept": "text/event-stream"})
        closing.callback(self.response.close)
        assert self.response.status == 200, f"{self.name}: HTTP {self.response.status} {self.response.headers}"
        self.start(self._read)

    def _read(self):
        for block in sse_blocks(self.response):
            self.put(block)
        self.end(self.response.ending)

    def message(self, block):
        if block.get("event") == "connected":
            return None
        assert "event" not in block and "data" in block, f"{self.name}: expected a data event, got {block}"
        return json.loads(block["data"])


class WebSocketReader(Subscriber):
    """A thread that reads a WebSocket (answering pings); ends with ("closed", code, reason), code
    None when the connection ended without a close frame."""

    def read_socket(self, ws):
        while True:
            try:
                raw = ws.recv(timeout=60)
            except TimeoutError:
                continue
            except ConnectionClosed as closed:
                rcvd = closed.rcvd
                self.end(("closed", rcvd.code if rcvd else None, rcvd.reason if rcvd else str(closed)))
                return
            message = json.loads(raw)
            if message.get("type") == "ping":
                ws.send(json.dumps({"type": "pong"}))
                continue
            self.put(message)


class GraphQLSubscriber(WebSocketReader):
    """GraphQL: `subscription { subscribe(room:) }` over /graphql/ws (graphql-transport-ws)."""

    ID = "chat"

    def __init__(self, closing, server, room):
        super().__init__("GraphQL subscription")
        self.socket = closing.enter_context(GraphQLSocket(server.address))
        self.socket.init()
        self.socket.subscribe(self.ID, CHAT_SUBSCRIBE, {"r": room})
        self.start(lambda: self.read_socket(self.socket.ws))

    def message(self, item):
        assert item.get("id") == self.ID and item.get("type") == "next", f"{self.name}: expected next, got {item}"
        assert not item["payload"].get("errors"), f"{self.name}: {item}"
        return item["payload"]["data"]["subscribe"]

    def finished(self, items):
        return items[-1] == {"id": self.ID, "type": "complete"}


class WsSubscriber(WebSocketReader):
    """WebSocket apigen.v1 (/ws): subscribe to chat.v1.Chat/Subscribe."""

    def __init__(self, closing, server, room):
        super().__init__("WebSocket apigen.v1")
        self.socket = closing.enter_context(WsSocket(server.address))
        self.socket.init()
        self.id = self.socket.subscribe("chat.v1.Chat/Subscribe", {"room": room})
        self.start(lambda: self.read_socket(self.socket.ws))

    def message(self, item):
        assert item.get("id") == self.id and item.get("type") == "next", f"{self.name}: expected next, got {item}"
        return item["payload"]


# ---------------------------------------------------------------------------------------------
# The end signal each protocol must give on shutdown; each returns a failure, or None


def unavailable_message(message, who):
    if not isinstance(message, str) or SHUTTING_DOWN not in message:
        return f"{who}: expected a message saying the server is {SHUTTING_DOWN}, got {message!r}"
    return None


def grpc_end(s, items, how):
    if items:
        return f"{s.name}: expected no more messages, got {items}"
    if how is None or how[:2] != ("status", "UNAVAILABLE"):
        return f"{s.name}: expected status UNAVAILABLE, the stream ended with {how}"
    return unavailable_message(how[2], s.name)


def connect_end(s, items, how):
    if not items or items[-1][0] != 0x02:
        return f"{s.name}: expected an end-of-stream envelope (flags 0x02) last; got {items}, then {how}"
    if items[:-1]:
        return f"{s.name}: expected nothing but the end-of-stream envelope, got {items}"
    error = items[-1][1].get("error")
    if not isinstance(error, dict) or error.get("code") != "unavailable":
        return f"{s.name}: expected an end-of-stream message with error code `unavailable`, got {items[-1][1]}"
    if how != "complete":
        return f"{s.name}: the body did not end properly after the end-of-stream message: {how}"
    return unavailable_message(error.get("message"), s.name)


def graphql_end(s, items, how):
    id = GraphQLSubscriber.ID
    if len(items) != 2 or items[1] != {"id": id, "type": "complete"}:
        return f"{s.name}: expected a `next` with the error and then `complete`, got {items} (then {how})"
    first = items[0]
    if first.get("id") != id or first.get("type") != "next":
        return f"{s.name}: expected `next` with the error first, got {first}"
    errors = first["payload"].get("errors") or []
    if first["payload"].get("data") is not None or len(errors) != 1:
        return f"{s.name}: expected one error and no data, got {first}"
    if (errors[0].get("extensions") or {}).get("code") != "UNAVAILABLE":
        return f"{s.name}: expected extensions.code UNAVAILABLE, got {errors[0]}"
    return unavailable_message(errors[0].get("message"), s.name)


def ws_end(s, items, how):
    if len(items) != 1:
        return f"{s.name}: expected exactly one `error` frame, got {items} (then {how})"
    frame = items[0]
    if frame.get("type") != "error" or frame.get("id") != s.id or (frame.get("payload") or {}).get("code") != "unavailable":
        return f"{s.name}: expected an `error` frame for {s.id} with code `unavailable`, got {frame}"
    if how is None or how[:2] != ("closed", 1001):
        return f"{s.name}: expected the socket to close with 1001 after the error, got {how}"
    return unavailable_message(frame["payload"].get("message"), s.name)


def trpc_end(s, items, how):
    if len(items) != 1 or items[0].get("event") != "serialized-error":
        return f"{s.name}: expected exactly one `serialized-error` event, got {items} (then {how})"
    error = json.loads(items[0]["data"])
    data = error.get("data") or {}
    expected = {"code": "SERVICE_UNAVAILABLE", "httpStatus": 503, "grpcCode": "unavailable", "path": "chat.subscribe"}
    if {k: data.get(k) for k in expected} != expected or error.get("code") != -32603:
        return f"{s.name}: expected SERVICE_UNAVAILABLE (-32603, 503, unavailable, chat.subscribe), got {error}"
    if how != "complete":
        return f"{s.name}: the body did not end properly after the serialized-error: {how}"
    return unavailable_message(error.get("message"), s.name)


def sse_end(s, items, how):
    if any(block.get("event") == "end" for block in items):
        return f"{s.name}: an `event: end` arrived, which tells EventSource clients not to reconnect: {items}"
    if items:
        return f"{s.name}: expected the stream to end with nothing more, got {items}"
    if how is None:
        return f"{s.name}: the stream did not end"
    if how != "complete":
        return f"{s.name}: the response did not end properly: {how}"
    return None


# ---------------------------------------------------------------------------------------------
# 1. Every kind of stream ends with its protocol's end signal


def test_sigterm_ends_every_protocols_stream_with_its_end_signal_and_exits_0(closing, pb, server, room):
    subscribers = [
        (GrpcSubscriber(closing, pb, server, room), grpc_end),
        (ConnectSubscriber(closing, server, room), connect_end),
        (GraphQLSubscriber(closing, server, room), graphql_end),
        (WsSubscriber(closing, server, room), ws_end),
        (TrpcSubscriber(closing, server, room), trpc_end),
        (SseSubscriber(closing, server, room), sse_end),
    ]
    http = requests.Session()
    http.trust_env = False
    closing.callback(http.close)
    base = f"http://{server.address}"

    def post_one(text):
        response = http.post(f"{base}/v1/{room}/messages", json={"author": "alice", "text": text}, timeout=WAIT)
        assert response.status_code == 200, f"posting failed: {response.status_code} {response.text!r}"
        return response.json()

    # Live: each subscriber receives the warm-ups from some point on, then the one message below.
    attach([s for s, _ in subscribers], post_one)
    live = post_one("the last message before SIGTERM")
    for s, _ in subscribers:
        got = s.poll(WAIT)
        assert got is not None, f"{s.name} did not receive the message posted before SIGTERM"
        assert_same(got, live, s.name)
    http.close()  # its idle keep-alive connection must not matter either way

    sent = sigterm(server)
    by = sent + WAIT
    outcomes, failures = {}, []
    for s, check in subscribers:
        items, how = s.rest(by)
        outcomes[s.name] = (round(time.monotonic() - sent, 2), items, how)
        if (problem := check(s, items, how)) is not None:
            failures.append(problem)
    assert not failures, "\n".join(failures) + f"\n(seconds after SIGTERM, items, ending): {outcomes}"

    status = exit_status(server, by)
    took = time.monotonic() - sent
    assert status == 0, f"the server exited with status {status}\n{server.output()}"
    print(f"\nstreams ended after (s, items, ending): {outcomes}; the process exited 0 after {took:.2f} s")


# ---------------------------------------------------------------------------------------------
# 2. New connections are refused, while shutting down and after


def test_while_a_call_in_flight_holds_the_server_new_connections_are_refused(server, room):
    held = HeldRequest(server.address, f"/v1/{room}/messages", json.dumps({"author": "alice", "text": "held"}).encode())
    try:
        time.sleep(0.3)  # the server is reading the body: the call is in flight
        sent = sigterm(server)
        took = wait_until_refused(server)
        assert server.process.poll() is None, "the server exited with a call in flight"
        # From then on, every new connection and every new request is refused.
        outcomes = [connect_outcome(server.address) for _ in range(5)]
        assert outcomes == ["ConnectionRefusedError"] * 5, outcomes
        with requests.Session() as http, pytest.raises(requests.ConnectionError) as refused:
            http.trust_env = False
            http.get(f"http://{server.address}/healthz", timeout=WAIT)
        assert "refused" in str(refused.value).lower(), f"expected the request to be refused: {refused.value}"
        assert server.process.poll() is None, "the server exited with a call in flight"
        status, headers, body, after = held.finish()
    finally:
        held.close()
    assert status == 200, (status, headers, body)
    assert json.loads(body)["text"] == "held", body
    assert headers.get("connection", "").lower() == "close", f"the connection was kept alive while shutting down: {headers}"
    assert after == b"", f"expected the server to close the connection after the response, got {after!r}"
    assert exit_status(server, sent + WAIT) == 0
    print(f"\nnew connections refused {took:.3f} s after SIGTERM")


def test_after_the_server_exits_a_connection_to_its_port_is_refused(server):
    sent = sigterm(server)
    assert exit_status(server, sent + WAIT) == 0, server.output()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(host_port(server.address), timeout=2).close()


def test_sigterm_right_after_the_server_says_it_is_listening_shuts_it_down_gracefully(just_started):
    """`listening on http://…` tells a supervisor the server is up; a SIGTERM from then on must be a
    graceful shutdown (exit 0), not the signal's default action (killed, status -15)."""
    sent = sigterm(just_started)
    status = exit_status(just_started, sent + WAIT)
    assert status == 0, (
        f"the server exited with status {status}"
        + (" (killed by SIGTERM: its handler was not installed yet when it said it was listening)" if status == -signal.SIGTERM else "")
    )


# ---------------------------------------------------------------------------------------------
# 3. Calls in flight complete


def held_call(kind, room):
    """(path, body, headers, how to find the posted text in the JSON response) of a unary PostMessage."""
    if kind == "REST":
        return f"/v1/{room}/messages", {"author": "alice", "text": "in flight"}, {}, lambda r: r["text"]
    if kind == "Connect":
        headers = {"Connect-Protocol-Version": "1"}
        return "/chat.v1.Chat/PostMessage", {"room": room, "author": "alice", "text": "in flight"}, headers, lambda r: r["text"]
    if kind == "tRPC":
        return "/trpc/chat.postMessage", {"room": room, "author": "alice", "text": "in flight"}, {}, lambda r: r["result"]["data"]["text"]
    variables = {"r": room, "a": "alice", "t": "in flight"}
    return "/graphql", {"query": POST_MESSAGE, "variables": variables}, {}, lambda r: r["data"]["postMessage"]["text"]


@pytest.mark.parametrize("kind", ["REST", "Connect", "tRPC", "GraphQL"])
def test_a_unary_call_in_flight_at_sigterm_completes(server, room, kind):
    path, body, headers, text_of = held_call(kind, room)
    held = HeldRequest(server.address, path, json.dumps(body).encode(), {"Content-Type": "application/json", **headers})
    try:
        time.sleep(0.3)  # the server is reading the body: the call is in flight
        sent = sigterm(server)
        wait_until_refused(server)  # the shutdown has begun
        assert server.process.poll() is None, "the server exited with a call in flight"
        status, response_headers, response_body, _ = held.finish()
    finally:
        held.close()
    assert status == 200, f"{kind}: HTTP {status} {response_headers} {response_body!r}"
    assert text_of(json.loads(response_body)) == "in flight", response_body
    assert exit_status(server, sent + WAIT) == 0


def test_a_grpc_upload_in_flight_at_sigterm_completes(pb, server, room):
    message = lambda i: pb.chat.PostMessageRequest(room=room, author="alice", text=f"upload {i}")  # noqa: E731
    with open_channel(server.address) as channel, RequestStream(message(0), message(1), give_up_after=30) as requests_:
        future = pb.chat_grpc.ChatStub(channel).Upload.future(iter(requests_), timeout=20)
        try:
            time.sleep(0.3)  # the call is open and its first messages are on their way
            sent = sigterm(server)
            wait_until_refused(server)
            assert server.process.poll() is None, "the server exited with a call in flight"
            for i in range(2, 5):
                requests_.send(message(i))
            requests_.close()
            try:
                summary = future.result(timeout=WAIT)
            except grpc.RpcError as err:
                pytest.fail(f"the Upload in flight failed with {err.code().name}: {err.details()!r}")
        finally:
            future.cancel()
    assert summary.posted_count == 5, summary
    assert exit_status(server, sent + WAIT) == 0


def connection_error_kind(err):
    """"refused" for a connection refused, else the name of the innermost error (RemoteDisconnected:
    the connection closed before any response; ConnectionResetError…)."""
    cause = err.args[0] if err.args else err
    cause = getattr(cause, "reason", None) or cause  # urllib3's MaxRetryError
    if isinstance(cause, urllib3.exceptions.ProtocolError) and len(cause.args) > 1:
        cause = cause.args[1]  # ('Connection aborted.', RemoteDisconnected(…))
    if isinstance(cause, ConnectionRefusedError) or "refused" in str(cause).lower():
        return "refused"
    return type(cause).__name__


def test_unary_calls_under_load_at_sigterm_complete_or_are_refused_never_cut_short(server, room):
    """50 clients post in a loop when SIGTERM arrives: each request completes (200 and the whole
    JSON body) or fails to connect or has its connection closed before any response (and then did
    not run); none gets a 5xx, a truncated body or no answer at all."""
    stop = threading.Event()
    sent_at = []  # when SIGTERM was sent, once it has been
    lock = threading.Lock()
    counts = {"completed before SIGTERM": 0, "in flight at SIGTERM and completed": 0, "sent after SIGTERM and completed": 0}
    connection_errors, bad, sequences = {}, [], []

    def client(n):
        http = requests.Session()
        http.trust_env = False
        i = 0
        try:
            while not stop.is_set():
                i += 1
                text = f"client {n} message {i}"
                started = time.monotonic()
                try:
                    response = http.post(f"http://{server.address}/v1/{room}/messages", json={"author": f"c{n}", "text": text}, timeout=WAIT)
                except requests.ConnectionError as err:
                    kind = connection_error_kind(err)
                    with lock:
                        connection_errors[kind] = connection_errors.get(kind, 0) + 1
                    if kind == "refused":
                        return  # the server no longer accepts
                    http.close()
                    http = requests.Session()
                    http.trust_env = False
                    continue
                except requests.RequestException as err:
                    with lock:
                        bad.append(f"{text}: {type(err).__name__}: {err}")
                    return
                try:
                    body = response.json()
                except ValueError:
                    body = None
                if response.status_code != 200 or not isinstance(body, dict) or body.get("text") != text:
                    with lock:
                        bad.append(f"{text}: HTTP {response.status_code} {response.text[:300]!r}")
                    return
                ended = time.monotonic()
                with lock:
                    sequences.append(int(body["sequence"]))
                    if not sent_at or ended < sent_at[0]:
                        counts["completed before SIGTERM"] += 1
                    elif started < sent_at[0]:
                        counts["in flight at SIGTERM and completed"] += 1
                    else:
                        counts["sent after SIGTERM and completed"] += 1
        finally:
            http.close()

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(50)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + WAIT
        while counts["completed before SIGTERM"] < 200 and time.monotonic() < deadline and not bad:
            time.sleep(0.01)
        assert counts["completed before SIGTERM"] >= 200, f"the clients were not posting: {counts} {bad[:5]}"
        with lock:
            sent = sigterm(server)
            sent_at.append(sent)
        status = exit_status(server, sent + WAIT)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=WAIT + 1)
    assert not any(t.is_alive() for t in threads), "a client is still waiting for an answer"
    assert not bad, f"{len(bad)} requests were cut short or failed: {bad[:10]}"
    assert status == 0, f"the server exited with status {status}\n{server.output()}"
    # The room numbers its messages 1, 2, 3…: a number no answer carried is a message posted by a
    # request whose answer was lost (a connection closed after the call ran, not before).
    lost = sorted(set(range(1, max(sequences) + 1)) - set(sequences))
    assert not lost, f"posted, but their requests got no answer: sequences {lost}; {counts}; connection errors: {connection_errors}"
    assert len(sequences) == len(set(sequences)), "two answers carried the same sequence"
    print(f"\n{counts}; connection errors: {connection_errors}")


# ---------------------------------------------------------------------------------------------
# 4. gRPC health


def health_watch(channel, service):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    call = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=service), timeout=40)
    statuses = queue.Queue()

    def read():
        try:
            for reply in call:
                statuses.put(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
        except grpc.RpcError as err:
            statuses.put(("status", err.code().name, err.details()))
            return
        statuses.put(("status", "OK", ""))

    threading.Thread(target=read, daemon=True).start()
    return call, statuses


def next_status(statuses, by):
    try:
        return statuses.get(timeout=max(0.0, by - time.monotonic()))
    except queue.Empty:
        return None


@pytest.mark.parametrize("service", ["", "chat.v1.Chat"], ids=["the server", "chat.v1.Chat"])
def test_a_health_watch_sees_not_serving_on_sigterm(server, service):
    with open_channel(server.address) as channel:
        call, statuses = health_watch(channel, service)
        try:
            assert next_status(statuses, time.monotonic() + WAIT) == "SERVING"
            sent = sigterm(server)
            assert next_status(statuses, sent + WAIT) == "NOT_SERVING"
        finally:
            call.cancel()  # a Watch still open keeps the server from exiting: see the test below
    assert exit_status(server, sent + WAIT) == 0


def test_an_open_health_watch_ends_on_sigterm_and_does_not_keep_the_server_running(server):
    """A Watch is a server stream like any other: after NOT_SERVING it must end (UNAVAILABLE) and
    not hold the server up."""
    with open_channel(server.address) as channel:
        call, statuses = health_watch(channel, "")
        try:
            assert next_status(statuses, time.monotonic() + WAIT) == "SERVING"
            sent = sigterm(server)
            by = sent + WAIT
            seen = []
            while (status := next_status(statuses, by)) is not None:
                seen.append(status)
                if isinstance(status, tuple):
                    break
            alive = server.process.poll() is None
            assert seen and seen[0] == "NOT_SERVING", seen
            assert isinstance(seen[-1], tuple), (
                f"the Watch was still open {WAIT:.0f} s after SIGTERM (it received {seen}), and the server "
                f"{'was still running: an open Watch keeps it from exiting' if alive else 'had exited'}"
            )
            assert seen[-1][:2] == ("status", "UNAVAILABLE"), f"the Watch ended with {seen[-1]}"
        finally:
            call.cancel()
    assert exit_status(server, by) == 0
