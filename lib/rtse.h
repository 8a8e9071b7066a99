/*
 * X.228 RTSE protocol machine (RTPM), sans-I/O, with an abstract lower
 * interface (in the spirit of ISODE's rt2ps/rt2ss split): the RTPM calls
 * the services it needs from below through x400i_rtse_lower, and the
 * adapter below delivers indications and confirmations through
 * x400i_rtse_lower_input().  Two adapters are meant: over ACSE +
 * presentation (normal mode: RTORQ/RTOAC/RTORJ in AARQ/AARE user
 * information, RTAB in ABRT) and over presentation in X.410-1984 mode (the
 * RTORQ fields in the CP-type x410-mode-parameters).  test/
 * support_rtse_lower.c runs RTSE directly over the session machine.
 *
 * One object is one RT-association; it outlives a lost connection: after a
 * provider abort during a transfer (checkpointing in use) the association-
 * initiator calls lower->connect_req again with connectionDataRQ recover,
 * the responder waits for that RTORQ (the adapter routes it to the
 * waiting object, see x400i_rtse_waiting_ref()), and the sender resumes
 * the interrupted activity.  doc/rtse.md.
 *
 * Time: sans-I/O.  The caller passes its clock (milliseconds, monotonic
 * within one process; wall-clock if records are persisted across restarts)
 * with x400i_rtse_tick(), before any other call that may start a timer,
 * and calls it again at x400i_rtse_next_timeout().
 *
 * Views: pointers in an x400i_rtse_ind / x400i_rtse_lind are valid during
 * the call only.  Callbacks may call requests of the same object
 * (re-entrant) but must not free it.
 * Threads: one object must not be used by two threads at once.
 */
#ifndef X400P1_RTSE_INT_H
#define X400P1_RTSE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "x400p1/rtse.h"

typedef struct x400i_rtse x400i_rtse;

/* Session connection identifier (X.225 / X.228 SessionConnectionIdentifier):
 * calling SS-user reference, common reference (a UTCTime), additional
 * reference information.  Identifies the connection a transfer ran on. */
typedef struct x400i_rtse_ref {
    uint8_t calling[64]; size_t calling_len;
    uint8_t common[64]; size_t common_len;
    uint8_t add[4]; size_t add_len;
} x400i_rtse_ref;

/* ---- services used from below ------------------------------------------ */
/* Every function returns >= 0 on success; < 0 means the service could not
 * be performed (the connection is gone): the RTPM then proceeds as after a
 * provider abort.  `apdu` arguments are complete BER encodings of
 * RTSE-apdus (e.g. B0 .. for RTORQ, B1 .. RTOAC, B2 .. RTORJ, B6 .. RTAB,
 * 02 .. RTTP, 04 .. RTTR); in X.410-1984 mode the adapter re-tags the
 * RTORQ/RTOAC/RTORJ as the CP/CPA/CPR x410 parameters require. */
typedef struct x400i_rtse_lower {
    void *user;
    /* RT-OPEN: establish a connection carrying RTORQ (A-ASSOCIATE request
     * user information / CP x410-mode-parameters).  turn_to_initiator:
     * initial assignment of every token (data, minor sync, major/activity)
     * to the initiator (1) or the responder (0). */
    int (*connect_req)(void *user, int turn_to_initiator, const uint8_t *apdu, size_t len);
    /* Answer to LIND_CONNECT: accept with RTOAC, or refuse with RTORJ. */
    int (*connect_rsp)(void *user, int accept, const uint8_t *apdu, size_t len);
    /* P-DATA carrying one RTTR (a piece of an APDV). */
    int (*data_req)(void *user, const uint8_t *apdu, size_t len);
    /* P-SYNC-MINOR (explicit confirmation): *serial receives its number. */
    int (*minor_sync_req)(void *user, uint32_t *serial);
    int (*minor_sync_rsp)(void *user, uint32_t serial);
    int (*activity_start_req)(void *user, const uint8_t *id, size_t id_len);
    /* P-ACTIVITY-RESUME: new id, old id, resume after serial number
     * `serial`, old connection identifier. */
    int (*activity_resume_req)(void *user, const uint8_t *id, size_t id_len, const uint8_t *old_id,
                               size_t old_id_len, uint32_t serial, const x400i_rtse_ref *old_conn);
    int (*activity_discard_rsp)(void *user);
    int (*activity_interrupt_rsp)(void *user);
    /* P-ACTIVITY-END: *serial receives its number. */
    int (*activity_end_req)(void *user, uint32_t *serial);
    int (*activity_end_rsp)(void *user);
    /* P-TOKEN-PLEASE for every token, user data = RTTP (RT-TURN-PLEASE). */
    int (*token_please_req)(void *user, const uint8_t *apdu, size_t len);
    /* P-CONTROL-GIVE (RT-TURN-GIVE). */
    int (*control_give_req)(void *user);
    /* A-RELEASE (normal mode) / S-RELEASE (X.410) request and response. */
    int (*release_req)(void *user);
    int (*release_rsp)(void *user);
    /* A-ABORT / S-U-ABORT carrying RTAB; the connection is gone afterwards. */
    int (*u_abort_req)(void *user, const uint8_t *apdu, size_t len);
    /* P-U-EXCEPTION-REPORT (receiver: a resume it cannot honour) and
     * P-ACTIVITY-DISCARD request (sender: the answer to it).  Optional:
     * without them such a resume is refused with RTAB, as before. */
    int (*u_exception_req)(void *user, int reason);
    int (*activity_discard_req)(void *user, int reason);
} x400i_rtse_lower;

