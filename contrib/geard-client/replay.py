#!/usr/bin/env python3
"""openshift/geard's command-line client, as it talks to a server: for the integration tests.

Sends each request byte for byte as geard's client (cmd/gear, http/client/client.go; Go's net/http) does: a
fresh X-Request-Id of 22 base64url characters, X-Api-Version: 1, Accept: application/json;stream=true, bodies
chunked (one chunk, from the JSON encoder, with its trailing newline) and no Content-Type; then reads the answer
exactly as its ExecuteRemote does, and prints a verdict as JSON:

    {"ok": true, "status": 202, "output": "PortMapping: 8080 -> 4000\\nContainer web1 is starting\\n"}
    {"ok": false, "status": 404, "error": "..."}

Usage: replay.py HOST:PORT COMMAND ARGS...
    install ID IMAGE [--start] [--ports 8080:0,...] [--env K=V]... [--env-id ID] [--volumes /a,/b:/host:ro]
                     [--links [FROMHOST:]FROMPORT:TOHOST:TOPORT,...] [--set FIELD=JSON]
    start|stop|restart|status|delete ID        list [-a]        purge
    logs ID [--for SECONDS]  (geard's answer streams: read what arrives in SECONDS, default all of it)
    set-env ID K=V...  (PATCH)    reset-env ID K=V...  (PUT)    env ID  (GET)
    link ID,... --net [FROMHOST:]FROMPORT:TOHOST:TOPORT,...
"""
import base64
import json
import os
import socket
import sys


def request_id():
    return base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")


