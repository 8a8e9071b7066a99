/* LPI connection-handle table: handles resolve to exactly their object or
 * are refused with X400_ERR_STALE_HANDLE and a diagnostic naming them, also
 * while other threads open and close. */
#define X400T_UNMARKED_ASSERTS /* asserts in loops of 100,000: x400t.h */
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "internal.h"
#include "x400p1/lpi.h"
#include "alloc.h"
#include "x400t.h"

/* Internal test hook in lib/lpi.c. */
int x400i_lpi_test_set_generation(x400_lpi *t, uint32_t slot, uint64_t gen);

/* ---- helpers ---- */

static x400_lpi *mk(uint32_t id, uint32_t cap)
{
    x400_lpi *t = NULL;
    ck_assert_int_eq(x400_lpi_new(&t, id, cap, NULL), X400_OK);
    ck_assert_ptr_nonnull(t);
    return t;
}

static x400_lpi_handle hnd(uint32_t table, uint32_t slot, uint64_t gen)
{
    x400_lpi_handle h = { table, slot, gen };
    return h;
}

static x400_lpi_handle must_open(x400_lpi *t, void *obj)
{
    x400_lpi_handle h;
    x400_diag d;
    int rv = x400_lpi_open(t, obj, &h, &d);
    ck_assert_msg(rv == X400_OK, "open: %d %s", rv, d.text);
    return h;
}

static void *must_get(const x400_lpi *t, x400_lpi_handle h)
{
    void *o = (void *)&o;
    x400_diag d;
    int rv = x400_lpi_get(t, h, &o, &d);
    ck_assert_msg(rv == X400_OK, "get: %d %s", rv, d.text);
    return o;
}

/* get() and close() of `h` must both refuse it with `reason` and exactly
 * the diagnostic `text`, and change nothing. */
static void expect_stale(x400_lpi *t, x400_lpi_handle h, int reason, const char *text)
{
    x400_diag d;
    void *o = (void *)&o;
    size_t before = x400_lpi_count(t);
    memset(&d, 0x55, sizeof d);
    ck_assert_int_eq(x400_lpi_get(t, h, &o, &d), X400_ERR_STALE_HANDLE);
    ck_assert_ptr_null(o);
    ck_assert_int_eq(d.layer, X400_LAYER_LPI);
    ck_assert_int_eq(d.source, X400_SOURCE_LOCAL);
    ck_assert_int_eq(d.code, X400_ERR_STALE_HANDLE);
    ck_assert_int_eq(d.reason, reason);
    ck_assert_str_eq(d.text, text);
    /* without a diag: same verdict */
    ck_assert_int_eq(x400_lpi_get(t, h, &o, NULL), X400_ERR_STALE_HANDLE);
    memset(&d, 0x55, sizeof d);
    o = (void *)&o;
    ck_assert_int_eq(x400_lpi_close(t, h, &o, &d), X400_ERR_STALE_HANDLE);
    ck_assert_ptr_null(o);
    ck_assert_int_eq(d.reason, reason);
    ck_assert_str_eq(d.text, text);
    ck_assert_uint_eq(x400_lpi_count(t), before);
}

/* ---- basics ---- */

START_TEST(open_get_close_basics)
{
    x400_lpi *t = mk(1, 16);
    int a = 1, b = 2, c = 3;
    x400_lpi_handle ha, hb, hc;
    void *o;
    ck_assert_uint_eq(x400_lpi_id(t), 1);
    ck_assert_uint_eq(x400_lpi_capacity(t), 16);
    ck_assert_uint_eq(x400_lpi_count(t), 0);
    ha = must_open(t, &a);
    hb = must_open(t, &b);
    hc = must_open(t, &c);
    ck_assert_uint_eq(ha.table, 1);
    ck_assert_uint_eq(ha.generation % 2, 1);
    ck_assert(!x400_lpi_handle_eq(ha, hb));
    ck_assert(x400_lpi_handle_eq(ha, ha));
    ck_assert_uint_eq(x400_lpi_count(t), 3);
    ck_assert_ptr_eq(must_get(t, ha), &a);
    ck_assert_ptr_eq(must_get(t, hb), &b);
    ck_assert_ptr_eq(must_get(t, hc), &c);
    ck_assert_int_eq(x400_lpi_close(t, hb, &o, NULL), X400_OK);
    ck_assert_ptr_eq(o, &b);
    ck_assert_uint_eq(x400_lpi_count(t), 2);
    ck_assert_int_eq(x400_lpi_get(t, hb, &o, NULL), X400_ERR_STALE_HANDLE);
    ck_assert_ptr_eq(must_get(t, ha), &a);
    ck_assert_ptr_eq(must_get(t, hc), &c);
    /* close without wanting the object */
    ck_assert_int_eq(x400_lpi_close(t, ha, NULL, NULL), X400_OK);
    ck_assert_uint_eq(x400_lpi_count(t), 1);
    /* the same object may be registered twice, with distinct handles */
    ha = must_open(t, &c);
    ck_assert(!x400_lpi_handle_eq(ha, hc));
    ck_assert_ptr_eq(must_get(t, ha), &c);
    ck_assert_ptr_eq(must_get(t, hc), &c);
    /* argument checks */
    ck_assert_int_eq(x400_lpi_open(t, NULL, &ha, NULL), X400_ERR_INVALID_ARG);
    ck_assert_int_eq(x400_lpi_open(t, &a, NULL, NULL), X400_ERR_INVALID_ARG);
    ck_assert_int_eq(x400_lpi_open(NULL, &a, &ha, NULL), X400_ERR_INVALID_ARG);
    ck_assert_int_eq(x400_lpi_get(t, ha, NULL, NULL), X400_ERR_INVALID_ARG);
    ck_assert_int_eq(x400_lpi_get(NULL, ha, &o, NULL), X400_ERR_INVALID_ARG);
    ck_assert_int_eq(x400_lpi_close(NULL, ha, &o, NULL), X400_ERR_INVALID_ARG);
    ck_assert_int_eq(x400_lpi_close_all(NULL, NULL, NULL), X400_ERR_INVALID_ARG);
    ck_assert_uint_eq(x400_lpi_count(NULL), 0);
    ck_assert_uint_eq(x400_lpi_id(NULL), 0);
    ck_assert_uint_eq(x400_lpi_capacity(NULL), 0);
    ck_assert_uint_eq(x400_lpi_count(t), 2);
    x400_lpi_free(t);
    x400_lpi_free(NULL);
}
END_TEST

