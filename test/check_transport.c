/* Transport layer: RFC 1006 TPKT + X.224 class 0.  Two endpoints in one
 * process exchange their pending bytes; every stream is replayed split at
 * byte offsets; each kind of bad input must give a precise diagnostic, an
 * ER/DR and exactly one disconnect_ind. */
#define X400T_UNMARKED_ASSERTS /* asserts in loops of 100,000: x400t.h */
#include <string.h>

#include "internal.h"
#include "transport.h"
#include "pair.h"
#include "wire.h"
#include "alloc.h"
#include "x400t.h"

/* ---- an endpoint and its callbacks ------------------------------------- */

typedef struct bytes { uint8_t *p; size_t len, cap; } bytes;

static void bytes_add(bytes *b, const uint8_t *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t c = b->cap ? b->cap : 1024;
        while (c < b->len + n) c *= 2;
        b->p = realloc(b->p, c);
        ck_assert_ptr_nonnull(b->p);
        b->cap = c;
    }
    if (n) memcpy(b->p + b->len, p, n);
    b->len += n;
}
static void bytes_free(bytes *b) { free(b->p); memset(b, 0, sizeof *b); }

typedef struct ep {
    x400i_tp *tp;
    int initiator;
    int n_conn_ind, n_conn_conf, n_disc, disc_reason;
    x400_diag disc_diag;
    int refuse;          /* connect_ind result */
    int data_fail;       /* data_ind result */
    int echo;            /* data_ind sends the TSDU back */
    int disc_in_data;    /* data_ind asks for T-DISCONNECT (reason 128) */
    int disc_in_conn;    /* connect_ind asks for T-DISCONNECT (reason 2) */
    x400i_tp_conn_info ci;
    uint8_t ci_calling[X400I_TSEL_MAX], ci_called[X400I_TSEL_MAX];
    bytes rx;            /* TSDUs received, concatenated */
    size_t *lens, nlens, lens_cap;
} ep;

static void copy_ci(ep *e, const x400i_tp_conn_info *ci)
{
    e->ci = *ci;
    ck_assert_uint_le(ci->calling_tsel_len, X400I_TSEL_MAX);
    ck_assert_uint_le(ci->called_tsel_len, X400I_TSEL_MAX);
    if (ci->calling_tsel_len) memcpy(e->ci_calling, ci->calling_tsel, ci->calling_tsel_len);
    if (ci->called_tsel_len) memcpy(e->ci_called, ci->called_tsel, ci->called_tsel_len);
    e->ci.calling_tsel = e->ci_calling;
    e->ci.called_tsel = e->ci_called;
}

static int cb_connect_ind(void *u, const x400i_tp_conn_info *ci)
{
    ep *e = u;
    e->n_conn_ind++;
    copy_ci(e, ci);
    ck_assert(!x400i_tp_is_open(e->tp));
    /* T-DATA before the connection is accepted is refused, not fatal */
    ck_assert_int_eq(x400i_tp_send(e->tp, (const uint8_t *)"x", 1), X400_ERR_STATE);
    /* input from inside a callback is refused */
    ck_assert_int_eq(x400i_tp_input(e->tp, (const uint8_t *)"x", 1), X400_ERR_STATE);
    if (e->disc_in_conn) ck_assert_int_eq(x400i_tp_disconnect(e->tp, 2), X400_OK);
    return e->refuse;
}
static void cb_connect_conf(void *u, const x400i_tp_conn_info *ci)
{
    ep *e = u;
    e->n_conn_conf++;
    copy_ci(e, ci);
}
static int cb_data_ind(void *u, const uint8_t *p, size_t n)
{
    ep *e = u;
    bytes_add(&e->rx, p, n);
    if (e->nlens == e->lens_cap) {
        e->lens_cap = e->lens_cap ? e->lens_cap * 2 : 16;
        e->lens = realloc(e->lens, e->lens_cap * sizeof *e->lens);
        ck_assert_ptr_nonnull(e->lens);
    }
    e->lens[e->nlens++] = n;
    if (e->echo) ck_assert_int_eq(x400i_tp_send(e->tp, p, n), X400_OK);
    if (e->disc_in_data) ck_assert_int_eq(x400i_tp_disconnect(e->tp, 128), X400_OK);
    return e->data_fail;
}
static void cb_disconnect_ind(void *u, int reason, const x400_diag *d)
{
    ep *e = u;
    e->n_disc++;
    e->disc_reason = reason;
    e->disc_diag = *d;
}

static void ep_init_a(ep *e, int initiator, const x400i_tp_config *cfg, const x400_allocator *a)
{
    x400i_tp_callbacks cb = { e, cb_connect_ind, cb_connect_conf, cb_data_ind, cb_disconnect_ind };
    memset(e, 0, sizeof *e);
    e->initiator = initiator;
    ck_assert_int_eq(x400i_tp_new(&e->tp, initiator, cfg, &cb, a, NULL), X400_OK);
}
static void ep_init(ep *e, int initiator, const x400i_tp_config *cfg) { ep_init_a(e, initiator, cfg, NULL); }

static void ep_free(ep *e)
{
    x400i_tp_free(e->tp);
    bytes_free(&e->rx);
    free(e->lens);
    memset(e, 0, sizeof *e);
}

/* A transport endpoint as an end of the harness (pair.h). */
static size_t tp_pending(void *e, const uint8_t **p) { return x400i_tp_pending(((ep *)e)->tp, p); }
static void tp_sent(void *e, size_t n) { x400i_tp_sent(((ep *)e)->tp, n); }
static int tp_input(void *e, const uint8_t *p, size_t n) { return x400i_tp_input(((ep *)e)->tp, p, n); }
static const x400t_end_ops tp_end = { tp_pending, tp_sent, tp_input, NULL, 0 };

/* The streams captured per direction: [0] from the initiator. */
static void tap_streams(void *u, int from, const uint8_t *p, size_t n)
{
    bytes **cap = u;
    if (cap[from]) bytes_add(cap[from], p, n);
}

/* A pair between the initiator i and the responder r, capturing the
 * stream i sends into s_ir and r's into s_ri (each may be NULL),
 * recording into w (may be NULL). */
static void io_init(x400t_pair *io, ep *i, ep *r, bytes **cap, x400t_wire *w)
{
    x400t_pair_init(io, &tp_end, i, r);
    io->wire = w;
    io->tap = tap_streams;
    io->user = cap;
}

/* Move everything `from` has pending into `to`.  Returns the first
 * negative input result, else 0.  Captures the stream and records it. */
static int xfer(ep *from, ep *to, bytes *cap, x400t_wire *w)
{
    x400t_pair io;
    int k = !from->initiator;
    bytes *caps[2] = { k ? NULL : cap, k ? cap : NULL };
    io_init(&io, k ? to : from, k ? from : to, caps, w);
    ck_assert_msg(x400t_pair_move(&io, k) >= 0, "%s", io.err);
    x400t_pair_free(&io);
    return io.refused ? io.first_refusal : 0;
}

static void pump(ep *i, ep *r, bytes *s_ir, bytes *s_ri, x400t_wire *w)
{
    x400t_pair io;
    bytes *caps[2] = { s_ir, s_ri };
    io_init(&io, i, r, caps, w);
    ck_assert_msg(x400t_pair_pump(&io) == 0, "%s", io.err);
    ck_assert_uint_eq(io.refused, 0);
    x400t_pair_free(&io);
}

static const x400i_tp_config cfg_default; /* all zero: defaults */

static x400i_tp_config cfg_tsel(const char *calling, const char *called, uint32_t max, int omit)
{
    x400i_tp_config c;
    memset(&c, 0, sizeof c);
    c.calling_tsel_len = strlen(calling);
    memcpy(c.calling_tsel, calling, c.calling_tsel_len);
    c.called_tsel_len = strlen(called);
    memcpy(c.called_tsel, called, c.called_tsel_len);
    c.max_tpdu_size = max;
    c.omit_tpdu_size = omit;
    return c;
}

static void fill(uint8_t *d, size_t n, unsigned seed)
{
    /* starts with 0xEE: not an SPDU code, so tshark keeps it as plain data */
    for (size_t k = 0; k < n; k++) d[k] = (uint8_t)(0xEE ^ (k * 31 + seed * 7 + (k >> 8)));
}

/* Walk a captured stream: TPKT framing must be exact and every DT must fit
 * `tpdu_size`, with all but the last DT of a TSDU full.  Returns the number
 * of DTs. */
