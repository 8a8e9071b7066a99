/*
 * P1 link: the MTA bind on RT-OPEN and MTS-APDU transfer over RTSE, on an
 * association (X.411 12, X.419 9).  Sits on the RTSE lower adapter
 * (lib/rtse_assoc.c); one small handler per RTSE indication.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "rtse_assoc.h"
#include "session.h"
#include "transport.h"
#include "x400p1/p1link.h"

/* RTORJ refuseReason (X.228): the bind was refused by the P1 user. */
#define RTORJ_VALIDATION_FAILURE 2
#define BIND_BUF 512

enum { QUEUE_FIRST = 4 }; /* the outgoing ring's first capacity */

struct qent {
    uint8_t *buf;
    size_t len;
    uint64_t tag;
    x400_rtse_priority prio;
};

struct x400_p1_link {
    x400_p1_link_config cfg;
    x400_p1_link_callbacks cb;
    const x400_allocator *alloc;
    x400i_rtse_assoc *ra;
    x400_diag diag;
    int opened;          /* initiator: RT-OPEN requested */
    int bound;
    int closed;
    int close_wanted;
    int sending;         /* the queue head is in an RT-TRANSFER */
    int turn_asked;      /* RT-TURN-PLEASE sent, waiting for the turn */
    int peer_wants_turn; /* RT-TURN-PLEASE received */
    int confirm_pending; /* the user deferred the last RT-TRANSFER's confirmation */
    struct qent *q;      /* ring of qcap entries, grown up to cfg.queue_max */
    size_t qcap, qhead, qcount;
    x400i_buf rx;        /* the APDU being received */
    x400_p1_apdu *rx_apdu;/* RECEIVED/DUPLICATE: the decoded APDU, during the
                            callback only (x400_p1_link_take_apdu) */
    /* the peer's bind value and the initial turn (x400_p1_link_get_info) */
    char peer_name[X400_MTA_NAME_MAX + 1];
    int peer_auth;
    x400_p1_cred peer_cred;
    int initiator_turn;
    int restored;        /* responder: x400_p1_link_restore loaded a record */
    int conn_wanted;     /* cfg.assoc_own: RTSE needs a new association */
    uint64_t now_ms;     /* the last time passed to x400_p1_link_tick */
};

static x400i_rtse *rt(x400_p1_link *l) { return x400i_rtse_assoc_rtse(l->ra); }

static int emit(x400_p1_link *l, x400_p1_link_event *ev)
{
    if (!l->cb.event) return 0;
    return l->cb.event(l->cb.user, l, ev) < 0 ? X400_ERR_CALLBACK_FAILURE : 0;
}

void x400_p1_link_config_init(x400_p1_link_config *cfg, x400_role role)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->role = role;
    cfg->mode = X400_MODE_NORMAL;
    x400_rtse_config_default(&cfg->rtse);
    x400_p1_limits_init(&cfg->limits);
    cfg->queue_max = 64;
    cfg->ext_form = -1;
    cfg->log.max_level = X400_LOG_INFO;
    x400_assoc_config_init(&cfg->assoc, role);
}

/* ---- the outgoing queue ---- */

static struct qent *qhead(x400_p1_link *l) { return &l->q[l->qhead]; }

static void qpop(x400_p1_link *l)
{
    struct qent *e = qhead(l);
    x400i_free(l->alloc, e->buf);
    memset(e, 0, sizeof *e);
    l->qhead = (l->qhead + 1) % l->qcap;
    l->qcount--;
}

/* The link has ended: every queued APDU goes back to the caller, so
 * nothing queued is ever lost silently. */
static void fail_queue(x400_p1_link *l, const x400_diag *why)
{
    while (l->qcount) {
        x400_p1_link_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = X400_P1_LINK_EV_SEND_FAILED;
        ev.tag = qhead(l)->tag;
        ev.diag = why;
        qpop(l);
        (void)emit(l, &ev);
    }
    l->sending = 0;
}

static void end_link(x400_p1_link *l, x400_p1_link_event_type type, const x400_diag *why)
{
    x400_p1_link_event ev;
    if (l->closed) return;
    l->closed = 1;
    l->bound = 0;
    l->confirm_pending = 0;
    if (why && why != &l->diag) l->diag = *why;
    fail_queue(l, why ? &l->diag : NULL);
    memset(&ev, 0, sizeof ev);
    ev.type = type;
    ev.diag = why ? &l->diag : NULL;
    (void)emit(l, &ev);
}

/* Start the next transfer, ask for or give the turn, or close: whatever
 * the queue and the turn allow now. */
static int pump(x400_p1_link *l)
{
    int rv = 0;
    if (!l->bound || l->closed || l->sending) return 0;
    if (l->confirm_pending && x400i_rtse_transfer_deferred(rt(l))) return 0;
    /* recovering a lost connection: the queue waits for RECOVERED */
    if (x400i_rtse_state(rt(l)) == X400I_RTSE_ST_RECOVERING ||
        x400i_rtse_state(rt(l)) == X400I_RTSE_ST_WAIT_RECOVERY)
        return 0;
    if (l->qcount) {
        struct qent *e = qhead(l);
        if (x400i_rtse_has_turn(rt(l))) {
            rv = x400i_rtse_transfer_req(rt(l), e->buf, e->len, e->prio, e->tag);
            if (rv >= 0) {
                l->sending = 1;
                l->turn_asked = 0;
            }
        } else if (!l->turn_asked) {
            rv = x400i_rtse_turn_please_req(rt(l), (int)e->prio);
            if (rv >= 0) l->turn_asked = 1;
        }
        return rv;
    }
    if (l->peer_wants_turn && x400i_rtse_has_turn(rt(l))) {
        l->peer_wants_turn = 0;
        return x400i_rtse_turn_give_req(rt(l));
    }
    if (l->close_wanted) {
        /* RT-CLOSE needs the turn (X.228): ask for it back first */
        if (!x400i_rtse_has_turn(rt(l))) {
            if (l->turn_asked) return 0;
            rv = x400i_rtse_turn_please_req(rt(l), X400_RTSE_PRIO_NORMAL);
            if (rv >= 0) l->turn_asked = 1;
            return rv;
        }
        l->close_wanted = 0;
        l->turn_asked = 0;
        return x400i_rtse_close_req(rt(l));
    }
    return 0;
}

/* ---- the bind (X.411 12.1.1, carried by RT-OPEN) ---- */

/* The mode the association runs: the configured one on the initiator, the
 * connection's on the responder (a 1984 caller binds with MTABindArgument
 * directly in RTORQ open, a 1988 one with a ROS bind-invoke). */
