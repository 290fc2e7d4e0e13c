"""HTTP caching with a real cache in front: nginx's `proxy_cache` before the bookstore.

The bookstore's cache hints (`(apigen.method).cache`) become `Cache-Control` on REST GET bindings,
Connect GET, tRPC GET queries and GraphQL GET queries; nginx, told nothing about them, keeps what
they allow. The second request is served from nginx's cache without reaching the bookstore (its
access log names the upstream of each request); a private response is never shared; an expired
one is revalidated with the `ETag` (`If-None-Match`, answered 304 by the bookstore).
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse

import pytest
import requests

NGINX_CONF = """
worker_processes 1;
daemon off;
{user}
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 64; }}
http {{
  log_format upstream '$request_method $request_uri $upstream_cache_status $upstream_addr $upstream_status';
  access_log {dir}/access.log upstream;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  proxy_cache_path {dir}/cache keys_zone=api:1m;
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://{upstream};
      proxy_http_version 1.1;
      proxy_cache api;
      proxy_cache_revalidate on;
      add_header X-Cache-Status $upstream_cache_status always;
    }}
  }}
}}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def nginx(bookstore_server):
    """nginx on a loopback port, caching the bookstore; yields (base URL, access log reader)."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.access(binary, os.X_OK):
        pytest.fail("nginx is missing: install it (Debian: apt-get install nginx)", pytrace=False)
    directory = tempfile.mkdtemp(prefix="apigen-nginx-")
    port = free_port()
    upstream = bookstore_server.address.removeprefix("http://")
    user = "user root;" if os.geteuid() == 0 else ""
    conf = os.path.join(directory, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(dir=directory, port=port, upstream=upstream, user=user))
    process = subprocess.Popen([binary, "-p", directory, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            requests.get(f"{base}/healthz", timeout=1)
            break
        except requests.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"nginx did not start: {process.stderr.read().decode(errors='replace')}", pytrace=False)
            time.sleep(0.05)

    def log():
        with open(os.path.join(directory, "access.log")) as f:
            return [line.split() for line in f]

    yield base, log
    process.terminate()
    process.wait(timeout=10)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def shelf(bookstore_http):
    shelf = bookstore_http.post("/v1/shelves", json={"theme": "Behind a cache"}).json()
    bookstore_http.post(f"/v1/{shelf['name']}/books", json={"title": "Cached", "authors": ["Ada"]})
    return shelf["name"]


def upstream_lines(log, uri, requests_made):
    """nginx's log lines for `uri` that reached the bookstore (its upstream address is logged).

    nginx writes a request's line after the client has its response, so this waits until every
    request made has its line.
    """
    deadline = time.monotonic() + 5
    while True:
        lines = [line for line in log() if line[1] == uri]
        if len(lines) >= requests_made or time.monotonic() > deadline:
            return [line for line in lines if line[3] != "-"]
        time.sleep(0.02)


def twice(base, log, path, headers=None):
    """GETs `path` through nginx twice; returns both responses and the bookstore's call count."""
    first = requests.get(base + path, headers=headers or {}, timeout=10)
    second = requests.get(base + path, headers=headers or {}, timeout=10)
    assert first.status_code == 200 and second.status_code == 200, (first.text, second.text)
    assert first.content == second.content
    return first, second, len(upstream_lines(log, path, 2))


def quote(value):
    return urllib.parse.quote(value, safe="")


@pytest.mark.parametrize(
    "protocol,path,headers",
    [
        ("REST", "/v1/{shelf}", None),
        ("Connect GET", "/bookstore.v1.Bookstore/GetShelf?connect=v1&encoding=json&message={message}", None),
        ("tRPC", "/trpc/bookstore.getShelf?input={message}", None),
        ("GraphQL", "/graphql?query={graphql}", {"apollo-require-preflight": "true"}),
    ],
)
def test_a_shared_cache_serves_the_second_read_without_the_backend(nginx, shelf, protocol, path, headers):
    base, log = nginx
    path = path.format(
        shelf=shelf,
        message=quote(f'{{"name":"{shelf}"}}'),
        graphql=quote(f'{{ getShelf(name: "{shelf}") {{ theme bookCount }} }}'),
    )
    first, second, calls = twice(base, log, path, headers)
    assert first.headers["Cache-Control"] == "public, max-age=30", first.headers
    assert first.headers["ETag"].startswith('"')
    assert (first.headers["X-Cache-Status"], second.headers["X-Cache-Status"]) == ("MISS", "HIT"), protocol
    assert calls == 1, f"{protocol}: the bookstore saw the read once, not twice"


def test_a_private_response_is_never_shared(nginx, shelf):
    base, log = nginx
    first, second, calls = twice(base, log, "/v1/books:search?query=cached")
    assert first.headers["Cache-Control"] == "private, max-age=10"
    assert second.headers["X-Cache-Status"] == "MISS" and calls == 2, "a shared cache keeps no private response"


def test_a_read_without_a_hint_is_not_kept(nginx, shelf):
    base, log = nginx
    path = f"/v1/{shelf}/books"
    first, second, calls = twice(base, log, path)
    assert "Cache-Control" not in first.headers and "ETag" in first.headers
    assert calls == 2


def test_an_expired_response_is_revalidated_with_its_etag(nginx, shelf):
    """ListShelves may be kept 1 s: after that nginx asks again with If-None-Match and the
    bookstore answers 304, so the cached body is served on."""
    base, log = nginx
    path = "/v1/shelves?pageSize=5"
    first = requests.get(base + path, timeout=10)
    assert first.headers["Cache-Control"] == "public, max-age=1"
    time.sleep(2.5)  # nginx counts whole seconds: 1 s from now is over within 2
    second = requests.get(base + path, timeout=10)
    assert second.status_code == 200 and second.content == first.content
    assert second.headers["X-Cache-Status"] == "REVALIDATED", second.headers
    statuses = [line[4] for line in upstream_lines(log, path, 2)]
    assert statuses == ["200", "304"], f"the bookstore answered the revalidation with 304: {statuses}"
