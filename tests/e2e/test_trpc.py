"""The example servers' tRPC v11 endpoint, `/trpc/{service}.{method}`, on the wire with `requests`:
queries by GET with `?input=`, mutations by POST, batches (`?batch=1`), streamed batches
(`trpc-accept: application/jsonl`, what httpBatchStreamLink reads), subscriptions over SSE (what
httpSubscriptionLink reads), tRPC's error shape and codes, and authentication.

The reference for every expectation is @trpc/server v11 (http/resolveResponse.ts, contentType.ts,
getHTTPStatusCode.ts, stream/jsonl.ts, stream/sse.ts). No transformer: inputs and outputs are the
proto3 JSON mapping every other protocol uses."""

import contextlib
import json
import time

import pytest
import requests

from support import CALL_TIMEOUT, TOKEN, assert_recent_json, describe, json_body, ok, rfc3339

# tRPC's error codes: the key in `error.data.code`, its JSON-RPC number (`error.code`) and the
# HTTP status (`error.data.httpStatus`, and the response's status).
CODES = {
    "BAD_REQUEST": (-32600, 400),
    "UNAUTHORIZED": (-32001, 401),
    "NOT_FOUND": (-32004, 404),
    "METHOD_NOT_SUPPORTED": (-32005, 405),
    "CONFLICT": (-32009, 409),
}

# How long a test waits for the next piece of a stream (an SSE event, a JSON line) before failing.
STREAM_WAIT = 10.0

AUTH = {"authorization": f"Bearer {TOKEN}"}


# ---------------------------------------------------------------------------------------------
# Calls


def query(http, path, input=None, params=None, **kwargs):
    """GET /trpc/{path}?input=<JSON>, as httpLink calls a query (no `input` when `input` is None)."""
    params = dict(params or {})
    if input is not None:
        params["input"] = json.dumps(input)
    return http.get(f"/trpc/{path}", params=params, **kwargs)


def mutate(http, path, input, **kwargs):
    """POST /trpc/{path} with the input as the JSON body, as httpLink calls a mutation."""
    return http.post(f"/trpc/{path}", json=input, **kwargs)


def batch(http, method, calls, **kwargs):
    """One batched request (`?batch=1`) of `calls`, a list of (path, input or None): the paths
    comma-joined, the inputs as `{"0": …, "1": …}` in `?input=` (GET) or the body (POST)."""
    path = "/trpc/" + ",".join(p for p, _ in calls)
    inputs = {str(i): input for i, (_, input) in enumerate(calls) if input is not None}
    if method == "GET":
        return http.get(path, params={"batch": "1", "input": json.dumps(inputs)}, **kwargs)
    return http.post(path, params={"batch": "1"}, json=inputs, **kwargs)


def data(response):
    """The `data` of a 200 `{"result": {"data": …}}` response."""
    body = ok(response)
    return result_data(body, response)


def result_data(envelope, response):
    """The `data` of one call's success envelope `{"result": {"data": …}}`."""
    assert isinstance(envelope, dict) and set(envelope) == {"result"}, f"not a tRPC result: {envelope!r}: {describe(response)}"
    assert isinstance(envelope["result"], dict) and set(envelope["result"]) == {"data"}, f"not a tRPC result: {envelope!r}"
    return envelope["result"]["data"]


def check_error(error, code, path, *mentions):
    """`error` is tRPC's default error shape for `code` (with `data.path == path`; `path=None`: no
    path at all), and its message mentions every one of `mentions`. Returns the message."""
    number, status = CODES[code]
    assert isinstance(error, dict) and set(error) == {"message", "code", "data"}, f"not tRPC's error shape: {error!r}"
    assert error["code"] == number, f"expected JSON-RPC code {number} ({code}): {error!r}"
    assert isinstance(error["message"], str) and error["message"], f"no message: {error!r}"
    info = error["data"]
    assert isinstance(info, dict), f"no data object: {error!r}"
    assert info.get("code") == code and info.get("httpStatus") == status, f"expected {code}/{status} in data: {error!r}"
    assert isinstance(info.get("grpcCode"), str) and info["grpcCode"], f"no grpcCode in data: {error!r}"
    if path is None:
        assert "path" not in info, f"expected no path in data: {error!r}"
    else:
        assert info.get("path") == path, f"expected data.path {path!r}: {error!r}"
    for text in mentions:
        assert text in error["message"], f"expected the message to mention {text!r}: {error!r}"
    return error["message"]


