#!/bin/sh
# Turn the partial link of lib/ + the generated ASN.1 code into the one
# object of libx400p1.a:
#   tools/libhide.sh IN.o OUT.o release|check
# - only ^x400_ symbols stay global (the asn1c runtime and the library's
#   internals are linked in but hidden);
# - release: only the sections a public function reaches are kept (built
#   with -ffunction-sections -fdata-sections; ld -r --gc-sections rooted at
#   the public symbols), and undefined symbols nothing refers to any more
#   are dropped, so the asn1c runtime's printers (asn_fprint, xer_fprint,
#   its debug hook) and their stdio references do not reach a program;
#   OBJCOPY_FLAGS (e.g. --strip-debug) are applied.
set -eu
in=$1; out=$2; kind=$3
: "${LD:=ld}" "${NM:=nm}" "${OBJCOPY:=objcopy}" "${OBJDUMP:=objdump}"
dir=$(dirname "$out")
"$NM" -g --defined-only "$in" | awk '$3 ~ /^x400_/ {print $3}' | sort -u > "$dir/public.syms"
if [ "$kind" = release ]; then
    # shellcheck disable=SC2046
    "$LD" -r --gc-sections $(sed 's/^/-u /' "$dir/public.syms") -o "$dir/reach.o" "$in"
    "$NM" -u "$dir/reach.o" | awk '{print $2}' | sort -u > "$dir/undef.syms"
    "$OBJDUMP" -r "$dir/reach.o" | awk 'NF >= 3 && $1 ~ /^[0-9a-f]+$/ { s = $3; sub(/[-+]0x.*/, "", s); print s }' |
        sort -u > "$dir/reloc.syms"
    comm -23 "$dir/undef.syms" "$dir/reloc.syms" > "$dir/unused.syms"
    # shellcheck disable=SC2086
    "$OBJCOPY" ${OBJCOPY_FLAGS:-} --strip-symbols="$dir/unused.syms" \
        --keep-global-symbols="$dir/public.syms" "$dir/reach.o" "$out"
else
    "$OBJCOPY" --keep-global-symbols="$dir/public.syms" "$in" "$out"
fi
