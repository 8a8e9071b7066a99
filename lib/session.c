/* X.225 session protocol machine (Annex A style, one state table). */
#include <stdio.h>
#include <string.h>

#include "session.h"

#define DEFAULT_REQUIREMENTS 0x0249u
#define DEFAULT_MAX_UD ((size_t)16 << 20)
/* Functional units this SPM implements. */
#define SUPPORTED_FU (X400I_FU_HALF_DUPLEX | X400I_FU_DUPLEX | X400I_FU_MINOR_SYNC | \
                      X400I_FU_ACTIVITY | X400I_FU_EXCEPTIONS)
/* X.225 8.3.1.16: default Session User Requirements when PI 20 is absent. */
#define X225_DEFAULT_REQUIREMENTS 0x0349u
/* Protocol version 1 (X.225 8.3): at most 512 octets of user data in every
 * SPDU but DT (CN, AC, RF, FN, DN, NF, GT, PT, MIP, MIA, MAP, MAA, AS, AR,
 * AE, AEA, ED), at most 9 in AB, no Extended User Data (PGI 194), no
 * Enclosure Item (no segmenting).  Version 2 lifts them (CN: 10240). */
#define X225_V1_MAX_UD 512u
#define X225_V1_MAX_AB_UD 9u

enum { ST_KEEP = -1 };

/* ---- events ------------------------------------------------------------ */
typedef enum ev {
    R_CONNECT, R_CONNECT_ACCEPT, R_CONNECT_REFUSE, R_DATA, R_TOKEN_GIVE, R_TOKEN_PLEASE,
    R_CONTROL_GIVE, R_MINOR_SYNC, R_MINOR_SYNC_RSP, R_ACT_START, R_ACT_RESUME, R_ACT_INTERRUPT,
    R_ACT_INTERRUPT_RSP, R_ACT_DISCARD, R_ACT_DISCARD_RSP, R_ACT_END, R_ACT_END_RSP, R_RELEASE,
    R_RELEASE_RSP, R_U_ABORT, R_U_EXCEPTION,
    E_CN, E_AC, E_RF, E_FN, E_DN, E_NF, E_AB, E_AA, E_GTC, E_GTA, E_GT, E_PT, E_DT, E_MIP, E_MIA,
    E_MAP, E_MAA, E_AS, E_AR, E_AI, E_AIA, E_AD, E_ADA, E_AE, E_ER, E_ED,
    EV_COUNT
} ev;
#define FIRST_SPDU_EVENT E_CN

static const char *const ev_names[EV_COUNT] = {
    [R_CONNECT] = "S-CONNECT request", [R_CONNECT_ACCEPT] = "S-CONNECT response (accept)",
    [R_CONNECT_REFUSE] = "S-CONNECT response (refuse)", [R_DATA] = "S-DATA request",
    [R_TOKEN_GIVE] = "S-TOKEN-GIVE request", [R_TOKEN_PLEASE] = "S-TOKEN-PLEASE request",
    [R_CONTROL_GIVE] = "S-CONTROL-GIVE request", [R_MINOR_SYNC] = "S-SYNC-MINOR request",
    [R_MINOR_SYNC_RSP] = "S-SYNC-MINOR response", [R_ACT_START] = "S-ACTIVITY-START request",
    [R_ACT_RESUME] = "S-ACTIVITY-RESUME request", [R_ACT_INTERRUPT] = "S-ACTIVITY-INTERRUPT request",
    [R_ACT_INTERRUPT_RSP] = "S-ACTIVITY-INTERRUPT response",
    [R_ACT_DISCARD] = "S-ACTIVITY-DISCARD request", [R_ACT_DISCARD_RSP] = "S-ACTIVITY-DISCARD response",
    [R_ACT_END] = "S-ACTIVITY-END request", [R_ACT_END_RSP] = "S-ACTIVITY-END response",
    [R_RELEASE] = "S-RELEASE request", [R_RELEASE_RSP] = "S-RELEASE response",
    [R_U_ABORT] = "S-U-ABORT request", [R_U_EXCEPTION] = "S-U-EXCEPTION-REPORT request",
    [E_CN] = "CN SPDU", [E_AC] = "AC SPDU", [E_RF] = "RF SPDU", [E_FN] = "FN SPDU",
    [E_DN] = "DN SPDU", [E_NF] = "NF SPDU", [E_AB] = "AB SPDU", [E_AA] = "AA SPDU",
    [E_GTC] = "GTC SPDU", [E_GTA] = "GTA SPDU", [E_GT] = "GT SPDU", [E_PT] = "PT SPDU",
    [E_DT] = "DT SPDU", [E_MIP] = "MIP SPDU", [E_MIA] = "MIA SPDU", [E_MAP] = "MAP SPDU",
    [E_MAA] = "MAA/AEA SPDU", [E_AS] = "AS SPDU", [E_AR] = "AR SPDU", [E_AI] = "AI SPDU",
    [E_AIA] = "AIA SPDU", [E_AD] = "AD SPDU", [E_ADA] = "ADA SPDU", [E_AE] = "AE SPDU",
    [E_ER] = "ER SPDU", [E_ED] = "ED SPDU",
};

static const char *const st_names[X400I_SES_ST_COUNT] = {
    [X400I_SES_ST_IDLE] = "STA01 (idle)",
    [X400I_SES_ST_WAIT_AC] = "STA02A (wait for AC)",
    [X400I_SES_ST_WAIT_CONNECT_RSP] = "STA08 (wait for S-CONNECT response)",
    [X400I_SES_ST_DATA] = "STA713 (data transfer)",
    [X400I_SES_ST_WAIT_GTA] = "STA18 (wait for GTA)",
    [X400I_SES_ST_WAIT_AEA] = "STA04B (wait for AEA)",
    [X400I_SES_ST_WAIT_AE_RSP] = "STA10B (wait for S-ACTIVITY-END response)",
    [X400I_SES_ST_WAIT_AIA] = "STA05B (wait for AIA)",
    [X400I_SES_ST_WAIT_AI_RSP] = "STA11B (wait for S-ACTIVITY-INTERRUPT response)",
    [X400I_SES_ST_WAIT_ADA] = "STA05C (wait for ADA)",
    [X400I_SES_ST_WAIT_AD_RSP] = "STA11C (wait for S-ACTIVITY-DISCARD response)",
    [X400I_SES_ST_WAIT_DN] = "STA03 (wait for DN)",
    [X400I_SES_ST_WAIT_RELEASE_RSP] = "STA09 (wait for S-RELEASE response)",
    [X400I_SES_ST_WAIT_RECOVERY_REQ] = "STA19 (wait for a recovery request)",
    [X400I_SES_ST_WAIT_RECOVERY_SPDU] = "STA20 (wait for a recovery SPDU)",
    [X400I_SES_ST_CLOSED] = "closed",
};

const char *x400i_ses_state_name(int st)
{
    return (st >= 0 && st < X400I_SES_ST_COUNT) ? st_names[st] : "?";
}
const char *x400i_ses_event_name(int e) { return (e >= 0 && e < EV_COUNT) ? ev_names[e] : "?"; }
int x400i_ses_event_count(void) { return EV_COUNT; }

/* ---- the object -------------------------------------------------------- */

typedef struct stored {
    uint8_t b[X400I_REF_MAX];
    size_t len;
    int set;
} stored;

/* Arguments of one event: the SPDU (incoming) or the request's fields. */
typedef struct args {
    const x400i_spdu *spdu;
    const uint8_t *ud;
    size_t ud_len;
    unsigned tokens;
    int reason;
    int flag;                 /* accept / confirm_required */
    uint32_t serial;
    uint32_t *serial_out;
    x400i_view id, old_id;
    const x400i_ses_old_conn *old_conn;
} args;

struct x400i_ses {
    /* S-TOKEN-PLEASE requested while our S-CONTROL-GIVE awaits its GTA
     * (STA18): held here and sent as PT once the GTA has arrived */
    int have_held_pt;
    unsigned held_pt_tokens;
    uint8_t held_pt_ud[64];
    size_t held_pt_len;
    const x400_allocator *alloc;
    x400_logger log;
    x400i_ses_callbacks cb;
    int initiator;
    int state;
    uint16_t cfg_requirements;
    int cfg_versions;
    uint8_t cfg_token_setting;
    stored own_calling_ssel, own_called_ssel, own_ref, own_common;
    size_t max_ud;
    /* negotiated */
    uint16_t fu;
    int version;
    uint8_t token_setting;    /* from the CN */
    unsigned owned;           /* tokens held here */
    int vact;                 /* Vact: an activity is in progress */
    uint32_t vm, va, vr;      /* V(M), V(A), V(R) */
    int offered_versions;     /* initiator: Version Number of the CN sent */
    /* CN fields kept for the AC / RF */
    stored cn_calling_ref, cn_common_ref, cn_add_ref;
    int in_callback;
    x400i_buf out;
    x400_diag diag;
};

/* Tokens available under the negotiated functional units (X.225 5.4). */
static unsigned avail_tokens(const x400i_ses *s)
{
    unsigned a = 0;
    if (s->fu & X400I_FU_HALF_DUPLEX) a |= X400I_TOKEN_DATA;
    if (s->fu & X400I_FU_MINOR_SYNC) a |= X400I_TOKEN_MINOR;
    if (s->fu & (X400I_FU_ACTIVITY | X400I_FU_MAJOR_SYNC)) a |= X400I_TOKEN_MAJOR;
    if (s->fu & X400I_FU_NEG_RELEASE) a |= X400I_TOKEN_RELEASE;
    return a;
}
/* I(t): the token is not available or is held here. */
static int holds(const x400i_ses *s, unsigned t) { return (avail_tokens(s) & t & ~s->owned) == 0; }
/* The peer holds t (all of t that is available). */
static int peer_holds(const x400i_ses *s, unsigned t) { return (avail_tokens(s) & t & s->owned) == 0; }

static void store(stored *d, const uint8_t *p, size_t n)
{
    if (n > sizeof d->b) n = sizeof d->b;
    if (n) memcpy(d->b, p, n);
    d->len = n;
    d->set = 1;
}
static void store_view(stored *d, const x400i_spdu *sp, uint32_t bit, x400i_view v)
{
    d->set = 0;
    d->len = 0;
    if (sp->present & bit) store(d, v.p, v.len);
}

static void token_names(unsigned t, char *buf, size_t n)
{
    snprintf(buf, n, "%s%s%s%s", (t & X400I_TOKEN_DATA) ? "data " : "",
             (t & X400I_TOKEN_MINOR) ? "minor-sync " : "", (t & X400I_TOKEN_MAJOR) ? "major/activity " : "",
             (t & X400I_TOKEN_RELEASE) ? "release " : "");
    if (!t) snprintf(buf, n, "none ");
}

/* ---- failures ---------------------------------------------------------- */

