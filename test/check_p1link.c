/* P1 links: the MTA bind on RT-OPEN and MTS-APDU transfer over full
 * associations (transport, session, presentation, ACSE, RTSE), both roles,
 * both modes, with the wire checked by tshark. */
#include <stdlib.h>
#include <string.h>

#include <RTSE-apdus.h>

#include "pair.h"
#include "ppvec.h"
#include "rtse_assoc.h"
#include "wire.h"
#include "x400p1/p1link.h"
#include "data.h"
#include "x400t.h"

#define MAXEV 256
struct side {
    x400_p1_link *l;
    x400_assoc *a;
    int ev[MAXEV];
    int nev;
    int bind_error;
    char peer[40];
    unsigned received, duplicates, sent, failed;
    x400_p1_kind last_kind;
    unsigned last_nrecip;
    size_t last_content;
    uint64_t content_sum;
    char last_local[40];
    x400_diag last_diag;
    int failed_while_bound; /* SEND_FAILED came while the link still said bound */
    int defer;              /* RECEIVED/DUPLICATE/UNDECODABLE return X400_P1_LINK_DEFER */
    uint8_t *last_raw;      /* the last RECEIVED APDU's octets (malloc'd) */
    size_t last_raw_len;
    uint8_t undecodable[64];/* the last UNDECODABLE APDU's octets */
    size_t undecodable_len;
    unsigned last_ntrace;   /* the last RECEIVED APDU's trace (first element) */
    x400_p1_trace last_trace;
    uint32_t last_osrn[4];  /* ... and its first recipients' numbers */
    unsigned q_next, q_misordered; /* RECEIVED "Q.<n>": n expected in order from 0 */
    uint64_t sent_tag_next; /* SENT: each tag the one after the last (from 1) */
    unsigned sent_misordered;
};

static int count_ev(const struct side *s, int t)
{
    int c = 0;
    for (int i = 0; i < s->nev; i++) c += s->ev[i] == t;
    return c;
}

static int on_ev(void *u, x400_p1_link *l, const x400_p1_link_event *e)
{
    struct side *s = u;
    if (s->nev < MAXEV) s->ev[s->nev++] = e->type;
    if (e->diag) s->last_diag = *e->diag;
    switch (e->type) {
    case X400_P1_LINK_EV_BOUND: snprintf(s->peer, sizeof s->peer, "%s", e->peer_name); break;
    case X400_P1_LINK_EV_BIND_REFUSED: s->bind_error = e->bind_error; break;
    case X400_P1_LINK_EV_RECEIVED:
        s->received++;
        s->last_kind = e->apdu->kind;
        s->last_nrecip = e->apdu->env.n_recip;
        s->last_content = e->apdu->content.len;
        for (size_t i = 0; i < e->apdu->content.len; i++) s->content_sum += e->apdu->content.p[i];
        snprintf(s->last_local, sizeof s->last_local, "%s", x400_p1_apdu_id(e->apdu)->local);
        if (!strncmp(s->last_local, "Q.", 2)) s->q_misordered += (unsigned)atoi(s->last_local + 2) != s->q_next++;
        s->last_ntrace = e->apdu->kind == X400_P1_REPORT ? e->apdu->report.n_trace : e->apdu->env.n_trace;
        if (s->last_ntrace)
            s->last_trace = e->apdu->kind == X400_P1_REPORT ? e->apdu->report.trace[0] : e->apdu->env.trace[0];
        for (unsigned i = 0; i < 4; i++)
            s->last_osrn[i] = e->apdu->kind == X400_P1_REPORT
                                  ? (i < e->apdu->report.n_recip ? e->apdu->report.recip[i].osrn : 0)
                                  : (i < e->apdu->env.n_recip ? e->apdu->env.recip[i].osrn : 0);
        free(s->last_raw);
        s->last_raw = malloc(e->raw_len);
        memcpy(s->last_raw, e->raw, e->raw_len);
        s->last_raw_len = e->raw_len;
        break;
    case X400_P1_LINK_EV_DUPLICATE: s->duplicates++; break;
    case X400_P1_LINK_EV_UNDECODABLE:
        s->undecodable_len = e->raw_len;
        memcpy(s->undecodable, e->raw, e->raw_len < sizeof s->undecodable ? e->raw_len : sizeof s->undecodable);
        break;
    case X400_P1_LINK_EV_SENT:
        s->sent++;
        s->sent_misordered += e->tag != ++s->sent_tag_next;
        break;
    case X400_P1_LINK_EV_SEND_FAILED:
        s->failed++;
        s->failed_while_bound += x400_p1_link_is_bound(l);
        break;
    default: break;
    }
    if (s->defer && (e->type == X400_P1_LINK_EV_RECEIVED || e->type == X400_P1_LINK_EV_DUPLICATE ||
                     e->type == X400_P1_LINK_EV_UNDECODABLE))
        return X400_P1_LINK_DEFER;
    return 0;
}

struct pair {
    struct side ini, rsp;
    x400_p1_idset *seen;
    x400t_wire wire;
    int record;
    x400t_pair io;          /* the pump (pair.h) between ini.a and rsp.a */
};

static const x400_p1_peer peers[] = {
    { "MTA-A", (const uint8_t *)"secretA", 7, 1 },
};
static x400_p1_peer_table peer_table = { peers, 1 };

/* when not 0: the initiator's transfer bound (RTSE max_apdu_size) */
static uint64_t OPEN_MAX_APDU;
/* Set before open_pair: the initiator's expected responder password
 * (NULL: not checked) and ExtensionField form (-1: default). */
static const char *expect_rsp_pw;
static int ini_ext_form = -1;
static size_t rsp_max_pdu;   /* 0: default limits */
static const x400_gdi *ini_trace_gdi;       /* NULL: no trace_gdi */
static int64_t (*ini_clock)(void *user);    /* with ini_trace_gdi */
static x400_p1_idset *rsp_seen;             /* NULL: the pair's own received set */

/* The pump between whatever associations ini.a and rsp.a are (a recovery
 * replaces them). */
static void pair_io(struct pair *p)
{
    x400t_pair_init(&p->io, &x400t_assoc_slot_end, &p->ini.a, &p->rsp.a);
}
/* Set before open_pair: the responder's result_cred hook (NULL: none). */
static int (*rsp_result_cred)(void *, const x400_p1_bind *, char *, uint8_t *, size_t *);

static void open_pair(struct pair *p, x400_mode mode, const char *ini_name, const char *ini_pw)
{
    x400_p1_link_config ci, cr;
    x400_assoc_config ai, ar;
    x400_p1_link_callbacks cbi = { &p->ini, on_ev }, cbr = { &p->rsp, on_ev };
    memset(&p->ini, 0, sizeof p->ini);
    memset(&p->rsp, 0, sizeof p->rsp);
    x400t_wire_init(&p->wire);
    pair_io(p);
    ck_assert_int_eq(x400_p1_idset_new(&p->seen, 1000, NULL), X400_OK);
    x400_p1_link_config_init(&ci, X400_ROLE_INITIATOR);
    x400_p1_link_config_init(&cr, X400_ROLE_RESPONDER);
    ci.mode = cr.mode = mode;
    ci.rtse.checkpoint_size_kib = cr.rtse.checkpoint_size_kib = 4;
    if (OPEN_MAX_APDU) ci.rtse.max_apdu_size = OPEN_MAX_APDU;
    snprintf(ci.own_name, sizeof ci.own_name, "%s", ini_name);
    memcpy(ci.own_password, ini_pw, strlen(ini_pw));
    ci.own_password_len = strlen(ini_pw);
    snprintf(cr.own_name, sizeof cr.own_name, "MTA-B");
    memcpy(cr.own_password, "secretB", 7);
    cr.own_password_len = 7;
    cr.check = x400_p1_cred_check_default;
    cr.check_user = &peer_table;
    cr.seen = rsp_seen ? rsp_seen : p->seen;
    if (expect_rsp_pw) {
        ci.peer_password_set = 1;
        ci.peer_password_len = strlen(expect_rsp_pw);
        memcpy(ci.peer_password, expect_rsp_pw, ci.peer_password_len);
    }
    ci.ext_form = ini_ext_form;
    if (rsp_max_pdu) cr.limits.max_pdu = rsp_max_pdu;
    if (ini_trace_gdi) {
        ci.trace_gdi = *ini_trace_gdi;
        ci.clock = ini_clock;
    }
    cr.result_cred = rsp_result_cred;
    cr.result_cred_user = &p->rsp;
    ck_assert_int_eq(x400_p1_link_new(&p->ini.l, &ci, &cbi, NULL), X400_OK);
    ck_assert_int_eq(x400_p1_link_new(&p->rsp.l, &cr, &cbr, NULL), X400_OK);
    x400_assoc_config_init(&ai, X400_ROLE_INITIATOR);
    x400_assoc_config_init(&ar, X400_ROLE_RESPONDER);
    ai.mode = ar.mode = mode;
    ck_assert_int_eq(x400_assoc_new(&p->ini.a, &ai, NULL, NULL), X400_OK);
    ck_assert_int_eq(x400_assoc_new(&p->rsp.a, &ar, NULL, NULL), X400_OK);
    ck_assert_int_eq(x400_p1_link_attach(p->rsp.l, p->rsp.a), X400_OK);
    ck_assert_int_eq(x400_p1_link_attach(p->ini.l, p->ini.a), X400_OK);
    ck_assert_int_eq(x400_assoc_connect(p->ini.a), X400_OK);
}

static void close_pair(struct pair *p)
{
    x400_p1_link_free(p->ini.l);
    x400_p1_link_free(p->rsp.l);
    x400_assoc_free(p->ini.a);
    x400_assoc_free(p->rsp.a);
    x400_p1_idset_free(p->seen);
    x400t_wire_free(&p->wire);
    x400t_pair_free(&p->io);
    free(p->ini.last_raw);
    free(p->rsp.last_raw);
    expect_rsp_pw = NULL;
    ini_ext_form = -1;
    rsp_max_pdu = 0;
    ini_trace_gdi = NULL;
    ini_clock = NULL;
    rsp_result_cred = NULL;
    rsp_seen = NULL;
}

static void pump(struct pair *p)
{
    p->io.wire = p->record ? &p->wire : NULL;
    ck_assert_msg(x400t_pair_pump(&p->io) == 0, "%s", p->io.err);
}

/* A message (or probe) with `nrecip` recipients and `clen` octets. */
struct msg {
    x400_p1_apdu a;
    x400_p1_recipient *r;
    x400_p1_trace t;
    uint8_t *content;
};

static void mk(struct msg *m, x400_p1_kind kind, const char *local, unsigned nrecip, size_t clen)
{
    char rn[64];
    memset(m, 0, sizeof *m);
    ck_assert_int_eq(x400_p1_apdu_init(&m->a, kind, NULL), X400_OK);
    strcpy(m->a.env.id.gdi.country, "GB");
    strcpy(m->a.env.id.gdi.admd, " ");
    strcpy(m->a.env.id.gdi.prmd, "SMHS");
    snprintf(m->a.env.id.local, sizeof m->a.env.id.local, "%s", local);
    m->a.env.originator = x400t_orname("C=GB;A= ;P=SMHS;O=Org;S=Smith;G=Ann");
    m->a.env.content_type.builtin = X400_CT_P2_1988;
    m->r = calloc(nrecip, sizeof *m->r);
    for (unsigned i = 0; i < nrecip; i++) {
        x400_p1_recipient_init(&m->r[i]);
        snprintf(rn, sizeof rn, "C=GB;A= ;P=SMHS;O=Org;S=Rcpt%u", i);
        m->r[i].name = x400t_orname(rn);
        m->r[i].osrn = i + 1;
    }
    m->a.env.n_recip = nrecip;
    m->a.env.recip = m->r;
    x400_p1_trace_init(&m->t);
    m->t.gdi = m->a.env.id.gdi;
    m->t.arrival = 1795250000;
    m->t.routing_action = X400_ROUTE_RELAYED;
    m->a.env.n_trace = 1;
    m->a.env.trace = &m->t;
    if (kind == X400_P1_MESSAGE) {
        m->content = malloc(clen ? clen : 1);
        for (size_t i = 0; i < clen; i++) m->content[i] = (uint8_t)(i * 31 + 7);
        m->a.content.p = m->content;
        m->a.content.len = clen;
    } else {
        m->a.env.content_length = (int64_t)clen;
    }
}

static void mk_free(struct msg *m)
{
    x400_p1_apdu_free(&m->a);
    free(m->r);
    free(m->content);
}

static uint64_t sum(const struct msg *m)
{
    uint64_t s = 0;
    for (size_t i = 0; i < m->a.content.len; i++) s += m->content[i];
    return s;
}

static void bind_and_transfer(x400_mode mode)
{
    struct pair p;
    struct msg m;
    open_pair(&p, mode, "MTA-A", "secretA");
    pump(&p);
    ck_assert_int_eq(count_ev(&p.ini, X400_P1_LINK_EV_BOUND), 1);
    ck_assert_int_eq(count_ev(&p.rsp, X400_P1_LINK_EV_BOUND), 1);
    ck_assert_str_eq(p.rsp.peer, "MTA-A");   /* the peer is who it bound as */
    ck_assert_str_eq(p.ini.peer, "MTA-B");
    /* one recipient, small content */
    mk(&m, X400_P1_MESSAGE, "A.1", 1, 100);
    ck_assert_int_eq(x400_p1_link_send(p.ini.l, &m.a, 1, NULL), X400_OK);
    pump(&p);
    ck_assert_uint_eq(p.rsp.received, 1);
    ck_assert_uint_eq(p.rsp.last_nrecip, 1);
    ck_assert_uint_eq(p.rsp.content_sum, sum(&m));
    ck_assert_uint_eq(p.ini.sent, 1);
    mk_free(&m);
    /* 100 recipients, 0-byte content */
    mk(&m, X400_P1_MESSAGE, "A.2", 100, 0);
    ck_assert_int_eq(x400_p1_link_send(p.ini.l, &m.a, 2, NULL), X400_OK);
    mk_free(&m);
    /* a probe, queued behind it */
    mk(&m, X400_P1_PROBE, "A.3", 2, 5000);
    ck_assert_int_eq(x400_p1_link_send(p.ini.l, &m.a, 3, NULL), X400_OK);
    mk_free(&m);
    pump(&p);
    ck_assert_uint_eq(p.rsp.received, 3);
    ck_assert_int_eq(p.rsp.last_kind, X400_P1_PROBE);
    ck_assert_uint_eq(p.ini.sent, 3);
    /* the other direction: the responder asks for the turn by itself */
    mk(&m, X400_P1_MESSAGE, "B.1", 3, 20000);
    ck_assert_int_eq(x400_p1_link_send(p.rsp.l, &m.a, 9, NULL), X400_OK);
    pump(&p);
    ck_assert_uint_eq(p.ini.received, 1);
    ck_assert_uint_eq(p.ini.content_sum, sum(&m));
    ck_assert_uint_eq(p.rsp.sent, 1);
    mk_free(&m);
    /* orderly close */
    ck_assert_int_eq(x400_p1_link_close(p.ini.l), X400_OK);
    pump(&p);
    ck_assert_int_eq(count_ev(&p.ini, X400_P1_LINK_EV_RELEASED), 1);
    ck_assert_int_eq(count_ev(&p.rsp, X400_P1_LINK_EV_RELEASED), 1);
    ck_assert_uint_eq(p.ini.failed + p.rsp.failed, 0);
    close_pair(&p);
}


/* Group commit: the receiver defers the confirmation until "durable"; the
 * sender sees SENT only after x400_p1_link_confirm, and nothing else moves
 * on the link meanwhile. */
