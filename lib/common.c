/* Foundation: error strings, default allocator, diagnostics, logging,
 * bounded buffers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

const char *x400_strerror(int code)
{
    switch ((x400_error)code) {
    case X400_OK: return "success";
    case X400_ERR_INVALID_ARG: return "invalid argument";
    case X400_ERR_NOMEM: return "out of memory";
    case X400_ERR_FULL: return "capacity exhausted";
    case X400_ERR_STALE_HANDLE: return "stale handle";
    case X400_ERR_AGAIN: return "try again";
    case X400_ERR_BUFFER_TOO_SMALL: return "buffer too small";
    case X400_ERR_PARSE: return "malformed input";
    case X400_ERR_TOO_LONG: return "value exceeds its upper bound";
    case X400_ERR_IO: return "system I/O error";
    case X400_ERR_CORRUPT: return "persistent state corrupt";
    case X400_ERR_PROTOCOL: return "protocol error";
    case X400_ERR_STATE: return "state check failure";
    case X400_ERR_LIMIT: return "configured limit exceeded";
    case X400_ERR_REFUSED: return "refused by peer";
    case X400_ERR_CLOSED: return "closed";
    case X400_ERR_UNSUPPORTED: return "not supported";
    case X400_ERR_TIMEOUT: return "timed out";
    case X400_ERR_NOT_FOUND: return "not found";
    case X400_ERR_DUPLICATE: return "duplicate";
    case X400_ERR_FATAL: return "fatal error";
    case X400_ERR_ABORTED: return "association aborted";
    case X400_ERR_CALLBACK_FAILURE: return "user callback failed";
    case X400_ERR_INTERNAL: return "internal error";
    }
    return code > 0 ? "success (count)" : "unknown error";
}

int x400_is_fatal(int code) { return code <= X400_ERR_FATAL; }

const char *x400_version(void) { return X400P1_VERSION; }

/* ---- object identifiers ---- */

int x400_oid_parse(const char *text, x400_oid *out)
{
    if (!text || !out) return X400_ERR_INVALID_ARG;
    x400_oid o = { 0 };
    const char *p = text;
    for (;;) {
        if (*p < '0' || *p > '9') return X400_ERR_PARSE;
        if (*p == '0' && p[1] >= '0' && p[1] <= '9') return X400_ERR_PARSE;
        uint64_t v = 0;
        while (*p >= '0' && *p <= '9') {
            v = v * 10 + (uint64_t)(*p++ - '0');
            if (v > UINT32_MAX) return X400_ERR_TOO_LONG;
        }
        if (o.n >= X400_OID_ARCS_MAX) return X400_ERR_TOO_LONG;
        o.arc[o.n++] = (uint32_t)v;
        if (*p == 0) break;
        if (*p++ != '.') return X400_ERR_PARSE;
    }
    if (o.n < 2 || o.arc[0] > 2 || (o.arc[0] < 2 && o.arc[1] > 39)) return X400_ERR_PARSE;
    *out = o;
    return X400_OK;
}

int x400_oid_format(const x400_oid *o, char *buf, size_t len)
{
    if (!o || !buf || o->n < 2 || o->n > X400_OID_ARCS_MAX) return X400_ERR_INVALID_ARG;
    size_t n = 0;
    for (unsigned i = 0; i < o->n; i++) {
        int k = snprintf(buf + (n < len ? n : len), n < len ? len - n : 0, i ? ".%u" : "%u", (unsigned)o->arc[i]);
        n += (size_t)k;
    }
    if (n >= len) {
        if (len) buf[0] = 0;
        return X400_ERR_BUFFER_TOO_SMALL;
    }
    return (int)n;
}

/* ---- allocator ---- */

static void *std_malloc(size_t n, void *u) { (void)u; return malloc(n); }
static void std_free(void *p, void *u) { (void)u; free(p); }
static void *std_calloc(size_t m, size_t n, void *u) { (void)u; return calloc(m, n); }
static void *std_realloc(void *p, size_t n, void *u) { (void)u; return realloc(p, n); }

static const x400_allocator default_allocator = {
    NULL, std_malloc, std_free, std_calloc, std_realloc
};

