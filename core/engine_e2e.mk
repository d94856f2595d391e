# core/engine_e2e.mk — the engine end to end over compiled code: mtpc turns
# gen/tests/ok/echo.mtp into C (in build/gen/e2e/, apart from mtp-programs' outputs) and one
# Criterion binary (ASan+UBSan) runs two engines exchanging packets through it.
# Skipped while the tree has no compiler (gen/gen.mk defines MTPC).
ifneq ($(MTPC),)
ifneq ($(wildcard gen/tests/ok/echo.mtp),)
E2E_ECHO_DIR  := $(B)/gen/e2e
E2E_ECHO_TEST := $(B)/san/tests/core/e2e_engine_echo

$(E2E_ECHO_DIR)/echo.c: gen/tests/ok/echo.mtp $(MTPC)
	@mkdir -p $(@D)
	$(MTPC) -o $@ $<
$(E2E_ECHO_DIR)/echo.h: $(E2E_ECHO_DIR)/echo.c ;

$(E2E_ECHO_TEST): core/tests/e2e_engine_echo.c $(E2E_ECHO_DIR)/echo.c $(E2E_ECHO_DIR)/echo.h $(CORE_SLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) $(SANFLAGS) -DMTP_ASSERTS -Icore/src -I$(E2E_ECHO_DIR) \
	  core/tests/e2e_engine_echo.c $(E2E_ECHO_DIR)/echo.c $(CORE_SLIB) $(CRITERION) -lm -o $@

.PHONY: test-engine-e2e
test-engine-e2e: $(E2E_ECHO_TEST)
	@echo "== $(E2E_ECHO_TEST)"
	@$(E2E_ECHO_TEST) --jobs 2
TESTS += test-engine-e2e
endif
endif
