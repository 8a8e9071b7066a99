/* The association: transport + session stacked, two endpoints in one
 * process exchanging bytes, every exchange also fed split at every byte
 * offset, the wire checked by tshark, and bad input aborting cleanly. */
#include <string.h>

#include "assoc_int.h"
#include "internal.h"
#include "pair.h"
#include "support_strictpeer.h"
#include "wire.h"
#include "x400t.h"

/* ---- a harness upper layer (where RTSE sits): records indications,
 * answers what needs an answer through presentation pass-through ---- */

/* RTSE-shaped user information, so that tshark decodes it all:
 * RTORQ {checkpointSize 63, connectionDataRQ open = ROS bind-invoke
 * MTABindArgument unauthenticated} and RTOAC {63, bind-result}. */
static const uint8_t RTORQ[] = { 0xb0, 0x0b, 0x80, 0x01, 0x3f, 0xa3, 0x06, 0xa0, 0x04,
                                 0xb0, 0x02, 0x05, 0x00 };
static const uint8_t RTOAC[] = { 0xb1, 0x0b, 0x80, 0x01, 0x3f, 0xa2, 0x06, 0xa0, 0x04,
                                 0xb1, 0x02, 0x05, 0x00 };

#define MAXREC 64
struct side {
    x400_assoc *a;
    int types[MAXREC];          /* x400_pevent of each indication */
    int au[MAXREC];             /* x400i_rtse_lind_type */
    uint8_t ud[MAXREC][64];
    size_t udlen[MAXREC];
    uint32_t serial[MAXREC];
    uint8_t old_id[MAXREC][8];
    size_t old_id_len[MAXREC];
    int n;
    int events[8];
    int nev;
    const uint8_t *connect_ud;  /* the "RTORQ" the initiator sends in the AARQ */
    size_t connect_ud_len;
    int refuse;
};

static int count(const struct side *s, int type)
{
    int c = 0;
    for (int i = 0; i < s->n; i++) c += s->types[i] == type;
    return c;
}
static int last(const struct side *s) { return s->n ? s->types[s->n - 1] : -1; }

static int up_associate(void *u, x400_assoc *a)
{
    struct side *s = u;
    return x400i_assoc_associate_req(a, s->connect_ud, s->connect_ud_len);
}

/* The presentation event each RTSE lower indication stands for. */
static const int pev_of_lind[X400I_RTSE_LIND_COUNT] = {
    [X400I_RTSE_LIND_CONNECT] = X400_PEV_CONNECT_IND,
    [X400I_RTSE_LIND_CONNECT_CONF] = X400_PEV_CONNECT_CONF_ACCEPT,
    [X400I_RTSE_LIND_DATA] = X400_PEV_DATA_IND,
    [X400I_RTSE_LIND_MINOR_SYNC] = X400_PEV_SYNC_MINOR_IND,
    [X400I_RTSE_LIND_MINOR_SYNC_CONF] = X400_PEV_SYNC_MINOR_CONF,
    [X400I_RTSE_LIND_ACT_START] = X400_PEV_ACT_START_IND,
    [X400I_RTSE_LIND_ACT_RESUME] = X400_PEV_ACT_RESUME_IND,
    [X400I_RTSE_LIND_ACT_INTERRUPT] = X400_PEV_ACT_INTERRUPT_IND,
    [X400I_RTSE_LIND_ACT_DISCARD] = X400_PEV_ACT_DISCARD_IND,
    [X400I_RTSE_LIND_ACT_END] = X400_PEV_ACT_END_IND,
    [X400I_RTSE_LIND_ACT_END_CONF] = X400_PEV_ACT_END_CONF,
    [X400I_RTSE_LIND_TOKEN_PLEASE] = X400_PEV_TOKEN_PLEASE_IND,
    [X400I_RTSE_LIND_CONTROL_GIVE] = X400_PEV_CONTROL_GIVE_IND,
    [X400I_RTSE_LIND_RELEASE] = X400_PEV_RELEASE_IND,
    [X400I_RTSE_LIND_RELEASE_CONF] = X400_PEV_RELEASE_CONF,
    [X400I_RTSE_LIND_U_ABORT] = X400_PEV_U_ABORT_IND,
    [X400I_RTSE_LIND_P_ABORT] = X400_PEV_P_ABORT_IND,
};

