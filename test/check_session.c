/* X.225 session protocol machine: two SPMs in one process exchanging TSDUs
 * through the shared harness (pair.h, x400t_session_end); a full P1-style exchange checked by tshark; refusal,
 * version negotiation, aborts, invalid requests and SPDUs with their
 * diagnostics; every received TSDU truncated at every length. */
#include <string.h>

#include "interop.h"
#include "pair.h"
#include "session.h"
#include "support_strictpeer.h"
#include "wire.h"
#include "x400t.h"

#define MAXIND 256

typedef struct end {
    x400t_ses_end se;      /* first: the harness's end (TSDUs sent, not yet delivered) */
    x400i_ses *s;
    int initiator;
    int ind[MAXIND];       /* indication types received */
    int nind;
    x400i_ses_ind last;    /* copy of the last indication (views invalid) */
    uint8_t last_ud[512];
    size_t last_ud_len;
    uint8_t last_id[8];
    size_t last_id_len;
    int disconnected;
    int auto_respond;      /* answer CN, MIP, AE, AI, AD, FN from the callback */
    int fail_indication;   /* return -1 from the next indication */
    struct pair *pair;
} end;

typedef struct pair {
    end i, r;
    x400t_pair io;         /* the harness moving TSDUs between i.se and r.se */
    x400t_end_ops ops;     /* x400t_session_end with the truncating recv */
    /* mutation: truncate the mut_k-th delivered TSDU to mut_len octets */
    int mut_k, delivered;
    size_t mut_len;
    int mut_decode_failed; /* the mutated TSDU no longer decodes */
    end *mut_target;
    x400t_strict strict;   /* every TSDU an SPM emits passes the strict peer */
} pair;

static int cb_send(void *user, const uint8_t *p, size_t len)
{
    end *e = user;
    ck_assert_int_eq(x400t_ses_end_push(&e->se, p, len), 0);
    return 0;
}

static int cb_ind(void *user, const x400i_ses_ind *ind)
{
    end *e = user;
    if (e->nind < MAXIND) e->ind[e->nind++] = ind->type;
    e->last = *ind;
    e->last_ud_len = ind->user_data_len < sizeof e->last_ud ? ind->user_data_len : sizeof e->last_ud;
    if (e->last_ud_len) memcpy(e->last_ud, ind->user_data, e->last_ud_len);
    e->last_id_len = ind->activity_id.len < sizeof e->last_id ? ind->activity_id.len : 0;
    if (e->last_id_len) memcpy(e->last_id, ind->activity_id.p, e->last_id_len);
    if (e->fail_indication) { e->fail_indication = 0; return -1; }
    if (e->auto_respond) {
        switch (ind->type) {
        case X400I_SES_CONNECT_IND: (void)x400i_ses_connect_rsp(e->s, 1, 0, 0, (const uint8_t *)"acc", 3); break;
        case X400I_SES_MINOR_SYNC_IND:
            if (ind->confirm_required) (void)x400i_ses_minor_sync_rsp(e->s, ind->serial, NULL, 0);
            break;
        case X400I_SES_ACT_END_IND: (void)x400i_ses_activity_end_rsp(e->s, NULL, 0); break;
        case X400I_SES_ACT_INTERRUPT_IND: (void)x400i_ses_activity_interrupt_rsp(e->s); break;
        case X400I_SES_ACT_DISCARD_IND: (void)x400i_ses_activity_discard_rsp(e->s); break;
        case X400I_SES_RELEASE_IND: (void)x400i_ses_release_rsp(e->s, NULL, 0); break;
        default: break;
        }
    }
    return 0;
}

static void cb_disc(void *user) { ((end *)user)->disconnected++; }

/* Every TSDU moved passes the strict peer. */
static void strict_tap(void *user, int from, const uint8_t *t, size_t len)
{
    pair *p = user;
    ck_assert_msg(x400t_strict_check(&p->strict, from == 0, t, len) == 0, "strict peer: %s", p->strict.err);
}

/* The harness's session recv, truncating the mut_k-th delivered TSDU to
 * mut_len octets. */
static int truncating_recv(void *to_end, const uint8_t *t, size_t len)
{
    end *to = to_end;      /* se is its first member */
    pair *p = to->pair;
    size_t n = len;
    int rc;
    if (p->delivered++ == p->mut_k && p->mut_len < len) {
        x400i_spdu sp[2];
        x400_diag d;
        n = p->mut_len;
        p->mut_decode_failed = x400i_spdu_decode_tsdu(t, n, X400I_SPDU_DEC_ACTIVITY, sp, &d) < 0;
        p->mut_target = to;
    }
    rc = x400t_session_end.recv(to_end, t, n);
    return rc < 0 ? rc : (int)len;
}

static void pair_init(pair *p, const x400i_ses_config *ci, const x400i_ses_config *cr)
{
    x400i_ses_callbacks cb = { NULL, cb_send, cb_ind, cb_disc };
    x400i_ses_config def;
    memset(p, 0, sizeof *p);
    memset(&def, 0, sizeof def);
    x400t_strict_init(&p->strict);
    p->mut_k = -1;
    p->i.initiator = 1;
    p->i.pair = p->r.pair = p;
    cb.user = &p->i;
    ck_assert_int_eq(x400i_ses_new(&p->i.s, 1, ci ? ci : &def, &cb, NULL, NULL), 0);
    cb.user = &p->r;
    ck_assert_int_eq(x400i_ses_new(&p->r.s, 0, cr ? cr : &def, &cb, NULL, NULL), 0);
    p->i.se.s = p->i.s;
    p->r.se.s = p->r.s;
    p->ops = x400t_session_end;
    p->ops.recv = truncating_recv;
    x400t_pair_init(&p->io, &p->ops, &p->i.se, &p->r.se);
    p->io.tap = strict_tap;
    p->io.user = p;
}

static void pair_free(pair *p)
{
    for (int k = 0; k < 2; k++) {
        end *e = k ? &p->r : &p->i;
        x400t_ses_end_free(&e->se);
        x400i_ses_free(e->s);
    }
    x400t_pair_free(&p->io);
    x400t_strict_free(&p->strict);
}

/* Deliver all queued TSDUs (each side's in order) until both queues are
 * empty.  Returns the last x400i_ses_input() error (0 if none). */
static int pump(pair *p)
{
    p->io.refused = 0;
    ck_assert_msg(x400t_pair_pump(&p->io) == 0, "%s", p->io.err);
    return p->io.refused ? p->io.last_refusal : 0;
}

static int count_ind(const end *e, int type)
{
    int n = 0;
    for (int j = 0; j < e->nind; j++) n += e->ind[j] == type;
    return n;
}

static const uint8_t MTA_REF[] = "MTAX";
static const uint8_t UTC[] = "250101120000Z";

/* ---- the full exchange --------------------------------------------------- */

#define OK(x) do { int rc_ = (x); if (strict) ck_assert_msg(rc_ == 0, "%s: %d %s", #x, rc_, x400i_ses_diag(p->i.s)->text); } while (0)
#define OKR(x) do { int rc_ = (x); if (strict) ck_assert_msg(rc_ == 0, "%s: %d %s", #x, rc_, x400i_ses_diag(p->r.s)->text); } while (0)

/* A P1-over-RTSE-like session: connect, one message transferred in an
 * activity with confirmed minor syncs, turn exchange by give/please tokens,
 * an interrupted and resumed activity, a discarded one, release. */
