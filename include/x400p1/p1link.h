/*
 * x400p1 -- a P1 link: one MTA-to-MTA association carrying the MTA bind
 * and MTS-APDU transfers (X.411/X.419 over RTSE, X.228).
 *
 * The link owns the RTSE machine and speaks P1 over it:
 *   - RT-OPEN carries the MTA bind: MTABindArgument in RTORQ open,
 *     MTABindResult in RTOAC, MTABindError in RTORJ -- wrapped in a ROS
 *     bind-invoke/-result/-error in normal (1988) mode, bare in X.410-1984
 *     mode, as real MTAs do.  The responder checks the initiator's name
 *     and password through a x400_p1_cred_check_fn (the default checker
 *     compares in constant time).
 *   - every MTS-APDU (Message, Report, Probe) is one RT-TRANSFER; it is
 *     confirmed to the caller only when RTSE confirms the activity end;
 *     queued APDUs are never dropped: on a failure they are reported back.
 *   - a received MTSIdentifier already in the caller's x400_p1_idset is a
 *     duplicate: acknowledged (the transfer completes) but not delivered
 *     again; the caller gets X400_P1_LINK_EV_DUPLICATE with a diagnostic
 *     and the association stays up.
 *
 * The link does not own associations or sockets: the caller creates an
 * x400_assoc (same role and mode), attaches it, connects it (initiator),
 * and moves its bytes (or lets the POSIX driver do it).  When recovery
 * needs a new connection the link asks with X400_P1_LINK_EV_NEED_ASSOC.
 * Time is passed in: x400_p1_link_tick(now_ms).
 *
 * Threads: one link and its associations from one thread at a time.
 */
#ifndef X400P1_P1LINK_H
#define X400P1_P1LINK_H

#include "assoc.h"
#include "p1.h"
#include "rtse.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct x400_p1_link x400_p1_link;

typedef enum x400_p1_link_event_type {
    X400_P1_LINK_EV_BOUND = 1,     /* bind accepted (peer_name) */
    X400_P1_LINK_EV_BIND_REFUSED,  /* bind refused (bind_error, diag); the link is closed */
    X400_P1_LINK_EV_RECEIVED,      /* an MTS-APDU arrived (apdu, raw) */
    X400_P1_LINK_EV_DUPLICATE,     /* an MTS-APDU whose MTSID was seen before
                                      (apdu, diag); acknowledged, not delivered */
    X400_P1_LINK_EV_SENT,          /* a queued APDU was confirmed (tag) */
    X400_P1_LINK_EV_SEND_FAILED,   /* a queued APDU could not be transferred
                                      (tag, diag); it is the caller's again */
    X400_P1_LINK_EV_RELEASED,      /* orderly close completed */
    X400_P1_LINK_EV_ABORTED,       /* aborted (diag) */
    X400_P1_LINK_EV_NEED_ASSOC,    /* recovery: attach (and connect) a new association */
    X400_P1_LINK_EV_PERSIST,       /* receiver: store this RTSE recovery record
                                      (record_len 0: erase it) */
    X400_P1_LINK_EV_UNDECODABLE    /* an APDU RTSE received completely that is
                                      not an acceptable MTS-APDU (raw, diag:
                                      the decoder's diagnostic).  It is
                                      confirmed like a received APDU (DEFER
                                      allowed) and the association stays up:
                                      the peer would otherwise send it again
                                      for ever.  Keep it aside (quarantine). */
} x400_p1_link_event_type;

typedef struct x400_p1_link_event {
    x400_p1_link_event_type type;
    const char *peer_name;         /* BOUND */
    int bind_error;                /* BIND_REFUSED: X400_BIND_ERR_*, or -1 */
    const x400_p1_apdu *apdu;      /* RECEIVED, DUPLICATE: valid during the callback */
    const uint8_t *raw;            /* RECEIVED, UNDECODABLE: the encoded APDU */
    size_t raw_len;
    uint64_t tag;                  /* SENT, SEND_FAILED: the caller's tag */
    const uint8_t *record;         /* PERSIST */
    size_t record_len;
    const x400_diag *diag;         /* REFUSED, DUPLICATE, SEND_FAILED, ABORTED,
                                      UNDECODABLE */
} x400_p1_link_event;

typedef struct x400_p1_link_callbacks {
    void *user;
    /* Return 0, or < 0 to abort the link.  For RECEIVED, DUPLICATE and
     * UNDECODABLE the
     * callback may return X400_P1_LINK_DEFER: the transfer is then
     * confirmed to the sender only when x400_p1_link_confirm() is called
     * (after the APDU is on stable storage, say -- one fsync for the APDUs
     * of several links: group commit). */
    int (*event)(void *user, x400_p1_link *l, const x400_p1_link_event *ev);
} x400_p1_link_callbacks;

