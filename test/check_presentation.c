/* Presentation (X.226) through real associations: our CP/CPA structure,
 * the real MTA's, tshark on every PPDU we send (CP, CPA, CPR, ARU, ARP,
 * P-DATA) with the ACSE APDUs inside, and bad input: each a clean abort
 * with its diagnostic.  (X.410-1984 has no presentation layer:
 * check_rtse_ses.c.) */
#include <string.h>

#include "acse.h"
#include "assoc_int.h"
#include "internal.h"
#include "pair.h"
#include "wire.h"
#include "x400t.h"

static const void *memmem_(const void *h, size_t hn, const void *n, size_t nn)
{
    const uint8_t *hp = h;
    for (size_t i = 0; i + nn <= hn; i++)
        if (memcmp(hp + i, n, nn) == 0) return hp + i;
    return NULL;
}
#define memmem memmem_

struct end {
    x400_assoc *a;
    int n, last_type, refuse, nev, events[8];
    uint8_t ui[64];
    size_t ui_len;
};

static const uint8_t RTORQ[] = { 0xb0, 0x0b, 0x80, 0x01, 0x3f, 0xa3, 0x06, 0xa0, 0x04,
                                 0xb0, 0x02, 0x05, 0x00 };
static const uint8_t RTOAC[] = { 0xb1, 0x0b, 0x80, 0x01, 0x3f, 0xa2, 0x06, 0xa0, 0x04,
                                 0xb1, 0x02, 0x05, 0x00 };
static int e_ind(void *u, x400_assoc *a, const x400i_rtse_lind *ind)
{
    struct end *e = u;
    e->n++;
    e->last_type = ind->type;
    if (ind->apdu_len && ind->apdu_len <= sizeof e->ui) {
        memcpy(e->ui, ind->apdu, ind->apdu_len);
        e->ui_len = ind->apdu_len;
    }
    if (ind->type == X400I_RTSE_LIND_CONNECT)
        return x400i_assoc_associate_rsp(a, !e->refuse, RTOAC, sizeof RTOAC);
    if (ind->type == X400I_RTSE_LIND_RELEASE) return x400i_assoc_release_rsp(a);
    return 0;
}
static int e_assoc(void *u, x400_assoc *a)
{
    (void)u;
    return x400i_assoc_associate_req(a, RTORQ, sizeof RTORQ);
}
static int e_event(void *u, x400_assoc *a, const x400_assoc_event *ev)
{
    struct end *e = u;
    (void)a;
    if (e->nev < 8) e->events[e->nev++] = ev->type;
    return 0;
}

struct link { struct end ini, rsp; x400t_assoc_pair p; };

/* What one side has pending, to the other (recorded). */
static void move(struct link *l, int from_ini)
{
    ck_assert_msg(x400t_pair_move(&l->p.io, from_ini ? 0 : 1) >= 0, "%s", l->p.io.err);
}
static void pump(struct link *l)
{
    ck_assert_msg(x400t_pair_pump(&l->p.io) == 0, "%s", l->p.io.err);
}

/* Normal mode, each side with its events and its RTSE stand-in. */
static void open_link(struct link *l)
{
    x400i_assoc_upper ui = { &l->ini, e_assoc, e_ind }, ur = { &l->rsp, NULL, e_ind };
    x400_assoc_callbacks cbi = { &l->ini, e_event }, cbr = { &l->rsp, e_event };
    x400t_assoc_side si = { .cb = &cbi, .upper = &ui }, sr = { .cb = &cbr, .upper = &ur };
    memset(l, 0, sizeof *l);
    ck_assert_msg(x400t_assoc_pair_open(&l->p, &si, &sr) == 0, "%s", l->p.io.err);
    l->ini.a = l->p.a[0];
    l->rsp.a = l->p.a[1];
}
static void close_link(struct link *l) { x400t_assoc_pair_close(&l->p); }
static void connect_link(struct link *l)
{
    ck_assert_msg(x400t_assoc_pair_connect(&l->p) == 0, "%s", l->p.io.err);
}

/* tshark flags nothing in the recording, and each of the n display
 * filters in `want` matches a frame (one tshark run). */
