#!/bin/bash
# Soak (issue 20): a release geard on loopback under 1,000 keep-alive connections (wrk, each calling a container's
# status, the list or /node every 0.5-1.5 s), 200 log follows and 50 event follows, for SOAK_SECONDS (default 600),
# while 4 clients stop and start 20 containers over and over and 20 others write a log line a second. geard's memory
# (VmRSS, anonymous, journal pages mapped), descriptors, threads, connections and the journal's files are sampled
# every 10 s into bench/results/soak.csv. After a minute of warm-up none may grow past a bound (RSS 96 MiB, of it
# anonymous 32 MiB, 64 descriptors beyond one per log follow and journal file, 4 threads), every stream must last,
# and once the clients are gone the descriptors must be back where they were (plus journal files journald added).
# Runs inside the sandbox (make bench, or contrib/sandbox/gear-sandbox run --net --bind "$PWD" -- bench/soak.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
SOAK_SECONDS=${SOAK_SECONDS:-600}
CONNECTIONS=${CONNECTIONS:-1000}
LOG_FOLLOWS=${LOG_FOLLOWS:-200}
EVENT_FOLLOWS=${EVENT_FOLLOWS:-50}
RSS_BOUND_KIB=$((96 * 1024)) ANON_BOUND_KIB=$((32 * 1024)) FD_BOUND=64 THREAD_BOUND=4 WARMUP=60
port=43421
ulimit -n "$(ulimit -Hn)"  # geard, wrk and the followers hold about 2,500 descriptors
start_geard $port /var/lib/gear-bench-soak --max-connections 4096 --max-connections-per-client 2048 --max-local-streams 2048
install_containers $port chat 20 '{"Runtime":"exec","Cmd":["/bin/sh","-c","while true; do echo chat line; sleep 1; done"],"Started":true}'
install_containers $port cyc 20 '{"Runtime":"exec","Cmd":["/bin/sleep","100000"],"Started":true}'
machine
echo "geard $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $SOAK_SECONDS s, $CONNECTIONS connections, $LOG_FOLLOWS log follows, $EVENT_FOLLOWS event follows"

