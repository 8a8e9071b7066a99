/* Four example MTAs (examples/x400mta, built with the check sanitizers)
 * relaying for each other, A -> B -> C -> D, each in its own domain (PRMD
 * ALPHA, BRAVO, CHARLIE, DELTA) and process (test/support_mta.c):
 * messages submitted at A reach D once each, carrying the internal trace
 * element of each relaying MTA in order (X.411 12.2.1.1.1.7
 * InternalTraceInformation), and their delivery reports come back to A the
 * same way; a message split at B between two next hops carries B's
 * element once in each copy; a route back to the MTA a message came from
 * and a routing loop through three MTAs end in a non-delivery report to
 * the originator instead of circulating (x400_p1_loop_check, X.411
 * 14.3.1.1).  Then the same four in two domains, A and B in PRMD ALPHA, C
 * and D in CHARLIE, each peer's `domain` set: the domain trace has one
 * element per domain passed, the internal trace only the MTAs of the
 * domain it is in, and a message that leaves its domain and comes back is
 * non-delivered there (X.411 12.2.1.1.1.3, .4). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mta_env.h"
#include "x400t.h"
#include "x400p1/p1.h"

enum { A, B, C, D };

static const char *const mta_name[4] = { "MTA-A", "MTA-B", "MTA-C", "MTA-D" };
static const char *const prmd[4] = { "ALPHA", "BRAVO", "CHARLIE", "DELTA" };
static const char *const pw[4] = { "pa", "pb", "pc", "pd" };

/* Recipients (all under C=XX;A=ADMD) and the routes that carry them:
 *   P=DELTA           A -> B -> C -> D (local)
 *   P=DELTA;O=Direct  A -> B -> D: B's route to D is listed first
 *   P=CHARLIE         A -> B -> C (local)
 *   P=ALPHA           D -> C -> B -> A, C -> B -> A, B -> A: the reports
 *   P=BACK            A -> B -> C, whose route for it leads back to B
 *   P=RING            A -> B -> C -> D -> B: a loop of three MTAs */
#define OR(p) "C=XX;A=ADMD;P=" p
static const char *const routes[4][4] = {
    /* A */ { NULL, "route = C=XX;A=ADMD\n", NULL, NULL },
    /* B */ { "route = " OR("ALPHA") "\n", NULL,
              "route = " OR("DELTA") "\nroute = " OR("CHARLIE") "\nroute = " OR("BACK") "\nroute = " OR("RING") "\n",
              "route = " OR("DELTA") ";O=Direct\n" },
    /* C */ { NULL, "route = " OR("ALPHA") "\nroute = " OR("BACK") "\n", NULL,
              "route = " OR("DELTA") "\nroute = " OR("RING") "\n" },
    /* D */ { NULL, "route = " OR("RING") "\n", "route = " OR("ALPHA") "\n", NULL },
};
/* the order of side i's [peer] sections (first match wins: B's route to
 * D for O=Direct comes before its route to C for all of P=DELTA) */
static const int peer_order[4][3] = { { B, -1, -1 }, { A, D, C }, { B, D, -1 }, { C, B, -1 } };

/* A topology: each side's PRMD, routes to each peer, order of its [peer]
 * sections, and whether each peer's `domain` is written. */
struct topo {
    const char *const *prmd;
    const char *const (*routes)[4];
    const int (*peer_order)[3];
    int domains;
};
static const struct topo chain4 = { prmd, routes, peer_order, 0 };

static void write_relay_conf(struct env *e, const struct topo *t, int i)
{
    FILE *f = x400t_mta_conf_open(e, i, mta_name[i], pw[i], t->prmd[i]);
    for (int k = 0; k < 3 && t->peer_order[i][k] >= 0; k++) {
        int j = t->peer_order[i][k];
        fprintf(f,
                "[peer %s]\ntheir-password = %s\naddress = 127.0.0.1\nport = %u\n"
                "open-interval = 1\nrecovery-timeout = 5\n%s",
                mta_name[j], pw[j], e->port[j], t->routes[i][j]);
        if (t->domains) fprintf(f, "domain = " OR("%s") "\n", t->prmd[j]);
    }
    fclose(f);
}

