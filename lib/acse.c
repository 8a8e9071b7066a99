/*
 * X.227 ACSE: APDU codec and the ACSE protocol machine table.
 */
#include <string.h>

#include "acse.h"

#include <ACSE-apdu.h>
#include <ACSE-External-body.h>
#include <ANY.h>
#include <Association-information.h>
#include <Associate-source-diagnostic.h>
#include <AARQ-apdu.h>
#include <AARE-apdu.h>
#include <RLRQ-apdu.h>
#include <RLRE-apdu.h>
#include <ABRT-apdu.h>

#define L X400_LAYER_ACSE
#define TRY(x) do { int rv_ = (x); if (rv_ < 0) return rv_; } while (0)

void x400i_acse_init(x400i_acse_apdu *a, int type)
{
    memset(a, 0, sizeof *a);
    a->type = type;
    a->reason = -1;
    a->abort_diag = -1;
    a->diag_source = 1;
}

const char *x400i_acse_apdu_name(int type)
{
    switch (type) {
    case X400I_ACSE_AARQ: return "AARQ";
    case X400I_ACSE_AARE: return "AARE";
    case X400I_ACSE_RLRQ: return "RLRQ";
    case X400I_ACSE_RLRE: return "RLRE";
    case X400I_ACSE_ABRT: return "ABRT";
    default: return "?";
    }
}

/* ---- encoder ---- */

static int put_explicit(x400i_buf *b, uint8_t id, const x400i_view *v)
{
    size_t m;
    if (!v->len) return X400_OK;
    TRY(x400i_ber_open(b, id, &m));
    TRY(x400i_buf_append(b, v->p, v->len));
    return x400i_ber_close(b, m);
}

/* user-information [30] IMPLICIT SEQUENCE OF EXTERNAL (X.227 7.1.4.3) */
static int put_user_info(x400i_buf *b, const x400i_acse_apdu *a)
{
    size_t m;
    if (!a->nui) return X400_OK;
    TRY(x400i_ber_open(b, 0xBE, &m));
    for (size_t i = 0; i < a->nui; i++) {
        const x400i_acse_ext *e = &a->ui[i];
        size_t me, mv;
        TRY(x400i_ber_open(b, 0x28, &me));      /* [UNIVERSAL 8] EXTERNAL */
        if (e->has_direct) TRY(x400i_ber_put(b, 0x06, e->direct.v, e->direct.len));
        if (e->indirect >= 0) TRY(x400i_ber_put_int(b, 0x02, e->indirect));
        switch (e->encoding) {
        case X400I_PDV_SINGLE:
            TRY(x400i_ber_open(b, 0xA0, &mv));
            TRY(x400i_buf_append(b, e->v, e->len));
            TRY(x400i_ber_close(b, mv));
            break;
        case X400I_PDV_OCTETS: TRY(x400i_ber_put(b, 0x81, e->v, e->len)); break;
        default: TRY(x400i_ber_put(b, 0x82, e->v, e->len)); break;
        }
        TRY(x400i_ber_close(b, me));
    }
    return x400i_ber_close(b, m);
}

static int put_ctx_name(x400i_buf *b, const x400i_oidv *o)
{
    size_t m;
    if (!o->len) return X400_ERR_INVALID_ARG;
    TRY(x400i_ber_open(b, 0xA1, &m));
    TRY(x400i_ber_put(b, 0x06, o->v, o->len));
    return x400i_ber_close(b, m);
}

