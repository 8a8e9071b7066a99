#define _GNU_SOURCE
/*
 * mta_demo: two x400mta processes exchanging messages in both directions
 * over TCP, with faults injected, and a check that every message arrived
 * exactly once and every delivery report came back.
 *
 *   MTA-B --> proxy A (127.0.0.1:pxA) --> MTA-A listening on 127.0.0.1:pA
 *   MTA-A --> proxy B (127.0.0.1:pxB) --> MTA-B listening on 127.0.0.1:pB
 *
 * MTA-A knows its peer MTA-B by host name ("localhost"), MTA-B knows MTA-A
 * by IP address.  The proxies run in this process (one thread, poll):
 * they forward the bytes, count them, can cut every proxied connection at
 * once (both sockets closed with a reset: a network failure), and can
 * record what the connecting MTA saw to a pcap file (--pcap), with
 * synthesized Ethernet/IPv4/TCP headers, for Wireshark/tshark.
 *
 * The demo writes both configurations into a fresh temporary directory,
 * starts both MTAs (`x400mta run`), drops --messages messages into each
 * MTA's spool (`x400mta submit`), sizes log-spaced from --min-size to
 * --max-size, and follows both inboxes (`x400mta inbox --tsv`).  Once some
 * payload is moving it cuts the connections, later it SIGKILLs one MTA and
 * restarts it one second after.  When both directions are complete (or at
 * --timeout) it stops both MTAs and prints the tally.
 *
 *   mta_demo [--messages N] [--min-size B] [--max-size B] [--no-cut]
 *            [--no-kill] [--kill-side a|b] [--timeout S] [--keep]
 *            [--pcap FILE] [--quiet] [--bin DIR]
 *
 * Exit status 0 only when every message was delivered exactly once in both
 * directions and every delivery report came back exactly once.
 *
 * Uses only POSIX, the x400p1 public headers (for the version) and the
 * scratch-directory helpers of the test harness (test/pair.h); the MTA
 * itself is examples/x400mta/.  `make demo` builds it as
 * build/tools/mta_demo and runs it through tools/demo.sh.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <x400p1/common.h>

#include "pair.h"      /* scratch directory, rm_tree, free port (test/support_pair.c) */

#define MAX_MESSAGES 9999      /* content-ids "a2b-24-9999" fit ub-content-id-length 16 */
#define SIZE_CLASSES 25        /* log-spaced message sizes */
#define MAX_SIZE_LIMIT (64u << 20)
#define POLL_MS 500            /* inbox/stats polling period */
#define TICK_MS 50             /* main loop period */
#define STOP_GRACE_MS 10000    /* SIGTERM -> SIGKILL */
#define TOOL_TIMEOUT_MS 30000

/* ------------------------------------------------------------ time */

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ------------------------------------------------------------ pcap */

/*
 * The capture shows each proxied connection as the connecting MTA saw it:
 * client (its address and port) <-> the proxy's listening address.  Data
 * from the client is recorded when the proxy reads it, data to the client
 * when the proxy has written it.  Every connection gets a handshake with
 * fresh initial sequence numbers, segments of at most 1460 octets, an ACK
 * from the receiver after each chunk (so no window is ever exceeded), and
 * FIN or RST as it really ended.  Classic pcap, LINKTYPE_ETHERNET.
 */
#define PCAP_MSS 1460

struct tcp_end {
    uint32_t ip;       /* host order */
    uint16_t port;
    uint32_t nxt;      /* next sequence number to send */
    uint16_t ipid;
    uint8_t mac[6];
};

struct pcap_out {
    FILE *f;
    uint64_t frames;
    int failed;
};

static uint16_t csum_fold(uint32_t s)
{
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

static uint32_t csum_add(uint32_t s, const uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i + 1 < n; i += 2) s += (uint32_t)p[i] << 8 | p[i + 1];
    if (i < n) s += (uint32_t)p[i] << 8;
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return s;
}

static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

enum { SEG_FIN = 0x01, SEG_SYN = 0x02, SEG_RST = 0x04, SEG_PSH = 0x08, SEG_ACK = 0x10 };

static int pcap_open(struct pcap_out *o, const char *path)
{
    uint8_t h[24];
    uint32_t magic = 0xa1b2c3d4u;          /* native byte order, microseconds */
    uint16_t vmaj = 2, vmin = 4;
    int32_t zone = 0;
    uint32_t sigfigs = 0, snaplen = 65535, linktype = 1;   /* LINKTYPE_ETHERNET */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    memset(o, 0, sizeof *o);
    if (fd < 0) return -1;
    o->f = fdopen(fd, "wb");
    if (!o->f) { close(fd); return -1; }
    memcpy(h, &magic, 4); memcpy(h + 4, &vmaj, 2); memcpy(h + 6, &vmin, 2);
    memcpy(h + 8, &zone, 4); memcpy(h + 12, &sigfigs, 4); memcpy(h + 16, &snaplen, 4);
    memcpy(h + 20, &linktype, 4);
    if (fwrite(h, 1, sizeof h, o->f) != sizeof h) o->failed = 1;
    return 0;
}

/* One frame from `from` to `to`; advances from->nxt by the data (and SYN/FIN). */
static void pcap_segment(struct pcap_out *o, struct tcp_end *from, const struct tcp_end *to,
                         unsigned flags, const uint8_t *data, size_t len)
{
    uint8_t fr[14 + 20 + 24 + PCAP_MSS], rec[16], ph[12];
    size_t thl = (flags & SEG_SYN) ? 24 : 20, iplen = 20 + thl + len, flen = 14 + iplen;
    uint8_t *ip = fr + 14, *tcp = ip + 20;
    struct timeval tv;
    uint32_t s, v32;
    if (!o->f || o->failed) return;
    memcpy(fr, to->mac, 6);
    memcpy(fr + 6, from->mac, 6);
    put16(fr + 12, 0x0800);
    /* IPv4 */
    ip[0] = 0x45; ip[1] = 0;
    put16(ip + 2, (uint32_t)iplen);
    put16(ip + 4, from->ipid++);
    put16(ip + 6, 0x4000);                 /* DF */
    ip[8] = 64; ip[9] = 6;                 /* TTL, TCP */
    put16(ip + 10, 0);
    put32(ip + 12, from->ip);
    put32(ip + 16, to->ip);
    put16(ip + 10, csum_fold(csum_add(0, ip, 20)));
    /* TCP */
    put16(tcp, from->port);
    put16(tcp + 2, to->port);
    put32(tcp + 4, from->nxt);
    put32(tcp + 8, (flags & SEG_ACK) ? to->nxt : 0);
    tcp[12] = (uint8_t)((thl / 4) << 4);
    tcp[13] = (uint8_t)flags;
    put16(tcp + 14, 65535);
    put16(tcp + 16, 0);
    put16(tcp + 18, 0);
    if (thl == 24) { tcp[20] = 2; tcp[21] = 4; put16(tcp + 22, PCAP_MSS); }   /* MSS option */
    if (len) memcpy(tcp + thl, data, len);
    memcpy(ph, ip + 12, 8);
    ph[8] = 0; ph[9] = 6;
    put16(ph + 10, (uint32_t)(thl + len));
    s = csum_add(0, ph, 12);
    s = csum_add(s, tcp, thl + len);
    put16(tcp + 16, csum_fold(s));
    /* record header, native order */
    gettimeofday(&tv, NULL);
    v32 = (uint32_t)tv.tv_sec; memcpy(rec, &v32, 4);
    v32 = (uint32_t)tv.tv_usec; memcpy(rec + 4, &v32, 4);
    v32 = (uint32_t)flen; memcpy(rec + 8, &v32, 4); memcpy(rec + 12, &v32, 4);
    if (fwrite(rec, 1, 16, o->f) != 16 || fwrite(fr, 1, flen, o->f) != flen) o->failed = 1;
    o->frames++;
    from->nxt += (uint32_t)len + ((flags & (SEG_SYN | SEG_FIN)) ? 1u : 0u);
}

