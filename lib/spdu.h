/*
 * X.225 session SPDU codec (clause 8), sans-I/O, zero-copy on decode.
 *
 * Decoding yields views into the caller's TSDU (valid as long as that
 * memory is); encoding appends to a bounded x400i_buf.  Decoding is strict:
 * every violation gives X400_ERR_PARSE (or X400_ERR_UNSUPPORTED for valid
 * but unimplemented features) with a diagnostic naming the SPDU, the
 * parameter and the fault.  Only basic concatenation (X.225 6.3.7) is
 * implemented: one category 0 SPDU (GT/PT), optionally followed by one
 * category 2 SPDU, or one category 1 SPDU alone in a TSDU.
 * Internal to the library (prefix x400i_).
 */
#ifndef X400P1_SPDU_H
#define X400P1_SPDU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* SPDU kinds.  Several share one SI code (X.225 8.3 / Table 7); which one a
 * TSDU holds follows from its position (category) or, for MAP/AE and
 * MAA/AEA, from the session's functional units and state. */
typedef enum x400i_spdu_type {
    X400I_SPDU_CN = 0, /* CONNECT, SI 13 */
    X400I_SPDU_AC,     /* ACCEPT, SI 14 */
    X400I_SPDU_RF,     /* REFUSE, SI 12 */
    X400I_SPDU_FN,     /* FINISH, SI 9 */
    X400I_SPDU_DN,     /* DISCONNECT, SI 10 */
    X400I_SPDU_NF,     /* NOT FINISHED, SI 8 */
    X400I_SPDU_AB,     /* ABORT, SI 25 (category 1) */
    X400I_SPDU_AA,     /* ABORT ACCEPT, SI 26 (category 1) */
    X400I_SPDU_GTC,    /* GIVE TOKENS CONFIRM, SI 21 */
    X400I_SPDU_GTA,    /* GIVE TOKENS ACK, SI 22 */
    X400I_SPDU_GT,     /* GIVE TOKENS, SI 1 (category 0) */
    X400I_SPDU_PT,     /* PLEASE TOKENS, SI 2 (category 0) */
    X400I_SPDU_DT,     /* DATA TRANSFER, SI 1 (category 2) */
    X400I_SPDU_MIP,    /* MINOR SYNC POINT, SI 49 */
    X400I_SPDU_MIA,    /* MINOR SYNC ACK, SI 50 */
    X400I_SPDU_MAP,    /* MAJOR SYNC POINT, SI 41 */
    X400I_SPDU_MAA,    /* MAJOR SYNC ACK, SI 42 (also what AEA decodes to) */
    X400I_SPDU_AS,     /* ACTIVITY START, SI 45 */
    X400I_SPDU_AR,     /* ACTIVITY RESUME, SI 29 */
    X400I_SPDU_AI,     /* ACTIVITY INTERRUPT, SI 25 (category 2) */
    X400I_SPDU_AIA,    /* ACTIVITY INTERRUPT ACK, SI 26 (category 2) */
    X400I_SPDU_AD,     /* ACTIVITY DISCARD, SI 57 */
    X400I_SPDU_ADA,    /* ACTIVITY DISCARD ACK, SI 58 */
    X400I_SPDU_AE,     /* ACTIVITY END, SI 41 without "not end of activity" */
    X400I_SPDU_AEA,    /* ACTIVITY END ACK, SI 42: encodes exactly as MAA */
    X400I_SPDU_ER,     /* EXCEPTION REPORT, SI 0 */
    X400I_SPDU_ED,     /* EXCEPTION DATA, SI 48 */
    X400I_SPDU_TYPE_COUNT
} x400i_spdu_type;

