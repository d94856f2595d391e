# bench/: `make bench` runs MTP next to kernel TCP (throughput, latency, memory per idle
# connection) and prints one table. Not a test: nothing here asserts on time, and it is not
# in TESTS. BENCH_MB (default 1024) sets the bulk transfer size, BENCH_RTT the round trips,
# BENCH_CONNS the idle connections. Needs root (namespaces, XDP).
BENCH_BINS := $(B)/bin/bench_kcat $(B)/bin/bench_pingpong $(B)/bin/bench_idle_conns \
              $(B)/bin/bench_kidle
BINS += $(BENCH_BINS)

BENCH_MB    ?= 1024
BENCH_RTT   ?= 20000
BENCH_CONNS ?= 10000

$(B)/bin/bench_kcat: bench/kcat.c
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

.PHONY: bench
bench: $(BENCH_BINS) $(B)/bin/mtpcat $(B)/bpf/tcp.bpf.o
	@BENCH_MB=$(BENCH_MB) BENCH_RTT=$(BENCH_RTT) BENCH_CONNS=$(BENCH_CONNS) \
	    bash bench/bench.sh $(B)