static size_t check_dts(const bytes *s, uint32_t tpdu_size)
{
    size_t o = 0, ndt = 0;
    int prev_full_needed = 0;
    while (o < s->len) {
        size_t l;
        ck_assert_uint_ge(s->len - o, 4);
        ck_assert_uint_eq(s->p[o], 3);
        ck_assert_uint_eq(s->p[o + 1], 0);
        l = (size_t)s->p[o + 2] << 8 | s->p[o + 3];
        ck_assert_uint_ge(l, 7);
        ck_assert_uint_le(l, s->len - o);
        if (s->p[o + 5] == 0xF0) {
            size_t tpdu = l - 4;
            ck_assert_uint_eq(s->p[o + 4], 2);
            ck_assert_uint_le(tpdu, tpdu_size);
            if (!(s->p[o + 6] & 0x80)) ck_assert_uint_eq(tpdu, tpdu_size); /* not last: full */
            prev_full_needed = !(s->p[o + 6] & 0x80);
            ndt++;
        }
        o += l;
    }
    ck_assert_int_eq(prev_full_needed, 0);
    return ndt;
}

/* ---- split replays ---------------------------------------------------- */

/* Offsets to split a large stream at (one split per replay): the first
 * and last 64, both sides of the first TPKT boundaries and some
 * pseudo-random ones.  A small stream is split inside every TPKT at once
 * instead (tpkt_cuts). */
static size_t split_offsets(const bytes *s, size_t *out, size_t max)
{
    size_t n = 0, o = 0;
    for (size_t k = 0; k < 64; k++) { out[n++] = k; out[n++] = s->len - k; }
    for (int t = 0; t < 16 && o + 4 <= s->len; t++) {
        size_t l = (size_t)s->p[o + 2] << 8 | s->p[o + 3];
        for (size_t d = 1; d <= 5 && n < max; d++) out[n++] = o + d;
        o += l;
        if (o < s->len) { out[n++] = o - 1; out[n++] = o; }
    }
    uint32_t x = 12345;
    for (int t = 0; t < (X400T_TSAN ? 4 : 24) && n < max; t++) {
        x = x * 1103515245u + 12345u;
        out[n++] = (size_t)(x >> 8) % s->len;
    }
    return n;
}

/* Cut points that split every TPKT of s at offset j inside it (a TPKT of j
 * octets or fewer is not split; j = 0: at the TPKT boundaries): the
 * replays for j = 0 .. longest-1 feed every TPKT split at each of its
 * offsets, each piece holding the end of one TPKT and the start of the
 * next, in as many replays as the longest TPKT has octets -- not as the
 * stream has, which made the every-offset replays quadratic.  *longest:
 * the longest TPKT. */
static size_t tpkt_cuts(const bytes *s, size_t j, size_t *out, size_t max, size_t *longest)
{
    size_t n = 0, o = 0;
    *longest = 0;
    while (o + 4 <= s->len) {
        size_t l = (size_t)s->p[o + 2] << 8 | s->p[o + 3];
        ck_assert_uint_ge(l, 4);
        if (l > *longest) *longest = l;
        if (j < l && o + j > 0 && n < max) out[n++] = o + j;
        o += l;
    }
    return n;
}

/* Replay the initiator->responder stream into a fresh responder, split at
 * k (or in `chunk`-byte pieces when chunk != 0, or at the ncuts offsets
 * cuts[] when cuts != NULL), and compare with `ref`. */
static void replay_cuts(int to_initiator, const x400i_tp_config *cfg, const bytes *s, size_t k,
                        size_t chunk, const size_t *cuts, size_t ncuts, const ep *ref)
{
    ep e;
    ep_init(&e, to_initiator, cfg);
    e.echo = ref->echo;
    e.refuse = ref->refuse;
    if (to_initiator) {
        ck_assert_int_eq(x400i_tp_connect(e.tp), X400_OK);
        x400i_tp_sent(e.tp, x400i_tp_pending(e.tp, NULL));
    }
    if (chunk || cuts) {
        size_t c = 0;
        for (size_t o = 0; o < s->len;) {
            size_t m = cuts ? (c < ncuts ? cuts[c++] : s->len) - o : s->len - o < chunk ? s->len - o : chunk;
            int r = x400i_tp_input(e.tp, s->p + o, m);
            if (r < 0) ck_assert_int_eq(r, X400_ERR_CLOSED); /* the DR ended it in an earlier piece */
            else ck_assert_int_eq(r, (int)m);
            o += m;
        }
    } else {
        int r1 = x400i_tp_input(e.tp, s->p, k), r2;
        ck_assert_int_eq(r1, (int)k);
        r2 = x400i_tp_input(e.tp, s->p + k, s->len - k);
        if (r2 < 0) ck_assert_int_eq(r2, X400_ERR_CLOSED); /* the DR ended it in part 1 */
        else ck_assert_int_eq(r2, (int)(s->len - k));
    }
    ck_assert_int_eq(e.n_conn_ind, ref->n_conn_ind);
    ck_assert_int_eq(e.n_conn_conf, ref->n_conn_conf);
    ck_assert_int_eq(e.n_disc, ref->n_disc);
    ck_assert_int_eq(e.disc_reason, ref->disc_reason);
    ck_assert_uint_eq(e.nlens, ref->nlens);
    for (size_t j = 0; j < e.nlens; j++) ck_assert_uint_eq(e.lens[j], ref->lens[j]);
    ck_assert_uint_eq(e.rx.len, ref->rx.len);
    if (e.rx.len) ck_assert(memcmp(e.rx.p, ref->rx.p, e.rx.len) == 0);
    ck_assert_uint_eq(x400i_tp_tpdu_size(e.tp), x400i_tp_tpdu_size(ref->tp));
    ep_free(&e);
}

static void replay(int to_initiator, const x400i_tp_config *cfg, const bytes *s, size_t k,
                   size_t chunk, const ep *ref)
{
    replay_cuts(to_initiator, cfg, s, k, chunk, NULL, 0, ref);
}

/* A small stream: every TPKT split at each of its offsets (tpkt_cuts), and
 * the whole stream split once at its first and last 64 offsets (the rest
 * in one call: many TPKTs in one input).  A large one: split once at
 * split_offsets. */
static void replay_all(int to_initiator, const x400i_tp_config *cfg, const bytes *s, const ep *ref)
{
    size_t max = s->len / 4 + 1, *cuts = malloc(sizeof *cuts * (max > 13000 ? max : 13000)), n, longest;
    ck_assert_ptr_nonnull(cuts);
    if (s->len <= (X400T_TSAN ? 2000u : 12000u)) {
        n = tpkt_cuts(s, 0, cuts, max, &longest);
        for (size_t j = 0; j < longest; j++) {
            n = tpkt_cuts(s, j, cuts, max, &longest);
            replay_cuts(to_initiator, cfg, s, 0, 0, cuts, n, ref);
        }
        for (size_t k = 0; k < 64 && k <= s->len; k++) {
            replay(to_initiator, cfg, s, k, 0, ref);
            replay(to_initiator, cfg, s, s->len - k, 0, ref);
        }
    } else {
        n = split_offsets(s, cuts, 13000);
        for (size_t j = 0; j < n; j++) replay(to_initiator, cfg, s, cuts[j], 0, ref);
    }
    free(cuts);
    /* byte by byte, and in odd-sized pieces */
    if (s->len <= (X400T_TSAN ? 100000u : 2000000u)) replay(to_initiator, cfg, s, 0, 1, ref);
    replay(to_initiator, cfg, s, 0, 7, ref);
    replay(to_initiator, cfg, s, 0, 4099, ref);
}

/* ---- the scenario: connect, TSDUs (echoed back), DR ------------------- */

typedef struct scen {
    const x400i_tp_config *icfg, *rcfg;
    const size_t *sizes;
    size_t nsizes;
    uint32_t expect_size;    /* negotiated TPDU size */
    const char *wire;        /* tshark check name, or NULL */
} scen;

