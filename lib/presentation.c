/*
 * X.226 presentation protocol machine (kernel functional unit), over
 * lib/session.h; the PPDUs are built and parsed by lib/ppdu.c.  The
 * machine's transitions come from the public state checker
 * (lib/pstate.c); this file only carries out the actions.
 */
#include <string.h>

#include "presentation.h"

#define L X400_LAYER_PRESENTATION
#define TRY(x) do { int rv_ = (x); if (rv_ < 0) return rv_; } while (0)

/* ======================================================================
 * The presentation protocol machine
 * ====================================================================== */

struct x400i_pres {
    int initiator;
    x400_pstate state;
    x400i_ses *ses;
    x400i_pres_callbacks cb;
    const x400_allocator *alloc;
    x400_logger log;
    x400_diag diag;
    x400_selector sel[3];
    int has_sel[3];
    const x400i_pctx *cfg;            /* the configured contexts: the caller's array */
    size_t ncfg;
    x400i_pctx ctx[X400I_PCTX_MAX];   /* this connection's contexts, with results */
    size_t nctx;
    size_t max_pdu;
    x400i_buf out;
};

enum { SEL_CALLING, SEL_CALLED, SEL_RESPONDING };

int x400i_pres_new(x400i_pres **out, int initiator, const x400i_pres_config *cfg, x400i_ses *ses,
                   const x400i_pres_callbacks *cb, const x400_allocator *a, const x400_logger *log)
{
    x400i_pres *p;
    const x400_selector *sels[3];
    if (!out || !cfg || !ses || !cb || cfg->nctx > X400I_PCTX_MAX || (cfg->nctx && !cfg->ctx))
        return X400_ERR_INVALID_ARG;
    *out = NULL;
    a = x400i_alloc_or_default(a);
    p = x400i_calloc(a, 1, sizeof *p);
    if (!p) return X400_ERR_NOMEM;
    p->initiator = initiator ? 1 : 0;
    p->state = X400_PSTA01;
    p->ses = ses;
    p->cb = *cb;
    p->alloc = a;
    if (log) p->log = *log;
    sels[0] = cfg->calling_sel;
    sels[1] = cfg->called_sel;
    sels[2] = cfg->responding_sel;
    for (int i = 0; i < 3; i++)
        if (sels[i]) {
            if (sels[i]->len > X400_SELECTOR_MAX) {
                x400i_free(a, p);
                return X400_ERR_INVALID_ARG;
            }
            p->sel[i] = *sels[i];
            p->has_sel[i] = 1;
        }
    p->cfg = cfg->ctx;
    p->ncfg = cfg->nctx;
    p->max_pdu = cfg->max_pdu ? cfg->max_pdu : (16u << 20);
    x400i_buf_init(&p->out, a, p->max_pdu + 4096);
    *out = p;
    return X400_OK;
}

void x400i_pres_free(x400i_pres *p)
{
    if (!p) return;
    x400i_buf_free(&p->out);
    x400i_free(p->alloc, p);
}

x400_pstate x400i_pres_state(const x400i_pres *p) { return p->state; }
const x400_diag *x400i_pres_diag(const x400i_pres *p) { return &p->diag; }

const x400i_pctx *x400i_pres_context(const x400i_pres *p, int id)
{
    for (size_t i = 0; i < p->nctx; i++)
        if (p->ctx[i].id == id && p->ctx[i].result == 0) return &p->ctx[i];
    return NULL;
}

int x400i_pres_context_id(const x400i_pres *p, const x400i_oidv *as)
{
    for (size_t i = 0; i < p->nctx; i++)
        if (p->ctx[i].result == 0 && x400i_oidv_eq(&p->ctx[i].as, as)) return p->ctx[i].id;
    return -1;
}

static const x400_selector *sel(const x400i_pres *p, int i)
{
    return p->has_sel[i] ? &p->sel[i] : NULL;
}

