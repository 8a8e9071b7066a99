/* P1 MTS-APDU codec (X.411 12.2 MTA abstract service, X.419 transfer):
 * Message, Probe and Report transfer envelopes to and from plain C values.
 * Encoding goes through the reverse writer (lib/ber.c): canonical SET
 * order, definite lengths.  Decoding runs the bounded pre-scan first,
 * counts every list before allocating it, and copies what it keeps into the
 * APDU's arena.  Extensions other than internal-trace-information (38) stay
 * opaque and are relayed byte for byte. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p1_int.h"
#include "x400p1/p1.h"

#define APP X400I_BER_APPLICATION
#define CTX X400I_BER_CONTEXT
#define UNIV X400I_BER_UNIVERSAL

/* ------------------------------------------------------------ small API */

void x400_p1_limits_init(x400_p1_limits *l)
{
    if (!l) return;
    l->max_content = 2147483647u;                 /* ub-content-length */
    l->max_pdu = (size_t)2147483647u + (1u << 20);
    l->max_recipients = 32767;                    /* ub-recipients */
    l->max_trace = 512;                           /* ub-transfers */
    l->max_extensions = 256;                      /* ub-extension-types */
    l->max_depth = 64;
    l->max_elements = (size_t)8 << 20;
}

static int gdi_equal(const x400_gdi *a, const x400_gdi *b)
{
    return strcmp(a->country, b->country) == 0 && strcmp(a->admd, b->admd) == 0 &&
           strcmp(a->prmd, b->prmd) == 0 && !a->admd_numeric == !b->admd_numeric &&
           (!a->prmd[0] || !a->prmd_numeric == !b->prmd_numeric);
}

int x400_mtsid_equal(const x400_mtsid *a, const x400_mtsid *b)
{
    if (!a || !b) return 0;
    return gdi_equal(&a->gdi, &b->gdi) && strcmp(a->local, b->local) == 0;
}

void x400_p1_recipient_init(x400_p1_recipient *r)
{
    memset(r, 0, sizeof *r);
    r->explicit_conversion = -1;
}

void x400_p1_trace_init(x400_p1_trace *t)
{
    memset(t, 0, sizeof *t);
    t->arrival = X400_TIME_NONE;
    t->deferred = X400_TIME_NONE;
}

void x400_p1_itrace_init(x400_p1_itrace *t)
{
    memset(t, 0, sizeof *t);
    t->arrival = X400_TIME_NONE;
    t->deferred = X400_TIME_NONE;
}

void x400_p1_report_recipient_init(x400_p1_report_recipient *r)
{
    memset(r, 0, sizeof *r);
    r->arrival = X400_TIME_NONE;
    r->delivery_time = X400_TIME_NONE;
    r->type_of_user = -1;
    r->diagnostic = -1;
}

int x400_p1_apdu_init(x400_p1_apdu *a, x400_p1_kind kind, const x400_allocator *alloc)
{
    if (!a || kind > X400_P1_PROBE) return X400_ERR_INVALID_ARG;
    memset(a, 0, sizeof *a);
    a->kind = kind;
    a->env.priority = X400_PRIO_NORMAL;
    a->env.deferred_delivery = X400_TIME_NONE;
    a->env.content_length = -1;
    a->mem = x400i_arena_new(alloc);
    return a->mem ? X400_OK : X400_ERR_NOMEM;
}

void x400_p1_apdu_free(x400_p1_apdu *a)
{
    if (!a) return;
    x400i_arena_free(a->mem);
    memset(a, 0, sizeof *a);
}

void *x400_p1_alloc(x400_p1_apdu *a, size_t n)
{
    if (!a || !a->mem) return NULL;
    return x400i_arena_alloc(a->mem, n);
}

const x400_mtsid *x400_p1_apdu_id(const x400_p1_apdu *a)
{
    if (!a) return NULL;
    return a->kind == X400_P1_REPORT ? &a->report.id : &a->env.id;
}

/* ------------------------------------------------------------ encoding */

static void enc_fail(x400i_bw *w, int code, const char *fmt, ...) X400I_PRINTF(3, 4);
static void enc_fail(x400i_bw *w, int code, const char *fmt, ...)
{
    if (w->err) return;
    w->err = code;
    va_list ap;
    va_start(ap, fmt);
    x400i_diag_vset(w->diag, X400_LAYER_P1, X400_SOURCE_LOCAL, code, X400_P1_R_ENCODE, fmt, ap);
    va_end(ap);
}

static void put_cstr(x400i_bw *w, uint8_t cls, uint32_t num, unsigned st, const char *s,
                     size_t cap, size_t lo, size_t hi, const char *what)
{
    size_t n = strnlen(s, cap);
    if (n == cap || n > hi) { enc_fail(w, X400_ERR_TOO_LONG, "P1 encode: %s longer than %zu", what, hi); return; }
    if (n < lo) { enc_fail(w, X400_ERR_INVALID_ARG, "P1 encode: %s shorter than %zu", what, lo); return; }
    if (!x400i_charset_ok(st, s, n)) { enc_fail(w, X400_ERR_INVALID_ARG, "P1 encode: %s has a character outside its string type", what); return; }
    x400i_bw_prim(w, cls, num, s, n);
}

void x400i_gdi_encode(x400i_bw *w, const x400_gdi *g)
{
    int rc = x400_gdi_validate(g, NULL);
    if (rc) { enc_fail(w, rc, "P1 encode: invalid GlobalDomainIdentifier"); return; }
    size_t m = x400i_bw_len(w);
    if (g->prmd[0])   /* PrivateDomainIdentifier CHOICE (untagged) */
        x400i_bw_prim(w, UNIV, g->prmd_numeric ? X400I_U_NUMERIC : X400I_U_PRINTABLE, g->prmd, strlen(g->prmd));
    x400i_admd_encode(w, g->admd, g->admd_numeric);
    x400i_country_encode(w, g->country);
    x400i_bw_wrap(w, m, APP, 3);
}

static void put_mtsid(x400i_bw *w, const x400_mtsid *id)
{
    size_t m = x400i_bw_len(w);
    put_cstr(w, UNIV, X400I_U_IA5, X400I_U_IA5, id->local, sizeof id->local, 1, 32, "local-identifier");
    x400i_gdi_encode(w, &id->gdi);
    x400i_bw_wrap(w, m, APP, 4);
}

static void put_exts(x400i_bw *w, uint8_t cls, uint32_t num, unsigned n, const x400_bytes *ext,
                     unsigned n_it, const x400_p1_itrace *it);

/* EncodedInformationTypes ::= [APPLICATION 5] SET. */
static void put_eits(x400i_bw *w, const x400_p1_eits *e)
{
    if (e->n_extended > X400_EIT_EXTENDED_MAX) { enc_fail(w, X400_ERR_TOO_LONG, "P1 encode: too many extended EITs"); return; }
    size_t m = x400i_bw_len(w);
    if (e->n_extended) {
        size_t mx = x400i_bw_len(w);
        for (unsigned i = e->n_extended; i-- > 0;) x400i_bw_oid(w, UNIV, X400I_U_OID, &e->extended[i]);
        x400i_bw_wrap(w, mx, CTX, 4);
    }
    if (e->nonbasic.len) x400i_bw_bytes(w, e->nonbasic.p, e->nonbasic.len);
    x400i_bw_bits(w, CTX, 0, e->builtin, 0);
    x400i_bw_wrap(w, m, APP, 5);
}

static void put_content_type(x400i_bw *w, const x400_p1_content_type *ct)
{
    if (ct->builtin >= 0) {
        if (ct->builtin > 32767) { enc_fail(w, X400_ERR_INVALID_ARG, "P1 encode: built-in content type %d > 32767", ct->builtin); return; }
        x400i_bw_int(w, APP, 6, ct->builtin);
    } else {
        x400i_bw_oid(w, UNIV, X400I_U_OID, &ct->oid);
    }
}

/* DomainSuppliedInformation / MTASuppliedInformation share the
 * AdditionalActions components: [1] deferred, converted EITs, [3] other. */
static void put_trace_elem(x400i_bw *w, const x400_p1_trace *t)
{
    size_t m = x400i_bw_len(w), ms = x400i_bw_len(w);
    if (t->arrival == X400_TIME_NONE) { enc_fail(w, X400_ERR_INVALID_ARG, "P1 encode: trace element without arrival time"); return; }
    if (t->routing_action < 0 || t->routing_action > 1) { enc_fail(w, X400_ERR_INVALID_ARG, "P1 encode: bad routing action"); return; }
    if (t->other_actions) x400i_bw_bits(w, CTX, 3, t->other_actions, 0);
    x400i_bw_int(w, CTX, 2, t->routing_action);
    if (t->deferred != X400_TIME_NONE) x400i_bw_time(w, CTX, 1, t->deferred);
    x400i_bw_time(w, CTX, 0, t->arrival);
    if (t->converted.present) put_eits(w, &t->converted);
    if (t->has_attempted_domain) x400i_gdi_encode(w, &t->attempted_domain);
    x400i_bw_wrap(w, ms, UNIV, X400I_U_SET);
    x400i_gdi_encode(w, &t->gdi);
    x400i_bw_wrap(w, m, UNIV, X400I_U_SEQUENCE);
}

static void put_trace(x400i_bw *w, unsigned n, const x400_p1_trace *t, const char *what)
{
    if (n == 0 || n > 512) { enc_fail(w, X400_ERR_INVALID_ARG, "P1 encode: %s needs 1..512 elements (has %u)", what, n); return; }
    size_t m = x400i_bw_len(w);
    for (unsigned i = n; i-- > 0 && !w->err;) put_trace_elem(w, &t[i]);
    x400i_bw_wrap(w, m, APP, 9);
}

static void put_itrace_elem(x400i_bw *w, const x400_p1_itrace *t)
{
    size_t m = x400i_bw_len(w), ms = x400i_bw_len(w);
    if (t->arrival == X400_TIME_NONE) { enc_fail(w, X400_ERR_INVALID_ARG, "P1 encode: internal trace element without arrival time"); return; }
    if (t->routing_action < 0 || t->routing_action > 1) { enc_fail(w, X400_ERR_INVALID_ARG, "P1 encode: bad routing action"); return; }
    if (t->other_actions) x400i_bw_bits(w, CTX, 3, t->other_actions, 0);
    x400i_bw_int(w, CTX, 2, t->routing_action);
    if (t->deferred != X400_TIME_NONE) x400i_bw_time(w, CTX, 1, t->deferred);
    x400i_bw_time(w, CTX, 0, t->arrival);
    if (t->converted.present) put_eits(w, &t->converted);
    if (t->attempted == X400_ATTEMPTED_DOMAIN) x400i_gdi_encode(w, &t->attempted_domain);
    else if (t->attempted == X400_ATTEMPTED_MTA)
        put_cstr(w, UNIV, X400I_U_IA5, X400I_U_IA5, t->attempted_mta, sizeof t->attempted_mta, 1, 32, "attempted MTA name");
    else if (t->attempted != X400_ATTEMPTED_NONE) enc_fail(w, X400_ERR_INVALID_ARG, "P1 encode: bad attempted kind");
    x400i_bw_wrap(w, ms, UNIV, X400I_U_SET);
    put_cstr(w, UNIV, X400I_U_IA5, X400I_U_IA5, t->mta, sizeof t->mta, 1, 32, "MTA name");
    x400i_gdi_encode(w, &t->gdi);
    x400i_bw_wrap(w, m, UNIV, X400I_U_SEQUENCE);
}

/* ExtensionField type: standard-extension `std` (>= 0) or private-extension
 * `priv`, in the 1992 form ([0] IMPLICIT INTEGER / [3] IMPLICIT OBJECT
 * IDENTIFIER) or the 1988 form ([0] EXPLICIT { INTEGER | OBJECT IDENTIFIER },
 * X.411 (1988) 12.2.1.1.1). */
