/*
 * x400p1 -- LPI: the table of internal connection handles.
 *
 * An x400_lpi maps small value handles to caller objects (associations,
 * connections) in O(1) and refuses every handle that is not currently live
 * in that very table.  It exists because the system this library replaces
 * resolved a stale handle ("Internal connection handle (LPI) 1-3-14") to
 * whichever connection had reused the slot; here that is impossible.
 *
 * Model
 *   A table has a caller-chosen 32-bit id and a fixed capacity of slots,
 *   both set at creation.  All memory is allocated by x400_lpi_new();
 *   nothing is allocated afterwards, so open/get/close cannot fail for lack
 *   of memory.  There is no global state: any number of tables coexist.
 *
 *   Each slot holds a 64-bit generation: even = free, odd = live.  open()
 *   and close() each add one, so the live generations of a slot are
 *   1, 3, 5, ... and every handle ever issued is unique.  A handle is
 *   {table id, slot, generation}; get() resolves it only if the table id
 *   matches, the slot is in range and the slot is at exactly that (odd)
 *   generation.  Freed slots are reused first-in first-out, so a closed
 *   slot is reused as late as possible.
 *
 * Generation wrap
 *   Never.  A slot can be opened 2^63 - 1 times (generations 1 .. 2^64 - 3);
 *   the close that ends the last of these leaves the slot at 2^64 - 2 and
 *   the slot is retired for the life of the table instead of wrapping.  At
 *   10^9 open/close pairs per second on one slot that is ~292 years; with
 *   FIFO reuse a table of N slots spreads reuse over all of them, so the
 *   bound is N times further away.  See doc/api.md ("LPI").
 *
 * Why the handle is a 16-byte struct and not one 64-bit word
 *   Packing table, slot and generation into 64 bits leaves the generation
 *   20-30 bits, which wraps after ~10^6..10^9 reuses of one slot: a busy
 *   MTA reaches that within months, and a wrapped generation silently
 *   resolves a stale handle to the wrong connection, the very failure this
 *   module exists to prevent.  A {uint32, uint32, uint64} struct is passed
 *   and returned in two registers by the x86-64 and AArch64 ABIs, compares
 *   with two words, and costs nothing measurable in get().
 *
 * Threads
 *   x400_lpi_get() and x400_lpi_count() are wait-free (a bounded number of
 *   atomic loads, no lock, no retry) and may run in any number of threads
 *   concurrently with each other and with open/close/close_all in others.
 *   x400_lpi_open(), x400_lpi_close() and x400_lpi_close_all() serialise on
 *   a mutex inside the table (held for a few instructions: O(1)), so they
 *   are safe against each other from any threads; a handle closed twice
 *   concurrently is closed exactly once and the other call gets
 *   X400_ERR_STALE_HANDLE.  x400_lpi_new()/x400_lpi_free() must not
 *   race with any other call on the same table.
 *
 * Diagnostics
 *   Calls that can be made concurrently never write into the table: each
 *   takes an optional `x400_diag *diag` (NULL = not wanted) that receives
 *   {X400_LAYER_LPI, X400_SOURCE_LOCAL, code, reason (x400_lpi_reason),
 *   text} on failure, e.g. "LPI 1-3-13 is stale: slot 3 now at generation
 *   15 (live, reopened 1 time since)".  On success *diag is left untouched.
 */
#ifndef X400P1_LPI_H
#define X400P1_LPI_H

#include <stddef.h>
#include <stdint.h>

#include "x400p1/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A connection handle.  A value type: copy it freely, compare it with
 * x400_lpi_handle_eq().  The all-zero handle is never issued (generation 0
 * is even), so `x400_lpi_handle h = {0}` is a safe "no connection" value. */
typedef struct x400_lpi_handle {
    uint32_t table;      /* id of the issuing table */
    uint32_t slot;       /* 0-based slot index */
    uint64_t generation; /* odd: the generation the slot had when issued */
} x400_lpi_handle;

/* The table (opaque). */
typedef struct x400_lpi x400_lpi;

/* Largest capacity accepted by x400_lpi_new(). */
#define X400_LPI_MAX_CAPACITY 0xfffffffeu

/* Buffer size that always holds x400_lpi_format()'s output:
 * "4294967295-4294967295-18446744073709551615" + NUL = 43 bytes. */
#define X400_LPI_TEXT_MAX 44

/* x400_diag.reason values of this layer. */
typedef enum x400_lpi_reason {
    X400_LPI_REASON_NONE = 0,
    X400_LPI_REASON_CLOSED = 1,       /* closed; slot not reused since */
    X400_LPI_REASON_REUSED = 2,       /* closed; slot reopened since */
    X400_LPI_REASON_OTHER_TABLE = 3,  /* issued by another table */
    X400_LPI_REASON_NEVER_ISSUED = 4, /* generation even or not reached yet */
    X400_LPI_REASON_OUT_OF_RANGE = 5, /* slot >= capacity */
    X400_LPI_REASON_FULL = 6,         /* no free slot (x400_lpi_open) */
    X400_LPI_REASON_SYNTAX = 7        /* x400_lpi_parse: malformed text */
} x400_lpi_reason;

/* Create a table with id `table_id` (any value; keep ids unique among the
 * tables whose handles can meet, since the id is what tells them apart) and
 * `capacity` slots (1 .. X400_LPI_MAX_CAPACITY).  `alloc` may be NULL (the
 * default allocator); it is used only here and in x400_lpi_free(), and
 * must stay valid until then.  Memory: 20 bytes per slot (16 for the
 * generation and object, 4 for the free queue) plus a fixed header.
 * Returns X400_OK and *out, X400_ERR_INVALID_ARG (out NULL, capacity 0 or
 * too large, incomplete allocator) or X400_ERR_NOMEM; *out is NULL on
 * failure.  Thread-safety: touches only the new table. */