START_TEST(stale_handles_are_refused_and_named)
{
    x400_lpi *t = mk(1, 4), *t2 = mk(2, 4), *t0 = mk(0, 2);
    int a, b, c, d, e;
    x400_lpi_handle ha, hb, hc, hd, he, h;
    void *o;
    ha = must_open(t, &a);
    hb = must_open(t, &b);
    ck_assert(x400_lpi_handle_eq(ha, hnd(1, 0, 1)));
    ck_assert(x400_lpi_handle_eq(hb, hnd(1, 1, 1)));
    ck_assert_int_eq(x400_lpi_close(t, ha, &o, NULL), X400_OK);
    ck_assert_ptr_eq(o, &a);

    /* closed (and closing twice) */
    expect_stale(t, ha, X400_LPI_REASON_CLOSED,
                 "LPI 1-0-1 is stale: closed; slot 0 now at generation 2 (free)");

    /* FIFO reuse: slots 2 and 3 are taken before slot 0 comes back */
    hc = must_open(t, &c);
    hd = must_open(t, &d);
    he = must_open(t, &e);
    ck_assert_uint_eq(hc.slot, 2);
    ck_assert_uint_eq(hd.slot, 3);
    ck_assert(x400_lpi_handle_eq(he, hnd(1, 0, 3)));
    /* slot reused: the old handle never reaches the new object */
    expect_stale(t, ha, X400_LPI_REASON_REUSED,
                 "LPI 1-0-1 is stale: slot 0 now at generation 3 (live, reopened 1 time since)");
    ck_assert_ptr_eq(must_get(t, he), &e);
    ck_assert_int_eq(x400_lpi_close(t, he, NULL, NULL), X400_OK);
    expect_stale(t, ha, X400_LPI_REASON_REUSED,
                 "LPI 1-0-1 is stale: slot 0 now at generation 4 (free, reopened 1 time since)");
    for (int i = 0; i < 3; i++) {
        /* cycle slot 0 three more times: c, d, b stay live */
        h = must_open(t, &e);
        ck_assert_uint_eq(h.slot, 0);
        ck_assert_int_eq(x400_lpi_close(t, h, NULL, NULL), X400_OK);
    }
    expect_stale(t, ha, X400_LPI_REASON_REUSED,
                 "LPI 1-0-1 is stale: slot 0 now at generation 10 (free, reopened 4 times since)");

    /* another table's handle, even if its slot and generation match */
    expect_stale(t, hnd(2, 1, 1), X400_LPI_REASON_OTHER_TABLE,
                 "LPI 2-1-1 belongs to table 2, not 1");
    expect_stale(t2, hb, X400_LPI_REASON_OTHER_TABLE,
                 "LPI 1-1-1 belongs to table 1, not 2");
    h = must_open(t2, &c);
    ck_assert(x400_lpi_handle_eq(h, hnd(2, 0, 1)));
    expect_stale(t, h, X400_LPI_REASON_OTHER_TABLE, "LPI 2-0-1 belongs to table 2, not 1");
    ck_assert_ptr_eq(must_get(t2, h), &c);

    /* never issued: a generation the slot has not reached (forged) */
    expect_stale(t, hnd(1, 1, 3), X400_LPI_REASON_NEVER_ISSUED,
                 "LPI 1-1-3 was never issued: slot 1 is only at generation 1");
    expect_stale(t, hnd(1, 3, UINT64_MAX), X400_LPI_REASON_NEVER_ISSUED,
                 "LPI 1-3-18446744073709551615 was never issued: slot 3 is only at generation 1");
    expect_stale(t2, hnd(2, 3, 1), X400_LPI_REASON_NEVER_ISSUED,
                 "LPI 2-3-1 was never issued: slot 3 is only at generation 0");
    /* never issued: even (free-state) generations */
    expect_stale(t, hnd(1, 1, 2), X400_LPI_REASON_NEVER_ISSUED,
                 "LPI 1-1-2 was never issued: generation 2 is even (issued generations are odd)");
    expect_stale(t, hnd(1, 0, 10), X400_LPI_REASON_NEVER_ISSUED,
                 "LPI 1-0-10 was never issued: generation 10 is even (issued generations are odd)");
    /* the all-zero handle is refused, also by a table whose id is 0 */
    expect_stale(t0, hnd(0, 0, 0), X400_LPI_REASON_NEVER_ISSUED,
                 "LPI 0-0-0 was never issued: generation 0 is even (issued generations are odd)");
    expect_stale(t, hnd(0, 0, 0), X400_LPI_REASON_OTHER_TABLE,
                 "LPI 0-0-0 belongs to table 0, not 1");

    /* out-of-range slots */
    expect_stale(t, hnd(1, 99, 1), X400_LPI_REASON_OUT_OF_RANGE,
                 "LPI 1-99-1 was never issued: slot 99 out of range (table 1 has 4 slots)");
    expect_stale(t, hnd(1, 4, 1), X400_LPI_REASON_OUT_OF_RANGE,
                 "LPI 1-4-1 was never issued: slot 4 out of range (table 1 has 4 slots)");
    expect_stale(t, hnd(1, UINT32_MAX, 1), X400_LPI_REASON_OUT_OF_RANGE,
                 "LPI 1-4294967295-1 was never issued: slot 4294967295 out of range "
                 "(table 1 has 4 slots)");

    /* none of this disturbed the live handles */
    ck_assert_uint_eq(x400_lpi_count(t), 3);
    ck_assert_ptr_eq(must_get(t, hb), &b);
    ck_assert_ptr_eq(must_get(t, hc), &c);
    ck_assert_ptr_eq(must_get(t, hd), &d);
    x400_lpi_free(t);
    x400_lpi_free(t2);
    x400_lpi_free(t0);
}
END_TEST