static void wire_expect(struct link *l, const char *name, const char *const *want, size_t n)
{
    char err[4000];
    ck_assert_msg(x400t_wire_expect(&l->p.wire, name, "-o rtse.reassemble:FALSE", want, n, err, sizeof err) == 0,
                  "%s", err);
}
#define WIRE_EXPECT(l, name, ...) \
    do { \
        static const char *const want_[] = { __VA_ARGS__ }; \
        wire_expect((l), (name), want_, sizeof want_ / sizeof want_[0]); \
    } while (0)

/* Our CP and CPA follow the real MTA's structure (wire.md): contexts 1, 3
 * and 5 each with BER, no selectors, one PDV on context 1 with the AARQ
 * {id-ac-mts-transfer, user-information EXTERNAL {2.1.1, 3, RTORQ}}. */
START_TEST(own_cp_structure)
{
    x400i_cp_params cp;
    x400_assoc_config c;
    x400i_pctx ctx[3];
    x400i_buf b, ab;
    x400i_ppdu pp;
    x400i_acse_apdu ap, back;
    x400i_pdv pdv;
    x400_diag d;
    x400_assoc_config_init(&c, X400_ROLE_INITIATOR);
    memset(ctx, 0, sizeof ctx);
    for (int i = 0; i < 3; i++) {
        ctx[i].id = c.contexts[i].id;
        x400i_oidv_from_arcs(&ctx[i].as, c.contexts[i].abstract_syntax.arc, c.contexts[i].abstract_syntax.n);
    }
    x400i_acse_init(&ap, X400I_ACSE_AARQ);
    x400i_oidv_from_arcs(&ap.app_ctx, c.application_context.arc, c.application_context.n);
    ap.nui = 1;
    ap.ui[0].has_direct = 1;
    ap.ui[0].direct = x400i_oid_ber;
    ap.ui[0].indirect = 3;
    ap.ui[0].v = RTORQ;
    ap.ui[0].len = sizeof RTORQ;
    x400i_buf_init(&ab, NULL, 0);
    x400i_buf_init(&b, NULL, 0);
    ck_assert_int_eq(x400i_acse_encode(&ab, &ap), 0);
    pdv.ctx = 1; pdv.encoding = X400I_PDV_SINGLE; pdv.v = ab.p; pdv.len = ab.len;
    memset(&cp, 0, sizeof cp);
    cp.ctx = ctx; cp.nctx = 3; cp.pdv = &pdv; cp.npdv = 1; cp.provider_reason = -1;
    ck_assert_int_eq(x400i_ppdu_encode_cp(&b, &cp), 0);
    {
        static const uint8_t head[] = { 0x31, 0x81 };   /* SET, definite */
        static const uint8_t ctx1[] = { 0x30, 0x0f, 0x02, 0x01, 0x01, 0x06, 0x04, 0x52, 0x01, 0x00, 0x01,
                                        0x30, 0x04, 0x06, 0x02, 0x51, 0x01 };
        static const uint8_t mode[] = { 0xa0, 0x03, 0x80, 0x01, 0x01 };
        static const uint8_t ext[] = { 0x28, 0x16, 0x06, 0x02, 0x51, 0x01, 0x02, 0x01, 0x03, 0xa0, 0x0d };
        ck_assert_mem_eq(b.p, head, 1);
        ck_assert_ptr_nonnull(memmem(b.p, b.len, mode, sizeof mode));
        ck_assert_ptr_nonnull(memmem(b.p, b.len, ctx1, sizeof ctx1));
        ck_assert_ptr_nonnull(memmem(b.p, b.len, ext, sizeof ext));
    }
    ck_assert_int_eq(x400i_ppdu_decode(X400I_PPDU_CP, b.p, b.len, &pp, NULL, 1 << 20, &d), 0);
    ck_assert_uint_eq(pp.nctx, 3);
    ck_assert_int_eq(pp.ctx[0].id, 1);
    ck_assert_int_eq(pp.ctx[1].id, 3);
    ck_assert_int_eq(pp.ctx[2].id, 5);
    ck_assert(pp.ctx[2].has_ts);
    ck_assert(!pp.has_calling_sel && !pp.has_called_sel);
    ck_assert_uint_eq(pp.npdv, 1);
    ck_assert_int_eq(pp.pdv[0].ctx, 1);
    ck_assert_int_eq(x400i_acse_decode(pp.pdv[0].v, pp.pdv[0].len, &back, NULL, &d), 0);
    ck_assert_int_eq(back.type, X400I_ACSE_AARQ);
    ck_assert_uint_eq(back.nui, 1);
    ck_assert_int_eq(back.ui[0].indirect, 3);
    ck_assert_uint_eq(back.ui[0].len, sizeof RTORQ);
    ck_assert_mem_eq(back.ui[0].v, RTORQ, sizeof RTORQ);
    x400i_acse_release(&back);
    x400i_ppdu_release(&pp);
    x400i_buf_free(&b);
    x400i_buf_free(&ab);
}
END_TEST

