/* One Check runner over every per-module suite (test/check_<module>.c).
 * The Makefile generates suites.inc from the file list.
 *
 * Each suite runs in its own SRunner so that its name and time are printed
 * as soon as it finishes; a summary line with the counts and the elapsed
 * time ends the run.
 *
 *   X400T_LONG=1   run only the long fault runs: test cases tagged "long"
 *                  (tcase_set_tags(tc, X400T_LONG_TAG)); `make check-long`.
 *                  Otherwise they are left out (`make check`).
 *   CK_RUN_SUITE / CK_RUN_CASE select a subset, as with any Check program;
 *   CK_VERBOSITY=verbose prints every test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "x400t.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(void)
{
    static const struct {
        const char *name;
        Suite *(*make)(void);
    } suites[] = {
#define X400T_SUITE(m) { #m, x400t_suite_##m },
#include "suites.inc"
#undef X400T_SUITE
    };
    const char *long_env = getenv("X400T_LONG");
    const char *verbosity = getenv("CK_VERBOSITY");
    int long_only = long_env && strcmp(long_env, "0") != 0 && long_env[0];
    enum print_output mode = verbosity && !strcmp(verbosity, "verbose") ? CK_VERBOSE : CK_SILENT;
    int nsuites = 0, ntests = 0, nfailed = 0;
    double t0 = now_s();

    for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++) {
        SRunner *sr = srunner_create(suites[i].make());
        double t1 = now_s();
        int run, failed;
        srunner_run_tagged(sr, NULL, NULL, long_only ? X400T_LONG_TAG : NULL,
                           long_only ? NULL : X400T_LONG_TAG, mode);
        run = srunner_ntests_run(sr);
        failed = srunner_ntests_failed(sr);
        if (run > 0) {
            nsuites++;
            ntests += run;
            nfailed += failed;
            if (failed) srunner_print(sr, CK_NORMAL); /* each failure with file:line */
            printf("  %-4s %-14s %4d test%s %6.1f s\n", failed ? "FAIL" : "ok", suites[i].name, run,
                   run == 1 ? " " : "s", now_s() - t1);
            fflush(stdout);
        }
        srunner_free(sr);
    }
    printf("%s: %d suites, %d tests, %d failed, %.1f s%s\n",
           long_only ? "make check-long" : "make check", nsuites, ntests, nfailed, now_s() - t0,
           long_only ? "" : " (long fault runs: make check-long)");
    return nfailed ? EXIT_FAILURE : EXIT_SUCCESS;
}
