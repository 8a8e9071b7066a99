#!/bin/sh
# Benchmark peer for `make bench`: a throwaway Postfix instance that accepts
# COUNT messages of SIZE bytes from smtp-source over loopback, queues each one
# durably (Postfix's cleanup fsyncs every queue file once before it answers
# "250" to DATA; that is left as it is) and hands it to the discard transport.
#
#   sh tools/postfix_bench.sh WORKDIR COUNT SIZE [SESSIONS]
#
# WORKDIR  directory for the instance (created if missing; put it on the same
#          filesystem as the spool it is compared with).  The script writes
#          WORKDIR/conf/{main.cf,master.cf}, WORKDIR/queue/, WORKDIR/data/ and
#          WORKDIR/maillog (truncated every run) and removes nothing.
# COUNT    number of messages; SIZE  message payload bytes (smtp-source -l;
#          smtp-source adds ~150 bytes of headers);
# SESSIONS parallel SMTP sessions (smtp-source -s), default 8.  Each session
#          keeps its connection open for all its messages (smtp-source -d).
#
# Output (stdout), one line each:
#   postfix: accepted COUNT msgs SIZE B in T s = R msgs/s   (smtp-source done:
#            every message fsynced in Postfix's queue and acknowledged)
#   postfix: drained in T2 s = R2 msgs/s     (from the same start until the
#            queue is empty: every message delivered to discard and removed)
#   postfix: discarded N msgs (maillog)      (must equal COUNT, else exit 1)
#   postfix: cost receiver syscalls=N fdatasyncs=N fsyncs=N inodes=N cpu_us=N write_bytes=N
#   postfix: cost sender ...            (only with PFB_COST=1, below)
# PFB_COST=1: a counting run (its times are not to be used): Postfix runs in
#          the foreground (postfix start-fg) under `perf stat`, which follows
#          every process it starts, and smtp-source under another; the cost
#          lines give the totals of the whole run, startup and shutdown
#          included (the caller subtracts a run of COUNT=1 for the cost per
#          message): every system call (raw_syscalls:sys_enter), fdatasync
#          and fsync calls, inodes allocated on ext4 (ext4:ext4_allocate_inode:
#          files and directories created), CPU time (task-clock, user +
#          system, in us) and the bytes the processes sent
#          towards storage (/proc/PID/io write_bytes - cancelled_write_bytes,
#          summed over Postfix's process group just before it stops: the
#          master's own figure includes every child it has reaped).  Without
#          perf: "postfix: cost skipped (REASON)" and a plain run.
# Needs root (Postfix's master runs as root); otherwise prints
# "postfix: skipped (needs root)" and exits 0.  Postfix is always stopped on
# exit, also on error or signal.  Debian packages: postfix (tools/deps.sh bench).
set -u

die() { echo "postfix_bench: $*" >&2; exit 1; }

[ $# -ge 3 ] && [ $# -le 4 ] || {
    echo "usage: sh tools/postfix_bench.sh WORKDIR COUNT SIZE [SESSIONS]" >&2
    exit 2
}
count=$2; size=$3; sessions=${4:-8}
for n in "$count" "$size" "$sessions"; do
    case $n in ''|*[!0-9]*) die "COUNT, SIZE, SESSIONS must be decimal numbers" ;; esac
done
[ "$count" -gt 0 ] && [ "$sessions" -gt 0 ] || die "COUNT and SESSIONS must be > 0"

if [ "$(id -u)" != 0 ]; then
    echo "postfix: skipped (needs root)"
    exit 0
fi
cost=${PFB_COST:-}
events=raw_syscalls:sys_enter,syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync,ext4:ext4_allocate_inode,task-clock
if [ -n "$cost" ]; then
    if ! command -v perf >/dev/null 2>&1; then
        echo "postfix: cost skipped (perf missing; sh tools/deps.sh bench)"; cost=""
    elif ! perf stat -x, -e "$events" true >/dev/null 2>&1; then
        echo "postfix: cost skipped (perf stat cannot count the tracepoints $events)"; cost=""
    fi