/* An invalid request: X400_ERR_STATE, state unchanged (X.225 A.4.1). */
static int req_invalid(x400i_ses *s, ev e, const char *why)
{
    return x400i_diag_set(&s->diag, X400_LAYER_SESSION, X400_SOURCE_LOCAL, X400_ERR_STATE, 0,
                          "%s not allowed in state %s%s%s: request refused, state unchanged",
                          ev_names[e], st_names[s->state], why ? ": " : "", why ? why : "");
}
/* A protocol error by the peer: the dispatcher aborts (X.225 A.4.2). */
static int peer_invalid(x400i_ses *s, ev e, const char *why)
{
    return x400i_diag_set(&s->diag, X400_LAYER_SESSION, X400_SOURCE_PEER, X400_ERR_PROTOCOL, 0,
                          "%s not allowed in state %s%s%s: protocol error, AB sent and S-P-ABORT "
                          "indicated", ev_names[e], st_names[s->state], why ? ": " : "", why ? why : "");
}

static void enter(x400i_ses *s, int next)
{
    if (next != ST_KEEP && next != s->state) {
        x400i_log(&s->log, X400_LOG_DEBUG, X400_LAYER_SESSION, "state %s -> %s", st_names[s->state],
                  st_names[next]);
        s->state = next;
    }
}

static void close_transport(x400i_ses *s)
{
    s->state = X400I_SES_ST_CLOSED;
    if (s->cb.disconnect_transport) s->cb.disconnect_transport(s->cb.user);
}

/* Hand the TSDU in s->out to transport. */
static int flush(x400i_ses *s)
{
    int rc;
    x400i_log_hex(&s->log, X400_LAYER_SESSION, "send TSDU", s->out.p, s->out.len);
    rc = s->cb.send_tsdu(s->cb.user, s->out.p, s->out.len);
    x400i_buf_reset(&s->out);
    if (rc < 0) {
        x400i_diag_set(&s->diag, X400_LAYER_SESSION, X400_SOURCE_PROVIDER, X400_ERR_ABORTED, 0,
                       "transport refused a TSDU (%d): session aborted", rc);
        close_transport(s);
        return X400_ERR_ABORTED;
    }
    return 0;
}

static int send_spdu(x400i_ses *s, const x400i_spdu *sp)
{
    int rc;
    x400i_buf_reset(&s->out);
    if ((rc = x400i_spdu_encode_tsdu(&s->out, sp, &s->diag))) {
        x400i_buf_reset(&s->out);
        return rc;
    }
    return flush(s);
}

static void init_spdu(x400i_spdu *sp, x400i_spdu_type t)
{
    memset(sp, 0, sizeof *sp);
    sp->type = t;
}
static void set_ud(x400i_spdu *sp, const uint8_t *ud, size_t len)
{
    if (len) {
        sp->present |= X400I_SP_USER_DATA;
        sp->user_data.p = ud;
        sp->user_data.len = len;
    }
}

/* Deliver an indication; a negative return from the user aborts. */
static int indicate(x400i_ses *s, x400i_ses_ind *ind)
{
    int rc;
    if (!s->cb.indication) return 0;
    s->in_callback++;
    rc = s->cb.indication(s->cb.user, ind);
    s->in_callback--;
    if (rc < 0) {
        if (s->state != X400I_SES_ST_CLOSED) {
            x400i_spdu ab;
            init_spdu(&ab, X400I_SPDU_AB);
            ab.present = X400I_SP_TDISC;
            ab.tdisc = X400I_TDISC_RELEASED | X400I_TDISC_NO_REASON;
            (void)send_spdu(s, &ab);
            if (s->state != X400I_SES_ST_CLOSED) close_transport(s);
        }
        return x400i_diag_set(&s->diag, X400_LAYER_SESSION, X400_SOURCE_LOCAL,
                              X400_ERR_CALLBACK_FAILURE, 0,
                              "indication callback failed (%d): AB sent, session closed", rc);
    }
    return 0;
}

static void ind_init(x400i_ses_ind *ind, x400i_ses_ind_type t, const x400i_spdu *sp)
{
    memset(ind, 0, sizeof *ind);
    ind->type = t;
    if (sp && (sp->present & X400I_SP_USER_DATA)) {
        ind->user_data = sp->user_data.p;
        ind->user_data_len = sp->user_data.len;
    }
}

static int simple_ind(x400i_ses *s, x400i_ses_ind_type t, const x400i_spdu *sp)
{
    x400i_ses_ind ind;
    ind_init(&ind, t, sp);
    return indicate(s, &ind);
}

/* ---- actions: requests ------------------------------------------------- */

/* S-CONNECT request, X.225 7.1: CN. */
static int a_connect_req(x400i_ses *s, ev e, const args *a, int next)
{
    x400i_spdu sp;
    int rc;
    if (!s->initiator) return req_invalid(s, e, "this session object is a responder");
    init_spdu(&sp, X400I_SPDU_CN);
    if (s->own_ref.set || s->own_common.set) {
        sp.present |= X400I_SP_CONN_ID;
        if (s->own_ref.set) {
            sp.present |= X400I_SP_CALLING_REF;
            sp.calling_ref.p = s->own_ref.b;
            sp.calling_ref.len = s->own_ref.len;
        }
        if (s->own_common.set) {
            sp.present |= X400I_SP_COMMON_REF;
            sp.common_ref.p = s->own_common.b;
            sp.common_ref.len = s->own_common.len;
        }
    }
    sp.present |= X400I_SP_CA_ITEM | X400I_SP_PROTO_OPT | X400I_SP_VERSION | X400I_SP_TOKEN_SET;
    sp.protocol_options = 0;   /* not able to receive extended concatenated SPDUs */
    /* Version Number (CN, X.225 8.3.1): the configured versions, but version
     * 1 carries at most 512 octets of CN user data (ISODE too proposes
     * version 2 alone then). */
    sp.version = (uint8_t)s->cfg_versions;
    if (a->ud_len > X225_V1_MAX_UD) sp.version &= 2u;
    sp.token_setting = s->cfg_token_setting;
    sp.present |= X400I_SP_REQUIREMENTS;
    sp.requirements = s->cfg_requirements;
    if (s->own_calling_ssel.set) {
        sp.present |= X400I_SP_CALLING_SSEL;
        sp.calling_ssel.p = s->own_calling_ssel.b;
        sp.calling_ssel.len = s->own_calling_ssel.len;
    }
    if (s->own_called_ssel.set) {
        sp.present |= X400I_SP_CALLED_SSEL;
        sp.called_ssel.p = s->own_called_ssel.b;
        sp.called_ssel.len = s->own_called_ssel.len;
    }
    set_ud(&sp, a->ud, a->ud_len);
    if (a->ud_len > 10240 || !sp.version)
        return x400i_diag_set(&s->diag, X400_LAYER_SESSION, X400_SOURCE_LOCAL, X400_ERR_TOO_LONG, 0,
                              "S-CONNECT: %zu octets of user data exceed what CN can carry (%s)",
                              a->ud_len, sp.version ? "10240" : "512 in version 1, the only one configured");
    s->offered_versions = sp.version;
    s->token_setting = sp.token_setting;
    if ((rc = send_spdu(s, &sp))) return rc;
    enter(s, next);
    return 0;
}

/* Owner of each token after connection (Token Setting Item, X.225 8.3.1.x):
 * 0 initiator, 1 responder, 2 called SS-user's choice (resolved by `choice`,
 * a token mask taken by the responder). */
static unsigned responder_tokens(uint8_t setting, unsigned choice)
{
    static const unsigned tok[4] = { X400I_TOKEN_DATA, X400I_TOKEN_MINOR, X400I_TOKEN_MAJOR,
                                     X400I_TOKEN_RELEASE };
    unsigned r = 0;
    for (int i = 0; i < 4; i++) {
        unsigned v = (setting >> (2 * i)) & 3u;
        if (v == 1 || (v == 2 && (choice & tok[i]))) r |= tok[i];
    }
    return r;
}

/* Connection Identifier of AC and RF (X.225 8.3.4, 8.3.5): Called SS-user
 * Reference, Common Reference, Additional Reference Information.  The called
 * reference echoes the CN's Calling SS-user Reference, as ISODE/PP do
 * (test/interop/pp-resp-1988-twa-message.txt, frame 26); our own reference
 * only when the CN carried none.  Common and additional references are the
 * CN's. */
static void responder_conn_id(const x400i_ses *s, x400i_spdu *sp)
{
    const stored *called = s->cn_calling_ref.set ? &s->cn_calling_ref : &s->own_ref;
    if (!called->set && !s->cn_common_ref.set && !s->cn_add_ref.set) return;
    sp->present |= X400I_SP_CONN_ID;
    if (called->set) {
        sp->present |= X400I_SP_CALLED_REF;
        sp->called_ref.p = called->b;
        sp->called_ref.len = called->len;
    }
    if (s->cn_common_ref.set) {
        sp->present |= X400I_SP_COMMON_REF;
        sp->common_ref.p = s->cn_common_ref.b;
        sp->common_ref.len = s->cn_common_ref.len;
    }
    if (s->cn_add_ref.set) {
        sp->present |= X400I_SP_ADD_REF;
        sp->add_ref.p = s->cn_add_ref.b;
        sp->add_ref.len = s->cn_add_ref.len;
    }
}

/* RF, X.225 8.3.5: Connection Identifier, Transport Disconnect (released),
 * Reason Code, and for "versions not supported" (0x84) the versions this
 * SPM implements. */
static void init_rf(const x400i_ses *s, x400i_spdu *sp, int reason)
{
    init_spdu(sp, X400I_SPDU_RF);
    responder_conn_id(s, sp);
    sp->present |= X400I_SP_REASON | X400I_SP_TDISC;
    sp->reason = (uint8_t)reason;
    sp->tdisc = X400I_TDISC_RELEASED;
    if (reason == 0x84) {
        sp->present |= X400I_SP_VERSION;
        sp->version = (uint8_t)s->cfg_versions;
    }
}

