# bench/: `make bench` runs MTP next to kernel TCP (throughput, latency, memory per idle
# connection) and prints one table. Not a test: nothing here asserts on time, and it is not
# in TESTS. BENCH_MB (default 1024) sets the bulk transfer size, BENCH_RTT the round trips,
# BENCH_CONNS the idle connections. Needs root (namespaces, XDP).
BENCH_BINS := $(B)/bin/bench_kcat $(B)/bin/bench_pingpong $(B)/bin/bench_idle_conns \
              $(B)/bin/bench_kidle $(B)/bin/bench_connrate
BINS += $(BENCH_BINS)

BENCH_MB    ?= 1024
BENCH_RTT   ?= 20000
BENCH_CONNS ?= 10000

$(B)/bin/bench_kcat: bench/kcat.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $< -o $@

$(B)/bin/bench_connrate: bench/connrate.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $< -o $@

$(B)/bin/bench_kidle: bench/kidle.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $< -o $@

$(B)/bin/bench_pingpong: bench/pingpong.c $(MTP_SOCK_LIB) $(XDP_LIB) $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Ipreload -Itargets/xdp $< $(MTP_SOCK_LIB) $(XDP_LIB) \
	    $(CORE_LIB) $(XDP_LDLIBS) -lm -o $@

$(B)/bin/bench_idle_conns: bench/idle_conns.c $(MTP_SOCK_LIB) $(SIM_LIB) $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Ipreload $(SIM_CFLAGS) $< $(MTP_SOCK_LIB) $(SIM_LIB) $(CORE_LIB) \
	    -lm -o $@

# `make bench`: the applications (bench/apps.py: sockperf, iperf3, nginx + wrk, redis), kernel
# TCP next to MTP under libmtp.so; results in bench/results/<timestamp>.{json,md,png}, the
# tables printed at the end. BENCH_QUICK=1: a short run (< 2 minutes). `make bench-readme`
# puts the newest results into the README. `make bench-micro`: bench.sh (mtpcat bulk
# transfers, request/response over the socket API, memory per idle connection).
BENCH_DEB_PKGS := sockperf iperf3 nginx wrk redis-server redis-tools curl python3-matplotlib
.PHONY: bench bench-deps bench-micro bench-readme
bench-deps:
	$(call install_debs,bench,$(BENCH_DEB_PKGS))
bench: deps bench-deps
	@$(MAKE) --no-print-directory all $(BENCH_HOMA) $(BENCH_QUIC)
	@/usr/bin/python3 bench/apps.py $(B)
bench-micro: $(BENCH_BINS) $(B)/bin/mtpcat $(B)/bpf/tcp.bpf.o
	@BENCH_MB=$(BENCH_MB) BENCH_RTT=$(BENCH_RTT) BENCH_CONNS=$(BENCH_CONNS) \
	    bash bench/bench.sh $(B)
# The README's results section (between its bench markers) becomes the newest results file.
bench-readme:
	@/usr/bin/python3 bench/readme.py README.md bench/results
