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

#include "rtse.h"
#include "support_rtse_lower.h"
#include "wire.h"
#include "x400t.h"

static uint8_t *pattern(size_t n, uint32_t seed)
{
    uint8_t *p = malloc(n ? n : 1);
    uint32_t x = seed ? seed : 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
    return p;
}

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
    uint8_t *d = pattern(n, seed);
    int before_ind = to->nind[X400I_RTSE_TRANSFER_IND], before_conf = from->nind[X400I_RTSE_TRANSFER_CONF];
    ck_assert_int_eq(x400i_rtse_transfer_req(from->rt, d, n, X400_RTSE_PRIO_NORMAL, 77 + n), 0);
    x400t_rl_pump(h);
    ck_assert_int_eq(from->nind[X400I_RTSE_TRANSFER_CONF], before_conf + 1);
    ck_assert_int_eq(from->last_result, X400_OK);
    ck_assert_uint_eq(from->last_tid, 77 + n);
    ck_assert_int_eq(to->nind[X400I_RTSE_TRANSFER_IND], before_ind + 1);
    ck_assert_uint_eq(to->done_len, n);
    ck_assert(n == 0 || memcmp(to->done, d, n) == 0);
    ck_assert_int_eq(to->gap_or_dup, 0);
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
        uint8_t *d = pattern(300000, 6);
        h.count_from = &h.a;
        h.cut_at = 100000;
        h.cut_armed = 1;
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
    uint8_t *d = pattern(1u << 20, 9);
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
    h.count_from = &h.a;
    h.cut_at = cut_at;
    h.cut_armed = 1;
    h.net_down = restart;
    ck_assert_int_eq(x400i_rtse_transfer_req(h.a.rt, d, n, X400_RTSE_PRIO_NORMAL, 1), 0);
    x400t_rl_pump(&h);
    ck_assert_int_eq(h.cuts, 1);
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
    ck_assert_int_eq(h.b.gap_or_dup, 0);
    ck_assert_uint_eq(h.b.done_len, n);
    ck_assert_uint_eq(fnv(h.b.done, n), fnv(d, n));
    ck_assert(memcmp(h.b.done, d, n) == 0);
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

/* The TSDU lengths a sends during an uncut transfer (cut classes). */
static size_t *tsdu_bounds(const x400_rtse_config *c, const uint8_t *d, size_t n, size_t *count)
{
    x400t_rl h;
    size_t *cum;
    x400t_rl_init(&h, c, c);
    x400t_rl_open(&h);
    h.count_from = &h.a;
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
    uint8_t *d = pattern(n, 1234);
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
    suite_add_tcase(s, tc);
    tc = tcase_create("recovery");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, cuts_cp1_w5);
    tcase_add_test(tc, cuts_cp30_w5);
    tcase_add_test(tc, cuts_x410_cp4_w3);
    tcase_add_test(tc, cuts_receiver_restart);
    suite_add_tcase(s, tc);
    return s;
}
