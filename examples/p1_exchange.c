/*
 * p1_exchange: two MTAs in one process, over real TCP on loopback, using
 * only the public API:
 *
 *   MTA-B listens; MTA-A connects to "localhost" (every address the name
 *   resolves to is tried), binds with its name and password (checked by
 *   MTA-B in constant time), sends a message to two recipients; MTA-B
 *   receives it and answers with a delivery report; MTA-A matches the
 *   report to its message; A closes the link.
 *
 *   p1_exchange            (exit status 0 on success)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <x400p1/driver.h>
#include <x400p1/orname.h>
#include <x400p1/p1link.h>

struct mta {
    const char *name;
    x400_p1_link *link;
    x400_assoc *assoc;
    x400_p1_apdu sent_msg;     /* A: the message, to match the report */
    int bound, got_message, got_report, released;
};

static struct mta A = { .name = "MTA-A" }, B = { .name = "MTA-B" };
static x400_p1_apdu received;  /* B: the message it received */

static int on_link(void *user, x400_p1_link *l, const x400_p1_link_event *ev)
{
    struct mta *m = user;
    char idt[X400_MTSID_TEXT_MAX];
    (void)l;
    switch (ev->type) {
    case X400_P1_LINK_EV_BOUND:
        printf("%s: bound to %s\n", m->name, ev->peer_name);
        m->bound = 1;
        break;
    case X400_P1_LINK_EV_RECEIVED:
        x400_mtsid_format(x400_p1_apdu_id(ev->apdu), idt, sizeof idt);
        if (ev->apdu->kind == X400_P1_MESSAGE) {
            printf("%s: message %s, %u recipients, %zu octets\n", m->name, idt,
                   ev->apdu->env.n_recip, ev->apdu->content.len);
            /* keep a copy to report on (the event's APDU dies with the call) */
            if (x400_p1_decode(ev->raw, ev->raw_len, NULL, NULL, &received, NULL) == X400_OK)
                m->got_message = 1;
        } else if (ev->apdu->kind == X400_P1_REPORT) {
            printf("%s: report %s on %s: %s\n", m->name, idt,
                   ev->apdu->report.subject.local,
                   x400_p1_report_matches(ev->apdu, &A.sent_msg.env.id) ? "matches our message"
                                                                   : "UNKNOWN subject");
            m->got_report = x400_p1_report_matches(ev->apdu, &A.sent_msg.env.id);
        }
        break;
    case X400_P1_LINK_EV_SENT:
        printf("%s: transfer %llu confirmed by the peer\n", m->name, (unsigned long long)ev->tag);
        break;
    case X400_P1_LINK_EV_BIND_REFUSED:
    case X400_P1_LINK_EV_ABORTED:
    case X400_P1_LINK_EV_SEND_FAILED:
        fprintf(stderr, "%s: %s\n", m->name, ev->diag ? ev->diag->text : "failed");
        exit(1);
    case X400_P1_LINK_EV_RELEASED:
        printf("%s: link released\n", m->name);
        m->released = 1;
        break;
    default:
        break;
    }
    return 0;
}

/* MTA-B's driver accepts a connection: a responder association for its link. */
static int on_accept(void *user, x400_driver *d, x400_lpi_handle h, const char *peer,
                     x400_assoc **out)
{
    x400_assoc_config c;
    (void)user; (void)d; (void)h;
    printf("MTA-B: connection from %s (the peer is identified by its bind, not its address)\n",
           peer);
    x400_assoc_config_init(&c, X400_ROLE_RESPONDER);
    if (x400_assoc_new(out, &c, NULL, NULL) < 0) return -1;
    B.assoc = *out;
    return x400_p1_link_attach(B.link, *out);
}

static x400_p1_link *new_link(struct mta *m, x400_role role, const char *pw)
{
    x400_p1_link_config c;
    x400_p1_link_callbacks cb = { m, on_link };
    x400_p1_link *l;
    static const x400_p1_peer peers[] = { { "MTA-A", (const uint8_t *)"secret-a", 8, 1 } };
    static x400_p1_peer_table table = { peers, 1 };
    x400_p1_link_config_init(&c, role);
    if (x400_p1_link_config_set_own_name(&c, m->name) < 0 ||
        x400_p1_link_config_set_own_password(&c, pw) < 0)
        exit(1);
    if (role == X400_ROLE_RESPONDER) {
        c.check = x400_p1_cred_check_default;
        c.check_user = &table;
    }
    if (x400_p1_link_new(&l, &c, &cb, NULL) < 0) exit(1);
    return l;
}