/* Data in segments of at most PCAP_MSS, then the receiver's ACK. */
static void pcap_data(struct pcap_out *o, struct tcp_end *from, struct tcp_end *to,
                      const uint8_t *p, size_t n)
{
    while (n) {
        size_t k = n > PCAP_MSS ? PCAP_MSS : n;
        pcap_segment(o, from, to, SEG_ACK | (k == n ? SEG_PSH : 0), p, k);
        p += k;
        n -= k;
    }
    pcap_segment(o, to, from, SEG_ACK, NULL, 0);
}

/* ------------------------------------------------------------ proxy */

#define PX_BUF 32768

struct half {                  /* one direction of a proxied connection */
    uint8_t buf[PX_BUF];
    size_t off, len;
    int eof;                   /* the source sent FIN */
    int shut;                  /* FIN passed on to the destination */
};

struct pconn {
    int cfd, sfd;              /* client side (accepted), server side (to the MTA) */
    int side;                  /* which proxy: 0 = in front of MTA-A, 1 = MTA-B */
    int dead;
    struct half c2s, s2c;
    struct tcp_end c, s;       /* pcap view */
};

struct proxy {
    int lfd[2];
    uint16_t port[2];          /* the proxies' listening ports */
    uint16_t up_port[2];       /* the MTAs' listening ports */
    int wake[2];
    pthread_t th;
    int started;
    struct pcap_out pcap;
    int recording;
    uint32_t rng;
    struct pconn **conns;      /* proxy thread only */
    size_t nconns, cap;
    size_t bulk;               /* a read at least this big is "mid-transfer" */
    /* shared with the main thread, under mu */
    pthread_mutex_t mu;
    int stop;
    int cut_now;               /* cut at once */
    uint64_t cut_at;           /* armed: cut at the first bulk read once bytes >= cut_at (0: off) */
    int cut_done;
    uint64_t cut_when_bytes;
    size_t cut_conns;
    uint64_t bytes;            /* forwarded, both proxies, both directions */
    uint64_t bytes_dir[2];     /* [0] towards MTA-A (B->A), [1] towards MTA-B */
    unsigned long accepted, refused, open_now;
};

