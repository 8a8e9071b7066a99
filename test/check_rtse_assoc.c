/* RTSE over real associations (lib/rtse_assoc.c): two full stacks
 * (transport + session + presentation + ACSE + RTSE) in one process, bytes
 * pumped both ways, in normal and X.410-1984 mode; transfers of several
 * sizes verified octet for octet, refused open, close, byte-split feeding
 * and a tshark check of the whole exchange. */
#include <stdlib.h>
#include <string.h>

#include "pair.h"
#include "ppvec.h"
#include "rtse_assoc.h"
#include "support_rtse_lower.h"
#include "wire.h"
#include "x400p1/p1.h"
#include "x400p1/orname.h"
#include "data.h"
#include "x400t.h"

/* ROS-wrapped MTABindArgument / MTABindResult, both unauthenticated (NULL),
 * as the RTORQ / RTOAC open values: tshark decodes them as P1 binds. */
static const uint8_t BIND_ARG[] = { 0xb0, 0x02, 0x05, 0x00 };
static const uint8_t BIND_RES[] = { 0xb1, 0x02, 0x05, 0x00 };

struct end {
    x400i_rtse_assoc *ra;
    x400_assoc *a;
    int nind[16];
    int open_accepted, reason, result, refuse;
    x400t_rtse_rx in;                          /* the APDUs received */
    uint8_t open_ud[64]; size_t open_ud_len;   /* OPEN_IND user data */
    int order[32], norder;                     /* indication types in order */
};

struct h {
    struct end i, r;
    int x410;
    int r_x410;     /* the responder's configured mode (RTSE and association) */
    const x400t_ppvec *pp; /* set: need_assoc connects the initiator to this recorded peer */
    int needs;             /* need_assoc calls */
    x400_logger ilog;      /* the initiator's RTSE logger */
    int refused_logs;      /* its messages saying a recovery was refused */
    /* the pump (pair.h) between i.a and r.a: io.wire, io.split, io.chunk;
     * the cut: the byte stream breaks when the initiator's output crosses
     * io.cut_at (io.cut_armed), both sides then see the transport close */
    x400t_pair io;
    uint64_t now;
    x400_assoc *old[16];   /* associations let go of, freed at the end */
    int nold;
};

static int u_ind(void *user, const x400i_rtse_ind *ind)
{
    struct end *e = user;
    x400i_rtse *rt = x400i_rtse_assoc_rtse(e->ra);
    if ((unsigned)ind->type < 16) e->nind[ind->type]++;
    if (e->norder < 32) e->order[e->norder++] = (int)ind->type;
    switch (ind->type) {
    case X400I_RTSE_OPEN_IND:
        ck_assert_uint_le(ind->user_data_len, sizeof e->open_ud);
        memcpy(e->open_ud, ind->user_data, ind->user_data_len);
        e->open_ud_len = ind->user_data_len;
        if (e->refuse) return x400i_rtse_open_rsp(rt, 0, 0, (const uint8_t *)"\x04\x02no", 4) < 0 ? -1 : 0;
        return x400i_rtse_open_rsp(rt, 1, -1, BIND_RES, sizeof BIND_RES) < 0 ? -1 : 0;
    case X400I_RTSE_OPEN_CONF:
        e->open_accepted = ind->accepted;
        e->reason = ind->reason;
        break;
    case X400I_RTSE_TRANSFER_DATA:
    case X400I_RTSE_TRANSFER_IND:
    case X400I_RTSE_TRANSFER_ABANDON: x400t_rtse_rx_ind(&e->in, ind); break;
    case X400I_RTSE_TRANSFER_CONF: e->result = ind->result; break;
    case X400I_RTSE_CLOSE_IND: return x400i_rtse_close_rsp(rt) < 0 ? -1 : 0;
    case X400I_RTSE_U_ABORT_IND:
    case X400I_RTSE_P_ABORT_IND: e->reason = ind->reason; break;
    default: break;
    }
    return 0;
}

static void new_assoc(struct h *h, struct end *e, int initiator)
{
    x400_assoc_config c;
    x400t_assoc_side side = { .config = &c };
    x400_assoc_config_init(&c, initiator ? X400_ROLE_INITIATOR : X400_ROLE_RESPONDER);
    if (initiator ? h->x410 : h->r_x410) c.mode = X400_MODE_X410;
    if (initiator) {
        memcpy(c.calling_ref, "MTA-A", 5);
        c.calling_ref_len = 5;
    }
    ck_assert_int_eq(x400t_assoc_side_new(&e->a, !initiator, &side), X400_OK);
    ck_assert_int_eq(x400i_rtse_assoc_attach(e->ra, e->a), X400_OK);
    if (initiator) ck_assert_int_eq(x400_assoc_connect(e->a), X400_OK);
}

/* The owner's side of a reconnection: the old associations are kept for
 * freeing later (we may be inside their callbacks), a fresh pair is made
 * and the initiator's is connected. */
static int need_assoc(void *user, x400i_rtse_assoc *ra)
{
    struct h *h = user;
    ck_assert_ptr_eq(ra, h->i.ra);
    h->needs++;
    ck_assert_int_le(h->nold + 2, (int)X400I_ARRAY_LEN(h->old));
    h->old[h->nold++] = h->i.a;
    h->old[h->nold++] = h->r.a;
    if (h->pp) {    /* the recorded peer answers this one: no responder of ours */
        h->r.a = NULL;
        new_assoc(h, &h->i, 1);
        return 0;
    }
    new_assoc(h, &h->r, 0);
    new_assoc(h, &h->i, 1);
    return 0;
}

static void ilog_fn(void *user, x400_log_level level, x400_layer layer, const char *msg)
{
    struct h *h = user;
    (void)level;
    (void)layer;
    if (strstr(msg, "recovery refused")) h->refused_logs++;
}

/* x410: the initiator's mode; r_x410: the mode the responder is
 * configured for (it runs the initiator's). */
static void h_init_modes(struct h *h, int x410, int r_x410, uint32_t cp_kib, int initiator_turn)
{
    x400i_rtse_assoc_hooks hooks = { h, need_assoc, NULL };
    x400_rtse_config c, ci;
    x400i_rtse_callbacks cbi = { &h->i, u_ind }, cbr = { &h->r, u_ind };
    memset(h, 0, sizeof *h);
    h->x410 = x410;
    h->r_x410 = r_x410;
    h->now = 1000000;
    x400_rtse_config_default(&c);
    c.x410_mode = r_x410;
    c.checkpoint_size_kib = cp_kib;
    ci = c;
    ci.x410_mode = x410;
    ci.initial_turn_local = initiator_turn;
    h->ilog.fn = ilog_fn;
    h->ilog.user = h;
    h->ilog.max_level = X400_LOG_DEBUG;
    ck_assert_int_eq(x400i_rtse_assoc_new(&h->i.ra, 1, &ci, &cbi, &hooks, NULL, &h->ilog), X400_OK);
    ck_assert_int_eq(x400i_rtse_assoc_new(&h->r.ra, 0, &c, &cbr, NULL, NULL, NULL), X400_OK);
    x400i_rtse_tick(x400i_rtse_assoc_rtse(h->i.ra), h->now);
    x400i_rtse_tick(x400i_rtse_assoc_rtse(h->r.ra), h->now);
    x400t_pair_init(&h->io, &x400t_assoc_slot_end, &h->i.a, &h->r.a);
    h->io.take = 1 << 16;
    new_assoc(h, &h->r, 0);
    new_assoc(h, &h->i, 1);
}