int x400i_acse_encode(x400i_buf *b, const x400i_acse_apdu *a)
{
    size_t m, m2, m3;
    switch (a->type) {
    case X400I_ACSE_AARQ:   /* X.227 9.1 */
        TRY(x400i_ber_open(b, 0x60, &m));
        TRY(put_ctx_name(b, &a->app_ctx));
        TRY(put_explicit(b, 0xA2, &a->called_ap_title));
        TRY(put_explicit(b, 0xA3, &a->called_ae_qual));
        TRY(put_explicit(b, 0xA6, &a->calling_ap_title));
        TRY(put_explicit(b, 0xA7, &a->calling_ae_qual));
        TRY(put_user_info(b, a));
        return x400i_ber_close(b, m);
    case X400I_ACSE_AARE:   /* X.227 9.2 */
        if (a->diag_source != 1 && a->diag_source != 2) return X400_ERR_INVALID_ARG;
        TRY(x400i_ber_open(b, 0x61, &m));
        TRY(put_ctx_name(b, &a->app_ctx));
        TRY(x400i_ber_open(b, 0xA2, &m2));
        TRY(x400i_ber_put_int(b, 0x02, a->result));
        TRY(x400i_ber_close(b, m2));
        TRY(x400i_ber_open(b, 0xA3, &m2));
        TRY(x400i_ber_open(b, a->diag_source == 1 ? 0xA1 : 0xA2, &m3));
        TRY(x400i_ber_put_int(b, 0x02, a->diag));
        TRY(x400i_ber_close(b, m3));
        TRY(x400i_ber_close(b, m2));
        TRY(put_explicit(b, 0xA4, &a->responding_ap_title));
        TRY(put_explicit(b, 0xA5, &a->responding_ae_qual));
        TRY(put_user_info(b, a));
        return x400i_ber_close(b, m);
    case X400I_ACSE_RLRQ:   /* X.227 9.3 */
    case X400I_ACSE_RLRE:   /* X.227 9.4 */
        TRY(x400i_ber_open(b, a->type == X400I_ACSE_RLRQ ? 0x62 : 0x63, &m));
        if (a->reason >= 0) TRY(x400i_ber_put_int(b, 0x80, a->reason));
        TRY(put_user_info(b, a));
        return x400i_ber_close(b, m);
    case X400I_ACSE_ABRT:   /* X.227 9.5 */
        TRY(x400i_ber_open(b, 0x64, &m));
        TRY(x400i_ber_put_int(b, 0x80, a->abort_source));
        if (a->abort_diag >= 0) TRY(x400i_ber_put_int(b, 0x81, a->abort_diag));
        TRY(put_user_info(b, a));
        return x400i_ber_close(b, m);
    default:
        return X400_ERR_INVALID_ARG;
    }
}

/* ---- decoder ---- */

static int bad(x400_diag *d, const char *what)
{
    return x400i_diag_set(d, L, X400_SOURCE_PEER, X400_ERR_PARSE, 0, "ACSE: %s", what);
}

/* AP title / AE qualifier: asn1c also takes a primitive explicit tag into
 * an ANY, so check that the value is one complete TLV. */
static int all_definite(const uint8_t *p, size_t len, unsigned depth);

/* An AP title / AE qualifier ([n] EXPLICIT ANY): one value, definite
 * throughout (see all_definite). */
static int take_any(x400i_view *v, const ANY_t *a)
{
    if (!a) return 0;
    v->p = a->buf;
    v->len = (size_t)a->size;
    return x400i_ber_is_one_tlv(v->p, v->len) && all_definite(v->p, v->len, X400I_BER_MAX_DEPTH)
               ? 0 : -1;
}

static int take_oid(x400i_oidv *o, const OBJECT_IDENTIFIER_t *s)
{
    if (!s || !s->buf || s->size <= 0 || (size_t)s->size > sizeof o->v) return -1;
    memcpy(o->v, s->buf, (size_t)s->size);
    o->len = (size_t)s->size;
    return 0;
}

/* 1 if p[0..len) holds only definite-length TLVs, at every depth.  The APDU
 * was normalised (x400i_ber_normalise) before asn1c saw it, so an indefinite
 * length left inside a single-ASN1-type value can only have been hidden in a
 * primitive [0] (the normaliser copies primitive contents as they are):
 * X.227 7.1.4.3 / X.690 8.18.1 make [0] a constructed explicit tag. */
static int all_definite(const uint8_t *p, size_t len, unsigned depth)
{
    while (len) {
        x400i_tlv t;
        if (x400i_ber_read(p, len, &t, depth, L, NULL) < 0 || t.indefinite) return 0;
        if (t.constructed && (depth == 0 || !all_definite(t.v, t.vlen, depth - 1))) return 0;
        p += t.total;
        len -= t.total;
    }
    return 1;
}

