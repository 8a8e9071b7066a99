/* BER toolkit of the P1 codec (X.690 8.1 identifier/length/contents):
 * strict reader, bounded pre-scan, primitive values, reverse writer,
 * arena.  See lib/p1_ber.h. */
#include <stdio.h>
#include <string.h>

#include "p1_ber.h"

int x400i_p1_err(x400_diag *d, int code, int reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    x400i_diag_vset(d, X400_LAYER_P1, X400_SOURCE_PEER, code, reason, fmt, ap);
    va_end(ap);
    return code;
}

/* ------------------------------------------------------------ reader */

/* Identifier and length octets (X.690 8.1.2, 8.1.3).  *hl = header length,
 * *vlen = contents length or SIZE_MAX for indefinite. */
static int read_hdr(const uint8_t *p, size_t len, x400i_p1tlv *t, size_t *hl,
                    size_t *vlen, x400_diag *diag)
{
    size_t o = 0;
    if (len < 2) return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_SYNTAX, "BER: truncated identifier/length");
    t->cls = p[0] & 0xC0;
    t->cons = (p[0] & 0x20) != 0;
    t->num = p[0] & 0x1F;
    o = 1;
    if (t->num == 0x1F) {       /* high tag number form, X.690 8.1.2.4 */
        uint32_t n = 0;
        for (int i = 0;; i++) {
            if (o >= len) return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_SYNTAX, "BER: truncated tag");
            if (i == 0 && p[o] == 0x80) return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_SYNTAX, "BER: tag with leading zero");
            if (i >= 4) return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_SYNTAX, "BER: tag number too large");
            n = n << 7 | (p[o] & 0x7F);
            if (!(p[o++] & 0x80)) break;
        }
        if (n < 31) return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_SYNTAX, "BER: tag %u in long form", (unsigned)n);
        t->num = n;
    }
    if (o >= len) return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_SYNTAX, "BER: truncated length");
    uint8_t l0 = p[o++];
    if (l0 < 0x80) {
        *vlen = l0;
    } else if (l0 == 0x80) {
        if (!t->cons) return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_SYNTAX, "BER: indefinite length on a primitive");
        *vlen = SIZE_MAX;
    } else {
        size_t k = l0 & 0x7F, v = 0;
        if (k == 0x7F || k > sizeof(size_t)) return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_SYNTAX, "BER: length of %zu octets", k);
        if (len - o < k) return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_SYNTAX, "BER: truncated length");
        for (size_t i = 0; i < k; i++) {
            if (v >> (8 * sizeof(size_t) - 8)) return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_SYNTAX, "BER: absurd length");
            v = v << 8 | p[o++];
        }
        *vlen = v;
    }
    *hl = o;
    if (*vlen != SIZE_MAX && *vlen > len - o)
        return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_SYNTAX,
                            "BER: length %zu exceeds the %zu octets present", *vlen, len - o);
    return X400_OK;
}

/* Find the end of an indefinite-length value starting at p (contents). */
static int indef_end(const uint8_t *p, size_t len, size_t *clen, unsigned depth_left,
                     x400_diag *diag)
{
    size_t o = 0;
    if (depth_left == 0) return x400i_p1_err(diag, X400_ERR_LIMIT, X400_P1_R_DEPTH, "BER: nesting too deep");
    for (;;) {
        if (len - o >= 2 && p[o] == 0 && p[o + 1] == 0) { *clen = o; return X400_OK; }
        x400i_p1tlv c;
        int rc = x400i_p1ber_read(p + o, len - o, &c, depth_left - 1, diag);
        if (rc) return rc;
        o += c.rawlen;
    }
}

int x400i_p1ber_read(const uint8_t *p, size_t len, x400i_p1tlv *t, unsigned depth_left,
                   x400_diag *diag)
{
    size_t hl, vlen;
    int rc = read_hdr(p, len, t, &hl, &vlen, diag);
    if (rc) return rc;
    if (t->cls == 0 && t->num == 0) return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_SYNTAX, "BER: unexpected end-of-contents");
    t->raw = p;
    t->v = p + hl;
    if (vlen == SIZE_MAX) {
        size_t cl = 0;
        rc = indef_end(p + hl, len - hl, &cl, depth_left, diag);
        if (rc) return rc;
        t->vlen = cl;
        t->rawlen = hl + cl + 2;
        t->indefinite = true;
    } else {
        t->vlen = vlen;
        t->rawlen = hl + vlen;
        t->indefinite = false;
    }
    return X400_OK;
}