static int up_ind(void *u, x400_assoc *a, const x400i_rtse_lind *ind)
{
    struct side *s = u;
    const x400i_rtse_lower *lo = x400i_assoc_lower(a);
    if (s->n < MAXREC) {
        size_t l = ind->apdu_len < 64 ? ind->apdu_len : 64;
        s->types[s->n] = pev_of_lind[ind->type];
        if (ind->type == X400I_RTSE_LIND_CONNECT_CONF && !ind->accepted)
            s->types[s->n] = X400_PEV_CONNECT_CONF_REFUSE;
        s->au[s->n] = ind->type;
        if (l) memcpy(s->ud[s->n], ind->apdu, l);
        s->udlen[s->n] = ind->apdu_len;
        s->serial[s->n] = ind->serial;
        l = ind->old_id_len < 8 ? ind->old_id_len : 0;
        if (l) memcpy(s->old_id[s->n], ind->old_id, l);
        s->old_id_len[s->n] = l;
        s->n++;
    }
    switch (ind->type) {
    case X400I_RTSE_LIND_CONNECT: return x400i_assoc_associate_rsp(a, !s->refuse, RTOAC, sizeof RTOAC);
    case X400I_RTSE_LIND_RELEASE: return x400i_assoc_release_rsp(a);
    case X400I_RTSE_LIND_MINOR_SYNC: return lo->minor_sync_rsp(a, ind->serial);
    case X400I_RTSE_LIND_ACT_END: return lo->activity_end_rsp(a);
    case X400I_RTSE_LIND_ACT_INTERRUPT: return lo->activity_interrupt_rsp(a);
    case X400I_RTSE_LIND_ACT_DISCARD: return lo->activity_discard_rsp(a);
    default: return 0;
    }
}

static int on_event(void *u, x400_assoc *a, const x400_assoc_event *ev)
{
    struct side *s = u;
    (void)a;
    if (s->nev < 8) s->events[s->nev++] = ev->type;
    return 0;
}

struct pair {
    struct side ini, rsp;
    x400t_assoc_pair ap;  /* the associations and the pump (pair.h): ap.io.split,
                           * ap.io.chunk, ap.io.moved, ap.wire */
    x400t_strict strict;  /* every TSDU either end emits passes the strict peer */
};

static int strict_round(void *u, char *err, size_t errlen)
{
    struct pair *p = u;
    if (x400t_strict_wire(&p->strict, &p->ap.wire) == 0) return 0;
    snprintf(err, errlen, "strict peer: %s", p->strict.err);
    return -1;
}

/* ci / cr NULL: the defaults (normal mode). */
static void pair_open(struct pair *p, const x400_assoc_config *ci, const x400_assoc_config *cr)
{
    x400_assoc_callbacks cbi = { &p->ini, on_event }, cbr = { &p->rsp, on_event };
    x400i_assoc_upper ui = { &p->ini, up_associate, up_ind }, ur = { &p->rsp, NULL, up_ind };
    x400t_assoc_side si = { .config = ci, .cb = &cbi, .upper = &ui };
    x400t_assoc_side sr = { .config = cr, .cb = &cbr, .upper = &ur };
    size_t split = p->ap.io.split, chunk = p->ap.io.chunk;   /* may be set before */
    memset(&p->ini, 0, sizeof p->ini);
    memset(&p->rsp, 0, sizeof p->rsp);
    ck_assert_msg(x400t_assoc_pair_open(&p->ap, &si, &sr) == 0, "%s", p->ap.io.err);
    p->ini.a = p->ap.a[0];
    p->rsp.a = p->ap.a[1];
    x400t_strict_init(&p->strict);
    p->ap.io.split = split;
    p->ap.io.chunk = chunk;
    p->ap.io.after_round = strict_round;
    p->ap.io.user = p;
}

static void pair_close(struct pair *p)
{
    x400t_assoc_pair_close(&p->ap);
    x400t_strict_free(&p->strict);
}

/* Move bytes both ways until nothing is pending; a receiver that aborts
 * takes nothing more (the tests check the states). */