/* ---- indications and confirmations from below --------------------------- */
typedef enum x400i_rtse_lind_type {
    X400I_RTSE_LIND_CONNECT,          /* RTORQ arrived (A-ASSOCIATE / P-CONNECT ind) */
    X400I_RTSE_LIND_CONNECT_CONF,     /* answer: accepted (RTOAC) or refused (RTORJ / none) */
    X400I_RTSE_LIND_DATA,             /* P-DATA ind: one RTSE APDU (RTTR) */
    X400I_RTSE_LIND_MINOR_SYNC,       /* P-SYNC-MINOR ind (serial) */
    X400I_RTSE_LIND_MINOR_SYNC_CONF,  /* P-SYNC-MINOR conf (serial) */
    X400I_RTSE_LIND_ACT_START,        /* P-ACTIVITY-START ind (id) */
    X400I_RTSE_LIND_ACT_RESUME,       /* P-ACTIVITY-RESUME ind (id, old id, serial, old ref) */
    X400I_RTSE_LIND_ACT_INTERRUPT,    /* P-ACTIVITY-INTERRUPT ind */
    X400I_RTSE_LIND_ACT_DISCARD,      /* P-ACTIVITY-DISCARD ind */
    X400I_RTSE_LIND_ACT_END,          /* P-ACTIVITY-END ind (serial) */
    X400I_RTSE_LIND_ACT_END_CONF,     /* P-ACTIVITY-END conf */
    X400I_RTSE_LIND_TOKEN_PLEASE,     /* P-TOKEN-PLEASE ind (user data = RTTP) */
    X400I_RTSE_LIND_CONTROL_GIVE,     /* P-CONTROL-GIVE ind */
    X400I_RTSE_LIND_RELEASE,          /* A-RELEASE / S-RELEASE ind */
    X400I_RTSE_LIND_RELEASE_CONF,     /* A-RELEASE / S-RELEASE conf */
    X400I_RTSE_LIND_U_ABORT,          /* A-ABORT / S-U-ABORT ind (user data = RTAB or none) */
    X400I_RTSE_LIND_P_ABORT,          /* provider abort, connection lost */
    X400I_RTSE_LIND_U_EXCEPTION,      /* P-U-EXCEPTION-REPORT ind (reason) */
    X400I_RTSE_LIND_ACT_DISCARD_CONF, /* P-ACTIVITY-DISCARD conf */
    X400I_RTSE_LIND_COUNT
} x400i_rtse_lind_type;

/* The mode a connection runs (X400I_RTSE_LIND_CONNECT): a responder learns
 * it from the connection (presentation mode selector, X.410 parameters,
 * no ACSE), never from its configuration; 0 keeps the configured mode. */
enum { X400I_RTSE_MODE_CONFIGURED = 0, X400I_RTSE_MODE_NORMAL = 1, X400I_RTSE_MODE_X410 = 2 };

