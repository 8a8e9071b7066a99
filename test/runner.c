/* One Check runner over every per-module suite (test/check_<module>.c).
 * The Makefile generates suites.inc from the file list.
 * CK_RUN_SUITE / CK_RUN_CASE select a subset, as with any Check program. */
#include <stdio.h>
#include <stdlib.h>

#include "x400t.h"

int main(void)
{
    SRunner *sr = srunner_create(NULL);
    int failed;
#define X400T_SUITE(m) srunner_add_suite(sr, x400t_suite_##m());
#include "suites.inc"
#undef X400T_SUITE
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
