/* The two-MTA demo end to end: tools/mta_demo runs two x400mta
 * processes (the sanitized builds under <bindir>/examples/) through its
 * proxies, cuts the connections and kills one MTA, and must still see every
 * message delivered exactly once and every delivery report back.  A second
 * run records the proxied connections and hands the capture to tshark. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "x400t.h"

/* Run a shell command; its stdout+stderr (malloc'ed) and exit status. */
static char *run(const char *cmd, int *status)
{
    FILE *p = popen(cmd, "r");
    char *out = NULL;
    size_t len = 0, cap = 0, n;
    int st;
    if (!p) return NULL;
    do {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            out = realloc(out, cap);
            if (!out) abort();
        }
        n = fread(out + len, 1, cap - len - 1, p);
        len += n;
    } while (n > 0);
    out[len] = '\0';
    st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
}

/* The summary row "  <label>   <A->B>  <B->A>": both numbers, or -1. */
static int row(const char *out, const char *label, long v[2])
{
    char pat[96];
    const char *p;
    snprintf(pat, sizeof pat, "\n  %s ", label);
    p = strstr(out, pat);
    if (!p) return -1;
    return sscanf(p + strlen(pat), " %ld %ld", &v[0], &v[1]) == 2 ? 0 : -1;
}

static void expect_row(const char *out, const char *label, long a2b, long b2a)
{
    long v[2];
    ck_assert_msg(row(out, label, v) == 0, "no row '%s' in:\n%s", label, out);
    ck_assert_msg(v[0] == a2b && v[1] == b2a, "%s: %ld %ld, expected %ld %ld\n%s", label, v[0], v[1], a2b, b2a,
                  out);
}

static void demo_cmd(char *cmd, size_t cap, const char *args)
{
    const char *b = x400t_bindir();
    snprintf(cmd, cap, "'%s/tools/mta_demo' --bin '%s/examples' --quiet %s 2>&1", b, b, args);
}

/* The proxy ports the demo printed for tshark ("-d tcp.port==N,tpkt"). */
static int tshark_ports(const char *out, char *opts, size_t cap)
{
    unsigned pa, pb;
    const char *p = strstr(out, "tcp.port==");
    if (!p || sscanf(p, "tcp.port==%u,tpkt -d tcp.port==%u,tpkt", &pa, &pb) != 2) return -1;
    snprintf(opts, cap, "-d tcp.port==%u,tpkt -d tcp.port==%u,tpkt", pa, pb);
    return 0;
}

/* Display filters for what must not be in a capture.  Without faults:
 * nothing malformed, no expert error, no TPKT that is not COTP, no warning
 * but the resets of connections ended by a process exit. */
#define BAD_STRICT                                                                                        \
    "_ws.malformed || _ws.expert.severity >= 0x00800000 || (tpkt && !cotp) || "                           \
    "(_ws.expert.severity >= 0x00600000 && !tcp.flags.reset)"
/* With faults, RTSE resumes interrupted transfers from a checkpoint on a
 * new connection, and tshark's RTSE reassembly (which knows nothing of
 * recovery) misparses the resumed remainder: there the TCP layer and
 * everything below RTSE must still be clean. */
#define BAD_TCP                                                                                           \
    "tcp.analysis.flags || (tpkt && !cotp) || "                                                           \
    "(_ws.expert.severity >= 0x00600000 && !tcp.flags.reset && !rtse)"

static void tshark_clean(const char *pcap, const char *dopts, const char *bad)
{
    char cmd[2048], *o;
    int st;
    snprintf(cmd, sizeof cmd, "tshark -n -r '%s' %s -Y '%s' 2>/dev/null", pcap, dopts, bad);
    o = run(cmd, &st);
    ck_assert_ptr_nonnull(o);
    ck_assert_msg(st == 0, "tshark failed on %s", pcap);
    ck_assert_msg(o[0] == '\0', "tshark flagged %s:\n%.3000s", pcap, o);
    free(o);
}

/* Frames of the capture matching a display filter. */
static long tshark_count(const char *pcap, const char *dopts, const char *filter)
{
    char cmd[2048], *o;
    long n = 0;
    int st;
    snprintf(cmd, sizeof cmd, "tshark -n -r '%s' %s -Y '%s' -T fields -e frame.number 2>/dev/null", pcap, dopts,
             filter);
    o = run(cmd, &st);
    if (!o || st != 0) { free(o); return -1; }
    for (const char *p = o; *p; p++) n += *p == '\n';
    free(o);
    return n;
}

