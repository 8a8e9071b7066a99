/*
 * Optional POSIX driver: TCP sockets + epoll(7) (poll(2) where there is no
 * epoll) around sans-I/O associations.  The only file of lib/ that touches
 * sockets.
 *
 * A turn costs O(connections that made progress) in the kernel: with epoll
 * the interest set is kept in the kernel and changed only when a
 * connection's wish changes (readable; writable while output is pending),
 * so 10,000 idle associations do not slow down the setup of the next one.
 * In user space a turn looks only at the connections on the dirty list:
 * those that had readiness in the previous turn, new ones, those still
 * connecting (their deadline), and those the application flagged with
 * x400_driver_want_write.  With notify_output off (the default) or with
 * poll(2), every connection is put on it each turn, as the application did
 * not promise to flag its output.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4 */
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#ifdef __linux__
#include <sys/epoll.h>
#define X400I_EPOLL 1
#endif

#include "x400p1/driver.h"
#include "internal.h"

enum conn_state { C_FREE = 0, C_CONNECTING, C_OPEN };

struct conn {
    enum conn_state st;
    int fd;
    x400_assoc *a;
    x400_lpi_handle h;
    int outbound;
    struct addrinfo *ai_list;  /* outbound: every address of the host */
    struct addrinfo *ai_cur;   /* the one being tried */
    double deadline;           /* connect deadline (monotonic s) */
    x400_diag last_err;        /* why the previous address failed */
    uint32_t serial;           /* of the current socket: stale readiness is ignored */
    uint32_t ev;               /* epoll: the events registered for fd (0: none) */
    int dirty;                 /* on the dirty list (kept across a reuse of the entry) */
    int fresh;                 /* connect() issued, the first send not tried yet */
    int connected_now;         /* connect() returned 0 without Fast Open: up already */
    int tfo_deferred;          /* TCP Fast Open: the SYN goes out with the first send */
    int nodelay_owed;          /* outbound: TCP_NODELAY not set yet (after the CR) */
    int in_syn;                /* ... and it did, with early_sent octets */
    size_t early_sent;         /* octets of the pending output sent before the
                                  handshake was known to be over, not yet given to
                                  x400_assoc_sent (the connect may fail and the next
                                  address needs them again) */
};

/* One source address under the per-source limit of info lines. */
struct srclog {
    char addr[INET6_ADDRSTRLEN + 2];
    double start;              /* its interval began (0: a free entry) */
    unsigned lines;            /* logged in the interval */
    uint64_t suppressed;       /* left out in the interval */
};