static void deferred(x400_mode mode)
{
    struct pair p;
    struct msg m1, m2;
    open_pair(&p, mode, "MTA-A", "secretA");
    pump(&p);
    p.rsp.defer = 1;
    mk(&m1, X400_P1_MESSAGE, "D.1", 1, 3000);
    mk(&m2, X400_P1_MESSAGE, "D.2", 1, 10);
    ck_assert_int_eq(x400_p1_link_send(p.ini.l, &m1.a, 1, NULL), X400_OK);
    ck_assert_int_eq(x400_p1_link_send(p.ini.l, &m2.a, 2, NULL), X400_OK);
    pump(&p);
    ck_assert_uint_eq(p.rsp.received, 1);
    ck_assert_uint_eq(p.ini.sent, 0);            /* not confirmed yet */
    ck_assert_int_eq(x400_p1_link_confirm_pending(p.rsp.l), 1);
    ck_assert_uint_eq(x400_p1_link_queued(p.ini.l), 2);
    ck_assert_int_eq(x400_p1_link_confirm(p.rsp.l), X400_OK);
    ck_assert_int_eq(x400_p1_link_confirm_pending(p.rsp.l), 0);
    pump(&p);
    ck_assert_uint_eq(p.ini.sent, 1);
    ck_assert_uint_eq(p.rsp.received, 2);        /* the second one came, deferred too */
    ck_assert_int_eq(x400_p1_link_confirm(p.rsp.l), X400_OK);
    ck_assert_int_eq(x400_p1_link_confirm(p.rsp.l), X400_OK); /* nothing pending: no-op */
    pump(&p);
    ck_assert_uint_eq(p.ini.sent, 2);
    /* a duplicate is deferred the same way */
    ck_assert_int_eq(x400_p1_link_send(p.ini.l, &m1.a, 3, NULL), X400_OK);
    pump(&p);
    ck_assert_uint_eq(p.rsp.duplicates, 1);
    ck_assert_uint_eq(p.ini.sent, 2);
    ck_assert_int_eq(x400_p1_link_confirm(p.rsp.l), X400_OK);
    pump(&p);
    ck_assert_uint_eq(p.ini.sent, 3);
    /* the connection goes while a confirmation is held: nothing confirmed,
     * the sender gets its APDU back */
    ck_assert_int_eq(x400_p1_link_send(p.ini.l, &m2.a, 4, NULL), X400_OK);
    pump(&p);
    ck_assert_uint_eq(p.rsp.duplicates, 2);
    x400_assoc_transport_closed(p.rsp.a);
    x400_assoc_transport_closed(p.ini.a);
    /* the responder waits for the initiator to recover (X.228): the user
     * still holds the confirmation, and a resumed transfer's end will wait
     * for it too (check_rtse deferred_end_survives_recovery) */
    ck_assert_int_eq(x400_p1_link_is_recovering(p.rsp.l), 1);
    ck_assert_int_eq(x400_p1_link_confirm_pending(p.rsp.l), 1);
    ck_assert_int_eq(x400_p1_link_confirm(p.rsp.l), X400_OK);
    ck_assert_int_eq(x400_p1_link_confirm_pending(p.rsp.l), 0);
    ck_assert_uint_eq(p.ini.sent, 3);
    mk_free(&m1);
    mk_free(&m2);
    close_pair(&p);
}

START_TEST(deferred_confirmation_normal) { deferred(X400_MODE_NORMAL); }
END_TEST
START_TEST(deferred_confirmation_x410) { deferred(X400_MODE_X410); }
END_TEST

/* An APDU read back from a spool goes as it is; garbage is refused. */
static const uint8_t NA1[] = { 0xa0, 0x03, 0x02, 0x01, 0x05 };           /* [0] { INTEGER } */
static const uint8_t NA2[] = { 0x30, 0x03, 0x02, 0x01, 0x05 };           /* SEQUENCE */
static const uint8_t NA3[] = { 0xa2, 0x80, 0x31, 0x00, 0x00, 0x00 };     /* probe [2] { SET {} } */
static const struct { const uint8_t *b; size_t n; } not_apdu[] = {
    { NA1, sizeof NA1 }, { NA2, sizeof NA2 }, { NA3, sizeof NA3 } };

START_TEST(send_encoded_apdu)
{
    struct pair p;
    struct msg m;
    uint8_t *buf = NULL, junk[3] = { 0x30, 0x05, 0x01 };
    size_t len = 0;
    x400_diag d;
    open_pair(&p, X400_MODE_NORMAL, "MTA-A", "secretA");
    pump(&p);
    mk(&m, X400_P1_MESSAGE, "E.1", 2, 7777);
    ck_assert_int_eq(x400_p1_encode_alloc(&m.a, NULL, &buf, &len, NULL), X400_OK);
    ck_assert_int_eq(x400_p1_link_send_encoded(p.ini.l, buf, len, X400_RTSE_PRIO_URGENT, 5, &d), X400_OK);
    ck_assert_int_lt(x400_p1_link_send_encoded(p.ini.l, junk, sizeof junk, X400_RTSE_PRIO_NORMAL, 6, &d), 0);
    ck_assert_int_eq(d.layer, X400_LAYER_P1);
    /* well-formed BER, even with an MTS-APDU tag, that is not an MTS-APDU:
     * refused, nothing queued */
    for (size_t i = 0; i < sizeof not_apdu / sizeof not_apdu[0]; i++) {
        ck_assert_int_eq(x400_p1_link_send_encoded(p.ini.l, not_apdu[i].b, not_apdu[i].n,
                                                   X400_RTSE_PRIO_NORMAL, 7, &d), X400_ERR_PARSE);
        ck_assert_int_eq(d.layer, X400_LAYER_P1);
        ck_assert_int_eq(d.source, X400_SOURCE_LOCAL);
        ck_assert_ptr_nonnull(strstr(d.text, "not an MTS-APDU"));
    }
    ck_assert_uint_eq(x400_p1_link_queued(p.ini.l), 1);
    /* a truncated copy of the good one */
    ck_assert_int_eq(x400_p1_link_send_encoded(p.ini.l, buf, len - 1, X400_RTSE_PRIO_NORMAL, 8, &d),
                     X400_ERR_PARSE);
    ck_assert_int_eq(x400_p1_link_send_encoded(p.ini.l, buf, len, (x400_rtse_priority)7, 6, &d),
                     X400_ERR_INVALID_ARG);
    pump(&p);
    ck_assert_uint_eq(p.rsp.received, 1);
    ck_assert_uint_eq(p.rsp.content_sum, sum(&m));
    ck_assert_str_eq(p.rsp.last_local, "E.1");
    ck_assert_uint_eq(p.ini.sent, 1);
    free(buf);
    mk_free(&m);
    close_pair(&p);
}
END_TEST

/* An APDU above the transfer bound is refused by send (too long), never
 * queued: the APDU sent after it is transferred, the link stays up (it
 * used to wait at the head of the queue for ever). */
/* The outgoing ring starts small and grows (doubling) up to queue_max,
 * here while its head is not at slot 0 (three sent first): every APDU
 * goes out once, in the order queued, and the queue_max + 1-th is refused
 * FULL. */
START_TEST(queue_grows_to_its_max_in_order)
{
    struct pair p;
    struct msg m;
    x400_diag d;
    char local[16];
    unsigned n = 0;
    open_pair(&p, X400_MODE_NORMAL, "MTA-A", "secretA");
    pump(&p);
    ck_assert_int_eq(count_ev(&p.ini, X400_P1_LINK_EV_BOUND), 1);
    for (; n < 3; n++) {
        snprintf(local, sizeof local, "Q.%u", n);
        mk(&m, X400_P1_MESSAGE, local, 1, 200);
        ck_assert_int_eq(x400_p1_link_send(p.ini.l, &m.a, n + 1, NULL), X400_OK);
        mk_free(&m);
    }
    pump(&p);
    ck_assert_uint_eq(p.ini.sent, 3);
    for (; n < 3 + 64; n++) {               /* queue_max (the default 64) waiting */
        snprintf(local, sizeof local, "Q.%u", n);
        mk(&m, X400_P1_MESSAGE, local, 1, 200 + n);
        ck_assert_int_eq(x400_p1_link_send(p.ini.l, &m.a, n + 1, NULL), X400_OK);
        mk_free(&m);
    }
    /* the one being transferred has left the queue's count only when sent */
    ck_assert_uint_eq(x400_p1_link_queued(p.ini.l), 64);
    mk(&m, X400_P1_MESSAGE, "Q.full", 1, 10);
    ck_assert_int_eq(x400_p1_link_send(p.ini.l, &m.a, 999, &d), X400_ERR_FULL);
    mk_free(&m);
    pump(&p);
    ck_assert_uint_eq(p.rsp.received, 3 + 64);
    ck_assert_uint_eq(p.rsp.q_next, 3 + 64);
    ck_assert_uint_eq(p.rsp.q_misordered, 0);
    ck_assert_uint_eq(p.ini.sent, 3 + 64);
    ck_assert_uint_eq(p.ini.sent_misordered, 0);
    ck_assert_uint_eq(x400_p1_link_queued(p.ini.l), 0);
    close_pair(&p);
}
END_TEST

/* RT-U-ABORT by the link's user: an idle responder ends its association
 * (it may not RT-CLOSE); the initiator's link ends ABORTED from the peer
 * and tries no recovery.  An initiator aborting with an APDU queued gets
 * it back as SEND_FAILED first. */
static void user_abort(x400_mode mode)
{
    struct pair p;
    struct msg m;
    open_pair(&p, mode, "MTA-A", "secretA");
    pump(&p);
    ck_assert_int_eq(x400_p1_link_is_idle(p.rsp.l), 1);
    mk(&m, X400_P1_MESSAGE, "U.1", 1, 300);
    ck_assert_int_eq(x400_p1_link_send(p.ini.l, &m.a, 1, NULL), X400_OK);
    ck_assert_int_eq(x400_p1_link_is_idle(p.ini.l), 0);      /* in transfer */
    pump(&p);
    ck_assert_uint_eq(p.rsp.received, 1);
    ck_assert_int_eq(x400_p1_link_is_idle(p.ini.l), 1);
    ck_assert_int_eq(x400_p1_link_is_idle(p.rsp.l), 1);
    ck_assert_int_eq(x400_p1_link_abort(p.rsp.l), X400_OK);
    ck_assert_int_eq(p.rsp.ev[p.rsp.nev - 1], X400_P1_LINK_EV_ABORTED);
    ck_assert_int_eq(p.rsp.last_diag.source, X400_SOURCE_LOCAL);
    ck_assert_int_eq(x400_p1_link_abort(p.rsp.l), X400_ERR_STATE);
    ck_assert_int_eq(x400_p1_link_is_idle(p.rsp.l), 0);
    pump(&p);
    ck_assert_int_eq(count_ev(&p.ini, X400_P1_LINK_EV_ABORTED), 1);
    ck_assert_int_eq(p.ini.last_diag.source, X400_SOURCE_PEER);
    ck_assert_int_eq(x400_p1_link_is_recovering(p.ini.l), 0);
    ck_assert_int_eq(x400_p1_link_want_close(p.ini.l), 1);
    ck_assert_uint_eq(p.ini.failed, 0);
    close_pair(&p);
    /* the initiator, with an APDU queued behind one in transfer */
    open_pair(&p, mode, "MTA-A", "secretA");
    pump(&p);
    ck_assert_int_eq(x400_p1_link_send(p.ini.l, &m.a, 1, NULL), X400_OK);
    ck_assert_int_eq(x400_p1_link_send(p.ini.l, &m.a, 2, NULL), X400_OK);
    ck_assert_int_eq(x400_p1_link_abort(p.ini.l), X400_OK);
    ck_assert_uint_eq(p.ini.failed, 2);
    ck_assert_int_eq(p.ini.ev[p.ini.nev - 1], X400_P1_LINK_EV_ABORTED);
    ck_assert_uint_eq(x400_p1_link_queued(p.ini.l), 0);
    pump(&p);
    ck_assert_int_eq(count_ev(&p.rsp, X400_P1_LINK_EV_ABORTED), 1);
    ck_assert_int_eq(p.rsp.last_diag.source, X400_SOURCE_PEER);
    ck_assert_int_eq(x400_p1_link_is_recovering(p.rsp.l), 0);
    /* the first APDU's activity was handed down whole before the abort:
     * it arrives, unconfirmed, while its sender has it back to send again
     * (the receiver's duplicate check drops that copy); the second never
     * left */
    ck_assert_uint_eq(p.rsp.received, 1);
    mk_free(&m);
    close_pair(&p);
}

START_TEST(user_abort_normal) { user_abort(X400_MODE_NORMAL); }
END_TEST

START_TEST(user_abort_x410) { user_abort(X400_MODE_X410); }
END_TEST

START_TEST(apdu_above_bound_refused_queue_moves)
{
    struct pair p;
    struct msg big, small;
    x400_diag d;
    OPEN_MAX_APDU = 20000;
    open_pair(&p, X400_MODE_NORMAL, "MTA-A", "secretA");
    OPEN_MAX_APDU = 0;
    pump(&p);
    mk(&big, X400_P1_MESSAGE, "B.1", 1, 50000);
    mk(&small, X400_P1_MESSAGE, "S.1", 1, 100);
    ck_assert_int_eq(x400_p1_link_send(p.ini.l, &big.a, 1, &d), X400_ERR_TOO_LONG);
    ck_assert_int_eq(d.layer, X400_LAYER_P1);
    ck_assert(strstr(d.text, "transfer bound") != NULL);
    {   /* the same octets, already encoded */
        uint8_t *buf = NULL;
        size_t len = 0;
        ck_assert_int_eq(x400_p1_encode_alloc(&big.a, NULL, &buf, &len, NULL), X400_OK);
        ck_assert_int_eq(x400_p1_link_send_encoded(p.ini.l, buf, len, X400_RTSE_PRIO_NORMAL, 3, &d),
                         X400_ERR_TOO_LONG);
        free(buf);
    }
    ck_assert_int_eq(x400_p1_link_send(p.ini.l, &small.a, 2, &d), X400_OK);
    pump(&p);
    ck_assert_uint_eq(p.ini.failed, 0);
    ck_assert_uint_eq(p.ini.sent, 1);
    ck_assert_uint_eq(p.rsp.received, 1);
    ck_assert_str_eq(p.rsp.last_local, "S.1");
    ck_assert(x400_p1_link_is_bound(p.ini.l));
    mk_free(&big);
    mk_free(&small);
    close_pair(&p);
}
END_TEST

/* RTSE recovery between two MTAs: the connection breaks mid-transfer; the
 * initiator's link asks for a new association; at the responder the new
 * inbound association first meets a fresh link (the MTA cannot know yet
 * what it is for), whose recovery_route names the waiting link; the
 * transfer resumes there. */
struct rec {
    struct pair *p;
    x400_p1_link *fresh;
    struct side fresh_side;
    x400_assoc *old[8];
    int nold, routed, need;
    int refuse;             /* the fresh responder link routes nothing: RTORJ cannotRecover */
    int x410;               /* the initiator's new association runs X.410-1984 mode */
    int hold;               /* the new association connects when the test says so */
    x400_p1_link *fresh_gone[4];  /* fresh links of earlier recoveries */
    int nfresh_gone;
};
static struct rec *REC;

static x400_p1_link *rec_route(void *u, x400_p1_link *l, const uint8_t *ref, size_t len)
{
    struct rec *r = u;
    uint8_t b[X400_P1_LINK_REF_MAX];
    size_t n;
    ck_assert_ptr_eq(l, r->fresh);
    if (x400_p1_link_waiting_ref(r->p->rsp.l, b, sizeof b, &n) != X400_OK) return NULL;
    if (n != len || memcmp(b, ref, n)) return NULL;
    r->routed++;
    return r->p->rsp.l;
}

/* The responder's side of a new connection: a new association on a fresh
 * link (the MTA cannot know yet what it is for), whose recovery_route
 * names the waiting link. */
