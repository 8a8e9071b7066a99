/* Collision-free MTSIdentifier allocator (X.411 12.2.1.1.1.4).
 *
 * Uniqueness rests on three parts of the LocalIdentifier:
 *   node    configured per MTA, distinct within the domain;
 *   run     durable, strictly increasing per state file:
 *           run = max(stored + 1, clock seconds), written (temp, fsync,
 *           rename, fsync dir) before the run issues its first identifier;
 *   counter values of one run, handed out in blocks by one atomic
 *           fetch-add on the allocator, never wrapped: when they run out a
 *           new durable run starts under the allocator's mutex.
 * See doc/api.md ("MTS identifiers"). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "x400p1/mtsid.h"
#include "x400p1/orname.h"

/* Internal hooks for the test suite (not in the public header). */
int x400i_mtsid_encode_local(char *out, size_t len, const char *node,
                             uint64_t run, uint64_t counter);
void x400i_mtsid_seek(x400_mtsid_alloc *a, uint64_t next);
void x400i_mtsid_set_refill_hook(x400_mtsid_alloc *a, void (*fn)(void *), void *user);

#define L_MTSID X400_LAYER_MTSID
#define S_LOCAL X400_SOURCE_LOCAL
#define S_PROV X400_SOURCE_PROVIDER

/* ---- state file format (doc/api.md, "State file") ---- */
#define ST_SIZE 32
#define ST_HDR 10                /* magic + version */
#define ST_VERSION 1
#define ST_OFF_NODELEN 10
#define ST_OFF_RESERVED 11
#define ST_OFF_NODE 12
#define ST_OFF_RUN 20
#define ST_OFF_CRC 28
static const uint8_t st_magic[8] = { 'X', '4', '0', '0', 'M', 'T', 'I', 'D' };

#define DEFAULT_BLOCK 4096u

static const char b32_digits[32] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* Successor of each base-32 digit ('Z' is handled by the carry loop). */
static const char b32_succ[128] = {
    ['0'] = '1', ['1'] = '2', ['2'] = '3', ['3'] = '4', ['4'] = '5',
    ['5'] = '6', ['6'] = '7', ['7'] = '8', ['8'] = '9', ['9'] = 'A',
    ['A'] = 'B', ['B'] = 'C', ['C'] = 'D', ['D'] = 'E', ['E'] = 'F',
    ['F'] = 'G', ['G'] = 'H', ['H'] = 'J', ['J'] = 'K', ['K'] = 'M',
    ['M'] = 'N', ['N'] = 'P', ['P'] = 'Q', ['Q'] = 'R', ['R'] = 'S',
    ['S'] = 'T', ['T'] = 'V', ['V'] = 'W', ['W'] = 'X', ['X'] = 'Y',
    ['Y'] = 'Z',
};

struct x400_mtsid_alloc {
    /* Hot, written by every block reservation: its own cache line. */
    char pad0[64];
    _Atomic uint64_t next;   /* next unreserved counter value of `run` */
    char pad1[64 - sizeof(uint64_t)];
    _Atomic uint64_t run;    /* current run (published before next resets) */
    uint64_t limit;          /* counter values per run */
    uint32_t block;
    char node[X400_MTSID_NODE_MAX + 1];
    size_t node_len;
    x400_gdi gdi;
    const x400_allocator *alloc;
    x400_logger logger;
    x400_mtsid_time_fn time_fn;
    void *time_user;
    /* Test hook, run between reading `run` and reserving a block, so the
     * test suite can force a run change into that window. */
    void (*refill_hook)(void *);
    void *refill_hook_user;
    char *path, *tmp_path, *lock_path, *dir_path;
    int lock_fd;             /* -1 in memory (X400_MTSID_MEMORY) */
    int memory;              /* X400_MTSID_MEMORY: no state file, no lock */

    /* Slow path, under `mu`. */
    pthread_mutex_t mu;
    uint64_t stored_run;     /* last run known durable */
    int failed;              /* sticky error code of a failed run start */
    x400_diag fail_diag;
};

/* ---- small helpers ---- */

static void errtext(int e, char *buf, size_t len)
{
    /* XSI strerror_r (-std=c11 -D_DEFAULT_SOURCE selects it). */
    if (strerror_r(e, buf, len) != 0) snprintf(buf, len, "errno %d", e);
}

static int io_err(x400_diag *d, int reason, int e, const char *what,
                  const char *path)
{
    char et[128];
    errtext(e, et, sizeof et);
    return x400i_diag_set(d, L_MTSID, S_PROV, X400_ERR_IO, reason,
                          "%s %s: %s", what, path, et);
}

static bool is_printable_char(char ch)
{
    /* PrintableString, X.680 41.4 table 10 */
    if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
        (ch >= '0' && ch <= '9'))
        return true;
    return ch != '\0' && strchr(" '()+,-./:=?", ch) != NULL;
}

