/*
 * RTSE's lower adapter for X.410-1984 mode (ISODE's rt2ss): RTSE straight
 * over the session machine of one association (lib/assoc_int.h); no
 * presentation, no ACSE.  What X.410 (1984) puts on the session service,
 * in the forms X.226 8.2-8.5 keep for it (the CP-type / CPA-PPDU `x410-
 * mode-parameters`, the CPR-PPDU / ARU-PPDU `x400-mode-parameters`):
 *
 *  RT-OPEN   S-CONNECT request   CP  = SET { [0] mode-selector {[0] 0},
 *                                            [1] IMPLICIT RTORQapdu }
 *            S-CONNECT accept    CPA = SET { [0] mode-selector {[0] 0},
 *                                            [1] IMPLICIT RTOACapdu }
 *            S-CONNECT refuse    CPR = RTORJapdu as a SET (RF, reason 2)
 *  RT-U-ABORT S-U-ABORT          ARU = RTABapdu as a SET
 *  RTTR      S-DATA user data, the APDU itself
 *  RTTP      S-TOKEN-PLEASE user data
 *  RT-CLOSE  S-RELEASE without user data
 *  the rest  S-SYNC-MINOR, S-ACTIVITY-*, S-CONTROL-GIVE
 *
 * RTSE builds and takes its APDUs in their RTSE-apdus form (B0 RTORQ, B1
 * RTOAC, B2 RTORJ, B6 RTAB); this adapter re-tags them, both ways.  What
 * PP on ISODE sends is in test/interop/pp-*-1984-*.txt.
 *
 * Leniencies (doc/interop.md): a CP / CPA whose SET has its elements in
 * any order, with indefinite lengths, or with more elements than these
 * two, is taken; a CP/CPA without x410-mode-parameters reaches RTSE with
 * no APDU (RTSE refuses it: RTORJ / RTAB); an S-U-ABORT whose user data is
 * no SET is a provider abort.
 */
#include <string.h>

#include "assoc_int.h"
#include "internal.h"

#define L X400_LAYER_RTSE
#define TRY(x) do { int rv_ = (x); if (rv_ < 0) return rv_; } while (0)

/* X.226 8.2 mode-selector [0] { mode-value [0] x410-1984-mode (0) } */
static const uint8_t mode_x410[] = { 0xA0, 0x03, 0x80, 0x01, 0x00 };

/* ---- the PDUs ---- */

/* Contents of one RTSE APDU under identifier `id`. */
static int put_retagged(x400i_buf *b, uint8_t id, const uint8_t *apdu, size_t len)
{
    x400i_tlv t;
    size_t m;
    if (x400i_ber_read(apdu, len, &t, X400I_BER_MAX_DEPTH, L, NULL) < 0 || t.total != len ||
        !t.constructed)
        return X400_ERR_INVALID_ARG;
    TRY(x400i_ber_open(b, id, &m));
    TRY(x400i_buf_append(b, t.v, t.vlen));
    return x400i_ber_close(b, m);
}

/* CP / CPA: SET { mode-selector, [1] the RTORQ / RTOAC fields }. */
static int put_cp(x400i_buf *b, const uint8_t *apdu, size_t len)
{
    size_t m;
    TRY(x400i_ber_open(b, 0x31, &m));
    TRY(x400i_buf_append(b, mode_x410, sizeof mode_x410));
    TRY(put_retagged(b, 0xA1, apdu, len));
    return x400i_ber_close(b, m);
}

/* The S-CONNECT / S-U-ABORT user data, normalised to definite lengths. */
static int normalised(const uint8_t *ud, size_t len, x400i_buf *out, x400i_tlv *t)
{
    if (!len) return X400_ERR_PARSE;
    TRY(x400i_ber_normalise(ud, len, out, X400I_BER_MAX_DEPTH, L, NULL));
    TRY(x400i_ber_read(out->p, out->len, t, X400I_BER_MAX_DEPTH, L, NULL));
    return t->first == 0x31 ? X400_OK : X400_ERR_PARSE;
}