int x400_lpi_new(x400_lpi **out, uint32_t table_id, uint32_t capacity,
                 const x400_allocator *alloc);

/* Free the table.  Live handles are forgotten (their objects are not
 * touched: they belong to the caller); use x400_lpi_close_all() first to
 * visit them.  NULL is ignored.  No other call on `t` may run concurrently
 * or follow. */
void x400_lpi_free(x400_lpi *t);

/* Register `obj` (non-NULL, owned by the caller, not dereferenced) in a free
 * slot and return its new handle in *h.  O(1), never allocates.
 * Returns X400_OK, X400_ERR_INVALID_ARG (t, obj or h NULL) or X400_ERR_FULL
 * (every slot is live or retired; reason X400_LPI_REASON_FULL).  The same
 * object may be registered more than once; each registration has its own
 * handle.  Thread-safety: see "Threads" above. */
int x400_lpi_open(x400_lpi *t, void *obj, x400_lpi_handle *h, x400_diag *diag);

/* Resolve `h` to the object it was issued for.  O(1), wait-free.
 * Returns X400_OK with *obj set, X400_ERR_STALE_HANDLE (closed, slot reused,
 * other table, never issued, slot out of range; *obj = NULL, diag names the
 * handle and why) or X400_ERR_INVALID_ARG (t or obj NULL).
 *
 * Guarantee under concurrency: X400_OK is returned only if `h` was live in
 * `t` at some instant during the call, and *obj is then exactly the object
 * passed to the x400_lpi_open() that issued `h` -- never another object,
 * never a torn value.  A handle closed during the call may yield either
 * result.  get() does NOT keep the object alive: if another thread may
 * close the handle and free the object, the caller needs its own lifetime
 * scheme (reference count, epoch, or closing only from the owning thread)
 * before dereferencing *obj. */
int x400_lpi_get(const x400_lpi *t, x400_lpi_handle h, void **obj, x400_diag *diag);

/* Close `h`: its slot becomes free and `h` (and every copy of it) is stale
 * from now on.  *obj (if obj is not NULL) receives the object it was issued
 * for, which the caller may now release once no concurrent get() can still
 * be using it.  O(1).  Returns X400_OK, X400_ERR_STALE_HANDLE (as for get;
 * nothing changes, in particular closing twice is harmless) or
 * X400_ERR_INVALID_ARG (t NULL). */
int x400_lpi_close(x400_lpi *t, x400_lpi_handle h, void **obj, x400_diag *diag);

/* Shutdown helper: close every live handle and, if fn is not NULL, call
 * fn(user, handle, obj) for each after it was closed.  fn runs without the
 * table's lock held, so it may call any x400_lpi_* function on `t` (except
 * destroy); handles opened while close_all runs may or may not be visited.
 * O(capacity).  Returns the number of handles closed, or
 * X400_ERR_INVALID_ARG (t NULL). */
typedef void (*x400_lpi_visit_fn)(void *user, x400_lpi_handle h, void *obj);
long x400_lpi_close_all(x400_lpi *t, x400_lpi_visit_fn fn, void *user);

/* Number of live handles: exact when no open/close runs concurrently, else
 * a value it had at some instant during the call.  0 if t is NULL. */
size_t x400_lpi_count(const x400_lpi *t);

/* Immutable properties (0 if t is NULL). */
uint32_t x400_lpi_id(const x400_lpi *t);
uint32_t x400_lpi_capacity(const x400_lpi *t);
/* Slots retired because their generation space is exhausted (see
 * "Generation wrap"); in practice always 0. */
uint32_t x400_lpi_retired(const x400_lpi *t);

/* Non-zero if a and b are the same handle. */
static inline int x400_lpi_handle_eq(x400_lpi_handle a, x400_lpi_handle b)
{
    return a.table == b.table && a.slot == b.slot && a.generation == b.generation;
}

/* Write the canonical text form "table-slot-generation" in decimal (e.g.
 * "1-3-14") and a NUL into buf[len].  Returns the length without the NUL,
 * or X400_ERR_BUFFER_TOO_SMALL (buf gets "" if len > 0) or
 * X400_ERR_INVALID_ARG (buf NULL).  X400_LPI_TEXT_MAX always suffices.
 * Thread-safe (pure). */
int x400_lpi_format(x400_lpi_handle h, char *buf, size_t len);

/* Parse exactly `len` bytes of `text` (no NUL needed) in the canonical
 * form written by x400_lpi_format(): three decimal fields separated by '-',
 * each field 1+ ASCII digits without sign, blanks or leading zeros (so text
 * and handle correspond one to one), table and slot <= 2^32 - 1,
 * generation <= 2^64 - 1, nothing before or after.  Syntax only: whether
 * the handle is live is for x400_lpi_get().  Returns X400_OK and *h, or
 * X400_ERR_PARSE (reason X400_LPI_REASON_SYNTAX; diag says which field and
 * offset, *h untouched) or X400_ERR_INVALID_ARG (text NULL with len > 0, or
 * h NULL).  Thread-safe (pure). */
int x400_lpi_parse(const char *text, size_t len, x400_lpi_handle *h, x400_diag *diag);

#ifdef __cplusplus
}
#endif
#endif
