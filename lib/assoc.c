/*
 * The association: wiring of one connection.  Transport (TPKT + X.224
 * class 0) and session, and above session one RTSE lower adapter (normal:
 * lib/rtse_pres.c, presentation + ACSE; X.410-1984: lib/rtse_ses.c), chosen
 * once (interface: lib/assoc_int.h).  The protocol logic lives in the
 * layers and the adapters; here are only routing and the summary state.
 */
#include <stdlib.h>
#include <string.h>

#include "assoc_int.h"
#include "internal.h"

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
    /* abstract syntaxes: ACSE (X.227), RTSE (X.228), MTS transfer (X.419);
     * constant arcs, not text parsed each time (a responder calls this
     * between the CR and the CC) */
    static const x400_oid ctx_as[3] = { { 5, { 2, 2, 1, 0, 1 } }, { 5, { 2, 6, 0, 2, 12 } },
                                        { 5, { 2, 6, 0, 2, 7 } } };
    static const x400_oid mts_transfer = { 5, { 2, 6, 0, 1, 6 } };   /* X.419 application context */
    memset(cfg, 0, sizeof *cfg);
    cfg->role = role;
    cfg->max_tpdu_size = 65531;
    cfg->session_requirements = 0x0249;
    cfg->session_versions = 3;
    cfg->max_tsdu = 16u << 20;
    cfg->max_output = 64u << 20;
    cfg->log.max_level = X400_LOG_INFO;   /* the memset leaves the 1988 stack (X400_MODE_NORMAL) */
    for (int i = 0; i < 3; i++) {
        cfg->contexts[i].id = 2 * i + 1;
        cfg->contexts[i].abstract_syntax = ctx_as[i];
    }
    cfg->ncontexts = 3;
    cfg->user_info_context = 3;
    cfg->application_context = mts_transfer;
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

int x400i_assoc_finished(const x400_assoc *a) { return finished(a); }

int x400i_assoc_up(x400_assoc *a, const x400i_rtse_lind *l)
{
    return a->up.indication ? a->up.indication(a->up.user, a, l) : 0;
}

int x400i_assoc_established(x400_assoc *a) { return established(a); }

int x400i_assoc_answered(x400_assoc *a, int accept, int rv)
{
    if (rv < 0) return rv;
    if (accept) return established(a);
    x400i_diag_set(&a->diag, X400_LAYER_ACSE, X400_SOURCE_LOCAL, X400_ERR_REFUSED, 0,
                   "association rejected by this side");
    set_final(a, X400_ASSOC_CLOSED, X400_ASSOC_EV_REFUSED, &a->diag);
    return X400_OK;
}

void x400i_assoc_releasing(x400_assoc *a) { a->state = X400_ASSOC_RELEASING; }

void x400i_assoc_released(x400_assoc *a)
{
    set_final(a, X400_ASSOC_CLOSED, X400_ASSOC_EV_RELEASED, NULL);
}

void x400i_assoc_refused(x400_assoc *a, const x400_diag *d)
{
    set_final(a, X400_ASSOC_CLOSED, X400_ASSOC_EV_REFUSED, d ? d : &a->diag);
}

void x400i_assoc_aborted(x400_assoc *a, const x400_diag *d)
{
    set_final(a, X400_ASSOC_ABORTED, X400_ASSOC_EV_ABORTED, d ? d : &a->diag);
}

/* A-ABORT (or S-U-ABORT) went out from here: the connection is over. */
int x400i_assoc_aborted_here(x400_assoc *a, int rv)
{
    x400i_diag_set(&a->diag, X400_LAYER_ACSE, X400_SOURCE_LOCAL, X400_ERR_ABORTED, 0,
                   "A-ABORT requested locally");
    if (x400i_tp_is_open(a->tp)) x400i_tp_disconnect(a->tp, 128);
    set_final(a, X400_ASSOC_ABORTED, X400_ASSOC_EV_ABORTED, &a->diag);
    return rv < 0 ? rv : X400_OK;
}

