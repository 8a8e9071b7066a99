/* The example MTA's durable spool (examples/x400mta/spool.c): submission
 * round trip, header fields, every truncation of a spool file, group commit
 * and its journal, replay after simulated and real crashes (files deleted
 * or damaged, torn journal tails at every offset, a SIGKILLed child),
 * checkpoints, the lock, snapshots and bounds. */
#define _GNU_SOURCE /* memmem */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <sys/resource.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mta.h"
#include "pair.h"
#include "x400t.h"

/* ---- plumbing ---- */

static void rm_tree(const char *path) { (void)x400t_rm_tree(path); }

/* A fresh spool directory under $TMPDIR or the build directory. */
static void tdir(char out[512])
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = x400t_bindir();
    snprintf(out, 512, "%s/x400t-spool-XXXXXX", base);
    ck_assert_msg(mkdtemp(out) != NULL, "mkdtemp %s: %s", out, strerror(errno));
}

static void pathf(char *buf, size_t cap, const char *dir, const char *sub, const char *name)
{
    if (sub) snprintf(buf, cap, "%s/%s/%s", dir, sub, name);
    else snprintf(buf, cap, "%s/%s", dir, name);
}

static uint8_t *read_raw(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    uint8_t *p = malloc((size_t)st.st_size + 1);
    ck_assert_ptr_nonnull(p);
    size_t n = 0;
    ssize_t r;
    while (n < (size_t)st.st_size && (r = read(fd, p + n, (size_t)st.st_size - n)) > 0) n += (size_t)r;
    close(fd);
    ck_assert_uint_eq(n, (size_t)st.st_size);
    *len = n;
    return p;
}

static void write_raw(const char *path, const uint8_t *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
    ck_assert_int_eq(write(fd, p, n), (ssize_t)n);
    close(fd);
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static off_t fsize(const char *path)
{
    struct stat st;
    ck_assert_msg(stat(path, &st) == 0, "stat %s: %s", path, strerror(errno));
    return st.st_size;
}

static void body_fill(uint8_t *b, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)(seed * 131u + i * 7u + (i >> 8));
}

static void hdr_min(mta_spool_hdr *h, const char *kind)
{
    memset(h, 0, sizeof *h);
    snprintf(h->kind, sizeof h->kind, "%s", kind);
}

/* Every field set, 32 distinct recipients. */
static void hdr_full(mta_spool_hdr *h, unsigned seed)
{
    memset(h, 0, sizeof *h);
    snprintf(h->kind, sizeof h->kind, "report");
    snprintf(h->mtsid, sizeof h->mtsid, "[C=XX;A= ;P=ALPHA;L=n1.%u]", seed);
    snprintf(h->content_id, sizeof h->content_id, "demo-%u", seed);
    snprintf(h->originator, sizeof h->originator, "C=XX;A=ADMD;P=ALPHA;S=Smith;G=Orig%u", seed);
    for (size_t i = 0; i < MTA_SPOOL_RECIP_MAX; i++)
        snprintf(h->recipient[i], sizeof h->recipient[i], "C=XX;A=ADMD;P=BRAVO;S=Jones%zu;OU1=U%u", i, seed);
    h->nrecipient = MTA_SPOOL_RECIP_MAX;
    snprintf(h->priority, sizeof h->priority, "non-urgent");
    h->report_request = 1;
    snprintf(h->peer, sizeof h->peer, "MTA-B");
    snprintf(h->subject, sizeof h->subject, "[C=XX;A=ADMD;L=subj;%u]", seed);
    snprintf(h->subject_content_id, sizeof h->subject_content_id, "subj-%u", seed);
    snprintf(h->outcome, sizeof h->outcome, "non-delivered 1/5");
    h->time_ms = 1795250000123ull + seed;
}

static void hdr_eq(const mta_spool_hdr *a, const mta_spool_hdr *b, uint64_t size)
{
    ck_assert_str_eq(a->kind, b->kind);
    ck_assert_str_eq(a->mtsid, b->mtsid);
    ck_assert_str_eq(a->content_id, b->content_id);
    ck_assert_str_eq(a->originator, b->originator);
    ck_assert_uint_eq(a->nrecipient, b->nrecipient);
    for (size_t i = 0; i < a->nrecipient; i++) ck_assert_str_eq(a->recipient[i], b->recipient[i]);
    ck_assert_str_eq(a->priority, b->priority);
    ck_assert_int_eq(!!a->report_request, !!b->report_request);
    ck_assert_str_eq(a->peer, b->peer);
    ck_assert_str_eq(a->subject, b->subject);
    ck_assert_str_eq(a->subject_content_id, b->subject_content_id);
    ck_assert_str_eq(a->outcome, b->outcome);
    ck_assert_uint_eq(a->time_ms, b->time_ms);
    ck_assert_uint_eq(b->size, size);
}

static mta_spool *sopen(const char *dir, int lock, x400_p1_idset *seen)
{
    mta_spool *s = NULL;
    char err[512] = "";
    ck_assert_msg(mta_spool_open(&s, dir, lock, seen, err, sizeof err) == 0, "open: %s", err);
    ck_assert_ptr_nonnull(s);
    return s;
}

static x400_p1_idset *idset_new(void)
{
    x400_p1_idset *set = NULL;
    ck_assert_int_eq(x400_p1_idset_new(&set, 4096, NULL), X400_OK);
    return set;
}

static void mtsid_text(char *buf, size_t cap, unsigned i)
{
    snprintf(buf, cap, "[C=XX;A=ADMD;P=ALPHA;L=n1.run.%u]", i);
}

static int idset_has(const x400_p1_idset *set, unsigned i)
{
    char t[X400_MTSID_TEXT_MAX];
    x400_mtsid id;
    mtsid_text(t, sizeof t, i);
    ck_assert_int_eq(x400_mtsid_parse(t, strlen(t), &id, NULL), X400_OK);
    return x400_p1_idset_contains(set, &id);
}

static void idset_add(x400_p1_idset *set, unsigned i)
{
    char t[X400_MTSID_TEXT_MAX];
    x400_mtsid id;
    mtsid_text(t, sizeof t, i);
    ck_assert_int_eq(x400_mtsid_parse(t, strlen(t), &id, NULL), X400_OK);
    ck_assert_int_eq(x400_p1_idset_insert(set, &id), X400_OK);
}

static void stage_seen_n(mta_spool *s, unsigned i)
{
    char t[X400_MTSID_TEXT_MAX];
    mtsid_text(t, sizeof t, i);
    ck_assert_int_eq(mta_spool_stage_seen(s, t), 0);
}

static void stage_body(mta_spool *s, mta_spool_dir dir, const char *name, unsigned seed, size_t len)
{
    mta_spool_hdr h;
    uint8_t *b = malloc(len + 1);
    ck_assert_ptr_nonnull(b);
    hdr_min(&h, "message");
    snprintf(h.peer, sizeof h.peer, "MTA-B");
    h.time_ms = seed;
    body_fill(b, len, seed);
    ck_assert_int_eq(mta_spool_stage_file(s, dir, name, &h, b, len), 0);
    free(b);
}

static void check_body(mta_spool *s, mta_spool_dir dir, const char *name, unsigned seed, size_t len)
{
    mta_spool_hdr h;
    uint8_t *b = NULL, *want = malloc(len + 1);
    size_t n = 0;
    char err[512] = "";
    ck_assert_msg(mta_spool_read(s, dir, name, &h, &b, &n, err, sizeof err) == 0, "read %s: %s", name, err);
    ck_assert_uint_eq(n, len);
    ck_assert_uint_eq(h.size, len);
    ck_assert_uint_eq(h.time_ms, seed);
    body_fill(want, len, seed);
    ck_assert(memcmp(b, want, len) == 0);
    free(b);
    free(want);
}

static long list_count(mta_spool *s, mta_spool_dir dir)
{
    char **names = NULL;
    char err[512] = "";
    long n = mta_spool_list(s, dir, &names, err, sizeof err);
    ck_assert_msg(n >= 0, "list: %s", err);
    mta_spool_names_free(names, n);
    return n;
}

/* Names in a directory that end in ".tmp". */
static int count_tmp(const char *dir, const char *sub)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, sub);
    DIR *dp = opendir(p);
    ck_assert_ptr_nonnull(dp);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dp)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l > 4 && !strcmp(e->d_name + l - 4, ".tmp")) n++;
    }
    closedir(dp);
    return n;
}

/* ---- submission ---- */

START_TEST(submit_roundtrip)
{
    char dir[512], err[512], names[5][64], p[700];
    tdir(dir);
    mta_spool *s = sopen(dir, 0, NULL);
    static const size_t lens[5] = { 0, 1, 100, 4096, 70000 };
    for (unsigned i = 0; i < 5; i++) {
        mta_spool_hdr h;
        hdr_min(&h, i == 4 ? "probe" : "message");
        snprintf(h.originator, sizeof h.originator, "C=XX;A=ADMD;P=ALPHA;S=Smith");
        snprintf(h.recipient[0], sizeof h.recipient[0], "C=XX;A=ADMD;P=BRAVO;S=Jones");
        h.nrecipient = 1;
        h.time_ms = i;
        uint8_t *b = malloc(lens[i] + 1);
        body_fill(b, lens[i], i);
        ck_assert_msg(mta_spool_submit(s, &h, b, lens[i], names[i], err, sizeof err) == 0, "submit: %s", err);
        free(b);
        ck_assert_uint_gt(strlen(names[i]), 20);
        if (i) ck_assert_msg(strcmp(names[i - 1], names[i]) < 0, "%s !< %s", names[i - 1], names[i]);
    }
    /* strays a listing must not show */
    pathf(p, sizeof p, dir, "submit", "half.tmp");
    write_raw(p, (const uint8_t *)"x", 1);
    pathf(p, sizeof p, dir, "submit", ".hidden");
    write_raw(p, (const uint8_t *)"x", 1);
    pathf(p, sizeof p, dir, "submit", "tmp");
    ck_assert_int_eq(mkdir(p, 0700), 0);

    char **list = NULL;
    long n = mta_spool_list(s, MTA_SPOOL_SUBMIT, &list, err, sizeof err);
    ck_assert_int_eq(n, 5);
    for (long i = 0; i < 5; i++) ck_assert_str_eq(list[i], names[i]);
    mta_spool_names_free(list, n);
    ck_assert_int_eq(list_count(s, MTA_SPOOL_QUEUE), 0);
    for (unsigned i = 0; i < 5; i++) {
        mta_spool_hdr h;
        uint8_t *b = NULL;
        size_t len = 99;
        ck_assert_msg(mta_spool_read(s, MTA_SPOOL_SUBMIT, names[i], &h, &b, &len, err, sizeof err) == 0, "%s", err);
        ck_assert_str_eq(h.kind, i == 4 ? "probe" : "message");
        ck_assert_str_eq(h.originator, "C=XX;A=ADMD;P=ALPHA;S=Smith");
        ck_assert_uint_eq(h.nrecipient, 1);
        ck_assert_str_eq(h.recipient[0], "C=XX;A=ADMD;P=BRAVO;S=Jones");
        ck_assert_str_eq(h.mtsid, "");
        ck_assert_uint_eq(h.time_ms, i);
        ck_assert_uint_eq(len, lens[i]);
        uint8_t *want = malloc(lens[i] + 1);
        body_fill(want, lens[i], i);
        ck_assert(memcmp(b, want, lens[i]) == 0);
        free(want);
        free(b);
        /* header only */
        ck_assert_int_eq(mta_spool_read(s, MTA_SPOOL_SUBMIT, names[i], &h, NULL, NULL, err, sizeof err), 0);
        ck_assert_uint_eq(h.size, lens[i]);
    }
    ck_assert_int_eq(count_tmp(dir, "submit"), 1); /* only the stray */
    /* a tool never creates (or writes) the journal */
    pathf(p, sizeof p, dir, NULL, "journal");
    ck_assert(!exists(p));
    pathf(p, sizeof p, dir, NULL, "lock");
    ck_assert(!exists(p));
    mta_spool_close(s);
    rm_tree(dir);
}
END_TEST

