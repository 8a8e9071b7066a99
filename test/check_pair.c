/* The two-endpoint harness itself (pair.h): deliveries split and chunked
 * as asked, the cut (the piece crossing it lost, the responder told
 * first), the recording (complete TPKTs only, in order, per direction),
 * the settle guard, short input and refusals, and the scratch directory
 * helpers; then two real associations through it, recorded, split and
 * cut; then the session end: two real session machines, their TSDUs moved
 * whole, recorded as DT TPDUs, dropped and cut, and a TSDU lent by a
 * direct move surviving its queue's flush. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pair.h"
#include "session.h"
#include "wire.h"
#include "x400p1/assoc.h"
#include "x400t.h"

/* A scripted end: `out` is what it has to send; every recv is logged
 * (piece lengths, octets); `answer` octets go out after each input. */
struct tend {
    uint8_t out[256];
    size_t out_len;
    uint8_t in[1024];
    size_t in_len;
    size_t piece[128];
    int npiece;
    int answer;          /* octets queued in reply to each input (0: none) */
    int refuse;          /* recv returns -5 */
    int short_by;        /* recv takes this many octets fewer */
    int lost;            /* lost() calls */
    int *lost_order, *lost_seq;
};

static size_t t_pending(void *e, const uint8_t **p)
{
    struct tend *t = e;
    *p = t->out;
    return t->out_len;
}
static void t_sent(void *e, size_t n)
{
    struct tend *t = e;
    memmove(t->out, t->out + n, t->out_len - n);
    t->out_len -= n;
}
static int t_recv(void *e, const uint8_t *p, size_t n)
{
    struct tend *t = e;
    if (t->refuse) return -5;
    if (t->in_len + n <= sizeof t->in) memcpy(t->in + t->in_len, p, n);   /* the first 1 KiB */
    t->in_len += n;
    if (t->npiece < 128) t->piece[t->npiece++] = n;
    if (t->answer && t->out_len + (size_t)t->answer <= sizeof t->out) {
        memset(t->out + t->out_len, 0xa5, (size_t)t->answer);
        t->out_len += (size_t)t->answer;
    }
    return (int)n - t->short_by;
}
static void t_lost(void *e)
{
    struct tend *t = e;
    t->lost = ++*t->lost_seq;
}

static const x400t_end_ops t_ops = { t_pending, t_sent, t_recv, t_lost, 0 };

static void t_queue(struct tend *t, const uint8_t *p, size_t n)
{
    memcpy(t->out + t->out_len, p, n);
    t->out_len += n;
}

/* Two fresh scripted ends and a pair between them. */
static void t_open(x400t_pair *p, struct tend *a, struct tend *b)
{
    memset(a, 0, sizeof *a);
    memset(b, 0, sizeof *b);
    x400t_pair_init(p, &t_ops, a, b);
}

static const uint8_t MSG[10] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 };

START_TEST(split_at_every_offset)
{
    for (size_t split = 0; split <= sizeof MSG + 1; split++) {
        struct tend a, b;
        x400t_pair p;
        t_open(&p, &a, &b);
        p.split = split;
        t_queue(&a, MSG, sizeof MSG);
        ck_assert_int_eq(x400t_pair_pump(&p), 0);
        ck_assert_uint_eq(b.in_len, sizeof MSG);
        ck_assert_mem_eq(b.in, MSG, sizeof MSG);
        if (split == 0 || split >= sizeof MSG) {
            ck_assert_int_eq(b.npiece, 1);
        } else {
            ck_assert_int_eq(b.npiece, 2);
            ck_assert_uint_eq(b.piece[0], split);
            ck_assert_uint_eq(b.piece[1], sizeof MSG - split);
        }
        ck_assert_uint_eq(p.moved, sizeof MSG);
        x400t_pair_free(&p);
    }
}
END_TEST

