# mtp — top-level build. Every component has its own fragment (<dir>/*.mk) that adds to:
#   BINS   programs to build by `make`       TESTS  targets `make test` runs (phony)
#   LIBS   libraries to build by `make`
# Builds go to build/ (release: -O2) and build/san/ (ASan+UBSan, for the unit and sim tests).
SHELL      := /bin/bash
.DEFAULT_GOAL := all
B          := build
CC         ?= cc
CLANG      ?= clang
WARN       := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS_COMMON := -std=gnu11 -g -fno-strict-aliasing $(WARN) -Icore/include -D_GNU_SOURCE
CFLAGS     := -O2 $(CFLAGS_COMMON)
SANFLAGS   := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
CRITERION  := -lcriterion

BINS  :=
LIBS  :=
TESTS :=

# A sanitizer report ends a process with a status no program of ours uses, so a test that
# expects a failure (exit 1) never takes one for it; a caller's own options come after ours
# (and win). Test programs built with the sanitizers run through $(SANRUN), which also fails
# the suite on any report in their output: Criterion ignores how a worker exits once its test
# passed (LeakSanitizer reports at that exit).
MTP_SAN_EXIT := 86
san_opts = $(if $(findstring exitcode=,$(1)),$(1),exitcode=$(MTP_SAN_EXIT)$(if $(1),:$(1)))
export ASAN_OPTIONS := $(call san_opts,$(ASAN_OPTIONS))
export UBSAN_OPTIONS := $(call san_opts,$(UBSAN_OPTIONS))
export LSAN_OPTIONS := $(call san_opts,$(LSAN_OPTIONS))
SANRUN := bash tests/sanrun.sh

# Debian packages the project needs (build, tests, targets, demo).
DEB_PKGS := build-essential pkg-config clang llvm libbpf-dev libxdp-dev xdp-tools \
            libcriterion-dev dpdk dpdk-dev libdpdk-dev libpcap-dev libelf-dev zlib1g-dev \
            iproute2 nftables iputils-ping procps psmisc socat netcat-openbsd ethtool python3 tcpdump bc libclang-rt-14-dev gcc-multilib \
            redis-server redis-tools nginx curl wrk \
            iperf3 sockperf memcached libmemcached-tools
# Server packages among them: installing must not start (or enable at boot) their services.
DEB_SERVICES := nginx redis-server memcached iperf3

# What fragments name across components -- artifact paths and the flags to use them -- is
# defined here once, so that every fragment stands alone: none relies on another fragment's
# variables, or on the order in which they are read.
MTPC          := $(B)/bin/mtpc
MTPC_SAN      := $(B)/san/bin/mtpc
CORE_LIB      := $(B)/lib/libmtpcore.a
CORE_SLIB     := $(B)/san/lib/libmtpcore.a
SIM_LIB       := $(B)/lib/libmtp_sim.a
SIM_SLIB      := $(B)/san/lib/libmtp_sim.a
SIM_CFLAGS    := -Itargets/sim
XDP_LIB       := $(B)/lib/libmtp_xdp.a
XDP_SLIB      := $(B)/san/lib/libmtp_xdp.a
XDP_LDLIBS    := -lxdp -lbpf -lelf -lz
BPF_CFLAGS    := -O2 -g -target bpf -Wall -Werror -I/usr/include/$(shell $(CC) -dumpmachine) \
                 -Itargets/xdp
MTP_SOCK_LIB  := $(B)/lib/libmtpsock.a
MTP_SOCK_SLIB := $(B)/san/lib/libmtpsock.a
LIBMTP_SO     := $(B)/lib/libmtp.so
MTPSTAT       := $(B)/bin/mtpstat
# The DPDK target is built where libdpdk's pkg-config is found (DPDK_LIB empty otherwise).
# DPDK's headers as system headers: our -Werror warnings are not theirs to satisfy.
DPDK_PC       := $(shell pkg-config --exists libdpdk 2>/dev/null && echo yes)
ifeq ($(DPDK_PC),yes)
DPDK_CFLAGS   := $(patsubst -I%,-isystem %,$(shell pkg-config --cflags libdpdk))
DPDK_LIBS     := $(shell pkg-config --libs libdpdk)
DPDK_LIB      := $(B)/lib/libmtp_dpdk.a
DPDK_SLIB     := $(B)/san/lib/libmtp_dpdk.a
endif

# Objects of project C files (fragments add flags per target where they need more).
$(B)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@
$(B)/san/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) $(SANFLAGS) -MMD -MP -c $< -o $@

