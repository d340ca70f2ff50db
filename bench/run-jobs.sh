#!/bin/bash
# Run jobs (issue 21): what running a program or image once costs through geard (`POST /jobs?wait=`, one client,
# one run at a time, and a burst of 50 at once), side by side in the same run with what a user scripts instead:
# `systemd-run --wait` of the same sandbox settings (the floor: the same transient unit without geard), and
# `podman run --rm` for an image. Runs inside the sandbox (contrib/sandbox/gear-sandbox run --net --bind "$PWD" --
# bench/run-jobs.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
RUNS=${RUNS:-30}
BURST=${BURST:-50}
port=43425
contrib/sandbox/prepare-image.sh
start_geard $port /var/lib/gear-bench-runs
machine

now_ms() { date +%s%3N; }
# timed LABEL COMMAND...: runs COMMAND RUNS times one after the other; prints the mean and the fastest.
timed() {
    local label=$1; shift
    local total=0 best=999999 t0 t1
    for _ in $(seq 1 "$RUNS"); do
        t0=$(now_ms); "$@" > /dev/null; t1=$(now_ms)
        total=$((total + t1 - t0)); [ $((t1 - t0)) -lt "$best" ] && best=$((t1 - t0))
    done
    echo "$label: mean $((total / RUNS)) ms, fastest $best ms ($RUNS runs, one at a time)"
}
gear_run() { # BODY: a run job, waited for; fails unless it succeeded
    curl -s -f -o /dev/null -X POST "127.0.0.1:$port/jobs?wait=60" -d "$1"
}
# The exec runtime's sandbox, as geard sets it on a run's transient unit.
sandbox=(-p DynamicUser=yes -p NoNewPrivileges=yes -p PrivateTmp=yes -p PrivateDevices=yes -p ProtectSystem=strict
    -p ProtectHome=yes -p ProtectKernelTunables=yes -p ProtectKernelModules=yes -p ProtectKernelLogs=yes
    -p ProtectControlGroups=yes -p RestrictSUIDSGID=yes -p RestrictRealtime=yes -p LockPersonality=yes
    -p CapabilityBoundingSet= -p ProtectClock=yes -p ProtectHostname=yes -p SystemCallArchitectures=native
    -p MemoryDenyWriteExecute=yes -p SystemCallFilter=@system-service -p PrivateUsers=yes -p ProtectProc=invisible
    -p RestrictNamespaces=yes -p Slice=gear.slice)

echo "== one at a time"
timed "systemd-run --wait (same sandbox) /bin/true" systemd-run --quiet --wait "${sandbox[@]}" /bin/true
timed "geard POST /jobs?wait exec /bin/true" gear_run '{"Runtime":"exec","Cmd":["/bin/true"]}'
timed "podman run --rm localhost/busybox true" podman run --rm localhost/busybox true
timed "geard POST /jobs?wait image localhost/busybox true" gear_run '{"Image":"localhost/busybox","Cmd":["true"]}'

echo "== $BURST at once (wall time until all ended)"
t0=$(now_ms)
seq 1 "$BURST" | xargs -P "$BURST" -I{} systemd-run --quiet --wait "${sandbox[@]}" /bin/true
echo "systemd-run --wait x$BURST: $(($(now_ms) - t0)) ms"
t0=$(now_ms)
seq 1 "$BURST" | xargs -P "$BURST" -I{} curl -s -f -o /dev/null -X POST "127.0.0.1:$port/jobs?wait=120" -d '{"Runtime":"exec","Cmd":["/bin/true"]}'
echo "geard POST /jobs?wait exec x$BURST: $(($(now_ms) - t0)) ms"
echo "geard RSS after: $(rss_kib "$GEARD_PID") KiB"
stop_geard
