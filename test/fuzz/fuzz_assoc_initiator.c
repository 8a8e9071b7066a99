/* libFuzzer: arbitrary bytes into a initiator association (fuzz_assoc.h). */
#include "fuzz/fuzz_assoc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return x400t_fuzz_assoc(data, size, X400_ROLE_INITIATOR);
}
