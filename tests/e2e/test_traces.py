"""OpenTelemetry traces (`--otlp URL`), received by an OTLP/HTTP server built here from the
`opentelemetry-proto` package: every protocol reads the client's W3C `traceparent` (headers, gRPC
metadata, a WebSocket's `connection_init`) and records a server span under it; a REST call that
publishes to a chat room records a producer span under its own, and the SSE subscriber's delivery a
consumer span under that one, linked to the subscriber's call; the gateway records a client span
per upstream call and sends it upstream as `traceparent`. Without `--otlp` nothing is exported and
the client's context still goes through."""

import http.server
import json
import os
import secrets
import threading
import time

import grpc
import pytest
import requests
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from conftest import running
from support import Http, JsonSocket, open_channel
from test_gateway import gateway_command, last_call
from upstream_support import start_upstream

pytestmark = pytest.mark.timeout(120)

SERVER, PRODUCER, CONSUMER, CLIENT = (
    trace_pb2.Span.SPAN_KIND_SERVER,
    trace_pb2.Span.SPAN_KIND_PRODUCER,
    trace_pb2.Span.SPAN_KIND_CONSUMER,
    trace_pb2.Span.SPAN_KIND_CLIENT,
)


class Collector:
    """An OTLP/HTTP receiver on a loopback port: every span posted to /v1/traces, decoded."""

    def __init__(self):
        self.spans, self.requests, self.changed = [], [], threading.Condition()
        collector = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                collector.receive(self.path, self.headers.get("content-type"), body)
                reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def receive(self, path, content_type, body):
        export = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
        with self.changed:
            self.requests.append((path, content_type))
            for resource in export.resource_spans:
                service = {a.key: a.value.string_value for a in resource.resource.attributes}.get("service.name")
                for scope in resource.scope_spans:
                    for span in scope.spans:
                        self.spans.append({
                            "service": service,
                            "trace": span.trace_id.hex(),
                            "id": span.span_id.hex(),
                            "parent": span.parent_span_id.hex(),
                            "name": span.name,
                            "kind": span.kind,
                            "attributes": {a.key: json.loads(_value(a.value)) for a in span.attributes},
                            "links": [(link.trace_id.hex(), link.span_id.hex()) for link in span.links],
                            "error": span.status.code == trace_pb2.Status.STATUS_CODE_ERROR,
                        })  # fmt: skip
            self.changed.notify_all()

    def wait_for(self, predicate, what, timeout=15.0):
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                found = [s for s in self.spans if predicate(s)]
                if found:
                    return found[0]
                left = deadline - time.monotonic()
                if left <= 0:
                    names = [(s["name"], s["trace"][:8]) for s in self.spans]
                    pytest.fail(f"no span {what} arrived in {timeout} s; received: {names}", pytrace=False)
                self.changed.wait(left)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _value(v):
    field = v.WhichOneof("value")
    return json.dumps(getattr(v, field) if field else None)


def new_trace():
    """A client's trace id and span id, and its traceparent."""
    trace, span = secrets.token_hex(16), secrets.token_hex(8)
    return trace, span, f"00-{trace}-{span}-01"


@pytest.fixture(scope="module")
def collector():
    c = Collector()
    yield c
    c.close()


@pytest.fixture(scope="module")
def chat(collector):
    # Spans are batched; a short delay keeps the test quick.
    os.environ["OTEL_BSP_SCHEDULE_DELAY"] = "100"
    try:
        with running("chat-example", "--otlp", collector.url) as server:
            yield server
    finally:
        os.environ.pop("OTEL_BSP_SCHEDULE_DELAY", None)


def server_span(collector, trace, parent, protocol):
    span = collector.wait_for(lambda s: s["trace"] == trace and s["kind"] == SERVER, f"of the {protocol} call")
    assert span["parent"] == parent, span
    assert span["attributes"]["apigen.protocol"] == protocol, span
    assert span["attributes"]["rpc.service"] == "chat.v1.Chat", span
    return span


def test_spans_go_to_the_collector_as_otlp_protobuf(chat, collector):
    trace, parent, traceparent = new_trace()
    with Http(chat.address) as http:
        history = http.post("/chat.v1.Chat/GetHistory", json={"room": "rooms/otlp"}, headers={"traceparent": traceparent})
        assert history.status_code == 200, history.text
    span = server_span(collector, trace, parent, "rest")
    assert span["name"] == "chat.v1.Chat/GetHistory" and span["service"] == "chat.v1.Chat", span
    assert span["attributes"]["rpc.grpc.status_code"] == 0 and not span["error"], span
    assert ("/v1/traces", "application/x-protobuf") in collector.requests


