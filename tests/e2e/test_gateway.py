"""`apigen gateway` in front of a gRPC server apigen did not generate: upstream/server.py, a plain
grpcio bookstore and chat. Every call goes client -> gateway (every protocol) -> upstream (gRPC);
the upstream's JSON events show what reached it (metadata, deadlines, cancellations)."""

import base64
import json
import socket
import threading
import time
from pathlib import Path

import grpc
import pytest
import requests
from grpc_status import rpc_status

from conftest import REPO, running
from support import TOKEN, Http, open_channel
from upstream_support import start_upstream

pytestmark = pytest.mark.timeout(120)

BOOKSTORE = "schemas/examples/bookstore.proto"
CHAT = "schemas/examples/chat.proto"
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"


def gateway_command(upstream, *schema):
    return ("gateway", *(schema or (BOOKSTORE, CHAT)), "-I", "schemas", "--upstream", f"http://{upstream}")


@pytest.fixture(scope="module")
def upstream(pb):
    # The upstream imports the stubs the tests use rather than generating its own.
    with start_upstream(stubs=Path(pb.bookstore.__file__).parents[1]) as server:
        yield server


@pytest.fixture(scope="module")
def gateway(upstream):
    with running("apigen", command=gateway_command(upstream.address)) as server:
        yield server


@pytest.fixture(scope="module")
def http(gateway):
    with Http(gateway.address) as client:
        yield client


@pytest.fixture(scope="module")
def shelf(http):
    response = http.post("/v1/shelves", json={"theme": "Gateways"})
    assert response.status_code == 200, response.text
    return response.json()["name"]


def create_book(http, shelf, title="The Dispossessed", labels=None):
    book = {"title": title, "authors": ["Ursula K. Le Guin"], "labels": labels or {}}
    response = http.post(f"/v1/{shelf}/books", json=book)
    assert response.status_code == 200, response.text
    return response.json()


def last_call(upstream, method, since=0):
    return upstream.wait_for(lambda e: e["event"] == "call" and e["method"] == method, since=since)


def test_rest_reads_and_writes_reach_the_upstream_and_come_back_as_proto3_json(http, shelf, upstream):
    labels = {key: key.upper() for key in ("format", "language", "edition", "binding", "series", "shelfmark")}
    book = create_book(http, shelf, labels=labels)
    assert book["name"].startswith(f"{shelf}/books/") and book["authors"] == ["Ursula K. Le Guin"]
    assert book["labels"] == labels
    assert "createTime" in book, "the upstream's Timestamp comes back in its JSON form"
    first = http.get(f"/v1/{book['name']}")
    assert first.status_code == 200 and first.json() == book
    # A read by GET carries the schema's cache hint and a validator that names these bytes.
    assert first.headers["cache-control"] == "public, max-age=30"
    # A map's keys come out sorted: the same response is the same bytes, with the same ETag.
    assert first.text.index('"binding"') < first.text.index('"shelfmark"')
    for _ in range(5):
        again = http.get(f"/v1/{book['name']}")
        assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    again = http.get(f"/v1/{book['name']}", headers={"if-none-match": first.headers["etag"]})
    assert again.status_code == 304
    listed = http.get(f"/v1/{shelf}/books").json()
    assert [b["name"] for b in listed["books"]][-1] == book["name"]


