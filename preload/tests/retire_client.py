"""Kernel client of test_fork.sh part 4 (a server process closes its listener while this
connection lives; another process listens on): from local port SPORT, echoes 1,000 random
bytes every 20 ms, byte-exact, until STOPFILE exists; then waits for the server to close
first (its end of the connection then lingers in TIME_WAIT), closes, and at once connects
again from the same local port: that new connection must be served (echoed), not reset.

usage: retire_client.py IP PORT SPORT STOPFILE
"""
import errno, os, socket, sys, time

ip, port, sport, stopfile = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]


def connect():
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    c.bind(("", sport))
    c.settimeout(10)
    c.connect((ip, port))
    return c


def echo(c, n=1000):
    blob = os.urandom(n)
    c.sendall(blob)
    got = b""
    while len(got) < n:
        chunk = c.recv(n - len(got))
        if not chunk:
            sys.exit(f"retire client: end of stream after {len(got)} of {n} echoed bytes")
        got += chunk
    if got != blob:
        sys.exit("retire client: the echo differs")


c = connect()
rounds = 0
while not os.path.exists(stopfile):
    echo(c)
    rounds += 1
    if rounds == 1:
        print("echoing", flush=True)
    time.sleep(0.02)
if c.recv(1):
    sys.exit("retire client: bytes after the last echo")
c.close()
print(f"retire client: {rounds} echoes byte-exact, then the server closed first", flush=True)
for attempt in range(50):  # until our end's LAST_ACK is through (the server's ACK)
    try:
        c = connect()
        break
    except OSError as e:
        if e.errno != errno.EADDRNOTAVAIL:
            raise
        time.sleep(0.01)
else:
    sys.exit("retire client: the local port stayed in use")
echo(c)
c.shutdown(socket.SHUT_WR)
if c.recv(1):
    sys.exit("retire client: bytes after the echo")
c.close()
print("retire client: the next connection from the same port was served", flush=True)