int x400i_p1ber_child(const x400i_p1tlv *parent, size_t *off, x400i_p1tlv *child, x400_diag *diag)
{
    if (!parent->cons) return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_SYNTAX, "BER: primitive where constructed expected");
    if (*off >= parent->vlen) return 0;
    int rc = x400i_p1ber_read(parent->v + *off, parent->vlen - *off, child, 256, diag);
    if (rc) return rc;
    *off += child->rawlen;
    return 1;
}

int x400i_p1ber_count(const x400i_p1tlv *parent, size_t max, int reason, const char *what,
                    x400_diag *diag)
{
    size_t off = 0, n = 0;
    x400i_p1tlv c;
    int rc;
    while ((rc = x400i_p1ber_child(parent, &off, &c, diag)) == 1) {
        if (++n > max)
            return x400i_p1_err(diag, X400_ERR_LIMIT, reason, "%s: more than %zu elements", what, max);
    }
    return rc < 0 ? rc : (int)(n > INT32_MAX ? INT32_MAX : n);
}

/* ------------------------------------------------------------ pre-scan */

/* Iterative walk with an explicit stack of "end of the enclosing value"
 * offsets (SIZE_MAX for indefinite).  O(len), no allocation beyond a
 * fixed stack of max_depth entries (bounded at 256). */
int x400i_p1ber_prescan(const uint8_t *p, size_t len, const x400_p1_limits *lim,
                      x400_diag *diag)
{
    enum { STACK = 256 };
    /* end[i]: end offset of the value open at level i (SIZE_MAX for an
     * indefinite length); bnd[i]: the nearest definite end at or below
     * level i (the input length at the bottom).  o never passes bnd. */
    size_t end[STACK], bnd[STACK];
    unsigned depth = 0, maxd = lim->max_depth > STACK ? STACK : lim->max_depth;
    size_t o = 0, elements = 0;
    if (len > lim->max_pdu)
        return x400i_p1_err(diag, X400_ERR_LIMIT, X400_P1_R_PDU_SIZE,
                            "MTS-APDU of %zu octets exceeds the limit of %zu", len, lim->max_pdu);
    if (len == 0) return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_SYNTAX, "BER: empty input");
    for (;;) {
        /* close every value that ends here */
        while (depth > 0) {
            size_t e = end[depth - 1], bound = bnd[depth - 1];
            if (e == SIZE_MAX) {
                if (bound - o >= 2 && p[o] == 0 && p[o + 1] == 0) { o += 2; depth--; continue; }
                if (o >= bound) return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_SYNTAX, "BER: missing end-of-contents");
                break;
            }
            if (o == e) { depth--; continue; }
            break;
        }
        if (depth == 0 && o > 0) break;
        size_t bound = depth ? bnd[depth - 1] : len;
        x400i_p1tlv t;
        size_t hl, vlen;
        int rc = read_hdr(p + o, bound - o, &t, &hl, &vlen, diag);
        if (rc) return rc;
        if (t.cls == 0 && t.num == 0) return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_SYNTAX, "BER: unexpected end-of-contents at octet %zu", o);
        if (++elements > lim->max_elements)
            return x400i_p1_err(diag, X400_ERR_LIMIT, X400_P1_R_ELEMENTS, "MTS-APDU: more than %zu BER elements", lim->max_elements);
        o += hl;
        if (t.cons) {
            if (depth >= maxd)
                return x400i_p1_err(diag, X400_ERR_LIMIT, X400_P1_R_DEPTH, "MTS-APDU: nesting deeper than %u", maxd);
            end[depth] = vlen == SIZE_MAX ? SIZE_MAX : o + vlen;
            bnd[depth] = vlen == SIZE_MAX ? bound : o + vlen;
            depth++;
        } else {
            o += vlen;   /* read_hdr checked vlen <= bound - o */
        }
        if (depth == 0) break;
    }
    if (o != len)
        return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_SYNTAX, "BER: %zu octets after the APDU", len - o);
    return X400_OK;
}

/* ------------------------------------------------------------ primitives */

