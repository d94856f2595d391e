#!/bin/bash
# tools/install/install.sh — what `make install` does (called by tools/install/install.mk):
#   DESTDIR PREFIX/bin/      mtprun, mtpstat, mtpc
#   DESTDIR PREFIX/lib/      libmtp.so (and libmtp_dpdk.so, loaded by it for MTP_TARGET=dpdk)
#   DESTDIR PREFIX/lib/mtp/  the XDP hook objects (<program>.bpf.o; the xdp target looks there)
#   DESTDIR PREFIX/share/doc/mtp/<tool>.txt   each tool's --help text
# usage: install.sh DESTDIR PREFIX BUILD_DIR MTPRUN_FOR_PREFIX
set -eu
destdir=$1 prefix=$2 b=$3 mtprun=$4
root=$destdir$prefix
bin=$root/bin lib=$root/lib doc=$root/share/doc/mtp
need() { [ -e "$1" ] || { echo "install: $1 is not built (run make)" >&2; exit 1; }; }
for f in "$mtprun" "$b/bin/mtpstat" "$b/bin/mtpc" "$b/lib/libmtp.so"; do need "$f"; done
install -d "$bin" "$lib/mtp" "$doc"
install -m 755 "$mtprun" "$bin/mtprun"
install -m 755 "$b/bin/mtpstat" "$b/bin/mtpc" "$bin/"
install -m 755 "$b/lib/libmtp.so" "$lib/"
[ -e "$b/lib/libmtp_dpdk.so" ] && install -m 755 "$b/lib/libmtp_dpdk.so" "$lib/"
for o in "$b"/bpf/*.bpf.o; do [ -e "$o" ] && install -m 644 "$o" "$lib/mtp/"; done
for t in mtprun mtpstat mtpc; do
    "$bin/$t" --help >"$doc/$t.txt" ||
        { echo "install: $t --help failed" >&2; exit 1; }
    chmod 644 "$doc/$t.txt"
done
echo "installed into $root:"
(cd "$root" && find bin/mtprun bin/mtpstat bin/mtpc lib/libmtp*.so lib/mtp share/doc/mtp -type f | sed 's/^/  /')
