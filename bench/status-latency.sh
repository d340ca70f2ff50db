#!/bin/bash
# Status and list calls under load: 100 installed containers (exec runtime, running), wrk with 64 connections for
# 15 s against GET /container/{id}/status (ids spread over all 100) and GET /containers, as fast as wrk goes and
# at a fixed offered rate. The same wrk runs against nginx serving geard's own answers as static files give the
# floor of this machine (wrk, the kernel and the 2 cores are shared). Reports requests/s, latency p50/p99 and
# geard's resident memory. Runs inside the sandbox (make bench).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
COUNT=${COUNT:-100}
DURATION=${DURATION:-15s}
port=43401
nginx_port=43402
start_geard $port /var/lib/gear-bench-status
rss_idle=$(rss_kib $GEARD_PID)
install_containers $port st "$COUNT" '{"Runtime":"exec","Cmd":["/bin/sleep","100000"],"Started":true}'
echo "$(systemctl list-units --no-legend --state=active 'ctr-st-*' | wc -l) containers running"

# nginx (2 workers, like geard's 2 event loops) serving the same bytes geard answers.
www=$RESULTS/www
rm -rf "$www" && mkdir -p "$www/container"
curl -s "127.0.0.1:$port/containers" > "$www/containers"
for i in $(seq 1 "$COUNT"); do
    mkdir -p "$www/container/st-$i" && curl -s "127.0.0.1:$port/container/st-$i/status" > "$www/container/st-$i/status"
done
serve_static $nginx_port "$www"
trap 'kill $NGINX_PID 2>/dev/null || true' EXIT

machine
# run NAME PORT PATH_LUA [RATE]: wrk for $DURATION; with RATE, each connection waits between requests so that the
# offered rate is RATE (the latency is then the server's, not the queueing of a saturated machine).
run() {
    local name=$1 target=$2 path_lua=$3 rate=${4:-}
    local delay="" label="as fast as wrk goes"
    if [ -n "$rate" ]; then
        delay="delay = function() return $(echo "scale=3; 64 * 1000 / $rate" | bc) end"
        label="at a fixed $rate requests/s"
    fi
    cat > "$RESULTS/$name.lua" <<LUA
local count = $COUNT
local i = 0
request = function()
  i = (i % count) + 1
  return wrk.format("GET", $path_lua)
end
$delay
LUA
    echo "== $name: $label, 64 connections, $DURATION"
    wrk -t2 -c64 -d"$DURATION" --latency -s "$RESULTS/$name.lua" "http://127.0.0.1:$target" | tee "$RESULTS/$name.txt" \
        | grep -E 'Requests/sec|Latency  |50%|99%|Non-2xx|Socket errors'
}
status='"/container/st-" .. i .. "/status"'
list='"/containers"'
run status $port "$status"
run list $port "$list"
run status-rate $port "$status" "${STATUS_RATE:-5000}"
run list-rate $port "$list" "${LIST_RATE:-1000}"
run nginx-status-rate $nginx_port "$status" "${STATUS_RATE:-5000}"
run nginx-list-rate $nginx_port "$list" "${LIST_RATE:-1000}"
echo "geard RSS: $rss_idle KiB idle, $(rss_kib $GEARD_PID) KiB after $COUNT installs and the load"
delete_containers $port st "$COUNT"
stop_geard
