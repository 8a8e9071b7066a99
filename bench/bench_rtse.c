/* RTSE over the real session machine, in memory (no sockets): bytes per
 * second of 1 MiB RT-TRANSFERs for checkpoint sizes 0, 1, 30 and 63 KiB
 * with window 5 (each transfer: activity start, RTTR pieces with minor
 * syncs and their confirmations, activity end), and the APDV octets sent
 * again per connection cut (cut at 64 offsets, recovered each time).  The
 * TSDUs move through the tests' harness (test/pair.h: x400t_session_end,
 * direct: no copy). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "pair.h"
#include "rtse.h"
#include "session.h"

#define NBYTES (1u << 20)

/* q.s: the end's session (replaced on each connection) */
typedef struct bend { struct bpair *h; x400i_rtse *rt; x400t_ses_end q; int conf, ind; } bend;
typedef struct bpair {
    bend a, b;
    x400t_pair io;
    x400i_ses *dead[64];
    int ndead, gen;
} bpair;

static int s_send(void *u, const uint8_t *p, size_t n) { return x400t_ses_end_push(&((bend *)u)->q, p, n); }

static int s_ind(void *u, const x400i_ses_ind *si)
{
    bend *e = u;
    x400i_rtse_lind l;
    x400i_rtse_ref ref;
    memset(&l, 0, sizeof l);
    memset(&ref, 0, sizeof ref);
    memcpy(ref.calling, "A", 1);
    ref.calling_len = 1;
    ref.common_len = (size_t)snprintf((char *)ref.common, sizeof ref.common, "25010112%04dZ", e->h->gen);
    l.ref = &ref;
    l.apdu = si->user_data;
    l.apdu_len = si->user_data_len;
    switch (si->type) {
    case X400I_SES_CONNECT_IND: l.type = X400I_RTSE_LIND_CONNECT; l.turn = (si->tokens & 1) != 0; break;
    case X400I_SES_CONNECT_CONF:
        l.type = X400I_RTSE_LIND_CONNECT_CONF;
        l.accepted = si->accepted;
        l.turn = (x400i_ses_tokens_held(e->q.s) & 1) != 0;
        break;
    case X400I_SES_DATA_IND: l.type = X400I_RTSE_LIND_DATA; break;
    case X400I_SES_MINOR_SYNC_IND: l.type = X400I_RTSE_LIND_MINOR_SYNC; l.serial = si->serial; break;
    case X400I_SES_MINOR_SYNC_CONF: l.type = X400I_RTSE_LIND_MINOR_SYNC_CONF; l.serial = si->serial; break;
    case X400I_SES_ACT_START_IND: l.type = X400I_RTSE_LIND_ACT_START; l.id = si->activity_id.p; l.id_len = si->activity_id.len; break;
    case X400I_SES_ACT_RESUME_IND:
        l.type = X400I_RTSE_LIND_ACT_RESUME;
        l.id = si->activity_id.p;
        l.id_len = si->activity_id.len;
        l.old_id = si->old_activity_id.p;
        l.old_id_len = si->old_activity_id.len;
        l.serial = si->serial;
        break;
    case X400I_SES_ACT_END_IND: l.type = X400I_RTSE_LIND_ACT_END; break;
    case X400I_SES_ACT_END_CONF: l.type = X400I_RTSE_LIND_ACT_END_CONF; break;
    case X400I_SES_P_ABORT_IND: l.type = X400I_RTSE_LIND_P_ABORT; break;
    default: return 0;
    }
    (void)x400i_rtse_lower_input(e->rt, &l);
    return 0;
}

static void new_ses(bpair *h, bend *e, int init, uint8_t tok)
{
    x400i_ses_config c;
    x400i_ses_callbacks cb = { e, s_send, s_ind, NULL };
    char common[32];
    memset(&c, 0, sizeof c);
    c.token_setting = tok;
    snprintf(common, sizeof common, "25010112%04dZ", h->gen);
    c.calling_ref = (const uint8_t *)"A";
    c.calling_ref_len = 1;
    c.common_ref = (const uint8_t *)common;
    c.common_ref_len = strlen(common);
    c.max_user_data = 4u << 20;
    if (e->q.s && h->ndead < 64) h->dead[h->ndead++] = e->q.s;
    else x400i_ses_free(e->q.s);
    e->q.s = NULL;
    if (x400i_ses_new(&e->q.s, init, &c, &cb, NULL, NULL) != 0) abort();
}