static void pump(struct pair *p)
{
    ck_assert_msg(x400t_pair_pump(&p->ap.io) == 0, "%s", p->ap.io.err);
}

/* T-CONNECT by the initiator, then pump. */
static void connect_pair(struct pair *p)
{
    ck_assert_msg(x400t_assoc_pair_connect(&p->ap) == 0, "%s", p->ap.io.err);
}

#define SES(s) x400i_assoc_session((s).a)
#define OK(x) ck_assert_int_ge((x), 0)

#define PRES(s) x400i_assoc_presentation((s).a)

/* P-DATA: one PDV on context 3 (id-as-mta-rtse; the adapter delivers
 * nothing else).  tshark parses every value there as an RTSE APDU, so the
 * test text travels as the contents of an INTEGER (an RTTP APDU, at most 8
 * octets). */
#define PDV_HDR 2
static int data_pdv(x400_assoc *a, const char *text)
{
    uint8_t b[16];
    size_t n = strlen(text);
    ck_assert_uint_le(n, 8);
    b[0] = 0x02; b[1] = (uint8_t)n;
    memcpy(b + PDV_HDR, text, n);
    return x400i_assoc_data_req(a, b, n + PDV_HDR);
}
static void assert_pdv(const struct side *sd, const char *text)
{
    size_t n = strlen(text);
    ck_assert_int_eq(last(sd), X400_PEV_DATA_IND);
    ck_assert_uint_eq(sd->udlen[sd->n - 1], n + PDV_HDR);
    ck_assert_mem_eq(sd->ud[sd->n - 1] + PDV_HDR, text, n);
}

/* The whole service P1 over RTSE uses, through session, presentation and
 * ACSE, in one association. */
