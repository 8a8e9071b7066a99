/* Test-only lower adapter: RTSE over the real session machine.  See
 * support_rtse_lower.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support_rtse_lower.h"
#include "x400t.h"

#define ALL_TOKENS (X400I_TOKEN_DATA | X400I_TOKEN_MINOR | X400I_TOKEN_MAJOR)

/* ---- presentation PDV wrapping (normal mode, for tshark) ---------------- */
static size_t put_len(uint8_t *o, size_t len)
{
    if (len < 128) { o[0] = (uint8_t)len; return 1; }
    if (len < 256) { o[0] = 0x81; o[1] = (uint8_t)len; return 2; }
    if (len < 65536) { o[0] = 0x82; o[1] = (uint8_t)(len >> 8); o[2] = (uint8_t)len; return 3; }
    o[0] = 0x83; o[1] = (uint8_t)(len >> 16); o[2] = (uint8_t)(len >> 8); o[3] = (uint8_t)len;
    return 4;
}

/* User-data fully-encoded-data [APPLICATION 1] { PDV-list { context 3,
 * single-ASN1-type [0] <value> } } */
static uint8_t *pdv_wrap(const uint8_t *v, size_t n, size_t *out_len)
{
    uint8_t h3[8], h2[8], h1[8];
    size_t n3, n2, n1;
    uint8_t *o;
    n3 = put_len(h3 + 1, n) + 1;
    h3[0] = 0xa0;
    n2 = 3 + n3 + n;
    h2[0] = 0x30;
    size_t l2 = put_len(h2 + 1, n2) + 1;
    h1[0] = 0x61;
    n1 = put_len(h1 + 1, l2 + n2) + 1;
    *out_len = n1 + l2 + n2;
    o = malloc(*out_len);
    memcpy(o, h1, n1);
    memcpy(o + n1, h2, l2);
    memcpy(o + n1 + l2, "\x02\x01\x03", 3);
    memcpy(o + n1 + l2 + 3, h3, n3);
    memcpy(o + n1 + l2 + 3 + n3, v, n);
    return o;
}

static int get_len(const uint8_t *p, size_t n, size_t *off, size_t *len)
{
    if (*off >= n) return -1;
    uint8_t b = p[(*off)++];
    if (b < 0x80) { *len = b; return 0; }
    unsigned k = b & 0x7f;
    if (k == 0 || k > 4 || n - *off < k) return -1;
    *len = 0;
    for (unsigned i = 0; i < k; i++) *len = *len << 8 | p[(*off)++];
    return 0;
}

/* Inverse of pdv_wrap (definite lengths only, as produced above). */
static int pdv_unwrap(const uint8_t *p, size_t n, const uint8_t **v, size_t *vn)
{
    size_t off = 0, l;
    static const uint8_t tags[2] = { 0x61, 0x30 };
    for (int i = 0; i < 2; i++) {
        if (off >= n || p[off++] != tags[i] || get_len(p, n, &off, &l) < 0) return -1;
    }
    if (n - off < 3 || memcmp(p + off, "\x02\x01\x03", 3) != 0) return -1;
    off += 3;
    if (off >= n || p[off++] != 0xa0 || get_len(p, n, &off, &l) < 0 || l != n - off) return -1;
    *v = p + off;
    *vn = l;
    return 0;
}

/* ---- session callbacks --------------------------------------------------- */
static int s_send(void *user, const uint8_t *p, size_t len)
{
    x400t_rl_conn *c = user;
    ck_assert_int_eq(x400t_ses_end_push(&c->end->q, p, len), 0);
    return 0;
}

static void rl_ref(x400i_rtse_ref *r, x400i_view calling, x400i_view common, x400i_view add)
{
    memset(r, 0, sizeof *r);
    r->calling_len = calling.len < sizeof r->calling ? calling.len : sizeof r->calling;
    memcpy(r->calling, calling.p, r->calling_len);
    r->common_len = common.len < sizeof r->common ? common.len : sizeof r->common;
    memcpy(r->common, common.p, r->common_len);
    r->add_len = add.len < sizeof r->add ? add.len : sizeof r->add;
    if (r->add_len) memcpy(r->add, add.p, r->add_len);
}

