/* MTSID allocation rate (1 and 2 threads, per thread) against libuuid's
 * uuid_generate_time and uuid_generate_random in the same run. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "bench.h"
#include "x400p1/mtsid.h"

#define MTSID_N 20000000ul   /* identifiers per thread per repetition */
#define UUID_N 200000ul

struct mt_arg {
    x400_mtsid_alloc *a;
    pthread_barrier_t *start;
    unsigned long n;
    double rate;
    unsigned sink;
};

static void *mt_thread(void *p)
{
    struct mt_arg *m = p;
    x400_mtsid_cursor c;
    x400_mtsid id;
    double t0;
    unsigned sink = 0;
    x400_mtsid_cursor_init(&c, m->a);
    if (m->start) pthread_barrier_wait(m->start);
    t0 = x400b_now();
    for (unsigned long i = 0; i < m->n; i++) {
        if (x400_mtsid_next(&c, &id) != X400_OK) abort();
        sink += (unsigned char)id.local[20];
    }
    m->rate = (double)m->n / (x400b_now() - t0);
    m->sink = sink;
    return NULL;
}

struct mt_bench { x400_mtsid_alloc *a; int threads; unsigned sink; };

static double mt_rate(void *p)
{
    struct mt_bench *b = p;
    struct mt_arg args[2];
    pthread_t th[2];
    pthread_barrier_t bar;
    double sum = 0;
    if (b->threads == 1) {
        args[0] = (struct mt_arg){ b->a, NULL, MTSID_N, 0, 0 };
        mt_thread(&args[0]);
        b->sink += args[0].sink;
        return args[0].rate;
    }
    pthread_barrier_init(&bar, NULL, (unsigned)b->threads);
    for (int i = 0; i < b->threads; i++) {
        args[i] = (struct mt_arg){ b->a, &bar, MTSID_N, 0, 0 };
        pthread_create(&th[i], NULL, mt_thread, &args[i]);
    }
    for (int i = 0; i < b->threads; i++) {
        pthread_join(th[i], NULL);
        sum += args[i].rate;
        b->sink += args[i].sink;
    }
    pthread_barrier_destroy(&bar);
    return sum / b->threads;   /* mean per-thread rate */
}

static unsigned uuid_sink;

static double uuid_time_rate(void *p)
{
    uuid_t u;
    double t0 = x400b_now();
    (void)p;
    for (unsigned long i = 0; i < UUID_N; i++) {
        uuid_generate_time(u);
        uuid_sink += u[15];
    }
    return (double)UUID_N / (x400b_now() - t0);
}

static double uuid_random_rate(void *p)
{
    uuid_t u;
    double t0 = x400b_now();
    (void)p;
    for (unsigned long i = 0; i < UUID_N; i++) {
        uuid_generate_random(u);
        uuid_sink += u[15];
    }
    return (double)UUID_N / (x400b_now() - t0);
}

void x400b_bench_mtsid(void);
void x400b_bench_mtsid(void)
{
    char dir[] = "/tmp/x400b-mtsid-XXXXXX", path[64], side[80];
    x400_mtsid_config cfg;
    struct mt_bench b = { NULL, 1, 0 };
    x400_diag d;
    double r1, r2, rt, rr;
    if (!mkdtemp(dir)) {
        perror("bench_mtsid: mkdtemp");
        return;
    }
    snprintf(path, sizeof path, "%s/mtsid.state", dir);
    x400_mtsid_config_init(&cfg);
    cfg.state_path = path;
    cfg.node_id = "BENCH01";
    strcpy(cfg.gdi.country, "GB");
    strcpy(cfg.gdi.admd, " ");
    strcpy(cfg.gdi.prmd, "SMHS");
    cfg.flags = X400_MTSID_CREATE;
    if (x400_mtsid_new(&b.a, &cfg, &d) != X400_OK) {
        fprintf(stderr, "bench_mtsid: open: %s\n", d.text);
        rmdir(dir);
        return;
    }
    r1 = x400b_median_rate(mt_rate, &b);
    b.threads = 2;
    r2 = x400b_median_rate(mt_rate, &b);
    x400_mtsid_free(b.a);
    rt = x400b_median_rate(uuid_time_rate, NULL);
    rr = x400b_median_rate(uuid_random_rate, NULL);

    x400b_report("mtsid_alloc_1thread", r1, "ids/s");
    x400b_report("mtsid_alloc_2threads_per_thread", r2, "ids/s");
    x400b_report("uuid_generate_time", rt, "ids/s");
    x400b_report("uuid_generate_random", rr, "ids/s");
    x400b_ratio("mtsid_alloc_1thread", "uuid_generate_time", r1, rt);
    x400b_ratio("mtsid_alloc_1thread", "uuid_generate_random", r1, rr);
    if (b.sink == 1 && uuid_sink == 1) printf("bench: (sink)\n");

    unlink(path);
    snprintf(side, sizeof side, "%s.lock", path);
    unlink(side);
    snprintf(side, sizeof side, "%s.tmp", path);
    unlink(side);
    rmdir(dir);
}
