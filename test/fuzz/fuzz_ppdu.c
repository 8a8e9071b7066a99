/* Fuzz target: the presentation PPDU decoders (after the BER normaliser)
 * and the presentation machine of a real association.
 *
 * Byte 0 selects: 0 CP-type, 1 CPA-PPDU, 2 CPR-PPDU, 3 Abort-type (ARU/ARP),
 * 4 User-data (TD), 5 the payload as TD user data injected into an
 * established responder association (state check, context checks, ARP),
 * 6 the X.410-1984 adapter's decision and decoders (lib/rtse_ses.c): what
 * it takes for an X.410 CP must yield an RTORQ (B0).
 * Whatever decodes as CP is re-encoded and must decode again with the same
 * contexts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "assoc_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void recode_cp(const x400i_ppdu *pp)
{
    x400i_cp_params cp;
    x400i_buf b;
    x400i_ppdu again;
    memset(&cp, 0, sizeof cp);
    cp.ctx = pp->ctx;
    cp.nctx = pp->nctx;
    cp.pdv = pp->pdv;
    cp.npdv = pp->simply_encoded ? 0 : pp->npdv;
    cp.provider_reason = -1;
    x400i_buf_init(&b, NULL, 1u << 20);
    if (x400i_ppdu_encode_cp(&b, &cp) == 0) {
        if (x400i_ppdu_decode(X400I_PPDU_CP, b.p, b.len, &again, NULL, 1u << 20, NULL) != 0 ||
            again.nctx != pp->nctx)
            abort();
        for (size_t i = 0; i < pp->nctx; i++)
            if (again.ctx[i].id != pp->ctx[i].id || !x400i_oidv_eq(&again.ctx[i].as, &pp->ctx[i].as))
                abort();
        x400i_ppdu_release(&again);
    }
    x400i_buf_free(&b);
}

static void pump(x400_assoc *i, x400_assoc *r)
{
    for (int k = 0; k < 10; k++) {
        const uint8_t *b;
        size_t n;
        uint8_t c[4096];
        while ((n = x400_assoc_pending(i, &b)) > 0) {
            if (n > sizeof c) n = sizeof c;
            memcpy(c, b, n); x400_assoc_sent(i, n); (void)x400_assoc_recv(r, c, n);
        }
        while ((n = x400_assoc_pending(r, &b)) > 0) {
            if (n > sizeof c) n = sizeof c;
            memcpy(c, b, n); x400_assoc_sent(r, n); (void)x400_assoc_recv(i, c, n);
        }
    }
}

static void inject(const uint8_t *p, size_t n)
{
    x400_assoc_config ci, cr;
    x400_assoc *i, *r;
    x400i_ses_ind ind;
    x400_assoc_config_init(&ci, X400_ROLE_INITIATOR);
    x400_assoc_config_init(&cr, X400_ROLE_RESPONDER);
    if (x400_assoc_new(&i, &ci, NULL, NULL) || x400_assoc_new(&r, &cr, NULL, NULL)) abort();
    (void)x400_assoc_connect(i);
    pump(i, r);
    if (x400_assoc_get_state(r) != X400_ASSOC_ESTABLISHED) abort();
    memset(&ind, 0, sizeof ind);
    ind.type = X400I_SES_DATA_IND;
    ind.user_data = p;
    ind.user_data_len = n;
    if (x400i_assoc_inject_ses_ind(r, &ind) < 0 && x400_assoc_get_state(r) != X400_ASSOC_ABORTED)
        abort();   /* a refusal is always a clean abort */
    pump(i, r);
    x400_assoc_free(i);
    x400_assoc_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int types[5] = { X400I_PPDU_CP, X400I_PPDU_CPA, X400I_PPDU_CPR, X400I_PPDU_ARU,
                                  X400I_PPDU_TD };
    x400i_ppdu pp;
    x400_diag d;
    unsigned sel;
    if (size < 1) return 0;
    sel = data[0] % 7;
    if (sel == 5) {
        inject(data + 1, size - 1);
        return 0;
    }
    if (sel == 6) {
        x400i_buf b;
        x400i_view v;
        (void)x400i_rtse_ses_takes(data + 1, size - 1);
        for (int t = X400I_PPDU_CP; t <= X400I_PPDU_ARU; t++) {
            x400i_buf_init(&b, NULL, 2 * size + 64);
            if (x400i_rtse_ses_decode(t, data + 1, size - 1, &b, &v) == 0 &&
                (v.len < 2 || !x400i_ber_is_one_tlv(v.p, v.len)))
                abort();   /* a decoded APDU is one whole TLV */
            x400i_buf_free(&b);
        }
        return 0;
    }
    if (x400i_ppdu_decode(types[sel], data + 1, size - 1, &pp, NULL, 1u << 20, &d) == 0 &&
        sel == 0)
        recode_cp(&pp);
    x400i_ppdu_release(&pp);
    return 0;
}
