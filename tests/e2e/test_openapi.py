"""The OpenAPI documents: the committed ones of the examples, the ones the example servers serve at
GET /openapi.json, and the ones `apigen generate` writes for the real-world corpus are valid
OpenAPI 3.0.3 (openapi-spec-validator); the bookstore's document says what a user of the generator
expects; and the docs page at GET /docs loads nothing from other hosts."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from openapi_schema_validator import OAS30ReadValidator
from openapi_spec_validator import OpenAPIV30SpecValidator

from conftest import REPO, bin_dir
from support import Http, ok

EXAMPLES = REPO / "generated-examples"
COMMITTED = {
    "bookstore": EXAMPLES / "bookstore" / "src" / "api",
    "chat": EXAMPLES / "chat" / "src" / "api",
}
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
ERROR_SCHEMAS = {
    "#/components/schemas/google.rpc.Status",  # REST bindings
    "#/components/schemas/connect.Error",  # methods without a binding, documented at their Connect path
}

# The entry files of the real-world corpus and their include paths (relative to the corpus root),
# as its README lists them.
GOOGLEAPIS = ("googleapis",)
CORPUS = {
    "library": ("googleapis/google/example/library/v1/library.proto", GOOGLEAPIS),
    "operations": ("googleapis/google/longrunning/operations.proto", GOOGLEAPIS),
    "secretmanager": ("googleapis/google/cloud/secretmanager/v1/service.proto", GOOGLEAPIS),
    "pubsub": ("googleapis/google/pubsub/v1/pubsub.proto", GOOGLEAPIS),
    "compliance": (
        "gapic-showcase/schema/google/showcase/v1beta1/compliance.proto",
        ("gapic-showcase/schema", "googleapis"),
    ),
    "envoy-bookstore": ("envoy/test/proto/bookstore.proto", ("envoy", "googleapis")),
    "a-bit-of-everything": (
        "grpc-gateway/examples/internal/proto/examplepb/a_bit_of_everything.proto",
        ("grpc-gateway", "googleapis"),
    ),
    "echo": ("gapic-showcase/schema/google/showcase/v1beta1/echo.proto", ("gapic-showcase/schema", "googleapis")),
    "response-body": (
        "grpc-gateway/examples/internal/proto/examplepb/response_body_service.proto",
        ("grpc-gateway", "googleapis"),
    ),
}


def realworld():
    """The corpus: $APIGEN_REALWORLD, else ../shared/realworld beside the repository."""
    root = Path(os.environ.get("APIGEN_REALWORLD") or REPO.parent / "shared" / "realworld")
    if not root.is_dir():
        pytest.fail(
            f"the real-world corpus is missing: {root} is not a directory "
            "(set APIGEN_REALWORLD to the folder that holds googleapis/, gapic-showcase/, grpc-gateway/ and envoy/)",
            pytrace=False,
        )
    return root


def apigen():
    path = bin_dir() / "apigen"
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"the generator {path} does not exist: run `cargo build -p apigen` first", pytrace=False)
    return path


# ---------------------------------------------------------------------------------------------
# Checks every document gets


def validate(doc, what):
    """openapi-spec-validator finds nothing wrong with `doc`, an OpenAPI 3.0.3 document."""
    assert isinstance(doc, dict), f"{what}: not a JSON object"
    assert doc.get("openapi") == "3.0.3", f"{what}: expected `openapi: 3.0.3`, got {doc.get('openapi')!r}"
    errors = list(OpenAPIV30SpecValidator(doc).iter_errors())
    if errors:
        listed = "\n".join(f"- {error}"[:2000] for error in errors[:20])
        pytest.fail(f"{what}: openapi-spec-validator reports {len(errors)} error(s):\n{listed}", pytrace=False)


def operations(doc):
    """(path, method, operation) for every operation of `doc`."""
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def check_conventions(doc, what):
    """What apigen promises of every document: templates expanded to one `{param}` per variable (no
    `{field=pattern}` or wildcards left), unique operationIds, one declared tag per operation, and a
    `default` error response for every operation."""
    problems = []
    declared_tags = {tag["name"] for tag in doc.get("tags", [])}
    seen_ids = {}
    for path, method, op in operations(doc):
        where = f"{method.upper()} {path}"
        for variable in re.findall(r"\{([^}]*)\}", path):
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", variable):
                problems.append(f"{where}: path variable {{{variable}}} is not a plain parameter name")
        if re.search(r"\*|=", re.sub(r"\{[^}]*\}", "", path)):
            problems.append(f"{where}: a wildcard or `=` is left in the path")
        op_id = op.get("operationId")
        if not op_id:
            problems.append(f"{where}: no operationId")
        elif op_id in seen_ids:
            problems.append(f"{where}: operationId {op_id} is also the one of {seen_ids[op_id]}")
        else:
            seen_ids[op_id] = where
        tags = op.get("tags", [])
        if len(tags) != 1 or tags[0] not in declared_tags:
            problems.append(f"{where}: tags {tags}, expected one of the declared tags {sorted(declared_tags)}")
        error = op.get("responses", {}).get("default")
        ref = (((error or {}).get("content") or {}).get("application/json") or {}).get("schema", {}).get("$ref")
        if ref not in ERROR_SCHEMAS:
            problems.append(f"{where}: the `default` response is {json.dumps(error)}, not an error schema")
    assert not problems, f"{what}:\n" + "\n".join(problems)


def check_yaml(doc, yaml_text, what):
    """openapi.yaml is the same document as openapi.json (YAML 1.1 readers included)."""
    assert yaml.safe_load(yaml_text) == doc, f"{what}: openapi.yaml and openapi.json are different documents"


# ---------------------------------------------------------------------------------------------
# The committed documents of the examples, and what the servers serve


def committed(example):
    folder = COMMITTED[example]
    doc = json.loads((folder / "openapi.json").read_text())
    return doc, (folder / "openapi.yaml").read_text()


@pytest.fixture(scope="module")
def bookstore_doc():
    return committed("bookstore")[0]


@pytest.mark.parametrize("example", sorted(COMMITTED))
def test_committed_document_is_valid(example):
    doc, yaml_text = committed(example)
    what = f"{COMMITTED[example].relative_to(REPO)}/openapi.json"
    validate(doc, what)
    validate(yaml.safe_load(yaml_text), what.replace(".json", ".yaml"))
    check_yaml(doc, yaml_text, what)
    check_conventions(doc, what)


@pytest.mark.parametrize("example", sorted(COMMITTED))
def test_served_document_is_valid_and_the_committed_one(request, example):
    server = request.getfixturevalue(f"{example}_server")
    with Http(server.address) as http:
        response = http.get("/openapi.json")
    assert response.status_code == 200, f"GET /openapi.json -> {response.status_code}: {response.text[:300]!r}"
    kind = response.headers.get("content-type", "")
    assert kind.split(";")[0].strip() == "application/json", f"GET /openapi.json has content-type {kind!r}"
    doc = response.json()
    validate(doc, f"the {example} server's /openapi.json")
    check_conventions(doc, f"the {example} server's /openapi.json")
    assert doc == as_served_open(committed(example)[0]), f"the {example} server serves a different document than the committed one"


def as_served_open(doc):
    """The committed document as a server without an authenticator serves it: it checks no scope,
    so operations lose their `security` (keeping `x-apigen-scopes`) and the scheme goes."""
    doc = json.loads(json.dumps(doc))
    doc.get("components", {}).pop("securitySchemes", None)
    for path in doc["paths"].values():
        for operation in path.values():
            if isinstance(operation, dict):
                operation.pop("security", None)
    return doc


# ---------------------------------------------------------------------------------------------
# The real-world corpus


@pytest.fixture(scope="session")
def generate(tmp_path_factory):
    """generate(entry) runs `apigen generate` on a corpus entry once and returns (doc, yaml text)."""
    done = {}

    def run(entry):
        if entry not in done:
            root, binary = realworld(), apigen()
            source, includes = CORPUS[entry]
            if not (root / source).is_file():
                pytest.fail(f"the corpus entry {root / source} is missing", pytrace=False)
            out = tmp_path_factory.mktemp(f"openapi-{entry}")
            cmd = [str(binary), "generate", source, *(arg for inc in includes for arg in ("-I", inc)), "--out", str(out)]
            result = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=60)
            if result.returncode != 0:
                pytest.fail(
                    f"`{' '.join(cmd)}` (in {root}) exited with {result.returncode}:\n{result.stderr}", pytrace=False
                )
            for name in ("openapi.json", "openapi.yaml"):
                assert (out / name).is_file(), f"`{' '.join(cmd)}` wrote no {name}; it wrote {sorted(os.listdir(out))}"
            done[entry] = (json.loads((out / "openapi.json").read_text()), (out / "openapi.yaml").read_text())
        return done[entry]

    return run


@pytest.mark.parametrize("entry", list(CORPUS))
def test_corpus_document_is_valid(generate, entry):
    doc, yaml_text = generate(entry)
    what = f"the document generated for {CORPUS[entry][0]}"
    validate(doc, what)
    check_yaml(doc, yaml_text, what)
    check_conventions(doc, what)


# What each corpus entry exercises shows up in its document as an operation:
# (entry, method, path, operationId).
CORPUS_OPERATIONS = [
    # {name=shelves/*}:merge, custom verbs, {book.name=shelves/*/books/*} (a nested field path)
    ("library", "post", "/v1/shelves/{shelf}:merge", "LibraryService_MergeShelves"),
    ("library", "post", "/v1/shelves/{shelf}/books/{book}:move", "LibraryService_MoveBook"),
    ("library", "patch", "/v1/shelves/{shelf}/books/{book}", "LibraryService_UpdateBook"),
    # {name=operations} (literal only), {name=operations/**}, a method with no binding
    ("operations", "get", "/v1/operations", "Operations_ListOperations"),
    ("operations", "get", "/v1/operations/{operation}", "Operations_GetOperation"),
    ("operations", "post", "/v1/operations/{operation}:cancel", "Operations_CancelOperation"),
    ("operations", "post", "/google.longrunning.Operations/WaitOperation", "Operations_WaitOperation"),
    # additional_bindings: the extra binding gets a suffix
    ("secretmanager", "get", "/v1/projects/{project}/secrets/{secret}", "SecretManagerService_GetSecret"),
    (
        "secretmanager",
        "get",
        "/v1/projects/{project}/locations/{location}/secrets/{secret}",
        "SecretManagerService_GetSecret_1",
    ),
    # PUT with body "*", a DELETE with a custom verb, collection-level verbs
    ("pubsub", "put", "/v1/projects/{project}/topics/{topic}", "Publisher_CreateTopic"),
    ("pubsub", "delete", "/v1/projects/{project}/schemas/{schema}:deleteRevision", "SchemaService_DeleteSchemaRevision"),
    ("pubsub", "post", "/v1/projects/{project}/schemas:validate", "SchemaService_ValidateSchema"),
    ("pubsub", "post", "/v1/projects/{project}/subscriptions/{subscription}:detach", "Publisher_DetachSubscription"),
    # body "info", no body (fields in the query), PUT and PATCH
    ("compliance", "post", "/v1beta1/repeat:bodyinfo", "Compliance_RepeatDataBodyInfo"),
    ("compliance", "get", "/v1beta1/repeat:query", "Compliance_RepeatDataQuery"),
    ("compliance", "put", "/v1beta1/repeat:bodyput", "Compliance_RepeatDataBodyPut"),
    ("compliance", "patch", "/v1beta1/repeat:bodypatch", "Compliance_RepeatDataBodyPatch"),
    # custom OPTIONS, a path shaped like a gRPC path
    ("envoy-bookstore", "options", "/shelves/{shelf}", "Bookstore_BookstoreOptions"),
    ("envoy-bookstore", "post", "/bookstore.Bookstore/GetBook", "Bookstore_GetBook"),
    # custom HEAD, OPTIONS and TRACE; the double verb :custom:custom
    ("a-bit-of-everything", "head", "/v1/example/a_bit_of_everything/{uuid}", "ABitOfEverythingService_Exists"),
    (
        "a-bit-of-everything",
        "options",
        "/v1/example/a_bit_of_everything/{uuid}",
        "ABitOfEverythingService_CustomOptionsRequest",
    ),
    ("a-bit-of-everything", "trace", "/v1/example/a_bit_of_everything/{uuid}", "ABitOfEverythingService_TraceRequest"),
    (
        "a-bit-of-everything",
        "post",
        "/v1/example/a_bit_of_everything/{uuid}:custom:custom",
        "ABitOfEverythingService_DoubleColon",
    ),
    ("echo", "post", "/v1beta1/echo:echo", "Echo_Echo"),
    # response_body
    ("response-body", "get", "/responsestrings/{data}", "ResponseBodyService_ListResponseStrings"),
]


@pytest.mark.parametrize("entry, method, path, op_id", CORPUS_OPERATIONS, ids=lambda v: v if "/" not in str(v) else None)
def test_corpus_binding_is_documented(generate, entry, method, path, op_id):
    doc, _ = generate(entry)
    op = doc["paths"].get(path, {}).get(method)
    listed = "\n".join(f"  {m.upper()} {p} {o.get('operationId')}" for p, m, o in operations(doc))
    assert op is not None, f"{CORPUS[entry][0]}: no {method.upper()} {path}; the document has:\n{listed}"
    assert op.get("operationId") == op_id, f"{method.upper()} {path}: operationId {op.get('operationId')!r}"


def test_corpus_bodies_follow_the_binding(generate):
    """body "info" documents that field's message as the body, the rest as query parameters; a POST
    with no body has no requestBody; response_body documents that field's type as the response."""
    doc, _ = generate("compliance")
    op = doc["paths"]["/v1beta1/repeat:bodyinfo"]["post"]
    body = op["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/google.showcase.v1beta1.ComplianceData"}, body
    query = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
    assert {"name", "serverVerify"} <= query, f"RepeatDataBodyInfo's query parameters are {sorted(query)}"

    doc, _ = generate("pubsub")
    detach = doc["paths"]["/v1/projects/{project}/subscriptions/{subscription}:detach"]["post"]
    assert "requestBody" not in detach, f"DetachSubscription (no body) documents a body: {detach['requestBody']}"

    doc, _ = generate("response-body")
    ok = doc["paths"]["/responsestrings/{data}"]["get"]["responses"]["200"]
    schema = ok["content"]["application/json"]["schema"]
    assert schema == {"type": "array", "items": {"type": "string"}}, f"response_body of a repeated string: {schema}"


