"""Connection limits and idle timeouts (issue 8): what a quiet, slow or vanished client can hold.

- HTTP/2: the server advertises SETTINGS_MAX_CONCURRENT_STREAMS and pings quiet connections.
- HTTP/1: a keep-alive connection with no new request, or one that stops halfway through its
  headers, is closed after the idle timeout.
- A request body that stops arriving is refused with 408 in each protocol's error form.
- A WebSocket whose client sends nothing (answers no ping) is closed with 1001; one that answers
  pings stays open, on /ws (apigen.v1 pings) and /graphql/ws (WebSocket-level pings).
- An idle WebSocket costs little memory.

The servers run with `--idle-timeouts-ms`, a hidden flag that sets every idle timeout at once
(WebSocket pings every third of it), so that these tests take seconds rather than minutes.
"""

import json
import socket
import struct
import time

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from support import JsonSocket
from test_bad_input import vm_rss_kib

IDLE_MS = 1500
IDLE = IDLE_MS / 1000
SERVICE = "bookstore.v1.Bookstore"


@pytest.fixture(scope="module")
def quick(request):
    """A bookstore server whose idle timeouts are IDLE_MS."""
    from conftest import running

    with running("bookstore-example", "--idle-timeouts-ms", str(IDLE_MS)) as server:
        yield server


def tcp(address):
    host, port = address.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def closed_within(s, seconds):
    """Reads until the server closes `s`; returns what it sent, or fails after SECONDS."""
    s.settimeout(seconds)
    received = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk
    pytest.fail(f"the server kept the connection open for {seconds} s; it sent {received[:200]!r}")


# ---------------------------------------------------------------------------------------------
# HTTP/2 (h2c with prior knowledge, as gRPC clients speak it)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SETTINGS, PING = 0x4, 0x6


def h2_frames(s, until, seconds):
    """Reads HTTP/2 frames as (type, flags, payload) until `until(frame)` holds; fails after SECONDS."""
    s.settimeout(seconds)
    buffer = b""
    deadline = time.monotonic() + seconds
    seen = []
    while time.monotonic() < deadline:
        while len(buffer) >= 9:
            length = int.from_bytes(buffer[:3], "big")
            if len(buffer) < 9 + length:
                break
            frame = (buffer[3], buffer[4], buffer[9 : 9 + length])
            buffer = buffer[9 + length :]
            seen.append(frame[:2])
            if until(frame):
                return frame
        try:
            chunk = s.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        buffer += chunk
    pytest.fail(f"no such HTTP/2 frame in {seconds} s; frames seen (type, flags): {seen}")


def h2_connect(address):
    s = tcp(address)
    s.sendall(PREFACE + b"\x00\x00\x00" + bytes([SETTINGS, 0]) + b"\x00\x00\x00\x00")
    return s


def test_http2_advertises_max_concurrent_streams(bookstore_server):
    with h2_connect(bookstore_server.address) as s:
        _, _, payload = h2_frames(s, lambda f: f[0] == SETTINGS and not f[1] & 1, 10)
        settings = dict(struct.unpack(">HI", payload[i : i + 6]) for i in range(0, len(payload), 6))
        assert settings.get(0x3) == 200, f"SETTINGS_MAX_CONCURRENT_STREAMS: {settings}"


def test_http2_pings_a_quiet_connection(quick):
    with h2_connect(quick.address) as s:
        started = time.monotonic()
        h2_frames(s, lambda f: f[0] == PING and not f[1] & 1, 4 * IDLE)
        assert time.monotonic() - started >= IDLE * 0.5, "pinged before the connection was quiet"


# ---------------------------------------------------------------------------------------------
# HTTP/1.1


def test_idle_keep_alive_connection_is_closed(quick):
    with tcp(quick.address) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        s.settimeout(10)
        assert s.recv(65536).startswith(b"HTTP/1.1 200"), "the first request is answered"
        started = time.monotonic()
        closed_within(s, 4 * IDLE)
        assert time.monotonic() - started >= IDLE * 0.8, "closed before the idle timeout"


def test_busy_keep_alive_connection_stays_open(quick):
    with tcp(quick.address) as s:
        s.settimeout(10)
        for _ in range(6):  # 3 idle timeouts long, a request every half of one
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
            assert s.recv(65536).startswith(b"HTTP/1.1 200"), "the connection is still served"
            time.sleep(IDLE / 2)