static void full_exchange(struct pair *p)
{
    uint32_t serial;
    p->ini.connect_ud = RTORQ;
    p->ini.connect_ud_len = sizeof RTORQ;
    connect_pair(p);
    ck_assert_msg(x400_assoc_get_state(p->ini.a) == X400_ASSOC_ESTABLISHED, "ini: %s / rsp: %s",
                  x400_assoc_diag(p->ini.a)->text, x400_assoc_diag(p->rsp.a)->text);
    ck_assert_int_eq(x400_assoc_get_state(p->rsp.a), X400_ASSOC_ESTABLISHED);
    ck_assert_int_eq(p->rsp.au[0], X400I_RTSE_LIND_CONNECT);
    ck_assert_uint_eq(p->rsp.udlen[0], sizeof RTORQ);
    ck_assert_mem_eq(p->rsp.ud[0], RTORQ, sizeof RTORQ); /* AARQ user information, untouched */
    ck_assert_int_eq(p->ini.au[0], X400I_RTSE_LIND_CONNECT_CONF);
    ck_assert_uint_eq(p->ini.udlen[0], sizeof RTOAC); /* the AARE's user information */
    ck_assert_mem_eq(p->ini.ud[0], RTOAC, sizeof RTOAC);
    ck_assert_int_eq(p->ini.events[0], X400_ASSOC_EV_ESTABLISHED);
    ck_assert_int_eq(p->rsp.events[0], X400_ASSOC_EV_ESTABLISHED);
    ck_assert_int_eq(x400i_pres_state(PRES(p->ini)), X400_PSTA04);
    ck_assert_int_eq(x400i_assoc_acse_state(p->rsp.a), X400I_ACSE_ST_ASSOCIATED);
    {
        static const uint32_t rtse[] = { 2, 6, 0, 2, 12 }, mtse[] = { 2, 6, 0, 2, 7 };
        ck_assert_int_eq(x400i_assoc_context_id(p->ini.a, rtse, 5), 3);
        ck_assert_int_eq(x400i_assoc_context_id(p->rsp.a, mtse, 5), 5);
    }

    /* data one way, the data token to the responder, data the other way */
    OK(data_pdv(p->ini.a, "to-rsp"));
    pump(p);
    assert_pdv(&p->rsp, "to-rsp");
    ck_assert_int_eq(data_pdv(p->rsp.a, "x"), X400_ERR_STATE);  /* no data token */
    OK(x400i_pres_token_give_req(PRES(p->ini), X400I_TOKEN_DATA));
    pump(p);
    ck_assert(x400i_ses_tokens_held(SES(p->rsp)) & X400I_TOKEN_DATA);   /* S-TOKEN-GIVE arrived */
    OK(data_pdv(p->rsp.a, "to-ini"));
    pump(p);
    assert_pdv(&p->ini, "to-ini");
    /* please-tokens, then the token comes back */
    OK(x400i_pres_token_please_req(PRES(p->ini), X400I_TOKEN_DATA, NULL, 0));
    pump(p);
    ck_assert_int_eq(last(&p->rsp), X400_PEV_TOKEN_PLEASE_IND);
    OK(x400i_pres_token_give_req(PRES(p->rsp), X400I_TOKEN_DATA));
    pump(p);
    ck_assert(x400i_ses_tokens_held(SES(p->ini)) & X400I_TOKEN_DATA);

    /* an activity with a confirmed minor sync, ended and confirmed */
    OK(x400i_pres_activity_start_req(PRES(p->ini), (const uint8_t *)"\x02\x01\x01", 3, NULL, 0));
    OK(data_pdv(p->ini.a, "part1"));
    OK(x400i_pres_minor_sync_req(PRES(p->ini), 1, NULL, 0, &serial));
    OK(data_pdv(p->ini.a, "part2"));
    OK(x400i_pres_activity_end_req(PRES(p->ini), NULL, 0, &serial));
    pump(p);
    ck_assert_int_eq(count(&p->rsp, X400_PEV_ACT_START_IND), 1);
    ck_assert_int_eq(count(&p->rsp, X400_PEV_SYNC_MINOR_IND), 1);
    ck_assert_int_eq(count(&p->ini, X400_PEV_SYNC_MINOR_CONF), 1);
    ck_assert_int_eq(count(&p->ini, X400_PEV_ACT_END_CONF), 1);

    /* interrupted, then resumed under a new id linked to the old one */
    OK(x400i_pres_activity_start_req(PRES(p->ini), (const uint8_t *)"A2", 2, NULL, 0));
    OK(data_pdv(p->ini.a, "half"));
    OK(x400i_pres_minor_sync_req(PRES(p->ini), 1, NULL, 0, &serial));
    OK(x400i_pres_activity_interrupt_req(PRES(p->ini), 0));
    pump(p);
    ck_assert_int_eq(count(&p->rsp, X400_PEV_ACT_INTERRUPT_IND), 1);
    ck_assert_int_eq(x400i_ses_in_activity(SES(p->ini)), 0);   /* S-ACTIVITY-INTERRUPT confirmed */
    ck_assert_int_eq(x400i_pres_state(PRES(p->ini)), X400_PSTA04);
    OK(x400i_pres_activity_resume_req(PRES(p->ini), (const uint8_t *)"A3", 2,
                                      (const uint8_t *)"A2", 2, serial, NULL, NULL, 0));
    OK(data_pdv(p->ini.a, "rest"));
    OK(x400i_pres_activity_end_req(PRES(p->ini), NULL, 0, &serial));
    pump(p);
    ck_assert_int_eq(count(&p->rsp, X400_PEV_ACT_RESUME_IND), 1);
    for (int i = 0; i < p->rsp.n; i++)
        if (p->rsp.types[i] == X400_PEV_ACT_RESUME_IND) {
            ck_assert_uint_eq(p->rsp.old_id_len[i], 2);
            ck_assert_mem_eq(p->rsp.old_id[i], "A2", 2);
        }
    ck_assert_int_eq(count(&p->ini, X400_PEV_ACT_END_CONF), 2);

    /* discarded */
    OK(x400i_pres_activity_start_req(PRES(p->ini), (const uint8_t *)"A4", 2, NULL, 0));
    OK(x400i_pres_activity_discard_req(PRES(p->ini), 0));
    pump(p);
    ck_assert_int_eq(x400i_ses_in_activity(SES(p->ini)), 0);   /* S-ACTIVITY-DISCARD confirmed */
    ck_assert_int_eq(count(&p->rsp, X400_PEV_ACT_DISCARD_IND), 1);

    /* orderly release: RLRQ/RLRE over FN / DN, then the transport goes */
    OK(x400_assoc_release(p->ini.a));
    pump(p);
    ck_assert_int_eq(x400_assoc_get_state(p->ini.a), X400_ASSOC_CLOSED);
    ck_assert_int_eq(x400_assoc_get_state(p->rsp.a), X400_ASSOC_CLOSED);
    ck_assert_int_eq(count(&p->rsp, X400_PEV_RELEASE_IND), 1);
    ck_assert_int_eq(count(&p->ini, X400_PEV_RELEASE_CONF), 1);
    ck_assert_int_eq(p->ini.events[p->ini.nev - 1], X400_ASSOC_EV_RELEASED);
    ck_assert_int_eq(p->rsp.events[p->rsp.nev - 1], X400_ASSOC_EV_RELEASED);
}