struct x400_driver {
    x400_driver_config cfg;
    x400_driver_callbacks cb;
    x400_driver_activity_fn activity;
    int wake_fd;               /* x400_driver_set_wake_fd, -1: none */
    const x400_allocator *alloc;
    x400_lpi *lpi;
    struct conn *conns;        /* cfg.max_conns entries */
    int *listeners;
    size_t nlisteners;
    struct pollfd *pfd;        /* poll: listeners + conns */
    struct conn **pconn;       /* conn of each pollfd (NULL: listener) */
    size_t npfd;
    uint32_t serial;
#ifdef X400I_EPOLL
    int epfd;
    struct epoll_event *evs;   /* max_conns + max_listeners */
#endif
    size_t *free_slots;        /* stack of free entries of conns (O(1) allocation) */
    /* Entries to look at in the next turn (each at most once, plus those
     * seen in this turn and flagged again: 2 * max_conns at most). */
    size_t *dirty;
    size_t ndirty;
    size_t nfree;
    size_t nconns, ninbound;
    uint64_t refused;          /* inbound connections closed at accept */
    uint64_t refused_unlogged; /* ... of them not logged yet (rate limit) */
    double refused_logged_at;
    uint64_t visits;           /* connections examined by x400_driver_run */
    uint64_t turns;            /* x400_driver_run calls */
    uint64_t waits;            /* ... of them that called epoll_wait / poll */
    size_t accept_burst;       /* connections accepted per readiness at most (on_accept) */
    uint64_t accept_full_turn; /* the last turn a listener used up its burst */
    struct srclog *srclog;     /* cfg.info_log_sources entries */
    size_t srclog_owing;       /* entries with lines left out, summary not yet logged */
    uint64_t log_suppressed;
    x400_diag diag;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -1;
    return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static void addr_text(const struct sockaddr *sa, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
        port = ntohs(s4->sin_port);
        snprintf(buf, len, "%s:%u", host, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
        port = ntohs(s6->sin6_port);
        snprintf(buf, len, "[%s]:%u", host, port);
    } else {
        snprintf(buf, len, "(family %d)", sa->sa_family);
    }
}

static int io_error(x400_driver *d, x400_diag *dg, int err, const char *what, const char *where)
{
    return x400i_diag_set(dg ? dg : &d->diag, X400_LAYER_DRIVER, X400_SOURCE_PROVIDER,
                          X400_ERR_IO, err, "%s %s: %s", what, where, strerror(err));
}

void x400_driver_config_init(x400_driver_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->max_conns = 64;
    cfg->table_id = 1;
    cfg->connect_timeout_ms = 10000;
    cfg->max_listeners = 8;
    cfg->log.max_level = X400_LOG_INFO;
    cfg->info_log_lines = 5;
    cfg->info_log_interval_ms = 60000;
    cfg->info_log_sources = 64;
}

/* ---- the per-source limit of info lines (per driver: no static state) ---- */

/* The summary of an entry whose interval is over; the entry is free again. */
static void srclog_close(x400_driver *d, struct srclog *e, double now)
{
    if (e->suppressed) {
        x400i_log(&d->cfg.log, X400_LOG_INFO, X400_LAYER_DRIVER,
                  "%llu more lines about %s left out in the last %.0f s (at most %u per %u ms)",
                  (unsigned long long)e->suppressed, e->addr, now - e->start,
                  d->cfg.info_log_lines, d->cfg.info_log_interval_ms);
        d->srclog_owing--;
    }
    memset(e, 0, sizeof *e);
}

/* The summaries of the intervals that are over (each turn while some are
 * owed). */
static void srclog_expire(x400_driver *d, double now)
{
    double iv = d->cfg.info_log_interval_ms / 1000.0;
    for (size_t i = 0; d->srclog_owing && i < d->cfg.info_log_sources; i++)
        if (d->srclog[i].start > 0 && now - d->srclog[i].start >= iv) srclog_close(d, &d->srclog[i], now);
}

/* An info or debug line about the peer `addr` ("host:port" or
 * "[v6]:port"; keyed without the port), within the per-source limit. */
X400I_PRINTF(4, 5)
static void info_log(x400_driver *d, x400_log_level level, const char *addr, const char *fmt, ...)
{
    char key[sizeof d->srclog->addr], line[256];
    const char *colon = strrchr(addr, ':');
    size_t klen = colon ? (size_t)(colon - addr) : strlen(addr);
    struct srclog *e = NULL, *free_e = NULL, *oldest = NULL;
    double now, iv;
    va_list ap;
    if (!x400i_log_enabled(&d->cfg.log, level)) return;
    if (d->srclog && d->cfg.info_log_lines) {
        now = now_s();
        iv = d->cfg.info_log_interval_ms / 1000.0;
        if (klen >= sizeof key) klen = sizeof key - 1;
        memcpy(key, addr, klen);
        key[klen] = 0;
        for (size_t i = 0; i < d->cfg.info_log_sources; i++) {
            struct srclog *x = &d->srclog[i];
            if (x->start > 0 && now - x->start >= iv) srclog_close(d, x, now);
            if (x->start > 0 && !strcmp(x->addr, key)) e = x;
            else if (x->start <= 0 && !free_e) free_e = x;
            else if (x->start > 0 && (!oldest || x->start < oldest->start)) oldest = x;
        }
        if (!e) {
            e = free_e ? free_e : oldest; /* full: the one whose interval began first gives way */
            if (!free_e) srclog_close(d, e, now);
            memcpy(e->addr, key, klen + 1);
            e->start = now;
        }
        if (e->lines >= d->cfg.info_log_lines) {
            if (!e->suppressed++) d->srclog_owing++;
            d->log_suppressed++;
            return;
        }
        e->lines++;
    }
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    x400i_log(&d->cfg.log, level, X400_LAYER_DRIVER, "%s", line);
}

int x400_driver_new(x400_driver **out, const x400_driver_config *cfg,
                    const x400_driver_callbacks *cb, const x400_allocator *alloc)
{
    x400_driver *d;
    x400_driver_config def;
    size_t npoll;
    int rv;
    if (!out || !cb) return X400_ERR_INVALID_ARG;
    *out = NULL;
    if (!cfg) { x400_driver_config_init(&def); cfg = &def; }
    if (!cfg->max_conns || !cfg->max_listeners) return X400_ERR_INVALID_ARG;
    alloc = x400i_alloc_or_default(alloc);
    d = x400i_calloc(alloc, 1, sizeof *d);
    if (!d) return X400_ERR_NOMEM;
    d->cfg = *cfg;
    d->cb = *cb;
    d->alloc = alloc;
#ifdef X400I_EPOLL
    d->epfd = -1;
#endif
    d->wake_fd = -1;
    npoll = cfg->max_conns + cfg->max_listeners + 1; /* + the wake-up descriptor */
    d->conns = x400i_calloc(alloc, cfg->max_conns, sizeof *d->conns);
    d->listeners = x400i_calloc(alloc, cfg->max_listeners, sizeof *d->listeners);
    d->pfd = x400i_calloc(alloc, npoll, sizeof *d->pfd);
    d->pconn = x400i_calloc(alloc, npoll, sizeof *d->pconn);
    d->free_slots = x400i_calloc(alloc, cfg->max_conns, sizeof *d->free_slots);
    d->dirty = x400i_calloc(alloc, 2 * cfg->max_conns, sizeof *d->dirty);
    if (!d->cfg.info_log_sources) d->cfg.info_log_sources = 64;
    if (!d->cfg.info_log_interval_ms) d->cfg.info_log_interval_ms = 60000;
    d->srclog = x400i_calloc(alloc, d->cfg.info_log_sources, sizeof *d->srclog);
    if (d->cfg.tfo_queue_len <= 0) d->cfg.tfo_queue_len = 64;
#ifdef X400I_EPOLL
    d->evs = x400i_calloc(alloc, npoll, sizeof *d->evs);
    d->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (d->epfd < 0) {
        rv = io_error(d, NULL, errno, "epoll_create1", "");
        x400_driver_free(d);
        return rv;
    }
    if (!d->evs) {
        x400_driver_free(d);
        return X400_ERR_NOMEM;
    }
#endif
    if (!d->conns || !d->listeners || !d->pfd || !d->pconn || !d->free_slots || !d->dirty ||
        !d->srclog) {
        x400_driver_free(d);
        return X400_ERR_NOMEM;
    }
    for (size_t i = cfg->max_conns; i-- > 0;) d->free_slots[d->nfree++] = i;
    rv = x400_lpi_new(&d->lpi, cfg->table_id, (uint32_t)cfg->max_conns, alloc);
    if (rv < 0) {
        x400_driver_free(d);
        return rv;
    }
    *out = d;
    return X400_OK;
}

/* The entry is looked at in the next turn (once however often it is flagged). */
static void mark_dirty(x400_driver *d, struct conn *c)
{
    if (c->dirty) return;
    c->dirty = 1;
    d->dirty[d->ndirty++] = (size_t)(c - d->conns);
}

static void conn_release(x400_driver *d, struct conn *c)
{
    int dirty = c->dirty; /* still on the list: skipped there as free */
    if (c->fd >= 0) close(c->fd);
    if (c->ai_list) freeaddrinfo(c->ai_list);
    x400_lpi_close(d->lpi, c->h, NULL, NULL);
    if (!c->outbound) d->ninbound--;
    memset(c, 0, sizeof *c);
    c->dirty = dirty;
    c->fd = -1;
    c->st = C_FREE;
    d->nconns--;
    d->free_slots[d->nfree++] = (size_t)(c - d->conns);
}

void x400_driver_free(x400_driver *d)
{
    if (!d) return;
    if (d->conns && d->lpi)
        for (size_t i = 0; i < d->cfg.max_conns; i++)
            if (d->conns[i].st != C_FREE) conn_release(d, &d->conns[i]);
    for (size_t i = 0; i < d->nlisteners; i++) close(d->listeners[i]);
    /* the lines left out in intervals not over yet are summed up now, not
     * lost with the driver */
    if (d->srclog && d->srclog_owing) {
        double now = now_s();
        for (size_t i = 0; d->srclog_owing && i < d->cfg.info_log_sources; i++)
            if (d->srclog[i].start > 0) srclog_close(d, &d->srclog[i], now);
    }
    x400_lpi_free(d->lpi);
    x400i_free(d->alloc, d->conns);
    x400i_free(d->alloc, d->listeners);
    x400i_free(d->alloc, d->pfd);
    x400i_free(d->alloc, d->pconn);
    x400i_free(d->alloc, d->free_slots);
    x400i_free(d->alloc, d->dirty);
    x400i_free(d->alloc, d->srclog);
#ifdef X400I_EPOLL
    if (d->epfd >= 0) close(d->epfd);
    x400i_free(d->alloc, d->evs);
#endif
    x400i_free(d->alloc, d);
}

int x400_driver_listen(x400_driver *d, const char *host, const char *port)
{
    struct addrinfo hints, *res = NULL, *ai;
    int rv, bound = 0, last_errno = 0;
    char where[80];
    if (!d || !port) return X400_ERR_INVALID_ARG;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    rv = getaddrinfo(host, port, &hints, &res);
    if (rv != 0)
        return x400i_diag_set(&d->diag, X400_LAYER_DRIVER, X400_SOURCE_LOCAL, X400_ERR_NOT_FOUND,
                              rv, "cannot resolve listen address %s port %s: %s",
                              host ? host : "*", port, gai_strerror(rv));
    for (ai = res; ai; ai = ai->ai_next) {
        int fd, one = 1;
        if (d->nlisteners == d->cfg.max_listeners) break;
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) { last_errno = errno; continue; }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        /* One socket per family: IPv6 sockets do not also take IPv4. */
        if (ai->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
#ifdef __linux__
        /* accepted sockets inherit it: no setsockopt per connection */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
#endif
#ifdef TCP_DEFER_ACCEPT
        /* handed over with the CR (a wake-up per connection fewer) */
        if (d->cfg.defer_accept_s) {
            int secs = d->cfg.defer_accept_s > 3600 ? 3600 : (int)d->cfg.defer_accept_s;
            if (setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof secs) != 0)
                x400i_log(&d->cfg.log, X400_LOG_DEBUG, X400_LAYER_DRIVER, "TCP_DEFER_ACCEPT: %s (without it)",
                          strerror(errno));
        }
#endif
#ifdef TCP_FASTOPEN
        /* data in the SYN accepted (RFC 7413); refused by the kernel: the
         * listener works without it */
        if (d->cfg.tcp_fast_open &&
            setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN, &d->cfg.tfo_queue_len, sizeof d->cfg.tfo_queue_len) != 0)
            x400i_log(&d->cfg.log, X400_LOG_DEBUG, X400_LAYER_DRIVER, "TCP_FASTOPEN: %s (without it)",
                      strerror(errno));
#endif
        /* With port 0, the later families reuse the first one's port. */
        if (bound && strcmp(port, "0") == 0) {
            unsigned p = x400_driver_listen_port(d);
            if (ai->ai_family == AF_INET)
                ((struct sockaddr_in *)(void *)ai->ai_addr)->sin_port = htons((uint16_t)p);
            else if (ai->ai_family == AF_INET6)
                ((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_port = htons((uint16_t)p);
        }
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0 ||
            set_nonblock(fd) != 0) {
            last_errno = errno;
            close(fd);
            continue;
        }
#ifdef X400I_EPOLL
        {
            struct epoll_event ee;
            memset(&ee, 0, sizeof ee);
            ee.events = EPOLLIN;
            ee.data.u64 = (uint64_t)UINT32_MAX << 32 | d->nlisteners; /* a listener */
            if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ee) != 0) {
                last_errno = errno;
                close(fd);
                continue;
            }
        }
