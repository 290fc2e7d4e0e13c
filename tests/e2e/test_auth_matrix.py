"""The authentication matrix: on servers started with `--token TOKEN`, every protocol (gRPC, gRPC-Web,
Connect unary and streaming, REST, GraphQL over HTTP and graphql-transport-ws, tRPC queries and
subscriptions, WebSocket apigen.v1, SSE) refuses a call without the token or with a wrong one in its
own protocol's error form, and accepts the right one however the protocol carries it (header, gRPC
metadata, `connection_init` payload, upgrade header, `?access_token=`, `?connectionParams=`); the
OpenAPI document, the SDL, the docs page and both health checks stay readable without it.

Each protocol is a probe: one representative call, made with a given credential, whose result is
normalized to "ok" or to a short description of the rejection (the probe checks the whole shape of
the rejection, so a cell that reads as expected is the protocol's proper error). The probes run once
per cell as parametrized tests, and all together in `test_the_whole_matrix`, which prints the table
and fails with it, so one failure report shows every protocol at once.

The expected rejections, with their references:
- gRPC: status UNAUTHENTICATED (16).
- gRPC-Web: `grpc-status: 16` (in the headers of a trailers-only response, or in the trailers frame).
- Connect unary: HTTP 401 with `{"code": "unauthenticated", …}` (connectrpc.com/docs/protocol, unary).
- Connect streaming: HTTP 200 and an EndStreamResponse carrying `{"error": {"code": "unauthenticated"}}`;
  the protocol says "Streaming responses always have an HTTP status of 200 OK" (Streaming-Response).
- REST and SSE: HTTP 401, `{"code": 16, "message": …, "details": []}`, `WWW-Authenticate: Bearer`.
- GraphQL over HTTP: HTTP 401 with an error whose `extensions.code` is UNAUTHENTICATED.
- graphql-transport-ws: close 4403 Forbidden, what the protocol (enisdenjo/graphql-ws, PROTOCOL.md,
  ConnectionInit) tells a server to do when it rejects `connection_init`.
- tRPC: UNAUTHORIZED (-32001, HTTP 401), as the response of a query and as the `serialized-error`
  event of a subscription (what @trpc/server v11 sends when a subscription's procedure fails).
- WebSocket apigen.v1: close 4401 (DESIGN.md).
Every HTTP 401 also has to carry a `WWW-Authenticate` challenge (RFC 9110 §15.5.2, a MUST), which
`test_every_http_401_carries_a_bearer_challenge` checks for the protocols that answer with one."""

import contextlib
import dataclasses
import http.client
import json
import socket
import time
import urllib.parse
import uuid
from typing import Callable, Optional

import grpc
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect

from support import CALL_TIMEOUT, TOKEN, Http, bearer, health_status, ok, open_channel

WRONG = "not-the-token"
# The credentials every probe is tried with: none at all, a wrong token, the server's token.
CREDENTIALS = {"none": None, "wrong": WRONG, "right": TOKEN}

QUIET = 0.5  # how long a stream that has opened is watched for a late rejection
WS_TIMEOUT = 10.0  # the longest a WebSocket handshake or an answer to connection_init may take

# The rejections, as the probes normalize them (see the module's docstring).
GRPC = "UNAUTHENTICATED"
GRPC_WEB = "grpc-status 16"
CONNECT_UNARY = "HTTP 401 unauthenticated"
CONNECT_STREAM = "end-stream unauthenticated"
REST = "HTTP 401 code 16, WWW-Authenticate: Bearer"
GRAPHQL_HTTP = "HTTP 401 UNAUTHENTICATED"
GRAPHQL_WS = "close 4403"
TRPC_QUERY = "HTTP 401 UNAUTHORIZED (-32001, httpStatus 401)"
TRPC_SUBSCRIPTION = "serialized-error UNAUTHORIZED (-32001, httpStatus 401)"
WEBSOCKET = "close 4401"


# ---------------------------------------------------------------------------------------------
# Outcomes, probes, the environment they run in