int x400i_p1ber_int(const x400i_p1tlv *t, int64_t lo, int64_t hi, int64_t *out,
                  const char *what, x400_diag *diag)
{
    if (t->cons || t->vlen < 1 || t->vlen > 8)
        return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_VALUE, "%s: bad INTEGER encoding", what);
    if (t->vlen > 1 && ((t->v[0] == 0 && !(t->v[1] & 0x80)) || (t->v[0] == 0xFF && (t->v[1] & 0x80))))
        return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_VALUE, "%s: INTEGER not minimally encoded", what);
    uint64_t u = (t->v[0] & 0x80) ? UINT64_MAX : 0;
    for (size_t i = 0; i < t->vlen; i++) u = u << 8 | t->v[i];
    int64_t v = (int64_t)u;
    if (v < lo || v > hi)
        return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_VALUE, "%s: %lld outside %lld..%lld", what,
                            (long long)v, (long long)lo, (long long)hi);
    *out = v;
    return X400_OK;
}

int x400i_p1ber_bits(const x400i_p1tlv *t, uint32_t *out, const char *what, x400_diag *diag)
{
    if (t->cons || t->vlen < 1 || t->v[0] > 7 || (t->vlen == 1 && t->v[0] != 0))
        return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_VALUE, "%s: bad BIT STRING encoding", what);
    size_t nbits = (t->vlen - 1) * 8 - t->v[0];
    uint32_t r = 0;
    for (size_t i = 0; i < nbits; i++) {
        int set = (t->v[1 + i / 8] >> (7 - i % 8)) & 1;
        if (!set) continue;
        if (i >= 16) return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_VALUE, "%s: bit %zu set (at most 16 bits)", what, i);
        r |= 1u << i;
    }
    *out = r;
    return X400_OK;
}

static bool printable_char(unsigned char c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
    return strchr(" '()+,-./:=?", c) != NULL && c != 0;
}

bool x400i_charset_ok(unsigned strtype, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (strtype) {
        case X400I_U_PRINTABLE: if (!printable_char(c)) return false; break;
        case X400I_U_NUMERIC: if (!(c == ' ' || (c >= '0' && c <= '9'))) return false; break;
        case X400I_U_IA5: if (c < 0x20 || c > 0x7E) return false; break;
        default: /* TeletexString (T.61): any octet but NUL */
            if (c == 0) return false;
            break;
        }
    }
    return true;
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

int x400i_p1ber_str(const x400i_p1tlv *t, unsigned strtype, size_t lo, size_t hi,
                  char *out, size_t cap, const char *what, x400_diag *diag)
{
    if (t->cons)
        return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_VALUE, "%s: constructed %s not supported", what, strtype_name(strtype));
    if (t->vlen < lo || t->vlen > hi || t->vlen >= cap)
        return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_VALUE, "%s: length %zu outside %zu..%zu", what, t->vlen, lo, hi);
    if (!x400i_charset_ok(strtype, (const char *)t->v, t->vlen))
        return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_VALUE, "%s: character outside %s", what, strtype_name(strtype));
    memcpy(out, t->v, t->vlen);
    out[t->vlen] = 0;
    return X400_OK;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int two(const uint8_t *p, unsigned *v)
{
    if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9') return 0;
    *v = (unsigned)(p[0] - '0') * 10 + (unsigned)(p[1] - '0');
    return 1;
}

/* UTCTime (X.680 47): YYMMDDhhmm[ss](Z|+hhmm|-hhmm). */
int x400i_p1ber_time(const x400i_p1tlv *t, int64_t *out, const char *what, x400_diag *diag)
{
    unsigned yy, mo, dd, hh, mi, ss = 0, oh = 0, om = 0;
    const uint8_t *p = t->v;
    size_t n = t->vlen, o = 10;
    int sign = 0;
    if (t->cons || n < 11 || n > 17 || !two(p, &yy) || !two(p + 2, &mo) || !two(p + 4, &dd) ||
        !two(p + 6, &hh) || !two(p + 8, &mi))
        goto bad;
    if (o + 2 <= n && p[o] >= '0' && p[o] <= '9') {
        if (!two(p + o, &ss)) goto bad;
        o += 2;
    }
    if (o < n && p[o] == 'Z') {
        o++;
    } else if (o < n && (p[o] == '+' || p[o] == '-')) {
        sign = p[o] == '+' ? 1 : -1;
        if (o + 5 > n || !two(p + o + 1, &oh) || !two(p + o + 3, &om) || oh > 23 || om > 59) goto bad;
        o += 5;
    } else {
        goto bad;
    }
    if (o != n || mo < 1 || mo > 12 || dd < 1 || dd > 31 || hh > 23 || mi > 59 || ss > 59) goto bad;
    {
        int64_t y = yy < 50 ? 2000 + yy : 1900 + yy;
        int64_t s = days_from_civil(y, mo, dd) * 86400 + hh * 3600 + mi * 60 + ss;
        s -= sign * (int64_t)(oh * 3600 + om * 60);
        *out = s;
    }
    return X400_OK;
bad:
    return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_VALUE, "%s: bad UTCTime", what);
}