START_TEST(header_fields)
{
    char dir[512], err[512], name[64];
    tdir(dir);
    mta_spool *s = sopen(dir, 1, NULL);
    mta_spool_hdr h, r;
    uint8_t body[300];
    body_fill(body, sizeof body, 9);
    hdr_full(&h, 7);
    h.size = 12345; /* ignored: the size written is the body's */
    ck_assert_int_eq(mta_spool_submit(s, &h, body, sizeof body, name, err, sizeof err), 0);
    ck_assert_int_eq(mta_spool_read(s, MTA_SPOOL_SUBMIT, name, &r, NULL, NULL, err, sizeof err), 0);
    hdr_eq(&h, &r, sizeof body);
    ck_assert_uint_eq(r.nrecipient, 32);

    hdr_full(&h, 8);
    snprintf(h.kind, sizeof h.kind, "message");
    h.report_request = 0;
    h.priority[0] = 0; /* absent */
    ck_assert_int_eq(mta_spool_stage_file(s, MTA_SPOOL_INBOX, "m8.apdu", &h, body, 10), 0);
    ck_assert_int_eq(mta_spool_commit(s, err, sizeof err), 1);
    uint8_t *b = NULL;
    size_t len = 0;
    ck_assert_int_eq(mta_spool_read(s, MTA_SPOOL_INBOX, "m8.apdu", &r, &b, &len, err, sizeof err), 0);
    hdr_eq(&h, &r, 10);
    ck_assert_int_eq(r.report_request, 0);
    ck_assert_uint_eq(len, 10);
    ck_assert(memcmp(b, body, 10) == 0);
    free(b);

    /* invalid headers are refused, by submit and by stage */
    for (int k = 0; k < 6; k++) {
        hdr_full(&h, 1);
        switch (k) {
        case 0: h.nrecipient = MTA_SPOOL_RECIP_MAX + 1; break;
        case 1: snprintf(h.originator, sizeof h.originator, "C=XX\nsize: 1"); break;
        case 2: snprintf(h.kind, sizeof h.kind, "letter"); break;
        case 3: snprintf(h.priority, sizeof h.priority, "high"); break;
        case 4: memset(h.peer, 'A', sizeof h.peer); break; /* unterminated */
        default: h.recipient[3][0] = 0; break;             /* empty recipient */
        }
        err[0] = 0;
        ck_assert_int_eq(mta_spool_submit(s, &h, body, 5, name, err, sizeof err), -1);
        ck_assert_msg(strstr(err, "invalid header") != NULL, "case %d: %s", k, err);
        errno = 0;
        ck_assert_int_eq(mta_spool_stage_file(s, MTA_SPOOL_QUEUE, "x.apdu", &h, body, 5), -1);
        ck_assert_int_eq(errno, EINVAL);
    }
    /* bad names */
    static const char *const names[] = { "", ".x", "../x", "a/b", "x.tmp", "tmp", "sp ace", NULL };
    hdr_min(&h, "message");
    for (int i = 0; names[i]; i++) {
        errno = 0;
        ck_assert_int_eq(mta_spool_stage_file(s, MTA_SPOOL_QUEUE, names[i], &h, body, 1), -1);
        ck_assert_int_eq(errno, EINVAL);
        ck_assert_int_eq(mta_spool_stage_unlink(s, MTA_SPOOL_QUEUE, names[i]), -1);
        ck_assert_int_eq(mta_spool_read(s, MTA_SPOOL_QUEUE, names[i], &r, NULL, NULL, err, sizeof err), -1);
    }
    char longname[MTA_SPOOL_NAME_MAX + 2];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    ck_assert_int_eq(mta_spool_stage_file(s, MTA_SPOOL_QUEUE, longname, &h, body, 1), -1);
    longname[MTA_SPOOL_NAME_MAX] = 0;
    ck_assert_int_eq(mta_spool_stage_file(s, MTA_SPOOL_QUEUE, longname, &h, body, 1), 0);
    ck_assert_int_eq(mta_spool_stage_file(s, MTA_SPOOL_NDIR, "ok", &h, body, 1), -1);
    ck_assert_int_eq(mta_spool_stage_seen(s, "[C=XX;A=ADMD;P=ALPHA]"), -1);
    ck_assert_int_eq(mta_spool_stage_seen(s, "C=XX"), -1);
    ck_assert_uint_eq(mta_spool_staged(s), 1);
    ck_assert_int_eq(mta_spool_commit(s, err, sizeof err), 1);
    ck_assert_int_eq(mta_spool_read(s, MTA_SPOOL_QUEUE, longname, &r, NULL, NULL, err, sizeof err), 0);
    mta_spool_close(s);
    rm_tree(dir);
}
END_TEST

/* ---- strict parsing ---- */

static void expect_corrupt(mta_spool *s, const char *dir, const uint8_t *p, size_t n, const char *ctx)
{
    char path[700], err[512] = "";
    mta_spool_hdr h;
    uint8_t *b = (uint8_t *)&h;
    size_t len = 7;
    pathf(path, sizeof path, dir, "queue", "t.apdu");
    write_raw(path, p, n);
    ck_assert_int_eq(mta_spool_read(s, MTA_SPOOL_QUEUE, "t.apdu", &h, &b, &len, err, sizeof err), -1);
    ck_assert_msg(!strncmp(err, "corrupt: ", 9) && strstr(err, "/queue/t.apdu"), "%s: %s", ctx, err);
    ck_assert_ptr_null(b);
    ck_assert_uint_eq(len, 0);
}

static void expect_ok(mta_spool *s, const char *dir, const char *text, const mta_spool_hdr *want, size_t bodylen)
{
    char path[700], err[512] = "";
    mta_spool_hdr h;
    pathf(path, sizeof path, dir, "queue", "t.apdu");
    write_raw(path, (const uint8_t *)text, strlen(text));
    ck_assert_msg(mta_spool_read(s, MTA_SPOOL_QUEUE, "t.apdu", &h, NULL, NULL, err, sizeof err) == 0, "%s: %s", text, err);
    if (want) hdr_eq(want, &h, bodylen);
}

START_TEST(corrupt_files)
{
    char dir[512], err[512], name[64], path[700];
    tdir(dir);
    mta_spool *s = sopen(dir, 0, NULL);
    mta_spool_hdr h;
    hdr_min(&h, "message");
    snprintf(h.originator, sizeof h.originator, "C=XX;A=ADMD;S=S");
    snprintf(h.recipient[0], sizeof h.recipient[0], "C=XX;A=ADMD;S=R");
    h.nrecipient = 1;
    h.time_ms = 5;
    const uint8_t body[] = "BODY\n\nbody";
    ck_assert_int_eq(mta_spool_submit(s, &h, body, sizeof body - 1, name, err, sizeof err), 0);
    pathf(path, sizeof path, dir, "submit", name);
    size_t n;
    uint8_t *img = read_raw(path, &n);
    /* the whole file reads back; every proper prefix is an error */
    {
        char qp[700];
        pathf(qp, sizeof qp, dir, "queue", "t.apdu");
        write_raw(qp, img, n);
        ck_assert_int_eq(mta_spool_read(s, MTA_SPOOL_QUEUE, "t.apdu", &h, NULL, NULL, err, sizeof err), 0);
    }
    for (size_t k = 0; k < n; k++) {
        char ctx[64];
        snprintf(ctx, sizeof ctx, "prefix %zu/%zu", k, n);
        expect_corrupt(s, dir, img, k, ctx);
    }
    /* one octet too many */
    uint8_t *longer = malloc(n + 1);
    memcpy(longer, img, n);
    longer[n] = 'x';
    expect_corrupt(s, dir, longer, n + 1, "trailing");
    free(longer);
    free(img);

    static const char *const bad[] = {
        "X400MTA-SPOOL 2\nkind: message\nsize: 0\n\n",
        "x400mta-spool 1\nkind: message\nsize: 0\n\n",
        "X400MTA-SPOOL 1\r\nkind: message\nsize: 0\n\n",
        "X400MTA-SPOOL 1\nkind: message\n\n",                       /* no size */
        "X400MTA-SPOOL 1\nsize: 0\n\n",                             /* no kind */
        "X400MTA-SPOOL 1\nkind: message\nsize: 1\n\n",              /* size > body */
        "X400MTA-SPOOL 1\nkind: message\nsize: 0\n\nx",             /* size < body */
        "X400MTA-SPOOL 1\nkind: message\nsize: -1\n\n",
        "X400MTA-SPOOL 1\nkind: message\nsize: 01\n\nx",
        "X400MTA-SPOOL 1\nkind: message\nsize: 1x\n\nx",
        "X400MTA-SPOOL 1\nkind: message\nsize: 99999999999999999999999\n\n",
        "X400MTA-SPOOL 1\nkind: message\nsize: 999999999999\n\n",   /* > MTA_SPOOL_FILE_MAX */
        "X400MTA-SPOOL 1\nkind: message\nsize:0\n\n",
        "X400MTA-SPOOL 1\nkind: message\nsize 0\n\n",
        "X400MTA-SPOOL 1\nkind: message\nkind: report\nsize: 0\n\n",
        "X400MTA-SPOOL 1\nkind: letter\nsize: 0\n\n",
        "X400MTA-SPOOL 1\nkind: message\npriority: high\nsize: 0\n\n",
        "X400MTA-SPOOL 1\nkind: message\nreport-request: maybe\nsize: 0\n\n",
        "X400MTA-SPOOL 1\nkind: message\ntime: soon\nsize: 0\n\n",
        "X400MTA-SPOOL 1\nkind: message\ncontent-id: 12345678901234567\nsize: 0\n\n",
        "X400MTA-SPOOL 1\nkind: message\nrecipient: \nsize: 0\n\n",
        "X400MTA-SPOOL 1\nkind: message\nsize: 0\r\n\n",
        "X400MTA-SPOOL 1\nkind: message\nsize: 0\n",
        NULL
    };
    for (int i = 0; bad[i]; i++) expect_corrupt(s, dir, (const uint8_t *)bad[i], strlen(bad[i]), bad[i]);
    /* a NUL inside the header */
    static const uint8_t nul[] = "X400MTA-SPOOL 1\nkind: mess\0age\nsize: 0\n\n";
    expect_corrupt(s, dir, nul, sizeof nul - 1, "NUL");
    /* 33 recipients */
    {
        char *t = malloc(8192);
        size_t o = (size_t)sprintf(t, "X400MTA-SPOOL 1\nkind: message\n");
        for (int i = 0; i < 33; i++) o += (size_t)sprintf(t + o, "recipient: C=XX;S=R%d\n", i);
        sprintf(t + o, "size: 0\n\n");
        expect_corrupt(s, dir, (const uint8_t *)t, strlen(t), "33 recipients");
        /* a line too long for an address */
        o = (size_t)sprintf(t, "X400MTA-SPOOL 1\nkind: message\noriginator: ");
        memset(t + o, 'a', MTA_ADDR_MAX);
        sprintf(t + o + MTA_ADDR_MAX, "\nsize: 0\n\n");
        expect_corrupt(s, dir, (const uint8_t *)t, strlen(t), "long originator");
        /* no empty line within MTA_SPOOL_HDR_MAX */
        free(t);
        t = malloc(MTA_SPOOL_HDR_MAX + 64);
        o = (size_t)sprintf(t, "X400MTA-SPOOL 1\nkind: message\n");
        while (o < MTA_SPOOL_HDR_MAX + 10) o += (size_t)sprintf(t + o, "x-pad: 0123456789\n");
        sprintf(t + o, "size: 0\n\n");
        expect_corrupt(s, dir, (const uint8_t *)t, strlen(t), "long header");
        free(t);
    }
    /* unknown keys are ignored; the body may contain anything */
    {
        mta_spool_hdr w;
        hdr_min(&w, "probe");
        snprintf(w.peer, sizeof w.peer, "MTA-C");
        expect_ok(s, dir, "X400MTA-SPOOL 1\nx-future: whatever: it is\nkind: probe\npeer: MTA-C\nsize: 3\n\n\n\n\n",
                  &w, 3);
        w.time_ms = 0;
        expect_ok(s, dir, "X400MTA-SPOOL 1\nkind: probe\npeer: MTA-C\nsize: 0\nx-later: 1\n\n", &w, 0);
    }
    /* missing file */
    err[0] = 0;
    ck_assert_int_eq(mta_spool_read(s, MTA_SPOOL_INBOX, "nope", &h, NULL, NULL, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "/inbox/nope: ") && strstr(err, strerror(ENOENT)), "%s", err);
    mta_spool_close(s);
    rm_tree(dir);
}
END_TEST

/* ---- group commit ---- */

START_TEST(stage_commit)
{
    char dir[512], err[512], sub[64], path[700];
    tdir(dir);
    x400_p1_idset *seen = idset_new();
    mta_spool *s = sopen(dir, 1, seen);
    mta_spool_hdr h;
    hdr_min(&h, "message");
    ck_assert_int_eq(mta_spool_submit(s, &h, (const uint8_t *)"abc", 3, sub, err, sizeof err), 0);
    pathf(path, sizeof path, dir, NULL, "journal");
    ck_assert_int_eq(fsize(path), 0);
    ck_assert_uint_eq(mta_spool_journal_bytes(s), 0);

    stage_body(s, MTA_SPOOL_QUEUE, "q1.apdu", 1, 1000);
    stage_body(s, MTA_SPOOL_INBOX, "i1.apdu", 2, 10);
    stage_seen_n(s, 1);
    ck_assert_int_eq(mta_spool_stage_unlink(s, MTA_SPOOL_SUBMIT, sub), 0);
    ck_assert_uint_eq(mta_spool_staged(s), 4);
    /* nothing happens before the commit */
    ck_assert_int_eq(list_count(s, MTA_SPOOL_QUEUE), 0);
    ck_assert_int_eq(list_count(s, MTA_SPOOL_SUBMIT), 1);
    ck_assert_int_eq(fsize(path), 0);

    ck_assert_int_eq(mta_spool_commit(s, err, sizeof err), 4);
    ck_assert_uint_eq(mta_spool_staged(s), 0);
    uint64_t jb = mta_spool_journal_bytes(s);
    ck_assert_uint_gt(jb, 1010);
    ck_assert_int_eq((uint64_t)fsize(path), jb);
    check_body(s, MTA_SPOOL_QUEUE, "q1.apdu", 1, 1000);
    check_body(s, MTA_SPOOL_INBOX, "i1.apdu", 2, 10);
    ck_assert_int_eq(list_count(s, MTA_SPOOL_SUBMIT), 0);
    ck_assert_int_eq(count_tmp(dir, "queue") + count_tmp(dir, "inbox"), 0);
    /* the journal holds the files' octets */
    {
        size_t jn, fn;
        char fp[700];
        uint8_t *j = read_raw(path, &jn);
        pathf(fp, sizeof fp, dir, "queue", "q1.apdu");
        uint8_t *f = read_raw(fp, &fn);
        ck_assert_ptr_nonnull(memmem(j, jn, f, fn));
        ck_assert_ptr_nonnull(memmem(j, jn, "n1.run.1]", 9));
        free(j);
        free(f);
    }
    /* an empty commit does nothing */
    ck_assert_int_eq(mta_spool_commit(s, err, sizeof err), 0);
    ck_assert_uint_eq(mta_spool_journal_bytes(s), jb);
    /* a second batch appends; a file staged again is replaced */
    stage_body(s, MTA_SPOOL_QUEUE, "q1.apdu", 3, 20);
    ck_assert_int_eq(mta_spool_commit(s, err, sizeof err), 1);
    ck_assert_uint_gt(mta_spool_journal_bytes(s), jb);
    ck_assert_int_eq((uint64_t)fsize(path), mta_spool_journal_bytes(s));
    check_body(s, MTA_SPOOL_QUEUE, "q1.apdu", 3, 20);
    /* remove */
    ck_assert_int_eq(mta_spool_remove(s, MTA_SPOOL_QUEUE, "q1.apdu"), 0);
    ck_assert_int_eq(mta_spool_remove(s, MTA_SPOOL_QUEUE, "q1.apdu"), 0);
    ck_assert_int_eq(mta_spool_remove(s, MTA_SPOOL_QUEUE, "../lock"), -1);
    ck_assert_int_eq(list_count(s, MTA_SPOOL_QUEUE), 0);
    mta_spool_close(s);
    x400_p1_idset_free(seen);
    rm_tree(dir);
}
END_TEST

