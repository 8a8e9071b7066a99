/*
 * RTSE's lower adapter for normal (1988) mode (ISODE's rt2ps): RTSE over
 * presentation and ACSE on one association (lib/assoc_int.h).
 *
 *  RTORQ / RTOAC / RTORJ   AARQ / AARE user-information (EXTERNAL on the
 *                          user_info_context), built by lib/acse.c
 *  RTTR, RTTP              one P-DATA / P-TOKEN-PLEASE PDV, single-ASN1-
 *                          type on the id-as-mta-rtse context
 *  RTAB                    ABRT user-information in ARU
 *  the rest                the presentation pass-through services
 *
 * Presentation indications become x400i_rtse_lind here, with the ACSE
 * protocol actions of lib/acse.c (x400i_acpm_*) on the way.
 */
#include <string.h>

#include "acse.h"
#include "assoc_int.h"
#include "internal.h"

/* id-as-mta-rtse, X.419 (the abstract syntax of RTSE APDUs in normal mode) */
static const uint32_t as_mta_rtse[] = { 2, 6, 0, 2, 12 };

typedef struct above {
    x400i_pres *pres;
    x400i_acpm acpm;            /* ACSE protocol actions (lib/acse.c) */
    const x400i_acse_apdu *in;  /* the ACSE APDU under the indication being delivered */
} above;

#define ABOVE(a) ((above *)(a)->above)

/* The presentation machine refused a request: its diagnostic is the one. */
static int layer_err(x400_assoc *a, int rv)
{
    const x400_diag *pd = x400i_pres_diag(ABOVE(a)->pres);
    if (pd->code) a->diag = *pd;
    return rv;
}

static int rtse_ctx(const x400_assoc *a)
{
    return x400i_assoc_context_id(a, as_mta_rtse, X400I_ARRAY_LEN(as_mta_rtse));
}

/* One RTSE APDU as one PDV: single-ASN1-type on the id-as-mta-rtse context. */
static int apdu_pdv(const x400_assoc *a, const uint8_t *apdu, size_t len, x400i_pdv *pdv)
{
    pdv->encoding = X400I_PDV_SINGLE;
    pdv->v = apdu;
    pdv->len = len;
    pdv->ctx = rtse_ctx(a);
    return pdv->ctx < 0 ? -1 : 0;
}

/* ---- requests (RTSE's lower interface, user = the association) ---- */

#define A(u) x400_assoc *a = (u)
#define PRES(a) (ABOVE(a)->pres)
#define CHECKED(a, call) \
    do { int rv_ = (call); return rv_ < 0 ? layer_err((a), rv_) : rv_; } while (0)

/* A-ASSOCIATE request (RT-OPEN): RTSE's initial turn becomes the session
 * Token Setting Item of the CN -- every token on the initiator's side
 * (0x00) or the responder's (0x55) -- and the RTORQ the AARQ's user
 * information. */
static int l_connect_req(void *u, int turn_to_initiator, const uint8_t *apdu, size_t len)
{
    A(u);
    int rv = x400i_ses_set_token_setting(a->ses, turn_to_initiator ? 0x00 : 0x55);
    return rv < 0 ? rv : x400i_acpm_associate_req(&ABOVE(a)->acpm, apdu, len);
}

/* A-ASSOCIATE response: AARE+ with the RTOAC in CPA, AARE- with the RTORJ
 * in CPR. */
static int l_connect_rsp(void *u, int accept, const uint8_t *apdu, size_t len)
{
    A(u);
    return x400i_assoc_answered(a, accept, x400i_acpm_associate_rsp(&ABOVE(a)->acpm, accept, apdu, len));
}

/* P-DATA carrying one RTTR. */
static int l_data_req(void *u, const uint8_t *apdu, size_t len)
{
    x400i_pdv pdv;
    A(u);
    if (apdu_pdv(a, apdu, len, &pdv) < 0) return -1;
    CHECKED(a, x400i_pres_data_req(PRES(a), &pdv, 1));
}

static int l_minor_req(void *u, uint32_t *serial)
{
    A(u);
    CHECKED(a, x400i_pres_minor_sync_req(PRES(a), 1, NULL, 0, serial));  /* P-SYNC-MINOR, X.226 7.12 */
}

static int l_minor_rsp(void *u, uint32_t serial)
{
    A(u);
    CHECKED(a, x400i_pres_minor_sync_rsp(PRES(a), serial, NULL, 0));
}