static int take_ui(x400i_acse_apdu *a, const Association_information_t *ui, x400_diag *d)
{
    if (!ui) return X400_OK;
    size_t need = 0;
    if (ui->list.count > X400I_ACSE_EXT_MAX) return bad(d, "more than 8 EXTERNALs in user-information");
    /* arbitrary values are handed up as the BIT STRING contents (unused-bits
     * octet first): room for them in scratch, reserved once so that views
     * stay valid */
    for (int i = 0; i < ui->list.count; i++)
        if (ui->list.array[i]->encoding.present == ACSE_External_body__encoding_PR_arbitrary)
            need += 1 + (size_t)ui->list.array[i]->encoding.choice.arbitrary.size;
    if (need && x400i_buf_reserve(&a->scratch, need) < 0)
        return x400i_diag_set(d, L, X400_SOURCE_LOCAL, X400_ERR_NOMEM, 0, "ACSE: out of memory");
    for (int i = 0; i < ui->list.count; i++) {
        const ACSE_External_body_t *e = ui->list.array[i];
        x400i_acse_ext *o = &a->ui[i];
        memset(o, 0, sizeof *o);
        o->indirect = e->indirect_reference ? *e->indirect_reference : -1;
        if (e->indirect_reference && *e->indirect_reference < 0)
            return bad(d, "negative indirect-reference (not a presentation context identifier)");
        if (e->direct_reference) {
            if (take_oid(&o->direct, e->direct_reference) < 0) return bad(d, "bad direct-reference");
            o->has_direct = 1;
        }
        switch (e->encoding.present) {
        case ACSE_External_body__encoding_PR_single_ASN1_type:
            o->encoding = X400I_PDV_SINGLE;
            o->v = e->encoding.choice.single_ASN1_type.buf;
            o->len = (size_t)e->encoding.choice.single_ASN1_type.size;
            if (!x400i_ber_is_one_tlv(o->v, o->len))
                return bad(d, "EXTERNAL single-ASN1-type is not one complete value");
            if (!all_definite(o->v, o->len, X400I_BER_MAX_DEPTH))
                return bad(d, "EXTERNAL single-ASN1-type: primitive [0] around an "
                              "indefinite-length value (X.690 8.18: [0] is constructed)");
            break;
        case ACSE_External_body__encoding_PR_octet_aligned:
            o->encoding = X400I_PDV_OCTETS;
            o->v = e->encoding.choice.octet_aligned.buf;
            o->len = (size_t)e->encoding.choice.octet_aligned.size;
            break;
        case ACSE_External_body__encoding_PR_arbitrary:
            o->encoding = X400I_PDV_ARBITRARY;
            o->v = a->scratch.p + a->scratch.len;
            o->len = 1 + (size_t)e->encoding.choice.arbitrary.size;
            a->scratch.p[a->scratch.len++] = (uint8_t)e->encoding.choice.arbitrary.bits_unused;
            if (o->len > 1)
                memcpy(a->scratch.p + a->scratch.len, e->encoding.choice.arbitrary.buf, o->len - 1);
            a->scratch.len += o->len - 1;
            break;
        default:
            return bad(d, "EXTERNAL without encoding");
        }
    }
    a->nui = (size_t)ui->list.count;
    return X400_OK;
}

