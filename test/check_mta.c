/* The example MTA (examples/x400mta, built with the check sanitizers) as a
 * user runs it: two processes on loopback, one peer configured by host name
 * ("localhost"), the other by IP; each failure case an operator meets: wrong
 * password, unknown peer, peer down beyond the retry budget (non-delivery
 * reports to the originator), simultaneous opens, SIGKILL of either side
 * and restart of both, with exactly-once delivery checked from the
 * inboxes. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "x400t.h"

struct env {
    char dir[512];
    char bin[1024];
    unsigned port[2];
    pid_t pid[2];
    int monologue;
};

static const char *side_name[2] = { "a", "b" };

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static unsigned free_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    unsigned p = 0;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        p = ntohs(sa.sin_port);
    if (fd >= 0) close(fd);
    return p;
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
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
static void write_conf(struct env *e, int i, const char *peer_extra, int known, const char *their_pw)
{
    char path[700];
    FILE *f;
    int a = i == 0;
    snprintf(path, sizeof path, "%s/%s.conf", e->dir, side_name[i]);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f,
            "[mta]\nname = %s\npassword = %s\ngdi = C=XX;A=ADMD;P=%s\nnode = %s1\n"
            "listen = 127.0.0.1:%u\nspool = %s/%s\nlog = %s/%s.log\n"
            "log-level = service=info,interface=info\n",
            a ? "MTA-A" : "MTA-B", a ? "pa" : "pb", a ? "ALPHA" : "BRAVO", side_name[i], e->port[i], e->dir,
            side_name[i], e->dir, side_name[i]);
    if (known)
        fprintf(f,
                "[peer %s]\ntheir-password = %s\naddress = %s\nport = %u\nroute = C=XX;A=ADMD;P=%s\n"
                "open-interval = 1\nrecovery-timeout = 5\n%s",
                a ? "MTA-B" : "MTA-A", their_pw ? their_pw : a ? "pb" : "pa", a ? "localhost" : "127.0.0.1",
                e->port[1 - i], a ? "BRAVO" : "ALPHA", peer_extra ? peer_extra : "");
    fclose(f);
}

static void env_init(struct env *e)
{
    const char *tmp = getenv("TMPDIR");
    memset(e, 0, sizeof *e);
    snprintf(e->bin, sizeof e->bin, "%s/examples/x400mta", x400t_bindir());
    ck_assert_msg(access(e->bin, X_OK) == 0, "%s not built", e->bin);
    snprintf(e->dir, sizeof e->dir, "%s/x400mta.XXXXXX", tmp ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(e->dir));
    e->port[0] = free_port();
    e->port[1] = free_port();
    for (int i = 0; i < 2; i++) write_conf(e, i, NULL, 1, NULL);
}

static void start(struct env *e, int i)
{
    char conf[700];
    snprintf(conf, sizeof conf, "%s/%s.conf", e->dir, side_name[i]);
    e->pid[i] = fork();
    ck_assert_int_ge(e->pid[i], 0);
    if (e->pid[i] == 0) {
        execl(e->bin, e->bin, "run", "-c", conf, (char *)NULL);
        _exit(127);
    }
}

static int stop(struct env *e, int i, int sig)
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

static void env_free(struct env *e, int ok)
{
    for (int i = 0; i < 2; i++) stop(e, i, SIGTERM);
    if (ok) run("rm -rf '%s'", e->dir);
    else fprintf(stderr, "check_mta: kept %s for inspection\n", e->dir);
}

static void submit(struct env *e, int from, const char *cid, int count, int size, int report)
{
    ck_assert_int_eq(run("'%s' submit -c '%s/%s.conf' --from 'C=XX;A=ADMD;P=%s;S=Orig' "
                         "--to 'C=XX;A=ADMD;P=%s;S=Rcpt' --content-id %s --size %d --count %d %s >/dev/null",
                         e->bin, e->dir, side_name[from], from ? "BRAVO" : "ALPHA", from ? "ALPHA" : "BRAVO",
                         cid, size, count, report ? "" : "--no-report"),
                     0);
}

/* Inbox tally of side i: messages whose content-id starts with `prefix`
 * (distinct and total), and reports (delivered / non-delivered). */
