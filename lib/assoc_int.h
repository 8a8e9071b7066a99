/* Internal view of the association: how the layer above session (and the
 * test harnesses) attach to it.  Not installed. */
#ifndef X400P1_LIB_ASSOC_INT_H
#define X400P1_LIB_ASSOC_INT_H

#include "x400p1/assoc.h"
#include "session.h"
#include "transport.h"

/* The layer above session.  Until presentation is stacked on top, tests and
 * harnesses plug in here to drive the session service directly. */
typedef struct x400i_assoc_upper {
    void *user;
    /* Initiator: the transport connection is open; the upper layer now
     * issues S-CONNECT request (x400i_ses_connect_req) with its user data.
     * Return < 0 to abort. */
    int (*transport_up)(void *user, x400_assoc *a);
    /* Every session indication/confirmation, after the association has
     * updated its own state.  Return < 0 to abort the association. */
    int (*ses_ind)(void *user, x400_assoc *a, const x400i_ses_ind *ind);
} x400i_assoc_upper;

void x400i_assoc_set_upper(x400_assoc *a, const x400i_assoc_upper *up);
x400i_ses *x400i_assoc_session(x400_assoc *a);
x400i_tp *x400i_assoc_transport(x400_assoc *a);

#endif
