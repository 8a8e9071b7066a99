/*
 * Internal helpers shared by the modules of lib/.  Not installed.
 * Cross-file internal symbols use the prefix x400i_ so that the symbol
 * filter (only ^x400_ stays global in libx400p1.a) hides them.
 */
#ifndef X400P1_INTERNAL_H
#define X400P1_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "x400p1/common.h"

#if defined(__GNUC__)
#define X400I_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define X400I_LIKELY(x) __builtin_expect(!!(x), 1)
#define X400I_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define X400I_PRINTF(f, a)
#define X400I_LIKELY(x) (x)
#define X400I_UNLIKELY(x) (x)
#endif

#define X400I_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- allocation (a NULL allocator selects the default) ---- */
const x400_allocator *x400i_alloc_or_default(const x400_allocator *a);
void *x400i_malloc(const x400_allocator *a, size_t n);
void *x400i_calloc(const x400_allocator *a, size_t nmemb, size_t size); /* overflow-checked */
void *x400i_realloc(const x400_allocator *a, void *p, size_t n);
void x400i_free(const x400_allocator *a, void *p);

/* ---- diagnostics ---- */
/* Fill *d (if not NULL) and return `code`, so callers can write
 * `return x400i_diag_set(&o->diag, ...)`. */
int x400i_diag_set(x400_diag *d, x400_layer layer, x400_source source,
                   int code, int reason, const char *fmt, ...) X400I_PRINTF(6, 7);
int x400i_diag_vset(x400_diag *d, x400_layer layer, x400_source source,
                    int code, int reason, const char *fmt, va_list ap) X400I_PRINTF(6, 0);
void x400i_diag_clear(x400_diag *d);
/* The neutral diagnostic (all zero: no failure) that the x400_<obj>_diag()
 * getters return for a NULL object. */
const x400_diag *x400i_diag_none(void);

/* ---- logging ---- */
bool x400i_log_enabled(const x400_logger *lg, x400_log_level level);
void x400i_log(const x400_logger *lg, x400_log_level level, x400_layer layer,
               const char *fmt, ...) X400I_PRINTF(4, 5);
/* Log `len` bytes as hex at TRACE level, prefixed by `what`. */
void x400i_log_hex(const x400_logger *lg, x400_layer layer, const char *what,
                   const uint8_t *p, size_t len);

/* ---- CRC-32 ----
 * The IEEE 802.3 / zlib CRC-32 (reflected polynomial 0xEDB88320, initial
 * value and final xor 0xFFFFFFFF; "123456789" -> 0xCBF43926): the check
 * value of every record the library writes to disk (MTS identifier state,
 * P1 identifier set, RTSE records).  Bitwise; the records are small. */
uint32_t x400i_crc32(const uint8_t *p, size_t n);

/* ---- bounds-checked reader over caller memory ---- */
typedef struct x400i_rd {
    const uint8_t *p;
    size_t len;
    size_t off;
} x400i_rd;

static inline void x400i_rd_init(x400i_rd *r, const uint8_t *p, size_t len)
{
    r->p = p;
    r->len = len;
    r->off = 0;
}
static inline size_t x400i_rd_left(const x400i_rd *r) { return r->len - r->off; }
static inline bool x400i_rd_u8(x400i_rd *r, uint8_t *v)
{
    if (r->off >= r->len) return false;
    *v = r->p[r->off++];
    return true;
}
static inline bool x400i_rd_u16be(x400i_rd *r, uint16_t *v)
{
    if (r->len - r->off < 2) return false;
    *v = (uint16_t)((unsigned)r->p[r->off] << 8 | r->p[r->off + 1]);
    r->off += 2;
    return true;
}
/* Take a view of the next n bytes (no copy). */
static inline bool x400i_rd_bytes(x400i_rd *r, size_t n, const uint8_t **v)
{
    if (r->len - r->off < n) return false;
    *v = r->p + r->off;
    r->off += n;
    return true;
}

/* ---- growable output buffer with a hard upper bound ---- */
typedef struct x400i_buf {
    uint8_t *p;
    size_t len;   /* bytes used */
    size_t cap;   /* bytes allocated */
    size_t max;   /* never grow beyond this (0 = SIZE_MAX) */
    const x400_allocator *alloc;
} x400i_buf;

void x400i_buf_init(x400i_buf *b, const x400_allocator *a, size_t max);
void x400i_buf_free(x400i_buf *b);
/* Ensure room for `extra` more bytes: X400_OK, X400_ERR_NOMEM or X400_ERR_LIMIT. */
int x400i_buf_reserve(x400i_buf *b, size_t extra);
int x400i_buf_append(x400i_buf *b, const void *p, size_t n);
int x400i_buf_put_u8(x400i_buf *b, uint8_t v);
int x400i_buf_put_u16be(x400i_buf *b, uint16_t v);
/* Drop the first n bytes (after they were consumed/sent). */
void x400i_buf_consume(x400i_buf *b, size_t n);
static inline void x400i_buf_reset(x400i_buf *b) { b->len = 0; }

#endif