/* CP, CPA, AARQ, AARE, P-DATA, RLRQ, RLRE: decoded by tshark. */
START_TEST(tshark_normal_exchange)
{
    struct link l;
    static const uint8_t rttp[] = { 0x02, 0x01, 0x05 };
    open_link(&l);
    connect_link(&l);
    ck_assert_int_eq(x400_assoc_get_state(l.ini.a), X400_ASSOC_ESTABLISHED);
    ck_assert_uint_eq(l.ini.ui_len, sizeof RTOAC);
    ck_assert_int_eq(x400i_assoc_data_req(l.ini.a, rttp, sizeof rttp), 0);   /* a PDV on context 3 */
    pump(&l);
    ck_assert_int_eq(l.rsp.last_type, X400I_RTSE_LIND_DATA);
    ck_assert_uint_eq(l.rsp.ui_len, sizeof rttp);
    ck_assert_int_eq(x400_assoc_release(l.ini.a), 0);
    pump(&l);
    ck_assert_int_eq(x400_assoc_get_state(l.ini.a), X400_ASSOC_CLOSED);
    /* every ACSE APDU; the P-DATA's PDV on context 3; AARE result 0 */
    WIRE_EXPECT(&l, "pres_normal", "acse.aarq_element", "acse.aare_element", "acse.rlrq_element",
                "acse.rlre_element", "ses.type == 1 && pres.presentation_context_identifier == 3",
                "acse.result == 0");
    close_link(&l);
}
END_TEST

/* CPR carrying AARE- (rejected-permanent): tshark decodes it; the initiator
 * sees REFUSED with the ACSE diagnostic. */
START_TEST(tshark_refused)
{
    struct link l;
    open_link(&l);
    l.rsp.refuse = 1;
    connect_link(&l);
    ck_assert_int_eq(x400_assoc_get_state(l.ini.a), X400_ASSOC_CLOSED);
    ck_assert_int_eq(l.ini.events[0], X400_ASSOC_EV_REFUSED);
    ck_assert_int_eq(x400_assoc_diag(l.ini.a)->code, X400_ERR_REFUSED);
    ck_assert_ptr_nonnull(strstr(x400_assoc_diag(l.ini.a)->text, "AARE result 1"));
    ck_assert_int_eq(l.rsp.events[0], X400_ASSOC_EV_REFUSED);
    WIRE_EXPECT(&l, "pres_refused", "pres.cprtype && acse.result == 1");
    close_link(&l);
}
END_TEST

/* ARU carrying ABRT (service-user), with user information. */
START_TEST(tshark_user_abort)
{
    struct link l;
    static const uint8_t rtab[] = { 0xb6, 0x03, 0x80, 0x01, 0x00 };
    open_link(&l);
    connect_link(&l);
    ck_assert_int_eq(x400i_assoc_abort_req(l.ini.a, rtab, sizeof rtab), 0);
    pump(&l);
    ck_assert_int_eq(x400_assoc_get_state(l.ini.a), X400_ASSOC_ABORTED);
    ck_assert_int_eq(x400_assoc_get_state(l.rsp.a), X400_ASSOC_ABORTED);
    ck_assert_int_eq(l.rsp.last_type, X400I_RTSE_LIND_U_ABORT);
    ck_assert_uint_eq(l.rsp.ui_len, sizeof rtab);
    ck_assert_mem_eq(l.rsp.ui, rtab, sizeof rtab);
    ck_assert_ptr_nonnull(strstr(x400_assoc_diag(l.rsp.a)->text, "A-ABORT from peer"));
    ck_assert_int_eq(x400_assoc_diag(l.rsp.a)->source, X400_SOURCE_PEER);
    WIRE_EXPECT(&l, "pres_aru", "acse.abort_source == 0");
    close_link(&l);
}
END_TEST

