#!/bin/bash
# Events under load: 50 subscribers follow GET /events while 20 exec containers are stopped and started by
# concurrent clients until systemd has reported at least 10,000 container state changes. Checks that every
# subscriber received every event exactly once and in order, and reports the delivery latency and geard's CPU.
# Runs inside the sandbox (make bench).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
CONTAINERS=${CONTAINERS:-20}
SUBSCRIBERS=${SUBSCRIBERS:-50}
STATE_CHANGES=${STATE_CHANGES:-10000}
port=43411
start_geard $port /var/lib/gear-bench-events
install_containers $port ev "$CONTAINERS" '{"Runtime":"exec","Cmd":["/bin/sleep","100000"],"Started":true}'
machine
last_seq() { curl -s "127.0.0.1:$port/events?since=0&follow=0" | tail -1 | sed 's/.*"seq":\([0-9]*\).*/\1/'; }
since=$(last_seq)
until_file=$RESULTS/events-until
rm -f "$until_file" "$until_file.ready"
cc -O2 -o "$RESULTS/event-subscribers" bench/event-subscribers.c
"$RESULTS/event-subscribers" $port "$since" "$SUBSCRIBERS" "$until_file" > "$RESULTS/events.txt" &
subscribers=$!
while [ ! -e "$until_file.ready" ]; do kill -0 $subscribers || { echo "the subscribers failed" >&2; exit 1; }; sleep 0.1; done
sleep 1
cpu_before=$(awk '{print $14 + $15}' /proc/$GEARD_PID/stat)
started=$(date +%s.%N)
# Each cycle (stop, start) makes 3 to 4 state changes: stopping, stopped, (starting,) started.
cycles=$(( (STATE_CHANGES / 3 + CONTAINERS - 1) / CONTAINERS ))
seq 1 "$CONTAINERS" | xargs -P "$CONTAINERS" -I{} bash -c "for k in \$(seq 1 $cycles); do
    curl -s -o /dev/null -X PUT '127.0.0.1:$port/container/ev-{}/stopped?wait=60'
    curl -s -o /dev/null -X PUT '127.0.0.1:$port/container/ev-{}/started?wait=60'
done"
elapsed=$(echo "$(date +%s.%N) - $started" | bc)
cpu_after=$(awk '{print $14 + $15}' /proc/$GEARD_PID/stat)
last_seq > "$until_file"
wait $subscribers
ticks=$(getconf CLK_TCK)
echo "== $CONTAINERS containers, $cycles stop/start cycles each (${elapsed}s), $SUBSCRIBERS subscribers"
cat "$RESULTS/events.txt"
echo "geard CPU: $(echo "scale=2; ($cpu_after - $cpu_before) / $ticks" | bc) s over ${elapsed}s" \
    "($(echo "scale=1; 100 * ($cpu_after - $cpu_before) / $ticks / $elapsed" | bc)% of one core), RSS $(rss_kib $GEARD_PID) KiB"
delete_containers $port ev "$CONTAINERS"
stop_geard
