/* The POSIX driver over real loopback sockets: a peer configured by host
 * name works exactly like one configured by IP (the Exchange MTA failure of KB Q306959), every
 * address of a name is tried, and connection handles are LPIs that go
 * stale when the connection closes. */
#include <string.h>
#include <unistd.h>

#include "x400p1/driver.h"
#include "assoc_int.h"
#include "internal.h"
#include "x400t.h"

struct world {
    x400_assoc *accepted[8];
    int naccepted;
    int connected_ok, connected_err, closed;
    x400_diag last_close;
    int last_close_had_diag;
    x400_diag connect_err;
};

static int cb_accepted(void *u, x400_driver *d, x400_lpi_handle conn, const char *peer,
                       x400_assoc **out)
{
    struct world *w = u;
    x400_assoc_config c;
    (void)d; (void)conn; (void)peer;
    if (w->naccepted == 8) return X400_ERR_FULL;
    x400_assoc_config_init(&c, X400_ROLE_RESPONDER);
    ck_assert_int_eq(x400_assoc_new(out, &c, NULL, NULL), X400_OK);
    w->accepted[w->naccepted++] = *out;
    return 0;
}

static void cb_connected(void *u, x400_driver *d, x400_lpi_handle conn, x400_assoc *a,
                         const x400_diag *err)
{
    struct world *w = u;
    (void)d; (void)conn; (void)a;
    if (err) { w->connected_err++; w->connect_err = *err; }
    else w->connected_ok++;
}

static void cb_closed(void *u, x400_driver *d, x400_lpi_handle conn, x400_assoc *a,
                      const x400_diag *why)
{
    struct world *w = u;
    (void)d; (void)conn; (void)a;
    w->closed++;
    w->last_close_had_diag = why != NULL;
    if (why) w->last_close = *why;
}

static x400_driver *mk_driver(struct world *w)
{
    x400_driver *d;
    x400_driver_config cfg;
    x400_driver_callbacks cb = { w, cb_accepted, cb_connected, cb_closed };
    x400_driver_config_init(&cfg);
    cfg.max_conns = 8;
    cfg.connect_timeout_ms = 2000;
    ck_assert_int_eq(x400_driver_new(&d, &cfg, &cb, NULL), X400_OK);
    return d;
}

static void run_until(x400_driver *d1, x400_driver *d2, int (*done)(void *), void *arg)
{
    for (int i = 0; i < 2000 && !done(arg); i++) {
        ck_assert_int_ge(x400_driver_run(d1, 5), 0);
        if (d2) ck_assert_int_ge(x400_driver_run(d2, 5), 0);
    }
    ck_assert_msg(done(arg), "driver loop did not reach the expected state");
}

struct est { x400_assoc *ini; struct world *srv; };
static int both_established(void *arg)
{
    struct est *e = arg;
    return x400_assoc_get_state(e->ini) == X400_ASSOC_ESTABLISHED && e->srv->naccepted == 1 &&
           x400_assoc_get_state(e->srv->accepted[0]) == X400_ASSOC_ESTABLISHED;
}
static int both_closed(void *arg)
{
    struct est *e = arg;
    return x400_assoc_get_state(e->ini) == X400_ASSOC_CLOSED && e->srv->closed == 1;
}

/* Establish and release through the driver with `host` as the peer's
 * address, the server listening on `listen_host`. */
static void roundtrip(const char *listen_host, const char *host)
{
    struct world sw, cw;
    x400_driver *srv, *cli;
    x400_assoc *ini;
    x400_assoc_config c;
    x400_lpi_handle h;
    char port[16];
    struct est e;
    void *obj;
    memset(&sw, 0, sizeof sw);
    memset(&cw, 0, sizeof cw);
    srv = mk_driver(&sw);
    cli = mk_driver(&cw);
    ck_assert_int_gt(x400_driver_listen(srv, listen_host, "0"), 0);
    snprintf(port, sizeof port, "%u", x400_driver_listen_port(srv));
    x400_assoc_config_init(&c, X400_ROLE_INITIATOR);
    ck_assert_int_eq(x400_assoc_new(&ini, &c, NULL, NULL), X400_OK);
    ck_assert_int_eq(x400_driver_connect(cli, host, port, ini, &h), X400_OK);
    ck_assert_ptr_eq(x400_driver_assoc(cli, h), ini);
    e.ini = ini;
    e.srv = &sw;
    run_until(srv, cli, both_established, &e);
    ck_assert_int_eq(cw.connected_ok, 1);
    ck_assert_int_eq(x400_assoc_release(ini), X400_OK);
    run_until(srv, cli, both_closed, &e);
    /* the client's connection closed too; its handle is now stale */
    for (int i = 0; i < 100 && cw.closed == 0; i++) x400_driver_run(cli, 5);
    ck_assert_int_eq(cw.closed, 1);
    ck_assert_int_eq(cw.last_close_had_diag, 0);   /* orderly */
    ck_assert_ptr_null(x400_driver_assoc(cli, h));
    ck_assert_int_eq(x400_driver_disconnect(cli, h), X400_ERR_STALE_HANDLE);
    ck_assert_ptr_nonnull(strstr(x400_driver_diag(cli)->text, "stale"));
    (void)obj;
    ck_assert_uint_eq(x400_driver_conn_count(cli), 0);
    x400_assoc_free(ini);
    x400_assoc_free(sw.accepted[0]);
    x400_driver_free(srv);
    x400_driver_free(cli);
}

