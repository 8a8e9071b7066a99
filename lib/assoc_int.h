/* Internal view of the association: the interface for the layer above ACSE
 * (RTSE) and for test harnesses.  Not installed.
 *
 * Stack inside one association (lib/assoc.c routes, each layer decides):
 *
 *     upper (RTSE)            x400i_assoc_upper callbacks  /  x400i_assoc_* requests
 *     ACSE  (lib/acse.c)      AARQ/AARE/RLRQ/RLRE/ABRT (normal mode only)
 *     presentation            CP/CPA/CPR/ARU/ARP/TD, state checker (pstate.h)
 *     session (lib/session.c) transport (lib/transport.c)
 *
 * THE UPPER INTERFACE (what RTSE uses)
 *
 *  Opening.  Initiator: after T-CONNECT confirm the association calls
 *  up.associate(); the upper layer calls x400i_assoc_associate_req(a, ui)
 *  with its RTORQapdu (the complete RTSE-apdus TLV, [16] IMPLICIT SET = B0 ..)
 *  -- at once or later.  Normal mode: AARQ {application-context-name,
 *  AP titles/AE qualifiers from the config, user-information = EXTERNAL
 *  {direct-reference BER 2.1.1, indirect-reference cfg.user_info_context (3),
 *  single-ASN1-type = ui}} in CP-type user data on the ACSE context.
 *  X.410-1984 mode: CP-type x410-mode-parameters = ui re-tagged [1] (the
 *  presentation layer re-tags; pass ui exactly as RTSE encodes RTORQ).
 *  The peer's answer arrives as X400I_AU_ASSOCIATE_CONF (accepted or not)
 *  with ui = the RTOAC (B1 ..) / RTORJ (B2 ..) the AARE/CPA/CPR carried.
 *  Responder: X400I_AU_ASSOCIATE_IND with ui = the RTORQ (B0 ..); answer with
 *  x400i_assoc_associate_rsp(a, accept, ui) inside the callback or later
 *  (accept: AARE+ in CPA / CPA x410; reject: AARE- (rejected-permanent,
 *  service-user no-reason-given) in CPR / CPR x410 with ui = RTORJ).
 *  Without an upper layer (up.indication NULL) the association answers
 *  itself: accept, no user information.
 *
 *  Data.  x400i_assoc_data_req(a, pdv, n): P-DATA (TD, fully-encoded data;
 *  each PDV on an accepted context, single-ASN1-type = a complete TLV, e.g.
 *  an RTTR OCTET STRING).  In X.410-1984 mode exactly one PDV whose octets go
 *  to S-DATA untouched (ctx ignored).  Incoming: X400I_AU_DATA_IND with the
 *  PDV list (X.410 mode: one PDV, ctx 0, octets as received).
 *
 *  Session services (tokens, minor sync, activities, exceptions) pass
 *  straight through presentation: call x400i_pres_*_req/_rsp on
 *  x400i_assoc_presentation(a) (user data as PDVs, like data_req); they are
 *  state-checked there.  Their indications and confirms arrive as
 *  X400I_AU_SESSION_IND with `ev` (the presentation event, e.g.
 *  X400_PEV_ACT_END_IND), `ses` (serial, tokens, activity ids, reason) and
 *  the user data as PDVs.  The upper layer must answer what needs an answer
 *  (minor sync with confirmation, activity end/interrupt/discard); without
 *  an upper layer the association answers them itself.
 *
 *  Closing.  x400i_assoc_release_req(a): RLRQ (reason normal) in P-RELEASE
 *  (S-RELEASE in X.410 mode); X400I_AU_RELEASE_IND at the peer, answered by
 *  x400i_assoc_release_rsp (RLRE, reason normal) -- automatically if no
 *  upper layer; X400I_AU_RELEASE_CONF at the requester.
 *  x400i_assoc_abort_req(a, ui): ABRT (source service-user, user-information
 *  EXTERNAL = ui, e.g. an RTAB) in ARU (X.410: ARU = ui re-tagged as
 *  RTABapdu).  Peer aborts arrive as X400I_AU_ABORT_IND (ui = the RTAB if
 *  any); provider aborts (ARP, state check failure, S-P-ABORT, transport
 *  lost, bad PDU) as X400I_AU_P_ABORT_IND with a diagnostic.  The summary
 *  events (ESTABLISHED, REFUSED, RELEASED, ABORTED) still reach
 *  x400_assoc_callbacks after the upper layer has seen its indication.
 *
 *  Views in an x400i_au_ind are valid during the callback only.  Callbacks
 *  may call any request on the same association; they must not free it.
 */
