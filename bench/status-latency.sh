#!/bin/bash
# Status and list calls under load: 100 installed containers (exec runtime, running), wrk with 64 connections for
# 15 s against GET /container/{id}/status (ids spread over all 100) and GET /containers. Reports requests/s,
# latency p50/p99/max and geard's resident memory. Runs inside the sandbox (make bench).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
COUNT=${COUNT:-100}
DURATION=${DURATION:-15s}
port=43401
start_geard $port /var/lib/gear-bench-status
rss_idle=$(rss_kib $GEARD_PID)
install_containers $port st "$COUNT" '{"Runtime":"exec","Cmd":["/bin/sleep","100000"],"Started":true}'
echo "$(systemctl list-units --no-legend --state=active 'ctr-st-*' | wc -l) containers running"
cat > "$RESULTS/status.lua" <<LUA
local count = $COUNT
local i = 0
request = function()
  i = (i % count) + 1
  return wrk.format("GET", "/container/st-" .. i .. "/status")
end
LUA
machine
echo "== GET /container/{id}/status, 64 connections, $DURATION"
wrk -t2 -c64 -d"$DURATION" --latency -s "$RESULTS/status.lua" "http://127.0.0.1:$port" | tee "$RESULTS/status.txt" \
    | grep -E 'Requests/sec|Latency  |50%|99%|Non-2xx|Socket errors'
echo "== GET /containers ($COUNT containers), 64 connections, $DURATION"
wrk -t2 -c64 -d"$DURATION" --latency "http://127.0.0.1:$port/containers" | tee "$RESULTS/list.txt" \
    | grep -E 'Requests/sec|Latency  |50%|99%|Non-2xx|Socket errors'
# The same at a fixed offered rate (each connection waits between requests), so that the latency is geard's and
# not the queueing of a saturated 2-core machine where wrk competes with geard for the CPU.
for spec in "status:${STATUS_RATE:-5000}" "list:${LIST_RATE:-1000}"; do
    kind=${spec%%:*} rate=${spec#*:}
    delay_ms=$(echo "scale=3; 64 * 1000 / $rate" | bc)
    if [ "$kind" = status ]; then path_lua='"/container/st-" .. i .. "/status"'; else path_lua='"/containers"'; fi
    cat > "$RESULTS/$kind-rate.lua" <<LUA
local count = $COUNT
local i = 0
request = function()
  i = (i % count) + 1
  return wrk.format("GET", $path_lua)
end
delay = function() return $delay_ms end
LUA
    echo "== $kind at a fixed $rate requests/s (64 connections, $delay_ms ms between requests on each), $DURATION"
    wrk -t2 -c64 -d"$DURATION" --latency -s "$RESULTS/$kind-rate.lua" "http://127.0.0.1:$port" \
        | tee "$RESULTS/$kind-rate.txt" | grep -E 'Requests/sec|Latency  |50%|99%|Non-2xx|Socket errors'
done
echo "geard RSS: $rss_idle KiB idle, $(rss_kib $GEARD_PID) KiB after $COUNT installs and the load"
delete_containers $port st "$COUNT"
stop_geard
