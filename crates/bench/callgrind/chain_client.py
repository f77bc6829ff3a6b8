#!/usr/bin/env python3
"""Sends GET /pets through airlock's whole chain over one keep-alive HTTP/1.1 connection, with
callgrind's counters zeroed after the warm-up and dumped after the measured requests.

Used by trace_cost.sh (see docs/PERFORMANCE.md, "What tracing costs"); standard library only.
Every response must be a 200: a refused request costs less than a served one and would make the
figure lie.
"""
import argparse
import json
import socket
import ssl
import subprocess
import sys


def read_response(f):
    """Reads one response from the buffered file `f`; returns its status."""
    status_line = f.readline()
    if not status_line:
        raise ConnectionError("connection closed before a response")
    status = int(status_line.split()[1])
    length = None
    chunked = False
    while True:
        line = f.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int(f.readline().split(b";")[0], 16)
            f.read(size + 2)
            if size == 0:
                break
    elif length:
        f.read(length)
    return status


def callgrind_control(flag, pid):
    subprocess.run(["callgrind_control", flag, str(pid)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--endpoints", required=True, help="the file airlock's --endpoints-json wrote")
    p.add_argument("--token", required=True, help="a bearer token (airlock token --scope pets/read)")
    p.add_argument("--pid", type=int, required=True, help="the callgrind-run airlock's pid")
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--path", default="/pets")
    args = p.parse_args()

    with open(args.endpoints) as f:
        endpoints = json.load(f)
    host, port = endpoints["gateway"].rsplit(":", 1)
    domains = endpoints["custom_domains"]
    domain = next(iter(domains.values())) if isinstance(domains, dict) else domains[0]

    ctx = ssl.create_default_context(cafile=endpoints["ca_cert"])
    ctx.set_alpn_protocols(["http/1.1"])
    sock = socket.create_connection((host.strip("[]"), int(port)))
    tls = ctx.wrap_socket(sock, server_hostname=domain)
    reader = tls.makefile("rb")
    request = (f"GET {args.path} HTTP/1.1\r\nHost: {domain}\r\n"
               f"Authorization: Bearer {args.token}\r\n\r\n").encode()

    def send(n):
        for _ in range(n):
            tls.sendall(request)
            status = read_response(reader)
            if status != 200:
                sys.exit(f"the chain answered {status}, not 200")

    send(args.warmup)
    callgrind_control("-z", args.pid)
    send(args.requests)
    callgrind_control("-d", args.pid)
    tls.close()


if __name__ == "__main__":
    main()