static int l_act_start(void *u, const uint8_t *id, size_t id_len)
{
    A(u);
    CHECKED(a, x400i_pres_activity_start_req(PRES(a), id, id_len, NULL, 0));  /* P-ACTIVITY-START */
}

static int l_act_resume(void *u, const uint8_t *id, size_t id_len, const uint8_t *old_id,
                        size_t old_len, uint32_t serial, const x400i_rtse_ref *old)
{
    x400i_ses_old_conn oc;
    A(u);
    x400i_assoc_old_conn(&oc, old);
    /* P-ACTIVITY-RESUME, X.226 7.16 / S-ACTIVITY-RESUME, X.225 7.28 */
    CHECKED(a, x400i_pres_activity_resume_req(PRES(a), id, id_len, old_id, old_len, serial,
                                              old ? &oc : NULL, NULL, 0));
}

static int l_discard_rsp(void *u)
{
    A(u);
    CHECKED(a, x400i_pres_activity_discard_rsp(PRES(a)));
}

static int l_interrupt_rsp(void *u)
{
    A(u);
    CHECKED(a, x400i_pres_activity_interrupt_rsp(PRES(a)));
}

static int l_u_exception(void *u, int reason)
{
    A(u);
    CHECKED(a, x400i_pres_u_exception_req(PRES(a), reason, NULL, 0));  /* P-U-EXCEPTION-REPORT, X.226 7.18 */
}

static int l_discard_req(void *u, int reason)
{
    A(u);
    CHECKED(a, x400i_pres_activity_discard_req(PRES(a), reason));  /* P-ACTIVITY-DISCARD, X.226 7.19 */
}

static int l_end_req(void *u, uint32_t *serial)
{
    A(u);
    CHECKED(a, x400i_pres_activity_end_req(PRES(a), NULL, 0, serial));  /* P-ACTIVITY-END */
}

static int l_end_rsp(void *u)
{
    A(u);
    CHECKED(a, x400i_pres_activity_end_rsp(PRES(a), NULL, 0));
}

/* P-TOKEN-PLEASE with the RTTP as user data (RT-TURN-PLEASE, X.228 9.6) */
static int l_please(void *u, const uint8_t *apdu, size_t len)
{
    x400i_pdv pdv;
    unsigned want;
    A(u);
    want = x400i_assoc_tokens_wanted(a);
    if (!want || apdu_pdv(a, apdu, len, &pdv) < 0) return -1;
    CHECKED(a, x400i_pres_token_please_req(PRES(a), want, &pdv, len ? 1 : 0));
}

static int l_control_give(void *u)
{
    A(u);
    CHECKED(a, x400i_pres_control_give_req(PRES(a)));  /* P-CONTROL-GIVE (RT-TURN-GIVE) */
}

/* A-RELEASE request / response: RLRQ / RLRE in P-RELEASE (RT-CLOSE). */
static int l_release_req(void *u)
{
    A(u);
    int rv = x400i_acpm_release_req(&ABOVE(a)->acpm);
    if (rv >= 0) x400i_assoc_releasing(a);
    return rv < 0 ? rv : X400_OK;
}

static int l_release_rsp(void *u)
{
    A(u);
    int rv = x400i_acpm_release_rsp(&ABOVE(a)->acpm);
    if (rv >= 0) x400i_assoc_released(a);
    return rv < 0 ? rv : X400_OK;
}

/* A-ABORT with the RTAB (RT-U-ABORT); before the presentation connection
 * exists a bare S-U-ABORT. */
static int l_u_abort(void *u, const uint8_t *apdu, size_t len)
{
    A(u);
    int rv;
    if (x400i_assoc_finished(a)) return X400_OK;
    if (x400_pstate_check(x400i_pres_state(PRES(a)), X400_PEV_U_ABORT_REQ, NULL, NULL, NULL) < 0)
        rv = x400i_ses_u_abort_req(a->ses, NULL, 0);
    else
        rv = x400i_acpm_abort_req(&ABOVE(a)->acpm, apdu, len);
    return x400i_assoc_aborted_here(a, rv);
}

/* ---- presentation -> RTSE ---- */

/* Up with the ACSE APDU it came in visible (x400i_assoc_acse_apdu). */
static int up_acse(x400_assoc *a, const x400i_rtse_lind *l, const x400i_acse_apdu *ap)
{
    int rv;
    ABOVE(a)->in = ap;
    rv = x400i_assoc_up(a, l);
    if (a->above) ABOVE(a)->in = NULL;
    return rv;
}

