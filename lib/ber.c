/*
 * The library's BER module (X.690): length and identifier codecs, strict
 * bounded reader, pre-scan, normaliser, reverse writer and its forward
 * helper, contents-octet codecs.  See ber.h.
 */
#include <stdio.h>
#include <string.h>

#include "ber.h"

/* The reason a diagnostic carries: P1's reasons on layer P1, else 0. */
static int reason_on(x400_layer layer, int p1_reason)
{
    return layer == X400_LAYER_P1 ? p1_reason : 0;
}

#define SYNTAX(layer, d, ...)                                                          \
    x400i_diag_set((d), (layer), X400_SOURCE_PEER, X400_ERR_PARSE,                     \
                   reason_on((layer), X400_P1_R_SYNTAX), __VA_ARGS__)

/* ------------------------------------------------------------ one length, one identifier */

/* X.690 8.1.3: short form, long form (at most 4 octets), indefinite (80). */
int x400i_ber_get_len(const uint8_t *p, size_t n, size_t *off, size_t *len)
{
    size_t o = *off, v = 0;
    unsigned k;
    if (o >= n) return 0;
    uint8_t b = p[o++];
    if (b < 0x80) {
        *len = b;
        *off = o;
        return 1;
    }
    if (b == 0x80) {
        *off = o;
        return 2;
    }
    k = b & 0x7Fu;
    if (k > 4) return -1;   /* also 0xFF, reserved (8.1.3.5 c) */
    if (n - o < k) return 0;
    for (unsigned i = 0; i < k; i++) v = v << 8 | p[o++];
    *len = v;
    *off = o;
    return 1;
}

/* X.690 8.1.2: low-tag form, or 1F and base-128 octets (at most 4, no
 * leading 0x80, only for numbers from 31 up). */
int x400i_ber_get_id(const uint8_t *p, size_t n, size_t *off, uint8_t *first, uint32_t *tag)
{
    size_t o = *off;
    uint32_t t;
    if (o >= n) return 0;
    *first = p[o];
    t = p[o++] & 0x1Fu;
    if (t == 0x1F) {
        t = 0;
        for (int i = 0;; i++) {
            if (o >= n) return 0;
            if ((i == 0 && p[o] == 0x80) || i >= 4) return -1;
            t = t << 7 | (p[o] & 0x7Fu);
            if (!(p[o++] & 0x80)) break;
        }
        if (t < 31) return -1;
    }
    *tag = t;
    *off = o;
    return 1;
}

size_t x400i_ber_put_len(uint8_t *out, size_t len)
{
    size_t n = 0;
    if (len < 0x80) {
        out[0] = (uint8_t)len;
        return 1;
    }
    for (size_t v = len; v; v >>= 8) n++;
    out[0] = (uint8_t)(0x80 | n);
    for (size_t i = 0; i < n; i++) out[1 + i] = (uint8_t)(len >> (8 * (n - 1 - i)));
    return n + 1;
}

size_t x400i_ber_put_id(uint8_t *out, uint8_t cls_cons, uint32_t tag)
{
    size_t n = 1, k = 0;
    if (tag < 31) {
        out[0] = (uint8_t)(cls_cons | tag);
        return 1;
    }
    out[0] = (uint8_t)(cls_cons | 0x1F);
    for (uint32_t v = tag; v; v >>= 7) k++;
    for (size_t i = 0; i < k; i++)
        out[n++] = (uint8_t)((tag >> (7 * (k - 1 - i)) & 0x7F) | (i + 1 < k ? 0x80 : 0));
    return n;
}

/* ------------------------------------------------------------ reader */

/* Identifier and length octets of the TLV at p[0..len); definite lengths
 * checked against the container. */
