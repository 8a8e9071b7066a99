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
 * The link never touches sockets.  Associations, two ways:
 *   - the link makes them (initiator, cfg.assoc_own): it creates and
 *     attaches each association it needs -- the first and one per RTSE
 *     recovery -- from cfg.assoc, never from inside a call of the layers
 *     below, and x400_p1_link_want_connect() hands each to the caller, who
 *     only provides its connection (x400_driver_connect, or
 *     x400_assoc_connect and its own socket) and frees it once that
 *     connection has closed;
 *   - the caller makes them: it creates an x400_assoc (same role and mode),
 *     attaches it, connects it (initiator), and when recovery needs a new
 *     connection the link asks with X400_P1_LINK_EV_NEED_ASSOC, from inside
 *     the input call of the association that was lost (the older way; a
 *     responder's inbound associations are always attached by the caller).
 * Bytes move through x400_assoc_recv/pending/sent (or the POSIX driver).
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
                                      (tag, diag); it is the caller's again.
                                      When the association went with it
                                      (aborted by either side or the
                                      provider, a recovery refused or timed
                                      out) the link has ended first:
                                      x400_p1_link_is_bound() says 0 in the
                                      callback, and ABORTED follows the
                                      SEND_FAILED of every queued APDU -- send
                                      it again on a new association at once.
                                      Still bound: the APDU failed on an
                                      association that goes on. */
    X400_P1_LINK_EV_RELEASED,      /* orderly close completed */
    X400_P1_LINK_EV_ABORTED,       /* aborted (diag) */
    X400_P1_LINK_EV_NEED_ASSOC,    /* recovery: attach (and connect) a new
                                      association (not with cfg.assoc_own:
                                      x400_p1_link_want_connect then) */
    X400_P1_LINK_EV_PERSIST,       /* receiver: store this RTSE recovery record
                                      (record_len 0: erase it) and the APDU
                                      octets received so far (raw, raw_len:
                                      all of them, growing within one
                                      transfer; 0 with a COMPLETED record);
                                      x400_p1_link_restore gives both back
                                      after a restart */
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
    const x400_p1_apdu *apdu;      /* RECEIVED, DUPLICATE: valid during the
                                      callback (or take it:
                                      x400_p1_link_take_apdu) */
    const uint8_t *raw;            /* RECEIVED, UNDECODABLE: the encoded APDU;
                                      PERSIST: its octets received so far */
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
    /* Responder: the credentials presented in MTABindResult, chosen once
     * the initiator is known -- called after `check` accepted its
     * MTABindArgument (arg), so each peer can be shown the password it
     * expects of us.  `name` and `password` arrive holding own_name and
     * own_password; change them (name: NUL-terminated, empty for an
     * unauthenticated result; *password_len <= X400_PASSWORD_MAX) and
     * return 0, or return < 0 to refuse the bind after all (MTABindError
     * authentication-error, X400_P1_LINK_EV_BIND_REFUSED with diag {P1,
     * LOCAL, X400_ERR_REFUSED, X400_P1_R_CREDENTIALS}).  NULL: own_name and
     * own_password for every peer. */
    int (*result_cred)(void *user, const x400_p1_bind *arg, char name[X400_MTA_NAME_MAX + 1],
                       uint8_t password[X400_PASSWORD_MAX], size_t *password_len);
    void *result_cred_user;
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
    /* This MTA's trace (X.411 12.2.1.1.1.10): when trace_gdi is set
     * (its country not empty), x400_p1_link_send gives a message, probe or
     * report whose trace is empty one TraceInformationElement {trace_gdi,
     * arrival = now, action relayed}; a trace the caller filled is sent as
     * it is.  `clock` returns now in seconds since 1970 (UTC); NULL: the
     * time last passed to x400_p1_link_tick, which must then be wall-clock
     * milliseconds.  (x400_p1_link_send_encoded sends its octets as they
     * are.) */
    x400_gdi trace_gdi;
    int64_t (*clock)(void *user);
    void *clock_user;
    /* Initiator: the link makes its associations from `assoc` (its role and
     * mode are set from the link's): the first one and one for each RTSE
     * recovery, at a safe point (x400_p1_link_want_connect, x400_p1_link_tick),
     * never from inside a call of the layers below; no NEED_ASSOC event.
     * assoc_prepare (may be NULL) edits a copy of `assoc` just before each
     * is created, e.g. to give each connection a unique calling/common
     * reference (RTSE recovery names the broken connection by them); < 0:
     * none is made now (asked again at the next safe point). */
    int assoc_own;
    x400_assoc_config assoc;
    int (*assoc_prepare)(void *user, x400_p1_link *l, x400_assoc_config *ac);
    void *assoc_user;
    x400_logger log;
} x400_p1_link_config;

