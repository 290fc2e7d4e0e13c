"""The bad-input matrix: every protocol of the bookstore example is sent malformed and hostile input
(invalid JSON and protobuf, wrong types, numbers out of range, invalid UTF-8, unknown enum names,
invalid base64, 10,000-level nesting, huge strings, bodies and frames over the 4 MiB limit, truncated
envelopes, slow bodies), and each time it must answer with its own protocol's client error naming
the problem (DESIGN.md, "Errors": "a clear INVALID_ARGUMENT/413-class error naming the field, never a
500 and never a crash"), keep answering `GET /healthz`, and keep its memory bounded.

The table is CELLS: (protocol, case) → (how to send it, what is expected, what the message must
mention). A cell that does not exist (`n/a` in NOT_APPLICABLE) says why. Every cell is one
parametrized test; the matrix of what was observed is printed at the end of the module, and
`test_memory_stays_bounded` (last) compares the server's VmRSS before and after the whole matrix.

The client-error form of each protocol, as the outcomes are normalized here:
- REST: `HTTP 400 code 3` / `HTTP 413 code 8` with `{"code", "message", "details"}`.
- Connect unary: `HTTP 400 invalid_argument`; over the limit `HTTP 413|429 resource_exhausted`
  (the Connect protocol maps resource_exhausted to 429; the server's body limit answers 413).
- Connect streaming: HTTP 200 then `end-stream invalid_argument|resource_exhausted`.
- gRPC: `INVALID_ARGUMENT` / `RESOURCE_EXHAUSTED`; gRPC-Web: `grpc-status 3` / `grpc-status 8`.
- GraphQL over HTTP: `HTTP 200|400 errors` (a request error or one with extensions.code), `HTTP 413 errors`.
- tRPC: `HTTP 400 BAD_REQUEST` / `HTTP 413 PAYLOAD_TOO_LARGE`.
- WebSocket apigen.v1: `error invalid_argument` frame, or `close 4400` (malformed frame), `close 1009`.
- SSE (POST with a JSON body, or GET with the query): `HTTP 400 code 3` / `HTTP 413 code 8`.
"""

import contextlib
import dataclasses
import http.client
import json
import socket
import time
import urllib.parse
from typing import Callable, Optional

import grpc
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from support import CALL_TIMEOUT, Http, ok

MiB = 1024 * 1024
LIMIT = 4 * MiB  # the servers' default max message size
HUGE = 3 * MiB  # under the limit: accepted, or rejected cleanly
OVER = LIMIT + MiB  # over the limit
NEST = 10_000  # levels of nesting
SLOW_PAUSE = 2.0  # how long a slow body stops half-way
WS_TIMEOUT = 10.0
HEALTH_TIMEOUT = 5.0
RSS_BOUND_MIB = 200  # how much the server's resident memory may grow over the whole matrix

SERVICE = "bookstore.v1.Bookstore"
CREATE_BOOK_GQL = "mutation($p: String!, $b: BookInput!) { createBook(parent: $p, book: $b) { name } }"


# ---------------------------------------------------------------------------------------------
# Outcomes


@dataclasses.dataclass
class Outcome:
    """What one call came to: `kind` is "ok" or the protocol's error normalized to a short text
    (see the module's docstring); `message` is the error's message (or close reason); `clean` is
    False when the answer was not in the protocol's form or was a server error."""

    kind: str
    message: str = ""
    clean: bool = True

    def __str__(self):
        return f"{self.kind}: {self.message[:160]!r}" if self.message else self.kind


OK = Outcome("ok")


def loads(data):
    try:
        return json.loads(data)
    except (TypeError, ValueError):
        return None


def unclean(text):
    return Outcome(text[:300], "", False)


def is_server_error(status):
    return status >= 500


# ---------------------------------------------------------------------------------------------
# Raw HTTP/1.1, every wait bounded; the body may stop half-way for SLOW_PAUSE seconds