/* Side i has logged that it started (listening): its log holds the
 * notice "MTA <name> started". */
static int started(struct env *e, int i)
{
    char path[700], line[1024], want[64];
    int found = 0;
    FILE *f;
    snprintf(path, sizeof path, "%s/%s.log", e->dir, x400t_mta_side_name[i]);
    snprintf(want, sizeof want, "MTA %s started", mta_name[i]);
    if (!(f = fopen(path, "r"))) return 0;
    while (!found && fgets(line, sizeof line, f)) found = strstr(line, want) != NULL;
    fclose(f);
    return found;
}

/* The four MTAs configured and started, the farthest first, each
 * listening before the next starts (so that no first open waits for the
 * open interval). */
static void topo_env(struct env *e, const struct topo *t, const char *const *mta_extra)
{
    x400t_mta_env_dir(e, 4);
    for (int i = 0; i < 4; i++) {
        e->mta_extra[i] = mta_extra ? mta_extra[i] : NULL;
        write_relay_conf(e, t, i);
    }
    for (int i = D; i >= A; i--) {
        double end = x400t_mta_now_s() + 10;
        x400t_mta_start(e, i);
        while (!started(e, i) && x400t_mta_now_s() < end) usleep(10000);
        ck_assert_msg(started(e, i), "%s did not start", mta_name[i]);
    }
}

static void relay_env(struct env *e) { topo_env(e, &chain4, NULL); }

/* Queue `count` messages at A from Orig to the recipients `to` (one
 * --to ... per recipient), with report requests. */
static void submit_at_a(struct env *e, const char *to, const char *cid, int count)
{
    ck_assert_int_eq(x400t_mta_run("'%s' submit -c '%s/a.conf' --from '" OR("ALPHA") ";S=Orig' %s "
                                   "--content-id %s --size 500 --count %d >/dev/null",
                                   e->bin, e->dir, to, cid, count),
                     0);
}

/* Reports at side i about messages whose content id starts with prefix,
 * whose outcome starts with `outcome`. */
static int reports(struct env *e, int i, const char *prefix, const char *outcome)
{
    mta_spool_hdr *h;
    long n = x400t_mta_inbox_entries(e, i, &h);
    int k = 0;
    for (long j = 0; j < n; j++)
        k += !strcmp(h[j].kind, "report") && !strncmp(h[j].subject_content_id, prefix, strlen(prefix)) &&
             !strncmp(h[j].outcome, outcome, strlen(outcome));
    free(h);
    return k;
}

static int wait_reports(struct env *e, int i, const char *prefix, const char *outcome, int want, double secs)
{
    double end = x400t_mta_now_s() + secs;
    while (reports(e, i, prefix, outcome) < want && x400t_mta_now_s() < end) usleep(50000);
    return reports(e, i, prefix, outcome);
}

static int wait_inbox(struct env *e, int i, const char *prefix, int want, double secs)
{
    double end = x400t_mta_now_s() + secs;
    while (x400t_mta_inbox(e, i, prefix).distinct < want && x400t_mta_now_s() < end) usleep(50000);
    return x400t_mta_inbox(e, i, prefix).distinct;
}

/* Every entry of side i's inbox of `kind` whose (subject) content id starts
 * with prefix has exactly the internal trace `want` (sides, in order, each
 * "relayed" by that MTA of its domain, in topology t) and a domain trace
 * of the domains of the sides `dom` in order (exact: those and no more;
 * else it starts with them), each element "relayed".  Returns how many
 * entries were checked. */