def send(address, method, path, body=None, read_for=None):
    """One request as Go's net/http writes it; answers (status, headers (lower-case names), body bytes). With
    `read_for`, the body is what arrives in that many seconds (an answer that streams)."""
    host, port = address.rsplit(":", 1)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {address}", "User-Agent: Go-http-client/1.1"]
    payload = b""
    if body is not None:
        data = (json.dumps(body, separators=(",", ":")) + "\n").encode()
        lines.append("Transfer-Encoding: chunked")
        payload = b"%x\r\n" % len(data) + data + b"\r\n0\r\n\r\n"
    elif method in ("PUT", "POST", "PATCH"):
        lines.append("Content-Length: 0")
    lines += ["Accept: application/json;stream=true", "X-Api-Version: 1", f"X-Request-Id: {request_id()}", "Accept-Encoding: gzip"]
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
    with socket.create_connection((host, int(port)), timeout=600) as s:
        s.sendall(raw)
        reader = s.makefile("rb")
        status_line = reader.readline().decode()
        status = int(status_line.split()[1])
        headers = {}
        while True:
            line = reader.readline().decode()
            if line in ("\r\n", "\n", ""):
                break
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
        data = b""
        if read_for is not None:
            s.settimeout(read_for)
            try:
                while True:
                    line = reader.readline()
                    if not line:
                        break
                    size = int(line.split(b";")[0].strip(), 16) if headers.get("transfer-encoding", "").lower() == "chunked" else None
                    if size is None:
                        data += line
                        continue
                    if size == 0:
                        break
                    data += reader.read(size)
                    reader.readline()
            except (socket.timeout, TimeoutError, OSError):
                pass
        elif status in (204, 304) or method == "HEAD":
            pass
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int(reader.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    reader.readline()
                    break
                data += reader.read(size)
                reader.readline()
        elif "content-length" in headers:
            data = reader.read(int(headers["content-length"]))
        else:
            data = reader.read()
        return status, headers, data


def parse_port_pairs(text):
    """port.FromPortPairHeader: comma-separated internal:external pairs of integers, no spaces."""
    pairs = []
    for pair in text.split(","):
        parts = pair.split(":")
        if len(parts) != 2:
            raise ValueError(f"The port string '{text}' must be a comma delimited list of pairs <internal>:<external>,...")
        pairs.append((int(parts[0]), int(parts[1])))
    return pairs


def judge(kind, status, headers, data):
    """What ExecuteRemote makes of an answer (http/client/client.go)."""
    is_json = headers.get("content-type") == "application/json"
    verdict = {"status": status, "contentType": headers.get("content-type")}
    if status == 202:
        if is_json:
            return dict(verdict, ok=False, error="Decoding of streaming JSON has not been implemented")
        pending = ""
        if kind == "install" and "x-portmapping" in headers:
            try:
                pairs = parse_port_pairs(headers["x-portmapping"])
            except ValueError as error:
                return dict(verdict, ok=False, error=str(error))
            verdict["ports"] = [list(p) for p in pairs]
            pending = "PortMapping: " + ", ".join(f"{i} -> {e}" for i, e in pairs) + "\n"
        return dict(verdict, ok=True, output=pending + data.decode(errors="replace"))
    if status == 204:
        return dict(verdict, ok=True, output="")
    if 200 <= status < 300:
        if not is_json:
            return dict(verdict, ok=False, error=f"remote: Response with {status} status code had content type {headers.get('content-type')} (should be application/json)")
        if kind != "list":
            return dict(verdict, ok=False, error="Unexpected response body to request")
        try:
            decoded = json.loads(data)
        except ValueError as error:
            return dict(verdict, ok=False, error=str(error))
        # Go's encoding/json matches field names case-insensitively.
        containers = next((v for k, v in decoded.items() if k.lower() == "containers"), None)
        return dict(verdict, ok=True, containers=containers or [])
    if is_json:
        try:
            failure = {k.lower(): v for k, v in json.loads(data).items()}
        except ValueError as error:
            return dict(verdict, ok=False, error=str(error))
        message = failure.get("message") or ""
        if not message and failure.get("error"):
            message = "The server did not respond correctly to the request: " + failure["error"]
        return dict(verdict, ok=False, error=message, failure=failure)
    return dict(verdict, ok=False, error="Unable to decode response.", stderr=data.decode(errors="replace"))


def network_links(spec):
    links = []
    for item in filter(None, spec.split(",")):
        parts = item.split(":")
        if len(parts) == 3:
            parts = ["127.0.0.1"] + parts
        from_host, from_port, to_host, to_port = parts
        link = {"FromHost": from_host, "FromPort": int(from_port)}
        if int(to_port):
            link["ToPort"] = int(to_port)
        if to_host:
            link["ToHost"] = to_host
        links.append(link)
    return links


def install_body(identifier, image, args):
    started, ports, variables, env_id, volumes, links, overrides = False, [], None, "", None, None, {}
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--start":
            started = True
        elif a == "--ports":
            i += 1
            ports = [{"Internal": p[0], **({"External": p[1]} if p[1] else {})} for p in parse_port_pairs(args[i])]
        elif a == "--env":
            i += 1
            name, value = args[i].split("=", 1)
            variables = (variables or []) + [{"Name": name, "Value": value}]
        elif a == "--env-id":
            i += 1
            env_id = args[i]
        elif a == "--volumes":
            i += 1
            vols, mounts = [], []
            for spec in args[i].split(","):
                parts = spec.split(":")
                if len(parts) == 1:
                    vols.append({"Path": parts[0]})
                else:
                    mounts.append({"Path": parts[0], "HostPath": parts[1], "ReadOnly": len(parts) > 2 and parts[2] == "ro"})
            volumes = {"Volumes": vols or None, "VolumeMounts": mounts or None}
        elif a == "--links":
            i += 1
            links = network_links(args[i])
        elif a == "--set":
            # Not the CLI's: a field of the body set to a JSON value, for requests the CLI would not make.
            i += 1
            name, value = args[i].split("=", 1)
            overrides[name] = json.loads(value)
        i += 1
    # The CLI makes an id for inline variables when --env-id is not given (cmd.GenerateId).
    if variables and not env_id:
        env_id = base64.urlsafe_b64encode(os.urandom(6)).decode()
    return {
        "Id": identifier, "Image": image, "Simple": False, "Isolate": False, "SocketActivation": False,
        "SkipSocketProxy": False, "Ports": ports, "Environment": {"Variables": variables, "Source": "", "Id": env_id},
        "NetworkLinks": links, "VolumeConfig": volumes, "Started": started, "SystemdSlice": "container-small",
        **overrides,
    }


def main(argv):
    address, command, args = argv[1], argv[2], argv[3:]
    if command == "install":
        body = install_body(args[0], args[1], args[2:])
        result = judge("install", *send(address, "PUT", f"/container/{args[0]}", body))
    elif command in ("start", "stop"):
        suffix = "started" if command == "start" else "stopped"
        result = judge(command, *send(address, "PUT", f"/container/{args[0]}/{suffix}"))
    elif command == "restart":
        result = judge(command, *send(address, "POST", f"/container/{args[0]}/restart"))
    elif command == "status":
        result = judge(command, *send(address, "GET", f"/container/{args[0]}/status"))
    elif command == "delete":
        result = judge(command, *send(address, "DELETE", f"/container/{args[0]}"))
    elif command == "logs":
        seconds = float(args[args.index("--for") + 1]) if "--for" in args else None
        result = judge(command, *send(address, "GET", f"/container/{args[0]}/log", read_for=seconds))
    elif command == "list":
        result = judge("list", *send(address, "GET", "/containers" + ("?all=1" if "-a" in args else "")))
    elif command == "purge":
        result = judge("purge", *send(address, "DELETE", "/containers"))
    elif command in ("set-env", "reset-env"):
        variables = [{"Name": a.split("=", 1)[0], "Value": a.split("=", 1)[1]} for a in args[1:]]
        body = {"Variables": variables, "Source": "", "Id": args[0]}
        result = judge(command, *send(address, "PATCH" if command == "set-env" else "PUT", f"/environment/{args[0]}", body))
    elif command == "env":
        result = judge("env", *send(address, "GET", f"/environment/{args[0]}"))
    elif command == "link":
        ids = args[0].split(",")
        links = network_links(args[args.index("--net") + 1]) if "--net" in args else []
        body = {"Links": [{"Id": i, "NetworkLinks": links} for i in ids]}
        result = judge("link", *send(address, "POST", "/containers/links", body))
    else:
        raise SystemExit(f"unknown command {command}")
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv)
