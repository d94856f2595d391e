"""A SO_REUSEPORT TCP echo server for the multi-process test (run under libmtp.so): listens on
PORT, echoes every connection until its peer half-closes, and writes the number of
connections it served to OUT_FILE after each one. Stops after SECONDS.

usage: reuseport_server.py PORT OUT_FILE SECONDS
"""
import socket, sys, time

port, out, secs = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.bind(("0.0.0.0", port))
s.listen(64)
s.settimeout(0.5)
served, end = 0, time.time() + secs
with open(out, "w") as f:
    f.write("0\n")
while time.time() < end:
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    c.settimeout(10)
    while True:
        data = c.recv(65536)
        if not data:
            break
        c.sendall(data)
    c.close()
    served += 1
    with open(out, "w") as f:
        f.write(f"{served}\n")
