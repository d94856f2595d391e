# compat-tests/homa.mk: unmodified applications and the socket-behaviour suite over Homa
# (MTP_PROTO=homa, preload/shim_homa.c), libmtp.so on both ends: the kernel has no Homa, so
# it cannot be the peer (apps: `both`; suite: `lo-mpeer`, two processes on lo, and `ns-both`).
# Needs root.
#   test-homa-apps       a short run: redis (SET/GET 1 B-1 MB verified, redis-benchmark -c 50),
#                        iperf3 -t 1, nginx + curl (md5) + wrk, a native Homa client/server
#                        (src/homa_native.c), and the suite programs that need no stopped peer
#   test-homa-apps-long  in `make test` (about 50 s; issue 13's list): redis -n 100000, iperf3
#                        -t 5 / -R / -P 4, nginx 100 MB md5, and every suite program in both
#                        arrangements (not `lo`, one process: ct_errno's keepalive case needs a
#                        Homa peer that stops, docs/HOMA.md)
#   test-homa-apps-dpdk  in `make test` (about 30 s): redis, iperf3 -t 1 and the native Homa
#                        client/server with the stacks on the DPDK target, and the suite across
#                        two namespaces (ns-both) on it
HOMA_APPS        := redis iperf3 nginx
# ct_errno's keepalive case: run.sh's blackhole under Homa is the peer process, stopped
HOMA_CT_PASS     ?= fd route io poll epoll sockopt errno

# a native Homa application (HomaModule's socket conventions, preload/homa_uapi.h)
HOMA_NATIVE := $(B)/compat/homa_native
BINS += $(HOMA_NATIVE)
$(HOMA_NATIVE): compat-tests/src/homa_native.c preload/homa_uapi.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Ipreload $< -o $@

.PHONY: test-homa-apps test-homa-apps-long test-homa-apps-dpdk
test-homa-apps: $(CT_BINS) $(LIBMTP_SO) $(HOMA_NATIVE)
	MTP_PROTO=homa LIBMTP_SO=$(LIBMTP_SO) timeout 300 bash compat-tests/apps/run.sh "both" $(HOMA_APPS) homa_native
	MTP_PROTO=homa CT_ARRANGEMENTS="lo-mpeer ns-both" timeout 300 bash compat-tests/run.sh --preload \
	    $(LIBMTP_SO) $(HOMA_CT_PASS:%=$(B)/compat/ct_%)
test-homa-apps-long: $(CT_BINS) $(LIBMTP_SO) $(HOMA_NATIVE)
	MTP_PROTO=homa LIBMTP_SO=$(LIBMTP_SO) timeout 900 bash compat-tests/apps/run.sh --long "both" $(HOMA_APPS)
	MTP_PROTO=homa CT_ARRANGEMENTS="lo-mpeer ns-both" timeout 900 bash compat-tests/run.sh --preload \
	    $(LIBMTP_SO) $(CT_BINS)
TESTS += test-homa-apps-long
# the same on the DPDK target (net_af_packet on the veths, own addresses)
ifneq ($(DPDK_LIB),)
test-homa-apps-dpdk: $(CT_BINS) $(LIBMTP_SO) $(B)/lib/libmtp_dpdk.so $(HOMA_NATIVE)
	MTP_TARGET=dpdk MTP_PROTO=homa LIBMTP_SO=$(LIBMTP_SO) timeout 600 bash compat-tests/apps/run.sh \
	    "both" redis iperf3 homa_native
	MTP_TARGET=dpdk MTP_PROTO=homa CT_ARRANGEMENTS=ns-both timeout 300 bash compat-tests/run.sh \
	    --preload $(LIBMTP_SO) $(CT_BINS)
TESTS += test-homa-apps-dpdk
else
SKIP_WHY_test-homa-apps-dpdk := libdpdk not found by pkg-config (install libdpdk-dev)
endif
