"""Peer of the multi-process test (runs in the other namespace): datagrams from many source
ports to one port that several processes serve, each echoed byte-exact; then "QUIT" from
fresh source ports until COUNT... processes have quit (the caller checks who served what).

usage: xdp_spread_peer.py SERVER_IP PORT FLOWS QUITS
"""
import random, socket, sys

ip, port, flows, quits = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(11)

def die(msg):
    print("spread peer: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)

socks = []
for i in range(flows):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    socks.append(s)
for rnd in range(3):  # every flow several times: each is pinned to one process
    for i, s in enumerate(socks):
        payload = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 1400)))
        for _ in range(3):
            s.sendto(payload, (ip, port))
            try:
                data, src = s.recvfrom(65536)
            except socket.timeout:
                continue
            break
        else:
            die(f"flow {i} round {rnd}: no echo")
        if data != payload or src != (ip, port):
            die(f"flow {i} round {rnd}: wrong echo")
print(f"spread peer: {flows} flows x 3 echoed byte-exact")
# QUIT from new source ports: each goes to one process by the flow hash; the caller says
# when all have gone (it kills the rest after its bound)
for i in range(quits):
    q = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    q.sendto(b"QUIT", (ip, port))
    q.close()