int x400i_acse_decode(const uint8_t *p, size_t len, x400i_acse_apdu *a, const x400_allocator *al,
                      x400_diag *d)
{
    asn_dec_rval_t r;
    const ACSE_apdu_t *ap;
    int rv;
    x400i_acse_init(a, 0);
    x400i_buf_init(&a->scratch, al, 2 * X400I_ACSE_MAX + 64);
    if (len == 0) return bad(d, "empty APDU");
    if (len > X400I_ACSE_MAX)
        return x400i_diag_set(d, L, X400_SOURCE_PEER, X400_ERR_LIMIT, 0,
                              "ACSE: APDU of %zu octets above the bound of %u", len, X400I_ACSE_MAX);
    /* definite lengths throughout: asn1c reads the input itself (it
     * copies what it keeps) */
    if (!x400i_ber_is_normal(p, len, X400I_BER_MAX_DEPTH)) {
        rv = x400i_ber_normalise(p, len, &a->scratch, X400I_BER_MAX_DEPTH, L, d);
        if (rv < 0) return rv;
        p = a->scratch.p;
        len = a->scratch.len;
    }
    r = ber_decode(NULL, &asn_DEF_ACSE_apdu, &a->asn, p, len);
    if (r.code != RC_OK || r.consumed != len)
        return x400i_diag_set(d, L, X400_SOURCE_PEER, X400_ERR_PARSE, 0,
                              "ACSE: APDU does not decode (%s at octet %zu of %zu)",
                              r.code == RC_WMORE ? "incomplete" : "malformed", (size_t)r.consumed,
                              len);
    ap = a->asn;
    switch (ap->present) {
    case ACSE_apdu_PR_aarq: {
        const AARQ_apdu_t *q = &ap->choice.aarq;
        a->type = X400I_ACSE_AARQ;
        if (take_oid(&a->app_ctx, &q->application_context_name) < 0)
            return bad(d, "AARQ without a valid application-context-name");
        if (take_any(&a->called_ap_title, q->called_AP_title) < 0 ||
            take_any(&a->called_ae_qual, q->called_AE_qualifier) < 0 ||
            take_any(&a->calling_ap_title, q->calling_AP_title) < 0 ||
            take_any(&a->calling_ae_qual, q->calling_AE_qualifier) < 0)
            return bad(d, "AARQ AP title or AE qualifier is not one complete value");
        if (q->protocol_version && (q->protocol_version->size < 1 || !(q->protocol_version->buf[0] & 0x80)))
            return x400i_diag_set(d, L, X400_SOURCE_PEER, X400_ERR_UNSUPPORTED, 2,
                                  "ACSE: AARQ without protocol version 1");
        return take_ui(a, q->user_information, d);
    }
    case ACSE_apdu_PR_aare: {
        const AARE_apdu_t *e = &ap->choice.aare;
        a->type = X400I_ACSE_AARE;
        if (take_oid(&a->app_ctx, &e->application_context_name) < 0)
            return bad(d, "AARE without a valid application-context-name");
        a->result = e->result;
        if (a->result < 0 || a->result > 2) return bad(d, "AARE result outside 0..2");
        if (e->result_source_diagnostic.present == Associate_source_diagnostic_PR_acse_service_user) {
            a->diag_source = 1;
            a->diag = e->result_source_diagnostic.choice.acse_service_user;
        } else if (e->result_source_diagnostic.present ==
                   Associate_source_diagnostic_PR_acse_service_provider) {
            a->diag_source = 2;
            a->diag = e->result_source_diagnostic.choice.acse_service_provider;
        } else {
            return bad(d, "AARE without result-source-diagnostic");
        }
        if (take_any(&a->responding_ap_title, e->responding_AP_title) < 0 ||
            take_any(&a->responding_ae_qual, e->responding_AE_qualifier) < 0)
            return bad(d, "AARE AP title or AE qualifier is not one complete value");
        return take_ui(a, e->user_information, d);
    }
    case ACSE_apdu_PR_rlrq:
        a->type = X400I_ACSE_RLRQ;
        if (ap->choice.rlrq.reason) a->reason = *ap->choice.rlrq.reason;
        return take_ui(a, ap->choice.rlrq.user_information, d);
    case ACSE_apdu_PR_rlre:
        a->type = X400I_ACSE_RLRE;
        if (ap->choice.rlre.reason) a->reason = *ap->choice.rlre.reason;
        return take_ui(a, ap->choice.rlre.user_information, d);
    case ACSE_apdu_PR_abrt:
        a->type = X400I_ACSE_ABRT;
        a->abort_source = ap->choice.abrt.abort_source;
        if (ap->choice.abrt.abort_diagnostic) a->abort_diag = *ap->choice.abrt.abort_diagnostic;
        return take_ui(a, ap->choice.abrt.user_information, d);
    default:
        return bad(d, "unknown APDU");
    }
}

void x400i_acse_release(x400i_acse_apdu *a)
{
    if (a->asn) {
        ASN_STRUCT_FREE(asn_DEF_ACSE_apdu, a->asn);
        a->asn = NULL;
    }
    x400i_buf_free(&a->scratch);
}

/* ---- the ACSE protocol machine (X.227 annex A, kernel) ---- */

typedef struct acell { uint8_t valid, next; } acell;
#define A(n) { 1, X400I_ACSE_ST_##n }