/* Defaults: normal mode, x400_rtse_config_default(), X.411 limits, queue 64,
 * ext_form -1, responder credentials not checked, no trace_gdi, the caller
 * makes the associations (assoc_own 0; assoc: x400_assoc_config_init). */
void x400_p1_link_config_init(x400_p1_link_config *cfg, x400_role role);

/* String setters for the bind fields (use them instead of strcpy/memcpy):
 * own_name (NULL or "": unauthenticated), own_password (NULL or "": none),
 * peer_password (NULL: the responder's password is not checked, else it
 * must match; see peer_password_set).  X400_OK; X400_ERR_LIMIT when the
 * value is longer than X400_MTA_NAME_MAX / X400_PASSWORD_MAX (the field is
 * left unchanged, never truncated); X400_ERR_INVALID_ARG (cfg NULL). */
int x400_p1_link_config_set_own_name(x400_p1_link_config *cfg, const char *name);
int x400_p1_link_config_set_own_password(x400_p1_link_config *cfg, const char *password);
int x400_p1_link_config_set_peer_password(x400_p1_link_config *cfg, const char *password);

/* Create a link.  Copies *cfg.  X400_OK, X400_ERR_INVALID_ARG, X400_ERR_NOMEM. */
int x400_p1_link_new(x400_p1_link **out, const x400_p1_link_config *cfg,
                     const x400_p1_link_callbacks *cb, const x400_allocator *alloc);
/* Free the link (an attached association is let go, not freed).  Order:
 * stop the input (x400_driver_free, or x400_driver_disconnect and its `closed`
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

/* cfg.assoc_own: the association the link made that needs a transport
 * connection, handed to the caller once: 1 and *out set (the caller now
 * connects it -- x400_driver_connect(d, host, port, *out, &h), or its own
 * socket and x400_assoc_connect -- moves its bytes, and frees it after its
 * connection has closed, x400_assoc_want_close); 0 when no connection is
 * wanted now.  The link makes the association here (a safe point) when it
 * needs one: at first, and after a connection was lost mid-transfer (RTSE
 * recovery; x400_p1_link_next_timeout is then 0 until this is called).
 * An association handed out that never connects ends with
 * x400_assoc_transport_closed (or the driver's closed callback): RTSE
 * retries with a new one until its recovery timeout.  X400_ERR_INVALID_ARG
 * (no assoc_own), X400_ERR_NOMEM, or what x400_assoc_new returned. */
int x400_p1_link_want_connect(x400_p1_link *l, x400_assoc **out);

/* Queue an MTS-APDU for transfer.  It is encoded now (the APDU may be
 * freed after the call) and sent when the link is bound and holds the
 * turn; `tag` comes back with SENT or SEND_FAILED.  What the link fills in
 * (the APDU itself is not changed): the trace element of cfg.trace_gdi
 * when the trace is empty (see x400_p1_link_config), and, in a message or
 * probe whose recipients all have originally-specified-recipient-number 0,
 * the numbers 1..n in recipient order (X.411 OriginallySpecifiedRecipient-
 * Number, 1..ub-recipients); numbers the caller set are sent as they are.  X400_OK;
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

/* Responder restarted: give it the last PERSIST record of the previous
 * process (rec, rec_len) and the APDU octets stored with it (octets,
 * octets_len: exactly the record's delivered count for a RECEIVING record;
 * ignored for a COMPLETED one).  The link then waits for the peer to
 * recover that connection (x400_p1_link_waiting_ref says which; route the
 * inbound recovery request to it with recovery_route), receives the rest of
 * the interrupted transfer from the last confirmed checkpoint and delivers
 * the APDU once (a COMPLETED record: the resumed transfer is confirmed and
 * nothing is delivered again).  The recovered link counts as bound with the
 * peer that bound the interrupted connection (peer_name unknown: "").
 * Call after x400_p1_link_tick (the record's expiry is checked against that
 * time, so the clock must be wall-clock milliseconds across restarts) and
 * before anything is attached.  X400_OK; X400_ERR_CORRUPT /
 * X400_ERR_UNSUPPORTED (bad record); X400_ERR_TIMEOUT (expired: nothing to
 * resume, the sender transfers again from the start); X400_ERR_INVALID_ARG
 * (octets_len does not match the record); X400_ERR_STATE (an initiator, or
 * the link has been used). */
