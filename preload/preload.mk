# preload/: the socket layer (sock.h) over a stack, with one shim per protocol.
# build/lib/libmtpsock.a and build/san/lib/libmtpsock.a hold the layer, the shims and the
# programs they run (build/gen/<proto>.o from mtp-programs/programs.mk).
SOCK_SRCS   := preload/sock.c preload/sock_protos.c preload/shim_tcp.c preload/shim_homa.c \
               preload/shim_quic.c
SOCK_PROGS  := tcp homa quic_lite
SOCK_CFLAGS := -I$(B)/gen -Ipreload
LIBS += $(MTP_SOCK_LIB) $(MTP_SOCK_SLIB)

# Static pattern rules, not plain ones: make prefers the Makefile's generic `$(B)/obj/%.o: %.c`
# to a pattern rule whose prerequisites (the generated headers) do not exist yet, and a
# partial or parallel build from a clean tree then compiled the shims without -I$(B)/gen
# ("tcp.h: No such file").
$(SOCK_SRCS:%.c=$(B)/obj/%.o): $(B)/obj/preload/%.o: preload/%.c $(SOCK_PROGS:%=$(B)/gen/%.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SOCK_CFLAGS) -MMD -MP -c $< -o $@
$(SOCK_SRCS:%.c=$(B)/san/obj/%.o): $(B)/san/obj/preload/%.o: preload/%.c $(SOCK_PROGS:%=$(B)/gen/%.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) $(SANFLAGS) $(SOCK_CFLAGS) -MMD -MP -c $< -o $@

$(MTP_SOCK_LIB): $(SOCK_SRCS:%.c=$(B)/obj/%.o) $(SOCK_PROGS:%=$(B)/obj/gen/%.o)
	@mkdir -p $(@D)
	ar rcs $@ $^
$(MTP_SOCK_SLIB): $(SOCK_SRCS:%.c=$(B)/san/obj/%.o) $(SOCK_PROGS:%=$(B)/san/obj/gen/%.o)
	@mkdir -p $(@D)
	ar rcs $@ $^

-include $(SOCK_SRCS:%.c=$(B)/obj/%.d) $(SOCK_SRCS:%.c=$(B)/san/obj/%.d)