static void h_init_turn(struct h *h, int x410, uint32_t cp_kib, int initiator_turn)
{
    h_init_modes(h, x410, x410, cp_kib, initiator_turn);
}

static void h_init(struct h *h, int x410, uint32_t cp_kib)
{
    h_init_turn(h, x410, cp_kib, 1);
}

static void h_free(struct h *h)
{
    struct end *es[2] = { &h->i, &h->r };
    for (int k = 0; k < h->nold; k++) x400_assoc_free(h->old[k]);
    for (int k = 0; k < 2; k++) {
        x400i_rtse_assoc_free(es[k]->ra);
        x400_assoc_free(es[k]->a);
        x400t_rtse_rx_free(&es[k]->in);
    }
    x400t_pair_free(&h->io);
}

static void pump(struct h *h)
{
    ck_assert_msg(x400t_pair_pump(&h->io) == 0, "%s", h->io.err);
}

#define RT(e) x400i_rtse_assoc_rtse((e).ra)

static void open_ok(struct h *h)
{
    ck_assert_int_eq(x400i_rtse_open_req(RT(h->i), BIND_ARG, sizeof BIND_ARG), X400_OK);
    pump(h);
    ck_assert_int_eq(h->i.nind[X400I_RTSE_OPEN_CONF], 1);
    ck_assert_int_eq(h->i.open_accepted, 1);
    ck_assert_int_eq(h->r.nind[X400I_RTSE_OPEN_IND], 1);
    ck_assert_int_eq(x400i_rtse_state(RT(h->i)), X400I_RTSE_ST_OPEN);
    ck_assert_int_eq(x400i_rtse_state(RT(h->r)), X400I_RTSE_ST_OPEN);
    ck_assert_int_eq(x400_assoc_get_state(h->i.a), X400_ASSOC_ESTABLISHED);
    ck_assert_int_eq(x400_assoc_get_state(h->r.a), X400_ASSOC_ESTABLISHED);
    /* the responder runs the caller's mode; an X.410-1984 association has
     * no presentation machine (RTSE over session, lib/rtse_ses.c) */
    ck_assert_int_eq(x400_assoc_get_mode(h->r.a), h->x410 ? X400_MODE_X410 : X400_MODE_NORMAL);
    ck_assert_int_eq(x400i_assoc_presentation(h->i.a) != NULL, !h->x410);
    ck_assert_int_eq(x400i_assoc_presentation(h->r.a) != NULL, !h->x410);
}

/* One APDU from `from` to `to` at priority `prio`: confirmed to the
 * sender, delivered whole and in order, the sender's RTSE open after. */
static void transfer_by(struct h *h, struct end *from, struct end *to, const uint8_t *m, size_t n,
                        x400_rtse_priority prio, uint64_t tid)
{
    int before = from->nind[X400I_RTSE_TRANSFER_CONF];
    ck_assert_int_eq(x400i_rtse_transfer_req(RT(*from), m, n, prio, tid), X400_OK);
    pump(h);
    ck_assert_int_eq(from->nind[X400I_RTSE_TRANSFER_CONF], before + 1);
    ck_assert_int_eq(from->result, X400_OK);
    ck_assert_uint_eq(to->in.done_len, n);
    if (n) ck_assert_int_eq(memcmp(to->in.done, m, n), 0);
    ck_assert_int_eq(to->in.gaps, 0);
    ck_assert_int_eq(x400i_rtse_state(RT(*from)), X400I_RTSE_ST_OPEN);
}

/* The initiator to the responder. */
static void transfer(struct h *h, const uint8_t *m, size_t n, uint64_t tid)
{
    transfer_by(h, &h->i, &h->r, m, n, X400_RTSE_PRIO_NORMAL, tid);
}

static void close_ok(struct h *h)
{
    ck_assert_int_eq(x400i_rtse_close_req(RT(h->i)), X400_OK);
    pump(h);
    ck_assert_int_eq(h->r.nind[X400I_RTSE_CLOSE_IND], 1);
    ck_assert_int_eq(h->i.nind[X400I_RTSE_CLOSE_CONF], 1);
    ck_assert_int_eq(x400i_rtse_state(RT(h->i)), X400I_RTSE_ST_CLOSED);
    ck_assert_int_eq(x400i_rtse_state(RT(h->r)), X400I_RTSE_ST_CLOSED);
    ck_assert_int_eq(x400_assoc_get_state(h->i.a), X400_ASSOC_CLOSED);
    ck_assert_int_eq(x400_assoc_get_state(h->r.a), X400_ASSOC_CLOSED);
    ck_assert_ptr_null(x400i_rtse_assoc_current(h->i.ra));
    ck_assert_ptr_null(x400i_rtse_assoc_current(h->r.ra));
}

/* open, 0 B, 1 B, one checkpoint (several RTTR pieces), 1 MiB, close */
static void sizes_case(int x410)
{
    struct h h;
    static const size_t sizes[] = { 0, 1, 1024 + 17, 1u << 20 };
    h_init(&h, x410, 1);  /* 1 KiB checkpoints: minor syncs inside the activity */
    open_ok(&h);
    for (size_t k = 0; k < X400I_ARRAY_LEN(sizes); k++) {
        uint8_t *m = x400t_pattern(sizes[k], (uint32_t)k + 1);
        transfer(&h, m, sizes[k], k + 1);
        free(m);
    }
    ck_assert_uint_ge(x400i_rtse_bytes_sent(RT(h.i)), (1u << 20) + 1024 + 18);
    close_ok(&h);
    h_free(&h);
}

START_TEST(normal_mode_sizes) { sizes_case(0); }
END_TEST

START_TEST(x410_mode_sizes) { sizes_case(1); }
END_TEST

static void refused_case(int x410)
{
    struct h h;
    h_init(&h, x410, 0);
    h.r.refuse = 1;
    ck_assert_int_eq(x400i_rtse_open_req(RT(h.i), (const uint8_t *)"\x04\x04" "bind", 6), X400_OK);
    pump(&h);
    ck_assert_int_eq(h.r.nind[X400I_RTSE_OPEN_IND], 1);
    ck_assert_int_eq(h.i.nind[X400I_RTSE_OPEN_CONF], 1);
    ck_assert_int_eq(h.i.open_accepted, 0);
    ck_assert_int_eq(h.i.reason, 0);  /* RTORJ refuseReason busy(0) made it across */
    ck_assert_int_eq(x400_assoc_get_state(h.i.a), X400_ASSOC_CLOSED);
    ck_assert_int_eq(x400_assoc_get_state(h.r.a), X400_ASSOC_CLOSED);
    ck_assert_ptr_null(x400i_rtse_assoc_current(h.i.ra));
    ck_assert_ptr_null(x400i_rtse_assoc_current(h.r.ra));
    h_free(&h);
}

