/*
 * x400p1 -- collision-free MTS identifier allocator.
 *
 * An MTSIdentifier (X.411 12.2.1.1.1.4 / 8.2.1.1.1.13) names a message, probe
 * or report inside the MTS: the GlobalDomainIdentifier of the MTA that
 * assigned it plus a LocalIdentifier (IA5String, 1..ub-local-id-length = 32).
 * Two queued messages with the same MTSIdentifier break the transfer
 * (see doc/api.md, "MTS identifiers"), so this allocator never repeats one:
 *
 *   across threads    each thread owns an x400_mtsid_cursor that reserves a
 *                     block of counter values with one atomic fetch-add and
 *                     formats identifiers locally (no lock, no system call
 *                     per identifier);
 *   across restarts   every run gets a run number that is written durably
 *                     (temp file, fsync, rename, fsync of the directory)
 *                     before the run issues its first identifier;
 *   across MTAs       a node id, distinct per MTA of a domain, is part of
 *                     every local identifier.
 *
 * Local identifier produced: "<node>.<run>.<counter>" where node is 1..8
 * characters of [A-Za-z0-9], run and counter are exactly 10 digits each of
 * the Crockford base-32 alphabet "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
 * (big-endian, zero-padded).  run < 2^50, counter < 2^50, so the longest
 * local identifier is 8 + 1 + 10 + 1 + 10 = 30 characters.
 *
 * See doc/api.md ("MTS identifiers") for the guarantees, the durability protocol and the
 * residual risk (a restored old state file together with a clock that is
 * set backwards).
 */
#ifndef X400P1_MTSID_H
#define X400P1_MTSID_H

#include <stddef.h>
#include <stdint.h>

#include "x400p1/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Upper bounds (X.411 Annex A and this allocator's layout) ---- */

#define X400_MTSID_LOCAL_MAX 32        /* ub-local-id-length */
#define X400_GDI_DOMAIN_MAX 16         /* ub-domain-name-length */
#define X400_MTSID_NODE_MAX 8          /* node id: 1..8 of [A-Za-z0-9] */
#define X400_MTSID_RUN_MAX ((UINT64_C(1) << 50) - 1)     /* largest run */
#define X400_MTSID_COUNTER_SPACE (UINT64_C(1) << 50)     /* counters per run */
#define X400_MTSID_DIGITS 10           /* base-32 digits of run / counter */
/* Longest text form x400_mtsid_format() writes, including the NUL:
 * "[C=" 3 + 3 + ";A#=" 4 + 16 + ";P#=" 4 + 16 + ";L=" 3 + 32 + "]" 1 + NUL. */
#define X400_MTSID_TEXT_MAX 83

/* GlobalDomainIdentifier, X.411 12.2.1.1.1.6:
 *   country-name                 2 letters (ISO 3166 alpha-2, PrintableString)
 *                                or 3 digits (X.121 DCC, NumericString);
 *   administration-domain-name   0..16 characters, PrintableString, or
 *                                NumericString when admd_numeric is set
 *                                (a single space " " is the usual "no ADMD");
 *   private-domain-identifier    OPTIONAL: "" = absent, else 1..16
 *                                characters, PrintableString, or
 *                                NumericString when prmd_numeric is set.
 * All strings are NUL-terminated. */
typedef struct x400_gdi {
    char country[4];
    char admd[X400_GDI_DOMAIN_MAX + 1];
    char prmd[X400_GDI_DOMAIN_MAX + 1];
    unsigned char admd_numeric; /* non-zero: NumericString choice */
    unsigned char prmd_numeric; /* non-zero: NumericString choice */
} x400_gdi;

/* MTSIdentifier, X.411 12.2.1.1.1.4: the GDI plus a LocalIdentifier of
 * 1..32 printable IA5 characters (0x20..0x7E), NUL-terminated. */
typedef struct x400_mtsid {
    x400_gdi gdi;
    char local[X400_MTSID_LOCAL_MAX + 1];
} x400_mtsid;

/* Check a GDI against the rules above.  X400_OK; X400_ERR_INVALID_ARG for a
 * NULL argument, a country that is neither 2 letters nor 3 digits, or a
 * character outside the chosen string type; X400_ERR_TOO_LONG for a name
 * longer than 16 (or an unterminated array).  Detail in *diag (may be NULL).
 * Thread-safe (touches only its arguments). */
int x400_gdi_validate(const x400_gdi *gdi, x400_diag *diag);

/* The GDI in the O/R name text form (orname.h): "C=GB;A= ;P=SMHS", with
 * "A#=" / "P#=" for the NumericString choice; C and A required (A= " " is
 * the usual "no ADMD"), P optional, nothing else, any order.  `text` need
 * not be NUL-terminated.  X400_OK and *out; X400_ERR_PARSE (syntax, another
 * attribute, C or A missing), X400_ERR_TOO_LONG, or the
 * x400_gdi_validate() error (detail in *diag, may be NULL).  Thread-safe. */
int x400_gdi_parse(const char *text, size_t len, x400_gdi *out, x400_diag *diag);

