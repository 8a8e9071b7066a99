/* Internals of the P1 codec (lib/p1.c, lib/p1_bind.c, lib/orname.c): the
 * decoding context, the arena decoded values live in, the P1 value readers
 * (lib/ber.c's contents codecs with P1 diagnostics) and the sub-codecs the
 * three files share.  All BER goes through lib/ber.h.  Not installed. */
#ifndef X400P1_P1_INT_H
#define X400P1_P1_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ber.h"
#include "internal.h"
#include "x400p1/p1.h"

/* Decoding context: limits, diagnostics, the arena that receives copies. */
typedef struct x400i_p1_arena x400i_p1_arena;
typedef struct x400i_dec {
    x400_diag *diag;
    const x400_p1_limits *lim;
    x400i_p1_arena *arena;
    int ext_forms;     /* bit 1 << x400_p1_ext_form of every ExtensionField
                          seen; bit 2: the internal trace was seen */
    x400_p1_ext_form first_ext_form; /* the APDU's form (x400_p1_apdu.ext_form) */
} x400i_dec;

/* Diagnostic on layer P1, source PEER; returns `code`. */
int x400i_p1_err(x400_diag *d, int code, int reason, const char *fmt, ...)
    X400I_PRINTF(4, 5);

/* The children of a constructed TLV (x400i_ber_child on layer P1). */
static inline int x400i_p1_child(const x400i_tlv *parent, size_t *off, x400i_tlv *child,
                                 x400_diag *diag)
{
    return x400i_ber_child(parent, off, child, X400_LAYER_P1, diag);
}

/* Count the children of a constructed TLV, failing (X400_ERR_LIMIT,
 * `reason`) as soon as more than `max` are seen. */
int x400i_p1_count(const x400i_tlv *parent, size_t max, int reason, const char *what,
                   x400_diag *diag);

/* The bounded pre-scan of an MTS-APDU or bind PDU: at most lim->max_pdu
 * octets, then x400i_ber_prescan with lim->max_depth and lim->max_elements;
 * the whole input must be the one TLV. */
int x400i_p1_prescan(const uint8_t *p, size_t len, const x400_p1_limits *lim, x400_diag *diag);

/* Primitive values: X400_OK or X400_ERR_PARSE, reason X400_P1_R_VALUE,
 * with a diagnostic naming `what`. */
int x400i_p1_int(const x400i_tlv *t, int64_t lo, int64_t hi, int64_t *out, const char *what,
                 x400_diag *diag);
/* BIT STRING into bit i -> (1u << i) for the first 16 bits. */
int x400i_p1_bits(const x400i_tlv *t, uint32_t *out, const char *what, x400_diag *diag);
/* Copy a character string of a given type into out[cap] (NUL-terminated),
 * checking size lo..hi and the character set. */
int x400i_p1_str(const x400i_tlv *t, unsigned strtype, size_t lo, size_t hi, char *out,
                 size_t cap, const char *what, x400_diag *diag);
int x400i_p1_time(const x400i_tlv *t, int64_t *out, const char *what, x400_diag *diag);
int x400i_p1_oid(const x400i_tlv *t, x400_oid *out, const char *what, x400_diag *diag);

/* ---- arena (decoded objects own their memory through it) ---- */
x400i_p1_arena *x400i_arena_new(const x400_allocator *a);
void x400i_arena_free(x400i_p1_arena *ar);
void *x400i_arena_alloc(x400i_p1_arena *ar, size_t n); /* zeroed, 16-aligned */

/* Shared P1 sub-codecs (lib/p1.c) used by lib/orname.c and lib/p1_bind.c. */
int x400i_gdi_decode(const x400i_tlv *t, x400_gdi *out, x400_diag *diag);
void x400i_gdi_encode(x400i_bw *w, const x400_gdi *g);
int x400i_country_decode(const x400i_tlv *t, char out[4], x400_diag *diag);
void x400i_country_encode(x400i_bw *w, const char *c);
int x400i_admd_decode(const x400i_tlv *t, char *out, unsigned char *numeric,
                      x400_diag *diag);
void x400i_admd_encode(x400i_bw *w, const char *admd, int numeric);

/* ORName (lib/orname.c): the TLV is the [APPLICATION 0] ORName itself;
 * x400i_orname_encode writes [APPLICATION 0] unless `implicit_tag` is
 * non-zero, in which case that tag (cls|CONS, num) replaces it. */
int x400i_orname_decode(x400i_dec *dc, const x400i_tlv *t, x400_orname *out);
void x400i_orname_encode(x400i_bw *w, const x400_orname *n, uint8_t cls,
                         uint32_t num);

#endif
