/*
 * x400mta -- admission control of inbound connections (doc/mta.md,
 * "Hostile or broken peers"): per source address, the connections not yet
 * bound and the back-off after failed binds; and a log rate limiter.
 *
 * A source is the numeric address without the port.  The table is a hash
 * of chained entries; an entry lives while the source has unbound
 * connections or a back-off that has not expired, so its size is bounded
 * by max-unbound plus the sources that failed a bind within the last
 * bind-backoff-max seconds (at most MTA_GUARD_MAX_SOURCES: beyond that a
 * failed bind is not remembered, and that is logged by the caller).
 */
#include <stdlib.h>
#include <string.h>

#include "mta.h"

#define NBUCKETS 4096u                 /* power of two */

typedef struct src {
    struct src *next;
    char addr[MTA_GUARD_ADDR_MAX];
    uint32_t unbound;                  /* connections accepted, not yet bound */
    uint32_t failures;                 /* failed binds in a row */
    uint64_t refuse_until;             /* back-off: refused before this (ms) */
    uint64_t forget_at;                /* failures forgotten after this (ms): back-off + its maximum */
} src;

struct mta_guard {
    mta_limits lim;
    src *bucket[NBUCKETS];
    size_t n;
};

static uint32_t hash_addr(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h & (NBUCKETS - 1);
}

/* "1.2.3.4:102" -> "1.2.3.4", "[::1]:102" -> "::1". */
void mta_guard_source_of(const char *peer, char out[MTA_GUARD_ADDR_MAX])
{
    size_t n;
    const char *end;
    if (peer[0] == '[' && (end = strchr(peer, ']')) != NULL) {
        peer++;
    } else {
        end = strrchr(peer, ':');
        if (!end) end = peer + strlen(peer);
    }
    n = (size_t)(end - peer);
    if (n >= MTA_GUARD_ADDR_MAX) n = MTA_GUARD_ADDR_MAX - 1;
    memcpy(out, peer, n);
    out[n] = 0;
}

int mta_guard_new(mta_guard **out, const mta_limits *lim)
{
    mta_guard *g = calloc(1, sizeof *g);
    *out = g;
    if (!g) return -1;
    g->lim = *lim;
    return 0;
}

void mta_guard_free(mta_guard *g)
{
    if (!g) return;
    for (size_t b = 0; b < NBUCKETS; b++)
        while (g->bucket[b]) {
            src *s = g->bucket[b];
            g->bucket[b] = s->next;
            free(s);
        }
    free(g);
}

static src *find(mta_guard *g, const char *addr, src ***where)
{
    src **pp = &g->bucket[hash_addr(addr)];
    for (; *pp; pp = &(*pp)->next)
        if (!strcmp((*pp)->addr, addr)) break;
    if (where) *where = pp;
    return *pp;
}

static src *get(mta_guard *g, const char *addr)
{
    src **pp;
    src *s = find(g, addr, &pp);
    if (s) return s;
    if (g->n >= MTA_GUARD_MAX_SOURCES) return NULL;
    s = calloc(1, sizeof *s);
    if (!s) return NULL;
    snprintf(s->addr, sizeof s->addr, "%s", addr);
    *pp = s;
    g->n++;
    return s;
}

/* Forget an entry that holds nothing any more. */
static void drop_if_idle(mta_guard *g, const char *addr, uint64_t now)
{
    src **pp;
    src *s = find(g, addr, &pp);
    if (!s || s->unbound || now < s->forget_at) return;
    *pp = s->next;
    free(s);
    g->n--;
}

mta_guard_verdict mta_guard_admit(mta_guard *g, const char *addr, uint64_t now, uint64_t *wait_ms)
{
    src *s;
    if (wait_ms) *wait_ms = 0;
    s = find(g, addr, NULL);
    if (s && now < s->refuse_until) {
        if (wait_ms) *wait_ms = s->refuse_until - now;
        return MTA_GUARD_BACKOFF;
    }
    if (s && s->unbound >= g->lim.max_unbound_per_source) return MTA_GUARD_PER_SOURCE;
    s = get(g, addr);
    if (!s) return MTA_GUARD_FULL;
    s->unbound++;
    return MTA_GUARD_OK;
}