START_TEST(open_refused)
{
    refused_case(0);
    refused_case(1);
}
END_TEST

/* Every delivery split at a few offsets, and byte at a time. */
START_TEST(byte_split)
{
    static const size_t splits[] = { 1, 2, 3, 4, 5, 7, 11, 64 };
    for (int x410 = 0; x410 < 2; x410++) {
        for (size_t k = 0; k <= X400I_ARRAY_LEN(splits); k++) {
            struct h h;
            uint8_t *m = x400t_pattern(3000, (uint32_t)k);
            h_init(&h, x410, 1);
            if (k < X400I_ARRAY_LEN(splits)) h.io.split = splits[k];
            else h.io.chunk = 1;
            open_ok(&h);
            transfer(&h, m, 3000, 7);
            close_ok(&h);
            free(m);
            h_free(&h);
        }
    }
}
END_TEST

/* A real MTS-APDU (message) built with the public P1 API. */
static uint8_t *p1_message(size_t content_len, size_t *len)
{
    x400_p1_apdu ap;
    x400_p1_recipient rc;
    x400_diag d;
    uint8_t *out = NULL, *content = x400t_pattern(content_len, 99);
    static const char orig[] = "C=GB;A= ;P=SMHS;O=Org;S=Smith;G=Ann";
    static const char rcpt[] = "C=FR;A=ATLAS;O=Org;S=Rcpt;G=X";
    ck_assert_int_eq(x400_p1_apdu_init(&ap, X400_P1_MESSAGE, NULL), X400_OK);
    strcpy(ap.env.id.gdi.country, "GB");
    strcpy(ap.env.id.gdi.admd, " ");
    strcpy(ap.env.id.gdi.prmd, "SMHS");
    strcpy(ap.env.id.local, "RTSEASSOC.1");
    ck_assert_int_eq(x400_orname_parse(orig, strlen(orig), &ap.env.originator, NULL), X400_OK);
    ap.env.content_type.builtin = X400_CT_P2_1988;
    x400_p1_recipient_init(&rc);
    ck_assert_int_eq(x400_orname_parse(rcpt, strlen(rcpt), &rc.name, NULL), X400_OK);
    rc.osrn = 1;
    rc.indicators = X400_PRI_RESPONSIBILITY;
    ap.env.n_recip = 1;
    ap.env.recip = &rc;
    {
        static x400_p1_trace tr;
        x400_p1_trace_init(&tr);
        tr.gdi = ap.env.id.gdi;
        tr.arrival = 1700000000;
        ap.env.n_trace = 1;
        ap.env.trace = &tr;
    }
    ap.content = (x400_bytes){ content, content_len };
    ck_assert_msg(x400_p1_encode_alloc(&ap, NULL, &out, len, &d) == X400_OK, "p1 encode: %s", d.text);
    x400_p1_apdu_free(&ap);
    free(content);
    return out;
}

static void tshark_case(const char *name, size_t content_len, uint32_t cp_kib)
{
    struct h h;
    x400t_wire w;
    char err[4096];
    size_t n;
    uint8_t *m = p1_message(content_len, &n);
    static const char *const opts[2] = { "-o rtse.reassemble:TRUE", "-o rtse.reassemble:FALSE" };
    static const char *const expect[] = { "acse.aarq_element && rtse.rtorq_apdu_element",
                                          "acse.aare_element && rtse.rtoac_apdu_element",
                                          "rtse.rttr_apdu || rtse.segment", "p1.MTS_APDU" };
    x400t_wire_init(&w);
    h_init(&h, 0, cp_kib);
    h.io.wire = &w;  /* everything, from the CR/CC and CP/AARQ on */
    open_ok(&h);
    transfer(&h, m, n, 1);
    close_ok(&h);
    /* Without reassembly every piece of a checkpointed APDU is (rightly) a
     * malformed fragment to tshark: that view is checked on one piece only. */
    for (int k = 0; k < (cp_kib ? 1 : 2); k++) {
        /* nothing flagged; tshark saw the AARQ carrying RTORQ, the RTTRs,
         * and the P1 Message (one tshark run) */
        ck_assert_msg(x400t_wire_expect(&w, name, opts[k], expect, X400I_ARRAY_LEN(expect), err, sizeof err) == 0,
                      "%s: %s", opts[k], err);
    }
    free(m);
    x400t_wire_free(&w);
    h_free(&h);
}

START_TEST(tshark_normal_mode)
{
    tshark_case("rtse_assoc_small", 200, 0);
    tshark_case("rtse_assoc_pieces", 5000, 1);
}
END_TEST

/* The byte stream breaks mid-transfer (checkpointing in use): both
 * associations see the transport close, the initiator's RTPM asks for a
 * new association (RTORQ recover), the responder's new association is
 * routed to the waiting RTPM, the activity resumes, content identical. */
static void recovery_case(int x410, uint64_t cut_at)
{
    struct h h;
    size_t n = 1u << 20;
    uint8_t *m = x400t_pattern(n, (uint32_t)cut_at);
    x400_assoc *first_i;
    h_init(&h, x410, 4);
    open_ok(&h);
    first_i = h.i.a;
    h.io.cut_at = cut_at;
    h.io.cut_armed = 1;
    ck_assert_int_eq(x400i_rtse_transfer_req(RT(h.i), m, n, X400_RTSE_PRIO_NORMAL, 1), X400_OK);
    pump(&h);
    ck_assert_int_eq(h.io.cuts, 1);
    ck_assert_ptr_ne(h.i.a, first_i);   /* a new association carried the rest */
    ck_assert_int_eq(x400_assoc_get_state(first_i), X400_ASSOC_ABORTED);
    ck_assert_msg(h.i.nind[X400I_RTSE_TRANSFER_CONF] == 1 && h.i.result == X400_OK,
                  "x410 %d cut at %llu: not confirmed (%d confirms, result %d; i: %s; r: %s)", x410,
                  (unsigned long long)cut_at, h.i.nind[X400I_RTSE_TRANSFER_CONF], h.i.result,
                  x400i_rtse_diag(RT(h.i))->text, x400i_rtse_diag(RT(h.r))->text);
    ck_assert_int_eq(h.i.nind[X400I_RTSE_RECOVERING_IND], 1);
    ck_assert_int_eq(h.i.nind[X400I_RTSE_RECOVERED_IND], 1);
    ck_assert_int_eq(h.r.nind[X400I_RTSE_TRANSFER_IND], 1);
    ck_assert_int_eq(h.r.in.gaps, 0);
    ck_assert_uint_eq(h.r.in.done_len, n);
    ck_assert(memcmp(h.r.in.done, m, n) == 0);
    /* resumed, not restarted: at most a window of checkpoints sent twice */
    ck_assert_uint_lt(x400i_rtse_bytes_sent(RT(h.i)), n + 64 + 5u * 4096u + 4096u);
    ck_assert_int_eq(x400_assoc_get_state(h.i.a), X400_ASSOC_ESTABLISHED);
    /* the recovered association goes on */
    free(m);
    m = x400t_pattern(5000, 3);
    transfer(&h, m, 5000, 2);
    close_ok(&h);
    free(m);
    h_free(&h);
}

