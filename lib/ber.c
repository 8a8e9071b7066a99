/*
 * Strict, bounded BER (X.690) reader, indefinite-to-definite normaliser and
 * nested writer.  See ber.h.
 */
#include <stdio.h>
#include <string.h>

#include "ber.h"

/* Identifier and length octets, X.690 8.1.2 / 8.1.3. */
static int read_hdr(const uint8_t *p, size_t len, x400i_tlv *t, x400_layer layer, x400_diag *d)
{
    size_t off = 0;
    uint8_t b;
    memset(t, 0, sizeof *t);
    if (len < 2)
        return x400i_diag_set(d, layer, X400_SOURCE_PEER, X400_ERR_PARSE, 0,
                              "BER: truncated identifier/length (%zu octets left)", len);
    b = p[off++];
    t->first = b;
    t->cls = b & 0xC0;
    t->constructed = (b & 0x20) ? 1 : 0;
    if ((b & 0x1F) != 0x1F) {
        t->tag = b & 0x1F;
    } else {
        uint32_t tag = 0;
        int n = 0;
        do {
            if (off >= len)
                return x400i_diag_set(d, layer, X400_SOURCE_PEER, X400_ERR_PARSE, 0,
                                      "BER: truncated high tag number");
            b = p[off++];
            if (n == 0 && b == 0x80)
                return x400i_diag_set(d, layer, X400_SOURCE_PEER, X400_ERR_PARSE, 0,
                                      "BER: tag number with a leading 0x80 octet");
            if (++n > 3)
                return x400i_diag_set(d, layer, X400_SOURCE_PEER, X400_ERR_PARSE, 0,
                                      "BER: tag number above 2^21");
            tag = tag << 7 | (b & 0x7F);
        } while (b & 0x80);
        t->tag = tag;
    }
    t->idlen = (uint8_t)off;
    if (t->cls == X400I_BER_UNIVERSAL && t->tag == 0)
        return x400i_diag_set(d, layer, X400_SOURCE_PEER, X400_ERR_PARSE, 0,
                              "BER: unexpected end-of-contents octets at offset 0");
    if (off >= len)
        return x400i_diag_set(d, layer, X400_SOURCE_PEER, X400_ERR_PARSE, 0,
                              "BER: truncated length");
    b = p[off++];
    if (b < 0x80) {
        t->vlen = b;
    } else if (b == 0x80) {
        if (!t->constructed)
            return x400i_diag_set(d, layer, X400_SOURCE_PEER, X400_ERR_PARSE, 0,
                                  "BER: indefinite length on a primitive value (tag %u)",
                                  (unsigned)t->tag);
        t->indefinite = 1;
    } else {
        unsigned n = b & 0x7F;
        size_t v = 0;
        if (n > 4 || b == 0xFF)
            return x400i_diag_set(d, layer, X400_SOURCE_PEER, X400_ERR_PARSE, 0,
                                  "BER: length of %u octets not supported", n);
        if (len - off < n)
            return x400i_diag_set(d, layer, X400_SOURCE_PEER, X400_ERR_PARSE, 0,
                                  "BER: truncated length octets");
        for (unsigned i = 0; i < n; i++) v = v << 8 | p[off++];
        t->vlen = v;
    }
    t->hdr = off;
    return X400_OK;
}

int x400i_ber_read(const uint8_t *p, size_t len, x400i_tlv *t, unsigned max_depth,
                   x400_layer layer, x400_diag *d)
{
    int rv = read_hdr(p, len, t, layer, d);
    size_t off;
    if (rv < 0) return rv;
    t->v = p + t->hdr;
    if (!t->indefinite) {
        if (t->vlen > len - t->hdr)
            return x400i_diag_set(d, layer, X400_SOURCE_PEER, X400_ERR_PARSE, 0,
                                  "BER: length %zu of tag %u runs past its container (%zu octets left)",
                                  t->vlen, (unsigned)t->tag, len - t->hdr);
        t->total = t->hdr + t->vlen;
        return X400_OK;
    }
    /* indefinite: walk the contents up to the end-of-contents octets */
    if (max_depth == 0)
        return x400i_diag_set(d, layer, X400_SOURCE_PEER, X400_ERR_PARSE, 0,
                              "BER: nesting deeper than the limit");
    off = t->hdr;
    for (;;) {
        x400i_tlv c;
        if (len - off >= 2 && p[off] == 0 && p[off + 1] == 0) break;
        if (len - off < 2)
            return x400i_diag_set(d, layer, X400_SOURCE_PEER, X400_ERR_PARSE, 0,
                                  "BER: indefinite length of tag %u without end-of-contents",
                                  (unsigned)t->tag);
        rv = x400i_ber_read(p + off, len - off, &c, max_depth - 1, layer, d);
        if (rv < 0) return rv;
        off += c.total;
    }
    t->vlen = off - t->hdr;
    t->total = off + 2;
    return X400_OK;
}

