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
} x400_driver_config;

void x400_driver_config_init(x400_driver_config *cfg);

int x400_driver_new(x400_driver **out, const x400_driver_config *cfg,
                    const x400_driver_callbacks *cb, const x400_allocator *alloc);
/* Close every socket (no callbacks) and free the driver; associations
 * remain the caller's. */
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
 * Returns the number of connections that made progress, or an error. */
int x400_driver_run(x400_driver *d, int timeout_ms);

/* Close a connection now (the association sees its transport closed). */
int x400_driver_disconnect(x400_driver *d, x400_lpi_handle conn);

/* The association of a live connection, or NULL (stale handle). */
x400_assoc *x400_driver_assoc(x400_driver *d, x400_lpi_handle conn);

size_t x400_driver_conn_count(const x400_driver *d);
/* Inbound connections live, and those refused at accept (limits, a full
 * table, or the application) since the driver was created. */
size_t x400_driver_inbound_count(const x400_driver *d);
uint64_t x400_driver_refused_count(const x400_driver *d);
const x400_diag *x400_driver_diag(const x400_driver *d);

#ifdef __cplusplus
}
#endif
#endif
