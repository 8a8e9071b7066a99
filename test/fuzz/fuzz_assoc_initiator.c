/* libFuzzer: arbitrary bytes into a initiator association after its CR, in pieces
 * whose sizes come from the input itself, so byte splits are explored. */
#include <stdint.h>
#include <string.h>

#include "x400p1/assoc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    x400_assoc *a;
    x400_assoc_config c;
    size_t off, step;
    const uint8_t *out;
    if (size < 1) return 0;
    x400_assoc_config_init(&c, X400_ROLE_INITIATOR);
    c.max_tsdu = 1u << 20;
    c.max_output = 1u << 20;
    if (x400_assoc_new(&a, &c, NULL, NULL) != X400_OK) return 0;
    x400_assoc_connect(a);
    step = (size_t)data[0] % 64 + 1;
    for (off = 1; off < size; off += step) {
        size_t n = size - off < step ? size - off : step;
        size_t pend = x400_assoc_pending(a, &out);
        x400_assoc_sent(a, pend);   /* the "socket" takes everything */
        if (x400_assoc_recv(a, data + off, n) < 0) break;
    }
    x400_assoc_transport_closed(a);
    x400_assoc_free(a);
    return 0;
}
