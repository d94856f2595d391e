# tools/mtpcat/tests/: mtpcat (TCP as an MTP program on the XDP target) against kernel TCP and
# itself, in network namespaces (root; bounded by `timeout`, namespaces removed by trap).
# mtpcat against kernel TCP (and itself): once mtpcat and the tcp program are built.
# test-mtpcat-san: the same steps under ASan+UBSan with 5 MB transfers; test-mtpcat-skb: with
# the hook in generic (SKB) mode, 20 MB transfers.
.PHONY: test-mtpcat test-mtpcat-san test-mtpcat-skb
test-mtpcat: $(B)/bin/mtpcat $(B)/bpf/tcp.bpf.o
	timeout 1500 bash tools/mtpcat/tests/mtpcat_tcp.sh $(B)/bin/mtpcat
test-mtpcat-san: $(B)/san/bin/mtpcat $(B)/bpf/tcp.bpf.o
	MTP_XDP_OBJ=$(abspath $(B)/bpf/tcp.bpf.o) timeout 600 bash tools/mtpcat/tests/mtpcat_tcp.sh \
	    $(B)/san/bin/mtpcat 5 5 2
test-mtpcat-skb: $(B)/bin/mtpcat $(B)/bpf/tcp.bpf.o
	MTP_XDP_MODE=skb timeout 600 bash tools/mtpcat/tests/mtpcat_tcp.sh $(B)/bin/mtpcat 20 20 2
TESTS += test-mtpcat test-mtpcat-skb test-mtpcat-san
