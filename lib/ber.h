/*
 * The library's one BER (X.690) module: every layer that reads or writes
 * BER by hand uses it (asn1c's runtime aside).
 *
 *  - one length and one identifier codec (x400i_ber_get_len/_get_id,
 *    x400i_ber_put_len/_put_id): plain functions for streaming callers;
 *  - one TLV type (x400i_tlv) and one strict, bounded reader
 *    (x400i_ber_read, x400i_ber_child);
 *  - one well-formedness pre-scan (x400i_ber_prescan): iterative, bounded
 *    in depth and element count, run before anything is decoded;
 *  - a normaliser rewriting indefinite lengths as definite ones (asn1c
 *    0.9.28 refuses mixed definite/indefinite tag chains, doc/asn1.md);
 *  - one writer, the reverse writer x400i_bw (builds from the end, so every
 *    length is known when written: one pass), plus a thin forward helper
 *    (x400i_ber_open/_close/_put) over the same header codec for the
 *    presentation/ACSE builders;
 *  - contents-octet codecs: INTEGER, BIT STRING, character sets, UTCTime,
 *    OBJECT IDENTIFIER.
 *
 * Reader rules (X.690 8.1): tag numbers below 2^28, in the high-tag form
 * only from 31 up (8.1.2.2) and without a leading 0x80 octet (8.1.2.4.2);
 * universal tag 0 only as end-of-contents; length forms short, long (at
 * most 4 length octets: a value is below 4 GiB) or indefinite (constructed
 * only, closed by 00 00); a length running past its container is an error,
 * never a truncation.  Nesting is bounded by the caller's depth limit.
 *
 * Diagnostics carry the caller's layer; on layer P1 they carry the P1
 * reasons (X400_P1_R_SYNTAX, _DEPTH, _ELEMENTS, _ENCODE), elsewhere 0.
 * Internal to the library (prefix x400i_).  No state; thread-safe.
 */
#ifndef X400P1_BER_H
#define X400P1_BER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "x400p1/p1.h"

/* Identifier octet: class and constructed bits. */
#define X400I_BER_UNIVERSAL 0x00
#define X400I_BER_APPLICATION 0x40
#define X400I_BER_CONTEXT 0x80
#define X400I_BER_PRIVATE 0xC0
#define X400I_BER_CONSTRUCTED 0x20

/* Universal tag numbers (X.680 8.4). */
enum {
    X400I_U_BOOLEAN = 1, X400I_U_INTEGER = 2, X400I_U_BITSTRING = 3,
    X400I_U_OCTETSTRING = 4, X400I_U_NULL = 5, X400I_U_OID = 6,
    X400I_U_EXTERNAL = 8, X400I_U_ENUMERATED = 10, X400I_U_SEQUENCE = 16,
    X400I_U_SET = 17, X400I_U_NUMERIC = 18, X400I_U_PRINTABLE = 19,
    X400I_U_TELETEX = 20, X400I_U_IA5 = 22, X400I_U_UTCTIME = 23
};

/* Default nesting bound for the upper layers. */
#define X400I_BER_MAX_DEPTH 48
/* Most levels any pre-scan follows (its stack). */
#define X400I_BER_SCAN_DEPTH_MAX 256
/* Largest encodings of one length / one identifier (x400i_ber_put_*). */
#define X400I_BER_LEN_MAX 9
#define X400I_BER_ID_MAX 5

/* ---- one length, one identifier (X.690 8.1.3, 8.1.2) ----
 * Streaming-friendly: read at p[*off] of p[0..n), advancing *off.
 *   x400i_ber_get_len: 1 = definite (*len), 2 = indefinite (80),
 *                      0 = more octets needed, -1 = invalid (FF, or more
 *                      than 4 length octets).  Long forms with leading
 *                      zero octets are accepted (BER, not DER).
 *   x400i_ber_get_id:  1 = read (*first = the first octet, *tag), 0 = more
 *                      octets needed, -1 = invalid (tag >= 2^28, leading
 *                      0x80, high-tag form for a number below 31). */
int x400i_ber_get_len(const uint8_t *p, size_t n, size_t *off, size_t *len);
int x400i_ber_get_id(const uint8_t *p, size_t n, size_t *off, uint8_t *first, uint32_t *tag);
/* Definite, minimal length octets of `len` into out[0..X400I_BER_LEN_MAX);
 * returns their count. */
