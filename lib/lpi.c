/* LPI: the internal connection-handle table (include/x400p1/lpi.h).
 *
 * Concurrency scheme (a per-slot seqlock without retry):
 *   slot.gen  _Atomic uint64_t, even = free, odd = live; written only by
 *             open/close with the table mutex held, read by get() without.
 *   slot.obj  _Atomic pointer, written only with the mutex held.
 *   open:  obj := p (release); gen := g + 1 (release)   [g even]
 *   close: gen := g + 1 (release); obj := NULL (release) [g odd]
 *   get:   g1 := gen (acquire); g1 == h.gen ?  o := obj (acquire);
 *          g2 := gen; g2 == g1 ? o : stale.
 * Seeing obj = p from open(g + 1) means seeing gen >= g + 1 (acquire on
 * gen synchronises with the release that followed the store of p), and
 * seeing any later obj store (NULL from close, q from the next open) means
 * g2 >= h.gen + 1 because close stores gen before obj.  Generations only
 * grow, so g2 == g1 proves no open/close of the slot happened between the
 * two loads: the handle was live and `o` is its object.  If g2 differs the
 * handle has been closed, so refusing it (instead of retrying) is exact and
 * keeps get() wait-free.
 *
 * open/close/close_all take a mutex around a FIFO free queue: O(1), no
 * allocation, and no ABA/tag-wrap reasoning such as a lock-free Treiber
 * stack with a 32-bit tag would need (a reader preempted across 2^32 pops
 * is possible in principle).  They run at connection-setup rate; the hot
 * path, get(), never takes the lock.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "x400p1/lpi.h"

#define NIL UINT32_MAX
/* The generation a slot is left at by the close that ends its last
 * possible use (2^64 - 2): it is never reopened, so generations never wrap. */
#define GEN_RETIRED (UINT64_MAX - 1)

struct slot {
    _Atomic uint64_t gen;
    _Atomic(void *) obj;
};

struct x400_lpi {
    /* read by get(): immutable after creation */
    uint32_t id;
    uint32_t capacity;
    struct slot *slots;
    /* keep the writers' fields off the readers' cache line */
    unsigned char pad_[64];
    pthread_mutex_t lock;
    uint32_t *next;    /* FIFO free queue links, under lock */
    uint32_t head;     /* first free slot or NIL, under lock */
    uint32_t tail;     /* last free slot or NIL, under lock */
    _Atomic uint32_t retired; /* written under lock */
    _Atomic size_t live;      /* written under lock */
    const x400_allocator *alloc;
};

int x400i_lpi_test_set_generation(x400_lpi *t, uint32_t slot, uint64_t gen);

/* ---- text form ---- */

static char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) *p++ = tmp[--n];
    return p;
}

int x400_lpi_format(x400_lpi_handle h, char *buf, size_t len)
{
    char tmp[X400_LPI_TEXT_MAX], *p = tmp;
    size_t n;
    if (!buf) return X400_ERR_INVALID_ARG;
    p = put_u64(p, h.table);
    *p++ = '-';
    p = put_u64(p, h.slot);
    *p++ = '-';
    p = put_u64(p, h.generation);
    n = (size_t)(p - tmp);
    if (n >= len) {
        if (len) buf[0] = '\0';
        return X400_ERR_BUFFER_TOO_SMALL;
    }
    memcpy(buf, tmp, n);
    buf[n] = '\0';
    return (int)n;
}

/* Quote at most 48 bytes of untrusted text for a diagnostic. */
static void quote(const char *s, size_t len, char *out, size_t outlen)
{
    size_t o = 0, i;
    for (i = 0; i < len && i < 48 && o + 5 < outlen; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            out[o++] = (char)c;
        } else {
            snprintf(out + o, outlen - o, "\\x%02x", c);
            o += 4;
        }
    }
    if (i < len && o + 4 < outlen) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

