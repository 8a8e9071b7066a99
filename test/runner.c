/* One Check runner over every per-module suite (test/check_<module>.c).
 * The Makefile generates suites.inc from the file list.
 *
 * Each suite runs in its own SRunner so that its name and time are printed
 * as soon as it finishes; a summary line with the counts and the elapsed
 * time ends the run.  Suites run in X400T_JOBS worker processes at once
 * (default: one more than the online CPUs for make check, because the MTA
 * suites spend most of their time waiting for the processes and timers
 * they test; as many as the CPUs for make check-long), the
 * slowest known ones first.  A suite's test cases tagged X400T_HALF_TAG
 * run as a job of their own (printed as "<suite>+"), so that one long
 * suite does not set the pace of the whole run; those tagged
 * X400T_PART2_TAG and X400T_PART3_TAG as two more ("<suite>+2", "+3").
 *
 *   X400T_LONG=1   run only the long fault runs: test cases tagged "long"
 *                  (tcase_set_tags(tc, X400T_LONG_TAG)); `make check-long`.
 *                  Otherwise they are left out (`make check`).
 *   X400T_JOBS=N   suites run at once (1: one after the other); the test
 *                  timeouts are multiplied by N (CK_TIMEOUT_MULTIPLIER).
 *   X400T_XML=DIR  each job's Check XML log, with every test's duration, in
 *                  DIR/<suite>.xml (DIR/<suite>+.xml and so on for its part jobs):
 *                  where the time goes.
 *   CK_RUN_SUITE / CK_RUN_CASE select a subset, as with any Check program
 *   (a long case also needs X400T_LONG=1); CK_VERBOSITY=verbose prints
 *   every test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "x400t.h"

static const struct {
    const char *name;
    Suite *(*make)(void);
} suites[] = {
#define X400T_SUITE(m) { #m, x400t_suite_##m },
#include "suites.inc"
#undef X400T_SUITE
};
#define NSUITES (sizeof suites / sizeof suites[0])

/* Jobs started first, the longest first, so that the workers finish
 * together: "<suite>" is a suite's job of the cases without a part tag,
 * "<suite>+", "+2", "+3" its part jobs (a job missing here runs after them,
 * in file order; X400T_XML shows how long each takes). */
static const char *const slow_first[] = { "mta+3", "mta", "mtaspool", "interop", "mta+2", "mta+", "mtademo", "mtarelay",
                                          "transport", "rtse_assoc", "p1link", "rtse", "mtaconfig",
                                          "presentation", "p1", "mtsid", "mtatimers", "client", "session",
                                          "assoc", NULL };

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A worker's results; a suite counts once however many of its jobs ran
 * tests, in whichever workers (its half job may run alone: CK_RUN_CASE). */
struct counts {
    int tests, failed;
    unsigned char ran[NSUITES];     /* 1: some of suite i's tests ran */
};

/* The jobs of a suite (make check): its test cases without a part tag,
 * then those of each part tag (X400T_HALF_TAG first). */
static const char *const part_tags[] = { X400T_HALF_TAG, X400T_PART2_TAG, X400T_PART3_TAG };
#define NPARTS (1 + sizeof part_tags / sizeof part_tags[0])
static const char *const part_suffix[NPARTS] = { "", "+", "+2", "+3" };

/* Job NPARTS*i: suite i's test cases without a part tag (or, for make
 * check-long, its long ones); job NPARTS*i+p: its cases tagged
 * part_tags[p-1] (make check only). */
static void run_suite(size_t job, int long_only, enum print_output mode, struct counts *c)
{
    size_t i = job / NPARTS, part = job % NPARTS;
    SRunner *sr = srunner_create(suites[i].make());
    double t1 = now_s();
    int run, failed;
    char name[32];
    const char *xml_dir = getenv("X400T_XML");
    char xml[1024];
    snprintf(name, sizeof name, "%s%s", suites[i].name, part_suffix[part]);
    if (xml_dir && xml_dir[0]) {
        snprintf(xml, sizeof xml, "%s/%s.xml", xml_dir, name);
        srunner_set_xml(sr, xml);
    }
    if (long_only)
        srunner_run_tagged(sr, NULL, NULL, X400T_LONG_TAG, NULL, mode);
    else if (part)
        srunner_run_tagged(sr, NULL, NULL, part_tags[part - 1], X400T_LONG_TAG, mode);
    else
        srunner_run_tagged(sr, NULL, NULL, NULL,
                           X400T_LONG_TAG " " X400T_HALF_TAG " " X400T_PART2_TAG " " X400T_PART3_TAG, mode);
    run = srunner_ntests_run(sr);
    failed = srunner_ntests_failed(sr);
    if (xml_dir && xml_dir[0] && run == 0) remove(xml); /* the job had nothing to run */
    if (run > 0) {
        c->ran[i] = 1;
        c->tests += run;
        c->failed += failed;
        if (failed) srunner_print(sr, CK_NORMAL); /* each failure with file:line */
        printf("  %-4s %-14s %4d test%s %6.1f s\n", failed ? "FAIL" : "ok", name, run,
               run == 1 ? " " : "s", now_s() - t1);
        fflush(stdout);
    }
    srunner_free(sr);
}

