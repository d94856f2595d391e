# mtp-programs/homa.mk: the tests of homa.mtp, all under ASan+UBSan: `make test-homa`.
# Processor tests (test_homa_procs.c) call generated processors directly; test_homa_sim.c
# runs stacks on the sim wire with the program alone; test_homa_sock.c byte streams through
# the socket layer's Homa shim (preload/shim_homa.c).
HOMA_GEN_H := $(B)/gen/homa.h
HOMA_SOBJ  := $(B)/san/obj/gen/homa.o
HOMA_TESTS := $(patsubst mtp-programs/tests/%.c,$(B)/san/tests/homa/%,\
                $(wildcard mtp-programs/tests/test_homa_*.c))

# test_homa_sock.c goes through the socket layer (shim_homa.c), which holds the program
$(B)/san/tests/homa/test_homa_sock: mtp-programs/tests/test_homa_sock.c $(MTP_SOCK_SLIB) \
                                    $(SIM_SLIB) $(CORE_SLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) $(SANFLAGS) -I$(B)/gen -Ipreload -Itargets/sim $< $(MTP_SOCK_SLIB) \
	    $(SIM_SLIB) $(CORE_SLIB) $(CRITERION) -lm -o $@

$(B)/san/tests/homa/%: mtp-programs/tests/%.c $(wildcard mtp-programs/tests/homa_*.h) \
                       $(HOMA_GEN_H) $(HOMA_SOBJ) $(SIM_SLIB) $(CORE_SLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) $(SANFLAGS) -DMTP_ASSERTS -I$(B)/gen -Itargets/sim \
	    -Imtp-programs/tests $< $(HOMA_SOBJ) $(SIM_SLIB) $(CORE_SLIB) $(CRITERION) -lm -o $@

.PHONY: test-homa
test-homa: $(HOMA_TESTS)
	@set -e; for t in $(HOMA_TESTS); do echo "== $$t"; $$t --jobs 2; done
TESTS += test-homa
