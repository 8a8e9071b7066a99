/*
 * The association: routes events between the layers of one connection.
 * Transport (TPKT + X.224 class 0) below, session above it, and the upper
 * layer (presentation later; tests now) on top.  One small function per
 * indication; no protocol logic lives here, only routing and the
 * association's summary state.
 */
#include <string.h>

#include "assoc_int.h"
#include "internal.h"

struct x400_assoc {
    x400_assoc_config cfg;
    const x400_allocator *alloc;
    x400_assoc_callbacks cb;
    x400i_assoc_upper up;
    x400i_tp *tp;
    x400i_ses *ses;
    x400_assoc_state state;
    x400_diag diag;
    void *user;
    int connect_called;
    int input_err;      /* error detected by a layer during this recv call */
};

static const char *const state_names[] = {
    [X400_ASSOC_IDLE] = "idle",
    [X400_ASSOC_CONNECTING] = "connecting",
    [X400_ASSOC_ESTABLISHED] = "established",
    [X400_ASSOC_RELEASING] = "releasing",
    [X400_ASSOC_CLOSED] = "closed",
    [X400_ASSOC_ABORTED] = "aborted",
};

const char *x400_assoc_state_name(x400_assoc_state st)
{
    if ((unsigned)st < X400I_ARRAY_LEN(state_names)) return state_names[st];
    return "unknown";
}

int x400_selector_set(x400_selector *sel, const char *text)
{
    size_t n;
    if (!sel || !text) return X400_ERR_INVALID_ARG;
    n = strlen(text);
    if (n > X400_SELECTOR_MAX) return X400_ERR_TOO_LONG;
    memcpy(sel->value, text, n);
    sel->len = n;
    return X400_OK;
}

void x400_assoc_config_init(x400_assoc_config *cfg, x400_role role)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->role = role;
    cfg->max_tpdu_size = 65531;
    cfg->session_requirements = 0x0249;
    cfg->max_tsdu = 16u << 20;
    cfg->max_output = 64u << 20;
    cfg->log.max_level = X400_LOG_INFO;
}

/* ---- summary state and events ---- */

static int emit(x400_assoc *a, x400_assoc_event_type type, const x400_diag *d)
{
    x400_assoc_event ev;
    if (!a->cb.event) return 0;
    ev.type = type;
    ev.diag = d;
    return a->cb.event(a->cb.user, a, &ev);
}

static void set_final(x400_assoc *a, x400_assoc_state st, x400_assoc_event_type type,
                      const x400_diag *d)
{
    if (a->state == X400_ASSOC_CLOSED || a->state == X400_ASSOC_ABORTED) return;
    a->state = st;
    if (d && d != &a->diag) a->diag = *d;
    (void)emit(a, type, d ? &a->diag : NULL);
}

/* ---- transport -> association ---- */

/* T-CONNECT indication: a CR arrived (responder).  Accept: who the peer is
 * is decided by its bind later, never by its address (seed Q306959). */
static int tp_connect_ind(void *u, const x400i_tp_conn_info *ci)
{
    x400_assoc *a = u;
    (void)ci;
    a->state = X400_ASSOC_CONNECTING;
    return 0;
}

/* T-CONNECT confirm: CC arrived (initiator); S-CONNECT request follows. */
static void tp_connect_conf(void *u, const x400i_tp_conn_info *ci)
{
    x400_assoc *a = u;
    int rv;
    (void)ci;
    if (a->up.transport_up)
        rv = a->up.transport_up(a->up.user, a);
    else
        rv = x400i_ses_connect_req(a->ses, NULL, 0);
    if (rv < 0) {
        x400i_diag_set(&a->diag, X400_LAYER_SESSION, X400_SOURCE_LOCAL, rv, 0,
                       "S-CONNECT request failed: %s", x400_strerror(rv));
        x400i_tp_disconnect(a->tp, 0);
        set_final(a, X400_ASSOC_ABORTED, X400_ASSOC_EV_ABORTED, &a->diag);
    }
}

