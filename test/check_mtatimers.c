/* The x400mta deadline heap (examples/x400mta/timers.c): against a plain
 * array that is searched linearly, under random arming, moving, cancelling
 * and popping; the heap order checked after every operation. */
#include <stdlib.h>

#include "x400t.h"
#include "mta.h"

#define NT 500

static mta_timer ent[NT];
static uint64_t model[NT];   /* MTA_TIMER_NONE: not armed */

static void assert_heap(const mta_timers *t)
{
    size_t armed = 0;
    for (size_t i = 0; i < t->n; i++) {
        ck_assert_uint_eq(t->h[i]->pos, i + 1);
        if (i) ck_assert_uint_le(t->h[(i - 1) / 2]->due, t->h[i]->due);
    }
    for (size_t i = 0; i < NT; i++) {
        ck_assert_int_eq(ent[i].pos != 0, model[i] != MTA_TIMER_NONE);
        if (ent[i].pos) {
            ck_assert_uint_eq(ent[i].due, model[i]);
            armed++;
        }
    }
    ck_assert_uint_eq(armed, t->n);
}

static uint64_t model_min(void)
{
    uint64_t m = MTA_TIMER_NONE;
    for (size_t i = 0; i < NT; i++)
        if (model[i] < m) m = model[i];
    return m;
}

START_TEST(random_operations_match_a_linear_search)
{
    mta_timers t = { NULL, 0, 0 };
    uint64_t now = 0;
    unsigned seed = 12345;
    for (size_t i = 0; i < NT; i++) model[i] = MTA_TIMER_NONE;
    for (int step = 0; step < 20000; step++) {
        size_t i = (size_t)rand_r(&seed) % NT;
        int op = rand_r(&seed) % 10;
        if (op < 6) {               /* arm or move, often to equal times */
            uint64_t due = now + (uint64_t)(rand_r(&seed) % 1000);
            ck_assert_int_eq(mta_timers_set(&t, &ent[i], due), 0);
            model[i] = due;
        } else if (op < 7) {        /* cancel (armed or not) */
            mta_timers_cancel(&t, &ent[i]);
            model[i] = MTA_TIMER_NONE;
        } else if (op < 8) {        /* NONE cancels too */
            ck_assert_int_eq(mta_timers_set(&t, &ent[i], MTA_TIMER_NONE), 0);
            model[i] = MTA_TIMER_NONE;
        } else {                    /* time passes: pop what is due, earliest first */
            mta_timer *e;
            uint64_t last = 0;
            now += (uint64_t)(rand_r(&seed) % 300);
            while ((e = mta_timers_pop_due(&t, now)) != NULL) {
                size_t k = (size_t)(e - ent);
                ck_assert_uint_le(e->due, now);
                ck_assert_uint_ge(e->due, last);
                ck_assert_uint_eq(e->due, model[k]);
                ck_assert_uint_eq(e->due, model_min());
                ck_assert_uint_eq(e->pos, 0);
                last = e->due;
                model[k] = MTA_TIMER_NONE;
            }
            ck_assert_uint_gt(mta_timers_next(&t), now);
        }
        ck_assert_uint_eq(mta_timers_next(&t), model_min());
        if (step % 97 == 0) assert_heap(&t);
    }
    assert_heap(&t);
    mta_timers_free(&t);
    for (size_t i = 0; i < NT; i++) ck_assert_uint_eq(ent[i].pos, 0);
    ck_assert_uint_eq(mta_timers_next(&t), MTA_TIMER_NONE);
}
END_TEST

/* An empty heap pops nothing; one entry moved earlier pops at its new time. */
START_TEST(empty_and_single)
{
    mta_timers t = { NULL, 0, 0 };
    mta_timer a = { 0, 0 };
    ck_assert_ptr_null(mta_timers_pop_due(&t, UINT64_MAX - 1));
    ck_assert_int_eq(mta_timers_set(&t, &a, 10), 0);
    ck_assert_ptr_null(mta_timers_pop_due(&t, 9));
    ck_assert_int_eq(mta_timers_set(&t, &a, 5), 0);   /* moved earlier */
    ck_assert_uint_eq(mta_timers_next(&t), 5);
    ck_assert_ptr_eq(mta_timers_pop_due(&t, 5), &a);
    ck_assert_uint_eq(t.n, 0);
    mta_timers_cancel(&t, &a);                          /* not armed: nothing */
    mta_timers_free(&t);
}
END_TEST

Suite *x400t_suite_mtatimers(void)
{
    Suite *s = suite_create("mtatimers");
    TCase *tc = tcase_create("heap");
    tcase_add_test(tc, random_operations_match_a_linear_search);
    tcase_add_test(tc, empty_and_single);
    suite_add_tcase(s, tc);
    return s;
}