@dataclasses.dataclass
class Outcome:
    """What one call came to: "ok", or the rejection normalized to a short text. `status` and
    `challenge` are the HTTP status and `WWW-Authenticate` header when the answer was plain HTTP."""

    text: str
    status: Optional[int] = None
    challenge: Optional[str] = None

    def __str__(self):
        return self.text


OK = Outcome("ok")


@dataclasses.dataclass(frozen=True)
class Probe:
    name: str
    run: Callable  # (env, token or None) -> Outcome
    rejection: Optional[str]  # the outcome without the right token; None: open to everyone

    def expected(self, credential):
        return "ok" if self.rejection is None or credential == "right" else self.rejection

    def __repr__(self):
        return f"Probe({self.name!r})"


@dataclasses.dataclass
class Env:
    pb: object
    bookstore: str  # addresses
    chat: str
    bookstore_grpc: object  # stubs
    chat_grpc: object
    bookstore_channel: object
    chat_channel: object
    shelf: str  # an existing shelf, created with the right token
    room: str

    def __repr__(self):
        return f"Env(bookstore={self.bookstore}, chat={self.chat}, shelf={self.shelf}, room={self.room})"


@pytest.fixture(scope="module")
def env(pb, bookstore_token_server, chat_token_server):
    with open_channel(bookstore_token_server.address) as bc, open_channel(chat_token_server.address) as cc:
        with Http(bookstore_token_server.address) as h:
            shelf = ok(h.post("/v1/shelves", json={"theme": "Authentication matrix"}, headers=header(TOKEN)))["name"]
        yield Env(
            pb=pb,
            bookstore=bookstore_token_server.address,
            chat=chat_token_server.address,
            bookstore_grpc=pb.bookstore_grpc.BookstoreStub(bc),
            chat_grpc=pb.chat_grpc.ChatStub(cc),
            bookstore_channel=bc,
            chat_channel=cc,
            shelf=shelf,
            room=f"rooms/auth-{uuid.uuid4().hex[:10]}",
        )


def header(token):
    return {"authorization": f"Bearer {token}"} if token is not None else {}


def metadata(token):
    return bearer(token) if token is not None else None


def query_string(**params):
    """`?a=1&b=2` of the params that are not None, URL-encoded."""
    given = {k: v for k, v in params.items() if v is not None}
    return "?" + urllib.parse.urlencode(given) if given else ""


def attempt(probe, env, credential):
    """The probe's outcome; an exception (a client error, a timeout) becomes the outcome itself."""
    try:
        return probe.run(env, CREDENTIALS[credential])
    except Exception as err:  # noqa: BLE001 - every failure is an outcome of the cell
        return Outcome(f"raised {type(err).__name__}: {err}"[:200])


# ---------------------------------------------------------------------------------------------
# Raw HTTP/1.1: the status and headers first, then the body as it arrives, every read bounded


@contextlib.contextmanager
def raw_http(address, method, path, headers=None, body=None):
    """One request on its own connection; yields (response, socket) as soon as the head has arrived."""
    host, port = address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=CALL_TIMEOUT)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        sock = connection.sock  # kept: http.client hands it to the response when the server closes
        yield connection.getresponse(), sock
    finally:
        connection.close()


def read_within(sock, seconds, read):
    """`read()` with the socket's timeout set to SECONDS; None when nothing arrives in time."""
    sock.settimeout(max(seconds, 0.01))
    try:
        return read()
    except (TimeoutError, socket.timeout):
        return None


_END = object()


def next_event(response, sock, seconds):
    """The next server-sent event block as a dict of its fields (`data` lines joined), None when
    none arrives within SECONDS, _END at the end of the body. Comments are skipped."""
    deadline = time.monotonic() + seconds
    block = {}
    while True:
        line = read_within(sock, deadline - time.monotonic(), response.readline)
        if line is None:
            return None
        if line == b"":
            return block or _END
        line = line.decode(errors="replace").rstrip("\r\n")
        if line == "":
            if block:
                return block
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        block[field] = f"{block[field]}\n{value}" if field == "data" and "data" in block else value


def loads(text):
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


def challenge_scheme(value):
    return value.split(" ")[0] if value else None


