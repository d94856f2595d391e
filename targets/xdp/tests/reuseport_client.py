"""Kernel client of the SO_REUSEPORT test: COUNT connections to IP:PORT one after another,
each sending random bytes, half-closing and checking the echo byte-exact.

usage: reuseport_client.py IP PORT COUNT
"""
import os, socket, sys

ip, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(count):
    blob = os.urandom(1000 + 997 * i % 50000)
    c = socket.create_connection((ip, port), timeout=10)
    c.sendall(blob)
    c.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        chunk = c.recv(65536)
        if not chunk:
            break
        got += chunk
    c.close()
    if got != blob:
        print(f"reuseport client: FAIL: connection {i}: {len(got)} of {len(blob)} bytes back, or different", file=sys.stderr)
        sys.exit(1)
print(f"reuseport client: {count} connections echoed byte-exact")
