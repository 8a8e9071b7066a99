/* Presentation benches:
 *   pstate_checks: x400_pstate_check over every (state, event) pair of the
 *     table in turn (accepted and refused alike, the refused ones with a
 *     diagnostic formatted), per second.
 *   pstate_checks_accepted: the same for accepted pairs only (no text),
 *     the path the association takes for every event.
 *   cp_aarq_encode: a CP-type as a real MTA's (contexts 1, 3, 5, BER) with
 *     an AARQ {id-ac-mts-transfer, EXTERNAL {2.1.1, 3, RTORQ}} inside,
 *     built from scratch (ACSE encode + CP encode) per second.
 *   cp_aarq_decode: the same PDU in the real MTA's indefinite-length form
 *     normalised and decoded (CP, then the AARQ in its PDV), freed, per
 *     second.
 * Results are checked so nothing can be optimised away. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acse.h"
#include "bench.h"
#include "presentation.h"
#include "x400p1/pstate.h"

static const uint8_t RTORQ[] = { 0xb0, 0x0b, 0x80, 0x01, 0x3f, 0xa3, 0x06, 0xa0, 0x04,
                                 0xb0, 0x02, 0x05, 0x00 };

static double run_checks(void *arg)
{
    int accepted_only = *(int *)arg;
    unsigned long n = 0, sum = 0;
    double t0 = x400b_now(), t;
    x400_diag d;
    do {
        for (int rep = 0; rep < 100; rep++)
            for (int s = 0; s < X400_PSTATE_COUNT; s++)
                for (int e = 0; e < X400_PEVENT_COUNT; e++) {
                    x400_pstate next;
                    if (accepted_only) {
                        if (x400_pstate_check((x400_pstate)s, (x400_pevent)e, &next, NULL, NULL) == 0) {
                            sum += next;
                            n++;
                        }
                    } else {
                        sum += (unsigned long)(x400_pstate_check((x400_pstate)s, (x400_pevent)e,
                                                                 &next, NULL, &d) == 0);
                        n++;
                    }
                }
        t = x400b_now();
    } while (t - t0 < 0.2);
    if (sum == 0) abort();
    return (double)n / (t - t0);
}

static void ctxs(x400i_pctx ctx[3])
{
    static const uint32_t as[3][5] = { { 2, 2, 1, 0, 1 }, { 2, 6, 0, 2, 12 }, { 2, 6, 0, 2, 7 } };
    memset(ctx, 0, 3 * sizeof *ctx);
    for (int i = 0; i < 3; i++) {
        ctx[i].id = 2 * i + 1;
        x400i_oidv_from_arcs(&ctx[i].as, as[i], 5);
    }
}

static int encode_cp_aarq(x400i_buf *ab, x400i_buf *b, const x400i_pctx *ctx)
{
    static const uint32_t mts[] = { 2, 6, 0, 1, 6 };
    x400i_acse_apdu ap;
    x400i_cp_params cp;
    x400i_pdv pdv;
    x400i_acse_init(&ap, X400I_ACSE_AARQ);
    x400i_oidv_from_arcs(&ap.app_ctx, mts, 5);
    ap.nui = 1;
    ap.ui[0].has_direct = 1;
    ap.ui[0].direct = x400i_oid_ber;
    ap.ui[0].indirect = 3;
    ap.ui[0].v = RTORQ;
    ap.ui[0].len = sizeof RTORQ;
    x400i_buf_reset(ab);
    x400i_buf_reset(b);
    if (x400i_acse_encode(ab, &ap) < 0) return -1;
    pdv.ctx = 1;
    pdv.encoding = X400I_PDV_SINGLE;
    pdv.v = ab->p;
    pdv.len = ab->len;
    memset(&cp, 0, sizeof cp);
    cp.ctx = ctx;
    cp.nctx = 3;
    cp.pdv = &pdv;
    cp.npdv = 1;
    cp.provider_reason = -1;
    return x400i_ppdu_encode_cp(b, &cp);
}

static double run_encode(void *arg)
{
    x400i_pctx ctx[3];
    x400i_buf ab, b;
    unsigned long n = 0, sum = 0;
    double t0 = x400b_now(), t;
    (void)arg;
    ctxs(ctx);
    x400i_buf_init(&ab, NULL, 0);
    x400i_buf_init(&b, NULL, 0);
    do {
        for (int i = 0; i < 1000; i++) {
            if (encode_cp_aarq(&ab, &b, ctx) < 0) abort();
            sum += b.len;
            n++;
        }
        t = x400b_now();
    } while (t - t0 < 0.2);
    x400i_buf_free(&ab);
    x400i_buf_free(&b);
    if (!sum) abort();
    return (double)n / (t - t0);
}

/* The real MTA's form: every constructed value with indefinite length. */
static void to_indefinite(const uint8_t *p, size_t len, x400i_buf *out)
{
    size_t off = 0;
    while (off < len) {
        x400i_tlv t;
        if (x400i_ber_read(p + off, len - off, &t, 64, X400_LAYER_NONE, NULL) < 0) abort();
        if (t.constructed) {
            x400i_buf_append(out, p + off, t.idlen);
            x400i_buf_put_u8(out, 0x80);
            to_indefinite(t.v, t.vlen, out);
            x400i_buf_put_u8(out, 0);
            x400i_buf_put_u8(out, 0);
        } else {
            x400i_buf_append(out, p + off, t.total);
        }
        off += t.total;
    }
}

static double run_decode(void *arg)
{
    const x400i_buf *in = arg;
    unsigned long n = 0, sum = 0;
    double t0 = x400b_now(), t;
    do {
        for (int i = 0; i < 200; i++) {
            x400i_ppdu pp;
            x400i_acse_apdu ap;
            if (x400i_ppdu_decode(X400I_PPDU_CP, in->p, in->len, &pp, NULL, 1u << 20, NULL) < 0 ||
                pp.nctx != 3 || pp.npdv != 1)
                abort();
            if (x400i_acse_decode(pp.pdv[0].v, pp.pdv[0].len, &ap, NULL, NULL) < 0 || ap.nui != 1)
                abort();
            sum += ap.ui[0].len;
            x400i_acse_release(&ap);
            x400i_ppdu_release(&pp);
            n++;
        }
        t = x400b_now();
    } while (t - t0 < 0.2);
    if (!sum) abort();
    return (double)n / (t - t0);
}

void x400b_bench_pres(void);
void x400b_bench_pres(void)
{
    int all = 0, acc = 1;
    x400i_pctx ctx[3];
    x400i_buf ab, b, indef;
    x400b_report("pstate_checks", x400b_median_rate(run_checks, &all) / 1e6, "M/s");
    x400b_report("pstate_checks_accepted", x400b_median_rate(run_checks, &acc) / 1e6, "M/s");
    x400b_report("cp_aarq_encode", x400b_median_rate(run_encode, NULL) / 1e3, "k/s");
    ctxs(ctx);
    x400i_buf_init(&ab, NULL, 0);
    x400i_buf_init(&b, NULL, 0);
    x400i_buf_init(&indef, NULL, 0);
    if (encode_cp_aarq(&ab, &b, ctx) < 0) abort();
    to_indefinite(b.p, b.len, &indef);
    x400b_report("cp_aarq_decode", x400b_median_rate(run_decode, &indef) / 1e3, "k/s");
    x400i_buf_free(&ab);
    x400i_buf_free(&b);
    x400i_buf_free(&indef);
}
