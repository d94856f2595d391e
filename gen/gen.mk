# gen/: mtpc, the MTP compiler. build/bin/mtpc (release flags) and build/san/bin/mtpc
# (ASan+UBSan, used by the tests). `make test-gen` runs the Criterion suite (ok/err/golden
# programs, mtp-programs/*.mtp, the generated C under the warning flags, the BPF header under
# clang -target bpf), the crash corpus and a 60 s libFuzzer run of the front end.
MTPC_SRCS := gen/lex.c gen/parse.c gen/sema.c gen/sema_expr.c gen/sema_stmt.c gen/sema_wire.c \
             gen/emit_c.c gen/emit_expr.c gen/emit_stmt.c \
             gen/emit_wire.c gen/emit_bpf.c gen/emit_harness.c gen/main.c
MTPC_HDRS := gen/mtpc.h gen/builtins.h gen/sema.h gen/emit_c.h
BINS      += $(MTPC)

$(MTPC): $(MTPC_SRCS) $(MTPC_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Igen $(MTPC_SRCS) -o $@

$(MTPC_SAN): $(MTPC_SRCS) $(MTPC_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) $(SANFLAGS) -Igen $(MTPC_SRCS) -o $@

GEN_TEST := $(B)/san/tests/gen/test_gen
$(GEN_TEST): gen/tests/test_gen.c gen/builtins.h core/include/mtp/program.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) $(SANFLAGS) $< $(CRITERION) -o $@

# Loads a BPF object into the kernel (verifier only, nothing attached); used by test_gen.
GEN_BPF_LOAD := $(B)/tests/gen/bpf_load
$(GEN_BPF_LOAD): gen/tests/bpf_load.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $< -lbpf -lelf -lz -o $@

# Generated C of the ok programs, for tests that exercise it directly: build/gen/ok/X.c and
# X.h from gen/tests/ok/X.mtp; gen/tests/test_X.c links with it (test_echo, test_frames, …).
# GEN_ECHO_C (echo.c, echo.h next to it) is there for other fragments' end-to-end tests.
GEN_OK_DIR := $(B)/gen/ok
GEN_ECHO_C := $(GEN_OK_DIR)/echo.c
$(GEN_OK_DIR)/%.c $(GEN_OK_DIR)/%.h: gen/tests/ok/%.mtp $(MTPC_SAN)
	@mkdir -p $(@D)
	ASAN_OPTIONS=detect_leaks=0 $(MTPC_SAN) -o $(GEN_OK_DIR)/$*.c $<
.PRECIOUS: $(GEN_OK_DIR)/%.c $(GEN_OK_DIR)/%.h
GEN_RUN_TESTS := $(patsubst gen/tests/%.c,$(B)/san/tests/gen/%,$(filter-out gen/tests/test_gen.c,$(wildcard gen/tests/test_*.c)))
# (linked with the runtime library for its helpers: keyed_hash, sliding windows, ...)
$(B)/san/tests/gen/test_%: gen/tests/test_%.c $(GEN_OK_DIR)/%.c $(B)/san/lib/libmtpcore.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) $(SANFLAGS) -DMTP_ASSERTS -I$(GEN_OK_DIR) $< $(GEN_OK_DIR)/$*.c \
	  $(B)/san/lib/libmtpcore.a $(CRITERION) -lm -o $@

# libFuzzer target: the whole front end (lexer, parser, sema) on arbitrary bytes.
GEN_FUZZ := $(B)/san/tests/gen/fuzz_mtpc
GEN_FUZZ_SRCS := $(filter-out gen/main.c,$(MTPC_SRCS)) gen/tests/fuzz_mtpc.c
$(GEN_FUZZ): $(GEN_FUZZ_SRCS) $(MTPC_HDRS)
	@mkdir -p $(@D)
	$(CLANG) -std=gnu11 -g -O1 -D_GNU_SOURCE -Igen -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=undefined $(GEN_FUZZ_SRCS) -o $@

