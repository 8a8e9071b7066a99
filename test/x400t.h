/* Shared helpers for the Check suites (test/check_<module>.c).
 * Each suite file defines `Suite *x400t_suite_<module>(void)`. */
#ifndef X400T_H
#define X400T_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

/* Prototypes of every suite (generated list). */
#define X400T_SUITE(m) Suite *x400t_suite_##m(void);
#include "suites.inc"
#undef X400T_SUITE

/* Tag of the long fault runs (SIGKILL rounds, cut sweeps): `make check`
 * leaves test cases with this tag out, `make check-long` (X400T_LONG=1)
 * runs only them.  tcase_set_tags(tc, X400T_LONG_TAG). */
#define X400T_LONG_TAG "long"
/* Test cases of a long suite that the runner runs as a job of their own
 * (printed "<suite>+"), beside the rest of the suite, so the two halves
 * share the workers.  tcase_set_tags(tc, X400T_HALF_TAG).  A suite longer
 * still has two more such jobs: X400T_PART2_TAG ("<suite>+2") and
 * X400T_PART3_TAG ("<suite>+3"). */
#define X400T_HALF_TAG "half"
#define X400T_PART2_TAG "part2"
#define X400T_PART3_TAG "part3"

/* Check's ck_assert_* record the location of every assertion that passes
 * (_mark_point: a write(2) to the runner's log), so that a test that dies
 * or times out is reported at its last passed assertion.  In a test that
 * asserts in loops of 100,000 those writes are most of its time: a suite
 * that defines X400T_UNMARKED_ASSERTS before including this header gets
 * ck_assert_* that cost only their comparison when they pass.  A failure
 * is reported exactly as before; a crash has its sanitizer stack trace,
 * a timeout only the test's name. */
#ifdef X400T_UNMARKED_ASSERTS
#undef ck_assert_msg
#define ck_assert_msg(expr, ...) \
    ((expr) ? (void)0 : _ck_assert_failed(__FILE__, __LINE__, "Assertion '" #expr "' failed", __VA_ARGS__))
#endif

#ifndef X400T_TSAN
#define X400T_TSAN 0
#endif

/* Directory holding helper programs built from test/helper_*.c. */
static inline const char *x400t_bindir(void)
{
    const char *d = getenv("X400T_BINDIR");
    return d ? d : ".";
}
/* Source tree root (for fixtures under test/). */
static inline const char *x400t_srcdir(void)
{
    const char *d = getenv("X400T_SRCDIR");
    return d ? d : ".";
}

#endif