static int up_conn(x400_assoc *a, x400i_rtse_lind *l, const x400i_pres_ind *pi,
                   const x400i_acse_apdu *ap)
{
    x400i_rtse_ref ref;
    x400i_assoc_conn_facts(a, pi->ses, l, &ref);
    return up_acse(a, l, ap);
}

/* An ACSE protocol error after the presentation connection exists: ABRT
 * (source service-provider) in ARU, then the provider abort upward. */
static int acse_abort(x400_assoc *a)
{
    x400i_rtse_lind l;
    x400i_acpm_provider_abort(&ABOVE(a)->acpm);
    memset(&l, 0, sizeof l);
    l.type = X400I_RTSE_LIND_P_ABORT;
    l.diag = &a->diag;
    (void)x400i_assoc_up(a, &l);
    x400i_assoc_aborted(a, NULL);
    return a->diag.code < 0 ? a->diag.code : X400_ERR_PROTOCOL;
}

/* P-CONNECT indication (responder): the AARQ with the RTORQ. */
static int on_connect_ind(x400_assoc *a, const x400i_pres_ind *pi)
{
    x400i_rtse_lind l;
    x400i_acse_apdu ap;
    int rv = x400i_acpm_aarq_in(&ABOVE(a)->acpm, pi, &ap);
    if (rv == X400_ERR_REFUSED) {
        x400i_acse_release(&ap);
        x400i_assoc_refused(a, NULL);
        return X400_OK;
    }
    if (rv < 0) {
        x400i_acse_release(&ap);
        x400i_assoc_aborted(a, NULL);
        return rv;
    }
    memset(&l, 0, sizeof l);
    l.type = X400I_RTSE_LIND_CONNECT;
    l.mode = X400I_RTSE_MODE_NORMAL;
    x400i_acse_user_apdu(&ap, &l.apdu, &l.apdu_len);
    if (a->up.indication)
        rv = up_conn(a, &l, pi, &ap);
    else
        rv = x400i_assoc_associate_rsp(a, 1, NULL, 0);
    x400i_acse_release(&ap);
    return rv;
}

/* P-CONNECT confirm (initiator): AARE in CPA (accepted) or CPR (refused). */
static int on_connect_conf(x400_assoc *a, const x400i_pres_ind *pi)
{
    x400i_rtse_lind l;
    x400i_acse_apdu ap;
    int rv, have;
    memset(&l, 0, sizeof l);
    l.type = X400I_RTSE_LIND_CONNECT_CONF;
    l.accepted = pi->accepted;
    x400i_acse_init(&ap, 0);
    rv = x400i_acpm_aare_in(&ABOVE(a)->acpm, pi, &ap, &l.accepted);
    if (rv < 0) {
        x400i_acse_release(&ap);
        if (pi->accepted) return acse_abort(a);
        x400i_assoc_refused(a, NULL);
        return X400_OK;
    }
    have = rv;
    if (have) x400i_acse_user_apdu(&ap, &l.apdu, &l.apdu_len);
    if (!l.accepted) {
        if (!have && pi->diag) a->diag = *pi->diag;
        l.diag = &a->diag;
        rv = up_conn(a, &l, pi, &ap);
        x400i_acse_release(&ap);
        x400i_assoc_refused(a, NULL);
        return rv < 0 ? rv : X400_OK;
    }
    rv = up_conn(a, &l, pi, &ap);
    x400i_acse_release(&ap);
    if (rv < 0) return rv;
    return x400i_assoc_established(a);
}

/* P-RELEASE indication (RLRQ) / confirm (RLRE). */
static int on_release(x400_assoc *a, const x400i_pres_ind *pi, int conf)
{
    x400i_rtse_lind l;
    x400i_acse_apdu ap;
    int rv;
    memset(&l, 0, sizeof l);
    l.type = conf ? X400I_RTSE_LIND_RELEASE_CONF : X400I_RTSE_LIND_RELEASE;
    x400i_acse_init(&ap, 0);
    rv = x400i_acpm_release_in(&ABOVE(a)->acpm, pi, &ap, conf);
    if (rv < 0) {
        x400i_acse_release(&ap);
        if (conf) {     /* released anyway: the session connection is gone */
            x400i_assoc_released(a);
            return X400_OK;
        }
        return acse_abort(a);
    }
    if (!conf) x400i_assoc_releasing(a);
    if (a->up.indication)
        rv = up_acse(a, &l, &ap);
    else
        rv = conf ? 0 : x400i_assoc_release_rsp(a);
    x400i_acse_release(&ap);
    if (conf) x400i_assoc_released(a);
    return rv;
}