journal_files() { find /run/log/journal /var/log/journal -name '*.journal' 2>/dev/null | wc -l; }
# seconds, VmRSS, RssAnon (geard's own memory), RssShmem (pages of the journal's files on tmpfs that log readers map,
# counted once per reader), Pss_Shmem (the same pages counted once), descriptors, threads, established connections,
# journal files
sample() {
    local pid=$GEARD_PID
    echo "$1,$(awk '/^VmRSS/ {r = $2} /^RssAnon/ {a = $2} /^RssShmem/ {s = $2} END {print r "," a "," s}' /proc/$pid/status)," \
        "$(awk '/^Pss_Shmem/ {print $2}' /proc/$pid/smaps_rollup),$(ls /proc/$pid/fd | wc -l),$(awk '/^Threads/ {print $2}' /proc/$pid/status)," \
        "$(ss -Htn state established "( sport = :$port )" | wc -l),$(journal_files)" | tr -d ' '
}
# What geard's descriptors are, by kind.
descriptors() { for fd in /proc/$GEARD_PID/fd/*; do readlink "$fd"; done | sed 's/[0-9]\+/N/g' | sort | uniq -c | sort -rn | head -8; }
# Warm-up: every kind of call once, so that what geard makes on first use (event loops, pools) is in the baseline.
curl -s -o /dev/null "127.0.0.1:$port/node"; curl -s -o /dev/null "127.0.0.1:$port/containers"
curl -s -o /dev/null -m 2 "127.0.0.1:$port/container/chat-1/log?follow=1&lines=1" || true
curl -s -o /dev/null -m 2 "127.0.0.1:$port/events?follow=1" || true
sleep 2
before=$(sample 0)
fds_before=$(echo "$before" | cut -d, -f6)
descriptors_before=$(descriptors)
csv=$RESULTS/soak.csv
echo "seconds,rss_kib,anon_kib,shmem_kib,pss_shmem_kib,fds,threads,connections,journal_files" > "$csv"
echo "$before" >> "$csv"
cpu_before=$(awk '{print $14 + $15}' /proc/$GEARD_PID/stat)
started=$(date +%s)

# Containers that change state: 4 clients, each stopping and starting its 5 containers in turn.
cycles_dir=$RESULTS/soak-cycles
rm -rf "$cycles_dir"; mkdir -p "$cycles_dir"
cyclers=()
for client in 1 2 3 4; do
    (end=$((started + SOAK_SECONDS)); n=0
        while [ "$(date +%s)" -lt $end ]; do
            for k in $(seq $((client * 5 - 4)) $((client * 5))); do
                curl -sf -o /dev/null -X PUT "127.0.0.1:$port/container/cyc-$k/stopped?wait=60" || echo "stop cyc-$k failed" >&2
                curl -sf -o /dev/null -X PUT "127.0.0.1:$port/container/cyc-$k/started?wait=60" || echo "start cyc-$k failed" >&2
                n=$((n + 1))
            done
        done
        echo $n > "$cycles_dir/$client") &
    cyclers+=($!)
done

python3 bench/soak-streams.py $port chat 20 "$LOG_FOLLOWS" "$EVENT_FOLLOWS" "$SOAK_SECONDS" > "$RESULTS/soak-streams.txt" 2>&1 &
streams=$!
cat > "$RESULTS/soak.lua" <<'LUA'
-- Each connection asks for one of these, then waits 0.5-1.5 s: about CONNECTIONS requests a second in all.
local paths = {}
for k = 1, 20 do
    paths[#paths + 1] = "/container/cyc-" .. k .. "/status"
    paths[#paths + 1] = "/container/chat-" .. k .. "/status"
end
paths[#paths + 1] = "/containers"
paths[#paths + 1] = "/node"
math.randomseed(os.time())
request = function() return wrk.format("GET", paths[math.random(#paths)]) end
delay = function() return math.random(500, 1500) end
LUA
wrk -t2 -c"$CONNECTIONS" -d"${SOAK_SECONDS}s" --timeout 10s --latency -s "$RESULTS/soak.lua" "http://127.0.0.1:$port" > "$RESULTS/soak-wrk.txt" 2>&1 &
wrk=$!

while kill -0 $wrk 2>/dev/null; do
    sleep 10
    sample $(($(date +%s) - started)) >> "$csv"
done
elapsed=$(($(date +%s) - started))
cpu_after=$(awk '{print $14 + $15}' /proc/$GEARD_PID/stat)
status=0
wait $streams || status=1
wait "${cyclers[@]}"
sleep 5
after=$(sample $(($(date +%s) - started)))
echo "$after" >> "$csv"

echo "== wrk"
grep -E 'Latency|Req/Sec|requests in|Requests/sec|Socket errors|Non-2xx|^ +(50|90|99|75)%' "$RESULTS/soak-wrk.txt"
echo "== $(cat "$RESULTS/soak-streams.txt")"
[ -s "$RESULTS/soak-streams.txt" ] && grep -q 'failed: 0' "$RESULTS/soak-streams.txt" || status=1
echo "== state changes: $(cat "$cycles_dir"/* | paste -sd+ | bc) stop/start cycles of 20 containers"
ticks=$(getconf CLK_TCK)
echo "geard CPU: $(echo "scale=1; ($cpu_after - $cpu_before) / $ticks" | bc) s over ${elapsed} s" \
    "($(echo "scale=1; 100 * ($cpu_after - $cpu_before) / $ticks / $elapsed" | bc)% of one core)"
# Growth after the warm-up: the highest sample against the first one past WARMUP seconds. Each log follow holds one
# descriptor per journal file (sd-journal opens them all), so descriptors are compared net of followers x files.
# RSS is bounded without the journal pages mapped by log readers (shmem): those are journald's tmpfs pages, charged
# to journald's cgroup; their own figure (counted per reader, and once in PSS) is reported beside it.
awk -F, -v warmup=$WARMUP -v rss=$RSS_BOUND_KIB -v anon=$ANON_BOUND_KIB -v fd=$FD_BOUND -v th=$THREAD_BOUND -v follows=$LOG_FOLLOWS '
    NR == 1 || $8 < 100 { next }
    { net = $6 - follows * $9; own = $2 - $4 }
    !base && $1 >= warmup { base = 1; r0 = own; a0 = $3; f0 = net; t0 = $7 }
    base { if (own > r1) r1 = own; if ($3 > a1) a1 = $3; if (net > f1) f1 = net; if ($6 > fmax) fmax = $6; if ($7 > t1) t1 = $7
           if ($4 > s1) s1 = $4; if ($5 > p1) p1 = $5; if (!c0 || $8 < c0) c0 = $8; if ($8 > c1) c1 = $8; if ($9 > j1) j1 = $9 }
    END {
        printf "under load, from %d s on: RSS without mapped journal pages %d -> max %d KiB (+%d, bound %d), of it anonymous %d -> max %d KiB (+%d, bound %d);\n", warmup, r0, r1, r1 - r0, rss, a0, a1, a1 - a0, anon
        printf "  journal pages mapped by log readers at most %d KiB counted per reader, %d KiB in PSS;\n", s1, p1
        printf "  fds net of one per log follow and journal file %d -> max %d (+%d, bound %d; at most %d in all, journal files up to %d); threads %d -> max %d (bound +%d); connections %d-%d\n",
            f0, f1, f1 - f0, fd, fmax, j1, t0, t1, th, c0, c1
        exit !(base && r1 - r0 <= rss && a1 - a0 <= anon && f1 - f0 <= fd && t1 - t0 <= th)
    }' "$csv" || { echo "soak: geard grew past a bound"; status=1; }
fds_after=$(echo "$after" | cut -d, -f6)
echo "before the clients: $before; after they left: $after ($(head -1 "$csv"))"
echo "descriptors before:"; echo "$descriptors_before"; echo "after:"; descriptors
journal_growth=$(( $(echo "$after" | cut -d, -f9) - $(echo "$before" | cut -d, -f9) ))
if [ "$fds_after" -gt $((fds_before + 8 + (journal_growth > 0 ? journal_growth : 0))) ]; then
    echo "soak: $fds_after descriptors after the clients left, $fds_before before ($journal_growth journal files more)"; status=1
fi
delete_containers $port chat 20
delete_containers $port cyc 20
stop_geard
exit $status
