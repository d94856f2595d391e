# tools/install/: `make install [PREFIX=/usr/local] [DESTDIR=]` puts mtprun, mtpstat, mtpc,
# libmtp.so (+ libmtp_dpdk.so and the XDP hook objects) and the tools' --help texts under
# DESTDIR/PREFIX (tools/install/install.sh says where). mtprun is rebuilt for PREFIX, where it
# looks for libmtp.so when it is not next to it.
PREFIX  ?= /usr/local
DESTDIR ?=
.PHONY: install test-install
install: $(B)/bin/mtpstat $(B)/bin/mtpc $(B)/lib/libmtp.so $(B)/bpf/tcp.bpf.o \
         $(wildcard $(B)/lib/libmtp_dpdk.so)
	@mkdir -p $(B)/install
	$(CC) $(CFLAGS) -DMTP_PREFIX='"$(PREFIX)"' tools/mtprun/mtprun.c -o $(B)/install/mtprun
	bash tools/install/install.sh "$(DESTDIR)" "$(PREFIX)" $(B) $(B)/install/mtprun

# installs into a temporary DESTDIR and checks what is there and that it runs from there
test-install:
	timeout 300 bash tools/install/tests/test_install.sh
TESTS += test-install
