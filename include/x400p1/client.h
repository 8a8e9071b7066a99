/*
 * x400p1 -- a small blocking P1 client for test harnesses and scripts.
 *
 * "Connect to this MTA by host and port, bind with these credentials, send
 * this message, wait for its report, release" in a handful of calls:
 *
 *     x400_client_config cfg;  x400_client_config_init(&cfg);
 *     cfg.own_name = "HARNESS";  cfg.own_password = "secret";
 *     x400_client *c;          x400_client_new(&c, "mta.example", "102", &cfg, &diag);
 *     x400_mtsid id;           x400_client_send(c, &msg, &id);
 *     x400_p1_apdu rep;        x400_client_wait_report(c, &id, &rep, 30000);
 *     x400_client_release(c);  x400_client_free(c);
 *
 * It is built only on the public driver and link APIs (driver.h,
 * p1link.h): an initiator association in the configured mode, one P1 link,
 * one POSIX driver, all owned by the client.  Every call blocks (it runs
 * the driver and ticks the link on CLOCK_MONOTONIC) until its result or
 * its timeout.  A program with its own event loop uses those APIs
 * directly (doc/api.md "Your own event loop", examples/send_loop.c).
 *
 * What the client does for the caller: it assigns an MTSIdentifier when the
 * message has none (an in-memory allocator, X400_MTSID_MEMORY: fine for a
 * harness, not crash-safe), adds one trace element {its domain, now,
 * relayed} when the message has no trace, and keeps every report it
 * receives until one is asked for.  Messages and probes the peer sends are
 * acknowledged and dropped (logged at NOTICE).  Reports must come back on
 * the client's association (the peer holds the turn after the transfer
 * in two-way-alternate dialogue); a peer that only returns reports over an
 * association of its own is not served by this client.
 *
 * Not thread-safe: one client is used by one thread at a time.
 */
#ifndef X400P1_CLIENT_H
#define X400P1_CLIENT_H

#include "p1.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct x400_client x400_client;

typedef struct x400_client_config {
    const char *own_name;         /* MTAName in the MTABindArgument; NULL or
                                     "": unauthenticated */
    const char *own_password;     /* its password (IA5); NULL: none */
    const char *peer_password;    /* the responder's password expected in the
                                     MTABindResult; NULL: not checked */
    x400_mode mode;               /* X400_MODE_NORMAL (1988, default) or _X410 */
    int timeout_ms;               /* connect + bind, each transfer and the
                                     release; default 30000 */
    /* The domain of the MTSIdentifiers the client assigns (and of the trace
     * element it adds).  country "" (the default): the country, ADMD and
     * PRMD of the first APDU's originator (a report: its destination). */
    x400_gdi gdi;
    const char *node_id;          /* MTSID node id; NULL: "CLIENT" */
    x400_logger log;
} x400_client_config;

/* Defaults as listed above. */
void x400_client_config_init(x400_client_config *cfg);

/* Connect to host:port (every address host resolves to is tried) and bind.
 * Returns X400_OK and *out once bound, or (*out NULL, detail in *diag, which
 * may be NULL): X400_ERR_INVALID_ARG (NULL argument, a name or password
 * longer than X.411 allows); X400_ERR_REFUSED (no address connected, or the
 * bind was refused: diag says which); X400_ERR_TIMEOUT (not bound within
 * timeout_ms); X400_ERR_ABORTED; X400_ERR_NOMEM; X400_ERR_IO. */
int x400_client_new(x400_client **out, const char *host, const char *port,
                    const x400_client_config *cfg, x400_diag *diag);

/* Transfer one message, probe or report and wait until the peer confirms it
 * (the RTSE activity end).  An empty env.id.local (report: report.id.local)
 * is filled with a fresh identifier, an empty trace gets one element; the
 * caller's APDU itself is not modified.  *id (may be NULL) receives the
 * identifier sent.  X400_OK; X400_ERR_INVALID_ARG / X400_ERR_TOO_LONG (the
 * APDU does not encode); X400_ERR_TIMEOUT; X400_ERR_ABORTED / X400_ERR_CLOSED
 * (the association ended); detail in x400_client_diag(). */
int x400_client_send(x400_client *c, const x400_p1_apdu *apdu, x400_mtsid *id);

/* Wait up to timeout_ms (-1: forever) for a report whose subject is
 * `subject` (x400_p1_report_matches), received before or during the call.
 * X400_OK with *report decoded (the caller frees it with
 * x400_p1_apdu_free) and removed from the client's reports;
 * X400_ERR_TIMEOUT; X400_ERR_ABORTED / X400_ERR_CLOSED (the association
 * ended and no such report was received). */
int x400_client_wait_report(x400_client *c, const x400_mtsid *subject,
                            x400_p1_apdu *report, int timeout_ms);

/* Orderly release (RT-CLOSE, then A-RELEASE) and wait for it.  X400_OK;
 * X400_ERR_TIMEOUT; X400_ERR_ABORTED.  Afterwards only x400_client_free
 * is useful. */
int x400_client_release(x400_client *c);

/* Close the connection (no release: call x400_client_release first for an
 * orderly end) and free everything, unclaimed reports included.  NULL is
 * ignored. */
void x400_client_free(x400_client *c);

/* Reports received and not yet taken by x400_client_wait_report; 0 for
 * NULL. */
size_t x400_client_reports(const x400_client *c);

/* Detail of the client's last failure; a neutral all-zero diag for NULL.
 * Never NULL. */
const x400_diag *x400_client_diag(const x400_client *c);

#ifdef __cplusplus
}
#endif
#endif
