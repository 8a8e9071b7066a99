/*
 * X.228 RTSE: the reliable transfer protocol machine (RTPM).  Sans-I/O over
 * the abstract lower interface of lib/rtse.h.  This file holds the machine
 * -- the state table, dispatch, the RT-OPEN / RT-CLOSE / turn / abort /
 * recovery actions and the entry points; the transfer sender and receiver
 * are in lib/rtse_transfer.c, the persisted record in lib/rtse_record.c,
 * APDU coding in lib/rtse_apdu.c (lib/rtse_int.h).  doc/rtse.md.
 */
#include <stdio.h>
#include <string.h>

#include <RTABapdu.h>
#include <RTOACapdu.h>
#include <RTORJapdu.h>
#include <RTORQapdu.h>

#include "ber.h"
#include "rtse_int.h"

/* ---- events, states and the state table ---------------------------------- */
static const char *const ev_names[EV_COUNT] = {
    "RT-OPEN request", "RT-OPEN response", "RT-TRANSFER request", "RT-TURN-PLEASE request",
    "RT-TURN-GIVE request", "RT-CLOSE request", "RT-CLOSE response", "RT-U-ABORT request",
    "RT-TRANSFER accept (deferred P-ACTIVITY-END response)",
    "RTORQ (connect indication)", "RTOAC/RTORJ (connect confirm)", "P-DATA (RTTR)",
    "P-SYNC-MINOR indication", "P-SYNC-MINOR confirm", "P-ACTIVITY-START indication",
    "P-ACTIVITY-RESUME indication", "P-ACTIVITY-INTERRUPT indication", "P-ACTIVITY-DISCARD indication",
    "P-ACTIVITY-END indication", "P-ACTIVITY-END confirm", "P-TOKEN-PLEASE (RTTP) indication",
    "P-CONTROL-GIVE indication", "release indication", "release confirm", "abort indication (RTAB)",
    "provider abort", "P-U-EXCEPTION-REPORT indication", "P-ACTIVITY-DISCARD confirm", "transfer timer", "recovery timer", "recovery retry timer", "record expiry timer",
};

static const char *const st_names[X400I_RTSE_ST_COUNT] = {
    "idle", "wait for RTOAC", "wait for RT-OPEN response", "open", "sending", "wait for activity end confirm",
    "receiving", "wait for release confirm", "wait for RT-CLOSE response", "recovering",
    "wait for recovery", "wait for activity discard confirm", "closed",
};

enum {
    A_NONE = 0, A_OPEN_REQ, A_OPEN_RSP, A_TRANSFER_REQ, A_TURN_PLEASE_REQ, A_TURN_GIVE_REQ, A_CLOSE_REQ,
    A_CLOSE_RSP, A_U_ABORT_REQ, A_TRANSFER_ACCEPT, A_CONNECT, A_CONNECT_CONF, A_DATA, A_MINOR, A_MINOR_CONF,
    A_ACT_START, A_ACT_RESUME, A_ACT_INTERRUPT, A_ACT_DISCARD, A_ACT_END, A_ACT_END_CONF, A_TOKEN_PLEASE,
    A_CONTROL_GIVE, A_RELEASE, A_RELEASE_CONF, A_PEER_ABORT, A_PROVIDER_ABORT, A_IGNORE,
    A_T_TRANSFER, A_T_RECOVERY, A_T_RETRY, A_T_RECORD, A_RECOVERY_REFUSED, A_U_EXCEPTION,
    A_ACT_DISCARD_CONF, A_COUNT
};

/* A cell: the action, and for each outcome it may name the next state
 * (stored + 1; 0: not an outcome of this cell). */
typedef struct cell { uint8_t act; uint8_t next[O_COUNT]; } cell;
#define S(x) X400I_RTSE_ST_##x
#define C(a, ...) { A_##a, { __VA_ARGS__ } }
#define TO(o, s) [O_##o] = S(s) + 1
/* the association is gone: RTAB/RT-P-ABORT, a refusal, a failing callback */
#define ABORTED TO(ABORTED, CLOSED)
/* a lower service failed (connection lost): recovery, or closed without it */
#define LOST TO(LOST_I, RECOVERING), TO(LOST_R, WAIT_RECOVERY), ABORTED
#define LOST_AS_INITIATOR TO(LOST_I, RECOVERING), ABORTED
#define LOST_AS_RESPONDER TO(LOST_R, WAIT_RECOVERY), ABORTED

/* One row per state.  An empty cell is an invalid intersection: a user
 * request is refused (X400_ERR_STATE, no effect), an event from below is a
 * protocol error (RTAB protocolError, RT-P-ABORT: closed), a timer is
 * ignored.  Every state an event can lead to is in its cell: the actions
 * name an outcome (x400i_rt_enter), never a state. */
