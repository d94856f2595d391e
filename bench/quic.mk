# bench/quic.mk: `make bench-quic` runs the paper's Fig. 4c scenario (small and large
# responses alternating on one client, a single-threaded server) on the sim wire over
# tcp.mtp and quic_lite.mtp through the socket layer (bench/quic_fig4c.c) and prints the
# small responses' latency and the ratio. Not a test: nothing asserts on time.
# BENCH_QUIC_REQS (default 200) requests, pairs every BENCH_QUIC_GAP_US (default 2000) us.
BENCH_QUIC := $(B)/bin/bench_quic_fig4c
BENCH_QUIC_REQS ?= 200
BENCH_QUIC_GAP_US ?= 2000

$(BENCH_QUIC): bench/quic_fig4c.c $(MTP_SOCK_LIB) $(SIM_LIB) $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SIM_CFLAGS) -Ipreload $< $(MTP_SOCK_LIB) $(SIM_LIB) $(CORE_LIB) -lm -o $@

.PHONY: bench-quic
bench-quic: $(BENCH_QUIC)
	$(BENCH_QUIC) $(BENCH_QUIC_REQS) $(BENCH_QUIC_GAP_US)

# The same scenario as an ordinary sockets program (bench/fig4c_app.c) under libmtp.so over
# veth, both ends on MTP (XDP): `make bench-quic-veth` (root; BENCH_QUIC_VETH_REQS, _GAP_US).
BENCH_QUIC_VETH_REQS ?= 60
BENCH_QUIC_VETH_GAP_US ?= 20000
$(B)/bin/fig4c_app: bench/fig4c_app.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $< -o $@
.PHONY: bench-quic-veth
bench-quic-veth: $(B)/bin/fig4c_app $(LIBMTP_SO) $(B)/bpf/tcp.bpf.o $(B)/bpf/quic_lite.bpf.o
	bash bench/fig4c_veth.sh $(B) $(BENCH_QUIC_VETH_REQS) $(BENCH_QUIC_VETH_GAP_US)