static void fresh_responder(struct rec *r)
{
    x400_assoc_config ar;
    x400_p1_link_config cr;
    x400_p1_link_callbacks cb = { &r->fresh_side, on_ev };
    struct pair *p = r->p;
    if (r->fresh) r->fresh_gone[r->nfresh_gone++] = r->fresh;
    r->old[r->nold++] = p->rsp.a;
    x400_assoc_config_init(&ar, X400_ROLE_RESPONDER);
    ck_assert_int_eq(x400_assoc_new(&p->rsp.a, &ar, NULL, NULL), X400_OK);
    x400_p1_link_config_init(&cr, X400_ROLE_RESPONDER);
    cr.rtse.checkpoint_size_kib = 4;
    snprintf(cr.own_name, sizeof cr.own_name, "MTA-B");
    cr.check = x400_p1_cred_check_default;
    cr.check_user = &peer_table;
    cr.recovery_route = r->refuse ? NULL : rec_route;
    cr.recovery_user = r;
    ck_assert_int_eq(x400_p1_link_new(&r->fresh, &cr, &cb, NULL), X400_OK);
    ck_assert_int_eq(x400_p1_link_attach(r->fresh, p->rsp.a), X400_OK);
}

static int rec_ev(void *u, x400_p1_link *l, const x400_p1_link_event *e)
{
    struct side *s = u;
    if (e->type == X400_P1_LINK_EV_NEED_ASSOC && REC) {
        /* a new pair of associations: the initiator's on its link, the
         * responder's on a fresh link */
        x400_assoc_config ai;
        struct pair *p = REC->p;
        REC->need++;
        REC->old[REC->nold++] = p->ini.a;
        x400_assoc_config_init(&ai, X400_ROLE_INITIATOR);
        if (REC->x410) ai.mode = X400_MODE_X410;
        memcpy(ai.calling_ref, "MTA-A/2", 7);
        ai.calling_ref_len = 7;
        ck_assert_int_eq(x400_assoc_new(&p->ini.a, &ai, NULL, NULL), X400_OK);
        fresh_responder(REC);
        ck_assert_int_eq(x400_p1_link_attach(l, p->ini.a), X400_OK);
        if (!REC->hold) ck_assert_int_eq(x400_assoc_connect(p->ini.a), X400_OK);
        return 0;
    }
    return on_ev(s, l, e);
}

/* A bound pair of links for the recovery cases: the callbacks go through
 * rec_ev (a recovery makes new associations), the initiator's calling
 * reference is "MTA-A/1"; r->refuse: the fresh responder routes nothing. */
static void rec_open(struct pair *p, struct rec *r, int refuse)
{
    x400_assoc_config ai, ar;
    x400_p1_link_config ci, cr;
    x400_p1_link_callbacks cbi = { &p->ini, rec_ev }, cbr = { &p->rsp, rec_ev };
    memset(p, 0, sizeof *p);
    memset(r, 0, sizeof *r);
    r->p = p;
    r->refuse = refuse;
    REC = r;
    pair_io(p);
    ck_assert_int_eq(x400_p1_idset_new(&p->seen, 100, NULL), X400_OK);
    x400_p1_link_config_init(&ci, X400_ROLE_INITIATOR);
    x400_p1_link_config_init(&cr, X400_ROLE_RESPONDER);
    ci.rtse.checkpoint_size_kib = cr.rtse.checkpoint_size_kib = 4;
    if (OPEN_MAX_APDU) ci.rtse.max_apdu_size = OPEN_MAX_APDU;
    snprintf(ci.own_name, sizeof ci.own_name, "MTA-A");
    memcpy(ci.own_password, "secretA", 7);
    ci.own_password_len = 7;
    snprintf(cr.own_name, sizeof cr.own_name, "MTA-B");
    cr.check = x400_p1_cred_check_default;
    cr.check_user = &peer_table;
    cr.seen = p->seen;
    ck_assert_int_eq(x400_p1_link_new(&p->ini.l, &ci, &cbi, NULL), X400_OK);
    ck_assert_int_eq(x400_p1_link_new(&p->rsp.l, &cr, &cbr, NULL), X400_OK);
    x400_assoc_config_init(&ai, X400_ROLE_INITIATOR);
    x400_assoc_config_init(&ar, X400_ROLE_RESPONDER);
    memcpy(ai.calling_ref, "MTA-A/1", 7);
    ai.calling_ref_len = 7;
    ck_assert_int_eq(x400_assoc_new(&p->ini.a, &ai, NULL, NULL), X400_OK);
    ck_assert_int_eq(x400_assoc_new(&p->rsp.a, &ar, NULL, NULL), X400_OK);
    ck_assert_int_eq(x400_p1_link_attach(p->rsp.l, p->rsp.a), X400_OK);
    ck_assert_int_eq(x400_p1_link_attach(p->ini.l, p->ini.a), X400_OK);
    ck_assert_int_eq(x400_assoc_connect(p->ini.a), X400_OK);
    pump(p);
}

/* The initiator's octets go to the responder 1000 at a time, the
 * responder's answers back after each piece, until `at` octets have
 * crossed; then the connection breaks (both ends told, the responder
 * first). */
static void cut_after(struct pair *p, size_t at)
{
    p->io.take = 1000;
    p->io.interleave = 1;
    x400t_pair_cut_after(&p->io, at);
    ck_assert_msg(x400t_pair_move(&p->io, 0) >= 0, "%s", p->io.err);
    if (p->io.cut_armed) x400t_pair_cut(&p->io);   /* it ran out before `at` */
    p->io.take = 0;
    p->io.interleave = 0;
}

/* The end of a recovery case: the fresh link, the associations recovery
 * replaced, the message and the pair. */
static void rec_close(struct pair *p, struct rec *r, struct msg *m)
{
    REC = NULL;
    x400_p1_link_free(r->fresh);
    for (int i = 0; i < r->nold; i++) x400_assoc_free(r->old[i]);
    mk_free(m);
    close_pair(p);
}

START_TEST(recovery_routed_to_waiting_link)
{
    struct pair p;
    struct msg m;
    struct rec r;
    size_t n;
    rec_open(&p, &r, 0);
    ck_assert_int_eq(count_ev(&p.rsp, X400_P1_LINK_EV_BOUND), 1);
    mk(&m, X400_P1_MESSAGE, "REC.1", 1, 200000);
    ck_assert_int_eq(x400_p1_link_send(p.ini.l, &m.a, 1, NULL), X400_OK);
    cut_after(&p, 60000);   /* then the connection breaks */
    ck_assert_uint_eq(p.rsp.received, 0);
    ck_assert_uint_eq(x400_p1_link_waiting_ref(p.rsp.l, (uint8_t[X400_P1_LINK_REF_MAX]){ 0 },
                                               X400_P1_LINK_REF_MAX, &n), X400_OK);
    /* the initiator's RTSE retries after its interval: let time pass */
    for (int i = 0; i < 20 && !r.need; i++) x400_p1_link_tick(p.ini.l, 3000u * (unsigned)(i + 1));
    ck_assert_int_eq(r.need, 1);
    pump(&p);
    ck_assert_int_eq(r.routed, 1);
    ck_assert_uint_eq(p.rsp.received, 1);          /* completed on the waiting link */
    ck_assert_uint_eq(p.rsp.content_sum, sum(&m));
    ck_assert_uint_eq(r.fresh_side.received, 0);
    ck_assert_uint_eq(p.ini.sent, 1);
    ck_assert_ptr_null(x400_p1_link_assoc(r.fresh)); /* the fresh link let it go */
    ck_assert_ptr_eq(x400_p1_link_assoc(p.rsp.l), p.rsp.a);
    rec_close(&p, &r, &m);
}
END_TEST

START_TEST(bind_and_transfer_normal) { bind_and_transfer(X400_MODE_NORMAL); }
END_TEST
START_TEST(bind_and_transfer_x410) { bind_and_transfer(X400_MODE_X410); }
END_TEST

static void refused(x400_mode mode, const char *name, const char *pw)
{
    struct pair p;
    struct msg m;
    open_pair(&p, mode, name, pw);
    mk(&m, X400_P1_MESSAGE, "R.1", 1, 10);
    ck_assert_int_eq(x400_p1_link_send(p.ini.l, &m.a, 77, NULL), X400_OK);  /* queued */
    mk_free(&m);
    pump(&p);
    ck_assert_int_eq(count_ev(&p.ini, X400_P1_LINK_EV_BIND_REFUSED), 1);
    ck_assert_int_eq(p.ini.bind_error, X400_BIND_ERR_AUTHENTICATION);
    ck_assert_int_eq(p.ini.last_diag.source, X400_SOURCE_PEER);
    ck_assert_int_eq(count_ev(&p.rsp, X400_P1_LINK_EV_BIND_REFUSED), 1);
    ck_assert_int_eq(count_ev(&p.rsp, X400_P1_LINK_EV_BOUND), 0);
    ck_assert_uint_eq(p.rsp.received, 0);
    /* the queued message came back to its owner: nothing lost */
    ck_assert_uint_eq(p.ini.failed, 1);
    ck_assert_int_eq(x400_p1_link_send(p.ini.l, &m.a, 78, NULL), X400_ERR_CLOSED);
    close_pair(&p);
}

START_TEST(bind_refused_wrong_password)
{
    refused(X400_MODE_NORMAL, "MTA-A", "wrong");
    refused(X400_MODE_X410, "MTA-A", "wrong");
}
END_TEST

START_TEST(bind_refused_unknown_peer)
{
    refused(X400_MODE_NORMAL, "MTA-X", "secretA");
    refused(X400_MODE_X410, "MTA-X", "secretA");
}
END_TEST

/* A responder policy answering with a chosen MTABindError. */
static int refuse_with(void *user, const x400_p1_bind *arg, int *bind_error, x400_diag *diag)
{
    (void)arg;
    *bind_error = *(const int *)user;
    if (diag) snprintf(diag->text, sizeof diag->text, "policy refuses with bind error %d", *bind_error);
    return X400_ERR_REFUSED;
}

START_TEST(bind_refused_each_reason)
{
    static const int reasons[] = { X400_BIND_ERR_BUSY, X400_BIND_ERR_AUTHENTICATION,
                                   X400_BIND_ERR_DIALOGUE_MODE, X400_BIND_ERR_SECURITY_CONTEXT };
    for (int mode = 0; mode < 2; mode++)
        for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
            struct pair p;
            int reason = reasons[i];
            x400_p1_link_config cr;
            x400_p1_link_callbacks cbr;
            open_pair(&p, mode ? X400_MODE_X410 : X400_MODE_NORMAL, "MTA-A", "secretA");
            /* swap in a responder link whose policy refuses with `reason` */
            x400_p1_link_free(p.rsp.l);
            x400_p1_link_config_init(&cr, X400_ROLE_RESPONDER);
            cr.mode = mode ? X400_MODE_X410 : X400_MODE_NORMAL;
            cr.check = refuse_with;
            cr.check_user = &reason;
            cbr.user = &p.rsp;
            cbr.event = on_ev;
            ck_assert_int_eq(x400_p1_link_new(&p.rsp.l, &cr, &cbr, NULL), X400_OK);
            ck_assert_int_eq(x400_p1_link_attach(p.rsp.l, p.rsp.a), X400_OK);
            pump(&p);
            ck_assert_int_eq(count_ev(&p.ini, X400_P1_LINK_EV_BIND_REFUSED), 1);
            ck_assert_int_eq(p.ini.bind_error, reason);
            ck_assert_int_eq(p.ini.last_diag.code, X400_ERR_REFUSED);
            ck_assert_int_eq(count_ev(&p.rsp, X400_P1_LINK_EV_BIND_REFUSED), 1);
            close_pair(&p);
        }
}
END_TEST

/* The Exchange MTA's failure (KB Q152897) made harmless: the same MTSID twice is acknowledged,
 * delivered once, diagnosed, and the association stays up. */
START_TEST(duplicate_mtsid_delivered_once)
{
    struct pair p;
    struct msg m;
    open_pair(&p, X400_MODE_NORMAL, "MTA-A", "secretA");
    pump(&p);
    mk(&m, X400_P1_MESSAGE, "DUP.1", 1, 50);
    ck_assert_int_eq(x400_p1_link_send(p.ini.l, &m.a, 1, NULL), X400_OK);
    ck_assert_int_eq(x400_p1_link_send(p.ini.l, &m.a, 2, NULL), X400_OK);
    mk_free(&m);
    mk(&m, X400_P1_MESSAGE, "DUP.2", 1, 50);
    ck_assert_int_eq(x400_p1_link_send(p.ini.l, &m.a, 3, NULL), X400_OK);
    mk_free(&m);
    pump(&p);
    ck_assert_uint_eq(p.ini.sent, 3);          /* all acknowledged */
    ck_assert_uint_eq(p.rsp.received, 2);      /* delivered once each */
    ck_assert_uint_eq(p.rsp.duplicates, 1);
    ck_assert_int_eq(p.rsp.last_diag.code, X400_ERR_DUPLICATE);
    ck_assert_ptr_nonnull(strstr(p.rsp.last_diag.text, "DUP.1"));
    ck_assert(x400_p1_link_is_bound(p.ini.l) && x400_p1_link_is_bound(p.rsp.l));
    close_pair(&p);
}
END_TEST

START_TEST(report_round_trip_and_10mib)
{
    struct pair p;
    struct msg m;
    x400_p1_apdu rep;
    x400_p1_outcome out = { 0, 1, 1795250100, 0, -1, NULL };
    x400_mtsid rid;
    x400_diag d;
    open_pair(&p, X400_MODE_NORMAL, "MTA-A", "secretA");
    pump(&p);
    mk(&m, X400_P1_MESSAGE, "BIG.1", 1, 10u << 20);
    ck_assert_int_eq(x400_p1_link_send(p.ini.l, &m.a, 1, NULL), X400_OK);
    pump(&p);
    ck_assert_uint_eq(p.rsp.received, 1);
    ck_assert_uint_eq(p.rsp.last_content, 10u << 20);
    ck_assert_uint_eq(p.rsp.content_sum, sum(&m));
    /* a delivery report for it travels back */
    rid = m.a.env.id;
    snprintf(rid.local, sizeof rid.local, "RPT.1");
    ck_assert_msg(x400_p1_report_build(&rep, &m.a, &rid, &m.a.env.id.gdi, 1795250000, 1795250100,
                                       &out, 1, NULL, &d) == X400_OK, "%s", d.text);
    ck_assert_int_eq(x400_p1_link_send(p.rsp.l, &rep, 5, NULL), X400_OK);
    pump(&p);
    ck_assert_uint_eq(p.ini.received, 1);
    ck_assert_int_eq(p.ini.last_kind, X400_P1_REPORT);
    ck_assert_str_eq(p.ini.last_local, "RPT.1");
    x400_p1_apdu_free(&rep);
    mk_free(&m);
    close_pair(&p);
}
END_TEST

/* tshark on a whole normal-mode exchange: CR/CC, CP/AARQ with the bind,
 * CPA/AARE with the bind result, a message, a probe, a report, release. */
