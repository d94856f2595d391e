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
