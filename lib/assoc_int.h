/* Internal view of the association: one connection's transport and
 * session, and above session one of the two RTSE lower adapters.  Not
 * installed.
 *
 *     RTSE (lib/rtse_assoc.c)   x400i_rtse_lower requests  /  x400i_rtse_lind indications
 *     ---------------------------------------------------------------------------
 *     adapter, one of:          lib/rtse_pres.c  normal (1988): presentation + ACSE
 *                               lib/rtse_ses.c   X.410-1984: straight over session
 *     session (lib/session.c), transport (lib/transport.c)
 *
 * lib/assoc.c only wires: it creates transport and session, chooses the
 * adapter (initiator: from its configuration, when created; responder:
 * from the first S-CONNECT user data, x400i_rtse_ses_takes), hands every
 * session indication to it, and keeps the summary state and events.  An
 * adapter creates its machines when chosen (an X.410-1984 association never
 * has a presentation or ACSE machine).
 *
 * THE UPPER INTERFACE (what RTSE uses) is RTSE's own lower interface
 * (lib/rtse.h): the requests are x400i_assoc_lower(a) with `user` = the
 * association, the indications arrive as x400i_rtse_lind through
 * x400i_assoc_upper.indication.  What rides where: doc/architecture.md.
 *
 *  Opening.  Initiator: after T-CONNECT confirm the association calls
 *  up.associate(); the upper layer calls connect_req with its RTORQ (the
 *  complete RTSE-apdus TLV, B0 ..) at once or later.  The answer arrives
 *  as LIND_CONNECT_CONF (accepted or not) with the RTOAC (B1 ..) / RTORJ
 *  (B2 ..).  Responder: LIND_CONNECT with the RTORQ (B0 ..) and what the
 *  connection runs (normal or X.410-1984); answer with connect_rsp inside the callback or
 *  later.  Without an upper layer (up.indication NULL) a 1988
 *  association answers itself (accept, no user information); an X.410
 *  one refuses.
 *
 *  Session services (tokens, minor sync, activities) go through the
 *  adapter (normal: the presentation pass-through services, state-checked
 *  there; X.410: the session services).  The upper layer must answer what
 *  needs an answer (minor sync, activity end/interrupt/discard); without
 *  an upper layer the normal adapter answers them itself.
 *
 *  Closing.  release_req / release_rsp (RLRQ / RLRE in P-RELEASE; S-RELEASE
 *  for X.410-1984); u_abort_req with an RTAB (ABRT in ARU; X.410: ARU SET in
 *  S-U-ABORT).  Peer aborts arrive as LIND_U_ABORT (apdu = the RTAB if
 *  any), provider aborts (ARP, state check failure, S-P-ABORT, transport
 *  lost, bad PDU, provider exception report) as LIND_P_ABORT with a diagnostic;
 *  a user exception report (ED) arrives as LIND_U_EXCEPTION.
 *  The summary events (ESTABLISHED, REFUSED, RELEASED, ABORTED) still reach
 *  x400_assoc_callbacks.
 *
 *  Views in an x400i_rtse_lind are valid during the callback only.
 *  Callbacks may call any request on the same association; they must not
 *  free it.
 */
#ifndef X400P1_LIB_ASSOC_INT_H
#define X400P1_LIB_ASSOC_INT_H

#include "acse.h"
#include "presentation.h"
#include "rtse.h"
#include "session.h"
#include "transport.h"
#include "x400p1/assoc.h"

/* One RTSE lower adapter: what runs above session on one association. */
typedef struct x400i_assoc_adapter {
    const char *name;
    /* Create the adapter's machines on `a` (a->above).  X400_OK or < 0. */
    int (*start)(x400_assoc *a);
    void (*stop)(x400_assoc *a);
    /* Every session indication.  Returns what the session machine gets. */
    int (*ses_ind)(x400_assoc *a, const x400i_ses_ind *ind);
    /* RTSE's lower interface over `a` (user = the association). */
    x400i_rtse_lower lower;
} x400i_assoc_adapter;

extern const x400i_assoc_adapter x400i_rtse_pres_adapter;  /* lib/rtse_pres.c */
extern const x400i_assoc_adapter x400i_rtse_ses_adapter;   /* lib/rtse_ses.c */

typedef struct x400i_assoc_upper {
    void *user;
    /* Initiator: transport connected; call connect_req (x400i_assoc_lower).
     * NULL: the association sends its CP/AARQ without user information.
     * Return < 0 to abort. */
    int (*associate)(void *user, x400_assoc *a);
    /* Every indication/confirm for RTSE.  Return < 0 to abort. */
    int (*indication)(void *user, x400_assoc *a, const x400i_rtse_lind *ind);
} x400i_assoc_upper;

struct x400_assoc {
    x400_assoc_config cfg;
    const x400_allocator *alloc;
    x400_assoc_callbacks cb;
    x400i_assoc_upper up;
    x400i_tp *tp;
    x400i_ses *ses;
    const x400i_assoc_adapter *adapter;  /* NULL until chosen (responder: first S-CONNECT) */
    void *above;                         /* the adapter's machines */
    x400_assoc_state state;
    x400_diag diag;
    void *user;
    int connect_called;
    int input_err;      /* error detected by a layer during this recv call */
    x400i_pctx pctx[X400I_PCTX_MAX];     /* the configured presentation contexts */
};

void x400i_assoc_set_upper(x400_assoc *a, const x400i_assoc_upper *up);

/* RTSE's lower interface over this association (user = a), or NULL while
 * no adapter is chosen (a responder before the S-CONNECT indication). */
