"""Helpers shared by the end-to-end tests: channels, HTTP clients, error checks, streams, timestamps."""

import collections
import contextlib
import datetime
import json
import queue
import re
import time

import grpc
import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

# The default deadline of every call made through `open_channel`, and the default timeout of
# every request made through `Http`, in seconds. Streams that the tests read from therefore end
# (with DEADLINE_EXCEEDED) instead of hanging.
CALL_TIMEOUT = 10.0

# The token the servers of the authentication tests are started with.
TOKEN = "e2e-token-0f7c"


def bearer(token=TOKEN):
    """gRPC metadata that authenticates with `token`."""
    return (("authorization", f"Bearer {token}"),)


class _CallDetails(
    collections.namedtuple(
        "_CallDetails", ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")
    ),
    grpc.ClientCallDetails,
):
    pass


class _DefaultDeadline(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Gives every call without an explicit timeout the default deadline."""

    def __init__(self, timeout):
        self._timeout = timeout

    def _details(self, d):
        if d.timeout is not None:
            return d
        return _CallDetails(d.method, self._timeout, d.metadata, d.credentials, d.wait_for_ready, d.compression)

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation, details, requests):
        return continuation(self._details(details), requests)

    def intercept_stream_stream(self, continuation, details, requests):
        return continuation(self._details(details), requests)


@contextlib.contextmanager
def open_channel(address):
    """An insecure channel to `address` whose calls default to a CALL_TIMEOUT deadline."""
    # No proxy: the servers listen on loopback and an http_proxy in the environment must not interfere.
    raw = grpc.insecure_channel(address, options=[("grpc.enable_http_proxy", 0)])
    try:
        grpc.channel_ready_future(raw).result(timeout=CALL_TIMEOUT)
        yield grpc.intercept_channel(raw, _DefaultDeadline(CALL_TIMEOUT))
    finally:
        raw.close()


@contextlib.contextmanager
def rpc_error(code, *mentions):
    """Expects the block to fail with status `code` and a message that contains every one of `mentions`."""
    with pytest.raises(grpc.RpcError) as info:
        yield info
    err = info.value
    assert err.code() == code, f"expected {code.name}, got {err.code().name}: {err.details()!r}"
    for text in mentions:
        assert text in (err.details() or ""), f"expected the {code.name} message to mention {text!r}; it was {err.details()!r}"


def take(stream, n):
    """The next `n` messages of a response stream; fails clearly when they do not all come."""
    got = []
    try:
        for message in stream:
            got.append(message)
            if len(got) == n:
                return got
    except grpc.RpcError as err:
        pytest.fail(
            f"the stream failed with {err.code().name} ({err.details()!r}) after {len(got)} of {n} messages: {got}"
        )
    pytest.fail(f"the stream ended after {len(got)} of {n} messages: {got}")


def wait_until_open(call):
    """Blocks until the server has answered a streaming call with its headers, i.e. has accepted it."""
    try:
        call.initial_metadata()
    except grpc.RpcError:
        pass  # the call failed; reading from it reports why
    return call


class RequestStream:
    """A request iterator that the test feeds while the call runs; use it in a `with` block."""

    _END = object()

    def __init__(self, *first, give_up_after=60.0):
        self._queue = queue.Queue()
        self._give_up_at = time.monotonic() + give_up_after
        for message in first:
            self.send(message)

    def send(self, message):
        self._queue.put(message)

    def close(self):
        self._queue.put(self._END)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __iter__(self):
        # Never blocks gRPC's sending thread forever, even when a test forgets to close.
        while time.monotonic() < self._give_up_at:
            try:
                message = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if message is self._END:
                return
            yield message


# ---------------------------------------------------------------------------------------------
# HTTP: REST (the google.api.http bindings) and Connect's unary JSON


class Http:
    """A `requests` session for one server: paths are relative to its base URL, every request
    has a timeout, and proxies from the environment are not used (the servers are on loopback)."""

    def __init__(self, address, headers=None):
        self.base = f"http://{address}"
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.headers.update(headers or {})

    def request(self, method, path, **kwargs):
        kwargs.setdefault("timeout", CALL_TIMEOUT)
        response = self.session.request(method, self.base + path, **kwargs)
        if response.status_code >= 400 and response.request.body:
            # The server may answer an error before reading the body and then close the connection
            # without saying so; a request reusing it would fail at random. Start afresh instead:
            # test_rest_bookstore.py's test_..._leaves_a_usable_connection tests that case itself.
            self.session.close()
        return response

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)

    def patch(self, path, **kwargs):
        return self.request("PATCH", path, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)

    def connect(self, method, message, **kwargs):
        """Calls `method` ("package.Service/Method") with Connect's unary JSON encoding, saying so
        with `Connect-Protocol-Version` as Connect clients do (without it, a method's default REST
        binding at the same path answers)."""
        headers = {"connect-protocol-version": "1", **kwargs.pop("headers", {})}
        return self.post(f"/{method}", json=message, headers=headers, **kwargs)

    def close(self):
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def describe(response):
    return f"{response.request.method} {response.request.path_url} -> {response.status_code} {response.text[:500]!r}"


def json_body(response):
    """The JSON body of `response`, which must say it is JSON."""
    kind = response.headers.get("content-type", "")
    assert kind.split(";")[0].strip() == "application/json", f"expected a JSON body, got content-type {kind!r}: {describe(response)}"
    try:
        return response.json()
    except ValueError:
        pytest.fail(f"the body is not JSON: {describe(response)}")


def ok(response):
    """The JSON body of a 200 response; fails with the whole response when it is anything else."""
    assert response.status_code == 200, describe(response)
    return json_body(response)


def _check_mentions(message, mentions, response):
    """Every one of `mentions` is in `message`; a tuple among them means any one of its strings."""
    for text in mentions:
        options = text if isinstance(text, tuple) else (text,)
        assert any(o in message for o in options), f"expected the message to mention {' or '.join(map(repr, options))}: {describe(response)}"


def rest_error(response, status, code, *mentions):
    """`response` is the REST error `{"code": code, "message": …, "details": [...]}` with HTTP `status`
    (`code=None`: any gRPC code), and its message contains every one of `mentions`. Returns the message."""
    assert response.status_code == status, f"expected HTTP {status}: {describe(response)}"
    body = json_body(response)
    assert isinstance(body, dict) and set(body) == {"code", "message", "details"}, f"not a REST error body: {describe(response)}"
    assert isinstance(body["code"], int) and 0 < body["code"] <= 16, f"not a gRPC code: {describe(response)}"
    if code is not None:
        assert body["code"] == code, f"expected code {code}: {describe(response)}"
    assert isinstance(body["message"], str) and body["message"], describe(response)
    assert isinstance(body["details"], list), describe(response)
    _check_mentions(body["message"], mentions, response)
    return body["message"]


def connect_error(response, status, code, *mentions):
    """`response` is Connect's unary error `{"code": "not_found", "message": …}` with HTTP `status`."""
    assert response.status_code == status, f"expected HTTP {status}: {describe(response)}"
    body = json_body(response)
    assert isinstance(body, dict) and body.get("code") == code, f"expected Connect code {code!r}: {describe(response)}"
    assert set(body) <= {"code", "message", "details"}, f"not a Connect error body: {describe(response)}"
    _check_mentions(body.get("message", ""), mentions, response)
    return body.get("message", "")


RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3}|\.\d{6}|\.\d{9})?Z$")


