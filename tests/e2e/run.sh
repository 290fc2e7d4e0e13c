#!/usr/bin/env bash
# Runs the end-to-end tests against the example servers with real Python clients (grpcio).
#
#   cargo build -p bookstore-example -p chat-example   # first: this script builds no Rust
#   bash tests/e2e/run.sh [PYTEST ARGS...]
#
# Installs the pinned clients (requirements.txt) into a virtualenv at
# ${APIGEN_VENV:-$HOME/.cache/apigen-venv}. The servers are looked up in $APIGEN_BIN_DIR, else
# $CARGO_TARGET_DIR/debug (default ~/.cache/apigen-target/debug).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${APIGEN_VENV:-$HOME/.cache/apigen-venv}"

command -v python3 >/dev/null 2>&1 || { echo "error: python3 is missing; install Python 3.11 or newer (with its venv module)" >&2; exit 1; }
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" || {
    echo "error: could not create a virtualenv at $venv; install Python's venv module (Debian: apt-get install python3-venv)" >&2
    exit 1
  }
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt" || {
  echo "error: pip could not install the test clients into $venv; they are: $(grep -v '^#' "$here/requirements.txt" | xargs)" >&2
  echo "       check that PyPI is reachable, or install them into that virtualenv by hand" >&2
  exit 1
}

cd "$repo"
status=0
"$venv/bin/python" -m pytest tests/e2e -q -p no:cacheprovider "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "error: pytest collected no tests" >&2
  status=1
fi
exit "$status"
