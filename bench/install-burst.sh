#!/bin/bash
# 200 exec-runtime containers installed and started by 50 concurrent clients, against geard with reload
# coalescing and, as the baseline, with one daemon-reload per install (--no-reload-coalescing). Reports the wall
# time, how many daemon-reloads systemd did, and geard's resident memory before and after.
# Runs inside the sandbox: make bench (or bench/run-all.sh inside it).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
COUNT=${COUNT:-200}
CLIENTS=${CLIENTS:-50}

run() {  # run NAME [GEARD ARGS...]
    local name=$1; shift
    local port=43400 state=/var/lib/gear-bench-$name
    start_geard $port $state "$@"
    local rss_idle; rss_idle=$(rss_kib $GEARD_PID)
    local since; since=$(date '+%Y-%m-%d %H:%M:%S')
    sleep 1
    local start; start=$(date +%s.%N)
    seq 1 "$COUNT" | xargs -P "$CLIENTS" -I{} curl -s -o /dev/null -w '%{http_code}\n' -X PUT \
        "127.0.0.1:$port/container/$name-{}?wait=600" \
        -d '{"Runtime":"exec","Cmd":["/bin/sleep","100000"],"Started":true}' > "$RESULTS/burst-$name.codes"
    local end; end=$(date +%s.%N)
    local ok; ok=$(grep -c '^200$' "$RESULTS/burst-$name.codes" || true)
    local active; active=$(systemctl list-units --no-legend --state=active "ctr-$name-*" | wc -l)
    local reloads; reloads=$(reloads_since "$since")
    local rss_after; rss_after=$(rss_kib $GEARD_PID)
    printf '%-12s %4d installs: %3d answered 200, %3d units active, %6.2f s, %3d daemon-reloads, geard RSS %d KiB idle -> %d KiB after\n' \
        "$name" "$COUNT" "$ok" "$active" "$(echo "$end - $start" | bc)" "$reloads" "$rss_idle" "$rss_after"
    # clean up for the next run
    seq 1 "$COUNT" | xargs -P 8 -I{} curl -s -o /dev/null -X DELETE "127.0.0.1:$port/container/$name-{}?wait=600"
    stop_geard
}

machine
run coalesced
run naive --no-reload-coalescing
