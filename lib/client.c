/*
 * x400p1 -- the blocking P1 client (client.h): one initiator association,
 * one P1 link and one POSIX driver, driven until each call's result.
 * Built only on the public APIs (driver.h, p1link.h, mtsid.h).
 */
#include <string.h>
#include <time.h>

#include "x400p1/client.h"
#include "x400p1/driver.h"
#include "x400p1/mtsid.h"
#include "x400p1/p1link.h"
#include "internal.h"

#define L_APP X400_LAYER_APP
#define S_LOCAL X400_SOURCE_LOCAL
#define S_PEER X400_SOURCE_PEER
#define S_PROV X400_SOURCE_PROVIDER

/* A report received and not yet taken: its octets and its subject. */
struct kept_report {
    uint8_t *raw;
    size_t len;
    x400_mtsid subject;
};

struct x400_client {
    const x400_allocator *alloc;
    x400_client_config cfg;     /* strings not kept: copied where needed */
    char node_id[X400_MTSID_NODE_MAX + 1];
    x400_driver *drv;
    x400_p1_link *link;
    x400_assoc *assoc;
    x400_mtsid_alloc *ids;      /* in memory; created at the first send that needs it */
    x400_mtsid_cursor cur;
    int bound, released;
    int ended;                  /* sticky: X400_ERR_REFUSED/_ABORTED/_CLOSED */
    uint64_t next_tag, sent_tag;
    int send_rv;                /* SEND_FAILED of the transfer waited for */
    struct kept_report *reports;
    size_t n_reports, cap_reports;
    x400_diag diag;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The association or the connection has ended: the first reason sticks. */
static void end_with(x400_client *c, int code, const x400_diag *why, x400_source src,
                     const char *what)
{
    if (c->ended) return;
    c->ended = code;
    if (why && why->text[0]) c->diag = *why, c->diag.code = code;
    else x400i_diag_set(&c->diag, L_APP, src, code, 0, "client: %s", what);
}

static int keep_report(x400_client *c, const x400_p1_link_event *ev)
{
    struct kept_report *r;
    if (c->n_reports == c->cap_reports) {
        size_t n = c->cap_reports ? 2 * c->cap_reports : 4;
        r = x400i_realloc(c->alloc, c->reports, n * sizeof *r);
        if (!r) return X400_ERR_NOMEM;
        c->reports = r;
        c->cap_reports = n;
    }
    r = &c->reports[c->n_reports];
    if (!(r->raw = x400i_malloc(c->alloc, ev->raw_len ? ev->raw_len : 1))) return X400_ERR_NOMEM;
    memcpy(r->raw, ev->raw, ev->raw_len);
    r->len = ev->raw_len;
    r->subject = ev->apdu->report.subject;
    c->n_reports++;
    return X400_OK;
}

static int on_link(void *user, x400_p1_link *l, const x400_p1_link_event *ev)
{
    x400_client *c = user;
    (void)l;
    switch (ev->type) {
    case X400_P1_LINK_EV_BOUND:
        c->bound = 1;
        break;
    case X400_P1_LINK_EV_BIND_REFUSED:
        end_with(c, X400_ERR_REFUSED, ev->diag, S_PEER, "bind refused");
        break;
    case X400_P1_LINK_EV_RECEIVED:
        if (ev->apdu->kind == X400_P1_REPORT) return keep_report(c, ev);
        x400i_log(&c->cfg.log, X400_LOG_NOTICE, L_APP,
                  "client: a %s from the peer acknowledged and dropped",
                  ev->apdu->kind == X400_P1_MESSAGE ? "message" : "probe");
        break;
    case X400_P1_LINK_EV_SENT:
        if (ev->tag == c->next_tag) c->sent_tag = ev->tag;
        break;
    case X400_P1_LINK_EV_SEND_FAILED:
        if (ev->tag == c->next_tag) {
            c->send_rv = ev->diag && ev->diag->code < 0 ? ev->diag->code : X400_ERR_ABORTED;
            if (ev->diag) c->diag = *ev->diag;
        }
        break;
    case X400_P1_LINK_EV_RELEASED:
        c->released = 1;
        break;
    case X400_P1_LINK_EV_ABORTED:
        end_with(c, X400_ERR_ABORTED, ev->diag, S_PROV, "association aborted");
        break;
    case X400_P1_LINK_EV_NEED_ASSOC:
        /* The client does not recover a lost connection (checkpointing is
         * off by default): the transfer is reported failed instead. */
        end_with(c, X400_ERR_CLOSED, NULL, S_PROV, "connection lost");
        break;
    default:   /* DUPLICATE, UNDECODABLE: acknowledged; PERSIST: not kept */
        break;
    }
    return 0;
}

static void on_connected(void *user, x400_driver *d, x400_lpi_handle h, x400_assoc *a,
                         const x400_diag *err)
{
    (void)d; (void)h; (void)a;
    if (err) end_with(user, X400_ERR_REFUSED, err, S_PROV, "no address connected");
}

static void on_closed(void *user, x400_driver *d, x400_lpi_handle h, x400_assoc *a,
                      const x400_diag *why)
{
    x400_client *c = user;
    (void)d; (void)h; (void)a;
    if (!c->released) end_with(c, X400_ERR_CLOSED, why, S_PROV, "connection closed");
}

typedef int (*ready_fn)(x400_client *c, const void *arg);

/* Run the driver and tick the link until ready(), the end of the
 * association or the timeout (-1: none). */
static int pump(x400_client *c, ready_fn ready, const void *arg, int timeout_ms)
{
    uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        uint64_t now = now_ms(), wake;
        int rv;
        x400_p1_link_tick(c->link, now);
        if (ready(c, arg)) return X400_OK;
        if (c->ended) return c->ended;
        if (now >= deadline)
            return x400i_diag_set(&c->diag, L_APP, S_LOCAL, X400_ERR_TIMEOUT, 0,
                                  "client: no result within %d ms", timeout_ms);
        wake = x400_p1_link_next_timeout(c->link);
        if (wake > deadline) wake = deadline;
        if (wake > now + 1000) wake = now + 1000;
        rv = x400_driver_run(c->drv, wake > now ? (int)(wake - now) : 0);
        if (rv < 0) {
            c->diag = *x400_driver_diag(c->drv);
            return rv;
        }
    }
}

