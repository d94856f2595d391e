#!/usr/bin/python3
"""bench/apps.py -- what a user gains by running an application on MTP instead of kernel TCP.

Runs Debian's own applications (sockperf, iperf3, nginx + wrk, redis-server + redis-benchmark)
unchanged, once per *stack* and side by side in one run, on network namespaces made for the run:

  kernel        kernel TCP as it comes
  kernel-bp     kernel TCP with busy polling (net.core.busy_read / busy_poll = 50 us, restored)
  mtp-xdp       both ends under LD_PRELOAD=libmtp.so, MTP_TARGET=xdp
  mtp-xdp-bp    the same with MTP_BUSY_POLL_US=50
  mtp-srv       the server under libmtp.so (xdp), the client on kernel TCP
  mtp-dpdk      both ends under libmtp.so, MTP_TARGET=dpdk (net_af_xdp on the veth)
  mtp-dpdk-bp   the same with MTP_BUSY_POLL_US=50 (net_af_xdp has no rx interrupts: a sleeping
                call waits on the PMD's AF_XDP socket, see targets/dpdk)

plus memory per idle connection end (10 k and 100 k connections, MTP and kernel) and the
physical limit of the path (64-byte and 1,514-byte frames per second through AF_XDP copy mode
on the veth and through net_memif, one testpmd core) that every MTP figure can be read against,
and the protocol programs' own scenarios from the paper on the sim wire (Homa's Fig. 4a,
QUIC-Lite's Fig. 4c).

on three paths: a veth pair with the kernel's default offloads (the headline: what a container
has), the same veth pair with checksum/TSO/GSO/GRO off (where the stack, not the kernel's
64 KB segments, is measured), and `lo` inside one namespace. Every figure is also given as a
ratio to the `kernel` row of the same table, measured in the same run.

Writes bench/results/<timestamp>.json (raw samples, summaries, tool versions, machine facts),
<timestamp>.md (the tables) and <timestamp>-*.png (latency CDFs, throughput bars), and prints
the tables. Not a test: it asserts nothing and a failed run is a row that says so.

  usage: apps.py BUILD_DIR
  env:   BENCH_QUICK=1    a short run (< 2 minutes): 1 s per measurement, fewer rows and paths
         BENCH_SECS=N     seconds per measurement (default 5)
         BENCH_STACKS=a,b only these stacks      BENCH_PATHS=veth,veth-off,lo  only these paths
         BENCH_OUT=DIR    where results go (default bench/results)
         BENCH_ONLY=a,b   only the workloads whose first word is listed (sockperf, iperf3, nginx,
                          redis, idle, connrate) and, if listed, memory / limits /
                          protocols (all three run when BENCH_ONLY is unset)
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
SECS = int(os.environ.get("BENCH_SECS", "1" if QUICK else "5"))
ALL_STACKS = ["kernel", "kernel-bp", "mtp-xdp", "mtp-xdp-bp", "mtp-srv", "mtp-dpdk", "mtp-dpdk-bp"]
ALL_PATHS = ["veth", "veth-off", "lo"]
IP_A, IP_B, LO = "10.209.1.1", "10.209.1.2", "127.0.0.1"
BUSY_US = 50


def log(msg):
    print(msg, flush=True)


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=isinstance(cmd, str), capture_output=True, text=True, **kw)


def listed(var, default):
    v = os.environ.get(var)
    if not v:
        return default
    bad = [x for x in v.split(",") if x not in default + ALL_STACKS + ALL_PATHS]
    if bad:
        sys.exit(f"apps.py: {var}={v}: unknown {', '.join(bad)} (accepted: {', '.join(default)})")
    return v.split(",")


# ------------------------------------------------------------------------------ the hosts

class Hosts:
    """Two namespaces joined by a veth pair (path veth / veth-off), or one namespace (lo).
    Names carry our pid; everything is removed by close() (called from a finally and on
    SIGTERM)."""

    def __init__(self, path):
        tag = f"{os.getpid() % 100000}"
        self.path = path
        self.ns_a, self.ns_b = f"mbapa-{tag}", f"mbapb-{tag}"
        self.dev_a, self.dev_b = f"mbapa{tag}", f"mbapb{tag}"
        if path == "lo":
            self.ns_b = self.ns_a
            self.dev_a = self.dev_b = "lo"
            self.ip_a = self.ip_b = LO
            self._run(f"ip netns add {self.ns_a}")
            self._run(f"ip -n {self.ns_a} link set lo up")
            return
        self.ip_a, self.ip_b = IP_A, IP_B
        self._run(f"ip netns add {self.ns_a}")
        self._run(f"ip netns add {self.ns_b}")
        self._run(f"ip link add {self.dev_a} netns {self.ns_a} type veth peer name {self.dev_b} "
                  f"netns {self.ns_b}")
        for ns, dev, ip in ((self.ns_a, self.dev_a, self.ip_a), (self.ns_b, self.dev_b, self.ip_b)):
            self._run(f"ip -n {ns} link set lo up")
            self._run(f"ip -n {ns} addr add {ip}/24 dev {dev}")
            self._run(f"ip -n {ns} link set {dev} up")
            if path == "veth-off":
                self._run(f"ip netns exec {ns} ethtool -K {dev} tx off rx off tso off gso off gro off")

    @staticmethod
    def _run(cmd):
        r = sh(cmd)
        if r.returncode:
            raise RuntimeError(f"{cmd}: {r.stderr.strip()}")

    def close(self):
        for ns in {self.ns_a, self.ns_b}:
            pids = sh(f"ip netns pids {ns}").stdout.split()
            for p in pids:
                try:
                    os.kill(int(p), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            sh(f"ip netns del {ns}")


# ------------------------------------------------------------------------------ stacks

class Stack:
    """How one end runs: its environment (LD_PRELOAD etc.) and what must hold around a run."""

    def __init__(self, name, b):
        self.name = name
        self.lib = os.path.join(b, "lib", "libmtp.so")
        self.bin = os.path.join(b, "bin")
        self.server_mtp = name.startswith("mtp")
        self.client_mtp = name.startswith("mtp") and name != "mtp-srv"
        self.target = "dpdk" if name.startswith("mtp-dpdk") else "xdp"
        self.busy = name.endswith("-bp")

    def available(self):
        if self.server_mtp and not os.path.exists(self.lib):
            return f"{self.lib} not built"
        return None

    def env(self, hosts, side, mtp):
        """The VAR=value settings of one end, given to `env` INSIDE the namespace: libmtp.so
        checks its configuration in every process it is loaded into, and `ip netns exec`
        itself starts in the root namespace, where the test interfaces do not exist."""
        if not mtp:
            return []
        dev, ip = (hosts.dev_a, hosts.ip_a) if side == "A" else (hosts.dev_b, hosts.ip_b)
        env = dict(LD_PRELOAD=self.lib, MTP_PROTO="tcp", MTP_TARGET=self.target, MTP_IFACE=dev)
        if self.target == "dpdk":
            env.update(MTP_IP=ip, MTP_DPDK_ARGS=f"--vdev=net_af_xdp0,iface={dev}")
        if self.busy:
            env["MTP_BUSY_POLL_US"] = str(BUSY_US)
        return [f"{k}={v}" for k, v in env.items()]


def in_ns(ns, settings, argv):
    """argv run in namespace `ns` with `settings` in its environment (`ip netns exec` and
    `env` exec in turn: the pid we get is the program's)."""
    return ["ip", "netns", "exec", ns] + (["env"] + settings if settings else []) + argv


class BusyPoll:
    """net.core.busy_read/busy_poll for the kernel-bp rows, restored afterwards."""

    KEYS = ("net.core.busy_read", "net.core.busy_poll")

    def __init__(self, on):
        self.on, self.saved = on, {}

    def __enter__(self):
        if self.on:
            for k in self.KEYS:
                self.saved[k] = sh(f"sysctl -n {k}").stdout.strip()
                sh(f"sysctl -qw {k}={BUSY_US}")
        return self

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            sh(f"sysctl -qw {k}={v}")


# ------------------------------------------------------------------------------ processes

# libmtp.so lingers up to 3 s at exit to deliver what its connections still hold
# (EXIT_LINGER_NS), then closes its target: a DPDK port detaches net_af_xdp's XDP program
# from the veth. A process that dies of a signal it does not handle (sockperf of SIGTERM)
# never gets there: the program stays and refuses every later MTP process on the interface
# (seen in a full run: every row of a path after the first mtp-dpdk server failed). So the
# bench waits past the linger, and removes a DPDK program its dead process left.
STOP_WAIT = 6


def detach_stale_dpdk(ns, dev):
    """Removes net_af_xdp's XDP program from `dev` (only a DPDK port attaches xsk_def_prog)."""
    if "xsk_def_prog" in sh(f"ip netns exec {ns} ip link show dev {dev}").stdout:
        sh(f"ip netns exec {ns} ip link set dev {dev} xdp off")


class Proc:
    """A process in a namespace (`ip netns exec` execs it: our pid is its pid)."""

    def __init__(self, ns, argv, env, log_path, cwd=None, dev=None):
        self.ns, self.dev = ns, dev
        self.log_path = log_path
        self.f = open(log_path, "w")
        self.p = subprocess.Popen(in_ns(ns, env, argv), cwd=cwd,
                                  stdout=self.f, stderr=subprocess.STDOUT,
                                  start_new_session=True)

    def alive(self):
        return self.p.poll() is None

    def cpu_seconds(self):
        """user + system seconds of the process and its reaped children so far."""
        try:
            with open(f"/proc/{self.p.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks = sum(int(x) for x in fields[11:15])
            return ticks / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError):
            return None

    def rss_kib(self):
        try:
            with open(f"/proc/{self.p.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return None

    def tail(self, n=3):
        try:
            with open(self.log_path) as f:
                return " | ".join(line.strip() for line in f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self):
        if self.alive():
            os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(STOP_WAIT)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()
        if self.dev:
            detach_stale_dpdk(self.ns, self.dev)
        self.f.close()


def wait_port(ns, port, proc, secs=10):
    """Until something listens on TCP `port` in `ns` (the server is up), or it died."""
    end = time.time() + secs
    while time.time() < end:
        if not proc.alive():
            return False
        if f":{port} " in sh(f"ip netns exec {ns} ss -Hltn sport = :{port}").stdout:
            return True
        time.sleep(0.05)
    return False


def run_client(ns, argv, env, secs, dev=None):
    t0 = time.time()
    try:
        r = subprocess.run(in_ns(ns, env, argv), capture_output=True, text=True, timeout=secs)
    except subprocess.TimeoutExpired:
        if dev:  # killed before its exit could detach it (STOP_WAIT)
            detach_stale_dpdk(ns, dev)
        raise
    r.wall = time.time() - t0
    return r


# ------------------------------------------------------------------------------ workloads
# Each takes (ctx) and returns a dict of metrics, or raises Skip/RuntimeError with the reason.

class Ctx:
    def __init__(self, hosts, stack, tmp, port):
        self.h, self.s, self.tmp, self.port = hosts, stack, tmp, port

    def server(self, argv, name, cwd=None):
        env = self.s.env(self.h, "B", self.s.server_mtp)
        p = Proc(self.h.ns_b, argv, env, os.path.join(self.tmp, f"{name}.srv.log"), cwd,
                 dev=self.h.dev_b if self.s.server_mtp else None)
        if not wait_port(self.h.ns_b, self.port, p):
            out = p.tail()
            p.stop()
            raise RuntimeError(f"{name} server did not come up: {out}")
        return p

    def client(self, argv, timeout):
        env = self.s.env(self.h, "A", self.s.client_mtp)
        return run_client(self.h.ns_a, argv, env, timeout,
                          dev=self.h.dev_a if self.s.client_mtp else None)


def mtp_counters(pid):
    """The stack counters of an MTP process: the `counters` record mtpstat reads from
    $MTP_RUN_DIR/<pid>.sock (preload/libmtp_stat.c), or {}."""
    path = os.path.join(os.environ.get("MTP_RUN_DIR") or "/run/mtp", f"{pid}.sock")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect(path)
            dump = b"".join(iter(lambda: s.recv(65536), b"")).decode(errors="replace")
    except OSError:
        return {}
    for line in dump.splitlines():
        f = line.split("\t")
        if f[0] == "counters":
            return {k: int(v) for k, v in (x.split("=", 1) for x in f[1:] if "=" in x)}
    return {}


PER_REQ = (("server_cpu_us_per_req", "server CPU us/req"),
           ("server_tx_frames_per_req", "server frames out/req"),
           ("server_rx_frames_per_req", "frames in/req"))


def with_server(ctx, argv, name, fn, cwd=None):
    """Runs fn() against the server; adds its CPU, memory and, when fn counts its `requests`,
    the server's CPU and (MTP) frames per request: the cost of one request, not a rate."""
    srv = ctx.server(argv, name, cwd)
    try:
        f0 = mtp_counters(srv.p.pid) if ctx.s.server_mtp else {}
        c0 = srv.cpu_seconds()
        t0 = time.time()
        out = fn()
        c1 = srv.cpu_seconds()
        f1 = mtp_counters(srv.p.pid) if ctx.s.server_mtp else {}
        if c0 is not None and c1 is not None:
            out["server_cpu_pct"] = round(100 * (c1 - c0) / max(time.time() - t0, 1e-3), 1)
            if out.get("requests"):
                out["server_cpu_us_per_req"] = round(1e6 * (c1 - c0) / out["requests"], 2)
        if out.get("requests") and f1.get("tx_frames"):
            for k in ("tx_frames", "rx_frames"):
                out[f"server_{k}_per_req"] = round((f1[k] - f0.get(k, 0)) / out["requests"], 3)
        out["server_rss_kib"] = srv.rss_kib()
        return out
    finally:
        srv.stop()


def sockperf_pp(ctx, size):
    full = os.path.join(ctx.tmp, f"sockperf-{size}.csv")

    def go():
        r = ctx.client(["sockperf", "pp", "--tcp", "-i", ctx.h.ip_b, "-p", str(ctx.port),
                        "-m", str(size), "-t", str(SECS), "--full-log", full], SECS + 30)
        if r.returncode:
            raise RuntimeError(f"sockperf pp: exit {r.returncode}: {r.stdout[-300:]}{r.stderr[-300:]}")
        pct = {m.group(1): float(m.group(2)) for m in
               re.finditer(r"percentile (\d+\.\d+) = +([\d.]+)", r.stdout)}
        if "50.000" not in pct:
            raise RuntimeError(f"sockperf pp: no percentiles in its output: {r.stdout[-300:]}")
        return {"p50_us": pct["50.000"], "p90_us": pct.get("90.000"), "p99_us": pct.get("99.000"),
                "p99.9_us": pct.get("99.900"), "samples_us": full_log_samples(full)}
    return with_server(ctx, ["sockperf", "sr", "--tcp", "-i", ctx.h.ip_b, "-p", str(ctx.port)],
                       f"sockperf{size}", go)


def full_log_samples(path, keep=2000):
    """One-way latencies (us) from sockperf's --full-log, thinned to `keep` sorted samples."""
    vals = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.strip().split(",")
                if len(parts) >= 3:
                    try:
                        tx, rx = float(parts[-2]), float(parts[-1])
                        vals.append((rx - tx) * 1e6 / 2)
                    except ValueError:
                        continue
    except OSError:
        return []
    vals.sort()
    if len(vals) > keep:
        vals = [vals[i * len(vals) // keep] for i in range(keep)]
    return [round(v, 3) for v in vals]


def iperf3(ctx, streams, reverse):
    def go():
        argv = ["iperf3", "-c", ctx.h.ip_b, "-p", str(ctx.port), "-t", str(SECS),
                "-P", str(streams), "-J"] + (["-R"] if reverse else [])
        r = ctx.client(argv, SECS + 30)
        try:
            j = json.loads(r.stdout)
        except json.JSONDecodeError:
            raise RuntimeError(f"iperf3: exit {r.returncode}: {r.stderr[-300:]}")
        if "error" in j:
            raise RuntimeError(f"iperf3: {j['error']}")
        end = j["end"]
        bps = end["sum_received"]["bits_per_second"]
        return {"gbit_s": round(bps / 1e9, 3),
                "retransmits": end.get("sum_sent", {}).get("retransmits")}
    # the server as users start it: on every address (::), one test then exit
    return with_server(ctx, ["iperf3", "-s", "-p", str(ctx.port), "-1"], "iperf3", go)


# Debian's /etc/nginx/nginx.conf as it comes (sendfile on, tcp_nopush on: TCP_CORK around a
# response), in one process in the foreground, with the log and temp paths in the run's dir.
NGINX_CONF = """daemon off;
master_process off;
worker_processes 1;
error_log {d}/error.log;
pid {d}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
    uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
    server {{ listen {port}; root {d}/www; }}
}}
"""


def nginx_wrk(ctx, what, workers="1"):
    d = os.path.join(ctx.tmp, "nginx")
    os.makedirs(os.path.join(d, "www"), exist_ok=True)
    with open(os.path.join(d, "www", "tiny.html"), "w") as f:
        f.write("<html>hello</html>\n")
    with open(os.path.join(d, "www", "1m.bin"), "wb") as f:
        f.write(os.urandom(1 << 20))
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        conf_text = NGINX_CONF.format(d=d, port=ctx.port)
        if workers == "auto": # Debian's default process model (in the foreground)
            conf_text = conf_text.replace("master_process off;\nworker_processes 1;",
                                          "worker_processes auto;")
        f.write(conf_text)
    url = f"http://{ctx.h.ip_b}:{ctx.port}/" + ("1m.bin" if what == "1mb" else "tiny.html")

    def go():
        argv = ["wrk", "-t", "2", "-c", "50" if what != "1mb" else "8", "-d", f"{SECS}s", url]
        if what == "short":
            argv[1:1] = ["-H", "Connection: close"]
        r = ctx.client(argv, SECS + 30)
        m = re.search(r"Requests/sec:\s+([\d.]+)", r.stdout)
        if r.returncode or not m:
            raise RuntimeError(f"wrk: exit {r.returncode}: {r.stdout[-300:]}{r.stderr[-200:]}")
        errs = re.search(r"Socket errors: (.*)", r.stdout)
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", r.stdout)
        n = re.search(r"(\d+) requests in", r.stdout)
        out = {"req_s": float(m.group(1)), "socket_errors": errs.group(1) if errs else "none",
               "non_2xx": int(non2xx.group(1)) if non2xx else 0,
               # per-request costs (with_server) only when the server process serves alone
               "requests": int(n.group(1)) if n and workers == "1" else 0}
        mb = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", r.stdout)
        if mb:
            scale = {"B": 1e-6, "KB": 1e-3, "MB": 1, "GB": 1e3}.get(mb.group(2), 0)
            out["mb_s"] = round(float(mb.group(1)) * scale, 1)
        return out
    return with_server(ctx, ["nginx", "-c", conf, "-p", d], "nginx", go)


def redis_bench(ctx, pipeline):
    def go():
        # SET runs first and takes the 50 connections' set-up: with 20,000 requests (BENCH_QUICK's
        # old count) a pipelined SET lasted ~40 ms and measured the set-up, not SET
        n = 200000
        r = ctx.client(["redis-benchmark", "-h", ctx.h.ip_b, "-p", str(ctx.port), "-c", "50",
                        "-n", str(n), "-t", "get,set", "-P", str(pipeline), "--csv"], 120)
        rps = {}
        for line in r.stdout.splitlines():
            cols = [c.strip('"') for c in line.split(",")]
            if len(cols) >= 2 and cols[0] in ("GET", "SET"):
                rps[cols[0].lower() + "_req_s"] = float(cols[1])
        if r.returncode or len(rps) != 2:
            raise RuntimeError(f"redis-benchmark: exit {r.returncode}: {r.stdout[-200:]}{r.stderr[-200:]}")
        return rps
    return with_server(ctx, ["redis-server", "--port", str(ctx.port), "--save", "",
                             "--appendonly", "no", "--protected-mode", "no"], "redis", go)


def connrate(ctx, conc):
    """Connection-setup rate: bench_connrate (connect, 1 byte each way, the server closes),
    `conc` connections in flight, the same program on both ends."""
    prog = os.path.join(ctx.s.bin, "bench_connrate")
    if not os.path.exists(prog):
        raise RuntimeError(f"{prog} not built")

    def go():
        r = ctx.client([prog, ctx.h.ip_b, str(ctx.port), str(SECS), str(conc)], SECS + 30)
        m = re.search(r"connections (\d+) secs ([\d.]+) conn_per_s ([\d.]+) failed (\d+)", r.stdout)
        if r.returncode or not m:
            raise RuntimeError(f"bench_connrate: exit {r.returncode}: {r.stdout[-200:]}{r.stderr[-200:]}")
        return {"conn_s": float(m.group(3)), "connections": int(m.group(1)),
                "failed": int(m.group(4))}
    return with_server(ctx, [prog, "-l", str(ctx.port)], "connrate", go)


def idle_cpu(ctx):
    """CPU of an idle nginx (started, one request served, then 10 s of nothing)."""
    d = os.path.join(ctx.tmp, "nginx-idle")
    os.makedirs(os.path.join(d, "www"), exist_ok=True)
    with open(os.path.join(d, "www", "index.html"), "w") as f:
        f.write("idle\n")
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(d=d, port=ctx.port))

    def go():
        ctx.client(["curl", "-s", "-o", "/dev/null", f"http://{ctx.h.ip_b}:{ctx.port}/"], 20)
        srv = go.srv
        c0, t0 = srv.cpu_seconds(), time.time()
        time.sleep(3 if QUICK else 10)
        c1 = srv.cpu_seconds()
        return {"idle_cpu_pct": round(100 * (c1 - c0) / (time.time() - t0), 2)}
    srv = ctx.server(["nginx", "-c", conf, "-p", d], "nginx-idle")
    go.srv = srv
    try:
        return go()
    finally:
        srv.stop()


# (name, function, args, headline metric, unit, better)
WORKLOADS = [
    ("sockperf pp 64 B", sockperf_pp, (64,), "p50_us", "p50 us", "lower"),
    ("sockperf pp 1 KB", sockperf_pp, (1024,), "p50_us", "p50 us", "lower"),
    ("sockperf pp 8 KB", sockperf_pp, (8192,), "p50_us", "p50 us", "lower"),
    ("iperf3 1 stream", iperf3, (1, False), "gbit_s", "Gbit/s", "higher"),
    ("iperf3 1 stream -R", iperf3, (1, True), "gbit_s", "Gbit/s", "higher"),
    ("iperf3 4 streams", iperf3, (4, False), "gbit_s", "Gbit/s", "higher"),
    ("iperf3 4 streams -R", iperf3, (4, True), "gbit_s", "Gbit/s", "higher"),
    ("nginx tiny keep-alive", nginx_wrk, ("tiny",), "req_s", "req/s", "higher"),
    # against the 1-worker row above, and against kernel nginx with the same 2 workers
    ("nginx 2 workers tiny keep-alive", nginx_wrk, ("tiny", "auto"), "req_s", "req/s", "higher"),
    ("nginx 1 MB", nginx_wrk, ("1mb",), "req_s", "req/s", "higher"),
    ("nginx short conns", nginx_wrk, ("short",), "req_s", "req/s", "higher"),
    ("redis -c 50 -P 1", redis_bench, (1,), "get_req_s", "GET req/s", "higher"),
    ("redis -c 50 -P 16", redis_bench, (16,), "get_req_s", "GET req/s", "higher"),
    ("connrate 16 in flight", connrate, (16,), "conn_s", "conn/s", "higher"),
    ("idle nginx", idle_cpu, (), "idle_cpu_pct", "% CPU", "lower"),
]
QUICK_WORKLOADS = {"sockperf pp 64 B", "iperf3 1 stream", "nginx tiny keep-alive",
                   "nginx 2 workers tiny keep-alive",
                   "redis -c 50 -P 16", "connrate 16 in flight"}


# ------------------------------------------------------------------------------ memory

def idle_memory(b, counts):
    """Bytes per idle connection end: MTP (bench_idle_conns, two stacks on the sim wire in one
    process) and kernel TCP (bench_kidle, loopback connections in a namespace)."""
    out = {}
    for n in counts:
        row = {}
        r = sh([os.path.join(b, "bin", "bench_idle_conns"), str(n)], timeout=600)
        for line in r.stdout.splitlines():
            k, _, v = line.partition(" ")
            if k == "idle_heap_per_end":
                row["mtp_bytes"] = float(v)
        ns = f"mbapm-{os.getpid() % 100000}"
        sh(f"ip netns add {ns} && ip -n {ns} link set lo up")
        try:
            r = sh(["ip", "netns", "exec", ns, os.path.join(b, "bin", "bench_kidle"), str(n)],
                   timeout=600)
            for line in r.stdout.splitlines():
                k, _, v = line.partition(" ")
                if k == "idle_slab_per_end":
                    row["kernel_bytes"] = float(v)
        finally:
            sh(f"ip netns del {ns}")
        out[str(n)] = row
    return out


# ------------------------------------------------------------------------------ the protocols

# The protocol programs' own scenarios from the paper (make bench-homa, make bench-quic): runs
# on the sim wire, deterministic, so one run each says it all. (Their veth versions,
# bench-homa-veth and bench-quic-veth, take far longer and are not part of make bench.)
PROTOCOL_SCENARIOS = (
    ("homa", "Homa, the paper's Fig. 4a on the sim wire: slowdown of 100-500 KB RPCs next to "
             "1 MB ones (make bench-homa)", ["bench_homa_fig4a", "200"]),
    ("quic", "QUIC-Lite, the paper's Fig. 4c on the sim wire: latency of small responses "
             "behind large ones (make bench-quic)", ["bench_quic_fig4c", "200", "2000"]),
)


def number_rows(text):
    """{label: [numbers]} for each printed line that ends in numbers (the scenarios' tables)."""
    rows = {}
    for line in text.splitlines():
        words = line.split()
        nums = []
        while words and re.fullmatch(r"-?\d+(\.\d+)?", words[-1]):
            nums.insert(0, float(words.pop()))
        if nums and words:
            rows[" ".join(words)] = nums
    return rows


def protocol_scenarios(b):
    out = {}
    for key, title, argv in PROTOCOL_SCENARIOS:
        exe = os.path.join(b, "bin", argv[0])
        if not os.path.exists(exe):
            out[key] = {"title": title, "error": f"n/a: {argv[0]} not built (make {argv[0]})"}
            continue
        r = sh([exe] + argv[1:], timeout=600)
        if r.returncode != 0:
            out[key] = {"title": title, "error": f"failed: exit {r.returncode}: {r.stderr[-300:]}"}
        else:
            out[key] = {"title": title, "output": r.stdout.rstrip(), "rows": number_rows(r.stdout)}
    return out


# ------------------------------------------------------------------------------ the path's limit

def testpmd_pps(log_path, key):
    """The highest per-second `Rx-pps`/`Tx-pps` reading in a testpmd log (a limit: the steady
    state, not the start-up seconds)."""
    try:
        vals = [int(m.group(1)) for m in re.finditer(key + r":\s+(\d+)", open(log_path).read())]
    except OSError:
        return None
    return max(vals) if vals and max(vals) > 0 else None


# Frame sizes the path's limit is measured at: the smallest (what request/response rows are made
# of) and a full 1,500-byte MTU frame (what a bulk transfer with offloads off is made of, read
# as Gbit/s against iperf3's rows). BENCH_QUICK: the smallest only.
LIMIT_FRAMES = (64,) if QUICK else (64, 1514)


def path_limits(tmp):
    """Frames per second that one forwarding core of DPDK's testpmd moves, at each size in
    LIMIT_FRAMES: through AF_XDP in copy mode on a veth pair (net_af_xdp, txonly on one end,
    rxonly on the other: what the XDP target's path allows) and between two processes over
    net_memif. Every MTP figure can be read as a fraction of these."""
    if not shutil.which("dpdk-testpmd"):
        return {"error": "dpdk-testpmd missing (Debian package dpdk)"}
    secs = max(SECS, 3)
    # each forwarding core on its own CPU: the receiver's on CPU 1, the sender's on CPU 0
    eal = ["--no-pci", "--no-huge", "-m", "512", "--log-level=lib.eal:warning"]
    cpus = {"rx": ["--lcores", "0@0,1@1"], "tx": ["--lcores", "0@1,1@0"]}
    opts = ["--total-num-mbufs=8192", "--stats-period", "1", "--auto-start"]
    tag = os.getpid() % 100000
    out = {}

    def pair(name, ns_rx, ns_tx, vdev_rx, vdev_tx, size):
        logs = [os.path.join(tmp, f"testpmd-{name}-{size}-{r}.log") for r in ("rx", "tx")]
        rx = subprocess.Popen(["ip", "netns", "exec", ns_rx, "timeout", "-s", "INT", str(secs + 30),
                               "dpdk-testpmd"]
                              + eal + cpus["rx"] + ["--file-prefix", f"mbr{tag}", "--vdev", vdev_rx, "--",
                                       "--forward-mode=rxonly"] + opts,
                              stdout=open(logs[0], "w"), stderr=subprocess.STDOUT)
        time.sleep(1.5)
        t0 = time.time()
        with open(logs[1], "w") as f:
            subprocess.run(["ip", "netns", "exec", ns_tx, "timeout", "-s", "INT", str(secs + 1),
                            "dpdk-testpmd"] + eal + cpus["tx"] +
                           ["--file-prefix", f"mbt{tag}", "--vdev", vdev_tx, "--",
                            "--forward-mode=txonly", f"--txpkts={size}"] + opts,
                           stdout=f, stderr=subprocess.STDOUT, timeout=secs + 10)
        time.sleep(1)
        rx.send_signal(signal.SIGINT)  # timeout passes it on: testpmd prints its totals
        rx.wait()
        tx = testpmd_pps(logs[1], "Tx-pps")
        if tx is None:  # no periodic reading: the sender's total over its run time
            m = re.findall(r"TX-total:\s+(\d+)", open(logs[1]).read())
            tx = int(int(m[-1]) / (time.time() - t0)) if m else None
        rx_pps = testpmd_pps(logs[0], "Rx-pps")
        out[f"{name}, {size} B"] = {"frame_bytes": size, "tx_pps": tx, "rx_pps": rx_pps,
                                    "rx_gbps": round(rx_pps * size * 8 / 1e9, 2) if rx_pps else None}

    h = Hosts("veth-off")
    try:
        for size in LIMIT_FRAMES:
            pair("af_xdp veth (copy mode)", h.ns_b, h.ns_a, f"net_af_xdp0,iface={h.dev_b}",
                 f"net_af_xdp0,iface={h.dev_a}", size)
            sock = os.path.join(tmp, f"memif-{size}.sock")
            pair("memif", h.ns_b, h.ns_b, f"net_memif0,role=server,socket={sock}",
                 f"net_memif0,role=client,socket={sock}", size)
    finally:
        h.close()
    return out


# ------------------------------------------------------------------------------ report

def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    return f"{v:.3g}" if abs(v) < 100 else f"{v:,.0f}"


def ratio(v, k):
    if isinstance(v, (int, float)) and isinstance(k, (int, float)) and k:
        return f"{v / k:.2f}x"
    return ""


def tables_md(res):
    lines = []
    for path in res["paths"]:
        stacks = res["stacks"]
        lines.append(f"\n### {path}: " + {
            "veth": "veth pair, the kernel's default offloads (what a container has)",
            "veth-off": "veth pair, checksum/TSO/GSO/GRO offloads off (MTU-sized frames)",
            "lo": "loopback inside one namespace (127.0.0.1)"}[path] + "\n")
        lines.append("| workload | metric | " + " | ".join(stacks) + " |")
        lines.append("| --- | --- |" + " --- |" * len(stacks))
        for (name, _fn, _a, metric, unit, better) in WORKLOADS:
            cells, any_ran = [], False
            base = res["runs"].get(path, {}).get(name, {}).get("kernel", {})
            metrics = [metric] + (["p90_us", "p99_us", "p99.9_us"] if metric == "p50_us" else []) + \
                      (["set_req_s"] if metric == "get_req_s" else [])
            for m in metrics:
                cells = []
                for s in stacks:
                    r = res["runs"].get(path, {}).get(name, {}).get(s)
                    if r is None:
                        cells.append("")
                    elif "error" in r:
                        cells.append("failed" if r["error"] != "n/a" else "n/a")
                        any_ran = True
                    else:
                        any_ran = True
                        v = r.get(m)
                        rt = ratio(v, base.get(m)) if s != "kernel" else ""
                        cells.append(fmt(v) + (f" ({rt})" if rt else ""))
                if any_ran:
                    label = unit if m == metric else \
                        m.replace("_us", " us").replace("_req_s", " req/s").replace("_", " ")
                    lines.append(f"| {name} | {label} ({'lower' if better == 'lower' else 'higher'} is better) | "
                                 + " | ".join(cells) + " |")
    if res.get("memory"):
        lines.append("\n### memory per idle connection end (bytes)\n")
        lines.append("| connections | MTP | kernel | ratio |")
        lines.append("| --- | --- | --- | --- |")
        for n, row in res["memory"].items():
            lines.append(f"| {n} | {fmt(row.get('mtp_bytes'))} | {fmt(row.get('kernel_bytes'))} | "
                         f"{ratio(row.get('mtp_bytes'), row.get('kernel_bytes'))} |")
    if res.get("limits"):
        lines.append("\n### the path's limit: frames per second one testpmd core moves\n")
        lines.append("Gbit/s counts whole Ethernet frames; TCP payload is 1,448 of a 1,514-byte "
                     "frame (0.96x). MTP's iperf3 rows with offloads off cannot exceed the af_xdp "
                     "1514 B row (the path both MTP targets take on a veth; kernel TCP does not "
                     "take it).\n")
        lines.append("| path | sent (tx pps) | received (rx pps) | received Gbit/s |")
        lines.append("| --- | --- | --- | --- |")
        for name, row in res["limits"].items():
            if isinstance(row, dict):
                lines.append(f"| {name} | {fmt(row.get('tx_pps'))} | {fmt(row.get('rx_pps'))} | "
                             f"{fmt(row.get('rx_gbps'))} |")
            else:
                lines.append(f"| - | {row} | | |")
    if res.get("protocols"):
        lines.append("\n### the protocol programs' own scenarios (sim wire, deterministic)\n")
        for row in res["protocols"].values():
            lines.append(f"{row['title']}:\n")
            lines.append(f"- {row['error']}\n" if "error" in row else
                         "```\n" + row["output"] + "\n```\n")
    fails = [(p, w, s, r["error"]) for p, ws in res["runs"].items() for w, ss in ws.items()
             for s, r in ss.items() if "error" in r and r["error"] != "n/a"]
    if fails:
        lines.append("\nFailed runs:\n")
        for p, w, s, e in fails:
            lines.append(f"- {p} / {w} / {s}: {e}")
    na = sorted({r["why"] for ws in res["runs"].values() for ss in ws.values()
                 for r in ss.values() if r.get("error") == "n/a"})
    if na:
        lines.append("\nNot run (n/a): " + "; ".join(na))
    return "\n".join(lines) + "\n"


def plots(res, stem):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return ["(no plots: python3-matplotlib is missing; `make deps` installs it)"]
    made = []
    for path, ws in res["runs"].items():
        for name, ss in ws.items():
            if not name.startswith("sockperf"):
                continue
            fig, ax = plt.subplots(figsize=(6, 4))
            drawn = 0
            for s, r in ss.items():
                xs = r.get("samples_us") or []
                if xs:
                    ax.plot(xs, [(i + 1) / len(xs) for i in range(len(xs))], label=s)
                    drawn += 1
            if not drawn:
                plt.close(fig)
                continue
            ax.set_xscale("log")
            ax.set_xlabel("one-way latency (us, sockperf)")
            ax.set_ylabel("fraction of requests")
            ax.set_title(f"{name}, {path}")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend()
            f = f"{stem}-cdf-{path}-{name.split()[-2]}{name.split()[-1]}.png".replace(" ", "")
            fig.tight_layout()
            fig.savefig(f, dpi=100)
            plt.close(fig)
            made.append(f)
        bars = [(n, m) for (n, _f, _a, m, _u, b) in WORKLOADS if b == "higher" and n in ws]
        if bars:
            fig, ax = plt.subplots(figsize=(8, 4))
            stacks = res["stacks"]
            width = 0.8 / max(len(stacks), 1)
            for i, s in enumerate(stacks):
                ys = []
                for (n, m) in bars:
                    r, k = ws[n].get(s, {}), ws[n].get("kernel", {})
                    v, kv = r.get(m), k.get(m)
                    ys.append(v / kv if isinstance(v, (int, float)) and kv else 0)
                ax.bar([j + i * width for j in range(len(bars))], ys, width, label=s)
            ax.axhline(1.0, color="black", linewidth=0.8)
            ax.set_xticks([j + 0.4 - width / 2 for j in range(len(bars))])
            ax.set_xticklabels([n for n, _ in bars], rotation=30, ha="right", fontsize=8)
            ax.set_ylabel("ratio to kernel TCP (higher is better)")
            ax.set_title(f"throughput, {path}")
            ax.legend(fontsize=7)
            fig.tight_layout()
            f = f"{stem}-throughput-{path}.png"
            fig.savefig(f, dpi=100)
            plt.close(fig)
            made.append(f)
    return made


def versions():
    def first(cmd):
        r = sh(cmd)
        return (r.stdout or r.stderr).strip().splitlines()[0] if (r.stdout or r.stderr).strip() else "?"
    return {"kernel": os.uname().release, "cpus": os.cpu_count(),
            "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                         if l.startswith("model name")), "?"),
            "loadavg_before": open("/proc/loadavg").read().split()[:3],
            "sockperf": first("sockperf --version 2>&1 | grep -i version"),
            "iperf3": first("iperf3 --version"), "nginx": first("nginx -v 2>&1"),
            "wrk": first("wrk --version 2>&1"), "redis": first("redis-server --version"),
            "git": first("git -C " + HERE + " describe --always --dirty")}


# ------------------------------------------------------------------------------ main

def main():
    if len(sys.argv) != 2:
        sys.exit("usage: apps.py BUILD_DIR")
    b = os.path.abspath(sys.argv[1])
    if os.geteuid() != 0:
        sys.exit("apps.py: needs root (network namespaces, XDP, sysctl)")
    for tool in ("sockperf", "iperf3", "nginx", "wrk", "redis-server", "redis-benchmark", "curl"):
        if not shutil.which(tool):
            sys.exit(f"apps.py: {tool} is missing (`make deps` installs it)")
    stacks = listed("BENCH_STACKS", ["kernel", "mtp-xdp"] if QUICK else ALL_STACKS)
    paths = listed("BENCH_PATHS", ["veth"] if QUICK else ALL_PATHS)
    outdir = os.environ.get("BENCH_OUT", os.path.join(HERE, "results"))
    os.makedirs(outdir, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    stem = os.path.join(outdir, stamp)
    res = {"when": stamp, "quick": QUICK, "secs": SECS, "machine": versions(),
           "stacks": stacks, "paths": paths, "runs": {}}
    only = os.environ.get("BENCH_ONLY")
    only = only.split(",") if only else None
    workloads = [w for w in WORKLOADS if (not QUICK or w[0] in QUICK_WORKLOADS or only)
                 and (not only or w[0].split()[0] in only)]
    steps = len(paths) * len(workloads) * len(stacks)
    step, port = 0, 20000
    tmp = tempfile.mkdtemp(prefix="mtpbench.")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    log(f"== mtp application bench {stamp}: {len(stacks)} stacks x {len(workloads)} workloads x "
        f"{len(paths)} paths, {SECS} s each; load average {res['machine']['loadavg_before']}")
    try:
        for path in paths:
            hosts = Hosts(path)
            try:
                for (name, fn, args, metric, unit, _b) in workloads:
                    for s in stacks:
                        step += 1
                        port += 1
                        st = Stack(s, b)
                        why = st.available()
                        if st.target == "dpdk" and path == "lo":
                            why = "the DPDK target does not serve lo"
                        if st.target == "dpdk" and fn is nginx_wrk and "auto" in args:
                            why = "a DPDK port belongs to one process (docs/MULTIPROC.md)"
                        if why:
                            r = {"error": "n/a", "why": f"{s}: {why}"}
                        else:
                            try:
                                with BusyPoll(s == "kernel-bp"):
                                    r = fn(Ctx(hosts, st, tmp, port), *args)
                            except (RuntimeError, subprocess.TimeoutExpired, OSError) as e:
                                r = {"error": str(e)[:400]}
                        res["runs"].setdefault(path, {}).setdefault(name, {})[s] = r
                        shown = r.get(metric)
                        cost = "".join(f", {r[k]} {label}" for k, label in PER_REQ if k in r)
                        log(f"[{step}/{steps}] {path} {name} {s}: " +
                            (f"{fmt(shown)} {unit}{cost}" if shown is not None else
                             r.get("why", r.get("error", "?"))[:160]))
            finally:
                hosts.close()
        counts = [2000] if QUICK else [10000, 100000]
        if not only or "memory" in only:
            log(f"[memory] idle connections: {counts}")
            res["memory"] = idle_memory(b, counts)
        if not only or "limits" in only:
            log("[limits] the path's frame rate (dpdk-testpmd: af_xdp on a veth, memif)")
            res["limits"] = path_limits(tmp)
        if not only or "protocols" in only:
            log("[protocols] Homa (Fig. 4a) and QUIC-Lite (Fig. 4c) on the sim wire")
            res["protocols"] = protocol_scenarios(b)
    finally:
        if os.environ.get("BENCH_KEEP"):
            log(f"kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    md = f"## Results {stamp}{' (BENCH_QUICK)' if QUICK else ''}\n\n" \
         f"{res['machine']['cpus']} CPUs ({res['machine']['cpu']}), kernel {res['machine']['kernel']}, " \
         f"{SECS} s per measurement, load average before {' '.join(res['machine']['loadavg_before'])}. " \
         "Ratios are to the `kernel` column of the same table, measured in the same run.\n" + tables_md(res)
    res["plots"] = plots(res, stem)
    with open(stem + ".json", "w") as f:
        json.dump(res, f, indent=1)
    with open(stem + ".md", "w") as f:
        f.write(md + "\nPlots: " + ", ".join(os.path.basename(p) for p in res["plots"]) + "\n")
    print(md)
    log(f"written: {stem}.json, {stem}.md, {len(res['plots'])} plots")


if __name__ == "__main__":
    main()
