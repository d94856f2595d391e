# targets/xdp/tests/: netns integration tests of the XDP target (root; each bounded by `timeout`,
# namespaces removed by trap). The XDP target tests need no transport program: they use the
# hand-written hook header in fixtures/ (a UDP-numbered toy protocol).
XDPT_DIR     := $(B)/tests/xdp
XDPT_ECHO    := $(XDPT_DIR)/xdp_echo
XDPT_HOOK    := $(XDPT_DIR)/udp_echo.bpf.o

$(XDPT_HOOK): targets/xdp/mtp_xdp.bpf.c targets/xdp/mtp_xdp.h targets/xdp/tests/fixtures/udp_echo.bpf.h
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -Itargets/xdp/tests/fixtures -DMTP_XDP_PROTO_HEADER='"udp_echo.bpf.h"' \
	    -c $< -o $@

$(XDPT_ECHO): targets/xdp/tests/xdp_echo.c $(XDP_SLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) $(SANFLAGS) -Itargets/xdp $< $(XDP_SLIB) $(XDP_LDLIBS) -o $@

# the fill ring's level policy (fill_level.h), a pure function: Criterion, under the sanitizers
XDPT_UNIT := $(B)/san/tests/xdp/test_fill_level
$(XDPT_UNIT): targets/xdp/tests/test_fill_level.c targets/xdp/fill_level.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) $(SANFLAGS) -Itargets/xdp $< $(CRITERION) -o $@

.PHONY: test-xdp test-xdp-unit test-xdp-echo test-xdp-crash test-xdp-multiqueue test-xdp-errors test-multiproc
test-xdp-unit: $(XDPT_UNIT)
	$(SANRUN) $(XDPT_UNIT) --jobs 2
test-xdp-echo: $(XDPT_ECHO) $(XDPT_HOOK)
	timeout 120 bash targets/xdp/tests/xdp_echo.sh $(XDPT_ECHO) $(XDPT_HOOK)
test-xdp-crash: $(XDPT_ECHO) $(XDPT_HOOK)
	timeout 120 bash targets/xdp/tests/xdp_crash.sh $(XDPT_ECHO) $(XDPT_HOOK)
test-xdp-multiqueue: $(XDPT_ECHO) $(XDPT_HOOK)
	timeout 120 bash targets/xdp/tests/xdp_multiqueue.sh $(XDPT_ECHO) $(XDPT_HOOK)
# several processes on one interface and queue (docs/MULTIPROC.md): its own suite
test-multiproc: $(XDPT_ECHO) $(XDPT_HOOK) $(B)/bin/mtpcat $(XDP_BPF_OBJS) $(LIBMTP_SO) $(MTPSTAT)
	timeout 30 bash tests/netns_selftest.sh
	timeout 120 bash targets/xdp/tests/xdp_multiproc.sh $(XDPT_ECHO) $(XDPT_HOOK)
	timeout 200 bash targets/xdp/tests/xdp_multiproc_tcp.sh $(B)/bin/mtpcat
	timeout 200 bash targets/xdp/tests/xdp_multiproc_redis.sh $(LIBMTP_SO) $(MTPSTAT)
	timeout 120 bash targets/xdp/tests/xdp_multiproc_reuseport.sh $(LIBMTP_SO) $(MTPSTAT)
TESTS += test-multiproc
# mtpcat's configuration errors too (tools/mtpcat)
XDPT_MTPCAT := $(B)/bin/mtpcat
test-xdp-errors: $(XDPT_ECHO) $(XDPT_HOOK) $(XDPT_MTPCAT)
	timeout 60 bash targets/xdp/tests/xdp_errors.sh $(XDPT_ECHO) $(XDPT_HOOK) $(XDPT_MTPCAT)
test-xdp: test-xdp-unit test-xdp-echo test-xdp-crash test-xdp-multiqueue test-xdp-errors
TESTS += test-xdp

