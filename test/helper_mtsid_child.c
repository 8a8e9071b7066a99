/* Child process for the mtsid suite's crash tests.
 *
 *   helper_mtsid_child run <state> <node> <count> <limit> <block>
 *       open <state> (X400_MTSID_CREATE), issue <count> identifiers with
 *       counter_limit <limit> and block <block>, write each local identifier
 *       as a line to stdout in batches; exit 0.  The parent SIGKILLs it at
 *       random moments.
 *   helper_mtsid_child hold <state> <node>
 *       open <state>, print "ready <run>\n", then wait to be killed.
 *
 * On an allocator error: the formatted diagnostic on stderr, exit 3. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "x400p1/mtsid.h"

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int fail(const char *what, int rv, const x400_diag *d)
{
    char buf[512];
    x400_diag_format(d, buf, sizeof buf);
    fprintf(stderr, "helper_mtsid_child: %s: %d %s\n", what, rv, buf);
    return 3;
}

int main(int argc, char **argv)
{
    x400_mtsid_config cfg;
    x400_mtsid_alloc *a;
    x400_diag d;
    int rv;

    if (argc < 4) {
        fprintf(stderr, "usage: %s run|hold STATE NODE [COUNT LIMIT BLOCK]\n", argv[0]);
        return 2;
    }
    x400_mtsid_config_init(&cfg);
    cfg.state_path = argv[2];
    cfg.node_id = argv[3];
    strcpy(cfg.gdi.country, "GB");
    strcpy(cfg.gdi.admd, " ");
    strcpy(cfg.gdi.prmd, "SMHS");
    cfg.flags = X400_MTSID_CREATE;

    if (strcmp(argv[1], "hold") == 0) {
        char line[64];
        if ((rv = x400_mtsid_new(&a, &cfg, &d)) < 0) return fail("open", rv, &d);
        snprintf(line, sizeof line, "ready %llu\n",
                 (unsigned long long)x400_mtsid_current_run(a));
        if (write_all(1, line, strlen(line)) != 0) return 4;
        for (;;) pause();
    }
    if (strcmp(argv[1], "run") == 0 && argc == 7) {
        x400_mtsid_cursor c;
        x400_mtsid id;
        char buf[64 * (X400_MTSID_LOCAL_MAX + 1)];
        size_t used = 0;
        long count = strtol(argv[4], NULL, 10);
        cfg.counter_limit = strtoull(argv[5], NULL, 10);
        cfg.block = (uint32_t)strtoul(argv[6], NULL, 10);
        if ((rv = x400_mtsid_new(&a, &cfg, &d)) < 0) return fail("open", rv, &d);
        x400_mtsid_cursor_init(&c, a);
        for (long i = 0; i < count; i++) {
            size_t n;
            if ((rv = x400_mtsid_next(&c, &id)) < 0)
                return fail("next", rv, x400_mtsid_cursor_diag(&c));
            n = strlen(id.local);
            memcpy(buf + used, id.local, n);
            buf[used + n] = '\n';
            used += n + 1;
            if (used + X400_MTSID_LOCAL_MAX + 1 > sizeof buf) {
                if (write_all(1, buf, used) != 0) return 4;
                used = 0;
            }
        }
        if (used && write_all(1, buf, used) != 0) return 4;
        x400_mtsid_free(a);
        return 0;
    }
    fprintf(stderr, "helper_mtsid_child: bad arguments\n");
    return 2;
}
