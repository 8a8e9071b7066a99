/* The example MTAs end to end, against a throwaway Postfix in the same run:
 *   - durable 1 KiB messages per second from MTA-A to MTA-B over loopback
 *     (both spools durable: B confirms a transfer only after its journal
 *     fdatasync; A drops a message only after B's confirmation);
 *   - 1 MiB messages in bytes per second;
 *   - Postfix (tools/postfix_bench.sh): the same count and size queued
 *     durably once from smtp-source; ratio ours / Postfix;
 *   - association setup latency: TCP connect to MTA-bind result (library +
 *     driver, both ends in this process), median over 1000;
 *   - scale: one x400mta holding X400B_MTA_ASSOCS (default 10,000, or what
 *     RLIMIT_NOFILE allows) bound associations from this process: the
 *     setup time of the first and of the last 1000, its idle memory per
 *     association, and the latency of a message while all are bound.
 * Spools and Postfix's queue are on the same filesystem (under build/).
 * X400B_MTA_COUNT / X400B_MTA_BIG override the message counts,
 * X400B_MTA_ASSOCS the associations of the scale figures
 * (X400B_MTA_ONLY=scale: those alone). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "pair.h"
#include "x400p1/driver.h"
#include "x400p1/orname.h"
#include "x400p1/p1link.h"

#define REPS 3

static char exdir[1024], work[1200], srcdir[1024];

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}


static void write_conf(const char *side, unsigned own, unsigned peer)
{
    char path[1400];
    FILE *f;
    int a = side[0] == 'a';
    snprintf(path, sizeof path, "%s/%s.conf", work, side);
    f = fopen(path, "w");
    if (!f) return;
    fprintf(f,
            "[mta]\nname = %s\npassword = %s\ngdi = C=XX;A=ADMD;P=%s\nnode = %s1\n"
            "listen = 127.0.0.1:%u\nspool = %s/%s\nlog-level = service=warning,interface=warning\n"
            "log = %s/%s.log\n"
            "[peer %s]\ntheir-password = %s\naddress = %s\nport = %u\nroute = C=XX;A=ADMD;P=%s\n"
            "open-interval = 1\nmax-associations = 64\nthreshold = 4\n",
            a ? "MTA-A" : "MTA-B", a ? "pa" : "pb", a ? "ALPHA" : "BRAVO", side, own, work, side, work,
            side, a ? "MTA-B" : "MTA-A", a ? "pb" : "pa", a ? "localhost" : "127.0.0.1", peer,
            a ? "BRAVO" : "ALPHA");
    fclose(f);
}

static long stat_of(const char *side, const char *key)
{
    char cmd[4096], line[256];
    FILE *p;
    long v = -1;
    size_t kl = strlen(key);
    snprintf(cmd, sizeof cmd, "%s/x400mta stats -c %s/%s.conf 2>/dev/null", exdir, work, side);
    p = popen(cmd, "r");
    if (!p) return -1;
    while (fgets(line, sizeof line, p))
        if (!strncmp(line, key, kl) && line[kl] == '=') v = atol(line + kl + 1);
    pclose(p);
    return v;
}

static pid_t start(const char *side)
{
    char conf[1400];
    pid_t pid;
    snprintf(conf, sizeof conf, "%s/%s.conf", work, side);
    pid = fork();
    if (pid == 0) {
        char bin[1100];
        snprintf(bin, sizeof bin, "%s/x400mta", exdir);
        execl(bin, bin, "run", "-c", conf, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void stop(pid_t pid)
{
    int st;
    if (pid <= 0) return;
    kill(pid, SIGTERM);
    for (int i = 0; i < 100; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid) return;
        usleep(50000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
}

/* ---- per-message costs (a counting run, not timed) ----
 * perf stat counts, per process, every system call (raw_syscalls:sys_enter),
 * fdatasync and fsync calls and the inodes allocated on ext4
 * (ext4:ext4_allocate_inode: files and directories created) and the CPU
 * time (task-clock, user + system); /proc/PID/io
 * gives the bytes sent towards storage (write_bytes - cancelled_write_bytes:
 * pages dirtied in the page cache for a file, less those truncated before
 * writeback). */
static const char perf_events[] =
    "raw_syscalls:sys_enter,syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync,ext4:ext4_allocate_inode,"
    "task-clock";

enum { C_SYSCALLS, C_FDATASYNCS, C_FSYNCS, C_INODES, C_CPU, C_BYTES, C_N };
static const char *const cost_name[C_N] = { "syscalls", "fdatasyncs", "fsyncs", "files_created", "cpu_us",
                                            "bytes_written" };
static const char *const cost_unit[C_N] = { "syscalls/msg", "fdatasync/msg", "fsync/msg", "inodes/msg",
                                            "us/msg", "B/msg" };

struct cost {
    double v[C_N];
    int ok;     /* 1: v holds the totals */
};

/* "" when perf stat can count the tracepoints, else why not */
static const char *perf_missing(void)
{
    static char why[160];   /* set once, single-threaded bench */
    if (why[0]) return strcmp(why, "ok") ? why : "";
    if (sh("command -v perf >/dev/null 2>&1"))
        snprintf(why, sizeof why, "perf missing; sh tools/deps.sh bench");
    else if (sh("perf stat -x, -e %s true >/dev/null 2>&1", perf_events))
        snprintf(why, sizeof why, "perf stat cannot count %s", perf_events);
    else
        snprintf(why, sizeof why, "ok");
    return perf_missing();
}

/* perf stat attached to pid, counting into file until perf_stop() */
static pid_t perf_attach(pid_t pid, const char *file)
{
    char ps[24];
    pid_t p;
    snprintf(ps, sizeof ps, "%ld", (long)pid);
    p = fork();
    if (p == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) dup2(null, 2);
        execlp("perf", "perf", "stat", "-x,", "-o", file, "-e", perf_events, "-p", ps, (char *)NULL);
        _exit(127);
    }
    return p;
}

/* Add the counts of a `perf stat -x,` output file to c: 0, or -1 when
 * one of the five is missing (task-clock in ms, kept in us). */
static int perf_read(const char *file, struct cost *c)
{
    char line[512];
    int got = 0;
    FILE *f;
    if (!(f = fopen(file, "r"))) return -1;
    while (fgets(line, sizeof line, f)) {   /* VALUE,UNIT,EVENT,... */
        char *u = strchr(line, ','), *ev = u ? strchr(u + 1, ',') : NULL, *end;
        int k = -1;
        if (!ev) continue;
        ev++;
        if (!strncmp(ev, "raw_syscalls:sys_enter,", 23)) k = C_SYSCALLS;
        else if (!strncmp(ev, "syscalls:sys_enter_fdatasync,", 29)) k = C_FDATASYNCS;
        else if (!strncmp(ev, "syscalls:sys_enter_fsync,", 25)) k = C_FSYNCS;
        else if (!strncmp(ev, "ext4:ext4_allocate_inode,", 25)) k = C_INODES;
        else if (!strncmp(ev, "task-clock,", 11)) k = C_CPU;
        if (k < 0) continue;
        c->v[k] += strtod(line, &end) * (k == C_CPU ? 1000.0 : 1.0);
        if (end != line) got++;
    }
    fclose(f);
    return got == 5 ? 0 : -1;
}

/* Stop perf (it writes its counts on SIGINT) and add them to c. */
static int perf_stop(pid_t p, const char *file, struct cost *c)
{
    int st;
    if (p <= 0) return -1;
    kill(p, SIGINT);
    waitpid(p, &st, 0);
    return perf_read(file, c);
}

/* write_bytes - cancelled_write_bytes of a /proc/PID/io text, or -1 */
static double io_file_bytes(const char *path)
{
    char line[128];
    double w = -1, c = 0;
    FILE *f;
    if (!(f = fopen(path, "r"))) return -1;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "write_bytes:", 12)) w = atof(line + 12);
        if (!strncmp(line, "cancelled_write_bytes:", 22)) c = atof(line + 22);
    }
    fclose(f);
    return w < 0 ? -1 : w - c;
}

