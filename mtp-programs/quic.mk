# mtp-programs/quic.mk: the tests of quic_lite.mtp, all under ASan+UBSan: `make test-quic`.
# Processor tests (test_quic_procs.c) call the generated processors and dispatch directly;
# test_quic_sim.c runs two stacks on the sim wire through the program's application events;
# test_quic_sock.c runs sockets over it through the socket layer (preload/shim_quic.c).
QUIC_GEN_H := $(B)/gen/quic_lite.h
QUIC_SOBJ  := $(B)/san/obj/gen/quic_lite.o
QUIC_TESTS := $(patsubst mtp-programs/tests/%.c,$(B)/san/tests/quic/%,\
                $(wildcard mtp-programs/tests/test_quic_*.c))

# test_quic_sock.c goes through the socket layer (shim_quic.c), which holds the program
$(B)/san/tests/quic/test_quic_sock: mtp-programs/tests/test_quic_sock.c $(MTP_SOCK_SLIB) \
                                    $(QUIC_GEN_H) $(SIM_SLIB) $(CORE_SLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) $(SANFLAGS) -I$(B)/gen -Ipreload -Itargets/sim $< $(MTP_SOCK_SLIB) \
	    $(SIM_SLIB) $(CORE_SLIB) $(CRITERION) -lm -o $@

$(B)/san/tests/quic/%: mtp-programs/tests/%.c $(wildcard mtp-programs/tests/quic_*.h) \
                       $(QUIC_GEN_H) $(QUIC_SOBJ) $(SIM_SLIB) $(CORE_SLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) $(SANFLAGS) -I$(B)/gen $(SIM_CFLAGS) -Imtp-programs/tests $< \
	    $(QUIC_SOBJ) $(SIM_SLIB) $(CORE_SLIB) $(CRITERION) -lm -o $@

.PHONY: test-quic
test-quic: $(QUIC_TESTS)
	@set -e; for t in $(QUIC_TESTS); do echo "== $$t"; $$t --jobs 2; done
TESTS += test-quic
