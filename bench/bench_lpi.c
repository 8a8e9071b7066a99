/* LPI get() against GLib's GHashTable: resolve 10,000 live connection
 * handles looked up in random order.
 *   lpi_get vs ghashtable_lookup: GHashTable gets its best case, 64-bit
 *     integer keys (g_int64_hash/g_int64_equal) that are serial connection
 *     numbers, so its hash spreads perfectly; no string hashing.
 *   lpi_parse_get vs ghashtable_text_lookup: the handle arrives as text
 *     ("1-3-14", as in the Exchange MTA's diagnostics): x400_lpi_parse() +
 *     x400_lpi_get() against a GHashTable keyed by that text
 *     (g_str_hash/g_str_equal).  Both sides measure the string's length.
 *   lpi_get vs ghashtable_handle_lookup: the same keys: GHashTable keyed
 *     by the x400_lpi_handle itself (16 bytes: table, slot, generation),
 *     hashed and compared field by field, as a program that keeps handles
 *     in a hash table has to.  This is the headline comparison; the int64
 *     one above is GHashTable's best case and needs keys of another kind.
 * Both loops walk the same pre-computed random index sequence and fold the
 * returned pointers into a checksum, so neither can be optimised away and
 * both are checked to return the right objects. */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "x400p1/lpi.h"

#define NCONN 10000u
#define NLOOK (1u << 20)  /* lookups per timed run */

struct conn {
    x400_lpi_handle h;
    uint64_t key;
    char text[X400_LPI_TEXT_MAX];
};

struct lpi_bench {
    x400_lpi *t;
    GHashTable *ht;
    GHashTable *ht_text;
    GHashTable *ht_handle;
    struct conn *conns;
    x400_lpi_handle *handles; /* handles[i] = conns[i].h */
    uint64_t *keys;           /* keys[i] = conns[i].key */
    uint32_t *order;          /* NLOOK random indexes into conns */
    uintptr_t expect;         /* sum of the right objects over `order` */
    int failed;
};

static double run_lpi(void *arg)
{
    struct lpi_bench *b = arg;
    uintptr_t sum = 0;
    double t0 = x400b_now(), dt;
    for (uint32_t i = 0; i < NLOOK; i++) {
        void *o;
        if (x400_lpi_get(b->t, b->handles[b->order[i]], &o, NULL) != X400_OK) b->failed = 1;
        sum += (uintptr_t)o;
    }
    dt = x400b_now() - t0;
    if (sum != b->expect) b->failed = 1;
    return NLOOK / dt;
}

static double run_ghash(void *arg)
{
    struct lpi_bench *b = arg;
    uintptr_t sum = 0;
    double t0 = x400b_now(), dt;
    for (uint32_t i = 0; i < NLOOK; i++)
        sum += (uintptr_t)g_hash_table_lookup(b->ht, &b->keys[b->order[i]]);
    dt = x400b_now() - t0;
    if (sum != b->expect) b->failed = 1;
    return NLOOK / dt;
}

static guint handle_hash(gconstpointer k)
{
    const x400_lpi_handle *h = k;
    uint64_t x = h->generation * 0x9e3779b97f4a7c15u ^ ((uint64_t)h->table << 32 | h->slot);
    x ^= x >> 29;
    return (guint)(x ^ (x >> 32));
}

static gboolean handle_equal(gconstpointer a, gconstpointer b)
{
    return x400_lpi_handle_eq(*(const x400_lpi_handle *)a, *(const x400_lpi_handle *)b);
}

static double run_ghash_handle(void *arg)
{
    struct lpi_bench *b = arg;
    uintptr_t sum = 0;
    double t0 = x400b_now(), dt;
    for (uint32_t i = 0; i < NLOOK; i++)
        sum += (uintptr_t)g_hash_table_lookup(b->ht_handle, &b->handles[b->order[i]]);
    dt = x400b_now() - t0;
    if (sum != b->expect) b->failed = 1;
    return NLOOK / dt;
}

static double run_lpi_text(void *arg)
{
    struct lpi_bench *b = arg;
    uintptr_t sum = 0;
    double t0 = x400b_now(), dt;
    for (uint32_t i = 0; i < NLOOK; i++) {
        const char *text = b->conns[b->order[i]].text;
        x400_lpi_handle h;
        void *o = NULL;
        if (x400_lpi_parse(text, strlen(text), &h, NULL) != X400_OK ||
            x400_lpi_get(b->t, h, &o, NULL) != X400_OK)
            b->failed = 1;
        sum += (uintptr_t)o;
    }
    dt = x400b_now() - t0;
    if (sum != b->expect) b->failed = 1;
    return NLOOK / dt;
}