# ---------------------------------------------------------------------------------------------
# The bookstore document, as a user of the generator reads it


def resolve(doc, schema):
    """Follows $ref (and a lone allOf wrapper) to the schema it names."""
    while True:
        if "$ref" in schema:
            ref = schema["$ref"]
            assert ref.startswith("#/components/schemas/"), ref
            schema = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
        elif "allOf" in schema and len(schema["allOf"]) == 1:
            schema = schema["allOf"][0]
        else:
            return schema


def operation(doc, op_id):
    found = [(p, m, o) for p, m, o in operations(doc) if o.get("operationId") == op_id]
    assert len(found) == 1, f"{len(found)} operations with operationId {op_id}"
    return found[0]


def parameter(op, name, where):
    found = [p for p in op.get("parameters", []) if p["name"] == name and p["in"] == where]
    assert len(found) == 1, f"no {where} parameter {name!r}: {[(p['in'], p['name']) for p in op.get('parameters', [])]}"
    return found[0]


def test_bookstore_operation_ids_and_tags(bookstore_doc):
    ids = [op["operationId"] for _, _, op in operations(bookstore_doc)]
    assert len(ids) == len(set(ids)), f"duplicate operationIds: {sorted(ids)}"
    for op_id in ids:
        assert re.fullmatch(r"Bookstore_[A-Z][A-Za-z0-9]*(_[0-9]+)?", op_id), f"operationId {op_id!r}"
    # GetBook has an additional binding: the first keeps the plain name, the extra one gets a suffix.
    assert {"Bookstore_GetBook", "Bookstore_GetBook_1"} <= set(ids), sorted(ids)
    assert {
        "Bookstore_CreateShelf",
        "Bookstore_ListShelves",
        "Bookstore_SearchBooks",
        "Bookstore_UpdateBook",
        "Bookstore_MoveBook",
    } <= set(ids), sorted(ids)
    assert [tag["name"] for tag in bookstore_doc["tags"]] == ["Bookstore"], bookstore_doc["tags"]
    for path, method, op in operations(bookstore_doc):
        assert op.get("tags") == ["Bookstore"], f"{method.upper()} {path} has tags {op.get('tags')}"


