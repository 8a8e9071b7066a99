#!/bin/sh
# Documentation checks, run by `make check` (test/check_pkg.c):
#   tools/doccheck.sh links ROOT   every relative link and file path named in
#       README.md, CHANGELOG.md, doc/*.md, man/*, include/x400p1/*.h and the
#       comments of lib/, asn1/, test/, tools/, examples/ must name a file or
#       directory that exists inside ROOT; nothing may point outside it
#       (a path climbing out with ../, a notes tree beside the repository);
#       a Markdown link's #anchor must name a heading (or <a name>) of the
#       Markdown file it points to.
#   tools/doccheck.sh man ROOT     every man/*.[1-8] renders with groff -ww
#       (all warnings) without a single diagnostic.
#   tools/doccheck.sh api ROOT     every function declared in
#       include/x400p1/*.h is named in man/x400p1.3, and every x400_ name
#       man/x400p1.3 gives is a function or type declared there.
# Prints one line per problem (FILE:LINE: what) and exits 1 if any.
set -u
what=${1:?usage: doccheck.sh links|man|api ROOT}
root=${2:?usage: doccheck.sh links|man|api ROOT}
cd "$root" || exit 2

case "$what" in
man)
    status=0
    for m in man/*.[1-8]; do
        [ -e "$m" ] || continue
        out=$(LC_ALL=C.UTF-8 groff -man -ww -z -Tutf8 "$m" 2>&1) || status=1
        if [ -n "$out" ]; then
            printf '%s\n' "$out" | sed "s|^|$m: |"
            status=1
        fi
    done
    exit $status
    ;;
api)
    LC_ALL=C; export LC_ALL    # comm and join want one collation
    page=man/x400p1.3
    [ -f "$page" ] || { echo "$page: missing"; exit 1; }
    # Declarations: a line that starts with the return type (or the name)
    # and names x400_...( -- not a comment, not a function pointer typedef.
    decl=$(grep -H -o -E '^([A-Za-z_][A-Za-z0-9_ *]*[ *])?x400_[a-z0-9_]+ *\(' include/x400p1/*.h |
           sed -E 's/^([^:]*):.*(x400_[a-z0-9_]+) *\($/\2 \1/' | sort -u -k1,1)
    types=$(grep -h -o -E '(struct|enum|union) +x400_[a-z0-9_]+|\} *x400_[a-z0-9_]+ *;|\(\*x400_[a-z0-9_]+\)' \
            include/x400p1/*.h | grep -o -E 'x400_[a-z0-9_]+' | sort -u)
    named=$(grep -o -E '\bx400_[a-z0-9_]+' "$page" | sort -u)
    tmp=${TMPDIR:-/tmp}/doccheck.$$
    printf '%s\n' "$decl" > "$tmp.decl"
    printf '%s\n' "$named" > "$tmp.named"
    printf '%s\n%s\n' "$(cut -d' ' -f1 "$tmp.decl")" "$types" | sort -u > "$tmp.known"
    # declared, not named: "name header" of each
    cut -d' ' -f1 "$tmp.decl" | comm -23 - "$tmp.named" | join - "$tmp.decl" |
        awk -v p="$page" '{ print p ": " $1 " (" $2 ") is not named" }' > "$tmp.out"
    # named, not declared: with the line of its first mention
    comm -13 "$tmp.known" "$tmp.named" | while read -r n; do
        echo "$page:$(grep -n -E "\\b$n\\b" "$page" | head -1 | cut -d: -f1): $n is declared in no include/x400p1/*.h"
    done >> "$tmp.out"
    status=0
    [ -s "$tmp.out" ] && { cat "$tmp.out"; status=1; }
    rm -f "$tmp.decl" "$tmp.named" "$tmp.known" "$tmp.out"
    exit $status
    ;;
links) ;;
*) echo "doccheck.sh: unknown check '$what'" >&2; exit 2 ;;
esac

# The files whose links and path mentions are checked (this script's
# comments and test/check_pkg.c's fixtures are examples, not references).
files=$(ls README.md CHANGELOG.md doc/*.md man/*.[1-8] include/x400p1/*.h \
           lib/*.[ch] asn1/*.asn1 test/*.[ch] test/fuzz/*.c tools/*.sh tools/*.py \
           examples/*.c examples/*.sh examples/*/*.[ch] Makefile 2>/dev/null | grep -v -x -e tools/doccheck.sh -e test/check_pkg.c)
[ -n "$files" ] || { echo "doccheck.sh: no files under $root" >&2; exit 2; }