static int check_traces(struct env *e, const struct topo *t, int i, const char *kind, const char *prefix,
                        const int *dom, unsigned ndom, int exact, const int *want, unsigned nwant)
{
    mta_spool_hdr *h;
    struct x400t_mta_body *body;
    long n = x400t_mta_inbox_read(e, i, &h, &body);
    int checked = 0;
    for (long j = 0; j < n; j++) {
        const char *cid = strcmp(kind, "report") ? h[j].content_id : h[j].subject_content_id;
        x400_p1_apdu a;
        x400_diag d;
        if (strcmp(h[j].kind, kind) || strncmp(cid, prefix, strlen(prefix))) continue;
        ck_assert_msg(x400_p1_decode(body[j].p, body[j].len, NULL, NULL, &a, &d) == X400_OK,
                      "%s: %s %s does not decode: %s", x400t_mta_side_name[i], kind, cid, d.text);
        int rep = a.kind == X400_P1_REPORT;
        const x400_p1_itrace *it = rep ? a.report.itrace : a.env.itrace;
        unsigned nit = rep ? a.report.n_itrace : a.env.n_itrace;
        const x400_p1_trace *tr = rep ? a.report.trace : a.env.trace;
        unsigned ntr = rep ? a.report.n_trace : a.env.n_trace;
        char seen[256] = "", seen_dom[256] = "";
        for (unsigned k = 0; k < nit; k++)
            snprintf(seen + strlen(seen), sizeof seen - strlen(seen), " %s/%s(%d)", it[k].mta, it[k].gdi.prmd,
                     it[k].routing_action);
        for (unsigned k = 0; k < ntr; k++)
            snprintf(seen_dom + strlen(seen_dom), sizeof seen_dom - strlen(seen_dom), " %s(%d)", tr[k].gdi.prmd,
                     tr[k].routing_action);
        ck_assert_msg(nit == nwant, "%s: %s %s: internal trace%s, want %u elements", x400t_mta_side_name[i], kind,
                      cid, seen, nwant);
        for (unsigned k = 0; k < nit; k++) {
            ck_assert_msg(!strcmp(it[k].mta, mta_name[want[k]]) && !strcmp(it[k].gdi.prmd, t->prmd[want[k]]) &&
                              it[k].routing_action == X400_ROUTE_RELAYED,
                          "%s: %s %s: internal trace%s, element %u should be %s relayed", x400t_mta_side_name[i],
                          kind, cid, seen, k, mta_name[want[k]]);
            if (k) ck_assert_int_ge(it[k].arrival, it[k - 1].arrival);
        }
        ck_assert_msg(exact ? ntr == ndom : ntr >= ndom, "%s: %s %s: domain trace%s, want %s%u elements",
                      x400t_mta_side_name[i], kind, cid, seen_dom, exact ? "" : "at least ", ndom);
        for (unsigned k = 0; k < ndom; k++) {
            ck_assert_msg(!strcmp(tr[k].gdi.prmd, t->prmd[dom[k]]) && tr[k].routing_action == X400_ROUTE_RELAYED,
                          "%s: %s %s: domain trace%s, element %u should be %s relayed", x400t_mta_side_name[i],
                          kind, cid, seen_dom, k, t->prmd[dom[k]]);
            if (k) ck_assert_int_ge(tr[k].arrival, tr[k - 1].arrival);
        }
        x400_p1_apdu_free(&a);
        checked++;
    }
    x400t_mta_bodies_free(body, n);
    free(h);
    return checked;
}

/* The chain of four domains: the internal trace `want` and a domain trace
 * that starts at the domain of side `origin` (where it was made). */
static int assert_itrace(struct env *e, int i, const char *kind, const char *prefix, int origin, const int *want,
                         unsigned nwant)
{
    return check_traces(e, &chain4, i, kind, prefix, &origin, 1, 0, want, nwant);
}

/* Messages A -> B -> C -> D and their delivery reports back to A; a
 * message split at B between C (its CHARLIE recipient) and D (the
 * O=Direct one) carries B's element once in each copy (commit 83ac1dc:
 * the second copy had it twice). */
