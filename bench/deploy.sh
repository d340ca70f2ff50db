#!/bin/bash
# gear deploy of a 30-instance topology over 3 hosts (network namespaces of the sandbox, a release geard each, HTTPS
# with client certificates): the first deploy, a redeploy of the same file (target: under 1 s, no job), a rolling
# replacement of 12 instances, and the delete; side by side with what a user scripts instead on one host in the same
# run: `podman run -d` of the same 30 containers one after another (the podman CLI floor, no placement or links).
# Runs inside the sandbox (gear-sandbox run --net --bind "$PWD" -- bench/deploy.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
GEAR=${GEAR:-$PWD/.build/release/gear}
RUNS=${RUNS:-3}
pki=$RESULTS/deploy-pki
contrib/sandbox/prepare-image.sh
contrib/sandbox/test-hosts.sh up 3
machine
podman version --format 'podman {{.Server.Version}}'

rm -rf "$pki"
"$GEAR" certs init --out "$pki" > /dev/null
"$GEAR" certs issue client bench --role admin --out "$pki" > /dev/null
pids=()
for n in 1 2 3; do
    "$GEAR" certs issue node "h$n" --ip "10.77.0.$n" --out "$pki" > /dev/null
    rm -rf "/var/lib/gear-bench-deploy-h$n"
    nsenter --net="/run/netns/gear-h$n" "$GEARD" --listen none --socket none --state-dir "/var/lib/gear-bench-deploy-h$n" \
        --https "10.77.0.$n:43274" --tls-cert "$pki/h$n.crt" --tls-key "$pki/h$n.key" --tls-ca "$pki/ca.crt" \
        --network-namespace "/run/netns/gear-h$n" > "$RESULTS/geard-deploy-h$n.log" 2>&1 &
    pids+=($!)
done
trap 'kill ${pids[*]} 2>/dev/null || true' EXIT
gear() { "$GEAR" "$1" --ca "$pki/ca.crt" --cert "$pki/bench.crt" --key "$pki/bench.key" --timeout 300 "${@:2}"; }
for n in 1 2 3; do
    for _ in $(seq 1 100); do gear list "10.77.0.$n" > /dev/null 2>&1 && break; sleep 0.1; done
done
hosts="10.77.0.1 10.77.0.2 10.77.0.3"

# descriptor VERSION: 6 web (linked to every db), 12 db (httpd on 3000), 12 cache: 30 instances.
descriptor() {
    cat > "$RESULTS/bench-app.json" <<JSON
{"Name":"bench","Containers":[
  {"Name":"web","Count":6,"Image":"localhost/busybox","Cmd":["sleep","100000"],"Memory":"32M",
   "Links":[{"To":"db","AliasPorts":[{"Internal":3000,"External":8080}]}]},
  {"Name":"db","Count":12,"Image":"localhost/busybox","Memory":"32M","PublicPorts":[{"Internal":3000}],
   "Cmd":["sh","-c","mkdir -p /w && echo $1 > /w/index.html && exec httpd -f -p 3000 -h /w"]},
  {"Name":"cache","Count":12,"Image":"localhost/busybox","Cmd":["sleep","100000"],"Memory":"16M"}
]}
JSON
}
empty() { echo '{"Name":"bench","Containers":[{"Name":"none","Count":0,"Image":"x"}]}' > "$RESULTS/bench-empty.json"; }
timed() {
    local label=$1; shift
    local start; start=$(date +%s%N)
    "$@" > "$RESULTS/deploy-step.out" 2>&1 || { cat "$RESULTS/deploy-step.out" >&2; return 1; }
    printf '%-44s %6.2f s   %s\n' "$label" "$(echo "scale=3; ($(date +%s%N) - $start) / 1000000000" | bc)" \
        "$(grep -o '[0-9]* jobs' "$RESULTS/deploy-step.out" | tail -1)"
}
empty
for run in $(seq 1 "$RUNS"); do
    echo "-- run $run"
    descriptor v1
    timed "gear deploy, 30 instances on 3 hosts" gear deploy "$RESULTS/bench-app.json" $hosts
    for again in 1 2 3; do timed "gear deploy again, unchanged ($again)" gear deploy "$RESULTS/bench-app.json" $hosts; done
    descriptor v2
    timed "gear deploy, 12 db replaced one at a time" gear deploy "$RESULTS/bench-app.json" $hosts
    descriptor v1
    timed "gear deploy, back, --max-unavailable 4" gear deploy --max-unavailable 4 "$RESULTS/bench-app.json" $hosts
    timed "gear deploy, everything deleted" gear deploy "$RESULTS/bench-empty.json" $hosts

    # The podman CLI on one host, the same 30 containers one after another, then removed.
    start=$(date +%s%N)
    for i in $(seq 1 6); do podman run -d -q --init --name "bench-web-$i" --memory 32m localhost/busybox sleep 100000 > /dev/null; done
    for i in $(seq 1 12); do
        podman run -d -q --init --name "bench-db-$i" --memory 32m -p "$((4600 + i)):3000" localhost/busybox \
            sh -c "mkdir -p /w && echo v1 > /w/index.html && exec httpd -f -p 3000 -h /w" > /dev/null
    done
    for i in $(seq 1 12); do podman run -d -q --init --name "bench-cache-$i" --memory 16m localhost/busybox sleep 100000 > /dev/null; done
    printf '%-44s %6.2f s\n' "podman run -d x30, one host" "$(echo "scale=3; ($(date +%s%N) - $start) / 1000000000" | bc)"
    start=$(date +%s%N)
    podman rm -f -t 0 $(podman ps -aq --filter name=bench-) > /dev/null
    printf '%-44s %6.2f s\n' "podman rm -f x30" "$(echo "scale=3; ($(date +%s%N) - $start) / 1000000000" | bc)"
done
