#!/bin/bash
# The pull model at scale: NODES geards (release builds, 50 by default) on this machine, each a node of its own to
# etcd (its certificate, its etcd user and role, its keys) and to systemd (its own state directory; instance ids are
# unique across nodes, so their units do not collide in the one systemd they share), following one etcd (Debian's
# 3.4, TLS, client-cert-auth, auth on). Measured in one run:
#   - start-up: every node's observed entry written;
#   - gear deploy --etcd of COUNT exec containers (500 by default), placed by gear-orchestrator (transactions of up to
#     120 keys), and the time from the deploy's start to each node's containers reported converged and active
#     (p50/p99 over nodes and containers);
#   - side by side in the same run: the push model a user would pick instead, gear deploy of the same COUNT instances
#     to the same geards over HTTP (a second deployment), and the floor of the one systemd all nodes share here,
#     COUNT systemd-run starts of units with the same sandboxing by 50 concurrent shells;
#   - the redeploy of the unchanged file; etcd's CPU time and memory, geards' memory;
#   - etcd killed and restarted: time until every geard's /healthz is 200 again, and etcd's CPU meanwhile (the
#     reconnect storm); nothing lost: every observed entry is still there;
#   - the delete through etcd.
# Runs inside the sandbox: contrib/sandbox/gear-sandbox run --net --bind "$PWD" -- bench/etcd-scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
GEAR=${GEAR:-$PWD/.build/release/gear}
ORCHESTRATOR=${ORCHESTRATOR:-$PWD/.build/release/gear-orchestrator}
NODES=${NODES:-50}
COUNT=${COUNT:-500}
PORT=${ETCD_PORT:-2379}
pki=$RESULTS/etcd-scale-pki
data=/var/lib/gear-bench-etcd
machine
etcd --version | head -1

rm -rf "$pki" "$data" /var/lib/gear-scale
"$GEAR" certs init --out "$pki" > /dev/null
"$GEAR" certs issue node etcd --ip 127.0.0.1 --out "$pki" > /dev/null
"$GEAR" certs issue client root --out "$pki" > /dev/null
"$GEAR" certs issue client deployer --out "$pki" > /dev/null
"$GEAR" certs issue client orch --out "$pki" > /dev/null
names=()
for i in $(seq -w 1 "$NODES"); do names+=("n$i"); "$GEAR" certs issue node "n$i" --ip 127.0.0.1 --out "$pki" > /dev/null; done