static void ref_of(x400i_rtse_ref *r, const x400i_ses_ind *si)
{
    memset(r, 0, sizeof *r);
    if (!si) return;
    r->calling_len = si->calling_ref.len < sizeof r->calling ? si->calling_ref.len : sizeof r->calling;
    if (r->calling_len) memcpy(r->calling, si->calling_ref.p, r->calling_len);
    r->common_len = si->common_ref.len < sizeof r->common ? si->common_ref.len : sizeof r->common;
    if (r->common_len) memcpy(r->common, si->common_ref.p, r->common_len);
    r->add_len = si->add_ref.len < sizeof r->add ? si->add_ref.len : sizeof r->add;
    if (r->add_len) memcpy(r->add, si->add_ref.p, r->add_len);
}

void x400i_assoc_conn_facts(x400_assoc *a, const x400i_ses_ind *si, x400i_rtse_lind *l,
                            x400i_rtse_ref *ref)
{
    /* the turn is the data token (RTSE holds all three together) */
    if (si && si->type == X400I_SES_CONNECT_IND)
        l->turn = (si->tokens & X400I_TOKEN_DATA) != 0;
    else
        l->turn = (x400i_ses_tokens_held(a->ses) & X400I_TOKEN_DATA) != 0;
    ref_of(ref, si);
    l->ref = ref;
}

void x400i_assoc_old_conn(x400i_ses_old_conn *oc, const x400i_rtse_ref *old)
{
    memset(oc, 0, sizeof *oc);
    if (!old) return;
    oc->calling_ref = old->calling_len ? old->calling : NULL;
    oc->calling_ref_len = old->calling_len;
    oc->common_ref = old->common_len ? old->common : NULL;
    oc->common_ref_len = old->common_len;
    oc->add_ref = old->add_len ? old->add : NULL;
    oc->add_ref_len = old->add_len;
}

void x400i_assoc_lind_of_ses(x400i_rtse_lind *l, const x400i_ses_ind *si)
{
    if (!si) return;
    l->serial = si->serial;
    l->reason = si->reason;
    l->id = si->activity_id.p;
    l->id_len = si->activity_id.len;
    l->old_id = si->old_activity_id.p;
    l->old_id_len = si->old_activity_id.len;
}

unsigned x400i_assoc_tokens_wanted(const x400_assoc *a)
{
    const unsigned all = X400I_TOKEN_DATA | X400I_TOKEN_MINOR | X400I_TOKEN_MAJOR;
    return all & ~(unsigned)x400i_ses_tokens_held(a->ses);
}