static uint32_t px_rand(struct proxy *px)
{
    uint32_t x = px->rng;
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    return px->rng = x;
}

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void hard_close(int fd)
{
    struct linger lg = { 1, 0 };           /* close with RST: the link just breaks */
    if (fd < 0) return;
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

static void px_abort(struct proxy *px, struct pconn *c, int rst_from_client)
{
    if (px->recording) {
        if (rst_from_client) pcap_segment(&px->pcap, &c->c, &c->s, SEG_RST | SEG_ACK, NULL, 0);
        else pcap_segment(&px->pcap, &c->s, &c->c, SEG_RST | SEG_ACK, NULL, 0);
    }
    hard_close(c->cfd);
    hard_close(c->sfd);
    c->cfd = c->sfd = -1;
    c->dead = 1;
}

static void px_cut(struct proxy *px)
{
    size_t n = 0;
    for (size_t i = 0; i < px->nconns; i++)
        if (!px->conns[i]->dead) {
            px_abort(px, px->conns[i], 0);
            n++;
        }
    if (!n) return;            /* nothing open: stay armed */
    pthread_mutex_lock(&px->mu);
    px->cut_done = 1;
    px->cut_conns = n;
    px->cut_when_bytes = px->bytes;
    px->cut_at = 0;
    pthread_mutex_unlock(&px->mu);
}

static void fill_end(struct tcp_end *e, const struct sockaddr_in *a, uint8_t macid, uint32_t isn)
{
    static const uint8_t mac[6] = { 0x02, 0x00, 0x5e, 0x00, 0x00, 0x00 };   /* locally administered */
    e->ip = ntohl(a->sin_addr.s_addr);
    e->port = ntohs(a->sin_port);
    e->nxt = isn;
    e->ipid = (uint16_t)(isn >> 7);
    memcpy(e->mac, mac, 6);
    e->mac[5] = macid;
}

static void px_accept(struct proxy *px, int side)
{
    for (;;) {
        struct sockaddr_in ca, la, up;
        socklen_t cl = sizeof ca, ll = sizeof la;
        int one = 1, sfd;
        int cfd = accept4(px->lfd[side], (struct sockaddr *)&ca, &cl, SOCK_CLOEXEC);
        struct pconn *c;
        if (cfd < 0) return;   /* EAGAIN: all taken */
        getsockname(cfd, (struct sockaddr *)&la, &ll);
        if (px->nconns == px->cap) {
            size_t ncap = px->cap ? px->cap * 2 : 16;
            struct pconn **nc = realloc(px->conns, ncap * sizeof *nc);
            if (!nc) { close(cfd); return; }
            px->conns = nc;
            px->cap = ncap;
        }
        c = calloc(1, sizeof *c);
        if (!c) { close(cfd); return; }
        c->side = side;
        c->cfd = cfd;
        fill_end(&c->c, &ca, 1, px_rand(px));
        fill_end(&c->s, &la, 2, px_rand(px));
        if (px->recording) {       /* the handshake the client made with the proxy */
            pcap_segment(&px->pcap, &c->c, &c->s, SEG_SYN, NULL, 0);
            pcap_segment(&px->pcap, &c->s, &c->c, SEG_SYN | SEG_ACK, NULL, 0);
            pcap_segment(&px->pcap, &c->c, &c->s, SEG_ACK, NULL, 0);
        }
        /* the MTA behind this proxy: on loopback a blocking connect is
         * answered at once (accepted, or refused while it is down) */
        memset(&up, 0, sizeof up);
        up.sin_family = AF_INET;
        up.sin_port = htons(px->up_port[side]);
        up.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (sfd < 0 || connect(sfd, (struct sockaddr *)&up, sizeof up) != 0) {
            if (sfd >= 0) close(sfd);
            c->sfd = -1;
            px_abort(px, c, 0);    /* the client sees a reset */
            free(c);
            pthread_mutex_lock(&px->mu);
            px->refused++;
            pthread_mutex_unlock(&px->mu);
            continue;
        }
        c->sfd = sfd;
        set_nonblock(cfd);
        set_nonblock(sfd);
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        px->conns[px->nconns++] = c;
        pthread_mutex_lock(&px->mu);
        px->accepted++;
        pthread_mutex_unlock(&px->mu);
    }
}

/* Read from one side into its half; returns 1 when a bulk read should
 * trigger an armed cut. */
static int px_read(struct proxy *px, struct pconn *c, int c2s)
{
    struct half *h = c2s ? &c->c2s : &c->s2c;
    int fd = c2s ? c->cfd : c->sfd;
    ssize_t n;
    int trigger = 0;
    if (h->eof || h->len == sizeof h->buf) return 0;
    if (h->off == h->len) h->off = h->len = 0;
    n = read(fd, h->buf + h->len, sizeof h->buf - h->len);
    if (n > 0) {
        if (c2s && px->recording) pcap_data(&px->pcap, &c->c, &c->s, h->buf + h->len, (size_t)n);
        h->len += (size_t)n;
        pthread_mutex_lock(&px->mu);
        px->bytes += (uint64_t)n;
        /* c2s at proxy A goes to MTA-A (B->A traffic): index 0 */
        px->bytes_dir[c2s ? c->side : 1 - c->side] += (uint64_t)n;
        if (px->cut_at && px->bytes >= px->cut_at && (size_t)n >= px->bulk) trigger = 1;
        pthread_mutex_unlock(&px->mu);
    } else if (n == 0) {
        h->eof = 1;
        if (c2s && px->recording) {
            pcap_segment(&px->pcap, &c->c, &c->s, SEG_FIN | SEG_ACK, NULL, 0);
            pcap_segment(&px->pcap, &c->s, &c->c, SEG_ACK, NULL, 0);
        }
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        px_abort(px, c, c2s);
    }
    return trigger;
}

static void px_flush(struct proxy *px, struct pconn *c, int c2s)
{
    struct half *h = c2s ? &c->c2s : &c->s2c;
    int fd = c2s ? c->sfd : c->cfd;
    while (!c->dead && h->off < h->len) {
        ssize_t w = send(fd, h->buf + h->off, h->len - h->off, MSG_NOSIGNAL);
        if (w > 0) {
            if (!c2s && px->recording) pcap_data(&px->pcap, &c->s, &c->c, h->buf + h->off, (size_t)w);
            h->off += (size_t)w;
            if (h->off == h->len) h->off = h->len = 0;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            return;
        } else {
            /* the destination is gone: reset; in the capture the client
             * either reset itself or sees the proxy's reset */
            px_abort(px, c, !c2s);
            return;
        }
    }
    if (!c->dead && h->eof && !h->shut && h->off == h->len) {
        shutdown(fd, SHUT_WR);
        h->shut = 1;
        if (!c2s && px->recording) {
            pcap_segment(&px->pcap, &c->s, &c->c, SEG_FIN | SEG_ACK, NULL, 0);
            pcap_segment(&px->pcap, &c->c, &c->s, SEG_ACK, NULL, 0);
        }
    }
    if (!c->dead && c->c2s.shut && c->s2c.shut) {
        close(c->cfd);
        close(c->sfd);
        c->cfd = c->sfd = -1;
        c->dead = 1;
    }
}

static short px_events(const struct half *in, const struct half *out)
{
    short ev = 0;
    if (!in->eof && in->len < sizeof in->buf) ev |= POLLIN;
    if (out->off < out->len) ev |= POLLOUT;
    return ev;
}

static void *px_main(void *arg)
{
    struct proxy *px = arg;
    struct pollfd *pf = NULL;
    size_t pfcap = 0;
    for (;;) {
        int stop, cut_now, trigger = 0;
        size_t n = 3, i, j;
        pthread_mutex_lock(&px->mu);
        stop = px->stop;
        cut_now = px->cut_now;
        px->cut_now = 0;
        pthread_mutex_unlock(&px->mu);
        if (stop) break;
        if (cut_now) px_cut(px);
        /* drop finished connections */
        for (i = j = 0; i < px->nconns; i++) {
            if (px->conns[i]->dead) free(px->conns[i]);
            else px->conns[j++] = px->conns[i];
        }
        px->nconns = j;
        pthread_mutex_lock(&px->mu);
        px->open_now = (unsigned long)j;
        pthread_mutex_unlock(&px->mu);
        if (pfcap < 3 + 2 * px->nconns) {
            struct pollfd *np = realloc(pf, (3 + 2 * px->nconns + 16) * sizeof *np);
            if (!np) break;
            pf = np;
            pfcap = 3 + 2 * px->nconns + 16;
        }
        pf[0] = (struct pollfd){ px->wake[0], POLLIN, 0 };
        pf[1] = (struct pollfd){ px->lfd[0], POLLIN, 0 };
        pf[2] = (struct pollfd){ px->lfd[1], POLLIN, 0 };
        for (i = 0; i < px->nconns; i++) {
            struct pconn *c = px->conns[i];
            short ec = px_events(&c->c2s, &c->s2c), es = px_events(&c->s2c, &c->c2s);
            /* no interest: leave the socket out (a hangup would spin) */
            pf[n++] = (struct pollfd){ ec ? c->cfd : -1, ec, 0 };
            pf[n++] = (struct pollfd){ es ? c->sfd : -1, es, 0 };
        }
        if (poll(pf, (nfds_t)n, 200) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (pf[0].revents) {
            char b[64];
            while (read(px->wake[0], b, sizeof b) > 0) {
            }
        }
        for (i = 0; i < px->nconns; i++) {
            struct pconn *c = px->conns[i];
            short rc = pf[3 + 2 * i].revents, rs = pf[4 + 2 * i].revents;
            if (rc & (POLLIN | POLLHUP | POLLERR)) trigger |= px_read(px, c, 1);
            if (!c->dead && (rs & (POLLIN | POLLHUP | POLLERR))) trigger |= px_read(px, c, 0);
            if (!c->dead) px_flush(px, c, 1);
            if (!c->dead) px_flush(px, c, 0);
        }
        if (trigger) px_cut(px);     /* mid-transfer: the bytes just read are in flight */
        if (pf[1].revents) px_accept(px, 0);
        if (pf[2].revents) px_accept(px, 1);
    }
    for (size_t i = 0; i < px->nconns; i++) {
        if (px->conns[i]->cfd >= 0) close(px->conns[i]->cfd);
        if (px->conns[i]->sfd >= 0) close(px->conns[i]->sfd);
        free(px->conns[i]);
    }
    px->nconns = 0;
    free(px->conns);
    px->conns = NULL;
    free(pf);
    return NULL;
}

static void px_wake(struct proxy *px)
{
    ssize_t r = write(px->wake[1], "w", 1);
    (void)r;
}

/* A listening socket on 127.0.0.1, port chosen by the kernel. */
static int listen_loopback(uint16_t *port)
{
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

/* ------------------------------------------------------------ the demo */

struct mta {
    const char *name;          /* "MTA-A" */
    char letter;               /* 'a' */
    char cfg[PATH_MAX], log[PATH_MAX], out[PATH_MAX], spool[PATH_MAX];
    uint16_t port;             /* its listening port */
    pid_t pid;                 /* 0: not running */
    int starts;
    /* counters from `x400mta stats`: the current run's, and the sum of the
     * runs before (a killed MTA starts counting again) */
    char stats_keys[32][32];
    uint64_t stats_cur[32], stats_base[32];
    size_t nstats;
};

struct dir {                   /* one direction of traffic */
    const char *tag;           /* "a2b": content-id prefix */
    int from, to;              /* MTA index */
    size_t n;                  /* messages */
    size_t class_first[SIZE_CLASSES + 1];
    size_t class_size[SIZE_CLASSES];
    size_t nclass;
    uint64_t bytes;            /* payload submitted */
    size_t submitted;
    unsigned *deliv, *drs, *ndrs;
    size_t delivered, dups, reports, report_dups, ndr, unexpected;
    uint64_t bytes_delivered, last_deliv_ms, last_dr_ms;
    char ndr_example[128];
};

struct opts {
    long messages, min_size, max_size, timeout_s;
    int cut, kill, kill_side, keep, quiet;
    const char *pcap, *bin;
};

struct demo {
    struct opts o;
    char dir[PATH_MAX / 2];
    char bin[PATH_MAX / 2];
    char toollog[PATH_MAX];
    struct mta m[2];
    struct dir d[2];
    struct proxy px;
    int tty;
    int line_open;             /* a progress line is on screen (tty) */
    uint64_t t0_mono, t0_wall;
    int dir_made;
};

static struct demo D;
static volatile sig_atomic_t g_interrupted;

static void on_signal(int sig) { g_interrupted = sig; }

static double since_t0(void) { return D.t0_mono ? (double)(mono_ms() - D.t0_mono) / 1000.0 : 0.0; }

/* An event line (clears the progress line first on a terminal). */
static void event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void event(const char *fmt, ...)
{
    va_list ap;
    if (D.o.quiet) return;
    if (D.line_open) { fputs("\r\033[K", stdout); D.line_open = 0; }
    printf("%6.1fs  ", since_t0());
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

/* ------------------------------------------------------------ processes */

struct argv_b { char *v[48]; int n; };

static void av_add(struct argv_b *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void av_add(struct argv_b *a, const char *fmt, ...)
{
    va_list ap;
    char buf[PATH_MAX + 64];
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (a->n < 47) {
        a->v[a->n] = strdup(buf);
        if (a->v[a->n]) a->n++;
    }
    a->v[a->n] = NULL;
}

static void av_free(struct argv_b *a)
{
    for (int i = 0; i < a->n; i++) free(a->v[i]);
    a->n = 0;
    a->v[0] = NULL;
}

/* fork + exec; the child's stdout goes to `out_fd` (or the file `out_path`,
 * appended), its stderr to `err_path` (appended).  Only async-signal-safe
 * calls between fork and exec: this process has a second thread. */
static pid_t spawn(struct argv_b *a, int out_fd, const char *out_path, const char *err_path, int own_group)
{
    pid_t pid = fork();
    if (pid != 0) return pid;
    if (own_group) setpgid(0, 0);          /* a ^C on the demo is the demo's to handle */
    if (out_fd >= 0) dup2(out_fd, 1);
    else {
        int fd = open(out_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) dup2(fd, 1);
    }
    {
        int fd = open(err_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) dup2(fd, 2);
    }
    {
        int fd = open("/dev/null", O_RDONLY);
        if (fd >= 0) dup2(fd, 0);
    }
    execv(a->v[0], a->v);
    _exit(127);
}

/* Run an x400mta tool command; its stdout into *out (malloc'ed, NUL
 * terminated).  Exit status, or -1. */
static int run_tool(struct argv_b *a, char **out)
{
    int p[2], st = 0;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    uint64_t deadline = mono_ms() + TOOL_TIMEOUT_MS;
    pid_t pid;
    *out = NULL;
    if (pipe2(p, O_CLOEXEC) != 0) return -1;
    pid = spawn(a, p[1], NULL, D.toollog, 0);
    close(p[1]);
    if (pid < 0) { close(p[0]); return -1; }
    for (;;) {
        struct pollfd pf = { p[0], POLLIN, 0 };
        uint64_t now = mono_ms();
        ssize_t r;
        if (now >= deadline) { kill(pid, SIGKILL); break; }
        if (poll(&pf, 1, (int)(deadline - now)) <= 0) continue;
        if (len + 4096 + 1 > cap) {
            char *nb = realloc(buf, cap = cap ? cap * 2 : 16384);
            if (!nb) { kill(pid, SIGKILL); break; }
            buf = nb;
        }
        r = read(p[0], buf + len, cap - len - 1);
        if (r > 0) len += (size_t)r;
        else if (r == 0 || errno != EINTR) break;
    }
    close(p[0]);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (!buf) buf = calloc(1, 1);
    else buf[len] = '\0';
    *out = buf;
    if (!buf) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void tool_argv(struct argv_b *a, const struct mta *m, const char *cmd)
{
    a->n = 0;
    av_add(a, "%s/x400mta", D.bin);
    av_add(a, "%s", cmd);
    av_add(a, "-c");
    av_add(a, "%s", m->cfg);
}

static int mta_start(struct mta *m)
{
    struct argv_b a = { .n = 0 };
    tool_argv(&a, m, "run");
    av_add(&a, "--log");
    av_add(&a, "%s", m->log);
    m->pid = spawn(&a, -1, m->out, m->out, 1);
    av_free(&a);
    if (m->pid < 0) { m->pid = 0; return -1; }
    m->starts++;
    return 0;
}

/* Send `sig` to the MTAs in `which` (bit i: D.m[i]) at once, so that each
 * can still release its associations with the other; wait for them, with
 * SIGKILL after the grace period.  Exit statuses in rc[] (-1: signalled). */
static void mtas_stop(unsigned which, int sig, int rc[2])
{
    uint64_t deadline = mono_ms() + STOP_GRACE_MS;
    int left = 0;
    for (int i = 0; i < 2; i++) {
        rc[i] = -1;
        if ((which >> i & 1) && D.m[i].pid > 0) {
            kill(D.m[i].pid, sig);
            left++;
        }
    }
    while (left) {
        for (int i = 0; i < 2; i++) {
            int st = 0;
            pid_t r;
            if (!(which >> i & 1) || D.m[i].pid <= 0) continue;
            r = waitpid(D.m[i].pid, &st, WNOHANG);
            if (r == D.m[i].pid || (r < 0 && errno != EINTR)) {
                rc[i] = r == D.m[i].pid && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
                D.m[i].pid = 0;
                left--;
            }
        }
        if (left && mono_ms() >= deadline && sig != SIGKILL) {
            for (int i = 0; i < 2; i++)
                if ((which >> i & 1) && D.m[i].pid > 0) {
                    fprintf(stderr, "mta_demo: %s did not stop within %d s: SIGKILL\n", D.m[i].name,
                            STOP_GRACE_MS / 1000);
                    kill(D.m[i].pid, SIGKILL);
                }
            sig = SIGKILL;
        }
        if (left) sleep_ms(20);
    }
}

static void stop_everything(void)
{
    int rc[2];
    mtas_stop(3, SIGTERM, rc);
    if (D.px.started) {
        pthread_mutex_lock(&D.px.mu);
        D.px.stop = 1;
        pthread_mutex_unlock(&D.px.mu);
        px_wake(&D.px);
        pthread_join(D.px.th, NULL);
        D.px.started = 0;
    }
    if (D.px.pcap.f) {
        fclose(D.px.pcap.f);
        D.px.pcap.f = NULL;
    }
}

/* atexit: nothing this demo started outlives it. */
static void cleanup(void)
{
    stop_everything();
    if (D.dir_made && !D.o.keep) (void)x400t_rm_tree(D.dir);
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
    va_list ap;
    if (D.line_open) { fputs("\r\033[K", stdout); D.line_open = 0; }
    fflush(stdout);
    fputs("mta_demo: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (D.dir_made) {
        D.o.keep = 1;          /* keep the evidence */
        fprintf(stderr, "mta_demo: logs and spools kept in %s\n", D.dir);
    }
    exit(1);
}

/* ------------------------------------------------------------ setup */

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

static void write_config(const struct mta *m, const struct mta *peer, const char *peer_host,
                         uint16_t peer_port)
{
    char text[PATH_MAX + 2048];
    char p1 = m->letter == 'a' ? 'a' : 'b', p2 = m->letter == 'a' ? 'b' : 'a';
    snprintf(text, sizeof text,
             "# written by mta_demo\n"
             "[mta]\n"
             "name = %s\n"
             "password = p%c\n"
             "gdi = C=XX;A=ADMD;P=%s\n"
             "node = %c1\n"
             "listen = 127.0.0.1:%u\n"
             "spool = %s\n"
             "\n"
             "[peer %s]\n"
             "their-password = p%c\n"
             "address = %s\n"
             "port = %u\n"
             "route = C=XX;A=ADMD;P=%s\n"
             "# retry soon: the demo cuts connections and restarts MTAs\n"
             "open-interval = 1\n"
             "transfer-interval = 1\n"
             "# a broken transfer is resumed (RTSE recovery) if that succeeds within 5 s,\n"
             "# else it goes again on a new association\n"
             "recovery-timeout = 5\n",
             m->name, p1, m->letter == 'a' ? "ALPHA" : "BRAVO", m->letter, (unsigned)m->port,
             m->spool, peer->name, p2, peer_host, (unsigned)peer_port,
             peer->letter == 'a' ? "ALPHA" : "BRAVO");
    if (write_file(m->cfg, text) != 0) fail("cannot write %s: %s", m->cfg, strerror(errno));
}

static void plan(struct dir *d, const struct opts *o)
{
    size_t k = (size_t)o->messages < SIZE_CLASSES ? (size_t)o->messages : SIZE_CLASSES;
    double lo = log((double)o->min_size), hi = log((double)o->max_size);
    d->n = (size_t)o->messages;
    d->nclass = k;
    d->bytes = 0;
    for (size_t g = 0, first = 0; g < k; g++) {
        size_t cnt = d->n / k + (g < d->n % k ? 1 : 0);
        double x = k > 1 ? lo + (hi - lo) * (double)g / (double)(k - 1) : lo;
        d->class_first[g] = first;
        d->class_size[g] = (size_t)llround(exp(x));
        if (d->class_size[g] < (size_t)o->min_size) d->class_size[g] = (size_t)o->min_size;
        if (d->class_size[g] > (size_t)o->max_size) d->class_size[g] = (size_t)o->max_size;
        d->bytes += (uint64_t)cnt * d->class_size[g];
        first += cnt;
        d->class_first[g + 1] = first;
    }
    d->deliv = calloc(d->n, sizeof *d->deliv);
    d->drs = calloc(d->n, sizeof *d->drs);
    d->ndrs = calloc(d->n, sizeof *d->ndrs);
    if (!d->deliv || !d->drs || !d->ndrs) fail("out of memory");
}

/* content-id -> message index, or -1.  `submit --count k` numbers the
 * copies "<base>-1".."<base>-k" (k > 1); a single submission keeps the
 * base: "<tag>-<class>" for a class of one message. */
static long cid_index(const struct dir *d, const char *cid)
{
    size_t tl = strlen(d->tag), cnt;
    char *end;
    unsigned long g, i;
    if (strncmp(cid, d->tag, tl) != 0 || cid[tl] != '-') return -1;
    g = strtoul(cid + tl + 1, &end, 10);
    if (end == cid + tl + 1 || g >= d->nclass) return -1;
    cnt = d->class_first[g + 1] - d->class_first[g];
    if (cnt == 1) return *end ? -1 : (long)d->class_first[g];
    if (*end != '-') return -1;
    i = strtoul(end + 1, &end, 10);
    if (*end || i < 1 || i > cnt) return -1;
    return (long)(d->class_first[g] + i - 1);
}

/* The content-id of message i of class g (inverse of cid_index). */
static void cid_of(const struct dir *d, size_t g, size_t i, char *buf, size_t cap)
{
    if (d->class_first[g + 1] - d->class_first[g] == 1) snprintf(buf, cap, "%s-%zu", d->tag, g);
    else snprintf(buf, cap, "%s-%zu-%zu", d->tag, g, i - d->class_first[g] + 1);
}

/* ------------------------------------------------------------ counting */

static size_t size_of(const struct dir *d, size_t i)
{
    for (size_t g = 0; g < d->nclass; g++)
        if (i < d->class_first[g + 1]) return d->class_size[g];
    return 0;
}

/* One `inbox --tsv` line: kind, mtsid, content-id, peer, size,
 * subject-content-id, outcome, time_ms. */
static void count_line(int mta, char *line)
{
    char *f[8];
    int nf = 0;
    for (char *p = line; nf < 8;) {
        f[nf++] = p;
        p = strchr(p, '\t');
        if (!p) break;
        *p++ = '\0';
    }
    if (nf < 8) return;
    uint64_t t = strtoull(f[7], NULL, 10);
    if (strcmp(f[0], "message") == 0) {
        for (int k = 0; k < 2; k++) {
            struct dir *d = &D.d[k];
            long i = cid_index(d, f[2]);
            if (i < 0) continue;
            if (d->to != mta) { d->unexpected++; return; }
            if (d->deliv[i]++ == 0) {
                d->delivered++;
                d->bytes_delivered += size_of(d, (size_t)i);
            } else {
                d->dups++;
            }
            if (t > d->last_deliv_ms) d->last_deliv_ms = t;
            return;
        }
        D.d[0].unexpected++;
    } else if (strcmp(f[0], "report") == 0) {
        for (int k = 0; k < 2; k++) {
            struct dir *d = &D.d[k];
            long i = cid_index(d, f[5]);
            if (i < 0) continue;
            if (d->from != mta) { d->unexpected++; return; }
            if (strncmp(f[6], "delivered", 9) == 0) {
                if (d->drs[i]++ == 0) d->reports++;
                else d->report_dups++;
                if (t > d->last_dr_ms) d->last_dr_ms = t;
            } else {
                if (d->ndrs[i]++ == 0) d->ndr++;
                if (!d->ndr_example[0])
                    snprintf(d->ndr_example, sizeof d->ndr_example, "%s: %s", f[5], f[6]);
            }
            return;
        }
        D.d[0].unexpected++;
    }
}

static int poll_inboxes(void)
{
    for (int k = 0; k < 2; k++) {
        struct dir *d = &D.d[k];
        memset(d->deliv, 0, d->n * sizeof *d->deliv);
        memset(d->drs, 0, d->n * sizeof *d->drs);
        memset(d->ndrs, 0, d->n * sizeof *d->ndrs);
        d->delivered = d->dups = d->reports = d->report_dups = d->ndr = d->unexpected = 0;
        d->bytes_delivered = d->last_deliv_ms = d->last_dr_ms = 0;
        d->ndr_example[0] = '\0';
    }
    for (int i = 0; i < 2; i++) {
        struct argv_b a = { .n = 0 };
        char *out, *line, *save = NULL;
        int rc;
        tool_argv(&a, &D.m[i], "inbox");
        av_add(&a, "--tsv");
        rc = run_tool(&a, &out);
        av_free(&a);
        if (rc != 0) {
            free(out);
            return -1;
        }
        for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
            count_line(i, line);
        free(out);
    }
    return 0;
}

static void poll_stats(struct mta *m)
{
    struct argv_b a = { .n = 0 };
    char *out, *line, *save = NULL;
    int rc;
    if (m->pid <= 0) return;
    tool_argv(&a, m, "stats");
    rc = run_tool(&a, &out);
    av_free(&a);
    if (rc == 0)
        for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            char *eq = strchr(line, '=');
            size_t i;
            if (!eq || eq == line || (size_t)(eq - line) >= sizeof m->stats_keys[0]) continue;
            *eq = '\0';
            for (i = 0; i < m->nstats && strcmp(m->stats_keys[i], line) != 0; i++) {
            }
            if (i == m->nstats) {
                if (m->nstats == 32) continue;
                snprintf(m->stats_keys[i], sizeof m->stats_keys[i], "%s", line);
                m->stats_cur[i] = m->stats_base[i] = 0;
                m->nstats++;
            }
            m->stats_cur[i] = strtoull(eq + 1, NULL, 10);
        }
    free(out);
}

/* The counter over all runs of this MTA (-1: never reported). */
static long long stat_total(const struct mta *m, const char *key)
{
    for (size_t i = 0; i < m->nstats; i++)
        if (strcmp(m->stats_keys[i], key) == 0) return (long long)(m->stats_base[i] + m->stats_cur[i]);
    return -1;
}

static long long stat_now(const struct mta *m, const char *key)
{
    for (size_t i = 0; i < m->nstats; i++)
        if (strcmp(m->stats_keys[i], key) == 0) return (long long)m->stats_cur[i];
    return -1;
}

/* A run ended: its counters become part of the base. */
static void stats_rollover(struct mta *m)
{
    for (size_t i = 0; i < m->nstats; i++) {
        m->stats_base[i] += m->stats_cur[i];
        m->stats_cur[i] = 0;
    }
}

static int dir_complete(const struct dir *d)
{
    return d->submitted == d->n && d->delivered == d->n && d->reports == d->n;
}

/* ------------------------------------------------------------ output */

static void human_bytes(char *b, size_t cap, double v)
{
    if (v >= 1e6) snprintf(b, cap, "%.1f MB", v / 1e6);
    else if (v >= 1e3) snprintf(b, cap, "%.1f kB", v / 1e3);
    else snprintf(b, cap, "%.0f B", v);
}

static void progress(void)
{
    char q[2][24], moved[24];
    double el = since_t0();
    uint64_t bytes;
    pthread_mutex_lock(&D.px.mu);
    bytes = D.px.bytes;
    pthread_mutex_unlock(&D.px.mu);
    for (int i = 0; i < 2; i++) {
        long long v = stat_now(&D.m[i], "queue_len");
        if (D.m[i].pid <= 0) snprintf(q[i], sizeof q[i], "down");
        else if (v < 0) snprintf(q[i], sizeof q[i], "?");
        else snprintf(q[i], sizeof q[i], "%lld", v);
    }
    human_bytes(moved, sizeof moved, el > 0 ? (double)(D.d[0].bytes_delivered + D.d[1].bytes_delivered) / el : 0);
    printf("%s%6.1fs  A->B %zu/%zu DR %zu   B->A %zu/%zu DR %zu   queue A %s B %s   %s/s delivered, "
           "%.1f MB proxied%s",
           D.tty ? "\r\033[K" : "", el, D.d[0].delivered, D.d[0].n, D.d[0].reports, D.d[1].delivered,
           D.d[1].n, D.d[1].reports, q[0], q[1], moved, (double)bytes / 1e6, D.tty ? "" : "\n");
    D.line_open = D.tty;
    fflush(stdout);
}

/* ------------------------------------------------------------ options */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mta_demo [options]\n"
            "  Two x400mta processes exchange messages both ways over TCP proxies,\n"
            "  with a network cut and an MTA crash injected; checks exactly-once delivery.\n"
            "  --messages N      messages each way (default 200)\n"
            "  --min-size B      smallest content (default 100)\n"
            "  --max-size B      largest content (default 1048576); sizes are log-spaced\n"
            "  --no-cut          do not cut the TCP connections\n"
            "  --no-kill         do not SIGKILL an MTA\n"
            "  --kill-side a|b   which MTA to kill (default b)\n"
            "  --timeout S       give up after S seconds (default 50)\n"
            "  --keep            keep the temporary directory (configs, spools, logs)\n"
            "  --pcap FILE       record the proxied connections (decode: tshark -d tcp.port==P,tpkt)\n"
            "  --quiet           no progress, only the summary\n"
            "  --bin DIR         where x400mta is (default: ../examples from this program's\n"
            "                    directory, as in build/tools/ and build/examples/)\n");
}

static long num_arg(int argc, char **argv, int *i, long lo, long hi)
{
    char *end;
    long v;
    if (*i + 1 >= argc) { fprintf(stderr, "mta_demo: %s needs a value\n", argv[*i]); exit(2); }
    errno = 0;
    v = strtol(argv[++*i], &end, 10);
    if (errno || *end || end == argv[*i] || v < lo || v > hi) {
        fprintf(stderr, "mta_demo: %s: %s is not in %ld..%ld\n", argv[*i - 1], argv[*i], lo, hi);
        exit(2);
    }
    return v;
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
    o->messages = 200;
    o->min_size = 100;
    o->max_size = 1048576;
    o->timeout_s = 50;
    o->cut = o->kill = 1;
    o->kill_side = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--messages")) o->messages = num_arg(argc, argv, &i, 1, MAX_MESSAGES);
        else if (!strcmp(a, "--min-size")) o->min_size = num_arg(argc, argv, &i, 1, MAX_SIZE_LIMIT);
        else if (!strcmp(a, "--max-size")) o->max_size = num_arg(argc, argv, &i, 1, MAX_SIZE_LIMIT);
        else if (!strcmp(a, "--timeout")) o->timeout_s = num_arg(argc, argv, &i, 1, 86400);
        else if (!strcmp(a, "--no-cut")) o->cut = 0;
        else if (!strcmp(a, "--no-kill")) o->kill = 0;
        else if (!strcmp(a, "--keep")) o->keep = 1;
        else if (!strcmp(a, "--quiet")) o->quiet = 1;
        else if (!strcmp(a, "--kill-side") && i + 1 < argc &&
                 (!strcmp(argv[i + 1], "a") || !strcmp(argv[i + 1], "b")))
            o->kill_side = argv[++i][0] == 'b';
        else if (!strcmp(a, "--pcap") && i + 1 < argc) o->pcap = argv[++i];
        else if (!strcmp(a, "--bin") && i + 1 < argc) o->bin = argv[++i];
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); exit(0); }
        else { fprintf(stderr, "mta_demo: bad option %s\n", a); usage(stderr); exit(2); }
    }
    if (o->min_size > o->max_size) {
        fprintf(stderr, "mta_demo: --min-size is larger than --max-size\n");
        exit(2);
    }
}