static bool is_numeric_char(char ch) { return (ch >= '0' && ch <= '9') || ch == ' '; }
static bool is_alpha(char ch) { return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z'); }
static bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }
static bool is_alnum(char ch) { return is_alpha(ch) || is_digit(ch); }
static bool is_ia5_printable(char ch) { return ch >= 0x20 && ch <= 0x7e; }

static void put_u64be(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) { p[i] = (uint8_t)v; v >>= 8; }
}
static uint64_t get_u64be(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | p[i];
    return v;
}
static void put_u32be(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static uint32_t get_u32be(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Write exactly X400_MTSID_DIGITS base-32 digits of v (v < 2^50). */
static void b32_put(char *out, uint64_t v)
{
    for (int i = X400_MTSID_DIGITS - 1; i >= 0; i--) {
        out[i] = b32_digits[v & 31u];
        v >>= 5;
    }
}

/* ---- GDI and text form ---- */

/* Length of a NUL-terminated string in an array of `cap` bytes, or cap if
 * it is not terminated. */
static size_t bounded_len(const char *s, size_t cap)
{
    const char *z = memchr(s, '\0', cap);
    return z ? (size_t)(z - s) : cap;
}

static int check_domain_name(const char *what, const char *v, size_t cap,
                             bool numeric, bool optional, x400_diag *d)
{
    size_t n = bounded_len(v, cap);
    if (n >= cap)
        return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_TOO_LONG, X400_MTSID_R_CONFIG,
                              "%s longer than %d characters (ub-domain-name-length)",
                              what, X400_GDI_DOMAIN_MAX);
    if (optional && n == 0) return X400_OK;
    for (size_t i = 0; i < n; i++)
        if (numeric ? !is_numeric_char(v[i]) : !is_printable_char(v[i]))
            return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_INVALID_ARG, X400_MTSID_R_CONFIG,
                                  "%s: character 0x%02x at %zu is not in %s", what,
                                  (unsigned)(unsigned char)v[i], i,
                                  numeric ? "NumericString" : "PrintableString");
    return X400_OK;
}

int x400_gdi_validate(const x400_gdi *g, x400_diag *d)
{
    size_t n;
    int rv;
    if (!g)
        return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_INVALID_ARG, X400_MTSID_R_CONFIG,
                              "no GlobalDomainIdentifier");
    /* CountryName, X.411 12.2.1.1.1.6: x121-dcc-code NumericString (SIZE(3))
     * or iso-3166-alpha2-code PrintableString (SIZE(2)). */
    n = bounded_len(g->country, sizeof g->country);
    if (n == 2 && is_alpha(g->country[0]) && is_alpha(g->country[1])) {
        /* alpha-2 */
    } else if (n == 3 && is_digit(g->country[0]) && is_digit(g->country[1]) &&
               is_digit(g->country[2])) {
        /* X.121 DCC */
    } else {
        return x400i_diag_set(d, L_MTSID, S_LOCAL,
                              n >= sizeof g->country ? X400_ERR_TOO_LONG : X400_ERR_INVALID_ARG,
                              X400_MTSID_R_CONFIG,
                              "country-name must be 2 letters (ISO 3166) or 3 digits (X.121 DCC)");
    }
    if ((rv = check_domain_name("administration-domain-name", g->admd, sizeof g->admd,
                                g->admd_numeric != 0, false, d)) < 0)
        return rv;
    if ((rv = check_domain_name("private-domain-identifier", g->prmd, sizeof g->prmd,
                                g->prmd_numeric != 0, true, d)) < 0)
        return rv;
    return X400_OK;
}

static int check_local(const char *local, size_t cap, x400_diag *d)
{
    size_t n = bounded_len(local, cap);
    if (n >= cap)
        return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_TOO_LONG, 0,
                              "local identifier longer than %d (ub-local-id-length)",
                              X400_MTSID_LOCAL_MAX);
    if (n == 0)
        return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_INVALID_ARG, 0,
                              "empty local identifier");
    for (size_t i = 0; i < n; i++)
        if (!is_ia5_printable(local[i]))
            return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_INVALID_ARG, 0,
                                  "local identifier: character 0x%02x at %zu is not printable IA5",
                                  (unsigned)(unsigned char)local[i], i);
    return X400_OK;
}

/* The GDI in the O/R name text form ("C=GB;A= ;P=SMHS"): one parser and
 * one formatter for both (lib/orname.c), so the escapes are the same. */