/* A CP arriving in STA04 fails the state check: ARP {unexpected-ppdu,
 * cp-PPDU} goes out, both ends abort with the diagnostic. */
START_TEST(tshark_arp)
{
    struct link l;
    x400i_ses_ind ind;
    static const uint8_t cp[] = { 0x31, 0x05, 0xa0, 0x03, 0x80, 0x01, 0x01 };
    open_link(&l);
    connect_link(&l);
    memset(&ind, 0, sizeof ind);
    ind.type = X400I_SES_CONNECT_IND;
    ind.user_data = cp;
    ind.user_data_len = sizeof cp;
    ck_assert_int_eq(x400i_assoc_inject_ses_ind(l.rsp.a, &ind), X400_ERR_PROTOCOL);
    ck_assert_int_eq(x400_assoc_get_state(l.rsp.a), X400_ASSOC_ABORTED);
    ck_assert_str_eq(x400_assoc_diag(l.rsp.a)->text,
                     "presentation state check failure: state STA04 (connected, data transfer) does "
                     "not accept P-CONNECT indication (service 1, flavour 2)");
    pump(&l);
    ck_assert_int_eq(x400_assoc_get_state(l.ini.a), X400_ASSOC_ABORTED);
    ck_assert_ptr_nonnull(strstr(x400_assoc_diag(l.ini.a)->text, "ARP-PPDU from peer (abort reason 2, event 0)"));
    ck_assert_int_eq(l.ini.last_type, X400I_RTSE_LIND_P_ABORT);
    WIRE_EXPECT(&l, "pres_arp", "pres.event_identifier == 0 && pres.provider_reason == 2");
    close_link(&l);
}
END_TEST

/* ---- bad input over the wire into an established responder ---- */

/* Send `ud` as S-DATA user data from the initiator's side (TPKT + DT +
 * GT/DT SPDUs), split into 65000-octet TPDUs. */
static int send_td(struct link *l, const uint8_t *ud, size_t len)
{
    size_t tsdu_len = 4 + len, off = 0;
    uint8_t *tsdu = malloc(tsdu_len);
    int rv = 0;
    ck_assert_ptr_nonnull(tsdu);
    tsdu[0] = 1; tsdu[1] = 0; tsdu[2] = 1; tsdu[3] = 0;
    memcpy(tsdu + 4, ud, len);
    while (off < tsdu_len && rv >= 0) {
        size_t piece = tsdu_len - off > 65000 ? 65000 : tsdu_len - off;
        uint8_t hdr[7];
        size_t tl = piece + 7;
        hdr[0] = 3; hdr[1] = 0; hdr[2] = (uint8_t)(tl >> 8); hdr[3] = (uint8_t)tl;
        hdr[4] = 2; hdr[5] = 0xf0; hdr[6] = off + piece == tsdu_len ? 0x80 : 0x00;
        rv = x400_assoc_recv(l->rsp.a, hdr, 7);
        if (rv >= 0) rv = x400_assoc_recv(l->rsp.a, tsdu + off, piece);
        off += piece;
    }
    free(tsdu);
    return rv;
}