static int read_hdr(const uint8_t *p, size_t len, x400i_tlv *t, x400_layer layer, x400_diag *d)
{
    size_t off = 0;
    int rc;
    if (len < 2)
        return SYNTAX(layer, d, "BER: truncated identifier/length (%zu octets left)", len);
    if (X400I_LIKELY((p[0] & 0x1F) != 0x1F && p[1] < 0x80 && (p[0] & 0xDF) != 0)) {
        /* fast path (most P1 elements): low tag number, short length */
        t->first = p[0];
        t->tag = p[0] & 0x1Fu;
        t->cls = p[0] & 0xC0;
        t->constructed = (p[0] & 0x20) ? 1 : 0;
        t->idlen = 1;
        t->indefinite = 0;
        t->vlen = p[1];
        t->hdr = 2;
        t->raw = p;
        t->v = p + 2;
        if (t->vlen > len - 2)
            return SYNTAX(layer, d, "BER: length %zu of tag %u runs past its container (%zu octets left)",
                          t->vlen, (unsigned)t->tag, len - 2);
        t->total = 2 + t->vlen;
        return X400_OK;
    }
    rc = x400i_ber_get_id(p, len, &off, &t->first, &t->tag);
    if (rc == 0) return SYNTAX(layer, d, "BER: truncated high tag number");
    if (rc < 0) return SYNTAX(layer, d, "BER: bad high tag number (X.690 8.1.2.4)");
    t->cls = t->first & 0xC0;
    t->constructed = (t->first & 0x20) ? 1 : 0;
    t->idlen = (uint8_t)off;
    if (t->cls == X400I_BER_UNIVERSAL && t->tag == 0)
        return SYNTAX(layer, d, "BER: unexpected end-of-contents octets");
    rc = x400i_ber_get_len(p, len, &off, &t->vlen);
    if (rc == 0) return SYNTAX(layer, d, "BER: truncated length");
    if (rc < 0) return SYNTAX(layer, d, "BER: length of %u octets not supported", p[off] & 0x7Fu);
    t->indefinite = rc == 2;
    if (t->indefinite) t->vlen = 0;
    if (t->indefinite && !t->constructed)
        return SYNTAX(layer, d, "BER: indefinite length on a primitive value (tag %u)", (unsigned)t->tag);
    t->hdr = off;
    t->raw = p;
    t->v = p + off;
    if (!t->indefinite && t->vlen > len - off)
        return SYNTAX(layer, d, "BER: length %zu of tag %u runs past its container (%zu octets left)",
                      t->vlen, (unsigned)t->tag, len - off);
    t->total = off + t->vlen;
    return X400_OK;
}

int x400i_ber_read(const uint8_t *p, size_t len, x400i_tlv *t, unsigned max_depth,
                   x400_layer layer, x400_diag *d)
{
    int rv = read_hdr(p, len, t, layer, d);
    size_t off;
    if (rv < 0 || !t->indefinite) return rv;
    /* indefinite: walk the contents up to the end-of-contents octets */
    if (max_depth == 0)
        return x400i_diag_set(d, layer, X400_SOURCE_PEER, X400_ERR_PARSE,
                              reason_on(layer, X400_P1_R_DEPTH), "BER: nesting deeper than the limit");
    off = t->hdr;
    for (;;) {
        x400i_tlv c;
        if (len - off >= 2 && p[off] == 0 && p[off + 1] == 0) break;
        if (len - off < 2)
            return SYNTAX(layer, d, "BER: indefinite length of tag %u without end-of-contents",
                          (unsigned)t->tag);
        rv = x400i_ber_read(p + off, len - off, &c, max_depth - 1, layer, d);
        if (rv < 0) return rv;
        off += c.total;
    }
    t->vlen = off - t->hdr;
    t->total = off + 2;
    return X400_OK;
}

int x400i_ber_child(const x400i_tlv *parent, size_t *off, x400i_tlv *child, x400_layer layer,
                    x400_diag *d)
{
    int rc;
    if (!parent->constructed) return SYNTAX(layer, d, "BER: primitive where constructed expected");
    if (*off >= parent->vlen) return 0;
    rc = x400i_ber_read(parent->v + *off, parent->vlen - *off, child, X400I_BER_SCAN_DEPTH_MAX, layer, d);
    if (rc) return rc;
    *off += child->total;
    return 1;
}

/* ------------------------------------------------------------ pre-scan */

/* Iterative walk with an explicit stack: end[i] is the end offset of the
 * value open at level i (SIZE_MAX for an indefinite length), bnd[i] the
 * nearest definite end at or below level i (the input length at the
 * bottom).  The offset never passes bnd. */