static void put_ext_type(x400i_bw *w, int std, const x400_oid *priv, x400_p1_ext_form form)
{
    if (form == X400_P1_EXT_FORM_1988) {
        size_t m = x400i_bw_len(w);
        if (std >= 0) x400i_bw_int(w, UNIV, X400I_U_INTEGER, std);
        else x400i_bw_oid(w, UNIV, X400I_U_OID, priv);
        x400i_bw_wrap(w, m, CTX, 0);
    } else if (std >= 0) {
        x400i_bw_int(w, CTX, 0, std);
    } else {
        x400i_bw_oid(w, CTX, 3, priv);
    }
}

/* Extensions ::= SET OF ExtensionField: the opaque fields as they came,
 * then internal-trace-information (standard-extension 38) if any. */
static void put_exts(x400i_bw *w, uint8_t cls, uint32_t num, unsigned n, const x400_bytes *ext,
                     unsigned n_it, const x400_p1_itrace *it)
{
    if (n == 0 && n_it == 0) return;
    if (n > 256 || n_it > 512) { enc_fail(w, X400_ERR_INVALID_ARG, "P1 encode: too many extensions / internal trace elements"); return; }
    size_t m = x400i_bw_len(w);
    if (n_it) {
        size_t me = x400i_bw_len(w), mv = x400i_bw_len(w), ml = x400i_bw_len(w);
        for (unsigned i = n_it; i-- > 0 && !w->err;) put_itrace_elem(w, &it[i]);
        x400i_bw_wrap(w, ml, UNIV, X400I_U_SEQUENCE);
        x400i_bw_wrap(w, mv, CTX, 2);
        put_ext_type(w, X400_EXT_INTERNAL_TRACE, NULL, w->ext_form);
        x400i_bw_wrap(w, me, UNIV, X400I_U_SEQUENCE);
    }
    for (unsigned i = n; i-- > 0;) {
        x400_p1_ext_view v;
        if (!ext[i].p || x400_p1_ext_info(ext[i], &v, NULL) != X400_OK) {
            enc_fail(w, X400_ERR_INVALID_ARG, "P1 encode: extension %u is not one ExtensionField", i);
            return;
        }
        x400i_bw_bytes(w, ext[i].p, ext[i].len);
    }
    x400i_bw_wrap(w, m, cls, num);
}

static void put_bilateral(x400i_bw *w, unsigned n, const x400_p1_bilateral *b)
{
    if (n == 0) return;
    if (n > 512) { enc_fail(w, X400_ERR_INVALID_ARG, "P1 encode: more than 512 bilateral entries"); return; }
    size_t m = x400i_bw_len(w);
    for (unsigned i = n; i-- > 0;) {
        size_t me = x400i_bw_len(w);
        if (!b[i].info.p || !b[i].info.len) { enc_fail(w, X400_ERR_INVALID_ARG, "P1 encode: bilateral information %u empty", i); return; }
        x400i_bw_bytes(w, b[i].info.p, b[i].info.len);
        int rc = x400_gdi_validate(&b[i].domain, NULL);
        if (rc) { enc_fail(w, rc, "P1 encode: invalid bilateral domain %u", i); return; }
        if (b[i].domain.prmd[0]) {
            size_t mp = x400i_bw_len(w), mi = x400i_bw_len(w);
            x400i_bw_prim(w, UNIV, b[i].domain.prmd_numeric ? X400I_U_NUMERIC : X400I_U_PRINTABLE, b[i].domain.prmd, strlen(b[i].domain.prmd));
            x400i_bw_wrap(w, mi, CTX, 1);
            size_t ma = x400i_bw_len(w);
            x400i_bw_prim(w, UNIV, b[i].domain.admd_numeric ? X400I_U_NUMERIC : X400I_U_PRINTABLE, b[i].domain.admd, strlen(b[i].domain.admd));
            x400i_bw_wrap(w, ma, CTX, 0);
            x400i_bw_wrap(w, mp, UNIV, X400I_U_SEQUENCE);
        } else {
            x400i_admd_encode(w, b[i].domain.admd, b[i].domain.admd_numeric);
        }
        x400i_country_encode(w, b[i].domain.country);
        x400i_bw_wrap(w, me, UNIV, X400I_U_SEQUENCE);
    }
    x400i_bw_wrap(w, m, CTX, 1);
}

static void put_recipients(x400i_bw *w, const x400_p1_envelope *e)
{
    if (e->n_recip == 0 || e->n_recip > 32767) { enc_fail(w, X400_ERR_INVALID_ARG, "P1 encode: %u recipients (1..32767)", e->n_recip); return; }
    size_t m = x400i_bw_len(w);
    for (unsigned i = e->n_recip; i-- > 0 && !w->err;) {
        const x400_p1_recipient *r = &e->recip[i];
        size_t mr = x400i_bw_len(w);
        if (r->osrn < 1 || r->osrn > 32767) { enc_fail(w, X400_ERR_INVALID_ARG, "P1 encode: recipient %u number %u outside 1..32767", i, (unsigned)r->osrn); return; }
        if (r->explicit_conversion > 256) { enc_fail(w, X400_ERR_INVALID_ARG, "P1 encode: explicit conversion > 256"); return; }
        put_exts(w, CTX, 3, r->n_ext, r->ext, 0, NULL);
        if (r->explicit_conversion >= 0) x400i_bw_int(w, CTX, 2, r->explicit_conversion);
        x400i_bw_bits(w, CTX, 1, r->indicators, 8);
        x400i_bw_int(w, CTX, 0, r->osrn);
        x400i_orname_encode(w, &r->name, APP, 0);
        x400i_bw_wrap(w, mr, UNIV, X400I_U_SET);
    }
    x400i_bw_wrap(w, m, CTX, 2);
}

/* MessageTransferEnvelope / ProbeTransferEnvelope members, canonical order:
 * [U6] ext. content type, [A0] originator, [A4] id, [A5] EITs, [A6] content
 * type, [A7] priority, [A8] indicators, [A9] trace, [A10] content id,
 * [0] deferred / content-length, [1] bilateral, [2] recipients,
 * [3] extensions.  Written backwards. */
static void put_envelope(x400i_bw *w, const x400_p1_envelope *e, int probe)
{
    put_exts(w, CTX, 3, e->n_ext, e->ext, e->n_itrace, e->itrace);
    put_recipients(w, e);
    put_bilateral(w, e->n_bilateral, e->bilateral);
    if (probe) {
        if (e->content_length >= 0) {
            if (e->content_length > 2147483647) enc_fail(w, X400_ERR_INVALID_ARG, "P1 encode: content length too large");
            x400i_bw_int(w, CTX, 0, e->content_length);
        }
        if (e->deferred_delivery != X400_TIME_NONE || e->priority != X400_PRIO_NORMAL)
            enc_fail(w, X400_ERR_INVALID_ARG, "P1 encode: a probe has no priority or deferred delivery time");
    } else if (e->deferred_delivery != X400_TIME_NONE) {
        x400i_bw_time(w, CTX, 0, e->deferred_delivery);
    }
    if (e->content_id[0]) put_cstr(w, APP, 10, X400I_U_PRINTABLE, e->content_id, sizeof e->content_id, 1, 16, "content-identifier");
    put_trace(w, e->n_trace, e->trace, "trace-information");
    if (e->per_message_indicators) x400i_bw_bits(w, APP, 8, e->per_message_indicators, 0);
    if (!probe && e->priority != X400_PRIO_NORMAL) {
        if (e->priority < 0 || e->priority > 2) enc_fail(w, X400_ERR_INVALID_ARG, "P1 encode: priority %d", e->priority);
        x400i_bw_int(w, APP, 7, e->priority);
    }
    if (e->content_type.builtin >= 0) put_content_type(w, &e->content_type);
    if (e->original_eits.present) put_eits(w, &e->original_eits);
    put_mtsid(w, &e->id);
    x400i_orname_encode(w, &e->originator, APP, 0);
    if (e->content_type.builtin < 0) put_content_type(w, &e->content_type);
}

static void put_report(x400i_bw *w, const x400_p1_report *r)
{
    /* ReportTransferContent SET */
    size_t mc = x400i_bw_len(w);
    put_exts(w, CTX, 3, r->n_content_ext, r->content_ext, 0, NULL);
    if (r->additional_info.len) {
        size_t ma = x400i_bw_len(w);
        x400i_bw_bytes(w, r->additional_info.p, r->additional_info.len);
        x400i_bw_wrap(w, ma, CTX, 2);
    }
    if (r->has_returned_content) x400i_bw_prim(w, CTX, 1, r->returned_content.p, r->returned_content.len);
    if (r->n_recip == 0 || r->n_recip > 32767) enc_fail(w, X400_ERR_INVALID_ARG, "P1 encode: report with %u recipients (1..32767)", r->n_recip);
    size_t ml = x400i_bw_len(w);
    for (unsigned i = r->n_recip; i-- > 0 && !w->err;) {
        const x400_p1_report_recipient *p = &r->recip[i];
        size_t mr = x400i_bw_len(w);
        if (p->osrn < 1 || p->osrn > 32767) { enc_fail(w, X400_ERR_INVALID_ARG, "P1 encode: report recipient %u number outside 1..32767", i); return; }
        put_exts(w, CTX, 6, p->n_ext, p->ext, 0, NULL);
        if (p->supplementary[0]) put_cstr(w, CTX, 5, X400I_U_PRINTABLE, p->supplementary, sizeof p->supplementary, 1, 256, "supplementary-information");
        if (p->has_intended) x400i_orname_encode(w, &p->intended, CTX, 4);
        /* [3] LastTraceInformation SET { [A5] converted, [0] arrival, [1] report-type } */
        size_t mt = x400i_bw_len(w), mrt = x400i_bw_len(w), mk = x400i_bw_len(w);
        if (p->delivered) {
            if (p->type_of_user > 256) enc_fail(w, X400_ERR_INVALID_ARG, "P1 encode: type-of-MTS-user > 256");
            if (p->type_of_user >= 0) x400i_bw_int(w, CTX, 1, p->type_of_user);
            if (p->delivery_time == X400_TIME_NONE) enc_fail(w, X400_ERR_INVALID_ARG, "P1 encode: delivery report without delivery time");
            x400i_bw_time(w, CTX, 0, p->delivery_time);
            x400i_bw_wrap(w, mk, CTX, 0);
        } else {
            if (p->reason < 0 || p->reason > 32767 || p->diagnostic > 32767) enc_fail(w, X400_ERR_INVALID_ARG, "P1 encode: non-delivery reason/diagnostic out of range");
            if (p->diagnostic >= 0) x400i_bw_int(w, CTX, 1, p->diagnostic);
            x400i_bw_int(w, CTX, 0, p->reason);
            x400i_bw_wrap(w, mk, CTX, 1);
        }
        x400i_bw_wrap(w, mrt, CTX, 1);
        if (p->arrival == X400_TIME_NONE) enc_fail(w, X400_ERR_INVALID_ARG, "P1 encode: report recipient without arrival time");
        x400i_bw_time(w, CTX, 0, p->arrival);
        if (p->converted.present) put_eits(w, &p->converted);
        x400i_bw_wrap(w, mt, CTX, 3);
        x400i_bw_bits(w, CTX, 2, p->indicators, 8);
        x400i_bw_int(w, CTX, 1, p->osrn);
        x400i_orname_encode(w, &p->actual, CTX, 0);
        x400i_bw_wrap(w, mr, UNIV, X400I_U_SET);
    }
    x400i_bw_wrap(w, ml, CTX, 0);
    if (r->content_id[0]) put_cstr(w, APP, 10, X400I_U_PRINTABLE, r->content_id, sizeof r->content_id, 1, 16, "content-identifier");
    if (r->has_subject_trace) put_trace(w, r->n_subject_trace, r->subject_trace, "subject-intermediate-trace-information");
    if (r->has_content_type && r->content_type.builtin >= 0) put_content_type(w, &r->content_type);
    if (r->original_eits.present) put_eits(w, &r->original_eits);
    put_mtsid(w, &r->subject);
    if (r->has_content_type && r->content_type.builtin < 0) put_content_type(w, &r->content_type);
    x400i_bw_wrap(w, mc, UNIV, X400I_U_SET);
    /* ReportTransferEnvelope SET: [A0] destination, [A4] id, [A9] trace, [1] ext */
    size_t me = x400i_bw_len(w);
    put_exts(w, CTX, 1, r->n_ext, r->ext, r->n_itrace, r->itrace);
    put_trace(w, r->n_trace, r->trace, "trace-information");
    put_mtsid(w, &r->id);
    x400i_orname_encode(w, &r->destination, APP, 0);
    x400i_bw_wrap(w, me, UNIV, X400I_U_SET);
}