def test_bookstore_paths_have_one_parameter_per_segment(bookstore_doc):
    item = bookstore_doc["paths"].get("/v1/shelves/{shelf}/books/{book}")
    assert item is not None, f"no /v1/shelves/{{shelf}}/books/{{book}} among {sorted(bookstore_doc['paths'])}"
    assert {"get", "patch"} <= set(item), sorted(item)
    for method in ("get", "patch"):
        names = [p["name"] for p in item[method]["parameters"] if p["in"] == "path"]
        assert names == ["shelf", "book"], f"{method.upper()} path parameters: {names}"
        for name in names:
            p = parameter(item[method], name, "path")
            assert p["required"] is True and p["schema"] == {"type": "string"}, p
    for path in bookstore_doc["paths"]:
        assert "=" not in path and "*" not in path, path


def test_bookstore_search_parameters(bookstore_doc):
    _, method, op = operation(bookstore_doc, "Bookstore_SearchBooks")
    assert method == "get"
    genres = parameter(op, "genres", "query")
    assert genres.get("style", "form") == "form" and genres.get("explode", True) is True, genres
    assert genres["schema"]["type"] == "array", genres
    genre = resolve(bookstore_doc, genres["schema"]["items"])
    assert genres["schema"]["items"] == {"$ref": "#/components/schemas/bookstore.v1.Genre"}, genres
    assert genre["type"] == "string" and {"GENRE_FICTION", "GENRE_POETRY"} <= set(genre["enum"]), genre

    publisher = parameter(op, "publisher", "query")
    assert publisher["style"] == "deepObject" and publisher.get("explode") is True, publisher
    target = resolve(bookstore_doc, publisher["schema"])
    assert target["type"] == "object" and {"name", "country"} <= set(target["properties"]), target


