"""schemathesis against a fresh bookstore server, driven by the document the server itself serves at
GET /openapi.json, with every check it has: no 5xx, responses that conform to the document (status
codes, content types, schemas, headers), schema-valid requests accepted, schema-violating ones
rejected with a 4xx, 405 with `Allow` for unsupported methods, and its stateful checks.

The runs are bounded and reproducible: three fixed seeds (one run each, against its own fresh server),
one worker, no example database, MAX_EXAMPLES test cases per operation and phase, and RUN_TIMEOUT
seconds per run. (`--max-time` is not the bound: with
it, schemathesis keeps fuzzing until the time is spent.) It talks to nothing but the loopback server.

So that requests reach the server's logic instead of stopping at NOT_FOUND, the server is seeded
with shelves and books first, and schemathesis is told their ids (as "dictionaries" that it draws
path parameters from most of the time, generating the rest). The document's links (from each create
method to the methods that take the created name) drive the stateful phase, which must run.

Server-streaming operations (a `text/event-stream` response, Server-Sent Events) are left out: the
bookstore's WatchShelf never ends on its own, so every call would run into the request timeout;
tests/e2e/test_openapi.py reads its events against the document instead."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import Http, ok

SEEDS = (20260415, 7, 31337)
MAX_EXAMPLES = 15
RUN_TIMEOUT = 120.0  # seconds for one schemathesis run
REPORT_LINES = 400  # how much of schemathesis's report a failure shows
# What schemathesis's positive_data_acceptance check accepts for a schema-valid request by default.
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]

FULL_SHELVES = 3  # shelves with books; the stateless phases read, update and move their books
EMPTY_SHELVES = 3  # shelves without books: the ones DeleteShelf is pointed at
BOOKS_PER_SHELF = 4
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
COVER = "iVBORw0KGgoAAAANSUhEUg=="  # base64 bytes

# Books with every field set, one per member of the `availability` oneof, so that the responses
# schemathesis checks against the document carry every kind of value.
BOOKS = [
    {
        "title": "Dune",
        "authors": ["Frank Herbert"],
        "genre": "GENRE_FICTION",
        "isbn": "9780441013593",
        "price": 9.99,
        "subtitle": "Book One",
        "labels": {"format": "paperback"},
        "publisher": {"name": "Ace", "country": "US"},
        "coverThumbnail": COVER,
        "inStock": 3,
    },
    {"title": "Cosmos", "authors": ["Carl Sagan"], "genre": "GENRE_SCIENCE", "restockTime": "2030-01-02T03:04:05Z"},
    {"title": "Beowulf", "genre": "GENRE_POETRY", "outOfPrint": True, "publisher": {"name": "Anon"}},
    {"title": "SPQR", "genre": "GENRE_HISTORY", "isbn": "9781631492228", "price": 0.5},
]


def schemathesis_cli():
    path = Path(sys.executable).parent / "schemathesis"
    if not path.is_file():
        pytest.fail(
            f"schemathesis is not installed beside {sys.executable}: run the tests with tests/e2e/run.sh, "
            "which installs tests/e2e/requirements.txt",
            pytrace=False,
        )
    return path


def seed(address):
    """Creates the shelves and books; returns (ids of full shelves, ids of empty shelves, book ids)."""
    full, empty, books = [], [], set()
    with Http(address) as http:
        for i in range(FULL_SHELVES + EMPTY_SHELVES):
            shelf = ok(http.post("/v1/shelves", json={"theme": f"theme {i}"}))["name"]
            _, shelf_id = shelf.split("/")
            (full if i < FULL_SHELVES else empty).append(shelf_id)
            if i >= FULL_SHELVES:
                continue
            for j in range(BOOKS_PER_SHELF):
                book = ok(http.post(f"/v1/{shelf}/books", json=BOOKS[j % len(BOOKS)]))["name"]
                _, _, _, book_id = book.split("/")
                books.add(book_id)
    return full, empty, sorted(books)


def toml_list(values):
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def config(full, empty, books):
    """A schemathesis.toml: no cache, and where path parameters draw their values from."""
    return f"""\
[cache]
enabled = false

[dictionaries.full_shelves]
values = {toml_list(full)}

[dictionaries.empty_shelves]
values = {toml_list(empty)}

[dictionaries.books]
values = {toml_list(books)}

[dictionaries.shelf_names]
values = {toml_list(f"shelves/{s}" for s in full + empty)}

# Page tokens are opaque (DESIGN.md): only the ones the server returned are valid, and no schema can
# say which those are, so positive cases send the empty one (the first page).
[dictionaries.first_page]
values = [""]

[parameters]
"path.shelf" = {{ dictionary = "full_shelves", probability = 0.75 }}
"path.book" = {{ dictionary = "books", probability = 0.75 }}
"body.otherShelf" = {{ dictionary = "shelf_names", probability = 0.75 }}
"query.pageToken" = {{ dictionary = "first_page", probability = 1.0 }}

# A shelf that still holds books is deleted only with `force`; without it the answer is
# FAILED_PRECONDITION, which the contract (DESIGN.md, Errors) maps to HTTP 400, a status that
# schemathesis does not expect for a schema-valid request (it expects 409 for a state conflict).
# DeleteShelf is mostly pointed at the empty shelves, and may answer a valid request with 400.
[[operations]]
include-operation-id = "Bookstore_DeleteShelf"
parameters = {{ "path.shelf" = {{ dictionary = "empty_shelves", probability = 0.75 }} }}
checks.positive_data_acceptance.expected-statuses = {toml_list(ACCEPTED + ["400"])}

