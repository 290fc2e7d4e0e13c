#!/usr/bin/env bash
# Compile cost of apigen's generated code against tonic-prost-build's gRPC-only
# output, for the medium synthetic schema (dev profile, as in an edit-build loop).
#
#   bench/gen/compile.sh [--quick] [--no-variants] [--time-passes]
#
# Writes two scratch crates (and the part variants) under $APIGEN_BENCH_WORK
# (default: a new temp dir), builds them in ONE target dir,
# $APIGEN_BENCH_TARGET (default ~/.cache/apigen-bench-target), so that shared
# dependencies are built once, then measures per crate, median of 3 (1 with
# --quick): the crate's own build after `cargo clean -p` (dependencies
# built), the incremental build after appending a comment to a generated
# file, and the binary's size. Then it builds five library variants holding
# growing parts of apigen's output, to attribute the compile time to parts.
# --time-passes adds `rustc -Z time-passes` of the apigen crate on nightly
# (builds the dependencies once more with nightly, in a separate target dir).
set -euo pipefail

runs=3
variants=1
time_passes=0
for arg in "$@"; do
  case "$arg" in
    --quick) runs=1 ;;
    --no-variants) variants=0 ;;
    --time-passes) time_passes=1 ;;
    *) echo "usage: $0 [--quick] [--no-variants] [--time-passes]" >&2; exit 2 ;;
  esac
done

repo="$(cd "$(dirname "$0")/../.." && pwd)"
work="${APIGEN_BENCH_WORK:-$(mktemp -d /tmp/apigen-bench-compile.XXXXXX)}"
bench_target="${APIGEN_BENCH_TARGET:-$HOME/.cache/apigen-bench-target}"
repo_target="${CARGO_TARGET_DIR:-$HOME/.cache/apigen-target}"

echo "building apigen-bench-gen (release) in $repo_target" >&2
(cd "$repo" && CARGO_TARGET_DIR="$repo_target" cargo build -q --release -p apigen-bench-gen)
bin="$repo_target/release/apigen-bench-gen"
rm -rf "$work/apigen-crate" "$work/grpc-crate" "$work/variants" "$work/schema"
"$bin" scaffold --size medium --dir "$work"

export CARGO_TARGET_DIR="$bench_target"
unset RUSTFLAGS

# Seconds (3 decimals) that "$@" takes.
seconds() {
  local start end
  start=$(date +%s.%N)
  "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; "$@" >&2; exit 1; }
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}

median() {
  sort -n | awk '{a[NR]=$1} END {printf "%.2f", (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'
}

# measure DIR PACKAGE TOUCHED-FILE: prints "clean incremental size_bytes".
measure() {
  local dir="$1" package="$2" touched="$3" clean=() incr=() i
  cd "$dir"
  cargo build -q 2>/dev/null || cargo build  # dependencies, and a first build
  for ((i = 0; i < runs; i++)); do
    cargo clean -q -p "$package"
    clean+=("$(seconds cargo build -q)")
  done
  for ((i = 0; i < runs; i++)); do
    echo "// touched $i" >>"$touched"
    incr+=("$(seconds cargo build -q)")
  done
  echo "$(printf '%s\n' "${clean[@]}" | median) $(printf '%s\n' "${incr[@]}" | median) $(stat -c %s "$CARGO_TARGET_DIR/debug/$package")"
}

lines() { cat "$1"/src/api/*.rs "$1"/src/*.rs | wc -l; }

read -r g_clean g_incr g_size < <(measure "$work/grpc-crate" bench-grpc-crate "$work/grpc-crate/src/api/synth.p0.v1.rs")
read -r a_clean a_incr a_size < <(measure "$work/apigen-crate" bench-apigen-crate "$work/apigen-crate/src/api/synth.p0.v1.rs")
g_lines=$(lines "$work/grpc-crate")
a_lines=$(lines "$work/apigen-crate")

ratio() { echo "scale=2; $1 / $2" | bc; }
mib() { echo "scale=1; $1 / 1048576" | bc; }

echo
echo "Medium schema, dev profile, median of $runs; target dir $CARGO_TARGET_DIR"
echo
echo "| crate | Rust lines | clean build of the crate (s) | incremental after a touch (s) | binary (MiB) |"
echo "|---|---:|---:|---:|---:|"
echo "| gRPC-only (tonic-prost-build + tonic) | $g_lines | $g_clean | $g_incr | $(mib "$g_size") |"
echo "| apigen (all protocols, apigen-runtime) | $a_lines | $a_clean | $a_incr | $(mib "$a_size") |"
echo "| ratio apigen / gRPC-only | $(ratio "$a_lines" "$g_lines")× | $(ratio "$a_clean" "$g_clean")× | $(ratio "$a_incr" "$g_incr")× | $(ratio "$a_size" "$g_size")× |"

if [[ $variants == 1 ]]; then
  echo
  "$bin" variants --dir "$work"
  echo
  echo "Library variants of the apigen crate (each adds one part; clean build of the crate, median of $runs):"
  echo
  echo "| variant | clean build (s) | added by this part (s) |"
  echo "|---|---:|---:|"
  prev=0
  for v in 1-types 2-serde 3-input 4-service 5-clients; do
    cd "$work/variants/$v"
    cargo build -q
    times=()
    for ((i = 0; i < runs; i++)); do
      cargo clean -q -p "bench-variant-${v:0:1}"
      times+=("$(seconds cargo build -q)")
    done
    t=$(printf '%s\n' "${times[@]}" | median)
    echo "| $v | $t | $(echo "$t - $prev" | bc) |"
    prev=$t
  done
fi

if [[ $time_passes == 1 ]]; then
  echo
  echo "rustc -Z time-passes (nightly) of the apigen crate, top passes:"
  cd "$work/apigen-crate"
  CARGO_TARGET_DIR="$bench_target-nightly" cargo +nightly build -q 2>/dev/null || true
  touch src/main.rs
  CARGO_TARGET_DIR="$bench_target-nightly" cargo +nightly rustc -q --bin bench-apigen-crate -- -Z time-passes 2>&1 |
    awk '/^time:/ {print}' | sort -t: -k2 -rn | head -25
fi
echo
echo "scratch crates in $work"
