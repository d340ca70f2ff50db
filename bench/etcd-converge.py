#!/usr/bin/env python3
"""Follows the observed state in etcd (the file etcdctl watch -w json writes) and reports when each node's containers
reached their desired state: bench/etcd-scale.sh starts it before a deploy through etcd.

usage: etcd-converge.py WATCH_FILE START_FILE EXPECTED_PER_NODE MODE
  START_FILE         holds the wall-clock time (ns) the deploy began, written by the script just before it
  EXPECTED_PER_NODE  node=count,... (how many containers of the deployment each node must report)
  MODE               up (converged and active) or gone (observed entry deleted)
Prints per-node times (the last of its containers) as p50/p99/max, and per-container p50/p99, from the start.
"""
import base64, json, sys, time

watch_file, start_file, expected_text, mode = sys.argv[1:5]
expected = {n: int(c) for n, c in (item.split("=") for item in expected_text.split(",") if item)}
done = {}      # (node, id) -> time
prefix = "/gear/v1/observed/"
deadline = time.time() + 600


def lines(path):
    """The file's lines as they are written (each stamped when read: the watch writes them as etcd sends them)."""
    with open(path) as f:
        pending = ""
        while time.time() < deadline:
            chunk = f.readline()
            if not chunk:
                time.sleep(0.005)
                continue
            pending += chunk
            if pending.endswith("\n"):
                yield pending
                pending = ""


for line in lines(watch_file):
    now = time.time()
    try:
        response = json.loads(line)
    except ValueError:
        continue
    for event in response.get("Events") or []:
        kv = event.get("kv", {})
        key = base64.b64decode(kv.get("key", "")).decode()
        if not key.startswith(prefix) or "/containers/" not in key:
            continue
        node, _, cid = key[len(prefix):].partition("/containers/")
        if node not in expected:
            continue
        if mode == "gone":
            if event.get("type") in ("DELETE", 1):
                done.setdefault((node, cid), now)
            continue
        value = json.loads(base64.b64decode(kv.get("value", "")) or b"{}")
        status = value.get("status") or {}
        if value.get("converged") and status.get("activeState") == "active":
            done.setdefault((node, cid), now)
    counts = {}
    for (node, _) in done:
        counts[node] = counts.get(node, 0) + 1
    if all(counts.get(n, 0) >= c for n, c in expected.items()) or now > deadline:
        break

start = int(open(start_file).read().strip()) / 1e9


def pct(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


per_node = {}
for (node, _), t in done.items():
    per_node[node] = max(per_node.get(node, 0), t - start)
containers = [t - start for t in done.values()]
missing = sum(expected.values()) - len(done)
print(f"  containers reported {mode}: {len(done)} of {sum(expected.values())}" + (f" ({missing} missing)" if missing else ""))
print(f"  per node (its last container): p50 {pct(per_node.values(), 50):.2f} s, p99 {pct(per_node.values(), 99):.2f} s, "
      f"max {max(per_node.values(), default=float('nan')):.2f} s")
print(f"  per container: p50 {pct(containers, 50):.2f} s, p99 {pct(containers, 99):.2f} s")