def test_bookstore_scalar_formats(bookstore_doc):
    book = bookstore_doc["components"]["schemas"]["bookstore.v1.Book"]["properties"]
    assert (book["isbn"]["type"], book["isbn"]["format"]) == ("string", "int64"), book["isbn"]
    assert (book["coverThumbnail"]["type"], book["coverThumbnail"]["format"]) == ("string", "byte"), book["coverThumbnail"]
    create = book["createTime"]
    assert (create["type"], create["format"], create.get("readOnly")) == ("string", "date-time", True), create
    assert book["restockTime"]["format"] == "date-time", book["restockTime"]
    shelf = bookstore_doc["components"]["schemas"]["bookstore.v1.Shelf"]
    assert "theme" in shelf.get("required", []), shelf


def test_bookstore_oneof_members_mention_their_oneof(bookstore_doc):
    book = bookstore_doc["components"]["schemas"]["bookstore.v1.Book"]["properties"]
    for member in ("inStock", "restockTime", "outOfPrint"):
        description = book[member].get("description", "")
        assert "availability" in description, f"Book.{member}'s description does not name its oneof: {description!r}"
        others = {"inStock", "restockTime", "outOfPrint"} - {member}
        assert all(o in description for o in others), f"Book.{member}'s description does not name {others}"


