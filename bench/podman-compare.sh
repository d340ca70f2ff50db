#!/bin/bash
# geard side by side with the peers a user would pick instead, in one sandbox and one run:
#   - podman's own REST service (`podman system service`) for list and status of installed-but-stopped and of
#     running containers (wrk, 64 connections and 1 connection, and a fixed rate), and for the sequential
#     lifecycle (create, start, stop, delete; one call at a time, each waiting for its result);
#   - the podman CLI (`podman run -d`, `podman stop`, `podman rm`) and the systemd floor (`systemd-run` +
#     `systemctl stop` of a unit with the same sandboxing as geard's exec units) for the lifecycle.
# Prints each figure and the ratios. Runs inside the sandbox (make bench, or gear-sandbox run ... bench/podman-compare.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
COUNT=${COUNT:-100}
RUNNING=${RUNNING:-20}
DURATION=${DURATION:-10s}
CYCLES=${CYCLES:-30}
port=43410
podman_port=43411
contrib/sandbox/prepare-image.sh

start_geard $port /var/lib/gear-bench-compare
podman system service --time=0 "tcp://127.0.0.1:$podman_port" > "$RESULTS/podman-service.log" 2>&1 &
PODMAN_PID=$!
NGINX_PID=""
trap 'kill $PODMAN_PID $NGINX_PID 2>/dev/null || true; stop_geard' EXIT
for _ in $(seq 1 100); do curl -sf -o /dev/null "127.0.0.1:$podman_port/v4.0.0/libpod/_ping" && break; sleep 0.1; done
api=/v4.0.0/libpod

machine
podman version --format 'podman {{.Server.Version}}'

# wrkrun NAME TARGET PATH CONNECTIONS [RATE]: prints requests/s and latency percentiles; RATE fixes the offered rate.
wrkrun() {
    local name=$1 target=$2 path=$3 connections=$4 rate=${5:-}
    local delay="" threads=2
    [ "$connections" -eq 1 ] && threads=1
    [ -n "$rate" ] && delay="delay = function() return $(echo "scale=3; $connections * 1000 / $rate" | bc) end"
    cat > "$RESULTS/$name.lua" <<LUA
request = function() return wrk.format("GET", "$path") end
$delay
LUA
    wrk -t$threads -c"$connections" -d"$DURATION" --timeout 30s --latency -s "$RESULTS/$name.lua" "http://127.0.0.1:$target" \
        > "$RESULTS/$name.txt"
    local rps p50 p99 errors
    rps=$(awk '/Requests\/sec/ {print $2}' "$RESULTS/$name.txt")
    p50=$(awk '$1 == "50%" {print $2}' "$RESULTS/$name.txt")
    p99=$(awk '$1 == "99%" {print $2}' "$RESULTS/$name.txt")
    errors=$(grep -E 'Non-2xx|Socket errors' "$RESULTS/$name.txt" | tr -s ' ' | tr '\n' ' ' || true)
    printf '  %-34s %10s req/s  p50 %9s  p99 %9s  %s\n' "$name" "$rps" "${p50:--}" "${p99:--}" "$errors"
    echo "$rps" > "$RESULTS/$name.rps"
}
# wait_idle PID: until the process used no CPU for a whole second (at most 60 s).
wait_idle() {
    local before after
    for _ in $(seq 1 60); do
        before=$(awk '{print $14 + $15}' "/proc/$1/stat"); sleep 1; after=$(awk '{print $14 + $15}' "/proc/$1/stat")
        [ "$before" = "$after" ] && return 0
    done
}
ratio() { echo "scale=1; $(cat "$RESULTS/$1.rps") / $(cat "$RESULTS/$2.rps")" | bc; }

# reads SIDE PHASE: list, status of a stopped container (and of a running one) against one side.
reads() {
    local side=$1 phase=$2 target path_list path_status
    if [ "$side" = podman ]; then
        target=$podman_port path_list="$api/containers/json?all=true" path_status="$api/containers/cmp-COUNT/json"
    else
        target=$port path_list="/containers" path_status="/container/cmp-COUNT/status"
    fi
    wrkrun "$side-$phase-list-64" $target "$path_list" 64
    wrkrun "$side-$phase-list-1" $target "$path_list" 1
    [ "$side" = geard ] && wrkrun "$side-$phase-list-rate1000" $target "$path_list" 64 1000
    if [ "$side" = geard ]; then
        # The floor: nginx serving geard's own answers as static files, at the same rate.
        local www=$RESULTS/www-compare-$phase
        rm -rf "$www" && mkdir -p "$www/container/cmp-1" "$www/container/cmp-$COUNT"
        curl -s "127.0.0.1:$port/containers" > "$www/containers"
        curl -s "127.0.0.1:$port/container/cmp-$COUNT/status" > "$www/container/cmp-$COUNT/status"
        curl -s "127.0.0.1:$port/container/cmp-1/status" > "$www/container/cmp-1/status"
        kill $NGINX_PID 2>/dev/null || true
        serve_static 43412 "$www"
        wrkrun "nginx-$phase-list-rate1000" 43412 "/containers" 64 1000
        wrkrun "nginx-$phase-status-rate1000" 43412 "/container/cmp-$COUNT/status" 64 1000
    fi
    wrkrun "$side-$phase-status-stopped-64" $target "${path_status/COUNT/$COUNT}" 64
    [ "$side" = geard ] && wrkrun "$side-$phase-status-stopped-rate1000" $target "${path_status/COUNT/$COUNT}" 64 1000
    if [ "$phase" = running ]; then
        wrkrun "$side-$phase-status-running-64" $target "${path_status/COUNT/1}" 64
        [ "$side" = geard ] && wrkrun "$side-$phase-status-running-rate1000" $target "${path_status/COUNT/1}" 64 1000
    fi
    return 0
}
ratios() {
    local phase=$1
    echo "  ratios geard/podman ($phase): list 64 conn $(ratio "geard-$phase-list-64" "podman-$phase-list-64")x," \
        "list 1 conn $(ratio "geard-$phase-list-1" "podman-$phase-list-1")x," \
        "status stopped $(ratio "geard-$phase-status-stopped-64" "podman-$phase-status-stopped-64")x" \
        "$([ "$phase" = running ] && echo ", status running $(ratio geard-running-status-running-64 podman-running-status-running-64)x")"
}