def trpc_error(response, code, path, *mentions):
    """`response` is a single call's error `{"error": …}` with the HTTP status of `code`. Returns the error."""
    status = CODES[code][1]
    assert response.status_code == status, f"expected HTTP {status}: {describe(response)}"
    body = json_body(response)
    assert isinstance(body, dict) and set(body) == {"error"}, f"not a tRPC error body: {describe(response)}"
    check_error(body["error"], code, path, *mentions)
    return body["error"]


def allowed(response):
    return [m.strip() for m in response.headers.get("allow", "").split(",") if m.strip()]


def vary(response):
    return {v.strip().lower() for v in response.headers.get("vary", "").split(",") if v.strip()}


# ---------------------------------------------------------------------------------------------
# Streams: a line reader, SSE events on top of it


class Lines:
    """The lines of a streamed response body as they arrive; a read that waits longer than
    STREAM_WAIT fails the test instead of hanging."""

    def __init__(self, response):
        self.response = response
        self._chunks = response.iter_content(chunk_size=None)
        self._buffer = b""

    def next(self):
        """The next line without its terminator; None at the end of the body."""
        while b"\n" not in self._buffer:
            try:
                chunk = next(self._chunks)
            except StopIteration:
                if self._buffer:
                    line, self._buffer = self._buffer, b""
                    return line.decode()
                return None
            except requests.exceptions.RequestException as err:
                pytest.fail(f"nothing more came within {STREAM_WAIT:.0f} s on {describe_stream(self.response)}: {err}")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.rstrip(b"\r").decode()

    def rest(self):
        """Every remaining line, to the end of the body."""
        got = []
        while (line := self.next()) is not None:
            got.append(line)
        return got


def describe_stream(response):
    return f"{response.request.method} {response.request.path_url} -> {response.status_code}"


class EventStream:
    """Server-sent events (text/event-stream), parsed as EventSource does."""

    def __init__(self, response):
        self.response = response
        self._lines = Lines(response)
        self.seen = []

    def next(self):
        """The next event as (type, data): type "message" when the event names none, data the
        joined `data:` lines. None when the stream ends."""
        kind, payload = None, []
        started = time.monotonic()
        while time.monotonic() - started < STREAM_WAIT:
            line = self._lines.next()
            if line is None:
                return None
            if line == "":
                if kind is not None or payload:
                    event = (kind or "message", "\n".join(payload))
                    self.seen.append(event)
                    return event
                continue
            if line.startswith(":"):
                continue  # a comment: keep-alive
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                kind = value
            elif field == "data":
                payload.append(value)
        pytest.fail(f"no event within {STREAM_WAIT:.0f} s on {describe_stream(self.response)}; events so far: {self.seen}")

    def expect(self, kind):
        """The next event, which must be of type `kind`: its data parsed as JSON (None when empty)."""
        event = self.next()
        assert event is not None, f"the stream ended where a {kind!r} event was expected; events so far: {self.seen}"
        assert event[0] == kind, f"expected a {kind!r} event, got {event}; events so far: {self.seen}"
        if event[1] == "":
            return None
        try:
            return json.loads(event[1])
        except ValueError:
            pytest.fail(f"the data of {event} is not JSON")


@contextlib.contextmanager
def subscribe(http, path, input, params=None, **kwargs):
    """Opens a subscription as httpSubscriptionLink does (EventSource: GET, `Accept: text/event-stream`)
    and yields its EventStream; the connection is closed after the block."""
    response = query(
        http, path, input, params=params, stream=True, timeout=(CALL_TIMEOUT, STREAM_WAIT),
        headers={"accept": "text/event-stream", **kwargs.pop("headers", {})}, **kwargs,
    )  # fmt: skip
    try:
        assert response.status_code == 200, f"{describe_stream(response)}: {response.text[:500]!r}"
        kind = response.headers.get("content-type", "")
        assert kind.split(";")[0].strip() == "text/event-stream", f"expected an event stream, got {kind!r}"
        yield EventStream(response)
    finally:
        response.close()


def connected(events):
    """The stream's first event is `connected` with tRPC's client options, `{}`."""
    assert events.expect("connected") == {}


# ---------------------------------------------------------------------------------------------
# Shorthands