START_TEST(recovery)
{
    static const uint64_t cuts[] = { 1, 100000, 300001, 777777, 1040000 };
    for (int x410 = 0; x410 < 2; x410++)
        for (size_t k = 0; k < X400I_ARRAY_LEN(cuts); k++) recovery_case(x410, cuts[k]);
}
END_TEST

/* RT-U-ABORT: RTAB in ABRT (ARU in X.410 mode), both associations end. */
START_TEST(user_abort)
{
    for (int x410 = 0; x410 < 2; x410++) {
        struct h h;
        h_init(&h, x410, 1);
        open_ok(&h);
        ck_assert_int_eq(x400i_rtse_u_abort_req(RT(h.i), NULL, 0), X400_OK);
        pump(&h);
        ck_assert_msg(h.r.nind[X400I_RTSE_U_ABORT_IND] == 1, "x410 %d: r got U %d P %d; r assoc %s (%s); i assoc %s (%s)", x410, h.r.nind[X400I_RTSE_U_ABORT_IND], h.r.nind[X400I_RTSE_P_ABORT_IND], x400_assoc_state_name(x400_assoc_get_state(h.r.a)), x400_assoc_diag(h.r.a)->text, x400_assoc_state_name(x400_assoc_get_state(h.i.a)), x400_assoc_diag(h.i.a)->text);
        ck_assert_int_eq(x400i_rtse_state(RT(h.i)), X400I_RTSE_ST_CLOSED);
        ck_assert_int_eq(x400i_rtse_state(RT(h.r)), X400I_RTSE_ST_CLOSED);
        ck_assert_int_eq(x400_assoc_get_state(h.i.a), X400_ASSOC_ABORTED);
        ck_assert_int_eq(x400_assoc_get_state(h.r.a), X400_ASSOC_ABORTED);
        ck_assert_ptr_null(x400i_rtse_assoc_current(h.i.ra));
        ck_assert_ptr_null(x400i_rtse_assoc_current(h.r.ra));
        /* nothing goes down a connection that is gone */
        ck_assert_int_lt(x400i_rtse_transfer_req(RT(h.i), (const uint8_t *)"x", 1, X400_RTSE_PRIO_NORMAL, 1), 0);
        h_free(&h);
    }
}
END_TEST

/* RT-TURN-PLEASE (P-TOKEN-PLEASE with RTTP) and RT-TURN-GIVE (P-CONTROL-
 * GIVE) over the association; the responder then transfers. */
START_TEST(turn_please_give)
{
    for (int x410 = 0; x410 < 2; x410++) {
        struct h h;
        uint8_t *m = x400t_pattern(20000, 5);
        h_init(&h, x410, 1);
        open_ok(&h);
        ck_assert_int_eq(x400i_rtse_has_turn(RT(h.i)), 1);
        ck_assert_int_eq(x400i_rtse_has_turn(RT(h.r)), 0);
        ck_assert_int_eq(x400i_rtse_turn_please_req(RT(h.r), 7), X400_OK);
        pump(&h);
        ck_assert_int_eq(h.i.nind[X400I_RTSE_TURN_PLEASE_IND], 1);
        ck_assert_int_eq(x400i_rtse_turn_give_req(RT(h.i)), X400_OK);
        pump(&h);
        ck_assert_int_eq(h.r.nind[X400I_RTSE_TURN_GIVE_IND], 1);
        ck_assert_int_eq(x400i_rtse_has_turn(RT(h.r)), 1);
        ck_assert_int_eq(x400i_rtse_has_turn(RT(h.i)), 0);
        transfer_by(&h, &h.r, &h.i, m, 20000, X400_RTSE_PRIO_URGENT, 9);
        ck_assert_int_eq(h.r.nind[X400I_RTSE_TRANSFER_CONF], 1);
        free(m);
        h_free(&h);
    }
}
END_TEST

/* The initiator's RTSE gives the initial turn to the responder
 * (initial_turn_local = 0): the CN proposes every token on the responder's
 * side, and the responder may transfer at once, without asking. */
START_TEST(initial_turn_to_responder)
{
    for (int x410 = 0; x410 < 2; x410++) {
        struct h h;
        uint8_t *m = x400t_pattern(5000, 11);
        h_init_turn(&h, x410, 1, 0);
        open_ok(&h);
        ck_assert_int_eq(x400i_rtse_has_turn(RT(h.i)), 0);
        ck_assert_int_eq(x400i_rtse_has_turn(RT(h.r)), 1);
        ck_assert_int_eq(x400i_rtse_transfer_req(RT(h.i), m, 10, X400_RTSE_PRIO_NORMAL, 1),
                         X400_ERR_STATE);
        transfer_by(&h, &h.r, &h.i, m, 5000, X400_RTSE_PRIO_NORMAL, 2);
        ck_assert_int_eq(h.r.nind[X400I_RTSE_TRANSFER_CONF], 1);
        ck_assert_int_eq(h.i.nind[X400I_RTSE_TURN_PLEASE_IND], 0);
        free(m);
        h_free(&h);
    }
}
END_TEST

/* A peer that puts a P-DATA on the wrong context (here the transfer
 * context 5 directly, not an RTTR on id-as-mta-rtse): RTSE refuses it as
 * a protocol error, RTAB goes back, the association ends, nothing is
 * delivered. */
START_TEST(bad_pdata_context)
{
    struct h h;
    x400i_pdv d = { 5, X400I_PDV_SINGLE, (const uint8_t *)"\x04\x01x", 3 };
    h_init(&h, 0, 1);
    open_ok(&h);
    ck_assert_int_eq(x400i_pres_data_req(x400i_assoc_presentation(h.i.a), &d, 1), X400_OK);
    pump(&h);
    ck_assert_int_eq(h.r.nind[X400I_RTSE_P_ABORT_IND], 1);
    ck_assert_int_eq(h.r.nind[X400I_RTSE_TRANSFER_DATA], 0);
    ck_assert_int_eq(x400i_rtse_state(RT(h.r)), X400I_RTSE_ST_CLOSED);
    ck_assert_int_eq(x400i_rtse_state(RT(h.i)), X400I_RTSE_ST_CLOSED);
    ck_assert_int_eq(h.i.nind[X400I_RTSE_U_ABORT_IND] + h.i.nind[X400I_RTSE_P_ABORT_IND], 1);
    ck_assert_int_eq(x400_assoc_get_state(h.r.a), X400_ASSOC_ABORTED);
    ck_assert_int_eq(x400_assoc_get_state(h.i.a), X400_ASSOC_ABORTED);
    ck_assert_msg(x400i_rtse_diag(RT(h.r))->code < 0, "no diagnostic");
    h_free(&h);
}
END_TEST