/* Replay after a crash that lost the files written after the journal: they
 * come back byte-identical, the identifiers come back into `seen`. */
START_TEST(crash_replay)
{
    char dir[512], err[512], sub[64], p[3][700];
    tdir(dir);
    x400_p1_idset *seen = idset_new();
    mta_spool *s = sopen(dir, 1, seen);
    mta_spool_hdr h;
    hdr_min(&h, "message");
    ck_assert_int_eq(mta_spool_submit(s, &h, (const uint8_t *)"abc", 3, sub, err, sizeof err), 0);
    stage_body(s, MTA_SPOOL_QUEUE, "q1.apdu", 1, 3000);
    stage_body(s, MTA_SPOOL_QUEUE, "q2.apdu", 2, 0);
    stage_seen_n(s, 1);
    ck_assert_int_eq(mta_spool_commit(s, err, sizeof err), 3);
    stage_body(s, MTA_SPOOL_INBOX, "i1.apdu", 3, 77);
    stage_seen_n(s, 2);
    ck_assert_int_eq(mta_spool_stage_unlink(s, MTA_SPOOL_SUBMIT, sub), 0);
    ck_assert_int_eq(mta_spool_commit(s, err, sizeof err), 3);
    /* staged but never committed: gone with the crash */
    stage_body(s, MTA_SPOOL_QUEUE, "q3.apdu", 4, 5);
    stage_seen_n(s, 3);
    pathf(p[0], sizeof p[0], dir, "queue", "q1.apdu");
    pathf(p[1], sizeof p[1], dir, "queue", "q2.apdu");
    pathf(p[2], sizeof p[2], dir, "inbox", "i1.apdu");
    uint8_t *raw[3];
    size_t rawn[3];
    for (int i = 0; i < 3; i++) raw[i] = read_raw(p[i], &rawn[i]);
    mta_spool_close(s); /* no checkpoint: as after a crash */
    x400_p1_idset_free(seen);

    /* the page cache was lost: one file gone, one empty, one cut short; the
     * submission's unlink was lost too */
    unlink(p[0]);
    write_raw(p[1], raw[1], 0);
    write_raw(p[2], raw[2], rawn[2] - 1);
    char sp[700];
    pathf(sp, sizeof sp, dir, "submit", sub);
    write_raw(sp, (const uint8_t *)"stale", 5);

    seen = idset_new();
    s = sopen(dir, 1, seen);
    for (int i = 0; i < 3; i++) {
        size_t n;
        uint8_t *b = read_raw(p[i], &n);
        ck_assert_uint_eq(n, rawn[i]);
        ck_assert_msg(memcmp(b, raw[i], n) == 0, "%s differs", p[i]);
        free(b);
        free(raw[i]);
    }
    check_body(s, MTA_SPOOL_QUEUE, "q1.apdu", 1, 3000);
    ck_assert(!exists(sp));
    ck_assert_int_eq(list_count(s, MTA_SPOOL_QUEUE), 2);
    ck_assert(idset_has(seen, 1));
    ck_assert(idset_has(seen, 2));
    ck_assert(!idset_has(seen, 3));
    ck_assert_uint_eq(x400_p1_idset_count(seen), 2);
    /* the open checkpointed: journal empty, identifiers in `seen` */
    char jp[700], seenp[700];
    pathf(jp, sizeof jp, dir, NULL, "journal");
    pathf(seenp, sizeof seenp, dir, NULL, "seen");
    ck_assert_int_eq(fsize(jp), 0);
    ck_assert_uint_eq(mta_spool_journal_bytes(s), 0);
    x400_p1_idset *fromfile = idset_new();
    ck_assert_int_eq(x400_p1_idset_load_file(fromfile, seenp, NULL), X400_OK);
    ck_assert(idset_has(fromfile, 1) && idset_has(fromfile, 2));
    x400_p1_idset_free(fromfile);
    mta_spool_close(s);
    x400_p1_idset_free(seen);
    rm_tree(dir);
}
END_TEST


/* The MTA's order: a received MTSID is staged before its message.  A crash
 * that tears that batch anywhere must leave neither: a SEEN replayed without
 * its FILE would make the sender's retransmission a "duplicate" -- a lost
 * message (found by the two-MTA SIGKILL test). */
START_TEST(torn_batch_all_or_nothing)
{
    char dir[512], err[512], jp[700], m1[700];
    tdir(dir);
    pathf(jp, sizeof jp, dir, NULL, "journal");
    pathf(m1, sizeof m1, dir, "inbox", "m1");
    x400_p1_idset *seen = idset_new();
    mta_spool *s = sopen(dir, 1, seen);
    stage_seen_n(s, 5);
    stage_body(s, MTA_SPOOL_INBOX, "m1", 3, 3000);
    ck_assert_int_eq(mta_spool_commit(s, err, sizeof err), 2);
    mta_spool_close(s);
    x400_p1_idset_free(seen);
    size_t jn;
    uint8_t *j = read_raw(jp, &jn);
    for (size_t cut = 0; cut <= jn; cut++) {
        write_raw(jp, j, cut);
        unlink(m1);
        seen = idset_new();
        s = sopen(dir, 1, seen);
        ck_assert_msg(idset_has(seen, 5) == (cut == jn), "cut %zu: MTSID without its message", cut);
        ck_assert_msg(exists(m1) == (cut == jn), "cut %zu", cut);
        mta_spool_close(s);
        x400_p1_idset_free(seen);
        unlink(jp);
    }
    free(j);
    rm_tree(dir);
}
END_TEST

/* The journal cut at every offset of its last record: the earlier records
 * are replayed, the torn one is not; a damaged middle record stops replay. */
START_TEST(torn_tail)
{
    char dir[512], err[512], jp[700], a1[700], b1[700], seenp[700];
    tdir(dir);
    pathf(jp, sizeof jp, dir, NULL, "journal");
    pathf(a1, sizeof a1, dir, "queue", "a1");
    pathf(b1, sizeof b1, dir, "inbox", "b1");
    pathf(seenp, sizeof seenp, dir, NULL, "seen");
    x400_p1_idset *seen = idset_new();
    mta_spool *s = sopen(dir, 1, seen);
    stage_body(s, MTA_SPOOL_QUEUE, "a1", 1, 40);
    stage_seen_n(s, 1);
    ck_assert_int_eq(mta_spool_commit(s, err, sizeof err), 2);
    uint64_t j1 = mta_spool_journal_bytes(s);
    stage_seen_n(s, 2);
    ck_assert_int_eq(mta_spool_commit(s, err, sizeof err), 1);
    uint64_t j2 = mta_spool_journal_bytes(s);
    stage_body(s, MTA_SPOOL_INBOX, "b1", 2, 8);
    ck_assert_int_eq(mta_spool_commit(s, err, sizeof err), 1);
    uint64_t j3 = mta_spool_journal_bytes(s);
    mta_spool_close(s);
    x400_p1_idset_free(seen);
    size_t jn;
    uint8_t *j = read_raw(jp, &jn);
    ck_assert_uint_eq(jn, j3);
    ck_assert_uint_gt(j3 - j2, 40);

    for (uint64_t cut = j2; cut <= j3; cut++) {
        write_raw(jp, j, (size_t)cut);
        unlink(a1);
        unlink(b1);
        unlink(seenp);
        seen = idset_new();
        s = sopen(dir, 1, seen);
        ck_assert_msg(exists(a1), "cut %llu", (unsigned long long)cut);
        ck_assert_msg(exists(b1) == (cut == j3), "cut %llu", (unsigned long long)cut);
        ck_assert(idset_has(seen, 1) && idset_has(seen, 2));
        ck_assert_uint_eq(x400_p1_idset_count(seen), 2);
        ck_assert_int_eq(fsize(jp), 0);
        if (cut == j2 + 7) {
            /* the torn record is gone for good: later commits replay */
            stage_seen_n(s, 9);
            ck_assert_int_eq(mta_spool_commit(s, err, sizeof err), 1);
            mta_spool_close(s);
            x400_p1_idset_free(seen);
            unlink(seenp);
            seen = idset_new();
            s = sopen(dir, 1, seen);
            ck_assert(idset_has(seen, 9) && !idset_has(seen, 1));
        }
        mta_spool_close(s);
        x400_p1_idset_free(seen);
    }
    /* one flipped octet anywhere in the first batch (its FILE, its SEEN or
     * its end marker): nothing of that batch, nor anything after it -- a
     * batch is replayed whole or not at all */
    size_t rec1 = 12 + ((size_t)j[4] | (size_t)j[5] << 8 | (size_t)j[6] << 16 | (size_t)j[7] << 24);
    ck_assert_uint_lt(rec1, j1);
    for (size_t at = 0; at < j1; at += 7) {
        j[at] ^= 0x20;
        write_raw(jp, j, jn);
        j[at] ^= 0x20;
        unlink(a1);
        unlink(b1);
        unlink(seenp);
        seen = idset_new();
        s = sopen(dir, 1, seen);
        ck_assert_msg(!exists(a1) && !exists(b1), "flip at %zu", at);
        ck_assert_uint_eq(x400_p1_idset_count(seen), 0);
        mta_spool_close(s);
        x400_p1_idset_free(seen);
    }
    /* garbage after complete records is ignored */
    {
        uint8_t *g = malloc(jn + 100);
        memcpy(g, j, jn);
        memset(g + jn, 0, 100);
        memcpy(g + jn, "XMJ1\xff\xff\xff\x0f", 8); /* a huge length */
        write_raw(jp, g, jn + 100);
        free(g);
        unlink(b1);
        seen = idset_new();
        s = sopen(dir, 1, seen);
        ck_assert(exists(b1));
        ck_assert_uint_eq(x400_p1_idset_count(seen), 2);
        mta_spool_close(s);
        x400_p1_idset_free(seen);
    }
    free(j);
    rm_tree(dir);
}
END_TEST

/* A real crash: a child commits and SIGKILLs itself before any checkpoint. */
#define CRASH_COMMITS 4
#define CRASH_PER 5
START_TEST(crash_child)
{
    char dir[512], err[512];
    tdir(dir);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        x400_p1_idset *seen = NULL;
        mta_spool *s = NULL;
        if (x400_p1_idset_new(&seen, 1024, NULL) != X400_OK) _exit(2);
        if (mta_spool_open(&s, dir, 1, seen, err, sizeof err) != 0) _exit(3);
        for (unsigned c = 0; c < CRASH_COMMITS; c++) {
            for (unsigned i = 0; i < CRASH_PER; i++) {
                unsigned k = c * CRASH_PER + i;
                char name[32], t[X400_MTSID_TEXT_MAX];
                uint8_t b[1024];
                mta_spool_hdr h;
                hdr_min(&h, "message");
                h.time_ms = k;
                body_fill(b, sizeof b, k);
                snprintf(name, sizeof name, "m%03u.apdu", k);
                mtsid_text(t, sizeof t, k);
                if (mta_spool_stage_file(s, MTA_SPOOL_INBOX, name, &h, b, sizeof b) != 0) _exit(4);
                if (mta_spool_stage_seen(s, t) != 0) _exit(5);
            }
            if (mta_spool_commit(s, err, sizeof err) != 2 * CRASH_PER) _exit(6);
        }
        kill(getpid(), SIGKILL);
        _exit(7);
    }
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child status %d", st);
    /* the lost page cache: every other file gone, one truncated */
    for (unsigned k = 0; k < CRASH_COMMITS * CRASH_PER; k += 2) {
        char p[700], name[32];
        snprintf(name, sizeof name, "m%03u.apdu", k);
        pathf(p, sizeof p, dir, "inbox", name);
        ck_assert_int_eq(unlink(p), 0);
    }
    {
        char p[700];
        pathf(p, sizeof p, dir, "inbox", "m001.apdu");
        ck_assert_int_eq(truncate(p, 100), 0);
    }
    x400_p1_idset *seen = idset_new();
    mta_spool *s = sopen(dir, 1, seen); /* the dead child's lock is free */
    ck_assert_int_eq(list_count(s, MTA_SPOOL_INBOX), CRASH_COMMITS * CRASH_PER);
    for (unsigned k = 0; k < CRASH_COMMITS * CRASH_PER; k++) {
        char name[32];
        snprintf(name, sizeof name, "m%03u.apdu", k);
        check_body(s, MTA_SPOOL_INBOX, name, k, 1024);
        ck_assert(idset_has(seen, k));
    }
    mta_spool_close(s);
    x400_p1_idset_free(seen);
    rm_tree(dir);
}
END_TEST