/* ------------------------------------------------------------ main */

static void setup(const char *argv0)
{
    struct stat st;
    char path[PATH_MAX];
    /* the x400mta binary */
    if (D.o.bin) {
        if (snprintf(D.bin, sizeof D.bin, "%s", D.o.bin) >= (int)sizeof D.bin) fail("--bin: path too long");
    }
    else {   /* build/tools/mta_demo finds build/examples/x400mta */
        const char *sl = strrchr(argv0, '/');
        if (sl && (size_t)(sl - argv0) < sizeof D.bin - 12)
            snprintf(D.bin, sizeof D.bin, "%.*s/../examples", (int)(sl - argv0), argv0);
        else snprintf(D.bin, sizeof D.bin, "../examples");
    }
    snprintf(path, sizeof path, "%s/x400mta", D.bin);
    if (stat(path, &st) != 0 || access(path, X_OK) != 0)
        fail("%s: not found or not executable (use --bin DIR)", path);
    /* the temporary directory */
    if (x400t_scratch_dir(D.dir, sizeof D.dir, "mta_demo") != 0)
        fail("no temporary directory under $TMPDIR: %s", strerror(errno));
    D.dir_made = 1;
    snprintf(D.toollog, sizeof D.toollog, "%s/tools.log", D.dir);
    for (int i = 0; i < 2; i++) {
        struct mta *m = &D.m[i];
        m->name = i ? "MTA-B" : "MTA-A";
        m->letter = i ? 'b' : 'a';
        snprintf(m->cfg, sizeof m->cfg, "%s/mta-%c.conf", D.dir, m->letter);
        snprintf(m->log, sizeof m->log, "%s/mta-%c.log", D.dir, m->letter);
        snprintf(m->out, sizeof m->out, "%s/mta-%c.out", D.dir, m->letter);
        snprintf(m->spool, sizeof m->spool, "%s/spool-%c", D.dir, m->letter);
        /* a free loopback port, released for the MTA (which binds it with
         * SO_REUSEADDR) */
        m->port = (uint16_t)x400t_free_port();
        if (!m->port) fail("no free loopback port: %s", strerror(errno));
    }
    /* the proxies: listening before any MTA starts, never released */
    D.px.rng = (uint32_t)(wall_ms() ^ (uint64_t)getpid() << 16) | 1u;
    for (int i = 0; i < 2; i++) {
        D.px.lfd[i] = listen_loopback(&D.px.port[i]);
        if (D.px.lfd[i] < 0) fail("proxy listen: %s", strerror(errno));
        set_nonblock(D.px.lfd[i]);
        D.px.up_port[i] = D.m[i].port;
    }
    if (D.px.port[0] == D.m[1].port || D.px.port[1] == D.m[0].port || D.m[0].port == D.m[1].port)
        fail("port clash, try again");
    /* MTA-A reaches MTA-B by name, MTA-B reaches MTA-A by address */
    write_config(&D.m[0], &D.m[1], "localhost", D.px.port[1]);
    write_config(&D.m[1], &D.m[0], "127.0.0.1", D.px.port[0]);
    if (pipe2(D.px.wake, O_CLOEXEC | O_NONBLOCK) != 0) fail("pipe: %s", strerror(errno));
    pthread_mutex_init(&D.px.mu, NULL);
    D.px.bulk = D.o.max_size / 4 < 512 ? 512 : (D.o.max_size / 4 > 8192 ? 8192 : (size_t)D.o.max_size / 4);
    if (D.o.pcap) {
        if (pcap_open(&D.px.pcap, D.o.pcap) != 0) fail("%s: %s", D.o.pcap, strerror(errno));
        D.px.recording = 1;
    }
    D.d[0] = (struct dir){ .tag = "a2b", .from = 0, .to = 1 };
    D.d[1] = (struct dir){ .tag = "b2a", .from = 1, .to = 0 };
    plan(&D.d[0], &D.o);
    plan(&D.d[1], &D.o);
}