START_TEST(wire_bind_message_probe_report)
{
    struct pair p;
    struct msg m;
    x400_p1_apdu rep;
    x400_p1_outcome out = { 0, 0, 0, 1, 2, NULL };
    x400_mtsid rid;
    x400_diag d;
    char err[4000], *f;
    open_pair(&p, X400_MODE_NORMAL, "MTA-A", "secretA");
    p.record = 1;
    pump(&p);
    /* content: a minimal valid P2 IPM (ipm [0] IMPLICIT IPM { heading {
     * this-IPM { user-relative-identifier "id" } }, body {} }), so tshark's
     * P22 dissector decodes it too */
    static const uint8_t ipm[] = { 0xa0, 0x0a, 0x31, 0x06, 0x6b, 0x04, 0x13, 0x02,
                                   'i', 'd', 0x30, 0x00 };
    mk(&m, X400_P1_MESSAGE, "W.1", 2, 0);
    m.a.content.p = ipm;
    m.a.content.len = sizeof ipm;
    ck_assert_int_eq(x400_p1_link_send(p.ini.l, &m.a, 1, NULL), X400_OK);
    pump(&p);
    rid = m.a.env.id;
    snprintf(rid.local, sizeof rid.local, "W.NDR");
    ck_assert_msg(x400_p1_report_build(&rep, &m.a, &rid, &m.a.env.id.gdi, 1795250000, 1795250100,
                                       &out, 1, NULL, &d) == X400_OK, "%s", d.text);
    mk_free(&m);
    mk(&m, X400_P1_PROBE, "W.2", 1, 4000);
    ck_assert_int_eq(x400_p1_link_send(p.ini.l, &m.a, 2, NULL), X400_OK);
    mk_free(&m);
    pump(&p);
    ck_assert_int_eq(x400_p1_link_send(p.rsp.l, &rep, 3, NULL), X400_OK);
    x400_p1_apdu_free(&rep);
    pump(&p);
    ck_assert_int_eq(x400_p1_link_close(p.ini.l), X400_OK);
    pump(&p);
    ck_assert_uint_eq(p.rsp.received, 2);
    ck_assert_uint_eq(p.ini.received, 1);
    ck_assert_msg(x400t_wire_check(&p.wire, "p1link_normal", NULL, err, sizeof err) == 0, "%s", err);
    /* tshark saw each MTS-APDU kind (0 message, 1 report, 2 probe) ... */
    f = x400t_wire_fields(&p.wire, "p1link_normal", "-Y p1.MTS_APDU", "-e p1.MTS_APDU");
    ck_assert_ptr_nonnull(f);
    ck_assert_msg(strcmp(f, "0\n2\n1\n") == 0, "p1 MTS-APDU kinds tshark saw: [%s]", f);
    free(f);
    /* ... the MTABindArgument inside the RTORQ, and the MTABindResult */
    f = x400t_wire_fields(&p.wire, "p1link_normal", "-Y \"p1.MTABindArgument || p1.MTABindResult\"",
                          "-e p1.MTABindArgument -e p1.MTABindResult -e rtse.rtorq_apdu_element");
    ck_assert_ptr_nonnull(f);
    ck_assert_msg(strcmp(f, "1\t\t1\n\t1\t\n") == 0, "bind fields tshark saw: [%s]", f);
    free(f);
    close_pair(&p);
}
END_TEST

/* A peer that binds correctly and then transfers something that is not an
 * MTS-APDU: the receiving link hands it up (UNDECODABLE, raw octets and the
 * decoder's diagnostic) and confirms it; the association stays up and the
 * next, good APDU on it is received.  (Before, the link ended and RTSE
 * aborted with localSystemProblem: the peer retried the same APDU for ever.) */
struct raw_peer {
    int state;        /* 1 bound, 2 aborted */
    int confirmed;    /* RT-TRANSFER confirmations with a positive result */
    int failed;
};

static int raw_ind(void *u, const x400i_rtse_ind *ind)
{
    struct raw_peer *rp = u;
    if (ind->type == X400I_RTSE_OPEN_CONF && ind->accepted) rp->state = 1;
    if (ind->type == X400I_RTSE_U_ABORT_IND || ind->type == X400I_RTSE_P_ABORT_IND) rp->state = 2;
    if (ind->type == X400I_RTSE_TRANSFER_CONF) {
        if (ind->result >= 0) rp->confirmed++;
        else rp->failed++;
    }
    return 0;
}

static void undecodable(int defer)
{
    struct pair p;
    x400i_rtse_assoc *raw;
    x400i_rtse_callbacks rcb;
    x400_rtse_config rc;
    x400_p1_bind b;
    struct msg m;
    uint8_t bind[256], *good;
    size_t blen, glen;
    struct raw_peer rp = { 0, 0, 0 };
    static const uint8_t junk[] = { 0x04, 0x05, 'h', 'e', 'l', 'l', 'o' };
    open_pair(&p, X400_MODE_NORMAL, "MTA-A", "secretA");
    p.rsp.defer = defer;
    /* replace the initiator's link by a bare RTSE machine on its association */
    x400_p1_link_free(p.ini.l);
    p.ini.l = NULL;
    x400_rtse_config_default(&rc);
    rcb.user = &rp;
    rcb.indication = raw_ind;
    ck_assert_int_eq(x400i_rtse_assoc_new(&raw, 1, &rc, &rcb, NULL, NULL, NULL), X400_OK);
    ck_assert_int_eq(x400i_rtse_assoc_attach(raw, p.ini.a), X400_OK);
    memset(&b, 0, sizeof b);
    b.pdu = X400_P1_BIND_ARGUMENT;
    b.authenticated = 1;
    strcpy(b.name, "MTA-A");
    memcpy(b.password, "secretA", 7);
    b.password_len = 7;
    ck_assert_int_eq(x400_p1_bind_encode(&b, X400_MODE_NORMAL, bind, sizeof bind, &blen, NULL), X400_OK);
    ck_assert_int_eq(x400i_rtse_open_req(x400i_rtse_assoc_rtse(raw), bind, blen), X400_OK);
    pump(&p);
    ck_assert_int_eq(rp.state, 1);
    ck_assert_int_eq(count_ev(&p.rsp, X400_P1_LINK_EV_BOUND), 1);
    ck_assert_int_eq(x400i_rtse_transfer_req(x400i_rtse_assoc_rtse(raw), junk, sizeof junk,
                                             X400_RTSE_PRIO_NORMAL, 1), X400_OK);
    pump(&p);
    ck_assert_uint_eq(p.rsp.received, 0);
    ck_assert_int_eq(count_ev(&p.rsp, X400_P1_LINK_EV_UNDECODABLE), 1);
    ck_assert_int_eq(count_ev(&p.rsp, X400_P1_LINK_EV_ABORTED), 0);
    ck_assert_uint_eq(p.rsp.undecodable_len, sizeof junk);
    ck_assert_int_eq(memcmp(p.rsp.undecodable, junk, sizeof junk), 0);
    ck_assert_int_eq(p.rsp.last_diag.layer, X400_LAYER_P1);
    ck_assert_int_eq(p.rsp.last_diag.source, X400_SOURCE_PEER);
    ck_assert_int_eq(p.rsp.last_diag.code, X400_ERR_PARSE);
    ck_assert_int_eq(p.rsp.last_diag.reason, X400_P1_R_APDU);
    if (defer) {   /* confirmed only when the receiver says so */
        ck_assert_int_eq(rp.confirmed, 0);
        ck_assert_int_eq(x400_p1_link_confirm_pending(p.rsp.l), 1);
        ck_assert_int_eq(x400_p1_link_confirm(p.rsp.l), X400_OK);
        pump(&p);
    }
    ck_assert_int_eq(rp.confirmed, 1);
    ck_assert_int_eq(rp.failed, 0);
    ck_assert(x400_p1_link_is_bound(p.rsp.l));
    ck_assert_int_eq(rp.state, 1);                /* not aborted */
    /* the next APDU on the same association arrives */
    mk(&m, X400_P1_MESSAGE, "G.1", 1, 500);
    ck_assert_int_eq(x400_p1_encode_alloc(&m.a, NULL, &good, &glen, NULL), X400_OK);
    ck_assert_int_eq(x400i_rtse_transfer_req(x400i_rtse_assoc_rtse(raw), good, glen,
                                             X400_RTSE_PRIO_NORMAL, 2), X400_OK);
    pump(&p);
    if (defer) {
        ck_assert_int_eq(x400_p1_link_confirm(p.rsp.l), X400_OK);
        pump(&p);
    }
    ck_assert_uint_eq(p.rsp.received, 1);
    ck_assert_str_eq(p.rsp.last_local, "G.1");
    ck_assert_uint_eq(p.rsp.content_sum, sum(&m));
    ck_assert_int_eq(rp.confirmed, 2);
    ck_assert_int_eq(count_ev(&p.rsp, X400_P1_LINK_EV_UNDECODABLE), 1);
    free(good);
    mk_free(&m);
    x400i_rtse_assoc_free(raw);
    close_pair(&p);
}

START_TEST(undecodable_apdu_confirmed_link_stays_up) { undecodable(0); }
END_TEST
START_TEST(undecodable_apdu_deferred) { undecodable(1); }
END_TEST

/* The initiator checks the responder's password when one is configured. */
START_TEST(responder_password_checked)
{
    struct pair p;
    /* right password: bound */
    expect_rsp_pw = "secretB";
    open_pair(&p, X400_MODE_NORMAL, "MTA-A", "secretA");
    pump(&p);
    ck_assert_int_eq(count_ev(&p.ini, X400_P1_LINK_EV_BOUND), 1);
    ck_assert(x400_p1_link_is_bound(p.ini.l));
    close_pair(&p);
    /* wrong password: refused by us, the association ends */
    expect_rsp_pw = "secretX";
    open_pair(&p, X400_MODE_NORMAL, "MTA-A", "secretA");
    pump(&p);
    ck_assert_int_eq(count_ev(&p.ini, X400_P1_LINK_EV_BOUND), 0);
    ck_assert_int_eq(count_ev(&p.ini, X400_P1_LINK_EV_BIND_REFUSED), 1);
    ck_assert_int_eq(p.ini.bind_error, -1);
    ck_assert_int_eq(p.ini.last_diag.layer, X400_LAYER_P1);
    ck_assert_int_eq(p.ini.last_diag.source, X400_SOURCE_LOCAL);
    ck_assert_int_eq(p.ini.last_diag.code, X400_ERR_REFUSED);
    ck_assert_int_eq(p.ini.last_diag.reason, X400_P1_R_CREDENTIALS);
    ck_assert_ptr_nonnull(strstr(p.ini.last_diag.text, "wrong password"));
    ck_assert_ptr_nonnull(strstr(p.ini.last_diag.text, "MTA-B"));
    ck_assert(!x400_p1_link_is_bound(p.ini.l));
    ck_assert_int_eq(count_ev(&p.rsp, X400_P1_LINK_EV_ABORTED), 1);   /* the responder is told */
    ck_assert(!x400_p1_link_is_bound(p.rsp.l));
    close_pair(&p);
}
END_TEST

/* result_cred: the password of the initiator's peer entry, or refusal. */
static char result_cred_seen[3 * X400_MTA_NAME_MAX + X400_PASSWORD_MAX];
static int per_peer_cred(void *user, const x400_p1_bind *arg, char *name, uint8_t *pw, size_t *len)
{
    (void)user;
    snprintf(result_cred_seen, sizeof result_cred_seen, "%s|%s|%.*s", arg->name, name, (int)*len,
             (const char *)pw);
    if (strcmp(arg->name, "MTA-A")) return -1;
    snprintf(name, X400_MTA_NAME_MAX + 1, "MTA-B-for-A");
    memcpy(pw, "forA", 4);
    *len = 4;
    return 0;
}
static int no_cred(void *user, const x400_p1_bind *arg, char *name, uint8_t *pw, size_t *len)
{
    (void)user, (void)arg, (void)name, (void)pw, (void)len;
    return -1;
}

/* The responder picks its MTABindResult credentials once the initiator is
 * known (result_cred): the initiator that expects its per-peer password
 * binds, one that expects the responder's own_password does not; a hook
 * that refuses makes the bind an authentication-error. */
START_TEST(responder_result_credentials_per_peer)
{
    struct pair p;
    expect_rsp_pw = "forA";
    rsp_result_cred = per_peer_cred;
    open_pair(&p, X400_MODE_NORMAL, "MTA-A", "secretA");
    pump(&p);
    ck_assert_str_eq(result_cred_seen, "MTA-A|MTA-B|secretB");   /* called with the defaults */
    ck_assert_int_eq(count_ev(&p.ini, X400_P1_LINK_EV_BOUND), 1);
    ck_assert_int_eq(count_ev(&p.rsp, X400_P1_LINK_EV_BOUND), 1);
    close_pair(&p);
    /* the default password is no longer what it presents */
    expect_rsp_pw = "secretB";
    rsp_result_cred = per_peer_cred;
    open_pair(&p, X400_MODE_X410, "MTA-A", "secretA");
    pump(&p);
    ck_assert_int_eq(count_ev(&p.ini, X400_P1_LINK_EV_BOUND), 0);
    ck_assert_int_eq(count_ev(&p.ini, X400_P1_LINK_EV_BIND_REFUSED), 1);
    ck_assert_ptr_nonnull(strstr(p.ini.last_diag.text, "wrong password"));
    close_pair(&p);
    /* a refusing hook: MTABindError authentication-error */
    rsp_result_cred = no_cred;
    open_pair(&p, X400_MODE_NORMAL, "MTA-A", "secretA");
    pump(&p);
    ck_assert_int_eq(count_ev(&p.ini, X400_P1_LINK_EV_BOUND), 0);
    ck_assert_int_eq(count_ev(&p.ini, X400_P1_LINK_EV_BIND_REFUSED), 1);
    ck_assert_int_eq(p.ini.bind_error, X400_BIND_ERR_AUTHENTICATION);
    ck_assert_int_eq(count_ev(&p.rsp, X400_P1_LINK_EV_BIND_REFUSED), 1);
    ck_assert_int_eq(p.rsp.last_diag.reason, X400_P1_R_CREDENTIALS);
    ck_assert_ptr_nonnull(strstr(p.rsp.last_diag.text, "no bind result credentials"));
    close_pair(&p);
}
END_TEST

/* What was agreed is readable on both sides; the initiator's ExtensionField
 * form is per link. */
START_TEST(link_info_and_ext_form)
{
    struct pair p;
    struct msg m;
    x400_p1_link_info ii, ri;
    x400_p1_itrace it;
    static const uint8_t it88[] = { 0xa0, 0x03, 0x02, 0x01, 0x26 };
    int found = 0;
    ini_ext_form = X400_P1_EXT_FORM_1988;
    open_pair(&p, X400_MODE_NORMAL, "MTA-A", "secretA");
    ck_assert_int_eq(x400_p1_link_get_info(p.ini.l, &ii), X400_OK);
    ck_assert_int_eq(ii.bound, 0);
    pump(&p);
    ck_assert_int_eq(x400_p1_link_get_info(p.ini.l, &ii), X400_OK);
    ck_assert_int_eq(x400_p1_link_get_info(p.rsp.l, &ri), X400_OK);
    ck_assert_int_eq(ii.bound, 1);
    ck_assert_int_eq(ri.bound, 1);
    ck_assert_int_eq(ii.mode, X400_MODE_NORMAL);
    ck_assert_str_eq(ii.peer_name, "MTA-B");
    ck_assert_str_eq(ri.peer_name, "MTA-A");
    ck_assert_int_eq(ii.peer_authenticated, 1);
    ck_assert_int_eq(ri.peer_cred, X400_CRED_SIMPLE_IA5);
    ck_assert_int_eq(ii.session_version, 2);
    ck_assert_int_eq(ri.session_version, 2);
    ck_assert_uint_gt(ii.tpdu_size, 128);
    ck_assert_uint_eq(ii.tpdu_size, ri.tpdu_size);
    ck_assert_uint_eq(ii.checkpoint_kib, 4);
    ck_assert_uint_eq(ri.checkpoint_kib, 4);
    ck_assert_uint_eq(ii.window, ri.window);
    ck_assert_int_eq(ii.two_way_alternate, ri.two_way_alternate);
    ck_assert_int_eq(ii.initiator_turn, ri.initiator_turn);
    ck_assert_int_eq(x400_p1_link_get_info(NULL, &ii), X400_ERR_INVALID_ARG);
    /* an internal trace element goes out in the 1988 form on this link */
    mk(&m, X400_P1_MESSAGE, "F.1", 1, 10);
    x400_p1_itrace_init(&it);
    it.gdi = m.a.env.id.gdi;
    strcpy(it.mta, "mta-a");
    it.arrival = 1795250000;
    ck_assert_int_eq(x400_p1_itrace_append(&m.a, &it), X400_OK);
    ck_assert_int_eq(x400_p1_link_send(p.ini.l, &m.a, 1, NULL), X400_OK);
    pump(&p);
    ck_assert_uint_eq(p.rsp.received, 1);
    for (size_t i = 0; i + sizeof it88 <= p.rsp.last_raw_len; i++)
        found |= memcmp(p.rsp.last_raw + i, it88, sizeof it88) == 0;
    ck_assert(found);
    mk_free(&m);
    close_pair(&p);
}
END_TEST

/* An APDU over the receiver's limit: the abort is unavoidable, and it says
 * why -- RTAB permanentProblem (not localSystemProblem), and
 * x400_assoc_recv returns X400_ERR_LIMIT (not X400_ERR_CALLBACK_FAILURE:
 * no user callback failed). */