int x400i_ber_prescan(const uint8_t *p, size_t len, unsigned max_depth, size_t max_elements,
                      size_t *used, x400_layer layer, x400_diag *d)
{
    size_t end[X400I_BER_SCAN_DEPTH_MAX], bnd[X400I_BER_SCAN_DEPTH_MAX];
    unsigned depth = 0, maxd = max_depth > X400I_BER_SCAN_DEPTH_MAX ? X400I_BER_SCAN_DEPTH_MAX : max_depth;
    size_t o = 0, elements = 0;
    if (len == 0) return SYNTAX(layer, d, "BER: empty input");
    for (;;) {
        /* close every value that ends here */
        while (depth > 0) {
            size_t e = end[depth - 1], bound = bnd[depth - 1];
            if (e == SIZE_MAX) {
                if (bound - o >= 2 && p[o] == 0 && p[o + 1] == 0) { o += 2; depth--; continue; }
                if (o >= bound) return SYNTAX(layer, d, "BER: indefinite length without end-of-contents");
                break;
            }
            if (o == e) { depth--; continue; }
            break;
        }
        if (depth == 0 && o > 0) break;
        size_t bound = depth ? bnd[depth - 1] : len;
        x400i_tlv t;
        int rc = read_hdr(p + o, bound - o, &t, layer, d);
        if (rc) return rc;
        if (++elements > max_elements)
            return x400i_diag_set(d, layer, X400_SOURCE_PEER, X400_ERR_LIMIT,
                                  reason_on(layer, X400_P1_R_ELEMENTS),
                                  "BER: more than %zu elements", max_elements);
        o += t.hdr;
        if (t.constructed) {
            if (depth >= maxd)
                return x400i_diag_set(d, layer, X400_SOURCE_PEER, X400_ERR_LIMIT,
                                      reason_on(layer, X400_P1_R_DEPTH), "BER: nesting deeper than %u", maxd);
            end[depth] = t.indefinite ? SIZE_MAX : o + t.vlen;
            bnd[depth] = t.indefinite ? bound : o + t.vlen;
            depth++;
        } else {
            o += t.vlen;   /* read_hdr checked vlen <= bound - o */
        }
        if (depth == 0) break;
    }
    if (used) {
        *used = o;
        return X400_OK;
    }
    if (o != len) return SYNTAX(layer, d, "BER: %zu octets after the end of the TLV", len - o);
    return X400_OK;
}

int x400i_ber_is_one_tlv(const uint8_t *p, size_t len)
{
    return p && x400i_ber_prescan(p, len, X400I_BER_MAX_DEPTH, SIZE_MAX, NULL, X400_LAYER_NONE, NULL) == X400_OK;
}

/* ------------------------------------------------------------ normaliser */

/* Insert the definite length of out[mark..len) at mark. */
static int patch_len(x400i_buf *out, size_t mark)
{
    uint8_t lo[X400I_BER_LEN_MAX];
    size_t clen = out->len - mark;
    size_t n = x400i_ber_put_len(lo, clen);
    int rv = x400i_buf_reserve(out, n);
    if (rv < 0) return rv;
    memmove(out->p + mark + n, out->p + mark, clen);
    memcpy(out->p + mark, lo, n);
    out->len += n;
    return X400_OK;
}