static int s_ind(void *user, const x400i_ses_ind *si)
{
    x400t_rl_conn *c = user;
    x400t_rl_end *e = c->end;
    x400i_rtse_lind l;
    x400i_rtse_ref ref;
    int rc;
    if (e->conn != c) return 0; /* an old connection's last words */
    memset(&l, 0, sizeof l);
    l.apdu = si->user_data;
    l.apdu_len = si->user_data_len;
    switch (si->type) {
    case X400I_SES_CONNECT_IND:
        l.type = X400I_RTSE_LIND_CONNECT;
        l.turn = (si->tokens & X400I_TOKEN_DATA) != 0;
        rl_ref(&ref, si->calling_ref, si->common_ref, si->add_ref);
        l.ref = &ref;
        break;
    case X400I_SES_CONNECT_CONF:
        l.type = X400I_RTSE_LIND_CONNECT_CONF;
        l.accepted = si->accepted;
        l.turn = (x400i_ses_tokens_held(c->s) & X400I_TOKEN_DATA) != 0;
        {
            char common[32];
            snprintf(common, sizeof common, "2501011200%02dZ", e->h->conn_no % 100);
            x400i_view v1 = { (const uint8_t *)"MTA-A", 5 }, v2 = { (const uint8_t *)common, strlen(common) },
                       v3 = { NULL, 0 };
            rl_ref(&ref, v1, v2, v3);
        }
        l.ref = &ref;
        break;
    case X400I_SES_DATA_IND:
        l.type = X400I_RTSE_LIND_DATA;
        if (e->h->pres_wrap && pdv_unwrap(si->user_data, si->user_data_len, &l.apdu, &l.apdu_len) < 0)
            ck_abort_msg("S-DATA user data is not the PDV the adapter wrapped");
        break;
    case X400I_SES_MINOR_SYNC_IND: l.type = X400I_RTSE_LIND_MINOR_SYNC; l.serial = si->serial; break;
    case X400I_SES_MINOR_SYNC_CONF: l.type = X400I_RTSE_LIND_MINOR_SYNC_CONF; l.serial = si->serial; break;
    case X400I_SES_ACT_START_IND:
        l.type = X400I_RTSE_LIND_ACT_START;
        l.id = si->activity_id.p;
        l.id_len = si->activity_id.len;
        break;
    case X400I_SES_ACT_RESUME_IND:
        l.type = X400I_RTSE_LIND_ACT_RESUME;
        l.id = si->activity_id.p;
        l.id_len = si->activity_id.len;
        l.old_id = si->old_activity_id.p;
        l.old_id_len = si->old_activity_id.len;
        l.serial = si->serial;
        break;
    case X400I_SES_ACT_INTERRUPT_IND: l.type = X400I_RTSE_LIND_ACT_INTERRUPT; break;
    case X400I_SES_ACT_DISCARD_IND: l.type = X400I_RTSE_LIND_ACT_DISCARD; break;
    case X400I_SES_ACT_END_IND: l.type = X400I_RTSE_LIND_ACT_END; l.serial = si->serial; break;
    case X400I_SES_ACT_END_CONF: l.type = X400I_RTSE_LIND_ACT_END_CONF; break;
    case X400I_SES_TOKEN_PLEASE_IND: l.type = X400I_RTSE_LIND_TOKEN_PLEASE; break;
    case X400I_SES_CONTROL_GIVE_IND: l.type = X400I_RTSE_LIND_CONTROL_GIVE; break;
    case X400I_SES_RELEASE_IND: l.type = X400I_RTSE_LIND_RELEASE; break;
    case X400I_SES_RELEASE_CONF: l.type = X400I_RTSE_LIND_RELEASE_CONF; break;
    case X400I_SES_U_ABORT_IND: l.type = X400I_RTSE_LIND_U_ABORT; break;
    case X400I_SES_P_ABORT_IND: l.type = X400I_RTSE_LIND_P_ABORT; l.diag = si->diag; break;
    default: return 0; /* GT, exceptions: not used by RTSE */
    }
    if (si->type == X400I_SES_P_ABORT_IND || si->type == X400I_SES_U_ABORT_IND) e->conn = NULL;
    rc = x400i_rtse_lower_input(e->rt, &l);
    (void)rc; /* RTSE's own errors are the tests' business */
    return 0;
}

static void s_disc(void *user) { (void)user; }

