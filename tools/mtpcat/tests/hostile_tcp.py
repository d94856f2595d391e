"""An attacker on the link: hostile traffic against `mtpcat -l -k PORT` (tcp.mtp on the XDP
target in namespace A), sent from namespace B with plain AF_PACKET sockets, while kernel TCP
clients of B move data that must arrive byte-exact. Run by hostile_tcp.sh.

usage: hostile_tcp.py attacks DEV MAC_B MAC_A IP_B IP_A PORT MTPCAT_PID SPOOF_NET WORKDIR
       hostile_tcp.py slow DEV MAC_B MAC_A IP_B IP_A PORT MTPCAT_PID SPOOF_NET WORKDIR FILE

attacks: against mtpcat -l -k PORT (stdin /dev/null); writes WORKDIR/expected, what mtpcat
must print, connection after connection. slow: against mtpcat -l PORT sending FILE.
Prints one line per attack: what was sent and what the stack did. Exit status 1 on the first
failure (one line saying which)."""
import errno, os, random, socket, struct, sys, threading, time

MODE, DEV, MAC_B, MAC_A, IP_B, IP_A = sys.argv[1:7]
PORT, MTPCAT_PID = int(sys.argv[7]), int(sys.argv[8])
SPOOF_NET, WORK = sys.argv[9], sys.argv[10]
SPOOF_PREFIX = SPOOF_NET.rsplit(".", 1)[0] + "."
SPOOF_N = int(os.environ.get("SPOOF_N", "150"))   # sources 100 .. 100 + SPOOF_N - 1
INJECTED_ID = 0xBEEF          # IP id of every forged packet: the sniffer leaves them out
ACK, PSH, RST, SYN, FIN, URG = 0x10, 0x08, 0x04, 0x02, 0x01, 0x20
rng = random.Random(9)
expected = open(os.path.join(WORK, "expected"), "wb") if MODE == "attacks" else None


def fail(msg):
    print(f"hostile_tcp.py: FAIL: {msg}", flush=True)
    os._exit(1)


def say(msg):
    print(f"hostile_tcp.py: {msg}", flush=True)

# ------------------------------------------------------------------ packets


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


def ip4(s):
    return socket.inet_aton(s)


def ts_opt(tsval, tsecr):
    return b"\x01\x01\x08\x0a" + struct.pack("!II", tsval & 0xffffffff, tsecr & 0xffffffff)


def tcp(src, dst, sport, dport, seq, ack, flags, win=4096, opts=b"", data=b"", doff=None,
        bad_csum=False, urg=0):
    opts += b"\0" * (-len(opts) % 4)
    off = doff if doff is not None else (20 + len(opts)) // 4
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xffffffff, ack & 0xffffffff,
                      (off & 0xf) << 4, flags, win, 0, urg) + opts
    seg = hdr + data
    c = csum(ip4(src) + ip4(dst) + struct.pack("!BBH", 0, 6, len(seg)) + seg)
    if bad_csum:
        c ^= 0x1234
    return seg[:16] + struct.pack("!H", c) + seg[18:]


def ip(src, dst, payload, proto=6, ihl=5, total=None, frag=0, ttl=64, version=4,
       bad_csum=False, ip_opts=b""):
    total = total if total is not None else ihl * 4 + len(payload)
    hdr = struct.pack("!BBHHHBBH4s4s", (version << 4) | (ihl & 0xf), 0, total & 0xffff,
                      INJECTED_ID, frag, ttl, proto, 0, ip4(src), ip4(dst)) + ip_opts
    c = csum(hdr) ^ (0x4321 if bad_csum else 0)
    return hdr[:10] + struct.pack("!H", c) + hdr[12:] + payload