static double io_bytes(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/io", (long)pid);
    return io_file_bytes(path);
}

struct run {
    long count, size;
    double rate, commits_per_msg, elapsed;
    struct cost *cost;   /* non-NULL: a counting run, [0] the sender, [1] the receiver,
                          * [2] the submission into the sender's queue */
};

/* MTA-B for a counting run: perf is attached to the child before it
 * executes x400mta (a pipe holds it back), so the counts cover B's whole
 * life, its first message included. */
static pid_t start_counted(const char *side, const char *perf_file, pid_t *perf)
{
    char conf[1400], bin[1100], c;
    int gate[2];
    pid_t pid;
    snprintf(conf, sizeof conf, "%s/%s.conf", work, side);
    snprintf(bin, sizeof bin, "%s/x400mta", exdir);
    if (pipe(gate) < 0) return -1;
    pid = fork();
    if (pid == 0) {
        close(gate[1]);
        if (read(gate[0], &c, 1) != 1) _exit(126);
        close(gate[0]);
        execl(bin, bin, "run", "-c", conf, (char *)NULL);
        _exit(127);
    }
    close(gate[0]);
    *perf = pid > 0 ? perf_attach(pid, perf_file) : -1;
    usleep(700000);   /* perf stat attaches (it says nothing when it has) */
    c = 'g';
    if (write(gate[1], &c, 1) != 1) { /* the child is gone: the run fails */ }
    close(gate[1]);
    return pid;
}

/* One direction, A -> B: A holds the whole queue first (B down), then B
 * starts; timed from B's first delivery to its last.  A counting run
 * (r->cost) counts A from then until its queue is empty (every message
 * confirmed and removed) and B from its start. */
static int one_run(struct run *r)
{
    unsigned pa = x400t_free_port(), pb = x400t_free_port();
    pid_t a, b, perf_a = -1, perf_b = -1;
    double t0, t1, deadline, io_a0 = 0;
    char fa[1300], fb[1300];
    long d = 0;
    sh("rm -rf %s/a %s/b %s/*.log", work, work, work);
    write_conf("a", pa, pb);
    write_conf("b", pb, pa);
    /* a counting run counts the submission too: perf stat over a shell
     * that reaps `x400mta submit` and then reads its own /proc/PID/io */
    snprintf(fa, sizeof fa, "%s/s.perf", work);
    snprintf(fb, sizeof fb, "%s/s.io", work);
    if (r->cost && sh("perf stat -x, -o %s -e %s -- sh -c '\"$@\" >/dev/null; rc=$?; cat /proc/$$/io >&3; exit $rc' "
                      "sh %s/x400mta submit -c %s/a.conf --from 'C=XX;A=ADMD;P=ALPHA;S=Bench' "
                      "--to 'C=XX;A=ADMD;P=BRAVO;S=Sink' --content-id b --no-report --size %ld --count %ld 3>%s",
                      fa, perf_events, exdir, work, r->size, r->count, fb))
        return -1;
    if (r->cost) {
        r->cost[2].v[C_BYTES] = io_file_bytes(fb);
        r->cost[2].ok = perf_read(fa, &r->cost[2]) == 0 && r->cost[2].v[C_BYTES] >= 0;
    } else if (sh("%s/x400mta submit -c %s/a.conf --from 'C=XX;A=ADMD;P=ALPHA;S=Bench' "
                  "--to 'C=XX;A=ADMD;P=BRAVO;S=Sink' --content-id b --no-report --size %ld --count %ld >/dev/null",
                  exdir, work, r->size, r->count)) {
        return -1;
    }
    a = start("a");
    deadline = x400b_now() + 120;
    while (stat_of("a", "queue_len") < r->count && x400b_now() < deadline) usleep(20000);
    if (r->cost) {
        snprintf(fa, sizeof fa, "%s/a.perf", work);
        snprintf(fb, sizeof fb, "%s/b.perf", work);
        perf_a = perf_attach(a, fa);
        io_a0 = io_bytes(a);
        b = start_counted("b", fb, &perf_b);
    } else {
        b = start("b");
    }
    deadline = x400b_now() + 300;
    while (d < r->count && x400b_now() < deadline) {
        d = stat_of("b", "delivered");
        usleep(20000);
    }
    /* the MTA's own clock: first and last commit that made deliveries durable */
    usleep(300000);
    t0 = (double)stat_of("b", "first_durable_ms") / 1000.0;
    t1 = (double)stat_of("b", "last_durable_ms") / 1000.0;
    r->commits_per_msg = d > 0 ? (double)stat_of("b", "commits") / (double)d : 0;
    if (r->cost) {  /* A's share ends when it has removed every message */
        while (stat_of("a", "queue_len") > 0 && x400b_now() < deadline) usleep(20000);
        r->cost[0].v[C_BYTES] = io_bytes(a) - io_a0;
        r->cost[1].v[C_BYTES] = io_bytes(b);
        r->cost[0].ok = perf_stop(perf_a, fa, &r->cost[0]) == 0 && io_a0 >= 0;
        r->cost[1].ok = perf_stop(perf_b, fb, &r->cost[1]) == 0;
    }
    stop(a);
    stop(b);
    if (r->cost) return d >= r->count && r->cost[0].ok && r->cost[1].ok && r->cost[2].ok ? 0 : -1;
    if (d < r->count || t0 <= 0 || t1 <= t0) return -1;
    r->elapsed = t1 - t0;
    r->rate = (double)(r->count - 1) / (t1 - t0);
    return 0;
}

static double median_mta(long count, long size, double *commits)
{
    double v[REPS], c[REPS];
    int n = 0;
    for (int i = 0; i < REPS; i++) {
        struct run r = { count, size, 0, 0, 0, NULL };
        if (one_run(&r) == 0) {
            v[n] = r.rate;
            c[n++] = r.commits_per_msg;
        }
    }
    if (n < REPS) printf("bench: warning: %d of %d MTA runs of %ld x %ld B completed\n", n, REPS, count, size);
    if (!n) return 0;
    *commits = x400b_median(c, (size_t)n);
    return x400b_median(v, (size_t)n);
}

/* The marginal cost of one message: (a run of count - a run of 1) /
 * (count - 1), so that starting and stopping are left out. */
static void report_costs(const char *who, const char *label, const char *side, const struct cost *n,
                         const struct cost *one, long count)
{
    for (int k = 0; k < C_N; k++) {
        char name[128];
        snprintf(name, sizeof name, "%s_%s_%s_%s_per_msg", who, label, side, cost_name[k]);
        x400b_report(name, (n->v[k] - one->v[k]) / (double)(count - 1), cost_unit[k]);
    }
}

static void mta_costs(long count, long size, const char *label)
{
    struct cost cn[3], c1[3];
    struct run rn = { count, size, 0, 0, 0, cn }, r1 = { 1, size, 0, 0, 0, c1 };
    const char *why = perf_missing();
    if (*why) {
        printf("bench: mta_%s costs skipped (%s)\n", label, why);
        return;
    }
    memset(cn, 0, sizeof cn);
    memset(c1, 0, sizeof c1);
    if (count < 2 || one_run(&rn) < 0 || one_run(&r1) < 0) {
        printf("bench: warning: mta_%s counting runs failed\n", label);
        return;
    }
    report_costs("mta", label, "submit", &cn[2], &c1[2], count);
    report_costs("mta", label, "sender", &cn[0], &c1[0], count);
    report_costs("mta", label, "receiver", &cn[1], &c1[1], count);
}

/* One counting run of tools/postfix_bench.sh (PFB_COST=1): c[0] smtp-source,
 * c[1] Postfix.  0, 1 when it skipped the counting, -1 on failure. */