static int parse_fail(const char *text, size_t len, x400_diag *diag,
                      const char *field, size_t off, const char *what)
{
    char q[4 * 48 + 8];
    if (!diag) return X400_ERR_PARSE;
    quote(text, len, q, sizeof q);
    return x400i_diag_set(diag, X400_LAYER_LPI, X400_SOURCE_LOCAL, X400_ERR_PARSE,
                          X400_LPI_REASON_SYNTAX,
                          "LPI text \"%s\": %s field: %s at offset %zu", q, field,
                          what, off);
}

/* Scan the decimal field starting at *off (at most `max`).  Returns 0, or
 * 1 (no digit), 2 (leading zero), 3 (value above max).  Inlined with a
 * constant max, so the overflow test needs no division at run time. */
enum { FIELD_OK, FIELD_EMPTY, FIELD_LEADING_ZERO, FIELD_OVERFLOW };
static inline int scan_field(const char *text, size_t len, size_t *off, uint64_t max,
                             uint64_t *v)
{
    size_t o = *off;
    uint64_t x = 0;
    if (o >= len || text[o] < '0' || text[o] > '9') return FIELD_EMPTY;
    if (text[o] == '0' && o + 1 < len && text[o + 1] >= '0' && text[o + 1] <= '9')
        return FIELD_LEADING_ZERO;
    for (; o < len && text[o] >= '0' && text[o] <= '9'; o++) {
        unsigned d = (unsigned)(text[o] - '0');
        if (x > max / 10 || (x == max / 10 && d > max % 10)) return FIELD_OVERFLOW;
        x = x * 10 + d;
    }
    *off = o;
    *v = x;
    return FIELD_OK;
}

/* Canonical text form "table-slot-generation", see x400_lpi_parse(). */
int x400_lpi_parse(const char *text, size_t len, x400_lpi_handle *h, x400_diag *diag)
{
    static const char *const names[3] = { "table", "slot", "generation" };
    uint64_t v[3];
    size_t off = 0;
    int f, rc;
    if (!h || (!text && len)) return X400_ERR_INVALID_ARG;
    for (f = 0; f < 3; f++) {
        if (f > 0) {
            if (off >= len)
                return parse_fail(text, len, diag, names[f], off, "missing '-' and value");
            if (text[off] != '-')
                return parse_fail(text, len, diag, names[f - 1], off,
                                  "expected a decimal digit or '-'");
            off++;
        }
        rc = scan_field(text, len, &off, f == 2 ? UINT64_MAX : UINT32_MAX, &v[f]);
        if (X400I_UNLIKELY(rc != FIELD_OK))
            return parse_fail(text, len, diag, names[f], off,
                              rc == FIELD_LEADING_ZERO ? "leading zero"
                              : rc == FIELD_EMPTY
                                  ? (off < len ? "expected a decimal digit" : "empty")
                              : f == 2 ? "value exceeds 18446744073709551615"
                                       : "value exceeds 4294967295");
    }
    if (off != len)
        return parse_fail(text, len, diag, names[2], off, "trailing characters");
    h->table = (uint32_t)v[0];
    h->slot = (uint32_t)v[1];
    h->generation = v[2];
    return X400_OK;
}

/* ---- creation ---- */

