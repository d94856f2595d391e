# targets/xdp/: the AF_XDP target (build/lib/libmtp_xdp.a, + ASan/UBSan build/san/lib/…) and
# one XDP hook object per transport program: build/bpf/<prog>.bpf.o, compiled by clang from
# targets/xdp/mtp_xdp.bpf.c with the parser header mtpc generates (build/gen/<prog>.bpf.h).
# Users of the library link $(XDP_LDLIBS).
LIBS += $(XDP_LIB) $(XDP_SLIB)

$(B)/obj/targets/xdp/xdp.o $(B)/san/obj/targets/xdp/xdp.o: CFLAGS_COMMON += -Itargets/xdp
# -fPIC: the archive also goes into the LD_PRELOAD library.
$(B)/obj/targets/xdp/xdp.o: CFLAGS += -Itargets/xdp -fPIC

$(XDP_LIB): $(B)/obj/targets/xdp/xdp.o
	@mkdir -p $(@D)
	ar rcs $@ $^
$(XDP_SLIB): $(B)/san/obj/targets/xdp/xdp.o
	@mkdir -p $(@D)
	ar rcs $@ $^

# Hook objects for the shipped programs, once mtpc can emit their BPF parser (gen/emit_bpf.c).
XDP_PROG_SRCS := $(wildcard mtp-programs/*.mtp)
XDP_BPF_OBJS  := $(XDP_PROG_SRCS:mtp-programs/%.mtp=$(B)/bpf/%.bpf.o)
LIBS += $(XDP_BPF_OBJS)

# (build/gen/<prog>.bpf.h itself comes from mtp-programs/programs.mk: mtpc --emit=bpf)
$(B)/bpf/%.bpf.o: $(B)/gen/%.bpf.h targets/xdp/mtp_xdp.bpf.c targets/xdp/mtp_xdp.h
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -I$(B)/gen -DMTP_XDP_PROTO_HEADER='"$*.bpf.h"' \
	    -c targets/xdp/mtp_xdp.bpf.c -o $@

-include $(B)/obj/targets/xdp/xdp.d $(B)/san/obj/targets/xdp/xdp.d