/* Write that text form ("C=GB;A= ;P=SMHS", P left out when absent) into
 * buf[len].  The length written (excluding the NUL);
 * X400_ERR_BUFFER_TOO_SMALL (buf holds "" if len > 0), the
 * x400_gdi_validate() error, X400_ERR_INVALID_ARG.  Thread-safe. */
int x400_gdi_format(const x400_gdi *gdi, char *buf, size_t len);

/* Write the text form of an MTSIdentifier:
 *     "[C=<country>;A=<admd>;P=<prmd>;L=<local>]"
 * "A#=" / "P#=" instead of "A=" / "P=" mark the NumericString choice; the
 * ";P=..." part is left out when the PRMD is absent.  The local identifier
 * comes last and runs to the final ']', so it may contain any printable IA5
 * character, ';' and ']' included.  Examples:
 *     "[C=GB;A= ;P=SMHS;L=LHR1.1JQ8Z7K300.0000000001]"
 *     "[C=234;A#=0001;L=x]"
 * Returns the length written (excluding the NUL, at most
 * X400_MTSID_TEXT_MAX - 1); X400_ERR_BUFFER_TOO_SMALL when len cannot hold
 * it (buf then holds ""), or the x400_gdi_validate()/local-id error for an
 * invalid id.  Thread-safe. */
int x400_mtsid_format(const x400_mtsid *id, char *buf, size_t len);

/* Parse the text form written by x400_mtsid_format() (exactly that form:
 * field order C, A, optional P, L; no white space other than inside the
 * values).  `text` need not be NUL-terminated; `len` bytes are read.
 * X400_OK and *out filled; X400_ERR_PARSE for bad syntax or a character
 * outside a field's set; X400_ERR_TOO_LONG for an over-long field;
 * X400_ERR_INVALID_ARG for NULL pointers or a GDI x400_gdi_validate()
 * rejects.  *out is unspecified after a failure.  Thread-safe. */
int x400_mtsid_parse(const char *text, size_t len, x400_mtsid *out,
                     x400_diag *diag);

/* ---- The allocator ---- */

typedef struct x400_mtsid_alloc x400_mtsid_alloc;

/* Seconds since the POSIX epoch (the default reads CLOCK_REALTIME).  Tests
 * inject a clock here.  A value < 0 or > X400_MTSID_RUN_MAX is ignored. */
typedef int64_t (*x400_mtsid_time_fn)(void *user);

/* Create the state file when it does not exist.  Without this flag a
 * missing state file is an error (X400_ERR_NOT_FOUND), so that a deleted or
 * misplaced file never silently becomes a fresh start. */
#define X400_MTSID_CREATE 0x1u

/* For a test harness: no state file (state_path NULL, X400_MTSID_CREATE
 * unset), no lock, nothing written.  NOT CRASH-SAFE: the run number is
 * only the clock's seconds, so identifiers may repeat after a restart
 * within the same second, with the clock set back, or when two processes
 * use the same node id at once.  Never use it where identifiers reach a
 * real MTS; an MTA uses the state file. */
#define X400_MTSID_MEMORY 0x2u

typedef struct x400_mtsid_config {
    const char *state_path;      /* required ("<path>.lock" and "<path>.tmp"
                                    are used next to it); NULL with
                                    X400_MTSID_MEMORY */
    const char *node_id;         /* required: 1..8 of [A-Za-z0-9], distinct
                                    for every MTA of the domain */
    x400_gdi gdi;                /* this MTA's domain (x400_gdi_validate) */
    unsigned flags;              /* X400_MTSID_CREATE or X400_MTSID_MEMORY */
    const x400_allocator *alloc; /* NULL: malloc/free */
    const x400_logger *logger;   /* NULL: silent; copied by x400_mtsid_new */
    x400_mtsid_time_fn time_fn;  /* NULL: CLOCK_REALTIME seconds */
    void *time_user;
    uint32_t block;              /* counter values a cursor reserves at a
                                    time; 0 = 4096 */
    uint64_t counter_limit;      /* counter values per run, 1..2^50;
                                    0 = X400_MTSID_COUNTER_SPACE.  Smaller
                                    values only make runs end sooner (tests). */
} x400_mtsid_config;

/* Reasons (x400_diag.reason, layer X400_LAYER_MTSID). */
typedef enum x400_mtsid_reason {
    X400_MTSID_R_NONE = 0,
    X400_MTSID_R_CONFIG,     /* bad configuration (node id, GDI, path, ...) */
    X400_MTSID_R_MISSING,    /* no state file and X400_MTSID_CREATE unset */
    X400_MTSID_R_LOCKED,     /* another allocator holds the state file */
    X400_MTSID_R_LOCK_IO,    /* the lock file could not be opened/locked */
    X400_MTSID_R_READ_IO,    /* the state file could not be read */
    X400_MTSID_R_WRITE_IO,   /* writing, fsync or rename of the state failed */
    X400_MTSID_R_SHORT,      /* state file truncated */
    X400_MTSID_R_LONG,       /* state file has trailing bytes */
    X400_MTSID_R_MAGIC,      /* not an MTSID state file */
    X400_MTSID_R_VERSION,    /* state file of another format version */
    X400_MTSID_R_CHECKSUM,   /* CRC-32 mismatch */
    X400_MTSID_R_FIELD,      /* a field out of range despite a good CRC */
    X400_MTSID_R_NODE,       /* the state file belongs to another node id */
    X400_MTSID_R_RUN_SPACE,  /* run numbers exhausted (> X400_MTSID_RUN_MAX) */
    X400_MTSID_R_FAILED      /* an earlier run start failed: free and create again */
} x400_mtsid_reason;