int x400_lpi_new(x400_lpi **out, uint32_t table_id, uint32_t capacity,
                 const x400_allocator *alloc)
{
    x400_lpi *t;
    unsigned char *block;
    if (!out) return X400_ERR_INVALID_ARG;
    *out = NULL;
    if (capacity == 0 || capacity > X400_LPI_MAX_CAPACITY) return X400_ERR_INVALID_ARG;
    if (alloc && (!alloc->malloc || !alloc->free || !alloc->calloc))
        return X400_ERR_INVALID_ARG;
    alloc = x400i_alloc_or_default(alloc);
    t = x400i_calloc(alloc, 1, sizeof *t);
    if (!t) return X400_ERR_NOMEM;
    /* one block: the slots, then the free-queue links */
    block = x400i_calloc(alloc, capacity, sizeof(struct slot) + sizeof(uint32_t));
    if (!block) {
        x400i_free(alloc, t);
        return X400_ERR_NOMEM;
    }
    if (pthread_mutex_init(&t->lock, NULL) != 0) {
        x400i_free(alloc, block);
        x400i_free(alloc, t);
        return X400_ERR_NOMEM;
    }
    t->id = table_id;
    t->capacity = capacity;
    t->slots = (struct slot *)(void *)block;
    t->next = (uint32_t *)(void *)(block + (size_t)capacity * sizeof(struct slot));
    for (uint32_t i = 0; i < capacity; i++) {
        atomic_init(&t->slots[i].gen, 0);
        atomic_init(&t->slots[i].obj, NULL);
        t->next[i] = i + 1 < capacity ? i + 1 : NIL;
    }
    t->head = 0;
    t->tail = capacity - 1;
    atomic_init(&t->retired, 0);
    atomic_init(&t->live, 0);
    t->alloc = alloc;
    *out = t;
    return X400_OK;
}

void x400_lpi_free(x400_lpi *t)
{
    if (!t) return;
    pthread_mutex_destroy(&t->lock);
    x400i_free(t->alloc, t->slots);
    x400i_free(t->alloc, t);
}

uint32_t x400_lpi_id(const x400_lpi *t) { return t ? t->id : 0; }
uint32_t x400_lpi_capacity(const x400_lpi *t) { return t ? t->capacity : 0; }

uint32_t x400_lpi_retired(const x400_lpi *t)
{
    return t ? atomic_load_explicit(&t->retired, memory_order_relaxed) : 0;
}

size_t x400_lpi_count(const x400_lpi *t)
{
    return t ? atomic_load_explicit(&t->live, memory_order_relaxed) : 0;
}

/* ---- refusals (cold path) ---- */

#if defined(__GNUC__)
#define X400I_COLD __attribute__((noinline, cold))
#else
#define X400I_COLD
#endif

/* Explain why `h` is not live in `t`.  `cur` is the generation the caller
 * observed in the slot (only used when the slot is in range). */
static X400I_COLD int refuse(const x400_lpi *t, x400_lpi_handle h, uint64_t cur,
                             x400_diag *diag)
{
    char ht[X400_LPI_TEXT_MAX];
    uint64_t reopened;
    const char *state;
    if (!diag) return X400_ERR_STALE_HANDLE;
    x400_lpi_format(h, ht, sizeof ht);
    if (h.table != t->id)
        return x400i_diag_set(diag, X400_LAYER_LPI, X400_SOURCE_LOCAL,
                              X400_ERR_STALE_HANDLE, X400_LPI_REASON_OTHER_TABLE,
                              "LPI %s belongs to table %" PRIu32 ", not %" PRIu32,
                              ht, h.table, t->id);
    if (h.slot >= t->capacity)
        return x400i_diag_set(diag, X400_LAYER_LPI, X400_SOURCE_LOCAL,
                              X400_ERR_STALE_HANDLE, X400_LPI_REASON_OUT_OF_RANGE,
                              "LPI %s was never issued: slot %" PRIu32
                              " out of range (table %" PRIu32 " has %" PRIu32 " slots)",
                              ht, h.slot, t->id, t->capacity);
    if (!(h.generation & 1))
        return x400i_diag_set(diag, X400_LAYER_LPI, X400_SOURCE_LOCAL,
                              X400_ERR_STALE_HANDLE, X400_LPI_REASON_NEVER_ISSUED,
                              "LPI %s was never issued: generation %" PRIu64
                              " is even (issued generations are odd)",
                              ht, h.generation);
    if (h.generation >= cur)
        /* > : not reached yet.  == cannot happen for a refused handle since
         * generations only grow; reported the same way if it ever did. */
        return x400i_diag_set(diag, X400_LAYER_LPI, X400_SOURCE_LOCAL,
                              X400_ERR_STALE_HANDLE, X400_LPI_REASON_NEVER_ISSUED,
                              "LPI %s was never issued: slot %" PRIu32
                              " is only at generation %" PRIu64, ht, h.slot, cur);
    state = (cur & 1) ? "live" : cur == GEN_RETIRED ? "retired" : "free";
    if (cur == h.generation + 1)
        return x400i_diag_set(diag, X400_LAYER_LPI, X400_SOURCE_LOCAL,
                              X400_ERR_STALE_HANDLE, X400_LPI_REASON_CLOSED,
                              "LPI %s is stale: closed; slot %" PRIu32
                              " now at generation %" PRIu64 " (%s)",
                              ht, h.slot, cur, state);
    reopened = (cur - h.generation) / 2;
    return x400i_diag_set(diag, X400_LAYER_LPI, X400_SOURCE_LOCAL,
                          X400_ERR_STALE_HANDLE, X400_LPI_REASON_REUSED,
                          "LPI %s is stale: slot %" PRIu32 " now at generation %" PRIu64
                          " (%s, reopened %" PRIu64 " time%s since)",
                          ht, h.slot, cur, state, reopened, reopened == 1 ? "" : "s");
}