static void script(pair *p, int strict)
{
    static const uint8_t id1[] = { 0x02, 0x01, 0x01 }, id2[] = { 0x02, 0x01, 0x02 }, id3[] = { 0x02, 0x01, 0x03 };
    static const uint8_t pdv[] = { 0x61, 0x05, 0x30, 0x03, 0x02, 0x01, 0x05 };
    uint32_t serial = 0;
    x400i_ses_old_conn oc = { NULL, 0, MTA_REF, 4, UTC, 13, NULL, 0 };

    /* With tshark watching, the CN carries a well-formed (minimal) CP-type,
     * since tshark hands session user data to its presentation dissector. */
    static const uint8_t cp[] = { 0x31, 0x80, 0xa0, 0x03, 0x80, 0x01, 0x01, 0x00, 0x00 };
    if (p->io.wire) OK(x400i_ses_connect_req(p->i.s, cp, sizeof cp));
    else OK(x400i_ses_connect_req(p->i.s, (const uint8_t *)"cp-type", 7));
    pump(p);
    if (strict) {
        ck_assert_int_eq(x400i_ses_state(p->r.s), X400I_SES_ST_DATA);
        ck_assert_int_eq(x400i_ses_state(p->i.s), X400I_SES_ST_DATA);
        ck_assert_int_eq(x400i_ses_tokens_held(p->i.s), X400I_TOKEN_DATA | X400I_TOKEN_MINOR | X400I_TOKEN_MAJOR);
        ck_assert_int_eq(x400i_ses_tokens_held(p->r.s), 0);
        ck_assert_int_eq(x400i_ses_requirements(p->i.s), 0x0249);
        ck_assert_int_eq(x400i_ses_version(p->r.s), 2);
        ck_assert_int_eq(p->i.last.type, X400I_SES_CONNECT_CONF);
        ck_assert_int_eq(p->i.last.accepted, 1);
        ck_assert_mem_eq(p->i.last_ud, "acc", 3);
    }
    /* message 1: AS, DT, MIP (confirmed), DT, AE */
    OK(x400i_ses_activity_start_req(p->i.s, id1, sizeof id1, NULL, 0));
    OK(x400i_ses_data_req(p->i.s, pdv, sizeof pdv));
    OK(x400i_ses_minor_sync_req(p->i.s, 1, NULL, 0, &serial));
    if (strict) ck_assert_uint_eq(serial, 1);
    OK(x400i_ses_data_req(p->i.s, pdv, sizeof pdv));
    OK(x400i_ses_minor_sync_req(p->i.s, 1, NULL, 0, &serial));
    if (strict) ck_assert_uint_eq(serial, 2);
    pump(p);
    if (strict) {
        ck_assert_int_eq(count_ind(&p->r, X400I_SES_DATA_IND), 2);
        ck_assert_int_eq(count_ind(&p->i, X400I_SES_MINOR_SYNC_CONF), 2);
        ck_assert_uint_eq(x400i_ses_va(p->i.s), 3);
        ck_assert_mem_eq(p->r.last_ud, pdv, 0);
    }
    OK(x400i_ses_activity_end_req(p->i.s, NULL, 0, &serial));
    if (strict) ck_assert_uint_eq(serial, 3);
    pump(p);
    if (strict) {
        ck_assert_int_eq(count_ind(&p->i, X400I_SES_ACT_END_CONF), 1);
        ck_assert_int_eq(x400i_ses_in_activity(p->r.s), 0);
        ck_assert_int_eq(x400i_ses_state(p->i.s), X400I_SES_ST_DATA);
    }
    /* the turn: give the data token, the responder sends, please, give back */
    OK(x400i_ses_token_give_req(p->i.s, X400I_TOKEN_DATA));
    pump(p);
    if (strict) ck_assert_int_eq(x400i_ses_tokens_held(p->r.s), X400I_TOKEN_DATA);
    OKR(x400i_ses_data_req(p->r.s, pdv, 3));
    OK(x400i_ses_token_please_req(p->i.s, X400I_TOKEN_DATA, (const uint8_t *)"pls", 3));
    pump(p);
    if (strict) {
        ck_assert_int_eq(p->r.last.type, X400I_SES_TOKEN_PLEASE_IND);
        ck_assert_int_eq(p->r.last.tokens, X400I_TOKEN_DATA);
        ck_assert_int_eq(count_ind(&p->i, X400I_SES_DATA_IND), 1);
    }
    OKR(x400i_ses_token_give_req(p->r.s, X400I_TOKEN_DATA));
    pump(p);
    /* message 2: interrupted, then resumed after serial 1 */
    OK(x400i_ses_activity_start_req(p->i.s, id2, sizeof id2, (const uint8_t *)"s", 1));
    OK(x400i_ses_data_req(p->i.s, pdv, sizeof pdv));
    OK(x400i_ses_minor_sync_req(p->i.s, 1, NULL, 0, &serial));
    OK(x400i_ses_activity_interrupt_req(p->i.s, 1));
    pump(p);
    if (strict) {
        ck_assert_int_eq(count_ind(&p->i, X400I_SES_ACT_INTERRUPT_CONF), 1);
        ck_assert_int_eq(x400i_ses_in_activity(p->i.s), 0);
        ck_assert_int_eq(x400i_ses_tokens_held(p->i.s), X400I_TOKEN_DATA | X400I_TOKEN_MINOR | X400I_TOKEN_MAJOR);
    }
    OK(x400i_ses_activity_resume_req(p->i.s, id3, sizeof id3, id2, sizeof id2, 1, &oc, NULL, 0));
    pump(p);
    if (strict) {
        ck_assert_int_eq(p->r.last.type, X400I_SES_ACT_RESUME_IND);
        ck_assert_uint_eq(p->r.last.serial, 1);
        ck_assert_uint_eq(x400i_ses_vm(p->r.s), 2);
        ck_assert_mem_eq(p->r.last_id, id3, 3);
    }
    OK(x400i_ses_data_req(p->i.s, pdv, sizeof pdv));
    OK(x400i_ses_minor_sync_req(p->i.s, 0, NULL, 0, &serial));
    if (strict) ck_assert_uint_eq(serial, 2);
    OK(x400i_ses_activity_end_req(p->i.s, NULL, 0, &serial));
    pump(p);
    /* message 3: discarded */
    OK(x400i_ses_activity_start_req(p->i.s, id1, sizeof id1, NULL, 0));
    OK(x400i_ses_activity_discard_req(p->i.s, 5));
    pump(p);
    if (strict) {
        ck_assert_int_eq(count_ind(&p->r, X400I_SES_ACT_DISCARD_IND), 1);
        ck_assert_int_eq(count_ind(&p->i, X400I_SES_ACT_DISCARD_CONF), 1);
    }
    /* (tshark 4.0's presentation dissector cannot place FN user data) */
    OK(x400i_ses_release_req(p->i.s, (const uint8_t *)"rlrq", p->io.wire ? 0 : 4));
    pump(p);
    if (strict) {
        ck_assert_int_eq(x400i_ses_state(p->i.s), X400I_SES_ST_CLOSED);
        ck_assert_int_eq(x400i_ses_state(p->r.s), X400I_SES_ST_CLOSED);
        ck_assert_int_eq(count_ind(&p->i, X400I_SES_RELEASE_CONF), 1);
        ck_assert_int_eq(count_ind(&p->r, X400I_SES_RELEASE_IND), 1);
        ck_assert_int_eq(p->i.disconnected, 1);
        ck_assert_int_eq(count_ind(&p->i, X400I_SES_P_ABORT_IND) + count_ind(&p->r, X400I_SES_P_ABORT_IND), 0);
    }
}

START_TEST(full_exchange_and_tshark)
{
    pair p;
    x400t_wire w;
    x400i_ses_config ci;
    char err[4000], *f;
    int rv;
    memset(&ci, 0, sizeof ci);
    ci.calling_ref = MTA_REF;
    ci.calling_ref_len = 4;
    ci.common_ref = UTC;
    ci.common_ref_len = 13;
    x400t_wire_init(&w);
    pair_init(&p, &ci, NULL);
    p.r.auto_respond = 1;
    p.io.wire = &w;
    script(&p, 1);
    /* nothing flagged, and each frame's SPDU types (one tshark run) */
    rv = x400t_wire_expect_fields(&w, "session_full", NULL, NULL, 0, "-e ses.type", &f, err, sizeof err);
    ck_assert_msg(rv == 0, "%s", err);
    ck_assert_ptr_nonnull(f);
    /* tshark names each SPDU: CN, AC, then GT+AS ... (category 0 + 2) */
    ck_assert_msg(strncmp(f, "13\n14\n", 6) == 0, "tshark saw: %s", f);
    ck_assert_msg(strstr(f, "1,45\n") != NULL, "no GT+AS in: %s", f);
    ck_assert_msg(strstr(f, "1,1\n") != NULL, "no GT+DT in: %s", f);
    /* X.225 6.3.7: initiating SPDUs behind GT, acknowledging ones behind PT */
    ck_assert_msg(strstr(f, "1,49\n") != NULL && strstr(f, "2,50\n") != NULL, "no GT+MIP/PT+MIA in: %s", f);
    ck_assert_msg(strstr(f, "1,41\n") != NULL && strstr(f, "2,42\n") != NULL, "no GT+AE/PT+AEA in: %s", f);
    ck_assert_msg(strstr(f, "1,29\n") != NULL && strstr(f, "1,25\n") != NULL, "no AR/AI in: %s", f);
    ck_assert_msg(strstr(f, "2,26\n") != NULL, "no PT+AIA in: %s", f);
    ck_assert_msg(strstr(f, "1,57\n") != NULL && strstr(f, "2,58\n") != NULL, "no GT+AD/PT+ADA in: %s", f);
    ck_assert_msg(strstr(f, "1,50\n") == NULL && strstr(f, "1,42\n") == NULL && strstr(f, "1,58\n") == NULL &&
                  strstr(f, "1,26\n") == NULL, "an acknowledging SPDU behind GT: %s", f);
    ck_assert_msg(strstr(f, "\n2\n") != NULL, "no PT in: %s", f);
    ck_assert_msg(strstr(f, "\n9\n10\n") != NULL, "no FN/DN at the end: %s", f);
    free(f);
    pair_free(&p);
    x400t_wire_free(&w);
}
END_TEST

