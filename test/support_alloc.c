/* The counting allocator of alloc.h. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

static int refuse(x400t_counting *c, size_t n)
{
    c->last_size = n;
    if (c->forbid) { c->forbidden++; return 1; }
    if (++c->calls == c->fail_at) return 1;
    return c->limit && n > c->limit;
}

void *x400t_c_malloc(size_t n, void *u)
{
    x400t_counting *c = u;
    void *p = refuse(c, n) ? NULL : malloc(n);
    if (p) c->live++;
    return p;
}

void *x400t_c_calloc(size_t m, size_t n, void *u)
{
    x400t_counting *c = u;
    void *p;
    if (n && m > SIZE_MAX / n) return NULL;
    p = refuse(c, m * n) ? NULL : calloc(m, n);
    if (p) c->live++;
    return p;
}

void *x400t_c_realloc(void *old, size_t n, void *u)
{
    x400t_counting *c = u;
    void *p = refuse(c, n) ? NULL : realloc(old, n);
    if (p && !old) c->live++;
    return p;
}

void x400t_c_free(void *p, void *u)
{
    x400t_counting *c = u;
    if (p) c->live--;
    free(p);
}