static void start_proxy(void)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);   /* signals are the main thread's */
    if (pthread_create(&D.px.th, NULL, px_main, &D.px) != 0) fail("pthread_create failed");
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    D.px.started = 1;
}

/* Submission jobs: class g of direction k, `--count` copies of one size. */
static int submit_job(int k, size_t g)
{
    struct dir *d = &D.d[k];
    const struct mta *m = &D.m[d->from];
    static const char *const user[2] = { "C=XX;A=ADMD;P=ALPHA;S=Alice", "C=XX;A=ADMD;P=BRAVO;S=Bob" };
    struct argv_b a = { .n = 0 };
    size_t cnt = d->class_first[g + 1] - d->class_first[g];
    char *out;
    int rc;
    tool_argv(&a, m, "submit");
    av_add(&a, "--from");
    av_add(&a, "%s", user[d->from]);
    av_add(&a, "--to");
    av_add(&a, "%s", user[d->to]);
    av_add(&a, "--content-id");
    av_add(&a, "%s-%zu", d->tag, g);
    av_add(&a, "--count");
    av_add(&a, "%zu", cnt);
    av_add(&a, "--size");
    av_add(&a, "%zu", d->class_size[g]);
    rc = run_tool(&a, &out);
    av_free(&a);
    free(out);
    if (rc != 0) return -1;
    d->submitted += cnt;
    return 0;
}