static void bad_td(const uint8_t *ud, size_t len, const char *want, int arp_reason)
{
    struct link l;
    const uint8_t *out;
    size_t n;
    open_link(&l);
    connect_link(&l);
    ck_assert_int_eq(x400_assoc_get_state(l.rsp.a), X400_ASSOC_ESTABLISHED);
    ck_assert_int_lt(send_td(&l, ud, len), 0);
    ck_assert_int_eq(x400_assoc_get_state(l.rsp.a), X400_ASSOC_ABORTED);
    ck_assert_msg(strstr(x400_assoc_diag(l.rsp.a)->text, want) != NULL, "diag '%s', wanted '%s'",
                  x400_assoc_diag(l.rsp.a)->text, want);
    ck_assert_int_eq(x400_assoc_diag(l.rsp.a)->layer, X400_LAYER_PRESENTATION);
    n = x400_assoc_pending(l.rsp.a, &out);
    {
        uint8_t arp[8] = { 0x30, 0x06, 0x80, 0x01, (uint8_t)arp_reason, 0x81, 0x01, 0x07 };
        ck_assert_msg(memmem(out, n, arp, sizeof arp) != NULL, "no ARP (reason %d, td-PPDU) sent",
                      arp_reason);
    }
    ck_assert_int_lt(x400_assoc_recv(l.rsp.a, (const uint8_t *)"\x03\x00\x00\x07\x02\xf0\x80", 7), 0);
    move(&l, 0);
    ck_assert_int_eq(x400_assoc_get_state(l.ini.a), X400_ASSOC_ABORTED);
    ck_assert_ptr_nonnull(strstr(x400_assoc_diag(l.ini.a)->text, "ARP-PPDU from peer"));
    close_link(&l);
}

START_TEST(bad_unknown_context)
{
    static const uint8_t ud[] = { 0x61, 0x0a, 0x30, 0x08, 0x02, 0x01, 0x09, 0xa0, 0x03, 0x02, 0x01, 0x05 };
    bad_td(ud, sizeof ud, "P-DATA indication on unknown presentation context 9", 6);
}
END_TEST

START_TEST(bad_transfer_syntax)
{
    /* PDV naming transfer syntax 2.1.2.1 (not BER) */
    static const uint8_t ud[] = { 0x61, 0x0f, 0x30, 0x0d, 0x06, 0x03, 0x51, 0x02, 0x01, 0x02, 0x01, 0x03,
                                  0xa0, 0x03, 0x02, 0x01, 0x05 };
    bad_td(ud, sizeof ud, "transfer syntax 2.1.2.1, not BER", 6);
}
END_TEST

START_TEST(bad_length_past_container)
{
    static const uint8_t ud[] = { 0x61, 0x0a, 0x30, 0x18, 0x02, 0x01, 0x03, 0xa0, 0x03, 0x02, 0x01, 0x05 };
    bad_td(ud, sizeof ud, "runs past its container", 0);
}
END_TEST

/* [APPLICATION 1], then `depth` constructed `tag` values, every length
 * indefinite, opened and never closed. */
static void bad_nested(uint8_t tag, size_t depth)
{
    size_t n = 2 + 2 * depth;
    uint8_t *ud = malloc(n);
    ck_assert_ptr_nonnull(ud);
    ud[0] = 0x61; ud[1] = 0x80;
    for (size_t i = 2; i < n; i += 2) { ud[i] = tag; ud[i + 1] = 0x80; }
    bad_td(ud, n, "deeper than the limit", 0);
    free(ud);
}

START_TEST(bad_indefinite_bomb) { bad_nested(0x30, 19999); }   /* SEQUENCEs: 40000 octets */
END_TEST

START_TEST(bad_million_nested) { bad_nested(0xa0, 1000000); }  /* [0]s */
END_TEST

START_TEST(bad_missing_mandatory)
{
    /* PDV-list without presentation-context-identifier */
    static const uint8_t ud[] = { 0x61, 0x07, 0x30, 0x05, 0xa0, 0x03, 0x02, 0x01, 0x05 };
    bad_td(ud, sizeof ud, "does not decode", 1);
}
END_TEST

START_TEST(bad_simply_encoded)
{
    static const uint8_t ud[] = { 0x40, 0x02, 'h', 'i' };
    bad_td(ud, sizeof ud, "simply-encoded data", 6);
}
END_TEST

/* Bad CPs over the wire: a CN whose CP is missing the mode selector, or
 * proposes ACSE only in a non-BER transfer syntax: CPR, a clean abort on
 * the responder, REFUSED on the initiator. */
