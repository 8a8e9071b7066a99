/* The example MTA's test environment (mta_env.h): MTAs as processes in a
 * scratch directory, their configuration, start and stop, and what they
 * did read back from their spools and statistics in this process.  Used
 * by check_mta (two MTAs) and check_mtarelay (four). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mta_env.h"
#include "pair.h"
#include "x400t.h"

const char *const x400t_mta_side_name[X400T_MTA_MAX] = { "a", "b", "c", "d" };

double x400t_mta_now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int x400t_mta_run(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    int st;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* extra[i]: lines appended to side i's [peer] section (NULL: none);
 * known[i] == 0: side i does not know the other MTA at all. */
FILE *x400t_mta_conf_open(struct env *e, int i, const char *name, const char *password, const char *prmd)
{
    char path[700];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s.conf", e->dir, x400t_mta_side_name[i]);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f,
            "[mta]\nname = %s\npassword = %s\ngdi = C=XX;A=ADMD;P=%s\nnode = %s1\n"
            "listen = 127.0.0.1:%u\nspool = %s/%s\nlog = %s/%s.log\n"
            "log-level = service=info,interface=info\n%s",
            name, password, prmd, x400t_mta_side_name[i], e->port[i], e->dir, x400t_mta_side_name[i], e->dir,
            x400t_mta_side_name[i], e->mta_extra[i] ? e->mta_extra[i] : "");
    return f;
}

void x400t_mta_write_conf(struct env *e, int i, const char *peer_extra, int known, const char *their_pw)
{
    int a = i == 0;
    FILE *f = x400t_mta_conf_open(e, i, a ? "MTA-A" : "MTA-B", a ? "pa" : "pb", a ? "ALPHA" : "BRAVO");
    if (known) /* their_pw "-": no their-password line at all */
        fprintf(f,
                "[peer %s]\n%s%s%saddress = %s\nport = %u\nroute = C=XX;A=ADMD;P=%s\n"
                "open-interval = 1\nrecovery-timeout = 5\n%s",
                a ? "MTA-B" : "MTA-A", their_pw && !strcmp(their_pw, "-") ? "" : "their-password = ",
                their_pw && !strcmp(their_pw, "-") ? "" : their_pw ? their_pw : a ? "pb" : "pa",
                their_pw && !strcmp(their_pw, "-") ? "" : "\n", a ? "localhost" : "127.0.0.1",
                e->via[i] ? e->via[i] : e->port[1 - i], a ? "BRAVO" : "ALPHA", peer_extra ? peer_extra : "");
    fclose(f);
}

void x400t_mta_env_dir(struct env *e, int n)
{
    const char *tmp = getenv("TMPDIR");
    ck_assert_int_le(n, X400T_MTA_MAX);
    memset(e, 0, sizeof *e);
    snprintf(e->bin, sizeof e->bin, "%s/examples/x400mta", x400t_bindir());
    ck_assert_msg(access(e->bin, X_OK) == 0, "%s not built", e->bin);
    snprintf(e->dir, sizeof e->dir, "%s/x400mta.XXXXXX", tmp ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(e->dir));
    for (int i = 0; i < n; i++) e->port[i] = x400t_free_port();
}

void x400t_mta_env_init(struct env *e)
{
    x400t_mta_env_dir(e, 2);
    for (int i = 0; i < 2; i++) x400t_mta_write_conf(e, i, NULL, 1, NULL);
}

/* fsize > 0: the MTA may write files up to fsize octets only (RLIMIT_FSIZE,
 * SIGXFSZ ignored: a write beyond fails as on a full disk). */
void x400t_mta_start_limited(struct env *e, int i, rlim_t fsize)
{
    char conf[700];
    snprintf(conf, sizeof conf, "%s/%s.conf", e->dir, x400t_mta_side_name[i]);
    e->pid[i] = fork();
    ck_assert_int_ge(e->pid[i], 0);
    if (e->pid[i] == 0) {
        if (fsize) {
            struct rlimit rl = { fsize, RLIM_INFINITY }; /* soft: raised again by prlimit */
            signal(SIGXFSZ, SIG_IGN);
            if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(126);
        }
        execl(e->bin, e->bin, "run", "-c", conf, (char *)NULL);
        _exit(127);
    }
}