/* S-CONNECT response (accept): AC. */
static int a_connect_accept(x400i_ses *s, ev e, const args *a, int next)
{
    x400i_spdu sp;
    unsigned resp;
    int rc, has_choice = 0;
    (void)e;
    for (int i = 0; i < 4; i++)
        if (((s->token_setting >> (2 * i)) & 3u) == 2) has_choice = 1;
    init_spdu(&sp, X400I_SPDU_AC);
    responder_conn_id(s, &sp);
    sp.present |= X400I_SP_CA_ITEM | X400I_SP_PROTO_OPT | X400I_SP_VERSION;
    sp.version = (uint8_t)(s->version == 2 ? 2 : 1);
    resp = responder_tokens(s->token_setting, a->tokens) & avail_tokens(s);
    if (has_choice) {
        /* the final setting: 1 for every token the responder keeps */
        uint8_t set = 0;
        static const unsigned tok[4] = { X400I_TOKEN_DATA, X400I_TOKEN_MINOR, X400I_TOKEN_MAJOR,
                                         X400I_TOKEN_RELEASE };
        for (int i = 0; i < 4; i++)
            if (responder_tokens(s->token_setting, a->tokens) & tok[i]) set |= (uint8_t)(1u << (2 * i));
        sp.present |= X400I_SP_TOKEN_SET;
        sp.token_setting = set;
    }
    sp.present |= X400I_SP_REQUIREMENTS;
    sp.requirements = s->fu;
    sp.present |= X400I_SP_CALLED_SSEL;   /* responding selector, possibly empty */
    sp.called_ssel.p = s->own_called_ssel.b;
    sp.called_ssel.len = s->own_called_ssel.set ? s->own_called_ssel.len : 0;
    set_ud(&sp, a->ud, a->ud_len);
    if ((rc = send_spdu(s, &sp))) return rc;
    s->owned = resp;
    s->vact = 0;
    enter(s, next);
    x400i_log(&s->log, X400_LOG_INFO, X400_LAYER_SESSION, "session accepted: version %d, FU 0x%04x",
              s->version, s->fu);
    return 0;
}

/* S-CONNECT response (refuse): RF, transport released. */
static int a_connect_refuse(x400i_ses *s, ev e, const args *a, int next)
{
    x400i_spdu sp;
    int rc;
    (void)e;
    init_rf(s, &sp, a->reason);
    if (a->ud_len) {
        if (a->reason != 2)
            return x400i_diag_set(&s->diag, X400_LAYER_SESSION, X400_SOURCE_LOCAL,
                                  X400_ERR_INVALID_ARG, 0, "S-CONNECT refuse: user data needs reason 2");
        set_ud(&sp, a->ud, a->ud_len);
    }
    if ((rc = send_spdu(s, &sp))) return rc;
    enter(s, next);
    close_transport(s);
    return 0;
}

/* S-DATA request, X.225 7.8: GT + DT. */
static int a_data_req(x400i_ses *s, ev e, const args *a, int next)
{
    x400i_spdu sp;
    int rc;
    if (!holds(s, X400I_TOKEN_DATA)) return req_invalid(s, e, "the data token is not held");
    init_spdu(&sp, X400I_SPDU_DT);
    sp.present = X400I_SP_USER_DATA;
    sp.user_data.p = a->ud;
    sp.user_data.len = a->ud_len;
    if ((rc = send_spdu(s, &sp))) return rc;
    enter(s, next);
    return 0;
}

/* S-TOKEN-GIVE request, X.225 7.13: GT with Token Item. */
static int a_give_req(x400i_ses *s, ev e, const args *a, int next)
{
    x400i_spdu sp;
    char buf[80];
    int rc;
    if (!a->tokens || (a->tokens & ~avail_tokens(s)))
        return req_invalid(s, e, "the tokens are not available under the negotiated functional units");
    if (a->tokens & ~s->owned) {
        token_names(a->tokens & ~s->owned, buf, sizeof buf);
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "token(s) not held");
        return req_invalid(s, e, buf);
    }
    if (s->state == X400I_SES_ST_WAIT_RECOVERY_REQ && !(a->tokens & X400I_TOKEN_DATA))
        return req_invalid(s, e, "exception recovery by token give must pass the data token");
    init_spdu(&sp, X400I_SPDU_GT);
    sp.present = X400I_SP_TOKEN_ITEM;
    sp.token_item = (uint8_t)a->tokens;
    if ((rc = send_spdu(s, &sp))) return rc;
    s->owned &= ~a->tokens;
    enter(s, next);
    return 0;
}

/* S-TOKEN-PLEASE request, X.225 7.14: PT. */
static int a_please_req(x400i_ses *s, ev e, const args *a, int next)
{
    x400i_spdu sp;
    int rc;
    if (!a->tokens || (a->tokens & ~avail_tokens(s)))
        return req_invalid(s, e, "the tokens are not available under the negotiated functional units");
    if (a->tokens & s->owned) return req_invalid(s, e, "a requested token is already held here");
    init_spdu(&sp, X400I_SPDU_PT);
    sp.present = X400I_SP_TOKEN_ITEM;
    sp.token_item = (uint8_t)a->tokens;
    set_ud(&sp, a->ud, a->ud_len);
    if ((rc = send_spdu(s, &sp))) return rc;
    enter(s, next);
    return 0;
}

/* S-CONTROL-GIVE request, X.225 7.15: GTC. */
static int a_control_give_req(x400i_ses *s, ev e, const args *a, int next)
{
    x400i_spdu sp;
    int rc;
    (void)a;
    if ((s->fu & X400I_FU_ACTIVITY) == 0) return req_invalid(s, e, "activity management not selected");
    if (s->vact) return req_invalid(s, e, "an activity is in progress");
    if (!holds(s, X400I_TOKEN_ALL)) return req_invalid(s, e, "not all available tokens are held");
    init_spdu(&sp, X400I_SPDU_GTC);
    if ((rc = send_spdu(s, &sp))) return rc;
    s->owned = 0;
    enter(s, next);
    return 0;
}

/* S-SYNC-MINOR request, X.225 7.16: MIP with serial V(M). */
static int a_minor_req(x400i_ses *s, ev e, const args *a, int next)
{
    x400i_spdu sp;
    int rc;
    if (!(s->fu & X400I_FU_MINOR_SYNC)) return req_invalid(s, e, "minor synchronize not selected");
    if (!holds(s, X400I_TOKEN_MINOR)) return req_invalid(s, e, "the minor-sync token is not held");
    if (!holds(s, X400I_TOKEN_DATA)) return req_invalid(s, e, "the data token is not held");
    if ((s->fu & X400I_FU_ACTIVITY) && !s->vact) return req_invalid(s, e, "no activity in progress");
    if (s->vm > X400I_SERIAL_MAX) return req_invalid(s, e, "serial numbers exhausted");
    init_spdu(&sp, X400I_SPDU_MIP);
    sp.present = X400I_SP_SERIAL;
    sp.serial = s->vm;
    if (!a->flag) {
        sp.present |= X400I_SP_SYNC_TYPE;
        sp.sync_type = X400I_SYNC_NOEXPL;
    }
    set_ud(&sp, a->ud, a->ud_len);
    if ((rc = send_spdu(s, &sp))) return rc;
    if (a->serial_out) *a->serial_out = s->vm;
    if (!a->flag && s->va == s->vm) s->va++;
    s->vm++;
    enter(s, next);
    return 0;
}

/* S-SYNC-MINOR response: MIA confirming serial number a->serial. */
static int a_minor_rsp(x400i_ses *s, ev e, const args *a, int next)
{
    x400i_spdu sp;
    int rc;
    char why[96];
    if (!(s->fu & X400I_FU_MINOR_SYNC)) return req_invalid(s, e, "minor synchronize not selected");
    if (a->serial < s->va || a->serial >= s->vm) {
        snprintf(why, sizeof why, "serial %u is not an unconfirmed sync point (V(A)=%u, V(M)=%u)",
                 (unsigned)a->serial, (unsigned)s->va, (unsigned)s->vm);
        return req_invalid(s, e, why);
    }
    init_spdu(&sp, X400I_SPDU_MIA);
    sp.present = X400I_SP_SERIAL;
    sp.serial = a->serial;
    set_ud(&sp, a->ud, a->ud_len);
    if ((rc = send_spdu(s, &sp))) return rc;
    s->va = a->serial + 1;
    enter(s, next);
    return 0;
}

static int act_tokens_ok(x400i_ses *s, ev e, int need_all)
{
    if (!(s->fu & X400I_FU_ACTIVITY)) return req_invalid(s, e, "activity management not selected");
    if (!holds(s, X400I_TOKEN_MAJOR)) return req_invalid(s, e, "the major/activity token is not held");
    if (need_all && !holds(s, X400I_TOKEN_DATA | X400I_TOKEN_MINOR))
        return req_invalid(s, e, "the data and minor-sync tokens must be held");
    return 0;
}

/* S-ACTIVITY-START request, X.225 7.23: AS. */
static int a_as_req(x400i_ses *s, ev e, const args *a, int next)
{
    x400i_spdu sp;
    int rc;
    if ((rc = act_tokens_ok(s, e, 1))) return rc;
    if (s->vact) return req_invalid(s, e, "an activity is already in progress");
    if (a->id.len < 1 || a->id.len > X400I_ACT_ID_MAX)
        return x400i_diag_set(&s->diag, X400_LAYER_SESSION, X400_SOURCE_LOCAL, X400_ERR_INVALID_ARG,
                              0, "activity identifier must be 1..6 octets");
    init_spdu(&sp, X400I_SPDU_AS);
    sp.present = X400I_SP_ACT_ID;
    sp.activity_id = a->id;
    set_ud(&sp, a->ud, a->ud_len);
    if ((rc = send_spdu(s, &sp))) return rc;
    s->vact = 1;
    s->vm = s->va = s->vr = 1;
    enter(s, next);
    return 0;
}

/* S-ACTIVITY-RESUME request, X.225 7.24: AR with Linking Information. */
static int a_ar_req(x400i_ses *s, ev e, const args *a, int next)
{
    x400i_spdu sp;
    int rc;
    const x400i_ses_old_conn *oc = a->old_conn;
    if ((rc = act_tokens_ok(s, e, 1))) return rc;
    if (s->vact) return req_invalid(s, e, "an activity is already in progress");
    if (a->id.len < 1 || a->id.len > X400I_ACT_ID_MAX || a->old_id.len < 1 ||
        a->old_id.len > X400I_ACT_ID_MAX || a->serial >= X400I_SERIAL_MAX)
        return x400i_diag_set(&s->diag, X400_LAYER_SESSION, X400_SOURCE_LOCAL, X400_ERR_INVALID_ARG,
                              0, "activity identifiers must be 1..6 octets, serial below 999999");
    init_spdu(&sp, X400I_SPDU_AR);
    sp.present = X400I_SP_ACT_ID | X400I_SP_LINK | X400I_SP_OLD_ACT_ID | X400I_SP_LINK_SERIAL;
    sp.activity_id = a->id;
    sp.old_activity_id = a->old_id;
    sp.link_serial = a->serial;
    if (oc) {
        if (oc->called_ref) { sp.present |= X400I_SP_CALLED_REF; sp.called_ref.p = oc->called_ref; sp.called_ref.len = oc->called_ref_len; }
        if (oc->calling_ref) { sp.present |= X400I_SP_CALLING_REF; sp.calling_ref.p = oc->calling_ref; sp.calling_ref.len = oc->calling_ref_len; }
        if (oc->common_ref) { sp.present |= X400I_SP_COMMON_REF; sp.common_ref.p = oc->common_ref; sp.common_ref.len = oc->common_ref_len; }
        if (oc->add_ref) { sp.present |= X400I_SP_ADD_REF; sp.add_ref.p = oc->add_ref; sp.add_ref.len = oc->add_ref_len; }
    }
    set_ud(&sp, a->ud, a->ud_len);
    if ((rc = send_spdu(s, &sp))) return rc;
    s->vact = 1;
    s->vm = s->va = a->serial + 1;
    s->vr = 1;
    enter(s, next);
    return 0;
}

