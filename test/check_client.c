/* The blocking client (client.h) against a responder MTA in a child
 * process (driver + responder link, real loopback TCP): connect by host
 * name, bind, send, the delivery report back on the same association,
 * release; the refusals (bind, credentials, nothing listening) and the
 * report timeout.  The two API examples (send_simple, send_loop) run
 * against the same responder. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "x400p1/client.h"
#include "x400p1/driver.h"
#include "x400p1/orname.h"
#include "x400p1/p1link.h"
#include "x400t.h"

/* ---- the responder (child process) ---- */

struct resp {
    x400_p1_link *link;
    x400_assoc *assoc;
    int report;          /* answer each message with a delivery report */
    int done;
};

static int resp_event(void *user, x400_p1_link *l, const x400_p1_link_event *ev)
{
    struct resp *r = user;
    (void)l;
    if (ev->type == X400_P1_LINK_EV_RECEIVED && ev->apdu->kind == X400_P1_MESSAGE && r->report) {
        x400_p1_apdu msg, rep;
        x400_p1_outcome oc[8];
        x400_mtsid rid;
        unsigned n;
        if (x400_p1_decode(ev->raw, ev->raw_len, NULL, NULL, &msg, NULL) < 0) _exit(10);
        n = msg.env.n_recip < 8 ? msg.env.n_recip : 8;
        for (unsigned i = 0; i < n; i++)
            oc[i] = (x400_p1_outcome){ i, 1, 1795250100, 0, -1, NULL };
        rid = msg.env.id;
        snprintf(rid.local, sizeof rid.local, "RESP.R1");
        if (x400_p1_report_build(&rep, &msg, &rid, &msg.env.id.gdi, 1795250000, 1795250100,
                                 oc, n, NULL, NULL) < 0 ||
            x400_p1_link_send(r->link, &rep, 1, NULL) < 0)
            _exit(11);
        x400_p1_apdu_free(&rep);
        x400_p1_apdu_free(&msg);
    } else if (ev->type == X400_P1_LINK_EV_RELEASED || ev->type == X400_P1_LINK_EV_ABORTED ||
               ev->type == X400_P1_LINK_EV_BIND_REFUSED) {
        r->done = 1;
    }
    return 0;
}

static int resp_accept(void *user, x400_driver *d, x400_lpi_handle h, const char *peer,
                       x400_assoc **out)
{
    struct resp *r = user;
    x400_assoc_config c;
    (void)d; (void)h; (void)peer;
    if (r->assoc) return -1;      /* one association per child */
    x400_assoc_config_init(&c, X400_ROLE_RESPONDER);
    if (x400_assoc_new(out, &c, NULL, NULL) < 0) return -1;
    r->assoc = *out;
    return x400_p1_link_attach(r->link, *out);
}

static void resp_closed(void *user, x400_driver *d, x400_lpi_handle h, x400_assoc *a,
                        const x400_diag *why)
{
    struct resp *r = user;
    (void)d; (void)h; (void)a; (void)why;
    r->done = 1;
}

/* Fork a responder MTA "RESP" (password "resp-pw") that accepts the
 * initiator "HARNESS" with password "secret"; its port into port[16]. */
