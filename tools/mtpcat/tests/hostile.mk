# tools/mtpcat/tests/hostile.mk: hostile traffic against mtpcat -l -k (tcp.mtp on the XDP
# target) from a kernel namespace, while kernel clients' transfers must stay byte-exact
# (root; about a minute, bounded by `timeout`; namespaces removed by trap).
.PHONY: test-hostile
test-hostile: $(B)/bin/mtpcat $(B)/bpf/tcp.bpf.o
	timeout 240 bash tools/mtpcat/tests/hostile_tcp.sh $(B)/bin/mtpcat
TESTS += test-hostile