def _varint(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def envelope(payload, flags=0, length=None):
    """A Connect/gRPC(-Web) length-prefixed message; LENGTH overrides the prefix (a truncated one)."""
    return bytes([flags]) + (len(payload) if length is None else length).to_bytes(4, "big") + payload


@dataclasses.dataclass
class Answer:
    status: int
    headers: dict
    body: bytes


def _read_event_stream(response, sock):
    """The first few SSE lines (a stream never ends on its own): what arrives within a second or two."""
    sock.settimeout(2.0)
    lines = []
    try:
        while len(lines) < 20:
            line = response.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith(b"data:") or line.startswith(b"event: error") or line.startswith(b"event:error"):
                # read the rest of this event
                continue
            if line.strip() == b"" and any(l.startswith(b"data:") for l in lines):
                break
    except (TimeoutError, socket.timeout, OSError):
        pass
    return b"".join(lines)


def exchange(address, method, path, headers=None, body=b"", pause_at=None):
    """Sends one request on its own connection (the body whole, or up to PAUSE_AT, a pause, then the
    rest) and returns the Answer; a reset while sending is kept and the answer still read."""
    host, port = address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=CALL_TIMEOUT)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        all_headers = {"content-length": str(len(body))} if method != "GET" else {}
        all_headers.update(headers or {})
        for name, value in all_headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        sock = connection.sock
        try:
            if pause_at is not None:
                connection.send(body[:pause_at])
                time.sleep(SLOW_PAUSE)
                connection.send(body[pause_at:])
            elif body:
                connection.send(body)
        except OSError:
            pass  # the server answered early and stopped reading: its answer may still be there
        response = connection.getresponse()
        head = {k.lower(): v for k, v in response.getheaders()}
        if head.get("content-type", "").startswith("text/event-stream"):
            data = _read_event_stream(response, sock)
        else:
            data = response.read()
        trailers = {}
        return Answer(response.status, {**head, **trailers}, data)
    finally:
        connection.close()


def http_attempt(send):
    """SEND() → Answer, a failure to get one becoming an unclean outcome."""
    try:
        return send(), None
    except (OSError, http.client.HTTPException) as err:
        return None, unclean(f"no HTTP answer: {type(err).__name__}: {err}")


# ---------------------------------------------------------------------------------------------
# Each protocol's judge: an Answer → an Outcome in that protocol's terms


def judge_rest(a):
    body = loads(a.body)
    if a.status == 200 and isinstance(body, dict):
        return OK
    if isinstance(body, dict) and set(body) == {"code", "message", "details"} and isinstance(body["code"], int):
        return Outcome(f"HTTP {a.status} code {body['code']}", str(body["message"]), not is_server_error(a.status))
    return unclean(f"HTTP {a.status} {a.headers.get('content-type')} {a.body[:120]!r}")


def judge_connect(a):
    body = loads(a.body)
    if a.status == 200:
        return OK
    if isinstance(body, dict) and isinstance(body.get("code"), str) and set(body) <= {"code", "message", "details"}:
        return Outcome(f"HTTP {a.status} {body['code']}", str(body.get("message", "")), not is_server_error(a.status))
    return unclean(f"HTTP {a.status} {a.headers.get('content-type')} {a.body[:120]!r}")


def judge_connect_stream(a):
    if a.status != 200:
        out = judge_connect(a)
        return Outcome(out.kind + " (not an end-stream message)", out.message, False)
    data = a.body
    while len(data) >= 5:
        flags, length = data[0], int.from_bytes(data[1:5], "big")
        payload, data = data[5 : 5 + length], data[5 + length :]
        if flags & 0x02:
            end = loads(payload)
            error = end.get("error") if isinstance(end, dict) else None
            if error is None and isinstance(end, dict):
                return OK
            if isinstance(error, dict) and isinstance(error.get("code"), str):
                bad = error["code"] in ("internal", "unknown", "unavailable", "data_loss")
                return Outcome(f"end-stream {error['code']}", str(error.get("message", "")), not bad)
            return unclean(f"end-stream {payload[:120]!r}")
    return unclean(f"HTTP 200 without an end-stream message: {a.body[:120]!r}")


GRPC_SERVER_ERRORS = {"2", "13", "14", "15"}  # UNKNOWN, INTERNAL, UNAVAILABLE, DATA_LOSS


def judge_grpc_web(a):
    if a.status != 200:
        return unclean(f"HTTP {a.status} {a.headers.get('content-type')} {a.body[:120]!r}")
    trailers, data = {}, a.body
    while len(data) >= 5:
        flags, length = data[0], int.from_bytes(data[1:5], "big")
        payload, data = data[5 : 5 + length], data[5 + length :]
        if flags & 0x80:
            for line in payload.decode(errors="replace").split("\r\n"):
                name, sep, value = line.partition(":")
                if sep:
                    trailers[name.strip().lower()] = value.strip()
    status = a.headers.get("grpc-status", trailers.get("grpc-status"))
    message = urllib.parse.unquote(a.headers.get("grpc-message", trailers.get("grpc-message", "")))
    if status is None:
        return unclean(f"HTTP 200 without grpc-status: {a.body[:120]!r}")
    if status == "0":
        return OK
    return Outcome(f"grpc-status {status}", message, status not in GRPC_SERVER_ERRORS)


