"""Kernel-side peer of the XDP echo test (runs in the other namespace).

usage: xdp_echo_peer.py SERVER_IP ECHO_PORT KERNEL_UDP_PORT KERNEL_TCP_PORT [MALFORMED_SRC_PORT]
(the last: where the malformed datagram's answer would go, 40000; peers running at once
need different ones)

Checks, in order, and exits non-zero with one line on the first failure:
  1. datagrams of many sizes to ECHO_PORT come back byte-exact (served by AF_XDP);
  2. a malformed datagram to ECHO_PORT (length field beyond the packet) is not answered;
  3. the kernel still serves UDP on another port and TCP on the same interface;
  4. the kernel still answers ping;
then sends "QUIT" to ECHO_PORT.
"""
import os, random, socket, struct, subprocess, sys

ip, port, kudp, ktcp = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
mal_port = int(sys.argv[5]) if len(sys.argv) > 5 else 40000
rng = random.Random(7)

def die(msg):
    print("peer: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)

def udp_roundtrip(dst_port, payload, tries=3):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    try:
        for _ in range(tries):
            s.sendto(payload, (ip, dst_port))
            try:
                data, src = s.recvfrom(65536)
            except socket.timeout:
                continue
            return data, src
        return None, None
    finally:
        s.close()

sizes = [0, 1, 2, 3, 7, 8, 64, 100, 512, 1000, 1400, 1472] + [rng.randrange(1, 1472) for _ in range(200)]
for n in sizes:
    payload = bytes(rng.randrange(256) for _ in range(n))
    data, src = udp_roundtrip(port, payload)
    if data is None:
        die(f"no echo for a {n}-byte datagram")
    if data != payload or src != (ip, port):
        die(f"wrong echo for a {n}-byte datagram from {src}")
print(f"peer: {len(sizes)} datagrams echoed byte-exact through AF_XDP")

def kernel_drops():
    """Frames this namespace's interfaces counted as dropped."""
    n = 0
    for dev in os.listdir("/sys/class/net"):
        for f in ("tx_dropped", "rx_dropped"):
            with open(f"/sys/class/net/{dev}/statistics/{f}") as fh:
                n += int(fh.read())
    return n

def burst_die(msg):
    """A lost echo: QUIT first, so the echo program prints its counters (redirected by the
    hook, echoed, tx drops) and the failure shows where the datagrams went."""
    q = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    q.sendto(b"QUIT", (ip, port))
    q.close()
    die(f"{msg} (frames the kernel dropped on this side meanwhile: {kernel_drops() - drops_before})")

# bursts: many datagrams in flight at once (batches, ring wrap-around, tx kicks)
drops_before = kernel_drops()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE: room for a whole burst
s.settimeout(3.0)
total = 0
for burst in range(8):
    want = {}
    for i in range(256):
        payload = struct.pack("!II", burst, i) + bytes(rng.randrange(256) for _ in range(rng.randrange(0, 1200)))
        want[payload[:8]] = payload
        s.sendto(payload, (ip, port))
    while want:
        try:
            data, _ = s.recvfrom(65536)
        except socket.timeout:
            burst_die(f"burst {burst}: {len(want)} of 256 echoes missing")
        if want.pop(data[:8], None) != data:
            burst_die(f"burst {burst}: wrong or duplicate echo")
    total += 256
s.close()
print(f"peer: {total} datagrams in bursts of 256 echoed byte-exact")

# malformed: UDP length field says 200 but only 12 bytes follow the header
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
raw.sendto(struct.pack("!HHHH", mal_port, port, 200, 0) + b"malformed!!!", (ip, 0))
raw.close()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", mal_port))
s.settimeout(0.5)
try:
    s.recvfrom(2048)
    die("a malformed datagram was answered")
except socket.timeout:
    pass
s.close()
print("peer: malformed datagram dropped")

data, _ = udp_roundtrip(kudp, b"kernel udp")
if data != b"kernel udp":
    die("kernel UDP echo on another port does not work")
t = socket.create_connection((ip, ktcp), timeout=3)
blob = os.urandom(60000)  # fits the socket buffers: no reader thread needed
t.sendall(blob)
t.shutdown(socket.SHUT_WR)
got = b""
while True:
    chunk = t.recv(65536)
    if not chunk:
        break
    got += chunk
t.close()
if got != blob:
    die("kernel TCP echo on the same interface does not work")
print("peer: kernel UDP and TCP on the same interface still work")

if subprocess.run(["ping", "-c", "2", "-i", "0.2", "-W", "2", ip], stdout=subprocess.DEVNULL).returncode:
    die("ping to the interface fails")
print("peer: ping works")

q = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
q.sendto(b"QUIT", (ip, port))
q.close()