static int encode_into(const x400_p1_apdu *a, x400i_bw *w)
{
    size_t m = x400i_bw_len(w);
    w->ext_form = a->ext_form == X400_P1_EXT_FORM_1988 ? X400_P1_EXT_FORM_1988 : X400_P1_EXT_FORM_1992;
    switch (a->kind) {
    case X400_P1_MESSAGE:
        if (a->content.len && !a->content.p) { enc_fail(w, X400_ERR_INVALID_ARG, "P1 encode: content without bytes"); break; }
        x400i_bw_prim(w, UNIV, X400I_U_OCTETSTRING, a->content.p, a->content.len);
        {
            size_t me = x400i_bw_len(w);
            put_envelope(w, &a->env, 0);
            x400i_bw_wrap(w, me, UNIV, X400I_U_SET);
        }
        x400i_bw_wrap(w, m, CTX, 0);
        break;
    case X400_P1_PROBE:
        put_envelope(w, &a->env, 1);
        x400i_bw_wrap(w, m, CTX, 2);
        break;
    case X400_P1_REPORT:
        put_report(w, &a->report);
        x400i_bw_wrap(w, m, CTX, 1);
        break;
    default:
        enc_fail(w, X400_ERR_INVALID_ARG, "P1 encode: unknown APDU kind %d", (int)a->kind);
    }
    return w->err;
}

int x400_p1_encode(const x400_p1_apdu *a, uint8_t *buf, size_t cap, size_t *len, x400_diag *diag)
{
    if (!a || (!buf && cap) || !len)
        return x400i_diag_set(diag, X400_LAYER_P1, X400_SOURCE_LOCAL, X400_ERR_INVALID_ARG, X400_P1_R_ENCODE, "P1 encode: NULL argument");
    x400i_bw w;
    x400i_bw_init_fixed(&w, buf, cap, X400_LAYER_P1, diag);
    int rc = encode_into(a, &w);
    if (rc) return rc;
    *len = x400i_bw_len(&w);
    memmove(buf, buf + w.pos, *len);
    return X400_OK;
}

int x400_p1_encode_alloc(const x400_p1_apdu *a, const x400_allocator *alloc, uint8_t **out,
                         size_t *len, x400_diag *diag)
{
    if (!a || !out || !len)
        return x400i_diag_set(diag, X400_LAYER_P1, X400_SOURCE_LOCAL, X400_ERR_INVALID_ARG, X400_P1_R_ENCODE, "P1 encode: NULL argument");
    x400i_bw w;
    size_t hint = 1024 + (a->kind == X400_P1_MESSAGE ? a->content.len : 0) +
                  (size_t)(a->kind == X400_P1_REPORT ? a->report.n_recip : a->env.n_recip) * 160;
    int rc = x400i_bw_init_alloc(&w, alloc, hint, X400_LAYER_P1, diag);
    if (rc) return rc;
    rc = encode_into(a, &w);
    if (rc) {
        x400i_free(w.alloc, w.buf);
        return rc;
    }
    *len = x400i_bw_len(&w);
    if (w.pos) memmove(w.buf, w.buf + w.pos, *len);
    *out = w.buf;
    return X400_OK;
}

/* ------------------------------------------------------------ extensions */

int x400_p1_ext_info(x400_bytes ext, x400_p1_ext_view *out, x400_diag *d)
{
    x400i_tlv t, c, in;
    size_t off = 0;
    int rc;
    if (!out || !ext.p) return X400_ERR_INVALID_ARG;
    memset(out, 0, sizeof *out);
    out->standard = -1;
    if ((rc = x400i_ber_read(ext.p, ext.len, &t, 64, X400_LAYER_P1, d))) return rc;
    if (t.total != ext.len || !x400i_tlv_is(&t, UNIV, X400I_U_SEQUENCE))
        return x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_VALUE, "ExtensionField: not one SEQUENCE");
    if ((rc = x400i_p1_child(&t, &off, &c, d)) != 1)
        return rc < 0 ? rc : x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_MISSING, "ExtensionField: no type");
    if (x400i_tlv_is(&c, CTX, 0) && c.constructed) {
        /* Leniency: the X.411 (1988) form, [0] EXPLICIT around the untagged
         * CHOICE { INTEGER, OBJECT IDENTIFIER } -- what PP/ISODE sends
         * (a0 03 02 01 17).  Exactly one element inside. */
        size_t o2 = 0;
        out->form = X400_P1_EXT_FORM_1988;
        if ((rc = x400i_p1_child(&c, &o2, &in, d)) != 1 || o2 != c.vlen)
            return rc < 0 ? rc : x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_VALUE, "ExtensionField: [0] type is not one element");
        if (x400i_tlv_is(&in, UNIV, X400I_U_INTEGER)) {
            int64_t v;
            if ((rc = x400i_p1_int(&in, 0, 256, &v, "standard-extension", d))) return rc;
            out->standard = (int)v;
        } else if (x400i_tlv_is(&in, UNIV, X400I_U_OID)) {
            if ((rc = x400i_p1_oid(&in, &out->private_type, "private-extension", d))) return rc;
        } else {
            return x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_VALUE, "ExtensionField: [0] type is neither INTEGER nor OBJECT IDENTIFIER");
        }
    } else if (x400i_tlv_is(&c, CTX, 0)) {
        int64_t v;
        if ((rc = x400i_p1_int(&c, 0, 256, &v, "standard-extension", d))) return rc;
        out->standard = (int)v;
    } else if (x400i_tlv_is(&c, CTX, 3)) {
        if ((rc = x400i_p1_oid(&c, &out->private_type, "private-extension", d))) return rc;
    } else {
        return x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_VALUE, "ExtensionField: bad type tag");
    }
    int last = 0;
    while ((rc = x400i_p1_child(&t, &off, &c, d)) == 1) {
        if (x400i_tlv_is(&c, CTX, 1) && last < 1) {
            if ((rc = x400i_p1_bits(&c, &out->criticality, "criticality", d))) return rc;
            last = 1;
        } else if (x400i_tlv_is(&c, CTX, 2) && last < 2) {
            size_t o2 = 0;
            if ((rc = x400i_p1_child(&c, &o2, &in, d)) != 1 || o2 != c.vlen)
                return rc < 0 ? rc : x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_VALUE, "ExtensionField: value is not one element");
            out->value = (x400_bytes){ in.raw, in.total };
            last = 2;
        } else {
            return x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_UNEXPECTED, "ExtensionField: unexpected element");
        }
    }
    return rc < 0 ? rc : X400_OK;
}

int x400_p1_ext_build(const x400_p1_ext_view *v, uint8_t *buf, size_t cap, size_t *len, x400_diag *d)
{
    if (!v || !buf || !len || v->standard > 256 || (v->standard < 0 && v->private_type.n < 2))
        return x400i_diag_set(d, X400_LAYER_P1, X400_SOURCE_LOCAL, X400_ERR_INVALID_ARG, X400_P1_R_ENCODE, "ExtensionField: bad type");
    x400i_tlv t;
    if (v->value.len && (x400i_ber_read(v->value.p, v->value.len, &t, 64, X400_LAYER_P1, NULL) || t.total != v->value.len))
        return x400i_diag_set(d, X400_LAYER_P1, X400_SOURCE_LOCAL, X400_ERR_INVALID_ARG, X400_P1_R_ENCODE, "ExtensionField: value is not one BER element");
    x400i_bw w;
    x400i_bw_init_fixed(&w, buf, cap, X400_LAYER_P1, d);
    size_t m = x400i_bw_len(&w);
    if (v->value.len) {
        size_t mv = x400i_bw_len(&w);
        x400i_bw_bytes(&w, v->value.p, v->value.len);
        x400i_bw_wrap(&w, mv, CTX, 2);
    }
    if (v->criticality) x400i_bw_bits(&w, CTX, 1, v->criticality, 0);
    put_ext_type(&w, v->standard, &v->private_type, v->form);
    x400i_bw_wrap(&w, m, UNIV, X400I_U_SEQUENCE);
    if (w.err) return w.err;
    *len = x400i_bw_len(&w);
    memmove(buf, buf + w.pos, *len);
    return X400_OK;
}

/* ------------------------------------------------------------ decoding */

#define PERR(dc, code, reason, ...) x400i_p1_err((dc)->diag, code, reason, __VA_ARGS__)

static void *aalloc(x400i_dec *dc, size_t n, int *rc)
{
    void *p = x400i_arena_alloc(dc->arena, n);
    if (!p) *rc = x400i_diag_set(dc->diag, X400_LAYER_P1, X400_SOURCE_LOCAL, X400_ERR_NOMEM, 0, "P1 decode: out of memory");
    return p;
}

static int one_child(x400i_dec *dc, const x400i_tlv *t, x400i_tlv *c, const char *what)
{
    size_t off = 0;
    int rc = x400i_p1_child(t, &off, c, dc->diag);
    if (rc < 0) return rc;
    if (rc == 0 || off != t->vlen) return PERR(dc, X400_ERR_PARSE, X400_P1_R_VALUE, "%s: expected exactly one element", what);
    return X400_OK;
}

/* ------------------------------------------------------------ SET tables
 * Every SET of the transfer envelopes and report contents is decoded by
 * one walker over a `static const` table of its elements (tag, mandatory,
 * handler), X.411 12.2.  The walker refuses an element no row names or one
 * seen twice (X.680 27.x: a SET's components are distinct) and, at the
 * end, names the first mandatory element missing.  SEQUENCEs whose
 * components are all distinctly tagged (per-recipient report-type) are
 * read with it too, in any order: a leniency (doc/p1.md). */

typedef int (*p1_field_fn)(x400i_dec *dc, const x400i_tlv *c, void *obj);

typedef struct p1_field {
    uint8_t cls;              /* tag class bits */
    uint8_t cls2;             /* an alternative tag (untagged CHOICE), NO_ALT: none */
    uint16_t tag, tag2;
    uint8_t mandatory;
    int missing_reason;       /* reason when absent */
    const char *name;         /* in the "missing" diagnostic */
    p1_field_fn dec;
} p1_field;

typedef struct p1_set {
    const char *what;         /* the SET's name in diagnostics */
    const p1_field *f;
    unsigned n;               /* rows, at most 32 */
    int univ_reason;          /* reason for an unknown UNIVERSAL element */
} p1_set;

#define NO_ALT 0xFF
#define NO_INDEX UINT32_MAX
#define SET_OF(what, rows, univ) { what, rows, X400I_ARRAY_LEN(rows), univ }
/* A mandatory / an optional row; OPT2: with an alternative tag. */
#define MAND(c, t, name, fn) { c, NO_ALT, t, 0, 1, X400_P1_R_MISSING, name, fn }
#define OPT(c, t, fn) { c, NO_ALT, t, 0, 0, 0, NULL, fn }
#define OPT2(c, t, c2, t2, fn) { c, c2, t, t2, 0, 0, NULL, fn }

static const char *set_name(const p1_set *s, uint32_t idx, char *buf, size_t cap)
{
    if (idx == NO_INDEX) return s->what;
    snprintf(buf, cap, "%s %u", s->what, (unsigned)idx);
    return buf;
}

