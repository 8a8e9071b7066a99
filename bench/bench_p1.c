/* P1 codec throughput: encodes and decodes per second of a Message with 3
 * recipients, 1 KiB of content, one opaque extension and an internal trace
 * element, against asn1c 0.9.28's plain der_encode / ber_decode (+ free) of
 * the same message in the same run; and the relay path (decode, append a
 * trace element, encode). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <asn_application.h>
#include <ber_decoder.h>
#include <der_encoder.h>
#include <MTS-APDU.h>

#include "bench.h"
#include "x400p1/p1.h"

#define N_OPS 20000

typedef struct ctx {
    x400_p1_apdu msg;          /* the built message */
    uint8_t *ber;              /* its encoding */
    size_t len;
    MTS_APDU_t *asn;           /* asn1c's decoded form of the same bytes */
    uint8_t out[16384];
    unsigned sink;
} ctx;

static x400_gdi gdi(const char *c, const char *a, const char *p)
{
    x400_gdi g;
    memset(&g, 0, sizeof g);
    strcpy(g.country, c);
    strcpy(g.admd, a);
    strcpy(g.prmd, p);
    return g;
}

static uint8_t content[1024];
static x400_p1_recipient recip[3];
static x400_p1_trace trace[1];
static x400_p1_itrace itrace[1];
static uint8_t extb[64];
static x400_bytes ext[1];

static void build(ctx *c)
{
    x400_p1_envelope *e = &c->msg.env;
    if (x400_p1_apdu_init(&c->msg, X400_P1_MESSAGE, NULL)) abort();
    e->id.gdi = gdi("GB", " ", "SMHS");
    strcpy(e->id.local, "LHR1.1JQ8Z7K300.0000000001");
    static const char orig[] = "C=GB;A= ;P=SMHS;O=Org;OU=Ops;S=Smith;G=Ann";
    if (x400_orname_parse(orig, strlen(orig), &e->originator, NULL)) abort();
    e->content_type.builtin = X400_CT_P2_1988;
    strcpy(e->content_id, "bench");
    e->priority = X400_PRIO_URGENT;
    x400_p1_trace_init(&trace[0]);
    trace[0].gdi = e->id.gdi;
    trace[0].arrival = 1700000000;
    e->n_trace = 1;
    e->trace = trace;
    x400_p1_itrace_init(&itrace[0]);
    itrace[0].gdi = e->id.gdi;
    strcpy(itrace[0].mta, "mta-a.smhs");
    itrace[0].arrival = 1700000000;
    e->n_itrace = 1;
    e->itrace = itrace;
    x400_p1_ext_view v;
    static const uint8_t val[] = { 0x03, 0x02, 0x07, 0x80 };
    memset(&v, 0, sizeof v);
    v.standard = 9;
    v.value = (x400_bytes){ val, sizeof val };
    size_t el;
    if (x400_p1_ext_build(&v, extb, sizeof extb, &el, NULL)) abort();
    ext[0] = (x400_bytes){ extb, el };
    e->n_ext = 1;
    e->ext = ext;
    for (int i = 0; i < 3; i++) {
        char t[64];
        x400_p1_recipient_init(&recip[i]);
        snprintf(t, sizeof t, "C=FR;A=ATLAS;O=Org;S=Rcpt%d;G=X", i);
        if (x400_orname_parse(t, strlen(t), &recip[i].name, NULL)) abort();
        recip[i].osrn = (uint32_t)i + 1;
        recip[i].indicators = X400_PRI_RESPONSIBILITY;
    }
    e->n_recip = 3;
    e->recip = recip;
    for (size_t i = 0; i < sizeof content; i++) content[i] = (uint8_t)i;
    c->msg.content = (x400_bytes){ content, sizeof content };
    if (x400_p1_encode_alloc(&c->msg, NULL, &c->ber, &c->len, NULL)) abort();
    asn_dec_rval_t r = ber_decode(NULL, &asn_DEF_MTS_APDU, (void **)&c->asn, c->ber, c->len);
    if (r.code != RC_OK || r.consumed != c->len) abort();
}