/* S-ACTIVITY-INTERRUPT / -DISCARD request, X.225 7.25/7.26: AI / AD. */
static int a_ai_ad_req(x400i_ses *s, ev e, const args *a, int next)
{
    x400i_spdu sp;
    int rc;
    if ((rc = act_tokens_ok(s, e, 0))) return rc;
    if (!s->vact) return req_invalid(s, e, "no activity in progress");
    init_spdu(&sp, e == R_ACT_INTERRUPT ? X400I_SPDU_AI : X400I_SPDU_AD);
    sp.present = X400I_SP_REASON;
    sp.reason = (uint8_t)a->reason;
    if ((rc = send_spdu(s, &sp))) return rc;
    enter(s, next);
    return 0;
}

/* S-ACTIVITY-INTERRUPT / -DISCARD response: AIA / ADA; the tokens all go to
 * the requestor (the peer). */
static int a_ai_ad_rsp(x400i_ses *s, ev e, const args *a, int next)
{
    x400i_spdu sp;
    int rc;
    (void)a;
    init_spdu(&sp, e == R_ACT_INTERRUPT_RSP ? X400I_SPDU_AIA : X400I_SPDU_ADA);
    if ((rc = send_spdu(s, &sp))) return rc;
    s->vact = 0;
    s->owned = 0;
    enter(s, next);
    return 0;
}

/* S-ACTIVITY-END request, X.225 7.27: AE with serial V(M). */
static int a_ae_req(x400i_ses *s, ev e, const args *a, int next)
{
    x400i_spdu sp;
    int rc;
    if ((rc = act_tokens_ok(s, e, 1))) return rc;
    if (!s->vact) return req_invalid(s, e, "no activity in progress");
    if (s->vm > X400I_SERIAL_MAX) return req_invalid(s, e, "serial numbers exhausted");
    init_spdu(&sp, X400I_SPDU_AE);
    sp.present = X400I_SP_SERIAL;
    sp.serial = s->vm;
    set_ud(&sp, a->ud, a->ud_len);
    if ((rc = send_spdu(s, &sp))) return rc;
    if (a->serial_out) *a->serial_out = s->vm;
    s->vm++;
    enter(s, next);
    return 0;
}

/* S-ACTIVITY-END response: AEA (encoded as MAA) with serial V(M)-1. */
static int a_ae_rsp(x400i_ses *s, ev e, const args *a, int next)
{
    x400i_spdu sp;
    int rc;
    (void)e;
    init_spdu(&sp, X400I_SPDU_AEA);
    sp.present = X400I_SP_SERIAL;
    sp.serial = s->vm - 1;
    set_ud(&sp, a->ud, a->ud_len);
    if ((rc = send_spdu(s, &sp))) return rc;
    s->va = s->vm;
    s->vact = 0;
    enter(s, next);
    return 0;
}

/* S-RELEASE request, X.225 7.6: FN. */
static int a_rel_req(x400i_ses *s, ev e, const args *a, int next)
{
    x400i_spdu sp;
    int rc;
    if (!holds(s, X400I_TOKEN_ALL)) return req_invalid(s, e, "not all available tokens are held");
    if ((s->fu & X400I_FU_ACTIVITY) && s->vact) return req_invalid(s, e, "an activity is in progress");
    init_spdu(&sp, X400I_SPDU_FN);
    sp.present = X400I_SP_TDISC;
    sp.tdisc = X400I_TDISC_RELEASED;
    set_ud(&sp, a->ud, a->ud_len);
    if ((rc = send_spdu(s, &sp))) return rc;
    enter(s, next);
    return 0;
}

/* S-RELEASE response (affirmative): DN; the initiator closes transport. */
static int a_rel_rsp(x400i_ses *s, ev e, const args *a, int next)
{
    x400i_spdu sp;
    int rc;
    (void)e;
    init_spdu(&sp, X400I_SPDU_DN);
    set_ud(&sp, a->ud, a->ud_len);
    if ((rc = send_spdu(s, &sp))) return rc;
    enter(s, next);
    close_transport(s);
    return 0;
}

/* S-U-ABORT request, X.225 7.10: AB (user abort, transport released). */
static int a_uabort_req(x400i_ses *s, ev e, const args *a, int next)
{
    x400i_spdu sp;
    int rc;
    (void)e;
    init_spdu(&sp, X400I_SPDU_AB);
    sp.present = X400I_SP_TDISC;
    sp.tdisc = X400I_TDISC_RELEASED | X400I_TDISC_USER_ABORT;
    set_ud(&sp, a->ud, a->ud_len);
    rc = send_spdu(s, &sp);
    if (rc && rc != X400_ERR_ABORTED) return rc; /* not encodable: nothing sent */
    if (s->state != X400I_SES_ST_CLOSED) {       /* (a failed send already closed) */
        enter(s, next);
        close_transport(s);
    }
    return 0;
}

/* S-U-EXCEPTION-REPORT request, X.225 7.21: ED, by the side without the
 * data token. */
static int a_uexc_req(x400i_ses *s, ev e, const args *a, int next)
{
    x400i_spdu sp;
    int rc;
    if (!(s->fu & X400I_FU_EXCEPTIONS)) return req_invalid(s, e, "exceptions not selected");
    if (!(avail_tokens(s) & X400I_TOKEN_DATA) || (s->owned & X400I_TOKEN_DATA))
        return req_invalid(s, e, "only the side without the data token may report an exception");
    init_spdu(&sp, X400I_SPDU_ED);
    sp.present = X400I_SP_REASON;
    sp.reason = (uint8_t)a->reason;
    set_ud(&sp, a->ud, a->ud_len);
    if ((rc = send_spdu(s, &sp))) return rc;
    enter(s, next);
    return 0;
}

/* ---- actions: incoming SPDUs ------------------------------------------- */

/* CN: negotiate version, functional units, selector (X.225 7.1.x). */
static int a_cn(x400i_ses *s, ev e, const args *a, int next)
{
    const x400i_spdu *sp = a->spdu;
    x400i_ses_ind ind;
    int offered = (sp->present & X400I_SP_VERSION) ? (sp->version & 3) : 1;
    int common = offered & s->cfg_versions;
    uint16_t req = (sp->present & X400I_SP_REQUIREMENTS) ? sp->requirements : X225_DEFAULT_REQUIREMENTS;
    int refuse = 0;
    const char *why = NULL;
    if (s->initiator) return peer_invalid(s, e, "CN received by the initiator");
    /* kept for the Connection Identifier of the AC or RF */
    store_view(&s->cn_calling_ref, sp, X400I_SP_CALLING_REF, sp->calling_ref);
    store_view(&s->cn_common_ref, sp, X400I_SP_COMMON_REF, sp->common_ref);
    store_view(&s->cn_add_ref, sp, X400I_SP_ADD_REF, sp->add_ref);
    if (!common) {
        refuse = 0x84;
        why = "no common protocol version";
    } else if (s->own_called_ssel.set && (!(sp->present & X400I_SP_CALLED_SSEL) ||
               sp->called_ssel.len != s->own_called_ssel.len ||
               (sp->called_ssel.len && memcmp(sp->called_ssel.p, s->own_called_ssel.b, sp->called_ssel.len)))) {
        refuse = 0x81;
        why = "called session selector unknown";
    } else if ((sp->present & X400I_SP_USER_DATA) && sp->user_data.len > s->max_ud) {
        refuse = 0x86;
        why = "user data above the configured bound";
    }
    if (refuse) {
        x400i_spdu rf;
        int rc;
        init_rf(s, &rf, refuse);
        x400i_log(&s->log, X400_LOG_NOTICE, X400_LAYER_SESSION, "CN refused by the SPM: %s", why);
        if ((rc = send_spdu(s, &rf))) return rc;
        x400i_diag_set(&s->diag, X400_LAYER_SESSION, X400_SOURCE_LOCAL, X400_ERR_REFUSED, refuse,
                       "CN refused by the SPM (RF reason 0x%02x, %s): %s", refuse,
                       x400i_ses_refuse_reason_name(refuse), why);
        close_transport(s);
        return 0;
    }
    s->version = (common & 2) ? 2 : 1;
    s->fu = (uint16_t)(req & s->cfg_requirements & SUPPORTED_FU);
    if ((s->fu & X400I_FU_HALF_DUPLEX) && (s->fu & X400I_FU_DUPLEX))
        s->fu &= (uint16_t)~X400I_FU_DUPLEX;
    s->token_setting = (sp->present & X400I_SP_TOKEN_SET) ? sp->token_setting : 0;
    for (int i = 0; i < 4; i++)
        if (((s->token_setting >> (2 * i)) & 3u) == 3) return peer_invalid(s, e, "token setting 3 is reserved");
    s->vm = s->va = (sp->present & X400I_SP_ISN) ? sp->isn : 0;
    s->vr = 0;
    enter(s, next);
    ind_init(&ind, X400I_SES_CONNECT_IND, sp);
    ind.calling_ref = sp->calling_ref;
    ind.common_ref = sp->common_ref;
    ind.add_ref = sp->add_ref;
    ind.calling_ssel = sp->calling_ssel;
    ind.called_ssel = sp->called_ssel;
    ind.requirements = s->fu;
    ind.version = s->version;
    ind.tokens = responder_tokens(s->token_setting, 0) & avail_tokens(s);
    return indicate(s, &ind);
}