START_TEST(chain_delivers_once_with_trace_in_order)
{
    struct env e;
    static const int via_bc[] = { B, C }, via_b[] = { B };
    relay_env(&e);
    submit_at_a(&e, "--to '" OR("DELTA") ";S=Rcpt'", "rel", 5);
    submit_at_a(&e, "--to '" OR("CHARLIE") ";S=Rcpt' --to '" OR("DELTA") ";O=Direct;S=Rcpt'", "spl", 1);
    ck_assert_int_eq(wait_inbox(&e, D, "rel", 5, 20), 5);
    ck_assert_int_eq(wait_inbox(&e, C, "spl", 1, 20), 1);
    ck_assert_int_eq(wait_inbox(&e, D, "spl", 1, 20), 1);
    ck_assert_int_eq(wait_reports(&e, A, "rel", "delivered", 5, 20), 5);
    ck_assert_int_eq(wait_reports(&e, A, "spl", "delivered", 2, 20), 2);
    /* once each, nowhere else */
    x400t_mta_assert_exactly_once(&e, D, "rel", 5);
    x400t_mta_assert_exactly_once(&e, C, "spl", 1);
    x400t_mta_assert_exactly_once(&e, D, "spl", 1);
    ck_assert_int_eq(x400t_mta_inbox(&e, B, "").total + x400t_mta_inbox(&e, C, "rel").total, 0);
    ck_assert_int_eq(reports(&e, A, "", "non-delivered"), 0);
    /* the trace: B then C relayed each message, each copy of the split
     * message has B once; the domain trace starts at A's domain */
    ck_assert_int_eq(assert_itrace(&e, D, "message", "rel", A, via_bc, 2), 5);
    ck_assert_int_eq(assert_itrace(&e, C, "message", "spl", A, via_b, 1), 1);
    ck_assert_int_eq(assert_itrace(&e, D, "message", "spl", A, via_b, 1), 1);
    /* relayed messages: B 5 + the 2 copies, C 5 */
    ck_assert_int_eq(x400t_mta_wait_stat(&e, B, "relayed", 7, 5), 7);
    ck_assert_int_eq(x400t_mta_wait_stat(&e, C, "relayed", 5, 5), 5);
    for (int i = A; i <= D; i++) ck_assert_int_eq(x400t_mta_wait_stat(&e, i, "queue_len", 0, 5), 0);
    for (int i = A; i <= D; i++) ck_assert_int_eq(x400t_mta_stop(&e, i, SIGTERM), 0);
    x400t_mta_env_free(&e, 1);
}
END_TEST

/* A report D made, relayed by C and B, reaches A with C's then B's
 * internal trace element (each relaying MTA appends its own, as for a
 * message), its domain trace starting at D's domain.  It failed while
 * x400mta relayed reports as they arrived. */
START_TEST(relayed_reports_carry_internal_trace)
{
    struct env e;
    static const int via_cb[] = { C, B };
    relay_env(&e);
    submit_at_a(&e, "--to '" OR("DELTA") ";S=Rcpt'", "rpt", 2);
    ck_assert_int_eq(wait_reports(&e, A, "rpt", "delivered", 2, 20), 2);
    ck_assert_int_eq(assert_itrace(&e, A, "report", "rpt", D, via_cb, 2), 2);
    x400t_mta_env_free(&e, 1);
}
END_TEST

/* C's route for P=BACK leads back to B, where the message came from: C
 * does not send it back but non-delivers it (unable-to-transfer,
 * unrecognised O/R name), one report per message at A, nothing delivered
 * or relayed again. */
START_TEST(route_back_non_delivered)
{
    struct env e;
    char out[64];
    relay_env(&e);
    submit_at_a(&e, "--to '" OR("BACK") ";S=Rcpt'", "back", 2);
    snprintf(out, sizeof out, "non-delivered %d/%d", X400_NDR_UNABLE_TO_TRANSFER, X400_NDD_UNRECOGNISED_ORNAME);
    ck_assert_int_eq(wait_reports(&e, A, "back", out, 2, 20), 2);
    for (int i = A; i <= D; i++) ck_assert_int_eq(x400t_mta_wait_stat(&e, i, "queue_len", 0, 5), 0);
    ck_assert_int_eq(x400t_mta_wait_stat(&e, C, "ndr_generated", 2, 5), 2);
    ck_assert_int_eq(x400t_mta_wait_stat(&e, B, "relayed", 2, 5), 2);
    ck_assert_int_eq(x400t_mta_wait_stat(&e, C, "relayed", 0, 5), 0);
    for (int i = A; i <= D; i++) ck_assert_int_eq(x400t_mta_inbox(&e, i, "back").total, 0);
    ck_assert_int_eq(x400t_mta_run("grep -q 'no route to C=XX;A=ADMD;P=BACK' '%s/c.log'", e.dir), 0);
    x400t_mta_env_free(&e, 1);
}
END_TEST

