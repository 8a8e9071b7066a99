/*
 * X.226 presentation: the PPDU codec (lib/ppdu.h), normal mode.  The
 * machine that uses it is lib/presentation.c; X.410-1984 mode has no
 * presentation layer (lib/rtse_ses.c builds its CP/CPA/CPR/ARU SETs).
 */
#include <string.h>

#include "ppdu.h"

#include <ARP-PPDU.h>
#include <ARU-PPDU.h>
#include <Abort-type.h>
#include <BIT_STRING.h>
#include <CP-type.h>
#include <CPA-PPDU.h>
#include <CPR-PPDU.h>
#include <OBJECT_IDENTIFIER.h>
#include <OCTET_STRING.h>
#include <P-CP-normal-mode-parameters.h>
#include <P-CPA-normal-mode-parameters.h>
#include <P-CPR-normal-mode-parameters.h>
#include <P-ARU-normal-mode-parameters.h>
#include <P-Context-list-item.h>
#include <P-Context-list.h>
#include <P-Fully-encoded-data.h>
#include <P-PDV-list.h>
#include <P-Result-list-item.h>
#include <P-Result-list.h>
#include <P-User-data.h>

#define L X400_LAYER_PRESENTATION

const x400i_oidv x400i_oid_ber = { 2, { 0x51, 0x01 } };
const x400i_oidv x400i_oid_acse = { 4, { 0x52, 0x01, 0x00, 0x01 } };

int x400i_oidv_from_arcs(x400i_oidv *o, const uint32_t *arcs, size_t n)
{
    return x400i_oid_encode(arcs, n, o->v, sizeof o->v, &o->len);
}

int x400i_oidv_eq(const x400i_oidv *a, const x400i_oidv *b)
{
    return a->len == b->len && memcmp(a->v, b->v, a->len) == 0;
}

/* ======================================================================
 * Encoders
 * ====================================================================== */

#define TRY(x) do { int rv_ = (x); if (rv_ < 0) return rv_; } while (0)

static int put_oid(x400i_buf *b, uint8_t id, const x400i_oidv *o)
{
    return x400i_ber_put(b, id, o->v, o->len);
}

/* PDV-list, X.226 8.4.2 */
static int put_pdv(x400i_buf *b, const x400i_pdv *d)
{
    size_t m, m2;
    TRY(x400i_ber_open(b, 0x30, &m));
    TRY(x400i_ber_put_int(b, 0x02, d->ctx));
    switch (d->encoding) {
    case X400I_PDV_SINGLE:
        TRY(x400i_ber_open(b, 0xA0, &m2));
        TRY(x400i_buf_append(b, d->v, d->len));
        TRY(x400i_ber_close(b, m2));
        break;
    case X400I_PDV_OCTETS:
        TRY(x400i_ber_put(b, 0x81, d->v, d->len));
        break;
    default:
        TRY(x400i_ber_put(b, 0x82, d->v, d->len));
        break;
    }
    return x400i_ber_close(b, m);
}

int x400i_ppdu_encode_user_data(x400i_buf *b, const x400i_pdv *pdv, size_t n)
{
    size_t m;
    if (!n) return X400_OK;
    TRY(x400i_ber_open(b, 0x61, &m));      /* fully-encoded-data [APPLICATION 1] */
    for (size_t i = 0; i < n; i++) TRY(put_pdv(b, &pdv[i]));
    return x400i_ber_close(b, m);
}

/* mode-selector [0] { mode-value [0] normal-mode (1) }, X.226 8.2 */
static int put_mode_selector(x400i_buf *b)
{
    static const uint8_t normal[] = { 0xA0, 0x03, 0x80, 0x01, 0x01 };
    return x400i_buf_append(b, normal, sizeof normal);
}

static int put_sel(x400i_buf *b, uint8_t id, const x400_selector *s)
{
    if (!s) return X400_OK;
    return x400i_ber_put(b, id, s->value, s->len);
}