/* The responder runs the mode of the connection, never its configuration:
 * an X.410-1984 caller reaches a responder configured for normal mode (and
 * a normal-mode caller one configured for X.410), one listener for both. */
START_TEST(mode_learned_from_connection)
{
    for (int x410 = 0; x410 < 2; x410++) {
        struct h h;
        uint8_t *m = x400t_pattern(5000, 21);
        h_init_modes(&h, x410, !x410, 1, 1);
        ck_assert_int_eq(x400_assoc_get_mode(h.r.a), x410 ? X400_MODE_NORMAL : X400_MODE_X410);
        open_ok(&h);
        ck_assert_int_eq(x400i_rtse_x410(RT(h.r)), x410);
        ck_assert_int_eq(x400_assoc_get_mode(h.r.a), x410 ? X400_MODE_X410 : X400_MODE_NORMAL);
        ck_assert_int_eq(x400_assoc_get_mode(h.i.a), x410 ? X400_MODE_X410 : X400_MODE_NORMAL);
        transfer(&h, m, 5000, 1);
        /* and back: the responder sends in the mode it learnt */
        ck_assert_int_eq(x400i_rtse_turn_give_req(RT(h.i)), X400_OK);
        pump(&h);
        transfer_by(&h, &h.r, &h.i, m, 3000, X400_RTSE_PRIO_NORMAL, 2);
        free(m);
        h_free(&h);
    }
}
END_TEST

/* ---- a real peer's bytes (test/interop/, PP on ISODE) ---------------------- */

/* Everything `a` has to send, appended to *buf. */
static void take_output(x400_assoc *a, uint8_t **buf, size_t *len)
{
    x400t_take(&x400t_assoc_end, a, buf, len, NULL, 0);
}

/* Feed one TPKT, in two pieces when 0 < split < n. */
static void feed(x400_assoc *a, const uint8_t *p, size_t n, size_t split)
{
    ck_assert_msg(x400t_feed(&x400t_assoc_end, a, p, n, split, 0) == (int)n, "input refused: %s",
                  x400_assoc_diag(a)->text);
}

/* The same for input that may end the association (a refusal, an abort):
 * then the input call may report why, and nothing more is taken. */
static void feed_last(x400_assoc *a, const uint8_t *p, size_t n, size_t split)
{
    if (x400t_feed(&x400t_assoc_end, a, p, n, split, 0) < 0) {
        x400_assoc_state st = x400_assoc_get_state(a);
        ck_assert_msg(st == X400_ASSOC_CLOSED || st == X400_ASSOC_ABORTED, "input refused: %s",
                      x400_assoc_diag(a)->text);
    }
}

/* The SPDU type (SI) a TPKT carries after an empty GT/PT in front; -1 if
 * it is not a DT TPDU. */
static int spdu_of(const uint8_t *t, size_t n)
{
    if (n < 9 || t[5] != 0xf0) return -1;
    if (n > 9 && (t[7] == 0x01 || t[7] == 0x02) && t[8] == 0) return t[9];
    return t[7];
}

static int contains(const uint8_t *hay, size_t n, const uint8_t *needle, size_t k)
{
    for (size_t i = 0; k <= n && i <= n - k; i++)
        if (!memcmp(hay + i, needle, k)) return 1;
    return 0;
}

/* Split `out` into TPKTs: *count of them, their SPDU types in si[]. */
static size_t tpkts(const uint8_t *out, size_t len, const uint8_t **tp, size_t *tl, size_t max)
{
    size_t k = 0;
    for (size_t off = 0; off + 4 <= len && k < max;) {
        size_t n = (size_t)out[off + 2] << 8 | out[off + 3];
        ck_assert_uint_ge(n, 4);
        ck_assert_uint_le(off + n, len);
        tp[k] = out + off;
        tl[k++] = n;
        off += n;
    }
    return k;
}

static int sent_spdu(const uint8_t *out, size_t len, int si)
{
    const uint8_t *tp[64];
    size_t tl[64], k = tpkts(out, len, tp, tl, 64);
    for (size_t i = 0; i < k; i++)
        if (spdu_of(tp[i], tl[i]) == si) return 1;
    return 0;
}

/* PP's complete X.410-1984 conversation (pp-pp-1984-twa.txt), its
 * initiator's side fed to our responder configured for NORMAL mode, every
 * TPKT split at `split`: the mode is learnt from the CP, the RTORQ's open
 * value (PP's MTABindArgument) reaches the user, the CPA carries the RTOAC
 * as X.410 parameters, PP's MTS-APDU -- the session user data itself --
 * arrives octet for octet, the activity end and the release are answered. */