class Wire:
    """Sends raw Ethernet frames on DEV; sniffs the connections of IP_A:PORT."""

    def __init__(self):
        self.tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        self.tx.bind((DEV, 0))
        self.eth = mac(MAC_A) + mac(MAC_B) + b"\x08\x00"
        # ETH_P_ALL: a socket bound to one protocol does not see outgoing frames
        self.rx = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0003))
        self.rx.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)   # SO_RCVBUFFORCE: miss nothing
        self.rx.bind((DEV, 0))
        self.lock = threading.Lock()
        self.flows = {}     # client port -> state dict
        self.a_pkts = []    # (time, client port, flags, payload length) sent by A
        self.spoof_synacks = 0
        threading.Thread(target=self.sniff, daemon=True).start()

    def send(self, frame_payload, raw=False):
        frame = frame_payload if raw else self.eth + frame_payload
        for _ in range(1000):   # the device queue may be full for a moment: wait, resend
            try:
                self.tx.send(frame)
                return
            except OSError as e:
                if e.errno != errno.ENOBUFS:
                    raise
                time.sleep(0.001)
        fail("the attacker's device queue stayed full")

    def sniff(self):
        while True:
            pkt, addr = self.rx.recvfrom(65536)
            if addr[1] != 0x0800 or len(pkt) < 40 or pkt[9] != 6 or struct.unpack("!H", pkt[4:6])[0] == INJECTED_ID:
                continue
            ihl = (pkt[0] & 0xf) * 4
            tot = struct.unpack("!H", pkt[2:4])[0]
            t = pkt[ihl:tot]
            if len(t) < 20:
                continue
            sport, dport, seq, ack, off, flags, win = struct.unpack("!HHIIBBH", t[:16])
            hl = (off >> 4) * 4
            dlen = len(t) - hl
            tsval = tsecr = None
            o = t[20:hl]
            i = 0
            while i < len(o):
                if o[i] == 0:
                    break
                if o[i] == 1:
                    i += 1
                    continue
                if i + 1 >= len(o) or o[i + 1] < 2:
                    break
                if o[i] == 8 and o[i + 1] == 10:
                    tsval, tsecr = struct.unpack("!II", o[i + 2:i + 10])
                i += o[i + 1]
            src, dst = socket.inet_ntoa(pkt[12:16]), socket.inet_ntoa(pkt[16:20])
            now = time.monotonic()
            with self.lock:
                if src == IP_A and dst.startswith(SPOOF_PREFIX) and flags & SYN:
                    self.spoof_synacks += 1
                if src == IP_B and dst == IP_A and dport == PORT:
                    f = self.flows.setdefault(sport, {})
                    end = (seq + dlen + (1 if flags & (SYN | FIN) else 0)) & 0xffffffff
                    if "b_end" not in f or (end - f["b_end"]) & 0xffffffff < 0x80000000:
                        f["b_end"] = end
                    f["b_ack"] = ack
                    if tsval is not None:
                        f["b_tsval"] = tsval
                elif src == IP_A and dst == IP_B and sport == PORT:
                    f = self.flows.setdefault(dport, {})
                    f["a_ack"], f["a_win"] = ack, win
                    end = (seq + dlen + (1 if flags & (SYN | FIN) else 0)) & 0xffffffff
                    if "a_max" not in f or (end - f["a_max"]) & 0xffffffff < 0x80000000:
                        f["a_max"] = end
                    if tsval is not None:
                        f["a_tsval"] = tsval
                    f["a_last"] = now
                    self.a_pkts.append((now, dport, flags, dlen))

    def flow(self, cport):
        with self.lock:
            return dict(self.flows.get(cport, {}))

    def a_packets(self, cport, since):
        with self.lock:
            return [p for p in self.a_pkts if p[1] == cport and p[0] >= since]


wire = Wire()


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def alive():
    try:
        os.kill(MTPCAT_PID, 0)
        return True
    except OSError:
        return False

# ------------------------------------------------------------------ the legitimate client


