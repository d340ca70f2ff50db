# Shared helpers of the benchmark scripts (sourced). They run inside the project's sandbox (make bench).
GEARD=${GEARD:-$PWD/.build/release/geard}
RESULTS=${RESULTS:-$PWD/bench/results}
mkdir -p "$RESULTS"

# start_geard PORT STATE_DIR [ARGS...]: starts geard, waits until it answers, sets GEARD_PID. WRAP, if set, is a command
# geard runs under (`WRAP="env MALLOC_ARENA_MAX=2"`); it must exec geard, so that GEARD_PID is geard's.
start_geard() {
    local port=$1 state=$2; shift 2
    ${WRAP:-} "$GEARD" --listen "127.0.0.1:$port" --socket none --state-dir "$state" "$@" > "$RESULTS/geard-$port.log" 2>&1 &
    GEARD_PID=$!
    for _ in $(seq 1 200); do curl -s -o /dev/null "127.0.0.1:$port/containers" && return 0; sleep 0.05; done
    echo "geard did not start" >&2; cat "$RESULTS/geard-$port.log" >&2; return 1
}

stop_geard() { kill "$GEARD_PID" 2>/dev/null; wait "$GEARD_PID" 2>/dev/null || true; }

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# reloads_since TIMESTAMP: how many daemon-reloads systemd logged since then.
reloads_since() { journalctl -q --no-pager -o cat _PID=1 --since "$1" | grep -c '^Reloading' || true; }

machine() {
    echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))," \
        "$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, $(uname -r), systemd $(systemctl --version | head -1 | cut -d' ' -f2)"
}

# install_containers PORT PREFIX COUNT BODY: installs PREFIX-1..PREFIX-COUNT with BODY, 20 at a time, waiting for each.
install_containers() {
    seq 1 "$3" | xargs -P 20 -I{} curl -s -o /dev/null -X PUT "127.0.0.1:$1/container/$2-{}?wait=600" -d "$4"
}

# delete_containers PORT PREFIX COUNT
delete_containers() {
    seq 1 "$3" | xargs -P 8 -I{} curl -s -o /dev/null -X DELETE "127.0.0.1:$1/container/$2-{}?wait=600"
}

# serve_static PORT ROOT: nginx (2 workers, like geard's 2 event loops) serving the files under ROOT as JSON, the
# floor of this machine for answers of the same bytes; sets NGINX_PID (stop it with kill).
serve_static() {
    local port=$1 root=$2 work=$RESULTS/nginx-$1
    mkdir -p "$work"
    cat > "$work/nginx.conf" <<CONF
user root;
worker_processes 2;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work;
    proxy_temp_path $work;
    fastcgi_temp_path $work;
    uwsgi_temp_path $work;
    scgi_temp_path $work;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$port;
        root $root;
        default_type application/json;
    }
}
CONF
    nginx -c "$work/nginx.conf"
    NGINX_PID=$(cat "$work/nginx.pid")
}