static const cell table[X400I_RTSE_ST_COUNT][EV_COUNT] = {
    [S(IDLE)] = {
        [EV_OPEN_REQ] = C(OPEN_REQ, TO(DONE, WAIT_OPEN_CONF), ABORTED),
        /* RTORQ open: RT-OPEN ind; RTORQ recover after a restore: back */
        [EVL(CONNECT)] = C(CONNECT, TO(DONE, WAIT_OPEN_RSP), TO(RECOVERED, OPEN), TO(REFUSED, CLOSED),
                           TO(BUSY, IDLE), LOST_AS_RESPONDER),
        [EVL(P_ABORT)] = C(IGNORE, TO(DONE, IDLE)),
        [EV_T_RECOVERY] = C(T_RECOVERY, ABORTED),
    },
    [S(WAIT_OPEN_CONF)] = {
        [EVL(CONNECT_CONF)] = C(CONNECT_CONF, TO(DONE, OPEN), ABORTED),
        [EV_U_ABORT_REQ] = C(U_ABORT_REQ, ABORTED),
        [EVL(U_ABORT)] = C(PEER_ABORT, ABORTED),
        [EVL(P_ABORT)] = C(PROVIDER_ABORT, ABORTED),
    },
    [S(WAIT_OPEN_RSP)] = {
        [EV_OPEN_RSP] = C(OPEN_RSP, TO(DONE, OPEN), LOST_AS_RESPONDER),
        [EV_U_ABORT_REQ] = C(U_ABORT_REQ, ABORTED),
        [EVL(U_ABORT)] = C(PEER_ABORT, ABORTED),
        [EVL(P_ABORT)] = C(PROVIDER_ABORT, ABORTED),
    },
    [S(OPEN)] = {
        [EV_TRANSFER_REQ] = C(TRANSFER_REQ, TO(DONE, SENDING), TO(ENDED, WAIT_END_CONF), LOST),
        [EV_TURN_PLEASE_REQ] = C(TURN_PLEASE_REQ, TO(DONE, OPEN), LOST),
        [EV_TURN_GIVE_REQ] = C(TURN_GIVE_REQ, TO(DONE, OPEN), LOST),
        [EV_CLOSE_REQ] = C(CLOSE_REQ, TO(DONE, WAIT_CLOSE_CONF), ABORTED),
        [EV_U_ABORT_REQ] = C(U_ABORT_REQ, ABORTED),
        [EV_TRANSFER_ACCEPT] = C(TRANSFER_ACCEPT, TO(DONE, OPEN), LOST),
        [EVL(ACT_START)] = C(ACT_START, TO(DONE, RECEIVING), ABORTED),
        /* a resume refused with P-U-EXCEPTION-REPORT: LOST if that fails */
        [EVL(ACT_RESUME)] = C(ACT_RESUME, TO(DONE, RECEIVING), LOST),
        [EVL(TOKEN_PLEASE)] = C(TOKEN_PLEASE, TO(DONE, OPEN), ABORTED),
        [EVL(CONTROL_GIVE)] = C(CONTROL_GIVE, TO(DONE, OPEN), ABORTED),
        [EVL(RELEASE)] = C(RELEASE, TO(DONE, WAIT_CLOSE_RSP), ABORTED),
        [EVL(U_ABORT)] = C(PEER_ABORT, ABORTED),
        [EVL(P_ABORT)] = C(PROVIDER_ABORT, LOST),
        [EV_T_RECORD] = C(T_RECORD, TO(DONE, OPEN), ABORTED),
    },
    [S(SENDING)] = {
        [EVL(MINOR_SYNC_CONF)] = C(MINOR_CONF, TO(DONE, SENDING), TO(ENDED, WAIT_END_CONF), LOST),
        /* the receiver cannot take the resumed activity: discard it */
        [EVL(U_EXCEPTION)] = C(U_EXCEPTION, TO(DONE, WAIT_DISCARD_CONF), LOST),
        [EVL(TOKEN_PLEASE)] = C(TOKEN_PLEASE, TO(DONE, SENDING), ABORTED),
        [EV_U_ABORT_REQ] = C(U_ABORT_REQ, ABORTED),
        [EVL(U_ABORT)] = C(PEER_ABORT, ABORTED),
        [EVL(P_ABORT)] = C(PROVIDER_ABORT, LOST),
        [EV_T_TRANSFER] = C(T_TRANSFER, ABORTED),
    },
    [S(WAIT_END_CONF)] = {
        [EVL(ACT_END_CONF)] = C(ACT_END_CONF, TO(DONE, OPEN), ABORTED),
        [EVL(MINOR_SYNC_CONF)] = C(MINOR_CONF, TO(DONE, WAIT_END_CONF), ABORTED),
        [EVL(TOKEN_PLEASE)] = C(TOKEN_PLEASE, TO(DONE, WAIT_END_CONF), ABORTED),
        [EV_U_ABORT_REQ] = C(U_ABORT_REQ, ABORTED),
        [EVL(U_ABORT)] = C(PEER_ABORT, ABORTED),
        [EVL(P_ABORT)] = C(PROVIDER_ABORT, LOST),
        [EV_T_TRANSFER] = C(T_TRANSFER, ABORTED),
    },
    [S(WAIT_DISCARD_CONF)] = {
        /* the activity is gone on both sides: the APDU again from octet 0 */
        /* (the window is as at the activity's start, which did not end it:
         * the new activity cannot end at once either) */
        [EVL(ACT_DISCARD_CONF)] = C(ACT_DISCARD_CONF, TO(DONE, SENDING), TO(LOST_I, RECOVERING),
                                    TO(LOST_R, WAIT_RECOVERY)),
        [EVL(MINOR_SYNC_CONF)] = C(IGNORE, TO(DONE, WAIT_DISCARD_CONF)),
        [EVL(TOKEN_PLEASE)] = C(TOKEN_PLEASE, TO(DONE, WAIT_DISCARD_CONF), ABORTED),
        [EV_U_ABORT_REQ] = C(U_ABORT_REQ, ABORTED),
        [EVL(U_ABORT)] = C(PEER_ABORT, ABORTED),
        [EVL(P_ABORT)] = C(PROVIDER_ABORT, LOST),
        [EV_T_TRANSFER] = C(T_TRANSFER, ABORTED),
    },
    [S(RECEIVING)] = {
        [EVL(DATA)] = C(DATA, TO(DONE, RECEIVING), ABORTED),
        [EVL(MINOR_SYNC)] = C(MINOR, TO(DONE, RECEIVING), LOST),
        [EVL(ACT_END)] = C(ACT_END, TO(DONE, OPEN), LOST),
        [EVL(ACT_INTERRUPT)] = C(ACT_INTERRUPT, TO(DONE, OPEN), LOST),
        [EVL(ACT_DISCARD)] = C(ACT_DISCARD, TO(DONE, OPEN), LOST),
        [EV_TURN_PLEASE_REQ] = C(TURN_PLEASE_REQ, TO(DONE, RECEIVING), LOST),
        [EV_U_ABORT_REQ] = C(U_ABORT_REQ, ABORTED),
        [EVL(U_ABORT)] = C(PEER_ABORT, ABORTED),
        [EVL(P_ABORT)] = C(PROVIDER_ABORT, LOST),
    },
    [S(WAIT_CLOSE_CONF)] = {
        [EVL(RELEASE_CONF)] = C(RELEASE_CONF, TO(DONE, CLOSED), ABORTED),
        [EV_U_ABORT_REQ] = C(U_ABORT_REQ, ABORTED),
        [EVL(U_ABORT)] = C(PEER_ABORT, ABORTED),
        [EVL(P_ABORT)] = C(PROVIDER_ABORT, ABORTED),
    },
    [S(WAIT_CLOSE_RSP)] = {
        [EV_CLOSE_RSP] = C(CLOSE_RSP, TO(DONE, CLOSED), ABORTED),
        [EV_U_ABORT_REQ] = C(U_ABORT_REQ, ABORTED),
        [EVL(U_ABORT)] = C(PEER_ABORT, ABORTED),
        [EVL(P_ABORT)] = C(PROVIDER_ABORT, ABORTED),
    },
    [S(RECOVERING)] = {
        /* RTOAC recover: open again, the interrupted transfer resumes */
        [EVL(CONNECT_CONF)] = C(CONNECT_CONF, TO(DONE, OPEN), TO(RESUMED, SENDING), TO(ENDED, WAIT_END_CONF),
                                LOST_AS_INITIATOR),
        [EVL(U_ABORT)] = C(RECOVERY_REFUSED, ABORTED),
        [EVL(P_ABORT)] = C(PROVIDER_ABORT, TO(DONE, RECOVERING)),
        [EV_U_ABORT_REQ] = C(U_ABORT_REQ, ABORTED),
        [EV_T_RETRY] = C(T_RETRY, TO(DONE, RECOVERING)),
        [EV_T_RECOVERY] = C(T_RECOVERY, ABORTED),
        [EV_T_TRANSFER] = C(T_TRANSFER, ABORTED),
    },
    [S(WAIT_RECOVERY)] = {
        /* RTORQ recover of the lost connection: open again (a responder
         * that was sending resumes); anything else: RTORJ, still waiting */
        [EVL(CONNECT)] = C(CONNECT, TO(RECOVERED, OPEN), TO(RESUMED, SENDING), TO(ENDED, WAIT_END_CONF),
                           TO(REFUSED, WAIT_RECOVERY), TO(BUSY, WAIT_RECOVERY), LOST_AS_RESPONDER),
        [EVL(P_ABORT)] = C(IGNORE, TO(DONE, WAIT_RECOVERY)),
        [EV_U_ABORT_REQ] = C(U_ABORT_REQ, ABORTED),
        [EV_T_RECOVERY] = C(T_RECOVERY, ABORTED),
        [EV_T_TRANSFER] = C(T_TRANSFER, ABORTED),
    },
    [S(CLOSED)] = { [EVL(P_ABORT)] = C(IGNORE, TO(DONE, CLOSED)) },
};

/* An event from below in an empty cell: the protocol error closes. */
static const cell protocol_error = C(NONE, ABORTED);

static const cell *cur_cell(const x400i_rtse *r)
{
    const cell *c = &table[r->ev_state][r->ev];
    return !c->act && !IS_USER_EV(r->ev) && !IS_TIMER_EV(r->ev) ? &protocol_error : c;
}

/* The one place the state changes: the current event's cell maps the
 * action's outcome to the next state.  An outcome the cell does not
 * declare is a bug in the table: counted (the tests require 0), logged,
 * and the state is left as it is. */
void x400i_rt_enter(x400i_rtse *r, int outcome)
{
    const cell *c;
    if (r->ev < 0 || outcome < 0 || outcome >= O_COUNT || !(c = cur_cell(r))->next[outcome]) {
        r->undeclared++;
        x400i_log(r->has_log ? &r->log_copy : NULL, X400_LOG_ERROR, X400_LAYER_RTSE,
                  "RTSE state table: outcome %d of %s in state %s is not declared", outcome,
                  r->ev < 0 ? "no event" : ev_names[r->ev], st_names[r->ev_state]);
        return;
    }
    r->state = c->next[outcome] - 1;
}

/* ---- small helpers ---------------------------------------------------------- */
int x400i_rt_diag(x400i_rtse *r, x400_source src, int code, int reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    x400i_diag_vset(&r->diag, X400_LAYER_RTSE, src, code, reason, fmt, ap);
    va_end(ap);
    x400i_log(r->has_log ? &r->log_copy : NULL, X400_LOG_INFO, X400_LAYER_RTSE, "%s", r->diag.text);
    return code;
}

int x400i_rt_indicate(x400i_rtse *r, x400i_rtse_ind *ind)
{
    int rc = r->cb.indication(r->cb.user, ind);
    if (rc < 0) {
        r->cb_failed = 1;
        r->cb_rc = rc;
    }
    return rc;
}

void x400i_rt_ind_init(x400i_rtse_ind *ind, x400i_rtse_ind_type t)
{
    memset(ind, 0, sizeof *ind);
    ind->type = t;
    ind->reason = -1;
}

/* ---- configuration ---------------------------------------------------------- */
void x400_rtse_config_default(x400_rtse_config *c)
{
    if (!c) return;
    memset(c, 0, sizeof *c);
    c->checkpoint_size_kib = 30;
    c->window_size = 5;
    c->recovery_timeout_s = 60;
    c->two_way_alternate = 1;
    c->initial_turn_local = 1;
    c->x410_mode = 0;
    c->application_protocol = 12;
    c->transfer_timeout_s_per_kib[0] = 1000;
    c->transfer_timeout_s_per_kib[1] = 2000;
    c->transfer_timeout_s_per_kib[2] = 3000;
    c->transfer_context_id = 5;
    c->max_apdu_size = 64u << 20;
}