#endif
        addr_text(ai->ai_addr, where, sizeof where);
        x400i_log(&d->cfg.log, X400_LOG_INFO, X400_LAYER_DRIVER, "listening on %s", where);
        d->listeners[d->nlisteners++] = fd;
        bound++;
    }
    freeaddrinfo(res);
    if (!bound)
        return io_error(d, NULL, last_errno ? last_errno : EADDRNOTAVAIL, "cannot listen on",
                        host ? host : "*");
    return bound;
}

unsigned x400_driver_listen_port(const x400_driver *d)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (!d || !d->nlisteners) return 0;
    if (getsockname(d->listeners[0], (struct sockaddr *)&ss, &sl) != 0) return 0;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

/* A free entry, for an outbound or an inbound connection. */
static struct conn *conn_alloc(x400_driver *d, x400_assoc *a, int outbound, int rv_out[1])
{
    struct conn *c;
    if (!outbound && d->cfg.max_inbound && d->ninbound >= d->cfg.max_inbound) {
        rv_out[0] = x400i_diag_set(&d->diag, X400_LAYER_DRIVER, X400_SOURCE_LOCAL, X400_ERR_FULL, 0,
                                   "%zu inbound connections (the rest of %zu is kept for "
                                   "outbound ones)", d->ninbound, d->cfg.max_conns);
        return NULL;
    }
    if (!d->nfree) {
        rv_out[0] = x400i_diag_set(&d->diag, X400_LAYER_DRIVER, X400_SOURCE_LOCAL, X400_ERR_FULL, 0,
                                   "driver full: %zu connections", d->cfg.max_conns);
        return NULL;
    }
    c = &d->conns[d->free_slots[d->nfree - 1]];
    {
        int dirty = c->dirty;
        memset(c, 0, sizeof *c);
        c->dirty = dirty;
    }
    c->fd = -1;
    c->serial = ++d->serial;
    rv_out[0] = x400_lpi_open(d->lpi, c, &c->h, &d->diag);
    if (rv_out[0] < 0) return NULL;
    d->nfree--;
    c->a = a;
    c->outbound = outbound;
    d->nconns++;
    if (!outbound) d->ninbound++;
    return c;
}