static x400t_rl_conn *new_conn(x400t_rl *h, x400t_rl_end *e, int initiator, uint8_t token_setting)
{
    x400i_ses_config cfg;
    x400i_ses_callbacks cb = { NULL, s_send, s_ind, s_disc };
    x400t_rl_conn *c = calloc(1, sizeof *c);
    char common[32];
    ck_assert_int_lt(h->nconns, X400T_RL_MAXCONN);
    h->conns[h->nconns++] = c;
    c->end = e;
    memset(&cfg, 0, sizeof cfg);
    cfg.token_setting = token_setting;
    snprintf(common, sizeof common, "2501011200%02dZ", h->conn_no % 100);
    if (initiator) {
        cfg.calling_ref = (const uint8_t *)"MTA-A";
        cfg.calling_ref_len = 5;
        cfg.common_ref = (const uint8_t *)common;
        cfg.common_ref_len = strlen(common);
    }
    cfg.max_user_data = 4u << 20;
    cb.user = c;
    ck_assert_int_eq(x400i_ses_new(&c->s, initiator, &cfg, &cb, NULL, NULL), 0);
    e->conn = c;
    e->q.s = c->s;
    return c;
}

/* ---- the lower interface ---------------------------------------------------- */
#define CONN(u) x400i_ses *s = ((x400t_rl_end *)(u))->conn ? ((x400t_rl_end *)(u))->conn->s : NULL; \
    if (!s) return -1

static int l_connect_req(void *user, int turn_to_initiator, const uint8_t *apdu, size_t len)
{
    x400t_rl_end *e = user;
    x400t_rl *h = e->h;
    x400t_rl_conn *ca;
    if (h->net_down) return -1;
    h->conn_no++;
    x400t_ses_end_flush(&h->a.q);
    x400t_ses_end_flush(&h->b.q);
    /* all tokens to the initiator (setting 0) or to the responder (01 each) */
    ca = new_conn(h, &h->a, 1, turn_to_initiator ? 0x00 : 0x15);
    ca->peer = new_conn(h, &h->b, 0, 0);
    ca->peer->peer = ca;
    return x400i_ses_connect_req(ca->s, apdu, len);
}

static int l_connect_rsp(void *user, int accept, const uint8_t *apdu, size_t len)
{
    CONN(user);
    return x400i_ses_connect_rsp(s, accept, accept ? 0 : 2, 0, apdu, len);
}

static int l_data_req(void *user, const uint8_t *apdu, size_t len)
{
    x400t_rl_end *e = user;
    int rc;
    CONN(user);
    if (!e->h->pres_wrap) return x400i_ses_data_req(s, apdu, len);
    size_t n;
    uint8_t *w = pdv_wrap(apdu, len, &n);
    rc = x400i_ses_data_req(s, w, n);
    free(w);
    return rc;
}

static int l_minor_req(void *user, uint32_t *serial)
{
    CONN(user);
    return x400i_ses_minor_sync_req(s, 1, NULL, 0, serial);
}

static int l_minor_rsp(void *user, uint32_t serial)
{
    CONN(user);
    return x400i_ses_minor_sync_rsp(s, serial, NULL, 0);
}

static int l_act_start(void *user, const uint8_t *id, size_t id_len)
{
    CONN(user);
    return x400i_ses_activity_start_req(s, id, id_len, NULL, 0);
}

static int l_act_resume(void *user, const uint8_t *id, size_t id_len, const uint8_t *old_id, size_t old_len,
                        uint32_t serial, const x400i_rtse_ref *old)
{
    x400i_ses_old_conn oc;
    CONN(user);
    memset(&oc, 0, sizeof oc);
    oc.calling_ref = old->calling;
    oc.calling_ref_len = old->calling_len;
    oc.common_ref = old->common;
    oc.common_ref_len = old->common_len;
    oc.add_ref = old->add_len ? old->add : NULL;
    oc.add_ref_len = old->add_len;
    return x400i_ses_activity_resume_req(s, id, id_len, old_id, old_len, serial, &oc, NULL, 0);
}

static int l_discard_rsp(void *user)
{
    CONN(user);
    return x400i_ses_activity_discard_rsp(s);
}

static int l_interrupt_rsp(void *user)
{
    CONN(user);
    return x400i_ses_activity_interrupt_rsp(s);
}

static int l_end_req(void *user, uint32_t *serial)
{
    CONN(user);
    return x400i_ses_activity_end_req(s, NULL, 0, serial);
}

static int l_end_rsp(void *user)
{
    CONN(user);
    return x400i_ses_activity_end_rsp(s, NULL, 0);
}

static int l_please(void *user, const uint8_t *apdu, size_t len)
{
    CONN(user);
    return x400i_ses_token_please_req(s, ALL_TOKENS & ~(unsigned)x400i_ses_tokens_held(s), apdu, len);
}

