#!/bin/sh
# Several test hosts on one machine, inside the systemd sandbox: network namespaces gear-h1 ... gear-hN, each with
# a veth into the bridge gear-br0 and the address 10.77.0.N/24 (the sandbox's own namespace is 10.77.0.254).
# A geard per host runs inside its namespace (nsenter --net=/run/netns/gear-hN geard ... --network-namespace
# /run/netns/gear-hN), so its containers' units, their published ports and podman's bridge live there too.
# (Not `ip netns exec`: it remounts /sys without the cgroup file system, where `podman exec` fails.)
#
#   test-hosts.sh up N      make hosts 1..N (idempotent)
#   test-hosts.sh down      remove them
set -eu

case "${1:-}" in
up)
    count=${2:?give the number of hosts}
    ip link show gear-br0 >/dev/null 2>&1 || {
        ip link add gear-br0 type bridge
        ip addr add 10.77.0.254/24 dev gear-br0
        ip link set gear-br0 up
    }
    i=1
    while [ "$i" -le "$count" ]; do
        ns=gear-h$i
        if [ ! -e "/run/netns/$ns" ]; then
            ip netns add "$ns"
            ip link add "gear-v$i" type veth peer name eth0 netns "$ns"
            ip link set "gear-v$i" master gear-br0 up
            ip -n "$ns" addr add "10.77.0.$i/24" dev eth0
            ip -n "$ns" link set eth0 up
            ip -n "$ns" link set lo up
            ip -n "$ns" route add default via 10.77.0.254
            # podman's bridge forwards between the host's address and its containers.
            ip netns exec "$ns" sysctl -q -w net.ipv4.ip_forward=1
        fi
        i=$((i + 1))
    done
    ;;
down)
    for path in /run/netns/gear-h*; do
        [ -e "$path" ] || continue
        ip netns delete "$(basename "$path")"
    done
    ip link delete gear-br0 2>/dev/null || true
    ;;
*)
    echo "usage: $0 up N | down" >&2
    exit 64
    ;;
esac
