#!/bin/sh
# Generate C from the project's ASN.1 modules with asn1c 0.9.28.
#   ASN1_ORACLE="p1-mts.asn1 ..." tools/asn1gen.sh OUTDIR module.asn1...
# Writes the generated type files into OUTDIR, keeping the files (and
# mtimes) that did not change so per-variant compilation stays incremental,
# and four lists of .c files, one per line:
#   lib.list / runtime.list: the generated files of the modules the library
#     uses and the asn1c runtime files they need (built into libx400p1.a);
#   oracle.list / runtime-oracle.list: the generated files of the modules
#     named (by file name) in ASN1_ORACLE and the runtime files only they
#     need (built into the tests and the bench only: asn1c is their oracle).
# See doc/asn1.md for the flags and the workarounds in the modules.
set -eu
out=$1; shift
rt=${ASN1_RT:-/usr/share/asn1c}
tmp="$out.tmp"
log="$(dirname "$out")/asn1c.log"
rm -rf "$tmp"; mkdir -p "$tmp" "$out"

# asn1c 0.9.28 has no output-directory option (-D is a later addition):
# it writes into the current directory, so run it there with absolute paths.
here=$(pwd)
for m do
    case "$m" in /*) set -- "$@" "$m" ;; *) set -- "$@" "$here/$m" ;; esac
    shift
done
# -R: type tables only, no support files / sample converter.
# -fcompound-names: nested types get the outer type's name as prefix.
# -fno-include-deps: no courtesy #includes of every referenced type.
if ! (cd "$tmp" && asn1c -R -fcompound-names -fno-include-deps "$@") >"$log" 2>&1; then
    cat "$log" >&2; echo "asn1gen: asn1c failed" >&2; exit 1
fi
rm -f "$tmp/converter-sample.c" "$tmp/Makefile.am.sample"

# A generated file's module is in its header comment:
#  * From ASN.1 module "X" / * 	found in "/path/m.asn1"
: > "$tmp/lib.list"; : > "$tmp/oracle.list"
for f in "$tmp"/*.c; do
    b=${f##*/}
    m=$(grep -m1 'found in "' "$f" | sed 's/.*found in "\(.*\)".*/\1/')
    case " ${ASN1_ORACLE:-} " in
        *" ${m##*/} "*) echo "$b" >> "$tmp/oracle.list" ;;
        *) echo "$b" >> "$tmp/lib.list" ;;
    esac
done
# runtime_of LIST: the runtime .c files the listed generated files (and
# their headers) need: the skeleton headers they include, closed over
# asn1c's own file-dependencies table, plus its COMMON-FILES.  Unused types
# (REAL/NativeReal, which would need -lm, BMPString, UTF8String, ...) are
# left out.  PER and XER support stays: constr_*.c reference it.
runtime_of() {
sed 's/\.c$//' "$1" | while read -r t; do cat "$tmp/$t.c"; [ ! -e "$tmp/$t.h" ] || cat "$tmp/$t.h"; done |
sed -n 's/^#include <\([^>]*\.h\)>.*/\1/p' | sort -u |
awk -v deps="$rt/file-dependencies" -v rt="$rt" '
    BEGIN {
        while ((getline line < deps) > 0) {
            sub(/#.*/, "", line)
            if (line ~ /^[A-Z-]+:/) { sect = line; continue }
            n = split(line, w, /[ \t]+/)
            if (n == 0 || w[1] == "") continue
            if (sect ~ /^COMMON-FILES/) { for (i = 1; i <= n; i++) if (w[i] ~ /\.c$/) need[w[i]] = 1; continue }
            if (sect != "") continue
            dep[w[1]] = ""
            for (i = 2; i <= n; i++) dep[w[1]] = dep[w[1]] " " w[i]
        }
    }
    { todo[++nt] = $1 }
    END {
        while (nt > 0) {
            h = todo[nt--]
            if (h in seen) continue
            seen[h] = 1
            if (!(h in dep)) continue
            m = split(dep[h], w, " ")
            for (i = 1; i <= m; i++) {
                if (w[i] ~ /\.c$/) need[w[i]] = 1
                else if (w[i] ~ /\.h$/) todo[++nt] = w[i]
            }
        }
        for (c in need) print c
    }' | sort
}
runtime_of "$tmp/lib.list" > "$tmp/runtime.list"
cat "$tmp/lib.list" "$tmp/oracle.list" > "$tmp/all.list"
runtime_of "$tmp/all.list" | comm -23 - "$tmp/runtime.list" > "$tmp/runtime-oracle.list"
rm -f "$tmp/all.list"

# Sync into OUTDIR: unchanged files keep their mtime; files asn1c no
# longer writes are removed.
hdr=0
(cd "$tmp" && ls) > "$tmp.names"
for f in "$out"/*; do
    [ -e "$f" ] || continue
    b=${f##*/}
    if ! grep -qxF "$b" "$tmp.names"; then rm -f "$f"; hdr=1; fi
done
while read -r b; do
    if ! cmp -s "$tmp/$b" "$out/$b"; then
        mv -f "$tmp/$b" "$out/$b"
        case "$b" in *.h|*.list) hdr=1 ;; esac
    fi
done < "$tmp.names"
rm -rf "$tmp" "$tmp.names"
# A changed header may change any generated object: tell asn1build.sh.
if [ "$hdr" = 1 ] || [ ! -e "$out/.headers" ]; then touch "$out/.headers"; fi