static int norm(const uint8_t *p, size_t len, x400i_buf *out, unsigned depth, x400_layer layer,
                x400_diag *d, size_t *used)
{
    x400i_tlv t;
    size_t mark, off;
    int rv;
    if (depth == 0)
        return x400i_diag_set(d, layer, X400_SOURCE_PEER, X400_ERR_PARSE,
                              reason_on(layer, X400_P1_R_DEPTH), "BER: nesting deeper than the limit");
    rv = x400i_ber_read(p, len, &t, depth, layer, d);
    if (rv < 0) return rv;
    *used = t.total;
    rv = x400i_buf_append(out, p, t.idlen);
    if (rv < 0) goto lim;
    if (!t.constructed) {
        uint8_t lo[X400I_BER_LEN_MAX];
        size_t n = x400i_ber_put_len(lo, t.vlen);
        rv = x400i_buf_append(out, lo, n);
        if (rv >= 0) rv = x400i_buf_append(out, t.v, t.vlen);
        if (rv < 0) goto lim;
        return X400_OK;
    }
    mark = out->len;
    for (off = 0; off < t.vlen;) {
        size_t u;
        rv = norm(t.v + off, t.vlen - off, out, depth - 1, layer, d, &u);
        if (rv < 0) return rv;
        off += u;
    }
    rv = patch_len(out, mark);
    if (rv < 0) goto lim;
    return X400_OK;
lim:
    if (rv == X400_ERR_LIMIT)
        x400i_diag_set(d, layer, X400_SOURCE_PEER, X400_ERR_LIMIT, 0,
                       "BER: normalised PDU above the size bound (%zu octets)", out->max);
    return rv;
}

/* The walk of norm() without the copy: is the TLV at p as norm would write it? */
static bool normal_at(const uint8_t *p, size_t len, unsigned depth, size_t *used)
{
    x400i_tlv t;
    uint8_t lo[X400I_BER_LEN_MAX];
    size_t off;
    if (depth == 0 || x400i_ber_read(p, len, &t, 0, X400_LAYER_NONE, NULL) < 0 || t.indefinite ||
        t.hdr != t.idlen + x400i_ber_put_len(lo, t.vlen))
        return false;
    *used = t.total;
    if (!t.constructed) return true;
    for (off = 0; off < t.vlen;) {
        size_t u;
        if (!normal_at(t.v + off, t.vlen - off, depth - 1, &u)) return false;
        off += u;
    }
    return true;
}

bool x400i_ber_is_normal(const uint8_t *p, size_t len, unsigned max_depth)
{
    size_t used = 0;
    return len && normal_at(p, len, max_depth, &used) && used == len;
}

int x400i_ber_normalise(const uint8_t *p, size_t len, x400i_buf *out, unsigned max_depth,
                        x400_layer layer, x400_diag *d)
{
    size_t used = 0;
    int rv = norm(p, len, out, max_depth, layer, d, &used);
    if (rv < 0) return rv;
    if (used != len) return SYNTAX(layer, d, "BER: %zu octets after the end of the PDU", len - used);
    return X400_OK;
}

/* ------------------------------------------------------------ reverse writer */

void x400i_bw_init_fixed(x400i_bw *w, uint8_t *buf, size_t cap, x400_layer layer, x400_diag *d)
{
    memset(w, 0, sizeof *w);
    w->buf = buf;
    w->cap = w->pos = cap;
    w->layer = layer;
    w->diag = d;
}

int x400i_bw_init_alloc(x400i_bw *w, const x400_allocator *a, size_t hint, x400_layer layer,
                        x400_diag *d)
{
    memset(w, 0, sizeof *w);
    w->alloc = x400i_alloc_or_default(a);
    w->growable = true;
    w->layer = layer;
    w->diag = d;
    if (hint < 256) hint = 256;
    w->buf = x400i_malloc(w->alloc, hint);
    if (!w->buf) return x400i_diag_set(d, layer, X400_SOURCE_LOCAL, X400_ERR_NOMEM, 0, "BER encode: out of memory");
    w->cap = w->pos = hint;
    return X400_OK;
}

void x400i_bw_fail(x400i_bw *w, int code, int reason, const char *fmt, ...)
{
    va_list ap;
    if (w->err) return;
    w->err = code;
    va_start(ap, fmt);
    x400i_diag_vset(w->diag, w->layer, X400_SOURCE_LOCAL, code, reason, fmt, ap);
    va_end(ap);
}

