/* The body shared by the two association fuzz targets: arbitrary bytes into
 * an association of the given role, in pieces whose sizes come from the
 * input itself, so byte splits are explored too. */
#ifndef X400T_FUZZ_ASSOC_H
#define X400T_FUZZ_ASSOC_H

#include <stdint.h>
#include <string.h>

#include "x400p1/assoc.h"

static inline int x400t_fuzz_assoc(const uint8_t *data, size_t size, x400_role role)
{
    x400_assoc *a;
    x400_assoc_config c;
    size_t off, step;
    const uint8_t *out;
    if (size < 1) return 0;
    x400_assoc_config_init(&c, role);
    c.max_tsdu = 1u << 20;
    c.max_output = 1u << 20;
    if (x400_assoc_new(&a, &c, NULL, NULL) != X400_OK) return 0;
    if (role == X400_ROLE_INITIATOR) x400_assoc_connect(a);   /* CR sent */
    step = (size_t)data[0] % 64 + 1;
    for (off = 1; off < size; off += step) {
        size_t n = size - off < step ? size - off : step;
        x400_assoc_sent(a, x400_assoc_pending(a, &out));   /* the "socket" takes all */
        if (x400_assoc_recv(a, data + off, n) < 0) break;
    }
    x400_assoc_transport_closed(a);
    x400_assoc_free(a);
    return 0;
}

#endif