def judge_graphql(a):
    body = loads(a.body)
    if not isinstance(body, dict):
        return unclean(f"HTTP {a.status} {a.headers.get('content-type')} {a.body[:120]!r}")
    errors = body.get("errors")
    data = body.get("data")
    if not errors:
        return OK if a.status == 200 and isinstance(data, dict) else unclean(f"HTTP {a.status} {a.body[:120]!r}")
    executed = isinstance(data, dict) and any(v is not None for v in data.values())
    codes = ",".join(sorted({str((e.get("extensions") or {}).get("code")) for e in errors if isinstance(e, dict)}))
    message = " | ".join(str(e.get("message")) for e in errors if isinstance(e, dict))
    bad = is_server_error(a.status) or executed or "INTERNAL" in codes
    return Outcome(f"HTTP {a.status} errors", f"[{codes}] {message}", not bad)


def judge_trpc(a):
    body = loads(a.body)
    if a.status == 200 and isinstance(body, dict) and "result" in body:
        return OK
    error = body.get("error") if isinstance(body, dict) and set(body) == {"error"} else None
    if isinstance(error, dict) and set(error) == {"message", "code", "data"} and isinstance(error["data"], dict):
        name = error["data"].get("code")
        consistent = error["data"].get("httpStatus") == a.status
        return Outcome(f"HTTP {a.status} {name}", str(error["message"]), consistent and not is_server_error(a.status))
    return unclean(f"HTTP {a.status} {a.headers.get('content-type')} {a.body[:120]!r}")


def judge_sse(a):
    if a.status == 200 and a.headers.get("content-type", "").startswith("text/event-stream"):
        text = a.body.decode(errors="replace")
        for line in text.splitlines():
            if line.startswith("data:"):
                data = loads(line[5:].strip())
                if isinstance(data, dict) and isinstance(data.get("code"), str):
                    return Outcome(f"event error {data['code']}", str(data.get("message", "")), True)
        return OK
    return judge_rest(a)


# ---------------------------------------------------------------------------------------------
# The protocols: each sends a case's input in its own envelope


@dataclasses.dataclass
class Env:
    address: str
    shelf: str
    channel: object  # a grpcio channel (calls default to a CALL_TIMEOUT deadline)
    pb: object


def book_envelope(env, book):
    """`{"parent": …, "book": BOOK}` with BOOK as raw JSON bytes."""
    return b'{"parent":' + json.dumps(env.shelf).encode() + b',"book":' + book + b"}"


JSON = {"content-type": "application/json"}


def rest_send(env, book, pause_at=None):
    return exchange(env.address, "POST", f"/v1/{env.shelf}/books", JSON, book, pause_at)


def connect_send(env, book, pause_at=None):
    return exchange(env.address, "POST", f"/{SERVICE}/CreateBook", {**JSON, "connect-protocol-version": "1"}, book_envelope(env, book), pause_at)


def connect_stream_body(env, book, pause_at=None, *, raw=None):
    headers = {"content-type": "application/connect+json", "connect-protocol-version": "1"}
    body = raw if raw is not None else envelope(book_envelope(env, book))
    return exchange(env.address, "POST", f"/{SERVICE}/ImportBooks", headers, body, pause_at)


def graphql_send(env, book, pause_at=None):
    body = b'{"query":' + json.dumps(CREATE_BOOK_GQL).encode() + b',"variables":{"p":' + json.dumps(env.shelf).encode() + b',"b":' + book + b"}}"
    return exchange(env.address, "POST", "/graphql", JSON, body, pause_at)


def trpc_send(env, book, pause_at=None):
    return exchange(env.address, "POST", "/trpc/bookstore.createBook", JSON, book_envelope(env, book), pause_at)


