/*
 * X.226 presentation: PPDU codec and the presentation protocol machine.
 * The machine's transitions come from the public state checker
 * (lib/pstate.c); this file only carries out the actions.
 */
#include <string.h>

#include "presentation.h"

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

static int put_mode(x400i_buf *b, int mode)
{
    static const uint8_t normal[] = { 0xA0, 0x03, 0x80, 0x01, 0x01 };
    static const uint8_t x410[] = { 0xA0, 0x03, 0x80, 0x01, 0x00 };
    return x400i_buf_append(b, mode ? normal : x410, sizeof normal);
}

static int put_sel(x400i_buf *b, uint8_t id, const x400_selector *s)
{
    if (!s) return X400_OK;
    return x400i_ber_put(b, id, s->value, s->len);
}

/* A TLV (an RTSE-apdus value) under another identifier. */
static int put_retagged(x400i_buf *b, uint8_t id, const uint8_t *tlv, size_t len)
{
    x400i_tlv t;
    int rv = x400i_ber_read(tlv, len, &t, X400I_BER_MAX_DEPTH, L, NULL);
    if (rv < 0 || t.total != len || !t.constructed) return X400_ERR_INVALID_ARG;
    if (!t.indefinite) return x400i_ber_put(b, id, t.v, t.vlen);
    {
        size_t m;
        TRY(x400i_ber_open(b, id, &m));
        TRY(x400i_buf_append(b, t.v, t.vlen));
        return x400i_ber_close(b, m);
    }
}

/* CP-type, X.226 8.2 */
int x400i_ppdu_encode_cp(x400i_buf *b, const x400i_cp_params *p)
{
    size_t m, mn, ml;
    TRY(x400i_ber_open(b, 0x31, &m));
    TRY(put_mode(b, p->mode));
    if (!p->mode) {
        TRY(put_retagged(b, 0xA1, p->x410, p->x410_len));  /* x410-mode-parameters [1] */
        return x400i_ber_close(b, m);
    }
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
    TRY(put_mode(b, p->mode));
    if (!p->mode) {
        TRY(put_retagged(b, 0xA1, p->x410, p->x410_len));
        return x400i_ber_close(b, m);
    }
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
    if (!p->mode) return put_retagged(b, 0x31, p->x410, p->x410_len); /* RTORJapdu */
    TRY(x400i_ber_open(b, 0x30, &m));
    TRY(put_sel(b, 0x83, p->responding_sel));
    TRY(put_results(b, p->ctx, p->nctx));
    if (p->provider_reason >= 0) TRY(x400i_ber_put_int(b, 0x8A, p->provider_reason));
    TRY(x400i_ppdu_encode_user_data(b, p->pdv, p->npdv));
    return x400i_ber_close(b, m);
}