static x400_mode run_mode(x400_p1_link *l)
{
    return x400i_rtse_x410(rt(l)) ? X400_MODE_X410 : X400_MODE_NORMAL;
}

static const char *cred_name(int auth, x400_p1_cred c)
{
    if (!auth) return "unauthenticated";
    switch (c) {
    case X400_CRED_SIMPLE_IA5: return "simple password (IA5String)";
    case X400_CRED_SIMPLE_OCTETS: return "simple password (OCTET STRING)";
    case X400_CRED_STRONG: return "strong";
    default: return "protected password";
    }
}

/* Bound: remember the peer's bind value and the initial turn; log what was
 * agreed, once per association. */
static void note_bound(x400_p1_link *l, const x400_p1_bind *b)
{
    x400_p1_link_info in;
    int initiator = l->cfg.role == X400_ROLE_INITIATOR;
    snprintf(l->peer_name, sizeof l->peer_name, "%s", b->authenticated ? b->name : "");
    l->peer_auth = b->authenticated;
    l->peer_cred = b->cred;
    l->initiator_turn = x400i_rtse_has_turn(rt(l)) ? initiator : !initiator;
    l->bound = 1;
    (void)x400_p1_link_get_info(l, &in);
    x400i_log(&l->cfg.log, X400_LOG_INFO, X400_LAYER_P1,
              "bound with \"%s\" (%s): %s, session version %d, TPDU %u, checkpoint %u KiB, "
              "window %u, %s, initial turn %s",
              in.peer_name, cred_name(in.peer_authenticated, in.peer_cred),
              in.mode == X400_MODE_X410 ? "X.410-1984 mode" : "normal mode (1988)",
              in.session_version, (unsigned)in.tpdu_size, (unsigned)in.checkpoint_kib,
              (unsigned)in.window, in.two_way_alternate ? "two-way alternate" : "monologue",
              in.initiator_turn ? "initiator" : "responder");
}

/* The MTABindArgument/-Result with `name` and `password` (own_name and
 * own_password, or what result_cred chose), or the MTABindError. */
static int encode_bind_as(x400_p1_link *l, x400_p1_bind_pdu pdu, int error, const char *name,
                          const uint8_t *password, size_t password_len, uint8_t *buf, size_t *len)
{
    x400_p1_bind b;
    memset(&b, 0, sizeof b);
    b.pdu = pdu;
    b.error = error;
    if (pdu != X400_P1_BIND_ERROR && name[0]) {
        b.authenticated = 1;
        snprintf(b.name, sizeof b.name, "%s", name);
        b.cred = X400_CRED_SIMPLE_IA5;
        memcpy(b.password, password, password_len);
        b.password_len = password_len;
    }
    return x400_p1_bind_encode(&b, run_mode(l), buf, BIND_BUF, len, &l->diag);
}

static int encode_bind(x400_p1_link *l, x400_p1_bind_pdu pdu, int error, uint8_t *buf,
                       size_t *len)
{
    return encode_bind_as(l, pdu, error, l->cfg.own_name, l->cfg.own_password,
                          l->cfg.own_password_len, buf, len);
}

/* Responder: the credentials of the MTABindResult for this initiator
 * (cfg.result_cred; without it own_name/own_password).  0, or < 0 with d
 * set: the bind is refused. */
static int result_cred(x400_p1_link *l, const x400_p1_bind *arg, char name[X400_MTA_NAME_MAX + 1],
                       uint8_t password[X400_PASSWORD_MAX], size_t *password_len, x400_diag *d)
{
    memcpy(name, l->cfg.own_name, X400_MTA_NAME_MAX + 1);
    memcpy(password, l->cfg.own_password, l->cfg.own_password_len);
    *password_len = l->cfg.own_password_len;
    if (!l->cfg.result_cred) return 0;
    if (l->cfg.result_cred(l->cfg.result_cred_user, arg, name, password, password_len) < 0 ||
        *password_len > X400_PASSWORD_MAX || !memchr(name, 0, X400_MTA_NAME_MAX + 1))
        return x400i_diag_set(d, X400_LAYER_P1, X400_SOURCE_LOCAL, X400_ERR_REFUSED,
                              X400_P1_R_CREDENTIALS,
                              "MTA bind from \"%s\" refused: no bind result credentials for it",
                              arg->name);
    return 0;
}

/* RT-OPEN indication: check the MTABindArgument, answer with the result or
 * the bind error. */
static int on_open_ind(x400_p1_link *l, const x400i_rtse_ind *ind)
{
    x400_p1_bind arg;
    x400_p1_link_event ev;
    uint8_t buf[BIND_BUF];
    size_t len;
    int err = X400_BIND_ERR_AUTHENTICATION, rv;
    x400_diag d;
    char rname[X400_MTA_NAME_MAX + 1];
    uint8_t rpw[X400_PASSWORD_MAX];
    size_t rpw_len = 0;
    x400i_diag_clear(&d);
    rv = x400_p1_bind_decode(ind->user_data, ind->user_data_len, run_mode(l),
                             X400_P1_BIND_ARGUMENT, &arg, &d);
    if (rv >= 0) {
        if (l->cfg.check)
            rv = l->cfg.check(l->cfg.check_user, &arg, &err, &d);
        else
            rv = x400i_diag_set(&d, X400_LAYER_P1, X400_SOURCE_LOCAL, X400_ERR_REFUSED,
                                X400_P1_R_CREDENTIALS,
                                "MTA bind from \"%s\" refused: no credential checker configured",
                                arg.name);
    }
    if (rv >= 0) {   /* MTABindResult responder-credentials for this initiator, X.411 12.1.1.1.2 */
        err = X400_BIND_ERR_AUTHENTICATION;
        rv = result_cred(l, &arg, rname, rpw, &rpw_len, &d);
    }
    if (rv < 0) {
        x400i_log(&l->cfg.log, X400_LOG_WARNING, X400_LAYER_P1, "MTA bind refused: %s", d.text);
        if (encode_bind(l, X400_P1_BIND_ERROR, err, buf, &len) < 0) len = 0;
        (void)x400i_rtse_open_rsp(rt(l), 0, RTORJ_VALIDATION_FAILURE, buf, len);
        l->diag = d;
        memset(&ev, 0, sizeof ev);
        ev.type = X400_P1_LINK_EV_BIND_REFUSED;
        ev.bind_error = err;
        ev.diag = &l->diag;
        l->closed = 1;
        fail_queue(l, &l->diag);
        return emit(l, &ev);
    }
    rv = encode_bind_as(l, X400_P1_BIND_RESULT, 0, rname, rpw, rpw_len, buf, &len);
    if (rv < 0) return rv;
    if ((rv = x400i_rtse_open_rsp(rt(l), 1, -1, buf, len)) < 0) return rv;
    x400i_log(&l->cfg.log, X400_LOG_INFO, X400_LAYER_P1, "MTA bind from \"%s\" accepted",
              arg.name);
    note_bound(l, &arg);
    memset(&ev, 0, sizeof ev);
    ev.type = X400_P1_LINK_EV_BOUND;
    ev.peer_name = arg.name;
    if ((rv = emit(l, &ev)) < 0) return rv;
    return pump(l);
}