int x400_rtse_config_check(const x400_rtse_config *c)
{
    if (!c || c->checkpoint_size_kib > X400_RTSE_MAX_CHECKPOINT_KIB || c->window_size < 1 ||
        c->window_size > X400_RTSE_MAX_WINDOW || (c->application_protocol != 1 && c->application_protocol != 12) ||
        c->transfer_context_id < 1 || c->transfer_context_id > 127 || c->max_apdu_size == 0)
        return X400_ERR_INVALID_ARG;
    return X400_OK;
}

/* ---- state changes shared by several actions -------------------------------- */
void x400i_rt_rx_reset(x400i_rtse *r)
{
    x400i_buf keep = r->rx.buf;
    x400i_buf_reset(&keep);
    memset(&r->rx, 0, sizeof r->rx);
    r->rx.buf = keep;
}

/* The association is gone (released, aborted, not recoverable): tell the
 * user what happened to a transfer in progress and forget the record. */
static void enter_closed(x400i_rtse *r, int tx_result)
{
    r->end_deferred = 0;
    x400i_rtse_ind ind;
    x400i_rt_enter(r, O_ABORTED);
    r->rec_deadline = r->retry_at = NEVER;
    if (r->tx.active) {
        r->tx.active = 0;
        x400i_rt_ind_init(&ind, X400I_RTSE_TRANSFER_CONF);
        ind.result = tx_result;
        ind.transfer_id = r->tx.tid;
        ind.diag = &r->diag;
        x400i_rt_indicate(r, &ind);
    }
    if (r->rx.active) {
        int completed = r->rx.completed;
        x400i_rt_rx_reset(r);
        if (!completed) {
            x400i_rt_ind_init(&ind, X400I_RTSE_TRANSFER_ABANDON);
            x400i_rt_indicate(r, &ind);
        }
        x400i_rt_persist_erase(r);
    }
}

/* RTSE detected an error (by the peer, or a local failure): RTAB to the
 * peer, RT-P-ABORT to the user, closed.  Diag already set; returns code. */
int x400i_rt_abort(x400i_rtse *r, int abort_reason, unsigned reflect, int code)
{
    x400i_rtse_ind ind;
    x400_diag d = r->diag;
    int st = r->ev_state;
    int connected = st != X400I_RTSE_ST_RECOVERING && st != X400I_RTSE_ST_WAIT_RECOVERY &&
                    st != X400I_RTSE_ST_IDLE && st != X400I_RTSE_ST_CLOSED;
    if (st == X400I_RTSE_ST_RECOVERING && r->connecting) connected = 1;
    x400i_rt_enter(r, O_ABORTED);
    if (connected) (void)x400i_rt_send_rtab(r, abort_reason, reflect, NULL, 0);
    r->diag = d;
    enter_closed(r, code == X400_ERR_TIMEOUT ? X400_ERR_TIMEOUT : X400_ERR_ABORTED);
    x400i_rt_ind_init(&ind, X400I_RTSE_P_ABORT_IND);
    ind.reason = abort_reason;
    ind.diag = &r->diag;
    x400i_rt_indicate(r, &ind);
    return code;
}

int x400i_rt_peer_error(x400i_rtse *r, int abort_reason, unsigned reflect, int code, const char *fmt, ...)
{
    va_list ap;
    char text[X400_DIAG_TEXT_MAX - 64];
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    x400i_rt_diag(r, X400_SOURCE_PEER, code, abort_reason, "%s: RTAB %s sent", text,
         x400i_rtse_abort_reason_name(abort_reason));
    return x400i_rt_abort(r, abort_reason, reflect, code);
}

/* X.228 recovery applies when checkpointing is in use and the association
 * was established (not being released). */
static int recovery_possible(const x400i_rtse *r)
{
    int st = r->state;
    return r->cp_kib > 0 && (st == X400I_RTSE_ST_OPEN || st == X400I_RTSE_ST_SENDING ||
                             st == X400I_RTSE_ST_WAIT_END_CONF || st == X400I_RTSE_ST_RECEIVING ||
                             st == X400I_RTSE_ST_WAIT_DISCARD_CONF);
}

static void try_connect(x400i_rtse *r);

/* The connection is lost (provider abort or a failing lower service). */
static int connection_lost(x400i_rtse *r, const x400_diag *why)
{
    x400i_rtse_ind ind;
    if (why) r->diag = *why;
    else x400i_rt_diag(r, X400_SOURCE_PROVIDER, X400_ERR_ABORTED, 0, "connection lost");
    if (r->state == X400I_RTSE_ST_RECOVERING) { /* this attempt failed */
        r->connecting = 0;
        r->retry_at = min64(r->now + RETRY_MS, r->rec_deadline);
        return X400_OK;
    }
    r->end_deferred = 0; /* the activity end it answered went with the connection */
    if (recovery_possible(r)) {
        if (r->state == X400I_RTSE_ST_RECEIVING || r->state == X400I_RTSE_ST_OPEN) {
            /* drop what was not confirmed */
            x400i_buf_reset(&r->rx.buf);
            r->rx.cur = r->rx.secured;
        }
        r->lost_ref = r->cur_ref;
        r->have_lost_ref = 1;
        r->rec_deadline = r->now + (uint64_t)r->cfg.recovery_timeout_s * 1000u;
        x400i_rt_enter(r, r->initiator ? O_LOST_I : O_LOST_R);
        x400i_rt_ind_init(&ind, X400I_RTSE_RECOVERING_IND);
        ind.diag = &r->diag;
        x400i_rt_indicate(r, &ind);
        if (r->initiator && r->state == X400I_RTSE_ST_RECOVERING) try_connect(r);
        return X400_OK;
    }
    enter_closed(r, X400_ERR_ABORTED);
    x400i_rt_ind_init(&ind, X400I_RTSE_P_ABORT_IND);
    ind.diag = &r->diag;
    x400i_rt_indicate(r, &ind);
    return X400_OK;
}

int x400i_rt_lower_failed(x400i_rtse *r, const char *what, int rc)
{
    x400_diag d;
    x400i_diag_set(&d, X400_LAYER_RTSE, X400_SOURCE_PROVIDER, X400_ERR_ABORTED, rc,
                   "%s failed below RTSE (%d): connection lost", what, rc);
    if (r->state == X400I_RTSE_ST_CLOSED || r->state == X400I_RTSE_ST_WAIT_RECOVERY) return X400_OK;
    if (r->state == X400I_RTSE_ST_RECOVERING && !r->connecting) return X400_OK; /* already handled */
    connection_lost(r, &d);
    return X400_OK;
}

/* An RTORQ refused before the connection exists (RT-OPEN indication,
 * X.228 9.1): no RTAB can go on a connection that is not there, so the
 * refusal itself answers the peer's connect -- RTORJ in the AARE- of a CPR
 * (normal mode) or as the CPR of an RF (X.410-1984 mode) -- and the
 * connection closes cleanly; RT-P-ABORT to the user.  rj < 0: no
 * refuseReason.  Returns code. */
static int refuse_rtorq(x400i_rtse *r, int rj, int code, const char *fmt, ...) X400I_PRINTF(4, 5);
static int refuse_rtorq(x400i_rtse *r, int rj, int code, const char *fmt, ...)
{
    va_list ap;
    char text[X400_DIAG_TEXT_MAX - 64];
    x400i_rtse_ind ind;
    x400_diag d;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    x400i_rt_diag(r, X400_SOURCE_PEER, code, rj, "%s: RTORJ %s sent", text,
                  rj < 0 ? "without reason" : x400i_rt_refuse_reason_name(rj));
    d = r->diag;
    if (x400i_rt_build_rtorj(r, rj, NULL, 0) == 0) (void)r->lo.connect_rsp(r->lo.user, 0, r->out.p, r->out.len);
    r->diag = d;
    enter_closed(r, X400_ERR_ABORTED);
    x400i_rt_ind_init(&ind, X400I_RTSE_P_ABORT_IND);
    ind.diag = &r->diag;
    x400i_rt_indicate(r, &ind);
    return code;
}

/* Validate the RTORQ fields and negotiate (X.228: the smaller checkpoint
 * size and window size; 0 = no checkpointing).  0, or the RTORQ is
 * refused (RTORJ) and the error returned. */