/* chunk: pieces of at most N; with a split the first piece is the split */
START_TEST(chunked_and_taken)
{
    struct tend a, b;
    x400t_pair p;
    t_open(&p, &a, &b);
    p.chunk = 3;
    p.split = 1;
    t_queue(&a, MSG, sizeof MSG);
    ck_assert_int_eq(x400t_pair_pump(&p), 0);
    ck_assert_int_eq(b.npiece, 4);          /* 1, 3, 3, 3 */
    ck_assert_uint_eq(b.piece[0], 1);
    ck_assert_uint_eq(b.piece[1], 3);
    ck_assert_uint_eq(b.piece[3], 3);
    ck_assert_mem_eq(b.in, MSG, sizeof MSG);
    /* take: at most 4 octets from pending() at once, each delivered alone */
    memset(&b, 0, sizeof b);
    p.chunk = p.split = 0;
    p.take = 4;
    t_queue(&a, MSG, sizeof MSG);
    ck_assert_int_eq(x400t_pair_move(&p, 0), (long)sizeof MSG);
    ck_assert_int_eq(b.npiece, 3);          /* 4, 4, 2 */
    ck_assert_uint_eq(b.piece[2], 2);
    x400t_pair_free(&p);
}
END_TEST

/* interleave: the responder's answer to each piece goes back before the
 * initiator's next piece */
START_TEST(interleaved_answers)
{
    struct tend a, b;
    x400t_pair p;
    t_open(&p, &a, &b);
    b.answer = 1;
    p.take = 5;
    p.interleave = 1;
    t_queue(&a, MSG, sizeof MSG);
    ck_assert_int_eq(x400t_pair_move(&p, 0), (long)sizeof MSG);
    ck_assert_int_eq(a.npiece, 2);          /* one answer after each piece */
    ck_assert_uint_eq(b.out_len, 0);
    x400t_pair_free(&p);
}
END_TEST

START_TEST(cut_loses_the_crossing_piece)
{
    struct tend a, b;
    x400t_pair p;
    int seq = 0;
    t_open(&p, &a, &b);
    a.lost_seq = b.lost_seq = &seq;
    p.take = 4;
    x400t_pair_cut_after(&p, 9);
    t_queue(&a, MSG, sizeof MSG);
    ck_assert_int_eq(x400t_pair_pump(&p), 0);
    ck_assert_int_eq(p.cuts, 1);
    ck_assert_int_eq(p.cut_armed, 0);
    ck_assert_uint_eq(p.counted, 8);
    ck_assert_uint_eq(b.in_len, 8);         /* 4 + 4; the piece crossing 9 is lost */
    ck_assert_mem_eq(b.in, MSG, 8);
    ck_assert_uint_eq(a.out_len, 0);        /* taken from the sender all the same */
    ck_assert_int_eq(b.lost, 1);            /* the responder first */
    ck_assert_int_eq(a.lost, 2);
    /* a cut exactly at a piece boundary delivers that piece */
    memset(&b, 0, sizeof b);
    b.lost_seq = &seq;
    x400t_pair_cut_after(&p, 8);
    t_queue(&a, MSG, sizeof MSG);
    ck_assert_int_eq(x400t_pair_pump(&p), 0);
    ck_assert_uint_eq(b.in_len, 8);
    ck_assert_int_eq(p.cuts, 2);
    x400t_pair_free(&p);
}
END_TEST

/* TPKTs cut across pending() calls are recorded whole, per direction, in
 * the order they completed; an incomplete tail is never a record of its
 * direction. */
START_TEST(records_complete_tpkts)
{
    static const uint8_t T1[] = { 3, 0, 0, 7, 2, 0xf0, 0x80 };
    static const uint8_t T2[] = { 3, 0, 0, 9, 2, 0xf0, 0x80, 0x55, 0x66 };
    struct tend a, b;
    x400t_pair p;
    x400t_wire w;
    t_open(&p, &a, &b);
    x400t_wire_init(&w);
    p.wire = &w;
    p.take = 3;
    t_queue(&a, T1, sizeof T1);
    t_queue(&a, T2, 5);                      /* T2's first 5 octets */
    t_queue(&b, T2, sizeof T2);
    ck_assert_int_eq(x400t_pair_pump(&p), 0);
    ck_assert_uint_eq(w.n, 3);               /* T1 >, T2 <, and a's tail */
    ck_assert_int_eq(w.rec[0].from_initiator, 1);
    ck_assert_uint_eq(w.rec[0].len, sizeof T1);
    ck_assert_mem_eq(w.rec[0].p, T1, sizeof T1);
    ck_assert_int_eq(w.rec[2].from_initiator, 0);
    ck_assert_mem_eq(w.rec[2].p, T2, sizeof T2);
    ck_assert_int_eq(w.rec[1].from_initiator, 3);   /* pending, not a record of 1 */
    t_queue(&a, T2 + 5, sizeof T2 - 5);
    ck_assert_int_eq(x400t_pair_pump(&p), 0);
    ck_assert_uint_eq(w.n, 3);
    ck_assert_int_eq(w.rec[2].from_initiator, 1);
    ck_assert_mem_eq(w.rec[2].p, T2, sizeof T2);
    x400t_wire_free(&w);
    x400t_pair_free(&p);
}
END_TEST