static void run_scenario(const scen *sc)
{
    ep i, r;
    bytes s_ir = { 0 }, s_ri = { 0 }, sent = { 0 };
    x400t_wire w;
    x400t_wire_init(&w);
    ep_init(&i, 1, sc->icfg);
    ep_init(&r, 0, sc->rcfg);
    r.echo = 1;
    ck_assert_int_eq(x400i_tp_connect(i.tp), X400_OK);
    ck_assert_str_eq(x400i_tp_state_name(i.tp), "wait-CC");
    pump(&i, &r, &s_ir, &s_ri, sc->wire ? &w : NULL);
    ck_assert_int_eq(r.n_conn_ind, 1);
    ck_assert_int_eq(i.n_conn_conf, 1);
    ck_assert(x400i_tp_is_open(i.tp));
    ck_assert(x400i_tp_is_open(r.tp));
    ck_assert_uint_eq(x400i_tp_tpdu_size(i.tp), sc->expect_size);
    ck_assert_uint_eq(x400i_tp_tpdu_size(r.tp), sc->expect_size);
    ck_assert_uint_eq(r.ci.tpdu_size, sc->expect_size);
    ck_assert_uint_eq(i.ci.tpdu_size, sc->expect_size);
    ck_assert_uint_eq(r.ci.calling_tsel_len, sc->icfg->calling_tsel_len);
    ck_assert(memcmp(r.ci_calling, sc->icfg->calling_tsel, sc->icfg->calling_tsel_len) == 0);
    ck_assert_uint_eq(r.ci.called_tsel_len, sc->icfg->called_tsel_len);
    ck_assert(memcmp(r.ci_called, sc->icfg->called_tsel, sc->icfg->called_tsel_len) == 0);
    for (size_t k = 0; k < sc->nsizes; k++) {
        uint8_t *d = malloc(sc->sizes[k] + 1);
        fill(d, sc->sizes[k], (unsigned)k);
        bytes_add(&sent, d, sc->sizes[k]);
        ck_assert_int_eq(x400i_tp_send(i.tp, d, sc->sizes[k]), X400_OK);
        free(d);
        pump(&i, &r, &s_ir, &s_ri, sc->wire ? &w : NULL);
    }
    /* both directions delivered exactly what was sent, TSDU by TSDU */
    ck_assert_uint_eq(r.nlens, sc->nsizes);
    ck_assert_uint_eq(i.nlens, sc->nsizes);
    for (size_t k = 0; k < sc->nsizes; k++) {
        ck_assert_uint_eq(r.lens[k], sc->sizes[k]);
        ck_assert_uint_eq(i.lens[k], sc->sizes[k]);
    }
    ck_assert_uint_eq(r.rx.len, sent.len);
    ck_assert_uint_eq(i.rx.len, sent.len);
    if (sent.len) {
        ck_assert(memcmp(r.rx.p, sent.p, sent.len) == 0);
        ck_assert(memcmp(i.rx.p, sent.p, sent.len) == 0);
    }
    /* T-DISCONNECT: DR normal */
    ck_assert_int_eq(x400i_tp_disconnect(i.tp, X400I_TP_DR_NORMAL), X400_OK);
    ck_assert(!x400i_tp_is_open(i.tp));
    ck_assert(!x400i_tp_want_close(i.tp)); /* DR not yet written */
    pump(&i, &r, &s_ir, &s_ri, sc->wire ? &w : NULL);
    ck_assert(x400i_tp_want_close(i.tp));
    ck_assert(x400i_tp_want_close(r.tp));
    ck_assert_int_eq(r.n_disc, 1);
    ck_assert_int_eq(r.disc_reason, X400I_TP_DR_NORMAL);
    ck_assert_int_eq(r.disc_diag.source, X400_SOURCE_PEER);
    ck_assert_int_eq(r.disc_diag.layer, X400_LAYER_TRANSPORT);
    ck_assert_ptr_nonnull(strstr(r.disc_diag.text, "normal disconnect"));
    x400i_tp_transport_closed(i.tp);
    x400i_tp_transport_closed(r.tp);
    ck_assert_int_eq(i.n_disc, 0); /* it asked for the end itself */
    ck_assert_int_eq(r.n_disc, 1); /* once */
    ck_assert_int_eq(x400i_tp_send(i.tp, (const uint8_t *)"x", 1), X400_ERR_CLOSED);
    ck_assert_int_eq(x400i_tp_input(r.tp, (const uint8_t *)"x", 1), X400_ERR_CLOSED);

    ck_assert_uint_ge(check_dts(&s_ir, sc->expect_size), sc->nsizes);
    ck_assert_uint_ge(check_dts(&s_ri, sc->expect_size), sc->nsizes);

    if (sc->wire) {
        char err[4000], *f;
        ck_assert_msg(x400t_wire_check(&w, sc->wire, NULL, err, sizeof err) == 0, "%s", err);
        f = x400t_wire_fields(&w, sc->wire, NULL, "-e cotp.type");
        ck_assert_ptr_nonnull(f);
        ck_assert_msg(strncmp(f, "0x0e\n0x0d\n", 10) == 0, "%s", f);
        ck_assert_msg(strstr(f, "0x0f\n") != NULL, "%s", f);
        ck_assert_msg(strlen(f) >= 5 && strcmp(f + strlen(f) - 5, "0x08\n") == 0, "%s", f);
        free(f);
    }

    /* the same streams, split every way, give the same result */
    replay_all(0, sc->rcfg, &s_ir, &r);
    replay_all(1, sc->icfg, &s_ri, &i);

    x400t_wire_free(&w);
    bytes_free(&s_ir);
    bytes_free(&s_ri);
    bytes_free(&sent);
    ep_free(&i);
    ep_free(&r);
}

START_TEST(default_sizes_negotiate_preferred_maximum)
{
    static const size_t sizes[] = { 1, 0, 65405, 65406, 70000 };
    x400i_tp_config ic = cfg_tsel("X400-88", "X400-88", 0, 0);
    scen sc = { &ic, &cfg_default, sizes, X400I_ARRAY_LEN(sizes), 65408, "tp_default" };
    run_scenario(&sc);
}
END_TEST

START_TEST(no_tpdu_size_segments_to_128)
{
    static const size_t sizes[] = { 5000, 0, 1, 124, 125, 126, 250, 251, 3000 };
    x400i_tp_config ic = cfg_tsel("X400-88", "X400-88", 0, 1);
    scen sc = { &ic, &cfg_default, sizes, X400I_ARRAY_LEN(sizes), 128, "tp_128" };
    run_scenario(&sc);
}
END_TEST

START_TEST(responder_lowers_size)
{
    static const size_t sizes[] = { 2000, 509, 510 };
    x400i_tp_config ic = cfg_tsel("", "MTA", 0, 0);
    x400i_tp_config rc = cfg_tsel("", "", 600, 0);
    scen sc = { &ic, &rc, sizes, X400I_ARRAY_LEN(sizes), 512, "tp_lowered" };
    run_scenario(&sc);
}
END_TEST

START_TEST(initiator_2048_power_of_two)
{
    static const size_t sizes[] = { 4093, 2045, 2046 };
    x400i_tp_config ic = cfg_tsel("chan", "chan", 2048, 0);
    scen sc = { &ic, &cfg_default, sizes, X400I_ARRAY_LEN(sizes), 2048, NULL };
    run_scenario(&sc);
}
END_TEST

START_TEST(one_mebibyte)
{
    static const size_t sizes[] = { (size_t)1 << 20 };
    x400i_tp_config ic = cfg_tsel("X400-88", "X400-88", 0, _i);
    scen sc = { &ic, &cfg_default, sizes, 1, _i ? 128 : 65408, NULL };
    run_scenario(&sc);
}
END_TEST

/* ---- the CR a real MTA sends ------------------------------------------ */

static const uint8_t real_cr[] = { 0x03, 0x00, 0x00, 0x1d, 0x18, 0xe0, 0x00, 0x00, 0x12, 0x34, 0x00,
    0xc1, 0x07, 'X', '4', '0', '0', '-', '8', '8', 0xc2, 0x07, 'X', '4', '0', '0', '-', '8', '8' };

START_TEST(real_mta_cr_accepted)
{
    ep r;
    const uint8_t *p;
    size_t n;
    uint8_t d[1000];
    x400i_tp_config rc;
    memset(&rc, 0, sizeof rc);
    rc.local_ref = 0x0203;
    ep_init(&r, 0, &rc);
    ck_assert_int_eq(x400i_tp_input(r.tp, real_cr, sizeof real_cr), (int)sizeof real_cr);
    ck_assert_int_eq(r.n_conn_ind, 1);
    ck_assert_uint_eq(r.ci.calling_tsel_len, 7);
    ck_assert(memcmp(r.ci_calling, "X400-88", 7) == 0);
    ck_assert_uint_eq(r.ci.called_tsel_len, 7);
    ck_assert(memcmp(r.ci_called, "X400-88", 7) == 0);
    ck_assert_uint_eq(r.ci.tpdu_size, 128);
    ck_assert_uint_eq(r.ci.src_ref, 0x1234);
    ck_assert_uint_eq(r.ci.dst_ref, 0);
    /* CC: echoes the reference, class 0, no parameters */
    n = x400i_tp_pending(r.tp, &p);
    {
        static const uint8_t cc[] = { 0x03, 0x00, 0x00, 0x0b, 0x06, 0xd0, 0x12, 0x34, 0x02, 0x03, 0x00 };
        ck_assert_uint_eq(n, sizeof cc);
        ck_assert(memcmp(p, cc, sizeof cc) == 0);
    }
    x400i_tp_sent(r.tp, n);
    ck_assert(x400i_tp_is_open(r.tp));
    /* the class 0 default applies: 125 data octets per DT */
    fill(d, sizeof d, 3);
    ck_assert_int_eq(x400i_tp_send(r.tp, d, sizeof d), X400_OK);
    n = x400i_tp_pending(r.tp, &p);
    {
        bytes s = { (uint8_t *)(uintptr_t)p, n, n };
        ck_assert_uint_eq(check_dts(&s, 128), 8);
        ck_assert_uint_eq(n, 1000 + 8 * 7);
    }
    ep_free(&r);
}
END_TEST