/* The element `first` of a normalised SET, or X400_ERR_PARSE. */
static int member(const x400i_tlv *set, uint8_t first, x400i_tlv *c)
{
    size_t off = 0;
    int rv;
    while ((rv = x400i_ber_child(set, &off, c, L, NULL)) == 1)
        if (c->first == first) return X400_OK;
    return X400_ERR_PARSE;
}

/* Re-tag the contents of `t` as RTSE APDU `id`, appended to out; *apdu
 * views it. */
static int retag_in(x400i_buf *out, const x400i_tlv *t, uint8_t id, x400i_view *apdu)
{
    size_t start = out->len, voff = (size_t)(t->v - out->p), vlen = t->vlen;
    uint8_t lo[8];
    size_t n = x400i_ber_put_len(lo, vlen);
    TRY(x400i_buf_reserve(out, 1 + n + vlen));
    out->p[out->len++] = id;
    memcpy(out->p + out->len, lo, n);
    out->len += n;
    memcpy(out->p + out->len, out->p + voff, vlen);
    out->len += vlen;
    apdu->p = out->p + start;
    apdu->len = out->len - start;
    return X400_OK;
}

/* RTSE's APDU from X.410 session user data into *apdu (a view into out):
 * CP/CPA (set_member 0xA1: the [1] parameters) or CPR/ARU (0: the whole
 * SET). */
static int apdu_in(const uint8_t *ud, size_t len, uint8_t set_member, uint8_t id, x400i_buf *out,
                   x400i_view *apdu)
{
    x400i_tlv set, c;
    apdu->p = NULL;
    apdu->len = 0;
    TRY(normalised(ud, len, out, &set));
    if (!set_member) return retag_in(out, &set, id, apdu);
    TRY(member(&set, set_member, &c));
    if (!c.constructed) return X400_ERR_PARSE;
    return retag_in(out, &c, id, apdu);
}

int x400i_rtse_ses_decode(int pdu, const uint8_t *ud, size_t len, x400i_buf *out, x400i_view *apdu)
{
    switch (pdu) {
    case X400I_PPDU_CP: return apdu_in(ud, len, 0xA1, 0xB0, out, apdu);
    case X400I_PPDU_CPA: return apdu_in(ud, len, 0xA1, 0xB1, out, apdu);
    case X400I_PPDU_CPR: return apdu_in(ud, len, 0, 0xB2, out, apdu);
    case X400I_PPDU_ARU: return apdu_in(ud, len, 0, 0xB6, out, apdu);
    default: return X400_ERR_INVALID_ARG;
    }
}

int x400i_rtse_ses_takes(const uint8_t *ud, size_t len)
{
    /* read in place (indefinite lengths followed), nothing allocated */
    x400i_tlv set, c, v;
    size_t off = 0, voff;
    long mv = -1;
    if (!ud || !len || ud[0] != 0x31 || x400i_ber_read(ud, len, &set, X400I_BER_MAX_DEPTH, L, NULL) < 0)
        return 0;
    while (x400i_ber_child(&set, &off, &c, L, NULL) == 1) {
        if (c.first != 0xA0) continue;
        for (voff = 0; x400i_ber_child(&c, &voff, &v, L, NULL) == 1;)
            if (v.first == 0x80 && x400i_ber_get_int(v.v, v.vlen, &mv) < 0) mv = -1;
        break;
    }
    return mv == 0;
}

/* ---- requests (RTSE's lower interface, user = the association) ---- */

#define A(u) x400_assoc *a = (u)

/* The session machine refused a request: its diagnostic is the one. */
static int ses_err(x400_assoc *a, int rv)
{
    const x400_diag *sd = x400i_ses_diag(a->ses);
    if (rv < 0 && sd->code) a->diag = *sd;
    return rv;
}

/* Build a connection PDU with `put` and hand it to `send`. */
static int with_pdu(x400_assoc *a, int (*put)(x400i_buf *, const uint8_t *, size_t),
                    const uint8_t *apdu, size_t len, const char *what, x400i_buf *b)
{
    int rv;
    x400i_buf_init(b, a->alloc, len + 64);
    rv = put(b, apdu, len);
    if (rv < 0) {
        x400i_buf_free(b);
        return x400i_diag_set(&a->diag, L, X400_SOURCE_LOCAL, rv, 0,
                              "X.410-1984: cannot build the %s from RTSE's APDU", what);
    }
    return X400_OK;
}