/* Every TSDU of the exchange truncated at every length: the receiver either
 * still decodes it (a shorter DT is still a DT) or aborts cleanly with AB and
 * S-P-ABORT; nothing crashes, nothing leaks. */
START_TEST(truncated_tsdus_abort_cleanly)
{
    pair p;
    int total, n_abort = 0, n_cases = 0;
    /* count the TSDUs of one clean run */
    pair_init(&p, NULL, NULL);
    p.r.auto_respond = 1;
    script(&p, 1);
    total = p.delivered;
    pair_free(&p);
    for (int k = 0; k < total; k++) {
        for (size_t len = 0;; len++) {
            end *t;
            int aborted;
            pair_init(&p, NULL, NULL);
            p.r.auto_respond = 1;
            p.mut_k = k;
            p.mut_len = len;
            script(&p, 0);
            t = p.mut_target;
            if (!t) { pair_free(&p); break; } /* len reached the full TSDU */
            aborted = count_ind(t, X400I_SES_P_ABORT_IND) > 0;
            if (p.mut_decode_failed) {
                ck_assert_msg(aborted, "TSDU %d cut to %zu: undecodable but no S-P-ABORT", k, len);
                ck_assert_int_eq(x400i_ses_state(t->s), X400I_SES_ST_CLOSED);
                ck_assert_int_eq(x400i_ses_diag(t->s)->layer, X400_LAYER_SESSION);
            }
            if (aborted) ck_assert_int_ge(t->disconnected, 1);
            n_abort += aborted;
            n_cases++;
            pair_free(&p);
        }
    }
    /* the loop really cut TSDUs, and most cuts are fatal */
    ck_assert_int_gt(total, 25);
    ck_assert_int_gt(n_cases, 150);
    ck_assert_int_gt(n_abort, n_cases / 2);
}
END_TEST

/* ---- refusal, versions ---------------------------------------------------- */

START_TEST(refusal)
{
    pair p;
    pair_init(&p, NULL, NULL);
    ck_assert_int_eq(x400i_ses_connect_req(p.i.s, (const uint8_t *)"cp", 2), 0);
    pump(&p);
    ck_assert_int_eq(p.r.last.type, X400I_SES_CONNECT_IND);
    ck_assert_int_eq(p.r.last.requirements, 0x0249);
    ck_assert_int_eq(x400i_ses_state(p.r.s), X400I_SES_ST_WAIT_CONNECT_RSP);
    ck_assert_int_eq(x400i_ses_connect_rsp(p.r.s, 0, 2, 0, (const uint8_t *)"cpr", 3), 0);
    ck_assert_int_eq(x400i_ses_state(p.r.s), X400I_SES_ST_CLOSED);
    ck_assert_int_eq(p.r.disconnected, 1);
    pump(&p);
    ck_assert_int_eq(p.i.last.type, X400I_SES_CONNECT_CONF);
    ck_assert_int_eq(p.i.last.accepted, 0);
    ck_assert_int_eq(p.i.last.reason, 2);
    ck_assert_uint_eq(p.i.last_ud_len, 3);
    ck_assert_mem_eq(p.i.last_ud, "cpr", 3);
    ck_assert_int_eq(x400i_ses_state(p.i.s), X400I_SES_ST_CLOSED);
    ck_assert_int_eq(x400i_ses_diag(p.i.s)->code, X400_ERR_REFUSED);
    ck_assert_int_eq(x400i_ses_data_req(p.i.s, NULL, 0), X400_ERR_STATE);
    ck_assert_int_eq(x400i_ses_input(p.i.s, (const uint8_t *)"\x01\x00", 2), X400_ERR_CLOSED);
    pair_free(&p);
}
END_TEST

static void versions_case(int vi, int vr, int want_version, int want_refuse_reason)
{
    pair p;
    x400i_ses_config ci, cr;
    memset(&ci, 0, sizeof ci);
    memset(&cr, 0, sizeof cr);
    ci.versions = vi;
    cr.versions = vr;
    pair_init(&p, &ci, &cr);
    p.r.auto_respond = 1;
    ck_assert_int_eq(x400i_ses_connect_req(p.i.s, NULL, 0), 0);
    pump(&p);
    if (want_refuse_reason) {
        ck_assert_int_eq(p.i.last.type, X400I_SES_CONNECT_CONF);
        ck_assert_int_eq(p.i.last.accepted, 0);
        ck_assert_int_eq(p.i.last.reason, want_refuse_reason);
        ck_assert_int_eq(p.r.nind, 0); /* refused by the SPM, the user never saw it */
        ck_assert_int_eq(x400i_ses_diag(p.r.s)->reason, want_refuse_reason);
    } else {
        ck_assert_int_eq(x400i_ses_version(p.i.s), want_version);
        ck_assert_int_eq(x400i_ses_version(p.r.s), want_version);
    }
    pair_free(&p);
}

START_TEST(version_negotiation)
{
    versions_case(0, 0, 2, 0); /* default: v1+v2 offered and accepted, 2 chosen */
    versions_case(0, 1, 1, 0); /* a responder of version 1 only: the peer's choice of 1 */
    versions_case(3, 0, 2, 0); /* both offered: 2 chosen */
    versions_case(1, 0, 1, 0); /* only v1 offered: v1 */
    versions_case(1, 2, 0, 0x84); /* v1 offered, v2 only accepted: RF 0x84 */
}
END_TEST

START_TEST(selector_and_choice_tokens)
{
    static const uint8_t sel[] = { 'S', '1' };
    pair p;
    x400i_ses_config ci, cr;
    memset(&ci, 0, sizeof ci);
    memset(&cr, 0, sizeof cr);
    cr.called_ssel = sel;
    cr.called_ssel_len = 2;
    /* wrong selector: RF 0x81 */
    ci.called_ssel = (const uint8_t *)"S2";
    ci.called_ssel_len = 2;
    pair_init(&p, &ci, &cr);
    ck_assert_int_eq(x400i_ses_connect_req(p.i.s, NULL, 0), 0);
    pump(&p);
    ck_assert_int_eq(p.i.last.accepted, 0);
    ck_assert_int_eq(p.i.last.reason, 0x81);
    pair_free(&p);
    /* right selector; data token at the called user's choice (setting 2) */
    ci.called_ssel = sel;
    ci.token_setting = 0x02;
    pair_init(&p, &ci, &cr);
    ck_assert_int_eq(x400i_ses_connect_req(p.i.s, NULL, 0), 0);
    pump(&p);
    ck_assert_int_eq(x400i_ses_connect_rsp(p.r.s, 1, 0, X400I_TOKEN_DATA, NULL, 0), 0);
    pump(&p);
    ck_assert_int_eq(x400i_ses_tokens_held(p.r.s), X400I_TOKEN_DATA);
    ck_assert_int_eq(x400i_ses_tokens_held(p.i.s), X400I_TOKEN_MINOR | X400I_TOKEN_MAJOR);
    ck_assert_int_eq(p.i.last.called_ssel.len, 2);
    pair_free(&p);
}
END_TEST

static void connect_pair(pair *p)
{
    pair_init(p, NULL, NULL);
    p->r.auto_respond = 1;
    ck_assert_int_eq(x400i_ses_connect_req(p->i.s, NULL, 0), 0);
    pump(p);
    ck_assert_int_eq(x400i_ses_state(p->i.s), X400I_SES_ST_DATA);
}

/* ---- aborts ------------------------------------------------------------- */

