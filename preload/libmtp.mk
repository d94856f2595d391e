# (read before preload.mk: names its own sources)
# build/lib/libmtp.so: the LD_PRELOAD socket library (preload/libmtp_*.c over sock.h, the
# runtime and the xdp target), every object compiled position-independent with hidden
# visibility; preload/libmtp.map exports the interposed calls only.
LIBMTP_SO   := $(B)/lib/libmtp.so
LIBMTP_SRCS := preload/libmtp_core.c preload/libmtp_sock.c preload/libmtp_poll.c \
               preload/fdtab.c preload/evq.c preload/sock.c preload/shim_tcp.c
LIBMTP_PIC  := $(LIBMTP_SRCS:%.c=$(B)/pic/obj/%.o) $(CORE_SRCS:%.c=$(B)/pic/obj/%.o) \
               $(B)/pic/obj/gen/tcp.o $(B)/pic/obj/targets/xdp/xdp.o
PIC_CFLAGS  := $(CFLAGS) -fPIC -fvisibility=hidden
LIBS += $(LIBMTP_SO)

$(B)/pic/obj/preload/%.o: preload/%.c $(B)/gen/tcp.h
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