static int negotiate_rtorq(x400i_rtse *r, const RTORQapdu_t *q)
{
    long cp = q->checkpointSize ? *q->checkpointSize : 0;
    long win = q->windowSize ? *q->windowSize : 3;
    long dm = q->dialogueMode ? *q->dialogueMode : 0;
    if (cp < 0)
        return refuse_rtorq(r, RJ_VALIDATION, X400_ERR_PROTOCOL, "RTORQ checkpointSize %ld is negative", cp);
    if (win < 1)
        return refuse_rtorq(r, RJ_VALIDATION, X400_ERR_PROTOCOL, "RTORQ windowSize %ld is below 1", win);
    if (dm != 0 && dm != 1)
        return refuse_rtorq(r, RJ_DIALOGUE_MODE, X400_ERR_PROTOCOL,
                            "RTORQ dialogueMode %ld is neither monologue(0) nor twa(1)", dm);
    if (q->applicationProtocol && *q->applicationProtocol != 1 && *q->applicationProtocol != 12)
        /* Lenient: P1 is the only protocol served here, and ISODE/PP sends
         * 1 in host byte order (256 on little-endian hosts) in X.410-1984
         * mode.  Logged, taken as P1. */
        x400i_log(r->has_log ? &r->log_copy : NULL, X400_LOG_NOTICE, X400_LAYER_RTSE,
                  "RTORQ applicationProtocol %ld is neither 1 nor 12: taken as P1, the only protocol served",
                  *q->applicationProtocol);
    r->cp_kib = (cp == 0 || r->cfg.checkpoint_size_kib == 0) ? 0
                : (uint32_t)min64((uint64_t)cp, r->cfg.checkpoint_size_kib);
    r->window = (uint32_t)min64((uint64_t)win, r->cfg.window_size);
    r->twa = (int)dm;
    return 0;
}

/* ---- actions ---------------------------------------------------------------- */
typedef int (*action_fn)(x400i_rtse *r, const evargs *a);

int x400i_rt_refuse(x400i_rtse *r, const char *why)
{
    x400i_rt_diag(r, X400_SOURCE_LOCAL, X400_ERR_STATE, 0, "%s not allowed in state %s: %s: request refused",
                  ev_names[r->ev], st_names[r->ev_state], why);
    return REFUSE;
}

static int act_open_req(x400i_rtse *r, const evargs *a)
{
    int rc;
    if (!r->initiator) return x400i_rt_refuse(r, "this RTSE is the association-responder");
    x400i_free(r->alloc, r->open_ud);
    r->open_ud = NULL;
    r->open_ud_len = 0;
    if (a->len) {
        if (!(r->open_ud = x400i_malloc(r->alloc, a->len)))
            return x400i_rt_diag(r, X400_SOURCE_LOCAL, X400_ERR_NOMEM, 0, "no memory"), REFUSE;
        memcpy(r->open_ud, a->ud, a->len);
        r->open_ud_len = a->len;
    }
    if (x400i_rt_build_rtorq(r, 0) < 0) return REFUSE;
    x400i_rt_enter(r, O_DONE);
    /* RT-OPEN request -> A-ASSOCIATE / P-CONNECT request, X.228 9.1 */
    rc = r->lo.connect_req(r->lo.user, r->cfg.two_way_alternate ? !!r->cfg.initial_turn_local : 1, r->out.p,
                           r->out.len);
    if (rc < 0) {
        x400i_rt_diag(r, X400_SOURCE_PROVIDER, X400_ERR_ABORTED, rc, "connect request failed below RTSE (%d)", rc);
        x400i_rt_enter(r, O_ABORTED);
        return X400_ERR_ABORTED;
    }
    return 0;
}

static int act_connect(x400i_rtse *r, const evargs *a)
{
    RTSE_apdus_t *ap = NULL;
    const x400i_rtse_lind *l = a->l;
    int rc;
    int x410 = l->mode == X400I_RTSE_MODE_CONFIGURED ? r->x410 : l->mode == X400I_RTSE_MODE_X410;
    if ((rc = x400i_rt_decode(r, l->apdu, l->apdu_len, &ap, "connect indication")) < 0) {
        char text[X400_DIAG_TEXT_MAX];
        snprintf(text, sizeof text, "%s", r->diag.text);
        return refuse_rtorq(r, -1, rc, "%s", text);
    }
    if (ap->present != RTSE_apdus_PR_rtorq_apdu) {
        x400i_rt_free_apdu(ap);
        return refuse_rtorq(r, -1, X400_ERR_PROTOCOL, "connect indication carries no RTORQ");
    }
    const RTORQapdu_t *q = &ap->choice.rtorq_apdu;
    if (q->connectionDataRQ.present == ConnectionData_PR_recover) {
        x400i_rtse_ref ref;
        int waiting = r->state == X400I_RTSE_ST_WAIT_RECOVERY || (r->state == X400I_RTSE_ST_IDLE && r->restored);
        if (x400i_rt_sci_to_ref(&q->connectionDataRQ.choice.recover, &ref) < 0 || !waiting || !r->have_lost_ref ||
            !x400i_rt_ref_eq(&ref, &r->lost_ref) || x410 != r->x410) {
            x400i_rt_free_apdu(ap);
            /* RTORJ cannotRecover: nothing of that connection is kept here */
            x400i_rt_diag(r, X400_SOURCE_PEER, X400_ERR_REFUSED, RJ_CANNOT_RECOVER,
                 "RTORQ recover for a connection this RTSE does not wait for: RTORJ cannotRecover sent");
            if (x400i_rt_build_rtorj(r, RJ_CANNOT_RECOVER, NULL, 0) == 0)
                (void)r->lo.connect_rsp(r->lo.user, 0, r->out.p, r->out.len);
            x400i_rt_enter(r, O_REFUSED); /* a fresh or restored responder closes; a waiting one waits on */
            return X400_ERR_REFUSED;
        }
        rc = negotiate_rtorq(r, q);
        x400i_rt_free_apdu(ap);
        if (rc < 0) return rc;
        if (l->ref) r->cur_ref = *l->ref;
        r->turn = l->turn;
        if (x400i_rt_build_rtoac(r, NULL, 0, &ref) < 0) return x400i_rt_abort(r, AR_LOCAL, 0, X400_ERR_INTERNAL);
        x400i_rt_enter(r, O_RECOVERED);
        r->rec_deadline = NEVER;
        r->restored = 0;
        rc = r->lo.connect_rsp(r->lo.user, 1, r->out.p, r->out.len);
        if (rc < 0) return x400i_rt_lower_failed(r, "connect response", rc);
        {
            x400i_rtse_ind ind;
            x400i_rt_ind_init(&ind, X400I_RTSE_RECOVERED_IND);
            x400i_rt_indicate(r, &ind);
        }
        if (r->tx.active) {
            if (!r->turn)
                return x400i_rt_peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL,
                                  "connection recovered without the turn for the interrupted transfer");
            return x400i_rt_resume_sending(r);
        }
        return 0;
    }
    if (r->state != X400I_RTSE_ST_IDLE || r->restored) {
        x400i_rt_free_apdu(ap);
        x400i_rt_diag(r, X400_SOURCE_PEER, X400_ERR_REFUSED, RJ_BUSY,
                      "RTORQ open while waiting for a recovery: RTORJ rtsBusy");
        if (x400i_rt_build_rtorj(r, RJ_BUSY, NULL, 0) == 0)
            (void)r->lo.connect_rsp(r->lo.user, 0, r->out.p, r->out.len);
        x400i_rt_enter(r, O_BUSY);
        return X400_ERR_REFUSED;
    }
    r->x410 = x410;     /* the mode this connection runs, whatever was configured */
    if (r->x410 && !q->applicationProtocol) {
        x400i_rt_free_apdu(ap);
        return refuse_rtorq(r, RJ_VALIDATION, X400_ERR_PROTOCOL,
                            "RTORQ in X.410-1984 mode without applicationProtocol");
    }
    x400i_rt_enter(r, O_DONE);
    if ((rc = negotiate_rtorq(r, q)) < 0) {
        x400i_rt_free_apdu(ap);
        return rc;
    }
    if (l->ref) r->cur_ref = *l->ref;
    r->turn = l->turn;
    {
        x400i_rtse_ind ind;
        x400i_rt_ind_init(&ind, X400I_RTSE_OPEN_IND);
        ind.user_data = q->connectionDataRQ.choice.open.buf;
        ind.user_data_len = (size_t)q->connectionDataRQ.choice.open.size;
        x400i_rt_indicate(r, &ind);
    }
    x400i_rt_free_apdu(ap);
    return 0;
}

static int act_open_rsp(x400i_rtse *r, const evargs *a)
{
    int rc;
    if (a->accept) {
        if (x400i_rt_build_rtoac(r, a->ud, a->len, NULL) < 0) return REFUSE;
        x400i_rt_enter(r, O_DONE);
        rc = r->lo.connect_rsp(r->lo.user, 1, r->out.p, r->out.len);
        if (rc < 0) return x400i_rt_lower_failed(r, "connect response", rc);
        return 0;
    }
    if (x400i_rt_build_rtorj(r, a->reason, a->ud, a->len) < 0) return REFUSE;
    x400i_rt_enter(r, O_ABORTED);
    (void)r->lo.connect_rsp(r->lo.user, 0, r->out.p, r->out.len);
    return 0;
}