# LIFECYCLE_ONLY=1 skips list and status.
if [ "${LIFECYCLE_ONLY:-0}" != 1 ]; then
# $COUNT containers each: created in podman, installed (not started) in geard. geard's podman containers exist in
# podman only while they run, so podman's list holds only its own until geard starts some.
seq 1 "$COUNT" | xargs -P 8 -I{} curl -sf -o /dev/null -H 'Content-Type: application/json' \
    "127.0.0.1:$podman_port$api/containers/create" -d '{"image":"localhost/busybox","command":["sleep","100000"],"init":true,"name":"cmp-{}"}'
install_containers $port cmp "$COUNT" '{"Image":"localhost/busybox","Cmd":["sleep","100000"]}'
echo "installed: podman $(podman ps -aq --filter name=cmp- | wc -l) created, geard $(curl -s 127.0.0.1:$port/containers | grep -o '"id"' | wc -l)"
echo "== none running: list of $COUNT, status of a stopped container"
reads geard stopped
reads podman stopped
ratios stopped

echo "== $RUNNING of $COUNT running (podman measured before geard starts any of its own)"
seq 1 "$RUNNING" | xargs -P 4 -I{} curl -sf -o /dev/null -X POST "127.0.0.1:$podman_port$api/containers/cmp-{}/start"
echo "  podman: $(podman ps -q | wc -l) running"
reads podman running
# podman's service goes on computing the lists wrk gave up on: geard is measured once it is idle again.
wait_idle $PODMAN_PID
seq 1 "$RUNNING" | xargs -P 4 -I{} curl -sf -o /dev/null -X PUT "127.0.0.1:$port/container/cmp-{}/started?wait=120"
echo "  geard: $(systemctl list-units --no-legend --state=active 'ctr-cmp-*' | wc -l) running"
reads geard running
ratios running

seq 1 "$COUNT" | xargs -P 8 -I{} curl -s -o /dev/null -X DELETE "127.0.0.1:$podman_port$api/containers/cmp-{}?force=true"
delete_containers $port cmp "$COUNT"
fi

echo "== sequential lifecycle, $CYCLES containers, one call at a time (median / p90 ms per step)"
# The exec units' sandboxing, read from a unit geard rendered, for the systemd-run floor.
curl -s -o /dev/null -X PUT "127.0.0.1:$port/container/floorref?wait=60" -d '{"Runtime":"exec","Cmd":["/bin/true"]}'
mapfile -t properties < <(sed -n '/^\[Service\]/,/^\[/p' /var/lib/gear-bench-compare/units/ctr-floorref.service |
    grep -E '^[A-Z][A-Za-z]+=' | grep -vE '^(ExecStart|ExecStartPre|Type|User|EnvironmentFile|Slice)=')
curl -s -o /dev/null -X DELETE "127.0.0.1:$port/container/floorref?wait=60"
lifecycle() {  # lifecycle NAME ROUND ARGS...
    local name=$1 round=$2; shift 2
    printf '  %-22s ' "$name"
    python3 bench/lifecycle.py "$@" > "$RESULTS/lifecycle-$name-$round.txt"
    head -1 "$RESULTS/lifecycle-$name-$round.txt"
}
total() { awk '/TOTAL_MEDIAN/ {print $2}' "$RESULTS/lifecycle-$1-$2.txt"; }
# ROUNDS rounds, each running every side once in turn, so that a machine that gets busier or quieter during the run
# weighs on every side alike; the ratios are per round.
ROUNDS=${ROUNDS:-2}
for round in $(seq 1 "$ROUNDS"); do
    echo "  round $round"
    lifecycle podman-rest "$round" podman-rest "127.0.0.1:$podman_port" "$CYCLES" "lcr$round-"
    lifecycle podman-cli "$round" podman-cli "$CYCLES" "lcc$round-"
    lifecycle geard-podman "$round" geard "127.0.0.1:$port" podman "$CYCLES" "lcp$round-"
    lifecycle systemd-run "$round" systemd-run "$CYCLES" "lcs$round-" "${properties[@]}" Slice=gear.slice
    lifecycle geard-exec "$round" geard "127.0.0.1:$port" exec "$CYCLES" "lce$round-"
    echo "  ratios: geard podman / podman REST $(echo "scale=2; $(total geard-podman "$round") / $(total podman-rest "$round")" | bc)x," \
        "geard podman / podman CLI $(echo "scale=2; $(total geard-podman "$round") / $(total podman-cli "$round")" | bc)x," \
        "geard exec / systemd-run floor $(echo "scale=2; $(total geard-exec "$round") / $(total systemd-run "$round")" | bc)x"
done
echo "geard RSS: $(rss_kib $GEARD_PID) KiB"
