#!/usr/bin/env python3
"""Long-lived followers for bench/soak.sh: LOGS log follows (GET /container/PREFIX-K/log?follow=1, spread over
CONTAINERS containers) and EVENTS event follows (GET /events?follow=1), all opened at once and held for SECONDS.

Each stream counts the entries (NDJSON lines) it received. A stream that ends, errs or stays silent for longer than 45 s (log lines
come every second, event streams carry keep-alive comments) is a failure. Prints a summary line and exits 1 when any
stream failed. Usage: soak-streams.py PORT PREFIX CONTAINERS LOGS EVENTS SECONDS
"""

import asyncio
import sys
import time

port, prefix, containers, logs, events, seconds = (
    int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]))
SILENCE = 45


async def follow(path, deadline, results, key):
    lines = 0
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: soak\r\n\r\n".encode())
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), SILENCE)
        if b" 200 " not in status:
            results[key] = ("refused", status.decode(errors="replace").strip())
            return
        while time.monotonic() < deadline:
            line = await asyncio.wait_for(reader.readline(), min(SILENCE, max(0.1, deadline - time.monotonic() + 1)))
            if not line:
                results[key] = ("ended", lines)
                return
            if line.startswith(b"{"):  # an NDJSON entry or event (not chunk framing, not a keep-alive)
                lines += 1
        writer.close()
        results[key] = ("ok", lines)
    except asyncio.TimeoutError:
        if time.monotonic() >= deadline:
            results[key] = ("ok", lines)
        else:
            results[key] = ("silent", lines)
    except OSError as error:
        results[key] = ("error", f"{error} after {lines} lines")


async def main():
    deadline = time.monotonic() + seconds
    results = {}
    tasks = [follow(f"/container/{prefix}-{k % containers + 1}/log?follow=1&lines=0&format=ndjson", deadline, results, f"log{k}") for k in range(logs)]
    tasks += [follow("/events?follow=1", deadline, results, f"events{k}") for k in range(events)]
    await asyncio.gather(*tasks)
    failed = {key: value for key, value in results.items() if value[0] != "ok"}
    log_lines = sorted(value[1] for key, value in results.items() if key.startswith("log") and value[0] == "ok")
    event_lines = sorted(value[1] for key, value in results.items() if key.startswith("events") and value[0] == "ok")

    def spread(values):
        return f"min {values[0]}, median {values[len(values) // 2]}, max {values[-1]}" if values else "none"

    print(f"streams: {logs} log follows held {seconds:.0f} s, lines each: {spread(log_lines)}; "
          f"{events} event follows, lines each: {spread(event_lines)}; failed: {len(failed)}")
    for key, value in sorted(failed.items())[:10]:
        print(f"  {key}: {value[0]} ({value[1]})")
    sys.exit(1 if failed else 0)


asyncio.run(main())
