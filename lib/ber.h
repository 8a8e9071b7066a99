/*
 * Strict, bounded BER (X.690) helpers for the upper layers: a TLV reader,
 * a normaliser that rewrites indefinite lengths as definite ones (so that
 * asn1c 0.9.28, which refuses mixed definite/indefinite tag chains, can
 * decode what real MTAs send), and a small nested TLV writer.
 *
 * Reader rules (X.690 8.1): tag numbers up to 2^21; length forms short,
 * long (at most 4 length octets, value at most the container) or
 * indefinite (constructed only, closed by 00 00); a length running past its
 * container is an error, never a truncation.  Nesting is bounded by the
 * caller's depth limit; output of the normaliser by the caller's size limit.
 * Internal to the library (prefix x400i_).  No state; thread-safe.
 */
#ifndef X400P1_BER_H
#define X400P1_BER_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

#define X400I_BER_UNIVERSAL 0x00
#define X400I_BER_APPLICATION 0x40
#define X400I_BER_CONTEXT 0x80
#define X400I_BER_PRIVATE 0xC0
#define X400I_BER_CONSTRUCTED 0x20

/* Default bounds for the upper layers. */
#define X400I_BER_MAX_DEPTH 48

typedef struct x400i_tlv {
    uint8_t cls;            /* X400I_BER_UNIVERSAL .. PRIVATE */
    uint8_t constructed;    /* 1 if constructed */
    uint32_t tag;           /* tag number */
    uint8_t first;          /* first identifier octet (class|constructed|tag or 0x1f) */
    uint8_t idlen;          /* identifier octets */
    uint8_t indefinite;     /* 1 if the length was indefinite */
    size_t hdr;             /* identifier + length octets */
    const uint8_t *v;       /* contents (for indefinite: up to, not including, 00 00) */
    size_t vlen;
    size_t total;           /* octets taken from the input, header and EOC included */
} x400i_tlv;

/* Read one TLV at the start of p[0..len).  An indefinite length is followed
 * through nested TLVs (at most `max_depth` levels) to its end-of-contents.
 * X400_OK, or X400_ERR_PARSE (malformed, past the container, too deep) with
 * a reason in *d (layer `layer`; d may be NULL). */
int x400i_ber_read(const uint8_t *p, size_t len, x400i_tlv *t, unsigned max_depth,
                   x400_layer layer, x400_diag *d);

/* 1 if p[0..len) is exactly one well-formed TLV, every constructed value
 * inside it well-formed too (depth-bounded), else 0. */
int x400i_ber_is_one_tlv(const uint8_t *p, size_t len);

/* Rewrite one complete TLV at p[0..len) with definite lengths throughout
 * (constructed values get a computed length, primitive values are copied),
 * appending to *out.  Trailing octets after the TLV are an error.  Bounds:
 * nesting `max_depth`, out->max.  X400_OK, X400_ERR_PARSE (diag says where),
 * X400_ERR_LIMIT (output bound), X400_ERR_NOMEM. */
int x400i_ber_normalise(const uint8_t *p, size_t len, x400i_buf *out, unsigned max_depth,
                        x400_layer layer, x400_diag *d);

/* ---- writer: nested TLVs with lengths patched at the end ----
 * mark = x400i_ber_open(b, id); ... contents ...; x400i_ber_close(b, mark);
 * `id` is the identifier octet (tag numbers 0..30 only).  Each returns
 * X400_OK or X400_ERR_NOMEM / X400_ERR_LIMIT (the buffer's bound). */
int x400i_ber_open(x400i_buf *b, uint8_t id, size_t *mark);
int x400i_ber_close(x400i_buf *b, size_t mark);
/* Identifier + definite length + contents. */
int x400i_ber_put(x400i_buf *b, uint8_t id, const uint8_t *v, size_t len);
int x400i_ber_put_int(x400i_buf *b, uint8_t id, long v);
/* Encode the length octets of `len` into out[0..6); returns their count. */
size_t x400i_ber_len_octets(size_t len, uint8_t out[6]);

/* ---- INTEGER and OBJECT IDENTIFIER contents ---- */
/* Contents octets of an INTEGER -> long.  X400_ERR_PARSE if empty, not
 * minimal-ish (> 8 octets) or out of range. */
int x400i_ber_get_int(const uint8_t *v, size_t len, long *out);
/* OID arcs <-> contents octets. */
int x400i_oid_encode(const uint32_t *arcs, size_t n, uint8_t *out, size_t cap, size_t *outlen);
int x400i_oid_decode(const uint8_t *v, size_t len, uint32_t *arcs, size_t cap, size_t *n);
/* "2.6.0.1.6" from contents octets into buf (always NUL-terminated). */
void x400i_oid_to_text(const uint8_t *v, size_t len, char *buf, size_t cap);

#endif