def sse_send(env, request, pause_at=None):
    """WatchShelf as SSE, the request POSTed as JSON (REQUEST: raw bytes of the whole request)."""
    headers = {**JSON, "accept": "text/event-stream"}
    return exchange(env.address, "POST", f"/sse/{SERVICE}/WatchShelf", headers, request, pause_at)


def grpc_web_send(env, message, pause_at=None, *, raw=None):
    headers = {"content-type": "application/grpc-web+proto", "x-grpc-web": "1", "accept": "application/grpc-web+proto"}
    body = raw if raw is not None else envelope(message)
    return exchange(env.address, "POST", f"/{SERVICE}/CreateBook", headers, body, pause_at)


def connect_proto_send(env, message, pause_at=None):
    headers = {"content-type": "application/proto", "connect-protocol-version": "1"}
    return exchange(env.address, "POST", f"/{SERVICE}/CreateBook", headers, message, pause_at)


def grpc_raw(env, message, path=f"/{SERVICE}/CreateBook"):
    """CreateBook with raw bytes through grpcio's generic call (no serializer: bytes go as they are)."""
    call = env.channel.unary_unary(path, request_serializer=None, response_deserializer=None)
    try:
        call(message, timeout=CALL_TIMEOUT)
    except grpc.RpcError as err:
        name = err.code().name
        return Outcome(name, err.details() or "", name not in ("UNKNOWN", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "DEADLINE_EXCEEDED"))
    return OK


def ws_send(env, frame, *, text_bytes=False, fragments=None):
    """One apigen.v1 call (id "bad") on a fresh socket: FRAME is the whole subscribe frame (str), or
    bytes to send as a text frame regardless of UTF-8 (TEXT_BYTES), or FRAGMENTS sent with a pause."""
    with ws_connect(
        f"ws://{env.address}/ws", subprotocols=["apigen.v1"], open_timeout=WS_TIMEOUT, close_timeout=2, proxy=None, max_size=None
    ) as ws:
        try:
            ws.send(json.dumps({"type": "connection_init"}))
            first = loads(ws.recv(timeout=WS_TIMEOUT))
            if first != {"type": "connection_ack"}:
                return unclean(f"{first} instead of connection_ack")
            try:
                if fragments is not None:

                    def slowly():
                        for i, piece in enumerate(fragments):
                            if i:
                                time.sleep(SLOW_PAUSE)
                            yield piece

                    ws.send(slowly())
                elif text_bytes:
                    ws.send(frame, text=True)
                else:
                    ws.send(frame)
            except (ConnectionClosed, OSError):
                pass  # the server may close before the whole frame is out: its close frame says why
            deadline = time.monotonic() + WS_TIMEOUT
            while (left := deadline - time.monotonic()) > 0:
                try:
                    raw = ws.recv(timeout=left)
                except TimeoutError:
                    break
                message = loads(raw) if isinstance(raw, str) else None
                if not isinstance(message, dict):
                    return unclean(f"not a JSON frame: {raw[:120]!r}")
                if message.get("type") == "ping":
                    ws.send(json.dumps({"type": "pong"}))
                    continue
                if message.get("id") != "bad":
                    continue
                if message.get("type") in ("next", "complete"):
                    return OK
                payload = message.get("payload") if isinstance(message.get("payload"), dict) else {}
                code = payload.get("code")
                return Outcome(f"error {code}", str(payload.get("message", "")), code not in ("internal", "unknown", "unavailable"))
            return unclean(f"no answer in {WS_TIMEOUT:.0f} s")
        except ConnectionClosed as closed:
            if closed.rcvd is None:
                return unclean(f"closed without a close frame ({closed})")
            return Outcome(f"close {closed.rcvd.code}", closed.rcvd.reason, closed.rcvd.code not in (1011, 1006))


def ws_frame(env, book):
    """The subscribe frame of CreateBook with BOOK (raw JSON bytes), as bytes."""
    return (
        b'{"type":"subscribe","id":"bad","method":"' + f"{SERVICE}/CreateBook".encode() + b'","payload":' + book_envelope(env, book) + b"}"
    )


# ---------------------------------------------------------------------------------------------
# The inputs


def jbook(**fields):
    return json.dumps({"title": "Bad input", **fields}).encode()


def nested(levels):
    return b"[" * levels + b"]" * levels


INVALID_JSON = b'{"title": "t",'  # ends in the middle
INVALID_UTF8 = b'{"title": "\xff\xfe bad \xc3("}'
DEEP_BOOK = b'{"title": "t", "authors": ' + nested(NEST) + b"}"