/* ---- local events ---- */

static int check_local(x400i_pres *p, x400_pevent ev, x400_paction *act)
{
    x400_pstate next;
    int rv = x400_pstate_check(p->state, ev, &next, act, &p->diag);
    if (rv < 0) return rv;
    return (int)next;
}

/* Encode the user data of a session primitive into p->out. */
static int user_data(x400i_pres *p, const x400i_pdv *pdv, size_t n)
{
    x400i_buf_reset(&p->out);
    for (size_t i = 0; i < n; i++)
        if (!x400i_pres_context(p, pdv[i].ctx))
            return x400i_diag_set(&p->diag, L, X400_SOURCE_LOCAL, X400_ERR_INVALID_ARG, 0,
                                  "presentation: %s on presentation context %d, which is not "
                                  "defined and accepted", "user data", pdv[i].ctx);
    return x400i_ppdu_encode_user_data(&p->out, pdv, n);
}

static int enc_fail(x400i_pres *p, int rv, const char *what)
{
    if (p->diag.code == rv) return rv;
    return x400i_diag_set(&p->diag, L, X400_SOURCE_LOCAL, rv, 0, "presentation: cannot encode %s: %s",
                          what, x400_strerror(rv));
}

/* Run a session request with the encoded user data; the new state only
 * once the session accepted it. */
#define UD_OR_FAIL(what)                                      \
    do {                                                      \
        rv = user_data(p, pdv, n);                            \
        if (rv < 0) return enc_fail(p, rv, what);             \
    } while (0)

static int ses_result(x400i_pres *p, int rv, int next)
{
    if (rv < 0) {
        const x400_diag *sd = x400i_ses_diag(p->ses);
        if (sd->code) p->diag = *sd;
        return rv;
    }
    p->state = (x400_pstate)next;
    return X400_OK;
}

int x400i_pres_connect_req(x400i_pres *p, const x400i_pdv *pdv, size_t n)
{
    x400_paction act;
    x400i_cp_params cp;
    int next = check_local(p, X400_PEV_CONNECT_REQ, &act), rv;
    if (next < 0) return next;
    memset(&cp, 0, sizeof cp);
    cp.calling_sel = sel(p, SEL_CALLING);
    cp.called_sel = sel(p, SEL_CALLED);
    cp.ctx = p->cfg;
    cp.nctx = p->ncfg;
    cp.pdv = pdv;
    cp.npdv = n;
    cp.provider_reason = -1;
    for (size_t i = 0; i < n; i++) {
        int found = 0;
        for (size_t j = 0; j < p->ncfg; j++) found |= p->cfg[j].id == pdv[i].ctx;
        if (!found)
            return x400i_diag_set(&p->diag, L, X400_SOURCE_LOCAL, X400_ERR_INVALID_ARG, 0,
                                  "presentation: CP user data on context %d, not in the "
                                  "context definition list", pdv[i].ctx);
    }
    x400i_buf_reset(&p->out);
    rv = x400i_ppdu_encode_cp(&p->out, &cp);
    if (rv < 0) return enc_fail(p, rv, "CP-type");
    /* until the CPA says otherwise, every proposed context is pending */
    memcpy(p->ctx, p->cfg, p->ncfg * sizeof *p->ctx);
    p->nctx = p->ncfg;
    for (size_t i = 0; i < p->nctx; i++) p->ctx[i].result = 0;
    rv = x400i_ses_connect_req(p->ses, p->out.p, p->out.len);
    return ses_result(p, rv, next);
}