def http_outcome(status, headers, body, describe):
    """The outcome of a plain HTTP answer: DESCRIBE(parsed JSON body) names the error in the
    protocol's shape, or returns None when the body is not in that shape."""
    content_type = (headers.get("content-type") or "").split(";")[0].strip()
    parsed = loads(body) if content_type == "application/json" else None
    named = describe(parsed) if parsed is not None else None
    text = f"HTTP {status} {named}" if named else f"HTTP {status} {content_type or 'no content-type'} {body[:100]!r}"
    return Outcome(text, status, headers.get("www-authenticate"))


def requests_outcome(response, describe):
    return http_outcome(response.status_code, response.headers, response.text, describe)


def raw_outcome(response, describe):
    body = read_within_response(response)
    headers = {k.lower(): v for k, v in response.getheaders()}
    return http_outcome(response.status, headers, body, describe)


def read_within_response(response):
    try:
        return response.read().decode(errors="replace")
    except (OSError, http.client.HTTPException) as err:
        return f"<unreadable body: {err!r}>"


# The error shapes of each HTTP protocol: a short name for a body in that shape, or None.


def rest_error_name(body):
    if isinstance(body, dict) and set(body) == {"code", "message", "details"} and isinstance(body["code"], int):
        if isinstance(body["message"], str) and body["message"] and isinstance(body["details"], list):
            return f"code {body['code']}"
    return None


def rest_name_with_challenge(outcome):
    """REST's outcome names the challenge too: it is part of REST's contract here."""
    if outcome.status == 401 and "code " in outcome.text:
        scheme = challenge_scheme(outcome.challenge)
        outcome.text += f", WWW-Authenticate: {scheme}" if scheme else ", no WWW-Authenticate"
    return outcome


def connect_error_name(body):
    if isinstance(body, dict) and isinstance(body.get("code"), str) and set(body) <= {"code", "message", "details"}:
        return body["code"]
    return None


def graphql_error_name(body):
    errors = body.get("errors") if isinstance(body, dict) else None
    if not (isinstance(errors, list) and errors and all(isinstance(e, dict) and e.get("message") for e in errors)):
        return None
    return ",".join(str((e.get("extensions") or {}).get("code")) for e in errors)


def trpc_error_name(error):
    """tRPC's default error shape `{"message", "code", "data": {"code", "httpStatus", …}}`."""
    if not (isinstance(error, dict) and set(error) == {"message", "code", "data"} and isinstance(error["data"], dict)):
        return None
    if not (isinstance(error["message"], str) and error["message"]):
        return None
    return f"{error['data'].get('code')} ({error['code']}, httpStatus {error['data'].get('httpStatus')})"


def trpc_response_error_name(body):
    return trpc_error_name(body.get("error")) if isinstance(body, dict) and set(body) == {"error"} else None


# ---------------------------------------------------------------------------------------------
# gRPC (grpcio) and gRPC-Web (raw HTTP/1.1, as a browser sends it)


def grpc_unary(env, token):
    try:
        shelf = env.bookstore_grpc.GetShelf(env.pb.bookstore.GetShelfRequest(name=env.shelf), metadata=metadata(token))
    except grpc.RpcError as err:
        return Outcome(err.code().name)
    return OK if shelf.name == env.shelf else Outcome(f"answered {shelf}")


def grpc_stream(start):
    """A server-streaming call that succeeds when the server answers with its headers and does
    not end the stream right after."""

    def run(env, token):
        call = start(env, metadata(token))
        try:
            try:
                call.initial_metadata()
            except grpc.RpcError as err:
                return Outcome(err.code().name)
            try:
                call.exception(timeout=QUIET)
            except grpc.FutureTimeoutError:
                return OK  # still open
            return Outcome(call.code().name if call.code() != grpc.StatusCode.OK else "the stream ended at once")
        finally:
            call.cancel()

    return run


grpc_watch_shelf = grpc_stream(
    lambda env, md: env.bookstore_grpc.WatchShelf(env.pb.bookstore.WatchShelfRequest(name=env.shelf), metadata=md, timeout=CALL_TIMEOUT)
)
grpc_chat_subscribe = grpc_stream(
    lambda env, md: env.chat_grpc.Subscribe(env.pb.chat.SubscribeRequest(room=env.room), metadata=md, timeout=CALL_TIMEOUT)
)