static int fail_second(void *user, char *err, size_t errlen)
{
    int *calls = user;
    if (++*calls < 2) return 0;
    snprintf(err, errlen, "second round refused");
    return -1;
}

/* An exchange that never ends is an error after the guard; max_rounds
 * stops without one; after_round stops with its reason; a short input
 * and a refusal are told apart. */
START_TEST(settle_guard_short_and_refused)
{
    struct tend a, b;
    x400t_pair p;
    int calls = 0;
    t_open(&p, &a, &b);
    a.answer = b.answer = 1;                 /* ping-pong for ever */
    t_queue(&a, MSG, 1);
    p.guard = 1000;
    ck_assert_int_eq(x400t_pair_pump(&p), -1);
    ck_assert_str_eq(p.err, "pump did not settle");
    a.in_len = b.in_len = 0;
    p.max_rounds = 3;
    ck_assert_int_eq(x400t_pair_pump(&p), 0);
    ck_assert_uint_eq(b.in_len, 3);
    p.max_rounds = 0;
    p.after_round = fail_second;
    p.user = &calls;
    ck_assert_int_eq(x400t_pair_pump(&p), -1);
    ck_assert_str_eq(p.err, "second round refused");
    p.after_round = NULL;
    a.answer = b.answer = 0;
    a.out_len = b.out_len = 0;
    b.short_by = 1;
    t_queue(&a, MSG, 4);
    ck_assert_int_eq(x400t_pair_pump(&p), -1);
    ck_assert_str_eq(p.err, "short input: 3 of 4 octets taken");
    b.short_by = 0;
    b.refuse = 1;
    t_queue(&a, MSG, 4);
    ck_assert_int_eq(x400t_pair_pump(&p), 0);
    ck_assert_uint_eq(p.refused, 1);
    ck_assert_int_eq(p.first_refusal, -5);
    ck_assert_int_eq(p.last_refusal, -5);
    x400t_pair_free(&p);
}
END_TEST

START_TEST(scratch_dir_removed_links_not_followed)
{
    char d[512], f[700], keep[512], ln[700];
    FILE *fp;
    ck_assert_int_eq(x400t_scratch_dir(d, sizeof d, "x400t-pair"), 0);
    ck_assert_int_eq(x400t_scratch_dir(keep, sizeof keep, "x400t-pairkeep"), 0);
    snprintf(f, sizeof f, "%s/sub", d);
    ck_assert_int_eq(mkdir(f, 0700), 0);
    snprintf(f, sizeof f, "%s/sub/file", d);
    fp = fopen(f, "w");
    ck_assert_ptr_nonnull(fp);
    fputs("x", fp);
    fclose(fp);
    snprintf(ln, sizeof ln, "%s/sub/link", d);
    ck_assert_int_eq(symlink(keep, ln), 0);
    ck_assert_int_eq(x400t_rm_tree(d), 0);
    ck_assert_int_ne(access(d, F_OK), 0);
    ck_assert_int_eq(access(keep, F_OK), 0);   /* the link's target stays */
    ck_assert_int_eq(x400t_rm_tree(d), 0);     /* already gone: fine */
    ck_assert_int_eq(x400t_rm_tree(keep), 0);
    ck_assert_uint_gt(x400t_free_port(), 0);
}
END_TEST

/* ---- two real associations ----------------------------------------------- */

