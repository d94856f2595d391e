"""Kernel TCP end of the MTP tests and demo: sends a file and receives into another, both at
once, half-closing after the last byte sent; done when both directions are finished.

usage: kernel_tcp.py serve PORT SEND_FILE RECV_FILE      (one connection, then exit)
       kernel_tcp.py connect HOST PORT SEND_FILE RECV_FILE
Prints one line: bytes sent and received. Gives up after MTP_TEST_TIMEOUT seconds (120)."""
import os, socket, sys, threading

def pump(sock, send_path, recv_path):
    err = []
    def sender():
        try:
            with open(send_path, "rb") as f:
                while True:
                    chunk = f.read(1 << 16)
                    if not chunk:
                        break
                    sock.sendall(chunk)
            sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            err.append(e)
    t = threading.Thread(target=sender)
    t.start()
    got = 0
    with open(recv_path, "wb") as out:
        while True:
            chunk = sock.recv(1 << 16)
            if not chunk:
                break
            out.write(chunk)
            got += len(chunk)
    t.join()
    if err:
        raise err[0]
    return os.path.getsize(send_path), got

timeout = float(os.environ.get("MTP_TEST_TIMEOUT", "120"))
if sys.argv[1] == "serve":
    port, send_path, recv_path = int(sys.argv[2]), sys.argv[3], sys.argv[4]
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(1)
    ls.settimeout(timeout)
    s, _ = ls.accept()
    ls.close()
else:
    host, port, send_path, recv_path = sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
    s = socket.create_connection((host, port), timeout=timeout)
s.settimeout(timeout)
sent, got = pump(s, send_path, recv_path)
s.close()
print(f"kernel tcp: sent {sent} bytes, received {got} bytes")