.PHONY: test-gen fuzz-gen golden
test-gen: $(MTPC) $(MTPC_SAN) $(GEN_TEST) $(GEN_BPF_LOAD) $(GEN_RUN_TESTS)
	@echo "== $(GEN_TEST)"
	@MTPC=$(MTPC_SAN) BPF_LOAD=$(GEN_BPF_LOAD) $(SANRUN) $(GEN_TEST) --jobs 2
	@set -e; for t in $(GEN_RUN_TESTS); do echo "== $$t"; $(SANRUN) $$t --jobs 2; done
	@echo "== gen/tests/corpus.sh"
	@bash gen/tests/corpus.sh $(MTPC_SAN)
	@$(MAKE) --no-print-directory fuzz-gen
TESTS += test-gen

# Runs the fuzzer for 60 s seeded by the ok programs; a crash fails the target. The random
# seed is printed (FUZZ_SEED=N repeats a run); an input that crashed, leaked or hung is kept
# in gen/tests/corpus/ as fuzz-<sha1>.mtp, where corpus.sh replays it on every run: commit it
# with the fix.
ifndef FUZZ_SEED
FUZZ_SEED := $(shell od -An -N4 -tu4 /dev/urandom | tr -d ' ')
endif
fuzz-gen: $(GEN_FUZZ)
	@echo "== $(GEN_FUZZ) (60 s, -seed=$(FUZZ_SEED); repeat with FUZZ_SEED=$(FUZZ_SEED))"
	@rm -rf $(B)/tmp/fuzz-gen && mkdir -p $(B)/tmp/fuzz-gen/corpus
	@cp gen/tests/ok/*.mtp gen/tests/corpus/*.mtp $(B)/tmp/fuzz-gen/corpus/
	@$(GEN_FUZZ) -seed=$(FUZZ_SEED) -max_total_time=60 -timeout=10 -rss_limit_mb=1024 \
	  -artifact_prefix=$(B)/tmp/fuzz-gen/ $(B)/tmp/fuzz-gen/corpus >$(B)/tmp/fuzz-gen/log 2>&1 \
	  || { tail -40 $(B)/tmp/fuzz-gen/log; \
	       for a in $(B)/tmp/fuzz-gen/crash-* $(B)/tmp/fuzz-gen/leak-* $(B)/tmp/fuzz-gen/timeout-* \
	                $(B)/tmp/fuzz-gen/oom-*; do [ -f "$$a" ] || continue; \
	         k=gen/tests/corpus/fuzz-$$(sha1sum "$$a" | cut -c1-12).mtp; cp "$$a" "$$k"; \
	         echo "fuzz-gen: kept $$(basename "$$a") as $$k (seed $(FUZZ_SEED))"; done; exit 1; }
	@grep -E "^Done|stat::number_of_executed_units" $(B)/tmp/fuzz-gen/log | tail -1

# Protocol analysis (mtpc --emit=harness): every shipped program and the analysis test
# program run clean for a bounded time; its seeded-bug variants are each found in under a
# minute (gen/tests/analysis.sh; CHAIN_S=300 PARSE_S=60 make test-analysis fuzzes longer).
.PHONY: test-analysis
test-analysis: $(MTPC)
	@echo "== gen/tests/analysis.sh"
	@bash gen/tests/analysis.sh $(MTPC) $(B)/tmp/analysis
TESTS += test-analysis

# Refreshes gen/tests/ok/*.golden.{c,h} from the current compiler (review the diff!).
golden: $(MTPC)
	@mkdir -p $(B)/tmp/golden
	@set -e; for f in gen/tests/ok/*.mtp; do \
	  n=$$(basename $$f .mtp); \
	  $(MTPC) -o $(B)/tmp/golden/$$n.c $$f; \
	  cp $(B)/tmp/golden/$$n.c gen/tests/ok/$$n.golden.c; \
	  cp $(B)/tmp/golden/$$n.h gen/tests/ok/$$n.golden.h; \
	done; echo "golden: refreshed gen/tests/ok/*.golden.{c,h}"