/* An inbound connection closed at accept: logged at most once a second. */
static void refused_at_accept(x400_driver *d, const char *peer, const char *why)
{
    double now = now_s();
    d->refused++;
    if (d->refused_logged_at > 0 && now - d->refused_logged_at < 1.0) {
        d->refused_unlogged++;
        return;
    }
    if (d->refused_unlogged)
        x400i_log(&d->cfg.log, X400_LOG_WARNING, X400_LAYER_DRIVER,
                  "refusing connection from %s: %s (and %llu more in the last second)", peer, why,
                  (unsigned long long)d->refused_unlogged);
    else
        x400i_log(&d->cfg.log, X400_LOG_WARNING, X400_LAYER_DRIVER, "refusing connection from %s: %s",
                  peer, why);
    d->refused_unlogged = 0;
    d->refused_logged_at = now;
}

/* Start a non-blocking connect to c->ai_cur, moving on through the list on
 * immediate failure.  Returns 0 when one is in progress or done, <0 when
 * every address failed. */
static int try_connect(x400_driver *d, struct conn *c)
{
    char where[80];
    int rv;
    for (; c->ai_cur; c->ai_cur = c->ai_cur->ai_next) {
        struct addrinfo *ai = c->ai_cur;
#ifdef SOCK_NONBLOCK /* one system call instead of four */
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        addr_text(ai->ai_addr, where, sizeof where);
        if (fd < 0) {
#else
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        addr_text(ai->ai_addr, where, sizeof where);
        if (fd < 0 || set_nonblock(fd) != 0) {
#endif
            io_error(d, &c->last_err, errno, "socket for", where);
            if (fd >= 0) close(fd);
            continue;
        }
        x400i_log(&d->cfg.log, X400_LOG_DEBUG, X400_LAYER_DRIVER, "connecting to %s", where);
        c->fresh = c->connected_now = c->tfo_deferred = c->in_syn = 0;
        c->early_sent = 0;
        /* TCP_NODELAY once the CR is on its way (nodelay_now), not here:
         * Nagle's algorithm never holds a connection's first segment (no
         * data is unacknowledged), and the system call is then off the
         * path between the connect and the CR */
        c->nodelay_owed = 1;
        {
#ifdef TCP_FASTOPEN_CONNECT
            int one = 1;
            /* With a cookie, connect() returns 0 at once and the SYN waits
             * for the first send (the CR); without one, an ordinary
             * connect asking for a cookie.  Refused: an ordinary connect. */
            if (d->cfg.tcp_fast_open &&
                setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &one, sizeof one) == 0)
                c->tfo_deferred = 1;
#endif
        }
        if ((rv = connect(fd, ai->ai_addr, ai->ai_addrlen)) == 0 || errno == EINPROGRESS) {
            c->fresh = 1;
            if (rv != 0) c->tfo_deferred = 0; /* the SYN is out without data */
            c->connected_now = rv == 0 && !c->tfo_deferred;
            c->fd = fd;
            c->ev = 0;
            c->serial = ++d->serial;
            c->st = C_CONNECTING;
            c->deadline = now_s() + d->cfg.connect_timeout_ms / 1000.0;
            mark_dirty(d, c); /* its deadline is watched, its socket registered */
            return 0;
        }
        io_error(d, &c->last_err, errno, "connect to", where);
        x400i_log(&d->cfg.log, X400_LOG_NOTICE, X400_LAYER_DRIVER, "%s", c->last_err.text);
        close(fd);
    }
    return X400_ERR_IO;
}

static void conn_close(x400_driver *d, struct conn *c, const x400_diag *why)
{
    x400_assoc *a = c->a;
    x400_lpi_handle h = c->h;
    x400_diag w;
    if (why) w = *why;
    conn_release(d, c);
    if (d->cb.closed) d->cb.closed(d->cb.user, d, h, a, why ? &w : NULL);
}

/* Every address failed: tell the user and forget the connection. */
static void connect_failed(x400_driver *d, struct conn *c)
{
    x400_diag err = c->last_err;
    if (!err.code)
        x400i_diag_set(&err, X400_LAYER_DRIVER, X400_SOURCE_PROVIDER, X400_ERR_IO, 0,
                       "no address to connect to");
    if (d->cb.connected) d->cb.connected(d->cb.user, d, c->h, c->a, &err);
    /* the association (and whatever is above it, e.g. an RTSE recovering)
     * learns that its transport will never come up */
    if (c->a) x400_assoc_transport_closed(c->a);
    conn_close(d, c, &err);
}