static double ours_encode(void *p)
{
    ctx *c = p;
    size_t n;
    double t0 = x400b_now();
    for (int i = 0; i < N_OPS; i++) {
        if (x400_p1_encode(&c->msg, c->out, sizeof c->out, &n, NULL)) abort();
        c->sink += c->out[n / 2];
    }
    return N_OPS / (x400b_now() - t0);
}

static double asn1c_encode(void *p)
{
    ctx *c = p;
    double t0 = x400b_now();
    for (int i = 0; i < N_OPS; i++) {
        asn_enc_rval_t er = der_encode_to_buffer(&asn_DEF_MTS_APDU, c->asn, c->out, sizeof c->out);
        if (er.encoded < 0) abort();
        c->sink += c->out[er.encoded / 2];
    }
    return N_OPS / (x400b_now() - t0);
}

static double ours_decode(void *p)
{
    ctx *c = p;
    x400_p1_apdu a;
    double t0 = x400b_now();
    for (int i = 0; i < N_OPS; i++) {
        if (x400_p1_decode(c->ber, c->len, NULL, NULL, &a, NULL)) abort();
        c->sink += a.env.n_recip;
        x400_p1_apdu_free(&a);
    }
    return N_OPS / (x400b_now() - t0);
}

static double asn1c_decode(void *p)
{
    ctx *c = p;
    double t0 = x400b_now();
    for (int i = 0; i < N_OPS; i++) {
        MTS_APDU_t *m = NULL;
        asn_dec_rval_t r = ber_decode(NULL, &asn_DEF_MTS_APDU, (void **)&m, c->ber, c->len);
        if (r.code != RC_OK) abort();
        c->sink += (unsigned)m->present;
        ASN_STRUCT_FREE(asn_DEF_MTS_APDU, m);
    }
    return N_OPS / (x400b_now() - t0);
}

static double relay(void *p)
{
    ctx *c = p;
    x400_p1_apdu a;
    x400_p1_trace t;
    x400_p1_trace_init(&t);
    t.gdi = gdi("DE", "DBP", "RELAY");
    t.arrival = 1700000100;
    double t0 = x400b_now();
    for (int i = 0; i < N_OPS; i++) {
        size_t n;
        if (x400_p1_decode(c->ber, c->len, NULL, NULL, &a, NULL)) abort();
        if (x400_p1_trace_append(&a, &t)) abort();
        if (x400_p1_encode(&a, c->out, sizeof c->out, &n, NULL)) abort();
        c->sink += c->out[n - 1];
        x400_p1_apdu_free(&a);
    }
    return N_OPS / (x400b_now() - t0);
}

void x400b_bench_p1(void);
void x400b_bench_p1(void)
{
    ctx *c = calloc(1, sizeof *c);
    if (!c) abort();
    build(c);
    x400b_report("p1_message_octets", (double)c->len, "octets");
    double oe = x400b_median_rate(ours_encode, c);
    double ae = x400b_median_rate(asn1c_encode, c);
    double od = x400b_median_rate(ours_decode, c);
    double ad = x400b_median_rate(asn1c_decode, c);
    double rl = x400b_median_rate(relay, c);
    x400b_report("p1_encode", oe, "msg/s");
    x400b_report("p1_encode_asn1c_der", ae, "msg/s");
    x400b_ratio("p1_encode", "asn1c_der_encode", oe, ae);
    x400b_report("p1_decode", od, "msg/s");
    x400b_report("p1_decode_asn1c_ber", ad, "msg/s");
    x400b_ratio("p1_decode", "asn1c_ber_decode", od, ad);
    x400b_report("p1_relay", rl, "msg/s");
    if (c->sink == 0xFFFFFFFFu) printf("%u\n", c->sink);
    ASN_STRUCT_FREE(asn_DEF_MTS_APDU, c->asn);
    free(c->ber);
    x400_p1_apdu_free(&c->msg);
    free(c);
}
