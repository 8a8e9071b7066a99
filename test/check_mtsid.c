/* MTS identifier allocator: GDI rules, text form, the 32-character bound,
 * durable runs (clock backwards, restored state, counter exhaustion), every
 * kind of bad state file, locking, threads, and SIGKILLed child processes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "x400p1/mtsid.h"
#include "alloc.h"
#include "pair.h"
#include "x400t.h"

extern char **environ;

/* Internal hooks of lib/mtsid.c. */
int x400i_mtsid_encode_local(char *out, size_t len, const char *node,
                             uint64_t run, uint64_t counter);
void x400i_mtsid_seek(x400_mtsid_alloc *a, uint64_t next);
void x400i_mtsid_set_refill_hook(x400_mtsid_alloc *a, void (*fn)(void *), void *user);

/* ---- test plumbing ---- */


struct tdir { char dir[256]; char state[300]; };

static void tdir_make_in(struct tdir *t, const char *base)
{
    snprintf(t->dir, sizeof t->dir, "%s/x400t-mtsid-XXXXXX", base && *base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(t->dir));
    snprintf(t->state, sizeof t->state, "%s/mtsid.state", t->dir);
}

static void tdir_make(struct tdir *t) { tdir_make_in(t, getenv("TMPDIR")); }

/* tmpfs makes fsync nearly free, so the slow path (a new durable run) is
 * short and threads race through it far more often. */
