#!/usr/bin/env python3
"""memcached client for test_libmtp.sh: N threads, each with its own connection, set then get
300 keys of varying sizes and check every value. Exit status 1 on any error."""
import socket
import sys
import threading

ip, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
errors = []


def worker(k):
    try:
        s = socket.create_connection((ip, port), timeout=20)
        f = s.makefile('rb')
        for i in range(300):
            v = (b'%d-' % k) * (i % 50 + 1)
            s.sendall(b'set k%d_%d 0 0 %d\r\n%s\r\n' % (k, i, len(v), v))
            if f.readline() != b'STORED\r\n':
                errors.append('set k%d_%d' % (k, i))
            s.sendall(b'get k%d_%d\r\n' % (k, i))
            f.readline()
            if f.readline()[:-2] != v or f.readline() != b'END\r\n':
                errors.append('get k%d_%d' % (k, i))
        s.close()
    except Exception as ex:  # a timeout or a reset is an error of the run
        errors.append(repr(ex))


threads = [threading.Thread(target=worker, args=(k,)) for k in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print('memcached: %d clients x 300 set+get, %d errors %s' % (n, len(errors), errors[:3]))
sys.exit(1 if errors else 0)
