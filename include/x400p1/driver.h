/*
 * x400p1 -- optional POSIX driver: the only part of the library that
 * touches sockets.  It listens, accepts and connects over TCP (IPv4 and
 * IPv6), resolves host names with getaddrinfo trying every address in
 * turn, and pumps bytes between sockets and associations with epoll(7)
 * (poll(2) where there is no epoll).
 *
 * Programs with their own event loop do not need it: they call
 * x400_assoc_recv / x400_assoc_pending / x400_assoc_sent themselves.
 *
 * Connections are named by LPI handles (lpi.h): a handle of a closed
 * connection is refused as stale, never taken for a newer connection.
 *
 * Not thread-safe: one driver is used by one thread at a time.
 */
#ifndef X400P1_DRIVER_H
#define X400P1_DRIVER_H

#include "assoc.h"
#include "lpi.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct x400_driver x400_driver;

typedef struct x400_driver_callbacks {
    void *user;
    /* Inbound: a TCP connection was accepted.  `peer` is the numeric
     * address (for logs only: peers are identified by their bind, never by
     * address).  Create a responder association into *out and return 0, or
     * return < 0 to refuse (the socket is closed). */
    int (*accepted)(void *user, x400_driver *d, x400_lpi_handle conn, const char *peer,
                    x400_assoc **out);
    /* Outbound: the TCP connection is up (err == NULL; the driver has
     * already issued x400_assoc_connect) or every address failed (err says
     * why; `closed` follows). */
    void (*connected)(void *user, x400_driver *d, x400_lpi_handle conn, x400_assoc *a,
                      const x400_diag *err);
    /* The socket is closed and the driver forgot `a`; the caller may free
     * it.  `why` is NULL after an orderly close. */
    void (*closed)(void *user, x400_driver *d, x400_lpi_handle conn, x400_assoc *a,
                   const x400_diag *why);
} x400_driver_callbacks;

typedef struct x400_driver_config {
    size_t max_conns;          /* capacity (default 64) */
    uint32_t table_id;         /* LPI table id of the connection handles (default 1) */
    int connect_timeout_ms;    /* per address (default 10000) */
    size_t max_listeners;      /* default 8 */
    /* Inbound connections at most (0: up to max_conns).  Below max_conns it
     * keeps max_conns - max_inbound slots for x400_driver_connect, whatever
     * arrives; an inbound connection beyond it is closed at accept (logged
     * at most once a second, with the count left out). */
    size_t max_inbound;
    x400_logger log;
    /* 0 (default): every x400_driver_run looks at every connection for
     * output to write and finished associations.  1: the application calls
     * x400_driver_want_write for each connection whose association it gave
     * work outside x400_driver_run (a send, a confirm, a tick, a release):
     * a run then looks only at those and the ones that had I/O, so its cost
     * follows the activity, not the connections held (epoll only). */
    int notify_output;
    /* TCP Fast Open (RFC 7413; Linux), 0 (default) off.  1: the listeners
     * accept data in the SYN (TCP_FASTOPEN, a queue of tfo_queue_len
     * connections not yet acknowledged) and x400_driver_connect asks for
     * it (TCP_FASTOPEN_CONNECT): once the kernel holds a cookie from an
     * earlier connection to the same server, the X.224 CR rides in the SYN
     * and the server's CC comes back with its SYN-ACK, so the setup takes
     * one round trip fewer.  The kernel decides each time and the driver
     * falls back silently: without a cookie yet (the first connection to
     * a server asks for one), with net.ipv4.tcp_fastopen lacking the
     * client (1) or server (2) bit, with a peer that ignores it, or where
     * the socket options do not exist, the connection is an ordinary one.
     * A failed connect moves on to the next address either way (the CR is
     * sent again there).  The connected callback comes once the handshake
     * is over; when the CR went in the SYN, once the peer's first octets
     * (the CC) arrive, which is when the driver learns it. */
    int tcp_fast_open;
    int tfo_queue_len;         /* 0: 64 */
    /* Deferred accept (Linux TCP_DEFER_ACCEPT), 0 (default) off.  N > 0:
     * a listener hands over a connection only once its first octets (the
     * peer's X.224 CR: in RFC 1006 the initiator always speaks first) have
     * arrived, so the accept and the CR are read in one wake-up and the CC
     * answers at once; without it the driver is often woken by the TCP
     * handshake alone, finds no CR yet and waits again.  A peer that
     * connects and sends nothing is handed over only after about N seconds
     * (the kernel's retransmissions of its SYN-ACK), which also delays
     * what the application sees of such connections (its inbound limits,
     * its logs).  Ignored where the option does not exist. */
    unsigned defer_accept_s;
    /* Per source address (the port left out), at most info_log_lines of
     * the driver's info and debug lines (an accepted connection, a
     * connection refused by the application) in each info_log_interval_ms;
     * the lines beyond are counted and one line at the end of the interval
     * says how many were left out.  Defaults 5 and 60000; 0 lines: no
     * limit.  info_log_sources addresses are tracked at once (default 64;
     * a new one takes the place of the one whose interval began first). */
    unsigned info_log_lines;
    unsigned info_log_interval_ms;
    unsigned info_log_sources;
} x400_driver_config;