def test_bookstore_errors_are_documented(bookstore_doc):
    for path, method, op in operations(bookstore_doc):
        default = op["responses"].get("default")
        assert default, f"{method.upper()} {path}: no default response"
        schema = default["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/google.rpc.Status"}, f"{method.upper()} {path}: {schema}"
    status = bookstore_doc["components"]["schemas"]["google.rpc.Status"]["properties"]
    assert {"code", "message", "details"} <= set(status), status


def test_chat_method_without_binding_is_documented_at_its_default_rest_binding():
    doc, _ = committed("chat")
    item = doc["paths"].get("/chat.v1.Chat/GetHistory")
    assert item is not None, f"no /chat.v1.Chat/GetHistory among {sorted(doc['paths'])}"
    assert set(item) & set(METHODS) == {"post"}, sorted(item)
    op = item["post"]
    assert op["operationId"] == "Chat_GetHistory" and op["tags"] == ["Chat"], op
    body = op["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/chat.v1.GetHistoryRequest"}, body
    result = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert result == {"$ref": "#/components/schemas/chat.v1.GetHistoryResponse"}, result
    error = op["responses"]["default"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/google.rpc.Status"}, "REST's error body, not Connect's"


# ---------------------------------------------------------------------------------------------
# The document and the server agree: event streams, query objects, links


def conforms(doc, schema, value, what):
    """`value` is valid against `schema`, a schema of `doc` (its $refs resolved in `doc`)."""
    root = dict(schema, components=doc["components"])
    errors = list(OAS30ReadValidator(root).iter_errors(value))
    assert not errors, f"{what} does not conform to the document: {errors[0].message}\n{json.dumps(value)[:500]}"


def read_events(response, wanted):
    """The first `wanted` events with data of an SSE response, as {field: value} dicts (data parsed)."""
    events, fields = [], {}
    for line in response.iter_lines(decode_unicode=True):
        if line is None:
            continue
        if line == "":
            if "data" in fields:
                events.append(fields | {"data": json.loads(fields["data"])})
                if len(events) == wanted:
                    return events
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value
    return events


def event_schema(op):
    return op["responses"]["200"]["content"]["text/event-stream"]["schema"]


def test_bookstore_watch_shelf_events_conform_to_the_document(bookstore_server):
    doc = committed("bookstore")[0]
    path, method, op = operation(doc, "Bookstore_WatchShelf")
    assert (path, method) == ("/v1/shelves/{shelf}:watch", "get")
    with Http(bookstore_server.address) as http:
        shelf = ok(http.post("/v1/shelves", json={"theme": "watched"}))["name"]
        url = "/" + "v1/" + shelf + ":watch"
        refused = http.get(url)
        assert refused.status_code == 406, f"GET {url} without Accept -> {refused.status_code}"
        conforms(doc, op["responses"]["default"]["content"]["application/json"]["schema"], refused.json(), "the 406 body")
        done = http.get(url, headers={"accept": "text/event-stream", "last-event-id": "end"})
        assert done.status_code == 204 and "204" in op["responses"], done.status_code
        with Http(bookstore_server.address) as watcher:
            stream = watcher.get(url, headers={"accept": "text/event-stream"}, stream=True, timeout=10)
            try:
                assert stream.status_code == 200, stream.status_code
                assert stream.headers["content-type"].startswith("text/event-stream")
                ok(http.post(f"/v1/{shelf}/books", json={"title": "Dune", "genre": "GENRE_FICTION", "inStock": 2}))
                events = read_events(stream, 1)
            finally:
                stream.close()
    assert len(events) == 1, events
    assert events[0]["data"]["kind"] == "KIND_BOOK_ADDED", events
    conforms(doc, event_schema(op), events[0], "a WatchShelf event")


def test_chat_subscribe_events_conform_to_the_document(chat_server):
    doc = committed("chat")[0]
    path, method, op = operation(doc, "Chat_Subscribe")
    assert (path, method) == ("/sse/chat.v1.Chat/Subscribe", "get")
    assert operation(doc, "Chat_Subscribe_1")[:2] == ("/sse/chat.v1.Chat/Subscribe", "post")
    room = "rooms/openapi-events"
    with Http(chat_server.address) as http, Http(chat_server.address) as watcher:
        stream = watcher.get(path, params={"room": room}, stream=True, timeout=10)
        try:
            assert stream.status_code == 200, stream.status_code
            ok(http.post(f"/v1/{room}/messages", json={"author": "ann", "text": "hello"}))
            events = read_events(stream, 1)
        finally:
            stream.close()
    assert len(events) == 1 and events[0]["data"]["text"] == "hello", events
    conforms(doc, event_schema(op), events[0], "a Subscribe event")


def test_bookstore_query_objects_are_read_as_documented(bookstore_server):
    doc = committed("bookstore")[0]
    _, _, op = operation(doc, "Bookstore_SearchBooks")
    publisher = parameter(op, "publisher", "query")
    schema = resolve(doc, publisher["schema"])
    # The document allows keys the message does not have, and the server ignores them ...
    assert schema.get("additionalProperties") is not False, schema
    with Http(bookstore_server.address) as http:
        found = http.get("/v1/books:search", params={"publisher[nonsense]": "x", "publisher[name]": "Ace"})
        assert found.status_code == 200, found.text
        conforms(doc, op["responses"]["200"]["content"]["application/json"]["schema"], found.json(), "a search")
        # ... while the fields it has keep their rules.
        country = schema["properties"]["country"]
        assert country["pattern"] == "^([A-Z]{2})?$", country
        refused = http.get("/v1/books:search", params={"publisher[country]": "usa"})
        assert refused.status_code == 400, refused.text


def follow(link, created):
    """The path parameters a link gives, from the created resource (the `#regex:` extension applied)."""
    values = {}
    for key, expression in link["parameters"].items():
        where, _, name = key.partition(".")
        assert where == "path", key
        pointer, _, pattern = expression.partition("#regex:")
        assert pointer == "$response.body#/name", expression
        match = re.search(pattern, created["name"])
        assert match, f"{pattern} does not match {created['name']}"
        values[name] = match.group(1)
    return values


def test_bookstore_create_links_reach_the_created_resource(bookstore_server):
    doc = committed("bookstore")[0]
    with Http(bookstore_server.address) as http:
        for create, body_path, body, targets in [
            ("Bookstore_CreateShelf", None, {"theme": "linked"}, {"Bookstore_GetShelf", "Bookstore_DeleteShelf"}),
            ("Bookstore_CreateBook", "/v1/{shelf}/books", {"title": "Linked"},
             {"Bookstore_GetBook", "Bookstore_GetBook_1", "Bookstore_UpdateBook"}),
        ]:  # fmt: skip
            path, _, op = operation(doc, create)
            links = op["responses"]["200"].get("links", {})
            assert targets <= set(links), f"{create} links to {sorted(links)}"
            if body_path:
                shelf = ok(http.post("/v1/shelves", json={"theme": "for books"}))["name"]
                path = body_path.format(shelf=shelf)
            created = ok(http.post(path, json=body))
            for name in sorted(targets, key=lambda n: "Delete" in n):  # deletes last
                target_path, method, _ = operation(doc, links[name]["operationId"])
                url = target_path.format(**follow(links[name], created))
                kwargs = {"json": {"title": "Renamed"}} if method == "patch" else {}
                answer = http.request(method.upper(), url, **kwargs)
                assert answer.status_code == 200, f"{name}: {method.upper()} {url} -> {answer.status_code} {answer.text[:300]}"
                if method == "get":
                    assert answer.json()["name"] == created["name"], answer.json()


# ---------------------------------------------------------------------------------------------
# The docs page

URL = re.compile(r"""(?i)(?:\bhttps?:)?//[^\s"'<>()`\\]+""")


@pytest.mark.parametrize("example", sorted(COMMITTED))
def test_docs_page_is_self_contained(request, example):
    server = request.getfixturevalue(f"{example}_server")
    with Http(server.address) as http:
        response = http.get("/docs")
    assert response.status_code == 200, f"GET /docs -> {response.status_code}: {response.text[:300]!r}"
    kind = response.headers.get("content-type", "")
    assert kind.split(";")[0].strip() == "text/html", f"GET /docs has content-type {kind!r}"
    page = response.text
    assert "<html" in page.lower(), page[:300]
    assert "openapi.json" in page, "the docs page does not load openapi.json"
    # Only absolute (or protocol-relative) URLs that point back at this server are allowed.
    off_server = []
    for match in URL.finditer(page):
        url = match.group(0)
        start = match.start()
        if url.startswith("//") and (start == 0 or page[start - 1] not in "\"'=("):
            continue  # a `//` comment in the script, not a protocol-relative URL in an attribute or url()
        host = url.split("//", 1)[1].split("/", 1)[0]
        if host != server.address:
            off_server.append(url)
    assert not off_server, f"GET /docs references other hosts: {off_server[:10]}"
