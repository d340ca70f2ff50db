#!/bin/bash
# The HTTP/1 pipeline of two geard binaries, alternating, twice: a new connection per request and keep-alive.
# Usage (in the sandbox): OLD=path/to/geard NEW=.build/release/geard bench/http1-upgrade-compare.sh
set -u
NEW=${NEW:-.build/release/geard}
OLD=${OLD:?OLD names the geard binary to compare against}
run() { # LABEL BIN PORT
    $2 --listen 127.0.0.1:$3 --socket none --state-dir /var/lib/gear-pb-$3 --log-level error > /dev/null 2>&1 &
    local pid=$!
    for i in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:$3/healthz && break; sleep 0.1; done
    curl -s -X PUT "http://127.0.0.1:$3/container/pb?wait=30" -d '{"Runtime":"exec","Cmd":["/bin/sleep","100000"],"Started":true}' > /dev/null
    local close=$(wrk -t2 -c16 -d8s -H 'Connection: close' http://127.0.0.1:$3/container/pb/status | awk '/Requests\/sec/ {print $2}')
    local keep=$(wrk -t2 -c64 -d8s http://127.0.0.1:$3/container/pb/status | awk '/Requests\/sec/ {print $2}')
    echo "$1: new connection per request $close req/s, keep-alive $keep req/s"
    curl -s -X DELETE "http://127.0.0.1:$3/container/pb?wait=30" > /dev/null
    kill $pid; wait $pid 2>/dev/null
}
for round in 1 2; do
    run before $OLD 31801
    run after $NEW 31802
done