class Transfer:
    """A kernel TCP client sending `size` bytes to mtpcat -k (paced, so attacks land while it
    runs), then half-closing and waiting for mtpcat's end of stream."""

    def __init__(self, size, name, rate=12 << 20):
        self.data = os.urandom(size)
        self.name, self.rate = name, rate
        self.go = threading.Event()
        self.go.set()
        self.err = None
        self.sent = 0
        self.s = socket.create_connection((IP_A, PORT), timeout=30)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.port = self.s.getsockname()[1]
        expected.write(self.data)
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()
        for _ in range(500):    # until the sniffer knows both directions
            f = wire.flow(self.port)
            if "a_ack" in f and "b_end" in f:
                break
            time.sleep(0.01)

    def run(self):
        try:
            chunk = 32768
            start = time.monotonic()
            while self.sent < len(self.data):
                self.go.wait()
                self.s.sendall(self.data[self.sent:self.sent + chunk])
                self.sent += min(chunk, len(self.data) - self.sent)
                ahead = self.sent / self.rate - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
            self.s.shutdown(socket.SHUT_WR)
            while self.s.recv(65536):
                pass
        except OSError as e:
            self.err = e

    def pause(self):
        """Stops sending and waits until mtpcat acknowledged every byte and went quiet: its
        RCV.NXT is then exactly the flow's b_end."""
        self.go.clear()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            f = wire.flow(self.port)
            if ("b_end" in f and f.get("a_ack") == f["b_end"]
                    and time.monotonic() - f.get("a_last", 0) > 0.1):
                return f
            time.sleep(0.02)
        fail(f"{self.name}: the connection did not go quiet: {wire.flow(self.port)}, "
             f"{self.sent} bytes sent")

    def resume(self):
        self.go.set()

    def running(self):
        return self.t.is_alive()

    def finish(self, what):
        self.go.set()
        self.t.join(60)
        if self.t.is_alive():
            fail(f"{what}: the transfer stalled ({self.sent}/{len(self.data)} bytes sent)")
        if self.err:
            fail(f"{what}: the transfer failed: {self.err!r}")
        if not alive():
            fail(f"{what}: mtpcat died")
        self.s.close()


def forge(cport, seq, ack, flags, **kw):
    return ip(IP_B, IP_A, tcp(IP_B, IP_A, cport, PORT, seq, ack, flags, **kw))


def quiet_count(t, f, packets, what):
    """Injects `packets` into a paused connection within ~0.3 s; returns how many segments
    mtpcat answered with. The limit: one per 500 ms (RFC 5961 7, per connection), plus one
    for a window update the reading application may cause meanwhile."""
    since = time.monotonic()
    for p in packets:
        wire.send(p)
        time.sleep(0.3 / len(packets))
    time.sleep(0.2)
    took = time.monotonic() - since
    n = len(wire.a_packets(t.port, since))
    limit = 2 + int(took / 0.5)
    if n > limit:
        print([(round(p[0] - since, 3), p[2], p[3]) for p in wire.a_packets(t.port, since)][:20],
              wire.flow(t.port), f)
        fail(f"{what}: {len(packets)} forged segments in {took:.2f} s drew {n} answers "
             f"(limit {limit})")
    return n


# ------------------------------------------------------------------ attacks


def spoofed_syns(n):
    frames = []
    for i in range(n):
        src = f"{SPOOF_PREFIX}{100 + i % SPOOF_N}"
        o = struct.pack("!BBH", 2, 4, 1460) + b"\x04\x02" + ts_opt(rng.getrandbits(32), 0) + \
            b"\x01\x03\x03\x07"
        frames.append(ip(src, IP_A, tcp(src, IP_A, 1024 + rng.randrange(60000), PORT,
                                        rng.getrandbits(32), 0, SYN, 64240, opts=o)))
    return frames


