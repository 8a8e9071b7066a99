/*
 * RTSE over the association (lib/rtse_assoc.h): every x400i_rtse_lower
 * service becomes an A-/P- request on the attached association, and every
 * x400i_au_ind becomes an x400i_rtse_lind for the RTPM.
 */
#include <string.h>

#include "internal.h"
#include "rtse_assoc.h"

#define RT_TOKENS (X400I_TOKEN_DATA | X400I_TOKEN_MINOR | X400I_TOKEN_MAJOR)

/* id-as-mta-rtse, X.419 (the abstract syntax of RTSE APDUs in normal mode) */
static const uint32_t as_mta_rtse[] = { 2, 6, 0, 2, 12 };

struct x400i_rtse_assoc {
    const x400_allocator *alloc;
    x400i_rtse *rt;
    x400i_rtse_assoc_hooks hooks;
    x400_assoc *a;          /* attached association, NULL when none / ended */
    int used;               /* a has carried (or is carrying) a connect attempt */
    int ready;              /* initiator: T-CONNECT confirmed (associate callback seen) */
    int have_pending;       /* an RTORQ waits for the T-CONNECT confirm */
    uint8_t *pending;
    size_t pending_len;
    uint8_t token_setting;  /* the CN's Token Setting Item (from RTSE's initial turn) */
    x400_logger log;
};

/* ---- attaching ----------------------------------------------------------- */

static void let_go(x400i_rtse_assoc *ra)
{
    if (ra->a) x400i_assoc_set_upper(ra->a, NULL);
    ra->a = NULL;
    ra->used = 0;
    ra->ready = 0;
}

static int rtse_ctx(x400_assoc *a)
{
    int c = x400i_assoc_context_id(a, as_mta_rtse, X400I_ARRAY_LEN(as_mta_rtse));
    return c;
}

/* One RTSE APDU as one PDV: normal mode single-ASN1-type on the
 * id-as-mta-rtse context; X.410-1984 mode the octets as they are. */
static int apdu_pdv(x400_assoc *a, const uint8_t *apdu, size_t len, x400i_pdv *pdv)
{
    pdv->encoding = X400I_PDV_SINGLE;
    pdv->v = apdu;
    pdv->len = len;
    pdv->ctx = 0;
    if (x400_assoc_get_mode(a) == X400_MODE_NORMAL) {
        pdv->ctx = rtse_ctx(a);
        if (pdv->ctx < 0) return -1;
    }
    return 0;
}

/* A-ASSOCIATE request with the waiting RTORQ. */
static int send_pending(x400i_rtse_assoc *ra)
{
    int rv;
    ra->have_pending = 0;
    rv = x400i_ses_set_token_setting(x400i_assoc_session(ra->a), ra->token_setting);
    if (rv >= 0) rv = x400i_assoc_associate_req(ra->a, ra->pending, ra->pending_len);
    x400i_free(ra->alloc, ra->pending);
    ra->pending = NULL;
    ra->pending_len = 0;
    return rv;
}

/* ---- the lower interface ---------------------------------------------------- */

#define LIVE(u, var) \
    x400i_rtse_assoc *var = (u); \
    if (!var->a) return -1

static int l_connect_req(void *user, int turn_to_initiator, const uint8_t *apdu, size_t len)
{
    x400i_rtse_assoc *ra = user;
    /* RTSE's initial turn becomes the session Token Setting Item of the CN:
     * every token on the initiator's side (0x00) or the responder's (0x55) */
    ra->token_setting = turn_to_initiator ? 0x00 : 0x55;
    if (ra->a && ra->used) {
        /* an old connection: never reused.  RTSE has given it up (a lower
         * service failed); if it is still open it is aborted, so that the
         * peer never takes it for working (nothing must answer for RTSE). */
        x400_assoc_state st = x400_assoc_get_state(ra->a);
        if (st == X400_ASSOC_CONNECTING || st == X400_ASSOC_ESTABLISHED || st == X400_ASSOC_RELEASING)
            (void)x400i_assoc_abort_req(ra->a, NULL, 0);
        let_go(ra);
    }
    x400i_free(ra->alloc, ra->pending);
    ra->pending = x400i_malloc(ra->alloc, len ? len : 1);
    if (!ra->pending) return X400_ERR_NOMEM;
    if (len) memcpy(ra->pending, apdu, len);
    ra->pending_len = len;
    ra->have_pending = 1;
    if (!ra->a) {
        if (!ra->hooks.need_assoc) return -1;
        if (ra->hooks.need_assoc(ra->hooks.user, ra) < 0) return -1;
    }
    if (ra->a) ra->used = 1;
    if (ra->a && ra->ready) return send_pending(ra);
    return X400_OK; /* sent from the associate callback */
}