static pid_t responder(int report, char port[16])
{
    int fds[2];
    pid_t pid;
    ck_assert_int_eq(pipe(fds), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        static const x400_p1_peer peers[] = { { "HARNESS", (const uint8_t *)"secret", 6, 1 } };
        static x400_p1_peer_table table = { peers, 1 };
        struct resp r = { NULL, NULL, report, 0 };
        x400_p1_link_config lc;
        x400_p1_link_callbacks lcb = { &r, resp_event };
        x400_driver_callbacks dcb = { &r, resp_accept, NULL, resp_closed };
        x400_driver *d;
        char p[16];
        close(fds[0]);
        alarm(60);
        x400_p1_link_config_init(&lc, X400_ROLE_RESPONDER);
        if (x400_p1_link_config_set_own_name(&lc, "RESP") < 0 ||
            x400_p1_link_config_set_own_password(&lc, "resp-pw") < 0)
            _exit(2);
        lc.check = x400_p1_cred_check_default;
        lc.check_user = &table;
        if (x400_p1_link_new(&r.link, &lc, &lcb, NULL) < 0 ||
            x400_driver_new(&d, NULL, &dcb, NULL) < 0 ||
            x400_driver_listen(d, "127.0.0.1", "0") <= 0)
            _exit(3);
        snprintf(p, sizeof p, "%u", x400_driver_listen_port(d));
        if (write(fds[1], p, sizeof p) != (ssize_t)sizeof p) _exit(4);
        close(fds[1]);
        x400_p1_link_tick(r.link, 0);
        for (uint64_t t = 0; !r.done; t += 10) {
            x400_driver_run(d, 10);
            x400_p1_link_tick(r.link, t);
        }
        for (int i = 0; i < 20; i++) x400_driver_run(d, 5);   /* flush the release */
        x400_driver_free(d);
        x400_p1_link_free(r.link);
        x400_assoc_free(r.assoc);
        _exit(0);
    }
    close(fds[1]);
    ck_assert_int_eq(read(fds[0], port, 16), 16);
    close(fds[0]);
    return pid;
}

