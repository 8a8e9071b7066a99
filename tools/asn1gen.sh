#!/bin/sh
# Generate C from the project's ASN.1 modules with asn1c 0.9.28.
#   tools/asn1gen.sh OUTDIR module.asn1...
# See ../../doc/architecture.md ("ASN.1 pipeline") for the flags chosen.
set -eu
out=$1; shift
rm -rf "$out"; mkdir -p "$out"
log="$out/../asn1c.log"
if ! asn1c -R -fcompound-names -fno-include-deps -D "$out" "$@" >"$log" 2>&1; then
    cat "$log" >&2; echo "asn1gen: asn1c failed" >&2; exit 1
fi
# asn1c may still emit a sample converter; it is never ours to build.
rm -f "$out/converter-sample.c" "$out/Makefile.am.sample"
