/*
 * x400p1 -- the association object: one per transport connection.
 *
 * An association stacks the protocol machines of one connection:
 * RFC 1006 TPKT + X.224 class 0 (lib/transport.c), X.225 session
 * (lib/session.c), X.226 presentation (lib/presentation.c, checked by the
 * public state checker in pstate.h) and X.227 ACSE (lib/acse.c); RTSE and
 * P1 plug in on top.  Without a layer above ACSE the association still
 * associates (AARQ without user information, accepted by AARE+), releases
 * and aborts, so it can be used and tested on its own.  It is sans-I/O: the caller (or the optional POSIX driver in
 * driver.h) moves bytes between the association and a socket:
 *
 *     n = x400_assoc_recv(a, buf, len);      // bytes read from TCP
 *     while ((n = x400_assoc_pending(a, &p)) > 0) {
 *         w = write(fd, p, n);               // bytes to send
 *         x400_assoc_sent(a, w);
 *     }
 *
 * Events reach the caller through x400_assoc_callbacks.  All calls on one
 * association must come from one thread at a time; different associations
 * are independent.
 */
#ifndef X400P1_ASSOC_H
#define X400P1_ASSOC_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct x400_assoc x400_assoc;

typedef enum x400_role {
    X400_ROLE_INITIATOR = 1,
    X400_ROLE_RESPONDER = 2
} x400_role;

#define X400_SELECTOR_MAX 32

/* A T-, S- or P-selector: up to 32 octets (often ASCII such as "X400-88"). */
typedef struct x400_selector {
    size_t len;
    uint8_t value[X400_SELECTOR_MAX];
} x400_selector;

/* Set a selector from a NUL-terminated string; X400_ERR_TOO_LONG if > 32. */
int x400_selector_set(x400_selector *sel, const char *text);


/* One presentation context proposed (initiator) or supported (responder);
 * the transfer syntax is always BER (2.1.1). */
#define X400_PCTX_MAX 16
typedef struct x400_pcontext {
    int id;                    /* 1..127; odd for the initiator's proposals */
    x400_oid abstract_syntax;
} x400_pcontext;

/* An AP title or AE qualifier: the complete BER TLV of the value (what sits
 * inside the ACSE explicit tag), len 0 = absent.  Set it with one of the
 * helpers below or copy an opaque encoding in. */
#define X400_AE_PART_MAX 128
typedef struct x400_ae_part {
    size_t len;
    uint8_t tlv[X400_AE_PART_MAX];
} x400_ae_part;

/* AP-title form 2 (OBJECT IDENTIFIER): X400_OK, X400_ERR_PARSE. */
int x400_ae_part_set_oid(x400_ae_part *p, const char *oid_text);
/* AE-qualifier form 2 (INTEGER): X400_OK. */
int x400_ae_part_set_int(x400_ae_part *p, long value);
/* An opaque encoding (e.g. a form 1 directory Name): must be exactly one
 * BER TLV of at most 128 octets: X400_OK, X400_ERR_PARSE, X400_ERR_TOO_LONG. */
int x400_ae_part_set_encoded(x400_ae_part *p, const uint8_t *tlv, size_t len);