uint32_t x400i_crc32(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

const x400_allocator *x400_default_allocator(void) { return &default_allocator; }

const x400_allocator *x400i_alloc_or_default(const x400_allocator *a)
{
    return a ? a : &default_allocator;
}

void *x400i_malloc(const x400_allocator *a, size_t n)
{
    a = x400i_alloc_or_default(a);
    return a->malloc(n ? n : 1, a->user);
}

void *x400i_calloc(const x400_allocator *a, size_t nmemb, size_t size)
{
    a = x400i_alloc_or_default(a);
    if (size && nmemb > SIZE_MAX / size) return NULL;
    if (!nmemb || !size) nmemb = size = 1;
    return a->calloc(nmemb, size, a->user);
}

void *x400i_realloc(const x400_allocator *a, void *p, size_t n)
{
    a = x400i_alloc_or_default(a);
    return a->realloc(p, n ? n : 1, a->user);
}

void x400i_free(const x400_allocator *a, void *p)
{
    if (!p) return;
    a = x400i_alloc_or_default(a);
    a->free(p, a->user);
}

/* ---- diagnostics ---- */

static const char *const layer_names[] = {
    [X400_LAYER_NONE] = "none",
    [X400_LAYER_LPI] = "lpi",
    [X400_LAYER_MTSID] = "mtsid",
    [X400_LAYER_TPKT] = "tpkt",
    [X400_LAYER_TRANSPORT] = "transport",
    [X400_LAYER_SESSION] = "session",
    [X400_LAYER_PRESENTATION] = "presentation",
    [X400_LAYER_ACSE] = "acse",
    [X400_LAYER_RTSE] = "rtse",
    [X400_LAYER_P1] = "p1",
    [X400_LAYER_DRIVER] = "driver",
    [X400_LAYER_SPOOL] = "spool",
    [X400_LAYER_APP] = "app",
};

const char *x400_layer_name(x400_layer layer)
{
    if ((unsigned)layer < X400I_ARRAY_LEN(layer_names) && layer_names[layer])
        return layer_names[layer];
    return "unknown-layer";
}

const char *x400_source_name(x400_source source)
{
    switch (source) {
    case X400_SOURCE_NONE: return "none";
    case X400_SOURCE_LOCAL: return "local";
    case X400_SOURCE_PEER: return "peer";
    case X400_SOURCE_PROVIDER: return "provider";
    }
    return "unknown-source";
}

int x400i_diag_vset(x400_diag *d, x400_layer layer, x400_source source,
                    int code, int reason, const char *fmt, va_list ap)
{
    if (!d) return code;
    d->layer = layer;
    d->source = source;
    d->code = code;
    d->reason = reason;
    d->text[0] = '\0';
    if (fmt) vsnprintf(d->text, sizeof d->text, fmt, ap);
    return code;
}

int x400i_diag_set(x400_diag *d, x400_layer layer, x400_source source,
                   int code, int reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    x400i_diag_vset(d, layer, source, code, reason, fmt, ap);
    va_end(ap);
    return code;
}

void x400i_diag_clear(x400_diag *d)
{
    if (d) memset(d, 0, sizeof *d);
}

const x400_diag *x400i_diag_none(void)
{
    static const x400_diag none;
    return &none;
}

int x400_diag_format(const x400_diag *d, char *buf, size_t len)
{
    if (!d || (!buf && len)) return X400_ERR_INVALID_ARG;
    return snprintf(buf, len, "%s/%s: %s (%s, reason %d)",
                    x400_layer_name(d->layer), x400_source_name(d->source),
                    d->text[0] ? d->text : "no detail", x400_strerror(d->code),
                    d->reason);
}

/* ---- logging ---- */

const char *x400_log_level_name(x400_log_level level)
{
    switch (level) {
    case X400_LOG_ERROR: return "error";
    case X400_LOG_WARNING: return "warning";
    case X400_LOG_NOTICE: return "notice";
    case X400_LOG_INFO: return "info";
    case X400_LOG_DEBUG: return "debug";
    case X400_LOG_TRACE: return "trace";
    }
    return "unknown";
}

bool x400i_log_enabled(const x400_logger *lg, x400_log_level level)
{
    return lg && lg->fn && level <= lg->max_level;
}

void x400i_log(const x400_logger *lg, x400_log_level level, x400_layer layer,
               const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    if (!x400i_log_enabled(lg, level)) return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    lg->fn(lg->user, level, layer, msg);
}

void x400i_log_hex(const x400_logger *lg, x400_layer layer, const char *what,
                   const uint8_t *p, size_t len)
{
    static const char hx[] = "0123456789abcdef";
    char msg[1024];
    size_t o, i;
    int n;
    if (!x400i_log_enabled(lg, X400_LOG_TRACE)) return;
    n = snprintf(msg, sizeof msg, "%s (%zu bytes):", what, len);
    o = n < 0 ? 0 : (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;
    for (i = 0; i < len && o + 4 < sizeof msg - 4; i++) {
        msg[o++] = ' ';
        msg[o++] = hx[p[i] >> 4];
        msg[o++] = hx[p[i] & 15];
    }
    if (i < len) { memcpy(msg + o, " ...", 4); o += 4; }
    msg[o] = '\0';
    lg->fn(lg->user, X400_LOG_TRACE, layer, msg);
}

/* ---- bounded buffer ---- */

void x400i_buf_init(x400i_buf *b, const x400_allocator *a, size_t max)
{
    b->p = NULL;
    b->len = b->cap = 0;
    b->max = max ? max : SIZE_MAX;
    b->alloc = x400i_alloc_or_default(a);
}

void x400i_buf_free(x400i_buf *b)
{
    x400i_free(b->alloc, b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

int x400i_buf_reserve(x400i_buf *b, size_t extra)
{
    size_t need, ncap;
    uint8_t *np;
    if (extra > b->max || b->len > b->max - extra) return X400_ERR_LIMIT;
    need = b->len + extra;
    if (need <= b->cap) return X400_OK;
    ncap = b->cap ? b->cap : 256;
    while (ncap < need) ncap = ncap > SIZE_MAX / 2 ? SIZE_MAX : ncap * 2;
    if (ncap > b->max) ncap = b->max;
    np = x400i_realloc(b->alloc, b->p, ncap);
    if (!np) return X400_ERR_NOMEM;
    b->p = np;
    b->cap = ncap;
    return X400_OK;
}

int x400i_buf_append(x400i_buf *b, const void *p, size_t n)
{
    int rv;
    if (!n) return X400_OK;
    if ((rv = x400i_buf_reserve(b, n)) < 0) return rv;
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return X400_OK;
}

int x400i_buf_put_u8(x400i_buf *b, uint8_t v) { return x400i_buf_append(b, &v, 1); }

int x400i_buf_put_u16be(x400i_buf *b, uint16_t v)
{
    uint8_t t[2] = { (uint8_t)(v >> 8), (uint8_t)v };
    return x400i_buf_append(b, t, 2);
}

void x400i_buf_consume(x400i_buf *b, size_t n)
{
    if (n >= b->len) { b->len = 0; return; }
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
}