fi

sbin=/usr/sbin
for c in postfix postconf postqueue smtp-source; do
    [ -x "$sbin/$c" ] || die "$sbin/$c missing; install Postfix (sh tools/deps.sh bench)"
done

mkdir -p "$1" || die "cannot create $1"
work=$(cd "$1" && pwd -P) || die "cannot enter $1"
conf=$work/conf; queue=$work/queue; data=$work/data; log=$work/maillog
mkdir -p "$conf" "$queue" "$data" || die "cannot create directories in $work"

# Refuse to count somebody else's messages: a previous run that was killed may
# have left queue files behind.
qfiles() {
    find "$queue/maildrop" "$queue/incoming" "$queue/active" "$queue/deferred" \
        "$queue/hold" -type f 2>/dev/null | head -n 1 | wc -l
}
[ "$(qfiles)" -eq 0 ] || die "$queue holds messages from an earlier run; remove $queue first"

# ---- a free loopback port --------------------------------------------------
# Ports in use according to /proc/net/tcp{,6} (any state, any address).
ports_used() {
    cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
        awk 'NR > 0 && $2 ~ /:/ { split($2, a, ":"); print a[2] }'
}
port=""
used=" $(ports_used | tr "\n" " ") "
p=$((20000 + $$ % 20000)); i=0
while [ $i -lt 200 ]; do
    hex=$(printf '%04X' "$p")
    case $used in *" $hex "*) ;; *) port=$p; break ;; esac
    p=$((p + 1)); [ $p -ge 40000 ] && p=20000
    i=$((i + 1))
done
[ -n "$port" ] || die "no free port found"
listening() {   # 127.0.0.1:$port in LISTEN state (0A)
    hex=$(printf '0100007F:%04X' "$port")
    awk -v a="$hex" '$2 == a && $4 == "0A" { f = 1 } END { exit !f }' /proc/net/tcp
}

# ---- configuration ---------------------------------------------------------
owner=$($sbin/postconf -d -h mail_owner) || die "postconf failed"
chown "$owner" "$data" || die "cannot chown $data to $owner"
# smtpd (or cleanup) refuses messages larger than message_size_limit and
# wants 1.5 x that much free space: size the limit to the test.
sizelimit=$((size + size / 2 + 1048576))
{
    echo "# written by tools/postfix_bench.sh; overwritten on every run"
    echo "compatibility_level = 3.6"
    echo "queue_directory = $queue"
    echo "data_directory = $data"
    echo "myhostname = bench.invalid"
    echo "inet_interfaces = 127.0.0.1"
    echo "inet_protocols = ipv4"
    echo "mydestination ="
    echo "relay_domains ="
    echo "mynetworks = 127.0.0.0/8"
    echo "default_transport = discard"
    echo "relay_transport = discard"
    echo "local_transport = discard"
    echo "alias_maps ="
    echo "alias_database ="
    echo "local_recipient_maps ="
    echo "smtpd_client_restrictions ="
    echo "smtpd_helo_restrictions ="
    echo "smtpd_sender_restrictions ="
    echo "smtpd_recipient_restrictions ="
    echo "smtpd_relay_restrictions = permit_mynetworks, reject"
    echo "smtpd_data_restrictions ="
    echo "smtpd_tls_security_level = none"
    echo "smtp_dns_support_level = disabled"
    # in_flow_delay stalls smtpd when arrivals outrun deliveries; with the
    # discard transport that is only noise.
    echo "in_flow_delay = 0"
    echo "message_size_limit = $sizelimit"
    echo "maillog_file = $log"
    echo "maillog_file_prefixes = $work"
    echo "biff = no"
    if $sbin/postconf -d smtpd_peername_lookup >/dev/null 2>&1; then
        echo "smtpd_peername_lookup = no"
    fi
} >"$conf/main.cf.new" && mv "$conf/main.cf.new" "$conf/main.cf" || die "cannot write $conf/main.cf"
# No chroot (5th column n) for any service.
cat >"$conf/master.cf.new" <<EOF || die "cannot write $conf/master.cf"
# written by tools/postfix_bench.sh; overwritten on every run
127.0.0.1:$port inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n -  0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n -  - trivial-rewrite
bounce    unix  - - n -  0 bounce
defer     unix  - - n -  0 bounce
trace     unix  - - n -  0 bounce
verify    unix  - - n -  1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -  - proxymap
showq     unix  n - n -  - showq
error     unix  - - n -  - error
retry     unix  - - n -  - error
discard   unix  - - n -  - discard
anvil     unix  - - n -  1 anvil
scache    unix  - - n -  1 scache
postlog   unix-dgram n - n - 1 postlogd
EOF
mv "$conf/master.cf.new" "$conf/master.cf" || die "cannot write $conf/master.cf"
: >"$log" || die "cannot write $log"

