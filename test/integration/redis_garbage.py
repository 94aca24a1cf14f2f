#!/usr/bin/env python3
"""A Redis that answers garbage (issue 16 "bad input"), for test_respond.sh and
test_redis_publish.sh: a TCP proxy on 127.0.0.1:PORT in front of the real Redis on
UPSTREAM_PORT. The file MODE_FILE says what it does with a request that names MATCH (a byte
string, e.g. "ocsp:"; "*" = every request):
  pass       forward it (also when the file is missing or empty)
  malformed  answer a reply that is not RESP ("?garbage\\r\\n")
  truncated  answer the start of a bulk string and close the connection mid-reply
  oversized  declare a 1 GiB bulk string, send 64 KiB of it and stall (the client's timeout)
  flood      declare a 1 GiB bulk string and send all of it, as fast as the client reads
Everything else goes through unchanged.
  python3 redis_garbage.py PORT UPSTREAM_PORT MODE_FILE MATCH
"""
import socket
import sys
import threading

PORT, UPSTREAM, MODE_FILE, MATCH = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]


def mode():
    try:
        with open(MODE_FILE) as f:
            return f.read().strip() or "pass"
    except OSError:
        return "pass"


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def serve(client):
    try:
        up = socket.create_connection(("127.0.0.1", UPSTREAM))
    except OSError:
        client.close()
        return
    threading.Thread(target=pump, args=(up, client), daemon=True).start()
    try:
        while True:
            data = client.recv(65536)
            if not data:
                break
            m = mode()
            if m == "pass" or (MATCH != "*" and MATCH.encode() not in data):
                up.sendall(data)
                continue
            if m == "malformed":
                client.sendall(b"?garbage\r\n")
            elif m == "truncated":
                client.sendall(b"$1500\r\n0\x82\x05")
                break
            elif m == "oversized":
                client.sendall(b"$1073741824\r\n" + b"\0" * 65536)
                threading.Event().wait(5)
                break
            elif m == "flood":
                client.sendall(b"$1073741824\r\n")
                chunk = b"\0" * (1 << 20)
                for _ in range(1024):
                    client.sendall(chunk)
                break
    except OSError:
        pass
    for s in (client, up):
        try:
            s.close()
        except OSError:
            pass


def main():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", PORT))
    srv.listen(64)
    while True:
        client, _ = srv.accept()
        threading.Thread(target=serve, args=(client,), daemon=True).start()


main()
