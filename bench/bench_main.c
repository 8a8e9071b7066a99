/* `make bench`: runs every bench/bench_<module>.c and prints a table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/utsname.h>

#include "bench.h"

#define X400B_BENCH(m) void x400b_bench_##m(void);
#include "benches.inc"
#undef X400B_BENCH

struct row { char name[96]; double value; char unit[24]; };
static struct row rows[256];
static size_t nrows;

double x400b_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void x400b_report(const char *name, double value, const char *unit)
{
    printf("bench: %s %.6g %s\n", name, value, unit);
    fflush(stdout);
    if (nrows < sizeof rows / sizeof rows[0]) {
        snprintf(rows[nrows].name, sizeof rows[nrows].name, "%s", name);
        rows[nrows].value = value;
        snprintf(rows[nrows].unit, sizeof rows[nrows].unit, "%s", unit);
        nrows++;
    }
}

void x400b_ratio(const char *name, const char *peer, double ours, double theirs)
{
    char n[128];
    snprintf(n, sizeof n, "%s_vs_%s", name, peer);
    x400b_report(n, theirs > 0 ? ours / theirs : 0.0, "x");
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double x400b_median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double x400b_median_rate(double (*fn)(void *), void *arg)
{
    double v[X400B_REPS];
    for (int i = 0; i < X400B_REPS; i++) v[i] = fn(arg);
    return x400b_median(v, X400B_REPS);
}

static void human(double v, char *buf, size_t len)
{
    if (v >= 1e9) snprintf(buf, len, "%.2f G", v / 1e9);
    else if (v >= 1e6) snprintf(buf, len, "%.2f M", v / 1e6);
    else if (v >= 1e3) snprintf(buf, len, "%.2f k", v / 1e3);
    else snprintf(buf, len, "%.3g", v);
}

int main(void)
{
    struct utsname u;
    time_t t = time(NULL);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&t));
    uname(&u);
    printf("bench: x400p1 benchmarks, %s, %s %s, medians of %d runs\n",
           date, u.machine, u.release, X400B_REPS);
    /* X400B_ONLY=<module>: run that bench alone */
#define X400B_BENCH(m) \
    if (!getenv("X400B_ONLY") || !strcmp(getenv("X400B_ONLY"), #m)) x400b_bench_##m();
#include "benches.inc"
#undef X400B_BENCH
    printf("\n| figure | value | unit |\n|---|---:|---|\n");
    for (size_t i = 0; i < nrows; i++) {
        char h[32];
        human(rows[i].value, h, sizeof h);
        printf("| %s | %s | %s |\n", rows[i].name, h, rows[i].unit);
    }
    return 0;
}