int x400_gdi_parse(const char *text, size_t len, x400_gdi *out, x400_diag *d)
{
    x400_orname n, only;
    int rv;
    if (!out || (!text && len))
        return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_INVALID_ARG, 0, "GDI text: NULL argument");
    if ((rv = x400_orname_parse(text, len, &n, d)) < 0) return rv;
    x400_orname_init(&only);
    memcpy(only.country, n.country, sizeof only.country);
    memcpy(only.admd, n.admd, sizeof only.admd);
    memcpy(only.prmd, n.prmd, sizeof only.prmd);
    only.admd_present = n.admd_present;
    only.admd_numeric = n.admd_numeric;
    only.prmd_numeric = n.prmd_numeric;
    if (!x400_orname_equal(&n, &only))
        return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_PARSE, 0,
                              "GDI text: only C, A (or A#) and P (or P#) allowed");
    if (!n.country[0] || !n.admd_present)
        return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_PARSE, 0,
                              "GDI text: %s missing (\"A= \" is the usual \"no ADMD\")",
                              n.country[0] ? "A" : "C");
    memset(out, 0, sizeof *out);
    memcpy(out->country, n.country, sizeof out->country);
    memcpy(out->admd, n.admd, sizeof out->admd);
    memcpy(out->prmd, n.prmd, sizeof out->prmd);
    out->admd_numeric = n.admd_numeric;
    out->prmd_numeric = n.prmd_numeric;
    return x400_gdi_validate(out, d);
}

int x400_gdi_format(const x400_gdi *gdi, char *buf, size_t len)
{
    x400_orname n;
    int rv;
    if (!gdi || !buf) return X400_ERR_INVALID_ARG;
    if (len) buf[0] = 0;
    if ((rv = x400_gdi_validate(gdi, NULL)) < 0) return rv;
    x400_orname_init(&n);
    memcpy(n.country, gdi->country, sizeof n.country);
    memcpy(n.admd, gdi->admd, sizeof n.admd);
    memcpy(n.prmd, gdi->prmd, sizeof n.prmd);
    n.admd_present = 1;
    n.admd_numeric = gdi->admd_numeric;
    n.prmd_numeric = gdi->prmd_numeric;
    return x400_orname_format(&n, buf, len);
}

int x400_mtsid_format(const x400_mtsid *id, char *buf, size_t len)
{
    int rv, n;
    if (!id || (!buf && len)) return X400_ERR_INVALID_ARG;
    if ((rv = x400_gdi_validate(&id->gdi, NULL)) < 0) return rv;
    if ((rv = check_local(id->local, sizeof id->local, NULL)) < 0) return rv;
    if (id->gdi.prmd[0])
        n = snprintf(buf, len, "[C=%s;A%s=%s;P%s=%s;L=%s]", id->gdi.country,
                     id->gdi.admd_numeric ? "#" : "", id->gdi.admd,
                     id->gdi.prmd_numeric ? "#" : "", id->gdi.prmd, id->local);
    else
        n = snprintf(buf, len, "[C=%s;A%s=%s;L=%s]", id->gdi.country,
                     id->gdi.admd_numeric ? "#" : "", id->gdi.admd, id->local);
    if (n < 0) return X400_ERR_INTERNAL;
    if ((size_t)n >= len) {
        if (len) buf[0] = '\0';
        return X400_ERR_BUFFER_TOO_SMALL;
    }
    return n;
}

/* Parse "<key>=<value>" up to the next ';' (not for L). */
static int parse_field(const char *t, size_t len, size_t *off, const char *key,
                       char *out, size_t cap, bool allow_numeric, bool *numeric,
                       x400_diag *d)
{
    size_t klen = strlen(key), o = *off, start, n;
    if (len - o < klen || memcmp(t + o, key, klen) != 0)
        return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_PARSE, 0,
                              "expected \"%s\" at offset %zu", key, o);
    o += klen;
    *numeric = false;
    if (o < len && t[o] == '#' && allow_numeric) {
        *numeric = true;
        o++;
    }
    if (o >= len || t[o] != '=')
        return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_PARSE, 0,
                              "expected '=' after \"%s\" at offset %zu", key, o);
    start = ++o;
    while (o < len && t[o] != ';') o++;
    if (o >= len)
        return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_PARSE, 0,
                              "field \"%s\" not terminated by ';'", key);
    n = o - start;
    if (n >= cap)
        return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_TOO_LONG, 0,
                              "field \"%s\" has %zu characters, at most %zu allowed",
                              key, n, cap - 1);
    for (size_t i = 0; i < n; i++) {
        char ch = t[start + i];
        if (*numeric ? !is_numeric_char(ch) : !is_printable_char(ch))
            return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_PARSE, 0,
                                  "field \"%s\": character 0x%02x at offset %zu not allowed",
                                  key, (unsigned)(unsigned char)ch, start + i);
    }
    memcpy(out, t + start, n);
    out[n] = '\0';
    *off = o + 1;
    return X400_OK;
}