static void pp_1984_responder(const x400t_ppvec *v, size_t split)
{
    struct end e;
    x400_rtse_config c;
    x400i_rtse_callbacks cb = { &e, u_ind };
    uint8_t *out = NULL;
    size_t out_len = 0, apdu_len = 0, cp_len = 0;
    const uint8_t *apdu = NULL, *cp = NULL;
    memset(&e, 0, sizeof e);
    x400_rtse_config_default(&c);      /* configured: normal mode */
    ck_assert_int_eq(x400i_rtse_assoc_new(&e.ra, 0, &c, &cb, NULL, NULL, NULL), X400_OK);
    x400i_rtse_tick(x400i_rtse_assoc_rtse(e.ra), 1000000);
    ck_assert_int_eq(x400t_assoc_side_new(&e.a, 1, NULL), X400_OK);   /* configured: normal mode */
    ck_assert_int_eq(x400i_rtse_assoc_attach(e.ra, e.a), X400_OK);
    for (size_t k = 0; k < v->n; k++) {
        size_t n0 = out_len;
        if (!v->t[k].from_initiator) continue;
        if (x400_assoc_get_state(e.a) == X400_ASSOC_CLOSED) break;  /* the DR after DN */
        feed(e.a, v->t[k].p, v->t[k].len, split);
        take_output(e.a, &out, &out_len);
        if (spdu_of(v->t[k].p, v->t[k].len) == 0x0d) {        /* CN + CP: answered by AC + CPA */
            const uint8_t *ud;
            size_t ul;
            x400i_ppdu pp;
            x400_diag d;
            x400i_buf xb;
            x400i_view x410;
            cp = x400t_ppvec_user_data(v, k, &cp_len);
            ck_assert_ptr_nonnull(cp);
            ck_assert_int_eq(spdu_of(out + n0, out_len - n0), 0x0e);
            ud = x400t_tpkt_user_data(out + n0, out_len - n0, &ul);
            ck_assert_ptr_nonnull(ud);
            /* an X.410-1984 CPA: no normal-mode CPA-PPDU, its [1] the RTOAC */
            ck_assert_int_ne(x400i_ppdu_decode(X400I_PPDU_CPA, ud, ul, &pp, NULL, 65536, &d), X400_OK);
            x400i_ppdu_release(&pp);
            x400i_buf_init(&xb, NULL, 65536);
            ck_assert_int_eq(x400i_rtse_ses_decode(X400I_PPDU_CPA, ud, ul, &xb, &x410), X400_OK);
            ck_assert_uint_gt(x410.len, 2);
            ck_assert_int_eq(x410.p[0], 0xb1);      /* RTOAC */
            x400i_buf_free(&xb);
        }
        if (spdu_of(v->t[k].p, v->t[k].len) == 0x01 && !apdu)  /* GT + DT: the MTS-APDU */
            apdu = x400t_ppvec_user_data(v, k, &apdu_len);
    }
    ck_assert_ptr_nonnull(cp);
    ck_assert_ptr_nonnull(apdu);
    ck_assert_int_eq(apdu[0], 0xa0);    /* Message [0], not an OCTET STRING around it */
    ck_assert_int_eq(x400i_rtse_x410(x400i_rtse_assoc_rtse(e.ra)), 1);
    ck_assert_int_eq(e.nind[X400I_RTSE_OPEN_IND], 1);
    ck_assert_uint_gt(e.open_ud_len, 2);
    ck_assert_int_eq(e.open_ud[0], 0xa1);   /* MTABindArgument [1] SET, as PP sent it */
    ck_assert(contains(cp, cp_len, e.open_ud, e.open_ud_len));
    ck_assert_int_eq(e.nind[X400I_RTSE_TRANSFER_IND], 1);
    ck_assert_uint_eq(e.in.done_len, apdu_len);
    ck_assert_int_eq(memcmp(e.in.done, apdu, apdu_len), 0);
    ck_assert(sent_spdu(out, out_len, 0x2a));   /* AEA: the transfer confirmed */
    ck_assert_int_eq(e.nind[X400I_RTSE_CLOSE_IND], 1);
    ck_assert(sent_spdu(out, out_len, 0x0a));   /* DN */
    ck_assert_int_eq(x400_assoc_get_state(e.a), X400_ASSOC_CLOSED);
    ck_assert_int_eq(x400i_rtse_state(x400i_rtse_assoc_rtse(e.ra)), X400I_RTSE_ST_CLOSED);
    free(out);
    x400i_rtse_assoc_free(e.ra);
    x400_assoc_free(e.a);
    x400t_rtse_rx_free(&e.in);
}

START_TEST(pp_1984_conversation_to_normal_responder)
{
    x400t_ppvec v;
    size_t max = 0;
    x400t_ppvec_load(&v, "pp-pp-1984-twa.txt");
    for (size_t k = 0; k < v.n; k++)
        if (v.t[k].len > max) max = v.t[k].len;
    for (size_t split = 0; split < max; split++) pp_1984_responder(&v, split);
    x400t_ppvec_free(&v);
}
END_TEST

/* PP as X.410-1984 responder (pp-resp-1984-twa-message.txt): after PP's CC
 * and CPA, our initiator sends the MTS-APDU as the session user data
 * itself -- the recorded `<` APDU is the old, wrong form wrapped in an
 * OCTET STRING, which PP refused -- and PP's PT + AEA confirms it. */
static void pp_1984_initiator(const x400t_ppvec *v, size_t split)
{
    struct end e;
    x400_rtse_config c;
    static const x400t_assoc_side x410_side = { .mode = X400_MODE_X410 };
    x400i_rtse_callbacks cb = { &e, u_ind };
    uint8_t *out = NULL;
    size_t out_len = 0, old_len = 0, n0;
    const uint8_t *old = NULL, *tp[64];
    size_t tl[64], nt;
    int found = 0;
    memset(&e, 0, sizeof e);
    for (size_t k = 0; k < v->n && !old; k++)
        if (v->t[k].from_initiator && spdu_of(v->t[k].p, v->t[k].len) == 0x01)
            old = x400t_ppvec_user_data(v, k, &old_len);
    ck_assert_ptr_nonnull(old);
    ck_assert_uint_gt(old_len, 4);
    ck_assert(old[0] == 0x04 && old[1] == 0x82);   /* the old OCTET STRING wrapping */
    x400_rtse_config_default(&c);
    c.x410_mode = 1;
    ck_assert_int_eq(x400i_rtse_assoc_new(&e.ra, 1, &c, &cb, NULL, NULL, NULL), X400_OK);
    x400i_rtse_tick(x400i_rtse_assoc_rtse(e.ra), 1000000);
    ck_assert_int_eq(x400t_assoc_side_new(&e.a, 0, &x410_side), X400_OK);
    ck_assert_int_eq(x400i_rtse_assoc_attach(e.ra, e.a), X400_OK);
    ck_assert_int_eq(x400i_rtse_open_req(x400i_rtse_assoc_rtse(e.ra), BIND_ARG, sizeof BIND_ARG), X400_OK);
    ck_assert_int_eq(x400_assoc_connect(e.a), X400_OK);
    take_output(e.a, &out, &out_len);
    for (size_t k = 0; k < v->n && !e.nind[X400I_RTSE_OPEN_CONF]; k++)
        if (!v->t[k].from_initiator) {
            feed(e.a, v->t[k].p, v->t[k].len, split);
            take_output(e.a, &out, &out_len);
        }
    ck_assert_int_eq(e.open_accepted, 1);
    n0 = out_len;
    ck_assert_int_eq(x400i_rtse_transfer_req(x400i_rtse_assoc_rtse(e.ra), old + 4, old_len - 4,
                                             X400_RTSE_PRIO_NORMAL, 7), X400_OK);
    take_output(e.a, &out, &out_len);
    nt = tpkts(out + n0, out_len - n0, tp, tl, 64);
    for (size_t i = 0; i < nt; i++) {
        size_t ul;
        const uint8_t *ud = x400t_tpkt_user_data(tp[i], tl[i], &ul);
        if (spdu_of(tp[i], tl[i]) != 0x01 || !ud) continue;
        ck_assert_uint_eq(ul, old_len - 4);
        ck_assert_int_eq(memcmp(ud, old + 4, ul), 0);
        found++;
    }
    ck_assert_int_eq(found, 1);
    ck_assert_int_eq(x400i_rtse_state(x400i_rtse_assoc_rtse(e.ra)), X400I_RTSE_ST_WAIT_END_CONF);
    /* PP's PT + AEA confirms the transfer */
    for (size_t k = 0; k < v->n; k++)
        if (!v->t[k].from_initiator && spdu_of(v->t[k].p, v->t[k].len) == 0x2a)
            feed(e.a, v->t[k].p, v->t[k].len, split);
    ck_assert_int_eq(e.nind[X400I_RTSE_TRANSFER_CONF], 1);
    ck_assert_int_eq(e.result, X400_OK);
    free(out);
    x400i_rtse_assoc_free(e.ra);
    x400_assoc_free(e.a);
    x400t_rtse_rx_free(&e.in);
}