START_TEST(user_abort)
{
    pair p;
    connect_pair(&p);
    ck_assert_int_eq(x400i_ses_activity_start_req(p.i.s, (const uint8_t *)"\x01", 1, NULL, 0), 0);
    ck_assert_int_eq(x400i_ses_u_abort_req(p.i.s, (const uint8_t *)"abrt", 4), 0);
    ck_assert_int_eq(x400i_ses_state(p.i.s), X400I_SES_ST_CLOSED);
    ck_assert_int_eq(p.i.disconnected, 1);
    pump(&p);
    ck_assert_int_eq(p.r.last.type, X400I_SES_U_ABORT_IND);
    ck_assert_mem_eq(p.r.last_ud, "abrt", 4);
    ck_assert_int_eq(p.r.last.reason, X400I_TDISC_RELEASED | X400I_TDISC_USER_ABORT);
    ck_assert_int_eq(x400i_ses_state(p.r.s), X400I_SES_ST_CLOSED);
    ck_assert_int_eq(p.r.disconnected, 1);
    pair_free(&p);
}
END_TEST

START_TEST(transport_lost_and_callback_failure)
{
    pair p;
    connect_pair(&p);
    x400i_ses_transport_lost(p.r.s);
    ck_assert_int_eq(p.r.last.type, X400I_SES_P_ABORT_IND);
    ck_assert_int_eq(x400i_ses_state(p.r.s), X400I_SES_ST_CLOSED);
    x400i_ses_transport_lost(p.r.s); /* idempotent */
    ck_assert_int_eq(count_ind(&p.r, X400I_SES_P_ABORT_IND), 1);
    pair_free(&p);
    /* an indication callback failing makes the SPM abort */
    connect_pair(&p);
    p.r.fail_indication = 1;
    ck_assert_int_eq(x400i_ses_activity_start_req(p.i.s, (const uint8_t *)"\x01", 1, NULL, 0), 0);
    ck_assert_int_eq(pump(&p), X400_ERR_CALLBACK_FAILURE);
    ck_assert_int_eq(x400i_ses_state(p.r.s), X400I_SES_ST_CLOSED);
    ck_assert_int_eq(x400i_ses_state(p.i.s), X400I_SES_ST_CLOSED);
    ck_assert_int_eq(p.i.last.type, X400I_SES_P_ABORT_IND);
    pair_free(&p);
}
END_TEST

/* ---- invalid requests ----------------------------------------------------- */

static void expect_state_err(x400i_ses *s, int rc, const char *want1, const char *want2)
{
    const x400_diag *d = x400i_ses_diag(s);
    ck_assert_int_eq(rc, X400_ERR_STATE);
    ck_assert_int_eq(d->source, X400_SOURCE_LOCAL);
    ck_assert_msg(strstr(d->text, want1) != NULL, "diag \"%s\" lacks \"%s\"", d->text, want1);
    ck_assert_msg(!want2 || strstr(d->text, want2) != NULL, "diag \"%s\" lacks \"%s\"", d->text, want2);
}

START_TEST(invalid_requests)
{
    pair p;
    uint32_t serial;
    connect_pair(&p);
    /* the responder holds no token */
    expect_state_err(p.r.s, x400i_ses_data_req(p.r.s, (const uint8_t *)"x", 1),
                     "S-DATA request not allowed in state STA713 (data transfer)", "data token is not held");
    expect_state_err(p.r.s, x400i_ses_minor_sync_req(p.r.s, 1, NULL, 0, &serial), "S-SYNC-MINOR request",
                     "minor-sync token");
    expect_state_err(p.r.s, x400i_ses_activity_start_req(p.r.s, (const uint8_t *)"\x01", 1, NULL, 0),
                     "S-ACTIVITY-START request", "major/activity token");
    expect_state_err(p.r.s, x400i_ses_token_give_req(p.r.s, X400I_TOKEN_DATA), "S-TOKEN-GIVE request",
                     "not held");
    expect_state_err(p.r.s, x400i_ses_release_req(p.r.s, NULL, 0), "S-RELEASE request", "tokens");
    expect_state_err(p.i.s, x400i_ses_token_please_req(p.i.s, X400I_TOKEN_DATA, NULL, 0),
                     "S-TOKEN-PLEASE request", "already held");
    expect_state_err(p.i.s, x400i_ses_u_exception_req(p.i.s, 1, NULL, 0), "S-U-EXCEPTION-REPORT request",
                     "without the data token");
    /* responses without their indication: the table refuses them */
    expect_state_err(p.i.s, x400i_ses_activity_end_rsp(p.i.s, NULL, 0),
                     "S-ACTIVITY-END response not allowed in state STA713", NULL);
    expect_state_err(p.i.s, x400i_ses_release_rsp(p.i.s, NULL, 0), "S-RELEASE response", NULL);
    expect_state_err(p.i.s, x400i_ses_connect_req(p.i.s, NULL, 0), "S-CONNECT request", NULL);
    expect_state_err(p.i.s, x400i_ses_minor_sync_rsp(p.i.s, 7, NULL, 0), "S-SYNC-MINOR response",
                     "not an unconfirmed sync point");
    /* minor sync outside an activity (activity management selected) */
    expect_state_err(p.i.s, x400i_ses_minor_sync_req(p.i.s, 1, NULL, 0, &serial), "S-SYNC-MINOR request",
                     "no activity");
    /* inside an activity: no release, no second start */
    ck_assert_int_eq(x400i_ses_activity_start_req(p.i.s, (const uint8_t *)"\x01", 1, NULL, 0), 0);
    expect_state_err(p.i.s, x400i_ses_release_req(p.i.s, NULL, 0), "S-RELEASE request", "activity is in progress");
    expect_state_err(p.i.s, x400i_ses_activity_start_req(p.i.s, (const uint8_t *)"\x02", 1, NULL, 0),
                     "S-ACTIVITY-START", "already in progress");
    ck_assert_int_eq(x400i_ses_activity_end_req(p.i.s, NULL, 0, &serial), 0);
    /* while waiting for AEA: no data */
    expect_state_err(p.i.s, x400i_ses_data_req(p.i.s, (const uint8_t *)"x", 1),
                     "S-DATA request not allowed in state STA04B (wait for AEA)", NULL);
    ck_assert_int_eq(x400i_ses_state(p.i.s), X400I_SES_ST_WAIT_AEA);
    pump(&p);
    ck_assert_int_eq(x400i_ses_state(p.i.s), X400I_SES_ST_DATA);
    /* user data above the bound */
    {
        static uint8_t big[600];
        x400i_ses *s1;
        x400i_ses_config c;
        x400i_ses_callbacks cb = { &p.i, cb_send, cb_ind, cb_disc };
        memset(&c, 0, sizeof c);
        c.max_user_data = 100;
        ck_assert_int_eq(x400i_ses_new(&s1, 1, &c, &cb, NULL, NULL), 0);
        ck_assert_int_eq(x400i_ses_connect_req(s1, big, 101), X400_ERR_TOO_LONG);
        ck_assert_int_eq(x400i_ses_state(s1), X400I_SES_ST_IDLE);
        x400i_ses_free(s1);
    }
    pair_free(&p);
}
END_TEST

/* ---- invalid SPDUs --------------------------------------------------------- */

/* Feed `hex` to the responder of a connected pair (after `setup`) and
 * require AB (protocol error) towards the peer, S-P-ABORT with `want`. */
static void expect_peer_error(const uint8_t *t, size_t n, int in_activity, const char *want)
{
    pair p;
    int rc;
    connect_pair(&p);
    if (in_activity) {
        ck_assert_int_eq(x400i_ses_activity_start_req(p.i.s, (const uint8_t *)"\x01", 1, NULL, 0), 0);
        pump(&p);
    }
    rc = x400i_ses_input(p.r.s, t, n);
    ck_assert_int_lt(rc, 0);
    ck_assert_int_eq(x400i_ses_state(p.r.s), X400I_SES_ST_CLOSED);
    ck_assert_int_eq(p.r.last.type, X400I_SES_P_ABORT_IND);
    ck_assert_msg(strstr(x400i_ses_diag(p.r.s)->text, want) != NULL, "diag \"%s\" lacks \"%s\"",
                  x400i_ses_diag(p.r.s)->text, want);
    ck_assert_ptr_nonnull(p.r.last.diag);
    /* AB with Transport Disconnect = released | protocol error went out */
    ck_assert_uint_eq(p.r.se.n, 1);
    ck_assert_int_eq(p.r.se.q[0].len, 5);
    ck_assert_mem_eq(p.r.se.q[0].p, "\x19\x03\x11\x01\x05", 5);
    ck_assert_int_eq(p.r.disconnected, 1);
    pump(&p);
    ck_assert_int_eq(p.i.last.type, X400I_SES_P_ABORT_IND);
    ck_assert_int_eq(x400i_ses_state(p.i.s), X400I_SES_ST_CLOSED);
    pair_free(&p);
}

