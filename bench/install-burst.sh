#!/bin/bash
# Bursts against geard, side by side with the systemd floor in the same run:
#   1. 200 exec-runtime containers installed and started by 50 concurrent clients (`PUT /container/{id}?wait=600`),
#      against 200 `systemd-run` starts of units with the same sandboxing, 50 at a time;
#   2. the same 200, all running, replaced with a changed command by 50 clients: systemd holds them loaded, so
#      each replace needs a daemon-reload; with reload coalescing (default) and, as the baseline, one reload per
#      replace (--no-reload-coalescing).
# Reports wall times, systemd's `Reloading` messages and geard's resident memory.
# Runs inside the sandbox: make bench (or bench/run-all.sh inside it).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
COUNT=${COUNT:-200}
CLIENTS=${CLIENTS:-50}
port=43400

# burst NAME BODY: PUT every container NAME-1..COUNT with BODY, CLIENTS at a time; prints time, 200s, reloads.
burst() {
    local name=$1 body=$2
    local since; since=$(date '+%Y-%m-%d %H:%M:%S')
    sleep 1
    local start; start=$(date +%s.%N)
    seq 1 "$COUNT" | xargs -P "$CLIENTS" -I{} curl -s -o /dev/null -w '%{http_code}\n' -X PUT \
        "127.0.0.1:$port/container/$name-{}?wait=600" -d "$body" > "$RESULTS/burst-$name.codes"
    local end; end=$(date +%s.%N)
    local ok; ok=$(grep -c '^200$' "$RESULTS/burst-$name.codes" || true)
    local active; active=$(systemctl list-units --no-legend --state=active "ctr-$name-*" | wc -l)
    BURST_SECONDS=$(echo "$end - $start" | bc)
    printf '%4d PUTs: %3d answered 200, %3d units active, %6.2f s, %3d daemon-reloads\n' \
        "$COUNT" "$ok" "$active" "$BURST_SECONDS" "$(reloads_since "$since")"
}

machine
state=/var/lib/gear-bench-burst
start_geard $port $state
rss_idle=$(rss_kib $GEARD_PID)
echo "== 1. $COUNT new exec containers installed and started, $CLIENTS clients"
printf '%-28s' "geard:"
burst new '{"Runtime":"exec","Cmd":["/bin/sleep","100000"],"Started":true}'
geard_seconds=$BURST_SECONDS
# The floor: systemd-run of units with the sandboxing of geard's exec units (read from one it rendered).
mapfile -t properties < <(sed -n '/^\[Service\]/,/^\[/p' $state/units/ctr-new-1.service |
    grep -E '^[A-Z][A-Za-z]+=' | grep -vE '^(ExecStart|ExecStartPre|Type|User|EnvironmentFile)=')
args=()
for p in "${properties[@]}"; do args+=(-p "$p"); done
start=$(date +%s.%N)
seq 1 "$COUNT" | xargs -P "$CLIENTS" -I{} systemd-run -q --unit floor-{}.service -p Type=exec "${args[@]}" /bin/sleep 100000
end=$(date +%s.%N)
floor_seconds=$(echo "$end - $start" | bc)
printf '%-28s%4d starts: %3d units active, %6.2f s\n' "systemd-run (same sandbox):" "$COUNT" \
    "$(systemctl list-units --no-legend --state=active 'floor-*' | wc -l)" "$floor_seconds"
echo "   geard / systemd-run: $(echo "scale=2; $geard_seconds / $floor_seconds" | bc)x"
systemctl stop 'floor-*' || true

echo "== 2. the $COUNT running containers replaced (a changed command), $CLIENTS clients"
printf '%-28s' "coalesced reloads:"
burst new '{"Runtime":"exec","Cmd":["/bin/sleep","200000"],"Started":true}'
echo "geard RSS: $rss_idle KiB idle, $(rss_kib $GEARD_PID) KiB after"
stop_geard
start_geard $port $state --no-reload-coalescing
printf '%-28s' "one reload per replace:"
burst new '{"Runtime":"exec","Cmd":["/bin/sleep","300000"],"Started":true}'
delete_containers $port new "$COUNT"
stop_geard