/* The peer refused the recovery: RF, RTORJ (whatever its reason), or an
 * abort answering the RTORQ recover (ISODE in X.410-1984 mode).  A peer
 * that refused once refuses again, so there are no retries: X.228 leaves
 * the transfer to start again from the beginning, and that should happen
 * at once.  RT-P-ABORT first -- the association is over, the user takes
 * the interrupted APDU to a fresh association -- then the negative
 * RT-TRANSFER confirm.  r->diag says why (logged once). */
static int recovery_refused(x400i_rtse *r)
{
    x400i_rtse_ind ind;
    x400_diag d = r->diag;
    x400i_rt_enter(r, O_ABORTED);
    r->connecting = 0;
    r->rec_deadline = r->retry_at = NEVER;
    x400i_rt_ind_init(&ind, X400I_RTSE_P_ABORT_IND);
    ind.diag = &r->diag;
    x400i_rt_indicate(r, &ind);
    r->diag = d;
    enter_closed(r, X400_ERR_ABORTED);
    return 0;
}

static int act_recovery_refused(x400i_rtse *r, const evargs *a)
{
    RTSE_apdus_t *ap = NULL;
    asn_dec_rval_t rv;
    long reason = -1;
    const x400i_rtse_lind *l = a->l;
    if (l->apdu_len && l->apdu_len <= CTRL_MAX && x400i_ber_is_one_tlv(l->apdu, l->apdu_len)) {
        rv = ber_decode(NULL, &asn_DEF_RTSE_apdus, (void **)&ap, l->apdu, l->apdu_len);
        if (rv.code == RC_OK && ap->present == RTSE_apdus_PR_rtab_apdu && ap->choice.rtab_apdu.abortReason)
            reason = *ap->choice.rtab_apdu.abortReason;
        x400i_rt_free_apdu(ap);
    }
    x400i_rt_diag(r, X400_SOURCE_PEER, X400_ERR_REFUSED, (int)reason,
         "RTSE recovery refused by the peer (abort%s%s): the transfer starts again on a new association",
         reason >= 0 ? ", RTAB " : "",
         reason < 0 ? "" : x400i_rtse_abort_reason_name((int)reason) ? x400i_rtse_abort_reason_name((int)reason)
                                                                    : "with an unknown reason");
    return recovery_refused(r);
}

static int act_connect_conf(x400i_rtse *r, const evargs *a)
{
    RTSE_apdus_t *ap = NULL;
    const x400i_rtse_lind *l = a->l;
    x400i_rtse_ind ind;
    int rc, recovering = r->state == X400I_RTSE_ST_RECOVERING;
    r->connecting = 0;
    if (!l->accepted) {
        int reason = -1;
        const ANY_t *ud = NULL;
        if (l->apdu_len && x400i_rt_decode(r, l->apdu, l->apdu_len, &ap, "connect confirm") == 0 &&
            ap->present == RTSE_apdus_PR_rtorj_apdu) {
            if (ap->choice.rtorj_apdu.refuseReason) reason = (int)*ap->choice.rtorj_apdu.refuseReason;
            ud = ap->choice.rtorj_apdu.userDataRJ;
        }
        if (recovering) {
            x400i_rt_free_apdu(ap);
            x400i_rt_diag(r, X400_SOURCE_PEER, X400_ERR_REFUSED, reason,
                 "RTSE recovery refused by the peer (%s%s): the transfer starts again on a new association",
                 l->apdu_len ? "RTORJ " : "connection refused", !l->apdu_len ? ""
                 : reason < 0 ? "without reason" : x400i_rt_refuse_reason_name(reason));
            return recovery_refused(r);
        }
        x400i_rt_diag(r, X400_SOURCE_PEER, X400_ERR_REFUSED, reason, "RT-OPEN refused by the peer (RTORJ %s)",
             reason < 0 ? "without reason" : x400i_rt_refuse_reason_name(reason));
        enter_closed(r, X400_ERR_ABORTED);
        x400i_rt_ind_init(&ind, X400I_RTSE_OPEN_CONF);
        ind.reason = reason;
        ind.diag = &r->diag;
        if (ud) {
            ind.user_data = ud->buf;
            ind.user_data_len = (size_t)ud->size;
        }
        x400i_rt_indicate(r, &ind);
        x400i_rt_free_apdu(ap);
        return 0;
    }
    if ((rc = x400i_rt_decode(r, l->apdu, l->apdu_len, &ap, "connect confirm")) < 0)
        return x400i_rt_abort(r, AR_PROTOCOL, 0, rc);
    if (ap->present != RTSE_apdus_PR_rtoac_apdu) {
        x400i_rt_free_apdu(ap);
        return x400i_rt_peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL, "connect confirm carries no RTOAC");
    }
    {
        const RTOACapdu_t *c = &ap->choice.rtoac_apdu;
        long cp = c->checkpointSize ? *c->checkpointSize : 0;
        long win = c->windowSize ? *c->windowSize : 3;
        if (cp < 0 || (uint64_t)cp > r->cfg.checkpoint_size_kib) {
            x400i_rt_free_apdu(ap);
            return x400i_rt_peer_error(r, AR_INVALID_PARAM, RP_CHECKPOINT, X400_ERR_PROTOCOL,
                              "RTOAC checkpointSize %ld is not between 0 and the proposed %u", cp,
                              r->cfg.checkpoint_size_kib);
        }
        if (win < 1 || (cp && (uint64_t)win > r->cfg.window_size)) {
            x400i_rt_free_apdu(ap);
            return x400i_rt_peer_error(r, AR_INVALID_PARAM, RP_WINDOW, X400_ERR_PROTOCOL,
                              "RTOAC windowSize %ld is not between 1 and the proposed %u", win, r->cfg.window_size);
        }
        r->cp_kib = (uint32_t)cp;
        r->window = (uint32_t)min64((uint64_t)win, r->cfg.window_size);
        r->twa = r->cfg.two_way_alternate;
        if (l->ref) r->cur_ref = *l->ref;
        r->turn = l->turn;
        x400i_rt_enter(r, O_DONE);
        if (recovering) {
            x400i_rt_free_apdu(ap);
            r->rec_deadline = r->retry_at = NEVER;
            x400i_rt_ind_init(&ind, X400I_RTSE_RECOVERED_IND);
            x400i_rt_indicate(r, &ind);
            if (r->tx.active) {
                if (!r->turn)
                    return x400i_rt_peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL,
                                      "connection recovered without the turn for the interrupted transfer");
                return x400i_rt_resume_sending(r);
            }
            return 0;
        }
        x400i_rt_ind_init(&ind, X400I_RTSE_OPEN_CONF);
        ind.accepted = 1;
        if (c->connectionDataAC.present == ConnectionData_PR_open) {
            ind.user_data = c->connectionDataAC.choice.open.buf;
            ind.user_data_len = (size_t)c->connectionDataAC.choice.open.size;
        }
        x400i_rt_indicate(r, &ind);
    }
    x400i_rt_free_apdu(ap);
    return 0;
}

static int act_turn_please_req(x400i_rtse *r, const evargs *a)
{
    RTSE_apdus_t ap;
    int rc;
    if (!r->twa) return x400i_rt_refuse(r, "the dialogue mode is monologue");
    if (r->turn) return x400i_rt_refuse(r, "the turn is already held");
    if (a->priority < 0)
        return x400i_rt_diag(r, X400_SOURCE_LOCAL, X400_ERR_INVALID_ARG, 0, "negative priority"), REFUSE;
    memset(&ap, 0, sizeof ap);
    ap.present = RTSE_apdus_PR_rttp_apdu;
    ap.choice.rttp_apdu = a->priority;
    if (x400i_rt_encode(r, &ap) < 0) return REFUSE;
    /* RT-TURN-PLEASE -> P-TOKEN-PLEASE with RTTP, X.228 9.8 */
    rc = r->lo.token_please_req(r->lo.user, r->out.p, r->out.len);
    return rc < 0 ? x400i_rt_lower_failed(r, "P-TOKEN-PLEASE request", rc) : 0;
}