struct tally {
    int distinct, total, dr, ndr;
};

static struct tally inbox(struct env *e, int i, const char *prefix)
{
    char cmd[4096], line[2048];
    static char seen[4096][20];
    int nseen = 0;
    struct tally t = { 0, 0, 0, 0 };
    FILE *p;
    snprintf(cmd, sizeof cmd, "'%s' inbox -c '%s/%s.conf' --tsv 2>/dev/null", e->bin, e->dir, side_name[i]);
    p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    while (fgets(line, sizeof line, p)) {
        char *f[8] = { 0 };
        int n = 0;
        for (char *s = line; n < 8 && s; n++) {
            f[n] = s;
            s = strchr(s, '\t');
            if (s) *s++ = 0;
        }
        if (n < 7) continue;
        if (!strcmp(f[0], "report")) {
            if (!strncmp(f[6], "delivered", 9)) t.dr++;
            else if (!strncmp(f[6], "non-delivered", 13)) t.ndr++;
            continue;
        }
        if (strncmp(f[2], prefix, strlen(prefix))) continue;
        t.total++;
        int dup = 0;
        for (int k = 0; k < nseen; k++)
            if (!strcmp(seen[k], f[2])) dup = 1;
        if (!dup && nseen < 4096) snprintf(seen[nseen++], sizeof seen[0], "%s", f[2]);
        if (!dup) t.distinct++;
    }
    pclose(p);
    return t;
}

static long stat_of(struct env *e, int i, const char *key)
{
    char cmd[4096], line[256];
    FILE *p;
    long v = -1;
    size_t kl = strlen(key);
    snprintf(cmd, sizeof cmd, "'%s' stats -c '%s/%s.conf' 2>/dev/null", e->bin, e->dir, side_name[i]);
    p = popen(cmd, "r");
    if (!p) return -1;
    while (fgets(line, sizeof line, p))
        if (!strncmp(line, key, kl) && line[kl] == '=') v = atol(line + kl + 1);
    pclose(p);
    return v;
}

/* The statistics snapshot lags by up to 250 ms: wait for a value. */
static long wait_stat(struct env *e, int i, const char *key, long want, double secs)
{
    double end = now_s() + secs;
    long v;
    while ((v = stat_of(e, i, key)) != want && now_s() < end) usleep(50000);
    return v;
}

/* Wait until side i's inbox has `want` distinct messages (and `dr` reports
 * at side 1-i, when dr >= 0). */
static int wait_for(struct env *e, int i, const char *prefix, int want, int dr, double secs)
{
    double end = now_s() + secs;
    while (now_s() < end) {
        struct tally t = inbox(e, i, prefix);
        if (t.distinct >= want && (dr < 0 || inbox(e, 1 - i, "").dr >= dr)) return 1;
        usleep(100000);
    }
    return 0;
}

static void assert_exactly_once(struct env *e, int i, const char *prefix, int n)
{
    struct tally t = inbox(e, i, prefix);
    ck_assert_msg(t.distinct == n && t.total == n, "%s: %d distinct, %d delivered, %d submitted",
                  side_name[i], t.distinct, t.total, n);
}

/* Both directions, peer by name and by IP, delivery reports back. */
START_TEST(exchange_both_ways_with_reports)
{
    struct env e;
    env_init(&e);
    submit(&e, 0, "ab", 30, 2000, 1);
    submit(&e, 1, "ba", 30, 70000, 1);
    start(&e, 0);
    start(&e, 1);
    ck_assert(wait_for(&e, 1, "ab", 30, 30, 60));
    ck_assert(wait_for(&e, 0, "ba", 30, 30, 60));
    assert_exactly_once(&e, 1, "ab", 30);
    assert_exactly_once(&e, 0, "ba", 30);
    ck_assert_int_eq(stop(&e, 0, SIGTERM), 0);   /* a clean shutdown exits 0 */
    ck_assert_int_eq(stop(&e, 1, SIGTERM), 0);
    env_free(&e, 1);
}
END_TEST

