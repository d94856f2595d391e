# tools/mtpcat/tests/: mtpcat (TCP as an MTP program on the XDP target) against kernel TCP and
# itself, in network namespaces (root; bounded by `timeout`, namespaces removed by trap).
# mtpcat against kernel TCP (and itself): once mtpcat and the tcp program are built.
# The veths keep the kernel's default offloads (partial checksums, TSO/GSO); test-mtpcat runs
# again with them off (MX_OFFLOADS=off, 20 MB), and on a veth with a 9000-byte MTU (the MSS
# follows the link's MTU: mtpcat_jumbo.sh). test-mtpcat-san: the same steps with the hook
# in generic (SKB) mode (the native path runs under the sanitizers in test-xdp's xdp_echo), and
# the lo ones (multi-buffer reassembly), under ASan+UBSan with 5 MB transfers; test-mtpcat-skb: with
# the hook in generic (SKB) mode, where the kernel hands over GSO packets of up to 64 KiB
# (multi-buffer AF_XDP), 20 MB transfers.
# test-mtpcat-lo: MTP_IFACE=lo in one namespace, MTP and kernel TCP on 127.0.0.1 in both
# roles next to a kernel-served loopback port. test-mtpcat-drops: drops the user can fix end
# a failed connect with a hint naming the counter.
.PHONY: test-mtpcat test-mtpcat-san test-mtpcat-skb test-mtpcat-lo test-mtpcat-drops
test-mtpcat: $(B)/bin/mtpcat $(B)/bpf/tcp.bpf.o
	timeout 1500 bash tools/mtpcat/tests/mtpcat_tcp.sh $(B)/bin/mtpcat
	timeout 300 bash tools/mtpcat/tests/mtpcat_jumbo.sh $(B)/bin/mtpcat
	MX_OFFLOADS=off timeout 900 bash tools/mtpcat/tests/mtpcat_tcp.sh $(B)/bin/mtpcat 20 20 2
test-mtpcat-san: $(B)/san/bin/mtpcat $(B)/bpf/tcp.bpf.o
	MTP_XDP_MODE=skb MTP_XDP_OBJ=$(abspath $(B)/bpf/tcp.bpf.o) timeout 600 \
	    bash tools/mtpcat/tests/mtpcat_tcp.sh \
	    $(B)/san/bin/mtpcat 5 5 2
	MTP_XDP_OBJ=$(abspath $(B)/bpf/tcp.bpf.o) timeout 300 bash tools/mtpcat/tests/mtpcat_lo.sh \
	    $(B)/san/bin/mtpcat 5
test-mtpcat-skb: $(B)/bin/mtpcat $(B)/bpf/tcp.bpf.o
	MTP_XDP_MODE=skb timeout 600 bash tools/mtpcat/tests/mtpcat_tcp.sh $(B)/bin/mtpcat 20 20 2
test-mtpcat-lo: $(B)/bin/mtpcat $(B)/bpf/tcp.bpf.o
	timeout 900 bash tools/mtpcat/tests/mtpcat_lo.sh $(B)/bin/mtpcat 20
test-mtpcat-drops: $(B)/bin/mtpcat $(B)/bpf/tcp.bpf.o
	timeout 300 bash tools/mtpcat/tests/mtpcat_drops.sh $(B)/bin/mtpcat
TESTS += test-mtpcat test-mtpcat-skb test-mtpcat-san test-mtpcat-lo test-mtpcat-drops