/* Parameter presence bits (x400i_spdu.present). */
enum {
    X400I_SP_CONN_ID = 1u << 0,      /* PGI 1 Connection Identifier (CN, AC) */
    X400I_SP_CA_ITEM = 1u << 1,      /* PGI 5 Connect/Accept Item (CN, AC) */
    X400I_SP_LINK = 1u << 2,         /* PGI 33 Linking Information (AR) */
    X400I_SP_CALLED_REF = 1u << 3,   /* PI 9 (in PGI 1 or 33) */
    X400I_SP_CALLING_REF = 1u << 4,  /* PI 10 (in PGI 1 or 33) */
    X400I_SP_COMMON_REF = 1u << 5,   /* PI 11 (in PGI 1 or 33) */
    X400I_SP_ADD_REF = 1u << 6,      /* PI 12 (in PGI 1 or 33) */
    X400I_SP_SYNC_TYPE = 1u << 7,    /* PI 15 Sync Type Item */
    X400I_SP_TOKEN_ITEM = 1u << 8,   /* PI 16 Token Item */
    X400I_SP_TDISC = 1u << 9,        /* PI 17 Transport Disconnect */
    X400I_SP_PROTO_OPT = 1u << 10,   /* PI 19 Protocol Options (PGI 5) */
    X400I_SP_REQUIREMENTS = 1u << 11,/* PI 20 Session User Requirements */
    X400I_SP_TSDU_MAX = 1u << 12,    /* PI 21 TSDU Maximum Size (PGI 5) */
    X400I_SP_VERSION = 1u << 13,     /* PI 22 Version Number (PGI 5; RF top level) */
    X400I_SP_ISN = 1u << 14,         /* PI 23 Initial Serial Number (PGI 5) */
    X400I_SP_ENCLOSURE = 1u << 15,   /* PI 25 Enclosure Item */
    X400I_SP_TOKEN_SET = 1u << 16,   /* PI 26 Token Setting Item (PGI 5) */
    X400I_SP_ACT_ID = 1u << 17,      /* PI 41 Activity Identifier (new id in AR) */
    X400I_SP_SERIAL = 1u << 18,      /* PI 42 Serial Number */
    X400I_SP_REFLECT = 1u << 19,     /* PI 49 Reflect Parameter Values (AB, ER) */
    X400I_SP_REASON = 1u << 20,      /* PI 50 Reason Code */
    X400I_SP_CALLING_SSEL = 1u << 21,/* PI 51 Calling Session Selector */
    X400I_SP_CALLED_SSEL = 1u << 22, /* PI 52 Called / Responding Session Selector */
    X400I_SP_ISN2 = 1u << 23,        /* PI 55 Second Initial Serial Number (PGI 5) */
    X400I_SP_UPPER_LIMIT = 1u << 24, /* PI 56 Upper Limit Serial Number (PGI 5) */
    X400I_SP_LARGE_ISN = 1u << 25,   /* PI 57 Large Initial Serial Number (PGI 5) */
    X400I_SP_LARGE_ISN2 = 1u << 26,  /* PI 58 Large Second Initial Serial Number (PGI 5) */
    X400I_SP_OVERFLOW = 1u << 27,    /* PI 60 Data Overflow (CN) */
    X400I_SP_USER_DATA = 1u << 28,   /* PGI 193/194, RF reason octets, DT user information */
    X400I_SP_OLD_ACT_ID = 1u << 29,  /* PI 41 inside PGI 33 */
    X400I_SP_LINK_SERIAL = 1u << 30  /* PI 42 inside PGI 33 */
};

/* Token bits (Token Item PI 16, X.225 8.3.3.x). */
#define X400I_TOKEN_DATA 0x01u
#define X400I_TOKEN_MINOR 0x04u
#define X400I_TOKEN_MAJOR 0x10u   /* major/activity token */
#define X400I_TOKEN_RELEASE 0x40u
#define X400I_TOKEN_ALL 0x55u

/* Session User Requirements bits (PI 20). */
#define X400I_FU_HALF_DUPLEX 0x0001u
#define X400I_FU_DUPLEX 0x0002u
#define X400I_FU_EXPEDITED 0x0004u
#define X400I_FU_MINOR_SYNC 0x0008u
#define X400I_FU_MAJOR_SYNC 0x0010u
#define X400I_FU_RESYNC 0x0020u
#define X400I_FU_ACTIVITY 0x0040u
#define X400I_FU_NEG_RELEASE 0x0080u
#define X400I_FU_CAPABILITY 0x0100u
#define X400I_FU_EXCEPTIONS 0x0200u
#define X400I_FU_TYPED_DATA 0x0400u

/* Transport Disconnect (PI 17) bits. */
#define X400I_TDISC_RELEASED 0x01u
#define X400I_TDISC_USER_ABORT 0x02u
#define X400I_TDISC_PROTOCOL_ERROR 0x04u
#define X400I_TDISC_NO_REASON 0x08u
#define X400I_TDISC_IMPL_RESTRICTION 0x10u

/* Sync Type Item (PI 15): in MIP "explicit confirmation not required", in
 * MAP "not the end of an activity". */
#define X400I_SYNC_NOEXPL 0x01u

/* Largest serial number (6 decimal digits, X.225 8.3.1.10). */
#define X400I_SERIAL_MAX 999999u
#define X400I_ACT_ID_MAX 6u       /* Activity Identifier octets */
#define X400I_SSEL_MAX 16u        /* session selector octets */
#define X400I_REF_MAX 64u         /* SS-user / common reference octets */
#define X400I_ADD_REF_MAX 4u      /* additional reference information */

typedef struct x400i_view {
    const uint8_t *p;
    size_t len;
} x400i_view;

/* One SPDU, decoded or to be encoded.  Members are meaningful only when
 * their X400I_SP_* bit is set in `present`. */