static int postfix_cost_run(long count, long size, struct cost c[2])
{
    char cmd[3000], line[512];
    int got = 0, skipped = 0;
    FILE *p;
    sh("rm -rf %s/pf", work);
    snprintf(cmd, sizeof cmd, "PFB_COST=1 sh %s/tools/postfix_bench.sh %s/pf %ld %ld 2>&1", srcdir, work, count,
             size);
    if (!(p = popen(cmd, "r"))) return -1;
    memset(c, 0, 2 * sizeof *c);
    while (fgets(line, sizeof line, p)) {
        struct cost *x = strstr(line, "postfix: cost receiver ") ? &c[1]
                         : strstr(line, "postfix: cost sender ") ? &c[0] : NULL;
        if (strstr(line, "skipped")) {
            printf("bench: %s", line);
            skipped = 1;
        }
        if (x && sscanf(strstr(line, "syscalls="),
                        "syscalls=%lf fdatasyncs=%lf fsyncs=%lf inodes=%lf cpu_us=%lf write_bytes=%lf",
                        &x->v[C_SYSCALLS], &x->v[C_FDATASYNCS], &x->v[C_FSYNCS], &x->v[C_INODES], &x->v[C_CPU],
                        &x->v[C_BYTES]) == 6)
            got++;
    }
    if (pclose(p) != 0) return -1;
    return skipped ? 1 : got == 2 ? 0 : -1;
}

static void postfix_costs(long count, long size, const char *label)
{
    struct cost cn[2], c1[2];
    int rn = count < 2 ? -1 : postfix_cost_run(count, size, cn), r1 = rn ? rn : postfix_cost_run(1, size, c1);
    if (rn == 1 || r1 == 1) return;   /* the script said why */
    if (rn < 0 || r1 < 0) {
        printf("bench: warning: postfix_%s counting runs failed\n", label);
        return;
    }
    report_costs("postfix", label, "sender", &cn[0], &c1[0], count);
    report_costs("postfix", label, "receiver", &cn[1], &c1[1], count);
}

/* Postfix: "postfix: accepted N msgs S B in T s = R msgs/s" */
static double median_postfix(long count, long size)
{
    double v[REPS];
    int n = 0;
    for (int i = 0; i < REPS; i++) {
        char cmd[3000], line[512];
        FILE *p;
        double rate = 0;
        sh("rm -rf %s/pf", work);
        snprintf(cmd, sizeof cmd, "sh %s/tools/postfix_bench.sh %s/pf %ld %ld 2>&1", srcdir, work, count, size);
        p = popen(cmd, "r");
        if (!p) continue;
        while (fgets(line, sizeof line, p)) {
            char *q = strstr(line, "postfix: accepted");
            if (strstr(line, "skipped")) printf("bench: %s", line);
            if (q && strchr(q, '=')) rate = atof(strchr(q, '=') + 1);
        }
        if (pclose(p) == 0 && rate > 0) v[n++] = rate;
    }
    if (n && n < REPS) printf("bench: warning: %d of %d Postfix runs of %ld x %ld B completed\n", n, REPS, count, size);
    return n ? x400b_median(v, (size_t)n) : 0;
}

/* ---- association setup latency (library + driver, in process) ---- */

/* this process's user + system time, us */
static double cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

struct lat {
    int bound;
    int timed;          /* a responder's: CPU from the accept to its BOUND */
    double cpu0, cpu;   /* at the accept; the sum */
    long n;             /* setups summed */
};

static int lat_ev(void *u, x400_p1_link *l, const x400_p1_link_event *ev)
{
    struct lat *s = u;
    (void)l;
    if (ev->type == X400_P1_LINK_EV_BOUND && s->timed && s->cpu0 > 0) {
        s->cpu += cpu_us() - s->cpu0;
        s->cpu0 = 0;
        s->n++;
    }
    if (ev->type == X400_P1_LINK_EV_BOUND) s->bound = 1;
    if (ev->type == X400_P1_LINK_EV_BIND_REFUSED || ev->type == X400_P1_LINK_EV_ABORTED) s->bound = -1;
    return 0;
}

static const x400_p1_peer lat_peers[] = { { "MTA-A", (const uint8_t *)"pa", 2, 1 } };
static x400_p1_peer_table lat_table = { lat_peers, 1 };
struct lat_srv {
    x400_p1_link *l[8];
    x400_assoc *a[8];
    int n;
    struct lat st;
};

static int lat_accept(void *u, x400_driver *d, x400_lpi_handle h, const char *peer, x400_assoc **out)
{
    struct lat_srv *s = u;
    x400_assoc_config ac;
    x400_p1_link_config lc;
    x400_p1_link_callbacks cb = { &s->st, lat_ev };
    (void)d;
    (void)h;
    (void)peer;
    if (s->n == 8) return -1;
    if (s->st.timed) s->st.cpu0 = cpu_us();
    x400_assoc_config_init(&ac, X400_ROLE_RESPONDER);
    x400_p1_link_config_init(&lc, X400_ROLE_RESPONDER);
    snprintf(lc.own_name, sizeof lc.own_name, "MTA-B");
    lc.check = x400_p1_cred_check_default;
    lc.check_user = &lat_table;
    if (x400_assoc_new(out, &ac, NULL, NULL) < 0) return -1;
    if (x400_p1_link_new(&s->l[s->n], &lc, &cb, NULL) < 0) return -1;
    x400_p1_link_attach(s->l[s->n], *out);
    s->a[s->n++] = *out;
    return 0;
}

static void lat_srv_clear(struct lat_srv *s)
{
    for (int i = 0; i < s->n; i++) {
        x400_p1_link_free(s->l[i]);
        x400_assoc_free(s->a[i]);
    }
    s->n = 0;
}

static void lat_closed(void *u, x400_driver *d, x400_lpi_handle h, x400_assoc *a, const x400_diag *why)
{
    (void)u; (void)d; (void)h; (void)a; (void)why;
}

/* An initiator's association and link, as x400mta's (bind as MTA-A). */
static int lat_initiator(struct lat *st, x400_p1_link **l, x400_assoc **a)
{
    x400_assoc_config ac;
    x400_p1_link_config lc;
    x400_p1_link_callbacks cb = { st, lat_ev };
    x400_assoc_config_init(&ac, X400_ROLE_INITIATOR);
    x400_p1_link_config_init(&lc, X400_ROLE_INITIATOR);
    snprintf(lc.own_name, sizeof lc.own_name, "MTA-A");
    memcpy(lc.own_password, "pa", 2);
    lc.own_password_len = 2;
    if (x400_assoc_new(a, &ac, NULL, NULL) < 0) return -1;
    if (x400_p1_link_new(l, &lc, &cb, NULL) < 0) {
        x400_assoc_free(*a);
        return -1;
    }
    x400_p1_link_attach(*l, *a);
    return 0;
}

/* Both ends in this process, one thread turning both drivers without
 * waiting (poll timeout 0): the median latency, and *cpu the process's
 * user + system time per setup from the creation of the initiator's
 * objects to its bind result (both ends' work; the teardown is not
 * counted). */
static double setup_latency_us(int n, double *cpu)
{
    x400_driver *ds, *dc;
    x400_driver_callbacks scb = { NULL, lat_accept, NULL, lat_closed }, ccb = { NULL, NULL, NULL, lat_closed };
    struct lat_srv srv;
    char port[16];
    double *v = calloc((size_t)n, sizeof *v), med, c = 0;
    int got = 0;
    memset(&srv, 0, sizeof srv);
    scb.user = &srv;
    *cpu = 0;
    if (!v || x400_driver_new(&ds, NULL, &scb, NULL) < 0 || x400_driver_listen(ds, "127.0.0.1", "0") <= 0 ||
        x400_driver_new(&dc, NULL, &ccb, NULL) < 0) {
        free(v);
        return 0;
    }
    snprintf(port, sizeof port, "%u", x400_driver_listen_port(ds));
    for (int i = 0; i < n; i++) {
        struct lat st = { 0 };
        x400_p1_link *l;
        x400_assoc *a;
        x400_lpi_handle h;
        double t0, c0 = cpu_us();
        if (lat_initiator(&st, &l, &a) < 0) break;
        t0 = x400b_now();
        if (x400_driver_connect(dc, "127.0.0.1", port, a, &h) < 0) break;
        for (int k = 0; k < 100000 && !st.bound; k++) {
            x400_driver_run(dc, 0);
            if (!st.bound) x400_driver_run(ds, 0); /* not once more after the bind result */
        }
        if (st.bound == 1) {
            v[got++] = (x400b_now() - t0) * 1e6;
            c += cpu_us() - c0;
        }
        x400_driver_disconnect(dc, h);
        for (int k = 0; k < 50; k++) x400_driver_run(ds, 0);
        x400_p1_link_free(l);
        x400_assoc_free(a);
        lat_srv_clear(&srv);
    }
    *cpu = got ? c / got : 0;
    x400_driver_free(dc);
    x400_driver_free(ds);
    lat_srv_clear(&srv);
    med = got ? x400b_median(v, (size_t)got) : 0;
    if (got != n) printf("bench: warning: %d of %d associations bound\n", got, n);
    free(v);
    return med;
}