/* The routes for P=RING go round B -> C -> D -> B.  The message comes
 * back to B once and goes no further: nothing is delivered, each MTA
 * relayed it once, and B tells the originator (unable-to-transfer, loop
 * detected).  B's P1 link takes the returning copy for a duplicate (its
 * MTSID is in B's received set); x400mta finds its own internal trace
 * element in it and non-delivers it.  It failed while x400mta dropped
 * every duplicate in silence: the message was lost without a report. */
START_TEST(ring_loop_non_delivered)
{
    struct env e;
    char out[64];
    relay_env(&e);
    submit_at_a(&e, "--to '" OR("RING") ";S=Rcpt'", "ring", 2);
    /* it went round once: D relayed both (to B) */
    ck_assert_int_eq(x400t_mta_wait_stat(&e, D, "relayed", 2, 20), 2);
    for (int i = A; i <= D; i++) ck_assert_int_eq(x400t_mta_wait_stat(&e, i, "queue_len", 0, 5), 0);
    usleep(500000); /* a message still circulating would show in the counters */
    ck_assert_int_eq(x400t_mta_wait_stat(&e, B, "relayed", 2, 5), 2);
    ck_assert_int_eq(x400t_mta_wait_stat(&e, C, "relayed", 2, 5), 2);
    ck_assert_int_eq(x400t_mta_wait_stat(&e, D, "relayed", 2, 5), 2);
    for (int i = A; i <= D; i++) ck_assert_int_eq(x400t_mta_inbox(&e, i, "ring").total, 0);
    /* B found the loop and told the originator */
    snprintf(out, sizeof out, "non-delivered %d/%d", X400_NDR_UNABLE_TO_TRANSFER, X400_NDD_LOOP_DETECTED);
    ck_assert_int_eq(wait_reports(&e, A, "ring", out, 2, 5), 2);
    ck_assert_int_eq(x400t_mta_wait_stat(&e, B, "ndr_generated", 2, 5), 2);
    ck_assert_int_eq(x400t_mta_run("grep -q 'routing loop' '%s/b.log'", e.dir), 0);
    x400t_mta_env_free(&e, 1);
}
END_TEST

/* Two management domains: A and B in PRMD ALPHA, C and D in CHARLIE, each
 * peer's `domain` set.  Recipients:
 *   P=CHARLIE;O=Dee   A -> B -> C -> D (local at D; C is local for O=Cee)
 *   P=ALPHA           D -> C -> B -> A: the reports (local at A)
 *   P=LOOP            A -> B -> C -> D -> A: out of ALPHA and back */
static const char *const prmd2[4] = { "ALPHA", "ALPHA", "CHARLIE", "CHARLIE" };
static const char *const routes2[4][4] = {
    /* A */ { NULL, "route = C=XX;A=ADMD\n", NULL, "" },
    /* B */ { "route = " OR("ALPHA") "\n", NULL, "route = " OR("CHARLIE") "\nroute = " OR("LOOP") "\n", NULL },
    /* C */ { NULL, "route = " OR("ALPHA") "\n", NULL, "route = " OR("CHARLIE") ";O=Dee\nroute = " OR("LOOP") "\n" },
    /* D */ { "route = " OR("LOOP") "\n", NULL, "route = " OR("ALPHA") "\n", NULL },
};
static const int peer_order2[4][3] = { { B, D, -1 }, { A, C, -1 }, { B, D, -1 }, { C, A, -1 } };
static const struct topo two_domains = { prmd2, routes2, peer_order2, 1 };
static const char *const locals2[4] = { NULL, "local = " OR("ALPHA") ";O=Bee\n", "local = " OR("CHARLIE") ";O=Cee\n",
                                        "local = " OR("CHARLIE") ";O=Dee\n" };

/* X.411 12.2.1.1.1.3 trace-information: one element per domain, added
 * where the message enters it -- ALPHA at submission by A, CHARLIE by C,
 * the first MTA of that domain it reached; D, in the same domain, adds
 * none.  12.2.1.1.1.4 internal-trace-information documents the MTAs of
 * one domain and is removed when the message leaves it: B's element does
 * not reach CHARLIE, so D sees C's only.  The delivery reports come back
 * the same way: D's domain (where it was made), then ALPHA on entry at
 * B, and B's internal element only.  Before: no domain element was
 * added on entry, and every MTA's internal element crossed the border. */