int x400i_pres_connect_rsp(x400i_pres *p, int accept, long provider_reason, const x400i_pdv *pdv,
                           size_t n)
{
    x400_paction act;
    x400i_cp_params cp;
    int next = check_local(p, accept ? X400_PEV_CONNECT_RSP_ACCEPT : X400_PEV_CONNECT_RSP_REFUSE,
                           &act), rv;
    if (next < 0) return next;
    memset(&cp, 0, sizeof cp);
    cp.responding_sel = sel(p, SEL_RESPONDING);
    cp.ctx = p->ctx;
    cp.nctx = p->nctx;
    cp.pdv = pdv;
    cp.npdv = n;
    cp.provider_reason = provider_reason;
    for (size_t i = 0; i < n; i++)
        if (!x400i_pres_context(p, pdv[i].ctx))
            return x400i_diag_set(&p->diag, L, X400_SOURCE_LOCAL, X400_ERR_INVALID_ARG, 0,
                                  "presentation: response user data on context %d, not accepted",
                                  pdv[i].ctx);
    x400i_buf_reset(&p->out);
    rv = accept ? x400i_ppdu_encode_cpa(&p->out, &cp) : x400i_ppdu_encode_cpr(&p->out, &cp);
    if (rv < 0) return enc_fail(p, rv, accept ? "CPA-PPDU" : "CPR-PPDU");
    if (accept)
        rv = x400i_ses_connect_rsp(p->ses, 1, 0, 0, p->out.p, p->out.len);
    else
        rv = x400i_ses_connect_rsp(p->ses, 0, 2 /* rejection by the SS-user, with data */, 0,
                                   p->out.p, p->out.len);
    return ses_result(p, rv, next);
}

int x400i_pres_data_req(x400i_pres *p, const x400i_pdv *pdv, size_t n)
{
    x400_paction act;
    int next = check_local(p, X400_PEV_DATA_REQ, &act), rv;
    if (next < 0) return next;
    if (n == 0) return X400_ERR_INVALID_ARG;
    UD_OR_FAIL("TD");
    rv = x400i_ses_data_req(p->ses, p->out.p, p->out.len);
    return ses_result(p, rv, next);
}

int x400i_pres_release_req(x400i_pres *p, const x400i_pdv *pdv, size_t n)
{
    x400_paction act;
    int next = check_local(p, X400_PEV_RELEASE_REQ, &act), rv;
    if (next < 0) return next;
    UD_OR_FAIL("P-RELEASE user data");
    rv = x400i_ses_release_req(p->ses, p->out.p, p->out.len);
    return ses_result(p, rv, next);
}

int x400i_pres_release_rsp(x400i_pres *p, const x400i_pdv *pdv, size_t n)
{
    x400_paction act;
    int next = check_local(p, X400_PEV_RELEASE_RSP, &act), rv;
    if (next < 0) return next;
    UD_OR_FAIL("P-RELEASE user data");
    rv = x400i_ses_release_rsp(p->ses, p->out.p, p->out.len);
    return ses_result(p, rv, next);
}

int x400i_pres_u_abort_req(x400i_pres *p, const x400i_pdv *pdv, size_t n)
{
    x400_paction act;
    int next = check_local(p, X400_PEV_U_ABORT_REQ, &act), rv;
    if (next < 0) return next;
    x400i_buf_reset(&p->out);
    for (size_t i = 0; i < n; i++)
        if (!x400i_pres_context(p, pdv[i].ctx)) { n = 0; break; }  /* an abort still goes out */
    rv = x400i_ppdu_encode_aru(&p->out, pdv, n);
    if (rv < 0) return enc_fail(p, rv, "ARU-PPDU");
    rv = x400i_ses_u_abort_req(p->ses, p->out.p, p->out.len);
    p->state = (x400_pstate)next;     /* aborted whatever the session said */
    return rv < 0 ? ses_result(p, rv, next) : X400_OK;
}

/* Pass-through services (X.226 7.9-7.17 map one to one onto session). */
#define PASS(ev, call)                                        \
    x400_paction act;                                         \
    int next = check_local(p, ev, &act), rv;                  \
    if (next < 0) return next;                                \
    rv = (call);                                              \
    return ses_result(p, rv, next)