START_TEST(invalid_spdus)
{
#define T(s) (const uint8_t *)(s), sizeof(s) - 1
    /* out of state */
    expect_peer_error(T("\x0e\x00"), 0, "AC SPDU not allowed in state STA713 (data transfer)");
    expect_peer_error(T("\x0d\x00"), 0, "CN SPDU not allowed in state STA713");
    expect_peer_error(T("\x0a\x00"), 0, "DN SPDU not allowed in state STA713");
    expect_peer_error(T("\x02\x00\x2a\x03\x2a\x01\x31"), 1, "MAA/AEA SPDU not allowed");
    expect_peer_error(T("\x02\x00\x1a\x00"), 1, "AIA SPDU not allowed");
    expect_peer_error(T("\x08\x00"), 0, "NF SPDU not allowed");
    /* tokens: the responder holds them all? no: the peer (initiator) does.
     * Here the initiator's SPM fed a GT+DT as if the responder sent data:
     * the responder receives its own kind of SPDU from a peer holding tokens,
     * which is legal; so instead: a PT for a token the responder lacks. */
    expect_peer_error(T("\x02\x03\x10\x01\x01"), 0, "PT SPDU not allowed in state STA713 (data transfer): PT asks for a token the peer already holds");
    /* a GT giving a token the responder already... lacks: the peer holds the
     * data token, so GT with release token (not available) is an error */
    expect_peer_error(T("\x01\x03\x10\x01\x40"), 0, "not available");
    /* serial numbers */
    expect_peer_error(T("\x01\x00\x31\x03\x2a\x01\x35"), 1, "serial number 5, expected V(M)=1");
    expect_peer_error(T("\x01\x00\x31\x03\x2a\x01\x31"), 0, "MIP outside an activity");
    expect_peer_error(T("\x01\x00\x29\x03\x2a\x01\x37"), 1, "serial number 7, expected V(M)=1");
    expect_peer_error(T("\x02\x00\x32\x03\x2a\x01\x31"), 1, "confirms no outstanding sync point");
    expect_peer_error(T("\x01\x00\x2d\x03\x29\x01\x07"), 1, "already in progress");
    expect_peer_error(T("\x01\x00\x19\x00"), 0, "no activity in progress");
    expect_peer_error(T("\x02\x00\x30\x03\x32\x01\x01"), 0, "ED from the holder of the data token");
    expect_peer_error(T("\x09\x00"), 1, "FN inside an activity");
    /* malformed: the codec's diagnostic */
    expect_peer_error(T("\x01\x00\x31\x02\x2a\x05"), 1, "runs past the end of its SPDU");
    expect_peer_error(T("\x31\x00"), 0, "not preceded by a category 0 SPDU");
    expect_peer_error(T("\x35\x00"), 0, "RESYNCHRONIZE (RS) SPDU (SI 53) not supported");
    expect_peer_error(T(""), 0, "empty TSDU");
    /* X.225 6.3.7 pairing: an acknowledging SPDU behind GT, an initiating
     * one behind PT (ISODE: "not expecting 0x2a to be concatenated after
     * 0x1"); a PT alone without Token Item */
    expect_peer_error(T("\x01\x00\x2a\x03\x2a\x01\x31"), 1,
                      "MAA/AEA SPDU (SI 42) may not be concatenated after GT");
    expect_peer_error(T("\x02\x00\x01\x00xyz"), 0, "DT SPDU (SI 1) may not be concatenated after PT");
    expect_peer_error(T("\x02\x00"), 0, "PT without Token Item");
#undef T
}
END_TEST

/* Tokens used by the peer without holding them: the initiator gives the
 * data token, then (as a rogue peer) keeps sending DT. */
START_TEST(dt_without_data_token)
{
    pair p;
    x400i_spdu dt;
    x400i_buf b;
    x400_diag d;
    connect_pair(&p);
    ck_assert_int_eq(x400i_ses_activity_start_req(p.i.s, (const uint8_t *)"\x01", 1, NULL, 0), 0);
    ck_assert_int_eq(x400i_ses_token_give_req(p.i.s, X400I_TOKEN_DATA), 0);
    pump(&p);
    memset(&dt, 0, sizeof dt);
    dt.type = X400I_SPDU_DT;
    dt.present = X400I_SP_USER_DATA;
    dt.user_data.p = (const uint8_t *)"rogue";
    dt.user_data.len = 5;
    x400i_buf_init(&b, NULL, 0);
    ck_assert_int_eq(x400i_spdu_encode_tsdu(&b, &dt, &d), 0);
    ck_assert_int_eq(x400i_ses_input(p.r.s, b.p, b.len), X400_ERR_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(x400i_ses_diag(p.r.s)->text, "DT from a peer without the data token"));
    ck_assert_int_eq(count_ind(&p.r, X400I_SES_DATA_IND), 0);
    x400i_buf_free(&b);
    pair_free(&p);
}
END_TEST

/* Exceptions: the receiver (no data token) reports; the sender recovers by
 * interrupting the activity; and by giving the data token. */
START_TEST(exception_report_and_recovery)
{
    pair p;
    connect_pair(&p);
    ck_assert_int_eq(x400i_ses_activity_start_req(p.i.s, (const uint8_t *)"\x01", 1, NULL, 0), 0);
    pump(&p);
    p.r.auto_respond = 0;
    ck_assert_int_eq(x400i_ses_u_exception_req(p.r.s, 128, (const uint8_t *)"why", 3), 0);
    ck_assert_int_eq(x400i_ses_state(p.r.s), X400I_SES_ST_WAIT_RECOVERY_SPDU);
    ck_assert_int_eq(x400i_ses_data_req(p.i.s, (const uint8_t *)"late", 4), 0); /* crosses the ED */
    pump(&p);
    ck_assert_int_eq(count_ind(&p.r, X400I_SES_DATA_IND), 0); /* discarded in STA20 */
    ck_assert_int_eq(p.i.last.type, X400I_SES_U_EXCEPTION_IND);
    ck_assert_int_eq(p.i.last.reason, 128);
    ck_assert_mem_eq(p.i.last_ud, "why", 3);
    ck_assert_int_eq(x400i_ses_state(p.i.s), X400I_SES_ST_WAIT_RECOVERY_REQ);
    expect_state_err(p.i.s, x400i_ses_data_req(p.i.s, (const uint8_t *)"x", 1), "STA19", NULL);
    ck_assert_int_eq(x400i_ses_activity_interrupt_req(p.i.s, 1), 0);
    pump(&p);
    ck_assert_int_eq(p.r.last.type, X400I_SES_ACT_INTERRUPT_IND);
    ck_assert_int_eq(x400i_ses_activity_interrupt_rsp(p.r.s), 0);
    pump(&p);
    ck_assert_int_eq(x400i_ses_state(p.i.s), X400I_SES_ST_DATA);
    ck_assert_int_eq(x400i_ses_state(p.r.s), X400I_SES_ST_DATA);
    /* second round: recovery by giving the data token */
    ck_assert_int_eq(x400i_ses_activity_start_req(p.i.s, (const uint8_t *)"\x02", 1, NULL, 0), 0);
    pump(&p);
    ck_assert_int_eq(x400i_ses_u_exception_req(p.r.s, 128, NULL, 0), 0);
    pump(&p);
    expect_state_err(p.i.s, x400i_ses_token_give_req(p.i.s, X400I_TOKEN_MINOR), "S-TOKEN-GIVE", "data token");
    ck_assert_int_eq(x400i_ses_token_give_req(p.i.s, X400I_TOKEN_DATA), 0);
    pump(&p);
    ck_assert_int_eq(x400i_ses_state(p.r.s), X400I_SES_ST_DATA);
    ck_assert_int_eq(x400i_ses_tokens_held(p.r.s), X400I_TOKEN_DATA);
    ck_assert_int_eq(x400i_ses_data_req(p.r.s, (const uint8_t *)"ok", 2), 0);
    pump(&p);
    ck_assert_int_eq(p.i.last.type, X400I_SES_DATA_IND);
    pair_free(&p);
}
END_TEST