/* Decode the elements of the constructed value t into obj by table s;
 * idx (or NO_INDEX) numbers the value in diagnostics ("recipient 2"). */
static int dec_set(x400i_dec *dc, const x400i_tlv *t, const p1_set *s, void *obj, uint32_t idx)
{
    x400i_tlv c;
    size_t off = 0;
    uint32_t seen = 0;
    char nb[64];
    int rc;
    while ((rc = x400i_p1_child(t, &off, &c, dc->diag)) == 1) {
        unsigned i = 0;
        while (i < s->n && !((c.tag == s->f[i].tag && c.cls == s->f[i].cls) ||
                             (c.tag == s->f[i].tag2 && c.cls == s->f[i].cls2)))
            i++;
        if (i == s->n) {
            if (c.cls == UNIV && s->univ_reason)
                return PERR(dc, X400_ERR_PARSE, s->univ_reason, "%s: element of the wrong type (universal tag %u)",
                            set_name(s, idx, nb, sizeof nb), (unsigned)c.tag);
            return PERR(dc, X400_ERR_PARSE, X400_P1_R_UNEXPECTED, "%s: unexpected element (class %u tag %u)",
                        set_name(s, idx, nb, sizeof nb), (unsigned)c.cls >> 6, (unsigned)c.tag);
        }
        if (seen & (1u << i))
            return PERR(dc, X400_ERR_PARSE, X400_P1_R_UNEXPECTED, "%s: element repeated (tag %u)",
                        set_name(s, idx, nb, sizeof nb), (unsigned)c.tag);
        seen |= 1u << i;
        if ((rc = s->f[i].dec(dc, &c, obj))) return rc;
    }
    if (rc < 0) return rc;
    for (unsigned i = 0; i < s->n; i++)
        if (s->f[i].mandatory && !(seen & (1u << i)))
            return PERR(dc, X400_ERR_PARSE, s->f[i].missing_reason, "%s: %s missing",
                        set_name(s, idx, nb, sizeof nb), s->f[i].name);
    return X400_OK;
}

int x400i_gdi_decode(const x400i_tlv *t, x400_gdi *g, x400_diag *d)
{
    x400i_tlv c;
    size_t off = 0;
    int rc, i = 0;
    memset(g, 0, sizeof *g);
    if (!t->constructed) return x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_VALUE, "GlobalDomainIdentifier: primitive");
    while ((rc = x400i_p1_child(t, &off, &c, d)) == 1) {
        if (i == 0 && x400i_tlv_is(&c, APP, 1)) rc = x400i_country_decode(&c, g->country, d);
        else if (i == 1 && x400i_tlv_is(&c, APP, 2)) rc = x400i_admd_decode(&c, g->admd, &g->admd_numeric, d);
        else if (i == 2 && x400i_tlv_is(&c, UNIV, X400I_U_NUMERIC)) { g->prmd_numeric = 1; rc = x400i_p1_str(&c, X400I_U_NUMERIC, 1, 16, g->prmd, sizeof g->prmd, "private-domain-identifier", d); }
        else if (i == 2 && x400i_tlv_is(&c, UNIV, X400I_U_PRINTABLE)) rc = x400i_p1_str(&c, X400I_U_PRINTABLE, 1, 16, g->prmd, sizeof g->prmd, "private-domain-identifier", d);
        else return x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_UNEXPECTED, "GlobalDomainIdentifier: unexpected element %d", i);
        if (rc) return rc;
        i++;
    }
    if (rc < 0) return rc;
    if (i < 2) return x400i_p1_err(d, X400_ERR_PARSE, X400_P1_R_MISSING, "GlobalDomainIdentifier: country or ADMD missing");
    return X400_OK;
}

static int dec_mtsid(x400i_dec *dc, const x400i_tlv *t, x400_mtsid *id, const char *what)
{
    x400i_tlv g, l;
    size_t off = 0;
    int rc;
    if ((rc = x400i_p1_child(t, &off, &g, dc->diag)) != 1 || !x400i_tlv_is(&g, APP, 3) ||
        (rc = x400i_p1_child(t, &off, &l, dc->diag)) != 1 || !x400i_tlv_is(&l, UNIV, X400I_U_IA5) || off != t->vlen)
        return rc < 0 ? rc : PERR(dc, X400_ERR_PARSE, X400_P1_R_VALUE, "%s: malformed MTSIdentifier", what);
    if ((rc = x400i_gdi_decode(&g, &id->gdi, dc->diag))) return rc;
    return x400i_p1_str(&l, X400I_U_IA5, 1, 32, id->local, sizeof id->local, "local-identifier", dc->diag);
}

/* ---- EncodedInformationTypes (X.411 12.2, the envelopes' original- and
 * converted-encoded-information-types): [0] built-in, [1] G3 and
 * [2] teletex non-basic parameters (kept opaque, adjacent: NonBasicParameters
 * by COMPONENTS OF), [4] extended */
typedef struct eits_dec {
    x400_p1_eits *e;
    const uint8_t *v;              /* the SET's contents (offsets of [1]/[2]) */
    size_t nb_start, nb_end;       /* nb_end 0: no non-basic parameters */
} eits_dec;
#define EITS(o) ((eits_dec *)(o))

static int eit_builtin(x400i_dec *dc, const x400i_tlv *c, void *o)
{
    return x400i_p1_bits(c, &EITS(o)->e->builtin, "built-in-encoded-information-types", dc->diag);
}
static int eit_nonbasic(x400i_dec *dc, const x400i_tlv *c, void *o)
{
    eits_dec *x = o;
    size_t s = (size_t)(c->raw - x->v);
    if (x->nb_end && s != x->nb_end)
        return PERR(dc, X400_ERR_PARSE, X400_P1_R_UNEXPECTED, "EncodedInformationTypes: non-basic parameters not adjacent");
    if (!x->nb_end) x->nb_start = s;
    x->nb_end = s + c->total;
    return X400_OK;
}
static int eit_extended(x400i_dec *dc, const x400i_tlv *c, void *o)
{
    x400_p1_eits *e = EITS(o)->e;
    x400i_tlv t;
    size_t off = 0;
    int rc;
    while ((rc = x400i_p1_child(c, &off, &t, dc->diag)) == 1) {
        if (e->n_extended >= X400_EIT_EXTENDED_MAX || !x400i_tlv_is(&t, UNIV, X400I_U_OID))
            return PERR(dc, X400_ERR_PARSE, X400_P1_R_VALUE, "extended-encoded-information-types: more than %d or not OIDs", X400_EIT_EXTENDED_MAX);
        if ((rc = x400i_p1_oid(&t, &e->extended[e->n_extended++], "extended EIT", dc->diag))) return rc;
    }
    return rc < 0 ? rc : X400_OK;
}
static const p1_field eits_rows[] = {
    MAND(CTX, 0, "built-in-encoded-information-types", eit_builtin), OPT(CTX, 1, eit_nonbasic),
    OPT(CTX, 2, eit_nonbasic), OPT(CTX, 4, eit_extended),
};
static const p1_set eits_set = SET_OF("EncodedInformationTypes", eits_rows, 0);

static int dec_eits(x400i_dec *dc, const x400i_tlv *t, x400_p1_eits *e)
{
    eits_dec x = { e, t->v, 0, 0 };
    int rc;
    memset(e, 0, sizeof *e);
    e->present = 1;
    if ((rc = dec_set(dc, t, &eits_set, &x, NO_INDEX))) return rc;
    if (x.nb_end) {
        uint8_t *p = aalloc(dc, x.nb_end - x.nb_start, &rc);
        if (!p) return rc;
        memcpy(p, t->v + x.nb_start, x.nb_end - x.nb_start);
        e->nonbasic = (x400_bytes){ p, x.nb_end - x.nb_start };
    }
    return X400_OK;
}

static int dec_content_type(x400i_dec *dc, const x400i_tlv *c, x400_p1_content_type *ct)
{
    if (x400i_tlv_is(c, APP, 6)) {
        int64_t v;
        int rc = x400i_p1_int(c, 0, 32767, &v, "content-type built-in", NULL);
        if (rc) return PERR(dc, X400_ERR_PARSE, X400_P1_R_CONTENT_TYPE, "content-type: built-in value not an INTEGER in 0..32767");
        ct->builtin = (int)v;
        return X400_OK;
    }
    ct->builtin = -1;
    if (x400i_p1_oid(c, &ct->oid, "content-type", NULL))
        return PERR(dc, X400_ERR_PARSE, X400_P1_R_CONTENT_TYPE, "content-type: malformed OBJECT IDENTIFIER");
    return X400_OK;
}

static int dec_time(x400i_dec *dc, const x400i_tlv *c, int64_t *out, const char *what)
{
    return x400i_p1_time(c, out, what, dc->diag);
}

/* ---- DomainSuppliedInformation / MTASuppliedInformation of the trace and
 * internal trace elements (X.411 12.2; AdditionalActions by COMPONENTS
 * OF): where a trace element's fields go. */
typedef struct supplied_dec {
    int64_t *arrival, *deferred;
    int *routing, *att_kind;
    x400_p1_eits *conv;
    uint32_t *other;
    x400_gdi *att_dom;
    char *att_mta;                 /* MTASuppliedInformation only */
} supplied_dec;
#define SUP(o) ((supplied_dec *)(o))

static int sup_arrival(x400i_dec *dc, const x400i_tlv *c, void *o) { return dec_time(dc, c, SUP(o)->arrival, "arrival-time"); }
static int sup_deferred(x400i_dec *dc, const x400i_tlv *c, void *o) { return dec_time(dc, c, SUP(o)->deferred, "deferred-time"); }
static int sup_routing(x400i_dec *dc, const x400i_tlv *c, void *o)
{
    int64_t v;
    int rc = x400i_p1_int(c, 0, 1, &v, "routing-action", dc->diag);
    *SUP(o)->routing = (int)v;
    return rc;
}
static int sup_other(x400i_dec *dc, const x400i_tlv *c, void *o) { return x400i_p1_bits(c, SUP(o)->other, "other-actions", dc->diag); }
static int sup_converted(x400i_dec *dc, const x400i_tlv *c, void *o) { return dec_eits(dc, c, SUP(o)->conv); }
/* attempted-domain, or (MTASuppliedInformation) the CHOICE of an
 * attempted MTA name (IA5String) or domain */
static int sup_attempted(x400i_dec *dc, const x400i_tlv *c, void *o)
{
    supplied_dec *s = o;
    if (c->cls == UNIV) {
        *s->att_kind = X400_ATTEMPTED_MTA;
        return x400i_p1_str(c, X400I_U_IA5, 1, 32, s->att_mta, X400_MTA_NAME_MAX + 1, "attempted mta", dc->diag);
    }
    *s->att_kind = X400_ATTEMPTED_DOMAIN;
    return x400i_gdi_decode(c, s->att_dom, dc->diag);
}
#define ADDITIONAL_ACTIONS_ROWS                                                                    \
    MAND(CTX, 0, "arrival-time", sup_arrival), OPT(CTX, 1, sup_deferred),                          \
    MAND(CTX, 2, "routing-action", sup_routing), OPT(CTX, 3, sup_other), OPT(APP, 5, sup_converted)
static const p1_field domain_supplied_rows[] = { ADDITIONAL_ACTIONS_ROWS, OPT(APP, 3, sup_attempted) };
static const p1_field mta_supplied_rows[] = { ADDITIONAL_ACTIONS_ROWS, OPT2(APP, 3, UNIV, X400I_U_IA5, sup_attempted) };
static const p1_set domain_supplied_set = SET_OF("DomainSuppliedInformation", domain_supplied_rows, 0);
static const p1_set mta_supplied_set = SET_OF("MTASuppliedInformation", mta_supplied_rows, 0);