def rfc3339(value, what="timestamp"):
    """Parses a proto3 JSON Timestamp (RFC 3339, UTC, "Z", 0/3/6/9 fractional digits) into epoch seconds."""
    assert isinstance(value, str) and RFC3339_UTC.match(value), f"{what} is not an RFC 3339 UTC timestamp: {value!r}"
    whole, _, fraction = value[:-1].partition(".")
    seconds = datetime.datetime.fromisoformat(whole).replace(tzinfo=datetime.timezone.utc).timestamp()
    return seconds + (int(fraction) / 10 ** len(fraction) if fraction else 0)


def assert_recent_json(value, what="timestamp"):
    """`value` is a proto3 JSON Timestamp within a few minutes of now."""
    skew = abs(rfc3339(value, what) - time.time())
    assert skew < 300, f"{what} is {skew:.0f} s away from now: {value}"


def nanos(ts):
    return ts.seconds * 1_000_000_000 + ts.nanos


def assert_recent(ts, what="timestamp"):
    """`ts` is set and within a few minutes of now (the server runs on this machine)."""
    assert nanos(ts) > 0, f"{what} is not set"
    skew = abs(nanos(ts) / 1e9 - time.time())
    assert skew < 300, f"{what} is {skew:.0f} s away from now: {ts}"