def create_shelf(http, theme="Science fiction", **kwargs):
    return data(mutate(http, "bookstore.createShelf", {"shelf": {"theme": theme}}, **kwargs))


def create_book(http, shelf, title="Dune", **fields):
    return data(mutate(http, "bookstore.createBook", {"parent": shelf["name"], "book": {"title": title, **fields}}))


def missing_shelf(http):
    """The name of a shelf that existed and no longer does."""
    shelf = create_shelf(http, "Soon gone")
    data(mutate(http, "bookstore.deleteShelf", {"name": shelf["name"]}))
    return shelf["name"]


@pytest.fixture
def room(unique):
    return f"rooms/{unique}"


# ---------------------------------------------------------------------------------------------
# Queries and mutations


def test_a_mutation_by_post_answers_the_result_in_proto3_json(bookstore_http, unique):
    response = mutate(bookstore_http, "bookstore.createShelf", {"shelf": {"theme": unique}})
    shelf = data(response)
    assert shelf["name"].startswith("shelves/") and shelf["theme"] == unique
    assert_recent_json(shelf["createTime"], "createTime")


def test_a_query_by_get_with_url_encoded_input_answers_the_result(bookstore_http, unique):
    shelf = create_shelf(bookstore_http, f"{unique} & more/?=#")  # characters that need URL-encoding
    assert data(query(bookstore_http, "bookstore.getShelf", {"name": shelf["name"]})) == shelf


def test_a_query_without_input_takes_an_empty_request(bookstore_http, unique):
    create_shelf(bookstore_http, unique)
    without = data(query(bookstore_http, "bookstore.listShelves"))
    assert isinstance(without.get("shelves"), list) and without["shelves"], without
    assert without == data(query(bookstore_http, "bookstore.listShelves", {}))


def test_int64_and_enums_travel_as_in_proto3_json(bookstore_http, unique):
    shelf = create_shelf(bookstore_http, unique)
    book = create_book(bookstore_http, shelf, "Dune", genre="GENRE_FICTION", isbn="9780441013593", labels={"lang": "en"})
    assert (book["genre"], book["isbn"], book["labels"]) == ("GENRE_FICTION", "9780441013593", {"lang": "en"})
    assert data(query(bookstore_http, "bookstore.getBook", {"name": book["name"]})) == book


def test_values_from_rest_are_valid_trpc_input_and_read_the_same(bookstore_http, unique):
    shelf = ok(bookstore_http.post("/v1/shelves", json={"theme": unique}))
    assert data(query(bookstore_http, "bookstore.getShelf", {"name": shelf["name"]})) == shelf
    book = ok(bookstore_http.post(f"/v1/{shelf['name']}/books", json={"title": "Dune", "isbn": "9780441013593", "genre": "GENRE_FICTION"}))
    # The whole book as REST returned it, output-only fields included, as a tRPC input.
    updated = data(mutate(bookstore_http, "bookstore.updateBook", {"book": {**book, "title": "Dune Messiah"}, "updateMask": "title"}))
    assert updated["name"] == book["name"] and updated["title"] == "Dune Messiah"
    assert (updated["isbn"], updated["genre"]) == ("9780441013593", "GENRE_FICTION")
    assert rfc3339(updated["updateTime"]) >= rfc3339(book["createTime"])
    assert ok(bookstore_http.get(f"/v1/{book['name']}")) == updated


# ---------------------------------------------------------------------------------------------
# Errors


def test_a_missing_resource_is_not_found_with_the_procedures_path(bookstore_http):
    name = missing_shelf(bookstore_http)
    error = trpc_error(query(bookstore_http, "bookstore.getShelf", {"name": name}), "NOT_FOUND", "bookstore.getShelf", name)
    assert error["data"]["grpcCode"] == "not_found"


def test_create_shelf_without_a_theme_is_bad_request_naming_the_field(bookstore_http):
    response = mutate(bookstore_http, "bookstore.createShelf", {"shelf": {}})
    error = trpc_error(response, "BAD_REQUEST", "bookstore.createShelf", "theme")
    assert error["data"]["grpcCode"] == "invalid_argument"


