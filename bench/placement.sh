#!/bin/sh
# Placement quality and speed (issue 34): gear's binpack and spread against Kubernetes' default scoring and Nomad's
# BestFit v3 binpack, re-implemented from their documentation, on a pool drawn from Google's 2011 machine mix, placed
# until the first instance fits nowhere; then placements per second at 10,000 nodes, gear's index against its own full
# scan (the same choices, checked) and the anchors. Deterministic from SEED. Needs no sandbox: it places, it deploys
# nothing. docs/scheduling.md describes the distributions; docs/performance.md records a run.
#   NODES=1000 SPEED_NODES=10000 SPEED_PLACEMENTS=100000 SEED=2011 bench/placement.sh
set -eu
cd "$(dirname "$0")/.."
swift build -c release --product gear-placement >/dev/null
echo "# $(date -u +%FT%TZ), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), commit $(git rev-parse --short HEAD 2>/dev/null || echo none)"
exec taskset -c 0 .build/release/gear-placement --nodes "${NODES:-1000}" --speed-nodes "${SPEED_NODES:-10000}" \
    --speed-placements "${SPEED_PLACEMENTS:-100000}" --seed "${SEED:-2011}" --verify