/* CP-type, X.226 8.2 */
int x400i_ppdu_encode_cp(x400i_buf *b, const x400i_cp_params *p)
{
    size_t m, mn, ml;
    TRY(x400i_ber_open(b, 0x31, &m));
    TRY(put_mode_selector(b));
    TRY(x400i_ber_open(b, 0xA2, &mn));
    TRY(put_sel(b, 0x81, p->calling_sel));
    TRY(put_sel(b, 0x82, p->called_sel));
    if (p->nctx) {
        TRY(x400i_ber_open(b, 0xA4, &ml));
        for (size_t i = 0; i < p->nctx; i++) {
            size_t mi, mt;
            TRY(x400i_ber_open(b, 0x30, &mi));
            TRY(x400i_ber_put_int(b, 0x02, p->ctx[i].id));
            TRY(put_oid(b, 0x06, &p->ctx[i].as));
            TRY(x400i_ber_open(b, 0x30, &mt));
            TRY(put_oid(b, 0x06, &x400i_oid_ber));
            TRY(x400i_ber_close(b, mt));
            TRY(x400i_ber_close(b, mi));
        }
        TRY(x400i_ber_close(b, ml));
    }
    TRY(x400i_ppdu_encode_user_data(b, p->pdv, p->npdv));
    TRY(x400i_ber_close(b, mn));
    return x400i_ber_close(b, m);
}

static int put_results(x400i_buf *b, const x400i_pctx *ctx, size_t n)
{
    size_t ml;
    if (!n) return X400_OK;
    TRY(x400i_ber_open(b, 0xA5, &ml));
    for (size_t i = 0; i < n; i++) {
        size_t mi;
        TRY(x400i_ber_open(b, 0x30, &mi));
        TRY(x400i_ber_put_int(b, 0x80, ctx[i].result));
        if (ctx[i].result == 0) TRY(put_oid(b, 0x81, &x400i_oid_ber));
        if (ctx[i].result != 0 && ctx[i].provider_reason >= 0)
            TRY(x400i_ber_put_int(b, 0x82, ctx[i].provider_reason));
        TRY(x400i_ber_close(b, mi));
    }
    return x400i_ber_close(b, ml);
}

/* CPA-PPDU, X.226 8.3 */
int x400i_ppdu_encode_cpa(x400i_buf *b, const x400i_cp_params *p)
{
    size_t m, mn;
    TRY(x400i_ber_open(b, 0x31, &m));
    TRY(put_mode_selector(b));
    TRY(x400i_ber_open(b, 0xA2, &mn));
    TRY(put_sel(b, 0x83, p->responding_sel));
    TRY(put_results(b, p->ctx, p->nctx));
    TRY(x400i_ppdu_encode_user_data(b, p->pdv, p->npdv));
    TRY(x400i_ber_close(b, mn));
    return x400i_ber_close(b, m);
}

/* CPR-PPDU, X.226 8.4 */
int x400i_ppdu_encode_cpr(x400i_buf *b, const x400i_cp_params *p)
{
    size_t m;
    TRY(x400i_ber_open(b, 0x30, &m));
    TRY(put_sel(b, 0x83, p->responding_sel));
    TRY(put_results(b, p->ctx, p->nctx));
    if (p->provider_reason >= 0) TRY(x400i_ber_put_int(b, 0x8A, p->provider_reason));
    TRY(x400i_ppdu_encode_user_data(b, p->pdv, p->npdv));
    return x400i_ber_close(b, m);
}