/* Fill *cfg with defaults (all zero/NULL).  Set state_path, node_id, gdi. */
void x400_mtsid_config_init(x400_mtsid_config *cfg);

/* Open the state file, take its exclusive lock (held until
 * x400_mtsid_free), start a new run and make it durable before returning.
 * The run number is max(stored run + 1, clock seconds).
 * Returns X400_OK and *out, or (with *diag filled, layer X400_LAYER_MTSID,
 * reason an x400_mtsid_reason, the path and errno text in diag->text):
 *   X400_ERR_INVALID_ARG  NULL argument, no node id / bad node id / bad
 *                         path / bad limits (R_CONFIG); GDI errors as
 *                         x400_gdi_validate();
 *   X400_ERR_TOO_LONG     node id longer than 8;
 *   X400_ERR_NOMEM        the allocator failed;
 *   X400_ERR_NOT_FOUND    state file missing, X400_MTSID_CREATE unset;
 *   X400_ERR_DUPLICATE    another allocator (any process) holds the lock;
 *   X400_ERR_IO           lock, read or durable write failed (R_*_IO);
 *   X400_ERR_CORRUPT      R_SHORT, R_LONG, R_MAGIC, R_CHECKSUM, R_FIELD,
 *                         R_NODE;
 *   X400_ERR_UNSUPPORTED  R_VERSION;
 *   X400_ERR_LIMIT        R_RUN_SPACE.
 * The state file is never modified by a failing x400_mtsid_new.  The
 * config and its strings may be freed after the call.  `diag` may be NULL. */
int x400_mtsid_new(x400_mtsid_alloc **out, const x400_mtsid_config *cfg,
                   x400_diag *diag);

/* Release the lock and free the allocator.  Every cursor on it becomes
 * invalid.  Must not run concurrently with x400_mtsid_next() on its
 * cursors.  NULL is ignored. */
void x400_mtsid_free(x400_mtsid_alloc *a);

/* The current run number (the latest durable one).  Thread-safe. */
uint64_t x400_mtsid_current_run(const x400_mtsid_alloc *a);

/* The GDI the allocator stamps on every identifier.  Valid until
 * x400_mtsid_free. */
const x400_gdi *x400_mtsid_gdi(const x400_mtsid_alloc *a);

/* A caller-owned cursor: one per thread (or per single-threaded user).
 * The fields are private: use only the functions below. */
typedef struct x400_mtsid_cursor {
    x400_mtsid_alloc *owner;
    uint64_t next;       /* next counter value to issue */
    uint64_t end;        /* end of the reserved block (exclusive) */
    uint64_t run;        /* run of the reserved block */
    unsigned run_pos;    /* offset of the run digits in tmpl.local */
    unsigned ctr_pos;    /* offset of the counter digits in tmpl.local */
    x400_mtsid tmpl;     /* the next identifier, pre-formatted */
    x400_diag diag;      /* detail of the last failure of this cursor */
} x400_mtsid_cursor;

/* Bind a cursor to an allocator (no reservation yet, no I/O).
 * X400_OK or X400_ERR_INVALID_ARG.  A cursor must not be shared between
 * threads without external locking; distinct cursors on one allocator may
 * be used from any threads concurrently. */
int x400_mtsid_cursor_init(x400_mtsid_cursor *c, x400_mtsid_alloc *a);

/* Issue the next identifier into *out.  Fast path: a struct copy and an
 * increment of the last base-32 digits, no lock, no system call.  When the
 * cursor's block is used up it reserves the next one with one atomic
 * fetch-add; when the run's counter space is used up, one thread starts a
 * new durable run under the allocator's lock (the others wait for it).
 * Returns X400_OK, or (detail in x400_mtsid_cursor_diag()):
 *   X400_ERR_IO / X400_ERR_LIMIT   the new run could not be made durable /
 *                                  run numbers are exhausted.  The failure is
 *                                  sticky (R_FAILED afterwards): free
 *                                  the allocator and create it again;
 *   X400_ERR_INVALID_ARG           NULL or unbound cursor. */
int x400_mtsid_next(x400_mtsid_cursor *c, x400_mtsid *out);

/* Detail of the cursor's last failure; never NULL (a neutral all-zero diag
 * for a NULL cursor). */
const x400_diag *x400_mtsid_cursor_diag(const x400_mtsid_cursor *c);

#ifdef __cplusplus
}
#endif
#endif
