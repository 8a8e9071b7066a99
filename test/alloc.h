/* A counting, failure-injecting allocator for the suites: counts live
 * blocks and calls, fails the Nth call, refuses sizes above a limit, or
 * refuses everything ("no allocation after creation" checks). */
#ifndef X400T_ALLOC_H
#define X400T_ALLOC_H

#include <stddef.h>

#include "x400p1/common.h"

typedef struct x400t_counting {
    size_t live;       /* blocks allocated and not yet freed */
    size_t calls;      /* allocation calls (malloc, calloc, realloc) */
    size_t fail_at;    /* fail the Nth call (1-based); 0 = never */
    int forbid;        /* fail every call, counting it in `forbidden` */
    size_t forbidden;
    size_t limit;      /* refuse requests above this size; 0 = none */
    size_t last_size;  /* size of the last request */
} x400t_counting;

void *x400t_c_malloc(size_t n, void *u);
void *x400t_c_calloc(size_t m, size_t n, void *u);
void *x400t_c_realloc(void *old, size_t n, void *u);
void x400t_c_free(void *p, void *u);

#define X400T_COUNTING_ALLOCATOR(c) \
    { (c), x400t_c_malloc, x400t_c_free, x400t_c_calloc, x400t_c_realloc }

#endif