int x400_driver_connect(x400_driver *d, const char *host, const char *port,
                        x400_assoc *a, x400_lpi_handle *conn_out)
{
    struct addrinfo hints, *res = NULL;
    struct conn *c;
    int rv;
    if (!d || !host || !port || !a) return X400_ERR_INVALID_ARG;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    /* An address literal first: no lookup, and none of AI_ADDRCONFIG's
     * interface listing (a netlink dump: 7 system calls and a quarter of
     * the initiator's CPU per connect on loopback), which cannot change
     * the answer for a literal. */
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    rv = getaddrinfo(host, port, &hints, &res);
    if (rv != 0) {
        hints.ai_flags = AI_ADDRCONFIG;
        rv = getaddrinfo(host, port, &hints, &res);
    }
    if (rv == EAI_BADFLAGS || (rv != 0 && hints.ai_flags)) {
        hints.ai_flags = 0; /* AI_ADDRCONFIG hides loopback on hosts without a route */
        rv = getaddrinfo(host, port, &hints, &res);
    }
    if (rv != 0)
        return x400i_diag_set(&d->diag, X400_LAYER_DRIVER, X400_SOURCE_LOCAL, X400_ERR_NOT_FOUND,
                              rv, "cannot resolve %s port %s: %s", host, port, gai_strerror(rv));
    c = conn_alloc(d, a, 1, &rv);
    if (!c) {
        freeaddrinfo(res);
        return rv;
    }
    c->ai_list = c->ai_cur = res;
    if (conn_out) *conn_out = c->h;
    if (try_connect(d, c) < 0) {
        d->diag = c->last_err;
        conn_release(d, c);
        return d->diag.code ? d->diag.code : X400_ERR_IO;
    }
    return X400_OK;
}

/* The connect to c->ai_cur failed with `err`: the next address. */
static void connect_next(x400_driver *d, struct conn *c, int err, const char *where)
{
    io_error(d, &c->last_err, err, "connect to", where);
    if (c->ai_cur->ai_next) /* the last one's failure goes to connected() */
        x400i_log(&d->cfg.log, X400_LOG_NOTICE, X400_LAYER_DRIVER, "%s; trying next address",
                  c->last_err.text);
    close(c->fd);
    c->fd = -1;
    c->early_sent = 0; /* the association's output is still pending: sent again there */
    c->in_syn = 0;
    c->ai_cur = c->ai_cur->ai_next;
    if (try_connect(d, c) < 0) connect_failed(d, c);
}

/* An outbound connection's TCP_NODELAY, owed since try_connect: set once
 * its CR is sent or about to be (inbound ones inherit the listener's). */
static void nodelay_now(struct conn *c)
{
    int one = 1;
    if (!c->nodelay_owed || c->fd < 0) return;
    c->nodelay_owed = 0;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* The socket of a connect is ready (readiness `re`, POLL* bits; 0 when
 * connect() itself succeeded) or failed. */
static void on_connect_ready(x400_driver *d, struct conn *c, short re)
{
    int err = 0;
    socklen_t el = sizeof err;
    char where[80] = "";
#ifdef __linux__
    /* Linux reports a failed connect as POLLERR/POLLHUP: without them the
     * connect succeeded and there is nothing to ask */
    if (re & (POLLERR | POLLHUP))
#else
    if (re)
#endif
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0) err = errno;
    if (err || x400i_log_enabled(&d->cfg.log, X400_LOG_INFO)) /* formatted only when used */
        addr_text(c->ai_cur->ai_addr, where, sizeof where);
    if (err) {
        connect_next(d, c, err, where);
        return;
    }
    info_log(d, X400_LOG_INFO, where, "connected to %s%s", where,
             c->in_syn ? " (the CR in the SYN: TCP Fast Open)" : "");
    if (c->early_sent) x400_assoc_sent(c->a, c->early_sent); /* the connection is up: they stay sent */
    c->early_sent = 0;
    c->in_syn = 0;
    c->st = C_OPEN;
    nodelay_now(c);
    freeaddrinfo(c->ai_list);
    c->ai_list = c->ai_cur = NULL;
    if (x400_assoc_get_state(c->a) == X400_ASSOC_IDLE) (void)x400_assoc_connect(c->a);
    if (d->cb.connected) d->cb.connected(d->cb.user, d, c->h, c->a, NULL);
}

/* The connect was just issued: the association's CR (queued here, as
 * on_connect_ready does otherwise) is sent at once instead of after a turn
 * of waiting for writability.
 *   - TCP Fast Open with a cookie: connect() returned at once and this
 *     send carries the SYN, the CR in it; the handshake is still awaited.
 *   - Otherwise the send goes through only once the handshake is over (a
 *     loopback or LAN handshake often is, by the time connect() returns):
 *     the connection is up, no readiness to wait for (an epoll_ctl and an
 *     epoll_wait fewer).  Not yet: EAGAIN, and it waits for writability as
 *     before, at the cost of this one system call.
 * What was sent is handed to x400_assoc_sent only once the connection is
 * known to be up (on_connect_ready): a refused connect moves on to the
 * next address with the CR still pending. */