static void bad_cp(const uint8_t *cp, size_t cplen, const char *want)
{
    struct link l;
    uint8_t cn[512];
    size_t n = 0;
    open_link(&l);
    ck_assert_int_eq(x400_assoc_connect(l.ini.a), 0);
    move(&l, 1);     /* CR */
    move(&l, 0);     /* CC; the initiator now queues its CN: drop it */
    {
        const uint8_t *b;
        size_t k;
        while ((k = x400_assoc_pending(l.ini.a, &b)) > 0) x400_assoc_sent(l.ini.a, k);
    }
    cn[n++] = 3; cn[n++] = 0; cn[n++] = 0; cn[n++] = 0;
    cn[n++] = 2; cn[n++] = 0xf0; cn[n++] = 0x80;
    cn[n++] = 13; cn[n++] = 0;
    cn[n++] = 5; cn[n++] = 6; cn[n++] = 19; cn[n++] = 1; cn[n++] = 0; cn[n++] = 22; cn[n++] = 1; cn[n++] = 2;
    cn[n++] = 20; cn[n++] = 2; cn[n++] = 0x02; cn[n++] = 0x49;
    cn[n++] = 193; cn[n++] = (uint8_t)cplen;
    memcpy(cn + n, cp, cplen); n += cplen;
    cn[8] = (uint8_t)(n - 9);
    cn[3] = (uint8_t)n;
    /* (the CN itself is bad input, so it stays off the recording tshark checks) */
    ck_assert_int_lt(x400_assoc_recv(l.rsp.a, cn, n), 0);
    ck_assert_int_eq(x400_assoc_get_state(l.rsp.a), X400_ASSOC_ABORTED);
    ck_assert_msg(strstr(x400_assoc_diag(l.rsp.a)->text, want) != NULL, "diag '%s', wanted '%s'",
                  x400_assoc_diag(l.rsp.a)->text, want);
    move(&l, 0);     /* the RF with CPR */
    ck_assert_int_eq(x400_assoc_get_state(l.ini.a), X400_ASSOC_CLOSED);
    ck_assert_int_eq(l.ini.events[0], X400_ASSOC_EV_REFUSED);
    ck_assert_ptr_nonnull(strstr(x400_assoc_diag(l.ini.a)->text, "CPR-PPDU"));
    wire_expect(&l, "pres_bad_cp", NULL, 0);
    close_link(&l);
}

START_TEST(bad_cp_missing_mode)
{
    static const uint8_t cp[] = { 0x31, 0x04, 0xa2, 0x02, 0x81, 0x00 };
    bad_cp(cp, sizeof cp, "does not decode");
}
END_TEST

START_TEST(bad_cp_not_ber)
{
    /* ACSE proposed with transfer syntax 2.1.2.1 only; AARQ on it */
    static const uint8_t cp[] = { 0x31, 0x2e, 0xa0, 0x03, 0x80, 0x01, 0x01, 0xa2, 0x27, 0xa4, 0x12,
        0x30, 0x10, 0x02, 0x01, 0x01, 0x06, 0x04, 0x52, 0x01, 0x00, 0x01, 0x30, 0x05, 0x06, 0x03,
        0x51, 0x02, 0x01, 0x61, 0x11, 0x30, 0x0f, 0x02, 0x01, 0x01, 0xa0, 0x0a, 0x60, 0x08, 0xa1,
        0x06, 0x06, 0x04, 0x56, 0x00, 0x01, 0x06 };
    bad_cp(cp, sizeof cp, "transfer syntaxes do not include BER");
}
END_TEST

Suite *x400t_suite_presentation(void)
{
    Suite *s = suite_create("presentation");
    TCase *tc = tcase_create("wire");
    TCase *tb = tcase_create("bad");
    tcase_set_timeout(tc, 120);
    tcase_set_timeout(tb, 120);
    tcase_add_test(tc, own_cp_structure);
    tcase_add_test(tc, tshark_normal_exchange);
    tcase_add_test(tc, tshark_refused);
    tcase_add_test(tc, tshark_user_abort);
    tcase_add_test(tc, tshark_arp);
    tcase_add_test(tb, bad_unknown_context);
    tcase_add_test(tb, bad_transfer_syntax);
    tcase_add_test(tb, bad_length_past_container);
    tcase_add_test(tb, bad_indefinite_bomb);
    tcase_add_test(tb, bad_million_nested);
    tcase_add_test(tb, bad_missing_mandatory);
    tcase_add_test(tb, bad_simply_encoded);
    tcase_add_test(tb, bad_cp_missing_mode);
    tcase_add_test(tb, bad_cp_not_ber);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, tb);
    return s;
}