/* The responder of the two-process figure frees each association once
 * its driver has forgotten it. */
static void lat_srv_closed(void *u, x400_driver *d, x400_lpi_handle h, x400_assoc *a, const x400_diag *why)
{
    struct lat_srv *s = u;
    (void)d; (void)h; (void)why;
    for (int i = 0; i < s->n; i++)
        if (s->a[i] == a) {
            x400_p1_link_free(s->l[i]);
            x400_assoc_free(s->a[i]);
            s->n--;
            s->l[i] = s->l[s->n];
            s->a[i] = s->a[s->n];
            return;
        }
}

static volatile sig_atomic_t rsp_stop;
static void rsp_on_usr1(int sig) { (void)sig; rsp_stop = 1; }

/* What setup_2proc measured. */
struct setup2 {
    double lat;                 /* median latency, us */
    double cpu_i, cpu_r;        /* CPU per setup: initiator, responder */
    double sys_i, sys_r;        /* system calls per setup and teardown (0: not counted) */
    int syn_data;               /* setups whose CR went in the SYN (TCP Fast Open) */
    int got;                    /* setups that bound */
};

/* opts of the setup figures' drivers */
enum { SETUP_TFO = 1, SETUP_NO_DEFER = 2 };

/* A driver of the setup figures: the responder's listens with
 * defer_accept_s (the accept and the CR in one wake-up) unless
 * SETUP_NO_DEFER; SETUP_TFO: TCP Fast Open. */
static x400_driver *lat_driver(const x400_driver_callbacks *cb, int opts)
{
    x400_driver_config c;
    x400_driver *d;
    x400_driver_config_init(&c);
    c.tcp_fast_open = (opts & SETUP_TFO) != 0;
    c.defer_accept_s = opts & SETUP_NO_DEFER ? 0 : 10;
    return x400_driver_new(&d, &c, cb, NULL) < 0 ? NULL : d;
}

/* What a run of setup_2proc measures.  The responder's CPU is measured in
 * a run of its own: its two getrusage calls (at the accept, at its BOUND)
 * lie between the CR and the CC and between the CN and the AC, on the
 * path the latency measures, at 2-3 us each in this guest. */
enum { SETUP_TIMED, SETUP_COUNT, SETUP_CPU_R };

/* The initiator here, the responder in a child process, each driver
 * blocking in poll.  mode SETUP_TIMED: the median latency and the CPU per
 * setup of the initiator (from the creation of its objects to its bind
 * result; its getrusage calls lie outside the latency's window).
 * SETUP_CPU_R: the CPU per setup of the responder (from the accept to its
 * BOUND: the AC is on its way).  SETUP_COUNT (not timed): perf stat
 * attached to both processes gives the system calls per setup and
 * teardown.  opts: SETUP_TFO (TCP Fast Open on both drivers),
 * SETUP_NO_DEFER (the responder without defer_accept_s). */
static int setup_2proc(int n, int opts, int mode, struct setup2 *r)
{
    int tfo = opts & SETUP_TFO;
    int count = mode == SETUP_COUNT;
    x400_driver *ds = NULL, *dc = NULL;
    x400_driver_callbacks scb = { NULL, lat_accept, NULL, lat_srv_closed }, ccb = { NULL, NULL, NULL, lat_closed };
    struct lat_srv srv;
    struct cost ci, cr;
    char port[16], fi[1300], fr[1300];
    double *v = calloc((size_t)n, sizeof *v), c = 0, rc[2] = { 0, 0 };
    int got = 0, res[2];
    pid_t child = -1, pi = -1, pr = -1;
    memset(&srv, 0, sizeof srv);
    memset(r, 0, sizeof *r);
    memset(&ci, 0, sizeof ci);
    memset(&cr, 0, sizeof cr);
    scb.user = &srv;
    if (!v || pipe(res) < 0) {
        free(v);
        return -1;
    }
    if (!(ds = lat_driver(&scb, opts)) || x400_driver_listen(ds, "127.0.0.1", "0") <= 0) goto out;
    snprintf(port, sizeof port, "%u", x400_driver_listen_port(ds));
    fflush(stdout);
    child = fork();
    if (child == 0) {
        signal(SIGUSR1, rsp_on_usr1);
        close(res[0]);
        srv.st.timed = mode == SETUP_CPU_R;
        while (!rsp_stop) x400_driver_run(ds, 50);
        rc[0] = srv.st.cpu;
        rc[1] = (double)srv.st.n;
        if (write(res[1], rc, sizeof rc) != (ssize_t)sizeof rc) _exit(1);
        _exit(0);
    }
    x400_driver_free(ds);   /* the child's now */
    ds = NULL;
    close(res[1]);
    res[1] = -1;
    if (child < 0 || !(dc = lat_driver(&ccb, opts))) goto reap;
    if (count) {
        snprintf(fi, sizeof fi, "%s/perf-setup-i.txt", work);
        snprintf(fr, sizeof fr, "%s/perf-setup-r.txt", work);
        pi = perf_attach(getpid(), fi);
        pr = perf_attach(child, fr);
        usleep(700000);   /* perf stat attaches (it says nothing when it has) */
    }
    for (int i = 0; i < n; i++) {
        struct lat st = { 0 };
        x400_p1_link *l;
        x400_assoc *a;
        x400_lpi_handle h;
        double t0, end, c0 = cpu_us();
        if (lat_initiator(&st, &l, &a) < 0) break;
        t0 = x400b_now();
        end = t0 + 5;
        if (x400_driver_connect(dc, "127.0.0.1", port, a, &h) < 0) break;
        while (!st.bound && x400b_now() < end) x400_driver_run(dc, 100);
        if (st.bound == 1) {
            v[got++] = (x400b_now() - t0) * 1e6;
            c += cpu_us() - c0;
            if (!count && tfo) r->syn_data += x400_driver_conn_syn_data(dc, h) == 1;
        }
        x400_driver_disconnect(dc, h);
        x400_p1_link_free(l);
        x400_assoc_free(a);
    }
    r->cpu_i = got ? c / got : 0;
    if (count) {
        usleep(100000);   /* the responder's last teardown */
        if (perf_stop(pi, fi, &ci) == 0 && got) r->sys_i = ci.v[C_SYSCALLS] / got;
        if (perf_stop(pr, fr, &cr) == 0 && got) r->sys_r = cr.v[C_SYSCALLS] / got;
    }
reap:
    if (child > 0) {
        kill(child, SIGUSR1);
        if (read(res[0], rc, sizeof rc) == (ssize_t)sizeof rc && rc[1] > 0) r->cpu_r = rc[0] / rc[1];
        waitpid(child, NULL, 0);
    }
out:
    if (dc) x400_driver_free(dc);
    if (ds) x400_driver_free(ds);
    close(res[0]);
    if (res[1] >= 0) close(res[1]);
    if (got) r->lat = x400b_median(v, (size_t)got);
    r->got = got;
    if (got != n) printf("bench: warning: %d of %d associations bound (two processes%s)\n", got, n,
                         tfo ? ", TCP Fast Open" : "");
    free(v);
    return got ? 0 : -1;
}