static double run_ghash_text(void *arg)
{
    struct lpi_bench *b = arg;
    uintptr_t sum = 0;
    double t0 = x400b_now(), dt;
    for (uint32_t i = 0; i < NLOOK; i++)
        sum += (uintptr_t)g_hash_table_lookup(b->ht_text, b->conns[b->order[i]].text);
    dt = x400b_now() - t0;
    if (sum != b->expect) b->failed = 1;
    return NLOOK / dt;
}

static uint64_t xs(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

void x400b_bench_lpi(void);
void x400b_bench_lpi(void)
{
    struct lpi_bench b = { 0 };
    uint64_t rng = 0x2545f4914f6cdd1du, serial = 1000000;
    double ours, theirs, theirs_handle, ours_text, theirs_text;
    b.conns = calloc(NCONN, sizeof *b.conns);
    b.handles = calloc(NCONN, sizeof *b.handles);
    b.keys = calloc(NCONN, sizeof *b.keys);
    b.order = calloc(NLOOK, sizeof *b.order);
    if (!b.conns || !b.handles || !b.keys || !b.order ||
        x400_lpi_new(&b.t, 1, NCONN, NULL) != X400_OK) {
        fprintf(stderr, "bench lpi: setup failed\n");
        exit(1);
    }
    b.ht = g_hash_table_new(g_int64_hash, g_int64_equal);
    b.ht_text = g_hash_table_new(g_str_hash, g_str_equal);
    b.ht_handle = g_hash_table_new(handle_hash, handle_equal);
    /* churn first so slots carry varied generations, as in a running MTA */
    for (uint32_t i = 0; i < NCONN; i++)
        if (x400_lpi_open(b.t, &b.conns[i], &b.conns[i].h, NULL) != X400_OK) exit(1);
    for (uint32_t i = 0; i < 3 * NCONN; i++) {
        uint32_t j = (uint32_t)(xs(&rng) % NCONN);
        if (x400_lpi_close(b.t, b.conns[j].h, NULL, NULL) != X400_OK ||
            x400_lpi_open(b.t, &b.conns[j], &b.conns[j].h, NULL) != X400_OK)
            exit(1);
    }
    for (uint32_t i = 0; i < NCONN; i++) {
        /* a hash-keyed design would number connections serially: a 64-bit
         * serial per open spreads perfectly under g_int64_hash */
        b.conns[i].key = serial++;
        b.handles[i] = b.conns[i].h;
        b.keys[i] = b.conns[i].key;
        g_hash_table_insert(b.ht, &b.keys[i], &b.conns[i]);
        g_hash_table_insert(b.ht_handle, &b.handles[i], &b.conns[i]);
        if (x400_lpi_format(b.conns[i].h, b.conns[i].text, sizeof b.conns[i].text) <= 0) exit(1);
        g_hash_table_insert(b.ht_text, b.conns[i].text, &b.conns[i]);
    }
    if (g_hash_table_size(b.ht) != NCONN || g_hash_table_size(b.ht_text) != NCONN || x400_lpi_count(b.t) != NCONN) exit(1);
    for (uint32_t i = 0; i < NLOOK; i++) {
        b.order[i] = (uint32_t)(xs(&rng) % NCONN);
        b.expect += (uintptr_t)&b.conns[b.order[i]];
    }
    ours = x400b_median_rate(run_lpi, &b);
    theirs = x400b_median_rate(run_ghash, &b);
    theirs_handle = x400b_median_rate(run_ghash_handle, &b);
    ours_text = x400b_median_rate(run_lpi_text, &b);
    theirs_text = x400b_median_rate(run_ghash_text, &b);
    if (b.failed) {
        fprintf(stderr, "bench lpi: a lookup returned the wrong object\n");
        exit(1);
    }
    x400b_report("lpi_get", ours, "ops/s");
    x400b_report("ghashtable_lookup", theirs, "ops/s");
    x400b_ratio("lpi_get", "ghashtable", ours, theirs);
    x400b_report("ghashtable_handle_lookup", theirs_handle, "ops/s");
    x400b_ratio("lpi_get", "ghashtable_handle", ours, theirs_handle);
    x400b_report("lpi_parse_get", ours_text, "ops/s");
    x400b_report("ghashtable_text_lookup", theirs_text, "ops/s");
    x400b_ratio("lpi_parse_get", "ghashtable_text", ours_text, theirs_text);
    g_hash_table_destroy(b.ht);
    g_hash_table_destroy(b.ht_text);
    g_hash_table_destroy(b.ht_handle);
    x400_lpi_free(b.t);
    free(b.conns);
    free(b.handles);
    free(b.keys);
    free(b.order);
}