void x400t_mta_start(struct env *e, int i) { x400t_mta_start_limited(e, i, 0); }

int x400t_mta_stop(struct env *e, int i, int sig)
{
    int st = 0;
    if (e->pid[i] <= 0) return 0;
    kill(e->pid[i], sig);
    for (int k = 0; k < 400; k++) {
        if (waitpid(e->pid[i], &st, WNOHANG) == e->pid[i]) {
            e->pid[i] = 0;
            return st;
        }
        usleep(25000);
    }
    kill(e->pid[i], SIGKILL);
    waitpid(e->pid[i], &st, 0);
    e->pid[i] = 0;
    return -1;
}

void x400t_mta_env_free(struct env *e, int ok)
{
    for (int i = 0; i < X400T_MTA_MAX; i++) x400t_mta_stop(e, i, SIGTERM);
    if (ok) x400t_mta_run("rm -rf '%s'", e->dir);
    else fprintf(stderr, "check_mta: kept %s for inspection\n", e->dir);
}

void x400t_mta_submit(struct env *e, int from, const char *cid, int count, int size, int report)
{
    ck_assert_int_eq(x400t_mta_run("'%s' submit -c '%s/%s.conf' --from 'C=XX;A=ADMD;P=%s;S=Orig' "
                         "--to 'C=XX;A=ADMD;P=%s;S=Rcpt' --content-id %s --size %d --count %d %s >/dev/null",
                         e->bin, e->dir, x400t_mta_side_name[from], from ? "BRAVO" : "ALPHA", from ? "ALPHA" : "BRAVO",
                         cid, size, count, report ? "" : "--no-report"),
                     0);
}

/* Side i's inbox entries (their headers), read from its spool in this
 * process as `x400mta inbox` reads them, without starting a sanitized
 * process for each look (the waits below look many times a second);
 * tools_queue_and_inbox, unroutable_recipient_ndr_others_delivered and
 * queue_control_by_mtsid run the `inbox` command itself.  An entry renamed
 * while listed is skipped, as the command skips it.  Returns how many;
 * *out is the caller's to free. */
long x400t_mta_inbox_entries(struct env *e, int i, mta_spool_hdr **out)
{
    return x400t_mta_inbox_read(e, i, out, NULL);
}

long x400t_mta_inbox_read(struct env *e, int i, mta_spool_hdr **out, struct x400t_mta_body **body)
{
    mta_spool *sp;
    char **names = NULL, err[512], dir[700];
    long n, k = 0;
    *out = NULL;
    if (body) *body = NULL;
    snprintf(dir, sizeof dir, "%s/%s", e->dir, x400t_mta_side_name[i]);
    ck_assert_msg(mta_spool_open(&sp, dir, 0, NULL, err, sizeof err) == 0, "%s", err);
    n = mta_spool_list(sp, MTA_SPOOL_INBOX, &names, err, sizeof err);
    ck_assert_msg(n >= 0, "%s", err);
    *out = calloc((size_t)n + 1, sizeof **out);
    ck_assert_ptr_nonnull(*out);
    if (body) {
        *body = calloc((size_t)n + 1, sizeof **body);
        ck_assert_ptr_nonnull(*body);
    }
    for (long j = 0; j < n; j++) {
        uint8_t *p = NULL;
        size_t len = 0;
        if (mta_spool_read(sp, MTA_SPOOL_INBOX, names[j], &(*out)[k], body ? &p : NULL, body ? &len : NULL, err,
                           sizeof err) == 0) {
            if (body) (*body)[k] = (struct x400t_mta_body){ p, len };
            k++;
        }
    }
    mta_spool_names_free(names, n);
    mta_spool_close(sp);
    return k;
}

void x400t_mta_bodies_free(struct x400t_mta_body *body, long n)
{
    for (long j = 0; body && j < n; j++) free(body[j].p);
    free(body);
}