START_TEST(oversized_apdu_abort_says_why)
{
    struct pair p;
    struct msg m;
    int worst = 0;
    rsp_max_pdu = 2000;
    open_pair(&p, X400_MODE_NORMAL, "MTA-A", "secretA");
    pump(&p);
    ck_assert_int_eq(count_ev(&p.rsp, X400_P1_LINK_EV_BOUND), 1);
    mk(&m, X400_P1_MESSAGE, "H.1", 1, 5000);
    ck_assert_int_eq(x400_p1_link_send(p.ini.l, &m.a, 1, NULL), X400_OK);
    pump(&p);
    worst = p.io.first_refusal;
    ck_assert_int_eq(worst, X400_ERR_LIMIT);
    ck_assert_uint_eq(p.rsp.received, 0);
    ck_assert_int_eq(count_ev(&p.rsp, X400_P1_LINK_EV_ABORTED), 1);
    ck_assert_int_eq(p.rsp.last_diag.code, X400_ERR_LIMIT);
    ck_assert_int_eq(p.rsp.last_diag.source, X400_SOURCE_PEER);
    ck_assert_ptr_nonnull(strstr(p.rsp.last_diag.text, "permanentProblem"));
    ck_assert_int_eq(count_ev(&p.ini, X400_P1_LINK_EV_ABORTED), 1);
    ck_assert_ptr_nonnull(strstr(p.ini.last_diag.text, "permanentProblem"));
    ck_assert_uint_eq(p.ini.failed, 1);   /* the APDU is the sender's again */
    mk_free(&m);
    close_pair(&p);
}
END_TEST

/* The peer refuses the recovery (here the responder knows no waiting link:
 * RTORJ cannotRecover).  The initiator's link learns it at the first
 * refusal: the interrupted APDU comes back (SEND_FAILED) with the link no
 * longer bound -- the association is over, so the caller sends it again
 * at once on a new one, not after a message retry interval -- the link
 * ends (ABORTED), and no new association is asked for afterwards. */
START_TEST(recovery_refused_gives_apdu_back_unbound)
{
    struct pair p;
    struct msg m;
    struct rec r;
    rec_open(&p, &r, 1);
    ck_assert_int_eq(count_ev(&p.ini, X400_P1_LINK_EV_BOUND), 1);
    mk(&m, X400_P1_MESSAGE, "REF.1", 1, 200000);
    ck_assert_int_eq(x400_p1_link_send(p.ini.l, &m.a, 1, NULL), X400_OK);
    cut_after(&p, 60000);
    for (int i = 0; i < 20 && !r.need; i++) x400_p1_link_tick(p.ini.l, 3000u * (unsigned)(i + 1));
    ck_assert_int_eq(r.need, 1);
    pump(&p);                                     /* RTORQ recover -> RTORJ cannotRecover */
    ck_assert_int_eq(r.routed, 0);
    ck_assert_uint_eq(p.ini.failed, 1);
    ck_assert_int_eq(p.ini.failed_while_bound, 0);
    ck_assert_uint_eq(p.ini.sent, 0);
    ck_assert_int_eq(count_ev(&p.ini, X400_P1_LINK_EV_ABORTED), 1);
    ck_assert(!x400_p1_link_is_bound(p.ini.l));
    ck_assert_int_eq(x400_p1_link_is_recovering(p.ini.l), 0);
    ck_assert_msg(strstr(x400_p1_link_diag(p.ini.l)->text, "recovery refused"), "diag: %s",
                  x400_p1_link_diag(p.ini.l)->text);
    for (int i = 0; i < 40; i++) x400_p1_link_tick(p.ini.l, 100000u + 3000u * (unsigned)i);
    ck_assert_int_eq(r.need, 1);                  /* never asked again */
    rec_close(&p, &r, &m);
}
END_TEST

/* ---- the bind is decoded for the mode the association runs ---------------- */

/* A PP bind (the initiator's CR and CN of a recorded conversation) to a
 * responder link configured for `cfg_mode`, every TPKT split at `split`:
 * bound as `name`, and the RTOAC's open value is our MTABindResult in the
 * mode of the connection (`run_mode`). */
static void pp_bind(const x400t_ppvec *v, size_t split, x400_mode cfg_mode, x400_mode run_mode,
                    const char *name, const char *pw)
{
    struct side s;
    x400_p1_link_config cr;
    x400_assoc_config ar;
    x400_p1_link_callbacks cb = { &s, on_ev };
    x400_p1_peer pp_peers[1] = { { name, (const uint8_t *)pw, strlen(pw), 1 } };
    x400_p1_peer_table tab = { pp_peers, 1 };
    uint8_t *out = NULL;
    size_t out_len = 0, fed = 0;
    memset(&s, 0, sizeof s);
    x400_p1_link_config_init(&cr, X400_ROLE_RESPONDER);
    cr.mode = cfg_mode;
    snprintf(cr.own_name, sizeof cr.own_name, "MTA-B");
    memcpy(cr.own_password, "secretB", 7);
    cr.own_password_len = 7;
    cr.check = x400_p1_cred_check_default;
    cr.check_user = &tab;
    ck_assert_int_eq(x400_p1_link_new(&s.l, &cr, &cb, NULL), X400_OK);
    x400_assoc_config_init(&ar, X400_ROLE_RESPONDER);
    ar.mode = cfg_mode == X400_MODE_X410 ? X400_MODE_X410 : X400_MODE_NORMAL;
    ck_assert_int_eq(x400_assoc_new(&s.a, &ar, NULL, NULL), X400_OK);
    ck_assert_int_eq(x400_p1_link_attach(s.l, s.a), X400_OK);
    for (size_t k = 0; k < v->n && fed < 2; k++) {
        if (!v->t[k].from_initiator) continue;
        fed++;                                     /* CR, then CN + CP */
        ck_assert_int_eq(x400t_feed(&x400t_assoc_end, s.a, v->t[k].p, v->t[k].len, split, 0),
                         (int)v->t[k].len);
        x400t_take(&x400t_assoc_end, s.a, &out, &out_len, NULL, 0);
    }
    ck_assert_msg(count_ev(&s, X400_P1_LINK_EV_BOUND) == 1, "not bound: %s", s.last_diag.text);
    ck_assert_str_eq(s.peer, name);
    ck_assert_int_eq(x400_assoc_get_mode(s.a),
                     run_mode == X400_MODE_X410 ? X400_MODE_X410 : X400_MODE_NORMAL);
    {
        /* our answer: AC + CPA whose RTOAC carries our MTABindResult */
        size_t ul = 0, last = 0;
        const uint8_t *ud;
        x400i_ppdu pp;
        x400_diag d;
        RTSE_apdus_t *ap = NULL;
        asn_dec_rval_t rv;
        x400_p1_bind br;
        for (size_t off = 0; off + 4 <= out_len; off += (size_t)out[off + 2] << 8 | out[off + 3]) last = off;
        ud = x400t_tpkt_user_data(out + last, out_len - last, &ul);
        ck_assert_ptr_nonnull(ud);
        /* a normal-mode CPA for a normal CP, an X.410-1984 one (which the
         * presentation decoder refuses) for an X.410 CP */
        ck_assert_int_eq(x400i_ppdu_decode(X400I_PPDU_CPA, ud, ul, &pp, NULL, 65536, &d) == X400_OK,
                         run_mode == X400_MODE_NORMAL);
        if (run_mode == X400_MODE_X410) {
            x400i_buf xb;
            x400i_view x410;
            x400i_buf_init(&xb, NULL, 65536);
            ck_assert_int_eq(x400i_rtse_ses_decode(X400I_PPDU_CPA, ud, ul, &xb, &x410), X400_OK);
            rv = ber_decode(NULL, &asn_DEF_RTSE_apdus, (void **)&ap, x410.p, x410.len);
            x400i_buf_free(&xb);
            ck_assert_int_eq(rv.code, RC_OK);
            ck_assert_int_eq(ap->present, RTSE_apdus_PR_rtoac_apdu);
            ck_assert_int_eq(ap->choice.rtoac_apdu.connectionDataAC.present, ConnectionData_PR_open);
            ck_assert_int_eq(x400_p1_bind_decode(ap->choice.rtoac_apdu.connectionDataAC.choice.open.buf,
                                                 (size_t)ap->choice.rtoac_apdu.connectionDataAC.choice.open.size,
                                                 X400_MODE_X410, X400_P1_BIND_RESULT, &br, &d), X400_OK);
            ck_assert_str_eq(br.name, "MTA-B");
            ASN_STRUCT_FREE(asn_DEF_RTSE_apdus, ap);
        }
        x400i_ppdu_release(&pp);
    }
    free(out);
    x400_p1_link_free(s.l);
    x400_assoc_free(s.a);
}

/* PP's X.410-1984 bind (MTABindArgument directly in RTORQ open) reaches a
 * responder configured for 1988 normal mode: decoded as 1984, bound, and
 * answered in 1984 form; PP's 1988 bind (ROS bind-invoke) reaches one
 * configured for X.410 mode: decoded and answered as 1988. */
START_TEST(bind_decoded_for_the_connection_mode)
{
    x400t_ppvec v84, v88;
    x400t_ppvec_load(&v84, "pp-init-1984-twa-bind.txt");
    x400t_ppvec_load(&v88, "pp-pp-1988-twa.txt");
    for (size_t split = 0; split < v84.t[2].len; split++)
        pp_bind(&v84, split, X400_MODE_NORMAL, X400_MODE_X410, "PPX", "ppx-pw");
    for (size_t split = 0; split < v88.t[2].len; split++)
        pp_bind(&v88, split, X400_MODE_X410, X400_MODE_NORMAL, "PPA", "ppa-pw");
    x400t_ppvec_free(&v84);
    x400t_ppvec_free(&v88);
}
END_TEST

/* want_write / want_close (as nghttp2's want_write): output pending, and
 * finished with nothing left to send -- for the link and the association. */
START_TEST(want_write_and_want_close)
{
    struct pair p;
    ck_assert_int_eq(x400_assoc_want_write(NULL), 0);
    ck_assert_int_eq(x400_assoc_want_close(NULL), 0);
    ck_assert_int_eq(x400_p1_link_want_write(NULL), 0);
    ck_assert_int_eq(x400_p1_link_want_close(NULL), 0);
    open_pair(&p, X400_MODE_NORMAL, "MTA-A", "secretA");
    /* the CR is queued at the initiator; the responder has nothing yet */
    ck_assert_int_eq(x400_assoc_want_write(p.ini.a), 1);
    ck_assert_int_eq(x400_p1_link_want_write(p.ini.l), 1);
    ck_assert_int_eq(x400_p1_link_want_write(p.rsp.l), 0);
    ck_assert_int_eq(x400_p1_link_want_close(p.ini.l) + x400_p1_link_want_close(p.rsp.l), 0);
    ck_assert_int_eq(x400_assoc_want_close(p.ini.a) + x400_assoc_want_close(p.rsp.a), 0);
    pump(&p);
    ck_assert(x400_p1_link_is_bound(p.ini.l));
    ck_assert_int_eq(x400_p1_link_want_write(p.ini.l) + x400_p1_link_want_write(p.rsp.l), 0);
    ck_assert_int_eq(x400_p1_link_want_close(p.ini.l) + x400_p1_link_want_close(p.rsp.l), 0);
    ck_assert_int_eq(x400_p1_link_close(p.ini.l), X400_OK);
    ck_assert_int_eq(x400_p1_link_want_write(p.ini.l), 1);          /* the FN */
    (void)x400t_pair_move(&p.io, 0);
    /* the responder's link has ended (released); the DN is its association's
     * to send: the connection closes when the association says so */
    ck_assert_int_eq(count_ev(&p.rsp, X400_P1_LINK_EV_RELEASED), 1);
    ck_assert_int_eq(x400_p1_link_want_close(p.rsp.l), 1);
    ck_assert_int_eq(x400_assoc_want_write(p.rsp.a), 1);
    ck_assert_int_eq(x400_assoc_want_close(p.rsp.a), 0);
    ck_assert_int_eq(x400_p1_link_want_close(p.ini.l), 0);          /* waits for the DN */
    (void)x400t_pair_move(&p.io, 1);
    pump(&p);
    ck_assert_int_eq(count_ev(&p.ini, X400_P1_LINK_EV_RELEASED), 1);
    ck_assert_int_eq(x400_p1_link_want_close(p.rsp.l), 1);
    ck_assert_int_eq(x400_p1_link_want_close(p.ini.l), 1);
    ck_assert_int_eq(x400_assoc_want_close(p.rsp.a), 1);
    ck_assert_int_eq(x400_assoc_want_close(p.ini.a), 1);
    ck_assert_int_eq(x400_assoc_want_write(p.ini.a) + x400_assoc_want_write(p.rsp.a), 0);
    close_pair(&p);
}
END_TEST

/* The link fills in what every caller did by hand: this MTA's trace
 * element in an empty trace, recipient numbers 1..n when all are 0; what
 * the caller filled is sent as it was. */
static int64_t fixed_clock(void *user)
{
    (void)user;
    return 1795260000;
}