def syn_flood():
    t = Transfer(6 << 20, "flood")
    frames = spoofed_syns(20000)
    start = time.monotonic()
    for fr in frames:
        wire.send(fr)
    flood_s = time.monotonic() - start
    # until the stack answered what reached it (a CPU-bound backlog is not the point here:
    # the SYN queue is, which used to stay full of spoofed entries for two minutes)
    seen, stable = -1, time.monotonic()
    while time.monotonic() - stable < 0.2 and time.monotonic() - start < 10:
        if wire.spoof_synacks != seen:
            seen, stable = wire.spoof_synacks, time.monotonic()
        time.sleep(0.02)
    # then a legitimate client, while spoofed SYNs keep coming at 2000 a second
    more = spoofed_syns(2000)
    stop = threading.Event()

    def trickle():
        for k, fr in enumerate(more):
            if stop.is_set():
                return
            wire.send(fr)
            if k % 20 == 19:
                time.sleep(0.01)
    bg = threading.Thread(target=trickle, daemon=True)
    bg.start()
    c0 = time.monotonic()
    try:
        legit = socket.create_connection((IP_A, PORT), timeout=1.0)
    except OSError as e:
        fail(f"SYN flood: a legitimate connect failed within 1 s: {e!r} ({wire.spoof_synacks} "
             f"SYN-ACKs to the spoofed addresses seen)")
    took = time.monotonic() - c0
    stop.set()
    bg.join()
    if took > 1.0:
        fail(f"SYN flood: a legitimate connect took {took:.2f} s")
    msg = os.urandom(65536)
    legit.sendall(msg)
    legit.shutdown(socket.SHUT_WR)
    t.finish("SYN flood")
    expected.write(msg)
    legit.settimeout(30)
    while legit.recv(65536):
        pass
    legit.close()
    say(f"SYN flood: 20000 spoofed SYNs from {SPOOF_N} on-link addresses in {flood_s:.2f} s "
        f"during a 6 MB transfer ({seen} SYN-ACKs seen, retransmissions included); then, with "
        f"2000 more a second, a legitimate connect completed in {took * 1000:.0f} ms (the SYN "
        f"queue full of spoofed entries); its 64 KB and the transfer arrived byte-exact")


def full_accept_queue():
    t = Transfer(4 << 20, "accept queue")
    idle = []
    for i in range(24):     # mtpcat serves one connection at a time: these wait in the queue
        try:
            idle.append(socket.create_connection((IP_A, PORT), timeout=0.5))
        except OSError:
            pass
    t.finish("full accept queue")
    for s in idle:           # each is served in turn: it ends at once, with no byte
        s.shutdown(socket.SHUT_WR)
    for s in idle:
        s.settimeout(30)
        try:
            while s.recv(65536):
                pass
        except OSError as e:
            fail(f"full accept queue: a queued connection failed: {e!r}")
        s.close()
    say(f"full accept queue: 24 extra connections ({len(idle)} got through the handshake, "
        f"the rest waited on SYN retransmission) while a 4 MB transfer was served byte-exact")


def rst_injection():
    t = Transfer(6 << 20, "rst")
    time.sleep(0.1)
    f = wire.flow(t.port)
    for i in range(300):     # out of the window, while data flows: dropped without a word
        wire.send(forge(t.port, f["a_ack"] + (1 << 30) + rng.randrange(1 << 20), f["a_max"], RST))
    f = t.pause()
    rcv_nxt, snd_nxt = f["a_ack"], f["a_max"]
    pk = [forge(t.port, rcv_nxt + 1 + rng.randrange(60000), snd_nxt, RST) for _ in range(300)]
    pk += [forge(t.port, rcv_nxt + 1 + rng.randrange(60000), snd_nxt, RST | ACK)
           for _ in range(100)]
    n = quiet_count(t, f, pk, "in-window RST")
    t.resume()
    t.finish("RST injection")
    say(f"blind RST: 300 out of the window during the transfer (ignored); 400 in the window "
        f"but not at RCV.NXT in ~0.3 s: {n} challenge ACK(s) (RFC 5961 3.2 + 7), connection "
        f"alive, byte-exact")


def syn_injection():
    t = Transfer(6 << 20, "syn")
    time.sleep(0.1)
    for i in range(300):     # in and out of the window, while data flows
        f = wire.flow(t.port)
        off = rng.randrange(60000) if i % 2 else (1 << 30) + rng.randrange(1 << 20)
        wire.send(forge(t.port, f["a_ack"] + off, 0, SYN, opts=struct.pack("!BBH", 2, 4, 536)))
    f = t.pause()
    pk = [forge(t.port, f["a_ack"] + rng.randrange(60000), 0, SYN) for _ in range(300)]
    n = quiet_count(t, f, pk, "SYN storm")
    t.resume()
    t.finish("SYN injection")
    say(f"blind SYN: 300 in/out of the window during the transfer, 300 more in ~0.3 s on the "
        f"quiet connection: {n} challenge ACK(s) (RFC 5961 4.2 + 7), connection alive, "
        f"byte-exact")