def pb_parent(env):
    shelf = env.shelf.encode()
    return b"\x0a" + _varint(len(shelf)) + shelf


def pb_book(inner):
    return b"\x12" + _varint(len(inner)) + inner


def pb_title(title):
    return b"\x12" + _varint(len(title)) + title


PB = {
    # field 2 (book) says 10 bytes follow; 2 do
    "invalid protobuf": lambda env: pb_parent(env) + b"\x12\x0a\x12\x01",
    # field 2 (book) as a varint instead of a message
    "wrong type": lambda env: pb_parent(env) + b"\x10\x01",
    "invalid UTF-8": lambda env: pb_parent(env) + pb_book(pb_title(b"\xff\xfe bad")),
    # a valid request, plus unknown field 15 as 10,000 nested groups
    "10,000-level nesting": lambda env: pb_parent(env) + pb_book(pb_title(b"t")) + b"\x7b" * NEST + b"\x7c" * NEST,
    "huge string": lambda env: pb_parent(env) + pb_book(pb_title(b"h" * HUGE)),
    "over the limit": lambda env: pb_parent(env) + pb_book(pb_title(b"o" * OVER)),
    "slow body": lambda env: pb_parent(env) + pb_book(pb_title(b"slow")),
}

# The JSON book of each JSON case (raw bytes: some are not JSON at all).
JSON_BOOK = {
    "invalid JSON": INVALID_JSON,
    "wrong type: object for string": json.dumps({"title": {"not": "a string"}}).encode(),
    "wrong type: string for int32": jbook(inStock="many"),
    "int32 out of range": jbook(inStock=2**40),
    "int64 out of range": jbook(isbn="1e400"),
    "invalid UTF-8": INVALID_UTF8,
    "unknown enum name": jbook(genre="GENRE_COOKING"),
    "invalid base64": jbook(coverThumbnail="!!not base64!!"),
    "10,000-level nesting": DEEP_BOOK,
    "huge string": jbook(title="h" * HUGE),
    "over the limit": jbook(title="o" * OVER),
    "slow body": jbook(title="Slow but fine"),
}

# What an error's message must mention (any one of each tuple).
MENTIONS = {
    "invalid JSON": ("JSON", "json", "line 1 column", "EOF", "syntax"),
    "invalid protobuf": ("decode", "protobuf", "Protobuf"),
    "wrong type": ("book", "wire type"),
    "wrong type: object for string": ("title",),
    "wrong type: string for int32": ("inStock", "in_stock"),
    "int32 out of range": ("inStock", "in_stock"),
    "int64 out of range": ("isbn",),
    "invalid UTF-8": ("UTF-8", "utf-8", "utf8", "UTF8", "unicode"),
    "unknown enum name": ("genre", "GENRE_COOKING"),
    "invalid base64": ("coverThumbnail", "cover_thumbnail", "base64"),
    "10,000-level nesting": ("recursion", "depth", "nest", "deep", "authors", "limit"),
    "over the limit": ("larger than", "limit", "too large", "exceeds", "size"),
    "truncated envelope": ("truncat", "length", "incomplete", "EOF", "end of", "prefix", "short", "bytes"),
    "huge string": (),
    "slow body": (),
}

# The expected outcomes of each protocol, by the class of the case.
INVALID, TOO_LARGE, OK_OR_CLEAN, FINE = "invalid", "too large", "ok or a clean client error", "ok"
EXPECT = {
    "REST": {INVALID: {"HTTP 400 code 3"}, TOO_LARGE: {"HTTP 413 code 8", "HTTP 413 code 3"}},
    "Connect": {INVALID: {"HTTP 400 invalid_argument"}, TOO_LARGE: {"HTTP 413 resource_exhausted", "HTTP 429 resource_exhausted"}},
    "Connect proto": {INVALID: {"HTTP 400 invalid_argument"}, TOO_LARGE: {"HTTP 413 resource_exhausted", "HTTP 429 resource_exhausted"}},
    "Connect stream": {INVALID: {"end-stream invalid_argument"}, TOO_LARGE: {"end-stream resource_exhausted"}},
    "gRPC": {INVALID: {"INVALID_ARGUMENT"}, TOO_LARGE: {"RESOURCE_EXHAUSTED"}},
    "gRPC-Web": {INVALID: {"grpc-status 3"}, TOO_LARGE: {"grpc-status 8"}},
    "GraphQL": {INVALID: {"HTTP 200 errors", "HTTP 400 errors"}, TOO_LARGE: {"HTTP 413 errors"}},
    "tRPC": {INVALID: {"HTTP 400 BAD_REQUEST"}, TOO_LARGE: {"HTTP 413 PAYLOAD_TOO_LARGE"}},
    "WebSocket": {INVALID: {"error invalid_argument"}, TOO_LARGE: {"close 1009"}},
    "SSE": {INVALID: {"HTTP 400 code 3"}, TOO_LARGE: {"HTTP 413 code 8", "HTTP 413 code 3"}},
}