typedef struct x400_assoc_config {
    x400_role role;

    /* Transport: X.224 class 0 over RFC 1006. */
    x400_selector calling_tsel;
    x400_selector called_tsel;
    uint32_t max_tpdu_size;       /* proposed/accepted, 128..65531; default 65531 */
    int omit_tpdu_size;           /* initiator: no TPDU-size in CR (peer default 128) */

    /* Session: X.225. */
    x400_selector calling_ssel;
    x400_selector called_ssel;
    uint16_t session_requirements; /* default 0x0249: half-duplex, minor sync,
                                      activity management, exceptions */
    int session_versions;          /* X.225 protocol versions, bit 0 = version 1,
                                      bit 1 = version 2; default 3: the initiator
                                      offers both (only 2 when the CN carries more
                                      than 512 octets), the responder accepts both;
                                      version 1 limits user data to 512 octets per
                                      SPDU (9 in AB), DT excepted */
    uint8_t calling_ref[64];       /* Connection Identifier: calling SS-user */
    size_t calling_ref_len;        /* reference (e.g. the MTA's short name) */
    uint8_t common_ref[64];        /* Connection Identifier: common reference, */
    size_t common_ref_len;         /* e.g. a UTCTime "261121120000Z".  RTSE
                                      recovery names the broken connection by
                                      calling + common reference (X.228
                                      SessionConnectionIdentifier, where the
                                      common reference is a UTCTime): set both
                                      when checkpointing is used. */

    x400_mode mode;                /* default X400_MODE_NORMAL; the initiator's
                                      mode, which its x400_p1_link must share
                                      (a responder runs the mode of the CP it
                                      receives: x400_assoc_get_mode) */

    /* Presentation: X.226. */
    x400_selector calling_psel;    /* default: absent (len 0), as real MTAs */
    x400_selector called_psel;
    x400_selector responding_psel;
    x400_pcontext contexts[X400_PCTX_MAX]; /* default: 1 = id-as-acse 2.2.1.0.1,
                                      3 = id-as-mta-rtse 2.6.0.2.12, 5 = id-as-mtse 2.6.0.2.7 */
    size_t ncontexts;
    int user_info_context;         /* indirect-reference of the AARQ/AARE user
                                      information; default 3 (id-as-mta-rtse) */

    /* ACSE: X.227 (normal mode only). */
    x400_oid application_context;  /* default id-ac-mts-transfer 2.6.0.1.6; the
                                      responder rejects any other (AARE-, diag 2) */
    x400_ae_part calling_ap_title, calling_ae_qualifier;   /* initiator: sent in AARQ */
    x400_ae_part called_ap_title, called_ae_qualifier;     /* initiator: sent in AARQ */
    x400_ae_part responding_ap_title, responding_ae_qualifier; /* responder: in AARE */

    /* Limits: each bounds memory held by the association. */
    size_t max_tsdu;              /* one reassembled TSDU; default 16 MiB */
    size_t max_output;            /* queued unsent bytes; default 64 MiB */

    x400_logger log;
} x400_assoc_config;

/* Fill *cfg with defaults for `role`.  Call before changing fields. */
void x400_assoc_config_init(x400_assoc_config *cfg, x400_role role);

/* String setters for the Connection Identifier (calling_ref, common_ref):
 * X400_OK; X400_ERR_LIMIT above 64 octets (the field is left unchanged,
 * never truncated); X400_ERR_INVALID_ARG (cfg NULL).  NULL or "": absent.
 * Selectors: x400_selector_set(). */
int x400_assoc_config_set_calling_ref(x400_assoc_config *cfg, const char *ref);
int x400_assoc_config_set_common_ref(x400_assoc_config *cfg, const char *ref);

typedef enum x400_assoc_state {
    X400_ASSOC_IDLE = 0,       /* created, nothing sent/received */
    X400_ASSOC_CONNECTING,     /* transport/session establishment under way */
    X400_ASSOC_ESTABLISHED,    /* association accepted (AARE+ / CPA in X.410 mode) */
    X400_ASSOC_RELEASING,      /* orderly release under way */
    X400_ASSOC_CLOSED,         /* released or refused: may be freed */
    X400_ASSOC_ABORTED         /* aborted (diag says why): may be freed */
} x400_assoc_state;

const char *x400_assoc_state_name(x400_assoc_state st);

typedef enum x400_assoc_event_type {
    X400_ASSOC_EV_ESTABLISHED = 1, /* both sides: association accepted (AARE+ sent or
                                      received; CPA in X.410-1984 mode) */
    X400_ASSOC_EV_REFUSED,         /* refused (diag): by the peer (RF, CPR, AARE-) or, on
                                      the responder, by this side (e.g. unknown
                                      application context) */
    X400_ASSOC_EV_RELEASED,        /* orderly release completed */
    X400_ASSOC_EV_ABORTED          /* user/provider abort or transport lost (diag) */
} x400_assoc_event_type;