START_TEST(checkpoint)
{
    char dir[512], err[512], jp[700], seenp[700];
    tdir(dir);
    pathf(jp, sizeof jp, dir, NULL, "journal");
    pathf(seenp, sizeof seenp, dir, NULL, "seen");
    x400_p1_idset *seen = idset_new();
    mta_spool *s = sopen(dir, 1, seen);
    stage_body(s, MTA_SPOOL_QUEUE, "q1", 1, 100);
    stage_seen_n(s, 1);
    idset_add(seen, 1);
    ck_assert_int_eq(mta_spool_commit(s, err, sizeof err), 2);
    ck_assert_int_gt(fsize(jp), 0);
    ck_assert_int_eq(mta_spool_checkpoint(s, seen, err, sizeof err), 0);
    ck_assert_uint_eq(mta_spool_journal_bytes(s), 0);
    ck_assert_int_eq(fsize(jp), 0);
    x400_p1_idset *f = idset_new();
    ck_assert_int_eq(x400_p1_idset_load_file(f, seenp, NULL), X400_OK);
    ck_assert(idset_has(f, 1));
    x400_p1_idset_free(f);
    /* a checkpoint commits what is staged first */
    stage_body(s, MTA_SPOOL_QUEUE, "q2", 2, 10);
    stage_seen_n(s, 2);
    idset_add(seen, 2);
    ck_assert_int_eq(mta_spool_checkpoint(s, seen, err, sizeof err), 0);
    ck_assert_uint_eq(mta_spool_staged(s), 0);
    check_body(s, MTA_SPOOL_QUEUE, "q2", 2, 10);
    ck_assert_int_eq(fsize(jp), 0);
    /* without a set: the journal is emptied, `seen` left alone */
    stage_seen_n(s, 3);
    ck_assert_int_eq(mta_spool_checkpoint(s, NULL, err, sizeof err), 0);
    ck_assert_int_eq(fsize(jp), 0);
    mta_spool_close(s);
    x400_p1_idset_free(seen);
    /* what was checkpointed survives a reopen without the journal */
    seen = idset_new();
    s = sopen(dir, 1, seen);
    ck_assert(idset_has(seen, 1) && idset_has(seen, 2) && !idset_has(seen, 3));
    check_body(s, MTA_SPOOL_QUEUE, "q1", 1, 100);
    mta_spool_close(s);
    x400_p1_idset_free(seen);
    /* a damaged `seen` file fails the open */
    write_raw(seenp, (const uint8_t *)"X4IDSET1garbage", 15);
    seen = idset_new();
    s = NULL;
    err[0] = 0;
    ck_assert_int_eq(mta_spool_open(&s, dir, 1, seen, err, sizeof err), -1);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(err, seenp) != NULL, "%s", err);
    x400_p1_idset_free(seen);
    rm_tree(dir);
}
END_TEST

/* A commit whose file write fails after the journal sync: -1, and the spool
 * refuses further commits and checkpoints (the journal is kept); reopening
 * replays it. */
START_TEST(sticky_failure)
{
    char dir[512], err[512], jp[700], blocker[700];
    tdir(dir);
    pathf(jp, sizeof jp, dir, NULL, "journal");
    pathf(blocker, sizeof blocker, dir, "queue", "q1.tmp");
    x400_p1_idset *seen = idset_new();
    mta_spool *s = sopen(dir, 1, seen);
    ck_assert_int_eq(mkdir(blocker, 0700), 0); /* the temp file cannot be created */
    stage_body(s, MTA_SPOOL_QUEUE, "q1", 1, 100);
    stage_seen_n(s, 1);
    err[0] = 0;
    ck_assert_int_eq(mta_spool_commit(s, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "/queue/q1") && strstr(err, strerror(EISDIR)), "%s", err);
    off_t jlen = fsize(jp);
    ck_assert_int_gt(jlen, 100);
    stage_seen_n(s, 2);
    ck_assert_int_eq(mta_spool_commit(s, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "reopen") != NULL, "%s", err);
    ck_assert_int_eq(mta_spool_checkpoint(s, seen, err, sizeof err), -1);
    ck_assert_int_eq(fsize(jp), jlen);
    mta_spool_close(s);
    x400_p1_idset_free(seen);
    ck_assert_int_eq(rmdir(blocker), 0);
    seen = idset_new();
    s = sopen(dir, 1, seen);
    check_body(s, MTA_SPOOL_QUEUE, "q1", 1, 100);
    ck_assert(idset_has(seen, 1) && !idset_has(seen, 2));
    ck_assert_int_eq(fsize(jp), 0);
    mta_spool_close(s);
    x400_p1_idset_free(seen);
    rm_tree(dir);
}
END_TEST

START_TEST(locking)
{
    char dir[512], err[512], jp[700], name[64], want[600];
    tdir(dir);
    pathf(jp, sizeof jp, dir, NULL, "journal");
    mta_spool *a = sopen(dir, 1, NULL);
    mta_spool *b = NULL;
    snprintf(want, sizeof want, "spool %s in use by pid %ld", dir, (long)getpid());
    ck_assert_int_eq(mta_spool_open(&b, dir, 1, NULL, err, sizeof err), -1);
    ck_assert_str_eq(err, want);
    ck_assert_ptr_null(b);
    /* another process is refused too */
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char e2[600];
        mta_spool *c = NULL;
        int r = mta_spool_open(&c, dir, 1, NULL, e2, sizeof e2);
        _exit(r == -1 && !strcmp(e2, want) ? 0 : 1);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    /* a tool submits and lists while the MTA holds the lock */
    stage_body(a, MTA_SPOOL_QUEUE, "q1", 1, 10);
    ck_assert_int_eq(mta_spool_commit(a, err, sizeof err), 1);
    off_t jlen = fsize(jp);
    x400_p1_idset *seen = idset_new();
    mta_spool *t = sopen(dir, 0, seen);
    mta_spool_hdr h;
    hdr_min(&h, "message");
    ck_assert_int_eq(mta_spool_submit(t, &h, (const uint8_t *)"x", 1, name, err, sizeof err), 0);
    char **names = NULL;
    ck_assert_int_eq(mta_spool_list(t, MTA_SPOOL_SUBMIT, &names, err, sizeof err), 1);
    ck_assert_str_eq(names[0], name);
    mta_spool_names_free(names, 1);
    ck_assert_int_eq(list_count(a, MTA_SPOOL_SUBMIT), 1);
    check_body(t, MTA_SPOOL_QUEUE, "q1", 1, 10);
    /* ... and never touches the journal */
    errno = 0;
    ck_assert_int_eq(mta_spool_stage_seen(t, "[C=XX;A=ADMD;L=x]"), -1);
    ck_assert_int_eq(errno, EPERM);
    hdr_min(&h, "message");
    ck_assert_int_eq(mta_spool_stage_file(t, MTA_SPOOL_QUEUE, "q9", &h, NULL, 0), -1);
    ck_assert_int_eq(mta_spool_stage_unlink(t, MTA_SPOOL_SUBMIT, name), -1);
    ck_assert_uint_eq(mta_spool_staged(t), 0);
    ck_assert_int_eq(mta_spool_commit(t, err, sizeof err), -1);
    ck_assert_int_eq(mta_spool_checkpoint(t, seen, err, sizeof err), -1);
    ck_assert_int_eq(fsize(jp), jlen);
    mta_spool_close(t);
    x400_p1_idset_free(seen);
    mta_spool_close(a);
    /* released with close */
    b = sopen(dir, 1, NULL);
    mta_spool_close(b);
    rm_tree(dir);
}
END_TEST

/* A tool reads the identifiers of the journal but leaves files alone. */
START_TEST(tool_replay)
{
    char dir[512], err[512], jp[700], qp[700];
    tdir(dir);
    pathf(jp, sizeof jp, dir, NULL, "journal");
    pathf(qp, sizeof qp, dir, "queue", "q1");
    mta_spool *a = sopen(dir, 1, NULL);
    stage_body(a, MTA_SPOOL_QUEUE, "q1", 1, 10);
    stage_seen_n(a, 4);
    ck_assert_int_eq(mta_spool_commit(a, err, sizeof err), 2);
    ck_assert_int_eq(mta_spool_remove(a, MTA_SPOOL_QUEUE, "q1"), 0);
    off_t jlen = fsize(jp);
    x400_p1_idset *seen = idset_new();
    mta_spool *t = sopen(dir, 0, seen);
    ck_assert(idset_has(seen, 4));
    ck_assert(!exists(qp));
    ck_assert_int_eq(fsize(jp), jlen);
    mta_spool_close(t);
    x400_p1_idset_free(seen);
    mta_spool_close(a);
    rm_tree(dir);
}
END_TEST

/* `x400mta stats` opens with MTA_SPOOL_SNAPSHOTS: the journal is not read
 * (a monitor polling a busy MTA must not replay megabytes of messages each
 * time).  A journal that cannot be read at all shows it: the tool's open
 * fails on it, the snapshot open does not. */