int x400_mtsid_parse(const char *t, size_t len, x400_mtsid *out, x400_diag *d)
{
    size_t off = 1, n;
    bool num = false, dummy;
    int rv;
    if (!t || !out)
        return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_INVALID_ARG, 0, "NULL argument");
    memset(out, 0, sizeof *out);
    if (len < 2 || t[0] != '[' || t[len - 1] != ']')
        return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_PARSE, 0,
                              "MTS identifier text must be enclosed in '[' ... ']'");
    len--; /* drop the final ']': the local identifier runs up to it */
    if ((rv = parse_field(t, len, &off, "C", out->gdi.country, sizeof out->gdi.country,
                          false, &dummy, d)) < 0)
        return rv;
    (void)dummy;
    if ((rv = parse_field(t, len, &off, "A", out->gdi.admd, sizeof out->gdi.admd, true,
                          &num, d)) < 0)
        return rv;
    out->gdi.admd_numeric = num;
    if (len - off >= 2 && t[off] == 'P' && (t[off + 1] == '=' || t[off + 1] == '#')) {
        if ((rv = parse_field(t, len, &off, "P", out->gdi.prmd, sizeof out->gdi.prmd,
                              true, &num, d)) < 0)
            return rv;
        if (!out->gdi.prmd[0])
            return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_PARSE, 0,
                                  "empty private-domain-identifier (leave P out instead)");
        out->gdi.prmd_numeric = num;
    }
    if (len - off < 2 || t[off] != 'L' || t[off + 1] != '=')
        return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_PARSE, 0,
                              "expected \"L=\" at offset %zu", off);
    off += 2;
    n = len - off;
    if (n > X400_MTSID_LOCAL_MAX)
        return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_TOO_LONG, 0,
                              "local identifier has %zu characters, at most %d allowed",
                              n, X400_MTSID_LOCAL_MAX);
    if (n == 0)
        return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_PARSE, 0, "empty local identifier");
    for (size_t i = 0; i < n; i++)
        if (!is_ia5_printable(t[off + i]))
            return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_PARSE, 0,
                                  "local identifier: character 0x%02x at offset %zu is not printable IA5",
                                  (unsigned)(unsigned char)t[off + i], off + i);
    memcpy(out->local, t + off, n);
    out->local[n] = '\0';
    if ((rv = x400_gdi_validate(&out->gdi, d)) < 0) return rv;
    return X400_OK;
}

/* ---- local identifier layout ---- */

int x400i_mtsid_encode_local(char *out, size_t len, const char *node,
                             uint64_t run, uint64_t counter)
{
    size_t nl = strlen(node);
    if (nl == 0 || nl > X400_MTSID_NODE_MAX || run > X400_MTSID_RUN_MAX ||
        counter >= X400_MTSID_COUNTER_SPACE)
        return X400_ERR_INVALID_ARG;
    if (len < nl + 2 + 2 * X400_MTSID_DIGITS + 1) return X400_ERR_BUFFER_TOO_SMALL;
    memcpy(out, node, nl);
    out[nl] = '.';
    b32_put(out + nl + 1, run);
    out[nl + 1 + X400_MTSID_DIGITS] = '.';
    b32_put(out + nl + 2 + X400_MTSID_DIGITS, counter);
    out[nl + 2 + 2 * X400_MTSID_DIGITS] = '\0';
    return (int)(nl + 2 + 2 * X400_MTSID_DIGITS);
}

/* ---- durable state ---- */

static int64_t default_time(void *user)
{
    struct timespec ts;
    (void)user;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return -1;
    return (int64_t)ts.tv_sec;
}

static int write_all(int fd, const uint8_t *p, size_t n)
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

/* Durable replace of the state file: write "<path>.tmp", fsync it, rename
 * it over "<path>", fsync the directory.  Only after all four succeed is
 * the run allowed to issue identifiers. */