def case_class(case):
    if case == "over the limit":
        return TOO_LARGE
    if case == "huge string":
        return OK_OR_CLEAN
    if case == "slow body":
        return FINE
    return INVALID


@dataclasses.dataclass(frozen=True)
class Cell:
    protocol: str
    case: str
    run: Callable  # env -> Outcome
    expected: Optional[frozenset] = None  # overrides EXPECT[protocol][class]
    also_ok: bool = False  # "ok" is acceptable too (protobuf skips unknown fields by the spec)
    mentions: Optional[tuple] = None  # overrides MENTIONS[case]

    @property
    def id(self):
        return f"{self.protocol}: {self.case}"

    def expectation(self):
        klass = case_class(self.case)
        if self.expected is not None:
            kinds = set(self.expected)
        elif klass == FINE:
            kinds = {"ok"}
        elif klass == OK_OR_CLEAN:
            return None  # anything clean: success, or any client error in the protocol's form
        else:
            kinds = set(EXPECT[self.protocol][klass])
        if self.also_ok:
            kinds.add("ok")
        return kinds


def over_http(send, judge):
    def run(env):
        answer, failed = http_attempt(lambda: send(env))
        return failed or judge(answer)

    return run


def json_cells():
    """The JSON cases over every protocol that carries a JSON book."""
    cells = []
    for case, book in JSON_BOOK.items():
        pause = 7 if case == "slow body" else None  # after `{"title` (REST) or a few bytes in
        for protocol, send, judge in (
            ("REST", rest_send, judge_rest),
            ("Connect", connect_send, judge_connect),
            ("GraphQL", graphql_send, judge_graphql),
            ("tRPC", trpc_send, judge_trpc),
        ):
            cells.append(Cell(protocol, case, over_http(lambda env, s=send, b=book, p=pause: s(env, b, p), judge)))
        # Connect streaming: ImportBooks, one enveloped request
        cells.append(
            Cell("Connect stream", case, over_http(lambda env, b=book, p=pause: connect_stream_body(env, b, 3 if p else None), judge_connect_stream))
        )
        # WebSocket: the book in a CreateBook subscribe frame
        if case == "invalid JSON":
            cell = Cell("WebSocket", case, lambda env: ws_send(env, ws_frame(env, INVALID_JSON).decode()), frozenset({"close 4400"}))
        elif case == "invalid UTF-8":
            # not UTF-8 in a text frame: RFC 6455 §8.1 says fail the connection, 1007
            cell = Cell("WebSocket", case, lambda env: ws_send(env, ws_frame(env, INVALID_UTF8), text_bytes=True), frozenset({"close 1007", "close 4400"}))
        elif case == "10,000-level nesting":
            cell = Cell("WebSocket", case, lambda env: ws_send(env, ws_frame(env, DEEP_BOOK).decode()), frozenset({"error invalid_argument", "close 4400"}))
        elif case == "slow body":

            def slow_ws(env, b=book):
                frame = ws_frame(env, b).decode()
                return ws_send(env, None, fragments=[frame[:20], frame[20:]])

            cell = Cell("WebSocket", case, slow_ws)
        else:
            cell = Cell("WebSocket", case, lambda env, b=book: ws_send(env, ws_frame(env, b).decode()))
        cells.append(cell)
    return cells


