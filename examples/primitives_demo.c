/*
 * primitives_demo: the two primitives x400p1 users asked for by name, at
 * work.  Uses only the installed public API.
 *
 *   primitives_demo STATE-DIR
 *
 * 1. MTSIDs from two threads, each with its own cursor: all distinct.
 * 2. A restart: the allocator is closed and reopened from its durable
 *    state file; the new run can never repeat the old run's identifiers.
 * 3. A connection handle (LPI) closed and its slot reused: the old handle
 *    is refused with a diagnostic instead of reaching the new connection
 *    (the Exchange MTA's "Unable to recognize ... LPI 1-3-14", KB Q152897).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <x400p1/lpi.h>
#include <x400p1/mtsid.h>

#define PER_THREAD 100000

struct worker {
    x400_mtsid_alloc *alloc;
    x400_mtsid first, last;
    int rv;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    x400_mtsid_cursor cur;
    x400_mtsid id;
    w->rv = x400_mtsid_cursor_init(&cur, w->alloc);
    for (int i = 0; i < PER_THREAD && w->rv >= 0; i++) {
        w->rv = x400_mtsid_next(&cur, &id);
        if (i == 0) w->first = id;
    }
    w->last = id;
    return NULL;
}

static x400_mtsid_alloc *open_alloc(const char *path, x400_diag *d)
{
    x400_mtsid_config cfg;
    x400_mtsid_alloc *a = NULL;
    x400_mtsid_config_init(&cfg);
    cfg.state_path = path;
    cfg.node_id = "DEMO1";
    strcpy(cfg.gdi.country, "GB");
    strcpy(cfg.gdi.admd, " ");
    strcpy(cfg.gdi.prmd, "SMHS");
    cfg.flags = X400_MTSID_CREATE;
    if (x400_mtsid_new(&a, &cfg, d) < 0) return NULL;
    return a;
}

static void show(const char *label, const x400_mtsid *id)
{
    char text[X400_MTSID_TEXT_MAX];
    x400_mtsid_format(id, text, sizeof text);
    printf("    %-22s %s\n", label, text);
}

int main(int argc, char **argv)
{
    char path[4096];
    x400_diag d;
    x400_mtsid_alloc *a;
    struct worker w[2];
    pthread_t th[2];
    x400_mtsid_cursor cur;
    x400_mtsid after;
    uint64_t run1, run2;

    if (argc != 2) {
        fprintf(stderr, "usage: %s STATE-DIR\n", argv[0]);
        return 2;
    }
    snprintf(path, sizeof path, "%s/mtsid.state", argv[1]);

    printf("1. MTSIDs from two threads (lock-free, no system call per id)\n");
    if (!(a = open_alloc(path, &d))) { fprintf(stderr, "open: %s\n", d.text); return 1; }
    run1 = x400_mtsid_current_run(a);
    for (int i = 0; i < 2; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].alloc = a;
        pthread_create(&th[i], NULL, work, &w[i]);
    }
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) {
        if (w[i].rv < 0) { fprintf(stderr, "allocation failed: %s\n", x400_strerror(w[i].rv)); return 1; }
        printf("  thread %d: %d identifiers\n", i + 1, PER_THREAD);
        show("first:", &w[i].first);
        show("last:", &w[i].last);
    }
    x400_mtsid_free(a);

    printf("\n2. Restart: the run number was made durable before the first id\n");
    if (!(a = open_alloc(path, &d))) { fprintf(stderr, "reopen: %s\n", d.text); return 1; }
    run2 = x400_mtsid_current_run(a);
    x400_mtsid_cursor_init(&cur, a);
    x400_mtsid_next(&cur, &after);
    printf("  run before restart %llu, after restart %llu\n",
           (unsigned long long)run1, (unsigned long long)run2);
    show("first after restart:", &after);
    x400_mtsid_free(a);
    if (run2 <= run1) { fprintf(stderr, "run did not advance\n"); return 1; }

    printf("\n3. Connection handles (LPI): a stale handle never reaches another connection\n");
    {
        x400_lpi *t;
        x400_lpi_handle old, fresh;
        char ot[X400_LPI_TEXT_MAX], ft[X400_LPI_TEXT_MAX];
        int conn_a = 1, conn_b = 2;
        void *obj;
        x400_lpi_new(&t, 1, 4, NULL);
        x400_lpi_open(t, &conn_a, &old, NULL);
        x400_lpi_close(t, old, NULL, NULL);          /* connection lost */
        x400_lpi_open(t, &conn_b, &fresh, NULL);     /* slot reused */
        x400_lpi_format(old, ot, sizeof ot);
        x400_lpi_format(fresh, ft, sizeof ft);
        printf("  old connection was LPI %s; its slot now holds LPI %s\n", ot, ft);
        if (x400_lpi_get(t, old, &obj, &d) != X400_ERR_STALE_HANDLE) {
            fprintf(stderr, "stale handle was accepted\n");
            return 1;
        }
        printf("  get(%s) refused: %s\n", ot, d.text);
        x400_lpi_get(t, fresh, &obj, NULL);
        printf("  get(%s) -> connection %d\n", ft, *(int *)obj);
        x400_lpi_free(t);
    }
    printf("\nprimitives demo: OK\n");
    return 0;
}
