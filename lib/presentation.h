/*
 * X.226 presentation protocol machine (kernel functional unit), sans-I/O,
 * above lib/session.h; its PPDUs are built and parsed by lib/ppdu.h.
 * Every event goes through the public state checker (x400_pstate_check,
 * include/x400p1/pstate.h).  A refused incoming event makes the machine
 * send ARP-PPDU (S-U-ABORT request with abort reason and event
 * identifier), give a P-P-ABORT indication with the state-check
 * diagnostic, and return X400_ERR_PROTOCOL.  A refused local request
 * returns X400_ERR_STATE with the diagnostic, nothing sent, state
 * unchanged.  An association creates one only for a normal (1988)
 * connection (lib/rtse_pres.c); X.410-1984 runs RTSE over session.
 *
 * Views in a x400i_pres_ind are valid during the indication callback only.
 * Callbacks may issue requests on the same machine (re-entrant) but must
 * not free it.  One machine per thread at a time.  Internal (x400i_).
 */
#ifndef X400P1_PRESENTATION_H
#define X400P1_PRESENTATION_H

#include "ppdu.h"
#include "session.h"
#include "x400p1/pstate.h"

/* ---- the protocol machine ---- */

typedef struct x400i_pres x400i_pres;

typedef struct x400i_pres_config {
    const x400_selector *calling_sel, *called_sel, *responding_sel;
    /* proposed (initiator) / supported (responder); kept by reference, not
     * copied: the array outlives the machine (it is the association's) */
    const x400i_pctx *ctx; size_t nctx;
    size_t max_pdu;                 /* bound on one TD (default 16 MiB) */
} x400i_pres_config;

typedef struct x400i_pres_ind {
    x400_pevent ev;                 /* which indication / confirm */
    const x400i_ses_ind *ses;       /* the session primitive under it (NULL if none) */
    const x400i_ppdu *pp;           /* CP/CPA/CPR/ARU/ARP decoded, else NULL */
    const x400i_pdv *pdv; size_t npdv;    /* the user data */
    int accepted;                   /* CONNECT_CONF */
    const x400_diag *diag;          /* P_ABORT_IND, CONNECT_CONF refused */
} x400i_pres_ind;

typedef struct x400i_pres_callbacks {
    void *user;
    int (*indication)(void *user, const x400i_pres_ind *ind);  /* < 0: abort */
} x400i_pres_callbacks;

/* The machine drives `ses` (not owned).  cfg's pointed-to data is copied. */
int x400i_pres_new(x400i_pres **out, int initiator, const x400i_pres_config *cfg,
                   x400i_ses *ses, const x400i_pres_callbacks *cb, const x400_allocator *a,
                   const x400_logger *log);
void x400i_pres_free(x400i_pres *p);

/* Every session indication goes here.  X400_OK, X400_ERR_PROTOCOL after a
 * state check failure or bad PPDU (ARP sent, P-P-ABORT indicated), or the
 * user's negative return. */
int x400i_pres_ses_ind(x400i_pres *p, const x400i_ses_ind *ind);

x400_pstate x400i_pres_state(const x400i_pres *p);
const x400_diag *x400i_pres_diag(const x400i_pres *p);
/* Accepted context (after connection) by id, or NULL. */
const x400i_pctx *x400i_pres_context(const x400i_pres *p, int id);
/* Context id of the first accepted context with abstract syntax `as`, or -1. */
int x400i_pres_context_id(const x400i_pres *p, const x400i_oidv *as);

/* Requests and responses (X.226 clause 7).  X400_OK; X400_ERR_STATE (state
 * check failure, diag set); session errors passed through.  `pdv` is the
 * user data. */
int x400i_pres_connect_req(x400i_pres *p, const x400i_pdv *pdv, size_t n);
int x400i_pres_connect_rsp(x400i_pres *p, int accept, long provider_reason,
                           const x400i_pdv *pdv, size_t n);
int x400i_pres_data_req(x400i_pres *p, const x400i_pdv *pdv, size_t n);
int x400i_pres_release_req(x400i_pres *p, const x400i_pdv *pdv, size_t n);
int x400i_pres_release_rsp(x400i_pres *p, const x400i_pdv *pdv, size_t n);
int x400i_pres_u_abort_req(x400i_pres *p, const x400i_pdv *pdv, size_t n);
int x400i_pres_token_give_req(x400i_pres *p, unsigned tokens);
int x400i_pres_token_please_req(x400i_pres *p, unsigned tokens, const x400i_pdv *pdv, size_t n);
int x400i_pres_control_give_req(x400i_pres *p);
int x400i_pres_minor_sync_req(x400i_pres *p, int confirm, const x400i_pdv *pdv, size_t n,
                              uint32_t *serial);
int x400i_pres_minor_sync_rsp(x400i_pres *p, uint32_t serial, const x400i_pdv *pdv, size_t n);
int x400i_pres_activity_start_req(x400i_pres *p, const uint8_t *id, size_t id_len,
                                  const x400i_pdv *pdv, size_t n);
int x400i_pres_activity_resume_req(x400i_pres *p, const uint8_t *id, size_t id_len,
                                   const uint8_t *old_id, size_t old_len, uint32_t serial,
                                   const x400i_ses_old_conn *old_conn,
                                   const x400i_pdv *pdv, size_t n);
int x400i_pres_activity_interrupt_req(x400i_pres *p, int reason);
int x400i_pres_activity_interrupt_rsp(x400i_pres *p);
int x400i_pres_activity_discard_req(x400i_pres *p, int reason);
int x400i_pres_activity_discard_rsp(x400i_pres *p);
int x400i_pres_activity_end_req(x400i_pres *p, const x400i_pdv *pdv, size_t n, uint32_t *serial);
int x400i_pres_activity_end_rsp(x400i_pres *p, const x400i_pdv *pdv, size_t n);
int x400i_pres_u_exception_req(x400i_pres *p, int reason, const x400i_pdv *pdv, size_t n);

#endif