start_etcd() {
    etcd --name bench --data-dir "$data" --listen-client-urls "https://127.0.0.1:$PORT" --advertise-client-urls "https://127.0.0.1:$PORT" \
        --listen-peer-urls http://127.0.0.1:2380 --cert-file "$pki/etcd.crt" --key-file "$pki/etcd.key" --trusted-ca-file "$pki/ca.crt" \
        --client-cert-auth --max-txn-ops 4096 > "$RESULTS/etcd-scale.log" 2>&1 &
    ETCD_PID=$!
    for _ in $(seq 1 100); do etcdctl_root endpoint health > /dev/null 2>&1 && return 0; sleep 0.1; done
    echo "etcd did not start" >&2; return 1
}
etcdctl_root() { ETCDCTL_API=3 etcdctl --endpoints "https://127.0.0.1:$PORT" --cacert "$pki/ca.crt" --cert "$pki/root.crt" --key "$pki/root.key" "$@"; }
gear_etcd() { "$GEAR" "$1" --etcd "https://127.0.0.1:$PORT" --ca "$pki/ca.crt" --cert "$pki/deployer.crt" --key "$pki/deployer.key" --timeout 600 "${@:2}"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
now_ns() { date +%s%N; }
seconds_since() { echo "scale=2; ($(now_ns) - $1) / 1000000000" | bc; }

start_etcd
etcdctl_root user add root --no-password > /dev/null
etcdctl_root user grant-role root root > /dev/null
etcdctl_root auth enable > /dev/null
"$GEAR" etcd grant -q --etcd "https://127.0.0.1:$PORT" --ca "$pki/ca.crt" --cert "$pki/root.crt" --key "$pki/root.key" "${names[@]}"
"$GEAR" etcd grant -q --etcd "https://127.0.0.1:$PORT" --ca "$pki/ca.crt" --cert "$pki/root.crt" --key "$pki/root.key" --operator deployer
"$GEAR" etcd grant -q --etcd "https://127.0.0.1:$PORT" --ca "$pki/ca.crt" --cert "$pki/root.crt" --key "$pki/root.key" --orchestrator orch

pids=()
"$ORCHESTRATOR" --etcd "https://127.0.0.1:$PORT" --ca "$pki/ca.crt" --cert "$pki/orch.crt" --key "$pki/orch.key" --name orch \
    --listen none > "$RESULTS/orchestrator-scale.log" 2>&1 &
ORCH_PID=$!
trap 'kill ${pids[*]} $ORCH_PID $ETCD_PID 2>/dev/null || true' EXIT
until etcdctl_root get /gear/v1/orchestrator/leader | grep -q orch; do sleep 0.1; done
began=$(now_ns)
for i in $(seq 1 "$NODES"); do
    n=$(printf 'n%02d' "$i")
    "$GEARD" --listen "127.0.0.1:$((44100 + i))" --socket none --state-dir "/var/lib/gear-scale/$n" --etcd "https://127.0.0.1:$PORT" \
        --etcd-cert "$pki/$n.crt" --etcd-key "$pki/$n.key" --etcd-ca "$pki/ca.crt" --advertise 127.0.0.1 \
        --port-range "$((10000 + i * 100))-$((10000 + i * 100 + 99))" > "$RESULTS/geard-scale-$n.log" 2>&1 &
    pids+=($!)
done
for _ in $(seq 1 600); do
    [ "$(etcdctl_root get --prefix /gear/v1/observed/ --keys-only | grep -c '/node$')" -ge "$NODES" ] && break
    sleep 0.1
done
echo "start-up: $NODES geards, every node entry in etcd after $(seconds_since "$began") s"

# The expected count per node: spread puts COUNT/NODES on each.
expected=$(for n in "${names[@]}"; do printf '%s=%d,' "$n" $((COUNT / NODES)); done)
cat > "$RESULTS/scale-app.json" <<JSON
{"Name":"scale","IdPrefix":"scale-","Containers":[{"Name":"c","Count":$COUNT,"Runtime":"exec","Cmd":["/bin/sleep","100000"],"Restart":"no"}]}
JSON
cat > "$RESULTS/scale-empty.json" <<JSON
{"Name":"scale","Containers":[{"Name":"c","Count":0,"Runtime":"exec","Cmd":["/bin/true"]}]}
JSON

# deploy_through_etcd LABEL FILE MODE: gear deploy --etcd while a watcher times each node's convergence.
deploy_through_etcd() {
    local label=$1 file=$2 mode=$3
    etcdctl_root watch --prefix /gear/v1/observed/ -w json > "$RESULTS/scale-watch.json" 2>/dev/null &
    local watcher=$!
    sleep 0.5
    local etcd_cpu; etcd_cpu=$(cpu_ticks "$ETCD_PID")
    local start; start=$(now_ns)
    echo "$start" > "$RESULTS/scale-start"
    bench/etcd-converge.py "$RESULTS/scale-watch.json" "$RESULTS/scale-start" "$expected" "$mode" > "$RESULTS/scale-converge.out" &
    local follower=$!
    gear_etcd deploy "$file" > "$RESULTS/scale-deploy.out"
    echo "$label: gear deploy --etcd took $(seconds_since "$start") s (until the orchestrator's status said running)"
    wait "$follower"
    cat "$RESULTS/scale-converge.out"
    echo "  etcd CPU meanwhile: $(echo "scale=2; ($(cpu_ticks "$ETCD_PID") - etcd_cpu) / $(getconf CLK_TCK)" | bc) s; etcd RSS $(( $(rss_kib "$ETCD_PID") / 1024 )) MiB"
    kill "$watcher" 2>/dev/null || true
}

deploy_through_etcd "pull, $COUNT containers on $NODES nodes" "$RESULTS/scale-app.json" up
# The sandboxing of geard's exec units, for the systemd-run floor at the end.
sed -n '/^\[Service\]/,/^\[/p' "$(ls /var/lib/gear-scale/n01/units/ctr-*.service | head -1)" |
    grep -E '^[A-Z][A-Za-z]+=' | grep -vE '^(ExecStart|ExecStartPre|Type|User|EnvironmentFile)=' > "$RESULTS/scale-unit-properties"
rss=$(for p in "${pids[@]}"; do rss_kib "$p"; done | sort -n)
echo "  geard RSS: min $(( $(echo "$rss" | head -1) / 1024 )) MiB, median $(( $(echo "$rss" | sed -n "$(( (NODES + 1) / 2 ))p") / 1024 )) MiB, max $(( $(echo "$rss" | tail -1) / 1024 )) MiB"

start=$(now_ns)
gear_etcd deploy "$RESULTS/scale-app.json" > "$RESULTS/scale-deploy.out"
echo "redeploy, unchanged: $(seconds_since "$start") s ($(head -1 "$RESULTS/scale-deploy.out"))"

# The push model side by side: the same instances, a second deployment, to the same geards over HTTP.
hosts=$(for i in $(seq 1 "$NODES"); do printf '127.0.0.1:%d ' $((44100 + i)); done)
sed 's/"scale"/"push"/; s/"scale-"/"push-"/' "$RESULTS/scale-app.json" > "$RESULTS/push-app.json"
sed 's/"scale"/"push"/' "$RESULTS/scale-empty.json" > "$RESULTS/push-empty.json"
start=$(now_ns)
"$GEAR" deploy --timeout 600 "$RESULTS/push-app.json" $hosts > "$RESULTS/push-deploy.out"
echo "push, $COUNT containers on $NODES hosts over HTTP (gear deploy, each instance waited for until active): $(seconds_since "$start") s"
start=$(now_ns)
"$GEAR" deploy --timeout 600 "$RESULTS/push-empty.json" $hosts > "$RESULTS/push-deploy.out"
echo "push, deleted: $(seconds_since "$start") s"

# The reconnect storm: etcd killed and started again with every geard connected.
observed_before=$(etcdctl_root get --prefix /gear/v1/observed/ --keys-only | grep -c . || true)
kill -9 "$ETCD_PID"; wait "$ETCD_PID" 2>/dev/null || true
sleep 2
start=$(now_ns)
start_etcd
etcd_up=$(seconds_since "$start")
etcd_cpu=$(cpu_ticks "$ETCD_PID")
for i in $(seq 1 "$NODES"); do
    until curl -sf -o /dev/null "127.0.0.1:$((44100 + i))/healthz"; do sleep 0.1; done
done
echo "etcd restarted (down 2 s): serving after $etcd_up s, every geard healthy after $(seconds_since "$start") s;" \
    "etcd CPU meanwhile $(echo "scale=2; ($(cpu_ticks "$ETCD_PID") - etcd_cpu) / $(getconf CLK_TCK)" | bc) s"
sleep 3
echo "  observed entries: $observed_before before, $(etcdctl_root get --prefix /gear/v1/observed/ --keys-only | grep -c . || true) after"

deploy_through_etcd "pull, everything deleted" "$RESULTS/scale-empty.json" gone

# The floor, with nothing else running as at the first deploy: the one systemd every node shares here starting COUNT
# units with the sandboxing of geard's exec units.
mapfile -t properties < "$RESULTS/scale-unit-properties"
args=()
for p in "${properties[@]}"; do args+=(-p "$p"); done
start=$(now_ns)
seq 1 "$COUNT" | xargs -P 50 -I{} systemd-run -q --unit scale-floor-{}.service -p Type=exec "${args[@]}" /bin/sleep 100000
echo "systemd-run floor, $COUNT starts by 50 shells: $(seconds_since "$start") s"
systemctl stop 'scale-floor-*' || true

# One change at a time: a container written as node n01's desired state, until n01 reports it converged and
# active; side by side with the same install through n01's HTTP API (PUT ?wait=30), 20 times each.
single=()
http=()
for i in $(seq 1 20); do
    etcdctl_root watch --prefix /gear/v1/observed/n01/ -w json > "$RESULTS/scale-watch.json" 2>/dev/null &
    watcher=$!
    sleep 0.3
    now_ns > "$RESULTS/scale-start"
    bench/etcd-converge.py "$RESULTS/scale-watch.json" "$RESULTS/scale-start" "n01=1" up > "$RESULTS/scale-converge.out" &
    follower=$!
    etcdctl_root put "/gear/v1/desired/n01/containers/one-$i" '{"Runtime":"exec","Cmd":["/bin/sleep","100000"],"Started":true}' > /dev/null
    wait "$follower"
    kill "$watcher" 2>/dev/null || true
    single+=("$(grep -o 'per container: p50 [0-9.]*' "$RESULTS/scale-converge.out" | awk '{print $4}')")
    etcdctl_root del "/gear/v1/desired/n01/containers/one-$i" > /dev/null
    start=$(now_ns)
    curl -s -o /dev/null -X PUT "127.0.0.1:44101/container/api-$i?wait=30" -d '{"Runtime":"exec","Cmd":["/bin/sleep","100000"],"Started":true}'
    http+=("$(seconds_since "$start")")
    curl -s -o /dev/null -X DELETE "127.0.0.1:44101/container/api-$i?wait=30"
    sleep 0.5
done
summary() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {printf "p50 %.3f s, p90 %.3f s, max %.3f s", v[int(NR*0.5+0.5)], v[int(NR*0.9+0.5)], v[NR]}'; }
echo "one change at a time, 20 times: etcd put -> observed converged and active: $(summary "${single[@]}")"
echo "  the same install through the HTTP API (PUT ?wait=30): $(summary "${http[@]}")"
