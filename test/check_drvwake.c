/* x400_driver_set_wake_fd: a run returns when the application's own
 * descriptor (a pipe another thread writes to) becomes readable, not at
 * its timeout; the driver never reads it; -1 removes it.  x400mta's spool
 * thread wakes the loop this way when a journal batch is durable. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "x400p1/driver.h"
#include "x400t.h"

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void no_closed(void *u, x400_driver *d, x400_lpi_handle c, x400_assoc *a, const x400_diag *why)
{
    (void)u; (void)d; (void)c; (void)a; (void)why;
}

static void *write_later(void *arg)
{
    int fd = *(int *)arg;
    static const uint8_t one = 1;
    usleep(100000);
    if (write(fd, &one, 1) != 1) return (void *)1;
    return NULL;
}

/* One run of up to `ms`: how long it took, in seconds. */
static double timed_run(x400_driver *d, int ms)
{
    double t = mono_s();
    ck_assert_int_ge(x400_driver_run(d, ms), 0);
    return mono_s() - t;
}

START_TEST(wake_fd_ends_the_wait)
{
    x400_driver *d;
    x400_driver_config dc;
    x400_driver_callbacks cb = { 0 };
    int p[2];
    pthread_t th;
    void *rv;
    uint8_t b[8];
    cb.closed = no_closed;
    x400_driver_config_init(&dc);
    ck_assert_int_eq(x400_driver_new(&d, &dc, &cb, NULL), X400_OK);
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
    ck_assert_int_eq(x400_driver_set_wake_fd(d, p[0]), X400_OK);
    /* nothing written: the timeout */
    ck_assert_double_ge(timed_run(d, 200), 0.18);
    /* written by another thread 100 ms into a 5 s wait: woken then */
    ck_assert_int_eq(pthread_create(&th, NULL, write_later, &p[1]), 0);
    {
        double t = timed_run(d, 5000);
        ck_assert_msg(t >= 0.09 && t < 2.0, "woken after %.3f s", t);
    }
    ck_assert_int_eq(pthread_join(th, &rv), 0);
    ck_assert_ptr_null(rv);
    /* not read by the driver: readable until the application drains it */
    ck_assert_double_lt(timed_run(d, 5000), 1.0);
    ck_assert_int_eq(read(p[0], b, sizeof b), 1);
    ck_assert_double_ge(timed_run(d, 200), 0.18);
    /* -1: no longer waited for */
    ck_assert_int_eq(x400_driver_set_wake_fd(d, -1), X400_OK);
    ck_assert_int_eq(write(p[1], b, 1), 1);
    ck_assert_double_ge(timed_run(d, 200), 0.18);
    x400_driver_free(d);
    close(p[0]);
    close(p[1]);
}
END_TEST

Suite *x400t_suite_drvwake(void)
{
    Suite *s = suite_create("drvwake");
    TCase *tc = tcase_create("drvwake");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, wake_fd_ends_the_wait);
    suite_add_tcase(s, tc);
    return s;
}
