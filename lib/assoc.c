/*
 * The association: routes events between the layers of one connection.
 * Transport (TPKT + X.224 class 0), session, presentation (state-checked by
 * the public table of pstate.c), ACSE, and the upper layer (RTSE) on top
 * (interface: lib/assoc_int.h).  The protocol logic lives in the layers;
 * here are only routing, the ACSE APDU handling of X.227 clause 7 (which
 * APDU rides on which presentation primitive) and the summary state.
 */
#include <stdlib.h>
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
    x400i_pres *pres;
    x400i_acpm acpm;            /* ACSE protocol actions (lib/acse.c) */
    x400_assoc_state state;
    x400_diag diag;
    void *user;
    int connect_called;
    int input_err;      /* error detected by a layer during this recv call */
    x400i_pctx pctx[X400I_PCTX_MAX];
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

int x400_ae_part_set_oid(x400_ae_part *p, const char *oid_text)
{
    x400_oid o;
    size_t n;
    int rv = x400_oid_parse(oid_text, &o);
    if (!p) return X400_ERR_INVALID_ARG;
    if (rv < 0) return rv;
    if (x400i_oid_encode(o.arc, o.n, p->tlv + 2, 100, &n) < 0) return X400_ERR_PARSE;
    p->tlv[0] = 0x06;
    p->tlv[1] = (uint8_t)n;
    p->len = n + 2;
    return X400_OK;
}

int x400_ae_part_set_int(x400_ae_part *p, long value)
{
    x400i_buf b;
    int rv;
    if (!p) return X400_ERR_INVALID_ARG;
    x400i_buf_init(&b, NULL, sizeof p->tlv);
    rv = x400i_ber_put_int(&b, 0x02, value);
    if (rv >= 0) {
        memcpy(p->tlv, b.p, b.len);
        p->len = b.len;
    }
    x400i_buf_free(&b);
    return rv < 0 ? rv : X400_OK;
}

int x400_ae_part_set_encoded(x400_ae_part *p, const uint8_t *tlv, size_t len)
{
    x400i_tlv t;
    if (!p || (!tlv && len)) return X400_ERR_INVALID_ARG;
    if (len > sizeof p->tlv) return X400_ERR_TOO_LONG;
    if (len && (x400i_ber_read(tlv, len, &t, X400I_BER_MAX_DEPTH, X400_LAYER_ACSE, NULL) < 0 ||
                t.total != len))
        return X400_ERR_PARSE;
    if (len) memcpy(p->tlv, tlv, len);
    p->len = len;
    return X400_OK;
}

