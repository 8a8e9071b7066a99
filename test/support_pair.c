/* The two-endpoint harness (pair.h) and the in-memory recording of a
 * connection (wire.h: x400t_wire_init/free/add/add_tsdu; the tshark side
 * is support_wire.c).  No Check calls: the benches link this file. */
#define _XOPEN_SOURCE 700   /* nftw */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pair.h"
#include "x400p1/assoc.h"

/* ---- ends ---------------------------------------------------------------- */

static size_t assoc_pending(void *end, const uint8_t **p) { return x400_assoc_pending(end, p); }
static void assoc_sent(void *end, size_t n) { x400_assoc_sent(end, n); }
static int assoc_recv(void *end, const uint8_t *p, size_t n) { return x400_assoc_recv(end, p, n); }
static void assoc_lost(void *end) { x400_assoc_transport_closed(end); }

const x400t_end_ops x400t_assoc_end = { assoc_pending, assoc_sent, assoc_recv, assoc_lost, 0 };

/* The same through an x400_assoc ** that the test repoints (NULL: none). */
static size_t slot_pending(void *end, const uint8_t **p)
{
    x400_assoc *a = *(x400_assoc **)end;
    return a ? x400_assoc_pending(a, p) : 0;
}
static void slot_sent(void *end, size_t n) { x400_assoc_sent(*(x400_assoc **)end, n); }
static int slot_recv(void *end, const uint8_t *p, size_t n)
{
    x400_assoc *a = *(x400_assoc **)end;
    return a ? x400_assoc_recv(a, p, n) : (int)n;     /* no end: dropped */
}
static void slot_lost(void *end)
{
    x400_assoc *a = *(x400_assoc **)end;
    if (a) x400_assoc_transport_closed(a);
}

const x400t_end_ops x400t_assoc_slot_end = { slot_pending, slot_sent, slot_recv, slot_lost, 0 };

/* ---- the pump -------------------------------------------------------------- */

static void record(x400t_wire *w, const x400t_end_ops *ops, int from_initiator, const uint8_t *d, size_t n)
{
    if (ops->tsdu) x400t_wire_add_tsdu(w, from_initiator, d, n);
    else x400t_wire_add(w, from_initiator, d, n);
}

void x400t_pair_init(x400t_pair *p, const x400t_end_ops *ops, void *initiator, void *responder)
{
    memset(p, 0, sizeof *p);
    p->ops = ops;
    p->end[0] = initiator;
    p->end[1] = responder;
}

void x400t_pair_free(x400t_pair *p)
{
    free(p->buf);
    p->buf = NULL;
    p->cap = 0;
}

int x400t_feed(const x400t_end_ops *ops, void *end, const uint8_t *b, size_t n, size_t split,
               size_t chunk)
{
    size_t off = 0;
    while (off < n) {
        size_t piece = n - off;
        int rv;
        if (chunk && piece > chunk) piece = chunk;
        if (split && off == 0 && split < n) piece = split;
        rv = ops->recv(end, b + off, piece);
        if (rv < 0) return rv;              /* refused: the end aborted */
        if ((size_t)rv != piece) return (int)(off + (size_t)rv);   /* short */
        off += piece;
    }
    return (int)n;
}

void x400t_pair_cut_after(x400t_pair *p, size_t at)
{
    p->cut_armed = 1;
    p->cut_at = at;
    p->counted = 0;
}

void x400t_pair_cut(x400t_pair *p)
{
    p->cut_armed = 0;
    p->cuts++;
    /* the receiver learns first, the sender then reconnects */
    if (p->ops->lost && p->end[1]) p->ops->lost(p->end[1]);
    if (p->ops->lost && p->end[0]) p->ops->lost(p->end[0]);
}

long x400t_pair_move(x400t_pair *p, int from)
{
    const uint8_t *b;
    size_t n;
    long total = 0;
    if (p->ops->tsdu && (p->split || p->chunk || p->take)) {
        snprintf(p->err, sizeof p->err, "a TSDU end is moved whole: split, chunk and take must be 0");
        return -1;
    }
    while (p->end[from] && (n = p->ops->pending(p->end[from], &b)) > 0) {
        void *to;
        const uint8_t *d = b;
        if (p->take && n > p->take) n = p->take;
        if (!p->direct) {
            if (n > p->cap) {
                free(p->buf);
                p->cap = n > 65536 ? n : 65536;
                p->buf = malloc(p->cap);
                if (!p->buf) abort();
            }
            /* a copy: the receiver may make the sender emit (sent() invalidates b) */
            memcpy(p->buf, b, n);
            p->ops->sent(p->end[from], n);
            d = p->buf;
        }
        total += (long)n;
        if (from == 0 && p->cut_armed) {
            if (p->counted + n > p->cut_at) {   /* lost with the connection */
                if (p->direct) p->ops->sent(p->end[from], n);
                x400t_pair_cut(p);
                break;
            }
            p->counted += n;
        }
        if (p->drop[from]) {        /* a peer that never answers */
            if (p->direct) p->ops->sent(p->end[from], n);
            continue;
        }
        if (p->tap) p->tap(p->user, from, d, n);
        if (p->wire) record(p->wire, p->ops, from == 0, d, n);
        to = p->end[!from];
        if (to) {
            int rv = x400t_feed(p->ops, to, d, n, p->split, p->chunk);
            if (rv < 0) {           /* the receiver aborted: tests check the states */
                if (!p->refused++) p->first_refusal = rv;
                p->last_refusal = rv;
            } else if ((size_t)rv != n) {
                snprintf(p->err, sizeof p->err, "short input: %d of %zu octets taken", rv, n);
                return -1;
            }
        }
        if (p->direct) p->ops->sent(p->end[from], n);
        p->moved += n;
        if (p->interleave && from == 0 && x400t_pair_move(p, 1) < 0) return -1;
    }
    return total;
}

