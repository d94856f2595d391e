"""Kernel echo servers for the target tests: UDP and TCP echo on PORT (TCP: one connection
at a time, echo until the client half-closes). usage: kernel_echo.py udp|tcp PORT"""
import socket, sys

kind, port = sys.argv[1], int(sys.argv[2])
if kind == "udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    while True:
        data, src = s.recvfrom(65536)
        s.sendto(data, src)
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(8)
    while True:
        c, _ = s.accept()
        while True:
            data = c.recv(65536)
            if not data:
                break
            c.sendall(data)
        c.close()
