/* Fuzz target: the example MTA's spool (examples/x400mta/spool.c) as it
 * reads back what a crash, a full disk or a hand-edited file left behind.
 *
 * Input: byte 0 selects what the rest is.
 *   even: a spool file (text header, empty line, body) in queue/.  What
 *         mta_spool_read accepts is staged and committed again under
 *         another name and must read back with the same header and body.
 *   odd:  the write-ahead journal.  Opening the spool replays it (files
 *         rebuilt, unlinks redone, a checkpoint empties it); a second open
 *         must succeed on what the first left (replay is idempotent).
 * The spool lives in a temporary directory, emptied after every input. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "tmpdir.h"   /* dir, removed at exit (rm_dir) */

static void put(const char *rel, const uint8_t *p, size_t n)
{
    char path[400];
    int fd;
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) abort();
    if (n && write(fd, p, n) != (ssize_t)n) abort();
    close(fd);
}

/* Every file of the three directories, the journal and the seen set go. */
static void empty(void)
{
    mta_spool *s;
    char err[256], path[400];
    if (mta_spool_open(&s, dir, 0, NULL, err, sizeof err) == 0) {
        for (int d = 0; d < 3; d++) {
            char **names = NULL;
            long n = mta_spool_list(s, (mta_spool_dir)d, &names, err, sizeof err);
            for (long i = 0; i < n; i++) mta_spool_remove(s, (mta_spool_dir)d, names[i]);
            mta_spool_names_free(names, n);
        }
        mta_spool_close(s);
    }
    snprintf(path, sizeof path, "%s/journal", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/seen", dir);
    unlink(path);
}

static void spool_file(const uint8_t *p, size_t n)
{
    mta_spool *s;
    mta_spool_hdr h, h2;
    uint8_t *body = NULL, *body2 = NULL;
    size_t len = 0, len2 = 0;
    char err[512];
    if (mta_spool_open(&s, dir, 1, NULL, err, sizeof err) < 0) abort();
    put("queue/fuzzed", p, n);
    if (mta_spool_read(s, MTA_SPOOL_QUEUE, "fuzzed", &h, &body, &len, err, sizeof err) == 0) {
        if (mta_spool_stage_file(s, MTA_SPOOL_QUEUE, "again", &h, body, len) == 0) {
            if (mta_spool_commit(s, err, sizeof err) < 0) abort();
            if (mta_spool_read(s, MTA_SPOOL_QUEUE, "again", &h2, &body2, &len2, err, sizeof err) < 0) abort();
            if (len2 != len || (len && memcmp(body, body2, len)) || strcmp(h.kind, h2.kind) ||
                strcmp(h.mtsid, h2.mtsid) || h.nrecipient != h2.nrecipient || strcmp(h.outcome, h2.outcome))
                abort();
            for (size_t i = 0; i < h.nrecipient; i++)
                if (strcmp(h.recipient[i], h2.recipient[i])) abort();
            free(body2);
        }
        free(body);
    } else if (!err[0]) {
        abort(); /* a refusal says why */
    }
    mta_spool_close(s);
}

static void journal(const uint8_t *p, size_t n)
{
    mta_spool *s;
    x400_p1_idset *seen;
    char err[512];
    if (x400_p1_idset_new(&seen, 4096, NULL) != X400_OK) abort();
    put("journal", p, n);
    if (mta_spool_open(&s, dir, 1, seen, err, sizeof err) == 0) {
        mta_spool_close(s);
        if (mta_spool_open(&s, dir, 1, NULL, err, sizeof err) < 0) abort();
        mta_spool_close(s);
    } else if (!err[0]) {
        abort();
    }
    x400_p1_idset_free(seen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!size) return 0;
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        mta_spool *s;
        char err[256];
        snprintf(dir, sizeof dir, "%s/fuzz_mtaspool.XXXXXX", t && t[0] ? t : "/tmp");
        if (!mkdtemp(dir)) abort();
        atexit(rm_dir);
        if (mta_spool_open(&s, dir, 1, NULL, err, sizeof err) < 0) abort(); /* creates the layout */
        mta_spool_close(s);
    }
    if (data[0] % 2 == 0) spool_file(data + 1, size - 1);
    else journal(data + 1, size - 1);
    empty();
    return 0;
}
