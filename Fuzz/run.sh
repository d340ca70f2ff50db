#!/bin/bash
# Runs every fuzz target of gear-fuzz (one per directory of Fuzz/seeds) for SECONDS each (default 30): its seeds and
# the corpus kept from earlier runs in .build-fuzz/corpus, then new inputs. A crash, a trap or a violated property
# fails the run; the input is kept in .build-fuzz/crashes/TARGET/ and printed (base64) so that it can become a unit
# test. Usage: Fuzz/run.sh [SECONDS] [TARGET...]   (make fuzz builds gear-fuzz first)
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift || true
binary=.build-fuzz/debug/gear-fuzz
[ -x "$binary" ] || { echo "fuzz: $binary is missing: run make fuzz" >&2; exit 2; }
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(ls Fuzz/seeds)
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:symbolize=1
failed=()
for target in "${targets[@]}"; do
    corpus=.build-fuzz/corpus/$target crashes=.build-fuzz/crashes/$target
    mkdir -p "$corpus" "$crashes"
    log=.build-fuzz/$target.log
    GEAR_FUZZ_TARGET=$target "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -artifact_prefix="$crashes/" -print_final_stats=1 "$corpus" "Fuzz/seeds/$target" >"$log" 2>&1
    status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    coverage=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    if [ $status -ne 0 ]; then
        failed+=("$target")
        echo "fuzz $target: FAILED after ${runs:-?} runs ($coverage)"
        grep -m1 -B2 -A25 'property violated\|Fatal error\|ERROR: AddressSanitizer\|ERROR: libFuzzer\|deadly signal' "$log" | head -40
        for input in "$crashes"/*; do [ -f "$input" ] && echo "input $input: $(base64 -w0 <"$input")"; done
    else
        echo "fuzz $target: ${runs:-?} runs in ${seconds} s, $coverage, corpus $(ls "$corpus" | wc -l) inputs, no failure"
    fi
done
[ ${#failed[@]} -eq 0 ] || { echo "fuzz: failures in ${failed[*]}"; exit 1; }