typedef struct x400i_rtse_lind {
    x400i_rtse_lind_type type;
    int mode;                              /* CONNECT: X400I_RTSE_MODE_* */
    const uint8_t *apdu; size_t apdu_len;  /* CONNECT(_CONF), DATA, TOKEN_PLEASE, U_ABORT */
    int accepted;                          /* CONNECT_CONF */
    int turn;                              /* CONNECT(_CONF): this side holds the turn now */
    const x400i_rtse_ref *ref;             /* CONNECT(_CONF): this connection's identifier */
    uint32_t serial;                       /* MINOR_SYNC(_CONF), ACT_RESUME, ACT_END */
    int reason;                            /* U_EXCEPTION: the exception's reason code */
    const uint8_t *id; size_t id_len;      /* ACT_START, ACT_RESUME (new id) */
    const uint8_t *old_id; size_t old_id_len; /* ACT_RESUME */
    const x400_diag *diag;                 /* P_ABORT: why (may be NULL) */
} x400i_rtse_lind;

/* ---- indications to the RTSE user ---------------------------------------- */
typedef enum x400i_rtse_ind_type {
    X400I_RTSE_OPEN_IND,        /* RT-OPEN ind: answer with x400i_rtse_open_rsp() */
    X400I_RTSE_OPEN_CONF,       /* RT-OPEN conf: accepted (user_data = RTOAC open) or refused */
    X400I_RTSE_TRANSFER_DATA,   /* receiver: APDU octets now secured (offset, data) */
    X400I_RTSE_TRANSFER_IND,    /* receiver: RT-TRANSFER ind, the APDU is complete (total) */
    X400I_RTSE_TRANSFER_ABANDON,/* receiver: drop the octets of the unfinished APDU */
    X400I_RTSE_TRANSFER_CONF,   /* sender: RT-TRANSFER conf; result X400_OK or < 0 */
    X400I_RTSE_TURN_PLEASE_IND, /* RT-TURN-PLEASE ind (priority) */
    X400I_RTSE_TURN_GIVE_IND,   /* RT-TURN-GIVE ind: we hold the turn */
    X400I_RTSE_CLOSE_IND,       /* RT-CLOSE ind: answer with x400i_rtse_close_rsp() */
    X400I_RTSE_CLOSE_CONF,      /* RT-CLOSE conf */
    X400I_RTSE_U_ABORT_IND,     /* RT-U-ABORT ind (user_data = RTAB userdataAB) */
    X400I_RTSE_P_ABORT_IND,     /* RT-P-ABORT ind (diag says why) */
    X400I_RTSE_RECOVERING_IND,  /* connection lost, recovery under way (informational) */
    X400I_RTSE_RECOVERED_IND,   /* connection recovered (informational) */
    X400I_RTSE_PERSIST          /* store this recovery record (len 0: erase it) */
} x400i_rtse_ind_type;

typedef struct x400i_rtse_ind {
    x400i_rtse_ind_type type;
    const uint8_t *user_data; size_t user_data_len; /* OPEN_*, U_ABORT: an encoded ASN.1 value */
    int accepted;               /* OPEN_CONF */
    int reason;                 /* OPEN_CONF refused: RTORJ refuseReason (-1 none);
                                   *_ABORT_IND: RTAB abortReason (-1 none) */
    int priority;               /* TURN_PLEASE_IND */
    int result;                 /* TRANSFER_CONF */
    uint64_t offset;            /* TRANSFER_DATA: APDU offset of data */
    const uint8_t *data; size_t data_len; /* TRANSFER_DATA */
    uint64_t total;             /* TRANSFER_IND */
    uint64_t transfer_id;       /* TRANSFER_CONF: the id given to transfer_req */
    const uint8_t *record; size_t record_len; /* PERSIST */
    const x400_diag *diag;      /* *_ABORT_IND, OPEN_CONF refused, TRANSFER_CONF < 0 */
} x400i_rtse_ind;

typedef struct x400i_rtse_callbacks {
    void *user;
    int (*indication)(void *user, const x400i_rtse_ind *ind); /* < 0: abort */
} x400i_rtse_callbacks;

/* Create an RTPM.  initiator: association-initiator (calls open_req) or
 * responder (waits for LIND_CONNECT).  cfg (NULL = defaults), lower and cb
 * are copied.  X400_OK, X400_ERR_INVALID_ARG (cfg out of range, a lower
 * function missing), X400_ERR_NOMEM. */