/* Frames matching each of n display filters (no commas in them), counted
 * in one tshark run (-z io,stat: one column of frames per filter) rather
 * than one run -- a tshark start, half a second of CPU -- per filter;
 * -1 each when tshark fails. */
static void tshark_counts(const char *pcap, const char *dopts, const char *const *filter, int n, long *count)
{
    char cmd[4096], *o, *row;
    size_t len;
    int st;
    len = (size_t)snprintf(cmd, sizeof cmd, "tshark -n -r '%s' %s -q -z 'io,stat,0", pcap, dopts);
    for (int i = 0; i < n; i++) {
        ck_assert_ptr_null(strchr(filter[i], ','));
        len += (size_t)snprintf(cmd + len, sizeof cmd - len, ",%s", filter[i]);
    }
    ck_assert_uint_lt(len + 16, sizeof cmd);
    snprintf(cmd + len, sizeof cmd - len, "' 2>/dev/null");
    for (int i = 0; i < n; i++) count[i] = -1;
    o = run(cmd, &st);
    /* the one interval's row: "|  0.0 <> 9.6 |  frames |  bytes | ..." */
    row = o && st == 0 ? strstr(o, " <> ") : NULL;
    if (row) {
        char *c = strchr(row, '|');
        for (int i = 0; i < n && c; i++) {
            count[i] = strtol(c + 1, NULL, 10);
            c = strchr(c + 1, '|'); /* past the frames, then the bytes column */
            if (c) c = strchr(c + 1, '|');
        }
    }
    free(o);
}

static void need_tshark(void)
{
    if (system("command -v tshark >/dev/null 2>&1") != 0) ck_abort_msg("tshark missing: make deps");
}

static void pcap_path(char *buf, size_t cap, const char *name)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/wire", x400t_bindir());
    mkdir(dir, 0755);
    snprintf(buf, cap, "%s/%s.pcap", dir, name);
}

/* 20 messages each way, 100 B .. 64 KiB, a cut and a kill of MTA-B: exactly
 * once, every report back; the capture across the faults stays clean. */
START_TEST(faults_exactly_once)
{
    char cmd[4096], args[1400], pcap[1200], dopts[128];
    char *out;
    int st;
    long v[2];
    need_tshark();
    pcap_path(pcap, sizeof pcap, "mtademo_faults");
    snprintf(args, sizeof args, "--messages 20 --min-size 100 --max-size 65536 --timeout 150 --pcap '%s'", pcap);
    demo_cmd(cmd, sizeof cmd, args);
    out = run(cmd, &st);
    ck_assert_ptr_nonnull(out);
    ck_assert_msg(st == 0, "mta_demo exit %d:\n%s", st, out);
    ck_assert_msg(strstr(out, "\nresult: OK") != NULL, "%s", out);
    expect_row(out, "submitted", 20, 20);
    expect_row(out, "delivered (distinct)", 20, 20);
    expect_row(out, "duplicates delivered", 0, 0);
    expect_row(out, "lost", 0, 0);
    expect_row(out, "delivery reports", 20, 20);
    expect_row(out, "duplicate reports", 0, 0);
    expect_row(out, "non-delivery reports", 0, 0);
    ck_assert_msg(row(out, "duplicates suppressed", v) == 0 && v[0] >= 0 && v[1] >= 0,
                  "receivers' duplicate counters missing:\n%s", out);
    /* both faults really happened */
    {
        const char *c = strstr(out, "\nfault: cut ");
        unsigned long nc = 0;
        ck_assert_msg(c && sscanf(c, "\nfault: cut %lu connections", &nc) == 1 && nc >= 1,
                      "no connection was cut:\n%s", out);
    }
    ck_assert_msg(strstr(out, "\nfault: SIGKILL MTA-B at ") != NULL, "MTA-B was not killed:\n%s", out);
    ck_assert_int_eq(tshark_ports(out, dopts, sizeof dopts), 0);
    tshark_clean(pcap, dopts, BAD_TCP);
    /* the cut shows as resets from the proxy */
    ck_assert_int_ge(tshark_count(pcap, dopts, "tcp.flags.reset == 1"), 1);
    free(out);
}
END_TEST

/* Without faults the capture holds the whole story, decoded by tshark:
 * the MTA binds in RTORQ/RTOAC, every message and every delivery report,
 * and the orderly release at shutdown. */