/* P-U-ABORT (ABRT, the RTAB its user information) / P-P-ABORT. */
static int on_abort(x400_assoc *a, const x400i_pres_ind *pi)
{
    x400i_rtse_lind l;
    x400i_acse_apdu ap;
    memset(&l, 0, sizeof l);
    x400i_acse_init(&ap, 0);
    ABOVE(a)->acpm.state = X400I_ACSE_ST_IDLE;
    if (pi->ev == X400_PEV_U_ABORT_IND) {
        l.type = X400I_RTSE_LIND_U_ABORT;
        if (x400i_acpm_abrt_in(&ABOVE(a)->acpm, pi, &ap) == 1)
            x400i_acse_user_apdu(&ap, &l.apdu, &l.apdu_len);
    } else {
        l.type = X400I_RTSE_LIND_P_ABORT;
        if (pi->diag && pi->diag->code && !x400i_assoc_finished(a)) a->diag = *pi->diag;
    }
    l.diag = &a->diag;
    if (!x400i_assoc_finished(a)) (void)up_acse(a, &l, &ap);
    x400i_acse_release(&ap);
    x400i_assoc_aborted(a, NULL);
    return X400_OK;
}

/* Without an upper layer the adapter answers what must be answered. */
static int default_answer(x400_assoc *a, const x400i_pres_ind *pi)
{
    const x400i_ses_ind *s = pi->ses;
    switch (pi->ev) {
    case X400_PEV_SYNC_MINOR_IND:
        return s && s->confirm_required ? x400i_pres_minor_sync_rsp(PRES(a), s->serial, NULL, 0) : 0;
    case X400_PEV_ACT_END_IND: return x400i_pres_activity_end_rsp(PRES(a), NULL, 0);
    case X400_PEV_ACT_INTERRUPT_IND: return x400i_pres_activity_interrupt_rsp(PRES(a));
    case X400_PEV_ACT_DISCARD_IND: return x400i_pres_activity_discard_rsp(PRES(a));
    default: return 0;
    }
}

/* Pass-through services by presentation event: 1 + the RTSE indication;
 * 0 not used by RTSE (ignored); EXC an exception report. */
#define EXC (X400I_RTSE_LIND_COUNT + 1)
static const uint8_t lind_of_pev[X400_PEV_P_EXCEPTION_IND + 1] = {
    [X400_PEV_DATA_IND] = 1 + X400I_RTSE_LIND_DATA,
    [X400_PEV_TOKEN_PLEASE_IND] = 1 + X400I_RTSE_LIND_TOKEN_PLEASE,
    [X400_PEV_CONTROL_GIVE_IND] = 1 + X400I_RTSE_LIND_CONTROL_GIVE,
    [X400_PEV_SYNC_MINOR_IND] = 1 + X400I_RTSE_LIND_MINOR_SYNC,
    [X400_PEV_SYNC_MINOR_CONF] = 1 + X400I_RTSE_LIND_MINOR_SYNC_CONF,
    [X400_PEV_ACT_START_IND] = 1 + X400I_RTSE_LIND_ACT_START,
    [X400_PEV_ACT_RESUME_IND] = 1 + X400I_RTSE_LIND_ACT_RESUME,
    [X400_PEV_ACT_INTERRUPT_IND] = 1 + X400I_RTSE_LIND_ACT_INTERRUPT,
    [X400_PEV_ACT_DISCARD_IND] = 1 + X400I_RTSE_LIND_ACT_DISCARD,
    [X400_PEV_ACT_END_IND] = 1 + X400I_RTSE_LIND_ACT_END,
    [X400_PEV_ACT_END_CONF] = 1 + X400I_RTSE_LIND_ACT_END_CONF,
    [X400_PEV_ACT_DISCARD_CONF] = 1 + X400I_RTSE_LIND_ACT_DISCARD_CONF,
    [X400_PEV_U_EXCEPTION_IND] = 1 + X400I_RTSE_LIND_U_EXCEPTION,
    [X400_PEV_P_EXCEPTION_IND] = EXC,
};

/* The one RTSE APDU of a P-DATA / P-TOKEN-PLEASE: exactly one PDV, single-
 * ASN1-type on the RTSE context.  Anything else is handed on empty: the
 * RTPM refuses it as an APDU that does not decode (RTAB). */