static int l_control_give(void *user)
{
    CONN(user);
    return x400i_ses_control_give_req(s);
}

static int l_release_req(void *user)
{
    CONN(user);
    return x400i_ses_release_req(s, NULL, 0);
}

static int l_release_rsp(void *user)
{
    CONN(user);
    return x400i_ses_release_rsp(s, NULL, 0);
}

static int l_u_abort(void *user, const uint8_t *apdu, size_t len)
{
    CONN(user);
    return x400i_ses_u_abort_req(s, apdu, len);
}

static const x400i_rtse_lower lower_ops = {
    NULL, l_connect_req, l_connect_rsp, l_data_req, l_minor_req, l_minor_rsp, l_act_start, l_act_resume,
    l_discard_rsp, l_interrupt_rsp, l_end_req, l_end_rsp, l_please, l_control_give, l_release_req,
    l_release_rsp, l_u_abort, NULL, NULL, /* no exception report: a refused resume aborts */
};

/* ---- the RTSE user ------------------------------------------------------------ */
void x400t_rtse_rx_ind(x400t_rtse_rx *r, const x400i_rtse_ind *ind)
{
    switch (ind->type) {
    case X400I_RTSE_TRANSFER_DATA:
        if (ind->offset != r->rx_len) r->gaps++;
        if (r->rx_len + ind->data_len > r->rx_cap) {
            r->rx_cap = (r->rx_len + ind->data_len) * 2 + 16;
            r->rx = realloc(r->rx, r->rx_cap);
            ck_assert_ptr_nonnull(r->rx);
        }
        if (ind->data_len) memcpy(r->rx + r->rx_len, ind->data, ind->data_len);
        r->rx_len += ind->data_len;
        break;
    case X400I_RTSE_TRANSFER_IND:
        ck_assert_uint_eq(ind->total, r->rx_len);
        free(r->done);
        r->done = r->rx;
        r->done_len = r->rx_len;
        r->rx = NULL;
        r->rx_len = r->rx_cap = 0;
        break;
    case X400I_RTSE_TRANSFER_ABANDON: r->rx_len = 0; break;
    default: break;
    }
}

void x400t_rtse_rx_free(x400t_rtse_rx *r)
{
    free(r->rx);
    free(r->done);
    memset(r, 0, sizeof *r);
}

static int u_ind(void *user, const x400i_rtse_ind *ind)
{
    x400t_rl_end *e = user;
    if ((unsigned)ind->type < 16) e->nind[ind->type]++;
    if (ind->diag) snprintf(e->last_diag, sizeof e->last_diag, "%s", ind->diag->text);
    switch (ind->type) {
    case X400I_RTSE_OPEN_IND:
        ck_assert_uint_le(ind->user_data_len, sizeof e->open_ud);
        memcpy(e->open_ud, ind->user_data, ind->user_data_len);
        e->open_ud_len = ind->user_data_len;
        if (e->refuse_open) (void)x400i_rtse_open_rsp(e->rt, 0, e->refuse_open - 1, (const uint8_t *)"\x04\x02no", 4);
        else if (e->auto_accept) (void)x400i_rtse_open_rsp(e->rt, 1, -1, (const uint8_t *)"\x04\x03" "acc", 5);
        break;
    case X400I_RTSE_OPEN_CONF:
        e->last_reason = ind->reason;
        if (ind->user_data_len <= sizeof e->open_ud) {
            memcpy(e->open_ud, ind->user_data, ind->user_data_len);
            e->open_ud_len = ind->user_data_len;
        }
        break;
    case X400I_RTSE_TRANSFER_DATA:
    case X400I_RTSE_TRANSFER_ABANDON: x400t_rtse_rx_ind(&e->in, ind); break;
    case X400I_RTSE_TRANSFER_IND:
        x400t_rtse_rx_ind(&e->in, ind);
        if (e->defer) return X400I_RTSE_DEFER;
        break;
    case X400I_RTSE_TRANSFER_CONF:
        e->last_result = ind->result;
        e->last_tid = ind->transfer_id;
        break;
    case X400I_RTSE_TURN_PLEASE_IND: e->last_priority = ind->priority; break;
    case X400I_RTSE_CLOSE_IND:
        if (e->auto_accept) (void)x400i_rtse_close_rsp(e->rt);
        break;
    case X400I_RTSE_U_ABORT_IND:
    case X400I_RTSE_P_ABORT_IND: e->last_reason = ind->reason; break;
    case X400I_RTSE_PERSIST:
        ck_assert_uint_le(ind->record_len, sizeof e->record);
        if (ind->record_len) memcpy(e->record, ind->record, ind->record_len);
        e->record_len = ind->record_len;
        break;
    default: break;
    }
    if (e->fail_next) {
        e->fail_next = 0;
        return -1;
    }
    return 0;
}