def test_headers_that_stop_halfway_are_cut_off(quick):
    with tcp(quick.address) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: te")
        sent = closed_within(s, 4 * IDLE)
        assert sent == b"" or sent.startswith(b"HTTP/1.1 408"), sent[:200]


SLOW_BODIES = {
    "REST": ("/v1/shelves/1/books", {}, lambda body: body["code"] == 4),
    "Connect": (f"/{SERVICE}/CreateBook", {"connect-protocol-version": "1"}, lambda body: body["code"] == "deadline_exceeded"),
    "tRPC": ("/trpc/bookstore.createBook", {}, lambda body: body["error"]["data"]["httpStatus"] == 408),
    "GraphQL": ("/graphql", {}, lambda body: body["errors"][0]["extensions"]["code"] == "DEADLINE_EXCEEDED"),
}


@pytest.mark.parametrize("protocol", SLOW_BODIES)
def test_a_body_that_stops_arriving_is_refused_with_408(quick, protocol):
    path, headers, in_form = SLOW_BODIES[protocol]
    head = f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 100\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    with tcp(quick.address) as s:
        s.sendall(head.encode() + b"\r\n" + b'{"title":')
        answer = closed_within(s, 4 * IDLE)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 408"), answer[:300]
    body = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert in_form(body), f"{protocol}: not its error form: {body}"
    assert "request body" in json.dumps(body), body


# ---------------------------------------------------------------------------------------------
# WebSockets


def apigen_socket(address):
    """An apigen.v1 socket after its connection_ack; `.ws` is the raw connection (pings not answered)."""
    return JsonSocket(f"ws://{address}/ws", "apigen.v1").init()


def test_a_websocket_client_that_answers_nothing_is_closed_1001(quick):
    with apigen_socket(quick.address) as socket:
        ws, started, pings = socket.ws, time.monotonic(), 0
        with pytest.raises(ConnectionClosed) as closed:
            while time.monotonic() - started < 6 * IDLE:
                frame = json.loads(ws.recv(timeout=6 * IDLE))
                pings += frame == {"type": "ping"}  # heard, never answered
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001, closed.value
        assert "no frame" in closed.value.rcvd.reason, closed.value.rcvd.reason
        assert pings >= 1, "the server pinged before giving up"
        assert time.monotonic() - started >= IDLE * 0.8


def test_a_websocket_client_that_answers_pings_stays_open(quick):
    with apigen_socket(quick.address) as socket:
        assert socket.recv(timeout=3 * IDLE) is None, "nothing but pings (answered) for 3 idle timeouts"
        socket.send({"type": "subscribe", "id": "1", "method": f"{SERVICE}/ListShelves", "payload": {}})
        frame = socket.take("1")
        assert frame is not None and frame["type"] == "next", f"the socket is still open: {frame}"


def test_graphql_websocket_is_pinged_and_stays_open(quick):
    # The client library answers WebSocket-level pings by itself, as browsers do: without the
    # server's pings the socket would be idle and closed.
    url = f"ws://{quick.address}/graphql/ws"
    with ws_connect(url, subprotocols=["graphql-transport-ws"], open_timeout=10, close_timeout=2, proxy=None, ping_interval=None) as ws:
        ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "connection_ack"
        time.sleep(3 * IDLE)
        ws.send(json.dumps({"type": "ping"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "pong", "the socket is still open"


def test_idle_websockets_cost_little_memory(launch):
    server = launch("bookstore-example")
    warm = [apigen_socket(server.address) for _ in range(20)]
    time.sleep(0.5)
    before = vm_rss_kib(server.process.pid)
    count = 300
    sockets = [apigen_socket(server.address) for _ in range(count)]
    time.sleep(0.5)
    per_socket = (vm_rss_kib(server.process.pid) - before) / count
    for socket in warm + sockets:
        socket.ws.close()
    print(f"each idle WebSocket costs {per_socket:.1f} KiB of server memory")
    # tungstenite's default 128 KiB read buffer made it ~160 KiB each.
    assert per_socket < 48, f"each idle WebSocket costs {per_socket:.1f} KiB of server memory"
