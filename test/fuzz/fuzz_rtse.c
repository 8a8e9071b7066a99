/* Fuzz target: RTSE APDU decoding and the RTSE protocol machine.
 *
 * Input: byte 0 selects the mode, the rest is a sequence of frames
 * {type(1), length(2, big-endian), octets}.  Every frame's octets also go
 * through the stand-alone decoders (RTORQ recover reference, recovery
 * record).
 *   mode % 3 == 0: a responder RTPM (after a valid RTORQ open, accepted);
 *   mode % 3 == 1: an initiator RTPM (RT-OPEN requested);
 *   mode % 3 == 2: a responder restored from the first frame as a record.
 * Frame type % X400I_RTSE_LIND_COUNT is the lower indication; its octets
 * are the APDU (CONNECT, CONNECT_CONF, DATA, TOKEN_PLEASE, U_ABORT), the
 * activity identifiers and serial number.  Type >= 0xf0: a user request
 * (transfer, turn please/give, close, abort) or a clock step. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rtse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct fz { x400i_rtse *r; uint32_t serial; uint8_t apdu[64]; } fz;

static int l_conn(void *u, int t, const uint8_t *p, size_t n) { (void)u; (void)t; (void)p; (void)n; return 0; }
static int l_rsp(void *u, int a, const uint8_t *p, size_t n) { (void)u; (void)a; (void)p; (void)n; return 0; }
static int l_data(void *u, const uint8_t *p, size_t n)
{
    volatile uint8_t s = 0;
    (void)u;
    for (size_t i = 0; i < n; i++) s ^= p[i];
    (void)s;
    return 0;
}
static int l_sync(void *u, uint32_t *serial) { *serial = ++((fz *)u)->serial; return 0; }
static int l_sync_rsp(void *u, uint32_t s) { (void)u; (void)s; return 0; }
static int l_start(void *u, const uint8_t *id, size_t n) { (void)u; (void)id; (void)n; ((fz *)u)->serial = 0; return 0; }
static int l_resume(void *u, const uint8_t *id, size_t n, const uint8_t *o, size_t on, uint32_t s,
                    const x400i_rtse_ref *ref)
{
    (void)id; (void)n; (void)o; (void)on; (void)ref;
    ((fz *)u)->serial = s;
    return 0;
}
static int l_void(void *u) { (void)u; return 0; }
static int l_end(void *u, uint32_t *serial) { *serial = ++((fz *)u)->serial; return 0; }

static int ind(void *user, const x400i_rtse_ind *i)
{
    fz *f = user;
    volatile uint8_t s = 0;
    for (size_t k = 0; k < i->user_data_len; k++) s ^= i->user_data[k];
    for (size_t k = 0; k < i->data_len; k++) s ^= i->data[k];
    for (size_t k = 0; k < i->record_len; k++) s ^= i->record[k];
    (void)s;
    if (i->type == X400I_RTSE_OPEN_IND) (void)x400i_rtse_open_rsp(f->r, 1, -1, NULL, 0);
    if (i->type == X400I_RTSE_CLOSE_IND) (void)x400i_rtse_close_rsp(f->r);
    if (i->record_len) (void)x400_rtse_record_info_get(i->record, i->record_len, NULL);
    return 0;
}

/* RTORQ { checkpointSize 1, windowSize 2, dialogueMode twa, open NULL } */
static const uint8_t rtorq[] = { 0xb0, 0x0f, 0x80, 0x01, 0x01, 0x81, 0x01, 0x02, 0x82, 0x01, 0x01,
                                 0xa3, 0x04, 0xa0, 0x02, 0x05, 0x00 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t payload[4096]; /* what RT-TRANSFER requests send */
    x400i_rtse_lower lo = { NULL, l_conn, l_rsp, l_data, l_sync, l_sync_rsp, l_start, l_resume,
                            l_void, l_void, l_end, l_void, l_data, l_void, l_void, l_void, l_data, NULL, NULL };
    x400i_rtse_callbacks cb = { NULL, ind };
    x400_rtse_config cfg;
    x400i_rtse_ref ref;
    fz f;
    size_t off = 1;
    int mode, first = 1;
    uint64_t now = 1000;
    if (size < 1) return 0;
    mode = data[0] % 3;
    memset(&f, 0, sizeof f);
    lo.user = &f;
    cb.user = &f;
    x400_rtse_config_default(&cfg);
    cfg.checkpoint_size_kib = 1;
    cfg.window_size = 2;
    cfg.x410_mode = (data[0] >> 2) & 1;
    cfg.max_apdu_size = 1u << 20;
    if (x400i_rtse_new(&f.r, mode == 1, &cfg, &lo, &cb, NULL, NULL) != 0) return 0;
    x400i_rtse_tick(f.r, now);
    if (mode == 0) {
        x400i_rtse_lind l;
        memset(&l, 0, sizeof l);
        l.type = X400I_RTSE_LIND_CONNECT;
        l.apdu = rtorq;
        l.apdu_len = sizeof rtorq;
        (void)x400i_rtse_lower_input(f.r, &l);
    } else if (mode == 1) {
        (void)x400i_rtse_open_req(f.r, NULL, 0);
    }
    while (size - off >= 3) {
        uint8_t t = data[off];
        size_t n = (size_t)data[off + 1] << 8 | data[off + 2];
        const uint8_t *p = data + off + 3;
        x400i_rtse_lind l;
        off += 3;
        if (n > size - off) n = size - off;
        off += n;
        (void)x400i_rtse_rtorq_recover_ref(p, n, &ref);
        (void)x400_rtse_record_info_get(p, n, NULL);
        if (mode == 2 && first) {
            (void)x400i_rtse_restore(f.r, p, n);
            first = 0;
            continue;
        }
        first = 0;
        if (t >= 0xf0) {
            switch (t & 7) {
            case 0: (void)x400i_rtse_transfer_req(f.r, payload, n * 4 < sizeof payload ? n * 4 : sizeof payload,
                                                  X400_RTSE_PRIO_NORMAL, 1); break;
            case 1: (void)x400i_rtse_turn_please_req(f.r, n); break;
            case 2: (void)x400i_rtse_turn_give_req(f.r); break;
            case 3: (void)x400i_rtse_close_req(f.r); break;
            case 4: (void)x400i_rtse_u_abort_req(f.r, p, n > 8 ? 8 : n); break;
            default: now += (uint64_t)n * 1000; (void)x400i_rtse_tick(f.r, now); break;
            }
            continue;
        }
        memset(&l, 0, sizeof l);
        l.type = (x400i_rtse_lind_type)(t % X400I_RTSE_LIND_COUNT);
        l.apdu = p;
        l.apdu_len = n;
        l.accepted = (t >> 5) & 1;
        l.turn = (t >> 6) & 1;
        l.serial = n ? p[0] : 0;
        l.id = p;
        l.id_len = n < 6 ? n : 6;
        l.old_id = n > 1 ? p + 1 : p;
        l.old_id_len = n > 1 ? (n - 1 < 6 ? n - 1 : 6) : 0;
        (void)x400i_rtse_lower_input(f.r, &l);
    }
    x400i_rtse_free(f.r);
    return 0;
}