static const acell acse_table[X400I_ACSE_ST_COUNT][X400I_ACSE_EV_COUNT] = {
    [X400I_ACSE_ST_IDLE] = {
        [X400I_ACSE_EV_ASSOC_REQ] = A(AWAIT_AARE),
        [X400I_ACSE_EV_AARQ] = A(AWAIT_ASSOC_RSP),
        [X400I_ACSE_EV_ABRT] = A(IDLE),
    },
    [X400I_ACSE_ST_AWAIT_AARE] = {
        [X400I_ACSE_EV_AARE_POS] = A(ASSOCIATED),
        [X400I_ACSE_EV_AARE_NEG] = A(IDLE),
        [X400I_ACSE_EV_ABORT_REQ] = A(IDLE),
        [X400I_ACSE_EV_ABRT] = A(IDLE),
    },
    [X400I_ACSE_ST_AWAIT_ASSOC_RSP] = {
        [X400I_ACSE_EV_ASSOC_RSP_POS] = A(ASSOCIATED),
        [X400I_ACSE_EV_ASSOC_RSP_NEG] = A(IDLE),
        [X400I_ACSE_EV_ABORT_REQ] = A(IDLE),
        [X400I_ACSE_EV_ABRT] = A(IDLE),
    },
    [X400I_ACSE_ST_ASSOCIATED] = {
        [X400I_ACSE_EV_RELEASE_REQ] = A(AWAIT_RLRE),
        [X400I_ACSE_EV_RLRQ] = A(AWAIT_RELEASE_RSP),
        [X400I_ACSE_EV_ABORT_REQ] = A(IDLE),
        [X400I_ACSE_EV_ABRT] = A(IDLE),
    },
    [X400I_ACSE_ST_AWAIT_RLRE] = {
        [X400I_ACSE_EV_RLRE] = A(IDLE),
        [X400I_ACSE_EV_ABORT_REQ] = A(IDLE),
        [X400I_ACSE_EV_ABRT] = A(IDLE),
    },
    [X400I_ACSE_ST_AWAIT_RELEASE_RSP] = {
        [X400I_ACSE_EV_RELEASE_RSP] = A(IDLE),
        [X400I_ACSE_EV_ABORT_REQ] = A(IDLE),
        [X400I_ACSE_EV_ABRT] = A(IDLE),
    },
};

static const char *const acse_states[X400I_ACSE_ST_COUNT] = {
    "idle", "awaiting AARE", "awaiting A-ASSOCIATE response", "associated", "awaiting RLRE",
    "awaiting A-RELEASE response",
};
static const char *const acse_events[X400I_ACSE_EV_COUNT] = {
    "A-ASSOCIATE request", "AARQ", "A-ASSOCIATE response (accepted)",
    "A-ASSOCIATE response (rejected)", "AARE (accepted)", "AARE (rejected)", "A-RELEASE request",
    "RLRQ", "A-RELEASE response", "RLRE", "A-ABORT request", "ABRT",
};

const char *x400i_acse_state_name(int st)
{
    return (unsigned)st < X400I_ACSE_ST_COUNT ? acse_states[st] : "?";
}
const char *x400i_acse_event_name(int ev)
{
    return (unsigned)ev < X400I_ACSE_EV_COUNT ? acse_events[ev] : "?";
}

int x400i_acse_check(int state, int ev, int *next, x400_diag *d)
{
    if ((unsigned)state < X400I_ACSE_ST_COUNT && (unsigned)ev < X400I_ACSE_EV_COUNT &&
        acse_table[state][ev].valid) {
        *next = acse_table[state][ev].next;
        return X400_OK;
    }
    return x400i_diag_set(d, L, X400_SOURCE_LOCAL, X400_ERR_STATE, 0,
                          "ACSE state check failure: state %s does not accept %s",
                          x400i_acse_state_name(state), x400i_acse_event_name(ev));
}

/* ---- the ACSE protocol actions over presentation (X.227 clause 7) ---- */

int x400i_acpm_init(x400i_acpm *m, x400i_pres *pres, const x400_assoc_config *cfg,
                    const x400i_pctx *ctx, size_t nctx, x400_diag *diag, const x400_allocator *alloc)
{
    memset(m, 0, sizeof *m);
    m->pres = pres;
    m->cfg = cfg;
    m->ctx = ctx;
    m->nctx = nctx;
    m->diag = diag;
    m->alloc = alloc;
    m->state = X400I_ACSE_ST_IDLE;
    x400i_buf_init(&m->out, alloc, X400I_ACSE_MAX);
    if (x400i_oidv_from_arcs(&m->app_ctx, cfg->application_context.arc, cfg->application_context.n) < 0)
        return X400_ERR_INVALID_ARG;
    return X400_OK;
}

void x400i_acpm_free(x400i_acpm *m)
{
    if (m) x400i_buf_free(&m->out);
}

static int acse_ctx(const x400i_acpm *m)
{
    return x400i_pres_context_id(m->pres, &x400i_oid_acse);
}

/* The presentation machine refused a request: its diagnostic is the one. */
static int pres_err(x400i_acpm *m, int rv)
{
    const x400_diag *pd = x400i_pres_diag(m->pres);
    if (pd->code) *m->diag = *pd;
    return rv;
}