static int is_bound(x400_client *c, const void *arg) { (void)arg; return c->bound; }
static int is_released(x400_client *c, const void *arg) { (void)arg; return c->released; }
static int is_sent(x400_client *c, const void *arg)
{
    (void)arg;
    return c->sent_tag == c->next_tag || c->send_rv < 0;
}

static int find_report(x400_client *c, const void *subject)
{
    for (size_t i = 0; i < c->n_reports; i++)
        if (x400_mtsid_equal(&c->reports[i].subject, subject)) return (int)i + 1;
    return 0;
}

static int link_config(x400_p1_link_config *lc, const x400_client_config *cfg)
{
    int rv;
    x400_p1_link_config_init(lc, X400_ROLE_INITIATOR);
    lc->mode = cfg->mode;
    lc->log = cfg->log;
    if ((rv = x400_p1_link_config_set_own_name(lc, cfg->own_name)) < 0 ||
        (rv = x400_p1_link_config_set_own_password(lc, cfg->own_password)) < 0 ||
        (rv = x400_p1_link_config_set_peer_password(lc, cfg->peer_password)) < 0)
        return rv;
    return X400_OK;
}

void x400_client_config_init(x400_client_config *cfg)
{
    if (!cfg) return;
    memset(cfg, 0, sizeof *cfg);
    cfg->mode = X400_MODE_NORMAL;
    cfg->timeout_ms = 30000;
}

