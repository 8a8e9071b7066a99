/* X.228 RTSE: two RTPMs over real X.225 session machines (test/
 * support_rtse_lower.c).  Transfers in both modes and dialogue modes,
 * negotiation, turn management, close and aborts; the connection cut at
 * many offsets of a 1 MiB transfer and recovered (content identical,
 * bounded resending, nothing delivered twice); the recovery timeout; a
 * receiver restarted from its persisted record; a peer that never
 * confirms; bad input with its diagnostics; tshark on a normal-mode
 * transfer down to rtse and p1. */
#include <string.h>

#include <asn_application.h>
#include <der_encoder.h>

#include <RTSE-apdus.h>

#include "rtse.h"
#include "rtse_int.h"
#include "support_rtse_lower.h"
#include "wire.h"
#include "data.h"
#include "x400t.h"

static uint64_t fnv(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static size_t lenlen(size_t n) { return n < 128 ? 1 : n < 256 ? 2 : n < 65536 ? 3 : n < (1u << 24) ? 4 : 5; }
/* Octets of the EXTERNAL header RTSE puts in front of an n-octet APDU. */
static size_t apdv_hdr(size_t n) { return 1 + lenlen(3 + 1 + lenlen(n) + n) + 3 + 1 + lenlen(n); }

static x400_rtse_config cfg_of(uint32_t cp, uint32_t win, int twa, int x410)
{
    x400_rtse_config c;
    x400_rtse_config_default(&c);
    c.checkpoint_size_kib = cp;
    c.window_size = win;
    c.two_way_alternate = twa;
    c.x410_mode = x410;
    return c;
}

static void ck_diag(const char *got, const char *want)
{
    ck_assert_msg(strstr(got, want) != NULL, "diag \"%s\" lacks \"%s\"", got, want);
}

/* from -> to: one transfer, checked at both ends. */
static void transfer_ok(x400t_rl *h, x400t_rl_end *from, x400t_rl_end *to, size_t n, uint32_t seed)
{
    uint8_t *d = x400t_pattern(n, seed);
    int before_ind = to->nind[X400I_RTSE_TRANSFER_IND], before_conf = from->nind[X400I_RTSE_TRANSFER_CONF];
    ck_assert_int_eq(x400i_rtse_transfer_req(from->rt, d, n, X400_RTSE_PRIO_NORMAL, 77 + n), 0);
    x400t_rl_pump(h);
    ck_assert_int_eq(from->nind[X400I_RTSE_TRANSFER_CONF], before_conf + 1);
    ck_assert_int_eq(from->last_result, X400_OK);
    ck_assert_uint_eq(from->last_tid, 77 + n);
    ck_assert_int_eq(to->nind[X400I_RTSE_TRANSFER_IND], before_ind + 1);
    ck_assert_uint_eq(to->in.done_len, n);
    ck_assert(n == 0 || memcmp(to->in.done, d, n) == 0);
    ck_assert_int_eq(to->in.gaps, 0);
    ck_assert_int_eq(x400i_rtse_state(from->rt), X400I_RTSE_ST_OPEN);
    ck_assert_int_eq(x400i_rtse_state(to->rt), X400I_RTSE_ST_OPEN);
    free(d);
}

/* ---- transfers ----------------------------------------------------------- */

static void sizes_case(int x410, int twa)
{
    x400_rtse_config c = cfg_of(30, 5, twa, x410);
    x400t_rl h;
    size_t hdr = x410 ? 0 : 11; /* EXTERNAL header in front of a 30 KiB APDU */
    const size_t sizes[] = { 0, 1, 30 * 1024 - hdr, 30 * 1024 - hdr + 1, 30 * 1024, 200000 };
    x400t_rl_init(&h, &c, &c);
    x400t_rl_open(&h);
    ck_assert_int_eq(x400i_rtse_twa(h.b.rt), twa);
    ck_assert_int_eq(x400i_rtse_has_turn(h.a.rt), 1);
    ck_assert_int_eq(x400i_rtse_has_turn(h.b.rt), 0);
    ck_assert_mem_eq(h.b.open_ud, "\x04\x04" "bind", 6);
    ck_assert_mem_eq(h.a.open_ud, "\x04\x03" "acc", 5);
    for (size_t i = 0; i < X400I_ARRAY_LEN(sizes); i++) transfer_ok(&h, &h.a, &h.b, sizes[i], (uint32_t)i + 1);
    /* the receiver was told to keep a record while the last one was
     * unconfirmed; it is a valid record */
    ck_assert_uint_gt(h.b.record_len, 0);
    ck_assert_int_eq(x400_rtse_record_info_get(h.b.record, h.b.record_len, NULL), 0);
    if (twa) {
        /* the other direction after RT-TURN-PLEASE / RT-TURN-GIVE */
        ck_assert_int_eq(x400i_rtse_turn_please_req(h.b.rt, 2), 0);
        x400t_rl_pump(&h);
        ck_assert_int_eq(h.a.nind[X400I_RTSE_TURN_PLEASE_IND], 1);
        ck_assert_int_eq(h.a.last_priority, 2);
        ck_assert_int_eq(x400i_rtse_turn_give_req(h.a.rt), 0);
        x400t_rl_pump(&h);
        ck_assert_int_eq(h.b.nind[X400I_RTSE_TURN_GIVE_IND], 1);
        ck_assert_int_eq(x400i_rtse_has_turn(h.b.rt), 1);
        for (size_t i = 0; i < X400I_ARRAY_LEN(sizes); i++) transfer_ok(&h, &h.b, &h.a, sizes[i], (uint32_t)i + 9);
        ck_assert_int_eq(x400i_rtse_turn_give_req(h.b.rt), 0);
        x400t_rl_pump(&h);
    } else {
        ck_assert_int_eq(x400i_rtse_turn_please_req(h.b.rt, 1), X400_ERR_STATE);
        ck_diag(x400i_rtse_diag(h.b.rt)->text, "monologue");
        ck_assert_int_eq(x400i_rtse_transfer_req(h.b.rt, (const uint8_t *)"x", 1, X400_RTSE_PRIO_NORMAL, 1),
                         X400_ERR_STATE);
        ck_diag(x400i_rtse_diag(h.b.rt)->text, "turn is not held");
    }
    /* RT-CLOSE by the initiator */
    ck_assert_int_eq(x400i_rtse_close_req(h.a.rt), 0);
    x400t_rl_pump(&h);
    ck_assert_int_eq(h.b.nind[X400I_RTSE_CLOSE_IND], 1);
    ck_assert_int_eq(h.a.nind[X400I_RTSE_CLOSE_CONF], 1);
    ck_assert_int_eq(x400i_rtse_state(h.a.rt), X400I_RTSE_ST_CLOSED);
    ck_assert_int_eq(x400i_rtse_state(h.b.rt), X400I_RTSE_ST_CLOSED);
    ck_assert_uint_eq(h.b.record_len, 0); /* erased at the close */
    x400t_rl_free(&h);
}

START_TEST(transfers_normal_twa) { sizes_case(0, 1); }
END_TEST
START_TEST(transfers_normal_monologue) { sizes_case(0, 0); }
END_TEST
START_TEST(transfers_x410_twa) { sizes_case(1, 1); }
END_TEST
START_TEST(transfers_x410_monologue) { sizes_case(1, 0); }
END_TEST

START_TEST(transfer_10mib)
{
    x400t_rl h;
    x400t_rl_init(&h, NULL, NULL);
    x400t_rl_open(&h);
    transfer_ok(&h, &h.a, &h.b, 10u << 20, 42);
    ck_assert_uint_eq(x400i_rtse_bytes_sent(h.a.rt), (10u << 20) + apdv_hdr(10u << 20)); /* + EXTERNAL header */
    x400t_rl_free(&h);
}
END_TEST

START_TEST(no_checkpointing)
{
    x400_rtse_config c = cfg_of(0, 5, 1, 0);
    x400t_rl h;
    x400t_rl_init(&h, &c, NULL);
    x400t_rl_open(&h);
    ck_assert_uint_eq(x400i_rtse_checkpoint_kib(h.b.rt), 0);
    ck_assert_uint_eq(x400i_rtse_checkpoint_kib(h.a.rt), 0);
    transfer_ok(&h, &h.a, &h.b, 300000, 5);
    ck_assert_uint_eq(h.b.record_len, 0); /* nothing to recover without checkpoints */
    /* a connection lost mid-transfer cannot be recovered: both abort */
    {
        uint8_t *d = x400t_pattern(300000, 6);
        x400t_pair_cut_after(&h.io, 100000);
        ck_assert_int_eq(x400i_rtse_transfer_req(h.a.rt, d, 300000, X400_RTSE_PRIO_NORMAL, 1), 0);
        x400t_rl_pump(&h);
        ck_assert_int_eq(h.a.last_result, X400_ERR_ABORTED);
        ck_assert_int_eq(h.a.nind[X400I_RTSE_P_ABORT_IND], 1);
        ck_assert_int_eq(h.b.nind[X400I_RTSE_TRANSFER_ABANDON], 1);
        ck_assert_int_eq(x400i_rtse_state(h.b.rt), X400I_RTSE_ST_CLOSED);
        free(d);
    }
    x400t_rl_free(&h);
}
END_TEST

START_TEST(negotiation)
{
    x400_rtse_config ca = cfg_of(63, 5, 1, 0), cb = cfg_of(1, 3, 1, 0);
    x400t_rl h;
    x400t_rl_init(&h, &ca, &cb);
    x400t_rl_open(&h);
    ck_assert_uint_eq(x400i_rtse_checkpoint_kib(h.a.rt), 1);
    ck_assert_uint_eq(x400i_rtse_window(h.a.rt), 3);
    ck_assert_uint_eq(x400i_rtse_checkpoint_kib(h.b.rt), 1);
    ck_assert_uint_eq(x400i_rtse_window(h.b.rt), 3);
    transfer_ok(&h, &h.a, &h.b, 10000, 3);
    x400t_rl_free(&h);
    /* initial turn at the responder (two-way alternate) */
    ca.initial_turn_local = 0;
    x400t_rl_init(&h, &ca, &cb);
    x400t_rl_open(&h);
    ck_assert_int_eq(x400i_rtse_has_turn(h.a.rt), 0);
    ck_assert_int_eq(x400i_rtse_has_turn(h.b.rt), 1);
    transfer_ok(&h, &h.b, &h.a, 5000, 4);
    /* the responder may not close */
    ck_assert_int_eq(x400i_rtse_close_req(h.b.rt), X400_ERR_STATE);
    ck_diag(x400i_rtse_diag(h.b.rt)->text, "only the association-initiator");
    x400t_rl_free(&h);
    /* refusal: RTORJ validationFailure with user data */
    x400t_rl_init(&h, NULL, NULL);
    h.b.refuse_open = 2 + 1;
    ck_assert_int_eq(x400i_rtse_open_req(h.a.rt, NULL, 0), 0);
    x400t_rl_pump(&h);
    ck_assert_int_eq(h.a.nind[X400I_RTSE_OPEN_CONF], 1);
    ck_assert_int_eq(h.a.last_reason, 2);
    ck_assert_mem_eq(h.a.open_ud, "\x04\x02no", 4);
    ck_diag(h.a.last_diag, "validationFailure");
    ck_assert_int_eq(x400i_rtse_state(h.a.rt), X400I_RTSE_ST_CLOSED);
    ck_assert_int_eq(x400i_rtse_state(h.b.rt), X400I_RTSE_ST_CLOSED);
    x400t_rl_free(&h);
}
END_TEST

START_TEST(user_abort)
{
    x400t_rl h;
    uint8_t *d = x400t_pattern(1u << 20, 9);
    x400t_rl_init(&h, NULL, NULL);
    x400t_rl_open(&h);
    /* the window holds back all but 5 checkpoints: the APDU is incomplete */
    ck_assert_int_eq(x400i_rtse_transfer_req(h.a.rt, d, 1u << 20, X400_RTSE_PRIO_URGENT, 5), 0);
    ck_assert_int_eq(x400i_rtse_u_abort_req(h.a.rt, (const uint8_t *)"\x04\x01z", 3), 0);
    ck_assert_int_eq(h.a.last_result, X400_ERR_ABORTED);
    x400t_rl_pump(&h);
    ck_assert_int_eq(h.b.nind[X400I_RTSE_U_ABORT_IND], 1);
    ck_assert_int_eq(h.b.last_reason, 6);
    ck_assert_int_eq(h.b.nind[X400I_RTSE_TRANSFER_ABANDON], 1);
    ck_assert_int_eq(h.b.nind[X400I_RTSE_TRANSFER_IND], 0);
    ck_assert_uint_eq(h.b.record_len, 0);
    ck_assert_int_eq(x400i_rtse_state(h.b.rt), X400I_RTSE_ST_CLOSED);
    ck_assert_int_eq(x400i_rtse_transfer_req(h.a.rt, d, 1, X400_RTSE_PRIO_NORMAL, 1), X400_ERR_STATE);
    ck_diag(x400i_rtse_diag(h.a.rt)->text, "no longer exists");
    free(d);
    x400t_rl_free(&h);
}
END_TEST


/* ---- recovery ------------------------------------------------------------- */

/* One 1 MiB transfer a -> b with the connection cut when the TSDU that
 * crosses octet `cut_at` of a's output (counted from the transfer's start)
 * is sent.  restart: the receiver's process "restarts" after the cut and
 * is restored from its persisted record.  Returns the APDV octets sent
 * again; everything else is asserted. */
static uint64_t cut_run(const x400_rtse_config *c, const uint8_t *d, size_t n, uint64_t cut_at, int restart)
{
    x400t_rl h;
    uint64_t resent;
    x400t_rl_init(&h, c, c);
    x400t_rl_open(&h);
    x400t_pair_cut_after(&h.io, cut_at);
    h.net_down = restart;
    ck_assert_int_eq(x400i_rtse_transfer_req(h.a.rt, d, n, X400_RTSE_PRIO_NORMAL, 1), 0);
    x400t_rl_pump(&h);
    ck_assert_int_eq(h.io.cuts, 1);
    if (restart) {
        uint8_t rec[X400_RTSE_RECORD_MAX];
        size_t rn = h.b.record_len;
        ck_assert_int_eq(x400i_rtse_state(h.a.rt), X400I_RTSE_ST_RECOVERING);
        ck_assert_uint_gt(rn, 0);
        memcpy(rec, h.b.record, rn);
        x400t_rl_new_responder(&h);          /* the delivered octets stay with the "MTA" */
        ck_assert_int_eq(x400i_rtse_restore(h.b.rt, rec, rn), 0);
        ck_assert_ptr_nonnull(x400i_rtse_waiting_ref(h.b.rt));
        h.net_down = 0;
        x400t_rl_advance(&h, 2000);          /* the initiator's next attempt */
        x400t_rl_pump(&h);
    }
    ck_assert_msg(h.a.nind[X400I_RTSE_TRANSFER_CONF] == 1 && h.a.last_result == X400_OK,
                  "cut at %llu: transfer not confirmed (%d confirms, result %d, a: %s, b: %s)",
                  (unsigned long long)cut_at, h.a.nind[X400I_RTSE_TRANSFER_CONF], h.a.last_result,
                  x400i_rtse_diag(h.a.rt)->text, x400i_rtse_diag(h.b.rt)->text);
    ck_assert_int_eq(h.a.nind[X400I_RTSE_RECOVERED_IND], 1);
    ck_assert_int_eq(h.b.nind[X400I_RTSE_TRANSFER_IND], 1);
    ck_assert_int_eq(h.b.in.gaps, 0);
    ck_assert_uint_eq(h.b.in.done_len, n);
    ck_assert_uint_eq(fnv(h.b.in.done, n), fnv(d, n));
    ck_assert(memcmp(h.b.in.done, d, n) == 0);
    ck_assert_int_eq(x400i_rtse_state(h.a.rt), X400I_RTSE_ST_OPEN);
    ck_assert_int_eq(x400i_rtse_state(h.b.rt), X400I_RTSE_ST_OPEN);
    resent = x400i_rtse_bytes_sent(h.a.rt) - (n + (c->x410_mode ? 0 : apdv_hdr(n)));
    ck_assert_msg(resent <= (uint64_t)c->window_size * c->checkpoint_size_kib * 1024u,
                  "cut at %llu: %llu octets resent", (unsigned long long)cut_at, (unsigned long long)resent);
    /* the association goes on: a second transfer on the recovered connection */
    transfer_ok(&h, &h.a, &h.b, 3000, 99);
    x400t_rl_free(&h);
    return resent;
}

/* The receiving user defers its confirmation (X400I_RTSE_DEFER, e.g. the
 * APDU is not yet on stable storage) and the connection is lost before it
 * confirms.  The sender recovers and ends the resumed activity: that end
 * must not be confirmed on the user's behalf, only when the user accepts;
 * nor may a completed record be persisted before then. */
START_TEST(deferred_end_survives_recovery)
{
    x400_rtse_config c = cfg_of(4, 3, 1, 0);
    x400_rtse_record_info ri;
    x400t_rl h;
    const size_t n = 10000;
    uint8_t *d = x400t_pattern(n, 5);
    x400t_rl_init(&h, &c, &c);
    x400t_rl_open(&h);
    h.b.defer = 1;
    ck_assert_int_eq(x400i_rtse_transfer_req(h.a.rt, d, n, X400_RTSE_PRIO_NORMAL, 42), 0);
    x400t_rl_pump(&h);
    ck_assert_int_eq(h.b.nind[X400I_RTSE_TRANSFER_IND], 1);
    ck_assert_int_eq(h.a.nind[X400I_RTSE_TRANSFER_CONF], 0);
    ck_assert_int_eq(x400i_rtse_transfer_deferred(h.b.rt), 1);
    ck_assert_int_eq(x400_rtse_record_info_get(h.b.record, h.b.record_len, &ri), 0);
    ck_assert_int_ne(ri.state, X400_RTSE_RECORD_COMPLETED);
    x400t_rl_cut(&h);
    x400t_rl_advance(&h, 2000);
    x400t_rl_pump(&h);
    ck_assert_int_eq(h.a.nind[X400I_RTSE_RECOVERED_IND], 1);
    ck_assert_int_eq(h.b.nind[X400I_RTSE_TRANSFER_IND], 1);   /* not delivered twice */
    ck_assert_msg(h.a.nind[X400I_RTSE_TRANSFER_CONF] == 0,
                  "the resumed transfer was confirmed before the receiving user confirmed it");
    ck_assert_int_eq(x400i_rtse_transfer_deferred(h.b.rt), 1);
    ck_assert_int_eq(x400_rtse_record_info_get(h.b.record, h.b.record_len, &ri), 0);
    ck_assert_int_ne(ri.state, X400_RTSE_RECORD_COMPLETED);
    /* the user confirms: now, and only now, the sender learns it */
    h.b.defer = 0;
    ck_assert_int_eq(x400i_rtse_transfer_accept(h.b.rt), X400_OK);
    x400t_rl_pump(&h);
    ck_assert_int_eq(h.a.nind[X400I_RTSE_TRANSFER_CONF], 1);
    ck_assert_int_eq(h.a.last_result, X400_OK);
    ck_assert_uint_eq(h.a.last_tid, 42);
    ck_assert_int_eq(x400i_rtse_transfer_deferred(h.b.rt), 0);
    ck_assert_int_eq(x400_rtse_record_info_get(h.b.record, h.b.record_len, &ri), 0);
    ck_assert_int_eq(ri.state, X400_RTSE_RECORD_COMPLETED);
    ck_assert_uint_eq(h.b.in.done_len, n);
    ck_assert(memcmp(h.b.in.done, d, n) == 0);
    transfer_ok(&h, &h.a, &h.b, 3000, 7);   /* the association goes on */
    free(d);
    x400t_rl_free(&h);
}
END_TEST

/* The TSDU lengths a sends during an uncut transfer (cut classes). */
static size_t *tsdu_bounds(const x400_rtse_config *c, const uint8_t *d, size_t n, size_t *count)
{
    x400t_rl h;
    size_t *cum;
    x400t_rl_init(&h, c, c);
    x400t_rl_open(&h);
    h.lens = malloc(sizeof *h.lens);
    h.caplens = 1;
    ck_assert_int_eq(x400i_rtse_transfer_req(h.a.rt, d, n, X400_RTSE_PRIO_NORMAL, 1), 0);
    x400t_rl_pump(&h);
    ck_assert_int_eq(h.a.last_result, X400_OK);
    cum = malloc(h.nlens * sizeof *cum);
    for (size_t i = 0; i < h.nlens; i++) cum[i] = (i ? cum[i - 1] : 0) + h.lens[i];
    *count = h.nlens;
    x400t_rl_free(&h);
    return cum;
}

/* Every offset in the first and last 64 KiB of the sender's output, and a
 * random sample in between.  A cut anywhere inside one TSDU is the same
 * event to both ends (a partial TSDU is never delivered: transport class
 * 0 over TCP hands up whole TSDUs), so each offset is mapped to the TSDU
 * it falls in and each such class is run once. */
static void cut_sweep(uint32_t cp, uint32_t win, int x410, int restart, unsigned sample, const char *name)
{
    x400_rtse_config c = cfg_of(cp, win, 1, x410);
    size_t n = 1u << 20, nb, total, runs = 0, offsets = 0;
    uint8_t *d = x400t_pattern(n, 1234);
    size_t *cum = tsdu_bounds(&c, d, n, &nb);
    uint64_t *res = calloc(nb, sizeof *res), max = 0, sum = 0;
    char *done = calloc(nb, 1);
    uint32_t rnd = 99;
    size_t edge = X400T_TSAN ? 4096 : 65536;
    total = cum[nb - 1];
    for (size_t i = 0; i < 2 * edge + sample; i++) {
        size_t off, k = 0, lo = 0, hi = nb - 1;
        if (i < edge) off = i;
        else if (i < 2 * edge) off = total - 2 * edge + i;
        else {
            rnd = rnd * 1103515245u + 12345u;
            off = edge + (size_t)(rnd >> 3) % (total - 2 * edge);
        }
        if (restart && off < cum[1 + 2 * 4]) continue; /* restart cases: after the first checkpoints */
        while (lo < hi) { /* first k with cum[k] > off */
            size_t m = (lo + hi) / 2;
            if (cum[m] > off) hi = m;
            else lo = m + 1;
        }
        k = lo;
        offsets++;
        if (done[k]) continue;
        done[k] = 1;
        res[k] = cut_run(&c, d, n, off, restart);
        runs++;
        sum += res[k];
        if (res[k] > max) max = res[k];
    }
    fprintf(stderr, "rtse %s: %zu offsets in %zu cut classes (%zu TSDUs, %zu octets), resent max %llu "
                    "mean %llu octets (bound %u)\n",
            name, offsets, runs, nb, total, (unsigned long long)max, (unsigned long long)(runs ? sum / runs : 0),
            win * cp * 1024u);
    ck_assert_uint_gt(runs, 10);
    free(res);
    free(done);
    free(cum);
    free(d);
}

START_TEST(cuts_cp1_w5) { cut_sweep(1, 5, 0, 0, X400T_TSAN ? 20 : 400, "cp 1 KiB w 5"); }
END_TEST
START_TEST(cuts_cp30_w5) { cut_sweep(30, 5, 0, 0, X400T_TSAN ? 20 : 200, "cp 30 KiB w 5"); }
END_TEST
START_TEST(cuts_x410_cp4_w3) { cut_sweep(4, 3, 1, 0, X400T_TSAN ? 10 : 100, "x410 cp 4 KiB w 3"); }
END_TEST
START_TEST(cuts_receiver_restart) { cut_sweep(8, 5, 0, 1, X400T_TSAN ? 10 : 60, "restart cp 8 KiB w 5"); }
END_TEST

/* ---- timers ----------------------------------------------------------------- */

START_TEST(recovery_timeout_restarts)
{
    x400_rtse_config c = cfg_of(4, 5, 1, 0);
    x400t_rl h;
    size_t n = 1u << 20;
    uint8_t *d = x400t_pattern(n, 77);
    x400t_rl_init(&h, &c, &c);
    x400t_rl_open(&h);
    x400t_pair_cut_after(&h.io, 300000);
    h.net_down = 1; /* the peer stays unreachable */
    ck_assert_int_eq(x400i_rtse_transfer_req(h.a.rt, d, n, X400_RTSE_PRIO_NORMAL, 1), 0);
    x400t_rl_pump(&h);
    ck_assert_int_eq(x400i_rtse_state(h.a.rt), X400I_RTSE_ST_RECOVERING);
    ck_assert_int_eq(x400i_rtse_state(h.b.rt), X400I_RTSE_ST_WAIT_RECOVERY);
    ck_assert_int_eq(h.a.nind[X400I_RTSE_RECOVERING_IND], 1);
    ck_assert_uint_gt(h.b.record_len, 0);
    ck_assert_uint_gt(h.b.in.rx_len, 0); /* confirmed octets handed over */
    ck_assert_uint_eq(x400i_rtse_next_timeout(h.a.rt), h.now + 2000);      /* next attempt */
    ck_assert_uint_eq(x400i_rtse_next_timeout(h.b.rt), h.now + 60000);     /* recovery timeout */
    for (int i = 0; i < 29; i++) x400t_rl_advance(&h, 2000); /* attempts fail */
    ck_assert_int_eq(x400i_rtse_state(h.a.rt), X400I_RTSE_ST_RECOVERING);
    ck_assert_int_eq(h.a.nind[X400I_RTSE_TRANSFER_CONF], 0);
    x400t_rl_advance(&h, 2000);
    /* the sender gives the transfer up; the receiver drops what it kept */
    ck_assert_int_eq(h.a.nind[X400I_RTSE_TRANSFER_CONF], 1);
    ck_assert_int_eq(h.a.last_result, X400_ERR_ABORTED);
    ck_assert_int_eq(h.a.nind[X400I_RTSE_P_ABORT_IND], 1);
    ck_diag(h.a.last_diag, "not recovered within the recovery timeout");
    ck_assert_int_eq(x400i_rtse_state(h.a.rt), X400I_RTSE_ST_CLOSED);
    ck_assert_int_eq(h.b.nind[X400I_RTSE_TRANSFER_ABANDON], 1);
    ck_assert_int_eq(h.b.nind[X400I_RTSE_P_ABORT_IND], 1);
    ck_assert_uint_eq(h.b.record_len, 0);
    ck_assert_uint_eq(h.b.in.rx_len, 0);
    ck_assert_int_eq(x400i_rtse_state(h.b.rt), X400I_RTSE_ST_CLOSED);
    ck_assert_uint_eq(x400i_rtse_next_timeout(h.a.rt), UINT64_MAX);
    /* a new association: the transfer starts again from the beginning */
    h.net_down = 0;
    x400t_rl_new_initiator(&h);
    x400t_rl_new_responder(&h);
    x400t_rl_open(&h);
    transfer_ok(&h, &h.a, &h.b, n, 77);
    ck_assert_int_eq(h.b.nind[X400I_RTSE_TRANSFER_IND], 1);
    ck_assert_uint_eq(x400i_rtse_bytes_sent(h.a.rt), n + apdv_hdr(n));
    free(d);
    x400t_rl_free(&h);
}
END_TEST

START_TEST(peer_never_confirms)
{
    x400_rtse_config c = cfg_of(30, 5, 1, 0);
    x400t_rl h;
    size_t n = 1u << 20;
    uint8_t *d = x400t_pattern(n, 5);
    c.transfer_timeout_s_per_kib[X400_RTSE_PRIO_NORMAL] = 1;
    x400t_rl_init(&h, &c, &c);
    x400t_rl_open(&h);
    h.io.drop[1] = 1; /* nothing comes back */
    ck_assert_int_eq(x400i_rtse_transfer_req(h.a.rt, d, n, X400_RTSE_PRIO_NORMAL, 1), 0);
    x400t_rl_pump(&h);
    ck_assert_int_eq(x400i_rtse_state(h.a.rt), X400I_RTSE_ST_SENDING);
    ck_assert_uint_eq(x400i_rtse_bytes_sent(h.a.rt), 5 * 30 * 1024); /* the window is full */
    ck_assert_uint_eq(x400i_rtse_next_timeout(h.a.rt), h.now + 1024 * 1000);
    x400t_rl_advance(&h, 1024 * 1000 - 1);
    ck_assert_int_eq(x400i_rtse_state(h.a.rt), X400I_RTSE_ST_SENDING);
    x400t_rl_advance(&h, 1);
    ck_assert_int_eq(h.a.last_result, X400_ERR_TIMEOUT);
    ck_assert_int_eq(h.a.nind[X400I_RTSE_P_ABORT_IND], 1);
    ck_diag(h.a.last_diag, "not confirmed within its transfer time");
    ck_assert_int_eq(x400i_rtse_state(h.a.rt), X400I_RTSE_ST_CLOSED);
    x400t_rl_pump(&h); /* RTAB temporaryProblem reaches b */
    ck_assert_int_eq(h.b.nind[X400I_RTSE_P_ABORT_IND], 1);
    ck_assert_int_eq(h.b.last_reason, 3);
    ck_diag(h.b.last_diag, "temporaryProblem");
    ck_assert_int_eq(h.b.nind[X400I_RTSE_TRANSFER_ABANDON], 1);
    ck_assert_int_eq(x400i_rtse_state(h.b.rt), X400I_RTSE_ST_CLOSED);
    free(d);
    x400t_rl_free(&h);
}
END_TEST

/* ---- bad input ---------------------------------------------------------------- */

static size_t enc_apdu(RTSE_apdus_t *a, uint8_t *b, size_t cap)
{
    asn_enc_rval_t er = der_encode_to_buffer(&asn_DEF_RTSE_apdus, a, b, cap);
    ck_assert_int_gt(er.encoded, 0);
    return (size_t)er.encoded;
}

static size_t mk_rtorq(uint8_t *b, size_t cap, long *cp, long *win, long *dm)
{
    static uint8_t null_v[2] = { 0x05, 0x00 };
    RTSE_apdus_t a;
    memset(&a, 0, sizeof a);
    a.present = RTSE_apdus_PR_rtorq_apdu;
    a.choice.rtorq_apdu.checkpointSize = cp;
    a.choice.rtorq_apdu.windowSize = win;
    a.choice.rtorq_apdu.dialogueMode = dm;
    a.choice.rtorq_apdu.connectionDataRQ.present = ConnectionData_PR_open;
    a.choice.rtorq_apdu.connectionDataRQ.choice.open.buf = null_v;
    a.choice.rtorq_apdu.connectionDataRQ.choice.open.size = 2;
    return enc_apdu(&a, b, cap);
}

/* A fresh responder given `apdu` as RTORQ: refused (RTORJ: there is no
 * connection yet to carry an RTAB) with `want`, or (want NULL) accepted
 * with checkpoint size want_cp. */
static void rtorq_case(const uint8_t *apdu, size_t n, const char *want, uint32_t want_cp)
{
    x400t_rl h;
    x400i_rtse_lind l;
    int rc;
    x400t_rl_init(&h, NULL, NULL);
    memset(&l, 0, sizeof l);
    l.type = X400I_RTSE_LIND_CONNECT;
    l.apdu = apdu;
    l.apdu_len = n;
    rc = x400i_rtse_lower_input(h.b.rt, &l);
    if (want) {
        ck_assert_int_lt(rc, 0);
        ck_assert_int_eq(x400i_rtse_state(h.b.rt), X400I_RTSE_ST_CLOSED);
        ck_diag(x400i_rtse_diag(h.b.rt)->text, want);
        ck_assert_int_eq(h.b.nind[X400I_RTSE_OPEN_IND], 0);
        ck_assert_int_eq(h.b.nind[X400I_RTSE_P_ABORT_IND], 1);
    } else {
        ck_assert_int_eq(rc, 0);
        ck_assert_int_eq(h.b.nind[X400I_RTSE_OPEN_IND], 1); /* (no connection below: the RTOAC goes nowhere) */
        ck_assert_uint_eq(x400i_rtse_checkpoint_kib(h.b.rt), want_cp);
    }
    x400t_rl_free(&h);
}

START_TEST(bad_rtorq)
{
    uint8_t b[64];
    long neg = -5, zero = 0, seven = 7, huge = 1L << 40, one = 1;
    rtorq_case(b, mk_rtorq(b, sizeof b, &neg, NULL, NULL), "RTORQ checkpointSize -5 is negative: RTORJ validationFailure sent", 0);
    rtorq_case(b, mk_rtorq(b, sizeof b, &one, &zero, NULL), "RTORQ windowSize 0 is below 1: RTORJ validationFailure", 0);
    rtorq_case(b, mk_rtorq(b, sizeof b, &one, NULL, &seven),
               "RTORQ dialogueMode 7 is neither monologue(0) nor twa(1): RTORJ unacceptableDialogueMode", 0);
    /* applicationProtocol other than 1 and 12: taken as P1 (PP sends 256:
     * 1 in the wrong byte order), logged, accepted */
    {
        static const uint8_t ap256[] = { 0xb0, 0x10, 0x80, 0x01, 0x01, 0x82, 0x01, 0x01, 0xa3, 0x04,
                                         0xa0, 0x02, 0x05, 0x00, 0x84, 0x02, 0x01, 0x00 };
        static const uint8_t ap99[] = { 0xb0, 0x0f, 0x80, 0x01, 0x01, 0x82, 0x01, 0x01, 0xa3, 0x04,
                                        0xa0, 0x02, 0x05, 0x00, 0x84, 0x01, 0x63 };
        rtorq_case(ap256, sizeof ap256, NULL, 1);
        rtorq_case(ap99, sizeof ap99, NULL, 1);
    }
    /* absurdly large but valid: lowered to ours */
    rtorq_case(b, mk_rtorq(b, sizeof b, &huge, &huge, &one), NULL, 30);
    /* an INTEGER beyond any C long */
    {
        static const uint8_t big[] = { 0xb0, 0x11, 0x80, 0x09, 0x01, 0, 0, 0, 0, 0, 0, 0, 0,
                                       0xa3, 0x04, 0xa0, 0x02, 0x05, 0x00 };
        rtorq_case(big, sizeof big, "connect indication: RTSE APDU does not decode", 0);
    }
    /* truncated, empty, not an RTORQ */
    rtorq_case(b, mk_rtorq(b, sizeof b, &one, NULL, NULL) - 1, "does not decode (malformed BER", 0);
    rtorq_case(b, 0, "no RTSE APDU: RTORJ without reason sent", 0);
    rtorq_case((const uint8_t *)"\x02\x01\x01", 3, "connect indication carries no RTORQ: RTORJ without reason sent", 0);
}
END_TEST

/* b (or a) after RT-OPEN receives `l` directly: clean abort with `want`;
 * the RTAB reaches the peer with abortReason `peer_reason`. */
static void lind_case(int to_a, x400i_rtse_lind *l, int want_rc, const char *want, int peer_reason)
{
    x400t_rl h;
    x400t_rl_end *e, *p;
    x400t_rl_init(&h, NULL, NULL);
    x400t_rl_open(&h);
    e = to_a ? &h.a : &h.b;
    p = to_a ? &h.b : &h.a;
    ck_assert_int_eq(x400i_rtse_lower_input(e->rt, l), want_rc);
    ck_diag(x400i_rtse_diag(e->rt)->text, want);
    ck_assert_int_eq(x400i_rtse_state(e->rt), X400I_RTSE_ST_CLOSED);
    ck_assert_int_eq(e->nind[X400I_RTSE_P_ABORT_IND], 1);
    x400t_rl_pump(&h);
    if (peer_reason >= 0) {
        ck_assert_int_eq(p->nind[X400I_RTSE_P_ABORT_IND], 1);
        ck_assert_int_eq(p->last_reason, peer_reason);
        ck_assert_int_eq(x400i_rtse_state(p->rt), X400I_RTSE_ST_CLOSED);
    }
    x400t_rl_free(&h);
}

START_TEST(bad_lower_input)
{
    x400i_rtse_lind l;
    memset(&l, 0, sizeof l);
    /* RTTR out of turn: the receiver outside a transfer, and the holder of the turn */
    l.type = X400I_RTSE_LIND_DATA;
    l.apdu = (const uint8_t *)"\x04\x03" "abc";
    l.apdu_len = 5;
    lind_case(0, &l, X400_ERR_PROTOCOL, "P-DATA (RTTR) not allowed in state open (RTTR out of turn", 4);
    lind_case(1, &l, X400_ERR_PROTOCOL, "RTTR out of turn", 4);
    /* activity resume for an unknown activity */
    memset(&l, 0, sizeof l);
    l.type = X400I_RTSE_LIND_ACT_RESUME;
    l.id = (const uint8_t *)"\x09";
    l.id_len = 1;
    l.old_id = (const uint8_t *)"\x77";
    l.old_id_len = 1;
    l.serial = 3;
    lind_case(0, &l, X400_ERR_PROTOCOL, "P-ACTIVITY-RESUME of an unknown activity", 2);
    /* activity start from the side without the turn, as seen by the holder */
    memset(&l, 0, sizeof l);
    l.type = X400I_RTSE_LIND_ACT_START;
    l.id = (const uint8_t *)"\x01";
    l.id_len = 1;
    lind_case(1, &l, X400_ERR_PROTOCOL, "while this side holds the turn", 4);
    /* RT-TURN-PLEASE without an RTTP */
    memset(&l, 0, sizeof l);
    l.type = X400I_RTSE_LIND_TOKEN_PLEASE;
    l.apdu = (const uint8_t *)"\x04\x00";
    l.apdu_len = 2;
    lind_case(1, &l, X400_ERR_PROTOCOL, "P-TOKEN-PLEASE carries no RTTP", 4);
    /* turn given to the holder */
    memset(&l, 0, sizeof l);
    l.type = X400I_RTSE_LIND_CONTROL_GIVE;
    lind_case(1, &l, X400_ERR_PROTOCOL, "RT-TURN-GIVE to the holder of the turn", 4);
    /* a connect confirm while open */
    memset(&l, 0, sizeof l);
    l.type = X400I_RTSE_LIND_CONNECT_CONF;
    lind_case(1, &l, X400_ERR_PROTOCOL, "RTOAC/RTORJ (connect confirm) not allowed in state open", 4);
}
END_TEST

/* Abort indications: unknown abort reasons and malformed RTAB give RT-P-ABORT
 * with the reason in the diagnostic. */
static void rtab_case(const uint8_t *apdu, size_t n, int want_type, int want_reason, const char *want)
{
    x400t_rl h;
    x400i_rtse_lind l;
    x400t_rl_init(&h, NULL, NULL);
    x400t_rl_open(&h);
    memset(&l, 0, sizeof l);
    l.type = X400I_RTSE_LIND_U_ABORT;
    l.apdu = apdu;
    l.apdu_len = n;
    ck_assert_int_eq(x400i_rtse_lower_input(h.a.rt, &l), 0);
    ck_assert_int_eq(h.a.nind[want_type], 1);
    ck_assert_int_eq(h.a.last_reason, want_reason);
    ck_diag(h.a.last_diag, want);
    ck_assert_int_eq(x400i_rtse_state(h.a.rt), X400I_RTSE_ST_CLOSED);
    ck_assert_int_eq(x400i_rtse_lower_input(h.a.rt, &l), X400_ERR_CLOSED);
    x400t_rl_free(&h);
}

START_TEST(bad_rtab)
{
    rtab_case((const uint8_t *)"\xb6\x03\x80\x01\x63", 5, X400I_RTSE_P_ABORT_IND, 99, "unknown abort reason 99");
    rtab_case((const uint8_t *)"\xb6\x03\x80\x01\x04", 5, X400I_RTSE_P_ABORT_IND, 4, "protocolError");
    rtab_case((const uint8_t *)"\xb6\x03\x80\x01\x06", 5, X400I_RTSE_U_ABORT_IND, 6, "RT-U-ABORT by the peer");
    rtab_case((const uint8_t *)"\xb6\x00", 2, X400I_RTSE_U_ABORT_IND, -1, "RT-U-ABORT by the peer");
    rtab_case((const uint8_t *)"\xb6\x05\x80\x01", 4, X400I_RTSE_P_ABORT_IND, -1, "does not decode");
    rtab_case((const uint8_t *)"\x02\x01\x05", 3, X400I_RTSE_P_ABORT_IND, -1, "carries no RTAB");
    rtab_case(NULL, 0, X400I_RTSE_U_ABORT_IND, -1, "without RTAB");
}
END_TEST

START_TEST(bad_rtoac_and_callbacks)
{
    x400t_rl h;
    x400i_rtse_lind l;
    uint8_t b[64];
    RTSE_apdus_t a;
    long cp = 100;
    static uint8_t null_v[2] = { 0x05, 0x00 };
    size_t n;
    /* RTOAC raising the checkpoint size */
    memset(&a, 0, sizeof a);
    a.present = RTSE_apdus_PR_rtoac_apdu;
    a.choice.rtoac_apdu.checkpointSize = &cp;
    a.choice.rtoac_apdu.connectionDataAC.present = ConnectionData_PR_open;
    a.choice.rtoac_apdu.connectionDataAC.choice.open.buf = null_v;
    a.choice.rtoac_apdu.connectionDataAC.choice.open.size = 2;
    n = enc_apdu(&a, b, sizeof b);
    x400t_rl_init(&h, NULL, NULL);
    ck_assert_int_eq(x400i_rtse_open_req(h.a.rt, NULL, 0), 0);
    memset(&l, 0, sizeof l);
    l.type = X400I_RTSE_LIND_CONNECT_CONF;
    l.accepted = 1;
    l.apdu = b;
    l.apdu_len = n;
    ck_assert_int_eq(x400i_rtse_lower_input(h.a.rt, &l), X400_ERR_PROTOCOL);
    ck_diag(x400i_rtse_diag(h.a.rt)->text, "RTOAC checkpointSize 100 is not between 0 and the proposed 30");
    ck_assert_int_eq(x400i_rtse_state(h.a.rt), X400I_RTSE_ST_CLOSED);
    x400t_rl_free(&h);
    /* a user callback failing mid-transfer: RTAB localSystemProblem */
    x400t_rl_init(&h, NULL, NULL);
    x400t_rl_open(&h);
    h.b.fail_next = 1;
    {
        uint8_t *d = x400t_pattern(100000, 3);
        ck_assert_int_eq(x400i_rtse_transfer_req(h.a.rt, d, 100000, X400_RTSE_PRIO_NORMAL, 1), 0);
        x400t_rl_pump(&h);
        free(d);
    }
    ck_assert_int_eq(x400i_rtse_state(h.b.rt), X400I_RTSE_ST_CLOSED);
    ck_diag(x400i_rtse_diag(h.b.rt)->text, "user callback failed");
    ck_assert_int_eq(h.a.nind[X400I_RTSE_P_ABORT_IND], 1);
    ck_assert_int_eq(h.a.last_reason, 0);
    ck_assert_int_eq(h.a.last_result, X400_ERR_ABORTED);
    x400t_rl_free(&h);
    /* requests refused with their reason, state unchanged */
    x400t_rl_init(&h, NULL, NULL);
    ck_assert_int_eq(x400i_rtse_transfer_req(h.a.rt, b, 1, X400_RTSE_PRIO_NORMAL, 1), X400_ERR_STATE);
    ck_diag(x400i_rtse_diag(h.a.rt)->text, "RT-TRANSFER request not allowed in state idle");
    ck_assert_int_eq(x400i_rtse_open_req(h.b.rt, NULL, 0), X400_ERR_STATE);
    ck_diag(x400i_rtse_diag(h.b.rt)->text, "association-responder");
    ck_assert_int_eq(x400i_rtse_state(h.b.rt), X400I_RTSE_ST_IDLE);
    x400t_rl_open(&h);
    ck_assert_int_eq(x400i_rtse_turn_give_req(h.b.rt), X400_ERR_STATE);
    ck_diag(x400i_rtse_diag(h.b.rt)->text, "RT-TURN-GIVE request not allowed in state open: the turn is not held");
    ck_assert_int_eq(x400i_rtse_turn_please_req(h.a.rt, 1), X400_ERR_STATE);
    ck_assert_int_eq(x400i_rtse_state(h.a.rt), X400I_RTSE_ST_OPEN);
    x400t_rl_free(&h);
}
END_TEST

/* ---- records -------------------------------------------------------------------- */

START_TEST(records)
{
    x400t_rl h;
    x400_rtse_record_info info;
    uint8_t rec[X400_RTSE_RECORD_MAX];
    size_t n;
    uint32_t c;
    x400t_rl_init(&h, NULL, NULL);
    x400t_rl_open(&h);
    transfer_ok(&h, &h.a, &h.b, 100000, 8);
    n = h.b.record_len;
    memcpy(rec, h.b.record, n);
    ck_assert_int_eq(x400_rtse_record_info_get(rec, n, &info), 0);
    ck_assert_int_eq(info.version, X400_RTSE_RECORD_VERSION);
    ck_assert_int_eq(info.state, X400_RTSE_RECORD_COMPLETED);
    ck_assert_uint_eq(info.delivered, 100000);
    ck_assert_uint_eq(info.last_serial, 3);
    ck_assert_uint_eq(info.calling_ref_len, 5);
    ck_assert_mem_eq(info.calling_ref, "MTA-A", 5);
    ck_assert_uint_eq(info.expires_ms, info.saved_ms + 60000);
    /* every single-octet corruption and every truncation is detected */
    for (size_t i = 0; i < n; i++) {
        rec[i] ^= 0x20;
        ck_assert_int_eq(x400_rtse_record_info_get(rec, n, NULL), X400_ERR_CORRUPT);
        rec[i] ^= 0x20;
        ck_assert_int_lt(x400_rtse_record_info_get(rec, i, NULL), 0);
    }
    /* another version, with a valid checksum */
    rec[4] = 2;
    c = x400i_crc32(rec, n - 4);
    rec[n - 4] = (uint8_t)(c >> 24);
    rec[n - 3] = (uint8_t)(c >> 16);
    rec[n - 2] = (uint8_t)(c >> 8);
    rec[n - 1] = (uint8_t)c;
    ck_assert_int_eq(x400_rtse_record_info_get(rec, n, NULL), X400_ERR_UNSUPPORTED);
    ck_assert_int_eq(x400_rtse_record_info_get(NULL, 0, NULL), X400_ERR_INVALID_ARG);
    /* a restored responder refuses expired records */
    x400t_rl_new_responder(&h);
    x400t_rl_advance(&h, 60001);
    ck_assert_int_eq(x400i_rtse_restore(h.b.rt, h.b.record, h.b.record_len), X400_ERR_TIMEOUT);
    /* the completed record expires in the responder too: erased */
    x400t_rl_free(&h);
    x400t_rl_init(&h, NULL, NULL);
    x400t_rl_open(&h);
    transfer_ok(&h, &h.a, &h.b, 1000, 8);
    ck_assert_uint_gt(h.b.record_len, 0);
    x400t_rl_advance(&h, 60000);
    ck_assert_uint_eq(h.b.record_len, 0);
    x400t_rl_free(&h);
}
END_TEST

START_TEST(config_and_table)
{
    x400_rtse_config c;
    x400_rtse_config_default(&c);
    ck_assert_int_eq(x400_rtse_config_check(&c), 0);
    ck_assert_uint_eq(c.checkpoint_size_kib, 30);
    ck_assert_uint_eq(c.window_size, 5);
    ck_assert_uint_eq(c.recovery_timeout_s, 60);
    ck_assert_uint_eq(c.transfer_timeout_s_per_kib[0], 1000);
    ck_assert_uint_eq(c.transfer_timeout_s_per_kib[2], 3000);
    c.window_size = 0;
    ck_assert_int_eq(x400_rtse_config_check(&c), X400_ERR_INVALID_ARG);
    c.window_size = X400_RTSE_MAX_WINDOW + 1;
    ck_assert_int_eq(x400_rtse_config_check(&c), X400_ERR_INVALID_ARG);
    x400_rtse_config_default(&c);
    c.checkpoint_size_kib = X400_RTSE_MAX_CHECKPOINT_KIB + 1;
    ck_assert_int_eq(x400_rtse_config_check(&c), X400_ERR_INVALID_ARG);
    for (int st = 0; st < X400I_RTSE_ST_COUNT; st++) {
        ck_assert_str_ne(x400i_rtse_state_name(st), "?");
        for (int e = 0; e < x400i_rtse_event_count(); e++) {
            int next;
            ck_assert_str_ne(x400i_rtse_event_name(e), "?");
            if (x400i_rtse_table_entry(st, e, &next))
                ck_assert(next == -1 || (next >= 0 && next < X400I_RTSE_ST_COUNT));
        }
    }
    ck_assert_str_eq(x400i_rtse_state_name(99), "?");
    ck_assert_ptr_null(x400i_rtse_abort_reason_name(8));
}
END_TEST

/* ---- the state table, walked --------------------------------------------------- */
/* One RTPM over a lower interface that records and answers at once (every
 * service fails in the `fail` mode), user callbacks that fail in the
 * `cb_fail` mode.  Each scenario brings a fresh machine into a state; each
 * firing is one event with its arguments.  For every scenario x firing x
 * mode: a cell with an action ends in one of the states the cell declares,
 * an empty cell refuses a request (no effect), closes on an event from
 * below (protocol error) and ignores a timer; no action names an outcome
 * its cell does not declare.  Then every cell with an action was run and
 * every state a cell declares was reached. */
typedef struct wk {
    x400i_rtse *rt;
    int fail, cb_fail, defer;
    uint32_t serial;
    uint8_t connect_apdu[512];  /* the last connect_req / connect_rsp APDU */
    size_t connect_len;
    uint8_t rsp_apdu[512];
    size_t rsp_len;
    uint8_t record[X400_RTSE_RECORD_MAX];
    size_t record_len;
} wk;

static const x400i_rtse_ref wk_ref = { .calling = "CALLING", .calling_len = 7, .common = "261204190000Z",
                                       .common_len = 13 };
/* captured from machines of the walk itself */
static uint8_t wk_rtorq[512], wk_rtorq_recover[512], wk_rtorq_other[512], wk_rtoac[512];
static size_t wk_rtorq_len, wk_rtorq_recover_len, wk_rtorq_other_len, wk_rtoac_len;
static uint8_t wk_big[3600]; /* three checkpoints of 1 KiB and a last piece */
static uint8_t wk_long[8192];

static int wk_rc(void *u) { return ((wk *)u)->fail ? -1 : 0; }
static int wk_connect_req(void *u, int turn, const uint8_t *p, size_t n)
{
    wk *w = u;
    (void)turn;
    ck_assert_uint_le(n, sizeof w->connect_apdu);
    memcpy(w->connect_apdu, p, n);
    w->connect_len = n;
    return wk_rc(u);
}
static int wk_connect_rsp(void *u, int accept, const uint8_t *p, size_t n)
{
    wk *w = u;
    (void)accept;
    ck_assert_uint_le(n, sizeof w->rsp_apdu);
    memcpy(w->rsp_apdu, p, n);
    w->rsp_len = n;
    return wk_rc(u);
}
static int wk_apdu(void *u, const uint8_t *p, size_t n) { (void)p; (void)n; return wk_rc(u); }
static int wk_serial_req(void *u, uint32_t *serial) { *serial = ++((wk *)u)->serial; return wk_rc(u); }
static int wk_serial_rsp(void *u, uint32_t serial) { (void)serial; return wk_rc(u); }
static int wk_resume(void *u, const uint8_t *id, size_t id_len, const uint8_t *old_id, size_t old_id_len,
                     uint32_t serial, const x400i_rtse_ref *old_conn)
{
    (void)id, (void)id_len, (void)old_id, (void)old_id_len, (void)serial, (void)old_conn;
    return wk_rc(u);
}
static int wk_exc(void *u, int reason) { (void)reason; return wk_rc(u); }
static int wk_no_exc; /* wk_new: a lower without exception report and discard request */
static int wk_ind(void *u, const x400i_rtse_ind *ind)
{
    wk *w = u;
    if (ind->type == X400I_RTSE_PERSIST) {
        if (ind->record_len) memcpy(w->record, ind->record, ind->record_len);
        w->record_len = ind->record_len;
    }
    if (w->cb_fail) return -1;
    return ind->type == X400I_RTSE_TRANSFER_IND && w->defer ? X400I_RTSE_DEFER : 0;
}

static void wk_new(wk *w, int initiator, uint32_t cp)
{
    x400_rtse_config c = cfg_of(cp, 3, 1, 0);
    x400i_rtse_lower lo = { .connect_req = wk_connect_req, .connect_rsp = wk_connect_rsp, .data_req = wk_apdu,
                            .minor_sync_req = wk_serial_req, .minor_sync_rsp = wk_serial_rsp,
                            .activity_start_req = (int (*)(void *, const uint8_t *, size_t))wk_apdu,
                            .activity_resume_req = wk_resume, .activity_discard_rsp = wk_rc,
                            .activity_interrupt_rsp = wk_rc, .activity_end_req = wk_serial_req,
                            .activity_end_rsp = wk_rc, .token_please_req = wk_apdu, .control_give_req = wk_rc,
                            .release_req = wk_rc, .release_rsp = wk_rc, .u_abort_req = wk_apdu,
                            .u_exception_req = wk_no_exc ? NULL : wk_exc,
                            .activity_discard_req = wk_no_exc ? NULL : wk_exc };
    x400i_rtse_callbacks cb = { .indication = wk_ind };
    memset(w, 0, sizeof *w);
    lo.user = w;
    cb.user = w;
    ck_assert_int_eq(x400i_rtse_new(&w->rt, initiator, &c, &lo, &cb, NULL, NULL), X400_OK);
    ck_assert_int_eq(x400i_rtse_tick(w->rt, 1000), X400_OK);
}

static int wk_lind(wk *w, x400i_rtse_lind_type t, const uint8_t *apdu, size_t n, uint32_t serial)
{
    x400i_rtse_lind l;
    memset(&l, 0, sizeof l);
    l.type = t;
    l.apdu = apdu;
    l.apdu_len = n;
    l.serial = serial;
    l.ref = &wk_ref;
    l.accepted = 1;
    l.turn = t == X400I_RTSE_LIND_CONNECT_CONF || x400i_rtse_has_turn(w->rt);
    l.id = (const uint8_t *)"\x01";
    l.id_len = 1;
    return x400i_rtse_lower_input(w->rt, &l);
}
#define WK_OK(x) ck_assert_int_eq((x), X400_OK)
#define WK_IN(w, t, ...) WK_OK(wk_lind((w), X400I_RTSE_LIND_##t, __VA_ARGS__))

/* ---- scenarios ---- */
static void sc_init_idle(wk *w) { wk_new(w, 1, 1); }
static void sc_resp_idle(wk *w) { wk_new(w, 0, 1); }
static void sc_init_wait_conf(wk *w) { sc_init_idle(w); WK_OK(x400i_rtse_open_req(w->rt, NULL, 0)); }
static void sc_resp_wait_rsp(wk *w) { sc_resp_idle(w); WK_IN(w, CONNECT, wk_rtorq, wk_rtorq_len, 0); }
static void sc_init_open(wk *w) { sc_init_wait_conf(w); WK_IN(w, CONNECT_CONF, wk_rtoac, wk_rtoac_len, 0); }
static void sc_init_open_nocp(wk *w)
{
    wk_new(w, 1, 0);
    WK_OK(x400i_rtse_open_req(w->rt, NULL, 0));
    WK_IN(w, CONNECT_CONF, (const uint8_t *)"\xb1\x06\xa2\x04\xa0\x02\x05\x00", 8, 0); /* RTOAC without checkpointing */
}
static void sc_resp_open(wk *w) { sc_resp_wait_rsp(w); WK_OK(x400i_rtse_open_rsp(w->rt, 1, -1, NULL, 0)); }
static void sc_resp_open_nocp(wk *w)
{
    wk_new(w, 0, 0);
    WK_IN(w, CONNECT, wk_rtorq, wk_rtorq_len, 0);
    WK_OK(x400i_rtse_open_rsp(w->rt, 1, -1, NULL, 0));
}
static void sc_resp_receiving(wk *w) { sc_resp_open(w); WK_IN(w, ACT_START, NULL, 0, 0); }
static void sc_resp_receiving_nocp(wk *w) { sc_resp_open_nocp(w); WK_IN(w, ACT_START, NULL, 0, 0); }
/* an APDV of 11 octets: EXTERNAL {indirect-reference 5, single-ASN1-type NULL} */
#define WK_APDV (const uint8_t *)"\x04\x09\x28\x07\x02\x01\x05\xa0\x02\x05\x00", 11
/* the scenarios' last steps: an APDU completed, its confirmation deferred;
 * a transfer requested */
static void wk_received(wk *w)
{
    w->defer = 1;
    WK_IN(w, DATA, WK_APDV, 0);
    WK_IN(w, ACT_END, NULL, 0, 0);
    w->defer = 0;
}
static void wk_transfer(wk *w, const uint8_t *d, size_t n)
{
    WK_OK(x400i_rtse_transfer_req(w->rt, d, n, X400_RTSE_PRIO_NORMAL, 1));
}
static void sc_resp_receiving_all(wk *w) { sc_resp_receiving(w); WK_IN(w, DATA, WK_APDV, 0); }
static void sc_resp_received_nocp(wk *w) { sc_resp_receiving_nocp(w); wk_received(w); }
static void sc_resp_received(wk *w) { sc_resp_receiving(w); wk_received(w); }
static void sc_resp_confirmed(wk *w) { sc_resp_received(w); WK_OK(x400i_rtse_transfer_accept(w->rt)); }
static void sc_init_noturn(wk *w) { sc_init_open(w); WK_OK(x400i_rtse_turn_give_req(w->rt)); }
static void sc_init_receiving(wk *w) { sc_init_noturn(w); WK_IN(w, ACT_START, NULL, 0, 0); }
static void sc_init_receiving_all(wk *w) { sc_init_receiving(w); WK_IN(w, DATA, WK_APDV, 0); }
static void sc_init_received(wk *w) { sc_init_receiving(w); wk_received(w); }
static void sc_resp_turn(wk *w) { sc_resp_open(w); WK_IN(w, CONTROL_GIVE, NULL, 0, 0); }
static void sc_init_sending(wk *w) { sc_init_open(w); wk_transfer(w, wk_big, sizeof wk_big); }
static void sc_init_sending_long(wk *w) { sc_init_open(w); wk_transfer(w, wk_long, sizeof wk_long); }
static void sc_resp_sending(wk *w) { sc_resp_turn(w); wk_transfer(w, wk_big, sizeof wk_big); }
static void sc_init_end_conf(wk *w) { sc_init_open(w); wk_transfer(w, wk_big, 10); }
static void sc_resp_end_conf(wk *w) { sc_resp_turn(w); wk_transfer(w, wk_big, 10); }
/* three checkpoints unconfirmed (the window), the last piece waits */
static void sc_init_end_conf_ring(wk *w) { sc_init_sending(w); WK_IN(w, MINOR_SYNC_CONF, NULL, 0, 1); }
static void sc_init_recovering_end(wk *w) { sc_init_end_conf(w); WK_IN(w, P_ABORT, NULL, 0, 0); }
static void sc_resp_wait_recovery_end(wk *w) { sc_resp_end_conf(w); WK_IN(w, P_ABORT, NULL, 0, 0); }
static void sc_init_close_conf(wk *w) { sc_init_open(w); WK_OK(x400i_rtse_close_req(w->rt)); }
static void sc_resp_close_rsp(wk *w) { sc_resp_open(w); WK_IN(w, RELEASE, NULL, 0, 0); }
static void sc_init_recovering(wk *w) { sc_init_sending(w); WK_IN(w, P_ABORT, NULL, 0, 0); }
static void sc_init_recovering_rx(wk *w) { sc_init_receiving(w); WK_IN(w, P_ABORT, NULL, 0, 0); }
static void sc_resp_wait_recovery(wk *w)
{
    sc_resp_receiving(w);
    WK_IN(w, DATA, (const uint8_t *)"\x04\x03\x28\x80\x02", 5, 0);
    WK_IN(w, MINOR_SYNC, NULL, 0, 1);
    WK_IN(w, P_ABORT, NULL, 0, 0);
}
static void sc_resp_wait_recovery_tx(wk *w) { sc_resp_sending(w); WK_IN(w, P_ABORT, NULL, 0, 0); }
static void sc_resp_restored(wk *w)
{
    uint8_t rec[X400_RTSE_RECORD_MAX];
    size_t n;
    sc_resp_wait_recovery(w);
    n = w->record_len;
    memcpy(rec, w->record, n);
    x400i_rtse_free(w->rt);
    sc_resp_idle(w);
    WK_OK(x400i_rtse_restore(w->rt, rec, n));
}
static void sc_init_sending_no_exc(wk *w) { wk_no_exc = 1; sc_init_sending(w); wk_no_exc = 0; }
static void sc_init_discarding(wk *w) { sc_init_sending(w); WK_IN(w, U_EXCEPTION, NULL, 0, 0); }
static void sc_resp_discarding(wk *w) { sc_resp_sending(w); WK_IN(w, U_EXCEPTION, NULL, 0, 0); }
static void sc_init_closed(wk *w) { sc_init_open(w); WK_OK(x400i_rtse_u_abort_req(w->rt, NULL, 0)); }

typedef struct wk_scen { const char *name; void (*setup)(wk *w); int state; } wk_scen;
#define SC(f, st) { #f, f, X400I_RTSE_ST_##st }
static const wk_scen wk_scens[] = {
    SC(sc_init_idle, IDLE), SC(sc_resp_idle, IDLE), SC(sc_resp_restored, IDLE),
    SC(sc_init_wait_conf, WAIT_OPEN_CONF), SC(sc_resp_wait_rsp, WAIT_OPEN_RSP),
    SC(sc_init_open, OPEN), SC(sc_init_open_nocp, OPEN), SC(sc_resp_open, OPEN), SC(sc_resp_open_nocp, OPEN),
    SC(sc_resp_received, OPEN), SC(sc_resp_received_nocp, OPEN),
    SC(sc_resp_confirmed, OPEN), SC(sc_init_noturn, OPEN), SC(sc_init_received, OPEN), SC(sc_resp_turn, OPEN),
    SC(sc_init_sending, SENDING), SC(sc_init_sending_long, SENDING), SC(sc_resp_sending, SENDING),
    SC(sc_init_end_conf, WAIT_END_CONF), SC(sc_resp_end_conf, WAIT_END_CONF), SC(sc_init_end_conf_ring, WAIT_END_CONF),
    SC(sc_resp_receiving, RECEIVING), SC(sc_init_receiving, RECEIVING), SC(sc_resp_receiving_nocp, RECEIVING),
    SC(sc_resp_receiving_all, RECEIVING), SC(sc_init_receiving_all, RECEIVING),
    SC(sc_init_close_conf, WAIT_CLOSE_CONF), SC(sc_resp_close_rsp, WAIT_CLOSE_RSP),
    SC(sc_init_recovering, RECOVERING), SC(sc_init_recovering_rx, RECOVERING), SC(sc_init_recovering_end, RECOVERING),
    SC(sc_resp_wait_recovery, WAIT_RECOVERY), SC(sc_resp_wait_recovery_tx, WAIT_RECOVERY),
    SC(sc_resp_wait_recovery_end, WAIT_RECOVERY), SC(sc_init_sending_no_exc, SENDING),
    SC(sc_init_discarding, WAIT_DISCARD_CONF), SC(sc_resp_discarding, WAIT_DISCARD_CONF),
    SC(sc_init_closed, CLOSED),
};

/* ---- firings: one event with its arguments ---- */
enum { F_OPEN_REQ, F_OPEN_ACCEPT, F_OPEN_REFUSE, F_TRANSFER_SMALL, F_TRANSFER_BIG, F_TURN_PLEASE, F_TURN_GIVE,
       F_CLOSE_REQ, F_CLOSE_RSP, F_U_ABORT, F_ACCEPT, F_CONNECT, F_CONNECT_RECOVER, F_CONNECT_OTHER,
       F_CONNECT_BAD, F_CONF_ACCEPT, F_CONF_REFUSE, F_DATA, F_DATA_BAD, F_MINOR, F_MINOR_CONF, F_MINOR_CONF_BAD, F_ACT_START, F_RESUME_NEW,
       F_RESUME_OLD, F_INTERRUPT, F_DISCARD, F_END, F_END_CONF, F_TOKEN_PLEASE, F_CONTROL_GIVE, F_RELEASE,
       F_RELEASE_CONF, F_RTAB, F_ABORT_BARE, F_P_ABORT, F_U_EXCEPTION, F_DISCARD_CONF, F_T_TRANSFER, F_T_RECOVERY, F_T_RETRY, F_T_RECORD,
       F_COUNT };

static int wk_fire(wk *w, int f, int *ev)
{
    x400i_rtse_lind l;
    memset(&l, 0, sizeof l);
    switch (f) {
    case F_OPEN_REQ: *ev = EV_OPEN_REQ; return x400i_rtse_open_req(w->rt, (const uint8_t *)"\x05\x00", 2);
    case F_OPEN_ACCEPT: *ev = EV_OPEN_RSP; return x400i_rtse_open_rsp(w->rt, 1, -1, NULL, 0);
    case F_OPEN_REFUSE: *ev = EV_OPEN_RSP; return x400i_rtse_open_rsp(w->rt, 0, 0, NULL, 0);
    case F_TRANSFER_SMALL: *ev = EV_TRANSFER_REQ; return x400i_rtse_transfer_req(w->rt, wk_big, 10, 0, 2);
    case F_TRANSFER_BIG: *ev = EV_TRANSFER_REQ; return x400i_rtse_transfer_req(w->rt, wk_big, sizeof wk_big, 0, 2);
    case F_TURN_PLEASE: *ev = EV_TURN_PLEASE_REQ; return x400i_rtse_turn_please_req(w->rt, 1);
    case F_TURN_GIVE: *ev = EV_TURN_GIVE_REQ; return x400i_rtse_turn_give_req(w->rt);
    case F_CLOSE_REQ: *ev = EV_CLOSE_REQ; return x400i_rtse_close_req(w->rt);
    case F_CLOSE_RSP: *ev = EV_CLOSE_RSP; return x400i_rtse_close_rsp(w->rt);
    case F_U_ABORT: *ev = EV_U_ABORT_REQ; return x400i_rtse_u_abort_req(w->rt, NULL, 0);
    case F_ACCEPT: *ev = EV_TRANSFER_ACCEPT; return x400i_rtse_transfer_accept(w->rt);
    case F_T_TRANSFER: *ev = EV_T_TRANSFER; return x400i_rtse_timer_fire(w->rt, *ev);
    case F_T_RECOVERY: *ev = EV_T_RECOVERY; return x400i_rtse_timer_fire(w->rt, *ev);
    case F_T_RETRY: *ev = EV_T_RETRY; return x400i_rtse_timer_fire(w->rt, *ev);
    case F_T_RECORD: *ev = EV_T_RECORD; return x400i_rtse_timer_fire(w->rt, *ev);
    default: break;
    }
    {
        static const struct { x400i_rtse_lind_type t; const char *apdu; size_t n; uint32_t serial; } low[F_COUNT] = {
            [F_CONNECT] = { X400I_RTSE_LIND_CONNECT, NULL, 0, 0 },
            [F_CONNECT_RECOVER] = { X400I_RTSE_LIND_CONNECT, NULL, 0, 0 },
            [F_CONNECT_OTHER] = { X400I_RTSE_LIND_CONNECT, NULL, 0, 0 },
            [F_CONNECT_BAD] = { X400I_RTSE_LIND_CONNECT, "\x02\x01\x01", 3, 0 },
            [F_CONF_ACCEPT] = { X400I_RTSE_LIND_CONNECT_CONF, NULL, 0, 0 },
            [F_CONF_REFUSE] = { X400I_RTSE_LIND_CONNECT_CONF, NULL, 0, 0 },
            [F_DATA] = { X400I_RTSE_LIND_DATA, "\x04\x03\x28\x80\x02", 5, 0 },
            [F_MINOR] = { X400I_RTSE_LIND_MINOR_SYNC, NULL, 0, 2 },
            [F_DATA_BAD] = { X400I_RTSE_LIND_DATA, "\x02\x01\x01", 3, 0 },
            [F_MINOR_CONF] = { X400I_RTSE_LIND_MINOR_SYNC_CONF, NULL, 0, 2 },
            [F_MINOR_CONF_BAD] = { X400I_RTSE_LIND_MINOR_SYNC_CONF, NULL, 0, 0 },
            [F_ACT_START] = { X400I_RTSE_LIND_ACT_START, NULL, 0, 0 },
            [F_RESUME_NEW] = { X400I_RTSE_LIND_ACT_RESUME, NULL, 0, 0 },
            [F_RESUME_OLD] = { X400I_RTSE_LIND_ACT_RESUME, NULL, 0, 1 },
            [F_INTERRUPT] = { X400I_RTSE_LIND_ACT_INTERRUPT, NULL, 0, 0 },
            [F_DISCARD] = { X400I_RTSE_LIND_ACT_DISCARD, NULL, 0, 0 },
            [F_END] = { X400I_RTSE_LIND_ACT_END, NULL, 0, 0 },
            [F_END_CONF] = { X400I_RTSE_LIND_ACT_END_CONF, NULL, 0, 0 },
            [F_TOKEN_PLEASE] = { X400I_RTSE_LIND_TOKEN_PLEASE, "\x02\x01\x01", 3, 0 },
            [F_CONTROL_GIVE] = { X400I_RTSE_LIND_CONTROL_GIVE, NULL, 0, 0 },
            [F_RELEASE] = { X400I_RTSE_LIND_RELEASE, NULL, 0, 0 },
            [F_RELEASE_CONF] = { X400I_RTSE_LIND_RELEASE_CONF, NULL, 0, 0 },
            [F_RTAB] = { X400I_RTSE_LIND_U_ABORT, "\xb6\x03\x80\x01\x06", 5, 0 },
            [F_ABORT_BARE] = { X400I_RTSE_LIND_U_ABORT, NULL, 0, 0 },
            [F_P_ABORT] = { X400I_RTSE_LIND_P_ABORT, NULL, 0, 0 },
            [F_U_EXCEPTION] = { X400I_RTSE_LIND_U_EXCEPTION, NULL, 0, 0 },
            [F_DISCARD_CONF] = { X400I_RTSE_LIND_ACT_DISCARD_CONF, NULL, 0, 0 },
        };
        const uint8_t *apdu = (const uint8_t *)low[f].apdu;
        size_t n = low[f].n;
        l.type = low[f].t;
        if (f == F_CONNECT) apdu = wk_rtorq, n = wk_rtorq_len;
        if (f == F_CONNECT_RECOVER) apdu = wk_rtorq_recover, n = wk_rtorq_recover_len;
        if (f == F_CONNECT_OTHER) apdu = wk_rtorq_other, n = wk_rtorq_other_len;
        if (f == F_CONF_ACCEPT) apdu = wk_rtoac, n = wk_rtoac_len;
        l.apdu = apdu;
        l.apdu_len = n;
        l.serial = low[f].serial;
        l.accepted = f != F_CONF_REFUSE;
        l.ref = &wk_ref;
        /* the turn stays where it was; a connect confirm gives it to the initiator */
        l.turn = f == F_CONF_ACCEPT || x400i_rtse_has_turn(w->rt);
        l.id = (const uint8_t *)(f == F_RESUME_NEW ? "\x02" : "\x01");
        l.id_len = 1;
        l.old_id = (const uint8_t *)(f == F_RESUME_NEW ? "\x09" : "\x01");
        l.old_id_len = 1;
        *ev = EV_L_FIRST + (int)l.type;
        return x400i_rtse_lower_input(w->rt, &l);
    }
}

/* The APDUs the firings carry, made by machines of the walk. */
static void wk_capture(void)
{
    wk w;
    memset(wk_big, 0x5a, sizeof wk_big);
    sc_init_wait_conf(&w);
    memcpy(wk_rtorq, w.connect_apdu, wk_rtorq_len = w.connect_len);
    x400i_rtse_free(w.rt);
    sc_resp_open(&w);
    memcpy(wk_rtoac, w.rsp_apdu, wk_rtoac_len = w.rsp_len);
    x400i_rtse_free(w.rt);
    sc_init_recovering(&w);
    memcpy(wk_rtorq_recover, w.connect_apdu, wk_rtorq_recover_len = w.connect_len);
    x400i_rtse_free(w.rt);
    /* a recovery of another connection: the same RTORQ with another calling reference */
    ck_assert_int_eq(x400i_rtse_rtorq_recover_ref(wk_rtorq_recover, wk_rtorq_recover_len, &(x400i_rtse_ref){ 0 }), 1);
    /* an RT-OPEN's RTORQ (connectionDataRQ open): no recovery, said without asn1c */
    ck_assert_int_eq(x400i_rtse_rtorq_recover_ref(wk_rtorq, wk_rtorq_len, &(x400i_rtse_ref){ 0 }), 0);
    ck_assert_int_eq(x400i_rtse_rtorq_recover_ref(wk_rtorq, wk_rtorq_len - 1, &(x400i_rtse_ref){ 0 }), X400_ERR_PARSE);
    memcpy(wk_rtorq_other, wk_rtorq_recover, wk_rtorq_other_len = wk_rtorq_recover_len);
    {
        size_t i = 0;
        while (i + wk_ref.calling_len <= wk_rtorq_other_len &&
               memcmp(wk_rtorq_other + i, wk_ref.calling, wk_ref.calling_len) != 0)
            i++;
        ck_assert_uint_lt(i + wk_ref.calling_len, wk_rtorq_other_len + 1);
        wk_rtorq_other[i] = 'X';
    }
}

START_TEST(table_walk)
{
    static unsigned char seen[X400I_RTSE_ST_COUNT][EV_COUNT][X400I_RTSE_ST_COUNT];
    static unsigned char ran[X400I_RTSE_ST_COUNT][EV_COUNT];
    int have_state[X400I_RTSE_ST_COUNT] = { 0 }, missing = 0;
    memset(seen, 0, sizeof seen);
    memset(ran, 0, sizeof ran);
    ck_assert_int_eq(x400i_rtse_event_count(), EV_COUNT);
    ck_assert_int_eq(x400i_rtse_outcome_count(), O_COUNT);
    wk_capture();
    for (size_t s = 0; s < X400I_ARRAY_LEN(wk_scens); s++)
        for (int f = 0; f < F_COUNT; f++)
            for (int mode = 0; mode < 3; mode++) {
                wk w;
                int ev = -1, st, rc, after, n, declared = 0;
                wk_scens[s].setup(&w);
                st = x400i_rtse_state(w.rt);
                ck_assert_msg(st == wk_scens[s].state, "%s reached %s", wk_scens[s].name, x400i_rtse_state_name(st));
                have_state[st] = 1;
                w.fail = mode == 1;
                w.cb_fail = mode == 2;
                rc = wk_fire(&w, f, &ev);
                after = x400i_rtse_state(w.rt);
                ck_assert_msg(x400i_rtse_undeclared(w.rt) == 0, "%s, %s (mode %d): an outcome the cell lacks",
                              wk_scens[s].name, x400i_rtse_event_name(ev), mode);
                if (x400i_rtse_table_entry(st, ev, &n) && IS_USER_EV(ev) && rc < 0 && after == st) {
                    /* the action refused the request (its predicate failed): no effect */
                    ck_assert_msg(rc == X400_ERR_STATE || rc == X400_ERR_INVALID_ARG, "%s, %s: %d",
                                  wk_scens[s].name, x400i_rtse_event_name(ev), rc);
                    ran[st][ev] = 1;
                } else if (x400i_rtse_table_entry(st, ev, &n)) {
                    for (int o = 0; o < O_COUNT; o++) declared |= x400i_rtse_table_next(st, ev, o) == after;
                    ck_assert_msg(declared, "%s, %s (mode %d): in %s, not a state of the cell", wk_scens[s].name,
                                  x400i_rtse_event_name(ev), mode, x400i_rtse_state_name(after));
                    seen[st][ev][after] = 1;
                    ran[st][ev] = 1;
                } else if (ev == EV_TRANSFER_ACCEPT || IS_TIMER_EV(ev)) {
                    ck_assert_int_eq(rc, X400_OK); /* nothing deferred / a timer that does not apply */
                    ck_assert_int_eq(after, st);
                } else if (IS_USER_EV(ev)) {
                    ck_assert_msg(rc == X400_ERR_STATE || rc == X400_ERR_INVALID_ARG, "%s, %s: %d", wk_scens[s].name,
                                  x400i_rtse_event_name(ev), rc);
                    ck_assert_int_eq(after, st);
                } else if (st == X400I_RTSE_ST_CLOSED) {
                    ck_assert_int_eq(rc, X400_ERR_CLOSED);
                    ck_assert_int_eq(after, st);
                } else {
                    ck_assert_int_eq(rc, X400_ERR_PROTOCOL);
                    ck_assert_int_eq(after, X400I_RTSE_ST_CLOSED);
                    ck_diag(x400i_rtse_diag(w.rt)->text, "not allowed in state");
                }
                x400i_rtse_free(w.rt);
            }
    for (int st = 0; st < X400I_RTSE_ST_COUNT; st++) {
        ck_assert_msg(have_state[st], "no scenario reaches %s", x400i_rtse_state_name(st));
        for (int ev = 0; ev < EV_COUNT; ev++) {
            int n;
            if (!x400i_rtse_table_entry(st, ev, &n)) continue;
            if (!ran[st][ev]) {
                fprintf(stderr, "table walk: %s x %s never ran\n", x400i_rtse_state_name(st), x400i_rtse_event_name(ev));
                missing++;
                continue;
            }
            for (int o = 0; o < O_COUNT; o++) {
                int to = x400i_rtse_table_next(st, ev, o);
                if (to >= 0 && !seen[st][ev][to]) {
                    fprintf(stderr, "table walk: %s x %s -> %s declared, never reached\n", x400i_rtse_state_name(st),
                            x400i_rtse_event_name(ev), x400i_rtse_state_name(to));
                    missing++;
                }
            }
        }
    }
    ck_assert_int_eq(missing, 0);
}
END_TEST

/* ---- tshark ---------------------------------------------------------------------- */

/* An MTS-APDU message (X.411) as test/check_asn1.c builds it. */
static const uint8_t p1_message[] = {
0xa0, 0x82, 0x01, 0x06, 0x31, 0x81, 0xf5, 0x60, 0x1c, 0x30, 0x1a, 0x61,
0x04, 0x13, 0x02, 0x58, 0x58, 0x62, 0x03, 0x13, 0x01, 0x20, 0x83, 0x03,
0x4f, 0x52, 0x47, 0xa5, 0x08, 0x80, 0x06, 0x53, 0x65, 0x6e, 0x64, 0x65,
0x72, 0x64, 0x1d, 0x63, 0x11, 0x61, 0x04, 0x13, 0x02, 0x58, 0x58, 0x62,
0x03, 0x13, 0x01, 0x20, 0x13, 0x04, 0x50, 0x52, 0x4d, 0x44, 0x16, 0x08,
0x6d, 0x73, 0x67, 0x2d, 0x30, 0x30, 0x30, 0x31, 0x46, 0x01, 0x16, 0x47,
0x01, 0x02, 0x69, 0x3c, 0x30, 0x3a, 0x63, 0x11, 0x61, 0x04, 0x13, 0x02,
0x58, 0x58, 0x62, 0x03, 0x13, 0x01, 0x20, 0x13, 0x04, 0x50, 0x52, 0x4d,
0x44, 0x31, 0x25, 0x80, 0x0d, 0x32, 0x34, 0x30, 0x31, 0x30, 0x31, 0x31,
0x32, 0x30, 0x30, 0x30, 0x30, 0x5a, 0x81, 0x0d, 0x32, 0x34, 0x30, 0x31,
0x30, 0x31, 0x31, 0x33, 0x30, 0x30, 0x30, 0x30, 0x5a, 0x82, 0x01, 0x00,
0x83, 0x02, 0x07, 0x80, 0xa1, 0x14, 0x30, 0x12, 0x61, 0x04, 0x13, 0x02,
0x58, 0x58, 0x62, 0x06, 0x13, 0x04, 0x41, 0x44, 0x4d, 0x44, 0x04, 0x02,
0xca, 0xfe, 0xa2, 0x4c, 0x31, 0x24, 0x60, 0x1b, 0x30, 0x19, 0x61, 0x04,
0x13, 0x02, 0x58, 0x58, 0x62, 0x03, 0x13, 0x01, 0x20, 0x83, 0x03, 0x4f,
0x52, 0x47, 0xa5, 0x07, 0x80, 0x05, 0x52, 0x63, 0x70, 0x74, 0x31, 0x80,
0x01, 0x01, 0x81, 0x02, 0x00, 0x90, 0x31, 0x24, 0x60, 0x1b, 0x30, 0x19,
0x61, 0x04, 0x13, 0x02, 0x58, 0x58, 0x62, 0x03, 0x13, 0x01, 0x20, 0x83,
0x03, 0x4f, 0x52, 0x47, 0xa5, 0x07, 0x80, 0x05, 0x52, 0x63, 0x70, 0x74,
0x32, 0x80, 0x01, 0x02, 0x81, 0x02, 0x00, 0x90, 0xa3, 0x0e, 0x30, 0x0c,
0x80, 0x01, 0x01, 0x81, 0x02, 0x06, 0x40, 0xa2, 0x03, 0x0a, 0x01, 0x01,
0x04, 0x0c, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x2c, 0x20, 0x77, 0x6f, 0x72,
0x6c, 0x64
};

/* The same message with a content of n octets (lengths recomputed). */
static uint8_t *big_message(size_t content, size_t *out)
{
    /* p1_message = A0 81/82 L { envelope, 04 0C "hello, world" } */
    size_t off = 1, l;
    uint8_t *m;
    size_t hl = (p1_message[1] & 0x80) ? 2 + (p1_message[1] & 0x7f) : 2;
    size_t env_len;
    (void)off;
    (void)l;
    env_len = sizeof p1_message - hl - 14;
    size_t body = env_len + 4 + content;
    m = malloc(body + 8);
    m[0] = 0xa0;
    m[1] = 0x83;
    m[2] = (uint8_t)(body >> 16);
    m[3] = (uint8_t)(body >> 8);
    m[4] = (uint8_t)body;
    memcpy(m + 5, p1_message + hl, env_len);
    m[5 + env_len] = 0x04;
    m[6 + env_len] = 0x82;
    m[7 + env_len] = (uint8_t)(content >> 8);
    m[8 + env_len] = (uint8_t)content;
    memset(m + 9 + env_len, 'x', content);
    *out = 9 + env_len + content;
    return m;
}

static void tshark_case(const char *name, const uint8_t *msg, size_t n, uint32_t cp, const char *opts)
{
    x400_rtse_config c = cfg_of(cp, 5, 1, 0);
    x400t_rl h;
    x400t_wire w;
    char err[4096];
    char o[512];
    static const char *const expect[2] = { "rtse", "p1" };
    snprintf(o, sizeof o, "-o 'uat:pres_context_list:\"3\",\"2.6.0.2.12\"' "
                          "-o 'uat:pres_context_list:\"5\",\"2.6.0.2.7\"' %s", opts);
    x400t_wire_init(&w);
    x400t_rl_init(&h, &c, &c);
    h.pres_wrap = 1;
    x400t_rl_open(&h);
    h.io.wire = &w; /* the capture starts after the CN/AC */
    ck_assert_int_eq(x400i_rtse_transfer_req(h.a.rt, msg, n, X400_RTSE_PRIO_NORMAL, 1), 0);
    x400t_rl_pump(&h);
    ck_assert_int_eq(h.a.last_result, X400_OK);
    ck_assert_uint_eq(h.b.in.done_len, n);
    /* nothing flagged; tshark saw RTSE and P1 (one tshark run) */
    ck_assert_msg(x400t_wire_expect(&w, name, o, expect, 2, err, sizeof err) == 0, "%s", err);
    x400t_wire_free(&w);
    x400t_rl_free(&h);
}

START_TEST(tshark_normal_mode)
{
    size_t n;
    uint8_t *m = big_message(5000, &n);
    tshark_case("rtse_small", p1_message, sizeof p1_message, 30, "");
    tshark_case("rtse_small_noreasm", p1_message, sizeof p1_message, 30, "-o rtse.reassemble:FALSE");
    tshark_case("rtse_pieces", m, n, 1, ""); /* five RTTR pieces, minor syncs, reassembled at the end */
    free(m);
}
END_TEST

Suite *x400t_suite_rtse(void)
{
    Suite *s = suite_create("rtse");
    TCase *tc = tcase_create("rtpm");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, transfers_normal_twa);
    tcase_add_test(tc, transfers_normal_monologue);
    tcase_add_test(tc, transfers_x410_twa);
    tcase_add_test(tc, transfers_x410_monologue);
    tcase_add_test(tc, transfer_10mib);
    tcase_add_test(tc, no_checkpointing);
    tcase_add_test(tc, negotiation);
    tcase_add_test(tc, user_abort);
    tcase_add_test(tc, recovery_timeout_restarts);
    tcase_add_test(tc, peer_never_confirms);
    tcase_add_test(tc, deferred_end_survives_recovery);
    tcase_add_test(tc, bad_rtorq);
    tcase_add_test(tc, bad_lower_input);
    tcase_add_test(tc, bad_rtab);
    tcase_add_test(tc, bad_rtoac_and_callbacks);
    tcase_add_test(tc, records);
    tcase_add_test(tc, config_and_table);
    tcase_add_test(tc, table_walk);
    tcase_add_test(tc, tshark_normal_mode);
    suite_add_tcase(s, tc);
    tc = tcase_create("recovery");   /* long fault runs: make check-long */
    tcase_set_tags(tc, X400T_LONG_TAG);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, cuts_cp1_w5);
    tcase_add_test(tc, cuts_cp30_w5);
    tcase_add_test(tc, cuts_x410_cp4_w3);
    tcase_add_test(tc, cuts_receiver_restart);
    suite_add_tcase(s, tc);
    return s;
}