static int step(x400i_acpm *m, int ev)
{
    int next = X400I_ACSE_ST_IDLE;
    int rv = x400i_acse_check(m->state, ev, &next, m->diag);
    return rv < 0 ? rv : next;
}

/* Encode `ap` into m->out and describe it as one PDV on context `ctx`. */
static int apdu_pdv(x400i_acpm *m, const x400i_acse_apdu *ap, x400i_pdv *pdv, int ctx)
{
    int rv;
    x400i_buf_reset(&m->out);
    rv = x400i_acse_encode(&m->out, ap);
    if (rv < 0)
        return x400i_diag_set(m->diag, L, X400_SOURCE_LOCAL, rv, 0, "ACSE: cannot encode %s: %s",
                              x400i_acse_apdu_name(ap->type), x400_strerror(rv));
    pdv->ctx = ctx;
    pdv->encoding = X400I_PDV_SINGLE;
    pdv->v = m->out.p;
    pdv->len = m->out.len;
    return X400_OK;
}

/* user-information: one EXTERNAL {BER, user_info_context, single-ASN1-type ui} */
static void put_ui(const x400i_acpm *m, x400i_acse_apdu *ap, const uint8_t *ui, size_t len)
{
    if (!len) return;
    ap->nui = 1;
    ap->ui[0].has_direct = 1;
    ap->ui[0].direct = x400i_oid_ber;
    ap->ui[0].indirect = m->cfg->user_info_context;
    ap->ui[0].encoding = X400I_PDV_SINGLE;
    ap->ui[0].v = ui;
    ap->ui[0].len = len;
}

static void view_part(x400i_view *v, const x400_ae_part *p)
{
    v->p = p->tlv;
    v->len = p->len;
}

int x400i_acpm_associate_req(x400i_acpm *m, const uint8_t *ui, size_t ui_len)
{
    x400i_acse_apdu ap;
    x400i_pdv pdv;
    int next, rv, ctx = -1;
    next = step(m, X400I_ACSE_EV_ASSOC_REQ);
    if (next < 0) return next;
    for (size_t i = 0; i < m->nctx; i++)
        if (x400i_oidv_eq(&m->ctx[i].as, &x400i_oid_acse)) ctx = m->ctx[i].id;
    if (ctx < 0)
        return x400i_diag_set(m->diag, L, X400_SOURCE_LOCAL, X400_ERR_INVALID_ARG, 0,
                              "ACSE: no presentation context for id-as-acse (2.2.1.0.1) configured");
    x400i_acse_init(&ap, X400I_ACSE_AARQ);    /* AARQ, X.227 7.1.4.1 */
    ap.app_ctx = m->app_ctx;
    view_part(&ap.called_ap_title, &m->cfg->called_ap_title);
    view_part(&ap.called_ae_qual, &m->cfg->called_ae_qualifier);
    view_part(&ap.calling_ap_title, &m->cfg->calling_ap_title);
    view_part(&ap.calling_ae_qual, &m->cfg->calling_ae_qualifier);
    put_ui(m, &ap, ui, ui_len);
    rv = apdu_pdv(m, &ap, &pdv, ctx);
    if (rv < 0) return rv;
    rv = x400i_pres_connect_req(m->pres, &pdv, 1);
    if (rv < 0) return pres_err(m, rv);
    m->state = next;
    return X400_OK;
}

int x400i_acpm_associate_rsp(x400i_acpm *m, int accept, const uint8_t *ui, size_t ui_len)
{
    x400i_acse_apdu ap;
    x400i_pdv pdv;
    int next, rv;
    next = step(m, accept ? X400I_ACSE_EV_ASSOC_RSP_POS : X400I_ACSE_EV_ASSOC_RSP_NEG);
    if (next < 0) return next;
    x400i_acse_init(&ap, X400I_ACSE_AARE);    /* AARE, X.227 7.1.4.2 */
    ap.app_ctx = m->app_ctx;
    ap.result = accept ? 0 : 1;
    ap.diag_source = 1;
    ap.diag = accept ? 0 : 1;              /* null / no-reason-given */
    view_part(&ap.responding_ap_title, &m->cfg->responding_ap_title);
    view_part(&ap.responding_ae_qual, &m->cfg->responding_ae_qualifier);
    put_ui(m, &ap, ui, ui_len);
    rv = apdu_pdv(m, &ap, &pdv, acse_ctx(m));
    if (rv < 0) return rv;
    rv = x400i_pres_connect_rsp(m->pres, accept, -1, &pdv, 1);
    if (rv < 0) return pres_err(m, rv);
    m->state = next;
    return X400_OK;
}