static bool room(x400i_bw *w, size_t n)
{
    if (w->err) return false;
    if (w->pos >= n) return true;
    if (!w->growable) {
        x400i_bw_fail(w, X400_ERR_BUFFER_TOO_SMALL, reason_on(w->layer, X400_P1_R_ENCODE),
                      "BER encode: output buffer of %zu octets too small", w->cap);
        return false;
    }
    size_t used = w->cap - w->pos, ncap = w->cap;
    while (ncap - used < n) {
        if (ncap > SIZE_MAX / 2) { x400i_bw_fail(w, X400_ERR_NOMEM, 0, "BER encode: too large"); return false; }
        ncap *= 2;
    }
    uint8_t *nb = x400i_malloc(w->alloc, ncap);
    if (!nb) { x400i_bw_fail(w, X400_ERR_NOMEM, 0, "BER encode: out of memory"); return false; }
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

/* Identifier + definite length in front of the last `len` octets. */
static void put_hdr(x400i_bw *w, uint8_t cls_cons, uint32_t tag, size_t len)
{
    uint8_t h[X400I_BER_ID_MAX + X400I_BER_LEN_MAX];
    size_t n;
    if (len > UINT32_MAX) {
        x400i_bw_fail(w, X400_ERR_TOO_LONG, reason_on(w->layer, X400_P1_R_ENCODE),
                      "BER encode: value of %zu octets (at most 2^32 - 1)", len);
        return;
    }
    n = x400i_ber_put_id(h, cls_cons, tag);
    n += x400i_ber_put_len(h + n, len);
    x400i_bw_bytes(w, h, n);
}

void x400i_bw_wrap(x400i_bw *w, size_t mark, uint8_t cls, uint32_t tag)
{
    if (w->err) return;
    put_hdr(w, (uint8_t)(cls | X400I_BER_CONSTRUCTED), tag, x400i_bw_len(w) - mark);
}

void x400i_bw_prim(x400i_bw *w, uint8_t cls, uint32_t tag, const void *p, size_t n)
{
    x400i_bw_bytes(w, p, n);
    if (!w->err) put_hdr(w, cls, tag, n);
}

/* Two's complement, minimal (X.690 8.3.2) into b[8]; returns the first octet used. */
static size_t int_octets(int64_t v, uint8_t b[8])
{
    size_t i = 0;
    for (int k = 0; k < 8; k++) b[k] = (uint8_t)((uint64_t)v >> (56 - 8 * k));
    while (i < 7 && ((b[i] == 0 && !(b[i + 1] & 0x80)) || (b[i] == 0xFF && (b[i + 1] & 0x80)))) i++;
    return i;
}

void x400i_bw_int(x400i_bw *w, uint8_t cls, uint32_t tag, int64_t v)
{
    uint8_t b[8];
    size_t i = int_octets(v, b);
    x400i_bw_prim(w, cls, tag, b + i, 8 - i);
}

void x400i_bw_bits(x400i_bw *w, uint8_t cls, uint32_t tag, uint32_t bits, unsigned min_bits)
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
    x400i_bw_prim(w, cls, tag, b, 1 + octets);
}

/* Days from 1970-01-01 to y-m-d and back (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
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

void x400i_bw_time(x400i_bw *w, uint8_t cls, uint32_t tag, int64_t t)
{
    /* UTCTime covers 1950-01-01 .. 2049-12-31 */
    if (t < -631152000 || t > 2524607999) {
        x400i_bw_fail(w, X400_ERR_INVALID_ARG, reason_on(w->layer, X400_P1_R_ENCODE),
                      "BER encode: time %lld outside UTCTime (1950..2049)", (long long)t);
        return;
    }
    int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    int64_t sec = t - days * 86400, y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    char s[40];
    snprintf(s, sizeof s, "%02u%02u%02u%02u%02u%02uZ", (unsigned)(y % 100), m, d,
             (unsigned)(sec / 3600), (unsigned)(sec / 60 % 60), (unsigned)(sec % 60));
    x400i_bw_prim(w, cls, tag, s, 13);
}

