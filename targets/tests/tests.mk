# targets/tests/: netns integration tests of the targets (root; each bounded by `timeout`,
# namespaces removed by trap). The XDP target tests need no transport program: they use the
# hand-written hook header in fixtures/ (a UDP-numbered toy protocol).
XDPT_DIR     := $(B)/tests/xdp
XDPT_ECHO    := $(XDPT_DIR)/xdp_echo
XDPT_HOOK    := $(XDPT_DIR)/udp_echo.bpf.o

$(XDPT_HOOK): targets/xdp/mtp_xdp.bpf.c targets/xdp/mtp_xdp.h targets/tests/fixtures/udp_echo.bpf.h
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -Itargets/tests/fixtures -DMTP_XDP_PROTO_HEADER='"udp_echo.bpf.h"' \
	    -c $< -o $@

# (literal library path: this fragment is read before targets/xdp/xdp.mk)
$(XDPT_ECHO): targets/tests/xdp_echo.c $(B)/san/lib/libmtp_xdp.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) $(SANFLAGS) -Itargets/xdp $< $(B)/san/lib/libmtp_xdp.a $(XDP_LDLIBS) -o $@

.PHONY: test-xdp test-xdp-echo test-xdp-crash test-xdp-multiqueue test-xdp-errors
test-xdp-echo: $(XDPT_ECHO) $(XDPT_HOOK)
	timeout 120 bash targets/tests/xdp_echo.sh $(XDPT_ECHO) $(XDPT_HOOK)
test-xdp-crash: $(XDPT_ECHO) $(XDPT_HOOK)
	timeout 120 bash targets/tests/xdp_crash.sh $(XDPT_ECHO) $(XDPT_HOOK)
test-xdp-multiqueue: $(XDPT_ECHO) $(XDPT_HOOK)
	timeout 120 bash targets/tests/xdp_multiqueue.sh $(XDPT_ECHO) $(XDPT_HOOK)
# mtpcat's configuration errors too when it is built (mtpcat.mk is read before this fragment)
XDPT_MTPCAT := $(if $(wildcard mtp-programs/programs.mk),$(filter $(B)/bin/mtpcat,$(BINS)))
test-xdp-errors: $(XDPT_ECHO) $(XDPT_HOOK) $(XDPT_MTPCAT)
	timeout 60 bash targets/tests/xdp_errors.sh $(XDPT_ECHO) $(XDPT_HOOK) $(XDPT_MTPCAT)
test-xdp: test-xdp-echo test-xdp-crash test-xdp-multiqueue test-xdp-errors
TESTS += test-xdp

# mtpcat against kernel TCP (and itself): once mtpcat and the tcp program are built.
# test-mtpcat-san: the same steps under ASan+UBSan with 5 MB transfers; test-mtpcat-skb: with
# the hook in generic (SKB) mode, 20 MB transfers.
.PHONY: test-mtpcat test-mtpcat-san test-mtpcat-skb
test-mtpcat: $(B)/bin/mtpcat $(B)/bpf/tcp.bpf.o
	timeout 1500 bash targets/tests/mtpcat_tcp.sh $(B)/bin/mtpcat
test-mtpcat-san: $(B)/san/bin/mtpcat $(B)/bpf/tcp.bpf.o
	MTP_XDP_OBJ=$(abspath $(B)/bpf/tcp.bpf.o) timeout 600 bash targets/tests/mtpcat_tcp.sh \
	    $(B)/san/bin/mtpcat 5 5 2
test-mtpcat-skb: $(B)/bin/mtpcat $(B)/bpf/tcp.bpf.o
	MTP_XDP_MODE=skb timeout 600 bash targets/tests/mtpcat_tcp.sh $(B)/bin/mtpcat 20 20 2
ifneq ($(and $(filter $(B)/bin/mtpcat,$(BINS)),$(wildcard mtp-programs/tcp.mtp)),)
TESTS += test-mtpcat test-mtpcat-skb test-mtpcat-san
endif
