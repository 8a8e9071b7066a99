/*
 * x400p1 -- foundation types shared by every module.
 *
 * Errors:   functions return 0 (X400_OK) or a positive count on success and
 *           a negative x400_error code on failure.  Codes at or below
 *           X400_ERR_FATAL are fatal: after one, the object that returned it
 *           may only be freed.
 * Memory:   every object is created with an optional caller-supplied
 *           allocator (NULL selects malloc/free).  No module keeps mutable
 *           static state; all tables in lib/ are `static const`.
 * Names:    one life cycle for every object: `int x400_<obj>_new(&out,
 *           ...)` (the out-parameter first; *out NULL on failure) and
 *           `void x400_<obj>_free(obj)` (NULL ignored).  Value types are
 *           filled by `x400_<type>_init` / `_config_init`.  Other functions
 *           take the object first and put results after their inputs;
 *           fixed-size text fields have `_set_<field>(obj, const char *)`
 *           setters that refuse (X400_ERR_LIMIT), never truncate.
 * Detail:   protocol-level detail about a failure is an x400_diag (layer,
 *           source, reason, text).  An object keeps its last one, read
 *           with its one getter `x400_<obj>_diag(obj)`.  Functions that have
 *           no object to keep it in -- constructors (the object does not
 *           exist when they fail), parsers and validators, and the LPI
 *           calls that run concurrently -- take an optional `x400_diag *diag`
 *           as their last parameter instead (NULL: not wanted).
 * Getters:  every getter accepts NULL and then returns a neutral value (0,
 *           NULL, "unknown", or for `_diag` an all-zero diag: never NULL).
 * Logging:  no module prints; an optional x400_logger receives every message.
 */
#ifndef X400P1_COMMON_H
#define X400P1_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Version of the headers a program was compiled with; x400_version()
 * gives the version of the library it is linked with.  Versioning rule
 * (CHANGELOG.md): MAJOR changes when a program written for an earlier
 * release may no longer compile or behave the same (a function, type,
 * field or code removed or changed in meaning); MINOR when the API only
 * grows (new functions, events, error codes, config fields set by the
 * *_init functions); PATCH for fixes that change no declaration.  While
 * MAJOR is 0, MINOR plays the part of MAJOR. */
#define X400P1_VERSION_MAJOR 0
#define X400P1_VERSION_MINOR 1
#define X400P1_VERSION_PATCH 0
#define X400P1_VERSION "0.1.0"

/* The library's version, "MAJOR.MINOR.PATCH" (static, never NULL): the
 * X400P1_VERSION of the build that produced the linked library. */
const char *x400_version(void);

/* Error codes.  Keep x400_strerror() in lib/common.c in step. */
typedef enum x400_error {
    X400_OK = 0,
    X400_ERR_INVALID_ARG = -1,     /* a NULL or out-of-range argument */
    X400_ERR_NOMEM = -2,           /* the allocator returned NULL */
    X400_ERR_FULL = -3,            /* a fixed-capacity object is full */
    X400_ERR_STALE_HANDLE = -4,    /* handle closed, reused, foreign or never issued */
    X400_ERR_AGAIN = -5,           /* no progress possible now; try later */
    X400_ERR_BUFFER_TOO_SMALL = -6,/* caller's output buffer is too small */
    X400_ERR_PARSE = -7,           /* malformed text or encoding */
    X400_ERR_TOO_LONG = -8,        /* a value exceeds its upper bound */
    X400_ERR_IO = -9,              /* a system call failed (errno in diag) */
    X400_ERR_CORRUPT = -10,        /* persisted state failed validation */
    X400_ERR_PROTOCOL = -11,       /* peer violated the protocol */
    X400_ERR_STATE = -12,          /* event not allowed in current state */
    X400_ERR_LIMIT = -13,          /* a configured limit was exceeded */
    X400_ERR_REFUSED = -14,        /* the peer refused (connection, bind) */
    X400_ERR_CLOSED = -15,         /* the object was released/closed */
    X400_ERR_UNSUPPORTED = -16,    /* feature or option not supported */
    X400_ERR_TIMEOUT = -17,        /* a protocol timer expired */
    X400_ERR_NOT_FOUND = -18,      /* no such entry */
    X400_ERR_DUPLICATE = -19,      /* entry already present */

    /* Fatal errors: the object may only be freed afterwards. */
    X400_ERR_FATAL = -900,
    X400_ERR_ABORTED = -901,       /* the association was aborted */
    X400_ERR_CALLBACK_FAILURE = -902, /* a user callback returned failure */
    X400_ERR_INTERNAL = -903       /* broken invariant (a bug: please report) */
} x400_error;

/* Return a static, never-NULL English description of an error code. */
const char *x400_strerror(int code);

/* Non-zero if `code` is fatal (code <= X400_ERR_FATAL). */
int x400_is_fatal(int code);

/* ---- Mode ------------------------------------------------------------ */

