#!/usr/bin/env python3
"""Sequential container lifecycles, one call at a time over one keep-alive connection, each call waiting for its
result: create, start, stop, delete of COUNT containers against geard or podman's REST service, or the same with
the podman CLI or systemd-run (the floors). Prints the median and p90 of each step in ms, and the per-container
total. Used by bench/podman-compare.sh.

    lifecycle.py geard HOST:PORT RUNTIME COUNT PREFIX
    lifecycle.py podman-rest HOST:PORT COUNT PREFIX
    lifecycle.py podman-cli COUNT PREFIX
    lifecycle.py systemd-run COUNT PREFIX PROPERTY...
"""
import http.client
import json
import statistics
import subprocess
import sys
import time

IMAGE = "localhost/busybox"


class Client:
    def __init__(self, address):
        host, port = address.rsplit(":", 1)
        self.connection = http.client.HTTPConnection(host, int(port), timeout=120)

    def call(self, method, path, body=None, expect=(200, 201, 204)):
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        self.connection.request(method, path, body=data, headers=headers)
        response = self.connection.getresponse()
        payload = response.read()
        if response.status not in expect:
            raise SystemExit(f"{method} {path}: {response.status} {payload[:300]!r}")
        return payload


def timed(function):
    start = time.perf_counter()
    function()
    return (time.perf_counter() - start) * 1000


def run(command):
    result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)}: {result.stderr.decode()[:300]}")


def geard(address, runtime, count, prefix):
    client = Client(address)
    if runtime == "exec":
        body = {"Runtime": "exec", "Cmd": ["/bin/sleep", "100000"]}
    else:
        body = {"Image": IMAGE, "Cmd": ["sleep", "100000"]}
    for i in range(1, count + 1):
        name = f"{prefix}{i}"
        yield (
            timed(lambda: client.call("PUT", f"/container/{name}?wait=120", body)),
            timed(lambda: client.call("PUT", f"/container/{name}/started?wait=120")),
            timed(lambda: client.call("PUT", f"/container/{name}/stopped?wait=120")),
            timed(lambda: client.call("DELETE", f"/container/{name}?wait=120")),
        )


def podman_rest(address, count, prefix):
    client = Client(address)
    base = "/v4.0.0/libpod/containers"
    for i in range(1, count + 1):
        name = f"{prefix}{i}"
        # init, as geard's podman units run (--init): SIGTERM reaches the command, stop needs no timeout.
        body = {"image": IMAGE, "command": ["sleep", "100000"], "name": name, "init": True}
        yield (
            timed(lambda: client.call("POST", f"{base}/create", body)),
            timed(lambda: client.call("POST", f"{base}/{name}/start")),
            timed(lambda: client.call("POST", f"{base}/{name}/stop")),
            timed(lambda: client.call("DELETE", f"{base}/{name}")),
        )


def podman_cli(count, prefix):
    for i in range(1, count + 1):
        name = f"{prefix}{i}"
        yield (
            0.0,
            timed(lambda: run(["podman", "run", "-d", "-q", "--init", "--name", name, IMAGE, "sleep", "100000"])),
            timed(lambda: run(["podman", "stop", "-t", "10", name])),
            timed(lambda: run(["podman", "rm", name])),
        )


def systemd_run(count, prefix, properties):
    for i in range(1, count + 1):
        unit = f"{prefix}{i}.service"
        command = ["systemd-run", "-q", "--unit", unit, "-p", "Type=exec"]
        for p in properties:
            command += ["-p", p]
        command += ["/bin/sleep", "100000"]
        yield (0.0, timed(lambda: run(command)), timed(lambda: run(["systemctl", "stop", unit])), 0.0)


def main():
    mode = sys.argv[1]
    if mode == "geard":
        rows = list(geard(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]))
    elif mode == "podman-rest":
        rows = list(podman_rest(sys.argv[2], int(sys.argv[3]), sys.argv[4]))
    elif mode == "podman-cli":
        rows = list(podman_cli(int(sys.argv[2]), sys.argv[3]))
    elif mode == "systemd-run":
        rows = list(systemd_run(int(sys.argv[2]), sys.argv[3], sys.argv[4:]))
    else:
        raise SystemExit(__doc__)
    steps = list(zip(*rows))
    totals = [sum(row) for row in rows]

    def summary(values):
        ordered = sorted(values)
        p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
        return f"{statistics.median(ordered):7.1f} / {p90:7.1f}"

    names = ["create", "start", "stop", "delete"]
    print("  ".join(f"{n}: {summary(s)}" for n, s in zip(names, steps)) + f"  total: {summary(totals)}  (median / p90 ms)")
    print(f"TOTAL_MEDIAN {statistics.median(totals):.1f}")


if __name__ == "__main__":
    main()
