/*
 * Inside the X.228 RTPM: the object, the events, the outcomes of actions,
 * and what the four files share.  Not installed; only lib/rtse*.c include
 * it.  doc/rtse.md ("Files").
 *
 *   lib/rtse.c           the machine: state table, dispatch, RT-OPEN /
 *                        RT-CLOSE / abort / turn / recovery actions, the
 *                        entry points of lib/rtse.h
 *   lib/rtse_transfer.c  the sender (activity, checkpoints, window, resume)
 *                        and the receiver (APDV unwrapping, checkpoint ring,
 *                        activity start/resume/end/interrupt/discard)
 *   lib/rtse_record.c    the persisted receiver record (build, parse,
 *                        x400_rtse_record_info_get, x400i_rtse_restore)
 *   lib/rtse_apdu.c      RTSE APDU encoding and decoding
 *
 * The next state is the table's: an action never assigns r->state; it
 * calls x400i_rt_enter(r, outcome) and the table cell of the event maps
 * the outcome to the state (lib/rtse.c).
 */
#ifndef X400P1_RTSE_PRIV_H
#define X400P1_RTSE_PRIV_H

#include <stdarg.h>

#include <RTSE-apdus.h>
#include <SessionConnectionIdentifier.h>

#include "ber.h"
#include "rtse.h"

#define CTRL_MAX 65536u        /* bound on a control APDU (RTORQ, RTAB, ...) */
#define PIECE_MAX 65536u       /* P-DATA piece when no checkpointing is used */
#define RETRY_MS 2000u         /* interval between recovery attempts */
#define HDR_MAX 32u            /* EXTERNAL header of an APDV */
#define RING_MAX (X400_RTSE_MAX_WINDOW + 1u)
#define NEVER UINT64_MAX
#define SERIAL_LIMIT 999000u   /* serial numbers have at most 6 digits (X.225) */

/* X.228 AbortReason */
enum { AR_LOCAL = 0, AR_INVALID_PARAM = 1, AR_UNRECOGNIZED_ACT = 2, AR_TEMPORARY = 3, AR_PROTOCOL = 4,
       AR_PERMANENT = 5, AR_USER = 6, AR_TRANSFER_COMPLETED = 7 };
/* X.228 RefuseReason */
enum { RJ_BUSY = 0, RJ_CANNOT_RECOVER = 1, RJ_VALIDATION = 2, RJ_DIALOGUE_MODE = 3 };
/* reflectedParameter bits (which RTORQ/RTOAC field was wrong) */
enum { RP_CHECKPOINT = 0x80, RP_WINDOW = 0x40, RP_DIALOGUE = 0x20, RP_CONNDATA = 0x10, RP_APPPROTO = 0x08 };

typedef struct ckpt { uint32_t serial; uint64_t off; } ckpt;

/* Receiver side of the APDV wrapping: normal mode strips EXTERNAL
 * {[direct-reference], [indirect-reference], [descriptor], single-ASN1-type
 * [0] | octet-aligned [1]}; X.410 mode passes the octets through. */
typedef struct unwrap {
    int raw;                 /* X.410 mode */
    int hdr_done;
    uint8_t hdr[HDR_MAX];
    size_t hdr_have, hdr_len;
    uint64_t content_len;    /* NEVER = indefinite [0] */
    unsigned after;          /* EOC octets expected after definite content */
    unsigned after_seen;
    unsigned hold_need;      /* indefinite content: trailing EOC octets held back */
    uint8_t hold[4];
    unsigned hold_len;
    uint64_t delivered;      /* content octets handed to the user */
} unwrap;

typedef struct tx_state {
    int active;
    const uint8_t *apdu;
    size_t len;
    uint64_t tid;
    x400_rtse_priority prio;
    uint8_t hdr[2 * X400I_BER_LEN_MAX + 6]; /* EXTERNAL, indirect-reference, [0] */
    size_t hdr_len;
    uint64_t total;          /* APDV octets (hdr + apdu) */
    uint64_t off;            /* next APDV offset to send */
    ckpt ring[RING_MAX];     /* unconfirmed checkpoints */
    unsigned nring;
    uint32_t conf_serial;    /* last confirmed checkpoint */
    uint64_t conf_off;
    uint8_t id[6];
    size_t id_len;
    int ended;
    uint64_t deadline;
} tx_state;