/* Initiator: the responder's credentials against the configured password
 * (cfg.peer_password_set); not configured: accepted, and said so. */
static int check_responder(x400_p1_link *l, const x400_p1_bind *b)
{
    if (!l->cfg.peer_password_set) {
        x400i_log(&l->cfg.log, X400_LOG_NOTICE, X400_LAYER_P1,
                  "responder \"%s\" accepted without checking its credentials "
                  "(no expected password configured)", b->authenticated ? b->name : "");
        return 0;
    }
    if (!b->authenticated || (b->cred != X400_CRED_SIMPLE_IA5 && b->cred != X400_CRED_SIMPLE_OCTETS) ||
        !x400_p1_secret_equal(b->password, b->password_len, l->cfg.peer_password,
                              l->cfg.peer_password_len)) {
        x400i_diag_set(&l->diag, X400_LAYER_P1, X400_SOURCE_LOCAL, X400_ERR_REFUSED,
                       X400_P1_R_CREDENTIALS,
                       "MTA bind result from \"%s\" refused by us: %s", b->authenticated ? b->name : "",
                       !b->authenticated ? "no credentials"
                       : (b->cred != X400_CRED_SIMPLE_IA5 && b->cred != X400_CRED_SIMPLE_OCTETS)
                           ? "not a simple password"
                           : "wrong password");
        x400i_log(&l->cfg.log, X400_LOG_WARNING, X400_LAYER_P1, "%s", l->diag.text);
        return -1;
    }
    return 0;
}

/* RT-OPEN confirm: MTABindResult, or RTORJ with the MTABindError. */
static int on_open_conf(x400_p1_link *l, const x400i_rtse_ind *ind)
{
    x400_p1_bind b;
    x400_p1_link_event ev;
    x400_diag d;
    int rv;
    memset(&ev, 0, sizeof ev);
    memset(&b, 0, sizeof b);
    x400i_diag_clear(&d);
    if (ind->accepted) {
        if (ind->user_data_len &&
            (rv = x400_p1_bind_decode(ind->user_data, ind->user_data_len, l->cfg.mode,
                                      X400_P1_BIND_RESULT, &b, &d)) < 0) {
            l->diag = d;
            (void)x400i_rtse_u_abort_req(rt(l), NULL, 0);
            end_link(l, X400_P1_LINK_EV_ABORTED, &d);
            return 0;
        }
        if (check_responder(l, &b) < 0) {
            /* refused by us: the association ends (RT-U-ABORT) */
            (void)x400i_rtse_u_abort_req(rt(l), NULL, 0);
            l->closed = 1;
            fail_queue(l, &l->diag);
            ev.type = X400_P1_LINK_EV_BIND_REFUSED;
            ev.bind_error = -1;
            ev.diag = &l->diag;
            return emit(l, &ev);
        }
        note_bound(l, &b);
        ev.type = X400_P1_LINK_EV_BOUND;
        ev.peer_name = b.name;
        if ((rv = emit(l, &ev)) < 0) return rv;
        return pump(l);
    }
    ev.bind_error = -1;
    if (ind->user_data_len &&
        x400_p1_bind_decode(ind->user_data, ind->user_data_len, l->cfg.mode,
                            X400_P1_BIND_ERROR, &b, &d) >= 0)
        ev.bind_error = b.error;
    x400i_diag_set(&l->diag, X400_LAYER_P1, X400_SOURCE_PEER, X400_ERR_REFUSED, ev.bind_error,
                   "MTA bind refused by peer: %s (RTORJ reason %d)",
                   ev.bind_error == X400_BIND_ERR_AUTHENTICATION ? "authentication-error"
                   : ev.bind_error == X400_BIND_ERR_BUSY ? "busy"
                   : ev.bind_error == X400_BIND_ERR_DIALOGUE_MODE ? "unacceptable-dialogue-mode"
                   : ev.bind_error == X400_BIND_ERR_SECURITY_CONTEXT ? "unacceptable-security-context"
                   : ev.bind_error < 0 ? "no bind error given" : "other bind error",
                   ind->reason);
    l->closed = 1;
    fail_queue(l, &l->diag);
    ev.type = X400_P1_LINK_EV_BIND_REFUSED;
    ev.diag = &l->diag;
    return emit(l, &ev);
}

/* ---- transfers ---- */

static int on_transfer_data(x400_p1_link *l, const x400i_rtse_ind *ind)
{
    if (ind->offset < l->rx.len) l->rx.len = (size_t)ind->offset;  /* resumed */
    if (ind->offset != l->rx.len)
        return x400i_diag_set(&l->diag, X400_LAYER_P1, X400_SOURCE_PROVIDER, X400_ERR_INTERNAL, 0,
                              "RT-TRANSFER data at offset %llu, %zu octets held",
                              (unsigned long long)ind->offset, l->rx.len);
    if (x400i_buf_append(&l->rx, ind->data, ind->data_len) < 0)
        return x400i_diag_set(&l->diag, X400_LAYER_P1, X400_SOURCE_PEER, X400_ERR_LIMIT,
                              X400_P1_R_PDU_SIZE, "MTS-APDU larger than %zu octets",
                              l->cfg.limits.max_pdu);
    return 0;
}

/* The user's answer to a received APDU: confirm now, or later (DEFER). */
static int transfer_done(x400_p1_link *l, int rv)
{
    x400i_buf_reset(&l->rx);
    if (rv == X400_P1_LINK_DEFER) {
        l->confirm_pending = 1;
        return X400I_RTSE_DEFER;
    }
    return rv < 0 ? X400_ERR_CALLBACK_FAILURE : 0;
}