# ---- start, always stop ----------------------------------------------------
mpid=""; srcpid=""; started=0
cleanup() {
    rc=$?
    trap - EXIT INT TERM HUP
    trap "" PIPE
    if [ -n "$srcpid" ] && kill -0 "$srcpid" 2>/dev/null; then
        kill "$srcpid" 2>/dev/null; wait "$srcpid" 2>/dev/null
    fi
    if [ $started = 1 ]; then
        # postfix stop: SIGTERM to the master, which stops its children; it
        # waits up to 5 s and then kills the master's process group itself.
        $sbin/postfix -c "$conf" stop >/dev/null 2>&1
        if [ -n "$mpid" ]; then
            i=0
            while kill -0 "-$mpid" 2>/dev/null && [ $i -lt 50 ]; do
                sleep 0.1; i=$((i + 1))
            done
            if kill -0 "-$mpid" 2>/dev/null; then
                echo "postfix_bench: killing Postfix process group $mpid" >&2
                kill -9 "-$mpid" 2>/dev/null
            fi
        fi
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE   # e.g. stdout piped into head

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
rate() { awk -v n="$1" -v t="$2" 'BEGIN { if (t > 0) printf "%.1f", n / t; else print "inf" }'; }
logtail() { echo "postfix_bench: last lines of $log:" >&2; tail -n 15 "$log" >&2; }

# `postfix start` reports only to syslog/maillog unless stderr is a tty.
started=1
if [ -n "$cost" ]; then
    # counting: the master in the foreground, under perf stat (which
    # follows every child); it ends when the master does
    rm -f "$queue/pid/master.pid" "$work/receiver.perf" "$work/sender.perf"
    perf stat -x, -o "$work/receiver.perf" -e "$events" -- \
        $sbin/postfix -c "$conf" start-fg >/dev/null 2>&1 &
    perfpid=$!
    i=0
    until [ -s "$queue/pid/master.pid" ] && kill -0 "$(awk 'NR == 1 { print $1 }' "$queue/pid/master.pid")" 2>/dev/null; do
        i=$((i + 1))
        [ $i -le 200 ] && kill -0 "$perfpid" 2>/dev/null || { logtail; die "postfix -c $conf start-fg failed"; }
        sleep 0.05
    done
elif ! $sbin/postfix -c "$conf" start >/dev/null 2>&1; then
    mpid=$(awk 'NR == 1 { print $1 }' "$queue/pid/master.pid" 2>/dev/null)
    logtail
    die "postfix -c $conf start failed"
fi
mpid=$(awk 'NR == 1 { print $1 }' "$queue/pid/master.pid" 2>/dev/null)
case $mpid in ''|*[!0-9]*) logtail; die "no master pid in $queue/pid/master.pid" ;; esac
i=0
until listening; do
    i=$((i + 1))
    [ $i -le 200 ] || { logtail; die "Postfix does not listen on 127.0.0.1:$port"; }
    sleep 0.05
done

