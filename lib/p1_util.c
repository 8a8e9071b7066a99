/* P1 codec internals (lib/p1_int.h): the P1 diagnostic, the pre-scan with
 * P1's limits, the value readers (lib/ber.c's contents codecs with P1
 * diagnostics) and the arena decoded APDUs live in. */
#include <string.h>

#include "p1_int.h"

int x400i_p1_err(x400_diag *d, int code, int reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    x400i_diag_vset(d, X400_LAYER_P1, X400_SOURCE_PEER, code, reason, fmt, ap);
    va_end(ap);
    return code;
}

int x400i_p1_count(const x400i_tlv *parent, size_t max, int reason, const char *what,
                   x400_diag *diag)
{
    size_t off = 0, n = 0;
    x400i_tlv c;
    int rc;
    while ((rc = x400i_p1_child(parent, &off, &c, diag)) == 1) {
        if (++n > max)
            return x400i_p1_err(diag, X400_ERR_LIMIT, reason, "%s: more than %zu elements", what, max);
    }
    return rc < 0 ? rc : (int)(n > INT32_MAX ? INT32_MAX : n);
}

int x400i_p1_prescan(const uint8_t *p, size_t len, const x400_p1_limits *lim, x400_diag *diag)
{
    if (len > lim->max_pdu)
        return x400i_p1_err(diag, X400_ERR_LIMIT, X400_P1_R_PDU_SIZE,
                            "MTS-APDU of %zu octets exceeds the limit of %zu", len, lim->max_pdu);
    return x400i_ber_prescan(p, len, lim->max_depth, lim->max_elements, NULL, X400_LAYER_P1, diag);
}

/* ------------------------------------------------------------ values */

int x400i_p1_int(const x400i_tlv *t, int64_t lo, int64_t hi, int64_t *out, const char *what,
                 x400_diag *diag)
{
    int64_t v;
    if (t->constructed || t->vlen < 1 || t->vlen > 8)
        return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_VALUE, "%s: bad INTEGER encoding", what);
    if (x400i_ber_get_int64(t->v, t->vlen, &v))
        return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_VALUE, "%s: INTEGER not minimally encoded", what);
    if (v < lo || v > hi)
        return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_VALUE, "%s: %lld outside %lld..%lld", what,
                            (long long)v, (long long)lo, (long long)hi);
    *out = v;
    return X400_OK;
}

int x400i_p1_bits(const x400i_tlv *t, uint32_t *out, const char *what, x400_diag *diag)
{
    size_t bad;
    if (!t->constructed && x400i_ber_get_bits16(t->v, t->vlen, out, &bad) == X400_OK) return X400_OK;
    if (!t->constructed && bad != SIZE_MAX)
        return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_VALUE, "%s: bit %zu set (at most 16 bits)", what, bad);
    return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_VALUE, "%s: bad BIT STRING encoding", what);
}

static const char *strtype_name(unsigned st)
{
    switch (st) {
    case X400I_U_PRINTABLE: return "PrintableString";
    case X400I_U_NUMERIC: return "NumericString";
    case X400I_U_IA5: return "IA5String";
    case X400I_U_TELETEX: return "TeletexString";
    default: return "string";
    }
}

int x400i_p1_str(const x400i_tlv *t, unsigned strtype, size_t lo, size_t hi, char *out,
                 size_t cap, const char *what, x400_diag *diag)
{
    if (t->constructed)
        return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_VALUE, "%s: constructed %s not supported", what, strtype_name(strtype));
    if (t->vlen < lo || t->vlen > hi || t->vlen >= cap)
        return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_VALUE, "%s: length %zu outside %zu..%zu", what, t->vlen, lo, hi);
    if (!x400i_charset_ok(strtype, (const char *)t->v, t->vlen))
        return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_VALUE, "%s: character outside %s", what, strtype_name(strtype));
    memcpy(out, t->v, t->vlen);
    out[t->vlen] = 0;
    return X400_OK;
}

int x400i_p1_time(const x400i_tlv *t, int64_t *out, const char *what, x400_diag *diag)
{
    if (t->constructed || x400i_ber_get_utctime(t->v, t->vlen, out))
        return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_VALUE, "%s: bad UTCTime", what);
    return X400_OK;
}

int x400i_p1_oid(const x400i_tlv *t, x400_oid *out, const char *what, x400_diag *diag)
{
    size_t n;
    if (t->constructed || x400i_oid_decode(t->v, t->vlen, out->arc, X400_OID_ARCS_MAX, &n))
        return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_VALUE, "%s: bad OBJECT IDENTIFIER", what);
    out->n = (unsigned)n;
    return X400_OK;
}

/* ------------------------------------------------------------ arena */

struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    _Alignas(16) uint8_t data[];
};

struct x400i_p1_arena {
    const x400_allocator *a;
    struct arena_chunk *head;
};

x400i_p1_arena *x400i_arena_new(const x400_allocator *a)
{
    a = x400i_alloc_or_default(a);
    x400i_p1_arena *ar = x400i_calloc(a, 1, sizeof *ar);
    if (ar) ar->a = a;
    return ar;
}

void x400i_arena_free(x400i_p1_arena *ar)
{
    if (!ar) return;
    struct arena_chunk *c = ar->head;
    while (c) {
        struct arena_chunk *n = c->next;
        x400i_free(ar->a, c);
        c = n;
    }
    x400i_free(ar->a, ar);
}

void *x400i_arena_alloc(x400i_p1_arena *ar, size_t n)
{
    enum { CHUNK = 16384 };
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    struct arena_chunk *c = ar->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > CHUNK / 2 ? n : CHUNK;
        if (cap > SIZE_MAX - sizeof *c) return NULL;
        c = x400i_malloc(ar->a, sizeof *c + cap);
        if (!c) return NULL;
        c->used = 0;
        c->cap = cap;
        if (n > CHUNK / 2 && ar->head) {   /* big block: keep the current chunk on top */
            c->next = ar->head->next;
            ar->head->next = c;
        } else {
            c->next = ar->head;
            ar->head = c;
        }
    }
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}
