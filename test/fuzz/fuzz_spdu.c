/* Fuzz target: the X.225 SPDU decoder and the session protocol machine.
 *
 * Input: byte 0 selects the mode, the rest is the payload.
 *   mode % 3 == 0: the payload is one TSDU for the decoder; whatever decodes
 *                  is re-encoded and must decode again to the same kinds.
 *   mode % 3 == 1: a responder SPM that has accepted a real-MTA CN is fed the
 *                  payload as TSDUs framed by 2-octet big-endian lengths.
 *   mode % 3 == 2: the same for an initiator that sent CN (the first TSDU is
 *                  typically an AC).
 * Callbacks answer every indication that wants a response, so deep states
 * are reachable.  The payload of every mode also goes through the decoder. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_decode(const uint8_t *p, size_t n, unsigned flags)
{
    x400i_spdu sp[2], again[2];
    x400_diag d;
    int cnt = x400i_spdu_decode_tsdu(p, n, flags, sp, &d);
    for (int i = 0; i < cnt; i++) {
        x400i_buf b;
        x400i_buf_init(&b, NULL, 1u << 20);
        if (x400i_spdu_encode_tsdu(&b, &sp[i], &d) == 0) {
            int c2 = x400i_spdu_decode_tsdu(b.p, b.len, flags, again, &d);
            x400i_spdu_type want = sp[i].type == X400I_SPDU_AEA ? X400I_SPDU_MAA : sp[i].type;
            if (c2 < 1 || again[c2 - 1].type != want ||
                again[c2 - 1].present != sp[i].present)
                abort(); /* encode/decode disagree */
        }
        x400i_buf_free(&b);
    }
}

typedef struct fz { x400i_ses *s; size_t sent; } fz;

static int f_send(void *user, const uint8_t *p, size_t len)
{
    fz *f = user;
    (void)p;
    f->sent += len;
    return 0;
}

static int f_ind(void *user, const x400i_ses_ind *ind)
{
    fz *f = user;
    /* touch every octet handed up (ASan checks the views) */
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < ind->user_data_len; i++) sink ^= ind->user_data[i];
    (void)sink;
    switch (ind->type) {
    case X400I_SES_CONNECT_IND: (void)x400i_ses_connect_rsp(f->s, 1, 0, X400I_TOKEN_ALL, NULL, 0); break;
    case X400I_SES_MINOR_SYNC_IND: (void)x400i_ses_minor_sync_rsp(f->s, ind->serial, NULL, 0); break;
    case X400I_SES_ACT_END_IND: (void)x400i_ses_activity_end_rsp(f->s, NULL, 0); break;
    case X400I_SES_ACT_INTERRUPT_IND: (void)x400i_ses_activity_interrupt_rsp(f->s); break;
    case X400I_SES_ACT_DISCARD_IND: (void)x400i_ses_activity_discard_rsp(f->s); break;
    case X400I_SES_RELEASE_IND: (void)x400i_ses_release_rsp(f->s, NULL, 0); break;
    case X400I_SES_TOKEN_PLEASE_IND: (void)x400i_ses_token_give_req(f->s, ind->tokens); break;
    case X400I_SES_U_EXCEPTION_IND: (void)x400i_ses_activity_discard_req(f->s, 0); break;
    case X400I_SES_DATA_IND: (void)x400i_ses_u_exception_req(f->s, 1, NULL, 0); break;
    default: break;
    }
    return 0;
}

static const uint8_t cn[] = {
    0x0d, 0x28, 0x01, 0x15, 0x0a, 0x04, 'M', 'T', 'A', 'X', 0x0b, 0x0d, '2', '5', '0', '1', '0', '1',
    '1', '2', '0', '0', '0', '0', 'Z', 0x05, 0x09, 0x13, 0x01, 0x00, 0x16, 0x01, 0x02, 0x1a, 0x01,
    0x00, 0x14, 0x02, 0x02, 0x49, 0xc1, 0x00 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    x400i_ses_config cfg;
    x400i_ses_callbacks cb = { NULL, f_send, f_ind, NULL };
    fz f;
    int mode;
    size_t off = 1;
    if (size < 1) return 0;
    mode = data[0] % 3;
    check_decode(data + 1, size - 1, 0);
    check_decode(data + 1, size - 1, X400I_SPDU_DEC_ACTIVITY);
    if (mode == 0) return 0;
    memset(&cfg, 0, sizeof cfg);
    memset(&f, 0, sizeof f);
    cfg.max_user_data = 4096;
    cfg.versions = (data[0] >> 2) & 3;
    cb.user = &f;
    if (x400i_ses_new(&f.s, mode == 2, &cfg, &cb, NULL, NULL) != 0) return 0;
    if (mode == 1) (void)x400i_ses_input(f.s, cn, sizeof cn);
    else (void)x400i_ses_connect_req(f.s, NULL, 0);
    while (size - off >= 2 && x400i_ses_state(f.s) != X400I_SES_ST_CLOSED) {
        size_t n = (size_t)data[off] << 8 | data[off + 1];
        off += 2;
        if (n > size - off) n = size - off;
        (void)x400i_ses_input(f.s, data + off, n);
        off += n;
    }
    x400i_ses_transport_lost(f.s);
    x400i_ses_free(f.s);
    return 0;
}
