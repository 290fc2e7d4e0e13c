"""Rate limits (`--rate-limit [METHOD=]CALLS/UNIT[,burst=N]`, `(apigen.method).rate_limit`): each
protocol driven past a method's limit and back. Over the limit a call fails with RESOURCE_EXHAUSTED in
the protocol's own form (HTTP 429 with `Retry-After`, gRPC's status with a `google.rpc.RetryInfo`
detail, tRPC's TOO_MANY_REQUESTS, a GraphQL error, an apigen.v1 `error` frame, and close 4429 for a
WebSocket that keeps calling regardless); once the retry delay has passed, the call goes through.
Buckets are per caller: per IP address when anonymous, per token subject with JWTs, and shared by
every instance on one Redis. A limit declared in the schema holds with no flag at all."""

import http.client
import json
import time

import grpc
import pytest
import requests
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from conftest import REPO, running
from redis_support import RedisServer
from support import Http, JsonSocket, open_channel
from test_auth_jwt import AUDIENCE, ISSUER, rsa_key
from test_auth_matrix import grpc_web_frames

pytestmark = pytest.mark.timeout(180)

# Two calls at once, then one every 0.5 s: quick to exhaust, quick to refill.
LIMIT = "2/s"
REFILL = 1.1  # a whole bucket comes back
ONE_TOKEN = 0.6  # one token comes back
GET_SHELF = "bookstore.v1.Bookstore/GetShelf"
WATCH_SHELF = "bookstore.v1.Bookstore/WatchShelf"


@pytest.fixture(scope="module")
def server():
    with running("bookstore-example", "--rate-limit", f"{GET_SHELF}={LIMIT}", "--rate-limit", f"{WATCH_SHELF}={LIMIT}") as s:
        yield s


@pytest.fixture(scope="module")
def shelf(server):
    with Http(server.address) as http:
        return http.post("/v1/shelves", json={"theme": "Limits"}).json()["name"]


def retry_delay(details):
    """The seconds of the RetryInfo among DETAILS (JSON `details` of apigen's error bodies)."""
    for detail in details:
        if detail.get("@type", detail.get("type", "")).endswith("google.rpc.RetryInfo"):
            delay = detail.get("retryDelay") or detail.get("debug", {}).get("retryDelay")
            if delay is not None:
                return float(delay.rstrip("s"))
            return 0.0
    raise AssertionError(f"no google.rpc.RetryInfo among {details}")


def past_the_limit_and_back(call, refused):
    """CALL() returns True when admitted, or the refusal; two are admitted, the third is refused
    (REFUSED checks its form and returns the advised wait), and one is admitted again after it."""
    time.sleep(REFILL)
    outcomes = [call() for _ in range(3)]
    assert outcomes[:2] == [True, True], outcomes
    assert outcomes[2] is not True, "the third call in a burst of two was admitted"
    wait = refused(outcomes[2])
    assert 0 < wait <= 1, wait
    time.sleep(ONE_TOKEN)
    assert call() is True, "a call after the retry delay was refused"


def http_429(response):
    assert response.status_code == 429, (response.status_code, response.text)
    assert response.headers["retry-after"] == "1", response.headers
    return float(response.headers["retry-after"])


def test_rest(server, shelf):
    def call():
        r = requests.get(f"http://{server.address}/v1/{shelf}", timeout=5)
        return True if r.status_code == 200 else r

    def refused(r):
        http_429(r)
        body = r.json()
        assert body["code"] == 8 and "GetShelf allows 2 calls per second to the address 127.0.0.1" in body["message"], body
        return retry_delay(body["details"])

    past_the_limit_and_back(call, refused)


def test_connect(server, shelf):
    def call():
        r = requests.post(
            f"http://{server.address}/{GET_SHELF}", json={"name": shelf},
            headers={"connect-protocol-version": "1"}, timeout=5,
        )  # fmt: skip
        return True if r.status_code == 200 else r

    def refused(r):
        http_429(r)
        body = r.json()
        assert body["code"] == "resource_exhausted", body
        return retry_delay(body["details"])

    past_the_limit_and_back(call, refused)


def test_grpc(server, shelf, pb):
    with open_channel(server.address) as channel:
        stub = pb.bookstore_grpc.BookstoreStub(channel)

        def call():
            try:
                stub.GetShelf(pb.bookstore.GetShelfRequest(name=shelf), timeout=5)
                return True
            except grpc.RpcError as error:
                return error

        def refused(error):
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
            status = rpc_status.from_call(error)
            for detail in status.details:
                if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                    info = error_details_pb2.RetryInfo()
                    detail.Unpack(info)
                    return info.retry_delay.ToTimedelta().total_seconds()
            raise AssertionError(f"no RetryInfo in {status}")

        past_the_limit_and_back(call, refused)