/* S-CONTROL-GIVE: GTC / GTA outside an activity. */
START_TEST(control_give)
{
    pair p;
    connect_pair(&p);
    ck_assert_int_eq(x400i_ses_control_give_req(p.i.s), 0);
    ck_assert_int_eq(x400i_ses_state(p.i.s), X400I_SES_ST_WAIT_GTA);
    pump(&p);
    ck_assert_int_eq(p.r.last.type, X400I_SES_CONTROL_GIVE_IND);
    ck_assert_int_eq(x400i_ses_tokens_held(p.r.s), X400I_TOKEN_DATA | X400I_TOKEN_MINOR | X400I_TOKEN_MAJOR);
    ck_assert_int_eq(x400i_ses_tokens_held(p.i.s), 0);
    ck_assert_int_eq(x400i_ses_state(p.i.s), X400I_SES_ST_DATA);
    /* now the responder may release */
    ck_assert_int_eq(x400i_ses_release_req(p.r.s, NULL, 0), 0);
    p.i.auto_respond = 1;
    pump(&p);
    ck_assert_int_eq(x400i_ses_state(p.r.s), X400I_SES_ST_CLOSED);
    ck_assert_int_eq(count_ind(&p.r, X400I_SES_RELEASE_CONF), 1);
    pair_free(&p);
}
END_TEST

/* The table is complete for naming: every state and event has a name, and
 * the closed state accepts nothing. */
/* The first TSDU an end queued, decoded (it must be a single SPDU). */
static x400i_spdu queued_spdu(const end *e, int k)
{
    x400i_spdu o[2];
    x400_diag d;
    ck_assert_uint_gt(e->se.n, (size_t)k);
    ck_assert_msg(x400i_spdu_decode_tsdu(e->se.q[k].p, e->se.q[k].len, 0, o, &d) == 1, "%s", d.text);
    return o[0];
}

/* Default configurations, the initiator's with the MTA's references
 * (calling "MTAX", common UTCTime), as PP's CN carries them. */
static void mta_refs(x400i_ses_config *ci, x400i_ses_config *cr)
{
    memset(ci, 0, sizeof *ci);
    memset(cr, 0, sizeof *cr);
    ci->calling_ref = MTA_REF;
    ci->calling_ref_len = 4;
    ci->common_ref = UTC;
    ci->common_ref_len = 13;
}

/* A pair whose initiator's CN has reached the responder. */
static void connect_with_refs(pair *p, const x400i_ses_config *ci, const x400i_ses_config *cr)
{
    pair_init(p, ci, cr);
    ck_assert_int_eq(x400i_ses_connect_req(p->i.s, NULL, 0), 0);
    pump(p);
}

/* AC, X.225 8.3.4: the Connection Identifier holds the Called SS-user
 * Reference, here the initiator's reference echoed, as PP's AC does
 * (test/interop/pp-resp-1988-twa-message.txt frame 26); no Calling SS-user
 * Reference.  The initiator reports its own reference as the calling one. */
START_TEST(ac_echoes_reference_as_called)
{
    pair p;
    x400i_ses_config ci, cr;
    x400i_spdu ac;
    mta_refs(&ci, &cr);
    cr.calling_ref = (const uint8_t *)"RESP";
    cr.calling_ref_len = 4;
    connect_with_refs(&p, &ci, &cr);
    ck_assert_int_eq(x400i_ses_connect_rsp(p.r.s, 1, 0, 0, NULL, 0), 0);
    ac = queued_spdu(&p.r, 0);
    ck_assert_int_eq(ac.type, X400I_SPDU_AC);
    ck_assert_uint_eq(ac.present & (X400I_SP_CONN_ID | X400I_SP_CALLED_REF | X400I_SP_CALLING_REF |
                                    X400I_SP_COMMON_REF), X400I_SP_CONN_ID | X400I_SP_CALLED_REF |
                                    X400I_SP_COMMON_REF);
    ck_assert_uint_eq(ac.called_ref.len, 4);
    ck_assert_mem_eq(ac.called_ref.p, "MTAX", 4);
    ck_assert_mem_eq(ac.common_ref.p, UTC, 13);
    /* PP's layout: 0e LI 01 LI 09 04 "MTAX" 0b 0d UTC ... */
    ck_assert_mem_eq(p.r.se.q[0].p + 2, "\x01\x15\x09\x04MTAX\x0b\x0d", 10);
    pump(&p);
    ck_assert_int_eq(p.i.last.type, X400I_SES_CONNECT_CONF);
    ck_assert_int_eq(p.i.last.accepted, 1);
    pair_free(&p);
}
END_TEST

/* REFUSE, X.225 8.3.5: with the Connection Identifier (as PP's), from the
 * user (reason 2 + data) and from the SPM (0x84 with our Version Number). */
START_TEST(rf_carries_connection_identifier)
{
    pair p;
    x400i_ses_config ci, cr;
    x400i_spdu rf;
    mta_refs(&ci, &cr);
    connect_with_refs(&p, &ci, &cr);
    ck_assert_int_eq(x400i_ses_connect_rsp(p.r.s, 0, 2, 0, (const uint8_t *)"cpr", 3), 0);
    rf = queued_spdu(&p.r, 0);
    ck_assert_int_eq(rf.type, X400I_SPDU_RF);
    ck_assert(rf.present & X400I_SP_CALLED_REF);
    ck_assert_mem_eq(rf.called_ref.p, "MTAX", 4);
    ck_assert_mem_eq(rf.common_ref.p, UTC, 13);
    ck_assert_uint_eq(rf.reason, 2);
    ck_assert_mem_eq(rf.user_data.p, "cpr", 3);
    pump(&p);
    ck_assert_int_eq(p.i.last.accepted, 0);
    ck_assert_int_eq(p.i.last.reason, 2);
    pair_free(&p);
    /* the SPM refuses a version-1-only CN when it implements version 2 only */
    ci.versions = X400I_SES_V1;
    cr.versions = X400I_SES_V2;
    pair_init(&p, &ci, &cr);
    ck_assert_int_eq(x400i_ses_connect_req(p.i.s, NULL, 0), 0);
    ck_assert_int_eq(x400i_ses_input(p.r.s, p.i.se.q[0].p, p.i.se.q[0].len), 0);
    rf = queued_spdu(&p.r, 0);
    ck_assert_uint_eq(rf.reason, 0x84);
    ck_assert(rf.present & X400I_SP_VERSION);
    ck_assert_uint_eq(rf.version, X400I_SES_V2);
    ck_assert_mem_eq(rf.called_ref.p, "MTAX", 4);
    pair_free(&p);
}
END_TEST

/* What PP sends, fed to our SPM: its REFUSE of a recovery (Connection
 * Identifier, reason 2 with a CPR) and its PT + AEA. */
struct first_rf { uint8_t b[512]; size_t n; };
static int grab_rf(void *user, int from_initiator, const uint8_t *t, size_t n)
{
    struct first_rf *f = user;
    if (!from_initiator && n && t[0] == 12 && !f->n && n <= sizeof f->b) {
        memcpy(f->b, t, n);
        f->n = n;
    }
    return 0;
}

