/*
 * RTSE over an association (lib/rtse_assoc.h): the RTPM's x400i_rtse_lower
 * requests go to the lower adapter of the attached association
 * (x400i_assoc_lower: lib/rtse_pres.c or lib/rtse_ses.c), and the
 * adapter's x400i_rtse_lind indications come back to the RTPM.  Here:
 * attaching, the RTORQ waiting for a T-CONNECT confirm, letting go of an
 * ended association, routing an RTORQ recover to the waiting RTPM.
 */
#include <string.h>

#include "internal.h"
#include "rtse_assoc.h"

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
    int turn_to_initiator;  /* RTSE's initial turn, for the waiting RTORQ */
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

/* A-ASSOCIATE request with the waiting RTORQ. */
static int send_pending(x400i_rtse_assoc *ra)
{
    int rv;
    const x400i_rtse_lower *lo = x400i_assoc_lower(ra->a);
    ra->have_pending = 0;
    rv = lo ? lo->connect_req(ra->a, ra->turn_to_initiator, ra->pending, ra->pending_len) : -1;
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
    ra->turn_to_initiator = turn_to_initiator;
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

/* The attached association's adapter does the rest (LIVE: none attached,
 * the service cannot be performed). */
#define LOWER(ra) x400i_assoc_lower((ra)->a)

static int l_connect_rsp(void *user, int accept, const uint8_t *apdu, size_t len)
{
    LIVE(user, ra);
    x400_assoc *a = ra->a;
    int rv = LOWER(ra)->connect_rsp(a, accept, apdu, len);
    if (!accept || rv < 0) let_go(ra);
    return rv;
}

static int l_data_req(void *user, const uint8_t *apdu, size_t len)
{
    LIVE(user, ra);
    return LOWER(ra)->data_req(ra->a, apdu, len);
}

static int l_minor_req(void *user, uint32_t *serial)
{
    LIVE(user, ra);
    return LOWER(ra)->minor_sync_req(ra->a, serial);
}

static int l_minor_rsp(void *user, uint32_t serial)
{
    LIVE(user, ra);
    return LOWER(ra)->minor_sync_rsp(ra->a, serial);
}

static int l_act_start(void *user, const uint8_t *id, size_t id_len)
{
    LIVE(user, ra);
    return LOWER(ra)->activity_start_req(ra->a, id, id_len);
}

static int l_act_resume(void *user, const uint8_t *id, size_t id_len, const uint8_t *old_id,
                        size_t old_len, uint32_t serial, const x400i_rtse_ref *old)
{
    LIVE(user, ra);
    return LOWER(ra)->activity_resume_req(ra->a, id, id_len, old_id, old_len, serial, old);
}

static int l_discard_rsp(void *user)
{
    LIVE(user, ra);
    return LOWER(ra)->activity_discard_rsp(ra->a);
}

static int l_interrupt_rsp(void *user)
{
    LIVE(user, ra);
    return LOWER(ra)->activity_interrupt_rsp(ra->a);
}

static int l_end_req(void *user, uint32_t *serial)
{
    LIVE(user, ra);
    return LOWER(ra)->activity_end_req(ra->a, serial);
}

static int l_end_rsp(void *user)
{
    LIVE(user, ra);
    return LOWER(ra)->activity_end_rsp(ra->a);
}

static int l_please(void *user, const uint8_t *apdu, size_t len)
{
    int rv;
    LIVE(user, ra);
    rv = LOWER(ra)->token_please_req(ra->a, apdu, len);
    if (rv < 0)
        x400i_log(&ra->log, X400_LOG_NOTICE, X400_LAYER_RTSE, "turn please refused below RTSE: %s",
                  x400_assoc_diag(ra->a)->text);
    return rv;
}

static int l_control_give(void *user)
{
    LIVE(user, ra);
    return LOWER(ra)->control_give_req(ra->a);
}

static int l_release_req(void *user)
{
    LIVE(user, ra);
    return LOWER(ra)->release_req(ra->a);  /* RT-CLOSE */
}

static int l_release_rsp(void *user)
{
    int rv;
    LIVE(user, ra);
    rv = LOWER(ra)->release_rsp(ra->a);
    let_go(ra);  /* released: the connection is over */
    return rv;
}

static int l_u_abort(void *user, const uint8_t *apdu, size_t len)
{
    int rv;
    LIVE(user, ra);
    rv = LOWER(ra)->u_abort_req(ra->a, apdu, len);  /* RT-U-ABORT */
    let_go(ra);
    return rv;
}

static int l_u_exception(void *user, int reason)
{
    LIVE(user, ra);
    if (!LOWER(ra)->u_exception_req) return X400_ERR_STATE;
    return LOWER(ra)->u_exception_req(ra->a, reason);
}

static int l_discard_req(void *user, int reason)
{
    LIVE(user, ra);
    if (!LOWER(ra)->activity_discard_req) return X400_ERR_STATE;
    return LOWER(ra)->activity_discard_req(ra->a, reason);
}

static const x400i_rtse_lower lower_ops = {
    NULL, l_connect_req, l_connect_rsp, l_data_req, l_minor_req, l_minor_rsp, l_act_start,
    l_act_resume, l_discard_rsp, l_interrupt_rsp, l_end_req, l_end_rsp, l_please, l_control_give,
    l_release_req, l_release_rsp, l_u_abort, l_u_exception, l_discard_req,
};

/* ---- adapter -> RTPM ------------------------------------------------------- */

static int au_associate(void *user, x400_assoc *a)
{
    x400i_rtse_assoc *ra = user;
    if (ra->a != a) return 0;
    ra->ready = 1;
    if (!ra->have_pending) return 0; /* the RTORQ follows with RT-OPEN request */
    ra->used = 1;
    return send_pending(ra);
}

static int au_indication(void *user, x400_assoc *a, const x400i_rtse_lind *l)
{
    x400i_rtse_assoc *ra = user;
    int rc;
    if (ra->a != a) return 0; /* an association we have let go of */
    switch (l->type) {
    case X400I_RTSE_LIND_CONNECT:
        ra->used = 1;
        if (ra->hooks.route) {
            x400i_rtse_ref want;
            x400i_rtse_assoc *to;
            if (x400i_rtse_rtorq_recover_ref(l->apdu, l->apdu_len, &want) == 1 &&
                (to = ra->hooks.route(ra->hooks.user, ra, &want)) != NULL && to != ra) {
                /* the RTPM waiting for this recovery takes the association over */
                let_go(ra);
                if (x400i_rtse_assoc_attach(to, a) < 0) return 0;
                to->used = 1;
                (void)x400i_rtse_lower_input(to->rt, l);
                return 0;
            }
        }
        break;
    case X400I_RTSE_LIND_CONNECT_CONF:
        if (!l->accepted) let_go(ra);
        break;
    case X400I_RTSE_LIND_RELEASE_CONF:
    case X400I_RTSE_LIND_U_ABORT:
    case X400I_RTSE_LIND_P_ABORT: let_go(ra); break;
    default: break;
    }
    /* RTSE's own errors end in its indications; when one ended the
     * association, x400_assoc_recv reports its cause */
    rc = x400i_rtse_lower_input(ra->rt, l);
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