START_TEST(full_table)
{
    x400_lpi *t = mk(7, 4);
    int objs[5];
    x400_lpi_handle h[5], keep;
    x400_diag d;
    for (int i = 0; i < 4; i++) h[i] = must_open(t, &objs[i]);
    keep = h[4] = hnd(9, 9, 9);
    memset(&d, 0, sizeof d);
    ck_assert_int_eq(x400_lpi_open(t, &objs[4], &h[4], &d), X400_ERR_FULL);
    ck_assert(x400_lpi_handle_eq(h[4], keep)); /* untouched */
    ck_assert_int_eq(d.layer, X400_LAYER_LPI);
    ck_assert_int_eq(d.source, X400_SOURCE_LOCAL);
    ck_assert_int_eq(d.code, X400_ERR_FULL);
    ck_assert_int_eq(d.reason, X400_LPI_REASON_FULL);
    ck_assert_str_eq(d.text, "LPI table 7 full: 4 of 4 slots live, 0 retired");
    ck_assert_int_eq(x400_lpi_open(t, &objs[4], &h[4], NULL), X400_ERR_FULL);
    ck_assert_uint_eq(x400_lpi_count(t), 4);
    /* one close makes room for exactly one open */
    ck_assert_int_eq(x400_lpi_close(t, h[2], NULL, NULL), X400_OK);
    h[4] = must_open(t, &objs[4]);
    ck_assert(x400_lpi_handle_eq(h[4], hnd(7, 2, 3)));
    ck_assert_int_eq(x400_lpi_open(t, &objs[4], &keep, NULL), X400_ERR_FULL);
    ck_assert_ptr_eq(must_get(t, h[4]), &objs[4]);
    expect_stale(t, h[2], X400_LPI_REASON_REUSED,
                 "LPI 7-2-1 is stale: slot 2 now at generation 3 (live, reopened 1 time since)");
    x400_lpi_free(t);
}
END_TEST

START_TEST(capacity_one)
{
    x400_lpi *t = mk(3, 1);
    int a, b;
    x400_lpi_handle h1, h2;
    h1 = must_open(t, &a);
    ck_assert(x400_lpi_handle_eq(h1, hnd(3, 0, 1)));
    ck_assert_int_eq(x400_lpi_open(t, &b, &h2, NULL), X400_ERR_FULL);
    ck_assert_int_eq(x400_lpi_close(t, h1, NULL, NULL), X400_OK);
    h2 = must_open(t, &b);
    ck_assert(x400_lpi_handle_eq(h2, hnd(3, 0, 3)));
    ck_assert_ptr_eq(must_get(t, h2), &b);
    expect_stale(t, h1, X400_LPI_REASON_REUSED,
                 "LPI 3-0-1 is stale: slot 0 now at generation 3 (live, reopened 1 time since)");
    /* many cycles on the single slot: each handle dies with its close */
    for (uint64_t i = 0; i < 1000; i++) {
        ck_assert_int_eq(x400_lpi_close(t, h2, NULL, NULL), X400_OK);
        ck_assert_int_eq(x400_lpi_get(t, h2, &(void *){ NULL }, NULL), X400_ERR_STALE_HANDLE);
        h1 = h2;
        h2 = must_open(t, (i & 1) ? (void *)&a : (void *)&b);
        ck_assert_uint_eq(h2.generation, h1.generation + 2);
        ck_assert_ptr_eq(must_get(t, h2), (i & 1) ? (void *)&a : (void *)&b);
    }
    ck_assert_uint_eq(h2.generation, 2003);
    x400_lpi_free(t);
}
END_TEST

START_TEST(large_capacity)
{
    const uint32_t cap = 1u << 17;
    x400_lpi *t = mk(0xfffffffeu, cap);
    uint32_t *objs = malloc(cap * sizeof *objs);
    x400_lpi_handle *h = malloc(cap * sizeof *h);
    unsigned char *seen = calloc(cap, 1);
    x400_lpi_handle extra;
    ck_assert(objs && h && seen);
    for (uint32_t i = 0; i < cap; i++) {
        objs[i] = i;
        h[i] = must_open(t, &objs[i]);
        ck_assert_uint_lt(h[i].slot, cap);
        ck_assert_uint_eq(seen[h[i].slot], 0);
        seen[h[i].slot] = 1;
        ck_assert_uint_eq(h[i].generation, 1);
    }
    ck_assert_uint_eq(x400_lpi_count(t), cap);
    ck_assert_int_eq(x400_lpi_open(t, &objs[0], &extra, NULL), X400_ERR_FULL);
    for (uint32_t i = 0; i < cap; i += 7) ck_assert_ptr_eq(must_get(t, h[i]), &objs[i]);
    /* close every other one, then reopen: the freed slots come back */
    for (uint32_t i = 0; i < cap; i += 2)
        ck_assert_int_eq(x400_lpi_close(t, h[i], NULL, NULL), X400_OK);
    ck_assert_uint_eq(x400_lpi_count(t), cap / 2);
    for (uint32_t i = 0; i < cap; i += 2) {
        x400_lpi_handle n = must_open(t, &objs[i]);
        ck_assert_uint_eq(n.slot, h[i].slot); /* FIFO: in closing order */
        ck_assert_uint_eq(n.generation, 3);
        ck_assert_int_eq(x400_lpi_get(t, h[i], &(void *){ NULL }, NULL), X400_ERR_STALE_HANDLE);
        h[i] = n;
    }
    for (uint32_t i = 0; i < cap; i++) ck_assert_ptr_eq(must_get(t, h[i]), &objs[i]);
    ck_assert_int_eq(x400_lpi_close_all(t, NULL, NULL), (long)cap);
    ck_assert_uint_eq(x400_lpi_count(t), 0);
    x400_lpi_free(t);
    free(objs);
    free(h);
    free(seen);
}
END_TEST