START_TEST(pp_rf_and_pt_aea)
{
    static const uint8_t pt_aea[] = { 0x02, 0x00, 0x2a, 0x03, 0x2a, 0x01, 0x31 };
    struct first_rf f;
    char err[1200];
    pair p;
    uint32_t serial;
    memset(&f, 0, sizeof f);
    ck_assert_msg(x400t_interop_tsdus("pp-resp-1988-twa-recover-refused", grab_rf, &f, err, sizeof err) > 0, "%s",
                  err);
    ck_assert_uint_gt(f.n, 80);
    pair_init(&p, NULL, NULL);
    ck_assert_int_eq(x400i_ses_connect_req(p.i.s, NULL, 0), 0);
    ck_assert_msg(x400i_ses_input(p.i.s, f.b, f.n) == 0, "%s", x400i_ses_diag(p.i.s)->text);
    ck_assert_int_eq(p.i.last.type, X400I_SES_CONNECT_CONF);
    ck_assert_int_eq(p.i.last.accepted, 0);
    ck_assert_int_eq(p.i.last.reason, 2);
    ck_assert_uint_eq(p.i.last.user_data_len, 82);  /* the CPR */
    ck_assert_int_eq(x400i_ses_diag(p.i.s)->code, X400_ERR_REFUSED);
    pair_free(&p);

    connect_pair(&p);
    p.r.auto_respond = 0;
    ck_assert_int_eq(x400i_ses_activity_start_req(p.i.s, (const uint8_t *)"\x01", 1, NULL, 0), 0);
    ck_assert_int_eq(x400i_ses_activity_end_req(p.i.s, NULL, 0, &serial), 0);
    ck_assert_uint_eq(serial, 1);
    pump(&p);
    ck_assert_int_eq(p.r.last.type, X400I_SES_ACT_END_IND);
    ck_assert_int_eq(x400i_ses_activity_end_rsp(p.r.s, NULL, 0), 0);
    /* our AEA is PP's, byte for byte: PT without parameters in front */
    ck_assert_uint_eq(p.r.se.n, 1);
    ck_assert_uint_eq(p.r.se.q[0].len, sizeof pt_aea);
    ck_assert_mem_eq(p.r.se.q[0].p, pt_aea, sizeof pt_aea);
    x400t_ses_end_flush(&p.r.se);
    /* and PP's AEA confirms our activity end */
    ck_assert_msg(x400i_ses_input(p.i.s, pt_aea, sizeof pt_aea) == 0, "%s", x400i_ses_diag(p.i.s)->text);
    ck_assert_int_eq(p.i.last.type, X400I_SES_ACT_END_CONF);
    ck_assert_int_eq(x400i_ses_state(p.i.s), X400I_SES_ST_DATA);
    pair_free(&p);
}
END_TEST

/* Versions: both offered by default, version 2 alone with more than 512
 * octets of CN user data; version 1's limits applied once it is chosen
 * (X.225 8.3: 512 octets of user data outside DT, 9 in AB). */
START_TEST(version1_limits)
{
    static uint8_t big[1024];
    pair p;
    x400i_ses_config ci, cr;
    x400i_spdu cn;
    memset(&ci, 0, sizeof ci);
    memset(&cr, 0, sizeof cr);
    pair_init(&p, NULL, NULL);
    ck_assert_int_eq(x400i_ses_connect_req(p.i.s, NULL, 0), 0);
    cn = queued_spdu(&p.i, 0);
    ck_assert_uint_eq(cn.version, X400I_SES_V1 | X400I_SES_V2);
    pair_free(&p);
    pair_init(&p, NULL, NULL);
    ck_assert_int_eq(x400i_ses_connect_req(p.i.s, big, 600), 0);
    cn = queued_spdu(&p.i, 0);
    ck_assert_uint_eq(cn.version, X400I_SES_V2);
    pair_free(&p);
    ci.versions = X400I_SES_V1;
    pair_init(&p, &ci, NULL);
    ck_assert_int_eq(x400i_ses_connect_req(p.i.s, big, 600), X400_ERR_TOO_LONG);
    ck_assert_int_eq(x400i_ses_connect_req(p.i.s, big, 512), 0);
    pair_free(&p);
    /* version 1 chosen by the responder */
    cr.versions = X400I_SES_V1;
    pair_init(&p, NULL, &cr);
    p.r.auto_respond = 1;
    ck_assert_int_eq(x400i_ses_connect_req(p.i.s, NULL, 0), 0);
    pump(&p);
    ck_assert_int_eq(x400i_ses_version(p.i.s), 1);
    ck_assert_int_eq(x400i_ses_data_req(p.i.s, big, sizeof big), 0);   /* DT: no limit */
    ck_assert_int_eq(x400i_ses_activity_start_req(p.i.s, (const uint8_t *)"\x01", 1, big, 513), X400_ERR_TOO_LONG);
    ck_assert_int_eq(x400i_ses_activity_start_req(p.i.s, (const uint8_t *)"\x01", 1, big, 512), 0);
    pump(&p);
    ck_assert_int_eq(x400i_ses_u_abort_req(p.i.s, big, 10), X400_ERR_TOO_LONG);
    ck_assert_int_eq(x400i_ses_u_abort_req(p.i.s, big, 9), 0);
    pump(&p);
    ck_assert_int_eq(p.r.last.type, X400I_SES_U_ABORT_IND);
    ck_assert_uint_eq(p.r.last.user_data_len, 9);
    pair_free(&p);
}
END_TEST

/* The strict peer itself: it catches a GT in front of an AEA (what
 * x400p1 sent and ISODE refused), parameters not allowed in an SPDU (the
 * Calling SS-user Reference x400p1 put in its AC, a Token Item in RF), a
 * missing mandatory one, and version 1 breaches; and it passes PP's own
 * TSDUs (check_spdu interop_vectors). */
START_TEST(strict_peer_catches)
{
    static const struct { const char *hex; int from_ini; const char *want; } bad[] = {
        { "01002a032a0131", 0, "MAA/AEA (SI 42) concatenated after GT" },
        { "0e0801060a044d544158", 0, "PI 10 is not allowed in PGI 1 of AC" },
        { "0c06100101320100", 0, "parameter 16 is not allowed in RF" },
        { "0c03110101", 0, "RF: mandatory parameter 50 missing" },
        { "0d03100101", 1, "parameter 16 is not allowed in CN" },
        { "0d00", 0, "CN sent by the responder" },
        { "2a032a0131", 0, "MAA/AEA SPDU (SI 42) without a category 0 SPDU in front" },
        { "02000100aa", 1, "DT (SI 1) concatenated after PT" },
        { "0900aa", 1, "FN (category 1) followed by 1 octets" },
        { "1903c10100", 1, "mandatory parameter 17 missing" },
        { "0100010319010300", 1, "" },  /* DT with an Enclosure Item: fine in version 2 */
        { "01003103", 1, "runs past" },
    };
    char err[512];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t b[64];
        size_t n = 0;
        const char *h = bad[i].hex;
        for (; h[0] && h[1]; h += 2) {
            unsigned v;
            sscanf(h, "%2x", &v);
            b[n++] = (uint8_t)v;
        }
        if (!bad[i].want[0]) {
            ck_assert_msg(x400t_strict_tsdu(b, n, bad[i].from_ini, err, sizeof err) == 0, "%s: %s", bad[i].hex, err);
            continue;
        }
        ck_assert_msg(x400t_strict_tsdu(b, n, bad[i].from_ini, err, sizeof err) == -1, "%s passed", bad[i].hex);
        ck_assert_msg(strstr(err, bad[i].want) != NULL, "%s: \"%s\" lacks \"%s\"", bad[i].hex, err, bad[i].want);
    }
    /* conversation state: version 1 from the AC on */
    {
        x400t_strict st;
        static const uint8_t cn[] = { 0x0d, 0x05, 0x05, 0x03, 0x16, 0x01, 0x01 };
        static const uint8_t ac[] = { 0x0e, 0x05, 0x05, 0x03, 0x16, 0x01, 0x01 };
        static const uint8_t ab10[] = { 0x19, 0x0f, 0x11, 0x01, 0x03, 0xc1, 0x0a, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
        static const uint8_t dt_encl[] = { 0x01, 0x00, 0x01, 0x03, 0x19, 0x01, 0x03, 0x00 };
        static const uint8_t dt[] = { 0x01, 0x00, 0x01, 0x00, 0x00 };
        x400t_strict_init(&st);
        ck_assert_int_eq(x400t_strict_check(&st, 1, dt, sizeof dt), -1);  /* no CN yet */
        ck_assert_msg(strstr(st.err, "first TSDU is not a CN"), "%s", st.err);
        ck_assert_int_eq(x400t_strict_check(&st, 1, cn, sizeof cn), 0);
        ck_assert_int_eq(x400t_strict_check(&st, 0, ac, sizeof ac), 0);
        ck_assert_int_eq(st.version, 1);
        ck_assert_int_eq(x400t_strict_check(&st, 1, dt, sizeof dt), 0);
        ck_assert_int_eq(x400t_strict_check(&st, 1, dt_encl, sizeof dt_encl), -1);
        ck_assert_msg(strstr(st.err, "Enclosure Item in protocol version 1"), "%s", st.err);
        ck_assert_int_eq(x400t_strict_check(&st, 1, ab10, sizeof ab10), -1);
        ck_assert_msg(strstr(st.err, "10 octets of user data in protocol version 1"), "%s", st.err);
        x400t_strict_free(&st);
    }
}
END_TEST

/* ---- PP's conversations replayed against our SPM ------------------------- */

#define MAXT 32
struct conv { x400t_tsdu t[MAXT]; int dir[MAXT]; int n; };

