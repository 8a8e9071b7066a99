/* Internal BER toolkit of the P1 codec (X.690 basic encoding rules):
 * a strict TLV reader (definite and indefinite lengths, bounded depth),
 * the bounded pre-scan run before any decoding, and a reverse writer that
 * builds an encoding from its end so that every length is known when it is
 * written (one pass, no length recomputation).  Not installed. */
#ifndef X400P1_P1_BER_H
#define X400P1_P1_BER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "x400p1/p1.h"

/* Tag classes as they appear in the identifier octet. */
#define X400I_P1BER_UNIV 0x00u
#define X400I_P1BER_APP 0x40u
#define X400I_P1BER_CTX 0x80u
#define X400I_P1BER_CONS 0x20u

/* Universal tag numbers used by P1. */
enum {
    X400I_U_BOOLEAN = 1, X400I_U_INTEGER = 2, X400I_U_BITSTRING = 3,
    X400I_U_OCTETSTRING = 4, X400I_U_NULL = 5, X400I_U_OID = 6,
    X400I_U_ENUMERATED = 10, X400I_U_SEQUENCE = 16, X400I_U_SET = 17,
    X400I_U_NUMERIC = 18, X400I_U_PRINTABLE = 19, X400I_U_TELETEX = 20,
    X400I_U_IA5 = 22, X400I_U_UTCTIME = 23
};

/* One decoded TLV.  `v`/`vlen` is the contents (for an indefinite length:
 * the contents before the end-of-contents octets); `raw`/`rawlen` the
 * whole element including identifier, length and end-of-contents. */
typedef struct x400i_p1tlv {
    uint8_t cls;       /* X400I_P1BER_UNIV/APP/CTX or 0xC0 (private) */
    bool cons;
    uint32_t num;      /* tag number */
    const uint8_t *v;
    size_t vlen;
    const uint8_t *raw;
    size_t rawlen;
    bool indefinite;
} x400i_p1tlv;

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

/* Read the TLV at p[0..len).  Returns X400_OK or X400_ERR_PARSE (detail in
 * *diag, layer P1, reason X400_P1_R_SYNTAX).  Depth is bounded by
 * `depth_left` (nested indefinite-length values are walked to find their
 * end). */
int x400i_p1ber_read(const uint8_t *p, size_t len, x400i_p1tlv *t,
                   unsigned depth_left, x400_diag *diag);

/* Iterate the children of a constructed TLV: *off starts at 0. Returns 1 and
 * the child, 0 at the end, or a negative error. */
int x400i_p1ber_child(const x400i_p1tlv *parent, size_t *off, x400i_p1tlv *child,
                    x400_diag *diag);

/* Count the children of a constructed TLV, failing (X400_ERR_LIMIT,
 * `reason`) as soon as more than `max` are seen. */
int x400i_p1ber_count(const x400i_p1tlv *parent, size_t max, int reason,
                    const char *what, x400_diag *diag);

/* The bounded pre-scan: the whole input must be exactly one TLV, nesting at
 * most lim->max_depth, at most lim->max_elements TLVs in total, every length
 * inside its parent, every indefinite length terminated.  Nothing is
 * allocated. */
int x400i_p1ber_prescan(const uint8_t *p, size_t len, const x400_p1_limits *lim,
                      x400_diag *diag);

static inline bool x400i_p1tlv_is(const x400i_p1tlv *t, uint8_t cls, uint32_t num)
{
    return t->cls == cls && t->num == num;
}

/* Primitive readers: X400_OK or X400_ERR_PARSE with a diagnostic naming
 * `what`. */
int x400i_p1ber_int(const x400i_p1tlv *t, int64_t lo, int64_t hi, int64_t *out,
                  const char *what, x400_diag *diag);
/* BIT STRING into bit i -> (1u << i) for the first 16 bits; longer strings
 * must carry only zero bits past 16 (unless `lenient`). */
int x400i_p1ber_bits(const x400i_p1tlv *t, uint32_t *out, const char *what,
                   x400_diag *diag);
/* Copy a character string of a given type into out[cap] (NUL-terminated),
 * checking size lo..hi and the character set. */
