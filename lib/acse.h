/*
 * X.227 ACSE (kernel): APDU codec (AARQ, AARE, RLRQ, RLRE, ABRT) and the
 * small ACSE protocol machine (one static const table, X.227 annex A
 * reduced to what the normal-mode association needs).
 *
 * Encoding is by hand (lib/ber.h, definite lengths, shaped like a real
 * MTA's AARQ/AARE: doc/presentation.md); decoding normalises the BER to
 * definite lengths and uses the asn1c ACSE-apdu type.  Views in a decoded
 * x400i_acse_apdu live until x400i_acse_release.  Stateless functions;
 * a machine state is a plain int owned by the caller.  Internal (x400i_).
 */
#ifndef X400P1_ACSE_H
#define X400P1_ACSE_H

#include "presentation.h"

enum { X400I_ACSE_AARQ = 1, X400I_ACSE_AARE, X400I_ACSE_RLRQ, X400I_ACSE_RLRE, X400I_ACSE_ABRT };

#define X400I_ACSE_EXT_MAX 8
#define X400I_ACSE_MAX (64u * 1024u)   /* bound on one ACSE APDU */

/* One EXTERNAL of user-information (X.227 Association-information). */
typedef struct x400i_acse_ext {
    int has_direct;
    x400i_oidv direct;      /* direct-reference (transfer syntax, e.g. BER) */
    long indirect;          /* indirect-reference (presentation context), -1 absent */
    int encoding;           /* X400I_PDV_SINGLE (v = complete TLV), _OCTETS (contents),
                               _ARBITRARY (BIT STRING contents, unused-bits octet first) */
    const uint8_t *v;
    size_t len;
} x400i_acse_ext;

typedef struct x400i_acse_apdu {
    int type;                           /* X400I_ACSE_* */
    x400i_oidv app_ctx;                 /* AARQ/AARE application-context-name */
    /* AP title / AE qualifier: the TLV inside the explicit tag (len 0 = absent) */
    x400i_view called_ap_title, called_ae_qual, calling_ap_title, calling_ae_qual;
    x400i_view responding_ap_title, responding_ae_qual;
    long result;                        /* AARE: 0 accepted, 1 permanent, 2 transient */
    int diag_source;                    /* AARE: 1 acse-service-user, 2 acse-service-provider */
    long diag;                          /* AARE: the diagnostic value */
    long reason;                        /* RLRQ/RLRE: -1 absent */
    long abort_source;                  /* ABRT: 0 user, 1 provider */
    long abort_diag;                    /* ABRT: -1 absent */
    x400i_acse_ext ui[X400I_ACSE_EXT_MAX];
    size_t nui;
    void *asn;
    x400i_buf scratch;
} x400i_acse_apdu;

/* Prepare `a` for encoding (all optional fields absent). */
void x400i_acse_init(x400i_acse_apdu *a, int type);
/* Encode any APDU. X400_OK or X400_ERR_INVALID_ARG / NOMEM / LIMIT. */
int x400i_acse_encode(x400i_buf *b, const x400i_acse_apdu *a);
/* Decode one APDU (a PDV value).  X400_ERR_PARSE / LIMIT with a diagnostic;
 * call x400i_acse_release in every case. */
int x400i_acse_decode(const uint8_t *p, size_t len, x400i_acse_apdu *a, const x400_allocator *al,
                      x400_diag *d);
void x400i_acse_release(x400i_acse_apdu *a);
const char *x400i_acse_apdu_name(int type);

/* ---- the ACSE protocol machine ---- */
typedef enum x400i_acse_st {
    X400I_ACSE_ST_IDLE = 0,        /* no association */
    X400I_ACSE_ST_AWAIT_AARE,      /* AARQ sent */
    X400I_ACSE_ST_AWAIT_ASSOC_RSP, /* AARQ received, A-ASSOCIATE indication given */
    X400I_ACSE_ST_ASSOCIATED,
    X400I_ACSE_ST_AWAIT_RLRE,      /* RLRQ sent */
    X400I_ACSE_ST_AWAIT_RELEASE_RSP,/* RLRQ received */
    X400I_ACSE_ST_COUNT
} x400i_acse_st;

typedef enum x400i_acse_ev {
    X400I_ACSE_EV_ASSOC_REQ = 0,   /* A-ASSOCIATE request: AARQ */
    X400I_ACSE_EV_AARQ,            /* AARQ received */
    X400I_ACSE_EV_ASSOC_RSP_POS,   /* A-ASSOCIATE response accepted: AARE+ */
    X400I_ACSE_EV_ASSOC_RSP_NEG,   /* A-ASSOCIATE response rejected: AARE- */
    X400I_ACSE_EV_AARE_POS,        /* AARE+ received */
    X400I_ACSE_EV_AARE_NEG,        /* AARE- received */
    X400I_ACSE_EV_RELEASE_REQ,     /* A-RELEASE request: RLRQ */
    X400I_ACSE_EV_RLRQ,            /* RLRQ received */
    X400I_ACSE_EV_RELEASE_RSP,     /* A-RELEASE response: RLRE */
    X400I_ACSE_EV_RLRE,            /* RLRE received */
    X400I_ACSE_EV_ABORT_REQ,       /* A-ABORT request: ABRT */
    X400I_ACSE_EV_ABRT,            /* ABRT received / A-P-ABORT */
    X400I_ACSE_EV_COUNT
} x400i_acse_ev;