int x400_client_new(x400_client **out, const char *host, const char *port,
                    const x400_client_config *cfg, x400_diag *diag)
{
    x400_client *c;
    x400_p1_link_config lc;
    x400_p1_link_callbacks lcb;
    x400_driver_config dc;
    x400_driver_callbacks dcb;
    x400_assoc_config ac;
    x400_lpi_handle h;
    int rv;

    x400i_diag_clear(diag);
    if (out) *out = NULL;
    if (!out || !host || !port || !cfg)
        return x400i_diag_set(diag, L_APP, S_LOCAL, X400_ERR_INVALID_ARG, 0,
                              "client: NULL argument");
    if ((rv = link_config(&lc, cfg)) < 0)
        return x400i_diag_set(diag, L_APP, S_LOCAL, X400_ERR_INVALID_ARG, 0,
                              "client: MTA name or password too long (%s)", x400_strerror(rv));
    if (cfg->node_id && strlen(cfg->node_id) > X400_MTSID_NODE_MAX)
        return x400i_diag_set(diag, L_APP, S_LOCAL, X400_ERR_INVALID_ARG, 0,
                              "client: node id longer than %d", X400_MTSID_NODE_MAX);
    c = x400i_calloc(x400_default_allocator(), 1, sizeof *c);
    if (!c) return x400i_diag_set(diag, L_APP, S_LOCAL, X400_ERR_NOMEM, 0, "client: out of memory");
    c->alloc = x400_default_allocator();
    c->cfg = *cfg;
    c->cfg.own_name = c->cfg.own_password = c->cfg.peer_password = c->cfg.node_id = NULL;
    if (c->cfg.timeout_ms == 0) c->cfg.timeout_ms = 30000;
    strcpy(c->node_id, cfg->node_id && cfg->node_id[0] ? cfg->node_id : "CLIENT");

    lcb.user = c;
    lcb.event = on_link;
    x400_driver_config_init(&dc);
    dc.max_conns = 2;
    dc.log = cfg->log;
    memset(&dcb, 0, sizeof dcb);
    dcb.user = c;
    dcb.connected = on_connected;
    dcb.closed = on_closed;
    x400_assoc_config_init(&ac, X400_ROLE_INITIATOR);
    ac.mode = cfg->mode;
    ac.log = cfg->log;
    if ((rv = x400_p1_link_new(&c->link, &lc, &lcb, NULL)) < 0 ||
        (rv = x400_driver_new(&c->drv, &dc, &dcb, NULL)) < 0 ||
        (rv = x400_assoc_new(&c->assoc, &ac, NULL, NULL)) < 0 ||
        (rv = x400_p1_link_attach(c->link, c->assoc)) < 0) {
        x400i_diag_set(&c->diag, L_APP, S_LOCAL, rv, 0, "client: setting up: %s",
                       x400_strerror(rv));
        goto fail;
    }
    x400_p1_link_tick(c->link, now_ms());
    if ((rv = x400_driver_connect(c->drv, host, port, c->assoc, &h)) < 0) {
        c->diag = *x400_driver_diag(c->drv);
        goto fail;
    }
    if ((rv = pump(c, is_bound, NULL, c->cfg.timeout_ms)) < 0) goto fail;
    *out = c;
    return X400_OK;

fail:
    if (diag) *diag = c->diag;
    if (diag) diag->code = rv;
    x400_client_free(c);
    return rv;
}

/* The in-memory MTSID allocator, created on first use with `gdi`. */
static int next_id(x400_client *c, const x400_gdi *gdi, x400_mtsid *id)
{
    if (!c->ids) {
        x400_mtsid_config mc;
        int rv;
        x400_mtsid_config_init(&mc);
        mc.flags = X400_MTSID_MEMORY;
        mc.node_id = c->node_id;
        mc.gdi = *gdi;
        mc.logger = &c->cfg.log;
        if ((rv = x400_mtsid_new(&c->ids, &mc, &c->diag)) < 0) return rv;
        x400_mtsid_cursor_init(&c->cur, c->ids);
    }
    if (x400_mtsid_next(&c->cur, id) < 0) {
        c->diag = *x400_mtsid_cursor_diag(&c->cur);
        return c->diag.code;
    }
    return X400_OK;
}