START_TEST(unknown_cr_parameters_ignored)
{
    /* CR with a priority (0x87), a checksum (0xC3) and an unassigned
     * parameter (0x99), then TPDU size 1024 */
    static const uint8_t cr[] = { 0x03, 0x00, 0x00, 0x1b, 0x16, 0xe0, 0x00, 0x00, 0x00, 0x07, 0x00,
        0x87, 0x02, 0x00, 0x01, 0xc3, 0x02, 0x00, 0x00, 0x99, 0x03, 1, 2, 3, 0xc0, 0x01, 0x0a };
    ep r;
    const uint8_t *p;
    size_t n;
    ep_init(&r, 0, NULL);
    ck_assert_int_eq(x400i_tp_input(r.tp, cr, sizeof cr), (int)sizeof cr);
    ck_assert_int_eq(r.n_conn_ind, 1);
    ck_assert_uint_eq(r.ci.tpdu_size, 1024);
    ck_assert_uint_eq(r.ci.calling_tsel_len, 0);
    n = x400i_tp_pending(r.tp, &p);
    /* CC answers the TPDU size: c0 01 0a */
    ck_assert_uint_eq(n, 14);
    ck_assert_uint_eq(p[5], 0xd0);
    ck_assert(memcmp(p + 11, "\xc0\x01\x0a", 3) == 0);
    ep_free(&r);
}
END_TEST

START_TEST(class_negotiation)
{
    /* class 2 with class 0 as an alternative: class 0 selected */
    static const uint8_t cr_alt[] = { 0x03, 0x00, 0x00, 0x0e, 0x09, 0xe0, 0x00, 0x00, 0x00, 0x07, 0x20,
        0xc7, 0x01, 0x00 };
    /* class 4 alone: refused, DR "connection negotiation failed" */
    static const uint8_t cr_4[] = { 0x03, 0x00, 0x00, 0x0b, 0x06, 0xe0, 0x00, 0x00, 0x00, 0x07, 0x40 };
    ep r;
    const uint8_t *p;
    size_t n;
    ep_init(&r, 0, NULL);
    ck_assert_int_eq(x400i_tp_input(r.tp, cr_alt, sizeof cr_alt), (int)sizeof cr_alt);
    ck_assert_int_eq(r.n_conn_ind, 1);
    n = x400i_tp_pending(r.tp, &p);
    ck_assert_uint_eq(n, 11);
    ck_assert_uint_eq(p[5], 0xd0);
    ck_assert_uint_eq(p[10], 0x00); /* class 0 */
    ep_free(&r);

    ep_init(&r, 0, NULL);
    ck_assert_int_eq(x400i_tp_input(r.tp, cr_4, sizeof cr_4), X400_ERR_UNSUPPORTED);
    ck_assert_int_eq(r.n_conn_ind, 0);
    ck_assert_int_eq(r.n_disc, 1);
    ck_assert_int_eq(r.disc_reason, X400I_TP_DR_NEGOTIATION_FAILED);
    ck_assert_ptr_nonnull(strstr(r.disc_diag.text, "class 4"));
    n = x400i_tp_pending(r.tp, &p);
    ck_assert_uint_eq(n, 11);
    ck_assert_uint_eq(p[5], 0x80);
    ck_assert_uint_eq(p[6], 0x00); ck_assert_uint_eq(p[7], 0x07); /* DST-REF = their ref */
    ck_assert_uint_eq(p[10], X400I_TP_DR_NEGOTIATION_FAILED);
    ck_assert_int_eq(x400i_tp_input(r.tp, cr_4, sizeof cr_4), X400_ERR_CLOSED);
    ep_free(&r);
}
END_TEST

/* ---- refusal, disconnect, abort --------------------------------------- */

START_TEST(refusal_with_dr)
{
    ep i, r;
    bytes s_ir = { 0 }, s_ri = { 0 };
    x400t_wire w;
    char err[4000], *f;
    const uint8_t *p;
    x400t_wire_init(&w);
    ep_init(&i, 1, NULL);
    ep_init(&r, 0, NULL);
    r.refuse = X400I_TP_DR_ADDRESS_UNKNOWN;
    ck_assert_int_eq(x400i_tp_connect(i.tp), X400_OK);
    ck_assert_int_eq(xfer(&i, &r, &s_ir, &w), 0);
    ck_assert_int_eq(r.n_conn_ind, 1);
    ck_assert_str_eq(x400i_tp_state_name(r.tp), "closing");
    ck_assert_uint_eq(x400i_tp_pending(r.tp, &p), 11);
    ck_assert_uint_eq(p[5], 0x80);
    ck_assert_uint_eq(p[8], 0); ck_assert_uint_eq(p[9], 0); /* SRC-REF 0 when refusing */
    ck_assert_uint_eq(p[10], 3);
    ck_assert_int_eq(xfer(&r, &i, &s_ri, &w), 0);
    ck_assert_int_eq(i.n_conn_conf, 0);
    ck_assert_int_eq(i.n_disc, 1);
    ck_assert_int_eq(i.disc_reason, 3);
    ck_assert_int_eq(i.disc_diag.code, X400_ERR_REFUSED);
    ck_assert_int_eq(i.disc_diag.source, X400_SOURCE_PEER);
    ck_assert_ptr_nonnull(strstr(i.disc_diag.text, "address unknown"));
    ck_assert(x400i_tp_want_close(r.tp));
    x400i_tp_transport_closed(r.tp);
    ck_assert_int_eq(r.n_disc, 0);
    ck_assert_msg(x400t_wire_check(&w, "tp_refusal", NULL, err, sizeof err) == 0, "%s", err);
    f = x400t_wire_fields(&w, "tp_refusal", NULL, "-e cotp.type -e cotp.cause");
    ck_assert_ptr_nonnull(f);
    ck_assert_msg(strcmp(f, "0x0e\t\n0x08\t3\n") == 0, "%s", f);
    free(f);
    replay_all(1, &cfg_default, &s_ri, &i);
    x400t_wire_free(&w);
    bytes_free(&s_ir);
    bytes_free(&s_ri);
    ep_free(&i);
    ep_free(&r);
}
END_TEST

START_TEST(disconnect_inside_callbacks)
{
    ep i, r;
    uint8_t d[300];
    const uint8_t *p;
    size_t n;
    fill(d, sizeof d, 1);
    /* T-DISCONNECT from connect_ind: a refusal with that reason */
    ep_init(&i, 1, NULL);
    ep_init(&r, 0, NULL);
    r.disc_in_conn = 1;
    ck_assert_int_eq(x400i_tp_connect(i.tp), X400_OK);
    pump(&i, &r, NULL, NULL, NULL);
    ck_assert_int_eq(i.n_disc, 1);
    ck_assert_int_eq(i.disc_reason, 2);
    ep_free(&i);
    ep_free(&r);

    /* T-DISCONNECT from data_ind: later TSDUs in the same input are dropped */
    ep_init(&i, 1, NULL);
    ep_init(&r, 0, NULL);
    ck_assert_int_eq(x400i_tp_connect(i.tp), X400_OK);
    pump(&i, &r, NULL, NULL, NULL);
    r.disc_in_data = 1;
    ck_assert_int_eq(x400i_tp_send(i.tp, d, 10), X400_OK);
    ck_assert_int_eq(x400i_tp_send(i.tp, d, 20), X400_OK);
    n = x400i_tp_pending(i.tp, &p);
    ck_assert_int_eq(x400i_tp_input(r.tp, p, n), (int)n);
    x400i_tp_sent(i.tp, n);
    ck_assert_uint_eq(r.nlens, 1);
    ck_assert_str_eq(x400i_tp_state_name(r.tp), "closing");
    ck_assert_int_eq(r.n_disc, 0);
    /* what the peer still sends is discarded */
    ck_assert_int_eq(x400i_tp_send(i.tp, d, 30), X400_OK);
    ck_assert_int_eq(xfer(&i, &r, NULL, NULL), 0);
    ck_assert_uint_eq(r.nlens, 1);
    ck_assert_int_eq(xfer(&r, &i, NULL, NULL), 0);
    ck_assert_int_eq(i.n_disc, 1);
    ck_assert_int_eq(i.disc_reason, 128);
    ep_free(&i);
    ep_free(&r);

    /* data_ind failing aborts: DR reason 0, CALLBACK_FAILURE, no disconnect_ind */
    ep_init(&i, 1, NULL);
    ep_init(&r, 0, NULL);
    ck_assert_int_eq(x400i_tp_connect(i.tp), X400_OK);
    pump(&i, &r, NULL, NULL, NULL);
    r.data_fail = -1;
    ck_assert_int_eq(x400i_tp_send(i.tp, d, sizeof d), X400_OK);
    ck_assert_int_eq(xfer(&i, &r, NULL, NULL), X400_ERR_CALLBACK_FAILURE);
    ck_assert_int_eq(r.n_disc, 0);
    ck_assert_int_eq(x400i_tp_diag(r.tp)->code, X400_ERR_CALLBACK_FAILURE);
    ck_assert_int_eq(xfer(&r, &i, NULL, NULL), 0);
    ck_assert_int_eq(i.n_disc, 1);
    ck_assert_int_eq(i.disc_reason, 0);
    ep_free(&i);
    ep_free(&r);

    /* connect_ind failing: refused with reason 0 */
    ep_init(&i, 1, NULL);
    ep_init(&r, 0, NULL);
    r.refuse = -5;
    ck_assert_int_eq(x400i_tp_connect(i.tp), X400_OK);
    ck_assert_int_eq(xfer(&i, &r, NULL, NULL), X400_ERR_CALLBACK_FAILURE);
    ck_assert_int_eq(xfer(&r, &i, NULL, NULL), 0);
    ck_assert_int_eq(i.n_disc, 1);
    ck_assert_int_eq(i.disc_reason, 0);
    ep_free(&i);
    ep_free(&r);
}
END_TEST