START_TEST(snapshots_without_the_journal)
{
    char dir[512], path[700], err[512] = "";
    tdir(dir);
    mta_spool *s = sopen(dir, 0, NULL);
    ck_assert_int_eq(mta_spool_write_snapshot(s, "stats", "delivered=7\n", 12), 0);
    mta_spool_close(s);
    snprintf(path, sizeof path, "%s/journal", dir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    s = NULL;
    ck_assert_int_eq(mta_spool_open(&s, dir, 0, NULL, err, sizeof err), -1);
    ck_assert_ptr_null(s);
    ck_assert_ptr_nonnull(strstr(err, "journal"));
    s = sopen(dir, MTA_SPOOL_SNAPSHOTS, NULL);
    char *t = mta_spool_read_snapshot(s, "stats");
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(t, "delivered=7\n");
    free(t);
    ck_assert_int_eq(mta_spool_owner(s), 0);
    mta_spool_close(s);
    rm_tree(dir);
}
END_TEST

START_TEST(snapshots)
{
    char dir[512], buf[700], want[700];
    tdir(dir);
    mta_spool *s = sopen(dir, 0, NULL);
    ck_assert_ptr_null(mta_spool_read_snapshot(s, "status"));
    ck_assert_int_eq(mta_spool_write_snapshot(s, "status", "queue: 3\n", 9), 0);
    char *t = mta_spool_read_snapshot(s, "status");
    ck_assert_str_eq(t, "queue: 3\n");
    free(t);
    ck_assert_int_eq(mta_spool_write_snapshot(s, "status", "q", 1), 0);
    t = mta_spool_read_snapshot(s, "status");
    ck_assert_str_eq(t, "q");
    free(t);
    ck_assert_int_eq(mta_spool_write_snapshot(s, "stats", "", 0), 0);
    t = mta_spool_read_snapshot(s, "stats");
    ck_assert_str_eq(t, "");
    free(t);
    ck_assert_int_eq(mta_spool_write_snapshot(s, "../x", "q", 1), -1);
    ck_assert_int_eq(mta_spool_write_snapshot(s, "journal", "q", 1), -1);
    ck_assert_int_eq(mta_spool_write_snapshot(s, "seen", "q", 1), -1);
    ck_assert_ptr_null(mta_spool_read_snapshot(s, "lock"));
    ck_assert_int_eq(count_tmp(dir, "."), 0);
    snprintf(want, sizeof want, "%s/mtsid", dir);
    ck_assert_str_eq(mta_spool_path(s, "mtsid", buf, sizeof buf), want);
    ck_assert_ptr_null(mta_spool_path(s, "mtsid", buf, strlen(want)));
    ck_assert_ptr_nonnull(mta_spool_path(s, "mtsid", buf, strlen(want) + 1));
    mta_spool_close(s);
    /* bad spool directories */
    char err[512] = "";
    s = NULL;
    snprintf(buf, sizeof buf, "%s/status/sub", dir);
    ck_assert_int_eq(mta_spool_open(&s, buf, 0, NULL, err, sizeof err), -1);
    ck_assert_msg(strstr(err, buf) && strstr(err, strerror(ENOTDIR)), "%s", err);
    ck_assert_int_eq(mta_spool_open(&s, "", 0, NULL, err, sizeof err), -1);
    rm_tree(dir);
}
END_TEST

/* The batch is bounded; a full batch still commits in one piece. */
START_TEST(bounds)
{
    char dir[512], err[512];
    tdir(dir);
    x400_p1_idset *seen = NULL;
    ck_assert_int_eq(x400_p1_idset_new(&seen, 1u << 17, NULL), X400_OK);
    mta_spool *s = sopen(dir, 1, seen);
    for (unsigned i = 0; i < MTA_SPOOL_BATCH_ITEMS; i++) stage_seen_n(s, i);
    errno = 0;
    char t[X400_MTSID_TEXT_MAX];
    mtsid_text(t, sizeof t, 999999);
    ck_assert_int_eq(mta_spool_stage_seen(s, t), -1);
    ck_assert_int_eq(errno, E2BIG);
    mta_spool_hdr h;
    hdr_min(&h, "message");
    errno = 0;
    ck_assert_int_eq(mta_spool_stage_file(s, MTA_SPOOL_QUEUE, "q", &h, (const uint8_t *)"x", 1), -1);
    ck_assert_int_eq(errno, E2BIG);
    ck_assert_uint_eq(mta_spool_staged(s), MTA_SPOOL_BATCH_ITEMS);
    /* the commit writes more iovecs than one writev takes */
    ck_assert_int_eq(mta_spool_commit(s, err, sizeof err), MTA_SPOOL_BATCH_ITEMS);
    stage_body(s, MTA_SPOOL_QUEUE, "q", 0, 1);
    ck_assert_int_eq(mta_spool_commit(s, err, sizeof err), 1);
    /* a body over the limit is refused before it is read */
    errno = 0;
    ck_assert_int_eq(mta_spool_stage_file(s, MTA_SPOOL_QUEUE, "big", &h, (const uint8_t *)"x",
                                          (size_t)MTA_SPOOL_FILE_MAX + 1), -1);
    ck_assert_int_eq(errno, EFBIG);
    mta_spool_close(s);
    x400_p1_idset_free(seen);
    /* every identifier comes back from the journal */
    ck_assert_int_eq(x400_p1_idset_new(&seen, 1u << 17, NULL), X400_OK);
    s = sopen(dir, 1, seen);
    ck_assert_uint_eq(x400_p1_idset_count(seen), MTA_SPOOL_BATCH_ITEMS);
    ck_assert(idset_has(seen, 0) && idset_has(seen, MTA_SPOOL_BATCH_ITEMS - 1));
    check_body(s, MTA_SPOOL_QUEUE, "q", 0, 1);
    mta_spool_close(s);
    x400_p1_idset_free(seen);
    rm_tree(dir);
}
END_TEST

/* The two-step commit (the MTA confirms between them): what commit_durable
 * returned survives a crash before its files exist (the replay writes them);
 * apply_async's files are there for a read or a listing straight after. */
START_TEST(commit_durable_then_apply)
{
    char dir[512], err[512], p[700];
    tdir(dir);
    x400_p1_idset *seen = idset_new();
    mta_spool *s = sopen(dir, 1, seen);
    for (unsigned k = 0; k < 40; k++) {
        char name[32];
        snprintf(name, sizeof name, "m%03u.apdu", k);
        stage_body(s, MTA_SPOOL_INBOX, name, k, 300 + k);
        stage_seen_n(s, k);
    }
    ck_assert_int_eq(mta_spool_commit_durable(s, err, sizeof err), 80);
    ck_assert_uint_eq(mta_spool_staged(s), 0);
    pathf(p, sizeof p, dir, "inbox", "m000.apdu");
    ck_assert(!exists(p)); /* confirmed before its file was written */
    mta_spool_close(s);    /* the crash: never applied */
    x400_p1_idset_free(seen);
    seen = idset_new();
    s = sopen(dir, 1, seen);
    ck_assert_int_eq(list_count(s, MTA_SPOOL_INBOX), 40);
    for (unsigned k = 0; k < 40; k++) {
        char name[32];
        snprintf(name, sizeof name, "m%03u.apdu", k);
        check_body(s, MTA_SPOOL_INBOX, name, k, 300 + k);
        ck_assert(idset_has(seen, k));
    }
    /* on the writer thread: read, list and remove wait for it */
    for (unsigned round = 0; round < 3; round++) {
        for (unsigned k = 40 + round * 100; k < 140 + round * 100; k++) {
            char name[32];
            snprintf(name, sizeof name, "m%03u.apdu", k);
            stage_body(s, MTA_SPOOL_INBOX, name, k, 1000);
            stage_seen_n(s, k);
        }
        ck_assert_int_eq(mta_spool_commit_durable(s, err, sizeof err), 200);
        ck_assert_int_eq(mta_spool_apply_async(s, err, sizeof err), 0);
        ck_assert_int_eq(list_count(s, MTA_SPOOL_INBOX), 140 + round * 100);
        char last[32];
        snprintf(last, sizeof last, "m%03u.apdu", 139 + round * 100);
        check_body(s, MTA_SPOOL_INBOX, last, 139 + round * 100, 1000);
    }
    /* staging while a batch is durable but not applied applies it first */
    stage_body(s, MTA_SPOOL_INBOX, "late1", 7, 10);
    ck_assert_int_eq(mta_spool_commit_durable(s, err, sizeof err), 1);
    stage_body(s, MTA_SPOOL_INBOX, "late2", 8, 10);
    pathf(p, sizeof p, dir, "inbox", "late1");
    ck_assert(exists(p));
    ck_assert_int_eq(mta_spool_commit_durable(s, err, sizeof err), 1);
    ck_assert_int_eq(mta_spool_apply_async(s, err, sizeof err), 0);
    ck_assert_int_eq(mta_spool_checkpoint(s, seen, err, sizeof err), 0);
    pathf(p, sizeof p, dir, "inbox", "late2");
    ck_assert(exists(p));
    mta_spool_close(s);
    x400_p1_idset_free(seen);
    rm_tree(dir);
}
END_TEST

/* The removal of a transferred queue file needs no fdatasync of its own:
 * a batch of nothing else is journalled without one, a batch with anything
 * else is synced as always; replayed like any unlink. */
START_TEST(transferred_removal_unsynced)
{
    char dir[512], err[512], p[700];
    tdir(dir);
    x400_p1_idset *seen = idset_new();
    mta_spool *s = sopen(dir, 1, seen);
    for (unsigned k = 0; k < 10; k++) {
        char name[32];
        snprintf(name, sizeof name, "q%u", k);
        stage_body(s, MTA_SPOOL_QUEUE, name, k, 100);
    }
    uint64_t s0 = mta_spool_journal_syncs(s);
    ck_assert_int_eq(mta_spool_commit(s, err, sizeof err), 10);
    ck_assert_uint_eq(mta_spool_journal_syncs(s), s0 + 1);
    for (unsigned k = 0; k < 5; k++) {
        char name[32];
        snprintf(name, sizeof name, "q%u", k);
        ck_assert_int_eq(mta_spool_stage_transferred(s, name), 0);
    }
    uint64_t jb = mta_spool_journal_bytes(s);
    ck_assert_int_eq(mta_spool_commit(s, err, sizeof err), 5);
    ck_assert_uint_eq(mta_spool_journal_syncs(s), s0 + 1); /* no fdatasync */
    ck_assert_uint_gt(mta_spool_journal_bytes(s), jb);    /* but journalled */
    pathf(p, sizeof p, dir, "queue", "q0");
    ck_assert(!exists(p));
    /* with a received identifier in the batch: synced */
    ck_assert_int_eq(mta_spool_stage_transferred(s, "q5"), 0);
    stage_seen_n(s, 1);
    ck_assert_int_eq(mta_spool_commit(s, err, sizeof err), 2);
    ck_assert_uint_eq(mta_spool_journal_syncs(s), s0 + 2);
    errno = 0;
    ck_assert_int_eq(mta_spool_stage_transferred(s, "../q6"), -1);
    ck_assert_int_eq(errno, EINVAL);
    /* a crash: the journal's unlinks are replayed (files put back by hand,
     * as a file system that lost the unlinks would) */
    mta_spool_close(s);
    x400_p1_idset_free(seen);
    pathf(p, sizeof p, dir, "queue", "q2");
    write_raw(p, (const uint8_t *)"stale", 5);
    seen = idset_new();
    s = sopen(dir, 1, seen);
    ck_assert_int_eq(list_count(s, MTA_SPOOL_QUEUE), 4);
    ck_assert(!exists(p));
    check_body(s, MTA_SPOOL_QUEUE, "q9", 9, 100);
    ck_assert(idset_has(seen, 1));
    mta_spool_close(s);
    x400_p1_idset_free(seen);
    rm_tree(dir);
}
END_TEST

/* A file the writer thread cannot create: the next commit fails, sticky,
 * with the reason; the reopen's replay writes it. */
START_TEST(async_apply_failure_sticky)
{
    char dir[512], err[512], blocker[700];
    tdir(dir);
    pathf(blocker, sizeof blocker, dir, "inbox", "x1.tmp");
    x400_p1_idset *seen = idset_new();
    mta_spool *s = sopen(dir, 1, seen);
    ck_assert_int_eq(mkdir(blocker, 0700), 0);
    stage_body(s, MTA_SPOOL_INBOX, "x1", 1, 100);
    stage_seen_n(s, 1);
    ck_assert_int_eq(mta_spool_commit_durable(s, err, sizeof err), 2);
    ck_assert_int_eq(mta_spool_apply_async(s, err, sizeof err), 0);
    {   /* a read waits for the thread; the reason is kept for the commit */
        mta_spool_hdr h;
        ck_assert_int_eq(mta_spool_read(s, MTA_SPOOL_INBOX, "x1", &h, NULL, NULL, err, sizeof err), -1);
    }
    err[0] = 0;
    ck_assert_int_eq(mta_spool_checkpoint(s, seen, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "/inbox/x1") && strstr(err, strerror(EISDIR)), "%s", err);
    stage_seen_n(s, 2);
    ck_assert_int_eq(mta_spool_commit_durable(s, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "reopen") != NULL, "%s", err);
    mta_spool_close(s);
    x400_p1_idset_free(seen);
    ck_assert_int_eq(rmdir(blocker), 0);
    seen = idset_new();
    s = sopen(dir, 1, seen);
    check_body(s, MTA_SPOOL_INBOX, "x1", 1, 100);
    ck_assert(idset_has(seen, 1) && !idset_has(seen, 2));
    mta_spool_close(s);
    x400_p1_idset_free(seen);
    rm_tree(dir);
}
END_TEST

/* The SIGKILL tests' child: stage message k (its inbox file m<k>.apdu,
 * 512 + k % 1500 octets, and its MTSID in the journal and in the MTA's
 * `seen`).  0, or the child's exit status naming the step that failed. */
static int stage_numbered(mta_spool *s, x400_p1_idset *seen, unsigned k)
{
    char name[32], t[X400_MTSID_TEXT_MAX];
    uint8_t b[2048];
    mta_spool_hdr h;
    x400_mtsid id;
    hdr_min(&h, "message");
    h.time_ms = k;
    body_fill(b, sizeof b, k);
    snprintf(name, sizeof name, "m%05u.apdu", k);
    mtsid_text(t, sizeof t, k);
    if (mta_spool_stage_file(s, MTA_SPOOL_INBOX, name, &h, b, 512 + k % 1500) != 0) return 4;
    if (mta_spool_stage_seen(s, t) != 0) return 5;
    if (x400_mtsid_parse(t, strlen(t), &id, NULL) != X400_OK) return 6;
    (void)x400_p1_idset_insert(seen, &id); /* the MTA's `seen` */
    return 0;
}

/* The SIGKILL tests' parent: kill the child at a random moment and return
 * the highest count it reported as confirmed through pfd (total when it
 * reported none).  The random moment counts from the child's first
 * confirmed turn, not from the fork: a slow start (ThreadSanitizer) must
 * not leave every round killed before its first commit. */
static uint32_t kill_at_random(pid_t pid, int pfd[2], unsigned total)
{
    uint32_t n, confirmed = total;
    int st = 0;
    close(pfd[1]);
    if (read(pfd[0], &n, sizeof n) == (ssize_t)sizeof n) confirmed = n;
    usleep((useconds_t)(rand() % 120000));
    kill(pid, SIGKILL);
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child status %d", st);
    while (read(pfd[0], &n, sizeof n) == (ssize_t)sizeof n) confirmed = n;
    close(pfd[0]);
    return confirmed;
}


/* fork(): in the child, the spool at `dir` opened as the MTA opens it (a
 * received set of 65,536), with the test hooks X400MTA_TEST_SYNC_DELAY_MS
 * and X400MTA_TEST_CHECKPOINT_DELAY_MS set to sync_ms and ckpt_ms first
 * (NULL: not set): returns 0 there with *s and *seen (a child that
 * cannot get so far exits 1-3).  In the parent: the child's pid.  pfd
 * (NULL: none): a pipe made first for the child's reports, its read end
 * closed in the child. */
static pid_t spool_child(const char *dir, int *pfd, const char *sync_ms, const char *ckpt_ms, mta_spool **s,
                         x400_p1_idset **seen)
{
    char err[512];
    pid_t pid;
    if (pfd) ck_assert_int_eq(pipe(pfd), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid) return pid;
    *s = NULL;
    *seen = NULL;
    if (pfd) close(pfd[0]);
    if ((sync_ms && setenv("X400MTA_TEST_SYNC_DELAY_MS", sync_ms, 1) != 0) ||
        (ckpt_ms && setenv("X400MTA_TEST_CHECKPOINT_DELAY_MS", ckpt_ms, 1) != 0))
        _exit(1);
    if (x400_p1_idset_new(seen, 1u << 16, NULL) != X400_OK) _exit(2);
    if (mta_spool_open(s, dir, 1, *seen, err, sizeof err) != 0) _exit(3);
    return 0;
}

/* SIGKILL at random points of the MTA's commit cycle (commit_durable, the
 * confirmation, apply_async on the writer thread, now and then a
 * checkpoint): everything confirmed is there after the reopen, whole. */
START_TEST(sigkill_async_apply)
{
    char dir[512], err[512];
    tdir(dir);
    unsigned total = 0;
    srand(12345);
    for (unsigned round = 0; round < 8; round++) {
        int pfd[2];
        x400_p1_idset *child_seen;
        mta_spool *child_s;
        pid_t pid = spool_child(dir, pfd, NULL, NULL, &child_s, &child_seen);
        if (pid == 0) {
            x400_p1_idset *seen = child_seen;
            mta_spool *s = child_s;
            for (unsigned k = total;; k++) {
                int rc = stage_numbered(s, seen, k);
                if (rc) _exit(rc);
                if (k % 7 == 6 || k % 3 == 0) { /* a turn ends: commit, confirm, apply */
                    if (mta_spool_commit_durable(s, err, sizeof err) < 0) _exit(7);
                    uint32_t n = k + 1;
                    if (write(pfd[1], &n, sizeof n) != (ssize_t)sizeof n) _exit(8);
                    if (mta_spool_apply_async(s, err, sizeof err) != 0) _exit(9);
                }
                if (k % 97 == 96 && mta_spool_checkpoint(s, seen, err, sizeof err) != 0) _exit(10);
            }
        }
        uint32_t confirmed = kill_at_random(pid, pfd, total);
        x400_p1_idset *seen = idset_new();
        mta_spool *s = sopen(dir, 1, seen);
        for (unsigned k = 0; k < confirmed; k++) {
            char name[32];
            snprintf(name, sizeof name, "m%05u.apdu", k);
            check_body(s, MTA_SPOOL_INBOX, name, k, 512 + k % 1500);
            ck_assert_msg(idset_has(seen, k), "round %u: confirmed %u not in seen", round, k);
        }
        ck_assert_int_ge(list_count(s, MTA_SPOOL_INBOX), confirmed);
        /* the next round starts after what survived (confirmed or not) */
        total = (unsigned)list_count(s, MTA_SPOOL_INBOX);
        for (unsigned k = confirmed; k < total; k++) ck_assert(idset_has(seen, k));
        mta_spool_close(s);
        x400_p1_idset_free(seen);
    }
    ck_assert_uint_gt(total, 0);
    rm_tree(dir);
}
END_TEST

/* ---- pipelined group commit (mta_spool_commit_async) ---- */

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Messages from..to-1 staged with their MTSIDs, the MTSIDs put in `seen`
 * (the MTA's set; may be NULL) */
static void stage_msgs(mta_spool *s, x400_p1_idset *seen, unsigned from, unsigned to, size_t len)
{
    for (unsigned k = from; k < to; k++) {
        char name[32], t[X400_MTSID_TEXT_MAX];
        x400_mtsid id;
        snprintf(name, sizeof name, "m%05u.apdu", k);
        stage_body(s, MTA_SPOOL_INBOX, name, k, len);
        stage_seen_n(s, k);
        mtsid_text(t, sizeof t, k);
        ck_assert_int_eq(x400_mtsid_parse(t, strlen(t), &id, NULL), X400_OK);
        if (seen) (void)x400_p1_idset_insert(seen, &id);
    }
}

static void check_msgs(mta_spool *s, const x400_p1_idset *seen, unsigned from, unsigned to, size_t len)
{
    for (unsigned k = from; k < to; k++) {
        char name[32];
        snprintf(name, sizeof name, "m%05u.apdu", k);
        check_body(s, MTA_SPOOL_INBOX, name, k, len ? len : 512 + k % 1500);
        ck_assert_msg(!seen || idset_has(seen, k), "%u not in seen", k);
    }
}

/* The journal's fdatasync slowed to 300 ms (the spool's test hook): the
 * batch handed over is reported durable only after it -- not by the first
 * poll, the wake-up descriptor silent until then, the fdatasync counted
 * then -- while the next batch is staged; reported once; a synchronous
 * commit and a checkpoint wait for the batch in flight (its report kept,
 * the journal's length right); everything is there after a reopen. */
START_TEST(commit_async_reports_only_durable)
{
    char dir[512], err[512], jpath[700];
    int nfd[2];
    tdir(dir);
    pathf(jpath, sizeof jpath, dir, NULL, "journal");
    ck_assert_int_eq(pipe(nfd), 0);
    ck_assert_int_eq(fcntl(nfd[0], F_SETFL, O_NONBLOCK), 0);
    ck_assert_int_eq(fcntl(nfd[1], F_SETFL, O_NONBLOCK), 0);
    ck_assert_int_eq(setenv("X400MTA_TEST_SYNC_DELAY_MS", "300", 1), 0);
    x400_p1_idset *seen = idset_new();
    mta_spool *s = sopen(dir, 1, seen);
    ck_assert_int_eq(unsetenv("X400MTA_TEST_SYNC_DELAY_MS"), 0);
    mta_spool_set_notify(s, nfd[1]);
    ck_assert_int_eq(mta_spool_commit_poll(s, 0, err, sizeof err), 0); /* nothing in flight */
    ck_assert(!mta_spool_commit_inflight(s));
    stage_msgs(s, seen, 0, 10, 700);
    uint64_t syncs0 = mta_spool_journal_syncs(s);
    double t0 = mono_s();
    ck_assert_int_eq(mta_spool_commit_async(s, err, sizeof err), 20);
    ck_assert_uint_eq(mta_spool_staged(s), 0);
    ck_assert(mta_spool_commit_inflight(s));
    ck_assert(mta_spool_writer_busy(s));
    ck_assert_int_eq(mta_spool_commit_poll(s, 0, err, sizeof err), 0);
    ck_assert_uint_eq(mta_spool_journal_syncs(s), syncs0);
    stage_msgs(s, seen, 10, 20, 700); /* the next batch, meanwhile */
    ck_assert_uint_eq(mta_spool_staged(s), 20);
    {
        struct pollfd pf = { nfd[0], POLLIN, 0 };
        uint8_t b[16];
        ck_assert_int_eq(poll(&pf, 1, 10000), 1);
        ck_assert_msg(mono_s() - t0 >= 0.29, "woken after %.3f s, before the 300 ms fdatasync", mono_s() - t0);
        while (read(nfd[0], b, sizeof b) > 0) {}
    }
    ck_assert_int_eq(mta_spool_commit_poll(s, 0, err, sizeof err), 1);
    ck_assert_int_eq(mta_spool_commit_poll(s, 0, err, sizeof err), 0); /* reported once */
    ck_assert(!mta_spool_commit_inflight(s));
    ck_assert_uint_eq(mta_spool_journal_syncs(s), syncs0 + 1);
    ck_assert_int_eq((uint64_t)fsize(jpath), mta_spool_journal_bytes(s));
    /* the second one waits for the first's files (one batch at a time) */
    ck_assert_int_eq(mta_spool_commit_async(s, err, sizeof err), 20);
    ck_assert_int_eq(mta_spool_commit_poll(s, 1, err, sizeof err), 1);
    ck_assert_uint_eq(mta_spool_journal_syncs(s), syncs0 + 2);
    ck_assert_int_eq(list_count(s, MTA_SPOOL_INBOX), 20);
    check_msgs(s, seen, 0, 20, 700);
    /* a synchronous commit with a batch in flight: the journal appended by
     * one thread at a time, the report kept */
    stage_msgs(s, seen, 20, 21, 700);
    ck_assert_int_eq(mta_spool_commit_async(s, err, sizeof err), 2);
    stage_msgs(s, seen, 21, 22, 700);
    ck_assert_int_eq(mta_spool_commit(s, err, sizeof err), 2);
    ck_assert_int_eq(mta_spool_commit_poll(s, 0, err, sizeof err), 1);
    ck_assert_int_eq((uint64_t)fsize(jpath), mta_spool_journal_bytes(s));
    /* a checkpoint with a batch in flight: the batch first, then the
     * journal emptied (and its length 0, not the batch's) */
    stage_msgs(s, seen, 22, 24, 700);
    ck_assert_int_eq(mta_spool_commit_async(s, err, sizeof err), 4);
    ck_assert_int_eq(mta_spool_checkpoint(s, seen, err, sizeof err), 0);
    ck_assert_int_eq(mta_spool_commit_poll(s, 0, err, sizeof err), 1);
    ck_assert_int_eq(fsize(jpath), 0);
    ck_assert_uint_eq(mta_spool_journal_bytes(s), 0);
    /* close with a batch in flight finishes it */
    stage_msgs(s, seen, 24, 26, 700);
    ck_assert_int_eq(mta_spool_commit_async(s, err, sizeof err), 4);
    mta_spool_close(s);
    x400_p1_idset_free(seen);
    seen = idset_new();
    s = sopen(dir, 1, seen);
    ck_assert_int_eq(list_count(s, MTA_SPOOL_INBOX), 26);
    check_msgs(s, seen, 0, 26, 700);
    mta_spool_close(s);
    x400_p1_idset_free(seen);
    close(nfd[0]);
    close(nfd[1]);
    rm_tree(dir);
}
END_TEST

/* A batch whose journal append fails (the file size limit, as a full
 * disk) is never reported durable: commit_poll fails (sticky), later
 * commits fail, and a reopen finds nothing of it. */
START_TEST(commit_async_failure_never_reported)
{
    char dir[512], err[512];
    tdir(dir);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        x400_p1_idset *seen = NULL;
        mta_spool *s = NULL;
        struct rlimit rl = { 64 * 1024, 64 * 1024 };
        signal(SIGXFSZ, SIG_IGN);
        if (x400_p1_idset_new(&seen, 1u << 16, NULL) != X400_OK) _exit(2);
        if (mta_spool_open(&s, dir, 1, seen, err, sizeof err) != 0) _exit(3);
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(4);
        stage_msgs(s, seen, 0, 1, 100);
        if (mta_spool_commit_async(s, err, sizeof err) != 2) _exit(5);
        if (mta_spool_commit_poll(s, 1, err, sizeof err) != 1) _exit(6);
        stage_msgs(s, seen, 1, 2, 200000); /* beyond the limit */
        if (mta_spool_commit_async(s, err, sizeof err) != 2) _exit(7);
        err[0] = 0;
        if (mta_spool_commit_poll(s, 1, err, sizeof err) != -1) _exit(8);
        if (!strstr(err, "journal write")) _exit(9);
        if (mta_spool_commit_poll(s, 0, err, sizeof err) != -1) _exit(10); /* sticky */
        stage_seen_n(s, 3);
        if (mta_spool_commit_async(s, err, sizeof err) != -1 || !strstr(err, "reopen")) _exit(11);
        mta_spool_close(s);
        x400_p1_idset_free(seen);
        _exit(0);
    }
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
    x400_p1_idset *seen = idset_new();
    mta_spool *s = sopen(dir, 1, seen);
    ck_assert_int_eq(list_count(s, MTA_SPOOL_INBOX), 1);
    check_msgs(s, seen, 0, 1, 100);
    ck_assert(!idset_has(seen, 1) && !idset_has(seen, 3));
    mta_spool_close(s);
    x400_p1_idset_free(seen);
    rm_tree(dir);
}
END_TEST

/* SIGKILL at random points of the pipelined commit cycle, as the MTA runs
 * it (stage; each turn: collect a durable batch and "confirm" it, hand the
 * staged batch over when the thread is free; now and then a checkpoint),
 * with the journal's fdatasync slowed to 3 ms so that kills land while a
 * batch is in flight: everything confirmed is there after the reopen,
 * whole, and what survived is exactly a prefix of batches -- no message
 * without its MTSID, no MTSID without its message. */
START_TEST(sigkill_async_commit)
{
    char dir[512], err[512];
    tdir(dir);
    unsigned total = 0;
    srand(4242);
    for (unsigned round = 0; round < 8; round++) {
        int pfd[2];
        x400_p1_idset *child_seen;
        mta_spool *child_s;
        pid_t pid = spool_child(dir, pfd, "3", NULL, &child_s, &child_seen);
        if (pid == 0) {
            x400_p1_idset *seen = child_seen;
            mta_spool *s = child_s;
            uint32_t inflight_upto = 0;
            for (unsigned k = total;; k++) {
                int rc = stage_numbered(s, seen, k);
                if (rc) _exit(rc);
                if (k % 5 == 4) { /* a turn ends */
                    int r = mta_spool_commit_poll(s, 0, err, sizeof err);
                    if (r < 0) _exit(7);
                    if (r == 1 && write(pfd[1], &inflight_upto, sizeof inflight_upto) != (ssize_t)sizeof inflight_upto)
                        _exit(8);
                    if (!mta_spool_writer_busy(s) && !mta_spool_commit_inflight(s)) {
                        if (mta_spool_commit_async(s, err, sizeof err) < 0) _exit(9);
                        inflight_upto = k + 1;
                    }
                }
                if (k % 97 == 96 && mta_spool_checkpoint(s, seen, err, sizeof err) != 0) _exit(10);
            }
        }
        uint32_t confirmed = kill_at_random(pid, pfd, total);
        x400_p1_idset *seen = idset_new();
        mta_spool *s = sopen(dir, 1, seen);
        unsigned now_total = (unsigned)list_count(s, MTA_SPOOL_INBOX);
        ck_assert_msg(now_total >= confirmed, "round %u: %u confirmed, %u there", round, confirmed, now_total);
        /* a prefix, whole: every message with its MTSID, no MTSID beyond */
        check_msgs(s, seen, 0, now_total, 0);
        for (unsigned k = now_total; k < now_total + 64; k++)
            ck_assert_msg(!idset_has(seen, k), "round %u: MTSID %u without its message", round, k);
        total = now_total;
        mta_spool_close(s);
        x400_p1_idset_free(seen);
    }
    ck_assert_uint_gt(total, 0);
    rm_tree(dir);
}
END_TEST

/* ---- checkpoints off the loop (mta_spool_checkpoint_async) ---- */

/* The `seen` file as a set of its own (the checkpoint wrote it). */
static x400_p1_idset *seen_file(const char *dir)
{
    char path[700];
    x400_p1_idset *set = idset_new();
    x400_diag d;
    memset(&d, 0, sizeof d);
    pathf(path, sizeof path, dir, NULL, "seen");
    ck_assert_msg(x400_p1_idset_load_file(set, path, &d) == X400_OK, "seen: %s", d.text);
    return set;
}

/* With every checkpoint's syncfs made 600 ms slower (test hook), the
 * asynchronous checkpoint returns at once and commits go on meanwhile into
 * a fresh journal: a batch handed after it is durable (and applied) while
 * the checkpoint is still in flight, "journal-old" holds the batches
 * before it.  The checkpoint then reports once; it saved the set as it
 * was at its start (the later batch's MTSIDs are in the journal, not in
 * `seen`), removed "journal-old", and a second one in flight is refused
 * (EBUSY, not a failure), as is one with a batch staged.  A reopen finds
 * everything. */
START_TEST(checkpoint_async_does_not_block)
{
    char dir[512], err[512], jpath[700], opath[700];
    uint8_t *blob = NULL;
    size_t blen = 0;
    tdir(dir);
    pathf(jpath, sizeof jpath, dir, NULL, "journal");
    pathf(opath, sizeof opath, dir, NULL, "journal-old");
    ck_assert_int_eq(setenv("X400MTA_TEST_CHECKPOINT_DELAY_MS", "600", 1), 0);
    x400_p1_idset *seen = idset_new();
    mta_spool *s = sopen(dir, 1, seen);
    ck_assert_int_eq(unsetenv("X400MTA_TEST_CHECKPOINT_DELAY_MS"), 0);
    stage_msgs(s, seen, 0, 10, 700);
    ck_assert_int_eq(mta_spool_commit_async(s, err, sizeof err), 20);
    /* a batch staged: refused, nothing changed */
    stage_msgs(s, seen, 10, 11, 700);
    errno = 0;
    ck_assert_int_eq(mta_spool_checkpoint_async(s, NULL, 0, err, sizeof err), -1);
    ck_assert_int_eq(errno, EBUSY);
    ck_assert(!mta_spool_checkpoint_inflight(s));
    ck_assert_int_eq(mta_spool_commit_poll(s, 1, err, sizeof err), 1);
    ck_assert_int_eq(mta_spool_commit_async(s, err, sizeof err), 2);
    /* nothing staged, a batch in flight: it belongs to the old journal */
    ck_assert_int_eq(x400_p1_idset_save(seen, &blob, &blen), X400_OK);
    double t0 = mono_s();
    ck_assert_int_eq(mta_spool_checkpoint_async(s, blob, blen, err, sizeof err), 0);
    ck_assert_msg(mono_s() - t0 < 0.3, "checkpoint_async took %.3f s", mono_s() - t0);
    ck_assert(mta_spool_checkpoint_inflight(s));
    ck_assert_uint_eq(mta_spool_journal_bytes(s), 0);
    errno = 0;
    ck_assert_int_eq(mta_spool_checkpoint_async(s, blob, blen, err, sizeof err), -1);
    ck_assert_int_eq(errno, EBUSY);
    ck_assert_int_eq(mta_spool_commit_poll(s, 1, err, sizeof err), 1);
    /* commits go on while it runs */
    stage_msgs(s, seen, 11, 20, 700);
    ck_assert_int_eq(mta_spool_commit_async(s, err, sizeof err), 18);
    ck_assert_int_eq(mta_spool_commit_poll(s, 1, err, sizeof err), 1);
    ck_assert_int_eq(mta_spool_checkpoint_poll(s, 0, err, sizeof err), 0);
    ck_assert_msg(mta_spool_checkpoint_inflight(s), "the checkpoint ended before the commit (%.3f s)", mono_s() - t0);
    ck_assert(exists(opath));
    ck_assert_int_eq((uint64_t)fsize(jpath), mta_spool_journal_bytes(s));
    ck_assert_uint_gt(mta_spool_journal_bytes(s), 9 * 700);
    check_msgs(s, seen, 0, 20, 700);
    /* done: reported once, the old journal gone, `seen` as at its start */
    ck_assert_int_eq(mta_spool_checkpoint_poll(s, 1, err, sizeof err), 1);
    ck_assert_msg(mono_s() - t0 >= 0.59, "done after %.3f s, before its 600 ms syncfs", mono_s() - t0);
    ck_assert_int_eq(mta_spool_checkpoint_poll(s, 0, err, sizeof err), 0);
    ck_assert(!mta_spool_checkpoint_inflight(s));
    ck_assert(!exists(opath));
    free(blob);
    {
        x400_p1_idset *f = seen_file(dir);
        for (unsigned k = 0; k < 11; k++) ck_assert_msg(idset_has(f, k), "%u not saved", k);
        for (unsigned k = 11; k < 20; k++) ck_assert_msg(!idset_has(f, k), "%u saved before its batch", k);
        x400_p1_idset_free(f);
    }
    mta_spool_close(s);
    x400_p1_idset_free(seen);
    seen = idset_new();
    s = sopen(dir, 1, seen);
    ck_assert_int_eq(list_count(s, MTA_SPOOL_INBOX), 20);
    check_msgs(s, seen, 0, 20, 700);
    mta_spool_close(s);
    x400_p1_idset_free(seen);
    rm_tree(dir);
}
END_TEST

/* Killed in the middle of a rotation: the checkpoint stuck in its syncfs
 * (5 s, test hook), a batch in the new journal; "journal-old" and
 * "journal" are both there.  The reopen replays both, in order, whatever
 * the state of the old one's tail: cut at every offset of its last
 * record, the earlier batches and the new journal's batch are all there,
 * and nothing of the cut batch half. */
START_TEST(checkpoint_async_crash_in_rotation)
{
    char dir[512], err[512], opath[700];
    uint8_t *img;
    size_t len, last;
    tdir(dir);
    pathf(opath, sizeof opath, dir, NULL, "journal-old");
    x400_p1_idset *child_seen;
    mta_spool *child_s;
    pid_t pid = spool_child(dir, NULL, NULL, "5000", &child_s, &child_seen);
    if (pid == 0) {
        x400_p1_idset *seen = child_seen;
        mta_spool *s = child_s;
        uint8_t *blob;
        size_t blen;
        for (unsigned k = 0; k < 3; k++) {
            if (stage_numbered(s, seen, k) != 0) _exit(4);
            if (mta_spool_commit_async(s, err, sizeof err) != 2) _exit(5);
            if (mta_spool_commit_poll(s, 1, err, sizeof err) != 1) _exit(6);
        }
        if (x400_p1_idset_save(seen, &blob, &blen) != X400_OK) _exit(7);
        if (mta_spool_checkpoint_async(s, blob, blen, err, sizeof err) != 0) _exit(8);
        if (stage_numbered(s, seen, 3) != 0) _exit(9);
        if (mta_spool_commit_async(s, err, sizeof err) != 2) _exit(10);
        if (mta_spool_commit_poll(s, 1, err, sizeof err) != 1) _exit(11);
        if (mta_spool_checkpoint_poll(s, 0, err, sizeof err) != 0) _exit(12);
        _exit(0); /* as killed: no close, the checkpoint never ends */
    }
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
    ck_assert(exists(opath));
    img = read_raw(opath, &len);
    /* the old journal's last batch: message 2 (its file, MTSID, end marker) */
    {
        const uint8_t *m = NULL;
        for (size_t i = len; i-- > 4;)
            if (!memcmp(img + i - 4, "XMJ1", 4) && img[i + 8] == 1) { m = img + i - 4; break; }
        ck_assert_ptr_nonnull(m);
        last = (size_t)(m - img);
    }
    for (size_t cut = last; cut <= len; cut += (cut < last + 16 || cut + 16 > len ? 1 : 53)) {
        char d2[512];
        tdir(d2);
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "cp -a '%s/.' '%s/'", dir, d2);
        ck_assert_int_eq(system(cmd), 0);
        pathf(opath, sizeof opath, d2, NULL, "journal-old");
        write_raw(opath, img, cut);
        /* the inbox files written before the kill would hide a replay
         * that skipped the journals: gone */
        for (unsigned k = 0; k < 4; k++) {
            char p[700], n[32];
            snprintf(n, sizeof n, "m%05u.apdu", k);
            pathf(p, sizeof p, d2, "inbox", n);
            (void)unlink(p);
        }
        x400_p1_idset *seen = idset_new();
        mta_spool *s = sopen(d2, 1, seen);
        int whole = cut == len;
        ck_assert_int_eq(list_count(s, MTA_SPOOL_INBOX), whole ? 4 : 3);
        check_msgs(s, seen, 0, 2, 0);
        check_msgs(s, seen, 3, 4, 0);
        ck_assert_msg(idset_has(seen, 2) == whole, "cut %zu: MTSID 2 %s", cut, whole ? "lost" : "without its message");
        if (whole) check_msgs(s, seen, 2, 3, 0);
        ck_assert(!exists(opath));
        mta_spool_close(s);
        x400_p1_idset_free(seen);
        rm_tree(d2);
    }
    free(img);
    rm_tree(dir);
}
END_TEST