# The anchors of the Markdown files, "FILE#slug" a line: each heading (out
# of code blocks) as GitHub names it -- lower case, punctuation but - and _
# dropped (the en and em dash too), spaces as -, a repeated one with -1,
# -2, ... -- and every <a name="..."> / <a id="...">.
anchors=${TMPDIR:-/tmp}/doccheck.$$.anchors
# shellcheck disable=SC2086
LC_ALL=C awk '
/^ *```/ { code[FILENAME] = !code[FILENAME]; next }
code[FILENAME] { next }
/^#+ / {
    h = $0
    sub(/^#+ +/, "", h); sub(/ +#+ *$/, "", h)
    h = tolower(h)
    gsub(/\342\200[\223\224]/, "", h)
    gsub(/[^a-z0-9 _\200-\377-]/, "", h)
    gsub(/ /, "-", h)
    k = FILENAME "#" h
    if (k in seen) { seen[k]++; print k "-" seen[k] - 1 } else { seen[k] = 1; print k }
}
{
    s = $0
    while (match(s, /<a (name|id)="[^"]+"/)) {
        t = substr(s, RSTART, RLENGTH); s = substr(s, RSTART + RLENGTH)
        sub(/^<a (name|id)="/, "", t); sub(/"$/, "", t)
        print FILENAME "#" t
    }
}' $(printf '%s\n' $files | grep '\.md$') > "$anchors"

# awk resolves every candidate without touching the file system and prints
# "FILE:LINE: target<TAB>resolved path" (resolved OUTSIDE when it climbs
# out of the root); the shell loop then tests existence with no fork.
#   Markdown link targets (.md files), relative to the file's directory,
#   and their #anchors in the Markdown file they name (MISSING_ANCHOR);
#   ../ paths anywhere, relative to the file's directory;
#   repository paths named in text (doc/x.md, lib/session.c), from the root.
# shellcheck disable=SC2086
awk -v anchors="$anchors" '
BEGIN { while ((getline l < anchors) > 0) A[l] = 1 }
function norm(p,    n, i, k, part, out, seg) {
    k = split(p, seg, "/")
    n = 0
    for (i = 1; i <= k; i++) {
        if (seg[i] == "" || seg[i] == ".") continue
        if (seg[i] == "..") { if (n == 0) return "OUTSIDE"; n--; continue }
        part[++n] = seg[i]
    }
    out = ""
    for (i = 1; i <= n; i++) out = out (i > 1 ? "/" : "") part[i]
    return out == "" ? "." : out
}
function dirof(f) { return f ~ /\// ? substr(f, 1, match(f, /\/[^\/]*$/) - 1) : "." }
function emit(t, p) {
    if (t ~ /\.\.\/shared/) p = "OUTSIDE"
    print FILENAME ":" FNR ": " t "\t" p
}
{
    line = $0
    d = dirof(FILENAME)
    if (FILENAME ~ /\.md$/) {
        s = line
        while (match(s, /\]\([^) ]+\)/)) {
            t = substr(s, RSTART + 2, RLENGTH - 3)
            s = substr(s, RSTART + RLENGTH)
            if (t ~ /^[a-z]+:/) continue
            frag = ""
            if (t ~ /#/) { frag = t; sub(/^[^#]*#/, "", frag) }
            sub(/#.*/, "", t)
            if (frag != "" && (t == "" || t ~ /\.md$/)) {
                af = t == "" ? FILENAME : norm(d "/" t)
                if (!((af "#" frag) in A)) print FILENAME ":" FNR ": " t "#" frag "\tMISSING_ANCHOR"
            }
            if (t ~ /^\//) { print FILENAME ":" FNR ": absolute link " t "\tMISSING"; continue }
            if (t != "") emit(t, norm(d "/" t))
        }
    }
    s = line
    while (match(s, /(\.\.\/)+[A-Za-z0-9_.-]+/)) {
        t = substr(s, RSTART, RLENGTH)
        s = substr(s, RSTART + RLENGTH)
        if (norm(d "/" t) == "OUTSIDE" || t ~ /\.\.\/shared/) emit(t, "OUTSIDE")
    }
    if (line ~ /(^|[^A-Za-z0-9_.\/-])shared\/notes\//) emit("shared" "/notes/", "OUTSIDE")  # (split so this file names no such path)
    s = " " line
    while (match(s, /[^A-Za-z0-9_.\/-](doc|man|include|lib|test|tools|examples|asn1|bench)\/[A-Za-z0-9_.\/-]*/)) {
        t = substr(s, RSTART + 1, RLENGTH - 1)
        nxt = substr(s, RSTART + RLENGTH, 1)
        s = substr(s, RSTART + RLENGTH)
        # a pattern or placeholder, not a file: lib/*.c, check_<m>.c, spdu.[ch]
        if (nxt ~ /[<*{}$%\[(]/) continue
        sub(/[.-]+$/, "", t)
        emit(t, norm(t))
    }
}' $files | sort -u | while IFS='	' read -r where resolved; do
    case "$resolved" in
    OUTSIDE) echo "$where: points outside the repository" ;;
    MISSING) echo "$where" ;;
    MISSING_ANCHOR) echo "$where: no such heading" ;;
    *) [ -e "$resolved" ] || [ -e "$resolved.c" ] || echo "$where: no such file" ;;
    esac
done > "${TMPDIR:-/tmp}/doccheck.$$"
rm -f "$anchors"
if [ -s "${TMPDIR:-/tmp}/doccheck.$$" ]; then
    cat "${TMPDIR:-/tmp}/doccheck.$$"
    rm -f "${TMPDIR:-/tmp}/doccheck.$$"
    exit 1
fi
rm -f "${TMPDIR:-/tmp}/doccheck.$$"
exit 0