static double loopback_rtt_us(int n, int two_procs);

/* net.ipv4.tcp_fastopen of this network namespace, or -1 */
static int tfo_sysctl(void)
{
    FILE *f = fopen("/proc/sys/net/ipv4/tcp_fastopen", "r");
    int v = -1;
    if (f) {
        if (fscanf(f, "%d", &v) != 1) v = -1;
        fclose(f);
    }
    return v;
}

/* A network namespace of this process's own (root only) with loopback up
 * and net.ipv4.tcp_fastopen = 3 (client and server) in it: the machine's
 * own setting is left alone, nothing to restore.  0, or why not. */
static const char *private_netns_tfo(void)
{
    struct ifreq ifr;
    FILE *f;
    int s;
    if (unshare(CLONE_NEWNET) != 0) return "no network namespace of our own (not root?)";
    s = socket(AF_INET, SOCK_DGRAM, 0);
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) != 0 || (ifr.ifr_flags |= IFF_UP, ioctl(s, SIOCSIFFLAGS, &ifr)) != 0) {
        if (s >= 0) close(s);
        return "loopback down in the new network namespace";
    }
    close(s);
    if (!(f = fopen("/proc/sys/net/ipv4/tcp_fastopen", "w"))) return "cannot set net.ipv4.tcp_fastopen";
    fputs("3\n", f);
    if (fclose(f) != 0 || tfo_sysctl() != 3) return "cannot set net.ipv4.tcp_fastopen";
    return NULL;
}

/* The two-process setup with TCP Fast Open on both ends, in a child
 * process: in this network namespace when net.ipv4.tcp_fastopen has the
 * server bit (2), else in a namespace of the child's own where it is set
 * (root).  The loopback round trip is measured there too.  0, or -1 with
 * why (printed). */
static int setup_tfo(int n, struct setup2 *r, double *rtt)
{
    struct { struct setup2 r; double rtt; char why[120]; } out;
    int p[2];
    pid_t pid;
    memset(&out, 0, sizeof out);
    if (pipe(p) < 0) return -1;
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        const char *why = NULL;
        int sc = tfo_sysctl();
        close(p[0]);
        if (sc < 0 || (sc & 3) != 3) why = private_netns_tfo();
        if (why) snprintf(out.why, sizeof out.why, "%s; net.ipv4.tcp_fastopen = %d", why, sc);
        else {
            struct setup2 cnt;
            out.rtt = loopback_rtt_us(1000, 1);
            if (setup_2proc(n, SETUP_TFO, SETUP_TIMED, &out.r) < 0) snprintf(out.why, sizeof out.why, "no setup bound");
            else {
                if (setup_2proc(n / 2, SETUP_TFO, SETUP_CPU_R, &cnt) == 0) out.r.cpu_r = cnt.cpu_r;
                if (!perf_missing()[0] && setup_2proc(200, SETUP_TFO, SETUP_COUNT, &cnt) == 0) {
                    out.r.sys_i = cnt.sys_i;
                    out.r.sys_r = cnt.sys_r;
                }
            }
        }
        _exit(write(p[1], &out, sizeof out) == (ssize_t)sizeof out ? 0 : 1);
    }
    close(p[1]);
    if (pid < 0 || read(p[0], &out, sizeof out) != (ssize_t)sizeof out) snprintf(out.why, sizeof out.why, "child failed");
    close(p[0]);
    if (pid > 0) waitpid(pid, NULL, 0);
    if (out.why[0]) {
        printf("bench: mta assoc setup with TCP Fast Open skipped: %s\n", out.why);
        return -1;
    }
    *r = out.r;
    *rtt = out.rtt;
    return 0;
}

/* ---- the setup on the wire: both ends in memory (test/pair.h), every
 * TPKT named (X.224 CR/CC/DT; in a DT, the SPDU: X.225 8.3.1.1 CN, 8.3.2.1
 * AC, 8.3.11 DT), consecutive TPKTs from one side one flight ---- */

struct wire_log {
    char text[512];
    int last_from, flights[2], tpkts[2];
};

static const char *tpkt_name(const uint8_t *p, size_t n)
{
    if (n < 6) return "?";
    switch (p[5] & 0xF0) {
    case 0xE0: return "CR";
    case 0xD0: return "CC";
    case 0x80: return "DR";
    case 0xF0:
        if (n < 8) return "DT";
        switch (p[7]) {
        case 13: return "CN";
        case 14: return "AC";
        case 12: return "RF";
        case 1: return "GT+DT";
        case 9: return "FN";
        case 10: return "DN";
        case 25: return "AB";
        default: return "DT(other SPDU)";
        }
    default: return "?";
    }
}

static void wire_tap(void *u, int from, const uint8_t *p, size_t n)
{
    struct wire_log *w = u;
    size_t len = strlen(w->text);
    if (from != w->last_from) {
        w->flights[from]++;
        snprintf(w->text + len, sizeof w->text - len, "%s%s", len ? " | " : "", from ? "<" : ">");
        w->last_from = from;
    }
    while (n >= 4) {    /* RFC 1006 TPKT: 3, 0, length (2 octets) */
        size_t t = (size_t)p[2] << 8 | p[3];
        if (t < 4 || t > n) t = n;
        len = strlen(w->text);
        snprintf(w->text + len, sizeof w->text - len, " %s", tpkt_name(p, t));
        w->tpkts[from]++;
        p += t;
        n -= t;
    }
}

/* The flights of one setup, up to the initiator's bind result; the round
 * trips it waits for are the responder's flights.  0, or -1. */
static int setup_on_wire(struct wire_log *w)
{
    struct lat st = { 0 };
    struct lat_srv srv;
    x400_p1_link *l;
    x400_assoc *a, *r = NULL;
    x400_lpi_handle none = { 0 };
    x400t_pair io;
    int rv = -1;
    memset(&srv, 0, sizeof srv);
    memset(w, 0, sizeof *w);
    w->last_from = -1;
    if (lat_initiator(&st, &l, &a) < 0) return -1;
    if (lat_accept(&srv, NULL, none, "wire", &r) == 0 && x400_assoc_connect(a) == 0) {
        x400t_pair_init(&io, &x400t_assoc_end, a, r);
        io.tap = wire_tap;
        io.user = w;
        for (int k = 0; k < 100 && !st.bound; k++) {
            long x = x400t_pair_move(&io, 0), y = x < 0 ? -1 : x400t_pair_move(&io, 1);
            if (y < 0 || (!x && !y)) break;
        }
        x400t_pair_free(&io);
        rv = st.bound == 1 ? 0 : -1;
    }
    x400_p1_link_free(l);
    x400_assoc_free(a);
    lat_srv_clear(&srv);
    return rv;
}

/* What one new file costs on the spools' file system (create, write 1 KiB,
 * rename; no fsync): both MTAs pay it per message, so it moves the ratio. */
static double file_create_us(int n)
{
    char a[1400], b[1400];
    uint8_t buf[1024];
    double t0;
    memset(buf, 'x', sizeof buf);
    sh("mkdir -p %s/fs", work);
    t0 = x400b_now();
    for (int i = 0; i < n; i++) {
        int fd;
        snprintf(a, sizeof a, "%s/fs/t%d", work, i);
        snprintf(b, sizeof b, "%s/fs/f%d", work, i);
        fd = open(a, O_CREAT | O_WRONLY | O_TRUNC, 0600);
        if (fd < 0 || write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) return 0;
        close(fd);
        if (rename(a, b) != 0) return 0;
    }
    t0 = (x400b_now() - t0) * 1e6 / n;
    sh("rm -rf %s/fs", work);
    return t0;
}

/* The machine's own sequential write bandwidth on the spools' file system
 * (the bench's work directory): `mib` MiB in 1 MiB write()s to a new file,
 * fdatasync every `every` MiB (0: once, at the end), timed from the open to
 * the last fdatasync's return; the file is removed after.  The median of
 * REPS. */
