/* Fuzz target: the ACSE APDU decoder (after the BER normaliser).  Whatever
 * decodes is re-encoded and must decode again as the same APDU with the
 * same user information. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    x400i_acse_apdu a, b;
    x400_diag d;
    if (x400i_acse_decode(data, size, &a, NULL, &d) == 0) {
        x400i_buf buf;
        x400i_buf_init(&buf, NULL, 1u << 20);
        if (a.type == X400I_ACSE_AARE && a.diag_source != 1 && a.diag_source != 2) abort();
        if (x400i_acse_encode(&buf, &a) == 0) {
            if (x400i_acse_decode(buf.p, buf.len, &b, NULL, &d) != 0 || b.type != a.type ||
                b.nui != a.nui)
                abort();
            for (size_t i = 0; i < a.nui; i++)
                if (b.ui[i].len != a.ui[i].len || b.ui[i].indirect != a.ui[i].indirect ||
                    (a.ui[i].len && memcmp(b.ui[i].v, a.ui[i].v, a.ui[i].len)))
                    abort();
            x400i_acse_release(&b);
        }
        x400i_buf_free(&buf);
    }
    x400i_acse_release(&a);
    return 0;
}