void x400i_bw_oid(x400i_bw *w, uint8_t cls, uint32_t tag, const x400_oid *o)
{
    uint8_t b[X400_OID_ARCS_MAX * 5 + 5];
    size_t n = 0;
    if (o->n < 2 || o->n > X400_OID_ARCS_MAX || o->arc[0] > 2 || (o->arc[0] < 2 && o->arc[1] > 39)) {
        x400i_bw_fail(w, X400_ERR_INVALID_ARG, reason_on(w->layer, X400_P1_R_ENCODE),
                      "BER encode: invalid OBJECT IDENTIFIER");
        return;
    }
    /* written backwards */
    for (unsigned i = o->n; i-- > 1;) {
        uint64_t v = i == 1 ? (uint64_t)o->arc[0] * 40 + o->arc[1] : o->arc[i];
        b[sizeof b - 1 - n++] = (uint8_t)(v & 0x7F);
        for (v >>= 7; v; v >>= 7) b[sizeof b - 1 - n++] = (uint8_t)(0x80 | (v & 0x7F));
    }
    x400i_bw_prim(w, cls, tag, b + sizeof b - n, n);
}

/* ------------------------------------------------------------ forward helper */

int x400i_ber_open(x400i_buf *b, uint8_t id, size_t *mark)
{
    int rv = x400i_buf_put_u8(b, id);
    *mark = b->len;
    return rv;
}

int x400i_ber_close(x400i_buf *b, size_t mark) { return patch_len(b, mark); }

int x400i_ber_put(x400i_buf *b, uint8_t id, const uint8_t *v, size_t len)
{
    uint8_t h[1 + X400I_BER_LEN_MAX];
    size_t n;
    h[0] = id;
    n = 1 + x400i_ber_put_len(h + 1, len);
    int rv = x400i_buf_append(b, h, n);
    if (rv >= 0 && len) rv = x400i_buf_append(b, v, len);
    return rv;
}

int x400i_ber_put_int(x400i_buf *b, uint8_t id, long v)
{
    uint8_t c[8];
    size_t i = int_octets(v, c);
    return x400i_ber_put(b, id, c + i, 8 - i);
}

/* ------------------------------------------------------------ contents octets */

int x400i_ber_get_int(const uint8_t *v, size_t len, long *out)
{
    unsigned long u;
    if (len == 0 || len > sizeof(long)) return X400_ERR_PARSE;
    u = (v[0] & 0x80) ? ~0UL : 0UL;
    for (size_t i = 0; i < len; i++) u = u << 8 | v[i];
    *out = (long)u;
    return X400_OK;
}

int x400i_ber_get_int64(const uint8_t *v, size_t len, int64_t *out)
{
    uint64_t u;
    if (len < 1 || len > 8) return X400_ERR_PARSE;
    if (len > 1 && ((v[0] == 0 && !(v[1] & 0x80)) || (v[0] == 0xFF && (v[1] & 0x80))))
        return X400_ERR_PARSE;
    u = (v[0] & 0x80) ? UINT64_MAX : 0;
    for (size_t i = 0; i < len; i++) u = u << 8 | v[i];
    *out = (int64_t)u;
    return X400_OK;
}

int x400i_ber_get_bits16(const uint8_t *v, size_t len, uint32_t *out, size_t *bad_bit)
{
    *bad_bit = SIZE_MAX;
    if (len < 1 || v[0] > 7 || (len == 1 && v[0] != 0)) return X400_ERR_PARSE;
    size_t nbits = (len - 1) * 8 - v[0];
    uint32_t r = 0;
    for (size_t i = 0; i < nbits; i++) {
        if (!((v[1 + i / 8] >> (7 - i % 8)) & 1)) continue;
        if (i >= 16) {
            *bad_bit = i;
            return X400_ERR_PARSE;
        }
        r |= 1u << i;
    }
    *out = r;
    return X400_OK;
}