def sse_cells():
    """WatchShelf as SSE, the request POSTed as JSON: only `name`, a string."""
    requests_ = {
        "invalid JSON": lambda env: b'{"name": ',
        "wrong type: object for string": lambda env: b'{"name": {"not": "a string"}}',
        "invalid UTF-8": lambda env: b'{"name": "shelves/\xff\xfe"}',
        "10,000-level nesting": lambda env: b'{"name": ' + nested(NEST) + b"}",
        "huge string": lambda env: json.dumps({"name": "shelves/" + "h" * HUGE}).encode(),
        "over the limit": lambda env: json.dumps({"name": "shelves/" + "o" * OVER}).encode(),
        "slow body": lambda env: json.dumps({"name": env.shelf}).encode(),
    }
    cells = []
    for case, make in requests_.items():
        pause = 4 if case == "slow body" else None
        mentions = ("name",) if case == "wrong type: object for string" else ("recursion", "depth", "nest", "deep", "name", "limit") if "nesting" in case else None
        cells.append(Cell("SSE", case, over_http(lambda env, m=make, p=pause: sse_send(env, m(env), p), judge_sse), mentions=mentions))
    # The query form: a name that is not UTF-8 once percent-decoded.
    cells.append(
        Cell(
            "SSE",
            "invalid UTF-8 (query)",
            over_http(lambda env: exchange(env.address, "GET", f"/sse/{SERVICE}/WatchShelf?name=shelves%2F%FF%FE", {"accept": "text/event-stream"}), judge_sse),
            frozenset({"HTTP 400 code 3"}),
        )
    )
    return cells


def protobuf_cells():
    cells = []
    for case, make in PB.items():
        also_ok = case == "10,000-level nesting"  # unknown fields may be skipped; a crash may not
        pause = 4 if case == "slow body" else None
        cells.append(Cell("gRPC-Web", case, over_http(lambda env, m=make, p=pause: grpc_web_send(env, m(env), p), judge_grpc_web), also_ok=also_ok))
        cells.append(Cell("Connect proto", case, over_http(lambda env, m=make, p=pause: connect_proto_send(env, m(env), p), judge_connect), also_ok=also_ok))
        if case != "slow body":
            cells.append(Cell("gRPC", case, lambda env, m=make: grpc_raw(env, m(env)), also_ok=also_ok))
    # gRPC's slow body: a client stream whose second message comes SLOW_PAUSE seconds after the first
    cells.append(Cell("gRPC", "slow body", grpc_slow_import))
    # Truncated envelopes: the prefix promises 1,000 bytes; 20 come, then the body ends.
    cells.append(
        Cell("gRPC-Web", "truncated envelope", over_http(lambda env: grpc_web_send(env, None, raw=envelope(pb_parent(env)[:20], length=1000)), judge_grpc_web))
    )
    cells.append(
        Cell(
            "Connect stream",
            "truncated envelope",
            over_http(lambda env: connect_stream_body(env, None, raw=envelope(book_envelope(env, jbook())[:20], length=1000)), judge_connect_stream),
        )
    )
    # Half an envelope header (3 of 5 bytes)
    cells.append(
        Cell(
            "Connect stream",
            "truncated envelope (half a prefix)",
            over_http(lambda env: connect_stream_body(env, None, raw=b"\x00\x00\x00"), judge_connect_stream),
            frozenset({"end-stream invalid_argument"}),
        )
    )
    return cells


def grpc_slow_import(env):
    bs = env.pb.bookstore

    def requests_():
        yield bs.ImportBooksRequest(parent=env.shelf, book=bs.Book(title="slow one"))
        time.sleep(SLOW_PAUSE)
        yield bs.ImportBooksRequest(parent=env.shelf, book=bs.Book(title="slow two"))

    stub = env.pb.bookstore_grpc.BookstoreStub(env.channel)
    try:
        reply = stub.ImportBooks(requests_(), timeout=CALL_TIMEOUT)
    except grpc.RpcError as err:
        return Outcome(err.code().name, err.details() or "", False)
    return OK if reply.imported_count == 2 else unclean(f"imported {reply.imported_count} of 2")


CELLS = json_cells() + sse_cells() + protobuf_cells()

# The cells that do not exist, and why.
NOT_APPLICABLE = {
    "uint64 negative (any protocol)": "the bookstore has no unsigned field",
    "gRPC / gRPC-Web / Connect proto: JSON cases": "protobuf bodies; their counterparts are the protobuf cases",
    "gRPC / gRPC-Web / Connect proto: unknown enum, int32 range": "protobuf enums are open and int32 truncates by the spec",
    "gRPC / gRPC-Web / Connect proto: invalid base64": "bytes travel raw",
    "gRPC: truncated envelope": "grpcio frames every message itself (no raw HTTP/2 client here)",
    "SSE: enum, base64, numbers": "WatchShelf's only field is the string `name`",
    "REST / Connect unary / tRPC / GraphQL / SSE: truncated envelope": "no envelopes",
}

