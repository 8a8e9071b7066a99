/*
 * x400mta -- the deadlines of the connections (doc/mta.md, "Scale"): a
 * binary min-heap of mta_timer entries, each knowing its own position, so
 * that arming, moving and cancelling one is O(log n) and the loop finds
 * the next deadline in O(1).  The entries live in the objects they time
 * (struct conn of manager.c); the heap holds pointers to them and no
 * other state, so a connection held idle costs nothing per loop turn.
 */
#include <stdlib.h>

#include "mta.h"

static void put(mta_timers *t, size_t i, mta_timer *e)
{
    t->h[i] = e;
    e->pos = i + 1;
}

static void sift_up(mta_timers *t, size_t i)
{
    mta_timer *e = t->h[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (t->h[parent]->due <= e->due) break;
        put(t, i, t->h[parent]);
        i = parent;
    }
    put(t, i, e);
}

static void sift_down(mta_timers *t, size_t i)
{
    mta_timer *e = t->h[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, least = l;
        if (l >= t->n) break;
        if (r < t->n && t->h[r]->due < t->h[l]->due) least = r;
        if (t->h[least]->due >= e->due) break;
        put(t, i, t->h[least]);
        i = least;
    }
    put(t, i, e);
}

int mta_timers_set(mta_timers *t, mta_timer *e, uint64_t due)
{
    if (due == MTA_TIMER_NONE) {
        mta_timers_cancel(t, e);
        return 0;
    }
    if (e->pos) {           /* armed: moved up or down */
        size_t i = e->pos - 1;
        uint64_t old = e->due;
        e->due = due;
        if (due < old) sift_up(t, i);
        else if (due > old) sift_down(t, i);
        return 0;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        mta_timer **h = realloc(t->h, cap * sizeof *h);
        if (!h) return -1;
        t->h = h;
        t->cap = cap;
    }
    e->due = due;
    t->h[t->n] = e;
    sift_up(t, t->n++);
    return 0;
}

void mta_timers_cancel(mta_timers *t, mta_timer *e)
{
    size_t i;
    mta_timer *last;
    if (!e->pos) return;
    i = e->pos - 1;
    e->pos = 0;
    last = t->h[--t->n];
    if (i == t->n) return;  /* it was the last one */
    put(t, i, last);
    if (i > 0 && t->h[(i - 1) / 2]->due > last->due) sift_up(t, i);
    else sift_down(t, i);
}

uint64_t mta_timers_next(const mta_timers *t) { return t->n ? t->h[0]->due : MTA_TIMER_NONE; }

mta_timer *mta_timers_pop_due(mta_timers *t, uint64_t now)
{
    mta_timer *e;
    if (!t->n || t->h[0]->due > now) return NULL;
    e = t->h[0];
    mta_timers_cancel(t, e);
    return e;
}

void mta_timers_free(mta_timers *t)
{
    for (size_t i = 0; i < t->n; i++) t->h[i]->pos = 0;
    free(t->h);
    t->h = NULL;
    t->n = t->cap = 0;
}
