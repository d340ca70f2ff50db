#!/bin/bash
# File transfer: geard against nginx (static GET, WebDAV PUT) and cp, on the same file and disk, in one run:
#   1. download of SIZE_MIB (default 1024) MiB over loopback: plain HTTP and HTTPS (client certificates), curl
#   2. upload of the same file: geard's PUT (temp file, digest-free, fsync, rename) against nginx's WebDAV PUT
#      (temp file, rename, no fsync), and cp + sync as the disk's own figure
#   3. geard's memory: resident set before and its peak (VmHWM) after all transfers
#   4. 20 concurrent 100 MiB transfers (10 up, 10 down) while GET /container/ID/status is timed 300 times
# The files live in DIR (default bench/results, on the repository's disk, bound into the sandbox; /var/tmp in the
# sandbox is memory). Each transfer runs RUNS times (default 3) and the best is kept. Runs inside the sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
GEAR=${GEAR:-$PWD/.build/release/gear}
SIZE_MIB=${SIZE_MIB:-1024}
RUNS=${RUNS:-3}
DIR=${DIR:-$RESULTS}
port=43420
https=43421
nginx_port=43422
nginx_tls=43423
work=$DIR/files-bench
rm -rf "$work"
mkdir -p "$work/www/up" "$work/nginx" "$work/down"
state=$work/state
pki=$work/pki
"$GEAR" certs init --out "$pki" > /dev/null
"$GEAR" certs issue node node1 --ip 127.0.0.1 --out "$pki" > /dev/null
"$GEAR" certs issue client bench --role admin --out "$pki" > /dev/null
tls=(--cacert "$pki/ca.crt" --cert "$pki/bench.crt" --key "$pki/bench.key")

start_geard $port "$state" --https "127.0.0.1:$https" --tls-cert "$pki/node1.crt" --tls-key "$pki/node1.key" --tls-ca "$pki/ca.crt"
curl -s -o /dev/null -X PUT "127.0.0.1:$port/container/filebench?wait=60" \
    -d '{"Runtime":"exec","Cmd":["/bin/sleep","100000"],"Started":true,"Volumes":[{"Name":"data","Path":"/data"}]}'
volume=$state/volumes/filebench/data

cat > "$work/nginx.conf" <<CONF
user root;
worker_processes 2;
pid $work/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    client_body_temp_path $work/www/up;
    proxy_temp_path $work/nginx;
    fastcgi_temp_path $work/nginx;
    uwsgi_temp_path $work/nginx;
    scgi_temp_path $work/nginx;
    client_max_body_size 0;
    server {
        listen 127.0.0.1:$nginx_port;
        listen 127.0.0.1:$nginx_tls ssl;
        ssl_certificate $pki/node1.crt;
        ssl_certificate_key $pki/node1.key;
        ssl_client_certificate $pki/ca.crt;
        ssl_verify_client on;
        root $work/www;
        location /up/ { dav_methods PUT; create_full_put_path on; }
    }
}
CONF
nginx -c "$work/nginx.conf"
sleep 0.5
nginx_pid=$(cat "$work/nginx.pid")
trap 'kill $nginx_pid 2>/dev/null || true; stop_geard' EXIT

machine
echo "geard $(git rev-parse --short HEAD 2>/dev/null || echo '?'), nginx $(nginx -v 2>&1 | cut -d/ -f2), curl $(curl --version | head -1 | cut -d' ' -f2), files on $(df -T "$work" | awk 'NR==2 {print $2}')"
head -c $((SIZE_MIB << 20)) /dev/urandom > "$work/source"
sync
cp "$work/source" "$volume/big"
cp "$work/source" "$work/www/big"
sync
rss_before=$(rss_kib "$GEARD_PID")

# best_mbs LABEL COMMAND...: runs the command RUNS times, prints the best rate in MB/s (10^6 bytes).
# For geard's transfers it also prints how far geard's resident set rose above its level before them (the peak,
# VmHWM, is reset through clear_refs first), and keeps the highest such peak in PEAK_KIB.
PEAK_KIB=0
best_mbs() {
    local label=$1; shift
    local best=0 base=0 growth=""
    if [[ $label == *geard* ]]; then
        base=$(rss_kib "$GEARD_PID")
        echo 5 > "/proc/$GEARD_PID/clear_refs"
    fi
    for _ in $(seq 1 "$RUNS"); do
        local start end rate
        start=$(date +%s.%N)
        "$@" > /dev/null
        end=$(date +%s.%N)
        rate=$(echo "$SIZE_MIB * 1048576 / ($end - $start) / 1000000" | bc -l)
        best=$(echo "if ($rate > $best) $rate else $best" | bc -l)
    done
    if [[ $label == *geard* ]]; then
        local hwm
        hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$GEARD_PID/status")
        (( hwm > PEAK_KIB )) && PEAK_KIB=$hwm
        growth=$(printf '   geard RSS +%d MiB at peak' $(( (hwm - base) / 1024 )))
    fi
    printf '%-44s %8.0f MB/s%s\n' "$label" "$best" "$growth"
    eval "RATE_${label//[^A-Za-z0-9]/_}=$best"
}

