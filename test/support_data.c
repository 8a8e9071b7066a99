/* Test data shared by the suites (data.h). */
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "x400t.h"

uint8_t *x400t_pattern(size_t n, uint32_t seed)
{
    uint8_t *m = malloc(n ? n : 1);
    uint32_t x = seed * 2654435761u + 1;
    ck_assert_ptr_nonnull(m);
    for (size_t k = 0; k < n; k++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        m[k] = (uint8_t)x;
    }
    return m;
}

x400_orname x400t_orname(const char *text)
{
    x400_orname n;
    x400_diag d;
    int rc = x400_orname_parse(text, strlen(text), &n, &d);
    ck_assert_msg(rc == X400_OK, "parse %s: %s", text, d.text);
    return n;
}
