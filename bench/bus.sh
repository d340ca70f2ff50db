#!/bin/bash
# The bus (issue 36): a broadcast to N responders in one process over a real nats-server configured by
# `gear nats config` (TLS, one user per certificate), signed (each responder verifies the request and signs its
# answer; the caller verifies every answer) against plain (the same round trip unsigned: the broker's and the
# client's floor), in the same run; the broker's CPU time and memory for each. Needs no sandbox.
#   NODES=1000 ROUNDS=50 bench/bus.sh
set -euo pipefail
cd "$(dirname "$0")/.."
nodes=${NODES:-1000} rounds=${ROUNDS:-50}
ulimit -n "$(ulimit -Hn)"
swift build -c release --product gear-bus-bench >/dev/null
swift build -c release --product gear >/dev/null
dir=$(mktemp -d /tmp/gear-bus-bench.XXXXXX)
trap 'kill $broker 2>/dev/null || true; rm -rf "$dir"' EXIT
echo "# $(date -u +%FT%TZ), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nats-server --version), commit $(git rev-parse --short HEAD 2>/dev/null || echo none)"
.build/release/gear-bus-bench certs "$dir" "$nodes"
port=$((14222 + RANDOM % 1000))
args=()
for i in $(seq 0 $((nodes - 1))); do args+=(--node "$dir/node$i.crt"); done
.build/release/gear nats config --listen "127.0.0.1:$port" --broker-cert "$dir/nats.crt" --broker-key "$dir/nats.key" --ca "$dir/ca.crt" \
    "${args[@]}" --caller "$dir/orch.crt" --out "$dir/nats.conf" >/dev/null
for mode in plain signed; do
    nats-server -c "$dir/nats.conf" > "$dir/nats-$mode.log" 2>&1 &
    broker=$!
    for _ in $(seq 1 100); do grep -q 'Server is ready' "$dir/nats-$mode.log" && break; sleep 0.05; done
    .build/release/gear-bus-bench run "$dir" "tls://127.0.0.1:$port" "$nodes" "$rounds" "$mode"
    ticks=$(getconf CLK_TCK)
    cpu=$(awk -v t="$ticks" '{printf "%.1f", ($14 + $15) / t}' "/proc/$broker/stat")
    echo "  broker: $cpu s of CPU, RSS $(awk '/^VmRSS/ {printf "%.0f MiB", $2/1024}' "/proc/$broker/status") (peak $(awk '/^VmHWM/ {printf "%.0f MiB", $2/1024}' "/proc/$broker/status"))"
    kill $broker; wait $broker 2>/dev/null || true
done