size_t x400i_ber_put_len(uint8_t *out, size_t len);
/* Identifier octets for class|constructed bits `cls_cons` and tag number
 * `tag` into out[0..X400I_BER_ID_MAX); returns their count. */
size_t x400i_ber_put_id(uint8_t *out, uint8_t cls_cons, uint32_t tag);
/* Old name of x400i_ber_put_len (presentation.c); same function. */
#define x400i_ber_len_octets(len, out) x400i_ber_put_len((out), (len))

/* ---- the TLV ---- */
typedef struct x400i_tlv {
    uint8_t cls;            /* X400I_BER_UNIVERSAL .. PRIVATE */
    uint8_t constructed;    /* 1 if constructed */
    uint8_t first;          /* first identifier octet (class|constructed|tag or 0x1f) */
    uint8_t idlen;          /* identifier octets */
    uint8_t indefinite;     /* 1 if the length was indefinite */
    uint32_t tag;           /* tag number */
    size_t hdr;             /* identifier + length octets */
    const uint8_t *raw;     /* the whole element (identifier first) */
    const uint8_t *v;       /* contents (for indefinite: up to, not including, 00 00) */
    size_t vlen;
    size_t total;           /* octets of the element, header and EOC included */
} x400i_tlv;

static inline bool x400i_tlv_is(const x400i_tlv *t, uint8_t cls, uint32_t tag)
{
    return t->cls == cls && t->tag == tag;
}

/* Read one TLV at the start of p[0..len).  An indefinite length is followed
 * through nested TLVs (at most `max_depth` levels) to its end-of-contents.
 * X400_OK, or X400_ERR_PARSE (malformed, past the container, too deep) with
 * a reason in *d (layer `layer`; d may be NULL). */
int x400i_ber_read(const uint8_t *p, size_t len, x400i_tlv *t, unsigned max_depth,
                   x400_layer layer, x400_diag *d);

/* Iterate the children of a constructed TLV: *off starts at 0.  Returns 1
 * and the child, 0 at the end, or X400_ERR_PARSE (the parent primitive, a
 * child malformed). */
int x400i_ber_child(const x400i_tlv *parent, size_t *off, x400i_tlv *child,
                    x400_layer layer, x400_diag *d);

/* The pre-scan: p[0..len) starts with one well-formed TLV -- every length
 * inside its parent, every indefinite length closed, no stray
 * end-of-contents, constructed values nested at most `max_depth` deep
 * (capped at X400I_BER_SCAN_DEPTH_MAX), at most `max_elements` TLVs in
 * total.  Iterative, O(len), nothing allocated.  With `used` NULL the TLV
 * must fill p[0..len) exactly; otherwise *used receives its length.
 * X400_OK; X400_ERR_PARSE (malformed, trailing octets); X400_ERR_LIMIT
 * (depth, element count). */
int x400i_ber_prescan(const uint8_t *p, size_t len, unsigned max_depth, size_t max_elements,
                      size_t *used, x400_layer layer, x400_diag *d);

/* 1 if p[0..len) is exactly one well-formed TLV (depth X400I_BER_MAX_DEPTH). */
int x400i_ber_is_one_tlv(const uint8_t *p, size_t len);

/* Rewrite one complete TLV at p[0..len) with definite lengths throughout
 * (constructed values get a computed length, primitive values are copied),
 * appending to *out.  Trailing octets after the TLV are an error.  Bounds:
 * nesting `max_depth`, out->max.  X400_OK, X400_ERR_PARSE (diag says where),
 * X400_ERR_LIMIT (output bound), X400_ERR_NOMEM. */
int x400i_ber_normalise(const uint8_t *p, size_t len, x400i_buf *out, unsigned max_depth,
                        x400_layer layer, x400_diag *d);
/* true when x400i_ber_normalise would copy p[0..len) unchanged: one TLV,
 * every length definite and in its shortest form, nesting within
 * max_depth (a decoder then reads p itself: no copy).  false otherwise,
 * errors included (the normaliser reports them). */
bool x400i_ber_is_normal(const uint8_t *p, size_t len, unsigned max_depth);

/* ---- the writer: reverse, from the end of the buffer ----
 * Write the contents of a value first, then its header:
 *   size_t m = x400i_bw_len(w); ...contents...; x400i_bw_wrap(w, m, cls, tag);
 * Errors are sticky (w->err, diag set once); check at the end. */