/* T-DATA indication: one TSDU for the session machine. */
static int tp_data_ind(void *u, const uint8_t *tsdu, size_t len)
{
    x400_assoc *a = u;
    int rv = x400i_ses_input(a->ses, tsdu, len);
    if (rv < 0) {
        /* The session machine has answered (AB) and given S-P-ABORT; keep
         * its diagnostic and report the error from x400_assoc_recv. */
        const x400_diag *sd = x400i_ses_diag(a->ses);
        if (sd->code) a->diag = *sd;
        if (!a->input_err) a->input_err = rv;
        set_final(a, X400_ASSOC_ABORTED, X400_ASSOC_EV_ABORTED, &a->diag);
    }
    return rv;
}

/* T-DISCONNECT indication: DR/ER or local detection; the session sees a
 * lost transport (S-P-ABORT unless it had finished). */
static void tp_disconnect_ind(void *u, int reason, const x400_diag *d)
{
    x400_assoc *a = u;
    (void)reason;
    if (d && d->code) a->diag = *d;
    x400i_ses_transport_lost(a->ses);
    if (a->state != X400_ASSOC_CLOSED && a->state != X400_ASSOC_ABORTED) {
        if (!a->diag.code)
            x400i_diag_set(&a->diag, X400_LAYER_TRANSPORT, X400_SOURCE_PROVIDER,
                           X400_ERR_ABORTED, reason, "transport connection lost");
        set_final(a, X400_ASSOC_ABORTED, X400_ASSOC_EV_ABORTED, &a->diag);
    }
}

/* ---- session -> association ---- */

static int ses_send_tsdu(void *u, const uint8_t *tsdu, size_t len)
{
    x400_assoc *a = u;
    return x400i_tp_send(a->tp, tsdu, len);
}

static void ses_disconnect_transport(void *u)
{
    x400_assoc *a = u;
    if (x400i_tp_is_open(a->tp)) x400i_tp_disconnect(a->tp, 128 /* normal */);
}

/* Without an upper layer the association answers what must be answered so
 * that a bare session pair still completes (tests, harnesses). */
static int default_answer(x400_assoc *a, const x400i_ses_ind *ind)
{
    switch (ind->type) {
    case X400I_SES_CONNECT_IND: return x400i_ses_connect_rsp(a->ses, 1, 0, 0, NULL, 0);
    case X400I_SES_RELEASE_IND: return x400i_ses_release_rsp(a->ses, NULL, 0);
    default: return 0;
    }
}

static int ses_indication(void *u, const x400i_ses_ind *ind)
{
    x400_assoc *a = u;
    int rv = 0;
    switch (ind->type) {
    case X400I_SES_CONNECT_IND:
        a->state = X400_ASSOC_CONNECTING;
        break;
    case X400I_SES_CONNECT_CONF:
        if (!ind->accepted) {
            x400i_diag_set(&a->diag, X400_LAYER_SESSION, X400_SOURCE_PEER,
                           X400_ERR_REFUSED, ind->reason,
                           "S-CONNECT refused by peer (RF reason %d)", ind->reason);
            set_final(a, X400_ASSOC_CLOSED, X400_ASSOC_EV_REFUSED, &a->diag);
        } else {
            a->state = X400_ASSOC_ESTABLISHED;
            rv = emit(a, X400_ASSOC_EV_ESTABLISHED, NULL);
        }
        break;
    case X400I_SES_RELEASE_IND:
        a->state = X400_ASSOC_RELEASING;
        break;
    case X400I_SES_RELEASE_CONF:
        set_final(a, X400_ASSOC_CLOSED, X400_ASSOC_EV_RELEASED, NULL);
        break;
    case X400I_SES_U_ABORT_IND:
        x400i_diag_set(&a->diag, X400_LAYER_SESSION, X400_SOURCE_PEER, X400_ERR_ABORTED,
                       0, "S-U-ABORT from peer");
        set_final(a, X400_ASSOC_ABORTED, X400_ASSOC_EV_ABORTED, &a->diag);
        break;
    case X400I_SES_P_ABORT_IND:
        if (x400i_ses_diag(a->ses)->code) a->diag = *x400i_ses_diag(a->ses);
        else if (!a->diag.code)
            x400i_diag_set(&a->diag, X400_LAYER_SESSION, X400_SOURCE_PROVIDER,
                           X400_ERR_ABORTED, ind->reason, "S-P-ABORT");
        set_final(a, X400_ASSOC_ABORTED, X400_ASSOC_EV_ABORTED, &a->diag);
        break;
    default:
        break;
    }
    if (rv < 0) return rv;
    rv = a->up.ses_ind ? a->up.ses_ind(a->up.user, a, ind) : default_answer(a, ind);
    /* Responder: S-CONNECT response given (AC sent): established. */
    if (ind->type == X400I_SES_CONNECT_IND && rv >= 0 && a->state == X400_ASSOC_CONNECTING &&
        x400i_ses_state(a->ses) == X400I_SES_ST_DATA) {
        a->state = X400_ASSOC_ESTABLISHED;
        rv = emit(a, X400_ASSOC_EV_ESTABLISHED, NULL);
    }
    return rv;
}

