#!/bin/bash
# `make run` on a machine whose PID 1 is not systemd: boots the project's systemd sandbox (its own network
# namespace, where containers and their ports live), prepares the busybox test image, and runs geard inside the
# sandbox's mount and PID namespaces but in this machine's network namespace, so that it answers on
# 127.0.0.1:43273 here. Ctrl-C stops geard and the sandbox.
set -euo pipefail
cd "$(dirname "$0")/../.."
sandbox=contrib/sandbox/gear-sandbox
pid=$($sandbox start --net --bind "$PWD")
trap '$sandbox stop "$pid"' EXIT
$sandbox exec "$pid" contrib/sandbox/prepare-image.sh
echo "sandbox: systemd is PID $pid; run commands inside it with: $sandbox exec $pid COMMAND" >&2
echo "         (containers' published ports live there: $sandbox exec $pid curl localhost:4000/)" >&2
nsenter -t "$pid" -m -p -u -i -- /bin/sh -c 'cd "$0" && exec .build/debug/geard "$@"' "$PWD" "$@" &
geard=$!
trap 'kill -TERM $geard 2>/dev/null || true' INT TERM
wait $geard || true
wait $geard 2>/dev/null || true