def test_grpc_web(server, shelf, pb):
    request = pb.bookstore.GetShelfRequest(name=shelf).SerializeToString()
    body = b"\x00" + len(request).to_bytes(4, "big") + request
    headers = {"content-type": "application/grpc-web+proto", "x-grpc-web": "1"}

    def call():
        r = requests.post(f"http://{server.address}/{GET_SHELF}", data=body, headers=headers, timeout=5)
        _, trailers, _ = grpc_web_frames(r.content)
        status = r.headers.get("grpc-status", trailers.get("grpc-status"))
        return True if status == "0" else (status, r.headers.get("grpc-message", trailers.get("grpc-message")))

    def refused(outcome):
        status, message = outcome
        assert status == "8", outcome
        assert "try again in" in requests.utils.unquote(message), message
        return 0.5

    past_the_limit_and_back(call, refused)


def test_graphql(server, shelf):
    query = f'{{ getShelf(name: "{shelf}") {{ name }} }}'

    def call():
        body = requests.post(f"http://{server.address}/graphql", json={"query": query}, timeout=5).json()
        return True if not body.get("errors") else body

    def refused(body):
        assert body["data"] is None or body["data"].get("getShelf") is None, body
        error = body["errors"][0]
        assert error["extensions"]["code"] == "RESOURCE_EXHAUSTED", error
        return retry_delay(error["extensions"]["details"])

    past_the_limit_and_back(call, refused)


def test_trpc(server, shelf):
    def call():
        r = requests.get(
            f"http://{server.address}/trpc/bookstore.getShelf", params={"input": json.dumps({"name": shelf})}, timeout=5
        )
        return True if r.status_code == 200 else r

    def refused(r):
        http_429(r)
        error = r.json()["error"]
        assert error["data"]["code"] == "TOO_MANY_REQUESTS" and error["data"]["httpStatus"] == 429, error
        return retry_delay(error["data"]["details"])

    past_the_limit_and_back(call, refused)


def test_websocket_refuses_calls_and_closes_a_socket_that_ignores_the_advice(server, shelf):
    with JsonSocket(f"ws://{server.address}/ws", "apigen.v1") as socket_:
        socket_.init()
        serial = iter(range(1000))

        def call():
            id = str(next(serial))
            socket_.send({"type": "subscribe", "id": id, "method": GET_SHELF, "payload": {"name": shelf}})
            frame = socket_.take(id)
            if frame["type"] == "next":
                assert socket_.take(id)["type"] == "complete"
                return True
            return frame

        def refused(frame):
            assert frame["type"] == "error", frame
            assert frame["payload"]["code"] == "resource_exhausted", frame
            return retry_delay(frame["payload"]["details"])

        past_the_limit_and_back(call, refused)
        # A client that keeps calling while refused is closed once ten in a row are.
        time.sleep(REFILL)
        outcomes = [call() for _ in range(2)]
        assert outcomes == [True, True]
        for _ in range(9):
            assert call()["type"] == "error"
        socket_.send({"type": "subscribe", "id": "last", "method": GET_SHELF, "payload": {"name": shelf}})
        close = socket_.closed()
        assert close.code == 4429 and "over the rate limit" in close.reason, close


def test_sse(server, shelf):
    opened = []

    def call():
        r = requests.get(
            f"http://{server.address}/v1/{shelf}:watch", headers={"accept": "text/event-stream"}, stream=True, timeout=5
        )
        if r.status_code == 200:
            opened.append(r)  # kept open: a limit counts calls started, not calls running
            return True
        return r

    def refused(r):
        wait = http_429(r)
        assert r.json()["code"] == 8
        return wait

    try:
        past_the_limit_and_back(call, refused)
    finally:
        for r in opened:
            r.close()


def test_other_methods_and_other_addresses_have_buckets_of_their_own(server, shelf):
    time.sleep(REFILL)
    with Http(server.address) as client:
        assert [client.get(f"/v1/{shelf}").status_code for _ in range(3)] == [200, 200, 429]
        # ListShelves has no limit.
        assert all(client.get("/v1/shelves").status_code == 200 for _ in range(10))
    # Another loopback address is another caller.
    host, port = server.address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=5, source_address=("127.0.0.2", 0))
    try:
        connection.request("GET", f"/v1/{shelf}")
        assert connection.getresponse().status == 200
    finally:
        connection.close()