/* ---- public API ---- */

int x400_assoc_new(x400_assoc **out, const x400_assoc_config *cfg,
                   const x400_assoc_callbacks *cb, const x400_allocator *alloc)
{
    x400_assoc *a;
    x400i_tp_config tc;
    x400i_ses_config sc;
    x400i_tp_callbacks tcb;
    x400i_ses_callbacks scb;
    int initiator, rv;

    if (!out || !cfg) return X400_ERR_INVALID_ARG;
    *out = NULL;
    if (cfg->role != X400_ROLE_INITIATOR && cfg->role != X400_ROLE_RESPONDER)
        return X400_ERR_INVALID_ARG;
    if (cfg->calling_tsel.len > X400_SELECTOR_MAX || cfg->called_tsel.len > X400_SELECTOR_MAX ||
        cfg->calling_ssel.len > X400_SELECTOR_MAX || cfg->called_ssel.len > X400_SELECTOR_MAX ||
        cfg->calling_ref_len > sizeof cfg->calling_ref)
        return X400_ERR_INVALID_ARG;
    alloc = x400i_alloc_or_default(alloc);
    a = x400i_calloc(alloc, 1, sizeof *a);
    if (!a) return X400_ERR_NOMEM;
    a->cfg = *cfg;
    a->alloc = alloc;
    if (cb) a->cb = *cb;
    initiator = cfg->role == X400_ROLE_INITIATOR;

    memset(&tc, 0, sizeof tc);
    memcpy(tc.calling_tsel, cfg->calling_tsel.value, cfg->calling_tsel.len);
    tc.calling_tsel_len = cfg->calling_tsel.len;
    memcpy(tc.called_tsel, cfg->called_tsel.value, cfg->called_tsel.len);
    tc.called_tsel_len = cfg->called_tsel.len;
    tc.max_tpdu_size = cfg->max_tpdu_size;
    tc.omit_tpdu_size = cfg->omit_tpdu_size;
    tc.max_tsdu = cfg->max_tsdu;
    tc.max_output = cfg->max_output;
    tcb.user = a;
    tcb.connect_ind = tp_connect_ind;
    tcb.connect_conf = tp_connect_conf;
    tcb.data_ind = tp_data_ind;
    tcb.disconnect_ind = tp_disconnect_ind;

    memset(&sc, 0, sizeof sc);
    sc.requirements = cfg->session_requirements;
    sc.calling_ssel = cfg->calling_ssel.len ? a->cfg.calling_ssel.value : NULL;
    sc.calling_ssel_len = cfg->calling_ssel.len;
    sc.called_ssel = cfg->called_ssel.len ? a->cfg.called_ssel.value : NULL;
    sc.called_ssel_len = cfg->called_ssel.len;
    sc.calling_ref = cfg->calling_ref_len ? a->cfg.calling_ref : NULL;
    sc.calling_ref_len = cfg->calling_ref_len;
    sc.max_user_data = cfg->max_tsdu;
    scb.user = a;
    scb.send_tsdu = ses_send_tsdu;
    scb.indication = ses_indication;
    scb.disconnect_transport = ses_disconnect_transport;

    rv = x400i_tp_new(&a->tp, initiator, &tc, &tcb, alloc, &a->cfg.log);
    if (rv >= 0) rv = x400i_ses_new(&a->ses, initiator, &sc, &scb, alloc, &a->cfg.log);
    if (rv < 0) {
        x400_assoc_free(a);
        return rv;
    }
    *out = a;
    return X400_OK;
}

void x400_assoc_free(x400_assoc *a)
{
    if (!a) return;
    if (a->ses) x400i_ses_free(a->ses);
    if (a->tp) x400i_tp_free(a->tp);
    x400i_free(a->alloc, a);
}

