# compat-tests/: the socket-behaviour suite (src/ct_*.c, one program per behaviour area) and the
# real applications (apps/). Every program passes on the kernel; the same binaries run again
# under LD_PRELOAD=build/lib/libmtp.so with identical expectations, on `lo` and across two
# namespaces (run.sh). Needs root (namespaces).
#   test-compat          the suite on the kernel (lo, two namespaces) and, once libmtp.so is
#                        built, under it: in `make test` (about 30 s)
#   test-compat-preload  the suite under libmtp.so in every arrangement, all programs
#   test-compat-apps     the cheap application runs (in `make test`)
#   test-compat-apps-long  the long ones: 100 MB through nginx, wrk 5 s, iperf3 -t 5 ...
CT_PROGS   := fd route errno io sockopt poll epoll
CT_BINS    := $(CT_PROGS:%=$(B)/compat/ct_%)
CT_CFLAGS  := $(CFLAGS) -pthread
BINS       += $(CT_BINS)
LIBMTP_SO  ?= $(B)/lib/libmtp.so

$(B)/compat/ct_%: compat-tests/src/ct_%.c compat-tests/src/ct.c compat-tests/src/ct.h
	@mkdir -p $(@D)
	$(CC) $(CT_CFLAGS) -Icompat-tests/src $< compat-tests/src/ct.c -o $@

# The programs and arrangements run under libmtp.so by `make test` (every one of each);
# test-compat-preload runs the same without the kernel half.
CT_PRELOAD_OK  ?= $(CT_PROGS)
CT_PRELOAD_ARR ?= lo lo-kpeer lo-mpeer ns ns-both

.PHONY: test-compat test-compat-preload test-compat-apps test-compat-apps-long
test-compat: $(CT_BINS) $(wildcard $(LIBMTP_SO))
	timeout 300 bash compat-tests/run.sh --kernel $(CT_BINS)
	@if [ -n "$(CT_PRELOAD_OK)" ] && [ -e $(LIBMTP_SO) ]; then \
	  echo "compat: under $(LIBMTP_SO): $(CT_PRELOAD_OK)"; \
	  CT_ARRANGEMENTS="$(CT_PRELOAD_ARR)" timeout 300 bash compat-tests/run.sh --preload $(LIBMTP_SO) \
	    $(CT_PRELOAD_OK:%=$(B)/compat/ct_%); fi
test-compat-preload: $(CT_BINS) $(LIBMTP_SO)
	timeout 600 bash compat-tests/run.sh --preload $(LIBMTP_SO) $(CT_BINS)
TESTS += test-compat

# Real applications (apps/*.sh): server under libmtp.so with a kernel client (ns), with
# libmtp.so on both ends (both), and on lo with a kernel client (lo): cheap runs, in `make test`
# (about a minute); the long runs (100 MB, wrk 5 s, iperf3 -t 5 ...) and the kernel baseline
# separately. Every server must end within 5 s of SIGTERM (APPS_STRICT_EXIT=0 makes that a
# NOTE line).
COMPAT_APPS := nginx redis iperf3 sockperf memcached
COMPAT_APPS_TEST ?= $(COMPAT_APPS)
test-compat-apps: $(LIBMTP_SO)
	LIBMTP_SO=$(LIBMTP_SO) timeout 900 bash compat-tests/apps/run.sh "ns both lo" $(COMPAT_APPS_TEST)
test-compat-apps-all: $(LIBMTP_SO)
	LIBMTP_SO=$(LIBMTP_SO) timeout 1200 bash compat-tests/apps/run.sh "kernel ns both lo" $(COMPAT_APPS)
test-compat-apps-long: $(LIBMTP_SO)
	LIBMTP_SO=$(LIBMTP_SO) timeout 3000 bash compat-tests/apps/run.sh --long "kernel ns both lo" $(COMPAT_APPS)
.PHONY: test-compat-apps-lo test-compat-apps-all test-compat-apps-dpdk
# the same applications with the stacks on the DPDK target (net_af_packet, own addresses)
test-compat-apps-dpdk: $(LIBMTP_SO)
	MTP_TARGET=dpdk LIBMTP_SO=$(LIBMTP_SO) timeout 900 bash compat-tests/apps/run.sh "ns both" $(COMPAT_APPS)
test-compat-apps-lo: $(LIBMTP_SO)
	LIBMTP_SO=$(LIBMTP_SO) timeout 900 bash compat-tests/apps/run.sh "lo" $(COMPAT_APPS)
TESTS += test-compat-apps

# The suite can fail: under ct_liar.so (one bent behaviour per area, see src/ct_liar.c) every
# program must report "not ok" (lo only, on the kernel; a few seconds).
CT_LIAR := $(B)/compat/ct_liar.so
$(CT_LIAR): compat-tests/src/ct_liar.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fPIC -shared $< -ldl -o $@
.PHONY: test-compat-canfail
test-compat-canfail: $(CT_BINS) $(CT_LIAR)
	timeout 300 bash compat-tests/run.sh --must-fail $(CT_LIAR) $(CT_BINS)
TESTS += test-compat-canfail