def test_refusals_are_counted_in_the_metrics(server, shelf):
    text = requests.get(f"http://{server.address}/metrics", timeout=5).text
    assert 'apigen_rejected_total{reason="limits"}' in text, text[:2000]
    line = 'apigen_calls_total{service="bookstore.v1.Bookstore",method="GetShelf",protocol="rest",code="RESOURCE_EXHAUSTED"}'
    assert line in text, text[:2000]


def test_jwt_callers_each_have_a_bucket_of_their_own(tmp_path, shelf):
    key = rsa_key("limits-1")
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [key.jwk()]}))
    flags = ("--jwks", str(jwks), "--issuer", ISSUER, "--audience", AUDIENCE, "--rate-limit", "2/min")
    with running("bookstore-example", *flags) as s, Http(s.address) as client:
        token = {name: {"authorization": f"Bearer {key.sign(sub=name)}"} for name in ("ann", "bob")}
        created = client.post("/v1/shelves", json={"theme": "Callers"}, headers=token["ann"]).json()["name"]
        # The default limit applies to every method, each with its own bucket.
        assert [client.get(f"/v1/{created}", headers=token["ann"]).status_code for _ in range(3)] == [200, 200, 429]
        refused = client.get(f"/v1/{created}", headers=token["ann"])
        assert "to the caller `ann`" in refused.json()["message"], refused.text
        assert int(refused.headers["retry-after"]) > 25, "the next of two calls a minute comes in about 30 s"
        assert client.get(f"/v1/{created}", headers=token["bob"]).status_code == 200


def test_instances_on_one_redis_share_the_limit():
    redis = RedisServer().start()
    try:
        flags = ("--rate-limit", "bookstore.v1.Bookstore/ListShelves=3/min", "--redis", redis.url)
        with running("bookstore-example", *flags) as one, running("bookstore-example", *flags) as two:
            codes = [requests.get(f"http://{s.address}/v1/shelves", timeout=5).status_code for s in (one, two, one, two)]
            assert codes == [200, 200, 200, 429], codes
            keys = redis.command("KEYS", "apigen:ratelimit:*")
            assert keys == [b"apigen:ratelimit:bookstore.v1.Bookstore/ListShelves:ip:127.0.0.1"], keys
            # Redis gone: calls are admitted rather than refused (and a warning is logged).
            redis.stop()
            assert requests.get(f"http://{one.address}/v1/shelves", timeout=5).status_code == 200
            assert "rate limits not applied: Redis did not answer" in one.stderr()
    finally:
        redis.close()


def test_a_limit_declared_in_the_schema_holds_without_a_flag(tmp_path):
    # The bookstore's schema with a limit on ListShelves, served by a gateway whose upstream is down:
    # admitted calls reach for it (UNAVAILABLE), the one over the limit never does.
    source = (REPO / "schemas/examples/bookstore.proto").read_text()
    marker = 'option (google.api.http) = {get: "/v1/shelves"};\n    option (apigen.method) = {cache: {max_age_seconds: 1}};'
    assert marker in source
    limited = source.replace(marker, marker.replace("}};", "} rate_limit: {calls: 2 per: MINUTE}};"), 1)
    (tmp_path / "bookstore.proto").write_text(limited)
    command = (
        "gateway", str(tmp_path / "bookstore.proto"), "-I", str(tmp_path), "-I", str(REPO / "schemas"),
        "--upstream", "http://127.0.0.1:9",
    )  # fmt: skip
    with running("apigen", command=command) as gateway, Http(gateway.address) as client:
        codes = [client.get("/v1/shelves").status_code for _ in range(3)]
        assert codes == [503, 503, 429], codes
        doc = client.get("/openapi.json").json()
        operation = doc["paths"]["/v1/shelves"]["get"]
        assert operation["x-apigen-rate-limit"] == {"calls": 2, "per": "minute", "burst": 2}, operation
        assert "429" in operation["responses"]
        # A flag for the method wins over the schema.
    with running("apigen", "--rate-limit", "bookstore.v1.Bookstore/ListShelves=5/min", command=command) as gateway:
        codes = [requests.get(f"http://{gateway.address}/v1/shelves", timeout=5).status_code for _ in range(6)]
        assert codes == [503] * 5 + [429], codes


def test_bad_flags_are_refused_with_how_to_write_them():
    import subprocess

    from conftest import bin_dir

    for flag, message in [
        ("5/day", "UNIT is not s, min or h"),
        ("bookstore.v1.Bookstore/Nope=5/s", "no such method; name it `package.Service/Method`"),
    ]:
        done = subprocess.run(
            [str(bin_dir() / "bookstore-example"), "--addr", "127.0.0.1:0", "--rate-limit", flag],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert done.returncode != 0 and message in done.stderr, (flag, done.returncode, done.stderr)