def data_and_ack_injection():
    t = Transfer(8 << 20, "data")
    time.sleep(0.1)
    junk = b"\xee" * 1000
    kinds = {}
    for i in range(600):
        f = wire.flow(t.port)
        rcv, snd = f["a_ack"], f["a_max"]
        k = i % 6
        if k == 0:   # data beyond the window
            p = forge(t.port, rcv + (1 << 30), snd, ACK | PSH, data=junk)
        elif k == 1:  # data the receiver already has, other bytes
            p = forge(t.port, rcv - 3000, snd, ACK | PSH, data=junk)
        elif k == 2:  # in the window, acknowledging data never sent (RFC 5961 5.2)
            p = forge(t.port, rcv + 2000, snd + 100000, ACK | PSH, data=junk)
        elif k == 3:  # in the window, an ACK far too old
            p = forge(t.port, rcv + 2000, snd - (1 << 30), ACK | PSH, data=junk)
        elif k == 4:  # in the window, no ACK flag
            p = forge(t.port, rcv + 2000, 0, PSH, data=junk)
        else:         # pure ACKs: never sent, too old
            p = forge(t.port, rcv, snd + (1 << 20) if i % 12 < 6 else snd - (1 << 30), ACK)
        kinds[k] = kinds.get(k, 0) + 1
        wire.send(p)
        if i % 50 == 0:
            time.sleep(0.01)
    f = t.pause()
    pk = [forge(t.port, f["a_ack"] + rng.randrange(30000), f["a_max"] + 50000, ACK)
          for _ in range(300)]
    n = quiet_count(t, f, pk, "ACK of unsent data")
    t.resume()
    t.finish("data and ACK injection")
    say(f"blind data/ACK: 600 segments during the transfer (1000 junk bytes beyond the window, "
        f"over bytes already received, in the window with an ACK of unsent data, with an ACK "
        f"too old, without ACK; pure ACKs unsent/too old): no junk byte in the stream; 300 "
        f"ACKs of unsent data on the quiet connection drew {n} challenge ACK(s)")


def timestamp_poisoning():
    t = Transfer(6 << 20, "ts")
    time.sleep(0.15)
    f = t.pause()
    # the segment: seq exactly RCV.NXT, an ACK of data never sent, TSval 2^30 ahead
    evil = forge(t.port, f["a_ack"], f["a_max"] + 100000, ACK,
                 opts=ts_opt(f["b_tsval"] + (1 << 30), f.get("a_tsval", 0)))
    for _ in range(3):
        wire.send(evil)
    time.sleep(0.1)
    t.resume()
    t.finish("timestamp poisoning")
    say("timestamp poisoning: a segment at exactly RCV.NXT acknowledging unsent data with "
        "TSval 2^30 ahead (RFC 5961 5.2 / RFC 7323 4.3): refused before TS.Recent was touched; "
        "the transfer resumed and finished byte-exact")