START_TEST(tcp_close_and_local_state_errors)
{
    ep i, r;
    const uint8_t *p;
    ep_init(&i, 1, NULL);
    ep_init(&r, 0, NULL);
    /* primitives not allowed in the current state: refused, object usable */
    ck_assert_int_eq(x400i_tp_send(i.tp, (const uint8_t *)"a", 1), X400_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(x400i_tp_diag(i.tp)->text, "T-DATA request not allowed in state idle"));
    ck_assert_int_eq(x400i_tp_connect(r.tp), X400_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(x400i_tp_diag(r.tp)->text, "T-CONNECT request not allowed in state listen"));
    ck_assert_int_eq(x400i_tp_connect(i.tp), X400_OK);
    ck_assert_int_eq(x400i_tp_connect(i.tp), X400_ERR_STATE);
    ck_assert_int_eq(x400i_tp_send(i.tp, (const uint8_t *)"a", 1), X400_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(x400i_tp_diag(i.tp)->text, "wait-CC"));
    ck_assert_int_eq(x400i_tp_disconnect(i.tp, 256), X400_ERR_INVALID_ARG);
    ck_assert_int_eq(x400i_tp_send(i.tp, NULL, 1), X400_ERR_INVALID_ARG);
    pump(&i, &r, NULL, NULL, NULL);
    ck_assert(x400i_tp_is_open(i.tp));
    /* half a TPKT, then TCP goes away */
    ck_assert_int_eq(x400i_tp_send(i.tp, (const uint8_t *)"abc", 3), X400_OK);
    ck_assert_uint_eq(x400i_tp_pending(i.tp, &p), 10);
    ck_assert_int_eq(x400i_tp_input(r.tp, p, 5), 5);
    x400i_tp_transport_closed(r.tp);
    ck_assert_int_eq(r.n_disc, 1);
    ck_assert_int_eq(r.disc_reason, 0);
    ck_assert_int_eq(r.disc_diag.source, X400_SOURCE_PROVIDER);
    ck_assert_ptr_nonnull(strstr(r.disc_diag.text, "inside a TPKT"));
    ck_assert_ptr_nonnull(strstr(r.disc_diag.text, "open"));
    x400i_tp_transport_closed(r.tp);
    ck_assert_int_eq(r.n_disc, 1);
    ck_assert_int_eq(x400i_tp_input(r.tp, p + 5, 5), X400_ERR_CLOSED);
    ck_assert_uint_eq(r.nlens, 0);
    ep_free(&i);
    ep_free(&r);

    /* bad configuration */
    {
        x400i_tp *tp;
        x400i_tp_config c;
        memset(&c, 0, sizeof c);
        c.max_tpdu_size = 127;
        ck_assert_int_eq(x400i_tp_new(&tp, 1, &c, NULL, NULL, NULL), X400_ERR_INVALID_ARG);
        c.max_tpdu_size = 65532;
        ck_assert_int_eq(x400i_tp_new(&tp, 1, &c, NULL, NULL, NULL), X400_ERR_INVALID_ARG);
        c.max_tpdu_size = 0;
        c.called_tsel_len = 33;
        ck_assert_int_eq(x400i_tp_new(&tp, 1, &c, NULL, NULL, NULL), X400_ERR_INVALID_ARG);
    }
}
END_TEST

START_TEST(output_and_tsdu_bounds)
{
    ep i, r;
    x400i_tp_config ic, rc;
    uint8_t d[3000];
    const uint8_t *p;
    size_t n;
    fill(d, sizeof d, 9);
    memset(&ic, 0, sizeof ic);
    memset(&rc, 0, sizeof rc);
    ic.max_output = 1000;
    ic.omit_tpdu_size = 1;
    rc.max_tsdu = 1000;
    ep_init(&i, 1, &ic);
    ep_init(&r, 0, &rc);
    ck_assert_int_eq(x400i_tp_connect(i.tp), X400_OK);
    pump(&i, &r, NULL, NULL, NULL);
    /* max_output: all or nothing */
    ck_assert_int_eq(x400i_tp_send(i.tp, d, 900), X400_OK);
    n = x400i_tp_pending(i.tp, NULL);
    ck_assert_uint_eq(n, 900 + 8 * 7);
    ck_assert_int_eq(x400i_tp_send(i.tp, d, 37), X400_OK); /* 956 + 44 = 1000 exactly */
    n += 44;
    ck_assert_int_eq(x400i_tp_send(i.tp, d, 0), X400_ERR_LIMIT);
    ck_assert_ptr_nonnull(strstr(x400i_tp_diag(i.tp)->text, "max_output"));
    ck_assert_uint_eq(x400i_tp_pending(i.tp, NULL), n);
    ck_assert_int_eq(x400i_tp_send(i.tp, d, 2000), X400_ERR_LIMIT);
    /* a partial write makes room again; the rest follows in order */
    ck_assert_uint_eq(x400i_tp_pending(i.tp, &p), n);
    ck_assert_int_eq(x400i_tp_input(r.tp, p, 500), 500);
    x400i_tp_sent(i.tp, 500);
    ck_assert_uint_eq(x400i_tp_pending(i.tp, NULL), n - 500);
    ck_assert_int_eq(x400i_tp_send(i.tp, d + 100, 10), X400_OK);
    pump(&i, &r, NULL, NULL, NULL);
    ck_assert_uint_eq(r.nlens, 3);
    ck_assert_uint_eq(r.lens[0], 900);
    ck_assert_uint_eq(r.lens[1], 37);
    ck_assert_uint_eq(r.lens[2], 10);
    ck_assert(memcmp(r.rx.p, d, 900) == 0);
    ck_assert(memcmp(r.rx.p + 937, d + 100, 10) == 0);
    ep_free(&i);
    ep_free(&r);

    /* max_tsdu: exactly 1000 passes, 1001 aborts with DR congestion */
    ic.max_output = 0;
    ep_init(&i, 1, &ic);
    ep_init(&r, 0, &rc);
    ck_assert_int_eq(x400i_tp_connect(i.tp), X400_OK);
    pump(&i, &r, NULL, NULL, NULL);
    ck_assert_int_eq(x400i_tp_send(i.tp, d, 1000), X400_OK);
    pump(&i, &r, NULL, NULL, NULL);
    ck_assert_uint_eq(r.nlens, 1);
    ck_assert_uint_eq(r.lens[0], 1000);
    ck_assert_int_eq(x400i_tp_send(i.tp, d, 1001), X400_OK);
    ck_assert_int_eq(xfer(&i, &r, NULL, NULL), X400_ERR_LIMIT);
    ck_assert_uint_eq(r.nlens, 1);
    ck_assert_int_eq(r.n_disc, 1);
    ck_assert_int_eq(r.disc_reason, X400I_TP_DR_CONGESTION);
    ck_assert_int_eq(r.disc_diag.code, X400_ERR_LIMIT);
    ck_assert_ptr_nonnull(strstr(r.disc_diag.text, "max_tsdu"));
    ck_assert_int_eq(xfer(&r, &i, NULL, NULL), 0);
    ck_assert_int_eq(i.n_disc, 1);
    ck_assert_int_eq(i.disc_reason, X400I_TP_DR_CONGESTION);
    ep_free(&i);
    ep_free(&r);
}
END_TEST

/* ---- bad input --------------------------------------------------------- */

enum { SETUP_LISTEN, SETUP_OPEN, SETUP_WAIT_CC };

typedef struct bad_case {
    const char *name;
    int setup;
    uint32_t max_tpdu;           /* of the object under test; 0 default */
    const uint8_t *in;
    size_t len;
    int rv;                      /* expected input result */
    x400_layer layer;
    const char *text;            /* in the diagnostic */
    uint8_t reply;               /* 0x70 ER, 0x80 DR, 0 nothing */
    int cause;                   /* ER reject cause / DR reason */
} bad_case;

#define B(...) (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ })

