#!/usr/bin/env bash
# Rebuilds the vendored GraphiQL assets the portal serves from the binary
# (no CDN, no Node.js at `cargo build` time): GraphiQL's browser bundle and
# React's, from npm, minified with esbuild, the CSS without its embedded web
# fonts (the page falls back to system fonts), each gzipped. Run by hand after
# changing a version below, then commit the .gz files.
#
#   runtime/src/server/portal/assets/build.sh
set -euo pipefail

graphiql=3.8.3
react=18.3.1
esbuild=0.24.2

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm init -y >/dev/null
npm install --silent --no-audit --no-fund "esbuild@$esbuild"
for package in "graphiql@$graphiql" "react@$react" "react-dom@$react"; do
  npm pack --silent "$package" >/dev/null
done
for tarball in *.tgz; do
  mkdir "${tarball%.tgz}"
  tar xzf "$tarball" -C "${tarball%.tgz}" --strip-components 1
done
minify() { ./node_modules/.bin/esbuild "$1" --minify --legal-comments=none --log-level=error --outfile="$2"; }
minify "graphiql-$graphiql/graphiql.min.js" graphiql.js
# The fonts are most of the stylesheet's bytes.
python3 - "graphiql-$graphiql/graphiql.min.css" fonts-removed.css <<'PY'
import re, sys
css = open(sys.argv[1]).read()
open(sys.argv[2], "w").write(re.sub(r"@font-face\s*\{[^}]*\}", "", css))
PY
./node_modules/.bin/esbuild fonts-removed.css --minify --log-level=error --outfile=graphiql.css
cp "react-$react/umd/react.production.min.js" react.js
cp "react-dom-$react/umd/react-dom.production.min.js" react-dom.js
for file in graphiql.js graphiql.css react.js react-dom.js; do
  # -n: no name or time in the header, so a rebuild gives the same bytes.
  gzip -9 -n -c "$file" >"$here/$file.gz"
done
# The packages' MIT licenses travel with their code.
for package in "graphiql-$graphiql" "react-$react" "react-dom-$react"; do
  printf '%s\n\n' "== $package" && cat "$package/LICENSE" && printf '\n'
done >"$here/LICENSES"
printf 'graphiql %s, react %s, react-dom %s (esbuild %s)\n' "$graphiql" "$react" "$react" "$esbuild" >"$here/VERSIONS"
ls -l "$here"/*.gz