static void assoc_pair(x400_assoc **i, x400_assoc **r)
{
    x400_assoc_config ci, cr;
    x400_assoc_config_init(&ci, X400_ROLE_INITIATOR);
    x400_assoc_config_init(&cr, X400_ROLE_RESPONDER);
    ck_assert_int_eq(x400_assoc_new(i, &ci, NULL, NULL), X400_OK);
    ck_assert_int_eq(x400_assoc_new(r, &cr, NULL, NULL), X400_OK);
    ck_assert_int_eq(x400_assoc_connect(*i), X400_OK);
}

/* The connect exchange (CR, CC, CN + CP, ...) recorded (check_wire shows
 * that tshark reads such a recording); the same exchange split at offsets
 * of every delivery gives the same recording; a cut aborts both. */
START_TEST(associations_recorded_split_cut)
{
    x400_assoc *i, *r;
    x400t_pair p;
    x400t_wire w, ws;
    size_t max = 0;
    x400t_wire_init(&w);
    assoc_pair(&i, &r);
    x400t_pair_init(&p, &x400t_assoc_end, i, r);
    p.wire = &w;
    ck_assert_msg(x400t_pair_pump(&p) == 0, "%s", p.err);
    ck_assert_uint_ge(w.n, 4);
    for (size_t k = 0; k < w.n; k++)
        if (w.rec[k].len > max) max = w.rec[k].len;
    x400t_pair_free(&p);
    x400_assoc_free(i);
    x400_assoc_free(r);
    /* the suites split at every offset; here a few suffice to show that a
     * split changes nothing on the wire (and the harness stays quick) */
    for (size_t split = 1; split < max; split = split < 4 ? split + 1 : split * 3) {
        x400t_wire_init(&ws);
        assoc_pair(&i, &r);
        x400t_pair_init(&p, &x400t_assoc_end, i, r);
        p.wire = &ws;
        p.split = split;
        ck_assert_msg(x400t_pair_pump(&p) == 0, "%s", p.err);
        ck_assert_uint_eq(p.refused, 0);
        ck_assert_uint_eq(ws.n, w.n);
        for (size_t k = 0; k < w.n; k++) {
            ck_assert_uint_eq(ws.rec[k].len, w.rec[k].len);
            ck_assert_mem_eq(ws.rec[k].p, w.rec[k].p, w.rec[k].len);
        }
        ck_assert_int_eq(x400_assoc_get_state(i), x400_assoc_get_state(r));
        x400t_pair_cut(&p);
        ck_assert_int_eq(x400_assoc_get_state(i), X400_ASSOC_ABORTED);
        ck_assert_int_eq(x400_assoc_get_state(r), X400_ASSOC_ABORTED);
        x400t_pair_free(&p);
        x400_assoc_free(i);
        x400_assoc_free(r);
        x400t_wire_free(&ws);
    }
    x400t_wire_free(&w);
}
END_TEST

/* ---- the session end -------------------------------------------------------- */

struct sesend {
    x400t_ses_end se;    /* first: the harness's end */
    int last;            /* type of the last indication */
    int data;            /* S-DATA indications */
};

static int se_send(void *u, const uint8_t *p, size_t n) { return x400t_ses_end_push(&((struct sesend *)u)->se, p, n); }
static int se_ind(void *u, const x400i_ses_ind *ind)
{
    struct sesend *e = u;
    e->last = ind->type;
    e->data += ind->type == X400I_SES_DATA_IND;
    if (ind->type == X400I_SES_CONNECT_IND) return x400i_ses_connect_rsp(e->se.s, 1, 0, 0, (const uint8_t *)"acc", 3);
    return 0;
}

/* CN and AC move whole (one DT TPDU each on the wire, the SPDU behind the
 * COTP header); a split is refused; a dropped DT never arrives and is not
 * recorded; a cut aborts both sessions and loses what was queued. */
