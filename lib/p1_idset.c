/* The received-identifier set: a bounded FIFO of MTSIdentifiers with a
 * linear-probing hash index (backward-shift deletion), persisted as a
 * CRC-protected blob (X.411 duplicate detection is left to the MTA; this
 * is the store it needs). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "p1_int.h"
#include "x400p1/p1.h"

#define ENTRY_BYTES 72   /* country 4, admd 17, prmd 17, flags 1, local 33 */
#define MAGIC "X4IDSET1"

struct x400_p1_idset {
    const x400_allocator *a;
    size_t cap;          /* entries kept */
    size_t count;
    size_t head;         /* index of the oldest entry in ring[] */
    x400_mtsid *ring;
    uint32_t *index;     /* ring position + 1, 0 = empty */
    size_t mask;         /* index size - 1 (power of two >= 2 * cap) */
};

static uint64_t id_hash(const x400_mtsid *id)
{
    uint64_t h = 1469598103934665603ull;
    const char *parts[4] = { id->gdi.country, id->gdi.admd, id->gdi.prmd, id->local };
    for (int i = 0; i < 4; i++) {
        for (const char *p = parts[i]; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
        h = (h ^ 0xFF) * 1099511628211ull;
    }
    h ^= (uint64_t)(id->gdi.admd_numeric ? 1 : 0) | (uint64_t)(id->gdi.prmd_numeric && id->gdi.prmd[0] ? 2 : 0);
    h *= 1099511628211ull;
    return h ^ (h >> 29);
}

static int valid_id(const x400_mtsid *id)
{
    size_t n = strnlen(id->local, sizeof id->local);
    if (x400_gdi_validate(&id->gdi, NULL) || n == 0 || n == sizeof id->local) return 0;
    return x400i_charset_ok(X400I_U_IA5, id->local, n);
}

int x400_p1_idset_new(x400_p1_idset **out, size_t capacity, const x400_allocator *alloc)
{
    if (!out || capacity < 1 || capacity > (1u << 24)) return X400_ERR_INVALID_ARG;
    const x400_allocator *a = x400i_alloc_or_default(alloc);
    x400_p1_idset *s = x400i_calloc(a, 1, sizeof *s);
    if (!s) return X400_ERR_NOMEM;
    size_t isz = 1;
    while (isz < capacity * 2) isz <<= 1;
    s->a = a;
    s->cap = capacity;
    s->mask = isz - 1;
    s->ring = x400i_calloc(a, capacity, sizeof *s->ring);
    s->index = x400i_calloc(a, isz, sizeof *s->index);
    if (!s->ring || !s->index) {
        x400_p1_idset_free(s);
        return X400_ERR_NOMEM;
    }
    *out = s;
    return X400_OK;
}

void x400_p1_idset_free(x400_p1_idset *s)
{
    if (!s) return;
    x400i_free(s->a, s->ring);
    x400i_free(s->a, s->index);
    x400i_free(s->a, s);
}

static size_t find(const x400_p1_idset *s, const x400_mtsid *id, int *found)
{
    size_t i = (size_t)id_hash(id) & s->mask;
    for (;;) {
        uint32_t e = s->index[i];
        if (e == 0) { *found = 0; return i; }
        if (x400_mtsid_equal(&s->ring[e - 1], id)) { *found = 1; return i; }
        i = (i + 1) & s->mask;
    }
}

/* Remove index slot i, shifting later members of the cluster back. */
static void index_delete(x400_p1_idset *s, size_t i)
{
    size_t j = i;
    s->index[i] = 0;
    for (;;) {
        j = (j + 1) & s->mask;
        uint32_t e = s->index[j];
        if (e == 0) return;
        size_t home = (size_t)id_hash(&s->ring[e - 1]) & s->mask;
        /* move e to i if its home is not in (i, j] cyclically */
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            s->index[i] = e;
            s->index[j] = 0;
            i = j;
        }
    }
}