/* ---- allocation ---- */

START_TEST(create_arguments_and_allocation_failure)
{
    x400t_counting c;
    x400_allocator a = X400T_COUNTING_ALLOCATOR(&c);
    x400_allocator bad = { NULL, NULL, x400t_c_free, x400t_c_calloc, x400t_c_realloc };
    x400_lpi *t = (x400_lpi *)&c;
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(x400_lpi_new(&t, 1, 0, &a), X400_ERR_INVALID_ARG);
    ck_assert_ptr_null(t);
    ck_assert_int_eq(x400_lpi_new(&t, 1, X400_LPI_MAX_CAPACITY + 1u, &a),
                     X400_ERR_INVALID_ARG);
    ck_assert_int_eq(x400_lpi_new(&t, 1, 4, &bad), X400_ERR_INVALID_ARG);
    ck_assert_int_eq(x400_lpi_new(NULL, 1, 4, &a), X400_ERR_INVALID_ARG);
    ck_assert_uint_eq(c.calls, 0);
    /* every allocation of create() can fail, without leaking */
    for (size_t n = 1;; n++) {
        memset(&c, 0, sizeof c);
        c.fail_at = n;
        int rv = x400_lpi_new(&t, 1, 100, &a);
        if (rv == X400_OK) {
            ck_assert_uint_eq(n, 3); /* two allocations */
            x400_lpi_free(t);
            ck_assert_uint_eq(c.live, 0);
            break;
        }
        ck_assert_int_eq(rv, X400_ERR_NOMEM);
        ck_assert_ptr_null(t);
        ck_assert_uint_eq(c.live, 0);
    }
    /* the largest capacity asks for exactly 20 bytes a slot, no overflow */
    memset(&c, 0, sizeof c);
    c.limit = (size_t)1 << 30;
    ck_assert_int_eq(x400_lpi_new(&t, 1, X400_LPI_MAX_CAPACITY, &a), X400_ERR_NOMEM);
    if (sizeof(size_t) > 4)
        ck_assert_uint_eq(c.last_size, (size_t)X400_LPI_MAX_CAPACITY * 20u);
    ck_assert_uint_eq(c.live, 0);
}
END_TEST

struct visit { x400_lpi *t; size_t n; int bad; uintptr_t sum; };
static void visitor(void *user, x400_lpi_handle h, void *obj)
{
    struct visit *v = user;
    void *o = (void *)&o;
    v->n++;
    v->sum += (uintptr_t)obj;
    /* already closed when visited; calling back into the table is allowed */
    if (x400_lpi_get(v->t, h, &o, NULL) != X400_ERR_STALE_HANDLE || o) v->bad++;
    if (*(const uint32_t *)obj != h.slot) v->bad++;
}

START_TEST(no_allocation_after_creation)
{
    x400t_counting c;
    x400_allocator a = X400T_COUNTING_ALLOCATOR(&c);
    x400_lpi *t = NULL;
    uint32_t objs[64];
    x400_lpi_handle h[64], p;
    x400_diag d;
    char txt[X400_LPI_TEXT_MAX];
    void *o;
    struct visit v = { NULL, 0, 0, 0 };
    uintptr_t expect = 0;
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(x400_lpi_new(&t, 5, 64, &a), X400_OK);
    ck_assert_uint_eq(c.live, 2);
    c.forbid = 1; /* from here on, any allocation attempt fails and is counted */
    for (int round = 0; round < 50; round++) {
        for (uint32_t i = 0; i < 64; i++) {
            h[i] = must_open(t, &objs[i]);
            objs[i] = h[i].slot;
        }
        ck_assert_int_eq(x400_lpi_open(t, &objs[0], &p, &d), X400_ERR_FULL);
        for (uint32_t i = 0; i < 64; i++) ck_assert_ptr_eq(must_get(t, h[i]), &objs[i]);
        for (uint32_t i = 0; i < 64; i += 3) {
            ck_assert_int_eq(x400_lpi_close(t, h[i], &o, &d), X400_OK);
            ck_assert_ptr_eq(o, &objs[i]);
            ck_assert_int_eq(x400_lpi_get(t, h[i], &o, &d), X400_ERR_STALE_HANDLE);
        }
        ck_assert_int_gt(x400_lpi_format(h[1], txt, sizeof txt), 0);
        ck_assert_int_eq(x400_lpi_parse(txt, strlen(txt), &p, &d), X400_OK);
        ck_assert_int_eq(x400_lpi_parse("x", 1, &p, &d), X400_ERR_PARSE);
        expect = 0;
        for (uint32_t i = 0; i < 64; i++)
            if (i % 3) expect += (uintptr_t)&objs[i];
        v.t = t;
        v.n = 0;
        v.sum = 0;
        ck_assert_int_eq(x400_lpi_close_all(t, visitor, &v), 64 - 22);
        ck_assert_uint_eq(v.n, 64 - 22);
        ck_assert_uint_eq(v.sum, expect);
        ck_assert_int_eq(v.bad, 0);
        ck_assert_uint_eq(x400_lpi_count(t), 0);
    }
    ck_assert_uint_eq(c.forbidden, 0);
    ck_assert_uint_eq(c.live, 2);
    x400_lpi_free(t);
    ck_assert_uint_eq(c.forbidden, 0);
    ck_assert_uint_eq(c.live, 0);
}
END_TEST

/* ---- generation space ---- */

