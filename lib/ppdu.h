/*
 * X.226 PPDU codec (normal mode): CP-type, CPA-PPDU, CPR-PPDU, ARU-PPDU,
 * ARP-PPDU and User-data (TD, and the user data of every other session
 * primitive).  Encoding is by hand with lib/ber.h (definite lengths);
 * decoding first normalises the BER to definite lengths (asn1c 0.9.28
 * refuses mixed definite/indefinite tag chains, doc/asn1.md), bounds the
 * PDU size and element counts, then uses the asn1c types (ber_decode;
 * RC_WMORE on a complete PDU is an error).  The X.410-1984 forms of CP,
 * CPA, CPR and ARU are no PPDUs of a presentation connection: the X.410
 * adapter (lib/rtse_ses.c) builds and parses them; this decoder refuses
 * them.  Internal (x400i_).
 */
#ifndef X400P1_PPDU_H
#define X400P1_PPDU_H

#include "ber.h"
#include "internal.h"
#include "spdu.h"          /* x400i_view */
#include "x400p1/assoc.h"

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
    x400i_view calling_sel, called_sel, responding_sel;
    int has_calling_sel, has_called_sel, has_responding_sel;
    x400i_pctx ctx[X400I_PCTX_MAX]; /* CP: definition list; CPA/CPR: result list */
    size_t nctx;
    int has_default_ctx;
    long user_session_req;          /* -1 absent, else bits (X.226 bit 0 = half-duplex) */
    long presentation_req;          /* -1 absent */
    long provider_reason;           /* CPR / result; -1 absent */
    long abort_reason, event_id;    /* ARP; -1 absent */
    int simply_encoded;             /* user data was simply-encoded-data */
    x400i_pdv pdv[X400I_PDV_MAX];
    size_t npdv;
    void *asn;                      /* asn1c value (freed by release) */
    const void *asn_def;
    x400i_buf scratch;              /* normalised input, arbitrary PDV values */
} x400i_ppdu;

/* Decode `type` from session user data.  X400_OK or X400_ERR_PARSE /
 * X400_ERR_LIMIT / X400_ERR_NOMEM with a diagnostic; always call
 * x400i_ppdu_release afterwards. */
int x400i_ppdu_decode(int type, const uint8_t *p, size_t len, x400i_ppdu *out,
                      const x400_allocator *a, size_t max, x400_diag *d);
void x400i_ppdu_release(x400i_ppdu *pp);

/* Encoders (definite lengths). */
typedef struct x400i_cp_params {
    const x400_selector *calling_sel, *called_sel, *responding_sel; /* NULL = absent */
    const x400i_pctx *ctx; size_t nctx;  /* CP: definition list; CPA/CPR: results */
    long provider_reason;           /* CPR: -1 absent */
    const x400i_pdv *pdv; size_t npdv;
} x400i_cp_params;
int x400i_ppdu_encode_cp(x400i_buf *b, const x400i_cp_params *p);
int x400i_ppdu_encode_cpa(x400i_buf *b, const x400i_cp_params *p);
int x400i_ppdu_encode_cpr(x400i_buf *b, const x400i_cp_params *p);
/* ARU-PPDU with the PDVs and their presentation-context-identifier-list. */
int x400i_ppdu_encode_aru(x400i_buf *b, const x400i_pdv *pdv, size_t n);
int x400i_ppdu_encode_arp(x400i_buf *b, long reason, long event_id);
/* User-data as fully-encoded data (nothing appended when n == 0). */
int x400i_ppdu_encode_user_data(x400i_buf *b, const x400i_pdv *pdv, size_t n);

#endif