/* Both MTAs start with full queues at once: both open towards each other;
 * nothing deadlocks, nothing is delivered twice. */
static void simultaneous(int monologue)
{
    struct env e;
    env_init(&e);
    e.monologue = monologue;
    if (monologue)
        for (int i = 0; i < 2; i++) write_conf(&e, i, "dialogue = monologue\n", 1, NULL);
    submit(&e, 0, "sa", 20, 500, 0);
    submit(&e, 1, "sb", 20, 500, 0);
    start(&e, 0);
    start(&e, 1);
    ck_assert(wait_for(&e, 1, "sa", 20, -1, 60));
    ck_assert(wait_for(&e, 0, "sb", 20, -1, 60));
    assert_exactly_once(&e, 1, "sa", 20);
    assert_exactly_once(&e, 0, "sb", 20);
    {   /* both opened towards the other (the statistics lag by up to 250 ms) */
        double end = now_s() + 5;
        while (now_s() < end && (stat_of(&e, 0, "assoc_opened") < 1 || stat_of(&e, 1, "assoc_opened") < 1))
            usleep(50000);
    }
    if (e.monologue) {   /* each side transfers on its own association only */
        ck_assert_int_ge(stat_of(&e, 0, "assoc_opened"), 1);
        ck_assert_int_ge(stat_of(&e, 1, "assoc_opened"), 1);
    } else {             /* one or two associations, both used both ways */
        ck_assert_int_ge(stat_of(&e, 0, "assoc_opened") + stat_of(&e, 1, "assoc_opened"), 1);
    }
    ck_assert_int_eq(stat_of(&e, 0, "aborts") + stat_of(&e, 1, "aborts"), 0);
    env_free(&e, 1);
}

START_TEST(simultaneous_opens) { simultaneous(0); }
END_TEST
START_TEST(monologue_each_side_opens_its_own) { simultaneous(1); }
END_TEST

static void refused_case(int unknown)
{
    struct env e;
    env_init(&e);
    if (unknown) write_conf(&e, 1, NULL, 0, NULL);      /* B knows no MTA-A */
    else write_conf(&e, 1, NULL, 1, "not-pa");           /* B expects another password */
    submit(&e, 0, "w", 5, 300, 0);
    start(&e, 1);
    start(&e, 0);
    {
        double end = now_s() + 30;
        while (now_s() < end && stat_of(&e, 0, "bind_refused") < 2) usleep(100000);
    }
    ck_assert_int_ge(stat_of(&e, 0, "bind_refused"), 2);   /* refused, retried, refused */
    ck_assert_int_eq(inbox(&e, 1, "w").total, 0);
    ck_assert_int_eq(wait_stat(&e, 0, "queue_len", 5, 5), 5);  /* nothing lost */
    ck_assert_int_eq(run("grep -q 'authentication' '%s/a.log'", e.dir), 0);
    /* the operator fixes B's configuration: everything goes */
    stop(&e, 1, SIGTERM);
    write_conf(&e, 1, NULL, 1, NULL);
    start(&e, 1);
    ck_assert(wait_for(&e, 1, "w", 5, -1, 30));
    assert_exactly_once(&e, 1, "w", 5);
    env_free(&e, 1);
}

START_TEST(wrong_password_refused_then_fixed) { refused_case(0); }
END_TEST
START_TEST(unknown_peer_refused_then_fixed) { refused_case(1); }
END_TEST

/* B never comes up: after max-open-retries the originator gets a
 * non-delivery report for each message and the queue is empty. */