static int act_turn_give_req(x400i_rtse *r, const evargs *a)
{
    int rc;
    (void)a;
    if (!r->twa) return x400i_rt_refuse(r, "the dialogue mode is monologue");
    if (!r->turn) return x400i_rt_refuse(r, "the turn is not held");
    if (r->rx.active && !r->rx.completed)
        return x400i_rt_refuse(r, "an interrupted incoming transfer awaits resumption");
    r->turn = 0;
    /* RT-TURN-GIVE -> P-CONTROL-GIVE, X.228 9.9 */
    rc = r->lo.control_give_req(r->lo.user);
    return rc < 0 ? x400i_rt_lower_failed(r, "P-CONTROL-GIVE request", rc) : 0;
}

static int act_token_please(x400i_rtse *r, const evargs *a)
{
    RTSE_apdus_t *ap = NULL;
    x400i_rtse_ind ind;
    int rc;
    long prio;
    if (!r->twa) return x400i_rt_peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL, "RT-TURN-PLEASE in monologue");
    if (!r->turn)
        return x400i_rt_peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL,
                                   "RT-TURN-PLEASE to the side without the turn");
    if ((rc = x400i_rt_decode(r, a->l->apdu, a->l->apdu_len, &ap, "P-TOKEN-PLEASE")) < 0)
        return x400i_rt_abort(r, AR_PROTOCOL, 0, rc);
    if (ap->present != RTSE_apdus_PR_rttp_apdu) {
        x400i_rt_free_apdu(ap);
        return x400i_rt_peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL, "P-TOKEN-PLEASE carries no RTTP");
    }
    prio = ap->choice.rttp_apdu;
    x400i_rt_free_apdu(ap);
    if (prio < 0 || prio > 0x7fffffffL)
        return x400i_rt_peer_error(r, AR_INVALID_PARAM, 0, X400_ERR_PROTOCOL, "RTTP priority %ld out of range", prio);
    x400i_rt_ind_init(&ind, X400I_RTSE_TURN_PLEASE_IND);
    ind.priority = (int)prio;
    x400i_rt_indicate(r, &ind);
    return 0;
}

static int act_control_give(x400i_rtse *r, const evargs *a)
{
    x400i_rtse_ind ind;
    (void)a;
    if (!r->twa) return x400i_rt_peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL, "RT-TURN-GIVE in monologue");
    if (r->turn) return x400i_rt_peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL,
                                            "RT-TURN-GIVE to the holder of the turn");
    r->turn = 1;
    x400i_rt_ind_init(&ind, X400I_RTSE_TURN_GIVE_IND);
    x400i_rt_indicate(r, &ind);
    return 0;
}

static int act_close_req(x400i_rtse *r, const evargs *a)
{
    int rc;
    (void)a;
    if (!r->initiator) return x400i_rt_refuse(r, "only the association-initiator may close");
    if (!r->turn) return x400i_rt_refuse(r, "the turn is not held");
    if (r->rx.active && !r->rx.completed)
        return x400i_rt_refuse(r, "an interrupted incoming transfer awaits resumption");
    x400i_rt_enter(r, O_DONE);
    /* RT-CLOSE -> A-RELEASE / S-RELEASE, X.228 9.3 */
    rc = r->lo.release_req(r->lo.user);
    return rc < 0 ? x400i_rt_lower_failed(r, "release request", rc) : 0;
}

static int act_release(x400i_rtse *r, const evargs *a)
{
    x400i_rtse_ind ind;
    (void)a;
    if (r->initiator || r->turn)
        return x400i_rt_peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL, "release from %s",
                          r->initiator ? "the association-responder" : "the side without the turn");
    x400i_rt_enter(r, O_DONE);
    x400i_rt_ind_init(&ind, X400I_RTSE_CLOSE_IND);
    x400i_rt_indicate(r, &ind);
    return 0;
}

static int act_close_rsp(x400i_rtse *r, const evargs *a)
{
    int rc;
    (void)a;
    x400i_rt_enter(r, O_DONE);
    if (r->rx.active) {
        x400i_rt_rx_reset(r);
        x400i_rt_persist_erase(r);
    }
    rc = r->lo.release_rsp(r->lo.user);
    (void)rc; /* closed either way */
    return 0;
}

static int act_release_conf(x400i_rtse *r, const evargs *a)
{
    x400i_rtse_ind ind;
    (void)a;
    x400i_rt_enter(r, O_DONE);
    if (r->rx.active) {
        x400i_rt_rx_reset(r);
        x400i_rt_persist_erase(r);
    }
    x400i_rt_ind_init(&ind, X400I_RTSE_CLOSE_CONF);
    x400i_rt_indicate(r, &ind);
    return 0;
}

static int act_u_abort_req(x400i_rtse *r, const evargs *a)
{
    int st = r->ev_state;
    int connected = st != X400I_RTSE_ST_RECOVERING && st != X400I_RTSE_ST_WAIT_RECOVERY;
    if (st == X400I_RTSE_ST_RECOVERING && r->connecting) connected = 1;
    x400i_rt_diag(r, X400_SOURCE_LOCAL, X400_ERR_ABORTED, AR_USER, "RT-U-ABORT requested by the user");
    x400i_rt_enter(r, O_ABORTED);
    /* RT-U-ABORT -> A-ABORT / S-U-ABORT with RTAB, X.228 9.10 */
    if (connected) (void)x400i_rt_send_rtab(r, AR_USER, 0, a->ud, a->len);
    enter_closed(r, X400_ERR_ABORTED);
    return 0;
}

static int act_peer_abort(x400i_rtse *r, const evargs *a)
{
    RTSE_apdus_t *ap = NULL;
    x400i_rtse_ind ind;
    int reason = -1, user = 1;
    const ANY_t *ud = NULL;
    const x400i_rtse_lind *l = a->l;
    if (l->apdu_len) {
        if (x400i_rt_decode(r, l->apdu, l->apdu_len, &ap, "abort indication") < 0 ||
            ap->present != RTSE_apdus_PR_rtab_apdu) {
            char text[X400_DIAG_TEXT_MAX];
            snprintf(text, sizeof text, "%s", ap ? "abort indication carries no RTAB" : r->diag.text);
            x400i_rt_free_apdu(ap);
            x400i_rt_diag(r, X400_SOURCE_PEER, X400_ERR_PROTOCOL, -1, "%s", text);
            ap = NULL;
            user = 0;
        } else {
            const RTABapdu_t *b = &ap->choice.rtab_apdu;
            if (b->abortReason) reason = (int)*b->abortReason;
            ud = b->userdataAB;
            if (reason >= 0 && reason != AR_USER) user = 0;
            if (b->abortReason && !x400i_rtse_abort_reason_name(reason))
                x400i_rt_diag(r, X400_SOURCE_PEER, X400_ERR_ABORTED, reason, "RTAB with unknown abort reason %ld",
                     (long)*b->abortReason);
            else if (!user)
                x400i_rt_diag(r, X400_SOURCE_PEER, X400_ERR_ABORTED, reason, "aborted by the peer's RTSE: %s",
                     x400i_rtse_abort_reason_name(reason));
            else
                x400i_rt_diag(r, X400_SOURCE_PEER, X400_ERR_ABORTED, reason, "RT-U-ABORT by the peer");
        }
    } else {
        x400i_rt_diag(r, X400_SOURCE_PEER, X400_ERR_ABORTED, -1, "aborted by the peer without RTAB");
    }
    enter_closed(r, X400_ERR_ABORTED);
    x400i_rt_ind_init(&ind, user ? X400I_RTSE_U_ABORT_IND : X400I_RTSE_P_ABORT_IND);
    ind.reason = reason;
    ind.diag = &r->diag;
    if (ud) {
        ind.user_data = ud->buf;
        ind.user_data_len = (size_t)ud->size;
    }
    x400i_rt_indicate(r, &ind);
    x400i_rt_free_apdu(ap);
    return 0;
}

static int act_provider_abort(x400i_rtse *r, const evargs *a)
{
    return connection_lost(r, a->l ? a->l->diag : NULL);
}

static int act_ignore(x400i_rtse *r, const evargs *a)
{
    (void)r;
    (void)a;
    return 0;
}

static int act_t_recovery(x400i_rtse *r, const evargs *a)
{
    x400i_rtse_ind ind;
    (void)a;
    x400i_rt_diag(r, X400_SOURCE_PROVIDER, X400_ERR_TIMEOUT, 0,
         "connection not recovered within the recovery timeout (%u s): the transfer restarts from the beginning",
         r->cfg.recovery_timeout_s);
    enter_closed(r, X400_ERR_ABORTED);
    x400i_rt_ind_init(&ind, X400I_RTSE_P_ABORT_IND);
    ind.diag = &r->diag;
    x400i_rt_indicate(r, &ind);
    return 0;
}

