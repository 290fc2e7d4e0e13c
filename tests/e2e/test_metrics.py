"""`GET /metrics` scraped by a real Prometheus server (Debian's `prometheus`), queried through its HTTP
API for the series the test's own calls produced: per service, method and protocol, calls by status
code (a GraphQL query counting each root field and relation load it resolved), latency histograms,
in-flight calls, open streams and WebSockets, bytes, and refusals by reason. One server keeps
`/metrics` behind its token on its own port; the other serves it open on `--metrics-addr`."""

import contextlib
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

from conftest import running
from redis_support import free_port
from support import TOKEN, Http, JsonSocket, open_channel

pytestmark = pytest.mark.timeout(120)

WAIT = 30.0  # the longest Prometheus may take to start, scrape and answer


class Prometheus:
    """A Prometheus server on a loopback port scraping `targets` every second."""

    def __init__(self, jobs):
        binary = shutil.which("prometheus") or "/usr/bin/prometheus"
        if not Path(binary).exists():
            pytest.fail("prometheus is not installed (apt-get install prometheus)", pytrace=False)
        self.dir = tempfile.TemporaryDirectory()
        config = Path(self.dir.name) / "prometheus.yml"
        lines = ["global:", "  scrape_interval: 1s", "  scrape_timeout: 1s", "scrape_configs:"]
        for name, target, token in jobs:
            lines += [f"  - job_name: {name}", "    static_configs:", f"      - targets: ['{target}']"]
            if token:
                lines += ["    authorization:", f"      credentials: {token}"]
        config.write_text("\n".join(lines) + "\n")
        self.port = free_port()
        self.log = open(Path(self.dir.name) / "log", "wb")  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={self.dir.name}/data",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.url = f"http://127.0.0.1:{self.port}"

    def output(self):
        return (Path(self.dir.name) / "log").read_text(errors="replace")[-3000:]

    def query(self, expr):
        """The instant vector of EXPR as {frozenset(labels): value}."""
        response = requests.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=5)
        response.raise_for_status()
        return {frozenset(r["metric"].items()): float(r["value"][1]) for r in response.json()["data"]["result"]}

    def wait_for(self, expr, check, what):
        """Polls EXPR until CHECK(result) holds (scrapes come every second)."""
        deadline, last = time.monotonic() + WAIT, None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"prometheus exited:\n{self.output()}", pytrace=False)
            with contextlib.suppress(requests.RequestException):
                last = self.query(expr)
                if check(last):
                    return last
            time.sleep(0.5)
        pytest.fail(f"{what}: Prometheus never had it; last answer to {expr}: {last}\n{self.output()}", pytrace=False)

    def close(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
        self.dir.cleanup()


def value(result):
    return sum(result.values())


@pytest.fixture(scope="module")
def servers():
    metrics_port = free_port()
    with running("bookstore-example", "--token", TOKEN) as bookstore:
        with running("chat-example", "--metrics-addr", f"127.0.0.1:{metrics_port}") as chat:
            yield bookstore, chat, f"127.0.0.1:{metrics_port}"


@pytest.fixture(scope="module")
def prometheus(servers):
    bookstore, _, chat_metrics = servers
    server = Prometheus([("bookstore", bookstore.address, TOKEN), ("chat", chat_metrics, None)])
    try:
        yield server
    finally:
        server.close()


def test_metrics_are_protected_on_the_servers_port_and_open_on_their_own_address(servers):
    bookstore, chat, chat_metrics = servers
    refused = requests.get(f"http://{bookstore.address}/metrics", timeout=5)
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer", refused.text
    allowed = requests.get(f"http://{bookstore.address}/metrics", headers={"authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert allowed.status_code == 200 and allowed.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert requests.get(f"http://{chat_metrics}/metrics", timeout=5).status_code == 200
    assert requests.get(f"http://{chat.address}/metrics", timeout=5).status_code == 404, "not on the main port"


def test_prometheus_scrapes_the_series_every_protocol_produces(servers, prometheus, pb):
    bookstore, chat, _ = servers
    auth = {"authorization": f"Bearer {TOKEN}"}
    with Http(bookstore.address) as http:
        shelf = http.post("/v1/shelves", json={"theme": "Metrics"}, headers=auth).json()["name"]
        for _ in range(3):
            assert http.get(f"/v1/{shelf}", headers=auth).status_code == 200
        assert http.get("/v1/shelves/999", headers=auth).status_code == 404
        assert http.get(f"/v1/{shelf}").status_code == 401  # no token: refused for auth
        query = f'{{ getShelf(name: "{shelf}") {{ name books {{ title }} }} }}'
        assert http.post("/graphql", json={"query": query}, headers=auth).status_code == 200
    with open_channel(bookstore.address) as channel:
        stub = pb.bookstore_grpc.BookstoreStub(channel)
        for _ in range(2):
            stub.GetShelf(pb.bookstore.GetShelfRequest(name=shelf), metadata=[("authorization", f"Bearer {TOKEN}")])

    # An SSE stream and a WebSocket stay open on the chat server while Prometheus scrapes.
    room = f"rooms/metrics-{time.time_ns()}"
    stream = requests.get(
        f"http://{chat.address}/sse/chat.v1.Chat/Subscribe", params={"room": room},
        headers={"accept": "text/event-stream"}, stream=True, timeout=30,
    )  # fmt: skip
    socket_ = JsonSocket(f"ws://{chat.address}/ws", "apigen.v1")
    try:
        socket_.send({"type": "connection_init"})
        with Http(chat.address) as http:
            http.connect("chat.v1.Chat/PostMessage", {"room": room, "author": "ann", "text": "hello"})

        rest_ok = 'apigen_calls_total{job="bookstore",method="GetShelf",protocol="rest",code="OK"}'
        assert value(prometheus.wait_for(rest_ok, lambda r: value(r) == 3, "REST GetShelf OK")) == 3
        checks = {
            'apigen_calls_total{job="bookstore",method="GetShelf",protocol="rest",code="NOT_FOUND"}': 1,
            'apigen_calls_total{job="bookstore",method="GetShelf",protocol="grpc",code="OK"}': 2,
            # One GraphQL POST: its root field and its relation load, each a call of its method.
            'apigen_calls_total{job="bookstore",method="GetShelf",protocol="graphql",code="OK"}': 1,
            'apigen_calls_total{job="bookstore",method="ListBooksByShelves",protocol="graphql",code="OK"}': 1,
            'apigen_call_duration_seconds_count{job="bookstore",method="GetShelf",protocol="rest"}': 4,
            'apigen_streams_open{job="chat",method="Subscribe",protocol="sse"}': 1,
            'apigen_calls_in_flight{job="chat",method="Subscribe",protocol="sse"}': 1,
            'apigen_websocket_connections{job="chat",protocol="websocket"}': 1,
            'apigen_calls_total{job="chat",method="PostMessage",protocol="connect",code="OK"}': 1,
            # The SSE stream is the chat's one fan-out subscriber; it got the one message, waiting behind none.
            'apigen_fanout_subscribers{job="chat"}': 1,
            'apigen_fanout_delivered_total{job="chat"}': 1,
            'apigen_fanout_lag_messages_bucket{job="chat",le="0"}': 1,
        }
        for expr, want in checks.items():
            assert value(prometheus.wait_for(expr, lambda r, want=want: value(r) == want, expr)) == want
        # The call without a token (and the earlier test's /metrics without one).
        refused = prometheus.wait_for('apigen_rejected_total{job="bookstore",reason="auth"}', lambda r: value(r) >= 1, "auth")
        assert value(refused) >= 1
        # Refused before any call: a body over the size limit, a malformed WebSocket frame.
        with Http(bookstore.address) as http:
            too_big = http.post("/v1/shelves", data=b"x" * (4 * 1024 * 1024 + 1), headers={**auth, "content-type": "application/json"})
            assert too_big.status_code in (413, 429), too_big.status_code
        prometheus.wait_for('apigen_rejected_total{job="bookstore",reason="limits"}', lambda r: value(r) >= 1, "limits")
        with JsonSocket(f"ws://{chat.address}/ws", "apigen.v1") as bad:
            bad.send("not json")
            assert bad.closed().code == 4400
        prometheus.wait_for('apigen_rejected_total{job="chat",reason="bad_input"}', lambda r: value(r) >= 1, "bad input")
        # Latency buckets: every one of the four REST GetShelf calls took under a second.
        under_a_second = prometheus.query(
            'apigen_call_duration_seconds_bucket{job="bookstore",method="GetShelf",protocol="rest",le="1.024"}'
        )
        assert value(under_a_second) == 4, under_a_second
        sent = prometheus.query('apigen_response_bytes_total{job="bookstore",method="GetShelf",protocol="rest"}')
        assert value(sent) > 0, sent
    finally:
        stream.close()
        socket_.__exit__(None, None, None)
    # The stream and the socket are gone: the gauges go back to 0.
    for expr in [
        'apigen_streams_open{job="chat",method="Subscribe",protocol="sse"}',
        'apigen_websocket_connections{job="chat",protocol="websocket"}',
    ]:
        prometheus.wait_for(expr, lambda r: value(r) == 0, f"{expr} back to 0")
    ended = prometheus.wait_for(
        'apigen_calls_total{job="chat",method="Subscribe",protocol="sse",code="CANCELLED"}', lambda r: value(r) == 1,
        "the SSE stream counted as cancelled when its client left",
    )  # fmt: skip
    assert value(ended) == 1
