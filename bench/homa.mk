# bench/homa.mk: `make bench-homa` runs the paper's Fig. 4a scenario for homa.mtp on the sim
# wire (bench/homa_fig4a.c) and prints slowdown p50/p99 with and without priority queues,
# and for tcp.mtp on the same wire.
# Not a test: nothing asserts on time. BENCH_HOMA_RPCS (default 200) sets the RPC count.
BENCH_HOMA := $(B)/bin/bench_homa_fig4a
BENCH_HOMA_RPCS ?= 200

$(BENCH_HOMA): bench/homa_fig4a.c bench/fig4a_tcp.h mtp-programs/tests/homa_sim.h \
               $(B)/gen/homa.h $(B)/obj/gen/homa.o $(MTP_SOCK_LIB) $(SIM_LIB) $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -I$(B)/gen $(SIM_CFLAGS) -Ipreload -Imtp-programs/tests $< \
	    $(B)/obj/gen/homa.o $(MTP_SOCK_LIB) $(SIM_LIB) $(CORE_LIB) -lm -o $@

.PHONY: bench-homa
bench-homa: $(BENCH_HOMA)
	$(BENCH_HOMA) $(BENCH_HOMA_RPCS)

# `make bench-homa-veth`: Fig. 4a and redis GET latency under 1 MB SETs over a veth pair, for
# kernel TCP, MTP TCP and MTP Homa (libmtp.so on both ends) in one run (bench/homa_veth.sh):
# clients A and B in separate processes, BENCH_REPS interleaved repetitions (default 3), the
# median [min-max] over them. BENCH_HOMA_VETH_RPCS / _GETS set the sizes; SET_RATE the SETs'
# bytes/s. Needs root.
BENCH_HOMA_VETH := $(B)/bin/bench_homa_veth
BENCH_HOMA_VETH_RPCS ?= 300
BENCH_HOMA_VETH_GETS ?= 3000
BENCH_REPS ?= 3
BINS += $(BENCH_HOMA_VETH)

$(BENCH_HOMA_VETH): bench/homa_veth.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $< -o $@

.PHONY: bench-homa-veth
bench-homa-veth: $(BENCH_HOMA_VETH) $(LIBMTP_SO) $(B)/bpf/tcp.bpf.o $(B)/bpf/homa.bpf.o
	BENCH_REPS=$(BENCH_REPS) timeout 3600 bash bench/homa_veth.sh $(LIBMTP_SO) $(BENCH_HOMA_VETH) \
	    $(BENCH_HOMA_VETH_RPCS) $(BENCH_HOMA_VETH_GETS)
