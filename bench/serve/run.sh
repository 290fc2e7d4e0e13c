#!/usr/bin/env bash
# Served throughput and latency of a unary read, GetBook, over REST, Connect, tRPC, GraphQL and
# gRPC: apigen's bookstore-example against hand-written baselines on the same crates, Node.js
# peers, and a hyper ceiling. See bench/serve/README.md.
#
#   bench/serve/run.sh [--quick|--full] [--out FILE]
#
# --quick (default): 1 run of 3 s per cell after 1 s of warm-up; --full: 5 runs of 10 s, each
# after 2 s of warm-up. Runs are rounds: every server is started, measured and stopped once per
# round (in reverse order on even rounds), so slow drift on the machine spreads over all rows;
# each row is the median of its rounds.
# The server is pinned to core $BENCH_SERVER_CORE (0), the load generator to $BENCH_LOAD_CORE (1).
# Prints the Markdown table, and writes it to FILE with --out.
#
# Needs: cargo, taskset, curl, python3, Node.js 20+ with npm, and oha (installed with
# `cargo install oha --locked` when missing). Builds in release:
# `cargo build --release -p bookstore-example -p apigen-bench-serve`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

. "$here/../args.sh"
bench_args "$@"

if [ "$mode" = full ]; then
  rounds=5 duration=10 warmup=2
else
  rounds=1 duration=3 warmup=1
fi
# HTTP/1.1: oha with ONE worker thread and $concurrency keep-alive connections, one request in
# flight on each. gRPC: grpc-load on one current-thread runtime, $concurrency calls in flight over
# $grpc_connections HTTP/2 connections.
concurrency="${BENCH_CONCURRENCY:-16}"
grpc_connections="${BENCH_GRPC_CONNECTIONS:-2}"
server_core="${BENCH_SERVER_CORE:-0}"
load_core="${BENCH_LOAD_CORE:-1}"
# As root, the server and the load generator run at nice -10, so that other work on the machine
# (a build) takes less of their cores; BENCH_NICE=0 turns that off.
if [ "$(id -u)" = 0 ]; then nice="${BENCH_NICE:--10}"; else nice="${BENCH_NICE:-0}"; fi

fail() {
  echo "error: $*" >&2
  exit 1
}

for tool in cargo taskset curl python3 node npm; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is missing (taskset: Debian's util-linux; Node.js 20+ with npm: Debian's nodejs and npm)"
done
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || fail "Node.js $(node --version) is too old; install Node.js 20 or newer"
cores="$(nproc)"
[ "$server_core" -lt "$cores" ] && [ "$load_core" -lt "$cores" ] ||
  fail "cores $server_core (server) and $load_core (load) must exist; this machine has $cores"

oha="$(command -v oha || true)"
[ -n "$oha" ] || oha="$HOME/.cargo/bin/oha"
if [ ! -x "$oha" ]; then
  echo "oha is missing; installing it with cargo install oha --locked" >&2
  cargo install oha --locked >&2 ||
    fail "could not install oha: install it with \`cargo install oha --locked\` (into ~/.cargo/bin) and run again"
fi

cd "$repo"
echo "building (release): apigen bookstore-example apigen-bench-serve" >&2
cargo build --release --quiet -p apigen -p bookstore-example -p apigen-bench-serve
target="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
bin="$target/release"

echo "installing the Node.js peers (npm ci in bench/node)" >&2
(cd "$repo/bench/node" && npm ci --no-audit --no-fund --loglevel=error >&2) ||
  fail "npm ci in bench/node failed; check that the npm registry is reachable"

