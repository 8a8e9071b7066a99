#!/bin/sh
# Compile a part of the generated ASN.1 tree plus the asn1c runtime files
# it needs into one relocatable object; symbols are hidden later together
# with the rest of lib/.
#   tools/asn1build.sh CC CFLAGS GENDIR RTDIR OBJDIR OUT.o JOBS GENLIST RTLIST
# GENLIST / RTLIST name lists in GENDIR written by asn1gen.sh: lib.list and
# runtime.list for the library's part, oracle.list and runtime-oracle.list
# for the part only the tests and the bench link.
# Incremental: an object is rebuilt when its source is newer, when any
# generated header changed (GENDIR/.headers) or when CC/CFLAGS changed.
set -eu
cc=$1; cflags=$2; gen=$3; rt=$4; objdir=$5; out=$6; jobs=$7; genlist=$8; rtlist=$9
mkdir -p "$objdir"
if [ "$(cat "$objdir/flags" 2>/dev/null)" != "$cc $cflags" ]; then
    rm -rf "$objdir/gen" "$objdir/rt"
    printf '%s\n' "$cc $cflags" > "$objdir/flags"
fi
mkdir -p "$objdir/gen" "$objdir/rt"
if [ "$gen/.headers" -nt "$objdir/gen/.built" ]; then
    rm -f "$objdir"/gen/*.o
fi
# Sources: "<kind> <path>" lines.
list="$objdir/sources"
{
  while read -r c; do echo "gen $gen/$c"; done < "$gen/$genlist"
  while read -r c; do echo "rt $rt/$c"; done < "$gen/$rtlist"
} > "$list"
# Drop objects whose source is gone.
for o in "$objdir"/gen/*.o; do
    [ -e "$o" ] || continue
    [ -e "$gen/$(basename "$o" .o).c" ] || rm -f "$o"
done
V=${V:-}
export cc cflags objdir V
# V=1 (make V=1): print each compile line, as the Makefile does.
xargs -P "$jobs" -L 1 sh -c '
  o="$objdir/$0/$(basename "$1" .c).o"
  [ "$o" -nt "$1" ] && exit 0
  [ "$V" = 1 ] && echo "$cc $cflags -c $1 -o $o"
  $cc $cflags -c "$1" -o "$o" || exit 255' < "$list"
touch "$objdir/gen/.built"
awk -v d="$objdir" '{ n = split($2, p, "/"); sub(/\.c$/, ".o", p[n]); print d "/" $1 "/" p[n] }' "$list" > "$objdir/objects"
# Relink only when an object or the object list changed, so that the
# Makefile can run this script every time (it tracks CFLAGS itself)
# without forcing the library to relink.
if [ -e "$out" ] && cmp -s "$objdir/objects" "$objdir/objects.linked" &&
   [ -z "$(find "$objdir/gen" "$objdir/rt" -name '*.o' -newer "$out" | head -n 1)" ]; then
    exit 0
fi
# shellcheck disable=SC2046
ld -r -o "$out.tmp" $(cat "$objdir/objects")
mv -f "$out.tmp" "$out"
cp "$objdir/objects" "$objdir/objects.linked"