int x400i_rtse_new(x400i_rtse **out, int initiator, const x400_rtse_config *cfg,
                   const x400i_rtse_lower *lower, const x400i_rtse_callbacks *cb,
                   const x400_allocator *a, const x400_logger *log);
void x400i_rtse_free(x400i_rtse *r);

/* Responder after a restart: load a record the previous process was handed
 * (X400I_RTSE_PERSIST) so that the sender's recovery is accepted.  Only in
 * the idle state.  X400_OK; X400_ERR_CORRUPT / X400_ERR_UNSUPPORTED (bad
 * record); X400_ERR_TIMEOUT (expired: nothing to resume, the sender
 * restarts); X400_ERR_STATE. */
int x400i_rtse_restore(x400i_rtse *r, const uint8_t *rec, size_t len);

/* One indication or confirmation from the lower adapter.  X400_OK; after a
 * protocol error by the peer: RTAB sent, RT-P-ABORT indicated,
 * X400_ERR_PROTOCOL (or X400_ERR_PARSE when an APDU did not decode);
 * X400_ERR_CLOSED when the association no longer exists;
 * X400_ERR_CALLBACK_FAILURE when the user's callback failed (aborted). */
int x400i_rtse_lower_input(x400i_rtse *r, const x400i_rtse_lind *ind);

/* ---- requests and responses (X.228 clause 8 services) -------------------- */
/* Each returns X400_OK, X400_ERR_STATE (not allowed now; diag says why; no
 * effect), X400_ERR_INVALID_ARG, X400_ERR_TOO_LONG, or a fatal error. */
/* RT-OPEN request; user_data: the `open` value (one BER TLV, e.g. the
 * ROS-wrapped MTABindArgument), may be empty (NULL is sent). */
int x400i_rtse_open_req(x400i_rtse *r, const uint8_t *user_data, size_t len);
/* RT-OPEN response: accept (user_data = connectionDataAC open value) or
 * refuse with RTORJ refuseReason `reason` (-1: none) and userDataRJ. */
int x400i_rtse_open_rsp(x400i_rtse *r, int accept, int reason, const uint8_t *user_data, size_t len);
/* RT-TRANSFER request: the caller keeps `apdu` unchanged until the
 * TRANSFER_CONF (the RTPM sends from it again when it recovers).
 * X400_ERR_STATE while another transfer is under way or without the turn. */
int x400i_rtse_transfer_req(x400i_rtse *r, const uint8_t *apdu, size_t len, x400_rtse_priority prio,
                            uint64_t transfer_id);
int x400i_rtse_turn_please_req(x400i_rtse *r, int priority);
int x400i_rtse_turn_give_req(x400i_rtse *r);
int x400i_rtse_close_req(x400i_rtse *r);
int x400i_rtse_close_rsp(x400i_rtse *r);
/* RT-U-ABORT: user_data (one BER TLV or empty) goes in RTAB userdataAB. */
int x400i_rtse_u_abort_req(x400i_rtse *r, const uint8_t *user_data, size_t len);

/* ---- timers --------------------------------------------------------------- */
/* Set the current time; expired timers fire (transfer timeout: abort;
 * recovery timeout: RT-P-ABORT and the transfer restarts; recovery retry:
 * connect_req again).  Returns X400_OK or a fatal error. */
int x400i_rtse_tick(x400i_rtse *r, uint64_t now_ms);
/* The earliest deadline, or UINT64_MAX when no timer runs. */
uint64_t x400i_rtse_next_timeout(const x400i_rtse *r);