static void send_first(x400_driver *d, struct conn *c)
{
    const uint8_t *p;
    size_t n;
    ssize_t w;
    char where[80];
    int tfo = c->tfo_deferred;
    c->fresh = c->tfo_deferred = 0;
    if (c->connected_now) { /* connect() returned 0: up already */
        c->connected_now = 0;
        on_connect_ready(d, c, 0);
        return;
    }
    if (x400_assoc_get_state(c->a) == X400_ASSOC_IDLE) (void)x400_assoc_connect(c->a);
    n = x400_assoc_pending(c->a, &p);
    if (!n) return;
    do w = send(c->fd, p, n, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    if (w >= 0) {
        c->early_sent = (size_t)w;
        c->in_syn = tfo;
        if (!tfo) on_connect_ready(d, c, 0);
        else nodelay_now(c);
    } else if (errno != EINPROGRESS && errno != EAGAIN && errno != EWOULDBLOCK) {
        addr_text(c->ai_cur->ai_addr, where, sizeof where);
        connect_next(d, c, errno, where);
    } else { /* the handshake is not over (with Fast Open: the SYN went without data) */
        nodelay_now(c);
    }
}

static void want(x400_driver *d, struct conn *c, short events);
static int on_ready(x400_driver *d, struct conn *c, short re);

/* The listener `lfd` is readable.  A burst of accepts per readiness: one
 * when connections arrive one at a time (one accept each, not one and an
 * EAGAIN), doubling (up to 64) while a listener used up its burst in the
 * previous turn too (a flood: the readiness is level-triggered, what is
 * left waits for the next turn). */
static void on_accept(x400_driver *d, int lfd)
{
    size_t burst = d->accept_full_turn + 1 == d->turns ? 2 * d->accept_burst : 1, got = 0;
    if (burst > 64) burst = 64;
    if (!burst) burst = 1;
    d->accept_burst = burst;
    for (;; got++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        char peer[80];
        struct conn *c;
        x400_assoc *a = NULL;
        int fd, rv;
        if (got == burst) {
            d->accept_full_turn = d->turns;
            return;
        }
#if defined(__linux__) && defined(SOCK_NONBLOCK)
        /* non-blocking and close-on-exec in the same call (3 fcntl fewer) */
        fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
        fd = accept(lfd, (struct sockaddr *)&ss, &sl);
#endif
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                x400i_log(&d->cfg.log, X400_LOG_WARNING, X400_LAYER_DRIVER, "accept: %s",
                          strerror(errno));
            return;
        }
        addr_text((struct sockaddr *)&ss, peer, sizeof peer);
#if !defined(__linux__) || !defined(SOCK_NONBLOCK)
        {
            int one = 1;
            if (set_nonblock(fd) != 0) { close(fd); continue; }
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
#endif /* Linux: TCP_NODELAY inherited from the listener */
        c = conn_alloc(d, NULL, 0, &rv);
        if (!c) {
            refused_at_accept(d, peer, d->diag.text);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->st = C_OPEN;
        rv = d->cb.accepted ? d->cb.accepted(d->cb.user, d, c->h, peer, &a) : X400_ERR_REFUSED;
        if (rv < 0 || !a) {
            /* the application logs its own reasons (and may limit them) */
            d->refused++;
            info_log(d, X400_LOG_DEBUG, peer, "connection from %s refused by application", peer);
            conn_release(d, c);
            continue;
        }
        c->a = a;
        mark_dirty(d, c);
        info_log(d, X400_LOG_INFO, peer, "accepted connection from %s", peer);
        /* Read at once: the CR is often there already (always with
         * defer_accept_s, and when it came in the SYN, TCP Fast Open), and
         * is then answered in this turn, without an epoll_wait.  The
         * socket is registered after that, by the next turn's look at the
         * dirty connections (with what it then waits for), so the CC does
         * not wait for an epoll_ctl; readiness is level-triggered, nothing
         * is missed. */
        (void)on_ready(d, c, POLLIN);
    }
}

/* Write as much pending output as the socket takes. */
static int flush_out(x400_driver *d, struct conn *c)
{
    const uint8_t *p;
    size_t n;
    while ((n = x400_assoc_pending(c->a, &p)) > 0) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            if (errno == EINTR) continue;
            return io_error(d, &c->last_err, errno, "send", "to peer");
        }
        x400_assoc_sent(c->a, (size_t)w);
    }
    return 0;
}

