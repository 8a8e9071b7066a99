/*
 * RTSE (X.228) over an association: an RTPM (lib/rtse.h) whose lower
 * interface is the attached association's RTSE lower adapter
 * (x400i_assoc_lower, lib/assoc_int.h), chosen by the association:
 *
 *  normal mode   lib/rtse_pres.c (rt2ps): RTORQ / RTOAC / RTORJ = AARQ /
 *                AARE user-information (EXTERNAL on the user_info_context);
 *                RTTR, RTTP = one P-DATA / P-TOKEN-PLEASE PDV, single-ASN1-
 *                type, on the id-as-mta-rtse context; RTAB = ABRT
 *                user-information; the rest the presentation pass-through
 *                services.
 *  X.410-1984    lib/rtse_ses.c (rt2ss): RTORQ / RTOAC / RTORJ / RTAB in
 *                the X.410 CP / CPA / CPR / ARU SETs as session user data;
 *                RTTR and RTTP raw session user data; the session services.
 *
 * This file adds what is RTSE's own above either adapter: attaching, the
 * RTORQ waiting for the T-CONNECT confirm, letting go of an ended
 * association, routing an RTORQ recover to the RTPM waiting for it.
 *
 * The adapter owns the RTPM but not the associations: the owner creates an
 * x400_assoc (with the transport I/O), attaches it, connects it (initiator)
 * and moves its bytes.  One association carries one RT-connection; when it
 * ends (released, aborted, transport lost) the adapter lets go of it (its
 * upper layer is reset) and the owner may free it.  When the RTPM needs a
 * new connection (RT-OPEN or recovery after a lost connection) and no fresh
 * association is attached, the adapter calls `need_assoc`; the owner then
 * attaches (and connects) a new one, at once or later; the RTORQ waits for
 * the T-CONNECT confirm of the attached association.
 *
 * The initial turn: RTSE's turn_to_initiator becomes the CN's Token
 * Setting Item (every token on the initiator's side, 0x00, or on the
 * responder's, 0x55), and the RTPM is told the turn from the session's
 * token state.  Limit: the session connection identifier is the calling
 * SS-user reference of the association configuration (no common
 * reference).
 *
 * Threads: one adapter and its associations are used by one thread at a
 * time.  Callbacks must not free the adapter.
 */
#ifndef X400P1_RTSE_ASSOC_H
#define X400P1_RTSE_ASSOC_H

#include "assoc_int.h"
#include "rtse.h"

typedef struct x400i_rtse_assoc x400i_rtse_assoc;

typedef struct x400i_rtse_assoc_hooks {
    void *user;
    /* A connection is needed and no fresh association is attached: create,
     * attach and x400_assoc_connect() one (now or later).  NULL: the
     * request fails (the RTPM proceeds as after a provider abort).
     * Return < 0 if none can be made. */
    int (*need_assoc)(void *user, x400i_rtse_assoc *ra);
    /* Responder: the association attached here carries an RTORQ asking to
     * recover the connection `want`.  Return the adapter waiting for that
     * recovery (the association is moved there and the RTORQ handed to its
     * RTPM), or NULL / `ra` to let this RTPM answer (it refuses: cannot
     * recover).  NULL hook: no routing. */
    x400i_rtse_assoc *(*route)(void *user, x400i_rtse_assoc *ra, const x400i_rtse_ref *want);
} x400i_rtse_assoc_hooks;

/* Create the adapter and its RTPM (x400i_rtse_new with this adapter as the
 * lower interface).  hooks may be NULL.  X400_OK, X400_ERR_INVALID_ARG,
 * X400_ERR_NOMEM. */
int x400i_rtse_assoc_new(x400i_rtse_assoc **out, int initiator, const x400_rtse_config *cfg,
                         const x400i_rtse_callbacks *cb, const x400i_rtse_assoc_hooks *hooks,
                         const x400_allocator *alloc, const x400_logger *log);
/* Free the adapter and the RTPM; an attached association is detached (not
 * freed). */
void x400i_rtse_assoc_free(x400i_rtse_assoc *ra);

/* The RTPM: call its requests (open_req, transfer_req, ...) and tick. */
x400i_rtse *x400i_rtse_assoc_rtse(x400i_rtse_assoc *ra);

/* Attach a fresh association (becomes its upper layer).  The previous one,
 * if still attached, is detached first.  X400_OK, X400_ERR_INVALID_ARG. */
int x400i_rtse_assoc_attach(x400i_rtse_assoc *ra, x400_assoc *a);
/* Let go of the attached association (before the owner frees it while it
 * is still live).  Its upper layer is reset. */
void x400i_rtse_assoc_detach(x400i_rtse_assoc *ra);
/* The attached association, or NULL (none, or it has ended). */
x400_assoc *x400i_rtse_assoc_current(const x400i_rtse_assoc *ra);

#endif