def test_a_query_without_input_missing_a_required_field_is_bad_request_naming_it(bookstore_http):
    trpc_error(query(bookstore_http, "bookstore.getShelf"), "BAD_REQUEST", "bookstore.getShelf", "name")


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_input_that_is_not_json_is_bad_request(bookstore_http, method):
    if method == "GET":
        response = bookstore_http.get("/trpc/bookstore.getShelf", params={"input": '{"name": "shelves/1"'})
    else:
        response = bookstore_http.post(
            "/trpc/bookstore.createShelf", data=b'{"shelf": {"theme": ', headers={"content-type": "application/json"}
        )
    assert response.status_code == 400, describe(response)
    body = json_body(response)
    assert isinstance(body, dict) and set(body) == {"error"}, describe(response)
    error = body["error"]
    assert error["code"] == -32600 and error["data"]["code"] == "BAD_REQUEST" and error["data"]["httpStatus"] == 400, error


@pytest.mark.parametrize(
    "method,path,allow",
    [
        ("POST", "bookstore.getShelf", "GET"),  # a query
        ("GET", "bookstore.createShelf", "POST"),  # a mutation
        ("POST", "bookstore.watchShelf", "GET"),  # a subscription
    ],
    ids=["query by POST", "mutation by GET", "subscription by POST"],
)
def test_the_wrong_http_method_is_405_allowing_the_right_one(bookstore_http, method, path, allow):
    if method == "GET":
        response = query(bookstore_http, path, {"shelf": {"theme": "never created"}})
    else:
        response = bookstore_http.post(f"/trpc/{path}", json={"name": "shelves/1"})
    trpc_error(response, "METHOD_NOT_SUPPORTED", path)
    assert allowed(response) == [allow], response.headers


def test_a_mutation_by_get_does_not_run(bookstore_http, unique):
    query(bookstore_http, "bookstore.createShelf", {"shelf": {"theme": unique}})
    shelves = data(query(bookstore_http, "bookstore.listShelves", {"pageSize": 1000}))["shelves"]
    assert unique not in [s["theme"] for s in shelves]


@pytest.mark.parametrize(
    "path", ["bookstore.noSuchMethod", "Bookstore.GetShelf", "bookstore.v1.Bookstore.GetShelf", "library.getShelf"]
)
def test_an_unknown_procedure_is_not_found_naming_its_path(bookstore_http, path):
    trpc_error(query(bookstore_http, path, {"name": "shelves/1"}), "NOT_FOUND", path)


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(
    "server,path",
    [("bookstore", "bookstore.importBooks"), ("chat", "chat.upload"), ("chat", "chat.converse")],
    ids=["bookstore.importBooks (client streaming)", "chat.upload (client streaming)", "chat.converse (bidi)"],
)
def test_a_client_streaming_method_is_no_procedure(bookstore_http, chat_http, server, path, method):
    http = bookstore_http if server == "bookstore" else chat_http
    response = query(http, path, {}) if method == "GET" else mutate(http, path, {})
    trpc_error(response, "NOT_FOUND", path)


# ---------------------------------------------------------------------------------------------
# Batches


def test_a_batch_of_queries_that_all_succeed_is_200_in_call_order(bookstore_http, unique):
    first, second = create_shelf(bookstore_http, f"{unique}-1"), create_shelf(bookstore_http, f"{unique}-2")
    response = batch(
        bookstore_http, "GET",
        [("bookstore.getShelf", {"name": second["name"]}), ("bookstore.listShelves", None), ("bookstore.getShelf", {"name": first["name"]})],
    )  # fmt: skip
    body = ok(response)
    assert isinstance(body, list) and len(body) == 3, describe(response)
    assert result_data(body[0], response) == second
    assert isinstance(result_data(body[1], response)["shelves"], list)  # no input: `{}`
    assert result_data(body[2], response) == first


def test_a_batch_of_mixed_outcomes_is_207_with_each_result_in_call_order(bookstore_http, unique):
    shelf = create_shelf(bookstore_http, unique)
    gone = missing_shelf(bookstore_http)
    response = batch(
        bookstore_http, "GET",
        [("bookstore.getShelf", {"name": shelf["name"]}), ("bookstore.getShelf", {"name": gone}), ("bookstore.getShelf", {})],
    )  # fmt: skip
    assert response.status_code == 207, describe(response)
    body = json_body(response)
    assert isinstance(body, list) and len(body) == 3, describe(response)
    assert result_data(body[0], response) == shelf
    assert set(body[1]) == {"error"} and set(body[2]) == {"error"}, describe(response)
    check_error(body[1]["error"], "NOT_FOUND", "bookstore.getShelf", gone)
    check_error(body[2]["error"], "BAD_REQUEST", "bookstore.getShelf", "name")


