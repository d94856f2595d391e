# mtp-programs/: every X.mtp is compiled by mtpc into build/gen/X.c + build/gen/X.h (runtime
# C) and build/gen/X.bpf.h (XDP steering/validation header), then into build/obj/gen/X.o
# (release) and build/san/obj/gen/X.o (ASan+UBSan, with -DMTP_ASSERTS).
# Other fragments use PROG_NAMES (e.g. "tcp"), PROG_OBJS, PROG_SOBJS, PROG_BPF_HDRS.
PROG_SRCS     := $(wildcard mtp-programs/*.mtp)
PROG_NAMES    := $(basename $(notdir $(PROG_SRCS)))
PROG_CS       := $(PROG_NAMES:%=$(B)/gen/%.c)
PROG_BPF_HDRS := $(PROG_NAMES:%=$(B)/gen/%.bpf.h)
PROG_OBJS     := $(PROG_NAMES:%=$(B)/obj/gen/%.o)
PROG_SOBJS    := $(PROG_NAMES:%=$(B)/san/obj/gen/%.o)

# One mtpc run writes both X.c and X.h (a grouped pattern rule). A program's modules (the
# files it imports, e.g. mtp-programs/tcp/*.mtp) come from mtpc's -MF rules: X.mtp.d, X.bpf.d.
$(B)/gen/%.c $(B)/gen/%.h: mtp-programs/%.mtp $(MTPC)
	@mkdir -p $(@D)
	$(MTPC) -o $(B)/gen/$*.c -MF $(B)/gen/$*.mtp.d $<

$(B)/gen/%.bpf.h: mtp-programs/%.mtp $(MTPC)
	@mkdir -p $(@D)
	$(MTPC) --emit=bpf -o $@ -MF $(B)/gen/$*.bpf.d $<

$(B)/obj/gen/%.o: $(B)/gen/%.c $(B)/gen/%.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -I$(B)/gen -MMD -MP -c $< -o $@

$(B)/san/obj/gen/%.o: $(B)/gen/%.c $(B)/gen/%.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_COMMON) $(SANFLAGS) -DMTP_ASSERTS -I$(B)/gen -MMD -MP -c $< -o $@

# the generated C is kept for reading and for tests (not an intermediate file)
.PRECIOUS: $(B)/gen/%.c $(B)/gen/%.h
all: $(PROG_OBJS) $(PROG_SOBJS) $(PROG_BPF_HDRS)

-include $(PROG_OBJS:.o=.d) $(PROG_SOBJS:.o=.d) $(PROG_NAMES:%=$(B)/gen/%.mtp.d) \
         $(PROG_NAMES:%=$(B)/gen/%.bpf.d)