tmp="$(mktemp -d)"
server_pid=""
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
upstream_pid=""
cleanup() {
  stop_server
  [ -z "$upstream_pid" ] || kill "$upstream_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$bin/write-descriptor-set" "$tmp/bookstore.binpb"
results="$tmp/results.tsv"
: >"$results"

# start_server CMD...: starts CMD on the server core with --addr 127.0.0.1:0 and waits for its
# "listening on http://ADDR" line; sets $server_pid and $addr.
start_server() {
  : >"$tmp/server.log"
  nice -n "$nice" taskset -c "$server_core" "$@" --addr 127.0.0.1:0 >"$tmp/server.log" 2>&1 &
  server_pid=$!
  local i
  for i in $(seq 1 300); do
    addr="$(sed -n 's|^listening on http://\([0-9.]*:[0-9]*\).*|\1|p' "$tmp/server.log" | head -n 1)"
    [ -n "$addr" ] && return 0
    kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/server.log" >&2; fail "$* exited before it was ready"; }
    sleep 0.1
  done
  cat "$tmp/server.log" >&2
  fail "$* was not ready after 30 s"
}

# check URL CURL-ARGS...: one request must answer 200 with the seeded book in the body.
check() {
  local url="$1"
  shift
  local status
  status="$(curl -sS -o "$tmp/check.body" -w '%{http_code}' "$@" "$url")" || fail "cannot reach $url"
  [ "$status" = 200 ] && grep -q '"title":"The Left Hand of Darkness"' "$tmp/check.body" ||
    fail "$url answered $status, not the book: $(head -c 500 "$tmp/check.body")"
}

# cpu_ticks: the server's CPU time so far (user + system, all threads), in clock ticks.
cpu_ticks() {
  sed 's/^.*) //' "/proc/$server_pid/stat" | awk '{print $12 + $13}'
}

# http PROTOCOL SERVER URL [OHA-ARGS...]: warm-up, then one measured oha run.
http() {
  local protocol="$1" server="$2" url="$3"
  shift 3
  # --disable-compression: no Accept-Encoding, so no server compresses (apigen's Connect would gzip).
  local load=(nice -n "$nice" taskset -c "$load_core" "$oha" --no-tui --worker-threads 1 --disable-compression -c "$concurrency" "$@")
  "${load[@]}" -z "${warmup}s" --output-format quiet "$url" >/dev/null
  local before after figures
  before="$(cpu_ticks)"
  "${load[@]}" -z "${duration}s" --output-format json "$url" >"$tmp/oha.json"
  after="$(cpu_ticks)"
  figures="$(python3 "$here/report.py" oha "$tmp/oha.json")" || fail "$protocol on $server: bad run"
  record "$protocol" "$server" "$figures" $((after - before))
}

# grpc PROTOCOL SERVER: warm-up, then one measured grpc-load run.
grpc() {
  local load=(nice -n "$nice" taskset -c "$load_core" "$bin/grpc-load" --url "http://$addr"
    --concurrency "$concurrency" --connections "$grpc_connections" --warmup 0)
  "${load[@]}" --duration "$warmup" >/dev/null || fail "gRPC on $2: grpc-load failed"
  local before after figures
  before="$(cpu_ticks)"
  "${load[@]}" --duration "$duration" >"$tmp/grpc.json" || fail "gRPC on $2: grpc-load failed"
  after="$(cpu_ticks)"
  figures="$(python3 "$here/report.py" grpc "$tmp/grpc.json")" || fail "gRPC on $2: bad run"
  record "$1" "$2" "$figures" $((after - before))
}

# record PROTOCOL SERVER "RPS P50 P99" CPU-TICKS: one result line; the server's CPU time turns
# the count into requests per second of server CPU (what one fully busy core would serve).
record() {
  local rps p50 p99 count per_cpu
  read -r rps p50 p99 count <<<"$3"
  per_cpu="$(python3 -c "import os, sys; t = int(sys.argv[2]) / os.sysconf('SC_CLK_TCK'); print(f'{int(sys.argv[1]) / t:.1f}' if t > 0 else 0)" "$count" "$4")"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$1" "$2" "$rps" "$p50" "$p99" "$per_cpu" >>"$results"
  printf '  %-8s %-14s %8.0f req/s %8.0f req/CPU-s  p50 %7.3f ms  p99 %7.3f ms\n' "$1" "$2" "$rps" "$per_cpu" "$p50" "$p99" >&2
}

book_url_path="/v1/shelves/1/books/1"
input='%7B%22name%22%3A%22shelves%2F1%2Fbooks%2F1%22%7D' # {"name":"shelves/1/books/1"}
connect_body='{"name":"shelves/1/books/1"}'
graphql_body='{"query":"{ getBook(name: \"shelves/1/books/1\") { name title authors genre isbn price subtitle labels { key value } publisher { name country } inStock restockTime outOfPrint coverThumbnail createTime updateTime } }"}'
json=(-H 'content-type: application/json')

# rest SERVER [CURL/OHA HEADER ARGS...], connect likewise.
rest() {
  local server="$1"
  shift
  check "http://$addr$book_url_path" "$@" && http REST "$server" "http://$addr$book_url_path" "$@"
}
connect() {
  local server="$1" url="http://$addr/bookstore.v1.Bookstore/GetBook"
  shift
  check "$url" "${json[@]}" "$@" -d "$connect_body" &&
    http Connect "$server" "$url" -m POST "${json[@]}" "$@" -d "$connect_body"
}
trpc() {
  local url="http://$addr/trpc/bookstore.getBook?input=$input"
  check "$url" && http tRPC "$1" "$url"
}
graphql() {
  local url="http://$addr/graphql"
  check "$url" "${json[@]}" -d "$graphql_body" && http GraphQL "$1" "$url" -m POST "${json[@]}" -d "$graphql_body"
}

# seed WHAT [CURL ARGS...]: the bookstore at $addr starts empty; this makes one shelf and one book
# (shelves/1/books/1).
seed() {
  local what="$1"
  shift
  curl -sS -f -o /dev/null -X POST "http://$addr/v1/shelves" "${json[@]}" "$@" -d '{"theme": "Science fiction"}' ||
    fail "cannot create the shelf in $what"
  curl -sS -f -o /dev/null -X POST "http://$addr/v1/shelves/1/books" "${json[@]}" "$@" -d @"$here/book.json" ||
    fail "cannot create the book in $what"
}

# Production: a JWT (ES256, from jwt/: a key set and a token valid until 2100, made for this
# benchmark only) and a W3C traceparent on every request; metrics are always on.
production=(-H "authorization: Bearer $(cat "$here/jwt/token")"
  -H "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")

node_dir="$repo/bench/node"
echo "mode $mode: $rounds round(s), ${warmup} s warm-up + ${duration} s per cell, concurrency $concurrency," \
  "server on core $server_core, load on core $load_core" >&2
servers_apigen() {
  start_server "$bin/bookstore-example"
  seed bookstore-example
  rest apigen
  connect apigen
  trpc apigen
  graphql apigen
  grpc gRPC apigen
  stop_server
}

# The cost of production settings: the same server checking JWTs against a key set, with
# every request traced by its client (tracing's export off).
servers_production() {
  start_server "$bin/bookstore-example" --jwks "$here/jwt/jwks.json" \
    --issuer https://issuer.bench.test --audience bench
  seed "bookstore-example with --jwks" "${production[@]}"
  rest production "${production[@]}"
  connect production "${production[@]}"
  stop_server
}

# Gateway mode: `apigen gateway` (measured, on the server core) in front of bookstore-example
# as its gRPC upstream (on the load core, not measured), against apigen's own path above.
servers_gateway() {
  nice -n "$nice" taskset -c "$load_core" "$bin/bookstore-example" --addr 127.0.0.1:0 >"$tmp/upstream.log" 2>&1 &
  upstream_pid=$!
  upstream_addr=""
  for _ in $(seq 1 300); do
    upstream_addr="$(sed -n 's|^listening on http://\([0-9.]*:[0-9]*\).*|\1|p' "$tmp/upstream.log" | head -n 1)"
    [ -n "$upstream_addr" ] && break
    sleep 0.1
  done
  [ -n "$upstream_addr" ] || fail "the gateway's upstream bookstore-example did not start: $(cat "$tmp/upstream.log")"
  start_server "$bin/apigen" gateway "$repo/schemas/examples/bookstore.proto" -I "$repo/schemas" \
    --upstream "http://$upstream_addr"
  seed "the gateway"
  rest gateway
  connect gateway
  grpc gRPC gateway
  stop_server
  kill "$upstream_pid" 2>/dev/null || true
  wait "$upstream_pid" 2>/dev/null || true
}

servers_axum() {
  start_server "$bin/baseline-axum"
  rest axum
  connect axum
  trpc axum
  stop_server
}

servers_graphql_baseline() {
  start_server "$bin/baseline-graphql"
  graphql async-graphql
  stop_server
}

servers_tonic() {
  start_server "$bin/baseline-tonic"
  grpc gRPC tonic
  stop_server
}

servers_hyper() {
  start_server "$bin/ceiling-hyper"
  rest hyper
  stop_server
}

servers_connect_node() {
  start_server node "$node_dir/connect.mjs" --descriptors "$tmp/bookstore.binpb"
  connect connect-node
  stop_server
}

servers_trpc_node() {
  start_server node "$node_dir/trpc.mjs"
  trpc trpc-node
  stop_server
}

servers_yoga() {
  start_server node "$node_dir/yoga.mjs"
  graphql yoga
  stop_server
}

servers_grpc_js() {
  start_server node "$node_dir/grpc.mjs"
  grpc gRPC grpc-js
  stop_server
}

# Every server of a round, in this order on odd rounds and the reverse on even ones, so that
# drift during a round (the machine's speed wanders by more than the margins the goals test)
# weighs on apigen's rows and on the baselines' alike.
order=(apigen production gateway axum graphql_baseline tonic hyper connect_node trpc_node yoga grpc_js)
for round in $(seq 1 "$rounds"); do
  echo "round $round/$rounds" >&2
  if [ $((round % 2)) -eq 1 ]; then
    for servers in "${order[@]}"; do "servers_$servers"; done
  else
    for ((i = ${#order[@]} - 1; i >= 0; i--)); do "servers_${order[$i]}"; done
  fi
done

{
  echo "GetBook, $mode mode ($rounds × ${duration} s per row after ${warmup} s warm-up); server pinned to" \
    "core $server_core, load generator to core $load_core; HTTP: oha $("$oha" --version | awk '{print $2}')" \
    "--worker-threads 1 --disable-compression -c $concurrency; gRPC: grpc-load, $concurrency in flight over $grpc_connections" \
    "connections; nice $nice. $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(date -u +%Y-%m-%d)."
  echo
  python3 "$here/report.py" table "$results"
} >"$tmp/table.md"
cat "$tmp/table.md"
if [ -n "$out" ]; then
  cp "$tmp/table.md" "$out"
fi
