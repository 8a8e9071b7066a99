/*
 * X.226 presentation layer (kernel, normal mode and X.410-1984 mode),
 * sans-I/O, above lib/session.h.  Two parts:
 *
 *  - the PPDU codec: CP-type, CPA-PPDU, CPR-PPDU, ARU-PPDU, ARP-PPDU and
 *    User-data (TD, and the user data of every other session primitive).
 *    Encoding is by hand with lib/ber.h (definite lengths); decoding first
 *    normalises the BER to definite lengths (asn1c 0.9.28 refuses mixed
 *    definite/indefinite tag chains, doc/asn1.md), bounds the PDU size and
 *    element counts, then uses the asn1c types (ber_decode; RC_WMORE on a
 *    complete PDU is an error).
 *
 *  - the presentation protocol machine: every event goes through the public
 *    state checker (x400_pstate_check, include/x400p1/pstate.h).  A refused
 *    incoming event makes the machine send ARP-PPDU (S-U-ABORT request with
 *    abort reason and event identifier), give a P-P-ABORT indication with
 *    the state-check diagnostic, and return X400_ERR_PROTOCOL.  A refused
 *    local request returns X400_ERR_STATE with the diagnostic, nothing sent,
 *    state unchanged.
 *
 * Views in a x400i_pres_ind are valid during the indication callback only.
 * Callbacks may issue requests on the same machine (re-entrant) but must
 * not free it.  One machine per thread at a time.  Internal (x400i_).
 */
#ifndef X400P1_PRESENTATION_H
#define X400P1_PRESENTATION_H

#include "ber.h"
#include "internal.h"
#include "session.h"
#include "x400p1/assoc.h"
#include "x400p1/pstate.h"

#define X400I_PCTX_MAX 16       /* contexts in a CP / result list */
#define X400I_PDV_MAX 64        /* PDVs in one User-data */
#define X400I_OID_MAX 32        /* contents octets of an OID */
#define X400I_PPDU_CONNECT_MAX (64u * 1024u) /* CP/CPA/CPR/ARU/ARP size bound */

/* An OBJECT IDENTIFIER as its BER contents octets. */
typedef struct x400i_oidv {
    size_t len;
    uint8_t v[X400I_OID_MAX];
} x400i_oidv;

int x400i_oidv_from_arcs(x400i_oidv *o, const uint32_t *arcs, size_t n);
int x400i_oidv_eq(const x400i_oidv *a, const x400i_oidv *b);
extern const x400i_oidv x400i_oid_ber;   /* 2.1.1 basic-encoding */
extern const x400i_oidv x400i_oid_acse;  /* 2.2.1.0.1 id-as-acse */

/* One presentation context. */
typedef struct x400i_pctx {
    int id;                 /* 1..127, odd for the initiator's */
    x400i_oidv as;          /* abstract syntax */
    int has_ts;             /* transfer syntax list contains BER */
    int result;             /* 0 acceptance, 1 user-rejection, 2 provider-rejection */
    int provider_reason;    /* -1 absent; 1 abstract syntax, 2 transfer syntax not supported */
} x400i_pctx;

enum { X400I_PDV_SINGLE = 0, X400I_PDV_OCTETS = 1, X400I_PDV_ARBITRARY = 2 };

/* One presentation data value. */
typedef struct x400i_pdv {
    int ctx;                /* presentation context identifier */
    int encoding;           /* X400I_PDV_*: single = v is a complete TLV; octets = the
                               OCTET STRING contents; arbitrary = the BIT STRING
                               contents, unused-bits octet first */
    const uint8_t *v;
    size_t len;
} x400i_pdv;

enum {
    X400I_PPDU_CP = 1, X400I_PPDU_CPA, X400I_PPDU_CPR, X400I_PPDU_ARU, X400I_PPDU_ARP,
    X400I_PPDU_TD
};

/* A decoded PPDU (views into `scratch` / the asn1c value; release with
 * x400i_ppdu_release). */
typedef struct x400i_ppdu {
    int type;                       /* X400I_PPDU_* */
    int mode;                       /* 1 normal, 0 X.410-1984 (CP/CPA/CPR/ARU) */
    x400i_view calling_sel, called_sel, responding_sel;
    int has_calling_sel, has_called_sel, has_responding_sel;
    x400i_pctx ctx[X400I_PCTX_MAX]; /* CP: definition list; CPA/CPR: result list */
    size_t nctx;
    int has_default_ctx;
    long user_session_req;          /* -1 absent, else bits (X.226 bit 0 = half-duplex) */
    long presentation_req;          /* -1 absent */
    long provider_reason;           /* CPR / result; -1 absent */
    long abort_reason, event_id;    /* ARP; -1 absent */
    x400i_view x410;                /* X.410 mode parameters, as an RTSE-apdus TLV */
    int simply_encoded;             /* user data was simply-encoded-data */
    x400i_pdv pdv[X400I_PDV_MAX];
    size_t npdv;
    void *asn;                      /* asn1c value (freed by release) */
    const void *asn_def;
    x400i_buf scratch;              /* normalised input / re-tagged parameters */
} x400i_ppdu;