/* Child MTAs that ended on their own are an error. */
static void check_children(void)
{
    for (int i = 0; i < 2; i++) {
        int st;
        struct mta *m = &D.m[i];
        if (m->pid > 0 && waitpid(m->pid, &st, WNOHANG) == m->pid) {
            m->pid = 0;
            if (WIFEXITED(st)) fail("%s exited with status %d (see %s, %s)", m->name, WEXITSTATUS(st), m->log, m->out);
            fail("%s died of signal %d (see %s, %s)", m->name, WTERMSIG(st), m->log, m->out);
        }
    }
}

static void summary(double elapsed, int timed_out, uint64_t cut_bytes, size_t cut_conns, int cut_done,
                    int killed, double kill_at, double restart_at)
{
    static const char *const arrow[2] = { "A -> B", "B -> A" };
    const struct dir *d = D.d;
    long long supp[2], proxied;
    unsigned long acc, ref;
    int ok = 1;
    char why[1024] = "", tmp[320];
    pthread_mutex_lock(&D.px.mu);
    proxied = (long long)D.px.bytes;
    acc = D.px.accepted;
    ref = D.px.refused;
    pthread_mutex_unlock(&D.px.mu);
    for (int k = 0; k < 2; k++) supp[k] = stat_total(&D.m[d[k].to], "duplicates");
    printf("\nsummary                        %12s  %12s\n", arrow[0], arrow[1]);
    printf("  submitted                    %12zu  %12zu\n", d[0].submitted, d[1].submitted);
    printf("  delivered (distinct)         %12zu  %12zu\n", d[0].delivered, d[1].delivered);
    printf("  duplicates delivered         %12zu  %12zu\n", d[0].dups, d[1].dups);
    printf("  duplicates suppressed        %12lld  %12lld   (receiver's counter)\n", supp[0], supp[1]);
    printf("  lost                         %12zu  %12zu\n", d[0].n - d[0].delivered, d[1].n - d[1].delivered);
    printf("  delivery reports             %12zu  %12zu\n", d[0].reports, d[1].reports);
    printf("  duplicate reports            %12zu  %12zu\n", d[0].report_dups, d[1].report_dups);
    printf("  non-delivery reports         %12zu  %12zu\n", d[0].ndr, d[1].ndr);
    {
        double t[2], tr[2];
        for (int k = 0; k < 2; k++) {
            t[k] = d[k].last_deliv_ms > D.t0_wall ? (double)(d[k].last_deliv_ms - D.t0_wall) / 1000.0 : 0;
            tr[k] = d[k].last_dr_ms > D.t0_wall ? (double)(d[k].last_dr_ms - D.t0_wall) / 1000.0 : 0;
        }
        printf("  last delivery at (s)         %12.2f  %12.2f\n", t[0], t[1]);
        printf("  last report back at (s)      %12.2f  %12.2f\n", tr[0], tr[1]);
        printf("  throughput (msg/s)           %12.1f  %12.1f\n", t[0] > 0 ? (double)d[0].delivered / t[0] : 0,
               t[1] > 0 ? (double)d[1].delivered / t[1] : 0);
        printf("  throughput (MB/s)            %12.2f  %12.2f\n",
               t[0] > 0 ? (double)d[0].bytes_delivered / 1e6 / t[0] : 0,
               t[1] > 0 ? (double)d[1].bytes_delivered / 1e6 / t[1] : 0);
    }
    printf("total: %zu messages, %.1f MB of content in %.2f s: %.1f msg/s, %.2f MB/s; %.1f MB through the "
           "proxies in %lu connections (%lu refused)\n",
           d[0].delivered + d[1].delivered, (double)(d[0].bytes_delivered + d[1].bytes_delivered) / 1e6, elapsed,
           elapsed > 0 ? (double)(d[0].delivered + d[1].delivered) / elapsed : 0,
           elapsed > 0 ? (double)(d[0].bytes_delivered + d[1].bytes_delivered) / 1e6 / elapsed : 0,
           (double)proxied / 1e6, acc, ref);
    if (D.o.cut) {
        if (cut_done) printf("fault: cut %zu connections after %.1f MB proxied\n", cut_conns, (double)cut_bytes / 1e6);
        else printf("fault: cut not done (nothing in flight)\n");
    }
    if (D.o.kill) {
        if (killed && restart_at > 0)
            printf("fault: SIGKILL %s at %.1f s, restarted at %.1f s\n", D.m[D.o.kill_side].name, kill_at, restart_at);
        else if (killed)
            printf("fault: SIGKILL %s at %.1f s, all done before its restart\n", D.m[D.o.kill_side].name, kill_at);
        else printf("fault: kill not done (finished first)\n");
    }
    for (int k = 0; k < 2; k++) {
        const char *a = arrow[k];
        if (d[k].submitted != d[k].n) {
            snprintf(tmp, sizeof tmp, "%s: only %zu of %zu submitted; ", a, d[k].submitted, d[k].n);
            strncat(why, tmp, sizeof why - strlen(why) - 1);
            ok = 0;
        }
        if (d[k].delivered != d[k].n) {
            size_t shown = 0;
            snprintf(tmp, sizeof tmp, "%s: %zu lost (", a, d[k].n - d[k].delivered);
            strncat(why, tmp, sizeof why - strlen(why) - 1);
            for (size_t g = 0; g < d[k].nclass && shown < 3; g++)
                for (size_t i = d[k].class_first[g]; i < d[k].class_first[g + 1] && shown < 3; i++)
                    if (!d[k].deliv[i]) {
                        char cid[32];
                        cid_of(&d[k], g, i, cid, sizeof cid);
                        snprintf(tmp, sizeof tmp, "%s%s", shown ? " " : "", cid);
                        strncat(why, tmp, sizeof why - strlen(why) - 1);
                        shown++;
                    }
            strncat(why, shown < d[k].n - d[k].delivered ? " ...); " : "); ", sizeof why - strlen(why) - 1);
            ok = 0;
        }
        if (d[k].dups || d[k].report_dups) {
            snprintf(tmp, sizeof tmp, "%s: %zu duplicate deliveries, %zu duplicate reports; ", a, d[k].dups,
                     d[k].report_dups);
            strncat(why, tmp, sizeof why - strlen(why) - 1);
            ok = 0;
        }
        if (d[k].reports != d[k].n) {
            snprintf(tmp, sizeof tmp, "%s: %zu delivery reports missing; ", a, d[k].n - d[k].reports);
            strncat(why, tmp, sizeof why - strlen(why) - 1);
            ok = 0;
        }
        if (d[k].ndr) {
            snprintf(tmp, sizeof tmp, "%s: %zu non-delivery reports (%s); ", a, d[k].ndr, d[k].ndr_example);
            strncat(why, tmp, sizeof why - strlen(why) - 1);
            ok = 0;
        }
        if (d[k].unexpected) {
            snprintf(tmp, sizeof tmp, "%s: %zu unexpected inbox entries; ", a, d[k].unexpected);
            strncat(why, tmp, sizeof why - strlen(why) - 1);
            ok = 0;
        }
    }
    if (timed_out) {
        snprintf(tmp, sizeof tmp, "timed out after %ld s; ", D.o.timeout_s);
        strncat(why, tmp, sizeof why - strlen(why) - 1);
        ok = 0;
    }
    if (ok)
        printf("result: OK: every message delivered exactly once in both directions, every delivery report back\n");
    else {
        size_t l = strlen(why);
        if (l >= 2) why[l - 2] = '\0';
        printf("result: FAILED: %s\n", why);
        D.o.keep = 1;
        printf("logs and spools kept in %s\n", D.dir);
    }
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    uint64_t next_poll = 0, next_print = 0, kill_at_bytes, deadline, armed_at = 0, restart_due = 0, t_end;
    size_t next_job = 0, njobs;
    int timed_out = 0, killed = 0, cut_done = 0;
    double kill_time = 0, restart_time = 0;
    uint64_t cut_bytes = 0, total_bytes;
    size_t cut_conns = 0;
    int rcs[2];

    setvbuf(stdout, NULL, _IOFBF, 1 << 14);
    parse_opts(argc, argv, &D.o);
    D.tty = isatty(1) && !D.o.quiet;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    atexit(cleanup);
    setup(argv[0]);
    total_bytes = D.d[0].bytes + D.d[1].bytes;
    kill_at_bytes = total_bytes / 2;
    njobs = D.d[0].nclass + D.d[1].nclass;

    if (!D.o.quiet) {
        char lo[24], hi[24], each[24];
        human_bytes(lo, sizeof lo, (double)D.o.min_size);
        human_bytes(hi, sizeof hi, (double)D.o.max_size);
        human_bytes(each, sizeof each, (double)D.d[0].bytes);
        printf("mta_demo (libx400p1 %s): two x400mta processes over TCP, through fault-injecting proxies\n",
               X400P1_VERSION);
        printf("  MTA-A listens on 127.0.0.1:%u; MTA-B reaches it as 127.0.0.1:%u (proxy)\n", D.m[0].port,
               D.px.port[0]);
        printf("  MTA-B listens on 127.0.0.1:%u; MTA-A reaches it as localhost:%u (proxy)\n", D.m[1].port,
               D.px.port[1]);
        printf("  %ld messages each way, %s .. %s in %zu log-spaced sizes (%s each way), delivery reports on\n",
               D.o.messages, lo, hi, D.d[0].nclass, each);
        printf("  faults: %s; %s\n", D.o.cut ? "cut every proxied connection after 20% of the payload" : "no cut",
               D.o.kill ? (D.o.kill_side ? "SIGKILL MTA-B after 50%, restart 1 s later"
                                         : "SIGKILL MTA-A after 50%, restart 1 s later")
                        : "no kill");
        printf("  configs, spools, logs: %s%s\n", D.dir, D.o.keep ? " (kept)" : " (removed at exit; --keep)");
    }
    if (D.o.pcap)
        printf("pcap: %s (decode: tshark -r %s -d tcp.port==%u,tpkt -d tcp.port==%u,tpkt)\n", D.o.pcap, D.o.pcap,
               D.px.port[0], D.px.port[1]);
    fflush(stdout);

    start_proxy();
    for (int i = 0; i < 2; i++)
        if (mta_start(&D.m[i]) != 0) fail("cannot start %s: %s", D.m[i].name, strerror(errno));
    if (D.o.cut) {
        pthread_mutex_lock(&D.px.mu);
        D.px.cut_at = total_bytes / 5 ? total_bytes / 5 : 1;
        pthread_mutex_unlock(&D.px.mu);
    }
    D.t0_mono = mono_ms();
    D.t0_wall = wall_ms();
    deadline = D.t0_mono + (uint64_t)D.o.timeout_s * 1000u;

    for (;;) {
        uint64_t now = mono_ms(), bytes;
        if (g_interrupted) {
            event("interrupted (signal %d): stopping the MTAs", (int)g_interrupted);
            stop_everything();
            fail("interrupted");
        }
        check_children();
        pthread_mutex_lock(&D.px.mu);
        bytes = D.px.bytes;
        if (D.px.cut_done && !cut_done) {
            cut_done = 1;
            cut_conns = D.px.cut_conns;
            cut_bytes = D.px.cut_when_bytes;
        }
        if (D.o.cut && !cut_done && !D.px.cut_now && bytes >= D.px.cut_at && D.px.cut_at) {
            if (!armed_at) armed_at = now;
            else if (now - armed_at > 2000 && D.px.open_now) {   /* no bulk read seen: cut what is open */
                D.px.cut_now = 1;
                px_wake(&D.px);
            }
        }
        pthread_mutex_unlock(&D.px.mu);
        if (cut_done == 1) {
            event("fault: cut %zu proxied connections (reset both sides) after %.1f MB", cut_conns,
                  (double)cut_bytes / 1e6);
            cut_done = 2;
        }
        /* the kill, once the cut is behind us */
        if (D.o.kill && !killed && bytes >= kill_at_bytes && (!D.o.cut || cut_done)) {
            struct mta *m = &D.m[D.o.kill_side];
            poll_stats(m);
            event("fault: SIGKILL %s (pid %ld)", m->name, (long)m->pid);
            mtas_stop(1u << D.o.kill_side, SIGKILL, rcs);
            stats_rollover(m);
            killed = 1;
            kill_time = since_t0();
            restart_due = mono_ms() + 1000;
        }
        if (restart_due && mono_ms() >= restart_due) {
            struct mta *m = &D.m[D.o.kill_side];
            if (mta_start(m) != 0) fail("cannot restart %s: %s", m->name, strerror(errno));
            restart_due = 0;
            restart_time = since_t0();
            event("restarted %s (pid %ld) with the same configuration and spool", m->name, (long)m->pid);
        }
        /* submissions, one job per turn, alternating directions */
        if (next_job < njobs) {
            int k = (int)(next_job % 2);
            size_t g = next_job / 2;
            if (g < D.d[k].nclass && submit_job(k, g) != 0)
                fail("x400mta submit failed for %s (see %s)", D.m[D.d[k].from].name, D.toollog);
            next_job++;
            if (next_job == njobs) event("all %zu messages submitted", D.d[0].submitted + D.d[1].submitted);
        }
        now = mono_ms();
        if (now >= next_poll) {
            next_poll = now + POLL_MS;
            if (poll_inboxes() != 0) fail("x400mta inbox failed (see %s)", D.toollog);
            poll_stats(&D.m[0]);
            poll_stats(&D.m[1]);
            if (dir_complete(&D.d[0]) && dir_complete(&D.d[1])) break;
            if (!D.o.quiet && now >= next_print) {
                progress();
                next_print = now + (D.tty ? POLL_MS : 2000);
            }
        }
        if (now >= deadline) {
            timed_out = 1;
            break;
        }
        if (next_job >= njobs) sleep_ms(TICK_MS);
    }
    t_end = mono_ms();
    if (!D.o.quiet) {
        progress();
        if (D.tty) putchar('\n');
        D.line_open = 0;
    }
    event("stopping both MTAs (SIGTERM)");
    for (int i = 0; i < 2; i++) poll_stats(&D.m[i]);
    mtas_stop(3, SIGTERM, rcs);
    for (int i = 0; i < 2; i++)
        if (rcs[i] != 0) printf("warning: %s ended with status %d on SIGTERM\n", D.m[i].name, rcs[i]);
    stop_everything();
    if (poll_inboxes() != 0) fail("x400mta inbox failed (see %s)", D.toollog);
    if (D.o.pcap)
        printf("pcap: %s, %llu frames%s\n", D.o.pcap, (unsigned long long)D.px.pcap.frames,
               D.px.pcap.failed ? " (WRITE FAILED: incomplete)" : "");
    summary((double)(t_end - D.t0_mono) / 1000.0, timed_out, cut_bytes, cut_conns, cut_done, killed, kill_time,
            restart_time);
    fflush(stdout);
    {
        int ok = !timed_out;
        for (int k = 0; k < 2; k++)
            ok = ok && D.d[k].delivered == D.d[k].n && !D.d[k].dups && D.d[k].reports == D.d[k].n &&
                 !D.d[k].report_dups && !D.d[k].ndr && !D.d[k].unexpected && D.d[k].submitted == D.d[k].n;
        for (int k = 0; k < 2; k++) {
            free(D.d[k].deliv);
            free(D.d[k].drs);
            free(D.d[k].ndrs);
        }
        return ok ? 0 : 1;
    }
}
