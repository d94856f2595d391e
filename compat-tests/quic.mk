# compat-tests/quic.mk: the socket-behaviour suite and the applications with MTP_PROTO=quic
# (QUIC-Lite, preload/shim_quic.c) on both ends: a kernel peer speaks TCP, so only the
# arrangements with libmtp.so on both sides apply (ns-both; lo for the suite). What differs
# from TCP, and why, is in preload/README.md ("QUIC-Lite").
#   test-compat-quic        in `make test` (about 30 s): the suite across two namespaces,
#                           minus ct_errno but for its case 2 (ECONNREFUSED: the peer's kernel
#                           answers ICMP port unreachable, the XDP hook steers it to the stack;
#                           also with a kernel peer, `ns`); quic_icmp.sh (the same from python,
#                           and a kernel UDP socket beside the stack still gets its own ICMP
#                           errors); nginx + curl (1 MB md5, keep-alive) + wrk 1 s, and
#                           redis-cli SET/GET 1 B-1 MB + redis-benchmark -c 50 -P 16
#   test-compat-apps-quic   the long runs: nginx 100 MB + wrk, redis-cli + redis-benchmark -c 50,
#                           iperf3 -t 5 / -R / -P 4, sockperf, memcached (a few minutes)
#   test-compat-quic-dpdk   in `make test` (about 40 s): the suite (ns-both, with ct_errno's
#                           case 2), nginx and redis as in test-compat-quic, the stacks on the
#                           DPDK target
#   test-compat-apps-quic-dpdk  the same applications with the stacks on the DPDK target
CT_QUIC_OK := fd route io sockopt poll epoll
.PHONY: test-compat-quic test-compat-apps-quic test-compat-apps-quic-dpdk
test-compat-quic: $(CT_BINS) $(LIBMTP_SO)
	MTP_PROTO=quic CT_ARRANGEMENTS=ns-both timeout 300 bash compat-tests/run.sh \
	    --preload $(LIBMTP_SO) $(CT_QUIC_OK:%=$(B)/compat/ct_%)
	MTP_PROTO=quic CT_ONLY=2 CT_ARRANGEMENTS="ns ns-both" timeout 120 bash compat-tests/run.sh \
	    --preload $(LIBMTP_SO) $(B)/compat/ct_errno
	timeout 60 bash compat-tests/quic_icmp.sh $(LIBMTP_SO)
	MTP_PROTO=quic LIBMTP_SO=$(LIBMTP_SO) timeout 300 bash compat-tests/apps/run.sh both nginx redis
test-compat-apps-quic: $(LIBMTP_SO)
	MTP_PROTO=quic LIBMTP_SO=$(LIBMTP_SO) timeout 3000 bash compat-tests/apps/run.sh --long both \
	    $(COMPAT_APPS)
test-compat-apps-quic-dpdk: $(LIBMTP_SO) $(LIBMTP_DPDK_SO)
	MTP_TARGET=dpdk MTP_PROTO=quic LIBMTP_SO=$(LIBMTP_SO) timeout 900 bash \
	    compat-tests/apps/run.sh both $(COMPAT_APPS)
TESTS += test-compat-quic
ifneq ($(DPDK_LIB),)
.PHONY: test-compat-quic-dpdk
test-compat-quic-dpdk: $(CT_BINS) $(LIBMTP_SO) $(B)/lib/libmtp_dpdk.so
	MTP_TARGET=dpdk MTP_PROTO=quic CT_ARRANGEMENTS=ns-both timeout 300 bash compat-tests/run.sh \
	    --preload $(LIBMTP_SO) $(CT_QUIC_OK:%=$(B)/compat/ct_%)
	MTP_TARGET=dpdk MTP_PROTO=quic CT_ONLY=2 CT_ARRANGEMENTS=ns-both timeout 120 bash \
	    compat-tests/run.sh --preload $(LIBMTP_SO) $(B)/compat/ct_errno
	MTP_TARGET=dpdk MTP_PROTO=quic LIBMTP_SO=$(LIBMTP_SO) timeout 300 bash compat-tests/apps/run.sh \
	    both nginx redis
TESTS += test-compat-quic-dpdk
else
SKIP_WHY_test-compat-quic-dpdk := libdpdk not found by pkg-config (install libdpdk-dev)
endif
