#!/usr/bin/env bash
# Every benchmark of apigen, each against its baseline measured in the same run (ratios; these
# machines are noisy), with one command:
#
#   bench/run.sh [--quick|--full] [--out FILE]
#
#   --quick (default)  a few minutes once built: fewer runs, shorter, smaller
#   --full             medians of several runs; what BENCHMARKS.md holds (about 35 minutes)
#   --out FILE         also write the report (Markdown) to FILE, e.g. BENCHMARKS.md
#
# The parts (each runnable alone, see its README):
#   1. generation speed   bench/gen (apigen-bench-gen): apigen vs protox + tonic-prost-build
#   2. compile cost        bench/gen/compile.sh: the medium schema's generated crate vs gRPC-only
#   3. served throughput   bench/serve/run.sh: GetBook per protocol vs hand-written baselines,
#                          Node.js peers and a hyper ceiling
#   4. streaming fan-out   bench/stream/run.sh: SSE and WebSocket fan-out vs an axum broadcast
#                          server, memory per idle connection
# Needs what the parts need: cargo, taskset, python3, Node.js with npm, and oha (installed by
# bench/serve/run.sh with `cargo install oha --locked` when missing).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
. "$here/args.sh"
bench_args "$@"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/apigen-target}"
cd "$repo"
work="$(mktemp -d /tmp/apigen-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT
quick_flag=""
[ "$mode" = quick ] && quick_flag="--quick"

echo "== building (release)" >&2
cargo build -q --release -p apigen-bench-gen -p apigen-bench-serve -p apigen-bench-stream \
  -p bookstore-example -p chat-example

echo "== 1/4 generation speed" >&2
"$CARGO_TARGET_DIR/release/apigen-bench-gen" $quick_flag > "$work/gen.md"

echo "== 2/4 compile cost" >&2
bench/gen/compile.sh $quick_flag --no-variants > "$work/compile.md"

echo "== 3/4 served throughput (and the JSON codec alone, and its conformance)" >&2
"$CARGO_TARGET_DIR/release/json-codec" $quick_flag > "$work/codec.md"
"$CARGO_TARGET_DIR/release/validate-cost" $quick_flag > "$work/validate.md"
"$CARGO_TARGET_DIR/release/relations-bench" $quick_flag > "$work/relations.md"
cargo build -q -p apigen-conformance
# The whole output first: grep -m1 on the pipe would end run.sh early (SIGPIPE under pipefail).
bash tests/conformance/run.sh > "$work/conformance.log" 2>&1 || true
grep -m1 'CONFORMANCE SUITE' "$work/conformance.log" > "$work/conformance.txt" ||
  echo "the conformance suite did not run (tests/conformance/README.md)" > "$work/conformance.txt"
bench/serve/run.sh "--$mode" --out "$work/serve.md" > /dev/null

echo "== 4/4 streaming fan-out" >&2
bench/stream/run.sh "--$mode" > "$work/stream.md"

{
  echo "# Benchmarks"
  echo
  echo "\`bench/run.sh --$mode\` on $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (with local changes)')."
  echo "Machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(free -g | awk '/^Mem:/ {print $2}') GiB,"
  echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg). Every figure is compared with a baseline"
  echo "measured in the same run; the parts' READMEs say how each is measured."
  echo
  echo "## 1. Generation speed (bench/gen)"
  echo
  cat "$work/gen.md"
  echo
  echo "## 2. Compile cost of the generated code (bench/gen/compile.sh)"
  echo
  cat "$work/compile.md"
  echo
  echo "## 3. Served throughput and latency, unary GetBook (bench/serve)"
  echo
  cat "$work/serve.md"
  echo
  echo "### The proto3 JSON codec alone (bench/serve/src/bin/json-codec.rs)"
  echo
  cat "$work/codec.md"
  echo
  echo "Its correctness in the same run, protobuf's conformance suite over the generated types"
  echo "(tests/conformance, runner 33.2, \`--enforce_recommended\`, proto3 and proto2 test messages):"
  echo "\`$(cat "$work/conformance.txt")\`"
  echo
  echo "### What protovalidate's rules cost a request (bench/serve/src/bin/validate-cost.rs)"
  echo
  cat "$work/validate.md"
  echo
  echo "### GraphQL relations against REST's N+1 (bench/serve/src/bin/relations-bench.rs)"
  echo
  cat "$work/relations.md"
  echo
  echo "## 4. Streaming fan-out (bench/stream)"
  echo
  cat "$work/stream.md"
} > "$work/report.md"

cat "$work/report.md"
if [ -n "$out" ]; then
  cp "$work/report.md" "$out"
  echo "wrote $out" >&2
fi