struct tally x400t_mta_inbox(struct env *e, int i, const char *prefix)
{
    mta_spool_hdr *h;
    long n = x400t_mta_inbox_entries(e, i, &h);
    struct tally t = { 0, 0, 0, 0 };
    for (long j = 0; j < n; j++) {
        int dup = 0;
        if (!strcmp(h[j].kind, "report")) {
            if (!strncmp(h[j].outcome, "delivered", 9)) t.dr++;
            else if (!strncmp(h[j].outcome, "non-delivered", 13)) t.ndr++;
            continue;
        }
        if (strncmp(h[j].content_id, prefix, strlen(prefix))) continue;
        t.total++;
        for (long k = 0; k < j && !dup; k++)
            dup = strcmp(h[k].kind, "report") && !strcmp(h[k].content_id, h[j].content_id);
        if (!dup) t.distinct++;
    }
    free(h);
    return t;
}

/* The statistics snapshot of side i (the spool's `stats` file, which `x400mta
 * stats` prints after a header line; queue_control_by_mtsid runs the
 * command itself): key=value lines.  NULL before the first snapshot. */
char *x400t_mta_stats_text(struct env *e, int i)
{
    char path[800], *t = NULL;
    size_t n = 0, cap = 0;
    FILE *f;
    snprintf(path, sizeof path, "%s/%s/stats", e->dir, x400t_mta_side_name[i]);
    f = fopen(path, "r");
    if (!f) return NULL;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? 2 * cap : 16384;
            t = realloc(t, cap);
            ck_assert_ptr_nonnull(t);
        }
        size_t r = fread(t + n, 1, cap - n - 1, f);
        if (r == 0) break;
        n += r;
    }
    fclose(f);
    t[n] = 0;
    return t;
}

/* Counter `key` of a snapshot (-1: absent). */
long x400t_mta_stat_in(const char *t, const char *key)
{
    size_t kl = strlen(key);
    for (const char *l = t; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
        if (!strncmp(l, key, kl) && l[kl] == '=') return atol(l + kl + 1);
    return -1;
}

long x400t_mta_stat_of(struct env *e, int i, const char *key)
{
    char *t = x400t_mta_stats_text(e, i);
    long v = t ? x400t_mta_stat_in(t, key) : -1;
    free(t);
    return v;
}

/* Three counters of side i from one snapshot (-1: absent). */
void x400t_mta_stats_of(struct env *e, int i, const char *k0, const char *k1, const char *k2, long v[3])
{
    char *t = x400t_mta_stats_text(e, i);
    v[0] = t ? x400t_mta_stat_in(t, k0) : -1;
    v[1] = t ? x400t_mta_stat_in(t, k1) : -1;
    v[2] = t ? x400t_mta_stat_in(t, k2) : -1;
    free(t);
}

/* The statistics snapshot lags by up to 250 ms: wait for a value. */
long x400t_mta_wait_stat(struct env *e, int i, const char *key, long want, double secs)
{
    double end = x400t_mta_now_s() + secs;
    long v = x400t_mta_stat_of(e, i, key);
    while (v != want && x400t_mta_now_s() < end) {
        usleep(20000);
        v = x400t_mta_stat_of(e, i, key);
    }
    return v;
}

/* Wait until side i's inbox has `want` distinct messages (and `dr` reports
 * at side 1-i, when dr >= 0). */
int x400t_mta_wait_for(struct env *e, int i, const char *prefix, int want, int dr, double secs)
{
    double end = x400t_mta_now_s() + secs;
    do {
        struct tally t = x400t_mta_inbox(e, i, prefix);
        if (t.distinct >= want && (dr < 0 || x400t_mta_inbox(e, 1 - i, "").dr >= dr)) return 1;
        usleep(50000);
    } while (x400t_mta_now_s() < end);
    return 0;
}

void x400t_mta_assert_exactly_once(struct env *e, int i, const char *prefix, int n)
{
    struct tally t = x400t_mta_inbox(e, i, prefix);
    ck_assert_msg(t.distinct == n && t.total == n, "%s: %d distinct, %d delivered, %d submitted",
                  x400t_mta_side_name[i], t.distinct, t.total, n);
}