START_TEST(trace_and_recipient_numbers_filled_in)
{
    static const x400_gdi ours = { "XX", "ADMD", "ALPHA", 0, 0 };
    struct pair p;
    struct msg m;
    x400_p1_apdu rep;
    x400_p1_outcome out = { 0, 1, 1795255000, 0, -1, NULL };
    x400_mtsid rid;
    ini_trace_gdi = &ours;
    ini_clock = fixed_clock;
    open_pair(&p, X400_MODE_NORMAL, "MTA-A", "secretA");
    pump(&p);
    /* a message with neither trace nor numbers */
    mk(&m, X400_P1_MESSAGE, "T.1", 3, 100);
    m.a.env.n_trace = 0;
    m.a.env.trace = NULL;
    for (int i = 0; i < 3; i++) m.r[i].osrn = 0;
    ck_assert_int_eq(x400_p1_link_send(p.ini.l, &m.a, 1, NULL), X400_OK);
    ck_assert_uint_eq(m.a.env.n_trace, 0);                 /* the caller's APDU is untouched */
    ck_assert_uint_eq(m.r[2].osrn, 0);
    pump(&p);
    ck_assert_uint_eq(p.rsp.received, 1);
    ck_assert_uint_eq(p.rsp.last_ntrace, 1);
    ck_assert_str_eq(p.rsp.last_trace.gdi.country, "XX");
    ck_assert_str_eq(p.rsp.last_trace.gdi.admd, "ADMD");
    ck_assert_str_eq(p.rsp.last_trace.gdi.prmd, "ALPHA");
    ck_assert_int_eq(p.rsp.last_trace.arrival, 1795260000);
    ck_assert_int_eq(p.rsp.last_trace.routing_action, X400_ROUTE_RELAYED);
    ck_assert_uint_eq(p.rsp.last_osrn[0], 1);
    ck_assert_uint_eq(p.rsp.last_osrn[1], 2);
    ck_assert_uint_eq(p.rsp.last_osrn[2], 3);
    /* a probe likewise */
    mk_free(&m);
    mk(&m, X400_P1_PROBE, "T.2", 2, 10);
    m.a.env.n_trace = 0;
    m.r[0].osrn = m.r[1].osrn = 0;
    ck_assert_int_eq(x400_p1_link_send(p.ini.l, &m.a, 2, NULL), X400_OK);
    pump(&p);
    ck_assert_int_eq(p.rsp.last_kind, X400_P1_PROBE);
    ck_assert_uint_eq(p.rsp.last_ntrace, 1);
    ck_assert_str_eq(p.rsp.last_trace.gdi.admd, "ADMD");
    ck_assert_uint_eq(p.rsp.last_osrn[0], 1);
    ck_assert_uint_eq(p.rsp.last_osrn[1], 2);
    /* a report with an empty trace; its recipient numbers are the subject's */
    mk_free(&m);
    mk(&m, X400_P1_MESSAGE, "T.3", 2, 10);
    m.r[0].osrn = 7;
    m.r[1].osrn = 9;
    rid = m.a.env.id;
    snprintf(rid.local, sizeof rid.local, "R.3");
    ck_assert_int_eq(x400_p1_report_build(&rep, &m.a, &rid, &m.a.env.id.gdi, 1795250000, 1795250001,
                                          &out, 1, NULL, NULL), X400_OK);
    rep.report.n_trace = 0;
    ck_assert_int_eq(x400_p1_link_send(p.ini.l, &rep, 3, NULL), X400_OK);
    pump(&p);
    ck_assert_int_eq(p.rsp.last_kind, X400_P1_REPORT);
    ck_assert_uint_eq(p.rsp.last_ntrace, 1);
    ck_assert_str_eq(p.rsp.last_trace.gdi.country, "XX");
    ck_assert_int_eq(p.rsp.last_trace.arrival, 1795260000);
    ck_assert_uint_eq(p.rsp.last_osrn[0], 7);
    x400_p1_apdu_free(&rep);
    /* what the caller filled goes as it was */
    ck_assert_int_eq(x400_p1_link_send(p.ini.l, &m.a, 4, NULL), X400_OK);
    pump(&p);
    ck_assert_str_eq(p.rsp.last_local, "T.3");
    ck_assert_uint_eq(p.rsp.last_ntrace, 1);
    ck_assert_str_eq(p.rsp.last_trace.gdi.country, "GB");
    ck_assert_str_eq(p.rsp.last_trace.gdi.prmd, "SMHS");
    ck_assert_int_eq(p.rsp.last_trace.arrival, 1795250000);
    ck_assert_uint_eq(p.rsp.last_osrn[0], 7);
    ck_assert_uint_eq(p.rsp.last_osrn[1], 9);
    ck_assert_uint_eq(p.ini.sent, 4);
    mk_free(&m);
    close_pair(&p);
    /* no clock: the time of the last tick (wall-clock milliseconds) */
    ini_trace_gdi = &ours;
    open_pair(&p, X400_MODE_X410, "MTA-A", "secretA");
    ck_assert_int_eq(x400_p1_link_tick(p.ini.l, 1795270123456ull), X400_OK);
    pump(&p);
    mk(&m, X400_P1_MESSAGE, "T.4", 1, 10);
    m.a.env.n_trace = 0;
    ck_assert_int_eq(x400_p1_link_send(p.ini.l, &m.a, 5, NULL), X400_OK);
    pump(&p);
    ck_assert_uint_eq(p.rsp.received, 1);
    ck_assert_int_eq(p.rsp.last_trace.arrival, 1795270123);
    ck_assert_str_eq(p.rsp.last_trace.gdi.prmd, "ALPHA");
    ck_assert_uint_eq(p.rsp.last_osrn[0], 1);              /* mk numbered it */
    mk_free(&m);
    close_pair(&p);
    /* without trace_gdi an empty trace is the caller's error, as before */
    open_pair(&p, X400_MODE_NORMAL, "MTA-A", "secretA");
    mk(&m, X400_P1_MESSAGE, "T.5", 1, 10);
    m.a.env.n_trace = 0;
    ck_assert_int_eq(x400_p1_link_send(p.ini.l, &m.a, 6, NULL), X400_ERR_INVALID_ARG);
    mk_free(&m);
    close_pair(&p);
}
END_TEST

/* A responder restarted from its record: the previous process stored every
 * PERSIST record with the APDU octets (as an MTA's spool would); the new
 * link restored from them takes the initiator's recovery, receives only the
 * rest of a cut 1 MiB transfer (resent octets <= window x checkpoint) and
 * delivers the APDU once. */
struct store {
    uint8_t rec[X400_RTSE_RECORD_MAX];
    size_t rec_len;
    uint8_t *oct;
    size_t oct_len;
    unsigned persists;
    unsigned snap_at;       /* keep a copy of the record stored at this PERSIST */
    uint8_t snap_rec[X400_RTSE_RECORD_MAX];
    size_t snap_rec_len;
    uint8_t *snap_oct;
    size_t snap_oct_len;
};
static struct store *STORE;

static int store_ev(void *u, x400_p1_link *l, const x400_p1_link_event *e)
{
    if (e->type == X400_P1_LINK_EV_PERSIST && STORE) {
        STORE->persists++;
        ck_assert_uint_le(e->record_len, sizeof STORE->rec);
        if (e->record_len) memcpy(STORE->rec, e->record, e->record_len); /* 0: erased */
        STORE->rec_len = e->record_len;
        /* only what is new is written: the octets grow within a transfer */
        if (e->raw_len < STORE->oct_len) STORE->oct_len = e->raw_len;
        STORE->oct = realloc(STORE->oct, e->raw_len ? e->raw_len : 1);
        if (e->raw_len > STORE->oct_len)
            memcpy(STORE->oct + STORE->oct_len, e->raw + STORE->oct_len, e->raw_len - STORE->oct_len);
        STORE->oct_len = e->raw_len;
        if (STORE->persists == STORE->snap_at) {
            ck_assert_uint_gt(e->record_len, 0);
            memcpy(STORE->snap_rec, e->record, e->record_len);
            STORE->snap_rec_len = e->record_len;
            STORE->snap_oct = malloc(e->raw_len ? e->raw_len : 1);
            if (e->raw_len) memcpy(STORE->snap_oct, e->raw, e->raw_len);
            STORE->snap_oct_len = e->raw_len;
        }
    }
    return rec_ev(u, l, e);
}

#define T0 1795250000000ull   /* wall-clock milliseconds: records outlive a process */

/* The pair of restarted_responder: both links at T0, the responder's
 * PERSIST records kept in `st`, bound over one association. */
static void restart_open(struct pair *p, struct rec *r, struct store *st, x400_mode mode,
                         x400_p1_link_config *cr)
{
    x400_assoc_config ai, ar;
    x400_p1_link_config ci;
    x400_p1_link_callbacks cbi = { &p->ini, rec_ev }, cbr = { &p->rsp, store_ev };
    memset(p, 0, sizeof *p);
    memset(r, 0, sizeof *r);
    memset(st, 0, sizeof *st);
    r->p = p;
    r->x410 = mode == X400_MODE_X410;
    REC = r;
    STORE = st;
    pair_io(p);
    ck_assert_int_eq(x400_p1_idset_new(&p->seen, 100, NULL), X400_OK);
    x400_p1_link_config_init(&ci, X400_ROLE_INITIATOR);
    x400_p1_link_config_init(cr, X400_ROLE_RESPONDER);
    ci.rtse.checkpoint_size_kib = cr->rtse.checkpoint_size_kib = 4;
    ci.mode = mode;
    snprintf(ci.own_name, sizeof ci.own_name, "MTA-A");
    memcpy(ci.own_password, "secretA", 7);
    ci.own_password_len = 7;
    snprintf(cr->own_name, sizeof cr->own_name, "MTA-B");
    cr->check = x400_p1_cred_check_default;
    cr->check_user = &peer_table;
    cr->seen = p->seen;
    ck_assert_int_eq(x400_p1_link_new(&p->ini.l, &ci, &cbi, NULL), X400_OK);
    ck_assert_int_eq(x400_p1_link_new(&p->rsp.l, cr, &cbr, NULL), X400_OK);
    ck_assert_int_eq(x400_p1_link_tick(p->ini.l, T0), X400_OK);
    ck_assert_int_eq(x400_p1_link_tick(p->rsp.l, T0), X400_OK);
    x400_assoc_config_init(&ai, X400_ROLE_INITIATOR);
    x400_assoc_config_init(&ar, X400_ROLE_RESPONDER);
    ai.mode = mode;
    memcpy(ai.calling_ref, "MTA-A/1", 7);
    ai.calling_ref_len = 7;
    memcpy(ai.common_ref, "261204190000Z", 13);
    ai.common_ref_len = 13;
    ck_assert_int_eq(x400_assoc_new(&p->ini.a, &ai, NULL, NULL), X400_OK);
    ck_assert_int_eq(x400_assoc_new(&p->rsp.a, &ar, NULL, NULL), X400_OK);
    ck_assert_int_eq(x400_p1_link_attach(p->rsp.l, p->rsp.a), X400_OK);
    ck_assert_int_eq(x400_p1_link_attach(p->ini.l, p->ini.a), X400_OK);
    ck_assert_int_eq(x400_assoc_connect(p->ini.a), X400_OK);
    pump(p);
    ck_assert_int_eq(count_ev(&p->rsp, X400_P1_LINK_EV_BOUND), 1);
}

/* The responder's process ends; a new link (same configuration, ticked
 * later on the wall clock) takes its place, as a restarted MTA's would. */
static void restart_responder_link(struct pair *p, struct side *old, const x400_p1_link_config *cr)
{
    x400_p1_link_callbacks cbr = { &p->rsp, store_ev };
    *old = p->rsp;
    x400_p1_link_free(p->rsp.l);
    memset(&p->rsp, 0, sizeof p->rsp);
    p->rsp.a = old->a;   /* freed with the others by rec_ev's list */
    ck_assert_int_eq(x400_p1_link_new(&p->rsp.l, cr, &cbr, NULL), X400_OK);
    ck_assert_int_eq(x400_p1_link_tick(p->rsp.l, T0 + 1000), X400_OK);
}

/* What the restarted-responder cases share: the bound pair, its recovery
 * and the responder's stored records, the responder before the restart and
 * its configuration, the message in transfer and its encoding. */
struct restart {
    struct pair p;
    struct rec r;
    struct store st;
    struct side old_rsp;
    x400_p1_link_config cr;
    x400_p1_link_info info;
    struct msg m;
    uint8_t *enc;
    size_t enc_len;
};

/* restart_open, then a message of `size` content octets (id `local`,
 * two recipients) sent on the initiator's link; snap_at: keep a copy of
 * the responder's record stored at that PERSIST (0: none). */
static void restart_begin(struct restart *x, x400_mode mode, const char *local, size_t size, unsigned snap_at)
{
    memset(x, 0, sizeof *x);
    restart_open(&x->p, &x->r, &x->st, mode, &x->cr);
    x->st.snap_at = snap_at;
    mk(&x->m, X400_P1_MESSAGE, local, 2, size);
    ck_assert_int_eq(x400_p1_encode_alloc(&x->m.a, NULL, &x->enc, &x->enc_len, NULL), X400_OK);
    ck_assert_int_eq(x400_p1_link_send(x->p.ini.l, &x->m.a, 1, NULL), X400_OK);
}

/* The links go on after the first transfer: a second message (id
 * `local`) is sent and delivered. */
static void restart_another(struct restart *x, const char *local)
{
    mk_free(&x->m);
    mk(&x->m, X400_P1_MESSAGE, local, 1, 5000);
    ck_assert_int_eq(x400_p1_link_send(x->p.ini.l, &x->m.a, 2, NULL), X400_OK);
    pump(&x->p);
    ck_assert_uint_eq(x->p.rsp.received, 2);
    ck_assert_str_eq(x->p.rsp.last_local, local);
    ck_assert_uint_eq(x->p.ini.sent, 2);
}

static void restart_end(struct restart *x)
{
    REC = NULL;
    STORE = NULL;
    free(x->st.oct);
    free(x->st.snap_oct);
    free(x->old_rsp.last_raw);
    x400_p1_link_free(x->r.fresh);
    for (int i = 0; i < x->r.nfresh_gone; i++) x400_p1_link_free(x->r.fresh_gone[i]);
    close_pair(&x->p);
    for (int i = 0; i < x->r.nold; i++) x400_assoc_free(x->r.old[i]);
    mk_free(&x->m);
    free(x->enc);
}

static void restarted_responder(x400_mode mode)
{
    struct restart x;
    x400_rtse_record_info ri;
    uint8_t bad[X400_RTSE_RECORD_MAX];
    size_t n;
    restart_begin(&x, mode, "RST.1", 1u << 20, 0);
    /* about 600000 octets reach the responder, then the connection breaks */
    cut_after(&x.p, 600000);   /* about 600000 octets reach the responder */
    ck_assert_uint_eq(x.p.rsp.received, 0);
    ck_assert_uint_gt(x.st.persists, 10);
    ck_assert_int_eq(x400_rtse_record_info_get(x.st.rec, x.st.rec_len, &ri), X400_OK);
    ck_assert_int_eq(ri.state, X400_RTSE_RECORD_RECEIVING);
    ck_assert_uint_eq(ri.delivered, x.st.oct_len);
    ck_assert_uint_gt(ri.delivered, 400000);
    ck_assert_mem_eq(x.st.oct, x.enc, x.st.oct_len);            /* the octets are the APDU's */
    /* the responder's process ends; a new one starts from what was stored */
    restart_responder_link(&x.p, &x.old_rsp, &x.cr);
    /* what does not match the record is refused, and changes nothing */
    ck_assert_int_eq(x400_p1_link_restore(x.p.rsp.l, x.st.rec, x.st.rec_len, x.st.oct, x.st.oct_len - 1),
                     X400_ERR_INVALID_ARG);
    memcpy(bad, x.st.rec, x.st.rec_len);
    bad[x.st.rec_len / 2] ^= 1;
    ck_assert_int_eq(x400_p1_link_restore(x.p.rsp.l, bad, x.st.rec_len, x.st.oct, x.st.oct_len),
                     X400_ERR_CORRUPT);
    ck_assert_int_eq(x400_p1_link_waiting_ref(x.p.rsp.l, bad, sizeof bad, &n), X400_ERR_NOT_FOUND);
    ck_assert_int_eq(x400_p1_link_restore(x.p.rsp.l, x.st.rec, x.st.rec_len, x.st.oct, x.st.oct_len), X400_OK);
    ck_assert_int_eq(x400_p1_link_waiting_ref(x.p.rsp.l, bad, sizeof bad, &n), X400_OK);
    ck_assert_int_eq(x400_p1_link_restore(x.p.rsp.l, x.st.rec, x.st.rec_len, x.st.oct, x.st.oct_len),
                     X400_ERR_STATE);
    /* the initiator's RTSE reconnects; the fresh inbound link routes it */
    for (int i = 0; i < 20 && !x.r.need; i++) x400_p1_link_tick(x.p.ini.l, T0 + 3000u * (unsigned)(i + 1));
    ck_assert_int_eq(x.r.need, 1);
    pump(&x.p);
    ck_assert_int_eq(x.r.routed, 1);
    ck_assert_uint_eq(x.p.rsp.received, 1);                 /* once, on the restored link */
    ck_assert_uint_eq(x.old_rsp.received, 0);
    ck_assert_uint_eq(x.r.fresh_side.received, 0);
    ck_assert_uint_eq(x.p.rsp.content_sum, sum(&x.m));
    ck_assert_uint_eq(x.p.rsp.last_raw_len, x.enc_len);
    ck_assert_mem_eq(x.p.rsp.last_raw, x.enc, x.enc_len);
    ck_assert_uint_eq(x.p.ini.sent, 1);
    ck_assert_uint_eq(x.p.ini.failed, 0);
    ck_assert(x400_p1_link_is_bound(x.p.rsp.l));
    /* not resent from octet 0: at most window x checkpoint again (the
     * APDV adds the EXTERNAL header, at most 16 octets) */
    ck_assert_int_eq(x400_p1_link_get_info(x.p.ini.l, &x.info), X400_OK);
    ck_assert_uint_ge(x.info.octets_sent, x.enc_len);
    ck_assert_uint_le(x.info.octets_sent, x.enc_len + 16 + 5u * 4u * 1024u);
    /* the link goes on: another transfer, and the record of this one goes */
    restart_another(&x, "RST.2");
    restart_end(&x);
}

START_TEST(restarted_responder_resumes_from_its_record)
{
    restarted_responder(X400_MODE_NORMAL);
    restarted_responder(X400_MODE_X410);
}
END_TEST

/* A responder restarted from a record OLDER than the initiator's last
 * confirmed checkpoint (what a crash leaves when a checkpoint's record is
 * confirmed before it is on disk): the initiator resumes after a serial the
 * restored link never confirmed.  The resume is refused with an exception
 * report, the initiator discards the activity and transfers the APDU again
 * from octet 0 on the same association (X.225 7.21, 7.29; X.228 9.6); the
 * APDU is delivered once and both links go on. */
