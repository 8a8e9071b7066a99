/* libx400p1.a exports only x400_ symbols: asn1c's runtime and the
 * library's internals must never reach a user's program. */
#include <stdio.h>
#include <string.h>

#include "x400t.h"

START_TEST(only_x400_symbols_are_global)
{
    const char *lib = getenv("X400T_LIBRARY");
    char cmd[4200], line[512];
    FILE *p;
    int total = 0, bad = 0;
    ck_assert_msg(lib != NULL, "X400T_LIBRARY not set (run through make check)");
    snprintf(cmd, sizeof cmd, "nm -g --defined-only '%s' 2>&1", lib);
    p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    while (fgets(line, sizeof line, p)) {
        char addr[64], type[8], name[400];
        if (sscanf(line, "%63s %7s %399s", addr, type, name) != 3) continue;
        total++;
        if (strncmp(name, "x400_", 5) != 0) {
            bad++;
            fprintf(stderr, "leaked global symbol: %s", line);
        }
    }
    ck_assert_int_eq(pclose(p), 0);
    ck_assert_int_gt(total, 5);  /* the public API is there */
    ck_assert_int_eq(bad, 0);
}
END_TEST

START_TEST(internal_symbols_present_but_local)
{
    /* x400i_ helpers exist in the archive, as local symbols only. */
    const char *lib = getenv("X400T_LIBRARY");
    char cmd[4200], line[512];
    FILE *p;
    int local = 0;
    ck_assert_ptr_nonnull(lib);
    snprintf(cmd, sizeof cmd, "nm '%s' 2>&1", lib);
    p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    while (fgets(line, sizeof line, p))
        if (strstr(line, " t x400i_buf_append")) local++;
    pclose(p);
    ck_assert_int_eq(local, 1);
}
END_TEST

Suite *x400t_suite_symbols(void)
{
    Suite *s = suite_create("symbols");
    TCase *tc = tcase_create("nm");
    tcase_add_test(tc, only_x400_symbols_are_global);
    tcase_add_test(tc, internal_symbols_present_but_local);
    suite_add_tcase(s, tc);
    return s;
}