static void tdir_make_fast(struct tdir *t)
{
    tdir_make_in(t, access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR"));
}

static void tdir_free(struct tdir *t) { ck_assert_int_eq(x400t_rm_tree(t->dir), 0); }

static size_t read_bytes(const char *path, uint8_t *buf, size_t cap)
{
    int fd = open(path, O_RDONLY);
    size_t n = 0;
    ssize_t r;
    ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
    while (n < cap && (r = read(fd, buf + n, cap - n)) > 0) n += (size_t)r;
    close(fd);
    return n;
}

static void write_bytes(const char *path, const uint8_t *buf, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
    ck_assert_int_eq(write(fd, buf, n), (ssize_t)n);
    close(fd);
}

/* An independent CRC-32 (IEEE 802.3) for crafting state files. */
static uint32_t t_crc32(const uint8_t *p, size_t n)
{
    uint32_t c = ~0u;
    while (n--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
    }
    return ~c;
}

/* The documented state file layout (doc/api.md, "State file"). */
static void craft_state(uint8_t b[32], const char *node, size_t node_len,
                        uint64_t run, unsigned version)
{
    uint32_t crc;
    memset(b, 0, 32);
    memcpy(b, "X400MTID", 8);
    b[8] = (uint8_t)(version >> 8);
    b[9] = (uint8_t)version;
    b[10] = (uint8_t)node_len;
    memcpy(b + 12, node, node_len > 8 ? 8 : node_len);
    for (int i = 0; i < 8; i++) b[20 + i] = (uint8_t)(run >> (56 - 8 * i));
    crc = t_crc32(b, 28);
    for (int i = 0; i < 4; i++) b[28 + i] = (uint8_t)(crc >> (24 - 8 * i));
}

static uint64_t state_run(const char *path)
{
    uint8_t b[64];
    uint64_t run = 0;
    ck_assert_uint_eq(read_bytes(path, b, sizeof b), 32);
    ck_assert_uint_eq(t_crc32(b, 28), (uint32_t)b[28] << 24 | (uint32_t)b[29] << 16 |
                                      (uint32_t)b[30] << 8 | b[31]);
    for (int i = 0; i < 8; i++) run = run << 8 | b[20 + i];
    return run;
}

/* Independent decoder of "<node>.<10 base32>.<10 base32>". */
static int b32_val(char ch)
{
    static const char alpha[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    const char *p = ch ? strchr(alpha, ch) : NULL;
    return p ? (int)(p - alpha) : -1;
}

static bool decode_local(const char *s, size_t len, const char *node,
                         uint64_t *run, uint64_t *ctr)
{
    size_t nl = strlen(node);
    uint64_t v[2] = { 0, 0 };
    if (len != nl + 22 || memcmp(s, node, nl) != 0 || s[nl] != '.' || s[nl + 11] != '.')
        return false;
    for (int f = 0; f < 2; f++)
        for (int i = 0; i < 10; i++) {
            int d = b32_val(s[nl + 1 + (size_t)f * 11 + (size_t)i]);
            if (d < 0) return false;
            v[f] = v[f] << 5 | (uint64_t)d;
        }
    *run = v[0];
    *ctr = v[1];
    return true;
}

struct clk { int64_t now; int calls; };
static int64_t clk_fn(void *u)
{
    struct clk *c = u;
    c->calls++;
    return c->now;
}

static void cfg_setup(x400_mtsid_config *cfg, const char *path, const char *node,
                      struct clk *clk)
{
    x400_mtsid_config_init(cfg);
    cfg->state_path = path;
    cfg->node_id = node;
    strcpy(cfg->gdi.country, "GB");
    strcpy(cfg->gdi.admd, " ");
    strcpy(cfg->gdi.prmd, "SMHS");
    cfg->flags = X400_MTSID_CREATE;
    if (clk) {
        cfg->time_fn = clk_fn;
        cfg->time_user = clk;
    }
}

static x400_mtsid_alloc *open_ok(const x400_mtsid_config *cfg)
{
    x400_mtsid_alloc *a = NULL;
    x400_diag d;
    int rv = x400_mtsid_new(&a, cfg, &d);
    ck_assert_msg(rv == X400_OK, "open: %d %s", rv, d.text);
    ck_assert_ptr_nonnull(a);
    return a;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

struct key { uint64_t run, ctr; };
static int cmp_key(const void *x, const void *y)
{
    const struct key *a = x, *b = y;
    if (a->run != b->run) return (a->run > b->run) - (a->run < b->run);
    return (a->ctr > b->ctr) - (a->ctr < b->ctr);
}

/* ---- GDI and text form ---- */

static x400_gdi mk_gdi(const char *c, const char *a, const char *p)
{
    x400_gdi g;
    memset(&g, 0, sizeof g);
    snprintf(g.country, sizeof g.country, "%s", c);
    snprintf(g.admd, sizeof g.admd, "%s", a);
    snprintf(g.prmd, sizeof g.prmd, "%s", p);
    return g;
}

START_TEST(gdi_rules)
{
    x400_gdi g;
    x400_diag d;
    g = mk_gdi("GB", " ", "SMHS");
    ck_assert_int_eq(x400_gdi_validate(&g, &d), X400_OK);
    g = mk_gdi("de", "", "");           /* empty ADMD and no PRMD: allowed */
    ck_assert_int_eq(x400_gdi_validate(&g, &d), X400_OK);
    g = mk_gdi("234", "ICAO", "EGLL");  /* X.121 DCC */
    ck_assert_int_eq(x400_gdi_validate(&g, &d), X400_OK);
    g = mk_gdi("G", " ", "");
    ck_assert_int_eq(x400_gdi_validate(&g, &d), X400_ERR_INVALID_ARG);
    ck_assert_int_eq(d.layer, X400_LAYER_MTSID);
    ck_assert_ptr_nonnull(strstr(d.text, "country-name"));
    g = mk_gdi("GBR", " ", "");         /* 3 letters: neither form */
    ck_assert_int_eq(x400_gdi_validate(&g, &d), X400_ERR_INVALID_ARG);
    g = mk_gdi("12", " ", "");          /* 2 digits: neither form */
    ck_assert_int_eq(x400_gdi_validate(&g, &d), X400_ERR_INVALID_ARG);
    g = mk_gdi("2A4", " ", "");
    ck_assert_int_eq(x400_gdi_validate(&g, &d), X400_ERR_INVALID_ARG);
    g = mk_gdi("GB", " ", "");
    memcpy(g.country, "GBRX", 4);       /* unterminated */
    ck_assert_int_eq(x400_gdi_validate(&g, &d), X400_ERR_TOO_LONG);
    g = mk_gdi("GB", "ABCDEFGHIJKLMNOP", "0123456789ABCDEF"); /* 16 + 16 */
    ck_assert_int_eq(x400_gdi_validate(&g, &d), X400_OK);
    memset(g.admd, 'A', sizeof g.admd); /* 17, unterminated */
    ck_assert_int_eq(x400_gdi_validate(&g, &d), X400_ERR_TOO_LONG);
    ck_assert_ptr_nonnull(strstr(d.text, "administration-domain-name"));
    g = mk_gdi("GB", " ", "");
    memset(g.prmd, 'P', sizeof g.prmd);
    ck_assert_int_eq(x400_gdi_validate(&g, &d), X400_ERR_TOO_LONG);
    ck_assert_ptr_nonnull(strstr(d.text, "private-domain-identifier"));
    g = mk_gdi("GB", "A;B", "");        /* ';' is not PrintableString */
    ck_assert_int_eq(x400_gdi_validate(&g, &d), X400_ERR_INVALID_ARG);
    g = mk_gdi("GB", "a@b", "");
    ck_assert_int_eq(x400_gdi_validate(&g, &d), X400_ERR_INVALID_ARG);
    g = mk_gdi("GB", " ", "x\tz");
    ck_assert_int_eq(x400_gdi_validate(&g, &d), X400_ERR_INVALID_ARG);
    g = mk_gdi("GB", "0001", "12 34");
    g.admd_numeric = g.prmd_numeric = 1;
    ck_assert_int_eq(x400_gdi_validate(&g, &d), X400_OK);
    g = mk_gdi("GB", "00A1", "");
    g.admd_numeric = 1;                 /* letters in a NumericString */
    ck_assert_int_eq(x400_gdi_validate(&g, &d), X400_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(d.text, "NumericString"));
    ck_assert_int_eq(x400_gdi_validate(NULL, &d), X400_ERR_INVALID_ARG);
}
END_TEST

static void roundtrip(const x400_mtsid *id, const char *expect)
{
    char buf[X400_MTSID_TEXT_MAX];
    x400_mtsid back;
    x400_diag d;
    int n = x400_mtsid_format(id, buf, sizeof buf);
    ck_assert_int_gt(n, 0);
    ck_assert_uint_eq((size_t)n, strlen(buf));
    if (expect) ck_assert_str_eq(buf, expect);
    ck_assert_int_eq(x400_mtsid_parse(buf, (size_t)n, &back, &d), X400_OK);
    ck_assert_str_eq(back.gdi.country, id->gdi.country);
    ck_assert_str_eq(back.gdi.admd, id->gdi.admd);
    ck_assert_str_eq(back.gdi.prmd, id->gdi.prmd);
    ck_assert_int_eq(!!back.gdi.admd_numeric, !!id->gdi.admd_numeric);
    ck_assert_int_eq(!!back.gdi.prmd_numeric, !!id->gdi.prmd_numeric);
    ck_assert_str_eq(back.local, id->local);
    /* every shorter buffer is refused, never overrun */
    for (size_t l = 0; l <= (size_t)n; l++) {
        char small[X400_MTSID_TEXT_MAX];
        ck_assert_int_eq(x400_mtsid_format(id, small, l), X400_ERR_BUFFER_TOO_SMALL);
    }
    /* every strict prefix fails to parse (unless L itself holds a ']') */
    for (size_t l = 0; l < (size_t)n && !strchr(id->local, ']'); l++)
        ck_assert_int_lt(x400_mtsid_parse(buf, l, &back, &d), 0);
}

START_TEST(format_parse)
{
    x400_mtsid id;
    x400_mtsid back;
    x400_diag d;
    char buf[X400_MTSID_TEXT_MAX];
    memset(&id, 0, sizeof id);
    id.gdi = mk_gdi("GB", " ", "SMHS");
    strcpy(id.local, "LHR1.1JQ8Z7K300.0000000001");
    roundtrip(&id, "[C=GB;A= ;P=SMHS;L=LHR1.1JQ8Z7K300.0000000001]");
    id.gdi = mk_gdi("234", "0001", "");
    id.gdi.admd_numeric = 1;
    strcpy(id.local, "x");
    roundtrip(&id, "[C=234;A#=0001;L=x]");
    /* longest form: every field at its upper bound, IA5 specials in L */
    id.gdi = mk_gdi("234", "0123456789012345", "9876543210987654");
    id.gdi.admd_numeric = id.gdi.prmd_numeric = 1;
    strcpy(id.local, "];[C=X;L=]=~ !\"#$%&'()*+,-./0123");
    ck_assert_uint_eq(strlen(id.local), 32);
    roundtrip(&id, NULL);
    ck_assert_int_eq(x400_mtsid_format(&id, buf, sizeof buf), X400_MTSID_TEXT_MAX - 1);
    id.gdi = mk_gdi("us", "ABCDEFGHIJKLMNOP", "a'()+,-./:=? bcd");
    roundtrip(&id, NULL);

    /* invalid ids are not formatted */
    strcpy(id.local, "");
    ck_assert_int_eq(x400_mtsid_format(&id, buf, sizeof buf), X400_ERR_INVALID_ARG);
    strcpy(id.local, "tab\there");
    ck_assert_int_eq(x400_mtsid_format(&id, buf, sizeof buf), X400_ERR_INVALID_ARG);
    memset(id.local, 'L', sizeof id.local);
    ck_assert_int_eq(x400_mtsid_format(&id, buf, sizeof buf), X400_ERR_TOO_LONG);

#define BAD(text, code) \
    ck_assert_int_eq(x400_mtsid_parse(text, strlen(text), &back, &d), code)
    BAD("C=GB;A= ;L=x", X400_ERR_PARSE);                      /* no brackets */
    BAD("[C=GB;A= ;L=x", X400_ERR_PARSE);
    BAD("[A= ;C=GB;L=x]", X400_ERR_PARSE);                    /* order */
    BAD("[C=GB;L=x]", X400_ERR_PARSE);                        /* no A */
    BAD("[C=GB;A= ;P=SMHS]", X400_ERR_PARSE);                 /* no L */
    BAD("[C=GB;A= ;L=]", X400_ERR_PARSE);                     /* empty L */
    BAD("[C=GB;A= ;P=;L=x]", X400_ERR_PARSE);                 /* empty P */
    BAD("[C#=234;A= ;L=x]", X400_ERR_PARSE);                  /* C has no choice mark */
    BAD("[C=GB;A#=12A;L=x]", X400_ERR_PARSE);                 /* letters in numeric */
    BAD("[C=GB;A=a@b;L=x]", X400_ERR_PARSE);
    BAD("[C=GB;A= ;L=a\001b]", X400_ERR_PARSE);
    BAD("[C=GB;A= ;L=\xc3\xa9]", X400_ERR_PARSE);             /* not IA5 */
    BAD("[C=GBRX;A= ;L=x]", X400_ERR_TOO_LONG);
    BAD("[C=GBR;A= ;L=x]", X400_ERR_INVALID_ARG);             /* GDI rule */
    BAD("[C=GX1;A= ;L=x]", X400_ERR_INVALID_ARG);
    BAD("[C=G;A= ;L=x]", X400_ERR_INVALID_ARG);               /* GDI rule */
    BAD("[C=12;A= ;L=x]", X400_ERR_INVALID_ARG);
    BAD("[C=GB;A=ABCDEFGHIJKLMNOPQ;L=x]", X400_ERR_TOO_LONG);
    BAD("[C=GB;A= ;P=ABCDEFGHIJKLMNOPQ;L=x]", X400_ERR_TOO_LONG);
    BAD("[C=GB;A= ;L=123456789012345678901234567890123]", X400_ERR_TOO_LONG);
#undef BAD
    ck_assert_ptr_nonnull(strstr(d.text, "33"));
    ck_assert_int_eq(d.layer, X400_LAYER_MTSID);
    /* not NUL-terminated input: only len bytes are read */
    {
        char raw[] = { '[', 'C', '=', 'G', 'B', ';', 'A', '=', ' ', ';', 'L', '=', 'q', ']' };
        ck_assert_int_eq(x400_mtsid_parse(raw, sizeof raw, &back, &d), X400_OK);
        ck_assert_str_eq(back.local, "q");
    }
    ck_assert_int_eq(x400_mtsid_parse(NULL, 3, &back, &d), X400_ERR_INVALID_ARG);
}
END_TEST

/* ---- configuration ---- */

START_TEST(node_id_required)
{
    struct tdir t;
    x400_mtsid_config cfg;
    x400_mtsid_alloc *a = (x400_mtsid_alloc *)&cfg;
    x400_diag d;
    tdir_make(&t);
    cfg_setup(&cfg, t.state, NULL, NULL);
    ck_assert_int_eq(x400_mtsid_new(&a, &cfg, &d), X400_ERR_INVALID_ARG);
    ck_assert_ptr_null(a);
    ck_assert_int_eq(d.layer, X400_LAYER_MTSID);
    ck_assert_int_eq(d.reason, X400_MTSID_R_CONFIG);
    ck_assert_ptr_nonnull(strstr(d.text, "node id"));
    cfg.node_id = "";
    ck_assert_int_eq(x400_mtsid_new(&a, &cfg, &d), X400_ERR_INVALID_ARG);
    cfg.node_id = "ABCDEFGHI";
    ck_assert_int_eq(x400_mtsid_new(&a, &cfg, &d), X400_ERR_TOO_LONG);
    cfg.node_id = "a.b";
    ck_assert_int_eq(x400_mtsid_new(&a, &cfg, &d), X400_ERR_INVALID_ARG);
    cfg.node_id = "a-b";
    ck_assert_int_eq(x400_mtsid_new(&a, &cfg, &d), X400_ERR_INVALID_ARG);
    cfg.node_id = "N1";
    cfg.state_path = NULL;
    ck_assert_int_eq(x400_mtsid_new(&a, &cfg, &d), X400_ERR_INVALID_ARG);
    cfg.state_path = t.state;
    strcpy(cfg.gdi.country, "XYZ");
    ck_assert_int_eq(x400_mtsid_new(&a, &cfg, &d), X400_ERR_INVALID_ARG);
    ck_assert_int_eq(d.reason, X400_MTSID_R_CONFIG);
    strcpy(cfg.gdi.country, "GB");
    cfg.counter_limit = X400_MTSID_COUNTER_SPACE + 1;
    ck_assert_int_eq(x400_mtsid_new(&a, &cfg, &d), X400_ERR_INVALID_ARG);
    cfg.counter_limit = 0;
    cfg.flags = 0x80;
    ck_assert_int_eq(x400_mtsid_new(&a, &cfg, &d), X400_ERR_INVALID_ARG);
    ck_assert_int_eq(x400_mtsid_new(&a, NULL, &d), X400_ERR_INVALID_ARG);
    /* nothing was created by the refused opens */
    ck_assert_int_ne(access(t.state, F_OK), 0);
    tdir_free(&t);
}
END_TEST

START_TEST(missing_state_needs_create)
{
    struct tdir t;
    x400_mtsid_config cfg;
    x400_mtsid_alloc *a;
    x400_diag d;
    struct clk clk = { 1700000000, 0 };
    tdir_make(&t);
    cfg_setup(&cfg, t.state, "N1", &clk);
    cfg.flags = 0;
    ck_assert_int_eq(x400_mtsid_new(&a, &cfg, &d), X400_ERR_NOT_FOUND);
    ck_assert_int_eq(d.reason, X400_MTSID_R_MISSING);
    ck_assert_ptr_nonnull(strstr(d.text, t.state));
    ck_assert_ptr_nonnull(strstr(d.text, "X400_MTSID_CREATE"));
    ck_assert_int_ne(access(t.state, F_OK), 0);
    cfg.flags = X400_MTSID_CREATE;
    a = open_ok(&cfg);
    ck_assert_uint_eq(x400_mtsid_current_run(a), 1700000000);
    ck_assert_uint_eq(state_run(t.state), 1700000000);
    x400_mtsid_free(a);
    /* the file now exists: CREATE is no longer needed */
    cfg.flags = 0;
    a = open_ok(&cfg);
    ck_assert_uint_eq(x400_mtsid_current_run(a), 1700000001);
    x400_mtsid_free(a);
    /* deleting it is not a silent fresh start */
    unlink(t.state);
    ck_assert_int_eq(x400_mtsid_new(&a, &cfg, &d), X400_ERR_NOT_FOUND);
    tdir_free(&t);
}
END_TEST

/* ---- runs ---- */

START_TEST(runs_durable_before_first_id)
{
    struct tdir t;
    x400_mtsid_config cfg;
    x400_mtsid_alloc *a;
    x400_mtsid_cursor c;
    x400_mtsid id;
    struct clk clk = { 5000, 0 };
    uint64_t prev = 0, run, ctr;
    tdir_make(&t);
    cfg_setup(&cfg, t.state, "N1", &clk);
    for (int i = 0; i < 5; i++) {
        a = open_ok(&cfg);
        run = x400_mtsid_current_run(a);
        ck_assert_uint_eq(run, 5000u + (unsigned)i);  /* same second: stored + 1 */
        ck_assert_uint_eq(state_run(t.state), run);     /* durable at open */
        ck_assert_uint_gt(run, prev);
        prev = run;
        ck_assert_int_eq(x400_mtsid_cursor_init(&c, a), X400_OK);
        ck_assert_int_eq(x400_mtsid_next(&c, &id), X400_OK);
        ck_assert(decode_local(id.local, strlen(id.local), "N1", &run, &ctr));
        ck_assert_uint_eq(run, prev);
        ck_assert_uint_eq(ctr, 0);
        ck_assert_str_eq(id.gdi.prmd, "SMHS");
        x400_mtsid_free(a);
    }
    clk.now = 90000;   /* the clock moved on: the run follows it */
    a = open_ok(&cfg);
    ck_assert_uint_eq(x400_mtsid_current_run(a), 90000);
    x400_mtsid_free(a);
    /* out-of-range clocks are ignored, the state file still counts */
    clk.now = -5;
    a = open_ok(&cfg);
    ck_assert_uint_eq(x400_mtsid_current_run(a), 90001);
    x400_mtsid_free(a);
    clk.now = INT64_MAX;
    a = open_ok(&cfg);
    ck_assert_uint_eq(x400_mtsid_current_run(a), 90002);
    x400_mtsid_free(a);
    tdir_free(&t);
}
END_TEST

/* Issue n ids from a fresh open and append their keys. */
static void issue(const x400_mtsid_config *cfg, int n, struct key *keys, size_t *nk)
{
    x400_mtsid_alloc *a = open_ok(cfg);
    x400_mtsid_cursor c;
    x400_mtsid id;
    x400_mtsid_cursor_init(&c, a);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(x400_mtsid_next(&c, &id), X400_OK);
        ck_assert(decode_local(id.local, strlen(id.local), cfg->node_id,
                               &keys[*nk].run, &keys[*nk].ctr));
        (*nk)++;
    }
    x400_mtsid_free(a);
}

static size_t count_dups(struct key *k, size_t n)
{
    size_t dups = 0;
    qsort(k, n, sizeof *k, cmp_key);
    for (size_t i = 1; i < n; i++)
        if (k[i].run == k[i - 1].run && k[i].ctr == k[i - 1].ctr) dups++;
    return dups;
}

START_TEST(clock_backwards)
{
    struct tdir t;
    x400_mtsid_config cfg;
    struct clk clk = { 1700000000, 0 };
    struct key k[400];
    size_t nk = 0;
    tdir_make(&t);
    cfg_setup(&cfg, t.state, "MTA2", &clk);
    cfg.block = 7;
    issue(&cfg, 50, k, &nk);
    clk.now -= 3600;                  /* set back an hour */
    issue(&cfg, 50, k, &nk);
    clk.now = 0;                      /* reset to the epoch */
    issue(&cfg, 50, k, &nk);
    clk.now = 1700000000;             /* corrected again */
    issue(&cfg, 50, k, &nk);
    ck_assert_uint_eq(k[50].run, 1700000001);
    ck_assert_uint_eq(k[100].run, 1700000002);
    ck_assert_uint_eq(k[150].run, 1700000003);
    ck_assert_uint_eq(count_dups(k, nk), 0);
    tdir_free(&t);
}
END_TEST

START_TEST(restored_old_state)
{
    struct tdir t;
    x400_mtsid_config cfg;
    struct clk clk = { 1700000000, 0 };
    struct key k[600];
    uint8_t old[32];
    size_t nk = 0;
    tdir_make(&t);
    cfg_setup(&cfg, t.state, "MTA3", &clk);
    issue(&cfg, 40, k, &nk);                          /* run T */
    ck_assert_uint_eq(read_bytes(t.state, old, sizeof old), 32);  /* "backup" */
    issue(&cfg, 40, k, &nk);                          /* run T+1 */
    issue(&cfg, 40, k, &nk);                          /* run T+2 */
    /* Restore the backup while the clock runs forward: the clock is ahead of
     * every run used since (runs never started faster than once a second). */
    clk.now += 3;
    write_bytes(t.state, old, 32);
    issue(&cfg, 40, k, &nk);
    ck_assert_uint_eq(k[nk - 1].run, 1700000003);
    ck_assert_uint_eq(count_dups(k, nk), 0);

    /* The residual risk, exactly as documented: a restored old file AND a
     * clock that is not ahead of the runs used since the backup.  Then the
     * run repeats.  (Kept as a test so the documentation stays true.) */
    write_bytes(t.state, old, 32);                    /* run T again */
    clk.now = 1700000000 - 10;                        /* clock set back */
    issue(&cfg, 1, k, &nk);
    ck_assert_uint_eq(k[nk - 1].run, 1700000001);     /* == an earlier run */
    ck_assert_uint_eq(count_dups(k, nk), 1);
    tdir_free(&t);
}
END_TEST

START_TEST(counter_exhaustion_starts_durable_run)
{
    struct tdir t;
    x400_mtsid_config cfg;
    x400_mtsid_alloc *a;
    x400_mtsid_cursor c, c2;
    x400_mtsid id;
    struct clk clk = { 777, 0 };
    struct key k[300];
    size_t nk = 0;
    tdir_make(&t);
    cfg_setup(&cfg, t.state, "N", &clk);
    cfg.counter_limit = 10;
    cfg.block = 3;
    a = open_ok(&cfg);
    x400_mtsid_cursor_init(&c, a);
    x400_mtsid_cursor_init(&c2, a);
    for (int i = 0; i < 200; i++) {
        x400_mtsid_cursor *cc = (i % 5 == 0) ? &c2 : &c;
        ck_assert_int_eq(x400_mtsid_next(cc, &id), X400_OK);
        ck_assert(decode_local(id.local, strlen(id.local), "N", &k[nk].run, &k[nk].ctr));
        ck_assert_uint_lt(k[nk].ctr, 10);           /* never wraps past the limit */
        /* the id's run was durable before the id was issued */
        ck_assert_uint_ge(state_run(t.state), k[nk].run);
        nk++;
    }
    /* 200 ids, 10 counters per run: at least 20 runs, all on disk in order */
    ck_assert_uint_ge(x400_mtsid_current_run(a), 777 + 19);
    ck_assert_uint_eq(state_run(t.state), x400_mtsid_current_run(a));
    ck_assert_uint_eq(count_dups(k, nk), 0);
    x400_mtsid_free(a);
    /* the next open continues after the last run */
    a = open_ok(&cfg);
    ck_assert_uint_eq(x400_mtsid_current_run(a), k[nk - 1].run + 1);
    x400_mtsid_free(a);
    tdir_free(&t);
}
END_TEST

START_TEST(max_field_lengths)
{
    struct tdir t;
    x400_mtsid_config cfg;
    x400_mtsid_alloc *a;
    x400_mtsid_cursor c;
    x400_mtsid id;
    struct clk clk = { (int64_t)X400_MTSID_RUN_MAX, 0 };
    char local[64], text[X400_MTSID_TEXT_MAX];
    uint64_t run, ctr;
    int n;

    /* the layout at every field's maximum fits ub-local-id-length */
    n = x400i_mtsid_encode_local(local, sizeof local, "ABCDEFGH", X400_MTSID_RUN_MAX,
                                 X400_MTSID_COUNTER_SPACE - 1);
    ck_assert_int_eq(n, 30);
    ck_assert_int_le(n, X400_MTSID_LOCAL_MAX);
    ck_assert_str_eq(local, "ABCDEFGH.ZZZZZZZZZZ.ZZZZZZZZZZ");
    ck_assert_int_eq(x400i_mtsid_encode_local(local, sizeof local, "ABCDEFGH",
                                              X400_MTSID_RUN_MAX + 1, 0), X400_ERR_INVALID_ARG);
    ck_assert_int_eq(x400i_mtsid_encode_local(local, sizeof local, "ABCDEFGH", 0,
                                              X400_MTSID_COUNTER_SPACE), X400_ERR_INVALID_ARG);
    ck_assert_int_eq(x400i_mtsid_encode_local(local, sizeof local, "ABCDEFGHI", 0, 0),
                     X400_ERR_INVALID_ARG);

    /* and the allocator really gets there: max node, max run, max counter */
    tdir_make(&t);
    cfg_setup(&cfg, t.state, "ABCDEFGH", &clk);
    strcpy(cfg.gdi.admd, "ABCDEFGHIJKLMNOP");
    strcpy(cfg.gdi.prmd, "ABCDEFGHIJKLMNOP");
    cfg.block = 2;
    a = open_ok(&cfg);
    ck_assert_uint_eq(x400_mtsid_current_run(a), X400_MTSID_RUN_MAX);
    x400i_mtsid_seek(a, X400_MTSID_COUNTER_SPACE - 37);
    x400_mtsid_cursor_init(&c, a);
    for (uint64_t i = 0; i < 37; i++) {
        ck_assert_int_eq(x400_mtsid_next(&c, &id), X400_OK);
        ck_assert(decode_local(id.local, strlen(id.local), "ABCDEFGH", &run, &ctr));
        ck_assert_uint_eq(run, X400_MTSID_RUN_MAX);
        ck_assert_uint_eq(ctr, X400_MTSID_COUNTER_SPACE - 37 + i);  /* odometer carries */
        ck_assert_uint_le(strlen(id.local), X400_MTSID_LOCAL_MAX);
    }
    ck_assert_str_eq(id.local, "ABCDEFGH.ZZZZZZZZZZ.ZZZZZZZZZZ");
    ck_assert_int_gt(x400_mtsid_format(&id, text, sizeof text), 0);
    /* counter space and run space both exhausted: a clear error, no wrap */
    ck_assert_int_eq(x400_mtsid_next(&c, &id), X400_ERR_LIMIT);
    ck_assert_int_eq(x400_mtsid_cursor_diag(&c)->reason, X400_MTSID_R_RUN_SPACE);
    ck_assert_int_eq(x400_mtsid_next(&c, &id), X400_ERR_LIMIT);
    ck_assert_int_eq(x400_mtsid_cursor_diag(&c)->reason, X400_MTSID_R_FAILED);
    x400_mtsid_free(a);
    /* reopening cannot start a run either */
    {
        x400_diag d;
        ck_assert_int_eq(x400_mtsid_new(&a, &cfg, &d), X400_ERR_LIMIT);
        ck_assert_int_eq(d.reason, X400_MTSID_R_RUN_SPACE);
    }
    tdir_free(&t);
}
END_TEST

START_TEST(odometer_matches_encoder)
{
    /* consecutive ids across digit carries equal the direct encoding */
    struct tdir t;
    x400_mtsid_config cfg;
    x400_mtsid_alloc *a;
    x400_mtsid_cursor c;
    x400_mtsid id;
    struct clk clk = { 1234567, 0 };
    char want[64];
    tdir_make(&t);
    cfg_setup(&cfg, t.state, "Zz9", &clk);
    cfg.block = 70000;
    a = open_ok(&cfg);
    x400i_mtsid_seek(a, 32 * 32 * 32 - 5000);
    x400_mtsid_cursor_init(&c, a);
    for (uint64_t v = 32 * 32 * 32 - 5000; v < 32 * 32 * 32 + 70000 - 5000; v++) {
        ck_assert_int_eq(x400_mtsid_next(&c, &id), X400_OK);
        x400i_mtsid_encode_local(want, sizeof want, "Zz9", 1234567, v);
        ck_assert_str_eq(id.local, want);
    }
    x400_mtsid_free(a);
    tdir_free(&t);
}
END_TEST

/* ---- bad state files ---- */

static void expect_open_fails(const x400_mtsid_config *cfg, const char *path, int code,
                              int reason, const char *needle)
{
    x400_mtsid_alloc *a = (x400_mtsid_alloc *)1;
    x400_diag d;
    uint8_t before[64], after[64];
    size_t nb = 0, na = 0;
    struct stat st;
    bool reg = stat(path, &st) == 0 && S_ISREG(st.st_mode);
    if (reg) nb = read_bytes(path, before, sizeof before);
    ck_assert_int_eq(x400_mtsid_new(&a, cfg, &d), code);
    ck_assert_ptr_null(a);
    ck_assert_int_eq(d.code, code);
    ck_assert_int_eq(d.layer, X400_LAYER_MTSID);
    ck_assert_msg(d.reason == reason, "reason %d, want %d (%s)", d.reason, reason, d.text);
    ck_assert_msg(strstr(d.text, path) != NULL, "path missing in \"%s\"", d.text);
    if (needle) ck_assert_msg(strstr(d.text, needle) != NULL, "\"%s\" missing in \"%s\"",
                              needle, d.text);
    /* never a silent restart: the state file is untouched */
    if (reg) {
        na = read_bytes(path, after, sizeof after);
        ck_assert_uint_eq(na, nb);
        ck_assert_mem_eq(after, before, nb);
    }
}

START_TEST(bad_state_files)
{
    struct tdir t;
    x400_mtsid_config cfg;
    x400_mtsid_alloc *a;
    struct clk clk = { 1700000000, 0 };
    uint8_t good[32], b[40];
    tdir_make(&t);
    cfg_setup(&cfg, t.state, "LHR1", &clk);
    cfg.flags = 0;   /* CREATE would not change any of these outcomes */
    craft_state(good, "LHR1", 4, 1699999999, 1);

    /* the crafted file is accepted: the layout matches the documentation */
    write_bytes(t.state, good, 32);
    a = open_ok(&cfg);
    ck_assert_uint_eq(x400_mtsid_current_run(a), 1700000000);
    x400_mtsid_free(a);

    for (size_t len = 0; len < 32; len++) {        /* truncated at every length */
        write_bytes(t.state, good, len);
        expect_open_fails(&cfg, t.state, X400_ERR_CORRUPT, X400_MTSID_R_SHORT, "truncated");
    }
    memcpy(b, good, 32);
    b[32] = 0;
    write_bytes(t.state, b, 33);
    expect_open_fails(&cfg, t.state, X400_ERR_CORRUPT, X400_MTSID_R_LONG, "trailing");

    memcpy(b, good, 32);
    b[0] = 'Y';
    write_bytes(t.state, b, 32);
    expect_open_fails(&cfg, t.state, X400_ERR_CORRUPT, X400_MTSID_R_MAGIC, "magic");

    craft_state(b, "LHR1", 4, 1699999999, 2);       /* good CRC, version 2 */
    write_bytes(t.state, b, 32);
    expect_open_fails(&cfg, t.state, X400_ERR_UNSUPPORTED, X400_MTSID_R_VERSION, "version 2");

    memcpy(b, good, 32);
    b[27] ^= 0x01;                                   /* run changed, CRC not */
    write_bytes(t.state, b, 32);
    expect_open_fails(&cfg, t.state, X400_ERR_CORRUPT, X400_MTSID_R_CHECKSUM, "CRC-32");

    /* every single-bit flip is caught (by magic, version or CRC-32) */
    for (int i = 0; i < 32 * 8; i++) {
        x400_diag d;
        memcpy(b, good, 32);
        b[i / 8] ^= (uint8_t)(1u << (i % 8));
        write_bytes(t.state, b, 32);
        a = NULL;
        int rv = x400_mtsid_new(&a, &cfg, &d);
        ck_assert_msg(rv == (i / 8 == 8 || i / 8 == 9 ? X400_ERR_UNSUPPORTED : X400_ERR_CORRUPT),
                      "bit %d: %d", i, rv);
        ck_assert_ptr_null(a);
    }

    craft_state(b, "LHR1", 4, 0, 1);                 /* run 0 with a good CRC */
    write_bytes(t.state, b, 32);
    expect_open_fails(&cfg, t.state, X400_ERR_CORRUPT, X400_MTSID_R_FIELD, "out of range");
    craft_state(b, "LHR1", 4, X400_MTSID_RUN_MAX + 1, 1);
    write_bytes(t.state, b, 32);
    expect_open_fails(&cfg, t.state, X400_ERR_CORRUPT, X400_MTSID_R_FIELD, "out of range");
    craft_state(b, "LHR1ABCDE", 9, 5, 1);            /* node length 9 */
    write_bytes(t.state, b, 32);
    expect_open_fails(&cfg, t.state, X400_ERR_CORRUPT, X400_MTSID_R_FIELD, NULL);
    craft_state(b, "LH.1", 4, 5, 1);                 /* bad node character */
    write_bytes(t.state, b, 32);
    expect_open_fails(&cfg, t.state, X400_ERR_CORRUPT, X400_MTSID_R_FIELD, "node id");

    craft_state(b, "LHR2", 4, 1699999999, 1);        /* another MTA's file */
    write_bytes(t.state, b, 32);
    expect_open_fails(&cfg, t.state, X400_ERR_CORRUPT, X400_MTSID_R_NODE, "LHR2");
    craft_state(b, "LHR", 3, 1699999999, 1);         /* a prefix of ours */
    write_bytes(t.state, b, 32);
    expect_open_fails(&cfg, t.state, X400_ERR_CORRUPT, X400_MTSID_R_NODE, NULL);

    /* unreadable, even for root: the state path is a directory */
    unlink(t.state);
    ck_assert_int_eq(mkdir(t.state, 0700), 0);
    expect_open_fails(&cfg, t.state, X400_ERR_IO, X400_MTSID_R_READ_IO, strerror(EISDIR));
    rmdir(t.state);

    /* unwritable, even for root: "<state>.tmp" is a directory */
    write_bytes(t.state, good, 32);
    {
        char tmp[400];
        snprintf(tmp, sizeof tmp, "%s.tmp", t.state);
        ck_assert_int_eq(mkdir(tmp, 0700), 0);
        expect_open_fails(&cfg, t.state, X400_ERR_IO, X400_MTSID_R_WRITE_IO, strerror(EISDIR));
        ck_assert_uint_eq(state_run(t.state), 1699999999);
        rmdir(tmp);
    }

    /* the parent of the state path is a regular file */
    {
        char bogus[400], in_file[420];
        snprintf(bogus, sizeof bogus, "%s/plainfile", t.dir);
        write_bytes(bogus, good, 4);
        snprintf(in_file, sizeof in_file, "%s/state", bogus);
        x400_mtsid_config c2 = cfg;
        c2.state_path = in_file;
        c2.flags = X400_MTSID_CREATE;
        expect_open_fails(&c2, in_file, X400_ERR_IO, X400_MTSID_R_LOCK_IO, strerror(ENOTDIR));
    }

    /* after all that, the intact file still works and continues its runs */
    write_bytes(t.state, good, 32);
    a = open_ok(&cfg);
    ck_assert_uint_eq(x400_mtsid_current_run(a), 1700000000);
    x400_mtsid_free(a);
    tdir_free(&t);
}
END_TEST

START_TEST(run_start_failure_is_sticky)
{
    struct tdir t;
    x400_mtsid_config cfg;
    x400_mtsid_alloc *a;
    x400_mtsid_cursor c;
    x400_mtsid id;
    struct clk clk = { 4000, 0 };
    char tmp[400];
    int ok = 0, rv;
    tdir_make(&t);
    cfg_setup(&cfg, t.state, "N7", &clk);
    cfg.counter_limit = 8;
    cfg.block = 8;
    a = open_ok(&cfg);
    x400_mtsid_cursor_init(&c, a);
    snprintf(tmp, sizeof tmp, "%s.tmp", t.state);
    ck_assert_int_eq(mkdir(tmp, 0700), 0);          /* the next run cannot be written */
    while ((rv = x400_mtsid_next(&c, &id)) == X400_OK) ok++;
    ck_assert_int_eq(ok, 8);                        /* the durable run's ids only */
    ck_assert_int_eq(rv, X400_ERR_IO);
    ck_assert_int_eq(x400_mtsid_cursor_diag(&c)->reason, X400_MTSID_R_WRITE_IO);
    ck_assert_ptr_nonnull(strstr(x400_mtsid_cursor_diag(&c)->text, tmp));
    rmdir(tmp);                                     /* even when the cause is gone */
    ck_assert_int_eq(x400_mtsid_next(&c, &id), X400_ERR_IO);
    ck_assert_int_eq(x400_mtsid_cursor_diag(&c)->reason, X400_MTSID_R_FAILED);
    ck_assert_uint_eq(state_run(t.state), 4000);
    x400_mtsid_free(a);
    a = open_ok(&cfg);                              /* reopen recovers */
    ck_assert_uint_eq(x400_mtsid_current_run(a), 4001);
    x400_mtsid_free(a);
    ck_assert_int_eq(x400_mtsid_next(NULL, &id), X400_ERR_INVALID_ARG);
    tdir_free(&t);
}
END_TEST

/* ---- locking ---- */

START_TEST(lock_in_process)
{
    struct tdir t;
    x400_mtsid_config cfg;
    x400_mtsid_alloc *a, *b;
    x400_diag d;
    tdir_make(&t);
    cfg_setup(&cfg, t.state, "N1", NULL);
    a = open_ok(&cfg);
    ck_assert_int_eq(x400_mtsid_new(&b, &cfg, &d), X400_ERR_DUPLICATE);
    ck_assert_int_eq(d.reason, X400_MTSID_R_LOCKED);
    ck_assert_ptr_nonnull(strstr(d.text, t.state));
    ck_assert_ptr_nonnull(strstr(d.text, "in use"));
    x400_mtsid_free(a);
    b = open_ok(&cfg);
    x400_mtsid_free(b);
    tdir_free(&t);
}
END_TEST

START_TEST(lock_across_processes)
{
    struct tdir t;
    x400_mtsid_config cfg;
    x400_mtsid_alloc *a;
    x400_diag d;
    char prog[512], line[64] = "";
    char *argv[5];
    int pfd[2], st;
    pid_t pid;
    posix_spawn_file_actions_t fa;
    ssize_t n, got = 0;
    unsigned long long held_run = 0;
    tdir_make(&t);
    cfg_setup(&cfg, t.state, "N1", NULL);
    snprintf(prog, sizeof prog, "%s/helper_mtsid_child", x400t_bindir());
    char a_hold[] = "hold", a_node[] = "N1";
    argv[0] = prog; argv[1] = a_hold; argv[2] = t.state; argv[3] = a_node;
    argv[4] = NULL;
    ck_assert_int_eq(pipe(pfd), 0);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
    posix_spawn_file_actions_addclose(&fa, pfd[0]);
    ck_assert_int_eq(posix_spawn(&pid, prog, &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[1]);
    while (got < (ssize_t)sizeof line - 1 && !strchr(line, '\n') &&
           (n = read(pfd[0], line + got, sizeof line - 1 - (size_t)got)) > 0) {
        got += n;
        line[got] = '\0';
    }
    ck_assert_msg(sscanf(line, "ready %llu", &held_run) == 1, "child said \"%s\"", line);
    ck_assert_int_eq(x400_mtsid_new(&a, &cfg, &d), X400_ERR_DUPLICATE);
    ck_assert_int_eq(d.reason, X400_MTSID_R_LOCKED);
    ck_assert_uint_eq(state_run(t.state), held_run);   /* untouched by the refusal */
    kill(pid, SIGKILL);
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    close(pfd[0]);
    a = open_ok(&cfg);                                  /* the kernel released it */
    ck_assert_uint_gt(x400_mtsid_current_run(a), held_run);
    x400_mtsid_free(a);
    tdir_free(&t);
}
END_TEST

/* ---- caller's allocator ---- */

START_TEST(caller_allocator)
{
    struct tdir t;
    x400t_counting cnt = { 0 };
    x400_allocator al = X400T_COUNTING_ALLOCATOR(&cnt);
    x400_mtsid_config cfg;
    x400_mtsid_alloc *a;
    x400_diag d;
    long total;
    tdir_make(&t);
    cfg_setup(&cfg, t.state, "N1", NULL);
    cfg.alloc = &al;
    a = open_ok(&cfg);
    total = cnt.calls;
    ck_assert_int_gt(total, 0);
    ck_assert_int_eq(cnt.live, total);
    x400_mtsid_free(a);
    ck_assert_int_eq(cnt.live, 0);
    for (long k = 1; k <= total; k++) {
        cnt.calls = 0;
        cnt.fail_at = k;
        ck_assert_int_eq(x400_mtsid_new(&a, &cfg, &d), X400_ERR_NOMEM);
        ck_assert_int_eq(cnt.live, 0);
    }
    cnt.fail_at = 0;
    a = open_ok(&cfg);   /* no lock was leaked by the failures */
    x400_mtsid_free(a);
    ck_assert_int_eq(cnt.live, 0);
    tdir_free(&t);
}
END_TEST

/* ---- threads ---- */

struct worker {
    x400_mtsid_alloc *a;
    const char *node;
    uint64_t run0;
    uint64_t *keys;
    size_t n;
    int bad;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    x400_mtsid_cursor c;
    x400_mtsid id;
    uint64_t run, ctr;
    x400_mtsid_cursor_init(&c, w->a);
    for (size_t i = 0; i < w->n; i++) {
        if (x400_mtsid_next(&c, &id) != X400_OK ||
            !decode_local(id.local, strlen(id.local), w->node, &run, &ctr) ||
            run < w->run0 || run - w->run0 >= (UINT64_C(1) << 24) ||
            ctr >= (UINT64_C(1) << 40)) {
            w->bad++;
            return NULL;
        }
        /* injective under the bounds just checked */
        w->keys[i] = (run - w->run0) << 40 | ctr;
    }
    return NULL;
}

static void run_threads(int nthreads, size_t per, uint64_t limit, uint32_t block,
                        uint64_t *min_runs)
{
    struct tdir t;
    x400_mtsid_config cfg;
    x400_mtsid_alloc *a;
    struct worker w[8];
    pthread_t th[8];
    uint64_t *keys = malloc(sizeof *keys * per * (size_t)nthreads);
    size_t total = per * (size_t)nthreads, dups = 0;
    uint64_t run0;
    ck_assert_ptr_nonnull(keys);
    tdir_make_fast(&t);
    cfg_setup(&cfg, t.state, "TH8", NULL);
    cfg.counter_limit = limit;
    cfg.block = block;
    a = open_ok(&cfg);
    run0 = x400_mtsid_current_run(a);   /* once: workers move it on */
    for (int i = 0; i < nthreads; i++) {
        w[i] = (struct worker){ a, "TH8", run0, keys + per * (size_t)i, per, 0 };
        ck_assert_int_eq(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < nthreads; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(w[i].bad, 0);
    }
    if (min_runs) *min_runs = x400_mtsid_current_run(a) - run0 + 1;
    x400_mtsid_free(a);
    qsort(keys, total, sizeof *keys, cmp_u64);
    for (size_t i = 1; i < total; i++)
        if (keys[i] == keys[i - 1]) dups++;
    free(keys);
    tdir_free(&t);
    ck_assert_uint_eq(dups, 0);
}

/* A cursor reads the run, then (preempted) the whole run is used up and a
 * new one starts before its fetch-add: the block it then reserves belongs
 * to the new run's counter space and must not be paired with the old run.
 * The refill hook puts exactly that interleaving into the window. */
struct race {
    x400_mtsid_alloc *a;
    x400_mtsid_cursor *other;
    struct key *k;
    size_t *nk;
    int armed, fired;
};

static void race_hook(void *u)
{
    struct race *r = u;
    x400_mtsid id;
    uint64_t run0;
    if (!r->armed) return;
    r->armed = 0;
    run0 = x400_mtsid_current_run(r->a);
    while (x400_mtsid_current_run(r->a) == run0) {
        ck_assert_int_eq(x400_mtsid_next(r->other, &id), X400_OK);
        ck_assert(decode_local(id.local, strlen(id.local), "RC", &r->k[*r->nk].run,
                               &r->k[*r->nk].ctr));
        (*r->nk)++;
    }
    r->fired++;
}

START_TEST(run_change_between_read_and_reserve)
{
    struct tdir t;
    x400_mtsid_config cfg;
    x400_mtsid_alloc *a;
    x400_mtsid_cursor c1, c2;
    x400_mtsid id;
    struct clk clk = { 100, 0 };
    struct key k[200];
    size_t nk = 0;
    struct race r;
    tdir_make(&t);
    cfg_setup(&cfg, t.state, "RC", &clk);
    cfg.counter_limit = 10;
    cfg.block = 3;
    a = open_ok(&cfg);
    x400_mtsid_cursor_init(&c1, a);
    x400_mtsid_cursor_init(&c2, a);
    r = (struct race){ a, &c2, k, &nk, 0, 0 };
    x400i_mtsid_set_refill_hook(a, race_hook, &r);
    for (int round = 0; round < 20; round++) {
        uint64_t before = x400_mtsid_current_run(a);
        /* c1 needs a new block now: drain it first */
        while (c1.next < c1.end) {
            ck_assert_int_eq(x400_mtsid_next(&c1, &id), X400_OK);
            ck_assert(decode_local(id.local, strlen(id.local), "RC", &k[nk].run, &k[nk].ctr));
            nk++;
        }
        r.armed = 1;
        ck_assert_int_eq(x400_mtsid_next(&c1, &id), X400_OK);
        ck_assert_int_eq(r.fired, round + 1);
        ck_assert(decode_local(id.local, strlen(id.local), "RC", &k[nk].run, &k[nk].ctr));
        ck_assert_uint_gt(k[nk].run, before);   /* the block is in the new run */
        nk++;
    }
    x400_mtsid_free(a);
    ck_assert_uint_eq(count_dups(k, nk), 0);
    tdir_free(&t);
}
END_TEST

START_TEST(threads_all_distinct)
{
    run_threads(8, X400T_TSAN ? 20000 : 1000000, 0, 0, NULL);
}
END_TEST

START_TEST(threads_across_run_changes)
{
    uint64_t runs = 0;
    size_t per = X400T_TSAN ? 5000 : 40000;
    /* tiny runs: threads race through the slow path over and over */
    run_threads(8, per, 1009, 7, &runs);
    ck_assert_uint_ge(runs, (8 * per) / 1009);
}
END_TEST

/* ---- SIGKILLed children ---- */

struct keyvec { struct key *k; size_t n, cap; };

static void kv_push(struct keyvec *v, uint64_t run, uint64_t ctr)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 4096;
        v->k = realloc(v->k, v->cap * sizeof *v->k);
        ck_assert_ptr_nonnull(v->k);
    }
    v->k[v->n].run = run;
    v->k[v->n].ctr = ctr;
    v->n++;
}

static uint64_t xs_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Spawn one child; kill it after delay_us (< 0: let it finish).  Returns the
 * number of complete lines it wrote; appends their keys. */
static size_t child_run(char *prog, char *state, const char *out, long delay_us,
                        struct keyvec *kv, unsigned long long seed, int idx, double *secs)
{
    char *argv[8];
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int st;
    static char buf[1 << 20];
    size_t n, lines = 0, start = 0;
    struct timespec t0, t1;
    char a_run[] = "run", a_node[] = "KIDS", a_count[] = "3000", a_limit[] = "1000",
         a_block[] = "16";
    argv[0] = prog; argv[1] = a_run; argv[2] = state; argv[3] = a_node;
    argv[4] = a_count; argv[5] = a_limit; argv[6] = a_block; argv[7] = NULL;
    posix_spawn_file_actions_init(&fa);
    char err[420], errtxt[600] = "";
    snprintf(err, sizeof err, "%s.err", out);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    /* stderr to a file: a child killed while its LeakSanitizer exit check
     * runs says so there; shown only if the child failed */
    posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(posix_spawn(&pid, prog, &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    if (delay_us >= 0) {
        struct timespec ts = { delay_us / 1000000, (delay_us % 1000000) * 1000 };
        if (delay_us) nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
    }
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (secs) *secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (!((WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) ||
          (WIFEXITED(st) && WEXITSTATUS(st) == 0)))
        errtxt[read_bytes(err, (uint8_t *)errtxt, sizeof errtxt - 1)] = '\0';
    ck_assert_msg((WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) ||
                  (WIFEXITED(st) && WEXITSTATUS(st) == 0),
                  "seed %llu run %d: child status 0x%x: %s", seed, idx, st, errtxt);
    n = read_bytes(out, (uint8_t *)buf, sizeof buf);
    ck_assert_uint_lt(n, sizeof buf);
    for (size_t i = 0; i < n; i++) {
        uint64_t run, ctr;
        if (buf[i] != '\n') continue;
        ck_assert_msg(decode_local(buf + start, i - start, "KIDS", &run, &ctr),
                      "seed %llu run %d: bad line \"%.*s\"", seed, idx,
                      (int)(i - start), buf + start);
        kv_push(kv, run, ctr);
        lines++;
        start = i + 1;
    }
    return lines;
}

START_TEST(sigkill_children)
{
    struct tdir t;
    char prog[512], out[400];
    struct keyvec kv = { NULL, 0, 0 };
    unsigned long long seed = (unsigned long long)time(NULL) * 2654435761u ^ (unsigned)getpid();
    uint64_t s = seed | 1;
    double full = 0;
    long span_us;
    int with_output = 0, runs = 200;
    size_t dups;
    x400_mtsid_config cfg;
    x400_mtsid_alloc *a;
    tdir_make(&t);
    snprintf(prog, sizeof prog, "%s/helper_mtsid_child", x400t_bindir());
    snprintf(out, sizeof out, "%s/out", t.dir);
    /* calibrate: how long does a whole child take here? */
    ck_assert_uint_eq(child_run(prog, t.state, out, -1, &kv, seed, -1, &full), 3000);
    span_us = (long)(full * 1.2e6);
    if (span_us < 2000) span_us = 2000;
    for (int i = 0; i < runs; i++) {
        uint64_t r = xs_next(&s);
        /* one in 8 killed at once (before exec or while opening), the rest
         * anywhere in the child's lifetime */
        long delay = (r % 8 == 0) ? (long)(r >> 8) % 300 : (long)((r >> 8) % (uint64_t)span_us);
        if (child_run(prog, t.state, out, delay, &kv, seed, i, NULL) > 0) with_output++;
    }
    ck_assert_msg(with_output > 0, "seed %llu: no child produced output", seed);
    dups = count_dups(kv.k, kv.n);
    ck_assert_msg(dups == 0, "seed %llu: %zu duplicate ids among %zu", seed, dups, kv.n);
    fprintf(stderr, "mtsid sigkill: %d runs killed, %d wrote ids, %zu ids, all distinct (seed %llu)\n",
            runs, with_output, kv.n, seed);
    /* the state survived every kill intact, and continues past every run */
    cfg_setup(&cfg, t.state, "KIDS", NULL);
    cfg.flags = 0;
    a = open_ok(&cfg);
    ck_assert_uint_gt(x400_mtsid_current_run(a), kv.k[kv.n - 1].run);
    x400_mtsid_free(a);
    free(kv.k);
    tdir_free(&t);
}
END_TEST

Suite *x400t_suite_mtsid(void)
{
    Suite *s = suite_create("mtsid");
    TCase *tc = tcase_create("text");
    tcase_add_test(tc, gdi_rules);
    tcase_add_test(tc, format_parse);
    suite_add_tcase(s, tc);

    tc = tcase_create("state");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, node_id_required);
    tcase_add_test(tc, missing_state_needs_create);
    tcase_add_test(tc, runs_durable_before_first_id);
    tcase_add_test(tc, clock_backwards);
    tcase_add_test(tc, restored_old_state);
    tcase_add_test(tc, counter_exhaustion_starts_durable_run);
    tcase_add_test(tc, max_field_lengths);
    tcase_add_test(tc, odometer_matches_encoder);
    tcase_add_test(tc, bad_state_files);
    tcase_add_test(tc, run_start_failure_is_sticky);
    tcase_add_test(tc, lock_in_process);
    tcase_add_test(tc, lock_across_processes);
    tcase_add_test(tc, caller_allocator);
    suite_add_tcase(s, tc);

    tc = tcase_create("threads");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, run_change_between_read_and_reserve);
    tcase_add_test(tc, threads_all_distinct);
    tcase_add_test(tc, threads_across_run_changes);
    suite_add_tcase(s, tc);

    tc = tcase_create("crash");   /* long fault runs: make check-long */
    tcase_set_tags(tc, X400T_LONG_TAG);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, sigkill_children);
    suite_add_tcase(s, tc);
    return s;
}