static void stale_record(x400_mode mode)
{
    struct restart x;
    x400_rtse_record_info ri, early;
    restart_begin(&x, mode, "STL.1", 1u << 20, 4);
    cut_after(&x.p, 600000);
    ck_assert_uint_eq(x.p.rsp.received, 0);
    ck_assert_uint_gt(x.st.persists, 10);
    ck_assert_int_eq(x400_rtse_record_info_get(x.st.rec, x.st.rec_len, &ri), X400_OK);
    ck_assert_int_eq(x400_rtse_record_info_get(x.st.snap_rec, x.st.snap_rec_len, &early), X400_OK);
    ck_assert_int_eq(early.state, X400_RTSE_RECORD_RECEIVING);
    ck_assert_uint_lt(early.delivered + 5u * 4u * 1024u, ri.delivered); /* older than the window */
    ck_assert_mem_eq(x.st.snap_oct, x.enc, x.st.snap_oct_len);
    restart_responder_link(&x.p, &x.old_rsp, &x.cr);
    ck_assert_int_eq(x400_p1_link_restore(x.p.rsp.l, x.st.snap_rec, x.st.snap_rec_len, x.st.snap_oct,
                                          x.st.snap_oct_len),
                     X400_OK);
    for (int i = 0; i < 20 && !x.r.need; i++) x400_p1_link_tick(x.p.ini.l, T0 + 3000u * (unsigned)(i + 1));
    ck_assert_int_eq(x.r.need, 1);
    pump(&x.p);
    ck_assert_int_eq(x.r.routed, 1);
    ck_assert_msg(x.p.rsp.received == 1, "received %u (fresh link %u), sender sent %u failed %u: %s / %s",
                  x.p.rsp.received, x.r.fresh_side.received, x.p.ini.sent, x.p.ini.failed, x.p.rsp.last_diag.text,
                  x.p.ini.last_diag.text);
    ck_assert_uint_eq(x.r.fresh_side.received, 0);
    ck_assert_uint_eq(x.p.rsp.duplicates, 0);
    ck_assert_mem_eq(x.p.rsp.last_raw, x.enc, x.enc_len);
    ck_assert_uint_eq(x.p.ini.sent, 1);
    ck_assert_uint_eq(x.p.ini.failed, 0);
    ck_assert(x400_p1_link_is_bound(x.p.rsp.l));
    ck_assert(x400_p1_link_is_bound(x.p.ini.l));
    /* resent from octet 0: the whole APDU once more after the resume */
    ck_assert_int_eq(x400_p1_link_get_info(x.p.ini.l, &x.info), X400_OK);
    ck_assert_uint_ge(x.info.octets_sent, 2 * x.enc_len - (x.enc_len - 600000) - 16);
    /* the link goes on: another transfer arrives */
    restart_another(&x, "STL.2");
    restart_end(&x);
}

START_TEST(restored_stale_record_transfer_restarts_once)
{
    stale_record(X400_MODE_NORMAL);
    stale_record(X400_MODE_X410);
}
END_TEST

#define RTAB_UNRECOGNIZED_ACTIVITY 2 /* AbortReason, X.228 */
#define RTORJ_CANNOT_RECOVER 1       /* RefuseReason, X.228 */

static void assert_diag(const x400_diag *d, x400_source source, int code, int reason)
{
    ck_assert_msg(d->layer == X400_LAYER_RTSE && d->source == source && d->code == code && d->reason == reason,
                  "diag %d/%d/%d/%d, want RTSE/%d/%d/%d: %s", (int)d->layer, (int)d->source, d->code, d->reason,
                  (int)source, code, reason, d->text);
}

/* The connection a recovery replaced ends at the responder as TCP would
 * end it: what the initiator's side still had to send -- its ABORT SPDU
 * (TPKT, DT, SPDU type 25) -- then the close. */
static void old_connection_ends(struct rec *r)
{
    x400_assoc *ai = r->old[r->nold - 2], *ar = r->old[r->nold - 1];
    const uint8_t *b;
    size_t n = x400_assoc_pending(ai, &b);
    ck_assert_uint_ge(n, 8);
    ck_assert_uint_eq(b[0], 3);
    ck_assert_uint_eq(b[7], 25);
    while ((n = x400_assoc_pending(ai, &b)) > 0) {
        ck_assert_int_eq(x400_assoc_recv(ar, b, n), (int)n);
        x400_assoc_sent(ai, n);
    }
    x400_assoc_transport_closed(ar);
}

/* The stale resume again, but cut so close to the end that the rest of
 * the activity fits the sender's window: after the resume the sender has
 * sent it all and P-ACTIVITY-END before the receiver's
 * P-U-EXCEPTION-REPORT arrives.  Its session refuses the report in that
 * state (lib/session.c: no ED SPDU while waiting for the activity end
 * ack; X.225 7.21) and aborts the connection; the receiver dropped the
 * activity when it refused the resume.  old_end_first: the receiver hears
 * of the loss (the ABORT SPDU, then the transport closing) before the
 * next connection arrives, waits for the recovery and answers its
 * P-ACTIVITY-RESUME with RTAB unrecognizedActivity (X.228 9.7); else the
 * new connection's RTORQ recover comes first and is refused (RTORJ
 * cannotRecover), and the receiver, told of the loss later, gives up at
 * its recovery timeout.  Either way both links end, the sender's with the
 * APDU given back; nothing was delivered; the user sends the APDU again
 * on a new association and it arrives once (doc/rtse.md, "Recovery"). */
static void stale_record_after_end(x400_mode mode, int old_end_first)
{
    struct restart x;
    struct pair q;
    x400_rtse_record_info ri, early;
    restart_begin(&x, mode, "STE.1", 200000, 4);
    cut_after(&x.p, x.enc_len - 6000);
    ck_assert_uint_eq(x.p.rsp.received, 0);
    ck_assert_int_eq(x400_rtse_record_info_get(x.st.rec, x.st.rec_len, &ri), X400_OK);
    ck_assert_int_eq(x400_rtse_record_info_get(x.st.snap_rec, x.st.snap_rec_len, &early), X400_OK);
    ck_assert_uint_lt(early.delivered + 5u * 4u * 1024u, ri.delivered); /* older than the window */
    /* what the sender resumes after: the rest (under 6000 octets plus the
     * unconfirmed checkpoints) fits its window of 5 x 4 KiB */
    ck_assert_uint_gt(ri.delivered + 5u * 4u * 1024u - 4096u, x.enc_len);
    restart_responder_link(&x.p, &x.old_rsp, &x.cr);
    ck_assert_int_eq(x400_p1_link_restore(x.p.rsp.l, x.st.snap_rec, x.st.snap_rec_len, x.st.snap_oct,
                                          x.st.snap_oct_len),
                     X400_OK);
    /* the recovery (connected at the cut) is routed to the restored link;
     * a second one waits until the test connects it */
    x.r.hold = 1;
    for (int i = 0; i < 20 && !x.r.need; i++) x400_p1_link_tick(x.p.ini.l, T0 + 3000u * (unsigned)(i + 1));
    ck_assert_int_eq(x.r.need, 1);
    pump(&x.p);
    ck_assert_int_eq(x.r.routed, 1);
    /* the sender sent the rest and the activity end (no restart from
     * octet 0), then lost the connection and asks for another */
    ck_assert_int_eq(x400_p1_link_get_info(x.p.ini.l, &x.info), X400_OK);
    ck_assert_uint_ge(x.info.octets_sent, x.enc_len);
    ck_assert_uint_lt(x.info.octets_sent, x.enc_len + 5u * 4u * 1024u + 16u);
    ck_assert_int_eq(x.r.need, 2);
    ck_assert_uint_eq(x.p.ini.failed + x.p.ini.sent + x.p.rsp.received, 0);
    ck_assert_int_eq(x400_p1_link_is_recovering(x.p.ini.l), 1);
    ck_assert_int_eq(x.st.rec_len, 0); /* the receiver's record erased */
    if (old_end_first) {
        old_connection_ends(&x.r);
        ck_assert_int_eq(x400_p1_link_is_recovering(x.p.rsp.l), 1); /* waits for the recovery */
        ck_assert_int_eq(x400_assoc_connect(x.p.ini.a), X400_OK);
        pump(&x.p);
        ck_assert_int_eq(x.r.routed, 2);
        /* receiver: RTAB unrecognizedActivity sent, the link ended */
        ck_assert_int_eq(count_ev(&x.p.rsp, X400_P1_LINK_EV_ABORTED), 1);
        assert_diag(&x.p.rsp.last_diag, X400_SOURCE_PEER, X400_ERR_PROTOCOL, RTAB_UNRECOGNIZED_ACTIVITY);
        ck_assert_msg(strstr(x.p.rsp.last_diag.text, "unknown activity"), "%s", x.p.rsp.last_diag.text);
        /* sender: aborted by the peer's RTSE, the APDU given back once,
         * after the link stopped saying bound (the RT-association went
         * with it: the user sends it again on the next one at once, not
         * as an APDU that failed on a live association; doc/rtse.md) */
        ck_assert_uint_eq(x.p.ini.failed, 1);
        ck_assert_int_eq(x.p.ini.failed_while_bound, 0);
        assert_diag(&x.p.ini.last_diag, X400_SOURCE_PEER, X400_ERR_ABORTED, RTAB_UNRECOGNIZED_ACTIVITY);
    } else {
        /* the new connection's RTORQ recover comes first: the receiver,
         * not waiting for a recovery, refuses it (RTORJ cannotRecover);
         * the sender's link ends, then gives the APDU back */
        ck_assert_int_eq(x400_assoc_connect(x.p.ini.a), X400_OK);
        pump(&x.p);
        ck_assert_int_eq(x.r.routed, 1);
        ck_assert_uint_eq(x.p.ini.failed, 1);
        ck_assert_int_eq(x.p.ini.failed_while_bound, 0);
        assert_diag(&x.p.ini.last_diag, X400_SOURCE_PEER, X400_ERR_REFUSED, RTORJ_CANNOT_RECOVER);
        /* the old connection's end reaches the receiver late: it waits for
         * a recovery that does not come, and gives up at its timeout */
        ck_assert_int_eq(count_ev(&x.p.rsp, X400_P1_LINK_EV_ABORTED), 0);
        old_connection_ends(&x.r);
        ck_assert_int_eq(x400_p1_link_is_recovering(x.p.rsp.l), 1);
        ck_assert_int_eq(x400_p1_link_tick(x.p.rsp.l, T0 + 1000u + 61000u), X400_OK);
        ck_assert_int_eq(count_ev(&x.p.rsp, X400_P1_LINK_EV_ABORTED), 1);
        ck_assert_int_eq(x.p.rsp.last_diag.code, X400_ERR_TIMEOUT);
    }
    ck_assert_uint_eq(x.p.ini.sent, 0);
    ck_assert_int_eq(count_ev(&x.p.ini, X400_P1_LINK_EV_ABORTED), 1);
    /* either way the same order: the APDU back, then the end */
    ck_assert_int_ge(x.p.ini.nev, 2);
    ck_assert_int_eq(x.p.ini.ev[x.p.ini.nev - 2], X400_P1_LINK_EV_SEND_FAILED);
    ck_assert_int_eq(x.p.ini.ev[x.p.ini.nev - 1], X400_P1_LINK_EV_ABORTED);
    /* nothing delivered, nothing stuck: both links over, no more attempts */
    ck_assert_uint_eq(x.p.rsp.received + x.old_rsp.received + x.r.fresh_side.received, 0);
    for (int k = 0; k < 2; k++) {
        x400_p1_link *l = k ? x.p.rsp.l : x.p.ini.l;
        ck_assert(!x400_p1_link_is_bound(l));
        ck_assert_int_eq(x400_p1_link_is_recovering(l), 0);
        ck_assert_int_eq(x400_p1_link_want_close(l), 1);
    }
    for (int i = 0; i < 40; i++) x400_p1_link_tick(x.p.ini.l, T0 + 100000u + 3000u * (unsigned)i);
    ck_assert_int_eq(x.r.need, 2);
    /* the user sends it again on a new association to the same MTA (its
     * received set): delivered once */
    rsp_seen = x.p.seen;
    open_pair(&q, mode, "MTA-A", "secretA");
    pump(&q);
    ck_assert_int_eq(count_ev(&q.rsp, X400_P1_LINK_EV_BOUND), 1);
    ck_assert_int_eq(x400_p1_link_send(q.ini.l, &x.m.a, 1, NULL), X400_OK);
    pump(&q);
    ck_assert_uint_eq(q.ini.sent, 1);
    ck_assert_uint_eq(q.rsp.received, 1);
    ck_assert_uint_eq(q.rsp.duplicates, 0);
    ck_assert_uint_eq(q.rsp.last_raw_len, x.enc_len);
    ck_assert_mem_eq(q.rsp.last_raw, x.enc, x.enc_len);
    close_pair(&q);
    restart_end(&x);
}

START_TEST(stale_record_refused_after_activity_end)
{
    for (int old_end_first = 1; old_end_first >= 0; old_end_first--) {
        stale_record_after_end(X400_MODE_NORMAL, old_end_first);
        stale_record_after_end(X400_MODE_X410, old_end_first);
    }
}
END_TEST

/* The link makes its own associations (assoc_own): the caller only
 * provides each one's connection.  A connection lost mid-transfer is
 * recovered without NEED_ASSOC: the link makes the new association at the
 * next safe point (want_connect) -- not inside the lost one's input call,
 * where a caller building one used to re-enter the adapter on the stack. */
static int prepared;
static int prepare_ref(void *user, x400_p1_link *l, x400_assoc_config *ac)
{
    int n;
    ck_assert_ptr_eq(user, &prepared);
    ck_assert_ptr_nonnull(l);
    n = snprintf((char *)ac->calling_ref, sizeof ac->calling_ref, "MTA-A/%d", ++prepared);
    ac->calling_ref_len = (size_t)n;
    return 0;
}