static int l_connect_rsp(void *user, int accept, const uint8_t *apdu, size_t len)
{
    LIVE(user, ra);
    x400_assoc *a = ra->a;
    int rv = x400i_assoc_associate_rsp(a, accept, apdu, len);
    if (!accept || rv < 0) let_go(ra);
    return rv;
}

static int l_data_req(void *user, const uint8_t *apdu, size_t len)
{
    x400i_pdv pdv;
    LIVE(user, ra);
    if (apdu_pdv(ra->a, apdu, len, &pdv) < 0) return -1;
    return x400i_assoc_data_req(ra->a, &pdv, 1);
}

#define PRES(ra) x400i_assoc_presentation((ra)->a)

static int l_minor_req(void *user, uint32_t *serial)
{
    LIVE(user, ra);
    return x400i_pres_minor_sync_req(PRES(ra), 1, NULL, 0, serial);  /* P-SYNC-MINOR, X.226 */
}

static int l_minor_rsp(void *user, uint32_t serial)
{
    LIVE(user, ra);
    return x400i_pres_minor_sync_rsp(PRES(ra), serial, NULL, 0);
}

static int l_act_start(void *user, const uint8_t *id, size_t id_len)
{
    LIVE(user, ra);
    return x400i_pres_activity_start_req(PRES(ra), id, id_len, NULL, 0);  /* P-ACTIVITY-START */
}

static int l_act_resume(void *user, const uint8_t *id, size_t id_len, const uint8_t *old_id,
                        size_t old_len, uint32_t serial, const x400i_rtse_ref *old)
{
    x400i_ses_old_conn oc;
    LIVE(user, ra);
    memset(&oc, 0, sizeof oc);
    if (old) {
        oc.calling_ref = old->calling_len ? old->calling : NULL;
        oc.calling_ref_len = old->calling_len;
        oc.common_ref = old->common_len ? old->common : NULL;
        oc.common_ref_len = old->common_len;
        oc.add_ref = old->add_len ? old->add : NULL;
        oc.add_ref_len = old->add_len;
    }
    /* P-ACTIVITY-RESUME, X.226 / S-ACTIVITY-RESUME, X.225 7.28 */
    return x400i_pres_activity_resume_req(PRES(ra), id, id_len, old_id, old_len, serial,
                                          old ? &oc : NULL, NULL, 0);
}

static int l_discard_rsp(void *user)
{
    LIVE(user, ra);
    return x400i_pres_activity_discard_rsp(PRES(ra));
}

static int l_interrupt_rsp(void *user)
{
    LIVE(user, ra);
    return x400i_pres_activity_interrupt_rsp(PRES(ra));
}

static int l_end_req(void *user, uint32_t *serial)
{
    LIVE(user, ra);
    return x400i_pres_activity_end_req(PRES(ra), NULL, 0, serial);  /* P-ACTIVITY-END */
}

static int l_end_rsp(void *user)
{
    LIVE(user, ra);
    return x400i_pres_activity_end_rsp(PRES(ra), NULL, 0);
}

static int l_please(void *user, const uint8_t *apdu, size_t len)
{
    x400i_pdv pdv;
    unsigned want;
    int rv;
    LIVE(user, ra);
    want = RT_TOKENS & ~(unsigned)x400i_ses_tokens_held(x400i_assoc_session(ra->a));
    if (!want || apdu_pdv(ra->a, apdu, len, &pdv) < 0) return -1;
    /* P-TOKEN-PLEASE with the RTTP as user data (RT-TURN-PLEASE, X.228) */
    rv = x400i_pres_token_please_req(PRES(ra), want, &pdv, len ? 1 : 0);
    if (rv < 0)
        x400i_log(&ra->log, X400_LOG_NOTICE, X400_LAYER_RTSE, "P-TOKEN-PLEASE refused below RTSE: %s",
                  x400i_pres_diag(PRES(ra))->text);
    return rv;
}

static int l_control_give(void *user)
{
    LIVE(user, ra);
    return x400i_pres_control_give_req(PRES(ra));  /* P-CONTROL-GIVE (RT-TURN-GIVE) */
}

static int l_release_req(void *user)
{
    LIVE(user, ra);
    return x400i_assoc_release_req(ra->a);  /* A-RELEASE (RT-CLOSE) */
}

static int l_release_rsp(void *user)
{
    int rv;
    LIVE(user, ra);
    rv = x400i_assoc_release_rsp(ra->a);
    let_go(ra);  /* released: the connection is over */
    return rv;
}

static int l_u_abort(void *user, const uint8_t *apdu, size_t len)
{
    int rv;
    LIVE(user, ra);
    rv = x400i_assoc_abort_req(ra->a, apdu, len);  /* A-ABORT with RTAB (RT-U-ABORT) */
    let_go(ra);
    return rv;
}

