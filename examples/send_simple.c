/*
 * send_simple: send one message to an MTA and wait for its delivery report,
 * with the blocking client (x400p1/client.h) -- the short path for test
 * harnesses and scripts.
 *
 *   send_simple HOST PORT [MTA-NAME PASSWORD]
 *
 * Connects to HOST:PORT (a name or an address; every address is tried),
 * binds as MTA-NAME, sends a short text message from
 * C=GB;A= ;P=SMHS;S=Smith to C=GB;A= ;P=SMHS;S=Jones, waits up to 30 s for
 * the report on it and releases.  Exit status 0 when a report arrived.
 * For a program with its own event loop see send_loop.c.
 */
#include <stdio.h>
#include <string.h>

#include <x400p1/client.h>
#include <x400p1/orname.h>

/* Build the message: originator, one recipient, content.  The client adds
 * the MTSIdentifier and the trace element the message leaves empty. */
static int build(x400_p1_apdu *m, x400_p1_recipient *r, const char *body)
{
    static const char from[] = "C=GB;A= ;P=SMHS;S=Smith", to[] = "C=GB;A= ;P=SMHS;S=Jones";
    if (x400_p1_apdu_init(m, X400_P1_MESSAGE, NULL) < 0) return -1;
    x400_p1_recipient_init(r);
    if (x400_orname_parse(from, strlen(from), &m->env.originator, NULL) < 0 ||
        x400_orname_parse(to, strlen(to), &r->name, NULL) < 0)
        return -1;
    r->osrn = 1;
    /* responsibility, and a delivery report asked for (X.411
     * PerRecipientIndicators originating-MTA-report and originator-report):
     * the program waits for that report */
    r->indicators = X400_PRI_RESPONSIBILITY | X400_PRI_ORIGINATOR_REPORT | X400_PRI_ORIGINATING_MTA_REPORT;
    m->env.recip = r;
    m->env.n_recip = 1;
    m->env.content_type.builtin = X400_CT_P2_1988;
    m->content.p = (const uint8_t *)body;
    m->content.len = strlen(body);
    return 0;
}

static int fail(const char *what, int rv, const x400_diag *d)
{
    char text[512];
    x400_diag_format(d, text, sizeof text);
    fprintf(stderr, "send_simple: %s: %s (%s)\n", what, x400_strerror(rv), text);
    return 1;
}

/* Steps 3 to 5 on a bound client: 0, or 1 after saying what failed. */
static int transfer(x400_client *c, x400_p1_apdu *msg)
{
    x400_p1_apdu rep;
    x400_mtsid id;
    char idt[X400_MTSID_TEXT_MAX];
    int rv;
    if ((rv = x400_client_send(c, msg, &id)) < 0)                  /* 3: transfer */
        return fail("send", rv, x400_client_diag(c));
    x400_mtsid_format(&id, idt, sizeof idt);
    printf("sent %s\n", idt);
    if ((rv = x400_client_wait_report(c, &id, &rep, 30000)) < 0)   /* 4: its report */
        return fail("report", rv, x400_client_diag(c));
    printf("report: %s\n", rep.report.n_recip && rep.report.recip[0].delivered
                               ? "delivered" : "not delivered");
    x400_p1_apdu_free(&rep);
    if ((rv = x400_client_release(c)) < 0)                         /* 5: release */
        return fail("release", rv, x400_client_diag(c));
    return 0;
}

int main(int argc, char **argv)
{
    x400_client_config cfg;
    x400_client *c;
    x400_diag d;
    x400_p1_apdu msg;
    x400_p1_recipient rcpt;
    int rv, rc;

    if (argc != 3 && argc != 5) {
        fprintf(stderr, "usage: send_simple HOST PORT [MTA-NAME PASSWORD]\n");
        return 2;
    }
    x400_client_config_init(&cfg);                                 /* 1 */
    cfg.own_name = argc == 5 ? argv[3] : NULL;
    cfg.own_password = argc == 5 ? argv[4] : NULL;
    if ((rv = x400_client_new(&c, argv[1], argv[2], &cfg, &d)) < 0)  /* 2: connect + bind */
        return fail("bind", rv, &d);
    memset(&msg, 0, sizeof msg);
    rc = build(&msg, &rcpt, "Hello from send_simple.") < 0 ? fprintf(stderr, "send_simple: bad message\n"), 1
                                                            : transfer(c, &msg);
    x400_client_free(c);                                           /* 6: on every path */
    msg.env.recip = NULL;
    x400_p1_apdu_free(&msg);
    return rc;
}