static int put_set(x400i_buf *b, const uint8_t *apdu, size_t len)
{
    return put_retagged(b, 0x31, apdu, len);
}

/* S-CONNECT request with the CP (RT-OPEN, X.410 (1984) / X.228 in 1984
 * mode); RTSE's initial turn becomes the Token Setting Item. */
static int l_connect_req(void *u, int turn_to_initiator, const uint8_t *apdu, size_t len)
{
    A(u);
    x400i_buf b;
    int rv = x400i_ses_set_token_setting(a->ses, turn_to_initiator ? 0x00 : 0x55);
    if (rv < 0) return ses_err(a, rv);
    TRY(with_pdu(a, put_cp, apdu, len, "CP (RTORQ)", &b));
    rv = x400i_ses_connect_req(a->ses, b.p, b.len);
    x400i_buf_free(&b);
    return ses_err(a, rv);
}

/* S-CONNECT response: accepted with the CPA (RTOAC), refused with the CPR
 * (RTORJ) in RF, reason 2 (rejection by the SS-user, with user data). */
static int l_connect_rsp(void *u, int accept, const uint8_t *apdu, size_t len)
{
    A(u);
    x400i_buf b;
    int rv;
    TRY(with_pdu(a, accept ? put_cp : put_set, apdu, len, accept ? "CPA (RTOAC)" : "CPR (RTORJ)", &b));
    rv = x400i_ses_connect_rsp(a->ses, accept, accept ? 0 : 2, 0, b.p, b.len);
    x400i_buf_free(&b);
    return x400i_assoc_answered(a, accept, ses_err(a, rv));
}

static int l_data_req(void *u, const uint8_t *apdu, size_t len)
{
    A(u);
    return ses_err(a, x400i_ses_data_req(a->ses, apdu, len));  /* S-DATA: the RTTR itself */
}

static int l_minor_req(void *u, uint32_t *serial)
{
    A(u);
    return ses_err(a, x400i_ses_minor_sync_req(a->ses, 1, NULL, 0, serial));  /* X.225 7.13 */
}

static int l_minor_rsp(void *u, uint32_t serial)
{
    A(u);
    return ses_err(a, x400i_ses_minor_sync_rsp(a->ses, serial, NULL, 0));
}

static int l_act_start(void *u, const uint8_t *id, size_t id_len)
{
    A(u);
    return ses_err(a, x400i_ses_activity_start_req(a->ses, id, id_len, NULL, 0));  /* X.225 7.27 */
}

static int l_act_resume(void *u, const uint8_t *id, size_t id_len, const uint8_t *old_id,
                        size_t old_len, uint32_t serial, const x400i_rtse_ref *old)
{
    x400i_ses_old_conn oc;
    A(u);
    x400i_assoc_old_conn(&oc, old);
    /* S-ACTIVITY-RESUME, X.225 7.28 */
    return ses_err(a, x400i_ses_activity_resume_req(a->ses, id, id_len, old_id, old_len, serial,
                                                    old ? &oc : NULL, NULL, 0));
}

static int l_discard_rsp(void *u)
{
    A(u);
    return ses_err(a, x400i_ses_activity_discard_rsp(a->ses));
}

static int l_interrupt_rsp(void *u)
{
    A(u);
    return ses_err(a, x400i_ses_activity_interrupt_rsp(a->ses));
}

static int l_u_exception(void *u, int reason)
{
    A(u);
    return ses_err(a, x400i_ses_u_exception_req(a->ses, reason, NULL, 0));  /* S-U-EXCEPTION-REPORT, X.225 7.21 */
}

static int l_discard_req(void *u, int reason)
{
    A(u);
    return ses_err(a, x400i_ses_activity_discard_req(a->ses, reason));  /* S-ACTIVITY-DISCARD, X.225 7.29 */
}

