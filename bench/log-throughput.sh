#!/bin/bash
# Log reading speed: 1,000,000 lines in one container's journal, read whole through the API (text and NDJSON)
# and with journalctl (-o cat and -o json) as the baseline, in the same run; plus the time to the first line of
# lines=100 (a seek, not a scan) and geard's memory. Runs inside the sandbox (make bench).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
LINES=${LINES:-1000000}
port=43403
start_geard $port /var/lib/gear-bench-logs
machine
id=logbench
unit=ctr-$id.service
curl -s -o /dev/null -X PUT "127.0.0.1:$port/container/$id?wait=60" \
    -d "{\"Runtime\":\"exec\",\"Cmd\":[\"/bin/sh\",\"-c\",\"seq 1 $LINES | sed 's/^/log line number /'; echo bench-done; exec sleep 100000\"],\"Started\":true}"
echo "writing $LINES lines into the journal of $unit ..."
for _ in $(seq 1 600); do
    curl -s "127.0.0.1:$port/container/$id/log?lines=1" | grep -q bench-done && break
    sleep 1
done
total=$(journalctl -q -u "$unit" -o cat | wc -l)
echo "journal holds $total entries of $unit"

# best of 3 runs: prints seconds
best() {
    local best=999999 t
    for _ in 1 2 3; do
        t=$( { /usr/bin/time -f %e "$@" > /dev/null; } 2>&1 | tail -1)
        best=$(echo "if ($t < $best) $t else $best" | bc)
    done
    echo "$best"
}
rate() { echo "scale=0; $total / $1" | bc; }

rss_before=$(rss_kib $GEARD_PID)
t_cat=$(best journalctl -q -u "$unit" -o cat)
t_text=$(best curl -s -o /dev/null "127.0.0.1:$port/container/$id/log?lines=all")
t_json=$(best journalctl -q -u "$unit" -o json)
t_json_fields=$(best journalctl -q -u "$unit" -o json --output-fields=MESSAGE,PRIORITY,_PID)
t_ndjson=$(best curl -s -o /dev/null "127.0.0.1:$port/container/$id/log?lines=all&format=ndjson")
rss_after=$(rss_kib $GEARD_PID)
echo "journalctl -o cat:     $t_cat s  $(rate "$t_cat") lines/s"
echo "geard text:            $t_text s  $(rate "$t_text") lines/s  ratio $(echo "scale=2; $t_cat / $t_text" | bc)x journalctl"
echo "journalctl -o json:    $t_json s  $(rate "$t_json") lines/s"
echo "journalctl -o json --output-fields=MESSAGE,PRIORITY,_PID: $t_json_fields s  $(rate "$t_json_fields") lines/s"
echo "geard NDJSON:          $t_ndjson s  $(rate "$t_ndjson") lines/s  ratio $(echo "scale=2; $t_json / $t_ndjson" | bc)x journalctl -o json, $(echo "scale=2; $t_json_fields / $t_ndjson" | bc)x with the same fields"
echo "geard RSS: $rss_before KiB before the reads, $rss_after KiB after"

# Time to the first byte of lines=100 on this journal (best of 5).
ttfb=999
for _ in 1 2 3 4 5; do
    t=$(curl -s -o /dev/null -w '%{time_starttransfer}' "127.0.0.1:$port/container/$id/log?lines=100")
    ttfb=$(echo "if ($t < $ttfb) $t else $ttfb" | bc)
done
echo "lines=100 on $total entries: first byte after $(echo "$ttfb * 1000" | bc) ms"
curl -s -o /dev/null -X DELETE "127.0.0.1:$port/container/$id?wait=60"
stop_geard