int x400t_pair_pump(x400t_pair *p)
{
    int limit = p->max_rounds > 0 ? p->max_rounds : p->guard > 0 ? p->guard : 1000000;
    p->err[0] = '\0';
    for (int round = 0; round < limit; round++) {
        long a = x400t_pair_move(p, 0), b;
        if (a < 0) return -1;
        b = x400t_pair_move(p, 1);
        if (b < 0) return -1;
        if (p->after_round && p->after_round(p->user, p->err, sizeof p->err) < 0) return -1;
        if (!a && !b) return 0;
    }
    if (p->max_rounds > 0) return 0;
    snprintf(p->err, sizeof p->err, "pump did not settle");
    return -1;
}

size_t x400t_take(const x400t_end_ops *ops, void *end, uint8_t **buf, size_t *len, x400t_wire *w,
                  int from_initiator)
{
    const uint8_t *b;
    size_t n, total = 0;
    while ((n = ops->pending(end, &b)) > 0) {
        if (buf) {
            uint8_t *nb = realloc(*buf, *len + n);
            if (!nb) abort();
            memcpy(nb + *len, b, n);
            *buf = nb;
            *len += n;
        }
        if (w) record(w, ops, from_initiator, b, n);
        ops->sent(end, n);
        total += n;
    }
    return total;
}

/* ---- recording (wire.h) ------------------------------------------------------ */

void x400t_wire_init(x400t_wire *w) { memset(w, 0, sizeof *w); }

void x400t_wire_free(x400t_wire *w)
{
    for (size_t i = 0; i < w->n; i++) free(w->rec[i].p);
    free(w->rec);
    memset(w, 0, sizeof *w);
}

static void push(x400t_wire *w, int dir, const uint8_t *p, size_t len)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 64;
        w->rec = realloc(w->rec, w->cap * sizeof *w->rec);
        if (!w->rec) abort();
    }
    w->rec[w->n].from_initiator = dir;
    w->rec[w->n].p = malloc(len ? len : 1);
    if (!w->rec[w->n].p) abort();
    memcpy(w->rec[w->n].p, p, len);
    w->rec[w->n].len = len;
    w->n++;
}

/* Bytes of an incomplete TPKT are kept in a record marked with direction
 * dir + 2 until a later call completes them; only complete TPKTs are
 * written to the capture. */
void x400t_wire_add(x400t_wire *w, int dir, const uint8_t *p, size_t len)
{
    static const uint8_t none[1] = { 0 };
    size_t i, have = 0;
    uint8_t *pend = NULL;
    /* find a pending record for this direction (marked by from_initiator+2) */
    for (i = 0; i < w->n; i++)
        if (w->rec[i].from_initiator == dir + 2) break;
    if (i < w->n) {
        pend = w->rec[i].p;
        have = w->rec[i].len;
        memmove(&w->rec[i], &w->rec[i + 1], (w->n - i - 1) * sizeof *w->rec);
        w->n--;
    }
    pend = realloc(pend, have + len + 1);
    if (!pend) abort();
    memcpy(pend + have, len ? p : none, len);
    have += len;
    size_t off = 0;
    while (have - off >= 4) {
        size_t tl = (size_t)pend[off + 2] << 8 | pend[off + 3];
        if (tl < 4) tl = have - off; /* garbage: record the rest as is */
        if (have - off < tl) break;
        push(w, dir, pend + off, tl);
        off += tl;
    }
    if (have > off) {
        push(w, dir + 2, pend + off, have - off);
    }
    free(pend);
}

void x400t_wire_add_tsdu(x400t_wire *w, int dir, const uint8_t *tsdu, size_t len)
{
    /* Split into DT TPDUs of at most 65531 - 7 bytes of data. */
    size_t off = 0;
    do {
        size_t chunk = len - off > 65524 ? 65524 : len - off;
        size_t tl = chunk + 7;
        uint8_t *b = malloc(tl);
        if (!b) abort();
        b[0] = 3; b[1] = 0; b[2] = (uint8_t)(tl >> 8); b[3] = (uint8_t)tl;
        b[4] = 2; b[5] = 0xf0; b[6] = (off + chunk == len) ? 0x80 : 0x00;
        memcpy(b + 7, tsdu + off, chunk);
        push(w, dir, b, tl);
        free(b);
        off += chunk;
    } while (off < len);
}

/* ---- scratch directories and ports ------------------------------------------ */

int x400t_scratch_dir(char *out, size_t cap, const char *prefix)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    if ((size_t)snprintf(out, cap, "%s/%s-XXXXXX", base, prefix) >= cap) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return mkdtemp(out) ? 0 : -1;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int x400t_rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : -1;
    return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* One free port: bound to port 0 and closed again.  The kernel may hand the
 * same port out again at once (a test's two MTAs were once given one port
 * and the second could not listen), so the last ports this process got are
 * not returned twice. */
static unsigned free_port_once(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    unsigned p = 0;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        p = ntohs(sa.sin_port);
    if (fd >= 0) close(fd);
    return p;
}

unsigned x400t_free_port(void)
{
    static unsigned recent[32];
    static unsigned next;
    unsigned p = 0;
    for (int tries = 0; tries < 64; tries++) {
        int dup = 0;
        p = free_port_once();
        for (unsigned i = 0; i < 32; i++) dup |= p && recent[i] == p;
        if (!dup) break;
    }
    recent[next++ % 32] = p;
    return p;
}