def test_a_batch_whose_calls_all_fail_alike_has_their_common_status(bookstore_http):
    gone = missing_shelf(bookstore_http)
    response = batch(bookstore_http, "GET", [("bookstore.getShelf", {"name": gone}), ("bookstore.getBook", {"name": f"{gone}/books/1"})])
    assert response.status_code == 404, describe(response)
    body = json_body(response)
    assert isinstance(body, list) and len(body) == 2, describe(response)
    check_error(body[0]["error"], "NOT_FOUND", "bookstore.getShelf")
    check_error(body[1]["error"], "NOT_FOUND", "bookstore.getBook")


def test_a_batch_of_mutations_by_post_runs_each_in_call_order(bookstore_http, unique):
    shelf = create_shelf(bookstore_http, unique)
    response = batch(
        bookstore_http, "POST",
        [
            ("bookstore.createShelf", {"shelf": {"theme": f"{unique}-new"}}),
            ("bookstore.createBook", {"parent": shelf["name"], "book": {"title": "Batched"}}),
        ],
    )  # fmt: skip
    body = ok(response)
    assert isinstance(body, list) and len(body) == 2, describe(response)
    new_shelf, book = result_data(body[0], response), result_data(body[1], response)
    assert new_shelf["theme"] == f"{unique}-new" and new_shelf["name"] != shelf["name"]
    assert book["title"] == "Batched" and book["name"].startswith(shelf["name"] + "/books/")
    assert data(query(bookstore_http, "bookstore.getShelf", {"name": new_shelf["name"]})) == new_shelf
    assert data(query(bookstore_http, "bookstore.listBooks", {"parent": shelf["name"]}))["books"] == [book]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_batch_mixing_queries_and_mutations_is_rejected_whole(bookstore_http, unique, method):
    shelf = create_shelf(bookstore_http, unique)
    response = batch(
        bookstore_http, method,
        [("bookstore.getShelf", {"name": shelf["name"]}), ("bookstore.createBook", {"parent": shelf["name"], "book": {"title": "Never"}})],
    )  # fmt: skip
    assert response.status_code == 400, describe(response)
    body = json_body(response)
    assert isinstance(body, dict) and set(body) == {"error"}, f"expected one error for the whole request, not per call: {describe(response)}"
    error = body["error"]
    assert error["code"] == -32600 and error["data"]["code"] == "BAD_REQUEST" and error["data"]["httpStatus"] == 400, error
    assert data(query(bookstore_http, "bookstore.listBooks", {"parent": shelf["name"]})) == {}  # nothing ran


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_batch_over_the_cap_is_refused_whole_before_any_call_runs(bookstore_http, unique, method):
    # One ~400 KB URL used to become ~20,000 concurrent calls behind one authentication.
    shelf = create_shelf(bookstore_http, unique)
    create = ("bookstore.createBook", {"parent": shelf["name"], "book": {"title": "Never"}})
    get = ("bookstore.getShelf", {"name": shelf["name"]})
    calls = [create if method == "POST" else get] * 101
    response = batch(bookstore_http, method, calls)
    assert response.status_code == 413, describe(response)
    body = json_body(response)
    assert isinstance(body, dict) and set(body) == {"error"}, f"expected one error for the whole request: {describe(response)}"
    error = body["error"]
    assert error["data"]["code"] == "PAYLOAD_TOO_LARGE" and error["data"]["httpStatus"] == 413, error
    assert "100" in error["message"], error
    assert data(query(bookstore_http, "bookstore.listBooks", {"parent": shelf["name"]})) == {}  # nothing ran
    # The cap itself is allowed.
    response = batch(bookstore_http, "GET", [get] * 100)
    assert response.status_code == 200 and len(json_body(response)) == 100, describe(response)


def test_a_subscription_in_a_batch_is_bad_request_for_that_call(bookstore_http, unique):
    shelf = create_shelf(bookstore_http, unique)
    response = batch(bookstore_http, "GET", [("bookstore.watchShelf", {"name": shelf["name"]})], timeout=CALL_TIMEOUT)
    assert response.status_code == 400, describe(response)
    body = json_body(response)
    assert isinstance(body, list) and len(body) == 1, describe(response)
    check_error(body[0]["error"], "BAD_REQUEST", "bookstore.watchShelf")