static void make_rtse(x400t_rl *h, x400t_rl_end *e, int initiator)
{
    x400i_rtse_lower lo = lower_ops;
    x400i_rtse_callbacks cb = { e, u_ind };
    lo.user = e;
    e->h = h;
    e->is_init = initiator;
    ck_assert_int_eq(x400i_rtse_new(&e->rt, initiator, initiator ? &h->cfg_a : &h->cfg_b, &lo, &cb, NULL, NULL), 0);
    x400i_rtse_tick(e->rt, h->now);
}

/* The lengths of a's TSDUs, when asked (h->lens). */
static void rl_tap(void *user, int from, const uint8_t *p, size_t n)
{
    x400t_rl *h = user;
    (void)p;
    if (from != 0 || !h->lens) return;
    if (h->nlens == h->caplens) {
        h->caplens = h->caplens ? 2 * h->caplens : 1024;
        h->lens = realloc(h->lens, h->caplens * sizeof *h->lens);
        ck_assert_ptr_nonnull(h->lens);
    }
    h->lens[h->nlens++] = n;
}

void x400t_rl_init(x400t_rl *h, const x400_rtse_config *ca, const x400_rtse_config *cb)
{
    memset(h, 0, sizeof *h);
    x400t_pair_init(&h->io, &x400t_session_end, &h->a.q, &h->b.q);
    h->io.direct = 1;       /* a TSDU pushed or flushed while delivered stays valid */
    h->io.tap = rl_tap;
    h->io.user = h;
    if (ca) h->cfg_a = *ca;
    else x400_rtse_config_default(&h->cfg_a);
    if (cb) h->cfg_b = *cb;
    else x400_rtse_config_default(&h->cfg_b);
    h->now = 1000000;
    make_rtse(h, &h->a, 1);
    make_rtse(h, &h->b, 0);
    h->b.auto_accept = 1;
    h->a.auto_accept = 1;
}

void x400t_rl_new_responder(x400t_rl *h)
{
    x400i_rtse_free(h->b.rt);
    h->b.conn = NULL;
    make_rtse(h, &h->b, 0);
}

void x400t_rl_new_initiator(x400t_rl *h)
{
    x400i_rtse_free(h->a.rt);
    h->a.conn = NULL;
    make_rtse(h, &h->a, 1);
}

void x400t_rl_free(x400t_rl *h)
{
    free(h->lens);
    x400t_ses_end_free(&h->a.q);
    x400t_ses_end_free(&h->b.q);
    x400t_pair_free(&h->io);
    for (int i = 0; i < h->nconns; i++) {
        x400i_ses_free(h->conns[i]->s);
        free(h->conns[i]);
    }
    x400i_rtse_free(h->a.rt);
    x400i_rtse_free(h->b.rt);
    x400t_rtse_rx_free(&h->a.in);
    x400t_rtse_rx_free(&h->b.in);
}

void x400t_rl_cut(x400t_rl *h)
{
    x400t_pair_cut(&h->io);     /* b learns first; a then reconnects */
}

int x400t_rl_pump(x400t_rl *h)
{
    size_t before = h->io.moved;
    ck_assert_msg(x400t_pair_pump(&h->io) == 0, "%s", h->io.err);
    return (int)(h->io.moved - before);
}

void x400t_rl_open(x400t_rl *h)
{
    int before = h->a.nind[X400I_RTSE_OPEN_CONF];
    ck_assert_int_eq(x400i_rtse_open_req(h->a.rt, (const uint8_t *)"\x04\x04" "bind", 6), 0);
    x400t_rl_pump(h);
    ck_assert_int_eq(h->a.nind[X400I_RTSE_OPEN_CONF], before + 1);
    ck_assert_int_eq(x400i_rtse_state(h->a.rt), X400I_RTSE_ST_OPEN);
    ck_assert_int_eq(x400i_rtse_state(h->b.rt), X400I_RTSE_ST_OPEN);
}

void x400t_rl_advance(x400t_rl *h, uint64_t ms)
{
    h->now += ms;
    x400i_rtse_tick(h->a.rt, h->now);
    x400i_rtse_tick(h->b.rt, h->now);
}
