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
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

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
    lg->sfd = -1;
    for (int c = 0; c < 3; c++) lg->level[c] = level ? level[c] : -1;
    if (who) snprintf(lg->who, sizeof lg->who, "%s", who);
    if (!lg->who[0]) memcpy(lg->who, "-", 2);
    if (!path || !path[0] || !strcmp(path, "-")) {
        lg->f = stderr;
        return 0;
    }
    if (!strcmp(path, "syslog") || !strncmp(path, "syslog:", 7)) { /* journald or a syslog daemon */
        const char *sock = path[6] ? path + 7 : "/dev/log";
        if (!sock[0] || strlen(sock) >= sizeof lg->sock) {
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(lg->sock, sock, strlen(sock) + 1);
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
    if (lg->sfd >= 0) close(lg->sfd);
    lg->sfd = -1;
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

/* Connect the syslog socket (AF_UNIX, datagrams).  0 or -1. */
static int sys_connect(mta_log *lg)
{
    struct sockaddr_un sa;
    if (lg->sfd >= 0) return 0;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, lg->sock, strlen(lg->sock) + 1);
    lg->sfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (lg->sfd < 0) return -1;
    if (connect(lg->sfd, (const struct sockaddr *)&sa, sizeof sa) != 0) {
        close(lg->sfd);
        lg->sfd = -1;
        return -1;
    }
    return 0;
}

/* One line as an RFC 3164 datagram: "<PRI>Mmm dd hh:mm:ss x400mta[pid]: "
 * (PRI = facility mail * 8 + severity, the time stamp local, as syslog(3)
 * writes it) and the text.  A failed send (the daemon restarted) closes the
 * socket and tries once more on a new one; then the line is dropped. */
static void sys_send(mta_log *lg, const char *text, size_t l)
{
    static const char mon[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    char buf[2048];
    time_t t = time(NULL);
    struct tm tm;
    int h;
    localtime_r(&t, &tm);
    h = snprintf(buf, sizeof buf, "<%d>%s %2d %02d:%02d:%02d x400mta[%ld]: ",
                 LOG_MAIL | sys_prio(lg->cur_level), mon[tm.tm_mon % 12], tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, (long)getpid());
    if (h < 0 || (size_t)h >= sizeof buf) return;
    if (l > sizeof buf - (size_t)h) l = sizeof buf - (size_t)h; /* a long line is cut, as by syslogd */
    memcpy(buf + h, text, l);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (sys_connect(lg) < 0) return;
        if (send(lg->sfd, buf, (size_t)h + l, MSG_NOSIGNAL) >= 0) return;
        close(lg->sfd);
        lg->sfd = -1;
    }
}

/* A record: to the file, or to syslog one message per line without our
 * time stamp (syslog has its own), at the record's priority. */
static void emit(mta_log *lg, const char *line, size_t n)
{
    if (lg->syslog) {
        while (n) {
            const char *nl = memchr(line, '\n', n);
            size_t l = nl ? (size_t)(nl - line) : n;
            /* "2026-11-21T10:00:00.123Z " (24 + 1 characters) left out */
            size_t skip = l > 24 && line[23] == 'Z' && line[24] == ' ' ? 25 : 0;
            sys_send(lg, line + skip, l - skip);
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
