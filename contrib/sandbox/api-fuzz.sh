#!/bin/bash
# Runs schemathesis against a live geard in the sandbox with the OpenAPI document: every generated request must
# get a documented status, a documented content type and a body that matches its schema, and never a 5xx.
# Called by contrib/sandbox/integration-tests.sh; `make api-fuzz-deps` (outside the sandbox, which has no
# network) installs schemathesis from PyPI into a virtualenv under .build/.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=.build/schemathesis-venv
[ -x "$venv/bin/schemathesis" ] || { echo "schemathesis is missing: run make api-fuzz-deps" >&2; exit 1; }
port=43470
state=/var/lib/gear-api-fuzz
.build/debug/geard --listen "127.0.0.1:$port" --socket none --state-dir "$state" > /tmp/geard-api-fuzz.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do curl -s -o /dev/null "127.0.0.1:$port/healthz" && break; sleep 0.05; done
"$venv/bin/schemathesis" run docs/openapi.json --url "http://127.0.0.1:$port" --workers 2 --max-examples "${API_FUZZ_EXAMPLES:-30}" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance --no-color