START_TEST(pp_1984_responder_gets_apdu_unwrapped)
{
    x400t_ppvec v;
    size_t max = 0;
    x400t_ppvec_load(&v, "pp-resp-1984-twa-message.txt");
    for (size_t k = 0; k < v.n; k++)
        if (!v.t[k].from_initiator && v.t[k].len > max) max = v.t[k].len;
    for (size_t split = 0; split < max; split++) pp_1984_initiator(&v, split);
    x400t_ppvec_free(&v);
}
END_TEST

/* An RTORQ the responder refuses before the connection exists (here an
 * invalid dialogueMode, then a windowSize of 0): RTORJ inside the refusal
 * -- AARE- in CPR in RF (normal mode), CPR in RF (X.410) -- the initiator
 * gets the refusal with the reason, both associations close, nothing hangs. */
static size_t bad_rtorq(uint8_t *b, int x410, int bad_dm)
{
    /* RTORQ { checkpointSize 1, windowSize 0 | dialogueMode 5, open NULL
     * [, applicationProtocol 12] } */
    size_t n = 0;
    b[n++] = 0xb0;
    b[n++] = 0;
    b[n++] = 0x80; b[n++] = 1; b[n++] = 1;
    if (bad_dm) { b[n++] = 0x82; b[n++] = 1; b[n++] = 5; }
    else { b[n++] = 0x81; b[n++] = 1; b[n++] = 0; }
    b[n++] = 0xa3; b[n++] = 4; b[n++] = 0xa0; b[n++] = 2; b[n++] = 0x05; b[n++] = 0x00;
    if (x410) { b[n++] = 0x84; b[n++] = 1; b[n++] = 12; }
    b[1] = (uint8_t)(n - 2);
    return n;
}

/* A raw upper layer for the initiator's association: sends the RTORQ it
 * is given, records the answer. */
struct rawup {
    const uint8_t *q;
    size_t qn;
    int conf, accepted;
    uint8_t ui[64];
    size_t ui_len;
};

static int raw_associate(void *u, x400_assoc *a)
{
    struct rawup *r = u;
    return x400i_assoc_associate_req(a, r->q, r->qn);
}

static int raw_ind(void *u, x400_assoc *a, const x400i_rtse_lind *ind)
{
    struct rawup *r = u;
    (void)a;
    if (ind->type != X400I_RTSE_LIND_CONNECT_CONF) return 0;
    r->conf++;
    r->accepted = ind->accepted;
    ck_assert_uint_le(ind->apdu_len, sizeof r->ui);
    if (ind->apdu_len) memcpy(r->ui, ind->apdu, ind->apdu_len);
    r->ui_len = ind->apdu_len;
    return 0;
}

START_TEST(rtorq_refused_before_connection)
{
    for (int x410 = 0; x410 < 2; x410++)
        for (int bad_dm = 0; bad_dm < 2; bad_dm++) {
            struct h h;
            uint8_t q[32];
            struct rawup r;
            x400i_assoc_upper up = { &r, raw_associate, raw_ind };
            const uint8_t want[] = { 0xb2, 0x03, 0x80, 0x01, bad_dm ? 3 : 2 }; /* RTORJ refuseReason */
            memset(&r, 0, sizeof r);
            r.q = q;
            r.qn = bad_rtorq(q, x410, bad_dm);
            h_init(&h, x410, 1);
            /* the initiator's association carries the bad RTORQ itself */
            x400i_rtse_assoc_detach(h.i.ra);
            x400i_assoc_set_upper(h.i.a, &up);
            pump(&h);
            ck_assert_int_eq(h.r.nind[X400I_RTSE_OPEN_IND], 0);
            ck_assert_int_eq(h.r.nind[X400I_RTSE_P_ABORT_IND], 1);
            ck_assert_int_eq(x400i_rtse_state(RT(h.r)), X400I_RTSE_ST_CLOSED);
            ck_assert_msg(strstr(x400i_rtse_diag(RT(h.r))->text,
                                 bad_dm ? "RTORJ unacceptableDialogueMode sent" : "RTORJ validationFailure sent"),
                          "diag: %s", x400i_rtse_diag(RT(h.r))->text);
            /* the refusal went out and decodes at the initiator */
            ck_assert_int_eq(r.conf, 1);
            ck_assert_int_eq(r.accepted, 0);
            ck_assert_uint_eq(r.ui_len, sizeof want);
            ck_assert_int_eq(memcmp(r.ui, want, sizeof want), 0);
            ck_assert_int_eq(x400_assoc_get_state(h.i.a), X400_ASSOC_CLOSED);
            ck_assert_int_eq(x400_assoc_get_state(h.r.a), X400_ASSOC_CLOSED);
            ck_assert_ptr_null(x400i_rtse_assoc_current(h.r.ra));
            h_free(&h);
        }
}
END_TEST

/* PP refuses an X.410-1984 recovery with an ABORT SPDU carrying an RTAB
 * (pp-resp-1984-twa-recover-refused.txt).  The first refusal ends the
 * recovery at once -- RT-P-ABORT first, then the negative RT-TRANSFER
 * confirm, no retry for the rest of the recovery timeout, logged once --
 * so that the transfer starts again on a new association. */
static int idx(const struct end *e, int type)
{
    for (int k = 0; k < e->norder; k++)
        if (e->order[k] == type) return k;
    return -1;
}

