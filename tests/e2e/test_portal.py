"""The developer portal over plain HTTP (tests/node/src/portal.test.ts drives it in Chromium):
what `/docs/api.json` says matches what the servers serve, the downloads are the generated files,
the built-in assets come gzipped or not as the client asks, and `--portal off` and `--portal auth`
do what they say, GraphiQL included."""

import base64
import gzip
import json

import pytest
from google.protobuf import descriptor_pb2

from conftest import REPO
from support import TOKEN, Http

GENERATED = REPO / "generated-examples"


@pytest.fixture(scope="module")
def chat_http():
    from conftest import running

    with running("chat-example") as server, Http(server.address) as http:
        yield http


def method(api, service, name):
    found = [m for s in api["services"] if s["fullName"] == service for m in s["methods"] if m["name"] == name]
    assert found, f"{service}/{name} is not in the portal's document"
    return found[0]


def test_api_json_describes_every_method_on_every_protocol(bookstore_http, chat_http):
    api = bookstore_http.get("/docs/api.json").json()
    assert [s["fullName"] for s in api["services"]] == ["bookstore.v1.Bookstore"]
    get_book = method(api, "bookstore.v1.Bookstore", "GetBook")
    assert get_book["kind"] == "unary"
    assert get_book["rest"][0] == {
        "method": "GET", "path": "/v1/{name=shelves/*/books/*}", "body": "", "status": 200, "implicit": False,
    }  # fmt: skip
    assert get_book["connect"] == get_book["grpc"] == "/bookstore.v1.Bookstore/GetBook"
    assert get_book["graphql"] == {"operation": "query", "field": "getBook"}
    assert get_book["trpc"] == {"procedure": "bookstore.getBook", "type": "query"}
    assert get_book["websocket"] == "bookstore.v1.Bookstore/GetBook"
    assert get_book["example"] == {"name": "shelves/1/books/1"}
    # The example request is one the server takes: it answers NOT_FOUND (no such book yet), not a
    # complaint about the request.
    assert bookstore_http.get("/v1/shelves/1/books/1").status_code == 404
    # Validation rules are part of the schema the portal shows.
    book = {f["jsonName"]: f for f in api["messages"]["bookstore.v1.Book"]["fields"]}
    assert "bytes.max_len = 65536" in book["coverThumbnail"]["rules"]
    assert "OutputOnly" in book["createTime"]["behavior"]
    assert api["enums"]["bookstore.v1.Genre"]["values"][1]["name"] == "GENRE_FICTION"
    assert api["server"] == {"authenticated": False, "graphql": True, "typescript": ["index.ts", "ws.ts", "validate.ts"]}

    chat = chat_http.get("/docs/api.json").json()
    subscribe = method(chat, "chat.v1.Chat", "Subscribe")
    assert subscribe["kind"] == "server_streaming"
    assert subscribe["cursor"] == "sequence", "a resumable stream says so"
    assert subscribe["sse"] == "/sse/chat.v1.Chat/Subscribe"
    assert subscribe["graphql"] == {"operation": "subscription", "field": "subscribe"}
    assert subscribe["trpc"]["type"] == "subscription"
    converse = method(chat, "chat.v1.Chat", "Converse")
    assert (converse["kind"], converse["connect"], converse["trpc"], converse["sse"]) == ("bidi_streaming", None, None, None)
    assert converse["grpc"] == "/chat.v1.Chat/Converse" and converse["websocket"] == "chat.v1.Chat/Converse"


def test_the_downloads_are_the_generated_files(bookstore_http):
    for name in ("index.ts", "ws.ts", "validate.ts"):
        response = bookstore_http.get(f"/docs/ts/{name}")
        assert response.status_code == 200, name
        assert response.text == (GENERATED / "bookstore/src/api/ts" / name).read_text(), name
    assert bookstore_http.get("/docs/ts/nothing.ts").status_code == 404
    response = bookstore_http.get("/docs/descriptors.binpb")
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    files = descriptor_pb2.FileDescriptorSet.FromString(response.content).file
    names = [f.name for f in files]
    assert "bookstore.proto" in names and "google/api/http.proto" in names, names
    assert len(names) == len(set(names)), "each file once"
    services = [s.name for f in files for s in f.service]
    assert "Bookstore" in services


