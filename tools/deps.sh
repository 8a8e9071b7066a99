#!/bin/sh
# Verify (and on Debian, install) what a make target needs.
#   tools/deps.sh build|check|bench-build|bench|fuzz
#     build: `make` (library and examples): a C compiler, make, binutils,
#            pkg-config and asn1c (generator and runtime sources)
#     check: `make check`: Check, tshark (wire decoding: the suites write
#            their pcapng themselves, test/support_wire.c; no text2pcap),
#            groff (man page lint)
#     bench-build: what compiling the benches needs (uuid, GLib)
#     bench: `make bench`: bench-build's, Postfix (the comparison), perf (the
#            per-message cost lines; without it they are skipped)
#     fuzz:  `make fuzz`: clang with libFuzzer
# Installs missing Debian packages with apt-get when root (or `sudo -n`);
# otherwise prints the exact apt-get line and fails.  Silent and quick when
# everything is present.
set -u
what=${1:-build}
missing=""
need_cmd() { command -v "$1" >/dev/null 2>&1 || missing="$missing $2"; }
need_pc()  { pkg-config --exists "$1" 2>/dev/null || missing="$missing $2"; }
need_file(){ [ -e "$1" ] || missing="$missing $2"; }

case "$what" in
build)
    need_cmd cc gcc; need_cmd make make; need_cmd ld binutils
    need_cmd objcopy binutils; need_cmd pkg-config pkg-config
    need_cmd asn1c asn1c; need_file /usr/share/asn1c/constr_SEQUENCE.c asn1c
    ;;
check)
    if command -v pkg-config >/dev/null 2>&1; then need_pc check check; else missing="$missing check"; fi
    need_cmd tshark tshark
    need_cmd groff groff-base
    ;;
bench|bench-build)
    need_file /usr/include/uuid/uuid.h uuid-dev
    if command -v pkg-config >/dev/null 2>&1; then need_pc glib-2.0 libglib2.0-dev; fi
    if [ "$what" = bench ]; then
        # tools/postfix_bench.sh: a throwaway Postfix instance fed by smtp-source
        need_file /usr/sbin/smtp-source postfix; need_file /usr/sbin/postfix postfix
        # bench/bench_mta.c and tools/postfix_bench.sh count with perf stat
        need_cmd perf linux-perf
    fi
    ;;
fuzz)
    need_cmd clang clang
    need_file /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a libclang-rt-14-dev
    ;;
*) echo "deps.sh: unknown set '$what'" >&2; exit 2 ;;
esac

[ -z "$missing" ] && exit 0
pkgs=$(printf '%s\n' $missing | sort -u | tr '\n' ' ')
line="apt-get install -y --no-install-recommends $pkgs"
run() {
    echo "deps: installing:$pkgs" >&2
    # Postfix asks "General type of mail configuration": answer "No
    # configuration" (no system instance, no /etc/postfix/main.cf written).
    case " $pkgs" in *" postfix "*)
        echo "postfix postfix/main_mailer_type select No configuration" |
            $1 debconf-set-selections >&2 || return 1 ;;
    esac
    DEBIAN_FRONTEND=noninteractive $1 apt-get update -qq >&2 &&
    DEBIAN_FRONTEND=noninteractive $1 $line >&2
}
if [ "$(id -u)" = 0 ]; then
    run "" || { echo "deps: apt-get failed; run: $line" >&2; exit 1; }
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    run "sudo -n env" || { echo "deps: apt-get failed; run: sudo $line" >&2; exit 1; }
else
    echo "deps: missing packages. As root, run:" >&2
    echo "  apt-get update && $line" >&2
    exit 1
fi