def grpc_web_frames(data):
    """The messages and the trailers of a gRPC-Web body (base framing; 0x80 marks the trailers)."""
    messages, trailers = [], {}
    while len(data) >= 5:
        flags, length = data[0], int.from_bytes(data[1:5], "big")
        payload, data = data[5 : 5 + length], data[5 + length :]
        if flags & 0x80:
            for line in payload.decode(errors="replace").split("\r\n"):
                name, sep, value = line.partition(":")
                if sep:
                    trailers[name.strip().lower()] = value.strip()
        else:
            messages.append(payload)
    return messages, trailers, data


def grpc_web(env, token):
    request = env.pb.bookstore.GetShelfRequest(name=env.shelf).SerializeToString()
    body = b"\x00" + len(request).to_bytes(4, "big") + request
    headers = {"content-type": "application/grpc-web+proto", "x-grpc-web": "1", "accept": "application/grpc-web+proto", **header(token)}
    with raw_http(env.bookstore, "POST", "/bookstore.v1.Bookstore/GetShelf", headers, body) as (response, _):
        data = response.read()
        head = {k.lower(): v for k, v in response.getheaders()}
    if response.status != 200:
        return Outcome(f"HTTP {response.status} {data[:100]!r}", response.status, head.get("www-authenticate"))
    if not head.get("content-type", "").startswith("application/grpc-web"):
        return Outcome(f"HTTP 200 with content-type {head.get('content-type')!r}")
    messages, trailers, rest = grpc_web_frames(data)
    if rest:
        return Outcome(f"a truncated gRPC-Web frame: {rest!r}")
    status = head.get("grpc-status", trailers.get("grpc-status"))
    if status is None:
        return Outcome(f"no grpc-status in the headers or trailers ({len(messages)} messages)")
    if status != "0":
        return Outcome(f"grpc-status {status}")
    if len(messages) != 1 or env.pb.bookstore.Shelf.FromString(messages[0]).name != env.shelf:
        return Outcome(f"grpc-status 0 with {len(messages)} messages")
    return OK


# ---------------------------------------------------------------------------------------------
# Connect


def connect_unary(env, token):
    with Http(env.bookstore) as h:
        response = h.connect("bookstore.v1.Bookstore/GetShelf", {"name": env.shelf}, headers=header(token))
    if response.status_code == 200 and (loads(response.text) or {}).get("name") == env.shelf:
        return OK
    return requests_outcome(response, connect_error_name)


def connect_stream(env, token):
    """WatchShelf with `application/connect+json`: open when the server answers 200 with the
    streaming content type and sends no end-of-stream message at once."""
    request = json.dumps({"name": env.shelf}).encode()
    body = b"\x00" + len(request).to_bytes(4, "big") + request
    headers = {"content-type": "application/connect+json", "connect-protocol-version": "1", **header(token)}
    with raw_http(env.bookstore, "POST", "/bookstore.v1.Bookstore/WatchShelf", headers, body) as (response, sock):
        kind = response.getheader("content-type", "")
        if response.status != 200 or not kind.startswith("application/connect+json"):
            return raw_outcome(response, connect_error_name)
        head = read_within(sock, QUIET, lambda: response.read(5))
        if head is None:
            return OK  # open, nothing to say yet
        if len(head) < 5:
            return Outcome(f"HTTP 200, then the body ended after {head!r} (no end-of-stream message)")
        flags, length = head[0], int.from_bytes(head[1:5], "big")
        payload = read_within(sock, CALL_TIMEOUT, lambda: response.read(length))
        if not flags & 0x02:
            return OK  # a message: open
        end = loads(payload)
        error = end.get("error") if isinstance(end, dict) else None
        if isinstance(error, dict) and isinstance(error.get("code"), str):
            return Outcome(f"end-stream {error['code']}")
        return Outcome(f"end-stream {payload!r}")


# ---------------------------------------------------------------------------------------------
# REST and SSE