/* ARU-PPDU, X.226 8.5 */
int x400i_ppdu_encode_aru(x400i_buf *b, int mode, const x400i_pdv *pdv, size_t n,
                          const uint8_t *x410, size_t x410_len)
{
    size_t m, ml;
    if (!mode) {
        if (!x410_len) return X400_OK;    /* S-U-ABORT without user data */
        return put_retagged(b, 0x31, x410, x410_len);   /* RTABapdu */
    }
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

/* The [1] x410-mode-parameters of a normalised CP/CPA, re-tagged as the
 * RTSE-apdus alternative `id` into pp->scratch (after the input). */
static int take_x410(x400i_ppdu *pp, size_t in_len, uint8_t id, x400_diag *d)
{
    x400i_tlv set, c;
    size_t off;
    int rv = x400i_ber_read(pp->scratch.p, in_len, &set, X400I_BER_MAX_DEPTH, L, d);
    if (rv < 0) return rv;
    for (off = 0; off < set.vlen; off += c.total) {
        rv = x400i_ber_read(set.v + off, set.vlen - off, &c, X400I_BER_MAX_DEPTH, L, d);
        if (rv < 0) return rv;
        if (c.first == 0xA1) {
            size_t start = pp->scratch.len, voff = (size_t)(c.v - pp->scratch.p), vlen = c.vlen;
            uint8_t lo[6];
            size_t n = x400i_ber_len_octets(vlen, lo);
            rv = x400i_buf_reserve(&pp->scratch, 1 + n + vlen);
            if (rv < 0) return rv;
            pp->scratch.p[pp->scratch.len++] = id;
            memcpy(pp->scratch.p + pp->scratch.len, lo, n);
            pp->scratch.len += n;
            memcpy(pp->scratch.p + pp->scratch.len, pp->scratch.p + voff, vlen);
            pp->scratch.len += vlen;
            pp->x410.p = pp->scratch.p + start;
            pp->x410.len = pp->scratch.len - start;
            return X400_OK;
        }
    }
    return bad(d, "X.410-1984 mode without x410-mode-parameters");
}

/* The whole normalised PPDU re-tagged (CPR RTORJ, ARU RTAB). */
static int take_whole(x400i_ppdu *pp, size_t in_len, uint8_t id)
{
    size_t start = pp->scratch.len;
    uint8_t lo[6];
    x400i_tlv t;
    int rv = x400i_ber_read(pp->scratch.p, in_len, &t, X400I_BER_MAX_DEPTH, L, NULL);
    size_t n, voff;
    if (rv < 0) return rv;
    voff = (size_t)(t.v - pp->scratch.p);
    n = x400i_ber_len_octets(t.vlen, lo);
    rv = x400i_buf_reserve(&pp->scratch, 1 + n + t.vlen);
    if (rv < 0) return rv;
    pp->scratch.p[pp->scratch.len++] = id;
    memcpy(pp->scratch.p + pp->scratch.len, lo, n);
    pp->scratch.len += n;
    memcpy(pp->scratch.p + pp->scratch.len, pp->scratch.p + voff, t.vlen);
    pp->scratch.len += t.vlen;
    pp->x410.p = pp->scratch.p + start;
    pp->x410.len = pp->scratch.len - start;
    return X400_OK;
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
    size_t in_len;
    int rv;

    memset(pp, 0, sizeof *pp);
    pp->type = type;
    pp->mode = 1;
    pp->provider_reason = pp->abort_reason = pp->event_id = -1;
    pp->user_session_req = pp->presentation_req = -1;
    x400i_buf_init(&pp->scratch, a, 2 * max + 64);
    if (type != X400I_PPDU_TD && max > X400I_PPDU_CONNECT_MAX) max = X400I_PPDU_CONNECT_MAX;
    if (len == 0) return bad(d, "empty PPDU");
    if (len > max)
        return x400i_diag_set(d, L, X400_SOURCE_PEER, X400_ERR_LIMIT, 0,
                              "presentation: PPDU of %zu octets above the bound of %zu", len, max);
    rv = x400i_ber_normalise(p, len, &pp->scratch, X400I_BER_MAX_DEPTH, L, d);
    if (rv < 0) return rv;
    in_len = pp->scratch.len;

    switch (type) {
    case X400I_PPDU_CP: def = &asn_DEF_CP_type; break;
    case X400I_PPDU_CPA: def = &asn_DEF_CPA_PPDU; break;
    case X400I_PPDU_CPR: def = &asn_DEF_CPR_PPDU; break;
    case X400I_PPDU_ARU:
    case X400I_PPDU_ARP: def = &asn_DEF_Abort_type; break;
    default: {
        size_t n;
        def = &asn_DEF_P_User_data;
        if (count_children(pp->scratch.p, in_len, &n) < 0) return bad(d, "unreadable user data");
        if (n > X400I_PDV_MAX) return bad(d, "user data with more than 64 PDVs");
        break;
    }
    }
    pp->asn_def = def;
    r = ber_decode(NULL, def, &pp->asn, pp->scratch.p, in_len);
    if (r.code != RC_OK || r.consumed != in_len)
        return x400i_diag_set(d, L, X400_SOURCE_PEER, X400_ERR_PARSE, 1 /* unrecognized PPDU */,
                              "presentation: %s does not decode (%s at octet %zu of %zu)",
                              def->name, r.code == RC_WMORE ? "incomplete" : "malformed",
                              (size_t)r.consumed, in_len);

    switch (type) {
    case X400I_PPDU_CP: {
        const CP_type_t *cp = pp->asn;
        const P_CP_normal_mode_parameters_t *n = cp->normal_mode_parameters;
        pp->mode = (int)cp->mode_selector.mode_value;
        if (pp->mode != 0 && pp->mode != 1) return bad(d, "mode-value neither 0 nor 1");
        if (pp->mode == 0) {
            if (!cp->x410_mode_parameters) return bad(d, "X.410-1984 CP without parameters");
            return take_x410(pp, in_len, 0xB0, d);
        }
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
        pp->mode = (int)cpa->mode_selector.mode_value;
        if (pp->mode != 0 && pp->mode != 1) return bad(d, "mode-value neither 0 nor 1");
        if (pp->mode == 0) {
            if (!cpa->x410_mode_parameters) return bad(d, "X.410-1984 CPA without parameters");
            return take_x410(pp, in_len, 0xB1, d);
        }
        if (!n) return X400_OK;
        take_sel(&pp->responding_sel, &pp->has_responding_sel, n->responding_presentation_selector);
        rv = take_results(pp, n->presentation_context_definition_result_list, d);
        if (rv < 0) return rv;
        return take_user_data(pp, n->user_data, d);
    }
    case X400I_PPDU_CPR: {
        const CPR_PPDU_t *cpr = pp->asn;
        if (cpr->present == CPR_PPDU_PR_x400_mode_parameters) {
            pp->mode = 0;
            return take_whole(pp, in_len, 0xB2);
        }
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
        if (ab->choice.aru_ppdu.present == ARU_PPDU_PR_x400_mode_parameters) {
            pp->mode = 0;
            return take_whole(pp, in_len, 0xB6);
        }
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

/* ======================================================================
 * The presentation protocol machine
 * ====================================================================== */

struct x400i_pres {
    int initiator;
    x400_pstate state;
    int cfg_mode, mode;
    x400i_ses *ses;
    x400i_pres_callbacks cb;
    const x400_allocator *alloc;
    x400_logger log;
    x400_diag diag;
    x400_selector sel[3];
    int has_sel[3];
    x400i_pctx cfg[X400I_PCTX_MAX];
    size_t ncfg;
    x400i_pctx ctx[X400I_PCTX_MAX];   /* this connection's contexts, with results */
    size_t nctx;
    size_t max_pdu;
    x400i_buf out;
};

enum { SEL_CALLING, SEL_CALLED, SEL_RESPONDING };

int x400i_pres_new(x400i_pres **out, int initiator, const x400i_pres_config *cfg, x400i_ses *ses,
                   const x400i_pres_callbacks *cb, const x400_allocator *a, const x400_logger *log)
{
    x400i_pres *p;
    const x400_selector *sels[3];
    if (!out || !cfg || !ses || !cb || cfg->nctx > X400I_PCTX_MAX) return X400_ERR_INVALID_ARG;
    *out = NULL;
    a = x400i_alloc_or_default(a);
    p = x400i_calloc(a, 1, sizeof *p);
    if (!p) return X400_ERR_NOMEM;
    p->initiator = initiator ? 1 : 0;
    p->state = X400_PSTA01;
    p->cfg_mode = p->mode = cfg->mode ? 1 : 0;
    p->ses = ses;
    p->cb = *cb;
    p->alloc = a;
    if (log) p->log = *log;
    sels[0] = cfg->calling_sel;
    sels[1] = cfg->called_sel;
    sels[2] = cfg->responding_sel;
    for (int i = 0; i < 3; i++)
        if (sels[i]) {
            if (sels[i]->len > X400_SELECTOR_MAX) {
                x400i_free(a, p);
                return X400_ERR_INVALID_ARG;
            }
            p->sel[i] = *sels[i];
            p->has_sel[i] = 1;
        }
    if (cfg->nctx) memcpy(p->cfg, cfg->ctx, cfg->nctx * sizeof *cfg->ctx);
    p->ncfg = cfg->nctx;
    p->max_pdu = cfg->max_pdu ? cfg->max_pdu : (16u << 20);
    x400i_buf_init(&p->out, a, p->max_pdu + 4096);
    *out = p;
    return X400_OK;
}

void x400i_pres_free(x400i_pres *p)
{
    if (!p) return;
    x400i_buf_free(&p->out);
    x400i_free(p->alloc, p);
}

x400_pstate x400i_pres_state(const x400i_pres *p) { return p->state; }
const x400_diag *x400i_pres_diag(const x400i_pres *p) { return &p->diag; }
int x400i_pres_mode(const x400i_pres *p) { return p->mode; }

const x400i_pctx *x400i_pres_context(const x400i_pres *p, int id)
{
    for (size_t i = 0; i < p->nctx; i++)
        if (p->ctx[i].id == id && p->ctx[i].result == 0) return &p->ctx[i];
    return NULL;
}

int x400i_pres_context_id(const x400i_pres *p, const x400i_oidv *as)
{
    for (size_t i = 0; i < p->nctx; i++)
        if (p->ctx[i].result == 0 && x400i_oidv_eq(&p->ctx[i].as, as)) return p->ctx[i].id;
    return -1;
}

static const x400_selector *sel(const x400i_pres *p, int i)
{
    return p->has_sel[i] ? &p->sel[i] : NULL;
}

/* ---- local events ---- */

static int check_local(x400i_pres *p, x400_pevent ev, x400_paction *act)
{
    x400_pstate next;
    int rv = x400_pstate_check(p->state, ev, &next, act, &p->diag);
    if (rv < 0) return rv;
    return (int)next;
}

/* Encode the user data of a session primitive into p->out. */
static int user_data(x400i_pres *p, const x400i_pdv *pdv, size_t n)
{
    x400i_buf_reset(&p->out);
    if (!p->mode) {     /* X.410-1984 mode: user data passes untouched */
        if (n > 1) return X400_ERR_INVALID_ARG;
        return n ? x400i_buf_append(&p->out, pdv[0].v, pdv[0].len) : X400_OK;
    }
    for (size_t i = 0; i < n; i++)
        if (!x400i_pres_context(p, pdv[i].ctx))
            return x400i_diag_set(&p->diag, L, X400_SOURCE_LOCAL, X400_ERR_INVALID_ARG, 0,
                                  "presentation: %s on presentation context %d, which is not "
                                  "defined and accepted", "user data", pdv[i].ctx);
    return x400i_ppdu_encode_user_data(&p->out, pdv, n);
}

static int enc_fail(x400i_pres *p, int rv, const char *what)
{
    if (p->diag.code == rv) return rv;
    return x400i_diag_set(&p->diag, L, X400_SOURCE_LOCAL, rv, 0, "presentation: cannot encode %s: %s",
                          what, x400_strerror(rv));
}

/* Run a session request with the encoded user data; the new state only
 * once the session accepted it. */
#define UD_OR_FAIL(what)                                      \
    do {                                                      \
        rv = user_data(p, pdv, n);                            \
        if (rv < 0) return enc_fail(p, rv, what);             \
    } while (0)

static int ses_result(x400i_pres *p, int rv, int next)
{
    if (rv < 0) {
        const x400_diag *sd = x400i_ses_diag(p->ses);
        if (sd->code) p->diag = *sd;
        return rv;
    }
    p->state = (x400_pstate)next;
    return X400_OK;
}

int x400i_pres_connect_req(x400i_pres *p, const x400i_pdv *pdv, size_t n, const uint8_t *x410,
                           size_t x410_len)
{
    x400_paction act;
    x400i_cp_params cp;
    int next = check_local(p, X400_PEV_CONNECT_REQ, &act), rv;
    if (next < 0) return next;
    memset(&cp, 0, sizeof cp);
    cp.mode = p->mode = p->cfg_mode;
    cp.calling_sel = sel(p, SEL_CALLING);
    cp.called_sel = sel(p, SEL_CALLED);
    cp.ctx = p->cfg;
    cp.nctx = p->ncfg;
    cp.pdv = pdv;
    cp.npdv = n;
    cp.x410 = x410;
    cp.x410_len = x410_len;
    cp.provider_reason = -1;
    if (!p->mode && !x410_len)
        return x400i_diag_set(&p->diag, L, X400_SOURCE_LOCAL, X400_ERR_INVALID_ARG, 0,
                              "presentation: X.410-1984 mode CP needs the RTORQ parameters");
    for (size_t i = 0; p->mode && i < n; i++) {
        int found = 0;
        for (size_t j = 0; j < p->ncfg; j++) found |= p->cfg[j].id == pdv[i].ctx;
        if (!found)
            return x400i_diag_set(&p->diag, L, X400_SOURCE_LOCAL, X400_ERR_INVALID_ARG, 0,
                                  "presentation: CP user data on context %d, not in the "
                                  "context definition list", pdv[i].ctx);
    }
    x400i_buf_reset(&p->out);
    rv = x400i_ppdu_encode_cp(&p->out, &cp);
    if (rv < 0) return enc_fail(p, rv, "CP-type");
    /* until the CPA says otherwise, every proposed context is pending */
    memcpy(p->ctx, p->cfg, p->ncfg * sizeof *p->ctx);
    p->nctx = p->ncfg;
    for (size_t i = 0; i < p->nctx; i++) p->ctx[i].result = 0;
    rv = x400i_ses_connect_req(p->ses, p->out.p, p->out.len);
    return ses_result(p, rv, next);
}

int x400i_pres_connect_rsp(x400i_pres *p, int accept, long provider_reason, const x400i_pdv *pdv,
                           size_t n, const uint8_t *x410, size_t x410_len)
{
    x400_paction act;
    x400i_cp_params cp;
    int next = check_local(p, accept ? X400_PEV_CONNECT_RSP_ACCEPT : X400_PEV_CONNECT_RSP_REFUSE,
                           &act), rv;
    if (next < 0) return next;
    memset(&cp, 0, sizeof cp);
    cp.mode = p->mode;
    cp.responding_sel = sel(p, SEL_RESPONDING);
    cp.ctx = p->ctx;
    cp.nctx = p->nctx;
    cp.pdv = pdv;
    cp.npdv = n;
    cp.x410 = x410;
    cp.x410_len = x410_len;
    cp.provider_reason = provider_reason;
    for (size_t i = 0; p->mode && i < n; i++)
        if (!x400i_pres_context(p, pdv[i].ctx))
            return x400i_diag_set(&p->diag, L, X400_SOURCE_LOCAL, X400_ERR_INVALID_ARG, 0,
                                  "presentation: response user data on context %d, not accepted",
                                  pdv[i].ctx);
    if (!p->mode && !x410_len)
        return x400i_diag_set(&p->diag, L, X400_SOURCE_LOCAL, X400_ERR_INVALID_ARG, 0,
                              "presentation: X.410-1984 mode needs the RTOAC/RTORJ parameters");
    x400i_buf_reset(&p->out);
    rv = accept ? x400i_ppdu_encode_cpa(&p->out, &cp) : x400i_ppdu_encode_cpr(&p->out, &cp);
    if (rv < 0) return enc_fail(p, rv, accept ? "CPA-PPDU" : "CPR-PPDU");
    if (accept)
        rv = x400i_ses_connect_rsp(p->ses, 1, 0, 0, p->out.p, p->out.len);
    else
        rv = x400i_ses_connect_rsp(p->ses, 0, 2 /* rejection by the SS-user, with data */, 0,
                                   p->out.p, p->out.len);
    return ses_result(p, rv, next);
}

int x400i_pres_data_req(x400i_pres *p, const x400i_pdv *pdv, size_t n)
{
    x400_paction act;
    int next = check_local(p, X400_PEV_DATA_REQ, &act), rv;
    if (next < 0) return next;
    if (n == 0) return X400_ERR_INVALID_ARG;
    UD_OR_FAIL("TD");
    rv = x400i_ses_data_req(p->ses, p->out.p, p->out.len);
    return ses_result(p, rv, next);
}

int x400i_pres_release_req(x400i_pres *p, const x400i_pdv *pdv, size_t n)
{
    x400_paction act;
    int next = check_local(p, X400_PEV_RELEASE_REQ, &act), rv;
    if (next < 0) return next;
    UD_OR_FAIL("P-RELEASE user data");
    rv = x400i_ses_release_req(p->ses, p->out.p, p->out.len);
    return ses_result(p, rv, next);
}

int x400i_pres_release_rsp(x400i_pres *p, const x400i_pdv *pdv, size_t n)
{
    x400_paction act;
    int next = check_local(p, X400_PEV_RELEASE_RSP, &act), rv;
    if (next < 0) return next;
    UD_OR_FAIL("P-RELEASE user data");
    rv = x400i_ses_release_rsp(p->ses, p->out.p, p->out.len);
    return ses_result(p, rv, next);
}

int x400i_pres_u_abort_req(x400i_pres *p, const x400i_pdv *pdv, size_t n, const uint8_t *x410,
                           size_t x410_len)
{
    x400_paction act;
    int next = check_local(p, X400_PEV_U_ABORT_REQ, &act), rv;
    if (next < 0) return next;
    x400i_buf_reset(&p->out);
    for (size_t i = 0; p->mode && i < n; i++)
        if (!x400i_pres_context(p, pdv[i].ctx)) { n = 0; break; }  /* an abort still goes out */
    rv = x400i_ppdu_encode_aru(&p->out, p->mode, pdv, n, x410, x410_len);
    if (rv < 0) return enc_fail(p, rv, "ARU-PPDU");
    rv = x400i_ses_u_abort_req(p->ses, p->out.p, p->out.len);
    p->state = (x400_pstate)next;     /* aborted whatever the session said */
    return rv < 0 ? ses_result(p, rv, next) : X400_OK;
}

/* Pass-through services (X.226 7.9-7.17 map one to one onto session). */
#define PASS(ev, call)                                        \
    x400_paction act;                                         \
    int next = check_local(p, ev, &act), rv;                  \
    if (next < 0) return next;                                \
    rv = (call);                                              \
    return ses_result(p, rv, next)
#define PASS_UD(ev, what, call)                               \
    x400_paction act;                                         \
    int next = check_local(p, ev, &act), rv;                  \
    if (next < 0) return next;                                \
    UD_OR_FAIL(what);                                         \
    rv = (call);                                              \
    return ses_result(p, rv, next)

int x400i_pres_token_give_req(x400i_pres *p, unsigned tokens)
{
    PASS(X400_PEV_TOKEN_GIVE_REQ, x400i_ses_token_give_req(p->ses, tokens));
}
int x400i_pres_token_please_req(x400i_pres *p, unsigned tokens, const x400i_pdv *pdv, size_t n)
{
    PASS_UD(X400_PEV_TOKEN_PLEASE_REQ, "P-TOKEN-PLEASE user data",
            x400i_ses_token_please_req(p->ses, tokens, p->out.p, p->out.len));
}
int x400i_pres_control_give_req(x400i_pres *p)
{
    PASS(X400_PEV_CONTROL_GIVE_REQ, x400i_ses_control_give_req(p->ses));
}
int x400i_pres_minor_sync_req(x400i_pres *p, int confirm, const x400i_pdv *pdv, size_t n,
                              uint32_t *serial)
{
    PASS_UD(X400_PEV_SYNC_MINOR_REQ, "P-SYNC-MINOR user data",
            x400i_ses_minor_sync_req(p->ses, confirm, p->out.p, p->out.len, serial));
}
int x400i_pres_minor_sync_rsp(x400i_pres *p, uint32_t serial, const x400i_pdv *pdv, size_t n)
{
    PASS_UD(X400_PEV_SYNC_MINOR_RSP, "P-SYNC-MINOR user data",
            x400i_ses_minor_sync_rsp(p->ses, serial, p->out.p, p->out.len));
}
int x400i_pres_activity_start_req(x400i_pres *p, const uint8_t *id, size_t id_len,
                                  const x400i_pdv *pdv, size_t n)
{
    PASS_UD(X400_PEV_ACT_START_REQ, "P-ACTIVITY-START user data",
            x400i_ses_activity_start_req(p->ses, id, id_len, p->out.p, p->out.len));
}
int x400i_pres_activity_resume_req(x400i_pres *p, const uint8_t *id, size_t id_len,
                                   const uint8_t *old_id, size_t old_len, uint32_t serial,
                                   const x400i_ses_old_conn *old_conn, const x400i_pdv *pdv,
                                   size_t n)
{
    PASS_UD(X400_PEV_ACT_RESUME_REQ, "P-ACTIVITY-RESUME user data",
            x400i_ses_activity_resume_req(p->ses, id, id_len, old_id, old_len, serial, old_conn,
                                          p->out.p, p->out.len));
}
int x400i_pres_activity_interrupt_req(x400i_pres *p, int reason)
{
    PASS(X400_PEV_ACT_INTERRUPT_REQ, x400i_ses_activity_interrupt_req(p->ses, reason));
}
int x400i_pres_activity_interrupt_rsp(x400i_pres *p)
{
    PASS(X400_PEV_ACT_INTERRUPT_RSP, x400i_ses_activity_interrupt_rsp(p->ses));
}
int x400i_pres_activity_discard_req(x400i_pres *p, int reason)
{
    PASS(X400_PEV_ACT_DISCARD_REQ, x400i_ses_activity_discard_req(p->ses, reason));
}
int x400i_pres_activity_discard_rsp(x400i_pres *p)
{
    PASS(X400_PEV_ACT_DISCARD_RSP, x400i_ses_activity_discard_rsp(p->ses));
}
int x400i_pres_activity_end_req(x400i_pres *p, const x400i_pdv *pdv, size_t n, uint32_t *serial)
{
    PASS_UD(X400_PEV_ACT_END_REQ, "P-ACTIVITY-END user data",
            x400i_ses_activity_end_req(p->ses, p->out.p, p->out.len, serial));
}
int x400i_pres_activity_end_rsp(x400i_pres *p, const x400i_pdv *pdv, size_t n)
{
    PASS_UD(X400_PEV_ACT_END_RSP, "P-ACTIVITY-END user data",
            x400i_ses_activity_end_rsp(p->ses, p->out.p, p->out.len));
}
int x400i_pres_u_exception_req(x400i_pres *p, int reason, const x400i_pdv *pdv, size_t n)
{
    PASS_UD(X400_PEV_U_EXCEPTION_REQ, "P-U-EXCEPTION-REPORT user data",
            x400i_ses_u_exception_req(p->ses, reason, p->out.p, p->out.len));
}

/* ---- incoming events ---- */

static int deliver(x400i_pres *p, x400i_pres_ind *ind)
{
    return p->cb.indication ? p->cb.indication(p->cb.user, ind) : 0;
}

/* A refused or malformed incoming event: ARP-PPDU (abort reason, event
 * identifier) in S-U-ABORT, then P-P-ABORT indication with the diagnostic
 * already in p->diag.  A bad CP is answered with CPR instead. */
static int fail_incoming(x400i_pres *p, x400_pevent ev, const x400i_ses_ind *sind)
{
    x400i_pres_ind up;
    int reason = p->diag.reason, evid = -1, sst = x400i_ses_state(p->ses), rv;
    (void)x400_pevent_arp(ev, NULL, &evid);
    if (reason <= 0) reason = 0;
    x400i_buf_reset(&p->out);
    if (sst == X400I_SES_ST_WAIT_CONNECT_RSP) {
        x400i_cp_params cp;
        memset(&cp, 0, sizeof cp);
        cp.mode = 1;
        cp.provider_reason = p->diag.code == X400_ERR_UNSUPPORTED && p->diag.reason == 4 ? 4 : 6;
        if (x400i_ppdu_encode_cpr(&p->out, &cp) >= 0)
            (void)x400i_ses_connect_rsp(p->ses, 0, 2, 0, p->out.p, p->out.len);
    } else if (sst != X400I_SES_ST_IDLE && sst != X400I_SES_ST_CLOSED) {
        if (!p->mode)
            rv = 0;      /* X.410-1984 mode has no ARP: S-U-ABORT without user data */
        else
            rv = x400i_ppdu_encode_arp(&p->out, reason, evid);
        if (rv >= 0) (void)x400i_ses_u_abort_req(p->ses, p->out.p, p->out.len);
    }
    x400i_log(&p->log, X400_LOG_NOTICE, L, "%s", p->diag.text);
    p->state = X400_PSTA01;
    memset(&up, 0, sizeof up);
    up.ev = X400_PEV_P_ABORT_IND;
    up.ses = sind;
    up.diag = &p->diag;
    (void)deliver(p, &up);
    return p->diag.code < 0 ? (p->diag.code == X400_ERR_STATE ? X400_ERR_PROTOCOL : p->diag.code)
                            : X400_ERR_PROTOCOL;
}

static x400_pevent ses_event(const x400i_ses_ind *ind)
{
    switch (ind->type) {
    case X400I_SES_CONNECT_IND: return X400_PEV_CONNECT_IND;
    case X400I_SES_CONNECT_CONF:
        return ind->accepted ? X400_PEV_CONNECT_CONF_ACCEPT : X400_PEV_CONNECT_CONF_REFUSE;
    case X400I_SES_DATA_IND: return X400_PEV_DATA_IND;
    case X400I_SES_TOKEN_GIVE_IND: return X400_PEV_TOKEN_GIVE_IND;
    case X400I_SES_TOKEN_PLEASE_IND: return X400_PEV_TOKEN_PLEASE_IND;
    case X400I_SES_MINOR_SYNC_IND: return X400_PEV_SYNC_MINOR_IND;
    case X400I_SES_MINOR_SYNC_CONF: return X400_PEV_SYNC_MINOR_CONF;
    case X400I_SES_ACT_START_IND: return X400_PEV_ACT_START_IND;
    case X400I_SES_ACT_RESUME_IND: return X400_PEV_ACT_RESUME_IND;
    case X400I_SES_ACT_INTERRUPT_IND: return X400_PEV_ACT_INTERRUPT_IND;
    case X400I_SES_ACT_INTERRUPT_CONF: return X400_PEV_ACT_INTERRUPT_CONF;
    case X400I_SES_ACT_DISCARD_IND: return X400_PEV_ACT_DISCARD_IND;
    case X400I_SES_ACT_DISCARD_CONF: return X400_PEV_ACT_DISCARD_CONF;
    case X400I_SES_ACT_END_IND: return X400_PEV_ACT_END_IND;
    case X400I_SES_ACT_END_CONF: return X400_PEV_ACT_END_CONF;
    case X400I_SES_RELEASE_IND: return X400_PEV_RELEASE_IND;
    case X400I_SES_RELEASE_CONF: return X400_PEV_RELEASE_CONF;
    case X400I_SES_U_ABORT_IND: return X400_PEV_U_ABORT_IND;   /* ARP decides below */
    case X400I_SES_P_ABORT_IND: return X400_PEV_P_ABORT_IND;
    case X400I_SES_U_EXCEPTION_IND: return X400_PEV_U_EXCEPTION_IND;
    case X400I_SES_P_EXCEPTION_IND: return X400_PEV_P_EXCEPTION_IND;
    case X400I_SES_CONTROL_GIVE_IND: return X400_PEV_CONTROL_GIVE_IND;
    }
    return X400_PEV_P_ABORT_IND;
}

/* Every PDV must name an accepted context (X.226 6.2.2). */
static int check_pdvs(x400i_pres *p, const x400i_ppdu *pp, const char *what)
{
    if (pp->simply_encoded)
        return x400i_diag_set(&p->diag, L, X400_SOURCE_PEER, X400_ERR_PROTOCOL, 6,
                              "presentation: %s as simply-encoded data although presentation "
                              "contexts are defined", what);
    for (size_t i = 0; i < pp->npdv; i++)
        if (!x400i_pres_context(p, pp->pdv[i].ctx))
            return x400i_diag_set(&p->diag, L, X400_SOURCE_PEER, X400_ERR_PROTOCOL, 6,
                                  "presentation: %s on unknown presentation context %d", what,
                                  pp->pdv[i].ctx);
    return X400_OK;
}

/* CP: decide each context (X.226 6.2.2.3) before the indication. */
static int take_cp(x400i_pres *p, const x400i_ppdu *pp)
{
    p->mode = pp->mode;
    p->nctx = pp->nctx;
    for (size_t i = 0; i < pp->nctx; i++) {
        x400i_pctx *c = &p->ctx[i];
        int known = 0;
        *c = pp->ctx[i];
        for (size_t j = 0; j < p->ncfg; j++) known |= x400i_oidv_eq(&p->cfg[j].as, &c->as);
        if (!known) {
            c->result = 2;
            c->provider_reason = 1;     /* abstract-syntax-not-supported */
        } else if (!c->has_ts) {
            c->result = 2;
            c->provider_reason = 2;     /* proposed-transfer-syntaxes-not-supported */
        } else {
            c->result = 0;
            c->provider_reason = -1;
        }
    }
    if (!p->mode) return X400_OK;
    for (size_t i = 0; i < pp->npdv; i++)
        if (!x400i_pres_context(p, pp->pdv[i].ctx)) {
            const char *why = "which the CP does not define";
            for (size_t j = 0; j < p->nctx; j++)
                if (p->ctx[j].id == pp->pdv[i].ctx)
                    why = p->ctx[j].provider_reason == 2
                              ? "whose transfer syntaxes do not include BER (2.1.1)"
                              : "whose abstract syntax is not supported";
            return x400i_diag_set(&p->diag, L, X400_SOURCE_PEER, X400_ERR_PROTOCOL, 6,
                                  "presentation: CP user data on context %d, %s", pp->pdv[i].ctx,
                                  why);
        }
    if (pp->simply_encoded && p->nctx)
        return check_pdvs(p, pp, "CP user data");
    return X400_OK;
}

/* CPA: the result list answers the definition list, item by item. */
static int take_cpa(x400i_pres *p, const x400i_ppdu *pp)
{
    if (!pp->mode != !p->mode)
        return x400i_diag_set(&p->diag, L, X400_SOURCE_PEER, X400_ERR_PROTOCOL, 6,
                              "presentation: CPA in %s mode answers a CP in %s mode",
                              pp->mode ? "normal" : "X.410-1984", p->mode ? "normal" : "X.410-1984");
    if (!p->mode) return X400_OK;
    if (pp->nctx != p->nctx)
        return x400i_diag_set(&p->diag, L, X400_SOURCE_PEER, X400_ERR_PROTOCOL, 6,
                              "presentation: CPA result list has %zu items for %zu proposed contexts",
                              pp->nctx, p->nctx);
    for (size_t i = 0; i < p->nctx; i++) {
        p->ctx[i].result = pp->ctx[i].result;
        p->ctx[i].provider_reason = pp->ctx[i].provider_reason;
        if (p->ctx[i].result == 0 && !pp->ctx[i].has_ts)
            return x400i_diag_set(&p->diag, L, X400_SOURCE_PEER, X400_ERR_PROTOCOL, 6,
                                  "presentation: CPA accepts context %d with a transfer syntax other "
                                  "than BER", p->ctx[i].id);
    }
    return check_pdvs(p, pp, "CPA user data");
}

int x400i_pres_ses_ind(x400i_pres *p, const x400i_ses_ind *sind)
{
    x400_pevent ev = ses_event(sind);
    x400_pstate next;
    x400_paction act;
    x400i_pres_ind up;
    x400i_ppdu pp;
    int rv, have_pp = 0, ptype = 0;

    memset(&up, 0, sizeof up);
    up.ses = sind;
    pp.asn = NULL;

    /* S-U-ABORT: ARU or ARP (X.226 8.5/8.6) -- decode first, it names the
     * event.  In X.410-1984 mode the ARU is the RTABapdu SET itself; the
     * decoder hands it up re-tagged as RTSE's [22] RTAB, like the CP/CPA/CPR
     * x410 parameters. */
    if (ev == X400_PEV_U_ABORT_IND) {
        if (sind->user_data_len) {
            rv = x400i_ppdu_decode(X400I_PPDU_ARU, sind->user_data, sind->user_data_len, &pp,
                                   p->alloc, X400I_PPDU_CONNECT_MAX, &p->diag);
            have_pp = 1;
            if (rv >= 0 && pp.type == X400I_PPDU_ARP) {
                ev = X400_PEV_P_ABORT_IND;
                x400i_diag_set(&p->diag, L, X400_SOURCE_PEER, X400_ERR_ABORTED, (int)pp.abort_reason,
                               "presentation: ARP-PPDU from peer (abort reason %ld, event %ld)",
                               pp.abort_reason, pp.event_id);
            } else if (rv >= 0) {
                rv = check_pdvs(p, &pp, "ARU user data");
                if (rv < 0) pp.npdv = 0;   /* an abort is an abort: user data dropped */
                x400i_diag_set(&p->diag, L, X400_SOURCE_PEER, X400_ERR_ABORTED, 0,
                               "presentation: P-U-ABORT (ARU-PPDU) from peer");
            } else {
                pp.npdv = 0;   /* unreadable ARU: still an abort */
                ev = X400_PEV_P_ABORT_IND;
            }
        } else {
            x400i_diag_set(&p->diag, L, X400_SOURCE_PEER, X400_ERR_ABORTED, 0,
                           "presentation: S-U-ABORT from peer");
        }
    } else if (ev == X400_PEV_P_ABORT_IND) {
        const x400_diag *sd = sind->diag ? sind->diag : x400i_ses_diag(p->ses);
        if (sd && sd->code) p->diag = *sd;
        else
            x400i_diag_set(&p->diag, X400_LAYER_SESSION, X400_SOURCE_PROVIDER, X400_ERR_ABORTED, 0,
                           "S-P-ABORT");
    }

    rv = x400_pstate_check(p->state, ev, &next, &act, &p->diag);
    if (rv < 0) {
        if (have_pp) x400i_ppdu_release(&pp);
        return fail_incoming(p, ev, sind);
    }
    up.ev = ev;

    /* decode the PPDU the event carries */
    if (!have_pp && p->mode) {
        switch (ev) {
        case X400_PEV_CONNECT_IND: ptype = X400I_PPDU_CP; break;
        case X400_PEV_CONNECT_CONF_ACCEPT: ptype = X400I_PPDU_CPA; break;
        case X400_PEV_CONNECT_CONF_REFUSE: ptype = sind->user_data_len ? X400I_PPDU_CPR : 0; break;
        case X400_PEV_P_ABORT_IND:
        case X400_PEV_TOKEN_GIVE_IND:
        case X400_PEV_CONTROL_GIVE_IND:
        case X400_PEV_ACT_INTERRUPT_IND:
        case X400_PEV_ACT_INTERRUPT_CONF:
        case X400_PEV_ACT_DISCARD_IND:
        case X400_PEV_ACT_DISCARD_CONF:
        case X400_PEV_P_EXCEPTION_IND: ptype = 0; break;
        default: ptype = sind->user_data_len ? X400I_PPDU_TD : 0; break;
        }
    } else if (!have_pp && (ev == X400_PEV_CONNECT_IND || ev == X400_PEV_CONNECT_CONF_ACCEPT)) {
        /* X.410-1984 mode still has CP / CPA */
        ptype = ev == X400_PEV_CONNECT_IND ? X400I_PPDU_CP : X400I_PPDU_CPA;
    } else if (!have_pp && ev == X400_PEV_CONNECT_CONF_REFUSE && sind->user_data_len) {
        ptype = X400I_PPDU_CPR;
    }
    if (ptype) {
        size_t max = ptype == X400I_PPDU_TD ? p->max_pdu : X400I_PPDU_CONNECT_MAX;
        if (ev == X400_PEV_CONNECT_CONF_ACCEPT && !sind->user_data_len) {
            x400i_diag_set(&p->diag, L, X400_SOURCE_PEER, X400_ERR_PROTOCOL, 1,
                           "presentation: session connection accepted without a CPA-PPDU");
            return fail_incoming(p, ev, sind);
        }
        if (ev == X400_PEV_CONNECT_IND && !sind->user_data_len) {
            x400i_diag_set(&p->diag, L, X400_SOURCE_PEER, X400_ERR_PROTOCOL, 1,
                           "presentation: S-CONNECT indication without a CP-type");
            return fail_incoming(p, ev, sind);
        }
        rv = x400i_ppdu_decode(ptype, sind->user_data, sind->user_data_len, &pp, p->alloc, max,
                               &p->diag);
        have_pp = 1;
        if (rv < 0) {
            x400i_ppdu_release(&pp);
            return fail_incoming(p, ev, sind);
        }
        if (ev == X400_PEV_CONNECT_IND) rv = take_cp(p, &pp);
        else if (ev == X400_PEV_CONNECT_CONF_ACCEPT) rv = take_cpa(p, &pp);
        else if (ptype == X400I_PPDU_TD || ptype == X400I_PPDU_CPR)
            rv = check_pdvs(p, &pp, x400_pevent_name(ev));
        if (rv < 0) {
            x400i_ppdu_release(&pp);
            return fail_incoming(p, ev, sind);
        }
    }
    if (have_pp) {
        up.pp = &pp;
        up.pdv = pp.pdv;
        up.npdv = pp.npdv;
        if (!pp.mode || !p->mode) {
            up.raw = pp.x410.p;
            up.raw_len = pp.x410.len;
        }
    } else if (!p->mode) {
        up.raw = sind->user_data;
        up.raw_len = sind->user_data_len;
    }
    if (ev == X400_PEV_CONNECT_CONF_ACCEPT) up.accepted = 1;
    if (ev == X400_PEV_CONNECT_CONF_REFUSE) {
        if (have_pp)
            x400i_diag_set(&p->diag, L, X400_SOURCE_PEER, X400_ERR_REFUSED, (int)pp.provider_reason,
                           "presentation: connection refused (CPR-PPDU, provider reason %ld)",
                           pp.provider_reason);
        else
            x400i_diag_set(&p->diag, X400_LAYER_SESSION, X400_SOURCE_PEER, X400_ERR_REFUSED,
                           sind->reason, "S-CONNECT refused by peer (RF reason %d)", sind->reason);
    }
    if (ev == X400_PEV_U_ABORT_IND || ev == X400_PEV_P_ABORT_IND || ev == X400_PEV_CONNECT_CONF_REFUSE)
        up.diag = &p->diag;
    p->state = next;
    rv = deliver(p, &up);
    if (have_pp) x400i_ppdu_release(&pp);
    return rv;
}