/* The SIGKILL children's turn of the pipelined cycle, as the manager runs
 * it: a durable batch reported to the parent (the count staged when it was
 * handed over), the next batch handed over when the committer is free, a
 * finished checkpoint collected and, when `start_checkpoint` and nothing is
 * staged, the next one started with the received set as it is.  0, or the
 * child's exit status. */
static int pipelined_turn(mta_spool *s, x400_p1_idset *seen, int report_fd, unsigned k, uint32_t *inflight_upto,
                          uint8_t **blob, size_t *blen, int start_checkpoint)
{
    char err[512];
    int r = mta_spool_commit_poll(s, 0, err, sizeof err);
    if (r < 0) return 7;
    if (r == 1 && write(report_fd, inflight_upto, sizeof *inflight_upto) != (ssize_t)sizeof *inflight_upto) return 8;
    if (!mta_spool_writer_busy(s) && !mta_spool_commit_inflight(s)) {
        if (mta_spool_commit_async(s, err, sizeof err) < 0) return 9;
        *inflight_upto = k;
    }
    r = mta_spool_checkpoint_poll(s, 0, err, sizeof err);
    if (r < 0) return 10;
    if (r == 1) {
        free(*blob);
        *blob = NULL;
    }
    if (start_checkpoint && !mta_spool_checkpoint_inflight(s) && mta_spool_staged(s) == 0) {
        if (x400_p1_idset_save(seen, blob, blen) != X400_OK) return 11;
        if (mta_spool_checkpoint_async(s, *blob, *blen, err, sizeof err) != 0) return 12;
    }
    return 0;
}
/* SIGKILL at random points of the pipelined cycle with checkpoints off
 * the loop started whenever none is in flight and nothing is staged
 * (their syncfs slowed to 40 ms, the fdatasync to 3 ms, so that kills
 * land in every state of a rotation): after the reopen everything
 * confirmed is there, whole, and what survived is exactly a prefix of
 * batches -- no message without its MTSID, no MTSID without its message;
 * no "journal-old" left; and some kills did find one. */