/* The one mode an association, its RTSE and its P1 link run (one value
 * everywhere; x400_p1_link_attach refuses an initiator's association whose
 * mode differs from the link's):
 *   X400_MODE_NORMAL  1988 normal mode: presentation contexts, ACSE (AARQ /
 *                     AARE carry the RTORQ / RTOAC), fully-encoded data; P1
 *                     bind values inside ROS bind-invoke/-result/-error.
 *   X400_MODE_X410    X.410-1984 mode: the CP-type / CPA / CPR carry the
 *                     RTORQ / RTOAC / RTORJ (X.226 mode-selector 0), no ACSE,
 *                     RTSE APDUs as session user data; bind values bare. */
typedef enum x400_mode { X400_MODE_NORMAL = 0, X400_MODE_X410 = 1 } x400_mode;

/* ---- Object identifiers --------------------------------------------- */

#define X400_OID_ARCS_MAX 20

/* An OBJECT IDENTIFIER as its arcs (n = 0: none). */
typedef struct x400_oid {
    unsigned n;                       /* 2..X400_OID_ARCS_MAX; 0 = none */
    uint32_t arc[X400_OID_ARCS_MAX];
} x400_oid;

/* Dotted text ("2.6.0.1.6") -> *out.  X400_OK; X400_ERR_PARSE (not an OID:
 * no digits, leading zeros, fewer than two arcs, first arc > 2, second >
 * 39 under 0 or 1; *out unchanged); X400_ERR_TOO_LONG (an arc above 2^32-1
 * or more than X400_OID_ARCS_MAX arcs); X400_ERR_INVALID_ARG.  Pure. */
int x400_oid_parse(const char *text, x400_oid *out);
/* *o -> dotted text in buf[len]: the length written, or
 * X400_ERR_BUFFER_TOO_SMALL / X400_ERR_INVALID_ARG.  Pure. */
int x400_oid_format(const x400_oid *o, char *buf, size_t len);

/* ---- Allocator ------------------------------------------------------- */

/* A caller-supplied allocator.  All four functions must be set; `user` is
 * passed back to each.  Functions follow the C library's semantics. */
typedef struct x400_allocator {
    void *user;
    void *(*malloc)(size_t size, void *user);
    void (*free)(void *ptr, void *user);
    void *(*calloc)(size_t nmemb, size_t size, void *user);
    void *(*realloc)(void *ptr, size_t size, void *user);
} x400_allocator;

/* The default allocator (C library malloc family).  Never NULL. */
const x400_allocator *x400_default_allocator(void);

/* ---- Diagnostics ----------------------------------------------------- */

typedef enum x400_layer {
    X400_LAYER_NONE = 0,
    X400_LAYER_LPI,
    X400_LAYER_MTSID,
    X400_LAYER_TPKT,         /* RFC 1006 */
    X400_LAYER_TRANSPORT,    /* X.224 class 0 */
    X400_LAYER_SESSION,      /* X.225 */
    X400_LAYER_PRESENTATION, /* X.226 */
    X400_LAYER_ACSE,         /* X.227 */
    X400_LAYER_RTSE,         /* X.228 */
    X400_LAYER_P1,           /* X.411 / X.419 */
    X400_LAYER_DRIVER,       /* the optional POSIX driver */
    X400_LAYER_SPOOL,
    X400_LAYER_APP           /* the application above the library */
} x400_layer;

typedef enum x400_source {
    X400_SOURCE_NONE = 0,
    X400_SOURCE_LOCAL,    /* this side's user or this library refused */
    X400_SOURCE_PEER,     /* the remote entity sent something wrong / refused */
    X400_SOURCE_PROVIDER  /* the service provider (a lower layer) failed */
} x400_source;

#define X400_DIAG_TEXT_MAX 256

/* Protocol-level detail of the last failure of an object. */
typedef struct x400_diag {
    x400_layer layer;
    x400_source source;
    int code;    /* the x400_error returned with it */
    int reason;  /* layer-specific reason (e.g. a session reason code), or 0 */
    char text[X400_DIAG_TEXT_MAX]; /* human-readable, NUL-terminated */
} x400_diag;

const char *x400_layer_name(x400_layer layer);   /* "session", ... */
const char *x400_source_name(x400_source source);/* "local", "peer", ... */

/* Format a diagnostic as "<layer>/<source>: <text> (<strerror>, reason N)".
 * Returns the length it would have (snprintf semantics) or a negative error. */
int x400_diag_format(const x400_diag *diag, char *buf, size_t len);

/* ---- Logging --------------------------------------------------------- */

typedef enum x400_log_level {
    X400_LOG_ERROR = 0,
    X400_LOG_WARNING,
    X400_LOG_NOTICE,
    X400_LOG_INFO,
    X400_LOG_DEBUG,
    X400_LOG_TRACE     /* PDU hex traces */
} x400_log_level;

typedef void (*x400_log_fn)(void *user, x400_log_level level,
                            x400_layer layer, const char *message);

/* A logger: messages above max_level are not formatted at all. */
typedef struct x400_logger {
    x400_log_fn fn;          /* NULL: logging off */
    void *user;
    x400_log_level max_level;
} x400_logger;

const char *x400_log_level_name(x400_log_level level);

#ifdef __cplusplus
}
#endif
#endif