typedef struct rx_state {
    int active;              /* an activity exists (running, interrupted or completed) */
    int completed;           /* delivered whole; kept for a resume of it */
    int skip_all;            /* resumed completed activity: drop every octet */
    int user_holds;          /* completed, but the user deferred its confirmation
                              * and has not given it yet: survives a lost
                              * connection, so a resumed activity's end is
                              * not confirmed to the sender on the user's behalf */
    uint8_t id[6];
    size_t id_len;
    uint64_t cur;            /* APDV offset of the next octet to arrive */
    uint64_t secured;        /* octets below are confirmed and handed over */
    x400i_buf buf;           /* octets [secured, cur) */
    ckpt ring[RING_MAX];     /* confirmed checkpoints, oldest first */
    unsigned nring;
    unwrap uw;
    uint64_t expires;        /* completed record: erase then */
    uint64_t total;          /* completed: APDV length */
} rx_state;

struct x400i_rtse {
    const x400_allocator *alloc;
    const x400_logger *log;
    x400_logger log_copy;
    int has_log;
    int initiator;
    x400_rtse_config cfg;
    x400i_rtse_lower lo;
    x400i_rtse_callbacks cb;
    int state;                   /* written only by x400i_rt_enter (and x400i_rtse_new) */
    int ev;                      /* the event being handled (-1: none) */
    int ev_state;                /* the state when the current event arrived */
    unsigned undeclared;         /* outcomes the table did not declare (a bug: 0) */
    int turn;
    int twa;
    int x410;                    /* X.410-1984 mode: configured (initiator) or the connection's (responder) */
    uint32_t cp_kib, window;
    uint64_t now;
    int cb_failed;
    int cb_rc;           /* what the failing callback returned */
    x400_diag diag;
    x400i_rtse_ref cur_ref;      /* this connection */
    int end_deferred;            /* receiver: the user holds the P-ACTIVITY-END response */
    x400i_rtse_ref lost_ref;     /* the connection the interrupted activity ran on */
    int have_lost_ref;
    int restored;
    int connecting;              /* recovery: connect_req outstanding */
    uint64_t rec_deadline, retry_at;
    uint32_t next_act;
    uint64_t bytes_sent;
    tx_state tx;
    rx_state rx;
    x400i_buf out;               /* scratch for encoded APDUs */
    uint8_t *open_ud;            /* RT-OPEN user data (kept for the RTORQ) */
    size_t open_ud_len;
};

/* ---- events ---------------------------------------------------------------- */
enum {
    EV_OPEN_REQ, EV_OPEN_RSP, EV_TRANSFER_REQ, EV_TURN_PLEASE_REQ, EV_TURN_GIVE_REQ, EV_CLOSE_REQ,
    EV_CLOSE_RSP, EV_U_ABORT_REQ, EV_TRANSFER_ACCEPT,
    EV_L_FIRST, /* = X400I_RTSE_LIND_* + EV_L_FIRST */
    EV_T_TRANSFER = EV_L_FIRST + X400I_RTSE_LIND_COUNT, EV_T_RECOVERY, EV_T_RETRY, EV_T_RECORD,
    EV_COUNT
};
#define EVL(t) (EV_L_FIRST + X400I_RTSE_LIND_##t)
#define IS_USER_EV(e) ((e) < EV_L_FIRST)
#define IS_TIMER_EV(e) ((e) >= EV_T_TRANSFER)

/* ---- outcomes: what an action's result was; the cell maps each to a state -- */
enum {
    O_DONE,     /* the event's usual result */
    O_RECOVERED,/* responder: RTORQ recover accepted, the connection is back */
    O_RESUMED,  /* sender: P-ACTIVITY-RESUME sent after a recovery */
    O_ENDED,    /* sender: all of the APDV sent, P-ACTIVITY-END requested */
    O_REFUSED,  /* RTORQ recover refused with RTORJ cannotRecover */
    O_BUSY,     /* RTORQ open refused with RTORJ rtsBusy (a recovery is awaited) */
    O_LOST_I,   /* connection lost, recoverable: the initiator re-establishes it */
    O_LOST_R,   /* connection lost, recoverable: the responder waits for it */
    O_ABORTED,  /* the RT-association is gone (abort, refusal, unrecoverable loss) */
    O_COUNT
};

/* Arguments of an event. */
typedef struct evargs {
    const x400i_rtse_lind *l;
    int accept, reason, priority;
    const uint8_t *ud;
    size_t len;
    x400_rtse_priority prio;
    uint64_t tid;
} evargs;

/* Internal result of an action: a request's predicate failed (diag set). */
#define REFUSE 1