START_TEST(pcap_decodes)
{
    char cmd[4096], args[1400], pcap[1200], dopts[128], tcmd[2048];
    char *out, *ids;
    int st;
    long counts[6];
    const long n = 8;
    need_tshark();
    pcap_path(pcap, sizeof pcap, "mtademo_clean");
    snprintf(args, sizeof args,
             "--messages %ld --min-size 100 --max-size 40000 --no-cut --no-kill --timeout 120 --pcap '%s'", n, pcap);
    demo_cmd(cmd, sizeof cmd, args);
    out = run(cmd, &st);
    ck_assert_ptr_nonnull(out);
    ck_assert_msg(st == 0, "mta_demo exit %d:\n%s", st, out);
    expect_row(out, "delivered (distinct)", n, n);
    expect_row(out, "delivery reports", n, n);
    ck_assert_int_eq(tshark_ports(out, dopts, sizeof dopts), 0);
    tshark_clean(pcap, dopts, BAD_STRICT);
    /* the bind: MTABindArgument in the RTORQ, MTABindResult in the RTOAC
     * (two-way alternate: one association may carry both directions); the
     * reports, the orderly release when the MTAs stop */
    {
        static const char *const f[] = { "p1.MTABindArgument && rtse.rtorq_apdu_element",
                                         "p1.MTABindResult && rtse.rtoac_apdu_element",
                                         "p1.MTABindError || acse.abort_source || rtse.rtab_apdu_element",
                                         "p1.report_element", "acse.rlrq_element", "acse.rlre_element" };
        tshark_counts(pcap, dopts, f, 6, counts);
    }
    ck_assert_int_ge(counts[0], 1);
    ck_assert_int_eq(counts[0], counts[1]);
    ck_assert_int_eq(counts[2], 0);
    ck_assert_int_eq(counts[3], 2 * n);
    ck_assert_int_ge(counts[4], 1);
    ck_assert_int_ge(counts[5], 1);
    /* every message, by its content identifier, exactly once */
    snprintf(tcmd, sizeof tcmd,
             "tshark -n -r '%s' %s -Y p1.message_element -T fields -e p1.content_identifier 2>/dev/null | sort",
             pcap, dopts);
    ids = run(tcmd, &st);
    ck_assert_ptr_nonnull(ids);
    {
        long seen = 0;
        char want[32];
        for (const char *p = ids; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p)) seen++;
        ck_assert_msg(seen == 2 * n, "tshark decoded %ld messages, expected %ld:\n%s", seen, 2 * n, ids);
        /* with fewer messages than size classes, each class is one message, content-id <dir>-<class> */
        for (long i = 0; i < n; i++) {
            snprintf(want, sizeof want, "a2b-%ld\n", i);
            ck_assert_msg(strstr(ids, want) != NULL, "%s missing from the capture:\n%s", want, ids);
            snprintf(want, sizeof want, "b2a-%ld\n", i);
            ck_assert_msg(strstr(ids, want) != NULL, "%s missing from the capture:\n%s", want, ids);
        }
    }
    free(ids);
    free(out);
}
END_TEST

/* Bad options are refused before anything starts. */
START_TEST(bad_options)
{
    char cmd[4096];
    char *out;
    int st;
    demo_cmd(cmd, sizeof cmd, "--messages 0");
    out = run(cmd, &st);
    ck_assert_int_eq(st, 2);
    ck_assert_msg(strstr(out, "--messages") != NULL, "%s", out);
    free(out);
    demo_cmd(cmd, sizeof cmd, "--min-size 500 --max-size 100");
    out = run(cmd, &st);
    ck_assert_int_eq(st, 2);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s/tools/mta_demo' --bin /nonexistent --quiet 2>&1", x400t_bindir());
    out = run(cmd, &st);
    ck_assert_int_eq(st, 1);
    ck_assert_msg(strstr(out, "/nonexistent/x400mta") != NULL, "%s", out);
    free(out);
}
END_TEST

Suite *x400t_suite_mtademo(void)
{
    Suite *s = suite_create("mtademo");
    TCase *tc = tcase_create("demo");
    tcase_add_test(tc, bad_options);
    tcase_add_test(tc, pcap_decodes);
    tcase_set_timeout(tc, X400T_TSAN ? 600 : 300);
    suite_add_tcase(s, tc);
    /* the demo with its cut and crash (also `make demo`): make check-long */
    tc = tcase_create("demo_long");
    tcase_set_tags(tc, X400T_LONG_TAG);
    tcase_add_test(tc, faults_exactly_once);
    tcase_set_timeout(tc, X400T_TSAN ? 600 : 300);
    suite_add_tcase(s, tc);
    return s;
}