/* AC: the S-CONNECT confirm (accepted). */
static int a_ac(x400i_ses *s, ev e, const args *a, int next)
{
    const x400i_spdu *sp = a->spdu;
    x400i_ses_ind ind;
    int offered = s->offered_versions;
    int v = (sp->present & X400I_SP_VERSION) ? (sp->version & 3) : 1;
    uint16_t req = (sp->present & X400I_SP_REQUIREMENTS) ? sp->requirements : X225_DEFAULT_REQUIREMENTS;
    unsigned choice = 0, resp;
    if (v != 1 && v != 2) return peer_invalid(s, e, "AC must select exactly one protocol version");
    if (!(v & offered)) return peer_invalid(s, e, "AC selected a protocol version that was not offered");
    if (req & ~s->cfg_requirements)
        return peer_invalid(s, e, "AC selected functional units that were not proposed");
    if (req & ~SUPPORTED_FU) return peer_invalid(s, e, "AC selected an unsupported functional unit");
    s->version = v;
    s->fu = req;
    if (sp->present & X400I_SP_TOKEN_SET) {
        choice = responder_tokens(sp->token_setting, 0);
    } else if (sp->present & X400I_SP_TOKEN_ITEM) {
        choice = sp->token_item;
    }
    resp = responder_tokens(s->token_setting, choice) & avail_tokens(s);
    s->owned = avail_tokens(s) & ~resp;
    s->vm = s->va = 0;
    s->vact = 0;
    enter(s, next);
    ind_init(&ind, X400I_SES_CONNECT_CONF, sp);
    ind.accepted = 1;
    /* The session connection identifier: the Called SS-user Reference is
     * the AC's; the calling one is ours (the CN's), which the AC does not
     * repeat (X.225 8.3.4); common and additional references as the AC has
     * them, else as the CN had them. */
    ind.called_ref = sp->called_ref;
    ind.calling_ref.p = s->own_ref.set ? s->own_ref.b : NULL;
    ind.calling_ref.len = s->own_ref.set ? s->own_ref.len : 0;
    ind.common_ref = sp->common_ref;
    if (!(sp->present & X400I_SP_COMMON_REF) && s->own_common.set) {
        ind.common_ref.p = s->own_common.b;
        ind.common_ref.len = s->own_common.len;
    }
    ind.add_ref = sp->add_ref;
    ind.calling_ssel = sp->calling_ssel;
    ind.called_ssel = sp->called_ssel;
    ind.requirements = s->fu;
    ind.version = s->version;
    ind.tokens = s->owned;
    return indicate(s, &ind);
}

/* RF: the S-CONNECT confirm (refused). */
static int a_rf(x400i_ses *s, ev e, const args *a, int next)
{
    x400i_ses_ind ind;
    (void)e;
    enter(s, next);
    ind_init(&ind, X400I_SES_CONNECT_CONF, a->spdu);
    ind.accepted = 0;
    ind.reason = a->spdu->reason;
    x400i_diag_set(&s->diag, X400_LAYER_SESSION, X400_SOURCE_PEER, X400_ERR_REFUSED, a->spdu->reason,
                   "session connection refused: reason 0x%02x (%s)", a->spdu->reason,
                   x400i_ses_refuse_reason_name(a->spdu->reason));
    close_transport(s);
    return indicate(s, &ind);
}

/* FN: S-RELEASE indication; the peer must hold every token. */
static int a_fn(x400i_ses *s, ev e, const args *a, int next)
{
    if (!peer_holds(s, X400I_TOKEN_ALL)) return peer_invalid(s, e, "FN from a peer not holding all tokens");
    if ((s->fu & X400I_FU_ACTIVITY) && s->vact) return peer_invalid(s, e, "FN inside an activity");
    enter(s, next);
    return simple_ind(s, X400I_SES_RELEASE_IND, a->spdu);
}

/* DN: S-RELEASE confirm; the initiator of release closes transport. */
static int a_dn(x400i_ses *s, ev e, const args *a, int next)
{
    (void)e;
    enter(s, next);
    close_transport(s);
    return simple_ind(s, X400I_SES_RELEASE_CONF, a->spdu);
}

/* AB: S-U-ABORT or S-P-ABORT indication by the Transport Disconnect item. */
static int a_ab(x400i_ses *s, ev e, const args *a, int next)
{
    const x400i_spdu *sp = a->spdu;
    x400i_ses_ind ind;
    int user = (sp->present & X400I_SP_TDISC) && (sp->tdisc & X400I_TDISC_USER_ABORT);
    (void)e;
    if ((sp->present & X400I_SP_TDISC) && !(sp->tdisc & X400I_TDISC_RELEASED)) {
        /* transport to be kept: answer with AA, then release it anyway */
        x400i_spdu aa;
        init_spdu(&aa, X400I_SPDU_AA);
        (void)send_spdu(s, &aa);
    }
    enter(s, next);
    if (s->state != X400I_SES_ST_CLOSED) s->state = X400I_SES_ST_CLOSED;
    x400i_diag_set(&s->diag, X400_LAYER_SESSION, user ? X400_SOURCE_PEER : X400_SOURCE_PROVIDER,
                   X400_ERR_ABORTED, (sp->present & X400I_SP_TDISC) ? sp->tdisc : 0,
                   "session aborted by the peer (%s, Transport Disconnect 0x%02x)",
                   user ? "user abort" : "provider abort", (sp->present & X400I_SP_TDISC) ? sp->tdisc : 0);
    close_transport(s);
    ind_init(&ind, user ? X400I_SES_U_ABORT_IND : X400I_SES_P_ABORT_IND, sp);
    ind.reason = (sp->present & X400I_SP_TDISC) ? sp->tdisc : 0;
    if (!user) ind.diag = &s->diag;
    return indicate(s, &ind);
}

/* GTC: S-CONTROL-GIVE indication; all tokens arrive; the SPM answers GTA. */
static int a_gtc(x400i_ses *s, ev e, const args *a, int next)
{
    x400i_spdu gta;
    int rc;
    if (!(s->fu & X400I_FU_ACTIVITY)) return peer_invalid(s, e, "activity management not selected");
    if (s->vact) return peer_invalid(s, e, "GTC inside an activity");
    if (!peer_holds(s, X400I_TOKEN_ALL)) return peer_invalid(s, e, "GTC from a peer not holding all tokens");
    init_spdu(&gta, X400I_SPDU_GTA);
    if ((rc = send_spdu(s, &gta))) return rc;
    s->owned = avail_tokens(s);
    enter(s, next);
    return simple_ind(s, X400I_SES_CONTROL_GIVE_IND, a->spdu);
}

static int a_please_req(x400i_ses *s, ev e, const args *a, int next);

/* S-TOKEN-PLEASE request in STA18: the tokens are on their way to the peer
 * (GTC sent, GTA awaited); the request is held and sent after the GTA. */
static int a_please_hold(x400i_ses *s, ev e, const args *a, int next)
{
    if (s->have_held_pt) return req_invalid(s, e, "a token request is already waiting for the GTA");
    if (a->ud_len > sizeof s->held_pt_ud) return req_invalid(s, e, "user data too long to hold");
    s->have_held_pt = 1;
    s->held_pt_tokens = a->tokens;
    if (a->ud_len) memcpy(s->held_pt_ud, a->ud, a->ud_len);
    s->held_pt_len = a->ud_len;
    enter(s, next);
    return 0;
}

/* GTA: the S-CONTROL-GIVE is acknowledged (X.225 7.16). */
static int a_gta(x400i_ses *s, ev e, const args *a, int next)
{
    args pa;
    (void)a;
    enter(s, next);
    if (!s->have_held_pt) return 0;
    s->have_held_pt = 0;
    memset(&pa, 0, sizeof pa);
    pa.tokens = s->held_pt_tokens;
    pa.ud = s->held_pt_len ? s->held_pt_ud : NULL;
    pa.ud_len = s->held_pt_len;
    return a_please_req(s, e, &pa, s->state);  /* the held S-TOKEN-PLEASE: PT */
}

/* GT: S-TOKEN-GIVE indication (an empty GT only serves concatenation). */
static int a_gt(x400i_ses *s, ev e, const args *a, int next)
{
    const x400i_spdu *sp = a->spdu;
    x400i_ses_ind ind;
    unsigned t = (sp->present & X400I_SP_TOKEN_ITEM) ? sp->token_item : 0;
    if (!t) {
        if (s->state == X400I_SES_ST_WAIT_RECOVERY_SPDU) return 0; /* no recovery yet */
        enter(s, next);
        return 0;
    }
    if (t & ~avail_tokens(s)) return peer_invalid(s, e, "GT gives a token that is not available");
    if (t & s->owned) return peer_invalid(s, e, "GT gives a token the peer does not hold");
    s->owned |= t;
    if (s->state == X400I_SES_ST_WAIT_RECOVERY_SPDU && !(t & X400I_TOKEN_DATA)) next = ST_KEEP;
    enter(s, next);
    ind_init(&ind, X400I_SES_TOKEN_GIVE_IND, sp);
    ind.tokens = t;
    return indicate(s, &ind);
}

/* PT: S-TOKEN-PLEASE indication. */
static int a_pt(x400i_ses *s, ev e, const args *a, int next)
{
    const x400i_spdu *sp = a->spdu;
    x400i_ses_ind ind;
    unsigned t = sp->token_item;
    if (!(sp->present & X400I_SP_TOKEN_ITEM))
        return peer_invalid(s, e, "PT without Token Item that carries no category 2 SPDU "
                            "(X.225 8.3.15: S-TOKEN-PLEASE names the tokens)");
    if (!t || (t & ~avail_tokens(s))) return peer_invalid(s, e, "PT asks for a token that is not available");
    if (t & ~s->owned) return peer_invalid(s, e, "PT asks for a token the peer already holds");
    enter(s, next);
    ind_init(&ind, X400I_SES_TOKEN_PLEASE_IND, sp);
    ind.tokens = t;
    return indicate(s, &ind);
}

/* DT: S-DATA indication; the peer must hold the data token. */
static int a_dt(x400i_ses *s, ev e, const args *a, int next)
{
    if (!peer_holds(s, X400I_TOKEN_DATA)) return peer_invalid(s, e, "DT from a peer without the data token");
    enter(s, next);
    return simple_ind(s, X400I_SES_DATA_IND, a->spdu);
}

/* MIP: S-SYNC-MINOR indication; the serial number must be V(M). */
static int a_mip(x400i_ses *s, ev e, const args *a, int next)
{
    const x400i_spdu *sp = a->spdu;
    x400i_ses_ind ind;
    char why[96];
    int confirm = !((sp->present & X400I_SP_SYNC_TYPE) && (sp->sync_type & X400I_SYNC_NOEXPL));
    if (!(s->fu & X400I_FU_MINOR_SYNC)) return peer_invalid(s, e, "minor synchronize not selected");
    if (!peer_holds(s, X400I_TOKEN_MINOR | X400I_TOKEN_DATA))
        return peer_invalid(s, e, "MIP from a peer without the minor-sync and data tokens");
    if ((s->fu & X400I_FU_ACTIVITY) && !s->vact) return peer_invalid(s, e, "MIP outside an activity");
    if (sp->serial != s->vm) {
        snprintf(why, sizeof why, "serial number %u, expected V(M)=%u", (unsigned)sp->serial, (unsigned)s->vm);
        return peer_invalid(s, e, why);
    }
    if (!confirm && s->va == s->vm) s->va++;
    s->vm++;
    enter(s, next);
    ind_init(&ind, X400I_SES_MINOR_SYNC_IND, sp);
    ind.serial = sp->serial;
    ind.confirm_required = confirm;
    return indicate(s, &ind);
}