/* ---- open / get / close ---- */

int x400_lpi_open(x400_lpi *t, void *obj, x400_lpi_handle *h, x400_diag *diag)
{
    uint32_t s, live, retired;
    uint64_t g;
    if (!t || !obj || !h) return X400_ERR_INVALID_ARG;
    pthread_mutex_lock(&t->lock);
    s = t->head;
    if (s == NIL) {
        live = (uint32_t)atomic_load_explicit(&t->live, memory_order_relaxed);
        retired = atomic_load_explicit(&t->retired, memory_order_relaxed);
        pthread_mutex_unlock(&t->lock);
        return x400i_diag_set(diag, X400_LAYER_LPI, X400_SOURCE_LOCAL, X400_ERR_FULL,
                              X400_LPI_REASON_FULL,
                              "LPI table %" PRIu32 " full: %" PRIu32 " of %" PRIu32
                              " slots live, %" PRIu32 " retired",
                              t->id, live, t->capacity, retired);
    }
    t->head = t->next[s];
    if (t->head == NIL) t->tail = NIL;
    g = atomic_load_explicit(&t->slots[s].gen, memory_order_relaxed) + 1; /* odd */
    atomic_store_explicit(&t->slots[s].obj, obj, memory_order_release);
    atomic_store_explicit(&t->slots[s].gen, g, memory_order_release);
    atomic_store_explicit(&t->live,
                          atomic_load_explicit(&t->live, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    pthread_mutex_unlock(&t->lock);
    h->table = t->id;
    h->slot = s;
    h->generation = g;
    return X400_OK;
}

int x400_lpi_get(const x400_lpi *t, x400_lpi_handle h, void **obj, x400_diag *diag)
{
    const struct slot *s;
    uint64_t g1, g2;
    void *o;
    if (X400I_UNLIKELY(!t || !obj)) return X400_ERR_INVALID_ARG;
    if (X400I_UNLIKELY(h.table != t->id || h.slot >= t->capacity || !(h.generation & 1))) {
        g2 = 0;
        goto stale;
    }
    s = &t->slots[h.slot];
    g1 = atomic_load_explicit(&s->gen, memory_order_acquire);
    if (X400I_UNLIKELY(g1 != h.generation)) {
        g2 = g1;
        goto stale;
    }
    o = atomic_load_explicit(&s->obj, memory_order_acquire);
    /* ordered after the acquire load of obj */
    g2 = atomic_load_explicit(&s->gen, memory_order_relaxed);
    if (X400I_UNLIKELY(g2 != g1)) goto stale;
    *obj = o;
    return X400_OK;
stale:
    /* g2: the generation seen in the slot, which explains the refusal */
    *obj = NULL;
    return refuse(t, h, g2, diag);
}

/* Close slot h.slot if it is at h.generation; caller holds the lock.
 * Returns X400_OK (object in *obj) or the generation seen in *cur. */
static int close_locked(x400_lpi *t, x400_lpi_handle h, void **obj, uint64_t *cur)
{
    struct slot *s = &t->slots[h.slot];
    uint64_t g = atomic_load_explicit(&s->gen, memory_order_relaxed);
    if (g != h.generation || !(g & 1)) {
        *cur = g;
        return X400_ERR_STALE_HANDLE;
    }
    *obj = atomic_load_explicit(&s->obj, memory_order_relaxed);
    /* gen before obj: a reader that sees the cleared obj also sees g + 1 */
    atomic_store_explicit(&s->gen, g + 1, memory_order_release);
    atomic_store_explicit(&s->obj, NULL, memory_order_release);
    atomic_store_explicit(&t->live,
                          atomic_load_explicit(&t->live, memory_order_relaxed) - 1,
                          memory_order_relaxed);
    if (g + 1 == GEN_RETIRED) {
        /* generation space of this slot exhausted: never reuse it */
        atomic_store_explicit(&t->retired,
                              atomic_load_explicit(&t->retired, memory_order_relaxed) + 1,
                              memory_order_relaxed);
        return X400_OK;
    }
    t->next[h.slot] = NIL;
    if (t->tail == NIL) t->head = h.slot;
    else t->next[t->tail] = h.slot;
    t->tail = h.slot;
    return X400_OK;
}

int x400_lpi_close(x400_lpi *t, x400_lpi_handle h, void **obj, x400_diag *diag)
{
    void *o = NULL;
    uint64_t cur = 0;
    int rv;
    if (!t) return X400_ERR_INVALID_ARG;
    if (obj) *obj = NULL;
    if (h.table != t->id || h.slot >= t->capacity || !(h.generation & 1))
        return refuse(t, h, 0, diag);
    pthread_mutex_lock(&t->lock);
    rv = close_locked(t, h, &o, &cur);
    pthread_mutex_unlock(&t->lock);
    if (rv < 0) return refuse(t, h, cur, diag);
    if (obj) *obj = o;
    return X400_OK;
}

long x400_lpi_close_all(x400_lpi *t, x400_lpi_visit_fn fn, void *user)
{
    long n = 0;
    if (!t) return X400_ERR_INVALID_ARG;
    for (uint32_t i = 0; i < t->capacity; i++) {
        x400_lpi_handle h = { t->id, i, 0 };
        void *o = NULL;
        uint64_t cur;
        int rv;
        pthread_mutex_lock(&t->lock);
        h.generation = atomic_load_explicit(&t->slots[i].gen, memory_order_relaxed);
        rv = (h.generation & 1) ? close_locked(t, h, &o, &cur) : X400_ERR_STALE_HANDLE;
        pthread_mutex_unlock(&t->lock);
        if (rv < 0) continue;
        n++;
        if (fn) fn(user, h, o);
    }
    return n;
}

/* Test hook (declared in test/check_lpi.c, internal symbol): move a free
 * slot forward to the even generation `gen`, so that tests can reach the end
 * of the generation space.  Refuses anything that could break monotonicity. */
int x400i_lpi_test_set_generation(x400_lpi *t, uint32_t slot, uint64_t gen)
{
    uint64_t cur;
    int rv = X400_ERR_INVALID_ARG;
    if (!t || slot >= t->capacity || (gen & 1) || gen >= GEN_RETIRED) return rv;
    pthread_mutex_lock(&t->lock);
    cur = atomic_load_explicit(&t->slots[slot].gen, memory_order_relaxed);
    if (!(cur & 1) && gen >= cur) {
        atomic_store_explicit(&t->slots[slot].gen, gen, memory_order_release);
        rv = X400_OK;
    }
    pthread_mutex_unlock(&t->lock);
    return rv;
}
