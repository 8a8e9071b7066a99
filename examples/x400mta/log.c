/*
 * x400mta -- categorised logging.
 *
 * Every record is one line (a hex dump: one header line plus its indented
 * continuation lines) built in memory and written with a single fwrite and
 * fflush, so records of several threads or processes appending to the same
 * file do not interleave:
 *     2026-11-21T10:00:00.123Z MTA-A interface notice: session: text
 * The categories follow the Exchange 4.0-5.5 MTA's diagnostics logging: "service"
 * (X.400 service), "interface" (associations and library diagnostics) and
 * "apdu" (hex traces).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "mta.h"

#define HEX_PER_LINE 32
#define HEX_CAP (64u * 1024u) /* octets printed at most per dump */

static const char *const cat_name[] = { "service", "interface", "apdu" };

int mta_log_open(mta_log *lg, const char *path, const int level[3], const char *who)
{
    if (!lg) {
        errno = EINVAL;
        return -1;
    }
    memset(lg, 0, sizeof *lg);
    for (int c = 0; c < 3; c++) lg->level[c] = level ? level[c] : -1;
    if (who) snprintf(lg->who, sizeof lg->who, "%s", who);
    if (!lg->who[0]) memcpy(lg->who, "-", 2);
    if (!path || !path[0] || !strcmp(path, "-")) {
        lg->f = stderr;
        return 0;
    }
    if (!strcmp(path, "syslog")) { /* syslog(3), facility mail: journald or a syslog daemon */
        openlog("x400mta", LOG_PID | LOG_NDELAY, LOG_MAIL);
        lg->syslog = 1;
        return 0;
    }
    lg->f = fopen(path, "a");
    if (!lg->f) return -1;
    lg->own = 1;
    return 0;
}

void mta_log_close(mta_log *lg)
{
    if (!lg) return;
    if (lg->f) fflush(lg->f);
    if (lg->own && lg->f) fclose(lg->f);
    if (lg->syslog) closelog();
    lg->f = NULL;
    lg->own = 0;
    lg->syslog = 0;
}

static int enabled(const mta_log *lg, mta_log_category cat, x400_log_level level)
{
    if (!lg || (!lg->f && !lg->syslog) || (unsigned)cat > MTA_LOG_APDU) return 0;
    return lg->level[cat] >= 0 && (int)level <= lg->level[cat];
}

/* "2026-11-21T10:00:00.123Z MTA-A service info: " into buf; its length. */
static size_t prefix(const mta_log *lg, mta_log_category cat, x400_log_level level, char *buf,
                     size_t cap)
{
    struct timespec ts;
    struct tm tm;
    int n;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s %s: ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L,
                 lg->who, cat_name[cat], x400_log_level_name(level));
    if (n < 0) return 0;
    return (size_t)n < cap ? (size_t)n : cap - 1;
}

/* Control characters would break the one-line-per-record format. */
static void flatten(char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) s[i] = ' ';
}

/* syslog priority of a level */
static int sys_prio(int level)
{
    return level <= X400_LOG_ERROR ? LOG_ERR : level == X400_LOG_WARNING ? LOG_WARNING
           : level == X400_LOG_NOTICE ? LOG_NOTICE : level == X400_LOG_INFO ? LOG_INFO : LOG_DEBUG;
}

/* A record: to the file, or to syslog one message per line without our
 * time stamp (syslog has its own), at the record's priority. */
static void emit(mta_log *lg, const char *line, size_t n)
{
    if (lg->syslog) {
        while (n) {
            const char *nl = memchr(line, '\n', n);
            size_t l = nl ? (size_t)(nl - line) : n;
            size_t skip = l > 25 && line[24] == 'Z' && line[25] == ' ' ? 26 : 0; /* "2026-...Z " */
            syslog(sys_prio(lg->cur_level), "%.*s", (int)(l - skip), line + skip);
            line += l + (nl ? 1 : 0);
            n -= l + (nl ? 1 : 0);
        }
        return;
    }
    fwrite(line, 1, n, lg->f);
    fflush(lg->f);
}