# `otherShelf` must be a shelf's resource name (`shelves/{{shelf}}`). bookstore.proto says so only in a
# comment (no google.api.resource_reference), so the document cannot carry the pattern, and a
# malformed name is rightly INVALID_ARGUMENT (400).
[[operations]]
include-operation-id = "Bookstore_MoveBook"
checks.positive_data_acceptance.expected-statuses = {toml_list(ACCEPTED + ["400"])}
"""


def without_proxies(env):
    """The environment minus proxy settings: every request goes straight to the loopback server."""
    return {k: v for k, v in env.items() if not k.lower().endswith("_proxy") and k.lower() != "all_proxy"}


def report(output):
    """The part of schemathesis's output that explains a failure: from its ERRORS/FAILURES section on."""
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("=") and ("FAILURES" in line or "ERRORS" in line)), 0)
    shown = lines[start : start + REPORT_LINES]
    more = len(lines) - start - len(shown)
    return "\n".join(shown) + (f"\n… {more} more lines" if more > 0 else "")


def streams(document):
    """The operationIds of the server-streaming operations: their 200 is `text/event-stream`."""
    return sorted(
        op["operationId"]
        for item in document["paths"].values()
        for method, op in item.items()
        if method in METHODS and "text/event-stream" in op["responses"].get("200", {}).get("content", {})
    )


@pytest.mark.timeout(RUN_TIMEOUT + 60)
@pytest.mark.parametrize("seed_value", SEEDS)
def test_schemathesis_finds_no_failure(launch, tmp_path, seed_value):
    cli = schemathesis_cli()
    server = launch("bookstore-example")
    full, empty, books = seed(server.address)
    with Http(server.address) as http:
        document = ok(http.get("/openapi.json"))
    skipped = streams(document)
    assert "Bookstore_WatchShelf" in skipped, f"WatchShelf is not documented as an event stream: {skipped}"
    operations = sum(1 for item in document["paths"].values() for method in item if method in METHODS) - len(skipped)
    assert operations > 0, "the served document has no operations"
    settings = tmp_path / "schemathesis.toml"
    settings.write_text(config(full, empty, books))
    cmd = [
        str(cli), "--config-file", str(settings), "--no-color",
        "run", f"http://{server.address}/openapi.json",
        "--checks", "all",
        "--max-examples", str(MAX_EXAMPLES),
        "--seed", str(seed_value),
        *(arg for op_id in skipped for arg in ("--exclude-operation-id", op_id)),
        "--generation-database", "none",
        "--workers", "1",
        "--continue-on-failure",  # every failure of an operation, not only its first
        "--request-timeout", "10",
        "--output-truncate", "false",
        "--output-sanitize", "false",  # a loopback test server has no secrets; keep the curl commands exact
    ]  # fmt: skip
    env = without_proxies(os.environ) | {"NO_COLOR": "1", "COLUMNS": "120"}
    log = tmp_path / "schemathesis.log"
    started = time.monotonic()
    with open(log, "w") as out:
        # In tmp_path, with its own process group: any files it writes stay there, and a timeout stops it whole.
        process = subprocess.Popen(
            cmd, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            status = process.wait(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            status = None
    output = log.read_text(errors="replace")
    command = " ".join(cmd)
    if status is None:
        pytest.fail(
            f"schemathesis did not finish in {RUN_TIMEOUT:.0f} s: `{command}`\n{output[-20000:]}\n"
            f"--- bookstore server ---\n{server.output()[-5000:]}",
            pytrace=False,
        )
    if server.process.poll() is not None:
        pytest.fail(
            f"the bookstore server exited with status {server.process.poll()} during the schemathesis run\n"
            f"{server.output()[-5000:]}\n--- schemathesis ---\n{report(output)}",
            pytrace=False,
        )
    if status != 0:
        pytest.fail(
            f"schemathesis exited with status {status} after {time.monotonic() - started:.0f} s "
            f"(seed {seed_value}, {MAX_EXAMPLES} examples per operation):\n`{command}`\n{report(output)}",
            pytrace=False,
        )
    # It tested every operation of the document.
    assert f"Tested: {operations}" in output, f"expected schemathesis to test all {operations} operations:\n{output[-3000:]}"
    # The stateful phase ran over the document's links (it adds links of its own, "inferred") and followed some.
    documented = sum(
        len(response.get("links", {}))
        for item in document["paths"].values()
        for method, op in item.items()
        if method in METHODS
        for response in op["responses"].values()
    )
    assert documented >= 7, f"the document has {documented} links; CreateShelf and CreateBook should link to 7 operations"
    links = re.search(r"API Links:\s+(\d+) covered / \d+ selected / (\d+) total(?: \((\d+) inferred\))?", output)
    assert links and re.search(r"✅\s+Stateful", output), f"schemathesis did not run its stateful phase:\n{output[-3000:]}"
    covered, total, inferred = int(links[1]), int(links[2]), int(links[3] or 0)
    assert total - inferred == documented, f"schemathesis read {total - inferred} of the document's {documented} links"
    assert covered > 0, f"the stateful phase followed no link:\n{output[-3000:]}"