int x400i_p1ber_oid(const x400i_p1tlv *t, x400_oid *out, const char *what, x400_diag *diag)
{
    uint64_t v = 0;
    unsigned n = 0;
    if (t->cons || t->vlen < 1 || (t->v[t->vlen - 1] & 0x80)) goto bad;
    for (size_t i = 0; i < t->vlen; i++) {
        if (v == 0 && t->v[i] == 0x80) goto bad;   /* non-minimal arc */
        v = v << 7 | (t->v[i] & 0x7F);
        if (v > UINT32_MAX + (uint64_t)80) goto bad;
        if (t->v[i] & 0x80) continue;
        if (n == 0) {
            if (n + 2 > X400_OID_ARCS_MAX) goto bad;
            uint64_t a = v < 40 ? 0 : v < 80 ? 1 : 2;
            out->arc[0] = (uint32_t)a;
            if (v - a * 40 > UINT32_MAX) goto bad;
            out->arc[1] = (uint32_t)(v - a * 40);
            n = 2;
        } else {
            if (n >= X400_OID_ARCS_MAX || v > UINT32_MAX) goto bad;
            out->arc[n++] = (uint32_t)v;
        }
        v = 0;
    }
    out->n = n;
    return X400_OK;
bad:
    return x400i_p1_err(diag, X400_ERR_PARSE, X400_P1_R_VALUE, "%s: bad OBJECT IDENTIFIER", what);
}

/* ------------------------------------------------------------ writer */

void x400i_bw_init_fixed(x400i_bw *w, uint8_t *buf, size_t cap, x400_diag *d)
{
    memset(w, 0, sizeof *w);
    w->buf = buf;
    w->cap = w->pos = cap;
    w->diag = d;
}

int x400i_bw_init_alloc(x400i_bw *w, const x400_allocator *a, size_t hint, x400_diag *d)
{
    memset(w, 0, sizeof *w);
    w->alloc = x400i_alloc_or_default(a);
    w->growable = true;
    w->diag = d;
    if (hint < 256) hint = 256;
    w->buf = x400i_malloc(w->alloc, hint);
    if (!w->buf) return x400i_diag_set(d, X400_LAYER_P1, X400_SOURCE_LOCAL, X400_ERR_NOMEM, 0, "P1 encode: out of memory");
    w->cap = w->pos = hint;
    return X400_OK;
}

void x400i_bw_fail(x400i_bw *w, int code, int reason, const char *fmt, ...)
{
    if (w->err) return;
    w->err = code;
    va_list ap;
    va_start(ap, fmt);
    x400i_diag_vset(w->diag, X400_LAYER_P1, X400_SOURCE_LOCAL, code, reason, fmt, ap);
    va_end(ap);
}

static bool room(x400i_bw *w, size_t n)
{
    if (w->err) return false;
    if (w->pos >= n) return true;
    if (!w->growable) {
        x400i_bw_fail(w, X400_ERR_BUFFER_TOO_SMALL, X400_P1_R_ENCODE, "P1 encode: output buffer of %zu octets too small", w->cap);
        return false;
    }
    size_t used = w->cap - w->pos, ncap = w->cap;
    while (ncap - used < n) {
        if (ncap > SIZE_MAX / 2) { x400i_bw_fail(w, X400_ERR_NOMEM, 0, "P1 encode: too large"); return false; }
        ncap *= 2;
    }
    uint8_t *nb = x400i_malloc(w->alloc, ncap);
    if (!nb) { x400i_bw_fail(w, X400_ERR_NOMEM, 0, "P1 encode: out of memory"); return false; }
    memcpy(nb + ncap - used, w->buf + w->pos, used);
    x400i_free(w->alloc, w->buf);
    w->buf = nb;
    w->pos = ncap - used;
    w->cap = ncap;
    return true;
}

void x400i_bw_bytes(x400i_bw *w, const void *p, size_t n)
{
    if (!room(w, n)) return;
    w->pos -= n;
    if (n) memcpy(w->buf + w->pos, p, n);
}

void x400i_bw_byte(x400i_bw *w, uint8_t b)
{
    if (!room(w, 1)) return;
    w->buf[--w->pos] = b;
}

