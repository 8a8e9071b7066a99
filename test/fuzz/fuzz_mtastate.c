/* Fuzz target: the state files an MTA reads back at start -- the
 * received-MTSID set (`seen`, x400_p1_idset_load) and the MTSID
 * allocator's state (`mtsid`, x400_mtsid_new).
 *
 * Input: byte 0 selects the file, the rest is its content.
 *   even: the received-MTSID set.  What loads is saved and loaded again:
 *         the same number of identifiers (save . load is stable).
 *   odd:  the allocator state, written to a temporary file and opened; an
 *         allocator that opens hands out an identifier or says why not. */
#define _GNU_SOURCE
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "x400p1/mtsid.h"
#include "x400p1/p1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "tmpdir.h"   /* dir, removed at exit (rm_dir) */

static void idset(const uint8_t *p, size_t n)
{
    x400_p1_idset *a, *b;
    uint8_t *blob = NULL;
    size_t len = 0;
    x400_diag d;
    if (x400_p1_idset_new(&a, 4096, NULL) != X400_OK) abort();
    if (x400_p1_idset_load(a, p, n, &d) == X400_OK) {
        if (x400_p1_idset_new(&b, 4096, NULL) != X400_OK) abort();
        if (x400_p1_idset_save(a, &blob, &len) != X400_OK) abort();
        if (x400_p1_idset_load(b, blob, len, &d) != X400_OK) abort();
        if (x400_p1_idset_count(a) != x400_p1_idset_count(b)) abort();
        free(blob);
        x400_p1_idset_free(b);
    }
    x400_p1_idset_free(a);
}

static void mtsid_state(const uint8_t *p, size_t n)
{
    char path[300], lock[310];
    x400_mtsid_config c;
    x400_mtsid_alloc *al = NULL;
    x400_mtsid_cursor cur;
    x400_mtsid id;
    x400_diag d;
    FILE *f;
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/fuzz_mtastate.XXXXXX", t && t[0] ? t : "/tmp");
        if (!mkdtemp(dir)) abort();
        atexit(rm_dir);
    }
    snprintf(path, sizeof path, "%s/mtsid", dir);
    snprintf(lock, sizeof lock, "%s/mtsid.lock", dir);
    f = fopen(path, "wb");
    if (!f) abort();
    if (n) fwrite(p, 1, n, f);
    fclose(f);
    x400_mtsid_config_init(&c);
    c.state_path = path;
    c.node_id = "fz1";
    memcpy(c.gdi.country, "XX", 3);
    memcpy(c.gdi.admd, "ADMD", 5);
    if (x400_mtsid_new(&al, &c, &d) == X400_OK) {
        if (x400_mtsid_cursor_init(&cur, al) == X400_OK && x400_mtsid_next(&cur, &id) != X400_OK &&
            !x400_mtsid_cursor_diag(&cur)->text[0])
            abort();
        x400_mtsid_free(al);
    }
    unlink(path);
    unlink(lock);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!size) return 0;
    if (data[0] % 2 == 0) idset(data + 1, size - 1);
    else mtsid_state(data + 1, size - 1);
    return 0;
}