static void one_apdu(const x400_assoc *a, const x400i_pres_ind *pi, x400i_rtse_lind *l)
{
    if (pi->npdv != 1 || pi->pdv[0].encoding != X400I_PDV_SINGLE || pi->pdv[0].ctx != rtse_ctx(a))
        return;
    l->apdu = pi->pdv[0].v;
    l->apdu_len = pi->pdv[0].len;
}

static int pres_indication(void *u, const x400i_pres_ind *pi)
{
    x400_assoc *a = u;
    x400i_rtse_lind l;
    const x400i_ses_ind *si = pi->ses;
    int t;
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
    if (!a->up.indication) return default_answer(a, pi);
    t = (unsigned)pi->ev < X400I_ARRAY_LEN(lind_of_pev) ? lind_of_pev[pi->ev] : 0;
    if (t == 0) return 0;
    if (t == EXC) return x400i_assoc_give_up(a, si);
    memset(&l, 0, sizeof l);
    l.type = (x400i_rtse_lind_type)(t - 1);
    x400i_assoc_lind_of_ses(&l, si);
    if (l.type == X400I_RTSE_LIND_DATA || l.type == X400I_RTSE_LIND_TOKEN_PLEASE) one_apdu(a, pi, &l);
    return x400i_assoc_up(a, &l);
}

/* ---- the adapter ---- */

static int start(x400_assoc *a)
{
    above *ab;
    x400i_pres_config pc;
    x400i_pres_callbacks pcb;
    int rv;
    ab = x400i_calloc(a->alloc, 1, sizeof *ab);
    if (!ab) return X400_ERR_NOMEM;
    a->above = ab;
    memset(&pc, 0, sizeof pc);
    pc.calling_sel = a->cfg.calling_psel.len ? &a->cfg.calling_psel : NULL;
    pc.called_sel = a->cfg.called_psel.len ? &a->cfg.called_psel : NULL;
    pc.responding_sel = a->cfg.responding_psel.len ? &a->cfg.responding_psel : NULL;
    pc.ctx = a->pctx;
    pc.nctx = a->cfg.ncontexts;
    pc.max_pdu = a->cfg.max_tsdu;
    pcb.user = a;
    pcb.indication = pres_indication;
    rv = x400i_pres_new(&ab->pres, a->cfg.role == X400_ROLE_INITIATOR, &pc, a->ses, &pcb, a->alloc,
                        &a->cfg.log);
    if (rv >= 0)
        rv = x400i_acpm_init(&ab->acpm, ab->pres, &a->cfg, a->pctx, a->cfg.ncontexts, &a->diag,
                             a->alloc);
    return rv < 0 ? rv : X400_OK;
}

static void stop(x400_assoc *a)
{
    above *ab = ABOVE(a);
    if (!ab) return;
    x400i_pres_free(ab->pres);
    x400i_acpm_free(&ab->acpm);
    x400i_free(a->alloc, ab);
    a->above = NULL;
}

static int ses_ind(x400_assoc *a, const x400i_ses_ind *ind)
{
    return x400i_pres_ses_ind(PRES(a), ind);
}

const x400i_assoc_adapter x400i_rtse_pres_adapter = {
    "presentation + ACSE (normal)", start, stop, ses_ind,
    { NULL, l_connect_req, l_connect_rsp, l_data_req, l_minor_req, l_minor_rsp, l_act_start,
      l_act_resume, l_discard_rsp, l_interrupt_rsp, l_end_req, l_end_rsp, l_please, l_control_give,
      l_release_req, l_release_rsp, l_u_abort, l_u_exception, l_discard_req },
};

/* ---- what only a normal connection has ---- */

static int normal(const x400_assoc *a)
{
    return a && a->adapter == &x400i_rtse_pres_adapter && a->above;
}

int x400i_assoc_context_id(const x400_assoc *a, const uint32_t *arcs, size_t n)
{
    x400i_oidv o;
    if (!normal(a) || x400i_oidv_from_arcs(&o, arcs, n) < 0) return -1;
    return x400i_pres_context_id(ABOVE(a)->pres, &o);
}

x400i_pres *x400i_assoc_presentation(x400_assoc *a) { return normal(a) ? ABOVE(a)->pres : NULL; }

const x400i_acse_apdu *x400i_assoc_acse_apdu(const x400_assoc *a)
{
    return normal(a) ? ABOVE(a)->in : NULL;
}

int x400i_assoc_acse_state(const x400_assoc *a)
{
    return normal(a) ? ABOVE(a)->acpm.state : X400I_ACSE_ST_IDLE;
}