#define PASS_UD(ev, what, call)                               \
    x400_paction act;                                         \
    int next = check_local(p, ev, &act), rv;                  \
    if (next < 0) return next;                                \
    UD_OR_FAIL(what);                                         \
    rv = (call);                                              \
    return ses_result(p, rv, next)

int x400i_pres_token_give_req(x400i_pres *p, unsigned tokens)
{
    PASS(X400_PEV_TOKEN_GIVE_REQ, x400i_ses_token_give_req(p->ses, tokens));
}
int x400i_pres_token_please_req(x400i_pres *p, unsigned tokens, const x400i_pdv *pdv, size_t n)
{
    PASS_UD(X400_PEV_TOKEN_PLEASE_REQ, "P-TOKEN-PLEASE user data",
            x400i_ses_token_please_req(p->ses, tokens, p->out.p, p->out.len));
}
int x400i_pres_control_give_req(x400i_pres *p)
{
    PASS(X400_PEV_CONTROL_GIVE_REQ, x400i_ses_control_give_req(p->ses));
}
int x400i_pres_minor_sync_req(x400i_pres *p, int confirm, const x400i_pdv *pdv, size_t n,
                              uint32_t *serial)
{
    PASS_UD(X400_PEV_SYNC_MINOR_REQ, "P-SYNC-MINOR user data",
            x400i_ses_minor_sync_req(p->ses, confirm, p->out.p, p->out.len, serial));
}
int x400i_pres_minor_sync_rsp(x400i_pres *p, uint32_t serial, const x400i_pdv *pdv, size_t n)
{
    PASS_UD(X400_PEV_SYNC_MINOR_RSP, "P-SYNC-MINOR user data",
            x400i_ses_minor_sync_rsp(p->ses, serial, p->out.p, p->out.len));
}
int x400i_pres_activity_start_req(x400i_pres *p, const uint8_t *id, size_t id_len,
                                  const x400i_pdv *pdv, size_t n)
{
    PASS_UD(X400_PEV_ACT_START_REQ, "P-ACTIVITY-START user data",
            x400i_ses_activity_start_req(p->ses, id, id_len, p->out.p, p->out.len));
}
int x400i_pres_activity_resume_req(x400i_pres *p, const uint8_t *id, size_t id_len,
                                   const uint8_t *old_id, size_t old_len, uint32_t serial,
                                   const x400i_ses_old_conn *old_conn, const x400i_pdv *pdv,
                                   size_t n)
{
    PASS_UD(X400_PEV_ACT_RESUME_REQ, "P-ACTIVITY-RESUME user data",
            x400i_ses_activity_resume_req(p->ses, id, id_len, old_id, old_len, serial, old_conn,
                                          p->out.p, p->out.len));
}
int x400i_pres_activity_interrupt_req(x400i_pres *p, int reason)
{
    PASS(X400_PEV_ACT_INTERRUPT_REQ, x400i_ses_activity_interrupt_req(p->ses, reason));
}
int x400i_pres_activity_interrupt_rsp(x400i_pres *p)
{
    PASS(X400_PEV_ACT_INTERRUPT_RSP, x400i_ses_activity_interrupt_rsp(p->ses));
}
int x400i_pres_activity_discard_req(x400i_pres *p, int reason)
{
    PASS(X400_PEV_ACT_DISCARD_REQ, x400i_ses_activity_discard_req(p->ses, reason));
}
int x400i_pres_activity_discard_rsp(x400i_pres *p)
{
    PASS(X400_PEV_ACT_DISCARD_RSP, x400i_ses_activity_discard_rsp(p->ses));
}
int x400i_pres_activity_end_req(x400i_pres *p, const x400i_pdv *pdv, size_t n, uint32_t *serial)
{
    PASS_UD(X400_PEV_ACT_END_REQ, "P-ACTIVITY-END user data",
            x400i_ses_activity_end_req(p->ses, p->out.p, p->out.len, serial));
}
int x400i_pres_activity_end_rsp(x400i_pres *p, const x400i_pdv *pdv, size_t n)
{
    PASS_UD(X400_PEV_ACT_END_RSP, "P-ACTIVITY-END user data",
            x400i_ses_activity_end_rsp(p->ses, p->out.p, p->out.len));
}
int x400i_pres_u_exception_req(x400i_pres *p, int reason, const x400i_pdv *pdv, size_t n)
{
    PASS_UD(X400_PEV_U_EXCEPTION_REQ, "P-U-EXCEPTION-REPORT user data",
            x400i_ses_u_exception_req(p->ses, reason, p->out.p, p->out.len));
}