static int dec_supplied(x400i_dec *dc, const x400i_tlv *t, int64_t *arrival, int *routing,
                        int64_t *deferred, x400_p1_eits *conv, uint32_t *other,
                        x400_gdi *att_dom, int *att_kind, char *att_mta, int internal)
{
    supplied_dec s = { arrival, deferred, routing, att_kind, conv, other, att_dom, att_mta };
    *deferred = X400_TIME_NONE;
    return dec_set(dc, t, internal ? &mta_supplied_set : &domain_supplied_set, &s, NO_INDEX);
}

static int dec_trace(x400i_dec *dc, const x400i_tlv *t, unsigned *n, const x400_p1_trace **out)
{
    int rc = x400i_p1_count(t, dc->lim->max_trace, X400_P1_R_TRACE, "trace-information", dc->diag);
    if (rc < 0) return rc;
    if (rc == 0) return PERR(dc, X400_ERR_PARSE, X400_P1_R_VALUE, "trace-information: empty");
    x400_p1_trace *a = aalloc(dc, (size_t)rc * sizeof *a, &rc);
    if (!a) return rc;
    x400i_tlv c;
    size_t off = 0;
    unsigned i = 0;
    while ((rc = x400i_p1_child(t, &off, &c, dc->diag)) == 1) {
        x400i_tlv g, s;
        size_t o2 = 0;
        x400_p1_trace_init(&a[i]);
        if (!x400i_tlv_is(&c, UNIV, X400I_U_SEQUENCE) || x400i_p1_child(&c, &o2, &g, dc->diag) != 1 ||
            x400i_p1_child(&c, &o2, &s, dc->diag) != 1 || o2 != c.vlen ||
            !x400i_tlv_is(&g, APP, 3) || !x400i_tlv_is(&s, UNIV, X400I_U_SET))
            return PERR(dc, X400_ERR_PARSE, X400_P1_R_VALUE, "TraceInformationElement %u: malformed", i);
        if ((rc = x400i_gdi_decode(&g, &a[i].gdi, dc->diag))) return rc;
        int kind = 0;
        char dummy[X400_MTA_NAME_MAX + 1];
        if ((rc = dec_supplied(dc, &s, &a[i].arrival, &a[i].routing_action, &a[i].deferred, &a[i].converted,
                               &a[i].other_actions, &a[i].attempted_domain, &kind, dummy, 0)))
            return rc;
        a[i].has_attempted_domain = kind == X400_ATTEMPTED_DOMAIN;
        i++;
    }
    if (rc < 0) return rc;
    *n = i;
    *out = a;
    return X400_OK;
}

static int dec_itrace(x400i_dec *dc, const x400i_tlv *t, unsigned *n, const x400_p1_itrace **out)
{
    int rc = x400i_p1_count(t, dc->lim->max_trace, X400_P1_R_TRACE, "internal-trace-information", dc->diag);
    if (rc < 0) return rc;
    if (rc == 0) return PERR(dc, X400_ERR_PARSE, X400_P1_R_VALUE, "internal-trace-information: empty");
    x400_p1_itrace *a = aalloc(dc, (size_t)rc * sizeof *a, &rc);
    if (!a) return rc;
    x400i_tlv c;
    size_t off = 0;
    unsigned i = 0;
    while ((rc = x400i_p1_child(t, &off, &c, dc->diag)) == 1) {
        x400i_tlv g, m, s;
        size_t o2 = 0;
        x400_p1_itrace_init(&a[i]);
        if (!x400i_tlv_is(&c, UNIV, X400I_U_SEQUENCE) || x400i_p1_child(&c, &o2, &g, dc->diag) != 1 ||
            x400i_p1_child(&c, &o2, &m, dc->diag) != 1 || x400i_p1_child(&c, &o2, &s, dc->diag) != 1 ||
            o2 != c.vlen || !x400i_tlv_is(&g, APP, 3) || !x400i_tlv_is(&m, UNIV, X400I_U_IA5) ||
            !x400i_tlv_is(&s, UNIV, X400I_U_SET))
            return PERR(dc, X400_ERR_PARSE, X400_P1_R_VALUE, "InternalTraceInformationElement %u: malformed", i);
        if ((rc = x400i_gdi_decode(&g, &a[i].gdi, dc->diag)) ||
            (rc = x400i_p1_str(&m, X400I_U_IA5, 1, 32, a[i].mta, sizeof a[i].mta, "mta-name", dc->diag)) ||
            (rc = dec_supplied(dc, &s, &a[i].arrival, &a[i].routing_action, &a[i].deferred, &a[i].converted,
                               &a[i].other_actions, &a[i].attempted_domain, &a[i].attempted, a[i].attempted_mta, 1)))
            return rc;
        i++;
    }
    if (rc < 0) return rc;
    *n = i;
    *out = a;
    return X400_OK;
}

/* Extensions SET OF ExtensionField: copy each field's TLV; decode
 * internal-trace-information when `n_it` is given. */
static int dec_exts(x400i_dec *dc, const x400i_tlv *t, unsigned *n, const x400_bytes **out,
                    unsigned *n_it, const x400_p1_itrace **it)
{
    int rc = x400i_p1_count(t, dc->lim->max_extensions, X400_P1_R_EXTENSIONS, "extensions", dc->diag);
    if (rc < 0) return rc;
    size_t cnt = (size_t)rc;
    x400_bytes *a = cnt ? aalloc(dc, cnt * sizeof *a, &rc) : NULL;
    if (cnt && !a) return rc;
    x400i_tlv c;
    size_t off = 0;
    unsigned i = 0;
    while ((rc = x400i_p1_child(t, &off, &c, dc->diag)) == 1) {
        x400_p1_ext_view v;
        if ((rc = x400_p1_ext_info((x400_bytes){ c.raw, c.total }, &v, dc->diag))) return rc;
        /* the APDU's form: that of the internal trace (the extension the
         * encoder writes itself), else that of the first extension */
        if (n_it && v.standard == X400_EXT_INTERNAL_TRACE) {
            dc->first_ext_form = v.form;
            dc->ext_forms |= 4;
        } else if (!dc->ext_forms) {
            dc->first_ext_form = v.form;
        }
        dc->ext_forms |= 1 << v.form;
        if (n_it && v.standard == X400_EXT_INTERNAL_TRACE) {
            x400i_tlv vt;
            if (*n_it) return PERR(dc, X400_ERR_PARSE, X400_P1_R_UNEXPECTED, "internal-trace-information extension repeated");
            if (!v.value.p || x400i_ber_read(v.value.p, v.value.len, &vt, 256, X400_LAYER_P1, dc->diag) ||
                !x400i_tlv_is(&vt, UNIV, X400I_U_SEQUENCE))
                return PERR(dc, X400_ERR_PARSE, X400_P1_R_VALUE, "internal-trace-information: not a SEQUENCE");
            if ((rc = dec_itrace(dc, &vt, n_it, it))) return rc;
            continue;
        }
        uint8_t *p = aalloc(dc, c.total, &rc);
        if (!p) return rc;
        memcpy(p, c.raw, c.total);
        a[i++] = (x400_bytes){ p, c.total };
    }
    if (rc < 0) return rc;
    *n = i;
    *out = a;
    return X400_OK;
}

static int dec_bilateral(x400i_dec *dc, const x400i_tlv *t, x400_p1_envelope *e)
{
    int rc = x400i_p1_count(t, dc->lim->max_trace, X400_P1_R_TRACE, "per-domain-bilateral-information", dc->diag);
    if (rc < 0) return rc;
    if (rc == 0) return PERR(dc, X400_ERR_PARSE, X400_P1_R_VALUE, "per-domain-bilateral-information: empty");
    x400_p1_bilateral *a = aalloc(dc, (size_t)rc * sizeof *a, &rc);
    if (!a) return rc;
    x400i_tlv c;
    size_t off = 0;
    unsigned i = 0;
    while ((rc = x400i_p1_child(t, &off, &c, dc->diag)) == 1) {
        x400i_tlv cn, dom, info;
        size_t o2 = 0;
        if (!x400i_tlv_is(&c, UNIV, X400I_U_SEQUENCE) || x400i_p1_child(&c, &o2, &cn, dc->diag) != 1 ||
            x400i_p1_child(&c, &o2, &dom, dc->diag) != 1 || x400i_p1_child(&c, &o2, &info, dc->diag) != 1 ||
            o2 != c.vlen || !x400i_tlv_is(&cn, APP, 1))
            return PERR(dc, X400_ERR_PARSE, X400_P1_R_VALUE, "PerDomainBilateralInformation %u: malformed", i);
        if ((rc = x400i_country_decode(&cn, a[i].domain.country, dc->diag))) return rc;
        if (x400i_tlv_is(&dom, APP, 2)) {
            rc = x400i_admd_decode(&dom, a[i].domain.admd, &a[i].domain.admd_numeric, dc->diag);
        } else if (x400i_tlv_is(&dom, UNIV, X400I_U_SEQUENCE)) {
            x400i_tlv ad, pd, in;
            size_t o3 = 0;
            if (x400i_p1_child(&dom, &o3, &ad, dc->diag) != 1 || x400i_p1_child(&dom, &o3, &pd, dc->diag) != 1 ||
                o3 != dom.vlen || !x400i_tlv_is(&ad, CTX, 0) || !x400i_tlv_is(&pd, CTX, 1))
                return PERR(dc, X400_ERR_PARSE, X400_P1_R_VALUE, "PerDomainBilateralInformation %u: bad private-domain", i);
            if ((rc = x400i_admd_decode(&ad, a[i].domain.admd, &a[i].domain.admd_numeric, dc->diag))) return rc;
            if ((rc = one_child(dc, &pd, &in, "private-domain-identifier"))) return rc;
            if (x400i_tlv_is(&in, UNIV, X400I_U_NUMERIC)) a[i].domain.prmd_numeric = 1;
            else if (!x400i_tlv_is(&in, UNIV, X400I_U_PRINTABLE)) return PERR(dc, X400_ERR_PARSE, X400_P1_R_VALUE, "private-domain-identifier: bad choice");
            rc = x400i_p1_str(&in, a[i].domain.prmd_numeric ? X400I_U_NUMERIC : X400I_U_PRINTABLE, 1, 16,
                               a[i].domain.prmd, sizeof a[i].domain.prmd, "private-domain-identifier", dc->diag);
        } else {
            return PERR(dc, X400_ERR_PARSE, X400_P1_R_VALUE, "PerDomainBilateralInformation %u: bad domain", i);
        }
        if (rc) return rc;
        uint8_t *p = aalloc(dc, info.total, &rc);
        if (!p) return rc;
        memcpy(p, info.raw, info.total);
        a[i].info = (x400_bytes){ p, info.total };
        i++;
    }
    if (rc < 0) return rc;
    e->n_bilateral = i;
    e->bilateral = a;
    return X400_OK;
}

/* ---- PerRecipientMessageTransferFields / PerRecipientProbeTransferFields */
static int r_name(x400i_dec *dc, const x400i_tlv *c, void *o) { return x400i_orname_decode(dc, c, &((x400_p1_recipient *)o)->name); }
static int r_osrn(x400i_dec *dc, const x400i_tlv *c, void *o)
{
    int64_t v;
    int rc = x400i_p1_int(c, 1, 32767, &v, "originally-specified-recipient-number", dc->diag);
    ((x400_p1_recipient *)o)->osrn = (uint32_t)v;
    return rc;
}
static int r_ind(x400i_dec *dc, const x400i_tlv *c, void *o) { return x400i_p1_bits(c, &((x400_p1_recipient *)o)->indicators, "per-recipient-indicators", dc->diag); }
static int r_conv(x400i_dec *dc, const x400i_tlv *c, void *o)
{
    int64_t v;
    int rc = x400i_p1_int(c, 0, 256, &v, "explicit-conversion", dc->diag);
    ((x400_p1_recipient *)o)->explicit_conversion = (int)v;
    return rc;
}
static int r_ext(x400i_dec *dc, const x400i_tlv *c, void *o)
{
    x400_p1_recipient *r = o;
    return dec_exts(dc, c, &r->n_ext, &r->ext, NULL, NULL);
}
static const p1_field recipient_rows[] = {
    MAND(APP, 0, "recipient-name", r_name), MAND(CTX, 0, "originally-specified-recipient-number", r_osrn),
    MAND(CTX, 1, "per-recipient-indicators", r_ind), OPT(CTX, 2, r_conv), OPT(CTX, 3, r_ext),
};
static const p1_set recipient_set = SET_OF("recipient", recipient_rows, 0);