/* RT-TRANSFER indication: one complete MTS-APDU. */
static int on_transfer_ind(x400_p1_link *l)
{
    x400_p1_apdu apdu;
    x400_p1_link_event ev;
    const x400_mtsid *id;
    char idtext[X400_MTSID_TEXT_MAX];
    int rv;
    x400_diag d;
    x400i_diag_clear(&d);
    rv = x400_p1_decode(l->rx.p, l->rx.len, &l->cfg.limits, l->alloc, &apdu, &d);
    if (rv < 0 && d.source != X400_SOURCE_PEER) {
        /* out of memory: nothing wrong with the APDU; RTSE aborts and the
         * peer transfers it again later */
        x400i_buf_reset(&l->rx);
        x400i_log(&l->cfg.log, X400_LOG_ERROR, X400_LAYER_P1, "received APDU not decoded: %s", d.text);
        end_link(l, X400_P1_LINK_EV_ABORTED, &d);
        return rv;
    }
    memset(&ev, 0, sizeof ev);
    ev.raw = l->rx.p;
    ev.raw_len = l->rx.len;
    if (rv < 0) {
        /* Received completely but not an acceptable MTS-APDU: handed up
         * with its octets and the decoder's diagnostic, then confirmed like
         * any other -- aborting would only make the peer send it again. */
        /* DEBUG: the event carries the diagnostic; the application logs it */
        x400i_log(&l->cfg.log, X400_LOG_DEBUG, X400_LAYER_P1,
                  "received APDU of %zu octets not decodable (confirmed, handed up): %s",
                  l->rx.len, d.text);
        ev.type = X400_P1_LINK_EV_UNDECODABLE;
        ev.diag = &d;
        rv = l->cb.event ? l->cb.event(l->cb.user, l, &ev) : 0;
        return transfer_done(l, rv);
    }
    id = x400_p1_apdu_id(&apdu);
    ev.apdu = &apdu;
    ev.type = X400_P1_LINK_EV_RECEIVED;
    if (l->cfg.seen && x400_p1_idset_insert(l->cfg.seen, id) == X400_ERR_DUPLICATE) {
        x400_mtsid_format(id, idtext, sizeof idtext);
        x400i_diag_set(&d, X400_LAYER_P1, X400_SOURCE_PEER, X400_ERR_DUPLICATE, 0,
                       "MTSIdentifier %s received again: acknowledged, not delivered twice",
                       idtext);
        x400i_log(&l->cfg.log, X400_LOG_WARNING, X400_LAYER_P1, "%s", d.text);
        ev.type = X400_P1_LINK_EV_DUPLICATE;
        ev.diag = &d;
    }
    l->rx_apdu = &apdu;
    rv = l->cb.event ? l->cb.event(l->cb.user, l, &ev) : 0;
    l->rx_apdu = NULL;
    x400_p1_apdu_free(&apdu); /* nothing left when the user took it */
    return transfer_done(l, rv);
}

/* RT-TRANSFER confirm (X.228 9.4).  A negative one from an RTSE whose
 * RT-association is gone (aborted by either side or the provider, or not
 * recovered: the RT-U-ABORT / RT-P-ABORT indication follows it, X.228 9.8,
 * 9.9) ends the link first, as a refused recovery does: the APDU comes back
 * with SEND_FAILED once x400_p1_link_is_bound() says 0, then ABORTED.  The
 * caller then knows the association went with it -- not that the APDU
 * failed on an association that goes on. */
static int on_transfer_conf(x400_p1_link *l, const x400i_rtse_ind *ind)
{
    x400_p1_link_event ev;
    if (!l->sending || !l->qcount) return 0;
    if (ind->result < 0 && x400i_rtse_state(rt(l)) == X400I_RTSE_ST_CLOSED) {
        end_link(l, X400_P1_LINK_EV_ABORTED, ind->diag ? ind->diag : x400i_rtse_diag(rt(l)));
        return 0;
    }
    memset(&ev, 0, sizeof ev);
    ev.tag = qhead(l)->tag;
    if (ind->result >= 0) {
        ev.type = X400_P1_LINK_EV_SENT;
    } else {
        ev.type = X400_P1_LINK_EV_SEND_FAILED;
        if (ind->diag) l->diag = *ind->diag;
        ev.diag = &l->diag;
    }
    qpop(l);
    l->sending = 0;
    if (emit(l, &ev) < 0) return X400_ERR_CALLBACK_FAILURE;
    return pump(l);
}

/* ---- RTSE indications ---- */

static int rtse_ind(void *u, const x400i_rtse_ind *ind)
{
    x400_p1_link *l = u;
    x400_p1_link_event ev;
    switch (ind->type) {
    case X400I_RTSE_OPEN_IND: return on_open_ind(l, ind);
    case X400I_RTSE_OPEN_CONF: return on_open_conf(l, ind);
    case X400I_RTSE_TRANSFER_DATA: return on_transfer_data(l, ind);
    case X400I_RTSE_TRANSFER_IND: return on_transfer_ind(l);
    case X400I_RTSE_TRANSFER_ABANDON: x400i_buf_reset(&l->rx); return 0;
    case X400I_RTSE_TRANSFER_CONF: return on_transfer_conf(l, ind);
    case X400I_RTSE_TURN_PLEASE_IND: l->peer_wants_turn = 1; return pump(l);
    case X400I_RTSE_TURN_GIVE_IND: l->turn_asked = 0; return pump(l);
    case X400I_RTSE_CLOSE_IND:
        if (x400i_rtse_close_rsp(rt(l)) < 0) return X400_ERR_STATE;
        end_link(l, X400_P1_LINK_EV_RELEASED, NULL);
        return 0;
    case X400I_RTSE_CLOSE_CONF: end_link(l, X400_P1_LINK_EV_RELEASED, NULL); return 0;
    case X400I_RTSE_U_ABORT_IND:
    case X400I_RTSE_P_ABORT_IND:
        if (l->closed) return 0; /* ended by the negative RT-TRANSFER confirm before it */
        if (ind->diag) l->diag = *ind->diag;
        else
            x400i_diag_set(&l->diag, X400_LAYER_RTSE, ind->type == X400I_RTSE_U_ABORT_IND ?
                           X400_SOURCE_PEER : X400_SOURCE_PROVIDER, X400_ERR_ABORTED,
                           ind->reason, "RT-%s-ABORT (reason %d)",
                           ind->type == X400I_RTSE_U_ABORT_IND ? "U" : "P", ind->reason);
        end_link(l, X400_P1_LINK_EV_ABORTED, &l->diag);
        return 0;
    case X400I_RTSE_PERSIST:
        memset(&ev, 0, sizeof ev);
        ev.type = X400_P1_LINK_EV_PERSIST;
        ev.record = ind->record;
        ev.record_len = ind->record_len;
        /* with the APDU octets secured so far: a restarted responder needs
         * both (x400_p1_link_restore) */
        if (ind->record_len) {
            ev.raw = l->rx.p;
            ev.raw_len = l->rx.len;
        }
        return emit(l, &ev);
    case X400I_RTSE_RECOVERING_IND:
    case X400I_RTSE_RECOVERED_IND:
        x400i_log(&l->cfg.log, X400_LOG_NOTICE, X400_LAYER_P1, "RTSE %s%s%s",
                  ind->type == X400I_RTSE_RECOVERING_IND ? "recovering the connection"
                                                         : "connection recovered",
                  ind->diag ? ": " : "", ind->diag ? ind->diag->text : "");
        if (ind->type != X400I_RTSE_RECOVERED_IND) return 0;
        /* a restored responder: the peer bound the interrupted connection
         * with the previous process; recovering it is that bind's sequel */
        if (l->restored && !l->bound && !l->closed) l->bound = 1;
        return pump(l);
    }
    return 0;
}