START_TEST(full_exchange_whole_buffers)
{
    struct pair p;
    char err[4000];
    static const char *const want[] = { "ses.type == 13", "ses.type == 14", "ses.type == 45", "acse.aarq_element" };
    memset(&p, 0, sizeof p);
    pair_open(&p, NULL, NULL);
    full_exchange(&p);
    /* nothing flagged; tshark named the SPDUs CN (13), AC (14), AS (45)
     * and saw the AARQ (one tshark run) */
    ck_assert_msg(x400t_wire_expect(&p.ap.wire, "assoc_full", "-o rtse.reassemble:FALSE", want,
                                    sizeof want / sizeof want[0], err, sizeof err) == 0, "%s", err);
    pair_close(&p);
}
END_TEST

START_TEST(full_exchange_byte_at_a_time)
{
    struct pair p;
    memset(&p, 0, sizeof p);
    p.ap.io.chunk = 1;
    pair_open(&p, NULL, NULL);
    full_exchange(&p);
    pair_close(&p);
}
END_TEST

/* Every delivery split into two pieces at offset k, for every k up to the
 * longest delivery of the exchange. */
START_TEST(full_exchange_split_every_offset)
{
    struct pair p;
    size_t longest = 0;
    memset(&p, 0, sizeof p);
    pair_open(&p, NULL, NULL);
    full_exchange(&p);
    for (size_t i = 0; i < p.ap.wire.n; i++)
        if (p.ap.wire.rec[i].len > longest) longest = p.ap.wire.rec[i].len;
    pair_close(&p);
    ck_assert_uint_gt(longest, 20);
    for (size_t k = 1; k < longest; k++) {
        memset(&p, 0, sizeof p);
        p.ap.io.split = k;
        pair_open(&p, NULL, NULL);
        full_exchange(&p);
        pair_close(&p);
    }
}
END_TEST

/* Real MTAs send a CR without TPDU size: the class 0 default of 128
 * octets applies, and a large SSDU travels in 128-octet TPDUs. */
START_TEST(class0_default_tpdu_size)
{
    struct pair p;
    x400_assoc_config ci;
    uint8_t big[3000];
    memset(&p, 0, sizeof p);
    x400_assoc_config_init(&ci, X400_ROLE_INITIATOR);
    ci.omit_tpdu_size = 1;
    x400_selector_set(&ci.calling_tsel, "X400-88");
    x400_selector_set(&ci.called_tsel, "X400-88");
    pair_open(&p, &ci, NULL);
    connect_pair(&p);
    ck_assert_int_eq(x400_assoc_get_state(p.rsp.a), X400_ASSOC_ESTABLISHED);
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 7);
    big[0] = 0x04; big[1] = 0x82; big[2] = (sizeof big - 4) >> 8; big[3] = (sizeof big - 4) & 0xff;
    {
        OK(x400i_assoc_data_req(p.ini.a, big, sizeof big));
    }
    pump(&p);
    ck_assert_int_eq(last(&p.rsp), X400_PEV_DATA_IND);
    ck_assert_uint_eq(p.rsp.udlen[p.rsp.n - 1], sizeof big);
    for (size_t i = 0; i < p.ap.wire.n; i++)
        ck_assert_uint_le(p.ap.wire.rec[i].len, 4 + 128);
    pair_close(&p);
}
END_TEST

