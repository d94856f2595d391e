# tools/mtprun/tests/: mtprun's options, messages and library lookup (with a stand-in library
# in a temporary tree), then a real run: ct_route under mtprun in a namespace talks MTP.
.PHONY: test-mtprun
test-mtprun: $(B)/bin/mtprun $(B)/lib/libmtp.so $(B)/compat/ct_route
	timeout 120 bash tools/mtprun/tests/test_mtprun.sh $(B)/bin/mtprun $(B)/compat/ct_route
TESTS += test-mtprun