/* ---- incoming events ---- */

static int deliver(x400i_pres *p, x400i_pres_ind *ind)
{
    return p->cb.indication ? p->cb.indication(p->cb.user, ind) : 0;
}

/* A refused or malformed incoming event: ARP-PPDU (abort reason, event
 * identifier) in S-U-ABORT, then P-P-ABORT indication with the diagnostic
 * already in p->diag.  A bad CP is answered with CPR instead. */
static int fail_incoming(x400i_pres *p, x400_pevent ev, const x400i_ses_ind *sind)
{
    x400i_pres_ind up;
    int reason = p->diag.reason, evid = -1, sst = x400i_ses_state(p->ses), rv;
    (void)x400_pevent_arp(ev, NULL, &evid);
    if (reason <= 0) reason = 0;
    x400i_buf_reset(&p->out);
    if (sst == X400I_SES_ST_WAIT_CONNECT_RSP) {
        x400i_cp_params cp;
        memset(&cp, 0, sizeof cp);
        cp.provider_reason = p->diag.code == X400_ERR_UNSUPPORTED && p->diag.reason == 4 ? 4 : 6;
        if (x400i_ppdu_encode_cpr(&p->out, &cp) >= 0)
            (void)x400i_ses_connect_rsp(p->ses, 0, 2, 0, p->out.p, p->out.len);
    } else if (sst != X400I_SES_ST_IDLE && sst != X400I_SES_ST_CLOSED) {
        rv = x400i_ppdu_encode_arp(&p->out, reason, evid);
        if (rv >= 0) (void)x400i_ses_u_abort_req(p->ses, p->out.p, p->out.len);
    }
    x400i_log(&p->log, X400_LOG_NOTICE, L, "%s", p->diag.text);
    p->state = X400_PSTA01;
    memset(&up, 0, sizeof up);
    up.ev = X400_PEV_P_ABORT_IND;
    up.ses = sind;
    up.diag = &p->diag;
    (void)deliver(p, &up);
    return p->diag.code < 0 ? (p->diag.code == X400_ERR_STATE ? X400_ERR_PROTOCOL : p->diag.code)
                            : X400_ERR_PROTOCOL;
}