#define X400_P1_LINK_DEFER 1

/* Session connection identifiers (RTSE recovery), as opaque bytes. */
#define X400_P1_LINK_REF_MAX 136

#define X400_P1_LINK_QUEUE_MAX 1024

typedef struct x400_p1_link_config {
    x400_role role;
    x400_mode mode;                /* NORMAL (1988) or X410 (1984): the
                                      initiator's, equal to its association's
                                      mode (x400_p1_link_attach refuses any
                                      other); a responder runs (and decodes
                                      the bind for) the mode of each connection */
    x400_rtse_config rtse;         /* x410_mode is set from `mode` */
    /* This MTA's bind: the initiator sends it in MTABindArgument, the
     * responder in MTABindResult.  Empty name: unauthenticated. */
    char own_name[X400_MTA_NAME_MAX + 1];
    uint8_t own_password[X400_PASSWORD_MAX];
    size_t own_password_len;
    /* Responder: checks the MTABindArgument.  NULL: every bind refused
     * (authentication-error) -- a link never accepts an unchecked peer. */
    x400_p1_cred_check_fn check;
    void *check_user;
    /* Received MTSIDs for duplicate detection (the caller's, may be
     * persisted with x400_p1_idset_save); NULL: no detection. */
    x400_p1_idset *seen;
    /* Initiator: the responder's password expected in MTABindResult (X.411
     * Password, IA5String or OCTET STRING alike: the octets are compared in
     * constant time).  peer_password_set 0 (the default): the responder's
     * credentials are NOT checked -- any password, or none, is accepted
     * (logged at NOTICE when bound).  Set: a result without that password
     * ends the association (RT-U-ABORT) with X400_P1_LINK_EV_BIND_REFUSED,
     * bind_error -1, diag {layer P1, source LOCAL, X400_ERR_REFUSED,
     * X400_P1_R_CREDENTIALS}. */
    int peer_password_set;
    uint8_t peer_password[X400_PASSWORD_MAX];
    size_t peer_password_len;
    /* The ExtensionField type form written for the extensions x400p1 builds
     * (internal trace) in APDUs sent with x400_p1_link_send: -1 (the
     * default) as the APDU says (x400_p1_apdu.ext_form), or X400_P1_EXT_FORM_1992
     * / _1988 for this peer (an X.411 (1988) MTA such as PP reads both). */
    int ext_form;
    x400_p1_limits limits;         /* decoding limits for received APDUs */
    size_t queue_max;              /* queued outgoing APDUs; default 64 */
    /* Responder: an inbound association asking to recover a broken
     * connection (RTORQ with connectionDataRQ recover, X.228) is offered
     * here with the identifier of that connection.  Return the link waiting
     * for it (compare with x400_p1_link_waiting_ref) and the association
     * moves to that link, which resumes the interrupted transfer; `l` is
     * then left without an association (free it).  Return NULL to refuse
     * (RTORJ).  NULL hook: every recovery request is refused. */
    x400_p1_link *(*recovery_route)(void *user, x400_p1_link *l, const uint8_t *ref,
                                    size_t ref_len);
    void *recovery_user;
    x400_logger log;
} x400_p1_link_config;

/* Defaults: normal mode, x400_rtse_config_default(), X.411 limits, queue 64,
 * ext_form -1, responder credentials not checked. */
void x400_p1_link_config_init(x400_p1_link_config *cfg, x400_role role);

/* Create a link.  Copies *cfg.  X400_OK, X400_ERR_INVALID_ARG, X400_ERR_NOMEM. */
int x400_p1_link_new(x400_p1_link **out, const x400_p1_link_config *cfg,
                     const x400_p1_link_callbacks *cb, const x400_allocator *alloc);
/* Free the link (an attached association is let go, not freed).  Order:
 * stop the input (x400_driver_free, or x400_driver_close and its `closed`
 * callback), then x400_p1_link_free, then x400_assoc_free.  Not from inside
 * the link's own event callback.  `cb` of x400_p1_link_new may be NULL, as
 * may its `event` (events dropped, transfers confirmed at once). */
void x400_p1_link_free(x400_p1_link *l);

/* Attach a fresh association (created by the caller with the same role and
 * mode).  Initiator: the bind (RT-OPEN) is sent when the association's
 * transport connection is up -- call x400_assoc_connect() (or let the
 * driver do it).  X400_OK; X400_ERR_INVALID_ARG (also, with a diagnostic
 * in x400_p1_link_diag, an initiator's association whose mode is not the
 * link's: nothing is attached); X400_ERR_STATE. */
int x400_p1_link_attach(x400_p1_link *l, x400_assoc *a);

