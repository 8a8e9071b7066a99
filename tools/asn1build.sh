#!/bin/sh
# Compile the generated ASN.1 tree plus asn1c's runtime into one
# relocatable object (symbols are hidden later with the rest of lib/).
#   tools/asn1build.sh CC CFLAGS GENDIR RTDIR OBJDIR OUT.o JOBS
set -eu
cc=$1; cflags=$2; gen=$3; rt=$4; objdir=$5; out=$6; jobs=$7
rm -rf "$objdir/gen"; mkdir -p "$objdir/gen" "$objdir/rt"
export cc cflags objdir
{
  for f in "$gen"/*.c; do echo "gen $f"; done
  for f in "$rt"/*.c; do
    case "$(basename "$f")" in converter-sample.c|converter-example.c) continue;; esac
    echo "rt $f"
  done
} | xargs -P "$jobs" -L 1 sh -c '
  o="$objdir/$0/$(basename "$1" .c).o"
  [ "$o" -nt "$1" ] || $cc $cflags -c "$1" -o "$o" || exit 255'
ld -r -o "$out" "$objdir"/gen/*.o "$objdir"/rt/*.o