echo "== download $SIZE_MIB MiB (curl -o /dev/null, best of $RUNS)"
best_mbs "download geard http" curl -s --fail -o /dev/null "127.0.0.1:$port/container/filebench/files/data/big"
best_mbs "download nginx http" curl -s --fail -o /dev/null "127.0.0.1:$nginx_port/big"
best_mbs "download geard https" curl -s --fail "${tls[@]}" -o /dev/null "https://127.0.0.1:$https/container/filebench/files/data/big"
best_mbs "download nginx https" curl -s --fail "${tls[@]}" -o /dev/null "https://127.0.0.1:$nginx_tls/big"
best_mbs "download geard https, HTTP/1.1" curl -s --fail --http1.1 "${tls[@]}" -o /dev/null "https://127.0.0.1:$https/container/filebench/files/data/big"
best_mbs "cat (page cache read)" cat "$volume/big"

echo "== upload $SIZE_MIB MiB (curl -T, best of $RUNS; geard fsyncs before the rename, nginx does not)"
best_mbs "upload geard http" curl -s --fail -o /dev/null -T "$work/source" "127.0.0.1:$port/container/filebench/files/data/up"
best_mbs "upload nginx http" curl -s --fail -o /dev/null -T "$work/source" "127.0.0.1:$nginx_port/up/big"
best_mbs "upload geard https" curl -s --fail "${tls[@]}" -o /dev/null -T "$work/source" "https://127.0.0.1:$https/container/filebench/files/data/up"
best_mbs "upload nginx https" curl -s --fail "${tls[@]}" -o /dev/null -T "$work/source" "https://127.0.0.1:$nginx_tls/up/big"
# curl picks HTTP/2 with geard (ALPN) and HTTP/1.1 with this nginx (no http2 on the listener): the same over 1.1.
best_mbs "upload geard https, HTTP/1.1" curl -s --fail --http1.1 "${tls[@]}" -o /dev/null -T "$work/source" \
    "https://127.0.0.1:$https/container/filebench/files/data/up"
digest="sha-256=:$(openssl dgst -sha256 -binary "$work/source" | base64 -w0):"
best_mbs "geard http + Content-Digest sha-256" curl -s --fail -o /dev/null -H "Content-Digest: $digest" -T "$work/source" \
    "127.0.0.1:$port/container/filebench/files/data/up"
best_mbs "cp + sync (the disk)" sh -c "cp '$work/source' '$work/copy' && sync '$work/copy'"
best_mbs "cp (no sync)" cp "$work/source" "$work/copy2"
cmp "$work/source" "$volume/up" && echo "uploaded file verified (cmp)"
for what in download_geard_http/download_nginx_http download_geard_https/download_nginx_https upload_geard_http/upload_nginx_http \
    upload_geard_https/upload_nginx_https upload_geard_https__HTTP_1_1/upload_nginx_https download_geard_https__HTTP_1_1/download_nginx_https; do
    g=$(eval echo "\$RATE_${what%/*}") n=$(eval echo "\$RATE_${what#*/}")
    printf 'ratio %-46s %.2fx\n' "${what%/*} / nginx:" "$(echo "$g / $n" | bc -l)"
done
echo "geard RSS before the transfers: $rss_before KiB; highest peak (VmHWM) during one: $PEAK_KIB KiB; growth $(( (PEAK_KIB - rss_before) / 1024 )) MiB"
echo 5 > "/proc/$GEARD_PID/clear_refs"

echo "== 20 concurrent 100 MiB transfers (10 uploads, 10 downloads) while timing GET /container/filebench/status"
head -c $((100 << 20)) /dev/urandom > "$work/hundred"
cp "$work/hundred" "$volume/hundred"
status_times() {
    for _ in $(seq 1 300); do
        curl -s -o /dev/null -w '%{time_total}\n' "127.0.0.1:$port/container/filebench/status"
    done | sort -n | awk '{a[NR]=$1} END {printf "p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", a[int(NR*0.5)]*1000, a[int(NR*0.99)]*1000, a[NR]*1000}'
}
echo "idle:            $(status_times)"
pids=()
start=$(date +%s.%N)
for n in $(seq 1 10); do
    curl -s --fail -o /dev/null -T "$work/hundred" "127.0.0.1:$port/container/filebench/files/data/c$n" &
    pids+=($!)
    curl -s --fail -o /dev/null "127.0.0.1:$port/container/filebench/files/data/hundred" &
    pids+=($!)
done
echo "under transfers: $(status_times)"
wait "${pids[@]}"
end=$(date +%s.%N)
echo "20 x 100 MiB done in $(printf '%.1f' "$(echo "$end - $start" | bc -l)") s ($(printf '%.0f' "$(echo "2000 * 1048576 / ($end - $start) / 1000000" | bc -l)") MB/s in all)"
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$GEARD_PID/status")
echo "geard peak RSS (VmHWM) after the concurrent transfers: $hwm KiB"
curl -s -o /dev/null -X DELETE "127.0.0.1:$port/container/filebench?wait=60"
kill "$nginx_pid"
stop_geard
rm -rf "$work"