def test_assets_come_gzipped_or_inflated_as_asked(bookstore_http):
    gzipped = bookstore_http.get("/docs/assets/graphiql.js", headers={"accept-encoding": "gzip"}, stream=True)
    raw = gzipped.raw.read(decode_content=False)
    assert gzipped.headers["content-encoding"] == "gzip"
    assert gzipped.headers["content-type"].startswith("text/javascript")
    plain = bookstore_http.get("/docs/assets/graphiql.js", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert gzip.decompress(raw) == plain.content
    assert b"GraphiQL" in plain.content
    for path in ("/docs/assets/react.js", "/docs/assets/react-dom.js", "/docs/assets/graphiql.css", "/docs/portal.js",
                 "/docs/portal.css", "/docs/graphiql", "/docs/graphiql-start.js", "/", "/docs"):  # fmt: skip
        assert bookstore_http.get(path).status_code == 200, path
    missing = bookstore_http.get("/docs/assets/nothing.js")
    assert missing.status_code == 404 and "/docs/assets/nothing.js" in missing.json()["message"]
    refused = bookstore_http.get("/docs/assets/react.js", headers={"accept-encoding": "gzip;q=0, identity"}, stream=True)
    assert "content-encoding" not in refused.headers, "gzip;q=0 refuses gzip"
    assert b"React" in refused.raw.read(decode_content=False)


def test_a_browser_asking_get_graphql_lands_on_graphiql(bookstore_http):
    response = bookstore_http.get("/graphql", headers={"accept": "text/html"}, allow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/docs/graphiql"
    page = bookstore_http.get("/docs/graphiql").text
    assert "/docs/assets/graphiql.js" in page and "http" not in page.replace("http-equiv", "")


def test_portal_off_serves_nothing(launch):
    server = launch("bookstore-example", "--portal", "off")
    with Http(server.address) as http:
        # The paths go back to the REST bindings, which have none of them.
        for path in ("/", "/docs", "/docs/api.json", "/docs/graphiql", "/docs/assets/graphiql.js"):
            assert http.get(path).status_code == 404, path
        # A browser's GET /graphql says why there is no GraphiQL.
        refused = http.get("/graphql", headers={"accept": "text/html"}, allow_redirects=False)
        assert refused.status_code == 400 and "developer portal, which is off" in refused.json()["message"]
        # The API and its documents stay.
        assert http.get("/openapi.json").status_code == 200
        assert http.get("/graphql/schema.graphql").status_code == 200


def test_portal_behind_the_token(launch):
    server = launch("bookstore-example", "--token", TOKEN, "--portal", "auth")
    with Http(server.address) as http:
        refused = http.get("/")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Basic realm=")
        wrong = base64.b64encode(b"me:not-the-token").decode()
        assert http.get("/docs/api.json", headers={"authorization": f"Basic {wrong}"}).status_code == 401
        basic = base64.b64encode(f"anyone:{TOKEN}".encode()).decode()
        for headers in ({"authorization": f"Basic {basic}"}, {"authorization": f"Bearer {TOKEN}"}):
            response = http.get("/docs/api.json", headers=headers)
            assert response.status_code == 200, headers
            assert response.json()["server"]["authenticated"] is True
        assert http.get("/docs/graphiql", headers={"authorization": f"Basic {basic}"}).status_code == 200


def test_a_bad_portal_setting_is_refused(launch):
    import subprocess

    from conftest import bin_dir

    done = subprocess.run([str(bin_dir() / "bookstore-example"), "--portal", "maybe"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "--portal: `maybe` is not a portal setting: use on, auth or off" in done.stderr


@pytest.mark.parametrize("example", ["bookstore", "chat"])
def test_every_example_request_is_valid(example, bookstore_http, chat_http):
    """Each unary method's example, sent over Connect as the page would, passes the server's
    validation: it may not find what it names, but it is never INVALID_ARGUMENT."""
    http = bookstore_http if example == "bookstore" else chat_http
    if example == "bookstore":  # a shelf for the examples to name
        assert http.post("/v1/shelves", json={"theme": "Examples"}).status_code == 200
    api = http.get("/docs/api.json").json()
    unary = [(s["fullName"], m) for s in api["services"] for m in s["methods"] if m["kind"] == "unary"]
    assert len(unary) >= 2
    for service, m in unary:
        response = http.post(f"/{service}/{m['name']}", json=m["example"])
        code = response.json().get("code") if response.status_code != 200 else "ok"
        assert code != "invalid_argument", f"{m['name']}'s example {m['example']} is refused: {response.text}"