static inline uint64_t min64(uint64_t a, uint64_t b) { return a < b ? a : b; }

/* ---- the machine (lib/rtse.c) ---------------------------------------------- */
/* The state the current event's cell gives for `outcome`. */
void x400i_rt_enter(x400i_rtse *r, int outcome);
int x400i_rt_diag(x400i_rtse *r, x400_source src, int code, int reason, const char *fmt, ...) X400I_PRINTF(5, 6);
int x400i_rt_indicate(x400i_rtse *r, x400i_rtse_ind *ind);
void x400i_rt_ind_init(x400i_rtse_ind *ind, x400i_rtse_ind_type t);
/* A request's predicate failed: diag "<request> not allowed in state ..". */
int x400i_rt_refuse(x400i_rtse *r, const char *why);
/* RTAB to the peer (if connected), RT-P-ABORT to the user; returns code. */
int x400i_rt_abort(x400i_rtse *r, int abort_reason, unsigned reflect, int code);
int x400i_rt_peer_error(x400i_rtse *r, int abort_reason, unsigned reflect, int code, const char *fmt, ...)
    X400I_PRINTF(5, 6);
/* A lower service returned rc < 0: the connection is lost. */
int x400i_rt_lower_failed(x400i_rtse *r, const char *what, int rc);
void x400i_rt_rx_reset(x400i_rtse *r);

/* ---- transfer (lib/rtse_transfer.c) ---------------------------------------- */
int x400i_rt_resume_sending(x400i_rtse *r);
int x400i_rt_act_transfer_req(x400i_rtse *r, const evargs *a);
int x400i_rt_act_transfer_accept(x400i_rtse *r, const evargs *a);
int x400i_rt_act_minor_conf(x400i_rtse *r, const evargs *a);
int x400i_rt_act_act_end_conf(x400i_rtse *r, const evargs *a);
int x400i_rt_act_act_start(x400i_rtse *r, const evargs *a);
int x400i_rt_act_act_resume(x400i_rtse *r, const evargs *a);
int x400i_rt_act_data(x400i_rtse *r, const evargs *a);
int x400i_rt_act_minor(x400i_rtse *r, const evargs *a);
int x400i_rt_act_act_end(x400i_rtse *r, const evargs *a);
int x400i_rt_act_act_interrupt(x400i_rtse *r, const evargs *a);
int x400i_rt_act_act_discard(x400i_rtse *r, const evargs *a);
int x400i_rt_act_u_exception(x400i_rtse *r, const evargs *a);
int x400i_rt_act_act_discard_conf(x400i_rtse *r, const evargs *a);
int x400i_rt_act_t_transfer(x400i_rtse *r, const evargs *a);
int x400i_rt_act_t_record(x400i_rtse *r, const evargs *a);

/* ---- the persisted record (lib/rtse_record.c) ------------------------------ */
void x400i_rt_persist(x400i_rtse *r);
void x400i_rt_persist_erase(x400i_rtse *r);

/* ---- APDUs (lib/rtse_apdu.c; lengths and the structural check: lib/ber.h) -- */
/* DER of *a into r->out; < 0 with diag. */
int x400i_rt_encode(x400i_rtse *r, RTSE_apdus_t *a);
/* Decode a complete control APDU; *out must be freed with x400i_rt_free_apdu(). */
int x400i_rt_decode(x400i_rtse *r, const uint8_t *p, size_t n, RTSE_apdus_t **out, const char *what);
void x400i_rt_free_apdu(RTSE_apdus_t *a);
int x400i_rt_sci_to_ref(const SessionConnectionIdentifier_t *sci, x400i_rtse_ref *ref);
int x400i_rt_ref_eq(const x400i_rtse_ref *a, const x400i_rtse_ref *b);
const char *x400i_rt_refuse_reason_name(int reason);
/* Into r->out: RTORQ (open or recover of r->lost_ref), RTOAC, RTORJ. */
int x400i_rt_build_rtorq(x400i_rtse *r, int recover);
int x400i_rt_build_rtoac(x400i_rtse *r, const uint8_t *ud, size_t len, const x400i_rtse_ref *recover);
int x400i_rt_build_rtorj(x400i_rtse *r, int reason, const uint8_t *ud, size_t len);
/* RTAB in u_abort_req; the lower's result. */
int x400i_rt_send_rtab(x400i_rtse *r, int reason, unsigned reflect, const uint8_t *ud, size_t len);

#endif