static int dec_recipients(x400i_dec *dc, const x400i_tlv *t, x400_p1_envelope *e)
{
    int rc = x400i_p1_count(t, dc->lim->max_recipients, X400_P1_R_RECIPIENTS, "per-recipient-fields", dc->diag);
    if (rc < 0) return rc;
    if (rc == 0) return PERR(dc, X400_ERR_PARSE, X400_P1_R_VALUE, "per-recipient-fields: no recipient");
    x400_p1_recipient *a = aalloc(dc, (size_t)rc * sizeof *a, &rc);
    if (!a) return rc;
    x400i_tlv c;
    size_t off = 0;
    unsigned i = 0;
    while ((rc = x400i_p1_child(t, &off, &c, dc->diag)) == 1) {
        x400_p1_recipient_init(&a[i]);
        if (!x400i_tlv_is(&c, UNIV, X400I_U_SET)) return PERR(dc, X400_ERR_PARSE, X400_P1_R_VALUE, "recipient %u: not a SET", i);
        if ((rc = dec_set(dc, &c, &recipient_set, &a[i], i))) return rc;
        i++;
    }
    if (rc < 0) return rc;
    e->n_recip = i;
    e->recip = a;
    return X400_OK;
}

/* ---- MessageTransferEnvelope / ProbeTransferEnvelope */
#define ENV(o) ((x400_p1_envelope *)(o))
static int e_mid(x400i_dec *dc, const x400i_tlv *c, void *o) { return dec_mtsid(dc, c, &ENV(o)->id, "message-identifier"); }
static int e_pid(x400i_dec *dc, const x400i_tlv *c, void *o) { return dec_mtsid(dc, c, &ENV(o)->id, "probe-identifier"); }
static int e_orig(x400i_dec *dc, const x400i_tlv *c, void *o) { return x400i_orname_decode(dc, c, &ENV(o)->originator); }
static int e_eits(x400i_dec *dc, const x400i_tlv *c, void *o) { return dec_eits(dc, c, &ENV(o)->original_eits); }
static int e_ctype(x400i_dec *dc, const x400i_tlv *c, void *o) { return dec_content_type(dc, c, &ENV(o)->content_type); }
static int e_cid(x400i_dec *dc, const x400i_tlv *c, void *o)
{
    return x400i_p1_str(c, X400I_U_PRINTABLE, 1, 16, ENV(o)->content_id, sizeof ENV(o)->content_id, "content-identifier", dc->diag);
}
static int e_prio(x400i_dec *dc, const x400i_tlv *c, void *o)
{
    int64_t v;
    int rc = x400i_p1_int(c, 0, 2, &v, "priority", dc->diag);
    ENV(o)->priority = (int)v;
    return rc;
}
static int e_pmi(x400i_dec *dc, const x400i_tlv *c, void *o) { return x400i_p1_bits(c, &ENV(o)->per_message_indicators, "per-message-indicators", dc->diag); }
static int e_defer(x400i_dec *dc, const x400i_tlv *c, void *o) { return dec_time(dc, c, &ENV(o)->deferred_delivery, "deferred-delivery-time"); }
static int e_clen(x400i_dec *dc, const x400i_tlv *c, void *o)
{
    int64_t v;
    int rc = x400i_p1_int(c, 0, 2147483647, &v, "content-length", dc->diag);
    ENV(o)->content_length = v;
    return rc;
}
static int e_bilat(x400i_dec *dc, const x400i_tlv *c, void *o) { return dec_bilateral(dc, c, ENV(o)); }
static int e_trace(x400i_dec *dc, const x400i_tlv *c, void *o) { return dec_trace(dc, c, &ENV(o)->n_trace, &ENV(o)->trace); }
static int e_ext(x400i_dec *dc, const x400i_tlv *c, void *o)
{
    x400_p1_envelope *e = o;
    return dec_exts(dc, c, &e->n_ext, &e->ext, &e->n_itrace, &e->itrace);
}
static int e_recip(x400i_dec *dc, const x400i_tlv *c, void *o) { return dec_recipients(dc, c, ENV(o)); }
/* content-type: [APPLICATION 6] built-in or an OBJECT IDENTIFIER (X.411 12.2.1.1.1.3) */
#define CONTENT_TYPE(fn) { APP, UNIV, 6, X400I_U_OID, 1, X400_P1_R_CONTENT_TYPE, "content-type", fn }
static const p1_field message_env_rows[] = {
    MAND(APP, 4, "message-/probe-identifier", e_mid), MAND(APP, 0, "originator-name", e_orig),
    OPT(APP, 5, e_eits), CONTENT_TYPE(e_ctype), OPT(APP, 10, e_cid), OPT(APP, 7, e_prio),
    OPT(APP, 8, e_pmi), OPT(CTX, 0, e_defer), OPT(CTX, 1, e_bilat),
    MAND(APP, 9, "trace-information", e_trace), OPT(CTX, 3, e_ext),
    MAND(CTX, 2, "per-recipient-fields", e_recip),
};
static const p1_field probe_env_rows[] = {
    MAND(APP, 4, "message-/probe-identifier", e_pid), MAND(APP, 0, "originator-name", e_orig),
    OPT(APP, 5, e_eits), CONTENT_TYPE(e_ctype), OPT(APP, 10, e_cid),
    OPT(APP, 8, e_pmi), OPT(CTX, 0, e_clen), OPT(CTX, 1, e_bilat),
    MAND(APP, 9, "trace-information", e_trace), OPT(CTX, 3, e_ext),
    MAND(CTX, 2, "per-recipient-fields", e_recip),
};
static const p1_set message_env_set = SET_OF("transfer envelope", message_env_rows, X400_P1_R_CONTENT_TYPE);
static const p1_set probe_env_set = SET_OF("transfer envelope", probe_env_rows, X400_P1_R_CONTENT_TYPE);

static int dec_envelope(x400i_dec *dc, const x400i_tlv *t, x400_p1_envelope *e, int probe)
{
    if (!t->constructed) return PERR(dc, X400_ERR_PARSE, X400_P1_R_VALUE, "transfer envelope: primitive");
    return dec_set(dc, t, probe ? &probe_env_set : &message_env_set, e, NO_INDEX);
}

/* Content ::= OCTET STRING, primitive or constructed (X.690 8.7). */
static int octets_len(x400i_dec *dc, const x400i_tlv *t, size_t *n, unsigned depth)
{
    if (!t->constructed) { *n += t->vlen; return X400_OK; }
    if (depth == 0) return PERR(dc, X400_ERR_LIMIT, X400_P1_R_DEPTH, "content: constructed OCTET STRING nested too deep");
    x400i_tlv c;
    size_t off = 0;
    int rc;
    while ((rc = x400i_p1_child(t, &off, &c, dc->diag)) == 1) {
        if (!x400i_tlv_is(&c, UNIV, X400I_U_OCTETSTRING)) return PERR(dc, X400_ERR_PARSE, X400_P1_R_VALUE, "content: segment is not an OCTET STRING");
        if ((rc = octets_len(dc, &c, n, depth - 1))) return rc;
    }
    return rc < 0 ? rc : X400_OK;
}

static void octets_copy(const x400i_tlv *t, uint8_t *out, size_t *o)
{
    if (!t->constructed) {
        if (t->vlen) memcpy(out + *o, t->v, t->vlen);
        *o += t->vlen;
        return;
    }
    x400i_tlv c;
    size_t off = 0;
    while (x400i_p1_child(t, &off, &c, NULL) == 1) octets_copy(&c, out, o);
}

static int dec_octets(x400i_dec *dc, const x400i_tlv *t, x400_bytes *out, const char *what)
{
    size_t n = 0, o = 0;
    int rc = octets_len(dc, t, &n, 8);
    if (rc) return rc;
    if (n > dc->lim->max_content)
        return PERR(dc, X400_ERR_LIMIT, X400_P1_R_CONTENT_SIZE, "%s of %zu octets exceeds the limit of %zu", what, n, dc->lim->max_content);
    uint8_t *p = aalloc(dc, n ? n : 1, &rc);
    if (!p) return rc;
    octets_copy(t, p, &o);
    *out = (x400_bytes){ p, n };
    return X400_OK;
}

/* A whole element copied into the arena (an opaque value relayed as is). */
static int dec_raw(x400i_dec *dc, const x400i_tlv *t, x400_bytes *out)
{
    int rc = X400_OK;
    uint8_t *p = aalloc(dc, t->total, &rc);
    if (!p) return rc;
    memcpy(p, t->raw, t->total);
    *out = (x400_bytes){ p, t->total };
    return X400_OK;
}

/* ---- PerRecipientReportTransferFields */
#define RR(o) ((x400_p1_report_recipient *)(o))
static int rt_time(x400i_dec *dc, const x400i_tlv *c, void *o) { return dec_time(dc, c, &RR(o)->delivery_time, "message-delivery-time"); }
static int rt_user(x400i_dec *dc, const x400i_tlv *c, void *o)
{
    int64_t v;
    int rc = x400i_p1_int(c, 0, 256, &v, "type-of-MTS-user", dc->diag);
    RR(o)->type_of_user = (int)v;
    return rc;
}
static int rt_reason(x400i_dec *dc, const x400i_tlv *c, void *o)
{
    int64_t v;
    int rc = x400i_p1_int(c, 0, 32767, &v, "non-delivery-reason-code", dc->diag);
    RR(o)->reason = (int)v;
    return rc;
}
static int rt_diag(x400i_dec *dc, const x400i_tlv *c, void *o)
{
    int64_t v;
    int rc = x400i_p1_int(c, 0, 32767, &v, "non-delivery-diagnostic-code", dc->diag);
    RR(o)->diagnostic = (int)v;
    return rc;
}
/* ReportType ::= CHOICE { delivery [0] SEQUENCE, non-delivery [1] SEQUENCE } */
static const p1_field delivery_rows[] = { MAND(CTX, 0, "delivery time", rt_time), OPT(CTX, 1, rt_user) };
static const p1_field non_delivery_rows[] = { MAND(CTX, 0, "reason code", rt_reason), OPT(CTX, 1, rt_diag) };
static const p1_set delivery_set = SET_OF("report-type", delivery_rows, 0);
static const p1_set non_delivery_set = SET_OF("report-type", non_delivery_rows, 0);

static int lt_arrival(x400i_dec *dc, const x400i_tlv *c, void *o) { return dec_time(dc, c, &RR(o)->arrival, "arrival-time"); }
static int lt_conv(x400i_dec *dc, const x400i_tlv *c, void *o) { return dec_eits(dc, c, &RR(o)->converted); }
static int lt_type(x400i_dec *dc, const x400i_tlv *c, void *o)
{
    x400i_tlv k;
    int rc = one_child(dc, c, &k, "report-type");
    if (rc) return rc;
    RR(o)->delivered = x400i_tlv_is(&k, CTX, 0);
    if (!RR(o)->delivered && !x400i_tlv_is(&k, CTX, 1)) return PERR(dc, X400_ERR_PARSE, X400_P1_R_VALUE, "report-type: bad choice");
    return dec_set(dc, &k, RR(o)->delivered ? &delivery_set : &non_delivery_set, o, NO_INDEX);
}
/* LastTraceInformation ::= SET */
static const p1_field last_trace_rows[] = {
    MAND(CTX, 0, "arrival-time", lt_arrival), OPT(APP, 5, lt_conv), MAND(CTX, 1, "report-type", lt_type),
};
static const p1_set last_trace_set = SET_OF("last-trace-information", last_trace_rows, 0);