static void run(x400_driver *d1, x400_driver *d2, int *flag)
{
    for (int i = 0; i < 5000 && !*flag; i++) {
        x400_driver_run(d1, 2);
        x400_driver_run(d2, 2);
    }
    if (!*flag) { fprintf(stderr, "p1_exchange: timed out\n"); exit(1); }
}

int main(void)
{
    x400_driver *da, *db;
    x400_driver_callbacks cba = { NULL, NULL, NULL, NULL }, cbb = { NULL, on_accept, NULL, NULL };
    x400_assoc_config ac;
    x400_lpi_handle h;
    x400_p1_recipient r[2];
    x400_p1_trace tr;
    x400_p1_apdu rep;
    x400_p1_outcome outcomes[2] = { { 0, 1, 1795250100, 0, -1, NULL },
                                    { 1, 1, 1795250100, 0, -1, NULL } };
    x400_mtsid rid;
    char port[16];
    static const uint8_t body[] = "Hello from MTA-A.";

    /* MTA-B: a driver listening on the loopback, a responder link */
    B.link = new_link(&B, X400_ROLE_RESPONDER, "secret-b");
    if (x400_driver_new(&db, NULL, &cbb, NULL) < 0 || x400_driver_listen(db, "127.0.0.1", "0") <= 0)
        return 1;
    snprintf(port, sizeof port, "%u", x400_driver_listen_port(db));

    /* MTA-A: an initiator association + link, connected by host name */
    A.link = new_link(&A, X400_ROLE_INITIATOR, "secret-a");
    x400_assoc_config_init(&ac, X400_ROLE_INITIATOR);
    if (x400_assoc_new(&A.assoc, &ac, NULL, NULL) < 0 || x400_p1_link_attach(A.link, A.assoc) < 0 ||
        x400_driver_new(&da, NULL, &cba, NULL) < 0 ||
        x400_driver_connect(da, "localhost", port, A.assoc, &h) < 0)
        return 1;
    run(da, db, &A.bound);

    /* A builds a message: MTSID, originator, two recipients, trace, content */
    x400_p1_apdu_init(&A.sent_msg, X400_P1_MESSAGE, NULL);
    x400_p1_envelope *e = &A.sent_msg.env;
    x400_gdi_parse("C=GB;A= ;P=SMHS", 15, &e->id.gdi, NULL);
    strcpy(e->id.local, "MTAA.1");     /* in a real MTA: x400_mtsid_next() */
    x400_orname_parse("C=GB;A= ;P=SMHS;O=Org;S=Smith;G=Ann", 36, &e->originator, NULL);
    for (int i = 0; i < 2; i++) {
        x400_p1_recipient_init(&r[i]);
        x400_orname_parse(i ? "C=GB;A= ;P=SMHS;O=Org;S=Jones" : "C=GB;A= ;P=SMHS;O=Org;S=Brown",
                          29, &r[i].name, NULL);
        r[i].osrn = (uint32_t)i + 1;
        r[i].indicators = X400_PRI_RESPONSIBILITY;
    }
    e->n_recip = 2;
    e->recip = r;
    e->content_type.builtin = X400_CT_P2_1988;
    x400_p1_trace_init(&tr);
    tr.gdi = e->id.gdi;
    tr.arrival = 1795250000;
    tr.routing_action = X400_ROUTE_RELAYED;
    e->n_trace = 1;
    e->trace = &tr;
    A.sent_msg.content.p = body;
    A.sent_msg.content.len = sizeof body - 1;
    if (x400_p1_link_send(A.link, &A.sent_msg, 1, NULL) < 0) return 1;
    run(da, db, &B.got_message);

    /* B reports delivery to both recipients back to A */
    rid = received.env.id;
    strcpy(rid.local, "MTAB.R1");
    if (x400_p1_report_build(&rep, &received, &rid, &received.env.id.gdi, 1795250000,
                             1795250100, outcomes, 2, NULL, NULL) < 0 ||
        x400_p1_link_send(B.link, &rep, 2, NULL) < 0)
        return 1;
    run(da, db, &A.got_report);

    x400_p1_link_close(A.link);
    run(da, db, &A.released);

    x400_p1_apdu_free(&rep);
    x400_p1_apdu_free(&received);
    A.sent_msg.env.recip = NULL;
    x400_p1_apdu_free(&A.sent_msg);
    x400_driver_free(da);
    x400_driver_free(db);
    x400_p1_link_free(A.link);
    x400_p1_link_free(B.link);
    x400_assoc_free(A.assoc);
    x400_assoc_free(B.assoc);
    printf("p1 exchange: OK\n");
    return 0;
}