/* Queue an MTS-APDU for transfer.  It is encoded now (the APDU may be
 * freed after the call) and sent when the link is bound and holds the
 * turn; `tag` comes back with SENT or SEND_FAILED.  X400_OK;
 * X400_ERR_FULL (queue_max reached); X400_ERR_INVALID_ARG / _TOO_LONG (the
 * APDU does not encode, or is above the transfer bound rtse.max_apdu_size;
 * diag: refused now, never queued, so it cannot hold up the APDUs queued
 * after it); X400_ERR_CLOSED (the link has ended). */
int x400_p1_link_send(x400_p1_link *l, const x400_p1_apdu *apdu, uint64_t tag,
                      x400_diag *diag);

/* The same for an APDU already encoded (e.g. read back from a spool): the
 * octets must decode as an MTS-APDU within the link's limits (x400_p1_decode;
 * anything else is refused, nothing queued) and are copied as they are;
 * `prio` selects the transfer timeout.  Same returns, plus X400_ERR_PARSE /
 * X400_ERR_LIMIT from the decoder (diag, source LOCAL). */
int x400_p1_link_send_encoded(x400_p1_link *l, const uint8_t *apdu, size_t len,
                              x400_rtse_priority prio, uint64_t tag, x400_diag *diag);

/* Orderly close (RT-CLOSE, then release) once the queue is empty. */
int x400_p1_link_close(x400_p1_link *l);

/* Timers (transfer timeouts, recovery).  The library reads no clock:
 * `now_ms` is the current time in milliseconds on a clock of the caller's
 * choice that never goes backwards (CLOCK_MONOTONIC, say); deadlines are
 * computed from the last time passed.  Tick once after creating the link,
 * then whenever next_timeout has come (ticking early is harmless). */
int x400_p1_link_tick(x400_p1_link *l, uint64_t now_ms);
/* The absolute time, in milliseconds on the clock passed to tick, of the
 * link's next deadline; UINT64_MAX when no timer is running. */
uint64_t x400_p1_link_next_timeout(const x400_p1_link *l);

/* Confirm the transfer whose RECEIVED/DUPLICATE event returned
 * X400_P1_LINK_DEFER (P-ACTIVITY-END response).  Until then the link sends
 * nothing else.  A connection lost and recovered (X.228) meanwhile does
 * not confirm it: the resumed transfer's end waits for this call too.
 * X400_OK (also when nothing is pending or the association has gone: the
 * sender then transfers again, and the MTSID is recognised as a
 * duplicate). */
int x400_p1_link_confirm(x400_p1_link *l);
int x400_p1_link_confirm_pending(const x400_p1_link *l);

/* Responder waiting for the peer to recover a broken connection: the
 * identifier of that connection into buf[cap] (*len).  X400_OK, or
 * X400_ERR_NOT_FOUND when the link is not waiting, X400_ERR_BUFFER_TOO_SMALL. */
int x400_p1_link_waiting_ref(const x400_p1_link *l, uint8_t *buf, size_t cap, size_t *len);

/* What was agreed with the peer, for display and logs (the link also logs
 * it once per association when bound, at INFO). */
typedef struct x400_p1_link_info {
    int bound;                     /* 1 once the bind succeeded */
    x400_mode mode;                /* NORMAL (1988) or X410 (1984) */
    /* the peer's bind value: MTABindArgument (we are responder) or
     * MTABindResult (initiator) */
    char peer_name[X400_MTA_NAME_MAX + 1];  /* "" unauthenticated */
    int peer_authenticated;
    x400_p1_cred peer_cred;        /* credential kind, when authenticated */
    /* negotiated by the layers below (0 when not known / no association) */
    int session_version;           /* 1 or 2 */
    uint32_t tpdu_size;            /* X.224 maximum TPDU size */
    uint32_t checkpoint_kib;       /* RTSE checkpointSize (KiB, 0 = none) */
    uint32_t window;               /* RTSE windowSize */
    int two_way_alternate;         /* RTSE dialogueMode: 1 TWA, 0 monologue */
    int initiator_turn;            /* initial turn: 1 the initiator's */
} x400_p1_link_info;

/* Fill *out.  X400_OK or X400_ERR_INVALID_ARG. */
int x400_p1_link_get_info(const x400_p1_link *l, x400_p1_link_info *out);

int x400_p1_link_is_bound(const x400_p1_link *l);
/* 1 while RTSE recovers a lost connection (initiator: reconnecting;
 * responder: waiting for the peer); queued APDUs wait meanwhile. */
int x400_p1_link_is_recovering(const x400_p1_link *l);
size_t x400_p1_link_queued(const x400_p1_link *l);
/* The attached association, or NULL. */
x400_assoc *x400_p1_link_assoc(const x400_p1_link *l);
const x400_diag *x400_p1_link_diag(const x400_p1_link *l);

#ifdef __cplusplus
}
#endif
#endif