OBSERVED = {}  # cell id -> (outcome, verdict)


# ---------------------------------------------------------------------------------------------
# Fixtures and the tests


def vm_rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS in /proc/{pid}/status")


@pytest.fixture(scope="module")
def env(pb, bookstore_server, bookstore_channel):
    with Http(bookstore_server.address) as h:
        shelf = ok(h.post("/v1/shelves", json={"theme": "Bad input"}))["name"]
    before = vm_rss_kib(bookstore_server.process.pid)
    memory = {"before": before}
    yield Env(bookstore_server.address, shelf, bookstore_channel, pb), memory


def report(config, lines):
    """Writes LINES to the terminal, past pytest's output capture (a passing test's output is hidden)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
        reporter.write_line("")
        for line in lines:
            reporter.write_line(line)


def matrix_lines(memory):
    lines = ["bad-input matrix (verdict, protocol: case -> observed):"]
    for cell in CELLS:
        if cell.id in OBSERVED:
            outcome, verdict = OBSERVED[cell.id]
            lines.append(f"  {verdict:4} {cell.id:48} -> {outcome}")
    for what, why in NOT_APPLICABLE.items():
        lines.append(f"  n/a  {what}: {why}")
    if "after" in memory:
        grown = (memory["after"] - memory["before"]) / 1024
        lines.append(f"server VmRSS: {memory['before'] / 1024:.1f} MiB before the matrix, {memory['after'] / 1024:.1f} MiB after (+{grown:.1f} MiB, bound +{RSS_BOUND_MIB} MiB)")
    return lines


def still_answers(env_, server):
    """GET /healthz answers 200 within HEALTH_TIMEOUT seconds, and the process is alive."""
    assert server.process.poll() is None, f"the server exited with status {server.process.poll()}\n{server.output()[-3000:]}"
    with Http(env_.address) as h:
        response = h.get("/healthz", timeout=HEALTH_TIMEOUT)
    assert response.status_code == 200, f"/healthz answered {response.status_code} {response.text[:200]!r}"


def mentions_of(cell):
    if cell.mentions is not None:
        return cell.mentions
    return MENTIONS.get(cell.case.split(" (")[0], ())


def mentions_ok(cell, outcome):
    options = mentions_of(cell)
    if not options or outcome.kind in ("ok", "close 1009", "close 1007"):
        return True
    return any(o in outcome.message for o in options)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("cell", CELLS, ids=[c.id for c in CELLS])
def test_bad_input(env, bookstore_server, cell):
    env_, _ = env
    started = time.monotonic()
    try:
        outcome = cell.run(env_)
    except Exception as err:  # noqa: BLE001 - every failure is an outcome of the cell
        outcome = unclean(f"raised {type(err).__name__}: {err}")
    took = time.monotonic() - started
    expected = cell.expectation()
    problems = []
    if expected is not None and outcome.kind not in expected:
        problems.append(f"expected one of {sorted(expected)}")
    if expected is None and (outcome.kind.startswith("HTTP 5") or outcome.kind.startswith("raised")):
        problems.append("expected success or a client error")
    if not outcome.clean:
        problems.append("not a clean answer in the protocol's form")
    if not mentions_ok(cell, outcome):
        problems.append(f"the message does not mention any of {mentions_of(cell)}")
    OBSERVED[cell.id] = (f"{outcome} ({took:.1f} s)", "FAIL" if problems else "ok")
    still_answers(env_, bookstore_server)
    assert not problems, f"{cell.id}: observed {outcome}; " + "; ".join(problems)


def test_memory_stays_bounded(env, bookstore_server, request):
    """Runs last: the server's resident memory grew by less than RSS_BOUND_MIB over the whole matrix."""
    env_, memory = env
    still_answers(env_, bookstore_server)
    after = vm_rss_kib(bookstore_server.process.pid)
    memory["after"] = after
    grown = (after - memory["before"]) / 1024
    report(request.config, matrix_lines(memory))
    assert grown < RSS_BOUND_MIB, f"the server's VmRSS grew by {grown:.1f} MiB (from {memory['before'] / 1024:.1f} MiB to {after / 1024:.1f} MiB)"