static double disk_write_bps(long mib, long every)
{
    double v[REPS];
    int n = 0;
    char path[1300];
    uint8_t *buf = malloc(1 << 20);
    if (!buf) return 0;
    for (size_t i = 0; i < 1u << 20; i++) buf[i] = (uint8_t)(i * 2654435761u >> 24); /* not all zeros */
    snprintf(path, sizeof path, "%s/disk-seq", work);
    for (int r = 0; r < REPS; r++) {
        double t0 = x400b_now();
        int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600), ok = fd >= 0;
        for (long m = 0; ok && m < mib; m++) {
            buf[0] = (uint8_t)m;
            ok = write(fd, buf, 1 << 20) == 1 << 20;
            if (ok && every > 0 && (m + 1) % every == 0) ok = fdatasync(fd) == 0;
        }
        if (ok && (every <= 0 || mib % every)) ok = fdatasync(fd) == 0;
        if (ok) v[n++] = (double)mib * 1048576.0 / (x400b_now() - t0);
        if (fd >= 0) close(fd);
        unlink(path);
    }
    free(buf);
    return n == REPS ? x400b_median(v, (size_t)n) : 0;
}

/* What one small durable commit costs on the spools' file system: append
 * 1 KiB to a file and fdatasync it, n times; the median latency in us.
 * A journal's group commit pays this once per batch, so a receiver that
 * holds k transfers waiting for their confirmation moves at most
 * k / latency messages per second. */
static double disk_fdatasync_us(int n)
{
    char path[1300];
    uint8_t buf[1024];
    double *v = calloc((size_t)n, sizeof *v), med = 0;
    int fd, got = 0;
    snprintf(path, sizeof path, "%s/disk-append", work);
    memset(buf, 'j', sizeof buf);
    fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_APPEND, 0600);
    for (int i = 0; v && fd >= 0 && i < n; i++) {
        double t0 = x400b_now();
        if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf || fdatasync(fd) != 0) break;
        v[got++] = (x400b_now() - t0) * 1e6;
    }
    if (fd >= 0) close(fd);
    unlink(path);
    if (got == n) med = x400b_median(v, (size_t)got);
    free(v);
    return med;
}

/* ---- loopback round trip: 64-octet ping-pong over TCP (TCP_NODELAY) ---- */

static int tcp_pair(int *cli, int *srv)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    int one = 1, l = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    *cli = *srv = -1;
    if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(l, 1) < 0 ||
        getsockname(l, (struct sockaddr *)&sa, &sl) < 0 || (*cli = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
        connect(*cli, (struct sockaddr *)&sa, sizeof sa) < 0 || (*srv = accept(l, NULL, NULL)) < 0) {
        if (l >= 0) close(l);
        if (*cli >= 0) close(*cli);
        return -1;
    }
    close(l);
    setsockopt(*cli, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(*srv, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return 0;
}

static int full_read(int fd, uint8_t *b, size_t n)
{
    for (size_t got = 0; got < n;) {
        ssize_t k = read(fd, b + got, n - got);
        if (k <= 0) return -1;
        got += (size_t)k;
    }
    return 0;
}

/* Median round trip in us over n pings (after 100 unmeasured).
 * two_procs: the echo in a child process, both ends blocking in read(2)
 * (a peer process that must be woken, as an MTA's peer is); else both
 * ends in this thread (write, read on the other socket, write back, read:
 * what one turn costs when one process runs both ends, as the one-process
 * setup figure does). */
static double loopback_rtt_us(int n, int two_procs)
{
    uint8_t b[64];
    double *v = calloc((size_t)n, sizeof *v), med = 0;
    int cli, srv, got = 0;
    pid_t child = -1;
    if (!v || tcp_pair(&cli, &srv) < 0) {
        free(v);
        return 0;
    }
    memset(b, 'p', sizeof b);
    if (two_procs && (child = fork()) == 0) {
        close(cli);
        while (full_read(srv, b, sizeof b) == 0 && write(srv, b, sizeof b) == (ssize_t)sizeof b) {}
        _exit(0);
    }
    if (two_procs) close(srv);
    for (int i = -100; i < n; i++) {
        double t0 = x400b_now();
        if (write(cli, b, sizeof b) != (ssize_t)sizeof b) break;
        if (!two_procs && (full_read(srv, b, sizeof b) < 0 || write(srv, b, sizeof b) != (ssize_t)sizeof b)) break;
        if (full_read(cli, b, sizeof b) < 0) break;
        if (i >= 0) v[got++] = (x400b_now() - t0) * 1e6;
    }
    close(cli);
    if (two_procs) waitpid(child, NULL, 0);
    else close(srv);
    if (got == n) med = x400b_median(v, (size_t)got);
    free(v);
    return med;
}

/* ---- scale: one x400mta holding thousands of bound associations ---- */

struct hold {
    int bound, failed, sent;
};

static int hold_ev(void *u, x400_p1_link *l, const x400_p1_link_event *ev)
{
    struct hold *h = u;
    (void)l;
    if (ev->type == X400_P1_LINK_EV_BOUND) h->bound++;
    if (ev->type == X400_P1_LINK_EV_SENT) h->sent++;
    if (ev->type == X400_P1_LINK_EV_BIND_REFUSED || ev->type == X400_P1_LINK_EV_ABORTED ||
        ev->type == X400_P1_LINK_EV_SEND_FAILED)
        h->failed++;
    return 0;
}

static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    long v = -1;
    FILE *f;
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    if (!(f = fopen(path, "r"))) return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) v = atol(line + 6);
    fclose(f);
    return v;
}

static uint64_t ms_now(void) { return (uint64_t)(x400b_now() * 1000); }

/* One message to MTA-B's local recipient (delivered into its inbox). */
static int scale_msg(x400_p1_apdu *a, x400_p1_recipient *r, x400_p1_trace *t, int k)
{
    static const char orig[] = "C=XX;A=ADMD;P=ALPHA;S=Bench", rcpt[] = "C=XX;A=ADMD;P=BRAVO;S=Sink";
    static uint8_t content[1024];
    x400_diag d;
    if (x400_p1_apdu_init(a, X400_P1_MESSAGE, NULL) < 0) return -1;
    snprintf(a->env.id.gdi.country, sizeof a->env.id.gdi.country, "XX");
    snprintf(a->env.id.gdi.admd, sizeof a->env.id.gdi.admd, "ADMD");
    snprintf(a->env.id.gdi.prmd, sizeof a->env.id.gdi.prmd, "ALPHA");
    snprintf(a->env.id.local, sizeof a->env.id.local, "scale-%d-%ld", k, (long)getpid());
    if (x400_orname_parse(orig, strlen(orig), &a->env.originator, &d) < 0) return -1;
    x400_p1_recipient_init(r);
    if (x400_orname_parse(rcpt, strlen(rcpt), &r->name, &d) < 0) return -1;
    r->osrn = 1;
    a->env.n_recip = 1;
    a->env.recip = r;
    a->env.content_type.builtin = X400_CT_P2_1988;
    x400_p1_trace_init(t);
    t->gdi = a->env.id.gdi;
    t->arrival = 1795250000;
    t->routing_action = X400_ROUTE_RELAYED;
    a->env.n_trace = 1;
    a->env.trace = t;
    memset(content, 'x', sizeof content);
    a->content.p = content;
    a->content.len = sizeof content;
    return 0;
}