static int write_state(x400_mtsid_alloc *a, uint64_t run, x400_diag *d)
{
    uint8_t b[ST_SIZE];
    int fd, e;
    memset(b, 0, sizeof b);
    memcpy(b, st_magic, sizeof st_magic);
    b[8] = 0;
    b[9] = ST_VERSION;
    b[ST_OFF_NODELEN] = (uint8_t)a->node_len;
    memcpy(b + ST_OFF_NODE, a->node, a->node_len);
    put_u64be(b + ST_OFF_RUN, run);
    put_u32be(b + ST_OFF_CRC, x400i_crc32(b, ST_OFF_CRC));

    fd = open(a->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return io_err(d, X400_MTSID_R_WRITE_IO, errno, "cannot create", a->tmp_path);
    if (write_all(fd, b, sizeof b) != 0) {
        e = errno;
        close(fd);
        return io_err(d, X400_MTSID_R_WRITE_IO, e, "cannot write", a->tmp_path);
    }
    if (fsync(fd) != 0) {
        e = errno;
        close(fd);
        return io_err(d, X400_MTSID_R_WRITE_IO, e, "cannot fsync", a->tmp_path);
    }
    if (close(fd) != 0) return io_err(d, X400_MTSID_R_WRITE_IO, errno, "cannot close", a->tmp_path);
    if (rename(a->tmp_path, a->path) != 0)
        return io_err(d, X400_MTSID_R_WRITE_IO, errno, "cannot rename temp file onto", a->path);
    fd = open(a->dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return io_err(d, X400_MTSID_R_WRITE_IO, errno, "cannot open directory", a->dir_path);
    if (fsync(fd) != 0) {
        e = errno;
        close(fd);
        return io_err(d, X400_MTSID_R_WRITE_IO, e, "cannot fsync directory", a->dir_path);
    }
    close(fd);
    return X400_OK;
}

/* Read and validate the state file.  *stored = 0 when it is missing and
 * X400_MTSID_CREATE was given. */
static int read_state(x400_mtsid_alloc *a, unsigned flags, uint64_t *stored, x400_diag *d)
{
    uint8_t b[ST_SIZE + 16];
    size_t n = 0;
    int fd, e;
    uint64_t run;
    unsigned ver, nl;

    fd = open(a->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        e = errno;
        if (e == ENOENT && (flags & X400_MTSID_CREATE)) {
            *stored = 0;
            return X400_OK;
        }
        if (e == ENOENT)
            return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_NOT_FOUND, X400_MTSID_R_MISSING,
                                  "state file %s does not exist (pass X400_MTSID_CREATE only "
                                  "when setting up a new node)", a->path);
        return io_err(d, X400_MTSID_R_READ_IO, e, "cannot open state file", a->path);
    }
    while (n < sizeof b) {
        ssize_t r = read(fd, b + n, sizeof b - n);
        if (r < 0) {
            if (errno == EINTR) continue;
            e = errno;
            close(fd);
            return io_err(d, X400_MTSID_R_READ_IO, e, "cannot read state file", a->path);
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);

    if (n < ST_HDR)
        return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_CORRUPT, X400_MTSID_R_SHORT,
                              "state file %s truncated: %zu of %d bytes", a->path, n, ST_SIZE);
    if (memcmp(b, st_magic, sizeof st_magic) != 0)
        return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_CORRUPT, X400_MTSID_R_MAGIC,
                              "%s is not an MTSID state file (bad magic)", a->path);
    ver = (unsigned)b[8] << 8 | b[9];
    if (ver != ST_VERSION)
        return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_UNSUPPORTED, X400_MTSID_R_VERSION,
                              "state file %s has format version %u, this library reads %d",
                              a->path, ver, ST_VERSION);
    if (n < ST_SIZE)
        return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_CORRUPT, X400_MTSID_R_SHORT,
                              "state file %s truncated: %zu of %d bytes", a->path, n, ST_SIZE);
    if (n > ST_SIZE)
        return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_CORRUPT, X400_MTSID_R_LONG,
                              "state file %s has trailing bytes (more than %d)", a->path, ST_SIZE);
    if (get_u32be(b + ST_OFF_CRC) != x400i_crc32(b, ST_OFF_CRC))
        return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_CORRUPT, X400_MTSID_R_CHECKSUM,
                              "state file %s: CRC-32 mismatch (stored %08x, computed %08x)",
                              a->path, (unsigned)get_u32be(b + ST_OFF_CRC),
                              (unsigned)x400i_crc32(b, ST_OFF_CRC));
    nl = b[ST_OFF_NODELEN];
    run = get_u64be(b + ST_OFF_RUN);
    if (nl < 1 || nl > X400_MTSID_NODE_MAX || b[ST_OFF_RESERVED] != 0 ||
        run < 1 || run > X400_MTSID_RUN_MAX)
        return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_CORRUPT, X400_MTSID_R_FIELD,
                              "state file %s: field out of range (node length %u, run %llu)",
                              a->path, nl, (unsigned long long)run);
    for (unsigned i = 0; i < X400_MTSID_NODE_MAX; i++) {
        char ch = (char)b[ST_OFF_NODE + i];
        if (i < nl ? !is_alnum(ch) : ch != 0)
            return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_CORRUPT, X400_MTSID_R_FIELD,
                                  "state file %s: bad node id byte 0x%02x at %u",
                                  a->path, (unsigned)(unsigned char)ch, i);
    }
    if (nl != a->node_len || memcmp(b + ST_OFF_NODE, a->node, nl) != 0)
        return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_CORRUPT, X400_MTSID_R_NODE,
                              "state file %s belongs to node \"%.*s\", not \"%s\"",
                              a->path, (int)nl, (const char *)b + ST_OFF_NODE, a->node);
    *stored = run;
    return X400_OK;
}