static int l_end_req(void *u, uint32_t *serial)
{
    A(u);
    return ses_err(a, x400i_ses_activity_end_req(a->ses, NULL, 0, serial));  /* X.225 7.31 */
}

static int l_end_rsp(void *u)
{
    A(u);
    return ses_err(a, x400i_ses_activity_end_rsp(a->ses, NULL, 0));
}

/* S-TOKEN-PLEASE with the RTTP as user data (RT-TURN-PLEASE). */
static int l_please(void *u, const uint8_t *apdu, size_t len)
{
    A(u);
    unsigned want = x400i_assoc_tokens_wanted(a);
    if (!want) return -1;
    return ses_err(a, x400i_ses_token_please_req(a->ses, want, apdu, len));
}

static int l_control_give(void *u)
{
    A(u);
    return ses_err(a, x400i_ses_control_give_req(a->ses));  /* S-CONTROL-GIVE (RT-TURN-GIVE) */
}

/* S-RELEASE without user data (RT-CLOSE). */
static int l_release_req(void *u)
{
    A(u);
    int rv = ses_err(a, x400i_ses_release_req(a->ses, NULL, 0));
    if (rv >= 0) x400i_assoc_releasing(a);
    return rv < 0 ? rv : X400_OK;
}

static int l_release_rsp(void *u)
{
    A(u);
    int rv = ses_err(a, x400i_ses_release_rsp(a->ses, NULL, 0));
    if (rv >= 0) x400i_assoc_released(a);
    return rv < 0 ? rv : X400_OK;
}

/* S-U-ABORT with the ARU (the RTAB as a SET), or without user data. */
static int l_u_abort(void *u, const uint8_t *apdu, size_t len)
{
    A(u);
    x400i_buf b;
    int rv;
    if (x400i_assoc_finished(a)) return X400_OK;
    if (!len || with_pdu(a, put_set, apdu, len, "ARU (RTAB)", &b) < 0)
        return x400i_assoc_aborted_here(a, x400i_ses_u_abort_req(a->ses, NULL, 0));
    rv = x400i_ses_u_abort_req(a->ses, b.p, b.len);
    x400i_buf_free(&b);
    return x400i_assoc_aborted_here(a, rv);
}

/* ---- session -> RTSE ---- */

/* S-CONNECT indication (responder): the CP with the RTORQ. */
static int on_connect_ind(x400_assoc *a, const x400i_ses_ind *si, x400i_rtse_lind *l, x400i_buf *b)
{
    x400i_view apdu;
    x400i_rtse_ref ref;
    if (!a->up.indication) {
        x400i_diag_set(&a->diag, L, X400_SOURCE_LOCAL, X400_ERR_UNSUPPORTED, 0,
                       "X.410-1984 CP but no RTSE above the association");
        (void)x400i_ses_connect_rsp(a->ses, 0, 0, 0, NULL, 0);
        x400i_assoc_refused(a, NULL);
        return X400_ERR_UNSUPPORTED;
    }
    (void)apdu_in(si->user_data, si->user_data_len, 0xA1, 0xB0, b, &apdu);
    l->type = X400I_RTSE_LIND_CONNECT;
    l->mode = X400I_RTSE_MODE_X410;
    l->apdu = apdu.p;
    l->apdu_len = apdu.len;
    x400i_assoc_conn_facts(a, si, l, &ref);
    return x400i_assoc_up(a, l);
}

/* S-CONNECT confirm (initiator): AC with the CPA (RTOAC) or RF, with the
 * CPR (RTORJ) when the peer's RTSE refused. */
