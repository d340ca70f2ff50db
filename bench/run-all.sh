#!/bin/bash
# All benchmarks of the core issue, inside the sandbox (make bench starts it). Results go to stdout and
# bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
bench/status-latency.sh
bench/podman-compare.sh
bench/install-burst.sh
bench/log-throughput.sh
bench/node-latency.sh
bench/events.sh
bench/tls.sh
bench/files.sh
bench/deploy.sh
bench/health-checks.sh
bench/soak.sh
