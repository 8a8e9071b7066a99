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
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
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
            "open-interval = 1\nmax-associations = 16\nthreshold = 4\n",
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

struct run {
    long count, size;
    double rate, commits_per_msg, elapsed;
};

/* One direction, A -> B: A holds the whole queue first (B down), then B
 * starts; timed from B's first delivery to its last. */
static int one_run(struct run *r)
{
    unsigned pa = x400t_free_port(), pb = x400t_free_port();
    pid_t a, b;
    double t0, t1, deadline;
    long d = 0;
    sh("rm -rf %s/a %s/b %s/*.log", work, work, work);
    write_conf("a", pa, pb);
    write_conf("b", pb, pa);
    if (sh("%s/x400mta submit -c %s/a.conf --from 'C=XX;A=ADMD;P=ALPHA;S=Bench' "
           "--to 'C=XX;A=ADMD;P=BRAVO;S=Sink' --content-id b --no-report --size %ld --count %ld >/dev/null",
           exdir, work, r->size, r->count))
        return -1;
    a = start("a");
    deadline = x400b_now() + 120;
    while (stat_of("a", "queue_len") < r->count && x400b_now() < deadline) usleep(20000);
    b = start("b");
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
    stop(a);
    stop(b);
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
        struct run r = { count, size, 0, 0, 0 };
        if (one_run(&r) == 0) {
            v[n] = r.rate;
            c[n++] = r.commits_per_msg;
        }
    }
    if (!n) return 0;
    *commits = x400b_median(c, (size_t)n);
    return x400b_median(v, (size_t)n);
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
    return n ? x400b_median(v, (size_t)n) : 0;
}

/* ---- association setup latency (library + driver, in process) ---- */

struct lat {
    int bound;
};

static int lat_ev(void *u, x400_p1_link *l, const x400_p1_link_event *ev)
{
    struct lat *s = u;
    (void)l;
    if (ev->type == X400_P1_LINK_EV_BOUND) s->bound = 1;
    if (ev->type == X400_P1_LINK_EV_BIND_REFUSED || ev->type == X400_P1_LINK_EV_ABORTED) s->bound = -1;
    return 0;
}

static const x400_p1_peer lat_peers[] = { { "MTA-A", (const uint8_t *)"pa", 2, 1 } };
static x400_p1_peer_table lat_table = { lat_peers, 1 };
struct lat_srv {
    x400_p1_link *l[4];
    x400_assoc *a[4];
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
    if (s->n == 4) return -1;
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

static double setup_latency_us(int n)
{
    x400_driver *ds, *dc;
    x400_driver_callbacks scb = { NULL, lat_accept, NULL, lat_closed }, ccb = { NULL, NULL, NULL, lat_closed };
    struct lat_srv srv;
    char port[16];
    double *v = calloc((size_t)n, sizeof *v), med;
    int got = 0;
    memset(&srv, 0, sizeof srv);
    scb.user = &srv;
    if (!v || x400_driver_new(&ds, NULL, &scb, NULL) < 0 || x400_driver_listen(ds, "127.0.0.1", "0") <= 0 ||
        x400_driver_new(&dc, NULL, &ccb, NULL) < 0) {
        free(v);
        return 0;
    }
    snprintf(port, sizeof port, "%u", x400_driver_listen_port(ds));
    for (int i = 0; i < n; i++) {
        x400_assoc_config ac;
        x400_p1_link_config lc;
        struct lat st = { 0 };
        x400_p1_link_callbacks cb = { &st, lat_ev };
        x400_p1_link *l;
        x400_assoc *a;
        x400_lpi_handle h;
        double t0;
        x400_assoc_config_init(&ac, X400_ROLE_INITIATOR);
        x400_p1_link_config_init(&lc, X400_ROLE_INITIATOR);
        snprintf(lc.own_name, sizeof lc.own_name, "MTA-A");
        memcpy(lc.own_password, "pa", 2);
        lc.own_password_len = 2;
        if (x400_assoc_new(&a, &ac, NULL, NULL) < 0 || x400_p1_link_new(&l, &lc, &cb, NULL) < 0) break;
        x400_p1_link_attach(l, a);
        t0 = x400b_now();
        if (x400_driver_connect(dc, "127.0.0.1", port, a, &h) < 0) break;
        for (int k = 0; k < 100000 && !st.bound; k++) {
            x400_driver_run(dc, 0);
            x400_driver_run(ds, 0);
        }
        if (st.bound == 1) v[got++] = (x400b_now() - t0) * 1e6;
        x400_driver_disconnect(dc, h);
        for (int k = 0; k < 50; k++) x400_driver_run(ds, 0);
        x400_p1_link_free(l);
        x400_assoc_free(a);
        lat_srv_clear(&srv);
    }
    x400_driver_free(dc);
    x400_driver_free(ds);
    lat_srv_clear(&srv);
    med = got ? x400b_median(v, (size_t)got) : 0;
    if (got != n) printf("bench: warning: %d of %d associations bound\n", got, n);
    free(v);
    return med;
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
    long rss0, rss1, made = 0;
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

void x400b_bench_mta(void);
void x400b_bench_mta(void)
{
    const char *e = getenv("X400B_EXDIR"), *s = getenv("X400B_SRCDIR"), *b = getenv("X400B_BINDIR");
    long count = getenv("X400B_MTA_COUNT") ? atol(getenv("X400B_MTA_COUNT")) : 10000;
    long big = getenv("X400B_MTA_BIG") ? atol(getenv("X400B_MTA_BIG")) : 200;
    double c1 = 0, c2 = 0, ours, theirs, lat;
    if (!e || !s || !b) {
        printf("bench: mta skipped (X400B_EXDIR/X400B_SRCDIR/X400B_BINDIR not set)\n");
        return;
    }
    snprintf(exdir, sizeof exdir, "%s", e);
    snprintf(srcdir, sizeof srcdir, "%s", s);
    snprintf(work, sizeof work, "%s/mta-work", b);
    sh("rm -rf %s && mkdir -p %s", work, work);
    signal(SIGPIPE, SIG_IGN);

    x400b_report("fs_file_create", file_create_us(1000), "us/file");
    if (getenv("X400B_MTA_ONLY") && !strcmp(getenv("X400B_MTA_ONLY"), "scale")) { /* that part alone */
        scale();
        sh("rm -rf %s", work);
        return;
    }
    lat = setup_latency_us(1000);
    x400b_report("mta_assoc_setup_latency_median", lat, "us");
    scale();

    ours = median_mta(count, 1024, &c1);
    x400b_report("mta_durable_1k_msgs", ours, "msgs/s");
    x400b_report("mta_durable_1k_journal_fsyncs_per_msg", c1, "fsync/msg");
    theirs = median_postfix(count, 1024);
    if (theirs > 0) {
        x400b_report("postfix_durable_1k_msgs", theirs, "msgs/s");
        x400b_ratio("mta_durable_1k_msgs", "postfix", ours, theirs);
    }
    ours = median_mta(big, 1 << 20, &c2);
    x400b_report("mta_durable_1m_bytes", ours * 1048576.0, "B/s");
    theirs = median_postfix(big, 1 << 20);
    if (theirs > 0) {
        x400b_report("postfix_durable_1m_bytes", theirs * 1048576.0, "B/s");
        x400b_ratio("mta_durable_1m_bytes", "postfix", ours, theirs);
    }
    sh("rm -rf %s", work);
}