START_TEST(generation_end_retires_slot)
{
    x400_lpi *t = mk(1, 2);
    int a, b;
    x400_lpi_handle h, h1;
    x400_diag d;
    /* refused: odd, the retired value, backwards, out of range */
    ck_assert_int_eq(x400i_lpi_test_set_generation(t, 0, 5), X400_ERR_INVALID_ARG);
    ck_assert_int_eq(x400i_lpi_test_set_generation(t, 0, UINT64_MAX - 1), X400_ERR_INVALID_ARG);
    ck_assert_int_eq(x400i_lpi_test_set_generation(t, 2, 4), X400_ERR_INVALID_ARG);
    ck_assert_int_eq(x400i_lpi_test_set_generation(t, 0, UINT64_MAX - 3), X400_OK);
    ck_assert_int_eq(x400i_lpi_test_set_generation(t, 0, 4), X400_ERR_INVALID_ARG);
    /* the last use slot 0 can ever have */
    h = must_open(t, &a);
    ck_assert(x400_lpi_handle_eq(h, hnd(1, 0, UINT64_MAX - 2)));
    ck_assert_ptr_eq(must_get(t, h), &a);
    ck_assert_int_eq(x400i_lpi_test_set_generation(t, 0, UINT64_MAX - 3), X400_ERR_INVALID_ARG);
    ck_assert_uint_eq(x400_lpi_retired(t), 0);
    ck_assert_int_eq(x400_lpi_close(t, h, NULL, NULL), X400_OK);
    ck_assert_uint_eq(x400_lpi_retired(t), 1);
    ck_assert_uint_eq(x400_lpi_count(t), 0);
    expect_stale(t, h, X400_LPI_REASON_CLOSED,
                 "LPI 1-0-18446744073709551613 is stale: closed; slot 0 now at generation "
                 "18446744073709551614 (retired)");
    expect_stale(t, hnd(1, 0, UINT64_MAX), X400_LPI_REASON_NEVER_ISSUED,
                 "LPI 1-0-18446744073709551615 was never issued: slot 0 is only at generation "
                 "18446744073709551614");
    /* slot 0 never comes back: the generation does not wrap to 1 */
    for (int i = 0; i < 3; i++) {
        h1 = must_open(t, &b);
        ck_assert_uint_eq(h1.slot, 1);
        ck_assert_int_eq(x400_lpi_open(t, &a, &h, &d), X400_ERR_FULL);
        ck_assert_str_eq(d.text, "LPI table 1 full: 1 of 2 slots live, 1 retired");
        ck_assert_int_eq(x400_lpi_close(t, h1, NULL, NULL), X400_OK);
    }
    expect_stale(t, hnd(1, 0, 1), X400_LPI_REASON_REUSED,
                 "LPI 1-0-1 is stale: slot 0 now at generation 18446744073709551614 "
                 "(retired, reopened 9223372036854775806 times since)");
    ck_assert_int_eq(x400_lpi_close_all(t, NULL, NULL), 0);
    x400_lpi_free(t);
}
END_TEST

/* ---- text form ---- */