/* Table lookup: X400_OK with *next, or X400_ERR_STATE with *d naming the
 * state and the event. */
int x400i_acse_check(int state, int ev, int *next, x400_diag *d);
const char *x400i_acse_state_name(int state);
const char *x400i_acse_event_name(int ev);

/* ---- the ACSE protocol actions over presentation (X.227 clause 7) ----
 * Which APDU rides on which presentation primitive, built from the
 * association's configuration, state-checked by the table above.  The
 * normal-mode RTSE lower adapter (lib/rtse_pres.c) owns one x400i_acpm next
 * to its presentation machine: RTSE's A-ASSOCIATE, A-RELEASE and A-ABORT
 * requests come here, and so do the P-CONNECT / P-RELEASE / P-U-ABORT
 * indications and confirms; the summary state and the events stay with
 * the association.  Failures set
 * *diag (the association's diagnostic). */
typedef struct x400i_acpm {
    x400i_pres *pres;                   /* not owned */
    const x400_assoc_config *cfg;       /* AP titles, AE qualifiers, user_info_context */
    const x400i_pctx *ctx; size_t nctx; /* the configured presentation contexts */
    x400i_oidv app_ctx;                 /* application-context-name */
    int state;                          /* x400i_acse_st */
    x400i_buf out;                      /* the APDU being encoded */
    x400_diag *diag;
    const x400_allocator *alloc;
} x400i_acpm;

/* X400_OK, X400_ERR_INVALID_ARG (application context not encodable). */
int x400i_acpm_init(x400i_acpm *m, x400i_pres *pres, const x400_assoc_config *cfg,
                    const x400i_pctx *ctx, size_t nctx, x400_diag *diag, const x400_allocator *alloc);
void x400i_acpm_free(x400i_acpm *m);

/* A-ASSOCIATE request: AARQ {application-context-name, AP titles / AE
 * qualifiers, user-information = EXTERNAL {BER, user_info_context, ui}} in
 * P-CONNECT request (X.227 7.1.4.1). */
int x400i_acpm_associate_req(x400i_acpm *m, const uint8_t *ui, size_t ui_len);
/* A-ASSOCIATE response: AARE+ (accepted) in CPA, or AARE- (rejected-
 * permanent, service-user no-reason-given) in CPR (X.227 7.1.4.2). */
int x400i_acpm_associate_rsp(x400i_acpm *m, int accept, const uint8_t *ui, size_t ui_len);
/* A-RELEASE request / response: RLRQ / RLRE (reason normal) in P-RELEASE
 * (X.227 7.2). */
int x400i_acpm_release_req(x400i_acpm *m);
int x400i_acpm_release_rsp(x400i_acpm *m);
/* A-ABORT request: ABRT (source service-user, user-information ui) in
 * P-U-ABORT (X.227 7.3); a bare ARU when no ABRT can be built. */
int x400i_acpm_abort_req(x400i_acpm *m, const uint8_t *ui, size_t ui_len);
/* An ACSE protocol error after the presentation connection exists: ABRT
 * (source service-provider) in ARU; *diag is kept (X.227 7.3.3.2). */
void x400i_acpm_provider_abort(x400i_acpm *m);

/* P-CONNECT indication: the AARQ, decoded into *ap (release it in every
 * case).  X400_OK: A-ASSOCIATE indication, answer with associate_rsp.
 * X400_ERR_REFUSED: application context not supported, AARE- sent in CPR.
 * Other negative: unreadable, CPR (user-data-not-readable) sent. */
int x400i_acpm_aarq_in(x400i_acpm *m, const x400i_pres_ind *pi, x400i_acse_apdu *ap);
/* P-CONNECT confirm: the AARE of the CPA / CPR into *ap.  1: decoded (an
 * AARE- inside a CPA drops the presentation connection with ARU and sets
 * *accepted to 0); 0: a CPR without AARE; negative: bad or unexpected
 * AARE (*diag set; the caller aborts with provider_abort when the CPA had
 * accepted).  A refusal sets *diag. */
int x400i_acpm_aare_in(x400i_acpm *m, const x400i_pres_ind *pi, x400i_acse_apdu *ap,
                       int *accepted);
/* P-RELEASE indication (RLRQ) / confirm (RLRE) into *ap.  X400_OK or a
 * negative error (*diag set). */
int x400i_acpm_release_in(x400i_acpm *m, const x400i_pres_ind *pi, x400i_acse_apdu *ap, int conf);
/* P-U-ABORT indication: the ABRT, if readable, into *ap (1) and *diag says
 * A-ABORT from the peer; else 0 and *diag says P-U-ABORT.  State idle. */
int x400i_acpm_abrt_in(x400i_acpm *m, const x400i_pres_ind *pi, x400i_acse_apdu *ap);
/* The upper layer's APDU: the first single-ASN1-type EXTERNAL of the
 * user-information (NULL, 0 when none). */
void x400i_acse_user_apdu(const x400i_acse_apdu *ap, const uint8_t **ui, size_t *ui_len);

#endif