/* The opening of a real 1988-mode MTA, byte for byte in structure:
 * CR with TSAP selectors and no TPDU size; CN with Connection Identifier
 * (SS-user reference = short name, common reference = UTCTime),
 * Connect/Accept Item (options 0, version 2, token setting 0),
 * requirements 0x0249, no selectors, and an indefinite-length CP-type. */
START_TEST(real_mta_opening_accepted)
{
    static const uint8_t cr[] = { 0x03, 0x00, 0x00, 0x1d, 0x18, 0xe0, 0x00, 0x00, 0x00, 0x01, 0x00,
        0xc1, 0x07, 'X', '4', '0', '0', '-', '8', '8', 0xc2, 0x07, 'X', '4', '0', '0', '-', '8', '8' };
    /* CP-type as the production MTA sends it: indefinite lengths
     * throughout, contexts 1 (ACSE), 3 (id-as-mta-rtse), 5 (id-as-mtse),
     * BER, no selectors, one PDV on context 1 holding the AARQ
     * {id-ac-mts-transfer, user-information EXTERNAL {2.1.1, 3, RTORQ}} */
    static const uint8_t ud[] = { 0x31, 0x80, 0xa0, 0x80, 0x80, 0x01, 0x01, 0x00, 0x00,
        0xa2, 0x80, 0xa4, 0x80,
        0x30, 0x80, 0x02, 0x01, 0x01, 0x06, 0x04, 0x52, 0x01, 0x00, 0x01,
        0x30, 0x80, 0x06, 0x02, 0x51, 0x01, 0x00, 0x00, 0x00, 0x00,
        0x30, 0x80, 0x02, 0x01, 0x03, 0x06, 0x04, 0x56, 0x00, 0x02, 0x0c,
        0x30, 0x80, 0x06, 0x02, 0x51, 0x01, 0x00, 0x00, 0x00, 0x00,
        0x30, 0x80, 0x02, 0x01, 0x05, 0x06, 0x04, 0x56, 0x00, 0x02, 0x07,
        0x30, 0x80, 0x06, 0x02, 0x51, 0x01, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00,
        0x61, 0x80, 0x30, 0x80, 0x02, 0x01, 0x01, 0xa0, 0x80,
        0x60, 0x80, 0xa1, 0x80, 0x06, 0x04, 0x56, 0x00, 0x01, 0x06, 0x00, 0x00,
        0xbe, 0x80, 0x28, 0x80, 0x06, 0x02, 0x51, 0x01, 0x02, 0x01, 0x03, 0xa0, 0x80,
        0xb0, 0x80, 0x80, 0x01, 0x3f, 0x82, 0x01, 0x00, 0xa3, 0x80, 0xa0, 0x80, 0xb0, 0x80, 0x05, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00 };
    /* the RTORQ as the upper layer sees it (lengths made definite) */
    static const uint8_t rtorq[] = { 0xb0, 0x0e, 0x80, 0x01, 0x3f, 0x82, 0x01, 0x00, 0xa3, 0x06,
        0xa0, 0x04, 0xb0, 0x02, 0x05, 0x00 };
    uint8_t cn[300], tsdu[320];
    size_t n = 0, t = 0;
    struct pair p;
    x400_assoc_config cr_cfg;
    const uint8_t *out;
    size_t outn;
    /* CN SPDU */
    cn[n++] = 13; cn[n++] = 0; /* length patched below */
    cn[n++] = 1; cn[n++] = 2 + 4 + 2 + 13;                    /* Connection Identifier */
    cn[n++] = 10; cn[n++] = 4; memcpy(cn + n, "MTA1", 4); n += 4;
    cn[n++] = 11; cn[n++] = 13; memcpy(cn + n, "261121120000Z", 13); n += 13;
    cn[n++] = 5; cn[n++] = 9;                                  /* Connect/Accept Item */
    cn[n++] = 19; cn[n++] = 1; cn[n++] = 0;                    /* protocol options */
    cn[n++] = 22; cn[n++] = 1; cn[n++] = 2;                    /* version 2 */
    cn[n++] = 26; cn[n++] = 1; cn[n++] = 0;                    /* token setting */
    cn[n++] = 20; cn[n++] = 2; cn[n++] = 0x02; cn[n++] = 0x49; /* requirements */
    cn[n++] = 193; cn[n++] = (uint8_t)sizeof ud; memcpy(cn + n, ud, sizeof ud); n += sizeof ud;
    cn[1] = (uint8_t)(n - 2);
    /* one TPKT + DT(EOT) */
    tsdu[t++] = 3; tsdu[t++] = 0; tsdu[t++] = 0; tsdu[t++] = (uint8_t)(n + 7);
    tsdu[t++] = 2; tsdu[t++] = 0xf0; tsdu[t++] = 0x80;
    memcpy(tsdu + t, cn, n); t += n;

    memset(&p, 0, sizeof p);
    x400_assoc_config_init(&cr_cfg, X400_ROLE_RESPONDER);
    pair_open(&p, NULL, &cr_cfg);
    ck_assert_int_eq(x400_assoc_recv(p.rsp.a, cr, sizeof cr), (int)sizeof cr);
    outn = x400_assoc_pending(p.rsp.a, &out);
    ck_assert_uint_ge(outn, 11);
    ck_assert_uint_eq(out[5], 0xd0);  /* CC */
    x400t_wire_add(&p.ap.wire, 1, cr, sizeof cr);
    x400t_wire_add(&p.ap.wire, 0, out, outn);
    x400_assoc_sent(p.rsp.a, outn);
    /* the CN arrives in 128-octet-style pieces, like a real MTA's */
    for (size_t off = 0; off < t; off += 17) {
        size_t piece = t - off < 17 ? t - off : 17;
        ck_assert_int_eq(x400_assoc_recv(p.rsp.a, tsdu + off, piece), (int)piece);
    }
    x400t_wire_add(&p.ap.wire, 1, tsdu, t);
    ck_assert_int_eq(p.rsp.au[0], X400I_RTSE_LIND_CONNECT);
    ck_assert_uint_eq(p.rsp.udlen[0], sizeof rtorq);
    ck_assert_mem_eq(p.rsp.ud[0], rtorq, sizeof rtorq);
    ck_assert_int_eq(x400_assoc_get_state(p.rsp.a), X400_ASSOC_ESTABLISHED);
    outn = x400_assoc_pending(p.rsp.a, &out);
    ck_assert_uint_gt(outn, 7);
    ck_assert_uint_eq(out[7], 14);    /* AC */
    x400t_wire_add(&p.ap.wire, 0, out, outn);
    ck_assert_msg(x400t_strict_wire(&p.strict, &p.ap.wire) == 0, "strict peer: %s", p.strict.err);
    {
        char err[4000];
        ck_assert_msg(x400t_wire_check(&p.ap.wire, "assoc_real_opening", NULL, err, sizeof err) == 0,
                      "%s", err);
    }
    pair_close(&p);
}
END_TEST