static void try_connect(x400i_rtse *r)
{
    int rc;
    r->retry_at = NEVER;
    if (x400i_rt_build_rtorq(r, 1) < 0) return;
    r->connecting = 1;
    /* RT-OPEN with connectionDataRQ recover; the turn to whoever sends */
    rc = r->lo.connect_req(r->lo.user, r->turn, r->out.p, r->out.len);
    if (rc < 0 && r->state == X400I_RTSE_ST_RECOVERING) {
        r->connecting = 0;
        r->retry_at = min64(r->now + RETRY_MS, r->rec_deadline);
    }
}

static int act_t_retry(x400i_rtse *r, const evargs *a)
{
    (void)a;
    if (!r->connecting) try_connect(r);
    return 0;
}

static const action_fn actions[A_COUNT] = {
    [A_OPEN_REQ] = act_open_req, [A_OPEN_RSP] = act_open_rsp, [A_TRANSFER_REQ] = x400i_rt_act_transfer_req,
    [A_TURN_PLEASE_REQ] = act_turn_please_req, [A_TURN_GIVE_REQ] = act_turn_give_req,
    [A_CLOSE_REQ] = act_close_req, [A_CLOSE_RSP] = act_close_rsp, [A_U_ABORT_REQ] = act_u_abort_req,
    [A_TRANSFER_ACCEPT] = x400i_rt_act_transfer_accept,
    [A_CONNECT] = act_connect, [A_CONNECT_CONF] = act_connect_conf, [A_DATA] = x400i_rt_act_data,
    [A_MINOR] = x400i_rt_act_minor, [A_MINOR_CONF] = x400i_rt_act_minor_conf,
    [A_ACT_START] = x400i_rt_act_act_start, [A_ACT_RESUME] = x400i_rt_act_act_resume,
    [A_ACT_INTERRUPT] = x400i_rt_act_act_interrupt, [A_ACT_DISCARD] = x400i_rt_act_act_discard,
    [A_ACT_END] = x400i_rt_act_act_end, [A_ACT_END_CONF] = x400i_rt_act_act_end_conf,
    [A_TOKEN_PLEASE] = act_token_please, [A_CONTROL_GIVE] = act_control_give, [A_RELEASE] = act_release,
    [A_RELEASE_CONF] = act_release_conf, [A_PEER_ABORT] = act_peer_abort,
    [A_PROVIDER_ABORT] = act_provider_abort, [A_IGNORE] = act_ignore, [A_T_TRANSFER] = x400i_rt_act_t_transfer,
    [A_T_RECOVERY] = act_t_recovery, [A_T_RETRY] = act_t_retry, [A_T_RECORD] = x400i_rt_act_t_record,
    [A_RECOVERY_REFUSED] = act_recovery_refused, [A_U_EXCEPTION] = x400i_rt_act_u_exception,
    [A_ACT_DISCARD_CONF] = x400i_rt_act_act_discard_conf,
};

/* An empty cell: refuse a request, ignore a timer; an event from below is
 * the peer's protocol error. */
static int invalid(x400i_rtse *r, int ev)
{
    if (IS_TIMER_EV(ev)) return X400_OK;
    if (IS_USER_EV(ev)) {
        if (r->state == X400I_RTSE_ST_CLOSED)
            return x400i_rt_diag(r, X400_SOURCE_LOCAL, X400_ERR_STATE, 0,
                                 "%s not allowed: the RT-association no longer exists", ev_names[ev]);
        return x400i_rt_diag(r, X400_SOURCE_LOCAL, X400_ERR_STATE, 0, "%s not allowed in state %s: request refused",
                             ev_names[ev], st_names[r->state]);
    }
    if (r->state == X400I_RTSE_ST_CLOSED)
        return x400i_rt_diag(r, X400_SOURCE_PEER, X400_ERR_CLOSED, 0, "%s after the RT-association ended",
                             ev_names[ev]);
    return x400i_rt_peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL, "%s not allowed in state %s%s", ev_names[ev],
                               st_names[r->state],
                                       ev == EVL(DATA) ? " (RTTR out of turn or outside a transfer)" : "");
}

/* The action of a cell; the user's callback failing aborts. */
static int run(x400i_rtse *r, const cell *c, const evargs *a)
{
    int rc;
    r->cb_failed = 0;
    r->cb_rc = 0;
    rc = actions[c->act](r, a);
    if (rc == REFUSE) return r->diag.code < 0 ? r->diag.code : X400_ERR_STATE;
    if (r->cb_failed && r->state != X400I_RTSE_ST_CLOSED && r->cb_rc == X400_ERR_LIMIT) {
        /* the user refused the peer's data as too large (P1: MTS-APDU over
         * the link's limit): the peer's doing, and retrying will not help */
        x400i_rt_diag(r, X400_SOURCE_PEER, X400_ERR_LIMIT, AR_PERMANENT,
                      "the RTSE user refused the peer's APDU as too large: RTAB permanentProblem sent");
        x400i_rt_abort(r, AR_PERMANENT, 0, X400_ERR_LIMIT);
        return X400_ERR_LIMIT;
    }
    if (r->cb_failed && r->state != X400I_RTSE_ST_CLOSED) {
        x400i_rt_diag(r, X400_SOURCE_LOCAL, X400_ERR_CALLBACK_FAILURE, AR_LOCAL,
                      "an RTSE user callback failed: RTAB localSystemProblem sent");
        x400i_rt_abort(r, AR_LOCAL, 0, X400_ERR_CALLBACK_FAILURE);
        return X400_ERR_CALLBACK_FAILURE;
    }
    if (r->cb_failed) return X400_ERR_CALLBACK_FAILURE;
    return rc;
}

/* One event: its cell in the current state.  The event and the state it
 * arrived in are the context of x400i_rt_enter(); a request the user makes
 * from a callback is an event of its own, and the outer context comes back
 * after it. */
static int dispatch(x400i_rtse *r, int ev, const evargs *a)
{
    const cell *c = &table[r->state][ev];
    int outer_ev = r->ev, outer_st = r->ev_state, rc;
    r->ev = ev;
    r->ev_state = r->state;
    rc = c->act ? run(r, c, a) : invalid(r, ev);
    r->ev = outer_ev;
    r->ev_state = outer_st;
    return rc;
}

/* ---- public entry points ------------------------------------------------------- */
int x400i_rtse_new(x400i_rtse **out, int initiator, const x400_rtse_config *cfg, const x400i_rtse_lower *lower,
                   const x400i_rtse_callbacks *cb, const x400_allocator *a, const x400_logger *log)
{
    x400i_rtse *r;
    x400_rtse_config def;
    if (!out || !lower || !cb || !cb->indication) return X400_ERR_INVALID_ARG;
    *out = NULL;
    if (!cfg) {
        x400_rtse_config_default(&def);
        cfg = &def;
    }
    if (x400_rtse_config_check(cfg) < 0) return X400_ERR_INVALID_ARG;
    if (!lower->connect_req || !lower->connect_rsp || !lower->data_req || !lower->minor_sync_req ||
        !lower->minor_sync_rsp || !lower->activity_start_req || !lower->activity_resume_req ||
        !lower->activity_discard_rsp || !lower->activity_interrupt_rsp || !lower->activity_end_req ||
        !lower->activity_end_rsp || !lower->token_please_req || !lower->control_give_req || !lower->release_req ||
        !lower->release_rsp || !lower->u_abort_req)
        return X400_ERR_INVALID_ARG;
    a = x400i_alloc_or_default(a);
    if (!(r = x400i_calloc(a, 1, sizeof *r))) return X400_ERR_NOMEM;
    r->alloc = a;
    if (log) {
        r->log_copy = *log;
        r->has_log = 1;
    }
    r->initiator = !!initiator;
    r->cfg = *cfg;
    r->lo = *lower;
    r->cb = *cb;
    r->state = X400I_RTSE_ST_IDLE;
    r->ev = -1;
    r->rec_deadline = r->retry_at = NEVER;
    r->cp_kib = cfg->checkpoint_size_kib;
    r->window = cfg->window_size;
    r->x410 = !!cfg->x410_mode;
    x400i_buf_init(&r->out, a, 0);
    x400i_buf_init(&r->rx.buf, a, 0);
    *out = r;
    return X400_OK;
}

void x400i_rtse_free(x400i_rtse *r)
{
    if (!r) return;
    x400i_buf_free(&r->out);
    x400i_buf_free(&r->rx.buf);
    x400i_free(r->alloc, r->open_ud);
    x400i_free(r->alloc, r);
}

int x400i_rtse_lower_input(x400i_rtse *r, const x400i_rtse_lind *ind)
{
    evargs a;
    if (!r || !ind || (unsigned)ind->type >= X400I_RTSE_LIND_COUNT) return X400_ERR_INVALID_ARG;
    memset(&a, 0, sizeof a);
    a.l = ind;
    return dispatch(r, EV_L_FIRST + (int)ind->type, &a);
}