static int reap(pid_t pid)
{
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void message(x400_p1_apdu *m, x400_p1_recipient *r, const char *body)
{
    ck_assert_int_eq(x400_p1_apdu_init(m, X400_P1_MESSAGE, NULL), X400_OK);
    ck_assert_int_eq(x400_orname_set(&m->env.originator, "C", "GB"), X400_OK);
    ck_assert_int_eq(x400_orname_set(&m->env.originator, "A", " "), X400_OK);
    ck_assert_int_eq(x400_orname_set(&m->env.originator, "P", "SMHS"), X400_OK);
    ck_assert_int_eq(x400_orname_set(&m->env.originator, "S", "Smith"), X400_OK);
    x400_p1_recipient_init(r);
    r->name = m->env.originator;
    ck_assert_int_eq(x400_orname_set(&r->name, "S", "Jones"), X400_OK);
    r->osrn = 1;
    r->indicators = X400_PRI_RESPONSIBILITY;
    m->env.recip = r;
    m->env.n_recip = 1;
    m->env.content_type.builtin = X400_CT_P2_1988;
    m->content.p = (const uint8_t *)body;
    m->content.len = strlen(body);
}

static void config(x400_client_config *cfg)
{
    x400_client_config_init(cfg);
    cfg->own_name = "HARNESS";
    cfg->own_password = "secret";
    cfg->peer_password = "resp-pw";
    cfg->timeout_ms = 20000;
}

/* Connected to the responder on `port` as config() says, bound, and the
 * message with `body` sent: the client; end_session() releases, frees
 * and reaps. */
static x400_client *bound_and_sent(const char *host, const char *port, x400_p1_apdu *m, x400_p1_recipient *r,
                                   const char *body, x400_mtsid *id)
{
    x400_client_config cfg;
    x400_client *c;
    x400_diag d;
    config(&cfg);
    ck_assert_msg(x400_client_new(&c, host, port, &cfg, &d) == X400_OK, "%s", d.text);
    message(m, r, body);
    ck_assert_int_eq(x400_client_send(c, m, id), X400_OK);
    return c;
}

static void end_session(x400_client *c, x400_p1_apdu *m, pid_t pid)
{
    ck_assert_int_eq(x400_client_release(c), X400_OK);
    x400_client_free(c);
    m->env.recip = NULL;
    x400_p1_apdu_free(m);
    ck_assert_int_eq(reap(pid), 0);
}

START_TEST(send_and_report)
{
    char port[16];
    pid_t pid = responder(1, port);
    x400_client *c;
    x400_p1_apdu m, rep;
    x400_p1_recipient r;
    x400_mtsid id;
    char text[X400_MTSID_TEXT_MAX];

    c = bound_and_sent("localhost", port, &m, &r, "Hello from the harness.", &id);
    /* an identifier was assigned in the originator's domain */
    ck_assert_int_gt(x400_mtsid_format(&id, text, sizeof text), 0);
    ck_assert_str_eq(id.gdi.country, "GB");
    ck_assert_str_eq(id.gdi.prmd, "SMHS");
    ck_assert_int_eq(strncmp(id.local, "CLIENT.", 7), 0);
    ck_assert_str_eq(m.env.id.local, "");          /* the caller's APDU untouched */
    ck_assert_int_eq(m.env.n_trace, 0);
    ck_assert_int_eq(x400_client_wait_report(c, &id, &rep, 20000), X400_OK);
    ck_assert_int_eq(rep.kind, X400_P1_REPORT);
    ck_assert(x400_p1_report_matches(&rep, &id));
    ck_assert_uint_eq(rep.report.n_recip, 1);
    ck_assert_int_eq(rep.report.recip[0].delivered, 1);
    ck_assert_str_eq(rep.report.recip[0].actual.pn.surname, "Jones");
    ck_assert_uint_eq(x400_client_reports(c), 0);
    x400_p1_apdu_free(&rep);
    end_session(c, &m, pid);
}
END_TEST

START_TEST(report_timeout)
{
    char port[16];
    pid_t pid = responder(0, port);
    x400_client *c;
    x400_p1_apdu m, rep;
    x400_p1_recipient r;
    x400_mtsid id;

    c = bound_and_sent("127.0.0.1", port, &m, &r, "no report for this one", &id);
    ck_assert_int_eq(x400_client_wait_report(c, &id, &rep, 300), X400_ERR_TIMEOUT);
    ck_assert_int_eq(x400_client_diag(c)->code, X400_ERR_TIMEOUT);
    end_session(c, &m, pid);
}
END_TEST

/* A bind refused, by the responder (our password wrong) or by us (its
 * password wrong): x400_client_new fails and gives no client.  The
 * diagnostic. */
static x400_diag refused_bind(const char *own_password, const char *peer_password)
{
    char port[16];
    pid_t pid = responder(1, port);
    x400_client_config cfg;
    x400_client *c = (x400_client *)&cfg;
    x400_diag d;

    config(&cfg);
    if (own_password) cfg.own_password = own_password;
    if (peer_password) cfg.peer_password = peer_password;
    ck_assert_int_eq(x400_client_new(&c, "localhost", port, &cfg, &d), X400_ERR_REFUSED);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(reap(pid), 0);
    return d;
}

START_TEST(bind_refused)
{
    x400_diag d = refused_bind("wrong", NULL);
    ck_assert_int_eq(d.code, X400_ERR_REFUSED);
    ck_assert_int_eq(d.source, X400_SOURCE_PEER);
}
END_TEST

START_TEST(responder_credentials_checked)
{
    x400_diag d = refused_bind(NULL, "not-the-responders");
    ck_assert_int_eq(d.layer, X400_LAYER_P1);
}
END_TEST

START_TEST(nothing_listening)
{
    x400_driver *d;
    x400_client_config cfg;
    x400_client *c;
    x400_diag diag;
    char port[16];

    /* a port that was free a moment ago */
    x400_driver_callbacks none = { NULL, NULL, NULL, NULL };
    ck_assert_int_eq(x400_driver_new(&d, NULL, &none, NULL), X400_OK);
    ck_assert_int_gt(x400_driver_listen(d, "127.0.0.1", "0"), 0);
    snprintf(port, sizeof port, "%u", x400_driver_listen_port(d));
    x400_driver_free(d);
    config(&cfg);
    ck_assert_int_eq(x400_client_new(&c, "127.0.0.1", port, &cfg, &diag), X400_ERR_REFUSED);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(diag.code, X400_ERR_REFUSED);
    ck_assert_int_ne(diag.text[0], 0);
}
END_TEST

START_TEST(bad_arguments)
{
    x400_client_config cfg;
    x400_client *c;
    x400_diag d;
    char longname[64];

    config(&cfg);
    ck_assert_int_eq(x400_client_new(NULL, "h", "1", &cfg, &d), X400_ERR_INVALID_ARG);
    ck_assert_int_eq(x400_client_new(&c, NULL, "1", &cfg, &d), X400_ERR_INVALID_ARG);
    memset(longname, 'N', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    cfg.own_name = longname;                  /* above ub-mta-name-length */
    ck_assert_int_eq(x400_client_new(&c, "127.0.0.1", "1", &cfg, &d), X400_ERR_INVALID_ARG);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(x400_client_send(NULL, NULL, NULL), X400_ERR_INVALID_ARG);
    ck_assert_int_eq(x400_client_release(NULL), X400_ERR_INVALID_ARG);
    ck_assert_uint_eq(x400_client_reports(NULL), 0);
    ck_assert_int_eq(x400_client_diag(NULL)->code, 0);
    x400_client_free(NULL);
}
END_TEST

/* Against the example MTA (examples/x400mta, as check_mta runs it): it
 * knows the harness as peer "HARNESS" in two-way-alternate mode, delivers
 * the message to its inbox and returns the delivery report on the
 * harness's own association. */
/* An x400mta (MTA-B, PRMD BRAVO) in a scratch directory, listening on a
 * port free a moment ago, that knows the peer HARNESS (password secret,
 * at a port nothing listens on, so what goes to it goes back on the
 * association it opened) and routes `route` to it; it delivers locally
 * what `local` names (NULL: its own domain). */
struct mta_b {
    char dir[512];
    unsigned port;
    pid_t pid;
};

static void mta_b_start(struct mta_b *b, const char *local, const char *route)
{
    const char *tmp = getenv("TMPDIR");
    char bin[1024], conf[700];
    unsigned dead = 0;
    x400_driver *d;
    x400_driver_callbacks none = { NULL, NULL, NULL, NULL };
    FILE *f;
    snprintf(bin, sizeof bin, "%s/examples/x400mta", x400t_bindir());
    ck_assert_msg(access(bin, X_OK) == 0, "%s not built", bin);
    snprintf(b->dir, sizeof b->dir, "%s/x400client.XXXXXX", tmp ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(b->dir));
    for (int i = 0; i < 2; i++) {           /* two ports free a moment ago */
        ck_assert_int_eq(x400_driver_new(&d, NULL, &none, NULL), X400_OK);
        ck_assert_int_gt(x400_driver_listen(d, "127.0.0.1", "0"), 0);
        *(i ? &dead : &b->port) = x400_driver_listen_port(d);
        x400_driver_free(d);
    }
    snprintf(conf, sizeof conf, "%s/b.conf", b->dir);
    f = fopen(conf, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "[mta]\nname = MTA-B\npassword = pb\ngdi = C=XX;A=ADMD;P=BRAVO\nnode = b1\n"
               "listen = 127.0.0.1:%u\nspool = %s/b\nlog = %s/b.log\n", b->port, b->dir, b->dir);
    if (local) fprintf(f, "local = %s\n", local);
    fprintf(f, "[peer HARNESS]\ntheir-password = secret\naddress = 127.0.0.1\nport = %u\n"
               "route = %s\n", dead, route);
    fclose(f);
    b->pid = fork();
    ck_assert_int_ge(b->pid, 0);
    if (b->pid == 0) {
        execl(bin, bin, "run", "-c", conf, (char *)NULL);
        _exit(127);
    }
}

/* Stop it; its log must show a delivery. */
static void mta_b_stop(struct mta_b *b)
{
    char cmd[1200];
    kill(b->pid, SIGTERM);
    ck_assert_int_eq(waitpid(b->pid, NULL, 0), b->pid);
    snprintf(cmd, sizeof cmd, "grep -q 'delivered message' '%s/b.log'", b->dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", b->dir);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(against_x400mta)
{
    char port[16];
    struct mta_b b;
    x400_client_config cfg;
    x400_client *c = NULL;
    x400_diag diag;
    x400_p1_apdu m, rep;
    x400_p1_recipient r;
    x400_mtsid id;
    int rv = X400_ERR_REFUSED;

    mta_b_start(&b, NULL, "C=XX;A=ADMD;P=ALPHA");
    config(&cfg);
    cfg.peer_password = "pb";
    snprintf(port, sizeof port, "%u", b.port);
    for (int i = 0; i < 200 && rv == X400_ERR_REFUSED; i++) {   /* until it listens */
        if ((rv = x400_client_new(&c, "localhost", port, &cfg, &diag)) == X400_ERR_REFUSED)
            usleep(50000);
    }
    ck_assert_msg(rv == X400_OK, "bind to x400mta: %s", diag.text);
    message(&m, &r, "Hello, x400mta.");
    for (int i = 0; i < 2; i++) {
        x400_orname *n = i ? &r.name : &m.env.originator;
        ck_assert_int_eq(x400_orname_set(n, "C", "XX"), X400_OK);
        ck_assert_int_eq(x400_orname_set(n, "A", "ADMD"), X400_OK);
        ck_assert_int_eq(x400_orname_set(n, "P", i ? "BRAVO" : "ALPHA"), X400_OK);
    }
    r.indicators |= X400_PRI_ORIGINATOR_REPORT | X400_PRI_ORIGINATING_MTA_REPORT;
    ck_assert_int_eq(x400_client_send(c, &m, &id), X400_OK);
    ck_assert_msg(x400_client_wait_report(c, &id, &rep, 20000) == X400_OK, "no report: %s",
                  x400_client_diag(c)->text);
    ck_assert(x400_p1_report_matches(&rep, &id));
    ck_assert_int_eq(rep.report.recip[0].delivered, 1);
    ck_assert_str_eq(rep.report.id.gdi.prmd, "BRAVO");
    ck_assert_int_eq(x400_client_release(c), X400_OK);
    x400_client_free(c);
    x400_p1_apdu_free(&rep);
    m.env.recip = NULL;
    x400_p1_apdu_free(&m);
    mta_b_stop(&b);
}
END_TEST

/* The two API examples, built by make, each send one message to the
 * responder and wait for its delivery report (exit status 0). */
static void run_example(const char *name)
{
    char port[16], cmd[4200];
    pid_t pid = responder(1, port);
    snprintf(cmd, sizeof cmd, "%s/examples/%s 127.0.0.1 %s HARNESS secret >/dev/null",
             x400t_bindir(), name, port);
    ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
    ck_assert_int_eq(reap(pid), 0);
}

START_TEST(example_send_simple) { run_example("send_simple"); }
END_TEST

START_TEST(example_send_loop) { run_example("send_loop"); }
END_TEST

/* Does something accept TCP connections on 127.0.0.1:port? */
static int listening(unsigned port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0), ok;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    if (fd >= 0) close(fd);
    return ok;
}

/* ... and against x400mta, which sends a delivery report only when the
 * recipient asks for one (X.411 originator-report-request): each example
 * must ask (they waited 30 s in vain before).  Jones is x400mta's, the
 * rest of SMHS (Smith) is behind the harness. */
static void run_example_against_x400mta(const char *name)
{
    struct mta_b b;
    char cmd[4200];
    int rv = -1;
    mta_b_start(&b, "C=GB;A= ;P=SMHS;S=Jones", "C=GB;A= ;P=SMHS");
    snprintf(cmd, sizeof cmd, "%s/examples/%s 127.0.0.1 %u HARNESS secret >/dev/null 2>&1", x400t_bindir(),
             name, b.port);
    for (int i = 0; i < 200 && !listening(b.port); i++) usleep(50000);
    rv = system(cmd);
    ck_assert_msg(rv == 0, "%s failed (no delivery report from x400mta?)", cmd);
    mta_b_stop(&b);
}

START_TEST(example_send_simple_against_x400mta) { run_example_against_x400mta("send_simple"); }
END_TEST

START_TEST(example_send_loop_against_x400mta) { run_example_against_x400mta("send_loop"); }
END_TEST

Suite *x400t_suite_client(void)
{
    Suite *s = suite_create("client");
    TCase *tc = tcase_create("client");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, send_and_report);
    tcase_add_test(tc, report_timeout);
    tcase_add_test(tc, bind_refused);
    tcase_add_test(tc, responder_credentials_checked);
    tcase_add_test(tc, nothing_listening);
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, against_x400mta);
    suite_add_tcase(s, tc);
    tc = tcase_create("examples");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, example_send_simple);
    tcase_add_test(tc, example_send_loop);
    tcase_add_test(tc, example_send_simple_against_x400mta);
    tcase_add_test(tc, example_send_loop_against_x400mta);
    suite_add_tcase(s, tc);
    return s;
}