static int on_connect_conf(x400_assoc *a, const x400i_ses_ind *si, x400i_rtse_lind *l, x400i_buf *b)
{
    x400i_view apdu;
    x400i_rtse_ref ref;
    int rv;
    if (si->accepted)
        (void)apdu_in(si->user_data, si->user_data_len, 0xA1, 0xB1, b, &apdu);
    else
        (void)apdu_in(si->user_data, si->user_data_len, 0, 0xB2, b, &apdu);
    l->type = X400I_RTSE_LIND_CONNECT_CONF;
    l->accepted = si->accepted;
    l->apdu = apdu.p;
    l->apdu_len = apdu.len;
    x400i_assoc_conn_facts(a, si, l, &ref);
    if (!si->accepted) {
        if (apdu.len)
            x400i_diag_set(&a->diag, L, X400_SOURCE_PEER, X400_ERR_REFUSED, si->reason,
                           "X.410-1984: connection refused (CPR with RTORJ, RF reason %d)", si->reason);
        else
            x400i_diag_set(&a->diag, X400_LAYER_SESSION, X400_SOURCE_PEER, X400_ERR_REFUSED,
                           si->reason, "S-CONNECT refused by peer (RF reason %d)", si->reason);
        l->diag = &a->diag;
        rv = x400i_assoc_up(a, l);
        x400i_assoc_refused(a, NULL);
        return rv < 0 ? rv : X400_OK;
    }
    rv = x400i_assoc_up(a, l);
    return rv < 0 ? rv : x400i_assoc_established(a);
}

/* S-U-ABORT (the ARU: the RTAB as a SET) / S-P-ABORT. */
static int on_abort(x400_assoc *a, const x400i_ses_ind *si, x400i_rtse_lind *l, x400i_buf *b)
{
    x400i_view apdu;
    if (si->type == X400I_SES_U_ABORT_IND &&
        (!si->user_data_len || apdu_in(si->user_data, si->user_data_len, 0, 0xB6, b, &apdu) >= 0)) {
        l->type = X400I_RTSE_LIND_U_ABORT;
        l->apdu = si->user_data_len ? apdu.p : NULL;
        l->apdu_len = si->user_data_len ? apdu.len : 0;
        x400i_diag_set(&a->diag, X400_LAYER_SESSION, X400_SOURCE_PEER, X400_ERR_ABORTED, 0,
                       "S-U-ABORT from peer");
    } else {
        const x400_diag *sd = si->diag ? si->diag : x400i_ses_diag(a->ses);
        l->type = X400I_RTSE_LIND_P_ABORT;
        if (si->type == X400I_SES_U_ABORT_IND)
            x400i_diag_set(&a->diag, X400_LAYER_SESSION, X400_SOURCE_PEER, X400_ERR_ABORTED, 0,
                           "S-U-ABORT from peer with user data that is no ARU (RTAB)");
        else if (sd && sd->code && !x400i_assoc_finished(a))
            a->diag = *sd;
        else if (!x400i_assoc_finished(a))
            x400i_diag_set(&a->diag, X400_LAYER_SESSION, X400_SOURCE_PROVIDER, X400_ERR_ABORTED, 0,
                           "S-P-ABORT");
    }
    l->diag = &a->diag;
    if (!x400i_assoc_finished(a)) (void)x400i_assoc_up(a, l);
    x400i_assoc_aborted(a, NULL);
    return X400_OK;
}

/* Session indications RTSE takes as they are: 1 + the RTSE indication. */
static const uint8_t lind_of_ses[] = {
    [X400I_SES_DATA_IND] = 1 + X400I_RTSE_LIND_DATA,
    [X400I_SES_TOKEN_PLEASE_IND] = 1 + X400I_RTSE_LIND_TOKEN_PLEASE,
    [X400I_SES_CONTROL_GIVE_IND] = 1 + X400I_RTSE_LIND_CONTROL_GIVE,
    [X400I_SES_MINOR_SYNC_IND] = 1 + X400I_RTSE_LIND_MINOR_SYNC,
    [X400I_SES_MINOR_SYNC_CONF] = 1 + X400I_RTSE_LIND_MINOR_SYNC_CONF,
    [X400I_SES_ACT_START_IND] = 1 + X400I_RTSE_LIND_ACT_START,
    [X400I_SES_ACT_RESUME_IND] = 1 + X400I_RTSE_LIND_ACT_RESUME,
    [X400I_SES_ACT_INTERRUPT_IND] = 1 + X400I_RTSE_LIND_ACT_INTERRUPT,
    [X400I_SES_ACT_DISCARD_IND] = 1 + X400I_RTSE_LIND_ACT_DISCARD,
    [X400I_SES_ACT_END_IND] = 1 + X400I_RTSE_LIND_ACT_END,
    [X400I_SES_ACT_END_CONF] = 1 + X400I_RTSE_LIND_ACT_END_CONF,
    [X400I_SES_ACT_DISCARD_CONF] = 1 + X400I_RTSE_LIND_ACT_DISCARD_CONF,
    [X400I_SES_U_EXCEPTION_IND] = 1 + X400I_RTSE_LIND_U_EXCEPTION,
    [X400I_SES_RELEASE_IND] = 1 + X400I_RTSE_LIND_RELEASE,
    [X400I_SES_RELEASE_CONF] = 1 + X400I_RTSE_LIND_RELEASE_CONF,
};