/* RLRQ / RLRE (reason normal) in P-RELEASE request / response, X.227 7.2 */
static int release(x400i_acpm *m, int rsp)
{
    x400i_acse_apdu ap;
    x400i_pdv pdv;
    int next, rv;
    next = step(m, rsp ? X400I_ACSE_EV_RELEASE_RSP : X400I_ACSE_EV_RELEASE_REQ);
    if (next < 0) return next;
    x400i_acse_init(&ap, rsp ? X400I_ACSE_RLRE : X400I_ACSE_RLRQ);
    ap.reason = 0;                             /* normal */
    rv = apdu_pdv(m, &ap, &pdv, acse_ctx(m));
    if (rv < 0) return rv;
    rv = rsp ? x400i_pres_release_rsp(m->pres, &pdv, 1) : x400i_pres_release_req(m->pres, &pdv, 1);
    if (rv < 0) return pres_err(m, rv);
    m->state = next;
    return X400_OK;
}

int x400i_acpm_release_req(x400i_acpm *m) { return release(m, 0); }
int x400i_acpm_release_rsp(x400i_acpm *m) { return release(m, 1); }

/* ABRT with `source` in ARU, or a bare ARU when none can be built. */
static int send_abrt(x400i_acpm *m, int source, int valid, const uint8_t *ui, size_t ui_len)
{
    x400i_acse_apdu ap;
    x400i_pdv pdv;
    int ctx = acse_ctx(m);
    x400i_acse_init(&ap, X400I_ACSE_ABRT);     /* ABRT, X.227 7.3 */
    ap.abort_source = source;
    put_ui(m, &ap, ui, ui_len);
    m->state = X400I_ACSE_ST_IDLE;
    if (valid && ctx > 0 && apdu_pdv(m, &ap, &pdv, ctx) >= 0)
        return x400i_pres_u_abort_req(m->pres, &pdv, 1);
    return x400i_pres_u_abort_req(m->pres, NULL, 0);
}

int x400i_acpm_abort_req(x400i_acpm *m, const uint8_t *ui, size_t ui_len)
{
    int next = step(m, X400I_ACSE_EV_ABORT_REQ);
    return send_abrt(m, 0 /* acse-service-user */, next >= 0, ui, ui_len);
}

void x400i_acpm_provider_abort(x400i_acpm *m)
{
    x400_diag keep = *m->diag;
    (void)send_abrt(m, 1 /* acse-service-provider */, 1, NULL, 0);
    *m->diag = keep;
}

/* Find and decode the ACSE APDU among the PDVs of a presentation primitive. */
static int apdu_in(x400i_acpm *m, const x400i_pres_ind *pi, x400i_acse_apdu *ap, int want,
                   const char *prim)
{
    int ctx = acse_ctx(m), rv;
    for (size_t i = 0; i < pi->npdv; i++) {
        if (pi->pdv[i].ctx != ctx) continue;
        if (pi->pdv[i].encoding != X400I_PDV_SINGLE) break;
        rv = x400i_acse_decode(pi->pdv[i].v, pi->pdv[i].len, ap, m->alloc, m->diag);
        if (rv < 0) return rv;
        if (want && ap->type != want)
            return x400i_diag_set(m->diag, L, X400_SOURCE_PEER, X400_ERR_PROTOCOL, 0,
                                  "ACSE: %s carries %s where %s was expected", prim,
                                  x400i_acse_apdu_name(ap->type), x400i_acse_apdu_name(want));
        return X400_OK;
    }
    x400i_acse_init(ap, 0);
    return x400i_diag_set(m->diag, L, X400_SOURCE_PEER, X400_ERR_PROTOCOL, 0,
                          "ACSE: %s without %s on the ACSE presentation context", prim,
                          x400i_acse_apdu_name(want));
}