static int rr_actual(x400i_dec *dc, const x400i_tlv *c, void *o) { return x400i_orname_decode(dc, c, &RR(o)->actual); }
static int rr_osrn(x400i_dec *dc, const x400i_tlv *c, void *o)
{
    int64_t v;
    int rc = x400i_p1_int(c, 1, 32767, &v, "originally-specified-recipient-number", dc->diag);
    RR(o)->osrn = (uint32_t)v;
    return rc;
}
static int rr_ind(x400i_dec *dc, const x400i_tlv *c, void *o) { return x400i_p1_bits(c, &RR(o)->indicators, "per-recipient-indicators", dc->diag); }
static int rr_last(x400i_dec *dc, const x400i_tlv *c, void *o)
{
    if (!c->constructed) return PERR(dc, X400_ERR_PARSE, X400_P1_R_VALUE, "last-trace-information: primitive");
    return dec_set(dc, c, &last_trace_set, o, NO_INDEX);
}
static int rr_intended(x400i_dec *dc, const x400i_tlv *c, void *o)
{
    RR(o)->has_intended = 1;
    return x400i_orname_decode(dc, c, &RR(o)->intended);
}
static int rr_suppl(x400i_dec *dc, const x400i_tlv *c, void *o)
{
    return x400i_p1_str(c, X400I_U_PRINTABLE, 1, 256, RR(o)->supplementary, sizeof RR(o)->supplementary, "supplementary-information", dc->diag);
}
static int rr_ext(x400i_dec *dc, const x400i_tlv *c, void *o) { return dec_exts(dc, c, &RR(o)->n_ext, &RR(o)->ext, NULL, NULL); }
static const p1_field report_recipient_rows[] = {
    MAND(CTX, 0, "actual-recipient-name", rr_actual), MAND(CTX, 1, "originally-specified-recipient-number", rr_osrn),
    MAND(CTX, 2, "per-recipient-indicators", rr_ind), MAND(CTX, 3, "last-trace-information", rr_last),
    OPT(CTX, 4, rr_intended), OPT(CTX, 5, rr_suppl), OPT(CTX, 6, rr_ext),
};
static const p1_set report_recipient_set = SET_OF("report recipient", report_recipient_rows, 0);

static int dec_report_recipients(x400i_dec *dc, const x400i_tlv *t, x400_p1_report *r)
{
    int rc = x400i_p1_count(t, dc->lim->max_recipients, X400_P1_R_RECIPIENTS, "report per-recipient-fields", dc->diag);
    if (rc < 0) return rc;
    if (rc == 0) return PERR(dc, X400_ERR_PARSE, X400_P1_R_VALUE, "report per-recipient-fields: empty");
    x400_p1_report_recipient *a = aalloc(dc, (size_t)rc * sizeof *a, &rc);
    if (!a) return rc;
    x400i_tlv c;
    size_t off = 0;
    unsigned i = 0;
    while ((rc = x400i_p1_child(t, &off, &c, dc->diag)) == 1) {
        x400_p1_report_recipient_init(&a[i]);
        if (!x400i_tlv_is(&c, UNIV, X400I_U_SET)) return PERR(dc, X400_ERR_PARSE, X400_P1_R_VALUE, "report recipient %u: not a SET", i);
        if ((rc = dec_set(dc, &c, &report_recipient_set, &a[i], i))) return rc;
        i++;
    }
    if (rc < 0) return rc;
    r->n_recip = i;
    r->recip = a;
    return X400_OK;
}

/* ---- ReportTransferEnvelope, ReportTransferContent */
#define REP(o) ((x400_p1_report *)(o))
static int re_id(x400i_dec *dc, const x400i_tlv *c, void *o) { return dec_mtsid(dc, c, &REP(o)->id, "report-identifier"); }
static int re_dest(x400i_dec *dc, const x400i_tlv *c, void *o) { return x400i_orname_decode(dc, c, &REP(o)->destination); }
static int re_trace(x400i_dec *dc, const x400i_tlv *c, void *o) { return dec_trace(dc, c, &REP(o)->n_trace, &REP(o)->trace); }
static int re_ext(x400i_dec *dc, const x400i_tlv *c, void *o)
{
    x400_p1_report *r = o;
    return dec_exts(dc, c, &r->n_ext, &r->ext, &r->n_itrace, &r->itrace);
}
static const p1_field report_env_rows[] = {
    MAND(APP, 4, "report-identifier", re_id), MAND(APP, 0, "report-destination-name", re_dest),
    MAND(APP, 9, "trace-information", re_trace), OPT(CTX, 1, re_ext),
};
static const p1_set report_env_set = SET_OF("ReportTransferEnvelope", report_env_rows, 0);

static int rc_subject(x400i_dec *dc, const x400i_tlv *c, void *o) { return dec_mtsid(dc, c, &REP(o)->subject, "subject-identifier"); }
static int rc_strace(x400i_dec *dc, const x400i_tlv *c, void *o)
{
    REP(o)->has_subject_trace = 1;
    return dec_trace(dc, c, &REP(o)->n_subject_trace, &REP(o)->subject_trace);
}
static int rc_eits(x400i_dec *dc, const x400i_tlv *c, void *o) { return dec_eits(dc, c, &REP(o)->original_eits); }
static int rc_ctype(x400i_dec *dc, const x400i_tlv *c, void *o)
{
    REP(o)->has_content_type = 1;
    return dec_content_type(dc, c, &REP(o)->content_type);
}
static int rc_cid(x400i_dec *dc, const x400i_tlv *c, void *o)
{
    return x400i_p1_str(c, X400I_U_PRINTABLE, 1, 16, REP(o)->content_id, sizeof REP(o)->content_id, "content-identifier", dc->diag);
}
static int rc_returned(x400i_dec *dc, const x400i_tlv *c, void *o)
{
    REP(o)->has_returned_content = 1;
    return dec_octets(dc, c, &REP(o)->returned_content, "returned-content");
}
static int rc_addinfo(x400i_dec *dc, const x400i_tlv *c, void *o)
{
    x400i_tlv in;
    int rc = one_child(dc, c, &in, "additional-information");
    return rc ? rc : dec_raw(dc, &in, &REP(o)->additional_info);
}
static int rc_ext(x400i_dec *dc, const x400i_tlv *c, void *o) { return dec_exts(dc, c, &REP(o)->n_content_ext, &REP(o)->content_ext, NULL, NULL); }
static int rc_recip(x400i_dec *dc, const x400i_tlv *c, void *o) { return dec_report_recipients(dc, c, REP(o)); }
static const p1_field report_content_rows[] = {
    MAND(APP, 4, "subject-identifier", rc_subject), OPT(APP, 9, rc_strace), OPT(APP, 5, rc_eits),
    OPT2(APP, 6, UNIV, X400I_U_OID, rc_ctype), OPT(APP, 10, rc_cid), OPT(CTX, 1, rc_returned),
    OPT(CTX, 2, rc_addinfo), OPT(CTX, 3, rc_ext), MAND(CTX, 0, "per-recipient-fields", rc_recip),
};
static const p1_set report_content_set = SET_OF("ReportTransferContent", report_content_rows, 0);

static int dec_report(x400i_dec *dc, const x400i_tlv *t, x400_p1_report *r)
{
    x400i_tlv env, con;
    size_t off = 0;
    int rc;
    if ((rc = x400i_p1_child(t, &off, &env, dc->diag)) != 1 || (rc = x400i_p1_child(t, &off, &con, dc->diag)) != 1 ||
        off != t->vlen || !x400i_tlv_is(&env, UNIV, X400I_U_SET) || !x400i_tlv_is(&con, UNIV, X400I_U_SET))
        return rc < 0 ? rc : PERR(dc, X400_ERR_PARSE, X400_P1_R_VALUE, "Report: expected envelope SET and content SET");
    if ((rc = dec_set(dc, &env, &report_env_set, r, NO_INDEX))) return rc;
    return dec_set(dc, &con, &report_content_set, r, NO_INDEX);
}

int x400_p1_prescan(const uint8_t *buf, size_t len, const x400_p1_limits *lim, x400_diag *diag)
{
    x400_p1_limits def;
    if (!lim) { x400_p1_limits_init(&def); lim = &def; }
    if (!buf && len) return X400_ERR_INVALID_ARG;
    return x400i_p1_prescan(buf, len, lim, diag);
}

int x400_p1_decode(const uint8_t *buf, size_t len, const x400_p1_limits *lim,
                   const x400_allocator *alloc, x400_p1_apdu *out, x400_diag *diag)
{
    x400_p1_limits def;
    x400i_tlv t;
    size_t off = 0;
    int rc;
    if (!out || (!buf && len))
        return x400i_diag_set(diag, X400_LAYER_P1, X400_SOURCE_LOCAL, X400_ERR_INVALID_ARG, 0, "P1 decode: NULL argument");
    memset(out, 0, sizeof *out);
    if (!lim) { x400_p1_limits_init(&def); lim = &def; }
    /* 1. bounded pre-scan: nothing is allocated before it passes */
    if ((rc = x400i_p1_prescan(buf, len, lim, diag))) return rc;
    if ((rc = x400i_ber_read(buf, len, &t, lim->max_depth, X400_LAYER_P1, diag))) return rc;
    if (t.cls != CTX || t.tag > 2 || !t.constructed)
        return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_APDU, "MTS-APDU: tag [%s%u] is none of message [0], report [1], probe [2]",
                            t.cls == CTX ? "" : t.cls == APP ? "APPLICATION " : t.cls == UNIV ? "UNIVERSAL " : "PRIVATE ", (unsigned)t.tag);
    if ((rc = x400_p1_apdu_init(out, (x400_p1_kind)t.tag, alloc)))
        return x400i_diag_set(diag, X400_LAYER_P1, X400_SOURCE_LOCAL, rc, 0, "P1 decode: out of memory");
    x400i_dec dc = { diag, lim, out->mem, 0, X400_P1_EXT_FORM_1992 };
    switch (out->kind) {
    case X400_P1_MESSAGE: {
        x400i_tlv env, content;
        if ((rc = x400i_p1_child(&t, &off, &env, diag)) != 1 || (rc = x400i_p1_child(&t, &off, &content, diag)) != 1 ||
            off != t.vlen || !x400i_tlv_is(&env, UNIV, X400I_U_SET) || !x400i_tlv_is(&content, UNIV, X400I_U_OCTETSTRING)) {
            rc = rc < 0 ? rc : x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_APDU, "Message: expected envelope SET and content OCTET STRING");
            break;
        }
        /* the content size is checked before the envelope is decoded */
        size_t n = 0;
        if ((rc = octets_len(&dc, &content, &n, 8))) break;
        if (n > lim->max_content) {
            rc = x400i_p1_err(diag, X400_ERR_LIMIT, X400_P1_R_CONTENT_SIZE, "content of %zu octets exceeds the limit of %zu", n, lim->max_content);
            break;
        }
        if ((rc = dec_envelope(&dc, &env, &out->env, 0))) break;
        rc = dec_octets(&dc, &content, &out->content, "content");
        break;
    }
    case X400_P1_PROBE:
        rc = dec_envelope(&dc, &t, &out->env, 1);
        break;
    default:
        rc = dec_report(&dc, &t, &out->report);
        break;
    }
    if (rc) {
        x400_p1_apdu_free(out);
        return rc;
    }
    out->ext_form = dc.first_ext_form;
    return X400_OK;
}

/* ------------------------------------------------------------ salvage */

