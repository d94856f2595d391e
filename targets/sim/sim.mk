# targets/sim: the simulated wire. build/lib/libmtp_sim.a and build/san/lib/libmtp_sim.a;
# link it before libmtpcore.a: $(SIM_SLIB) $(CORE_SLIB). Tests in targets/sim/tests/test_*.c
# are Criterion binaries run under the sanitizers by `make test` (target test-sim).
SIM_SRCS  := $(wildcard targets/sim/*.c)
SIM_OBJS  := $(SIM_SRCS:%.c=$(B)/obj/%.o)
SIM_SOBJS := $(SIM_SRCS:%.c=$(B)/san/obj/%.o)
LIBS += $(SIM_LIB) $(SIM_SLIB)

$(SIM_LIB): $(SIM_OBJS)
	@mkdir -p $(@D)
	ar rcs $@ $^
$(SIM_SLIB): $(SIM_SOBJS)
	@mkdir -p $(@D)
	ar rcs $@ $^

SIM_TESTS := $(patsubst targets/sim/tests/%.c,$(B)/san/tests/sim/%,$(wildcard targets/sim/tests/test_*.c))
$(B)/san/tests/sim/%: targets/sim/tests/%.c $(SIM_SLIB) $(CORE_SLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) $(SANFLAGS) $(SIM_CFLAGS) -Icore/src $< $(SIM_SLIB) $(CORE_SLIB) \
	    $(CRITERION) -lm -o $@

# core/tests/test_stack_sim.c and test_rx_csum.c run stacks over the wire: core.mk's generic
# rule would not link the sim library, so this explicit rule (which wins over the pattern) does.
$(B)/san/tests/core/test_stack_sim $(B)/san/tests/core/test_rx_csum: \
        $(B)/san/tests/core/%: core/tests/%.c core/tests/sim_prog.h $(SIM_SLIB) $(CORE_SLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) $(SANFLAGS) $(SIM_CFLAGS) -Icore/src $< $(SIM_SLIB) $(CORE_SLIB) \
	    $(CRITERION) -lm -o $@

.PHONY: test-sim
test-sim: $(SIM_TESTS)
	@set -e; for t in $(SIM_TESTS); do echo "== $$t"; $(SANRUN) $$t --jobs 2; done
TESTS += test-sim

-include $(SIM_OBJS:.o=.d) $(SIM_SOBJS:.o=.d)