int x400i_assoc_give_up(x400_assoc *a, const x400i_ses_ind *si)
{
    x400i_rtse_lind l;
    x400_diag d;
    x400i_diag_set(&d, X400_LAYER_RTSE, X400_SOURCE_PEER, X400_ERR_PROTOCOL, si ? si->reason : 0,
                   "exception report on an RTSE connection");
    (void)x400i_assoc_abort_req(a, NULL, 0);
    memset(&l, 0, sizeof l);
    l.type = X400I_RTSE_LIND_P_ABORT;
    l.diag = &d;
    return x400i_assoc_up(a, &l);
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

/* Start the adapter chosen for this association. */
static int choose(x400_assoc *a, const x400i_assoc_adapter *ad)
{
    a->adapter = ad;
    return ad->start(a);
}

/* Every session indication goes to the adapter.  A responder chooses it at
 * the S-CONNECT indication, from the user data (an X.410-1984 CP or a
 * normal CP-type): the one place a responder learns which stack its
 * connection runs. */
static int ses_indication(void *u, const x400i_ses_ind *ind)
{
    x400_assoc *a = u;
    int rv;
    if (ind->type == X400I_SES_CONNECT_IND) a->state = X400_ASSOC_CONNECTING;
    if (!a->adapter) {
        rv = choose(a, ind->type == X400I_SES_CONNECT_IND &&
                               x400i_rtse_ses_takes(ind->user_data, ind->user_data_len)
                           ? &x400i_rtse_ses_adapter
                           : &x400i_rtse_pres_adapter);
        if (rv < 0) return rv;
    }
    return a->adapter->ses_ind(a, ind);
}

int x400i_assoc_inject_ses_ind(x400_assoc *a, const x400i_ses_ind *ind)
{
    return ses_indication(a, ind);
}

/* ---- requests: through the adapter ---- */

const x400i_rtse_lower *x400i_assoc_lower(const x400_assoc *a)
{
    return a && a->adapter ? &a->adapter->lower : NULL;
}

static int no_adapter(x400_assoc *a, const char *what)
{
    return x400i_diag_set(&a->diag, X400_LAYER_ACSE, X400_SOURCE_LOCAL, X400_ERR_STATE, 0,
                          "%s before the connection exists", what);
}

#define LOWER(a, what) \
    if (!(a)) return X400_ERR_INVALID_ARG; \
    if (!(a)->adapter) return no_adapter((a), what)

int x400i_assoc_associate_req(x400_assoc *a, const uint8_t *ui, size_t ui_len)
{
    LOWER(a, "A-ASSOCIATE request");
    if (!ui && ui_len) return X400_ERR_INVALID_ARG;
    return a->adapter->lower.connect_req(a, 1, ui, ui_len);
}

int x400i_assoc_associate_rsp(x400_assoc *a, int accept, const uint8_t *ui, size_t ui_len)
{
    LOWER(a, "A-ASSOCIATE response");
    if (!ui && ui_len) return X400_ERR_INVALID_ARG;
    return a->adapter->lower.connect_rsp(a, accept, ui, ui_len);
}

int x400i_assoc_data_req(x400_assoc *a, const uint8_t *apdu, size_t len)
{
    LOWER(a, "P-DATA request");
    if (!apdu || !len) return X400_ERR_INVALID_ARG;
    return a->adapter->lower.data_req(a, apdu, len);
}

int x400i_assoc_release_req(x400_assoc *a)
{
    LOWER(a, "A-RELEASE request");
    return a->adapter->lower.release_req(a);
}

int x400i_assoc_release_rsp(x400_assoc *a)
{
    LOWER(a, "A-RELEASE response");
    return a->adapter->lower.release_rsp(a);
}

int x400i_assoc_abort_req(x400_assoc *a, const uint8_t *ui, size_t ui_len)
{
    if (!a || (!ui && ui_len)) return X400_ERR_INVALID_ARG;
    if (finished(a)) return X400_OK;
    if (!a->adapter)   /* no connection yet: a bare S-U-ABORT */
        return x400i_assoc_aborted_here(a, x400i_ses_u_abort_req(a->ses, NULL, 0));
    return a->adapter->lower.u_abort_req(a, ui, ui_len);
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
    const x400i_assoc_adapter *ad = x400i_rtse_adapter_configured(cfg);
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
        cfg->ncontexts > X400_PCTX_MAX || !ad)
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

    rv = x400i_tp_new(&a->tp, initiator, &tc, &tcb, alloc, &a->cfg.log);
    if (rv >= 0) rv = x400i_ses_new(&a->ses, initiator, &sc, &scb, alloc, &a->cfg.log);
    /* the initiator's adapter is its configuration's; a responder's waits
     * for the first S-CONNECT indication (ses_indication) */
    if (rv >= 0 && initiator) rv = choose(a, ad);
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
    if (a->adapter) a->adapter->stop(a);
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
    x400i_rtse_lind l;
    memset(&l, 0, sizeof l);
    l.type = X400I_RTSE_LIND_P_ABORT;
    l.diag = &a->diag;
    (void)x400i_assoc_up(a, &l);
    set_final(a, X400_ASSOC_ABORTED, X400_ASSOC_EV_ABORTED, &a->diag);
}

x400_assoc_state x400_assoc_get_state(const x400_assoc *a)
{
    return a ? a->state : X400_ASSOC_ABORTED;
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

x400i_ses *x400i_assoc_session(x400_assoc *a) { return a->ses; }
x400i_tp *x400i_assoc_transport(x400_assoc *a) { return a->tp; }

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