/* Read what is there; returns < 0 when the connection must be closed. */
static int on_readable(x400_driver *d, struct conn *c)
{
    uint8_t buf[65536];
    for (int rounds = 0; rounds < 16; rounds++) {
        ssize_t r = recv(c->fd, buf, sizeof buf, 0);
        if (r > 0) {
            int rv = x400_assoc_recv(c->a, buf, (size_t)r);
            if (rv < 0) return rv;
            if ((size_t)r < sizeof buf) return 0;
            continue;
        }
        if (r == 0) {
            x400i_diag_set(&c->last_err, X400_LAYER_DRIVER, X400_SOURCE_PEER, X400_ERR_CLOSED, 0,
                           "peer closed the TCP connection");
            return X400_ERR_CLOSED;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        if (errno == EINTR) continue;
        return io_error(d, &c->last_err, errno, "recv", "from peer");
    }
    return 0;
}

/* What a connection waits for (POLLIN / POLLOUT).  epoll: the kernel's
 * interest set is changed only when the wish changes; poll: one pollfd per
 * turn. */
static void want(x400_driver *d, struct conn *c, short events)
{
#ifdef X400I_EPOLL
    struct epoll_event ee;
    uint32_t e = (events & POLLIN ? (uint32_t)EPOLLIN : 0) | (events & POLLOUT ? (uint32_t)EPOLLOUT : 0);
    if (c->ev == e) return;
    memset(&ee, 0, sizeof ee);
    ee.events = e;
    ee.data.u64 = (uint64_t)c->serial << 32 | (uint64_t)(c - d->conns);
    if (epoll_ctl(d->epfd, c->ev ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ee) == 0) c->ev = e;
    else x400i_log(&d->cfg.log, X400_LOG_ERROR, X400_LAYER_DRIVER, "epoll_ctl: %s", strerror(errno));
#else
    d->pfd[d->npfd].fd = c->fd;
    d->pfd[d->npfd].events = events;
    d->pconn[d->npfd++] = c;
#endif
}

static void connect_timed_out(x400_driver *d, struct conn *c)
{
    x400i_diag_set(&c->last_err, X400_LAYER_DRIVER, X400_SOURCE_PROVIDER, X400_ERR_TIMEOUT, 0,
                   "connect timed out after %d ms", d->cfg.connect_timeout_ms);
    close(c->fd);
    c->fd = -1;
    c->early_sent = 0;
    c->in_syn = 0;
    c->ai_cur = c->ai_cur->ai_next;
    if (try_connect(d, c) < 0) connect_failed(d, c);
}

/* Readiness `re` (POLL* bits) of a live connection.  1 if it made progress. */
static int on_ready(x400_driver *d, struct conn *c, short re)
{
    int rv, progressed = 0;
    d->visits++;
    if (re && d->activity && c->a) d->activity(d->cb.user, d, c->h, c->a);
    if (c->st == C_FREE) return 1; /* closed by the application */
    if (c->st == C_CONNECTING) {
        if (!re) return 0;
        on_connect_ready(d, c, re);
        if (c->st != C_OPEN) return 1;
        progressed = 1;
    }
    if (re & (POLLIN | POLLHUP | POLLERR)) {
        progressed = 1;
        rv = on_readable(d, c);
        if (rv < 0) {
            /* what the association queued last (a refusal, an abort) goes
             * out first: closing the transport drops what is queued */
            (void)flush_out(d, c);
            x400_assoc_transport_closed(c->a);
            conn_close(d, c, c->last_err.code ? &c->last_err : x400_assoc_diag(c->a));
            return 1;
        }
    }
    if (flush_out(d, c) < 0) {
        x400_assoc_transport_closed(c->a);
        conn_close(d, c, &c->last_err);
        return 1;
    }
    return progressed;
}

int x400_driver_run(x400_driver *d, int timeout_ms)
{
    size_t i, n;
    int rv, progressed = 0, every = !d || !d->cfg.notify_output;
    double now, next_deadline = -1;
    if (!d) return X400_ERR_INVALID_ARG;
    d->turns++;

    /* The dirty connections: finished associations with nothing left to
     * send are closed, connects past their deadline move to the next
     * address, pending output is written, and each says what it waits for. */
    d->npfd = 0;
#ifndef X400I_EPOLL
    every = 1; /* poll(2) is given every socket in every turn */
    for (i = 0; i < d->nlisteners; i++) {
        d->pfd[d->npfd].fd = d->listeners[i];
        d->pfd[d->npfd].events = POLLIN;
        d->pconn[d->npfd++] = NULL;
    }
    if (d->wake_fd >= 0) {
        d->pfd[d->npfd].fd = d->wake_fd;
        d->pfd[d->npfd].events = POLLIN;
        d->pconn[d->npfd++] = NULL;
    }
#endif
    if (every)
        for (i = 0; i < d->cfg.max_conns; i++)
            if (d->conns[i].st != C_FREE) mark_dirty(d, &d->conns[i]);
    now = now_s();
    if (d->srclog_owing) srclog_expire(d, now);
    n = d->ndirty;
    for (i = 0; i < n; i++) {
        struct conn *c = &d->conns[d->dirty[i]];
        c->dirty = 0;
        if (c->st == C_FREE) continue;
        d->visits++;
        if (c->st == C_CONNECTING && c->fresh) {
            send_first(d, c); /* the CR now, without a turn of waiting */
            progressed++;
        }
        if (c->st == C_CONNECTING && now >= c->deadline) {
            connect_timed_out(d, c);
            progressed++;
        }
        if (c->st == C_CONNECTING) {
            if (next_deadline < 0 || c->deadline < next_deadline) next_deadline = c->deadline;
            /* writable: the handshake is over.  With the CR in the SYN, the
             * peer's first octets (the CC) say so as well, one wish for the
             * whole connection (no epoll_ctl MOD, no wake-up in between);
             * a refusal or a reset comes as POLLERR / POLLHUP either way */
            want(d, c, c->in_syn ? POLLIN : POLLOUT);
            mark_dirty(d, c); /* its deadline, in the next turn too */
            continue;
        }
        if (c->st != C_OPEN) continue;
        if (x400_assoc_want_close(c->a)) {
            x400_assoc_state st = x400_assoc_get_state(c->a);
            conn_close(d, c, st == X400_ASSOC_ABORTED ? x400_assoc_diag(c->a) : NULL);
            progressed++;
            continue;
        }
        if (x400_assoc_want_write(c->a) && flush_out(d, c) < 0) {
            x400_assoc_transport_closed(c->a);
            conn_close(d, c, &c->last_err);
            progressed++;
            continue;
        }
        want(d, c, (short)(POLLIN | (x400_assoc_want_write(c->a) ? POLLOUT : 0)));
    }
    /* what was flagged meanwhile (callbacks, connecting) is for the next turn */
    memmove(d->dirty, d->dirty + n, (d->ndirty - n) * sizeof *d->dirty);
    d->ndirty -= n;
    if (next_deadline >= 0) {
        int until = (int)((next_deadline - now) * 1000) + 1;
        if (until < 0) until = 0;
        if (timeout_ms < 0 || until < timeout_ms) timeout_ms = until;
    }
    /* Progress already (a CR sent, a connection closed): this turn ends
     * here and the sockets are looked at in the next one, without a
     * system call that could only say "nothing yet" about most of them
     * (each of these steps happens once per connection, so the sockets
     * are never put off for long). */
    if (progressed) return progressed;
    d->waits++;
#ifdef X400I_EPOLL
    rv = epoll_wait(d->epfd, d->evs, (int)(d->cfg.max_conns + d->cfg.max_listeners), timeout_ms);
    if (rv < 0) {
        if (errno == EINTR) return progressed;
        return io_error(d, NULL, errno, "epoll_wait", "");
    }
    for (i = 0; i < (size_t)rv; i++) {
        uint64_t u = d->evs[i].data.u64;
        uint32_t e = d->evs[i].events, slot = (uint32_t)u, serial = (uint32_t)(u >> 32);
        struct conn *c;
        if (serial == UINT32_MAX) { /* a listener, or the wake-up descriptor (slot UINT32_MAX) */
            if (slot < d->nlisteners) on_accept(d, d->listeners[slot]);
            progressed++;
            continue;
        }
        if (slot >= d->cfg.max_conns) continue;
        c = &d->conns[slot];
        if (c->st == C_FREE || c->serial != serial) continue; /* closed meanwhile */
        progressed += on_ready(d, c, (short)((e & EPOLLIN ? POLLIN : 0) | (e & EPOLLOUT ? POLLOUT : 0) |
                                             (e & EPOLLHUP ? POLLHUP : 0) | (e & EPOLLERR ? POLLERR : 0)));
        if (c->st != C_FREE && c->serial == serial) mark_dirty(d, c); /* its wish, next turn */
    }
#else
    rv = poll(d->pfd, (nfds_t)d->npfd, timeout_ms);
    if (rv < 0) {
        if (errno == EINTR) return progressed;
        return io_error(d, NULL, errno, "poll", "");
    }
    for (i = 0; i < d->npfd; i++) {
        struct conn *c = d->pconn[i];
        short re = d->pfd[i].revents;
        if (!c) {
            if (d->pfd[i].fd == d->wake_fd) progressed += (re & POLLIN) != 0;
            else if (re & POLLIN) { on_accept(d, d->pfd[i].fd); progressed++; }
            continue;
        }
        if (c->st == C_FREE || c->fd != d->pfd[i].fd) continue; /* closed meanwhile */
        progressed += on_ready(d, c, re);
        if (c->st != C_FREE) mark_dirty(d, c);
    }
#endif
    return progressed;
}

int x400_driver_disconnect(x400_driver *d, x400_lpi_handle conn)
{
    struct conn *c;
    void *obj = NULL;
    int rv;
    if (!d) return X400_ERR_INVALID_ARG;
    rv = x400_lpi_get(d->lpi, conn, &obj, &d->diag);
    if (rv < 0) return rv;
    c = obj;
    if (c->a) x400_assoc_transport_closed(c->a);
    conn_close(d, c, NULL);
    return X400_OK;
}

void x400_driver_set_activity(x400_driver *d, x400_driver_activity_fn fn)
{
    if (d) d->activity = fn;
}

int x400_driver_set_wake_fd(x400_driver *d, int fd)
{
    if (!d) return X400_ERR_INVALID_ARG;
#ifdef X400I_EPOLL
    if (d->wake_fd >= 0) (void)epoll_ctl(d->epfd, EPOLL_CTL_DEL, d->wake_fd, NULL);
    if (fd >= 0) {
        struct epoll_event ee;
        memset(&ee, 0, sizeof ee);
        ee.events = EPOLLIN;
        ee.data.u64 = UINT64_MAX; /* serial and slot UINT32_MAX: no listener */
        if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ee) != 0)
            return io_error(d, NULL, errno, "epoll_ctl", "wake-up descriptor");
    }
