"""Kernel client of test_fork.sh part 5 (a server process holds connections in its accept queue
and closes its listener while another process listens on): opens N connections and sends a
line on each; those that reached the holding process get no echo (it never accepts). After
1 s it creates GOFILE (the holder closes its listener) and waits for every echo: each
connection must be echoed byte-exact, none reset or ended.

usage: handoff_client.py IP PORT N GOFILE
"""
import select, socket, sys, time

ip, port, n, gofile = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
conns, want, got = [], {}, {}
for i in range(n):
    c = socket.create_connection((ip, port), timeout=5)
    c.setblocking(False)
    line = b"connection %d says hello\n" % i
    c.send(line)
    conns.append(c)
    want[c] = line
    got[c] = b""


def read_until(deadline):
    while time.monotonic() < deadline:
        waiting = [c for c in conns if got[c] != want[c]]
        if not waiting:
            return
        ready, _, _ = select.select(waiting, [], [], max(0.0, deadline - time.monotonic()))
        for c in ready:
            try:
                chunk = c.recv(4096)
            except ConnectionResetError:
                sys.exit(f"handoff client: connection {conns.index(c)} reset")
            if not chunk:
                sys.exit(f"handoff client: connection {conns.index(c)} ended without its echo")
            got[c] += chunk
            if not want[c].startswith(got[c]):
                sys.exit(f"handoff client: connection {conns.index(c)}: the echo differs")


read_until(time.monotonic() + 1.0)
held = sum(1 for c in conns if got[c] != want[c])
if held == 0:
    sys.exit(f"handoff client: all {n} echoed at once: none waited in the holder's queue")
open(gofile, "w").close()
read_until(time.monotonic() + 10.0)
late = [conns.index(c) for c in conns if got[c] != want[c]]
if late:
    sys.exit(f"handoff client: connections {late} not echoed 10 s after the listener's close")
print(f"{n} connections: {n - held} echoed at once, {held} waited in the closing "
      f"listener's queue and were echoed after its close")
