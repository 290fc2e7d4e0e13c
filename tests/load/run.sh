#!/bin/sh
# Builds apigen-load and chat-example (release) and runs apigen-load with the
# open-file limit raised to the hard limit: 2,000 clients need over 2,000
# descriptors here and as many in the server apigen-load starts, which
# inherits the limit. Arguments go to apigen-load, e.g.
#   tests/load/run.sh --report tests/load/REPORT.md
set -eu
cd "$(dirname "$0")/../.."
cargo build --release -p apigen-load -p chat-example
target=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ]; then
    ulimit -n 1048576 2>/dev/null || ulimit -n 65535
else
    ulimit -n "$hard"
fi
exec "$target/release/apigen-load" "$@"