typedef struct x400i_bw {
    uint8_t *buf;
    size_t cap;
    size_t pos;        /* output is buf[pos..cap) */
    bool growable;     /* buffer owned by us (allocator) */
    const x400_allocator *alloc;
    int err;           /* first error (sticky) */
    x400_diag *diag;
    x400_layer layer;  /* of the diagnostics */
    x400_p1_ext_form ext_form; /* P1: form of the ExtensionField type we build */
} x400i_bw;

void x400i_bw_init_fixed(x400i_bw *w, uint8_t *buf, size_t cap, x400_layer layer, x400_diag *d);
int x400i_bw_init_alloc(x400i_bw *w, const x400_allocator *a, size_t hint, x400_layer layer,
                        x400_diag *d);
static inline size_t x400i_bw_len(const x400i_bw *w) { return w->cap - w->pos; }
void x400i_bw_bytes(x400i_bw *w, const void *p, size_t n);
void x400i_bw_byte(x400i_bw *w, uint8_t b);
/* Prepend identifier (constructed) + length for the contents written since
 * `mark` (x400i_bw_len() before the contents). */
void x400i_bw_wrap(x400i_bw *w, size_t mark, uint8_t cls, uint32_t tag);
/* Primitive values (class bits + tag number). */
void x400i_bw_prim(x400i_bw *w, uint8_t cls, uint32_t tag, const void *p, size_t n);
void x400i_bw_int(x400i_bw *w, uint8_t cls, uint32_t tag, int64_t v);
void x400i_bw_bits(x400i_bw *w, uint8_t cls, uint32_t tag, uint32_t bits, unsigned min_bits);
void x400i_bw_time(x400i_bw *w, uint8_t cls, uint32_t tag, int64_t t);
void x400i_bw_oid(x400i_bw *w, uint8_t cls, uint32_t tag, const x400_oid *o);
/* Record the first failure (source LOCAL, the writer's layer). */
void x400i_bw_fail(x400i_bw *w, int code, int reason, const char *fmt, ...)
    X400I_PRINTF(4, 5);

/* ---- forward helper over the same header codec (presentation, ACSE) ----
 * mark = x400i_ber_open(b, id); ... contents ...; x400i_ber_close(b, mark);
 * `id` is the identifier octet (tag numbers 0..30 only); the close moves
 * the contents to make room for the length.  Each returns X400_OK or
 * X400_ERR_NOMEM / X400_ERR_LIMIT (the buffer's bound). */
int x400i_ber_open(x400i_buf *b, uint8_t id, size_t *mark);
int x400i_ber_close(x400i_buf *b, size_t mark);
/* Identifier + definite length + contents. */
int x400i_ber_put(x400i_buf *b, uint8_t id, const uint8_t *v, size_t len);
int x400i_ber_put_int(x400i_buf *b, uint8_t id, long v);

/* ---- contents octets ----
 * Each returns X400_OK or X400_ERR_PARSE (X400_ERR_TOO_LONG where said). */
/* INTEGER -> long; lenient about non-minimal forms (<= sizeof(long) octets). */
int x400i_ber_get_int(const uint8_t *v, size_t len, long *out);
/* INTEGER -> int64_t, strict: 1..8 octets, minimal (X.690 8.3.2). */
int x400i_ber_get_int64(const uint8_t *v, size_t len, int64_t *out);
/* BIT STRING: bit i -> (1u << i) for bits 0..15; a set bit past 15 is an
 * error (*bad_bit receives it, else SIZE_MAX). */
int x400i_ber_get_bits16(const uint8_t *v, size_t len, uint32_t *out, size_t *bad_bit);
/* UTCTime (X.680 47) YYMMDDhhmm[ss](Z|+hhmm|-hhmm) -> seconds since 1970. */
int x400i_ber_get_utctime(const uint8_t *v, size_t len, int64_t *out);
/* 1 when every byte of s[0..n) belongs to the string type (X.680 41;
 * TeletexString: any octet but NUL). */
bool x400i_charset_ok(unsigned strtype, const char *s, size_t n);
/* OID arcs <-> contents octets (decode: X400_ERR_TOO_LONG past cap arcs). */
int x400i_oid_encode(const uint32_t *arcs, size_t n, uint8_t *out, size_t cap, size_t *outlen);
int x400i_oid_decode(const uint8_t *v, size_t len, uint32_t *arcs, size_t cap, size_t *n);
/* "2.6.0.1.6" from contents octets into buf (always NUL-terminated). */
void x400i_oid_to_text(const uint8_t *v, size_t len, char *buf, size_t cap);

#endif
