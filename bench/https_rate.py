#!/usr/bin/env python3
"""A fixed-rate HTTPS load generator with a client certificate (wrk cannot present one).

CONNECTIONS keep-alive connections, each in its own thread, send GET requests on a shared schedule of RATE
requests per second for SECONDS; latency is measured from each request's scheduled time (so a stall delays the
requests queued behind it and shows, as wrk2 does: no coordinated omission). Prints requests, errors and
p50/p90/p99/max in milliseconds.
"""
import argparse
import http.client
import ssl
import threading
import time

parser = argparse.ArgumentParser()
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--path", required=True)
parser.add_argument("--cert", required=True)
parser.add_argument("--key", required=True)
parser.add_argument("--ca", required=True)
parser.add_argument("--connections", type=int, default=64)
parser.add_argument("--rate", type=float, default=1000)
parser.add_argument("--seconds", type=float, default=15)
args = parser.parse_args()

context = ssl.create_default_context(cafile=args.ca)
context.load_cert_chain(args.cert, args.key)
context.minimum_version = ssl.TLSVersion.TLSv1_2

latencies = []
errors = [0]
lock = threading.Lock()
start = time.monotonic() + 1.0
interval = args.connections / args.rate  # each connection's share of the schedule


def worker(index):
    connection = http.client.HTTPSConnection(args.host, args.port, context=context, timeout=10)
    mine = []
    failed = 0
    n = 0
    while True:
        scheduled = start + index * (1.0 / args.rate) + n * interval
        if scheduled - start >= args.seconds:
            break
        delay = scheduled - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        try:
            connection.request("GET", args.path)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                failed += 1
        except Exception:
            failed += 1
            connection.close()
            connection = http.client.HTTPSConnection(args.host, args.port, context=context, timeout=10)
        mine.append(time.monotonic() - scheduled)
        n += 1
    with lock:
        latencies.extend(mine)
        errors[0] += failed


threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.connections)]
for t in threads:
    t.start()
for t in threads:
    t.join()
latencies.sort()


def pct(p):
    return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000


print(f"requests {len(latencies)} ({len(latencies) / args.seconds:.0f}/s), errors {errors[0]}, "
      f"p50 {pct(0.5):.2f} ms, p90 {pct(0.9):.2f} ms, p99 {pct(0.99):.2f} ms, max {latencies[-1] * 1000:.2f} ms")