/* MIA: S-SYNC-MINOR confirm; V(A) <= serial < V(M). */
static int a_mia(x400i_ses *s, ev e, const args *a, int next)
{
    const x400i_spdu *sp = a->spdu;
    x400i_ses_ind ind;
    char why[96];
    if (!(s->fu & X400I_FU_MINOR_SYNC)) return peer_invalid(s, e, "minor synchronize not selected");
    if (sp->serial < s->va || sp->serial >= s->vm) {
        snprintf(why, sizeof why, "serial number %u confirms no outstanding sync point (V(A)=%u, V(M)=%u)",
                 (unsigned)sp->serial, (unsigned)s->va, (unsigned)s->vm);
        return peer_invalid(s, e, why);
    }
    s->va = sp->serial + 1;
    enter(s, next);
    ind_init(&ind, X400I_SES_MINOR_SYNC_CONF, sp);
    ind.serial = sp->serial;
    return indicate(s, &ind);
}

static int peer_act_ok(x400i_ses *s, ev e, unsigned tokens, int want_vact)
{
    if (!(s->fu & X400I_FU_ACTIVITY)) return peer_invalid(s, e, "activity management not selected");
    if (!peer_holds(s, tokens)) return peer_invalid(s, e, "sent by a peer not holding the required tokens");
    if (want_vact && !s->vact) return peer_invalid(s, e, "no activity in progress");
    if (!want_vact && s->vact) return peer_invalid(s, e, "an activity is already in progress");
    return 0;
}

/* AS: S-ACTIVITY-START indication. */
static int a_as(x400i_ses *s, ev e, const args *a, int next)
{
    x400i_ses_ind ind;
    int rc;
    if ((rc = peer_act_ok(s, e, X400I_TOKEN_MAJOR | X400I_TOKEN_DATA | X400I_TOKEN_MINOR, 0))) return rc;
    s->vact = 1;
    s->vm = s->va = s->vr = 1;
    enter(s, next);
    ind_init(&ind, X400I_SES_ACT_START_IND, a->spdu);
    ind.activity_id = a->spdu->activity_id;
    return indicate(s, &ind);
}

/* AR: S-ACTIVITY-RESUME indication. */
static int a_ar(x400i_ses *s, ev e, const args *a, int next)
{
    const x400i_spdu *sp = a->spdu;
    x400i_ses_ind ind;
    int rc;
    if ((rc = peer_act_ok(s, e, X400I_TOKEN_MAJOR | X400I_TOKEN_DATA | X400I_TOKEN_MINOR, 0))) return rc;
    if (sp->link_serial >= X400I_SERIAL_MAX) return peer_invalid(s, e, "resume serial number 999999");
    s->vact = 1;
    s->vm = s->va = sp->link_serial + 1;
    s->vr = 1;
    enter(s, next);
    ind_init(&ind, X400I_SES_ACT_RESUME_IND, sp);
    ind.activity_id = sp->activity_id;
    ind.old_activity_id = sp->old_activity_id;
    ind.serial = sp->link_serial;
    ind.old_called_ref = sp->called_ref;
    ind.old_calling_ref = sp->calling_ref;
    ind.old_common_ref = sp->common_ref;
    ind.old_add_ref = sp->add_ref;
    return indicate(s, &ind);
}

/* AI / AD: S-ACTIVITY-INTERRUPT / -DISCARD indication. */
static int a_ai_ad(x400i_ses *s, ev e, const args *a, int next)
{
    x400i_ses_ind ind;
    int rc;
    if ((rc = peer_act_ok(s, e, X400I_TOKEN_MAJOR, 1))) return rc;
    enter(s, next);
    ind_init(&ind, e == E_AI ? X400I_SES_ACT_INTERRUPT_IND : X400I_SES_ACT_DISCARD_IND, a->spdu);
    ind.reason = (a->spdu->present & X400I_SP_REASON) ? a->spdu->reason : 0;
    return indicate(s, &ind);
}

/* AIA / ADA: confirm; all available tokens stay with the requestor (us). */
static int a_aia_ada(x400i_ses *s, ev e, const args *a, int next)
{
    s->vact = 0;
    s->owned = avail_tokens(s);
    enter(s, next);
    return simple_ind(s, e == E_AIA ? X400I_SES_ACT_INTERRUPT_CONF : X400I_SES_ACT_DISCARD_CONF, a->spdu);
}

/* AE: S-ACTIVITY-END indication; serial must be V(M). */
static int a_ae(x400i_ses *s, ev e, const args *a, int next)
{
    x400i_ses_ind ind;
    char why[80];
    int rc;
    if ((rc = peer_act_ok(s, e, X400I_TOKEN_MAJOR | X400I_TOKEN_DATA | X400I_TOKEN_MINOR, 1))) return rc;
    if (a->spdu->serial != s->vm) {
        snprintf(why, sizeof why, "serial number %u, expected V(M)=%u", (unsigned)a->spdu->serial,
                 (unsigned)s->vm);
        return peer_invalid(s, e, why);
    }
    s->vm++;
    enter(s, next);
    ind_init(&ind, X400I_SES_ACT_END_IND, a->spdu);
    ind.serial = a->spdu->serial;
    return indicate(s, &ind);
}

/* MAA in STA04B is the AEA: S-ACTIVITY-END confirm. */
static int a_aea(x400i_ses *s, ev e, const args *a, int next)
{
    x400i_ses_ind ind;
    char why[80];
    if (a->spdu->serial != s->vm - 1) {
        snprintf(why, sizeof why, "AEA serial number %u, expected %u", (unsigned)a->spdu->serial,
                 (unsigned)(s->vm - 1));
        return peer_invalid(s, e, why);
    }
    s->va = s->vm;
    s->vact = 0;
    enter(s, next);
    ind_init(&ind, X400I_SES_ACT_END_CONF, a->spdu);
    ind.serial = a->spdu->serial;
    return indicate(s, &ind);
}

/* ER / ED: S-P- / S-U-EXCEPTION-REPORT indication (X.225 7.20/7.21). */
static int a_er_ed(x400i_ses *s, ev e, const args *a, int next)
{
    x400i_ses_ind ind;
    if (!(s->fu & X400I_FU_EXCEPTIONS)) return peer_invalid(s, e, "exceptions not selected");
    if (e == E_ED && !(s->owned & X400I_TOKEN_DATA))
        return peer_invalid(s, e, "ED from the holder of the data token");
    enter(s, next);
    if (e == E_ER)
        x400i_diag_set(&s->diag, X400_LAYER_SESSION, X400_SOURCE_PROVIDER, X400_ERR_PROTOCOL, 0,
                       "the peer SPM reported a protocol exception (ER)");
    ind_init(&ind, e == E_ER ? X400I_SES_P_EXCEPTION_IND : X400I_SES_U_EXCEPTION_IND, a->spdu);
    ind.reason = (a->spdu->present & X400I_SP_REASON) ? a->spdu->reason : 0;
    if (e == E_ER) ind.diag = &s->diag;
    return indicate(s, &ind);
}

/* SPDUs that X.225 discards in this state (sent before the peer saw ours). */
static int a_discard(x400i_ses *s, ev e, const args *a, int next)
{
    (void)a;
    (void)next;
    x400i_log(&s->log, X400_LOG_DEBUG, X400_LAYER_SESSION, "%s discarded in state %s", ev_names[e],
              st_names[s->state]);
    return 0;
}

/* ---- the state table --------------------------------------------------- */

typedef int (*action_fn)(x400i_ses *s, ev e, const args *a, int next);
typedef struct cell {
    action_fn act;   /* NULL: the event is invalid in this state */
    int8_t next;
} cell;

#define C(fn, st) { fn, (int8_t)(st) }
#define KEEP ST_KEEP
#define S(x) X400I_SES_ST_##x

/* Requests and SPDUs valid in every connected state. */
#define ABORTS C(a_uabort_req, S(CLOSED)), [E_AB] = C(a_ab, S(CLOSED))

static const cell table[X400I_SES_ST_COUNT][EV_COUNT] = {
    [S(IDLE)] = {
        [R_CONNECT] = C(a_connect_req, S(WAIT_AC)),
        [E_CN] = C(a_cn, S(WAIT_CONNECT_RSP)),
    },
    [S(WAIT_AC)] = {
        [E_AC] = C(a_ac, S(DATA)),
        [E_RF] = C(a_rf, S(CLOSED)),
        [R_U_ABORT] = ABORTS,
    },
    [S(WAIT_CONNECT_RSP)] = {
        [R_CONNECT_ACCEPT] = C(a_connect_accept, S(DATA)),
        [R_CONNECT_REFUSE] = C(a_connect_refuse, S(CLOSED)),
        [R_U_ABORT] = ABORTS,
    },
    [S(DATA)] = {
        [R_DATA] = C(a_data_req, KEEP),
        [R_TOKEN_GIVE] = C(a_give_req, KEEP),
        [R_TOKEN_PLEASE] = C(a_please_req, KEEP),
        [R_CONTROL_GIVE] = C(a_control_give_req, S(WAIT_GTA)),
        [R_MINOR_SYNC] = C(a_minor_req, KEEP),
        [R_MINOR_SYNC_RSP] = C(a_minor_rsp, KEEP),
        [R_ACT_START] = C(a_as_req, KEEP),
        [R_ACT_RESUME] = C(a_ar_req, KEEP),
        [R_ACT_INTERRUPT] = C(a_ai_ad_req, S(WAIT_AIA)),
        [R_ACT_DISCARD] = C(a_ai_ad_req, S(WAIT_ADA)),
        [R_ACT_END] = C(a_ae_req, S(WAIT_AEA)),
        [R_RELEASE] = C(a_rel_req, S(WAIT_DN)),
        [R_U_EXCEPTION] = C(a_uexc_req, S(WAIT_RECOVERY_SPDU)),
        [E_FN] = C(a_fn, S(WAIT_RELEASE_RSP)),
        [E_GTC] = C(a_gtc, KEEP),
        [E_GT] = C(a_gt, KEEP),
        [E_PT] = C(a_pt, KEEP),
        [E_DT] = C(a_dt, KEEP),
        [E_MIP] = C(a_mip, KEEP),
        [E_MIA] = C(a_mia, KEEP),
        [E_AS] = C(a_as, KEEP),
        [E_AR] = C(a_ar, KEEP),
        [E_AI] = C(a_ai_ad, S(WAIT_AI_RSP)),
        [E_AD] = C(a_ai_ad, S(WAIT_AD_RSP)),
        [E_AE] = C(a_ae, S(WAIT_AE_RSP)),
        [E_ER] = C(a_er_ed, S(WAIT_RECOVERY_REQ)),
        [E_ED] = C(a_er_ed, S(WAIT_RECOVERY_REQ)),
        [R_U_ABORT] = ABORTS,
    },
    [S(WAIT_GTA)] = {
        [E_GTA] = C(a_gta, S(DATA)),
        [R_TOKEN_PLEASE] = C(a_please_hold, KEEP),
        [R_U_ABORT] = ABORTS,
    },
    [S(WAIT_AEA)] = {
        [E_MAA] = C(a_aea, S(DATA)),
        [E_MIA] = C(a_mia, KEEP),
        [E_PT] = C(a_pt, KEEP),
        [R_U_ABORT] = ABORTS,
    },
    [S(WAIT_AE_RSP)] = {
        [R_ACT_END_RSP] = C(a_ae_rsp, S(DATA)),
        [R_MINOR_SYNC_RSP] = C(a_minor_rsp, KEEP),
        [R_TOKEN_PLEASE] = C(a_please_req, KEEP),
        [R_U_ABORT] = ABORTS,
    },
    [S(WAIT_AIA)] = {
        [E_AIA] = C(a_aia_ada, S(DATA)),
        [E_DT] = C(a_discard, KEEP),
        [E_MIA] = C(a_discard, KEEP),
        [E_PT] = C(a_discard, KEEP),
        [E_ED] = C(a_discard, KEEP),
        [R_U_ABORT] = ABORTS,
    },
    [S(WAIT_AI_RSP)] = {
        [R_ACT_INTERRUPT_RSP] = C(a_ai_ad_rsp, S(DATA)),
        [R_U_ABORT] = ABORTS,
    },
    [S(WAIT_ADA)] = {
        [E_ADA] = C(a_aia_ada, S(DATA)),
        [E_DT] = C(a_discard, KEEP),
        [E_MIA] = C(a_discard, KEEP),
        [E_PT] = C(a_discard, KEEP),
        [E_ED] = C(a_discard, KEEP),
        [R_U_ABORT] = ABORTS,
    },
    [S(WAIT_AD_RSP)] = {
        [R_ACT_DISCARD_RSP] = C(a_ai_ad_rsp, S(DATA)),
        [R_U_ABORT] = ABORTS,
    },
    [S(WAIT_DN)] = {
        [E_DN] = C(a_dn, S(CLOSED)),
        [R_U_ABORT] = ABORTS,
    },
    [S(WAIT_RELEASE_RSP)] = {
        [R_RELEASE_RSP] = C(a_rel_rsp, S(CLOSED)),
        [R_U_ABORT] = ABORTS,
    },
    [S(WAIT_RECOVERY_REQ)] = {
        [R_ACT_INTERRUPT] = C(a_ai_ad_req, S(WAIT_AIA)),
        [R_ACT_DISCARD] = C(a_ai_ad_req, S(WAIT_ADA)),
        [R_TOKEN_GIVE] = C(a_give_req, S(DATA)),
        [E_PT] = C(a_pt, KEEP),
        [E_MIA] = C(a_mia, KEEP),
        [R_U_ABORT] = ABORTS,
    },
    [S(WAIT_RECOVERY_SPDU)] = {
        [E_GT] = C(a_gt, S(DATA)),
        [E_AI] = C(a_ai_ad, S(WAIT_AI_RSP)),
        [E_AD] = C(a_ai_ad, S(WAIT_AD_RSP)),
        [E_DT] = C(a_discard, KEEP),
        [E_MIP] = C(a_discard, KEEP),
        [E_AE] = C(a_discard, KEEP),
        [E_PT] = C(a_discard, KEEP),
        [R_U_ABORT] = ABORTS,
    },
    [S(CLOSED)] = { [R_CONNECT] = { NULL, 0 } },
};

