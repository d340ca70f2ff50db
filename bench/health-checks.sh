#!/bin/bash
# Health checks (issue 21): what checks cost, side by side with podman's own health checks, in one run.
#
# 1. 200 exec containers each serving HTTP (busybox httpd on 127.0.0.1:21001-21200): geard's CPU with no check, then
#    with an HTTP check every second on each, then a TCP check every second: geard's share of one core and the
#    machine's CPU per check (the containers answering included).
# 2. 20 podman containers with a command check (`true`) every second: podman's own (`podman run --health-cmd
#    --health-interval 1s`, a systemd timer running `podman healthcheck run` per check) against geard's HealthCmd
#    (a `podman exec` per check): the machine's CPU per check.
# Runs inside the sandbox (make bench, or contrib/sandbox/gear-sandbox run --net --bind "$PWD" -- bench/health-checks.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
CONTAINERS=${CONTAINERS:-200}
PODMAN_CONTAINERS=${PODMAN_CONTAINERS:-20}
SECONDS_PER_PHASE=${SECONDS_PER_PHASE:-60}
port=43422
contrib/sandbox/prepare-image.sh
start_geard $port /var/lib/gear-bench-health
machine
ticks=$(getconf CLK_TCK)

busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
geard_ticks() { awk '{print $14 + $15}' /proc/$GEARD_PID/stat; }
checks_done() { curl -s "127.0.0.1:$port/metrics" | awk '/^gear_health_checks_total/ {n += $2} END {print n + 0}'; }

# measure LABEL: geard's and the machine's CPU over SECONDS_PER_PHASE, and the checks geard ran meanwhile.
measure() {
    local g0 b0 c0 g1 b1 c1
    g0=$(geard_ticks) b0=$(busy_ticks) c0=$(checks_done)
    sleep "$SECONDS_PER_PHASE"
    g1=$(geard_ticks) b1=$(busy_ticks) c1=$(checks_done)
    local checks=$((c1 - c0))
    echo "$1: geard $(echo "scale=2; 100 * ($g1 - $g0) / $ticks / $SECONDS_PER_PHASE" | bc)% of one core," \
        "machine $(echo "scale=2; 100 * ($b1 - $b0) / $ticks / $SECONDS_PER_PHASE" | bc)% of one core," \
        "$checks checks ($(echo "scale=1; $checks / $SECONDS_PER_PHASE" | bc)/s)" \
        "$([ $checks -gt 0 ] && echo ", geard $(echo "scale=1; 1000000 * ($g1 - $g0) / $ticks / $checks" | bc) µs CPU per check")"
    LAST_BUSY=$((b1 - b0)) LAST_CHECKS=$checks
}

install_all() { # BODY-SUFFIX: installs (or replaces) hc-1..N serving on 21000+i
    seq 1 "$CONTAINERS" | xargs -P 20 -I{} sh -c "curl -s -o /dev/null -X PUT '127.0.0.1:$port/container/hc-{}?wait=600' \
        -d '{\"Runtime\":\"exec\",\"Cmd\":[\"/bin/busybox\",\"httpd\",\"-f\",\"-p\",\"127.0.0.1:'\$((21000 + {}))'\",\"-h\",\"/usr/share/doc/busybox-static\"],\"Started\":true$1}'"
}
healthy_count() { curl -s "127.0.0.1:$port/node" | sed -n 's/.*"healthy":\([0-9]*\).*/\1/p'; }
wait_healthy() {
    for _ in $(seq 1 120); do [ "$(healthy_count)" = "$1" ] && return 0; sleep 1; done
    echo "only $(healthy_count) of $1 became healthy" >&2; return 1
}

echo "== $CONTAINERS exec containers serving HTTP, checks every second, ${SECONDS_PER_PHASE} s per figure"
install_all ''
sleep 5
measure "no check"
idle_busy=$LAST_BUSY
install_all ',"HealthHTTP":{"Port":'"'\$((21000 + {}))'"',"Path":"/copyright"},"HealthInterval":"1s"'
wait_healthy "$CONTAINERS"
measure "HealthHTTP every 1 s"
echo "   machine CPU per check beyond no check: $(echo "scale=1; 1000000 * ($LAST_BUSY - $idle_busy) / $ticks / $LAST_CHECKS" | bc) µs"
install_all ',"HealthTCP":'"'\$((21000 + {}))'"',"HealthInterval":"1s"'
wait_healthy "$CONTAINERS"
measure "HealthTCP every 1 s"
echo "   machine CPU per check beyond no check: $(echo "scale=1; 1000000 * ($LAST_BUSY - $idle_busy) / $ticks / $LAST_CHECKS" | bc) µs"
delete_containers $port hc "$CONTAINERS"

echo "== $PODMAN_CONTAINERS podman containers, a command check (true) every second"
seq 1 "$PODMAN_CONTAINERS" | xargs -P 4 -I{} podman run -d --name pod-hc-{} localhost/busybox sleep 100000 > /dev/null
sleep 5
b0=$(busy_ticks); sleep "$SECONDS_PER_PHASE"; b1=$(busy_ticks)
podman_idle=$((b1 - b0))
echo "no check: machine $(echo "scale=2; 100 * $podman_idle / $ticks / $SECONDS_PER_PHASE" | bc)% of one core"
seq 1 "$PODMAN_CONTAINERS" | xargs -P 4 -I{} podman rm -f -t 0 pod-hc-{} > /dev/null
seq 1 "$PODMAN_CONTAINERS" | xargs -P 4 -I{} podman run -d --name pod-hc-{} --health-cmd true --health-interval 1s --health-retries 3 \
    localhost/busybox sleep 100000 > /dev/null
sleep 5
runs() { journalctl -q --no-pager -o cat --since "@$1" | grep -c 'healthcheck run' || true; }
start=$(date +%s)
b0=$(busy_ticks); sleep "$SECONDS_PER_PHASE"; b1=$(busy_ticks)
status=$(for k in $(seq 1 "$PODMAN_CONTAINERS"); do podman inspect --format '{{.State.Health.Status}}' pod-hc-$k; done | sort | uniq -c | xargs)
count=$(runs "$start")
echo "podman --health-cmd true --health-interval 1s: machine $(echo "scale=2; 100 * ($b1 - $b0) / $ticks / $SECONDS_PER_PHASE" | bc)% of one core," \
    "$count checks ($(echo "scale=1; $count / $SECONDS_PER_PHASE" | bc)/s, counted in the journal; health: $status)" \
    "$([ "$count" -gt 0 ] && echo ", machine CPU per check beyond no check: $(echo "scale=1; 1000000 * ($b1 - $b0 - $podman_idle) / $ticks / $count" | bc) µs")"
seq 1 "$PODMAN_CONTAINERS" | xargs -P 4 -I{} podman rm -f -t 0 pod-hc-{} > /dev/null

seq 1 "$PODMAN_CONTAINERS" | xargs -P 20 -I{} curl -s -o /dev/null -X PUT "127.0.0.1:$port/container/gpod-{}?wait=600" \
    -d '{"Image":"localhost/busybox","Cmd":["sleep","100000"],"Started":true,"HealthCmd":["true"],"HealthInterval":"1s"}'
CONTAINERS=$PODMAN_CONTAINERS wait_healthy "$PODMAN_CONTAINERS"
measure "geard HealthCmd true every 1 s on podman containers (podman exec)"
echo "   machine CPU per check beyond no check: $(echo "scale=1; 1000000 * ($LAST_BUSY - $podman_idle) / $ticks / $LAST_CHECKS" | bc) µs"
delete_containers $port gpod "$PODMAN_CONTAINERS"
stop_geard