typedef struct x400_assoc_event {
    x400_assoc_event_type type;
    const x400_diag *diag;        /* REFUSED/ABORTED: why; else NULL */
} x400_assoc_event;

typedef struct x400_assoc_callbacks {
    void *user;
    /* Return 0, or a negative error to abort the association. */
    int (*event)(void *user, x400_assoc *a, const x400_assoc_event *ev);
} x400_assoc_callbacks;

/* Create an association.  `cb` may be NULL.  `alloc` NULL = malloc.
 * Copies *cfg.  Returns X400_OK or X400_ERR_INVALID_ARG / X400_ERR_NOMEM. */
int x400_assoc_new(x400_assoc **out, const x400_assoc_config *cfg,
                   const x400_assoc_callbacks *cb, const x400_allocator *alloc);
void x400_assoc_free(x400_assoc *a);

/* Initiator: open the connection (T-CONNECT request: a CR is queued; the
 * session CONNECT follows when the CC arrives).  The POSIX driver calls it
 * when the TCP connection is up; a program with its own event loop calls it
 * itself then (after x400_p1_link_attach).  X400_ERR_STATE if called twice
 * or on a responder. */
int x400_assoc_connect(x400_assoc *a);

/* Orderly release once established: A-RELEASE request (RLRQ in P-RELEASE
 * over S-RELEASE, X.225 FN); in X.410-1984 mode S-RELEASE alone.  The peer's
 * RLRE (DN) ends it with X400_ASSOC_EV_RELEASED. */
int x400_assoc_release(x400_assoc *a);

/* Abort at once: A-ABORT (ABRT, source service-user) in ARU-PPDU over
 * S-U-ABORT (X.225 AB) once the presentation connection exists, else a bare
 * S-U-ABORT; then the transport closes. */
int x400_assoc_abort(x400_assoc *a);

/* Bytes received from the transport connection (any split).  Returns the
 * number of bytes consumed (always `len` unless an error occurred) or a
 * negative error; after a fatal error only x400_assoc_free is allowed. */
int x400_assoc_recv(x400_assoc *a, const uint8_t *buf, size_t len);

/* Bytes waiting to be written.  *p is valid until the next call on `a`. */
size_t x400_assoc_pending(const x400_assoc *a, const uint8_t **p);
/* `n` bytes of the pending output were written. */
void x400_assoc_sent(x400_assoc *a, size_t n);

/* The TCP connection closed or failed under the association: provider
 * abort (if not already closed). */
void x400_assoc_transport_closed(x400_assoc *a);

x400_assoc_state x400_assoc_get_state(const x400_assoc *a);
/* What the association wants from the loop that moves its bytes, as
 * nghttp2_session_want_write / want_read do, so that a driver or a user's
 * loop need not derive it from states:
 *   want_write  1 while output is pending (x400_assoc_pending > 0): poll
 *               for writability;
 *   want_close  1 once the association has ended (released, refused or
 *               aborted: x400_assoc_get_state CLOSED / ABORTED) and nothing
 *               is left to send: close the TCP connection (the association
 *               may then be freed).
 * NULL: 0. */
int x400_assoc_want_write(const x400_assoc *a);
int x400_assoc_want_close(const x400_assoc *a);
/* The mode the association runs.  Initiator: the configured
 * mode.  Responder: learnt from the peer's CP (its mode selector: X.410
 * parameters and no ACSE in X.410-1984 mode), whatever was configured, so
 * that one listener serves 1988 and 1984 callers; the configured mode
 * until the CP arrived. */
x400_mode x400_assoc_get_mode(const x400_assoc *a);
/* Last failure detail; never NULL. */
const x400_diag *x400_assoc_diag(const x400_assoc *a);

/* Opaque user pointer (e.g. the application's peer/link record). */
void x400_assoc_set_user(x400_assoc *a, void *user);
void *x400_assoc_get_user(const x400_assoc *a);

#ifdef __cplusplus
}
#endif
#endif