#define S(u) (((bend *)(u))->q.s)
static int l_conn(void *u, int turn, const uint8_t *p, size_t n)
{
    bpair *h = ((bend *)u)->h;
    h->gen++;
    x400t_ses_end_flush(&h->a.q);       /* the old connection's TSDUs are gone */
    x400t_ses_end_flush(&h->b.q);
    new_ses(h, &h->a, 1, turn ? 0 : 0x15);
    new_ses(h, &h->b, 0, 0);
    return x400i_ses_connect_req(h->a.q.s, p, n);
}
static int l_rsp(void *u, int acc, const uint8_t *p, size_t n) { return x400i_ses_connect_rsp(S(u), acc, 2, 0, p, n); }
static int l_data(void *u, const uint8_t *p, size_t n) { return x400i_ses_data_req(S(u), p, n); }
static int l_sync(void *u, uint32_t *s) { return x400i_ses_minor_sync_req(S(u), 1, NULL, 0, s); }
static int l_sync_rsp(void *u, uint32_t s) { return x400i_ses_minor_sync_rsp(S(u), s, NULL, 0); }
static int l_start(void *u, const uint8_t *id, size_t n) { return x400i_ses_activity_start_req(S(u), id, n, NULL, 0); }
static int l_resume(void *u, const uint8_t *id, size_t n, const uint8_t *o, size_t on, uint32_t s,
                    const x400i_rtse_ref *r)
{
    x400i_ses_old_conn oc;
    memset(&oc, 0, sizeof oc);
    oc.calling_ref = r->calling;
    oc.calling_ref_len = r->calling_len;
    oc.common_ref = r->common;
    oc.common_ref_len = r->common_len;
    return x400i_ses_activity_resume_req(S(u), id, n, o, on, s, &oc, NULL, 0);
}
static int l_disc_rsp(void *u) { return x400i_ses_activity_discard_rsp(S(u)); }
static int l_intr_rsp(void *u) { return x400i_ses_activity_interrupt_rsp(S(u)); }
static int l_end(void *u, uint32_t *s) { return x400i_ses_activity_end_req(S(u), NULL, 0, s); }
static int l_end_rsp(void *u) { return x400i_ses_activity_end_rsp(S(u), NULL, 0); }
static int l_please(void *u, const uint8_t *p, size_t n) { return x400i_ses_token_please_req(S(u), 0x15, p, n); }
static int l_give(void *u) { return x400i_ses_control_give_req(S(u)); }
static int l_rel(void *u) { return x400i_ses_release_req(S(u), NULL, 0); }
static int l_rel_rsp(void *u) { return x400i_ses_release_rsp(S(u), NULL, 0); }
static int l_abort(void *u, const uint8_t *p, size_t n) { return x400i_ses_u_abort_req(S(u), p, n); }

static int u_ind(void *u, const x400i_rtse_ind *i)
{
    bend *e = u;
    if (i->type == X400I_RTSE_OPEN_IND) (void)x400i_rtse_open_rsp(e->rt, 1, -1, NULL, 0);
    if (i->type == X400I_RTSE_TRANSFER_CONF && i->result == 0) e->conf++;
    if (i->type == X400I_RTSE_TRANSFER_IND) e->ind++;
    return 0;
}