START_TEST(session_ends_move_tsdus_whole)
{
    struct sesend i, r;
    x400i_ses_callbacks cb = { NULL, se_send, se_ind, NULL };
    x400i_ses_config c;
    x400t_pair p;
    x400t_wire w;
    memset(&i, 0, sizeof i);
    memset(&r, 0, sizeof r);
    memset(&c, 0, sizeof c);
    cb.user = &i;
    ck_assert_int_eq(x400i_ses_new(&i.se.s, 1, &c, &cb, NULL, NULL), 0);
    cb.user = &r;
    ck_assert_int_eq(x400i_ses_new(&r.se.s, 0, &c, &cb, NULL, NULL), 0);
    x400t_wire_init(&w);
    x400t_pair_init(&p, &x400t_session_end, &i.se, &r.se);
    p.wire = &w;
    ck_assert_int_eq(x400i_ses_connect_req(i.se.s, (const uint8_t *)"cp", 2), 0);
    ck_assert_uint_eq(i.se.n, 1);
    ck_assert_msg(x400t_pair_pump(&p) == 0, "%s", p.err);
    ck_assert_int_eq(x400i_ses_state(i.se.s), X400I_SES_ST_DATA);
    ck_assert_int_eq(x400i_ses_state(r.se.s), X400I_SES_ST_DATA);
    ck_assert_int_eq(i.last, X400I_SES_CONNECT_CONF);
    ck_assert_uint_eq(w.n, 2);
    ck_assert_int_eq(w.rec[0].from_initiator, 1);
    ck_assert_mem_eq(w.rec[0].p + 4, "\x02\xf0\x80\x0d", 4);      /* DT, EOT, CN */
    ck_assert_int_eq(w.rec[1].from_initiator, 0);
    ck_assert_mem_eq(w.rec[1].p + 4, "\x02\xf0\x80\x0e", 4);      /* DT, EOT, AC */
    ck_assert_uint_eq(p.moved, (w.rec[0].len - 7) + (w.rec[1].len - 7));
    /* a TSDU is never split */
    ck_assert_int_eq(x400i_ses_data_req(i.se.s, (const uint8_t *)"abc", 3), 0);
    p.split = 1;
    ck_assert_int_eq(x400t_pair_pump(&p), -1);
    ck_assert_str_eq(p.err, "a TSDU end is moved whole: split, chunk and take must be 0");
    ck_assert_uint_eq(i.se.n, 1);
    p.split = 0;
    ck_assert_msg(x400t_pair_pump(&p) == 0, "%s", p.err);
    ck_assert_int_eq(r.data, 1);
    ck_assert_uint_eq(w.n, 3);
    /* dropped: taken, not delivered, not recorded */
    p.drop[0] = 1;
    ck_assert_int_eq(x400i_ses_data_req(i.se.s, (const uint8_t *)"abc", 3), 0);
    ck_assert_msg(x400t_pair_pump(&p) == 0, "%s", p.err);
    ck_assert_uint_eq(i.se.n, 0);
    ck_assert_int_eq(r.data, 1);
    ck_assert_uint_eq(w.n, 3);
    p.drop[0] = 0;
    /* cut: the DT crossing octet 0 is lost with the connection */
    x400t_pair_cut_after(&p, 0);
    ck_assert_int_eq(x400i_ses_data_req(i.se.s, (const uint8_t *)"abc", 3), 0);
    ck_assert_int_eq(x400i_ses_data_req(i.se.s, (const uint8_t *)"def", 3), 0);
    ck_assert_msg(x400t_pair_pump(&p) == 0, "%s", p.err);
    ck_assert_int_eq(p.cuts, 1);
    ck_assert_uint_eq(i.se.n, 0);                  /* "def" went with it */
    ck_assert_int_eq(r.data, 1);
    ck_assert_int_eq(i.last, X400I_SES_P_ABORT_IND);
    ck_assert_int_eq(r.last, X400I_SES_P_ABORT_IND);
    ck_assert_int_eq(x400i_ses_state(i.se.s), X400I_SES_ST_CLOSED);
    ck_assert_int_eq(x400i_ses_state(r.se.s), X400I_SES_ST_CLOSED);
    x400t_pair_free(&p);
    x400t_wire_free(&w);
    x400i_ses_free(i.se.s);
    x400i_ses_free(r.se.s);
    x400t_ses_end_free(&i.se);
    x400t_ses_end_free(&r.se);
}
END_TEST

/* Moved direct (no copy), the TSDU being delivered stays valid while the
 * receiver answers (the sender's queue grows, its array moves) and while
 * it replaces the connection (the sender's queue is flushed): nothing
 * flushed is delivered, what was pushed after the flush is. */
struct lend {
    x400t_ses_end se;    /* first: the receiving end */
    x400t_ses_end *sender;
    char got[64];
    size_t got_len;
    int delivered;
};

