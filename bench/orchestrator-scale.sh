#!/bin/bash
# gear-orchestrator at scale, over hollow nodes (bench/gear-hollow: geard's core and real etcd transport over the
# in-memory systemd, PER_PROCESS nodes per process, each with its own name, state, etcd connection and lease), as
# Kubernetes' kubemark measures the control plane. One etcd (Debian's 3.4: TLS, client-cert-auth, auth on,
# --auto-compaction), two orchestrator replicas, NODES hollow nodes, DEPLOYMENTS deployments totalling INSTANCES
# exec instances. Measured in one run:
#   - start-up: every hollow node's entry in etcd;
#   - the deployments written at once (etcdctl, as an operator): time until every status is running (every instance
#     placed, and converged and active on its node), the orchestrator's writes, etcd's CPU, revisions per second;
#   - one hollow node SIGKILLed: time until its instances run elsewhere (from the kill, and from its lease's end);
#   - the leading replica SIGKILLed: time until the standby leads, and until it has placed a new deployment; no
#     instance lost, no slot desired twice;
#   - etcd SIGKILLed and restarted during a drain: the drain completes, no instance lost, no slot desired twice;
#   - the orchestrator's RSS, etcd's CPU seconds, DB size and revisions per second over the run.
# IDENTITY=per-node gives every hollow node its own certificate, etcd user and role, as real nodes have;
# IDENTITY=shared one identity for all (said so in the figures).
# Runs inside the sandbox: contrib/sandbox/gear-sandbox run --net --bind "$PWD" -- bench/orchestrator-scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
BUILD=${BUILD:-$PWD/.build/release}
NODES=${NODES:-1000}
PER_PROCESS=${PER_PROCESS:-500}
DEPLOYMENTS=${DEPLOYMENTS:-10}
INSTANCES=${INSTANCES:-10000}
IDENTITY=${IDENTITY:-per-node}
GRACE=${GRACE:-10}
NODE_TTL=${NODE_TTL:-10}
PORT=${ETCD_PORT:-2379}
pki=$RESULTS/orch-scale-pki
data=/var/lib/gear-orch-scale-etcd
state=/var/lib/gear-orch-scale
ulimit -n "$(ulimit -Hn)"
machine
etcd --version | head -1
echo "nodes: $NODES hollow ($PER_PROCESS per process, identity $IDENTITY, lease TTL $NODE_TTL s), $DEPLOYMENTS deployments, $INSTANCES instances"