/* Choose and durably record the next run.  Caller holds `mu` (or is open). */
static int start_run(x400_mtsid_alloc *a, uint64_t *run_out, x400_diag *d)
{
    int64_t now = a->time_fn(a->time_user);
    uint64_t run, clock_run;
    int rv;
    if (a->stored_run >= X400_MTSID_RUN_MAX)
        return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_LIMIT, X400_MTSID_R_RUN_SPACE,
                              "run numbers exhausted in %s (run %llu)", a->path,
                              (unsigned long long)a->stored_run);
    run = a->stored_run + 1;
    if (now < 0 || (uint64_t)now > X400_MTSID_RUN_MAX) {
        x400i_log(&a->logger, X400_LOG_WARNING, L_MTSID,
                  "clock value %lld out of range: ignored, run %llu from the state file",
                  (long long)now, (unsigned long long)run);
    } else {
        clock_run = (uint64_t)now;
        if (clock_run > run) run = clock_run;
        else if (clock_run + 1 < run)
            x400i_log(&a->logger, X400_LOG_NOTICE, L_MTSID,
                      "clock %lld is behind stored run %llu: run %llu taken from the state file",
                      (long long)now, (unsigned long long)a->stored_run,
                      (unsigned long long)run);
    }
    /* In memory nothing is made durable: see X400_MTSID_MEMORY. */
    if (!a->memory && (rv = write_state(a, run, d)) < 0) return rv;
    a->stored_run = run;
    x400i_log(&a->logger, X400_LOG_INFO, L_MTSID, "node %s: run %llu durable in %s",
              a->node, (unsigned long long)run, a->path);
    *run_out = run;
    return X400_OK;
}

/* ---- open / close ---- */

static char *dup_suffix(const x400_allocator *al, const char *s, size_t n, const char *suffix)
{
    size_t sl = strlen(suffix);
    char *p = x400i_malloc(al, n + sl + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    memcpy(p + n, suffix, sl + 1);
    return p;
}

static void free_alloc(x400_mtsid_alloc *a)
{
    const x400_allocator *al = a->alloc;
    x400i_free(al, a->path);
    x400i_free(al, a->tmp_path);
    x400i_free(al, a->lock_path);
    x400i_free(al, a->dir_path);
    x400i_free(al, a);
}

void x400_mtsid_config_init(x400_mtsid_config *cfg)
{
    if (cfg) memset(cfg, 0, sizeof *cfg);
}

static int check_config(const x400_mtsid_config *cfg, x400_diag *d)
{
    size_t nl;
    if (!cfg->node_id || !cfg->node_id[0])
        return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_INVALID_ARG, X400_MTSID_R_CONFIG,
                              "no node id: every MTA of a domain needs its own node id "
                              "(1..%d of [A-Za-z0-9])", X400_MTSID_NODE_MAX);
    nl = strlen(cfg->node_id);
    if (nl > X400_MTSID_NODE_MAX)
        return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_TOO_LONG, X400_MTSID_R_CONFIG,
                              "node id \"%s\" longer than %d characters", cfg->node_id,
                              X400_MTSID_NODE_MAX);
    for (size_t i = 0; i < nl; i++)
        if (!is_alnum(cfg->node_id[i]))
            return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_INVALID_ARG, X400_MTSID_R_CONFIG,
                                  "node id \"%s\": character 0x%02x not in [A-Za-z0-9]",
                                  cfg->node_id, (unsigned)(unsigned char)cfg->node_id[i]);
    if (cfg->flags & X400_MTSID_MEMORY) {
        if (cfg->state_path || (cfg->flags & X400_MTSID_CREATE))
            return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_INVALID_ARG, X400_MTSID_R_CONFIG,
                                  "X400_MTSID_MEMORY takes no state file (state_path %s%s)",
                                  cfg->state_path ? cfg->state_path : "NULL",
                                  (cfg->flags & X400_MTSID_CREATE) ? ", X400_MTSID_CREATE" : "");
    } else if (!cfg->state_path || !cfg->state_path[0])
        return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_INVALID_ARG, X400_MTSID_R_CONFIG,
                              "no state file path");
    else if (cfg->state_path[strlen(cfg->state_path) - 1] == '/')
        return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_INVALID_ARG, X400_MTSID_R_CONFIG,
                              "state file path %s names a directory", cfg->state_path);
    if (cfg->counter_limit > X400_MTSID_COUNTER_SPACE)
        return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_INVALID_ARG, X400_MTSID_R_CONFIG,
                              "counter_limit above 2^50");
    if (cfg->flags & ~(X400_MTSID_CREATE | X400_MTSID_MEMORY))
        return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_INVALID_ARG, X400_MTSID_R_CONFIG,
                              "unknown flags 0x%x",
                              cfg->flags & ~(X400_MTSID_CREATE | X400_MTSID_MEMORY));
    return x400_gdi_validate(&cfg->gdi, d);
}