static x400_pevent ses_event(const x400i_ses_ind *ind)
{
    switch (ind->type) {
    case X400I_SES_CONNECT_IND: return X400_PEV_CONNECT_IND;
    case X400I_SES_CONNECT_CONF:
        return ind->accepted ? X400_PEV_CONNECT_CONF_ACCEPT : X400_PEV_CONNECT_CONF_REFUSE;
    case X400I_SES_DATA_IND: return X400_PEV_DATA_IND;
    case X400I_SES_TOKEN_GIVE_IND: return X400_PEV_TOKEN_GIVE_IND;
    case X400I_SES_TOKEN_PLEASE_IND: return X400_PEV_TOKEN_PLEASE_IND;
    case X400I_SES_MINOR_SYNC_IND: return X400_PEV_SYNC_MINOR_IND;
    case X400I_SES_MINOR_SYNC_CONF: return X400_PEV_SYNC_MINOR_CONF;
    case X400I_SES_ACT_START_IND: return X400_PEV_ACT_START_IND;
    case X400I_SES_ACT_RESUME_IND: return X400_PEV_ACT_RESUME_IND;
    case X400I_SES_ACT_INTERRUPT_IND: return X400_PEV_ACT_INTERRUPT_IND;
    case X400I_SES_ACT_INTERRUPT_CONF: return X400_PEV_ACT_INTERRUPT_CONF;
    case X400I_SES_ACT_DISCARD_IND: return X400_PEV_ACT_DISCARD_IND;
    case X400I_SES_ACT_DISCARD_CONF: return X400_PEV_ACT_DISCARD_CONF;
    case X400I_SES_ACT_END_IND: return X400_PEV_ACT_END_IND;
    case X400I_SES_ACT_END_CONF: return X400_PEV_ACT_END_CONF;
    case X400I_SES_RELEASE_IND: return X400_PEV_RELEASE_IND;
    case X400I_SES_RELEASE_CONF: return X400_PEV_RELEASE_CONF;
    case X400I_SES_U_ABORT_IND: return X400_PEV_U_ABORT_IND;   /* ARP decides below */
    case X400I_SES_P_ABORT_IND: return X400_PEV_P_ABORT_IND;
    case X400I_SES_U_EXCEPTION_IND: return X400_PEV_U_EXCEPTION_IND;
    case X400I_SES_P_EXCEPTION_IND: return X400_PEV_P_EXCEPTION_IND;
    case X400I_SES_CONTROL_GIVE_IND: return X400_PEV_CONTROL_GIVE_IND;
    }
    return X400_PEV_P_ABORT_IND;
}

/* Every PDV must name an accepted context (X.226 6.2.2). */
static int check_pdvs(x400i_pres *p, const x400i_ppdu *pp, const char *what)
{
    if (pp->simply_encoded)
        return x400i_diag_set(&p->diag, L, X400_SOURCE_PEER, X400_ERR_PROTOCOL, 6,
                              "presentation: %s as simply-encoded data although presentation "
                              "contexts are defined", what);
    for (size_t i = 0; i < pp->npdv; i++)
        if (!x400i_pres_context(p, pp->pdv[i].ctx))
            return x400i_diag_set(&p->diag, L, X400_SOURCE_PEER, X400_ERR_PROTOCOL, 6,
                                  "presentation: %s on unknown presentation context %d", what,
                                  pp->pdv[i].ctx);
    return X400_OK;
}

/* CP: decide each context (X.226 6.2.2.3) before the indication. */
static int take_cp(x400i_pres *p, const x400i_ppdu *pp)
{
    p->nctx = pp->nctx;
    for (size_t i = 0; i < pp->nctx; i++) {
        x400i_pctx *c = &p->ctx[i];
        int known = 0;
        *c = pp->ctx[i];
        for (size_t j = 0; j < p->ncfg; j++) known |= x400i_oidv_eq(&p->cfg[j].as, &c->as);
        if (!known) {
            c->result = 2;
            c->provider_reason = 1;     /* abstract-syntax-not-supported */
        } else if (!c->has_ts) {
            c->result = 2;
            c->provider_reason = 2;     /* proposed-transfer-syntaxes-not-supported */
        } else {
            c->result = 0;
            c->provider_reason = -1;
        }
    }
    for (size_t i = 0; i < pp->npdv; i++)
        if (!x400i_pres_context(p, pp->pdv[i].ctx)) {
            const char *why = "which the CP does not define";
            for (size_t j = 0; j < p->nctx; j++)
                if (p->ctx[j].id == pp->pdv[i].ctx)
                    why = p->ctx[j].provider_reason == 2
                              ? "whose transfer syntaxes do not include BER (2.1.1)"
                              : "whose abstract syntax is not supported";
            return x400i_diag_set(&p->diag, L, X400_SOURCE_PEER, X400_ERR_PROTOCOL, 6,
                                  "presentation: CP user data on context %d, %s", pp->pdv[i].ctx,
                                  why);
        }
    if (pp->simply_encoded && p->nctx)
        return check_pdvs(p, pp, "CP user data");
    return X400_OK;
}

