# tools/mtpcat/: build/bin/mtpcat, netcat over MTP on the runtime directly (stack + socket
# layer of preload/sock.h + the xdp target, and dpdk when that target is built).
# Built once the socket layer exists (preload/sock.h and its sources). The socket layer's
# archive is $(MTP_SOCK_LIB) (set by preload/*.mk; default below), resolved at build time.
MTPCAT     := $(B)/bin/mtpcat
MTP_SOCK_LIB ?= $(B)/lib/libmtpsock.a
MTPCAT_DPDK := $(if $(DPDK_LIB),-DMTPCAT_HAVE_DPDK)

ifneq ($(and $(wildcard preload/sock.h),$(wildcard preload/*.c)),)
BINS += $(MTPCAT)
endif

.SECONDEXPANSION:
$(MTPCAT): tools/mtpcat/mtpcat.c $$(MTP_SOCK_LIB) $(B)/lib/libmtp_xdp.a $(B)/lib/libmtpcore.a \
           $(DPDK_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Ipreload -Itargets/xdp $(MTPCAT_DPDK) $< $(MTP_SOCK_LIB) $(B)/lib/libmtp_xdp.a \
	    $(DPDK_LIB) $(B)/lib/libmtpcore.a $(XDP_LDLIBS) $(DPDK_LIBS) -lm -o $@

# The same under ASan+UBSan, for the sanitizer run of the netns test (tools/mtpcat/tests/tests.mk).
MTPCAT_SAN := $(B)/san/bin/mtpcat
$(MTPCAT_SAN): tools/mtpcat/mtpcat.c $$(MTP_SOCK_SLIB) $(B)/san/lib/libmtp_xdp.a \
               $(B)/san/lib/libmtpcore.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) $(SANFLAGS) -Ipreload -Itargets/xdp $< $(MTP_SOCK_SLIB) \
	    $(B)/san/lib/libmtp_xdp.a $(B)/san/lib/libmtpcore.a $(XDP_LDLIBS) -lm -o $@