# Fragments. Each stands alone (read in any order, `make` builds and runs the same commands); the
# order below only decides the order in which `make test` runs the suites: the compiler first,
# then the runtime, targets, programs, the socket layer, tools, and the suites that need all.
FRAGMENTS := $(wildcard gen/*.mk) $(wildcard core/*.mk) $(wildcard targets/*.mk) \
             $(wildcard targets/*/*.mk) $(wildcard targets/*/tests/*.mk) \
             $(wildcard mtp-programs/*.mk) $(wildcard preload/*.mk) \
             $(wildcard tools/*/*.mk) $(wildcard tools/*/tests/*.mk) \
             $(wildcard compat-tests/*.mk) $(wildcard bench/*.mk)
include $(FRAGMENTS)

.PHONY: all deps test demo golden clean
all: $(BINS) $(LIBS)

# $(call install_debs,WHO,PACKAGES): installs what is missing, idempotently (a fresh Debian 12
# machine needs `apt-get update`).
define install_debs
	@missing=$$(for p in $(2); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "$(1): installing:" $$missing; \
	  if [ "$$(id -u)" != 0 ]; then echo "$(1): need root to install packages (run as root)" >&2; exit 1; fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  prc=/usr/sbin/policy-rc.d; own_prc=; \
	  if [ ! -e $$prc ]; then printf '#!/bin/sh\nexit 101\n' >$$prc && chmod 755 $$prc && own_prc=1; fi; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; rc=$$?; \
	  [ -z "$$own_prc" ] || rm -f $$prc; \
	  for s in $(DEB_SERVICES); do case " $$missing " in *" $$s "*) \
	    if command -v systemctl >/dev/null; then systemctl disable --quiet $$s 2>/dev/null; fi; \
	    if command -v update-rc.d >/dev/null; then update-rc.d $$s disable >/dev/null 2>&1; fi;; esac; done; \
	  [ $$rc = 0 ] || exit 1; \
	else echo "$(1): all Debian packages present"; fi
endef
deps:
	$(call install_debs,deps,$(DEB_PKGS))

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory run-tests

# The suites `make test` must run. One that no fragment put in TESTS (a lost condition, a
# library pkg-config does not find) is reported with its reason (SKIP_WHY_<suite>, set by the
# fragment that could not build it) and fails the run under CI (CI=true). Suites beyond these
# run too; add yours here when it must never silently disappear.
SUITES := test-gen test-analysis test-core test-engine-e2e test-engine-programs test-sim \
          test-tcp test-hostile test-quic test-homa test-xdp test-mtpcat \
          test-mtpcat-skb test-mtpcat-san test-mtpcat-lo test-mtpcat-drops test-dpdk test-dpdk-tcp \
          test-dpdk-tso test-dpdk-tcp-san test-libmtp test-mtprun test-install test-compat \
          test-compat-apps test-compat-canfail test-multiproc test-homa-apps-long test-homa-apps-dpdk \
          test-compat-quic test-compat-quic-dpdk test-fork
SUITES_MISSING = $(filter-out $(TESTS),$(SUITES))

# Suites that need root: network namespaces, XDP and AF_XDP, DPDK ports, raw sockets. Run by
# another user, `make test` skips them and says why (under CI=true a skip fails the run); the
# compiler, runtime, sim and protocol suites need no privilege.
ROOT_TESTS := test-xdp test-mtpcat% test-dpdk% test-libmtp test-hostile test-mtprun \
              test-compat test-compat-apps test-compat-canfail test-multiproc test-homa-apps% test-compat-quic% \
              test-fork
IS_ROOT    := $(filter 0,$(shell id -u))
SKIPPED_NOT_ROOT = $(if $(IS_ROOT),,$(filter $(ROOT_TESTS),$(TESTS)))

# Runs every suite even after a failure, then prints one closing line for CI. CI=true also
# reaches the suites: a check they cannot run here (no privilege for the BPF verifier) fails.
.PHONY: run-tests
run-tests:
	@pass=0; fail=0; failed=; \
	$(foreach t,$(SUITES_MISSING),echo "===== $(t): SKIPPED: $(or $(SKIP_WHY_$(t)),no fragment adds it to TESTS)";) \
	$(foreach t,$(SKIPPED_NOT_ROOT),echo "===== $(t): SKIPPED: needs root (network namespaces, XDP, DPDK); run make test as root";) \
	for t in $(filter-out $(SKIPPED_NOT_ROOT),$(TESTS)); do \
	  echo "===== $$t"; \
	  if $(MAKE) --no-print-directory $$t; then pass=$$((pass+1)); else fail=$$((fail+1)); failed="$$failed $$t"; fi; \
	done; \
	[ -z "$$failed" ] || echo "failed suites:$$failed"; \
	skipped="$(strip $(SUITES_MISSING) $(SKIPPED_NOT_ROOT))"; \
	if [ -n "$$skipped" ] && [ "$${CI:-}" = true ]; then \
	  echo "missing suites (CI=true):" $$skipped; fail=$$((fail + $(words $(SUITES_MISSING) $(SKIPPED_NOT_ROOT)))); fi; \
	echo "suites: $$pass passed, $$fail failed$${skipped:+, skipped: $$skipped}"; \
	[ $$fail -eq 0 ]

demo: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory run-demo

clean:
	rm -rf $(B)

$(B)/bin $(B)/lib $(B)/gen $(B)/obj $(B)/san $(B)/tests:
	@mkdir -p $@

# The demo: namespaces up, MTP and kernel TCP moving data both ways, namespaces down.
.PHONY: run-demo
run-demo:
	@bash tools/demo.sh
