/* Benchmark harness shared by bench/bench_<module>.c.
 * Each module defines `void x400b_bench_<module>(void)` and reports with
 * x400b_report(): `bench: NAME VALUE UNIT` lines, ratios against a peer as
 * `bench: NAME_vs_PEER VALUE x` (ours / theirs, higher is better), and a
 * table printed at the end.  Figures are medians of X400B_REPS runs. */
#ifndef X400B_H
#define X400B_H

#include <stddef.h>
#include <stdint.h>

#define X400B_REPS 7

double x400b_now(void);                  /* monotonic seconds */
void x400b_report(const char *name, double value, const char *unit);
void x400b_ratio(const char *name, const char *peer, double ours, double theirs);
double x400b_median(double *v, size_t n); /* sorts v */
/* Run fn(arg) X400B_REPS times; each returns a rate; report the median. */
double x400b_median_rate(double (*fn)(void *), void *arg);

#endif
