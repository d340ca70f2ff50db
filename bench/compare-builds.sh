#!/bin/bash
# Two builds of geard side by side in one run, for a change that must not make what users wait for slower:
# GEARD_BASE (the code before) and GEARD_NEW (the change), release binaries both. Each benchmark of BENCHES runs for
# each build, alternating (round 1: base then new; round 2: new then base; ...), so that a machine that gets
# noisier half-way does not favour one. Prints each run's headline figures and keeps the whole output in
# bench/results/compare/. Runs inside the sandbox, with the benchmarks' packages installed first (make bench does):
#
#   contrib/sandbox/gear-sandbox run --net --bind "$PWD" -- env GEARD_BASE=/work/base/.build/release/geard \
#       GEARD_NEW=$PWD/.build/release/geard bench/compare-builds.sh
set -euo pipefail
cd "$(dirname "$0")/.."
: "${GEARD_BASE:?the build before}" "${GEARD_NEW:?the build after}"
ROUNDS=${ROUNDS:-2}
BENCHES=${BENCHES:-status-latency log-throughput files}
out=$PWD/bench/results/compare
mkdir -p "$out"
source bench/lib.sh
machine
headline() {  # the figures each bench prints that a user would compare
    grep -E '^== |Requests/sec|    99%|geard RSS|MB/s|geard text|geard NDJSON|journalctl -o cat|first byte|idle:|under transfers:|ratio ' "$1" | sed 's/^/    /'
}
for round in $(seq 1 "$ROUNDS"); do
    if [ $((round % 2)) = 1 ]; then order="base new"; else order="new base"; fi
    for bench in $BENCHES; do
        for build in $order; do
            binary=$GEARD_BASE
            [ "$build" = new ] && binary=$GEARD_NEW
            log="$out/$bench-$build-round$round.txt"
            echo "### $bench, $build build, round $round"
            GEARD=$binary RESULTS="$out/work" bench/"$bench".sh > "$log" 2>&1 || echo "    (exit status $?; the whole output: $log)"
            headline "$log"
        done
    done
done