static size_t ref_bytes(const x400i_rtse_ref *r, uint8_t *o)
{
    size_t n = 0;
    o[n++] = (uint8_t)r->calling_len;
    memcpy(o + n, r->calling, r->calling_len);
    n += r->calling_len;
    o[n++] = (uint8_t)r->common_len;
    memcpy(o + n, r->common, r->common_len);
    n += r->common_len;
    o[n++] = (uint8_t)r->add_len;
    memcpy(o + n, r->add, r->add_len);
    return n + r->add_len;
}

/* An inbound association asks to recover `want`: the user names the link
 * waiting for it. */
static x400i_rtse_assoc *route(void *u, x400i_rtse_assoc *ra, const x400i_rtse_ref *want)
{
    x400_p1_link *l = u, *to;
    uint8_t b[X400_P1_LINK_REF_MAX];
    (void)ra;
    if (!l->cfg.recovery_route) return NULL;
    to = l->cfg.recovery_route(l->cfg.recovery_user, l, b, ref_bytes(want, b));
    if (!to || to == l || to->cfg.role != X400_ROLE_RESPONDER || to->closed) return NULL;
    x400i_log(&l->cfg.log, X400_LOG_NOTICE, X400_LAYER_P1,
              "recovery request routed to the link waiting for that connection");
    return to->ra;
}

static int need_assoc(void *u, x400i_rtse_assoc *ra)
{
    x400_p1_link *l = u;
    x400_p1_link_event ev;
    (void)ra;
    if (l->cfg.assoc_own) {
        /* called from inside the layers below (a lost connection's input,
         * a tick): the association is made at the next safe point
         * (x400_p1_link_want_connect); the RTORQ waits for it */
        l->conn_wanted = 1;
        return 0;
    }
    memset(&ev, 0, sizeof ev);
    ev.type = X400_P1_LINK_EV_NEED_ASSOC;
    return emit(l, &ev);
}

/* ---- public API ---- */

int x400_p1_link_new(x400_p1_link **out, const x400_p1_link_config *cfg,
                     const x400_p1_link_callbacks *cb, const x400_allocator *alloc)
{
    x400_p1_link *l;
    x400i_rtse_callbacks rcb;
    x400i_rtse_assoc_hooks hooks;
    int rv;
    if (!out || !cfg) return X400_ERR_INVALID_ARG;
    *out = NULL;
    if ((cfg->role != X400_ROLE_INITIATOR && cfg->role != X400_ROLE_RESPONDER) ||
        (cfg->mode != X400_MODE_NORMAL && cfg->mode != X400_MODE_X410) ||
        cfg->own_password_len > X400_PASSWORD_MAX || cfg->queue_max > X400_P1_LINK_QUEUE_MAX ||
        (cfg->assoc_own && cfg->role != X400_ROLE_INITIATOR) ||
        memchr(cfg->own_name, 0, sizeof cfg->own_name) == NULL)
        return X400_ERR_INVALID_ARG;
    alloc = x400i_alloc_or_default(alloc);
    l = x400i_calloc(alloc, 1, sizeof *l);
    if (!l) return X400_ERR_NOMEM;
    l->cfg = *cfg;
    if (!l->cfg.queue_max) l->cfg.queue_max = 64;
    if (!l->cfg.limits.max_pdu) x400_p1_limits_init(&l->cfg.limits);
    l->cfg.rtse.x410_mode = cfg->mode == X400_MODE_X410;
    if (l->cfg.assoc_own) {
        /* the link's associations run its role and mode */
        l->cfg.assoc.role = cfg->role;
        l->cfg.assoc.mode = cfg->mode;
        l->conn_wanted = 1; /* the first connection */
    }
    l->alloc = alloc;
    if (cb) l->cb = *cb;
    x400i_buf_init(&l->rx, alloc, l->cfg.limits.max_pdu);
    /* a few slots at first: an idle link (one per association) holds
     * 128 octets of queue, not queue_max entries' worth (2 KiB) */
    l->qcap = l->cfg.queue_max < QUEUE_FIRST ? l->cfg.queue_max : QUEUE_FIRST;
    l->q = x400i_calloc(alloc, l->qcap, sizeof *l->q);
    rcb.user = l;
    rcb.indication = rtse_ind;
    hooks.user = l;
    hooks.need_assoc = need_assoc;
    hooks.route = cfg->role == X400_ROLE_RESPONDER ? route : NULL;
    rv = l->q ? x400i_rtse_assoc_new(&l->ra, cfg->role == X400_ROLE_INITIATOR, &l->cfg.rtse, &rcb,
                                     &hooks, alloc, &l->cfg.log)
              : X400_ERR_NOMEM;
    if (rv < 0) {
        x400_p1_link_free(l);
        return rv;
    }
    *out = l;
    return X400_OK;
}

void x400_p1_link_free(x400_p1_link *l)
{
    if (!l) return;
    if (l->ra) x400i_rtse_assoc_free(l->ra);
    if (l->q) {
        while (l->qcount) qpop(l);
        x400i_free(l->alloc, l->q);
    }
    x400i_buf_free(&l->rx);
    x400i_free(l->alloc, l);
}