START_TEST(two_domains_trace_on_entry_internal_trace_stays_home)
{
    struct env e;
    static const int dom_ac[] = { A, C }, dom_da[] = { D, A }, via_c[] = { C }, via_b[] = { B };
    topo_env(&e, &two_domains, locals2);
    submit_at_a(&e, "--to '" OR("CHARLIE") ";O=Dee;S=Rcpt'", "dom", 3);
    ck_assert_int_eq(wait_inbox(&e, D, "dom", 3, 20), 3);
    ck_assert_int_eq(wait_reports(&e, A, "dom", "delivered", 3, 20), 3);
    x400t_mta_assert_exactly_once(&e, D, "dom", 3);
    ck_assert_int_eq(check_traces(&e, &two_domains, D, "message", "dom", dom_ac, 2, 1, via_c, 1), 3);
    ck_assert_int_eq(check_traces(&e, &two_domains, A, "report", "dom", dom_da, 2, 1, via_b, 1), 3);
    ck_assert_int_eq(reports(&e, A, "", "non-delivered"), 0);
    for (int i = A; i <= D; i++) ck_assert_int_eq(x400t_mta_wait_stat(&e, i, "queue_len", 0, 5), 0);
    for (int i = A; i <= D; i++) ck_assert_int_eq(x400t_mta_stop(&e, i, SIGTERM), 0);
    x400t_mta_env_free(&e, 1);
}
END_TEST

/* A message that leaves its domain and comes back (A -> B -> C -> D -> A,
 * D's route for P=LOOP leading back into ALPHA) is non-delivered where it
 * comes back, at A: its trace shows ALPHA, then CHARLIE after it
 * (x400_p1_loop_check X400_P1_LOOP_DOMAIN; X.411 14.3.1.1), with
 * unable-to-transfer / loop-detected, one report per message, nothing
 * relayed twice.  Before: the trace said ALPHA only and A relayed it
 * round again; B, finding its own internal element, ended it a hop later. */
START_TEST(domain_loop_non_delivered_where_it_comes_back)
{
    struct env e;
    char out[64];
    topo_env(&e, &two_domains, locals2);
    submit_at_a(&e, "--to '" OR("LOOP") ";S=Rcpt'", "dloop", 2);
    snprintf(out, sizeof out, "non-delivered %d/%d", X400_NDR_UNABLE_TO_TRANSFER, X400_NDD_LOOP_DETECTED);
    ck_assert_int_eq(wait_reports(&e, A, "dloop", out, 2, 20), 2);
    for (int i = A; i <= D; i++) ck_assert_int_eq(x400t_mta_wait_stat(&e, i, "queue_len", 0, 5), 0);
    usleep(500000); /* a message still circulating would show in the counters */
    ck_assert_int_eq(x400t_mta_wait_stat(&e, A, "ndr_generated", 2, 5), 2);
    ck_assert_int_eq(x400t_mta_wait_stat(&e, B, "ndr_generated", 0, 5), 0);
    for (int i = B; i <= D; i++) ck_assert_int_eq(x400t_mta_wait_stat(&e, i, "relayed", 2, 5), 2);
    for (int i = A; i <= D; i++) ck_assert_int_eq(x400t_mta_inbox(&e, i, "dloop").total, 0);
    ck_assert_int_eq(reports(&e, A, "dloop", ""), 2);
    ck_assert_int_eq(x400t_mta_run("grep -q 'routing loop' '%s/a.log'", e.dir), 0);
    x400t_mta_env_free(&e, 1);
}
END_TEST

Suite *x400t_suite_mtarelay(void)
{
    Suite *s = suite_create("mtarelay");
    TCase *tc = tcase_create("relay");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, chain_delivers_once_with_trace_in_order);
    tcase_add_test(tc, relayed_reports_carry_internal_trace);
    tcase_add_test(tc, route_back_non_delivered);
    tcase_add_test(tc, ring_loop_non_delivered);
    tcase_add_test(tc, two_domains_trace_on_entry_internal_trace_stays_home);
    tcase_add_test(tc, domain_loop_non_delivered_where_it_comes_back);
    suite_add_tcase(s, tc);
    return s;
}