void x400_driver_config_init(x400_driver_config *cfg);

int x400_driver_new(x400_driver **out, const x400_driver_config *cfg,
                    const x400_driver_callbacks *cb, const x400_allocator *alloc);
/* Close every socket (no callbacks) and free the driver; associations
 * remain the caller's.  Lines left out by the per-source limit in an
 * interval not over yet are summed up first (the log callback gets one
 * "N more lines about ADDR left out" line per address). */
void x400_driver_free(x400_driver *d);

/* Listen on every address `host` resolves to (NULL: all IPv4 and IPv6
 * addresses) at `port` ("0" picks a free port; see x400_driver_listen_port).
 * Returns the number of sockets bound (> 0) or a negative error. */
int x400_driver_listen(x400_driver *d, const char *host, const char *port);
/* The port of the first listening socket (after port "0"), or 0. */
unsigned x400_driver_listen_port(const x400_driver *d);

/* Connect `a` (an initiator) to host:port.  `host` is a name or an IPv4/IPv6
 * literal; every address getaddrinfo returns is tried in order until one
 * connects.  Non-blocking: progress happens in x400_driver_run. */
int x400_driver_connect(x400_driver *d, const char *host, const char *port,
                        x400_assoc *a, x400_lpi_handle *conn_out);

/* Wait up to timeout_ms (-1: forever) for socket events and process them.
 * Returns the number of connections that made progress, or an error.  A
 * run that made progress before waiting (a new connection's CR sent, a
 * finished association's connection closed) returns at once, without
 * looking at the sockets: call it again (as a loop does). */
int x400_driver_run(x400_driver *d, int timeout_ms);

/* With notify_output: the association of `conn` may have output to write
 * or may have finished (after x400_p1_link_send, _confirm, _tick, _close,
 * x400_assoc_release ... called outside x400_driver_run): the next run
 * writes it, or closes the connection.  Harmless without notify_output.
 * X400_OK or a stale-handle error. */
int x400_driver_want_write(x400_driver *d, x400_lpi_handle conn);

/* Optional: `fn` is called (with the callbacks' user) when the socket of
 * `conn` is ready and the driver is about to read it or finish its connect
 * -- the association may then produce events and start timers.  An
 * application that ticks its links only when their timers are due
 * (x400_p1_link_tick) brings the link's clock up to date there, so that
 * what the input starts is timed from now.  NULL: none (the default). */
typedef void (*x400_driver_activity_fn)(void *user, x400_driver *d, x400_lpi_handle conn,
                                        x400_assoc *a);
void x400_driver_set_activity(x400_driver *d, x400_driver_activity_fn fn);

/* Optional: x400_driver_run also waits for `fd` (e.g. the read end of a
 * pipe that another thread of the application writes to) to be readable,
 * and returns when it is; the driver never reads it -- the application
 * drains it, or every run returns at once.  -1: none (the default).  One
 * descriptor; a new call replaces the previous one.  X400_OK or an error. */
int x400_driver_set_wake_fd(x400_driver *d, int fd);

/* Close a connection now (the association sees its transport closed). */
int x400_driver_disconnect(x400_driver *d, x400_lpi_handle conn);

/* TCP Fast Open at work on `conn`: 1 when its first octets went in the SYN
 * and the peer took them there (Linux TCP_INFO, TCPI_OPT_SYN_DATA: the CR
 * of an outbound connection, once the handshake is over), 0 when not
 * (or not known on this system), < 0 a stale handle.  One system call;
 * for logs and tests. */
int x400_driver_conn_syn_data(x400_driver *d, x400_lpi_handle conn);

/* The association of a live connection, or NULL (stale handle). */
x400_assoc *x400_driver_assoc(x400_driver *d, x400_lpi_handle conn);

size_t x400_driver_conn_count(const x400_driver *d);
/* Inbound connections live, and those refused at accept (limits, a full
 * table, or the application) since the driver was created. */
size_t x400_driver_inbound_count(const x400_driver *d);
uint64_t x400_driver_refused_count(const x400_driver *d);
/* Connections x400_driver_run examined since the driver was created (its
 * work per turn, for tests and tuning: with notify_output it grows with the
 * connections that had I/O or were flagged, not with those held). */
uint64_t x400_driver_visit_count(const x400_driver *d);
/* Times x400_driver_run asked the kernel for readiness (epoll_wait or
 * poll) since the driver was created: its wake-ups.  A run that made
 * progress before asking (a connection's CR sent, a connection closed)
 * returns without asking; the next run does. */
uint64_t x400_driver_wait_count(const x400_driver *d);
/* Lines left out by the per-source limit of info lines since the driver
 * was created. */
uint64_t x400_driver_log_suppressed_count(const x400_driver *d);
const x400_diag *x400_driver_diag(const x400_driver *d);

#ifdef __cplusplus
}
#endif
#endif
