#!/bin/bash
# Validates docs/openapi.json (openapi-spec-validator), then runs schemathesis against a live geard in the sandbox
# with it: every generated request must get a documented status, a documented content type and a body that
# matches its schema, and never a 5xx. Called by contrib/sandbox/integration-tests.sh; `make api-fuzz-deps`
# (outside the sandbox, which has no network) installs both from PyPI into a virtualenv under .build/.
set -euo pipefail
# One worker: schemathesis 4.32 with two threads sometimes fails inside hypothesis (AST recursion depth mismatch).
cd "$(dirname "$0")/../.."
venv=.build/schemathesis-venv
[ -x "$venv/bin/schemathesis" ] || { echo "schemathesis is missing: run make api-fuzz-deps" >&2; exit 1; }
# The fixtures below run the test image (built once per sandbox).
contrib/sandbox/prepare-image.sh
# The document itself first: a valid OpenAPI 3.1 document (openapi-spec-validator).
"$venv/bin/openapi-spec-validator" docs/openapi.json
# A port below the ephemeral range (32768-60999), so that no client connection of the tests before can hold it as
# its source port (one did, once: bind failed with EADDRINUSE), and one nothing listens on.
port=31470
while ss -Htan "( sport = :$port )" | grep -q .; do port=$((port + 1)); done
state=/var/lib/gear-api-fuzz
# A fresh node each run: the fixtures below are made anew (a job id, once used, names that job for good).
rm -rf "$state"
log=.build/geard-api-fuzz.log
.build/debug/geard --listen "127.0.0.1:$port" --socket none --state-dir "$state" > "$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
# geard answers within a second when idle; the machine may still be busy with the tests' clean-up.
for _ in $(seq 1 600); do
    curl -s -o /dev/null "127.0.0.1:$port/healthz" && break
    kill -0 $pid 2>/dev/null || { echo "geard for the API fuzzing exited; its log:" >&2; cat "$log" >&2; exit 1; }
    sleep 0.1
done
curl -s -o /dev/null "127.0.0.1:$port/healthz" || { echo "geard for the API fuzzing does not answer after 60 s; its log:" >&2; cat "$log" >&2; exit 1; }
# What the operations act on, so that each is reached with real data: the examples of docs/openapi.json name these
# (fz runs with a volume and files in it, fz-2 is started and stopped, two environments, two leases, a finished
# run job and a running one); everything else schemathesis makes up.
api() {  # METHOD PATH [BODY [HEADER]]: fails the run unless geard answers 2xx
    local code; code=$(curl -sS -o /tmp/api-fuzz-fixture -w '%{http_code}' -X "$1" "127.0.0.1:$port$2" ${3:+--data-binary "$3"} ${4:+-H "$4"}) || true
    case "$code" in 2[0-9][0-9]) ;; *) echo "fixture $1 $2 answered $code: $(cat /tmp/api-fuzz-fixture)" >&2; exit 1;; esac
}
container='{"Image":"localhost/busybox","Cmd":["sleep","100000"],"Volumes":[{"Name":"data","Path":"/data"}],"Ports":[{"Internal":80}],"Started":true}'
api PUT /environment/fz-env 'A=1'
api PUT /environment/fz-env-spare 'A=1'
api PUT '/container/fz?wait=60' "$container"
api PUT '/container/fz-2?wait=60' "$container"
api PUT /container/fz/files/data/f.txt 'hello'
api PUT /container/fz/files/data/spare.txt 'spare'
api PUT '/container/fz/files/data/www/index.html?parents=1' '<p>fz</p>'
api PUT /lease/fz-lease '{"Holder":"fz","Seconds":3600}'
api PUT /lease/fz-lease-spare '{"Holder":"fz","Seconds":3600}'
api POST '/jobs?wait=30' '{"Runtime":"exec","Cmd":["/bin/echo","hello"]}' 'X-Request-Id: 0000000000000000000000000000f2d0'
api POST '/jobs?wait=0' '{"Runtime":"exec","Cmd":["/bin/sleep","3600"]}' 'X-Request-Id: 0000000000000000000000000000f2a1'
st() {  # one schemathesis run over the operations its arguments select
    "$venv/bin/schemathesis" --config-file contrib/sandbox/schemathesis.toml run docs/openapi.json --url "http://127.0.0.1:$port" --workers 1 \
        --max-examples "${API_FUZZ_EXAMPLES:-30}" --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
        --no-color ${API_FUZZ_ARGS:-} "$@"
}
# DELETE /containers deletes every container, the fixtures with them: it goes last, on its own.
st --exclude-name 'DELETE /containers' && st --include-name 'DELETE /containers' || {
    rc=$?
    kill -0 $pid 2>/dev/null && echo "geard is still running; the end of its log:" >&2 || echo "geard is gone; the end of its log:" >&2
    tail -40 "$log" >&2
    # What the fixtures' units did (a slow stop or start shows here) and the jobs geard still holds.
    echo "the fixtures' units:" >&2
    journalctl --no-pager -n 60 -o short-precise -u ctr-fz.service -u ctr-fz-2.service >&2 || true
    echo "geard's jobs:" >&2
    curl -sS -m 5 "127.0.0.1:$port/jobs" >&2 || true
    exit $rc
}