int x400_p1_salvage(const uint8_t *buf, size_t len, const x400_p1_limits *lim,
                    const x400_allocator *alloc, x400_p1_apdu *out, x400_diag *diag)
{
    x400_p1_limits def;
    x400i_tlv t, env, c;
    x400_diag ign;
    size_t off = 0;
    int rc, have_id = 0, have_orig = 0;
    if (!out || (!buf && len))
        return x400i_diag_set(diag, X400_LAYER_P1, X400_SOURCE_LOCAL, X400_ERR_INVALID_ARG, 0, "P1 salvage: NULL argument");
    memset(out, 0, sizeof *out);
    if (!lim) { x400_p1_limits_init(&def); lim = &def; }
    if ((rc = x400i_p1_prescan(buf, len, lim, diag))) return rc;
    if ((rc = x400i_ber_read(buf, len, &t, lim->max_depth, X400_LAYER_P1, diag))) return rc;
    if (t.cls != CTX || !t.constructed || (t.tag != X400_P1_MESSAGE && t.tag != X400_P1_PROBE))
        return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_APDU, "P1 salvage: not a message or probe");
    env = t;
    if (t.tag == X400_P1_MESSAGE &&
        ((rc = x400i_p1_child(&t, &off, &env, diag)) != 1 || !x400i_tlv_is(&env, UNIV, X400I_U_SET)))
        return rc < 0 ? rc : x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_APDU, "P1 salvage: no envelope");
    if ((rc = x400_p1_apdu_init(out, (x400_p1_kind)t.tag, alloc)))
        return x400i_diag_set(diag, X400_LAYER_P1, X400_SOURCE_LOCAL, rc, 0, "P1 salvage: out of memory");
    /* each member on its own: what does not decode is left out */
    x400i_dec dc = { &ign, lim, out->mem, 0, X400_P1_EXT_FORM_1992 };
    x400_p1_envelope *e = &out->env;
    off = 0;
    while (x400i_p1_child(&env, &off, &c, &ign) == 1) {
        if (x400i_tlv_is(&c, APP, 4) && !have_id)
            have_id = dec_mtsid(&dc, &c, &e->id, "identifier") == X400_OK;
        else if (x400i_tlv_is(&c, APP, 0) && !have_orig)
            have_orig = x400i_orname_decode(&dc, &c, &e->originator) == X400_OK;
        else if ((x400i_tlv_is(&c, APP, 6) || x400i_tlv_is(&c, UNIV, X400I_U_OID)) &&
                 dec_content_type(&dc, &c, &e->content_type) != X400_OK)
            memset(&e->content_type, 0, sizeof e->content_type);
        else if (x400i_tlv_is(&c, APP, 9) && !e->n_trace && dec_trace(&dc, &c, &e->n_trace, &e->trace) != X400_OK)
            e->n_trace = 0;
        else if (x400i_tlv_is(&c, CTX, 2) && !e->n_recip && dec_recipients(&dc, &c, e) != X400_OK)
            e->n_recip = 0;
    }
    if (!have_id || !have_orig || !e->n_recip) {
        x400_p1_apdu_free(out);
        return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_MISSING, "P1 salvage: %s unreadable",
                            !have_id ? "identifier" : !have_orig ? "originator" : "recipients");
    }
    return X400_OK;
}

/* ------------------------------------------------------------ relay */

static int append(x400_p1_apdu *a, const void **list, unsigned *n, const void *elem, size_t sz)
{
    if (!a || !a->mem || !elem) return X400_ERR_INVALID_ARG;
    if (*n >= 512) return X400_ERR_LIMIT;
    uint8_t *p = x400i_arena_alloc(a->mem, (*n + 1) * sz);
    if (!p) return X400_ERR_NOMEM;
    if (*n) memcpy(p, *list, *n * sz);
    memcpy(p + *n * sz, elem, sz);
    *list = p;
    (*n)++;
    return X400_OK;
}

int x400_p1_trace_append(x400_p1_apdu *a, const x400_p1_trace *t)
{
    if (!a) return X400_ERR_INVALID_ARG;
    if (a->kind == X400_P1_REPORT)
        return append(a, (const void **)&a->report.trace, &a->report.n_trace, t, sizeof *t);
    return append(a, (const void **)&a->env.trace, &a->env.n_trace, t, sizeof *t);
}

int x400_p1_itrace_append(x400_p1_apdu *a, const x400_p1_itrace *t)
{
    if (!a) return X400_ERR_INVALID_ARG;
    if (a->kind == X400_P1_REPORT)
        return append(a, (const void **)&a->report.itrace, &a->report.n_itrace, t, sizeof *t);
    return append(a, (const void **)&a->env.itrace, &a->env.n_itrace, t, sizeof *t);
}

int x400_p1_loop_check(const x400_p1_apdu *a, const x400_gdi *gdi, const char *mta)
{
    if (!a || !gdi || !mta) return X400_ERR_INVALID_ARG;
    const x400_p1_trace *tr = a->kind == X400_P1_REPORT ? a->report.trace : a->env.trace;
    unsigned nt = a->kind == X400_P1_REPORT ? a->report.n_trace : a->env.n_trace;
    const x400_p1_itrace *it = a->kind == X400_P1_REPORT ? a->report.itrace : a->env.itrace;
    unsigned ni = a->kind == X400_P1_REPORT ? a->report.n_itrace : a->env.n_itrace;
    /* MTA level (X.411 14.3.1.1): this MTA already relayed it */
    for (unsigned i = 0; i < ni; i++)
        if (gdi_equal(&it[i].gdi, gdi) && strcmp(it[i].mta, mta) == 0 &&
            it[i].routing_action == X400_ROUTE_RELAYED)
            return X400_P1_LOOP_MTA;
    /* domain level: this domain appears, followed later by another domain,
     * i.e. the message left this domain and came back */
    for (unsigned i = 0; i < nt; i++) {
        if (!gdi_equal(&tr[i].gdi, gdi) || tr[i].routing_action != X400_ROUTE_RELAYED) continue;
        for (unsigned j = i + 1; j < nt; j++)
            if (!gdi_equal(&tr[j].gdi, gdi)) return X400_P1_LOOP_DOMAIN;
    }
    return 0;
}

/* ------------------------------------------------------------ reports */

int x400_p1_report_matches(const x400_p1_apdu *rep, const x400_mtsid *subject)
{
    return rep && subject && rep->kind == X400_P1_REPORT && x400_mtsid_equal(&rep->report.subject, subject);
}

static int copy_bytes(x400_p1_apdu *a, x400_bytes *dst, x400_bytes src)
{
    if (!src.len) { *dst = (x400_bytes){ NULL, 0 }; return X400_OK; }
    uint8_t *p = x400_p1_alloc(a, src.len);
    if (!p) return X400_ERR_NOMEM;
    memcpy(p, src.p, src.len);
    *dst = (x400_bytes){ p, src.len };
    return X400_OK;
}

static int copy_eits(x400_p1_apdu *a, x400_p1_eits *dst, const x400_p1_eits *src)
{
    *dst = *src;
    return copy_bytes(a, &dst->nonbasic, src->nonbasic);
}

int x400_p1_report_build(x400_p1_apdu *rep, const x400_p1_apdu *subject, const x400_mtsid *report_id,
                         const x400_gdi *gdi, int64_t arrival, int64_t now,
                         const x400_p1_outcome *oc, size_t n, const x400_allocator *alloc,
                         x400_diag *diag)
{
#define RB_FAIL(code, ...) do { rc = x400i_diag_set(diag, X400_LAYER_P1, X400_SOURCE_LOCAL, code, X400_P1_R_ENCODE, __VA_ARGS__); goto fail; } while (0)
    int rc;
    if (!rep || !subject || !report_id || !gdi || (!oc && n))
        return x400i_diag_set(diag, X400_LAYER_P1, X400_SOURCE_LOCAL, X400_ERR_INVALID_ARG, X400_P1_R_ENCODE, "report: NULL argument");
    if (subject->kind == X400_P1_REPORT)
        return x400i_diag_set(diag, X400_LAYER_P1, X400_SOURCE_LOCAL, X400_ERR_INVALID_ARG, X400_P1_R_ENCODE, "report: the subject is itself a report (no report on a report)");
    if (n == 0 || n > subject->env.n_recip)
        return x400i_diag_set(diag, X400_LAYER_P1, X400_SOURCE_LOCAL, X400_ERR_INVALID_ARG, X400_P1_R_ENCODE, "report: %zu outcomes for %u recipients", n, subject->env.n_recip);
    if ((rc = x400_p1_apdu_init(rep, X400_P1_REPORT, alloc))) return rc;
    const x400_p1_envelope *e = &subject->env;
    x400_p1_report *r = &rep->report;
    r->id = *report_id;
    r->destination = e->originator;
    x400_p1_trace *tr = x400_p1_alloc(rep, sizeof *tr);
    if (!tr) RB_FAIL(X400_ERR_NOMEM, "report: out of memory");
    x400_p1_trace_init(tr);
    tr->gdi = *gdi;
    tr->arrival = now;
    tr->routing_action = X400_ROUTE_RELAYED;
    r->trace = tr;
    r->n_trace = 1;
    r->subject = e->id;
    if (e->n_trace) {
        x400_p1_trace *st = x400_p1_alloc(rep, e->n_trace * sizeof *st);
        if (!st) RB_FAIL(X400_ERR_NOMEM, "report: out of memory");
        for (unsigned i = 0; i < e->n_trace; i++) {
            st[i] = e->trace[i];
            if (copy_eits(rep, &st[i].converted, &e->trace[i].converted)) RB_FAIL(X400_ERR_NOMEM, "report: out of memory");
        }
        r->has_subject_trace = 1;
        r->n_subject_trace = e->n_trace;
        r->subject_trace = st;
    }
    if (copy_eits(rep, &r->original_eits, &e->original_eits)) RB_FAIL(X400_ERR_NOMEM, "report: out of memory");
    r->has_content_type = 1;
    r->content_type = e->content_type;
    memcpy(r->content_id, e->content_id, sizeof r->content_id);
    x400_p1_report_recipient *rr = x400_p1_alloc(rep, n * sizeof *rr);
    if (!rr) RB_FAIL(X400_ERR_NOMEM, "report: out of memory");
    int any_ndr = 0;
    for (size_t i = 0; i < n; i++) {
        if (oc[i].recip >= e->n_recip) RB_FAIL(X400_ERR_INVALID_ARG, "report: outcome %zu names recipient %u of %u", i, oc[i].recip, e->n_recip);
        for (size_t j = 0; j < i; j++)
            if (oc[j].recip == oc[i].recip) RB_FAIL(X400_ERR_INVALID_ARG, "report: recipient %u reported twice", oc[i].recip);
        const x400_p1_recipient *s = &e->recip[oc[i].recip];
        x400_p1_report_recipient_init(&rr[i]);
        rr[i].actual = s->name;
        rr[i].osrn = s->osrn;
        rr[i].indicators = s->indicators;
        rr[i].arrival = arrival;
        rr[i].delivered = oc[i].delivered != 0;
        if (rr[i].delivered) {
            rr[i].delivery_time = oc[i].time;
        } else {
            rr[i].reason = oc[i].reason;
            rr[i].diagnostic = oc[i].diagnostic;
            any_ndr = 1;
        }
        if (oc[i].supplementary) {
            size_t sl = strlen(oc[i].supplementary);
            if (sl == 0 || sl > X400_SUPPLEMENTARY_MAX || !x400i_charset_ok(X400I_U_PRINTABLE, oc[i].supplementary, sl))
                RB_FAIL(X400_ERR_INVALID_ARG, "report: supplementary information must be PrintableString 1..256");
            memcpy(rr[i].supplementary, oc[i].supplementary, sl + 1);
        }
    }
    r->n_recip = (unsigned)n;
    r->recip = rr;
    if (any_ndr && subject->kind == X400_P1_MESSAGE && (e->per_message_indicators & X400_PMI_CONTENT_RETURN_REQUEST)) {
        if (copy_bytes(rep, &r->returned_content, subject->content)) RB_FAIL(X400_ERR_NOMEM, "report: out of memory");
        r->has_returned_content = 1;
    }
    return X400_OK;
fail:
    x400_p1_apdu_free(rep);
    return rc;
#undef RB_FAIL
}
