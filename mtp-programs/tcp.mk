# mtp-programs/tcp.mk: the tests of tcp.mtp, all under ASan+UBSan: `make test-tcp`.
# build/gen/tcp.{c,h} come from mtp-programs/programs.mk (mtpc), the socket layer (which
# holds the compiled program) from preload/preload.mk. Processor tests (test_tcp_states.c,
# test_tcp_mechanisms.c) call generated processors directly; test_tcp_sim.c runs two stacks
# on the sim wire through the socket layer.
TCP_GEN_H  := $(B)/gen/tcp.h
TCP_SOBJ   := $(B)/san/obj/gen/tcp.o
TCP_TESTS  := $(patsubst mtp-programs/tests/%.c,$(B)/san/tests/tcp/%,\
                $(wildcard mtp-programs/tests/test_tcp_*.c))
TCP_TEST_CFLAGS := $(CFLAGS_COMMON) $(SANFLAGS) -I$(B)/gen -Ipreload -Itargets/sim \
                   -Imtp-programs/tests

$(B)/san/tests/tcp/%: mtp-programs/tests/%.c $(wildcard mtp-programs/tests/*.h) $(TCP_GEN_H) \
                      $(TCP_SOBJ) $(MTP_SOCK_SLIB) $(SIM_SLIB) $(CORE_SLIB)
	@mkdir -p $(@D)
	$(CC) $(TCP_TEST_CFLAGS) $< $(MTP_SOCK_SLIB) $(SIM_SLIB) $(CORE_SLIB) \
	    $(CRITERION) -lm -o $@

# The same program with CUBIC instead of NewReno -- the default of its CC param (what
# MTP_PARAM_CC=1 sets at run time) -- and the sim transfers run over it (same file name, so
# the same mtpg_tcp_* names; its modules beside it, as it imports them by relative path).
TCP_CUBIC := $(B)/gen/cubic
TCP_MODULES := $(wildcard mtp-programs/tcp/*.mtp)
$(TCP_CUBIC)/tcp.mtp: mtp-programs/tcp.mtp $(TCP_MODULES)
	@mkdir -p $(@D)
	rm -rf $(TCP_CUBIC)/tcp && cp -r mtp-programs/tcp $(TCP_CUBIC)/tcp
	sed 's/^param uint8 CC = CC_NEWRENO;/param uint8 CC = CC_CUBIC;/' $< >$@
	grep -q '^param uint8 CC = CC_CUBIC;' $@
$(TCP_CUBIC)/tcp.c $(TCP_CUBIC)/tcp.h &: $(TCP_CUBIC)/tcp.mtp $(MTPC)
	$(MTPC) -o $(TCP_CUBIC)/tcp.c $<
# (the socket layer knows every shim: the other programs come along; preload/preload.mk's
# SOCK_SRCS lists the same files)
TCP_CUBIC_SOCK := preload/sock.c preload/sock_protos.c preload/shim_tcp.c preload/shim_homa.c \
                  preload/shim_quic.c $(B)/gen/homa.c $(B)/gen/quic_lite.c
$(B)/san/tests/tcp/cubic_sim: mtp-programs/tests/test_tcp_sim.c $(TCP_CUBIC)/tcp.c $(TCP_CUBIC)/tcp.h \
                              $(TCP_CUBIC_SOCK) $(B)/gen/homa.h $(B)/gen/quic_lite.h \
                              $(wildcard preload/*.h) $(SIM_SLIB) $(CORE_SLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) $(SANFLAGS) -DMTP_ASSERTS -I$(TCP_CUBIC) -I$(B)/gen -Ipreload \
	    -Itargets/sim $< $(TCP_CUBIC)/tcp.c $(TCP_CUBIC_SOCK) $(SIM_SLIB) $(CORE_SLIB) \
	    $(CRITERION) -lm -o $@

.PHONY: test-tcp
test-tcp: $(TCP_TESTS) $(B)/san/tests/tcp/cubic_sim
	@set -e; for t in $(TCP_TESTS); do echo "== $$t"; $(SANRUN) $$t --jobs 2; done
	@echo "== $(B)/san/tests/tcp/cubic_sim (tcp.mtp with CC = CC_CUBIC)"
	@$(SANRUN) $(B)/san/tests/tcp/cubic_sim --jobs 2 --filter 'sim_transfer/*'
TESTS += test-tcp