int x400_mtsid_new(x400_mtsid_alloc **out, const x400_mtsid_config *cfg, x400_diag *d)
{
    const x400_allocator *al;
    x400_mtsid_alloc *a;
    const char *slash;
    size_t pl;
    uint64_t run;
    int rv;

    x400i_diag_clear(d);
    if (!cfg || !out)
        return x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_INVALID_ARG, X400_MTSID_R_CONFIG,
                              "NULL config or result pointer");
    *out = NULL;
    if ((rv = check_config(cfg, d)) < 0) return rv;
    al = x400i_alloc_or_default(cfg->alloc);
    a = x400i_calloc(al, 1, sizeof *a);
    if (!a) goto nomem;
    a->alloc = al;
    a->lock_fd = -1;
    a->node_len = strlen(cfg->node_id);
    memcpy(a->node, cfg->node_id, a->node_len + 1);
    a->gdi = cfg->gdi;
    if (cfg->logger) a->logger = *cfg->logger;
    a->time_fn = cfg->time_fn ? cfg->time_fn : default_time;
    a->time_user = cfg->time_user;
    a->block = cfg->block ? cfg->block : DEFAULT_BLOCK;
    a->limit = cfg->counter_limit ? cfg->counter_limit : X400_MTSID_COUNTER_SPACE;

    if (cfg->flags & X400_MTSID_MEMORY) {
        a->memory = 1;
        if (!(a->path = dup_suffix(al, "(memory)", 8, ""))) goto nomem;
        x400i_log(&a->logger, X400_LOG_NOTICE, L_MTSID,
                  "node %s: identifiers allocated in memory, not crash-safe "
                  "(they may repeat after a restart)", a->node);
        goto locked;
    }
    pl = strlen(cfg->state_path);
    a->path = dup_suffix(al, cfg->state_path, pl, "");
    a->tmp_path = dup_suffix(al, cfg->state_path, pl, ".tmp");
    a->lock_path = dup_suffix(al, cfg->state_path, pl, ".lock");
    slash = strrchr(cfg->state_path, '/');
    if (!slash) a->dir_path = dup_suffix(al, ".", 1, "");
    else if (slash == cfg->state_path) a->dir_path = dup_suffix(al, "/", 1, "");
    else a->dir_path = dup_suffix(al, cfg->state_path, (size_t)(slash - cfg->state_path), "");
    if (!a->path || !a->tmp_path || !a->lock_path || !a->dir_path) goto nomem;

    /* The lock lives in a separate file that is never replaced: the state
     * file itself is renamed over on every run start, so a lock on it
     * would not exclude a second opener.  flock() locks belong to the open
     * file description, so two allocators in one process exclude each
     * other too. */
    a->lock_fd = open(a->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (a->lock_fd < 0) {
        rv = io_err(d, X400_MTSID_R_LOCK_IO, errno, "cannot open lock file", a->lock_path);
        goto fail;
    }
    if (flock(a->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        if (e == EWOULDBLOCK)
            rv = x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_DUPLICATE, X400_MTSID_R_LOCKED,
                                "state file %s is in use by another allocator (lock %s held)",
                                a->path, a->lock_path);
        else
            rv = io_err(d, X400_MTSID_R_LOCK_IO, e, "cannot lock", a->lock_path);
        goto fail;
    }
    if ((rv = read_state(a, cfg->flags, &a->stored_run, d)) < 0) goto fail;
locked:
    if ((rv = start_run(a, &run, d)) < 0) goto fail;
    if (pthread_mutex_init(&a->mu, NULL) != 0) {
        rv = x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_NOMEM, 0, "pthread_mutex_init failed");
        goto fail;
    }
    atomic_init(&a->run, run);
    atomic_init(&a->next, 0);
    *out = a;
    return X400_OK;

nomem:
    rv = x400i_diag_set(d, L_MTSID, S_LOCAL, X400_ERR_NOMEM, 0, "out of memory");
fail:
    if (a) {
        if (a->lock_fd >= 0) close(a->lock_fd);
        free_alloc(a);
    }
    return rv;
}

void x400_mtsid_free(x400_mtsid_alloc *a)
{
    if (!a) return;
    pthread_mutex_destroy(&a->mu);
    if (a->lock_fd >= 0) close(a->lock_fd); /* releases the flock */
    free_alloc(a);
}

uint64_t x400_mtsid_current_run(const x400_mtsid_alloc *a)
{
    return a ? atomic_load_explicit(&((x400_mtsid_alloc *)(uintptr_t)a)->run,
                                    memory_order_acquire) : 0;
}