int x400_p1_link_restore(x400_p1_link *l, const uint8_t *rec, size_t rec_len,
                         const uint8_t *octets, size_t octets_len);

/* Orderly close (RT-CLOSE, then release) once the queue is empty. */
int x400_p1_link_close(x400_p1_link *l);

/* Abort at once: RT-U-ABORT (X.228 9.10, an RTAB in A-ABORT).  The peer's
 * link ends with ABORTED (source peer) and, a user abort not being a lost
 * connection, tries no RTSE recovery.  A transfer in progress is lost: its
 * APDU comes back as SEND_FAILED, like everything still queued, and this
 * link ends with ABORTED (source local, X400_ERR_ABORTED).  RT-CLOSE being
 * the association-initiator's alone (X.228 9.3), this is how a responder
 * ends an association, e.g. an idle one (x400_p1_link_is_idle) when its
 * program stops.  X400_OK; X400_ERR_STATE once the link has ended. */
int x400_p1_link_abort(x400_p1_link *l);

/* Timers (transfer timeouts, recovery).  The library reads no clock:
 * `now_ms` is the current time in milliseconds on a clock of the caller's
 * choice that never goes backwards (CLOCK_MONOTONIC, say); deadlines are
 * computed from the last time passed.  Tick once after creating the link,
 * then whenever next_timeout has come (ticking early is harmless). */
int x400_p1_link_tick(x400_p1_link *l, uint64_t now_ms);
/* The absolute time, in milliseconds on the clock passed to tick, of the
 * link's next deadline; UINT64_MAX when no timer is running; 0 while an
 * association of cfg.assoc_own waits to be made (x400_p1_link_want_connect). */
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

/* Inside a RECEIVED or DUPLICATE event callback only: move the decoded APDU
 * (ev->apdu) to *out without copying or decoding it again.  The caller
 * owns it from then on -- it may change it (x400_p1_itrace_append, its
 * recipients, ...), keep it after the callback, and frees it with
 * x400_p1_apdu_free() -- and ev->apdu is left empty (every field zero):
 * use *out instead.  Everything the APDU points at is in its own arena,
 * never in the link's buffers.  X400_OK; X400_ERR_INVALID_ARG outside such
 * a callback or when it was taken already (*out is then zeroed). */
int x400_p1_link_take_apdu(x400_p1_link *l, x400_p1_apdu *out);

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
    uint64_t octets_sent;          /* APDU octets RTSE handed down on this link,
                                      those sent again after a recovery included */
} x400_p1_link_info;

/* Fill *out.  X400_OK or X400_ERR_INVALID_ARG. */
int x400_p1_link_get_info(const x400_p1_link *l, x400_p1_link_info *out);

/* What the link wants from the loop that moves its bytes (as nghttp2's
 * want_write / want_read):
 *   want_write  1 while its attached association has output pending;
 *   want_close  1 once the link has ended (released, aborted, bind refused;
 *               not while RTSE recovers a lost connection) and an association
 *               still attached has nothing left to send: the link will do
 *               nothing more (free it).  An association the link has let go
 *               of may still hold its last PDU (the DN answering a
 *               release): x400_assoc_want_write / x400_assoc_want_close say
 *               when its connection may close.
 * NULL: 0. */
int x400_p1_link_want_write(const x400_p1_link *l);
int x400_p1_link_want_close(const x400_p1_link *l);

int x400_p1_link_is_bound(const x400_p1_link *l);
/* 1 when the link is bound and nothing is in progress on it: no APDU
 * queued or in transfer either way, no confirmation deferred. */
int x400_p1_link_is_idle(const x400_p1_link *l);
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
