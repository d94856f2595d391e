# tools/mtpcat/: build/bin/mtpcat, netcat over MTP on the runtime directly (stack + socket
# layer of preload/sock.h + the xdp target, and dpdk when that target is built).
MTPCAT     := $(B)/bin/mtpcat
MTPCAT_DPDK := $(if $(DPDK_LIB),-DMTPCAT_HAVE_DPDK)
BINS += $(MTPCAT)

$(MTPCAT): tools/mtpcat/mtpcat.c $(MTP_SOCK_LIB) $(XDP_LIB) $(CORE_LIB) $(DPDK_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Ipreload $(MTPCAT_DPDK) $< $(MTP_SOCK_LIB) $(XDP_LIB) \
	    $(DPDK_LIB) $(CORE_LIB) $(XDP_LDLIBS) $(DPDK_LIBS) -lm -o $@

# The same under ASan+UBSan, for the sanitizer run of the netns test (tools/mtpcat/tests/tests.mk).
MTPCAT_SAN := $(B)/san/bin/mtpcat
$(MTPCAT_SAN): tools/mtpcat/mtpcat.c $(MTP_SOCK_SLIB) $(XDP_SLIB) $(CORE_SLIB) $(DPDK_SLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) $(SANFLAGS) -Ipreload $(MTPCAT_DPDK) $< $(MTP_SOCK_SLIB) \
	    $(XDP_SLIB) $(DPDK_SLIB) $(CORE_SLIB) $(XDP_LDLIBS) $(DPDK_LIBS) -lm -o $@
