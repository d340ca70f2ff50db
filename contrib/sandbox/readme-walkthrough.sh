#!/bin/sh
# The README's curl walkthrough, command for command, against a geard started with no flags (127.0.0.1:43273).
# Runs inside the sandbox after the integration tests; fails on the first answer that is not what the README says.
set -eu
cd "$(dirname "$0")/../.."
.build/debug/geard > /tmp/geard-walkthrough.log 2>&1 &
geard=$!
trap 'kill $geard 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -s -o /dev/null localhost:43273/containers && break; sleep 0.1; done

check() {  # check WHAT EXPECTED-SUBSTRING OUTPUT
    case "$3" in *"$2"*) echo "ok: $1";; *) echo "FAILED: $1: expected '$2' in: $3" >&2; exit 1;; esac
}

out=$(curl -s -D - -X PUT localhost:43273/container/web -d '{"Image":"localhost/busybox","Cmd":["httpd","-f","-p","8080"],"Ports":[{"Internal":8080}],"Started":true}')
check "install answers 202 with a job" "202 Accepted" "$out"
check "install names the port mapping" "X-PortMapping: 8080:" "$out"
job=$(printf '%s' "$out" | sed -n 's/^Location: \/jobs\/\([0-9a-f]*\).*/\1/p' | tr -d '\r')
out=$(curl -s "localhost:43273/jobs/$job/wait?timeout=60")
check "the install job succeeds" '"state":"succeeded"' "$out"
out=$(curl -s localhost:43273/container/web/status)
check "status says running" '"subState":"running"' "$out"
port=$(curl -s -H 'Accept: text/plain' localhost:43273/container/web/ports | cut -d: -f2)
check "the container serves on its external port" "404" "$(curl -s -o /dev/null -w '%{http_code}' "localhost:$port/")"
out=$(curl -s -X PUT 'localhost:43273/container/web/stopped?wait=60')
check "stopped" '"activeState":"inactive"' "$out"
out=$(curl -s -X PUT 'localhost:43273/container/web/started?wait=60')
check "started" '"activeState":"active"' "$out"
pid1=$(systemctl show -p MainPID --value ctr-web.service)
out=$(curl -s -X POST 'localhost:43273/container/web/restart?wait=60')
check "restarted" '"state":"succeeded"' "$out"
pid2=$(systemctl show -p MainPID --value ctr-web.service)
[ "$pid1" != "$pid2" ] && echo "ok: restart gives a new MainPID ($pid1 -> $pid2)" || { echo "FAILED: MainPID unchanged" >&2; exit 1; }
check "listed" '"id":"web"' "$(curl -s localhost:43273/containers)"
check "ports" "\"external\":$port" "$(curl -s localhost:43273/container/web/ports)"
out=$(curl -s -X DELETE 'localhost:43273/container/web?wait=60')
check "deleted" '"state":"succeeded"' "$out"
check "unit gone" "not-found" "$(systemctl show -p LoadState --value ctr-web.service)"
check "status is 404 after delete" "404" "$(curl -s -o /dev/null -w '%{http_code}' localhost:43273/container/web/status)"
echo "README walkthrough passed"