int x400_p1_idset_contains(const x400_p1_idset *s, const x400_mtsid *id)
{
    int found;
    if (!s || !id) return 0;
    find(s, id, &found);
    return found;
}

int x400_p1_idset_insert(x400_p1_idset *s, const x400_mtsid *id)
{
    int found;
    if (!s || !id || !valid_id(id)) return X400_ERR_INVALID_ARG;
    size_t slot = find(s, id, &found);
    if (found) return X400_ERR_DUPLICATE;
    size_t pos;
    if (s->count == s->cap) {   /* evict the oldest */
        pos = s->head;
        int f2;
        size_t old = find(s, &s->ring[pos], &f2);
        index_delete(s, old);
        s->head = (s->head + 1) % s->cap;
        s->count--;
        slot = find(s, id, &found);
    } else {
        pos = (s->head + s->count) % s->cap;
    }
    s->ring[pos] = *id;
    s->index[slot] = (uint32_t)(pos + 1);
    s->count++;
    return X400_OK;
}

size_t x400_p1_idset_count(const x400_p1_idset *s) { return s ? s->count : 0; }
size_t x400_p1_idset_capacity(const x400_p1_idset *s) { return s ? s->cap : 0; }

/* ---- persistence ---- */

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int x400_p1_idset_save(const x400_p1_idset *s, uint8_t **blob, size_t *len)
{
    if (!s || !blob || !len) return X400_ERR_INVALID_ARG;
    size_t n = 12 + s->count * ENTRY_BYTES + 4;
    uint8_t *b = x400i_calloc(s->a, 1, n);
    if (!b) return X400_ERR_NOMEM;
    memcpy(b, MAGIC, 8);
    put32(b + 8, (uint32_t)s->count);
    for (size_t i = 0; i < s->count; i++) {
        const x400_mtsid *id = &s->ring[(s->head + i) % s->cap];
        uint8_t *e = b + 12 + i * ENTRY_BYTES;
        memcpy(e, id->gdi.country, 4);
        memcpy(e + 4, id->gdi.admd, 17);
        memcpy(e + 21, id->gdi.prmd, 17);
        e[38] = (uint8_t)((id->gdi.admd_numeric ? 1 : 0) | (id->gdi.prmd_numeric ? 2 : 0));
        memcpy(e + 39, id->local, 33);
    }
    put32(b + n - 4, x400i_crc32(b, n - 4));
    *blob = b;
    *len = n;
    return X400_OK;
}

static int corrupt(x400_diag *d, const char *what)
{
    return x400i_diag_set(d, X400_LAYER_P1, X400_SOURCE_LOCAL, X400_ERR_CORRUPT, 0, "received-identifier set: %s", what);
}

int x400_p1_idset_load(x400_p1_idset *s, const uint8_t *b, size_t len, x400_diag *d)
{
    if (!s || (!b && len)) return X400_ERR_INVALID_ARG;
    if (len < 16 || memcmp(b, MAGIC, 8) != 0) return corrupt(d, "bad magic or too short");
    size_t n = get32(b + 8);
    if (n > (len - 16) / ENTRY_BYTES || len != 16 + n * ENTRY_BYTES) return corrupt(d, "length does not match the entry count");
    if (get32(b + len - 4) != x400i_crc32(b, len - 4)) return corrupt(d, "CRC-32 mismatch");
    /* validate everything before touching the set */
    for (size_t i = 0; i < n; i++) {
        const uint8_t *e = b + 12 + i * ENTRY_BYTES;
        x400_mtsid id;
        memset(&id, 0, sizeof id);
        memcpy(id.gdi.country, e, 4);
        memcpy(id.gdi.admd, e + 4, 17);
        memcpy(id.gdi.prmd, e + 21, 17);
        memcpy(id.local, e + 39, 33);
        if (e[38] > 3 || id.gdi.country[3] || id.gdi.admd[16] || id.gdi.prmd[16] || id.local[32] || !valid_id(&id))
            return corrupt(d, "invalid entry");
    }
    memset(s->index, 0, (s->mask + 1) * sizeof *s->index);
    s->count = 0;
    s->head = 0;
    size_t first = n > s->cap ? n - s->cap : 0;   /* keep the newest */
    for (size_t i = first; i < n; i++) {
        const uint8_t *e = b + 12 + i * ENTRY_BYTES;
        x400_mtsid id;
        memset(&id, 0, sizeof id);
        memcpy(id.gdi.country, e, 4);
        memcpy(id.gdi.admd, e + 4, 17);
        memcpy(id.gdi.prmd, e + 21, 17);
        id.gdi.admd_numeric = e[38] & 1;
        id.gdi.prmd_numeric = (e[38] >> 1) & 1;
        memcpy(id.local, e + 39, 33);
        if (x400_p1_idset_insert(s, &id) == X400_ERR_DUPLICATE) return corrupt(d, "duplicate entry");
    }
    return X400_OK;
}