# ---------------------------------------------------------------------------------------------
# The services every server has besides its own: health, reflection, and what unknown paths get.


def health_status(channel, service, metadata=None):
    """The name of the serving status grpc.health.v1.Health/Check reports for `service`."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service), metadata=metadata)
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


def reflection(channel):
    """The services listed by grpc.reflection.v1alpha, and a descriptor pool fed by it."""
    from google.protobuf.descriptor_pool import DescriptorPool
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    database = ProtoReflectionDescriptorDatabase(channel)
    return list(database.get_services()), DescriptorPool(database)


def call_raw(channel, path, payload=b""):
    """Calls a method by its path with raw bytes, as a client with a different schema would."""
    return channel.unary_unary(path)(payload)


# The longest any single wait on a WebSocket may take, in seconds.
WS_TIMEOUT = 10.0


class JsonSocket:
    """A WebSocket speaking JSON text frames with a `type` and an `id` (apigen.v1 and
    graphql-transport-ws alike): pings answered, frames kept per id, every wait bounded."""

    def __init__(self, url, subprotocol, headers=None, **options):
        self._connection = ws_connect(
            url, subprotocols=[subprotocol], additional_headers=headers, open_timeout=WS_TIMEOUT, close_timeout=2, proxy=None, **options
        )
        self.ws = self._connection.__enter__()
        assert self.ws.subprotocol == subprotocol, f"the server chose the subprotocol {self.ws.subprotocol!r}"
        self.pending = collections.defaultdict(collections.deque)  # id -> frames not yet taken
        self.log = []  # every frame received (shortened), for failure messages
        self.close_error = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._connection.__exit__(*exc)

    def send(self, frame):
        self.ws.send(frame if isinstance(frame, (str, bytes)) else json.dumps(frame))

    def recv(self, timeout=WS_TIMEOUT):
        """The next frame (server pings answered), or None when none arrives in TIMEOUT seconds."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                raw = self.ws.recv(timeout=left)
            except TimeoutError:
                return None
            except ConnectionClosed as closed:
                pytest.fail(f"the server closed the socket ({closed.rcvd}); received so far: {self.log[-20:]}")
            assert isinstance(raw, str), f"expected a text frame, got {raw[:100]!r}"
            frame = json.loads(raw)
            self.log.append(raw[:300])
            if frame.get("type") == "ping":
                self.send({"type": "pong"})
                continue
            return frame
        return None

    def init(self, payload=None):
        """connection_init, then the server's connection_ack."""
        self.send({"type": "connection_init", **({"payload": payload} if payload is not None else {})})
        frame = self.recv()
        assert frame is not None and frame.get("type") == "connection_ack", f"expected connection_ack, got {frame}"
        return self

    def take(self, id, timeout=WS_TIMEOUT):
        """The next frame for ID, or None after TIMEOUT seconds (frames for other ids are kept)."""
        if self.pending[id]:
            return self.pending[id].popleft()
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            frame = self.recv(left)
            if frame is None:
                return None
            if frame.get("id") == id:
                return frame
            self.pending[frame.get("id")].append(frame)
        return None

    def closed(self, timeout=WS_TIMEOUT):
        """The close frame the server sends within TIMEOUT seconds (what comes before is logged);
        None when the socket ended without one (`close_error` says why)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                raw = self.ws.recv(timeout=left)
            except TimeoutError:
                break
            except ConnectionClosed as closed:
                self.close_error = str(closed)
                return closed.rcvd
            self.log.append(raw[:300] if isinstance(raw, str) else raw[:30])
        pytest.fail(f"the server did not close the socket in {timeout} s; received: {self.log[-20:]}")