typedef struct x400i_spdu {
    x400i_spdu_type type;
    uint32_t present;
    x400i_view called_ref, calling_ref, common_ref, add_ref; /* PGI 1 / PGI 33 */
    uint8_t protocol_options;        /* PI 19 */
    uint16_t tsdu_max_i2r, tsdu_max_r2i; /* PI 21 */
    uint8_t version;                 /* PI 22: bit 0 = v1, bit 1 = v2 */
    uint32_t isn;                    /* PI 23 */
    uint8_t token_setting;           /* PI 26 */
    uint32_t isn2;                   /* PI 55 */
    uint8_t upper_limit;             /* PI 56 */
    x400i_view large_isn, large_isn2;/* PI 57/58: ASCII digits */
    uint16_t requirements;           /* PI 20 */
    x400i_view calling_ssel, called_ssel; /* PI 51/52 (52 may be empty) */
    uint8_t sync_type;               /* PI 15 */
    uint8_t token_item;              /* PI 16 */
    uint8_t tdisc;                   /* PI 17 */
    uint8_t enclosure;               /* PI 25 (only 3 = whole SSDU is accepted) */
    x400i_view activity_id;          /* PI 41 (new activity id in AR) */
    uint32_t serial;                 /* PI 42 */
    x400i_view old_activity_id;      /* PGI 33 / PI 41 */
    uint32_t link_serial;            /* PGI 33 / PI 42 */
    x400i_view reflect;              /* PI 49 */
    uint8_t reason;                  /* PI 50 first octet */
    uint8_t data_overflow;           /* PI 60 */
    x400i_view user_data;            /* see X400I_SP_USER_DATA */
} x400i_spdu;

/* Decoding flags. */
#define X400I_SPDU_DEC_ACTIVITY 0x1u /* activity management selected: SI 41
                                        without Sync Type "not end" is AE */

/* Iterator over the SPDUs concatenated in one TSDU. */
typedef struct x400i_spdu_iter {
    const uint8_t *p;
    size_t len, off;
    unsigned flags;
    int count;          /* SPDUs returned so far */
    int first_cat;      /* category of the first SPDU */
    int first_type;     /* x400i_spdu_type of the first SPDU */
} x400i_spdu_iter;

void x400i_spdu_iter_init(x400i_spdu_iter *it, const uint8_t *tsdu, size_t len, unsigned flags);
/* Next SPDU: 1 with *out filled, 0 at the end of the TSDU, or a negative
 * error with *diag filled (layer session, source peer).  After an error the
 * iterator must not be used again. */
int x400i_spdu_next(x400i_spdu_iter *it, x400i_spdu *out, x400_diag *diag);

/* Decode a whole TSDU into at most two SPDUs (basic concatenation): returns
 * the count (1 or 2) or a negative error.  `out[0]` is the first SPDU. */
int x400i_spdu_decode_tsdu(const uint8_t *tsdu, size_t len, unsigned flags,
                           x400i_spdu out[2], x400_diag *diag);

/* Append one SPDU.  Fails with X400_ERR_INVALID_ARG (parameter not allowed
 * in this SPDU, bad value) or X400_ERR_TOO_LONG (value beyond the
 * standard's bound) with *diag (source local) filled. */
int x400i_spdu_encode(x400i_buf *out, const x400i_spdu *s, x400_diag *diag);
/* Append a whole TSDU for `s`: a category 2 SPDU is preceded by the
 * category 0 SPDU X.225 6.3.7 pairs it with, without parameters: GIVE
 * TOKENS before DT, MIP, MAP, AE, AS, AR, AI, AD; PLEASE TOKENS before MIA,
 * MAA, AEA, AIA, ADA, ER, ED.  The decoder refuses any other pairing. */
int x400i_spdu_encode_tsdu(x400i_buf *out, const x400i_spdu *s, x400_diag *diag);

const char *x400i_spdu_name(x400i_spdu_type t);     /* "CN", "AC", ... */
uint8_t x400i_spdu_si(x400i_spdu_type t);           /* its SI code */
int x400i_spdu_category(x400i_spdu_type t);         /* 0, 1 or 2 */
/* Mask of X400I_SP_* bits the type may carry / must carry. */
uint32_t x400i_spdu_allowed(x400i_spdu_type t);
uint32_t x400i_spdu_mandatory(x400i_spdu_type t);
/* Category 2: the category 0 SPDU (X400I_SPDU_GT or _PT) that carries it in
 * a TSDU (X.225 6.3.7); -1 for categories 0 and 1. */
int x400i_spdu_carrier(x400i_spdu_type t);

/* Reason code names: refusal (RF, X.225 8.3.5) and activity/exception
 * (AI, AD, ED). */
const char *x400i_ses_refuse_reason_name(int reason);
const char *x400i_ses_exception_reason_name(int reason);

#endif