START_TEST(sigkill_async_checkpoint)
{
    char dir[512], opath[700];
    unsigned total = 0, found_old = 0;
    tdir(dir);
    pathf(opath, sizeof opath, dir, NULL, "journal-old");
    srand(777);
    for (unsigned round = 0; round < 8; round++) {
        int pfd[2];
        x400_p1_idset *child_seen;
        mta_spool *child_s;
        pid_t pid = spool_child(dir, pfd, "3", "40", &child_s, &child_seen);
        if (pid == 0) {
            x400_p1_idset *seen = child_seen;
            mta_spool *s = child_s;
            uint8_t *blob = NULL;
            size_t blen;
            uint32_t inflight_upto = 0;
            /* at most 300 messages a round (the parent's set holds 4096:
             * nothing here blocks the loop, which stages very fast) */
            for (unsigned k = total;;) {
                if (k < total + 300) {
                    int rc = stage_numbered(s, seen, k);
                    if (rc) _exit(rc);
                    if (++k % 5) continue; /* a turn ends */
                } else {
                    usleep(1000);
                }
                int rc = pipelined_turn(s, seen, pfd[1], k, &inflight_upto, &blob, &blen, 1);
                if (rc) _exit(rc);
            }
        }
        uint32_t confirmed = kill_at_random(pid, pfd, total);
        found_old += exists(opath);
        x400_p1_idset *seen = idset_new();
        mta_spool *s = sopen(dir, 1, seen);
        unsigned now_total = (unsigned)list_count(s, MTA_SPOOL_INBOX);
        ck_assert_msg(now_total >= confirmed, "round %u: %u confirmed, %u there", round, confirmed, now_total);
        check_msgs(s, seen, 0, now_total, 0);
        for (unsigned k = now_total; k < now_total + 64; k++)
            ck_assert_msg(!idset_has(seen, k), "round %u: MTSID %u without its message", round, k);
        ck_assert(!exists(opath));
        total = now_total;
        mta_spool_close(s);
        x400_p1_idset_free(seen);
    }
    ck_assert_uint_gt(total, 0);
    ck_assert_msg(found_old > 0, "no kill landed while a checkpoint was in flight");
    rm_tree(dir);
}
END_TEST

/* ---- large files written once (journal references) ---- */

#define BIG (300u << 10)

/* Message k's size in the write-once tests: every fourth one large. */
static size_t big_len(unsigned k) { return k % 4 == 0 ? BIG + k % 1000 : 512 + k % 1500; }

static int any_tmp(const char *dir, const char *sub)
{
    char p[700];
    struct dirent *de;
    int found = 0;
    pathf(p, sizeof p, dir, NULL, sub);
    DIR *d = opendir(p);
    ck_assert_ptr_nonnull(d);
    while ((de = readdir(d)) != NULL)
        if (strlen(de->d_name) > 4 && !strcmp(de->d_name + strlen(de->d_name) - 4, ".tmp")) found = 1;
    closedir(d);
    return found;
}

/* A file of 256 KiB or more is written once: the journal holds a
 * reference (not its octets), the file is durable under "<name>.tmp"
 * before the journal is, and renamed into place when the batch is applied.
 * A crash after the journal's fdatasync and before the rename (a durable
 * batch never applied) is repaired by the replay; a temporary file of a
 * batch that never reached the journal is removed at open, and one in
 * submit/ (a `submit` in progress) is left alone. */
START_TEST(large_file_written_once)
{
    char dir[512], err[512], jpath[700], p[700];
    tdir(dir);
    pathf(jpath, sizeof jpath, dir, NULL, "journal");
    x400_p1_idset *seen = idset_new();
    mta_spool *s = sopen(dir, 1, seen);
    stage_body(s, MTA_SPOOL_INBOX, "big1", 1, BIG);
    stage_seen_n(s, 1);
    ck_assert_int_eq(mta_spool_commit(s, err, sizeof err), 2);
    ck_assert_int_lt(fsize(jpath), 4096);
    ck_assert_int_eq((uint64_t)fsize(jpath), mta_spool_journal_bytes(s));
    check_body(s, MTA_SPOOL_INBOX, "big1", 1, BIG);
    ck_assert(!any_tmp(dir, "inbox"));
    /* durable, never applied (as killed between the two) */
    stage_body(s, MTA_SPOOL_INBOX, "big2", 2, BIG + 7);
    stage_body(s, MTA_SPOOL_INBOX, "small2", 3, 100);
    stage_seen_n(s, 2);
    ck_assert_int_eq(mta_spool_commit_durable(s, err, sizeof err), 3);
    pathf(p, sizeof p, dir, "inbox", "big2.tmp");
    ck_assert(exists(p));
    pathf(p, sizeof p, dir, "inbox", "big2");
    ck_assert(!exists(p));
    mta_spool_close(s);
    x400_p1_idset_free(seen);
    /* a batch torn before its journal record: only its temporary file */
    pathf(p, sizeof p, dir, "inbox", "big3.tmp");
    write_raw(p, (const uint8_t *)"partial", 7);
    pathf(p, sizeof p, dir, "submit", "s1.tmp");
    write_raw(p, (const uint8_t *)"submitting", 10);
    seen = idset_new();
    s = sopen(dir, 1, seen);
    check_body(s, MTA_SPOOL_INBOX, "big1", 1, BIG);
    check_body(s, MTA_SPOOL_INBOX, "big2", 2, BIG + 7);
    check_body(s, MTA_SPOOL_INBOX, "small2", 3, 100);
    ck_assert_int_eq(list_count(s, MTA_SPOOL_INBOX), 3);
    ck_assert(idset_has(seen, 1) && idset_has(seen, 2));
    ck_assert(!any_tmp(dir, "inbox"));
    ck_assert(exists(p)); /* submit/s1.tmp */
    mta_spool_close(s);
    x400_p1_idset_free(seen);
    rm_tree(dir);
}
END_TEST

/* SIGKILL at random points of the pipelined cycle with every fourth
 * message large (written once, by reference) and checkpoints off the loop:
 * everything confirmed is there, whole; what survived is a prefix of
 * batches; no temporary file is left after the reopen. */