static void put_hdr(x400i_bw *w, uint8_t cls_cons, uint32_t num, size_t len)
{
    uint8_t h[16];
    size_t n = 0;
    /* length, X.690 8.1.3 (definite, minimal) */
    if (len < 0x80) {
        h[15 - n++] = (uint8_t)len;
    } else {
        size_t k = 0;
        for (size_t v = len; v; v >>= 8) h[15 - n++] = (uint8_t)(v & 0xFF), k++;
        h[15 - n++] = (uint8_t)(0x80 | k);
    }
    if (num < 31) {
        h[15 - n++] = (uint8_t)(cls_cons | num);
    } else {
        uint32_t v = num;
        h[15 - n++] = (uint8_t)(v & 0x7F);
        for (v >>= 7; v; v >>= 7) h[15 - n++] = (uint8_t)(0x80 | (v & 0x7F));
        h[15 - n++] = (uint8_t)(cls_cons | 0x1F);
    }
    x400i_bw_bytes(w, h + 16 - n, n);
}

void x400i_bw_wrap(x400i_bw *w, size_t mark, uint8_t cls_cons, uint32_t num)
{
    if (w->err) return;
    put_hdr(w, (uint8_t)(cls_cons | X400I_P1BER_CONS), num, x400i_bw_len(w) - mark);
}

void x400i_bw_prim(x400i_bw *w, uint8_t cls, uint32_t num, const void *p, size_t n)
{
    x400i_bw_bytes(w, p, n);
    if (!w->err) put_hdr(w, cls, num, n);
}

void x400i_bw_int(x400i_bw *w, uint8_t cls, uint32_t num, int64_t v)
{
    uint8_t b[8];
    size_t i = 0;
    for (int k = 0; k < 8; k++) b[k] = (uint8_t)((uint64_t)v >> (56 - 8 * k));
    while (i < 7 && ((b[i] == 0 && !(b[i + 1] & 0x80)) || (b[i] == 0xFF && (b[i + 1] & 0x80)))) i++;
    x400i_bw_prim(w, cls, num, b + i, 8 - i);
}

void x400i_bw_bits(x400i_bw *w, uint8_t cls, uint32_t num, uint32_t bits, unsigned min_bits)
{
    uint8_t b[5] = { 0 };
    unsigned nbits = min_bits;
    for (unsigned i = 0; i < 32; i++)
        if (bits & (1u << i)) {
            if (i + 1 > nbits) nbits = i + 1;
            b[1 + i / 8] |= (uint8_t)(0x80u >> (i % 8));
        }
    size_t octets = (nbits + 7) / 8;
    b[0] = (uint8_t)(octets * 8 - nbits);
    x400i_bw_prim(w, cls, num, b, 1 + octets);
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yy + (*m <= 2);
}

void x400i_bw_time(x400i_bw *w, uint8_t cls, uint32_t num, int64_t t)
{
    /* UTCTime covers 1950-01-01 .. 2049-12-31 */
    if (t < -631152000 || t > 2524607999) {
        x400i_bw_fail(w, X400_ERR_INVALID_ARG, X400_P1_R_ENCODE, "P1 encode: time %lld outside UTCTime (1950..2049)", (long long)t);
        return;
    }
    int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    int64_t sec = t - days * 86400, y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    char s[40];
    snprintf(s, sizeof s, "%02u%02u%02u%02u%02u%02uZ", (unsigned)(y % 100), m, d,
             (unsigned)(sec / 3600), (unsigned)(sec / 60 % 60), (unsigned)(sec % 60));
    x400i_bw_prim(w, cls, num, s, 13);
}

void x400i_bw_oid(x400i_bw *w, uint8_t cls, uint32_t num, const x400_oid *o)
{
    uint8_t b[X400_OID_ARCS_MAX * 5 + 5];
    size_t n = 0;
    if (o->n < 2 || o->n > X400_OID_ARCS_MAX || o->arc[0] > 2 || (o->arc[0] < 2 && o->arc[1] > 39)) {
        x400i_bw_fail(w, X400_ERR_INVALID_ARG, X400_P1_R_ENCODE, "P1 encode: invalid OBJECT IDENTIFIER");
        return;
    }
    /* written backwards */
    for (unsigned i = o->n; i-- > 1;) {
        uint64_t v = i == 1 ? (uint64_t)o->arc[0] * 40 + o->arc[1] : o->arc[i];
        b[sizeof b - 1 - n++] = (uint8_t)(v & 0x7F);
        for (v >>= 7; v; v >>= 7) b[sizeof b - 1 - n++] = (uint8_t)(0x80 | (v & 0x7F));
    }
    x400i_bw_prim(w, cls, num, b + sizeof b - n, n);
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