int x400_p1_link_attach(x400_p1_link *l, x400_assoc *a)
{
    uint8_t buf[BIND_BUF];
    size_t len;
    int rv;
    if (!l || !a) return X400_ERR_INVALID_ARG;
    if (l->closed)
        return x400i_diag_set(&l->diag, X400_LAYER_P1, X400_SOURCE_LOCAL, X400_ERR_STATE, 0,
                              "attach: the link has ended");
    /* one mode for the link, its RTSE and the association it opens (a
     * responder runs the mode of each connection's CP instead) */
    if (l->cfg.role == X400_ROLE_INITIATOR && x400_assoc_get_mode(a) != l->cfg.mode)
        return x400i_diag_set(&l->diag, X400_LAYER_P1, X400_SOURCE_LOCAL, X400_ERR_INVALID_ARG, 0,
                              "attach: the association runs %s but the link %s",
                              x400_assoc_get_mode(a) == X400_MODE_X410 ? "X.410-1984 mode" : "normal mode",
                              l->cfg.mode == X400_MODE_X410 ? "X.410-1984 mode" : "normal mode");
    if ((rv = x400i_rtse_assoc_attach(l->ra, a)) < 0) return rv;
    if (l->cfg.role != X400_ROLE_INITIATOR || l->opened) return X400_OK;
    /* RT-OPEN request carrying the MTABindArgument (sent on T-CONNECT conf) */
    if ((rv = encode_bind(l, X400_P1_BIND_ARGUMENT, 0, buf, &len)) < 0) return rv;
    if ((rv = x400i_rtse_open_req(rt(l), buf, len)) < 0) return rv;
    l->opened = 1;
    return X400_OK;
}

int x400_p1_link_want_connect(x400_p1_link *l, x400_assoc **out)
{
    x400_assoc_config ac;
    x400_assoc *a;
    int rv;
    if (!l || !out || !l->cfg.assoc_own) return X400_ERR_INVALID_ARG;
    *out = NULL;
    if (!l->conn_wanted || l->closed) return 0;
    ac = l->cfg.assoc;
    if (l->cfg.assoc_prepare && l->cfg.assoc_prepare(l->cfg.assoc_user, l, &ac) < 0) return 0;
    ac.role = l->cfg.assoc.role;
    ac.mode = l->cfg.assoc.mode;
    if ((rv = x400_assoc_new(&a, &ac, NULL, l->alloc)) < 0)
        return x400i_diag_set(&l->diag, X400_LAYER_P1, X400_SOURCE_LOCAL, rv, 0,
                              "no association made for the link (%s)", x400_strerror(rv));
    /* the first: RT-OPEN with the bind; a recovery: the RTORQ RTSE holds */
    rv = l->opened ? x400i_rtse_assoc_attach(l->ra, a) : x400_p1_link_attach(l, a);
    if (rv < 0) {
        x400_assoc_free(a);
        return rv;
    }
    l->conn_wanted = 0;
    *out = a;
    return 1;
}

static x400_rtse_priority rtse_prio(const x400_p1_apdu *a)
{
    if (a->kind != X400_P1_MESSAGE) return X400_RTSE_PRIO_NORMAL;
    switch (a->env.priority) {
    case X400_PRIO_URGENT: return X400_RTSE_PRIO_URGENT;
    case X400_PRIO_NON_URGENT: return X400_RTSE_PRIO_NON_URGENT;
    default: return X400_RTSE_PRIO_NORMAL;
    }
}

/* The full ring doubled (at most queue_max), its entries in order from 0. */
static int qgrow(x400_p1_link *l)
{
    size_t cap = l->qcap * 2 < l->cfg.queue_max ? l->qcap * 2 : l->cfg.queue_max;
    struct qent *q = x400i_calloc(l->alloc, cap, sizeof *q);
    if (!q) return -1;
    for (size_t i = 0; i < l->qcount; i++) q[i] = l->q[(l->qhead + i) % l->qcap];
    x400i_free(l->alloc, l->q);
    l->q = q;
    l->qcap = cap;
    l->qhead = 0;
    return 0;
}

/* The next free queue slot, or an error (link ended / queue full / no
 * memory to grow the ring). */
static int slot(x400_p1_link *l, struct qent **e, x400_diag *diag)
{
    if (l->closed)
        return x400i_diag_set(diag, X400_LAYER_P1, X400_SOURCE_LOCAL, X400_ERR_CLOSED, 0,
                              "send: the link has ended");
    if (l->qcount == l->cfg.queue_max)
        return x400i_diag_set(diag, X400_LAYER_P1, X400_SOURCE_LOCAL, X400_ERR_FULL, 0,
                              "send: %zu APDUs already queued", l->qcount);
    if (l->qcount == l->qcap && qgrow(l) < 0)
        return x400i_diag_set(diag, X400_LAYER_P1, X400_SOURCE_LOCAL, X400_ERR_NOMEM, 0,
                              "send: no memory for a queue of %zu APDUs", l->qcount + 1);
    *e = &l->q[(l->qhead + l->qcount) % l->qcap];
    return X400_OK;
}

/* An APDU above the transfer bound (RTSE max_apdu_size) never goes on this
 * link: refused at once, never queued where it would block the queue. */
static int within_bound(const x400_p1_link *l, size_t len, x400_diag *diag)
{
    if ((uint64_t)len <= l->cfg.rtse.max_apdu_size) return X400_OK;
    return x400i_diag_set(diag, X400_LAYER_P1, X400_SOURCE_LOCAL, X400_ERR_TOO_LONG, 0,
                          "send: APDU of %zu octets above the transfer bound of %llu octets", len,
                          (unsigned long long)l->cfg.rtse.max_apdu_size);
}

/* The slot filled: queued.  Whatever happens now, it comes back as SENT or
 * SEND_FAILED, so a failure to start it is not the caller's to retry. */
static int queued(x400_p1_link *l, struct qent *e, x400_rtse_priority prio, uint64_t tag)
{
    e->tag = tag;
    e->prio = prio;
    l->qcount++;
    (void)pump(l);
    return X400_OK;
}

/* The current time for a trace element: the user's clock, else the last
 * tick (wall-clock milliseconds then, p1link.h). */
static int64_t trace_now(const x400_p1_link *l)
{
    return l->cfg.clock ? l->cfg.clock(l->cfg.clock_user) : (int64_t)(l->now_ms / 1000u);
}

/* What every caller did by hand, done on a shallow copy `c` of the APDU
 * (the caller's APDU is not touched): this MTA's trace element when the
 * trace is empty (TraceInformationElement, X.411 12.2.1.1.1.10: each
 * domain adds one), and recipient numbers 1..n when every one is 0.
 * *recip is the renumbered copy of the recipients (freed by the caller),
 * or NULL. */