/* Every constructed value's contents are a sequence of valid TLVs. */
static int valid_tree(const uint8_t *p, size_t len, unsigned depth, size_t *used)
{
    x400i_tlv t;
    if (depth == 0 || x400i_ber_read(p, len, &t, depth, X400_LAYER_NONE, NULL) < 0) return 0;
    *used = t.total;
    if (t.constructed)
        for (size_t off = 0, u; off < t.vlen; off += u)
            if (!valid_tree(t.v + off, t.vlen - off, depth - 1, &u)) return 0;
    return 1;
}

int x400i_ber_is_one_tlv(const uint8_t *p, size_t len)
{
    size_t used = 0;
    if (!p || !valid_tree(p, len, X400I_BER_MAX_DEPTH, &used)) return 0;
    return used == len;
}

size_t x400i_ber_len_octets(size_t len, uint8_t out[6])
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

/* Insert the definite length of out[mark..len) at mark. */
static int patch_len(x400i_buf *out, size_t mark)
{
    uint8_t lo[6];
    size_t clen = out->len - mark;
    size_t n = x400i_ber_len_octets(clen, lo);
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
        return x400i_diag_set(d, layer, X400_SOURCE_PEER, X400_ERR_PARSE, 0,
                              "BER: nesting deeper than the limit");
    rv = x400i_ber_read(p, len, &t, depth, layer, d);
    if (rv < 0) return rv;
    *used = t.total;
    rv = x400i_buf_append(out, p, t.idlen);
    if (rv < 0) goto lim;
    if (!t.constructed) {
        uint8_t lo[6];
        size_t n = x400i_ber_len_octets(t.vlen, lo);
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

int x400i_ber_normalise(const uint8_t *p, size_t len, x400i_buf *out, unsigned max_depth,
                        x400_layer layer, x400_diag *d)
{
    size_t used = 0;
    int rv = norm(p, len, out, max_depth, layer, d, &used);
    if (rv < 0) return rv;
    if (used != len)
        return x400i_diag_set(d, layer, X400_SOURCE_PEER, X400_ERR_PARSE, 0,
                              "BER: %zu octets after the end of the PDU", len - used);
    return X400_OK;
}

/* ---- writer ---- */

int x400i_ber_open(x400i_buf *b, uint8_t id, size_t *mark)
{
    int rv = x400i_buf_put_u8(b, id);
    *mark = b->len;
    return rv;
}

int x400i_ber_close(x400i_buf *b, size_t mark) { return patch_len(b, mark); }

int x400i_ber_put(x400i_buf *b, uint8_t id, const uint8_t *v, size_t len)
{
    uint8_t lo[6];
    size_t n = x400i_ber_len_octets(len, lo);
    int rv = x400i_buf_put_u8(b, id);
    if (rv >= 0) rv = x400i_buf_append(b, lo, n);
    if (rv >= 0 && len) rv = x400i_buf_append(b, v, len);
    return rv;
}

int x400i_ber_put_int(x400i_buf *b, uint8_t id, long v)
{
    uint8_t c[sizeof(long)];
    size_t n = sizeof c;
    for (size_t i = 0; i < sizeof c; i++)
        c[sizeof c - 1 - i] = (uint8_t)((unsigned long)v >> (8 * i));
    size_t s = 0;
    while (n - s > 1 && ((c[s] == 0x00 && !(c[s + 1] & 0x80)) || (c[s] == 0xFF && (c[s + 1] & 0x80))))
        s++;
    return x400i_ber_put(b, id, c + s, n - s);
}

int x400i_ber_get_int(const uint8_t *v, size_t len, long *out)
{
    unsigned long u;
    if (len == 0 || len > sizeof(long)) return X400_ERR_PARSE;
    u = (v[0] & 0x80) ? ~0UL : 0UL;
    for (size_t i = 0; i < len; i++) u = u << 8 | v[i];
    *out = (long)u;
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

int x400i_oid_decode(const uint8_t *v, size_t len, uint32_t *arcs, size_t cap, size_t *n)
{
    size_t k = 0;
    uint64_t acc = 0;
    int started = 0;
    if (len == 0 || cap < 2) return X400_ERR_PARSE;
    for (size_t i = 0; i < len; i++) {
        if (!started && v[i] == 0x80) return X400_ERR_PARSE; /* non-minimal subidentifier */
        started = 1;
        acc = acc << 7 | (v[i] & 0x7F);
        if (acc > 0xFFFFFFFFull + 80) return X400_ERR_PARSE;
        if (v[i] & 0x80) continue;
        if (k == 0) {
            uint32_t first = acc < 40 ? 0 : acc < 80 ? 1 : 2;
            arcs[k++] = first;
            arcs[k++] = (uint32_t)(acc - 40u * first);
        } else {
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