START_TEST(sigkill_large_write_once)
{
    char dir[512];
    unsigned total = 0;
    tdir(dir);
    srand(99);
    for (unsigned round = 0; round < 8; round++) {
        int pfd[2];
        x400_p1_idset *child_seen;
        mta_spool *child_s;
        pid_t pid = spool_child(dir, pfd, NULL, "20", &child_s, &child_seen);
        if (pid == 0) {
            x400_p1_idset *seen = child_seen;
            mta_spool *s = child_s;
            uint8_t *blob = NULL, *b = malloc(BIG + 1000);
            size_t blen;
            uint32_t inflight_upto = 0;
            if (!b) _exit(1);
            for (unsigned k = total;;) {
                if (k < total + 200) {
                    char name[32], t[X400_MTSID_TEXT_MAX];
                    mta_spool_hdr h;
                    x400_mtsid id;
                    hdr_min(&h, "message");
                    snprintf(h.peer, sizeof h.peer, "MTA-B");
                    h.time_ms = k;
                    body_fill(b, big_len(k), k);
                    snprintf(name, sizeof name, "m%05u.apdu", k);
                    mtsid_text(t, sizeof t, k);
                    if (mta_spool_stage_file(s, MTA_SPOOL_INBOX, name, &h, b, big_len(k)) != 0) _exit(4);
                    if (mta_spool_stage_seen(s, t) != 0) _exit(5);
                    if (x400_mtsid_parse(t, strlen(t), &id, NULL) != X400_OK) _exit(6);
                    (void)x400_p1_idset_insert(seen, &id);
                    if (++k % 3) continue;
                } else {
                    usleep(1000);
                }
                int rc = pipelined_turn(s, seen, pfd[1], k, &inflight_upto, &blob, &blen, k % 30 == 0);
                if (rc) _exit(rc);
            }
        }
        uint32_t confirmed = kill_at_random(pid, pfd, total);
        x400_p1_idset *seen = idset_new();
        mta_spool *s = sopen(dir, 1, seen);
        unsigned now_total = (unsigned)list_count(s, MTA_SPOOL_INBOX);
        ck_assert_msg(now_total >= confirmed, "round %u: %u confirmed, %u there", round, confirmed, now_total);
        for (unsigned k = 0; k < now_total; k++) {
            char name[32];
            snprintf(name, sizeof name, "m%05u.apdu", k);
            check_body(s, MTA_SPOOL_INBOX, name, k, big_len(k));
            ck_assert_msg(idset_has(seen, k), "round %u: %u not in seen", round, k);
        }
        for (unsigned k = now_total; k < now_total + 64; k++)
            ck_assert_msg(!idset_has(seen, k), "round %u: MTSID %u without its message", round, k);
        ck_assert(!any_tmp(dir, "inbox"));
        total = now_total;
        mta_spool_close(s);
        x400_p1_idset_free(seen);
    }
    ck_assert_uint_gt(total, 0);
    rm_tree(dir);
}
END_TEST

/* ---- RTSE receiver records (spool rtse/) ---- */

uint32_t x400i_crc32(const uint8_t *p, size_t n); /* lib/internal.h */

static size_t put_be(uint8_t *b, size_t o, uint64_t v, int octets)
{
    for (int i = 0; i < octets; i++) b[o + (size_t)i] = (uint8_t)(v >> (8 * (octets - 1 - i)));
    return o + (size_t)octets;
}

/* A RECEIVING record (lib/rtse_record.c layout) of activity `act` with
 * `delivered` octets, one checkpoint (1, delivered). */
static size_t rtse_rec(uint8_t *b, uint8_t act, uint64_t delivered)
{
    size_t o = 0;
    memcpy(b, "XRTR", 4);
    o = put_be(b, 4, X400_RTSE_RECORD_VERSION, 1);
    o = put_be(b, o, X400_RTSE_RECORD_RECEIVING, 1);
    o = put_be(b, o, 1000, 8);             /* saved */
    o = put_be(b, o, 61000, 8);            /* expires */
    o = put_be(b, o, 1, 1);                /* activity id */
    b[o++] = act;
    o = put_be(b, o, 3, 1);                /* calling reference */
    memcpy(b + o, "A/1", 3);
    o += 3;
    o = put_be(b, o, 0, 1);                /* common */
    o = put_be(b, o, 0, 1);                /* additional */
    o = put_be(b, o, delivered, 8);        /* secured */
    o = put_be(b, o, delivered, 8);        /* total */
    o = put_be(b, o, 1, 1);                /* raw */
    o = put_be(b, o, 0, 1);                /* hdr_done */
    o = put_be(b, o, 0, 2);                /* hdr_len */
    o = put_be(b, o, 0, 8);                /* content_len */
    o = put_be(b, o, 0, 4);                /* after, after_seen, hold_need, hold_len */
    o = put_be(b, o, 0, 4);                /* hold */
    o = put_be(b, o, delivered, 8);        /* delivered */
    o = put_be(b, o, 1, 1);                /* ring count */
    o = put_be(b, o, 1, 4);
    o = put_be(b, o, delivered, 8);
    return put_be(b, o, x400i_crc32(b, o), 4);
}

/* Records saved as a transfer grows (octets appended, slots alternating)
 * load back as the last one; another activity starts the octets afresh;
 * erase removes the file. */
START_TEST(rtse_records)
{
    char dir[512], err[512], **names = NULL;
    uint8_t rec[256], oct[100000];
    size_t rl;
    mta_spool *s;
    mta_spool_rtse f, g;
    mta_spool_rtse_loaded ld;
    tdir(dir);
    s = sopen(dir, 1, NULL);
    body_fill(oct, sizeof oct, 7);
    memset(&f, 0, sizeof f);
    snprintf(f.name, sizeof f.name, "r-1-1");
    ck_assert_int_eq(mta_spool_rtse_list(s, &names, err, sizeof err), 0);     /* no directory yet */
    for (size_t n = 0; n <= sizeof oct; n += 30000) {
        rl = rtse_rec(rec, 1, n);
        ck_assert_int_eq(mta_spool_rtse_save(s, &f, "MTA-A", rec, rl, oct, n, 5, 6, err, sizeof err), 0);
        ck_assert_int_eq(mta_spool_rtse_load(s, "r-1-1", &ld, &g, err, sizeof err), 0);
        ck_assert_str_eq(ld.peer, "MTA-A");
        ck_assert_uint_eq(ld.octets_len, n);
        ck_assert(n == 0 || !memcmp(ld.octets, oct, n));
        ck_assert_uint_eq(ld.rec_len, rl);
        ck_assert(!memcmp(ld.rec, rec, rl));
        ck_assert_uint_eq(ld.mono_ms, 5);
        ck_assert_uint_eq(ld.wall_ms, 6);
        ck_assert_uint_eq(g.seq, f.seq);       /* saving goes on after the slot read */
        ck_assert_uint_eq(g.crc, f.crc);
        free(ld.octets);
    }
    /* another activity: its octets replace the old ones */
    rl = rtse_rec(rec, 2, 100);
    ck_assert_int_eq(mta_spool_rtse_save(s, &f, "MTA-A", rec, rl, oct + 500, 100, 5, 6, err, sizeof err), 0);
    ck_assert_int_eq(mta_spool_rtse_load(s, "r-1-1", &ld, NULL, err, sizeof err), 0);
    ck_assert_uint_eq(ld.octets_len, 100);
    ck_assert(!memcmp(ld.octets, oct + 500, 100));
    free(ld.octets);
    ck_assert_int_eq(mta_spool_rtse_list(s, &names, err, sizeof err), 1);
    ck_assert_str_eq(names[0], "r-1-1");
    mta_spool_names_free(names, 1);
    /* bad arguments: a record that does not check, a peer name too long */
    rec[5] ^= 1;
    ck_assert_int_eq(mta_spool_rtse_save(s, &f, "MTA-A", rec, rl, oct, 100, 5, 6, err, sizeof err), -1);
    rec[5] ^= 1;
    ck_assert_int_eq(mta_spool_rtse_save(s, &f, "0123456789012345678901234567890123456789012345678901234567890123",
                                         rec, rl, oct, 100, 5, 6, err, sizeof err), -1);
    mta_spool_rtse_erase(s, &f);
    ck_assert_int_eq(mta_spool_rtse_list(s, &names, err, sizeof err), 0);
    ck_assert_int_eq(mta_spool_rtse_load(s, "r-1-1", &ld, NULL, err, sizeof err), -1);
    mta_spool_close(s);
    rm_tree(dir);
}
END_TEST

/* A damaged record file never loads as something else: every one-octet
 * change and every truncation either loads exactly what was saved (the
 * older slot, or the damage fell in unused space) or is refused. */
START_TEST(rtse_record_damage)
{
    char dir[512], err[512], path[700];
    uint8_t rec[256], oct[70000], rec1[256], *img;
    size_t rl, rl1, len;
    mta_spool *s;
    mta_spool_rtse f;
    mta_spool_rtse_loaded ld;
    tdir(dir);
    s = sopen(dir, 1, NULL);
    body_fill(oct, sizeof oct, 9);
    memset(&f, 0, sizeof f);
    snprintf(f.name, sizeof f.name, "r-2-2");
    rl1 = rtse_rec(rec1, 1, 30000);
    ck_assert_int_eq(mta_spool_rtse_save(s, &f, "MTA-A", rec1, rl1, oct, 30000, 5, 6, err, sizeof err), 0);
    rl = rtse_rec(rec, 1, 60000);
    ck_assert_int_eq(mta_spool_rtse_save(s, &f, "MTA-A", rec, rl, oct, 60000, 5, 6, err, sizeof err), 0);
    snprintf(path, sizeof path, "%s/rtse/r-2-2", dir);
    img = read_raw(path, &len);
    ck_assert_uint_eq(len, 2 * MTA_RTSE_SLOT + 60000);
    for (size_t i = 0; i < len; i += (i < 2 * MTA_RTSE_SLOT ? 1 : 997)) {
        int r;
        img[i] ^= 0x5a;
        write_raw(path, img, len);
        img[i] ^= 0x5a;
        r = mta_spool_rtse_load(s, "r-2-2", &ld, NULL, err, sizeof err);
        if (r == 0) {
            int newest = ld.octets_len == 60000 && ld.rec_len == rl && !memcmp(ld.rec, rec, rl);
            int older = ld.octets_len == 30000 && ld.rec_len == rl1 && !memcmp(ld.rec, rec1, rl1);
            ck_assert_msg(newest || older, "octet %zu changed: loaded something else", i);
            ck_assert(!memcmp(ld.octets, oct, ld.octets_len));
            ck_assert_str_eq(ld.peer, "MTA-A");
            free(ld.octets);
        }
    }
    for (size_t n = 0; n < len; n += (n < 2 * MTA_RTSE_SLOT + 8 ? 1 : 4999)) {
        write_raw(path, img, n);
        if (mta_spool_rtse_load(s, "r-2-2", &ld, NULL, err, sizeof err) == 0) {
            ck_assert_msg(ld.octets_len == 30000 && n >= 2 * MTA_RTSE_SLOT + 30000, "cut at %zu", n);
            free(ld.octets);
        }
    }
    free(img);
    mta_spool_close(s);
    rm_tree(dir);
}
END_TEST

/* The MTA's heap counter (heap.c): live bytes and blocks as asked. */
START_TEST(heap_counts_live_bytes)
{
    mta_heap h;
    void *a, *b, *c;
    mta_heap_init(&h);
    a = h.a.malloc(100, h.a.user);
    b = h.a.calloc(10, 30, h.a.user);
    ck_assert_uint_eq(h.live, 400);
    ck_assert_uint_eq(h.blocks, 2);
    ck_assert(((const uint8_t *)b)[299] == 0);
    a = h.a.realloc(a, 1000, h.a.user);
    ck_assert_uint_eq(h.live, 1300);
    ck_assert_uint_eq(h.peak, 1300);
    c = h.a.realloc(NULL, 5, h.a.user);
    h.a.free(a, h.a.user);
    h.a.free(b, h.a.user);
    h.a.free(NULL, h.a.user);
    ck_assert_uint_eq(h.live, 5);
    ck_assert_uint_eq(h.blocks, 1);
    ck_assert_ptr_null(h.a.calloc(SIZE_MAX / 2, 4, h.a.user));
    ck_assert_ptr_null(h.a.malloc(SIZE_MAX - 4, h.a.user));
    mta_heap_free(&h, c);
    ck_assert_uint_eq(h.live, 0);
    ck_assert_uint_eq(h.blocks, 0);
    ck_assert_uint_eq(h.peak, 1305);
}
END_TEST

Suite *x400t_suite_mtaspool(void)
{
    Suite *su = suite_create("mtaspool");
    TCase *tc = tcase_create("spool");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, submit_roundtrip);
    tcase_add_test(tc, header_fields);
    tcase_add_test(tc, corrupt_files);
    tcase_add_test(tc, stage_commit);
    tcase_add_test(tc, crash_replay);
    tcase_add_test(tc, torn_tail);
    tcase_add_test(tc, crash_child);
    tcase_add_test(tc, checkpoint);
    tcase_add_test(tc, sticky_failure);
    tcase_add_test(tc, locking);
    tcase_add_test(tc, tool_replay);
    tcase_add_test(tc, snapshots);
    tcase_add_test(tc, snapshots_without_the_journal);
    tcase_add_test(tc, bounds);
    tcase_add_test(tc, commit_durable_then_apply);
    tcase_add_test(tc, transferred_removal_unsynced);
    tcase_add_test(tc, async_apply_failure_sticky);
    tcase_add_test(tc, sigkill_async_apply);
    tcase_add_test(tc, commit_async_reports_only_durable);
    tcase_add_test(tc, commit_async_failure_never_reported);
    tcase_add_test(tc, sigkill_async_commit);
    tcase_add_test(tc, checkpoint_async_does_not_block);
    tcase_add_test(tc, checkpoint_async_crash_in_rotation);
    tcase_add_test(tc, sigkill_async_checkpoint);
    tcase_add_test(tc, large_file_written_once);
    tcase_add_test(tc, sigkill_large_write_once);
    tcase_add_test(tc, rtse_records);
    tcase_add_test(tc, rtse_record_damage);
    tcase_add_test(tc, heap_counts_live_bytes);
    suite_add_tcase(su, tc);
    /* long fault runs: make check-long */
    tc = tcase_create("spool_long");
    tcase_set_tags(tc, X400T_LONG_TAG);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, torn_batch_all_or_nothing);
    suite_add_tcase(su, tc);
    return su;
}
