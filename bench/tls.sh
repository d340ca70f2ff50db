#!/bin/bash
# HTTPS with client certificates, geard against nginx doing mTLS in front of a static file, in the same run:
#   1. full handshakes: ab without keep-alive (a new TLS connection, full handshake, per request), 32 clients
#   2. new and resumed handshakes with one small request each: openssl s_time -new / -reuse -www, 4 in parallel
#   3. GET /container/ID/status over HTTPS keep-alive, 64 connections (ab -k): requests/s and percentiles
#   4. the same at a fixed 1,000 requests/s (bench/https-rate.c: wrk cannot present a client certificate)
# Both servers get the same certificate, CA and client certificate (made by gear certs), TLS 1.2+, and 2 threads
# (geard's event loops, nginx's 2 workers). Runs inside the sandbox (make bench).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
GEAR=${GEAR:-$PWD/.build/release/gear}
N=${N:-4000}
KEEPALIVE_N=${KEEPALIVE_N:-200000}
SECONDS_EACH=${SECONDS_EACH:-10}
port=43405
https=43406
nginx_port=43407
pki=$RESULTS/tls-pki
rm -rf "$pki"
"$GEAR" certs init --out "$pki" > /dev/null
"$GEAR" certs issue node node1 --ip 127.0.0.1 --out "$pki" > /dev/null
"$GEAR" certs issue client bench --role admin --out "$pki" > /dev/null
cat "$pki/bench.crt" "$pki/bench.key" > "$pki/bench.pem"
cc -O2 -pthread -o "$RESULTS/https-rate" bench/https-rate.c -lssl -lcrypto

tls_flags=(--tls-cert "$pki/node1.crt" --tls-key "$pki/node1.key" --tls-ca "$pki/ca.crt")
# A second geard that records only refusals in the journal, to show what auditing every call costs.
start_geard $((port + 10)) /var/lib/gear-bench-tls-quiet --https "127.0.0.1:$((https + 10))" "${tls_flags[@]}" --audit denials
QUIET_PID=$GEARD_PID
start_geard $port /var/lib/gear-bench-tls --https "127.0.0.1:$https" "${tls_flags[@]}"
curl -s -o /dev/null -X PUT "127.0.0.1:$port/container/tlsbench?wait=60" -d '{"Runtime":"exec","Cmd":["/bin/sleep","100000"],"Started":true}'
curl -s -o /dev/null -X PUT "127.0.0.1:$((port + 10))/container/tlsquiet?wait=60" -d '{"Runtime":"exec","Cmd":["/bin/sleep","100000"],"Started":true}'
status_path=/container/tlsbench/status
curl -s "127.0.0.1:$port$status_path" > "$pki/status.json"

mkdir -p "$pki/www/container/tlsbench" "$pki/nginx"
cp "$pki/status.json" "$pki/www/container/tlsbench/status"
cat > "$pki/nginx.conf" <<CONF
user root;
worker_processes 2;
pid $pki/nginx.pid;
error_log $pki/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $pki/nginx;
    proxy_temp_path $pki/nginx;
    fastcgi_temp_path $pki/nginx;
    uwsgi_temp_path $pki/nginx;
    scgi_temp_path $pki/nginx;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$nginx_port ssl http2;
        ssl_certificate $pki/node1.crt;
        ssl_certificate_key $pki/node1.key;
        ssl_client_certificate $pki/ca.crt;
        ssl_verify_client on;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:SSL:10m;
        root $pki/www;
        default_type application/json;
    }
}
CONF
nginx -c "$pki/nginx.conf"
trap 'kill $(cat "$pki/nginx.pid") 2>/dev/null || true; kill $QUIET_PID 2>/dev/null || true; stop_geard' EXIT
sleep 0.5

machine
echo "geard $(git rev-parse --short HEAD 2>/dev/null || echo '?'), nginx $(nginx -v 2>&1 | cut -d/ -f2), $(openssl version | cut -d' ' -f1-2)"
for target in "geard $https tlsbench" "geard-audit-denials $((https + 10)) tlsquiet" "nginx $nginx_port tlsbench"; do
    set -- $target
    name=$1 p=$2 status_path=/container/$3/status
    curl -s --fail -o /dev/null --cacert "$pki/ca.crt" --cert "$pki/bench.crt" --key "$pki/bench.key" "https://127.0.0.1:$p$status_path" \
        || { echo "$name does not answer over mTLS" >&2; exit 1; }
    echo "== $name: full handshakes (ab, a new connection per request, 32 clients, $N requests)"
    ab -q -n "$N" -c 32 -E "$pki/bench.pem" "https://127.0.0.1:$p$status_path" > "$pki/ab.out" 2>&1 || true
    grep -E '^(Requests per second|Failed requests|Non-2xx)' "$pki/ab.out" || tail -5 "$pki/ab.out"
    for mode in new reuse; do
        echo "== $name: openssl s_time -$mode -www (TLS 1.3), 4 in parallel, ${SECONDS_EACH}s"
        pids=()
        for _ in 1 2 3 4; do
            timeout -s KILL $((SECONDS_EACH + 20)) openssl s_time -connect "127.0.0.1:$p" -$mode -www "$status_path" -time "$SECONDS_EACH" \
                -cert "$pki/bench.crt" -key "$pki/bench.key" \
                -CAfile "$pki/ca.crt" 2>/dev/null | grep -E 'connections in .* real seconds' || true &
            pids+=($!)
        done
        wait "${pids[@]}"
    done
    echo "== $name: GET $status_path over HTTPS keep-alive, 64 connections, $KEEPALIVE_N requests"
    ab -q -k -n "$KEEPALIVE_N" -c 64 -E "$pki/bench.pem" "https://127.0.0.1:$p$status_path" > "$pki/ab.out" 2>&1 || true
    grep -E '^(Requests per second|Failed requests|Non-2xx|Keep-Alive requests)|^  (50|90|99|100)%' "$pki/ab.out" || tail -5 "$pki/ab.out"
    echo "== $name: GET $status_path over HTTPS keep-alive, 64 connections, a fixed ${RATE:-1000}/s for ${RATE_SECONDS:-15}s"
    "$RESULTS/https-rate" 127.0.0.1 "$p" "$status_path" "$pki/bench.crt" "$pki/bench.key" "$pki/ca.crt" 64 "${RATE:-1000}" "${RATE_SECONDS:-15}"
    [ "$name" = geard ] && echo "geard RSS after: $(rss_kib "$GEARD_PID") KiB"
    [ "$name" = geard ] && echo "journal entries: $(journalctl -q --no-pager GEAR_AUDIT=1 -o cat | wc -l)"
done
curl -s -o /dev/null -X DELETE "127.0.0.1:$port/container/tlsbench?wait=60"
curl -s -o /dev/null -X DELETE "127.0.0.1:$((port + 10))/container/tlsquiet?wait=60"
