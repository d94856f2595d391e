# tools/mtprun/: build/bin/mtprun, which runs a program with libmtp.so preloaded (like Onload's
# `onload`). PREFIX is where `make install` puts things; mtprun also looks for libmtp.so there.
PREFIX ?= /usr/local
MTPRUN := $(B)/bin/mtprun
BINS   += $(MTPRUN)

$(MTPRUN): tools/mtprun/mtprun.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -DMTP_PREFIX='"$(PREFIX)"' $< -o $@