static const x400i_rtse_lower lower_ops = {
    NULL, l_connect_req, l_connect_rsp, l_data_req, l_minor_req, l_minor_rsp, l_act_start,
    l_act_resume, l_discard_rsp, l_interrupt_rsp, l_end_req, l_end_rsp, l_please, l_control_give,
    l_release_req, l_release_rsp, l_u_abort,
};

/* ---- association -> RTPM ---------------------------------------------------- */

/* Pass-through session services (X400I_AU_SESSION_IND) by presentation
 * event: 1 + the RTPM indication; 0 not used by RTSE (ignored); EXC an
 * exception report (RTSE has no use for it: the connection is given up). */
#define EXC (X400I_RTSE_LIND_COUNT + 1)
static const uint8_t lind_of_pev[X400_PEV_P_EXCEPTION_IND + 1] = {
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
    [X400_PEV_U_EXCEPTION_IND] = EXC,
    [X400_PEV_P_EXCEPTION_IND] = EXC,
};

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

/* The one RTSE APDU of a P-DATA / P-TOKEN-PLEASE: exactly one PDV, single-
 * ASN1-type on the RTSE context (normal mode).  Anything else is handed on
 * empty: the RTPM refuses it as an APDU that does not decode (RTAB). */
static void one_apdu(x400_assoc *a, const x400i_au_ind *ind, x400i_rtse_lind *l)
{
    l->apdu = NULL;
    l->apdu_len = 0;
    if (ind->npdv != 1) return;
    if (x400_assoc_get_mode(a) == X400_MODE_NORMAL &&
        (ind->pdv[0].encoding != X400I_PDV_SINGLE || ind->pdv[0].ctx != rtse_ctx(a)))
        return;
    l->apdu = ind->pdv[0].v;
    l->apdu_len = ind->pdv[0].len;
}

static int au_associate(void *user, x400_assoc *a)
{
    x400i_rtse_assoc *ra = user;
    if (ra->a != a) return 0;
    ra->ready = 1;
    if (!ra->have_pending) return 0; /* the RTORQ follows with RT-OPEN request */
    ra->used = 1;
    return send_pending(ra);
}

static int au_indication(void *user, x400_assoc *a, const x400i_au_ind *ind)
{
    x400i_rtse_assoc *ra = user;
    x400i_rtse_lind l;
    x400i_rtse_ref ref;
    x400_diag d;
    const x400i_ses_ind *si = ind->ses;
    int rc;
    if (ra->a != a) return 0; /* an association we have let go of */
    memset(&l, 0, sizeof l);
    switch (ind->type) {
    case X400I_AU_ASSOCIATE_IND:   /* A-ASSOCIATE ind / P-CONNECT ind (X.410) with RTORQ */
        ra->used = 1;
        l.type = X400I_RTSE_LIND_CONNECT;
        /* the mode this connection runs (CP mode selector), never the configured one */
        l.mode = x400_assoc_get_mode(a) == X400_MODE_X410 ? X400I_RTSE_MODE_X410 : X400I_RTSE_MODE_NORMAL;
        l.apdu = ind->ui;
        l.apdu_len = ind->ui_len;
        l.turn = si ? (si->tokens & X400I_TOKEN_DATA) != 0
                    : (x400i_ses_tokens_held(x400i_assoc_session(a)) & X400I_TOKEN_DATA) != 0;
        ref_of(&ref, si);
        l.ref = &ref;
        if (ra->hooks.route) {
            x400i_rtse_ref want;
            x400i_rtse_assoc *to;
            if (x400i_rtse_rtorq_recover_ref(l.apdu, l.apdu_len, &want) == 1 &&
                (to = ra->hooks.route(ra->hooks.user, ra, &want)) != NULL && to != ra) {
                /* the RTPM waiting for this recovery takes the association over */
                let_go(ra);
                if (x400i_rtse_assoc_attach(to, a) < 0) return 0;
                to->used = 1;
                (void)x400i_rtse_lower_input(to->rt, &l);
                return 0;
            }
        }
        break;
    case X400I_AU_ASSOCIATE_CONF:  /* AARE / CPA / CPR with RTOAC or RTORJ */
        l.type = X400I_RTSE_LIND_CONNECT_CONF;
        l.accepted = ind->accepted;
        l.apdu = ind->ui;
        l.apdu_len = ind->ui_len;
        l.turn = (x400i_ses_tokens_held(x400i_assoc_session(a)) & X400I_TOKEN_DATA) != 0;
        ref_of(&ref, si);
        l.ref = &ref;
        if (!ind->accepted) let_go(ra);
        break;
    case X400I_AU_DATA_IND:        /* P-DATA: one RTTR */
        l.type = X400I_RTSE_LIND_DATA;
        one_apdu(a, ind, &l);
        break;
    case X400I_AU_RELEASE_IND: l.type = X400I_RTSE_LIND_RELEASE; break;
    case X400I_AU_RELEASE_CONF:
        l.type = X400I_RTSE_LIND_RELEASE_CONF;
        let_go(ra);
        break;
    case X400I_AU_ABORT_IND:       /* ABRT / ARU, RTAB as user information */
        l.type = X400I_RTSE_LIND_U_ABORT;
        l.apdu = ind->ui;
        l.apdu_len = ind->ui_len;
        let_go(ra);
        break;
    case X400I_AU_P_ABORT_IND:
        l.type = X400I_RTSE_LIND_P_ABORT;
        l.diag = ind->diag;
        let_go(ra);
        break;
    case X400I_AU_SESSION_IND: {
        int t = (unsigned)ind->ev < X400I_ARRAY_LEN(lind_of_pev) ? lind_of_pev[ind->ev] : 0;
        if (t == 0) return 0;
        if (t == EXC) {
            /* P-U/P-EXCEPTION-REPORT: not part of RTSE's use of the session
             * service; give the connection up (recovery may follow) */
            x400i_diag_set(&d, X400_LAYER_RTSE, X400_SOURCE_PEER, X400_ERR_PROTOCOL,
                           si ? si->reason : 0, "exception report on an RTSE connection");
            (void)x400i_assoc_abort_req(a, NULL, 0);
            let_go(ra);
            l.type = X400I_RTSE_LIND_P_ABORT;
            l.diag = &d;
            break;
        }
        l.type = (x400i_rtse_lind_type)(t - 1);
        if (si) {
            l.serial = si->serial;
            l.id = si->activity_id.p;
            l.id_len = si->activity_id.len;
            l.old_id = si->old_activity_id.p;
            l.old_id_len = si->old_activity_id.len;
        }
        if (l.type == X400I_RTSE_LIND_TOKEN_PLEASE) one_apdu(a, ind, &l);
        break;
    }
    default: return 0;
    }
    /* RTSE's own errors end in its indications; when one ended the
     * association, x400_assoc_recv reports its cause */
    rc = x400i_rtse_lower_input(ra->rt, &l);
    if (rc < 0) x400i_assoc_input_error(a, rc);
    return 0;
}

