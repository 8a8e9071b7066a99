/* Built by .ci/run against an INSTALLED copy of the library with
 * `pkg-config --cflags --libs x400p1`: proves the headers, the archive and
 * the .pc file work together from outside the source tree.
 * Usage: install_consumer <writable-dir> */
#include <stdio.h>
#include <string.h>

#include <x400p1/lpi.h>

static int fail(const char *what, int rv)
{
    fprintf(stderr, "install_consumer: %s: %s\n", what, x400_strerror(rv));
    return 1;
}

int main(int argc, char **argv)
{
    x400_lpi *t;
    x400_lpi_handle h;
    x400_diag d;
    void *obj;
    char text[X400_LPI_TEXT_MAX];
    int rv, payload = 42;
    (void)argc; (void)argv;

    if ((rv = x400_lpi_new(&t, 1, 4, NULL)) < 0) return fail("lpi create", rv);
    if ((rv = x400_lpi_open(t, &payload, &h, NULL)) < 0) return fail("lpi open", rv);
    if ((rv = x400_lpi_get(t, h, &obj, NULL)) < 0 || obj != &payload) return fail("lpi get", rv);
    x400_lpi_format(h, text, sizeof text);
    x400_lpi_close(t, h, NULL, NULL);
    if (x400_lpi_get(t, h, &obj, &d) != X400_ERR_STALE_HANDLE) return fail("stale get", X400_ERR_INTERNAL);
    printf("install_consumer: LPI %s refused after close: %s\n", text, d.text);
    x400_lpi_free(t);
    if (strcmp(x400_version(), X400P1_VERSION) != 0) {
        fprintf(stderr, "install_consumer: library %s, headers %s\n", x400_version(), X400P1_VERSION);
        return 1;
    }
    printf("install_consumer: x400p1 %s OK\n", x400_version());
    return 0;
}