now_ns() { date +%s%N; }
seconds_since() { echo "scale=2; ($(now_ns) - $1) / 1000000000" | bc; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
cpu_seconds() { echo "scale=2; $1 / $(getconf CLK_TCK)" | bc; }
E() { ETCDCTL_API=3 etcdctl --endpoints "https://127.0.0.1:$PORT" --cacert "$pki/ca.crt" --cert "$pki/root.crt" --key "$pki/root.key" "$@"; }
as_operator() { ETCDCTL_API=3 etcdctl --endpoints "https://127.0.0.1:$PORT" --cacert "$pki/ca.crt" --cert "$pki/alice.crt" --key "$pki/alice.key" "$@"; }
revision() { E endpoint status -w json | grep -o '"revision":[0-9]*' | head -1 | cut -d: -f2; }
db_size() { E endpoint status -w json | grep -o '"dbSize":[0-9]*' | head -1 | cut -d: -f2; }
count_nodes() { E get --prefix /gear/v1/observed/ --keys-only | grep -c '/node$' || true; }
# A deployment's own state (its instances have states too): the last key of the status, after "running":N.
running_statuses() { E get --prefix /gear/v1/status/deployments/ --print-value-only | grep -cE '"running":[0-9]+,"state":"running"' || true; }
wait_for() { # wait_for SECONDS COMMAND...: until the command succeeds, or fail
    local deadline=$(( $(date +%s) + $1 )); shift
    until "$@"; do [ "$(date +%s)" -lt "$deadline" ] || { echo "  timed out: $*" >&2; return 1; }; sleep 0.2; done
}
# What is not running yet, when a wait timed out.
diagnose() { E get --prefix /gear/v1/status/deployments/ --print-value-only | grep -vE '"running":[0-9]+,"state":"running"' | head -2 | cut -c1-1500 >&2 || true; }
all_running() {
    if E get --prefix /gear/v1/status/deployments/ --print-value-only | grep -q '"state":"invalid"'; then
        echo "  a deployment is invalid: $(E get --prefix /gear/v1/status/deployments/ --print-value-only | grep '"state":"invalid"' | head -1)" >&2
        exit 1
    fi
    [ "$(running_statuses)" -ge "$1" ]
}

rm -rf "$pki" "$data" "$state"
G="$BUILD/gear"
"$G" certs init --out "$pki" > /dev/null
"$G" certs issue node etcd --ip 127.0.0.1 --out "$pki" > /dev/null
for who in root orch-a orch-b alice hollow; do "$G" certs issue client "$who" --out "$pki" > /dev/null; done
names=()
for i in $(seq 1 "$NODES"); do names+=("h$i"); done
if [ "$IDENTITY" = per-node ]; then
    began=$(now_ns)
    for name in "${names[@]}"; do "$G" certs issue node "$name" --ip 127.0.0.1 --out "$pki" > /dev/null; done
    echo "per-node certificates: $(seconds_since "$began") s"
fi

etcd_log=$RESULTS/orch-scale-etcd.log
start_etcd() {
    etcd --name bench --data-dir "$data" --listen-client-urls "https://127.0.0.1:$PORT" --advertise-client-urls "https://127.0.0.1:$PORT" \
        --listen-peer-urls http://127.0.0.1:2380 --cert-file "$pki/etcd.crt" --key-file "$pki/etcd.key" --trusted-ca-file "$pki/ca.crt" \
        --client-cert-auth --max-txn-ops 1024 --quota-backend-bytes 8589934592 --auto-compaction-mode revision \
        --auto-compaction-retention 100000 >> "$etcd_log" 2>&1 &
    ETCD_PID=$!
    wait_for 30 E endpoint health > /dev/null 2>&1
}
start_etcd
ETCD_CPU0=$(cpu_ticks "$ETCD_PID")
E user add root --no-password > /dev/null
E user grant-role root root > /dev/null
E auth enable > /dev/null
root_flags=(--etcd "https://127.0.0.1:$PORT" --ca "$pki/ca.crt" --cert "$pki/root.crt" --key "$pki/root.key")
"$G" etcd grant -q "${root_flags[@]}" --orchestrator orch-a orch-b
"$G" etcd grant -q "${root_flags[@]}" --operator alice
if [ "$IDENTITY" = per-node ]; then
    began=$(now_ns)
    printf '%s\n' "${names[@]}" | xargs -n 200 "$G" etcd grant -q "${root_flags[@]}"
    echo "per-node etcd users and roles: $(seconds_since "$began") s"
else
    E user add hollow --no-password > /dev/null
    E role add gear-hollow > /dev/null
    E role grant-permission gear-hollow --prefix=true readwrite /gear/v1/observed/ > /dev/null
    E role grant-permission gear-hollow --prefix=true read /gear/v1/desired/ > /dev/null
    E user grant-role hollow gear-hollow > /dev/null
fi

pids=()
cleanup() { kill -9 "${pids[@]}" ${ORCH_A:-} ${ORCH_B:-} ${VICTIM:-} 2>/dev/null || true; kill "$ETCD_PID" 2>/dev/null || true; }
trap cleanup EXIT
identity_flags() { if [ "$IDENTITY" = per-node ]; then echo "--identity-dir $pki"; else echo "--cert $pki/hollow.crt --key $pki/hollow.key"; fi; }
began=$(now_ns)
# The last node runs alone, to be killed alone.
for first in $(seq 1 "$PER_PROCESS" $((NODES - 1))); do
    count=$(( NODES - first < PER_PROCESS ? NODES - first : PER_PROCESS ))
    "$BUILD/gear-hollow" --etcd "https://127.0.0.1:$PORT" --ca "$pki/ca.crt" $(identity_flags) --prefix h --first "$first" --count "$count" \
        --state-dir "$state" --lease-ttl "$NODE_TTL" > "$RESULTS/orch-scale-hollow-$first.log" 2>&1 &
    pids+=($!)
done
"$BUILD/gear-hollow" --etcd "https://127.0.0.1:$PORT" --ca "$pki/ca.crt" $(identity_flags) --prefix h --first "$NODES" --count 1 \
    --state-dir "$state" --lease-ttl "$NODE_TTL" > "$RESULTS/orch-scale-hollow-victim.log" 2>&1 &
VICTIM=$!
nodes_reported() { [ "$(count_nodes)" -ge "$NODES" ]; }
wait_for 600 nodes_reported || echo "  $(count_nodes) of $NODES nodes reported"
echo "start-up: $(count_nodes) hollow nodes reported after $(seconds_since "$began") s;" \
    "hollow processes' RSS: $(for p in "${pids[@]}"; do rss_kib "$p"; done | awk '{s+=$1} END {printf "%.0f MiB", s/1024}')"

orchestrator() {
    "$BUILD/gear-orchestrator" --etcd "https://127.0.0.1:$PORT" --ca "$pki/ca.crt" --cert "$pki/$1.crt" --key "$pki/$1.key" --name "$1" \
        --node-grace "$GRACE" --lease-ttl 5 --listen "127.0.0.1:$2" >> "$RESULTS/orch-scale-$1.log" 2>&1 &
}
orchestrator orch-a 43291; ORCH_A=$!
leader_is() { E get /gear/v1/orchestrator/leader --print-value-only | grep -q "$1"; }
wait_for 30 leader_is orch-a
orchestrator orch-b 43292; ORCH_B=$!

per=$(( INSTANCES / DEPLOYMENTS ))
deployment() { # deployment NAME COUNT
    printf '{"Name":"%s","IdPrefix":"%s-","Containers":[{"Name":"c","Count":%d,"Runtime":"exec","Cmd":["/bin/sleep","100000"],"Memory":"4M"}]}' "$1" "$1" "$2"
}
rev0=$(revision)
etcd_cpu=$(cpu_ticks "$ETCD_PID")
orch_cpu=$(cpu_ticks "$ORCH_A")
began=$(now_ns)
for d in $(seq 1 "$DEPLOYMENTS"); do as_operator put "/gear/v1/deployments/d$d" "$(deployment "d$d" "$per")" > /dev/null; done
if wait_for 1800 all_running "$DEPLOYMENTS"; then
    took=$(seconds_since "$began")
    echo "placed and converged: $INSTANCES instances in $DEPLOYMENTS deployments on $NODES nodes, every status running after $took s" \
        "($(echo "scale=0; $INSTANCES / $took" | bc) instances/s)"
else
    echo "placed and converged: NOT within 1800 s: $(running_statuses) of $DEPLOYMENTS running"
    diagnose
fi
rev1=$(revision)
echo "  etcd: $((rev1 - rev0)) revisions ($(echo "scale=0; ($rev1 - $rev0) / $(seconds_since "$began")" | bc)/s)," \
    "CPU $(cpu_seconds $(( $(cpu_ticks "$ETCD_PID") - etcd_cpu ))) s, DB $(( $(db_size) / 1048576 )) MiB;" \
    "leader CPU $(cpu_seconds $(( $(cpu_ticks "$ORCH_A") - orch_cpu ))) s, RSS $(( $(rss_kib "$ORCH_A") / 1024 )) MiB;" \
    "standby RSS $(( $(rss_kib "$ORCH_B") / 1024 )) MiB"

desired_count() { E get --prefix /gear/v1/desired/ --keys-only | grep -c /containers/ || true; }
duplicates() { E get --prefix /gear/v1/desired/ --keys-only | grep /containers/ | awk -F/ '{print $NF}' | sort | uniq -d | wc -l; }
echo "  desired entries: $(desired_count), ids desired on two nodes: $(duplicates)"

# One node killed: its instances placed elsewhere once its lease and the grace period are over.
victim=h$NODES
on_victim=$(E get --prefix "/gear/v1/desired/$victim/containers/" --keys-only | grep -c . || true)
kill -9 "$VICTIM"; VICTIM=
killed=$(now_ns)
# Keys under a prefix; fails when etcd does not answer (a timeout is not an empty prefix).
keys_under() { local out; out=$(E get --prefix "$1" --keys-only) || return 1; printf '%s' "$out" | grep -c . || true; }
victim_silent() { [ "$(keys_under "/gear/v1/observed/$victim/node")" = 0 ]; }
wait_for 120 victim_silent
silent=$(now_ns)
victim_empty() { [ "$(keys_under "/gear/v1/desired/$victim/")" = 0 ]; }
wait_for 300 victim_empty && wait_for 300 all_running "$DEPLOYMENTS" || diagnose
echo "one node killed ($on_victim instances): running elsewhere $(seconds_since "$killed") s after the kill," \
    "$(seconds_since "$silent") s after its lease ended (grace $GRACE s); ids desired twice: $(duplicates)"

# The leader killed: the standby leads, and places a new deployment.
before=$(desired_count)
kill -9 "$ORCH_A"; ORCH_A=
killed=$(now_ns)
wait_for 60 leader_is orch-b
led=$(seconds_since "$killed")
as_operator put /gear/v1/deployments/after "$(deployment after 10)" > /dev/null
wait_for 120 all_running $((DEPLOYMENTS + 1)) || diagnose
echo "leader SIGKILLed: the standby leads after $led s (lease TTL 5 s), has placed a new deployment after $(seconds_since "$killed") s;" \
    "desired entries $before before, $(desired_count) after (10 new); ids desired twice: $(duplicates)"

# etcd killed and restarted during a drain.
drained=h1
on_drained=$(E get --prefix "/gear/v1/desired/$drained/containers/" --keys-only | grep -c . || true)
"$G" node drain "$drained" --no-wait --etcd "https://127.0.0.1:$PORT" --ca "$pki/ca.crt" --cert "$pki/alice.crt" --key "$pki/alice.key" > /dev/null
began=$(now_ns)
sleep 1
kill -9 "$ETCD_PID"; wait "$ETCD_PID" 2>/dev/null || true
sleep 2
start_etcd
drained_empty() { [ "$(keys_under "/gear/v1/desired/$drained/")" = 0 ]; }
wait_for 300 drained_empty && wait_for 300 all_running $((DEPLOYMENTS + 1)) || diagnose
echo "etcd SIGKILLed 1 s into a drain of $on_drained instances, back 2 s later: drain complete after $(seconds_since "$began") s;" \
    "desired entries $(desired_count) (expected $((before + 10))), ids desired twice: $(duplicates)"

echo "over the run: etcd CPU $(cpu_seconds $(( $(cpu_ticks "$ETCD_PID") ))) s since its restart, DB $(( $(db_size) / 1048576 )) MiB;" \
    "orchestrator (orch-b) RSS $(( $(rss_kib "$ORCH_B") / 1024 )) MiB"
echo "anchors (published, not measured here): Nomad C1M: 1,000,000 containers on 5,000 hosts in under 5 minutes with 5 servers" \
    "(~3,300/s); Kubernetes' SLO at 5,000 nodes: 100 pods/s scheduled"