static const bad_case bad_cases[] = {
    { "TPKT version", SETUP_LISTEN, 0, B(0x02, 0, 0, 7, 2, 0xf0, 0x80),
      X400_ERR_PROTOCOL, X400_LAYER_TPKT, "TPKT version 2", 0x70, 0 },
    { "TPKT reserved", SETUP_OPEN, 0, B(0x03, 1, 0, 7, 2, 0xf0, 0x80),
      X400_ERR_PROTOCOL, X400_LAYER_TPKT, "reserved octet 0x01", 0x70, 0 },
    { "TPKT too short", SETUP_LISTEN, 0, B(0x03, 0, 0, 6, 2, 0xf0),
      X400_ERR_PROTOCOL, X400_LAYER_TPKT, "TPKT length 6 too small", 0x70, 0 },
    { "TPKT length 0", SETUP_OPEN, 0, B(0x03, 0, 0, 0),
      X400_ERR_PROTOCOL, X400_LAYER_TPKT, "TPKT length 0 too small", 0x70, 0 },
    { "TPKT oversize", SETUP_OPEN, 1024, B(0x03, 0, 0x05, 0x00, 2, 0xf0, 0x80),
      X400_ERR_PROTOCOL, X400_LAYER_TPKT, "TPKT length 1280 exceeds the maximum 1028", 0x70, 0 },
    { "LI beyond data", SETUP_LISTEN, 0, B(0x03, 0, 0, 0x0b, 0x30, 0xe0, 0, 0, 0, 1, 0),
      X400_ERR_PROTOCOL, X400_LAYER_TRANSPORT, "length indicator 48 exceeds the 6 octets", 0x70, 0 },
    { "LI zero", SETUP_OPEN, 0, B(0x03, 0, 0, 7, 0, 0xf0, 0x80),
      X400_ERR_PROTOCOL, X400_LAYER_TRANSPORT, "length indicator 0 is invalid", 0x70, 0 },
    { "LI 255", SETUP_LISTEN, 0, B(0x03, 0, 0, 7, 0xff, 0xe0, 0),
      X400_ERR_PROTOCOL, X400_LAYER_TRANSPORT, "length indicator 255 is invalid", 0x70, 0 },
    { "CR LI too small", SETUP_LISTEN, 0, B(0x03, 0, 0, 8, 3, 0xe0, 0, 0),
      X400_ERR_PROTOCOL, X400_LAYER_TRANSPORT, "CR with length indicator 3; its fixed part needs 6", 0x70, 0 },
    { "DR LI too small", SETUP_OPEN, 0, B(0x03, 0, 0, 8, 3, 0x80, 0, 1),
      X400_ERR_PROTOCOL, X400_LAYER_TRANSPORT, "DR with length indicator 3", 0x70, 0 },
    { "ER LI too small", SETUP_WAIT_CC, 0, B(0x03, 0, 0, 7, 2, 0x70, 0),
      X400_ERR_PROTOCOL, X400_LAYER_TRANSPORT, "ER with length indicator 2", 0x70, 0 },
    { "DC in class 0", SETUP_OPEN, 0, B(0x03, 0, 0, 0x0b, 6, 0xc0, 0, 1, 0, 2, 0),
      X400_ERR_PROTOCOL, X400_LAYER_TRANSPORT, "TPDU code 0xc0 (DC) is not used in class 0", 0x70, 2 },
    { "AK in class 0", SETUP_OPEN, 0, B(0x03, 0, 0, 9, 4, 0x61, 0, 1, 0),
      X400_ERR_PROTOCOL, X400_LAYER_TRANSPORT, "(AK) is not used in class 0", 0x70, 2 },
    { "unknown TPDU code", SETUP_LISTEN, 0, B(0x03, 0, 0, 7, 2, 0x40, 0),
      X400_ERR_PROTOCOL, X400_LAYER_TRANSPORT, "TPDU code 0x40 (unknown)", 0x70, 2 },
    { "DT code with ROA bit", SETUP_OPEN, 0, B(0x03, 0, 0, 7, 2, 0xf1, 0x80),
      X400_ERR_PROTOCOL, X400_LAYER_TRANSPORT, "0xf1 is not a valid DT code", 0x70, 2 },
    { "parameter past the header", SETUP_LISTEN, 0,
      B(0x03, 0, 0, 0x0e, 9, 0xe0, 0, 0, 0, 1, 0, 0xc1, 0x0a, 'A'),
      X400_ERR_PROTOCOL, X400_LAYER_TRANSPORT, "CR parameter 0xc1 length 10 runs past the header", 0x70, 0 },
    { "parameter without length", SETUP_LISTEN, 0, B(0x03, 0, 0, 0x0c, 7, 0xe0, 0, 0, 0, 1, 0, 0xc1),
      X400_ERR_PROTOCOL, X400_LAYER_TRANSPORT, "parameter 0xc1 at offset 7 has no length octet", 0x70, 0 },
    { "duplicated parameter", SETUP_LISTEN, 0,
      B(0x03, 0, 0, 0x11, 12, 0xe0, 0, 0, 0, 1, 0, 0xc1, 1, 'A', 0xc1, 1, 'B'),
      X400_ERR_PROTOCOL, X400_LAYER_TRANSPORT, "CR parameter 0xc1 duplicated", 0x70, 1 },
    { "duplicated TPDU size", SETUP_LISTEN, 0,
      B(0x03, 0, 0, 0x11, 12, 0xe0, 0, 0, 0, 1, 0, 0xc0, 1, 7, 0xc0, 1, 8),
      X400_ERR_PROTOCOL, X400_LAYER_TRANSPORT, "CR parameter 0xc0 duplicated", 0x70, 1 },
    { "TPDU size 16384", SETUP_LISTEN, 0, B(0x03, 0, 0, 0x0e, 9, 0xe0, 0, 0, 0, 1, 0, 0xc0, 1, 14),
      X400_ERR_PROTOCOL, X400_LAYER_TRANSPORT, "CR TPDU size parameter invalid (length 1, value 14", 0x70, 3 },
    { "TPDU size length 2", SETUP_LISTEN, 0, B(0x03, 0, 0, 0x0f, 10, 0xe0, 0, 0, 0, 1, 0, 0xc0, 2, 0, 7),
      X400_ERR_PROTOCOL, X400_LAYER_TRANSPORT, "TPDU size parameter invalid (length 2", 0x70, 3 },
    { "preferred size length 5", SETUP_LISTEN, 0,
      B(0x03, 0, 0, 0x12, 13, 0xe0, 0, 0, 0, 1, 0, 0xf0, 5, 0, 0, 0, 0, 1),
      X400_ERR_PROTOCOL, X400_LAYER_TRANSPORT, "preferred maximum TPDU size invalid (length 5", 0x70, 3 },
    { "preferred size 0", SETUP_LISTEN, 0, B(0x03, 0, 0, 0x0e, 9, 0xe0, 0, 0, 0, 1, 0, 0xf0, 1, 0),
      X400_ERR_PROTOCOL, X400_LAYER_TRANSPORT, "preferred maximum TPDU size invalid (length 1, value 0)", 0x70, 3 },
    { "class 7", SETUP_LISTEN, 0, B(0x03, 0, 0, 0x0b, 6, 0xe0, 0, 0, 0, 1, 0x70),
      X400_ERR_PROTOCOL, X400_LAYER_TRANSPORT, "CR proposes protocol class 7", 0x70, 3 },
    { "DT before CR", SETUP_LISTEN, 0, B(0x03, 0, 0, 7, 2, 0xf0, 0x80),
      X400_ERR_PROTOCOL, X400_LAYER_TRANSPORT, "DT not allowed in state listen (responder)", 0x70, 0 },
    { "CC to a responder", SETUP_LISTEN, 0, B(0x03, 0, 0, 0x0b, 6, 0xd0, 0, 1, 0, 2, 0),
      X400_ERR_PROTOCOL, X400_LAYER_TRANSPORT, "CC not allowed in state listen (responder)", 0x70, 0 },
    { "DR before CR", SETUP_LISTEN, 0, B(0x03, 0, 0, 0x0b, 6, 0x80, 0, 1, 0, 2, 0),
      X400_ERR_PROTOCOL, X400_LAYER_TRANSPORT, "DR not allowed in state listen", 0x70, 0 },
    { "second CR", SETUP_OPEN, 0, B(0x03, 0, 0, 0x0b, 6, 0xe0, 0, 0, 0, 1, 0),
      X400_ERR_PROTOCOL, X400_LAYER_TRANSPORT, "CR not allowed in state open (responder)", 0x70, 0 },
    { "CC when open", SETUP_OPEN, 0, B(0x03, 0, 0, 0x0b, 6, 0xd0, 0, 1, 0, 2, 0),
      X400_ERR_PROTOCOL, X400_LAYER_TRANSPORT, "CC not allowed in state open", 0x70, 0 },
    { "DT with LI 3", SETUP_OPEN, 0, B(0x03, 0, 0, 8, 3, 0xf0, 0x80, 0),
      X400_ERR_PROTOCOL, X400_LAYER_TRANSPORT, "DT with LI 3; class 0 DT has LI 2", 0x70, 0 },
    { "DT before CC", SETUP_WAIT_CC, 0, B(0x03, 0, 0, 8, 2, 0xf0, 0x80, 'x'),
      X400_ERR_PROTOCOL, X400_LAYER_TRANSPORT, "DT not allowed in state wait-CC (initiator)", 0x70, 0 },
    { "CR to an initiator", SETUP_WAIT_CC, 0, B(0x03, 0, 0, 0x0b, 6, 0xe0, 0, 0, 0, 1, 0),
      X400_ERR_PROTOCOL, X400_LAYER_TRANSPORT, "CR not allowed in state wait-CC (initiator)", 0x70, 0 },
    { "CC raises the size", SETUP_WAIT_CC, 1024, B(0x03, 0, 0, 0x0e, 9, 0xd0, 0, 1, 0, 2, 0, 0xc0, 1, 11),
      X400_ERR_PROTOCOL, X400_LAYER_TRANSPORT, "CC raises the TPDU size to 2048; the CR proposed 1024", 0x70, 3 },
    { "CC class 2", SETUP_WAIT_CC, 0, B(0x03, 0, 0, 0x0b, 6, 0xd0, 0, 1, 0, 2, 0x20),
      X400_ERR_PROTOCOL, X400_LAYER_TRANSPORT, "CC selects class 2", 0x70, 3 },
    { "DR parameter past the header", SETUP_OPEN, 0, B(0x03, 0, 0, 0x0d, 8, 0x80, 0, 1, 0, 2, 0, 0xe0, 5),
      X400_ERR_PROTOCOL, X400_LAYER_TRANSPORT, "DR parameter 0xe0 length 5 runs past", 0x70, 0 },
};