const x400_gdi *x400_mtsid_gdi(const x400_mtsid_alloc *a) { return a ? &a->gdi : NULL; }

/* Test hook: move the counter of the current run (to reach its maximum). */
void x400i_mtsid_seek(x400_mtsid_alloc *a, uint64_t next)
{
    atomic_store_explicit(&a->next, next, memory_order_release);
}

/* Test hook: see refill_hook above.  Not thread-safe; set before use. */
void x400i_mtsid_set_refill_hook(x400_mtsid_alloc *a, void (*fn)(void *), void *user)
{
    a->refill_hook = fn;
    a->refill_hook_user = user;
}

/* ---- cursors ---- */

int x400_mtsid_cursor_init(x400_mtsid_cursor *c, x400_mtsid_alloc *a)
{
    if (!c || !a) return X400_ERR_INVALID_ARG;
    memset(c, 0, sizeof *c);
    c->owner = a;
    c->tmpl.gdi = a->gdi;
    memcpy(c->tmpl.local, a->node, a->node_len);
    c->run_pos = (unsigned)a->node_len + 1;
    c->ctr_pos = c->run_pos + X400_MTSID_DIGITS + 1;
    c->tmpl.local[a->node_len] = '.';
    c->tmpl.local[c->ctr_pos - 1] = '.';
    c->tmpl.local[c->ctr_pos + X400_MTSID_DIGITS] = '\0';
    return X400_OK;
}

/* Slow path: the run's counter space is used up.  Under `mu`, start a new
 * durable run unless another thread already did (run moved on or next
 * reset).  Publication order: run first, then next = 0, both release; a
 * reserver reads run, fetch-adds next, and re-reads run, so a block taken
 * from the new space is never paired with the old run. */
static int new_run_slow(x400_mtsid_alloc *a, uint64_t seen_run, x400_diag *d)
{
    int rv = X400_OK;
    uint64_t run;
    pthread_mutex_lock(&a->mu);
    if (a->failed) {
        rv = x400i_diag_set(d, L_MTSID, S_LOCAL, a->failed, X400_MTSID_R_FAILED,
                            "an earlier run start failed (%s): close and reopen",
                            a->fail_diag.text);
    } else if (atomic_load_explicit(&a->run, memory_order_acquire) == seen_run &&
               atomic_load_explicit(&a->next, memory_order_acquire) >= a->limit) {
        rv = start_run(a, &run, d);
        if (rv < 0) {
            a->failed = rv;
            if (d) a->fail_diag = *d;
        } else {
            atomic_store_explicit(&a->run, run, memory_order_release);
            atomic_store_explicit(&a->next, 0, memory_order_release);
        }
    }
    pthread_mutex_unlock(&a->mu);
    return rv;
}

static int cursor_refill(x400_mtsid_cursor *c)
{
    x400_mtsid_alloc *a = c->owner;
    for (;;) {
        uint64_t r = atomic_load_explicit(&a->run, memory_order_acquire), v;
        int rv;
        if (X400I_UNLIKELY(a->refill_hook != NULL)) a->refill_hook(a->refill_hook_user);
        v = atomic_fetch_add_explicit(&a->next, a->block, memory_order_acq_rel);
        if (X400I_LIKELY(v < a->limit)) {
            if (atomic_load_explicit(&a->run, memory_order_acquire) != r)
                continue; /* the block came from a newer run's space */
            c->next = v;
            c->end = a->limit - v < a->block ? a->limit : v + a->block;
            if (c->run != r) {
                c->run = r;
                b32_put(c->tmpl.local + c->run_pos, r);
            }
            b32_put(c->tmpl.local + c->ctr_pos, v);
            return X400_OK;
        }
        if ((rv = new_run_slow(a, r, &c->diag)) < 0) return rv;
    }
}

int x400_mtsid_next(x400_mtsid_cursor *c, x400_mtsid *out)
{
    char *p;
    if (X400I_UNLIKELY(!c || !out || !c->owner)) return X400_ERR_INVALID_ARG;
    if (X400I_UNLIKELY(c->next >= c->end)) {
        int rv = cursor_refill(c);
        if (rv < 0) return rv;
    }
    *out = c->tmpl;
    if (X400I_LIKELY(++c->next < c->end)) {
        /* Odometer: increment the last base-32 digits in place.  Bounded:
         * next < end <= 2^50, so a carry never reaches the separator. */
        p = c->tmpl.local + c->ctr_pos + X400_MTSID_DIGITS - 1;
        while (*p == 'Z') *p-- = '0';
        *p = b32_succ[(unsigned char)*p];
    }
    return X400_OK;
}

const x400_diag *x400_mtsid_cursor_diag(const x400_mtsid_cursor *c)
{
    return c ? &c->diag : x400i_diag_none();
}
