#!/bin/sh
# Builds the chat example and the streaming benchmark (release) and runs the
# benchmark with the open-file limit raised to the hard limit (1,000
# subscribers need over 1,000 descriptors here and as many in each server,
# which inherits the limit). Usage:
#   bench/stream/run.sh [--quick|--full] [more apigen-bench-stream options, e.g. --json out.json]
# --full (the default) takes about 6 minutes, --quick under 2.
set -eu
cd "$(dirname "$0")/../.."
cargo build --release -p chat-example -p apigen-bench-stream
target=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ]; then
    ulimit -n 1048576 2>/dev/null || ulimit -n 65535
else
    ulimit -n "$hard"
fi
exec "$target/release/apigen-bench-stream" "$@"