int x400_assoc_connect(x400_assoc *a)
{
    if (!a) return X400_ERR_INVALID_ARG;
    if (a->cfg.role != X400_ROLE_INITIATOR || a->connect_called)
        return x400i_diag_set(&a->diag, X400_LAYER_TRANSPORT, X400_SOURCE_LOCAL, X400_ERR_STATE,
                              0, "T-CONNECT request not allowed: %s",
                              a->connect_called ? "already connecting" : "responder role");
    a->connect_called = 1;
    a->state = X400_ASSOC_CONNECTING;
    return x400i_tp_connect(a->tp);
}

int x400_assoc_release(x400_assoc *a)
{
    int rv;
    if (!a) return X400_ERR_INVALID_ARG;
    if (a->state != X400_ASSOC_ESTABLISHED)
        return x400i_diag_set(&a->diag, X400_LAYER_SESSION, X400_SOURCE_LOCAL, X400_ERR_STATE,
                              0, "S-RELEASE request in association state %s",
                              x400_assoc_state_name(a->state));
    rv = x400i_ses_release_req(a->ses, NULL, 0);
    if (rv >= 0) a->state = X400_ASSOC_RELEASING;
    return rv;
}

int x400_assoc_abort(x400_assoc *a)
{
    int rv;
    if (!a) return X400_ERR_INVALID_ARG;
    if (a->state == X400_ASSOC_CLOSED || a->state == X400_ASSOC_ABORTED) return X400_OK;
    rv = x400i_ses_u_abort_req(a->ses, NULL, 0);
    x400i_diag_set(&a->diag, X400_LAYER_SESSION, X400_SOURCE_LOCAL, X400_ERR_ABORTED, 0,
                   "S-U-ABORT requested locally");
    if (x400i_tp_is_open(a->tp)) x400i_tp_disconnect(a->tp, 128);
    set_final(a, X400_ASSOC_ABORTED, X400_ASSOC_EV_ABORTED, &a->diag);
    return rv < 0 ? rv : X400_OK;
}

int x400_assoc_recv(x400_assoc *a, const uint8_t *buf, size_t len)
{
    int rv;
    if (!a || (!buf && len)) return X400_ERR_INVALID_ARG;
    if (a->state == X400_ASSOC_CLOSED || a->state == X400_ASSOC_ABORTED)
        return X400_ERR_CLOSED;   /* input after the end is refused, never parsed */
    a->input_err = 0;
    rv = x400i_tp_input(a->tp, buf, len);
    if (rv >= 0 && a->input_err < 0) rv = a->input_err;
    if (rv < 0) {
        const x400_diag *td = x400i_tp_diag(a->tp);
        if (td->code && a->state != X400_ASSOC_ABORTED) a->diag = *td;
        if (a->state != X400_ASSOC_CLOSED && a->state != X400_ASSOC_ABORTED)
            set_final(a, X400_ASSOC_ABORTED, X400_ASSOC_EV_ABORTED, &a->diag);
    }
    return rv;
}

size_t x400_assoc_pending(const x400_assoc *a, const uint8_t **p)
{
    if (!a || !p) return 0;
    return x400i_tp_pending(a->tp, p);
}

void x400_assoc_sent(x400_assoc *a, size_t n)
{
    if (a) x400i_tp_sent(a->tp, n);
}

void x400_assoc_transport_closed(x400_assoc *a)
{
    if (a) x400i_tp_transport_closed(a->tp);
}

x400_assoc_state x400_assoc_get_state(const x400_assoc *a)
{
    return a ? a->state : X400_ASSOC_ABORTED;
}

const x400_diag *x400_assoc_diag(const x400_assoc *a) { return &a->diag; }

void x400_assoc_set_user(x400_assoc *a, void *user) { if (a) a->user = user; }
void *x400_assoc_get_user(const x400_assoc *a) { return a ? a->user : NULL; }

void x400i_assoc_set_upper(x400_assoc *a, const x400i_assoc_upper *up)
{
    if (up) a->up = *up;
    else memset(&a->up, 0, sizeof a->up);
}

x400i_ses *x400i_assoc_session(x400_assoc *a) { return a->ses; }
x400i_tp *x400i_assoc_transport(x400_assoc *a) { return a->tp; }