def rest_list_shelves(env, token):
    with Http(env.bookstore) as h:
        response = h.get("/v1/shelves", headers=header(token))
    if response.status_code == 200 and env.shelf in [s.get("name") for s in (loads(response.text) or {}).get("shelves", [])]:
        return OK
    return rest_name_with_challenge(requests_outcome(response, rest_error_name))


def sse(address_of, path_of, via):
    """An SSE stream, open when the server answers 200 `text/event-stream` and sends `retry:` first.
    VIA is how the token travels: "header" (`authorization`) or "query" (`?access_token=`)."""

    def run(env, token):
        path = path_of(env)
        headers = {"accept": "text/event-stream"}
        if via == "header":
            headers.update(header(token))
        elif token is not None:
            path += ("&" if "?" in path else "?") + urllib.parse.urlencode({"access_token": token})
        with raw_http(address_of(env), "GET", path, headers) as (response, sock):
            if response.status != 200:
                return rest_name_with_challenge(raw_outcome(response, rest_error_name))
            kind = response.getheader("content-type", "")
            if not kind.startswith("text/event-stream"):
                return Outcome(f"HTTP 200 with content-type {kind!r}")
            first = next_event(response, sock, CALL_TIMEOUT)
            if first is None or first is _END:
                return Outcome("HTTP 200, then no event" if first is None else "HTTP 200, then the stream ended")
            if "retry" in first and "data" not in first:
                return OK
            return Outcome(f"HTTP 200, then {first} instead of `retry:`")

    return run


def watch_shelf_sse_path(env):
    return f"/sse/bookstore.v1.Bookstore/WatchShelf{query_string(name=env.shelf)}"


def watch_shelf_rest_path(env):
    return f"/v1/{env.shelf}:watch"


def chat_sse_path(env):
    return f"/sse/chat.v1.Chat/Subscribe{query_string(room=env.room)}"


# ---------------------------------------------------------------------------------------------
# GraphQL over HTTP


def graphql_http(env, token):
    query = {"query": "query($n: String!) { getShelf(name: $n) { name } }", "variables": {"n": env.shelf}}
    with Http(env.bookstore) as h:
        response = h.post("/graphql", json=query, headers=header(token))
    body = loads(response.text)
    if response.status_code == 200 and isinstance(body, dict) and not body.get("errors"):
        if ((body.get("data") or {}).get("getShelf") or {}).get("name") == env.shelf:
            return OK
    return requests_outcome(response, graphql_error_name)


# ---------------------------------------------------------------------------------------------
# WebSockets: graphql-transport-ws at /graphql/ws and apigen.v1 at /ws


