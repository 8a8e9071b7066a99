/* The harness's session end (pair.h: x400t_session_end, x400t_ses_end_*),
 * apart from support_pair.c because it needs the library's internal
 * session machine (lib/session.h): the tests and the benches link it, the
 * demo driver, which links the public library only, does not. */
#include <stdlib.h>
#include <string.h>

#include "pair.h"
#include "session.h"

/* A session machine: its TSDUs in a queue of separately allocated
 * octets, so that a push while q[0] is being delivered (the receiver
 * answering) moves no octets; a flush then (the receiver replacing the
 * connection) keeps the lent TSDU until sent(). */
int x400t_ses_end_push(x400t_ses_end *e, const uint8_t *p, size_t n)
{
    uint8_t *c;
    if (e->n == e->cap) {
        size_t cap = e->cap ? 2 * e->cap : 16;
        x400t_tsdu *q = realloc(e->q, cap * sizeof *q);
        if (!q) return -1;
        e->q = q;
        e->cap = cap;
    }
    c = malloc(n ? n : 1);
    if (!c) return -1;
    if (n) memcpy(c, p, n);
    e->q[e->n].p = c;
    e->q[e->n].len = n;
    e->n++;
    return 0;
}

void x400t_ses_end_flush(x400t_ses_end *e)
{
    for (size_t i = 0; i < e->n; i++) {
        if (e->q[i].p == e->lent) e->lent_dropped = 1;
        else free(e->q[i].p);
    }
    e->n = 0;
}

void x400t_ses_end_free(x400t_ses_end *e)
{
    x400t_ses_end_flush(e);
    if (e->lent_dropped) free(e->lent);
    free(e->q);
    memset(e, 0, sizeof *e);
}

static size_t ses_pending(void *end, const uint8_t **p)
{
    x400t_ses_end *e = end;
    if (!e->n) return 0;
    if (e->lent_dropped) free(e->lent);
    e->lent = e->q[0].p;
    *p = e->lent;
    e->lent_dropped = 0;
    return e->q[0].len;
}
static void ses_sent(void *end, size_t n)
{
    x400t_ses_end *e = end;
    (void)n;                    /* whole: x400t_pair_move takes no part of a TSDU */
    if (e->lent_dropped) {
        free(e->lent);
    } else if (e->n && e->q[0].p == e->lent) {
        free(e->q[0].p);
        memmove(e->q, e->q + 1, (e->n - 1) * sizeof *e->q);
        e->n--;
    }
    e->lent = NULL;
    e->lent_dropped = 0;
}
static int ses_recv(void *end, const uint8_t *p, size_t n)
{
    x400t_ses_end *e = end;
    int rc = e->s ? x400i_ses_input(e->s, p, n) : 0;
    return rc < 0 ? rc : (int)n;
}
static void ses_lost(void *end)
{
    x400t_ses_end *e = end;
    x400t_ses_end_flush(e);
    if (e->s) x400i_ses_transport_lost(e->s);
}

const x400t_end_ops x400t_session_end = { ses_pending, ses_sent, ses_recv, ses_lost, 1 };