/* CPA: the result list answers the definition list, item by item. */
static int take_cpa(x400i_pres *p, const x400i_ppdu *pp)
{
    if (pp->nctx != p->nctx)
        return x400i_diag_set(&p->diag, L, X400_SOURCE_PEER, X400_ERR_PROTOCOL, 6,
                              "presentation: CPA result list has %zu items for %zu proposed contexts",
                              pp->nctx, p->nctx);
    for (size_t i = 0; i < p->nctx; i++) {
        p->ctx[i].result = pp->ctx[i].result;
        p->ctx[i].provider_reason = pp->ctx[i].provider_reason;
        if (p->ctx[i].result == 0 && !pp->ctx[i].has_ts)
            return x400i_diag_set(&p->diag, L, X400_SOURCE_PEER, X400_ERR_PROTOCOL, 6,
                                  "presentation: CPA accepts context %d with a transfer syntax other "
                                  "than BER", p->ctx[i].id);
    }
    return check_pdvs(p, pp, "CPA user data");
}

int x400i_pres_ses_ind(x400i_pres *p, const x400i_ses_ind *sind)
{
    x400_pevent ev = ses_event(sind);
    x400_pstate next;
    x400_paction act;
    x400i_pres_ind up;
    x400i_ppdu pp;
    int rv, have_pp = 0, ptype = 0;

    memset(&up, 0, sizeof up);
    up.ses = sind;
    pp.asn = NULL;

    /* S-U-ABORT: ARU or ARP (X.226 8.5/8.6) -- decode first, it names the
     * event. */
    if (ev == X400_PEV_U_ABORT_IND) {
        if (sind->user_data_len) {
            rv = x400i_ppdu_decode(X400I_PPDU_ARU, sind->user_data, sind->user_data_len, &pp,
                                   p->alloc, X400I_PPDU_CONNECT_MAX, &p->diag);
            have_pp = 1;
            if (rv >= 0 && pp.type == X400I_PPDU_ARP) {
                ev = X400_PEV_P_ABORT_IND;
                x400i_diag_set(&p->diag, L, X400_SOURCE_PEER, X400_ERR_ABORTED, (int)pp.abort_reason,
                               "presentation: ARP-PPDU from peer (abort reason %ld, event %ld)",
                               pp.abort_reason, pp.event_id);
            } else if (rv >= 0) {
                rv = check_pdvs(p, &pp, "ARU user data");
                if (rv < 0) pp.npdv = 0;   /* an abort is an abort: user data dropped */
                x400i_diag_set(&p->diag, L, X400_SOURCE_PEER, X400_ERR_ABORTED, 0,
                               "presentation: P-U-ABORT (ARU-PPDU) from peer");
            } else {
                pp.npdv = 0;   /* unreadable ARU: still an abort */
                ev = X400_PEV_P_ABORT_IND;
            }
        } else {
            x400i_diag_set(&p->diag, L, X400_SOURCE_PEER, X400_ERR_ABORTED, 0,
                           "presentation: S-U-ABORT from peer");
        }
    } else if (ev == X400_PEV_P_ABORT_IND) {
        const x400_diag *sd = sind->diag ? sind->diag : x400i_ses_diag(p->ses);
        if (sd && sd->code) p->diag = *sd;
        else
            x400i_diag_set(&p->diag, X400_LAYER_SESSION, X400_SOURCE_PROVIDER, X400_ERR_ABORTED, 0,
                           "S-P-ABORT");
    }

    rv = x400_pstate_check(p->state, ev, &next, &act, &p->diag);
    if (rv < 0) {
        if (have_pp) x400i_ppdu_release(&pp);
        return fail_incoming(p, ev, sind);
    }
    up.ev = ev;

    /* decode the PPDU the event carries */
    if (!have_pp) {
        switch (ev) {
        case X400_PEV_CONNECT_IND: ptype = X400I_PPDU_CP; break;
        case X400_PEV_CONNECT_CONF_ACCEPT: ptype = X400I_PPDU_CPA; break;
        case X400_PEV_CONNECT_CONF_REFUSE: ptype = sind->user_data_len ? X400I_PPDU_CPR : 0; break;
        case X400_PEV_P_ABORT_IND:
        case X400_PEV_TOKEN_GIVE_IND:
        case X400_PEV_CONTROL_GIVE_IND:
        case X400_PEV_ACT_INTERRUPT_IND:
        case X400_PEV_ACT_INTERRUPT_CONF:
        case X400_PEV_ACT_DISCARD_IND:
        case X400_PEV_ACT_DISCARD_CONF:
        case X400_PEV_P_EXCEPTION_IND: ptype = 0; break;
        default: ptype = sind->user_data_len ? X400I_PPDU_TD : 0; break;
        }
    }
    if (ptype) {
        size_t max = ptype == X400I_PPDU_TD ? p->max_pdu : X400I_PPDU_CONNECT_MAX;
        if (ev == X400_PEV_CONNECT_CONF_ACCEPT && !sind->user_data_len) {
            x400i_diag_set(&p->diag, L, X400_SOURCE_PEER, X400_ERR_PROTOCOL, 1,
                           "presentation: session connection accepted without a CPA-PPDU");
            return fail_incoming(p, ev, sind);
        }
        if (ev == X400_PEV_CONNECT_IND && !sind->user_data_len) {
            x400i_diag_set(&p->diag, L, X400_SOURCE_PEER, X400_ERR_PROTOCOL, 1,
                           "presentation: S-CONNECT indication without a CP-type");
            return fail_incoming(p, ev, sind);
        }
        rv = x400i_ppdu_decode(ptype, sind->user_data, sind->user_data_len, &pp, p->alloc, max,
                               &p->diag);
        have_pp = 1;
        if (rv < 0) {
            x400i_ppdu_release(&pp);
            return fail_incoming(p, ev, sind);
        }
        if (ev == X400_PEV_CONNECT_IND) rv = take_cp(p, &pp);
        else if (ev == X400_PEV_CONNECT_CONF_ACCEPT) rv = take_cpa(p, &pp);
        else if (ptype == X400I_PPDU_TD || ptype == X400I_PPDU_CPR)
            rv = check_pdvs(p, &pp, x400_pevent_name(ev));
        if (rv < 0) {
            x400i_ppdu_release(&pp);
            return fail_incoming(p, ev, sind);
        }
    }
    if (have_pp) {
        up.pp = &pp;
        up.pdv = pp.pdv;
        up.npdv = pp.npdv;
    }
    if (ev == X400_PEV_CONNECT_CONF_ACCEPT) up.accepted = 1;
    if (ev == X400_PEV_CONNECT_CONF_REFUSE) {
        if (have_pp)
            x400i_diag_set(&p->diag, L, X400_SOURCE_PEER, X400_ERR_REFUSED, (int)pp.provider_reason,
                           "presentation: connection refused (CPR-PPDU, provider reason %ld)",
                           pp.provider_reason);
        else
            x400i_diag_set(&p->diag, X400_LAYER_SESSION, X400_SOURCE_PEER, X400_ERR_REFUSED,
                           sind->reason, "S-CONNECT refused by peer (RF reason %d)", sind->reason);
    }
    if (ev == X400_PEV_U_ABORT_IND || ev == X400_PEV_P_ABORT_IND || ev == X400_PEV_CONNECT_CONF_REFUSE)
        up.diag = &p->diag;
    p->state = next;
    rv = deliver(p, &up);
    if (have_pp) x400i_ppdu_release(&pp);
    return rv;
}
