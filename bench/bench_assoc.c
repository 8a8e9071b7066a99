/* Associations in memory (transport, session, presentation, ACSE):
 * user-data throughput through an initiator/responder pair, each P-DATA
 * one DT SPDU carrying a 1 KiB or 64 KiB OCTET STRING as one PDV on the
 * RTSE context (as RTSE's RTTR travels), and the memory
 * an idle, established association holds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assoc_int.h"
#include "bench.h"
#include "pair.h"

/* Counting allocator: live bytes, with a size header per block. */
struct counter { size_t live, peak; };
static void *c_malloc(size_t n, void *u)
{
    struct counter *c = u;
    size_t *p = malloc(n + 16);
    if (!p) return NULL;
    p[0] = n;
    c->live += n;
    if (c->live > c->peak) c->peak = c->live;
    return (char *)p + 16;
}
static void c_free(void *q, void *u)
{
    struct counter *c = u;
    size_t *p;
    if (!q) return;
    p = (size_t *)(void *)((char *)q - 16);
    c->live -= p[0];
    free(p);
}
static void *c_calloc(size_t m, size_t n, void *u)
{
    void *p = c_malloc(m * n, u);
    if (p) memset(p, 0, m * n);
    return p;
}
static void *c_realloc(void *q, size_t n, void *u)
{
    void *p;
    size_t old;
    if (!q) return c_malloc(n, u);
    old = *(size_t *)(void *)((char *)q - 16);
    p = c_malloc(n, u);
    if (!p) return NULL;
    memcpy(p, q, old < n ? old : n);
    c_free(q, u);
    return p;
}

struct pair { x400_assoc *ini, *rsp; size_t received; };

static int rsp_ind(void *u, x400_assoc *a, const x400i_rtse_lind *ind)
{
    struct pair *p = u;
    if (ind->type == X400I_RTSE_LIND_CONNECT) return x400i_assoc_associate_rsp(a, 1, NULL, 0);
    if (ind->type == X400I_RTSE_LIND_DATA) p->received += ind->apdu_len;
    return 0;
}

/* One P-DATA: the n octets as an OCTET STRING, one PDV single-ASN1-type on
 * the id-as-mta-rtse context (where RTSE puts its RTTR); the receiver
 * counts the whole value. */
static int send_pdv(x400_assoc *a, const uint8_t *buf, size_t n, size_t *counted)
{
    x400i_buf b;
    int rv;
    x400i_buf_init(&b, NULL, n + 16);
    rv = x400i_ber_put(&b, 0x04, buf, n);
    if (rv >= 0) rv = x400i_assoc_data_req(a, b.p, b.len);
    if (rv >= 0 && counted) *counted += b.len;
    x400i_buf_free(&b);
    return rv;
}

static void pump(struct pair *p)
{
    x400t_pair io;
    x400t_pair_init(&io, &x400t_assoc_end, p->ini, p->rsp);
    io.direct = 1;
    if (x400t_pair_pump(&io) < 0 || io.refused) {
        fprintf(stderr, "bench assoc: %s\n", io.refused ? "recv failed" : io.err);
        exit(1);
    }
    x400t_pair_free(&io);
}

static void open_pair(struct pair *p, const x400_allocator *al)
{
    x400_assoc_config ci, cr;
    x400i_assoc_upper ur = { p, NULL, rsp_ind };
    memset(p, 0, sizeof *p);
    x400_assoc_config_init(&ci, X400_ROLE_INITIATOR);
    x400_assoc_config_init(&cr, X400_ROLE_RESPONDER);
    if (x400_assoc_new(&p->ini, &ci, NULL, al) < 0 || x400_assoc_new(&p->rsp, &cr, NULL, al) < 0)
        exit(1);
    x400i_assoc_set_upper(p->rsp, &ur);
    x400_assoc_connect(p->ini);
    pump(p);
    if (x400_assoc_get_state(p->rsp) != X400_ASSOC_ESTABLISHED) {
        fprintf(stderr, "bench assoc: not established\n");
        exit(1);
    }
}

struct tput { size_t ssdu; size_t total; };

static double run_tput(void *arg)
{
    struct tput *t = arg;
    struct pair p;
    uint8_t *buf = malloc(t->ssdu);
    double t0, dt;
    size_t sent = 0;
    memset(buf, 0x5a, t->ssdu);
    open_pair(&p, NULL);
    t0 = x400b_now();
    while (sent < t->total) {
        if (send_pdv(p.ini, buf, t->ssdu, &sent) < 0) exit(1);
        pump(&p);
    }
    dt = x400b_now() - t0;
    if (p.received != sent) { fprintf(stderr, "bench assoc: lost data\n"); exit(1); }
    x400_assoc_free(p.ini);
    x400_assoc_free(p.rsp);
    free(buf);
    return (double)sent / dt;
}

void x400b_bench_assoc(void);
void x400b_bench_assoc(void)
{
    struct tput small = { 1024, 64u << 20 }, large = { 65536, 256u << 20 };
    struct counter c = { 0, 0 };
    x400_allocator al = { &c, c_malloc, c_free, c_calloc, c_realloc };
    struct pair p;
    x400b_report("assoc_dt_1kib", x400b_median_rate(run_tput, &small), "bytes/s");
    x400b_report("assoc_dt_64kib", x400b_median_rate(run_tput, &large), "bytes/s");
    /* memory of an established, idle pair, after traffic has come and gone */
    open_pair(&p, &al);
    {
        uint8_t buf[1024] = { 0 };
        send_pdv(p.ini, buf, sizeof buf, NULL);
        pump(&p);
    }
    x400b_report("assoc_idle_memory", (double)c.live / 2, "bytes/assoc");
    x400b_report("assoc_setup_peak_memory", (double)c.peak / 2, "bytes/assoc");
    x400_assoc_free(p.ini);
    x400_assoc_free(p.rsp);
}