static void pp_recovery_refused(const x400t_ppvec *v, size_t split, int x410, const char *want)
{
    struct h h;
    uint8_t *m = x400t_pattern(100000, 9), *junk = NULL;
    size_t junk_len = 0;
    h_init(&h, x410, 1);
    open_ok(&h);
    h.pp = v;
    h.io.cut_at = 5000;
    h.io.cut_armed = 1;
    ck_assert_int_eq(x400i_rtse_transfer_req(RT(h.i), m, 100000, X400_RTSE_PRIO_NORMAL, 3), X400_OK);
    pump(&h);   /* cut; the initiator reconnects (its CR goes nowhere) */
    ck_assert_int_eq(h.io.cuts, 1);
    ck_assert_int_eq(h.needs, 1);
    ck_assert_int_eq(x400i_rtse_state(RT(h.i)), X400I_RTSE_ST_RECOVERING);
    for (size_t k = 0; k < v->n; k++) {
        if (v->t[k].from_initiator) continue;
        feed_last(h.i.a, v->t[k].p, v->t[k].len, split); /* CC, then PP's AB / RF */
        take_output(h.i.a, &junk, &junk_len);             /* our CN + CP (RTORQ recover) */
    }
    ck_assert_msg(h.i.nind[X400I_RTSE_P_ABORT_IND] == 1, "state %s, diag %s",
                  x400i_rtse_state_name(x400i_rtse_state(RT(h.i))), x400i_rtse_diag(RT(h.i))->text);
    ck_assert_int_eq(h.i.nind[X400I_RTSE_TRANSFER_CONF], 1);
    ck_assert_int_lt(h.i.result, 0);
    ck_assert_int_lt(idx(&h.i, X400I_RTSE_P_ABORT_IND), idx(&h.i, X400I_RTSE_TRANSFER_CONF));
    ck_assert_int_eq(x400i_rtse_state(RT(h.i)), X400I_RTSE_ST_CLOSED);
    ck_assert_msg(strstr(x400i_rtse_diag(RT(h.i))->text, want), "diag: %s", x400i_rtse_diag(RT(h.i))->text);
    ck_assert_uint_eq(x400i_rtse_next_timeout(RT(h.i)), UINT64_MAX);
    for (int t = 1; t <= 70; t++) x400i_rtse_tick(RT(h.i), h.now + 1000u * (unsigned)t);
    ck_assert_int_eq(h.needs, 1);          /* never tried again */
    ck_assert_int_eq(h.refused_logs, 1);
    free(junk);
    free(m);
    h_free(&h);
}

/* pp_recovery_refused with PP's TPKTs split at every offset. */
static void refused_at_every_split(const x400t_ppvec *v, int x410, const char *want)
{
    size_t max = 0;
    for (size_t k = 0; k < v->n; k++)
        if (!v->t[k].from_initiator && v->t[k].len > max) max = v->t[k].len;
    for (size_t split = 0; split < max; split++) pp_recovery_refused(v, split, x410, want);
}

START_TEST(pp_1984_recovery_refused_by_abort)
{
    x400t_ppvec v;
    x400t_ppvec_load(&v, "pp-resp-1984-twa-recover-refused.txt");
    refused_at_every_split(&v, 1, "recovery refused by the peer (abort, RTAB protocolError)");
    x400t_ppvec_free(&v);
}
END_TEST

/* PP refuses a 1988 recovery with an RF: CPR + AARE- + RTORJ without
 * refuseReason (pp-resp-1988-twa-recover-refused.txt), as recorded (its
 * RF carries a Connection Identifier) and without that item: the first
 * refusal ends the recovery, whatever the RTORJ says. */
START_TEST(pp_1988_recovery_refused_by_rf)
{
    x400t_ppvec v;
    size_t k;
    x400t_ppvec_load(&v, "pp-resp-1988-twa-recover-refused.txt");
    refused_at_every_split(&v, 0, "recovery refused by the peer (RTORJ without reason)");
    for (k = 0; k < v.n; k++)
        if (!v.t[k].from_initiator && spdu_of(v.t[k].p, v.t[k].len) == 0x0c) break;
    ck_assert_uint_lt(k, v.n);
    {
        uint8_t *t = v.t[k].p;
        size_t n = v.t[k].len, ci;
        /* RF: SI 0x0c, LI, then PGI 1 (Connection Identifier) first */
        ck_assert(t[7] == 0x0c && t[8] < 0xff && t[9] == 0x01);
        ci = 2u + t[10];
        memmove(t + 9, t + 9 + ci, n - 9 - ci);
        t[8] = (uint8_t)(t[8] - ci);
        n -= ci;
        t[2] = (uint8_t)(n >> 8);
        t[3] = (uint8_t)n;
        v.t[k].len = n;
    }
    refused_at_every_split(&v, 0, "recovery refused by the peer (RTORJ without reason)");
    x400t_ppvec_free(&v);
}
END_TEST

/* Our own responder refuses the recovery (a fresh RTSE that waits for no
 * connection: RTORJ cannotRecover in AARE- in CPR): the same single stop. */
START_TEST(recovery_refused_by_rtorj)
{
    struct h h;
    uint8_t *m = x400t_pattern(100000, 10);
    x400i_rtse_callbacks cbr = { &h.r, u_ind };
    h_init(&h, 0, 1);
    open_ok(&h);
    h.io.cut_at = 5000;
    h.io.cut_armed = 1;
    ck_assert_int_eq(x400i_rtse_transfer_req(RT(h.i), m, 100000, X400_RTSE_PRIO_NORMAL, 3), X400_OK);
    /* the responder's process restarted without its record: it knows
     * nothing of the connection to recover */
    x400i_rtse_assoc_free(h.r.ra);
    ck_assert_int_eq(x400i_rtse_assoc_new(&h.r.ra, 0, NULL, &cbr, NULL, NULL, NULL), X400_OK);
    pump(&h);
    ck_assert_int_eq(h.io.cuts, 1);
    ck_assert_int_eq(h.needs, 1);
    ck_assert_int_eq(h.i.nind[X400I_RTSE_P_ABORT_IND], 1);
    ck_assert_int_eq(h.i.nind[X400I_RTSE_TRANSFER_CONF], 1);
    ck_assert_int_lt(h.i.result, 0);
    ck_assert_int_lt(idx(&h.i, X400I_RTSE_P_ABORT_IND), idx(&h.i, X400I_RTSE_TRANSFER_CONF));
    ck_assert_msg(strstr(x400i_rtse_diag(RT(h.i))->text, "recovery refused by the peer (RTORJ cannotRecover)"),
                  "diag: %s", x400i_rtse_diag(RT(h.i))->text);
    ck_assert_uint_eq(x400i_rtse_next_timeout(RT(h.i)), UINT64_MAX);
    ck_assert_int_eq(x400_assoc_get_state(h.i.a), X400_ASSOC_CLOSED);
    ck_assert_int_eq(h.refused_logs, 1);
    free(m);
    h_free(&h);
}
END_TEST

Suite *x400t_suite_rtse_assoc(void)
{
    Suite *s = suite_create("rtse_assoc");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, normal_mode_sizes);
    tcase_add_test(tc, x410_mode_sizes);
    tcase_add_test(tc, open_refused);
    tcase_add_test(tc, byte_split);
    tcase_add_test(tc, tshark_normal_mode);
    tcase_add_test(tc, recovery);
    tcase_add_test(tc, user_abort);
    tcase_add_test(tc, turn_please_give);
    tcase_add_test(tc, initial_turn_to_responder);
    tcase_add_test(tc, bad_pdata_context);
    tcase_add_test(tc, mode_learned_from_connection);
    tcase_add_test(tc, pp_1984_conversation_to_normal_responder);
    tcase_add_test(tc, pp_1984_responder_gets_apdu_unwrapped);
    tcase_add_test(tc, rtorq_refused_before_connection);
    tcase_add_test(tc, pp_1984_recovery_refused_by_abort);
    tcase_add_test(tc, pp_1988_recovery_refused_by_rf);
    tcase_add_test(tc, recovery_refused_by_rtorj);
    suite_add_tcase(s, tc);
    return s;
}