def malformed():
    t = Transfer(8 << 20, "malformed")
    time.sleep(0.1)
    junk = b"\xdd" * 600
    cases = []

    def add(name, make):
        cases.append((name, make))
    P = t.port
    add("TCP data offset 2", lambda r, s: forge(P, r, s, ACK, data=junk, doff=2))
    add("TCP data offset 15 past the segment", lambda r, s: forge(P, r, s, ACK, doff=15))
    add("TCP header cut at 12 bytes", lambda r, s: ip(IP_B, IP_A, tcp(IP_B, IP_A, P, PORT, r, s, ACK)[:12]))
    add("bad TCP checksum, data at RCV.NXT", lambda r, s: forge(P, r, s, ACK | PSH, data=junk, bad_csum=True))
    add("option length 0", lambda r, s: forge(P, r, s, ACK, opts=b"\x02\x00\x05\xb4"))
    add("option length 1", lambda r, s: forge(P, r, s, ACK, opts=b"\x08\x01\x00\x00"))
    add("option past the header", lambda r, s: forge(P, r, s, ACK, opts=b"\x08\x28\x00\x00"))
    add("MSS option length 3", lambda r, s: forge(P, r, s, ACK, opts=b"\x02\x03\x05\x00"))
    add("TS option length 6", lambda r, s: forge(P, r, s, ACK, opts=b"\x08\x06\x00\x00\x00\x01\x00\x00"))
    add("SACK option length 2", lambda r, s: forge(P, r, s, ACK, opts=b"\x05\x02\x00\x00"))
    add("SACK option length 11", lambda r, s: forge(P, r, s, ACK, opts=b"\x05\x0b" + b"\x7f" * 9 + b"\0"))
    add("SACK blocks of unsent data", lambda r, s: forge(P, r, s, ACK, opts=b"\x01\x01\x05\x12" +
        struct.pack("!IIII", *((v) & 0xffffffff for v in (s + 5000, s + 9000, s - 9000, s + (1 << 31)))) + b"\0\0"))
    add("40 bytes of NOPs", lambda r, s: forge(P, r, s, ACK, opts=b"\x01" * 40))
    add("unknown option kinds", lambda r, s: forge(P, r, s, ACK, opts=b"\xfe\x06abcd\x99\x02"))
    add("SYN+FIN", lambda r, s: forge(P, r, s, SYN | FIN))
    add("SYN+RST", lambda r, s: forge(P, r + 7, s, SYN | RST))
    add("FIN+RST+PSH+URG (xmas)", lambda r, s: forge(P, r + 9, s, FIN | RST | PSH | URG | ACK, urg=5))
    add("no flags", lambda r, s: forge(P, r, s, 0, data=junk))
    add("URG with urgent pointer", lambda r, s: forge(P, r + 5000, s, ACK | URG, urg=100))
    add("window scale 200 in a SYN", lambda r, s: forge(P, r, 0, SYN, opts=b"\x03\x03\xc8\x01"))
    add("IP header length 4", lambda r, s: ip(IP_B, IP_A, tcp(IP_B, IP_A, P, PORT, r, s, ACK, data=junk), ihl=4))
    add("IP header length 15 past the packet", lambda r, s: ip(IP_B, IP_A, b"", ihl=15, total=60))
    add("IP total length past the frame", lambda r, s: ip(IP_B, IP_A, tcp(IP_B, IP_A, P, PORT, r, s, ACK, data=junk), total=1500))
    add("IP total length 12", lambda r, s: ip(IP_B, IP_A, tcp(IP_B, IP_A, P, PORT, r, s, ACK), total=12))
    add("IP total length 20, no TCP", lambda r, s: ip(IP_B, IP_A, tcp(IP_B, IP_A, P, PORT, r, s, ACK), total=20))
    add("IP version 6 in an IPv4 frame", lambda r, s: ip(IP_B, IP_A, tcp(IP_B, IP_A, P, PORT, r, s, ACK, data=junk), version=6))
    add("bad IP header checksum, data at RCV.NXT", lambda r, s: ip(IP_B, IP_A, tcp(IP_B, IP_A, P, PORT, r, s, ACK | PSH, data=junk), bad_csum=True))
    add("first fragment (MF), data at RCV.NXT", lambda r, s: ip(IP_B, IP_A, tcp(IP_B, IP_A, P, PORT, r, s, ACK | PSH, data=junk), frag=0x2000))
    add("later fragment (offset 64)", lambda r, s: ip(IP_B, IP_A, junk, frag=8))
    add("IP options (NOPs)", lambda r, s: ip(IP_B, IP_A, tcp(IP_B, IP_A, P, PORT, r, s, ACK), ihl=6, ip_opts=b"\x01\x01\x01\x00"))
    add("TTL 0", lambda r, s: ip(IP_B, IP_A, tcp(IP_B, IP_A, P, PORT, r, s, ACK), ttl=0))
    add("land (source = destination)", lambda r, s: ip(IP_A, IP_A, tcp(IP_A, IP_A, PORT, PORT, r, 0, SYN)))
    add("Ethernet header only", lambda r, s: wire.eth)
    add("runt IPv4 (10 bytes)", lambda r, s: ip(IP_B, IP_A, b"")[:10])
    add("other IP protocol (UDP) to the port", lambda r, s: ip(IP_B, IP_A, struct.pack("!HHHH", P, PORT, 8 + 600, 0) + junk, proto=17))
    for rep in range(20):
        for name, make in cases:
            f = wire.flow(P)
            pkt = make(f["a_ack"], f["a_max"])
            wire.send(pkt, raw=pkt is wire.eth)
        time.sleep(0.02)
    t.finish("malformed segments")
    say(f"malformed: {len(cases)} kinds x 20 during an 8 MB transfer (" + "; ".join(n for n, _ in cases) +
        "): dropped, connection alive, byte-exact")


