#!/bin/sh
# Regenerate the typed API client from the server's OpenAPI schema (no server needed):
#   src/api/openapi.json  the schema printed by `python -m grvtmm.api.schema`
#   src/api/schema.d.ts   TypeScript types generated from it by openapi-typescript
# With --check, regenerate into a temporary dir and fail when the committed files are stale.
set -eu
cd "$(dirname "$0")/.."
PY="${PYTHON:-../.venv/bin/python}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT INT TERM
"$PY" -m grvtmm.api.schema "$tmp/openapi.json"
if ! ./node_modules/.bin/openapi-typescript "$tmp/openapi.json" -o "$tmp/schema.d.ts" >"$tmp/log" 2>&1; then
  cat "$tmp/log" >&2
  exit 1
fi
if [ "${1:-}" = "--check" ]; then
  stale=0
  for f in openapi.json schema.d.ts; do
    if ! cmp -s "$tmp/$f" "src/api/$f"; then
      echo "web/src/api/$f is stale: run 'make api-client' and commit the result" >&2
      stale=1
    fi
  done
  exit "$stale"
fi
mkdir -p src/api
cp "$tmp/openapi.json" "$tmp/schema.d.ts" src/api/
echo "api client regenerated: web/src/api/openapi.json, web/src/api/schema.d.ts"
