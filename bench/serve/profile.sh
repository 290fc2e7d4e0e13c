#!/usr/bin/env bash
# Profiles one cell of bench/serve/run.sh with perf: the server pinned to core 0 under the same
# load as run.sh (pinned to core 1), `perf record --call-graph dwarf` on the server for SECONDS,
# then the functions with the most CPU time including their callees (perf report --children).
#
#   bench/serve/profile.sh PROTOCOL [SERVER] [SECONDS]
#
# PROTOCOL: rest, connect, trpc, graphql or grpc. SERVER: apigen (default), baseline, or gateway
# (`apigen gateway` in front of bookstore-example, which runs on the load core). SECONDS:
# 5 by default; PERF_FREQ sets the sampling rate (999 Hz by default). Uses the release binaries
# run.sh builds (run it, or its cargo build, first) and oha; needs perf (Debian: linux-perf) and
# root or perf_event_paranoid <= 1. Leaves the recording in $TMPDIR/apigen-profile-PROTOCOL-SERVER.data
# for `perf report -i`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
protocol="${1:-}"
server="${2:-apigen}"
seconds="${3:-5}"
usage() {
  sed -n '6,13p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
case "$protocol" in rest | connect | trpc | graphql | grpc) ;; *) usage ;; esac
case "$server" in apigen | baseline | gateway) ;; *) usage ;; esac
command -v perf >/dev/null 2>&1 || { echo "error: perf is missing (Debian: apt-get install linux-perf)" >&2; exit 1; }
oha="$(command -v oha || echo "$HOME/.cargo/bin/oha")"
target="$(cd "$repo" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
bin="$target/release"

log="$(mktemp)"
upstream_log="$(mktemp)"
data="${TMPDIR:-/tmp}/apigen-profile-$protocol-$server.data"
pid=""
load_pid=""
upstream_pid=""
cleanup() {
  [ -z "$load_pid" ] || kill "$load_pid" 2>/dev/null || true
  [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
  [ -z "$upstream_pid" ] || kill "$upstream_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -f "$log" "$upstream_log"
}
trap cleanup EXIT

# The address a server started with its output in $1 prints, within 10 s; $2 names it in the error.
listening_address() {
  local found=""
  for _ in $(seq 1 100); do
    found="$(sed -n 's|^listening on http://\([0-9.]*:[0-9]*\).*|\1|p' "$1" | head -n 1)"
    [ -n "$found" ] && break
    sleep 0.1
  done
  [ -n "$found" ] || { cat "$1" >&2; echo "error: $2 did not start" >&2; exit 1; }
  echo "$found"
}

if [ "$server" = apigen ]; then
  cmd="$bin/bookstore-example"
elif [ "$server" = gateway ]; then
  taskset -c 1 "$bin/bookstore-example" --addr 127.0.0.1:0 >"$upstream_log" 2>&1 &
  upstream_pid=$!
  upstream_addr="$(listening_address "$upstream_log" "the gateway's upstream")"
  cmd="$bin/apigen gateway $repo/schemas/examples/bookstore.proto -I $repo/schemas --upstream http://$upstream_addr"
else
  case "$protocol" in
    graphql) cmd="$bin/baseline-graphql" ;;
    grpc) cmd="$bin/baseline-tonic" ;;
    *) cmd="$bin/baseline-axum" ;;
  esac
fi
for f in "${cmd%% *}" "$bin/grpc-load"; do
  [ -x "$f" ] || { echo "error: $f is missing: run cargo build --release -p bookstore-example -p apigen-bench-serve" >&2; exit 1; }
done

# shellcheck disable=SC2086 # $cmd holds the gateway's arguments
taskset -c 0 $cmd --addr 127.0.0.1:0 >"$log" 2>&1 &
pid=$!
addr="$(listening_address "$log" "$cmd")"
json=(-H 'content-type: application/json')
if [ "$server" != baseline ]; then
  curl -sS -f -o /dev/null -X POST "http://$addr/v1/shelves" "${json[@]}" -d '{"theme": "Science fiction"}'
  curl -sS -f -o /dev/null -X POST "http://$addr/v1/shelves/1/books" "${json[@]}" -d @"$here/book.json"
fi

run_for=$((seconds + 3))
oha_args=(--no-tui --worker-threads 1 --disable-compression -c 16 -z "${run_for}s" --output-format quiet)
query='{"query":"{ getBook(name: \"shelves/1/books/1\") { name title authors genre isbn price subtitle labels { key value } publisher { name country } inStock restockTime outOfPrint coverThumbnail createTime updateTime } }"}'
case "$protocol" in
  rest) load=("$oha" "${oha_args[@]}" "http://$addr/v1/shelves/1/books/1") ;;
  connect) load=("$oha" "${oha_args[@]}" -m POST "${json[@]}" -d '{"name":"shelves/1/books/1"}' "http://$addr/bookstore.v1.Bookstore/GetBook") ;;
  trpc) load=("$oha" "${oha_args[@]}" "http://$addr/trpc/bookstore.getBook?input=%7B%22name%22%3A%22shelves%2F1%2Fbooks%2F1%22%7D") ;;
  graphql) load=("$oha" "${oha_args[@]}" -m POST "${json[@]}" -d "$query" "http://$addr/graphql") ;;
  grpc) load=("$bin/grpc-load" --url "http://$addr" --concurrency 16 --connections 2 --warmup 0 --duration "$run_for") ;;
esac
taskset -c 1 "${load[@]}" >/dev/null &
load_pid=$!
sleep 1
perf record --call-graph dwarf,16384 -F ${PERF_FREQ:-999} -p "$pid" -o "$data" -- sleep "$seconds" >/dev/null 2>&1
wait "$load_pid" 2>/dev/null || true
load_pid=""
echo "recorded $data"
echo "user-space functions by CPU share including callees (children, self; plumbing futures left out):"
perf report -i "$data" --children --sort symbol --stdio -g none --percent-limit 0.5 2>/dev/null |
  grep -E '^ +[0-9].*\[\.\]' |
  grep -vE 'tokio::|mio::|hyper::|hyper_util::|tower::|futures_util::|std::|start_thread|clone3|FnOnce|__rust_begin|PollFn|0xffffffff|__GI___writev|__libc_recv|MapIntoResponse' |
  sed 's/ *$//' | cut -c1-180 | head -n 50