/* Decode `type` from session user data.  X400_OK or X400_ERR_PARSE /
 * X400_ERR_LIMIT / X400_ERR_NOMEM with a diagnostic; always call
 * x400i_ppdu_release afterwards. */
int x400i_ppdu_decode(int type, const uint8_t *p, size_t len, x400i_ppdu *out,
                      const x400_allocator *a, size_t max, x400_diag *d);
void x400i_ppdu_release(x400i_ppdu *pp);

/* Encoders (definite lengths). */
typedef struct x400i_cp_params {
    int mode;                       /* 1 normal, 0 X.410-1984 */
    const x400_selector *calling_sel, *called_sel, *responding_sel; /* NULL = absent */
    const x400i_pctx *ctx; size_t nctx;  /* CP: definition list; CPA/CPR: results */
    long provider_reason;           /* CPR: -1 absent */
    const uint8_t *x410; size_t x410_len;  /* RTSE-apdus TLV (RTORQ/RTOAC/RTORJ) */
    const x400i_pdv *pdv; size_t npdv;
} x400i_cp_params;
int x400i_ppdu_encode_cp(x400i_buf *b, const x400i_cp_params *p);
int x400i_ppdu_encode_cpa(x400i_buf *b, const x400i_cp_params *p);
int x400i_ppdu_encode_cpr(x400i_buf *b, const x400i_cp_params *p);
/* ARU: normal mode with user data, or X.410 mode with an RTAB TLV. */
int x400i_ppdu_encode_aru(x400i_buf *b, int mode, const x400i_pdv *pdv, size_t n,
                          const uint8_t *x410, size_t x410_len);
int x400i_ppdu_encode_arp(x400i_buf *b, long reason, long event_id);
/* User-data as fully-encoded data (nothing appended when n == 0). */
int x400i_ppdu_encode_user_data(x400i_buf *b, const x400i_pdv *pdv, size_t n);

/* ---- the protocol machine ---- */

typedef struct x400i_pres x400i_pres;

typedef struct x400i_pres_config {
    int mode;                       /* 1 normal (default), 0 X.410-1984 */
    const x400_selector *calling_sel, *called_sel, *responding_sel;
    const x400i_pctx *ctx; size_t nctx;   /* proposed (initiator) / supported (responder) */
    size_t max_pdu;                 /* bound on one TD (default 16 MiB) */
} x400i_pres_config;

typedef struct x400i_pres_ind {
    x400_pevent ev;                 /* which indication / confirm */
    const x400i_ses_ind *ses;       /* the session primitive under it (NULL if none) */
    const x400i_ppdu *pp;           /* CP/CPA/CPR/ARU/ARP decoded, else NULL */
    const x400i_pdv *pdv; size_t npdv;    /* normal mode user data */
    const uint8_t *raw; size_t raw_len;   /* X.410 mode: session user data, or the
                                             CP/CPA/CPR/ARU parameters as RTSE-apdus TLV */
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
int x400i_pres_mode(const x400i_pres *p);
/* Accepted context (after connection) by id, or NULL. */
const x400i_pctx *x400i_pres_context(const x400i_pres *p, int id);
/* Context id of the first accepted context with abstract syntax `as`, or -1. */
int x400i_pres_context_id(const x400i_pres *p, const x400i_oidv *as);

/* Requests and responses (X.226 clause 7).  X400_OK; X400_ERR_STATE (state
 * check failure, diag set); session errors passed through.  `x410` (X.410
 * mode) is the RTSE-apdus TLV the PPDU carries; `pdv` the user data. */
int x400i_pres_connect_req(x400i_pres *p, const x400i_pdv *pdv, size_t n,
                           const uint8_t *x410, size_t x410_len);
int x400i_pres_connect_rsp(x400i_pres *p, int accept, long provider_reason,
                           const x400i_pdv *pdv, size_t n, const uint8_t *x410, size_t x410_len);
int x400i_pres_data_req(x400i_pres *p, const x400i_pdv *pdv, size_t n);
int x400i_pres_release_req(x400i_pres *p, const x400i_pdv *pdv, size_t n);
int x400i_pres_release_rsp(x400i_pres *p, const x400i_pdv *pdv, size_t n);
int x400i_pres_u_abort_req(x400i_pres *p, const x400i_pdv *pdv, size_t n,
                           const uint8_t *x410, size_t x410_len);
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