int x400_client_send(x400_client *c, const x400_p1_apdu *apdu, x400_mtsid *id)
{
    x400_p1_apdu a;
    x400_p1_trace tr;
    x400_mtsid *aid;
    const x400_p1_trace **trace;
    unsigned *n_trace;
    x400_gdi gdi;
    int rv;

    if (!c || !apdu) return X400_ERR_INVALID_ARG;
    if (c->ended) return c->ended;
    a = *apdu;                    /* shallow: only id and trace change */
    if (a.kind == X400_P1_REPORT) {
        aid = &a.report.id, trace = &a.report.trace, n_trace = &a.report.n_trace;
    } else {
        aid = &a.env.id, trace = &a.env.trace, n_trace = &a.env.n_trace;
    }
    if (c->cfg.gdi.country[0]) {
        gdi = c->cfg.gdi;
    } else {
        const x400_orname *o = a.kind == X400_P1_REPORT ? &a.report.destination
                                                        : &a.env.originator;
        memset(&gdi, 0, sizeof gdi);
        memcpy(gdi.country, o->country, sizeof gdi.country);
        memcpy(gdi.admd, o->admd, sizeof gdi.admd);
        if (!gdi.admd[0]) strcpy(gdi.admd, " ");      /* no ADMD: a single space */
        memcpy(gdi.prmd, o->prmd, sizeof gdi.prmd);
        gdi.admd_numeric = o->admd_numeric;
        gdi.prmd_numeric = o->prmd_numeric;
    }
    if (!aid->local[0] && (rv = next_id(c, &gdi, aid)) < 0) return rv;
    if (*n_trace == 0) {
        x400_p1_trace_init(&tr);
        tr.gdi = aid->gdi;
        tr.arrival = (int64_t)time(NULL);
        tr.routing_action = X400_ROUTE_RELAYED;
        *trace = &tr;
        *n_trace = 1;
    }
    c->next_tag++;
    c->send_rv = 0;
    if ((rv = x400_p1_link_send(c->link, &a, c->next_tag, &c->diag)) < 0) return rv;
    if (id) *id = *aid;
    if ((rv = pump(c, is_sent, NULL, c->cfg.timeout_ms)) < 0) return rv;
    return c->send_rv;
}

int x400_client_wait_report(x400_client *c, const x400_mtsid *subject,
                            x400_p1_apdu *report, int timeout_ms)
{
    struct kept_report r;
    int rv, i;
    if (!c || !subject || !report) return X400_ERR_INVALID_ARG;
    if (!find_report(c, subject) && (rv = pump(c, find_report, subject, timeout_ms)) < 0)
        return rv;
    i = find_report(c, subject) - 1;
    r = c->reports[i];
    memmove(&c->reports[i], &c->reports[i + 1], (c->n_reports - (size_t)i - 1) * sizeof r);
    c->n_reports--;
    rv = x400_p1_decode(r.raw, r.len, NULL, NULL, report, &c->diag);
    x400i_free(c->alloc, r.raw);
    return rv;
}

int x400_client_release(x400_client *c)
{
    int rv;
    if (!c) return X400_ERR_INVALID_ARG;
    if (c->released) return X400_OK;
    if (c->ended) return c->ended;
    if ((rv = x400_p1_link_close(c->link)) < 0) return rv;
    return pump(c, is_released, NULL, c->cfg.timeout_ms);
}

void x400_client_free(x400_client *c)
{
    if (!c) return;
    x400_driver_free(c->drv);      /* order: input, link, association */
    x400_p1_link_free(c->link);
    x400_assoc_free(c->assoc);
    x400_mtsid_free(c->ids);
    for (size_t i = 0; i < c->n_reports; i++) x400i_free(c->alloc, c->reports[i].raw);
    x400i_free(c->alloc, c->reports);
    x400i_free(c->alloc, c);
}

size_t x400_client_reports(const x400_client *c) { return c ? c->n_reports : 0; }

const x400_diag *x400_client_diag(const x400_client *c) { return c ? &c->diag : x400i_diag_none(); }