static void scale(void)
{
    enum { STEP = 1000 };
    struct rlimit rl;
    long n = getenv("X400B_MTA_ASSOCS") ? atol(getenv("X400B_MTA_ASSOCS")) : 10000;
    unsigned pb = x400t_free_port();
    char conf[1400], ps[16];
    x400_driver *d = NULL;
    x400_driver_config dc;
    x400_driver_callbacks cb = { NULL, NULL, NULL, lat_closed };
    struct hold h = { 0, 0, 0 };
    x400_p1_link **link;
    x400_assoc **assoc;
    x400_lpi_handle *hc;
    double first = 0, last = 0, lat[21];
    long rss0, rss1, heap0, heap1, made = 0;
    int nlat = 0;
    pid_t b;
    FILE *f;
    /* this process holds one descriptor per association, x400mta another */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur - 200 < n) n = ((long)rl.rlim_cur - 200) / STEP * STEP;
    }
    if (n < 2 * STEP) {
        printf("bench: mta scale skipped (RLIMIT_NOFILE allows %ld associations)\n", n);
        return;
    }
    link = calloc((size_t)n, sizeof *link);
    assoc = calloc((size_t)n, sizeof *assoc);
    hc = calloc((size_t)n, sizeof *hc);
    sh("rm -rf %s/b %s/b.log", work, work);
    write_conf("b", pb, x400t_free_port());
    snprintf(conf, sizeof conf, "%s/b.conf", work);
    if (!link || !assoc || !hc || !(f = fopen(conf, "r+"))) goto out;
    {   /* the limits for one source holding n associations, after the [mta] lines */
        char text[8192];
        size_t len = fread(text, 1, sizeof text - 1, f);
        char *peer;
        text[len] = 0;
        peer = strstr(text, "[peer");
        if (!peer) { fclose(f); goto out; }
        rewind(f);
        fprintf(f, "%.*smax-connections = %ld\nmax-unbound = %ld\nmax-unbound-per-source = %ld\n"
                "bind-timeout = 600\n%s", (int)(peer - text), text, n + 100, n + 10, n + 10, peer);
        fclose(f);
    }
    b = start("b");
    usleep(500000);
    rss0 = rss_kib(b);
    heap0 = stat_of("b", "heap_live");
    x400_driver_config_init(&dc);
    dc.max_conns = (size_t)n;
    dc.notify_output = 1;
    cb.user = &h;
    if (x400_driver_new(&d, &dc, &cb, NULL) < 0) goto stop_b;
    snprintf(ps, sizeof ps, "%u", pb);
    for (long k = 0; k < n; k += STEP) {
        double t0 = x400b_now(), deadline = t0 + 300;
        for (long i = k; i < k + STEP; i++) {
            x400_p1_link_config lc;
            x400_p1_link_callbacks lcb = { &h, hold_ev };
            x400_assoc_config ac;
            x400_assoc_config_init(&ac, X400_ROLE_INITIATOR);
            x400_p1_link_config_init(&lc, X400_ROLE_INITIATOR);
            snprintf(lc.own_name, sizeof lc.own_name, "MTA-A");
            memcpy(lc.own_password, "pa", 2);
            lc.own_password_len = 2;
            if (x400_p1_link_new(&link[i], &lc, &lcb, NULL) < 0 || x400_p1_link_tick(link[i], ms_now()) < 0 ||
                x400_assoc_new(&assoc[i], &ac, NULL, NULL) < 0 ||
                x400_driver_connect(d, "127.0.0.1", ps, assoc[i], &hc[i]) < 0 ||
                x400_p1_link_attach(link[i], assoc[i]) < 0)
                goto free_links;
            made = i + 1;
        }
        while (h.bound < k + STEP && !h.failed && x400b_now() < deadline) x400_driver_run(d, 10);
        if (h.bound < k + STEP) {
            printf("bench: warning: %d of %ld associations bound (%d failed)\n", h.bound, k + STEP, h.failed);
            goto free_links;
        }
        if (k == 0) first = x400b_now() - t0;
        last = x400b_now() - t0;
    }
    for (int i = 0; i < 50; i++) x400_driver_run(d, 10);
    rss1 = rss_kib(b);
    usleep(300000); /* the statistics snapshot lags by up to 250 ms */
    heap1 = stat_of("b", "heap_live");
    /* a message on 21 associations spread over the n, each to EV_SENT:
     * MTA-B made it durable (journal fdatasync) before confirming */
    for (int k = 0; k <= 20; k++) {
        long i = (long)k * (n - 1) / 20;
        x400_p1_apdu a;
        x400_p1_recipient r;
        x400_p1_trace t;
        int sent0 = h.sent;
        double t0, end;
        if (scale_msg(&a, &r, &t, k) < 0) break;
        t0 = x400b_now();
        end = t0 + 10;
        x400_p1_link_tick(link[i], ms_now());
        if (x400_p1_link_send(link[i], &a, (uint64_t)k, NULL) == X400_OK) {
            x400_driver_want_write(d, hc[i]);
            while (h.sent == sent0 && !h.failed && x400b_now() < end) x400_driver_run(d, 1);
            if (h.sent > sent0) lat[nlat++] = (x400b_now() - t0) * 1000;
        }
        a.content.p = NULL;
        a.env.recip = NULL;
        a.env.n_recip = 0;
        a.env.trace = NULL;
        a.env.n_trace = 0;
        x400_p1_apdu_free(&a);
    }
    printf("bench: mta scale: %ld associations bound to one x400mta\n", n);
    x400b_report("mta_assoc_setup_first1000_s", first, "s");
    x400b_report("mta_assoc_setup_last1000_s", last, "s");
    x400b_report("mta_assoc_setup_last_vs_first", first > 0 ? last / first : 0, "x");
    if (rss0 > 0 && rss1 > rss0) x400b_report("mta_idle_bytes_per_assoc", (double)(rss1 - rss0) * 1024.0 / (double)n, "B");
    /* of which the MTA's counted heap: the library's objects and its own */
    if (heap0 > 0 && heap1 > heap0)
        x400b_report("mta_idle_heap_bytes_per_assoc", (double)(heap1 - heap0) / (double)n, "B");
    if (nlat) x400b_report("mta_msg_latency_at_10000_ms", x400b_median(lat, (size_t)nlat), "ms");
    if (nlat < 21) printf("bench: warning: %d of 21 messages confirmed\n", nlat);
free_links:
    x400_driver_free(d);
    for (long i = 0; i < made; i++) {
        x400_p1_link_free(link[i]);
        x400_assoc_free(assoc[i]);
    }
stop_b:
    stop(b);
out:
    free(link);
    free(assoc);
    free(hc);
}

/* X400B_MTA_ONLY=part[,part...] (setup, scale, 1k, 1m): those parts alone */
static int want(const char *part)
{
    const char *only = getenv("X400B_MTA_ONLY");
    size_t n = strlen(part);
    for (const char *p = only; p && *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] == ','))
        if (!strncmp(p, part, n) && (p[n] == ',' || !p[n])) return 1;
    return !only;
}

/* The flights of `wire` (after TCP's handshake) as they go with TCP Fast
 * Open: the initiator's first flight in the SYN, the responder's first
 * after its SYN-ACK, the ACK with the initiator's second. */
static const char *tfo_flights(const char *wire, char *out, size_t len)
{
    const char *a = strstr(wire, "> "), *b = strstr(wire, "< "), *c = b ? strstr(b, "> ") : NULL;
    if (!a || !b || !c || b < a) {
        snprintf(out, len, " %s", wire);
        return out;
    }
    snprintf(out, len, " > SYN+%.*s< SYN-ACK, %.*s> ACK, %s", (int)(b - a - 2), a + 2, (int)(c - b - 2), b + 2, c + 2);
    return out;
}

/* Association setup: its latency and CPU, in one process and in two, the
 * loopback round trip measured the same ways, the flights on the wire,
 * and the target (median <= 2 loopback round trips + 50 us CPU). */