/* An object in the state the case needs (output drained). */
static void setup_case(ep *e, const bad_case *bc)
{
    x400i_tp_config c;
    memset(&c, 0, sizeof c);
    c.max_tpdu_size = bc->max_tpdu;
    ep_init(e, bc->setup == SETUP_WAIT_CC, &c);
    if (bc->setup == SETUP_OPEN)
        ck_assert_int_eq(x400i_tp_input(e->tp, real_cr, sizeof real_cr), (int)sizeof real_cr);
    if (bc->setup == SETUP_WAIT_CC) ck_assert_int_eq(x400i_tp_connect(e->tp), X400_OK);
    x400i_tp_sent(e->tp, x400i_tp_pending(e->tp, NULL));
}

/* The reaction queued: a TPKT with an ER (cause, invalid TPDU parameter
 * holding a prefix of the bad TPDU) or a DR (reason). */
static void check_reply(const ep *e, const bad_case *bc)
{
    const uint8_t *p;
    size_t n = x400i_tp_pending(e->tp, &p);
    if (!bc->reply) { ck_assert_uint_eq(n, 0); return; }
    ck_assert_uint_ge(n, 9);
    ck_assert_uint_eq(p[0], 3);
    ck_assert_uint_eq((size_t)p[2] << 8 | p[3], n);
    ck_assert_uint_eq(p[4] + 5u, n);
    ck_assert_uint_eq(p[5], bc->reply);
    if (bc->reply == 0x70) {
        ck_assert_uint_eq(p[8], (unsigned)bc->cause);
        if (bc->layer == X400_LAYER_TRANSPORT) {
            /* invalid TPDU parameter: a prefix of the rejected TPDU */
            ck_assert_uint_ge(n, 11);
            ck_assert_uint_eq(p[9], 0xc1);
            ck_assert_uint_eq(p[10] + 11u, n);
            ck_assert_uint_ge(p[10], 1);
            ck_assert(memcmp(p + 11, bc->in + 4, p[10]) == 0);
        }
    } else {
        ck_assert_uint_eq(p[10], (unsigned)bc->cause);
    }
}

static void check_bad_end(ep *e, const bad_case *bc)
{
    ck_assert_msg(e->n_disc == 1, "%s: %d disconnect_ind", bc->name, e->n_disc);
    ck_assert_int_eq(e->disc_reason, bc->reply == 0x80 ? bc->cause : X400I_TP_DR_PROTOCOL_ERROR);
    ck_assert_int_eq(e->disc_diag.layer, bc->layer);
    ck_assert_int_eq(e->disc_diag.source, X400_SOURCE_PEER);
    ck_assert_int_eq(e->disc_diag.code, bc->rv);
    ck_assert_msg(strstr(e->disc_diag.text, bc->text) != NULL, "%s: diag \"%s\" lacks \"%s\"",
                  bc->name, e->disc_diag.text, bc->text);
    ck_assert(!x400i_tp_is_open(e->tp));
    ck_assert_str_eq(x400i_tp_state_name(e->tp), "closed");
    check_reply(e, bc);
    /* the object is finished: input refused, T-DATA refused */
    ck_assert_int_eq(x400i_tp_input(e->tp, bc->in, bc->len), X400_ERR_CLOSED);
    ck_assert_int_eq(x400i_tp_send(e->tp, bc->in, 1), X400_ERR_CLOSED);
    x400i_tp_transport_closed(e->tp);
    ck_assert_int_eq(e->n_disc, 1);
}

static void run_bad_case(const bad_case *bc)
{
    ep e;
    uint8_t *copy;
    /* whole, from an exactly sized heap copy (ASan sees any overread) */
    copy = malloc(bc->len);
    memcpy(copy, bc->in, bc->len);
    setup_case(&e, bc);
    {
        int rv = x400i_tp_input(e.tp, copy, bc->len);
        ck_assert_msg(rv == bc->rv, "%s: rv %d (%s)", bc->name, rv, x400i_tp_diag(e.tp)->text);
    }
    check_bad_end(&e, bc);
    ep_free(&e);
    /* split at every offset: the error comes from whichever part completes it */
    for (size_t k = 0; k <= bc->len; k++) {
        int r1, r2;
        uint8_t *a = malloc(k ? k : 1), *b = malloc(bc->len - k ? bc->len - k : 1);
        memcpy(a, bc->in, k);
        memcpy(b, bc->in + k, bc->len - k);
        setup_case(&e, bc);
        r1 = x400i_tp_input(e.tp, a, k);
        r2 = x400i_tp_input(e.tp, b, bc->len - k);
        if (r1 == bc->rv) ck_assert_int_eq(r2, X400_ERR_CLOSED);
        else {
            ck_assert_msg(r1 == (int)k, "%s split %zu: r1 %d", bc->name, k, r1);
            ck_assert_msg(r2 == bc->rv, "%s split %zu: r2 %d", bc->name, k, r2);
        }
        check_bad_end(&e, bc);
        ep_free(&e);
        free(a);
        free(b);
    }
    free(copy);
}

/* One test over the whole table (a forked test per case costs more than
 * the cases themselves); failures name the case. */
START_TEST(bad_input)
{
    for (size_t k = 0; k < X400I_ARRAY_LEN(bad_cases); k++) run_bad_case(&bad_cases[k]);
}
END_TEST

START_TEST(bad_input_built)
{
    ep e;
    uint8_t buf[300];
    bad_case bc;
    /* a calling TSAP selector of 33 octets */
    memset(buf, 'T', sizeof buf);
    memcpy(buf, (const uint8_t[]){ 0x03, 0, 0, 4 + 7 + 35, 6 + 35, 0xe0, 0, 0, 0, 1, 0, 0xc1, 33 }, 13);
    bc = (bad_case){ "long TSAP", SETUP_LISTEN, 0, buf, 46, X400_ERR_PROTOCOL, X400_LAYER_TRANSPORT,
                     "CR calling TSAP selector of 33 octets", 0x70, 3 };
    setup_case(&e, &bc);
    ck_assert_int_eq(x400i_tp_input(e.tp, buf, bc.len), X400_ERR_PROTOCOL);
    check_bad_end(&e, &bc);
    ep_free(&e);
    /* a DT larger than our maximum TPDU size (128), inside the TPKT bound */
    memset(buf, 'D', sizeof buf);
    memcpy(buf, (const uint8_t[]){ 0x03, 0, 0, 204, 2, 0xf0, 0x80 }, 7);
    bc = (bad_case){ "DT over max", SETUP_OPEN, 128, buf, 204, X400_ERR_PROTOCOL, X400_LAYER_TRANSPORT,
                     "DT TPDU of 200 octets exceeds our maximum TPDU size 128", 0x70, 0 };
    setup_case(&e, &bc);
    ck_assert_int_eq(x400i_tp_input(e.tp, buf, bc.len), X400_ERR_PROTOCOL);
    check_bad_end(&e, &bc);
    ep_free(&e);
    /* the same object accepts a CR of 255 octets even with max 128 */
    memset(buf, 0, sizeof buf);
    memcpy(buf, (const uint8_t[]){ 0x03, 0, 0x01, 0x03, 254, 0xe0, 0, 0, 0, 1, 0, 0x99, 246 }, 13);
    bc.max_tpdu = 128;
    bc.setup = SETUP_LISTEN;
    setup_case(&e, &bc);
    ck_assert_int_eq(x400i_tp_input(e.tp, buf, 259), 259);
    ck_assert_int_eq(e.n_conn_ind, 1);
    ck_assert_uint_eq(e.ci.tpdu_size, 128);
    ep_free(&e);
}
END_TEST