static int ses_ind(x400_assoc *a, const x400i_ses_ind *si)
{
    x400i_rtse_lind l;
    x400i_buf b;
    int rv = 0, t;
    memset(&l, 0, sizeof l);
    x400i_buf_init(&b, a->alloc, 2 * si->user_data_len + 64);
    switch (si->type) {
    case X400I_SES_CONNECT_IND: rv = on_connect_ind(a, si, &l, &b); break;
    case X400I_SES_CONNECT_CONF: rv = on_connect_conf(a, si, &l, &b); break;
    case X400I_SES_U_ABORT_IND:
    case X400I_SES_P_ABORT_IND: rv = on_abort(a, si, &l, &b); break;
    case X400I_SES_P_EXCEPTION_IND: rv = x400i_assoc_give_up(a, si); break;
    default:
        t = (unsigned)si->type < X400I_ARRAY_LEN(lind_of_ses) ? lind_of_ses[si->type] : 0;
        if (t == 0) break;    /* S-TOKEN-GIVE, interrupt / discard confirms: not RTSE's */
        l.type = (x400i_rtse_lind_type)(t - 1);
        x400i_assoc_lind_of_ses(&l, si);
        if (l.type == X400I_RTSE_LIND_DATA || l.type == X400I_RTSE_LIND_TOKEN_PLEASE) {
            l.apdu = si->user_data;
            l.apdu_len = si->user_data_len;
        }
        if (l.type == X400I_RTSE_LIND_RELEASE) x400i_assoc_releasing(a);
        rv = x400i_assoc_up(a, &l);
        if (l.type == X400I_RTSE_LIND_RELEASE_CONF) x400i_assoc_released(a);
        break;
    }
    x400i_buf_free(&b);
    return rv;
}

/* ---- the adapter: nothing to create above session ---- */

static int start(x400_assoc *a)
{
    (void)a;
    return X400_OK;
}

static void stop(x400_assoc *a) { (void)a; }

const x400i_assoc_adapter x400i_rtse_ses_adapter = {
    "session (X.410-1984)", start, stop, ses_ind,
    { NULL, l_connect_req, l_connect_rsp, l_data_req, l_minor_req, l_minor_rsp, l_act_start,
      l_act_resume, l_discard_rsp, l_interrupt_rsp, l_end_req, l_end_rsp, l_please, l_control_give,
      l_release_req, l_release_rsp, l_u_abort, l_u_exception, l_discard_req },
};

/* ---- the mode of an association is its adapter's ---- */

const x400i_assoc_adapter *x400i_rtse_adapter_configured(const x400_assoc_config *cfg)
{
    switch (cfg->mode) {
    case X400_MODE_NORMAL: return &x400i_rtse_pres_adapter;
    case X400_MODE_X410: return &x400i_rtse_ses_adapter;
    }
    return NULL;
}

x400_mode x400_assoc_get_mode(const x400_assoc *a)
{
    if (!a) return X400_MODE_NORMAL;
    if (!a->adapter) return a->cfg.mode;   /* a responder before the S-CONNECT indication */
    return a->adapter == &x400i_rtse_ses_adapter ? X400_MODE_X410 : X400_MODE_NORMAL;
}
