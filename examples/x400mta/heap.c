/*
 * x400mta: live heap bytes, counted.
 *
 * The library takes a caller's allocator (x400_allocator) for every object
 * it makes; the MTA gives it this one for its links, associations, driver
 * and received-MTSID set, and uses it for its own per-connection objects.
 * Each block carries its size in a header, so a free knows what it gives
 * back: `live` is the bytes asked for and not yet freed, exact whatever
 * allocator is underneath (the C library, or a sanitizer's, whose resident
 * memory follows its own caches -- the long attack test measures this
 * instead of resident memory).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mta.h"

/* the size header, as aligned as malloc's blocks */
#define HDR sizeof(max_align_t)

/* count a fresh block of n bytes at p (header included) and return its
 * user part */
static void *heap_take(mta_heap *h, unsigned char *p, size_t n)
{
    memcpy(p, &n, sizeof n);
    h->live += n;
    h->blocks++;
    if (h->live > h->peak) h->peak = h->live;
    return p + HDR;
}

static void *heap_malloc(size_t n, void *user)
{
    unsigned char *p;
    if (n > SIZE_MAX - HDR || !(p = malloc(HDR + n))) return NULL;
    return heap_take(user, p, n);
}

static void heap_free(void *ptr, void *user)
{
    mta_heap *h = user;
    unsigned char *p = ptr;
    size_t n;
    if (!p) return;
    p -= HDR;
    memcpy(&n, p, sizeof n);
    h->live -= n;
    h->blocks--;
    free(p);
}

/* calloc underneath, not malloc + memset: a large block (the received-
 * MTSID set of a million entries is about 85 MB) then comes zeroed from fresh pages that are only
 * touched when used, instead of being written whole at start */
static void *heap_calloc(size_t nmemb, size_t size, void *user)
{
    unsigned char *p;
    if (size && nmemb > (SIZE_MAX - HDR) / size) return NULL;
    if (!(p = calloc(1, HDR + nmemb * size))) return NULL;
    return heap_take(user, p, nmemb * size);
}

static void *heap_realloc(void *ptr, size_t n, void *user)
{
    mta_heap *h = user;
    unsigned char *p = ptr, *q;
    size_t old;
    if (!p) return heap_malloc(n, user);
    if (n > SIZE_MAX - HDR) return NULL;
    p -= HDR;
    memcpy(&old, p, sizeof old);
    if (!(q = realloc(p, HDR + n))) return NULL;
    memcpy(q, &n, sizeof n);
    h->live = h->live - old + n;
    if (h->live > h->peak) h->peak = h->live;
    return q + HDR;
}

void mta_heap_init(mta_heap *h)
{
    memset(h, 0, sizeof *h);
    h->a.user = h;
    h->a.malloc = heap_malloc;
    h->a.free = heap_free;
    h->a.calloc = heap_calloc;
    h->a.realloc = heap_realloc;
}

void *mta_heap_calloc(mta_heap *h, size_t nmemb, size_t size) { return heap_calloc(nmemb, size, h); }
void mta_heap_free(mta_heap *h, void *p) { heap_free(p, h); }