START_TEST(by_ip_literal) { roundtrip("127.0.0.1", "127.0.0.1"); }
END_TEST

/* "localhost" may resolve to ::1 first while the server listens on IPv4
 * only: the driver must move on to the next address, not fail. */
START_TEST(by_host_name_tries_every_address) { roundtrip("127.0.0.1", "localhost"); }
END_TEST

START_TEST(wildcard_listener_ipv6)
{
    /* Skip quietly where the machine has no IPv6 loopback. */
    x400_driver *probe;
    struct world w;
    memset(&w, 0, sizeof w);
    probe = mk_driver(&w);
    if (x400_driver_listen(probe, "::1", "0") <= 0) {
        x400_driver_free(probe);
        return;
    }
    x400_driver_free(probe);
    roundtrip(NULL, "::1");
}
END_TEST

START_TEST(unreachable_and_unresolvable)
{
    struct world w;
    x400_driver *d, *srv;
    x400_assoc *a;
    x400_assoc_config c;
    x400_lpi_handle h;
    char port[16];
    memset(&w, 0, sizeof w);
    d = mk_driver(&w);
    x400_assoc_config_init(&c, X400_ROLE_INITIATOR);
    ck_assert_int_eq(x400_assoc_new(&a, &c, NULL, NULL), X400_OK);
    ck_assert_int_eq(x400_driver_connect(d, "no-such-host.invalid", "102", a, &h),
                     X400_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(x400_driver_diag(d)->text, "no-such-host.invalid"));
    /* a port nobody listens on: take a free one, then close it */
    srv = mk_driver(&w);
    ck_assert_int_gt(x400_driver_listen(srv, "127.0.0.1", "0"), 0);
    snprintf(port, sizeof port, "%u", x400_driver_listen_port(srv));
    x400_driver_free(srv);
    if (x400_driver_connect(d, "127.0.0.1", port, a, &h) == X400_OK) {
        for (int i = 0; i < 200 && w.connected_err == 0; i++) x400_driver_run(d, 5);
        ck_assert_int_eq(w.connected_err, 1);
        ck_assert_int_eq(w.connect_err.code, X400_ERR_IO);
        ck_assert_ptr_nonnull(strstr(w.connect_err.text, "127.0.0.1"));
        ck_assert_int_eq(w.closed, 1);
    } else {
        ck_assert_int_eq(x400_driver_diag(d)->code, X400_ERR_IO);
    }
    ck_assert_uint_eq(x400_driver_conn_count(d), 0);
    x400_assoc_free(a);
    x400_driver_free(d);
}
END_TEST

/* The peer vanishes mid-association: the association sees a provider
 * abort and the driver reports the close with a reason. */
START_TEST(peer_vanishes)
{
    struct world sw, cw;
    x400_driver *srv, *cli;
    x400_assoc *ini;
    x400_assoc_config c;
    x400_lpi_handle h;
    char port[16];
    struct est e;
    memset(&sw, 0, sizeof sw);
    memset(&cw, 0, sizeof cw);
    srv = mk_driver(&sw);
    cli = mk_driver(&cw);
    ck_assert_int_gt(x400_driver_listen(srv, "127.0.0.1", "0"), 0);
    snprintf(port, sizeof port, "%u", x400_driver_listen_port(srv));
    x400_assoc_config_init(&c, X400_ROLE_INITIATOR);
    ck_assert_int_eq(x400_assoc_new(&ini, &c, NULL, NULL), X400_OK);
    ck_assert_int_eq(x400_driver_connect(cli, "127.0.0.1", port, ini, &h), X400_OK);
    e.ini = ini;
    e.srv = &sw;
    run_until(srv, cli, both_established, &e);
    x400_driver_free(srv);   /* closes the server's sockets abruptly */
    for (int i = 0; i < 400 && cw.closed == 0; i++) x400_driver_run(cli, 5);
    ck_assert_int_eq(cw.closed, 1);
    ck_assert_int_eq(cw.last_close_had_diag, 1);
    ck_assert_int_eq(x400_assoc_get_state(ini), X400_ASSOC_ABORTED);
    ck_assert_int_eq(x400_assoc_diag(ini)->source, X400_SOURCE_PROVIDER);
    x400_assoc_free(ini);
    x400_assoc_free(sw.accepted[0]);
    x400_driver_free(cli);
}
END_TEST