static int conv_add(void *user, int from_initiator, const uint8_t *p, size_t n)
{
    struct conv *c = user;
    ck_assert_int_lt(c->n, MAXT);
    c->t[c->n].p = malloc(n ? n : 1);
    memcpy(c->t[c->n].p, p, n);
    c->t[c->n].len = n;
    c->dir[c->n++] = from_initiator;
    return 0;
}

static void conv_load(struct conv *c, const char *name)
{
    char err[1200];
    memset(c, 0, sizeof *c);
    ck_assert_msg(x400t_interop_tsdus(name, conv_add, c, err, sizeof err) > 0, "%s", err);
}

static void conv_free(struct conv *c)
{
    for (int i = 0; i < c->n; i++) free(c->t[i].p);
}

/* Every TSDU our end queued passes the strict peer; then it is dropped. */
static void drain_strict(end *e, const char *name)
{
    char err[512];
    for (size_t j = 0; j < e->se.n; j++)
        ck_assert_msg(x400t_strict_tsdu(e->se.q[j].p, e->se.q[j].len, e->initiator, err, sizeof err) == 0,
                      "%s: our TSDU: %s", name, err);
    x400t_ses_end_flush(&e->se);
}

/* Our responder takes the initiator's TSDUs of the file (PP's in pp-pp and
 * pp-init files); our initiator plays the file's initiator (the same
 * requests, built by our SPM) and takes the responder's TSDUs (PP's in
 * pp-pp and pp-resp files).  No protocol error either way. */
static void replay_responder(const char *name, int expect_release)
{
    struct conv c;
    pair p;
    conv_load(&c, name);
    pair_init(&p, NULL, NULL);
    p.r.auto_respond = 1;
    for (int i = 0; i < c.n; i++) {
        int rc;
        if (!c.dir[i]) continue;
        if (x400i_ses_state(p.r.s) == X400I_SES_ST_CLOSED) break;
        rc = x400i_ses_input(p.r.s, c.t[i].p, c.t[i].len);
        ck_assert_msg(rc == 0, "%s TSDU %d: %d %s", name, i, rc, x400i_ses_diag(p.r.s)->text);
        drain_strict(&p.r, name);
    }
    ck_assert_int_eq(count_ind(&p.r, X400I_SES_CONNECT_IND), 1);
    ck_assert_int_eq(count_ind(&p.r, X400I_SES_ACT_START_IND), 1);
    ck_assert_int_eq(count_ind(&p.r, X400I_SES_DATA_IND), 1);
    ck_assert_int_eq(count_ind(&p.r, X400I_SES_ACT_END_IND), 1);
    ck_assert_int_eq(count_ind(&p.r, X400I_SES_RELEASE_IND), expect_release);
    ck_assert_int_eq(count_ind(&p.r, X400I_SES_P_ABORT_IND), 0);
    pair_free(&p);
    conv_free(&c);
}

static void replay_initiator(const char *name, int want_ind)
{
    struct conv c;
    pair p;
    conv_load(&c, name);
    pair_init(&p, NULL, NULL);
    for (int i = 0; i < c.n; i++) {
        x400i_spdu o[2];
        x400_diag d;
        int n = x400i_spdu_decode_tsdu(c.t[i].p, c.t[i].len, X400I_SPDU_DEC_ACTIVITY, o, &d), rc = 0;
        const x400i_spdu *sp = &o[n - 1];
        uint32_t serial;
        ck_assert_msg(n > 0, "%s TSDU %d: %s", name, i, d.text);
        if (x400i_ses_state(p.i.s) == X400I_SES_ST_CLOSED) break;
        if (!c.dir[i]) {
            rc = x400i_ses_input(p.i.s, c.t[i].p, c.t[i].len);
            ck_assert_msg(rc == 0, "%s TSDU %d: %d %s", name, i, rc, x400i_ses_diag(p.i.s)->text);
            continue;
        }
        /* the initiator's request, made by our SPM */
        switch (sp->type) {
        case X400I_SPDU_CN: rc = x400i_ses_connect_req(p.i.s, sp->user_data.p, sp->user_data.len); break;
        case X400I_SPDU_AS:
            rc = x400i_ses_activity_start_req(p.i.s, sp->activity_id.p, sp->activity_id.len, NULL, 0);
            break;
        case X400I_SPDU_DT: rc = x400i_ses_data_req(p.i.s, sp->user_data.p, sp->user_data.len); break;
        case X400I_SPDU_AE: rc = x400i_ses_activity_end_req(p.i.s, NULL, 0, &serial); break;
        case X400I_SPDU_FN: rc = x400i_ses_release_req(p.i.s, sp->user_data.p, sp->user_data.len); break;
        case X400I_SPDU_AB: rc = x400i_ses_u_abort_req(p.i.s, sp->user_data.p, sp->user_data.len); break;
        default: ck_abort_msg("%s TSDU %d: no request for %s", name, i, x400i_spdu_name(sp->type));
        }
        ck_assert_msg(rc == 0, "%s TSDU %d (%s): %d %s", name, i, x400i_spdu_name(sp->type), rc,
                      x400i_ses_diag(p.i.s)->text);
        drain_strict(&p.i, name);
    }
    ck_assert_msg(count_ind(&p.i, want_ind) == 1, "%s: no indication %d", name, want_ind);
    ck_assert_int_eq(count_ind(&p.i, X400I_SES_P_ABORT_IND), 0);
    pair_free(&p);
    conv_free(&c);
}

START_TEST(interop_replay)
{
    /* PP as initiator */
    replay_responder("pp-pp-1988-twa", 1);
    replay_responder("pp-pp-1988-mon", 1);
    replay_responder("pp-pp-1984-twa", 1);
    replay_responder("pp-init-1988-twa-message", 0);
    replay_responder("pp-init-1988-monologue-ndr", 0);
    /* PP as responder */
    replay_initiator("pp-pp-1988-twa", X400I_SES_RELEASE_CONF);
    replay_initiator("pp-pp-1988-mon", X400I_SES_RELEASE_CONF);
    replay_initiator("pp-pp-1984-twa", X400I_SES_RELEASE_CONF);
    replay_initiator("pp-resp-1988-twa-message", X400I_SES_ACT_END_CONF);
    replay_initiator("pp-resp-1988-monologue-message", X400I_SES_ACT_END_CONF);
    replay_initiator("pp-resp-1984-twa-message", X400I_SES_ACT_END_CONF);
    replay_initiator("pp-resp-1988-twa-recover-refused", X400I_SES_CONNECT_CONF);
    replay_initiator("pp-resp-1984-twa-recover-refused", X400I_SES_U_ABORT_IND);
}
END_TEST

START_TEST(table_names)
{
    for (int st = 0; st < X400I_SES_ST_COUNT; st++) {
        ck_assert_str_ne(x400i_ses_state_name(st), "?");
        for (int e = 0; e < x400i_ses_event_count(); e++) {
            int next;
            ck_assert_str_ne(x400i_ses_event_name(e), "?");
            if (st == X400I_SES_ST_CLOSED) ck_assert_int_eq(x400i_ses_table_entry(st, e, &next), 0);
        }
    }
    ck_assert_str_eq(x400i_ses_state_name(99), "?");
}
END_TEST

Suite *x400t_suite_session(void)
{
    Suite *s = suite_create("session");
    TCase *tc = tcase_create("spm");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, full_exchange_and_tshark);
    tcase_add_test(tc, truncated_tsdus_abort_cleanly);
    tcase_add_test(tc, refusal);
    tcase_add_test(tc, version_negotiation);
    tcase_add_test(tc, selector_and_choice_tokens);
    tcase_add_test(tc, user_abort);
    tcase_add_test(tc, transport_lost_and_callback_failure);
    tcase_add_test(tc, invalid_requests);
    tcase_add_test(tc, invalid_spdus);
    tcase_add_test(tc, dt_without_data_token);
    tcase_add_test(tc, exception_report_and_recovery);
    tcase_add_test(tc, control_give);
    tcase_add_test(tc, table_names);
    tcase_add_test(tc, ac_echoes_reference_as_called);
    tcase_add_test(tc, rf_carries_connection_identifier);
    tcase_add_test(tc, pp_rf_and_pt_aea);
    tcase_add_test(tc, version1_limits);
    tcase_add_test(tc, strict_peer_catches);
    tcase_add_test(tc, interop_replay);
    suite_add_tcase(s, tc);
    return s;
}
