#!/usr/bin/env bash
# Fails when the committed API contract is stale: frontend/openapi.json against the document the
# backend generates now, then src/api/schema.d.ts against openapi.json. Fix with `make api-types`.
# Usage: frontend/scripts/check-api-types.sh [python]   (default: the repository's .venv)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
python="${1:-$root/.venv/bin/python}"
fresh="$(mktemp)"
trap 'rm -f "$fresh"' EXIT

"$python" "$root/frontend/scripts/dump_openapi.py" >"$fresh"
if ! diff -q "$root/frontend/openapi.json" "$fresh" >/dev/null; then
  echo "frontend/openapi.json differs from the backend's document; run \`make api-types\` and commit both files:" >&2
  diff -u --label committed --label backend "$root/frontend/openapi.json" "$fresh" | head -n 40 >&2 || true
  exit 1
fi
cd "$root/frontend"
node scripts/api-types.mjs --check