static void vlog(mta_log *lg, mta_log_category cat, x400_log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
static void vlog(mta_log *lg, mta_log_category cat, x400_log_level level, const char *fmt, va_list ap)
{
    char small[1024], *buf = small;
    size_t pre, cap = sizeof small;
    int n;
    va_list ap2;
    lg->cur_level = (int)level;
    pre = prefix(lg, cat, level, small, sizeof small);
    va_copy(ap2, ap);
    n = vsnprintf(small + pre, cap - pre, fmt, ap);
    if (n < 0) {
        va_end(ap2);
        return;
    }
    if ((size_t)n + 2 > cap - pre) {
        char *big = malloc(pre + (size_t)n + 2);
        if (big) {
            memcpy(big, small, pre);
            vsnprintf(big + pre, (size_t)n + 1, fmt, ap2);
            buf = big;
            cap = pre + (size_t)n + 2;
        } else {
            n = (int)(cap - pre - 2); /* truncated, but still one line */
        }
    }
    va_end(ap2);
    flatten(buf + pre, (size_t)n);
    buf[pre + (size_t)n] = '\n';
    emit(lg, buf, pre + (size_t)n + 1);
    if (buf != small) free(buf);
}

void mta_logf(mta_log *lg, mta_log_category cat, x400_log_level level, const char *fmt, ...)
{
    va_list ap;
    if (!enabled(lg, cat, level) || !fmt) return;
    va_start(ap, fmt);
    vlog(lg, cat, level, fmt, ap);
    va_end(ap);
}

void mta_log_hex(mta_log *lg, const char *what, const uint8_t *p, size_t n)
{
    static const char hx[] = "0123456789abcdef";
    char head[512];
    size_t shown = n > HEX_CAP ? HEX_CAP : n, lines, cap, len, i;
    char *buf;
    if (!enabled(lg, MTA_LOG_APDU, X400_LOG_TRACE)) return;
    if (!p) shown = 0;
    len = prefix(lg, MTA_LOG_APDU, X400_LOG_TRACE, head, sizeof head);
    {
        int k = snprintf(head + len, sizeof head - len, "%s (%zu bytes):", what ? what : "APDU", n);
        if (k > 0) len += (size_t)k < sizeof head - len ? (size_t)k : sizeof head - len - 1;
    }
    flatten(head, len);
    lines = (shown + HEX_PER_LINE - 1) / HEX_PER_LINE;
    /* per line: "  " + 6-digit offset + " " + 3 per octet + "\n" */
    cap = len + 1 + lines * (2 + 6 + 1 + 3 * HEX_PER_LINE + 1) + 80;
    buf = malloc(cap);
    if (!buf) { /* no memory for the dump: say so in one line */
        mta_logf(lg, MTA_LOG_APDU, X400_LOG_TRACE, "%s (%zu bytes): not shown (out of memory)",
                what ? what : "APDU", n);
        return;
    }
    memcpy(buf, head, len);
    buf[len++] = '\n';
    for (i = 0; i < shown; i += HEX_PER_LINE) {
        size_t end = i + HEX_PER_LINE < shown ? i + HEX_PER_LINE : shown;
        len += (size_t)snprintf(buf + len, cap - len, "  %06zx", i);
        for (size_t j = i; j < end; j++) {
            buf[len++] = ' ';
            buf[len++] = hx[p[j] >> 4];
            buf[len++] = hx[p[j] & 15];
        }
        buf[len++] = '\n';
    }
    if (shown < n) len += (size_t)snprintf(buf + len, cap - len, "  ... %zu bytes omitted\n", n - shown);
    lg->cur_level = X400_LOG_TRACE;
    emit(lg, buf, len);
    free(buf);
}

/* The library logger's function: PDU traces (TRACE) under apdu, the rest
 * under interface, prefixed with the layer's name. */
static void library_fn(void *user, x400_log_level level, x400_layer layer, const char *message)
{
    mta_log *lg = user;
    mta_log_category cat = level >= X400_LOG_TRACE ? MTA_LOG_APDU : MTA_LOG_INTERFACE;
    if (!enabled(lg, cat, level)) return;
    mta_logf(lg, cat, level, "%s: %s", x400_layer_name(layer), message ? message : "");
}

x400_logger mta_log_library(mta_log *lg)
{
    x400_logger l;
    int max = -1;
    memset(&l, 0, sizeof l);
    if (!lg) return l;
    if (lg->level[MTA_LOG_INTERFACE] >= 0) max = lg->level[MTA_LOG_INTERFACE];
    if (lg->level[MTA_LOG_APDU] >= X400_LOG_TRACE) max = X400_LOG_TRACE;
    if (max < 0) return l; /* both off: the library formats nothing */
    l.fn = library_fn;
    l.user = lg;
    l.max_level = (x400_log_level)max;
    return l;
}

void mta_log_diag(mta_log *lg, x400_log_level level, const char *context, const x400_diag *d)
{
    if (!enabled(lg, MTA_LOG_INTERFACE, level)) return;
    if (!d) {
        mta_logf(lg, MTA_LOG_INTERFACE, level, "%s: no diagnostic", context ? context : "");
        return;
    }
    {
        size_t tl = strnlen(d->text, sizeof d->text); /* text may lack its NUL */
        const char *t = tl ? d->text : "no detail";
        mta_logf(lg, MTA_LOG_INTERFACE, level, "%s: %s/%s/%s (%d)/%d: %.*s", context ? context : "",
                x400_layer_name(d->layer), x400_source_name(d->source), x400_strerror(d->code),
                d->code, d->reason, (int)(tl ? tl : strlen(t)), t);
    }
}
