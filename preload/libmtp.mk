# build/lib/libmtp.so: the LD_PRELOAD socket library (preload/libmtp_*.c over sock.h, the
# runtime and the xdp target), every object compiled position-independent with hidden
# visibility; preload/libmtp.map exports the interposed calls only.
LIBMTP_SRCS := preload/libmtp_core.c preload/libmtp_sock.c preload/libmtp_poll.c preload/libmtp_stat.c \
               preload/libmtp_exec.c preload/libmtp_inherit.c preload/libmtp_handoff.c preload/libmtp_signal.c \
               preload/fdtab.c preload/evq.c preload/sock.c preload/sock_protos.c preload/shim_tcp.c \
               preload/shim_homa.c preload/shim_quic.c
LIBMTP_PIC  := $(LIBMTP_SRCS:%.c=$(B)/pic/obj/%.o) $(patsubst %.c,$(B)/pic/obj/%.o,$(wildcard core/src/*.c)) \
               $(B)/pic/obj/gen/tcp.o $(B)/pic/obj/gen/homa.o $(B)/pic/obj/gen/quic_lite.o \
               $(B)/pic/obj/targets/xdp/xdp.o
PIC_CFLAGS  := $(CFLAGS) -fPIC -fvisibility=hidden
LIBS += $(LIBMTP_SO)

$(B)/pic/obj/preload/%.o: preload/%.c $(B)/gen/tcp.h $(B)/gen/homa.h $(B)/gen/quic_lite.h
	@mkdir -p $(@D)
	$(CC) $(PIC_CFLAGS) -I$(B)/gen -Ipreload -MMD -MP -c $< -o $@
$(B)/pic/obj/core/%.o: core/%.c
	@mkdir -p $(@D)
	$(CC) $(PIC_CFLAGS) -MMD -MP -c $< -o $@
$(B)/pic/obj/targets/xdp/%.o: targets/xdp/%.c
	@mkdir -p $(@D)
	$(CC) $(PIC_CFLAGS) -Itargets/xdp -MMD -MP -c $< -o $@
$(B)/pic/obj/gen/%.o: $(B)/gen/%.c $(B)/gen/%.h
	@mkdir -p $(@D)
	$(CC) $(PIC_CFLAGS) -I$(B)/gen -MMD -MP -c $< -o $@

$(LIBMTP_SO): $(LIBMTP_PIC) preload/libmtp.map
	@mkdir -p $(@D)
	$(CC) -shared -Wl,--version-script=preload/libmtp.map -Wl,-z,defs -Wl,-z,now -Wl,-z,relro \
	    $(LIBMTP_PIC) $(XDP_LDLIBS) -ldl -lpthread -lm -o $@

-include $(LIBMTP_PIC:.o=.d)

# Unit tests (Criterion, ASan+UBSan): the fd table and epoll's delivery rules.
LIBMTP_UNIT := $(B)/san/tests/preload/test_fdtab $(B)/san/tests/preload/test_evq
$(B)/san/tests/preload/test_%: preload/tests/test_%.c preload/%.c preload/%.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) $(SANFLAGS) -Ipreload $< preload/$*.c $(CRITERION) -o $@

# lm_echo: the socket behaviour checks run by test_libmtp.sh (a plain program: it runs on the
# kernel and under libmtp.so alike).
LM_ECHO := $(B)/tests/preload/lm_echo
$(LM_ECHO): preload/tests/lm_echo.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $< -lpthread -o $@

# lm_fork: fork() under libmtp.so (test_fork.sh): forking servers, daemons, redis BGSAVE.
LM_FORK := $(B)/tests/preload/lm_fork
$(LM_FORK): preload/tests/lm_fork.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $< -o $@

.PHONY: test-libmtp test-libmtp-unit test-libmtp-netns test-libmtp-apps test-fork
test-libmtp-unit: $(LIBMTP_UNIT)
	@set -e; for t in $^; do echo "== $$t"; $$t --jobs 2; done
# configuration errors, exported symbols, lm_echo both ways, redis and nginx: about 40 s
test-libmtp-netns: $(LIBMTP_SO) $(LM_ECHO) $(B)/bpf/tcp.bpf.o $(B)/bpf/homa.bpf.o $(B)/bin/mtpstat
	timeout 300 bash preload/tests/test_libmtp.sh $(LIBMTP_SO) $(LM_ECHO) $(B)/bin/mtpstat
test-libmtp: test-libmtp-unit test-libmtp-netns
TESTS += test-libmtp
# children that close inherited sockets and exit, daemon() and double fork, redis BGSAVE under
# redis-benchmark; connections accepted in the parent and served in forked children (kill -9
# of the parent, children that exit without reading); nginx with Debian's process model
# (daemon, master, worker_processes auto): wrk -c1000 and 1,000 short connections, kill -9 of
# a worker: 60-100 s
test-fork: $(LIBMTP_SO) $(LM_FORK) $(B)/bpf/tcp.bpf.o
	timeout 200 bash preload/tests/test_fork.sh $(LIBMTP_SO) $(LM_FORK)
	timeout 100 bash preload/tests/test_fork_inherit.sh $(LIBMTP_SO) $(LM_FORK)
	timeout 200 bash preload/tests/test_fork_nginx.sh $(LIBMTP_SO)
TESTS += test-fork

# build/lib/libmtp_dpdk.so: the DPDK target for libmtp.so, loaded (dlopen) only when
# MTP_TARGET=dpdk and the stack first starts, so other applications never load DPDK.
ifneq ($(DPDK_LIB),)
LIBMTP_DPDK_SO := $(B)/lib/libmtp_dpdk.so
LIBS += $(LIBMTP_DPDK_SO)
# (with its own hidden copy of core's checksum code, which the target calls)
LIBMTP_DPDK_OBJS := $(B)/obj/targets/dpdk/dpdk.o $(B)/pic/obj/core/src/csum.o
$(LIBMTP_DPDK_SO): $(LIBMTP_DPDK_OBJS) preload/libmtp_dpdk.map
	@mkdir -p $(@D)
	$(CC) -shared -Wl,--version-script=preload/libmtp_dpdk.map -Wl,-z,defs $(LIBMTP_DPDK_OBJS) \
	    $(DPDK_LIBS) -o $@
# a process on MTP_TARGET=dpdk (net_af_xdp) leaves no XDP program behind at exit, and its forked
# child, a second process and nginx get a clear error (one line, EBADF/EOPNOTSUPP/EBUSY): about 40 s
.PHONY: test-libmtp-dpdk
test-libmtp-dpdk: $(LIBMTP_SO) $(LIBMTP_DPDK_SO) $(B)/bpf/tcp.bpf.o
	timeout 120 bash preload/tests/test_dpdk_exit.sh $(LIBMTP_SO)
	timeout 120 bash preload/tests/test_dpdk_fork.sh $(LIBMTP_SO)
test-libmtp: test-libmtp-dpdk
endif