static void pair_init(bpair *h, uint32_t cp)
{
    static const x400i_rtse_lower lo0 = { NULL, l_conn, l_rsp, l_data, l_sync, l_sync_rsp, l_start, l_resume,
                                          l_disc_rsp, l_intr_rsp, l_end, l_end_rsp, l_please, l_give, l_rel,
                                          l_rel_rsp, l_abort, NULL, NULL };
    x400i_rtse_lower lo = lo0;
    x400i_rtse_callbacks cb;
    x400_rtse_config c;
    memset(h, 0, sizeof *h);
    x400t_pair_init(&h->io, &x400t_session_end, &h->a.q, &h->b.q);
    h->io.direct = 1;
    x400_rtse_config_default(&c);
    c.checkpoint_size_kib = cp;
    c.window_size = 5;
    h->a.h = h->b.h = h;
    lo.user = &h->a;
    cb.user = &h->a;
    cb.indication = u_ind;
    if (x400i_rtse_new(&h->a.rt, 1, &c, &lo, &cb, NULL, NULL)) abort();
    lo.user = &h->b;
    cb.user = &h->b;
    if (x400i_rtse_new(&h->b.rt, 0, &c, &lo, &cb, NULL, NULL)) abort();
    if (x400i_rtse_open_req(h->a.rt, NULL, 0) || x400t_pair_pump(&h->io)) abort();
}

static void pair_free(bpair *h)
{
    for (int i = 0; i < h->ndead; i++) x400i_ses_free(h->dead[i]);
    x400i_ses_free(h->a.q.s);
    x400i_ses_free(h->b.q.s);
    x400t_ses_end_free(&h->a.q);
    x400t_ses_end_free(&h->b.q);
    x400t_pair_free(&h->io);
    x400i_rtse_free(h->a.rt);
    x400i_rtse_free(h->b.rt);
}

typedef struct run { uint32_t cp; uint8_t *data; int failed; } run;

static double run_transfers(void *arg)
{
    run *r = arg;
    bpair h;
    const int n = 16;
    double t0, dt;
    pair_init(&h, r->cp);
    t0 = x400b_now();
    for (int i = 0; i < n; i++) {
        if (x400i_rtse_transfer_req(h.a.rt, r->data, NBYTES, X400_RTSE_PRIO_NORMAL, (uint64_t)i) ||
            x400t_pair_pump(&h.io))
            r->failed = 1;
    }
    dt = x400b_now() - t0;
    if (h.a.conf != n || h.b.ind != n) r->failed = 1;
    pair_free(&h);
    return (double)n * NBYTES / dt;
}

void x400b_bench_rtse(void);
void x400b_bench_rtse(void)
{
    static const uint32_t cps[] = { 0, 1, 30, 63 };
    run r;
    uint8_t *d = malloc(NBYTES);
    for (size_t i = 0; i < NBYTES; i++) d[i] = (uint8_t)(i * 2654435761u >> 24);
    r.data = d;
    for (size_t k = 0; k < sizeof cps / sizeof cps[0]; k++) {
        char name[64];
        double v;
        r.cp = cps[k];
        r.failed = 0;
        v = x400b_median_rate(run_transfers, &r);
        snprintf(name, sizeof name, "rtse_1mib_cp%u_w5", cps[k]);
        x400b_report(name, r.failed ? 0 : v / 1e6, "MB/s");
    }
    /* octets resent per cut (checkpoint 30 KiB, window 5) */
    {
        uint64_t sum = 0, max = 0;
        int cuts = 0, failed = 0;
        for (int i = 0; i < 64; i++) {
            bpair h;
            uint64_t resent;
            pair_init(&h, 30);
            x400t_pair_cut_after(&h.io, 1000 + (size_t)i * 16411);
            if (x400i_rtse_transfer_req(h.a.rt, d, NBYTES, X400_RTSE_PRIO_NORMAL, 1) || x400t_pair_pump(&h.io))
                failed = 1;
            if (h.a.conf != 1 || h.b.ind != 1) failed = 1;
            resent = x400i_rtse_bytes_sent(h.a.rt) - NBYTES - 13;
            sum += resent;
            if (resent > max) max = resent;
            cuts++;
            pair_free(&h);
        }
        x400b_report("rtse_resent_per_cut_cp30_w5_mean", failed ? -1 : (double)sum / cuts, "octets");
        x400b_report("rtse_resent_per_cut_cp30_w5_max", failed ? -1 : (double)max, "octets");
    }
    free(d);
}