def test_every_protocol_reads_the_clients_traceparent(chat, collector, pb):
    room = f"rooms/traced-{time.time_ns()}"
    body = {"room": room, "author": "ann", "text": "hi"}
    calls = {}

    trace, parent, traceparent = new_trace()
    with Http(chat.address) as http:
        r = http.connect("chat.v1.Chat/PostMessage", body, headers={"traceparent": traceparent})
        assert r.status_code == 200, r.text
    calls["connect"] = (trace, parent)

    trace, parent, traceparent = new_trace()
    with open_channel(chat.address) as channel:
        pb.chat_grpc.ChatStub(channel).PostMessage(pb.chat.PostMessageRequest(**body), metadata=[("traceparent", traceparent)])
    calls["grpc"] = (trace, parent)

    trace, parent, traceparent = new_trace()
    mutation = f'mutation {{ postMessage(room: "{room}", author: "ann", text: "hi") {{ text }} }}'
    r = requests.post(f"http://{chat.address}/graphql", json={"query": mutation}, headers={"traceparent": traceparent}, timeout=5)
    assert "errors" not in r.json(), r.text
    calls["graphql"] = (trace, parent)

    trace, parent, traceparent = new_trace()
    r = requests.post(f"http://{chat.address}/trpc/chat.postMessage", json=body, headers={"traceparent": traceparent}, timeout=5)
    assert r.status_code == 200, r.text
    calls["trpc"] = (trace, parent)

    trace, parent, traceparent = new_trace()
    with JsonSocket(f"ws://{chat.address}/ws", "apigen.v1") as socket_:
        socket_.init({"traceparent": traceparent})
        socket_.send({"type": "subscribe", "id": "1", "method": "chat.v1.Chat/PostMessage", "payload": body})
        assert socket_.take("1")["type"] == "next"
    calls["websocket"] = (trace, parent)

    for protocol, (trace, parent) in calls.items():
        span = server_span(collector, trace, parent, protocol)
        assert span["name"] == "chat.v1.Chat/PostMessage", span


def test_a_rest_call_that_fans_out_to_an_sse_subscriber_is_one_trace(chat, collector):
    room = f"rooms/fan-{time.time_ns()}"
    sub_trace, sub_parent, sub_traceparent = new_trace()
    stream = requests.get(
        f"http://{chat.address}/sse/chat.v1.Chat/Subscribe", params={"room": room},
        headers={"accept": "text/event-stream", "traceparent": sub_traceparent}, stream=True, timeout=30,
    )  # fmt: skip
    try:
        assert stream.status_code == 200
        time.sleep(0.3)  # the subscription is in place before the publish
        trace, parent, traceparent = new_trace()
        with Http(chat.address) as http:
            posted = http.post(f"/v1/{room}/messages", json={"author": "ann", "text": "traced"}, headers={"traceparent": traceparent})
            assert posted.status_code == 200, posted.text
        lines = stream.iter_lines(decode_unicode=True)
        assert any(line.startswith("data:") and "traced" in line for line in lines)
    finally:
        stream.close()
    rest = server_span(collector, trace, parent, "rest")
    publish = collector.wait_for(lambda s: s["trace"] == trace and s["kind"] == PRODUCER, "for the publish")
    assert publish["parent"] == rest["id"] and publish["name"] == f"publish {room}", publish
    deliver = collector.wait_for(lambda s: s["trace"] == trace and s["kind"] == CONSUMER, "for the delivery")
    assert deliver["parent"] == publish["id"] and deliver["name"] == f"deliver {room}", deliver
    # The subscriber's own call, in its own trace, is linked from the delivery.
    subscribe = server_span(collector, sub_trace, sub_parent, "sse")
    assert subscribe["name"] == "chat.v1.Chat/Subscribe", subscribe
    assert deliver["links"] == [(sub_trace, subscribe["id"])], deliver


def test_the_gateway_sends_its_upstream_spans_traceparent_upstream(collector, pb, tmp_path):
    stubs = os.path.dirname(os.path.dirname(pb.bookstore.__file__))
    os.environ["OTEL_BSP_SCHEDULE_DELAY"] = "100"
    try:
        with start_upstream(stubs=stubs) as upstream:
            command = gateway_command(upstream.address)
            with running("apigen", "--otlp", collector.url, command=command) as gateway, Http(gateway.address) as http:
                trace, parent, traceparent = new_trace()
                since = len(upstream.events())
                r = http.post("/v1/shelves", json={"theme": "Traced"}, headers={"traceparent": traceparent})
                assert r.status_code == 200, r.text
                sent = last_call(upstream, "/bookstore.v1.Bookstore/CreateShelf", since)["metadata"]["traceparent"]
    finally:
        os.environ.pop("OTEL_BSP_SCHEDULE_DELAY", None)
    server = collector.wait_for(lambda s: s["trace"] == trace and s["kind"] == SERVER, "of the gateway's call")
    assert server["parent"] == parent and server["name"] == "bookstore.v1.Bookstore/CreateShelf", server
    client = collector.wait_for(lambda s: s["trace"] == trace and s["kind"] == CLIENT, "of the upstream call")
    assert client["parent"] == server["id"], client
    assert sent == f"00-{trace}-{client['id']}-01", "the upstream continues the trace under the gateway's span"


def test_without_otlp_nothing_is_exported_and_the_context_goes_through(collector, pb):
    before = len(collector.spans)
    with running("chat-example") as chat, Http(chat.address) as http:
        trace, _, traceparent = new_trace()
        assert http.post("/chat.v1.Chat/GetHistory", json={"room": "rooms/quiet"}, headers={"traceparent": traceparent}).ok
    time.sleep(0.5)
    assert len(collector.spans) == before or all(s["trace"] != trace for s in collector.spans[before:])


def test_a_bad_otlp_address_is_refused_at_start():
    import subprocess

    from conftest import bin_dir

    done = subprocess.run(
        [str(bin_dir() / "chat-example"), "--addr", "127.0.0.1:0", "--otlp", "localhost:4318"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode != 0 and "for example http://127.0.0.1:4318" in done.stderr, (done.returncode, done.stderr)
