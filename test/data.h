/* Test data shared by the suites. */
#ifndef X400T_DATA_H
#define X400T_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "x400p1/orname.h"

/* n pseudo-random octets (xorshift from `seed`), malloc'd; the caller frees. */
uint8_t *x400t_pattern(size_t n, uint32_t seed);
/* An O/R name from its text form; the test fails if it does not parse. */
x400_orname x400t_orname(const char *text);

#endif