int x400i_rtse_open_req(x400i_rtse *r, const uint8_t *ud, size_t len)
{
    evargs a;
    if (!r || (len && !ud) || len > CTRL_MAX / 2) return X400_ERR_INVALID_ARG;
    memset(&a, 0, sizeof a);
    a.ud = ud;
    a.len = len;
    return dispatch(r, EV_OPEN_REQ, &a);
}

int x400i_rtse_open_rsp(x400i_rtse *r, int accept, int reason, const uint8_t *ud, size_t len)
{
    evargs a;
    if (!r || (len && !ud) || len > CTRL_MAX / 2) return X400_ERR_INVALID_ARG;
    memset(&a, 0, sizeof a);
    a.accept = accept;
    a.reason = reason;
    a.ud = ud;
    a.len = len;
    return dispatch(r, EV_OPEN_RSP, &a);
}

int x400i_rtse_transfer_req(x400i_rtse *r, const uint8_t *apdu, size_t len, x400_rtse_priority prio,
                            uint64_t tid)
{
    evargs a;
    if (!r || (len && !apdu) || (unsigned)prio > 2) return X400_ERR_INVALID_ARG;
    memset(&a, 0, sizeof a);
    a.ud = apdu;
    a.len = len;
    a.prio = prio;
    a.tid = tid;
    return dispatch(r, EV_TRANSFER_REQ, &a);
}

int x400i_rtse_turn_please_req(x400i_rtse *r, int priority)
{
    evargs a;
    if (!r) return X400_ERR_INVALID_ARG;
    memset(&a, 0, sizeof a);
    a.priority = priority;
    return dispatch(r, EV_TURN_PLEASE_REQ, &a);
}

int x400i_rtse_turn_give_req(x400i_rtse *r)
{
    evargs a;
    if (!r) return X400_ERR_INVALID_ARG;
    memset(&a, 0, sizeof a);
    return dispatch(r, EV_TURN_GIVE_REQ, &a);
}

int x400i_rtse_close_req(x400i_rtse *r)
{
    evargs a;
    if (!r) return X400_ERR_INVALID_ARG;
    memset(&a, 0, sizeof a);
    return dispatch(r, EV_CLOSE_REQ, &a);
}

int x400i_rtse_close_rsp(x400i_rtse *r)
{
    evargs a;
    if (!r) return X400_ERR_INVALID_ARG;
    memset(&a, 0, sizeof a);
    return dispatch(r, EV_CLOSE_RSP, &a);
}

int x400i_rtse_u_abort_req(x400i_rtse *r, const uint8_t *ud, size_t len)
{
    evargs a;
    if (!r || (len && !ud) || len > CTRL_MAX / 2) return X400_ERR_INVALID_ARG;
    memset(&a, 0, sizeof a);
    a.ud = ud;
    a.len = len;
    return dispatch(r, EV_U_ABORT_REQ, &a);
}

uint64_t x400i_rtse_next_timeout(const x400i_rtse *r)
{
    uint64_t t = NEVER;
    if (!r || r->state == X400I_RTSE_ST_CLOSED) return NEVER;
    if (r->tx.active) t = min64(t, r->tx.deadline);
    t = min64(t, r->rec_deadline);
    if (r->state == X400I_RTSE_ST_RECOVERING) t = min64(t, r->retry_at);
    if (r->rx.active && r->rx.completed && r->state == X400I_RTSE_ST_OPEN) t = min64(t, r->rx.expires);
    return t;
}

int x400i_rtse_tick(x400i_rtse *r, uint64_t now)
{
    evargs a;
    int guard = 0;
    if (!r) return X400_ERR_INVALID_ARG;
    if (now > r->now) r->now = now;
    memset(&a, 0, sizeof a);
    while (guard++ < 8 && r->state != X400I_RTSE_ST_CLOSED) {
        int ev;
        if (r->tx.active && r->now >= r->tx.deadline) ev = EV_T_TRANSFER;
        else if (r->now >= r->rec_deadline) ev = EV_T_RECOVERY;
        else if (r->state == X400I_RTSE_ST_RECOVERING && r->now >= r->retry_at) ev = EV_T_RETRY;
        else if (r->rx.active && r->rx.completed && r->state == X400I_RTSE_ST_OPEN && r->now >= r->rx.expires)
            ev = EV_T_RECORD;
        else break;
        if (!table[r->state][ev].act) {
            /* not applicable in this state: disarm */
            if (ev == EV_T_TRANSFER) r->tx.deadline = NEVER;
            else if (ev == EV_T_RECOVERY) r->rec_deadline = NEVER;
            else if (ev == EV_T_RETRY) r->retry_at = NEVER;
            else r->rx.expires = NEVER;
            continue;
        }
        int rc = dispatch(r, ev, &a);
        if (ev == EV_T_RETRY && r->state == X400I_RTSE_ST_RECOVERING && r->retry_at <= r->now && !r->connecting)
            r->retry_at = min64(r->now + RETRY_MS, r->rec_deadline);
        if (rc <= X400_ERR_FATAL) return rc;
    }
    return X400_OK;
}

/* ---- introspection ----------------------------------------------------------- */
int x400i_rtse_state(const x400i_rtse *r) { return r ? r->state : -1; }
const char *x400i_rtse_state_name(int st)
{
    return st >= 0 && st < X400I_RTSE_ST_COUNT ? st_names[st] : "?";
}
const char *x400i_rtse_event_name(int ev) { return ev >= 0 && ev < EV_COUNT ? ev_names[ev] : "?"; }
int x400i_rtse_event_count(void) { return EV_COUNT; }
int x400i_rtse_table_entry(int st, int ev, int *next)
{
    if (st < 0 || st >= X400I_RTSE_ST_COUNT || ev < 0 || ev >= EV_COUNT || !table[st][ev].act) return 0;
    if (next) *next = table[st][ev].next[O_DONE] - 1;
    return 1;
}
int x400i_rtse_table_next(int st, int ev, int outcome)
{
    if (!x400i_rtse_table_entry(st, ev, NULL) || outcome < 0 || outcome >= O_COUNT) return -1;
    return table[st][ev].next[outcome] - 1;
}
int x400i_rtse_outcome_count(void) { return O_COUNT; }
unsigned x400i_rtse_undeclared(const x400i_rtse *r) { return r ? r->undeclared : 0; }
int x400i_rtse_has_turn(const x400i_rtse *r) { return r ? r->turn : 0; }
uint32_t x400i_rtse_checkpoint_kib(const x400i_rtse *r) { return r ? r->cp_kib : 0; }
uint32_t x400i_rtse_window(const x400i_rtse *r) { return r ? r->window : 0; }
int x400i_rtse_twa(const x400i_rtse *r) { return r ? r->twa : 0; }
int x400i_rtse_x410(const x400i_rtse *r) { return r ? r->x410 : 0; }
const x400_diag *x400i_rtse_diag(const x400i_rtse *r) { return r ? &r->diag : NULL; }
uint64_t x400i_rtse_bytes_sent(const x400i_rtse *r) { return r ? r->bytes_sent : 0; }
int x400i_rtse_transfer_accept(x400i_rtse *r)
{
    evargs a;
    int rc;
    if (!r) return X400_ERR_INVALID_ARG;
    if (r->rx.active && r->rx.user_holds) {
        r->rx.user_holds = 0;
        if (r->cp_kib && r->rx.completed) x400i_rt_persist(r); /* now a completed record */
    }
    if (!r->end_deferred) return X400_OK;
    r->end_deferred = 0;
    if (r->state != X400I_RTSE_ST_OPEN) return X400_OK;
    /* P-ACTIVITY-END response: the RT-TRANSFER is confirmed to the sender */
    memset(&a, 0, sizeof a);
    rc = dispatch(r, EV_TRANSFER_ACCEPT, &a);
    return rc < 0 ? rc : X400_OK;
}

int x400i_rtse_timer_fire(x400i_rtse *r, int ev)
{
    evargs a;
    if (!r || !IS_TIMER_EV(ev) || ev >= EV_COUNT) return X400_ERR_INVALID_ARG;
    memset(&a, 0, sizeof a);
    return dispatch(r, ev, &a);
}

int x400i_rtse_transfer_deferred(const x400i_rtse *r)
{
    return r ? r->end_deferred || (r->rx.active && r->rx.user_holds) : 0;
}

const x400i_rtse_ref *x400i_rtse_waiting_ref(const x400i_rtse *r)
{
    if (!r || !r->have_lost_ref) return NULL;
    if (r->state == X400I_RTSE_ST_WAIT_RECOVERY || (r->state == X400I_RTSE_ST_IDLE && r->restored))
        return &r->lost_ref;
    return NULL;
}
