/* libFuzzer target: RFC 1006 TPKT + X.224 class 0 input (lib/transport.c).
 *
 * Input layout: octet 0 = flags (bit 0 initiator: a CR is sent first and the
 * input is the responder's stream; bit 1 echo every TSDU back; bit 2 small
 * max_tsdu; bits 3-4 max TPDU size 65531/128/1024/2048; bit 5 refuse the CR;
 * bit 6 data_ind fails on TSDUs over 100 octets), octet 1 = chunk size the
 * stream is fed in (0: all at once), the rest = bytes from TCP. */
#include <stdint.h>
#include <string.h>

#include "transport.h"

typedef struct { x400i_tp *tp; unsigned flags; int disc; } fz;

static int f_connect_ind(void *u, const x400i_tp_conn_info *ci)
{
    fz *f = u;
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < ci->calling_tsel_len; i++) sink ^= ci->calling_tsel[i];
    for (size_t i = 0; i < ci->called_tsel_len; i++) sink ^= ci->called_tsel[i];
    (void)sink;
    return (f->flags & 0x20) ? 3 : 0;
}
static void f_connect_conf(void *u, const x400i_tp_conn_info *ci) { (void)u; (void)ci; }
static int f_data_ind(void *u, const uint8_t *p, size_t n)
{
    fz *f = u;
    volatile uint8_t sink = 0;
    if (n) sink = p[0] ^ p[n - 1];
    (void)sink;
    if (f->flags & 0x02) (void)x400i_tp_send(f->tp, p, n);
    return ((f->flags & 0x40) && n > 100) ? -1 : 0;
}
static void f_disconnect_ind(void *u, int reason, const x400_diag *d)
{
    fz *f = u;
    (void)reason;
    (void)d;
    f->disc++;
    if (f->disc > 1) __builtin_trap(); /* at most once */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t sizes[4] = { 0, 128, 1024, 2048 };
    fz f;
    x400i_tp_config cfg;
    x400i_tp_callbacks cb = { &f, f_connect_ind, f_connect_conf, f_data_ind, f_disconnect_ind };
    size_t chunk, off = 0;
    const uint8_t *p;
    if (size < 2) return 0;
    memset(&f, 0, sizeof f);
    memset(&cfg, 0, sizeof cfg);
    f.flags = data[0];
    chunk = data[1];
    data += 2;
    size -= 2;
    if (!chunk) chunk = size ? size : 1;
    memcpy(cfg.calling_tsel, "X400-88", 7);
    cfg.calling_tsel_len = 7;
    cfg.max_tpdu_size = sizes[(f.flags >> 3) & 3];
    cfg.max_tsdu = (f.flags & 0x04) ? 300 : 1 << 16;
    cfg.max_output = 1 << 20;
    if (x400i_tp_new(&f.tp, f.flags & 1, &cfg, &cb, NULL, NULL) != X400_OK) return 0;
    if (f.flags & 1) {
        if (x400i_tp_connect(f.tp) != X400_OK) __builtin_trap();
        x400i_tp_sent(f.tp, x400i_tp_pending(f.tp, &p));
    }
    while (off < size) {
        size_t m = size - off < chunk ? size - off : chunk;
        int rv = x400i_tp_input(f.tp, data + off, m);
        if (rv >= 0 && (size_t)rv != m) __builtin_trap();
        if (x400i_tp_diag(f.tp) == NULL) __builtin_trap();
        /* write half of what is pending, as a slow socket would */
        x400i_tp_sent(f.tp, (x400i_tp_pending(f.tp, &p) + 1) / 2);
        if (rv < 0) break;
        off += m;
    }
    x400i_tp_transport_closed(f.tp);
    x400i_tp_free(f.tp);
    return 0;
}