void x400_assoc_config_init(x400_assoc_config *cfg, x400_role role)
{
    static const char *const ctx_as[3] = { "2.2.1.0.1", "2.6.0.2.12", "2.6.0.2.7" };
    memset(cfg, 0, sizeof *cfg);
    cfg->role = role;
    cfg->max_tpdu_size = 65531;
    cfg->session_requirements = 0x0249;
    cfg->session_versions = 3;
    cfg->max_tsdu = 16u << 20;
    cfg->max_output = 64u << 20;
    cfg->log.max_level = X400_LOG_INFO;
    cfg->mode = X400_MODE_NORMAL;
    for (int i = 0; i < 3; i++) {
        cfg->contexts[i].id = 2 * i + 1;
        (void)x400_oid_parse(ctx_as[i], &cfg->contexts[i].abstract_syntax);
    }
    cfg->ncontexts = 3;
    cfg->user_info_context = 3;
    (void)x400_oid_parse("2.6.0.1.6", &cfg->application_context);
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

static int finished(const x400_assoc *a)
{
    return a->state == X400_ASSOC_CLOSED || a->state == X400_ASSOC_ABORTED;
}

static void set_final(x400_assoc *a, x400_assoc_state st, x400_assoc_event_type type,
                      const x400_diag *d)
{
    if (finished(a)) return;
    a->state = st;
    if (d && d != &a->diag) a->diag = *d;
    (void)emit(a, type, d ? &a->diag : NULL);
}

static int established(x400_assoc *a)
{
    a->state = X400_ASSOC_ESTABLISHED;
    return emit(a, X400_ASSOC_EV_ESTABLISHED, NULL);
}

static int up_ind(x400_assoc *a, x400i_au_ind *ind)
{
    return a->up.indication ? a->up.indication(a->up.user, a, ind) : 0;
}

/* ---- transport -> association ---- */

/* T-CONNECT indication: a CR arrived (responder).  Accept: who the peer is
 * is decided by its bind later, never by its address (Exchange KB Q306959). */
static int tp_connect_ind(void *u, const x400i_tp_conn_info *ci)
{
    x400_assoc *a = u;
    (void)ci;
    a->state = X400_ASSOC_CONNECTING;
    return 0;
}

/* T-CONNECT confirm: CC arrived (initiator); A-ASSOCIATE request follows. */
static void tp_connect_conf(void *u, const x400i_tp_conn_info *ci)
{
    x400_assoc *a = u;
    int rv;
    (void)ci;
    if (a->up.associate)
        rv = a->up.associate(a->up.user, a);
    else
        rv = x400i_assoc_associate_req(a, NULL, 0);
    if (rv < 0 && !finished(a)) {
        if (!a->diag.code)
            x400i_diag_set(&a->diag, X400_LAYER_ACSE, X400_SOURCE_LOCAL, rv, 0,
                           "A-ASSOCIATE request failed: %s", x400_strerror(rv));
        (void)x400i_ses_u_abort_req(a->ses, NULL, 0);
        if (x400i_tp_is_open(a->tp)) x400i_tp_disconnect(a->tp, 0);
        set_final(a, X400_ASSOC_ABORTED, X400_ASSOC_EV_ABORTED, &a->diag);
    }
}

/* T-DATA indication: one TSDU for the session machine. */
static int tp_data_ind(void *u, const uint8_t *tsdu, size_t len)
{
    x400_assoc *a = u;
    int rv = x400i_ses_input(a->ses, tsdu, len);
    if (rv < 0) {
        /* A layer has answered (AB / ARP / CPR) and reported the abort; keep
         * the first diagnostic and report the error from x400_assoc_recv. */
        const x400_diag *sd = x400i_ses_diag(a->ses);
        if (sd->code && !finished(a)) a->diag = *sd;
        if (!a->input_err) a->input_err = rv;
        set_final(a, X400_ASSOC_ABORTED, X400_ASSOC_EV_ABORTED, &a->diag);
    }
    return rv;
}

static void connect_failed(x400_assoc *a);

/* T-DISCONNECT indication: DR/ER or local detection; the session sees a
 * lost transport (S-P-ABORT unless it had finished).  An initiator's lost
 * before the session connection existed (waiting for the transport's CC:
 * the session has no S-P-ABORT to give) is told to the user above as when
 * the TCP connection never came up (connect_failed): an RTSE recovering
 * through it tries again.  A responder's (closed before anything arrived)
 * stays silent: nothing above has started. */
static void tp_disconnect_ind(void *u, int reason, const x400_diag *d)
{
    x400_assoc *a = u;
    if (d && d->code && !finished(a)) a->diag = *d;
    x400i_ses_transport_lost(a->ses);
    if (!finished(a)) {
        if (!a->diag.code)
            x400i_diag_set(&a->diag, X400_LAYER_TRANSPORT, X400_SOURCE_PROVIDER,
                           X400_ERR_ABORTED, reason, "transport connection lost");
        if (a->cfg.role == X400_ROLE_INITIATOR &&
            (a->state == X400_ASSOC_IDLE || a->state == X400_ASSOC_CONNECTING))
            connect_failed(a);
        else set_final(a, X400_ASSOC_ABORTED, X400_ASSOC_EV_ABORTED, &a->diag);
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

/* Every session indication goes to presentation. */
static int ses_indication(void *u, const x400i_ses_ind *ind)
{
    x400_assoc *a = u;
    if (ind->type == X400I_SES_CONNECT_IND) a->state = X400_ASSOC_CONNECTING;
    return x400i_pres_ses_ind(a->pres, ind);
}

int x400i_assoc_inject_ses_ind(x400_assoc *a, const x400i_ses_ind *ind)
{
    return ses_indication(a, ind);
}

/* ---- requests of the upper layer: ACSE (lib/acse.c) or, in X.410-1984
 * mode, presentation alone ---- */

static int layer_err(x400_assoc *a, int rv)
{
    const x400_diag *pd = x400i_pres_diag(a->pres);
    if (pd->code) a->diag = *pd;
    return rv;
}

int x400i_assoc_associate_req(x400_assoc *a, const uint8_t *ui, size_t ui_len)
{
    int rv;
    if (!a || (!ui && ui_len)) return X400_ERR_INVALID_ARG;
    if (a->cfg.mode == X400_MODE_X410) {
        rv = x400i_pres_connect_req(a->pres, NULL, 0, ui, ui_len);
        return rv < 0 ? layer_err(a, rv) : X400_OK;
    }
    return x400i_acpm_associate_req(&a->acpm, ui, ui_len);
}

int x400i_assoc_associate_rsp(x400_assoc *a, int accept, const uint8_t *ui, size_t ui_len)
{
    int rv;
    if (!a || (!ui && ui_len)) return X400_ERR_INVALID_ARG;
    if (!x400i_pres_mode(a->pres)) {
        rv = x400i_pres_connect_rsp(a->pres, accept, -1, NULL, 0, ui, ui_len);
        if (rv < 0) return layer_err(a, rv);
    } else if ((rv = x400i_acpm_associate_rsp(&a->acpm, accept, ui, ui_len)) < 0) {
        return rv;
    }
    if (accept) return established(a);
    x400i_diag_set(&a->diag, X400_LAYER_ACSE, X400_SOURCE_LOCAL, X400_ERR_REFUSED, 0,
                   "association rejected by this side");
    set_final(a, X400_ASSOC_CLOSED, X400_ASSOC_EV_REFUSED, &a->diag);
    return X400_OK;
}

int x400i_assoc_data_req(x400_assoc *a, const x400i_pdv *pdv, size_t n)
{
    int rv;
    if (!a || !pdv || !n) return X400_ERR_INVALID_ARG;
    rv = x400i_pres_data_req(a->pres, pdv, n);
    return rv < 0 ? layer_err(a, rv) : X400_OK;
}

int x400i_assoc_release_req(x400_assoc *a)
{
    int rv;
    if (!a) return X400_ERR_INVALID_ARG;
    if (!x400i_pres_mode(a->pres)) {
        rv = x400i_pres_release_req(a->pres, NULL, 0);
        if (rv < 0) return layer_err(a, rv);
    } else if ((rv = x400i_acpm_release_req(&a->acpm)) < 0) {
        return rv;
    }
    a->state = X400_ASSOC_RELEASING;
    return X400_OK;
}

int x400i_assoc_release_rsp(x400_assoc *a)
{
    int rv;
    if (!a) return X400_ERR_INVALID_ARG;
    if (!x400i_pres_mode(a->pres)) {
        rv = x400i_pres_release_rsp(a->pres, NULL, 0);
        if (rv < 0) return layer_err(a, rv);
    } else if ((rv = x400i_acpm_release_rsp(&a->acpm)) < 0) {
        return rv;
    }
    set_final(a, X400_ASSOC_CLOSED, X400_ASSOC_EV_RELEASED, NULL);
    return X400_OK;
}

int x400i_assoc_abort_req(x400_assoc *a, const uint8_t *ui, size_t ui_len)
{
    int rv;
    x400_pstate pst;
    if (!a || (!ui && ui_len)) return X400_ERR_INVALID_ARG;
    if (finished(a)) return X400_OK;
    pst = x400i_pres_state(a->pres);
    if (x400_pstate_check(pst, X400_PEV_U_ABORT_REQ, NULL, NULL, NULL) < 0) {
        /* no presentation connection yet: a bare S-U-ABORT */
        rv = x400i_ses_u_abort_req(a->ses, NULL, 0);
    } else if (!x400i_pres_mode(a->pres)) {
        rv = x400i_pres_u_abort_req(a->pres, NULL, 0, ui, ui_len);
    } else {
        rv = x400i_acpm_abort_req(&a->acpm, ui, ui_len);
    }
    x400i_diag_set(&a->diag, X400_LAYER_ACSE, X400_SOURCE_LOCAL, X400_ERR_ABORTED, 0,
                   "A-ABORT requested locally");
    if (x400i_tp_is_open(a->tp)) x400i_tp_disconnect(a->tp, 128);
    set_final(a, X400_ASSOC_ABORTED, X400_ASSOC_EV_ABORTED, &a->diag);
    return rv < 0 ? rv : X400_OK;
}

/* ---- presentation -> upper layer: ACSE indications (lib/acse.c) ---- */

static void ui_of(const x400i_acse_apdu *ap, x400i_au_ind *ind)
{
    ind->acse = ap;
    x400i_acse_user_apdu(ap, &ind->ui, &ind->ui_len);
}

/* An ACSE protocol error after the presentation connection exists: ABRT
 * (source service-provider) in ARU, then the provider abort upward. */
static int acse_abort(x400_assoc *a)
{
    x400i_au_ind ui;
    x400i_acpm_provider_abort(&a->acpm);
    memset(&ui, 0, sizeof ui);
    ui.type = X400I_AU_P_ABORT_IND;
    ui.ev = X400_PEV_P_ABORT_IND;
    ui.diag = &a->diag;
    (void)up_ind(a, &ui);
    set_final(a, X400_ASSOC_ABORTED, X400_ASSOC_EV_ABORTED, &a->diag);
    return a->diag.code < 0 ? a->diag.code : X400_ERR_PROTOCOL;
}

/* P-CONNECT indication (responder): AARQ in normal mode. */
static int on_connect_ind(x400_assoc *a, const x400i_pres_ind *pi)
{
    x400i_au_ind ui;
    x400i_acse_apdu ap;
    int rv;
    memset(&ui, 0, sizeof ui);
    ui.type = X400I_AU_ASSOCIATE_IND;
    ui.ev = pi->ev;
    ui.ses = pi->ses;
    if (!x400i_pres_mode(a->pres)) {          /* X.410-1984: the RTORQ in the CP */
        ui.ui = pi->raw;
        ui.ui_len = pi->raw_len;
        if (!a->up.indication) {
            x400i_diag_set(&a->diag, X400_LAYER_PRESENTATION, X400_SOURCE_LOCAL, X400_ERR_UNSUPPORTED,
                           0, "X.410-1984 mode CP but no RTSE above the association");
            (void)x400i_pres_connect_rsp(a->pres, 0, 0, NULL, 0, NULL, 0);
            set_final(a, X400_ASSOC_CLOSED, X400_ASSOC_EV_REFUSED, &a->diag);
            return X400_ERR_UNSUPPORTED;
        }
        return up_ind(a, &ui);
    }
    rv = x400i_acpm_aarq_in(&a->acpm, pi, &ap);
    if (rv == X400_ERR_REFUSED) {
        x400i_acse_release(&ap);
        set_final(a, X400_ASSOC_CLOSED, X400_ASSOC_EV_REFUSED, &a->diag);
        return X400_OK;
    }
    if (rv < 0) {
        x400i_acse_release(&ap);
        set_final(a, X400_ASSOC_ABORTED, X400_ASSOC_EV_ABORTED, &a->diag);
        return rv;
    }
    ui_of(&ap, &ui);
    if (a->up.indication)
        rv = up_ind(a, &ui);
    else
        rv = x400i_assoc_associate_rsp(a, 1, NULL, 0);
    x400i_acse_release(&ap);
    return rv;
}

/* P-CONNECT confirm (initiator): AARE in CPA (accepted) or CPR (refused). */
static int on_connect_conf(x400_assoc *a, const x400i_pres_ind *pi)
{
    x400i_au_ind ui;
    x400i_acse_apdu ap;
    int rv, have = 0;
    memset(&ui, 0, sizeof ui);
    ui.type = X400I_AU_ASSOCIATE_CONF;
    ui.ev = pi->ev;
    ui.ses = pi->ses;
    ui.accepted = pi->accepted;
    x400i_acse_init(&ap, 0);
    if (!x400i_pres_mode(a->pres)) {
        ui.ui = pi->raw;
        ui.ui_len = pi->raw_len;
    } else {
        rv = x400i_acpm_aare_in(&a->acpm, pi, &ap, &ui.accepted);
        if (rv < 0) {
            x400i_acse_release(&ap);
            if (pi->accepted) return acse_abort(a);
            set_final(a, X400_ASSOC_CLOSED, X400_ASSOC_EV_REFUSED, &a->diag);
            return X400_OK;
        }
        have = rv;
        if (have) ui_of(&ap, &ui);
    }
    if (!ui.accepted) {
        if (!have && pi->diag) a->diag = *pi->diag;
        ui.diag = &a->diag;
        rv = up_ind(a, &ui);
        x400i_acse_release(&ap);
        set_final(a, X400_ASSOC_CLOSED, X400_ASSOC_EV_REFUSED, &a->diag);
        return rv < 0 ? rv : X400_OK;
    }
    rv = up_ind(a, &ui);
    x400i_acse_release(&ap);
    if (rv < 0) return rv;
    return established(a);
}

static int on_release(x400_assoc *a, const x400i_pres_ind *pi, int conf)
{
    x400i_au_ind ui;
    x400i_acse_apdu ap;
    int rv;
    memset(&ui, 0, sizeof ui);
    ui.type = conf ? X400I_AU_RELEASE_CONF : X400I_AU_RELEASE_IND;
    ui.ev = pi->ev;
    ui.ses = pi->ses;
    x400i_acse_init(&ap, 0);
    if (x400i_pres_mode(a->pres)) {
        if (x400i_acpm_release_in(&a->acpm, pi, &ap, conf) < 0) {
            x400i_acse_release(&ap);
            if (conf) {     /* released anyway: the session connection is gone */
                set_final(a, X400_ASSOC_CLOSED, X400_ASSOC_EV_RELEASED, NULL);
                return X400_OK;
            }
            return acse_abort(a);
        }
        ui_of(&ap, &ui);
    }
    if (!conf) a->state = X400_ASSOC_RELEASING;
    if (a->up.indication)
        rv = up_ind(a, &ui);
    else
        rv = conf ? 0 : x400i_assoc_release_rsp(a);
    x400i_acse_release(&ap);
    if (conf) set_final(a, X400_ASSOC_CLOSED, X400_ASSOC_EV_RELEASED, NULL);
    return rv;
}

static int on_abort(x400_assoc *a, const x400i_pres_ind *pi)
{
    x400i_au_ind ui;
    x400i_acse_apdu ap;
    memset(&ui, 0, sizeof ui);
    ui.ev = pi->ev;
    ui.ses = pi->ses;
    x400i_acse_init(&ap, 0);
    a->acpm.state = X400I_ACSE_ST_IDLE;
    if (pi->ev == X400_PEV_U_ABORT_IND) {
        ui.type = X400I_AU_ABORT_IND;
        if (!x400i_pres_mode(a->pres)) {
            ui.ui = pi->raw;
            ui.ui_len = pi->raw_len;
            x400i_diag_set(&a->diag, X400_LAYER_PRESENTATION, X400_SOURCE_PEER, X400_ERR_ABORTED, 0,
                           "P-U-ABORT from peer");
        } else if (x400i_acpm_abrt_in(&a->acpm, pi, &ap) == 1) {
            ui_of(&ap, &ui);
        }
    } else {
        ui.type = X400I_AU_P_ABORT_IND;
        if (pi->diag && pi->diag->code && !finished(a)) a->diag = *pi->diag;
    }
    ui.diag = &a->diag;
    if (!finished(a)) (void)up_ind(a, &ui);
    x400i_acse_release(&ap);
    set_final(a, X400_ASSOC_ABORTED, X400_ASSOC_EV_ABORTED, &a->diag);
    return X400_OK;
}

/* Without an upper layer the association answers what must be answered. */
static int default_answer(x400_assoc *a, const x400i_pres_ind *pi)
{
    const x400i_ses_ind *s = pi->ses;
    switch (pi->ev) {
    case X400_PEV_SYNC_MINOR_IND:
        return s && s->confirm_required ? x400i_pres_minor_sync_rsp(a->pres, s->serial, NULL, 0) : 0;
    case X400_PEV_ACT_END_IND: return x400i_pres_activity_end_rsp(a->pres, NULL, 0);
    case X400_PEV_ACT_INTERRUPT_IND: return x400i_pres_activity_interrupt_rsp(a->pres);
    case X400_PEV_ACT_DISCARD_IND: return x400i_pres_activity_discard_rsp(a->pres);
    default: return 0;
    }
}

/* presentation -> association */
static int pres_indication(void *u, const x400i_pres_ind *pi)
{
    x400_assoc *a = u;
    x400i_au_ind ui;
    x400i_pdv raw;
    switch (pi->ev) {
    case X400_PEV_CONNECT_IND: return on_connect_ind(a, pi);
    case X400_PEV_CONNECT_CONF_ACCEPT:
    case X400_PEV_CONNECT_CONF_REFUSE: return on_connect_conf(a, pi);
    case X400_PEV_RELEASE_IND: return on_release(a, pi, 0);
    case X400_PEV_RELEASE_CONF: return on_release(a, pi, 1);
    case X400_PEV_U_ABORT_IND:
    case X400_PEV_P_ABORT_IND: return on_abort(a, pi);
    default: break;
    }
    memset(&ui, 0, sizeof ui);
    ui.type = pi->ev == X400_PEV_DATA_IND ? X400I_AU_DATA_IND : X400I_AU_SESSION_IND;
    ui.ev = pi->ev;
    ui.ses = pi->ses;
    ui.pdv = pi->pdv;
    ui.npdv = pi->npdv;
    if (!x400i_pres_mode(a->pres) && pi->raw_len) {
        raw.ctx = 0;
        raw.encoding = X400I_PDV_OCTETS;
        raw.v = pi->raw;
        raw.len = pi->raw_len;
        ui.pdv = &raw;
        ui.npdv = 1;
    }
    if (a->up.indication) return up_ind(a, &ui);
    return default_answer(a, pi);
}

/* ---- public API ---- */

int x400_assoc_new(x400_assoc **out, const x400_assoc_config *cfg,
                   const x400_assoc_callbacks *cb, const x400_allocator *alloc)
{
    x400_assoc *a;
    x400i_tp_config tc;
    x400i_ses_config sc;
    x400i_pres_config pc;
    x400i_tp_callbacks tcb;
    x400i_ses_callbacks scb;
    x400i_pres_callbacks pcb;
    int initiator, rv;

    if (!out || !cfg) return X400_ERR_INVALID_ARG;
    *out = NULL;
    if (cfg->role != X400_ROLE_INITIATOR && cfg->role != X400_ROLE_RESPONDER)
        return X400_ERR_INVALID_ARG;
    if (cfg->calling_tsel.len > X400_SELECTOR_MAX || cfg->called_tsel.len > X400_SELECTOR_MAX ||
        cfg->calling_ssel.len > X400_SELECTOR_MAX || cfg->called_ssel.len > X400_SELECTOR_MAX ||
        cfg->calling_psel.len > X400_SELECTOR_MAX || cfg->called_psel.len > X400_SELECTOR_MAX ||
        cfg->responding_psel.len > X400_SELECTOR_MAX ||
        cfg->calling_ref_len > sizeof cfg->calling_ref || cfg->common_ref_len > sizeof cfg->common_ref ||
        cfg->ncontexts > X400_PCTX_MAX ||
        (cfg->mode != X400_MODE_NORMAL && cfg->mode != X400_MODE_X410))
        return X400_ERR_INVALID_ARG;
    alloc = x400i_alloc_or_default(alloc);
    a = x400i_calloc(alloc, 1, sizeof *a);
    if (!a) return X400_ERR_NOMEM;
    a->cfg = *cfg;
    a->alloc = alloc;
    if (cb) a->cb = *cb;
    initiator = cfg->role == X400_ROLE_INITIATOR;
    for (size_t i = 0; i < cfg->ncontexts; i++) {
        const x400_pcontext *c = &cfg->contexts[i];
        memset(&a->pctx[i], 0, sizeof a->pctx[i]);
        if (c->id < 1 || c->id > 127) goto bad;
        for (size_t j = 0; j < i; j++)
            if (cfg->contexts[j].id == c->id) goto bad;
        a->pctx[i].id = c->id;
        a->pctx[i].has_ts = 1;
        a->pctx[i].provider_reason = -1;
        if (x400i_oidv_from_arcs(&a->pctx[i].as, c->abstract_syntax.arc, c->abstract_syntax.n) < 0)
            goto bad;
    }

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
    sc.versions = cfg->session_versions;
    sc.calling_ssel = cfg->calling_ssel.len ? a->cfg.calling_ssel.value : NULL;
    sc.calling_ssel_len = cfg->calling_ssel.len;
    sc.called_ssel = cfg->called_ssel.len ? a->cfg.called_ssel.value : NULL;
    sc.called_ssel_len = cfg->called_ssel.len;
    sc.calling_ref = cfg->calling_ref_len ? a->cfg.calling_ref : NULL;
    sc.calling_ref_len = cfg->calling_ref_len;
    sc.common_ref = cfg->common_ref_len ? a->cfg.common_ref : NULL;
    sc.common_ref_len = cfg->common_ref_len;
    sc.max_user_data = cfg->max_tsdu;
    scb.user = a;
    scb.send_tsdu = ses_send_tsdu;
    scb.indication = ses_indication;
    scb.disconnect_transport = ses_disconnect_transport;

    memset(&pc, 0, sizeof pc);
    pc.mode = cfg->mode == X400_MODE_NORMAL;
    pc.calling_sel = cfg->calling_psel.len ? &a->cfg.calling_psel : NULL;
    pc.called_sel = cfg->called_psel.len ? &a->cfg.called_psel : NULL;
    pc.responding_sel = cfg->responding_psel.len ? &a->cfg.responding_psel : NULL;
    pc.ctx = a->pctx;
    pc.nctx = cfg->ncontexts;
    pc.max_pdu = cfg->max_tsdu;
    pcb.user = a;
    pcb.indication = pres_indication;

    rv = x400i_tp_new(&a->tp, initiator, &tc, &tcb, alloc, &a->cfg.log);
    if (rv >= 0) rv = x400i_ses_new(&a->ses, initiator, &sc, &scb, alloc, &a->cfg.log);
    if (rv >= 0) rv = x400i_pres_new(&a->pres, initiator, &pc, a->ses, &pcb, alloc, &a->cfg.log);
    if (rv >= 0)
        rv = x400i_acpm_init(&a->acpm, a->pres, &a->cfg, a->pctx, cfg->ncontexts, &a->diag, alloc);
    if (rv < 0) {
        x400_assoc_free(a);
        return rv;
    }
    *out = a;
    return X400_OK;
bad:
    x400_assoc_free(a);
    return X400_ERR_INVALID_ARG;
}

void x400_assoc_free(x400_assoc *a)
{
    if (!a) return;
    if (a->pres) x400i_pres_free(a->pres);
    if (a->ses) x400i_ses_free(a->ses);
    if (a->tp) x400i_tp_free(a->tp);
    x400i_acpm_free(&a->acpm);
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
    if (!a) return X400_ERR_INVALID_ARG;
    if (a->state != X400_ASSOC_ESTABLISHED)
        return x400i_diag_set(&a->diag, X400_LAYER_ACSE, X400_SOURCE_LOCAL, X400_ERR_STATE,
                              0, "A-RELEASE request in association state %s",
                              x400_assoc_state_name(a->state));
    return x400i_assoc_release_req(a);
}

int x400_assoc_abort(x400_assoc *a)
{
    if (!a) return X400_ERR_INVALID_ARG;
    return x400i_assoc_abort_req(a, NULL, 0);
}

int x400_assoc_recv(x400_assoc *a, const uint8_t *buf, size_t len)
{
    int rv;
    if (!a || (!buf && len)) return X400_ERR_INVALID_ARG;
    if (finished(a))
        return X400_ERR_CLOSED;   /* input after the end is refused, never parsed */
    a->input_err = 0;
    rv = x400i_tp_input(a->tp, buf, len);
    if (rv >= 0 && a->input_err < 0) rv = a->input_err;
    if (rv < 0) {
        const x400_diag *td = x400i_tp_diag(a->tp);
        if (td->code && !finished(a)) a->diag = *td;
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
    if (!a) return;
    x400i_tp_transport_closed(a->tp);
    if (finished(a)) return;
    /* The TCP connection never came up (or went before the transport
     * connection did): no layer below has anything to say, but the user
     * above must learn that this association is over -- an RTSE waiting to
     * recover would otherwise wait for a connection that never comes. */
    if (a->state == X400_ASSOC_IDLE || a->state == X400_ASSOC_CONNECTING) {
        if (!a->diag.code)
            x400i_diag_set(&a->diag, X400_LAYER_TRANSPORT, X400_SOURCE_PROVIDER, X400_ERR_ABORTED, 0,
                           "the transport connection could not be established");
        connect_failed(a);
    }
}

/* The association ended before its session connection existed: P-ABORT
 * to the user above (an RTSE waiting to recover tries again), then final. */
static void connect_failed(x400_assoc *a)
{
    x400i_au_ind ui;
    memset(&ui, 0, sizeof ui);
    ui.type = X400I_AU_P_ABORT_IND;
    ui.diag = &a->diag;
    (void)up_ind(a, &ui);
    set_final(a, X400_ASSOC_ABORTED, X400_ASSOC_EV_ABORTED, &a->diag);
}

x400_assoc_state x400_assoc_get_state(const x400_assoc *a)
{
    return a ? a->state : X400_ASSOC_ABORTED;
}

x400_mode x400_assoc_get_mode(const x400_assoc *a)
{
    if (!a) return X400_MODE_NORMAL;
    return x400i_pres_mode(a->pres) ? X400_MODE_NORMAL : X400_MODE_X410;
}

const x400_diag *x400_assoc_diag(const x400_assoc *a)
{
    return a ? &a->diag : x400i_diag_none();
}

void x400_assoc_set_user(x400_assoc *a, void *user) { if (a) a->user = user; }
void *x400_assoc_get_user(const x400_assoc *a) { return a ? a->user : NULL; }

void x400i_assoc_set_upper(x400_assoc *a, const x400i_assoc_upper *up)
{
    if (up) a->up = *up;
    else memset(&a->up, 0, sizeof a->up);
}

int x400i_assoc_context_id(const x400_assoc *a, const uint32_t *arcs, size_t n)
{
    x400i_oidv o;
    if (x400i_oidv_from_arcs(&o, arcs, n) < 0) return -1;
    return x400i_pres_context_id(a->pres, &o);
}

x400i_pres *x400i_assoc_presentation(x400_assoc *a) { return a->pres; }
x400i_ses *x400i_assoc_session(x400_assoc *a) { return a->ses; }
x400i_tp *x400i_assoc_transport(x400_assoc *a) { return a->tp; }
int x400i_assoc_acse_state(const x400_assoc *a) { return a->acpm.state; }

/* An upper layer's error while handling this recv call's input: reported by
 * x400_assoc_recv when it ended the association (the upper layer has
 * answered the peer itself, e.g. RTSE with an RTAB). */
void x400i_assoc_input_error(x400_assoc *a, int err)
{
    if (a && err < 0 && finished(a) && !a->input_err) a->input_err = err;
}

/* ---- what the association wants from its I/O (nghttp2's want_read/want_write) ---- */

int x400_assoc_want_write(const x400_assoc *a)
{
    const uint8_t *p;
    return a && x400_assoc_pending(a, &p) > 0;
}

int x400_assoc_want_close(const x400_assoc *a)
{
    return a && finished(a) && !x400_assoc_want_write(a);
}