# ---- run ---------------------------------------------------------------------
# netbytes FILE: write_bytes - cancelled_write_bytes of a /proc/PID/io
netbytes() {
    awk '$1 == "write_bytes:" { w = $2 } $1 == "cancelled_write_bytes:" { c = $2 } END { print w - c }' "$1" 2>/dev/null
}
set -- $sbin/smtp-source -d -s "$sessions" -m "$count" -l "$size" \
    -M bench.invalid -f bench@bench.invalid -t sink@bench.invalid "127.0.0.1:$port"
t0=$(now)
if [ -n "$cost" ]; then
    # the shell that reaped smtp-source holds its I/O figures; the file
    # they go to is opened here, outside what is counted
    perf stat -x, -o "$work/sender.perf" -e "$events" -- \
        sh -c '"$@"; rc=$?; cat /proc/$$/io >&3; exit $rc' sh "$@" 3>"$work/sender.io" &
else
    "$@" &
fi
srcpid=$!
wait "$srcpid"; src_rc=$?
srcpid=""
t1=$(now)
[ $src_rc = 0 ] || { logtail; die "smtp-source failed (exit $src_rc)"; }

# Drained: no queue file left (maildrop, incoming, active, deferred, hold).
limit=$((60 + count / 50 + count * (size / 65536 + 1) / 200)) # seconds
deadline=$(awk -v t="$t1" -v l="$limit" 'BEGIN { printf "%d", t + l }')
while [ "$(qfiles)" -ne 0 ]; do
    [ "$(date +%s)" -le "$deadline" ] || { logtail; die "queue not empty after ${limit} s"; }
    sleep 0.01
done
t2=$(now)

# The discard agent logs before qmgr removes the file, but the log goes
# through postlogd: give it a moment to catch up.
i=0
while :; do
    discarded=$(grep -c 'postfix/discard\[[0-9]*\]: .* status=sent' "$log")
    queued=$(grep -c 'postfix/qmgr\[[0-9]*\]: .* (queue active)' "$log")
    [ "$discarded" -ge "$count" ] && [ "$queued" -ge "$count" ] && break
    i=$((i + 1)); [ $i -le 100 ] || break
    sleep 0.05
done

ta=$(elapsed "$t0" "$t1"); td=$(elapsed "$t0" "$t2")
echo "postfix: accepted $count msgs $size B in $ta s = $(rate "$count" "$ta") msgs/s (sessions $sessions)"
echo "postfix: drained in $td s = $(rate "$count" "$td") msgs/s"
echo "postfix: discarded $discarded msgs (maillog; queued $queued)"
if [ "$discarded" != "$count" ] || [ "$queued" != "$count" ]; then
    logtail
    die "expected $count messages queued and discarded, maillog shows $queued queued, $discarded discarded"
fi
[ -n "$cost" ] || exit 0

# ---- counting run: the totals ------------------------------------------------
# Bytes towards storage of Postfix's process group (the master's figure holds
# its reaped children's), read before it stops.
wbytes=0
for d in /proc/[0-9]*; do
    [ "$(awk '{ print $5 }' "$d/stat" 2>/dev/null)" = "$mpid" ] || continue
    b=$(netbytes "$d/io")
    wbytes=$((wbytes + ${b:-0}))
done
$sbin/postfix -c "$conf" stop >/dev/null 2>&1
wait "$perfpid"
started=0
perfline() {   # perf stat -x, lines: VALUE,UNIT,EVENT,...
    awk -F, -v who="$1" -v wb="$2" '
        $3 == "raw_syscalls:sys_enter" { s = $1 } $3 == "syscalls:sys_enter_fdatasync" { d = $1 }
        $3 == "syscalls:sys_enter_fsync" { f = $1 } $3 == "ext4:ext4_allocate_inode" { n = $1 }
        $3 == "task-clock" { c = $1 * 1000 }
        END { printf "postfix: cost %s syscalls=%s fdatasyncs=%s fsyncs=%s inodes=%s cpu_us=%.0f write_bytes=%s\n",
                     who, s + 0, d + 0, f + 0, n + 0, c, wb }' "$3"
}
perfline receiver "$wbytes" "$work/receiver.perf"
perfline sender "$(netbytes "$work/sender.io")" "$work/sender.perf"
exit 0