void mta_guard_unbound_done(mta_guard *g, const char *addr, uint64_t now)
{
    src *s = find(g, addr, NULL);
    if (!s) return;
    if (s->unbound) s->unbound--;
    drop_if_idle(g, addr, now);
}

uint64_t mta_guard_bind_failed(mta_guard *g, const char *addr, uint64_t now)
{
    src *s;
    uint64_t delay, max = (uint64_t)g->lim.bind_backoff_max_s * 1000u;
    if (!max) return 0;
    s = get(g, addr);
    if (!s) return 0;
    if (now >= s->forget_at) s->failures = 0;   /* a failure long ago does not count */
    if (s->failures < 32) s->failures++;
    delay = s->failures >= 20 ? max : 1000u << (s->failures - 1);
    if (delay > max) delay = max;
    s->refuse_until = now + delay;
    s->forget_at = s->refuse_until + max; /* a quiet while after it: forgotten */
    return delay;
}

void mta_guard_bind_ok(mta_guard *g, const char *addr, uint64_t now)
{
    src *s = find(g, addr, NULL);
    if (!s) return;
    s->failures = 0;
    s->refuse_until = s->forget_at = 0;
    drop_if_idle(g, addr, now);
}

void mta_guard_expire(mta_guard *g, uint64_t now)
{
    for (size_t b = 0; b < NBUCKETS; b++) {
        src **pp = &g->bucket[b];
        while (*pp) {
            src *s = *pp;
            if (!s->unbound && now >= s->forget_at) {
                *pp = s->next;
                free(s);
                g->n--;
                continue;
            }
            pp = &s->next;
        }
    }
}

size_t mta_guard_sources(const mta_guard *g) { return g ? g->n : 0; }

int mta_ratelog_allow(mta_ratelog *r, uint64_t now, uint64_t *suppressed)
{
    if (r->last && now - r->last < MTA_RATELOG_MS) {
        r->suppressed++;
        return 0;
    }
    *suppressed = r->suppressed;
    r->suppressed = 0;
    r->last = now ? now : 1;
    return 1;
}

/* ------------------------------------------------------------ per-source log limit */

void mta_srclog_init(mta_srclog *r, unsigned max_lines, uint64_t interval_ms)
{
    memset(r, 0, sizeof *r);
    r->max_lines = max_lines;
    r->interval_ms = interval_ms ? interval_ms : 1;
}

/* An entry's interval is over: its summary (when lines were left out),
 * and the entry is free again. */
static void srclog_close(mta_srclog_ent *e, mta_srclog_emit_fn emit, void *user)
{
    if (e->suppressed && emit) emit(user, e->src, e->suppressed, e->start);
    memset(e, 0, sizeof *e);
}

int mta_srclog_allow(mta_srclog *r, const char *source, uint64_t now, mta_srclog_emit_fn emit, void *user)
{
    mta_srclog_ent *e = NULL, *oldest = NULL;
    const char *src_ = source ? source : "";
    now = now ? now : 1; /* 0 marks a free entry */
    for (size_t i = 0; i < MTA_SRCLOG_SLOTS; i++) {
        mta_srclog_ent *x = &r->e[i];
        if (x->start && now - x->start >= r->interval_ms) srclog_close(x, emit, user);
        if (x->start && !strcmp(x->src, src_)) e = x;
        else if (!x->start && !oldest) oldest = x;
    }
    if (!e) {
        if (!oldest) { /* full: the entry whose interval began first gives way */
            oldest = &r->e[0];
            for (size_t i = 1; i < MTA_SRCLOG_SLOTS; i++)
                if (r->e[i].start < oldest->start) oldest = &r->e[i];
            r->evicted++;
            srclog_close(oldest, emit, user);
        }
        e = oldest;
        size_t n = strnlen(src_, sizeof e->src - 1);
        memcpy(e->src, src_, n);
        e->src[n] = 0;
        e->start = now;
    }
    if (e->lines < r->max_lines) {
        e->lines++;
        return 1;
    }
    e->suppressed++;
    r->suppressed++;
    return 0;
}

void mta_srclog_flush(mta_srclog *r, uint64_t now, mta_srclog_emit_fn emit, void *user)
{
    for (size_t i = 0; i < MTA_SRCLOG_SLOTS; i++) {
        mta_srclog_ent *x = &r->e[i];
        if (x->start && now - x->start >= r->interval_ms) srclog_close(x, emit, user);
    }
}