const x400i_rtse_lower *x400i_assoc_lower(const x400_assoc *a);

/* Shorthands of x400i_assoc_lower(a)->... for harnesses.  X400_OK or a
 * negative error with x400_assoc_diag(a) saying why (X400_ERR_STATE: a
 * state check refused it; nothing was sent).  associate_req keeps the
 * configured token setting (every token on the initiator's side). */
int x400i_assoc_associate_req(x400_assoc *a, const uint8_t *ui, size_t ui_len);
int x400i_assoc_associate_rsp(x400_assoc *a, int accept, const uint8_t *ui, size_t ui_len);
int x400i_assoc_data_req(x400_assoc *a, const uint8_t *apdu, size_t len);
int x400i_assoc_release_req(x400_assoc *a);
int x400i_assoc_release_rsp(x400_assoc *a);
int x400i_assoc_abort_req(x400_assoc *a, const uint8_t *ui, size_t ui_len);

/* 1988 stack: the context id negotiated for an abstract syntax (e.g.
 * id-as-mta-rtse), or -1 (none, or X.410-1984). */
int x400i_assoc_context_id(const x400_assoc *a, const uint32_t *arcs, size_t n);

/* The layers, for tests.  x400i_assoc_presentation: NULL unless the
 * normal adapter runs. */
x400i_pres *x400i_assoc_presentation(x400_assoc *a);
x400i_ses *x400i_assoc_session(x400_assoc *a);
x400i_tp *x400i_assoc_transport(x400_assoc *a);
int x400i_assoc_acse_state(const x400_assoc *a);
/* During an indication callback of a normal connection: the ACSE APDU it
 * came in (AARQ, AARE, RLRQ, RLRE, ABRT), else NULL. */
const x400i_acse_apdu *x400i_assoc_acse_apdu(const x400_assoc *a);
/* The error an upper layer met on this recv call's input (kept only when
 * the association has ended; x400_assoc_recv returns it). */
void x400i_assoc_input_error(x400_assoc *a, int err);

/* Test hook: hand the association a session indication as if the session
 * machine had produced it.  Returns what the association returned to the
 * session. */
int x400i_assoc_inject_ses_ind(x400_assoc *a, const x400i_ses_ind *ind);

/* ---- for the adapters (lib/rtse_pres.c, lib/rtse_ses.c) ---- */

/* Choose the adapter (X.410-1984 CP: x400i_rtse_ses_adapter).  1 when the
 * S-CONNECT user data is an X.410-1984 CP: a SET whose [0] selector holds
 * the value 0 (X.226 8.2 / X.410 (1984)); the one place a responder learns
 * what its connection runs.  lib/rtse_ses.c. */
int x400i_rtse_ses_takes(const uint8_t *ud, size_t len);
/* The RTSE APDU an X.410-1984 CP, CPA, CPR or ARU (pdu: X400I_PPDU_*)
 * carries, re-tagged as RTSE-apdus (B0 RTORQ, B1 RTOAC, B2 RTORJ, B6
 * RTAB), appended to *out (normalised to definite lengths); *apdu views
 * it.  X400_OK or X400_ERR_PARSE.  lib/rtse_ses.c. */
int x400i_rtse_ses_decode(int pdu, const uint8_t *ud, size_t len, x400i_buf *out, x400i_view *apdu);
/* The adapter an association configuration asks for, NULL if it names
 * neither stack.  lib/rtse_ses.c. */
const x400i_assoc_adapter *x400i_rtse_adapter_configured(const x400_assoc_config *cfg);

/* Give the upper layer an indication (0 without one). */
int x400i_assoc_up(x400_assoc *a, const x400i_rtse_lind *l);
/* The connection facts of a CONNECT / CONNECT_CONF: whether this side
 * holds the turn (the data token) and the session connection identifier
 * (si: the S-CONNECT indication/confirm, or NULL). */
void x400i_assoc_conn_facts(x400_assoc *a, const x400i_ses_ind *si, x400i_rtse_lind *l,
                            x400i_rtse_ref *ref);
/* RTSE's old connection identifier as S-ACTIVITY-RESUME's (old may be NULL). */
void x400i_assoc_old_conn(x400i_ses_old_conn *oc, const x400i_rtse_ref *old);
/* The serial number and activity identifiers of a session indication. */
void x400i_assoc_lind_of_ses(x400i_rtse_lind *l, const x400i_ses_ind *si);
/* The tokens RT-TURN-PLEASE asks for: every token this side lacks. */
unsigned x400i_assoc_tokens_wanted(const x400_assoc *a);
/* An exception report on an RTSE connection: not part of RTSE's use of the
 * session service; the connection is given up (S-U-ABORT) and the upper
 * layer gets LIND_P_ABORT (recovery may follow). */
int x400i_assoc_give_up(x400_assoc *a, const x400i_ses_ind *si);
/* Summary state after the adapter's action (rv its result): the response
 * to a connection went out (accepted: established; else refused); a
 * release was requested / answered / confirmed; the association was
 * aborted here; the peer refused; the peer or the provider aborted. */
int x400i_assoc_answered(x400_assoc *a, int accept, int rv);
int x400i_assoc_established(x400_assoc *a);
void x400i_assoc_releasing(x400_assoc *a);
void x400i_assoc_released(x400_assoc *a);
int x400i_assoc_aborted_here(x400_assoc *a, int rv);
void x400i_assoc_refused(x400_assoc *a, const x400_diag *d);
void x400i_assoc_aborted(x400_assoc *a, const x400_diag *d);
int x400i_assoc_finished(const x400_assoc *a);

#endif