START_TEST(er_received_ends_connection)
{
    /* the ER a responder sends for a bad CR, fed to an initiator */
    ep r, i;
    const uint8_t *p;
    size_t n;
    static const uint8_t cr[] = { 0x03, 0, 0, 0x0e, 9, 0xe0, 0, 0, 0, 1, 0, 0xc0, 1, 14 };
    ep_init(&r, 0, NULL);
    ep_init(&i, 1, NULL);
    ck_assert_int_eq(x400i_tp_connect(i.tp), X400_OK);
    x400i_tp_sent(i.tp, x400i_tp_pending(i.tp, NULL));
    ck_assert_int_eq(x400i_tp_input(r.tp, cr, sizeof cr), X400_ERR_PROTOCOL);
    n = x400i_tp_pending(r.tp, &p);
    ck_assert_int_eq(x400i_tp_input(i.tp, p, n), (int)n);
    ck_assert_int_eq(i.n_disc, 1);
    ck_assert_int_eq(i.disc_reason, X400I_TP_DR_PROTOCOL_ERROR);
    ck_assert_int_eq(i.disc_diag.source, X400_SOURCE_PEER);
    ck_assert_int_eq(i.disc_diag.code, X400_ERR_PROTOCOL);
    ck_assert_msg(strstr(i.disc_diag.text, "reject cause 3 (invalid parameter value), invalid TPDU: 09 e0 00 00 00 01 00 c0 01 0e") != NULL,
                  "%s", i.disc_diag.text);
    ck_assert_uint_eq(x400i_tp_pending(i.tp, NULL), 0); /* no answer to an ER */
    ep_free(&r);
    ep_free(&i);
}
END_TEST

/* ---- allocation failures ------------------------------------------------ */

START_TEST(allocation_failures)
{
    uint8_t d[3000];
    fill(d, sizeof d, 5);
    for (size_t fail = 1;; fail++) {
        x400t_counting c = { .fail_at = fail };
        x400_allocator a = X400T_COUNTING_ALLOCATOR(&c);
        x400i_tp_config ic;
        ep i, r;
        x400i_tp_callbacks cb;
        int ok = 1, rv;
        memset(&ic, 0, sizeof ic);
        ic.omit_tpdu_size = 1;
        memset(&i, 0, sizeof i);
        memset(&r, 0, sizeof r);
        i.initiator = 1;
        cb = (x400i_tp_callbacks){ &i, cb_connect_ind, cb_connect_conf, cb_data_ind, cb_disconnect_ind };
        rv = x400i_tp_new(&i.tp, 1, &ic, &cb, &a, NULL);
        if (rv < 0) { ck_assert_int_eq(rv, X400_ERR_NOMEM); continue; }
        cb.user = &r;
        rv = x400i_tp_new(&r.tp, 0, NULL, &cb, &a, NULL);
        if (rv < 0) { ck_assert_int_eq(rv, X400_ERR_NOMEM); x400i_tp_free(i.tp); ck_assert_uint_eq(c.live, 0); continue; }
        rv = x400i_tp_connect(i.tp);
        if (rv < 0) { ck_assert_int_eq(rv, X400_ERR_NOMEM); ok = 0; }
        for (int round = 0; ok && round < 4; round++) {
            rv = xfer(&i, &r, NULL, NULL);
            if (rv < 0) { ck_assert_int_eq(rv, X400_ERR_NOMEM); ok = 0; break; }
            rv = xfer(&r, &i, NULL, NULL);
            if (rv < 0) { ck_assert_int_eq(rv, X400_ERR_NOMEM); ok = 0; break; }
            if (round == 1) {
                rv = x400i_tp_send(i.tp, d, sizeof d);
                if (rv < 0) { ck_assert_int_eq(rv, X400_ERR_NOMEM); ok = 0; }
            }
        }
        if (!ok) {
            /* an input-side failure was reported once, with a local diagnostic */
            ck_assert_int_le(i.n_disc + r.n_disc, 2);
        }
        x400i_tp_free(i.tp);
        x400i_tp_free(r.tp);
        bytes_free(&i.rx); free(i.lens);
        bytes_free(&r.rx); free(r.lens);
        ck_assert_uint_eq(c.live, 0);
        if (ok) {
            ck_assert_uint_eq(r.nlens, 1);
            ck_assert_uint_lt(c.calls, fail);
            break;
        }
        ck_assert_uint_lt(fail, 1000);
    }
}
END_TEST

/* ---- logging and names -------------------------------------------------- */

struct logrec { int trace_cr, debug_state, n; };
static void logfn(void *u, x400_log_level lv, x400_layer layer, const char *m)
{
    struct logrec *r = u;
    r->n++;
    if (lv == X400_LOG_TRACE && strstr(m, "CR out (") && strstr(m, "03 00 00")) r->trace_cr++;
    if (lv == X400_LOG_DEBUG && layer == X400_LAYER_TRANSPORT && strstr(m, "state idle -> wait-CC"))
        r->debug_state++;
}

START_TEST(logging_and_names)
{
    struct logrec lr = { 0, 0, 0 };
    x400_logger lg = { logfn, &lr, X400_LOG_TRACE };
    x400i_tp *tp;
    ck_assert_int_eq(x400i_tp_new(&tp, 1, NULL, NULL, NULL, &lg), X400_OK);
    ck_assert_int_eq(x400i_tp_connect(tp), X400_OK);
    ck_assert_int_eq(lr.trace_cr, 1);
    ck_assert_int_eq(lr.debug_state, 1);
    x400i_tp_free(tp);
    lg.max_level = X400_LOG_INFO;
    lr.n = 0;
    ck_assert_int_eq(x400i_tp_new(&tp, 1, NULL, NULL, NULL, &lg), X400_OK);
    ck_assert_int_eq(x400i_tp_connect(tp), X400_OK);
    ck_assert_int_eq(lr.n, 0);
    x400i_tp_free(tp);
    ck_assert_str_eq(x400i_tp_dr_reason_name(128), "normal disconnect initiated by session entity");
    ck_assert_str_eq(x400i_tp_dr_reason_name(2), "session entity not attached to TSAP");
    ck_assert_str_eq(x400i_tp_dr_reason_name(130), "connection negotiation failed");
    ck_assert_str_eq(x400i_tp_dr_reason_name(77), "unknown reason");
    ck_assert_str_eq(x400i_tp_er_cause_name(2), "invalid TPDU type");
    ck_assert_str_eq(x400i_tp_er_cause_name(9), "unknown cause");
}
END_TEST

Suite *x400t_suite_transport(void)
{
    Suite *s = suite_create("transport");
    TCase *tc = tcase_create("exchange");
    TCase *tb = tcase_create("bad-input");
    tcase_set_timeout(tc, X400T_TSAN ? 240 : 120);
    tcase_add_test(tc, default_sizes_negotiate_preferred_maximum);
    tcase_add_test(tc, no_tpdu_size_segments_to_128);
    tcase_add_test(tc, responder_lowers_size);
    tcase_add_test(tc, initiator_2048_power_of_two);
    tcase_add_test(tc, real_mta_cr_accepted);
    tcase_add_test(tc, unknown_cr_parameters_ignored);
    tcase_add_test(tc, class_negotiation);
    tcase_add_test(tc, refusal_with_dr);
    tcase_add_test(tc, disconnect_inside_callbacks);
    tcase_add_test(tc, tcp_close_and_local_state_errors);
    tcase_add_test(tc, output_and_tsdu_bounds);
    tcase_add_test(tc, allocation_failures);
    tcase_add_test(tc, logging_and_names);
    suite_add_tcase(s, tc);
    tcase_set_timeout(tb, 60);
    tcase_add_test(tb, bad_input);
    tcase_add_test(tb, bad_input_built);
    tcase_add_test(tb, er_received_ends_connection);
    suite_add_tcase(s, tb);
    /* 1 MiB each way, checked TPDU by TPDU (minutes under ASan): make check-long */
    tb = tcase_create("exchange_long");
    tcase_set_tags(tb, X400T_LONG_TAG);
    tcase_set_timeout(tb, X400T_TSAN ? 600 : 300);
    tcase_add_loop_test(tb, one_mebibyte, 0, 2);
    suite_add_tcase(s, tb);
    return s;
}
