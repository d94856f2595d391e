# targets/dpdk: the DPDK packet target, build/lib/libmtp_dpdk.a.
#
# Link it with $(DPDK_LIBS) after the archive. Debian's DPDK (22.11) is linked shared: the
# EAL then loads every PMD of its plugin directory (RTE_EAL_PMD_PATH,
# /usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0) at rte_eal_init, so net_af_packet, net_af_xdp,
# net_memif and net_tap need neither explicit linking nor -d. (Static linking,
# `pkg-config --static`, pulls every driver with --whole-archive and their system libraries;
# on this Debian it fails for want of libsystemd-dev, and it is not used.)
# DPDK_PC, DPDK_CFLAGS, DPDK_LIBS and DPDK_LIB are set by the top Makefile.
ifeq ($(DPDK_PC),yes)
DPDK_OBJS   := $(B)/obj/targets/dpdk/dpdk.o
LIBS += $(DPDK_LIB)

# -fPIC: the archive also goes into the LD_PRELOAD library.
$(B)/obj/targets/dpdk/%.o: targets/dpdk/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fPIC $(DPDK_CFLAGS) -MMD -MP -c $< -o $@

$(DPDK_LIB): $(DPDK_OBJS)
	@mkdir -p $(@D)
	ar rcs $@ $^

# The same under ASan+UBSan, for mtpcat's sanitizer build (test-dpdk-tcp-san).
$(B)/san/obj/targets/dpdk/%.o: targets/dpdk/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) $(SANFLAGS) $(DPDK_CFLAGS) -MMD -MP -c $< -o $@
$(DPDK_SLIB): $(B)/san/obj/targets/dpdk/dpdk.o
	@mkdir -p $(@D)
	ar rcs $@ $^

# Tests: plain C programs driven by shell scripts that build namespaces and veths
# (names md*), bounded by timeout, cleaned up by trap.
DPDK_TEST_BINS := $(patsubst targets/dpdk/tests/%.c,$(B)/tests/dpdk/%,\
                    $(wildcard targets/dpdk/tests/test_*.c))
# (the target uses core's checksum code: libmtpcore.a after it)
$(B)/tests/dpdk/%: targets/dpdk/tests/%.c targets/dpdk/tests/frames.h $(DPDK_LIB) $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DPDK_CFLAGS) -Itargets/dpdk/tests $< $(DPDK_LIB) $(CORE_LIB) $(DPDK_LIBS) -o $@

DPDK_TEST_SCRIPTS := $(filter-out targets/dpdk/tests/run_stack% targets/dpdk/tests/run_tcp.sh \
                       targets/dpdk/tests/run_tso.sh,\
                       $(wildcard targets/dpdk/tests/run_*.sh))

# An mtp stack on the DPDK target.
DPDK_TEST_BINS += $(B)/tests/dpdk/stack_test
DPDK_TEST_SCRIPTS += $(wildcard targets/dpdk/tests/run_stack*.sh)
$(B)/tests/dpdk/stack_test: targets/dpdk/tests/stack_test.c targets/dpdk/tests/frames.h \
                            $(DPDK_LIB) $(CORE_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itargets/dpdk/tests $< $(CORE_LIB) $(DPDK_LIB) $(DPDK_LIBS) -lm -o $@

# TCP through mtpcat (tools/mtpcat):
# kernel TCP over af_packet and af_xdp, mtpcat to mtpcat over memif. DPDK_TCP_MB: size.
DPDK_TCP_MB ?= 100
.PHONY: test-dpdk-tcp
# The kernel's veth with its default offloads, then with them off (20 MB).
test-dpdk-tcp: $(B)/bin/mtpcat
	timeout 1500 bash targets/dpdk/tests/run_tcp.sh $(B)/bin/mtpcat $(DPDK_TCP_MB)
	MD_OFFLOADS=off timeout 900 bash targets/dpdk/tests/run_tcp.sh $(B)/bin/mtpcat 20
TESTS += test-dpdk-tcp

# The same steps with mtpcat and the target under ASan+UBSan, 5 MB transfers.
.PHONY: test-dpdk-tcp-san
test-dpdk-tcp-san: $(B)/san/bin/mtpcat
	LSAN_OPTIONS=$(LSAN_OPTIONS):suppressions=$(abspath targets/dpdk/tests/lsan.supp) \
	    timeout 900 bash targets/dpdk/tests/run_tcp.sh $(B)/san/bin/mtpcat 5 5
TESTS += test-dpdk-tcp-san

# Segmentation offload: mtpcat on net_tap (TSO, mbuf chains) to kernel TCP. DPDK_TSO_MB: size.
DPDK_TSO_MB ?= 50
.PHONY: test-dpdk-tso
test-dpdk-tso: $(B)/bin/mtpcat
	timeout 600 bash targets/dpdk/tests/run_tso.sh $(B)/bin/mtpcat $(DPDK_TSO_MB)
TESTS += test-dpdk-tso

.PHONY: test-dpdk
test-dpdk: $(DPDK_TEST_BINS)
	@set -e; for s in $(DPDK_TEST_SCRIPTS); do \
	  echo "== $$s"; B=$(B) timeout 120 bash $$s; done
TESTS += test-dpdk

-include $(DPDK_OBJS:.o=.d) $(B)/san/obj/targets/dpdk/dpdk.d
else
$(info targets/dpdk: libdpdk not found by pkg-config (install libdpdk-dev); DPDK target not built)
$(foreach t,test-dpdk test-dpdk-tcp test-dpdk-tso test-dpdk-tcp-san,$(eval SKIP_WHY_$(t) := libdpdk not found by pkg-config (install libdpdk-dev)))
endif