START_TEST(peer_down_beyond_retry_budget_ndr)
{
    struct env e;
    env_init(&e);
    write_conf(&e, 0, "max-open-retries = 2\n", 1, NULL);
    submit(&e, 0, "nd", 4, 300, 1);
    start(&e, 0);
    {
        double end = now_s() + 30;
        while (now_s() < end && inbox(&e, 0, "").ndr < 4) usleep(100000);
    }
    ck_assert_int_eq(inbox(&e, 0, "").ndr, 4);
    ck_assert_int_eq(wait_stat(&e, 0, "ndr_generated", 4, 5), 4);
    ck_assert_int_eq(wait_stat(&e, 0, "queue_len", 0, 5), 0);
    ck_assert_int_eq(run("grep -q 'unreachable after' '%s/a.log'", e.dir), 0);
    env_free(&e, 1);
}
END_TEST

/* SIGKILL of the receiver, of the sender, then of both, mid-transfer; each
 * restarted: every message arrives exactly once (duplicates recognised by
 * the persisted MTSIDs), every report comes back. */
START_TEST(sigkill_either_side_and_both)
{
    struct env e;
    int n = 40;
    env_init(&e);
    submit(&e, 0, "k", n, 200000, 1);
    start(&e, 0);
    start(&e, 1);
    for (int round = 0; round < 3; round++) {
        double end = now_s() + 30;
        int want = (round + 1) * n / 4;
        while (now_s() < end && inbox(&e, 1, "k").distinct < want) usleep(20000);
        if (round == 0 || round == 2) {
            stop(&e, 1, SIGKILL);
            start(&e, 1);
        }
        if (round == 1 || round == 2) {
            stop(&e, 0, SIGKILL);
            start(&e, 0);
        }
    }
    ck_assert(wait_for(&e, 1, "k", n, n, 90));
    assert_exactly_once(&e, 1, "k", n);
    ck_assert_int_eq(inbox(&e, 0, "").dr, n);
    env_free(&e, 1);
}
END_TEST

/* The tools: queue shows what waits, inbox --show prints a message. */
START_TEST(tools_queue_and_inbox)
{
    struct env e;
    char out[1400];
    env_init(&e);
    submit(&e, 0, "q", 3, 100, 1);
    start(&e, 0);   /* B down: the messages wait */
    {
        double end = now_s() + 20;
        while (now_s() < end && stat_of(&e, 0, "queue_len") < 3) usleep(100000);
    }
    snprintf(out, sizeof out, "%s/q.txt", e.dir);
    ck_assert_int_eq(run("'%s' queue -c '%s/a.conf' > '%s'", e.bin, e.dir, out), 0);
    ck_assert_int_eq(run("grep -c 'MTA-B' '%s' | grep -qx 3", out), 0);
    ck_assert_int_eq(run("grep -q '3 APDUs queued' '%s'", out), 0);
    start(&e, 1);
    ck_assert(wait_for(&e, 1, "q", 3, 3, 30));
    ck_assert_int_eq(run("n=$(ls '%s/b/inbox' | head -1); '%s' inbox -c '%s/b.conf' --show \"$n\" | "
                         "grep -q 'originator: C=XX;A=ADMD;P=ALPHA;S=Orig'", e.dir, e.bin, e.dir), 0);
    ck_assert_int_ne(run("'%s' submit -c '%s/a.conf' --from 'not an address' --to 'C=XX' 2>/dev/null",
                         e.bin, e.dir), 0);
    env_free(&e, 1);
}
END_TEST

Suite *x400t_suite_mta(void)
{
    Suite *s = suite_create("mta");
    TCase *tc = tcase_create("mta");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, exchange_both_ways_with_reports);
    tcase_add_test(tc, simultaneous_opens);
    tcase_add_test(tc, monologue_each_side_opens_its_own);
    tcase_add_test(tc, wrong_password_refused_then_fixed);
    tcase_add_test(tc, unknown_peer_refused_then_fixed);
    tcase_add_test(tc, peer_down_beyond_retry_budget_ndr);
    tcase_add_test(tc, tools_queue_and_inbox);
    suite_add_tcase(s, tc);
    /* long fault runs: make check-long */
    tc = tcase_create("mta_long");
    tcase_set_tags(tc, X400T_LONG_TAG);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, sigkill_either_side_and_both);
    suite_add_tcase(s, tc);
    return s;
}