int x400i_ses_table_entry(int state, int e, int *next)
{
    if (state < 0 || state >= X400I_SES_ST_COUNT || e < 0 || e >= EV_COUNT) return 0;
    if (next) *next = table[state][e].next;
    return table[state][e].act != NULL;
}

/* ---- dispatch ---------------------------------------------------------- */

/* Provider abort after a protocol error: AB (protocol error, transport
 * released), S-P-ABORT indication, closed. */
static int provider_abort(x400i_ses *s, int code)
{
    x400i_spdu ab;
    x400i_ses_ind ind;
    x400_diag saved = s->diag;
    if (s->state == X400I_SES_ST_CLOSED) return code;
    init_spdu(&ab, X400I_SPDU_AB);
    ab.present = X400I_SP_TDISC;
    ab.tdisc = X400I_TDISC_RELEASED | X400I_TDISC_PROTOCOL_ERROR;
    x400i_log(&s->log, X400_LOG_WARNING, X400_LAYER_SESSION, "provider abort: %s", saved.text);
    /* Before a session connection exists there is no one to send AB to. */
    if (s->state != X400I_SES_ST_IDLE) (void)send_spdu(s, &ab);
    s->diag = saved;
    if (s->state != X400I_SES_ST_CLOSED) close_transport(s);
    ind_init(&ind, X400I_SES_P_ABORT_IND, NULL);
    ind.reason = ab.tdisc;
    ind.diag = &s->diag;
    if (s->cb.indication) {
        s->in_callback++;
        (void)s->cb.indication(s->cb.user, &ind);
        s->in_callback--;
    }
    return code;
}

static int dispatch(x400i_ses *s, ev e, const args *a)
{
    const cell *c;
    if (s->state == X400I_SES_ST_CLOSED && e < FIRST_SPDU_EVENT)
        return x400i_diag_set(&s->diag, X400_LAYER_SESSION, X400_SOURCE_LOCAL, X400_ERR_STATE, 0,
                              "%s not allowed in state %s: the session connection no longer "
                              "exists", ev_names[e], st_names[s->state]);
    c = &table[s->state][e];
    if (!c->act) {
        if (e < FIRST_SPDU_EVENT) return req_invalid(s, e, NULL);
        return peer_invalid(s, e, NULL);
    }
    return c->act(s, e, a, c->next);
}

static ev spdu_event(x400i_spdu_type t)
{
    switch (t) {
    case X400I_SPDU_CN: return E_CN;
    case X400I_SPDU_AC: return E_AC;
    case X400I_SPDU_RF: return E_RF;
    case X400I_SPDU_FN: return E_FN;
    case X400I_SPDU_DN: return E_DN;
    case X400I_SPDU_NF: return E_NF;
    case X400I_SPDU_AB: return E_AB;
    case X400I_SPDU_AA: return E_AA;
    case X400I_SPDU_GTC: return E_GTC;
    case X400I_SPDU_GTA: return E_GTA;
    case X400I_SPDU_GT: return E_GT;
    case X400I_SPDU_PT: return E_PT;
    case X400I_SPDU_DT: return E_DT;
    case X400I_SPDU_MIP: return E_MIP;
    case X400I_SPDU_MIA: return E_MIA;
    case X400I_SPDU_MAP: return E_MAP;
    case X400I_SPDU_MAA: case X400I_SPDU_AEA: return E_MAA;
    case X400I_SPDU_AS: return E_AS;
    case X400I_SPDU_AR: return E_AR;
    case X400I_SPDU_AI: return E_AI;
    case X400I_SPDU_AIA: return E_AIA;
    case X400I_SPDU_AD: return E_AD;
    case X400I_SPDU_ADA: return E_ADA;
    case X400I_SPDU_AE: return E_AE;
    case X400I_SPDU_ER: return E_ER;
    case X400I_SPDU_ED: return E_ED;
    default: return EV_COUNT;
    }
}

int x400i_ses_input(x400i_ses *s, const uint8_t *tsdu, size_t len)
{
    x400i_spdu sp[2];
    int n, rc;
    if (!s || (!tsdu && len)) return X400_ERR_INVALID_ARG;
    if (s->state == X400I_SES_ST_CLOSED)
        return x400i_diag_set(&s->diag, X400_LAYER_SESSION, X400_SOURCE_LOCAL, X400_ERR_CLOSED, 0,
                              "TSDU received after the session connection ended");
    x400i_log_hex(&s->log, X400_LAYER_SESSION, "recv TSDU", tsdu, len);
    n = x400i_spdu_decode_tsdu(tsdu, len, (s->fu & X400I_FU_ACTIVITY) ? X400I_SPDU_DEC_ACTIVITY : 0,
                               sp, &s->diag);
    if (n < 0) return provider_abort(s, n);
    for (int i = 0; i < n; i++) {
        args a;
        ev e = spdu_event(sp[i].type);
        memset(&a, 0, sizeof a);
        a.spdu = &sp[i];
        if (e == EV_COUNT) {
            x400i_diag_set(&s->diag, X400_LAYER_SESSION, X400_SOURCE_PEER, X400_ERR_INTERNAL, 0,
                           "no event for SPDU %s", x400i_spdu_name(sp[i].type));
            return provider_abort(s, X400_ERR_INTERNAL);
        }
        /* A GT without Token Item, or a PT without Token Item and user data,
         * in front of a category 2 SPDU only carries it (X.225 6.3.7). */
        if ((e == E_GT || e == E_PT) && i == 0 && n == 2 &&
            !(sp[0].present & (X400I_SP_TOKEN_ITEM | (e == E_PT ? X400I_SP_USER_DATA : 0))))
            continue;
        if ((sp[i].present & X400I_SP_USER_DATA) && sp[i].user_data.len > s->max_ud) {
            x400i_diag_set(&s->diag, X400_LAYER_SESSION, X400_SOURCE_PEER, X400_ERR_LIMIT, 0,
                           "%s SPDU carries %zu octets of user data, above the bound of %zu",
                           x400i_spdu_name(sp[i].type), sp[i].user_data.len, s->max_ud);
            return provider_abort(s, X400_ERR_LIMIT);
        }
        rc = dispatch(s, e, &a);
        if (rc == X400_ERR_PROTOCOL && s->diag.source == X400_SOURCE_PEER && s->state != X400I_SES_ST_CLOSED)
            return provider_abort(s, rc);
        if (rc < 0) return rc;
        if (s->state == X400I_SES_ST_CLOSED) break;
        /* the session may have closed inside a callback */
    }
    return 0;
}

void x400i_ses_transport_lost(x400i_ses *s)
{
    x400i_ses_ind ind;
    if (!s || s->state == X400I_SES_ST_CLOSED) return;
    if (s->state == X400I_SES_ST_IDLE) {
        s->state = X400I_SES_ST_CLOSED;
        return;
    }
    x400i_diag_set(&s->diag, X400_LAYER_SESSION, X400_SOURCE_PROVIDER, X400_ERR_ABORTED, 0,
                   "transport connection lost in state %s", st_names[s->state]);
    s->state = X400I_SES_ST_CLOSED;
    ind_init(&ind, X400I_SES_P_ABORT_IND, NULL);
    ind.diag = &s->diag;
    if (s->cb.indication) {
        s->in_callback++;
        (void)s->cb.indication(s->cb.user, &ind);
        s->in_callback--;
    }
}

/* ---- requests ---------------------------------------------------------- */

static int check_ud(x400i_ses *s, const char *what, const uint8_t *ud, size_t len)
{
    if (!ud && len)
        return x400i_diag_set(&s->diag, X400_LAYER_SESSION, X400_SOURCE_LOCAL, X400_ERR_INVALID_ARG, 0,
                              "%s: NULL user data with length %zu", what, len);
    if (len > s->max_ud)
        return x400i_diag_set(&s->diag, X400_LAYER_SESSION, X400_SOURCE_LOCAL, X400_ERR_TOO_LONG, 0,
                              "%s: %zu octets of user data exceed the bound of %zu", what, len, s->max_ud);
    return 0;
}