int main(void)
{
    const char *long_env = getenv("X400T_LONG"), *jobs_env = getenv("X400T_JOBS");
    const char *verbosity = getenv("CK_VERBOSITY");
    int long_only = long_env && long_env[0] && strcmp(long_env, "0") != 0;
    enum print_output mode = verbosity && !strcmp(verbosity, "verbose") ? CK_VERBOSE : CK_SILENT;
    /* make check-long: as many workers as CPUs -- its MTA attack test
     * measures resident memory, which a CPU shared three ways inflates */
    long jobs = jobs_env ? atol(jobs_env) : sysconf(_SC_NPROCESSORS_ONLN) + (long_only ? 0 : 1);
    struct counts total;
    int nsuites = 0;
    size_t order[NSUITES * NPARTS], n = 0;
    unsigned char queued[NSUITES * NPARTS];
    int work[2], results[2], crashed = 0;
    double t0 = now_s();

    memset(&total, 0, sizeof total);
    /* the order: known slow jobs first, then the rest as listed (make
     * check-long: one job per suite, its long cases) */
    memset(queued, 0, sizeof queued);
    for (size_t k = 0; slow_first[k]; k++)
        for (size_t job = 0; job < NSUITES * NPARTS; job++) {
            size_t sl = strlen(suites[job / NPARTS].name);
            if (!queued[job] && (!long_only || job % NPARTS == 0) &&
                !strncmp(slow_first[k], suites[job / NPARTS].name, sl) &&
                !strcmp(slow_first[k] + sl, part_suffix[job % NPARTS]))
                queued[job] = 1, order[n++] = job;
        }
    for (size_t job = 0; job < NSUITES * NPARTS; job++)
        if (!queued[job] && (!long_only || job % NPARTS == 0)) order[n++] = job;
    if (jobs < 1) jobs = 1;
    if ((size_t)jobs > n) jobs = (long)n;
    /* N suites at once share the CPUs: their test timeouts stretch by N
     * (unless the caller set CK_TIMEOUT_MULTIPLIER itself). */
    if (jobs > 1 && !getenv("CK_TIMEOUT_MULTIPLIER")) {
        char m[24];
        snprintf(m, sizeof m, "%ld", jobs);
        setenv("CK_TIMEOUT_MULTIPLIER", m, 0);
    }
    fflush(stdout);
    /* Workers take jobs (run_suite) from one pipe (each read takes exactly
     * one) and send their counts back through another. */
    if (pipe(work) != 0 || pipe(results) != 0) {
        perror("x400t runner: pipe");
        return EXIT_FAILURE;
    }
    for (size_t k = 0; k < n; k++)
        if (write(work[1], &order[k], sizeof order[k]) != (ssize_t)sizeof order[k]) return EXIT_FAILURE;
    close(work[1]);
    for (long j = 0; j < jobs; j++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("x400t runner: fork");
            return EXIT_FAILURE;
        }
        if (pid == 0) {
            struct counts c;
            size_t i;
            memset(&c, 0, sizeof c);
            close(results[0]);
            while (read(work[0], &i, sizeof i) == (ssize_t)sizeof i) run_suite(i, long_only, mode, &c);
            if (write(results[1], &c, sizeof c) != (ssize_t)sizeof c) _exit(EXIT_FAILURE);
            _exit(EXIT_SUCCESS);
        }
    }
    close(work[0]);
    close(results[1]);
    for (long j = 0; j < jobs; j++) {
        struct counts c;
        if (read(results[0], &c, sizeof c) == (ssize_t)sizeof c) {
            total.tests += c.tests;
            total.failed += c.failed;
            for (size_t i = 0; i < NSUITES; i++) total.ran[i] |= c.ran[i];
        }
    }
    for (long j = 0; j < jobs; j++) {
        int st;
        if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) crashed++;
    }
    for (size_t i = 0; i < NSUITES; i++) nsuites += total.ran[i];
    printf("%s: %d suites, %d tests, %d failed%s, %.1f s with %ld worker%s%s\n",
           long_only ? "make check-long" : "make check", nsuites, total.tests, total.failed,
           crashed ? " (a worker died: results incomplete)" : "", now_s() - t0, jobs, jobs == 1 ? "" : "s",
           long_only ? "" : " (long fault runs: make check-long)");
    return total.failed || crashed ? EXIT_FAILURE : EXIT_SUCCESS;
}