/* ---- introspection -------------------------------------------------------- */
typedef enum x400i_rtse_st {
    X400I_RTSE_ST_IDLE = 0,        /* no association */
    X400I_RTSE_ST_WAIT_OPEN_CONF,  /* RTORQ sent */
    X400I_RTSE_ST_WAIT_OPEN_RSP,   /* RTORQ received, RT-OPEN ind given */
    X400I_RTSE_ST_OPEN,            /* associated, no transfer */
    X400I_RTSE_ST_SENDING,         /* our activity in progress */
    X400I_RTSE_ST_WAIT_END_CONF,   /* activity end sent */
    X400I_RTSE_ST_RECEIVING,       /* the peer's activity in progress */
    X400I_RTSE_ST_WAIT_CLOSE_CONF, /* RT-CLOSE requested */
    X400I_RTSE_ST_WAIT_CLOSE_RSP,  /* RT-CLOSE indicated */
    X400I_RTSE_ST_RECOVERING,      /* initiator: connection lost, re-establishing */
    X400I_RTSE_ST_WAIT_RECOVERY,   /* responder: connection lost, waiting for recover */
    X400I_RTSE_ST_WAIT_DISCARD_CONF, /* sender: the receiver refused a resume, activity discarded */
    X400I_RTSE_ST_CLOSED,          /* released or aborted */
    X400I_RTSE_ST_COUNT
} x400i_rtse_st;

int x400i_rtse_state(const x400i_rtse *r);
const char *x400i_rtse_state_name(int st);
const char *x400i_rtse_event_name(int ev);
int x400i_rtse_event_count(void);
/* The table (lib/rtse.c): 1 if state st has an action for event ev, with
 * *next = the state of its usual outcome; 0 for an empty cell (a request
 * is refused, an event from below is a protocol error, a timer is
 * ignored).  x400i_rtse_table_next: the state the cell gives for outcome
 * `outcome` (0 .. x400i_rtse_outcome_count() - 1), -1 if the action
 * cannot have that outcome. */
int x400i_rtse_table_entry(int st, int ev, int *next);
int x400i_rtse_table_next(int st, int ev, int outcome);
int x400i_rtse_outcome_count(void);
/* Outcomes an action named that its cell did not declare (a bug: the state
 * was left as it was).  0 always; the tests and fuzzers check it. */
unsigned x400i_rtse_undeclared(const x400i_rtse *r);
/* Handle timer event ev (an event index naming a timer, as
 * x400i_rtse_event_name tells) now, as if its deadline had passed: for
 * tests that walk the table.  X400_ERR_INVALID_ARG if ev is no timer. */
int x400i_rtse_timer_fire(x400i_rtse *r, int ev);
int x400i_rtse_has_turn(const x400i_rtse *r);
/* Negotiated values (after RT-OPEN). */
uint32_t x400i_rtse_checkpoint_kib(const x400i_rtse *r);
uint32_t x400i_rtse_window(const x400i_rtse *r);
int x400i_rtse_twa(const x400i_rtse *r);
/* 1 when this RT-association runs X.410-1984 mode: the configured mode on
 * the initiator, the mode of the connection on the responder (after the
 * RTORQ arrived). */
int x400i_rtse_x410(const x400i_rtse *r);
const x400_diag *x400i_rtse_diag(const x400i_rtse *r);
/* The connection identifier a waiting responder (WAIT_RECOVERY, or idle
 * after restore) expects in RTORQ recover; NULL otherwise.  For adapters
 * routing an incoming recovery to the right object. */
const x400i_rtse_ref *x400i_rtse_waiting_ref(const x400i_rtse *r);
/* Deferred confirmation: the user's indication callback may return
 * X400I_RTSE_DEFER for X400I_RTSE_TRANSFER_IND; the P-ACTIVITY-END response
 * (the RT-TRANSFER confirmation at the sender) then waits for
 * x400i_rtse_transfer_accept().  A lost connection does not cancel it:
 * when the sender recovers and ends the resumed activity, that end too
 * waits for the user (nothing is confirmed on the user's behalf); a
 * completed record is persisted only once the user has confirmed. */
#define X400I_RTSE_DEFER 1
int x400i_rtse_transfer_accept(x400i_rtse *r);
int x400i_rtse_transfer_deferred(const x400i_rtse *r);
/* Decode an RTORQ and return 1 with *ref filled if it is connectionDataRQ
 * recover, 0 if it is open, < 0 if it does not decode. */
int x400i_rtse_rtorq_recover_ref(const uint8_t *apdu, size_t len, x400i_rtse_ref *ref);
/* Counters: APDV octets handed to data_req (sender), including resent. */
uint64_t x400i_rtse_bytes_sent(const x400i_rtse *r);

/* Abort reason names (X.228 AbortReason), NULL for unknown values. */
const char *x400i_rtse_abort_reason_name(int reason);

#endif