static int request(x400i_ses *s, ev e, args *a)
{
    int rc;
    if (!s) return X400_ERR_INVALID_ARG;
    if ((rc = check_ud(s, ev_names[e], a->ud, a->ud_len))) return rc;
    /* Version 1 bounds the user data of the SPDUs other than DT (X.225 8.3):
     * 512 octets, 9 in AB.  (CN: decided by a_connect_req.) */
    if (s->version == 1 && e != R_DATA && e != R_CONNECT) {
        size_t max = e == R_U_ABORT ? X225_V1_MAX_AB_UD : X225_V1_MAX_UD;
        if (a->ud_len > max)
            return x400i_diag_set(&s->diag, X400_LAYER_SESSION, X400_SOURCE_LOCAL, X400_ERR_TOO_LONG, 0,
                                  "%s: %zu octets of user data exceed %zu in protocol version 1 "
                                  "(X.225 8.3)", ev_names[e], a->ud_len, max);
    }
    return dispatch(s, e, a);
}

#define ARGS(...) args a; memset(&a, 0, sizeof a); __VA_ARGS__

int x400i_ses_connect_req(x400i_ses *s, const uint8_t *ud, size_t len)
{
    ARGS(a.ud = ud; a.ud_len = len;);
    return request(s, R_CONNECT, &a);
}
int x400i_ses_connect_rsp(x400i_ses *s, int accept, int reason, unsigned tokens, const uint8_t *ud, size_t len)
{
    ARGS(a.ud = ud; a.ud_len = len; a.flag = accept; a.reason = reason; a.tokens = tokens;);
    if (!accept && (reason < 0 || reason > 255)) return X400_ERR_INVALID_ARG;
    return request(s, accept ? R_CONNECT_ACCEPT : R_CONNECT_REFUSE, &a);
}
int x400i_ses_data_req(x400i_ses *s, const uint8_t *ud, size_t len)
{
    ARGS(a.ud = ud; a.ud_len = len;);
    return request(s, R_DATA, &a);
}
int x400i_ses_token_give_req(x400i_ses *s, unsigned tokens)
{
    ARGS(a.tokens = tokens;);
    return request(s, R_TOKEN_GIVE, &a);
}
int x400i_ses_token_please_req(x400i_ses *s, unsigned tokens, const uint8_t *ud, size_t len)
{
    ARGS(a.tokens = tokens; a.ud = ud; a.ud_len = len;);
    return request(s, R_TOKEN_PLEASE, &a);
}
int x400i_ses_control_give_req(x400i_ses *s)
{
    ARGS();
    return request(s, R_CONTROL_GIVE, &a);
}
int x400i_ses_minor_sync_req(x400i_ses *s, int confirm_required, const uint8_t *ud, size_t len, uint32_t *serial)
{
    ARGS(a.flag = confirm_required; a.ud = ud; a.ud_len = len; a.serial_out = serial;);
    return request(s, R_MINOR_SYNC, &a);
}
int x400i_ses_minor_sync_rsp(x400i_ses *s, uint32_t serial, const uint8_t *ud, size_t len)
{
    ARGS(a.serial = serial; a.ud = ud; a.ud_len = len;);
    return request(s, R_MINOR_SYNC_RSP, &a);
}
int x400i_ses_activity_start_req(x400i_ses *s, const uint8_t *id, size_t id_len, const uint8_t *ud, size_t len)
{
    ARGS(a.id.p = id; a.id.len = id ? id_len : 0; a.ud = ud; a.ud_len = len;);
    return request(s, R_ACT_START, &a);
}
int x400i_ses_activity_resume_req(x400i_ses *s, const uint8_t *id, size_t id_len, const uint8_t *old_id,
                                  size_t old_id_len, uint32_t serial, const x400i_ses_old_conn *old_conn,
                                  const uint8_t *ud, size_t len)
{
    ARGS(a.id.p = id; a.id.len = id ? id_len : 0; a.old_id.p = old_id; a.old_id.len = old_id ? old_id_len : 0;
         a.serial = serial; a.old_conn = old_conn; a.ud = ud; a.ud_len = len;);
    if (old_conn && ((old_conn->called_ref && old_conn->called_ref_len > X400I_REF_MAX) ||
                     (old_conn->calling_ref && old_conn->calling_ref_len > X400I_REF_MAX) ||
                     (old_conn->common_ref && old_conn->common_ref_len > X400I_REF_MAX) ||
                     (old_conn->add_ref && old_conn->add_ref_len > X400I_ADD_REF_MAX)))
        return X400_ERR_TOO_LONG;
    return request(s, R_ACT_RESUME, &a);
}
int x400i_ses_activity_interrupt_req(x400i_ses *s, int reason)
{
    ARGS(a.reason = reason;);
    if (reason < 0 || reason > 255) return X400_ERR_INVALID_ARG;
    return request(s, R_ACT_INTERRUPT, &a);
}
int x400i_ses_activity_interrupt_rsp(x400i_ses *s)
{
    ARGS();
    return request(s, R_ACT_INTERRUPT_RSP, &a);
}
int x400i_ses_activity_discard_req(x400i_ses *s, int reason)
{
    ARGS(a.reason = reason;);
    if (reason < 0 || reason > 255) return X400_ERR_INVALID_ARG;
    return request(s, R_ACT_DISCARD, &a);
}
int x400i_ses_activity_discard_rsp(x400i_ses *s)
{
    ARGS();
    return request(s, R_ACT_DISCARD_RSP, &a);
}
int x400i_ses_activity_end_req(x400i_ses *s, const uint8_t *ud, size_t len, uint32_t *serial)
{
    ARGS(a.ud = ud; a.ud_len = len; a.serial_out = serial;);
    return request(s, R_ACT_END, &a);
}
int x400i_ses_activity_end_rsp(x400i_ses *s, const uint8_t *ud, size_t len)
{
    ARGS(a.ud = ud; a.ud_len = len;);
    return request(s, R_ACT_END_RSP, &a);
}
int x400i_ses_release_req(x400i_ses *s, const uint8_t *ud, size_t len)
{
    ARGS(a.ud = ud; a.ud_len = len;);
    return request(s, R_RELEASE, &a);
}
int x400i_ses_release_rsp(x400i_ses *s, const uint8_t *ud, size_t len)
{
    ARGS(a.ud = ud; a.ud_len = len;);
    return request(s, R_RELEASE_RSP, &a);
}
int x400i_ses_u_abort_req(x400i_ses *s, const uint8_t *ud, size_t len)
{
    ARGS(a.ud = ud; a.ud_len = len;);
    return request(s, R_U_ABORT, &a);
}
int x400i_ses_u_exception_req(x400i_ses *s, int reason, const uint8_t *ud, size_t len)
{
    ARGS(a.reason = reason; a.ud = ud; a.ud_len = len;);
    if (reason < 0 || reason > 255) return X400_ERR_INVALID_ARG;
    return request(s, R_U_EXCEPTION, &a);
}

/* ---- life cycle -------------------------------------------------------- */

static int cfg_store(stored *d, const uint8_t *p, size_t n, size_t max)
{
    d->set = 0;
    d->len = 0;
    if (!p) return 0;
    if (n > max) return X400_ERR_TOO_LONG;
    store(d, p, n);
    return 0;
}

int x400i_ses_new(x400i_ses **out, int initiator, const x400i_ses_config *cfg, const x400i_ses_callbacks *cb,
                  const x400_allocator *a, const x400_logger *log)
{
    x400i_ses *s;
    if (!out || !cfg || !cb || !cb->send_tsdu) return X400_ERR_INVALID_ARG;
    *out = NULL;
    if (cfg->versions & ~X400I_SES_V_ALL) return X400_ERR_INVALID_ARG;
    a = x400i_alloc_or_default(a);
    s = x400i_calloc(a, 1, sizeof *s);
    if (!s) return X400_ERR_NOMEM;
    s->alloc = a;
    if (log) s->log = *log;
    s->cb = *cb;
    s->initiator = initiator ? 1 : 0;
    s->state = X400I_SES_ST_IDLE;
    s->cfg_requirements = cfg->requirements ? cfg->requirements : DEFAULT_REQUIREMENTS;
    s->cfg_versions = cfg->versions ? cfg->versions : X400I_SES_V_ALL;
    s->cfg_token_setting = cfg->token_setting;
    s->max_ud = cfg->max_user_data ? cfg->max_user_data : DEFAULT_MAX_UD;
    if (cfg_store(&s->own_calling_ssel, cfg->calling_ssel, cfg->calling_ssel_len, X400I_SSEL_MAX) ||
        cfg_store(&s->own_called_ssel, cfg->called_ssel, cfg->called_ssel_len, X400I_SSEL_MAX) ||
        cfg_store(&s->own_ref, cfg->calling_ref, cfg->calling_ref_len, X400I_REF_MAX) ||
        cfg_store(&s->own_common, cfg->common_ref, cfg->common_ref_len, X400I_REF_MAX)) {
        x400i_free(a, s);
        return X400_ERR_TOO_LONG;
    }
    /* one TSDU: SPDU headers plus at most one SSDU's user data */
    x400i_buf_init(&s->out, a, s->max_ud + 512);
    *out = s;
    return 0;
}

void x400i_ses_free(x400i_ses *s)
{
    if (!s) return;
    x400i_buf_free(&s->out);
    x400i_free(s->alloc, s);
}

int x400i_ses_set_token_setting(x400i_ses *s, uint8_t token_setting)
{
    if (!s) return X400_ERR_INVALID_ARG;
    if (!s->initiator || s->state != X400I_SES_ST_IDLE)
        return x400i_diag_set(&s->diag, X400_LAYER_SESSION, X400_SOURCE_LOCAL, X400_ERR_STATE, 0,
                              "token setting can only be chosen by an idle initiator");
    s->cfg_token_setting = token_setting;
    return X400_OK;
}

int x400i_ses_state(const x400i_ses *s) { return s ? s->state : -1; }
int x400i_ses_tokens_held(const x400i_ses *s) { return s ? (int)(s->owned & avail_tokens(s)) : 0; }
uint16_t x400i_ses_requirements(const x400i_ses *s) { return s ? s->fu : 0; }
int x400i_ses_version(const x400i_ses *s) { return s ? s->version : 0; }
int x400i_ses_in_activity(const x400i_ses *s) { return s ? s->vact : 0; }
uint32_t x400i_ses_vm(const x400i_ses *s) { return s ? s->vm : 0; }
uint32_t x400i_ses_va(const x400i_ses *s) { return s ? s->va : 0; }
const x400_diag *x400i_ses_diag(const x400i_ses *s) { return s ? &s->diag : NULL; }