/* ARU-PPDU, X.226 8.5 */
int x400i_ppdu_encode_aru(x400i_buf *b, const x400i_pdv *pdv, size_t n)
{
    size_t m, ml;
    TRY(x400i_ber_open(b, 0xA0, &m));
    if (n) {
        /* presentation-context-identifier-list: the contexts the PDVs use */
        TRY(x400i_ber_open(b, 0xA0, &ml));
        for (size_t i = 0; i < n; i++) {
            size_t mi;
            int dup = 0;
            for (size_t j = 0; j < i; j++) dup |= pdv[j].ctx == pdv[i].ctx;
            if (dup) continue;
            TRY(x400i_ber_open(b, 0x30, &mi));
            TRY(x400i_ber_put_int(b, 0x02, pdv[i].ctx));
            TRY(put_oid(b, 0x06, &x400i_oid_ber));
            TRY(x400i_ber_close(b, mi));
        }
        TRY(x400i_ber_close(b, ml));
        TRY(x400i_ppdu_encode_user_data(b, pdv, n));
    }
    return x400i_ber_close(b, m);
}

/* ARP-PPDU, X.226 8.6 */
int x400i_ppdu_encode_arp(x400i_buf *b, long reason, long event_id)
{
    size_t m;
    TRY(x400i_ber_open(b, 0x30, &m));
    if (reason >= 0) TRY(x400i_ber_put_int(b, 0x80, reason));
    if (event_id >= 0) TRY(x400i_ber_put_int(b, 0x81, event_id));
    return x400i_ber_close(b, m);
}

/* ======================================================================
 * Decoder
 * ====================================================================== */

static int bad(x400_diag *d, const char *what)
{
    return x400i_diag_set(d, L, X400_SOURCE_PEER, X400_ERR_PARSE, 6 /* invalid parameter */,
                          "presentation: %s", what);
}

static int take_oid(x400i_oidv *o, const OBJECT_IDENTIFIER_t *src)
{
    if (!src || !src->buf || src->size == 0 || (size_t)src->size > sizeof o->v) return -1;
    memcpy(o->v, src->buf, (size_t)src->size);
    o->len = (size_t)src->size;
    return 0;
}

static int take_user_data(x400i_ppdu *pp, const P_User_data_t *ud, x400_diag *d)
{
    if (!ud) return X400_OK;
    if (ud->present == P_User_data_PR_simply_encoded_data) {
        pp->simply_encoded = 1;
        pp->pdv[0].ctx = -1;
        pp->pdv[0].encoding = X400I_PDV_OCTETS;
        pp->pdv[0].v = ud->choice.simply_encoded_data.buf;
        pp->pdv[0].len = (size_t)ud->choice.simply_encoded_data.size;
        pp->npdv = 1;
        return X400_OK;
    }
    if (ud->present != P_User_data_PR_fully_encoded_data) return bad(d, "user data of unknown form");
    {
        const P_Fully_encoded_data_t *f = &ud->choice.fully_encoded_data;
        size_t need = 0;
        if (f->list.count < 1 || f->list.count > X400I_PDV_MAX)
            return bad(d, "fully-encoded data with no PDV or too many PDVs");
        /* arbitrary values go up as the BIT STRING contents (unused-bits
         * octet first), copied into scratch: reserved once, views stay valid */
        for (int i = 0; i < f->list.count; i++)
            if (f->list.array[i]->presentation_data_values.present ==
                P_PDV_list__presentation_data_values_PR_arbitrary)
                need += 1 + (size_t)f->list.array[i]->presentation_data_values.choice.arbitrary.size;
        if (need && x400i_buf_reserve(&pp->scratch, need) < 0)
            return x400i_diag_set(d, L, X400_SOURCE_LOCAL, X400_ERR_NOMEM, 0,
                                  "presentation: out of memory");
        for (int i = 0; i < f->list.count; i++) {
            const P_PDV_list_t *e = f->list.array[i];
            x400i_pdv *o = &pp->pdv[i];
            if (e->transfer_syntax_name) {
                x400i_oidv ts;
                char txt[64];
                if (take_oid(&ts, e->transfer_syntax_name) < 0 || !x400i_oidv_eq(&ts, &x400i_oid_ber)) {
                    x400i_oid_to_text(e->transfer_syntax_name->buf,
                                      (size_t)e->transfer_syntax_name->size, txt, sizeof txt);
                    return x400i_diag_set(d, L, X400_SOURCE_PEER, X400_ERR_UNSUPPORTED, 6,
                                          "presentation: PDV in transfer syntax %s, not BER (2.1.1)",
                                          txt);
                }
            }
            o->ctx = (int)e->presentation_context_identifier;
            switch (e->presentation_data_values.present) {
            case P_PDV_list__presentation_data_values_PR_single_ASN1_type:
                o->encoding = X400I_PDV_SINGLE;
                o->v = e->presentation_data_values.choice.single_ASN1_type.buf;
                o->len = (size_t)e->presentation_data_values.choice.single_ASN1_type.size;
                if (!x400i_ber_is_one_tlv(o->v, o->len))
                    return bad(d, "PDV single-ASN1-type is not one complete value");
                break;
            case P_PDV_list__presentation_data_values_PR_octet_aligned:
                o->encoding = X400I_PDV_OCTETS;
                o->v = e->presentation_data_values.choice.octet_aligned.buf;
                o->len = (size_t)e->presentation_data_values.choice.octet_aligned.size;
                break;
            case P_PDV_list__presentation_data_values_PR_arbitrary:
                o->encoding = X400I_PDV_ARBITRARY;
                o->v = pp->scratch.p + pp->scratch.len;
                o->len = 1 + (size_t)e->presentation_data_values.choice.arbitrary.size;
                pp->scratch.p[pp->scratch.len++] =
                    (uint8_t)e->presentation_data_values.choice.arbitrary.bits_unused;
                if (o->len > 1)
                    memcpy(pp->scratch.p + pp->scratch.len,
                           e->presentation_data_values.choice.arbitrary.buf, o->len - 1);
                pp->scratch.len += o->len - 1;
                break;
            default:
                return bad(d, "PDV without presentation data values");
            }
        }
        pp->npdv = (size_t)f->list.count;
    }
    return X400_OK;
}