START_TEST(refusal_and_abort)
{
    struct pair p;
    memset(&p, 0, sizeof p);
    pair_open(&p, NULL, NULL);
    connect_pair(&p);
    ck_assert_int_eq(x400_assoc_get_state(p.ini.a), X400_ASSOC_ESTABLISHED);
    /* user abort: AB, both sides aborted, diag says who */
    OK(x400_assoc_abort(p.ini.a));
    pump(&p);
    ck_assert_int_eq(x400_assoc_get_state(p.ini.a), X400_ASSOC_ABORTED);
    ck_assert_int_eq(x400_assoc_get_state(p.rsp.a), X400_ASSOC_ABORTED);
    ck_assert_int_eq(x400_assoc_diag(p.rsp.a)->source, X400_SOURCE_PEER);
    ck_assert_int_eq(p.rsp.events[p.rsp.nev - 1], X400_ASSOC_EV_ABORTED);
    pair_close(&p);
}
END_TEST

START_TEST(refused_connect)
{
    struct pair p;
    memset(&p, 0, sizeof p);
    pair_open(&p, NULL, NULL);
    p.rsp.refuse = 1;       /* AARE- (rejected-permanent) in CPR */
    connect_pair(&p);
    ck_assert_int_eq(x400_assoc_get_state(p.ini.a), X400_ASSOC_CLOSED);
    ck_assert_int_eq(p.ini.events[0], X400_ASSOC_EV_REFUSED);
    ck_assert_int_eq(x400_assoc_diag(p.ini.a)->code, X400_ERR_REFUSED);
    ck_assert_int_eq(x400_assoc_diag(p.ini.a)->source, X400_SOURCE_PEER);
    pair_close(&p);
}
END_TEST