static void roundtrip(x400_lpi_handle h, const char *want)
{
    char buf[X400_LPI_TEXT_MAX];
    x400_lpi_handle back;
    x400_diag d;
    int n = x400_lpi_format(h, buf, sizeof buf);
    ck_assert_int_eq(n, (int)strlen(buf));
    if (want) ck_assert_str_eq(buf, want);
    ck_assert_int_eq(x400_lpi_parse(buf, (size_t)n, &back, &d), X400_OK);
    ck_assert(x400_lpi_handle_eq(back, h));
    /* exactly enough room, and one byte short */
    ck_assert_int_eq(x400_lpi_format(h, buf, (size_t)n + 1), n);
    ck_assert_int_eq(x400_lpi_format(h, buf, (size_t)n), X400_ERR_BUFFER_TOO_SMALL);
    ck_assert_str_eq(buf, "");
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

START_TEST(format_parse_roundtrip)
{
    uint64_t rng = 0x9e3779b97f4a7c15u;
    char buf[X400_LPI_TEXT_MAX];
    roundtrip(hnd(1, 3, 14), "1-3-14");
    roundtrip(hnd(0, 0, 0), "0-0-0");
    roundtrip(hnd(UINT32_MAX, UINT32_MAX, UINT64_MAX),
              "4294967295-4294967295-18446744073709551615");
    ck_assert_uint_eq(strlen("4294967295-4294967295-18446744073709551615") + 1,
                      X400_LPI_TEXT_MAX - 1);
    roundtrip(hnd(10, 100, 1000), "10-100-1000");
    /* random values of every magnitude */
    for (int i = 0; i < 20000; i++) {
        uint64_t r1 = xorshift(&rng), r2 = xorshift(&rng), r3 = xorshift(&rng);
        x400_lpi_handle h = hnd((uint32_t)(r1 >> (r1 & 31)), (uint32_t)(r2 >> (r2 & 31)),
                                r3 >> (r1 >> 58));
        roundtrip(h, NULL);
    }
    ck_assert_int_eq(x400_lpi_format(hnd(1, 2, 3), NULL, 10), X400_ERR_INVALID_ARG);
    ck_assert_int_eq(x400_lpi_format(hnd(1, 2, 3), buf, 0), X400_ERR_BUFFER_TOO_SMALL);
}
END_TEST

struct reject { const char *text; size_t len; const char *diag; };

START_TEST(parse_rejects)
{
    static const struct reject cases[] = {
        { "", 0, "LPI text \"\": table field: empty at offset 0" },
        { "1", 1, "LPI text \"1\": slot field: missing '-' and value at offset 1" },
        { "1-2", 3, "LPI text \"1-2\": generation field: missing '-' and value at offset 3" },
        { "1-2-", 4, "LPI text \"1-2-\": generation field: empty at offset 4" },
        { "1-2-3-4", 7, "LPI text \"1-2-3-4\": generation field: trailing characters at offset 5" },
        { "-1-2-3", 6, "LPI text \"-1-2-3\": table field: expected a decimal digit at offset 0" },
        { "+1-2-3", 6, "LPI text \"+1-2-3\": table field: expected a decimal digit at offset 0" },
        { "1-+2-3", 6, "LPI text \"1-+2-3\": slot field: expected a decimal digit at offset 2" },
        { "1--2-3", 6, "LPI text \"1--2-3\": slot field: expected a decimal digit at offset 2" },
        { " 1-2-3", 6, "LPI text \" 1-2-3\": table field: expected a decimal digit at offset 0" },
        { "1-2-3 ", 6, "LPI text \"1-2-3 \": generation field: trailing characters at offset 5" },
        { "1 -2-3", 6, "LPI text \"1 -2-3\": table field: expected a decimal digit or '-' at offset 1" },
        { "1-2-3\n", 6, "LPI text \"1-2-3\\x0a\": generation field: trailing characters at offset 5" },
        { "1-2-3x", 6, "LPI text \"1-2-3x\": generation field: trailing characters at offset 5" },
        { "1-2-3\0", 6, "LPI text \"1-2-3\\x00\": generation field: trailing characters at offset 5" },
        { "1-2-0x3", 7, "LPI text \"1-2-0x3\": generation field: trailing characters at offset 5" },
        { "1_2_3", 5, "LPI text \"1_2_3\": table field: expected a decimal digit or '-' at offset 1" },
        { "01-2-3", 6, "LPI text \"01-2-3\": table field: leading zero at offset 0" },
        { "1-00-3", 6, "LPI text \"1-00-3\": slot field: leading zero at offset 2" },
        { "1-2-007", 7, "LPI text \"1-2-007\": generation field: leading zero at offset 4" },
        { "4294967296-0-1", 14,
          "LPI text \"4294967296-0-1\": table field: value exceeds 4294967295 at offset 0" },
        { "1-4294967296-1", 14,
          "LPI text \"1-4294967296-1\": slot field: value exceeds 4294967295 at offset 2" },
        { "1-99999999999-1", 15,
          "LPI text \"1-99999999999-1\": slot field: value exceeds 4294967295 at offset 2" },
        { "1-1-18446744073709551616", 24,
          "LPI text \"1-1-18446744073709551616\": generation field: value exceeds "
          "18446744073709551615 at offset 4" },
        { "1-1-99999999999999999999", 24,
          "LPI text \"1-1-99999999999999999999\": generation field: value exceeds "
          "18446744073709551615 at offset 4" },
        { "\xef\xbc\x91-2-3", 7,
          "LPI text \"\\xef\\xbc\\x91-2-3\": table field: expected a decimal digit at offset 0" },
        { "1-2-3\"", 6, "LPI text \"1-2-3\\x22\": generation field: trailing characters at offset 5" },
    };
    for (size_t i = 0; i < X400I_ARRAY_LEN(cases); i++) {
        x400_lpi_handle h = hnd(7, 7, 7);
        x400_diag d;
        memset(&d, 0, sizeof d);
        ck_assert_msg(x400_lpi_parse(cases[i].text, cases[i].len, &h, &d) == X400_ERR_PARSE,
                      "accepted case %zu", i);
        ck_assert(x400_lpi_handle_eq(h, hnd(7, 7, 7)));
        ck_assert_int_eq(d.layer, X400_LAYER_LPI);
        ck_assert_int_eq(d.source, X400_SOURCE_LOCAL);
        ck_assert_int_eq(d.code, X400_ERR_PARSE);
        ck_assert_int_eq(d.reason, X400_LPI_REASON_SYNTAX);
        ck_assert_str_eq(d.text, cases[i].diag);
        ck_assert_int_eq(x400_lpi_parse(cases[i].text, cases[i].len, &h, NULL), X400_ERR_PARSE);
    }
    /* len bounds the text: a valid prefix of a longer buffer parses */
    {
        x400_lpi_handle h;
        char longtext[200];
        x400_diag d;
        memset(longtext, '9', sizeof longtext);
        ck_assert_int_eq(x400_lpi_parse("1-3-14junk", 6, &h, NULL), X400_OK);
        ck_assert(x400_lpi_handle_eq(h, hnd(1, 3, 14)));
        ck_assert_int_eq(x400_lpi_parse("1-2-3", 4, &h, NULL), X400_ERR_PARSE);
        ck_assert_int_eq(x400_lpi_parse("0-0-0", 5, &h, NULL), X400_OK);
        ck_assert_int_eq(x400_lpi_parse(NULL, 0, &h, &d), X400_ERR_PARSE);
        ck_assert_int_eq(x400_lpi_parse(NULL, 3, &h, NULL), X400_ERR_INVALID_ARG);
        ck_assert_int_eq(x400_lpi_parse("1-2-3", 5, NULL, NULL), X400_ERR_INVALID_ARG);
        /* long junk is quoted in bounded form */
        ck_assert_int_eq(x400_lpi_parse(longtext, sizeof longtext, &h, &d), X400_ERR_PARSE);
        ck_assert_ptr_nonnull(strstr(d.text, "...\": table field: value exceeds 4294967295"));
        ck_assert_uint_lt(strlen(d.text), X400_DIAG_TEXT_MAX - 1);
    }
}
END_TEST

/* ---- concurrency ---- */

#define NW 2          /* writer threads */
#define NR 2          /* reader threads */
#define PUBN 64       /* published objects per writer */
#define WLIVE 40      /* live handles a writer keeps at most */

/* An object knows the handle it was issued (written once, after open). */
struct tobj {
    _Atomic uint64_t gen;   /* 0 until the writer learns the handle */
    _Atomic uint32_t slot;
};

struct hammer {
    x400_lpi *t;
    uint32_t cap;
    uint32_t pubn;  /* publication slots in use: few for small tables, so
                     * readers chase the handles being reopened right now */
    _Atomic(struct tobj *) pub[NW][PUBN];
    _Atomic int stop;
};

struct wctx {
    struct hammer *hm;
    int id;
    struct tobj *objs;
    size_t nobj;
    long iters;
    uint64_t rng;
    x400_lpi_handle live[WLIVE];
    struct tobj *liveobj[WLIVE];
    size_t nlive;
    long opens, closes, fulls, bad;
};

struct rctx {
    struct hammer *hm;
    uint64_t rng;
    long ok, stale, bad, minimum;
};

static void *writer(void *arg)
{
    struct wctx *w = arg;
    struct hammer *hm = w->hm;
    size_t used = 0;
    for (long i = 0; i < w->iters; i++) {
        uint64_t r = xorshift(&w->rng);
        if (w->nlive < WLIVE && used < w->nobj && (w->nlive == 0 || (r & 1))) {
            struct tobj *o = &w->objs[used];
            x400_lpi_handle h;
            x400_diag d;
            int rv = x400_lpi_open(hm->t, o, &h, &d);
            if (rv == X400_ERR_FULL) {
                if (d.reason != X400_LPI_REASON_FULL) w->bad++;
                w->fulls++;
                continue;
            }
            if (rv != X400_OK || h.slot >= hm->cap || !(h.generation & 1)) {
                w->bad++;
                continue;
            }
            used++;
            atomic_store_explicit(&o->slot, h.slot, memory_order_relaxed);
            atomic_store_explicit(&o->gen, h.generation, memory_order_release);
            w->live[w->nlive] = h;
            w->liveobj[w->nlive++] = o;
            atomic_store_explicit(&hm->pub[w->id][(r >> 8) % hm->pubn], o, memory_order_release);
            w->opens++;
        } else if (w->nlive) {
            size_t j = (size_t)((r >> 8) % w->nlive);
            void *o = NULL;
            if (x400_lpi_close(hm->t, w->live[j], &o, NULL) != X400_OK || o != w->liveobj[j])
                w->bad++;
            /* closing again must fail and change nothing */
            if (x400_lpi_close(hm->t, w->live[j], NULL, NULL) != X400_ERR_STALE_HANDLE)
                w->bad++;
            w->live[j] = w->live[--w->nlive];
            w->liveobj[j] = w->liveobj[w->nlive];
            w->closes++;
        }
    }
    return NULL;
}

/* A successful get must have returned the object the handle was issued
 * for: the object's own record of its handle must equal `h`. */
static int issued_for(const struct tobj *o, x400_lpi_handle h)
{
    uint64_t g;
    /* the writer records the handle right after open returns */
    while ((g = atomic_load_explicit(&o->gen, memory_order_acquire)) == 0) sched_yield();
    return g == h.generation && atomic_load_explicit(&o->slot, memory_order_relaxed) == h.slot;
}

static void *reader(void *arg)
{
    struct rctx *rc = arg;
    struct hammer *hm = rc->hm;
    long n = 0;
    while (!atomic_load_explicit(&hm->stop, memory_order_acquire) || n < rc->minimum) {
        uint64_t r = xorshift(&rc->rng);
        struct tobj *p = atomic_load_explicit(&hm->pub[r % NW][(r >> 8) % hm->pubn],
                                              memory_order_acquire);
        x400_lpi_handle h;
        void *o = NULL;
        x400_diag d;
        int rv, kind = (int)((r >> 20) & 7);
        n++;
        if (kind == 7) { /* anything at all, mostly never issued */
            h = hnd(x400_lpi_id(hm->t) + ((r >> 30) & 1), (uint32_t)((r >> 32) % (hm->cap + 2)),
                    ((r >> 40) % 4096) | 1);
        } else {
            if (!p) continue;
            h = hnd(x400_lpi_id(hm->t), atomic_load_explicit(&p->slot, memory_order_relaxed),
                    atomic_load_explicit(&p->gen, memory_order_relaxed));
            if (kind == 6) h.generation += 2;       /* the slot's next use */
            else if (kind == 5 && h.generation > 2) h.generation -= 2; /* previous */
        }
        rv = x400_lpi_get(hm->t, h, &o, (r >> 24) % 16 == 0 ? &d : NULL);
        if (rv == X400_OK) {
            rc->ok++;
            if (!o || !issued_for(o, h)) rc->bad++;
            if (kind < 5 && o != p) rc->bad++;
        } else if (rv == X400_ERR_STALE_HANDLE) {
            rc->stale++;
            if (o) rc->bad++;
            if ((r >> 24) % 16 == 0 &&
                (d.code != X400_ERR_STALE_HANDLE || d.layer != X400_LAYER_LPI ||
                 strncmp(d.text, "LPI ", 4) != 0))
                rc->bad++;
        } else {
            rc->bad++;
        }
    }
    return NULL;
}

struct cnt_visit { size_t n; int bad; };
static void count_visit(void *user, x400_lpi_handle h, void *obj)
{
    struct cnt_visit *v = user;
    v->n++;
    if (!issued_for(obj, h)) v->bad++;
}

static void hammer_run(uint32_t cap)
{
    const long iters = X400T_TSAN ? 20000 : 200000;
    struct hammer *hm = calloc(1, sizeof *hm);
    struct wctx w[NW];
    struct rctx rd[NR];
    pthread_t wt[NW], rt[NR];
    long ok = 0, stale = 0, opens = 0;
    size_t live = 0;
    struct cnt_visit cv = { 0, 0 };
    ck_assert_ptr_nonnull(hm);
    hm->t = mk(42, cap);
    hm->cap = cap;
    hm->pubn = cap < PUBN ? cap : PUBN;
    for (int i = 0; i < NR; i++) {
        memset(&rd[i], 0, sizeof rd[i]);
        rd[i].hm = hm;
        rd[i].rng = 0x1234567u * (uint64_t)(i + 1) + 99;
        rd[i].minimum = iters;
        ck_assert_int_eq(pthread_create(&rt[i], NULL, reader, &rd[i]), 0);
    }
    for (int i = 0; i < NW; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].hm = hm;
        w[i].id = i;
        w[i].iters = iters;
        w[i].nobj = (size_t)iters;
        w[i].objs = calloc(w[i].nobj, sizeof *w[i].objs);
        ck_assert_ptr_nonnull(w[i].objs);
        w[i].rng = 0xabcdefu * (uint64_t)(i + 7);
        ck_assert_int_eq(pthread_create(&wt[i], NULL, writer, &w[i]), 0);
    }
    for (int i = 0; i < NW; i++) ck_assert_int_eq(pthread_join(wt[i], NULL), 0);
    atomic_store_explicit(&hm->stop, 1, memory_order_release);
    for (int i = 0; i < NR; i++) ck_assert_int_eq(pthread_join(rt[i], NULL), 0);
    for (int i = 0; i < NW; i++) {
        ck_assert_int_eq(w[i].bad, 0);
        opens += w[i].opens;
        live += w[i].nlive;
        /* what the writer still holds resolves to its objects */
        for (size_t j = 0; j < w[i].nlive; j++)
            ck_assert_ptr_eq(must_get(hm->t, w[i].live[j]), w[i].liveobj[j]);
    }
    for (int i = 0; i < NR; i++) {
        ck_assert_int_eq(rd[i].bad, 0);
        ok += rd[i].ok;
        stale += rd[i].stale;
    }
    /* the run exercised both outcomes and reuse */
    ck_assert_int_gt(ok, 0);
    ck_assert_int_gt(stale, 0);
    ck_assert_int_gt(opens, (long)cap * 4);
    if (cap < NW * WLIVE) ck_assert_int_gt(w[0].fulls + w[1].fulls, 0);
    ck_assert_uint_eq(x400_lpi_count(hm->t), live);
    ck_assert_int_eq(x400_lpi_close_all(hm->t, count_visit, &cv), (long)live);
    ck_assert_uint_eq(cv.n, live);
    ck_assert_int_eq(cv.bad, 0);
    ck_assert_uint_eq(x400_lpi_count(hm->t), 0);
    x400_lpi_free(hm->t);
    for (int i = 0; i < NW; i++) free(w[i].objs);
    free(hm);
}