static int fill_in(x400_p1_link *l, x400_p1_apdu *c, x400_p1_trace *t, x400_p1_recipient **recip,
                   x400_diag *diag)
{
    unsigned *n_trace = c->kind == X400_P1_REPORT ? &c->report.n_trace : &c->env.n_trace;
    const x400_p1_trace **trace = c->kind == X400_P1_REPORT ? &c->report.trace : &c->env.trace;
    unsigned i;
    *recip = NULL;
    if (l->cfg.ext_form == X400_P1_EXT_FORM_1992 || l->cfg.ext_form == X400_P1_EXT_FORM_1988)
        c->ext_form = (x400_p1_ext_form)l->cfg.ext_form;
    if (*n_trace == 0 && l->cfg.trace_gdi.country[0]) {
        x400_p1_trace_init(t);
        t->gdi = l->cfg.trace_gdi;
        t->arrival = trace_now(l);
        t->routing_action = X400_ROUTE_RELAYED;
        *n_trace = 1;
        *trace = t;
    }
    if (c->kind == X400_P1_REPORT || !c->env.n_recip || !c->env.recip) return X400_OK;
    for (i = 0; i < c->env.n_recip; i++)
        if (c->env.recip[i].osrn != 0) return X400_OK; /* the caller numbered them */
    *recip = x400i_calloc(l->alloc, c->env.n_recip, sizeof **recip);
    if (!*recip)
        return x400i_diag_set(diag, X400_LAYER_P1, X400_SOURCE_LOCAL, X400_ERR_NOMEM, 0,
                              "send: %u recipients", c->env.n_recip);
    for (i = 0; i < c->env.n_recip; i++) {
        (*recip)[i] = c->env.recip[i];
        (*recip)[i].osrn = i + 1;
    }
    c->env.recip = *recip;
    return X400_OK;
}

int x400_p1_link_send(x400_p1_link *l, const x400_p1_apdu *apdu, uint64_t tag, x400_diag *diag)
{
    struct qent *e;
    x400_p1_apdu c;
    x400_p1_trace t;
    x400_p1_recipient *recip;
    int rv;
    if (!l || !apdu) return X400_ERR_INVALID_ARG;
    if ((rv = slot(l, &e, diag)) < 0) return rv;
    c = *apdu; /* shallow: only what the link fills in differs */
    if ((rv = fill_in(l, &c, &t, &recip, diag)) < 0) return rv;
    rv = x400_p1_encode_alloc(&c, l->alloc, &e->buf, &e->len, diag);
    x400i_free(l->alloc, recip);
    if (rv < 0) return rv;
    if ((rv = within_bound(l, e->len, diag)) < 0) {
        x400i_free(l->alloc, e->buf);
        memset(e, 0, sizeof *e);
        return rv;
    }
    return queued(l, e, rtse_prio(apdu), tag);
}

/* send_encoded: only an MTS-APDU the peer can decode goes out. */
static int check_encoded(x400_p1_link *l, const uint8_t *apdu, size_t len, x400_diag *diag)
{
    x400_p1_apdu a;
    x400_diag d;
    int rv;
    x400i_diag_clear(&d);
    rv = x400_p1_decode(apdu, len, &l->cfg.limits, l->alloc, &a, &d);
    if (rv < 0)
        return x400i_diag_set(diag, X400_LAYER_P1, X400_SOURCE_LOCAL, rv, d.reason,
                              "send: not an MTS-APDU: %s", d.text);
    x400_p1_apdu_free(&a);
    return X400_OK;
}

int x400_p1_link_send_encoded(x400_p1_link *l, const uint8_t *apdu, size_t len,
                              x400_rtse_priority prio, uint64_t tag, x400_diag *diag)
{
    struct qent *e;
    int rv;
    if (!l || !apdu || !len || (unsigned)prio > X400_RTSE_PRIO_NON_URGENT) return X400_ERR_INVALID_ARG;
    if ((rv = slot(l, &e, diag)) < 0) return rv;
    if ((rv = within_bound(l, len, diag)) < 0) return rv;
    if ((rv = check_encoded(l, apdu, len, diag)) < 0) return rv;
    e->buf = x400i_malloc(l->alloc, len);
    if (!e->buf)
        return x400i_diag_set(diag, X400_LAYER_P1, X400_SOURCE_LOCAL, X400_ERR_NOMEM, 0,
                              "send: %zu octets", len);
    memcpy(e->buf, apdu, len);
    e->len = len;
    return queued(l, e, prio, tag);
}

/* RT-U-ABORT request, X.228 9.10: the association ends at once. */
int x400_p1_link_abort(x400_p1_link *l)
{
    x400_diag why;
    if (!l) return X400_ERR_INVALID_ARG;
    if (l->closed)
        return x400i_diag_set(&l->diag, X400_LAYER_P1, X400_SOURCE_LOCAL, X400_ERR_STATE, 0,
                              "abort: the link has ended");
    x400i_diag_clear(&why);
    x400i_diag_set(&why, X400_LAYER_P1, X400_SOURCE_LOCAL, X400_ERR_ABORTED, 0, "aborted by the user (RT-U-ABORT)");
    (void)x400i_rtse_u_abort_req(rt(l), NULL, 0); /* refused only where nothing is left to abort */
    end_link(l, X400_P1_LINK_EV_ABORTED, &why);
    return X400_OK;
}

int x400_p1_link_close(x400_p1_link *l)
{
    if (!l) return X400_ERR_INVALID_ARG;
    if (l->closed || !l->bound)
        return x400i_diag_set(&l->diag, X400_LAYER_P1, X400_SOURCE_LOCAL, X400_ERR_STATE, 0,
                              "close: the link is %s", l->closed ? "closed" : "not bound");
    l->close_wanted = 1;
    return pump(l);
}

int x400_p1_link_tick(x400_p1_link *l, uint64_t now_ms)
{
    if (!l) return X400_ERR_INVALID_ARG;
    l->now_ms = now_ms;
    return x400i_rtse_tick(rt(l), now_ms);
}