struct inb { struct world *w; x400_driver *d; size_t want; };
static int inbound_settled(void *arg)
{
    struct inb *i = arg;
    return (size_t)i->w->naccepted + x400_driver_refused_count(i->d) >= i->want;
}
static int one_connected(void *arg) { return ((struct world *)arg)->connected_ok >= 1; }

/* max_inbound: inbound connections beyond it are refused at accept, and the
 * slots above it stay free for our own connects whatever arrives. */
START_TEST(max_inbound_keeps_room_for_outbound)
{
    struct world sw, cw;
    x400_driver *srv, *cli;
    x400_driver_config cfg;
    x400_driver_callbacks cb = { &sw, cb_accepted, cb_connected, cb_closed };
    x400_assoc *ini[4], *out;
    x400_assoc_config c;
    char port[16], cport[16];
    struct inb in;
    memset(&sw, 0, sizeof sw);
    memset(&cw, 0, sizeof cw);
    x400_driver_config_init(&cfg);
    cfg.max_conns = 3;
    cfg.max_inbound = 2;
    ck_assert_int_eq(x400_driver_new(&srv, &cfg, &cb, NULL), X400_OK);
    cli = mk_driver(&cw);
    ck_assert_int_gt(x400_driver_listen(srv, "127.0.0.1", "0"), 0);
    ck_assert_int_gt(x400_driver_listen(cli, "127.0.0.1", "0"), 0);
    snprintf(port, sizeof port, "%u", x400_driver_listen_port(srv));
    snprintf(cport, sizeof cport, "%u", x400_driver_listen_port(cli));
    x400_assoc_config_init(&c, X400_ROLE_INITIATOR);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(x400_assoc_new(&ini[i], &c, NULL, NULL), X400_OK);
        ck_assert_int_eq(x400_driver_connect(cli, "127.0.0.1", port, ini[i], NULL), X400_OK);
    }
    in.w = &sw;
    in.d = srv;
    in.want = 4;
    run_until(srv, cli, inbound_settled, &in);
    ck_assert_int_eq(sw.naccepted, 2);
    ck_assert_uint_eq(x400_driver_inbound_count(srv), 2);
    ck_assert_uint_eq(x400_driver_refused_count(srv), 2);
    /* the third slot is ours: an outbound connection still goes */
    ck_assert_int_eq(x400_assoc_new(&out, &c, NULL, NULL), X400_OK);
    ck_assert_int_eq(x400_driver_connect(srv, "127.0.0.1", cport, out, NULL), X400_OK);
    run_until(srv, cli, one_connected, &sw);
    ck_assert_uint_eq(x400_driver_conn_count(srv), 3);
    ck_assert_uint_eq(x400_driver_inbound_count(srv), 2);
    /* and a fourth connection of any kind does not fit */
    {
        x400_assoc *more;
        ck_assert_int_eq(x400_assoc_new(&more, &c, NULL, NULL), X400_OK);
        ck_assert_int_eq(x400_driver_connect(srv, "127.0.0.1", cport, more, NULL), X400_ERR_FULL);
        x400_assoc_free(more);
    }
    x400_driver_free(srv);
    x400_driver_free(cli);
    for (int i = 0; i < 4; i++) x400_assoc_free(ini[i]);
    x400_assoc_free(out);
    for (int i = 0; i < sw.naccepted; i++) x400_assoc_free(sw.accepted[i]);
    for (int i = 0; i < cw.naccepted; i++) x400_assoc_free(cw.accepted[i]);
}
END_TEST

Suite *x400t_suite_driver(void)
{
    Suite *s = suite_create("driver");
    TCase *tc = tcase_create("loopback");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, by_ip_literal);
    tcase_add_test(tc, by_host_name_tries_every_address);
    tcase_add_test(tc, wildcard_listener_ipv6);
    tcase_add_test(tc, unreachable_and_unresolvable);
    tcase_add_test(tc, peer_vanishes);
    tcase_add_test(tc, max_inbound_keeps_room_for_outbound);
    suite_add_tcase(s, tc);
    return s;
}