/* Garbage after establishment: clean abort with a diagnostic, and any
 * further input is refused without touching freed state. */
START_TEST(garbage_after_establishment)
{
    static const uint8_t junk[] = { 0x03, 0x00, 0x00, 0x0a, 0x02, 0xf0, 0x80, 0xee, 0x01, 0x00 };
    struct pair p;
    int rv;
    memset(&p, 0, sizeof p);
    pair_open(&p, NULL, NULL);
    connect_pair(&p);
    rv = x400_assoc_recv(p.rsp.a, junk, sizeof junk);
    ck_assert_int_lt(rv, 0);
    ck_assert_int_eq(x400_assoc_get_state(p.rsp.a), X400_ASSOC_ABORTED);
    ck_assert_int_eq(x400_assoc_diag(p.rsp.a)->layer, X400_LAYER_SESSION);
    ck_assert_int_eq(x400_assoc_diag(p.rsp.a)->source, X400_SOURCE_PEER);
    ck_assert_int_lt(x400_assoc_recv(p.rsp.a, junk, sizeof junk), 0);
    pump(&p);  /* the AB/DR reaches the initiator, which aborts too */
    ck_assert_int_eq(x400_assoc_get_state(p.ini.a), X400_ASSOC_ABORTED);
    pair_close(&p);
}
END_TEST

START_TEST(transport_lost_is_provider_abort)
{
    struct pair p;
    memset(&p, 0, sizeof p);
    pair_open(&p, NULL, NULL);
    connect_pair(&p);
    x400_assoc_transport_closed(p.rsp.a);
    ck_assert_int_eq(x400_assoc_get_state(p.rsp.a), X400_ASSOC_ABORTED);
    ck_assert_int_eq(x400_assoc_diag(p.rsp.a)->source, X400_SOURCE_PROVIDER);
    ck_assert_int_eq(p.rsp.events[p.rsp.nev - 1], X400_ASSOC_EV_ABORTED);
    pair_close(&p);
}
END_TEST

/* (One listener for both modes, the responder running the caller's mode:
 * moved to check_rtse_ses.c, where that choice's adapter is tested.) */

START_TEST(api_misuse)
{
    x400_assoc *a;
    x400_assoc_config c;
    x400_selector s;
    x400_assoc_config_init(&c, X400_ROLE_RESPONDER);
    ck_assert_int_eq(x400_assoc_new(&a, &c, NULL, NULL), X400_OK);
    ck_assert_int_eq(x400_assoc_connect(a), X400_ERR_STATE);   /* responder */
    ck_assert_int_eq(x400_assoc_release(a), X400_ERR_STATE);   /* not established */
    ck_assert_int_eq(x400_assoc_diag(a)->code, X400_ERR_STATE);
    x400_assoc_free(a);
    c.role = (x400_role)9;
    ck_assert_int_eq(x400_assoc_new(&a, &c, NULL, NULL), X400_ERR_INVALID_ARG);
    ck_assert_int_eq(x400_selector_set(&s, "0123456789012345678901234567890123"), X400_ERR_TOO_LONG);
}
END_TEST

Suite *x400t_suite_assoc(void)
{
    Suite *s = suite_create("assoc");
    TCase *tc = tcase_create("pair");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, full_exchange_whole_buffers);
    tcase_add_test(tc, full_exchange_byte_at_a_time);
    tcase_add_test(tc, full_exchange_split_every_offset);
    tcase_add_test(tc, class0_default_tpdu_size);
    tcase_add_test(tc, real_mta_opening_accepted);
    tcase_add_test(tc, refusal_and_abort);
    tcase_add_test(tc, refused_connect);
    tcase_add_test(tc, garbage_after_establishment);
    tcase_add_test(tc, transport_lost_is_provider_abort);
    tcase_add_test(tc, api_misuse);
    suite_add_tcase(s, tc);
    return s;
}
