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

/* CRC-32 of each octet value (reflected polynomial 0xEDB88320): a table
 * lookup per octet instead of eight shift steps -- the RTSE receiver record
 * is checksummed at every activity start and end (doc/performance.md,
 * "CPU per message"). */
static const uint32_t crc32_table[256] = {
    0x00000000u, 0x77073096u, 0xEE0E612Cu, 0x990951BAu, 0x076DC419u, 0x706AF48Fu,
    0xE963A535u, 0x9E6495A3u, 0x0EDB8832u, 0x79DCB8A4u, 0xE0D5E91Eu, 0x97D2D988u,
    0x09B64C2Bu, 0x7EB17CBDu, 0xE7B82D07u, 0x90BF1D91u, 0x1DB71064u, 0x6AB020F2u,
    0xF3B97148u, 0x84BE41DEu, 0x1ADAD47Du, 0x6DDDE4EBu, 0xF4D4B551u, 0x83D385C7u,
    0x136C9856u, 0x646BA8C0u, 0xFD62F97Au, 0x8A65C9ECu, 0x14015C4Fu, 0x63066CD9u,
    0xFA0F3D63u, 0x8D080DF5u, 0x3B6E20C8u, 0x4C69105Eu, 0xD56041E4u, 0xA2677172u,
    0x3C03E4D1u, 0x4B04D447u, 0xD20D85FDu, 0xA50AB56Bu, 0x35B5A8FAu, 0x42B2986Cu,
    0xDBBBC9D6u, 0xACBCF940u, 0x32D86CE3u, 0x45DF5C75u, 0xDCD60DCFu, 0xABD13D59u,
    0x26D930ACu, 0x51DE003Au, 0xC8D75180u, 0xBFD06116u, 0x21B4F4B5u, 0x56B3C423u,
    0xCFBA9599u, 0xB8BDA50Fu, 0x2802B89Eu, 0x5F058808u, 0xC60CD9B2u, 0xB10BE924u,
    0x2F6F7C87u, 0x58684C11u, 0xC1611DABu, 0xB6662D3Du, 0x76DC4190u, 0x01DB7106u,
    0x98D220BCu, 0xEFD5102Au, 0x71B18589u, 0x06B6B51Fu, 0x9FBFE4A5u, 0xE8B8D433u,
    0x7807C9A2u, 0x0F00F934u, 0x9609A88Eu, 0xE10E9818u, 0x7F6A0DBBu, 0x086D3D2Du,
    0x91646C97u, 0xE6635C01u, 0x6B6B51F4u, 0x1C6C6162u, 0x856530D8u, 0xF262004Eu,
    0x6C0695EDu, 0x1B01A57Bu, 0x8208F4C1u, 0xF50FC457u, 0x65B0D9C6u, 0x12B7E950u,
    0x8BBEB8EAu, 0xFCB9887Cu, 0x62DD1DDFu, 0x15DA2D49u, 0x8CD37CF3u, 0xFBD44C65u,
    0x4DB26158u, 0x3AB551CEu, 0xA3BC0074u, 0xD4BB30E2u, 0x4ADFA541u, 0x3DD895D7u,
    0xA4D1C46Du, 0xD3D6F4FBu, 0x4369E96Au, 0x346ED9FCu, 0xAD678846u, 0xDA60B8D0u,
    0x44042D73u, 0x33031DE5u, 0xAA0A4C5Fu, 0xDD0D7CC9u, 0x5005713Cu, 0x270241AAu,
    0xBE0B1010u, 0xC90C2086u, 0x5768B525u, 0x206F85B3u, 0xB966D409u, 0xCE61E49Fu,
    0x5EDEF90Eu, 0x29D9C998u, 0xB0D09822u, 0xC7D7A8B4u, 0x59B33D17u, 0x2EB40D81u,
    0xB7BD5C3Bu, 0xC0BA6CADu, 0xEDB88320u, 0x9ABFB3B6u, 0x03B6E20Cu, 0x74B1D29Au,
    0xEAD54739u, 0x9DD277AFu, 0x04DB2615u, 0x73DC1683u, 0xE3630B12u, 0x94643B84u,
    0x0D6D6A3Eu, 0x7A6A5AA8u, 0xE40ECF0Bu, 0x9309FF9Du, 0x0A00AE27u, 0x7D079EB1u,
    0xF00F9344u, 0x8708A3D2u, 0x1E01F268u, 0x6906C2FEu, 0xF762575Du, 0x806567CBu,
    0x196C3671u, 0x6E6B06E7u, 0xFED41B76u, 0x89D32BE0u, 0x10DA7A5Au, 0x67DD4ACCu,
    0xF9B9DF6Fu, 0x8EBEEFF9u, 0x17B7BE43u, 0x60B08ED5u, 0xD6D6A3E8u, 0xA1D1937Eu,
    0x38D8C2C4u, 0x4FDFF252u, 0xD1BB67F1u, 0xA6BC5767u, 0x3FB506DDu, 0x48B2364Bu,
    0xD80D2BDAu, 0xAF0A1B4Cu, 0x36034AF6u, 0x41047A60u, 0xDF60EFC3u, 0xA867DF55u,
    0x316E8EEFu, 0x4669BE79u, 0xCB61B38Cu, 0xBC66831Au, 0x256FD2A0u, 0x5268E236u,
    0xCC0C7795u, 0xBB0B4703u, 0x220216B9u, 0x5505262Fu, 0xC5BA3BBEu, 0xB2BD0B28u,
    0x2BB45A92u, 0x5CB36A04u, 0xC2D7FFA7u, 0xB5D0CF31u, 0x2CD99E8Bu, 0x5BDEAE1Du,
    0x9B64C2B0u, 0xEC63F226u, 0x756AA39Cu, 0x026D930Au, 0x9C0906A9u, 0xEB0E363Fu,
    0x72076785u, 0x05005713u, 0x95BF4A82u, 0xE2B87A14u, 0x7BB12BAEu, 0x0CB61B38u,
    0x92D28E9Bu, 0xE5D5BE0Du, 0x7CDCEFB7u, 0x0BDBDF21u, 0x86D3D2D4u, 0xF1D4E242u,
    0x68DDB3F8u, 0x1FDA836Eu, 0x81BE16CDu, 0xF6B9265Bu, 0x6FB077E1u, 0x18B74777u,
    0x88085AE6u, 0xFF0F6A70u, 0x66063BCAu, 0x11010B5Cu, 0x8F659EFFu, 0xF862AE69u,
    0x616BFFD3u, 0x166CCF45u, 0xA00AE278u, 0xD70DD2EEu, 0x4E048354u, 0x3903B3C2u,
    0xA7672661u, 0xD06016F7u, 0x4969474Du, 0x3E6E77DBu, 0xAED16A4Au, 0xD9D65ADCu,
    0x40DF0B66u, 0x37D83BF0u, 0xA9BCAE53u, 0xDEBB9EC5u, 0x47B2CF7Fu, 0x30B5FFE9u,
    0xBDBDF21Cu, 0xCABAC28Au, 0x53B39330u, 0x24B4A3A6u, 0xBAD03605u, 0xCDD70693u,
    0x54DE5729u, 0x23D967BFu, 0xB3667A2Eu, 0xC4614AB8u, 0x5D681B02u, 0x2A6F2B94u,
    0xB40BBE37u, 0xC30C8EA1u, 0x5A05DF1Bu, 0x2D02EF8Du,
};

uint32_t x400i_crc32(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = crc32_table[(c ^ p[i]) & 0xFFu] ^ (c >> 8);
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