def test_an_upstream_error_keeps_its_code_message_and_details_on_every_protocol(http, gateway, pb, shelf):
    missing = f"{shelf}/books/999999"
    rest = http.get(f"/v1/{missing}")
    assert rest.status_code == 404, rest.text
    body = rest.json()
    assert body["code"] == 5 and missing in body["message"]
    assert body["details"][0]["@type"] == ERROR_INFO, "google.rpc.ErrorInfo, in the Any JSON form"
    assert body["details"][0]["reason"] == "BOOK_NOT_FOUND" and body["details"][0]["metadata"] == {"name": missing}
    connect = http.connect("bookstore.v1.Bookstore/GetBook", {"name": missing})
    assert connect.status_code == 404 and connect.json()["code"] == "not_found"
    assert connect.json()["details"][0]["type"] == "google.rpc.ErrorInfo"
    with open_channel(gateway.address) as channel:
        stub = pb.bookstore_grpc.BookstoreStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetBook(pb.bookstore.GetBookRequest(name=missing), timeout=10)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    status = rpc_status.from_call(caught.value)
    assert status is not None and status.details[0].type_url == ERROR_INFO
    graphql = http.post("/graphql", json={"query": f'{{ getBook(name: "{missing}") {{ title }} }}'}).json()
    assert graphql["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def test_grpc_and_connect_proto_pass_through_and_graphql_reads(http, gateway, pb, shelf):
    book = create_book(http, shelf, "Always Coming Home")
    with open_channel(gateway.address) as channel:
        stub = pb.bookstore_grpc.BookstoreStub(channel)
        got = stub.GetBook(pb.bookstore.GetBookRequest(name=book["name"]), timeout=10)
    assert got.title == "Always Coming Home"
    request = pb.bookstore.GetBookRequest(name=book["name"]).SerializeToString()
    proto = http.post("/bookstore.v1.Bookstore/GetBook", data=request, headers={"content-type": "application/proto"})
    assert proto.status_code == 200
    assert pb.bookstore.Book.FromString(proto.content).title == "Always Coming Home"
    query = f'{{ getBook(name: "{book["name"]}") {{ title authors }} }}'
    graphql = http.post("/graphql", json={"query": query}).json()
    assert graphql == {"data": {"getBook": {"title": "Always Coming Home", "authors": ["Ursula K. Le Guin"]}}}
    trpc = http.get("/trpc/bookstore.getBook", params={"input": json.dumps({"name": book["name"]})})
    assert trpc.status_code == 200 and trpc.json()["result"]["data"]["title"] == "Always Coming Home"


def test_metadata_goes_up_by_the_allow_list_and_comes_back_with_the_trailers(http, shelf, upstream):
    since = len(upstream.events())
    response = http.get(
        f"/v1/{shelf}",
        headers={
            "x-echo-color": "blue",
            "authorization": "Bearer upstream-token",
            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "cookie": "session=secret",
            "x-forwarded-for": "203.0.113.7",
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-echoed-color"] == "blue", "the upstream's response headers reach the client"
    assert response.headers["x-upstream-trailer"] == "done", "and so do its trailers"
    sent = last_call(upstream, "/bookstore.v1.Bookstore/GetShelf", since)["metadata"]
    assert sent["x-echo-color"] == "blue" and sent["authorization"] == "Bearer upstream-token"
    assert sent["traceparent"].startswith("00-0af7651916cd43dd8448eb211c80319c")
    assert sent["x-forwarded-for"] == "203.0.113.7, 127.0.0.1", "the client's address is appended"
    assert "cookie" not in sent, "headers off the allow-list stay at the gateway"


def test_the_deadline_reaches_the_upstream_and_a_late_answer_is_deadline_exceeded(http, gateway, pb, upstream):
    since = len(upstream.events())
    with open_channel(gateway.address) as channel:
        stub = pb.bookstore_grpc.BookstoreStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetBook(pb.bookstore.GetBookRequest(name="shelves/1/books/slow"), timeout=2)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    timeout = last_call(upstream, "/bookstore.v1.Bookstore/GetBook", since)["timeout"]
    # What is left of the client's 2 s when the gateway forwards it (timers round by a few ms).
    assert timeout is not None and 1.0 < timeout <= 2.05, f"the upstream saw {timeout} s left"
    since = len(upstream.events())
    connect = http.connect(
        "bookstore.v1.Bookstore/GetBook", {"name": "shelves/1/books/slow"}, headers={"connect-timeout-ms": "1500"}
    )
    assert connect.status_code == 504 and connect.json()["code"] == "deadline_exceeded"
    timeout = last_call(upstream, "/bookstore.v1.Bookstore/GetBook", since)["timeout"]
    assert timeout is not None and 0.5 < timeout <= 1.55, f"the upstream saw {timeout} s left"


def test_server_streams_over_sse_end_upstream_when_the_client_goes_away(gateway, http, shelf, upstream):
    since = len(upstream.events())
    with requests.get(
        f"http://{gateway.address}/v1/{shelf}:watch", headers={"accept": "text/event-stream"}, stream=True, timeout=30
    ) as stream:
        assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
        call = last_call(upstream, "/bookstore.v1.Bookstore/WatchShelf", since)
        time.sleep(0.3)  # the upstream has subscribed once its headers are out
        book = create_book(http, shelf, "The Lathe of Heaven")
        data = None
        for line in stream.iter_lines(decode_unicode=True):
            if line.startswith("data:"):
                data = json.loads(line[len("data:") :])
                break
        assert data is not None and json.dumps(data).find(book["name"]) >= 0, data
    upstream.wait_for(lambda e: e["event"] == "cancelled" and e["id"] == call["id"], since=since)


def test_client_and_bidi_streams_go_through_grpc(gateway, pb):
    room = f"rooms/gw-{time.time_ns()}"
    with open_channel(gateway.address) as channel:
        chat = pb.chat_grpc.ChatStub(channel)
        posts = (pb.chat.PostMessageRequest(room=room, author="ann", text=f"m{i}") for i in range(3))
        summary = chat.Upload(posts, timeout=10)
        assert summary.posted_count == 3
        history = chat.GetHistory(pb.chat.GetHistoryRequest(room=room), timeout=10)
        assert [m.text for m in history.messages] == ["m0", "m1", "m2"]


def test_an_upstream_that_is_down_is_unavailable_with_retry_advice(launch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{s.getsockname()[1]}"
    gateway = launch("apigen", command=gateway_command(dead))
    with Http(gateway.address) as client:
        response = client.get("/v1/shelves/1")
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["code"] == 14 and "retry" in body["message"]
    assert body["details"] == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}]
    assert response.headers["retry-after"] == "1", "google.rpc.RetryInfo as HTTP's Retry-After"


def test_with_a_token_the_gateway_checks_it_and_keeps_it_from_the_upstream(launch, upstream):
    gateway = launch("apigen", "--token", TOKEN, command=gateway_command(upstream.address))
    with Http(gateway.address) as client:
        assert client.get("/v1/shelves").status_code == 401
        since = len(upstream.events())
        assert client.get("/v1/shelves", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200
    sent = last_call(upstream, "/bookstore.v1.Bookstore/ListShelves", since)["metadata"]
    assert "authorization" not in sent


def test_a_descriptor_set_serves_the_same_api(launch, upstream, tmp_path):
    import subprocess

    from conftest import bin_dir

    out = tmp_path / "api.binpb"
    made = subprocess.run(
        [str(bin_dir() / "apigen"), "descriptor-set", BOOKSTORE, CHAT, "-I", "schemas", "-o", str(out)],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    command = ("gateway", "--descriptor-set", str(out), "--upstream", f"http://{upstream.address}")
    gateway = launch("apigen", command=command)
    with Http(gateway.address) as client:
        assert client.get("/v1/shelves").status_code == 200
        paths = client.get("/openapi.json").json()["paths"]
        assert any(p.startswith("/v1/shelves") for p in paths), sorted(paths)


def realworld_entries():
    """The real-world corpus (tests/realworld/entries.txt): name, entry file, include roots."""
    entries = []
    for line in (REPO / "tests" / "realworld" / "entries.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, entry, *roots = line.split()
            entries.append(pytest.param(entry, roots, id=name))
    return entries


@pytest.mark.parametrize("entry, roots", realworld_entries())
def test_real_world_descriptor_sets_start_and_serve_valid_documents(launch, entry, roots, tmp_path):
    import subprocess

    from graphql import build_schema
    from openapi_spec_validator import OpenAPIV30SpecValidator

    from conftest import bin_dir

    shared = REPO.parent / "shared" / "realworld"
    out = tmp_path / "api.binpb"
    includes = [arg for root in roots for arg in ("-I", str(shared / root))]
    made = subprocess.run(
        [str(bin_dir() / "apigen"), "descriptor-set", str(shared / entry), *includes, "-o", str(out)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    # Nothing listens upstream: the gateway connects on the first call, not at start-up.
    command = ("gateway", "--descriptor-set", str(out), "--upstream", "http://127.0.0.1:9")
    gateway = launch("apigen", command=command)
    with Http(gateway.address) as client:
        document = client.get("/openapi.json")
        assert document.status_code == 200
        errors = list(OpenAPIV30SpecValidator(document.json()).iter_errors())
        assert not errors, f"{entry}'s OpenAPI document: {errors[:3]}"
        sdl = client.get("/graphql/schema.graphql")
        if sdl.status_code == 200:
            build_schema(sdl.text)  # raises on an invalid schema


def test_websocket_calls_and_a_bidi_conversation_go_through_the_gateway(gateway, shelf, upstream):
    from test_websocket import Socket

    room = f"rooms/ws-{time.time_ns()}"
    with Socket(gateway.address) as ws:
        ws.init()
        assert ws.call("bookstore.v1.Bookstore/GetShelf", {"name": shelf})["name"] == shelf
        talk = ws.subscribe("chat.v1.Chat/Converse", {"room": room, "author": "ada", "text": "hello"})
        assert ws.next(talk)["text"] == "hello"
        ws.send({"type": "next", "id": talk, "payload": {"author": "ada", "text": "anyone?"}})
        assert ws.next(talk)["text"] == "anyone?"
        since = len(upstream.events())
        ws.send({"type": "cancel", "id": talk})
    upstream.wait_for(lambda e: e["event"] == "cancelled" and e["method"] == "/chat.v1.Chat/Converse", since=since)


def test_an_upstream_restart_ends_open_streams_with_an_error_and_later_calls_reconnect(pb, upstream, launch):
    # A gateway of its own, so that the restart leaves the other tests' gateway alone.
    gateway = launch("apigen", command=gateway_command(upstream.address))
    with Http(gateway.address) as client:
        shelf = client.post("/v1/shelves", json={"theme": "Restarts"}).json()["name"]
        with requests.get(
            f"http://{gateway.address}/v1/{shelf}:watch", headers={"accept": "text/event-stream"}, stream=True, timeout=30
        ) as stream:
            assert stream.status_code == 200
            upstream.wait_for(lambda e: e["event"] == "call" and e["method"].endswith("/WatchShelf"))
            upstream.restart()
            lines = list(stream.iter_lines(decode_unicode=True))
        end = [json.loads(line[len("data:") :]) for line in lines if line.startswith("data:")]
        assert "event: end" in lines, f"the stream ends with SSE's end event, not silently: {lines}"
        assert end[-1]["code"] in ("unavailable", "cancelled", "internal"), end[-1]
        # The upstream is back, empty: the gateway's connection to it comes back by itself.
        for _ in range(50):
            answer = client.post("/v1/shelves", json={"theme": "After"})
            if answer.status_code == 200:
                break
            time.sleep(0.1)
        assert answer.status_code == 200, answer.text


def test_reflect_reads_the_schema_from_the_upstreams_reflection_service(launch, upstream):
    # grpcio serves reflection v1alpha only: the gateway asks v1 first, then falls back.
    gateway = launch("apigen", command=("gateway", "--reflect", "--upstream", f"http://{upstream.address}"))
    with Http(gateway.address) as client:
        shelf = client.post("/v1/shelves", json={"theme": "Reflected"})
        assert shelf.status_code == 200, "the google.api.http bindings came through reflection"
        name = shelf.json()["name"]
        graphql = client.post("/graphql", json={"query": f'{{ getShelf(name: "{name}") {{ theme }} }}'}).json()
        assert graphql == {"data": {"getShelf": {"theme": "Reflected"}}}
        paths = client.get("/openapi.json").json()["paths"]
        assert any(p.startswith("/v1/shelves") for p in paths), sorted(paths)


def test_upstream_connections_spread_calls_over_that_many_connections(launch, upstream):
    from concurrent.futures import ThreadPoolExecutor

    command = (*gateway_command(upstream.address), "--upstream-connections", "3")
    gateway = launch("apigen", command=command)
    since = len(upstream.events())
    with Http(gateway.address) as client:
        assert client.get("/v1/shelves").status_code == 200  # connects
    time.sleep(0.5)  # every connection of the pool is up

    def call(_):
        with Http(gateway.address) as client:
            return client.get("/v1/shelves").status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        assert set(pool.map(call, range(60))) == {200}
    peers = {e["peer"] for e in upstream.events()[since:] if e["event"] == "call" and e["method"].endswith("/ListShelves")}
    assert len(peers) == 3, f"the calls came over {sorted(peers)}"


def test_an_sse_reconnect_passes_last_event_id_to_an_upstream_that_resumes(gateway, http):
    room = f"rooms/resume-{time.time_ns()}"
    for text in ("one", "two", "three"):
        assert http.connect("chat.v1.Chat/PostMessage", {"room": room, "author": "ann", "text": text}).status_code == 200
    # The upstream replays what follows the id (its messages' sequence numbers), then goes on live.
    with requests.get(
        f"http://{gateway.address}/sse/chat.v1.Chat/Subscribe",
        params={"room": room},
        headers={"accept": "text/event-stream", "last-event-id": "1"},
        stream=True,
        timeout=30,
    ) as stream:
        assert stream.status_code == 200
        texts = []
        for line in stream.iter_lines(decode_unicode=True):
            if line.startswith("data:"):
                texts.append(json.loads(line[len("data:") :])["text"])
                if len(texts) == 2:
                    break
    assert texts == ["two", "three"]


def test_graphql_subscriptions_and_connect_get_go_through_the_gateway(gateway, http, shelf, upstream):
    from test_graphql import Socket as GraphqlSocket

    query = "subscription($n: String!) { watchShelf(name: $n) { kind book { title } } }"
    with GraphqlSocket(gateway.address) as socket:
        socket.init()
        since = len(upstream.events())
        socket.subscribe("w", query, {"n": shelf})
        last_call(upstream, "/bookstore.v1.Bookstore/WatchShelf", since)
        time.sleep(0.3)  # the upstream has subscribed once it has seen the call
        create_book(http, shelf, "Subscribed")
        event = socket.next("w")
        assert event == {"watchShelf": {"kind": "KIND_BOOK_ADDED", "book": {"title": "Subscribed"}}}
    # Connect's GET, for a NO_SIDE_EFFECTS method, through to the upstream.
    message = json.dumps({"name": shelf})
    got = http.get("/bookstore.v1.Bookstore/GetShelf", params={"connect": "v1", "encoding": "json", "message": message})
    assert got.status_code == 200 and got.json()["name"] == shelf, got.text


def sse_events(response, count):
    """The first COUNT (id, data) events of an open SSE response."""
    events, event_id = [], None
    for line in response.iter_lines(decode_unicode=True):
        if line.startswith("id:"):
            event_id = line[len("id:") :].strip()
        elif line.startswith("data:"):
            events.append((event_id, json.loads(line[len("data:") :])))
            if len(events) == count:
                break
    return events


def test_two_gateways_resume_a_stream_across_instances_through_the_upstream(gateway, http, launch, upstream):
    # The gateway keeps no state: events take their ids from the response's cursor field
    # (ChatMessage.sequence), and a reconnect's Last-Event-ID goes upstream, which resumes there.
    other = launch("apigen", command=gateway_command(upstream.address))
    room = f"rooms/two-{time.time_ns()}"
    url = "/sse/chat.v1.Chat/Subscribe"
    with requests.get(
        f"http://{gateway.address}{url}", params={"room": room}, headers={"accept": "text/event-stream"}, stream=True, timeout=30
    ) as first:
        assert first.status_code == 200
        since = len(upstream.events())
        time.sleep(0.3)  # subscribed upstream once the headers are out
        for text in ("one", "two", "three"):
            http.connect("chat.v1.Chat/PostMessage", {"room": room, "author": "ann", "text": text})
        got = sse_events(first, 2)
    assert [(i, m["text"]) for i, m in got] == [("1", "one"), ("2", "two")], got
    upstream.wait_for(lambda e: e["event"] == "cancelled" and e["method"] == "/chat.v1.Chat/Subscribe", since=since)
    # The client comes back through the other gateway after the last event it saw.
    with requests.get(
        f"http://{other.address}{url}",
        params={"room": room},
        headers={"accept": "text/event-stream", "last-event-id": got[-1][0]},
        stream=True,
        timeout=30,
    ) as second:
        assert second.status_code == 200
        time.sleep(0.3)
        http.connect("chat.v1.Chat/PostMessage", {"room": room, "author": "ann", "text": "four"})
        rest = sse_events(second, 2)
    assert [(i, m["text"]) for i, m in rest] == [("3", "three"), ("4", "four")], "nothing lost, nothing repeated"


def connect_envelopes(*messages):
    """Connect streaming's request body: each message as a JSON envelope (flags 0, length, data)."""
    out = b""
    for message in messages:
        data = json.dumps(message).encode()
        out += b"\x00" + len(data).to_bytes(4, "big") + data
    return out


def test_connect_client_streaming_goes_through_the_gateway(http):
    room = f"rooms/upload-{time.time_ns()}"
    body = connect_envelopes(*({"room": room, "author": "ann", "text": f"m{i}"} for i in range(3)))
    headers = {"content-type": "application/connect+json", "connect-protocol-version": "1"}
    response = http.post("/chat.v1.Chat/Upload", data=body, headers=headers)
    assert response.status_code == 200, response.content
    frames, data = [], response.content
    while data:
        flags, size = data[0], int.from_bytes(data[1:5], "big")
        frames.append((flags, json.loads(data[5 : 5 + size])))
        data = data[5 + size :]
    assert frames == [(0, {"postedCount": 3}), (2, {})], frames


def test_the_gateway_serves_the_developer_portal_of_its_schema(http):
    """The portal describes the schema read at start-up, and its example calls reach the upstream."""
    api = http.get("/docs/api.json").json()
    names = sorted(s["fullName"] for s in api["services"])
    assert names == ["bookstore.v1.Bookstore", "chat.v1.Chat"], names
    get_shelf = next(m for s in api["services"] for m in s["methods"] if m["name"] == "GetShelf")
    assert get_shelf["rest"][0]["path"] == "/v1/{name=shelves/*}" and get_shelf["example"] == {"name": "shelves/1"}
    assert api["server"]["typescript"][:2] == ["index.ts", "ws.ts"]
    assert "AppRouter" in http.get("/docs/ts/index.ts").text
    assert http.get("/").status_code == 200 and http.get("/docs/graphiql").status_code == 200