int x400i_p1ber_str(const x400i_p1tlv *t, unsigned strtype, size_t lo, size_t hi,
                  char *out, size_t cap, const char *what, x400_diag *diag);
int x400i_p1ber_time(const x400i_p1tlv *t, int64_t *out, const char *what,
                   x400_diag *diag);
int x400i_p1ber_oid(const x400i_p1tlv *t, x400_oid *out, const char *what,
                  x400_diag *diag);

/* Character sets (X.680 41): 1 when every byte of s[0..n) belongs. */
bool x400i_charset_ok(unsigned strtype, const char *s, size_t n);

/* ---- reverse writer ---- */
typedef struct x400i_bw {
    uint8_t *buf;
    size_t cap;
    size_t pos;        /* output is buf[pos..cap) */
    bool growable;     /* buffer owned by us (allocator) */
    const x400_allocator *alloc;
    int err;           /* first error (sticky) */
    x400_diag *diag;
    x400_p1_ext_form ext_form; /* form of the ExtensionField type we build */
} x400i_bw;

void x400i_bw_init_fixed(x400i_bw *w, uint8_t *buf, size_t cap, x400_diag *d);
int x400i_bw_init_alloc(x400i_bw *w, const x400_allocator *a, size_t hint,
                        x400_diag *d);
static inline size_t x400i_bw_len(const x400i_bw *w) { return w->cap - w->pos; }
void x400i_bw_bytes(x400i_bw *w, const void *p, size_t n);
void x400i_bw_byte(x400i_bw *w, uint8_t b);
/* Prepend identifier + length for the contents written since `mark`
 * (x400i_bw_len() before the contents). */
void x400i_bw_wrap(x400i_bw *w, size_t mark, uint8_t cls_cons, uint32_t num);
/* Primitive helpers (tag given as class|constructed bits + number). */
void x400i_bw_prim(x400i_bw *w, uint8_t cls, uint32_t num, const void *p, size_t n);
void x400i_bw_int(x400i_bw *w, uint8_t cls, uint32_t num, int64_t v);
void x400i_bw_bits(x400i_bw *w, uint8_t cls, uint32_t num, uint32_t bits,
                   unsigned min_bits);
void x400i_bw_time(x400i_bw *w, uint8_t cls, uint32_t num, int64_t t);
void x400i_bw_oid(x400i_bw *w, uint8_t cls, uint32_t num, const x400_oid *o);
/* Record the first failure. */
void x400i_bw_fail(x400i_bw *w, int code, int reason, const char *fmt, ...)
    X400I_PRINTF(4, 5);

/* ---- arena (decoded objects own their memory through it) ---- */
x400i_p1_arena *x400i_arena_new(const x400_allocator *a);
void x400i_arena_free(x400i_p1_arena *ar);
void *x400i_arena_alloc(x400i_p1_arena *ar, size_t n); /* zeroed, 16-aligned */

/* Shared P1 sub-codecs (lib/p1.c) used by lib/orname.c and lib/p1_bind.c. */
int x400i_p1_err(x400_diag *d, int code, int reason, const char *fmt, ...)
    X400I_PRINTF(4, 5);
int x400i_gdi_decode(const x400i_p1tlv *t, x400_gdi *out, x400_diag *diag);
void x400i_gdi_encode(x400i_bw *w, const x400_gdi *g);
int x400i_country_decode(const x400i_p1tlv *t, char out[4], x400_diag *diag);
void x400i_country_encode(x400i_bw *w, const char *c);
int x400i_admd_decode(const x400i_p1tlv *t, char *out, unsigned char *numeric,
                      x400_diag *diag);
void x400i_admd_encode(x400i_bw *w, const char *admd, int numeric);

/* ORName (lib/orname.c): the TLV is the [APPLICATION 0] ORName itself;
 * x400i_orname_encode writes [APPLICATION 0] unless `implicit_tag` is
 * non-zero, in which case that tag (cls|CONS, num) replaces it. */
int x400i_orname_decode(x400i_dec *dc, const x400i_p1tlv *t, x400_orname *out);
void x400i_orname_encode(x400i_bw *w, const x400_orname *n, uint8_t cls,
                         uint32_t num);

#endif
