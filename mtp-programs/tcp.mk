# mtp-programs/tcp.mk: the tests of tcp.mtp. build/gen/tcp.{c,h} and build/san/obj/gen/tcp.o
# come from mtp-programs/programs.mk (mtpc). Processor tests (test_tcp_*.c) link the
# generated program and the runtime's helpers; sim tests (test_tcp_sim*.c) also the sim wire
# and the socket layer. All run under ASan+UBSan: `make test-tcp`.
TCP_GEN_H  := $(B)/gen/tcp.h
TCP_SOBJ   := $(B)/san/obj/gen/tcp.o
TCP_TESTS  := $(patsubst mtp-programs/tests/%.c,$(B)/san/tests/tcp/%,\
                $(wildcard mtp-programs/tests/test_tcp_*.c))
TCP_TEST_CFLAGS := $(CFLAGS_COMMON) $(SANFLAGS) -I$(B)/gen -Ipreload -Itargets/sim \
                   -Imtp-programs/tests

.SECONDEXPANSION:
$(B)/san/tests/tcp/%: mtp-programs/tests/%.c $(wildcard mtp-programs/tests/*.h) $(TCP_GEN_H) \
                      $(TCP_SOBJ) $$(MTP_SOCK_SLIB) $(SIM_SLIB) $(CORE_SLIB)
	@mkdir -p $(@D)
	$(CC) $(TCP_TEST_CFLAGS) $< $(MTP_SOCK_SLIB) $(SIM_SLIB) $(CORE_SLIB) \
	    $(CRITERION) -lm -o $@

.PHONY: test-tcp
test-tcp: $(TCP_TESTS)
	@set -e; for t in $(TCP_TESTS); do echo "== $$t"; $$t --jobs 2; done
ifneq ($(wildcard mtp-programs/programs.mk),)
TESTS += test-tcp
endif