static int lend_recv(void *end, const uint8_t *p, size_t n)
{
    struct lend *l = end;
    if (l->delivered++ == 0) {
        for (int k = 0; k < 40; k++)                 /* past the queue's 16 slots */
            ck_assert_int_eq(x400t_ses_end_push(l->sender, (const uint8_t *)"x", 1), 0);
        x400t_ses_end_flush(l->sender);               /* "two" and the x's are gone */
        ck_assert_int_eq(x400t_ses_end_push(l->sender, (const uint8_t *)"new", 3), 0);
    }
    /* read after the answer, as a session reads an SPDU's parameters */
    if (l->got_len + n < sizeof l->got) memcpy(l->got + l->got_len, p, n);
    l->got_len += n;
    return (int)n;
}

START_TEST(session_end_lent_tsdu_survives_flush)
{
    x400t_ses_end a;
    x400t_end_ops ops = x400t_session_end;
    struct lend l;
    x400t_pair p;
    memset(&a, 0, sizeof a);
    memset(&l, 0, sizeof l);
    l.sender = &a;
    ops.recv = lend_recv;
    ck_assert_int_eq(x400t_ses_end_push(&a, (const uint8_t *)"one", 3), 0);
    ck_assert_int_eq(x400t_ses_end_push(&a, (const uint8_t *)"two", 3), 0);
    x400t_pair_init(&p, &ops, &a, &l.se);
    p.direct = 1;
    ck_assert_msg(x400t_pair_pump(&p) == 0, "%s", p.err);
    ck_assert_int_eq(l.delivered, 2);
    ck_assert_uint_eq(l.got_len, 6);
    ck_assert_mem_eq(l.got, "onenew", 6);
    ck_assert_uint_eq(a.n, 0);
    ck_assert_ptr_null(a.lent);
    x400t_pair_free(&p);
    x400t_ses_end_free(&a);
    x400t_ses_end_free(&l.se);
}
END_TEST

/* ---- the runner ------------------------------------------------------------- */

/* The runner's summary counts a suite whose X400T_HALF_TAG job ran alone
 * (CK_RUN_CASE selecting the half case; the suite's other job runs
 * nothing): "1 suites, 1 tests", as for any suite. */
START_TEST(runner_counts_a_half_job_alone)
{
    char cmd[1024], line[512], last[512] = "";
    int plus = 0;
    FILE *f;
    snprintf(cmd, sizeof cmd,
             "CK_RUN_SUITE=pair CK_RUN_CASE=pair_assoc X400T_JOBS=2 X400T_LONG= '%s/check_runner' 2>&1",
             x400t_bindir());
    f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "make check:", 11)) snprintf(last, sizeof last, "%s", line);
        if (strstr(line, " ok   pair+ ")) plus++;
    }
    ck_assert_int_eq(pclose(f), 0);
    ck_assert_int_eq(plus, 1);
    ck_assert_msg(!strncmp(last, "make check: 1 suites, 1 tests, 0 failed,", 40), "summary: %s", last);
}
END_TEST

Suite *x400t_suite_pair(void)
{
    Suite *s = suite_create("pair");
    TCase *tc = tcase_create("pair");
    tcase_add_test(tc, split_at_every_offset);
    tcase_add_test(tc, chunked_and_taken);
    tcase_add_test(tc, interleaved_answers);
    tcase_add_test(tc, cut_loses_the_crossing_piece);
    tcase_add_test(tc, records_complete_tpkts);
    tcase_add_test(tc, settle_guard_short_and_refused);
    tcase_add_test(tc, scratch_dir_removed_links_not_followed);
    tcase_add_test(tc, session_ends_move_tsdus_whole);
    tcase_add_test(tc, session_end_lent_tsdu_survives_flush);
    tcase_add_test(tc, runner_counts_a_half_job_alone);
    suite_add_tcase(s, tc);
    /* the two associations run as the suite's half job (X400T_HALF_TAG),
     * which runner_counts_a_half_job_alone runs alone */
    tc = tcase_create("pair_assoc");
    tcase_set_tags(tc, X400T_HALF_TAG);
    tcase_add_test(tc, associations_recorded_split_cut);
    suite_add_tcase(s, tc);
    return s;
}