START_TEST(concurrent_get_while_open_close) { hammer_run(48); }
END_TEST

START_TEST(concurrent_single_slot) { hammer_run(1); }
END_TEST

/* Two threads close the same handles at once: each closes exactly once. */
struct closer { x400_lpi *t; x400_lpi_handle *h; size_t n; long won; void **objs; };
static void *close_all_of(void *arg)
{
    struct closer *c = arg;
    for (size_t i = 0; i < c->n; i++) {
        void *o = NULL;
        if (x400_lpi_close(c->t, c->h[i], &o, NULL) == X400_OK) {
            c->won++;
            c->objs[i] = o;
        }
    }
    return NULL;
}

START_TEST(concurrent_double_close)
{
    const size_t n = X400T_TSAN ? 2000 : 20000;
    x400_lpi *t = mk(9, (uint32_t)n);
    x400_lpi_handle *h = malloc(n * sizeof *h);
    uint32_t *objs = malloc(n * sizeof *objs);
    void **got0 = calloc(n, sizeof *got0), **got1 = calloc(n, sizeof *got1);
    struct closer c0, c1;
    pthread_t t0, t1;
    ck_assert(h && objs && got0 && got1);
    for (size_t i = 0; i < n; i++) h[i] = must_open(t, &objs[i]);
    c0 = (struct closer){ t, h, n, 0, got0 };
    c1 = (struct closer){ t, h, n, 0, got1 };
    ck_assert_int_eq(pthread_create(&t0, NULL, close_all_of, &c0), 0);
    ck_assert_int_eq(pthread_create(&t1, NULL, close_all_of, &c1), 0);
    pthread_join(t0, NULL);
    pthread_join(t1, NULL);
    ck_assert_int_eq(c0.won + c1.won, (long)n);
    for (size_t i = 0; i < n; i++) {
        ck_assert((got0[i] == NULL) != (got1[i] == NULL));
        ck_assert_ptr_eq(got0[i] ? got0[i] : got1[i], &objs[i]);
    }
    ck_assert_uint_eq(x400_lpi_count(t), 0);
    /* every slot went back to the free queue exactly once */
    for (size_t i = 0; i < n; i++) must_open(t, &objs[i]);
    ck_assert_int_eq(x400_lpi_open(t, &objs[0], h, NULL), X400_ERR_FULL);
    x400_lpi_free(t);
    free(h);
    free(objs);
    free(got0);
    free(got1);
}
END_TEST

Suite *x400t_suite_lpi(void)
{
    Suite *s = suite_create("lpi");
    TCase *tc = tcase_create("core");
    TCase *mt = tcase_create("threads");
    tcase_add_test(tc, open_get_close_basics);
    tcase_add_test(tc, stale_handles_are_refused_and_named);
    tcase_add_test(tc, full_table);
    tcase_add_test(tc, capacity_one);
    tcase_add_test(tc, large_capacity);
    tcase_add_test(tc, create_arguments_and_allocation_failure);
    tcase_add_test(tc, no_allocation_after_creation);
    tcase_add_test(tc, generation_end_retires_slot);
    tcase_add_test(tc, format_parse_roundtrip);
    tcase_add_test(tc, parse_rejects);
    tcase_set_timeout(tc, 30);
    tcase_add_test(mt, concurrent_get_while_open_close);
    tcase_add_test(mt, concurrent_single_slot);
    tcase_add_test(mt, concurrent_double_close);
    tcase_set_timeout(mt, 120);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, mt);
    return s;
}