static bool printable_char(unsigned char c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
    return c != 0 && strchr(" '()+,-./:=?", c) != NULL;
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

static int two(const uint8_t *p, unsigned *v)
{
    if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9') return 0;
    *v = (unsigned)(p[0] - '0') * 10 + (unsigned)(p[1] - '0');
    return 1;
}

int x400i_ber_get_utctime(const uint8_t *p, size_t n, int64_t *out)
{
    unsigned yy, mo, dd, hh, mi, ss = 0, oh = 0, om = 0;
    size_t o = 10;
    int sign = 0;
    if (n < 11 || n > 17 || !two(p, &yy) || !two(p + 2, &mo) || !two(p + 4, &dd) ||
        !two(p + 6, &hh) || !two(p + 8, &mi))
        return X400_ERR_PARSE;
    if (o + 2 <= n && p[o] >= '0' && p[o] <= '9') {
        if (!two(p + o, &ss)) return X400_ERR_PARSE;
        o += 2;
    }
    if (o < n && p[o] == 'Z') {
        o++;
    } else if (o < n && (p[o] == '+' || p[o] == '-')) {
        sign = p[o] == '+' ? 1 : -1;
        if (o + 5 > n || !two(p + o + 1, &oh) || !two(p + o + 3, &om) || oh > 23 || om > 59)
            return X400_ERR_PARSE;
        o += 5;
    } else {
        return X400_ERR_PARSE;
    }
    if (o != n || mo < 1 || mo > 12 || dd < 1 || dd > 31 || hh > 23 || mi > 59 || ss > 59)
        return X400_ERR_PARSE;
    int64_t y = yy < 50 ? 2000 + yy : 1900 + yy;
    int64_t s = days_from_civil(y, mo, dd) * 86400 + hh * 3600 + mi * 60 + ss;
    *out = s - sign * (int64_t)(oh * 3600 + om * 60);
    return X400_OK;
}

int x400i_oid_encode(const uint32_t *arcs, size_t n, uint8_t *out, size_t cap, size_t *outlen)
{
    size_t o = 0;
    if (n < 2 || arcs[0] > 2 || (arcs[0] < 2 && arcs[1] > 39)) return X400_ERR_INVALID_ARG;
    for (size_t i = 1; i < n; i++) {
        uint64_t v = i == 1 ? (uint64_t)arcs[0] * 40 + arcs[1] : arcs[i];
        uint8_t tmp[10];
        size_t k = 0;
        do {
            tmp[k++] = (uint8_t)(v & 0x7F);
            v >>= 7;
        } while (v);
        if (cap - o < k) return X400_ERR_TOO_LONG;
        while (k) {
            k--;
            out[o++] = (uint8_t)(tmp[k] | (k ? 0x80 : 0));
        }
    }
    *outlen = o;
    return X400_OK;
}

/* X.690 8.19: subidentifiers minimal (no leading 0x80), the last one
 * complete, every arc below 2^32. */
int x400i_oid_decode(const uint8_t *v, size_t len, uint32_t *arcs, size_t cap, size_t *n)
{
    size_t k = 0;
    uint64_t acc = 0;
    int started = 0;
    if (len == 0 || cap < 2) return X400_ERR_PARSE;
    for (size_t i = 0; i < len; i++) {
        if (!started && v[i] == 0x80) return X400_ERR_PARSE;
        started = 1;
        acc = acc << 7 | (v[i] & 0x7F);
        if (acc > 0xFFFFFFFFull + 80) return X400_ERR_PARSE;
        if (v[i] & 0x80) continue;
        if (k == 0) {
            uint32_t first = acc < 40 ? 0 : acc < 80 ? 1 : 2;
            if (acc - 40u * first > 0xFFFFFFFFull) return X400_ERR_PARSE;
            arcs[k++] = first;
            arcs[k++] = (uint32_t)(acc - 40u * first);
        } else {
            if (acc > 0xFFFFFFFFull) return X400_ERR_PARSE;
            if (k >= cap) return X400_ERR_TOO_LONG;
            arcs[k++] = (uint32_t)acc;
        }
        acc = 0;
        started = 0;
    }
    if (started) return X400_ERR_PARSE;
    *n = k;
    return X400_OK;
}

void x400i_oid_to_text(const uint8_t *v, size_t len, char *buf, size_t cap)
{
    uint32_t arcs[32];
    size_t n, o = 0;
    if (!cap) return;
    buf[0] = 0;
    if (x400i_oid_decode(v, len, arcs, 32, &n) < 0) {
        snprintf(buf, cap, "(invalid OID)");
        return;
    }
    for (size_t i = 0; i < n && o < cap; i++) {
        int w = snprintf(buf + o, cap - o, i ? ".%u" : "%u", (unsigned)arcs[i]);
        if (w < 0) break;
        o += (size_t)w;
    }
}