START_TEST(link_makes_its_associations_and_recovers_without_need_assoc)
{
    struct pair p;
    struct msg m;
    struct rec r;
    x400_assoc_config ar;
    x400_p1_link_config ci, cr;
    x400_p1_link_callbacks cbi = { &p.ini, on_ev }, cbr = { &p.rsp, on_ev };
    x400_assoc *a1 = NULL, *a2 = NULL, *none = (x400_assoc *)&p;
    memset(&p, 0, sizeof p);
    memset(&r, 0, sizeof r);
    r.p = &p;
    REC = &r;
    prepared = 0;
    pair_io(&p);
    ck_assert_int_eq(x400_p1_idset_new(&p.seen, 100, NULL), X400_OK);
    x400_p1_link_config_init(&ci, X400_ROLE_INITIATOR);
    x400_p1_link_config_init(&cr, X400_ROLE_RESPONDER);
    ci.rtse.checkpoint_size_kib = cr.rtse.checkpoint_size_kib = 4;
    snprintf(ci.own_name, sizeof ci.own_name, "MTA-A");
    memcpy(ci.own_password, "secretA", 7);
    ci.own_password_len = 7;
    snprintf(cr.own_name, sizeof cr.own_name, "MTA-B");
    cr.check = x400_p1_cred_check_default;
    cr.check_user = &peer_table;
    cr.seen = p.seen;
    /* only an initiator makes associations */
    cr.assoc_own = 1;
    ck_assert_int_eq(x400_p1_link_new(&p.rsp.l, &cr, &cbr, NULL), X400_ERR_INVALID_ARG);
    cr.assoc_own = 0;
    ck_assert_int_eq(x400_p1_link_new(&p.rsp.l, &cr, &cbr, NULL), X400_OK);
    ck_assert_int_eq(x400_p1_link_want_connect(p.rsp.l, &a1), X400_ERR_INVALID_ARG);
    ci.assoc_own = 1;
    ci.assoc_prepare = prepare_ref;
    ci.assoc_user = &prepared;
    ck_assert_int_eq(x400_p1_link_new(&p.ini.l, &ci, &cbi, NULL), X400_OK);
    ck_assert_int_eq(x400_p1_link_tick(p.ini.l, 1000), X400_OK);
    ck_assert_uint_eq(x400_p1_link_next_timeout(p.ini.l), 0);  /* a connection is wanted */
    ck_assert_int_eq(x400_p1_link_want_connect(p.ini.l, &a1), 1);
    ck_assert_ptr_nonnull(a1);
    ck_assert_ptr_eq(x400_p1_link_assoc(p.ini.l), a1);
    ck_assert_int_eq(x400_p1_link_want_connect(p.ini.l, &none), 0);   /* handed out once */
    ck_assert_ptr_null(none);
    ck_assert_uint_gt(x400_p1_link_next_timeout(p.ini.l), 0);
    ck_assert_int_eq(prepared, 1);
    x400_assoc_config_init(&ar, X400_ROLE_RESPONDER);
    ck_assert_int_eq(x400_assoc_new(&p.rsp.a, &ar, NULL, NULL), X400_OK);
    ck_assert_int_eq(x400_p1_link_attach(p.rsp.l, p.rsp.a), X400_OK);
    /* the caller provides the connection: here, memory */
    p.ini.a = a1;
    ck_assert_int_eq(x400_assoc_connect(a1), X400_OK);
    pump(&p);
    ck_assert_int_eq(count_ev(&p.ini, X400_P1_LINK_EV_BOUND), 1);
    ck_assert_str_eq(p.rsp.peer, "MTA-A");
    mk(&m, X400_P1_MESSAGE, "OWN.1", 1, 200000);
    ck_assert_int_eq(x400_p1_link_send(p.ini.l, &m.a, 1, NULL), X400_OK);
    cut_after(&p, 60000);
    /* no NEED_ASSOC: the link asks for a connection through want_connect */
    ck_assert_int_eq(count_ev(&p.ini, X400_P1_LINK_EV_NEED_ASSOC), 0);
    ck_assert(x400_p1_link_is_recovering(p.ini.l));
    ck_assert_uint_eq(x400_p1_link_next_timeout(p.ini.l), 0);
    ck_assert_int_eq(x400_assoc_want_close(a1), 1);   /* the caller closes and frees it */
    ck_assert_int_eq(x400_p1_link_want_connect(p.ini.l, &a2), 1);
    ck_assert_ptr_nonnull(a2);
    ck_assert_ptr_ne(a2, a1);
    ck_assert_int_eq(prepared, 2);
    x400_assoc_free(a1);
    fresh_responder(&r);
    p.ini.a = a2;
    ck_assert_int_eq(x400_assoc_connect(a2), X400_OK);
    pump(&p);
    ck_assert_int_eq(r.routed, 1);
    ck_assert_uint_eq(p.rsp.received, 1);
    ck_assert_uint_eq(p.rsp.content_sum, sum(&m));
    ck_assert_uint_eq(r.fresh_side.received, 0);
    ck_assert_uint_eq(p.ini.sent, 1);
    ck_assert_int_eq(count_ev(&p.ini, X400_P1_LINK_EV_NEED_ASSOC), 0);
    /* release: the link is done, the caller closes and frees */
    ck_assert_int_eq(x400_p1_link_close(p.ini.l), X400_OK);
    pump(&p);
    ck_assert_int_eq(count_ev(&p.ini, X400_P1_LINK_EV_RELEASED), 1);
    ck_assert_int_eq(x400_p1_link_want_close(p.ini.l), 1);
    ck_assert_int_eq(x400_assoc_want_close(a2), 1);
    ck_assert_int_eq(x400_p1_link_want_connect(p.ini.l, &none), 0);
    REC = NULL;
    x400_p1_link_free(r.fresh);
    for (int i = 0; i < r.nold; i++) x400_assoc_free(r.old[i]);
    mk_free(&m);
    close_pair(&p);   /* frees a2 (p.ini.a) and the routed responder association */
}
END_TEST

/* One mode for link and association: an initiator's link refuses an
 * association of the other mode (before anything is sent), with a
 * diagnostic, and takes one of its own; a responder's takes either (it runs
 * the mode of the CP it receives). */
START_TEST(attach_refuses_association_of_other_mode)
{
    for (int m = 0; m < 2; m++) {
        x400_mode mode = m ? X400_MODE_X410 : X400_MODE_NORMAL;
        x400_mode other = m ? X400_MODE_NORMAL : X400_MODE_X410;
        x400_p1_link_config ci, cr;
        x400_assoc_config ai;
        x400_p1_link *li, *lr;
        x400_assoc *wrong, *right, *ar;
        x400_p1_link_config_init(&ci, X400_ROLE_INITIATOR);
        x400_p1_link_config_init(&cr, X400_ROLE_RESPONDER);
        ci.mode = cr.mode = mode;
        snprintf(ci.own_name, sizeof ci.own_name, "MTA-A");
        ck_assert_int_eq(x400_p1_link_new(&li, &ci, NULL, NULL), X400_OK);
        ck_assert_int_eq(x400_p1_link_new(&lr, &cr, NULL, NULL), X400_OK);
        x400_assoc_config_init(&ai, X400_ROLE_INITIATOR);
        ai.mode = other;
        ck_assert_int_eq(x400_assoc_new(&wrong, &ai, NULL, NULL), X400_OK);
        ck_assert_int_eq(x400_p1_link_attach(li, wrong), X400_ERR_INVALID_ARG);
        ck_assert_int_eq(x400_p1_link_diag(li)->code, X400_ERR_INVALID_ARG);
        ck_assert_int_eq(x400_p1_link_diag(li)->source, X400_SOURCE_LOCAL);
        ck_assert_ptr_nonnull(strstr(x400_p1_link_diag(li)->text, m ? "association runs normal mode but the link X.410-1984 mode"
                                                                   : "association runs X.410-1984 mode but the link normal mode"));
        ck_assert_ptr_null(x400_p1_link_assoc(li));
        ai.mode = mode;
        ck_assert_int_eq(x400_assoc_new(&right, &ai, NULL, NULL), X400_OK);
        ck_assert_int_eq(x400_p1_link_attach(li, right), X400_OK);
        ck_assert_ptr_eq(x400_p1_link_assoc(li), right);
        x400_assoc_config_init(&ai, X400_ROLE_RESPONDER);
        ai.mode = other;
        ck_assert_int_eq(x400_assoc_new(&ar, &ai, NULL, NULL), X400_OK);
        ck_assert_int_eq(x400_p1_link_attach(lr, ar), X400_OK);
        x400_p1_link_free(li);
        x400_p1_link_free(lr);
        x400_assoc_free(wrong);
        x400_assoc_free(right);
        x400_assoc_free(ar);
    }
}
END_TEST

/* x400_p1_link_take_apdu: the APDUs a responder took in its RECEIVED and
 * DUPLICATE callbacks (at most 4). */
struct taken {
    x400_p1_apdu a[4];
    int rc[4], again_rc[4];
    int again_mem[4];       /* the refused second take left *out zeroed: 0 */
    unsigned left_recip[4]; /* ev->apdu after the take: emptied */
    int left_mem[4];
    int n;
};
static struct taken *TAKEN;

static int take_ev(void *u, x400_p1_link *l, const x400_p1_link_event *e)
{
    int rv = on_ev(u, l, e);
    if (TAKEN && TAKEN->n < 4 && (e->type == X400_P1_LINK_EV_RECEIVED || e->type == X400_P1_LINK_EV_DUPLICATE)) {
        int k = TAKEN->n++;
        x400_p1_apdu again;
        TAKEN->rc[k] = x400_p1_link_take_apdu(l, &TAKEN->a[k]);
        TAKEN->left_recip[k] = e->apdu->env.n_recip;
        TAKEN->left_mem[k] = e->apdu->mem != NULL;
        memset(&again, 0xa5, sizeof again);
        TAKEN->again_rc[k] = x400_p1_link_take_apdu(l, &again);
        TAKEN->again_mem[k] = again.mem != NULL || again.env.n_recip != 0;
    }
    return rv;
}

/* A bound pair whose responder link takes every received APDU (take_ev):
 * open_pair's, with the responder's link and association made again before
 * anything crossed. */
static void take_pair(struct pair *p)
{
    x400_p1_link_config cr;
    x400_assoc_config ar;
    x400_p1_link_callbacks cb = { &p->rsp, take_ev };
    open_pair(p, X400_MODE_NORMAL, "MTA-A", "secretA");
    x400_p1_link_free(p->rsp.l);
    x400_assoc_free(p->rsp.a);
    x400_p1_link_config_init(&cr, X400_ROLE_RESPONDER);
    snprintf(cr.own_name, sizeof cr.own_name, "MTA-B");
    cr.check = x400_p1_cred_check_default;
    cr.check_user = &peer_table;
    cr.seen = p->seen;
    ck_assert_int_eq(x400_p1_link_new(&p->rsp.l, &cr, &cb, NULL), X400_OK);
    x400_assoc_config_init(&ar, X400_ROLE_RESPONDER);
    ck_assert_int_eq(x400_assoc_new(&p->rsp.a, &ar, NULL, NULL), X400_OK);
    ck_assert_int_eq(x400_p1_link_attach(p->rsp.l, p->rsp.a), X400_OK);
}

/* The receiver takes the decoded APDU instead of decoding `raw` again: it
 * owns it after the callback (the link's buffers reused by the next
 * transfers meanwhile), it encodes to what was sent, it can be changed
 * (an internal trace element appended), and a take outside a callback or
 * a second one is refused.  Fed whole, one octet at a time and in pieces
 * of 97. */
START_TEST(received_apdu_taken_not_decoded_again)
{
    static const size_t pieces[] = { 0, 1, 97 };
    for (size_t t = 0; t < sizeof pieces / sizeof pieces[0]; t++) {
        struct pair p;
        struct taken tk;
        struct msg m1, m2;
        x400_p1_apdu none;
        x400_p1_itrace it;
        uint8_t *sent = NULL, *got = NULL, *again = NULL;
        size_t sent_len = 0, got_len = 0, again_len = 0;
        memset(&tk, 0, sizeof tk);
        TAKEN = &tk;
        take_pair(&p);
        p.io.chunk = pieces[t];
        pump(&p);
        ck_assert_int_eq(count_ev(&p.rsp, X400_P1_LINK_EV_BOUND), 1);
        /* no callback running: nothing to take */
        ck_assert_int_eq(x400_p1_link_take_apdu(p.rsp.l, &none), X400_ERR_INVALID_ARG);
        ck_assert_ptr_null(none.mem);
        ck_assert_int_eq(x400_p1_link_take_apdu(NULL, &none), X400_ERR_INVALID_ARG);
        ck_assert_int_eq(x400_p1_link_take_apdu(p.rsp.l, NULL), X400_ERR_INVALID_ARG);
        mk(&m1, X400_P1_MESSAGE, "TAKE.1", 3, 2000);
        mk(&m2, X400_P1_MESSAGE, "TAKE.2", 1, 10);
        ck_assert_int_eq(x400_p1_link_send(p.ini.l, &m1.a, 1, NULL), X400_OK);
        ck_assert_int_eq(x400_p1_link_send(p.ini.l, &m2.a, 2, NULL), X400_OK);
        ck_assert_int_eq(x400_p1_link_send(p.ini.l, &m1.a, 3, NULL), X400_OK); /* a duplicate */
        pump(&p);
        TAKEN = NULL;
        ck_assert_uint_eq(p.ini.sent, 3);
        ck_assert_uint_eq(p.rsp.received, 2);
        ck_assert_uint_eq(p.rsp.duplicates, 1);
        ck_assert_int_eq(tk.n, 3);
        for (int k = 0; k < 3; k++) {
            ck_assert_int_eq(tk.rc[k], X400_OK);
            ck_assert_ptr_nonnull(tk.a[k].mem);
            ck_assert_uint_eq(tk.left_recip[k], 0);
            ck_assert_int_eq(tk.left_mem[k], 0);
            ck_assert_int_eq(tk.again_rc[k], X400_ERR_INVALID_ARG);
            ck_assert_int_eq(tk.again_mem[k], 0);
        }
        /* kept past its callback and two more transfers: intact */
        ck_assert_str_eq(tk.a[0].env.id.local, "TAKE.1");
        ck_assert_str_eq(tk.a[1].env.id.local, "TAKE.2");
        ck_assert_str_eq(tk.a[2].env.id.local, "TAKE.1");
        ck_assert_uint_eq(tk.a[0].env.n_recip, 3);
        ck_assert_uint_eq(tk.a[0].content.len, 2000);
        ck_assert_mem_eq(tk.a[0].content.p, m1.content, 2000);
        ck_assert_int_eq(x400_p1_encode_alloc(&m1.a, NULL, &sent, &sent_len, NULL), X400_OK);
        ck_assert_int_eq(x400_p1_encode_alloc(&tk.a[0], NULL, &got, &got_len, NULL), X400_OK);
        ck_assert_uint_eq(got_len, sent_len);
        ck_assert_mem_eq(got, sent, sent_len);
        /* the owner changes it: routing appends its internal trace */
        x400_p1_itrace_init(&it);
        it.gdi = tk.a[0].env.id.gdi;
        snprintf(it.mta, sizeof it.mta, "MTA-B");
        it.arrival = 1795250100;
        it.routing_action = X400_ROUTE_RELAYED;
        ck_assert_int_eq(x400_p1_itrace_append(&tk.a[0], &it), X400_OK);
        ck_assert_uint_eq(tk.a[0].env.n_itrace, 1);
        ck_assert_int_eq(x400_p1_encode_alloc(&tk.a[0], NULL, &again, &again_len, NULL), X400_OK);
        ck_assert_uint_gt(again_len, sent_len);
        for (int k = 0; k < 3; k++) x400_p1_apdu_free(&tk.a[k]);
        free(sent);
        free(got);
        free(again);
        mk_free(&m1);
        mk_free(&m2);
        close_pair(&p);
    }
}
END_TEST

Suite *x400t_suite_p1link(void)
{
    Suite *s = suite_create("p1link");
    TCase *tc = tcase_create("link");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, bind_and_transfer_normal);
    tcase_add_test(tc, bind_and_transfer_x410);
    tcase_add_test(tc, deferred_confirmation_normal);
    tcase_add_test(tc, deferred_confirmation_x410);
    tcase_add_test(tc, send_encoded_apdu);
    tcase_add_test(tc, apdu_above_bound_refused_queue_moves);
    tcase_add_test(tc, queue_grows_to_its_max_in_order);
    tcase_add_test(tc, user_abort_normal);
    tcase_add_test(tc, user_abort_x410);
    tcase_add_test(tc, recovery_routed_to_waiting_link);
    tcase_add_test(tc, recovery_refused_gives_apdu_back_unbound);
    tcase_add_test(tc, bind_decoded_for_the_connection_mode);
    tcase_add_test(tc, attach_refuses_association_of_other_mode);
    tcase_add_test(tc, bind_refused_wrong_password);
    tcase_add_test(tc, bind_refused_unknown_peer);
    tcase_add_test(tc, bind_refused_each_reason);
    tcase_add_test(tc, duplicate_mtsid_delivered_once);
    tcase_add_test(tc, undecodable_apdu_confirmed_link_stays_up);
    tcase_add_test(tc, undecodable_apdu_deferred);
    tcase_add_test(tc, responder_password_checked);
    tcase_add_test(tc, responder_result_credentials_per_peer);
    tcase_add_test(tc, link_info_and_ext_form);
    tcase_add_test(tc, oversized_apdu_abort_says_why);
    tcase_add_test(tc, report_round_trip_and_10mib);
    tcase_add_test(tc, wire_bind_message_probe_report);
    tcase_add_test(tc, want_write_and_want_close);
    tcase_add_test(tc, trace_and_recipient_numbers_filled_in);
    tcase_add_test(tc, restarted_responder_resumes_from_its_record);
    tcase_add_test(tc, restored_stale_record_transfer_restarts_once);
    tcase_add_test(tc, stale_record_refused_after_activity_end);
    tcase_add_test(tc, link_makes_its_associations_and_recovers_without_need_assoc);
    tcase_add_test(tc, received_apdu_taken_not_decoded_again);
    suite_add_tcase(s, tc);
    return s;
}