int x400_p1_link_restore(x400_p1_link *l, const uint8_t *rec, size_t rec_len,
                         const uint8_t *octets, size_t octets_len)
{
    x400_rtse_record_info info;
    int rv;
    if (!l || !rec || (octets_len && !octets)) return X400_ERR_INVALID_ARG;
    if (l->cfg.role != X400_ROLE_RESPONDER || l->closed || l->bound || l->restored ||
        x400i_rtse_assoc_current(l->ra) || x400i_rtse_state(rt(l)) != X400I_RTSE_ST_IDLE)
        return x400i_diag_set(&l->diag, X400_LAYER_P1, X400_SOURCE_LOCAL, X400_ERR_STATE, 0,
                              "restore: only into a new responder link, before any association");
    if ((rv = x400_rtse_record_info_get(rec, rec_len, &info)) < 0)
        return x400i_diag_set(&l->diag, X400_LAYER_P1, X400_SOURCE_LOCAL, rv, 0,
                              "restore: recovery record rejected (%s)", x400_strerror(rv));
    /* a RECEIVING record resumes after its delivered octets: the link needs
     * them to complete the APDU; a COMPLETED one delivers nothing again */
    if (info.state == X400_RTSE_RECORD_COMPLETED) octets_len = 0;
    else if ((uint64_t)octets_len != info.delivered)
        return x400i_diag_set(&l->diag, X400_LAYER_P1, X400_SOURCE_LOCAL, X400_ERR_INVALID_ARG, 0,
                              "restore: %zu APDU octets given, the record says %llu were received",
                              octets_len, (unsigned long long)info.delivered);
    x400i_buf_reset(&l->rx);
    if (octets_len && (rv = x400i_buf_append(&l->rx, octets, octets_len)) < 0)
        return x400i_diag_set(&l->diag, X400_LAYER_P1, X400_SOURCE_LOCAL, rv, 0,
                              "restore: %zu APDU octets", octets_len);
    if ((rv = x400i_rtse_restore(rt(l), rec, rec_len)) < 0) {
        x400i_buf_reset(&l->rx);
        l->diag = *x400i_rtse_diag(rt(l));
        return rv;
    }
    l->restored = 1;
    x400i_log(&l->cfg.log, X400_LOG_NOTICE, X400_LAYER_P1,
              "restored: waiting for the peer to recover its connection (%llu octets of the "
              "interrupted transfer kept)", (unsigned long long)info.delivered);
    return X400_OK;
}

uint64_t x400_p1_link_next_timeout(const x400_p1_link *l)
{
    if (!l) return UINT64_MAX;
    if (l->conn_wanted && !l->closed) return 0; /* x400_p1_link_want_connect */
    return x400i_rtse_next_timeout(x400i_rtse_assoc_rtse(l->ra));
}

int x400_p1_link_confirm(x400_p1_link *l)
{
    int rv;
    if (!l) return X400_ERR_INVALID_ARG;
    if (!l->confirm_pending) return X400_OK;
    l->confirm_pending = 0;
    rv = x400i_rtse_transfer_accept(rt(l));
    if (rv < 0) return rv;
    return pump(l) < 0 ? x400_p1_link_diag(l)->code : X400_OK;
}

int x400_p1_link_take_apdu(x400_p1_link *l, x400_p1_apdu *out)
{
    if (out) memset(out, 0, sizeof *out);
    if (!l || !out || !l->rx_apdu || !l->rx_apdu->mem) return X400_ERR_INVALID_ARG;
    /* the arena goes with the struct: no copy, no second decode */
    *out = *l->rx_apdu;
    memset(l->rx_apdu, 0, sizeof *l->rx_apdu);
    return X400_OK;
}

int x400_p1_link_confirm_pending(const x400_p1_link *l)
{
    return l && l->confirm_pending && x400i_rtse_transfer_deferred(x400i_rtse_assoc_rtse(l->ra));
}

int x400_p1_link_waiting_ref(const x400_p1_link *l, uint8_t *buf, size_t cap, size_t *len)
{
    const x400i_rtse_ref *r;
    uint8_t b[X400_P1_LINK_REF_MAX];
    size_t n;
    if (!l || !buf || !len) return X400_ERR_INVALID_ARG;
    r = x400i_rtse_waiting_ref(x400i_rtse_assoc_rtse(l->ra));
    if (!r) return X400_ERR_NOT_FOUND;
    n = ref_bytes(r, b);
    if (n > cap) return X400_ERR_BUFFER_TOO_SMALL;
    memcpy(buf, b, n);
    *len = n;
    return X400_OK;
}

int x400_p1_link_is_idle(const x400_p1_link *l)
{
    if (!l || l->closed || !l->bound || l->qcount || l->sending || l->confirm_pending || l->rx.len) return 0;
    return x400i_rtse_state(x400i_rtse_assoc_rtse(l->ra)) == X400I_RTSE_ST_OPEN;
}

int x400_p1_link_is_recovering(const x400_p1_link *l)
{
    int st;
    if (!l || l->closed) return 0;
    st = x400i_rtse_state(x400i_rtse_assoc_rtse(l->ra));
    return st == X400I_RTSE_ST_RECOVERING || st == X400I_RTSE_ST_WAIT_RECOVERY;
}

int x400_p1_link_want_write(const x400_p1_link *l)
{
    return l && x400_assoc_want_write(x400i_rtse_assoc_current(l->ra));
}

int x400_p1_link_want_close(const x400_p1_link *l)
{
    return l && l->closed && !x400_p1_link_is_recovering(l) &&
           !x400_assoc_want_write(x400i_rtse_assoc_current(l->ra));
}

int x400_p1_link_is_bound(const x400_p1_link *l) { return l && l->bound && !l->closed; }
size_t x400_p1_link_queued(const x400_p1_link *l) { return l ? l->qcount : 0; }
x400_assoc *x400_p1_link_assoc(const x400_p1_link *l)
{
    return l ? x400i_rtse_assoc_current(l->ra) : NULL;
}
const x400_diag *x400_p1_link_diag(const x400_p1_link *l)
{
    return l ? &l->diag : x400i_diag_none();
}

int x400_p1_link_get_info(const x400_p1_link *l, x400_p1_link_info *out)
{
    x400_assoc *a;
    const x400i_rtse *r;
    if (!l || !out) return X400_ERR_INVALID_ARG;
    memset(out, 0, sizeof *out);
    out->bound = l->bound && !l->closed;
    memcpy(out->peer_name, l->peer_name, sizeof out->peer_name);
    out->peer_authenticated = l->peer_auth;
    out->peer_cred = l->peer_cred;
    out->initiator_turn = l->initiator_turn;
    r = x400i_rtse_assoc_rtse(l->ra);
    /* the mode the association runs (a responder learns it from the CP) */
    out->mode = x400i_rtse_x410(r) ? X400_MODE_X410 : X400_MODE_NORMAL;
    out->checkpoint_kib = x400i_rtse_checkpoint_kib(r);
    out->window = x400i_rtse_window(r);
    out->two_way_alternate = x400i_rtse_twa(r);
    out->octets_sent = x400i_rtse_bytes_sent(r);
    if ((a = x400i_rtse_assoc_current(l->ra)) != NULL) {
        out->session_version = x400i_ses_version(x400i_assoc_session(a));
        out->tpdu_size = x400i_tp_tpdu_size(x400i_assoc_transport(a));
    }
    return X400_OK;
}