def recv_json(ws, seconds):
    """The next JSON text frame within SECONDS (protocol pings answered), or None."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            raw = ws.recv(timeout=left)
        except TimeoutError:
            return None
        frame = loads(raw) if isinstance(raw, str) else None
        if not isinstance(frame, dict):
            return {"type": f"<not a JSON object: {raw[:80]!r}>"}
        if frame.get("type") == "ping":
            ws.send(json.dumps({"type": "pong"}))
            continue
        return frame
    return None


def websocket_call(address, path, subprotocol, headers, payload, subscribe, judge):
    """Connects (HEADERS on the upgrade), sends `connection_init` (with PAYLOAD unless None),
    expects `connection_ack`, sends SUBSCRIBE and watches it QUIET seconds: no answer is "ok",
    an answer is JUDGE(frame), a close is "close CODE"."""
    try:
        connection = ws_connect(
            f"ws://{address}{path}", subprotocols=[subprotocol], additional_headers=headers or None,
            open_timeout=WS_TIMEOUT, close_timeout=2, proxy=None,
        )  # fmt: skip
    except InvalidStatus as err:
        refused = err.response
        body = bytes(refused.body or b"").decode(errors="replace")
        return Outcome(f"upgrade refused: HTTP {refused.status_code} {body[:100]!r}", refused.status_code, refused.headers.get("www-authenticate"))
    with connection as ws:
        if ws.subprotocol != subprotocol:
            return Outcome(f"the server chose the subprotocol {ws.subprotocol!r}")
        try:
            ws.send(json.dumps({"type": "connection_init", **({"payload": payload} if payload is not None else {})}))
            answer = recv_json(ws, WS_TIMEOUT)
            if answer is None:
                return Outcome(f"no answer to connection_init in {WS_TIMEOUT:.0f} s")
            if answer.get("type") != "connection_ack":
                return Outcome(f"{answer} instead of connection_ack")
            ws.send(json.dumps(subscribe))
            frame = recv_json(ws, QUIET)
            return OK if frame is None else judge(frame)
        except ConnectionClosed as closed:
            return Outcome(f"close {closed.rcvd.code}" if closed.rcvd else f"closed without a close frame ({closed})")


def graphql_ws(via):
    """watchShelf over graphql-transport-ws; the token in the `connection_init` payload or the upgrade."""

    def judge(frame):
        if frame.get("type") == "next" and not (frame.get("payload") or {}).get("errors"):
            return OK
        errors = frame.get("payload")
        errors = errors.get("errors") if isinstance(errors, dict) else errors
        if isinstance(errors, list):
            return Outcome(f"{frame.get('type')} with errors {','.join(str((e.get('extensions') or {}).get('code')) for e in errors)}")
        return Outcome(f"{frame}"[:150])

    def run(env, token):
        subscribe = {
            "id": "w",
            "type": "subscribe",
            "payload": {"query": "subscription($n: String!) { watchShelf(name: $n) { kind } }", "variables": {"n": env.shelf}},
        }
        headers, payload = (header(token), None) if via == "header" else ({}, header(token))
        return websocket_call(env.bookstore, "/graphql/ws", "graphql-transport-ws", headers, payload, subscribe, judge)

    return run


def apigen_ws(address_of, method, request_of, via):
    """A server-streaming call over apigen.v1; the token in the `connection_init` payload or the upgrade."""

    def judge(frame):
        if frame.get("type") == "next" and frame.get("id") == "1":
            return OK
        if frame.get("type") == "error" and isinstance(frame.get("payload"), dict):
            return Outcome(f"error {frame['payload'].get('code')}")
        return Outcome(f"{frame}"[:150])

    def run(env, token):
        subscribe = {"type": "subscribe", "id": "1", "method": method, "payload": request_of(env)}
        headers, payload = (header(token), None) if via == "header" else ({}, header(token))
        return websocket_call(address_of(env), "/ws", "apigen.v1", headers, payload, subscribe, judge)

    return run


# ---------------------------------------------------------------------------------------------
# tRPC


def trpc_query(env, token):
    path = f"/trpc/bookstore.getShelf{query_string(input=json.dumps({'name': env.shelf}))}"
    with Http(env.bookstore) as h:
        response = h.get(path, headers=header(token))
    body = loads(response.text)
    if response.status_code == 200 and isinstance(body, dict) and ((body.get("result") or {}).get("data") or {}).get("name") == env.shelf:
        return OK
    return requests_outcome(response, trpc_response_error_name)


def trpc_subscription(address_of, procedure, input_of, via):
    """A subscription as httpSubscriptionLink opens it (GET, `Accept: text/event-stream`): open
    when `connected` comes first and no `serialized-error` follows. The token in the
    `authorization` header or in `?connectionParams={"authorization": …}`."""

    def run(env, token):
        params = {"input": json.dumps(input_of(env))}
        headers = {"accept": "text/event-stream"}
        if via == "header":
            headers.update(header(token))
        elif token is not None:
            params["connectionParams"] = json.dumps(header(token))
        with raw_http(address_of(env), "GET", f"/trpc/{procedure}{query_string(**params)}", headers) as (response, sock):
            if response.status != 200:
                return raw_outcome(response, trpc_response_error_name)
            kind = response.getheader("content-type", "")
            if not kind.startswith("text/event-stream"):
                return Outcome(f"HTTP 200 with content-type {kind!r}")
            first = next_event(response, sock, CALL_TIMEOUT)
            while isinstance(first, dict) and "event" not in first and "data" not in first:
                first = next_event(response, sock, CALL_TIMEOUT)  # `retry:` alone
            if not isinstance(first, dict) or first.get("event") != "connected":
                return Outcome(f"HTTP 200, then {'nothing' if first is None else 'the end' if first is _END else first} instead of `connected`")
            then = next_event(response, sock, QUIET)
            if then is None or (isinstance(then, dict) and then.get("event", "message") == "message"):
                return OK
            if then is _END:
                return Outcome("connected, then the stream ended")
            if then.get("event") == "serialized-error":
                named = trpc_error_name(loads(then.get("data")))
                return Outcome(f"serialized-error {named}" if named else f"serialized-error {then.get('data')!r}")
            return Outcome(f"connected, then {then}")

    return run


# ---------------------------------------------------------------------------------------------
# What stays open: OpenAPI, SDL, docs, health


def open_get(address_of, path, check):
    def run(env, token):
        with Http(address_of(env)) as h:
            response = h.get(path, headers=header(token))
        if response.status_code == 200 and check(response):
            return OK
        return Outcome(f"HTTP {response.status_code} {response.headers.get('content-type')} {response.text[:100]!r}", response.status_code)

    return run


def is_openapi(response):
    body = loads(response.text)
    return response.headers.get("content-type", "").startswith("application/json") and isinstance(body, dict) and "openapi" in body and body.get("paths")


def is_sdl(response):
    return "type Query" in response.text


def is_html(response):
    return response.headers.get("content-type", "").startswith("text/html") and "<html" in response.text.lower()


def grpc_health(channel_of, service):
    def run(env, token):
        try:
            status = health_status(channel_of(env), service, metadata=metadata(token))
        except grpc.RpcError as err:
            return Outcome(err.code().name)
        return OK if status == "SERVING" else Outcome(status)

    return run


# ---------------------------------------------------------------------------------------------
# The matrix


def bookstore(env):
    return env.bookstore


def chat(env):
    return env.chat


PROBES = [
    Probe("gRPC unary GetShelf (metadata)", grpc_unary, GRPC),
    Probe("gRPC stream WatchShelf (metadata)", grpc_watch_shelf, GRPC),
    Probe("gRPC-Web GetShelf (header)", grpc_web, GRPC_WEB),
    Probe("Connect unary GetShelf (header)", connect_unary, CONNECT_UNARY),
    Probe("Connect stream WatchShelf (header)", connect_stream, CONNECT_STREAM),
    Probe("REST GET /v1/shelves (header)", rest_list_shelves, REST),
    Probe("GraphQL POST /graphql (header)", graphql_http, GRAPHQL_HTTP),
    Probe("GraphQL ws watchShelf (init payload)", graphql_ws("payload"), GRAPHQL_WS),
    Probe("GraphQL ws watchShelf (upgrade header)", graphql_ws("header"), GRAPHQL_WS),
    Probe("tRPC query getShelf (header)", trpc_query, TRPC_QUERY),
    Probe("tRPC sub watchShelf (header)", trpc_subscription(bookstore, "bookstore.watchShelf", lambda e: {"name": e.shelf}, "header"), TRPC_SUBSCRIPTION),
    Probe("tRPC sub watchShelf (connectionParams)", trpc_subscription(bookstore, "bookstore.watchShelf", lambda e: {"name": e.shelf}, "params"), TRPC_SUBSCRIPTION),
    Probe("WS apigen.v1 WatchShelf (init payload)", apigen_ws(bookstore, "bookstore.v1.Bookstore/WatchShelf", lambda e: {"name": e.shelf}, "payload"), WEBSOCKET),
    Probe("WS apigen.v1 WatchShelf (upgrade header)", apigen_ws(bookstore, "bookstore.v1.Bookstore/WatchShelf", lambda e: {"name": e.shelf}, "header"), WEBSOCKET),
    Probe("SSE /sse/…/WatchShelf (header)", sse(bookstore, watch_shelf_sse_path, "header"), REST),
    Probe("SSE /sse/…/WatchShelf (?access_token=)", sse(bookstore, watch_shelf_sse_path, "query"), REST),
    Probe("SSE /v1/{shelf}:watch (header)", sse(bookstore, watch_shelf_rest_path, "header"), REST),
    Probe("SSE /v1/{shelf}:watch (?access_token=)", sse(bookstore, watch_shelf_rest_path, "query"), REST),
    Probe("chat gRPC stream Subscribe (metadata)", grpc_chat_subscribe, GRPC),
    Probe("chat WS apigen.v1 Subscribe (init payload)", apigen_ws(chat, "chat.v1.Chat/Subscribe", lambda e: {"room": e.room}, "payload"), WEBSOCKET),
    Probe("chat SSE Subscribe (header)", sse(chat, chat_sse_path, "header"), REST),
    Probe("chat SSE Subscribe (?access_token=)", sse(chat, chat_sse_path, "query"), REST),
    Probe("chat tRPC sub subscribe (connectionParams)", trpc_subscription(chat, "chat.subscribe", lambda e: {"room": e.room}, "params"), TRPC_SUBSCRIPTION),
]

OPEN = [
    Probe(f"open: {server} {label}", run, None)
    for server, address_of, channel_of, service in [
        ("bookstore", bookstore, lambda e: e.bookstore_channel, "bookstore.v1.Bookstore"),
        ("chat", chat, lambda e: e.chat_channel, "chat.v1.Chat"),
    ]
    for label, run in [
        ("GET /openapi.json", open_get(address_of, "/openapi.json", is_openapi)),
        ("GET /graphql/schema.graphql", open_get(address_of, "/graphql/schema.graphql", is_sdl)),
        ("GET /docs", open_get(address_of, "/docs", is_html)),
        ("GET /healthz", open_get(address_of, "/healthz", lambda r: True)),
        ("gRPC Health/Check \"\"", grpc_health(channel_of, "")),
        (f"gRPC Health/Check {service}", grpc_health(channel_of, service)),
    ]
]

MATRIX = PROBES + OPEN


def slug(name):
    return "".join(c if c.isalnum() else "-" for c in name).strip("-").lower().replace("--", "-")


@pytest.mark.parametrize("credential", list(CREDENTIALS))
@pytest.mark.parametrize("probe", MATRIX, ids=[slug(p.name) for p in MATRIX])
def test_each_cell(env, probe, credential):
    got = attempt(probe, env, credential)
    assert got.text == probe.expected(credential), f"{probe.name}, {credential} token: expected {probe.expected(credential)!r}, got {got.text!r}"


def render(rows):
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def test_the_whole_matrix(env):
    """Every probe with every credential, as one table: `ok` where it matches, `!!` where not."""
    rows = [("probe", *(f"{c} token" for c in CREDENTIALS))]
    wrong = []
    for probe in MATRIX:
        cells = []
        for credential in CREDENTIALS:
            got, want = attempt(probe, env, credential), probe.expected(credential)
            if got.text == want:
                cells.append(f"ok: {got.text}" if want != "ok" else "ok")
            else:
                cells.append(f"!! {got.text} (expected {want})")
                wrong.append(f"{probe.name}, {credential} token")
        rows.append((probe.name, *cells))
    table = render(rows)
    print(f"\n{table}")
    assert not wrong, f"{len(wrong)} of {len(MATRIX) * len(CREDENTIALS)} cells differ from the contract:\n{table}"


# Probes whose rejection is a plain HTTP 401: RFC 9110 §15.5.2 says such a response MUST carry
# `WWW-Authenticate` with a challenge; for a bearer token, `Bearer` (RFC 6750 §3).
HTTP_401 = [p for p in PROBES if p.rejection is not None and p.rejection.startswith("HTTP 401")]


@pytest.mark.parametrize("credential", ["none", "wrong"])
@pytest.mark.parametrize("probe", HTTP_401, ids=[slug(p.name) for p in HTTP_401])
def test_every_http_401_carries_a_bearer_challenge(env, probe, credential):
    got = attempt(probe, env, credential)
    assert got.status == 401, f"{probe.name}, {credential} token: expected HTTP 401, got {got.text!r}"
    assert challenge_scheme(got.challenge) == "Bearer", (
        f"{probe.name}, {credential} token: HTTP 401 with WWW-Authenticate {got.challenge!r} ({got.text})"
    )