# ---------------------------------------------------------------------------------------------
# Streamed batches: JSON Lines (httpBatchStreamLink)


def test_a_jsonl_batch_sends_a_head_then_one_line_per_call(bookstore_http, unique):
    shelf = create_shelf(bookstore_http, unique)
    gone = missing_shelf(bookstore_http)
    calls = [("bookstore.getShelf", {"name": shelf["name"]}), ("bookstore.getShelf", {"name": gone}), ("bookstore.listShelves", None)]
    response = batch(bookstore_http, "GET", calls, headers={"trpc-accept": "application/jsonl"}, stream=True, timeout=(CALL_TIMEOUT, STREAM_WAIT))
    try:
        assert response.status_code == 200, describe_stream(response)
        lines = [line for line in Lines(response).rest() if line.strip()]
    finally:
        response.close()
    try:
        parsed = [json.loads(line) for line in lines]
    except ValueError:
        pytest.fail(f"a line is not JSON: {lines}")
    head, chunks = parsed[0], parsed[1:]
    # Each call a promise (type 0) whose value comes in chunk i.
    assert head == {str(i): [[0], [None, 0, i]] for i in range(len(calls))}, lines
    assert sorted(chunk[0] for chunk in chunks) == list(range(len(calls))), f"every call's line exactly once: {lines}"
    by_call = {}
    for chunk in chunks:
        assert isinstance(chunk, list) and len(chunk) == 3 and chunk[1] == 0, f"not a fulfilled promise chunk: {chunk}"
        value = chunk[2]
        assert isinstance(value, list) and len(value) == 1 and isinstance(value[0], list) and len(value[0]) == 1, chunk
        by_call[chunk[0]] = value[0][0]
    assert result_data(by_call[0], response) == shelf
    assert set(by_call[1]) == {"error"}, by_call[1]
    check_error(by_call[1]["error"], "NOT_FOUND", "bookstore.getShelf", gone)
    assert isinstance(result_data(by_call[2], response)["shelves"], list)


def test_jsonl_without_batch_is_bad_request(bookstore_http, unique):
    shelf = create_shelf(bookstore_http, unique)
    response = query(bookstore_http, "bookstore.getShelf", {"name": shelf["name"]}, headers={"trpc-accept": "application/jsonl"})
    assert response.status_code == 400, describe(response)
    body = json_body(response)
    assert isinstance(body, dict) and set(body) == {"error"}, describe(response)
    assert body["error"]["code"] == -32600 and body["error"]["data"]["code"] == "BAD_REQUEST", body
    assert "batch" in body["error"]["message"], body


# ---------------------------------------------------------------------------------------------
# Subscriptions over SSE (httpSubscriptionLink)


def test_watch_shelf_sends_connected_then_an_event_per_book_added(bookstore_http, unique):
    shelf, other = create_shelf(bookstore_http, unique), create_shelf(bookstore_http, f"{unique}-other")
    with subscribe(bookstore_http, "bookstore.watchShelf", {"name": shelf["name"]}) as events:
        connected(events)
        create_book(bookstore_http, other, "Elsewhere")  # not on the watched shelf: no event
        book = create_book(bookstore_http, shelf, "Watched", isbn="9780441013593")
        event = events.expect("message")
    assert event["kind"] == "KIND_BOOK_ADDED", event
    assert event["book"] == book
    assert_recent_json(event["eventTime"], "eventTime")


def test_watch_shelf_of_a_missing_shelf_ends_with_a_serialized_error(bookstore_http):
    gone = missing_shelf(bookstore_http)
    with subscribe(bookstore_http, "bookstore.watchShelf", {"name": gone}) as events:
        connected(events)
        error = events.expect("serialized-error")
        end = events.next()
    check_error(error, "NOT_FOUND", "bookstore.watchShelf", gone)
    assert end is None, f"expected the stream to end after the error; got {end}"


def test_chat_subscribe_sees_a_message_posted_by_mutation(chat_http, room):
    with subscribe(chat_http, "chat.subscribe", {"room": room}) as events:
        connected(events)
        posted = data(mutate(chat_http, "chat.postMessage", {"room": room, "author": "alice", "text": "hello, tRPC"}))
        message = events.expect("message")
    assert posted["sequence"] == "1"  # uint64: a string
    assert message == posted
    assert (message["room"], message["author"], message["text"]) == (room, "alice", "hello, tRPC")


