# core/: every core/src/*.c goes into build/lib/libmtpcore.a (release) and
# build/san/lib/libmtpcore.a (ASan+UBSan). Every core/tests/test_*.c is one Criterion binary,
# built and run under the sanitizers by `make test`.
CORE_SRCS  := $(wildcard core/src/*.c)
CORE_OBJS  := $(CORE_SRCS:%.c=$(B)/obj/%.o)
CORE_SOBJS := $(CORE_SRCS:%.c=$(B)/san/obj/%.o)
LIBS += $(CORE_LIB)

$(CORE_LIB): $(CORE_OBJS)
	@mkdir -p $(@D)
	ar rcs $@ $^
$(CORE_SLIB): $(CORE_SOBJS)
	@mkdir -p $(@D)
	ar rcs $@ $^

CORE_TESTS := $(patsubst core/tests/%.c,$(B)/san/tests/core/%,$(wildcard core/tests/test_*.c))
$(B)/san/tests/core/%: core/tests/%.c $(CORE_SLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) $(SANFLAGS) -Icore/src $< $(CORE_SLIB) $(CRITERION) -lm -o $@

.PHONY: test-core
test-core: $(CORE_TESTS)
	@set -e; for t in $(CORE_TESTS); do echo "== $$t"; $(SANRUN) $$t --jobs 2; done
TESTS += test-core

-include $(CORE_OBJS:.o=.d) $(CORE_SOBJS:.o=.d)