/* ---- public (internal) API ------------------------------------------------- */

int x400i_rtse_assoc_new(x400i_rtse_assoc **out, int initiator, const x400_rtse_config *cfg,
                         const x400i_rtse_callbacks *cb, const x400i_rtse_assoc_hooks *hooks,
                         const x400_allocator *alloc, const x400_logger *log)
{
    x400i_rtse_assoc *ra;
    x400i_rtse_lower lo = lower_ops;
    int rv;
    if (!out || !cb) return X400_ERR_INVALID_ARG;
    *out = NULL;
    alloc = x400i_alloc_or_default(alloc);
    ra = x400i_calloc(alloc, 1, sizeof *ra);
    if (!ra) return X400_ERR_NOMEM;
    ra->alloc = alloc;
    if (hooks) ra->hooks = *hooks;
    if (log) ra->log = *log;
    lo.user = ra;
    rv = x400i_rtse_new(&ra->rt, initiator, cfg, &lo, cb, alloc, log);
    if (rv < 0) {
        x400i_free(alloc, ra);
        return rv;
    }
    *out = ra;
    return X400_OK;
}

void x400i_rtse_assoc_free(x400i_rtse_assoc *ra)
{
    if (!ra) return;
    let_go(ra);
    x400i_rtse_free(ra->rt);
    x400i_free(ra->alloc, ra->pending);
    x400i_free(ra->alloc, ra);
}

x400i_rtse *x400i_rtse_assoc_rtse(x400i_rtse_assoc *ra) { return ra ? ra->rt : NULL; }

int x400i_rtse_assoc_attach(x400i_rtse_assoc *ra, x400_assoc *a)
{
    x400i_assoc_upper up;
    if (!ra || !a) return X400_ERR_INVALID_ARG;
    let_go(ra);
    up.user = ra;
    up.associate = au_associate;
    up.indication = au_indication;
    x400i_assoc_set_upper(a, &up);
    ra->a = a;
    if (ra->have_pending) ra->used = 1;
    return X400_OK;
}

void x400i_rtse_assoc_detach(x400i_rtse_assoc *ra)
{
    if (ra) let_go(ra);
}

x400_assoc *x400i_rtse_assoc_current(const x400i_rtse_assoc *ra) { return ra ? ra->a : NULL; }
