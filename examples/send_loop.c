/* send_loop HOST PORT [MTA-NAME PASSWORD]: the job of send_simple (send one
 * message, wait for its report, release; exit status 0) in the program's own
 * poll(2) loop over the sans-I/O API.  The program owns the socket and the
 * clock; the association takes the bytes read (x400_assoc_recv) and hands
 * over those to write (x400_assoc_pending / x400_assoc_sent). */
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <x400p1/orname.h>
#include <x400p1/p1link.h>

static x400_p1_apdu msg;                  /* the message, to match its report */
static int bound, reported, released, failed;

static int on_event(void *user, x400_p1_link *l, const x400_p1_link_event *ev)
{
    (void)user; (void)l;
    if (ev->type == X400_P1_LINK_EV_BOUND) bound = 1;
    else if (ev->type == X400_P1_LINK_EV_RECEIVED && x400_p1_report_matches(ev->apdu, &msg.env.id))
        reported = 1;
    else if (ev->type == X400_P1_LINK_EV_RELEASED) released = 1;
    else if (ev->type == X400_P1_LINK_EV_BIND_REFUSED || ev->type == X400_P1_LINK_EV_ABORTED ||
             ev->type == X400_P1_LINK_EV_SEND_FAILED)
        failed = fprintf(stderr, "send_loop: %s\n", ev->diag ? ev->diag->text : "failed") || 1;
    return 0;
}

static int dial(const char *host, const char *port)   /* blocking; every address */
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
    int fd = -1;
    if (getaddrinfo(host, port, &hints, &res) != 0) return -1;
    for (ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) close(fd), fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Move bytes until *flag is set (or a failure, the peer's close, 30 s). */
static int run(int fd, x400_assoc *a, x400_p1_link *l, const int *flag)
{
    uint64_t end = now_ms() + 30000;
    uint8_t buf[16384];  const uint8_t *out;  ssize_t w, r;
    while (!*flag && !failed && now_ms() < end) {
        size_t n = x400_assoc_pending(a, &out);          /* bytes to write? */
        struct pollfd p = { fd, (short)(POLLIN | (n ? POLLOUT : 0)), 0 };
        if (poll(&p, 1, 100) < 0) return -1;
        if (p.revents & POLLOUT) {
            if ((w = send(fd, out, n, MSG_NOSIGNAL)) < 0) return -1;
            x400_assoc_sent(a, (size_t)w);
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            if ((r = recv(fd, buf, sizeof buf, 0)) <= 0) { x400_assoc_transport_closed(a); break; }
            if (x400_assoc_recv(a, buf, (size_t)r) < 0) return -1;
        }
        x400_p1_link_tick(l, now_ms());
    }
    return *flag ? 0 : -1;
}

int main(int argc, char **argv)
{
    static const char from[] = "C=GB;A= ;P=SMHS;S=Smith", to[] = "C=GB;A= ;P=SMHS;S=Jones";
    x400_p1_link_config lc;
    x400_p1_link_callbacks cb = { NULL, on_event };
    x400_assoc_config ac;
    x400_p1_link *l = NULL;
    x400_assoc *a = NULL;
    x400_p1_recipient r;  x400_p1_trace tr;  int fd;

    if (argc != 3 && argc != 5) return fprintf(stderr, "usage: send_loop HOST PORT [NAME PASSWORD]\n"), 2;
    x400_p1_link_config_init(&lc, X400_ROLE_INITIATOR);
    if (argc == 5 && (x400_p1_link_config_set_own_name(&lc, argv[3]) < 0 ||
                      x400_p1_link_config_set_own_password(&lc, argv[4]) < 0)) return 2;
    x400_assoc_config_init(&ac, X400_ROLE_INITIATOR);
    if ((fd = dial(argv[1], argv[2])) < 0) return fprintf(stderr, "send_loop: cannot connect\n"), 1;
    if (x400_p1_link_new(&l, &lc, &cb, NULL) < 0 || x400_assoc_new(&a, &ac, NULL, NULL) < 0 ||
        x400_p1_link_attach(l, a) < 0 || x400_p1_link_tick(l, now_ms()) < 0 ||
        x400_assoc_connect(a) < 0 || run(fd, a, l, &bound) < 0) {
        fprintf(stderr, "send_loop: bind failed\n");
        goto out;
    }
    /* The message; this program sets the identifier and the trace itself. */
    x400_p1_apdu_init(&msg, X400_P1_MESSAGE, NULL);
    x400_p1_recipient_init(&r);
    x400_orname_parse(from, strlen(from), &msg.env.originator, NULL);
    x400_orname_parse(to, strlen(to), &r.name, NULL);
    x400_gdi_parse("C=GB;A= ;P=SMHS", 15, &msg.env.id.gdi, NULL);
    snprintf(msg.env.id.local, sizeof msg.env.id.local, "LOOP.%lld", (long long)time(NULL));
    /* a delivery report asked for: the program waits for it */
    r.osrn = 1, r.indicators = X400_PRI_RESPONSIBILITY | X400_PRI_ORIGINATOR_REPORT | X400_PRI_ORIGINATING_MTA_REPORT;
    x400_p1_trace_init(&tr);
    tr.gdi = msg.env.id.gdi, tr.arrival = time(NULL), tr.routing_action = X400_ROUTE_RELAYED;
    msg.env.recip = &r, msg.env.n_recip = 1, msg.env.trace = &tr, msg.env.n_trace = 1;
    msg.env.content_type.builtin = X400_CT_P2_1988;
    msg.content.p = (const uint8_t *)"Hello from send_loop.", msg.content.len = 21;
    if (x400_p1_link_send(l, &msg, 1, NULL) < 0 || run(fd, a, l, &reported) < 0) {
        fprintf(stderr, "send_loop: no report\n");
        goto out;
    }
    printf("report on %s received\n", msg.env.id.local);
    x400_p1_link_close(l);
    run(fd, a, l, &released);
out:                                    /* every path: */
    close(fd);
    x400_p1_link_free(l);               /* order: input, link, association */
    x400_assoc_free(a);
    msg.env.recip = NULL, msg.env.trace = NULL;
    x400_p1_apdu_free(&msg);
    return released ? 0 : 1;
}
