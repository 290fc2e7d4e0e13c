#!/usr/bin/env bash
# End-to-end tests with real TypeScript clients: @connectrpc/connect-node (Connect, gRPC-Web,
# gRPC) and @trpc/client with the generated AppRouter types, against the example servers; and a
# page in headless Chromium (driven by playwright-core) using EventSource and the generated
# WebSocket client; and the generated zod validators (ts/validate.ts) against protovalidate's
# recorded cases (runtime/tests/validate_cases/) and the bookstore server.
#
#   cargo build --workspace --bins      # first: this script builds no Rust
#   bash tests/node/run.sh [NODE --test ARGS...]   # e.g. --test-name-pattern=gzip
#
# Needs Node.js 20+ with npm; installs the pinned clients with `npm ci` into tests/node/node_modules
# (the npm registry must be reachable the first time). Finds the servers and `apigen` in
# $APIGEN_BIN_DIR, else ${CARGO_TARGET_DIR:-~/.cache/apigen-target}/debug. Type-checks everything
# with `tsc` (the compile is the type test: see src/typecheck.ts), then runs the compiled tests.
# The browser test needs Debian's chromium at /usr/bin/chromium, or another one at $CHROMIUM
# (playwright-core downloads no browser).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
bin="${APIGEN_BIN_DIR:-${CARGO_TARGET_DIR:-$HOME/.cache/apigen-target}/debug}"

fail() {
  echo "error: $*" >&2
  exit 1
}

command -v node >/dev/null 2>&1 || fail "node is missing; install Node.js 20 or newer (with npm), e.g. from https://nodejs.org or Debian's nodejs and npm packages"
command -v npm >/dev/null 2>&1 || fail "npm is missing; install npm (it comes with Node.js from https://nodejs.org; Debian: apt-get install npm)"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || fail "Node.js $(node --version) is too old; install Node.js 20 or newer"

for name in apigen bookstore-example chat-example; do
  [ -x "$bin/$name" ] || fail "$bin/$name is missing: run \`cargo build --workspace --bins\` first (or set APIGEN_BIN_DIR)"
done

chromium="${CHROMIUM:-/usr/bin/chromium}"
[ -x "$chromium" ] || fail "$chromium is missing: install Debian's chromium package (apt-get install chromium), or set CHROMIUM to a Chromium executable"

cd "$here"
npm ci --no-audit --no-fund --loglevel=error || fail "npm ci could not install the test clients listed in tests/node/package.json; check that the npm registry is reachable"

descriptors="$(mktemp -d "${TMPDIR:-/tmp}/apigen-node.XXXXXX")"
trap 'rm -rf "$descriptors"' EXIT
cd "$repo"
for example in bookstore chat; do
  "$bin/apigen" descriptor-set "schemas/examples/$example.proto" -o "$descriptors/$example.binpb" >/dev/null
done
export APIGEN_DESCRIPTOR_DIR="$descriptors" APIGEN_BIN_DIR="$bin"

# The TypeScript of every real-world corpus entry, type-checked on its own.
corpus="${APIGEN_REALWORLD:-$repo/../shared/realworld}"
[ -f "$corpus/README.md" ] || fail "the real-world corpus is not at $corpus; put shared/ beside the repository or set APIGEN_REALWORLD"
rm -rf "$here/realworld"
while read -r name entry roots; do
  case "$name" in ''|'#'*) continue ;; esac
  includes=()
  for root in $roots; do includes+=(-I "$corpus/$root"); done
  "$bin/apigen" generate "$corpus/$entry" "${includes[@]}" --out "$here/realworld/$name" >/dev/null \
    || fail "apigen could not generate $entry"
  find "$here/realworld/$name" -type f ! -path '*/ts/*' -delete
done < "$repo/tests/realworld/entries.txt"
"$here/node_modules/.bin/tsc" -p "$here/tsconfig.realworld.json" || fail "the TypeScript generated for the real-world corpus has type errors (above)"

rm -rf "$here/dist"
"$here/node_modules/.bin/tsc" -p "$here" || fail "tsc found type errors (above); src/typecheck.ts lists what the generated types must reject"
# The browser test's page, the generated WebSocket client and validators, as browser ES modules.
"$here/node_modules/.bin/tsc" -p "$here/tsconfig.browser.json" || fail "tsc found type errors in the browser page, the generated ws.ts or validate.ts (above)"
"$here/node_modules/.bin/tsc" -p "$here/tsconfig.strictest.json" || fail "the generated TypeScript has type errors under the strictest options (above)"

mapfile -t tests < <(find "$here/dist/tests/node/src" -name '*.test.js' | sort)
[ "${#tests[@]}" -gt 0 ] || fail "tsc produced no *.test.js files under $here/dist"
# Each file starts its own servers; every test has its own timeout, and this one stops a hang.
node --test --test-reporter=spec --test-timeout=120000 "$@" "${tests[@]}"