def tiny_sender():
    """A peer that sends one byte per 10 ms: mtpcat keeps up and stays cheap."""
    s = socket.create_connection((IP_A, PORT), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    msg = os.urandom(150)
    cpu0 = cpu_seconds(MTPCAT_PID)
    for b in msg:
        s.send(bytes([b]))
        time.sleep(0.01)
    cpu = cpu_seconds(MTPCAT_PID) - cpu0
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536):
        pass
    s.close()
    expected.write(msg)
    if cpu > 0.5:
        fail(f"one byte per 10 ms: mtpcat used {cpu:.2f} s of CPU in 1.5 s")
    say(f"one byte per 10 ms for 1.5 s: byte-exact, mtpcat used {cpu:.2f} s of CPU")


def slow_readers(want_path):
    """mtpcat -l PORT sends a file to a peer that first never reads (zero window), then
    reads one byte every 10 ms: bounded memory, no CPU; then everything arrives."""
    want = open(want_path, "rb").read()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(30)
    s.connect((IP_A, PORT))
    s.shutdown(socket.SHUT_WR)
    time.sleep(0.5)
    rss0, cpu0 = rss_kb(MTPCAT_PID), cpu_seconds(MTPCAT_PID)
    time.sleep(3)
    cpu_zero = cpu_seconds(MTPCAT_PID) - cpu0
    got = bytearray()
    cpu1 = cpu_seconds(MTPCAT_PID)
    end = time.monotonic() + 1.5
    while time.monotonic() < end:
        got += s.recv(1)
        time.sleep(0.01)
    cpu_trickle = cpu_seconds(MTPCAT_PID) - cpu1
    rss1 = rss_kb(MTPCAT_PID)
    while True:
        b = s.recv(1 << 16)
        if not b:
            break
        got += b
    s.close()
    if bytes(got) != want:
        fail(f"slow reader: {len(got)} bytes received, {len(want)} sent, or they differ")
    if cpu_zero > 0.3 or cpu_trickle > 0.5:
        fail(f"slow reader: mtpcat used {cpu_zero:.2f} s of CPU in 3 s of zero window, "
             f"{cpu_trickle:.2f} s in 1.5 s of 1-byte reads")
    if rss1 - rss0 > 8192:
        fail(f"slow reader: mtpcat grew from {rss0} to {rss1} kB")
    say(f"peer that never reads (zero window, 3 s): {cpu_zero:.2f} s CPU; then 1 byte per 10 ms "
        f"(1.5 s): {cpu_trickle:.2f} s CPU; RSS {rss0} -> {rss1} kB; {len(want)} bytes byte-exact")


def main():
    if MODE == "slow":
        slow_readers(sys.argv[11])
        return
    attacks = [syn_flood, full_accept_queue, rst_injection, syn_injection,
               data_and_ack_injection, timestamp_poisoning, malformed, tiny_sender]
    only = os.environ.get("HOSTILE_ONLY")
    for a in attacks:
        if only and a.__name__ not in only.split(","):
            continue
        a()
        expected.flush()
        if not alive():
            fail(f"after {a.__name__}: mtpcat died")
    expected.close()


main()