def test_chat_history_query_returns_messages_posted_by_mutation(chat_http, room):
    posted = [data(mutate(chat_http, "chat.postMessage", {"room": room, "author": "bob", "text": t})) for t in ("one", "two")]
    assert [m["sequence"] for m in posted] == ["1", "2"]
    assert data(query(chat_http, "chat.getHistory", {"room": room})) == {"messages": posted}


# ---------------------------------------------------------------------------------------------
# Authentication (servers started with --token TOKEN)


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer not-the-token"}], ids=["no authorization", "a wrong token"])
def test_with_token_a_query_without_the_right_token_is_unauthorized(bookstore_http_with_token, headers):
    response = query(bookstore_http_with_token, "bookstore.listShelves", headers=headers)
    trpc_error(response, "UNAUTHORIZED", None)


def test_with_token_a_mutation_without_it_is_unauthorized_and_does_not_run(bookstore_http_with_token, unique):
    trpc_error(mutate(bookstore_http_with_token, "bookstore.createShelf", {"shelf": {"theme": unique}}), "UNAUTHORIZED", None)
    shelves = data(query(bookstore_http_with_token, "bookstore.listShelves", {"pageSize": 1000}, headers=AUTH)).get("shelves", [])
    assert unique not in [s["theme"] for s in shelves]


def test_with_token_the_authorization_header_works(bookstore_http_with_token, unique):
    shelf = create_shelf(bookstore_http_with_token, unique, headers=AUTH)
    assert data(query(bookstore_http_with_token, "bookstore.getShelf", {"name": shelf["name"]}, headers=AUTH)) == shelf


def test_with_token_connection_params_authenticate_a_query(bookstore_http_with_token, unique):
    shelf = create_shelf(bookstore_http_with_token, unique, headers=AUTH)
    params = {"connectionParams": json.dumps({"authorization": f"Bearer {TOKEN}"})}
    assert data(query(bookstore_http_with_token, "bookstore.getShelf", {"name": shelf["name"]}, params=params)) == shelf


def test_with_token_connection_params_authenticate_a_subscription(chat_http_with_token, room):
    params = {"connectionParams": json.dumps({"authorization": f"Bearer {TOKEN}"})}
    with subscribe(chat_http_with_token, "chat.subscribe", {"room": room}, params=params) as events:
        connected(events)
        posted = data(mutate(chat_http_with_token, "chat.postMessage", {"room": room, "author": "alice", "text": "secret"}, headers=AUTH))
        message = events.expect("message")
    assert message == posted and message["sequence"] == "1"


# ---------------------------------------------------------------------------------------------
# HTTP around the procedures


def test_head_is_204(bookstore_http):
    response = bookstore_http.request("HEAD", "/trpc/bookstore.listShelves")
    assert response.status_code == 204, describe(response)
    assert response.content == b""


def test_put_is_405_allowing_get_and_post(bookstore_http):
    response = bookstore_http.request("PUT", "/trpc/bookstore.createShelf", json={"shelf": {"theme": "Never"}})
    assert response.status_code == 405, describe(response)
    assert sorted(allowed(response)) == ["GET", "POST"], response.headers
    body = json_body(response)
    assert body["error"]["code"] == -32005 and body["error"]["data"]["code"] == "METHOD_NOT_SUPPORTED", body


@pytest.mark.parametrize(
    "call",
    [
        lambda http: query(http, "bookstore.listShelves"),
        lambda http: query(http, "bookstore.noSuchMethod"),
        lambda http: mutate(http, "bookstore.createShelf", {"shelf": {}}),
        lambda http: batch(http, "GET", [("bookstore.listShelves", None), ("bookstore.listShelves", None)]),
        lambda http: query(http, "bookstore.listShelves", headers={"trpc-accept": "application/jsonl"}),
    ],
    ids=["query", "unknown procedure", "mutation error", "batch", "request error"],
)
def test_responses_vary_on_trpc_accept_and_accept(bookstore_http, call):
    response = call(bookstore_http)
    assert {"trpc-accept", "accept"} <= vary(response), f"vary: {response.headers.get('vary')!r}: {describe(response)}"