static int take_results(x400i_ppdu *pp, const P_Result_list_t *rl, x400_diag *d)
{
    if (!rl) return X400_OK;
    if (rl->list.count > X400I_PCTX_MAX) return bad(d, "result list longer than 16");
    for (int i = 0; i < rl->list.count; i++) {
        const P_Result_list_item_t *e = rl->list.array[i];
        x400i_pctx *c = &pp->ctx[i];
        memset(c, 0, sizeof *c);
        c->result = (int)e->result;
        c->provider_reason = e->provider_reason ? (int)*e->provider_reason : -1;
        c->has_ts = 1;
        if (e->transfer_syntax_name) {
            x400i_oidv ts;
            if (take_oid(&ts, e->transfer_syntax_name) < 0) return bad(d, "bad transfer syntax name");
            c->has_ts = x400i_oidv_eq(&ts, &x400i_oid_ber);
        }
        if (c->result < 0 || c->result > 2) return bad(d, "result outside 0..2");
    }
    pp->nctx = (size_t)rl->list.count;
    return X400_OK;
}

static void take_sel(x400i_view *v, int *has, const OCTET_STRING_t *s)
{
    if (!s) return;
    *has = 1;
    v->p = s->buf;
    v->len = (size_t)s->size;
}

/* Count the elements of the first constructed level (bounds the number of
 * structures asn1c will allocate for a SEQUENCE OF). */
static int count_children(const uint8_t *p, size_t len, size_t *n)
{
    x400i_tlv t, c;
    size_t off;
    *n = 0;
    if (x400i_ber_read(p, len, &t, X400I_BER_MAX_DEPTH, L, NULL) < 0) return -1;
    if (!t.constructed) return 0;
    for (off = 0; off < t.vlen; off += c.total) {
        if (x400i_ber_read(t.v + off, t.vlen - off, &c, X400I_BER_MAX_DEPTH, L, NULL) < 0) return -1;
        ++*n;
    }
    return 0;
}