static void setup_figures(void)
{
    double rtt = loopback_rtt_us(1000, 1), rtt1 = loopback_rtt_us(1000, 0), cpu, lat, lat2, target, trtt = 0;
    struct wire_log w;
    struct setup2 s2, tf, cnt;
    const char *nope;
    char tfo[600];
    x400b_report("loopback_rtt_us", rtt, "us");
    x400b_report("loopback_rtt_1proc_us", rtt1, "us");
    lat = setup_latency_us(1000, &cpu);
    x400b_report("mta_assoc_setup_latency_median", lat, "us");
    x400b_report("mta_assoc_setup_cpu_both_ends_us", cpu, "us/setup");
    setup_2proc(1000, 0, SETUP_TIMED, &s2);
    if (setup_2proc(500, 0, SETUP_CPU_R, &cnt) == 0) s2.cpu_r = cnt.cpu_r;
    lat2 = s2.lat;
    if (setup_2proc(1000, SETUP_NO_DEFER, SETUP_TIMED, &cnt) == 0)
        x400b_report("mta_assoc_setup_2proc_no_defer_latency_median", cnt.lat, "us");
    x400b_report("mta_assoc_setup_2proc_latency_median", lat2, "us");
    x400b_report("mta_assoc_setup_cpu_initiator_us", s2.cpu_i, "us/setup");
    x400b_report("mta_assoc_setup_cpu_responder_us", s2.cpu_r, "us/setup");
    if ((nope = perf_missing())[0])
        printf("bench: mta assoc setup system calls not counted: %s\n", nope);
    else if (setup_2proc(200, 0, SETUP_COUNT, &cnt) == 0 && cnt.sys_i > 0 && cnt.sys_r > 0) {
        x400b_report("mta_assoc_setup_syscalls_initiator", cnt.sys_i, "syscalls/setup");
        x400b_report("mta_assoc_setup_syscalls_responder", cnt.sys_r, "syscalls/setup");
    }
    if (setup_on_wire(&w) == 0) {
        printf("bench: mta assoc setup on the wire (after TCP's handshake; > initiator, < responder):%s\n", w.text);
        x400b_report("mta_assoc_setup_round_trips", w.flights[1], "round trips");
        x400b_report("mta_assoc_setup_tpkts", w.tpkts[0] + w.tpkts[1], "TPKTs");
        /* with Fast Open the CR rides in the SYN: TCP's handshake and the
         * CR's round trip are one */
        printf("bench: mta assoc setup on the wire with TCP Fast Open (TCP's handshake included):%s\n",
               tfo_flights(w.text, tfo, sizeof tfo));
        x400b_report("mta_assoc_setup_tfo_round_trips", w.flights[1], "round trips with TCP's");
    } else {
        printf("bench: warning: the setup in memory did not bind\n");
    }
    if (rtt > 0 && rtt1 > 0) {
        x400b_report("mta_assoc_setup_rtts", lat2 / rtt, "RTTs");
        x400b_report("mta_assoc_setup_1proc_rtts", lat / rtt1, "RTTs");
        target = 2 * rtt + 50;
        x400b_report("mta_assoc_setup_target_us", target, "us");
        x400b_report("mta_assoc_setup_vs_target", lat2 / target, "x");
        x400b_report("mta_assoc_setup_1proc_vs_target", lat / (2 * rtt1 + 50), "x");
        printf("bench: mta assoc setup target (median <= 2 loopback RTTs + 50 us): %s "
               "(two processes %.1f us, target %.1f us; one process %.1f us, target %.1f us)\n",
               lat2 <= target && lat <= 2 * rtt1 + 50 ? "met" : "NOT met", lat2, target, lat, 2 * rtt1 + 50);
    }
    if (setup_tfo(1000, &tf, &trtt) == 0 && trtt > 0) {
        x400b_report("mta_assoc_setup_tfo_2proc_latency_median", tf.lat, "us");
        x400b_report("mta_assoc_setup_tfo_cpu_initiator_us", tf.cpu_i, "us/setup");
        x400b_report("mta_assoc_setup_tfo_cpu_responder_us", tf.cpu_r, "us/setup");
        x400b_report("mta_assoc_setup_tfo_syn_data_share", tf.got ? (double)tf.syn_data / tf.got : 0, "of setups");
        if (tf.sys_i > 0 && tf.sys_r > 0) {
            x400b_report("mta_assoc_setup_tfo_syscalls_initiator", tf.sys_i, "syscalls/setup");
            x400b_report("mta_assoc_setup_tfo_syscalls_responder", tf.sys_r, "syscalls/setup");
        }
        x400b_report("mta_assoc_setup_tfo_loopback_rtt_us", trtt, "us");
        x400b_report("mta_assoc_setup_tfo_rtts", tf.lat / trtt, "RTTs");
        x400b_report("mta_assoc_setup_tfo_vs_target", tf.lat / (2 * trtt + 50), "x");
        printf("bench: mta assoc setup target with TCP Fast Open (median <= 2 loopback RTTs + 50 us): %s "
               "(two processes %.1f us, target %.1f us, the CR in the SYN in %d of %d setups)\n",
               tf.lat <= 2 * trtt + 50 ? "met" : "NOT met", tf.lat, 2 * trtt + 50, tf.syn_data, tf.got);
    }
}

void x400b_bench_mta(void);
void x400b_bench_mta(void)
{
    const char *e = getenv("X400B_EXDIR"), *s = getenv("X400B_SRCDIR"), *b = getenv("X400B_BINDIR");
    long count = getenv("X400B_MTA_COUNT") ? atol(getenv("X400B_MTA_COUNT")) : 10000;
    long big = getenv("X400B_MTA_BIG") ? atol(getenv("X400B_MTA_BIG")) : 200;
    double c1 = 0, c2 = 0, ours, theirs;
    if (!e || !s || !b) {
        printf("bench: mta skipped (X400B_EXDIR/X400B_SRCDIR/X400B_BINDIR not set)\n");
        return;
    }
    snprintf(exdir, sizeof exdir, "%s", e);
    snprintf(srcdir, sizeof srcdir, "%s", s);
    snprintf(work, sizeof work, "%s/mta-work", b);
    sh("rm -rf %s && mkdir -p %s", work, work);
    signal(SIGPIPE, SIG_IGN);

    if (want("1k") || want("1m")) {
        x400b_report("fs_file_create", file_create_us(1000), "us/file");
        x400b_report("disk_fdatasync_1k_append_us", disk_fdatasync_us(200), "us");
    }
    if (want("setup")) setup_figures();
    if (want("scale")) scale();
    if (want("1k")) {
        ours = median_mta(count, 1024, &c1);
        x400b_report("mta_durable_1k_msgs", ours, "msgs/s");
        x400b_report("mta_durable_1k_journal_fsyncs_per_msg", c1, "fsync/msg");
        theirs = median_postfix(count, 1024);
        if (theirs > 0) {
            x400b_report("postfix_durable_1k_msgs", theirs, "msgs/s");
            x400b_ratio("mta_durable_1k_msgs", "postfix", ours, theirs);
        }
        mta_costs(count, 1024, "1k");
        postfix_costs(count, 1024, "1k");
    }
    if (want("1m")) {
        long mib = getenv("X400B_DISK_MIB") ? atol(getenv("X400B_DISK_MIB")) : 256;
        double disk = disk_write_bps(mib, 0), disk1 = disk_write_bps(mib, 1);
        x400b_report("disk_seq_write_fdatasync_bytes", disk, "B/s");
        x400b_report("disk_seq_write_fdatasync_every_mib_bytes", disk1, "B/s");
        ours = median_mta(big, 1 << 20, &c2) * 1048576.0;
        x400b_report("mta_durable_1m_bytes", ours, "B/s");
        x400b_report("mta_durable_1m_journal_fsyncs_per_msg", c2, "fsync/msg");
        x400b_ratio("mta_durable_1m_bytes", "disk", ours, disk);
        x400b_ratio("mta_durable_1m_bytes", "disk_every_mib", ours, disk1);
        theirs = median_postfix(big, 1 << 20) * 1048576.0;
        if (theirs > 0) {
            x400b_report("postfix_durable_1m_bytes", theirs, "B/s");
            x400b_ratio("mta_durable_1m_bytes", "postfix", ours, theirs);
            x400b_ratio("postfix_durable_1m_bytes", "disk", theirs, disk);
        }
        mta_costs(big, 1 << 20, "1m");
        postfix_costs(big, 1 << 20, "1m");
    }
    sh("rm -rf %s", work);
}