static int ioerr(x400_diag *d, const char *what, const char *path)
{
    return x400i_diag_set(d, X400_LAYER_P1, X400_SOURCE_LOCAL, X400_ERR_IO, errno, "received-identifier set: %s %s: %s", what, path, strerror(errno));
}

int x400_p1_idset_save_file(const x400_p1_idset *s, const char *path, x400_diag *d)
{
    uint8_t *b;
    size_t n;
    char tmp[4096];
    if (!s || !path || snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return X400_ERR_INVALID_ARG;
    int rc = x400_p1_idset_save(s, &b, &n);
    if (rc) return rc;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) { rc = ioerr(d, "open", tmp); goto out; }
    for (size_t o = 0; o < n;) {
        ssize_t w = write(fd, b + o, n - o);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) { rc = ioerr(d, "write", tmp); close(fd); unlink(tmp); goto out; }
        o += (size_t)w;
    }
    if (fsync(fd) != 0) { rc = ioerr(d, "fsync", tmp); close(fd); unlink(tmp); goto out; }
    close(fd);
    if (rename(tmp, path) != 0) { rc = ioerr(d, "rename", tmp); unlink(tmp); goto out; }
    {   /* make the rename durable */
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", path);
        char *sl = strrchr(dir, '/');
        if (sl) { if (sl == dir) sl[1] = 0; else *sl = 0; } else snprintf(dir, sizeof dir, ".");
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) { (void)fsync(dfd); close(dfd); }
    }
out:
    x400i_free(s->a, b);
    return rc;
}

int x400_p1_idset_load_file(x400_p1_idset *s, const char *path, x400_diag *d)
{
    if (!s || !path) return X400_ERR_INVALID_ARG;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return x400i_diag_set(d, X400_LAYER_P1, X400_SOURCE_LOCAL, X400_ERR_NOT_FOUND, ENOENT, "received-identifier set: %s does not exist", path);
        return ioerr(d, "open", path);
    }
    struct stat st;
    if (fstat(fd, &st) != 0) { int rc = ioerr(d, "stat", path); close(fd); return rc; }
    size_t max = 16 + (size_t)(1u << 24) * ENTRY_BYTES;
    if (st.st_size < 0 || (uint64_t)st.st_size > max) { close(fd); return corrupt(d, "file too large"); }
    size_t n = (size_t)st.st_size;
    uint8_t *b = x400i_malloc(s->a, n ? n : 1);
    if (!b) { close(fd); return X400_ERR_NOMEM; }
    size_t o = 0;
    while (o < n) {
        ssize_t r = read(fd, b + o, n - o);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { int rc = ioerr(d, "read", path); close(fd); x400i_free(s->a, b); return rc; }
        if (r == 0) break;
        o += (size_t)r;
    }
    close(fd);
    int rc = o == n ? x400_p1_idset_load(s, b, n, d) : corrupt(d, "file shrank while read");
    x400i_free(s->a, b);
    return rc;
}