#ifndef X400P1_LIB_ASSOC_INT_H
#define X400P1_LIB_ASSOC_INT_H

#include "acse.h"
#include "presentation.h"
#include "session.h"
#include "transport.h"
#include "x400p1/assoc.h"

typedef enum x400i_au_type {
    X400I_AU_ASSOCIATE_IND = 1,  /* responder: AARQ / X.410 CP; answer with associate_rsp */
    X400I_AU_ASSOCIATE_CONF,     /* initiator: AARE / CPA / CPR (accepted says which) */
    X400I_AU_DATA_IND,           /* P-DATA indication */
    X400I_AU_RELEASE_IND,        /* RLRQ (S-RELEASE in X.410 mode); answer with release_rsp */
    X400I_AU_RELEASE_CONF,       /* RLRE */
    X400I_AU_ABORT_IND,          /* ABRT / ARU from the peer */
    X400I_AU_P_ABORT_IND,        /* provider abort (diag) */
    X400I_AU_SESSION_IND         /* a pass-through session service (ev says which) */
} x400i_au_type;

typedef struct x400i_au_ind {
    x400i_au_type type;
    x400_pevent ev;                 /* the presentation event underneath */
    const x400i_ses_ind *ses;       /* session primitive fields, or NULL */
    int accepted;                   /* ASSOCIATE_CONF */
    const x400i_pdv *pdv;           /* DATA_IND, SESSION_IND user data */
    size_t npdv;
    const uint8_t *ui;              /* the RTSE APDU carried by AARQ/AARE/ABRT/... */
    size_t ui_len;                  /* (EXTERNAL value) or CP/CPA/CPR/ARU (X.410) */
    const x400i_acse_apdu *acse;    /* normal mode: the decoded ACSE APDU, or NULL */
    const x400_diag *diag;          /* P_ABORT_IND, ABORT_IND, refused ASSOCIATE_CONF */
} x400i_au_ind;

typedef struct x400i_assoc_upper {
    void *user;
    /* Initiator: transport connected; call x400i_assoc_associate_req.
     * NULL: the association sends an AARQ without user information.
     * Return < 0 to abort. */
    int (*associate)(void *user, x400_assoc *a);
    /* Every indication/confirm above ACSE.  Return < 0 to abort. */
    int (*indication)(void *user, x400_assoc *a, const x400i_au_ind *ind);
} x400i_assoc_upper;

void x400i_assoc_set_upper(x400_assoc *a, const x400i_assoc_upper *up);

/* Requests of the upper layer (see above).  X400_OK or a negative error
 * with x400_assoc_diag(a) saying why (X400_ERR_STATE: the ACSE or
 * presentation state check refused it; nothing was sent). */
int x400i_assoc_associate_req(x400_assoc *a, const uint8_t *ui, size_t ui_len);
int x400i_assoc_associate_rsp(x400_assoc *a, int accept, const uint8_t *ui, size_t ui_len);
int x400i_assoc_data_req(x400_assoc *a, const x400i_pdv *pdv, size_t n);
int x400i_assoc_release_req(x400_assoc *a);
int x400i_assoc_release_rsp(x400_assoc *a);
int x400i_assoc_abort_req(x400_assoc *a, const uint8_t *ui, size_t ui_len);

/* Context id negotiated for an abstract syntax (e.g. id-as-mta-rtse), or -1. */
int x400i_assoc_context_id(const x400_assoc *a, const uint32_t *arcs, size_t n);

/* The layers, for pass-through services and tests. */
x400i_pres *x400i_assoc_presentation(x400_assoc *a);
x400i_ses *x400i_assoc_session(x400_assoc *a);
x400i_tp *x400i_assoc_transport(x400_assoc *a);
int x400i_assoc_acse_state(const x400_assoc *a);
/* The error an upper layer met on this recv call's input (kept only when
 * the association has ended; x400_assoc_recv returns it). */
void x400i_assoc_input_error(x400_assoc *a, int err);

/* Test hook: hand the association a session indication as if the session
 * machine had produced it (drives every presentation (state, event) pair
 * through the real association).  Returns what the association returned
 * to the session. */
int x400i_assoc_inject_ses_ind(x400_assoc *a, const x400i_ses_ind *ind);

#endif