int x400i_acpm_aarq_in(x400i_acpm *m, const x400i_pres_ind *pi, x400i_acse_apdu *ap)
{
    int rv = apdu_in(m, pi, ap, X400I_ACSE_AARQ, "P-CONNECT indication");
    if (rv >= 0) rv = step(m, X400I_ACSE_EV_AARQ);
    if (rv < 0) {
        /* unreadable: CPR with provider reason user-data-not-readable */
        x400_diag keep = *m->diag;
        (void)x400i_pres_connect_rsp(m->pres, 0, 6, NULL, 0);
        *m->diag = keep;
        return rv;
    }
    m->state = rv;
    if (!x400i_oidv_eq(&ap->app_ctx, &m->app_ctx)) {
        /* AARE- (rejected-permanent, application-context-name-not-supported) in CPR */
        x400i_acse_apdu re;
        x400i_pdv pdv;
        char txt[64];
        x400i_oid_to_text(ap->app_ctx.v, ap->app_ctx.len, txt, sizeof txt);
        x400i_acse_init(&re, X400I_ACSE_AARE);
        re.app_ctx = ap->app_ctx;
        re.result = 1;
        re.diag_source = 1;
        re.diag = 2;
        m->state = X400I_ACSE_ST_IDLE;
        if (apdu_pdv(m, &re, &pdv, acse_ctx(m)) >= 0)
            (void)x400i_pres_connect_rsp(m->pres, 0, -1, &pdv, 1);
        x400i_diag_set(m->diag, L, X400_SOURCE_PEER, X400_ERR_REFUSED, 2,
                       "ACSE: application context %s not supported (AARE- sent)", txt);
        return X400_ERR_REFUSED;
    }
    return X400_OK;
}

int x400i_acpm_aare_in(x400i_acpm *m, const x400i_pres_ind *pi, x400i_acse_apdu *ap,
                       int *accepted)
{
    int rv;
    x400i_acse_init(ap, 0);
    *accepted = pi->accepted;
    if (!pi->accepted && !pi->npdv) {     /* CPR without AARE */
        m->state = X400I_ACSE_ST_IDLE;
        return 0;
    }
    rv = apdu_in(m, pi, ap, X400I_ACSE_AARE, pi->accepted ? "CPA-PPDU" : "CPR-PPDU");
    if (rv >= 0)
        rv = step(m, ap->result == 0 && pi->accepted ? X400I_ACSE_EV_AARE_POS : X400I_ACSE_EV_AARE_NEG);
    if (rv < 0) return rv;
    m->state = rv;
    if (pi->accepted && ap->result != 0) {
        /* AARE- inside a CPA: the association is refused; drop the
         * presentation connection with ARU */
        *accepted = 0;
        (void)x400i_pres_u_abort_req(m->pres, NULL, 0);
    }
    if (!*accepted)
        x400i_diag_set(m->diag, L, X400_SOURCE_PEER, X400_ERR_REFUSED, (int)ap->diag,
                       "ACSE: association rejected (AARE result %ld, %s diagnostic %ld)", ap->result,
                       ap->diag_source == 1 ? "service-user" : "service-provider", ap->diag);
    return 1;
}

int x400i_acpm_release_in(x400i_acpm *m, const x400i_pres_ind *pi, x400i_acse_apdu *ap, int conf)
{
    int rv = apdu_in(m, pi, ap, conf ? X400I_ACSE_RLRE : X400I_ACSE_RLRQ,
                     conf ? "P-RELEASE confirm" : "P-RELEASE indication");
    if (rv >= 0) rv = step(m, conf ? X400I_ACSE_EV_RLRE : X400I_ACSE_EV_RLRQ);
    if (rv < 0) return rv;
    m->state = rv;
    return X400_OK;
}

int x400i_acpm_abrt_in(x400i_acpm *m, const x400i_pres_ind *pi, x400i_acse_apdu *ap)
{
    int have = 0;
    x400i_acse_init(ap, 0);
    m->state = X400I_ACSE_ST_IDLE;
    if (pi->npdv && apdu_in(m, pi, ap, X400I_ACSE_ABRT, "ARU-PPDU") >= 0) {
        have = 1;
        x400i_diag_set(m->diag, L, X400_SOURCE_PEER, X400_ERR_ABORTED, (int)ap->abort_source,
                       "A-ABORT from peer (ABRT, source %s)",
                       ap->abort_source ? "acse-service-provider" : "acse-service-user");
    } else {
        x400i_diag_set(m->diag, X400_LAYER_PRESENTATION, X400_SOURCE_PEER, X400_ERR_ABORTED, 0,
                       "P-U-ABORT from peer");
    }
    return have;
}

void x400i_acse_user_apdu(const x400i_acse_apdu *ap, const uint8_t **ui, size_t *ui_len)
{
    for (size_t i = 0; i < ap->nui; i++)
        if (ap->ui[i].encoding == X400I_PDV_SINGLE) {
            *ui = ap->ui[i].v;
            *ui_len = ap->ui[i].len;
            return;
        }
}
