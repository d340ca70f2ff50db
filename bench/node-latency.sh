#!/bin/bash
# GET /node, /healthz and /metrics under load: 100 installed containers, wrk with 64 connections for 15 s at a fixed
# 1,000 requests/s and at saturation. Runs inside the sandbox (make bench).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
COUNT=${COUNT:-100}
DURATION=${DURATION:-15s}
port=43404
start_geard $port /var/lib/gear-bench-node
install_containers $port nd "$COUNT" '{"Runtime":"exec","Cmd":["/bin/sleep","100000"],"Started":true,"Memory":"16M","CPUs":0.1}'
machine
curl -s "127.0.0.1:$port/node" > /dev/null
for path in /node /healthz /metrics; do
    cat > "$RESULTS/rate.lua" <<LUA
delay = function() return 64 end
LUA
    echo "== GET $path at a fixed 1,000 requests/s (64 connections), $DURATION"
    wrk -t2 -c64 -d"$DURATION" --latency -s "$RESULTS/rate.lua" "http://127.0.0.1:$port$path" | grep -E 'Requests/sec|50%|99%|Non-2xx|Socket errors'
    echo "== GET $path at saturation (64 connections), $DURATION"
    wrk -t2 -c64 -d"$DURATION" --latency "http://127.0.0.1:$port$path" | grep -E 'Requests/sec|50%|99%|Non-2xx|Socket errors'
done
delete_containers $port nd "$COUNT"
stop_geard