#endif
    d->wake_fd = fd;
    return X400_OK;
}

int x400_driver_want_write(x400_driver *d, x400_lpi_handle conn)
{
    void *obj = NULL;
    int rv;
    if (!d) return X400_ERR_INVALID_ARG;
    rv = x400_lpi_get(d->lpi, conn, &obj, &d->diag);
    if (rv < 0) return rv;
    mark_dirty(d, obj);
    return X400_OK;
}

int x400_driver_conn_syn_data(x400_driver *d, x400_lpi_handle conn)
{
    void *obj = NULL;
    struct conn *c;
    int rv;
    if (!d) return X400_ERR_INVALID_ARG;
    rv = x400_lpi_get(d->lpi, conn, &obj, &d->diag);
    if (rv < 0) return rv;
    c = obj;
#if defined(TCP_INFO) && defined(TCPI_OPT_SYN_DATA)
    {
        struct tcp_info ti;
        socklen_t tl = sizeof ti;
        memset(&ti, 0, sizeof ti);
        if (c->fd >= 0 && getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) == 0)
            return (ti.tcpi_options & TCPI_OPT_SYN_DATA) != 0;
    }
#endif
    (void)c;
    return 0;
}

x400_assoc *x400_driver_assoc(x400_driver *d, x400_lpi_handle conn)
{
    void *obj = NULL;
    if (!d || x400_lpi_get(d->lpi, conn, &obj, NULL) < 0) return NULL;
    return ((struct conn *)obj)->a;
}

size_t x400_driver_conn_count(const x400_driver *d) { return d ? d->nconns : 0; }
size_t x400_driver_inbound_count(const x400_driver *d) { return d ? d->ninbound : 0; }
uint64_t x400_driver_refused_count(const x400_driver *d) { return d ? d->refused : 0; }
const x400_diag *x400_driver_diag(const x400_driver *d)
{
    return d ? &d->diag : x400i_diag_none();
}
uint64_t x400_driver_visit_count(const x400_driver *d) { return d ? d->visits : 0; }
uint64_t x400_driver_wait_count(const x400_driver *d) { return d ? d->waits : 0; }
uint64_t x400_driver_log_suppressed_count(const x400_driver *d) { return d ? d->log_suppressed : 0; }