int x400i_ppdu_decode(int type, const uint8_t *p, size_t len, x400i_ppdu *pp,
                      const x400_allocator *a, size_t max, x400_diag *d)
{
    asn_TYPE_descriptor_t *def;
    asn_dec_rval_t r;
    const uint8_t *in = p;
    size_t in_len = len;
    int rv;

    memset(pp, 0, sizeof *pp);
    pp->type = type;
    pp->provider_reason = pp->abort_reason = pp->event_id = -1;
    pp->user_session_req = pp->presentation_req = -1;
    x400i_buf_init(&pp->scratch, a, 2 * max + 64);
    if (type != X400I_PPDU_TD && max > X400I_PPDU_CONNECT_MAX) max = X400I_PPDU_CONNECT_MAX;
    if (len == 0) return bad(d, "empty PPDU");
    if (len > max)
        return x400i_diag_set(d, L, X400_SOURCE_PEER, X400_ERR_LIMIT, 0,
                              "presentation: PPDU of %zu octets above the bound of %zu", len, max);
    /* definite lengths throughout (what this library and most peers send):
     * asn1c reads the input itself, which it copies what it keeps from */
    if (!x400i_ber_is_normal(p, len, X400I_BER_MAX_DEPTH)) {
        rv = x400i_ber_normalise(p, len, &pp->scratch, X400I_BER_MAX_DEPTH, L, d);
        if (rv < 0) return rv;
        in = pp->scratch.p;
        in_len = pp->scratch.len;
    }

    switch (type) {
    case X400I_PPDU_CP: def = &asn_DEF_CP_type; break;
    case X400I_PPDU_CPA: def = &asn_DEF_CPA_PPDU; break;
    case X400I_PPDU_CPR: def = &asn_DEF_CPR_PPDU; break;
    case X400I_PPDU_ARU:
    case X400I_PPDU_ARP: def = &asn_DEF_Abort_type; break;
    default: {
        size_t n;
        def = &asn_DEF_P_User_data;
        if (count_children(in, in_len, &n) < 0) return bad(d, "unreadable user data");
        if (n > X400I_PDV_MAX) return bad(d, "user data with more than 64 PDVs");
        break;
    }
    }
    pp->asn_def = def;
    r = ber_decode(NULL, def, &pp->asn, in, in_len);
    if (r.code != RC_OK || r.consumed != in_len)
        return x400i_diag_set(d, L, X400_SOURCE_PEER, X400_ERR_PARSE, 1 /* unrecognized PPDU */,
                              "presentation: %s does not decode (%s at octet %zu of %zu)",
                              def->name, r.code == RC_WMORE ? "incomplete" : "malformed",
                              (size_t)r.consumed, in_len);

    switch (type) {
    case X400I_PPDU_CP: {
        const CP_type_t *cp = pp->asn;
        const P_CP_normal_mode_parameters_t *n = cp->normal_mode_parameters;
        /* an X.410-1984 CP (mode-value 0) never reaches presentation: the
         * association gives it to the X.410 adapter (lib/rtse_ses.c) */
        if (cp->mode_selector.mode_value != 1) return bad(d, "CP mode-value is not normal-mode (1)");
        if (!n) return X400_OK;
        if (n->protocol_version && (n->protocol_version->size < 1 || !(n->protocol_version->buf[0] & 0x80)))
            return x400i_diag_set(d, L, X400_SOURCE_PEER, X400_ERR_UNSUPPORTED, 4,
                                  "presentation: CP without protocol version 1");
        take_sel(&pp->calling_sel, &pp->has_calling_sel, n->calling_presentation_selector);
        take_sel(&pp->called_sel, &pp->has_called_sel, n->called_presentation_selector);
        pp->has_default_ctx = n->default_context_name != NULL;
        if (n->presentation_context_definition_list) {
            const P_Context_list_t *cl = n->presentation_context_definition_list;
            if (cl->list.count > X400I_PCTX_MAX) return bad(d, "more than 16 presentation contexts");
            for (int i = 0; i < cl->list.count; i++) {
                const P_Context_list_item_t *e = cl->list.array[i];
                x400i_pctx *c = &pp->ctx[i];
                memset(c, 0, sizeof *c);
                c->id = (int)e->presentation_context_identifier;
                c->provider_reason = -1;
                if (c->id < 1 || c->id > 127) return bad(d, "context identifier outside 1..127");
                for (int j = 0; j < i; j++)
                    if (pp->ctx[j].id == c->id) return bad(d, "context identifier defined twice");
                if (take_oid(&c->as, &e->abstract_syntax_name) < 0) return bad(d, "bad abstract syntax");
                for (int j = 0; j < e->transfer_syntax_name_list.list.count; j++) {
                    x400i_oidv ts;
                    if (take_oid(&ts, e->transfer_syntax_name_list.list.array[j]) == 0 &&
                        x400i_oidv_eq(&ts, &x400i_oid_ber))
                        c->has_ts = 1;
                }
            }
            pp->nctx = (size_t)cl->list.count;
        }
        return take_user_data(pp, n->user_data, d);
    }
    case X400I_PPDU_CPA: {
        const CPA_PPDU_t *cpa = pp->asn;
        const P_CPA_normal_mode_parameters_t *n = cpa->normal_mode_parameters;
        if (cpa->mode_selector.mode_value != 1) return bad(d, "CPA mode-value is not normal-mode (1)");
        if (!n) return X400_OK;
        take_sel(&pp->responding_sel, &pp->has_responding_sel, n->responding_presentation_selector);
        rv = take_results(pp, n->presentation_context_definition_result_list, d);
        if (rv < 0) return rv;
        return take_user_data(pp, n->user_data, d);
    }
    case X400I_PPDU_CPR: {
        const CPR_PPDU_t *cpr = pp->asn;
        if (cpr->present != CPR_PPDU_PR_normal_mode_parameters)
            return bad(d, "CPR in X.410-1984 form on a normal-mode connection");
        {
            const P_CPR_normal_mode_parameters_t *n = &cpr->choice.normal_mode_parameters;
            take_sel(&pp->responding_sel, &pp->has_responding_sel, n->responding_presentation_selector);
            if (n->provider_reason) pp->provider_reason = *n->provider_reason;
            rv = take_results(pp, n->presentation_context_definition_result_list, d);
            if (rv < 0) return rv;
            return take_user_data(pp, n->user_data, d);
        }
    }
    case X400I_PPDU_ARU:
    case X400I_PPDU_ARP: {
        const Abort_type_t *ab = pp->asn;
        if (ab->present == Abort_type_PR_arp_ppdu) {
            pp->type = X400I_PPDU_ARP;
            if (ab->choice.arp_ppdu.provider_reason) pp->abort_reason = *ab->choice.arp_ppdu.provider_reason;
            if (ab->choice.arp_ppdu.event_identifier) pp->event_id = *ab->choice.arp_ppdu.event_identifier;
            return X400_OK;
        }
        pp->type = X400I_PPDU_ARU;
        if (ab->choice.aru_ppdu.present != ARU_PPDU_PR_normal_mode_parameters)
            return bad(d, "ARU in X.410-1984 form on a normal-mode connection");
        return take_user_data(pp, ab->choice.aru_ppdu.choice.normal_mode_parameters.user_data, d);
    }
    default:
        return take_user_data(pp, pp->asn, d);
    }
}

void x400i_ppdu_release(x400i_ppdu *pp)
{
    if (pp->asn) {
        asn_TYPE_descriptor_t *def = (asn_TYPE_descriptor_t *)(uintptr_t)pp->asn_def;
        def->free_struct(def, pp->asn, 0);
        pp->asn = NULL;
    }
    x400i_buf_free(&pp->scratch);
}
